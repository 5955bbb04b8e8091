package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// ParsePolicyJSON decodes a JSON policy file, an object with the policy keys of
// docs/policy.md ({"fs_readable": ["/usr"], "max_memory": "512M"}), and validates it. Its
// errors are those of a TOML profile: every problem at once, keys sorted, each naming the
// source, the key, the value, what is accepted and, for an unknown key, the close matches.
func ParsePolicyJSON(data []byte, source string) (Policy, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Policy{}, fmt.Errorf("%s: %s", source, jsonSyntax(data, err))
	}
	var p Policy
	var errs []error
	pv := reflect.ValueOf(&p).Elem()
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		f, ok := policyFieldByKey[key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown key %q%s; accepted: the policy keys of docs/policy.md",
				source, key, suggest(key, PolicyKeys())))
			continue
		}
		value := string(bytes.TrimSpace(raw[key]))
		v, err := decodeAnnotation(f, value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, &PolicyError{Key: key, Value: value, Reason: jsonOnly.Replace(err.Error())}))
			continue
		}
		pv.Field(f.index).Set(v)
	}
	for _, e := range p.problems() {
		errs = append(errs, fmt.Errorf("%s: %w", source, e))
	}
	if err := errors.Join(errs...); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// jsonOnly drops from an annotation's "accepted: ..." the spellings a JSON file cannot use:
// in the file every value is JSON, so a string is never the bare text of a list.
var jsonOnly = strings.NewReplacer(", or the items separated by spaces", "", ", or the bare text", "")

// jsonSyntax says where a JSON syntax error is, as line:column.
func jsonSyntax(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
		col := int(se.Offset) - bytes.LastIndexByte(data[:se.Offset], '\n') - 1
		return fmt.Sprintf("line %d, column %d: %v", line, col, se)
	case errors.As(err, &te):
		return "not a JSON object; accepted: an object of policy keys, e.g. {\"fs_readable\": [\"/usr\"]}"
	}
	return err.Error()
}
