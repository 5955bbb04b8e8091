// Package testreq decides what a test does when the host lacks a tool it needs (gcc, a static
// libc, containerd, podman, crictl, runc, root): skip it, or, under SANDLOCK_REQUIRE=all (which
// `make test` sets), fail it, so that CI cannot stay green on skips. A missing kernel feature
// is not a tool: tests skip for those, saying which, whatever the switch says.
package testreq

import (
	"os"
	"testing"
)

// Env is the switch: "all" turns every Missing into a failure.
const Env = "SANDLOCK_REQUIRE"

// All says whether missing tools fail the run.
func All() bool { return os.Getenv(Env) == "all" }

// Missing skips t because of why, or fails it under SANDLOCK_REQUIRE=all.
func Missing(t testing.TB, why string) {
	t.Helper()
	if All() {
		t.Fatalf("%s (%s=all: a missing tool fails the run)", why, Env)
	}
	t.Skip(why)
}
