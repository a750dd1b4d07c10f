#!/usr/bin/env python3
"""The cluster benchmark's measurements (runs in the guest rootfs, as root, on one node).

  cluster_bench.py meta FS ROUND DIR NFILES       create, stat, unlink NFILES empty files
  cluster_bench.py write FS ROUND FILE MIB        stream MIB MiB in 1 MiB writes, then fsync
  cluster_bench.py read FS ROUND FILE             stream FILE back in 1 MiB reads
  cluster_bench.py reread FS ROUND FILE SECONDS   read the same 1 MiB file again and again
  cluster_bench.py failover PORT FILE SECONDS     see failover() below

FS is the label of the filesystem measured (owner, member, nfs). Prints one line per
measurement, "BENCHRAW <fs> <round> <name> <value> <unit>", every value a rate (higher is
better) except the failover time, or "BENCHFAIL <fs> <round> <name> <reason>" when the
operation itself failed. tests/bench/cluster_report.py takes the median over the rounds.
Called by tests/bench/cluster-guest.sh, which sees to cache drops and to which node runs what.
A benchmark, never a test: the numbers pass or fail nothing.
"""
import ctypes
import errno
import os
import socket
import sys
import time

MIB = 1 << 20
NOTED = set()


def emit(fs, rnd, name, value, unit):
    print("BENCHRAW %s %s %s %.3f %s" % (fs, rnd, name, value, unit), flush=True)


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def fsync_dir(d):
    """fsync of the directory; where the filesystem has none for directories (EINVAL: mxfs
    members so far), syncfs of the filesystem instead, with a note in the log."""
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            os.fsync(fd)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.syncfs(fd) != 0:
                raise OSError(ctypes.get_errno(), "syncfs after fsync failed with EINVAL") from e
            if d not in NOTED:
                NOTED.add(d)
                print("# note: fsync of directory %s fails with EINVAL; syncfs of its filesystem instead" % d,
                      flush=True)
    finally:
        os.close(fd)


def meta(fs, rnd, d, nfiles):
    nfiles = int(nfiles)
    os.mkdir(d)
    names = [os.path.join(d, "f%05d" % i) for i in range(nfiles)]
    label = "%dk" % (nfiles // 1000) if nfiles % 1000 == 0 else str(nfiles)

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

    for name, fn in (("create", create), ("stat", stat), ("unlink", unlink)):
        try:
            secs = timed(fn)
        except OSError as e:  # say which operation failed, on which file
            raise RuntimeError("%s: %s" % (name, e)) from e
        emit(fs, rnd, "%s-%s" % (name, label), nfiles / secs, "files/s")
    os.rmdir(d)


def pattern():
    # Not all zeroes (nothing on the way may shortcut it), the same in every run.
    return bytes(range(256)) * (MIB // 256)


def write(fs, rnd, path, mib):
    mib = int(mib)
    data = pattern()

    def run():
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
        try:
            for _ in range(mib):
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)  # the data counts once it is on disk
        finally:
            os.close(fd)
    emit(fs, rnd, "stream-write-%dm" % mib, mib / timed(run), "MiB/s")


def read_all(path, bufsize=MIB):
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            b = os.read(fd, bufsize)
            if not b:
                return total
            total += len(b)
    finally:
        os.close(fd)


def read(fs, rnd, path):
    size = os.stat(path).st_size
    got = []
    secs = timed(lambda: got.append(read_all(path)))
    if got[0] != size:
        raise RuntimeError("read %d bytes of %d" % (got[0], size))
    emit(fs, rnd, "stream-read-%dm" % (size // MIB), got[0] / MIB / secs, "MiB/s")


def reread(fs, rnd, path, seconds):
    """Writes a 1 MiB file, reads it once, then reads it again (open, read, close) for about
    SECONDS of the guest's clock and at least 4 times: what a warm cache gives, if any."""
    seconds = float(seconds)
    with open(path, "wb") as f:
        f.write(pattern())
        f.flush()
        os.fsync(f.fileno())
    read_all(path)
    n, t0 = 0, time.monotonic()
    while True:
        if read_all(path) != MIB:
            raise RuntimeError("short read of %s" % path)
        n += 1
        secs = time.monotonic() - t0
        if n >= 4 and secs >= seconds:
            break
    emit(fs, rnd, "reread-1m", n / secs, "MiB/s")
    os.unlink(path)


def failover(port, path, seconds):
    """Waits for the owner's word that its mxfsd was just killed (one TCP connection to PORT;
    "ready" is printed once listening), then from that moment on this node's clock writes 4 KiB
    to FILE and fsyncs it, again and again until one attempt succeeds (or SECONDS pass).
    Prints the milliseconds to that first success."""
    port, seconds = int(port), float(seconds)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    print("# failover: ready, listening on port %d" % port, flush=True)
    conn, peer = srv.accept()
    t0 = time.monotonic()
    word = conn.recv(64).decode(errors="replace").strip()
    conn.close()
    srv.close()
    print("# failover: %s says '%s'" % (peer[0], word), flush=True)
    data = pattern()[:4096]
    attempts, errors = 0, {}
    while True:
        attempts += 1
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            break
        except OSError as e:
            name = os.strerror(e.errno) if e.errno else str(e)
            errors[name] = errors.get(name, 0) + 1
            if time.monotonic() - t0 > seconds:
                raise RuntimeError("no successful write+fsync within %.0f s (%s)" % (seconds, errors))
            time.sleep(0.05)
    ms = (time.monotonic() - t0) * 1000.0
    print("# failover: first write+fsync after %.0f ms, %d attempt(s), failed ones: %s"
          % (ms, attempts, ", ".join("%s x%d" % kv for kv in sorted(errors.items())) or "none"),
          flush=True)
    emit("failover", 1, "failover-first-write", ms, "ms")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "failover":
        try:
            failover(*args)
        except Exception as e:  # reported, not raised: the scenario goes on to clean up
            print("BENCHFAIL failover 1 failover-first-write %s: %s"
                  % (type(e).__name__, str(e).replace("\n", " ")[:200]), flush=True)
            return 1
        return 0
    fns = {"meta": meta, "write": write, "read": read, "reread": reread}
    fs, rnd = args[0], args[1]
    try:
        fns[cmd](fs, rnd, *args[2:])
    except Exception as e:  # one failed benchmark must not hide the others
        print("BENCHFAIL %s %s %s %s: %s" % (fs, rnd, cmd, type(e).__name__, str(e).replace("\n", " ")[:200]),
              flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
