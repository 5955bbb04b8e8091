#!/bin/bash
# opencontainers/runtime-tools v0.9.0 validation suite against sandlock-runtime, runc and crun.
#
#   hack/conformance.sh                  build the suite (cached), run every validation test against
#                                        bin/sandlock-runtime, runc and crun, print a side-by-side table
#   RUNTIMES="sandlock runc" TESTS="create kill" hack/conformance.sh     a subset
#   CONFORMANCE_TIMEOUT=60               seconds per test program (default 60)
#   SANDLOCK_RUNTIME=/path/to/binary     default: bin/sandlock-runtime of this checkout
#   RUNTIMES="sandlock-noseccomp"        diagnostic: sandlock-runtime behind a wrapper that deletes
#                                        linux.seccomp from config.json on create, to see what the
#                                        suite's seccomp profile hides (see docs/conformance.md)
#
# Sources come from the Go module proxy (Debian's runtime-tools package has no validation/); the
# tag has no go.mod, so we `go mod init` and pin runtime-spec v1.0.2 + selinux v1.8.2 (newer ones
# don't compile). runtimetest runs INSIDE the container, so it is built static (CGO_ENABLED=0).
# Everything is cached under ${TMPDIR:-/tmp}/sandlock-conformance; results (TAP per test and
# runtime, summary.tsv, table.md) go to $CACHE/results.
#
# Host care: each runtime's run happens inside `unshare -m --propagation private` with TMPDIR under
# the cache (some tests, e.g. linux_rootfs_propagation, would otherwise leak mounts into the host).
# Afterwards we delete -f the containers a run left behind, rmdir the cgroup test dirs, lazily
# unmount whatever is still mounted under the run's TMPDIR and remove it.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
CACHE=${CONFORMANCE_CACHE:-${TMPDIR:-/tmp}/sandlock-conformance}
RTT_VERSION=v0.9.0
TIMEOUT=${CONFORMANCE_TIMEOUT:-60}
RUNTIMES=${RUNTIMES:-sandlock runc crun}
SANDLOCK=${SANDLOCK_RUNTIME:-$ROOT/bin/sandlock-runtime}
SRC=$CACHE/src-$RTT_VERSION
RES=$CACHE/results

[ "$(id -u)" = 0 ] || { echo "conformance: needs root (the runtimes create mounts and cgroups)" >&2; exit 1; }
"$ROOT/hack/host-prep.sh"      # crun refuses hybrid cgroup hosts whose cgroup2 still owns controllers

export GOFLAGS=-modcacherw GOTOOLCHAIN=local GOWORK=off GOPROXY=${GOPROXY:-https://proxy.golang.org}

# ---- build (once; reruns reuse the cache) ----------------------------------------------------
if [ ! -x "$SRC/runtimetest" ]; then
  echo "conformance: building runtime-tools $RTT_VERSION validation suite in $SRC"
  rm -rf "$SRC"; mkdir -p "$CACHE"
  mod=$(cd "$CACHE" && go mod download -json "github.com/opencontainers/runtime-tools@$RTT_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$mod" ] || { echo "conformance: go mod download runtime-tools@$RTT_VERSION failed" >&2; exit 1; }
  cp -r "$mod" "$SRC.tmp"; chmod -R u+w "$SRC.tmp"
  (cd "$SRC.tmp" &&
     go mod init github.com/opencontainers/runtime-tools >/dev/null 2>&1 &&
     go get github.com/opencontainers/runtime-spec@v1.0.2 github.com/opencontainers/selinux@v1.8.2 >/dev/null &&
     go mod tidy >/dev/null 2>"$CACHE/tidy.log" &&
     CGO_ENABLED=0 go build -o runtimetest ./cmd/runtimetest)
  mv "$SRC.tmp" "$SRC"
fi
cd "$SRC"
ALL_TESTS=$(cd validation && ls -d */ | tr -d / | grep -v '^util$')
TESTS=${TESTS:-$ALL_TESTS}
for t in $TESTS; do
  [ -d "validation/$t" ] || { echo "conformance: no such validation test: $t" >&2; exit 1; }
  [ -x "validation/$t.t" ] || go build -o "validation/$t.t" "./validation/$t"
done

# ---- run --------------------------------------------------------------------------------------
rt_cmd() {
  case $1 in
    sandlock) echo "$SANDLOCK" ;;
    sandlock-noseccomp)
      cat > "$CACHE/sandlock-noseccomp" <<WRAPPER
#!/bin/bash
# diagnostic only (hack/conformance.sh): drop linux.seccomp from the bundle's config.json on create
if [ "\$1" = create ]; then
  b=.; a=("\$@")
  for i in "\${!a[@]}"; do case \${a[i]} in --bundle|-b) b=\${a[i+1]} ;; --bundle=*) b=\${a[i]#*=} ;; esac; done
  jq 'del(.linux.seccomp)' "\$b/config.json" > "\$b/config.json.nosec" && mv "\$b/config.json.nosec" "\$b/config.json"
fi
exec "$SANDLOCK" "\$@"
WRAPPER
      chmod +x "$CACHE/sandlock-noseccomp"; echo "$CACHE/sandlock-noseccomp" ;;
    *) command -v "$1" ;;
  esac
}

cleanup_run() {   # $1 runtime binary, $2 container ids present before, $3 run tmp dir
  local c
  for c in $(comm -13 <(echo "$2") <("$1" list -q 2>/dev/null | sort)); do
    "$1" delete -f "$c" >/dev/null 2>&1 || true
  done
  # cgroup tests leave /cgrouptest (absolute) or <cgroup>/testdir/cgrouptest (relative) in each
  # hierarchy (v1 and v2) when a container is not deleted; rmdir only succeeds on empty ones
  find /sys/fs/cgroup -depth -type d \( -name cgrouptest -o -name testdir \) \
       -exec rmdir {} \; 2>/dev/null || true
  awk -v d="$3" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r |
    xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$3"
}

declare -A BIN
start_all=$(date +%s)
for rt in $RUNTIMES; do
  if [ "${REPORT_ONLY:-0}" = 1 ]; then [ -d "$RES/$rt" ] && BIN[$rt]=$rt; continue; fi
  bin=$(rt_cmd "$rt" || true)
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "conformance: runtime $rt not found, skipped" >&2; continue
  fi
  BIN[$rt]=$bin
  out=$RES/$rt; tmp=$CACHE/tmp-$rt
  rm -rf "$out"; mkdir -p "$out"
  awk -v d="$tmp" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$tmp"; mkdir -p "$tmp"
  before=$("$bin" list -q 2>/dev/null | sort || true)
  trap 'cleanup_run "$bin" "$before" "$tmp"' EXIT
  trap 'exit 130' INT TERM HUP
  t0=$(date +%s)
  echo "conformance: running $(echo $TESTS | wc -w) tests against $rt ($("$bin" --version 2>/dev/null | head -1))"
  RUNTIME=$bin OUT=$out TESTS=$TESTS TIMEOUT=$TIMEOUT \
  unshare -m --propagation private -- env TMPDIR="$tmp" bash -c '
    for t in $TESTS; do
      s=$(date +%s.%N)
      timeout -k 5 "$TIMEOUT" ./validation/$t.t > "$OUT/$t.tap" 2>&1; echo $? > "$OUT/$t.rc"
      echo "$(date +%s.%N) $s" | awk "{printf \"%.1f\n\", \$1-\$2}" > "$OUT/$t.secs"
    done'
  echo "$(( $(date +%s) - t0 ))" > "$out/_elapsed"
  cleanup_run "$bin" "$before" "$tmp"; trap - EXIT INT TERM HUP
done
total_elapsed=$(( $(date +%s) - start_all ))

# ---- report -----------------------------------------------------------------------------------
verdict() {   # $1 results dir, $2 test -> "STATUS ok nok skipped"
  local f=$1/$2.tap rc ok nok plan sk
  [ -f "$f" ] || { echo "- 0 0 0"; return; }
  ok=$(grep -c '^ok' "$f" || true); nok=$(grep -c '^not ok' "$f" || true)
  sk=$(grep -c '^ok.*# [Ss][Kk][Ii][Pp]' "$f" || true)
  plan=$(grep -m1 -o '^1\.\.[0-9]*' "$f" || echo none); rc=$(cat "$1/$2.rc")
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "TIMEOUT $ok $nok $sk"
  elif [ "$nok" -gt 0 ]; then echo "FAIL $ok $nok $sk"
  # *_fail tests want create/start to fail: they exit 0 printing nothing (not even a plan) when it does
  elif [ "$rc" = 0 ] && [ "$plan" = none ]; then echo "PASS $ok $nok $sk"
  elif [ "$rc" != 0 ] || [ "$plan" = none ] || [ "$plan" = 1..0 ]; then echo "ERROR $ok $nok $sk"
  else echo "PASS $ok $nok $sk"; fi
}

RTS=""; for rt in $RUNTIMES; do [ -n "${BIN[$rt]:-}" ] && RTS="$RTS $rt"; done
declare -A NPASS NOK NNOK
{ printf 'test'; for rt in $RTS; do printf '\t%s' "$rt"; done; echo; } > "$RES/summary.tsv"
{ printf '| test |'; for rt in $RTS; do printf ' %s |' "$rt"; done; echo
  printf '|---|'; for rt in $RTS; do printf -- '---|'; done; echo; } > "$RES/table.md"
printf '\n%-38s' test; for rt in $RTS; do printf ' %-24s' "$rt"; done; echo
for t in $TESTS; do
  printf '%-38s' "$t"; line=$t
  for rt in $RTS; do
    read -r st ok nok sk < <(verdict "$RES/$rt" "$t")
    cell="$st $ok/$((ok+nok))"; [ "$sk" = 0 ] || cell="$cell (${sk} skip)"
    printf ' %-24s' "$cell"; line="$line	$cell"
    [ "$st" = PASS ] && NPASS[$rt]=$(( ${NPASS[$rt]:-0} + 1 ))
    NOK[$rt]=$(( ${NOK[$rt]:-0} + ok )); NNOK[$rt]=$(( ${NNOK[$rt]:-0} + nok ))
  done
  echo; echo "$line" >> "$RES/summary.tsv"
  echo "| $line |" | sed 's/\t/ | /g' >> "$RES/table.md"
done
ntests=$(echo $TESTS | wc -w)
echo
printf '%-38s' "programs passed (of $ntests)"; for rt in $RTS; do printf ' %-24s' "${NPASS[$rt]:-0}"; done; echo
printf '%-38s' "assertions ok / not ok"; for rt in $RTS; do printf ' %-24s' "${NOK[$rt]:-0} / ${NNOK[$rt]:-0}"; done; echo
printf '%-38s' "wall time (s)"; for rt in $RTS; do printf ' %-24s' "$(cat "$RES/$rt/_elapsed" 2>/dev/null)"; done; echo
{ printf '| **programs passed (of %s)** |' "$ntests"; for rt in $RTS; do printf ' **%s** |' "${NPASS[$rt]:-0}"; done; echo
  printf '| assertions ok / not ok |'; for rt in $RTS; do printf ' %s / %s |' "${NOK[$rt]:-0}" "${NNOK[$rt]:-0}"; done; echo
  printf '| wall time (s) |'; for rt in $RTS; do printf ' %s |' "$(cat "$RES/$rt/_elapsed" 2>/dev/null)"; done; echo; } >> "$RES/table.md"

echo "cell = status ok/(ok+not ok) (skips are counted in ok); PASS = rc 0, no 'not ok' and a plan (or no TAP at all:"
echo "  the *_fail tests exit 0 silently when the runtime refused the config);"
echo "ERROR = exited non-zero or ran no assertion; TIMEOUT = killed after ${TIMEOUT}s.  TAP: $RES/<runtime>/<test>.tap"
[ "${REPORT_ONLY:-0}" = 1 ] || echo "total: ${total_elapsed}s (markdown table: $RES/table.md)"
