// Command goclock prints the wall clock as the Go runtime reads it (time.Now: the vDSO's
// clock_gettime, called by the runtime directly, not through a libc), for the time_start
// tests: "go SECONDS".
package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Println("go", time.Now().Unix())
}
