//! Which inodes a remote operation changes: the owner takes their cache locks at EX before it
//! runs the operation (DESIGN §3), so that no node keeps caching what it is about to change.
//!
//! An entry's inode is found by name just before the operation; the directory's EX keeps other
//! nodes from changing the name meanwhile.

use std::os::fd::{AsRawFd, RawFd};

use mxfs_uapi::remote::{Fh, Request};

use super::sys::{self, Errno};

fn ino_of(mount: RawFd, fh: &Fh) -> Result<u64, Errno> {
    let fd = sys::open_by_handle(mount, fh, libc::O_PATH)?;
    Ok(sys::fstat(fd.as_raw_fd())?.st_ino)
}

/// The inode `name` in `dir` names now, if any.
fn entry_ino(mount: RawFd, dir: &Fh, name: &[u8]) -> Result<Option<u64>, Errno> {
    let d = sys::open_by_handle(mount, dir, libc::O_PATH)?;
    match sys::open_at(d.as_raw_fd(), name, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => Ok(Some(sys::fstat(fd.as_raw_fd())?.st_ino)),
        Err(e) if e == libc::ENOENT as Errno => Ok(None),
        Err(e) => Err(e),
    }
}

/// The inodes `req` changes (attributes, entries or data); empty for operations that change
/// nothing another node may cache. A handle that no longer opens is left to the operation,
/// which reports it.
pub fn changed_inodes(mount: RawFd, req: &Request<'_>) -> Vec<u64> {
    let mut out = Vec::new();
    let mut add = |r: Result<Option<u64>, Errno>| {
        if let Ok(Some(i)) = r {
            out.push(i);
        }
    };
    let fh = |f: &Fh| ino_of(mount, f).map(Some);
    match req {
        Request::SetAttr { fh: f, .. }
        | Request::Write { fh: f, .. }
        | Request::SetXattr { fh: f, .. }
        | Request::RemoveXattr { fh: f, .. } => add(fh(f)),
        Request::Mknod { dir, .. } | Request::Mkdir { dir, .. } | Request::Symlink { dir, .. } => add(fh(dir)),
        Request::Link { fh: f, dir, .. } => {
            add(fh(f));
            add(fh(dir));
        }
        Request::Unlink { dir, name } | Request::Rmdir { dir, name } => {
            add(fh(dir));
            add(entry_ino(mount, dir, name));
        }
        Request::Rename { from_dir, from, to_dir, to, .. } => {
            add(fh(from_dir));
            add(fh(to_dir));
            add(entry_ino(mount, from_dir, from));
            add(entry_ino(mount, to_dir, to));
        }
        _ => {}
    }
    out
}
