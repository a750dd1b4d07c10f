#!/bin/sh
# Mount lifecycle: 20 mount/umount cycles of mxfs must each leave nothing behind (no daemon,
# no mount, no module reference), the module must unload afterwards, and the XFS stay clean.
. /tests/guest/lib.sh
require_product
mkfs_test_dev

# A file written through plain XFS must be visible through every mxfs mount.
check "mount -t xfs to seed a file" mount -t xfs "$TEST_DEV" "$MNT"
echo "seed $$" >"$MNT/seed"
check "umount plain xfs" umount "$MNT"

check "modprobe mxfs" modprobe mxfs
assert_eq "module refcnt 0 before any mount" 0 "$(cat /sys/module/mxfs/refcnt 2>&1)"

i=1
while [ "$i" -le 20 ]; do
  before=$FAILED
  check "cycle $i: mount -t mxfs $TEST_DEV $MNT" mount -t mxfs "$TEST_DEV" "$MNT"
  if is_mounted "$MNT" mxfs; then pass "cycle $i: mxfs mounted on $MNT"; else fail "cycle $i: mxfs mounted on $MNT"; fi
  assert_eq "cycle $i: seed file readable through mxfs" "seed $$" "$(cat "$MNT/seed" 2>&1)"
  check "cycle $i: umount $MNT" umount "$MNT"
  check_nothing_left "cycle $i"
  assert_eq "cycle $i: module refcnt back to 0" 0 "$(cat /sys/module/mxfs/refcnt 2>&1)"
  if [ "$FAILED" -ne "$before" ]; then
    say "stopping after the first failed cycle"
    umount "$MNT" 2>/dev/null
    break
  fi
  i=$((i + 1))
done

check "rmmod mxfs" rmmod mxfs
check "mxfs gone from /sys/module" test ! -e /sys/module/mxfs
xfs_repair_clean
finish
