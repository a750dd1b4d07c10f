// SPDX-License-Identifier: GPL-2.0

//! fcntl and flock locks on the owner: every lock is taken on the lower XFS inode, where the
//! daemon takes the locks of other nodes' processes too, so local and remote owners conflict
//! with each other exactly as local ones do.
//!
//! POSIX locks are also recorded on the mxfs inode: the VFS releases a process's POSIX locks
//! on close only when the inode it closes has some, and then asks us (F_UNLCK of the whole
//! file), which releases them on the lower inode too. flock locks live on the lower file
//! alone: they go when it is released, which is when the mxfs file is.

use crate::bindings;
use crate::lower;
use kernel::ffi::c_int;

/// Makes `copy` the request `fl` for the lower file `lower_file`: the same owner, type, range
/// and flags. `copy` holds list heads that point at themselves: it must not move afterwards.
///
/// # Safety
///
/// `fl` must be a lock request the VFS passed us.
unsafe fn lower_copy(copy: &mut bindings::file_lock, fl: *mut bindings::file_lock, lower_file: *mut bindings::file) {
    // SAFETY: `copy` is ours; `fl` is valid per the contract.
    unsafe {
        bindings::locks_init_lock(copy);
        bindings::locks_copy_lock(copy, fl);
    }
    copy.c.flc_file = lower_file;
}

/// `f_op->lock` of owner files: F_GETLK, F_SETLK and F_SETLKW (OFD locks arrive as these too).
pub(crate) unsafe extern "C" fn lock(file: *mut bindings::file, cmd: c_int, fl: *mut bindings::file_lock) -> c_int {
    // SAFETY: The VFS passes an open mxfs file and its lock request; `open` set the lower file.
    unsafe {
        let lower_file = lower::file(file);
        let mut copy: bindings::file_lock = lower::zeroed();
        lower_copy(&mut copy, fl, lower_file);
        if cmd as u32 == bindings::F_GETLK {
            let ret = bindings::vfs_test_lock(lower_file, &mut copy);
            // The conflict found (or F_UNLCK) goes back in the caller's request.
            (*fl).c.flc_type = copy.c.flc_type;
            (*fl).c.flc_flags = copy.c.flc_flags;
            (*fl).c.flc_pid = copy.c.flc_pid;
            (*fl).fl_start = copy.fl_start;
            (*fl).fl_end = copy.fl_end;
            return ret;
        }
        let upper_inode = (*file).f_inode;
        let lower_inode = (*lower_file).f_inode;
        if (*fl).c.flc_type as u32 == bindings::F_UNLCK {
            let ret = bindings::locks_lock_inode_wait(upper_inode, fl);
            let lower_ret = bindings::locks_lock_inode_wait(lower_inode, &mut copy);
            return if ret != 0 { ret } else { lower_ret };
        }
        // The lower inode decides (and waits, for F_SETLKW); the record follows.
        let ret = bindings::locks_lock_inode_wait(lower_inode, &mut copy);
        if ret != 0 {
            return ret;
        }
        bindings::locks_lock_inode_wait(upper_inode, fl)
    }
}

/// `f_op->flock` of owner files.
pub(crate) unsafe extern "C" fn flock(file: *mut bindings::file, _cmd: c_int, fl: *mut bindings::file_lock) -> c_int {
    // SAFETY: As in `lock`. flock conflicts compare the lock's file, so the copy names the lower
    // file, which is unique to this mxfs file.
    unsafe {
        let lower_file = lower::file(file);
        let mut copy: bindings::file_lock = lower::zeroed();
        lower_copy(&mut copy, fl, lower_file);
        copy.c.flc_owner = lower_file.cast();
        bindings::locks_lock_inode_wait((*lower_file).f_inode, &mut copy)
    }
}
