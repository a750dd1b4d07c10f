#!/usr/bin/env bash
# Lock latency and throughput, and the time to declare a silent node dead, measured with
# standalone mxfsd daemons in network namespaces. Prints "BENCH <name> value=<v> unit=<u>".
exec env MXFS_NETNS_MODE=bench MXFS_NETNS_TIMEOUT="${MXFS_NETNS_TIMEOUT:-900}" \
  bash "$(dirname "$0")/run.sh" "$@"
