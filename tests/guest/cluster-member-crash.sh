#!/bin/sh
# nodes: 2
# timeout: 600
# A member's host dies (powered off, no unmount). The owner's users never wait for it: the
# owner keeps reading and writing while the member is detected dead and fenced; the member's
# fsynced data is there; the XFS is clean.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }
me=$MXFS_NODE

on_node 0 cluster_format
barrier formatted
if [ "$me" = 0 ]; then cluster_mount || fatal "owner cannot mount"; assert_role owner; fi
barrier owner-mounted
if [ "$me" = 1 ]; then cluster_mount || fatal "member cannot mount"; assert_role member; fi
barrier mounted
if [ "$me" = 1 ]; then
  dd if=/dev/urandom of=/tmp/m1 bs=64k count=8 status=none
  check "member writes m1 and fsyncs it" dd if=/tmp/m1 of="$MNT/m1" bs=64k conv=fsync status=none
  publish m1 "$(sum </tmp/m1)"
  check "member leaves an unsynced write behind" dd if=/dev/urandom of="$MNT/m2" bs=64k count=4 status=none
fi
barrier written
if [ "$me" = 1 ]; then
  say "the member's host dies now"
  crash_now
fi
t0=$(cut -d. -f1 /proc/uptime)
i=0
while [ "$i" -lt 20 ]; do
  dd if=/dev/urandom of="$MNT/o-$i" bs=64k count=2 conv=fsync status=none || fail "owner write $i"
  i=$((i + 1))
done
t1=$(cut -d. -f1 /proc/uptime)
pass "the owner wrote and fsynced 20 files meanwhile ($((t1 - t0)) s)"
wait_until "the owner fences the dead member" 90 sh -c "grep -q 'fencing node' /run/messages"
fetch 1 m1
assert_eq "the member's fsynced file is there" "$VALUE" "$(sum <"$MNT/m1")"
check "umount" umount "$MNT"
check_nothing_left "owner"
xfs_repair_clean
finish
