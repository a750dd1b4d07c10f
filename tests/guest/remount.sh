#!/bin/sh
# Superblock-wide operations. syncfs(2) on the mount writes back the lower XFS. Remount
# read-only and back: the mount keeps its data and its daemon, writes fail with EROFS while
# read-only, and /proc/mounts shows the state.
. /tests/guest/lib.sh
require_product
mkfs_test_dev
check "mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
check "write a file" sh -c "echo before >$MNT/f && sync"

# Only syncfs may clean the pages: background and periodic writeback are held off meanwhile.
dirty_kb() { awk '/^Dirty:/ { print $2 }' /proc/meminfo; }
vm=/proc/sys/vm
saved="$(cat $vm/dirty_ratio) $(cat $vm/dirty_background_ratio) $(cat $vm/dirty_writeback_centisecs)"
echo 400000000 >$vm/dirty_bytes; echo 300000000 >$vm/dirty_background_bytes; echo 0 >$vm/dirty_writeback_centisecs
check "write 32 MiB without syncing" dd if=/dev/zero of="$MNT/big" bs=1M count=32
before_kb=$(dirty_kb)
check "the pages are dirty before syncfs (${before_kb} kB)" [ "$before_kb" -ge 16384 ]
check "sync -f (syncfs) on the mount" sync -f "$MNT/big"
after_kb=$(dirty_kb)
check "syncfs wrote them back (${after_kb} kB dirty left)" [ "$after_kb" -lt 4096 ]
set -- $saved
echo "$1" >$vm/dirty_ratio; echo "$2" >$vm/dirty_background_ratio; echo "$3" >$vm/dirty_writeback_centisecs
check "remove the big file" rm "$MNT/big"
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
