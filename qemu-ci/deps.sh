#!/usr/bin/env bash
# Installs every host package the build and the test harness need on a fresh Debian 12.
# Idempotent: a warm machine skips the apt step in well under a second.
set -euo pipefail
. "$(dirname "$0")/common.sh"

PKGS=(
  # kernel build with Rust (6.12 needs rustc >= 1.78 and matching library sources)
  linux-source-6.12 rustc-web rust-web-src libclang-dev clang lld llvm
  flex bison bc libelf-dev libssl-dev cpio xz-utils kmod
  # guests
  qemu-system-x86 busybox-static xfsprogs dash util-linux kmod gzip
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing host packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bindgen for the kernel's Rust bindings; the version the 6.12 tree expects.
if ! [ -x "$BINDGEN" ]; then
  log "installing bindgen-cli 0.71 into $CACHE/tools"
  cargo install --quiet --locked bindgen-cli --version '^0.71' --root "$CACHE/tools"
fi
