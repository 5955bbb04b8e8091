package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Go blocks of README.md and docs/sandbox.md compile and run as written: a block with
// "package main" is a program; any other is a fragment that fits in fragmentMain (it may use
// ctx and must set res and err).

const fragmentMain = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sandlock/sandlock-runtime/sandbox"
	"github.com/sandlock/sandlock-runtime/spec"
)

func main() {
	if sandbox.Reexec() {
		return
	}
	ctx := context.Background()
	%s
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("exit %%d: %%s", res.ExitCode, res.Stdout)
}
`

var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

func TestDocsGoBlocks(t *testing.T) {
	requireKernel(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"README.md", "docs/sandbox.md"} {
		b, err := os.ReadFile(filepath.Join(repo, doc))
		if err != nil {
			t.Fatal(err)
		}
		blocks := goBlock.FindAllStringSubmatch(string(b), -1)
		if len(blocks) == 0 {
			t.Errorf("%s: no Go block found", doc)
		}
		for i, m := range blocks {
			src := m[1]
			if !strings.Contains(src, "package main") {
				src = strings.Replace(fragmentMain, "%s", src, 1)
				src = strings.ReplaceAll(src, "%%", "%")
			}
			t.Run(filepath.Base(doc)+"#"+string(rune('0'+i)), func(t *testing.T) {
				out := buildAndRun(t, repo, src)
				if !strings.HasPrefix(out, "exit 0: ") {
					t.Errorf("output %q, want exit 0: ...\n%s", out, src)
				}
			})
		}
	}
}

// buildAndRun builds src as a program of this module (in a directory inside it that package
// patterns skip) and runs it.
func buildAndRun(t *testing.T, repo, src string) string {
	t.Helper()
	dir, err := os.MkdirTemp(repo, ".docsnippet-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "prog")
	build := exec.Command("go", "build", "-o", bin, "./"+filepath.Base(dir))
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("does not compile: %v\n%s\n%s", err, out, src)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("run: %v", err)
	}
	return string(out)
}
