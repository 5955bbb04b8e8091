package confine

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestCInitPack(t *testing.T) {
	adj := -500
	c := CInit{Rootfs: "/", Cwd: "/tmp", Program: "true", PathEnv: "/bin", OOMScoreAdj: &adj,
		NoNewPrivs: true, Settings: ProcessSettings{NoTHP: true, Rlimits: []Rlimit{{Type: 4}}},
		PreserveFDs: 2, Seccomp: [][]byte{make([]byte, 16)}, Image: []byte("img")}
	b, err := c.Pack()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint32(b) != cinitMagic || le.Uint32(b[4:]) != cinitFlagOOM|cinitFlagNNP|cinitFlagTHP ||
		int32(le.Uint32(b[8:])) != -500 || le.Uint32(b[12:]) != 2 || le.Uint32(b[16:]) != 1 {
		t.Errorf("header % x", b[:20])
	}
	if string(b[len(b)-3:]) != "img" || le.Uint32(b[len(b)-7:]) != 3 {
		t.Errorf("image not last: % x", b[len(b)-8:])
	}
}

// What the C init cannot do is refused, so that create keeps the Go init for it.
func TestCInitPackRefuses(t *testing.T) {
	ok := CInit{Rootfs: "/", Program: "true", Seccomp: [][]byte{make([]byte, 8)}, Image: []byte{1}}
	for name, mut := range map[string]func(*CInit){
		"cpu_cores":   func(c *CInit) { c.Settings.CPUs = []int{0} },
		"num_cpus":    func(c *CInit) { c.Settings.Visible = 1 },
		"no programs": func(c *CInit) { c.Seccomp = nil },
		"no image":    func(c *CInit) { c.Image = nil },
		"no program":  func(c *CInit) { c.Program = "" },
	} {
		c := ok
		mut(&c)
		if _, err := c.Pack(); !errors.Is(err, ErrCInitUnsupported) {
			t.Errorf("%s: %v, want ErrCInitUnsupported", name, err)
		}
	}
	bad := ok
	bad.Seccomp = [][]byte{make([]byte, 7)}
	if _, err := bad.Pack(); err == nil {
		t.Error("a program of 7 bytes packed")
	}
	bad = ok
	bad.Cwd = "a\x00b"
	if _, err := bad.Pack(); err == nil {
		t.Error("a NUL in cwd packed")
	}
	if _, err := ok.Pack(); err != nil {
		t.Error(err)
	}
}
