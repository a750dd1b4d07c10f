// SPDX-License-Identifier: GPL-2.0

//! Member regular files: reads and writes go to the owner in pieces of at most
//! `remote::MAX_IO` bytes, uncached (no page cache until the lock-cache covers it), so every
//! read sees every write that any node completed before it.

use super::call;
use super::inode::{apply, fh, refresh};
use crate::bindings;
use crate::lower::{zeroed, SyncTable};
use crate::uapi_remote::{Reply, Request, MAX_IO};
use kernel::ffi::c_int;
use kernel::prelude::*;

pub(crate) static FILE_FOPS: SyncTable<bindings::file_operations> = SyncTable(bindings::file_operations {
    open: Some(open),
    read_iter: Some(read_iter),
    write_iter: Some(write_iter),
    llseek: Some(llseek),
    fsync: Some(fsync),
    lock: Some(super::locks::lock),
    flock: Some(super::locks::flock),
    ..zeroed()
});

unsafe extern "C" fn open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // Nothing is cached, so O_DIRECT needs nothing more than any other open.
    // SAFETY: The VFS is opening `file`.
    unsafe { (*file).f_mode |= bindings::MXFS_FMODE_CAN_ODIRECT };
    0
}

unsafe extern "C" fn read_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: The VFS passes a live kiocb on one of our files and the destination iterator.
    let (iocb, inode) = unsafe { (&mut *iocb, (*(*iocb).ki_filp).f_inode) };
    let mut done = 0usize;
    loop {
        // SAFETY: `iter` is live for the call.
        let want = unsafe { bindings::mxfs_iov_iter_count(iter) }.min(MAX_IO);
        if want == 0 {
            break;
        }
        // SAFETY: `inode` is a live member inode.
        let req = Request::Read { fh: *unsafe { fh(inode) }, offset: iocb.ki_pos as u64, len: want as u32 };
        // SAFETY: As above.
        let result = call(unsafe { (*inode).i_sb }, &req).and_then(|a| match a.get()? {
            // SAFETY: `data` is a kernel buffer; `iter` the caller's destination.
            Reply::Data(data) => Ok(unsafe { bindings::mxfs_copy_to_iter(data.as_ptr().cast(), data.len(), iter) }),
            _ => Err(EIO),
        });
        match result {
            Ok(n) => {
                done += n;
                iocb.ki_pos += n as bindings::loff_t;
                if n < want {
                    break; // end of file, or the destination faulted
                }
            }
            Err(e) if done == 0 => return e.to_errno() as isize,
            Err(_) => break,
        }
    }
    done as isize
}

unsafe extern "C" fn write_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: As in `read_iter`.
    let (iocb, inode) = unsafe { (&mut *iocb, (*(*iocb).ki_filp).f_inode) };
    if iocb.ki_flags & bindings::MXFS_IOCB_APPEND != 0 {
        // SAFETY: `inode` is a live member inode.
        if let Err(e) = unsafe { refresh(inode) } {
            return e.to_errno() as isize;
        }
        // SAFETY: As above.
        iocb.ki_pos = unsafe { (*inode).i_size };
    }
    let sync = iocb.ki_flags & bindings::MXFS_IOCB_DSYNC != 0;
    let mut buf = match KVec::<u8>::with_capacity(MAX_IO, GFP_KERNEL) {
        Ok(b) => b,
        Err(_) => return ENOMEM.to_errno() as isize,
    };
    let mut done = 0usize;
    loop {
        // SAFETY: `iter` is live for the call.
        let want = unsafe { bindings::mxfs_iov_iter_count(iter) }.min(MAX_IO);
        if want == 0 {
            break;
        }
        // SAFETY: `buf` has room for `MAX_IO` bytes; the copy initialises the first `got`.
        let got = unsafe { bindings::mxfs_copy_from_iter(buf.as_mut_ptr().cast(), want, iter) };
        if got == 0 {
            if done == 0 {
                return EFAULT.to_errno() as isize;
            }
            break;
        }
        // SAFETY: The first `got` bytes were just written.
        let data = unsafe { core::slice::from_raw_parts(buf.as_ptr(), got) };
        // SAFETY: `inode` is a live member inode.
        let req = Request::Write { fh: *unsafe { fh(inode) }, offset: iocb.ki_pos as u64, sync, data };
        // SAFETY: As above.
        let result = call(unsafe { (*inode).i_sb }, &req).and_then(|a| match a.get()? {
            Reply::Written { count, attr } => {
                // SAFETY: As above.
                unsafe { apply(inode, &attr) };
                Ok(count as usize)
            }
            _ => Err(EIO),
        });
        match result {
            Ok(n) => {
                done += n;
                iocb.ki_pos += n as bindings::loff_t;
                if n < got {
                    break;
                }
            }
            Err(e) if done == 0 => return e.to_errno() as isize,
            Err(_) => break,
        }
    }
    done as isize
}

unsafe extern "C" fn llseek(file: *mut bindings::file, offset: bindings::loff_t, whence: c_int) -> bindings::loff_t {
    // SAFETY: `file` is one of our open files.
    unsafe {
        if whence as u32 == bindings::SEEK_END || whence as u32 == bindings::SEEK_DATA || whence as u32 == bindings::SEEK_HOLE {
            // Seeks relative to the size need the owner's size.
            if let Err(e) = refresh((*file).f_inode) {
                return e.to_errno() as bindings::loff_t;
            }
        }
        bindings::generic_file_llseek(file, offset, whence)
    }
}

pub(crate) unsafe extern "C" fn fsync(file: *mut bindings::file, _start: bindings::loff_t, _end: bindings::loff_t, datasync: c_int) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: `file` is one of our open files.
        unsafe {
            let inode = (*file).f_inode;
            call((*inode).i_sb, &Request::Fsync { fh: *fh(inode), datasync: datasync != 0 })?.get()?;
        }
        Ok(0)
    })
}
