#!/bin/sh
# Every VFS operation through mxfs, verified through mxfs after a remount and through plain
# XFS on the same disk: what mxfs writes is exactly what XFS holds. Also the errnos of
# failing operations must be identical on mxfs and on plain XFS.
. /tests/guest/lib.sh
require_product
mkfs_test_dev

# verify_rounds WHERE LAST: fsops verify of rounds 1..LAST
verify_rounds() {
  _r=1
  while [ "$_r" -le "$2" ]; do
    check "$1: fsops verify round $_r" fsops verify "$MNT" "$_r"
    _r=$((_r + 1))
  done
}

for round in 1 2 3; do
  say "round $round"
  check "round $round: mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
  check "round $round: fsops populate through mxfs" fsops populate "$MNT" "$round"
  check "round $round: fsops verify through mxfs" fsops verify "$MNT" "$round"
  check "round $round: umount mxfs" umount "$MNT"
  check_nothing_left "round $round, after umount"

  check "round $round: mount -t mxfs again" mount -t mxfs "$TEST_DEV" "$MNT"
  verify_rounds "round $round: mxfs remount" "$round"
  check "round $round: umount mxfs" umount "$MNT"

  check "round $round: mount -t xfs (plain)" mount -t xfs "$TEST_DEV" "$MNT"
  verify_rounds "round $round: plain xfs" "$round"
  check "round $round: umount xfs" umount "$MNT"
  check_nothing_left "round $round, end"
done

say "errnos: mxfs against plain xfs"
check "mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
check "fsops errnos through mxfs" sh -c "fsops errnos $MNT >/tmp/errnos.mxfs"
check "umount mxfs" umount "$MNT"
check "mount -t xfs (plain)" mount -t xfs "$TEST_DEV" "$MNT" || fatal "cannot mount xfs"
check "fsops errnos through plain xfs" sh -c "fsops errnos $MNT >/tmp/errnos.xfs"
check "umount xfs" umount "$MNT"
check "errno lines identical on mxfs and xfs" diff -u /tmp/errnos.xfs /tmp/errnos.mxfs
assert_eq "all $(wc -l </tmp/errnos.xfs) errno cases ran on both" "$(wc -l </tmp/errnos.xfs)" "$(wc -l </tmp/errnos.mxfs)"

check_nothing_left "at the end"
xfs_repair_clean
finish
