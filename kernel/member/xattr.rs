// SPDX-License-Identifier: GPL-2.0

//! Extended attributes on a member: every namespace the VFS lets the caller reach (it checks
//! user.* against the inode's mode and trusted.* against the caller's capabilities first) is
//! read and changed on the owner, with the caller's credentials. Values and lists travel whole,
//! up to `remote::MAX_IO` bytes (longer ones fail with E2BIG). POSIX ACLs do not come here:
//! the VFS routes `system.posix_acl_*` to the ACL inode operations (`acl`).

use super::call;
use super::inode::fh;
use crate::bindings;
use crate::lower::{zeroed, SyncTable};
use crate::uapi_remote::{Reply, Request, MAX_IO};
use kernel::ffi::{c_char, c_int, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

static HANDLER: SyncTable<bindings::xattr_handler> = SyncTable(bindings::xattr_handler {
    prefix: c"".as_ptr().cast(),
    get: Some(get),
    set: Some(set),
    ..zeroed()
});

/// NULL-terminated handler list for `s_xattr`.
pub(crate) static HANDLERS: SyncTable<[*const bindings::xattr_handler; 2]> =
    SyncTable([&HANDLER.0, core::ptr::null()]);

/// Hands `data` to a caller's buffer of `size` bytes: the length alone for `size` 0, ERANGE if
/// it does not fit.
///
/// # Safety
///
/// `buffer` must hold `size` bytes when `size` is not 0.
unsafe fn answer(data: &[u8], buffer: *mut c_void, size: usize) -> Result<c_int> {
    if size != 0 {
        if data.len() > size {
            return Err(ERANGE);
        }
        // SAFETY: Per the contract; `data` is a kernel buffer that does not overlap it.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), buffer.cast::<u8>(), data.len()) };
    }
    Ok(data.len() as c_int)
}

unsafe extern "C" fn get(
    _handler: *const bindings::xattr_handler,
    _dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The VFS passes a live member inode and a NUL-terminated name.
        let (fh, name, sb) = unsafe { (*fh(inode), CStr::from_char_ptr(name).as_bytes(), (*inode).i_sb) };
        let reply = call(sb, &Request::GetXattr { fh, name })?;
        let Reply::Data(value) = reply.get()? else { return Err(EIO) };
        // SAFETY: `buffer` holds `size` bytes or `size` is 0 (a length query).
        unsafe { answer(value, buffer, size) }
    })
}

unsafe extern "C" fn set(
    _handler: *const bindings::xattr_handler,
    _idmap: *mut bindings::mnt_idmap,
    _dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    name: *const c_char,
    value: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: As in `get`; a null `value` means removal, otherwise it holds `size` bytes.
        let (fh, name, sb) = unsafe { (*fh(inode), CStr::from_char_ptr(name).as_bytes(), (*inode).i_sb) };
        if size > MAX_IO {
            return Err(E2BIG);
        }
        let req = if value.is_null() {
            Request::RemoveXattr { fh, name }
        } else {
            // SAFETY: Per the above.
            let value = unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size) };
            Request::SetXattr { fh, name, flags: flags as u32, value }
        };
        call(sb, &req)?.get()?;
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn listxattr(dentry: *mut bindings::dentry, list: *mut c_char, size: usize) -> isize {
    let result = (|| {
        // SAFETY: The VFS passes a positive member dentry.
        let (fh, sb) = unsafe {
            let inode = (*dentry).d_inode;
            (*fh(inode), (*inode).i_sb)
        };
        let reply = call(sb, &Request::ListXattr { fh })?;
        let Reply::Data(names) = reply.get()? else { return Err(EIO) };
        // SAFETY: `list` holds `size` bytes or `size` is 0 (a length query).
        unsafe { answer(names, list.cast(), size) }
    })();
    match result {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}
