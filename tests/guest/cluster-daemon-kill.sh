#!/bin/sh
# nodes: 2
# timeout: 900
# kill -9 of mxfsd, on a member and then on the owner.
#   member's daemon killed: that mount turns degraded and fails with EIO (nothing is cached to
#     serve stale data from); it unmounts cleanly; the owner is unaffected; a new mount of the
#     member works again.
#   owner's daemon killed: the owner shuts its XFS down at once (self-fencing: its heartbeat
#     has stopped, so another node will take the volume over) and fails locally with EIO. The
#     member's requests wait; once the dead owner is fenced the member takes the volume over
#     (mounts the XFS itself, log recovery) and they complete: applications see a pause. A file
#     with writes only the dead owner held fails its next fsync with EIO, once. Every fsynced
#     file is read back by checksum, also after a fresh mount. A byte-range lock the member
#     held from the dead owner is taken again from the new one (reclaim): it still excludes.
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }
me=$MXFS_NODE

on_node 0 cluster_format
barrier formatted
if [ "$me" = 0 ]; then cluster_mount || fatal "owner cannot mount"; assert_role owner; fi
barrier owner-mounted
if [ "$me" = 1 ]; then cluster_mount || fatal "member cannot mount"; assert_role member; fi
barrier mounted

# --- the member's daemon ---------------------------------------------------------------------
if [ "$me" = 1 ]; then
  dd if=/dev/urandom of=/tmp/m1 bs=64k count=8 status=none
  check "member writes m1 and fsyncs it" dd if=/tmp/m1 of="$MNT/m1" bs=64k conv=fsync status=none
  publish m1 "$(sum </tmp/m1)"
  check "kill -9 the member's mxfsd" kill -9 "$(mxfsd_pids)"
  wait_until "the member's mount turns degraded" 15 sh -c "mxfsadm status | grep -qi degraded"
  check_fails "reading on the degraded member fails" cat "$MNT/m1"
  assert_match "... with EIO" "Input/output error|I/O error" "$OUT"
  check "member: umount of the degraded mount" umount "$MNT"
  check_nothing_left "member after umount"
fi
barrier member-daemon-killed
if [ "$me" = 0 ]; then
  fetch 1 m1
  assert_eq "owner still reads the member's fsynced file" "$VALUE" "$(sum <"$MNT/m1")"
  dd if=/dev/urandom of=/tmp/o1 bs=64k count=8 status=none
  check "owner writes o1 and fsyncs it" dd if=/tmp/o1 of="$MNT/o1" bs=64k conv=fsync status=none
  publish o1 "$(sum </tmp/o1)"
fi
barrier owner-wrote
if [ "$me" = 1 ]; then
  cluster_mount || fatal "member cannot mount again"
  assert_role member
  fetch 0 o1
  assert_eq "member, mounted again, reads the owner's file" "$VALUE" "$(sum <"$MNT/o1")"
fi
barrier remounted

# --- the owner's daemon ----------------------------------------------------------------------
if [ "$me" = 1 ]; then
  check "member writes a file without fsync" dd if=/dev/urandom of="$MNT/unsynced" bs=64k count=2 status=none
  check "member makes a lock file" dd if=/dev/zero of="$MNT/locked" bs=4k count=1 conv=fsync status=none
  fsops lock "$MNT/locked" setlk w 0 100 900 >/tmp/holder.out 2>&1 &
  holder=$!
  wait_until "member write-locks bytes 0-99" 30 grep -q locked /tmp/holder.out
fi
barrier member-unsynced
if [ "$me" = 0 ]; then
  dd if=/dev/urandom of=/tmp/o2 bs=64k count=8 status=none
  check "owner writes o2 and fsyncs it" dd if=/tmp/o2 of="$MNT/o2" bs=64k conv=fsync status=none
  publish o2 "$(sum </tmp/o2)"
  check "kill -9 the owner's mxfsd" kill -9 "$(mxfsd_pids)"
  wait_until "the owner's kernel shuts its XFS down" 15 sh -c "dmesg | grep -q \"owner's mxfsd is gone: XFS shut down\""
  check_fails "writing on the old owner now fails" dd if=/dev/zero of="$MNT/o3" bs=4k count=1 conv=fsync
  assert_match "... with EIO" "Input/output error|I/O error" "$OUT"
fi
barrier owner-daemon-killed
if [ "$me" = 1 ]; then
  # The member's requests wait while the dead owner is fenced and this node takes over.
  t0=$(cut -d. -f1 /proc/uptime)
  fetch 0 o2
  assert_eq "member reads o2 across the failover" "$VALUE" "$(sum <"$MNT/o2")"
  t1=$(cut -d. -f1 /proc/uptime)
  say "first read after the owner's death took $((t1 - t0)) s"
  assert_match "this node took the volume over" "took the volume over" "$(grep mxfsd /run/messages)"
  fetch 1 m1
  assert_eq "member still reads its own fsynced m1" "$VALUE" "$(sum <"$MNT/m1")"
  check_fails "fsync of the file whose writes died with the owner fails" sync "$MNT/unsynced"
  assert_match "... with EIO" "Input/output error|I/O error" "$OUT"
  check "... once: the next fsync succeeds" sync "$MNT/unsynced"
  assert_eq "the lock held from the dead owner was reclaimed: F_GETLK names it" "w 0 100" "$(fsops lock "$MNT/locked" getlk w 0 0)"
  assert_eq "... and it still excludes another process" EAGAIN "$(fsops lock "$MNT/locked" setlk w 50 1)"
  check "the holder exits" kill "$holder"
  wait "$holder"
  assert_eq "... which releases it" locked "$(fsops lock "$MNT/locked" setlk w 50 1)"
  dd if=/dev/urandom of=/tmp/n1 bs=64k count=8 status=none
  check "the new owner's mount keeps working: write and fsync" dd if=/tmp/n1 of="$MNT/n1" bs=64k conv=fsync status=none
  check "... mkdir" mkdir "$MNT/after-failover"
fi
barrier failed-over
if [ "$me" = 0 ]; then check "old owner: umount of the shut-down XFS" umount "$MNT"; check_nothing_left "old owner"; fi
barrier old-owner-gone
if [ "$me" = 1 ]; then
  check "new owner: umount" umount "$MNT"
  check_nothing_left "new owner"
  assert_match "the daemon unmounted its XFS before giving the volume up" "ownership released" "$(grep mxfsd /run/messages)"
  xfs_repair_clean
  cluster_mount || fatal "cannot mount again"
  assert_role owner
  for f in m1 o1 o2 n1; do
    case $f in m1) from=1 ;; n1) from=- ;; *) from=0 ;; esac
    if [ "$from" = - ]; then want=$(sum </tmp/n1); else fetch "$from" "$f"; want=$VALUE; fi
    assert_eq "fsynced $f survived" "$want" "$(sum <"$MNT/$f")"
  done
  check "umount" umount "$MNT"
  check_nothing_left "at the end"
  xfs_repair_clean
fi
barrier end
finish
