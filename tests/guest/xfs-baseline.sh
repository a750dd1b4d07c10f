#!/bin/sh
# Sanity test of the harness and the test kernel, without mxfs: mkfs.xfs, plain XFS mount,
# write and read back across a remount, xfs_repair. If this fails, no mxfs test can pass.
. /tests/guest/lib.sh

mkfs_test_dev
check "mount -t xfs $TEST_DEV $MNT" mount -t xfs "$TEST_DEV" "$MNT"
check "write 1 MiB and fsync" dd if=/dev/urandom of="$MNT/data" bs=64k count=16 conv=fsync
sum=$(md5sum <"$MNT/data")
if [ -x /usr/bin/fsops ]; then
  check "fsops populate round 1" fsops populate "$MNT" 1
  check "fsops verify round 1" fsops verify "$MNT" 1
  check "fsops errnos gives the expected errnos" fsops errnos "$MNT"
else
  say "fsops not in this initramfs: skipping its checks"
fi
check "umount $MNT" umount "$MNT"
check_nothing_left "after umount"
check "mount -t xfs again" mount -t xfs "$TEST_DEV" "$MNT"
assert_eq "data survives the remount" "$sum" "$(md5sum <"$MNT/data")"
[ -x /usr/bin/fsops ] && check "fsops verify round 1 after remount" fsops verify "$MNT" 1
check "umount $MNT" umount "$MNT"
check_fails "$SCRATCH_DEV (never formatted) does not mount as xfs" mount -t xfs "$SCRATCH_DEV" "$MNT"
check_nothing_left "at the end"
xfs_repair_clean
finish
