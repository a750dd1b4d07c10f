// SPDX-License-Identifier: GPL-2.0

//! Extended attributes and POSIX ACLs, passed to the lower XFS inode.
//!
//! One catch-all handler (empty prefix) serves every namespace (user., trusted., security.);
//! POSIX ACLs arrive through the get_acl/set_acl inode operations, as the VFS routes
//! `system.posix_acl_*` there.

use crate::bindings;
use crate::inode;
use crate::lower::{self, zeroed, SyncTable, WriteAccess};
use kernel::ffi::{c_char, c_int, c_void};
use kernel::prelude::*;

static HANDLER: SyncTable<bindings::xattr_handler> = SyncTable(bindings::xattr_handler {
    prefix: c"".as_ptr().cast(),
    get: Some(get),
    set: Some(set),
    ..zeroed()
});

/// NULL-terminated handler list for `s_xattr`.
pub(crate) static HANDLERS: SyncTable<[*const bindings::xattr_handler; 2]> =
    SyncTable([&HANDLER.0, core::ptr::null()]);

unsafe extern "C" fn get(
    _handler: *const bindings::xattr_handler,
    dentry: *mut bindings::dentry,
    _inode: *mut bindings::inode,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    if dentry.is_null() {
        return -(bindings::EOPNOTSUPP as c_int);
    }
    // SAFETY: `dentry` is a positive mxfs dentry; `buffer` holds `size` bytes (or is null for
    // a size query), as the VFS guarantees.
    let ret = unsafe {
        bindings::vfs_getxattr(&raw mut bindings::nop_mnt_idmap, lower::dentry(dentry), name, buffer, size)
    };
    ret as c_int
}

unsafe extern "C" fn set(
    _handler: *const bindings::xattr_handler,
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    name: *const c_char,
    value: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS holds `inode` locked; `dentry` is its positive dentry; a null
        // `value` means removal.
        unsafe {
            let _write = WriteAccess::new((*dentry).d_sb)?;
            let _ex = crate::cache::hold_ex_on((*dentry).d_sb, &[inode])?;
            let lower_dentry = lower::dentry(dentry);
            let idmap = &raw mut bindings::nop_mnt_idmap;
            let ret = if value.is_null() {
                bindings::vfs_removexattr(idmap, lower_dentry, name)
            } else {
                bindings::vfs_setxattr(idmap, lower_dentry, name, value, size, flags)
            };
            inode::refresh(inode);
            kernel::error::to_result(ret)?;
        }
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn listxattr(dentry: *mut bindings::dentry, list: *mut c_char, size: usize) -> isize {
    // SAFETY: `dentry` is positive; `list` holds `size` bytes or is null for a size query.
    unsafe { bindings::vfs_listxattr(lower::dentry(dentry), list, size) }
}

/// The extended attribute that holds an ACL of type `ty` (owner and member alike).
pub(crate) fn acl_name(ty: c_int) -> Option<&'static core::ffi::CStr> {
    match ty as u32 {
        bindings::ACL_TYPE_ACCESS => Some(c"system.posix_acl_access"),
        bindings::ACL_TYPE_DEFAULT => Some(c"system.posix_acl_default"),
        _ => None,
    }
}

pub(crate) unsafe extern "C" fn get_acl(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    ty: c_int,
) -> *mut bindings::posix_acl {
    let Some(name) = acl_name(ty).map(|n| n.as_ptr().cast()) else {
        return EINVAL.to_ptr();
    };
    // SAFETY: `dentry` is a positive mxfs dentry; the lower ACL is returned with a reference
    // the caller puts.
    unsafe { bindings::vfs_get_acl(&raw mut bindings::nop_mnt_idmap, lower::dentry(dentry), name) }
}

pub(crate) unsafe extern "C" fn set_acl(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    acl: *mut bindings::posix_acl,
    ty: c_int,
) -> c_int {
    kernel::error::from_result(|| {
        let name = acl_name(ty).ok_or(EINVAL)?.as_ptr().cast();
        // SAFETY: The VFS holds the mxfs inode locked; the lower inode is locked by the
        // lower `vfs_*_acl`, which also applies the mode change a new access ACL implies.
        unsafe {
            let _write = WriteAccess::new((*dentry).d_sb)?;
            let _ex = crate::cache::hold_ex_on((*dentry).d_sb, &[lower::d_inode(dentry)])?;
            let lower_dentry = lower::dentry(dentry);
            let idmap = &raw mut bindings::nop_mnt_idmap;
            let ret = if acl.is_null() {
                bindings::vfs_remove_acl(idmap, lower_dentry, name)
            } else {
                bindings::vfs_set_acl(idmap, lower_dentry, name, acl)
            };
            inode::refresh(lower::d_inode(dentry));
            kernel::error::to_result(ret)?;
        }
        Ok(0)
    })
}
