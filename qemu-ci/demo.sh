#!/usr/bin/env bash
# make demo: boots a test VM and shows MXFS at work, narrating each step as it happens.
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=$(mktemp -d /tmp/mxfs-demo.XXXXXX)
initrd=$(bash "$ROOT/qemu-ci/initramfs.sh")
log "booting a VM (emulated CPU: this takes a minute); full console log: $out/serial.log"
bash "$ROOT/qemu-ci/vm.sh" demo "$initrd" "$out" &
vm=$!
# Follow the console: narration (#), checks (ok / not ok) and command output, no kernel noise.
# (-F: vm.sh recreates the log file when it starts.)
tail -n +1 -F --pid=$vm "$out/serial.log" 2>/dev/null | tr -d '\r' \
  | grep --line-buffered -E '^(#|ok |not ok |    )' | sed -u 's/^# //' || true
wait $vm || true
if bash "$ROOT/qemu-ci/verdict.sh" demo "$out/serial.log" >/dev/null; then
  log "demo finished: every step succeeded"
else
  bash "$ROOT/qemu-ci/verdict.sh" demo "$out/serial.log" || true
  die "demo failed; see $out/serial.log"
fi
