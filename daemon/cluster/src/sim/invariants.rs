//! The properties the simulator checks. Safety ones after every step, liveness ones once the
//! network has healed and the cluster has quiesced.

use super::client::{Client, ClientState};
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
