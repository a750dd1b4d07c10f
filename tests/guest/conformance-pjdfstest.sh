#!/bin/sh
# pjdfstest (the Rust rewrite from crates.io): ~400 POSIX checks of chmod, chown, link,
# mkdir, mkfifo, mknod, open, rename, rmdir, symlink, truncate, unlink, utimensat, and their errnos.
# Runs on plain XFS, then on mxfs (fresh volume each), and prints
# "CONFORMANCE pjdfstest mxfs_pass=N xfs_pass=N total=N"; fails when mxfs does not pass every test
# that plain XFS passes. See docs/conformance.md.
# needs: rootfs
# timeout: 600
. /tests/guest/lib.sh
. /tests/guest/conformance.lib
conformance_run pjdfstest
finish
