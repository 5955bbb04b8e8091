package confine

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// CInitCommand is the hidden command word of the C init (sl_init.c): the runtime re-executed
// as `sandlock-runtime init-c INITPIPE XS ZS KILL RULESET` runs it from a constructor, before
// the Go runtime starts.
const CInitCommand = "init-c"

// CInit is what the C init needs beside its fds: everything else was done by create.
type CInit struct {
	Rootfs      string // chroot target; "/" for none
	Cwd         string // process.cwd, checked after chroot
	Program     string // process.args[0], looked up in PATH after chroot (the error at create)
	PathEnv     string // PATH of the process's environment, "" for the default
	OOMScoreAdj *int
	NoNewPrivs  bool            // process.noNewPrivileges (set anyway without CAP_SYS_ADMIN)
	Settings    ProcessSettings // the policy's per-process settings, CPUs and Visible excepted
	PreserveFDs int
	Seccomp     [][]byte // sandlock's own programs, the first one with the listener
	Image       []byte   // the packed exec image (ProcessImage.Pack)
}

const (
	cinitMagic     = 0x31494c53 // "SLI1"
	cinitFlagOOM   = 0x1
	cinitFlagNNP   = 0x2
	cinitFlagASLR  = 0x4
	cinitFlagTHP   = 0x8
	cinitMaxProgs  = 8
	cinitMaxRlimit = 16
)

// ErrCInitUnsupported: the settings need the Go init.
var ErrCInitUnsupported = errors.New("the C init cannot apply these settings")

// Pack encodes c in the wire format sl_init.c documents.
func (c *CInit) Pack() ([]byte, error) {
	s := c.Settings
	if len(s.CPUs) > 0 || s.Visible > 0 || len(s.Rlimits) > cinitMaxRlimit || len(c.Seccomp) == 0 ||
		len(c.Seccomp) > cinitMaxProgs || c.Rootfs == "" || c.Program == "" || len(c.Image) == 0 {
		return nil, ErrCInitUnsupported
	}
	le := binary.LittleEndian
	var flags uint32
	oom := int32(0)
	if c.OOMScoreAdj != nil {
		flags |= cinitFlagOOM
		oom = int32(*c.OOMScoreAdj)
	}
	if c.NoNewPrivs {
		flags |= cinitFlagNNP
	}
	if s.NoASLR {
		flags |= cinitFlagASLR
	}
	if s.NoTHP {
		flags |= cinitFlagTHP
	}
	b := le.AppendUint32(nil, cinitMagic)
	b = le.AppendUint32(b, flags)
	b = le.AppendUint32(b, uint32(oom))
	b = le.AppendUint32(b, uint32(c.PreserveFDs))
	b = le.AppendUint32(b, uint32(len(s.Rlimits)))
	for _, r := range s.Rlimits {
		b = le.AppendUint32(b, uint32(r.Type))
		b = le.AppendUint64(b, r.Soft)
		b = le.AppendUint64(b, r.Hard)
	}
	for _, str := range []string{c.Rootfs, c.Cwd, c.Program, c.PathEnv} {
		for i := 0; i < len(str); i++ {
			if str[i] == 0 {
				return nil, fmt.Errorf("init: NUL in %q", str)
			}
		}
		b = le.AppendUint32(b, uint32(len(str)+1))
		b = append(append(b, str...), 0)
	}
	b = le.AppendUint32(b, uint32(len(c.Seccomp)))
	for _, p := range c.Seccomp {
		if len(p) == 0 || len(p)%8 != 0 || len(p)/8 > 4096 {
			return nil, fmt.Errorf("seccomp: bad program of %d bytes", len(p))
		}
		b = le.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	b = le.AppendUint32(b, uint32(len(c.Image)))
	return append(b, c.Image...), nil
}

// FD is the ruleset's fd, for a child that restricts itself with it (the C init); the
// Ruleset still owns it.
func (r *Ruleset) FD() int { return r.fd }
