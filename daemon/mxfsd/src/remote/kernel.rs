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

use super::exec::Executor;
use super::{request_header, Responder};
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
    pub fn submit(&self, msg: Vec<u8>, reply: Responder) {
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
