#!/bin/bash
# Host preparation for peer runtimes (idempotent). On a cgroup v1 "hybrid" host, cgroup2 is mounted
# at /sys/fs/cgroup/unified and may still own a controller (hugetlb here); crun then refuses with
# "cgroups in hybrid mode not supported, drop all controllers from cgroupv2". Binding each such
# controller to its own v1 hierarchy empties unified/cgroup.controllers. Pure cgroup2 hosts
# (/sys/fs/cgroup is cgroup2) and hosts already prepared are left alone.
set -euo pipefail
U=/sys/fs/cgroup/unified
[ -r "$U/cgroup.controllers" ] || exit 0          # not a hybrid host
ctrls=$(cat "$U/cgroup.controllers")
[ -n "$ctrls" ] || exit 0                          # nothing owned by cgroup2: done
if [ "$(id -u)" -ne 0 ]; then
  echo "host-prep: not root, leaving cgroup2 controllers ($ctrls) in place; crun will not work" >&2
  exit 0
fi
for c in $ctrls; do
  mkdir -p "/sys/fs/cgroup/$c"
  mountpoint -q "/sys/fs/cgroup/$c" || mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
  echo "host-prep: bound cgroup controller $c to /sys/fs/cgroup/$c (v1)"
done
