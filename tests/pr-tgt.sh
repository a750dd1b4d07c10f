#!/usr/bin/env bash
# SCSI persistent reservations across VMs against a real iSCSI target: Debian's tgt on the
# host (bound to 127.0.0.1, file-backed LUN, PR state in tgtd's memory), attached by each VM
# through QEMU's libiscsi driver (virtio-scsi + scsi-block) with its own initiator name.
#
#   tests/pr-tgt.sh
#
# Three guests run one after another, each one phase of tests/guest/pr-tgt.sh: node A joins
# (a1), node B registers and fences A (b), node A finds itself fenced (a2). Prints
# "PASS|FAIL pr-tgt-<phase>" per phase and "N passed, N failed". Needs tgt and
# qemu-block-extra (qemu-ci/deps.sh). Bounded: each guest gets MXFS_VM_TIMEOUT (180 s).
# Logs: $MXFS_GUEST_OUT/pr-tgt-run/<phase>/serial.log, tgtd's in $MXFS_GUEST_OUT/pr-tgt-run/tgtd.log.
set -euo pipefail
. "$(dirname "$0")/../qemu-ci/common.sh"

OUT=${MXFS_GUEST_OUT:-/tmp/mxfs-guest}/pr-tgt-run
IQN=iqn.2026-01.test.mxfs:pr
command -v tgtd >/dev/null && command -v tgtadm >/dev/null || die "tgt is not installed (qemu-ci/deps.sh)"
compgen -G "/usr/lib/*/qemu/block-iscsi.so" >/dev/null || die "QEMU has no iSCSI driver: install qemu-block-extra (qemu-ci/deps.sh)"

export MXFS_KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
export MXFS_ACCEL=${MXFS_ACCEL:-$(bash "$ROOT/qemu-ci/accel.sh")}
initrd=$(bash "$ROOT/qemu-ci/initramfs.sh")

rm -rf "$OUT"
mkdir -p "$OUT"
# A free portal port on 127.0.0.1; the same number names this tgtd's control socket.
port=
for p in $(seq 3261 3299); do
  if ! ss -Hltn "sport = :$p" | grep -q .; then port=$p; break; fi
done
[ -n "$port" ] || die "no free port in 3261-3299"

truncate -s 64M "$OUT/lun.img"
tgtd -f -C "$port" --iscsi "portal=127.0.0.1:$port" >"$OUT/tgtd.log" 2>&1 &
tgtd_pid=$!
tadm() { tgtadm -C "$port" --lld iscsi "$@"; }
# tgtd ignores SIGTERM while it has targets: take them down, then ask it to exit; SIGKILL
# (this tgtd only, by pid) if it is still there after 5 s.
stop_tgtd() {
  tadm --op unbind --mode target --tid 1 -I ALL >/dev/null 2>&1 || true
  tadm --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
  tgtadm -C "$port" --op delete --mode system >/dev/null 2>&1 || true
  for _ in $(seq 50); do kill -0 "$tgtd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$tgtd_pid" 2>/dev/null || true
  wait "$tgtd_pid" 2>/dev/null || true
}
trap stop_tgtd EXIT
for _ in $(seq 50); do tadm --op show --mode sys >/dev/null 2>&1 && break; sleep 0.1; done
tadm --op new --mode target --tid 1 -T "$IQN"
tadm --op new --mode logicalunit --tid 1 --lun 1 -b "$OUT/lun.img"
tadm --op bind --mode target --tid 1 -I ALL
log "tgtd (pid $tgtd_pid) serves $IQN on 127.0.0.1:$port"

passed=0 failed=0
for phase in a1 b a2; do
  node=${phase%%[0-9]*}
  dir=$OUT/$phase
  start=$(date +%s)
  vm_rc=0
  MXFS_VM_TIMEOUT=${MXFS_VM_TIMEOUT:-180} MXFS_VM_APPEND="mxfs_pr_tgt=$phase" \
    MXFS_VM_EXTRA_ARGS="-iscsi initiator-name=iqn.2026-01.test.mxfs:node-$node
      -device virtio-scsi-pci,id=scsi0
      -drive file=iscsi://127.0.0.1:$port/$IQN/1,if=none,id=lun,format=raw,cache=none
      -device scsi-block,drive=lun,bus=scsi0.0" \
    bash "$ROOT/qemu-ci/vm.sh" pr-tgt "$initrd" "$dir" || vm_rc=$?
  touch "$dir/serial.log" "$dir/qemu.log"
  if reasons=$(bash "$ROOT/qemu-ci/verdict.sh" pr-tgt "$dir/serial.log"); then
    echo "PASS pr-tgt-$phase ($(($(date +%s) - start))s)"
    passed=$((passed + 1))
  else
    echo "FAIL pr-tgt-$phase (QEMU status $vm_rc)"
    sed 's/^/    /' <<<"$reasons"
    tr -d '\r' <"$dir/serial.log" | sed -n '/^MXFS-TEST-BEGIN/,/^MXFS-SYSLOG-BEGIN/p' | tail -n 30 | sed 's/^/    /'
    tail -n 3 "$dir/qemu.log" | sed 's/^/    qemu: /'
    failed=$((failed + 1))
    break # later phases build on this one
  fi
done
echo "$passed passed, $failed failed"
((failed == 0 && passed == 3))
