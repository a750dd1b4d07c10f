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

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    use mxfs_uapi::remote::{Request, SetAttr};

    use super::changed_inodes;
    use crate::remote::sys;

    #[test]
    fn each_change_names_the_inodes_it_touches() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: open_by_handle_at needs root");
            return;
        }
        // ext4 under /var/tmp gives file handles, like XFS.
        let dir = tempfile::Builder::new().prefix("mxfsd-changes").tempdir_in("/var/tmp").unwrap();
        let root = std::fs::File::open(dir.path()).unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("d")).unwrap();
        std::fs::write(p.join("f"), b"x").unwrap();
        std::fs::write(p.join("d/g"), b"y").unwrap();
        let ino = |n: &str| std::fs::symlink_metadata(p.join(n)).unwrap().ino();
        let fh = |n: &str| sys::handle_of(root.as_raw_fd(), n.as_bytes()).unwrap();
        let m = root.as_raw_fd();
        let (top, d, f, g) = (ino("."), ino("d"), ino("f"), ino("d/g"));
        let rootfh = sys::handle_of(m, b"").unwrap();

        assert_eq!(changed_inodes(m, &Request::SetAttr { fh: fh("f"), attr: SetAttr::default() }), vec![f]);
        assert_eq!(changed_inodes(m, &Request::Write { fh: fh("f"), offset: 0, sync: false, data: b"z" }), vec![f]);
        assert_eq!(changed_inodes(m, &Request::Mkdir { dir: fh("d"), name: b"e", mode: 0o755 }), vec![d]);
        assert_eq!(changed_inodes(m, &Request::Link { fh: fh("f"), dir: fh("d"), name: b"h" }), vec![f, d]);
        assert_eq!(changed_inodes(m, &Request::Unlink { dir: fh("d"), name: b"g" }), vec![d, g]);
        // A missing victim is left to the operation (which reports ENOENT).
        assert_eq!(changed_inodes(m, &Request::Unlink { dir: fh("d"), name: b"none" }), vec![d]);
        let rename = Request::Rename { from_dir: rootfh, from: b"f", to_dir: fh("d"), to: b"g", flags: 0 };
        assert_eq!(changed_inodes(m, &rename), vec![top, d, f, g]);
        // Reads change nothing another node caches.
        assert!(changed_inodes(m, &Request::Lookup { dir: fh("d"), name: b"g" }).is_empty());
        assert!(changed_inodes(m, &Request::Read { fh: fh("f"), offset: 0, len: 1 }).is_empty());
    }
}
