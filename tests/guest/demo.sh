#!/bin/sh
# The product demo, narrated (make demo runs it; as a guest test its checks must pass too).
# One host, one shared disk: mkfs.xfs once, mount -t mxfs, use it, see the daemon the mount
# started, unmount, and read the same data back as plain XFS.
. /tests/guest/lib.sh
require_product

show() { say "\$ $*"; _o=$("$@" 2>&1); _rc=$?; indent "$_o"; return $_rc; }

say "MXFS demo: the disk $TEST_DEV is a standard XFS volume shared by every host."
check "mkfs.xfs $TEST_DEV (once, standard XFS)" mkfs.xfs -q -f "$TEST_DEV"
say "Mounting it the MXFS way; the kernel starts mxfsd and waits until it is ready."
check "mount -t mxfs $TEST_DEV $MNT" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount"
show grep " $MNT " /proc/mounts
show mxfsadm status
pid=$(mxfsd_pids)
assert_eq "mxfsd was started by the mount (parent: kthreadd)" kthreadd "$(cat /proc/$(awk '/^PPid:/ {print $2}' /proc/$pid/status)/comm)"
show sh -c "ps -o pid,ppid,args | grep -E 'PID|mxfsd' | grep -v grep"

say "Writing files, a directory tree, a symlink and a VM-image-sized sparse file."
mkdir -p "$MNT/vm-images" "$MNT/iso"
echo "hello from mxfs" >"$MNT/hello.txt"
dd if=/dev/urandom of="$MNT/vm-images/disk0.raw" bs=1M count=16 2>/dev/null
truncate -s 10G "$MNT/vm-images/big-sparse.raw"
ln -s ../vm-images/disk0.raw "$MNT/iso/link-to-disk0"
sync
sum=$(md5sum <"$MNT/vm-images/disk0.raw")
show ls -la "$MNT" "$MNT/vm-images"
show df -h "$MNT"
check "read back hello.txt" grep -q "hello from mxfs" "$MNT/hello.txt"

say "Unmounting: the kernel stops mxfsd and waits for it to exit."
check "umount $MNT" umount "$MNT"
check "no mxfsd left" no_mxfsd
show mxfsadm status

say "Same disk as plain XFS: the data is simply there, standard format."
check "mount -t xfs $TEST_DEV $MNT" mount -t xfs "$TEST_DEV" "$MNT"
assert_eq "disk0.raw checksum unchanged" "$sum" "$(md5sum <"$MNT/vm-images/disk0.raw")"
show ls -la "$MNT/vm-images"
check "umount $MNT" umount "$MNT"
xfs_repair_clean
say "Demo done."
finish
