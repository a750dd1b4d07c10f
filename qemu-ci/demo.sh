#!/usr/bin/env bash
# make demo: boots two VMs that share one LUN and shows MXFS at work across them, narrating
# each step as it happens (tests/guest/cluster-demo.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=$(mktemp -d /tmp/mxfs-demo.XXXXXX)
log "booting two VMs on one shared iSCSI LUN (emulated CPUs: this takes a minute or two); logs in $out/demo"
MXFS_CLUSTER_OUT=$out bash "$ROOT/tests/run-cluster.sh" demo >"$out/result.txt" 2>&1 &
run=$!
# Follow both consoles: narration (#), checks (ok / not ok) and command output, no kernel noise.
follow() { # NODE
  local f=$out/demo/$1/serial.log
  until [ -e "$f" ] || ! kill -0 $run 2>/dev/null; do sleep 0.5; done
  tail -n +1 -F --pid=$run "$f" 2>/dev/null | sed -u 's/\r$//' \
    | grep --line-buffered -E '^(#|ok |not ok |    )' | grep --line-buffered -v '^# barrier' \
    | sed -u "s/^# //; s/^/[$1] /" || true
}
follow node0 &
follow node1 &
rc=0
wait $run || rc=$?
wait
if [ "$rc" = 0 ]; then
  log "demo finished: every step succeeded"
else
  cat "$out/result.txt"
  die "demo failed; see $out/demo"
fi
