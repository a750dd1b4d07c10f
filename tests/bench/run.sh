#!/usr/bin/env bash
# make bench: mxfs against plain XFS in one VM run (a benchmark, never a test).
#
#   tests/bench/run.sh
#
# Boots one guest with the test kernel, the product, the Debian rootfs and two fresh 512 MB
# volumes, one mounted as plain XFS and one as mxfs. Each round (3 by default) runs fio
# (sequential 1 MiB and random 4 KiB, read and write, buffered and O_DIRECT), create/stat/
# unlink of 10,000 files and an untar of CPython's Lib, every benchmark on both filesystems
# back to back (alternating which goes first). Prints one line per benchmark,
#   BENCH <name> mxfs=<median> xfs=<median> ratio=<mxfs/xfs> unit=<unit>
# and writes bench.txt, bench.png (bar chart of the ratios) and the guest's log to $OUT.
#
# Under TCG the guest runs with -icount (MXFS_BENCH_ICOUNT=0 turns it off): its clock then
# counts executed instructions (4 ns each) instead of following the host's, so CPU-bound rows
# (metadata, cached I/O) measure code path length and repeat to within about 1% whatever else
# the host is doing; time spent waiting for the host's disk still passes in real time.
#
# Environment: MXFS_BENCH_ROUNDS (3), MXFS_BENCH_OUT (/tmp/mxfs-bench), MXFS_BENCH_TIMEOUT
# (seconds, 5400), MXFS_BENCH_ICOUNT (1); the artifact variables of tests/run-guest.sh
# (MXFS_KO, MXFS_BIN_DIR, ...).
set -euo pipefail
. "$(dirname "$0")/../../qemu-ci/common.sh"

OUT=${MXFS_BENCH_OUT:-/tmp/mxfs-bench}
rounds=${MXFS_BENCH_ROUNDS:-3}
bash "$ROOT/qemu-ci/deps.sh" bench
export MXFS_KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
export MXFS_ACCEL=${MXFS_ACCEL:-$(bash "$ROOT/qemu-ci/accel.sh")}
base=$(bash "$ROOT/qemu-ci/initramfs.sh")
rootfs=$(bash "$ROOT/qemu-ci/rootfs.sh")
mkdir -p "$OUT"

# The benchmark's guest files travel in a second cpio archive appended to the test initramfs
# (the kernel unpacks both), so the guest tests' image stays as it is.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tests/guest"
install -m 0644 "$ROOT/tests/bench/guest.sh" "$stage/tests/guest/bench.sh"
install -m 0644 "$ROOT/tests/bench/bench.py" "$stage/tests/guest/bench.py"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 >"$stage/extra.cpio.gz"
cat "$base" "$stage/extra.cpio.gz" >"$OUT/initrd.gz"

icount=
if [ "$MXFS_ACCEL" = tcg ] && [ "${MXFS_BENCH_ICOUNT:-1}" = 1 ]; then icount="-icount shift=2,sleep=on"; fi
log "benchmark: $rounds rounds on mxfs and plain XFS (about $((rounds * 3 + 1)) minutes under TCG)"
start=$(date +%s)
vm_rc=0
# The second volume (mxfs; /dev/vdb is the plain XFS one): same size, same kind of sparse file.
mkdir -p "$OUT/vm"
rm -f "$OUT/vm/test2.img"
truncate -s 512M "$OUT/vm/test2.img"
MXFS_VM_ROOTFS=$rootfs MXFS_VM_TIMEOUT=${MXFS_BENCH_TIMEOUT:-5400} \
  MXFS_VM_APPEND="mxfs_bench_rounds=$rounds ${MXFS_VM_APPEND:-}" \
  MXFS_VM_EXTRA_ARGS="-drive file=$OUT/vm/test2.img,format=raw,if=none,id=test2,cache=unsafe
    -device virtio-blk-pci,drive=test2,serial=mxfs-test2 $icount ${MXFS_VM_EXTRA_ARGS:-}" \
  bash "$ROOT/qemu-ci/vm.sh" bench "$OUT/initrd.gz" "$OUT/vm" || vm_rc=$?
rm -f "$OUT/vm/test2.img"
log "guest finished in $(($(date +%s) - start)) s (log $OUT/vm/serial.log)"
failed=0
if ! reasons=$(bash "$ROOT/qemu-ci/verdict.sh" bench "$OUT/vm/serial.log"); then
  failed=1
  echo "benchmark guest failed (QEMU status $vm_rc); results so far follow:"
  sed 's/^/    /' <<<"$reasons"
  tr -d '\r' <"$OUT/vm/serial.log" | sed -n '/^MXFS-TEST-BEGIN/,/^MXFS-SYSLOG-BEGIN/p' | grep -v '^BENCHRAW' \
    | tail -n 30 | sed 's/^/    /'
fi
# Debian's python3 (it has python3-matplotlib), whatever python3 comes first on PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tr -d '\r' <"$OUT/vm/serial.log" >"$OUT/serial.txt"
"$py" "$ROOT/tests/bench/report.py" "$OUT/serial.txt" "$OUT" || failed=1
exit "$failed"
