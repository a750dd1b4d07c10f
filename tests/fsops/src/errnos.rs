//! Operations that must fail, with the errno each must fail with. The printed lines are
//! compared between an mxfs mount and a plain XFS mount, so the order and names are fixed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::sys::{self, errno_name, AsUser};

const NOBODY: u32 = 65534;

/// One case: a name, the errnos accepted, and the operation.
type Case<'a> = (
    &'static str,
    &'static [i32],
    Box<dyn Fn() -> io::Result<()> + 'a>,
);

fn open(path: &Path, flags: i32, write: bool, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(!write)
        .write(write)
        .create(create)
        .custom_flags(flags)
        .mode(0o644)
        .open(path)
}

/// Builds the fixture under `dir/errnos`, runs every case, prints `<op> <ERRNO>` (or
/// `<op> OK` when it wrongly succeeded) and returns how many results were not accepted.
pub fn run(dir: &Path) -> io::Result<usize> {
    let t = dir.join("errnos");
    if fs::symlink_metadata(&t).is_ok() {
        fs::remove_dir_all(&t)?;
    }
    sys::umask(0);
    let mk = |p: &str, mode: u32| fs::DirBuilder::new().mode(mode).create(t.join(p));
    mk("", 0o755)?;
    mk("d", 0o755)?;
    File::create(t.join("d/c"))?.write_all(b"child")?;
    mk("e", 0o755)?;
    mk("d2", 0o755)?;
    mk("d2/sub", 0o755)?;
    mk("sticky", 0o1777)?;
    File::create(t.join("sticky/rootfile"))?;
    File::create(t.join("f"))?.write_all(b"regular file")?;
    fs::set_permissions(t.join("f"), fs::Permissions::from_mode(0o600))?;
    std::os::unix::fs::symlink("loop", t.join("loop"))?;
    std::os::unix::fs::symlink("f", t.join("sl"))?;
    std::os::unix::fs::symlink("nowhere", t.join("dangling"))?;
    let p = |s: &str| t.join(s);
    let long = "n".repeat(256);

    let cases: Vec<Case> = vec![
        (
            "unlink-missing",
            &[libc::ENOENT],
            Box::new(|| fs::remove_file(p("missing"))),
        ),
        (
            "stat-missing",
            &[libc::ENOENT],
            Box::new(|| fs::metadata(p("missing")).map(drop)),
        ),
        (
            "link-missing-source",
            &[libc::ENOENT],
            Box::new(|| fs::hard_link(p("missing"), p("l1"))),
        ),
        (
            "open-excl-existing",
            &[libc::EEXIST],
            Box::new(|| open(&p("f"), libc::O_EXCL, true, true).map(drop)),
        ),
        (
            "open-excl-dangling-symlink",
            &[libc::EEXIST],
            Box::new(|| open(&p("dangling"), libc::O_EXCL, true, true).map(drop)),
        ),
        (
            "mkdir-existing",
            &[libc::EEXIST],
            Box::new(|| fs::create_dir(p("d"))),
        ),
        (
            "symlink-existing",
            &[libc::EEXIST],
            Box::new(|| std::os::unix::fs::symlink("x", p("f"))),
        ),
        (
            "link-existing",
            &[libc::EEXIST],
            Box::new(|| fs::hard_link(p("f"), p("sl"))),
        ),
        (
            "rmdir-nonempty",
            &[libc::ENOTEMPTY, libc::EEXIST],
            Box::new(|| fs::remove_dir(p("d"))),
        ),
        (
            "rmdir-dot",
            &[libc::EINVAL],
            Box::new(|| fs::remove_dir(p("e/."))),
        ),
        (
            "rmdir-file",
            &[libc::ENOTDIR],
            Box::new(|| fs::remove_dir(p("f"))),
        ),
        (
            "unlink-dir",
            &[libc::EISDIR],
            Box::new(|| fs::remove_file(p("d"))),
        ),
        (
            "open-dir-wronly",
            &[libc::EISDIR],
            Box::new(|| open(&p("d"), 0, true, false).map(drop)),
        ),
        (
            "read-dir-fd",
            &[libc::EISDIR],
            Box::new(|| File::open(p("d"))?.read(&mut [0u8; 16]).map(drop)),
        ),
        (
            "truncate-dir",
            &[libc::EISDIR],
            Box::new(|| {
                let c = sys::cpath(&p("d"))?;
                // SAFETY: valid NUL-terminated path.
                if unsafe { libc::truncate(c.as_ptr(), 0) } < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            }),
        ),
        (
            "open-under-file",
            &[libc::ENOTDIR],
            Box::new(|| File::open(p("f/x")).map(drop)),
        ),
        (
            "open-file-trailing-slash",
            &[libc::ENOTDIR],
            Box::new(|| File::open(p("f/")).map(drop)),
        ),
        (
            "open-directory-flag-on-file",
            &[libc::ENOTDIR],
            Box::new(|| open(&p("f"), libc::O_DIRECTORY, false, false).map(drop)),
        ),
        (
            "mkdir-under-file",
            &[libc::ENOTDIR],
            Box::new(|| fs::create_dir(p("f/x"))),
        ),
        (
            "link-dir",
            &[libc::EPERM],
            Box::new(|| fs::hard_link(p("d"), p("dlink"))),
        ),
        (
            "rename-dir-into-own-child",
            &[libc::EINVAL],
            Box::new(|| fs::rename(p("d2"), p("d2/sub/x"))),
        ),
        (
            "rename-dir-over-nonempty-dir",
            &[libc::ENOTEMPTY, libc::EEXIST],
            Box::new(|| fs::rename(p("e"), p("d"))),
        ),
        (
            "rename-file-over-dir",
            &[libc::EISDIR],
            Box::new(|| fs::rename(p("f"), p("e"))),
        ),
        (
            "rename-dir-over-file",
            &[libc::ENOTDIR],
            Box::new(|| fs::rename(p("e"), p("f"))),
        ),
        (
            "rename-missing",
            &[libc::ENOENT],
            Box::new(|| fs::rename(p("missing"), p("m2"))),
        ),
        (
            "rename-cross-mount",
            &[libc::EXDEV],
            Box::new(|| fs::rename(p("f"), "/dev/fsops-exdev")),
        ),
        (
            "link-cross-mount",
            &[libc::EXDEV],
            Box::new(|| fs::hard_link(p("f"), "/dev/fsops-exdev")),
        ),
        (
            "create-name-256",
            &[libc::ENAMETOOLONG],
            Box::new(|| File::create(p(&long)).map(drop)),
        ),
        (
            "mkdir-name-256",
            &[libc::ENAMETOOLONG],
            Box::new(|| fs::create_dir(p(&long))),
        ),
        (
            "stat-name-256",
            &[libc::ENAMETOOLONG],
            Box::new(|| fs::metadata(p(&long)).map(drop)),
        ),
        (
            "readlink-regular-file",
            &[libc::EINVAL],
            Box::new(|| fs::read_link(p("f")).map(drop)),
        ),
        (
            "open-symlink-loop",
            &[libc::ELOOP],
            Box::new(|| File::open(p("loop")).map(drop)),
        ),
        (
            "open-nofollow-symlink",
            &[libc::ELOOP],
            Box::new(|| open(&p("sl"), libc::O_NOFOLLOW, false, false).map(drop)),
        ),
        (
            "write-rdonly-fd",
            &[libc::EBADF],
            Box::new(|| File::open(p("f"))?.write(b"x").map(drop)),
        ),
        (
            "ftruncate-rdonly-fd",
            &[libc::EINVAL, libc::EBADF],
            Box::new(|| File::open(p("f"))?.set_len(0)),
        ),
        (
            "lseek-negative",
            &[libc::EINVAL],
            Box::new(|| {
                let f = File::open(p("f"))?;
                // SAFETY: lseek on an open descriptor.
                if unsafe { libc::lseek(f.as_raw_fd(), -1, libc::SEEK_SET) } < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            }),
        ),
        (
            "nobody-create-in-root-dir",
            &[libc::EACCES],
            Box::new(|| {
                let _u = AsUser::enter(NOBODY, NOBODY);
                File::create(p("d/nobody")).map(drop)
            }),
        ),
        (
            "nobody-open-0600-file",
            &[libc::EACCES],
            Box::new(|| {
                let _u = AsUser::enter(NOBODY, NOBODY);
                File::open(p("f")).map(drop)
            }),
        ),
        (
            "nobody-chmod-not-owner",
            &[libc::EPERM],
            Box::new(|| {
                let _u = AsUser::enter(NOBODY, NOBODY);
                fs::set_permissions(p("f"), fs::Permissions::from_mode(0o666))
            }),
        ),
        (
            "nobody-unlink-in-sticky-dir",
            &[libc::EPERM],
            Box::new(|| {
                let _u = AsUser::enter(NOBODY, NOBODY);
                fs::remove_file(p("sticky/rootfile"))
            }),
        ),
    ];

    let mut unexpected = 0;
    let mut out = io::stdout().lock();
    for (name, accepted, case) in &cases {
        let result = case();
        let (shown, ok) = match &result {
            Ok(()) => ("OK".to_string(), false),
            Err(e) => {
                let n = e.raw_os_error().unwrap_or(0);
                (errno_name(n), accepted.contains(&n))
            }
        };
        writeln!(out, "{name} {shown}")?;
        if !ok {
            unexpected += 1;
            let want: Vec<String> = accepted.iter().map(|&e| errno_name(e)).collect();
            eprintln!(
                "fsops errnos: {name}: got {shown}, expected {}",
                want.join(" or ")
            );
        }
    }
    out.flush()?;
    fs::remove_dir_all(&t)?;
    Ok(unexpected)
}
