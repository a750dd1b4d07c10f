// SPDX-License-Identifier: GPL-2.0

//! Member regular files. Writes go to the owner in pieces of at most `remote::MAX_IO` bytes.
//! Reads use the page cache while the inode's PR cache lock is held (`cache`): pages are read
//! from the owner in pieces of at most that size, and the cache is emptied before the first
//! read under a new grant, because a grant ends only when some node changes the file. O_DIRECT
//! reads, and reads when no grant can be had, go to the owner uncached. Either way a read sees
//! every write that any node completed before it.

use super::call;
use super::inode::{apply, fh, refresh};
use crate::bindings;
use crate::cache;
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
    // O_DIRECT reads bypass the page cache and writes are never cached: it needs nothing
    // more than any other open.
    // SAFETY: The VFS is opening `file`.
    unsafe { (*file).f_mode |= bindings::MXFS_FMODE_CAN_ODIRECT };
    0
}

pub(crate) static AOPS: SyncTable<bindings::address_space_operations> =
    SyncTable(bindings::address_space_operations {
        read_folio: Some(read_folio),
        readahead: Some(readahead),
        ..zeroed()
    });

unsafe extern "C" fn read_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: The VFS passes a live kiocb on one of our files and the destination iterator.
    let (iocb_ref, inode) = unsafe { (&mut *iocb, (*(*iocb).ki_filp).f_inode) };
    if iocb_ref.ki_flags & bindings::MXFS_IOCB_DIRECT == 0 {
        // SAFETY: As above.
        if let Some(ret) = unsafe { cached_read(iocb, iter, inode) } {
            return ret;
        }
    }
    // SAFETY: As above.
    unsafe { uncached_read(iocb, iter, inode) }
}

/// Reads through the page cache under the inode's PR grant; `None` when no grant could be had
/// (the read then goes to the owner uncached).
///
/// # Safety
///
/// As for `read_iter`; `inode` is the file's.
unsafe fn cached_read(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter, inode: *mut bindings::inode) -> Option<isize> {
    // SAFETY: Per the caller.
    unsafe {
        let mount = super::mount_of((*inode).i_sb);
        let ino = (*inode).i_ino as u64;
        let grant = match cache::hold_pr(mount, ino) {
            Ok(0) => return None,
            Ok(g) => g,
            Err(e) => return Some(e.to_errno() as isize),
        };
        // The size bounds what the page cache reads: it must be the one of this grant.
        if let Err(e) = super::inode::attrs_under(inode, grant) {
            return Some(e.to_errno() as isize);
        }
        if !cache::pages_current(mount, ino, grant) {
            bindings::truncate_inode_pages(&mut (*inode).i_data, 0);
            cache::pages_emptied(mount, ino, grant);
        }
        Some(bindings::generic_file_read_iter(iocb, iter))
    }
}

/// Reads straight from the owner into `iter`.
///
/// # Safety
///
/// As for `read_iter`; `inode` is the file's.
unsafe fn uncached_read(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter, inode: *mut bindings::inode) -> isize {
    // SAFETY: Per the caller.
    let iocb = unsafe { &mut *iocb };
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

/// Fills `folios` (locked, contiguous, in file order) with one READ from the owner, zeroing
/// what lies past the end of the file, and unlocks them; on failure they stay not up to date.
///
/// # Safety
///
/// `inode` is a live member file and every folio a locked folio of its page cache.
unsafe fn fill(inode: *mut bindings::inode, folios: &[*mut bindings::folio]) -> Result {
    let Some(&first) = folios.first() else { return Ok(()) };
    // SAFETY: Per the caller.
    let result = unsafe {
        let start = bindings::mxfs_folio_pos(first) as u64;
        let len: usize = folios.iter().map(|&f| bindings::mxfs_folio_size(f)).sum();
        let req = Request::Read { fh: *fh(inode), offset: start, len: len.min(MAX_IO) as u32 };
        call((*inode).i_sb, &req).and_then(|a| match a.get()? {
            Reply::Data(data) => {
                let mut at = 0usize;
                for &f in folios {
                    let size = bindings::mxfs_folio_size(f);
                    let n = data.len().saturating_sub(at).min(size);
                    if n > 0 {
                        bindings::mxfs_memcpy_to_folio(f, 0, data.as_ptr().add(at).cast(), n);
                    }
                    if n < size {
                        bindings::mxfs_folio_zero_range(f, n, size - n);
                    }
                    bindings::mxfs_folio_mark_uptodate(f);
                    at += size;
                }
                Ok(())
            }
            _ => Err(EIO),
        })
    };
    for &f in folios {
        // SAFETY: Each folio is locked by the caller's contract; this is its unlock.
        unsafe { bindings::folio_unlock(f) };
    }
    result
}

unsafe extern "C" fn read_folio(_file: *mut bindings::file, folio: *mut bindings::folio) -> c_int {
    // SAFETY: The page cache passes a locked folio of one of our files.
    let inode = unsafe { (*(*folio).__bindgen_anon_1.__bindgen_anon_1.mapping).host };
    // SAFETY: As above.
    match unsafe { fill(inode, &[folio]) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Folios of one READ: at most `MAX_IO` bytes.
const BATCH: usize = MAX_IO / 4096;

unsafe extern "C" fn readahead(rac: *mut bindings::readahead_control) {
    // SAFETY: The page cache passes a readahead request on one of our files.
    let inode = unsafe { (*(*rac).mapping).host };
    let mut batch = [core::ptr::null_mut::<bindings::folio>(); BATCH];
    let mut n = 0;
    let mut bytes = 0;
    loop {
        // SAFETY: Each folio comes locked; `fill` unlocks it.
        let folio = unsafe { bindings::mxfs_readahead_folio(rac) };
        // SAFETY: A non-null folio is live.
        let size = if folio.is_null() { 0 } else { unsafe { bindings::mxfs_folio_size(folio) } };
        if n > 0 && (folio.is_null() || n == BATCH || bytes + size > MAX_IO) {
            // Failures are left to `read_folio`, which reports them.
            // SAFETY: `batch[..n]` are locked contiguous folios of `inode`.
            let _ = unsafe { fill(inode, &batch[..n]) };
            n = 0;
            bytes = 0;
        }
        if folio.is_null() {
            return;
        }
        batch[n] = folio;
        n += 1;
        bytes += size;
    }
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
