package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the file in a bundle that holds the OCI configuration.
const ConfigName = "config.json"

// LoadBundle reads <dir>/config.json and returns the spec it holds.
//
// Unknown properties are accepted, because the runtime spec says runtimes MUST ignore them
// (callers built against newer specs add fields); everything else is strict: trailing data,
// syntax and type errors, and a missing process, process.args or root are errors. Errors name
// the bundle and the file; for bad JSON they also give the line and column.
func LoadBundle(dir string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if err != nil {
		return nil, bundleErr(dir, pathCause(err))
	}
	s, err := decodeSpec(data)
	if err != nil {
		return nil, bundleErr(dir, err)
	}
	if err := checkRequired(s); err != nil {
		return nil, bundleErr(dir, err)
	}
	return s, nil
}

func bundleErr(dir string, err error) error {
	return fmt.Errorf("bundle %s: %s: %w", dir, ConfigName, err)
}

// pathCause drops the *fs.PathError wrapper: the message already names the bundle and file,
// and repeating the full path would only make it longer. The errno stays wrapped, so
// errors.Is(err, fs.ErrNotExist) still works for callers.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// decodeSpec unmarshals one JSON object and refuses anything after it, so a config.json that
// was concatenated or half-overwritten is not silently accepted.
func decodeSpec(data []byte) (*specs.Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var s specs.Spec
	if err := dec.Decode(&s); err != nil {
		return nil, jsonErr(data, err, dec.InputOffset())
	}
	if dec.More() {
		line, col := lineCol(data, dec.InputOffset())
		return nil, fmt.Errorf("invalid JSON at line %d, column %d: data after the top-level object", line, col)
	}
	return &s, nil
}

// jsonErr adds the position of a decoding error; encoding/json reports only a byte offset,
// which is useless to someone editing the file.
func jsonErr(data []byte, err error, fallback int64) error {
	off := fallback
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, io.EOF):
		return errors.New("invalid JSON at line 1: empty file")
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = int64(len(data)) // truncated: the decoder's offset is still at the value's start
	}
	line, col := lineCol(data, off)
	return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
