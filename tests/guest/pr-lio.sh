#!/bin/sh
# SCSI-3 persistent reservations against a real SCSI target: the kernel's LIO target with a
# fileio backstore and two tcm_loop targets, i.e. two initiator ports (two I_T nexuses, two
# /dev/sdX) to one LUN, set up through configfs only. Node A (node id 1) and node B (node id
# 2) each use one path with `mxfs-pr`. Shows: devices without PR are reported; WRITE
# EXCLUSIVE - REGISTRANTS ONLY lets registrants write and refuses unregistered writers; B
# fences A (PREEMPT), A's key is gone, A's writes and PR commands get RESERVATION CONFLICT,
# A's key watch says StopAllIo; A comes back only by an explicit join.
. /tests/guest/lib.sh
. /tests/guest/pr.lib
pr_require
assert_eq "key of node 1 is MXFS-tagged" 0x4d58465300000001 "$KA"
assert_eq "key of node 2 is MXFS-tagged" 0x4d58465300000002 "$KB"

# --- devices without PR ------------------------------------------------------------------
NO_PR_MSG='does not support SCSI persistent reservations; fencing falls back to disk heartbeats and self-fencing'
run $PR probe "$SCRATCH_DEV"
assert_eq "virtio-blk $SCRATCH_DEV: probe exits 3 (no PR)" 3 "$RC"
assert_match "virtio-blk: clear message" "device $SCRATCH_DEV $NO_PR_MSG" "$OUT"
run $PR keys "$SCRATCH_DEV"
assert_eq "virtio-blk: READ KEYS exits 3 (no SCSI pass-through)" 3 "$RC"
truncate -s 16M /tmp/loop.img
LOOPDEV=$(losetup -f)
check "losetup $LOOPDEV" losetup "$LOOPDEV" /tmp/loop.img
run $PR register "$LOOPDEV" --key "$KA"
assert_eq "loop: REGISTER exits 3 (no PR)" 3 "$RC"
assert_match "loop: clear message" "device $LOOPDEV $NO_PR_MSG" "$OUT"
losetup -d "$LOOPDEV"

# --- LIO: one fileio LUN, two tcm_loop initiators -----------------------------------------
lio_two_paths

run $PR probe "$A"
assert_eq "tcm_loop path supports PR" 0 "$RC"
indent "$OUT"
assert_match "INQUIRY names the LIO target" "^target LIO-ORG" "$OUT"
# PREEMPT AND ABORT deadlocks LIO on tcm_loop (docs/fencing.md): the fencer must avoid it.
assert_match "fencing avoids PREEMPT AND ABORT on LIO" "PREEMPT without ABORT: the Linux LIO target deadlocks" "$OUT"
assert_eq "no keys at start" "" "$(keys_on "$A")"
assert_eq "no reservation at start" "no reservation" "$(res_on "$B")"

# --- A joins: register (ioctl, APTPL) + reserve WE-RO --------------------------------------
run $PR join "$A" --key "$KA"
assert_eq "A joins (register + reserve)" 0 "$RC"
indent "$OUT"
assert_match "A registered through the ioctl with APTPL" "IoctlAptpl" "$OUT"
assert_eq "keys (read through B's path): A" "$KA" "$(keys_on "$B")"
assert_eq "reservation: A, WRITE EXCLUSIVE - REGISTRANTS ONLY" \
  "reservation $KA node 1 $WERO" "$(res_on "$B")"
check "APTPL metadata written by the target" sh -c 'ls /tmp/lio/pr | grep -q "^aptpl_"'

# --- the rules of WRITE EXCLUSIVE - REGISTRANTS ONLY --------------------------------------
check "A (holder) writes" $PR write "$A" --offset 0
m=$(dmesg_mark)
run $PR write "$B" --offset 4096
assert_eq "unregistered B's write is refused: reservation conflict (exit 4)" 4 "$RC"
assert_match "B's write: EBADE" "reservation conflict \(EBADE\)" "$OUT"
assert_match "kernel logs the conflict" "reservation conflict" "$(dmesg_since "$m")"
run $PR reserve "$B" --key "$KB"
assert_eq "unregistered B's RESERVE ioctl returns RESERVATION CONFLICT (exit 4)" 4 "$RC"
assert_match "B's RESERVE: reservation conflict" "reserve: reservation conflict" "$OUT"
check "unregistered B may read" $PR read "$B" --offset 0

# --- B registers (SG_IO, no APTPL, as on targets that reject APTPL) ------------------------
run $PR register "$B" --key "$KB" --via sgio
assert_eq "B registers through SG_IO" 0 "$RC"
assert_match "B registered without APTPL" "SgIoNoAptpl" "$OUT"
assert_eq "keys: A and B" "$KA $KB" "$(keys_on "$A")"
assert_eq "reservation unchanged: A" "reservation $KA node 1 $WERO" "$(res_on "$A")"
check "registered B writes" $PR write "$B" --offset 4096
run $PR reserve "$B" --key "$KB"
assert_eq "B cannot take a reservation A holds (exit 4)" 4 "$RC"

# --- A's key watch, then B fences A -------------------------------------------------------
rm -f /tmp/watch-a.log
($PR watch "$A" --key "$KA" --interval-ms 200 --polls 1500 >/tmp/watch-a.log 2>&1; echo "watch exit $?" >>/tmp/watch-a.log) &
wait_until "A's key watch is running" 10 grep -q "^watching $KA" /tmp/watch-a.log
sleep 1
check_fails "A's key watch quiet while A is registered" grep -q StopAllIo /tmp/watch-a.log
gen_before=$(gen_on "$B")
# A keeps writing until the storage refuses it.
(
  i=0
  while [ $i -lt 3000 ]; do
    $PR write "$A" --offset $(((i % 64) * 4096 + 1048576)) >/dev/null 2>&1 || { echo "writer stopped rc=$? after $i writes"; exit 0; }
    i=$((i + 1))
  done
  echo "writer finished $i writes"
) >/tmp/writer-a.log 2>&1 &
sleep 1

run $PR fence "$B" --key "$KB" --victim-node 1 --owner
assert_eq "B fences node 1 (preempt + verify)" 0 "$RC"
indent "$OUT"
assert_match "abort avoided on LIO (auto policy)" "PREEMPT AND ABORT not used: the Linux LIO target deadlocks" "$OUT"
assert_match "preempt verified" "Preempted \{ aborted: false \}" "$OUT"
assert_match "plain preempt: recovery waits for in-flight writes" "recovery may start in 30 s" "$OUT"
assert_match "fencing sequence moves on to the disk purge" "next: PurgeDisk" "$OUT"
assert_eq "keys: B only (A's key is gone)" "$KB" "$(keys_on "$B")"
assert_eq "reservation moved to B" "reservation $KB node 2 $WERO" "$(res_on "$A")"
gen_after=$(gen_on "$B")
if [ "$gen_after" -gt "$gen_before" ]; then pass "PR generation advanced ($gen_before -> $gen_after)"; else fail "PR generation advanced ($gen_before -> $gen_after)"; fi

wait_until "A's writer in flight is refused (exit 4)" 20 grep -q "writer stopped rc=4" /tmp/writer-a.log
indent "$(cat /tmp/writer-a.log)"
m=$(dmesg_mark)
run $PR write "$A" --offset 8192
assert_eq "preempted A's write is refused (exit 4)" 4 "$RC"
assert_match "A's write: reservation conflict (EBADE)" "reservation conflict \(EBADE\)" "$OUT"
klog=$(dmesg_since "$m")
indent "$klog"
assert_match "kernel logs the conflict for A's path" "reservation conflict" "$klog"
run $PR reserve "$A" --key "$KA"
assert_eq "A's RESERVE ioctl: RESERVATION CONFLICT (exit 4)" 4 "$RC"
assert_match "A's RESERVE: reservation conflict" "reserve: reservation conflict" "$OUT"
run $PR preempt "$A" --key "$KA" --victim "$KB"
assert_eq "A's PREEMPT of B: RESERVATION CONFLICT (exit 4)" 4 "$RC"
run $PR fence "$A" --key "$KA" --victim-node 2
assert_eq "A trying to fence B learns it is the fenced one (exit 5)" 5 "$RC"
assert_match "A: StopAllIo" "StopAllIo" "$OUT"
check "B still writes" $PR write "$B" --offset 8192
check "A may still read" $PR read "$A" --offset 0

wait_until "A's key watch exits with 5 (fenced)" 15 grep -q "^watch exit 5" /tmp/watch-a.log
assert_match "A's key watch emitted StopAllIo" "^StopAllIo: key $KA is gone from $A" "$(cat /tmp/watch-a.log)"
indent "$(cat /tmp/watch-a.log)"
assert_eq "A did not re-register by itself" "$KB" "$(keys_on "$A")"

# --- A's explicit rejoin (operator action) -------------------------------------------------
run $PR join "$A" --key "$KA"
assert_eq "A rejoins explicitly" 0 "$RC"
assert_eq "keys: A and B again" "$KA $KB" "$(keys_on "$B")"
assert_eq "reservation stays with B" "reservation $KB node 2 $WERO" "$(res_on "$A")"
check "A writes again" $PR write "$A" --offset 8192

# --- B leaves cleanly: releasing the reservation lets A re-reserve --------------------------
check "B unregisters (holder: reservation released)" $PR unregister "$B" --key "$KB"
assert_eq "no reservation after the holder left" "no reservation" "$(res_on "$A")"
run $PR watch "$A" --key "$KA" --polls 1
assert_eq "A's key watch re-reserves the LU" 0 "$RC"
assert_match "watch reserved" "reserving with $KA" "$OUT"
assert_eq "reservation: A" "reservation $KA node 1 $WERO" "$(res_on "$B")"
run $PR write "$B" --offset 4096
assert_eq "unregistered B refused again (exit 4)" 4 "$RC"

check "A clears every registration" $PR clear "$A" --key "$KA"
assert_eq "no keys after CLEAR" "" "$(keys_on "$A")"
assert_eq "no reservation after CLEAR" "no reservation" "$(res_on "$A")"
finish
