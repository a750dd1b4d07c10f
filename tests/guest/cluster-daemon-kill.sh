#!/bin/sh
# nodes: 2
# timeout: 900
# kill -9 of mxfsd, on a member and then on the owner.
#   member's daemon killed: that mount turns degraded and fails with EIO (nothing is cached to
#     serve stale data from); it unmounts cleanly; the owner is unaffected; a new mount of the
#     member works again.
#   owner's daemon killed: the owner shuts its XFS down at once (self-fencing: its heartbeat
#     has stopped, so another node will take the volume over), local I/O and the member's get
#     EIO; after both unmount, the former member mounts, waits out the dead owner's heartbeat,
#     becomes owner (XFS log recovery) and reads every fsynced file back by checksum.
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

# --- the member's daemon ---------------------------------------------------------------------
if [ "$me" = 1 ]; then
  dd if=/dev/urandom of=/tmp/m1 bs=64k count=8 status=none
  check "member writes m1 and fsyncs it" dd if=/tmp/m1 of="$MNT/m1" bs=64k conv=fsync status=none
  publish m1 "$(sum </tmp/m1)"
  check "kill -9 the member's mxfsd" kill -9 "$(mxfsd_pids)"
  wait_until "the member's mount turns degraded" 15 sh -c "mxfsadm status | grep -qi degraded"
  check_fails "reading on the degraded member fails" cat "$MNT/m1"
  assert_match "... with EIO" "Input/output error|I/O error" "$OUT"
  check "member: umount of the degraded mount" umount "$MNT"
  check_nothing_left "member after umount"
fi
barrier member-daemon-killed
if [ "$me" = 0 ]; then
  fetch 1 m1
  assert_eq "owner still reads the member's fsynced file" "$VALUE" "$(sum <"$MNT/m1")"
  dd if=/dev/urandom of=/tmp/o1 bs=64k count=8 status=none
  check "owner writes o1 and fsyncs it" dd if=/tmp/o1 of="$MNT/o1" bs=64k conv=fsync status=none
  publish o1 "$(sum </tmp/o1)"
fi
barrier owner-wrote
if [ "$me" = 1 ]; then
  cluster_mount || fatal "member cannot mount again"
  assert_role member
  fetch 0 o1
  assert_eq "member, mounted again, reads the owner's file" "$VALUE" "$(sum <"$MNT/o1")"
fi
barrier remounted

# --- the owner's daemon ----------------------------------------------------------------------
if [ "$me" = 0 ]; then
  dd if=/dev/urandom of=/tmp/o2 bs=64k count=8 status=none
  check "owner writes o2 and fsyncs it" dd if=/tmp/o2 of="$MNT/o2" bs=64k conv=fsync status=none
  publish o2 "$(sum </tmp/o2)"
  check "owner starts an unsynced write" dd if=/dev/urandom of="$MNT/unsynced" bs=64k count=4 status=none
  check "kill -9 the owner's mxfsd" kill -9 "$(mxfsd_pids)"
  wait_until "the owner's kernel shuts its XFS down" 15 sh -c "dmesg | grep -q \"owner's mxfsd is gone: XFS shut down\""
  check_fails "writing on the owner now fails" dd if=/dev/zero of="$MNT/o3" bs=4k count=1 conv=fsync
  assert_match "... with EIO" "Input/output error|I/O error" "$OUT"
fi
barrier owner-daemon-killed
if [ "$me" = 1 ]; then
  check_fails "the member's reads fail without an owner" cat "$MNT/o1"
  assert_match "... with EIO" "Input/output error|I/O error" "$OUT"
fi
barrier member-saw-eio
if [ "$me" = 0 ]; then check "owner: umount of the shut-down XFS" umount "$MNT"; check_nothing_left "old owner"; fi
if [ "$me" = 1 ]; then check "member: umount" umount "$MNT"; check_nothing_left "member"; fi
barrier both-unmounted

# --- takeover --------------------------------------------------------------------------------
if [ "$me" = 1 ]; then
  cluster_mount || fatal "the survivor cannot mount"
  assert_role owner
  assert_match "XFS replayed the dead owner's log" "Starting recovery|Ending recovery" "$(dmesg)"
  for f in m1 o1 o2; do
    fetch "$(case $f in m1) echo 1 ;; *) echo 0 ;; esac)" "$f"
    assert_eq "new owner reads fsynced $f" "$VALUE" "$(sum <"$MNT/$f")"
  done
  check "new owner writes" dd if=/dev/urandom of="$MNT/after" bs=64k count=4 conv=fsync status=none
  check "new owner: umount" umount "$MNT"
  check_nothing_left "new owner"
  xfs_repair_clean
fi
barrier end
finish
