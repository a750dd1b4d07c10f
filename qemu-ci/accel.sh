#!/usr/bin/env bash
# Prints the QEMU accelerator for test guests: "tcg", or "kvm" when MXFS_KVM=1 and KVM
# really works. /dev/kvm exists on machines where KVM hangs at boot, so its presence proves
# nothing: the probe boots the test kernel with no init and waits for it to print.
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ "${MXFS_KVM:-0}" != 1 ]; then echo tcg; exit 0; fi
if ! { exec 3<>/dev/kvm; } 2>/dev/null; then
  log "MXFS_KVM=1 but /dev/kvm cannot be opened: using TCG"
  echo tcg
  exit 0
fi
exec 3>&-
KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
probe=$(mktemp)
trap 'rm -f "$probe"' EXIT
# No initramfs and no root: the kernel panics right after printing its banner; -no-reboot
# turns that panic into QEMU exiting.
timeout 20 qemu-system-x86_64 -nodefaults -no-user-config -no-reboot -display none \
  -accel kvm -cpu host -m 256 -kernel "$KDIR/arch/x86/boot/bzImage" \
  -append "console=ttyS0 panic=-1" -serial "file:$probe" >/dev/null 2>&1 || true
if grep -q "Linux version" "$probe"; then
  echo kvm
else
  log "MXFS_KVM=1 but a KVM guest did not boot: using TCG"
  echo tcg
fi
