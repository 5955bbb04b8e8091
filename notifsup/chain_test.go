package notifsup

import (
	"testing"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Two features trapping one syscall: the first that claims the call answers it; when none
// does, the chain says NotMine (answer turns that into a continue).
func TestChainFirstClaimWins(t *testing.T) {
	var asked []string
	pass := func(name string) Handler {
		return func(*Call) seccomp.ScmpNotifResp { asked = append(asked, name); return NotMine() }
	}
	claim := func(name string, e unix.Errno) Handler {
		return func(*Call) seccomp.ScmpNotifResp { asked = append(asked, name); return errnoResp(e) }
	}
	h := chain([]Handler{pass("a"), claim("b", unix.EACCES), claim("c", unix.EPERM)})
	if resp := h(&Call{}); resp.Error != int32(unix.EACCES) || IsNotMine(resp) {
		t.Fatalf("resp %+v, want EACCES from b", resp)
	}
	if len(asked) != 2 || asked[0] != "a" || asked[1] != "b" {
		t.Fatalf("asked %v, want [a b]", asked)
	}
	asked = nil
	if resp := chain([]Handler{pass("a"), pass("b")})(&Call{}); !IsNotMine(resp) {
		t.Fatalf("resp %+v, want NotMine", resp)
	}
	if IsNotMine(errnoResp(unix.EPERM)) || IsNotMine(seccomp.ScmpNotifResp{Flags: seccomp.NotifRespFlagContinue}) {
		t.Fatal("an errno or a continue read as NotMine")
	}
}

func TestResolveChainsFeatures(t *testing.T) {
	f1 := Feature{Name: "one", Handlers: map[string]Handler{"openat": func(*Call) seccomp.ScmpNotifResp { return NotMine() }}}
	f2 := Feature{Name: "two", Handlers: map[string]Handler{"openat": func(*Call) seccomp.ScmpNotifResp { return errnoResp(unix.ENOENT) }}}
	table, err := resolve([]Feature{f1, f2})
	if err != nil {
		t.Fatal(err)
	}
	native, _ := seccomp.GetNativeArch()
	nr, _ := seccomp.GetSyscallFromName("openat")
	h, ok := table[key{native, nr}]
	if !ok {
		t.Fatal("openat not in the table")
	}
	if resp := h(&Call{}); resp.Error != int32(unix.ENOENT) {
		t.Fatalf("resp %+v, want ENOENT from the second feature", resp)
	}
}

// A compat form decoded by one feature and trapped natively only by another: what the decoding
// feature leaves is refused, never continued past the one that could not decode it.
func TestResolveCompatUndecodedRefused(t *testing.T) {
	native, _ := seccomp.GetNativeArch()
	compat := compatArches[native]
	if len(compat) == 0 {
		t.Skip("no compat ABI on this arch")
	}
	pass := func(*Call) seccomp.ScmpNotifResp { return NotMine() }
	decoding := Feature{Name: "decodes", AllArches: true, Handlers: map[string]Handler{"openat": pass, "getrandom": pass}}
	nativeOnly := Feature{Name: "native", Handlers: map[string]Handler{"openat": pass}}
	table, err := resolve([]Feature{decoding, nativeOnly})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arch    seccomp.ScmpArch
		name    string
		refused bool
	}{{native, "openat", false}, {compat[0], "openat", true}, {compat[0], "getrandom", false}} {
		nr, err := seccomp.GetSyscallFromNameByArch(c.name, c.arch)
		if err != nil || nr < 0 {
			continue
		}
		h := table[key{reportedArch(c.arch), nr}]
		if h == nil {
			t.Fatalf("%v %s: no handler", c.arch, c.name)
		}
		if resp := h(&Call{}); (resp.Error == int32(unix.EPERM)) != c.refused || (!c.refused && !IsNotMine(resp)) {
			t.Errorf("%v %s: resp %+v, want refused %v", c.arch, c.name, resp, c.refused)
		}
	}
}
