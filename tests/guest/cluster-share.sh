#!/bin/sh
# nodes: 2
# timeout: 600
# One volume, two nodes: the first to mount becomes the owner and mounts the XFS, the second
# is a member that reaches every file through the owner. Data written on either node is read
# back on the other (checksums); directory changes on the member are seen by the owner; both
# unmount cleanly and the XFS is clean.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }

on_node 0 cluster_format
barrier formatted

if [ "$MXFS_NODE" = 0 ]; then
  cluster_mount || fatal "the first node cannot mount"
  assert_role owner
  is_mounted "$MNT" mxfs && pass "node 0: mxfs mounted" || fail "node 0: mxfs mounted"
fi
barrier owner-mounted
if [ "$MXFS_NODE" = 1 ]; then
  cluster_mount || fatal "the second node cannot mount"
  assert_role member
fi
barrier member-mounted

# Owner writes, member reads.
if [ "$MXFS_NODE" = 0 ]; then
  dd if=/dev/urandom of=/tmp/a bs=64k count=20 status=none
  check "owner writes a 1.25 MiB file and fsyncs it" dd if=/tmp/a of="$MNT/from-owner" bs=64k conv=fsync status=none
  publish a "$(sum </tmp/a)"
fi
barrier owner-wrote
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 a
  assert_match "member lists the owner's file" "from-owner" "$(ls -l "$MNT")"
  assert_eq "member sees its size" 1310720 "$(stat -c %s "$MNT/from-owner")"
  assert_eq "member reads the owner's data" "$VALUE" "$(sum <"$MNT/from-owner")"
  dd if=/dev/urandom of=/tmp/b bs=48k count=7 status=none
  check "member writes a file and fsyncs it" dd if=/tmp/b of="$MNT/from-member" bs=48k conv=fsync status=none
  publish b "$(sum </tmp/b)"
  check "member: mkdir" mkdir "$MNT/d"
  check "member: create in it" sh -c "echo hello >$MNT/d/f"
  check "member: rename" mv "$MNT/d/f" "$MNT/d/g"
  check "member: append" sh -c "echo again >>$MNT/d/g"
  check "member: symlink" ln -s g "$MNT/d/link"
  check "member: chmod" chmod 0640 "$MNT/d/g"
  check "member: create and remove" sh -c "touch $MNT/d/tmp && rm $MNT/d/tmp"
  check "member: fsync of a directory" sync "$MNT/d"
fi
barrier member-wrote
if [ "$MXFS_NODE" = 0 ]; then
  fetch 1 b
  assert_eq "owner reads the member's data" "$VALUE" "$(sum <"$MNT/from-member")"
  assert_eq "owner sees the member's directory" "g link" "$(ls "$MNT/d" | tr '\n' ' ' | sed 's/ $//')"
  assert_eq "owner reads the renamed, appended file" "hello again" "$(cat "$MNT/d/g" | tr '\n' ' ' | sed 's/ $//')"
  assert_eq "owner sees the mode" 640 "$(stat -c %a "$MNT/d/g")"
  assert_eq "owner sees the symlink" g "$(readlink "$MNT/d/link")"
  check "owner appends to the member's file" sh -c "echo owner >>$MNT/d/g"
fi
barrier owner-changed
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "member sees the owner's append" "hello again owner" "$(cat "$MNT/d/g" | tr '\n' ' ' | sed 's/ $//')"
  check_fails "member: rmdir of a non-empty directory fails" rmdir "$MNT/d"
  assert_match "... with ENOTEMPTY, as XFS says" "not empty" "$OUT"
  check_fails "member: mkdir of an existing name fails" mkdir "$MNT/d"
  assert_match "... with EEXIST" "exists" "$OUT"
  # Extended attributes, both ways.
  assert_eq "member: sets user.colour" ok "$(fsops xattr "$MNT/d/g" set user.colour blue)"
  assert_eq "member: XATTR_CREATE of an existing one fails with EEXIST" EEXIST "$(fsops xattr "$MNT/d/g" set user.colour red create)"
  assert_eq "member: a missing one is ENODATA" ENODATA "$(fsops xattr "$MNT/d/g" get user.missing)"
  assert_eq "member: sets one on a directory" ok "$(fsops xattr "$MNT/d" set user.dir yes)"
  publish xattrs set
fi
barrier member-xattrs
if [ "$MXFS_NODE" = 0 ]; then
  assert_eq "owner reads the member's user.colour" blue "$(fsops xattr "$MNT/d/g" get user.colour)"
  assert_eq "owner reads the member's directory xattr" yes "$(fsops xattr "$MNT/d" get user.dir)"
  assert_eq "owner replaces it" ok "$(fsops xattr "$MNT/d/g" set user.colour green replace)"
  assert_eq "owner adds trusted.note" ok "$(fsops xattr "$MNT/d/g" set trusted.note owner)"
fi
barrier owner-xattrs
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "member reads the owner's value" green "$(fsops xattr "$MNT/d/g" get user.colour)"
  assert_eq "member (root) lists every name" "trusted.note user.colour" "$(fsops xattr "$MNT/d/g" list)"
  assert_eq "member removes trusted.note" ok "$(fsops xattr "$MNT/d/g" remove trusted.note)"
  assert_eq "member: removing it again is ENODATA" ENODATA "$(fsops xattr "$MNT/d/g" remove trusted.note)"
  big=$(head -c 40000 /dev/zero | tr '\0' x)
  assert_eq "member: a value over 32 KiB is refused with E2BIG" E2BIG "$(fsops xattr "$MNT/d/g" set user.big "$big")"
  check "member: umount" umount "$MNT"
  check_nothing_left "member after umount"
fi
barrier member-gone
if [ "$MXFS_NODE" = 0 ]; then
  assert_eq "owner: the member's removal holds" "user.colour" "$(fsops xattr "$MNT/d/g" list)"
  check "owner: umount" umount "$MNT"
  check_nothing_left "owner after umount"
  xfs_repair_clean
fi
barrier end
finish
