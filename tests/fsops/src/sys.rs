//! Thin wrappers over the few system calls std does not expose.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::model::Time;

pub fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW): works on symlinks themselves too.
pub fn lutimes(path: &Path, atime: Time, mtime: Time) -> io::Result<()> {
    let c = cpath(path)?;
    let ts = [
        libc::timespec {
            tv_sec: atime.0 as libc::time_t,
            tv_nsec: atime.1 as libc::c_long,
        },
        libc::timespec {
            tv_sec: mtime.0 as libc::time_t,
            tv_nsec: mtime.1 as libc::c_long,
        },
    ];
    // SAFETY: valid NUL-terminated path and a two-element timespec array.
    check(unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
}

/// Copies `data` into `file` at `off` (page aligned, inside the file) through a shared
/// writable mapping, then msync(MS_SYNC)s and unmaps it.
pub fn mmap_write(file: &File, off: u64, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    // SAFETY: a fresh mapping of `data.len()` bytes of an open file; we only write inside it
    // and unmap it before returning. The caller guarantees off + len <= file size.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            data.len(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            off as libc::off_t,
        );
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), p as *mut u8, data.len());
        let synced = check(libc::msync(p, data.len(), libc::MS_SYNC));
        let unmapped = check(libc::munmap(p, data.len()));
        synced.and(unmapped)
    }
}

/// Switches the uid/gid used for permission checks (and drops the fs capabilities while
/// non-zero), so EACCES/EPERM cases run as an ordinary user without forking.
pub struct AsUser;

impl AsUser {
    pub fn enter(uid: u32, gid: u32) -> AsUser {
        // SAFETY: setfsuid/setfsgid only change this thread's filesystem credentials.
        unsafe {
            libc::setfsgid(gid);
            libc::setfsuid(uid);
        }
        AsUser
    }
}

impl Drop for AsUser {
    fn drop(&mut self) {
        // SAFETY: as above; restores root's filesystem credentials and capabilities.
        unsafe {
            libc::setfsuid(0);
            libc::setfsgid(0);
        }
    }
}

pub fn umask(mask: u32) {
    // SAFETY: umask cannot fail.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
}

/// The symbolic name of an errno, for output that is compared between filesystems.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ENODEV => "ENODEV",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::ENODATA => "ENODATA",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETXTBSY => "ETXTBSY",
        libc::ESTALE => "ESTALE",
        libc::ENOTTY => "ENOTTY",
        libc::EAGAIN => "EAGAIN",
        libc::EINTR => "EINTR",
        libc::EDEADLK => "EDEADLK",
        libc::ENOLCK => "ENOLCK",
        libc::E2BIG => "E2BIG",
        _ => return format!("errno{e}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
        assert_eq!(errno_name(libc::ENAMETOOLONG), "ENAMETOOLONG");
        assert_eq!(errno_name(4242), "errno4242");
    }
}
