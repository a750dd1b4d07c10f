// SPDX-License-Identifier: GPL-2.0

//! Dentry operations: each mxfs dentry owns one reference on its lower dentry.

use crate::bindings;
use crate::lower::{self, zeroed, SyncTable};

pub(crate) static DENTRY_OPS: SyncTable<bindings::dentry_operations> =
    SyncTable(bindings::dentry_operations { d_release: Some(d_release), ..zeroed() });

unsafe extern "C" fn d_release(dentry: *mut bindings::dentry) {
    // SAFETY: The VFS releases one of our dentries; `d_fsdata` is null or a counted lower
    // dentry set by lookup or fill_super.
    unsafe {
        let lower = lower::dentry(dentry);
        if !lower.is_null() {
            bindings::dput(lower);
        }
    }
}
