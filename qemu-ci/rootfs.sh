#!/usr/bin/env bash
# Builds (or reuses) the Debian root filesystem image used by guest tests that need more than
# busybox (the conformance suites, the benchmark), and prints its path on stdout.
#
# Contents: Debian 12 "bookworm", debootstrap --variant=minbase, plus the packages in PKGS
# (python3 with CPython's own test suite, stress-ng, fio, attr, acl, xfsprogs, nfs-utils, ...)
# and pjdfstest (built from crates.io by qemu-ci/deps.sh). Documentation, manuals, locales and
# the apt caches are removed. The tree becomes an ext4 image without any mount (mke2fs -d).
#
# The image holds third-party software only. The product (module, binaries) and the tests come
# from the initramfs of each run: a guest test mounts this image (a virtio disk with serial
# "mxfs-rootfs", attached by qemu-ci/vm.sh when MXFS_VM_ROOTFS is set, in QEMU's snapshot mode
# so the file never changes) and runs the suites chrooted into it.
#
# Cache: $CACHE/rootfs/rootfs-<key>.ext4, key = hash of this script (package list included)
# and of the pjdfstest binary. Building takes a few minutes (downloads ~100 MB of packages).
# Environment: MXFS_DEBIAN_MIRROR (default: the host's first Debian URI, else deb.debian.org).
set -euo pipefail
. "$(dirname "$0")/common.sh"

SUITE=bookworm
PKGS=(
  python3 libpython3.11-testsuite # CPython's own test modules (test_os, test_posix, ...)
  stress-ng fio attr acl          # stressors, verified I/O, the xattr and ACL tools
  xfsprogs util-linux kmod procps # xfs_io, mount, findmnt, ps
  tar xz-utils                    # benchmark: untar a source tree
  nfs-kernel-server               # cluster benchmark: knfsd's userspace and mount.nfs
)
PJDFSTEST=$CACHE/tools/bin/pjdfstest
[ -x "$PJDFSTEST" ] || die "$PJDFSTEST missing (run qemu-ci/deps.sh)"

key=$( { cat "$0"; sha256sum <"$PJDFSTEST"; } | sha256sum | cut -c1-16)
out_dir=$CACHE/rootfs
out=$out_dir/rootfs-$key.ext4
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi

mirror=${MXFS_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
fi

mkdir -p "$out_dir"
stage=$(mktemp -d "$out_dir/.stage.XXXXXX")
tmp=$(mktemp "$out_dir/.build.XXXXXX")
trap 'rm -rf "$stage" "$tmp"' EXIT

log "building the Debian $SUITE rootfs (key $key) from $mirror; this takes a few minutes"
include=$(IFS=,; echo "${PKGS[*]}")
# One retry: a mirror hiccup should not cost a whole test run.
for try in 1 2; do
  if debootstrap --variant=minbase --include="$include" "$SUITE" "$stage" "$mirror" >"$stage.log" 2>&1; then
    break
  fi
  tail -n 20 "$stage.log" >&2
  [ "$try" = 1 ] || { rm -f "$stage.log"; die "debootstrap failed"; }
  log "debootstrap failed; retrying once"
  rm -rf "$stage" && mkdir -p "$stage"
done
rm -f "$stage.log"

# Slim it down: nothing in the guest reads documentation, translations or package caches.
rm -rf "$stage"/usr/share/{doc,man,info,locale,lintian,linda}/* "$stage"/var/cache/apt/* \
  "$stage"/var/lib/apt/lists/* "$stage"/var/log/*.log "$stage"/var/cache/debconf/*-old
# Bytecode for the whole standard library and its tests, so the guest never compiles
# (slow under emulation). The timestamps in the .pyc files match the sources of the image.
chroot "$stage" python3 -m compileall -q -j 0 /usr/lib/python3.11 >/dev/null 2>&1 || true

install -m 0755 "$PJDFSTEST" "$stage/usr/local/bin/pjdfstest"
# Every library pjdfstest links must exist in the image (it is built against the same Debian).
for lib in $(ldd "$PJDFSTEST" | awk '/=> \//{print $3}'); do
  [ -e "$stage$lib" ] || { mkdir -p "$stage$(dirname "$lib")"; cp -L "$lib" "$stage$lib"; }
done

echo mxfs-guest >"$stage/etc/hostname"
: >"$stage/etc/fstab"

# Size: the tree plus a quarter, and inodes for every file plus headroom.
mb=$(du -sm "$stage" | cut -f1)
files=$(find "$stage" | wc -l)
size=$((mb + mb / 4 + 128))
mke2fs -q -F -t ext4 -L mxfs-rootfs -m 0 -N $((files + files / 2 + 20000)) -d "$stage" "$tmp" "${size}M"
chmod 644 "$tmp"
mv "$tmp" "$out"
# Keep the cache small: the two newest images are plenty.
ls -1t "$out_dir"/rootfs-*.ext4 | tail -n +3 | xargs -r rm -f
log "rootfs ${size} MB, $files files: $out"
echo "$out"
