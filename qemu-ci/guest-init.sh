#!/bin/sh
# /init of a test guest (dash, PID 1). Runs the one test named on the kernel command
# line (mxfs_test=NAME), then prints the system log and the kernel log between markers and
# powers off. The host harness reads everything from the serial console.
# A guest of a multi-VM test (qemu-ci/cluster-vm.sh) also gets mxfs_node=I mxfs_nodes=N: it
# is then host "nodeI" with eth0 10.77.0.(10+I)/24 and a route for 239.0.0.0/8, and the test
# sees MXFS_NODE and MXFS_NODES in its environment.
#
# Markers, each alone on a line:
#   MXFS-TEST-BEGIN <name>
#   MXFS-TEST-END <name> rc=<n>        or  MXFS-TEST-TIMEOUT <name> after <s>s
#   MXFS-SYSLOG-BEGIN / MXFS-SYSLOG-END
#   MXFS-DMESG-BEGIN / MXFS-DMESG-END
#   MXFS-GUEST-DONE <name> rc=<n>      (last line; its absence means hang or panic)
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
hostname -F /etc/hostname

name= timeout=540 node= nodes=
for word in $(cat /proc/cmdline); do
  case $word in
    mxfs_test=*) name=${word#mxfs_test=} ;;
    mxfs_timeout=*) timeout=${word#mxfs_timeout=} ;;
    mxfs_node=*) node=${word#mxfs_node=} ;;   # set by qemu-ci/cluster-vm.sh only
    mxfs_nodes=*) nodes=${word#mxfs_nodes=} ;;
  esac
done

# Networking like a real host: loopback plus one NIC with a multicast route, so a daemon
# that announces itself by multicast finds an interface.
ip link set lo up
if [ -n "$node" ]; then
  # One of several guests of a multi-VM test (qemu-ci/cluster-vm.sh): eth0 is on a segment
  # shared with the other guests only; node i is 10.77.0.(10+i).
  hostname "node$node"
  ip link set eth0 up
  ip addr add "10.77.0.$((10 + node))/24" dev eth0
  ip route add 239.0.0.0/8 dev eth0
  export MXFS_NODE="$node" MXFS_NODES="${nodes:-1}"
elif ip link show eth0 >/dev/null 2>&1; then
  # A single guest: the NIC is QEMU's isolated user network (restrict=on): packets go
  # nowhere, but they do go.
  ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0
  ip route add 224.0.0.0/4 dev eth0
fi

# Daemons log to syslog; keep it in a file that is printed at the end.
syslogd -O /run/messages

# Prints the logs and powers off. Called once, by whichever of test end or watchdog is first.
finish() {
  mkdir /run/finishing 2>/dev/null || return 0
  rc=$1
  # The console stays quiet from here on; the whole kernel log follows in one piece.
  dmesg -n 1
  sync
  echo "MXFS-SYSLOG-BEGIN"
  cat /run/messages 2>/dev/null
  echo "MXFS-SYSLOG-END"
  echo "MXFS-DMESG-BEGIN"
  dmesg
  echo "MXFS-DMESG-END"
  echo "MXFS-GUEST-DONE $name rc=$rc"
  poweroff -f
}

script=/tests/guest/$name.sh
echo "MXFS-TEST-BEGIN $name"
if [ -z "$name" ] || [ ! -f "$script" ]; then
  echo "guest: no test '$name' (kernel command line: $(cat /proc/cmdline))"
  echo "MXFS-TEST-END $name rc=127"
  finish 127
fi

# A stuck test (even one blocked in the kernel) must still yield its logs: the watchdog
# reports and powers off without waiting for it.
(
  sleep "$timeout"
  echo "MXFS-TEST-TIMEOUT $name after ${timeout}s"
  echo "guest: processes at timeout:"
  ps -o pid,ppid,stat,comm,args
  for s in /proc/[0-9]*/stat; do
    pid=${s#/proc/}; pid=${pid%/stat}
    if [ "$(cut -d' ' -f3 "$s" 2>/dev/null)" = D ]; then
      echo "guest: blocked task $pid ($(cat /proc/$pid/comm)):"
      cat "/proc/$pid/stack" 2>/dev/null
    fi
  done
  finish 124
) &

cd /
[ -z "$node" ] || echo "guest: node $node of $MXFS_NODES, $(hostname), eth0 10.77.0.$((10 + node))/24"
TEST_NAME=$name sh "$script" </dev/null
rc=$?
echo "MXFS-TEST-END $name rc=$rc"
finish "$rc"
# poweroff -f does not return; if it ever did, the kernel would panic on init's exit.
sleep 1000000
