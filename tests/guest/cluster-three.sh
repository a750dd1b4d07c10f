#!/bin/sh
# nodes: 3
# timeout: 900
# Three nodes: one owner, two members. Data one member writes is read by the other (both
# through the owner); a byte-range lock one member holds excludes the other. Then the owner's
# mxfsd is killed (kill -9): its kernel shuts the XFS down, one member takes the volume over,
# the other follows it as a member. Each member holds a lock; both are taken again from the
# new owner (one locally, the follower's over the network, inside the grace period), fsynced
# data is intact on both, and each lock is released when its process exits. Every node unmounts; the XFS is clean.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }
me=$MXFS_NODE
F=$MNT/locked

on_node 0 cluster_format
barrier formatted
if [ "$me" = 0 ]; then cluster_mount || fatal "owner cannot mount"; assert_role owner; fi
barrier owner-mounted
if [ "$me" = 1 ]; then cluster_mount || fatal "member 1 cannot mount"; assert_role member; fi
barrier member1-mounted
if [ "$me" = 2 ]; then cluster_mount || fatal "member 2 cannot mount"; assert_role member; fi
barrier mounted

# --- member to member, through the owner -------------------------------------------------------
if [ "$me" = 1 ]; then
  dd if=/dev/urandom of=/tmp/m1 bs=64k count=16 status=none
  check "member 1 writes m1 and fsyncs it" dd if=/tmp/m1 of="$MNT/m1" bs=64k conv=fsync status=none
  publish m1 "$(sum </tmp/m1)"
  check "member 1 makes the lock file" dd if=/dev/zero of="$F" bs=4k count=1 conv=fsync status=none
  fsops lock "$F" setlk w 200 100 900 >/tmp/holder.out 2>&1 &
  holder=$!
  wait_until "member 1 write-locks bytes 200-299" 30 grep -q locked /tmp/holder.out
fi
barrier m1-written
if [ "$me" = 2 ]; then
  fetch 1 m1
  assert_eq "member 2 reads member 1's file" "$VALUE" "$(sum <"$MNT/m1")"
  fsops lock "$F" setlk w 0 100 900 >/tmp/holder.out 2>&1 &
  holder=$!
  wait_until "member 2 write-locks bytes 0-99" 30 grep -q locked /tmp/holder.out
fi
barrier locked
if [ "$me" = 1 ]; then
  assert_eq "member 1: F_GETLK names member 2's lock" "w 0 100" "$(fsops lock "$F" getlk w 0 100)"
  assert_eq "member 1: a conflicting lock is refused" EAGAIN "$(fsops lock "$F" setlk r 99 1)"
fi
if [ "$me" = 0 ]; then
  assert_eq "owner: F_GETLK names member 2's lock" "w 0 100" "$(fsops lock "$F" getlk r 50 1)"
  assert_eq "owner: F_GETLK names member 1's lock" "w 200 100" "$(fsops lock "$F" getlk r 250 1)"
  dd if=/dev/urandom of=/tmp/o1 bs=64k count=16 status=none
  check "owner writes o1 and fsyncs it" dd if=/tmp/o1 of="$MNT/o1" bs=64k conv=fsync status=none
  publish o1 "$(sum </tmp/o1)"
fi
barrier checked

# --- the owner's daemon dies -------------------------------------------------------------------
if [ "$me" = 0 ]; then
  check "kill -9 the owner's mxfsd" kill -9 "$(mxfsd_pids)"
  wait_until "the owner's kernel shuts its XFS down" 15 sh -c "dmesg | grep -q \"owner's mxfsd is gone: XFS shut down\""
fi
barrier owner-killed
if [ "$me" != 0 ]; then
  t0=$(cut -d. -f1 /proc/uptime)
  fetch 0 o1
  assert_eq "node $me reads the owner's fsynced o1 after the failover" "$VALUE" "$(sum <"$MNT/o1")"
  say "node $me: first read after the owner's death took $(($(cut -d. -f1 /proc/uptime) - t0)) s"
  fetch 1 m1
  assert_eq "node $me reads member 1's fsynced m1" "$VALUE" "$(sum <"$MNT/m1")"
  if grep -q "took the volume over" /run/messages; then publish took yes; else publish took no; fi
fi
barrier failed-over
new=
if [ "$me" != 0 ]; then
  n=0
  for i in 1 2; do
    fetch "$i" took
    if [ "$VALUE" = yes ]; then n=$((n + 1)) new=$i; fi
  done
  assert_eq "exactly one member took the volume over" 1 "$n"
  say "node $new is the new owner"
fi
if [ "$me" != 0 ]; then
  assert_match "node $me reclaimed its lock from the new owner" "reclaiming 1 locks from the owner" "$(grep mxfsd /run/messages)"
fi
barrier reclaimed
if [ "$me" = 1 ]; then
  assert_eq "member 1: the new owner names member 2's reclaimed lock" "w 0 100" "$(fsops lock "$F" getlk w 0 100)"
fi
if [ "$me" = 2 ]; then
  assert_eq "member 2: the new owner names member 1's reclaimed lock" "w 200 100" "$(fsops lock "$F" getlk w 150 0)"
fi
barrier lock-seen
if [ "$me" != 0 ]; then
  check "node $me: the lock holder exits" kill "$holder"
  wait "$holder"
fi
barrier released
if [ "$me" = 1 ]; then
  # The grace period may still run (another node was in the view): F_SETLKW waits it out.
  assert_eq "member 1 takes both released ranges" locked "$(timeout 120 fsops lock "$F" setlkw w 0 300)"
  check "member 1 writes after the failover and fsyncs" dd if=/tmp/m1 of="$MNT/m1-again" bs=64k conv=fsync status=none
fi
barrier written-again
if [ "$me" = 2 ]; then
  fetch 1 m1
  assert_eq "member 2 reads member 1's new file" "$VALUE" "$(sum <"$MNT/m1-again")"
fi
barrier read-again

# --- everyone leaves ---------------------------------------------------------------------------
if [ "$me" = 0 ]; then check "old owner: umount of the shut-down XFS" umount "$MNT"; check_nothing_left "old owner"; fi
barrier old-owner-gone
# The follower leaves first, then the new owner (whose daemon holds the XFS).
if [ "$me" != 0 ] && [ "$me" != "$new" ]; then check "node $me: umount" umount "$MNT"; check_nothing_left "node $me"; fi
barrier follower-gone
if [ "$me" = "$new" ]; then
  check "new owner: umount" umount "$MNT"
  check_nothing_left "new owner"
  xfs_repair_clean
fi
barrier end
finish
