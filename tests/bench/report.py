#!/usr/bin/env python3
"""Summarizes a benchmark guest's log: report.py SERIAL_LOG OUTDIR

Takes the "BENCHRAW <fs> <round> <name> <value> <unit>" lines, prints for each benchmark
  BENCH <name> mxfs=<median> xfs=<median> ratio=<mxfs/xfs> unit=<unit>
and "BENCH-FAILED <name> on <fs> (round R): <reason>" for each operation that failed,
writes the same lines to OUTDIR/bench.txt and a bar chart of the ratios to OUTDIR/bench.png
(when matplotlib is available), and prints the chart's path. Every value is a rate, so a
ratio below 1 means mxfs is slower than XFS.
"""
import os
import statistics
import sys


def parse(log):
    rows, order, failures = {}, [], {}
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("BENCHFAIL "):
                _, fs, rnd, name, why = line.strip().split(" ", 4)
                failures.setdefault((name, fs), (why, []))[1].append(rnd)
                continue
            parts = line.strip().split()
            if len(parts) != 6 or parts[0] != "BENCHRAW":
                continue
            _, fs, _round, name, value, unit = parts
            if name not in rows:
                rows[name] = {"unit": unit, "mxfs": [], "xfs": []}
                order.append(name)
            rows[name][fs].append(float(value))
    return rows, order, failures


def fmt(v):
    return "%.0f" % v if v >= 100 else "%.2f" % v


def chart(path, table, rounds):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [t[0] for t in table][::-1]
    ratios = [t[3] for t in table][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(names) + 1.6))
    colors = ["#4c72b0" if r >= 0.97 else "#dd8452" for r in ratios]
    bars = ax.barh(names, ratios, color=colors)
    ax.axvspan(0.97, 1.03, color="#55a868", alpha=0.15)
    ax.axvline(1.0, color="black", linewidth=1)
    for bar, r in zip(bars, ratios):
        ax.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, "%.2f" % r,
                va="center", fontsize=8)
    ax.set_xlim(0, max(1.2, max(ratios) + 0.15))
    ax.set_xlabel("mxfs / XFS rate ratio, median of %d rounds (1.0 = same as XFS; shaded: within 3%%;\n"
                  "orange: mxfs more than 3%% slower)" % rounds)
    ax.set_title("MXFS owner mode against plain XFS, same VM")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv):
    log, out = argv[1], argv[2]
    rows, order, failures = parse(log)
    table, rounds = [], 0
    for name in order:
        r = rows[name]
        if not r["mxfs"] or not r["xfs"]:
            continue
        m, x = statistics.median(r["mxfs"]), statistics.median(r["xfs"])
        rounds = max(rounds, len(r["mxfs"]), len(r["xfs"]))
        table.append((name, m, x, m / x if x else float("nan"), r["unit"]))
    lines = ["BENCH %s mxfs=%s xfs=%s ratio=%.3f unit=%s" % (n, fmt(m), fmt(x), q, u)
             for n, m, x, q, u in table]
    # Operations that failed (an error, not a slow result), e.g. "untar on mxfs".
    lines += ["BENCH-FAILED %s on %s (round %s): %s" % (n, fs, ",".join(rnds), why)
              for (n, fs), (why, rnds) in sorted(failures.items())]
    if not lines:
        print("no benchmark results in %s" % log, file=sys.stderr)
        return 1
    print("\n".join(lines))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    png = os.path.join(out, "bench.png")
    if table and chart(png, table, rounds):
        print("chart: %s" % png)
    else:
        print("chart: not drawn (python3-matplotlib missing: qemu-ci/deps.sh bench)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
