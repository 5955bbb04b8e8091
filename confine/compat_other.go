//go:build !amd64

package confine

// CompatABIs says which compat syscall entry points of x86_64 this host offers.
type CompatABIs struct {
	I386     bool
	I386Note string
	X32      bool
}

// ProbeCompatABIs: the i386 and x32 entry points exist on x86_64 only.
func ProbeCompatABIs() CompatABIs { return CompatABIs{I386Note: "not an x86_64 host"} }
