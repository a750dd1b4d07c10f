// SPDX-License-Identifier: GPL-2.0

//! The `mxfs` filesystem type: mount (internal XFS mount, stacked superblock, daemon start)
//! and unmount (daemon stop, then the lower XFS goes away).

use crate::bindings;
use crate::lower::{self, zeroed, SbInfo, SyncTable};
use crate::registry::{self, MountState};
use crate::uapi_genl::{state, SUPER_MAGIC, UUID_STR_LEN};
use crate::{daemon, inode, options};
use core::cell::UnsafeCell;
use kernel::ffi::{c_char, c_int, c_void};
use core::ptr;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;

struct FsType(UnsafeCell<bindings::file_system_type>);
// SAFETY: Written once in `Registration::new` before registration, then owned by the VFS.
unsafe impl Sync for FsType {}
static FS_TYPE: FsType = FsType(UnsafeCell::new(zeroed()));

static SUPER_OPS: SyncTable<bindings::super_operations> = SyncTable(bindings::super_operations {
    evict_inode: Some(evict_inode),
    drop_inode: Some(bindings::generic_delete_inode),
    statfs: Some(statfs),
    sync_fs: Some(sync_fs),
    remount_fs: Some(remount_fs),
    ..zeroed()
});

/// Registered filesystem type; unregistered on drop.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        let fs = FS_TYPE.0.get();
        // SAFETY: Module init runs once, before the type is visible to anyone.
        unsafe {
            (*fs).name = crate::lower::cstr_ptr(c"mxfs");
            (*fs).owner = module.as_ptr().cast();
            (*fs).mount = Some(mxfs_mount);
            (*fs).kill_sb = Some(kill_sb);
        }
        // SAFETY: `fs` is static and initialised.
        kernel::error::to_result(unsafe { bindings::register_filesystem(fs) })?;
        Ok(Registration)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Registered in `new`; the module cannot be unloaded while mounted.
        unsafe { bindings::unregister_filesystem(FS_TYPE.0.get()) };
    }
}

/// What `mxfs_mount` hands to `fill_super` through `mount_nodev`'s data pointer.
struct MountRequest {
    device: *const c_char,
    flags: c_int,
    options: options::MountOptions,
}

unsafe extern "C" fn mxfs_mount(
    fs: *mut bindings::file_system_type,
    flags: c_int,
    device: *const c_char,
    data: *mut c_void,
) -> *mut bindings::dentry {
    lower::to_err_ptr((|| {
        if device.is_null() {
            pr_err!("mount needs a device\n");
            return Err(EINVAL);
        }
        let mut req = MountRequest { device, flags, options: options::parse(data)? };
        // SAFETY: `fill_super` runs synchronously inside `mount_nodev` while `req` lives.
        let root = unsafe {
            bindings::mount_nodev(fs, flags, (&mut req as *mut MountRequest).cast(), Some(fill_super))
        };
        lower::from_err_ptr(root)
    })())
}

/// Mounts the XFS on `device` internally; the mount is not in any namespace.
fn mount_lower(device: *const c_char, flags: c_int) -> Result<*mut bindings::vfsmount> {
    // SAFETY: Looks up a registered filesystem type by name; takes a module reference.
    let xfs = unsafe { bindings::get_fs_type(crate::lower::cstr_ptr(c"xfs")) };
    if xfs.is_null() {
        pr_err!("XFS is not available in this kernel\n");
        return Err(ENODEV);
    }
    // SAFETY: `xfs` is a live type; `device` is the NUL-terminated source from mount(2).
    let mnt = unsafe { bindings::vfs_kern_mount(xfs, flags, device, ptr::null_mut()) };
    // SAFETY: Drops the reference `get_fs_type` took; the mount holds its own.
    unsafe { bindings::module_put((*xfs).owner) };
    lower::from_err_ptr(mnt).inspect_err(|e| {
        // SAFETY: `device` is a valid C string.
        let dev = unsafe { CStr::from_char_ptr(device) };
        pr_err!("cannot mount {} as XFS: error {}\n", dev.to_str().unwrap_or("?"), e.to_errno());
    })
}

/// Formats a 16-byte UUID as 8-4-4-4-12 lowercase hex, NUL-terminated.
fn uuid_text(b: &[u8; 16]) -> [u8; UUID_STR_LEN + 1] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; UUID_STR_LEN + 1];
    let mut o = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[o] = b'-';
            o += 1;
        }
        out[o] = HEX[(byte >> 4) as usize];
        out[o + 1] = HEX[(byte & 0xf) as usize];
        o += 2;
    }
    out
}

unsafe extern "C" fn fill_super(sb: *mut bindings::super_block, data: *mut c_void, _silent: c_int) -> c_int {
    // SAFETY: `mxfs_mount` passed its `MountRequest` as `data`, used by nothing else meanwhile.
    let req = unsafe { &mut *data.cast::<MountRequest>() };
    kernel::error::from_result(|| {
        // SAFETY: `sb` is the new superblock, locked by `mount_nodev`.
        unsafe { setup(sb, req) }.map(|_| 0)
    })
}

/// Reads the XFS superblock UUID from `device` without mounting it: a member must know its
/// volume but never mounts the XFS.
fn read_volume_uuid(device: *const c_char) -> Result<[u8; 16]> {
    // SAFETY: `device` is the NUL-terminated source from mount(2).
    let name = unsafe { CStr::from_char_ptr(device) }.to_str().unwrap_or("?");
    // SAFETY: Opens the block device for reading, without a holder.
    let f = unsafe {
        bindings::bdev_file_open_by_path(device, bindings::MXFS_BLK_OPEN_READ, ptr::null_mut(), ptr::null())
    };
    let f = lower::from_err_ptr(f).inspect_err(|e| {
        pr_err!("cannot open {}: error {}\n", name, e.to_errno());
    })?;
    let mut sector = [0u8; 512];
    let mut pos: bindings::loff_t = 0;
    // SAFETY: `f` is an open block device file; `sector` is a writable kernel buffer.
    let n = unsafe { bindings::kernel_read(f, sector.as_mut_ptr().cast(), sector.len(), &mut pos) };
    // SAFETY: Drops the reference `bdev_file_open_by_path` returned.
    unsafe { bindings::fput(f) };
    if n != sector.len() as isize {
        pr_err!("cannot read the superblock of {} (result {})\n", name, n);
        return Err(EINVAL);
    }
    if &sector[..4] != b"XFSB" {
        pr_err!("{} is not an XFS volume (no XFS superblock); run mkfs.xfs first\n", name);
        return Err(EINVAL);
    }
    let mut uuid = [0u8; 16];
    for (dst, src) in uuid.iter_mut().zip(&sector[32..48]) {
        *dst = *src;
    }
    Ok(uuid)
}

/// # Safety
///
/// `sb` must be a new mxfs superblock held by `mount_nodev`.
unsafe fn setup(sb: *mut bindings::super_block, req: &mut MountRequest) -> Result {
    let uuid_bytes = read_volume_uuid(req.device)?;
    // SAFETY: `req.device` is a valid C string.
    let device = CString::try_from(unsafe { CStr::from_char_ptr(req.device) })?;
    let mountpoint = CString::try_from(&*req.options.mountpoint)?;
    let state = MountState::new(
        uuid_text(&uuid_bytes),
        device,
        mountpoint,
        req.options.lockstate.take(),
        req.options.peers.take(),
    )?;
    let mount = Arc::new(state, GFP_KERNEL)?;
    let info = KBox::new(SbInfo { lower_mnt: ptr::null_mut(), mount: mount.clone() }, GFP_KERNEL)?;
    // INVARIANT: From here `kill_sb` owns the mount state, the daemon and the lower mount.
    // SAFETY: `sb` is ours until `mount_nodev` returns.
    unsafe {
        (*sb).s_fs_info = KBox::into_raw(info).cast();
        (*sb).s_magic = SUPER_MAGIC as _;
        (*sb).s_uuid.b = uuid_bytes;
    }
    registry::insert(&mount)?;
    // The daemon decides the role (DESIGN §2): only an owner mounts the XFS.
    daemon::spawn(&mount)?;
    daemon::wait_ready(&mount)?;
    if mount.is_member() {
        // SAFETY: `sb` is set up as far as the member path needs.
        unsafe { crate::member::setup(sb, &mount) }
    } else {
        // SAFETY: As above.
        unsafe { setup_owner(sb, req, &uuid_bytes) }
    }
}

/// Owner: mount the XFS internally and stack on it.
///
/// # Safety
///
/// `sb` must be a new mxfs superblock whose `SbInfo` is set and has no lower mount yet.
unsafe fn setup_owner(sb: *mut bindings::super_block, req: &MountRequest, uuid: &[u8; 16]) -> Result {
    // SB_KERNMOUNT makes the last mntput unmount the XFS synchronously, in `kill_sb`, before
    // the daemon gives up the volume.
    let lower_mnt = mount_lower(req.device, req.flags | bindings::MXFS_SB_KERNMOUNT)?;
    // SAFETY: Per the contract; `kill_sb` drops this reference.
    unsafe { (*(*sb).s_fs_info.cast::<SbInfo>()).lower_mnt = lower_mnt };
    // SAFETY: `lower_mnt` is a live mount.
    let lower_sb = unsafe { (*lower_mnt).mnt_sb };
    // Another active reference means the device is also mounted as plain XFS somewhere:
    // stacking on it would give two views of one XFS instance.
    // SAFETY: `lower_sb` is pinned by `lower_mnt`.
    if unsafe { (*lower_sb).s_active.counter } > 1 {
        pr_err!("device is already mounted (as XFS or mxfs); unmount it first\n");
        return Err(EBUSY);
    }
    // SAFETY: XFS filled its superblock UUID at mount.
    if unsafe { &(*lower_sb).s_uuid.b } != uuid {
        pr_err!("the XFS superblock changed while mounting; refusing\n");
        return Err(EINVAL);
    }
    // In a cluster, losing the daemon (and with it the disk heartbeat) must stop all writes.
    // SAFETY: Per the contract, `SbInfo` is set.
    let mount = unsafe { &(*(*sb).s_fs_info.cast::<SbInfo>()).mount };
    if mount.lockstate.is_some() {
        mount.fence.arm(lower_sb);
    }
    // SAFETY: `sb` is ours until `mount_nodev` returns.
    unsafe {
        (*sb).s_op = &SUPER_OPS.0;
        (*sb).s_d_op = &crate::dentry::DENTRY_OPS.0;
        (*sb).s_maxbytes = (*lower_sb).s_maxbytes;
        (*sb).s_blocksize = (*lower_sb).s_blocksize;
        (*sb).s_blocksize_bits = (*lower_sb).s_blocksize_bits;
        (*sb).s_time_gran = (*lower_sb).s_time_gran;
        (*sb).s_time_min = (*lower_sb).s_time_min;
        (*sb).s_time_max = (*lower_sb).s_time_max;
        (*sb).s_stack_depth = (*lower_sb).s_stack_depth + 1;
        (*sb).s_flags |= (*lower_sb).s_flags & bindings::MXFS_SB_POSIXACL;
        (*sb).s_xattr = crate::xattr::HANDLERS.0.as_ptr();
        (*sb).s_export_op = &crate::export::EXPORT_OPS.0;
    }
    // SAFETY: The lower mount's root is pinned by the mount.
    let lower_root = unsafe { (*lower_mnt).mnt_root };
    // SAFETY: `sb` is set up; the lower root inode is live.
    let root_inode = unsafe { inode::get(sb, lower::d_inode(lower_root)) }?;
    // SAFETY: `d_make_root` consumes the inode reference, also on failure.
    let root = unsafe { bindings::d_make_root(root_inode) };
    if root.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `root` is new; it keeps one reference on the lower root, put in `d_release`.
    unsafe {
        (*root).d_fsdata = bindings::mxfs_dget(lower_root).cast();
        (*sb).s_root = root;
    }
    crate::cache::set_sb(mount, sb);
    Ok(())
}

unsafe extern "C" fn kill_sb(sb: *mut bindings::super_block) {
    // SAFETY: The VFS passes our superblock; `s_fs_info` is null or an `SbInfo` from `setup`.
    let info = unsafe { (*sb).s_fs_info.cast::<SbInfo>() };
    if !info.is_null() {
        // SAFETY: Set by `setup`, freed only below.
        unsafe {
            (*info).mount.set_state(state::STOPPING);
            crate::cache::set_sb(&(*info).mount, core::ptr::null_mut());
        }
    }
    // SAFETY: Tears down dentries and inodes, which drop their lower references.
    unsafe { bindings::kill_anon_super(sb) };
    if !info.is_null() {
        // SAFETY: Nothing refers to the superblock's state any more.
        let info = unsafe { KBox::from_raw(info) };
        info.mount.fence.disarm();
        if !info.lower_mnt.is_null() {
            // SAFETY: The last user of the lower mount is gone with the superblock; the mount
            // is internal, so the XFS is unmounted and clean when this returns.
            unsafe { bindings::mntput(info.lower_mnt) };
        }
        // Only now may the daemon give up the volume: its XFS is gone.
        daemon::stop(&info.mount);
        registry::remove(&info.mount);
    }
}

unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
    // SAFETY: The VFS evicts one of our inodes; its lower reference is dropped last.
    unsafe {
        bindings::truncate_inode_pages_final(&mut (*inode).i_data);
        crate::cache::evict(&lower::sb_info((*inode).i_sb).mount, (*inode).i_ino as u64);
        bindings::clear_inode(inode);
        let lower = lower::inode(inode);
        if !lower.is_null() {
            bindings::iput(lower);
        }
    }
}

unsafe extern "C" fn statfs(dentry: *mut bindings::dentry, buf: *mut bindings::kstatfs) -> c_int {
    // SAFETY: `dentry` is a live mxfs dentry.
    let path = unsafe { lower::path(dentry) };
    // SAFETY: `path` is a valid lower path and `buf` the caller's buffer.
    let ret = unsafe { bindings::vfs_statfs(&path, buf) };
    if ret == 0 {
        // SAFETY: As above.
        unsafe { (*buf).f_type = SUPER_MAGIC as _ };
    }
    ret
}

/// syncfs(2) and sync_filesystem() on the mxfs superblock: mxfs holds no dirty state of its
/// own (pages and inodes live in the lower XFS), so the waiting pass syncs the lower superblock.
/// The non-waiting pass does nothing: the waiting pass that always follows does all the work.
unsafe extern "C" fn sync_fs(sb: *mut bindings::super_block, wait: c_int) -> c_int {
    if wait == 0 {
        return 0;
    }
    // SAFETY: The VFS holds the mxfs `s_umount`, so the superblock and its lower mount are live.
    unsafe { sync_lower(sb) }
}

/// Writes back and waits for the lower XFS of `sb`.
///
/// # Safety
///
/// `sb` is a live mxfs superblock whose `s_umount` the caller holds.
unsafe fn sync_lower(sb: *mut bindings::super_block) -> c_int {
    // SAFETY: Per the contract, the lower mount is pinned by `sb`.
    unsafe {
        let lower_sb = (*lower::sb_info(sb).lower_mnt).mnt_sb;
        // sync_filesystem wants the superblock's s_umount held; the order mxfs -> lower is the
        // same as at unmount.
        bindings::down_read(&raw mut (*lower_sb).s_umount);
        let ret = bindings::sync_filesystem(lower_sb);
        bindings::up_read(&raw mut (*lower_sb).s_umount);
        ret
    }
}

/// Remount: mxfs options are checked like at mount; read-only is enforced on the mxfs
/// superblock by the VFS, so going read-only only needs the lower data on disk.
unsafe extern "C" fn remount_fs(sb: *mut bindings::super_block, flags: *mut c_int, data: *mut c_char) -> c_int {
    kernel::error::from_result(|| {
        options::parse(data.cast())?;
        // SAFETY: The VFS holds `s_umount`; `flags` points to the requested flags.
        unsafe {
            if *flags & bindings::MXFS_SB_RDONLY != 0 {
                kernel::error::to_result(sync_lower(sb))?;
            }
        }
        Ok(0)
    })
}

