#!/bin/sh
# The benchmark's guest side (installed as /tests/guest/bench.sh by tests/bench/run.sh; not a
# guest test). Each round measures plain XFS and mxfs, each on a freshly made XFS, alternating
# which goes first; tests/bench/bench.py prints the BENCHRAW lines the host summarizes.
. /tests/guest/lib.sh
. /tests/guest/conformance.lib # rootfs_enter, in_rootfs
require_product
rootfs_enter

rounds=3
for _w in $(cat /proc/cmdline); do
  case $_w in mxfs_bench_rounds=*) rounds=${_w#mxfs_bench_rounds=} ;; esac
done

# The source tree to untar: CPython's Lib without bytecode (about 2,000 files, 38 MB).
check "make the source tarball" in_rootfs tar -cf /tmp/bench-source.tar -C /usr/lib --exclude=__pycache__ python3.11

r=1
while [ "$r" -le "$rounds" ]; do
  if [ $((r % 2)) -eq 1 ]; then order="xfs mxfs"; else order="mxfs xfs"; fi
  for fs in $order; do
    check "round $r: mkfs.xfs" mkfs.xfs -q -f "$TEST_DEV" || fatal "mkfs failed"
    check "round $r: mount -t $fs" mount -t "$fs" "$TEST_DEV" "$ROOTFS$WORK_MNT" || fatal "cannot mount $fs"
    _t=$(date +%s)
    in_rootfs python3 -u /tests/guest/bench.py "$WORK_MNT" "$fs" "$r"
    assert_eq "round $r: benchmark on $fs ran" 0 "$?"
    say "round $r on $fs: $(($(date +%s) - _t)) s"
    umount_work "round $r, $fs" || fatal "cannot unmount"
    xfs_repair_clean
  done
  r=$((r + 1))
done
rootfs_leave
finish
