#!/bin/sh
# Remount read-only and back: the mount keeps its data and its daemon, writes fail with EROFS
# while read-only, and /proc/mounts shows the state.
. /tests/guest/lib.sh
require_product
mkfs_test_dev
check "mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
check "write a file" sh -c "echo before >$MNT/f && sync"
pid=$(mxfsd_pids)
check "mount -o remount,ro" mount -o remount,ro "$MNT"
assert_match "/proc/mounts shows ro" "^[^ ]+ $MNT mxfs ro[,]" "$(grep " $MNT " /proc/mounts)"
check_fails "writing fails while read-only" sh -c "echo more >>$MNT/f"
assert_match "... with EROFS" "Read-only file system" "$OUT"
assert_eq "file unchanged" before "$(cat $MNT/f)"
check "mount -o remount,rw" mount -o remount,rw "$MNT"
check "writing works again" sh -c "echo after >>$MNT/f"
assert_eq "same mxfsd throughout" "$pid" "$(mxfsd_pids)"
check_fails "remount with an unknown option is refused" mount -o remount,bogus "$MNT"
check "umount" umount "$MNT"
check_nothing_left "at the end"
xfs_repair_clean
finish
