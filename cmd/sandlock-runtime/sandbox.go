package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/sandlock/sandlock-runtime/cowfs"
	"github.com/sandlock/sandlock-runtime/lifecycle"
	"github.com/sandlock/sandlock-runtime/sandbox"
	"github.com/sandlock/sandlock-runtime/spec"
)

var sandboxCommand = &cli.Command{
	Name:      "sandbox",
	Usage:     "run a host command confined by a sandlock policy (direct mode, no bundle)",
	ArgsUsage: "[--] CMD [ARG...]",
	Description: `Runs CMD on the host's own filesystem with the caller's environment, directory
and uid, confined by the policy the flags, --policy FILE and --profile NAME describe (flags
win over the file, the file over the profile). Without -r and -w the whole root is readable and
nothing writable; with either, only the paths listed (so -w alone needs -r too, e.g. -r /).
Every policy key of docs/policy.md is a flag:
lists repeat the flag (numbers and ports may also be comma-separated), --gpu-devices all means
every GPU. Exits with CMD's exit code. See docs/sandbox.md.`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "profile", Usage: "start from profile `NAME` (sandlock-runtime profile list)"},
		&cli.StringSliceFlag{Name: "dir", Usage: "search profiles in `DIR` instead of the default directories (repeatable; later ones win), as profile --dir"},
		&cli.StringFlag{Name: "policy", Usage: "policy `FILE`, TOML or JSON (by extension, else by content)"},
		&cli.StringFlag{Name: "name", Usage: "run as container `ID` under the runtime's --root, so that state, ps and checkpoint reach it"},
		&cli.StringFlag{Name: "restore", Usage: "restore the checkpoint image in `DIR` (sandlock-runtime checkpoint --image-path) instead of running CMD"},
		&cli.BoolFlag{Name: "dry-run", Usage: "run in a copy-on-write layer over --workdir (default: the current directory) that is discarded, then list what the command changed (A/M/D PATH)"},
		&cli.StringFlag{Name: "format", Value: "text", Usage: "--dry-run's report: text (after the command's own output) or json (the command's output captured in it)"},
	}, policyFlags()...),
	Action:       runSandbox,
	OnUsageError: sandboxUsageError,
}

// sandboxUsageError: a flag `sandbox` does not have is one line naming it and the close flag
// names (the policy keys are many and easy to misspell), not the whole --help around it, which
// is how runc answers its own verbs' usage errors and how the other verbs still do.
func sandboxUsageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		dashed := func(n string) string {
			if len(n) == 1 {
				return "-" + n
			}
			return "--" + n
		}
		var names []string // long names, for a long one (a short one has too many neighbours)
		if c.Command != nil && len(name) > 1 {
			for _, f := range c.Command.Flags {
				for _, n := range f.Names() {
					if len(n) > 1 {
						names = append(names, dashed(n))
					}
				}
			}
		}
		msg = "unknown flag " + dashed(name) + spec.Suggest(dashed(name), names)
	}
	return fmt.Errorf("sandbox: %s; sandlock-runtime sandbox --help lists the flags", msg)
}

func runSandbox(c *cli.Context) error {
	if c.NArg() == 0 && c.String("restore") == "" {
		return fmt.Errorf("sandbox: needs a command to run: sandbox [flags] -- CMD [ARG...]")
	}
	if c.String("restore") != "" && (c.NArg() > 0 || c.Bool("dry-run")) {
		return fmt.Errorf("sandbox: --restore DIR continues the command saved in DIR: give no CMD and no --dry-run (got %q)",
			strings.Join(c.Args().Slice(), " "))
	}
	pol, err := sandboxPolicy(c)
	if err != nil {
		return err
	}
	for _, k := range sandbox.NotEnforced(pol) {
		fmt.Fprintf(c.App.ErrWriter, "sandlock-runtime: warning: %s is not enforced yet (see sandlock-runtime check)\n", k)
	}
	if !c.Bool("dry-run") { // a dry run's workdir defaults to the current directory
		bad := policyErrors(pol.Validate()) // a bad value is refused below: no warning first
		for _, k := range pol.InertWithoutWorkdir() {
			if slices.ContainsFunc(bad, func(pe *spec.PolicyError) bool { return pe.Key == k }) {
				continue
			}
			fmt.Fprintf(c.App.ErrWriter, "sandlock-runtime: warning: %s (--%s) does nothing without --workdir: it configures the copy-on-write layer of the workdir\n", k, strings.ReplaceAll(k, "_", "-"))
		}
	}
	if c.Bool("dry-run") {
		for _, f := range []struct {
			key string
			set bool
		}{{"on_exit", pol.OnExit != nil}, {"on_error", pol.OnError != nil}} {
			if f.set {
				fmt.Fprintf(c.App.ErrWriter, "sandlock-runtime: warning: %s (--%s) does nothing in a dry run: its layer is always discarded (run without --dry-run to commit or keep)\n", f.key, strings.ReplaceAll(f.key, "_", "-"))
			}
		}
		for _, w := range realWritesOfDryRun(pol) {
			fmt.Fprintf(c.App.ErrWriter, "sandlock-runtime: warning: --dry-run: %s (fs_writable) is read-only in a dry run, which writes nothing for real: only the workdir %s is writable, through the discarded layer\n", w[0], w[1])
		}
	}
	sb := sandbox.New(pol, sandboxOptions(c)...)
	stop := forwardToSandbox(sb)
	defer stop()
	if c.Bool("dry-run") {
		return readHint(pol, dryRun(c, sb))
	}
	if c.IsSet("format") {
		return fmt.Errorf("sandbox: --format is the report of --dry-run, which is not set")
	}
	var code int
	if dir := c.String("restore"); dir != "" {
		code, err = sb.RestoreInteractive(context.Background(), dir)
	} else {
		code, err = sb.RunInteractive(context.Background(), c.Args().Slice())
	}
	kept := sb.KeptLayers()
	if errors.Is(err, cowfs.ErrNotLanded) && len(kept) > 0 {
		// The error names the layer (a branch conflict, or a commit the workdir refused): one
		// line says it all, with what to do next.
		l := kept[len(kept)-1]
		err = fmt.Errorf("%w (sandlock-runtime cow diff|commit|abort %s)", err, l)
		if sandbox.IsBranchConflict(err) {
			return &codedError{code: exitBranchConflict, err: err}
		}
		return err
	}
	for _, l := range kept {
		reportKept(c, l)
	}
	if sandbox.IsBranchConflict(err) {
		return &codedError{code: exitBranchConflict, err: err}
	}
	if err != nil {
		return readHint(pol, withExecCode(flagNamed(err)))
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// reportKept says where a kept copy-on-write layer is, and what to do with it.
func reportKept(c *cli.Context, layer string) {
	fmt.Fprintf(c.App.ErrWriter, "sandlock-runtime: kept the copy-on-write layer %s (sandlock-runtime cow diff|commit|abort %s)\n", layer, layer)
}

// readHint adds to an exec the policy refused what bwrap and sandlock users trip on: with -w
// and no -r, fs_readable is empty and nothing but the writable paths is readable (the whole
// root is the default only when neither list is set).
func readHint(pol spec.Policy, err error) error {
	var se *lifecycle.StepError
	if err == nil || len(pol.FSReadable) > 0 || len(pol.FSWritable) == 0 ||
		!errors.As(err, &se) || se.Step != lifecycle.StepExec || se.Errno != unix.EACCES || se.NotExecutable {
		return err
	}
	return fmt.Errorf("%w; fs_readable is empty: with -w alone only the writable paths can be read (add -r /usr -r /lib ..., or -r / for the whole root, the default without -w)", err)
}

// realWritesOfDryRun lists the fs_writable paths a dry run does not cover, each with the
// workdir ({path, workdir}): the layer is over the workdir alone (the current directory when
// the policy has none), so create makes them read-only for the dry run (lifecycle's
// dryRunWritable); the warning says so.
func realWritesOfDryRun(pol spec.Policy) [][2]string {
	wd, err := filepath.Abs(pol.WorkdirPath()) // "" is the current directory
	if err != nil {
		return nil
	}
	// Judged by what a path reaches, as create judges it (a symlink in the workdir to
	// outside it is read-only too).
	resolved := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	wdR := resolved(wd)
	var out [][2]string
	for _, w := range pol.FSWritable {
		abs, err := filepath.Abs(w)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(wdR, resolved(abs)); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			out = append(out, [2]string{abs, wd})
		}
	}
	return out
}

// flagNamed restates the policy refusals in err with the key and the flag that sets it (the
// value may come from a file or a profile too): "fs_writable (--fs-writable, -w)
// /tmp/scratchh: no such file or directory", all of them, on one line.
func flagNamed(err error) error {
	pes := policyErrors(err)
	if len(pes) == 0 {
		return err
	}
	msgs := make([]string, len(pes))
	for i, pe := range pes {
		name := pe.Key + " (--" + strings.ReplaceAll(pe.Key, "_", "-")
		if short := shortFlags[pe.Key]; short != "" {
			name += ", -" + short
		}
		name += ")"
		if pe.Value != "" {
			name += " " + pe.Value
		}
		msgs[i] = name + ": " + pe.Reason
	}
	return &codedError{code: 1, err: errors.New("sandbox: " + strings.Join(msgs, "; "))}
}

// policyErrors collects every *spec.PolicyError in err's tree (errors.Join included).
func policyErrors(err error) []*spec.PolicyError {
	if pe, ok := err.(*spec.PolicyError); ok {
		return []*spec.PolicyError{pe}
	}
	var out []*spec.PolicyError
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, policyErrors(e)...)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = policyErrors(e)
		}
	}
	return out
}

// withExecCode gives a command that could not be executed the exit code a shell gives it:
// 127 when it does not exist, 126 when it cannot be executed.
func withExecCode(err error) error {
	var se *lifecycle.StepError
	if !errors.As(err, &se) || se.Step != lifecycle.StepExec {
		return err
	}
	switch se.Errno {
	case unix.ENOENT:
		return &codedError{code: 127, err: err}
	case unix.EACCES, unix.ENOEXEC, unix.EPERM:
		return &codedError{code: 126, err: err}
	}
	return err
}

func sandboxOptions(c *cli.Context) []sandbox.Option {
	var opts []sandbox.Option
	rootSet := false
	for _, ctx := range c.Lineage() {
		if ctx.IsSet("root") {
			opts = append(opts, sandbox.WithStateRoot(ctx.String("root")))
			rootSet = true
			break
		}
	}
	if n := c.String("name"); n != "" {
		opts = append(opts, sandbox.WithName(n))
		if !rootSet { // the runtime's own --root, where its verbs look for the name
			opts = append(opts, sandbox.WithStateRoot(options(c).Root))
		}
	}
	if p := c.String("log"); p != "" {
		opts = append(opts, sandbox.WithLog(p, c.Bool("debug")))
	}
	if c.Bool("debug") {
		// The CLI's logger, for --debug; otherwise the "no cgroup" warning, expected
		// here, is not shown.
		opts = append(opts, sandbox.WithLogger(logrus.StandardLogger()))
	}
	return opts
}

// forwardToSandbox passes the signals a terminal or a supervisor sends us on to the command.
// One that comes while the command is not running yet (its sandbox is being made) is kept and
// sent once it runs: dropped, it left a `timeout`'s or a supervisor's early SIGTERM without
// effect, and the command ran to its end.
func forwardToSandbox(sb *sandbox.Sandbox) (stop func()) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	go func() {
		var pending []os.Signal
		var retry <-chan time.Time // set while a signal waits for the command to run
		for {
			select {
			case s, ok := <-sigs:
				if !ok {
					return
				}
				pending = append(pending, s)
			case <-retry:
			}
			for len(pending) > 0 && sb.Signal(pending[0]) == nil {
				pending = pending[1:]
			}
			retry = nil
			if len(pending) > 0 {
				retry = time.After(2 * time.Millisecond)
			}
		}
	}()
	return func() { signal.Stop(sigs); close(sigs) }
}

// sandboxPolicy merges the profile, the policy file and the flags, later winning.
func sandboxPolicy(c *cli.Context) (spec.Policy, error) {
	var pol spec.Policy
	if name := c.String("profile"); name != "" {
		p, err := profileStore(c).Load(name)
		if err != nil {
			return pol, err
		}
		pol = p
	}
	if path := c.String("policy"); path != "" {
		p, err := loadPolicyFile(path)
		if err != nil {
			return pol, err
		}
		pol = pol.Merge(p)
	}
	p, err := flagsPolicy(c)
	if err != nil {
		return pol, err
	}
	// Validated by the sandbox, after relative paths are resolved against the directory.
	return pol.Merge(p), nil
}

// loadPolicyFile reads a TOML profile or a JSON policy: .json and .toml decide, otherwise
// content starting with '{' is JSON.
func loadPolicyFile(path string) (spec.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return spec.Policy{}, fmt.Errorf("--policy: %w", err)
	}
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".toml" || (ext != ".json" && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))) {
		return spec.ParseProfile(data, path)
	}
	return spec.ParsePolicyJSON(data, path)
}

// ---- one flag per policy field, generated from spec.Policy ----

// shortFlags are sandlock's short forms.
var shortFlags = map[string]string{"fs_readable": "r", "fs_writable": "w", "max_memory": "m"}

// policyField is one field of spec.Policy as a flag.
type policyField struct {
	name string       // Go field name, e.g. FSReadable
	key  string       // policy key (JSON name), e.g. fs_readable
	flag string       // fs-readable
	typ  reflect.Type // the field's Go type
}

func policyFields() []policyField {
	t := reflect.TypeFor[spec.Policy]()
	var fs []policyField
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if key == "" || key == "-" {
			continue
		}
		fs = append(fs, policyField{name: f.Name, key: key, flag: strings.ReplaceAll(key, "_", "-"), typ: f.Type})
	}
	return fs
}

func policyFlags() []cli.Flag {
	var flags []cli.Flag
	for _, f := range policyFields() {
		flags = append(flags, f.cliFlags()...)
	}
	return flags
}

// flagWhat says in a few words what a key does, for --help, where the key's name alone does
// not (the supervisor's and the copy-on-write layer's keys). docs/policy.md has the rest.
var flagWhat = map[string]string{
	"fs_denied":       "a path refused even under -r/-w (also inside a writable directory)",
	"workdir":         "the directory the command works in, through a copy-on-write layer (--on-exit, --on-error; sandlock-runtime cow for kept layers)",
	"net_allow_hosts": "a host (name or address) the command may connect or send to; others are refused",
	"port_remap":      "virtual TCP ports: a bind of a port taken on the host lands on a free one, shown as asked",
	"isolate_pids":    "only the sandbox's own processes in /proc and to the syscalls that take a pid",
	"num_cpus":        "the number of CPUs the command sees (nproc, /proc/cpuinfo, sysconf)",
	"max_memory":      "memory limit, also /proc/meminfo's MemTotal (needs root)",
	"hostname":        "what uname, hostname and /etc/hostname say",
	"fs_storage":      "where the workdir's layers live",
	"fs_isolation":    "NONE, BRANCHFS or OVERLAYFS (either case): each is the workdir's overlay layer",
	"max_disk":        "size bound on the workdir's layer (ENOSPC past it)",
	"on_exit":         "COMMIT, ABORT or KEEP the workdir's layer when the command exits 0",
	"on_error":        "COMMIT, ABORT or KEEP the workdir's layer on a failure",

	// determinism
	"random_seed":        "seed of getrandom, /dev/urandom, /dev/random and /proc's uuid: the same bytes in every run",
	"deterministic_dirs": "every directory lists sorted by name, the same in every run",
	"time_start":         "the wall clock starts at this time when the command starts (RFC 3339 or unix seconds) and advances at real speed; x86_64",
}

// cliFlags picks the flag type: bools are switches (--no-udp, --no-raw-sockets=false),
// everything else takes a value; lists and env repeat. A list's short form is a flag of its
// own (an alias would share the value, which urfave/cli then sets twice), so -r and
// --fs-readable may be mixed.
func (f policyField) cliFlags() []cli.Flag {
	short, hasShort := shortFlags[f.key]
	usage := "policy key " + f.key + " (docs/policy.md)"
	if what := flagWhat[f.key]; what != "" {
		usage = what + "; " + usage
	}
	def := f.defaultText()
	switch {
	case f.typ.Kind() == reflect.Pointer && f.typ.Elem().Kind() == reflect.Bool:
		// The policy's default, so that --help says it; only a flag given is read.
		return []cli.Flag{&cli.BoolFlag{Name: f.flag, Usage: usage, Value: def == "true"}}
	case !f.isList() && def != "":
		usage += " (default: " + def + ")"
	case f.isList() && hasShort:
		return []cli.Flag{
			&cli.GenericFlag{Name: f.flag, Usage: usage + ", repeatable", Value: &listValue{}},
			&cli.GenericFlag{Name: short, Usage: "short for --" + f.flag, Value: &listValue{}},
		}
	case f.isList():
		return []cli.Flag{&cli.GenericFlag{Name: f.flag, Usage: usage + ", repeatable", Value: &listValue{}}}
	case hasShort:
		return []cli.Flag{&cli.StringFlag{Name: f.flag, Aliases: []string{short}, Usage: usage}}
	}
	return []cli.Flag{&cli.StringFlag{Name: f.flag, Usage: usage}}
}

// defaultText is the policy's default for the field (spec.DefaultPolicy), "" when it has none.
func (f policyField) defaultText() string {
	v := reflect.ValueOf(spec.DefaultPolicy()).FieldByName(f.name)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return ""
	}
	return fmt.Sprint(v.Elem().Interface())
}

func (f policyField) isList() bool {
	return f.typ.Kind() == reflect.Slice || f.typ.Kind() == reflect.Map
}

// listVals returns the values of a list flag, long form first, then the short one.
func (f policyField) listVals(c *cli.Context) []string {
	var vals []string
	for _, name := range []string{f.flag, shortFlags[f.key]} {
		if name != "" && c.IsSet(name) {
			vals = append(vals, c.Generic(name).(*listValue).vals...)
		}
	}
	return vals
}

// isSet reports whether the flag was given, in either form; given is givenFlags(c).
func (f policyField) isSet(given map[string]bool) bool {
	return given[f.flag] || (shortFlags[f.key] != "" && given[shortFlags[f.key]])
}

// givenFlags are the names of the flags given to the command: one walk over what was set,
// where asking c.IsSet for each of the ~80 policy flags walks every flag each time (with a
// regexp per name: a millisecond of every sandbox's start).
func givenFlags(c *cli.Context) map[string]bool {
	given := map[string]bool{}
	for _, n := range c.LocalFlagNames() {
		given[n] = true
	}
	return given
}

// listValue collects every occurrence of a repeated flag, without splitting on commas (a
// path may contain one).
type listValue struct{ vals []string }

func (l *listValue) Set(v string) error { l.vals = append(l.vals, v); return nil }
func (l *listValue) String() string     { return strings.Join(l.vals, ",") }

// flagsPolicy turns the flags that were given into a Policy by way of its JSON form, so that
// every value is parsed exactly as an annotation's would be (ports, sizes, ...).
func flagsPolicy(c *cli.Context) (spec.Policy, error) {
	var pol spec.Policy
	given := givenFlags(c)
	for _, f := range policyFields() {
		if !f.isSet(given) {
			continue
		}
		raw, err := f.jsonValue(c)
		if err != nil {
			return pol, err
		}
		if err := json.Unmarshal(fmt.Appendf(nil, "{%q:%s}", f.key, raw), &pol); err != nil {
			return pol, fmt.Errorf("--%s: %w", f.flag, err)
		}
	}
	return pol, nil
}

func (f policyField) jsonValue(c *cli.Context) ([]byte, error) {
	switch f.typ.Kind() {
	case reflect.Pointer:
		if f.typ.Elem().Kind() == reflect.Bool {
			return json.Marshal(c.Bool(f.flag))
		}
		return scalarJSON(f, c.String(f.flag))
	case reflect.Map:
		return envJSON(f, f.listVals(c))
	}
	return listJSON(f, f.listVals(c))
}

// scalarJSON: numbers stay numbers, everything else (sizes such as 512M, names, times) is a
// string.
func scalarJSON(f policyField, v string) ([]byte, error) {
	switch {
	case f.typ.Elem() == reflect.TypeFor[spec.Size]():
		return json.Marshal(v)
	case f.typ.Elem().Kind() == reflect.Int, f.typ.Elem().Kind() == reflect.Int64:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return nil, fmt.Errorf("--%s: %q: not an integer", f.flag, v)
		}
		return []byte(v), nil
	}
	return json.Marshal(v)
}

// listJSON: string lists are taken whole; number and port lists may be comma-separated;
// gpu_devices "all" is the empty list (every GPU).
func listJSON(f policyField, vals []string) ([]byte, error) {
	if f.typ.Elem().Kind() == reflect.String {
		return json.Marshal(vals)
	}
	items := []any{}
	for _, v := range vals {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if f.key == "gpu_devices" && item == "all" {
				continue
			}
			if n, err := strconv.Atoi(item); err == nil {
				items = append(items, n)
			} else {
				items = append(items, item)
			}
		}
	}
	return json.Marshal(items)
}

func envJSON(f policyField, vals []string) ([]byte, error) {
	env := map[string]string{}
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--%s: %q: accepted: NAME=VALUE", f.flag, kv)
		}
		env[k] = v
	}
	return json.Marshal(env)
}
