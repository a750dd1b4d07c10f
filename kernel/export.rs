// SPDX-License-Identifier: GPL-2.0

//! File handles: an mxfs handle is the lower XFS handle, so handles stay valid across
//! remounts and, later, name the same inode on every node.

use crate::bindings;
use crate::inode;
use crate::lower::{self, zeroed, SyncTable};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::ffi::c_int;
use kernel::prelude::*;

pub(crate) static EXPORT_OPS: SyncTable<bindings::export_operations> = SyncTable(bindings::export_operations {
    encode_fh: Some(encode_fh),
    fh_to_dentry: Some(fh_to_dentry),
    get_parent: Some(get_parent),
    ..zeroed()
});

unsafe extern "C" fn encode_fh(
    inode: *mut bindings::inode,
    fh: *mut u32,
    max_len: *mut c_int,
    parent: *mut bindings::inode,
) -> c_int {
    // SAFETY: `inode` (and `parent` if not null) are live mxfs inodes; `fh` has `*max_len`
    // words.
    unsafe {
        let lower_parent = if parent.is_null() { core::ptr::null_mut() } else { lower::inode(parent) };
        bindings::exportfs_encode_inode_fh(lower::inode(inode), fh.cast(), max_len, lower_parent, 0)
    }
}

/// Returns an mxfs dentry for a lower dentry obtained outside lookup (consumes `lower`).
///
/// # Safety
///
/// `sb` is a live mxfs superblock and `lower` a counted dentry of its lower XFS.
unsafe fn alias_of(sb: *mut bindings::super_block, lower: *mut bindings::dentry) -> Result<*mut bindings::dentry> {
    // SAFETY: Per the caller.
    unsafe {
        let inode = match inode::get(sb, lower::d_inode(lower)) {
            Ok(i) => i,
            Err(e) => {
                bindings::dput(lower);
                return Err(e);
            }
        };
        // Consumes the inode reference.
        let dentry = match lower::from_err_ptr(bindings::d_obtain_alias(inode)) {
            Ok(d) => d,
            Err(e) => {
                bindings::dput(lower);
                return Err(e);
            }
        };
        // A new disconnected alias has no lower dentry yet; exactly one racer installs it.
        let slot = AtomicPtr::from_ptr(&raw mut (*dentry).d_fsdata);
        if slot
            .compare_exchange(core::ptr::null_mut(), lower.cast(), Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            bindings::dput(lower);
        }
        Ok(dentry)
    }
}

unsafe extern "C" fn fh_to_dentry(
    sb: *mut bindings::super_block,
    fid: *mut bindings::fid,
    fh_len: c_int,
    fh_type: c_int,
) -> *mut bindings::dentry {
    lower::to_err_ptr((|| {
        // SAFETY: `sb` is ours; the handle bytes come from userspace and are decoded and
        // validated by the lower XFS.
        unsafe {
            let mnt = lower::sb_info(sb).lower_mnt;
            let lower = lower::from_err_ptr(bindings::exportfs_decode_fh(mnt, fid, fh_len, fh_type, None, core::ptr::null_mut()))?;
            if lower.is_null() {
                return Err(lower::errno(bindings::ESTALE));
            }
            alias_of(sb, lower)
        }
    })())
}

unsafe extern "C" fn get_parent(child: *mut bindings::dentry) -> *mut bindings::dentry {
    lower::to_err_ptr((|| {
        // SAFETY: `child` is a positive mxfs directory dentry; XFS has export operations.
        unsafe {
            let lower_child = lower::dentry(child);
            let lower_sb = (*lower_child).d_sb;
            let get_parent = (*(*lower_sb).s_export_op).get_parent.ok_or(EACCES)?;
            let lower_parent = lower::from_err_ptr(get_parent(lower_child))?;
            alias_of((*child).d_sb, lower_parent)
        }
    })())
}
