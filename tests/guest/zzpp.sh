#!/bin/sh
. /tests/guest/lib.sh
require_product
mkfs_test_dev
check "mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
PP=$MNT/pp
head -c 3 /dev/zero >$PP
say "alone, no -rw"
timeout -s INT 4 ping_pong "$PP" 3 2>&1 | tr '\r' '\n' | tail -n 3
say "alone -rw"
timeout -s INT 4 ping_pong -rw "$PP" 3 2>&1 | tr '\r' '\n' | tail -n 3
say "two"
timeout -s INT 8 ping_pong -rw "$PP" 3 2>&1 | tr '\r' '\n' | tail -n 3 > /tmp/a &
sleep 1
timeout -s INT 5 ping_pong -rw "$PP" 3 2>&1 | tr '\r' '\n' | head -n 5
wait
cat /tmp/a
pass done
finish
