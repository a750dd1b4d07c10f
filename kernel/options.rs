// SPDX-License-Identifier: GPL-2.0

//! Mount options. mount(8) turns the generic ones into flags, so the data string only
//! carries mxfs options; anything unknown is refused rather than ignored.

use crate::uapi_genl::{OPT_LOCKSTATE, OPT_MOUNTPOINT, OPT_PEERS, PATH_MAX_LEN};
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::str::CString;

pub(crate) struct MountOptions {
    /// Where the mount is attached, as told by mount.mxfs; empty when unknown.
    pub(crate) mountpoint: CString,
    /// `lockstate=PATH[:OFFSET]`: join the volume's cluster through this lockstate.
    pub(crate) lockstate: Option<CString>,
    /// `peers=HOST[:PORT]+...`: unicast discovery peers.
    pub(crate) peers: Option<CString>,
}

/// A path-like option value: non-empty, at most PATH_MAX - 1 bytes, printable.
fn checked<'a>(key: &str, v: &'a [u8]) -> Result<&'a [u8]> {
    if v.is_empty() || v.len() > PATH_MAX_LEN || v.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
        pr_err!("mount option {}= needs a value of 1 to {} printable characters\n", key, PATH_MAX_LEN);
        return Err(EINVAL);
    }
    Ok(v)
}

/// Parses the option string mount(2) passed (`data`, may be null).
pub(crate) fn parse(data: *const c_void) -> Result<MountOptions> {
    let text: &[u8] = if data.is_null() {
        &[]
    } else {
        // SAFETY: For a filesystem without binary mount data the VFS passes a NUL-terminated
        // string copied from userspace.
        unsafe { CStr::from_char_ptr(data.cast()) }.as_bytes()
    };
    let mut mountpoint: Option<&[u8]> = None;
    let mut lockstate: Option<&[u8]> = None;
    let mut peers: Option<&[u8]> = None;
    for item in text.split(|&b| b == b',').filter(|item| !item.is_empty()) {
        let (key, value) = match item.iter().position(|&b| b == b'=') {
            Some(eq) => (&item[..eq], Some(&item[eq + 1..])),
            None => (item, None),
        };
        match (key, value) {
            (k, Some(v)) if k == OPT_MOUNTPOINT.as_bytes() => {
                if v.len() > PATH_MAX_LEN || v.contains(&0) {
                    pr_err!("mount option {} is too long\n", OPT_MOUNTPOINT);
                    return Err(EINVAL);
                }
                mountpoint = Some(v);
            }
            (k, Some(v)) if k == OPT_LOCKSTATE.as_bytes() => lockstate = Some(checked(OPT_LOCKSTATE, v)?),
            (k, Some(v)) if k == OPT_PEERS.as_bytes() => peers = Some(checked(OPT_PEERS, v)?),
            _ => {
                pr_err!("unknown mount option '{}'\n", BStrDisplay(item));
                return Err(EINVAL);
            }
        }
    }
    let opt = |v: Option<&[u8]>| v.map(cstring_from_bytes).transpose();
    Ok(MountOptions {
        mountpoint: cstring_from_bytes(mountpoint.unwrap_or(b""))?,
        lockstate: opt(lockstate)?,
        peers: opt(peers)?,
    })
}

/// Copies bytes without NUL into a new C string.
pub(crate) fn cstring_from_bytes(bytes: &[u8]) -> Result<CString> {
    let mut buf = KVec::with_capacity(bytes.len() + 1, GFP_KERNEL)?;
    buf.extend_from_slice(bytes, GFP_KERNEL)?;
    buf.push(0, GFP_KERNEL)?;
    let cstr = CStr::from_bytes_with_nul(&buf).map_err(|_| EINVAL)?;
    Ok(CString::try_from(cstr)?)
}

/// Shows bytes from userspace as text, escaping what is not printable ASCII.
struct BStrDisplay<'a>(&'a [u8]);

impl core::fmt::Display for BStrDisplay<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{:02x}", b)?;
            }
        }
        Ok(())
    }
}
