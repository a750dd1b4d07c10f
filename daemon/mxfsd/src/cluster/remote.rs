//! The engine's part in remote operations: routes requests by role and REMOTE_OP frames by
//! message kind. A member sends each request to the owner unchanged and keeps it, with its
//! responder, by request id until the owner's reply (sent back the same way) comes in; an
//! owner hands requests from peers to its executor and their replies back to the asking peer.
//!
//! When the owner's connection drops, requests that may be sent again (`remote::retry`) are
//! held, as are new ones, until the owner is back or a failover has found the next owner;
//! the others are answered EIO. Held requests are answered EIO after [`HOLD_LIMIT_MS`].
//!
//! A member also keeps the model of the locks the owner granted it (`remote::reclaim`) and,
//! when another node becomes the owner, takes them again there before anything held goes out.

use std::collections::HashMap;
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;

use mxfs_net::Mesh;
use mxfs_uapi::genl::role;
use mxfs_uapi::peer::msg_type;
use mxfs_uapi::remote::{decode_header, decode_reply, decode_request, lock, op, Creds, Header, Request, ERR_NOT_SERVING, MAX_MSG};

use super::engine::Event;
use crate::remote::exec::Executor;
use crate::remote::reclaim::HeldLocks;
use crate::remote::retry::{retry_safe, Durability};
use crate::remote::sys::Errno;
use crate::remote::{error_reply, Responder};

const EIO: Errno = libc::EIO as Errno;
/// How long a request may wait for an owner (a failover takes the dead threshold, the view
/// change and an XFS log recovery).
pub const HOLD_LIMIT_MS: u64 = 180_000;
/// Ids of requests this daemon makes itself (reclaims); the kernel's never get this high.
const OWN_IDS: u64 = 1 << 63;

pub enum RemoteEvent {
    /// A request from this node's kernel or a control client.
    Request { msg: Vec<u8>, reply: Responder },
    /// The executor's reply to peer `node`'s request.
    ToPeer { node: u32, msg: Vec<u8> },
    /// An election's outcome (at mount or after a failover); an owner brings its executor.
    Role { role: u32, owner: u32, executor: Option<Arc<Executor>> },
    /// The failover gave up: held and later requests fail with EIO.
    Abandon,
    /// Stop serving before the daemon gives up the volume: drops the executor (and with it a
    /// mount the daemon holds), then answers with the role the node had.
    Shutdown { done: Sender<Option<(u32, u32)>> },
}

struct InFlight {
    owner: u32,
    msg: Vec<u8>,
    reply: Responder,
}

struct Held {
    msg: Vec<u8>,
    reply: Responder,
    since: u64,
}

#[derive(Default)]
pub struct Router {
    role: Option<(u32, u32)>,
    executor: Option<Arc<Executor>>,
    /// Member side: request id -> the request, the owner it went to, its responder.
    pending: HashMap<u64, InFlight>,
    /// Requests waiting for an owner.
    held: Vec<Held>,
    durability: Durability,
    abandoned: bool,
    malformed: u64,
    /// Whether a failover can bring a next owner; without one nothing is held (EIO at once).
    can_fail_over: bool,
    /// Member side: the locks the owner granted this node.
    locks: HeldLocks,
    next_own_id: u64,
    /// Nodes in the current view besides this one.
    others_in_view: Option<usize>,
    /// The owner the view dropped, until the next election names one: nothing more goes to it,
    /// even while its connection (to a host that lost power) still looks open.
    gone: Option<u32>,
}

impl Router {
    pub fn new(can_fail_over: bool) -> Router {
        Router { can_fail_over, ..Default::default() }
    }

    /// Holds a request for the next owner, or answers EIO when there will be none.
    fn hold(&mut self, msg: Vec<u8>, reply: Responder, since: u64) {
        if self.can_fail_over {
            self.held.push(Held { msg, reply, since });
        } else {
            reply.fail(EIO);
        }
    }

    /// (role, owner node) once elected.
    pub fn role(&self) -> Option<(u32, u32)> {
        self.role
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    pub fn event(&mut self, ev: RemoteEvent, mesh: Option<&Mesh>, now: u64) {
        match ev {
            RemoteEvent::Request { msg, reply } => self.request(msg, reply, mesh, now),
            RemoteEvent::ToPeer { node, msg } => {
                if let Some(m) = mesh {
                    if m.send(node, msg_type::REMOTE_OP, msg).is_err() {
                        log::debug!("peer {node:#010x}: remote reply dropped: not connected");
                    }
                }
            }
            RemoteEvent::Role { role, owner, executor } => {
                // What is still in flight to another node (a gone owner whose connection never
                // closed) goes the way of a disconnection: held for this owner, or EIO.
                let mut stale: Vec<u32> =
                    self.pending.values().map(|p| p.owner).filter(|&n| n != owner || role == role::OWNER).collect();
                stale.dedup();
                for n in stale {
                    self.peer_down(n, now);
                }
                self.role = Some((role, owner));
                self.gone = None;
                if executor.is_some() {
                    self.executor = executor;
                    self.maybe_end_grace();
                }
                self.reclaim(mesh, now);
                self.release_held(mesh);
            }
            RemoteEvent::Abandon => {
                self.abandoned = true;
                for h in self.held.drain(..) {
                    h.reply.fail(EIO);
                }
            }
            RemoteEvent::Shutdown { done } => {
                self.executor = None;
                let _ = done.send(self.role);
            }
        }
    }

    fn request(&mut self, msg: Vec<u8>, reply: Responder, mesh: Option<&Mesh>, now: u64) {
        if self.abandoned {
            return reply.fail(EIO);
        }
        // The local record of an unlocked range is gone already: so is the range to reclaim.
        if reply.op() == op::LOCK {
            if let Ok((_, _, Request::Lock(l))) = decode_request(&msg) {
                if l.ty == lock::UNLOCK {
                    self.locks.granted(&l);
                }
            }
        }
        // Only an fsync can be owed an EIO: other requests are not decoded here.
        if reply.op() == op::FSYNC {
            if let Ok((_, _, req)) = decode_request(&msg) {
                if self.durability.fsync_fails(&req) {
                    log::warn!("fsync id {}: writes acknowledged by a dead owner were lost; EIO", reply.id());
                    return reply.fail(EIO);
                }
            }
        }
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
            Some((_, owner)) if self.gone == Some(owner) => self.hold(msg, reply, now),
            Some((_, owner)) => {
                if self.pending.contains_key(&reply.id()) {
                    log::warn!("remote request id {} is already in flight; the duplicate is refused with EINVAL", reply.id());
                    return reply.fail(libc::EINVAL as Errno);
                }
                match mesh.map(|m| m.send(owner, msg_type::REMOTE_OP, msg.clone())) {
                    Some(Ok(())) => {
                        self.pending.insert(reply.id(), InFlight { owner, msg, reply });
                    }
                    _ => {
                        log::debug!("remote op {} id {}: owner {owner:#010x} not connected", reply.op(), reply.id());
                        self.hold(msg, reply, now);
                    }
                }
            }
        }
    }

    /// Sends or executes what was held, now that there is an owner to take it.
    fn release_held(&mut self, mesh: Option<&Mesh>) {
        if self.held.is_empty() {
            return;
        }
        log::info!("resending {} held remote requests", self.held.len());
        for h in std::mem::take(&mut self.held) {
            self.request(h.msg, h.reply, mesh, h.since);
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
                Some(p) if p.owner == from => {
                    if let Some(p) = self.pending.remove(&h.id) {
                        match decode_reply(&payload) {
                            // Not carried out: wait for the next owner and send it again.
                            Ok((_, Err(ERR_NOT_SERVING))) => {
                                log::debug!("owner {from:#010x} no longer serves: request {} held", h.id);
                                self.hold(p.msg, p.reply, crate::clock::now_ms());
                                return;
                            }
                            Ok((_, Ok(_))) if Durability::tracks(h.op) => {
                                if let Ok((_, _, req)) = decode_request(&p.msg) {
                                    self.durability.answered(from, &req);
                                }
                            }
                            Ok((_, Ok(_))) if h.op == op::LOCK => {
                                if let Ok((_, _, Request::Lock(l))) = decode_request(&p.msg) {
                                    if l.ty != lock::UNLOCK {
                                        self.locks.granted(&l);
                                    }
                                }
                            }
                            _ => {}
                        }
                        p.reply.send(payload);
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
                x.submit_from(from, payload, Responder::new(h, sink));
            }
            _ => {
                log::info!("peer {from:#010x}: remote request {} to a node that does not serve the volume (any more)", h.id);
                if let Some(m) = mesh {
                    let _ = m.send(from, msg_type::REMOTE_OP, error_reply(h.op, h.id, ERR_NOT_SERVING as Errno));
                }
            }
        }
    }

    /// A new view with `others` nodes besides this one: an owner releases the locks of nodes
    /// that left it (their processes are gone or fenced).
    pub fn view(&mut self, others: usize, in_view: impl Fn(u32) -> bool) {
        self.others_in_view = Some(others);
        if let (Some((role::OWNER, _)), Some(x)) = (self.role, &self.executor) {
            x.view(in_view);
        }
        self.maybe_end_grace();
    }

    /// A new owner alone in the view has nobody to wait for: its grace period ends.
    fn maybe_end_grace(&self) {
        if let (Some((role::OWNER, _)), Some(x), Some(0)) = (self.role, &self.executor, self.others_in_view) {
            x.end_grace();
        }
    }

    /// Takes the locks the previous owner granted again from the current one.
    fn reclaim(&mut self, mesh: Option<&Mesh>, now: u64) {
        let reclaims = self.locks.reclaims();
        if reclaims.is_empty() {
            return;
        }
        log::info!("reclaiming {} locks from the owner", reclaims.len());
        for l in reclaims {
            let id = OWN_IDS | self.next_own_id;
            self.next_own_id += 1;
            let mut msg = vec![0u8; MAX_MSG];
            match Request::Lock(l).encode(id, &Creds::new(0, 0, &[]), &mut msg) {
                Ok(n) => msg.truncate(n),
                Err(e) => {
                    log::error!("cannot encode a lock reclaim: {e}");
                    continue;
                }
            }
            let sink = Box::new(move |reply: Vec<u8>| {
                if let Ok((_, Err(e))) = decode_reply(&reply) {
                    log::error!(
                        "lock reclaim failed ({}): bytes {}..={} of {:?} (owner {:#x}) no longer exclude other nodes",
                        mxfs_nl::strerror(e as i32), l.start, l.end, l.fh, l.owner
                    );
                }
            });
            self.request(msg, Responder::new(Header { op: op::LOCK, is_reply: false, id }, sink), mesh, now);
        }
    }

    /// The connection to `node` is gone: of what it owed us, the repeatable requests wait for
    /// an owner, the others are answered EIO.
    pub fn peer_down(&mut self, node: u32, now: u64) {
        let lost: Vec<u64> = self.pending.iter().filter(|(_, p)| p.owner == node).map(|(id, _)| *id).collect();
        if lost.is_empty() {
            return;
        }
        let mut failed = 0;
        for id in lost {
            let Some(p) = self.pending.remove(&id) else { continue };
            if retry_safe(p.reply.op()) && self.can_fail_over {
                self.hold(p.msg, p.reply, now);
            } else {
                failed += 1;
                p.reply.fail(EIO);
            }
        }
        log::warn!(
            "owner {node:#010x} disconnected: {} remote requests held for the next owner, {failed} answered EIO (not repeatable)",
            self.held.len()
        );
    }

    /// The owner is connected (again): what waited for it goes out.
    pub fn peer_up(&mut self, node: u32, mesh: Option<&Mesh>) {
        if self.role.is_some_and(|(r, o)| r == role::MEMBER && o == node) {
            self.release_held(mesh);
        }
    }

    /// The owner has been fenced out of the view: what only it held is lost.
    pub fn owner_gone(&mut self, owner: u32, now: u64) {
        self.gone = Some(owner);
        self.durability.owner_lost(owner);
        if self.durability.lost_files() > 0 {
            log::warn!("{} files had writes only the dead owner held; their next fsync fails with EIO", self.durability.lost_files());
        }
        self.peer_down(owner, now);
    }

    /// Answers EIO to requests held past [`HOLD_LIMIT_MS`].
    pub fn tick(&mut self, now: u64) {
        if self.held.iter().all(|h| now.saturating_sub(h.since) < HOLD_LIMIT_MS) {
            return;
        }
        let (expired, kept): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(|h| now.saturating_sub(h.since) >= HOLD_LIMIT_MS);
        self.held = kept;
        log::error!("{} remote requests found no owner within {} s; EIO", expired.len(), HOLD_LIMIT_MS / 1000);
        for h in expired {
            h.reply.fail(EIO);
        }
    }

    /// Daemon stop: answer everything still waiting, stop the executor.
    pub fn stop(&mut self) {
        for (_, p) in self.pending.drain() {
            p.reply.fail(EIO);
        }
        for h in self.held.drain(..) {
            h.reply.fail(EIO);
        }
        self.executor = None;
    }
}
