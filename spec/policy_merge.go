package spec

import (
	"reflect"
	"sort"
	"strings"
)

// policyField describes one Policy field by the key every front door spells it with.
type policyField struct {
	key   string // the seed's name: json/toml tag, annotation suffix
	index int    // reflect field index in Policy
	typ   reflect.Type
}

// policyFields lists Policy's fields in declaration order; policyFieldByKey indexes them.
var policyFields, policyFieldByKey = func() ([]policyField, map[string]policyField) {
	t := reflect.TypeFor[Policy]()
	var fields []policyField
	byKey := map[string]policyField{}
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		pf := policyField{key: key, index: i, typ: f.Type}
		fields = append(fields, pf)
		byKey[key] = pf
	}
	return fields, byKey
}()

// PolicyKeys returns every policy key in declaration order, as the seed names them.
func PolicyKeys() []string {
	keys := make([]string, len(policyFields))
	for i, f := range policyFields {
		keys[i] = f.key
	}
	return keys
}

// Merge returns p with over laid on top, field by field: a field over sets (non-nil) replaces
// p's, lists included (an empty, non-nil list replaces too, e.g. gpu_devices = [] "all"); env
// maps are merged key by key, over's value winning. The result shares no memory with p or over.
func (p Policy) Merge(over Policy) Policy {
	out := p.Clone()
	ov := reflect.ValueOf(over)
	rv := reflect.ValueOf(&out).Elem()
	for _, f := range policyFields {
		src, dst := ov.Field(f.index), rv.Field(f.index)
		if src.IsNil() {
			continue
		}
		if src.Kind() == reflect.Map {
			if dst.IsNil() {
				dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
			}
			iter := src.MapRange()
			for iter.Next() {
				dst.SetMapIndex(iter.Key(), iter.Value())
			}
			continue
		}
		dst.Set(cloneValue(src))
	}
	return out
}

// Clone returns a deep copy of p.
func (p Policy) Clone() Policy {
	var out Policy
	pv := reflect.ValueOf(p)
	rv := reflect.ValueOf(&out).Elem()
	for _, f := range policyFields {
		rv.Field(f.index).Set(cloneValue(pv.Field(f.index)))
	}
	return out
}

// cloneValue copies a pointer to a scalar, a slice of scalars or a map of scalars, keeping nil
// nil and empty empty.
func cloneValue(v reflect.Value) reflect.Value {
	if v.IsNil() {
		return v
	}
	switch v.Kind() {
	case reflect.Pointer:
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		return c
	case reflect.Slice:
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		return c
	case reflect.Map:
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			c.SetMapIndex(iter.Key(), iter.Value())
		}
		return c
	}
	return v
}

// SetKeys returns the keys p sets (non-nil fields), in declaration order.
func (p Policy) SetKeys() []string {
	var keys []string
	pv := reflect.ValueOf(p)
	for _, f := range policyFields {
		if !pv.Field(f.index).IsNil() {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// closeMatches returns the candidates within a small edit distance of s, or sharing a word
// with it, closest first (at most 3), to suggest in "unknown key" errors.
func closeMatches(s string, candidates []string) []string {
	type match struct {
		name string
		d    int
	}
	var ms []match
	for _, c := range candidates {
		d := editDistance(s, c)
		limit := max(2, len(s)/4)
		if d <= limit || (len(s) >= 4 && (strings.Contains(c, s) || strings.Contains(s, c))) {
			ms = append(ms, match{c, d})
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].d < ms[j].d })
	var out []string
	for i := 0; i < len(ms) && i < 3; i++ {
		out = append(out, ms[i].name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Suggest formats the close matches of s among candidates for an error message:
// ` (did you mean "a" or "b"?)`, or "" when none is close.
func Suggest(s string, candidates []string) string { return suggest(s, candidates) }

// suggest formats close matches for an error message: ` (did you mean "a" or "b"?)`.
func suggest(s string, candidates []string) string {
	m := closeMatches(s, candidates)
	if len(m) == 0 {
		return ""
	}
	q := make([]string, len(m))
	for i, c := range m {
		q[i] = `"` + c + `"`
	}
	return " (did you mean " + strings.Join(q, " or ") + "?)"
}
