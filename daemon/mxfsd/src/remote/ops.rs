//! Executes one remote request on the owner's mount, by file handle, as the caller.
//!
//! Handles are opened `O_PATH` as root first (open_by_handle_at needs CAP_DAC_READ_SEARCH and
//! checks no permission itself); then the thread takes on the caller's fsuid, fsgid and groups,
//! and every access that needs a permission check happens under them: `*at` calls relative to
//! the `O_PATH` directory, and fresh opens of `/proc/self/fd/N` for data. The errno a call
//! fails with is the reply, unchanged.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use mxfs_uapi::remote::{set, Attr, Creds, Fh, LockInfo, Reply, Request, SetAttr, StatFs, MAX_DIRENTS, MAX_IO, PATH_MAX};

use super::dirents;
use super::sys::{self, cstr, Errno, ThreadCreds};

/// A successful result, owning its data until it is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Entry { fh: Fh, attr: Attr },
    Attr(Attr),
    Done,
    Dirents { eof: bool, data: Vec<u8> },
    Data(Vec<u8>),
    Written { count: u32, attr: Attr },
    StatFs(StatFs),
    Lock(LockInfo),
}

impl Out {
    pub fn as_reply(&self) -> Reply<'_> {
        match self {
            Out::Entry { fh, attr } => Reply::Entry { fh: *fh, attr: *attr },
            Out::Attr(a) => Reply::Attr(*a),
            Out::Done => Reply::Done,
            Out::Dirents { eof, data } => Reply::Dirents { eof: *eof, data },
            Out::Data(d) => Reply::Data(d),
            Out::Written { count, attr } => Reply::Written { count: *count, attr: *attr },
            Out::StatFs(s) => Reply::StatFs(*s),
            Out::Lock(l) => Reply::Lock(*l),
        }
    }
}

const EINVAL: Errno = libc::EINVAL as Errno;

fn path_fd(mount: RawFd, fh: &Fh) -> Result<OwnedFd, Errno> {
    sys::open_by_handle(mount, fh, libc::O_PATH)
}

fn file_type(fd: &OwnedFd) -> Result<u32, Errno> {
    Ok(sys::fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT)
}

/// Data operations only make sense on regular files: opening a device or fifo here would
/// reach the owner's device, not the member's.
fn regular(fd: &OwnedFd) -> Result<(), Errno> {
    match file_type(fd)? {
        libc::S_IFREG => Ok(()),
        libc::S_IFDIR => Err(libc::EISDIR as Errno),
        _ => Err(EINVAL),
    }
}

/// The entry `name` in `dir`: its handle and attributes, from one `O_PATH` open so both
/// describe the same inode.
fn entry(dir: RawFd, name: &[u8]) -> Result<Out, Errno> {
    let fd = sys::open_at(dir, name, libc::O_PATH | libc::O_NOFOLLOW)?;
    let fh = sys::handle_of(fd.as_raw_fd(), b"")?;
    Ok(Out::Entry { fh, attr: sys::attr(fd.as_raw_fd())? })
}

/// Runs `req` for `creds` on the mount whose root is `mount`.
pub fn execute(mount: RawFd, me: &ThreadCreds, creds: &Creds, req: &Request<'_>) -> Result<Out, Errno> {
    let caller = || me.become_caller(creds);
    match *req {
        Request::GetRoot => Ok(Out::Entry { fh: sys::handle_of(mount, b"")?, attr: sys::attr(mount)? }),
        Request::GetAttr { fh } => Ok(Out::Attr(sys::attr(path_fd(mount, &fh)?.as_raw_fd())?)),
        Request::StatFs { fh } => Ok(Out::StatFs(sys::statfs_of(&sys::statfs(path_fd(mount, &fh)?.as_raw_fd())?))),
        Request::ReadLink { fh } => {
            let fd = path_fd(mount, &fh)?;
            let mut buf = vec![0u8; PATH_MAX + 1];
            let empty = cstr(b"")?;
            // SAFETY: the buffer holds buf.len() bytes; an empty path reads the O_PATH link itself.
            let n = unsafe { libc::readlinkat(fd.as_raw_fd(), empty.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
            if n < 0 {
                return Err(sys::errno());
            }
            buf.truncate((n as usize).min(PATH_MAX));
            Ok(Out::Data(buf))
        }
        Request::Fsync { fh, datasync } => {
            // Flushing reveals nothing and needs no permission: done as root. Only files and
            // directories are opened (a fifo would block, a device would open).
            let fd = path_fd(mount, &fh)?;
            match file_type(&fd)? {
                libc::S_IFREG | libc::S_IFDIR => {}
                _ => return Ok(Out::Done),
            }
            let f = sys::reopen(&fd, libc::O_RDONLY | libc::O_NONBLOCK)?;
            // SAFETY: a valid descriptor.
            let r = unsafe { if datasync { libc::fdatasync(f.as_raw_fd()) } else { libc::fsync(f.as_raw_fd()) } };
            if r < 0 {
                return Err(sys::errno());
            }
            Ok(Out::Done)
        }
        Request::Lookup { dir, name } => {
            let d = path_fd(mount, &dir)?;
            let _as = caller()?;
            entry(d.as_raw_fd(), name)
        }
        Request::SetAttr { fh, attr } => {
            let fd = path_fd(mount, &fh)?;
            let _as = caller()?;
            setattr(&fd, &attr)?;
            Ok(Out::Attr(sys::attr(fd.as_raw_fd())?))
        }
        Request::ReadDir { dir, cookie, max } => {
            let d = path_fd(mount, &dir)?;
            let _as = caller()?;
            readdir(&d, cookie, max)
        }
        Request::Mknod { dir, name, mode, rdev_major, rdev_minor } => {
            let d = path_fd(mount, &dir)?;
            let _as = caller()?;
            let n = cstr(name)?;
            let dev = libc::makedev(rdev_major, rdev_minor);
            // SAFETY: valid descriptor and path.
            if unsafe { libc::mknodat(d.as_raw_fd(), n.as_ptr(), mode, dev) } < 0 {
                return Err(sys::errno());
            }
            entry(d.as_raw_fd(), name)
        }
        Request::Mkdir { dir, name, mode } => {
            let d = path_fd(mount, &dir)?;
            let _as = caller()?;
            let n = cstr(name)?;
            // SAFETY: valid descriptor and path.
            if unsafe { libc::mkdirat(d.as_raw_fd(), n.as_ptr(), mode) } < 0 {
                return Err(sys::errno());
            }
            entry(d.as_raw_fd(), name)
        }
        Request::Symlink { dir, name, target } => {
            let d = path_fd(mount, &dir)?;
            let _as = caller()?;
            let (n, t) = (cstr(name)?, cstr(target)?);
            // SAFETY: valid descriptor and paths.
            if unsafe { libc::symlinkat(t.as_ptr(), d.as_raw_fd(), n.as_ptr()) } < 0 {
                return Err(sys::errno());
            }
            entry(d.as_raw_fd(), name)
        }
        Request::Link { fh, dir, name } => {
            let (f, d) = (path_fd(mount, &fh)?, path_fd(mount, &dir)?);
            let _as = caller()?;
            // linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link does not.
            let (from, n) = (sys::proc_path(&f), cstr(name)?);
            // SAFETY: valid paths and descriptor.
            if unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), d.as_raw_fd(), n.as_ptr(), libc::AT_SYMLINK_FOLLOW) } < 0 {
                return Err(sys::errno());
            }
            Ok(Out::Attr(sys::attr(f.as_raw_fd())?))
        }
        Request::Unlink { dir, name } | Request::Rmdir { dir, name } => {
            let d = path_fd(mount, &dir)?;
            let _as = caller()?;
            let n = cstr(name)?;
            let flags = if matches!(req, Request::Rmdir { .. }) { libc::AT_REMOVEDIR } else { 0 };
            // SAFETY: valid descriptor and path.
            if unsafe { libc::unlinkat(d.as_raw_fd(), n.as_ptr(), flags) } < 0 {
                return Err(sys::errno());
            }
            Ok(Out::Done)
        }
        Request::Rename { from_dir, from, to_dir, to, flags } => {
            let (a, b) = (path_fd(mount, &from_dir)?, path_fd(mount, &to_dir)?);
            let _as = caller()?;
            sys::renameat2(a.as_raw_fd(), from, b.as_raw_fd(), to, flags)?;
            Ok(Out::Done)
        }
        Request::Read { fh, offset, len } => {
            let fd = path_fd(mount, &fh)?;
            regular(&fd)?;
            let _as = caller()?;
            let f = sys::reopen(&fd, libc::O_RDONLY)?;
            read(&f, offset, (len as usize).min(MAX_IO))
        }
        Request::Write { fh, offset, sync, data } => {
            let fd = path_fd(mount, &fh)?;
            regular(&fd)?;
            let _as = caller()?;
            let f = sys::reopen(&fd, libc::O_WRONLY | if sync { libc::O_DSYNC } else { 0 })?;
            let count = write(&f, offset, data)?;
            Ok(Out::Written { count, attr: sys::attr(f.as_raw_fd())? })
        }
        // Locks outlive the request: the executor's lock table holds them (`locks`).
        // Taken by the lock table, and between a kernel and its own daemon: never here.
        Request::Lock(_) | Request::CacheLock(_) | Request::CacheDown(_) | Request::CacheBast(_) => Err(EINVAL),
        // Extended attributes through the descriptor's /proc path: the kernel checks access to
        // the namespace (user.* needs read or write permission) as the caller.
        Request::GetXattr { fh, name } => {
            let fd = path_fd(mount, &fh)?;
            let _as = caller()?;
            let (p, n) = (sys::proc_path(&fd), cstr(name)?);
            let mut buf = vec![0u8; MAX_IO];
            // SAFETY: valid paths; the buffer holds buf.len() bytes.
            let r = sys::check(|| unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) });
            buf.truncate(xattr_len(r)?);
            Ok(Out::Data(buf))
        }
        Request::ListXattr { fh } => {
            let fd = path_fd(mount, &fh)?;
            let _as = caller()?;
            let p = sys::proc_path(&fd);
            let mut buf = vec![0u8; MAX_IO];
            // SAFETY: a valid path; the buffer holds buf.len() bytes.
            let r = sys::check(|| unsafe { libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) });
            buf.truncate(xattr_len(r)?);
            // The worker keeps CAP_SYS_ADMIN, so XFS lists trusted.* names; a local caller sees
            // them only with that capability (root, here).
            if creds.uid != 0 {
                buf = buf.split(|&c| c == 0).filter(|n| !n.is_empty() && !n.starts_with(b"trusted.")).flat_map(|n| n.iter().copied().chain([0])).collect();
            }
            Ok(Out::Data(buf))
        }
        Request::SetXattr { fh, name, flags, value } => {
            if flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) as u32 != 0 {
                return Err(EINVAL);
            }
            let fd = path_fd(mount, &fh)?;
            let _as = caller()?;
            let (p, n) = (sys::proc_path(&fd), cstr(name)?);
            // SAFETY: valid paths; `value` holds value.len() bytes.
            if unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), flags as libc::c_int) } < 0 {
                return Err(sys::errno());
            }
            Ok(Out::Done)
        }
        Request::RemoveXattr { fh, name } => {
            let fd = path_fd(mount, &fh)?;
            let _as = caller()?;
            let (p, n) = (sys::proc_path(&fd), cstr(name)?);
            // SAFETY: valid paths.
            if unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) } < 0 {
                return Err(sys::errno());
            }
            Ok(Out::Done)
        }
    }
}

/// The length an xattr call returned; a value or list beyond the wire's limit is E2BIG (a
/// local caller would get it past 64 KiB).
fn xattr_len(r: Result<isize, Errno>) -> Result<usize, Errno> {
    match r {
        Ok(n) => Ok(n as usize),
        Err(e) if e == libc::ERANGE as Errno => Err(libc::E2BIG as Errno),
        Err(e) => Err(e),
    }
}

/// SETATTR in the order that gives the asked-for result: owner first (it may clear set-id
/// bits), then mode, size, times. Each step checks permission as the caller.
fn setattr(fd: &OwnedFd, a: &SetAttr) -> Result<(), Errno> {
    let path = sys::proc_path(fd);
    if a.mask & (set::UID | set::GID) != 0 {
        let uid = if a.mask & set::UID != 0 { a.uid } else { u32::MAX };
        let gid = if a.mask & set::GID != 0 { a.gid } else { u32::MAX };
        let empty = cstr(b"")?;
        // SAFETY: valid descriptor; the empty path names the O_PATH inode itself.
        if unsafe { libc::fchownat(fd.as_raw_fd(), empty.as_ptr(), uid, gid, libc::AT_EMPTY_PATH) } < 0 {
            return Err(sys::errno());
        }
    }
    if a.mask & set::MODE != 0 {
        // SAFETY: valid path.
        if unsafe { libc::chmod(path.as_ptr(), a.mode & 0o7777) } < 0 {
            return Err(sys::errno());
        }
    }
    if a.mask & set::SIZE != 0 {
        let size = i64::try_from(a.size).map_err(|_| libc::EFBIG as Errno)?;
        // SAFETY: valid path.
        if unsafe { libc::truncate(path.as_ptr(), size) } < 0 {
            return Err(sys::errno());
        }
    }
    if a.mask & (set::ATIME | set::MTIME) != 0 {
        let ts = |on: u32, given: u32, t: mxfs_uapi::remote::Time| libc::timespec {
            tv_sec: t.sec,
            tv_nsec: if a.mask & on == 0 {
                libc::UTIME_OMIT
            } else if a.mask & given == 0 {
                libc::UTIME_NOW
            } else {
                t.nsec as i64
            },
        };
        let times = [ts(set::ATIME, set::ATIME_SET, a.atime), ts(set::MTIME, set::MTIME_SET, a.mtime)];
        // SAFETY: valid path and two timespecs.
        if unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) } < 0 {
            return Err(sys::errno());
        }
    }
    Ok(())
}

/// Entries from `cookie` (a getdents offset; 0 = start) up to `max` bytes of entries.
fn readdir(dir: &OwnedFd, cookie: u64, max: u32) -> Result<Out, Errno> {
    let limit = (max as usize).min(MAX_DIRENTS);
    if limit == 0 {
        return Err(EINVAL);
    }
    let d = sys::reopen(dir, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let off = i64::try_from(cookie).map_err(|_| EINVAL)?;
    // SAFETY: valid descriptor.
    if unsafe { libc::lseek(d.as_raw_fd(), off, libc::SEEK_SET) } < 0 {
        return Err(sys::errno());
    }
    let mut out = vec![0u8; limit];
    let mut raw = vec![0u8; 32 * 1024];
    let mut pos = 0;
    loop {
        let n = sys::getdents(d.as_raw_fd(), &mut raw)?;
        if n == 0 {
            out.truncate(pos);
            return Ok(Out::Dirents { eof: true, data: out });
        }
        let p = dirents::pack(&raw[..n], &mut out, pos, limit);
        pos = p.pos;
        if p.full {
            if pos == 0 {
                // Not even one entry fits in what the member asked for.
                return Err(EINVAL);
            }
            out.truncate(pos);
            return Ok(Out::Dirents { eof: false, data: out });
        }
    }
}

fn read(f: &OwnedFd, offset: u64, len: usize) -> Result<Out, Errno> {
    let off = i64::try_from(offset).map_err(|_| EINVAL)?;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        // SAFETY: the buffer has len - got bytes left at got.
        let n = unsafe { libc::pread(f.as_raw_fd(), buf[got..].as_mut_ptr() as *mut libc::c_void, len - got, off + got as i64) };
        if n < 0 {
            let e = sys::errno();
            if e == libc::EINTR as Errno {
                continue;
            }
            if got > 0 {
                break;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    buf.truncate(got);
    Ok(Out::Data(buf))
}

fn write(f: &OwnedFd, offset: u64, data: &[u8]) -> Result<u32, Errno> {
    let off = i64::try_from(offset).map_err(|_| EINVAL)?;
    let mut put = 0;
    while put < data.len() {
        // SAFETY: data has data.len() - put bytes left at put.
        let n = unsafe { libc::pwrite(f.as_raw_fd(), data[put..].as_ptr() as *const libc::c_void, data.len() - put, off + put as i64) };
        if n < 0 {
            let e = sys::errno();
            if e == libc::EINTR as Errno {
                continue;
            }
            // A short write reports what landed, as write(2) does.
            if put > 0 {
                break;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        put += n as usize;
    }
    Ok(put as u32)
}
