package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// SystemProfileDir holds the profiles every user sees.
const SystemProfileDir = "/etc/sandlock/profiles"

// ErrProfileNotFound is wrapped by Load when no directory has the profile.
var ErrProfileNotFound = errors.New("profile not found")

// ProfileStore finds profiles, TOML files NAME.toml, in Dirs. When several directories have a
// NAME.toml, the one in the last directory is used (no merging between them).
type ProfileStore struct{ Dirs []string }

// DefaultProfileStore searches /etc/sandlock/profiles, then the user's
// $XDG_CONFIG_HOME/sandlock/profiles ($HOME/.config/sandlock/profiles when XDG_CONFIG_HOME is
// unset or not absolute), which wins on a name clash.
func DefaultProfileStore() ProfileStore {
	dirs := []string{SystemProfileDir}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(cfg) {
		cfg = ""
		if home, err := os.UserHomeDir(); err == nil {
			cfg = filepath.Join(home, ".config")
		}
	}
	if cfg != "" {
		dirs = append(dirs, filepath.Join(cfg, "sandlock", "profiles"))
	}
	return ProfileStore{Dirs: dirs}
}

// CheckProfileName refuses a name that is empty or could leave the profile directories: one
// with '/', "..", or NUL.
func CheckProfileName(name string) error {
	switch {
	case name == "":
		return errors.New("empty profile name; accepted: a file name NAME for NAME.toml, without '/' or '..'")
	case strings.ContainsAny(name, "/\x00") || strings.Contains(name, ".."):
		return fmt.Errorf("profile name %q: contains '/', '..' or NUL; accepted: a file name NAME for NAME.toml, without '/' or '..'", name)
	}
	return nil
}

// List returns the names of the profiles in all directories, sorted, each once. Missing
// directories are skipped; unreadable ones are errors.
func (ps ProfileStore) List() ([]string, error) {
	var names []string
	for _, dir := range ps.Dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("profiles: %w", err)
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".toml")
			if ok && !e.IsDir() && CheckProfileName(name) == nil {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Path returns the file Load(name) reads.
func (ps ProfileStore) Path(name string) (string, error) {
	if err := CheckProfileName(name); err != nil {
		return "", err
	}
	for _, dir := range slices.Backward(ps.Dirs) {
		path := filepath.Join(dir, name+".toml")
		st, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("profile %q: %w", name, err)
		}
		if st.IsDir() {
			return "", fmt.Errorf("profile %q: %s is a directory", name, path)
		}
		return path, nil
	}
	avail, _ := ps.List()
	have := "available: " + strings.Join(avail, ", ")
	if len(avail) == 0 { // say why there are none, rather than an empty list
		have = "no profiles there; make install puts the shipped ones in " + SystemProfileDir
	}
	return "", fmt.Errorf("profile %q: %w in %s (%s)", name, ErrProfileNotFound, strings.Join(ps.Dirs, ", "), have)
}

// Load reads and validates profile name (see Path and ParseProfile).
func (ps ProfileStore) Load(name string) (Policy, error) {
	path, err := ps.Path(name)
	if err != nil {
		return Policy{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("profile %q: %w", name, err)
	}
	return ParseProfile(data, path)
}

// ParseProfile decodes a TOML profile: top-level keys named as the seed names the policy fields
// (fs_readable = ["/usr"], max_memory = "512M", [env] for env) and validates it. source (the
// file) starts every error; unknown keys are errors naming the key, with close matches.
func ParseProfile(data []byte, source string) (Policy, error) {
	var p Policy
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&p)
	if err != nil {
		return Policy{}, fmt.Errorf("%s: %w", source, err)
	}
	var errs []error
	reported := map[string]bool{}
	for _, k := range md.Undecoded() {
		if len(k) > 1 && reported[k[:len(k)-1].String()] {
			reported[k.String()] = true // inside an unknown table: the table is reported
			continue
		}
		reported[k.String()] = true
		errs = append(errs, fmt.Errorf("%s: unknown key %q%s; accepted: the policy keys of docs/policy.md",
			source, k.String(), suggest(k[len(k)-1], PolicyKeys())))
	}
	for _, e := range p.problems() {
		errs = append(errs, fmt.Errorf("%s: %w", source, e))
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// TOML writes p as a profile ParseProfile reads back: the fields p sets, in declaration order,
// env last as an [env] table.
func (p Policy) TOML() ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
