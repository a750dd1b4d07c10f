//! Cluster membership with epochs, as a sans-I/O state machine.
//!
//! Liveness has two channels: network heartbeats (with echoes, so each node knows when a peer
//! last heard *it*: a round trip) and the disk heartbeat slots of the lockstate (read by every
//! node). For a member that has been silent on the network past `net_silent`:
//!
//! * disk slot also silent past `disk_dead`: the member is dead (`DeclareDead`);
//! * disk slot alive: it is a partition, and exactly one side may survive.
//!
//! Side rule (every node evaluates it for itself): let `alive` be the view minus dead and fenced
//! members and `reach` the members this node still has round trips with. The side wins with a
//! strict majority of `alive`; on an exact tie (always the case for a 2-node partition) the side
//! holding the preferred node wins: the current owner if known and alive, else the lowest node
//! id. A losing node self-fences at `net_silent`; winners fence at `fence_after`, later.
//!
//! Only the coordinator (lowest id among members not yet fenceable) fences and proposes views;
//! a view drops only members whose fencing finished. Views spread inside heartbeats; a node
//! installs any newer view that contains it and self-fences on a newer view that leaves it out.
//! A member is fenceable after `fence_after` of silence if it is disk-dead, or if our view is
//! stable (every member has shown us, in a heartbeat, that it installed it).
//!
//! A newly installed view reaches the DLM only after a disk heartbeat write issued at install
//! succeeded (the PR-guarded disk proves we were not fenced in the meantime).
//!
//! Leases: a node may hand out local grants only before
//! `min(last_disk_ok + disk_lease, min over members of last_round_trip + lease)`. Since a peer
//! fences a node at least `fence_after > lease` after it last heard from it, stops echoing it
//! from the decision on, and (by stability) is counted in the victim's lease, the victim's
//! lease has always ended before it is fenced: a fenced node never grants.

use std::collections::BTreeMap;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::config::Timing;
use crate::fence::{FenceAction, Fencer};
use crate::messages::{Echo, Heartbeat};
use crate::view::{Member, NodeId, View, ViewId};
use crate::Time;

/// Heartbeat send times kept for echo lookup.
const SENT_HISTORY: usize = 64;

/// Contents of a disk heartbeat slot, as written and as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSlot {
    pub incarnation: u64,
    pub counter: u64,
    /// Epoch of the writer's installed view (0: none); lets a founder pick a fresh epoch.
    pub epoch: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberInput {
    Tick,
    Heartbeat {
        from: NodeId,
        hb: Heartbeat,
    },
    /// Result of our own slot write `counter` (false: rejected, e.g. RESERVATION CONFLICT).
    DiskWritten {
        counter: u64,
        ok: bool,
    },
    /// A slot read back from the lockstate.
    DiskObserved {
        node: NodeId,
        slot: DiskSlot,
    },
    /// Result of a PR preempt we asked for.
    FenceDone {
        victim: NodeId,
        ok: bool,
    },
    /// The victim's disk lock records are cleared.
    DiskPurged {
        victim: NodeId,
    },
    /// Discovery found a peer (or it was configured).
    PeerDiscovered(NodeId),
    /// The current owner, used as the preferred survivor on ties.
    Owner(Option<NodeId>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfFenceReason {
    /// Our side of a partition lost the side rule.
    LostPartition,
    /// A newer view leaves us out: the others have fenced us.
    Excluded,
    /// Our disk write or preempt was rejected: our PR key is gone.
    KeyGone,
    /// Our disk heartbeat has not succeeded for `disk_dead`: others will take us for dead.
    DiskLost,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberAction {
    SendHeartbeat {
        to: NodeId,
        hb: Heartbeat,
    },
    /// Write our slot, then read every slot back and report `DiskWritten` and `DiskObserved`s.
    WriteDiskHeartbeat(DiskSlot),
    Fence(FenceAction),
    DeclareDead(NodeId),
    /// A view is installed and the disk proved we are still registered: start DLM recovery.
    NewView(Arc<View>),
    Lease {
        until: Time,
    },
    SelfFence(SelfFenceReason),
}

#[derive(Clone, Debug, Default)]
struct Peer {
    incarnation: Option<u64>,
    last_heard: Option<Time>,
    /// Send time of our newest heartbeat this peer has echoed: it heard us at or after this.
    acked_at: Option<Time>,
    last_seq: Option<u64>,
    has_view: bool,
    view: Option<ViewId>,
    disk_incarnation: Option<u64>,
    disk_counter: u64,
    disk_seen_at: Option<Time>,
    /// We decided to fence this incarnation (and so every older one): never acknowledge it
    /// again. An echo sent after the decision would extend its lease past its fencing.
    condemned: Option<u64>,
}

#[derive(Debug)]
pub struct Membership {
    t: Timing,
    me: NodeId,
    incarnation: u64,
    started_at: Time,
    peers: BTreeMap<NodeId, Peer>,
    view: Option<Arc<View>>,
    installed_at: Time,
    /// Members that have sent us a heartbeat carrying our current view: they installed it.
    confirmed: BTreeSet<NodeId>,
    /// The installed view goes to the DLM only once this disk write (issued at install)
    /// succeeded: proof that nobody fenced us before we joined it.
    proof_counter: Option<u64>,
    hb_seq: u64,
    hb_sent: VecDeque<(u64, Time)>,
    next_hb: Time,
    next_disk: Time,
    disk_counter: u64,
    last_disk_ok: Option<Time>,
    max_epoch: u64,
    fencer: Fencer,
    known_fenced: BTreeSet<NodeId>,
    declared_dead: BTreeSet<NodeId>,
    owner: Option<NodeId>,
    stopped: bool,
    lease_sent: Option<Time>,
}

impl Membership {
    pub fn new(t: Timing, me: NodeId, incarnation: u64, now: Time) -> Membership {
        Membership {
            t,
            me,
            incarnation,
            started_at: now,
            peers: BTreeMap::new(),
            view: None,
            installed_at: now,
            confirmed: BTreeSet::new(),
            proof_counter: None,
            hb_seq: 1,
            hb_sent: VecDeque::new(),
            next_hb: now,
            next_disk: now,
            disk_counter: 0,
            last_disk_ok: None,
            max_epoch: 0,
            fencer: Fencer::default(),
            known_fenced: BTreeSet::new(),
            declared_dead: BTreeSet::new(),
            owner: None,
            stopped: false,
            lease_sent: None,
        }
    }

    pub fn view(&self) -> Option<&Arc<View>> {
        self.view.as_ref()
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn handle(&mut self, now: Time, input: MemberInput, out: &mut Vec<MemberAction>) {
        if self.stopped {
            return;
        }
        match input {
            MemberInput::Tick => self.tick(now, out),
            MemberInput::Heartbeat { from, hb } => self.on_heartbeat(now, from, hb, out),
            MemberInput::DiskWritten { counter, ok } => {
                if !ok {
                    self.self_fence(SelfFenceReason::KeyGone, out);
                    return;
                }
                self.last_disk_ok = Some(now);
                if self.proof_counter.is_some_and(|c| counter >= c) {
                    self.proof_counter = None;
                    if let Some(v) = self.view.clone() {
                        out.push(MemberAction::NewView(v));
                    }
                }
            }
            MemberInput::DiskObserved { node, slot } => self.on_disk(now, node, slot),
            MemberInput::FenceDone { victim, ok } => {
                let mut fa = Vec::new();
                if self.fencer.preempted(victim, ok, &mut fa).is_err() {
                    self.self_fence(SelfFenceReason::KeyGone, out);
                    return;
                }
                out.extend(fa.into_iter().map(MemberAction::Fence));
            }
            MemberInput::DiskPurged { victim } => {
                let mut fa = Vec::new();
                self.fencer.disk_purged(victim, &mut fa);
                for a in fa {
                    if let FenceAction::PurgeDlm(v) = a {
                        self.known_fenced.insert(v);
                    }
                    out.push(MemberAction::Fence(a));
                }
            }
            MemberInput::PeerDiscovered(n) => {
                if n != self.me {
                    self.peers.entry(n).or_default();
                }
            }
            MemberInput::Owner(o) => self.owner = o,
        }
        if !self.stopped {
            self.update_lease(out);
        }
    }

    fn self_fence(&mut self, why: SelfFenceReason, out: &mut Vec<MemberAction>) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        out.push(MemberAction::Lease { until: 0 });
        out.push(MemberAction::SelfFence(why));
    }

    fn tick(&mut self, now: Time, out: &mut Vec<MemberAction>) {
        if now >= self.next_hb {
            self.next_hb = now + self.t.heartbeat_interval;
            self.send_heartbeats(now, out);
        }
        if now >= self.next_disk {
            self.write_disk_heartbeat(now, out);
        }
        let last_ok = self.last_disk_ok.unwrap_or(self.started_at);
        if now.saturating_sub(last_ok) > self.t.disk_dead {
            self.self_fence(SelfFenceReason::DiskLost, out);
            return;
        }
        if self.view.is_some() {
            self.member_tick(now, out);
        } else {
            self.viewless_tick(now, out);
        }
    }

    fn send_heartbeats(&mut self, now: Time, out: &mut Vec<MemberAction>) {
        let seq = self.hb_seq;
        self.hb_seq += 1;
        self.hb_sent.push_back((seq, now));
        if self.hb_sent.len() > SENT_HISTORY {
            self.hb_sent.pop_front();
        }
        for (to, p) in &self.peers {
            let echo = match (p.incarnation, p.last_seq) {
                (Some(incarnation), Some(seq)) if p.condemned.is_none_or(|c| incarnation > c) => {
                    Some(Echo { incarnation, seq })
                }
                _ => None,
            };
            let hb = Heartbeat {
                incarnation: self.incarnation,
                seq,
                echo,
                view: self.view.clone(),
            };
            out.push(MemberAction::SendHeartbeat { to: *to, hb });
        }
    }

    fn on_heartbeat(
        &mut self,
        now: Time,
        from: NodeId,
        hb: Heartbeat,
        out: &mut Vec<MemberAction>,
    ) {
        if from == self.me {
            return;
        }
        let p = self.peers.entry(from).or_default();
        match p.incarnation {
            // A late packet from a previous life of that node: ignore it entirely.
            Some(i) if hb.incarnation < i => return,
            Some(i) if hb.incarnation > i => {
                let (disk_incarnation, disk_counter, disk_seen_at, condemned) = (
                    p.disk_incarnation,
                    p.disk_counter,
                    p.disk_seen_at,
                    p.condemned,
                );
                *p = Peer {
                    disk_incarnation,
                    disk_counter,
                    disk_seen_at,
                    condemned,
                    ..Peer::default()
                };
            }
            _ => {}
        }
        p.incarnation = Some(hb.incarnation);
        p.last_heard = Some(now);
        let fresh = p.last_seq.is_none_or(|s| hb.seq > s);
        if fresh {
            p.last_seq = Some(hb.seq);
            p.has_view = hb.view.is_some();
            p.view = hb.view.as_ref().map(|v| v.id);
        }
        if let Some(e) = hb.echo.filter(|e| e.incarnation == self.incarnation) {
            if let Some(&(_, sent)) = self.hb_sent.iter().find(|(s, _)| *s == e.seq) {
                if p.acked_at.is_none_or(|a| sent > a) {
                    p.acked_at = Some(sent);
                }
            }
        }
        if let Some(v) = hb.view {
            self.max_epoch = self.max_epoch.max(v.id.epoch);
            self.consider_view(now, v.clone(), out);
            let sender = Member {
                node: from,
                incarnation: hb.incarnation,
            };
            if self
                .view
                .as_ref()
                .is_some_and(|cur| cur.id == v.id && cur.contains_member(sender))
            {
                self.confirmed.insert(from);
            }
        }
    }

    /// Every other member has shown us it installed the current view. Only then may we fence
    /// a member for network silence: a member that never installed our view may have moved to
    /// a branch we do not know, where its lease does not count us.
    fn stable(&self) -> bool {
        self.view.as_ref().is_some_and(|v| {
            v.nodes()
                .all(|n| n == self.me || self.confirmed.contains(&n))
        })
    }

    fn on_disk(&mut self, now: Time, node: NodeId, slot: DiskSlot) {
        if node == self.me {
            return;
        }
        self.max_epoch = self.max_epoch.max(slot.epoch);
        let p = self.peers.entry(node).or_default();
        if p.disk_incarnation != Some(slot.incarnation) || p.disk_counter != slot.counter {
            p.disk_incarnation = Some(slot.incarnation);
            p.disk_counter = slot.counter;
            p.disk_seen_at = Some(now);
        }
    }

    fn consider_view(&mut self, now: Time, v: Arc<View>, out: &mut Vec<MemberAction>) {
        let newer = self.view.as_ref().is_none_or(|cur| v.id > cur.id);
        if !newer {
            return;
        }
        // Never join a view with a member we have condemned: our DLM may already have purged
        // its locks, and its stale reports would contradict ours.
        let condemned = v.members().iter().any(|m| {
            self.peers
                .get(&m.node)
                .and_then(|p| p.condemned)
                .is_some_and(|c| m.incarnation <= c)
        });
        if condemned {
            return;
        }
        let me = Member {
            node: self.me,
            incarnation: self.incarnation,
        };
        if v.contains_member(me) {
            self.install(now, v, out);
        } else if self.view.is_some() {
            // Views drop only fenced members: this one has been fenced.
            self.self_fence(SelfFenceReason::Excluded, out);
        }
        // Viewless and not included: wait for the coordinator to add us.
    }

    fn install(&mut self, now: Time, v: Arc<View>, out: &mut Vec<MemberAction>) {
        self.max_epoch = self.max_epoch.max(v.id.epoch);
        for n in v.nodes().filter(|n| *n != self.me) {
            self.peers.entry(n).or_default();
        }
        self.view = Some(v.clone());
        self.installed_at = now;
        self.confirmed.clear();
        self.known_fenced.clear();
        self.declared_dead.clear();
        self.fencer.clear();
        self.lease_sent = None;
        // A node fenced in the old view by a coordinator that was fenced in turn may be taken
        // into the new view by someone who does not know: only a successful write to the
        // PR-guarded disk, issued now, shows it is still registered. Until then the DLM stays
        // in the old view (no new grants: the lease is zero) and the view is not announced.
        self.write_disk_heartbeat(now, out);
        self.proof_counter = Some(self.disk_counter);
    }

    fn write_disk_heartbeat(&mut self, now: Time, out: &mut Vec<MemberAction>) {
        self.next_disk = now + self.t.disk_interval;
        self.disk_counter += 1;
        let epoch = self.view.as_ref().map_or(0, |v| v.id.epoch);
        out.push(MemberAction::WriteDiskHeartbeat(DiskSlot {
            incarnation: self.incarnation,
            counter: self.disk_counter,
            epoch,
        }));
    }

    fn propose(&mut self, now: Time, members: Vec<Member>, out: &mut Vec<MemberAction>) {
        let id = ViewId {
            epoch: self.max_epoch.saturating_add(1),
            coordinator: self.me,
            coordinator_incarnation: self.incarnation,
        };
        self.install(now, Arc::new(View::new(id, members)), out);
    }

    /// Starts fencing `victim` (idempotent) and first stops acknowledging `incarnation`.
    fn condemn(&mut self, victim: NodeId, incarnation: u64, out: &mut Vec<MemberAction>) {
        let p = self.peers.entry(victim).or_default();
        p.condemned = Some(p.condemned.map_or(incarnation, |c| c.max(incarnation)));
        let mut fa = Vec::new();
        self.fencer
            .start(victim, self.owner == Some(victim), &mut fa);
        out.extend(fa.into_iter().map(MemberAction::Fence));
    }

    fn since(&self, now: Time, t: Option<Time>) -> Time {
        now.saturating_sub(t.unwrap_or(0).max(self.installed_at))
    }

    /// Peer state that belongs to this member's incarnation (a restarted node is someone else).
    fn peer_of(&self, m: Member) -> Option<&Peer> {
        self.peers
            .get(&m.node)
            .filter(|p| p.incarnation == Some(m.incarnation))
    }

    fn disk_dead(&self, now: Time, m: Member) -> bool {
        let p = self.peers.get(&m.node);
        match p.and_then(|p| p.disk_incarnation) {
            Some(i) if i == m.incarnation => {
                self.since(now, p.and_then(|p| p.disk_seen_at)) > self.t.disk_dead
            }
            // The slot now belongs to another incarnation: this one writes no more.
            Some(_) => true,
            None => self.since(now, None) > self.t.disk_dead,
        }
    }

    fn wins(&self, reach: &[NodeId], alive: &[NodeId]) -> bool {
        let (r, a) = (reach.len(), alive.len());
        if 2 * r != a {
            return 2 * r > a;
        }
        let preferred = self
            .owner
            .filter(|o| alive.contains(o))
            .or_else(|| alive.iter().min().copied());
        preferred.is_some_and(|p| reach.contains(&p))
    }

    fn member_tick(&mut self, now: Time, out: &mut Vec<MemberAction>) {
        let Some(v) = self.view.clone() else { return };
        let others: Vec<Member> = v
            .members()
            .iter()
            .copied()
            .filter(|m| m.node != self.me && !self.known_fenced.contains(&m.node))
            .collect();
        let mut silent = Vec::new();
        let mut dead = Vec::new();
        for m in &others {
            let acked = self.peer_of(*m).and_then(|p| p.acked_at);
            if self.since(now, acked) > self.t.net_silent {
                silent.push(m.node);
                if self.disk_dead(now, *m) {
                    dead.push(m.node);
                }
            }
        }
        if !silent.is_empty() {
            let live: Vec<NodeId> = v
                .nodes()
                .filter(|n| !self.known_fenced.contains(n))
                .collect();
            let alive: Vec<NodeId> = live.iter().copied().filter(|n| !dead.contains(n)).collect();
            let reach: Vec<NodeId> = live
                .iter()
                .copied()
                .filter(|n| !silent.contains(n))
                .collect();
            if !self.wins(&reach, &alive) {
                self.self_fence(SelfFenceReason::LostPartition, out);
                return;
            }
            for d in dead {
                if self.declared_dead.insert(d) {
                    out.push(MemberAction::DeclareDead(d));
                }
            }
        }
        // Fence for network silence only in a stable view; a disk-dead member can always be
        // fenced, since its own disk lease has ended.
        let stable = self.stable();
        let fenceable: Vec<Member> = others
            .iter()
            .copied()
            .filter(|m| {
                self.since(now, self.peer_of(*m).and_then(|p| p.last_heard)) > self.t.fence_after
            })
            .filter(|m| stable || self.disk_dead(now, *m))
            .collect();
        let coordinator = v
            .nodes()
            .filter(|n| !self.known_fenced.contains(n) && !fenceable.iter().any(|f| f.node == *n))
            .min()
            .unwrap_or(self.me);
        if coordinator != self.me {
            return;
        }
        for f in fenceable {
            self.condemn(f.node, f.incarnation, out);
        }
        if self.fencer.in_progress() {
            return;
        }
        let removed = v.nodes().any(|n| self.known_fenced.contains(&n));
        let joiners = if silent.is_empty() {
            self.joiners(now, &v)
        } else {
            Vec::new()
        };
        if removed || !joiners.is_empty() {
            let mut members: Vec<Member> = v
                .members()
                .iter()
                .copied()
                .filter(|m| !self.known_fenced.contains(&m.node))
                .collect();
            members.extend(joiners);
            self.propose(now, members, out);
        }
    }

    /// Fresh nodes (no view) we have round trips with, not in the view under any incarnation.
    fn joiners(&self, now: Time, v: &View) -> Vec<Member> {
        self.peers
            .iter()
            .filter(|(n, p)| {
                !v.contains(**n)
                    && !p.has_view
                    && p.incarnation.is_some()
                    && p.acked_at
                        .is_some_and(|a| now.saturating_sub(a) <= self.t.net_silent)
                    && p.last_heard
                        .is_some_and(|h| now.saturating_sub(h) <= self.t.net_silent)
            })
            .filter_map(|(n, p)| {
                p.incarnation.map(|incarnation| Member {
                    node: *n,
                    incarnation,
                })
            })
            .collect()
    }

    /// No view yet: wait to be added by a reachable view's coordinator, or found a new cluster
    /// when nobody alive on the disk has a view. Founding fences every node ever seen on the
    /// disk that is not founding with us (they are all disk-dead by then).
    fn viewless_tick(&mut self, now: Time, out: &mut Vec<MemberAction>) {
        if now.saturating_sub(self.started_at) < self.t.found_wait {
            return;
        }
        let recent =
            |t: Option<Time>, limit: Time| t.is_some_and(|t| now.saturating_sub(t) <= limit);
        if self
            .peers
            .values()
            .any(|p| p.has_view && recent(p.last_heard, self.t.net_silent))
        {
            return;
        }
        let reachable: Vec<Member> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                recent(p.acked_at, self.t.net_silent) && recent(p.last_heard, self.t.net_silent)
            })
            .filter_map(|(n, p)| {
                p.incarnation.map(|incarnation| Member {
                    node: *n,
                    incarnation,
                })
            })
            .collect();
        for (n, p) in &self.peers {
            if recent(p.disk_seen_at, self.t.disk_dead) && !reachable.iter().any(|m| m.node == *n) {
                return;
            }
        }
        if reachable.iter().any(|m| m.node < self.me) {
            return;
        }
        let to_fence: Vec<Member> = self
            .peers
            .iter()
            .filter(|(n, _)| !reachable.iter().any(|m| m.node == **n))
            .filter_map(|(n, p)| {
                let incarnation = p.disk_incarnation?.max(p.incarnation.unwrap_or(0));
                Some(Member {
                    node: *n,
                    incarnation,
                })
            })
            .collect();
        for f in to_fence {
            if !self.fencer.is_done(f.node) {
                self.condemn(f.node, f.incarnation, out);
            }
        }
        if self.fencer.in_progress() {
            return;
        }
        let mut members = reachable;
        members.push(Member {
            node: self.me,
            incarnation: self.incarnation,
        });
        self.propose(now, members, out);
    }

    fn update_lease(&mut self, out: &mut Vec<MemberAction>) {
        let until = match &self.view {
            None => 0,
            Some(_) if self.proof_counter.is_some() => 0,
            Some(v) => {
                let mut u = self.last_disk_ok.map_or(0, |t| t + self.t.disk_lease);
                for m in v
                    .members()
                    .iter()
                    .filter(|m| m.node != self.me && !self.known_fenced.contains(&m.node))
                {
                    let acked = self.peer_of(*m).and_then(|p| p.acked_at);
                    u = u.min(acked.map_or(0, |a| a + self.t.lease));
                }
                u
            }
        };
        if self.lease_sent != Some(until) {
            self.lease_sent = Some(until);
            out.push(MemberAction::Lease { until });
        }
    }
}

#[cfg(test)]
mod tests;
