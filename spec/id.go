package spec

import "fmt"

// maxIDLen bounds container ids so that state paths (<root>/<id>/sup.sock) stay well under
// PATH_MAX and the id fits in one log line; runc uses the same limit.
const maxIDLen = 1024

// ValidateID checks a container id before it is used as a directory name under the state
// root. The character set excludes '/', so an id can never escape the root, and "." and ".."
// are refused because they name the root itself or its parent.
func ValidateID(id string) error {
	if len(id) == 0 || len(id) > maxIDLen || id == "." || id == ".." || !idChars(id) {
		return fmt.Errorf("invalid container id %q: only [A-Za-z0-9_.+-] allowed, 1-%d characters", id, maxIDLen)
	}
	return nil
}

func idChars(id string) bool {
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return false
		}
	}
	return true
}

func idChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '_' || c == '.' || c == '+' || c == '-'
}
