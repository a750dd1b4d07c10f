#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer: builds the targets in libfuzzer/ with the
# sanitizer-coverage flags cargo-fuzz uses (on the stable compiler, via RUSTC_BOOTSTRAP),
# seeds each corpus from `mxfs-fuzz --write-corpus`, and runs every target for SECONDS.
#
#   tests/fuzz/libfuzzer.sh [SECONDS] [TARGET...]      (default 60 s each, all targets)
#
# Needs a C++ compiler (libfuzzer-sys builds libFuzzer). Corpora and crashes go under
# ${MXFS_FUZZ_DIR:-/var/tmp/mxfs-fuzz}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(lockstate discovery peer hello netlink heartbeat dlm pr-in inquiry)
work=${MXFS_FUZZ_DIR:-/var/tmp/mxfs-fuzz}
target_dir=${CARGO_TARGET_DIR:-$work/target}
triple=$(rustc -vV | sed -n 's/^host: //p')

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address -Cdebug-assertions"
cargo build --quiet --release --manifest-path "$here/libfuzzer/Cargo.toml" \
    --target "$triple" --target-dir "$target_dir" --bins
unset RUSTFLAGS RUSTC_BOOTSTRAP

# Seed corpora from the deterministic harness (built without sanitizers).
cargo run --quiet --release --manifest-path "$here/Cargo.toml" --bin mxfs-fuzz -- \
    --write-corpus "$work/corpus" >/dev/null

status=0
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/crashes/$t"
    echo "libfuzzer: $t for ${secs}s"
    if ! "$target_dir/$triple/release/$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$work/crashes/$t/" "$work/corpus/$t" 2>"$work/$t.log"; then
        echo "libfuzzer: $t FAILED; see $work/$t.log and $work/crashes/$t/"
        status=1
    fi
    grep -E '^(stat::number_of_executed_units|Done)' "$work/$t.log" | tail -1 || true
done
exit $status
