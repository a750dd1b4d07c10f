#!/usr/bin/env bash
# Runs guest tests, each in its own fresh QEMU guest, at most MXFS_JOBS (2) at a time.
#
#   tests/run-guest.sh [TEST...]     default: every tests/guest/*.sh except lib.sh, pr-tgt
#                                    (pr-tgt needs a host-side tgtd: tests/pr-tgt.sh runs it)
#                                    and cluster-* (multi-VM: tests/run-cluster.sh runs them)
#
# Prints "PASS <name>" or "FAIL <name>" (followed by the reasons and the end of the guest's
# log) per test as it finishes, then "N passed, N failed"; exits non-zero on any failure.
# Full logs: $MXFS_GUEST_OUT/<name>/serial.log (default /tmp/mxfs-guest).
# Artifacts come from the environment, see qemu-ci/initramfs.sh (MXFS_KO, MXFS_BIN_DIR).
#
# Header lines a test script may carry (read here, not in the guest):
#   # needs: rootfs      attach the Debian rootfs image (qemu-ci/rootfs.sh, built once per run)
#   # timeout: SECONDS   this test's MXFS_VM_TIMEOUT, unless the environment sets one
# Lines "CONFORMANCE ..." that a test prints are repeated after its PASS/FAIL line.
set -euo pipefail
. "$(dirname "$0")/../qemu-ci/common.sh"

OUT=${MXFS_GUEST_OUT:-/tmp/mxfs-guest}
JOBS=${MXFS_JOBS:-2}

tests=()
for t in "$@"; do tests+=("$(basename "$t" .sh)"); done # "daemon", "daemon.sh", "tests/guest/daemon.sh"
if ((${#tests[@]} == 0)); then
  for f in "$ROOT"/tests/guest/*.sh; do
    n=$(basename "$f" .sh)
    case $n in lib | pr-tgt | cluster-*) ;; *) tests+=("$n") ;; esac
  done
fi
for t in "${tests[@]}"; do
  [ -f "$ROOT/tests/guest/$t.sh" ] || die "no guest test '$t' (tests/guest/$t.sh)"
done

# Shared by every guest of this run; resolved once.
export MXFS_KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
export MXFS_ACCEL=${MXFS_ACCEL:-$(bash "$ROOT/qemu-ci/accel.sh")}
initrd=$(bash "$ROOT/qemu-ci/initramfs.sh")
header() { sed -n "s/^# $2: *//p" "$ROOT/tests/guest/$1.sh" | head -n 1; } # TEST KEY
rootfs=
for t in "${tests[@]}"; do
  if [ "$(header "$t" needs)" = rootfs ]; then
    # Without the image those tests fail on their own ("no Debian rootfs disk"); the others run.
    rootfs=$(bash "$ROOT/qemu-ci/rootfs.sh") || { log "warning: no Debian rootfs image (qemu-ci/rootfs.sh failed)"; rootfs=; }
    break
  fi
done
mkdir -p "$OUT"
lock=$OUT/.print.lock

run_one() {
  local name=$1 dir=$OUT/$1 start reasons status vm_rc=0 vm_env=()
  local timeout=${MXFS_VM_TIMEOUT:-$(header "$name" timeout)}
  timeout=${timeout:-600}
  vm_env+=(MXFS_VM_TIMEOUT="$timeout")
  if [ "$(header "$name" needs)" = rootfs ]; then vm_env+=(MXFS_VM_ROOTFS="$rootfs"); fi
  start=$(date +%s)
  env "${vm_env[@]}" bash "$ROOT/qemu-ci/vm.sh" "$name" "$initrd" "$dir" || vm_rc=$?
  touch "$dir/serial.log" "$dir/qemu.log" # QEMU may have failed before creating them
  if reasons=$(bash "$ROOT/qemu-ci/verdict.sh" "$name" "$dir/serial.log"); then
    status=PASS
  else
    status=FAIL
    case $vm_rc in
      0) ;;
      124) reasons+=$'\n'"the host killed QEMU after ${timeout}s" ;;
      *) reasons+=$'\n'"QEMU exited with status $vm_rc: $(tail -n 3 "$dir/qemu.log" | tr '\n' ' ')" ;;
    esac
  fi
  echo "$status" >"$dir/result"
  echo "$status" >"$RESULTS/$name"
  # One test's report is printed in one piece even when guests finish together.
  {
    flock 9
    echo "$status $name"
    tr -d '\r' <"$dir/serial.log" | grep -E '^CONFORMANCE ' | sed 's/^/    /' || true
    if [ "$status" = FAIL ]; then
      sed 's/^/    /' <<<"$reasons"
      echo "    --- end of the test's output ($dir/serial.log, $(($(date +%s) - start))s) ---"
      # The test's own lines (from its start marker, when it got that far), not the log dump
      # that follows them.
      tr -d '\r' <"$dir/serial.log" | { if grep -q '^MXFS-TEST-BEGIN' "$dir/serial.log"; then
        sed -n '/^MXFS-TEST-BEGIN/,$p'; else cat; fi; } | sed '/^MXFS-SYSLOG-BEGIN/,$d' | tail -n 40 | sed 's/^/    /'
      # Kernel messages since /init started: the console may have missed some.
      klog=$(tr -d '\r' <"$dir/serial.log" | sed -n '/^MXFS-DMESG-BEGIN/,/^MXFS-DMESG-END/p' \
        | sed -n '/Run \/init as init process/,$p' | grep -vE '^\[[ 0-9.]+\]  |^MXFS-DMESG-END' | sed 1d | tail -n 25)
      if [ -n "$klog" ]; then
        echo "    --- end of the kernel log ---"
        sed 's/^/    /' <<<"$klog"
      fi
    elif [ "${MXFS_VERBOSE:-0}" = 1 ]; then
      echo "    ($(($(date +%s) - start))s, log $dir/serial.log)"
    fi
  } 9>>"$lock"
}

# Verdicts are counted from this run's own directory: logs under $OUT may be shared with
# another run of the harness.
RESULTS=$(mktemp -d)
trap 'rm -rf "$RESULTS"' EXIT
for t in "${tests[@]}"; do
  rm -f "$OUT/$t/result"
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  run_one "$t" &
done
wait

passed=0 failed=0
for t in "${tests[@]}"; do
  if [ "$(cat "$RESULTS/$t" 2>/dev/null)" = PASS ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
