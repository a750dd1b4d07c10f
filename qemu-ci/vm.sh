#!/usr/bin/env bash
# Boots one test guest and runs one guest test in it.
#
#   vm.sh NAME INITRD OUTDIR
#
# OUTDIR receives serial.log (the whole console: test output, syslog, dmesg) and the
# guest's disks while it runs: vda (64 MB, never formatted: the "not XFS" device) and
# vdb (512 MB sparse: the test volume). The disks are deleted afterwards unless MXFS_KEEP_DISKS=1.
# Exit status: QEMU's, or 124 when the host-side timeout killed it. Judging the log is
# verdict.sh's job.
#
# Environment: MXFS_KDIR (kernel tree), MXFS_ACCEL (tcg|kvm, default: accel.sh),
# MXFS_VM_TIMEOUT (seconds, default 600), MXFS_VM_MEM (MiB, 1024), MXFS_VM_SMP (2),
# MXFS_VM_APPEND (extra kernel command line), MXFS_VM_ROOTFS (see below),
# MXFS_VM_EXTRA_ARGS (extra QEMU arguments, split on blanks: e.g. a virtio-scsi controller and
# an iSCSI LUN for tests/pr-tgt.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# -eq 3 ] || die "usage: vm.sh NAME INITRD OUTDIR"
name=$1 initrd=$2 out=$3
KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
accel=${MXFS_ACCEL:-$(bash "$ROOT/qemu-ci/accel.sh")}
timeout=${MXFS_VM_TIMEOUT:-600}
# The guest's own watchdog fires first so that a hung test still prints its logs.
guest_timeout=$((timeout > 120 ? timeout - 60 : timeout / 2))

mkdir -p "$out"
rm -f "$out/serial.log" "$out/vda.img" "$out/vdb.img"
truncate -s 64M "$out/vda.img"
truncate -s 512M "$out/vdb.img"
cleanup() { [ "${MXFS_KEEP_DISKS:-0}" = 1 ] || rm -f "$out/vda.img" "$out/vdb.img"; }
trap cleanup EXIT

case $accel in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  # "max" gives the guest RDRAND, so its random pool is ready at once under emulation.
  *) accel_args=(-accel tcg -cpu max) ;;
esac

disk() { # FILE ID SERIAL: a virtio disk; the serial shows up as /sys/block/vdX/serial
  echo "-drive file=$1,format=raw,if=none,id=$2,cache=unsafe -device virtio-blk-pci,drive=$2,serial=$3"
}

# Optional third disk: the Debian rootfs image from qemu-ci/rootfs.sh, for tests that need
# more than busybox (serial mxfs-rootfs). Snapshot mode: the guest may write to it, the image
# file never changes, and any number of guests can share it.
rootfs_disk=()
if [ -n "${MXFS_VM_ROOTFS:-}" ]; then
  [ -f "$MXFS_VM_ROOTFS" ] || die "MXFS_VM_ROOTFS=$MXFS_VM_ROOTFS: no such image"
  rootfs_disk=(-drive "file=$MXFS_VM_ROOTFS,format=raw,if=none,id=rootfs,snapshot=on,cache=unsafe"
    -device virtio-blk-pci,drive=rootfs,serial=mxfs-rootfs)
fi

# acpi=noirq: evaluating the ACPI interrupt links costs ~1.5 s per PCI device under
# emulation; the legacy routing table is instant. (ACPI still powers the guest off.)
cmdline="console=ttyS0 panic=-1 acpi=noirq mitigations=off printk.devkmsg=on"
cmdline+=" mxfs_test=$name mxfs_timeout=$guest_timeout ${MXFS_VM_APPEND:-}"

rc=0
# shellcheck disable=SC2046,SC2086 # disk() output and MXFS_VM_EXTRA_ARGS are meant to be split
timeout -k 10 "$timeout" qemu-system-x86_64 \
  -nodefaults -no-user-config -no-reboot -display none \
  "${accel_args[@]}" -m "${MXFS_VM_MEM:-1024}" -smp "${MXFS_VM_SMP:-2}" \
  -kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$initrd" \
  -append "$cmdline" \
  -serial "file:$out/serial.log" \
  $(disk "$out/vda.img" scratch mxfs-scratch) \
  $(disk "$out/vdb.img" test mxfs-test) \
  "${rootfs_disk[@]}" \
  ${MXFS_VM_EXTRA_ARGS:-} \
  -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0,mac=52:54:00:6d:78:01 \
  >"$out/qemu.log" 2>&1 || rc=$?
exit "$rc"
