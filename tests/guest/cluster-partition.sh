#!/bin/sh
# nodes: 2
# timeout: 900
# A network partition between a member and the owner (the member's link goes down; the shared
# disks stay). The owner's side wins a 2-node partition: the member self-fences within its
# lease, its mount fails with EIO instead of serving anything, and the owner carries on. When
# the link comes back the fenced member still cannot write; unmounting and mounting again
# rejoins it safely, and it sees what the owner wrote meanwhile.
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
  check "partition: the member's link goes down" ip link set eth0 down
  t0=$(cut -d. -f1 /proc/uptime)
  check_fails "a read on the partitioned member fails" timeout 120 cat "$MNT/m1"
  t1=$(cut -d. -f1 /proc/uptime)
  assert_match "... with EIO" "Input/output error|I/O error" "$OUT"
  say "the member's read failed after $((t1 - t0)) s"
  wait_until "the member's daemon self-fenced and exited" 60 no_mxfsd
  assert_match "... saying so" "self-fenced" "$(grep mxfsd /run/messages 2>/dev/null)"
fi
barrier partitioned
if [ "$me" = 0 ]; then
  fetch 1 m1
  assert_eq "owner still reads the member's fsynced file" "$VALUE" "$(sum <"$MNT/m1")"
  dd if=/dev/urandom of=/tmp/o1 bs=64k count=8 status=none
  check "owner keeps writing during the partition" dd if=/tmp/o1 of="$MNT/o1" bs=64k conv=fsync status=none
  publish o1 "$(sum </tmp/o1)"
fi
barrier owner-wrote
if [ "$me" = 1 ]; then
  check "the member's link comes back" ip link set eth0 up
  check_fails "the fenced member still cannot write" sh -c "echo late >$MNT/late"
  check "member: umount" umount "$MNT"
  check_nothing_left "fenced member"
  wait_until "ping the owner again" 30 ping -c 1 -W 1 "$(node_ip 0)"
  cluster_mount || fatal "the member cannot rejoin"
  assert_role member
  fetch 0 o1
  assert_eq "rejoined member reads what the owner wrote meanwhile" "$VALUE" "$(sum <"$MNT/o1")"
  check_fails "nothing of the fenced member's late write exists" test -e "$MNT/late"
  check "member: umount" umount "$MNT"
fi
barrier member-done
if [ "$me" = 0 ]; then
  check "owner: umount" umount "$MNT"
  check_nothing_left "owner"
  xfs_repair_clean
fi
barrier end
finish
