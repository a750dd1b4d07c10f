#!/bin/sh
# fio with crc32c data verification: buffered, O_DIRECT, mmap, libaio and io_uring jobs, and
# jobs that write through one path and verify through another (page cache coherence).
# Runs on plain XFS, then on mxfs (fresh volume each), and prints
# "CONFORMANCE fio mxfs_pass=N xfs_pass=N total=N"; fails when mxfs does not pass every test
# that plain XFS passes. See docs/conformance.md.
# needs: rootfs
# timeout: 600
. /tests/guest/lib.sh
. /tests/guest/conformance.lib
conformance_run fio
finish
