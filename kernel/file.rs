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
    splice_write: Some(bindings::iter_file_splice_write),
    ..zeroed()
});

/// Flags that only matter while opening (the VFS already acted on them for the mxfs file).
const OPEN_ONLY_FLAGS: u32 = bindings::O_CREAT | bindings::O_EXCL | bindings::O_NOCTTY | bindings::O_TRUNC;

pub(crate) unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS is opening `file` on one of our dentries.
        unsafe {
            let path = lower::path((*file).f_path.dentry);
            let flags = (*file).f_flags & !OPEN_ONLY_FLAGS;
            let lower_file = lower::from_err_ptr(bindings::dentry_open(&path, flags as c_int, (*file).f_cred))?;
            (*file).private_data = lower_file.cast();
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

unsafe extern "C" fn read_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: The VFS passes a kiocb on an open mxfs file and the destination iterator.
    unsafe {
        let iocb = &mut *iocb;
        bindings::vfs_iter_read(lower::file(iocb.ki_filp), iter, &mut iocb.ki_pos, rw_flags(iocb))
    }
}

unsafe extern "C" fn write_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: As for `read_iter`; afterwards the mxfs inode takes the new size and times.
    unsafe {
        let iocb = &mut *iocb;
        let ret = bindings::vfs_iter_write(lower::file(iocb.ki_filp), iter, &mut iocb.ki_pos, rw_flags(iocb));
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
    // writeback happen in the lower page cache.
    unsafe {
        let lower_file = lower::file(file);
        let Some(lower_mmap) = (*(*lower_file).f_op).mmap else {
            return ENODEV.to_errno();
        };
        bindings::vma_set_file(vma, lower_file);
        lower_mmap(lower_file, vma)
    }
}

