#!/bin/sh
# stress-ng's filesystem stressors, each on its own for a few seconds with --verify.
# Runs on plain XFS, then on mxfs (fresh volume each), and prints
# "CONFORMANCE stress-ng mxfs_pass=N xfs_pass=N total=N"; fails when mxfs does not pass every test
# that plain XFS passes. See docs/conformance.md.
# needs: rootfs
# timeout: 900
. /tests/guest/lib.sh
. /tests/guest/conformance.lib
conformance_run stress-ng
finish
