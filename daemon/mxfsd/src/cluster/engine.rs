//! The engine thread: owns the `ClusterNode` state machine, feeds it ticks, peer frames, disk
//! heartbeat observations and local lock requests, and executes its outputs (frames to send,
//! disk writes, fencing steps, grants and blocking callbacks to local clients).
//!
//! Everything reaches the engine through one bounded channel ([`Event`]); every effect leaves
//! through the mesh, the disk thread or a client's reply channel. The engine itself never
//! blocks on I/O, so a slow disk or peer cannot stall lock traffic or ticks.
//!
//! Local clients share one node-level lock per resource, cached after unlock; a blocking
//! callback is honoured (down-convert to the strongest mode compatible with the waiter, or
//! release) as soon as no local user holds the lock. The control socket's clients and the
//! executor count as users; the kernel's lock-cache keeps its own users and is told of blocking
//! callbacks, which it answers with a down-convert (`cache.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use mxfs_cluster::dlm::ReqId;
use mxfs_cluster::membership::DiskSlot;
use mxfs_cluster::messages::{Body, Packet};
use mxfs_cluster::view::{NodeId, ResName, View, ViewId};
use mxfs_cluster::{ClusterNode, Input, Mode, Output, Timing};
use mxfs_disk::claim::Claim;
use mxfs_disk::identity::NodeIdentity;
use mxfs_net::{Mesh, NetEvent};
use mxfs_pr::PrStep;
use mxfs_uapi::clustermsg::ClaimWire;
use mxfs_uapi::ident::{fnv1a64, Hostname, UuidText};
use mxfs_uapi::lockstate::{LockGrant, ResourceName};
use mxfs_uapi::peer::msg_type;
use serde::Serialize;

use super::cache::{self, CacheEvent, ExecWait, KernelSink};
use super::disk::{DiskEvent, DiskReq, DiskThread, RecordSpace, SlotObs};
use super::pr::{Pr, PrEvent, WatchVerdict};
use super::remote::{RemoteEvent, Router};
use super::setup;
use super::wire;
use crate::clock;
use crate::remote::Responder;
use mxfs_uapi::remote::Reply;

/// A request from a local client; every one carries the channel its answer goes to.
pub enum CtlReq {
    Lock { client: u64, res: ResName, mode: Mode, reply: Sender<String> },
    Unlock { client: u64, res: ResName, reply: Sender<String> },
    Release { res: ResName, reply: Sender<String> },
    Status { reply: Sender<String> },
    Master { res: ResName, reply: Sender<String> },
    /// Node ids of the current view (empty without one).
    Members { reply: Sender<Vec<u32>> },
    /// The client disconnected: its locks are unlocked.
    Gone { client: u64 },
}

pub enum Event {
    Net(NetEvent),
    Disk(DiskEvent),
    Ctl(CtlReq),
    Pr(PrEvent),
    Remote(RemoteEvent),
    Cache(CacheEvent),
    Stop,
}

/// What the engine is given at start.
/// How long a member that did not fence the dead owner waits before it elects: longer than the
/// fencer's settle time after a plain PREEMPT, so the fencer normally wins.
const FOLLOW_DELAY: Duration = Duration::from_secs(45);

pub struct EngineParts {
    pub ident: NodeIdentity,
    pub incarnation: u64,
    pub hostname: Hostname,
    pub timing: Timing,
    pub mesh: Option<Mesh>,
    pub disk: Option<DiskThread>,
    pub claim: Option<Claim>,
    pub space: Option<RecordSpace>,
    pub persist_grants: bool,
    pub lockstate_path: String,
    /// The joined PR device; `None` when the volume has no SCSI PR.
    pub pr: Option<Pr>,
    /// The engine's own queue, for replies the executor sends back to peers.
    pub engine_tx: SyncSender<Event>,
    /// Serving a kernel mount: self-fencing ends the process, so that the kernel sees its
    /// daemon gone (an owner then shuts its XFS down, a member's calls fail).
    pub exit_on_self_fence: bool,
    /// Kernel mode with a lockstate: how a member elects again when its owner is fenced.
    pub failover: Option<Arc<super::failover::Failover>>,
}

struct Delivery {
    req: ReqId,
    res: ResName,
    mode: Mode,
    client: u64,
    reply: Sender<String>,
}

struct Pending {
    client: u64,
    reply: Sender<String>,
    res: ResName,
}

#[derive(Default)]
struct LocalRes {
    in_use: u32,
    bast: Option<Mode>,
    /// Lock record index and the mode last queued for it.
    record: Option<(u32, Option<Mode>)>,
    writes_inflight: u32,
    last_token: u64,
    /// The mode this node's kernel holds this inode's cache lock at (cache locks only).
    kernel: Option<Mode>,
    /// Cache lock requests of the kernel or the executor not granted yet.
    cache_waiting: u32,
}

#[derive(Serialize)]
struct ViewStatus {
    epoch: u64,
    coordinator: u32,
    members: Vec<u32>,
}

#[derive(Serialize)]
struct PeerStatus {
    node: u32,
    uuid: String,
    addr: String,
    hostname: String,
    connected: bool,
}

#[derive(Serialize)]
struct LockStatus {
    res: String,
    mode: String,
    in_use: u32,
}

#[derive(Serialize)]
struct Stamp {
    node: u32,
    at_ms: u64,
}

#[derive(Serialize)]
struct Status {
    node_id: u32,
    node_uuid: String,
    hostname: String,
    incarnation: u64,
    slot: Option<u32>,
    lockstate: Option<String>,
    now_ms: u64,
    view: Option<ViewStatus>,
    recovered: bool,
    lease_until_ms: u64,
    last_disk_ok_ms: Option<u64>,
    stopped: bool,
    self_fence: Option<String>,
    self_fence_at_ms: Option<u64>,
    peers: Vec<PeerStatus>,
    declared_dead: Vec<Stamp>,
    fenced: Vec<Stamp>,
    locks: Vec<LockStatus>,
    cached_grants: u64,
    requests_sent: u64,
    grants_by_master: u64,
    basts_sent: u64,
    recoveries: u64,
    records_written: u64,
    role: Option<&'static str>,
    owner: Option<u32>,
    remote_in_flight: usize,
    remote_held: usize,
    cache_kernel_grants: u64,
    cache_kernel_basts: u64,
    cache_exec_locks: u64,
}

pub struct Engine {
    node: ClusterNode,
    p: EngineParts,
    me: NodeId,
    tick: Duration,
    queue: VecDeque<Input>,
    /// Learned from heartbeats: slot -> (claim generation, nonce, incarnation).
    claims: HashMap<u32, (u64, [u8; 16], u64)>,
    locks: BTreeMap<ResName, LocalRes>,
    pending: HashMap<ReqId, Pending>,
    clients: HashMap<u64, HashMap<ResName, u32>>,
    waiting: HashMap<u64, (ResName, Vec<Delivery>)>,
    used_records: HashMap<u32, ResName>,
    next_req: ReqId,
    next_token: u64,
    view: Option<Arc<View>>,
    recovered: Option<ViewId>,
    lease_until: u64,
    last_disk_ok: Option<u64>,
    stopped: Option<(String, u64)>,
    dead: BTreeMap<u32, u64>,
    fenced: BTreeMap<u32, u64>,
    decode_errors: u64,
    records_written: u64,
    /// Victims whose PR preempt step is running on a worker.
    preempting: BTreeSet<u32>,
    /// Victim -> time before which its recovery must wait (after a plain PREEMPT).
    settle_until: BTreeMap<u32, u64>,
    /// Owner takeovers deferred until the victim's settle time.
    takeovers: Vec<(u64, NodeId)>,
    remote: Router,
    kernel_sink: Option<KernelSink>,
    /// Cache lock requests of the kernel and of the executor, by DLM request id.
    /// The kernel's requests with the time they came, for [`CACHE_WAIT_MS`].
    kernel_pending: HashMap<ReqId, (Responder, u64, ResName)>,
    exec_pending: HashMap<ReqId, ExecWait>,
    /// The kernel's PR requests waiting for the executor's uses of the inode to end: a member's
    /// cache must not be filled while this node is changing the inode.
    kernel_deferred: HashMap<ResName, Vec<Responder>>,
    /// The lease whose end made the kernel drop its caches.
    lease_dropped: u64,
    /// A node that announced it took the volume over (an OWNER message).
    announced_owner: Option<u32>,
    cache_kernel_grants: u64,
    cache_kernel_basts: u64,
    cache_exec_locks: u64,
}

fn res_text(r: &ResName) -> String {
    format!("{r:?}")
}

impl Engine {
    pub fn new(p: EngineParts) -> Engine {
        let can_fail_over = p.failover.is_some();
        let me = NodeId(p.ident.node_id.into());
        let now = clock::now_ms();
        let tick = Duration::from_millis(setup::tick_ms(&p.timing));
        let node = ClusterNode::new(p.timing.clone(), me, p.incarnation, now);
        Engine {
            node,
            p,
            me,
            tick,
            queue: VecDeque::new(),
            claims: HashMap::new(),
            locks: BTreeMap::new(),
            pending: HashMap::new(),
            clients: HashMap::new(),
            waiting: HashMap::new(),
            used_records: HashMap::new(),
            next_req: 1,
            next_token: 1,
            view: None,
            recovered: None,
            lease_until: 0,
            last_disk_ok: None,
            stopped: None,
            dead: BTreeMap::new(),
            fenced: BTreeMap::new(),
            decode_errors: 0,
            records_written: 0,
            preempting: BTreeSet::new(),
            settle_until: BTreeMap::new(),
            takeovers: Vec::new(),
            remote: Router::new(can_fail_over),
            kernel_sink: None,
            kernel_pending: HashMap::new(),
            exec_pending: HashMap::new(),
            kernel_deferred: HashMap::new(),
            lease_dropped: 0,
            announced_owner: None,
            cache_kernel_grants: 0,
            cache_kernel_basts: 0,
            cache_exec_locks: 0,
        }
    }

    /// Runs until `Event::Stop` (or every sender is gone), then leaves cleanly: releases every
    /// cached lock, lets the reliable channel deliver that for a moment, stops the mesh and
    /// frees our records and slot.
    pub fn run(mut self, rx: Receiver<Event>) {
        let mut next_tick = clock::now_ms();
        loop {
            let now = clock::now_ms();
            if now >= next_tick {
                next_tick = now + self.tick.as_millis() as u64;
                self.feed(Input::Tick);
                self.due_takeovers(now);
                self.remote.tick(now);
                self.cache_tick(now);
            }
            let wait = Duration::from_millis(next_tick.saturating_sub(clock::now_ms()));
            match rx.recv_timeout(wait) {
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(ev) => self.event(ev),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        self.leave(&rx);
    }

    fn leave(&mut self, rx: &Receiver<Event>) {
        self.remote.stop();
        if self.stopped.is_none() {
            let held: Vec<ResName> = self.node.dlm().held_locks().map(|(r, _)| r.clone()).collect();
            for r in held {
                self.down_convert(r, None);
            }
            let deadline = clock::now_ms() + 4 * self.p.timing.retransmit.max(100);
            while self.node.unacked() > 0 && clock::now_ms() < deadline {
                match rx.recv_timeout(self.tick) {
                    Ok(Event::Net(ev)) => self.net(ev),
                    Ok(Event::Disk(ev)) => self.disk(ev),
                    _ => {}
                }
                self.feed(Input::Tick);
            }
        }
        if let Some(pr) = &self.p.pr {
            pr.stop();
        }
        if let Some(mut m) = self.p.mesh.take() {
            m.shutdown();
        }
        if let Some(d) = self.p.disk.take() {
            let free = self.used_records.keys().copied().collect();
            // After a self-fence nothing may be written, not even the slot release.
            d.finish(self.stopped.is_none().then_some(free), Duration::from_secs(3));
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Net(e) => self.net(e),
            Event::Disk(e) => self.disk(e),
            Event::Ctl(c) => self.ctl(c),
            Event::Pr(e) => self.pr(e),
            Event::Remote(r) => {
                // The owner's side wins a 2-node partition (docs/cluster.md), so membership
                // must know who the owner is.
                if let RemoteEvent::Role { role, owner, executor } = &r {
                    if *role == mxfs_uapi::genl::role::OWNER && executor.is_some() {
                        self.announce_ownership();
                    }
                    let changed = self.remote.role().is_some_and(|(_, o)| o != *owner);
                    let owner = u64::from(*owner);
                    self.feed(Input::Owner((owner != 0).then_some(NodeId(owner))));
                    // What the kernel cached may include what the old owner never committed.
                    if changed {
                        self.drop_kernel_caches("the owner changed");
                    }
                }
                self.remote.event(r, self.p.mesh.as_ref(), clock::now_ms())
            }
            Event::Cache(c) => self.cache(c),
            Event::Stop => {}
        }
    }

    fn feed(&mut self, input: Input) {
        self.queue.push_back(input);
        while let Some(i) = self.queue.pop_front() {
            let now = clock::now_ms();
            let mut out = Vec::new();
            if let Err(e) = self.node.handle(now, i, &mut out) {
                log::warn!("local lock request refused by the DLM: {e:?}");
            }
            for o in out {
                self.exec(now, o);
            }
        }
    }

    fn claim_wire(&self) -> Option<ClaimWire> {
        self.p.claim.map(|c| ClaimWire { slot: c.slot, generation: c.generation, nonce: c.nonce })
    }

    fn exec(&mut self, now: u64, o: Output) {
        match o {
            Output::Send(Packet { to, body, .. }) => self.send(to, &body),
            Output::WriteDiskHeartbeat(slot) => {
                match &self.p.disk {
                    Some(d) => {
                        d.send(DiskReq::Heartbeat { counter: slot.counter });
                    }
                    None => self.queue.push_back(Input::DiskWritten { counter: slot.counter, ok: true }),
                }
                // The key watch runs with the disk heartbeat.
                if self.stopped.is_none() {
                    if let Some(pr) = &self.p.pr {
                        pr.poll();
                    }
                }
            }
            Output::Preempt { victim } => match &self.p.pr {
                Some(pr) => {
                    if self.preempting.insert(victim.0 as u32) {
                        log::warn!("fencing node {}: preempting its SCSI PR key on {}", hex(victim), pr.path());
                        pr.preempt(victim);
                    }
                }
                None => {
                    log::warn!(
                        "fencing node {}: no SCSI PR on {}; the preempt is a no-op and the node's own lease and self-fencing are the protection",
                        hex(victim),
                        self.p.lockstate_path
                    );
                    self.fenced.insert(victim.0 as u32, now);
                    self.queue.push_back(Input::FenceDone { victim, ok: true });
                }
            },
            Output::PurgeDiskLocks { victim } => {
                let sent = self.p.disk.as_ref().is_some_and(|d| d.send(DiskReq::Purge { victim: victim.0 as u32 }));
                if !sent {
                    self.queue.push_back(Input::DiskPurged { victim });
                }
            }
            Output::OwnerTakeover { victim } => match self.settle_until.get(&(victim.0 as u32)) {
                Some(&until) if until > now => {
                    log::warn!(
                        "node {} was the owner; waiting {} ms after the plain PREEMPT for commands it queued to settle before taking over",
                        hex(victim),
                        until - now
                    );
                    self.takeovers.push((until, victim));
                }
                _ => self.take_over(victim),
            },
            Output::DeclareDead(n) => {
                log::warn!("node {} is dead: no network round trip and no disk heartbeat", hex(n));
                self.dead.insert(n.0 as u32, now);
            }
            Output::Lease { until } => self.lease_until = until,
            Output::NewView(v) => {
                let members: Vec<String> = v.nodes().map(hex).collect();
                log::info!("view e{} (coordinator {}): members {}", v.id.epoch, hex(v.id.coordinator), members.join(" "));
                if let Some(m) = &self.p.mesh {
                    m.set_epoch(v.id.epoch);
                }
                // A member of the new view is alive again (a restarted node): forget its death.
                for n in v.nodes() {
                    self.dead.remove(&(n.0 as u32));
                    self.fenced.remove(&(n.0 as u32));
                }
                // The owner is fenced once a view leaves it out. The node that fenced it takes
                // over once its queued I/O has settled (`take_over`); the others elect later
                // and find that node as the new owner (or take over if it could not).
                let others = v.nodes().filter(|n| n.0 != u64::from(self.p.ident.node_id)).count();
                self.remote.view(others, |node| v.nodes().any(|n| n.0 == u64::from(node)));
                if let Some((mxfs_uapi::genl::role::MEMBER, owner)) = self.remote.role() {
                    if !v.nodes().any(|n| n.0 == u64::from(owner)) {
                        self.remote.owner_gone(owner, now);
                        if let Some(f) = &self.p.failover {
                            // Another node already serves: follow it now.
                            match self.announced_owner {
                                Some(a) if a != owner => f.start(owner),
                                _ => f.start_after(owner, FOLLOW_DELAY),
                            }
                        }
                    }
                }
                self.view = Some(v);
            }
            Output::RecoveryDone(id) => {
                log::info!("lock recovery done for view e{}", id.epoch);
                self.recovered = Some(id);
            }
            Output::SelfFence(why) => self.stop_all_io(format!("{why:?}"), now),
            Output::Grant { req, res, mode } => self.granted(req, res, mode),
            Output::Bast { res, blocking } => {
                let lr = self.locks.entry(res.clone()).or_default();
                lr.bast = Some(blocking);
                let kernel_blocks = lr.kernel.is_some_and(|k| !k.compatible(blocking));
                let idle = lr.in_use == 0;
                if kernel_blocks {
                    // The kernel writes back and invalidates, then answers with CACHE_DOWN.
                    self.kernel_bast(&res, blocking);
                } else if idle {
                    self.honour(res);
                }
            }
            Output::Fail { req, res, reason } => {
                if let Some(lr) = self.locks.get_mut(&res) {
                    if self.kernel_pending.contains_key(&req) || self.exec_pending.contains_key(&req) {
                        lr.cache_waiting = lr.cache_waiting.saturating_sub(1);
                    }
                }
                if let Some((reply, _, _)) = self.kernel_pending.remove(&req) {
                    log::warn!("cache lock {} for the kernel failed: {reason:?}", res_text(&res));
                    return reply.fail(libc::EIO as u32);
                }
                if let Some(w) = self.exec_pending.remove(&req) {
                    log::warn!("cache lock {} for a remote operation failed: {reason:?}", res_text(&res));
                    for ino in w.held {
                        self.unuse(&cache::res_of(ino));
                    }
                    let _ = w.reply.send(Err(libc::EIO as u32));
                    return;
                }
                if let Some(p) = self.pending.remove(&req) {
                    let _ = p.reply.send(format!("error {} failed: {reason:?}", res_text(&res)));
                }
            }
            Output::Lost { res } => {
                log::warn!("lock {} lost", res_text(&res));
                if self.locks.get(&res).is_some_and(|l| l.kernel.is_some()) {
                    self.kernel_bast(&res, Mode::EX);
                }
                self.record_mode(&res, None);
                if let Some(lr) = self.locks.get_mut(&res) {
                    lr.bast = None;
                }
            }
            Output::PeerError { from, error } => log::debug!("peer {}: DLM message dropped: {error:?}", hex(from)),
            Output::TransportError { from, error } => log::debug!("peer {}: DLM frame dropped: {error:?}", hex(from)),
        }
    }

    /// Self-fencing, and the PR key watch's StopAllIo: lock grants stop, lockstate writes end
    /// for good (not even the slot release at exit), every later local request fails.
    fn stop_all_io(&mut self, why: String, now: u64) {
        log::error!("self-fencing ({why}): all lock grants stop and lockstate writes end now");
        self.stopped = Some((why, now));
        if let Some(d) = &self.p.disk {
            d.send(DiskReq::StopWrites);
        }
        if self.p.exit_on_self_fence {
            log::error!("self-fenced: exiting so that mxfs.ko stops all I/O to the volume; unmount, then mount again to rejoin");
            std::process::exit(1);
        }
    }

    /// The fenced victim was the owner, and whatever it queued before a plain PREEMPT has
    /// settled: only now may this node mount the XFS.
    fn take_over(&mut self, victim: NodeId) {
        let Ok(v) = u32::try_from(victim.0) else { return };
        match (&self.p.failover, self.remote.role()) {
            (Some(f), Some((mxfs_uapi::genl::role::MEMBER, owner))) if owner == v => f.start(v),
            _ => log::info!("node {} was the owner; this node does not serve its mount, nothing to take over", hex(victim)),
        }
    }

    fn due_takeovers(&mut self, now: u64) {
        if self.takeovers.is_empty() {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = self.takeovers.drain(..).partition(|(at, _)| *at <= now);
        self.takeovers = later;
        for (_, victim) in due {
            self.take_over(victim);
        }
    }

    fn pr(&mut self, ev: PrEvent) {
        let now = clock::now_ms();
        match ev {
            PrEvent::Preempted { victim, step } => {
                self.preempting.remove(&(victim.0 as u32));
                let path = self.p.pr.as_ref().map_or("", |p| p.path()).to_string();
                match &step {
                    PrStep::Completed(report) => {
                        let settle = report.settle_before_recovery();
                        log::warn!(
                            "fencing node {}: SCSI PR {:?} on {path} (generation {}){}",
                            hex(victim),
                            report.outcome,
                            report.generation,
                            if settle.is_zero() {
                                String::new()
                            } else {
                                format!("; its recovery waits {} s for commands it queued before the preempt", settle.as_secs())
                            }
                        );
                        if !settle.is_zero() {
                            self.settle_until.insert(victim.0 as u32, now + settle.as_millis() as u64);
                        }
                        self.fenced.insert(victim.0 as u32, now);
                    }
                    PrStep::WeAreFenced => {
                        log::error!("fencing node {}: our own SCSI PR key is gone from {path}: this node is the fenced one", hex(victim));
                    }
                    PrStep::NoPr => {
                        log::warn!("fencing node {}: {path} reports no SCSI PR; the node's own lease and self-fencing are the protection", hex(victim));
                        self.fenced.insert(victim.0 as u32, now);
                    }
                    _ => {}
                }
                if let Some(input) = mxfs_pr::fence_done(victim, &step) {
                    self.feed(input);
                }
            }
            PrEvent::Polled { keys, reservation } => {
                let verdict = match self.p.pr.as_mut() {
                    Some(pr) => pr.polled(keys, reservation),
                    None => WatchVerdict::Nothing,
                };
                if let WatchVerdict::StopAllIo(why) = verdict {
                    self.stop_all_io(why, now);
                }
            }
        }
    }

    fn send(&mut self, to: NodeId, body: &Body) {
        let Some(mesh) = &self.p.mesh else { return };
        let Ok(node) = u32::try_from(to.0) else { return };
        match wire::encode(body, self.claim_wire()) {
            Ok((t, payload)) => {
                let _ = mesh.send(node, t, payload);
            }
            Err(e) => log::error!("cannot encode a message to {}: {e}", hex(to)),
        }
    }

    fn net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Up { node, .. } => {
                self.feed(Input::PeerDiscovered(NodeId(node.into())));
                self.remote.peer_up(node, self.p.mesh.as_ref());
            }
            NetEvent::Down { node } => {
                self.remote.peer_down(node, clock::now_ms());
                if self.remote.role() == Some((mxfs_uapi::genl::role::MEMBER, node)) {
                    if let Some(f) = &self.p.failover {
                        f.owner_disconnected(node);
                    }
                }
            }
            NetEvent::Frame { node, msg_type: msg_type::REMOTE_OP, payload } => {
                self.remote.frame(node, payload, self.p.mesh.as_ref(), &self.p.engine_tx)
            }
            NetEvent::Frame { node, msg_type: msg_type::OWNER, payload } => self.owner_announced(node, &payload),
            NetEvent::Frame { node, msg_type: t, payload } => {
                let from = NodeId(node.into());
                let body = match t {
                    msg_type::MEMBERSHIP => wire::decode_heartbeat(&payload).map(|(hb, claim)| {
                        if let Some(c) = claim {
                            self.claims.insert(c.slot, (c.generation, c.nonce, hb.incarnation));
                        }
                        Body::Heartbeat(hb)
                    }),
                    msg_type::DLM => wire::decode_dlm(&payload).map(Body::Dlm),
                    other => {
                        log::debug!("peer {}: ignoring message type {other}", hex(from));
                        return;
                    }
                };
                match body {
                    Ok(body) => self.feed(Input::Packet(Packet { from, to: self.me, body })),
                    Err(e) => {
                        self.decode_errors += 1;
                        if self.decode_errors <= 10 || self.decode_errors.is_power_of_two() {
                            log::warn!("peer {}: malformed message dropped: {e}", hex(from));
                        }
                    }
                }
            }
        }
    }

    fn disk(&mut self, ev: DiskEvent) {
        match ev {
            DiskEvent::Written { counter, ok, at } => {
                if ok {
                    self.last_disk_ok = Some(at);
                }
                self.feed(Input::DiskWritten { counter, ok });
            }
            DiskEvent::Observed(obs) => {
                for o in obs {
                    self.observe(o);
                }
            }
            DiskEvent::Recorded { token, ok } => {
                self.records_written += 1;
                let Some((res, deliveries)) = self.waiting.remove(&token) else {
                    if !ok {
                        log::error!("lockstate: a lock record write failed");
                    }
                    self.record_done(None);
                    return;
                };
                self.record_done(Some(&res));
                for d in deliveries {
                    if ok {
                        self.deliver(d);
                    } else {
                        let _ = d.reply.send(format!("error {} cannot persist the grant's lock record", res_text(&d.res)));
                        self.drop_use(d.client, &d.res, false);
                    }
                }
            }
            DiskEvent::Purged { victim, freed } => {
                log::info!("lockstate: purged {freed} lock records of node {victim:#010x}");
                self.feed(Input::DiskPurged { victim: NodeId(victim.into()) });
            }
        }
    }

    fn record_done(&mut self, res: Option<&ResName>) {
        if let Some(lr) = res.and_then(|r| self.locks.get_mut(r)) {
            lr.writes_inflight = lr.writes_inflight.saturating_sub(1);
        }
    }

    fn observe(&mut self, o: SlotObs) {
        if o.node_id == self.p.ident.node_id && o.uuid != self.p.ident.uuid {
            log::error!(
                "live node {} in heartbeat slot {} has our node id {:#010x}; delete /etc/mxfs/node.uuid on one host",
                UuidText(&o.uuid),
                o.index,
                o.node_id
            );
            return;
        }
        // A slot's writer is known once a heartbeat named its claim; until then the claim
        // generation stands in (it is far below any real incarnation, so it never matches one).
        let incarnation = match self.claims.get(&o.index) {
            Some((g, n, inc)) if *g == o.generation && *n == o.nonce => *inc,
            _ => o.generation,
        };
        self.feed(Input::DiskObserved {
            node: NodeId(o.node_id.into()),
            slot: DiskSlot { incarnation, counter: o.sequence, epoch: 0 },
        });
    }

    // ---- local clients -------------------------------------------------------------------

    fn ctl(&mut self, c: CtlReq) {
        match c {
            CtlReq::Lock { client, res, mode, reply } => {
                if let Some((why, _)) = &self.stopped {
                    let _ = reply.send(format!("error stopped: self-fenced ({why})"));
                    return;
                }
                let req = self.next_req;
                self.next_req += 1;
                self.pending.insert(req, Pending { client, reply, res: res.clone() });
                self.feed(Input::Lock { req, res, mode });
            }
            CtlReq::Unlock { client, res, reply } => {
                let held = self.clients.get(&client).and_then(|m| m.get(&res)).copied().unwrap_or(0);
                if held == 0 {
                    let _ = reply.send(format!("error {} is not held by this client", res_text(&res)));
                    return;
                }
                self.drop_use(client, &res, true);
                let _ = reply.send("ok".into());
            }
            CtlReq::Release { res, reply } => {
                let in_use = self.locks.get(&res).map_or(0, |l| l.in_use);
                if in_use > 0 {
                    let _ = reply.send(format!("error {} is in use", res_text(&res)));
                } else if self.node.dlm().held(&res).is_some() {
                    self.down_convert(res, None);
                    let _ = reply.send("ok".into());
                } else {
                    let _ = reply.send("ok".into());
                }
            }
            CtlReq::Status { reply } => {
                let _ = reply.send(self.status());
            }
            CtlReq::Master { res, reply } => {
                let m = self.view.as_ref().and_then(|v| v.master_of(&res));
                let _ = reply.send(match m {
                    Some(n) => format!("master {:#010x}", n.0),
                    None => "error no view yet".into(),
                });
            }
            CtlReq::Members { reply } => {
                let _ = reply.send(self.view.as_ref().map(|v| v.nodes().map(|n| n.0 as u32).collect()).unwrap_or_default());
            }
            CtlReq::Gone { client } => {
                if let Some(held) = self.clients.remove(&client) {
                    for (res, n) in held {
                        for _ in 0..n {
                            self.unuse(&res);
                        }
                    }
                }
            }
        }
    }

    fn granted(&mut self, req: ReqId, res: ResName, mode: Mode) {
        if let Some((reply, _, _)) = self.kernel_pending.remove(&req) {
            // The kernel keeps its own users: the DLM use ends at once, the lock stays cached.
            self.cache_kernel_grants += 1;
            let lr = self.locks.entry(res.clone()).or_default();
            lr.kernel = Some(mode);
            lr.cache_waiting = lr.cache_waiting.saturating_sub(1);
            reply.result(Ok(Reply::Done));
            self.feed(Input::Unlock { res });
            return;
        }
        if let Some(mut w) = self.exec_pending.remove(&req) {
            let lr = self.locks.entry(res.clone()).or_default();
            lr.in_use += 1;
            lr.cache_waiting = lr.cache_waiting.saturating_sub(1);
            if let Some(ino) = cache::ino_of(&res) {
                w.held.push(ino);
            }
            self.exec_next(w);
            return;
        }
        let Some(p) = self.pending.remove(&req) else {
            // Nobody asked (a client model bug); give the use straight back.
            self.feed(Input::Unlock { res });
            return;
        };
        let d = Delivery { req, res: res.clone(), mode, client: p.client, reply: p.reply };
        debug_assert_eq!(p.res, res);
        let persisting = self.persisting();
        let lr = self.locks.entry(res.clone()).or_default();
        lr.in_use += 1;
        let (recorded_mode, inflight, last_token) = (lr.record.map(|(_, m)| m), lr.writes_inflight, lr.last_token);
        *self.clients.entry(d.client).or_default().entry(res.clone()).or_default() += 1;
        if !persisting {
            self.deliver(d);
            return;
        }
        let recorded = recorded_mode == Some(Some(mode));
        if recorded && inflight == 0 {
            self.deliver(d);
            return;
        }
        if recorded {
            let token = last_token;
            if let Some(w) = self.waiting.get_mut(&token) {
                w.1.push(d);
                return;
            }
            self.deliver(d);
            return;
        }
        match self.write_record(&res, Some(mode)) {
            Some(token) => {
                self.waiting.insert(token, (res, vec![d]));
            }
            None => {
                let _ = d.reply.send(format!(
                    "error {} cannot be recorded: this node's lock record space is full",
                    res_text(&d.res)
                ));
                self.drop_use(d.client, &d.res, false);
                self.down_convert(d.res, None);
            }
        }
    }

    fn persisting(&self) -> bool {
        self.p.persist_grants && self.p.disk.is_some() && self.p.claim.is_some()
    }

    /// Queues a write of `res`'s lock record at `mode` (None frees it). Returns the token.
    fn write_record(&mut self, res: &ResName, mode: Option<Mode>) -> Option<u64> {
        let (claim, space) = (self.p.claim?, self.p.space.as_ref()?);
        let lr = self.locks.entry(res.clone()).or_default();
        let index = match lr.record {
            Some((i, _)) => i,
            None => {
                mode?;
                let home = space.home(fnv1a64(res.as_bytes()));
                let mut found = None;
                for k in 0..space.count {
                    let i = space.first + (home - space.first + k) % space.count;
                    if !self.used_records.contains_key(&i) {
                        found = Some(i);
                        break;
                    }
                }
                let i = found?;
                self.used_records.insert(i, res.clone());
                i
            }
        };
        let grant = match mode {
            Some(m) => Some(LockGrant {
                resource: ResourceName::new(res.as_bytes()).ok()?,
                mode: wire::mode_to_wire(m),
                holder_node_id: self.p.ident.node_id,
                holder_slot: claim.slot,
                holder_generation: claim.generation,
            }),
            None => None,
        };
        let token = self.next_token;
        self.next_token += 1;
        let sent = self.p.disk.as_ref().is_some_and(|d| d.send(DiskReq::Record { token, index, grant: grant.map(Box::new) }));
        let lr = self.locks.entry(res.clone()).or_default();
        if mode.is_none() {
            lr.record = None;
            self.used_records.remove(&index);
        } else {
            lr.record = Some((index, mode));
        }
        if !sent {
            return None;
        }
        let lr = self.locks.entry(res.clone()).or_default();
        lr.writes_inflight += 1;
        lr.last_token = token;
        Some(token)
    }

    /// Keeps the disk record in step with a mode change of the node-level lock.
    fn record_mode(&mut self, res: &ResName, mode: Option<Mode>) {
        if !self.persisting() {
            return;
        }
        let has = self.locks.get(res).and_then(|l| l.record);
        if let Some((_, m)) = has {
            if m != mode {
                let _ = self.write_record(res, mode);
            }
        }
    }

    fn deliver(&mut self, d: Delivery) {
        let line = format!("granted {} {}", res_text(&d.res), d.mode);
        if d.reply.send(line).is_err() {
            // The client went away while waiting: give the use straight back.
            self.drop_use(d.client, &d.res, true);
        }
        let _ = d.req;
    }

    /// One use of `res` by `client` ends.
    fn drop_use(&mut self, client: u64, res: &ResName, _granted: bool) {
        if let Some(m) = self.clients.get_mut(&client) {
            if let Some(n) = m.get_mut(res) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(res);
                }
            }
        }
        self.unuse(res);
    }

    fn unuse(&mut self, res: &ResName) {
        let Some(lr) = self.locks.get_mut(res) else { return };
        lr.in_use = lr.in_use.saturating_sub(1);
        let idle = lr.in_use == 0;
        let honour = idle && lr.bast.is_some_and(|b| lr.kernel.is_none_or(|k| k.compatible(b)));
        self.feed(Input::Unlock { res: res.clone() });
        if honour {
            self.honour(res.clone());
        }
        if idle {
            for reply in self.kernel_deferred.remove(res).unwrap_or_default() {
                self.kernel_lock(res.clone(), Mode::PR, reply);
            }
        }
    }

    /// Honours a blocking callback now that no local user holds the lock.
    fn honour(&mut self, res: ResName) {
        let Some(blocking) = self.locks.get(&res).and_then(|l| l.bast) else { return };
        let waiting_here = self.pending.values().any(|p| p.res == res);
        let Some(held) = self.node.dlm().held(&res) else {
            // The callback overtook the grant it is about: keep it for after that use.
            if !waiting_here {
                if let Some(lr) = self.locks.get_mut(&res) {
                    lr.bast = None;
                }
            }
            return;
        };
        if let Some(lr) = self.locks.get_mut(&res) {
            lr.bast = None;
        }
        if held.compatible(blocking) {
            return;
        }
        let target = held.strongest_compatible_below(blocking);
        self.down_convert(res, (target != Mode::NL).then_some(target));
    }

    fn down_convert(&mut self, res: ResName, mode: Option<Mode>) {
        self.feed(Input::DownConvert { res: res.clone(), mode });
        self.record_mode(&res, mode);
        if mode.is_none() {
            if let Some(lr) = self.locks.get(&res) {
                if lr.in_use == 0 && lr.record.is_none() && lr.writes_inflight == 0 && lr.bast.is_none() {
                    self.locks.remove(&res);
                }
            }
        }
    }

    fn status(&self) -> String {
        let mesh_known = self.p.mesh.as_ref().map(|m| m.known()).unwrap_or_default();
        let stats = self.node.dlm().stats();
        let s = Status {
            node_id: self.p.ident.node_id,
            node_uuid: UuidText(&self.p.ident.uuid).to_string(),
            hostname: self.p.hostname.to_string(),
            incarnation: self.p.incarnation,
            slot: self.p.claim.map(|c| c.slot),
            lockstate: self.p.disk.as_ref().map(|_| self.p.lockstate_path.clone()),
            now_ms: clock::now_ms(),
            view: self.view.as_ref().map(|v| ViewStatus {
                epoch: v.id.epoch,
                coordinator: v.id.coordinator.0 as u32,
                members: v.nodes().map(|n| n.0 as u32).collect(),
            }),
            recovered: self.view.as_ref().is_some_and(|v| self.recovered == Some(v.id)),
            lease_until_ms: self.lease_until,
            last_disk_ok_ms: self.last_disk_ok,
            stopped: self.stopped.is_some(),
            self_fence: self.stopped.as_ref().map(|s| s.0.clone()),
            self_fence_at_ms: self.stopped.as_ref().map(|s| s.1),
            peers: mesh_known
                .into_iter()
                .map(|(node, uuid, addr, host, connected)| PeerStatus {
                    node,
                    uuid: UuidText(&uuid).to_string(),
                    addr: addr.to_string(),
                    hostname: host.to_string(),
                    connected,
                })
                .collect(),
            declared_dead: self.dead.iter().map(|(n, t)| Stamp { node: *n, at_ms: *t }).collect(),
            fenced: self.fenced.iter().map(|(n, t)| Stamp { node: *n, at_ms: *t }).collect(),
            locks: self
                .node
                .dlm()
                .held_locks()
                .map(|(r, m)| LockStatus {
                    res: res_text(r),
                    mode: m.to_string(),
                    in_use: self.locks.get(r).map_or(0, |l| l.in_use),
                })
                .collect(),
            cached_grants: stats.cached_grants,
            cache_kernel_grants: self.cache_kernel_grants,
            cache_kernel_basts: self.cache_kernel_basts,
            cache_exec_locks: self.cache_exec_locks,
            requests_sent: stats.requests_sent,
            grants_by_master: stats.grants_by_master,
            basts_sent: stats.basts_sent,
            recoveries: stats.recoveries,
            records_written: self.records_written,
            role: self.remote.role().map(|(r, _)| mxfs_uapi::genl::role::name(r)),
            owner: self.remote.role().map(|(_, o)| o),
            remote_in_flight: self.remote.in_flight(),
            remote_held: self.remote.held(),
        };
        match serde_json::to_string(&s) {
            Ok(j) => format!("status {j}"),
            Err(e) => format!("error {e}"),
        }
    }
}

/// How long the kernel waits for a cache lock before it gets EIO, as a remote request waits
/// for an owner: the cluster cannot grant it (no quorum, no lease).
const CACHE_WAIT_MS: u64 = 180_000;

/// Idle cache locks of the executor kept cached before the tick releases them.
const IDLE_CACHE_LOCKS: usize = 4096;

impl Engine {
    // ---- the lock-cache's clients (cluster/cache.rs) ---------------------------------------

    fn cache(&mut self, ev: CacheEvent) {
        match ev {
            CacheEvent::Kernel(sink) => self.kernel_sink = Some(sink),
            CacheEvent::KernelLock { ino, mode, reply } => {
                if self.stopped.is_some() {
                    return reply.fail(libc::EIO as u32);
                }
                let res = cache::res_of(ino);
                if mode == Mode::PR && self.locks.get(&res).is_some_and(|l| l.in_use > 0) {
                    self.kernel_deferred.entry(res).or_default().push(reply);
                    return;
                }
                self.kernel_lock(res, mode, reply);
            }
            CacheEvent::KernelDown { ino, mode } => {
                let res = cache::res_of(ino);
                let Some(lr) = self.locks.get_mut(&res) else { return };
                lr.kernel = mode;
                if lr.in_use > 0 {
                    return;
                }
                match lr.bast {
                    Some(b) if mode.is_none_or(|k| k.compatible(b)) => self.honour(res),
                    Some(_) => {}
                    // The kernel let go of its own accord (the inode left its memory), and no
                    // request for the lock waits.
                    None if mode.is_none() && lr.cache_waiting == 0 && self.node.dlm().held(&res).is_some() => {
                        self.down_convert(res, None)
                    }
                    None => {}
                }
            }
            CacheEvent::ExecLock { inos, reply } => {
                if self.stopped.is_some() {
                    let _ = reply.send(Err(libc::EIO as u32));
                    return;
                }
                self.cache_exec_locks += 1;
                self.exec_next(ExecWait { todo: inos, held: Vec::new(), reply });
            }
            CacheEvent::ExecUnlock { inos } => {
                for ino in inos {
                    self.unuse(&cache::res_of(ino));
                }
            }
        }
    }

    // ---- owner announcements ---------------------------------------------------------------

    /// This node serves the volume now: members that wait to follow a gone owner need not wait
    /// out the follow delay.
    fn announce_ownership(&mut self) {
        let (Some(mesh), Some(view)) = (self.p.mesh.as_ref(), self.view.as_ref()) else { return };
        let me = self.p.ident.node_id;
        for n in view.nodes().filter(|n| n.0 != u64::from(me)) {
            if mesh.send(n.0 as u32, msg_type::OWNER, me.to_le_bytes().to_vec()).is_err() {
                log::debug!("OWNER announcement to {} not sent", hex(n));
            }
        }
    }

    /// Node `from` says it took the volume over.
    fn owner_announced(&mut self, from: u32, payload: &[u8]) {
        let named = payload.try_into().map(u32::from_le_bytes).ok();
        if named != Some(from) {
            log::warn!("peer {}: OWNER message naming another node dropped", hex(NodeId(from.into())));
            return;
        }
        self.announced_owner = Some(from);
        let Some((mxfs_uapi::genl::role::MEMBER, owner)) = self.remote.role() else { return };
        let gone = self.view.as_ref().is_some_and(|v| !v.nodes().any(|n| n.0 == u64::from(owner)));
        if owner != from && gone {
            log::info!("node {} serves the volume now: following it without waiting", hex(NodeId(from.into())));
            if let Some(f) = &self.p.failover {
                f.start(owner);
            }
        }
    }

    fn kernel_lock(&mut self, res: ResName, mode: Mode, reply: Responder) {
        self.locks.entry(res.clone()).or_default().cache_waiting += 1;
        let req = self.next_req;
        self.next_req += 1;
        self.kernel_pending.insert(req, (reply, clock::now_ms(), res.clone()));
        self.feed(Input::Lock { req, res, mode });
    }

    /// Requests the executor's next EX lock, or answers once it holds them all.
    fn exec_next(&mut self, mut w: ExecWait) {
        if w.todo.is_empty() {
            if w.reply.send(Ok(())).is_err() {
                for ino in std::mem::take(&mut w.held) {
                    self.unuse(&cache::res_of(ino));
                }
            }
            return;
        }
        let ino = w.todo.remove(0);
        let res = cache::res_of(ino);
        // This node's kernel caches as a member (a node that took the volume over): it must
        // drop that cache before the change. A member's kernel does so before it returns.
        if self.locks.get(&res).and_then(|l| l.kernel) == Some(Mode::PR) {
            self.kernel_bast(&res, Mode::EX);
        }
        self.locks.entry(res.clone()).or_default().cache_waiting += 1;
        let req = self.next_req;
        self.next_req += 1;
        self.exec_pending.insert(req, w);
        self.feed(Input::Lock { req, res, mode: Mode::EX });
    }

    /// Tells the kernel that `blocking` waits on `res`.
    fn kernel_bast(&mut self, res: &ResName, blocking: Mode) {
        let Some(ino) = cache::ino_of(res) else { return };
        match &self.kernel_sink {
            Some(sink) => {
                self.cache_kernel_basts += 1;
                sink(&cache::bast_message(ino, blocking));
            }
            None => log::warn!("cache lock {} blocks {blocking} but no kernel link is up", res_text(res)),
        }
    }

    /// Makes the kernel drop every cache it holds (it answers each with CACHE_DOWN).
    fn drop_kernel_caches(&mut self, why: &str) {
        let held: Vec<ResName> = self.locks.iter().filter(|(_, l)| l.kernel == Some(Mode::PR)).map(|(r, _)| r.clone()).collect();
        if held.is_empty() {
            return;
        }
        log::info!("{why}: the kernel drops its {} cached inodes", held.len());
        for res in held {
            self.kernel_bast(&res, Mode::EX);
        }
    }

    fn cache_tick(&mut self, now: u64) {
        let late: Vec<ReqId> =
            self.kernel_pending.iter().filter(|(_, (_, since, _))| now.saturating_sub(*since) >= CACHE_WAIT_MS).map(|(r, _)| *r).collect();
        for req in late {
            if let Some((reply, _, res)) = self.kernel_pending.remove(&req) {
                if let Some(lr) = self.locks.get_mut(&res) {
                    lr.cache_waiting = lr.cache_waiting.saturating_sub(1);
                }
                log::error!("a cache lock the kernel asked for was not granted within {} s; EIO", CACHE_WAIT_MS / 1000);
                reply.fail(libc::EIO as u32);
            }
        }
        // Past the lease the cluster may have fenced this node: nothing cached is trusted.
        if self.lease_until != 0 && now >= self.lease_until && self.lease_dropped != self.lease_until {
            self.lease_dropped = self.lease_until;
            self.drop_kernel_caches("the membership lease ended");
        }
        if self.locks.len() <= IDLE_CACHE_LOCKS {
            return;
        }
        let idle: Vec<ResName> = self
            .locks
            .iter()
            .filter(|(r, l)| {
                cache::ino_of(r).is_some()
                    && l.kernel.is_none()
                    && l.in_use == 0
                    && l.cache_waiting == 0
                    && l.bast.is_none()
                    && l.record.is_none()
            })
            .map(|(r, _)| r.clone())
            .collect();
        for res in idle {
            if self.node.dlm().held(&res).is_some() && !self.kernel_deferred.contains_key(&res) {
                self.down_convert(res, None);
            }
        }
    }
}

fn hex(n: NodeId) -> String {
    format!("{:#010x}", n.0)
}
