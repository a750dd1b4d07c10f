// SPDX-License-Identifier: GPL-2.0

//! Shared writable mappings on a clustered owner. A store through such a mapping changes the
//! file like a write, so it must take EX as a write does: the first store to a page that is
//! clean or newly mapped faults into `page_mkwrite`, which takes EX here before XFS's own
//! handler runs. When the owner gives EX back, the lock-cache first writes the file's dirty
//! pages back (`cache`), which write-protects them in every mapping, so the next store faults
//! and takes EX again. Members thus see every store, at the latest when they next take PR.
//!
//! The mapping stays XFS's (`file::mmap` hands it to the lower file); only its operations are
//! wrapped, with the mount kept alive through `vm_private_data` while any VMA refers to it.

use crate::bindings;
use crate::cache;
use crate::lower::{zeroed, SyncTable};
use crate::registry::MountState;
use core::mem::ManuallyDrop;
use kernel::ffi::{c_uint, c_ulong};
use kernel::prelude::*;
use kernel::sync::Arc;

/// What a wrapped VMA refers to (its `vm_private_data`, one counted reference per VMA).
struct Wrapped {
    mount: Arc<MountState>,
    /// XFS's operations, which do the work.
    lower: &'static bindings::vm_operations_struct,
}

static VM_OPS: SyncTable<bindings::vm_operations_struct> = SyncTable(bindings::vm_operations_struct {
    open: Some(open),
    close: Some(close),
    fault: Some(fault),
    huge_fault: Some(huge_fault),
    map_pages: Some(map_pages),
    page_mkwrite: Some(page_mkwrite),
    pfn_mkwrite: Some(pfn_mkwrite),
    ..zeroed()
});

/// Wraps the operations the lower filesystem just gave `vma`, if the mapping is shared and
/// may be written and the mount is clustered.
///
/// # Safety
///
/// `vma` is being set up by mmap_region (nobody else sees it) and its lower `mmap` succeeded.
pub(crate) unsafe fn wrap(vma: *mut bindings::vm_area_struct, mount: &Arc<MountState>) -> Result {
    // SAFETY: Per the caller.
    let (flags, lower) = unsafe { ((*vma).__bindgen_anon_2.vm_flags, (*vma).vm_ops) };
    let shared_writable = flags & bindings::MXFS_VM_SHARED != 0 && flags & bindings::MXFS_VM_MAYWRITE != 0;
    if !shared_writable || !cache::enabled(mount) {
        return Ok(());
    }
    // SAFETY: A filesystem's operations are static: they outlive every mapping of its files.
    let Some(lower) = (unsafe { lower.as_ref() }) else { return Err(ENODEV) };
    if lower.fault.is_none() || lower.page_mkwrite.is_none() {
        // Nothing would catch the stores: refuse rather than let them bypass the cluster.
        return Err(ENODEV);
    }
    let wrapped = Arc::new(Wrapped { mount: mount.clone(), lower }, GFP_KERNEL)?;
    // SAFETY: Per the caller; `close` takes the reference back.
    unsafe {
        (*vma).vm_private_data = Arc::into_raw(wrapped).cast_mut().cast();
        (*vma).vm_ops = &VM_OPS.0;
    }
    Ok(())
}

/// The `Wrapped` of a VMA `wrap` set up.
///
/// # Safety
///
/// `vma` must have our operations, so `vm_private_data` holds a counted `Wrapped`.
unsafe fn wrapped<'a>(vma: *const bindings::vm_area_struct) -> &'a Wrapped {
    // SAFETY: Per the caller; the VMA's reference keeps it alive while the VMA lives.
    unsafe { &*(*vma).vm_private_data.cast::<Wrapped>() }
}

/// The VMA a fault is on.
///
/// # Safety
///
/// `vmf` must be a live fault.
unsafe fn vma_of(vmf: *mut bindings::vm_fault) -> *mut bindings::vm_area_struct {
    // SAFETY: Per the caller.
    unsafe { (*vmf).__bindgen_anon_1.vma }
}

unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
    // A copy of the VMA (fork, split) shares `vm_private_data`: it takes a reference of its own.
    // SAFETY: `vma` has our operations, copied from a VMA that holds a reference.
    let held = ManuallyDrop::new(unsafe { Arc::from_raw((*vma).vm_private_data.cast::<Wrapped>()) });
    core::mem::forget(Arc::clone(&held));
}

unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: The VMA goes: this is its reference.
    drop(unsafe { Arc::from_raw((*vma).vm_private_data.cast::<Wrapped>()) });
}

/// Takes EX on the mapped file for a store about to be allowed, then lets XFS allow it.
/// Released at once: the lock-cache write-protects the pages before it gives EX back.
///
/// # Safety
///
/// `vmf` must be a fault on a VMA `wrap` set up.
unsafe fn store(
    vmf: *mut bindings::vm_fault,
    lower: unsafe extern "C" fn(*mut bindings::vm_fault) -> bindings::vm_fault_t,
) -> bindings::vm_fault_t {
    // SAFETY: Per the caller; the mapped file is the lower file, whose inode number is the
    // mxfs inode's.
    let (w, ino) = unsafe {
        let vma = vma_of(vmf);
        (wrapped(vma), (*(*(*vma).vm_file).f_inode).i_ino as u64)
    };
    match cache::hold_ex_ino(&w.mount, ino) {
        Ok(ex) => drop(ex),
        Err(_) => return bindings::MXFS_VM_FAULT_SIGBUS,
    }
    // SAFETY: Per the caller.
    unsafe { lower(vmf) }
}

unsafe extern "C" fn page_mkwrite(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: The VM passes a fault on one of our VMAs; `wrap` checked XFS has this operation.
    unsafe {
        let mkwrite = wrapped(vma_of(vmf)).lower.page_mkwrite.unwrap_unchecked();
        store(vmf, mkwrite)
    }
}

unsafe extern "C" fn pfn_mkwrite(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: The VM passes a fault on one of our VMAs.
    unsafe {
        match wrapped(vma_of(vmf)).lower.pfn_mkwrite {
            Some(mkwrite) => store(vmf, mkwrite),
            None => bindings::MXFS_VM_FAULT_SIGBUS,
        }
    }
}

unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: The VM passes a fault on one of our VMAs; `wrap` checked XFS has this operation.
    unsafe { wrapped(vma_of(vmf)).lower.fault.unwrap_unchecked()(vmf) }
}

unsafe extern "C" fn huge_fault(vmf: *mut bindings::vm_fault, order: c_uint) -> bindings::vm_fault_t {
    // SAFETY: The VM passes a fault on one of our VMAs.
    unsafe {
        match wrapped(vma_of(vmf)).lower.huge_fault {
            Some(f) => f(vmf, order),
            None => bindings::MXFS_VM_FAULT_FALLBACK,
        }
    }
}

unsafe extern "C" fn map_pages(vmf: *mut bindings::vm_fault, start: c_ulong, end: c_ulong) -> bindings::vm_fault_t {
    // SAFETY: The VM passes a fault on one of our VMAs.
    unsafe {
        match wrapped(vma_of(vmf)).lower.map_pages {
            Some(f) => f(vmf, start, end),
            None => 0,
        }
    }
}
