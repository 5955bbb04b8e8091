package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

const (
	// AnnotationPrefix starts every policy annotation: io.sandlock.<field> with a JSON value.
	AnnotationPrefix = "io.sandlock."
	// ProfileAnnotation selects a profile by name, the base the other sources are laid on.
	ProfileAnnotation = "io.sandlock.profile"
	// runtimeAnnotationPrefix is reserved for the runtime's own annotations (the features
	// document's io.sandlock.runtime.landlock); they carry no policy and are skipped.
	runtimeAnnotationPrefix = "io.sandlock.runtime."
)

// ParseAnnotations reads the policy annotations io.sandlock.<field> of ann, each value JSON
// of the field's type ("io.sandlock.fs_readable": `["/usr","/lib"]`, "io.sandlock.max_memory":
// `"512M"`, "io.sandlock.no_udp": `true`). A value that is not valid JSON is taken as the text
// itself for fields whose value is a string (hostname, workdir, time_start, on_exit, ..., and
// the sizes max_memory and max_disk), so `io.sandlock.hostname: box` works; JSON null leaves
// the field unset. Annotations outside io.sandlock., io.sandlock.profile (see PolicyFromSpec)
// and io.sandlock.runtime.* are skipped. Unknown keys (with close matches), values of the
// wrong type and values Validate refuses are errors, all of them reported, keys sorted.
func ParseAnnotations(ann map[string]string) (Policy, error) {
	var p Policy
	var errs []error
	pv := reflect.ValueOf(&p).Elem()
	for _, key := range slices.Sorted(maps.Keys(ann)) {
		if !strings.HasPrefix(key, AnnotationPrefix) || strings.HasPrefix(key, runtimeAnnotationPrefix) {
			continue
		}
		value := ann[key]
		if key == ProfileAnnotation {
			if err := CheckProfileName(value); err != nil {
				errs = append(errs, &PolicyError{Key: key, Value: fmt.Sprintf("%q", value), Reason: err.Error()})
			}
			continue
		}
		f, ok := policyFieldByKey[strings.TrimPrefix(key, AnnotationPrefix)]
		if !ok {
			errs = append(errs, unknownAnnotation(key))
			continue
		}
		v, err := decodeAnnotation(f, value)
		if err != nil {
			errs = append(errs, &PolicyError{Key: key, Value: value, Reason: err.Error()})
			continue
		}
		pv.Field(f.index).Set(v)
	}
	for _, e := range p.problems() {
		e.Key = AnnotationPrefix + e.Key
		errs = append(errs, e)
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, err
	}
	return p, nil
}

func unknownAnnotation(key string) error {
	keys := []string{ProfileAnnotation}
	for _, k := range PolicyKeys() {
		keys = append(keys, AnnotationPrefix+k)
	}
	return &PolicyError{Key: key, Reason: "unknown sandlock annotation" + suggest(key, keys) +
		"; accepted: io.sandlock.profile and io.sandlock.<field> for the policy fields (docs/policy.md)"}
}

// decodeAnnotation decodes value as JSON of f's type, as bare text for string-valued fields,
// or as a space-separated list for list fields.
func decodeAnnotation(f policyField, value string) (reflect.Value, error) {
	if words, ok := bareList(f, value); ok {
		value = words
	}
	if !json.Valid([]byte(value)) {
		switch f.typ {
		case reflect.TypeFor[*string]():
			return reflect.ValueOf(&value), nil
		case reflect.TypeFor[*Size]():
			s, err := ParseSize(value)
			if err != nil {
				return reflect.Value{}, err
			}
			return reflect.ValueOf(&s), nil
		}
		return reflect.Value{}, fmt.Errorf("not valid JSON; accepted: %s", typeDesc(f.typ))
	}
	target := reflect.New(f.typ)
	err := json.Unmarshal([]byte(value), target.Interface())
	if err == nil {
		return target.Elem(), nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Value == "number" && f.key == "time_start" {
		// time_start's unix seconds are a number written bare (`io.sandlock.time_start:
		// 1704067200`, the form docs/policy.md gives): its text, which ParseTimeStart reads.
		// Other string fields keep refusing a number (a hostname 123 is likely a mistake).
		text := strings.TrimSpace(value)
		return reflect.ValueOf(&text), nil
	}
	if errors.As(err, &typeErr) {
		return reflect.Value{}, fmt.Errorf("wrong JSON type (%s); accepted: %s", typeErr.Value, typeDesc(f.typ))
	}
	return reflect.Value{}, err
}

// bareList reads a list written without JSON, items separated by spaces
// (`io.sandlock.fs_readable=/usr /lib`, `io.sandlock.net_connect=80 443 8000-8080`), and
// returns it as JSON. It exists for podman, whose --annotation splits its value as CSV, so
// that a JSON list there needs CSV quoting. Valid JSON other than a lone number stays JSON.
func bareList(f policyField, value string) (string, bool) {
	v := strings.TrimSpace(value)
	_, numErr := strconv.Atoi(v)
	if f.typ.Kind() != reflect.Slice || v == "" || (json.Valid([]byte(v)) && numErr != nil) {
		return "", false // JSON (a lone number is a one-item list)
	}
	items := []any{}
	for _, w := range strings.Fields(v) {
		if n, err := strconv.Atoi(w); err == nil && f.typ.Elem().Kind() != reflect.String {
			items = append(items, n)
		} else {
			items = append(items, w)
		}
	}
	b, _ := json.Marshal(items)
	return string(b), true
}

// typeDesc says what JSON a field of type t takes, with an example.
func typeDesc(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[*bool]():
		return "true or false"
	case reflect.TypeFor[*int](), reflect.TypeFor[*int64]():
		return "an integer, e.g. 64"
	case reflect.TypeFor[*string]():
		return `a JSON string, e.g. "text", or the bare text`
	case reflect.TypeFor[*Size]():
		return `a whole number of bytes or a size string such as "512M"`
	case reflect.TypeFor[[]string]():
		return `a JSON list of strings, e.g. ["/usr", "/lib"], or the items separated by spaces`
	case reflect.TypeFor[[]int]():
		return "a JSON list of integers, e.g. [0, 1], or the items separated by spaces"
	case reflect.TypeFor[[]Port]():
		return `a JSON list of ports, e.g. [80, "8000-8080"], or the items separated by spaces`
	case reflect.TypeFor[map[string]string]():
		return `a JSON object of strings, e.g. {"LANG": "C.UTF-8"}`
	}
	return t.String()
}
