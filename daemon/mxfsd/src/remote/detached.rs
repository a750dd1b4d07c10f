//! The XFS mount of an owner that took the volume over: mounted by the daemon itself with the
//! new mount API as a detached mount (in no mount namespace, so no user sees a second mount of
//! the volume), held as one descriptor, and unmounted when that descriptor is closed.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

fn errno_text() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Mounts the XFS on `device` (log recovery included) and returns the mount's root directory,
/// opened for reading: `open_by_handle_at` refuses the `O_PATH` descriptor `fsmount` gives.
pub fn mount_xfs(device: &str) -> Result<OwnedFd, String> {
    let dev = CString::new(device).map_err(|_| format!("device path {device:?} contains NUL"))?;
    // SAFETY: Plain syscalls with NUL-terminated strings that outlive them; each returned
    // descriptor is owned exactly once below.
    unsafe {
        let fs = libc::syscall(libc::SYS_fsopen, c"xfs".as_ptr(), FSOPEN_CLOEXEC);
        if fs < 0 {
            return Err(format!("fsopen(xfs): {}", errno_text()));
        }
        let fs = OwnedFd::from_raw_fd(fs as i32);
        let fsfd = std::os::fd::AsRawFd::as_raw_fd(&fs);
        if libc::syscall(libc::SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, c"source".as_ptr(), dev.as_ptr(), 0) < 0 {
            return Err(format!("fsconfig(source={device}): {}", errno_text()));
        }
        if libc::syscall(libc::SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, std::ptr::null::<u8>(), std::ptr::null::<u8>(), 0) < 0 {
            return Err(format!("cannot mount {device} as XFS: {}", errno_text()));
        }
        let m = libc::syscall(libc::SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, 0);
        if m < 0 {
            return Err(format!("fsmount({device}): {}", errno_text()));
        }
        let m = OwnedFd::from_raw_fd(m as i32);
        let root = libc::openat(std::os::fd::AsRawFd::as_raw_fd(&m), c".".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
        if root < 0 {
            return Err(format!("cannot open the root of the XFS on {device}: {}", errno_text()));
        }
        // The directory keeps the detached mount alive; `m` may go.
        Ok(OwnedFd::from_raw_fd(root))
    }
}
