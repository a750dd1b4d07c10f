#!/bin/sh
# nodes: 2
# timeout: 600
# The lock-cache (DESIGN §3): a member caches attributes and directory entries under PR cache
# locks; the owner takes EX before it changes an inode, which makes the member drop them.
#   caching    100 stats of one file on the member are served from its cache: fewer than 10
#              remote calls and at least 100 cache hits (mxfsadm status counters)
#   coherence  each change the owner's own processes make is seen by the member's very next
#              stat or lookup: size after an append, mode after chmod, mtime after touch, a new
#              name where the member had looked and found none, a renamed directory, and the
#              link count of a file whose other hard link the owner removed
#   revoke     after those changes the member's stat makes remote calls again, then is cached
#              again
#   pages      10 re-reads of a 1 MiB file on the member come from its page cache (fewer than 10
#              remote calls); an overwrite by the owner that keeps the size is read by the member
#              at once, and the member's own overwrite is read back (buffered and O_DIRECT)
#   acls       ACLs set on the member take effect on both nodes; uid 1000's 50 access checks
#              on the member are served from its cache (fewer than 5 remote calls); the owner's
#              setfacl -x is enforced by the member at once; new files and directories take
#              their mode from a default ACL, else from the caller's umask
#   mmap       on the member, shared read-only and private maps show the file, a program on
#              the volume runs, a shared writable map fails with ENODEV (and mprotect with
#              EACCES), and a mapping already in place shows the owner's later change
#   stores     the owner's stores through a shared writable mapping are seen by the member,
#              the second one too (made through a page already writable in that mapping)
#   racing     the owner appends 200 times while the member stats the file until it sees the
#              final size: the sizes the member sees never go down
#   data       fsynced data checked by sha256 on both nodes; xfs_repair -n clean
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
require_product
sum() { sha256sum | cut -c1-64; }
counter() { mxfsadm status --json | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" | head -n 1; }
# await_line FILE REGEX: waits up to 10 s for a background tool to print a matching line.
await_line() {
  _i=0
  while ! grep -q "$2" "$1" && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
}

on_node 0 cluster_format
barrier formatted
if [ "$MXFS_NODE" = 0 ]; then
  cluster_mount || fatal "the first node cannot mount"
  assert_role owner
  head -c 4096 /dev/urandom >/tmp/f
  check "owner writes f and fsyncs it" dd if=/tmp/f of="$MNT/f" bs=4096 conv=fsync status=none
  check "owner: mkdir d" mkdir "$MNT/d"
  check "owner: hard links h1 and h2" sh -c "echo linked >$MNT/h1 && ln $MNT/h1 $MNT/h2"
fi
barrier owner-ready
if [ "$MXFS_NODE" = 1 ]; then
  cluster_mount || fatal "the second node cannot mount"
  assert_role member
  assert_eq "member sees f's size" 4096 "$(stat -c %s "$MNT/f")"
  assert_eq "member sees h1 with 2 links" 2 "$(stat -c %h "$MNT/h1")"
  check "member: no name 'new' yet" sh -c "! test -e $MNT/new"
  calls=$(counter remote_calls)
  hits=$(counter cache_hits)
  i=0
  while [ $i -lt 100 ]; do stat -c %s "$MNT/f" >/dev/null; i=$((i + 1)); done
  calls=$(($(counter remote_calls) - calls))
  hits=$(($(counter cache_hits) - hits))
  echo "# 100 stats on the member: $calls remote calls, $hits cache hits"
  check "100 stats on the member: fewer than 10 remote calls ($calls)" [ "$calls" -lt 10 ]
  check "100 stats on the member: at least 100 cache hits ($hits)" [ "$hits" -ge 100 ]
  check "member: still no name 'new' (cached)" sh -c "! test -e $MNT/new"
fi
barrier member-cached

if [ "$MXFS_NODE" = 0 ]; then
  head -c 1000 /dev/urandom >/tmp/add
  cat /tmp/add >>/tmp/f
  check "owner appends 1000 bytes to f and fsyncs it" sh -c "cat /tmp/add >>$MNT/f && sync $MNT/f"
  check "owner: chmod 0600 f" chmod 0600 "$MNT/f"
  check "owner: touch -m f" env TZ=UTC touch -m -d "2023-11-14 22:13:20" "$MNT/f"
  check "owner: create 'new'" sh -c "echo fresh >$MNT/new"
  check "owner: rename d to d2" mv "$MNT/d" "$MNT/d2"
  check "owner: remove h2" rm "$MNT/h2"
  publish f "$(sum </tmp/f)"
fi
barrier owner-changed
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 f
  calls=$(counter remote_calls)
  assert_eq "member sees the appended size" 5096 "$(stat -c %s "$MNT/f")"
  assert_eq "member sees the new mode" 600 "$(stat -c %a "$MNT/f")"
  assert_eq "member sees the new mtime" 1700000000 "$(stat -c %Y "$MNT/f")"
  calls=$(($(counter remote_calls) - calls))
  check "member: the owner's changes made its stats ask again ($calls remote calls)" [ "$calls" -ge 1 ]
  check "member: 'new' exists now" test -e "$MNT/new"
  assert_eq "member reads 'new'" fresh "$(cat "$MNT/new")"
  check "member: d is gone" sh -c "! test -e $MNT/d"
  check "member: d2 is there" test -d "$MNT/d2"
  assert_eq "member sees h1 with 1 link" 1 "$(stat -c %h "$MNT/h1")"
  assert_eq "member reads f's data" "$VALUE" "$(sum <"$MNT/f")"
  calls=$(counter remote_calls)
  i=0
  while [ $i -lt 20 ]; do stat -c %s "$MNT/f" >/dev/null; i=$((i + 1)); done
  calls=$(($(counter remote_calls) - calls))
  check "member: 20 more stats are cached again ($calls remote calls)" [ "$calls" -lt 5 ]
fi
barrier member-checked

# Pages: a member re-reads from its page cache; an overwrite that keeps the size is seen.
if [ "$MXFS_NODE" = 0 ]; then
  head -c 1048576 /dev/urandom >/tmp/big
  check "owner writes a 1 MiB file and fsyncs it" dd if=/tmp/big of="$MNT/big" bs=64k conv=fsync status=none
  publish big "$(sum </tmp/big)"
fi
barrier big-written
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 big
  assert_eq "member reads the 1 MiB file" "$VALUE" "$(sum <"$MNT/big")"
  calls=$(counter remote_calls)
  i=0
  while [ $i -lt 10 ]; do cat "$MNT/big" >/dev/null; i=$((i + 1)); done
  calls=$(($(counter remote_calls) - calls))
  echo "# 10 re-reads of 1 MiB on the member: $calls remote calls"
  check "member: 10 re-reads of 1 MiB come from its page cache ($calls remote calls)" [ "$calls" -lt 10 ]
fi
barrier big-cached
if [ "$MXFS_NODE" = 0 ]; then
  head -c 4096 /dev/urandom >/tmp/patch
  dd if=/tmp/patch of=/tmp/big bs=4096 seek=100 conv=notrunc status=none
  check "owner overwrites 4 KiB in the middle (same size) and fsyncs" \
    dd if=/tmp/patch of="$MNT/big" bs=4096 seek=100 conv=notrunc,fsync status=none
  publish big2 "$(sum </tmp/big)"
fi
barrier big-patched
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 big2
  assert_eq "member reads the owner's overwrite" "$VALUE" "$(sum <"$MNT/big")"
  head -c 4096 /dev/urandom >/tmp/mine
  check "member overwrites 4 KiB itself" dd if=/tmp/mine of="$MNT/big" bs=4096 seek=7 conv=notrunc status=none
  assert_eq "member reads its own overwrite back" "$(sum </tmp/mine)" \
    "$(dd if="$MNT/big" bs=4096 skip=7 count=1 status=none | sum)"
  assert_eq "member: O_DIRECT read agrees" "$(sum </tmp/mine)" \
    "$(dd if="$MNT/big" bs=4096 skip=7 count=1 iflag=direct status=none | sum)"
  publish mine "$(sum </tmp/mine)"
fi
barrier member-patched
if [ "$MXFS_NODE" = 0 ]; then
  fetch 1 mine
  assert_eq "owner reads the member's overwrite" "$VALUE" "$(dd if="$MNT/big" bs=4096 skip=7 count=1 status=none | sum)"
fi

# POSIX ACLs: set on either node, enforced on the member from its cache, dropped from that
# cache when the owner changes them; new modes follow a default ACL, else the caller's umask.
as_user() { setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
if [ "$MXFS_NODE" = 0 ]; then
  check "owner: a root-only directory and file" sh -c \
    "mkdir -m 0750 $MNT/acl && echo secret >$MNT/acl/f && chmod 0600 $MNT/acl/f"
fi
barrier acl-ready
if [ "$MXFS_NODE" = 1 ]; then
  check_fails "member: uid 1000 cannot read f yet" as_user cat "$MNT/acl/f"
  assert_match "member: ... for want of permission" 'permission denied' "$OUT"
  check "member: setfacl gives uid 1000 the directory" setfacl -m u:1000:rx "$MNT/acl"
  check "member: setfacl gives uid 1000 f" setfacl -m u:1000:r "$MNT/acl/f"
  assert_match "member: getfacl shows the entry" '^user:1000:r--$' "$(getfacl -n "$MNT/acl/f" 2>&1)"
  assert_eq "member: the mode shows the ACL's mask" 640 "$(stat -c %a "$MNT/acl/f")"
  assert_eq "member: uid 1000 reads f through the ACL" secret "$(as_user cat "$MNT/acl/f" 2>&1)"
  check_fails "member: uid 1000 may not change the ACL" as_user setfacl -m u:1000:rw "$MNT/acl/f"
  assert_match "member: ... as it is not the file's owner" 'operation not permitted' "$OUT"
  calls=$(counter remote_calls)
  check "member: 50 access checks by uid 1000" as_user sh -c \
    "i=0; while [ \$i -lt 50 ]; do test -r $MNT/acl/f || exit 1; i=\$((i + 1)); done"
  calls=$(($(counter remote_calls) - calls))
  echo "# 50 ACL access checks on the member: $calls remote calls"
  check "50 ACL access checks on the member: fewer than 5 remote calls ($calls)" [ "$calls" -lt 5 ]
  check "member: a default ACL on the directory" setfacl -d -m u::rwx,g::r-x,o::r-x "$MNT/acl"
  check "member: create under umask 077" sh -c "umask 077 && : >$MNT/acl/inherit && mkdir $MNT/acl/inherit.d && : >$MNT/plain077"
  assert_eq "member: the default ACL decides a new file's mode" 644 "$(stat -c %a "$MNT/acl/inherit")"
  assert_eq "member: the default ACL decides a new directory's mode" 755 "$(stat -c %a "$MNT/acl/inherit.d")"
  assert_eq "member: without a default ACL the umask does" 600 "$(stat -c %a "$MNT/plain077")"
fi
barrier acl-set
if [ "$MXFS_NODE" = 0 ]; then
  assert_match "owner: getfacl shows the member's entry" '^user:1000:r--$' "$(getfacl -n "$MNT/acl/f" 2>&1)"
  assert_match "owner: the default ACL is there" '^default:other::r-x$' "$(getfacl -n "$MNT/acl" 2>&1)"
  assert_eq "owner: the inherited modes" "644 755 600" \
    "$(stat -c %a "$MNT/acl/inherit" "$MNT/acl/inherit.d" "$MNT/plain077" | tr '\n' ' ' | sed 's/ $//')"
  assert_eq "owner: uid 1000 reads f" secret "$(as_user cat "$MNT/acl/f" 2>&1)"
  check "owner: setfacl -x takes uid 1000's entry away" setfacl -x u:1000 "$MNT/acl/f"
fi
barrier acl-revoked
if [ "$MXFS_NODE" = 1 ]; then
  check_fails "member: uid 1000 can no longer read f" as_user cat "$MNT/acl/f"
  assert_match "member: ... for want of permission" 'permission denied' "$OUT"
  assert_eq "member: getfacl no longer shows the entry" "" "$(getfacl -n "$MNT/acl/f" 2>&1 | grep '^user:1000')"
fi
barrier acl-end

# Mappings on the member: read-only and private maps come from its page cache; a program on
# the volume runs; a shared writable map is refused; a change by the owner reaches a mapping
# that is already in place.
if [ "$MXFS_NODE" = 0 ]; then
  head -c 65536 /dev/urandom >/tmp/m
  check "owner writes m (64 KiB) and a program" sh -c "cp /tmp/m $MNT/m && cp /usr/bin/fsops $MNT/prog && sync"
  publish m "$(sum </tmp/m)"
fi
barrier mmap-ready
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 m
  assert_eq "member: a shared read-only map shows m" "$VALUE" "$(fsops mmap "$MNT/m" shared | sum)"
  assert_eq "member: a private map takes a write" private "$(fsops mmap "$MNT/m" private | head -c 7)"
  assert_eq "member: ... which the file does not see" "$VALUE" "$(sum <"$MNT/m")"
  assert_eq "member: a shared writable map is refused" ENODEV "$(fsops mmap "$MNT/m" shared-write)"
  assert_eq "member: mprotect cannot make a shared map writable" EACCES "$(fsops mmap "$MNT/m" mprotect)"
  assert_eq "member: a program on the volume runs" "$VALUE" "$("$MNT/prog" mmap "$MNT/m" shared | sum)"
  fsops mmap "$MNT/m" watch 120 >/tmp/watch 2>&1 &
  watcher=$!
  await_line /tmp/watch '^first'
  check "member: a watcher maps m" grep -q '^first' /tmp/watch
fi
barrier mmap-watching
if [ "$MXFS_NODE" = 0 ]; then
  old=$(od -An -tx1 -N1 /tmp/m | tr -d ' ')
  new=$(printf %02x $((0x$old ^ 255)))
  printf "\\$(printf %o $((0x$new)))" | dd of=/tmp/m bs=1 count=1 conv=notrunc status=none
  check "owner changes m's first byte ($old to $new) and fsyncs" \
    dd if=/tmp/m of="$MNT/m" bs=1 count=1 conv=notrunc,fsync status=none
  publish m2 "$(sum </tmp/m)"
  publish byte "$new"
fi
barrier mmap-changed
if [ "$MXFS_NODE" = 1 ]; then
  fetch 0 byte
  wait "$watcher"
  assert_eq "member: the watcher saw the change (exit status)" 0 "$?"
  assert_eq "member: ... through its mapping" "changed $VALUE" "$(tail -n 1 /tmp/watch)"
  fetch 0 m2
  assert_eq "member: m read afresh" "$VALUE" "$(sum <"$MNT/m")"
  assert_eq "member: a new map shows the change" "$VALUE" "$(fsops mmap "$MNT/m" shared | sum)"
fi
barrier mmap-end

# Stores through a shared writable mapping on the owner are changes: the member sees each one,
# the second too, made through a page the mapping had already written.
if [ "$MXFS_NODE" = 0 ]; then
  check "owner writes s (8 KiB of zeros)" dd if=/dev/zero of="$MNT/s" bs=4096 count=2 conv=fsync status=none
fi
barrier poke-ready
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "member reads s (zeros) and caches it" 0000000000000000 "$(od -An -tx1 -N8 "$MNT/s" | tr -d ' ')"
fi
barrier poke-cached
if [ "$MXFS_NODE" = 0 ]; then
  rm -f /tmp/go
  fsops mmap "$MNT/s" poke AAAA BBBB /tmp/go >/tmp/poke 2>&1 &
  poker=$!
  await_line /tmp/poke '^stored AAAA'
  check "owner stores AAAA through a shared mapping" grep -q '^stored AAAA' /tmp/poke
fi
barrier poke-one
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "member sees the owner's first store" AAAA "$(head -c 4 "$MNT/s")"
fi
barrier poke-seen
if [ "$MXFS_NODE" = 0 ]; then
  touch /tmp/go
  wait "$poker"
  assert_eq "owner stores BBBB through the same mapping (exit status)" 0 "$?"
fi
barrier poke-two
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "member sees the owner's second store" BBBB "$(head -c 4 "$MNT/s")"
fi
barrier poke-end

# Racing: sizes seen on the member never go down and end at the owner's.
if [ "$MXFS_NODE" = 0 ]; then
  : >"$MNT/grow"
fi
barrier race-start
if [ "$MXFS_NODE" = 0 ]; then
  i=0
  while [ $i -lt 200 ]; do printf '%09d\n' $i >>"$MNT/grow"; i=$((i + 1)); done
  check "owner: 200 appends done" [ "$(stat -c %s "$MNT/grow")" = 2000 ]
else
  i=0 size=0
  while [ "$size" != 2000 ] && [ $i -lt 3000 ]; do
    size=$(stat -c %s "$MNT/grow" 2>&1)
    echo "$size"
    i=$((i + 1))
  done >/tmp/sizes
  sorted=$(sort -n /tmp/sizes | tr '\n' ' ')
  check "member: the $i sizes seen during the appends are numbers" sh -c "! grep -qv '^[0-9][0-9]*$' /tmp/sizes"
  assert_eq "member: the sizes never went down" "$sorted" "$(tr '\n' ' ' </tmp/sizes)"
  echo "# member saw $(sort -u /tmp/sizes | wc -l) distinct sizes while the owner appended"
fi
barrier race-end
if [ "$MXFS_NODE" = 1 ]; then
  assert_eq "member: the final size is the owner's" 2000 "$(stat -c %s "$MNT/grow")"
  assert_eq "member: the last line is the owner's" 000000199 "$(tail -n 1 "$MNT/grow")"
  check "member: umount" umount "$MNT"
  check_nothing_left "member after umount"
fi
barrier member-gone
if [ "$MXFS_NODE" = 0 ]; then
  check "owner: umount" umount "$MNT"
  check_nothing_left "owner after umount"
  xfs_repair_clean
fi
barrier end
finish
