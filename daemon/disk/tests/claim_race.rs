//! Seeded simulation of nodes racing for heartbeat slots.
//!
//! Every read and write takes a random latency and takes effect at a random instant inside
//! it (the disk is atomic per slot, nothing more); waits oversleep at random; some I/O is
//! slower than the I/O timeout. Winners heartbeat (read back, check, write) and self-fence
//! when they cannot. The invariant, checked at every step: no two nodes believe they hold
//! the same slot at the same time. A failing seed replays exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use mxfs_disk::claim::{Action, Claim, ClaimConfig, Claimant, Claimer, Event, SlotView};
use mxfs_uapi::ident::{node_id_from_uuid, Hostname};
use mxfs_uapi::lockstate::HeartbeatSlot;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Read(u32),
    Write(u32, HeartbeatSlot),
}

#[derive(Clone, Copy, Debug)]
enum Sched {
    /// The operation takes effect on the disk (a read samples it).
    Effect(usize),
    /// The operation's completion reaches the node.
    Complete(usize),
    /// A wait ends.
    Wake(usize),
    /// A claimer starts.
    Start(usize),
}

enum Role {
    Claiming(Claimer),
    /// Holding: `last_issue` is when the last successful heartbeat write was issued.
    Holding { claim: Claim, seq: u64, last_issue: u64, step: HbStep },
    Finished,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HbStep {
    Sleeping,
    Reading,
    Writing(u64),
}

struct Node {
    cfg: ClaimConfig,
    me: Claimant,
    retries: u32,
    role: Role,
    /// Outstanding operation and when it was issued.
    op: Option<(Op, u64)>,
    sampled: Option<SlotView>,
    /// Worst-case read and write latency.
    max_latency: (u64, u64),
}

struct Sim {
    rng: Rng,
    now: u64,
    disk: Vec<SlotView>,
    nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(u64, u64, usize, u8)>>,
    counter: u64,
    claims_written: Vec<usize>,
    wins: usize,
}

#[derive(Default, Debug)]
struct Stats {
    races: u64,
    wins: u64,
    violations: u64,
}

fn code(s: Sched) -> (usize, u8) {
    match s {
        Sched::Effect(n) => (n, 0),
        Sched::Complete(n) => (n, 1),
        Sched::Wake(n) => (n, 2),
        Sched::Start(n) => (n, 3),
    }
}

impl Sim {
    fn push(&mut self, at: u64, s: Sched) {
        self.counter += 1;
        let (n, k) = code(s);
        self.queue.push(Reverse((at, self.counter, n, k)));
    }

    /// Issues `op` for node `n` with a random latency and effect point.
    fn issue(&mut self, n: usize, op: Op) {
        let (read_max, write_max) = self.nodes[n].max_latency;
        let max = if matches!(op, Op::Read(_)) { read_max } else { write_max };
        // Mostly fast, sometimes up to the node's worst case.
        let latency = if self.rng.below(4) == 0 { self.rng.below(max + 1) } else { self.rng.below(max / 4 + 1) };
        let effect = self.now + self.rng.below(latency + 1);
        self.nodes[n].op = Some((op, self.now));
        self.push(effect, Sched::Effect(n));
        self.push(self.now + latency, Sched::Complete(n));
    }

    /// Nodes that hold `slot` and have not passed their self-fence deadline.
    fn believers(&self, slot: u32) -> usize {
        self.nodes
            .iter()
            .filter(|nd| match &nd.role {
                Role::Holding { claim, last_issue, .. } => {
                    claim.slot == slot && self.now <= nd.cfg.self_fence_deadline(*last_issue)
                }
                _ => false,
            })
            .count()
    }

    fn act(&mut self, n: usize, action: Action) -> Result<(), String> {
        match action {
            Action::Read { slot } => self.issue(n, Op::Read(slot)),
            Action::Write { slot, record } => {
                self.claims_written[slot as usize] += 1;
                self.issue(n, Op::Write(slot, record));
            }
            Action::Wait { ms } => {
                let over = self.rng.below(ms / 2 + 1);
                self.push(self.now + ms + over, Sched::Wake(n));
            }
            Action::Done(Ok(claim)) => {
                self.nodes[n].role = Role::Holding { claim, seq: 0, last_issue: self.now, step: HbStep::Sleeping };
                if self.believers(claim.slot) > 1 {
                    return Err(format!("t={} node {n} won slot {} already held by another node", self.now, claim.slot));
                }
                self.wins += 1;
                let at = self.now + self.rng.below(self.nodes[n].cfg.heartbeat_interval_ms);
                self.push(at, Sched::Wake(n));
            }
            Action::Done(Err(e)) if e.is_retryable() && self.nodes[n].retries < 3 => {
                // A new attempt with a fresh nonce after a random backoff.
                let node = &mut self.nodes[n];
                node.retries += 1;
                node.me.nonce[0] = node.me.nonce[0].wrapping_add(1);
                node.role = Role::Claiming(Claimer::new(node.cfg, node.me));
                let at = self.now + self.rng.below(200);
                self.push(at, Sched::Start(n));
            }
            Action::Done(Err(_)) => self.nodes[n].role = Role::Finished,
        }
        Ok(())
    }

    fn step(&mut self, at: u64, n: usize, kind: u8) -> Result<(), String> {
        self.now = at;
        match kind {
            0 => {
                let (op, _) = self.nodes[n].op.expect("effect without op");
                match op {
                    Op::Read(s) => self.nodes[n].sampled = Some(self.disk[s as usize]),
                    Op::Write(s, rec) => self.disk[s as usize] = SlotView::Valid(rec),
                }
            }
            1 => {
                let (op, issued) = self.nodes[n].op.take().expect("completion without op");
                let slow = at - issued > self.nodes[n].cfg.io_timeout_ms;
                let claiming = matches!(self.nodes[n].role, Role::Claiming(_));
                let event = match op {
                    // The real driver counts a read slower than the I/O timeout as failed.
                    Op::Read(slot) if slow && claiming => {
                        self.nodes[n].sampled = None;
                        Event::IoFailed { slot }
                    }
                    Op::Read(slot) => Event::Read { slot, view: self.nodes[n].sampled.take().expect("read not sampled") },
                    Op::Write(slot, _) => Event::Written { slot },
                };
                self.deliver(n, event)?;
            }
            2 => self.deliver(n, Event::Waited)?,
            _ => {
                let action = match &mut self.nodes[n].role {
                    Role::Claiming(c) => c.start(),
                    _ => return Ok(()),
                };
                self.act(n, action)?;
            }
        }
        Ok(())
    }

    fn deliver(&mut self, n: usize, event: Event) -> Result<(), String> {
        let now = self.now;
        let node = &mut self.nodes[n];
        let cfg = node.cfg;
        match &mut node.role {
            Role::Claiming(c) => {
                let action = c.handle(now, event);
                self.act(n, action)
            }
            Role::Holding { claim, seq, last_issue, step } => {
                // Self-fence: past the deadline, stop believing and stop writing.
                if now > cfg.self_fence_deadline(*last_issue) {
                    node.role = Role::Finished;
                    return Ok(());
                }
                let claim = *claim;
                match (*step, event) {
                    (HbStep::Sleeping, Event::Waited) => {
                        *step = HbStep::Reading;
                        self.issue(n, Op::Read(claim.slot));
                    }
                    (HbStep::Reading, Event::Read { view, .. }) => {
                        if claim.still_ours(&view).is_err() {
                            node.role = Role::Finished;
                            return Ok(());
                        }
                        *seq += 1;
                        let issued = now;
                        *step = HbStep::Writing(issued);
                        let rec = claim.heartbeat(*seq, now, 0);
                        self.issue(n, Op::Write(claim.slot, rec));
                    }
                    (HbStep::Writing(issued), Event::Written { .. }) => {
                        *last_issue = issued;
                        *step = HbStep::Sleeping;
                        let gap = cfg.heartbeat_interval_ms;
                        self.push(now + gap, Sched::Wake(n));
                    }
                    _ => return Err(format!("holder {n} got an unexpected event")),
                }
                Ok(())
            }
            Role::Finished => Ok(()),
        }
    }
}

/// One run; returns whether a race happened (two claim writes on one slot) and the number
/// of winners, or the invariant violation.
fn run(seed: u64, cfgs: &[ClaimConfig], latencies: &[(u64, u64)], slots: u32, holder: bool) -> Result<(bool, usize), String> {
    let mut rng = Rng(seed);
    let mut nodes = Vec::new();
    for (i, cfg) in cfgs.iter().enumerate() {
        let uuid = [i as u8 + 1; 16];
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&rng.next().to_le_bytes());
        nonce[8..].copy_from_slice(&(seed | 1).to_le_bytes());
        let me = Claimant { node_uuid: uuid, node_id: node_id_from_uuid(&uuid), hostname: Hostname::EMPTY, nonce, flags: 0 };
        nodes.push(Node { cfg: *cfg, me, retries: 0, role: Role::Claiming(Claimer::new(*cfg, me)), op: None, sampled: None, max_latency: latencies[i] });
    }
    let mut sim = Sim {
        rng,
        now: 0,
        disk: vec![SlotView::Blank; slots as usize],
        nodes,
        queue: BinaryHeap::new(),
        counter: 0,
        claims_written: vec![0; slots as usize],
        wins: 0,
    };
    if holder {
        // A live node already heartbeating in the last slot.
        let uuid = [0xee; 16];
        let claim = Claim { slot: slots - 1, generation: 3, nonce: [0xee; 16], node_uuid: uuid, node_id: node_id_from_uuid(&uuid), hostname: Hostname::EMPTY };
        sim.disk[(slots - 1) as usize] = SlotView::Valid(claim.heartbeat(1, 0, 0));
        let cfg = cfgs[0];
        let n = sim.nodes.len();
        let me = Claimant { node_uuid: uuid, node_id: claim.node_id, hostname: Hostname::EMPTY, nonce: claim.nonce, flags: 0 };
        sim.nodes.push(Node { cfg, me, retries: 0, role: Role::Holding { claim, seq: 1, last_issue: 0, step: HbStep::Sleeping }, op: None, sampled: None, max_latency: latencies[0] });
        sim.push(cfg.heartbeat_interval_ms, Sched::Wake(n));
    }
    for n in 0..cfgs.len() {
        let at = sim.rng.below(60);
        sim.push(at, Sched::Start(n));
    }
    let horizon = 4 * cfgs[0].dead_after_ms;
    while let Some(Reverse((at, _, n, kind))) = sim.queue.pop() {
        if at > horizon {
            break;
        }
        sim.step(at, n, kind).map_err(|e| format!("seed {seed}: {e}"))?;
    }
    Ok((sim.claims_written.iter().any(|&c| c >= 2), sim.wins))
}

const CFG: ClaimConfig = ClaimConfig { slot_count: 0, heartbeat_interval_ms: 100, io_timeout_ms: 20, dead_after_ms: 1000 };

fn sweep(seeds: u64, slots: u32, nodes: usize, holder: bool, cfg_of: impl Fn(usize) -> ClaimConfig, lat_of: impl Fn(usize) -> (u64, u64)) -> Stats {
    let cfgs: Vec<_> = (0..nodes).map(|i| ClaimConfig { slot_count: slots, ..cfg_of(i) }).collect();
    let lats: Vec<_> = (0..nodes).map(lat_of).collect();
    let mut stats = Stats::default();
    for seed in 0..seeds {
        match run(seed, &cfgs, &lats, slots, holder) {
            Ok((raced, wins)) => {
                stats.races += raced as u64;
                stats.wins += wins as u64;
            }
            Err(e) => {
                stats.violations += 1;
                if stats.violations == 1 {
                    eprintln!("{e}");
                }
            }
        }
    }
    stats
}

#[test]
fn racing_claimers_never_share_a_slot() {
    // Latency up to 3 I/O timeouts: some claims give up as too slow.
    for (slots, nodes, holder) in [(1, 2, false), (1, 4, false), (2, 3, true), (3, 5, true)] {
        let s = sweep(1500, slots, nodes, holder, |_| CFG, |_| (3 * CFG.io_timeout_ms, 3 * CFG.io_timeout_ms));
        println!("CLAIM-SIM slots={slots} nodes={nodes} holder={holder} seeds=1500 races={} wins={} violations={}", s.races, s.wins, s.violations);
        assert_eq!(s.violations, 0);
        assert!(s.races > 100, "the simulation should produce real races");
        assert!(s.wins > 0);
    }
}

#[test]
fn mismatched_timing_is_caught_by_the_checker() {
    // Control: a node that believes I/O may take 500 ms (so never gives up on a slow claim
    // write) racing one that settles for only 140 ms can double-win. This is why the timing
    // lives in the header, where every node reads the same numbers.
    let s = sweep(1500, 1, 2, false, |i| if i == 0 { CFG } else { ClaimConfig { io_timeout_ms: 500, ..CFG } }, |i| if i == 0 { (10, 10) } else { (10, 450) });
    println!("CLAIM-SIM mismatched-timing seeds=1500 races={} violations={}", s.races, s.violations);
    assert!(s.violations > 0, "the invariant checker must catch an unsafe configuration");
}
