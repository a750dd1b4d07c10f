//! The properties the simulator checks. Safety ones after every step, liveness ones once the
//! network has healed and the cluster has quiesced.

use super::client::{Client, ClientState};
use super::{Ev, Sim};
use crate::mode::Mode;
use crate::node::ClusterNode;
use crate::view::{NodeId, ResName};

/// Safety: no two live, unfenced nodes believe they hold incompatible modes on one resource.
/// `holders` are (node, mode) for one resource.
pub fn incompatible_pair(holders: &[(NodeId, Mode)]) -> Option<((NodeId, Mode), (NodeId, Mode))> {
    for (i, a) in holders.iter().enumerate() {
        for b in &holders[i + 1..] {
            if !a.1.compatible(b.1) {
                return Some((*a, *b));
            }
        }
    }
    None
}

/// A live node as seen by the end-of-run checks.
pub struct LiveNode<'a> {
    pub node: &'a ClusterNode,
    pub incarnation: u64,
    pub clients: &'a [Client],
}

/// Liveness and agreement after heal + quiesce: every request answered, one view containing
/// every live node, recovery finished everywhere, every node computes the same master for every
/// resource, and each master's granted queue equals what the holders believe they hold.
pub fn check_quiesced(live: &[LiveNode<'_>], down: &[NodeId], res: &[ResName]) -> Vec<String> {
    let mut errs = Vec::new();
    for d in down {
        errs.push(format!("node {d:?} never came back"));
    }
    for l in live {
        for (r, c) in l.clients.iter().enumerate() {
            if let ClientState::Waiting { req, mode, since } = c.state {
                errs.push(format!(
                    "hang: {:?} req {req} {mode} on {:?} waiting since {since}",
                    l.node.id(),
                    res[r]
                ));
            }
        }
    }
    let Some(first) = live.first() else {
        return errs;
    };
    let Some(view) = first.node.membership().view().cloned() else {
        errs.push(format!("{:?} has no view", first.node.id()));
        return errs;
    };
    for l in live {
        let v = l.node.membership().view();
        if v.map(|v| v.id) != Some(view.id) {
            errs.push(format!(
                "views differ: {:?} has {:?}, {:?} has {:?}",
                first.node.id(),
                view,
                l.node.id(),
                v
            ));
            return errs;
        }
        if !view
            .members()
            .iter()
            .any(|m| m.node == l.node.id() && m.incarnation == l.incarnation)
        {
            errs.push(format!(
                "{:?} (incarnation {}) missing from {:?}",
                l.node.id(),
                l.incarnation,
                view
            ));
        }
        if !l.node.dlm().is_running() || l.node.dlm().view_id() != Some(view.id) {
            errs.push(format!(
                "{:?} DLM not recovered in {:?}",
                l.node.id(),
                view.id
            ));
        }
    }
    if view.len() != live.len() {
        errs.push(format!(
            "view {view:?} has {} members for {} live nodes",
            view.len(),
            live.len()
        ));
    }
    for (ri, r) in res.iter().enumerate() {
        let masters: Vec<Option<NodeId>> = live
            .iter()
            .map(|l| l.node.membership().view().and_then(|v| v.master_of(r)))
            .collect();
        if masters.windows(2).any(|w| w[0] != w[1]) {
            errs.push(format!("masters of {r:?} disagree: {masters:?}"));
            continue;
        }
        let Some(master) = masters[0].and_then(|m| live.iter().find(|l| l.node.id() == m)) else {
            errs.push(format!("master of {r:?} is not live"));
            continue;
        };
        let mut at_master = master.node.dlm().master_granted(r);
        at_master.sort();
        let mut at_holders: Vec<(NodeId, Mode)> = live
            .iter()
            .filter_map(|l| l.node.dlm().held(r).map(|m| (l.node.id(), m)))
            .collect();
        at_holders.sort();
        if at_master != at_holders {
            errs.push(format!(
                "{r:?}: master {:?} records {at_master:?}, holders hold {at_holders:?}",
                master.node.id()
            ));
        }
        for l in live {
            if l.clients[ri].held != l.node.dlm().held(r) {
                errs.push(format!(
                    "{r:?}: client on {:?} believes {:?}, its DLM holds {:?}",
                    l.node.id(),
                    l.clients[ri].held,
                    l.node.dlm().held(r)
                ));
            }
        }
    }
    errs
}

impl Sim<'_> {
    /// Safety, after every event: among live nodes whose PR key is registered, no two local
    /// users hold incompatible modes on one resource.
    pub(super) fn check_safety(&mut self) {
        for r in 0..self.res.len() {
            self.holders.clear();
            for (i, n) in self.nodes.iter().enumerate() {
                if n.node.is_some() && self.disk.is_registered(i) {
                    if let Some(m) = self.clients[i][r].held {
                        self.holders.push((n.id, m));
                    }
                }
            }
            if let Some((a, b)) = incompatible_pair(&self.holders) {
                let name = self.res[r].clone();
                self.fail(format!(
                    "incompatible grants on {name:?}: {:?} holds {} while {:?} holds {}",
                    a.0, a.1, b.0, b.1
                ));
                return;
            }
        }
    }

    pub(super) fn settled(&self) -> bool {
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

    pub(super) fn final_check(&mut self) {
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
        let errs = check_quiesced(&live, &down, &self.res);
        if !errs.is_empty() {
            self.fail(format!("after heal and quiesce: {}", errs.join("; ")));
        }
        for n in self.nodes.iter().filter_map(|n| n.node.as_ref()) {
            self.stats.cached_grants += n.dlm().stats().cached_grants;
        }
    }
}
