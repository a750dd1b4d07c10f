#!/usr/bin/env python3
"""Summarizes the cluster benchmark's guest logs: cluster_report.py OUTDIR LOG...

Takes the "BENCHRAW <fs> <round> <name> <value> <unit>" lines of every log (fs: owner,
member, nfs, failover), prints for each measurement
  BENCH <name> member=<median> owner=<median> nfs=<median> ratio_member_owner=<r>
        ratio_nfs_owner=<r> unit=<unit>                                    (on one line)
and for the failover
  BENCH failover-first-write value=<ms> unit=ms
then "BENCH-FAILED <name> on <fs> (round R): <reason>" for each operation that failed, and
writes the same lines to OUTDIR/bench-cluster.txt. Values are rates (higher is better) but for
the failover; a missing value prints as "-", its ratio as "-".
"""
import os
import statistics
import sys

FS = ("member", "owner", "nfs")


def parse(logs):
    rows, order, failures, failover = {}, [], {}, []
    for log in logs:
        with open(log, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("BENCHFAIL "):
                    _, fs, rnd, name, why = line.split(" ", 4)
                    failures.setdefault((name, fs), (why, []))[1].append(rnd)
                    continue
                parts = line.split()
                if len(parts) != 6 or parts[0] != "BENCHRAW":
                    continue
                _, fs, _round, name, value, unit = parts
                if fs == "failover":
                    failover.append((name, float(value), unit))
                    continue
                if name not in rows:
                    rows[name] = {"unit": unit, "member": [], "owner": [], "nfs": []}
                    order.append(name)
                rows[name].setdefault(fs, []).append(float(value))
    return rows, order, failures, failover


def fmt(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.2f" % v


def ratio(a, b):
    return "%.3f" % (a / b) if a is not None and b else "-"


def main(argv):
    out, logs = argv[1], argv[2:]
    rows, order, failures, failover = parse(logs)
    lines = []
    for name in order:
        r = rows[name]
        med = {fs: statistics.median(r[fs]) if r[fs] else None for fs in FS}
        lines.append("BENCH %s member=%s owner=%s nfs=%s ratio_member_owner=%s ratio_nfs_owner=%s unit=%s"
                     % (name, fmt(med["member"]), fmt(med["owner"]), fmt(med["nfs"]),
                        ratio(med["member"], med["owner"]), ratio(med["nfs"], med["owner"]), r["unit"]))
    for name, value, unit in failover:
        lines.append("BENCH %s value=%.0f unit=%s" % (name, value, unit))
    lines += ["BENCH-FAILED %s on %s (round %s): %s" % (n, fs, ",".join(rnds), why)
              for (n, fs), (why, rnds) in sorted(failures.items())]
    if not lines:
        print("no benchmark results in %s" % " ".join(logs), file=sys.stderr)
        return 1
    print("\n".join(lines))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench-cluster.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("results: %s" % os.path.join(out, "bench-cluster.txt"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
