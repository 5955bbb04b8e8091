// Package mountinfo reads this process's mount table, /proc/self/mountinfo, for the programs
// that check what the runtime left mounted: the integration tests and hack/soak.
package mountinfo

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
)

// Under lists the mount points at or below dir, in mount order.
func Under(dir string) ([]string, error) {
	var out []string
	err := each(func(fields []string, _ string) bool {
		if p := Unescape(fields[4]); p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
		return true
	})
	return out, err
}

// Cgroup2 is where the unified hierarchy is mounted (/sys/fs/cgroup or, on hybrid hosts,
// .../unified).
func Cgroup2() (string, error) {
	var mnt string
	err := each(func(fields []string, fstype string) bool {
		if fstype == "cgroup2" {
			mnt = Unescape(fields[4])
			return false
		}
		return true
	})
	if err == nil && mnt == "" {
		err = errors.New("no cgroup2 mount")
	}
	return mnt, err
}

// each calls f with the fields before the " - " separator (at least 5) and the filesystem type
// after it, line by line, until f returns false.
func each(f func(fields []string, fstype string) bool) error {
	file, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		pre, post, _ := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if len(fields) < 5 {
			continue
		}
		fstype, _, _ := strings.Cut(post, " ")
		if !f(fields, fstype) {
			return nil
		}
	}
	return sc.Err()
}

// Unescape undoes the kernel's octal escapes (\040 for space, ...).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
