// SPDX-License-Identifier: GPL-2.0

//! Member directories: lookups and namespace changes are remote calls on the parent's file
//! handle; readdir pages through the owner's directory cookies (the same as plain XFS's).

use super::inode::{self, apply, fh};
use super::call;
use crate::bindings;
use crate::cache;
use crate::lower::{self, zeroed, SyncTable};
use crate::uapi_remote::{self as remote, Reply, Request, MAX_DIRENTS};
use kernel::ffi::{c_char, c_int, c_uint};
use core::ptr;
use kernel::prelude::*;

pub(crate) static DIR_IOPS: SyncTable<bindings::inode_operations> = SyncTable(bindings::inode_operations {
    lookup: Some(lookup),
    create: Some(create),
    link: Some(link),
    unlink: Some(unlink),
    symlink: Some(symlink),
    mkdir: Some(mkdir),
    rmdir: Some(rmdir),
    mknod: Some(mknod),
    rename: Some(rename),
    ..inode::common_iops()
});

pub(crate) static DIR_FOPS: SyncTable<bindings::file_operations> = SyncTable(bindings::file_operations {
    iterate_shared: Some(iterate_shared),
    llseek: Some(bindings::generic_file_llseek),
    read: Some(bindings::generic_read_dir),
    // The owner fsyncs the directory: what makes a create or rename durable.
    fsync: Some(super::file::fsync),
    ..zeroed()
});

pub(crate) static DENTRY_OPS: SyncTable<bindings::dentry_operations> =
    SyncTable(bindings::dentry_operations { d_revalidate: Some(d_revalidate), ..zeroed() });

/// The name of `dentry` as bytes.
///
/// # Safety
///
/// `dentry` must be live and its name stable (parent locked, or a new dentry).
unsafe fn name<'a>(dentry: *const bindings::dentry) -> &'a [u8] {
    // SAFETY: Per the caller.
    unsafe {
        let q = &(*dentry).d_name;
        core::slice::from_raw_parts(q.name, q.__bindgen_anon_1.__bindgen_anon_1.len as usize)
    }
}

/// Turns an Entry reply into an inode of `sb`.
///
/// # Safety
///
/// `sb` must be a live member superblock.
unsafe fn entry_inode(sb: *mut bindings::super_block, reply: Reply<'_>) -> Result<*mut bindings::inode> {
    let Reply::Entry { fh, attr } = reply else { return Err(EIO) };
    // SAFETY: Per the caller.
    unsafe { inode::get(sb, &fh, &attr) }
}

unsafe extern "C" fn lookup(dir: *mut bindings::inode, dentry: *mut bindings::dentry, flags: c_uint) -> *mut bindings::dentry {
    lower::to_err_ptr((|| {
        // SAFETY: The VFS holds `dir` locked and passes a new dentry of it.
        unsafe {
            let sb = (*dir).i_sb;
            // The answer may be cached (as the dentry) for as long as this grant lasts. Not for
            // a name about to be created: the create ends the grant at once (the owner takes
            // EX on the directory), so asking for it would only cost two callbacks.
            let creating = flags & (bindings::LOOKUP_CREATE | bindings::LOOKUP_RENAME_TARGET) != 0;
            let grant = if creating { 0 } else { cache::hold_pr(super::mount_of(sb), (*dir).i_ino as u64)? };
            let answer = call(sb, &Request::Lookup { dir: *fh(dir), name: name(dentry) })?;
            (*dentry).d_time = grant as _;
            let inode = match answer.get() {
                Ok(reply) => entry_inode(sb, reply)?,
                Err(e) if e == ENOENT => ptr::null_mut(),
                Err(e) => return Err(e),
            };
            lower::from_err_ptr(bindings::d_splice_alias(inode, dentry))
        }
    })())
}

/// A dentry is trusted while the PR grant of its directory it was looked up under lasts (and,
/// for a positive one, while its inode's attributes are cached, so that permission checks see
/// current modes); otherwise the owner is asked again whether the name still leads to the same
/// inode, or still to none.
unsafe extern "C" fn d_revalidate(dentry: *mut bindings::dentry, flags: c_uint) -> c_int {
    // SAFETY: The VFS passes a live dentry; in RCU walk its parent and inode stay allocated
    // for the walk, and the cache table is only read under its spinlock.
    unsafe {
        let mount = super::mount_of((*dentry).d_sb);
        let parent = core::ptr::read_volatile(&(*dentry).d_parent);
        let dir = core::ptr::read_volatile(&(*parent).d_inode);
        let inode = core::ptr::read_volatile(&(*dentry).d_inode);
        if !dir.is_null() {
            let grant = cache::grant(mount, (*dir).i_ino as u64);
            let fresh = grant != 0 && (*dentry).d_time == grant as _;
            if fresh && (inode.is_null() || cache::attrs_cached(mount, (*inode).i_ino as u64)) {
                mount.cache_hits.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                return 1;
            }
        }
        if flags & bindings::LOOKUP_RCU != 0 {
            return -(bindings::ECHILD as c_int);
        }
        let parent = bindings::dget_parent(dentry);
        let ret = revalidate(mount, dentry, (*parent).d_inode);
        bindings::dput(parent);
        ret
    }
}

/// Asks the owner about `dentry` in `dir` under fresh grants.
///
/// # Safety
///
/// `dentry` must be a live member dentry in ref-walk mode and `dir` its parent's inode.
unsafe fn revalidate(mount: &crate::registry::MountState, dentry: *mut bindings::dentry, dir: *mut bindings::inode) -> c_int {
    // SAFETY: Per the caller.
    unsafe {
        let inode = (*dentry).d_inode;
        let dir_grant = match cache::hold_pr(mount, (*dir).i_ino as u64) {
            Ok(g) => g,
            Err(e) => return e.to_errno(),
        };
        let inode_grant = match inode.is_null() {
            true => 0,
            false => match cache::hold_pr(mount, (*inode).i_ino as u64) {
                Ok(g) => g,
                Err(e) => return e.to_errno(),
            },
        };
        let answer = match call((*dentry).d_sb, &Request::Lookup { dir: *fh(dir), name: name(dentry) }) {
            Ok(a) => a,
            Err(e) => return e.to_errno(),
        };
        match answer.get() {
            Ok(Reply::Entry { fh: found, attr }) if !inode.is_null() && found == *fh(inode) => {
                apply(inode, &attr);
                cache::attrs_fetched(mount, (*inode).i_ino as u64, inode_grant);
                (*dentry).d_time = dir_grant as _;
                1
            }
            Err(e) if e == ENOENT && inode.is_null() => {
                (*dentry).d_time = dir_grant as _;
                1
            }
            Ok(_) => 0,
            Err(e) if e == ENOENT => 0,
            Err(e) => e.to_errno(),
        }
    }
}

/// Creates through `req` and instantiates `dentry` with the new inode.
///
/// # Safety
///
/// `dir` must be a live member directory and `dentry` a negative dentry in it.
unsafe fn make(dir: *mut bindings::inode, dentry: *mut bindings::dentry, req: &Request<'_>) -> Result<c_int> {
    // SAFETY: Per the caller.
    unsafe {
        let sb = (*dir).i_sb;
        let answer = call(sb, req)?;
        let inode = entry_inode(sb, answer.get()?)?;
        bindings::d_instantiate(dentry, inode);
    }
    Ok(0)
}

unsafe extern "C" fn create(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    _excl: bool,
) -> c_int {
    // SAFETY: The VFS holds `dir` locked; `dentry` is negative.
    kernel::error::from_result(|| unsafe {
        let req = Request::Mknod { dir: *fh(dir), name: name(dentry), mode: mode as u32, rdev_major: 0, rdev_minor: 0 };
        make(dir, dentry, &req)
    })
}

unsafe extern "C" fn mknod(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    dev: bindings::dev_t,
) -> c_int {
    // SAFETY: As in `create`.
    kernel::error::from_result(|| unsafe {
        let req = Request::Mknod {
            dir: *fh(dir),
            name: name(dentry),
            mode: mode as u32,
            rdev_major: bindings::mxfs_major(dev),
            rdev_minor: bindings::mxfs_minor(dev),
        };
        make(dir, dentry, &req)
    })
}

unsafe extern "C" fn mkdir(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: As in `create`.
    kernel::error::from_result(|| unsafe {
        make(dir, dentry, &Request::Mkdir { dir: *fh(dir), name: name(dentry), mode: mode as u32 })
    })
}

unsafe extern "C" fn symlink(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: As in `create`; `target` is a NUL-terminated string from the VFS.
    kernel::error::from_result(|| unsafe {
        let target = CStr::from_char_ptr(target).as_bytes();
        make(dir, dentry, &Request::Symlink { dir: *fh(dir), name: name(dentry), target })
    })
}

unsafe extern "C" fn link(old: *mut bindings::dentry, dir: *mut bindings::inode, new: *mut bindings::dentry) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS holds `dir` and the source inode locked; `new` is negative.
        unsafe {
            let inode = (*old).d_inode;
            let answer = call((*dir).i_sb, &Request::Link { fh: *fh(inode), dir: *fh(dir), name: name(new) })?;
            let Reply::Attr(a) = answer.get()? else { return Err(EIO) };
            apply(inode, &a);
            bindings::ihold(inode);
            bindings::d_instantiate(new, inode);
        }
        Ok(0)
    })
}

unsafe extern "C" fn unlink(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS holds `dir` and the victim locked.
        unsafe {
            call((*dir).i_sb, &Request::Unlink { dir: *fh(dir), name: name(dentry) })?.get()?;
            bindings::drop_nlink((*dentry).d_inode);
        }
        Ok(0)
    })
}

unsafe extern "C" fn rmdir(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: As in `unlink`.
        unsafe {
            call((*dir).i_sb, &Request::Rmdir { dir: *fh(dir), name: name(dentry) })?.get()?;
            bindings::clear_nlink((*dentry).d_inode);
        }
        Ok(0)
    })
}

unsafe extern "C" fn rename(
    _idmap: *mut bindings::mnt_idmap,
    old_dir: *mut bindings::inode,
    old: *mut bindings::dentry,
    new_dir: *mut bindings::inode,
    new: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS holds both directories (and any victim) locked.
        unsafe {
            let req = Request::Rename {
                from_dir: *fh(old_dir),
                from: name(old),
                to_dir: *fh(new_dir),
                to: name(new),
                flags,
            };
            call((*old_dir).i_sb, &req)?.get()?;
            let victim = (*new).d_inode;
            if !victim.is_null() && flags & bindings::RENAME_EXCHANGE == 0 {
                bindings::drop_nlink(victim);
            }
        }
        Ok(0)
    })
}

unsafe extern "C" fn iterate_shared(file: *mut bindings::file, ctx: *mut bindings::dir_context) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: `file` is an open member directory; `ctx` carries the owner's cookie.
        unsafe {
            let dir = (*file).f_inode;
            loop {
                let req = Request::ReadDir { dir: *fh(dir), cookie: (*ctx).pos as u64, max: MAX_DIRENTS as u32 };
                let answer = call((*dir).i_sb, &req)?;
                let Reply::Dirents { eof, data } = answer.get()? else { return Err(EIO) };
                let mut any = false;
                for e in remote::dirents(data) {
                    any = true;
                    let emitted = bindings::mxfs_dir_emit(
                        ctx,
                        e.name.as_ptr().cast(),
                        e.name.len() as c_int,
                        e.ino,
                        e.dtype as c_uint,
                    );
                    if !emitted {
                        return Ok(0);
                    }
                    (*ctx).pos = e.cookie as bindings::loff_t;
                }
                if eof || !any {
                    return Ok(0);
                }
            }
        }
    })
}
