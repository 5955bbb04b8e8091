package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sandlock/sandlock-runtime/internal/children"
	"github.com/sandlock/sandlock-runtime/internal/testreq"
)

// Every shell command in README.md and docs/*.md is run as written here, or listed with why
// it cannot run on a test host. A command added to the docs without an entry below fails the
// test, and so does an entry whose command left the docs: docs and test stay in step.
//
// Commands run with bash in a scratch directory (with ./profiles, the shipped profiles), in
// order of appearance within a file, with:
//   - `sandlock-runtime` (and `bin/sandlock-runtime`, `sudo ...`) the runtime under test, with
//     the test's --root, so container IDs such as demo2 cannot meet anyone else's;
//   - /tmp/... scratch paths of the docs moved into the scratch directory (the rewrite below);
//   - XDG_CONFIG_HOME holding the shipped profiles, as `make install` would put them.

// docCommand is what the test does with one documented command.
type docCommand struct {
	skip     string            // why it cannot run here ("" = it runs)
	code     int               // expected exit status
	out      string            // substring of stdout
	errOut   string            // substring of stderr
	rewrite  map[string]string // scratch paths moved into the scratch directory
	files    map[string]string // files the command reads, made in the scratch directory first
	needTool string            // a program the command runs that a host may lack
}

var tmpToScratch = map[string]string{" /tmp/": " $SCRATCH/tmp/", "-w /tmp ": "-w $SCRATCH/tmp "}

var docCommands = map[string]docCommand{
	// README.md
	"make demo   # installs what is missing, builds bin/sandlock-runtime, runs a container and shows what it refuses": {
		skip: "installs Debian packages (apt-get) and runs the demo: a setup step, run by hand"},
	"make test   # deps, build, lint, unit tests, then the root-only integration tests (incl. ctr and podman)": {
		skip: "runs this very test suite"},
	"hack/mkbundle.sh /tmp/bb /bin/sh -c 'id; uname -n; ls /'   # busybox rootfs + config.json": {
		rewrite: tmpToScratch},
	"sudo bin/sandlock-runtime run --bundle /tmp/bb demo        # exits with the container's exit status": {
		rewrite: tmpToScratch, out: "uid=0(root)"},
	"sudo bin/sandlock-runtime create --bundle /tmp/bb --pid-file /tmp/bb.pid demo2": {rewrite: tmpToScratch},
	"sudo bin/sandlock-runtime start demo2":                                          {},
	"sudo bin/sandlock-runtime state demo2":                                          {out: `"id": "demo2"`},
	"sudo bin/sandlock-runtime delete --force demo2":                                 {},
	"sandlock-runtime sandbox -r /usr -r /lib -r /lib64 -r /bin -r /etc -r /proc -r /dev -w /tmp --fs-denied /etc/shadow --no-udp -- sh -c 'echo hi > /tmp/x; cat /etc/shadow'  # the read of /etc/shadow is refused": {
		rewrite: tmpToScratch, code: 1, errOut: "/etc/shadow: Permission denied"},
	"sandlock-runtime sandbox --policy my.toml -- python3 script.py   # or --profile NAME (make install ships three)": {
		files: map[string]string{"my.toml": "fs_readable = [\"/\"]\n", "script.py": "print('from python')\n"},
		out:   "from python", needTool: "python3"},
	"sandlock-runtime check                                           # what this host can enforce": {out: "POLICY FIELD"},
	"ctr run --rm --runc-binary /usr/local/bin/sandlock-runtime docker.io/library/busybox:latest c1 echo hi": {
		skip: "pulls docker.io/library/busybox: test hosts have no registry access; integration/containerd_test.go runs ctr with an imported image"},
	// docs/sandbox.md
	"sandlock-runtime sandbox -r /usr -r /lib -r /lib64 -r /bin -r /etc -r /proc -r /dev -w /tmp -- sh -c 'echo hi > /tmp/ok; echo no > /var/tmp/no'": {
		rewrite: tmpToScratch, code: 2, errOut: "/var/tmp/no: Permission denied"},
	"sandlock-runtime sandbox --profile build -w . -w /tmp --hostname ci -- make test": {
		files: map[string]string{"Makefile": "test:\n\t@echo test on $$(hostname)\n"}, out: "test on ci"},
	"sandlock-runtime sandbox --policy untrusted.toml --no-network -- python3 job.py": {
		files: map[string]string{"untrusted.toml": "fs_readable = [\"/\"]\n", "job.py": "print('job done')\n"},
		out:   "job done", needTool: "python3"},
	"sandlock-runtime check":                                 {out: "POLICY FIELD"},
	"sandlock-runtime sandbox [flags] -- CMD [ARG...]":       {skip: "the synopsis, not a command"},
	"mkdir -p /tmp/w/secret && echo key > /tmp/w/secret/key": {rewrite: tmpToScratch},
	"sandlock-runtime sandbox -r / -w /tmp/w --fs-denied /tmp/w/secret -- sh -c 'echo ok > /tmp/w/new; cat /tmp/w/new /tmp/w/secret/key'": {
		rewrite: tmpToScratch, code: 1, out: "ok\n", errOut: "secret/key: Permission denied"},
	"sandlock-runtime sandbox --hostname box --num-cpus 2 -m 64M -- sh -c 'hostname; cat /etc/hostname; nproc; grep MemTotal /proc/meminfo'": {
		out: "box\nbox\n2\nMemTotal:          65536 kB\n"},
	"sandlock-runtime sandbox --isolate-pids -- sh -c 'kill -0 1; ls /proc/1'": {
		code: 2, errOut: "cannot access '/proc/1': No such file or directory"},
	"sandlock-runtime sandbox --net-allow-hosts localhost -- sh -c 'cat /etc/hosts; curl -sS http://1.1.1.1/'": {
		code: 7, out: "127.0.0.1\tlocalhost\n", errOut: "Failed to connect to 1.1.1.1", needTool: "curl"},
	"sandlock-runtime sandbox --port-remap -- python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 8080)); print(s.getsockname())'": {
		out: "('127.0.0.1', 8080)", needTool: "python3"},
	// docs/checkpoint.md
	"sandlock-runtime checkpoint --image-path DIR [--work-path DIR] [--leave-running] ID": {skip: "the synopsis, not a command (integration/checkpoint_test.go runs it)"},
	"sandlock-runtime restore --image-path DIR --bundle B [--detach] [--pid-file F]":      {skip: "the synopsis, not a command (integration/checkpoint_test.go runs it)"},
	"sandlock-runtime sandbox --workdir ~/src/app -r / -w /tmp -- agent --task fix-tests": {
		skip: "an example agent; integration/cow_test.go runs commands in a COW workdir"},
	"sandlock-runtime sandbox --workdir app --dry-run -- make generate": {
		files: map[string]string{"app/Makefile": "generate:\n\t@mkdir -p gen && echo package api > gen/api.go && echo deps >> Makefile.deps\n", "app/Makefile.deps": "old\n"},
		out:   "M Makefile.deps\nA gen\nA gen/api.go\n"},
	"sandlock-runtime sandbox --workdir app --dry-run --format json -- make generate": {out: `"changes":[{"kind":"M","path":"Makefile.deps"},{"kind":"A","path":"gen"}`},
	"sandlock-runtime sandbox --workdir app --on-exit keep --fs-storage /tmp/layers -- sh -c 'echo 2 > VERSION'": {
		rewrite: tmpToScratch, files: map[string]string{"app/VERSION": "1\n"}},
	"sandlock-runtime cow list --fs-storage /tmp/layers   # ID  CREATED  STATUS (kept, in use)  WORKDIR":             {rewrite: tmpToScratch, out: "kept"},
	"sandlock-runtime cow diff /tmp/layers/*      # M VERSION (--format json for JSON)":                              {rewrite: tmpToScratch, out: "M VERSION\n"},
	"sandlock-runtime cow commit /tmp/layers/*    # or: cow abort; or by id: cow commit --fs-storage /tmp/layers ID": {rewrite: tmpToScratch},
	// docs/policy.md
	"sandlock-runtime profile list                 # names, one a line":                             {out: "web-scraper"},
	"sandlock-runtime profile show web-scraper     # the profile merged with the defaults, as TOML": {out: "net_connect = [53, 80, 443]"},
	"sandlock-runtime profile --dir ./profiles list  # other directories (repeatable; later wins)":  {out: "minimal\n"},
	// docs/podman.md
	"podman --runtime /usr/local/bin/sandlock-runtime run --rm --network none busybox echo hi": {
		skip: "pulls docker.io/library/busybox: test hosts have no registry access; integration/podman_test.go runs the same with an imported busybox image"},
	"podman --runtime /usr/local/bin/sandlock-runtime run --rm --network none --annotation 'io.sandlock.fs_readable=/bin /lib /etc' --annotation 'io.sandlock.net_connect=80 443' --annotation io.sandlock.hostname=box busybox hostname": {
		skip: "pulls docker.io/library/busybox; TestPodman/*/annotations runs these annotations with an imported image"},
	// docs/conformance.md
	"make conformance                                  # all tests, sandlock runc crun": {
		skip: "builds the OCI runtime-tools suite and runs it against three runtimes: minutes, and runc/crun (make conformance is its own target)"},
	"make conformance TESTS=\"create kill\" RUNTIMES=sandlock": {
		skip: "builds the OCI runtime-tools suite (network access for its sources): make conformance is its own target"},
	"REPORT_ONLY=1 hack/conformance.sh                 # re-print the table from the last results": {
		skip: "needs the results of an earlier make conformance"},
	// docs/performance.md
	"make bench     # = make build + hack/bench.sh; root; about 2 minutes on a quiet host, 4 on a busy one": {
		skip: "minutes of benchmarks that need a quiet host: make bench is its own target"},
	"BENCH_OUT=/tmp/b BENCH_ONLY=\"latency memory\" make bench   # a subset, elsewhere": {
		skip: "benchmarks need a quiet host: make bench is its own target"},
	"cp /tmp/sandlock-bench/performance.png docs/performance.png # refresh the plot on this page": {
		skip: "copies the plot of an earlier make bench into the repository"},
	"sandlock-runtime bd316d1, runc 1.1.5, crun 1.8.1, containerd 1.6.20, podman 4.3.1,": {
		skip: "not a command: the versions a measurement used"},
	// docs/testing.md
	"make soak                                        # root; 1000 cycles, 10 in parallel; about 1-1.5 min on 2 busy cores": {
		skip: "minutes of container cycles and crashes at full load: make soak is its own target, outside make test"},
	"make soak CYCLES=50 CRASHES=30 SUPKILLS=3        # a short run while developing": {
		skip: "builds and runs bin/soak, which makes its own containers, mounts and cgroups: make soak is its own target"},
	"make fuzz                            # 60 s, one worker (the host is shared)": {
		skip: "a minute of fuzzing: make fuzz is its own target; the seed corpus runs in make unit"},
	"make fuzz FUZZTIME=10m FUZZPAR=2": {
		skip: "ten minutes of fuzzing: make fuzz is its own target; the seed corpus runs in make unit"},
	// docs/kubernetes.md
	"make cri-test      # builds crictl (cached), then runs integration TestCRI with SANDLOCK_CRI=1": {
		skip: "builds crictl and runs TestCRI, which make test runs with SANDLOCK_CRI=1"},
}

// docShellCommands extracts the commands of a Markdown file: every line of a sh, bash or
// console block (continuation lines joined, comments and blank lines dropped), and the lines
// of unlabeled blocks that start with "sandlock-runtime ".
func docShellCommands(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	fence, pending := "", ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if fence == "" {
				fence = strings.TrimPrefix(line, "```")
				if fence == "" {
					fence = "plain"
				}
			} else {
				fence = ""
			}
			continue
		}
		shell := fence == "sh" || fence == "bash" || fence == "console"
		if !shell && !(fence == "plain" && strings.HasPrefix(line, "sandlock-runtime ")) {
			continue
		}
		line = strings.TrimPrefix(line, "$ ")
		if c, ok := strings.CutSuffix(line, "\\"); ok {
			pending += strings.TrimSpace(c) + " "
			continue
		}
		full := strings.TrimSpace(pending + strings.TrimSpace(line))
		pending = ""
		if full != "" && !strings.HasPrefix(full, "#") {
			cmds = append(cmds, full)
		}
	}
	return cmds
}

func TestDocsCommands(t *testing.T) {
	requireSetup(t)
	docs, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	docs = append([]string{filepath.Join(repoRoot, "README.md")}, docs...)
	seen := map[string]bool{}
	for _, doc := range docs {
		cmds := docShellCommands(t, doc)
		if len(cmds) == 0 {
			continue
		}
		t.Run(filepath.Base(doc), func(t *testing.T) {
			scratch := docScratch(t)
			for _, c := range cmds {
				seen[c] = true
				dc, ok := docCommands[c]
				if !ok {
					t.Errorf("%s: command without an entry in docCommands (run it or say why not): %q", filepath.Base(doc), c)
					continue
				}
				runDocCommand(t, scratch, c, dc)
			}
		})
	}
	for c := range docCommands {
		if !seen[c] {
			t.Errorf("docCommands lists a command no document has any more: %q", c)
		}
	}
}

// docScratch is the directory the commands of one document run in: ./profiles, a wrapper
// that is `sandlock-runtime` on PATH, and a config home with the shipped profiles.
func docScratch(t *testing.T) string {
	dir, err := os.MkdirTemp(repoRoot, ".docs-") // outside /tmp: the sandbox commands write there
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	profiles := filepath.Join(dir, "config", "sandlock", "profiles")
	for _, d := range []string{filepath.Join(dir, "bin"), profiles, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wrapper := "#!/bin/sh\nexec " + runtimeBin + " --root " + envFor(t).root + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "bin", "sandlock-runtime"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	shipped, _ := filepath.Glob(filepath.Join(repoRoot, "profiles", "*.toml"))
	for _, p := range shipped {
		if err := copyFile(p, filepath.Join(profiles, filepath.Base(p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(repoRoot, "profiles"), filepath.Join(dir, "profiles")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repoRoot, "hack"), filepath.Join(dir, "hack")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runDocCommand(t *testing.T, scratch, c string, dc docCommand) {
	t.Helper()
	if dc.skip != "" {
		t.Logf("not run: %q: %s", c, dc.skip)
		return
	}
	if dc.needTool != "" {
		if _, err := exec.LookPath(dc.needTool); err != nil {
			// Not Missing: its skip would end the doc's other commands too.
			if testreq.All() {
				t.Errorf("%q needs %s (hack/install-deps.sh installs it; %s=all: a missing tool fails the run)", c, dc.needTool, testreq.Env)
			} else {
				t.Logf("not run: %q: %s is not installed here", c, dc.needTool)
			}
			return
		}
	}
	for name, body := range dc.files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(scratch, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(scratch, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	line := strings.TrimPrefix(c, "sudo ")
	line = strings.ReplaceAll(line, "bin/sandlock-runtime ", "sandlock-runtime ")
	for _, from := range slices.Sorted(func(yield func(string) bool) {
		for k := range dc.rewrite {
			if !yield(k) {
				return
			}
		}
	}) {
		line = strings.ReplaceAll(line, from, dc.rewrite[from])
	}
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(scratch, "bin")+":"+os.Getenv("PATH"),
		"SCRATCH="+scratch, "XDG_CONFIG_HOME="+filepath.Join(scratch, "config"), "SANDLOCK_RUNTIME="+runtimeBin)
	// Files, not pipes: a created container keeps its stdio open after create exits.
	var files [2]*os.File
	for i := range files {
		f, err := os.CreateTemp(scratch, "stdio-*")
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	cmd.Stdout, cmd.Stderr = files[0], files[1]
	r := finish(t, cmd, files, children.Start(cmd), cmdTimeout)
	t.Logf("$ %s -> %d", line, r.code)
	if r.code != dc.code || !strings.Contains(r.stdout, dc.out) || !strings.Contains(r.stderr, dc.errOut) {
		t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout containing %q, stderr containing %q",
			c, r.code, r.stdout, r.stderr, dc.code, dc.out, dc.errOut)
	}
}
