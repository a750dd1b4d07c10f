#!/bin/sh
# One phase of tests/pr-tgt.sh: SCSI persistent reservations across VMs against Debian's tgt
# (userspace iSCSI target) on the host, attached through QEMU's libiscsi driver as
# virtio-scsi + scsi-block (which passes PR through). tgt rejects APTPL and PREEMPT AND ABORT,
# so this exercises the SG_IO REGISTER fallback and the plain-PREEMPT fallback for real.
# The phase comes from the kernel command line (mxfs_pr_tgt=a1|b|a2); the VMs run one after
# another with initiator names node-a, node-b, node-a, and the PR state lives in tgtd.
# Run by tests/pr-tgt.sh; on its own (no phase, no LUN) it only reports a skip.
. /tests/guest/lib.sh
. /tests/guest/pr.lib

phase=
for word in $(cat /proc/cmdline); do
  case $word in mxfs_pr_tgt=*) phase=${word#mxfs_pr_tgt=} ;; esac
done
if [ -z "$phase" ]; then
  pass "# SKIP needs the host's tgt target and two initiators: run tests/pr-tgt.sh"
  finish
fi
pr_require
say "phase $phase"
wait_until "the iSCSI LUN shows up as a SCSI disk" 30 sh -c 'ls /sys/block | grep -q "^sd"' || fatal "no SCSI disk"
D=/dev/$(sd_list | head -n 1)
wait_until "$D exists" 10 test -b "$D"

case $phase in
  a1)
    run $PR probe "$D"
    assert_eq "tgt LUN supports PR" 0 "$RC"
    indent "$OUT"
    assert_match "INQUIRY names tgt's disk" "^target IET" "$OUT"
    assert_eq "no keys on a fresh target" "" "$(keys_on "$D")"
    run $PR register "$D" --key "$KA" --via ioctl
    assert_eq "IOC_PR_REGISTER (always APTPL) is rejected by tgt" 1 "$RC"
    assert_match "rejected as an invalid field (EINVAL)" "register: Invalid argument" "$OUT"
    run $PR join "$D" --key "$KA"
    assert_eq "A joins" 0 "$RC"
    indent "$OUT"
    assert_match "registration fell back to SG_IO without APTPL" "SgIoNoAptpl" "$OUT"
    assert_eq "keys: A" "$KA" "$(keys_on "$D")"
    assert_eq "reservation: A, WE-RO" "reservation $KA node 1 $WERO" "$(res_on "$D")"
    check "A writes" $PR write "$D" --offset 0
    ;;
  b)
    assert_eq "keys (kept by tgtd): A" "$KA" "$(keys_on "$D")"
    assert_eq "reservation: A" "reservation $KA node 1 $WERO" "$(res_on "$D")"
    run $PR write "$D" --offset 4096
    assert_eq "unregistered B's write: reservation conflict (exit 4)" 4 "$RC"
    run $PR register "$D" --key "$KB"
    assert_eq "B registers" 0 "$RC"
    assert_match "through SG_IO without APTPL" "SgIoNoAptpl" "$OUT"
    assert_eq "keys: A and B" "$KA $KB" "$(keys_on "$D")"
    check "registered B writes" $PR write "$D" --offset 4096
    run $PR fence "$D" --key "$KB" --victim-node 1 --owner --abort always
    assert_eq "B fences node 1" 0 "$RC"
    indent "$OUT"
    assert_match "tgt has no PREEMPT AND ABORT: plain PREEMPT, verified" "Preempted \{ aborted: false \}" "$OUT"
    assert_eq "keys: B only" "$KB" "$(keys_on "$D")"
    assert_eq "reservation moved to B" "reservation $KB node 2 $WERO" "$(res_on "$D")"
    check "B writes" $PR write "$D" --offset 8192
    ;;
  a2)
    assert_eq "keys: B only" "$KB" "$(keys_on "$D")"
    run $PR write "$D" --offset 0
    assert_eq "preempted A's write: reservation conflict (exit 4)" 4 "$RC"
    run $PR reserve "$D" --key "$KA"
    assert_eq "A's RESERVE ioctl: reservation conflict (exit 4)" 4 "$RC"
    run $PR watch "$D" --key "$KA" --interval-ms 100 --polls 5
    assert_eq "A's key watch: own key gone (exit 5)" 5 "$RC"
    assert_match "StopAllIo" "^StopAllIo: key $KA is gone" "$OUT"
    run $PR fence "$D" --key "$KA" --victim-node 2
    assert_eq "A trying to fence B learns it is the fenced one (exit 5)" 5 "$RC"
    assert_eq "A did not re-register" "$KB" "$(keys_on "$D")"
    ;;
  *) fatal "unknown phase '$phase'" ;;
esac
finish
