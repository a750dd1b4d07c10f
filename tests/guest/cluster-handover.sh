#!/bin/sh
# nodes: 2
# timeout: 900
# A clean unmount of the owner hands the volume to the member without fencing: the owner
# unmounts its XFS and vacates the owner record, the member takes over at once (no dead
# threshold to wait out, no log to recover) while its application keeps working; the former
# owner mounts again as a member of the new owner.
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

if [ "$me" = 0 ]; then
  dd if=/dev/urandom of=/tmp/o1 bs=64k count=8 status=none
  check "owner writes o1 (no fsync: a clean unmount writes it back)" dd if=/tmp/o1 of="$MNT/o1" bs=64k status=none
  publish o1 "$(sum </tmp/o1)"
fi
barrier wrote
if [ "$me" = 1 ]; then
  # Reads in a loop while the owner unmounts: none may fail.
  (
    n=0 bad=0
    while [ ! -e /tmp/stop ]; do
      cat "$MNT/o1" >/dev/null 2>>/tmp/loop.err || bad=$((bad + 1))
      n=$((n + 1))
    done
    echo "$n $bad" >/tmp/loop.out
  ) &
  loop=$!
fi
barrier reading
if [ "$me" = 0 ]; then
  t0=$(cut -d. -f1 /proc/uptime)
  # umount(2) refuses with EBUSY while the daemon executes a member's request on the mount
  # (it holds the mount open for that moment): an operator's umount is retried, as here.
  tries=0
  until umount "$MNT" 2>/tmp/umount.err; do
    tries=$((tries + 1))
    grep -q busy /tmp/umount.err && [ "$tries" -lt 10 ] || break
    sleep 1
  done
  check "owner: clean umount while the member reads ($tries EBUSY retries)" sh -c "! grep -q ' $MNT ' /proc/mounts"
  check_nothing_left "former owner"
  assert_no_match() { if printf '%s\n' "$3" | grep -Eqi "$2"; then fail "$1"; else pass "$1"; fi; }
fi
barrier owner-unmounted
if [ "$me" = 1 ]; then
  wait_until "the member took the volume over" 60 sh -c "grep -q 'took the volume over' /run/messages"
  assert_match "... without fencing" "left cleanly .*taking over without fencing" "$(grep mxfsd /run/messages)"
  touch /tmp/stop; wait "$loop"
  set -- $(cat /tmp/loop.out)
  say "the member read o1 $1 times during the hand-over"
  assert_eq "no read failed during the hand-over" 0 "$2"
  [ "$2" = 0 ] || indent "$(sort /tmp/loop.err | uniq -c)"
  fetch 0 o1
  assert_eq "the new owner's mount reads o1" "$VALUE" "$(sum <"$MNT/o1")"
  dd if=/dev/urandom of=/tmp/n1 bs=64k count=8 status=none
  check "the new owner's mount writes and fsyncs" dd if=/tmp/n1 of="$MNT/n1" bs=64k conv=fsync status=none
  publish n1 "$(sum </tmp/n1)"
  assert_no_match() { if printf '%s\n' "$3" | grep -Eqi "$2"; then fail "$1"; else pass "$1"; fi; }
  assert_no_match "no log recovery was needed" "Starting recovery" "$(dmesg)"
fi
barrier handed-over
if [ "$me" = 0 ]; then
  cluster_mount || fatal "the former owner cannot mount again"
  assert_role member
  fetch 1 n1
  assert_eq "the former owner, now a member, reads n1" "$VALUE" "$(sum <"$MNT/n1")"
  check "umount" umount "$MNT"
  check_nothing_left "former owner"
fi
barrier member-gone
if [ "$me" = 1 ]; then
  check "new owner: umount" umount "$MNT"
  check_nothing_left "new owner"
  xfs_repair_clean
fi
barrier end
finish
