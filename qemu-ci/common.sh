# Shared settings for the qemu-ci scripts. Heavy artifacts live outside the repository,
# keyed by their inputs, so a warm run reuses them and a fresh machine rebuilds them.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MXFS_CACHE:-/var/cache/mxfs}
BINDGEN=$CACHE/tools/bin/bindgen
RUSTC_KERNEL=/usr/bin/rustc
mkdir -p "$CACHE"

log() { printf '[qemu-ci] %s\n' "$*" >&2; }
die() { printf '[qemu-ci] error: %s\n' "$*" >&2; exit 1; }
