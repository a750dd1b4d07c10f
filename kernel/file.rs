// SPDX-License-Identifier: GPL-2.0

//! Open files: each mxfs file has a lower XFS file, and I/O goes straight to it.
//!
//! Pages live in the lower XFS mapping only: read/write go through the lower file and `mmap`
//! hands the mapping to the lower file, so buffered I/O, O_DIRECT and mmap share one page
//! cache, and invalidating a file means invalidating the lower mapping.

use crate::bindings;
use crate::inode;
use crate::lower::{self, zeroed, SyncTable};
use kernel::ffi::c_int;
use kernel::prelude::*;

pub(crate) static FILE_FOPS: SyncTable<bindings::file_operations> = SyncTable(bindings::file_operations {
    open: Some(open),
    release: Some(release),
    llseek: Some(llseek),
    read_iter: Some(read_iter),
    write_iter: Some(write_iter),
    mmap: Some(mmap),
    fsync: Some(fsync),
    splice_read: Some(bindings::copy_splice_read),
    splice_write: Some(splice_write),
    fallocate: Some(fallocate),
    copy_file_range: Some(copy_file_range),
    remap_file_range: Some(remap_file_range),
    fadvise: Some(fadvise),
    ..zeroed()
});

/// Flags that only matter while opening (the VFS already acted on them for the mxfs file).
const OPEN_ONLY_FLAGS: u32 =
    bindings::O_CREAT | bindings::O_EXCL | bindings::O_NOCTTY | bindings::O_TRUNC | bindings::__O_TMPFILE;

/// Flags fcntl(F_SETFL) may change on the mxfs file after open; the lower file follows.
const SETFL_FLAGS: u32 = bindings::O_APPEND | bindings::O_DIRECT | bindings::O_NOATIME | bindings::O_NONBLOCK;

pub(crate) unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS is opening `file` on one of our dentries.
        unsafe {
            let path = lower::path((*file).f_path.dentry);
            let flags = (*file).f_flags & !OPEN_ONLY_FLAGS;
            let lower_file = lower::from_err_ptr(bindings::dentry_open(&path, flags as c_int, (*file).f_cred))?;
            (*file).private_data = lower_file.cast();
            // Generic paths that act on `f_mapping` (fadvise, readahead, sync_file_range) then
            // reach the pages, which live in the lower mapping.
            (*file).f_mapping = (*lower_file).f_mapping;
            if (*lower_file).f_mode & bindings::MXFS_FMODE_CAN_ODIRECT != 0 {
                (*file).f_mode |= bindings::MXFS_FMODE_CAN_ODIRECT;
            }
        }
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `open` succeeded, so `private_data` holds our lower file reference.
    unsafe { bindings::fput(lower::file(file)) };
    0
}

/// The per-call flags (RWF_*) of a kiocb; the kernel defines IOCB_* equal to RWF_* for these.
fn rw_flags(iocb: &bindings::kiocb) -> c_int {
    iocb.ki_flags & bindings::MXFS_IOCB_RW_FLAGS
}

/// The lower file of `file`, with the flags fcntl(F_SETFL) changed since open applied.
///
/// # Safety
///
/// `file` must be an open mxfs file.
unsafe fn synced_lower(file: *mut bindings::file) -> *mut bindings::file {
    // SAFETY: Per the caller; `f_lock` serialises flag updates of the lower file.
    unsafe {
        let lower_file = lower::file(file);
        let wanted = (*file).f_flags & SETFL_FLAGS;
        if (*lower_file).f_flags & SETFL_FLAGS != wanted {
            bindings::mxfs_spin_lock(&raw mut (*lower_file).f_lock);
            (*lower_file).f_flags = ((*lower_file).f_flags & !SETFL_FLAGS) | wanted;
            bindings::mxfs_spin_unlock(&raw mut (*lower_file).f_lock);
        }
        lower_file
    }
}

/// EX on the inode of `file` for a change of its data or size.
///
/// # Safety
///
/// `file` must be an open mxfs file.
unsafe fn changing<'a>(file: *mut bindings::file) -> Result<crate::cache::ExGuard<'a>> {
    // SAFETY: Per the contract.
    unsafe {
        let inode = (*file).f_inode;
        crate::cache::hold_ex_on((*inode).i_sb, &[inode])
    }
}

unsafe extern "C" fn read_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: The VFS passes a kiocb on an open mxfs file and the destination iterator.
    unsafe {
        let iocb = &mut *iocb;
        bindings::vfs_iter_read(synced_lower(iocb.ki_filp), iter, &mut iocb.ki_pos, rw_flags(iocb))
    }
}

unsafe extern "C" fn write_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: As for `read_iter`; afterwards the mxfs inode takes the new size and times.
    unsafe {
        let iocb = &mut *iocb;
        let _ex = match changing((*iocb).ki_filp) {
            Ok(g) => g,
            Err(e) => return e.to_errno() as isize,
        };
        let ret = bindings::vfs_iter_write(synced_lower(iocb.ki_filp), iter, &mut iocb.ki_pos, rw_flags(iocb));
        inode::refresh((*iocb.ki_filp).f_inode);
        ret
    }
}

unsafe extern "C" fn llseek(file: *mut bindings::file, offset: bindings::loff_t, whence: c_int) -> bindings::loff_t {
    // SAFETY: `file` is open; the VFS serialises position updates on it. The lower file
    // answers (it knows SEEK_DATA/SEEK_HOLE) starting from our position.
    unsafe {
        let lower_file = lower::file(file);
        (*lower_file).f_pos = (*file).f_pos;
        let ret = bindings::vfs_llseek(lower_file, offset, whence);
        if ret >= 0 {
            (*file).f_pos = ret;
        }
        ret
    }
}

pub(crate) unsafe extern "C" fn fsync(
    file: *mut bindings::file,
    start: bindings::loff_t,
    end: bindings::loff_t,
    datasync: c_int,
) -> c_int {
    // SAFETY: `file` is open, so its lower file is too.
    unsafe { bindings::vfs_fsync_range(lower::file(file), start, end, datasync) }
}

unsafe extern "C" fn mmap(file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> c_int {
    // SAFETY: `file` is open and `vma` is being set up for it by mmap_region, which reads
    // `vm_file` back after this call. The mapping moves to the lower file so faults and
    // writeback happen in the lower page cache. `file` keeps the superblock alive meanwhile.
    unsafe {
        let lower_file = lower::file(file);
        let Some(lower_mmap) = (*(*lower_file).f_op).mmap else {
            return ENODEV.to_errno();
        };
        let mount = &lower::sb_info((*(*file).f_inode).i_sb).mount;
        bindings::vma_set_file(vma, lower_file);
        let ret = lower_mmap(lower_file, vma);
        if ret != 0 {
            return ret;
        }
        // A store through a shared writable mapping is a change: it takes EX (`mapping`).
        match crate::mapping::wrap(vma, mount) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}


unsafe extern "C" fn fallocate(file: *mut bindings::file, mode: c_int, offset: bindings::loff_t, len: bindings::loff_t) -> isize {
    // SAFETY: `file` is open; XFS validates the mode and range.
    unsafe {
        let _ex = match changing(file) {
            Ok(g) => g,
            Err(e) => return e.to_errno() as isize,
        };
        let ret = bindings::vfs_fallocate(lower::file(file), mode, offset, len);
        inode::refresh((*file).f_inode);
        ret as isize
    }
}

unsafe extern "C" fn copy_file_range(
    file_in: *mut bindings::file,
    pos_in: bindings::loff_t,
    file_out: *mut bindings::file,
    pos_out: bindings::loff_t,
    len: usize,
    flags: kernel::ffi::c_uint,
) -> isize {
    // SAFETY: The VFS calls this only when both files are open mxfs files of one superblock.
    unsafe {
        let _ex = match changing(file_out) {
            Ok(g) => g,
            Err(e) => return e.to_errno() as isize,
        };
        let ret = bindings::vfs_copy_file_range(lower::file(file_in), pos_in, lower::file(file_out), pos_out, len, flags);
        inode::refresh((*file_out).f_inode);
        ret
    }
}

/// FICLONE, FICLONERANGE and FIDEDUPERANGE: XFS shares the extents (reflink).
unsafe extern "C" fn remap_file_range(
    file_in: *mut bindings::file,
    pos_in: bindings::loff_t,
    file_out: *mut bindings::file,
    pos_out: bindings::loff_t,
    len: bindings::loff_t,
    flags: kernel::ffi::c_uint,
) -> bindings::loff_t {
    if flags & !(bindings::REMAP_FILE_DEDUP | bindings::REMAP_FILE_ADVISORY) != 0 {
        return EINVAL.to_errno() as bindings::loff_t;
    }
    // SAFETY: As for `copy_file_range`.
    unsafe {
        let _ex = match changing(file_out) {
            Ok(g) => g,
            Err(e) => return e.to_errno() as bindings::loff_t,
        };
        let (lin, lout) = (lower::file(file_in), lower::file(file_out));
        let ret = if flags & bindings::REMAP_FILE_DEDUP != 0 {
            bindings::vfs_dedupe_file_range_one(lin, pos_in, lout, pos_out, len, flags)
        } else {
            bindings::vfs_clone_file_range(lin, pos_in, lout, pos_out, len, flags)
        };
        inode::refresh((*file_out).f_inode);
        ret
    }
}

unsafe extern "C" fn fadvise(file: *mut bindings::file, offset: bindings::loff_t, len: bindings::loff_t, advice: c_int) -> c_int {
    // SAFETY: `file` is open; the advice applies to the lower page cache.
    unsafe { bindings::vfs_fadvise(lower::file(file), offset, len, advice) }
}

/// Splicing into an mxfs file goes to the lower file's own splice_write, with the lower write
/// protection taken before the lower side locks the pipe: the order every splice into XFS
/// uses (taking it inside the pipe lock, as a generic write would, inverts it).
unsafe extern "C" fn splice_write(
    pipe: *mut bindings::pipe_inode_info,
    file: *mut bindings::file,
    ppos: *mut bindings::loff_t,
    len: usize,
    flags: kernel::ffi::c_uint,
) -> isize {
    // SAFETY: `file` is open; `pipe` and `ppos` are the caller's.
    unsafe {
        let _ex = match changing(file) {
            Ok(g) => g,
            Err(e) => return e.to_errno() as isize,
        };
        let lower_file = synced_lower(file);
        let Some(lower_splice) = (*(*lower_file).f_op).splice_write else {
            return EINVAL.to_errno() as isize;
        };
        bindings::mxfs_file_start_write(lower_file);
        let ret = lower_splice(pipe, lower_file, ppos, len, flags);
        bindings::mxfs_file_end_write(lower_file);
        inode::refresh((*file).f_inode);
        ret
    }
}
