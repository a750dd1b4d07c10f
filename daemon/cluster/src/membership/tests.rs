//! Membership scenarios on a tiny fault-free harness (fixed 5 ms delay, controllable links,
//! crash = stop ticking). The simulator covers the random interleavings; these pin the rules.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::fence::FenceAction;

const A: NodeId = NodeId(1);
const B: NodeId = NodeId(2);
const C: NodeId = NodeId(3);

struct Harness {
    t: Timing,
    now: Time,
    nodes: BTreeMap<NodeId, Membership>,
    crashed: BTreeSet<NodeId>,
    cut: BTreeSet<(NodeId, NodeId)>,
    disk: BTreeMap<NodeId, DiskSlot>,
    wire: Vec<(Time, NodeId, NodeId, Heartbeat)>,
    log: Vec<(Time, NodeId, MemberAction)>,
}

impl Harness {
    /// Nodes that start together and found a cluster.
    fn new(ids: &[NodeId]) -> Harness {
        let t = Timing::simulation();
        let mut h = Harness {
            t: t.clone(),
            now: 0,
            nodes: BTreeMap::new(),
            crashed: BTreeSet::new(),
            cut: BTreeSet::new(),
            disk: BTreeMap::new(),
            wire: Vec::new(),
            log: Vec::new(),
        };
        for id in ids {
            let mut m = Membership::new(t.clone(), *id, 1, 0);
            for p in ids {
                m.handle(0, MemberInput::PeerDiscovered(*p), &mut Vec::new());
            }
            h.nodes.insert(*id, m);
        }
        h.run_until(t.found_wait + 1_000);
        for id in ids {
            assert_eq!(
                h.nodes[id].view().map(|v| v.len()),
                Some(ids.len()),
                "{id:?} did not join"
            );
        }
        h.log.clear();
        h
    }

    fn input(&mut self, n: NodeId, input: MemberInput) {
        let mut out = Vec::new();
        self.nodes
            .get_mut(&n)
            .unwrap()
            .handle(self.now, input, &mut out);
        for a in out {
            self.log.push((self.now, n, a.clone()));
            match a {
                MemberAction::SendHeartbeat { to, hb } if !self.cut.contains(&(n, to)) => {
                    self.wire.push((self.now + 5, n, to, hb));
                }
                MemberAction::WriteDiskHeartbeat(slot) => {
                    self.disk.insert(n, slot);
                    self.input(
                        n,
                        MemberInput::DiskWritten {
                            counter: slot.counter,
                            ok: true,
                        },
                    );
                    let others: Vec<(NodeId, DiskSlot)> = self
                        .disk
                        .iter()
                        .filter(|(k, _)| **k != n)
                        .map(|(k, s)| (*k, *s))
                        .collect();
                    for (node, slot) in others {
                        self.input(n, MemberInput::DiskObserved { node, slot });
                    }
                }
                MemberAction::Fence(FenceAction::Preempt(v)) => self.input(
                    n,
                    MemberInput::FenceDone {
                        victim: v,
                        ok: true,
                    },
                ),
                MemberAction::Fence(FenceAction::PurgeDisk(v)) => {
                    self.input(n, MemberInput::DiskPurged { victim: v })
                }
                _ => {}
            }
        }
    }

    fn run_until(&mut self, end: Time) {
        while self.now < end {
            self.now += 5;
            let due: Vec<_> = {
                let (d, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
                    .into_iter()
                    .partition(|w| w.0 <= self.now);
                self.wire = rest;
                d
            };
            for (_, from, to, hb) in due {
                if !self.crashed.contains(&to) {
                    self.input(to, MemberInput::Heartbeat { from, hb });
                }
            }
            if self.now.is_multiple_of(50) {
                let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
                for n in ids {
                    if !self.crashed.contains(&n) {
                        self.input(n, MemberInput::Tick);
                    }
                }
            }
        }
    }

    fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        for x in a {
            for y in b {
                self.cut.insert((*x, *y));
                self.cut.insert((*y, *x));
            }
        }
    }

    fn first(&self, pred: impl Fn(NodeId, &MemberAction) -> bool) -> Option<Time> {
        self.log
            .iter()
            .find(|(_, n, a)| pred(*n, a))
            .map(|(t, _, _)| *t)
    }

    fn last_lease(&self, n: NodeId, before: Time) -> Option<Time> {
        self.log
            .iter()
            .filter(|(t, m, _)| *m == n && *t <= before)
            .rev()
            .find_map(|(_, _, a)| {
                if let MemberAction::Lease { until } = a {
                    Some(*until)
                } else {
                    None
                }
            })
    }
}

#[test]
fn two_node_partition_lower_id_survives_and_the_loser_quits_first() {
    let mut h = Harness::new(&[A, B]);
    let t0 = h.now;
    h.partition(&[A], &[B]);
    h.run_until(t0 + 5_000);
    let quit = h
        .first(|n, a| n == B && *a == MemberAction::SelfFence(SelfFenceReason::LostPartition))
        .expect("B quits");
    let fence = h
        .first(|n, a| n == A && *a == MemberAction::Fence(FenceAction::Preempt(B)))
        .expect("A fences B");
    assert!(
        quit < fence,
        "loser quits at {quit}, before the winner fences at {fence}"
    );
    assert!(!h.nodes[&A].is_stopped());
    // B's lease had already run out when it was fenced: it could not have granted anything.
    assert!(h.last_lease(B, fence).unwrap() <= fence);
    assert_eq!(
        h.nodes[&A].view().unwrap().nodes().collect::<Vec<_>>(),
        vec![A]
    );
}

#[test]
fn two_node_owner_side_wins_the_tie() {
    let mut h = Harness::new(&[A, B]);
    for n in [A, B] {
        h.input(n, MemberInput::Owner(Some(B)));
    }
    let t0 = h.now;
    h.partition(&[A], &[B]);
    h.run_until(t0 + 5_000);
    assert!(h.nodes[&A].is_stopped());
    assert!(h
        .first(|n, a| n == B && *a == MemberAction::Fence(FenceAction::Preempt(A)))
        .is_some());
    assert_eq!(
        h.nodes[&B].view().unwrap().nodes().collect::<Vec<_>>(),
        vec![B]
    );
}

#[test]
fn a_dead_peer_is_fenced_not_mistaken_for_a_partition() {
    // The lower id dies: with both its links silent the higher one must survive.
    let mut h = Harness::new(&[A, B]);
    let t0 = h.now;
    h.crashed.insert(A);
    h.run_until(t0 + 5_000);
    assert!(!h.nodes[&B].is_stopped());
    let dead = h
        .first(|n, a| n == B && *a == MemberAction::DeclareDead(A))
        .expect("declared dead");
    let fence = h
        .first(|n, a| n == B && *a == MemberAction::Fence(FenceAction::Preempt(A)))
        .unwrap();
    let purge = h
        .first(|n, a| n == B && *a == MemberAction::Fence(FenceAction::PurgeDlm(A)))
        .unwrap();
    let view = h
        .first(|n, a| n == B && matches!(a, MemberAction::NewView(_)))
        .unwrap();
    assert!(dead <= fence && fence <= purge && purge <= view);
    assert!(fence - t0 >= h.t.fence_after);
    assert_eq!(
        h.nodes[&B].view().unwrap().nodes().collect::<Vec<_>>(),
        vec![B]
    );
}

#[test]
fn majority_survives_a_three_node_split() {
    let mut h = Harness::new(&[A, B, C]);
    let t0 = h.now;
    // The lowest id is alone: it must lose to the majority.
    h.partition(&[A], &[B, C]);
    h.run_until(t0 + 5_000);
    assert!(h.nodes[&A].is_stopped());
    assert!(!h.nodes[&B].is_stopped() && !h.nodes[&C].is_stopped());
    for n in [B, C] {
        assert_eq!(
            h.nodes[&n].view().unwrap().nodes().collect::<Vec<_>>(),
            vec![B, C]
        );
    }
}

#[test]
fn a_fresh_node_joins_through_the_coordinator() {
    let mut h = Harness::new(&[A, B]);
    let mut c = Membership::new(h.t.clone(), C, 1, h.now);
    for p in [A, B] {
        c.handle(h.now, MemberInput::PeerDiscovered(p), &mut Vec::new());
    }
    h.nodes.insert(C, c);
    for n in [A, B] {
        h.input(n, MemberInput::PeerDiscovered(C));
    }
    let t0 = h.now;
    h.run_until(t0 + 2_000);
    for n in [A, B, C] {
        let v = h.nodes[&n].view().unwrap();
        assert_eq!(v.nodes().collect::<Vec<_>>(), vec![A, B, C]);
        assert_eq!(v.id.coordinator, A);
    }
}

#[test]
fn a_newer_view_without_us_means_we_were_fenced() {
    let mut h = Harness::new(&[A, B]);
    let id = ViewId {
        epoch: 99,
        coordinator: A,
        coordinator_incarnation: 1,
    };
    let v = Arc::new(View::new(
        id,
        vec![Member {
            node: A,
            incarnation: 1,
        }],
    ));
    let hb = Heartbeat {
        incarnation: 1,
        seq: 10_000,
        echo: None,
        view: Some(v),
    };
    h.input(B, MemberInput::Heartbeat { from: A, hb });
    assert!(h.nodes[&B].is_stopped());
    assert!(h
        .first(|n, a| n == B && *a == MemberAction::SelfFence(SelfFenceReason::Excluded))
        .is_some());
}

#[test]
fn a_rejected_disk_write_means_our_key_is_gone() {
    let mut h = Harness::new(&[A, B]);
    h.input(
        A,
        MemberInput::DiskWritten {
            counter: 1_000,
            ok: false,
        },
    );
    assert!(h.nodes[&A].is_stopped());
    assert_eq!(h.last_lease(A, h.now), Some(0));
}
