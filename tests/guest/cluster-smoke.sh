#!/bin/sh
# nodes: 2
# timeout: 300
# The multi-VM harness itself, without the product: two guests on one network segment,
# sharing the lockstate disk, the volume and the mailbox.
#   network   no other run's guest on the segment (ARP duplicate address detection); each node
#             pings the other; TCP both ways (busybox nc); UDP multicast from node 1 to node 0
#             on the product's discovery group 239.66.83.1:7601 (fsops mcast-*)
#   disks     O_DIRECT writes of one node are read back by the other with O_DIRECT, in both
#             directions, even over a stale page cache; the lockstate disk is shared too
#   volume    node 0 makes an XFS and writes a file, node 1 mounts it read-only afterwards
#             and reads the file; the host runs xfs_repair -n on the image (cluster_mkfs)
# Run: tests/run-cluster.sh smoke
#
# To see the harness fail, add to MXFS_VM_APPEND mxfs_smoke_fault=
#   leave   node 1 finishes before the pattern barrier: node 0 fails there at once
#   stall   node 1 sleeps 20 s longer than the barrier timeout before the pattern barrier:
#           node 0 times out there (quicker with MXFS_BARRIER_TIMEOUT=15 in MXFS_VM_APPEND)
#   die     node 1 powers off after the network checks: the host marks it dead, node 0 fails
#           its next barrier at once, node 1 has no final marker
#   dirty   node 0 breaks a secondary superblock: the host's xfs_repair -n must object
. /tests/guest/lib.sh
. /tests/guest/cluster.lib

fault=
for word in $(cat /proc/cmdline); do
  case $word in mxfs_smoke_fault=*) fault=${word#mxfs_smoke_fault=} ;; esac
done

assert_eq "two nodes" 2 "$MXFS_NODES"
assert_eq "hostname" "node$MXFS_NODE" "$(hostname)"
peer=$(echo $PEERS)
peer_ip=$(node_ip "$peer")
sum() { sha256sum | cut -c1-64; }

# --- network -----------------------------------------------------------------------------
assert_match "eth0 has $MY_IP/24" "inet $MY_IP/24" "$(ip -4 addr show dev eth0)"
# Duplicate address detection: a guest of another run on this segment would answer (its MAC
# differs from ours, see qemu-ci/cluster-vm.sh); the peer has another address.
check "no guest of another run claims $MY_IP" arping -D -c 2 -w 3 -I eth0 "$MY_IP"
wait_until "ping node$peer ($peer_ip)" 30 ping -c 1 -W 1 "$peer_ip"
barrier net-up
[ "$fault" = die ] && on_node 1 poweroff -f

# TCP: node 0 listens, node 1 connects; one line each way.
if [ "$MXFS_NODE" = 0 ]; then
  echo tcp-from-node0 | timeout 30 nc -l -p 7700 >/tmp/tcp.in 2>&1 &
  tcp_pid=$!
  wait_until "node 0 listens on TCP 7700" 10 sh -c 'netstat -ltn | grep -q ":7700 "'
fi
barrier tcp-listening
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "TCP: node 1 receives node 0's line" tcp-from-node0 \
    "$(echo tcp-from-node1 | timeout 30 nc -w 10 "$(node_ip 0)" 7700 2>&1)"
else
  wait "$tcp_pid"
  assert_eq "TCP: node 0 receives node 1's line" tcp-from-node1 "$(cat /tmp/tcp.in)"
fi

# UDP multicast, node 1 -> node 0, on the group and port mxfsd announces itself on.
if fsops 2>&1 | grep -q mcast-recv; then
  if [ "$MXFS_NODE" = 0 ]; then
    fsops mcast-recv 239.66.83.1 7601 30 >/tmp/mcast.out 2>&1 &
    mcast_pid=$!
    # /proc/net/igmp shows the group as its address in memory order: 239.66.83.1 = 015342EF.
    wait_until "node 0 joined 239.66.83.1 on eth0" 10 grep -q 015342EF /proc/net/igmp
  fi
  barrier mcast-listening
  if [ "$MXFS_NODE" = 1 ]; then
    check "node 1 multicasts to 239.66.83.1:7601" fsops mcast-send 239.66.83.1 7601 mcast-from-node1 25
  else
    wait "$mcast_pid"
    assert_eq "UDP multicast: node 0 receives node 1's datagram" \
      "from $(node_ip 1): mcast-from-node1" "$(cat /tmp/mcast.out)"
  fi
else
  pass "# SKIP UDP multicast: this fsops has no mcast-recv (rebuild it)"
fi

# --- shared disks ------------------------------------------------------------------------
# 64 KiB of random data at 1 MiB into the volume, written by node 0 with O_DIRECT. Node 0
# also reads it back through the page cache, which node 1's overwrite then makes stale.
if [ "$MXFS_NODE" = 0 ]; then
  dd if=/dev/urandom of=/tmp/pattern0 bs=64k count=1 status=none
  check "node 0 writes a 64 KiB pattern (O_DIRECT)" \
    dd if=/tmp/pattern0 of="$TEST_DEV" bs=64k seek=16 count=1 oflag=direct conv=notrunc status=none
  assert_eq "node 0 reads its pattern back (buffered)" "$(sum </tmp/pattern0)" \
    "$(dd if="$TEST_DEV" bs=64k skip=16 count=1 status=none | sum)"
  publish pattern0 "$(sum </tmp/pattern0)"
  echo "lockstate-token-$(sum </tmp/pattern0)" >/tmp/token
  check "node 0 writes a token to the lockstate disk (O_DIRECT)" \
    dd if=/tmp/token of="$LOCKSTATE_DEV" bs=512 count=1 conv=sync,notrunc oflag=direct status=none
fi
if [ "$MXFS_NODE" = 1 ]; then
  case $fault in
    leave) finish ;;
    stall) sleep $((BARRIER_TIMEOUT + 20)) ;;
  esac
fi
barrier pattern0-written
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 pattern0
  assert_eq "node 1 reads node 0's pattern (O_DIRECT)" "$VALUE" \
    "$(dd if="$TEST_DEV" bs=64k skip=16 count=1 iflag=direct status=none | sum)"
  assert_eq "node 1 reads node 0's token on the lockstate disk" "lockstate-token-$VALUE" \
    "$(dd if="$LOCKSTATE_DEV" bs=512 count=1 iflag=direct status=none | tr -d '\000')"
  dd if=/dev/urandom of=/tmp/pattern1 bs=64k count=1 status=none
  check "node 1 overwrites it with its own pattern (O_DIRECT)" \
    dd if=/tmp/pattern1 of="$TEST_DEV" bs=64k seek=16 count=1 oflag=direct conv=notrunc status=none
  publish pattern1 "$(sum </tmp/pattern1)"
fi
barrier pattern1-written
if [ "$MXFS_NODE" = 0 ]; then
  fetch 1 pattern1
  assert_eq "node 0 reads node 1's pattern (O_DIRECT, over its stale cache)" "$VALUE" \
    "$(dd if="$TEST_DEV" bs=64k skip=16 count=1 iflag=direct status=none | sum)"
fi

# --- one XFS, one node at a time -----------------------------------------------------------
if [ "$MXFS_NODE" = 0 ]; then
  cluster_mkfs || fatal "cannot make the XFS"
  check "node 0 mounts it" mount -t xfs "$TEST_DEV" "$MNT" || fatal "cannot mount the XFS"
  check "node 0 writes a file (O_DIRECT)" dd if=/tmp/pattern0 of="$MNT/from-node0" bs=64k count=1 oflag=direct status=none
  check "node 0 unmounts" umount "$MNT"
  publish xfsfile "$(sum </tmp/pattern0)"
  if [ "$fault" = dirty ]; then
    check "fault: node 0 breaks superblock 1" xfs_db -x -c 'sb 1' -c 'write -d magicnum 0' "$TEST_DEV"
  fi
fi
barrier xfs-written
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 xfsfile
  check "node 1 mounts it read-only" mount -t xfs -o ro "$TEST_DEV" "$MNT" || fatal "cannot mount the XFS"
  assert_eq "node 1 reads node 0's file" "$VALUE" "$(sum <"$MNT/from-node0")"
  check "node 1 unmounts" umount "$MNT"
fi
barrier end
finish
