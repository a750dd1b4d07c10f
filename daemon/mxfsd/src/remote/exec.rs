//! The owner's executor: a pool of worker threads that run remote requests on the owner's
//! mount. Each worker switches its own filesystem identity per request (see `sys`), so
//! requests from different callers run side by side.
//!
//! The mount is opened on the first request: the kernel of an owner mounts only after
//! DAEMON_READY, and members may ask before that has finished.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mxfs_uapi::genl::SUPER_MAGIC;
use mxfs_uapi::remote::{decode_request, Request};

use super::changes::changed_inodes;
use super::locks::LockTable;
use crate::cluster::cache::CacheClient;
use super::ops::{execute, Out};
use super::sys::{self, Errno, ThreadCreds};
use super::Responder;

/// Worker threads: requests block in I/O, so several run at once.
const WORKERS: usize = 8;
/// Requests queued for the workers before new ones are refused with EAGAIN.
const QUEUE: usize = 1024;
/// How long a request waits for the owner's mount to appear.
const MOUNT_WAIT: Duration = Duration::from_secs(10);

/// Where requests run: the owner's mxfs mount point (or, standalone, any directory).
///
/// The root is opened per request and closed after it: a descriptor kept open would make
/// the owner's own `umount` fail with EBUSY.
pub struct MountRoot {
    path: PathBuf,
    /// A mount the daemon holds itself (after a takeover): requests run on it directly.
    held: Option<OwnedFd>,
    /// Require `statfs.f_type == SUPER_MAGIC` (not for a standalone test directory).
    check_magic: bool,
    /// The mount has been seen: from then on a missing mount fails at once.
    seen: AtomicBool,
    waiting: Mutex<()>,
}

impl MountRoot {
    pub fn new(path: PathBuf, check_magic: bool) -> MountRoot {
        MountRoot { path, held: None, check_magic, seen: AtomicBool::new(false), waiting: Mutex::new(()) }
    }

    /// Requests run on `root`, a mount this daemon made; it is unmounted when the executor
    /// (the last holder) is dropped.
    pub fn held(root: OwnedFd, what: PathBuf) -> MountRoot {
        MountRoot { path: what, held: Some(root), check_magic: false, seen: AtomicBool::new(true), waiting: Mutex::new(()) }
    }

    /// The mount's root directory; before the mount was first seen, waits up to
    /// `MOUNT_WAIT` for it to appear.
    pub fn get(&self) -> Result<OwnedFd, Errno> {
        if let Some(fd) = &self.held {
            return fd.try_clone().map_err(|e| {
                log::warn!("remote operation refused with EIO: cannot duplicate the mount descriptor: {e}");
                libc::EIO as Errno
            });
        }
        if self.seen.load(Ordering::Relaxed) {
            // The mount was there and is gone: the owner is unmounting. The member sends the
            // request again to the next owner.
            return self.try_open().map_err(|why| {
                log::info!("remote operation refused, not serving: {why}");
                mxfs_uapi::remote::ERR_NOT_SERVING as Errno
            });
        }
        // One waiter polls; the others queue behind it.
        let _one = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let end = Instant::now() + MOUNT_WAIT;
        loop {
            let last = match self.try_open() {
                Ok(fd) => {
                    if !self.seen.swap(true, Ordering::Relaxed) {
                        log::info!("serving remote operations on {}", self.path.display());
                    }
                    return Ok(fd);
                }
                Err(why) => why,
            };
            if Instant::now() >= end {
                log::warn!("remote operation refused with EAGAIN: {last}");
                return Err(libc::EAGAIN as Errno);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn try_open(&self) -> Result<OwnedFd, String> {
        let path = self.path.as_os_str().as_encoded_bytes();
        let fd = sys::open_at(libc::AT_FDCWD, path, libc::O_RDONLY | libc::O_DIRECTORY)
            .map_err(|e| format!("cannot open {}: {}", self.path.display(), mxfs_nl::strerror(e as i32)))?;
        if self.check_magic {
            let st = sys::statfs(fd.as_raw_fd()).map_err(|e| format!("statfs {}: {}", self.path.display(), mxfs_nl::strerror(e as i32)))?;
            if st.f_type as u32 != SUPER_MAGIC {
                return Err(format!("{} is not (yet) an mxfs mount", self.path.display()));
            }
        }
        Ok(fd)
    }
}

/// The node id requests of this node's own kernel run as (real node ids are never 0).
pub const THIS_NODE: u32 = 0;

struct Job {
    msg: Vec<u8>,
    reply: Responder,
    /// The asking node: locks are held per node.
    from: u32,
}

pub struct Executor {
    tx: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    locks: Arc<LockTable>,
    /// Dropped last, by whoever drops the executor: a mount the root holds is then closed by
    /// that thread, not by an exiting worker (whose descriptors close only after a join).
    _root: Arc<MountRoot>,
}

impl Executor {
    /// `cache` takes the cache locks of the inodes each operation changes (none when the
    /// node runs the volume alone).
    pub fn start(root: MountRoot, cache: Option<CacheClient>) -> Result<Executor, String> {
        // Outside a request nothing may be masked: each worker sets the caller's umask for the
        // request it runs (`ThreadCreds`), on a filesystem context copied from this one.
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(0) };
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        // A mount the daemon holds is a takeover: the previous owner's grants are reclaimed first.
        let locks = Arc::new(if root.held.is_some() { LockTable::with_grace(super::locks::GRACE) } else { LockTable::default() });
        let root = Arc::new(root);
        let mut threads = Vec::new();
        for _ in 0..WORKERS {
            let (rx, root, locks, cache) = (rx.clone(), root.clone(), locks.clone(), cache.clone());
            let t = std::thread::Builder::new()
                .name("mxfsd-remote".into())
                .spawn(move || worker(&rx, &root, &locks, cache.as_ref()))
                .map_err(|e| format!("cannot start a remote-operation worker: {e}"))?;
            threads.push(t);
        }
        Ok(Executor { tx: Some(tx), threads, locks, _root: root })
    }

    /// Queues one request of this node's kernel.
    pub fn submit(&self, msg: Vec<u8>, reply: Responder) {
        self.submit_from(THIS_NODE, msg, reply)
    }

    /// Queues one request of node `from`; answers EAGAIN at once when the workers are that
    /// far behind.
    pub fn submit_from(&self, from: u32, msg: Vec<u8>, reply: Responder) {
        let Some(tx) = &self.tx else { return reply.fail(libc::EIO as Errno) };
        match tx.try_send(Job { msg, reply, from }) {
            Ok(()) => {}
            Err(TrySendError::Full(j)) => {
                log::warn!("remote operation queue full ({QUEUE}); answering EAGAIN");
                j.reply.fail(libc::EAGAIN as Errno);
            }
            Err(TrySendError::Disconnected(j)) => j.reply.fail(libc::EIO as Errno),
        }
    }
}

impl Executor {
    /// No other node can reclaim locks any more: new ones are granted from now on.
    pub fn end_grace(&self) {
        self.locks.end_grace();
    }

    /// The view changed: locks of nodes no longer in it are released.
    pub fn view(&self, in_view: impl Fn(u32) -> bool) {
        let n = self.locks.retain_nodes(|node| node == THIS_NODE || in_view(node));
        if n > 0 {
            log::info!("released the locks of departed nodes ({n} lock files)");
        }
    }

    /// Lock files held for remote callers.
    #[cfg(test)]
    pub fn lock_files(&self) -> usize {
        self.locks.open_files()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Workers finish what is queued (each job is answered), then see the channel close.
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>, root: &MountRoot, locks: &LockTable, cache: Option<&CacheClient>) {
    let me = ThreadCreds::new();
    loop {
        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(j) => j,
            Err(_) => return,
        };
        run(&me, root, locks, cache, job);
    }
}

fn run(me: &ThreadCreds, root: &MountRoot, locks: &LockTable, cache: Option<&CacheClient>, job: Job) {
    let (h, creds, req) = match decode_request(&job.msg) {
        Ok(r) => r,
        Err(e) => {
            log::warn!("remote request {} (op {}) refused with EINVAL: {e}", job.reply.id(), job.reply.op());
            return job.reply.fail(libc::EINVAL as Errno);
        }
    };
    let mount = match root.get() {
        Ok(m) => m,
        Err(e) => return job.reply.fail(e),
    };
    // Held until the reply is sent: no node caches what this operation changes meanwhile.
    let _ex = match cache.map(|c| (c, changed_inodes(mount.as_raw_fd(), &req))) {
        Some((c, inos)) if !inos.is_empty() => match c.ex(inos) {
            Ok(g) => Some(g),
            Err(e) => return job.reply.fail(e),
        },
        _ => None,
    };
    let result: Result<Out, Errno> = match req {
        // Locks run as the daemon: the caller's open already passed its access checks.
        Request::Lock(l) => locks.apply(mount.as_raw_fd(), job.from, &l).map(Out::Lock),
        _ => execute(mount.as_raw_fd(), me, &creds, &req),
    };
    if let Err(e) = &result {
        // Errors the caller caused (ENOENT, EACCES, ...) are routine; these point at the
        // volume or at us.
        if [libc::ESTALE, libc::EIO, libc::EBADF, libc::EUCLEAN].contains(&(*e as i32)) {
            log::warn!("remote op {} id {} for uid {}: {}", h.op, h.id, creds.uid, mxfs_nl::strerror(*e as i32));
        } else {
            log::debug!("remote op {} id {} for uid {}: errno {e}", h.op, h.id, creds.uid);
        }
    }
    job.reply.result(result.as_ref().map(|o| o.as_reply()).map_err(|e| *e));
}
