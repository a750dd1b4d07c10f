// SPDX-License-Identifier: GPL-2.0

//! Member mode (DESIGN §2): this node never mounts the XFS. Every VFS operation on the mount
//! becomes a remote call (`rpc`) that the owner's mxfsd carries out on its XFS by file handle,
//! with the caller's credentials, returning exactly the errno XFS gave.

pub(crate) mod acl;
pub(crate) mod dir;
pub(crate) mod file;
pub(crate) mod inode;
pub(crate) mod locks;
pub(crate) mod xattr;

use crate::bindings;
use crate::lower::{self, zeroed, SyncTable};
use crate::registry::MountState;
use crate::rpc::{self, Answer};
use crate::uapi_genl::SUPER_MAGIC;
use crate::uapi_remote::{Reply, Request};
use kernel::ffi::c_int;
use kernel::prelude::*;

/// Buffer for a symlink target (PATH_MAX).
pub(crate) const LINK_BUF: usize = 4096;

/// Readahead window of a member mount, in pages: eight READs of `remote::MAX_IO` bytes.
const READAHEAD_PAGES: u64 = 8 * (crate::uapi_remote::MAX_IO as u64 / 4096);

static SUPER_OPS: SyncTable<bindings::super_operations> = SyncTable(bindings::super_operations {
    evict_inode: Some(evict_inode),
    drop_inode: Some(bindings::generic_delete_inode),
    statfs: Some(statfs),
    ..zeroed()
});

/// The mount `sb` belongs to.
///
/// # Safety
///
/// `sb` must be a member superblock reached from a live inode, dentry or file.
pub(crate) unsafe fn mount_of<'a>(sb: *const bindings::super_block) -> &'a MountState {
    // SAFETY: Per the caller.
    unsafe { &lower::sb_info(sb).mount }
}

/// Makes a remote call for the mount `sb` belongs to. `sb` must be a member superblock reached
/// from a live inode, dentry or file, which keeps it (and its `SbInfo`) alive.
pub(crate) fn call(sb: *mut bindings::super_block, req: &Request<'_>) -> Result<Answer> {
    // SAFETY: Every caller passes the superblock of an object the VFS handed it (see above).
    let mount = unsafe { &lower::sb_info(sb).mount };
    rpc::call(mount, req)
}

/// Sets up a member superblock: the root comes from the owner.
///
/// # Safety
///
/// `sb` must be a new mxfs superblock held by `mount_nodev`, with its `SbInfo` set.
pub(crate) unsafe fn setup(sb: *mut bindings::super_block, mount: &MountState) -> Result {
    // SAFETY: Per the contract.
    unsafe {
        (*sb).s_op = &SUPER_OPS.0;
        (*sb).s_d_op = &dir::DENTRY_OPS.0;
        (*sb).s_xattr = xattr::HANDLERS.0.as_ptr();
        // POSIX ACLs are checked here (`acl`), and new modes are masked on the owner, where
        // the directory's default ACL is known.
        (*sb).s_flags |= bindings::MXFS_SB_POSIXACL;
        (*sb).s_maxbytes = bindings::MXFS_MAX_LFS_FILESIZE;
        (*sb).s_blocksize = 4096;
        (*sb).s_blocksize_bits = 12;
        (*sb).s_time_gran = 1;
    }
    // A superblock of its own gets the no-op backing device, which never reads ahead: every
    // page would be one READ from the owner.
    // SAFETY: Per the contract; the VFS frees the backing device with the superblock.
    kernel::error::to_result(unsafe { bindings::super_setup_bdi(sb) })?;
    // SAFETY: `super_setup_bdi` succeeded, so `s_bdi` is this superblock's own.
    unsafe {
        (*(*sb).s_bdi).ra_pages = READAHEAD_PAGES as _;
        (*(*sb).s_bdi).io_pages = READAHEAD_PAGES as _;
    }
    let answer = rpc::call(mount, &Request::GetRoot).inspect_err(|e| {
        pr_err!("volume {}: the owner did not give the root: error {}\n", mount.uuid_str(), e.to_errno());
    })?;
    let Reply::Entry { fh, attr } = answer.get()? else { return Err(EIO) };
    // SAFETY: `sb` is set up for member inodes.
    let root_inode = unsafe { inode::get(sb, &fh, &attr) }?;
    // SAFETY: `d_make_root` consumes the inode reference, also on failure.
    let root = unsafe { bindings::d_make_root(root_inode) };
    if root.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: As above.
    unsafe { (*sb).s_root = root };
    crate::cache::set_sb(mount, sb);
    pr_info!(
        "volume {}: member of owner node {:#010x}\n",
        mount.uuid_str(),
        mount.owner_node()
    );
    Ok(())
}

unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
    // SAFETY: The VFS evicts one of our inodes; `i_private` is the `KBox<Fh>` from `set`, or
    // null if setting it up failed.
    unsafe {
        bindings::truncate_inode_pages_final(&mut (*inode).i_data);
        crate::cache::evict(mount_of((*inode).i_sb), (*inode).i_ino as u64);
        bindings::clear_inode(inode);
        let fh = (*inode).i_private.cast::<crate::uapi_remote::Fh>();
        if !fh.is_null() {
            (*inode).i_private = core::ptr::null_mut();
            drop(KBox::from_raw(fh));
        }
    }
}

unsafe extern "C" fn statfs(dentry: *mut bindings::dentry, buf: *mut bindings::kstatfs) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: `dentry` is a live member dentry; `buf` the caller's buffer.
        unsafe {
            let sb = (*dentry).d_sb;
            let root = (*(*sb).s_root).d_inode;
            let answer = call(sb, &Request::StatFs { fh: *inode::fh(root) })?;
            let Reply::StatFs(s) = answer.get()? else { return Err(EIO) };
            (*buf).f_type = SUPER_MAGIC as _;
            (*buf).f_bsize = s.bsize as _;
            (*buf).f_frsize = s.bsize as _;
            (*buf).f_blocks = s.blocks;
            (*buf).f_bfree = s.bfree;
            (*buf).f_bavail = s.bavail;
            (*buf).f_files = s.files;
            (*buf).f_ffree = s.ffree;
            (*buf).f_namelen = s.namelen as _;
        }
        Ok(0)
    })
}
