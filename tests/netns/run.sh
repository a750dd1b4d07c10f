#!/usr/bin/env bash
# Multi-process tests of mxfsd on this host: standalone daemons in network namespaces joined by
# veth pairs to a bridge (in a namespace of its own), sharing one lockstate image under /var/tmp.
# Prints "NETNS <name> PASS|FAIL" per scenario and ends with "N passed, N failed".
# Needs root. Bounded (MXFS_NETNS_TIMEOUT seconds, default 600); removes every namespace,
# process and file it created, even on failure or interrupt.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
MODE=${MXFS_NETNS_MODE:-run}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PREFIX="mxt$$"
LIMIT=${MXFS_NETNS_TIMEOUT:-600}

cleanup() {
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PREFIX}"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf /var/tmp/"${PREFIX}"?
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
  echo "netns tests need root (ip netns)"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! cargo build --release --quiet -p mxfsd -p mxfs-netns; then
  echo "NETNS build FAIL"
  echo "0 passed, 1 failed"
  exit 1
fi
timeout --signal=TERM --kill-after=10 "$LIMIT" \
  "$TARGET/release/mxfs-netns" "$MODE" --mxfsd "$TARGET/release/mxfsd" --prefix "$PREFIX" "$@"
rc=$?
if [ $rc = 124 ] || [ $rc = 137 ]; then
  echo "NETNS timeout FAIL (over ${LIMIT} s)"
  echo "0 passed, 1 failed"
fi
exit $rc
