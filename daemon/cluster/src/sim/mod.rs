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
mod exec;
mod faults;
pub mod invariants;
pub mod network;
pub mod rng;

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};

pub use crate::dlm::Bug;

use crate::config::Timing;
use crate::messages::Packet;
use crate::mode::Mode;
use crate::node::{ClusterNode, Input};
use crate::view::{fnv1a64, NodeId, ResName};
use crate::Time;

use client::{Client, ClientState};
use disk::Disk;
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
    /// Deliberately broken DLM; ignored unless built for tests or with `bug-injection`.
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
    /// Boxed: packets are large and the event heap moves its entries around.
    Deliver(Box<Packet>),
    Preempt {
        by: usize,
        inc: u64,
        victim: NodeId,
    },
    DiskPurge {
        by: usize,
        inc: u64,
        victim: NodeId,
    },
    Wake(usize, u64, usize),
    Unlock(usize, u64, usize),
    Honour(usize, u64, usize),
    Fault,
    Heal,
    LossReset,
    Restart(usize),
    Owner(usize, NodeId),
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
    /// Successful preempts (fencer index, fencer incarnation, victim) not yet followed by
    /// the disk purge: a purge must always come after its own fencer's preempt.
    preempted: BTreeSet<(usize, u64, NodeId)>,
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
            preempted: BTreeSet::new(),
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

    /// The owner protocol is not modelled; its news reaches each node late or, during the
    /// fault phase, not at all, so nodes disagree on the preferred survivor of a tie.
    fn announce_owner(&mut self, owner: NodeId) {
        for i in 0..self.nodes.len() {
            if self.quiescing || !self.rng.chance(0.1) {
                self.after(1, 500, Ev::Owner(i, owner));
            }
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
                        self.feed(i, Input::Packet(*p));
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
                        self.preempted.insert((by, inc, victim));
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
                    // DiskPurged is what lets the DLM drop the victim's locks: this fencer must
                    // have preempted the victim's key first.
                    if !self.preempted.remove(&(by, inc, victim)) {
                        self.fail(format!("locks of {victim:?} purged before it was fenced"));
                    }
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
            Ev::Owner(i, o) => {
                if self.nodes[i].node.is_some() {
                    self.feed(i, Input::Owner(Some(o)));
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
}

#[cfg(test)]
mod tests;
