package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// portAccepted says what a port may be written as, for error messages.
const portAccepted = `accepted: a TCP port 1-65535 as a number (8080) or a string ("8080"), or an inclusive range "LO-HI" with LO <= HI ("8000-8080")`

// ParsePort reads a port as the seed writes it in a string: "8080" or the inclusive range
// "8000-8080". Surrounding spaces are allowed; ports are 1-65535 and a range needs lo <= hi.
func ParsePort(s string) (Port, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	l, errLo := parsePortNumber(lo)
	h, errHi := parsePortNumber(hi)
	if errLo != nil || errHi != nil {
		return Port{}, fmt.Errorf("port %q: %s", s, portAccepted)
	}
	p := Port{Lo: l, Hi: h}
	if p.check() != nil {
		return Port{}, fmt.Errorf("port %q: %s", s, portAccepted)
	}
	return p, nil
}

func parsePortNumber(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '+' {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}

// check refuses port 0 and reversed ranges (a Port built in Go can hold either).
func (p Port) check() error {
	if p.Lo == 0 || p.Hi == 0 || p.Lo > p.Hi {
		return fmt.Errorf("port %s: %s", p, portAccepted)
	}
	return nil
}

// Contains reports whether port n is in p.
func (p Port) Contains(n uint16) bool { return p.Lo <= n && n <= p.Hi }

// String writes p as "8080" or "8000-8080".
func (p Port) String() string {
	if p.Lo == p.Hi {
		return strconv.Itoa(int(p.Lo))
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// MarshalJSON writes a single port as a number and a range as a string.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.Lo == p.Hi {
		return []byte(p.String()), nil
	}
	return json.Marshal(p.String())
}

// UnmarshalJSON reads a number (8080) or a string ("8080", "8000-8080").
func (p *Port) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return p.UnmarshalText([]byte(s))
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("port %s: %s", b, portAccepted)
	}
	return p.fromInt(n)
}

func (p *Port) fromInt(n int64) error {
	if n < 1 || n > 65535 {
		return fmt.Errorf("port %d: %s", n, portAccepted)
	}
	*p = Port{Lo: uint16(n), Hi: uint16(n)}
	return nil
}

// MarshalText writes p as String does.
func (p Port) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads p as ParsePort does.
func (p *Port) UnmarshalText(b []byte) error {
	q, err := ParsePort(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// MarshalTOML writes a single port as an integer and a range as a string (BurntSushi/toml's
// Marshaler).
func (p Port) MarshalTOML() ([]byte, error) { return p.MarshalJSON() }

// UnmarshalTOML reads an integer or a string (BurntSushi/toml's Unmarshaler).
func (p *Port) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		return p.fromInt(v)
	case string:
		return p.UnmarshalText([]byte(v))
	}
	return fmt.Errorf("port %v: %s", v, portAccepted)
}
