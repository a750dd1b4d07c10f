//! The kernel's side of remote operations: one thread receives REMOTE_REQUESTs on the
//! daemon's netlink socket and dispatches them (to the engine, which forwards them to the
//! owner or hands them to the executor); replies go out on the same socket from whichever
//! thread produces them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mxfs_nl::{Channel, Incoming};

use mxfs_uapi::remote::{decode_request, op, Reply, Request};

use super::exec::Executor;
use super::{request_header, Responder};
use crate::cluster::cache::{mode_of_wire, CacheEvent};
use crate::cluster::engine::Event;
use crate::cluster::remote::RemoteEvent;

/// Where requests go.
#[derive(Clone)]
pub enum Dispatch {
    /// Through the cluster engine, which knows the role.
    Engine(SyncSender<Event>),
    /// Single node: this node owns the volume and executes locally.
    Local(Arc<Executor>),
    /// Nothing can serve them (an owner without a mount point): EIO.
    Nowhere,
}

impl Dispatch {
    /// A cache lock message of the kernel: for the engine, never for the owner.
    fn cache(&self, msg: &[u8], reply: Responder) {
        let req = match decode_request(msg) {
            Ok((_, _, req)) => req,
            Err(e) => {
                log::warn!("netlink: cache lock message refused: {e}");
                return reply.fail(libc::EINVAL as u32);
            }
        };
        let ev = match req {
            Request::CacheLock(c) => match mode_of_wire(c.mode) {
                Some(mode) => CacheEvent::KernelLock { ino: c.ino, mode, reply },
                None => return reply.fail(libc::EINVAL as u32),
            },
            // Never answered: the kernel does not wait for it.
            Request::CacheDown(c) => {
                reply.discard();
                CacheEvent::KernelDown { ino: c.ino, mode: mode_of_wire(c.mode) }
            }
            _ => return reply.fail(libc::EINVAL as u32),
        };
        match (self, ev) {
            (Dispatch::Engine(tx), ev) => {
                let _ = tx.send(Event::Cache(ev));
            }
            // Alone on the volume nobody else caches: every lock is granted at once.
            (Dispatch::Local(_), CacheEvent::KernelLock { reply, .. }) => reply.result(Ok(Reply::Done)),
            (Dispatch::Nowhere, CacheEvent::KernelLock { reply, .. }) => reply.fail(libc::EIO as u32),
            _ => {}
        }
    }

    pub fn submit(&self, msg: Vec<u8>, reply: Responder) {
        if matches!(msg.first(), Some(&op::CACHE_LOCK) | Some(&op::CACHE_DOWN)) {
            return self.cache(&msg, reply);
        }
        match self {
            Dispatch::Engine(tx) => {
                // A stopped engine drops the event, and with it the responder, which answers EIO.
                let _ = tx.send(Event::Remote(RemoteEvent::Request { msg, reply }));
            }
            Dispatch::Local(x) => x.submit(msg, reply),
            Dispatch::Nowhere => reply.fail(libc::EIO as u32),
        }
    }
}

pub struct KernelLink {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KernelLink {
    pub fn start(ch: Arc<Channel>, dispatch: Dispatch) -> Result<KernelLink, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mxfsd-kernel".into())
            .spawn(move || serve(&ch, &dispatch, &st))
            .map_err(|e| format!("cannot start the netlink receive thread: {e}"))?;
        Ok(KernelLink { stop, thread: Some(thread) })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for KernelLink {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(ch: &Arc<Channel>, dispatch: &Dispatch, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let items = match ch.recv(Duration::from_millis(200)) {
            Ok(items) => items,
            Err(e) => {
                log::error!("netlink: {e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        for item in items {
            match item {
                Incoming::Request(msg) => {
                    let Some(h) = request_header(&msg, "kernel") else { continue };
                    let out = ch.clone();
                    let sink = Box::new(move |bytes: Vec<u8>| {
                        if let Err(e) = out.reply(&bytes) {
                            log::warn!("netlink: REMOTE_REPLY for request {} not sent: {e}", h.id);
                        }
                    });
                    dispatch.submit(msg, Responder::new(h, sink));
                }
                Incoming::Refused { errno } => {
                    log::warn!("netlink: the kernel refused a message from mxfsd: {}", mxfs_nl::strerror(errno))
                }
                Incoming::Overrun => {
                    log::error!("netlink: receive queue overflowed; the kernel dropped requests to this daemon")
                }
                Incoming::Malformed(why) => log::warn!("netlink: message from the kernel dropped: {why}"),
            }
        }
    }
}
