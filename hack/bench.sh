#!/bin/bash
# hack/bench.sh (`make bench`): sandlock-runtime side by side with its peers, in one run.
#
#   latency  `run` of /bin/true on one busybox bundle (runc-spec default config): sandlock-runtime,
#            crun, runc; `sandlock-runtime sandbox -- /bin/true` (when that command exists) vs
#            bwrap and plain fork-exec. hyperfine, LAT_ROUNDS rounds of RUNS runs, alternating order.
#   phases   create, start and delete of /bin/true timed separately (PHASE_RUNS each, medians),
#            sandlock-runtime, crun and runc in turn.
#   clients  `ctr run --rm` (private containerd) and `podman run --rm` (private storage) with each
#            runtime, CLIENT_RUNS runs.
#   memory   RSS/PSS of the supervisor and zygote of one idle container, and of N_IDLE idle
#            containers (`sleep 1000`, run -d); system memory used per container vs runc and crun.
#   supervisor  the cost of one syscall bare and under `sandbox` (hack/bench/trapped.c): untrapped
#            (the BPF filter alone), Landlock-checked, answered by the supervisor (uname), performed
#            on behalf (chmod, readlink); and `tar -x` of TAR_FILES small files bare vs in `sandbox`
#            (every file's chmod/chown/utimes performed on behalf).
#   fsdenied an openat-heavy workload in a writable directory W under `sandbox -w W`, with and
#            without `--fs-denied W/secret` (which has the supervisor mediate every path syscall in
#            W, notifsup.FSCarve): `tar -x` of TAR_FILES small files into W, then `find` + `cat` of
#            them all; median of 3 runs each, and the ratio.
#   determinism the same tar -x + find/cat workload under `sandbox -w W`, plain, with
#            --random-seed (the supervisor sees every open) and with --deterministic-dirs (it lists
#            every directory); median of 3 runs each, and the ratios to plain.
#   cow      the copy-on-write workdir: untar COW_FILES small files and build a small C project
#            with make, in `sandbox` on a plain writable directory vs in a COW workdir (run only,
#            on_exit ABORT; and with its commit); and the commit of COMMIT_FILES new files alone
#            (`cow commit` of a kept layer). Medians of 3 (5 for the commit).
#   redis    redis-server bare vs in a container (sandlock-runtime, runc, crun; host network), loaded
#            with redis-benchmark on 127.0.0.1:REDIS_PORT, REDIS_ROUNDS rounds in rotating order.
#
# Results (hyperfine JSON exports, TSVs, summary.md, performance.png) go to BENCH_OUT
# (default /tmp/sandlock-bench). BENCH_ONLY="latency memory" runs a subset. Everything the bench
# starts, mounts or creates is removed at exit; it runs in a private mount namespace so that a
# crash cannot leave mounts in the host's table.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
. "$ROOT/hack/bench-lib.sh"

BIN=$(readlink -f "${SANDLOCK_RUNTIME:-$ROOT/bin/sandlock-runtime}")
BASE=${BENCH_BASELINE:+$(readlink -f "$BENCH_BASELINE")}   # optional: an older sandlock-runtime
OUT=${BENCH_OUT:-/tmp/sandlock-bench}
ONLY=${BENCH_ONLY:-latency phases clients memory redis supervisor fsdenied determinism cow}
RUNS=${RUNS:-60}               # hyperfine runs per command and round (latency)
LAT_ROUNDS=${LAT_ROUNDS:-2}
CLIENT_RUNS=${CLIENT_RUNS:-10}
N_IDLE=${N_IDLE:-100}
REDIS_PORT=${REDIS_PORT:-6390}
REDIS_N=${REDIS_N:-100000}
REDIS_ROUNDS=${REDIS_ROUNDS:-5}

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench: $BIN not built (make build)" >&2; exit 1; }

# Debian packages (only the missing ones), before entering the private mount namespace.
if [ -z "${BENCH_IN_NS:-}" ]; then
  PKGS=(hyperfine bubblewrap jq busybox-static runc crun containerd podman conmon umoci skopeo
        redis-server redis-tools gnuplot-nox)
  missing=()
  for p in "${PKGS[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null ||
      for p in "${missing[@]}"; do apt-get install -y -qq "$p" >/dev/null || echo "bench: could not install $p" >&2; done
    # Debian's redis-server package may start a system instance; the bench starts its own.
  fi
  "$ROOT/hack/host-prep.sh"     # crun refuses cgroup2-owned controllers on hybrid hosts
  export BENCH_IN_NS=1
  exec unshare -m --propagation private bash "$(readlink -f "$0")" "$@"
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/slbench.XXXXXX")      # work dir (bundles, state roots), removed at exit
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.tsv "$OUT"/*.md "$OUT"/*.txt "$OUT"/*.png "$OUT"/*.log 2>/dev/null || true
LOG=$OUT/bench.log
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
want() { [[ " $ONLY " == *" $1 "* ]]; }
section() {   # header line + the load average at that moment (this host is shared and noisy)
  local l; l=$(cut -d' ' -f1-3 /proc/loadavg)
  local s=${1#== }; say "$*   [load average $l]"; printf "%s: %s\n" "${s%%:*}" "$l" >> "$OUT/load.txt"
}

# ---------------------------------------------------------------------------------------------
# cleanup: everything started or created here
REDIS_PID=""
CTD_PID=""
CG_DEFAULT=$(bench_cg_snap default)
CG_LIBPOD=$(bench_cg_snap libpod_parent)
SL_CG_NEW=""   # the parent cgroup sandlock-runtime makes, when absent before the bench
for d in /sys/fs/cgroup/unified/sandlock-runtime /sys/fs/cgroup/sandlock-runtime; do [ -e "$d" ] || SL_CG_NEW="$SL_CG_NEW $d"; done
had_varlib=0; [ -e /var/lib/containers ] && had_varlib=1
had_runcont=0; [ -e /run/containers ] && had_runcont=1
CTD_RUNDIRS="/run/containerd/s /run/containerd/fifo /run/containerd/runc/default /run/containerd/runc /run/containerd"
had_ctdrun=""; for d in $CTD_RUNDIRS; do [ -e "$d" ] && had_ctdrun="$had_ctdrun $d"; done
PM=(podman --root "$W/pm/root" --runroot "$W/pm/runroot" --tmpdir "$W/pm/tmp" --storage-driver overlay
    --cgroup-manager cgroupfs --events-backend file)
S=$W/ctd/containerd.sock

runtime_cleanup() {   # RUNTIME ROOT : delete every container under a private state root
  local rt=$1 r=$2 id
  [ -d "$r" ] || return 0
  # newest first: the first container may have made the shared parent cgroup and removes it only if it goes last
  for id in $("$rt" --root "$r" list -q 2>/dev/null | tac); do
    "$rt" --root "$r" kill "$id" KILL >/dev/null 2>&1 || true
    "$rt" --root "$r" delete -f "$id" >/dev/null 2>&1 || true
  done
}
stop_containerd() {
  [ -n "$CTD_PID" ] || return 0
  if kill -0 "$CTD_PID" 2>/dev/null; then
    local t c
    for t in $(ctr -a "$S" task ls -q 2>/dev/null); do
      ctr -a "$S" task kill -s KILL "$t" >/dev/null 2>&1 || true; sleep 0.2
      ctr -a "$S" task delete "$t" >/dev/null 2>&1 || true
    done
    for c in $(ctr -a "$S" container ls -q 2>/dev/null); do ctr -a "$S" container delete "$c" >/dev/null 2>&1 || true; done
    kill "$CTD_PID"
    for _ in $(seq 100); do kill -0 "$CTD_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  CTD_PID=""
  for _ in $(seq 50); do pgrep -f -- "-address $S" >/dev/null || break; sleep 0.1; done   # our shims
}
cleanup() {
  set +e
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; fi
  for r in "$W"/sl-*; do runtime_cleanup "$BIN" "$r"; done
  for r in "$W"/runc-*; do runtime_cleanup runc "$r"; done
  for r in "$W"/crun-*; do runtime_cleanup crun "$r"; done
  stop_containerd
  for d in $CTD_RUNDIRS; do [[ " $had_ctdrun " == *" $d "* ]] || rmdir "$d" 2>/dev/null || true; done
  if [ -d "$W/pm" ]; then "${PM[@]}" rm -a -f >/dev/null 2>&1; "${PM[@]}" rmi -a -f >/dev/null 2>&1; fi
  bench_umount_under "$W"
  rm -rf --one-file-system "$W"
  [ $had_varlib = 1 ] || rm -rf /var/lib/containers
  [ $had_runcont = 1 ] || rm -rf /run/containers
  bench_cg_clean default "$CG_DEFAULT"
  bench_cg_clean libpod_parent "$CG_LIBPOD"
  for d in $SL_CG_NEW; do rmdir "$d" 2>/dev/null; done   # only if empty
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# machine
{
  echo "date: $(date -u +%FT%TZ)"
  echo "cpu: $(nproc) x $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "memory: $(awk '/^MemTotal:/ { printf "%.1f GiB\n", $2 / 1048576 }' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "sandlock-runtime: $("$BIN" --version | head -1)"
  for c in runc crun containerd podman bwrap hyperfine redis-server; do
    printf '%s: %s\n' "$c" "$($c --version 2>&1 | head -1)"
  done
} > "$OUT/machine.txt"
cat "$OUT/machine.txt" | tee -a "$LOG"

bench_bundle "$W/bundle" /bin/true
printf '#!/bin/sh\nexec "$@" "id$$"\n' > "$W/uid-exec"; chmod +x "$W/uid-exec"   # unique container ids
U=$W/uid-exec

# try NAME CMD : run CMD once (as hyperfine would); on failure log it and return 1
try() {
  local name=$1 cmd=$2 rc=0
  $cmd >"$W/try.out" 2>&1 </dev/null || rc=$?
  if [ $rc -ne 0 ]; then
    say "FAILED (exit $rc), left out: $name: $cmd"; sed 's/^/    /' "$W/try.out" | head -20 | tee -a "$LOG"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# 1+2: start latency
if want latency; then
  section "== latency: run /bin/true (runc-spec default config: pid, net, ipc, uts, mount namespaces)"
  mkdir -p "$W/sl-lat" "$W/runc-lat" "$W/crun-lat"
  names=(); cmds=()
  add() { if try "$1" "$2"; then names+=("$1"); cmds+=("$2"); fi; }
  add 'fork-exec /bin/true' '/bin/true'
  add 'bwrap --ro-bind / / true' 'bwrap --ro-bind / / true'
  if "$BIN" sandbox --help >/dev/null 2>&1; then
    add 'sandlock-runtime sandbox -- /bin/true' "$BIN sandbox -- /bin/true"
  else
    say "skipped: sandbox command not available"
  fi
  add 'wrapper no-op (uid-exec /bin/true)' "$U /bin/true"
  add 'sandlock-runtime run' "$U $BIN --root $W/sl-lat run -b $W/bundle"
  add 'crun run' "$U crun --root $W/crun-lat run -b $W/bundle"
  if [ -n "$BASE" ]; then   # an older build, in the same rounds: a before/after on a noisy host
    mkdir -p "$W/base-lat"
    add 'baseline sandbox -- /bin/true' "$BASE sandbox -- /bin/true"
    add 'baseline run' "$U $BASE --root $W/base-lat run -b $W/bundle"
  fi
  add 'runc run' "$U runc --root $W/runc-lat run -b $W/bundle"
  for round in $(seq "$LAT_ROUNDS"); do
    args=()
    n=${#names[@]}
    for i in $(seq 0 $((n - 1))); do
      j=$i; [ $((round % 2)) -eq 0 ] && j=$((n - 1 - i))      # even rounds: reversed order
      args+=(-n "${names[$j]}" "${cmds[$j]}")
    done
    say "-- round $round/$LAT_ROUNDS ($RUNS runs each)"
    hyperfine -N --warmup 3 --runs "$RUNS" --style basic --export-json "$OUT/latency-r$round.json" "${args[@]}" >> "$LOG" 2>&1 ||
      { say "FAILED: hyperfine, round $round (see $LOG)"; rm -f "$OUT/latency-r$round.json"; }
  done
  ls "$OUT"/latency-r*.json >/dev/null 2>&1 && bench_medians "$OUT/latency.tsv" "$OUT"/latency-r*.json
  [ -z "$(runc --root "$W/runc-lat" list -q)$(crun --root "$W/crun-lat" list -q)$("$BIN" --root "$W/sl-lat" list -q)" ] ||
    say "WARN: containers left after the latency runs"
  [ ! -f "$OUT/latency.tsv" ] || column -t -s $'\t' "$OUT/latency.tsv" | tee -a "$LOG"
fi

# ---------------------------------------------------------------------------------------------
# 2b: create / start / delete, each timed
PHASE_RUNS=${PHASE_RUNS:-30}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000 )); }   # microseconds since a date +%s%N
if want phases; then
  section "== phases: create / start / delete of /bin/true, $PHASE_RUNS runs each, medians (ms)"
  : > "$W/phases.raw"
  for i in $(seq "$PHASE_RUNS"); do
    for rt in sandlock-runtime crun runc; do
      bin=$rt; r="$W/$rt-ph"                   # under the names cleanup() deletes from
      [ $rt = sandlock-runtime ] && { bin=$BIN; r="$W/sl-ph"; }
      mkdir -p "$r"; id="ph$i"
      t=$(date +%s%N); "$bin" --root "$r" create -b "$W/bundle" "$id" </dev/null >/dev/null 2>&1 || { say "FAILED: $rt create"; continue; }
      printf 'create\t%s\t%s\n' "$rt" "$(ms_since "$t")" >> "$W/phases.raw"
      t=$(date +%s%N); "$bin" --root "$r" start "$id" >/dev/null 2>&1
      printf 'start\t%s\t%s\n' "$rt" "$(ms_since "$t")" >> "$W/phases.raw"
      for _ in $(seq 200); do "$bin" --root "$r" state "$id" 2>/dev/null | grep -q '"stopped"' && break; sleep 0.01; done
      t=$(date +%s%N); "$bin" --root "$r" delete "$id" >/dev/null 2>&1
      printf 'delete\t%s\t%s\n' "$rt" "$(ms_since "$t")" >> "$W/phases.raw"
    done
  done
  for ph in create start delete; do
    for rt in sandlock-runtime crun runc; do
      awk -F'\t' -v p=$ph -v r=$rt '$1 == p && $2 == r { print $3 }' "$W/phases.raw" | sort -n |
        awk -v p=$ph -v r=$rt '{ a[NR] = $1 } END { if (NR) printf "%s\t%s\t%.2f\n", p, r, a[int((NR + 1) / 2)] / 1000 }'
    done
  done > "$OUT/phases.tsv"
  column -t -s $'\t' "$OUT/phases.tsv" | sed 's/^/  /' | tee -a "$LOG"
fi

# ---------------------------------------------------------------------------------------------
# 3: through containerd (ctr) and podman
if want clients; then
  section "== clients: ctr run --rm / podman run --rm, /bin/true, $CLIENT_RUNS runs"
  bench_image "$W/img" busybox >> "$LOG" 2>&1
  # private containerd
  mkdir -p "$W/ctd"
  cat > "$W/ctd/config.toml" <<TOML
version = 2
root = "$W/ctd/root"
state = "$W/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$S"
[ttrpc]
  address = "$S.ttrpc"
TOML
  setsid containerd --config "$W/ctd/config.toml" > "$W/ctd/containerd.log" 2>&1 < /dev/null &
  CTD_PID=$!
  for _ in $(seq 100); do ctr -a "$S" version >/dev/null 2>&1 && break; sleep 0.1; done
  ctr -a "$S" image import "$W/img/busybox-docker.tar" >> "$LOG" 2>&1
  names=(); cmds=()
  for rt in runc crun "$BIN"; do
    n=$(basename "$rt")
    printf '#!/bin/sh\nexec ctr -a %s run --rm --runc-root %s --fifo-dir %s --runc-binary %s localhost/busybox:latest id$$ /bin/true\n' \
      "$S" "$W/ctd/runc-root" "$W/ctd/fifo" "$(command -v "$rt")" > "$W/ctr-run-$n"
    chmod +x "$W/ctr-run-$n"
    if try "ctr run --rm ($n)" "$W/ctr-run-$n"; then names+=("ctr run --rm ($n)"); cmds+=("$W/ctr-run-$n"); fi
  done
  args=(); for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  [ ${#args[@]} -eq 0 ] || hyperfine -N --warmup 2 --runs "$CLIENT_RUNS" --style basic --export-json "$OUT/ctr.json" "${args[@]}" >> "$LOG" 2>&1 ||
    { say "FAILED: hyperfine ctr (see $LOG)"; rm -f "$OUT/ctr.json"; }
  stop_containerd

  # podman, private storage; --ulimit pins: no CAP_SYS_RESOURCE here
  mkdir -p "$W/pm"
  "${PM[@]}" load -q -i "$W/img/busybox-docker.tar" >> "$LOG" 2>&1
  ULIM="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=4096:4096"
  names=(); cmds=()
  for rt in runc crun "$BIN"; do
    n=$(basename "$rt")
    printf '#!/bin/sh\nexec %s --runtime %s run --rm --network none %s localhost/busybox:latest /bin/true\n' \
      "${PM[*]}" "$(command -v "$rt")" "$ULIM" > "$W/pm-run-$n"
    chmod +x "$W/pm-run-$n"
    if try "podman run --rm ($n)" "$W/pm-run-$n"; then names+=("podman run --rm ($n)"); cmds+=("$W/pm-run-$n"); fi
  done
  args=(); for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  [ ${#args[@]} -eq 0 ] || hyperfine -N --warmup 2 --runs "$CLIENT_RUNS" --style basic --export-json "$OUT/podman.json" "${args[@]}" >> "$LOG" 2>&1 ||
    { say "FAILED: hyperfine podman (see $LOG)"; rm -f "$OUT/podman.json"; }
  "${PM[@]}" rm -a -f >/dev/null 2>&1 || true
  "${PM[@]}" rmi -a -f >/dev/null 2>&1 || true
  bench_umount_under "$W/pm"
  files=(); for f in "$OUT/ctr.json" "$OUT/podman.json"; do [ -f "$f" ] && files+=("$f"); done
  if [ ${#files[@]} -gt 0 ]; then
    bench_medians "$OUT/clients.tsv" "${files[@]}"
    column -t -s $'\t' "$OUT/clients.tsv" | tee -a "$LOG"
  fi
fi

# ---------------------------------------------------------------------------------------------
# 4: memory of idle containers
if want memory; then
  section "== memory: $N_IDLE idle containers (sleep 1000, run -d)"
  # one bundle per container: sandlock-runtime mounts into the shared mount table, so containers must
  # not share a rootfs directory (the busybox binary is hard-linked, the rest is tiny)
  mkdir -p "$W/mem"
  jq '.process.args=["sleep","1000"] | .process.terminal=false' "$W/bundle/config.json" > "$W/mem/config.json"
  mkb() { local b=$W/mem/b$1; mkdir -p "$b"; cp -al "$W/bundle/rootfs" "$b/rootfs"; cp "$W/mem/config.json" "$b/"; }
  for i in $(seq "$N_IDLE"); do mkb "$i"; done
  : > "$OUT/memory-pids.tsv"
  for rt in "$BIN" runc crun; do
    n=$(basename "$rt"); R=$W/${n%%-*}-mem; [ "$n" = sandlock-runtime ] && R=$W/sl-mem
    mkdir -p "$R"
    sleep 1
    used0=$(bench_used_kib); ok=0
    # one container alone first: the idle supervisor and zygote with nothing shared with siblings
    if "$rt" --root "$R" run -d -b "$W/mem/b1" m1 </dev/null >/dev/null 2>>"$W/mem-$n.err"; then ok=1; fi
    if [ "$n" = sandlock-runtime ] && [ -f "$R/m1/state.json" ]; then
      sleep 2
      read -r a b <<< "$(bench_mem "$(jq -r .supervisorPid "$R/m1/state.json")")"
      read -r c d <<< "$(bench_mem "$(jq -r .zygotePid "$R/m1/state.json")")"
      printf 'supervisor_rss_kib_alone\t%s\nsupervisor_pss_kib_alone\t%s\nzygote_rss_kib_alone\t%s\nzygote_pss_kib_alone\t%s\n' "$a" "$b" "$c" "$d" > "$W/mem-alone.tsv"
    fi
    t0=$(date +%s.%N)
    for i in $(seq 2 "$N_IDLE"); do
      if "$rt" --root "$R" run -d -b "$W/mem/b$i" "m$i" </dev/null >/dev/null 2>>"$W/mem-$n.err"; then ok=$((ok + 1)); fi
    done
    t1=$(date +%s.%N)
    sleep 3
    used1=$(bench_used_kib)
    rtprocs=0
    if [ "$n" = sandlock-runtime ]; then
      for i in $(seq "$N_IDLE"); do
        st=$R/m$i/state.json; [ -f "$st" ] || continue
        sp=$(jq -r .supervisorPid "$st"); zp=$(jq -r .zygotePid "$st")
        printf 'm%s\tsupervisor\t%s\t%s\n' "$i" "$sp" "$(bench_mem "$sp" | tr ' ' '\t')" >> "$OUT/memory-pids.tsv"
        printf 'm%s\tzygote\t%s\t%s\n' "$i" "$zp" "$(bench_mem "$zp" | tr ' ' '\t')" >> "$OUT/memory-pids.tsv"
        for p in "$sp" "$zp"; do [ -d "/proc/$p" ] && rtprocs=$((rtprocs + 1)); done
      done
    else
      rtprocs=$(pgrep -c -f -- "--root $R " || true)   # runc/crun processes of this root
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$ok" "$(( (used1 - used0) / (ok > 0 ? ok : 1) ))" "$rtprocs" \
      "$(awk -v a="$t0" -v b="$t1" -v n="$((ok - 1))" 'BEGIN { printf "%.1f", (b - a) * 1000 / (n > 0 ? n : 1) }')" >> "$W/mem-sys.tsv"
    say "$n: $ok/$N_IDLE started; runtime processes alive: $rtprocs; system memory used +$(( (used1 - used0) / 1024 )) MiB"
    [ -s "$W/mem-$n.err" ] && head -5 "$W/mem-$n.err" | tee -a "$LOG"
    runtime_cleanup "$rt" "$R"
    [ -z "$("$rt" --root "$R" list -q 2>/dev/null)" ] || say "WARN: $n left containers under $R"
  done
  # memory.tsv: key value
  awk -F'\t' '
    $2 == "supervisor" { s[++ns] = $4; sp[ns] = $5; tr += $4; tp += $5 }
    $2 == "zygote"     { z[++nz] = $4; zpss[nz] = $5; tr += $4; tp += $5 }
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                                     return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END {
      printf "containers\t%d\n", ns
      printf "supervisor_rss_kib_first\t%d\nsupervisor_pss_kib_first\t%d\n", s[1], sp[1]
      printf "zygote_rss_kib_first\t%d\nzygote_pss_kib_first\t%d\n", z[1], zpss[1]
      printf "supervisor_rss_kib_median\t%d\nsupervisor_pss_kib_median\t%d\n", med(s, ns), med(sp, ns)
      printf "zygote_rss_kib_median\t%d\nzygote_pss_kib_median\t%d\n", med(z, nz), med(zpss, nz)
      printf "total_rss_kib\t%d\ntotal_pss_kib\t%d\n", tr, tp
      printf "per_container_rss_kib\t%d\nper_container_pss_kib\t%d\n", tr / (ns ? ns : 1), tp / (ns ? ns : 1)
    }' "$OUT/memory-pids.tsv" > "$OUT/memory.tsv"
  awk -F'\t' '{ printf "sysused_per_container_kib_%s\t%s\nruntime_procs_%s\t%s\nstarted_%s\t%s\nrun_d_ms_%s\t%s\n", $1, $3, $1, $4, $1, $2, $1, $5 }' \
    "$W/mem-sys.tsv" >> "$OUT/memory.tsv"
  [ -f "$W/mem-alone.tsv" ] && cat "$W/mem-alone.tsv" >> "$OUT/memory.tsv"
  column -t -s $'\t' "$OUT/memory.tsv" | tee -a "$LOG"
  rm -rf "$W/mem"
fi

# ---------------------------------------------------------------------------------------------
# 6: supervisor (trapped syscalls, mediated metadata)
TAR_FILES=${TAR_FILES:-2000}
if want supervisor; then
  section "== supervisor: ns per call, bare vs sandbox (median of 5 runs each)"
  gcc -O2 -static -o "$W/trapped" "$ROOT/hack/bench/trapped.c"
  mkdir -p "$W/sv/w" "$W/sv/out" "$W/sv/src"; : > "$W/sv/outside"
  for i in $(seq "$TAR_FILES"); do echo "$i" > "$W/sv/src/f$i"; done
  tar -C "$W/sv" -cf "$W/sv/tar.tar" src
  SB=("$BIN" sandbox -r /usr -r /lib -r /lib64 -r /bin -r "$W/trapped" -r "$W/sv/tar.tar" -w "$W/sv/w" -w "$W/sv/out" --)
  for i in 1 2 3 4 5; do
    "$W/trapped" "$W/sv/w" "$W/sv/outside" | sed 's/^/bare\t/'
    "${SB[@]}" "$W/trapped" "$W/sv/w" "$W/sv/outside" | sed 's/^/sandbox\t/'
  done > "$W/sv/raw.tsv"
  for k in getppid open_close uname chmod_allowed chmod_refused readlink udp_send udp_sendto udp_sendmsg; do
    b=$(awk -F'\t' -v k=$k '$1 == "bare" && $2 == k { print $3 }' "$W/sv/raw.tsv" | sort -n | sed -n 3p)
    s=$(awk -F'\t' -v k=$k '$1 == "sandbox" && $2 == k { print $3 }' "$W/sv/raw.tsv" | sort -n | sed -n 3p)
    printf '%s\t%s\t%s\n' "$k" "$b" "$s"
  done > "$OUT/supervisor.tsv"
  # tar -x of many small files: each file's mode, owner and times are set on behalf
  for mode in bare sandbox; do
    for i in 1 2 3; do
      rm -rf "$W/sv/out"; mkdir -p "$W/sv/out"
      t0=$(date +%s%N)
      if [ $mode = bare ]; then tar -C "$W/sv/out" -xpf "$W/sv/tar.tar"; else "${SB[@]}" tar -C "$W/sv/out" -xpf "$W/sv/tar.tar"; fi
      echo $(( ($(date +%s%N) - t0) / 1000000 ))
    done | sort -n | sed -n 2p | sed "s/^/tar_x_${TAR_FILES}_files_ms\t$mode\t/"
  done > "$W/sv/tar.tsv"
  printf 'tar_x_%s_files_ms\t%s\t%s\n' "$TAR_FILES" "$(awk -F'\t' '$2 == "bare" { print $3 }' "$W/sv/tar.tsv")" \
    "$(awk -F'\t' '$2 == "sandbox" { print $3 }' "$W/sv/tar.tsv")" >> "$OUT/supervisor.tsv"
  sed 's/^/  /' "$OUT/supervisor.tsv" | tee -a "$LOG"
fi

# ---------------------------------------------------------------------------------------------
# 7: fs_denied inside a writable directory (the supervisor mediates the carved directory)
if want fsdenied; then
  section "== fsdenied: tar -x + find/cat of $TAR_FILES files in W, -w W with and without --fs-denied W/secret"
  mkdir -p "$W/fd/src" "$W/fd/w"
  for i in $(seq "$TAR_FILES"); do echo "$i" > "$W/fd/src/f$i"; done
  tar -C "$W/fd" -cf "$W/fd/tar.tar" src
  echo secret > "$W/fd/w/secret"
  FD=("$BIN" sandbox -r /usr -r /lib -r /lib64 -r /bin -r "$W/fd/tar.tar" -w "$W/fd/w")
  for mode in off on; do
    extra=(); [ $mode = on ] && extra=(--fs-denied "$W/fd/w/secret")
    for i in 1 2 3; do
      rm -rf "$W/fd/w/src"
      t0=$(date +%s%N)
      "${FD[@]}" "${extra[@]}" -- sh -c "tar -C '$W/fd/w' -xf '$W/fd/tar.tar' && find '$W/fd/w/src' -type f -exec cat {} + >/dev/null"
      echo $(( ($(date +%s%N) - t0) / 1000000 ))
    done | sort -n | sed -n 2p | sed "s/^/$mode\t/"
  done > "$W/fd/raw.tsv"
  off=$(awk -F'\t' '$1 == "off" { print $2 }' "$W/fd/raw.tsv")
  on=$(awk -F'\t' '$1 == "on" { print $2 }' "$W/fd/raw.tsv")
  printf 'tar_x_find_cat_%s_files_ms\t%s\t%s\n' "$TAR_FILES" "$off" "$on" > "$OUT/fsdenied.tsv"
  sed 's/^/  /' "$OUT/fsdenied.tsv" | tee -a "$LOG"
  say "  ratio on/off: $(bench_ratio "$on" "$off")"
  rm -rf "$W/fd"
fi

# ---------------------------------------------------------------------------------------------
# random_seed and deterministic_dirs: opens and listings answered by the supervisor
if want determinism; then
  section "== determinism: tar -x + find/cat of $TAR_FILES files in W, -w W plain, --random-seed 1, --deterministic-dirs"
  mkdir -p "$W/det/src" "$W/det/w"
  for i in $(seq "$TAR_FILES"); do echo "$i" > "$W/det/src/f$i"; done
  tar -C "$W/det" -cf "$W/det/tar.tar" src
  DT=("$BIN" sandbox -r /usr -r /lib -r /lib64 -r /bin -r "$W/det/tar.tar" -w "$W/det/w")
  for mode in plain random_seed deterministic_dirs; do
    extra=()
    [ $mode = random_seed ] && extra=(--random-seed 1)
    [ $mode = deterministic_dirs ] && extra=(--deterministic-dirs)
    for i in 1 2 3; do
      rm -rf "$W/det/w/src"
      t0=$(date +%s%N)
      "${DT[@]}" "${extra[@]}" -- sh -c "tar -C '$W/det/w' -xf '$W/det/tar.tar' && find '$W/det/w/src' -type f -exec cat {} + >/dev/null"
      echo $(( ($(date +%s%N) - t0) / 1000000 ))
    done | sort -n | sed -n 2p | sed "s/^/$mode\t/"
  done > "$W/det/raw.tsv"
  plain=$(bench_get "$W/det/raw.tsv" plain)
  for mode in random_seed deterministic_dirs; do
    printf 'tar_x_find_cat_%s_files_ms\t%s\t%s\t%s\n' "$TAR_FILES" "$mode" "$plain" "$(bench_get "$W/det/raw.tsv" $mode)"
  done > "$OUT/determinism.tsv"
  sed 's/^/  /' "$OUT/determinism.tsv" | tee -a "$LOG"
  rm -rf "$W/det"
fi

# ---------------------------------------------------------------------------------------------
# 5: redis
COW_FILES=${COW_FILES:-2000}
COMMIT_FILES=${COMMIT_FILES:-10000}
if want cow; then
  section "== cow: untar $COW_FILES files + make, plain vs COW workdir; commit of $COMMIT_FILES files (ms, medians)"
  mkdir -p "$W/cow/src/data"
  for i in $(seq 40); do printf 'int f%d(void) { return %d; }\n' "$i" "$i" > "$W/cow/src/f$i.c"; done
  printf 'int main(void) { return 0; }\n' > "$W/cow/src/main.c"
  printf 'OBJ = $(patsubst %%.c,%%.o,$(wildcard *.c))\nprog: $(OBJ)\n\tcc -o $@ $^\n' > "$W/cow/src/Makefile"
  for i in $(seq "$COW_FILES"); do echo "$i" > "$W/cow/src/data/f$i"; done
  tar -C "$W/cow/src" -cf "$W/cow/p.tar" .
  WL="tar -xf $W/cow/p.tar && make -s -j2 >/dev/null && ./prog"
  cow_once() {   # MODE: one run's wall time in ms
    rm -rf "$W/cow/wd" "$W/cow/layers"; mkdir -p "$W/cow/wd"
    local t0; t0=$(date +%s%N)
    case $1 in
      plain)  "$BIN" sandbox -r / -w /tmp -w "$W/cow/wd" -- sh -c "cd $W/cow/wd && $WL" ;;
      cow)    "$BIN" sandbox -r / -w /tmp --workdir "$W/cow/wd" --fs-storage "$W/cow/layers" --on-exit ABORT -- sh -c "$WL" ;;
      commit) "$BIN" sandbox -r / -w /tmp --workdir "$W/cow/wd" --fs-storage "$W/cow/layers" -- sh -c "$WL" ;;
    esac
    echo $(( ($(date +%s%N) - t0) / 1000000 ))
  }
  for mode in plain cow commit; do
    printf 'untar_make_%s_files_ms\t%s\t%s\n' "$COW_FILES" "$mode" "$(for i in 1 2 3; do cow_once $mode; done | sort -n | sed -n 2p)"
  done > "$OUT/cow.tsv"
  [ -x "$W/cow/wd/prog" ] || say "WARN: cow: the committed build has no prog"
  for i in 1 2 3 4 5; do
    rm -rf "$W/cow/wd" "$W/cow/layers"; mkdir -p "$W/cow/wd"
    "$BIN" sandbox -r / --workdir "$W/cow/wd" --fs-storage "$W/cow/layers" --on-exit KEEP -- \
      sh -c "mkdir d && i=0 && while [ \$i -lt $COMMIT_FILES ]; do echo \$i > d/f\$i; i=\$((i+1)); done"
    t0=$(date +%s%N)
    "$BIN" cow commit "$W/cow/layers"/*
    echo $(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$(ls "$W/cow/wd/d" | wc -l)" -eq "$COMMIT_FILES" ] || say "WARN: cow: commit landed $(ls "$W/cow/wd/d" | wc -l) files"
  done | sort -n | sed -n 3p | sed "s/^/commit_${COMMIT_FILES}_files_ms\tcow commit\t/" >> "$OUT/cow.tsv"
  sed 's/^/  /' "$OUT/cow.tsv" | tee -a "$LOG"
fi
if want redis; then
  section "== redis: redis-benchmark -q -n $REDIS_N -t set,get on 127.0.0.1:$REDIS_PORT, $REDIS_ROUNDS rounds"
  if ss -ltnH "sport = :$REDIS_PORT" | grep -q .; then
    say "skipped: port $REDIS_PORT is in use"
  else
    RARGS=(/usr/bin/redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
           --protected-mode no --daemonize no)
    # bundle: busybox rootfs + redis-server and its libraries; the runc-spec default config minus
    # the network namespace (host network), same NOFILE limit (1024) as the bare run
    RB=$W/redis
    bench_bundle "$RB" "${RARGS[@]}"
    bench_copy_bin "$RB/rootfs" "$(readlink -f /usr/bin/redis-server)" redis-server
    jq '.linux.namespaces |= map(select(.type != "network"))' "$RB/config.json" > "$RB/c.new" && mv "$RB/c.new" "$RB/config.json"
    : > "$OUT/redis-raw.tsv"
    wait_up() { for _ in $(seq 100); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done; return 1; }
    wait_down() { for _ in $(seq 100); do ss -ltnH "sport = :$REDIS_PORT" | grep -q . || return 0; sleep 0.05; done; return 1; }
    load() {   # CONFIG ROUND
      redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -n "$REDIS_N" -t set,get --csv 2>/dev/null |
        tr -d '"' | awk -F, -v c="$1" -v r="$2" '$1 == "SET" || $1 == "GET" { printf "%s\t%s\t%s\t%s\t%s\n", c, $1, r, $2, $5 }' >> "$OUT/redis-raw.tsv"
    }
    configs=(bare sandlock-runtime runc crun)
    for round in $(seq "$REDIS_ROUNDS"); do
      nc=${#configs[@]}
      for k in $(seq 0 $((nc - 1))); do
        c=${configs[$(( (k + round - 1) % nc ))]}
        case $c in
          bare)
            ( ulimit -n 1024; exec "${RARGS[@]}" ) > "$W/redis-bare.log" 2>&1 < /dev/null &
            REDIS_PID=$!
            if wait_up; then load bare "$round"; else say "bare redis did not come up"; fi
            kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""
            ;;
          *)
            rt=$c; [ "$c" = sandlock-runtime ] && rt=$BIN
            R=$W/${c%%-*}-redis; [ "$c" = sandlock-runtime ] && R=$W/sl-redis
            mkdir -p "$R"
            if "$rt" --root "$R" run -d -b "$RB" "r$round" </dev/null >"$W/redis-$c.log" 2>&1 && wait_up; then
              load "$c" "$round"
            else
              say "redis under $c did not come up:"; tail -5 "$W/redis-$c.log" | tee -a "$LOG"
            fi
            runtime_cleanup "$rt" "$R"
            ;;
        esac
        wait_down || say "WARN: port $REDIS_PORT still bound after $c"
      done
    done
    # redis.tsv: config test median_rps runs median_p50_ms best_rps (best = highest of the rounds)
    awk -F'\t' '{ k = $1 "\t" $2; n[k]++; if ($4 + 0 > mx[k] + 0) mx[k] = $4; v[k, n[k]] = $4; p[k, n[k]] = $5; if (!(k in seen)) { seen[k] = 1; order[++no] = k } }
      function med(key, arr,   i, j, t, a, m) { m = n[key]; for (i = 1; i <= m; i++) a[i] = arr[key, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
      END { for (i = 1; i <= no; i++) { k = order[i]; printf "%s\t%.0f\t%d\t%.3f\t%.0f\n", k, med(k, v), n[k], med(k, p), mx[k] } }' \
      "$OUT/redis-raw.tsv" | sort -k2,2 -k1,1 > "$OUT/redis.tsv"
    column -t -s $'\t' "$OUT/redis.tsv" | tee -a "$LOG"
  fi
fi

# ---------------------------------------------------------------------------------------------
# summary.md + plot
{
  echo "# sandlock-runtime bench, $(date -u +%F)"
  echo
  echo '```'; cat "$OUT/machine.txt"; echo "load average (1/5/15 min) at the start of each section:"; sed 's/^/  /' "$OUT/load.txt" 2>/dev/null; echo '```'
  if [ -f "$OUT/latency.tsv" ]; then
    L=$OUT/latency.tsv
    sl=$(bench_get "$L" 'sandlock-runtime run'); cr=$(bench_get "$L" 'crun run'); rc=$(bench_get "$L" 'runc run')
    fe=$(bench_get "$L" 'fork-exec /bin/true'); bw=$(bench_get "$L" 'bwrap --ro-bind / / true')
    sb=$(bench_get "$L" 'sandlock-runtime sandbox -- /bin/true')
    echo
    echo "## Start latency (hyperfine medians, ms, $LAT_ROUNDS rounds x $RUNS runs pooled)"
    echo
    echo "| command | median ms | min ms | runs | CPU ms | / crun run | / runc run | / fork-exec | CPU / crun run's |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    crcpu=$(awk -F'\t' '$1 == "crun run" { print $5 }' "$L")
    while IFS=$'\t' read -r name med runs min cpu; do
      echo "| $name | $med | $min | $runs | $cpu | $(bench_ratio "$med" "$cr") | $(bench_ratio "$med" "$rc") | $(bench_ratio "$med" "$fe") | $(bench_ratio "$cpu" "$crcpu") |"
    done < "$L"
    if [ -z "$sb" ]; then echo; echo "sandbox: skipped (sandbox command not available)"; fi
    echo
    echo "sandlock-runtime run / crun run = $(bench_ratio "$sl" "$cr"); / runc run = $(bench_ratio "$sl" "$rc")"
    [ -z "$sb" ] || echo "sandlock-runtime sandbox / bwrap = $(bench_ratio "$sb" "$bw"); / fork-exec = $(bench_ratio "$sb" "$fe")"
    cpu() { awk -F'\t' -v n="$1" '$1 == n { print $5 }' "$L"; }
    echo "CPU: sandlock-runtime run / crun run = $(bench_ratio "$(cpu 'sandlock-runtime run')" "$(cpu 'crun run')"); sandbox / bwrap = $(bench_ratio "$(cpu 'sandlock-runtime sandbox -- /bin/true')" "$(cpu 'bwrap --ro-bind / / true')")"
    if [ -n "$BASE" ]; then
      echo "against the baseline ($BASE): run $(bench_ratio "$sl" "$(bench_get "$L" 'baseline run')"), CPU $(bench_ratio "$(cpu 'sandlock-runtime run')" "$(cpu 'baseline run')"); sandbox $(bench_ratio "$sb" "$(bench_get "$L" 'baseline sandbox -- /bin/true')"), CPU $(bench_ratio "$(cpu 'sandlock-runtime sandbox -- /bin/true')" "$(cpu 'baseline sandbox -- /bin/true')")"
    fi
  fi
  if [ -f "$OUT/clients.tsv" ]; then
    C=$OUT/clients.tsv
    echo
    echo "## Through containerd and podman (medians, ms, $CLIENT_RUNS runs)"
    echo
    echo "| command | median ms | min ms | runs | / same client with crun | / same client with runc |"
    echo "|---|---:|---:|---:|---:|---:|"
    while IFS=$'\t' read -r name med runs min _; do
      cl=${name% (*}
      echo "| $name | $med | $min | $runs | $(bench_ratio "$med" "$(bench_get "$C" "$cl (crun)")") | $(bench_ratio "$med" "$(bench_get "$C" "$cl (runc)")") |"
    done < "$C"
  fi
  if [ -f "$OUT/memory.tsv" ]; then
    M=$OUT/memory.tsv
    g() { bench_get "$M" "$1"; }
    echo
    echo "## Memory of idle containers ($(g containers) x sleep 1000)"
    echo
    echo "| process | RSS KiB, one container alone | RSS KiB, median of $(g containers) | PSS KiB, alone | PSS KiB, median of $(g containers) |"
    echo "|---|---:|---:|---:|---:|"
    echo "| supervisor (sandlock-runtime supervise) | $(g supervisor_rss_kib_alone) | $(g supervisor_rss_kib_median) | $(g supervisor_pss_kib_alone) | $(g supervisor_pss_kib_median) |"
    echo "| zygote | $(g zygote_rss_kib_alone) | $(g zygote_rss_kib_median) | $(g zygote_pss_kib_alone) | $(g zygote_pss_kib_median) |"
    echo "| supervisor + zygote, per container (sum over all / $(g containers)) | | $(g per_container_rss_kib) | | $(g per_container_pss_kib) |"
    echo
    echo "| runtime | runtime processes left per container | system memory used per container (MemTotal-MemAvailable delta, KiB, noisy) | run -d ms per container |"
    echo "|---|---:|---:|---:|"
    for n in sandlock-runtime runc crun; do
      p=$(g "runtime_procs_$n"); s=$(g "started_$n")
      echo "| $n | $(awk -v p="$p" -v s="$s" 'BEGIN { if (s > 0) printf "%.0f", p / s; else print "-" }') | $(g "sysused_per_container_kib_$n") | $(g "run_d_ms_$n") |"
    done
  fi
  if [ -f "$OUT/phases.tsv" ]; then
    echo
    echo "## create / start / delete of /bin/true (ms, medians of $PHASE_RUNS)"
    echo
    echo "| phase | sandlock-runtime | crun | runc | sandlock / crun |"
    echo "|---|---:|---:|---:|---:|"
    for ph in create start delete; do
      a=$(awk -F'\t' -v p=$ph '$1 == p && $2 == "sandlock-runtime" { print $3 }' "$OUT/phases.tsv")
      c=$(awk -F'\t' -v p=$ph '$1 == p && $2 == "crun" { print $3 }' "$OUT/phases.tsv")
      r=$(awk -F'\t' -v p=$ph '$1 == p && $2 == "runc" { print $3 }' "$OUT/phases.tsv")
      echo "| $ph | $a | $c | $r | $(bench_ratio "$a" "$c") |"
    done
  fi
  if [ -f "$OUT/supervisor.tsv" ]; then
    echo
    echo "## Supervisor: one syscall bare and under \`sandbox\` (ns per call, medians; tar in ms)"
    echo
    echo "| call | bare | sandbox | sandbox / bare |"
    echo "|---|---:|---:|---:|"
    while IFS=$'\t' read -r k b s; do echo "| $k | $b | $s | $(bench_ratio "$s" "$b") |"; done < "$OUT/supervisor.tsv"
  fi
  if [ -f "$OUT/fsdenied.tsv" ]; then
    echo
    echo "## fs_denied inside a writable directory: \`sandbox -w W\` vs \`-w W --fs-denied W/secret\` (ms, medians)"
    echo
    echo "| workload | off | on | on / off |"
    echo "|---|---:|---:|---:|"
    while IFS=$'\t' read -r k b s; do echo "| $k | $b | $s | $(bench_ratio "$s" "$b") |"; done < "$OUT/fsdenied.tsv"
  fi
  if [ -f "$OUT/determinism.tsv" ]; then
    echo
    echo "## random_seed and deterministic_dirs: \`sandbox -w W\` plain vs with the field (ms, medians)"
    echo
    echo "| workload | field | plain | with | with / plain |"
    echo "|---|---|---:|---:|---:|"
    while IFS=$'\t' read -r k f b s; do echo "| $k | $f | $b | $s | $(bench_ratio "$s" "$b") |"; done < "$OUT/determinism.tsv"
  fi
  if [ -f "$OUT/cow.tsv" ]; then
    K=$OUT/cow.tsv
    p=$(awk -F'\t' '$2 == "plain" { print $3 }' "$K")
    echo
    echo "## Copy-on-write workdir (ms, medians; untar + make in \`sandbox\`)"
    echo
    echo "| workload | config | ms | / plain |"
    echo "|---|---|---:|---:|"
    while IFS=$'\t' read -r k c v; do
      r=$(bench_ratio "$v" "$p"); case $k in commit_*) r=-;; esac
      echo "| $k | $c | $v | $r |"
    done < "$K"
  fi
  if [ -f "$OUT/redis.tsv" ]; then
    R=$OUT/redis.tsv
    echo
    echo "## redis-server throughput (redis-benchmark -n $REDIS_N, $REDIS_ROUNDS rounds: median and best)"
    echo
    echo "| test | config | median req/s | / bare | best req/s | / bare (best) | p50 ms (median) |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    while IFS=$'\t' read -r c t rps runs p50 best; do
      b=$(awk -F'\t' -v t="$t" '$1 == "bare" && $2 == t { print $3 " " $6 }' "$R")
      echo "| $t | $c | $rps | $(bench_ratio "$rps" "${b% *}") | $best | $(bench_ratio "$best" "${b#* }") | $p50 |"
    done < "$R"
  fi
} > "$OUT/summary.md"

# plot: latency medians (log scale)
cat "$OUT/latency.tsv" "$OUT/clients.tsv" 2>/dev/null | awk -F'\t' '{ print $1 "\t" $2 }' > "$OUT/plot.tsv" || true
if [ -s "$OUT/plot.tsv" ] && command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$OUT/plot.tsv'; outfile='$OUT/performance.png'" "$ROOT/hack/plot.gp" 2>>"$LOG" ||
    say "WARN: plot failed"
fi
say "== summary: $OUT/summary.md"
cat "$OUT/summary.md"
