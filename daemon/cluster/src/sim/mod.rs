//! Deterministic simulation of 2–5 nodes running membership + DLM on a faulty network and a
//! shared disk with SCSI PR, with local lock users on every node.
//!
//! Everything random comes from one [`rng::Rng`] seeded by the seed number, and virtual time
//! comes from the event queue, so `run(&SimConfig::for_seed(s))` replays seed `s` exactly.
//! Faults: packet loss, delay and reordering, duplication, slow packets, group partitions,
//! one-way link cuts, loss bursts, node crashes (disk heartbeat stops; PR key stays until a
//! survivor preempts it) and restarts. After `fault_ms` the network heals and clients stop
//! asking; the run then waits for the cluster to settle and checks liveness and agreement.
//!
//! Safety invariants are checked after every event (see [`invariants`]).

pub mod client;
pub mod disk;
pub mod invariants;
pub mod network;
pub mod rng;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

pub use crate::dlm::Bug;

use crate::config::Timing;
use crate::dlm::PeerError;
use crate::messages::{Body, Packet};
use crate::mode::Mode;
use crate::node::{ClusterNode, Input, Output};
use crate::view::{fnv1a64, NodeId, ResName};
use crate::Time;

use client::{Client, ClientState};
use disk::Disk;
use invariants::LiveNode;
use network::Network;
use rng::Rng;

/// Parameters of one simulated run. [`SimConfig::for_seed`] derives them all from the seed.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    pub resources: usize,
    /// Faults and client load run until this time.
    pub fault_ms: Time,
    /// Then the network is healed and the run waits at least this long before checking.
    pub quiesce_ms: Time,
    /// The cluster must have settled by `fault_ms + quiesce_ms + settle_ms`, else it hangs.
    pub settle_ms: Time,
    pub loss: f64,
    pub dup: f64,
    pub slow: f64,
    pub timing: Timing,
    /// Deliberately broken DLM (tests and the `bug-injection` feature only).
    pub bug: Option<Bug>,
    /// Record a trace of everything but heartbeats and timer ticks.
    pub trace: bool,
    /// With `trace`: also heartbeats, acknowledgements and lease changes.
    pub trace_all: bool,
}

impl SimConfig {
    pub fn for_seed(seed: u64) -> SimConfig {
        let mut r = Rng::new(seed.rotate_left(17) ^ 0x5eed);
        SimConfig {
            seed,
            nodes: 2 + r.index(4),
            resources: 2 + r.index(5),
            fault_ms: 20_000,
            quiesce_ms: 8_000,
            settle_ms: 30_000,
            loss: [0.0, 0.01, 0.05, 0.1][r.index(4)],
            dup: if r.chance(0.3) { 0.02 } else { 0.0 },
            slow: if r.chance(0.3) { 0.05 } else { 0.0 },
            timing: Timing::simulation(),
            bug: None,
            trace: false,
            trace_all: false,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub events: u64,
    pub packets: u64,
    pub grants: u64,
    pub cached_grants: u64,
    pub failed_requests: u64,
    pub views: u64,
    pub fences: u64,
    pub self_fences: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub takeovers: u64,
    pub end_time: Time,
}

#[derive(Clone, Debug)]
pub struct SimReport {
    pub seed: u64,
    /// The first violated invariant, with the virtual time; `None` if the run passed.
    pub violation: Option<String>,
    pub stats: SimStats,
    pub trace: Vec<String>,
}

#[derive(Debug)]
enum Ev {
    Start(usize),
    Tick(usize, u64),
    Deliver(Packet),
    Preempt { by: usize, inc: u64, victim: NodeId },
    DiskPurge { by: usize, inc: u64, victim: NodeId },
    Wake(usize, u64, usize),
    Unlock(usize, u64, usize),
    Honour(usize, u64, usize),
    Fault,
    Heal,
    LossReset,
    Restart(usize),
    Owner(NodeId),
    Quiesce,
    Check,
}

struct Sched {
    at: Time,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Sched {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Sched {}
impl PartialOrd for Sched {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Sched {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (then first scheduled).
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct SimNode {
    id: NodeId,
    inc: u64,
    node: Option<ClusterNode>,
}

struct Sim<'c> {
    cfg: &'c SimConfig,
    rng: Rng,
    now: Time,
    seq: u64,
    queue: BinaryHeap<Sched>,
    nodes: Vec<SimNode>,
    net: Network,
    disk: Disk,
    clients: Vec<Vec<Client>>,
    res: Vec<ResName>,
    quiescing: bool,
    done: bool,
    owner: Option<NodeId>,
    next_req: u64,
    violation: Option<String>,
    stats: SimStats,
    trace: Vec<String>,
    delays: Vec<Time>,
    holders: Vec<(NodeId, Mode)>,
}

/// Runs one seed to completion (or to its first violation).
pub fn run(cfg: &SimConfig) -> SimReport {
    let mut sim = Sim::new(cfg);
    sim.run();
    SimReport {
        seed: cfg.seed,
        violation: sim.violation,
        stats: sim.stats,
        trace: sim.trace,
    }
}

impl<'c> Sim<'c> {
    fn new(cfg: &'c SimConfig) -> Sim<'c> {
        let mut ids: Vec<NodeId> = Vec::new();
        for i in 0..cfg.nodes {
            let mut id = NodeId(fnv1a64(format!("node-{}-{i}", cfg.seed).as_bytes()));
            while ids.contains(&id) {
                id.0 = id.0.wrapping_add(1);
            }
            ids.push(id);
        }
        let mut net = Network::new(cfg.nodes);
        net.loss = cfg.loss;
        net.dup = cfg.dup;
        net.slow = cfg.slow;
        Sim {
            cfg,
            rng: Rng::new(cfg.seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: ids
                .into_iter()
                .map(|id| SimNode {
                    id,
                    inc: 0,
                    node: None,
                })
                .collect(),
            net,
            disk: Disk::new(cfg.nodes),
            clients: vec![vec![Client::new(); cfg.resources]; cfg.nodes],
            res: (0..cfg.resources)
                .map(|r| ResName::new(format!("inode-{r}").as_bytes()))
                .collect(),
            quiescing: false,
            done: false,
            owner: None,
            next_req: 1,
            violation: None,
            stats: SimStats::default(),
            trace: Vec::new(),
            delays: Vec::new(),
            holders: Vec::new(),
        }
    }

    fn at(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Sched {
            at,
            seq: self.seq,
            ev,
        });
    }

    fn after(&mut self, lo: Time, hi: Time, ev: Ev) {
        let at = self.now + self.rng.range(lo, hi);
        self.at(at, ev);
    }

    fn log(&mut self, f: impl FnOnce() -> String) {
        if self.cfg.trace {
            let line = format!("{:>6} {}", self.now, f());
            self.trace.push(line);
        }
    }

    fn fail(&mut self, what: String) {
        if self.violation.is_none() {
            let msg = format!("t={} {what}", self.now);
            self.log(|| format!("VIOLATION {msg}"));
            self.violation = Some(msg);
        }
    }

    fn idx(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    fn res_idx(&self, res: &ResName) -> Option<usize> {
        self.res.iter().position(|r| r == res)
    }

    fn up(&self, i: usize, inc: u64) -> bool {
        self.nodes[i].node.is_some() && self.nodes[i].inc == inc
    }

    fn run(&mut self) {
        for i in 0..self.cfg.nodes {
            self.after(0, 300, Ev::Start(i));
        }
        self.after(500, 2_000, Ev::Fault);
        self.at(self.cfg.fault_ms, Ev::Quiesce);
        self.at(self.cfg.fault_ms + self.cfg.quiesce_ms, Ev::Check);
        let limit = self.cfg.fault_ms + self.cfg.quiesce_ms + self.cfg.settle_ms;
        while let Some(s) = self.queue.pop() {
            if s.at > limit {
                break;
            }
            self.now = s.at;
            self.stats.events += 1;
            self.dispatch(s.ev);
            if self.violation.is_none() {
                self.check_safety();
            }
            if self.violation.is_some() || self.done {
                break;
            }
        }
        if !self.done && self.violation.is_none() {
            self.fail("simulation ended before the final check".into());
        }
        self.stats.end_time = self.now;
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Start(i) | Ev::Restart(i) => self.start(i),
            Ev::Tick(i, inc) => {
                if self.up(i, inc) {
                    self.feed(i, Input::Tick);
                    self.after(40, 60, Ev::Tick(i, inc));
                }
            }
            Ev::Deliver(p) => {
                if let Some(i) = self.idx(p.to) {
                    if self.nodes[i].node.is_some() {
                        self.feed(i, Input::Packet(p));
                    }
                }
            }
            Ev::Preempt { by, inc, victim } => {
                if self.up(by, inc) {
                    let ok = match self.idx(victim) {
                        Some(v) => self.disk.preempt(by, v),
                        None => self.disk.is_registered(by),
                    };
                    if ok {
                        self.stats.fences += 1;
                    }
                    let by_id = self.nodes[by].id;
                    self.log(|| {
                        format!(
                            "PR {by_id:?} preempts {victim:?}: {}",
                            if ok { "ok" } else { "REFUSED" }
                        )
                    });
                    self.feed(by, Input::FenceDone { victim, ok });
                }
            }
            Ev::DiskPurge { by, inc, victim } => {
                if self.up(by, inc) {
                    self.feed(by, Input::DiskPurged { victim });
                }
            }
            Ev::Wake(i, inc, r) => self.client_wake(i, inc, r),
            Ev::Unlock(i, inc, r) => {
                if self.up(i, inc) && self.clients[i][r].state == ClientState::Using {
                    self.clients[i][r].state = ClientState::Idle;
                    let res = self.res[r].clone();
                    self.feed(i, Input::Unlock { res });
                    if self.clients[i][r].bast.is_some() {
                        self.after(1, 20, Ev::Honour(i, inc, r));
                    }
                }
            }
            Ev::Honour(i, inc, r) => self.client_honour(i, inc, r),
            Ev::Fault => self.fault(),
            Ev::Heal => {
                if !self.quiescing {
                    self.net.heal();
                    self.log(|| "network healed".into());
                }
            }
            Ev::LossReset => {
                if !self.quiescing {
                    self.net.loss = self.cfg.loss;
                }
            }
            Ev::Owner(o) => {
                for i in 0..self.nodes.len() {
                    if self.nodes[i].node.is_some() {
                        self.feed(i, Input::Owner(Some(o)));
                    }
                }
            }
            Ev::Quiesce => {
                self.quiescing = true;
                self.net.heal();
                self.net.loss = 0.0;
                self.net.dup = 0.0;
                self.net.slow = 0.0;
                self.log(|| "QUIESCE: network healed, no new requests".into());
            }
            Ev::Check => self.final_check(),
        }
    }

    fn start(&mut self, i: usize) {
        if self.nodes[i].node.is_some() {
            return;
        }
        let id = self.nodes[i].id;
        // A restarted node must not come back while its old incarnation could still be counted
        // on: wait until it is fenced, or until no live view lists it any more.
        let listed = self.nodes.iter().any(|n| {
            n.node
                .as_ref()
                .is_some_and(|c| c.membership().view().is_some_and(|v| v.contains(id)))
        });
        if self.nodes[i].inc > 0 && self.disk.is_registered(i) && listed {
            self.after(300, 700, Ev::Restart(i));
            return;
        }
        self.nodes[i].inc += 1;
        let inc = self.nodes[i].inc;
        self.disk.register(i);
        self.nodes[i].node = Some(ClusterNode::new(self.cfg.timing.clone(), id, inc, self.now));
        #[cfg(any(test, feature = "bug-injection"))]
        if let (Some(bug), Some(n)) = (self.cfg.bug, self.nodes[i].node.as_mut()) {
            n.inject(bug);
        }
        self.clients[i] = vec![Client::new(); self.cfg.resources];
        self.log(|| format!("START {id:?} (index {i}) incarnation {inc}"));
        for j in 0..self.nodes.len() {
            if j != i {
                let peer = self.nodes[j].id;
                self.feed(i, Input::PeerDiscovered(peer));
            }
        }
        if let Some(o) = self.owner {
            self.feed(i, Input::Owner(Some(o)));
        }
        self.at(self.now, Ev::Tick(i, inc));
        for r in 0..self.cfg.resources {
            self.after(100, 1_500, Ev::Wake(i, inc, r));
        }
    }

    fn node_down(&mut self, i: usize, why: &str) {
        let id = self.nodes[i].id;
        self.nodes[i].node = None;
        self.clients[i] = vec![Client::new(); self.cfg.resources];
        self.log(|| format!("DOWN {id:?}: {why}"));
        self.after(500, 4_000, Ev::Restart(i));
    }

    fn fault(&mut self) {
        if self.quiescing {
            return;
        }
        let n = self.nodes.len();
        match self.rng.below(100) {
            0..=21 => {
                let up: Vec<usize> = (0..n).filter(|i| self.nodes[*i].node.is_some()).collect();
                if !up.is_empty() {
                    let i = up[self.rng.index(up.len())];
                    self.stats.crashes += 1;
                    self.node_down(i, "crash");
                }
            }
            22..=46 => {
                let mut g: Vec<u8> = (0..n).map(|_| self.rng.below(2) as u8).collect();
                if g.iter().all(|x| *x == g[0]) {
                    let k = self.rng.index(n);
                    g[k] ^= 1;
                }
                self.stats.partitions += 1;
                self.net.partition(g);
                let d = self.net.describe();
                self.log(|| format!("PARTITION {d}"));
                self.after(300, 6_000, Ev::Heal);
            }
            47..=56 => {
                let a = self.rng.index(n);
                let b = (a + 1 + self.rng.index(n - 1)) % n;
                self.net.cut(a, b);
                let d = self.net.describe();
                self.log(|| format!("ONE-WAY CUT {d}"));
                self.after(300, 4_000, Ev::Heal);
            }
            57..=66 => {
                let k = self.rng.index(n);
                let g: Vec<u8> = (0..n).map(|i| u8::from(i == k)).collect();
                self.stats.partitions += 1;
                self.net.partition(g);
                let d = self.net.describe();
                self.log(|| format!("ISOLATE {d}"));
                self.after(300, 6_000, Ev::Heal);
            }
            67..=76 => {
                self.net.loss = [0.2, 0.4][self.rng.index(2)];
                let l = self.net.loss;
                self.log(|| format!("LOSS BURST {l}"));
                self.after(500, 3_000, Ev::LossReset);
            }
            77..=86 => {
                self.net.heal();
                self.log(|| "network healed".into());
            }
            _ => {}
        }
        self.after(300, 2_500, Ev::Fault);
    }

    fn client_wake(&mut self, i: usize, inc: u64, r: usize) {
        if !self.up(i, inc) || self.quiescing {
            return;
        }
        if self.clients[i][r].state == ClientState::Idle {
            if self.rng.chance(0.85) {
                let mode = client::pick_mode(&mut self.rng);
                let req = self.next_req;
                self.next_req += 1;
                self.clients[i][r].state = ClientState::Waiting {
                    req,
                    mode,
                    since: self.now,
                };
                let res = self.res[r].clone();
                self.feed(i, Input::Lock { req, res, mode });
            } else if self.clients[i][r].held.is_some() {
                // Cache pressure: drop a cached lock voluntarily.
                self.clients[i][r].held = None;
                self.clients[i][r].bast = None;
                let res = self.res[r].clone();
                self.feed(i, Input::DownConvert { res, mode: None });
            }
        }
        self.after(20, 700, Ev::Wake(i, inc, r));
    }

    fn client_honour(&mut self, i: usize, inc: u64, r: usize) {
        if !self.up(i, inc) || self.clients[i][r].state == ClientState::Using {
            return;
        }
        let Some(blocking) = self.clients[i][r].bast else {
            return;
        };
        let Some(held) = self.clients[i][r].held else {
            // The BAST can overtake the grant it is about (the grant may wait for the lease):
            // keep it until the lock has been used and unlocked.
            if !matches!(self.clients[i][r].state, ClientState::Waiting { .. }) {
                self.clients[i][r].bast = None;
            }
            return;
        };
        self.clients[i][r].bast = None;
        if held.compatible(blocking) {
            return;
        }
        let target = client::down_target(&mut self.rng, held, blocking);
        self.clients[i][r].held = target;
        let res = self.res[r].clone();
        self.feed(i, Input::DownConvert { res, mode: target });
    }

    /// Feeds one input to node `i` and executes its outputs; synchronous follow-ups (disk
    /// heartbeat results) are fed back before returning.
    fn feed(&mut self, i: usize, input: Input) {
        let mut work = VecDeque::from([input]);
        let mut went_down = false;
        while let Some(inp) = work.pop_front() {
            if self.cfg.trace && (self.cfg.trace_all || traced_input(&inp)) {
                let id = self.nodes[i].id;
                self.log(|| format!("{id:?} <- {inp:?}"));
            }
            let now = self.now;
            let mut out = Vec::new();
            let Some(node) = self.nodes[i].node.as_mut() else {
                break;
            };
            if let Err(e) = node.handle(now, inp, &mut out) {
                self.fail(format!("local lock API misused by the client model: {e:?}"));
            }
            for o in out {
                self.exec(i, o, &mut work, &mut went_down);
            }
        }
        if went_down {
            self.node_down(i, "self-fenced");
        }
    }

    fn exec(&mut self, i: usize, o: Output, work: &mut VecDeque<Input>, went_down: &mut bool) {
        let id = self.nodes[i].id;
        let inc = self.nodes[i].inc;
        if self.cfg.trace && (self.cfg.trace_all || traced_output(&o)) {
            self.log(|| format!("{id:?} -> {o:?}"));
        }
        match o {
            Output::Send(p) => {
                let Some(to) = self.idx(p.to) else { return };
                self.stats.packets += 1;
                let mut delays = std::mem::take(&mut self.delays);
                self.net.deliveries(i, to, &mut self.rng, &mut delays);
                for d in &delays {
                    self.at(self.now + d, Ev::Deliver(p.clone()));
                }
                self.delays = delays;
            }
            Output::WriteDiskHeartbeat(slot) => {
                let ok = self.disk.write(i, slot);
                work.push_back(Input::DiskWritten { ok });
                if ok {
                    for (j, s) in self.disk.slots() {
                        if j != i {
                            work.push_back(Input::DiskObserved {
                                node: self.nodes[j].id,
                                slot: s,
                            });
                        }
                    }
                }
            }
            Output::Preempt { victim } => self.after(2, 30, Ev::Preempt { by: i, inc, victim }),
            Output::PurgeDiskLocks { victim } => {
                self.after(1, 10, Ev::DiskPurge { by: i, inc, victim })
            }
            Output::OwnerTakeover { .. } => {
                self.stats.takeovers += 1;
                self.owner = Some(id);
                self.at(self.now + 1, Ev::Owner(id));
            }
            Output::NewView(v) => {
                self.stats.views += 1;
                if self.owner.is_none() {
                    self.owner = Some(v.id.coordinator);
                    self.at(self.now + 1, Ev::Owner(v.id.coordinator));
                }
            }
            Output::SelfFence(_) => {
                self.stats.self_fences += 1;
                *went_down = true;
            }
            Output::Grant { req, res, mode } => {
                self.stats.grants += 1;
                if !self.disk.is_registered(i) {
                    self.fail(format!("grant to fenced node {id:?}: {res:?} {mode}"));
                }
                let Some(r) = self.res_idx(&res) else {
                    self.fail(format!("grant for unknown resource {res:?}"));
                    return;
                };
                let c = &mut self.clients[i][r];
                match c.state {
                    ClientState::Waiting {
                        req: w, mode: want, ..
                    } if w == req => {
                        if !mode.covers(want) {
                            self.fail(format!(
                                "{id:?} granted {mode} for a {want} request on {res:?}"
                            ));
                            return;
                        }
                        c.held = Some(mode);
                        c.state = ClientState::Using;
                        self.after(5, 150, Ev::Unlock(i, inc, r));
                    }
                    other => self.fail(format!(
                        "{id:?} unexpected grant {req} on {res:?} in state {other:?}"
                    )),
                }
            }
            Output::Bast { res, blocking } => {
                if let Some(r) = self.res_idx(&res) {
                    self.clients[i][r].bast = Some(blocking);
                    if self.clients[i][r].state != ClientState::Using {
                        self.after(1, 30, Ev::Honour(i, inc, r));
                    }
                }
            }
            Output::Fail { req, res, .. } => {
                self.stats.failed_requests += 1;
                if let Some(r) = self.res_idx(&res) {
                    if matches!(self.clients[i][r].state, ClientState::Waiting { req: w, .. } if w == req)
                    {
                        self.clients[i][r].state = ClientState::Idle;
                    }
                }
            }
            Output::Lost { res } => {
                if let Some(r) = self.res_idx(&res) {
                    self.clients[i][r].held = None;
                    self.clients[i][r].bast = None;
                }
            }
            Output::PeerError {
                error: PeerError::RecoveryConflict { res, a, b },
                ..
            } => {
                self.fail(format!(
                    "recovery at {id:?} found incompatible grants on {res:?}: {a:?} and {b:?}"
                ));
            }
            Output::PeerError { .. }
            | Output::Lease { .. }
            | Output::TransportError { .. }
            | Output::DeclareDead(_)
            | Output::RecoveryDone(_) => {}
        }
    }

    /// Safety, after every event: among live nodes whose PR key is registered, no two local
    /// users hold incompatible modes on one resource.
    fn check_safety(&mut self) {
        for r in 0..self.res.len() {
            self.holders.clear();
            for (i, n) in self.nodes.iter().enumerate() {
                if n.node.is_some() && self.disk.is_registered(i) {
                    if let Some(m) = self.clients[i][r].held {
                        self.holders.push((n.id, m));
                    }
                }
            }
            if let Some((a, b)) = invariants::incompatible_pair(&self.holders) {
                let name = self.res[r].clone();
                self.fail(format!(
                    "incompatible grants on {name:?}: {:?} holds {} while {:?} holds {}",
                    a.0, a.1, b.0, b.1
                ));
                return;
            }
        }
    }

    fn settled(&self) -> bool {
        let mut view = None;
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(c) = &n.node else { return false };
            let v = c.membership().view().map(|v| v.id);
            if v.is_none()
                || (view.is_some() && view != v)
                || !c.dlm().is_running()
                || c.unacked() > 0
            {
                return false;
            }
            view = v;
            if self.clients[i]
                .iter()
                .any(|c| !matches!(c.state, ClientState::Idle))
            {
                return false;
            }
        }
        true
    }

    fn final_check(&mut self) {
        let limit = self.cfg.fault_ms + self.cfg.quiesce_ms + self.cfg.settle_ms;
        if !self.settled() && self.now + 500 <= limit {
            self.at(self.now + 500, Ev::Check);
            return;
        }
        self.done = true;
        let down: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|n| n.node.is_none())
            .map(|n| n.id)
            .collect();
        let live: Vec<LiveNode<'_>> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                n.node.as_ref().map(|node| LiveNode {
                    node,
                    incarnation: n.inc,
                    clients: &self.clients[i],
                })
            })
            .collect();
        let errs = invariants::check_quiesced(&live, &down, &self.res);
        if !errs.is_empty() {
            self.fail(format!("after heal and quiesce: {}", errs.join("; ")));
        }
        for n in self.nodes.iter().filter_map(|n| n.node.as_ref()) {
            self.stats.cached_grants += n.dlm().stats().cached_grants;
        }
    }
}

fn traced_input(i: &Input) -> bool {
    match i {
        Input::Tick
        | Input::DiskWritten { .. }
        | Input::DiskObserved { .. }
        | Input::PeerDiscovered(_) => false,
        Input::Packet(p) => match &p.body {
            Body::Heartbeat(_) => false,
            Body::Dlm(f) => f.msg.is_some(),
        },
        _ => true,
    }
}

fn traced_output(o: &Output) -> bool {
    !matches!(
        o,
        Output::Send(_)
            | Output::WriteDiskHeartbeat(_)
            | Output::TransportError { .. }
            | Output::Lease { .. }
    )
}

#[cfg(test)]
mod tests;
