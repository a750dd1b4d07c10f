#!/bin/sh
# nodes: 2
# lun: iscsi
# timeout: 600
# make demo: two hosts share one LUN (iSCSI, with SCSI persistent reservations). Each runs
# `mount -t mxfs`; the first becomes the owner, the second a member; files written on one are
# read on the other; then the owner's host loses power and the member carries on after a pause.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }
me=$MXFS_NODE

if [ "$me" = 0 ]; then
  say "node0: the shared LUN is $TEST_DEV; making the XFS (once, on one host) and the lockstate"
  cluster_format
fi
barrier formatted
if [ "$me" = 0 ]; then
  say "node0: mount -t mxfs -o $CLUSTER_OPTS $TEST_DEV $MNT"
  cluster_mount || fatal "cannot mount"
  say "node0: $(dmesg | grep -o 'this node is [a-z]*' | tail -n 1): it mounted the XFS and holds the LUN's reservation"
fi
barrier owner-mounted
if [ "$me" = 1 ]; then
  say "node1: mount -t mxfs -o $CLUSTER_OPTS $TEST_DEV $MNT"
  cluster_mount || fatal "cannot mount"
  say "node1: $(dmesg | grep -o 'this node is [a-z]*' | tail -n 1): it never mounts the XFS; the owner carries out its operations"
fi
barrier mounted
if [ "$me" = 0 ]; then
  say "node0: writing an 8 MiB VM image"
  dd if=/dev/urandom of=/tmp/img bs=1M count=8 status=none
  check "node0: dd ... of=$MNT/vm-100-disk-0.raw conv=fsync" dd if=/tmp/img of="$MNT/vm-100-disk-0.raw" bs=1M conv=fsync status=none
  publish img "$(sum </tmp/img)"
fi
barrier image-written
if [ "$me" = 1 ]; then
  fetch 0 img
  say "node1: ls -l $MNT: $(ls -l "$MNT" | tail -n +2 | awk '{ print $1, $5, $NF }' | tr '\n' ' ')"
  assert_eq "node1: reads node0's image, same sha256" "$VALUE" "$(sum <"$MNT/vm-100-disk-0.raw")"
  check "node1: mkdir $MNT/templates and write a file in it" sh -c "mkdir $MNT/templates && echo debian-12 >$MNT/templates/base.txt && sync $MNT/templates/base.txt"
fi
barrier member-wrote
if [ "$me" = 0 ]; then
  assert_eq "node0: sees node1's file" debian-12 "$(cat "$MNT/templates/base.txt")"
  say "node0: the owner's host loses power now (no unmount, no sync)"
  crash_now
fi
say "node1: ls -l $MNT waits while node0 is found dead, fenced (its PR key preempted) and node1 takes the volume over"
t0=$(cut -d. -f1 /proc/uptime)
wait_until "node1: node0's death is noticed" 60 sh -c "grep -q 'is dead' /run/messages"
check "node1: ls -l $MNT" timeout 170 ls -l "$MNT"
t1=$(cut -d. -f1 /proc/uptime)
check "node1: mkdir $MNT/vm-101" mkdir "$MNT/vm-101"
say "node1: back after $((t1 - t0)) s; $(grep -o 'took the volume over.*' /run/messages | head -n 1)"
fetch 0 img
assert_eq "node1: node0's image is intact" "$VALUE" "$(sum <"$MNT/vm-100-disk-0.raw")"
assert_eq "node1: its own file is intact" debian-12 "$(cat "$MNT/templates/base.txt")"
check "node1: umount" umount "$MNT"
xfs_repair_clean
say "node1: done; the volume is clean"
finish
