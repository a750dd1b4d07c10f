// SPDX-License-Identifier: GPL-2.0

//! POSIX ACLs on a member: read and changed on the owner as their `system.posix_acl_*`
//! extended attributes, with the caller's credentials. The VFS caches what `get_inode_acl`
//! returns (and checks permissions against it, in RCU walk too); the lock-cache drops it when
//! the PR grant it was fetched under ends (`cache::hold_pr_for_acls`).

use super::{call, mount_of};
use super::inode::fh;
use crate::bindings;
use crate::cache;
use crate::lower::{errno, to_err_ptr};
use crate::uapi_remote::{Reply, Request};
use crate::xattr::acl_name;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// Asks the owner for the ACL of type `ty`: null when the inode has none (or the volume keeps
/// no ACLs), else a new ACL with one reference for the caller.
///
/// # Safety
///
/// `inode` must be a live member inode.
unsafe fn fetch(inode: *mut bindings::inode, ty: c_int) -> Result<*mut bindings::posix_acl> {
    let name = acl_name(ty).ok_or(EINVAL)?.to_bytes();
    // SAFETY: Per the caller.
    let (fh, sb) = unsafe { (*fh(inode), (*inode).i_sb) };
    let answer = call(sb, &Request::GetXattr { fh, name })?;
    let value = match answer.get() {
        Ok(Reply::Data(v)) => v,
        Ok(_) => return Err(EIO),
        Err(e) if e == errno(bindings::ENODATA) || e == errno(bindings::EOPNOTSUPP) => return Ok(core::ptr::null_mut()),
        Err(e) => return Err(e),
    };
    // SAFETY: `value` is a kernel buffer of `value.len()` bytes; the owner's mxfsd wrote the
    // ids in the initial namespace, as the VFS reads them here.
    let acl = unsafe { bindings::posix_acl_from_xattr(&raw mut bindings::init_user_ns, value.as_ptr().cast(), value.len()) };
    kernel::error::from_err_ptr(acl)
}

pub(crate) unsafe extern "C" fn get_inode_acl(inode: *mut bindings::inode, ty: c_int, rcu: bool) -> *mut bindings::posix_acl {
    if rcu {
        // Fetching needs a remote call.
        return ECHILD.to_ptr();
    }
    to_err_ptr((|| {
        // SAFETY: The VFS passes a live member inode.
        let (mount, ino) = unsafe { (mount_of((*inode).i_sb), (*inode).i_ino as u64) };
        let grant = cache::hold_pr_for_acls(mount, ino)?;
        // SAFETY: As above.
        let acl = unsafe { fetch(inode, ty) };
        if grant == 0 {
            // No grant covers it: the VFS must not keep it.
            // SAFETY: As above.
            unsafe { bindings::forget_cached_acl(inode, ty) };
        }
        acl
    })())
}

pub(crate) unsafe extern "C" fn set_acl(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    acl: *mut bindings::posix_acl,
    ty: c_int,
) -> c_int {
    kernel::error::from_result(|| {
        let name = acl_name(ty).ok_or(EINVAL)?.to_bytes();
        // SAFETY: The VFS passes a positive member dentry, its inode locked.
        let (fh, sb) = unsafe { (*fh((*dentry).d_inode), (*dentry).d_sb) };
        if acl.is_null() {
            return match call(sb, &Request::RemoveXattr { fh, name })?.get() {
                Err(e) if e == errno(bindings::ENODATA) => Ok(0),
                other => other.map(|_| 0),
            };
        }
        let init_ns = &raw mut bindings::init_user_ns;
        // SAFETY: `acl` is the caller's ACL; a null buffer asks for the size.
        let size = unsafe { bindings::posix_acl_to_xattr(init_ns, acl, core::ptr::null_mut(), 0) };
        let mut buf = KVec::<u8>::with_capacity(usize::try_from(size).map_err(|_| EINVAL)?, GFP_KERNEL)?;
        // SAFETY: `buf` has room for `size` bytes, which the call initialises.
        let n = unsafe { bindings::posix_acl_to_xattr(init_ns, acl, buf.as_mut_ptr().cast(), size as usize) };
        let n = kernel::error::to_result(n).map(|()| n as usize)?;
        // SAFETY: The first `n` bytes were just written.
        let value = unsafe { core::slice::from_raw_parts(buf.as_ptr(), n) };
        // The owner applies the mode an access ACL implies; its EX ends this node's grant,
        // and with it the attributes and ACLs cached here.
        call(sb, &Request::SetXattr { fh, name, flags: 0, value })?.get()?;
        Ok(0)
    })
}
