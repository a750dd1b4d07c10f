#!/bin/sh
# Bad mount requests fail with a clear message and leave nothing behind, whether refused by
# mount.mxfs or, without the helper (mount -i), by the kernel. Management needs privilege.
. /tests/guest/lib.sh
require_product
mkfs_test_dev
check "modprobe mxfs" modprobe mxfs

# refused DESC WORDS-REGEX CMD...: CMD fails with a one-line message matching WORDS-REGEX,
# and nothing is left mounted or running.
refused() {
  _what=$1 _words=$2; shift 2
  check_fails "$_what: refused" "$@"
  say "it said: $OUT"
  assert_eq "$_what: one-line message" 1 "$(printf '%s\n' "$OUT" | grep -c .)"
  assert_match "$_what: message matches /$_words/" "$_words" "$OUT"
  check_nothing_left "$_what"
}

say "device that is not XFS"
refused "mount -t mxfs $SCRATCH_DEV" "$SCRATCH_DEV.*(not|no|bad|invalid).*xfs|xfs.*(not|missing).*$SCRATCH_DEV" \
  mount -t mxfs "$SCRATCH_DEV" "$MNT"
check_fails "mount -i -t mxfs $SCRATCH_DEV (kernel): refused" mount -i -t mxfs "$SCRATCH_DEV" "$MNT"
check_nothing_left "mount -i -t mxfs $SCRATCH_DEV"

say "missing device"
refused "mount -t mxfs /dev/vdz" "/dev/vdz.*(no such|not exist|not found|missing)" \
  mount -t mxfs /dev/vdz "$MNT"
check_fails "mount -i -t mxfs /dev/vdz (kernel): refused" mount -i -t mxfs /dev/vdz "$MNT"
check_nothing_left "mount -i -t mxfs /dev/vdz"

say "unknown mount option"
refused "mount -t mxfs -o bogus" "unknown option 'bogus'" \
  mount -t mxfs -o bogus "$TEST_DEV" "$MNT"
check_fails "mount -i -t mxfs -o bogus (kernel): refused" mount -i -t mxfs -o bogus "$TEST_DEV" "$MNT"
check_nothing_left "mount -i -t mxfs -o bogus"

say "mxfsadm needs CAP_NET_ADMIN"
check "mxfsadm status as root" mxfsadm status
check "mount -t mxfs" mount -t mxfs "$TEST_DEV" "$MNT"
assert_eq "su runs commands as nobody" 65534 "$(su -s /bin/sh nobody -c 'id -u' 2>&1)"
check_fails "mxfsadm status as nobody fails" su -s /bin/sh nobody -c "/usr/sbin/mxfsadm status"
say "it said: $OUT"
assert_match "... mentioning CAP_NET_ADMIN or root" "CAP_NET_ADMIN|root" "$OUT"
check "umount" umount "$MNT"
check_nothing_left "at the end"
xfs_repair_clean
finish
