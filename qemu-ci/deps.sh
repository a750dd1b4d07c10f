#!/usr/bin/env bash
# Installs every host package the build and the test harness need on a fresh Debian 12.
# Idempotent: a warm machine skips the apt step in well under a second.
#   deps.sh          everything for make, make check and make demo
#   deps.sh bench    the same plus what make bench needs on the host (matplotlib for its chart)
set -euo pipefail
. "$(dirname "$0")/common.sh"

PKGS=(
  # kernel build with Rust (6.12 needs rustc >= 1.78 and matching library sources)
  linux-source-6.12 rustc-web rust-web-src libclang-dev clang lld llvm
  flex bison bc libelf-dev libssl-dev cpio xz-utils kmod
  # guests
  qemu-system-x86 busybox-static xfsprogs dash util-linux kmod gzip acl
  # the Debian rootfs image of the conformance suites and the benchmark (qemu-ci/rootfs.sh)
  debootstrap e2fsprogs
  # SCSI PR across VMs (tests/pr-tgt.sh, multi-VM scenarios with "# lun: iscsi"): userspace
  # iSCSI target, QEMU's libiscsi driver
  tgt qemu-block-extra
  # multi-process cluster tests in network namespaces (tests/netns)
  iproute2
)
if [ "${1:-}" = bench ]; then PKGS+=(python3-matplotlib); fi

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

# pjdfstest (POSIX conformance suite, Rust rewrite) for the guest rootfs (qemu-ci/rootfs.sh).
if ! [ -x "$CACHE/tools/bin/pjdfstest" ]; then
  log "installing pjdfstest 0.2.2 into $CACHE/tools"
  cargo install --quiet --locked pjdfstest --version 0.2.2 --root "$CACHE/tools"
fi

# ctdb's ping_pong (byte-range locks across nodes, tests/guest/cluster-locks.sh): the one
# program of Debian's ctdb package the tests need (it links only libc), unpacked into
# $CACHE/tools rather than installing the package and its services on the host.
if ! [ -x "$CACHE/tools/bin/ping_pong" ]; then
  log "installing ctdb's ping_pong into $CACHE/tools"
  tmp=$(mktemp -d)
  ( cd "$tmp" && { apt-get download -qq ctdb 2>/dev/null || { apt-get update -qq && apt-get download -qq ctdb; }; } ) \
    || { rm -rf "$tmp"; die "cannot download Debian's ctdb package"; }
  dpkg-deb -x "$tmp"/ctdb_*.deb "$tmp/pkg"
  mkdir -p "$CACHE/tools/bin"
  install -m 0755 "$tmp/pkg/usr/bin/ping_pong" "$CACHE/tools/bin/ping_pong"
  rm -rf "$tmp"
fi
