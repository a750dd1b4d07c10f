//! The engine's part in remote operations: routes requests by role and REMOTE_OP frames by
//! message kind. A member sends each request to the owner unchanged and keeps its responder
//! by request id until the owner's reply (sent back the same way) comes in; an owner hands
//! requests from peers to its executor and their replies back to the asking peer.
//!
//! A request whose owner is not connected, or whose owner's connection drops before it
//! answers, is answered EIO (retrying across an owner change comes with failover).

use std::collections::HashMap;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use mxfs_net::Mesh;
use mxfs_uapi::genl::role;
use mxfs_uapi::peer::msg_type;
use mxfs_uapi::remote::decode_header;

use super::engine::Event;
use crate::remote::exec::Executor;
use crate::remote::sys::Errno;
use crate::remote::{error_reply, Responder};

const EIO: Errno = libc::EIO as Errno;

pub enum RemoteEvent {
    /// A request from this node's kernel or a control client.
    Request { msg: Vec<u8>, reply: Responder },
    /// The executor's reply to peer `node`'s request.
    ToPeer { node: u32, msg: Vec<u8> },
    /// The election's outcome; an owner brings its executor.
    Role { role: u32, owner: u32, executor: Option<Arc<Executor>> },
}

#[derive(Default)]
pub struct Router {
    role: Option<(u32, u32)>,
    executor: Option<Arc<Executor>>,
    /// Member side: request id -> (owner it went to, the responder waiting for it).
    pending: HashMap<u64, (u32, Responder)>,
    malformed: u64,
}

impl Router {
    /// (role, owner node) once elected.
    pub fn role(&self) -> Option<(u32, u32)> {
        self.role
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    pub fn event(&mut self, ev: RemoteEvent, mesh: Option<&Mesh>) {
        match ev {
            RemoteEvent::Request { msg, reply } => self.request(msg, reply, mesh),
            RemoteEvent::ToPeer { node, msg } => {
                if let Some(m) = mesh {
                    if m.send(node, msg_type::REMOTE_OP, msg).is_err() {
                        log::debug!("peer {node:#010x}: remote reply dropped: not connected");
                    }
                }
            }
            RemoteEvent::Role { role, owner, executor } => {
                self.role = Some((role, owner));
                self.executor = executor;
            }
        }
    }

    fn request(&mut self, msg: Vec<u8>, reply: Responder, mesh: Option<&Mesh>) {
        match self.role {
            None => {
                log::debug!("remote op {} id {} before the election finished: EAGAIN", reply.op(), reply.id());
                reply.fail(libc::EAGAIN as Errno);
            }
            Some((role::OWNER, _)) => match &self.executor {
                Some(x) => x.submit(msg, reply),
                None => {
                    log::warn!("remote op {} id {}: this owner has no mount to serve (no --mountpoint); EIO", reply.op(), reply.id());
                    reply.fail(EIO);
                }
            },
            Some((_, owner)) => {
                if self.pending.contains_key(&reply.id()) {
                    log::warn!("remote request id {} is already in flight; the duplicate is refused with EINVAL", reply.id());
                    return reply.fail(libc::EINVAL as Errno);
                }
                let sent = mesh.map(|m| m.send(owner, msg_type::REMOTE_OP, msg));
                match sent {
                    Some(Ok(())) => {
                        self.pending.insert(reply.id(), (owner, reply));
                    }
                    _ => {
                        log::warn!("remote op {} id {}: owner {owner:#010x} is not connected; EIO", reply.op(), reply.id());
                        reply.fail(EIO);
                    }
                }
            }
        }
    }

    /// A REMOTE_OP frame from `from`. One that does not decode is the peer's protocol error:
    /// logged and dropped.
    pub fn frame(&mut self, from: u32, payload: Vec<u8>, mesh: Option<&Mesh>, engine: &SyncSender<Event>) {
        let h = match decode_header(&payload) {
            Ok(h) => h,
            Err(e) => {
                self.malformed += 1;
                if self.malformed <= 10 || self.malformed.is_power_of_two() {
                    log::warn!("peer {from:#010x}: malformed remote message dropped: {e}");
                }
                return;
            }
        };
        if h.is_reply {
            match self.pending.get(&h.id) {
                Some((owner, _)) if *owner == from => {
                    if let Some((_, r)) = self.pending.remove(&h.id) {
                        r.send(payload);
                    }
                }
                _ => log::debug!("peer {from:#010x}: reply to remote request {} that is not waiting; dropped", h.id),
            }
            return;
        }
        match (self.role, &self.executor) {
            (Some((role::OWNER, _)), Some(x)) => {
                let tx = engine.clone();
                let sink = Box::new(move |msg| {
                    let _ = tx.send(Event::Remote(RemoteEvent::ToPeer { node: from, msg }));
                });
                x.submit(payload, Responder::new(h, sink));
            }
            _ => {
                log::warn!("peer {from:#010x}: remote request {} sent to a node that does not serve the volume; EIO", h.id);
                if let Some(m) = mesh {
                    let _ = m.send(from, msg_type::REMOTE_OP, error_reply(h.op, h.id, EIO));
                }
            }
        }
    }

    /// The connection to `node` is gone: what it owed us is answered EIO.
    pub fn peer_down(&mut self, node: u32) {
        let lost: Vec<u64> = self.pending.iter().filter(|(_, (o, _))| *o == node).map(|(id, _)| *id).collect();
        if lost.is_empty() {
            return;
        }
        log::warn!("owner {node:#010x} disconnected with {} remote requests in flight; answering EIO", lost.len());
        for id in lost {
            if let Some((_, r)) = self.pending.remove(&id) {
                r.fail(EIO);
            }
        }
    }

    /// Daemon stop: answer everything still waiting, stop the executor.
    pub fn stop(&mut self) {
        for (_, (_, r)) in self.pending.drain() {
            r.fail(EIO);
        }
        self.executor = None;
    }
}
