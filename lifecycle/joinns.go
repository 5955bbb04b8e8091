package lifecycle

import (
	"os"
	"regexp"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// nsProcName is the /proc/PID/ns entry of each namespace type.
var nsProcName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc",
	specs.UTSNamespace: "uts", specs.MountNamespace: "mnt", specs.CgroupNamespace: "cgroup",
}

var nsPathPid = regexp.MustCompile(`^/proc/([0-9]+)/ns/[a-z_]+$`)

// joinNamespaces rewrites namespace entries that carry a path, as CRI writes them to make a
// pod's containers join its pause container. This runtime creates no namespaces, so such a
// path can only name one of two things:
//
//   - a namespace the runtime is not in (a real network namespace made by CNI, say): left as
//     is, and Translate refuses it, since nothing can join it without entering it;
//   - the runtime's own (the host's) namespace. If the process behind the path is the init
//     of one of this runtime's containers, joining means sharing that container's stand-in for
//     the namespace: the entry becomes a pathless one when the target asked for that namespace
//     (it gets the same translated isolation), and is dropped when the target did not. If the
//     process is anything else, the host's namespace is what the container gets: dropped.
func joinNamespaces(root string, s *specs.Spec) {
	if s.Linux == nil {
		return
	}
	var out []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" || !isOwnNamespace(ns) {
			out = append(out, ns)
			continue
		}
		if targetAsked(root, ns) {
			out = append(out, specs.LinuxNamespace{Type: ns.Type})
		}
	}
	s.Linux.Namespaces = out
}

func isOwnNamespace(ns specs.LinuxNamespace) bool {
	name, ok := nsProcName[ns.Type]
	if !ok {
		return false
	}
	a, errA := os.Stat(ns.Path)
	b, errB := os.Stat("/proc/self/ns/" + name)
	return errA == nil && errB == nil && os.SameFile(a, b)
}

// targetAsked reports whether the path's process is a container of this runtime whose config
// requested a namespace of this type.
func targetAsked(root string, ns specs.LinuxNamespace) bool {
	m := nsPathPid.FindStringSubmatch(ns.Path)
	if m == nil {
		return false
	}
	pid, _ := strconv.Atoi(m[1])
	cs, _ := List(root)
	for _, c := range cs {
		if c.State == nil || c.State.Pid != pid || c.Status() == Stopped {
			continue
		}
		s, err := loadSpec(c.dir)
		if err != nil || s.Linux == nil {
			return false
		}
		return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
			return n.Type == ns.Type
		})
	}
	return false
}
