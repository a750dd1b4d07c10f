// SPDX-License-Identifier: GPL-2.0

//! Directory operations: namespace changes are made on the lower XFS directory (locked as the
//! VFS would lock it), and the resulting lower dentry is given an mxfs inode.

use crate::bindings;
use crate::lower::{self, zeroed, DentryRef, ParentLock, SyncTable, WriteAccess};
use crate::{cache, file, inode};
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
    tmpfile: Some(tmpfile),
    ..inode::common_iops()
});

pub(crate) static DIR_FOPS: SyncTable<bindings::file_operations> = SyncTable(bindings::file_operations {
    open: Some(file::open),
    release: Some(file::release),
    iterate_shared: Some(iterate_shared),
    llseek: Some(bindings::generic_file_llseek),
    read: Some(bindings::generic_read_dir),
    fsync: Some(file::fsync),
    ..zeroed()
});

fn idmap() -> *mut bindings::mnt_idmap {
    &raw mut bindings::nop_mnt_idmap
}

unsafe extern "C" fn lookup(dir: *mut bindings::inode, dentry: *mut bindings::dentry, _flags: c_uint) -> *mut bindings::dentry {
    lower::to_err_ptr((|| {
        // SAFETY: The VFS holds `dir` locked (shared) and passes a new, unhashed dentry of it.
        unsafe {
            let lower_parent = lower::dentry((*dentry).d_parent);
            let name = &(*dentry).d_name;
            let lower_dentry = lower::from_err_ptr(bindings::lookup_one_len_unlocked(
                name.name.cast::<c_char>(),
                lower_parent,
                name.__bindgen_anon_1.__bindgen_anon_1.len as c_int,
            ))?;
            // INVARIANT: the dentry owns this lower reference from now on (put in d_release).
            (*dentry).d_fsdata = lower_dentry.cast();
            let lower_inode = lower::d_inode(lower_dentry);
            let inode = if lower_inode.is_null() {
                ptr::null_mut()
            } else {
                inode::get((*dir).i_sb, lower_inode)?
            };
            lower::from_err_ptr(bindings::d_splice_alias(inode, dentry))
        }
    })())
}

/// Gives `dentry` the mxfs inode of its (now positive) lower dentry and refreshes `dir`.
///
/// # Safety
///
/// `dentry` is a negative mxfs dentry of directory `dir` whose lower dentry just became
/// positive.
unsafe fn instantiate(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> Result {
    // SAFETY: Per the caller.
    unsafe {
        let lower_inode = lower::d_inode(lower::dentry(dentry));
        if lower_inode.is_null() {
            // The lower filesystem left its dentry negative; a fresh lookup will find it.
            bindings::d_drop(dentry);
        } else {
            bindings::d_instantiate(dentry, inode::get((*dir).i_sb, lower_inode)?);
        }
        inode::refresh(dir);
    }
    Ok(())
}

/// Runs `op(lower_dir, lower_dentry)` with the lower parent locked and write access held, then
/// instantiates `dentry`.
///
/// # Safety
///
/// `dir` and `dentry` are as the VFS passes them to a create-like inode operation.
unsafe fn make(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    op: impl FnOnce(*mut bindings::inode, *mut bindings::dentry) -> c_int,
) -> c_int {
    // SAFETY: Per the caller.
    unsafe { make_also(dir, dentry, ptr::null_mut(), op) }
}

/// [`make`], with one more inode the operation changes (a hard link's target).
///
/// # Safety
///
/// As for [`make`]; `also` is null or a live inode of the same superblock.
unsafe fn make_also(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    also: *mut bindings::inode,
    op: impl FnOnce(*mut bindings::inode, *mut bindings::dentry) -> c_int,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: Per the caller.
        unsafe {
            let _write = WriteAccess::new((*dir).i_sb)?;
            let _ex = cache::hold_ex_on((*dir).i_sb, &[dir, also])?;
            let lower_dentry = lower::dentry(dentry);
            let parent = ParentLock::new(lower_dentry);
            kernel::error::to_result(op(parent.dir, lower_dentry))?;
            instantiate(dir, dentry)?;
        }
        Ok(0)
    })
}

unsafe extern "C" fn create(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    excl: bool,
) -> c_int {
    // SAFETY: VFS create contract; `make` locks the lower parent.
    unsafe { make(dir, dentry, |ldir, ld| bindings::vfs_create(idmap(), ldir, ld, mode, excl)) }
}

unsafe extern "C" fn mkdir(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: VFS mkdir contract; `make` locks the lower parent.
    unsafe { make(dir, dentry, |ldir, ld| bindings::vfs_mkdir(idmap(), ldir, ld, mode)) }
}

unsafe extern "C" fn mknod(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    dev: bindings::dev_t,
) -> c_int {
    // SAFETY: VFS mknod contract; `make` locks the lower parent.
    unsafe { make(dir, dentry, |ldir, ld| bindings::vfs_mknod(idmap(), ldir, ld, mode, dev)) }
}

unsafe extern "C" fn symlink(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: VFS symlink contract; `make` locks the lower parent.
    unsafe { make(dir, dentry, |ldir, ld| bindings::vfs_symlink(idmap(), ldir, ld, target)) }
}

unsafe extern "C" fn link(old: *mut bindings::dentry, dir: *mut bindings::inode, new: *mut bindings::dentry) -> c_int {
    // SAFETY: VFS link contract: `old` is positive and its inode locked.
    let lower_old = unsafe { lower::dentry(old) };
    // SAFETY: As above.
    let ret = unsafe {
        make_also(dir, new, lower::d_inode(old), |ldir, ld| bindings::vfs_link(lower_old, idmap(), ldir, ld, ptr::null_mut()))
    };
    if ret == 0 {
        // SAFETY: `old` is positive; its link count changed.
        unsafe { inode::refresh(lower::d_inode(old)) };
    }
    ret
}

/// Runs a removal on the lower dentry with its parent locked, then refreshes both inodes.
///
/// # Safety
///
/// `dir` and `dentry` are as the VFS passes them to unlink/rmdir.
unsafe fn remove(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    op: impl FnOnce(*mut bindings::inode, *mut bindings::dentry) -> c_int,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: Per the caller; the extra reference keeps the lower dentry alive while the
        // lower filesystem removes it.
        unsafe {
            let _write = WriteAccess::new((*dir).i_sb)?;
            let _ex = cache::hold_ex_on((*dir).i_sb, &[dir, lower::d_inode(dentry)])?;
            let lower_dentry = DentryRef::get(lower::dentry(dentry));
            let parent = ParentLock::new(lower_dentry.0);
            let ret = op(parent.dir, lower_dentry.0);
            drop(parent);
            inode::refresh(dir);
            inode::refresh(lower::d_inode(dentry));
            kernel::error::to_result(ret)?;
            // The lower dentry was unhashed but stays positive while we hold it; a later
            // create of the same name must not find it through this dentry, so unhash ours
            // too and let the next lookup start afresh.
            bindings::d_drop(dentry);
        }
        Ok(0)
    })
}

unsafe extern "C" fn unlink(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: VFS unlink contract.
    unsafe { remove(dir, dentry, |ldir, ld| bindings::vfs_unlink(idmap(), ldir, ld, ptr::null_mut())) }
}

unsafe extern "C" fn rmdir(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: VFS rmdir contract.
    unsafe { remove(dir, dentry, |ldir, ld| bindings::vfs_rmdir(idmap(), ldir, ld)) }
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
        // SAFETY: VFS rename contract: both parents are locked (lock_rename order) and the
        // dentries are ours. The extra references keep the lower dentries alive across the
        // lower rename.
        unsafe {
            let _write = WriteAccess::new((*old_dir).i_sb)?;
            let _ex = cache::hold_ex_on((*old_dir).i_sb, &[old_dir, new_dir, (*old).d_inode, (*new).d_inode])?;
            let lower_old = DentryRef::get(lower::dentry(old));
            let lower_new = DentryRef::get(lower::dentry(new));
            let old_parent = DentryRef(bindings::dget_parent(lower_old.0));
            let new_parent = DentryRef(bindings::dget_parent(lower_new.0));
            let trap = bindings::lock_rename(old_parent.0, new_parent.0);
            let trap = lower::from_err_ptr(trap)?;
            let ret = if trap == lower_old.0 {
                // Source is an ancestor of the target.
                EINVAL.to_errno()
            } else if trap == lower_new.0 {
                // Target is an ancestor of the source.
                -(bindings::ENOTEMPTY as c_int)
            } else {
                let mut rd = bindings::renamedata {
                    old_mnt_idmap: idmap(),
                    old_dir: lower::d_inode(old_parent.0),
                    old_dentry: lower_old.0,
                    new_mnt_idmap: idmap(),
                    new_dir: lower::d_inode(new_parent.0),
                    new_dentry: lower_new.0,
                    delegated_inode: ptr::null_mut(),
                    flags,
                };
                bindings::vfs_rename(&mut rd)
            };
            bindings::unlock_rename(old_parent.0, new_parent.0);
            inode::refresh(old_dir);
            if new_dir != old_dir {
                inode::refresh(new_dir);
            }
            kernel::error::to_result(ret)?;
        }
        Ok(0)
    })
}

unsafe extern "C" fn iterate_shared(file: *mut bindings::file, ctx: *mut bindings::dir_context) -> c_int {
    // SAFETY: `file` is an open mxfs directory (lower file in private_data); `ctx` carries
    // the position, which the lower directory interprets (same cookies as plain XFS).
    unsafe {
        let lower_file = lower::file(file);
        // iterate_dir starts from the lower file's position: carry over ours, which lseek and
        // rewinddir move (the lower file is private to this open file).
        (*lower_file).f_pos = (*ctx).pos;
        let ret = bindings::iterate_dir(lower_file, ctx);
        inode::refresh((*file).f_inode);
        ret
    }
}

/// O_TMPFILE: the lower XFS creates the unnamed inode; the mxfs file then opens it like any
/// other (the first lower file is only the vehicle of the creation).
unsafe extern "C" fn tmpfile(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    file: *mut bindings::file,
    mode: bindings::umode_t,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS passes a new file whose dentry is a negative child of `dir`.
        unsafe {
            let _write = WriteAccess::new((*dir).i_sb)?;
            let dentry = (*file).f_path.dentry;
            let parent = lower::path((*dentry).d_parent);
            let tmp = lower::from_err_ptr(bindings::kernel_tmpfile_open(
                idmap(),
                &parent,
                mode,
                (*file).f_flags as c_int,
                (*file).f_cred,
            ))?;
            let lower_dentry = (*tmp).f_path.dentry;
            let res = inode::get((*dir).i_sb, lower::d_inode(lower_dentry)).map(|inode| {
                (*dentry).d_fsdata = bindings::mxfs_dget(lower_dentry).cast();
                bindings::d_instantiate(dentry, inode);
            });
            bindings::fput(tmp);
            res?;
            kernel::error::to_result(bindings::finish_open(file, dentry, Some(file::open)))?;
        }
        Ok(0)
    })
}
