// SPDX-License-Identifier: GPL-2.0

//! fcntl and flock locks on a member: the owner holds every lock (LOCK requests), so the
//! processes of all nodes conflict with each other; this node records what it was granted.
//!
//! The record is what makes the VFS call us back to release a process's locks when it closes
//! the file or exits, and it answers /proc/locks. The owner never waits: F_SETLKW polls it,
//! backing off to [`POLL_MAX_MS`], and a signal ends the wait as locally.

use super::call;
use super::inode::fh;
use crate::bindings;
use crate::uapi_remote::{lock, LockInfo, LockReq, Reply, Request};
use kernel::ffi::c_int;
use kernel::prelude::*;

/// Longest pause between two tries of a blocked F_SETLKW.
const POLL_MAX_MS: u32 = 50;

/// The wire type of a kernel lock type (F_RDLCK, F_WRLCK, F_UNLCK).
fn wire_type(ty: u8) -> u8 {
    match ty as u32 {
        bindings::F_RDLCK => lock::READ,
        bindings::F_WRLCK => lock::WRITE,
        _ => lock::UNLOCK,
    }
}

/// Asks the owner.
///
/// # Safety
///
/// `file` must be an open member file and `fl` a lock request on it.
unsafe fn remote(file: *mut bindings::file, fl: *const bindings::file_lock, kind: u8, cmd: u8) -> Result<LockInfo> {
    // SAFETY: Per the contract.
    let (inode, fl) = unsafe { ((*file).f_inode, &*fl) };
    let (start, end) = if kind == lock::FLOCK { (0, lock::EOF) } else { (fl.fl_start as u64, fl.fl_end as u64) };
    let req = LockReq {
        // SAFETY: `inode` is a live member inode.
        fh: *unsafe { fh(inode) },
        // An opaque name of the owner (files_struct, or the file for OFD and flock locks),
        // unique on this node while it holds locks.
        owner: fl.c.flc_owner as usize as u64,
        kind,
        cmd,
        ty: wire_type(fl.c.flc_type),
        start,
        end: end.min(lock::EOF),
    };
    // SAFETY: As above.
    match call(unsafe { (*inode).i_sb }, &Request::Lock(req))?.get()? {
        Reply::Lock(info) => Ok(info),
        _ => Err(EIO),
    }
}

/// Takes or releases a lock: the owner first, then the local record (for a release, the
/// other way round, so no other local owner is ever refused by a stale record).
///
/// # Safety
///
/// As for [`remote`].
unsafe fn set(file: *mut bindings::file, wait: bool, fl: *mut bindings::file_lock, kind: u8) -> c_int {
    // SAFETY: Per the contract.
    let inode = unsafe { (*file).f_inode };
    // SAFETY: As above.
    if unsafe { (*fl).c.flc_type } as u32 == bindings::F_UNLCK {
        // SAFETY: `fl` is the caller's request on `inode`.
        let ret = unsafe { bindings::locks_lock_inode_wait(inode, fl) };
        // The owner is told even when the caller is being killed: the request is sent before
        // the wait that a fatal signal cuts short.
        // SAFETY: As above.
        let remote_ret = unsafe { remote(file, fl, kind, lock::SET) };
        return if ret != 0 { ret } else { remote_ret.err().map_or(0, |e| e.to_errno()) };
    }
    let mut pause = 1u32;
    loop {
        // SAFETY: As above.
        match unsafe { remote(file, fl, kind, lock::SET) } {
            Ok(_) => break,
            Err(e) if e == EAGAIN && wait => {
                // SAFETY: Sleeps the calling task; woken early by a signal.
                unsafe { bindings::msleep_interruptible(pause) };
                // SAFETY: Reads the calling task's signal state.
                if unsafe { bindings::mxfs_signal_pending() } {
                    return ERESTARTSYS.to_errno();
                }
                pause = (pause * 2).min(POLL_MAX_MS);
            }
            Err(e) => return e.to_errno(),
        }
    }
    // SAFETY: As above.
    let ret = unsafe { bindings::locks_lock_inode_wait(inode, fl) };
    if ret != 0 {
        // Not recorded, so never released by close: give it back now.
        // SAFETY: As above; the request is restored before returning.
        unsafe {
            let ty = (*fl).c.flc_type;
            (*fl).c.flc_type = bindings::F_UNLCK as u8;
            let _ = remote(file, fl, kind, lock::SET);
            (*fl).c.flc_type = ty;
        }
    }
    ret
}

/// `f_op->lock` of member files: F_GETLK, F_SETLK and F_SETLKW (OFD locks arrive as these).
pub(crate) unsafe extern "C" fn lock(file: *mut bindings::file, cmd: c_int, fl: *mut bindings::file_lock) -> c_int {
    if cmd as u32 == bindings::F_GETLK {
        // SAFETY: The VFS passes an open member file and its lock request.
        return match unsafe { remote(file, fl, lock::POSIX, lock::TEST) } {
            Ok(info) => {
                // SAFETY: As above; the conflict goes back in the caller's request.
                unsafe {
                    if info.ty == lock::UNLOCK {
                        (*fl).c.flc_type = bindings::F_UNLCK as u8;
                    } else {
                        (*fl).c.flc_type = if info.ty == lock::WRITE { bindings::F_WRLCK } else { bindings::F_RDLCK } as u8;
                        (*fl).fl_start = info.start as bindings::loff_t;
                        (*fl).fl_end = info.end as bindings::loff_t;
                        // Another node's process: no local pid names it.
                        (*fl).c.flc_pid = 0;
                        (*fl).c.flc_flags &= !bindings::FL_SLEEP;
                    }
                }
                0
            }
            Err(e) => e.to_errno(),
        };
    }
    // SAFETY: As above.
    unsafe { set(file, cmd as u32 == bindings::F_SETLKW, fl, lock::POSIX) }
}

/// `f_op->flock` of member files.
pub(crate) unsafe extern "C" fn flock(file: *mut bindings::file, cmd: c_int, fl: *mut bindings::file_lock) -> c_int {
    // SAFETY: The VFS passes an open member file and its flock request.
    unsafe { set(file, cmd as u32 == bindings::F_SETLKW, fl, lock::FLOCK) }
}
