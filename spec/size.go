package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// sizeAccepted says what a size may be written as, for error messages.
const sizeAccepted = `accepted: a whole number of bytes (536870912) or a number with a K, M, G or T suffix, binary multiples of 1024 ("64k", "512M", "1.5G")`

// sizeUnits are the suffixes, binary multiples as sandlock uses them: K = 1024, M = 1024², ...
var sizeUnits = []struct {
	suffix byte
	mult   int64
}{{'T', 1 << 40}, {'G', 1 << 30}, {'M', 1 << 20}, {'K', 1 << 10}}

// ParseSize reads a byte count: a whole number of bytes ("536870912") or a decimal number
// followed by one of the suffixes K, M, G, T (either case), which are binary multiples as in
// sandlock: "64k" = 65536, "512M" = 536870912, "1.5G" = 1610612736. A fraction that does not
// come to whole bytes is rounded down ("1.1K" = 1126). Negative, empty, unknown suffixes and
// values above 2^63-1 are refused.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("size %q: empty: %s", s, sizeAccepted)
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("size %q: negative: %s", s, sizeAccepted)
	}
	num, mult := t, int64(1)
	last := t[len(t)-1]
	if last < '0' || last > '9' {
		mult = 0
		for _, u := range sizeUnits {
			if last == u.suffix || last == u.suffix+('a'-'A') {
				mult = u.mult
			}
		}
		if mult == 0 && !strings.ContainsAny(t, "0123456789") { // "abc": no number to suffix
			return 0, fmt.Errorf("size %q: not a number: %s", s, sizeAccepted)
		}
		if mult == 0 {
			return 0, fmt.Errorf("size %q: unknown suffix %q: %s", s, last, sizeAccepted)
		}
		num = t[:len(t)-1]
	}
	if !isDecimal(num, mult > 1) {
		return 0, fmt.Errorf("size %q: not a number: %s", s, sizeAccepted)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %q: not a number: %s", s, sizeAccepted)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // rounds toward zero: r is not negative
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q: above the largest size %d bytes: %s", s, int64(math.MaxInt64), sizeAccepted)
	}
	return Size(n.Int64()), nil
}

// isDecimal accepts digits with at most one '.' (only when fraction is allowed) and at least one
// digit: no signs, exponents or spaces, which big.Rat would take.
func isDecimal(s string, fraction bool) bool {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && fraction:
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// String writes s with the largest suffix that divides it exactly ("512M", "1536M"), or as plain
// bytes ("1000"), so that ParseSize(s.String()) == s.
func (s Size) String() string {
	if s > 0 {
		for _, u := range sizeUnits {
			if int64(s)%u.mult == 0 {
				return strconv.FormatInt(int64(s)/u.mult, 10) + string(u.suffix)
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Bytes returns s as a byte count.
func (s Size) Bytes() int64 { return int64(s) }

// MarshalJSON writes a size with a suffix as a string ("512M") and any other as a number.
func (s Size) MarshalJSON() ([]byte, error) {
	str := s.String()
	if last := str[len(str)-1]; last >= '0' && last <= '9' {
		return []byte(str), nil
	}
	return json.Marshal(str)
}

// UnmarshalJSON reads a whole number of bytes or a string as ParseSize does.
func (s *Size) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		return s.UnmarshalText([]byte(str))
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("size %s: %s", b, sizeAccepted)
	}
	return s.fromInt(n)
}

func (s *Size) fromInt(n int64) error {
	if n < 0 {
		return fmt.Errorf("size %d: negative: %s", n, sizeAccepted)
	}
	*s = Size(n)
	return nil
}

// MarshalText writes s as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads s as ParseSize does.
func (s *Size) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// MarshalTOML writes a size with a suffix as a string and any other as an integer
// (BurntSushi/toml's Marshaler).
func (s Size) MarshalTOML() ([]byte, error) { return s.MarshalJSON() }

// UnmarshalTOML reads an integer or a string (BurntSushi/toml's Unmarshaler).
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		return s.fromInt(v)
	case string:
		return s.UnmarshalText([]byte(v))
	}
	return fmt.Errorf("size %v: %s", v, sizeAccepted)
}
