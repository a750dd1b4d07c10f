#!/bin/sh
# CPython's own filesystem tests (Debian libpython3.11-testsuite): test_os, test_posix,
# test_shutil, test_tempfile, test_fileio, test_mmap, test_pathlib, test_glob and a few more,
# with the working and temporary directories on the filesystem under test.
# Runs on plain XFS, then on mxfs (fresh volume each), and prints
# "CONFORMANCE python mxfs_pass=N xfs_pass=N total=N"; fails when mxfs does not pass every test
# that plain XFS passes. See docs/conformance.md.
# needs: rootfs
# timeout: 900
. /tests/guest/lib.sh
. /tests/guest/conformance.lib
conformance_run python
finish
