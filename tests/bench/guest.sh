#!/bin/sh
# The benchmark's guest side (installed as /tests/guest/bench.sh by tests/bench/run.sh; not a
# guest test). Two fresh volumes of the same size, /dev/vdb as plain XFS and the disk with
# serial mxfs-test2 as mxfs, are mounted side by side; tests/bench/bench.py runs every
# benchmark on both back to back and prints the BENCHRAW lines the host summarizes.
. /tests/guest/lib.sh
. /tests/guest/conformance.lib # rootfs_enter, in_rootfs, rootfs_leave
require_product

rounds=3
for _w in $(cat /proc/cmdline); do
  case $_w in mxfs_bench_rounds=*) rounds=${_w#mxfs_bench_rounds=} ;; esac
done
dev2=
for b in /sys/block/vd*; do
  [ "$(cat "$b/serial" 2>/dev/null)" = mxfs-test2 ] && dev2=/dev/${b##*/}
done
[ -n "$dev2" ] || fatal "no second test disk (serial mxfs-test2): run tests/bench/run.sh"

rootfs_enter
X=/mnt/bench-xfs M=/mnt/bench-mxfs # inside the rootfs
mkdir -p "$ROOTFS$X" "$ROOTFS$M"
check "mkfs.xfs $TEST_DEV" mkfs.xfs -q -f "$TEST_DEV" || fatal "mkfs failed"
check "mkfs.xfs $dev2" mkfs.xfs -q -f "$dev2" || fatal "mkfs failed"
check "mount -t xfs $TEST_DEV" mount -t xfs "$TEST_DEV" "$ROOTFS$X" || fatal "cannot mount xfs"
check "mount -t mxfs $dev2" mount -t mxfs "$dev2" "$ROOTFS$M" || fatal "cannot mount mxfs"

# The source tree to untar: CPython's Lib without bytecode (about 2,000 files, 38 MB).
check "make the source tarball" in_rootfs tar -cf /tmp/bench-source.tar -C /usr/lib --exclude=__pycache__ python3.11

_t=$(date +%s)
in_rootfs python3 -u /tests/guest/bench.py "$rounds" "$X" "$M"
assert_eq "bench.py ran" 0 "$?"
say "$rounds rounds: $(($(date +%s) - _t)) s"

check "umount xfs" umount "$ROOTFS$X"
check "umount mxfs" umount "$ROOTFS$M"
xfs_repair_clean "$TEST_DEV"
xfs_repair_clean "$dev2"
rootfs_leave
finish
