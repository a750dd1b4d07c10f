//! The system calls the executor needs and std does not wrap: file handles, per-thread
//! filesystem credentials, getdents64, renameat2, and `stat` into the wire's `Attr`.
//! Every failure is the raw errno, which goes back to the member unchanged.

use std::ffi::CString;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use mxfs_uapi::remote::{Attr, Creds, Fh, StatFs, Time, MAX_HANDLE, MAX_UMASK};

pub type Errno = u32;

pub fn errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO) as Errno
}

/// Runs `f` until it does not fail with EINTR; a negative result becomes the errno.
pub fn check<T: Copy + PartialOrd + Default>(mut f: impl FnMut() -> T) -> Result<T, Errno> {
    loop {
        let r = f();
        if r >= T::default() {
            return Ok(r);
        }
        let e = errno();
        if e != libc::EINTR as Errno {
            return Err(e);
        }
    }
}

pub fn cstr(b: &[u8]) -> Result<CString, Errno> {
    CString::new(b).map_err(|_| libc::EINVAL as Errno)
}

#[repr(C)]
struct FileHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; MAX_HANDLE],
}

/// `open_by_handle_at(2)`; needs CAP_DAC_READ_SEARCH, so call it before switching to a
/// caller's credentials. `O_PATH` opens any inode type, symlinks included.
pub fn open_by_handle(mount: RawFd, fh: &Fh, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let mut h = FileHandle { handle_bytes: fh.len as u32, handle_type: fh.ty, f_handle: [0; MAX_HANDLE] };
    h.f_handle[..fh.len as usize].copy_from_slice(fh.as_bytes());
    // SAFETY: `h` is a valid file_handle with handle_bytes within its array.
    let fd = check(|| unsafe { libc::syscall(libc::SYS_open_by_handle_at, mount, &mut h as *mut FileHandle, flags | libc::O_CLOEXEC) })?;
    // SAFETY: a fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `name_to_handle_at(2)` of `name` in `dir` (empty name: `dir` itself). Never follows a
/// final symlink.
pub fn handle_of(dir: RawFd, name: &[u8]) -> Result<Fh, Errno> {
    let mut h = FileHandle { handle_bytes: MAX_HANDLE as u32, handle_type: 0, f_handle: [0; MAX_HANDLE] };
    let mut mount_id: libc::c_int = 0;
    let path = cstr(name)?;
    let flags = if name.is_empty() { libc::AT_EMPTY_PATH } else { 0 };
    // SAFETY: valid path, handle buffer of MAX_HANDLE bytes as declared, and mount id.
    check(|| unsafe {
        libc::syscall(libc::SYS_name_to_handle_at, dir, path.as_ptr(), &mut h as *mut FileHandle, &mut mount_id as *mut libc::c_int, flags)
    })?;
    Fh::new(h.handle_type, &h.f_handle[..(h.handle_bytes as usize).min(MAX_HANDLE)]).map_err(|_| libc::EOVERFLOW as Errno)
}

/// `openat(dir, name, flags)`.
pub fn open_at(dir: RawFd, name: &[u8], flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let path = cstr(name)?;
    // SAFETY: valid path; the result is owned at once.
    let fd = check(|| unsafe { libc::openat(dir, path.as_ptr(), flags | libc::O_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The `/proc/self/fd/N` path of an `O_PATH` descriptor. Opening it is a fresh open of the
/// same inode with the permission checks of the current (caller's) credentials.
pub fn proc_path(fd: &OwnedFd) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL in a number")
}

pub fn reopen(fd: &OwnedFd, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let p = proc_path(fd);
    // SAFETY: valid path; the result is owned at once.
    let r = check(|| unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY, 0) })?;
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

pub fn fstat(fd: RawFd) -> Result<libc::stat, Errno> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills the whole struct on success.
    check(|| unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: initialised by the successful call.
    Ok(unsafe { st.assume_init() })
}

pub fn attr_of(st: &libc::stat) -> Attr {
    let t = |sec: i64, nsec: i64| Time { sec, nsec: nsec.clamp(0, 999_999_999) as u32 };
    Attr {
        ino: st.st_ino,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: t(st.st_atime, st.st_atime_nsec),
        mtime: t(st.st_mtime, st.st_mtime_nsec),
        ctime: t(st.st_ctime, st.st_ctime_nsec),
        mode: st.st_mode,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev_major: libc::major(st.st_rdev),
        rdev_minor: libc::minor(st.st_rdev),
        blksize: st.st_blksize as u32,
        generation: 0,
    }
}

pub fn attr(fd: RawFd) -> Result<Attr, Errno> {
    fstat(fd).map(|st| attr_of(&st))
}

pub fn statfs(fd: RawFd) -> Result<libc::statfs, Errno> {
    // SAFETY: statfs is plain data; fstatfs fills it on success.
    let mut s: libc::statfs = unsafe { zeroed() };
    // SAFETY: valid pointer to a statfs.
    check(|| unsafe { libc::fstatfs(fd, &mut s) })?;
    Ok(s)
}

pub fn statfs_of(s: &libc::statfs) -> StatFs {
    StatFs {
        bsize: s.f_bsize as u64,
        blocks: s.f_blocks,
        bfree: s.f_bfree,
        bavail: s.f_bavail,
        files: s.f_files,
        ffree: s.f_ffree,
        namelen: s.f_namelen as u64,
    }
}

/// `getdents64` into `buf`; returns the bytes filled (0 at the end of the directory).
pub fn getdents(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes.
    check(|| unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) }).map(|n| n as usize)
}

pub fn renameat2(from_dir: RawFd, from: &[u8], to_dir: RawFd, to: &[u8], flags: u32) -> Result<(), Errno> {
    let (a, b) = (cstr(from)?, cstr(to)?);
    // SAFETY: valid paths and descriptors.
    check(|| unsafe { libc::syscall(libc::SYS_renameat2, from_dir, a.as_ptr(), to_dir, b.as_ptr(), flags) }).map(|_| ())
}

/// A thread's filesystem identity (fsuid, fsgid, supplementary groups, umask). Linux keeps
/// these per thread once the thread has its own filesystem context; the raw system calls
/// change only the calling thread (glibc's `setgroups` would change every thread).
pub struct ThreadCreds {
    saved_groups: Vec<libc::gid_t>,
}

impl ThreadCreds {
    /// Gives the thread a umask of its own (an unshared filesystem context) and remembers its
    /// supplementary groups to restore after each request.
    pub fn new() -> ThreadCreds {
        // SAFETY: unsharing CLONE_FS affects only the calling thread's cwd, root and umask.
        if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
            // Then the umask stays the process's (0): new inodes would ignore the caller's.
            log::error!("a worker thread cannot get a umask of its own: {}", std::io::Error::last_os_error());
        }
        let mut g = vec![0 as libc::gid_t; 256];
        // SAFETY: the buffer holds g.len() gids.
        let n = unsafe { libc::getgroups(g.len() as libc::c_int, g.as_mut_ptr()) };
        g.truncate(n.max(0) as usize);
        ThreadCreds { saved_groups: g }
    }

    /// Takes on the caller's identity for filesystem access until the guard drops. A fsuid
    /// other than 0 also drops the filesystem capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER,
    /// CAP_CHOWN, ...), exactly as for a process of that user. The caller's umask applies to
    /// the inodes created meanwhile, unless their directory's default ACL decides the mode.
    pub fn become_caller(&self, creds: &Creds) -> Result<CredGuard<'_>, Errno> {
        let groups = creds.groups();
        let guard = CredGuard { owner: self };
        // SAFETY: setgroups reads groups.len() gids.
        check(|| unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) })?;
        set_fs_id(libc::SYS_setfsgid, creds.gid)?;
        set_fs_id(libc::SYS_setfsuid, creds.uid)?;
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(libc::mode_t::from(creds.umask & MAX_UMASK)) };
        Ok(guard)
    }
}

/// setfsuid/setfsgid report no error: read the value back to see it took.
fn set_fs_id(call: libc::c_long, id: u32) -> Result<(), Errno> {
    // SAFETY: setfs[ug]id take one id and return the previous one.
    unsafe { libc::syscall(call, id) };
    // SAFETY: -1 is never valid, so this only reads the current value.
    let now = unsafe { libc::syscall(call, u32::MAX) } as u32;
    if now == id {
        Ok(())
    } else {
        log::error!("cannot switch a worker thread's filesystem id to {id}");
        Err(libc::EPERM as Errno)
    }
}

/// Restores root's filesystem identity (and capabilities) on drop.
pub struct CredGuard<'a> {
    owner: &'a ThreadCreds,
}

impl Drop for CredGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: plain per-thread credential calls; root may always return to itself.
        unsafe {
            libc::umask(0);
            libc::syscall(libc::SYS_setfsuid, 0u32);
            libc::syscall(libc::SYS_setfsgid, 0u32);
            libc::syscall(libc::SYS_setgroups, self.owner.saved_groups.len(), self.owner.saved_groups.as_ptr());
        }
        // SAFETY: reads the current fsuid only.
        let uid = unsafe { libc::syscall(libc::SYS_setfsuid, u32::MAX) };
        if uid != 0 {
            // A worker that cannot get root back would run later requests with the wrong
            // identity; stopping the daemon is the only safe answer.
            log::error!("a worker thread could not restore its filesystem identity; exiting");
            std::process::abort();
        }
    }
}

const _: () = assert!(size_of::<FileHandle>() == 8 + MAX_HANDLE);
