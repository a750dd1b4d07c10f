#!/usr/bin/env python3
"""The MXFS benchmark's measurements (runs in the guest rootfs, as root).

  bench.py ROUNDS XFS_DIR MXFS_DIR

XFS_DIR and MXFS_DIR are two fresh volumes of the same size, mounted as plain XFS and as mxfs.
Every benchmark runs on both back to back, alternating which goes first, so that the slow
drift of an emulated machine's speed hits both alike. Prints one line per measurement,
"BENCHRAW <fs> <round> <name> <value> <unit>", every value a rate (higher is better), or
"BENCHFAIL <fs> <round> <name> <reason>" when the operation itself failed. tests/bench/run.sh
takes the median over the rounds and compares mxfs with plain XFS. A benchmark, never a test:
the numbers pass or fail nothing.
"""
import json
import os
import subprocess
import sys
import time

RUNTIME = int(os.environ.get("BENCH_RUNTIME", "4"))  # seconds per fio job
FILE_SIZE = "128m"
NFILES = 10000
SOURCE_TAR = "/tmp/bench-source.tar"  # made by guest.sh on tmpfs: CPython's Lib


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def fio(name, work, rw, bs, direct):
    """Runs one fio job; returns (value, unit): MiB/s for 1 MiB blocks, IOPS for 4 KiB."""
    args = ["fio", "--name=" + name, "--filename=" + os.path.join(work, "fio-" + rw.replace("rand", "")),
            "--size=" + FILE_SIZE, "--rw=" + rw, "--bs=" + bs, "--direct=%d" % direct,
            "--ioengine=psync", "--time_based", "--runtime=%d" % RUNTIME, "--ramp_time=1",
            "--output-format=json", "--randrepeat=1", "--norandommap"]
    if "write" in rw and not direct:
        args.append("--end_fsync=1")  # buffered writes count only once they are on disk
    if "read" in rw:
        drop_caches()  # reads come from the disk, not from what the layout left in memory
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/tmp")
    text = p.stdout.decode()
    if p.returncode != 0:
        raise RuntimeError("fio exit %d: %s" % (p.returncode, p.stderr.decode().strip()[-200:]))
    data = json.loads(text[text.index("{"):])
    job = data["jobs"][0]
    part = job["read"] if "read" in rw else job["write"]
    if bs == "1m":
        return part["bw_bytes"] / 1048576.0, "MiB/s"
    return part["iops"], "IOPS"


def layout(work):
    """Writes the files the read jobs read (the write jobs overwrite them in place)."""
    for rw in ("read", "write"):
        path = os.path.join(work, "fio-" + rw)
        subprocess.run(["fio", "--name=layout", "--filename=" + path, "--size=" + FILE_SIZE,
                        "--rw=write", "--bs=1m", "--ioengine=psync", "--end_fsync=1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd="/tmp")


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fsync_dir(d):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)


def metadata(work, rnd, emit):
    d = os.path.join(work, "meta-%s" % rnd)
    os.mkdir(d)
    names = [os.path.join(d, "f%05d" % i) for i in range(NFILES)]

    def create():
        for n in names:
            os.close(os.open(n, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        fsync_dir(d)

    def stat():
        for n in names:
            os.stat(n)

    def unlink():
        for n in names:
            os.unlink(n)
        fsync_dir(d)

    emit("create-10k", NFILES / timed(create), "files/s")
    drop_caches()
    emit("stat-10k-cold", NFILES / timed(stat), "files/s")
    emit("stat-10k-warm", NFILES / timed(stat), "files/s")
    emit("unlink-10k", NFILES / timed(unlink), "files/s")
    os.rmdir(d)


def untar(work, rnd, emit):
    d = os.path.join(work, "untar-%s" % rnd)
    os.mkdir(d)
    entries = int(subprocess.run(["sh", "-c", "tar -tf %s | wc -l" % SOURCE_TAR],
                                 stdout=subprocess.PIPE, check=True).stdout)
    drop_caches()

    def extract():
        p = subprocess.run(["sh", "-c", "tar -xf %s -C %s && sync -f %s" % (SOURCE_TAR, d, d)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise RuntimeError("tar: " + p.stdout.decode().strip()[-200:])
    secs = timed(extract)
    emit("untar-python-stdlib", entries / secs, "files/s")
    subprocess.run(["rm", "-rf", d])  # not timed


def main(argv):
    rounds = int(argv[1])
    dirs = {"xfs": argv[2], "mxfs": argv[3]}

    def attempt(fs, rnd, name, fn, *args):
        def emit(row, value, unit):
            print("BENCHRAW %s %s %s %.3f %s" % (fs, rnd, row, value, unit), flush=True)
        try:
            fn(dirs[fs], *args, emit)
        except Exception as e:  # one failed benchmark must not hide the others
            msg = str(e).replace("\n", " ")[:200]
            print("BENCHFAIL %s %s %s %s: %s" % (fs, rnd, name, type(e).__name__, msg), flush=True)

    def fio_row(work, label, rw, bs, direct, mode, emit):
        value, unit = fio(label, work, rw, bs, direct)
        emit("%s-%s" % (label, mode), value, unit)

    benches = []
    for direct, mode in ((0, "buffered"), (1, "direct")):
        for rw, bs, label in (("write", "1m", "seq-write-1m"), ("read", "1m", "seq-read-1m"),
                              ("randwrite", "4k", "rand-write-4k"), ("randread", "4k", "rand-read-4k")):
            benches.append(("%s-%s" % (label, mode), fio_row, (label, rw, bs, direct, mode)))
    benches.append(("metadata", metadata, None))
    benches.append(("untar", untar, None))

    for fs in dirs:
        attempt(fs, 0, "layout", lambda work, emit: layout(work))
    for rnd in range(1, rounds + 1):
        for i, (name, fn, args) in enumerate(benches):
            order = ("xfs", "mxfs") if (rnd + i) % 2 else ("mxfs", "xfs")
            for fs in order:
                attempt(fs, rnd, name, fn, *(args if args is not None else (rnd,)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
