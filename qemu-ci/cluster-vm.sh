#!/usr/bin/env bash
# Boots NODES test guests at once that share their disks and one network, each running its
# role of one multi-VM test (tests/guest/NAME.sh, which sources tests/guest/cluster.lib).
#
#   cluster-vm.sh NAME NODES INITRD OUTDIR
#
# Shared by every guest (one image file each, opened by every QEMU with cache=none, so one
# guest's writes reach the file before they complete and any O_DIRECT read sees them, and with
# file.locking=off, so several QEMUs may open the same image):
#   /dev/vda  OUTDIR/vda.img   64 MB, serial mxfs-lockstate: the product's lockstate region
#   /dev/vdb  OUTDIR/vdb.img  512 MB, serial mxfs-test: the shared volume (unless
#                             MXFS_CLUSTER_LUN=iscsi, below)
#   /dev/vdc  OUTDIR/vdc.img    1 MB, serial mxfs-mailbox: barriers and values between the
#                             guests (layout in tests/guest/cluster.lib)
# Network: one virtio-net NIC per guest on one L2 segment made of QEMU's multicast socket
# backend over the host's loopback (UDP multicast and TCP both cross it). Each run takes its
# own UDP port P (held by a lock under $MXFS_CLUSTER_LOCKS for the run) and group
# 239.77.(P/256).(P%256), so concurrent runs never share a segment; the MACs carry P too
# (52:54:<P>:78:1<i>), so that a guest that did see another run's guest could tell (the smoke
# scenario checks). The guests configure eth0 as 10.77.0.(10+i)/24 (qemu-ci/guest-init.sh).
# Kernel command line: mxfs_test=NAME mxfs_node=<i> mxfs_nodes=NODES.
#
# With MXFS_CLUSTER_LUN=iscsi (tests/run-cluster.sh sets it from a scenario's "# lun: iscsi"
# header) the volume is a real SCSI LUN with persistent reservations instead of vdb.img:
#   - a tgtd of this run's own on the host (Debian's tgt, PR state in its memory) with its
#     iSCSI portal on 127.0.0.1:P, P being the segment's port above, and control port
#     C = 10000 + P % 20000 (socket /var/run/tgtd/socket.C; tgtd takes no more than 32767),
#     so that neither concurrent runs nor tests/pr-tgt.sh (3261-3299 for both) meet it;
#     it exports OUTDIR/lun.img (512 MB sparse) as LUN 1 of target
#     iqn.2026-01.test.mxfs:cluster-P with SCSI serial mxfs-test; log OUTDIR/tgtd.log;
#   - every guest attaches it through QEMU's libiscsi driver as scsi-block (the guest's SCSI
#     commands, PR included, pass through to tgtd) on a virtio-scsi controller, with its own
#     initiator name iqn.2026-01.test.mxfs:cluster-P-node<i>, so each guest is its own I_T
#     nexus and sees the LUN as /dev/sda;
#   - /dev/vdb is a 1 MB read-only placeholder of zeroes (serial mxfs-novolume), so that the
#     lockstate and mailbox disks keep their names; the kernel command line gets mxfs_lun=iscsi
#     (tests/guest/cluster.lib then sets TEST_DEV=/dev/sda).
# tgtd is stopped when the guests are gone, and when this script fails or is interrupted
# (it also gets SIGKILL should this script die without cleaning up). Needs tgt and
# qemu-block-extra (qemu-ci/deps.sh).
#
# Output: OUTDIR/node<i>/serial.log, node<i>/qemu.log, node<i>/rc (QEMU's exit status, 124
# when the host-side timeout killed it), OUTDIR/net (the segment). The images are left in
# OUTDIR for the caller to inspect (run-cluster.sh runs xfs_repair on vdb.img, or lun.img,
# then deletes them). When a guest's QEMU exits before its test script ended (crash, panic,
# hang caught by the guest's watchdog, host timeout), its mailbox entry is marked dead, so
# the others fail their next barrier at once instead of waiting for its timeout.
# Exit status: 0 when every QEMU exited with 0, else 1.
#
# Environment: as vm.sh (MXFS_KDIR, MXFS_ACCEL, MXFS_VM_TIMEOUT, MXFS_VM_MEM, MXFS_VM_APPEND),
# plus MXFS_CLUSTER_SMP (vCPUs per guest, default 1: under TCG the guests share the host's
# CPUs), MXFS_CLUSTER_PORT (force the segment's UDP port, for debugging only),
# MXFS_CLUSTER_LOCKS (port locks, default /tmp/mxfs-cluster-ports), MXFS_CLUSTER_LUN (virtio,
# the default, or iscsi: see above), MXFS_VM_EXTRA_ARGS (extra QEMU arguments for every guest,
# split on blanks, as in vm.sh: tests/bench/cluster.sh adds the Debian rootfs and -icount).
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ $# -eq 4 ] || die "usage: cluster-vm.sh NAME NODES INITRD OUTDIR"
name=$1 nodes=$2 initrd=$3 out=$4
[[ $nodes =~ ^[1-8]$ ]] || die "NODES must be 1 to 8, not '$nodes'"
KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
accel=${MXFS_ACCEL:-$(bash "$ROOT/qemu-ci/accel.sh")}
timeout=${MXFS_VM_TIMEOUT:-600}
guest_timeout=$((timeout > 120 ? timeout - 60 : timeout / 2))
lun=${MXFS_CLUSTER_LUN:-virtio}
case $lun in
  virtio) ;;
  iscsi)
    command -v tgtd >/dev/null && command -v tgtadm >/dev/null || die "tgt is not installed (qemu-ci/deps.sh)"
    compgen -G "/usr/lib/*/qemu/block-iscsi.so" >/dev/null \
      || die "QEMU has no iSCSI driver: install qemu-block-extra (qemu-ci/deps.sh)"
    ;;
  *) die "MXFS_CLUSTER_LUN must be virtio or iscsi, not '$lun'" ;;
esac

mkdir -p "$out"
rm -rf "$out"/node[0-9]* "$out/vda.img" "$out/vdb.img" "$out/vdc.img" "$out/lun.img" "$out/net" "$out/tgtd.log"
truncate -s 64M "$out/vda.img"
if [ "$lun" = iscsi ]; then truncate -s 512M "$out/lun.img"; else truncate -s 512M "$out/vdb.img"; fi
truncate -s 1M "$out/vdc.img"
# cache=none opens the image with O_DIRECT: check that the filesystem holding OUTDIR allows it
# (tmpfs does not) rather than letting every QEMU fail.
dd if=/dev/zero of="$out/vdc.img" bs=512 count=1 conv=notrunc oflag=direct status=none 2>/dev/null \
  || die "$out does not support O_DIRECT (tmpfs?): put MXFS_CLUSTER_OUT on a disk filesystem"

# The segment: a UDP port nobody else uses, held under an exclusive lock for the whole run.
# The lock is what separates concurrent runs of this script; the ss check keeps clear of
# anything else on the host.
locks=${MXFS_CLUSTER_LOCKS:-/tmp/mxfs-cluster-ports}
mkdir -p "$locks"
port=
if [ -n "${MXFS_CLUSTER_PORT:-}" ]; then
  port=$MXFS_CLUSTER_PORT
else
  for _ in $(seq 200); do
    p=$((40000 + RANDOM % 20000))
    exec {lockfd}>"$locks/$p.lock"
    if flock -n "$lockfd"; then
      # With the iSCSI LUN, the run's tgtd listens on TCP port P too.
      if [ -z "$(ss -Hlun "sport = :$p")" ] \
        && { [ "$lun" != iscsi ] || [ -z "$(ss -Htan "sport = :$p")" ]; }; then
        port=$p
        break
      fi
      flock -u "$lockfd"
    fi
    exec {lockfd}>&-
  done
  [ -n "$port" ] || die "no free UDP port for the guests' network in 40000-59999"
fi
group=239.77.$((port / 256 % 256)).$((port % 256))
echo "mcast=$group:$port localaddr=127.0.0.1" >"$out/net"

case $accel in
  kvm) accel_args=(-accel kvm -cpu host) ;;
  *) accel_args=(-accel tcg -cpu max) ;;
esac

shared_disk() { # FILE ID SERIAL
  echo "-drive file=$1,format=raw,if=none,id=$2,cache=none,file.locking=off -device virtio-blk-pci,drive=$2,serial=$3"
}

# The volume of node I, as QEMU arguments: the shared vdb.img, or (iSCSI) the placeholder vdb
# and the run's LUN through a virtio-scsi controller, under the node's own initiator name.
volume_args() { # I
  if [ "$lun" = iscsi ]; then
    echo "-drive driver=null-co,size=1M,read-zeroes=on,readonly=on,if=none,id=novolume"
    echo "-device virtio-blk-pci,drive=novolume,serial=mxfs-novolume"
    echo "-iscsi initiator-name=$iqn-node$1"
    echo "-device virtio-scsi-pci,id=scsi0"
    echo "-drive file=iscsi://127.0.0.1:$port/$iqn/1,format=raw,if=none,id=test,cache=none"
    echo "-device scsi-block,drive=test,bus=scsi0.0"
  else
    shared_disk "$out/vdb.img" test mxfs-test
  fi
}

# The run's iSCSI target (MXFS_CLUSTER_LUN=iscsi): its portal is on the segment's port, which
# this run holds, its control port derives from it. tgtd ignores SIGTERM while it has
# targets: take them down, ask it to exit, SIGKILL (this tgtd only, by pid) if it is still
# there after 5 s.
tgtd_pid=
ctl=$((10000 + port % 20000))
iqn=iqn.2026-01.test.mxfs:cluster-$port
tadm() { tgtadm -C "$ctl" --lld iscsi "$@"; }
stop_tgtd() {
  [ -n "$tgtd_pid" ] || return 0
  tadm --op unbind --mode target --tid 1 -I ALL >/dev/null 2>&1 || true
  tadm --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
  tgtadm -C "$ctl" --op delete --mode system >/dev/null 2>&1 || true
  for _ in $(seq 50); do kill -0 "$tgtd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$tgtd_pid" 2>/dev/null || true
  wait "$tgtd_pid" 2>/dev/null || true
  tgtd_pid=
  rm -f "/var/run/tgtd/socket.$ctl" "/var/run/tgtd/socket.$ctl.lock"
}
start_tgtd() {
  # --pdeathsig: should this script be killed outright, tgtd goes with it.
  setpriv --pdeathsig KILL tgtd -f -C "$ctl" --iscsi "portal=127.0.0.1:$port" \
    >"$out/tgtd.log" 2>&1 </dev/null &
  tgtd_pid=$!
  local up=
  for _ in $(seq 50); do
    kill -0 "$tgtd_pid" 2>/dev/null || break
    if tadm --op show --mode sys >/dev/null 2>&1 && [ -n "$(ss -Hltn "sport = :$port")" ]; then up=1; break; fi
    sleep 0.1
  done
  [ -n "$up" ] || die "tgtd did not come up on 127.0.0.1:$port: $(tail -n 3 "$out/tgtd.log" | tr '\n' ' ')"
  tadm --op new --mode target --tid 1 -T "$iqn" \
    && tadm --op new --mode logicalunit --tid 1 --lun 1 -b "$out/lun.img" \
    && tadm --op update --mode logicalunit --tid 1 --lun 1 --params scsi_sn=mxfs-test \
    && tadm --op bind --mode target --tid 1 -I ALL \
    || die "tgtd on 127.0.0.1:$port: cannot export $out/lun.img"
  log "tgtd (pid $tgtd_pid, control port $ctl) exports $out/lun.img as $iqn LUN 1 on 127.0.0.1:$port"
}

# Barrier entry of node I (sector 128*I of vdc, see tests/guest/cluster.lib): "dead", keeping
# the step it had reached, unless the guest already recorded how its test ended.
mark_dead() {
  local i=$1 line
  line=$(dd if="$out/vdc.img" bs=512 skip=$((128 * i)) count=1 iflag=direct status=none | tr -d '\000' | head -n 1)
  read -r tag _ step state bname <<<"$line" || true
  [ "$tag" = mxfsbar ] || step=0 bname=-
  case ${state:-} in done | failed | crashed) return 0 ;; esac
  log "node$i ($name): QEMU exited before the test ended; marking the node dead in the mailbox"
  printf 'mxfsbar %s %s dead %s\n' "$i" "$step" "${bname:--}" \
    | dd of="$out/vdc.img" bs=512 seek=$((128 * i)) count=1 conv=sync,notrunc oflag=direct status=none
}

pids=() node_of=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_all; exit 130' INT TERM
trap stop_tgtd EXIT

cmdline_base="console=ttyS0 panic=-1 acpi=noirq mitigations=off printk.devkmsg=on"
if [ "$lun" = iscsi ]; then
  start_tgtd
  cmdline_base+=" mxfs_lun=iscsi"
fi
for ((i = 0; i < nodes; i++)); do
  d=$out/node$i
  mkdir -p "$d"
  cmdline="$cmdline_base mxfs_test=$name mxfs_timeout=$guest_timeout mxfs_node=$i mxfs_nodes=$nodes ${MXFS_VM_APPEND:-}"
  # shellcheck disable=SC2046,SC2086 # shared_disk(), volume_args() and MXFS_VM_EXTRA_ARGS are split
  timeout -k 10 "$timeout" qemu-system-x86_64 \
    -nodefaults -no-user-config -no-reboot -display none \
    "${accel_args[@]}" -m "${MXFS_VM_MEM:-1024}" -smp "${MXFS_CLUSTER_SMP:-1}" \
    -name "mxfs-$name-node$i" \
    -kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$initrd" \
    -append "$cmdline" \
    -serial "file:$d/serial.log" \
    $(shared_disk "$out/vda.img" lockstate mxfs-lockstate) \
    $(volume_args "$i") \
    $(shared_disk "$out/vdc.img" mailbox mxfs-mailbox) \
    -netdev "socket,id=n0,mcast=$group:$port,localaddr=127.0.0.1" \
    -device "virtio-net-pci,netdev=n0,mac=52:54:$(printf '%02x:%02x:78:%02x' $((port / 256)) $((port % 256)) $((0x10 + i)))" \
    ${MXFS_VM_EXTRA_ARGS:-} \
    >"$d/qemu.log" 2>&1 </dev/null &
  pids+=($!)
  node_of[$!]=$i
done

status=0
running=("${pids[@]}")
while ((${#running[@]} > 0)); do
  done_pid= rc=0
  wait -n -p done_pid "${running[@]}" || rc=$?
  [ -n "$done_pid" ] || break
  for k in "${!running[@]}"; do [ "${running[$k]}" != "$done_pid" ] || unset 'running[k]'; done
  running=("${running[@]}")
  i=${node_of[$done_pid]}
  echo "$rc" >"$out/node$i/rc"
  ((rc == 0)) || status=1
  touch "$out/node$i/serial.log"
  mark_dead "$i"
done
stop_tgtd
wait || true
exit "$status"
