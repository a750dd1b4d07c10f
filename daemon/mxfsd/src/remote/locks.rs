//! Byte-range (fcntl) and flock locks of remote callers, held on the owner (LOCK requests).
//!
//! Every (node, lock owner, kind, file) gets an open file of its own on the owner's mount and
//! the lock is taken on that file: an OFD lock (`F_OFD_SETLK`) for fcntl locks, `flock(2)`
//! for flock. The owner's kernel then arbitrates between the owners of all nodes and the
//! owner's local processes exactly as between local ones, on the one XFS inode they share.
//!
//! Nothing here waits: a conflicting SET fails with EAGAIN at once and the member's kernel
//! retries while its caller sleeps in F_SETLKW (a worker blocked on a lock would stall every
//! other request). A file is closed, releasing what is left on it, when its owner releases the
//! whole file (which a member's kernel does when the process closes it) and, for all of a
//! node's files, when the node leaves the view.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mxfs_uapi::remote::{lock, LockInfo, LockReq};

use super::sys::{self, Errno};

/// Open lock files at most; a request that needs one more fails with ENOLCK.
pub const MAX_FILES: usize = 4096;

/// (node, lock owner, kind, handle type, handle bytes).
type Key = (u32, u64, u8, i32, Vec<u8>);

/// How long a new owner waits for reclaims: members elect again up to 45 s after a failover.
pub const GRACE: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct LockTable {
    files: Mutex<HashMap<Key, OwnedFd>>,
    /// End of the grace period, if one runs.
    grace: Mutex<Option<Instant>>,
}

fn key(node: u32, l: &LockReq) -> Key {
    (node, l.owner, l.kind, l.fh.ty, l.fh.as_bytes().to_vec())
}

impl LockTable {
    /// A table that refuses new locks for `grace` (a new owner's).
    pub fn with_grace(grace: Duration) -> LockTable {
        LockTable { grace: Mutex::new(Some(Instant::now() + grace)), ..Default::default() }
    }

    /// Ends the grace period (every node that could reclaim has).
    pub fn end_grace(&self) {
        self.grace_until(None);
    }

    fn in_grace(&self) -> bool {
        self.grace_until(Some(Instant::now()))
    }

    /// Whether the grace period runs at `now`; `None` (or a time past its end) ends it.
    fn grace_until(&self, now: Option<Instant>) -> bool {
        let mut g = self.grace.lock().unwrap_or_else(|p| p.into_inner());
        match (*g, now) {
            (Some(end), Some(now)) if now < end => true,
            (Some(_), _) => {
                *g = None;
                log::info!("lock grace period over: new locks are granted");
                false
            }
            (None, _) => false,
        }
    }

    /// Carries out `l` for `node` on the mount whose root is `mount`.
    pub fn apply(&self, mount: RawFd, node: u32, l: &LockReq) -> Result<LockInfo, Errno> {
        if l.cmd == lock::SET && l.ty != lock::UNLOCK && self.in_grace() {
            return Err(libc::EAGAIN as Errno);
        }
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(node, l);
        if l.cmd == lock::TEST {
            // Its own file, so the owner's own locks never count as conflicts.
            return match files.get(&k) {
                Some(f) => test(f.as_raw_fd(), l),
                None => test(open(mount, l)?.as_raw_fd(), l),
            };
        }
        if l.ty == lock::UNLOCK {
            let Some(f) = files.get(&k) else { return Ok(echo(l)) };
            set(f.as_raw_fd(), l)?;
            if l.kind == lock::FLOCK || l.releases_all() {
                files.remove(&k);
            }
            return Ok(echo(l));
        }
        let fresh = !files.contains_key(&k);
        if fresh && files.len() >= MAX_FILES {
            log::warn!("node {node:#010x}: lock refused with ENOLCK: {MAX_FILES} lock files are open");
            return Err(libc::ENOLCK as Errno);
        }
        let f = match files.entry(k.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(open(mount, l)?),
        };
        match set(f.as_raw_fd(), l) {
            Ok(()) => Ok(echo(l)),
            Err(e) => {
                if fresh {
                    files.remove(&k); // holds nothing
                }
                Err(e)
            }
        }
    }

    /// Closes the lock files of nodes `keep` rejects, releasing their locks; returns how many.
    pub fn retain_nodes(&self, keep: impl Fn(u32) -> bool) -> usize {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let before = files.len();
        files.retain(|k, _| keep(k.0));
        before - files.len()
    }

    /// Lock files open now.
    #[cfg(test)]
    pub fn open_files(&self) -> usize {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn echo(l: &LockReq) -> LockInfo {
    LockInfo { ty: l.ty, start: l.start, end: l.end, pid: 0 }
}

/// Opens the file for locking: read-write where allowed (a write lock needs it), else
/// read-only. Only regular files and directories: opening a device or fifo here would reach
/// the owner's device, not the caller's.
fn open(mount: RawFd, l: &LockReq) -> Result<OwnedFd, Errno> {
    let path = sys::open_by_handle(mount, &l.fh, libc::O_PATH)?;
    match sys::fstat(path.as_raw_fd())?.st_mode & libc::S_IFMT {
        libc::S_IFREG => sys::reopen(&path, libc::O_RDWR).or_else(|_| sys::reopen(&path, libc::O_RDONLY)),
        libc::S_IFDIR => sys::reopen(&path, libc::O_RDONLY | libc::O_DIRECTORY),
        _ => Err(libc::EINVAL as Errno),
    }
}

/// The `struct flock` of a byte range: `l_len` 0 means "to the end of the file".
fn flock_of(ty: u8, start: u64, end: u64) -> libc::flock {
    // SAFETY: an all-zero flock is valid (l_pid must be 0 for OFD commands).
    let mut f: libc::flock = unsafe { std::mem::zeroed() };
    f.l_type = match ty {
        lock::READ => libc::F_RDLCK,
        lock::WRITE => libc::F_WRLCK,
        _ => libc::F_UNLCK,
    } as libc::c_short;
    f.l_whence = libc::SEEK_SET as libc::c_short;
    f.l_start = start as libc::off_t;
    f.l_len = if end >= lock::EOF { 0 } else { (end - start + 1) as libc::off_t };
    f
}

fn fcntl_lock(fd: RawFd, cmd: libc::c_int, f: &mut libc::flock) -> Result<(), Errno> {
    // SAFETY: a valid descriptor and flock.
    match sys::check(|| unsafe { libc::fcntl(fd, cmd, f as *mut libc::flock) }) {
        Ok(_) => Ok(()),
        // POSIX allows either for a conflict; members see one errno.
        Err(e) if e == libc::EACCES as Errno => Err(libc::EAGAIN as Errno),
        Err(e) => Err(e),
    }
}

fn set(fd: RawFd, l: &LockReq) -> Result<(), Errno> {
    if l.kind == lock::POSIX {
        return fcntl_lock(fd, libc::F_OFD_SETLK, &mut flock_of(l.ty, l.start, l.end));
    }
    let op = match l.ty {
        lock::READ => libc::LOCK_SH | libc::LOCK_NB,
        lock::WRITE => libc::LOCK_EX | libc::LOCK_NB,
        _ => libc::LOCK_UN,
    };
    // SAFETY: a valid descriptor. A conflict is EWOULDBLOCK, which is EAGAIN.
    sys::check(|| unsafe { libc::flock(fd, op) }).map(|_| ())
}

fn test(fd: RawFd, l: &LockReq) -> Result<LockInfo, Errno> {
    let mut f = flock_of(l.ty, l.start, l.end);
    fcntl_lock(fd, libc::F_OFD_GETLK, &mut f)?;
    if f.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(LockInfo { ty: lock::UNLOCK, ..Default::default() });
    }
    let start = f.l_start.max(0) as u64;
    let end = if f.l_len <= 0 { lock::EOF } else { start.saturating_add(f.l_len as u64 - 1).min(lock::EOF) };
    let ty = if f.l_type == libc::F_WRLCK as libc::c_short { lock::WRITE } else { lock::READ };
    // OFD locks (other nodes' owners) report pid -1: unknown.
    Ok(LockInfo { ty, start, end, pid: f.l_pid.max(0) as u32 })
}
