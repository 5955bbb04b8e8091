// Command noreexec is an embedder that forgets sandbox.Reexec(): the first sandbox it starts
// must fail at once with a clear error, never re-execute it (integration/reexec_test.go).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sandlock/sandlock-runtime/sandbox"
	"github.com/sandlock/sandlock-runtime/spec"
)

func main() {
	res, err := sandbox.New(spec.Policy{}, sandbox.WithStateRoot(os.Getenv("NOREEXEC_STATE"))).Run(context.Background(), []string{"echo", "hi"})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Printf("ran: %s", res.Stdout)
}
