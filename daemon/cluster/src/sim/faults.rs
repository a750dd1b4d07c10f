//! Node lifecycle (start, crash, restart) and network fault injection.

use super::client::Client;
use super::{Ev, Sim};
use crate::node::{ClusterNode, Input};

impl Sim<'_> {
    pub(super) fn start(&mut self, i: usize) {
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

    pub(super) fn node_down(&mut self, i: usize, why: &str) {
        let id = self.nodes[i].id;
        self.nodes[i].node = None;
        self.clients[i] = vec![Client::new(); self.cfg.resources];
        self.log(|| format!("DOWN {id:?}: {why}"));
        self.after(500, 4_000, Ev::Restart(i));
    }

    pub(super) fn fault(&mut self) {
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
}
