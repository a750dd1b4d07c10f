#!/bin/sh
# nodes: 2
# timeout: 600
# fcntl and flock locks across nodes: a lock taken on one node conflicts on the other, in
# both directions, for POSIX, OFD and flock locks; F_GETLK names the other node's lock; a
# blocked F_SETLKW is granted when the holder's process exits (its locks are released on
# close); ctdb's ping_pong -rw (lock, read, write, unlock, round the ring) keeps the data
# increment equal to the number of processes with one process per node; a member's host
# dying while it holds a lock releases the lock once the member is out of the view.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
me=$MXFS_NODE
F=$MNT/locked

# hold NAME ARGS...: fsops lock in the background, its output in /tmp/NAME.out, pid in $held.
hold() {
  _n=$1
  shift
  fsops lock "$@" >"/tmp/$_n.out" 2>&1 &
  held=$!
}
# outcome NAME: OUT becomes the first line of a held lock's output, once there.
outcome() {
  wait_until "fsops lock $1 answers" 60 sh -c "[ -s /tmp/$1.out ]"
  OUT=$(head -n 1 "/tmp/$1.out")
}

on_node 0 cluster_format
barrier formatted
if [ "$me" = 0 ]; then cluster_mount || fatal "owner cannot mount"; assert_role owner; fi
barrier owner-mounted
if [ "$me" = 1 ]; then cluster_mount || fatal "member cannot mount"; assert_role member; fi
barrier mounted
on_node 0 check "owner creates the lock file" sh -c "echo data >$F"
barrier created

# --- member holds, owner conflicts -----------------------------------------------------------
if [ "$me" = 1 ]; then
  hold m1 "$F" setlk w 0 10 600
  m1=$held
  outcome m1
  assert_eq "member write-locks bytes 0-9" locked "$OUT"
  hold m2 "$F" ofd-setlk r 100 0 600
  outcome m2
  assert_eq "member read-locks from byte 100 on (OFD)" locked "$OUT"
  assert_match "the member lists its lock in /proc/locks" "POSIX  ADVISORY  WRITE" "$(cat /proc/locks)"
fi
barrier member-holds
if [ "$me" = 0 ]; then
  assert_eq "owner: F_GETLK names the member's lock" "w 0 10" "$(fsops lock "$F" getlk w 0 0)"
  assert_eq "owner: F_OFD_GETLK too" "w 0 10" "$(fsops lock "$F" ofd-getlk r 9 1)"
  assert_eq "owner: a write lock inside it is refused" EAGAIN "$(fsops lock "$F" setlk w 5 1)"
  assert_eq "owner: beside it is free" locked "$(fsops lock "$F" setlk w 10 10)"
  assert_eq "owner: a read lock shares the member's read lock" locked "$(fsops lock "$F" setlk r 200 1)"
  assert_eq "owner: a write lock there is refused" EAGAIN "$(fsops lock "$F" ofd-setlk w 200 1)"
  hold o1 "$F" setlkw w 0 1
  sleep 3
  assert_eq "owner: F_SETLKW waits for the member's lock" "" "$(cat /tmp/o1.out)"
  publish waiting1 yes
fi
if [ "$me" = 1 ]; then
  fetch 0 waiting1 120
  kill "$held" # the OFD holder goes; the POSIX holder m1 is the one the owner waits for
  check "member's holder exits" kill "$m1"
fi
if [ "$me" = 0 ]; then
  outcome o1
  assert_eq "owner: F_SETLKW is granted once the member's process exits" locked "$OUT"
  wait "$held"
fi
barrier phase1

# --- owner holds, member conflicts, two member processes conflict ----------------------------
if [ "$me" = 0 ]; then
  hold o2 "$F" setlk w 0 0 600
  outcome o2
  assert_eq "owner write-locks the whole file" locked "$OUT"
fi
barrier owner-holds
if [ "$me" = 1 ]; then
  assert_eq "member: F_GETLK names the owner's lock" "w 0 0" "$(fsops lock "$F" getlk r 4096 1)"
  assert_eq "member: F_SETLK is refused" EAGAIN "$(fsops lock "$F" setlk r 1 1)"
  hold m3 "$F" setlkw w 0 1 600
  sleep 3
  assert_eq "member: F_SETLKW waits for the owner's lock" "" "$(cat /tmp/m3.out)"
  publish waiting2 yes
fi
if [ "$me" = 0 ]; then
  fetch 1 waiting2 120
  check "owner's holder exits" kill "$held"
fi
if [ "$me" = 1 ]; then
  outcome m3
  assert_eq "member: F_SETLKW is granted once the owner's process exits" locked "$OUT"
  assert_eq "member: a second member process is refused by the first" EAGAIN "$(fsops lock "$F" setlk w 0 1)"
  kill "$held"
  wait "$held"
fi
barrier phase2

# --- flock -----------------------------------------------------------------------------------
if [ "$me" = 1 ]; then
  hold m4 "$F" flock-nb r 0 0 600
  outcome m4
  assert_eq "member takes a shared flock" locked "$OUT"
fi
barrier member-flock
if [ "$me" = 0 ]; then
  assert_eq "owner: a shared flock shares it" locked "$(fsops lock "$F" flock-nb r 0 0)"
  assert_eq "owner: an exclusive flock is refused" EAGAIN "$(fsops lock "$F" flock-nb w 0 0)"
  assert_eq "owner: fcntl locks are independent of flocks" locked "$(fsops lock "$F" setlk w 0 0)"
  hold o3 "$F" flock w 0 0
  sleep 3
  assert_eq "owner: a blocking exclusive flock waits" "" "$(cat /tmp/o3.out)"
  publish waiting3 yes
fi
if [ "$me" = 1 ]; then
  fetch 0 waiting3 120
  kill "$held"
fi
if [ "$me" = 0 ]; then
  outcome o3
  assert_eq "owner: the exclusive flock is granted once the member's process exits" locked "$OUT"
  wait "$held"
fi
barrier phase3

# --- ctdb ping_pong across the nodes ---------------------------------------------------------
# Three locks, one process per node: each process locks byte i+1, unlocks byte i, reads and
# increments the byte it holds. With both running every byte goes up by 2 between two visits
# of one process; a lock that does not exclude, or a read that misses the other node's
# write, shows another increment.
PP=$MNT/ping_pong.dat
on_node 0 check "owner creates the ping_pong file" sh -c "head -c 3 /dev/zero >$PP"
barrier pp-file
if [ "$me" = 0 ]; then
  # (TERM: a background job of a non-interactive shell ignores SIGINT.)
  timeout 60 ping_pong -rw "$PP" 3 >/tmp/pp.out 2>&1 &
  pp=$!
  publish pp started
fi
if [ "$me" = 1 ]; then
  fetch 0 pp 60
  sleep 2
  timeout 25 ping_pong -rw "$PP" 3 >/tmp/pp.out 2>&1
  tr '\r' '\n' </tmp/pp.out >/tmp/pp.lines
  incr=$(grep 'data increment' /tmp/pp.lines | sed 's/.*= //' | tr '\n' ' ')
  rate=$(grep 'locks/sec' /tmp/pp.lines | tail -n 1 | tr -s ' ' | sed 's/^ //')
  say "member ping_pong: increments seen: $incr; last rate: $rate"
  assert_eq "member: no lock, read or write of ping_pong failed" 0 "$(grep -c failed /tmp/pp.lines)"
  assert_eq "member: the data increment settles at 2 (two processes)" 2 "$(echo $incr | awk '{print $NF}')"
  # Its first round starts from its own zeroes (up to three arbitrary increments), then 2.
  n=$(echo $incr | wc -w)
  [ "$n" -le 5 ] && pass "member: the increment holds once settled ($n changes)" \
    || fail "member: the increment keeps changing: $incr"
  publish pp-member done
fi
if [ "$me" = 0 ]; then
  fetch 1 pp-member 120
  kill "$pp" 2>/dev/null
  wait "$pp"
  tr '\r' '\n' </tmp/pp.out >/tmp/pp.lines
  incr=$(grep 'data increment' /tmp/pp.lines | sed 's/.*= //' | tr '\n' ' ')
  say "owner ping_pong: increments seen: $incr"
  assert_eq "owner: no lock, read or write of ping_pong failed" 0 "$(grep -c failed /tmp/pp.lines)"
  assert_match "owner: the data increment was 2 while the member ran" " 2 " " $incr"
  assert_eq "owner: and 1 again after it stopped" 1 "$(echo $incr | awk '{print $NF}')"
  n=$(echo $incr | wc -w)
  [ "$n" -le 6 ] && pass "owner: the increment changed only as processes came and went ($n changes)" \
    || fail "owner: the increment keeps changing: $incr"
fi
barrier pp-done

# --- a member's host dies holding a lock -----------------------------------------------------
if [ "$me" = 1 ]; then
  hold m5 "$F" setlk w 0 0 600
  outcome m5
  assert_eq "member write-locks the whole file" locked "$OUT"
fi
barrier member-locks
if [ "$me" = 1 ]; then
  say "the member's host dies now, holding its lock"
  crash_now
fi
assert_eq "owner: the dead member's lock still holds" EAGAIN "$(fsops lock "$F" setlk w 0 1)"
assert_eq "owner: F_SETLKW is granted once the member is out of the view" locked \
  "$(timeout 120 fsops lock "$F" setlkw w 0 1)"
assert_match "owner: the member's locks were released with it" "released the locks of departed nodes" "$(cat /run/messages)"
assert_eq "owner: the file's data is intact" data "$(cat "$F")"
check "umount" umount "$MNT"
check_nothing_left "owner"
xfs_repair_clean
finish
