#!/bin/sh
# The attr and acl tools: setfattr/getfattr round trips in user., trusted. and security.,
# limits and flags; setfacl/getfacl, access checks as an unprivileged user, default ACL
# inheritance, dump and restore.
# Runs on plain XFS, then on mxfs (fresh volume each), and prints
# "CONFORMANCE attr-acl mxfs_pass=N xfs_pass=N total=N"; fails when mxfs does not pass every test
# that plain XFS passes. See docs/conformance.md.
# needs: rootfs
# timeout: 600
. /tests/guest/lib.sh
. /tests/guest/conformance.lib
conformance_run attr-acl
finish
