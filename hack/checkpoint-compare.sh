#!/bin/bash
# Side-by-side checkpoint/restore of one workload: runc with CRIU, or sandlock-runtime.
# usage (in a bundle dir, a busybox rootfs with the programs in it):
#   CRIU=/path/to/criu-4.1 SANDLOCK=/path/to/bin/sandlock-runtime hack/checkpoint-compare.sh runc|sandlock ARGS...
# It runs ARGS detached, checkpoints after 1 s, restores, and prints the times, the image size
# and (for a program appending a count to /count) where the count went on. docs/checkpoint.md.
set -u
rt=$1; shift
C=${CRIU:-criu}; R=${SANDLOCK:-sandlock-runtime}
python3 - "$@" <<'PY'
import json,sys
s=json.load(open('config.json'))
s['process']['args']=sys.argv[1:]
json.dump(s,open('config.json','w'))
PY
rm -f rootfs/count; rm -rf img work
if [ $rt = runc ]; then RT="runc --root /tmp/cmp-runc --criu $C"; else RT="$R --root /tmp/cmp-sandlock"; fi
$RT delete -f x1 >/dev/null 2>&1; $RT delete -f x2 >/dev/null 2>&1
$RT run -d x1 </dev/null >/dev/null 2>&1
sleep 1
s=$(date +%s%N); timeout 60 $RT checkpoint --image-path img --work-path work x1 >/dev/null 2>/tmp/cmp-ck.err; ck=$?; e=$(date +%s%N)
ckms=$(( (e-s)/1000000 )); size=$(du -sk img 2>/dev/null | cut -f1)
$RT delete -f x1 >/dev/null 2>&1
n0=$(tail -1 rootfs/count 2>/dev/null)
s=$(date +%s%N); timeout 60 $RT restore --image-path img --work-path work -d x2 </dev/null >/dev/null 2>/tmp/cmp-rs.err; rs=$?; e=$(date +%s%N)
rsms=$(( (e-s)/1000000 ))
sleep 1
n1=$(head -$((n0+2)) rootfs/count 2>/dev/null | tail -1)
echo "$rt: checkpoint rc=$ck ${ckms}ms ${size}KiB; restore rc=$rs ${rsms}ms; count at checkpoint $n0, next line $n1, now $(tail -1 rootfs/count 2>/dev/null)"
[ $ck != 0 ] && tail -2 /tmp/cmp-ck.err; [ $rs != 0 ] && tail -2 /tmp/cmp-rs.err
$RT delete -f x2 >/dev/null 2>&1
