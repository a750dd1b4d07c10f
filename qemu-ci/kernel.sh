#!/usr/bin/env bash
# Builds (or reuses) the Rust-enabled test kernel. Prints the kernel tree path on stdout.
# Cache key: Debian linux-source version + hash of the config fragment and of this script.
set -euo pipefail
. "$(dirname "$0")/common.sh"

src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
key=$( { echo "$src_ver"; cat "$ROOT/qemu-ci/kernel.config" "$0"; } | sha256sum | cut -c1-16)
kdir=$CACHE/kernel-$key

if [ -f "$kdir/.mxfs-built" ]; then
  echo "$kdir"
  exit 0
fi

log "building test kernel $src_ver (key $key); this takes about 10 minutes on 2 cores"
tmp=$kdir.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
tar -xf /usr/src/linux-source-6.12.tar.xz -C "$tmp" --strip-components=1
kmake() { make -C "$tmp" -s -j"$(($(nproc) + 1))" LLVM=1 RUSTC="$RUSTC_KERNEL" BINDGEN="$BINDGEN" "$@"; }
kmake tinyconfig >/dev/null
(cd "$tmp" && ./scripts/kconfig/merge_config.sh -m .config "$ROOT/qemu-ci/kernel.config" >/dev/null)
kmake olddefconfig >/dev/null
# Refuse a kernel where a requested option silently fell away (a missing dependency).
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y' "$ROOT/qemu-ci/kernel.config" | while read -r line; do
  grep -qx "$line" "$tmp/.config" || echo "$line"; done)
[ -z "$missing" ] || die "kernel options not satisfiable: $(echo $missing)"
kmake bzImage modules
touch "$tmp/.mxfs-built"
rm -rf "$kdir"
mv "$tmp" "$kdir"
echo "$kdir"
