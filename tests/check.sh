#!/usr/bin/env bash
# The whole test suite: the workspace's cargo tests, then every guest test, then the multi-VM
# scenarios (tests/run-cluster.sh), then the PR test against a host-side tgtd (tests/pr-tgt.sh).
# Ends with one line "N passed, N failed" summing both; exits non-zero on any failure.
# Expects the build to be done already (make check runs deps, kernel, module, cargo build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo_rc=0
cargo test --workspace 2>&1 | tee "$log" || cargo_rc=$?
# Sum "test result: ok. 12 passed; 0 failed; ..." over every test binary.
read -r cargo_passed cargo_failed < <(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log" \
  | awk '{p += $1; f += $2} END {print p + 0, f + 0}')
# A build failure runs no test at all: count it as a failure rather than as nothing.
if ((cargo_rc != 0 && cargo_failed == 0)); then cargo_failed=1; fi
echo "cargo: $cargo_passed passed, $cargo_failed failed"

# Deterministic simulation of the cluster core and brief fuzzing of every decoder: each is one
# test here; a failure prints the command that replays it.
bin=${CARGO_TARGET_DIR:-$ROOT/target}/release
tool_passed=0 tool_failed=0
run_tool() { # NAME CMD...
  local name=$1; shift
  if "$@"; then echo "PASS $name"; tool_passed=$((tool_passed + 1));
  else echo "FAIL $name"; tool_failed=$((tool_failed + 1)); fi
}
run_tool simulation "$bin/mxfs-sim" --seeds "${MXFS_SIM_SEEDS:-10000}"
run_tool fuzz "$bin/mxfs-fuzz" --seconds "${MXFS_FUZZ_SECONDS:-8}"
cargo_passed=$((cargo_passed + tool_passed)) cargo_failed=$((cargo_failed + tool_failed))

# Several mxfsd processes in network namespaces sharing one lockstate image.
netns_rc=0
bash "$ROOT/tests/netns/run.sh" 2>&1 | tee "$log" || netns_rc=$?
read -r netns_passed netns_failed < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" \
  | awk '{p = $1; f = $2} END {print p + 0, f + 0}')
if ((netns_rc != 0 && netns_failed == 0)); then netns_failed=1; fi
cargo_passed=$((cargo_passed + netns_passed)) cargo_failed=$((cargo_failed + netns_failed))

guest_rc=0
bash "$ROOT/tests/run-guest.sh" 2>&1 | tee "$log" || guest_rc=$?
read -r guest_passed guest_failed < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" \
  | awk '{p = $1; f = $2} END {print p + 0, f + 0}')
if ((guest_rc != 0 && guest_failed == 0)); then guest_failed=1; fi

# Multi-VM scenarios: guests booted together, sharing disks and a network; one test each.
cluster_rc=0
bash "$ROOT/tests/run-cluster.sh" 2>&1 | tee "$log" || cluster_rc=$?
read -r cluster_passed cluster_failed < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" \
  | awk '{p = $1; f = $2} END {print p + 0, f + 0}')
if ((cluster_rc != 0 && cluster_failed == 0)); then cluster_failed=1; fi
guest_passed=$((guest_passed + cluster_passed)) guest_failed=$((guest_failed + cluster_failed))

# SCSI PR against a real iSCSI target (a host-side tgtd and three guests): one test.
tool_passed=0 tool_failed=0
run_tool pr-tgt bash "$ROOT/tests/pr-tgt.sh"
cargo_passed=$((cargo_passed + tool_passed)) cargo_failed=$((cargo_failed + tool_failed))

echo "$((cargo_passed + guest_passed)) passed, $((cargo_failed + guest_failed)) failed"
((cargo_rc == 0 && netns_rc == 0 && guest_rc == 0 && cluster_rc == 0 && cargo_failed + guest_failed == 0))
