# Helpers for hack/bench.sh (sourced). Bundles, images and cleanup of what the peer tools leave.

# bench_rootfs DIR : busybox-static rootfs with a relative symlink per applet.
bench_rootfs() {
  local r=$1 bb
  bb=/bin/busybox; [ -x "$bb" ] || bb=$(command -v busybox)
  rm -rf --one-file-system "$r"; mkdir -p "$r"/{bin,sbin,proc,sys,dev,tmp,etc,root,run,var/tmp}
  chmod 1777 "$r/tmp" "$r/var/tmp"
  cp "$bb" "$r/bin/busybox"
  for a in $("$r/bin/busybox" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
  : > "$r/etc/hosts"; : > "$r/etc/resolv.conf"; echo sandbox > "$r/etc/hostname"
}

# bench_set_args BUNDLE ARGS... : process.args=ARGS, terminal=false
bench_set_args() {
  local b=$1; shift
  jq --argjson a "$(printf '%s\n' "$@" | jq -R . | jq -s .)" \
     '.process.terminal=false | .process.args=$a' "$b/config.json" > "$b/config.json.new"
  mv "$b/config.json.new" "$b/config.json"
}

# bench_bundle DIR ARGS... : busybox rootfs + the runc-spec default config (all of runc's namespaces).
bench_bundle() {
  local b=$1; shift
  rm -rf --one-file-system "$b"; mkdir -p "$b"
  bench_rootfs "$b/rootfs"
  (cd "$b" && runc spec)
  bench_set_args "$b" "$@"
}

# bench_copy_bin ROOTFS BIN NAME : copy a dynamically linked host binary as ROOTFS/usr/bin/NAME, with
# every library ldd lists (at the same paths) and the dynamic loader.
bench_copy_bin() {
  local r=$1 bin=$2 name=$3 lib
  mkdir -p "$r/usr/bin"
  cp -L "$bin" "$r/usr/bin/$name"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
}

# bench_image WORKDIR NAME : from a busybox rootfs, WORKDIR/NAME-docker.tar (docker-archive,
# localhost/NAME:latest; for `ctr image import` and `podman load`) via umoci + skopeo.
bench_image() {
  local w=$1 n=$2 had=0
  rm -rf "$w"; mkdir -p "$w"
  bench_rootfs "$w/rootfs"
  umoci init --layout "$w/oci"
  umoci new --image "$w/oci:latest"
  umoci unpack --image "$w/oci:latest" "$w/ub" >/dev/null
  cp -a "$w/rootfs/." "$w/ub/rootfs/"
  umoci repack --image "$w/oci:latest" "$w/ub" >/dev/null
  umoci config --image "$w/oci:latest" --config.cmd /bin/sh --config.workingdir / --config.env PATH=/bin:/sbin
  umoci gc --layout "$w/oci"
  rm -rf "$w/ub" "$w/rootfs"
  [ -e /var/lib/containers ] && had=1
  skopeo copy -q "oci:$w/oci:latest" "docker-archive:$w/$n-docker.tar:localhost/$n:latest"
  [ $had = 1 ] || rm -rf /var/lib/containers   # skopeo's blob-info cache
}

# cgroup dirs containerd ("default") / podman ("libpod_parent") leave in each v1 hierarchy:
# bench_cg_snap NAME prints the existing ones; bench_cg_clean NAME "$snapshot" removes only new ones.
bench_cg_snap() { find /sys/fs/cgroup -maxdepth 4 -type d -name "$1" 2>/dev/null | sort; }
bench_cg_clean() {
  local d
  for d in $(comm -13 <(echo "$2") <(bench_cg_snap "$1")); do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# bench_umount_under DIR : lazily unmount everything mounted under DIR (deepest first).
bench_umount_under() {
  awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}

# bench_medians OUT.tsv FILE.json... : pooled median (ms) per hyperfine command name over several
# exports (rounds), plus the run count, the minimum and the CPU time (user + system of the
# command and the children it waited for, mean over the rounds, ms): what a run costs whatever
# the load, where the wall time also counts waiting for a CPU on a shared host:
# "name<TAB>median_ms<TAB>runs<TAB>min_ms<TAB>cpu_ms".
bench_medians() {
  local out=$1; shift
  jq -s -r '
    def median: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
    [ .[].results[] ] | group_by(.command)
    | map({c: .[0].command, t: (map(.times) | add), cpu: (map(.user + .system) | add / length)})
    | .[] | [.c, (.t | median * 1000 * 100 | round / 100), (.t | length), (.t | min * 1000 * 100 | round / 100),
             (.cpu * 1000 * 100 | round / 100)] | @tsv' \
    "$@" | sort -t "$(printf '\t')" -k2,2n > "$out"
}

# bench_get TSV NAME : column 2 of the row named NAME (empty when absent)
bench_get() { awk -F'\t' -v n="$2" '$1 == n { print $2; exit }' "$1"; }

# bench_ratio A B : A/B with 2 decimals ("-" when either is empty or B is 0)
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }

# bench_mem PID : "rss_kib pss_kib" of one process (0 0 when gone)
bench_mem() {
  local rss pss
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
  pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null)
  echo "${rss:-0} ${pss:-0}"
}

# bench_used_kib : MemTotal - MemAvailable (system-wide, noisy)
bench_used_kib() { awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t - a }' /proc/meminfo; }
