#!/bin/bash
# hack/mkbundle.sh DIR [ARGS...]
# Make an OCI bundle in DIR: a busybox-static rootfs and a config.json from
# `bin/sandlock-runtime spec` (or `runc spec` while the runtime isn't built), with
# process.terminal=false and process.args=ARGS (default: /bin/sh).
# DIR is replaced if it exists. Set SANDLOCK_RUNTIME to use another runtime binary's `spec`.
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 DIR [ARGS...]" >&2; exit 2; fi
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
B=$1; shift
[ $# -gt 0 ] || set -- /bin/sh
BIN=${SANDLOCK_RUNTIME:-$ROOT/bin/sandlock-runtime}
BUSYBOX=$(command -v busybox || true)
if [ -z "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  [ -x /bin/busybox ] && BUSYBOX=/bin/busybox
fi
[ -n "$BUSYBOX" ] || { echo "mkbundle: busybox not found (apt-get install busybox-static)" >&2; exit 1; }

# refuse to wipe a directory that still has something mounted under it
if [ -d "$B" ] && awk -v p="$(readlink -f "$B")/" 'index($5, p) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
  echo "mkbundle: $B has mounts under it; delete the container first" >&2; exit 1
fi
rm -rf --one-file-system "$B"
mkdir -p "$B"

# rootfs: busybox-static with a relative symlink per applet
r=$B/rootfs
mkdir -p "$r"/{bin,sbin,proc,sys,dev,tmp,etc,root,run,mnt,var/tmp}
chmod 1777 "$r/tmp" "$r/var/tmp"
cp "$BUSYBOX" "$r/bin/busybox"
for a in $("$r/bin/busybox" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
: > "$r/etc/hosts"; : > "$r/etc/resolv.conf"; echo sandbox > "$r/etc/hostname"

# config.json
if [ -x "$BIN" ]; then
  (cd "$B" && "$BIN" spec)
else
  echo "mkbundle: $BIN not built, using runc spec" >&2
  (cd "$B" && runc spec)
fi
jq --argjson a "$(printf '%s\n' "$@" | jq -R . | jq -s .)" \
   '.process.terminal=false | .process.args=$a' "$B/config.json" > "$B/config.json.new"
mv "$B/config.json.new" "$B/config.json"
