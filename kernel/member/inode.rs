// SPDX-License-Identifier: GPL-2.0

//! Remote inodes: named by the owner's XFS file handle (kept in `i_private`), numbered by the
//! XFS inode number, with attributes copied from the owner's replies.
//!
//! Attributes are trusted between calls only under the inode's PR cache lock (`cache`), and
//! so are the pages of a file (`file`).

use super::{call, dir, file};
use crate::bindings;
use crate::cache;
use crate::lower::{zeroed, SyncTable};
use crate::uapi_remote::{set, Attr, Fh, Reply, Request, SetAttr, Time};
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;

/// File handle of a remote inode.
///
/// # Safety
///
/// `inode` must be a live member inode (set up by [`get`]).
pub(crate) unsafe fn fh<'a>(inode: *const bindings::inode) -> &'a Fh {
    // SAFETY: Member inodes carry a `KBox<Fh>` in `i_private` from `set` until eviction.
    unsafe { &*(*inode).i_private.cast::<Fh>() }
}

unsafe extern "C" fn test(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: Called by `iget5_locked` on inodes of our superblock; `data` is the candidate.
    unsafe {
        let have = (*inode).i_private.cast::<Fh>();
        let want = &*data.cast::<Fh>();
        (!have.is_null() && (*have).ty == want.ty && (*have).as_bytes() == want.as_bytes()) as c_int
    }
}

unsafe extern "C" fn set(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: Called under the inode hash lock for a new inode; `data` is a `KBox<Fh>` that
    // `get` allocated and now hands over.
    unsafe { (*inode).i_private = data };
    0
}

fn time(t: Time) -> (i64, u32) {
    (t.sec, t.nsec)
}

/// Copies the owner's attributes into `inode`.
///
/// # Safety
///
/// `inode` must be a live member inode.
pub(crate) unsafe fn apply(inode: *mut bindings::inode, a: &Attr) {
    // SAFETY: Per the caller. Readers may see a mix of old and new values for a moment, as
    // with any network filesystem refreshing attributes.
    unsafe {
        let ty = (*inode).i_mode as u32 & bindings::S_IFMT;
        (*inode).i_mode = (ty | (a.mode & !bindings::S_IFMT)) as _;
        bindings::set_nlink(inode, a.nlink);
        (*inode).i_uid = bindings::mxfs_make_kuid(a.uid);
        (*inode).i_gid = bindings::mxfs_make_kgid(a.gid);
        bindings::mxfs_i_size_write(inode, a.size as bindings::loff_t);
        (*inode).i_blocks = a.blocks;
        (*inode).i_generation = a.generation;
        (*inode).i_atime_sec = time(a.atime).0;
        (*inode).i_atime_nsec = time(a.atime).1;
        (*inode).i_mtime_sec = a.mtime.sec;
        (*inode).i_mtime_nsec = a.mtime.nsec;
        (*inode).i_ctime_sec = a.ctime.sec;
        (*inode).i_ctime_nsec = a.ctime.nsec;
    }
}

/// Returns the member inode for `fh` (new or cached) with a reference, attributes from `a`.
///
/// # Safety
///
/// `sb` must be a set-up member superblock.
pub(crate) unsafe fn get(sb: *mut bindings::super_block, fh: &Fh, a: &Attr) -> Result<*mut bindings::inode> {
    let boxed = KBox::new(*fh, GFP_KERNEL)?;
    let raw = KBox::into_raw(boxed);
    // SAFETY: `test` compares against `raw`; `set` takes it over for a new inode.
    let inode = unsafe { bindings::iget5_locked(sb, a.ino as _, Some(test), Some(set), raw.cast()) };
    // SAFETY: `inode` is null or referenced.
    let taken = !inode.is_null() && unsafe { (*inode).i_private } == raw.cast();
    if !taken {
        // SAFETY: Not handed over: still ours.
        drop(unsafe { KBox::from_raw(raw) });
    }
    if inode.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `inode` is referenced; a new one is ours to set up until `unlock_new_inode`.
    unsafe {
        if ((*inode).i_state as u64) & (bindings::I_NEW as u64) == 0 {
            apply(inode, a);
            return Ok(inode);
        }
        (*inode).i_ino = a.ino as _;
        let ty = a.mode & bindings::S_IFMT;
        (*inode).i_mode = a.mode as _;
        match ty {
            bindings::S_IFDIR => {
                (*inode).i_op = &dir::DIR_IOPS.0;
                (*inode).__bindgen_anon_3.i_fop = &dir::DIR_FOPS.0;
            }
            bindings::S_IFLNK => (*inode).i_op = &SYMLINK_IOPS.0,
            bindings::S_IFREG => {
                (*inode).i_op = &FILE_IOPS.0;
                (*inode).__bindgen_anon_3.i_fop = &file::FILE_FOPS.0;
                (*inode).i_data.a_ops = &file::AOPS.0;
            }
            _ => {
                (*inode).i_op = &SPECIAL_IOPS.0;
                let dev = bindings::mxfs_mkdev(a.rdev_major, a.rdev_minor);
                bindings::init_special_inode(inode, a.mode as _, dev);
            }
        }
        apply(inode, a);
        bindings::unlock_new_inode(inode);
    }
    Ok(inode)
}

/// Asks the owner for fresh attributes of `inode`.
///
/// # Safety
///
/// `inode` must be a live member inode.
pub(crate) unsafe fn refresh(inode: *mut bindings::inode) -> Result {
    // SAFETY: Per the caller.
    let answer = call(unsafe { (*inode).i_sb }, &Request::GetAttr { fh: *unsafe { fh(inode) } })?;
    match answer.get()? {
        // SAFETY: Per the caller.
        Reply::Attr(a) => unsafe { apply(inode, &a) },
        _ => return Err(EIO),
    }
    Ok(())
}

/// Fetches the attributes of `inode` unless they were fetched under `grant`, its PR grant
/// (from `cache::hold_pr`); true when they were, and nothing was asked.
///
/// # Safety
///
/// `inode` must be a live member inode.
pub(crate) unsafe fn attrs_under(inode: *mut bindings::inode, grant: u64) -> Result<bool> {
    // SAFETY: Per the caller.
    let (mount, ino) = unsafe { (super::mount_of((*inode).i_sb), (*inode).i_ino as u64) };
    if cache::attrs_cached(mount, ino) {
        return Ok(true);
    }
    // SAFETY: Per the caller.
    unsafe { refresh(inode) }?;
    cache::attrs_fetched(mount, ino, grant);
    Ok(false)
}

pub(crate) const fn common_iops() -> bindings::inode_operations {
    bindings::inode_operations {
        permission: Some(permission),
        getattr: Some(getattr),
        setattr: Some(setattr),
        listxattr: Some(super::xattr::listxattr),
        get_inode_acl: Some(super::acl::get_inode_acl),
        set_acl: Some(super::acl::set_acl),
        ..zeroed()
    }
}

pub(crate) static FILE_IOPS: SyncTable<bindings::inode_operations> = SyncTable(common_iops());
static SPECIAL_IOPS: SyncTable<bindings::inode_operations> = SyncTable(common_iops());
static SYMLINK_IOPS: SyncTable<bindings::inode_operations> =
    SyncTable(bindings::inode_operations { get_link: Some(get_link), get_inode_acl: None, set_acl: None, ..common_iops() });

/// Checked locally against the attributes the last lookup or getattr brought; the owner
/// checks again with the caller's credentials when it executes the operation.
unsafe extern "C" fn permission(idmap: *mut bindings::mnt_idmap, inode: *mut bindings::inode, mask: c_int) -> c_int {
    // SAFETY: The VFS passes a live inode; also safe in RCU walk.
    unsafe { bindings::generic_permission(idmap, inode, mask) }
}

unsafe extern "C" fn getattr(
    idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    request_mask: u32,
    _flags: c_uint,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS passes a valid path to one of our positive dentries.
        unsafe {
            let inode = (*(*path).dentry).d_inode;
            let mount = super::mount_of((*inode).i_sb);
            let grant = cache::hold_pr(mount, (*inode).i_ino as u64)?;
            if attrs_under(inode, grant)? {
                mount.cache_hits.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
            bindings::generic_fillattr(idmap, request_mask, inode, stat);
        }
        Ok(0)
    })
}

unsafe extern "C" fn setattr(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    ia: *mut bindings::iattr,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS passes one of our positive dentries with its inode locked.
        unsafe {
            let inode = (*dentry).d_inode;
            let ia = &*ia;
            let v = ia.ia_valid;
                let mut s = SetAttr::default();
            if v & bindings::ATTR_MODE != 0 {
                s.mask |= set::MODE;
                s.mode = ia.ia_mode as u32 & !bindings::S_IFMT;
            }
            if v & bindings::ATTR_UID != 0 {
                s.mask |= set::UID;
                s.uid = bindings::mxfs_from_kuid(bindings::kuid_t { val: ia.__bindgen_anon_1.ia_vfsuid.val });
            }
            if v & bindings::ATTR_GID != 0 {
                s.mask |= set::GID;
                s.gid = bindings::mxfs_from_kgid(bindings::kgid_t { val: ia.__bindgen_anon_2.ia_vfsgid.val });
            }
            if v & bindings::ATTR_SIZE != 0 {
                s.mask |= set::SIZE;
                s.size = ia.ia_size as u64;
            }
            if v & bindings::ATTR_ATIME != 0 {
                s.mask |= set::ATIME;
                if v & bindings::ATTR_ATIME_SET != 0 {
                    s.mask |= set::ATIME_SET;
                    s.atime = Time { sec: ia.ia_atime.tv_sec, nsec: ia.ia_atime.tv_nsec as u32 };
                }
            }
            if v & bindings::ATTR_MTIME != 0 {
                s.mask |= set::MTIME;
                if v & bindings::ATTR_MTIME_SET != 0 {
                    s.mask |= set::MTIME_SET;
                    s.mtime = Time { sec: ia.ia_mtime.tv_sec, nsec: ia.ia_mtime.tv_nsec as u32 };
                }
            }
            if s.mask == 0 {
                return Ok(0);
            }
            let answer = call((*inode).i_sb, &Request::SetAttr { fh: *fh(inode), attr: s })?;
            match answer.get()? {
                Reply::Attr(a) => apply(inode, &a),
                _ => return Err(EIO),
            }
        }
        Ok(0)
    })
}

unsafe extern "C" fn free_link(data: *mut c_void) {
    // SAFETY: `data` is the buffer `get_link` leaked into the delayed call.
    drop(unsafe { KVec::from_raw_parts(data.cast::<u8>(), 0, super::LINK_BUF) });
}

unsafe extern "C" fn get_link(
    dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    done: *mut bindings::delayed_call,
) -> *const kernel::ffi::c_char {
    if dentry.is_null() {
        // RCU walk: the target needs a call to the owner.
        return ECHILD.to_ptr::<kernel::ffi::c_char>().cast_const();
    }
    crate::lower::to_err_ptr::<kernel::ffi::c_char>((|| {
        // SAFETY: `inode` is a live member symlink.
        let answer = call(unsafe { (*inode).i_sb }, &Request::ReadLink { fh: *unsafe { fh(inode) } })?;
        let Reply::Data(target) = answer.get()? else { return Err(EIO) };
        if target.len() >= super::LINK_BUF {
            return Err(crate::lower::errno(bindings::ENAMETOOLONG));
        }
        let mut buf = KVec::with_capacity(super::LINK_BUF, GFP_KERNEL)?;
        buf.extend_from_slice(target, GFP_KERNEL)?;
        buf.push(0, GFP_KERNEL)?;
        let (ptr, _, _) = buf.into_raw_parts();
        // SAFETY: `done` is the caller's delayed call; `free_link` releases `ptr` later.
        unsafe { bindings::mxfs_set_delayed_call(done, Some(free_link), ptr.cast()) };
        Ok(ptr.cast::<kernel::ffi::c_char>())
    })())
    .cast_const()
}
