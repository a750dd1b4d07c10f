#!/bin/sh
# The cluster benchmark's guest side: installed as /tests/guest/bench-cluster.sh by
# tests/bench/cluster.sh, which boots two guests through qemu-ci/cluster-vm.sh with the Debian
# rootfs attached. Not a multi-VM test: it lives outside tests/guest/, so tests/run-cluster.sh
# never runs it. Every node runs this script; the measurements run chrooted into the rootfs
# (tests/bench/cluster_bench.py, installed next to it).
#
# Node 0 formats the volume and mounts it as owner, node 1 mounts it as member, and node 0
# exports its mxfs mount with knfsd (NFSv4 only) to node 1, which mounts it with vers=4.2. The
# same operations are then measured on three filesystems, one node busy at a time:
#   owner    node 0's mxfs mount (the local XFS underneath)
#   member   node 1's mxfs mount (every call a request to the owner)
#   nfs      node 1's NFS mount of node 0's mxfs mount
# In each round (the order of the three rotates from round to round): create, stat and unlink
# of NFILES files; a streaming write (fsync included) and, with the page caches of both nodes
# dropped, a streaming read (in the first STREAM_ROUNDS rounds only); repeated reads of one
# 1 MiB file. Last, once: node 0's mxfsd is killed (kill -9; its kernel shuts its XFS down and
# node 1 takes the volume over) and node 1 measures, with its own clock, the time from the word
# of the kill (a TCP message node 0 sends right after it) to its first successful write+fsync.
#
# Kernel command line (tests/bench/cluster.sh sets them): mxfs_bench_rounds (3),
# mxfs_bench_files (1000), mxfs_bench_stream_mib (64), mxfs_bench_stream_rounds (3),
# mxfs_bench_reread_secs (2).
. /tests/guest/lib.sh
. /tests/guest/cluster.lib
. /tests/guest/cluster.product.lib
. /tests/guest/conformance.lib # rootfs_enter, in_rootfs, rootfs_leave
require_product
me=$MXFS_NODE
[ "$MXFS_NODES" = 2 ] || fatal "the cluster benchmark runs on 2 nodes, not $MXFS_NODES"

rounds=3 files=1000 stream_mib=64 stream_rounds=3 reread_secs=2
for _w in $(cat /proc/cmdline); do
  case $_w in
    mxfs_bench_rounds=*) rounds=${_w#*=} ;;
    mxfs_bench_files=*) files=${_w#*=} ;;
    mxfs_bench_stream_mib=*) stream_mib=${_w#*=} ;;
    mxfs_bench_stream_rounds=*) stream_rounds=${_w#*=} ;;
    mxfs_bench_reread_secs=*) reread_secs=${_w#*=} ;;
  esac
done
# One step of one node may take minutes under emulation; the other waits at the next barrier.
STEP_TIMEOUT=1800
bar() { barrier "$1" "$STEP_TIMEOUT"; }
bench_py() { in_rootfs python3 -u /tests/guest/cluster_bench.py "$@"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
NFS_PORT_WORD=7790 # the failover's TCP message

rootfs_enter
MX=/mnt/mxfs NFS=/mnt/nfs # inside the rootfs
mkdir -p "$ROOTFS$MX" "$ROOTFS$NFS"
MNT=$ROOTFS$MX # cluster_mount mounts there

on_node 0 cluster_format
bar formatted
if [ "$me" = 0 ]; then cluster_mount || fatal "node 0 cannot mount"; assert_role owner; fi
bar owner-mounted
if [ "$me" = 1 ]; then cluster_mount || fatal "node 1 cannot mount"; assert_role member; fi
bar member-mounted

# --- NFS: node 0 exports its mxfs mount, node 1 mounts it ------------------------------------
# NFSv4 only: no rpcbind, no lockd, no statd. The grace period (no client can open files
# while it lasts) is the shortest knfsd takes, 10 s; node 1's first write waits it out.
nfs_serve() {
  check "nfsd filesystem" mount -t nfsd nfsd "$ROOTFS/proc/fs/nfsd" || return 1
  check "exportfs $(node_ip 1):$MX" in_rootfs exportfs -o rw,sync,no_root_squash,no_subtree_check,insecure,fsid=1 \
    "$(node_ip 1):$MX" || return 1
  check "rpc.mountd (NFSv4 only)" in_rootfs rpc.mountd -N 2 -N 3 || return 1
  # (The test kernel has no NFSv2 at all: rpc.nfsd refuses "-N 2".)
  check "rpc.nfsd (NFSv4 only, 8 threads, 10 s grace and lease)" in_rootfs rpc.nfsd -N 3 -U -G 10 -L 10 8 \
    || return 1
  say "knfsd: versions $(cat "$ROOTFS/proc/fs/nfsd/versions"), threads $(cat "$ROOTFS/proc/fs/nfsd/threads")"
  say "exports: $(in_rootfs exportfs -v | tr '\n\t' '  ')"
}
if [ "$me" = 0 ]; then
  if nfs_serve; then publish nfs-server ok; else publish nfs-server failed; fi
fi
bar nfs-served
nfs_ok=0
if [ "$me" = 1 ]; then
  fetch 0 nfs-server
  if [ "$VALUE" = ok ] \
    && check "mount -t nfs4 -o vers=4.2 $(node_ip 0):$MX" in_rootfs mount -t nfs4 -o vers=4.2 "$(node_ip 0):$MX" "$NFS" \
    && check "first write+fsync through NFS (waits for the server's grace period)" \
      in_rootfs dd if=/dev/zero of="$NFS/warm-up" bs=4k count=1 conv=fsync status=none; then
    nfs_ok=1
    say "nfs mount: $(grep " $ROOTFS$NFS " /proc/mounts)"
    assert_match "the NFS mount is NFSv4.2" "vers=4\.2" "$(grep " $ROOTFS$NFS " /proc/mounts)"
    rm -f "$ROOTFS$NFS/warm-up"
  else
    say "no NFS mount: the nfs rows are reported as failed"
  fi
fi
bar nfs-mounted

# --- rounds ------------------------------------------------------------------------------------
nfs_skip() { # NAME...: the nfs rows of this round, reported as not measured
  for _n in "$@"; do echo "BENCHFAIL nfs $r $_n NoMount: no NFS mount (see the checks above)"; done
}
# step FS: every measurement of one round on one filesystem, on the node it belongs to.
step() {
  fs=$1
  case $fs in
    owner) node=0 d=$MX/owner-$r ;;
    member) node=1 d=$MX/member-$r ;;
    nfs) node=1 d=$NFS/nfs-$r ;;
  esac
  active=0
  [ "$me" = "$node" ] && active=1
  skip=0
  [ "$fs" = nfs ] && [ "$nfs_ok" != 1 ] && skip=1
  bar "r$r-$fs-meta"
  if [ "$active" = 1 ]; then
    if [ "$skip" = 1 ]; then nfs_skip meta; else bench_py meta "$fs" "$r" "$d" "$files"; fi
  fi
  if [ "$r" -le "$stream_rounds" ]; then
    bar "r$r-$fs-write"
    if [ "$active" = 1 ]; then
      if [ "$skip" = 1 ]; then nfs_skip write; else bench_py write "$fs" "$r" "$d.stream" "$stream_mib"; fi
    fi
    bar "r$r-$fs-written"
    drop_caches # both nodes: the read below comes from the disk, also through the owner
    bar "r$r-$fs-dropped"
    if [ "$active" = 1 ] && [ "$skip" = 0 ]; then
      bench_py read "$fs" "$r" "$d.stream"
      rm -f "$ROOTFS$d.stream"
    fi
  fi
  bar "r$r-$fs-reread"
  if [ "$active" = 1 ]; then
    if [ "$skip" = 1 ]; then nfs_skip reread; else bench_py reread "$fs" "$r" "$d.small" "$reread_secs"; fi
  fi
}
_t=$(cut -d. -f1 /proc/uptime)
r=1
while [ "$r" -le "$rounds" ]; do
  case $((r % 3)) in
    1) order="owner member nfs" ;;
    2) order="member nfs owner" ;;
    0) order="nfs owner member" ;;
  esac
  say "round $r of $rounds: $order"
  for fs in $order; do step "$fs"; done
  r=$((r + 1))
done
say "$rounds rounds: $(($(cut -d. -f1 /proc/uptime) - _t)) s of this node's clock"

# --- NFS down ----------------------------------------------------------------------------------
if [ "$me" = 1 ] && [ "$nfs_ok" = 1 ]; then check "umount the NFS mount" umount "$ROOTFS$NFS"; fi
bar nfs-unmounted
if [ "$me" = 0 ] && [ -n "$(cat "$ROOTFS/proc/fs/nfsd/threads" 2>/dev/null)" ]; then
  check "stop knfsd" in_rootfs rpc.nfsd 0
  check "unexport" in_rootfs exportfs -ua
  _p=$(pidof rpc.mountd) && check "stop rpc.mountd" kill $_p
  check "umount the nfsd filesystem" umount "$ROOTFS/proc/fs/nfsd"
fi
bar nfs-down

# --- failover: the owner's mxfsd killed, node 1's first write+fsync -------------------------
if [ "$me" = 1 ]; then
  (
    in_rootfs python3 -u /tests/guest/cluster_bench.py failover "$NFS_PORT_WORD" "$MX/failover-probe" 300 \
      >/tmp/failover.out 2>&1
    echo $? >/tmp/failover.rc
  ) &
  wait_until "node 1 waits for the word of the kill" 60 grep -q ready /tmp/failover.out
fi
bar failover-ready
if [ "$me" = 0 ]; then
  _p=$(mxfsd_pids)
  # The word goes out right after the signal: node 1's clock starts when it arrives.
  kill -9 $_p
  _krc=$?
  echo killed | timeout 30 nc -w 10 "$(node_ip 1)" "$NFS_PORT_WORD" >/dev/null 2>&1
  _nrc=$?
  assert_eq "kill -9 the owner's mxfsd ($_p)" 0 "$_krc"
  assert_eq "tell node 1 (TCP to port $NFS_PORT_WORD)" 0 "$_nrc"
  wait_until "the owner's kernel shuts its XFS down" 15 sh -c "dmesg | grep -q \"owner's mxfsd is gone: XFS shut down\""
fi
if [ "$me" = 1 ]; then
  wait_until "node 1's first write+fsync after the owner's death" 320 test -f /tmp/failover.rc
  cat /tmp/failover.out
  assert_eq "the failover probe ended well" 0 "$(cat /tmp/failover.rc 2>/dev/null)"
  assert_match "this node took the volume over" "took the volume over" "$(grep mxfsd /run/messages)"
fi
bar failed-over
if [ "$me" = 0 ]; then
  check "old owner: umount of the shut-down XFS" umount "$MNT"
  check_nothing_left "old owner"
fi
bar old-owner-gone
if [ "$me" = 1 ]; then
  check "new owner: umount" umount "$MNT"
  check_nothing_left "new owner"
  xfs_repair_clean
fi
rootfs_leave
bar end
finish
