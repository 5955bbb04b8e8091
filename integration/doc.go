// Package integration holds root-only end-to-end tests of the sandlock-runtime binary: they
// create real containers from a busybox-static bundle through the runc-compatible CLI
// (docs/design.md, the callers' contract) and, where installed, drive it from containerd's ctr and
// from podman.
//
//	sudo go test -count=1 -v ./integration/...                         # builds ./cmd/sandlock-runtime
//	sudo SANDLOCK_RUNTIME=$PWD/bin/sandlock-runtime go test ./integration/...
//
// The test binary re-executes itself in a private mount namespace (so a mount the runtime fails to
// undo cannot outlive the run; the tests still detect it) and makes itself a child subreaper, as
// containerd's shim and conmon are, so container inits and detached exec pids are its children.
// Set SANDLOCK_IT_HOSTNS=1 to stay in the caller's mount namespace. Every test skips when not root.
package integration
