#!/bin/sh
# nodes: 2
# lun: iscsi
# timeout: 900
# The owner's host dies (powered off: no unmount, no sync, no daemon shutdown) on a LUN with
# SCSI persistent reservations. The member's application keeps going after a pause: the
# survivor fences the dead owner (PR preempt: its key is gone, so its writes would be refused),
# takes the volume over (XFS log recovery) and serves its own mount; every fsynced file reads
# back by checksum, and the XFS is clean.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }
me=$MXFS_NODE
node_id() { sed -n 's/.*this is node \(0x[0-9a-f]*\).*/\1/p' /run/messages | tail -n 1; }
keys() { mxfs-pr keys "$TEST_DEV" | sed -n 's/^key \(0x[0-9a-f]*\).*/\1/p' | sort | tr '\n' ' ' | sed 's/ $//'; }

on_node 0 cluster_format
barrier formatted
if [ "$me" = 0 ]; then cluster_mount || fatal "owner cannot mount"; assert_role owner; fi
barrier owner-mounted
if [ "$me" = 1 ]; then cluster_mount || fatal "member cannot mount"; assert_role member; fi
publish id "$(node_id)"
barrier mounted

fetch 0 id; owner_key=$(mxfs-pr key --node-id "$VALUE")
fetch 1 id; member_key=$(mxfs-pr key --node-id "$VALUE")
assert_eq "both nodes are registered on the LUN" "$(printf '%s\n' "$owner_key" "$member_key" | sort | tr '\n' ' ' | sed 's/ $//')" "$(keys)"

dd if=/dev/urandom of=/tmp/mine bs=64k count=16 status=none
check "node $me writes its file and fsyncs it" dd if=/tmp/mine of="$MNT/from-$me" bs=64k conv=fsync status=none
publish mine "$(sum </tmp/mine)"
barrier written

if [ "$me" = 0 ]; then
  say "the owner's host dies now"
  crash_now
fi
# Calls made before the power is really gone are still served by the dying owner, and what
# it did not make durable is lost with it (a file created then is gone afterwards: its handle
# is stale). So the member starts once its daemon has noticed the death. The first call is a
# repeatable one (a stat): it waits through the fencing and the takeover. (A create in flight
# at the crash would fail with EIO instead: the dead owner may have carried it out.)
t0=$(cut -d. -f1 /proc/uptime)
wait_until "the member notices the owner's death" 60 sh -c "grep -q 'is dead' /run/messages"
check "the member's stat completes after a pause" timeout 170 stat "$MNT/from-1"
dd if=/dev/urandom of=/tmp/after bs=64k count=4 status=none
check "then a new file's write and fsync succeed" dd if=/tmp/after of="$MNT/after-crash" bs=64k conv=fsync status=none
t1=$(cut -d. -f1 /proc/uptime)
say "first write+fsync after the owner's death: $((t1 - t0)) s"
log=$(grep mxfsd /run/messages)
assert_match "the dead owner was fenced" "fencing node" "$log"
assert_match "this node took the volume over" "took the volume over" "$log"
assert_eq "the dead owner's key is gone from the LUN: its writes would be refused" "$member_key" "$(keys)"
assert_match "the reservation is kept, held through the survivor's key" "write-exclusive-registrants-only" "$(mxfs-pr reservation "$TEST_DEV")"
assert_match "XFS replayed the dead owner's log" "Starting recovery" "$(dmesg)"
fetch 0 mine
assert_eq "the owner's fsynced file survived" "$VALUE" "$(sum <"$MNT/from-0")"
assert_eq "the member's fsynced file survived" "$(sum </tmp/mine)" "$(sum <"$MNT/from-1")"
assert_eq "the file written after the crash" "$(sum </tmp/after)" "$(sum <"$MNT/after-crash")"
check "the directory lists" ls -la "$MNT"
check "umount" umount "$MNT"
check_nothing_left "survivor"
xfs_repair_clean
finish
