#!/bin/sh
# nodes: 2
# timeout: 900
# Both nodes at once on one volume: writers to their own files and to disjoint halves of the
# same files, buffered and O_DIRECT, each fsynced and then verified by checksum on both nodes;
# then both race in one directory (create, rename, unlink; and mkdir/rename on contested names,
# where exactly one node must win each). Both nodes must end with the same listing.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }
ROUNDS=${MXFS_RACE_ROUNDS:-100}
me=$MXFS_NODE

on_node 0 cluster_format
barrier formatted
if [ "$me" = 0 ]; then cluster_mount || fatal "owner cannot mount"; assert_role owner; fi
barrier owner-mounted
if [ "$me" = 1 ]; then cluster_mount || fatal "member cannot mount"; assert_role member; fi
barrier mounted

# --- writers -------------------------------------------------------------------------------
dd if=/dev/urandom of=/tmp/own bs=64k count=32 status=none   # 2 MiB, this node's own files
dd if=/dev/urandom of=/tmp/half bs=64k count=16 status=none  # 1 MiB, this node's half
publish own "$(sum </tmp/own)"
publish half "$(sum </tmp/half)"
barrier go-write
check "node $me: own file, buffered, fsync" dd if=/tmp/own of="$MNT/own-$me" bs=64k conv=fsync status=none
check "node $me: own file, O_DIRECT" dd if=/tmp/own of="$MNT/own-direct-$me" bs=64k oflag=direct conv=fsync status=none
check "node $me: its half of a shared file, buffered" \
  dd if=/tmp/half of="$MNT/shared" bs=64k seek=$((me * 16)) conv=notrunc,fsync status=none
check "node $me: its half of a shared file, O_DIRECT" \
  dd if=/tmp/half of="$MNT/shared-direct" bs=64k seek=$((me * 16)) oflag=direct conv=notrunc,fsync status=none
barrier written
for n in 0 1; do
  fetch "$n" own; own=$VALUE
  fetch "$n" half; half=$VALUE
  assert_eq "node $me reads node $n's own file" "$own" "$(sum <"$MNT/own-$n")"
  assert_eq "node $me reads node $n's O_DIRECT file" "$own" "$(sum <"$MNT/own-direct-$n")"
  for f in shared shared-direct; do
    assert_eq "node $me reads node $n's half of $f" "$half" \
      "$(dd if="$MNT/$f" bs=64k skip=$((n * 16)) count=16 status=none | sum)"
  done
done
assert_eq "node $me: shared file is exactly both halves" 2097152 "$(stat -c %s "$MNT/shared")"

# --- directory races -----------------------------------------------------------------------
if [ "$me" = 0 ]; then check "mkdir race" mkdir "$MNT/race"; fi
barrier go-race
won=0 odd=0
i=0
while [ "$i" -lt "$ROUNDS" ]; do
  # Own names: create, rename; every other one is unlinked again.
  : >"$MNT/race/f-$me-$i" || odd=$((odd + 1))
  mv "$MNT/race/f-$me-$i" "$MNT/race/g-$me-$i" || odd=$((odd + 1))
  if [ $((i % 2)) = 0 ]; then rm "$MNT/race/g-$me-$i" || odd=$((odd + 1)); fi
  # Contested: both nodes mkdir the same names, from opposite ends so that they meet in the
  # middle; exactly one may succeed for each name (the other: EEXIST).
  j=$i; [ "$me" = 1 ] && j=$((ROUNDS - 1 - i))
  if mkdir "$MNT/race/c-$j" 2>/tmp/mkdir.err; then
    won=$((won + 1))
  elif ! grep -q "exists" /tmp/mkdir.err; then
    odd=$((odd + 1)); cat /tmp/mkdir.err
  fi
  i=$((i + 1))
done
assert_eq "node $me: no unexpected errors in $ROUNDS rounds" 0 "$odd"
publish won "$won"
barrier raced
fetch 0 won; w0=$VALUE
fetch 1 won; w1=$VALUE
assert_eq "each contested mkdir won by exactly one node ($w0 + $w1)" "$ROUNDS" "$((w0 + w1))"
expect=$(i=0; while [ "$i" -lt "$ROUNDS" ]; do echo "c-$i"; [ $((i % 2)) = 1 ] && echo "g-0-$i" && echo "g-1-$i"; i=$((i + 1)); done | sort | sum)
listing=$(ls "$MNT/race" | sort | sum)
assert_eq "node $me: the directory holds exactly the expected names" "$expect" "$listing"
publish listing "$listing"
barrier listed
fetch $((1 - me)) listing
assert_eq "both nodes list the same directory" "$listing" "$VALUE"

# --- unmount -------------------------------------------------------------------------------
if [ "$me" = 1 ]; then check "member: umount" umount "$MNT"; check_nothing_left "member after umount"; fi
barrier member-gone
if [ "$me" = 0 ]; then
  check "owner: umount" umount "$MNT"
  check_nothing_left "owner after umount"
  xfs_repair_clean
fi
barrier end
finish
