#!/usr/bin/env bash
# Runs multi-VM tests: for each scenario, boots its guests together (qemu-ci/cluster-vm.sh),
# sharing the lockstate disk, the volume, a mailbox disk and one network segment, each guest
# running its role of tests/guest/cluster-<scenario>.sh. Scenarios run one after another.
#
#   tests/run-cluster.sh [SCENARIO...]   default: every tests/guest/cluster-*.sh
#                                        ("smoke", "cluster-smoke" and the path all work)
#
# A scenario passes when every node passes by qemu-ci/verdict.sh (no failed check, a result
# marker, the final marker, no kernel bug signature), and, when a node formatted the volume
# (cluster_mkfs in tests/guest/cluster.lib), when xfs_repair -n on the host finds the image
# (vdb.img, or the iSCSI LUN's backing file lun.img) clean after all guests are gone. Prints
# "CLUSTER <scenario> PASS|FAIL" per scenario (a FAIL is followed by indented reasons and the
# end of each failing node's output), then "N passed, N failed"; exits non-zero on any failure.
#
# Header lines a scenario may carry (read here, not in the guest):
#   # nodes: N           guests to boot (2, the default, or 3)
#   # timeout: SECONDS   MXFS_VM_TIMEOUT of its guests, unless the environment sets one
#   # lun: iscsi         the volume is a SCSI LUN with persistent reservations, exported by a
#                        tgtd of the run's own over iSCSI and seen by every guest as /dev/sda
#                        (qemu-ci/cluster-vm.sh); without it, the virtio disk /dev/vdb.
#                        MXFS_CLUSTER_LUN=virtio|iscsi in the environment overrides it.
# Logs: $MXFS_CLUSTER_OUT/<scenario>/node<i>/serial.log (default /tmp/mxfs-cluster), with an
# iSCSI LUN tgtd's in <scenario>/tgtd.log; the disk images are deleted after judging unless
# MXFS_KEEP_DISKS=1. Concurrent runs need different MXFS_CLUSTER_OUT: a scenario whose
# directory another run is using fails at once.
# Artifacts come from the environment as for tests/run-guest.sh (MXFS_KO, MXFS_BIN_DIR, ...).
# Other environment: MXFS_VERBOSE=1 (time and log path for passing scenarios too), and what
# qemu-ci/cluster-vm.sh reads (MXFS_VM_TIMEOUT, MXFS_VM_MEM, MXFS_VM_APPEND, MXFS_CLUSTER_SMP).
set -euo pipefail
. "$(dirname "$0")/../qemu-ci/common.sh"

OUT=${MXFS_CLUSTER_OUT:-/tmp/mxfs-cluster}

scenarios=()
for s in "$@"; do s=$(basename "$s" .sh); scenarios+=("${s#cluster-}"); done
if ((${#scenarios[@]} == 0)); then
  for f in "$ROOT"/tests/guest/cluster-*.sh; do
    [ -e "$f" ] || continue
    s=$(basename "$f" .sh); scenarios+=("${s#cluster-}")
  done
fi
for s in "${scenarios[@]}"; do
  [ -f "$ROOT/tests/guest/cluster-$s.sh" ] || die "no multi-VM scenario '$s' (tests/guest/cluster-$s.sh)"
done

export MXFS_KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
export MXFS_ACCEL=${MXFS_ACCEL:-$(bash "$ROOT/qemu-ci/accel.sh")}
initrd=$(bash "$ROOT/qemu-ci/initramfs.sh")
header() { sed -n "s/^# $2: *//p" "$ROOT/tests/guest/cluster-$1.sh" | head -n 1; } # SCENARIO KEY

# The test's own lines of one serial log (from its start marker), without the log dump.
test_output() {
  tr -d '\r' <"$1" | { if grep -q '^MXFS-TEST-BEGIN' "$1"; then sed -n '/^MXFS-TEST-BEGIN/,$p'; else cat; fi; } \
    | sed '/^MXFS-SYSLOG-BEGIN/,$d'
}

run_scenario() { # SCENARIO: prints the verdict and the reasons; returns non-zero on FAIL
  local s=$1 name=cluster-$1 dir=$OUT/$1 start nodes timeout lun volume vm_rc=0 failed=0 i log reasons rc dirlock
  nodes=$(header "$s" nodes) nodes=${nodes:-2}
  timeout=${MXFS_VM_TIMEOUT:-$(header "$s" timeout)} timeout=${timeout:-600}
  lun=${MXFS_CLUSTER_LUN:-$(header "$s" lun)} lun=${lun:-virtio}
  case $lun in
    virtio) volume=$dir/vdb.img ;;
    iscsi) volume=$dir/lun.img ;;
    *)
      echo "CLUSTER $s FAIL"
      echo "    lun '$lun' (header '# lun:' or MXFS_CLUSTER_LUN): virtio or iscsi"
      return 1
      ;;
  esac
  local report=()
  start=$(date +%s)
  mkdir -p "$dir"
  # Two runs must not share the images and logs: another run with the same MXFS_CLUSTER_OUT
  # holds this lock while its scenario boots, is judged and its images are deleted.
  exec {dirlock}>"$dir/.lock"
  if ! flock -n "$dirlock"; then
    exec {dirlock}>&-
    echo "CLUSTER $s FAIL"
    echo "    $dir is in use by another run of tests/run-cluster.sh (set MXFS_CLUSTER_OUT)"
    return 1
  fi
  rm -f "$dir/result"
  MXFS_VM_TIMEOUT=$timeout MXFS_CLUSTER_LUN=$lun \
    bash "$ROOT/qemu-ci/cluster-vm.sh" "$name" "$nodes" "$initrd" "$dir" 2>"$dir/host.log" || vm_rc=$?
  if ((vm_rc != 0)) && ! [ -f "$dir/node0/rc" ]; then
    failed=1
    report+=("qemu-ci/cluster-vm.sh failed before booting the guests: $(tail -n 3 "$dir/host.log" | tr '\n' ' ')")
  fi
  for ((i = 0; i < nodes; i++)); do
    log=$dir/node$i/serial.log
    mkdir -p "$dir/node$i"
    touch "$log" "$dir/node$i/qemu.log"
    # A node that crashed on purpose (crash_now) ends its log at the crash: judged by what it
    # printed until then, as if it had ended there.
    judged=$log
    # (grep -c reads everything: with -q, tr could die of SIGPIPE and pipefail fail the test.)
    if tr -d '\r' <"$log" | grep -c "^MXFS-CLUSTER-CRASH $name" >/dev/null; then
      judged=$dir/node$i/judged.log
      { cat "$log"; echo "MXFS-TEST-END $name rc=0"; echo "MXFS-GUEST-DONE $name rc=0"; } >"$judged"
    fi
    if reasons=$(bash "$ROOT/qemu-ci/verdict.sh" "$name" "$judged"); then
      continue
    fi
    failed=1
    rc=$(cat "$dir/node$i/rc" 2>/dev/null || echo '?')
    case $rc in
      0) ;;
      124) reasons+=$'\n'"the host killed QEMU after ${timeout}s" ;;
      *) reasons+=$'\n'"QEMU exited with status $rc: $(tail -n 3 "$dir/node$i/qemu.log" | tr '\n' ' ')" ;;
    esac
    report+=("node$i: $(head -n 1 <<<"$reasons")")
    while IFS= read -r l; do report+=("  $l"); done < <(tail -n +2 <<<"$reasons")
    report+=("--- node$i: end of the test's output ($log) ---")
    while IFS= read -r l; do report+=("$l"); done < <(test_output "$log" | tail -n 25)
  done
  # The volume, when a node formatted it: checked with every guest gone.
  if grep -qs '^MXFS-CLUSTER-MKFS ' "$dir"/node*/serial.log; then
    if timeout 300 xfs_repair -n -f "$volume" >"$dir/xfs_repair.log" 2>&1; then
      :
    else
      failed=1
      report+=("xfs_repair -n on the shared volume is not clean ($dir/xfs_repair.log):")
      while IFS= read -r l; do report+=("  $l"); done < <(grep -vE '^ *- |^Phase |host filesystem geometry|sector size mismatch|the image and the host' \
        "$dir/xfs_repair.log" | head -n 15)
    fi
  fi
  [ "${MXFS_KEEP_DISKS:-0}" = 1 ] || rm -f "$dir/vda.img" "$dir/vdb.img" "$dir/vdc.img" "$dir/lun.img"
  exec {dirlock}>&-
  if ((failed)); then
    echo FAIL >"$dir/result"
    echo "CLUSTER $s FAIL"
    printf '    %s\n' "${report[@]}" "($((nodes)) nodes, $lun volume, $(($(date +%s) - start))s, logs in $dir)"
    return 1
  fi
  echo PASS >"$dir/result"
  echo "CLUSTER $s PASS"
  if [ "${MXFS_VERBOSE:-0}" = 1 ]; then echo "    ($nodes nodes, $lun volume, $(($(date +%s) - start))s, logs in $dir)"; fi
}

mkdir -p "$OUT"
passed=0 failed=0
for s in "${scenarios[@]}"; do
  if run_scenario "$s"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
((failed == 0))
