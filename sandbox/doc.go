// Package sandbox is the Go API mirroring the sandlock SDK: it confines a host command with a
// sandlock policy (Landlock, seccomp, the seccomp user-notification supervisor), without a
// bundle or namespaces. Each command runs as a container of sandlock-runtime's direct mode: an
// in-memory OCI config on the host's own root, with the caller's environment, directory, uid
// and gid, and no capabilities; the policy says what to confine (docs/sandbox.md).
//
//	func main() {
//		if sandbox.Reexec() { // the runtime re-executes this binary as init and supervisor
//			return
//		}
//		policy := spec.Policy{
//			FSReadable: []string{"/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/dev"},
//			FSWritable: []string{"/tmp"},
//		}
//		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//		defer cancel()
//		res, err := sandbox.New(policy).Run(ctx, []string{"echo", "hello"})
//		var pe *sandbox.PolicyError
//		switch {
//		case errors.As(err, &pe):
//			log.Fatalf("bad policy: %v", pe)
//		case err != nil:
//			log.Fatal(err)
//		}
//		fmt.Printf("%s", res.Stdout) // hello
//
//		// Pipelines: each stage in its own sandbox, stdout to the next stage's stdin.
//		a, b := sandbox.New(policy), sandbox.New(policy)
//		up, _ := a.Cmd([]string{"echo", "hello"}).Pipe(b.Cmd([]string{"tr", "a-z", "A-Z"})).Run(ctx)
//		fmt.Printf("%s", up.Stdout) // HELLO
//	}
//
// Errors are a tree mirroring the SDK's exceptions (see errors.go): every error is a
// *SandlockError (errors.Is(err, ErrSandlock)), viewable as *PolicyError, *SandboxError,
// *ConfinementError, *LandlockUnavailableError, ... with errors.As.
package sandbox
