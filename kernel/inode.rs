// SPDX-License-Identifier: GPL-2.0

//! mxfs inodes mirror lower XFS inodes one to one (same inode number), and the operations
//! every kind of inode has: permission, getattr, setattr, and symlink resolution.

use crate::bindings;
use crate::lower::{self, zeroed, SyncTable};
use crate::{dir, file, xattr};
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;

/// `ACL_DONT_CACHE` from <linux/fs.h> (a cast macro bindgen cannot emit).
const ACL_DONT_CACHE: *mut bindings::posix_acl = -3isize as *mut bindings::posix_acl;

unsafe extern "C" fn test(inode: *mut bindings::inode, lower: *mut c_void) -> c_int {
    // SAFETY: Called by `iget5_locked` on inodes of our superblock.
    (unsafe { (*inode).i_private } == lower) as c_int
}

unsafe extern "C" fn set(inode: *mut bindings::inode, lower: *mut c_void) -> c_int {
    // SAFETY: Called under the inode hash lock for a new inode that will be inserted; the
    // reference taken here is dropped in `evict_inode`.
    unsafe {
        bindings::ihold(lower.cast());
        (*inode).i_private = lower;
        (*inode).i_ino = (*lower.cast::<bindings::inode>()).i_ino;
    }
    0
}

/// Copies attributes (mode, owner, times, link count, size) from the lower inode.
///
/// # Safety
///
/// `inode` must be a live mxfs inode.
pub(crate) unsafe fn refresh(inode: *mut bindings::inode) {
    // SAFETY: Per the caller; the lower inode is pinned by our reference.
    unsafe {
        let lower = lower::inode(inode);
        bindings::fsstack_copy_attr_all(inode, lower);
        bindings::fsstack_copy_inode_size(inode, lower);
    }
}

/// Returns the mxfs inode for `lower` (new or cached), with a reference.
///
/// # Safety
///
/// `sb` must be a set-up mxfs superblock and `lower` a live inode of its lower XFS.
pub(crate) unsafe fn get(sb: *mut bindings::super_block, lower: *mut bindings::inode) -> Result<*mut bindings::inode> {
    // SAFETY: Per the caller.
    let inode = unsafe { bindings::iget5_locked(sb, (*lower).i_ino, Some(test), Some(set), lower.cast()) };
    if inode.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `inode` is referenced; a new one is ours to set up until `unlock_new_inode`.
    unsafe {
        if ((*inode).i_state as u64) & (bindings::I_NEW as u64) == 0 {
            return Ok(inode);
        }
        let mode = (*lower).i_mode as u32;
        match mode & bindings::S_IFMT {
            bindings::S_IFDIR => {
                (*inode).i_op = &dir::DIR_IOPS.0;
                (*inode).__bindgen_anon_3.i_fop = &dir::DIR_FOPS.0;
            }
            bindings::S_IFLNK => (*inode).i_op = &SYMLINK_IOPS.0,
            bindings::S_IFREG => {
                (*inode).i_op = &FILE_IOPS.0;
                (*inode).__bindgen_anon_3.i_fop = &file::FILE_FOPS.0;
            }
            _ => {
                (*inode).i_op = &SPECIAL_IOPS.0;
                bindings::init_special_inode(inode, (*lower).i_mode, (*lower).i_rdev);
            }
        }
        // ACLs live on the lower inode and change under it (chmod, set_acl): the VFS must ask
        // every time instead of caching them on the mxfs inode.
        (*inode).i_acl = ACL_DONT_CACHE;
        (*inode).i_default_acl = ACL_DONT_CACHE;
        refresh(inode);
        bindings::unlock_new_inode(inode);
    }
    Ok(inode)
}

/// Operations every kind of mxfs inode has; the per-kind tables add to these.
pub(crate) const fn common_iops() -> bindings::inode_operations {
    bindings::inode_operations {
        permission: Some(permission),
        getattr: Some(getattr),
        setattr: Some(setattr),
        listxattr: Some(xattr::listxattr),
        get_acl: Some(xattr::get_acl),
        set_acl: Some(xattr::set_acl),
        fileattr_get: Some(fileattr_get),
        fileattr_set: Some(fileattr_set),
        ..zeroed()
    }
}

pub(crate) static FILE_IOPS: SyncTable<bindings::inode_operations> =
    SyncTable(bindings::inode_operations { fiemap: Some(fiemap), ..common_iops() });

pub(crate) static SPECIAL_IOPS: SyncTable<bindings::inode_operations> = SyncTable(common_iops());

static SYMLINK_IOPS: SyncTable<bindings::inode_operations> =
    SyncTable(bindings::inode_operations { get_link: Some(get_link), ..common_iops() });

pub(crate) unsafe extern "C" fn permission(
    _idmap: *mut bindings::mnt_idmap,
    inode: *mut bindings::inode,
    mask: c_int,
) -> c_int {
    // SAFETY: `inode` is a live mxfs inode; the lower inode is pinned by it. Also safe in
    // RCU walk: `inode_permission` honours MAY_NOT_BLOCK.
    unsafe { bindings::inode_permission(&raw mut bindings::nop_mnt_idmap, lower::inode(inode), mask) }
}

pub(crate) unsafe extern "C" fn getattr(
    _idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    request_mask: u32,
    flags: c_uint,
) -> c_int {
    // SAFETY: The VFS passes a valid path to one of our dentries and a kstat to fill.
    unsafe {
        let dentry = (*path).dentry;
        let lower_path = lower::path(dentry);
        // The _nosec variant is how the VFS asks for attributes without a security check
        // (vfs_getattr refuses that flag); pass the request on as it came.
        let ret = if flags & bindings::AT_GETATTR_NOSEC != 0 {
            bindings::vfs_getattr_nosec(&lower_path, stat, request_mask, flags)
        } else {
            bindings::vfs_getattr(&lower_path, stat, request_mask, flags)
        };
        if ret == 0 {
            // The lower device number: stable across mounts, like the inode numbers.
            (*stat).dev = (*(*lower_path.dentry).d_sb).s_dev;
            refresh(lower::d_inode(dentry));
        }
        ret
    }
}

pub(crate) unsafe extern "C" fn setattr(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    ia: *mut bindings::iattr,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS passes one of our dentries, positive, with its inode locked.
        unsafe {
            kernel::error::to_result(bindings::setattr_prepare(idmap, dentry, ia))?;
            let inode = lower::d_inode(dentry);
            let lower_dentry = lower::dentry(dentry);
            let lower_inode = lower::d_inode(lower_dentry);
            let mut lower_ia = *ia;
            if lower_ia.ia_valid & bindings::ATTR_FILE != 0 {
                lower_ia.ia_file = lower::file(lower_ia.ia_file);
            }
            // A mode change that only clears set-id bits is the lower filesystem's to make.
            if lower_ia.ia_valid & (bindings::ATTR_KILL_SUID | bindings::ATTR_KILL_SGID) != 0 {
                lower_ia.ia_valid &= !bindings::ATTR_MODE;
            }
            let _write = lower::WriteAccess::new((*dentry).d_sb)?;
            let _ex = crate::cache::hold_ex_on((*dentry).d_sb, &[inode])?;
            bindings::mxfs_inode_lock(lower_inode);
            let ret = bindings::notify_change(
                &raw mut bindings::nop_mnt_idmap,
                lower_dentry,
                &mut lower_ia,
                core::ptr::null_mut(),
            );
            bindings::mxfs_inode_unlock(lower_inode);
            refresh(inode);
            kernel::error::to_result(ret)?;
        }
        Ok(0)
    })
}

unsafe extern "C" fn get_link(
    dentry: *mut bindings::dentry,
    _inode: *mut bindings::inode,
    done: *mut bindings::delayed_call,
) -> *const c_char {
    if dentry.is_null() {
        // RCU walk: the lower filesystem may need to block, so ask for ref walk.
        return ECHILD.to_ptr();
    }
    // SAFETY: `dentry` is a positive mxfs symlink dentry; `done` is the caller's.
    unsafe { bindings::vfs_get_link(lower::dentry(dentry), done) }
}

pub(crate) unsafe extern "C" fn fileattr_get(dentry: *mut bindings::dentry, fa: *mut bindings::fileattr) -> c_int {
    // SAFETY: `dentry` is a positive mxfs dentry; `fa` is the caller's.
    unsafe { bindings::vfs_fileattr_get(lower::dentry(dentry), fa) }
}

pub(crate) unsafe extern "C" fn fileattr_set(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    fa: *mut bindings::fileattr,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: `dentry` is a positive mxfs dentry; the lower call locks the lower inode.
        unsafe {
            let _write = lower::WriteAccess::new((*dentry).d_sb)?;
            let _ex = crate::cache::hold_ex_on((*dentry).d_sb, &[lower::d_inode(dentry)])?;
            let ret = bindings::vfs_fileattr_set(&raw mut bindings::nop_mnt_idmap, lower::dentry(dentry), fa);
            refresh(lower::d_inode(dentry));
            kernel::error::to_result(ret)?;
        }
        Ok(0)
    })
}

unsafe extern "C" fn fiemap(
    inode: *mut bindings::inode,
    info: *mut bindings::fiemap_extent_info,
    start: u64,
    len: u64,
) -> c_int {
    // SAFETY: `inode` is a live mxfs inode; the extent map is the lower file's.
    unsafe {
        let lower = lower::inode(inode);
        match (*(*lower).i_op).fiemap {
            Some(fiemap) => fiemap(lower, info, start, len),
            None => -(bindings::EOPNOTSUPP as c_int),
        }
    }
}
