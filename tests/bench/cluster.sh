#!/usr/bin/env bash
# make bench, multi-node part: owner, member and NFS in one two-guest run (a benchmark, never a
# test; tests/run-cluster.sh does not run it).
#
#   tests/bench/cluster.sh
#
# Boots two guests as a multi-VM test does (qemu-ci/cluster-vm.sh: shared lockstate disk and
# volume, one network segment, mailbox barriers), with the Debian rootfs of the conformance
# suites attached to both (knfsd's userspace, mount.nfs and python3 come from it). Node 0
# formats the volume and mounts it as owner, node 1 as member; node 0 also exports its mxfs
# mount over NFSv4 (knfsd) and node 1 mounts that with vers=4.2. tests/bench/cluster-guest.sh
# (the guest side) then measures, one node busy at a time and in rotating order, on the owner's
# mxfs mount, the member's mxfs mount and the NFS mount: create/stat/unlink of 1,000 files, a
# 64 MiB streaming write (with fsync) and read (page caches of both nodes dropped), repeated
# reads of one 1 MiB file; last, the time from a kill -9 of the owner's mxfsd to node 1's first
# successful write+fsync (node 1 takes the volume over). Prints
#   BENCH <name> member=<v> owner=<v> nfs=<v> ratio_member_owner=<v> ratio_nfs_owner=<v> unit=<u>
#   BENCH failover-first-write value=<ms> unit=ms
# (medians over the rounds; tests/bench/cluster_report.py) and writes them to
# $OUT/bench-cluster.txt, next to the single-node bench.txt; the guests' logs stay in
# $OUT/cluster/node<i>/serial.log.
#
# Under TCG both guests run with -icount (MXFS_BENCH_ICOUNT=0 turns it off), as in
# tests/bench/run.sh: each guest's clock counts its own executed instructions (4 ns each) while
# it computes and follows the host's clock while it is idle. A guest waiting for the other one
# (a member's request served by the owner, an NFS call) is idle, so that wait, like a wait for
# the host's disk, passes in real time: only the owner's local rows become steady (about 1%
# between rounds); the remote rows measure the other guest's emulated speed too and vary with
# the host's load. Runs with and without -icount give different ratios: compare like with like.
#
# Environment: MXFS_BENCH_ROUNDS (3), MXFS_BENCH_FILES (1000), MXFS_BENCH_STREAM_MIB (64),
# MXFS_BENCH_STREAM_ROUNDS (rounds that include the streaming rows, all), MXFS_BENCH_OUT
# (/tmp/mxfs-bench; must allow O_DIRECT, not tmpfs), MXFS_BENCH_CLUSTER_TIMEOUT (seconds, 3600),
# MXFS_BENCH_ICOUNT (1); the artifact variables of tests/run-guest.sh (MXFS_KO, MXFS_BIN_DIR, ...).
set -euo pipefail
. "$(dirname "$0")/../../qemu-ci/common.sh"

OUT=${MXFS_BENCH_OUT:-/tmp/mxfs-bench}
dir=$OUT/cluster
rounds=${MXFS_BENCH_ROUNDS:-3}
bash "$ROOT/qemu-ci/deps.sh" bench
export MXFS_KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
export MXFS_ACCEL=${MXFS_ACCEL:-$(bash "$ROOT/qemu-ci/accel.sh")}
base=$(bash "$ROOT/qemu-ci/initramfs.sh")
rootfs=$(bash "$ROOT/qemu-ci/rootfs.sh")
mkdir -p "$dir"
exec {dirlock}>"$dir/.lock"
flock -n "$dirlock" || die "$dir is in use by another run (set MXFS_BENCH_OUT)"

# The guest side travels in a second cpio archive appended to the test initramfs, as in
# tests/bench/run.sh; its name does not start with cluster-, so no test run picks it up.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tests/guest"
install -m 0644 "$ROOT/tests/bench/cluster-guest.sh" "$stage/tests/guest/bench-cluster.sh"
install -m 0644 "$ROOT/tests/bench/cluster_bench.py" "$stage/tests/guest/cluster_bench.py"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 >"$stage/extra.cpio.gz"
cat "$base" "$stage/extra.cpio.gz" >"$dir/initrd.gz"

icount=
if [ "$MXFS_ACCEL" = tcg ] && [ "${MXFS_BENCH_ICOUNT:-1}" = 1 ]; then icount="-icount shift=2,sleep=on"; fi
log "cluster benchmark: $rounds rounds on the owner, the member and NFS, then a failover (2 guests)"
start=$(date +%s)
vm_rc=0
# Both guests get the rootfs in snapshot mode (each its own throw-away overlay).
append="mxfs_bench_rounds=$rounds mxfs_bench_files=${MXFS_BENCH_FILES:-1000}"
append+=" mxfs_bench_stream_mib=${MXFS_BENCH_STREAM_MIB:-64} mxfs_bench_stream_rounds=${MXFS_BENCH_STREAM_ROUNDS:-$rounds}"
MXFS_VM_TIMEOUT=${MXFS_BENCH_CLUSTER_TIMEOUT:-3600} MXFS_CLUSTER_LUN=virtio \
  MXFS_VM_APPEND="$append ${MXFS_VM_APPEND:-}" \
  MXFS_VM_EXTRA_ARGS="-drive file=$rootfs,format=raw,if=none,id=rootfs,snapshot=on,cache=unsafe
    -device virtio-blk-pci,drive=rootfs,serial=mxfs-rootfs $icount ${MXFS_VM_EXTRA_ARGS:-}" \
  bash "$ROOT/qemu-ci/cluster-vm.sh" bench-cluster 2 "$dir/initrd.gz" "$dir" 2>"$dir/host.log" || vm_rc=$?
[ "${MXFS_KEEP_DISKS:-0}" = 1 ] || rm -f "$dir/vda.img" "$dir/vdb.img" "$dir/vdc.img"
log "guests finished in $(($(date +%s) - start)) s (logs $dir/node0/serial.log, $dir/node1/serial.log)"

failed=0
logs=()
for i in 0 1; do
  log=$dir/node$i/serial.log
  mkdir -p "$dir/node$i"
  touch "$log"
  tr -d '\r' <"$log" >"$dir/node$i/serial.txt"
  logs+=("$dir/node$i/serial.txt")
  if ! reasons=$(bash "$ROOT/qemu-ci/verdict.sh" bench-cluster "$log"); then
    failed=1
    echo "benchmark guest node$i failed (QEMU status $(cat "$dir/node$i/rc" 2>/dev/null || echo "? $(tail -n 2 "$dir/host.log")")); results so far follow:"
    sed 's/^/    /' <<<"$reasons"
    sed -n '/^MXFS-TEST-BEGIN/,/^MXFS-SYSLOG-BEGIN/p' "$dir/node$i/serial.txt" | grep -v '^BENCHRAW' \
      | tail -n 30 | sed 's/^/    /'
  fi
done
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" "$ROOT/tests/bench/cluster_report.py" "$OUT" "${logs[@]}" || failed=1
exit "$failed"
