#!/bin/sh
# nodes: 2
# lun: iscsi
# timeout: 300
# The multi-VM harness's iSCSI LUN, without the product: the volume is one SCSI LUN of a tgtd
# that the run starts on the host, attached to both guests through QEMU's libiscsi driver
# (virtio-scsi, scsi-block) under two initiator names (qemu-ci/cluster-vm.sh), so each guest
# is its own I_T nexus of the same logical unit, as two hosts on a SAN are.
#   disk       both see /dev/sda (SCSI serial mxfs-test), with SCSI PR; O_DIRECT writes of
#              one node are read back by the other, both ways
#   PR state   one logical unit: node 0 registers its key and reserves WRITE EXCLUSIVE -
#              REGISTRANTS ONLY (mxfs-pr); node 1 sees that key and reservation, its writes
#              are refused until it registers too; then both write
#   fencing    node 0 preempts node 1's key: node 1's O_DIRECT write fails with a reservation
#              conflict (EBADE from dd, "reservation conflict" in its kernel log, exit 4 from
#              mxfs-pr write) and never reaches the disk, its reads still work; node 0 still
#              writes
#   end        node 0 releases the reservation and clears every registration: node 1 writes
#              again
# Run: tests/run-cluster.sh pr
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/pr.lib

[ "$MXFS_LUN" = iscsi ] \
  || fatal "needs the iSCSI LUN (header '# lun: iscsi'), not MXFS_CLUSTER_LUN=$MXFS_LUN"
assert_eq "two nodes" 2 "$MXFS_NODES" || fatal "this scenario is written for two nodes"
pr_require
D=$TEST_DEV
if [ "$MXFS_NODE" = 0 ]; then MINE=$KA; else MINE=$KB; fi
sum() { sha256sum | cut -c1-64; }

# Node I writes its 64 KiB patterns at (I+1) MiB: region I, in 64 KiB blocks.
region() { echo $((16 * ($1 + 1))); }
# put NAME: a fresh random 64 KiB pattern /tmp/NAME, written to this node's region with
# O_DIRECT; dd's output is left in $OUT, its exit status in $RC (and returned).
put() {
  dd if=/dev/urandom of="/tmp/$1" bs=64k count=1 status=none
  run dd if="/tmp/$1" of="$D" bs=64k seek="$(region "$MXFS_NODE")" count=1 oflag=direct conv=notrunc status=none
  return "$RC"
}
# on_disk I: checksum of node I's region, read with O_DIRECT.
on_disk() { dd if="$D" bs=64k skip="$(region "$1")" count=1 iflag=direct status=none | sum; }

# --- one disk, two initiators ----------------------------------------------------------------
run $PR probe "$D"
assert_eq "node $MXFS_NODE: $D supports persistent reservations" 0 "$RC"
indent "$OUT"
assert_match "node $MXFS_NODE: INQUIRY names tgt's disk" "^target IET" "$OUT"
assert_eq "node $MXFS_NODE: no keys on the fresh LUN" "" "$(keys_on "$D")"
assert_eq "node $MXFS_NODE: no reservation on the fresh LUN" "no reservation" "$(res_on "$D")"
barrier probed

if [ "$MXFS_NODE" = 0 ]; then
  put p0 && pass "node 0 writes a 64 KiB pattern at 1 MiB (O_DIRECT)" || fail "node 0 writes its pattern: $OUT"
  publish p0 "$(sum </tmp/p0)"
fi
barrier p0-written
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 p0
  assert_eq "node 1 reads node 0's pattern (O_DIRECT)" "$VALUE" "$(on_disk 0)"
  put p1 && pass "node 1 writes a 64 KiB pattern at 2 MiB (O_DIRECT)" || fail "node 1 writes its pattern: $OUT"
  publish p1 "$(sum </tmp/p1)"
fi
barrier p1-written
if [ "$MXFS_NODE" = 0 ]; then
  fetch 1 p1
  assert_eq "node 0 reads node 1's pattern (O_DIRECT)" "$VALUE" "$(on_disk 1)"
fi

# --- node 0 registers and reserves -----------------------------------------------------------
if [ "$MXFS_NODE" = 0 ]; then
  run $PR register "$D" --key "$KA"
  assert_eq "node 0 registers $KA" 0 "$RC"
  indent "$OUT"
  run $PR reserve "$D" --key "$KA"
  assert_eq "node 0 reserves WRITE EXCLUSIVE - REGISTRANTS ONLY" 0 "$RC"
  indent "$OUT"
  assert_eq "keys: node 0's" "$KA" "$(keys_on "$D")"
  assert_eq "reservation: node 0's, WE-RO" "reservation $KA node 1 $WERO" "$(res_on "$D")"
  put p0 && pass "registered node 0 writes (O_DIRECT)" || fail "registered node 0 writes: $OUT"
  publish p0 "$(sum </tmp/p0)"
fi
barrier reserved
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "node 1 sees node 0's key (one logical unit)" "$KA" "$(keys_on "$D")"
  assert_eq "node 1 sees node 0's reservation" "reservation $KA node 1 $WERO" "$(res_on "$D")"
  run $PR write "$D" --offset $((2 << 20))
  assert_eq "unregistered node 1's write: reservation conflict (exit 4)" 4 "$RC"
  run $PR register "$D" --key "$KB"
  assert_eq "node 1 registers $KB" 0 "$RC"
  indent "$OUT"
  assert_eq "keys: both" "$KA $KB" "$(keys_on "$D")"
  assert_eq "reservation unchanged" "reservation $KA node 1 $WERO" "$(res_on "$D")"
  put p1 && pass "registered node 1 writes (O_DIRECT)" || fail "registered node 1 writes: $OUT"
  publish p1 "$(sum </tmp/p1)"
fi
barrier both-registered
if [ "$MXFS_NODE" = 0 ]; then
  fetch 1 p1
  assert_eq "node 0 reads node 1's write (O_DIRECT)" "$VALUE" "$(on_disk 1)"
  put p0 && pass "node 0 writes again (O_DIRECT)" || fail "node 0 writes again: $OUT"
  publish p0 "$(sum </tmp/p0)"
fi
barrier both-wrote
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 p0
  assert_eq "node 1 reads node 0's write (O_DIRECT)" "$VALUE" "$(on_disk 0)"
fi

# --- node 0 preempts node 1 -------------------------------------------------------------------
if [ "$MXFS_NODE" = 0 ]; then
  run $PR preempt "$D" --key "$KA" --victim "$KB"
  assert_eq "node 0 preempts node 1's key" 0 "$RC"
  indent "$OUT"
  assert_eq "keys: node 0's only" "$KA" "$(keys_on "$D")"
  assert_eq "reservation kept by node 0" "reservation $KA node 1 $WERO" "$(res_on "$D")"
  put p0 && pass "node 0 still writes (O_DIRECT)" || fail "node 0 still writes: $OUT"
  publish p0 "$(sum </tmp/p0)"
fi
barrier preempted
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "node 1 sees its key gone" "$KA" "$(keys_on "$D")"
  before=$(on_disk 1)
  mark=$(dmesg_mark)
  if put p1c; then fail "preempted node 1's O_DIRECT write fails (it succeeded)"; else pass "preempted node 1's O_DIRECT write fails (dd exit $RC)"; fi
  assert_match "dd: EBADE (Invalid exchange)" "invalid exchange" "$OUT"
  assert_match "node 1's kernel: reservation conflict" "reservation conflict" "$(dmesg_since "$mark")"
  run $PR write "$D" --offset $((2 << 20))
  assert_eq "mxfs-pr write: reservation conflict (exit 4)" 4 "$RC"
  assert_eq "node 1's region unchanged" "$before" "$(on_disk 1)"
  fetch 0 p0
  assert_eq "node 1 still reads (WE-RO lets everyone read)" "$VALUE" "$(on_disk 0)"
  publish p1 "$before"
fi
barrier fenced
if [ "$MXFS_NODE" = 0 ]; then
  fetch 1 p1
  assert_eq "node 0 sees node 1's region as it was" "$VALUE" "$(on_disk 1)"
  assert_eq "node 0 sees its own last write" "$(sum </tmp/p0)" "$(on_disk 0)"
  put p0 && pass "node 0 writes after the fence (O_DIRECT)" || fail "node 0 writes after the fence: $OUT"
  run $PR release "$D" --key "$KA"
  assert_eq "node 0 releases the reservation" 0 "$RC"
  assert_eq "no reservation after RELEASE" "no reservation" "$(res_on "$D")"
  run $PR clear "$D" --key "$KA"
  assert_eq "node 0 clears every registration" 0 "$RC"
  assert_eq "no keys after CLEAR" "" "$(keys_on "$D")"
fi
barrier cleared
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "node 1: no keys" "" "$(keys_on "$D")"
  assert_eq "node 1: no reservation" "no reservation" "$(res_on "$D")"
  put p1 && pass "node 1 writes again once the LUN is free (O_DIRECT)" || fail "node 1 writes again: $OUT"
  assert_eq "node 1 reads its write back (O_DIRECT)" "$(sum </tmp/p1)" "$(on_disk 1)"
fi
barrier end
finish
