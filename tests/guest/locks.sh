#!/bin/sh
# fcntl and flock locks between processes of one node on an mxfs mount: the same outcomes as
# on the lower XFS (conflicts, F_GETLK, OFD locks, F_SETLKW waiting, release on exit), and no
# lock left behind on the lower inode once the processes are gone.
. /tests/guest/lib.sh
require_product
mkfs_test_dev
check "mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
F=$MNT/locked
check "create the lock file" sh -c "echo data >$F"

fsops lock "$F" setlk w 0 10 600 >/tmp/a.out 2>&1 &
a=$!
wait_until "process A write-locks bytes 0-9" 30 grep -q locked /tmp/a.out
assert_eq "F_GETLK names A's lock" "w 0 10" "$(fsops lock "$F" getlk r 0 0)"
assert_eq "a write lock inside it is refused" EAGAIN "$(fsops lock "$F" setlk w 9 1)"
assert_eq "an OFD lock inside it is refused" EAGAIN "$(fsops lock "$F" ofd-setlk r 0 1)"
assert_eq "beside it is free" locked "$(fsops lock "$F" setlk w 10 1)"
fsops lock "$F" setlkw w 5 1 >/tmp/b.out 2>&1 &
b=$!
sleep 2
assert_eq "F_SETLKW waits for A" "" "$(cat /tmp/b.out)"
kill "$a"
wait "$a"
wait_until "F_SETLKW is granted once A exits" 30 grep -q locked /tmp/b.out
wait "$b"
assert_eq "nothing is left locked" unlocked "$(fsops lock "$F" getlk w 0 0)"

fsops lock "$F" flock-nb r 0 0 600 >/tmp/c.out 2>&1 &
c=$!
wait_until "process C takes a shared flock" 30 grep -q locked /tmp/c.out
assert_eq "another shared flock shares it" locked "$(fsops lock "$F" flock-nb r 0 0)"
assert_eq "an exclusive flock is refused" EAGAIN "$(fsops lock "$F" flock-nb w 0 0)"
assert_eq "fcntl locks are independent of flocks" locked "$(fsops lock "$F" setlk w 0 0)"
kill "$c"
wait "$c"
assert_eq "the exclusive flock is granted once C exits" locked "$(fsops lock "$F" flock-nb w 0 0)"
assert_eq "/proc/locks is empty again" "" "$(cat /proc/locks)"

# ctdb's ping_pong -rw, two processes, three locks: each byte goes up by 2 between two visits.
PP=$MNT/pp
check "create the ping_pong file" sh -c "head -c 3 /dev/zero >$PP"
# (timeout's TERM: a background job of a non-interactive shell ignores SIGINT.)
timeout 12 ping_pong -rw "$PP" 3 >/tmp/pp1.out 2>&1 &
p1=$!
sleep 1
timeout 8 ping_pong -rw "$PP" 3 >/tmp/pp2.out 2>&1
wait "$p1"
tr '\r' '\n' </tmp/pp2.out >/tmp/pp2.lines
say "ping_pong: $(grep -c 'data increment' /tmp/pp2.lines) increment changes, last rate $(grep locks/sec /tmp/pp2.lines | tail -n 1)"
assert_eq "ping_pong: the second process's increment settles at 2" 2 "$(grep 'data increment' /tmp/pp2.lines | tail -n 1 | sed 's/.*= //')"
assert_eq "ping_pong: no lock, read or write failed" 0 "$(grep -c failed /tmp/pp2.lines)"
assert_eq "/proc/locks is empty after ping_pong" "" "$(cat /proc/locks)"
check "umount" umount "$MNT"
check_nothing_left "after umount"
xfs_repair_clean
finish
