//! The simulated network: per-packet loss, delay (so reordering), rare duplication and long
//! delays, group partitions and one-way link cuts. Decisions are taken when a packet is sent.

use std::collections::BTreeSet;

use super::rng::Rng;
use crate::Time;

#[derive(Clone, Debug)]
pub struct Network {
    pub loss: f64,
    pub dup: f64,
    pub min_delay: Time,
    pub max_delay: Time,
    /// Probability that a packet takes up to `slow_delay` instead.
    pub slow: f64,
    pub slow_delay: Time,
    group: Vec<u8>,
    cut: BTreeSet<(usize, usize)>,
}

impl Network {
    pub fn new(nodes: usize) -> Network {
        Network {
            loss: 0.0,
            dup: 0.0,
            min_delay: 1,
            max_delay: 10,
            slow: 0.0,
            slow_delay: 200,
            group: vec![0; nodes],
            cut: BTreeSet::new(),
        }
    }

    pub fn connected(&self, from: usize, to: usize) -> bool {
        self.group[from] == self.group[to] && !self.cut.contains(&(from, to))
    }

    /// Splits the nodes into groups that cannot talk to each other.
    pub fn partition(&mut self, group: Vec<u8>) {
        self.group = group;
    }

    /// Cuts one direction only: `from` can no longer reach `to`.
    pub fn cut(&mut self, from: usize, to: usize) {
        self.cut.insert((from, to));
    }

    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        self.cut.clear();
    }

    pub fn is_healed(&self) -> bool {
        self.group.iter().all(|g| *g == 0) && self.cut.is_empty()
    }

    /// Delivery delays for one packet: none if dropped, two if duplicated.
    pub fn deliveries(&self, from: usize, to: usize, rng: &mut Rng, out: &mut Vec<Time>) {
        out.clear();
        if !self.connected(from, to) || rng.chance(self.loss) {
            return;
        }
        let copies = if rng.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let d = if rng.chance(self.slow) {
                rng.range(self.max_delay, self.slow_delay)
            } else {
                rng.range(self.min_delay, self.max_delay)
            };
            out.push(d);
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "groups={:?} cuts={:?} loss={:.2}",
            self.group, self.cut, self.loss
        )
    }
}
