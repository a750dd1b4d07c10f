#!/usr/bin/env python3
"""Third-party conformance suites, run with their work directory on one filesystem.

Runs inside the Debian guest rootfs (qemu-ci/rootfs.sh), chrooted, as root. The guest test
(tests/guest/conformance-<suite>.sh) runs each suite once on plain XFS and once on mxfs, each
on a freshly made XFS volume, then compares:

  conformance.py run SUITE DIR RESULTS [SELECTOR...]
      Run SUITE with its work directory in DIR. RESULTS receives one line per test case,
      "pass NAME", "fail NAME" or "skip NAME". SELECTORs narrow the suite (see docs).
  conformance.py compare SUITE XFS_RESULTS MXFS_RESULTS
      Print "CONFORMANCE SUITE mxfs_pass=N xfs_pass=N total=N" and, one per line, every test
      whose outcome differs. Exit 1 when a test passes on XFS but not on mxfs, or when nothing
      passed on XFS (the suite did not really run).

Suites: pjdfstest, python, stress-ng, fio, attr-acl. Counting rules are in docs/conformance.md.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

NOBODY = ("nobody", "nogroup")  # unprivileged user for permission checks
SCRATCH = "/tmp/conformance"  # private scratch space on tmpfs, outside the tested filesystem
MAX_DETAILS = 40  # failure details and differences printed per run; the counts cover all


def log(msg):
    print("# " + msg, flush=True)


def run(cmd, timeout=None, **kw):
    """Runs cmd (a list); returns (exit status, combined output). A timeout is status 124."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, **kw)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode("utf-8", "replace") if e.stdout else ""
        return 124, out + "\n(timed out after %ss)" % timeout


def clean_dir(path):
    """Empties a directory, leaving the directory itself (a mount point)."""
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            try:
                os.unlink(p)
            except OSError:
                pass


# --- pjdfstest ----------------------------------------------------------------------------

PJDFSTEST_CONFIG = """\
[features]
posix_fallocate = {}
rename_ctime = {}
utimensat = {}
utime_now = {}

[settings]
# Emulated guests under load advance their coarse clock in irregular ticks; a longer nap keeps
# the "timestamp changed" checks about the filesystem, not about the tick.
naptime = 0.2
allow_remount = true

[dummy_auth]
entries = [["nobody", "nogroup"], ["daemon", "daemon"]]
"""
PJD_LINE = re.compile(r"^(\S+)\s+(ok|FAILED|skipped|PASSED UNEXPECTEDLY|failed as expected)\s*$")


def pjdfstest_run(work, cfg, second, patterns):
    """One pjdfstest invocation; returns [(status, name)] and logs why cases failed."""
    cmd = ["pjdfstest", "-c", cfg, "-p", work, "-s", second] + patterns
    rc, out = run(cmd, timeout=480, cwd=work, env=dict(os.environ, NO_COLOR="1"))
    results, detail = [], None
    for line in out.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        m = PJD_LINE.match(line)
        if m:
            name, word = m.groups()
            status = {"ok": "pass", "failed as expected": "pass", "skipped": "skip"}.get(word, "fail")
            results.append((status, name))
            detail = name if status == "fail" else None
        elif detail and line.startswith("\t"):
            log("%s: %s" % (detail, line.strip()))
    log("pjdfstest %s: exit status %d; %s" % (" ".join(patterns) or "(all)", rc,
                                               (out.strip().splitlines() or ["no output"])[-1]))
    return results


def suite_pjdfstest(work, selectors):
    cfg = os.path.join(SCRATCH, "pjdfstest.toml")
    with open(cfg, "w") as f:
        f.write(PJDFSTEST_CONFIG)
    # EXDEV cases need a second filesystem: the scratch tmpfs.
    second = os.path.join(SCRATCH, "pjdfstest-secondary")
    os.makedirs(second, exist_ok=True)
    if selectors:
        return pjdfstest_run(work, cfg, second, selectors)
    # The EROFS cases remount the filesystem read-only, which fails with EBUSY once earlier
    # cases of the same process have left a file open for writing (on any filesystem): they
    # get a process of their own, first, and their results from the full run are ignored.
    results = pjdfstest_run(work, cfg, second, ["erofs"])
    seen = {name for _, name in results}
    results += [r for r in pjdfstest_run(work, cfg, second, []) if r[1] not in seen]
    return results


# --- CPython's own filesystem tests ---------------------------------------------------------

PYTHON_TESTS = ["test_os", "test_posix", "test_shutil", "test_tempfile", "test_fileio",
                "test_mmap", "test_pathlib", "test_glob", "test_fcntl", "test_stat",
                "test_genericpath", "test_posixpath", "test_filecmp"]


def suite_python(work, selectors):
    modules = selectors or PYTHON_TESTS
    xml = os.path.join(SCRATCH, "python-junit.xml")
    env = dict(os.environ, TMPDIR=work, TEMP=work, TMP=work, PYTHONDONTWRITEBYTECODE="1")
    # Each module runs in a worker process (-j2, one per CPU); --tempdir puts regrtest's own
    # working directory (where the tests' TESTFN files live) on the filesystem under test.
    cmd = [sys.executable, "-m", "test", "-j2", "--timeout", "300", "--tempdir", work,
           "--junit-xml", xml] + modules
    t0 = time.time()
    rc, out = run(cmd, timeout=700, cwd=work, env=env)
    log("python -m test exit status %d in %ds" % (rc, time.time() - t0))
    for line in out.splitlines():
        if re.search(r"^(FAIL|ERROR):|crashed|Tests result|failed|Total tests", line):
            log(line)
    results = []
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as e:
        log("no JUnit results (%s)" % e)
        return results
    shown = 0
    for tc in root.iter("testcase"):
        kids = {k.tag for k in tc}
        if kids & {"failure", "error"}:
            status = "fail"
            for k in tc:
                if k.tag in ("failure", "error") and shown < MAX_DETAILS:
                    shown += 1
                    log("%s: %s" % (tc.get("name"), (k.get("message") or k.text or "").strip()[:300]))
        elif "skipped" in kids:
            status = "skip"
        else:
            status = "pass"
        results.append((status, tc.get("name")))
    return results


# --- stress-ng filesystem stressors ---------------------------------------------------------

STRESS_SECONDS = 2


def stress_ng_stressors():
    rc, out = run(["stress-ng", "--class", "filesystem?"])
    m = re.search(r"stressors:\s*(.*)", out)
    return m.group(1).split() if m else []


def suite_stress_ng(work, selectors):
    results = []
    for s in selectors or stress_ng_stressors():
        d = os.path.join(work, "stress-" + s)
        os.makedirs(d, exist_ok=True)
        # Two instances (one per CPU), verification where the stressor has it.
        cmd = ["stress-ng", "--" + s, "2", "--timeout", str(STRESS_SECONDS), "--temp-path", d,
               "--verify", "--metrics-brief"]
        t0 = time.time()
        rc, out = run(cmd, timeout=STRESS_SECONDS + 90)
        if rc in (3, 4) or "skipping stress test" in out or "No stress workers invoked" in out \
                or "not implemented" in out:
            status = "skip"
        elif rc == 0 and not re.search(r"\b(fail|FAIL|error:)", out):
            status = "pass"
        else:
            status = "fail"
            for line in out.splitlines()[-8:]:
                log("stress-ng %s: %s" % (s, line))
        log("stress-ng %s: %s (exit %d, %.1fs)" % (s, status, rc, time.time() - t0))
        results.append((status, s))
        shutil.rmtree(d, ignore_errors=True)
    return results


# --- fio with data verification ------------------------------------------------------------

# Every job writes blocks carrying a crc32c header, then reads everything back and checks it.
# Each block is written once (fio's random map is on), so even with many writes in flight a
# block holds exactly one known version. The cross jobs write through one I/O path and verify
# through another: buffered, O_DIRECT and mmap must see the same data (one page cache).
FIO_COMMON = ["--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--randrepeat=1"]
SEQ, RAND = "--size=16m", "--size=4m"
FIO_JOBS = {
    "buffered-seq-psync": [SEQ, "--ioengine=psync", "--rw=write", "--bs=64k"],
    "buffered-rand-psync": [RAND, "--ioengine=psync", "--rw=randwrite", "--bs=4k"],
    "buffered-rand-pvsync2": [RAND, "--ioengine=pvsync2", "--rw=randwrite", "--bs=8k"],
    "buffered-seq-fsync": [SEQ, "--ioengine=psync", "--rw=write", "--bs=128k", "--fsync=4"],
    "buffered-rand-2jobs": [RAND, "--ioengine=psync", "--rw=randwrite", "--bs=4k", "--numjobs=2"],
    "direct-seq-psync": [SEQ, "--ioengine=psync", "--direct=1", "--rw=write", "--bs=1m"],
    "direct-rand-psync": [RAND, "--ioengine=psync", "--direct=1", "--rw=randwrite", "--bs=4k"],
    "direct-rand-libaio": [RAND, "--ioengine=libaio", "--direct=1", "--iodepth=8", "--rw=randwrite", "--bs=4k"],
    "direct-seq-libaio": [SEQ, "--ioengine=libaio", "--direct=1", "--iodepth=4", "--rw=write", "--bs=256k"],
    "direct-rand-io_uring": [RAND, "--ioengine=io_uring", "--direct=1", "--iodepth=8", "--rw=randwrite", "--bs=4k"],
    "buffered-rand-io_uring": [RAND, "--ioengine=io_uring", "--iodepth=8", "--rw=randwrite", "--bs=4k"],
    "mmap-seq": [SEQ, "--ioengine=mmap", "--rw=write", "--bs=64k"],
    "mmap-rand": [RAND, "--ioengine=mmap", "--rw=randwrite", "--bs=4k"],
}
# Write with the first options, then verify_only with the second.
FIO_CROSS = {
    "buffered-write-direct-verify": (["--ioengine=psync"], ["--ioengine=psync", "--direct=1"]),
    "direct-write-buffered-verify": (["--ioengine=psync", "--direct=1"], ["--ioengine=psync"]),
    "mmap-write-direct-verify": (["--ioengine=mmap"], ["--ioengine=psync", "--direct=1"]),
    "direct-write-mmap-verify": (["--ioengine=libaio", "--direct=1", "--iodepth=4"], ["--ioengine=mmap"]),
}


def fio_once(name, work, args):
    out_json = os.path.join(SCRATCH, "fio-%s.json" % name)
    cmd = ["fio", "--name=" + name, "--directory=" + work, "--output-format=json",
           "--output=" + out_json, "--verify_state_save=0"] + FIO_COMMON + args
    t0 = time.time()
    rc, out = run(cmd, timeout=600, cwd=SCRATCH)
    log("fio %s: exit %d in %.1fs" % (name, rc, time.time() - t0))
    errors = []
    try:
        with open(out_json) as f:
            text = f.read()
        data = json.loads(text[text.index("{"):])  # fio may print notes before the JSON
        errors = [j.get("error", 0) for j in data.get("jobs", [])]
    except (OSError, ValueError) as e:
        errors = ["no JSON output: %s" % e]
    ok = rc == 0 and errors and all(e == 0 for e in errors)
    if not ok:
        log("fio %s: exit %d, job errors %s; %s" % (name, rc, errors, " | ".join(out.strip().splitlines()[-5:])))
    return ok


def suite_fio(work, selectors):
    results = []
    for name, args in FIO_JOBS.items():
        if selectors and name not in selectors:
            continue
        ok = fio_once(name, work, args)
        results.append(("pass" if ok else "fail", name))
        clean_dir(work)
    for name, (write, verify) in FIO_CROSS.items():
        if selectors and name not in selectors:
            continue
        same = [SEQ, "--rw=write", "--bs=64k"]
        ok = fio_once(name, work, same + ["--do_verify=0"] + write) and \
            fio_once(name, work, same + ["--verify_only"] + verify)
        results.append(("pass" if ok else "fail", name))
        clean_dir(work)
    return results


# --- attr and acl tools ----------------------------------------------------------------------

class Checks:
    """Named checks; each records pass or fail and logs why it failed."""

    def __init__(self, selectors):
        self.results = []
        self.selectors = selectors

    def wanted(self, name):
        return not self.selectors or any(s in name for s in self.selectors)

    def check(self, name, fn):
        if not self.wanted(name):
            return
        try:
            why = fn()
        except Exception as e:  # a check that crashes has failed
            why = "%s: %s" % (type(e).__name__, e)
        if why:
            log("%s: %s" % (name, why))
        self.results.append(("fail" if why else "pass", name))


def sh(cmd, user=False, **kw):
    """Runs a shell command line (as nobody when user=True); returns (status, output)."""
    if user:
        cmd = "setpriv --reuid=%s --regid=%s --clear-groups sh -c %s" % (NOBODY[0], NOBODY[1], shlex.quote(cmd))
    return run(["sh", "-c", cmd], timeout=60, **kw)


def ok(cmd, user=False):
    """'' when cmd succeeds, else the reason."""
    rc, out = sh(cmd, user)
    return "" if rc == 0 else "`%s` exit %d: %s" % (cmd, rc, out.strip()[:300])


def fails(cmd, errtext, user=False):
    """'' when cmd fails with errtext in its message, else the reason."""
    rc, out = sh(cmd, user)
    if rc == 0:
        return "`%s` succeeded, expected failure (%s)" % (cmd, errtext)
    return "" if errtext.lower() in out.lower() else "`%s`: expected '%s', got: %s" % (cmd, errtext, out.strip()[:300])


def equals(cmd, expected, user=False):
    rc, out = sh(cmd, user)
    if rc != 0:
        return "`%s` exit %d: %s" % (cmd, rc, out.strip()[:300])
    return "" if out == expected else "`%s`: expected %r, got %r" % (cmd, expected, out)


def seq(*steps):
    """Runs check steps (each returning '' or a reason) until the first failure."""
    for step in steps:
        why = step() if callable(step) else step
        if why:
            return why
    return ""


def getfacl(path, *opts):
    rc, out = sh("getfacl -cp %s %s" % (" ".join(opts), shlex.quote(path)))
    return out if rc == 0 else "ERROR %d %s" % (rc, out)


def acl_is(path, expected_lines, *opts):
    got = [l for l in getfacl(path, *opts).splitlines() if l]
    return "" if got == expected_lines else "getfacl %s: expected %s, got %s" % (path, expected_lines, got)


def mode_of(path):
    return "%o" % (os.lstat(path).st_mode & 0o7777)


def suite_attr_acl(work, selectors):
    c = Checks(selectors)
    d = work
    q = shlex.quote
    f = os.path.join(d, "f")
    open(f, "w").close()
    os.chmod(work, 0o755)

    # Extended attributes through setfattr/getfattr --absolute-names (attr package) and the syscalls.
    for ns in ("user", "trusted", "security"):
        c.check("xattr/%s/roundtrip" % ns, lambda ns=ns: seq(
            ok("setfattr -n %s.mxfs -v hello %s" % (ns, q(f))),
            equals("getfattr --absolute-names --only-values -n %s.mxfs %s" % (ns, q(f)), "hello")))
        c.check("xattr/%s/replace" % ns, lambda ns=ns: seq(
            ok("setfattr -n %s.mxfs -v second %s" % (ns, q(f))),
            equals("getfattr --absolute-names --only-values -n %s.mxfs %s" % (ns, q(f)), "second")))
        c.check("xattr/%s/remove" % ns, lambda ns=ns: seq(
            ok("setfattr -x %s.mxfs %s" % (ns, q(f))),
            fails("getfattr --absolute-names -n %s.mxfs %s" % (ns, q(f)), "No such attribute")))
        c.check("xattr/%s/remove-absent" % ns, lambda ns=ns: fails(
            "setfattr -x %s.absent %s" % (ns, q(f)), "No such attribute"))
    c.check("xattr/user/hex-value", lambda: seq(
        ok("setfattr -n user.bin -v 0x00ff10 %s" % q(f)),
        equals("getfattr --absolute-names -e hex --only-values -n user.bin %s | od -An -tx1" % q(f), " 00 ff 10\n")))
    c.check("xattr/user/base64-value", lambda: seq(
        ok("setfattr -n user.b64 -v 0sAAECAwQ= %s" % q(f)),
        equals("getfattr --absolute-names -e base64 -n user.b64 %s | grep '^user'" % q(f), "user.b64=0sAAECAwQ=\n")))
    c.check("xattr/user/empty-value", lambda: seq(
        ok("setfattr -n user.empty %s" % q(f)),
        equals("getfattr --absolute-names -n user.empty %s | grep '^user'" % q(f), "user.empty=\"\"\n")))

    def many():
        g = os.path.join(d, "many")
        open(g, "w").close()
        names = ["user.attr%03d" % i for i in range(200)]
        for n in names:
            os.setxattr(g, n, n.encode() * 3)
        listed = sorted(os.listxattr(g))
        if listed != names:
            return "listxattr gave %d names, expected %d" % (len(listed), len(names))
        bad = [n for n in names if os.getxattr(g, n) != n.encode() * 3]
        return "values differ: %s" % bad[:5] if bad else ""
    c.check("xattr/user/200-attributes", many)

    def big():
        g = os.path.join(d, "big")
        open(g, "w").close()
        val = os.urandom(65536)
        os.setxattr(g, "user.big", val)
        if os.getxattr(g, "user.big") != val:
            return "64 KiB value differs"
        try:
            os.setxattr(g, "user.huge", val + b"x")
            return "a 65537-byte value was accepted"
        except OSError as e:
            return "" if e.errno == 7 else "65537-byte value: %s (expected E2BIG)" % e  # E2BIG
    c.check("xattr/user/64k-value-and-limit", big)

    def names():
        g = os.path.join(d, "names")
        open(g, "w").close()
        n255 = "user." + "n" * 250
        os.setxattr(g, n255, b"v")
        if os.getxattr(g, n255) != b"v":
            return "255-byte name value differs"
        try:
            os.setxattr(g, n255 + "x", b"v")
            return "a 256-byte name was accepted"
        except OSError as e:
            return "" if e.errno == 34 else "256-byte name: %s (expected ERANGE)" % e  # ERANGE
    c.check("xattr/user/name-length-limit", names)

    def flags():
        g = os.path.join(d, "flags")
        open(g, "w").close()
        os.setxattr(g, "user.x", b"1", os.XATTR_CREATE)
        try:
            os.setxattr(g, "user.x", b"2", os.XATTR_CREATE)
            return "XATTR_CREATE over an existing attribute succeeded"
        except FileExistsError:
            pass
        try:
            os.setxattr(g, "user.y", b"2", os.XATTR_REPLACE)
            return "XATTR_REPLACE of a missing attribute succeeded"
        except OSError as e:
            if e.errno != 61:  # ENODATA
                return "XATTR_REPLACE: %s (expected ENODATA)" % e
        os.setxattr(g, "user.x", b"3", os.XATTR_REPLACE)
        return "" if os.getxattr(g, "user.x") == b"3" else "XATTR_REPLACE did not replace"
    c.check("xattr/user/create-replace-flags", flags)

    def sizes():
        g = os.path.join(d, "sizes")
        open(g, "w").close()
        for n in (1, 255, 256, 1000, 4096, 20000):
            os.setxattr(g, "user.s%d" % n, b"x" * n)
        bad = [n for n in (1, 255, 256, 1000, 4096, 20000) if len(os.getxattr(g, "user.s%d" % n)) != n]
        return "value sizes differ: %s" % bad if bad else ""
    c.check("xattr/user/value-sizes", sizes)

    def on_types():
        sub = os.path.join(d, "types")
        os.mkdir(sub)
        os.setxattr(sub, "user.dir", b"d")
        link = os.path.join(d, "types-link")
        os.symlink("f", link)
        fifo = os.path.join(d, "types-fifo")
        os.mkfifo(fifo)
        if os.getxattr(sub, "user.dir") != b"d":
            return "directory xattr differs"
        # user.* is refused on symlinks and special files (EPERM); trusted.* is allowed.
        for p in (link, fifo):
            try:
                os.setxattr(p, "user.no", b"1", follow_symlinks=False)
                return "user.* accepted on %s" % os.path.basename(p)
            except PermissionError:
                pass
            os.setxattr(p, "trusted.yes", b"1", follow_symlinks=False)
            if os.getxattr(p, "trusted.yes", follow_symlinks=False) != b"1":
                return "trusted.* on %s differs" % os.path.basename(p)
        return ""
    c.check("xattr/file-types", on_types)

    c.check("xattr/survive-rename-and-link", lambda: seq(
        ok("setfattr -n user.keep -v kept %s" % q(f)),
        ok("mv %s %s && ln %s %s" % (q(f), q(f + ".moved"), q(f + ".moved"), q(f + ".link"))),
        equals("getfattr --absolute-names --only-values -n user.keep %s" % q(f + ".link"), "kept"),
        ok("mv %s %s && rm %s" % (q(f + ".moved"), q(f), q(f + ".link")))))
    c.check("xattr/unprivileged-user-namespace", lambda: seq(
        ok("touch %s/u && chown nobody %s/u" % (q(d), q(d))),
        ok("setfattr -n user.mine -v 1 %s/u" % q(d), user=True),
        fails("setfattr -n trusted.no -v 1 %s/u" % q(d), "Operation not permitted", user=True),
        equals("getfattr --absolute-names -m - -d %s/u | grep -c '^trusted' || true" % q(d), "0\n", user=True)))
    c.check("xattr/unprivileged-not-owner", lambda: seq(
        ok("touch %s/notmine && chmod 644 %s/notmine" % (q(d), q(d))),
        fails("setfattr -n user.x -v 1 %s/notmine" % q(d), "Permission denied", user=True)))
    def dump_restore():
        dump = os.path.join(SCRATCH, "xattr.dump")
        return seq(
            lambda: ok("mkdir -p %s/tree/a && touch %s/tree/a/b && setfattr -n user.t -v 1 %s/tree/a/b "
                       "&& setfattr -n trusted.t -v 2 %s/tree/a" % (q(d), q(d), q(d), q(d))),
            lambda: ok("cd %s && getfattr -R -m - -d tree > %s" % (q(d), dump)),
            lambda: ok("cd %s && setfattr -x user.t tree/a/b && setfattr -x trusted.t tree/a" % q(d)),
            lambda: equals("cd %s && getfattr -R -m - -d tree" % q(d), ""),
            lambda: ok("cd %s && setfattr --restore=%s" % (q(d), dump)),
            lambda: ok("cd %s && getfattr -R -m - -d tree | cmp - %s" % (q(d), dump)))
    c.check("xattr/dump-restore", dump_restore)
    c.check("xattr/cp-preserve", lambda: seq(
        ok("touch %s/src && setfattr -n user.cp -v copied %s/src" % (q(d), q(d))),
        ok("cp --preserve=xattr %s/src %s/dst" % (q(d), q(d))),
        equals("getfattr --absolute-names --only-values -n user.cp %s/dst" % q(d), "copied")))

    # POSIX ACLs through setfacl/getfacl (acl package), checked by what getfacl shows and by
    # what an unprivileged user is then allowed to do.
    a = os.path.join(d, "acl")
    os.mkdir(a)
    af = os.path.join(a, "file")
    with open(af, "w") as fh:
        fh.write("secret\n")
    os.chmod(af, 0o600)
    c.check("acl/minimal", lambda: acl_is(af, ["user::rw-", "group::---", "other::---"]))
    c.check("acl/user-entry-grants-read", lambda: seq(
        fails("cat %s" % q(af), "Permission denied", user=True),
        ok("setfacl -m u:nobody:r %s" % q(af)),
        acl_is(af, ["user::rw-", "user:nobody:r--", "group::---", "mask::r--", "other::---"]),
        equals("cat %s" % q(af), "secret\n", user=True),
        fails("sh -c 'echo x >> %s'" % q(af), "Permission denied", user=True)))
    c.check("acl/mode-shows-mask", lambda: "" if mode_of(af) == "640" else "mode %s, expected 640" % mode_of(af))
    c.check("acl/chmod-sets-mask", lambda: seq(
        ok("chmod 600 %s" % q(af)),
        acl_is(af, ["user::rw-", "user:nobody:r--\t#effective:---", "group::---", "mask::---", "other::---"]),
        fails("cat %s" % q(af), "Permission denied", user=True),
        ok("chmod 640 %s" % q(af))))
    c.check("acl/group-entry", lambda: seq(
        ok("setfacl -x u:nobody %s && setfacl -m g:nogroup:rw %s" % (q(af), q(af))),
        acl_is(af, ["user::rw-", "group::---", "group:nogroup:rw-", "mask::rw-", "other::---"]),
        ok("sh -c 'echo more >> %s'" % q(af), user=True),
        equals("tail -n 1 %s" % q(af), "more\n")))
    c.check("acl/deny-entry", lambda: seq(
        ok("setfacl -m u:nobody:- %s && chmod o+r %s" % (q(af), q(af))),
        fails("cat %s" % q(af), "Permission denied", user=True),
        fails("sh -c 'echo x >> %s'" % q(af), "Permission denied", user=True),
        ok("setfacl -x u:nobody %s" % q(af)),
        ok("sh -c 'echo x >> %s'" % q(af), user=True),
        ok("cat %s" % q(af), user=True)))
    c.check("acl/remove-all", lambda: seq(
        ok("setfacl -b %s" % q(af)),
        acl_is(af, ["user::rw-", "group::---", "other::r--"]),
        "" if mode_of(af) == "604" else "mode %s after setfacl -b, expected 604" % mode_of(af)))
    c.check("acl/xattr-visible", lambda: seq(
        ok("setfacl -m u:daemon:rx %s" % q(af)),
        equals("getfattr --absolute-names -m - %s | grep -c posix_acl_access" % q(af), "1\n")))
    c.check("acl/directory-search", lambda: seq(
        ok("mkdir -p %s/private && touch %s/private/x && chmod 700 %s/private" % (q(a), q(a), q(a))),
        fails("ls %s/private" % q(a), "Permission denied", user=True),
        ok("setfacl -m u:nobody:rx %s/private" % q(a)),
        equals("ls %s/private" % q(a), "x\n", user=True)))

    inh = os.path.join(a, "inherit")
    os.mkdir(inh)
    c.check("acl/default-set", lambda: seq(
        ok("setfacl -d -m u:nobody:rwx,g::rx,o::- %s" % q(inh)),
        acl_is(inh, ["user::rwx", "user:nobody:rwx", "group::r-x", "mask::rwx", "other::---"], "-d")))
    c.check("acl/default-file-inherits", lambda: seq(
        ok("umask 022 && touch %s/file" % q(inh)),
        acl_is(os.path.join(inh, "file"),
               ["user::rw-", "user:nobody:rwx\t#effective:rw-", "group::r-x\t#effective:r--",
                "mask::rw-", "other::---"]),
        ok("echo hi > %s/file" % q(inh), user=True)))
    c.check("acl/default-ignores-umask", lambda: seq(
        ok("umask 077 && touch %s/umask" % q(inh)),
        "" if mode_of(os.path.join(inh, "umask")) == "660" else
        "mode %s with umask 077 under a default ACL, expected 660" % mode_of(os.path.join(inh, "umask"))))
    c.check("acl/default-subdir-inherits", lambda: seq(
        ok("mkdir %s/sub" % q(inh)),
        acl_is(os.path.join(inh, "sub"), ["user::rwx", "user:nobody:rwx", "group::r-x", "mask::rwx", "other::---"], "-a"),
        acl_is(os.path.join(inh, "sub"), ["user::rwx", "user:nobody:rwx", "group::r-x", "mask::rwx", "other::---"], "-d"),
        ok("mkdir %s/sub/deeper" % q(inh)),
        acl_is(os.path.join(inh, "sub", "deeper"),
               ["user::rwx", "user:nobody:rwx", "group::r-x", "mask::rwx", "other::---"], "-d")))
    c.check("acl/default-special-files", lambda: seq(
        ok("mkfifo %s/fifo && mknod %s/null c 1 3" % (q(inh), q(inh))),
        acl_is(os.path.join(inh, "fifo"), ["user::rw-", "user:nobody:rwx\t#effective:rw-",
                                           "group::r-x\t#effective:r--", "mask::rw-", "other::---"]),
        equals("getfacl -cp %s/null | grep -c nobody" % q(inh), "1\n")))
    c.check("acl/default-not-on-symlink", lambda: seq(
        ok("ln -s file %s/link" % q(inh)),
        equals("getfattr --absolute-names -h -m - %s/link | grep -c posix_acl || true" % q(inh), "0\n")))
    c.check("acl/default-remove", lambda: seq(
        ok("setfacl -k %s" % q(inh)),
        acl_is(inh, [], "-d"),
        ok("umask 022 && touch %s/after" % q(inh)),
        acl_is(os.path.join(inh, "after"), ["user::rw-", "group::r--", "other::r--"])))
    c.check("acl/tmpfile-inherits", lambda: seq(
        ok("setfacl -d -m u:daemon:r %s" % q(inh)),
        ok("cd %s && python3 -c 'import os; fd = os.open(\".\", os.O_TMPFILE | os.O_RDWR, 0o640); "
           "os.link(\"/proc/self/fd/%%d\" %% fd, \"tmpfile\", src_dir_fd=os.open(\"/\", os.O_RDONLY))'" % q(inh)),
        equals("getfacl -cp %s/tmpfile | grep -c daemon" % q(inh), "1\n")))
    c.check("acl/recursive-dump-restore", lambda: seq(
        ok("cd %s && getfacl -R -p . > /tmp/conformance/acl.dump" % q(a)),
        ok("cd %s && setfacl -R -b . && setfacl -R -k ." % q(a)),
        ok("cd %s && setfacl --restore=/tmp/conformance/acl.dump" % q(a)),
        ok("cd %s && getfacl -R -p . | cmp - /tmp/conformance/acl.dump" % q(a))))
    c.check("acl/cp-preserve", lambda: seq(
        ok("setfacl -m u:nobody:rw %s/file && cp -p %s/file %s/copy" % (q(a), q(a), q(a))),
        ok("getfacl -cp %s/file > /tmp/conformance/a && getfacl -cp %s/copy > /tmp/conformance/b "
           "&& cmp /tmp/conformance/a /tmp/conformance/b" % (q(a), q(a)))))
    c.check("acl/invalid-rejected", lambda: seq(
        fails("setfacl -m u:nobody:rwq %s/file" % q(a), ""),
        fails("setfacl -m u:no-such-user-xyz:r %s/file" % q(a), "")))
    c.check("acl/not-owner-refused", lambda: fails(
        "setfacl -m u:nobody:rwx %s/file" % q(a), "Operation not permitted", user=True))
    c.check("acl/owner-may-set", lambda: seq(
        ok("touch %s/own && chown nobody %s/own" % (q(a), q(a))),
        ok("setfacl -m u:daemon:r %s/own" % q(a), user=True),
        equals("getfacl -cp %s/own | grep -c daemon" % q(a), "1\n")))
    return c.results


SUITES = {
    "pjdfstest": suite_pjdfstest,
    "python": suite_python,
    "stress-ng": suite_stress_ng,
    "fio": suite_fio,
    "attr-acl": suite_attr_acl,
}


def cmd_run(suite, work, results_path, selectors):
    os.makedirs(SCRATCH, exist_ok=True)
    os.umask(0o022)
    t0 = time.time()
    results = SUITES[suite](work, selectors)
    with open(results_path, "w") as f:
        for status, name in results:
            f.write("%s %s\n" % (status, name))
    counts = {s: sum(1 for r in results if r[0] == s) for s in ("pass", "fail", "skip")}
    log("%s on %s: %d pass, %d fail, %d skip in %ds" % (
        suite, work, counts["pass"], counts["fail"], counts["skip"], time.time() - t0))
    return 0


def read_results(path):
    res = {}
    try:
        with open(path) as f:
            for line in f:
                status, _, name = line.rstrip("\n").partition(" ")
                if name:
                    res[name] = status
    except OSError:
        pass
    return res


def cmd_compare(suite, xfs_path, mxfs_path):
    xfs, mxfs = read_results(xfs_path), read_results(mxfs_path)
    names = sorted(set(xfs) | set(mxfs))
    xfs_pass = sum(1 for n in names if xfs.get(n) == "pass")
    mxfs_pass = sum(1 for n in names if mxfs.get(n) == "pass")
    print("CONFORMANCE %s mxfs_pass=%d xfs_pass=%d total=%d" % (suite, mxfs_pass, xfs_pass, len(names)),
          flush=True)
    lost = [n for n in names if xfs.get(n) == "pass" and mxfs.get(n) != "pass"]
    differ = [n for n in names if xfs.get(n) != mxfs.get(n)]
    # The ones mxfs lost first: they are what fails the test.
    lost_set = set(lost)
    differ.sort(key=lambda n: (n not in lost_set, n))
    for n in differ[:MAX_DETAILS]:
        log("differs: %s xfs=%s mxfs=%s" % (n, xfs.get(n, "missing"), mxfs.get(n, "missing")))
    if len(differ) > MAX_DETAILS:
        log("... and %d more differences" % (len(differ) - MAX_DETAILS))
    if xfs_pass == 0:
        log("nothing passed on plain XFS: the suite did not run")
        return 1
    return 1 if lost or mxfs_pass < xfs_pass else 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "run" and argv[2] in SUITES:
        return cmd_run(argv[2], argv[3], argv[4], argv[5:])
    if len(argv) == 5 and argv[1] == "compare":
        return cmd_compare(argv[2], argv[3], argv[4])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
