#!/bin/sh
# The per-mount daemon's lifecycle as the kernel drives it: spawned by the kernel (child of
# kthreadd) with the right arguments, ready when mount returns, gone after umount; a killed
# daemon is noticed (degraded) and umount still works; a missing daemon fails the mount
# cleanly with a reason in the kernel log.
. /tests/guest/lib.sh
require_product
mkfs_test_dev
uuid=$(volume_uuid "$TEST_DEV")
assert_match "volume uuid read with xfs_db" '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' "$uuid"

# arg_after NAME: the argument following NAME in /tmp/args (one argument per line).
arg_after() { awk -v k="$1" 'prev == k { print; exit } { prev = $0 }' /tmp/args; }

say "spawn, arguments, readiness"
check "mount -t mxfs $TEST_DEV $MNT" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
status=$(mxfsadm status 2>&1)
assert_match "mxfsadm status right after mount lists the volume" "$uuid" "$status"
assert_match "... as ready" "ready" "$status"
assert_match "... with its mount point" "$MNT" "$status"
json=$(mxfsadm status --json 2>&1)
assert_match "mxfsadm status --json lists the volume" "\"$uuid\"" "$json"
assert_match "... as \"ready\"" '"ready"' "$json"

pids=$(mxfsd_pids)
assert_eq "exactly one mxfsd" 1 "$(echo $pids | wc -w)"
pid=${pids%% *}
ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>&1)
assert_eq "mxfsd's parent is pid 2" 2 "$ppid"
assert_eq "pid 2 is kthreadd" kthreadd "$(cat /proc/2/comm)"
tr '\0' '\n' <"/proc/$pid/cmdline" >/tmp/args
say "mxfsd command line: $(tr '\n' ' ' </tmp/args)"
assert_eq "mxfsd runs /usr/sbin/mxfsd" /usr/sbin/mxfsd "$(head -n 1 /tmp/args)"
dev=$(arg_after --device)
assert_eq "--device names $TEST_DEV (or a link to it)" "$TEST_DEV" "$(readlink -f "${dev:-/missing}")"
assert_eq "--mountpoint is $MNT" "$MNT" "$(arg_after --mountpoint)"
assert_eq "--uuid is the XFS uuid" "$uuid" "$(arg_after --uuid)"

check "umount $MNT" umount "$MNT"
check_nothing_left "after umount"
check "mxfsadm status succeeds with no mount" mxfsadm status
if mxfsadm status 2>&1 | grep -q "$uuid"; then fail "volume no longer listed"; else pass "volume no longer listed"; fi

say "daemon killed while mounted"
check "mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT" || fatal "cannot mount mxfs"
pid=$(mxfsd_pids)
mark=$(dmesg_mark)
check "kill -9 mxfsd ($pid)" kill -9 $pid
wait_until "mxfsadm status shows the mount degraded within 10 s" 10 \
  sh -c "mxfsadm status | grep -qi degraded"
wait_until "the kernel logs the daemon's death" 5 \
  sh -c "dmesg | tail -n +$((mark + 1)) | grep -i mxfs | grep -qiE 'exit|died|dead|kill|lost|degraded|signal|terminated'"
say "kernel said: $(dmesg_since "$mark" | grep -i mxfs | head -n 3)"
check "umount still works" umount "$MNT"
check_nothing_left "after umount of the degraded mount"

say "daemon missing"
check "move /usr/sbin/mxfsd away" mv /usr/sbin/mxfsd /usr/sbin/mxfsd.away
check_fails "mount -t mxfs fails without /usr/sbin/mxfsd" mount -t mxfs "$TEST_DEV" "$MNT"
say "mount said: $OUT"
assert_eq "... with a one-line error" 1 "$(printf '%s\n' "$OUT" | grep -c .)"
assert_match "... naming mxfsd" "mxfsd" "$OUT"
check_nothing_left "after the failed mount"
# The kernel's own check, without mount.mxfs in front (mount -i skips the helper).
mark=$(dmesg_mark)
check_fails "mount(2) without the helper fails too" mount -i -t mxfs "$TEST_DEV" "$MNT"
assert_match "... with ENOPKG" "package not installed" "$OUT"
assert_match "the kernel log says why" "mxfsd" "$(dmesg_since "$mark" | grep -i mxfs)"
check_nothing_left "after the failed mount(2)"
check "put /usr/sbin/mxfsd back" mv /usr/sbin/mxfsd.away /usr/sbin/mxfsd

check "mount works again" mount -t mxfs "$TEST_DEV" "$MNT"
check "umount" umount "$MNT"
check_nothing_left "at the end"
xfs_repair_clean
finish
