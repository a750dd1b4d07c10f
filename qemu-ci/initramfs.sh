#!/usr/bin/env bash
# Builds the test guests' initramfs (gzip cpio) and prints its path on stdout.
#
# Contents: busybox-static applets; dash as /bin/sh; the real util-linux mount/umount (so
# mount(8) runs /sbin/mount.mxfs as on a real host); kmod; xfsprogs; the mxfs binaries and
# module; every dynamically linked binary's libraries; the guest tests; /init
# (qemu-ci/guest-init.sh).
#
# Inputs (environment):
#   MXFS_KDIR        kernel tree (default: the cached one from kernel.sh)
#   MXFS_KO          module (default: kernel/mxfs.ko)
#   MXFS_BIN_DIR     directory with mxfsd, mxfsadm, mount.mxfs (or mount-mxfs), fsops
#                    (default: $CARGO_TARGET_DIR/release, else target/release)
#   MXFS_EXTRA_BINS  extra host programs to include, e.g. "strace" (for debugging)
# A missing mxfs artifact is reported and left out, so the harness still runs tests that do
# not need it (xfs-baseline); tests that need it fail saying what is missing.
#
# The image is cached under $CACHE/initramfs by a hash of every input file, so a rebuild
# happens exactly when a binary, the module, a test or this script changes.
set -euo pipefail
. "$(dirname "$0")/common.sh"

KDIR=${MXFS_KDIR:-$(bash "$ROOT/qemu-ci/kernel.sh")}
KO=${MXFS_KO:-$ROOT/kernel/mxfs.ko}
BIN_DIR=${MXFS_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
RELEASE=$(make -s -C "$KDIR" kernelrelease)

# Host programs copied into the guest's /usr/bin. Everything else is busybox.
# dash is /bin/sh: Debian's busybox ash runs its own applet for any name it knows (mount,
# modprobe, ...) whatever PATH says, so tests under ash would never run the real tools.
HOST_TOOLS=(dash mount umount blkid kmod mkfs.xfs xfs_repair xfs_db xfs_io setfacl getfacl setpriv)
KMOD_LINKS=(modprobe rmmod insmod lsmod modinfo depmod)

# Resolve a host program name to its path (Debian keeps some in sbin).
host_path() { PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$1" || die "host program $1 not found (run qemu-ci/deps.sh)"; }

# Product files: "source:guest path". The mount helper may be named either way.
product=()
add_product() { if [ -f "$1" ]; then product+=("$1:$2"); else log "warning: $1 not found; the guest will lack $2"; fi; }
add_product "$BIN_DIR/mxfsd" /usr/sbin/mxfsd
add_product "$BIN_DIR/mxfsadm" /usr/sbin/mxfsadm
helper=$BIN_DIR/mount.mxfs # cargo may build it as mount-mxfs
if ! [ -f "$helper" ] && [ -f "$BIN_DIR/mount-mxfs" ]; then helper=$BIN_DIR/mount-mxfs; fi
add_product "$helper" /usr/sbin/mount.mxfs
add_product "$BIN_DIR/fsops" /usr/bin/fsops
add_product "$BIN_DIR/mxfs-pr" /usr/sbin/mxfs-pr # SCSI PR tool (tests/guest/pr-*.sh)
add_product "$KO" "/usr/lib/modules/$RELEASE/extra/mxfs.ko"

tools=()
for t in "${HOST_TOOLS[@]}" ${MXFS_EXTRA_BINS:-}; do tools+=("$(host_path "$t"):/usr/bin/$t"); done
# ctdb's byte-range lock test (qemu-ci/deps.sh unpacks it).
if [ -x "$CACHE/tools/bin/ping_pong" ]; then tools+=("$CACHE/tools/bin/ping_pong:/usr/bin/ping_pong"); else log "warning: $CACHE/tools/bin/ping_pong missing (run qemu-ci/deps.sh)"; fi
busybox=$(host_path busybox)

# Cache key: contents of every input, the guest paths they go to, and the kernel release.
inputs=("$0" "$ROOT/qemu-ci/guest-init.sh" "$busybox" "$ROOT"/tests/guest/*)
for pair in "${tools[@]}" "${product[@]}"; do inputs+=("${pair%%:*}"); done
key=$( { printf '%s\n' "$RELEASE" "${tools[@]}" "${product[@]}"; sha256sum "${inputs[@]}" | cut -c1-64; } \
  | sha256sum | cut -c1-16)
out_dir=$CACHE/initramfs
out=$out_dir/initramfs-$key.cpio.gz
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi

stage=$(mktemp -d /tmp/mxfs-initramfs.XXXXXX)
trap 'rm -rf "$stage"' EXIT

# Merged-/usr layout, as on Debian 12: /bin, /sbin, /lib, /lib64 point into /usr.
mkdir -p "$stage"/usr/{bin,sbin,lib,lib64} "$stage"/{dev,proc,sys,tmp,run,mnt,root,etc/mxfs,var/lib/mxfs,var/log}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$stage/$d"; done
chmod 1777 "$stage/tmp"

# busybox applets first; real programs below replace some of the links.
cp "$busybox" "$stage/usr/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$stage/usr/bin/$applet"
done

elfs=()
install_file() { # SRC DEST-IN-GUEST [MODE]
  local dst=$stage$2
  mkdir -p "$(dirname "$dst")"
  rm -f "$dst" # never write through an applet symlink into busybox
  cp -L "$1" "$dst"
  chmod "${3:-755}" "$dst"
  if file_is_dynamic_elf "$1"; then elfs+=("$1"); fi
}
file_is_dynamic_elf() { [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] && ldd "$1" >/dev/null 2>&1; }

for pair in "${tools[@]}"; do install_file "${pair%%:*}" "${pair#*:}"; done
ln -sf dash "$stage/usr/bin/sh"
for l in "${KMOD_LINKS[@]}"; do rm -f "$stage/usr/bin/$l" "$stage/usr/sbin/$l"; ln -s ../bin/kmod "$stage/usr/sbin/$l"; done
for pair in "${product[@]}"; do
  case ${pair#*:} in *.ko) install_file "${pair%%:*}" "${pair#*:}" 644 ;; *) install_file "${pair%%:*}" "${pair#*:}" ;; esac
done

# Shared libraries and the loader of every dynamic binary, at the paths ldd reports.
for elf in "${elfs[@]}"; do
  ldd "$elf" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$stage$(dirname "$lib")"
  [ -e "$stage$lib" ] || cp -L "$lib" "$stage$lib"
done

# Module metadata, so modprobe (and the kernel's request_module) can find mxfs.
mdir=$stage/usr/lib/modules/$RELEASE
mkdir -p "$mdir"
for f in modules.order modules.builtin modules.builtin.modinfo; do
  if [ -f "$KDIR/$f" ]; then cp "$KDIR/$f" "$mdir/"; else : >"$mdir/$f"; fi
done
depmod -b "$stage" "$RELEASE"

# Users: root, and nobody/nogroup for the unprivileged checks.
cat >"$stage/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
EOF
cat >"$stage/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo "/bin/sh" >"$stage/etc/shells"
: >"$stage/etc/fstab"
ln -s /proc/self/mounts "$stage/etc/mtab"
echo mxfs-guest >"$stage/etc/hostname"

mkdir -p "$stage/tests/guest"
cp "$ROOT"/tests/guest/* "$stage/tests/guest/"
install_file "$ROOT/qemu-ci/guest-init.sh" /init

# The kernel opens /dev/console for /init before devtmpfs is mounted: the node must be in
# the archive. A second concatenated archive made by the kernel's gen_init_cpio provides it
# without needing mknod privileges here.
mkdir -p "$out_dir"
tmp=$(mktemp "$out_dir/.build.XXXXXX")
(
  cd "$stage"
  find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible
  printf 'nod /dev/console 0600 0 0 c 5 1\nnod /dev/null 0666 0 0 c 1 3\n' \
    | "$KDIR/usr/gen_init_cpio" /dev/stdin
) | gzip -1 >"$tmp"
mv "$tmp" "$out"
# Keep the cache small: the five newest images are plenty.
ls -1t "$out_dir"/initramfs-*.cpio.gz | tail -n +6 | xargs -r rm -f
log "initramfs $(du -h "$out" | cut -f1) for kernel $RELEASE: $out"
echo "$out"
