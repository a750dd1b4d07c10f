//! The lock-cache's clients of the engine (DESIGN §3): the kernel, which caches attributes and
//! directory entries under PR and changes inodes under EX, and the owner's executor, which takes
//! EX on the inodes each operation of a member changes.
//!
//! Both share the node-level lock of each inode with the other local users. The kernel keeps
//! its own users; the engine only remembers the mode the kernel holds, forwards blocking
//! callbacks to it and down-converts the node-level lock once the kernel (and every executor
//! use) let go. The executor's uses are counted like any local user's.

use std::sync::mpsc::{sync_channel, SyncSender};

use mxfs_cluster::view::ResName;
use mxfs_cluster::Mode;
use mxfs_uapi::remote::{cache, CacheLock, Creds, Request, MAX_MSG};

use super::engine::Event;
use crate::remote::sys::Errno;
use crate::remote::Responder;

/// Sends one encoded CACHE_BAST message to the kernel.
pub type KernelSink = Box<dyn Fn(&[u8]) + Send>;

pub enum CacheEvent {
    /// Where blocking callbacks for the kernel go (set once the kernel link is up).
    Kernel(KernelSink),
    /// The kernel asks for `mode` on `ino`; answered once granted.
    KernelLock { ino: u64, mode: Mode, reply: Responder },
    /// The kernel now holds `mode` (None: nothing) on `ino`.
    KernelDown { ino: u64, mode: Option<Mode> },
    /// The executor needs EX on `inos` (sorted, distinct) for one operation.
    ExecLock { inos: Vec<u64>, reply: SyncSender<Result<(), Errno>> },
    /// That operation is done.
    ExecUnlock { inos: Vec<u64> },
}

/// The resource of inode `ino`'s cache lock.
pub fn res_of(ino: u64) -> ResName {
    ResName::new(&cache::res_name(ino))
}

/// The inode of a cache lock's resource; `None` for any other resource.
pub fn ino_of(res: &ResName) -> Option<u64> {
    cache::parse_res(res.as_bytes())
}

pub fn mode_of_wire(m: u8) -> Option<Mode> {
    match m {
        cache::PR => Some(Mode::PR),
        cache::EX => Some(Mode::EX),
        _ => None,
    }
}

fn mode_to_wire(m: Mode) -> u8 {
    if m == Mode::EX || m == Mode::PW {
        cache::EX
    } else {
        cache::PR
    }
}

/// The CACHE_BAST message telling the kernel that `blocking` waits on `ino`.
pub fn bast_message(ino: u64, blocking: Mode) -> Vec<u8> {
    let req = Request::CacheBast(CacheLock { ino, mode: mode_to_wire(blocking) });
    let creds = Creds::new(0, 0, &[]);
    let mut buf = vec![0u8; MAX_MSG];
    let n = req.encode(0, &creds, &mut buf).expect("a CACHE_BAST message always encodes");
    buf.truncate(n);
    buf
}

/// The executor's handle on the engine's cache locks.
#[derive(Clone)]
pub struct CacheClient {
    tx: SyncSender<Event>,
}

/// EX held on some inodes for one operation; released on drop.
pub struct ExGuard {
    tx: SyncSender<Event>,
    inos: Vec<u64>,
}

impl CacheClient {
    pub fn new(tx: SyncSender<Event>) -> CacheClient {
        CacheClient { tx }
    }

    /// Waits until this node holds EX on every inode of `inos`. Fails (EIO) only when the
    /// cluster core stopped: this node may then no longer change the volume.
    pub fn ex(&self, mut inos: Vec<u64>) -> Result<ExGuard, Errno> {
        inos.sort_unstable();
        inos.dedup();
        let (reply, rx) = sync_channel(1);
        let eio = libc::EIO as Errno;
        self.tx.send(Event::Cache(CacheEvent::ExecLock { inos: inos.clone(), reply })).map_err(|_| eio)?;
        rx.recv().map_err(|_| eio)??;
        Ok(ExGuard { tx: self.tx.clone(), inos })
    }
}

impl Drop for ExGuard {
    fn drop(&mut self) {
        let inos = std::mem::take(&mut self.inos);
        let _ = self.tx.send(Event::Cache(CacheEvent::ExecUnlock { inos }));
    }
}

/// One executor operation waiting for its EX locks, taken one by one in inode order (every
/// operation takes them in that order, so two of them never wait on each other).
pub struct ExecWait {
    pub todo: Vec<u64>,
    pub held: Vec<u64>,
    pub reply: SyncSender<Result<(), Errno>>,
}
