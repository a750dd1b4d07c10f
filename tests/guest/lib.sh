# Helpers shared by the guest tests (POSIX sh: dash, with busybox for the small tools; sourced). Every check prints one line:
#   ok N - what was checked
#   not ok N - what was checked (details)      followed by the command's output, indented
# and `finish` prints "MXFS-TEST-RESULT pass|fail ..." and exits; the host reads those.
# Lines starting with "#" are commentary.

TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
SCRATCH_DEV=/dev/vda # 64 MB, never formatted
TEST_DEV=/dev/vdb    # 512 MB test volume
MNT=/mnt/test
N=0
FAILED=0
mkdir -p "$MNT"

say() { printf '# %s\n' "$*"; }
indent() { [ -z "$1" ] || printf '%s\n' "$1" | head -n 30 | sed 's/^/    /'; }
pass() { N=$((N + 1)); printf 'ok %s - %s\n' "$N" "$*"; }
fail() { N=$((N + 1)); FAILED=$((FAILED + 1)); printf 'not ok %s - %s\n' "$N" "$*"; }

# Each check returns non-zero when it failed, for `check ... || fatal ...`.

# check DESC CMD...: CMD must succeed.
check() {
  _d=$1; shift
  if _out=$("$@" 2>&1); then pass "$_d"; else fail "$_d (exit $?: $*)"; indent "$_out"; return 1; fi
}

# check_fails DESC CMD...: CMD must fail. Its output is left in $OUT for further checks.
check_fails() {
  _d=$1; shift
  if OUT=$("$@" 2>&1); then fail "$_d (succeeded: $*)"; indent "$OUT"; return 1; else pass "$_d"; fi
}

# assert_eq DESC EXPECTED ACTUAL
assert_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$2', got '$3')"; return 1; fi
}

# assert_match DESC EXTENDED-REGEX TEXT: some line of TEXT matches (case-insensitive).
assert_match() {
  if printf '%s\n' "$3" | grep -qiE -- "$2"; then pass "$1"; else fail "$1 (no line matches /$2/)"; indent "$3"; return 1; fi
}

# wait_until DESC SECONDS CMD...: CMD succeeds within SECONDS (polled 5 times a second).
wait_until() {
  _d=$1 _t=$(($2 * 5)); shift 2
  while [ "$_t" -gt 0 ]; do
    if "$@" >/dev/null 2>&1; then pass "$_d"; return 0; fi
    sleep 0.2
    _t=$((_t - 1))
  done
  fail "$_d (timed out: $*)"
  indent "$("$@" 2>&1)"
  return 1
}

finish() {
  if [ "$FAILED" -eq 0 ] && [ "$N" -gt 0 ]; then
    echo "MXFS-TEST-RESULT pass $TEST_NAME checks=$N"
    exit 0
  fi
  echo "MXFS-TEST-RESULT fail $TEST_NAME checks=$N failed=$FAILED"
  exit 1
}

# fatal MSG: record a failure and stop here (for when later checks would be meaningless).
fatal() { fail "$*"; finish; }

# --- mxfs specifics ---------------------------------------------------------------------

# Stops the test early when the initramfs lacks part of the product (not built yet).
require_product() {
  for f in /usr/sbin/mxfsd /usr/sbin/mxfsadm /sbin/mount.mxfs /usr/bin/fsops \
    "/lib/modules/$(uname -r)/extra/mxfs.ko"; do
    [ -e "$f" ] || fatal "this initramfs lacks $f (build it, then rerun)"
  done
  pass "initramfs has mxfsd, mxfsadm, mount.mxfs, fsops and mxfs.ko"
}

mkfs_test_dev() { check "mkfs.xfs $TEST_DEV" mkfs.xfs -q -f "$TEST_DEV"; }

# The XFS superblock UUID, as mxfs names the volume.
volume_uuid() { xfs_db -r -c uuid "$1" 2>/dev/null | sed -n 's/^UUID = //p'; }

mxfsd_pids() { pidof mxfsd; }
no_mxfsd() { ! pidof mxfsd >/dev/null; }
# Lines of /proc/mounts for mxfs or xfs (the lower XFS of a stacked mount shows as xfs).
fs_mounts() { grep -E '^[^ ]+ [^ ]+ (mxfs|xfs) ' /proc/mounts; }
no_fs_mounts() { ! fs_mounts >/dev/null; }
is_mounted() { grep -qE "^[^ ]+ $1 $2 " /proc/mounts; } # MOUNTPOINT FSTYPE

# The state after any unmount or failed mount: no daemon, nothing mounted.
check_nothing_left() {
  check "$1: no mxfsd process" no_mxfsd
  if no_fs_mounts; then pass "$1: no mxfs or xfs mount"; else fail "$1: no mxfs or xfs mount"; indent "$(fs_mounts)"; fi
}

xfs_repair_clean() {
  check "xfs_repair -n ${1:-$TEST_DEV} is clean" xfs_repair -n "${1:-$TEST_DEV}"
}

# Kernel log lines printed after a mark: `m=$(dmesg_mark)`, later `dmesg_since "$m"`.
dmesg_mark() { dmesg | wc -l; }
dmesg_since() { dmesg | tail -n +$(($1 + 1)); }
