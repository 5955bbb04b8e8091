package spec

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Real-time signal bounds as user space sees them. The kernel's SIGRTMIN is 32, but glibc
// reserves 32 and 33 for its threading, so SIGRTMIN is 34 for every program a container runs;
// runc and docker use the same numbers, and "SIGRTMIN+3" must mean what `kill -s` means.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// signalAliases are names that unix.SignalNum does not know.
var signalAliases = map[string]unix.Signal{
	"SIGIOT":  unix.SIGABRT,
	"SIGPOLL": unix.SIGIO,
	"SIGCLD":  unix.SIGCHLD,
}

// ParseSignal accepts a signal as a number ("9"), a name with or without the SIG prefix in any
// case ("KILL", "SIGKILL", "sigkill"), or a real-time signal ("SIGRTMIN+3", "RTMAX-1").
// containerd sends numbers and runtime-tools sends names, so both must work.
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return signalNumber(s, n)
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig, ok := namedSignal(name); ok {
		return sig, nil
	}
	if n, ok := rtSignal(name); ok {
		if n < sigRTMin || n > sigRTMax {
			return 0, fmt.Errorf("invalid signal %q: real-time signals are %d-%d", s, sigRTMin, sigRTMax)
		}
		return unix.Signal(n), nil
	}
	return 0, fmt.Errorf("invalid signal %q: unknown name", s)
}

func signalNumber(s string, n int) (unix.Signal, error) {
	if n < 1 || n > sigRTMax {
		return 0, fmt.Errorf("invalid signal %q: must be between 1 and %d", s, sigRTMax)
	}
	return unix.Signal(n), nil
}

func namedSignal(name string) (unix.Signal, bool) {
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, true
	}
	sig, ok := signalAliases[name]
	return sig, ok
}

// rtSignal parses SIGRTMIN, SIGRTMAX, SIGRTMIN+n and SIGRTMAX-n. The result may be out of
// the real-time range; the caller checks.
func rtSignal(name string) (int, bool) {
	for _, rt := range []struct {
		prefix string
		base   int
		sign   string
	}{{"SIGRTMIN", sigRTMin, "+"}, {"SIGRTMAX", sigRTMax, "-"}} {
		rest, ok := strings.CutPrefix(name, rt.prefix)
		if !ok {
			continue
		}
		if rest == "" {
			return rt.base, true
		}
		off, ok := strings.CutPrefix(rest, rt.sign)
		n, err := strconv.Atoi(off)
		if !ok || err != nil || n < 0 {
			return 0, false
		}
		if rt.sign == "-" {
			n = -n
		}
		return rt.base + n, true
	}
	return 0, false
}
