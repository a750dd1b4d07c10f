//! The executor against a real directory (ext4 under /var/tmp supports file handles), as
//! root switching to unprivileged callers: results and exact errnos.

use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc::channel;
use std::time::Duration;

use mxfs_uapi::remote::*;

use super::exec::{Executor, MountRoot};
use super::Responder;

struct World {
    _dir: tempfile::TempDir,
    x: Executor,
    next: std::cell::Cell<u64>,
}

const A: u32 = 4321;
const B: u32 = 4322;

fn who(uid: u32) -> Creds {
    Creds::new(uid, uid, &[])
}

impl World {
    fn new() -> Option<World> {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: the executor test needs root (credential switching)");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("mxfsd-exec").tempdir_in("/var/tmp").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let x = Executor::start(MountRoot::new(dir.path().into(), false), None).unwrap();
        Some(World { _dir: dir, x, next: std::cell::Cell::new(1) })
    }

    fn raw(&self, msg: Vec<u8>) -> Vec<u8> {
        self.raw_from(super::exec::THIS_NODE, msg)
    }

    fn raw_from(&self, node: u32, msg: Vec<u8>) -> Vec<u8> {
        let h = decode_header(&msg).unwrap();
        let (tx, rx) = channel();
        self.x.submit_from(node, msg, Responder::new(h, Box::new(move |b| tx.send(b).unwrap())));
        rx.recv_timeout(Duration::from_secs(20)).expect("a reply")
    }

    /// A LOCK request from `node`: the lock taken or the conflict, or the errno.
    fn lock(&self, node: u32, l: LockReq) -> Result<LockInfo, u32> {
        let mut buf = vec![0u8; MAX_MSG];
        let n = Request::Lock(l).encode(1, &who(0), &mut buf).unwrap();
        buf.truncate(n);
        match decode_reply(&self.raw_from(node, buf)).unwrap().1 {
            Ok(Reply::Lock(info)) => Ok(info),
            Ok(other) => panic!("LOCK gave {other:?}"),
            Err(e) => Err(e),
        }
    }

    fn call(&self, c: &Creds, req: Request<'_>) -> Vec<u8> {
        let id = self.next.get();
        self.next.set(id + 1);
        let mut buf = vec![0u8; MAX_MSG];
        let n = req.encode(id, c, &mut buf).unwrap();
        buf.truncate(n);
        let out = self.raw(buf);
        let (h, _) = decode_reply(&out).unwrap();
        assert_eq!((h.op, h.id), (req.op(), id));
        out
    }

    fn errno(&self, c: &Creds, req: Request<'_>) -> u32 {
        let out = self.call(c, req);
        match decode_reply(&out).unwrap().1 {
            Err(e) => e,
            Ok(r) => panic!("{:?} succeeded: {r:?}", req.op()),
        }
    }

    fn entry(&self, c: &Creds, req: Request<'_>) -> (Fh, Attr) {
        match decode_reply(&self.call(c, req)).unwrap().1 {
            Ok(Reply::Entry { fh, attr }) => (fh, attr),
            other => panic!("op {} gave {other:?}", req.op()),
        }
    }

    fn attr(&self, c: &Creds, req: Request<'_>) -> Attr {
        match decode_reply(&self.call(c, req)).unwrap().1 {
            Ok(Reply::Attr(a)) | Ok(Reply::Written { attr: a, .. }) => a,
            other => panic!("op {} gave {other:?}", req.op()),
        }
    }

    fn done(&self, c: &Creds, req: Request<'_>) {
        match decode_reply(&self.call(c, req)).unwrap().1 {
            Ok(Reply::Done) => {}
            other => panic!("op {} gave {other:?}", req.op()),
        }
    }

    fn data(&self, c: &Creds, req: Request<'_>) -> Vec<u8> {
        match decode_reply(&self.call(c, req)).unwrap().1 {
            Ok(Reply::Data(d)) => d.to_vec(),
            other => panic!("op {} gave {other:?}", req.op()),
        }
    }

    /// Every name in a directory, paging with `max` bytes per READDIR.
    fn names(&self, c: &Creds, dir: Fh, max: u32) -> Vec<String> {
        let (mut names, mut cookie) = (Vec::new(), 0);
        for _ in 0..100 {
            let out = self.call(c, Request::ReadDir { dir, cookie, max });
            let Ok(Reply::Dirents { eof, data }) = decode_reply(&out).unwrap().1 else { panic!("readdir failed") };
            for d in dirents(data) {
                names.push(String::from_utf8_lossy(d.name).into_owned());
                cookie = d.cookie;
            }
            if eof {
                names.sort();
                return names;
            }
        }
        panic!("readdir never reached the end");
    }
}

const E: fn(i32) -> u32 = |e| e as u32;

#[test]
fn operations_run_by_handle_as_the_caller_with_exact_errnos() {
    let Some(w) = World::new() else { return };
    let (a, b, root) = (who(A), who(B), who(0));
    let (top, top_attr) = w.entry(&a, Request::GetRoot);
    assert_eq!(top_attr.mode & 0o7777, 0o700);

    // The top directory is root's 0700: A may not create in it, root may.
    assert_eq!(w.errno(&a, Request::Mkdir { dir: top, name: b"d", mode: 0o755 }), E(libc::EACCES));
    let (d, da) = w.entry(&root, Request::Mkdir { dir: top, name: b"d", mode: 0o755 });
    assert_eq!((da.mode & 0o7777, da.uid), (0o755, 0), "no umask applied twice");
    let set = SetAttr { mask: set::UID | set::GID, uid: A, gid: A, ..Default::default() };
    assert_eq!(w.attr(&root, Request::SetAttr { fh: d, attr: set }).uid, A);
    // A handle reaches d although A cannot search the top directory (as with NFS).
    assert_eq!(w.errno(&a, Request::Lookup { dir: top, name: b"d" }), E(libc::EACCES));

    let (f, fa) = w.entry(&a, Request::Mknod { dir: d, name: b"f", mode: libc::S_IFREG | 0o644, rdev_major: 0, rdev_minor: 0 });
    assert_eq!((fa.uid, fa.gid, fa.mode), (A, A, libc::S_IFREG | 0o644));
    assert_eq!(
        w.errno(&a, Request::Mknod { dir: d, name: b"f", mode: libc::S_IFREG | 0o644, rdev_major: 0, rdev_minor: 0 }),
        E(libc::EEXIST)
    );
    assert_eq!(w.errno(&a, Request::Lookup { dir: d, name: b"missing" }), E(libc::ENOENT));

    // Data: a short read at EOF; another user may read (0644) but not write.
    let wa = w.attr(&a, Request::Write { fh: f, offset: 0, sync: true, data: b"hello world" });
    assert_eq!(wa.size, 11);
    assert_eq!(w.data(&b, Request::Read { fh: f, offset: 6, len: 100 }), b"world");
    assert_eq!(w.errno(&b, Request::Write { fh: f, offset: 0, sync: false, data: b"x" }), E(libc::EACCES));
    assert_eq!(w.errno(&a, Request::Read { fh: d, offset: 0, len: 10 }), E(libc::EISDIR));
    w.done(&a, Request::Fsync { fh: f, datasync: true });

    // Directories: ENOTEMPTY, paging, rename, links.
    let (sub, _) = w.entry(&a, Request::Mkdir { dir: d, name: b"sub", mode: 0o700 });
    w.entry(&a, Request::Mknod { dir: sub, name: b"x", mode: libc::S_IFIFO | 0o600, rdev_major: 0, rdev_minor: 0 });
    assert_eq!(w.errno(&a, Request::Rmdir { dir: d, name: b"sub" }), E(libc::ENOTEMPTY));
    assert_eq!(w.errno(&b, Request::ReadDir { dir: sub, cookie: 0, max: 4096 }), E(libc::EACCES));
    for i in 0..40 {
        w.entry(&a, Request::Mknod { dir: d, name: format!("n{i:02}").as_bytes(), mode: libc::S_IFREG | 0o600, rdev_major: 0, rdev_minor: 0 });
    }
    let whole = w.names(&a, d, 16 * 1024);
    let paged = w.names(&a, d, 40);
    assert_eq!(whole, paged);
    assert_eq!(whole.len(), 2 + 2 + 40);
    assert!(whole.contains(&".".to_string()) && whole.contains(&"f".to_string()) && whole.contains(&"sub".to_string()));
    assert_eq!(w.errno(&a, Request::ReadDir { dir: d, cookie: 0, max: 5 }), E(libc::EINVAL));

    w.done(&a, Request::Rename { from_dir: d, from: b"f", to_dir: d, to: b"g", flags: 0 });
    assert_eq!(w.errno(&a, Request::Lookup { dir: d, name: b"f" }), E(libc::ENOENT));
    let (g, ga) = w.entry(&a, Request::Lookup { dir: d, name: b"g" });
    assert_eq!(ga.ino, fa.ino);
    let noreplace = 1; // RENAME_NOREPLACE
    assert_eq!(w.errno(&a, Request::Rename { from_dir: d, from: b"g", to_dir: d, to: b"sub", flags: noreplace }), E(libc::EEXIST));

    let (l, la) = w.entry(&a, Request::Symlink { dir: d, name: b"l", target: b"g" });
    assert_eq!(la.mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(w.data(&b, Request::ReadLink { fh: l }), b"g");
    assert_eq!(w.attr(&a, Request::Link { fh: g, dir: d, name: b"h" }).nlink, 2);
    assert_eq!(w.errno(&b, Request::Unlink { dir: d, name: b"g" }), E(libc::EACCES));
    w.done(&a, Request::Unlink { dir: d, name: b"g" });
    assert_eq!(w.attr(&b, Request::GetAttr { fh: g }).nlink, 1);

    // SETATTR: size and times by the owner; mode by someone else is EPERM.
    let t = Time { sec: 1_000_000, nsec: 5 };
    let s = SetAttr { mask: set::SIZE | set::MTIME | set::MTIME_SET | set::ATIME, size: 2, mtime: t, ..Default::default() };
    let after = w.attr(&a, Request::SetAttr { fh: g, attr: s });
    assert_eq!((after.size, after.mtime), (2, t));
    assert!(after.atime.sec > t.sec, "atime without ATIME_SET is now");
    let m = SetAttr { mask: set::MODE, mode: 0o666, ..Default::default() };
    assert_eq!(w.errno(&b, Request::SetAttr { fh: g, attr: m }), E(libc::EPERM));
    assert_eq!(w.attr(&a, Request::SetAttr { fh: g, attr: m }).mode & 0o7777, 0o666);

    match decode_reply(&w.call(&b, Request::StatFs { fh: d })).unwrap().1 {
        Ok(Reply::StatFs(s)) => assert!(s.bsize > 0 && s.namelen >= 255),
        other => panic!("statfs gave {other:?}"),
    }

    // A handle that names nothing, and a request that does not decode.
    let bogus = Fh::new(1, &[0xff; 8]).unwrap();
    assert!(w.errno(&a, Request::GetAttr { fh: bogus }) != 0);
    let mut bad = vec![0u8; MAX_MSG];
    let n = Request::GetAttr { fh: g }.encode(77, &a, &mut bad).unwrap();
    bad.truncate(n);
    bad[HEADER_LEN + 11] = 2; // a umask of 0o1000
    let out = w.raw(bad);
    assert_eq!(decode_reply(&out).unwrap(), (Header { op: op::GETATTR, is_reply: true, id: 77 }, Err(E(libc::EINVAL))));
}

#[test]
fn credentials_are_per_request_and_per_thread() {
    let Some(w) = World::new() else { return };
    // Many requests from two users interleaved across the workers: each runs as its caller.
    let (top, _) = w.entry(&who(0), Request::GetRoot);
    let m = SetAttr { mask: set::MODE, mode: 0o777, ..Default::default() };
    w.attr(&who(0), Request::SetAttr { fh: top, attr: m });
    for i in 0..64u32 {
        let uid = if i % 2 == 0 { A } else { B };
        let name = format!("f{i}");
        let (_, at) = w.entry(&who(uid), Request::Mknod { dir: top, name: name.as_bytes(), mode: libc::S_IFREG | 0o600, rdev_major: 0, rdev_minor: 0 });
        assert_eq!(at.uid, uid);
    }
    // This thread's own identity is untouched.
    assert_eq!(unsafe { libc::syscall(libc::SYS_setfsuid, u32::MAX) }, 0);
}

#[test]
fn locks_conflict_between_nodes_and_owners_and_go_with_their_node() {
    let Some(w) = World::new() else { return };
    let root = who(0);
    let (top, _) = w.entry(&root, Request::GetRoot);
    let (f, _) = w.entry(&root, Request::Mknod { dir: top, name: b"locked", mode: libc::S_IFREG | 0o644, rdev_major: 0, rdev_minor: 0 });
    let (fifo, _) = w.entry(&root, Request::Mknod { dir: top, name: b"fifo", mode: libc::S_IFIFO | 0o644, rdev_major: 0, rdev_minor: 0 });
    let posix = |owner, cmd, ty, start, end| LockReq { fh: f, owner, kind: lock::POSIX, cmd, ty, start, end };
    let flock = |owner, ty| LockReq { fh: f, owner, kind: lock::FLOCK, cmd: lock::SET, ty, start: 0, end: lock::EOF };
    let eagain = Err(E(libc::EAGAIN));

    // Node A owner 1 write-locks bytes 0..=9: B conflicts inside, not outside; the same owner
    // on another node is another owner.
    assert_eq!(w.lock(A, posix(1, lock::SET, lock::WRITE, 0, 9)).map(|i| i.ty), Ok(lock::WRITE));
    assert_eq!(w.lock(B, posix(1, lock::SET, lock::WRITE, 5, 5)), eagain);
    assert_eq!(w.lock(B, posix(1, lock::SET, lock::READ, 10, lock::EOF)).map(|i| i.start), Ok(10));
    assert_eq!(w.lock(A, posix(2, lock::SET, lock::READ, 9, 9)), eagain);
    // TEST names the conflict; an owner never conflicts with itself.
    let seen = w.lock(B, posix(7, lock::TEST, lock::READ, 0, lock::EOF)).unwrap();
    assert_eq!((seen.ty, seen.start, seen.end), (lock::WRITE, 0, 9));
    assert_eq!(w.lock(A, posix(1, lock::TEST, lock::WRITE, 0, 9)).map(|i| i.ty), Ok(lock::UNLOCK));
    assert_eq!(w.x.lock_files(), 2);

    // A partial unlock frees that part only; releasing the whole file closes the lock file.
    assert!(w.lock(A, posix(1, lock::SET, lock::UNLOCK, 5, 9)).is_ok());
    assert!(w.lock(B, posix(1, lock::SET, lock::WRITE, 5, 9)).is_ok());
    assert_eq!(w.lock(B, posix(1, lock::SET, lock::WRITE, 4, 4)), eagain);
    assert!(w.lock(A, posix(1, lock::SET, lock::UNLOCK, 0, lock::EOF)).is_ok());
    assert!(w.lock(B, posix(1, lock::SET, lock::WRITE, 0, 4)).is_ok());
    assert_eq!(w.x.lock_files(), 1);
    // Releasing what was never locked succeeds and opens nothing.
    assert!(w.lock(A, posix(9, lock::SET, lock::UNLOCK, 0, lock::EOF)).is_ok());
    assert_eq!(w.x.lock_files(), 1);

    // flock: shared with shared, exclusive with nothing; independent of fcntl locks.
    assert!(w.lock(A, flock(1, lock::READ)).is_ok());
    assert!(w.lock(B, flock(2, lock::READ)).is_ok());
    assert_eq!(w.lock(B, flock(3, lock::WRITE)), eagain);
    assert!(w.lock(B, flock(2, lock::UNLOCK)).is_ok());

    // Node B leaves the view: its locks go, node A's stay.
    w.x.view(|n| n == A);
    assert!(w.lock(A, posix(1, lock::SET, lock::WRITE, 0, 9)).is_ok());
    assert_eq!(w.lock(A, flock(4, lock::WRITE)), eagain, "A's own shared flock (owner 1) stays");
    w.x.view(|_| false);
    assert_eq!(w.x.lock_files(), 0);

    // Special files are not opened on the owner's behalf; a missing file is ESTALE.
    let on_fifo = LockReq { fh: fifo, ..posix(1, lock::SET, lock::READ, 0, 0) };
    assert_eq!(w.lock(A, on_fifo), Err(E(libc::EINVAL)));
    let gone = Fh::new(f.ty, &[0xff; 8]).unwrap();
    assert!(w.lock(A, LockReq { fh: gone, ..posix(1, lock::SET, lock::READ, 0, 0) }).is_err());
    assert_eq!(w.x.lock_files(), 0, "failed locks keep no file open");
}

#[test]
fn extended_attributes_run_as_the_caller() {
    let Some(w) = World::new() else { return };
    let (a, b, root) = (who(A), who(B), who(0));
    let (top, _) = w.entry(&root, Request::GetRoot);
    let set = SetAttr { mask: set::MODE, mode: 0o777, ..Default::default() };
    w.attr(&root, Request::SetAttr { fh: top, attr: set });
    let (f, _) = w.entry(&a, Request::Mknod { dir: top, name: b"x", mode: libc::S_IFREG | 0o644, rdev_major: 0, rdev_minor: 0 });

    w.done(&a, Request::SetXattr { fh: f, name: b"user.colour", flags: 0, value: b"blue\0green" });
    assert_eq!(w.data(&b, Request::GetXattr { fh: f, name: b"user.colour" }), b"blue\0green", "0644: others may read");
    assert_eq!(w.errno(&b, Request::SetXattr { fh: f, name: b"user.colour", flags: 0, value: b"red" }), E(libc::EACCES));
    assert_eq!(w.errno(&a, Request::SetXattr { fh: f, name: b"user.colour", flags: 1, value: b"red" }), E(libc::EEXIST));
    assert_eq!(w.errno(&a, Request::SetXattr { fh: f, name: b"user.new", flags: 2, value: b"red" }), E(libc::ENODATA));
    assert_eq!(w.errno(&a, Request::SetXattr { fh: f, name: b"user.x", flags: 4, value: b"red" }), E(libc::EINVAL));
    assert_eq!(w.errno(&a, Request::GetXattr { fh: f, name: b"user.missing" }), E(libc::ENODATA));
    w.done(&a, Request::SetXattr { fh: f, name: b"user.empty", flags: 0, value: b"" });
    let mut names: Vec<Vec<u8>> =
        w.data(&a, Request::ListXattr { fh: f }).split(|&c| c == 0).filter(|n| n.starts_with(b"user.")).map(<[u8]>::to_vec).collect();
    names.sort();
    assert_eq!(names, vec![b"user.colour".to_vec(), b"user.empty".to_vec()]);
    assert_eq!(w.data(&a, Request::GetXattr { fh: f, name: b"user.empty" }), b"");
    w.done(&a, Request::RemoveXattr { fh: f, name: b"user.colour" });
    assert_eq!(w.errno(&a, Request::RemoveXattr { fh: f, name: b"user.colour" }), E(libc::ENODATA));
    // trusted.* names are listed to root callers only.
    w.done(&root, Request::SetXattr { fh: f, name: b"trusted.t", flags: 0, value: b"1" });
    let has_trusted = |c: &Creds| w.data(c, Request::ListXattr { fh: f }).split(|&c| c == 0).any(|n| n == b"trusted.t");
    assert!(has_trusted(&root));
    assert!(!has_trusted(&a));
    // (trusted.* and security.* checks need the caller's capabilities, which the worker does
    // not take on: the member's kernel makes them, as the VFS does, before it asks.)
}

/// A POSIX ACL in the `system.posix_acl_*` xattr format: (tag, perm) entries, no named ones.
fn acl_xattr(entries: &[(u16, u16)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, perm) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&u32::MAX.to_le_bytes());
    }
    v
}

#[test]
fn new_inodes_take_the_callers_umask_unless_a_default_acl_decides() {
    let Some(w) = World::new() else { return };
    let root = who(0);
    let (top, _) = w.entry(&root, Request::GetRoot);
    let mkdir = |c: &Creds, name: &str| w.entry(c, Request::Mkdir { dir: top, name: name.as_bytes(), mode: 0o777 }).1.mode & 0o777;
    let file = |c: &Creds, dir: Fh, name: &str| {
        let req = Request::Mknod { dir, name: name.as_bytes(), mode: libc::S_IFREG | 0o666, rdev_major: 0, rdev_minor: 0 };
        w.entry(c, req).1.mode & 0o777
    };
    // Interleaved callers with different umasks, across the workers.
    for i in 0..16 {
        assert_eq!(mkdir(&root.with_umask(0o022), &format!("a{i}")), 0o755);
        assert_eq!(mkdir(&root.with_umask(0o077), &format!("b{i}")), 0o700);
        assert_eq!(mkdir(&root, &format!("c{i}")), 0o777);
    }
    // A directory whose default ACL gives the group and others r-x: its new files follow the
    // ACL (rw-r--r-- from 0666), whatever the caller's umask.
    let (d, _) = w.entry(&root, Request::Mkdir { dir: top, name: b"inherit", mode: 0o755 });
    let acl = acl_xattr(&[(0x01, 7), (0x04, 5), (0x20, 5)]);
    let out = w.call(&root, Request::SetXattr { fh: d, name: b"system.posix_acl_default", flags: 0, value: &acl });
    let set = decode_reply(&out).unwrap().1;
    if set == Err(libc::EOPNOTSUPP as u32) {
        eprintln!("skipped the default ACL part: /var/tmp has no POSIX ACLs");
        return;
    }
    assert_eq!(set, Ok(Reply::Done));
    assert_eq!(file(&root.with_umask(0o077), d, "f1"), 0o644);
    assert_eq!(file(&root.with_umask(0o000), d, "f2"), 0o644);
    assert_eq!(file(&root.with_umask(0o077), top, "plain"), 0o600);
}
