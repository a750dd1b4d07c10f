//! The simulated shared disk: heartbeat slots and SCSI PR registrations. Only registered nodes
//! can write or preempt, as with WRITE EXCLUSIVE - REGISTRANTS ONLY: a preempted node's next
//! write fails, and a preempted node cannot preempt anyone back.

use crate::membership::DiskSlot;

#[derive(Clone, Debug)]
pub struct Disk {
    slots: Vec<Option<DiskSlot>>,
    registered: Vec<bool>,
}

impl Disk {
    pub fn new(nodes: usize) -> Disk {
        Disk {
            slots: vec![None; nodes],
            registered: vec![false; nodes],
        }
    }

    pub fn register(&mut self, i: usize) {
        self.registered[i] = true;
    }

    pub fn is_registered(&self, i: usize) -> bool {
        self.registered[i]
    }

    pub fn write(&mut self, i: usize, slot: DiskSlot) -> bool {
        if self.registered[i] {
            self.slots[i] = Some(slot);
        }
        self.registered[i]
    }

    pub fn slots(&self) -> impl Iterator<Item = (usize, DiskSlot)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
    }

    /// PR PREEMPT of `victim`'s key by `by`; fails if `by` is not registered itself.
    pub fn preempt(&mut self, by: usize, victim: usize) -> bool {
        if !self.registered[by] {
            return false;
        }
        self.registered[victim] = false;
        true
    }
}
