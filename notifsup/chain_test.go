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
