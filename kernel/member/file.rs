// SPDX-License-Identifier: GPL-2.0

//! Member regular files. Writes go to the owner in pieces of at most `remote::MAX_IO` bytes.
//! Reads use the page cache while the inode's PR cache lock is held (`cache`): pages are read
//! from the owner in pieces of at most that size, and the cache is emptied before the first
//! read under a new grant, because a grant ends only when some node changes the file. O_DIRECT
//! reads, and reads when no grant can be had, go to the owner uncached. Either way a read sees
//! every write that any node completed before it.
//!
//! Files map read-only or privately (copy-on-write), from the same page cache: a fault takes
//! the grant first and maps a page only if the grant still holds once the page is locked, and
//! a blocking callback unmaps the file's pages (`cache`), so the next access faults and reads
//! what the owner has now. Shared writable mappings fail with ENODEV:
//! their stores would be writes a member caches, and members never hold EX.

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
    mmap: Some(mmap),
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

/// Makes the page cache of `inode` one the PR grant covers: takes the grant, fetches the size
/// under it, and empties the cache if it was filled under an earlier grant. Returns the grant;
/// 0 when none could be had: then nothing cached may be used.
///
/// # Safety
///
/// `inode` must be a live member file.
unsafe fn pages_under_grant(inode: *mut bindings::inode) -> Result<u64> {
    // SAFETY: Per the caller.
    let (mount, ino) = unsafe { (super::mount_of((*inode).i_sb), (*inode).i_ino as u64) };
    let grant = cache::hold_pr(mount, ino)?;
    if grant == 0 {
        return Ok(0);
    }
    // The size bounds what the page cache reads: it must be the one of this grant.
    // SAFETY: Per the caller.
    unsafe { super::inode::attrs_under(inode, grant) }?;
    if !cache::pages_current(mount, ino, grant) {
        // SAFETY: Per the caller; this also unmaps the pages from every mapping.
        unsafe { bindings::truncate_inode_pages(&mut (*inode).i_data, 0) };
        cache::pages_emptied(mount, ino, grant);
    }
    Ok(grant)
}

/// Reads through the page cache under the inode's PR grant; `None` when no grant could be had
/// (the read then goes to the owner uncached).
///
/// # Safety
///
/// As for `read_iter`; `inode` is the file's.
unsafe fn cached_read(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter, inode: *mut bindings::inode) -> Option<isize> {
    // SAFETY: Per the caller.
    match unsafe { pages_under_grant(inode) } {
        // SAFETY: Per the caller; the page cache is the grant's.
        Ok(0) => None,
        Ok(_) => Some(unsafe { bindings::generic_file_read_iter(iocb, iter) }),
        Err(e) => Some(e.to_errno() as isize),
    }
}

static VM_OPS: SyncTable<bindings::vm_operations_struct> = SyncTable(bindings::vm_operations_struct {
    fault: Some(fault),
    map_pages: Some(map_pages),
    ..zeroed()
});

unsafe extern "C" fn mmap(_file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> c_int {
    // SAFETY: mmap_region is setting `vma` up for one of our files; nobody else sees it yet.
    unsafe {
        let flags = (*vma).__bindgen_anon_2.vm_flags;
        if flags & bindings::MXFS_VM_SHARED != 0 {
            if flags & bindings::MXFS_VM_WRITE != 0 {
                return ENODEV.to_errno();
            }
            // Nor may mprotect make it writable later.
            bindings::mxfs_vm_flags_clear(vma, bindings::MXFS_VM_MAYWRITE);
        }
        (*vma).vm_ops = &VM_OPS.0;
    }
    0
}

/// The inode of a fault's mapping.
///
/// # Safety
///
/// `vmf` must be a fault on a mapping `mmap` set up (its file is open).
unsafe fn fault_inode(vmf: *mut bindings::vm_fault) -> *mut bindings::inode {
    // SAFETY: Per the caller.
    unsafe { (*(*(*vmf).__bindgen_anon_1.vma).vm_file).f_inode }
}

unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: The VM passes a fault on one of our mappings.
    let inode = unsafe { fault_inode(vmf) };
    // SAFETY: As above.
    let (mount, ino) = unsafe { (super::mount_of((*inode).i_sb), (*inode).i_ino as u64) };
    // SAFETY: As above.
    let grant = match unsafe { pages_under_grant(inode) } {
        Ok(g) => g,
        Err(_) => return bindings::MXFS_VM_FAULT_SIGBUS,
    };
    if grant == 0 {
        // Revoked as it came: the access faults again and asks again.
        return bindings::MXFS_VM_FAULT_NOPAGE;
    }
    // SAFETY: As above.
    let ret = unsafe { bindings::filemap_fault(vmf) };
    if ret & bindings::MXFS_VM_FAULT_LOCKED != 0 && cache::grant(mount, ino) != grant {
        // The grant ended while the page was read: it may be older than the owner's file.
        // While the page is locked a blocking callback cannot empty it, so a grant that
        // still holds here keeps it good until it is mapped (and unmapped again by the next
        // callback).
        // SAFETY: `filemap_fault` returned the page locked and referenced in `vmf.page`.
        unsafe {
            let folio = bindings::mxfs_page_folio((*vmf).page);
            bindings::folio_unlock(folio);
            bindings::mxfs_folio_put(folio);
        }
        return bindings::MXFS_VM_FAULT_NOPAGE;
    }
    ret
}

/// Maps the pages around a fault that are in the page cache already, only while the grant
/// they were read under holds (a blocking callback then unmaps them again).
unsafe extern "C" fn map_pages(vmf: *mut bindings::vm_fault, start: kernel::ffi::c_ulong, end: kernel::ffi::c_ulong) -> bindings::vm_fault_t {
    // SAFETY: The VM passes a fault on one of our mappings.
    let inode = unsafe { fault_inode(vmf) };
    // SAFETY: As above.
    let (mount, ino) = unsafe { (super::mount_of((*inode).i_sb), (*inode).i_ino as u64) };
    if !cache::pages_current(mount, ino, cache::grant(mount, ino)) {
        return 0;
    }
    // SAFETY: As above.
    unsafe { bindings::filemap_map_pages(vmf, start, end) }
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
