#!/bin/bash
# hack/demo.sh: run a busybox container under sandlock-runtime and show what its confinement refuses.
# Needs root and bin/sandlock-runtime (`make demo` builds it). Leaves nothing behind.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
BIN=${SANDLOCK_RUNTIME:-$ROOT/bin/sandlock-runtime}
[ -x "$BIN" ] || { echo "demo: $BIN not built (make build)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (create mounts the bundle's mounts)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/sandlock-demo.XXXXXX")
B=$W/bundle; STATE=$W/state; ID=demo-$$
RT=("$BIN" --root "$STATE")
leftover_mounts() { awk -v p="$W/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo; }
cleanup() {
  "${RT[@]}" delete --force "$ID" >/dev/null 2>&1 || true
  leftover_mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf --one-file-system "$W"
}
trap cleanup EXIT

SANDLOCK_RUNTIME=$BIN "$ROOT/hack/mkbundle.sh" "$B" /bin/sh /demo.sh
jq '.hostname = "sandlock-demo"
    | .linux.namespaces = ((.linux.namespaces // []) | if any(.[]; .type == "uts") then . else . + [{"type": "uts"}] end)' \
   "$B/config.json" > "$B/config.json.new" && mv "$B/config.json.new" "$B/config.json"
netns=no; jq -e '.linux.namespaces // [] | any(.[]; .type == "network" and (.path // "") == "")' "$B/config.json" >/dev/null && netns=yes

# The script that runs inside the container (busybox sh).
cat > "$B/rootfs/demo.sh" <<SH
#!/bin/sh
NETNS=$netns
SH
cat >> "$B/rootfs/demo.sh" <<'SH'
unexpected=0
say() { printf '  %-44s %s\n' "$1" "$2"; }
echo "== inside the container"
say "\$ id" "$(id)";             say "" "proves: it runs as config.json's process.user"
say "\$ uname -n" "$(uname -n)"; say "" "proves: the hostname is config.json's (sandlock-demo), not the host's"
say "\$ ls /" "$(ls / | tr '\n' ' ')"; say "" "proves: / is the bundle's busybox rootfs"
echo
echo "== what the confinement refuses (each must fail with a permission error)"
refuse() { # refuse "WHAT IT PROVES" CMD...
  what=$1; shift
  out=$("$@" 2>&1 </dev/null); rc=$?
  msg=$(printf '%s' "$out" | head -1)
  if [ $rc -eq 0 ]; then
    say "\$ $*" "ALLOWED  <-- unexpected"; unexpected=$((unexpected + 1))
  elif printf '%s' "$out" | grep -qiE 'not permitted|denied|not implemented|not supported|No such file'; then
    say "\$ $*" "refused (rc=$rc): $msg"
  else
    say "\$ $*" "failed, not clearly by confinement (rc=$rc): $msg"
  fi
  say "" "proves: $what"
}
refuse "mount(2) is denied: no mounts onto the host's mount table" mount -t tmpfs x /mnt
refuse "the host's / is out of reach through /proc/1/root (Landlock)" cat /proc/1/root/etc/shadow
refuse "no new namespaces (unshare/clone3 flags denied by seccomp)" unshare -U true
refuse "chroot(2) is denied: the root cannot be changed again" chroot / /bin/true
refuse "host processes cannot be signalled (Landlock signal scope)" kill -0 1
if [ "$NETNS" = yes ]; then
  refuse "network namespace -> no network: TCP socket()/connect refused, not 'Connection refused'" nc -w 2 127.0.0.1 9
fi
echo
[ $unexpected -eq 0 ] && echo "== all refusals held" || echo "== $unexpected access(es) were NOT refused"
exit $unexpected
SH
chmod +x "$B/rootfs/demo.sh"

echo "== $BIN --version: $("$BIN" --version 2>&1 | head -1)"
echo "== sandlock-runtime run --bundle $B $ID"
rc=0; "${RT[@]}" run --bundle "$B" "$ID" || rc=$?
echo "== run exited $rc (the container's exit status)"
"${RT[@]}" delete --force "$ID" >/dev/null 2>&1 || true
left=$(leftover_mounts)
if [ -z "$left" ]; then echo "== after delete: no mounts left under the bundle"; else echo "== after delete: mounts LEFT: $left"; rc=1; fi
if [ -e "$STATE/$ID" ]; then echo "== after delete: state dir LEFT: $STATE/$ID"; rc=1; else echo "== after delete: no state dir left"; fi
exit $rc
