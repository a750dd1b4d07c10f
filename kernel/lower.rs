// SPDX-License-Identifier: GPL-2.0

//! The one place that knows how an mxfs object reaches its lower XFS object.
//!
//! Each mxfs inode keeps a counted reference to its lower inode in `i_private`, each dentry a
//! counted reference to its lower dentry in `d_fsdata`, each open file its lower file in
//! `private_data`, and the superblock its [`SbInfo`] in `s_fs_info`.

use crate::bindings;
use crate::registry::MountState;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Per-superblock state, owned through `s_fs_info`.
pub(crate) struct SbInfo {
    /// The internal XFS mount; one counted reference, dropped at `kill_sb`.
    pub(crate) lower_mnt: *mut bindings::vfsmount,
    /// Shared with the registry so the netlink side can see the daemon state.
    pub(crate) mount: Arc<MountState>,
}

/// Returns the per-superblock state of an mxfs superblock.
///
/// # Safety
///
/// `sb` must be an mxfs superblock whose `s_fs_info` has been set by `fill_super` and not yet
/// freed by `kill_sb` (true for every superblock reachable from a live inode, dentry or file).
pub(crate) unsafe fn sb_info<'a>(sb: *const bindings::super_block) -> &'a SbInfo {
    // SAFETY: Per the function's contract `s_fs_info` points to a live `SbInfo`.
    unsafe { &*(*sb).s_fs_info.cast::<SbInfo>() }
}

/// Lower inode of an mxfs inode.
///
/// # Safety
///
/// `inode` must be a live mxfs inode (its `i_private` was set by `inode::get`).
pub(crate) unsafe fn inode(inode: *const bindings::inode) -> *mut bindings::inode {
    // SAFETY: The caller guarantees `inode` is valid.
    unsafe { (*inode).i_private.cast() }
}

/// Lower dentry of an mxfs dentry (possibly negative).
///
/// # Safety
///
/// `dentry` must be a live mxfs dentry that went through lookup or is the root.
pub(crate) unsafe fn dentry(dentry: *const bindings::dentry) -> *mut bindings::dentry {
    // SAFETY: The caller guarantees `dentry` is valid.
    unsafe { (*dentry).d_fsdata.cast() }
}

/// Lower file of an open mxfs file.
///
/// # Safety
///
/// `file` must be an mxfs file between a successful `open` and `release`.
pub(crate) unsafe fn file(file: *const bindings::file) -> *mut bindings::file {
    // SAFETY: The caller guarantees `file` is valid.
    unsafe { (*file).private_data.cast() }
}

/// Lower path (internal XFS mount + lower dentry) of an mxfs dentry.
///
/// # Safety
///
/// As for [`dentry`] and [`sb_info`].
pub(crate) unsafe fn path(dentry: *const bindings::dentry) -> bindings::path {
    // SAFETY: The caller guarantees `dentry` is a live mxfs dentry.
    unsafe {
        bindings::path {
            mnt: sb_info((*dentry).d_sb).lower_mnt,
            dentry: self::dentry(dentry),
        }
    }
}

/// Inode of a dentry (`d_inode()`); null for a negative dentry.
///
/// # Safety
///
/// `dentry` must be valid.
pub(crate) unsafe fn d_inode(dentry: *const bindings::dentry) -> *mut bindings::inode {
    // SAFETY: The caller guarantees `dentry` is valid.
    unsafe { (*dentry).d_inode }
}

/// Holds the lower parent directory of a lower dentry locked for a namespace change, and the
/// reference on that parent; both are released on drop.
pub(crate) struct ParentLock {
    parent: *mut bindings::dentry,
    /// The locked lower directory inode.
    pub(crate) dir: *mut bindings::inode,
}

impl ParentLock {
    /// Locks the lower parent of `lower_dentry` (`I_MUTEX_PARENT`).
    ///
    /// # Safety
    ///
    /// `lower_dentry` must be a valid lower dentry whose parent is a directory.
    pub(crate) unsafe fn new(lower_dentry: *mut bindings::dentry) -> Self {
        // SAFETY: `lower_dentry` is valid; `dget_parent` returns a counted parent.
        let parent = unsafe { bindings::dget_parent(lower_dentry) };
        // SAFETY: A parent dentry of a positive child is positive.
        let dir = unsafe { d_inode(parent) };
        // SAFETY: `dir` is a live inode; we unlock it in `drop`.
        unsafe { bindings::mxfs_inode_lock_parent(dir) };
        ParentLock { parent, dir }
    }
}

impl Drop for ParentLock {
    fn drop(&mut self) {
        // SAFETY: `new` locked `dir` and took a reference on `parent`.
        unsafe {
            bindings::mxfs_inode_unlock(self.dir);
            bindings::dput(self.parent);
        }
    }
}

/// Write access to the internal XFS mount (freeze protection and read-only checks), held
/// across one modifying operation.
pub(crate) struct WriteAccess(*mut bindings::vfsmount);

impl WriteAccess {
    /// Gets write access to the lower mount of `sb`.
    ///
    /// # Safety
    ///
    /// `sb` must be a live mxfs superblock.
    pub(crate) unsafe fn new(sb: *const bindings::super_block) -> Result<Self> {
        // SAFETY: The caller guarantees `sb` is live, so its lower mount is too.
        let mnt = unsafe { sb_info(sb).lower_mnt };
        // SAFETY: `mnt` is a valid mount held by the superblock.
        kernel::error::to_result(unsafe { bindings::mnt_want_write(mnt) })?;
        Ok(WriteAccess(mnt))
    }
}

impl Drop for WriteAccess {
    fn drop(&mut self) {
        // SAFETY: `new` succeeded in `mnt_want_write` on this mount.
        unsafe { bindings::mnt_drop_write(self.0) };
    }
}

/// A counted dentry reference, put on drop.
pub(crate) struct DentryRef(pub(crate) *mut bindings::dentry);

impl DentryRef {
    /// Takes a new reference on `dentry`.
    ///
    /// # Safety
    ///
    /// `dentry` must be valid.
    pub(crate) unsafe fn get(dentry: *mut bindings::dentry) -> Self {
        // SAFETY: The caller guarantees `dentry` is valid.
        DentryRef(unsafe { bindings::mxfs_dget(dentry) })
    }
}

impl Drop for DentryRef {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { bindings::dput(self.0) };
    }
}

/// Converts a kernel `ERR_PTR`-or-pointer into a `Result`.
pub(crate) fn from_err_ptr<T>(ptr: *mut T) -> Result<*mut T> {
    kernel::error::from_err_ptr(ptr)
}

/// Converts a `Result` holding a pointer into the kernel's pointer-or-`ERR_PTR` convention.
pub(crate) fn to_err_ptr<T>(res: Result<*mut T>) -> *mut T {
    match res {
        Ok(ptr) => ptr,
        Err(e) => e.to_ptr(),
    }
}

/// An all-zero value, for C operation tables whose unused entries must be null.
pub(crate) const fn zeroed<T>() -> T {
    // SAFETY: Only used for C structs of pointers and integers, for which all-zero is valid.
    unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
}

/// Wrapper that lets a C table holding raw pointers live in a `static`.
#[repr(transparent)]
pub(crate) struct SyncTable<T>(pub(crate) T);

// SAFETY: The tables are immutable after construction and only read by the kernel.
unsafe impl<T> Sync for SyncTable<T> {}

/// An errno the kernel crate has no constant for, from the generated bindings.
pub(crate) fn errno(code: u32) -> Error {
    Error::from_errno(-(code as i32))
}

/// A C string literal as the `char *` the C API takes.
pub(crate) fn cstr_ptr(s: &'static core::ffi::CStr) -> *mut kernel::ffi::c_char {
    s.as_ptr().cast_mut().cast()
}
