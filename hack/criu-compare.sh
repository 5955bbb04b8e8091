#!/bin/bash
# hack/criu-compare.sh: the checkpoint/restore side-by-side of docs/checkpoint-criu.md.
#
# The issue's workloads run in runc containers (busybox-static bundles; python3 and redis get
# the host's /usr bind-mounted read-only) and are checkpointed and restored by CRIU 4.1.1 through
# `runc --criu`, then, when the runtime under test has a `checkpoint` verb, the same bundles
# through `sandlock-runtime checkpoint/restore` with the same flags. For each: whether the
# restored program continues where it stopped (its output proves it), checkpoint and restore
# wall time (ms) and the image size (du -sb).
#
# CRIU: Debian 12's criu 3.17 fails `criu check` on kernel >= 6.13 (vdso: [vvar_vclock]), so
# CRIU 4.1.1 is built from the Debian trixie source tarball (md5 checked) into $CRIU_CACHE
# (default ${TMPDIR:-/tmp}/sandlock-criu, outside the repo, kept between runs). CRIU=path skips it.
#
# Env: SANDLOCK_RUNTIME (default bin/sandlock-runtime), CRIU, CRIU_CACHE, TIMEOUT (s per
# checkpoint/restore, default 60), OUT (results.tsv and results.md go there; default
# ${TMPDIR:-/tmp}/criu-compare-last),
# ONLY="counter threads ..." to run a subset, REPEAT=N runs of each (the table gives medians),
# SKIP_CRIU=1, SKIP_SANDLOCK=1, KEEP=1 keeps the work dir (images, logs, bundles).
# Needs root, runc, gcc with a static libc, jq, busybox-static.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "criu-compare: needs root" >&2; exit 1; }
for t in runc gcc jq; do command -v $t >/dev/null || { echo "criu-compare: $t not found" >&2; exit 1; }; done
TIMEOUT=${TIMEOUT:-60}
CACHE=${CRIU_CACHE:-${TMPDIR:-/tmp}/sandlock-criu}
RT=${SANDLOCK_RUNTIME:-$ROOT/bin/sandlock-runtime}
WORKLOADS=${ONLY:-counter threads python3 redis pipe recheckpoint}
W=$(mktemp -d "${TMPDIR:-/tmp}/criu-compare.XXXXXX")
OUT=${OUT:-${TMPDIR:-/tmp}/criu-compare-last}; mkdir -p "$OUT"; rm -f "$OUT/results.tsv" "$OUT/results.md"
TSV=$OUT/results.tsv; MD=$OUT/results.md
IDS=()   # every container id this run created, deleted at exit

log() { echo "== $*" >&2; }

# ---------------------------------------------------------------- CRIU 4.1.1
build_criu() {
  local cb=$CACHE/criu-4.1.1
  CRIU=$cb/criu/criu
  [ -x "$CRIU" ] && return 0
  log "building CRIU 4.1.1 into $cb (a few minutes)"
  mkdir -p "$CACHE"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq build-essential pkg-config libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler \
    protobuf-compiler python3-protobuf libnl-3-dev libnet1-dev libcap-dev libbsd-dev libaio-dev \
    libgnutls28-dev uuid-dev dpkg-dev >/dev/null
  local a=$CACHE/apt-trixie-src mirror md5
  rm -rf --one-file-system "$a"; mkdir -p "$a/lists/partial" "$a/dl"
  mirror=$(sed -n "s/^URIs: *//p" /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  echo "deb-src ${mirror%/} trixie main" > "$a/src.list"
  local o=(-o Dir::Etc::SourceList="$a/src.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$a/lists")
  apt-get "${o[@]}" update -qq
  md5=$(apt-cache "${o[@]}" showsrc criu | awk '/^Files:/{f=1;next} f&&/orig.tar/{print $1" "$3; exit}')
  # only the upstream orig tarball is needed (the .dsc/.debian.tar.xz may 404 on the mirror)
  (cd "$a/dl" && apt-get "${o[@]}" source --download-only criu >/dev/null 2>&1 || true)
  echo "$md5" | sed 's/ /  /' | (cd "$a/dl" && md5sum -c - >/dev/null)
  rm -rf --one-file-system "$cb"
  tar -C "$CACHE" -xf "$a/dl/${md5#* }"
  [ -d "$cb" ] || { echo "criu-compare: the trixie source is not criu 4.1.1 (${md5#* })" >&2; exit 1; }
  make -C "$cb" -j"$(nproc)" criu >/dev/null
  rm -rf --one-file-system "$a"
}

# ---------------------------------------------------------------- test programs
# Each writes to /tmp/out in its container (a file of the bundle's rootfs, read from the host):
# one "start" line when it begins, then numbered lines; a restore that restarted the program
# would write a second "start" or start the numbers again, so continuity is checked on the file.
build_programs() {
  cat > "$W/counter.c" <<'EOF'
#include <stdio.h>
#include <time.h>
int main(void) {
  FILE *f = fopen("/tmp/out", "a"); setvbuf(f, NULL, _IOLBF, 0);
  fprintf(f, "start\n");
  for (unsigned long n = 1;; n++) {
    fprintf(f, "%lu\n", n);
    struct timespec ts = {0, 50000000}; nanosleep(&ts, NULL);
  }
}
EOF
  # threads: A spins (running), B waits on a condition variable (blocked in futex), C sleeps in
  # nanosleep; main prints a tick with A's and C's progress, and wakes B once /tmp/go exists
  # (created only after the restore), so B's wake-up proves the futex waiter survived.
  cat > "$W/threads.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static volatile unsigned long spins, naps;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;
static FILE *f;
static void *spinner(void *a) { (void)a; for (;;) spins++; }
static void *waiter(void *a) {
  (void)a; pthread_mutex_lock(&mu);
  while (!go) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu); fprintf(f, "B woke\n"); return NULL;
}
static void *sleeper(void *a) {
  (void)a; for (;;) { struct timespec ts = {0, 20000000}; nanosleep(&ts, NULL); naps++; }
}
int main(void) {
  f = fopen("/tmp/out", "a"); setvbuf(f, NULL, _IOLBF, 0);
  fprintf(f, "start\n");
  pthread_t t; pthread_create(&t, 0, spinner, 0); pthread_create(&t, 0, waiter, 0);
  pthread_create(&t, 0, sleeper, 0);
  for (unsigned long n = 1;; n++) {
    fprintf(f, "%lu spins=%lu naps=%lu\n", n, spins, naps);
    if (!go && access("/tmp/go", F_OK) == 0) {
      pthread_mutex_lock(&mu); go = 1; pthread_cond_signal(&cv); pthread_mutex_unlock(&mu);
    }
    struct timespec ts = {0, 50000000}; nanosleep(&ts, NULL);
  }
}
EOF
  # python3: interpreter state is a running sum of squares and a generator's position; each
  # line is "n sum" and sum must equal 1^2+..+n^2 on every line, before and after the restore.
  cat > "$W/state.py" <<'EOF'
import itertools, time
f = open("/tmp/out", "a", buffering=1)
f.write("start\n")
squares = (i * i for i in itertools.count(1))
s = 0
for n in itertools.count(1):
    s += next(squares)
    f.write("%d %d\n" % (n, s))
    time.sleep(0.05)
EOF
  gcc -O1 -static -o "$W/counter" "$W/counter.c"
  gcc -O1 -static -pthread -o "$W/threads" "$W/threads.c"
}

# bundle NAME [ARGS...]: a busybox bundle in $W/b-NAME with a writable root
bundle() {
  local n=$1; shift
  local b=$W/b-$n
  SANDLOCK_RUNTIME=/nonexistent "$ROOT/hack/mkbundle.sh" "$b" "$@" 2>/dev/null
  jq '.root.readonly=false' "$b/config.json" > "$b/c" && mv "$b/c" "$b/config.json"
  echo "$b"
}
# hostusr BUNDLE: the host's /usr read-only in the rootfs (python3, redis-server and their
# libraries); lib and lib64 point into it as on the merged-/usr host
hostusr() {
  local b=$1
  mkdir -p "$b/rootfs/usr"
  for l in lib lib64; do [ -e "/$l" ] && ln -sfn "usr/$l" "$b/rootfs/$l"; done
  jq '.mounts += [{"destination":"/usr","type":"bind","source":"/usr","options":["rbind","ro"]}]' \
    "$b/config.json" > "$b/c" && mv "$b/c" "$b/config.json"
}
# hostnet BUNDLE: no network namespace (the host's network, like --network host)
hostnet() {
  jq '.linux.namespaces |= map(select(.type != "network"))' "$1/config.json" > "$1/c" && mv "$1/c" "$1/config.json"
}

make_workload_bundle() {   # NAME -> path of a fresh bundle for that workload
  local b
  case $1 in
    counter|recheckpoint) b=$(bundle "$1" /counter); cp "$W/counter" "$b/rootfs/counter" ;;
    threads) b=$(bundle "$1" /threads); cp "$W/threads" "$b/rootfs/threads" ;;
    python3) b=$(bundle "$1" /usr/bin/python3 /state.py); cp "$W/state.py" "$b/rootfs/state.py"; hostusr "$b" ;;
    redis) b=$(bundle "$1" /usr/bin/redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
              --daemonize no --protected-mode no --logfile /tmp/redis.log --dir /tmp)
           hostusr "$b"; hostnet "$b" ;;
    # one line: mkbundle splits arguments at newlines
    pipe) b=$(bundle "$1" /bin/sh -c 'echo start >> /tmp/out; i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done | while read x; do echo "$x" >> /tmp/out; done') ;;
  esac
  echo "$b"
}

# ---------------------------------------------------------------- checks
lastnum() { { grep -E '^[0-9]+' "$1" 2>/dev/null || true; } | tail -1 | awk '{print $1}'; }
# continuous FILE: one start, numbers 1..N with no gap or restart
continuous() {
  awk '/^start$/ {s++; next} /^[0-9]+/ {if ($1 != n + 1) bad = 1; n = $1} END {exit !(s == 1 && !bad && n > 0)}' "$1"
}
sumsq_ok() { awk '/^[0-9]+ [0-9]+$/ {n = $1; t += n * n; if (t != $2) bad = 1} END {exit bad}' "$1"; }
spins() { { grep -E '^[0-9]+ spins=' "$1" || true; } | tail -1 | sed 's/.*spins=\([0-9]*\).*/\1/'; }
naps() { { grep -E '^[0-9]+ spins=' "$1" || true; } | tail -1 | sed 's/.*naps=\([0-9]*\).*/\1/'; }
rcli() {   # rcli ARGS...: one redis command on 127.0.0.1:$PORT
  if command -v redis-cli >/dev/null; then redis-cli -h 127.0.0.1 -p "$PORT" "$@"; else
    local a req; req="*$#\r\n"; for a in "$@"; do req+="\$${#a}\r\n$a\r\n"; done
    printf "$req" | timeout 5 nc -q1 127.0.0.1 "$PORT" | tr -d '\r' | sed -n '2p;/^[+:]/s/^.//p' | head -1; fi
}
redis_up() { local i; for i in $(seq 50); do [ "$(rcli PING 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done; return 1; }

# ---------------------------------------------------------------- one runtime, one workload
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rtcmd() {   # the runtime's command line: rtcmd criu|sandlock ARGS...
  local r=$1; shift
  if [ "$r" = criu ]; then runc --criu "$CRIU" "$@"; else "$RT" "$@"; fi
}
# timed R LOG CMD...: run with the timeout (the whole process group: CRIU runs under runc);
# sets MS and RC; RC 124 = hung
timed() {
  local r=$1 lg=$2 t0; shift 2
  t0=$(now_ms)
  local cmd=("$RT" "$@"); [ "$r" = criu ] && cmd=(runc --criu "$CRIU" "$@")
  set +e; timeout -k 5 "$TIMEOUT" "${cmd[@]}" </dev/null >"$lg" 2>&1; RC=$?; set -e
  MS=$(($(now_ms) - t0))
}

delete_ct() { rtcmd "$1" delete -f "$2" >/dev/null 2>&1 || true; }

# cpr R B ID IMG ID2: checkpoint ID into IMG, restore it as ID2; sets CK RS BYTES WHY
cpr() {
  local r=$1 b=$2 id=$3 img=$4 id2=$5
  WHY=; CK=; RS=; BYTES=
  timed "$r" "$W/$id2.ck.log" checkpoint --image-path "$img" "$id"
  CK=$MS
  if [ $RC = 124 ] || [ $RC = 137 ]; then WHY="checkpoint hangs (killed after ${TIMEOUT}s; CRIU's log ends: $(tail -1 "$img/dump.log" 2>/dev/null | sed 's/^([0-9.]*) *//' | cut -c1-100))"; return 1; fi
  if [ $RC != 0 ]; then WHY="checkpoint fails: $(errline "$W/$id2.ck.log" "$img/dump.log")"; CK=-; return 1; fi
  # CRIU (through runc) writes its dump.log into the image dir: logs are not image
  BYTES=$(du -sb --exclude="*.log" "$img" | cut -f1)
  # the checkpointed container is deleted before the restore into the same bundle (runc's is
  # gone already; a runtime without a mount namespace still holds its mounts in the rootfs)
  delete_ct "$r" "$id"
  IDS+=("$id2")
  timed "$r" "$W/$id2.rs.log" restore --image-path "$img" --bundle "$b" -d "$id2"
  RS=$MS
  if [ $RC = 124 ] || [ $RC = 137 ]; then WHY="restore hangs (killed after ${TIMEOUT}s)"; return 1; fi
  if [ $RC != 0 ]; then WHY="restore fails: $(errline "$W/$id2.rs.log" "$img/restore.log")"; RS=-; return 1; fi
  return 0
}
errline() {   # the first error of CRIU's log (its runc wrapper's message says little), else the runtime's
  local l=
  [ -z "${2:-}" ] || l=$({ grep -h 'Error (' "$2" 2>/dev/null || true; } | grep -v 'RLIMIT_NOFILE' | head -2 |
    sed 's/^([0-9.]*) //' | tr '\n' ' ' | cut -c1-200)
  [ -n "$l" ] || l=$({ grep -hiE 'error|fail|refus|unsupported|cannot' "$1" 2>/dev/null || true; } | head -1 | cut -c1-200)
  [ -n "$l" ] || l=$(tail -1 "$1" 2>/dev/null | cut -c1-200)
  echo "$l"
}

# start R NAME B ID: run detached, wait for the first output
start() {
  local r=$1 n=$2 b=$3 id=$4
  IDS+=("$id")
  # stdio /dev/null: the container inherits it, and a checkpointer must be able to reopen it
  rtcmd "$r" run -d -b "$b" "$id" </dev/null >/dev/null 2>&1 ||
    { WHY="run fails (rerun by hand: $r run -d -b $b)"; return 1; }
  if [ "$n" = redis ]; then redis_up || { WHY="redis did not answer"; return 1; }; else
    local i; for i in $(seq 50); do [ -n "$(lastnum "$b/rootfs/tmp/out")" ] && break; sleep 0.1; done; fi
  sleep 0.5
}

# verify NAME B BEFORE: after the restore, the program continued from where it stopped
verify() {
  local n=$1 b=$2 before=$3 o=$2/rootfs/tmp/out after
  case $n in
    redis)
      redis_up || { WHY="no answer on port $PORT after restore"; return 1; }
      [ "$(rcli GET k 2>/dev/null)" = v-$RUNID ] || { WHY="data lost (GET k = $(rcli GET k 2>&1 | head -1))"; return 1; }
      local rid; rid=$(rcli INFO server | tr -d '\r' | sed -n 's/^run_id://p')
      [ "$rid" = "$RUNID" ] || { WHY="a new server (run_id $rid, was $RUNID)"; return 1; }
      [ "$(rcli INCR n)" = 43 ] || { WHY="INCR after restore wrong"; return 1; }
      return 0 ;;
  esac
  [ -e "$o" ] || { WHY="no output"; return 1; }
  sleep 1
  after=$(lastnum "$o")
  [ -n "$after" ] && [ "$after" -gt "$before" ] || { WHY="no progress after restore ($before -> ${after:-none})"; return 1; }
  continuous "$o" || { WHY="output not continuous (restarted or lost lines)"; return 1; }
  case $n in
    python3) sumsq_ok "$o" || { WHY="interpreter state wrong (sum of squares)"; return 1; } ;;
    threads)
      [ "$(spins "$o")" -gt "$SPINS" ] || { WHY="spinning thread stopped"; return 1; }
      [ "$(naps "$o")" -gt "$NAPS" ] || { WHY="sleeping thread stopped"; return 1; }
      touch "$b/rootfs/tmp/go"
      local i; for i in $(seq 30); do grep -q '^B woke$' "$o" && break; sleep 0.1; done
      grep -q '^B woke$' "$o" || { WHY="futex waiter did not wake"; return 1; } ;;
  esac
  return 0
}

# one R NAME: the workload through runtime R; prints a TSV row
one() {
  local r=$1 n=$2 b id img before
  b=$(make_workload_bundle "$n")
  id=cc-$$-$r-$n
  img=$W/img-$r-$n
  WHY=; CK=; RS=; BYTES=
  if start "$r" "$n" "$b" "$id"; then
    if [ "$n" = redis ]; then
      RUNID=$(rcli INFO server | tr -d '\r' | sed -n 's/^run_id://p')
      rcli SET k "v-$RUNID" >/dev/null; rcli SET n 42 >/dev/null
      rcli RPUSH l a b c >/dev/null
    fi
    before=$(lastnum "$b/rootfs/tmp/out"); SPINS=0; NAPS=0
    if [ "$n" = threads ]; then SPINS=$(spins "$b/rootfs/tmp/out"); NAPS=$(naps "$b/rootfs/tmp/out"); fi
    if cpr "$r" "$b" "$id" "$img" "$id-r"; then
      if [ "$n" != redis ]; then before=$(lastnum "$b/rootfs/tmp/out"); fi
      if [ "$n" = threads ]; then SPINS=$(spins "$b/rootfs/tmp/out"); NAPS=$(naps "$b/rootfs/tmp/out"); fi
      if verify "$n" "$b" "${before:-0}" && [ "$n" = recheckpoint ]; then
        # the restored container checkpointed and restored again: the second round's numbers
        before=$(lastnum "$b/rootfs/tmp/out")
        if cpr "$r" "$b" "$id-r" "$img-2" "$id-r2"; then
          before=$(lastnum "$b/rootfs/tmp/out"); verify "$n" "$b" "$before" || true
        else WHY="second round: $WHY"; fi
      fi
    fi
  fi
  local handled=yes
  # one TSV field that is also a markdown cell: no tab, newline or bare |
  WHY=$(printf '%s' "$WHY" | tr '\t\n' '  ' | sed 's/|/\\|/g; s/  */ /g; s/ $//')
  [ -z "$WHY" ] || handled="no: $WHY"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$r" "$handled" "${CK:--}" "${RS:--}" "${BYTES:--}" | tee -a "$TSV"
  for i in "$id" "$id-r" "$id-r2"; do delete_ct "$r" "$i"; done
}

cleanup() {
  local i
  for i in "${IDS[@]}"; do runc delete -f "$i" >/dev/null 2>&1 || true
    [ -x "$RT" ] && "$RT" delete -f "$i" >/dev/null 2>&1 || true; done
  # nothing may stay mounted under the work dir (a restore that died half way)
  awk -v p="$W/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $W" >&2; else
    rm -rf --one-file-system "$W"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- main
[ -x "$ROOT/hack/host-prep.sh" ] && "$ROOT/hack/host-prep.sh" >/dev/null 2>&1 || true
RUNTIMES=()
if [ "${SKIP_CRIU:-0}" != 1 ]; then
  [ -n "${CRIU:-}" ] || build_criu
  log "CRIU: $("$CRIU" --version | head -1) ($CRIU); check: $("$CRIU" check 2>&1 | tail -1)"
  RUNTIMES+=(criu)
fi
if [ "${SKIP_SANDLOCK:-0}" != 1 ] && [ -x "$RT" ] && "$RT" checkpoint --help >/dev/null 2>&1; then
  log "sandlock-runtime: $RT ($("$RT" --version 2>/dev/null | head -1))"; RUNTIMES+=(sandlock)
else log "sandlock-runtime: $RT has no checkpoint verb; its column is left out"; fi
CRIU=${CRIU:-none}
build_programs
PORT=$((16379 + RANDOM % 2000))
printf 'workload\truntime\thandled\tcheckpoint_ms\trestore_ms\timage_bytes\n' > "$TSV"
REPEAT=${REPEAT:-1}
for n in $WORKLOADS; do
  for r in "${RUNTIMES[@]}"; do
    for k in $(seq "$REPEAT"); do log "$n via $r ($k/$REPEAT)"; one "$r" "$n"; done
  done
done

# markdown: one row per workload, a column group per runtime; with REPEAT > 1 the medians of
# the runs that succeeded, and "k/N" when only some did
awk -F'\t' '
  function med(key, m, i, j, t, a) {
    m = cnt[key]; if (m == 0) return "-"
    for (i = 1; i <= m; i++) a[i] = v[key, i]
    for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return (m % 2) ? a[(m + 1) / 2] : int((a[m / 2] + a[m / 2 + 1]) / 2)
  }
  function cell(w, x, k) {
    k = w SUBSEP x
    if (ok[k] == runs[k]) h = "yes"; else if (ok[k] == 0) h = why[k]; else h = "yes " ok[k] "/" runs[k] " (else " why[k] ")"
    return " " h " | " med(k SUBSEP "c") " | " med(k SUBSEP "r") " | " med(k SUBSEP "b") " |"
  }
  NR == 1 { next }
  !($1 in seen) { seen[$1] = 1; order[++n] = $1 }
  {
    rt[$2] = 1; k = $1 SUBSEP $2; runs[k]++
    if ($3 == "yes") {
      ok[k]++
      v[k SUBSEP "c", ++cnt[k SUBSEP "c"]] = $4; v[k SUBSEP "r", ++cnt[k SUBSEP "r"]] = $5; v[k SUBSEP "b", ++cnt[k SUBSEP "b"]] = $6
    } else if (!(k in why)) why[k] = $3
  }
  END {
    hdr = "| workload |"; sep = "|---|"
    if ("criu" in rt) { hdr = hdr " CRIU 4.1.1 (runc) | ckpt ms | restore ms | image bytes |"; sep = sep "---|---:|---:|---:|" }
    if ("sandlock" in rt) { hdr = hdr " sandlock-runtime | ckpt ms | restore ms | image bytes |"; sep = sep "---|---:|---:|---:|" }
    print hdr; print sep
    for (i = 1; i <= n; i++) {
      w = order[i]; line = "| " w " |"
      if ("criu" in rt) line = line cell(w, "criu")
      if ("sandlock" in rt) line = line cell(w, "sandlock")
      print line
    }
  }' "$TSV" > "$MD"
echo; cat "$MD"; echo; echo "results: $TSV $MD"
