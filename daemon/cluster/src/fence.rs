//! Fencing orchestration, as data: the order of the steps is a constant, each step is an action
//! for the driver (or an internal hand-off to the DLM), and a step starts only when the previous
//! one has reported completion.
//!
//! 1. `Preempt`: SCSI PR PREEMPT (AND ABORT) of the victim's key. From here on the storage
//!    rejects its I/O. If our own preempt is rejected, our key is gone: we are the fenced one.
//! 2. `PurgeDisk`: clear the victim's lock records in the on-disk lockstate.
//! 3. `PurgeDlm`: drop its in-memory locks and promote waiters (`DlmInput::NodeFenced`).
//! 4. `Takeover`: if it was the owner, call the owner-takeover hook (mount XFS, log recovery).

use std::collections::BTreeMap;

use crate::view::NodeId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FenceStep {
    Preempt,
    PurgeDisk,
    PurgeDlm,
    Takeover,
    Done,
}

/// The fixed order. Nothing may purge a node's locks before its I/O is cut off.
pub const FENCE_SEQUENCE: [FenceStep; 5] = [
    FenceStep::Preempt,
    FenceStep::PurgeDisk,
    FenceStep::PurgeDlm,
    FenceStep::Takeover,
    FenceStep::Done,
];

/// What a fencing step asks of the node's driver or of the DLM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceAction {
    /// Driver: PR preempt the victim; answer with `Fencer::preempted`.
    Preempt(NodeId),
    /// Driver: clear the victim's disk lock records; answer with `Fencer::disk_purged`.
    PurgeDisk(NodeId),
    /// DLM: purge the victim's locks (immediate, no answer needed).
    PurgeDlm(NodeId),
    /// Driver: the victim was the owner; start the takeover.
    Takeover(NodeId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    step: FenceStep,
    takeover: bool,
}

/// Our own preempt was refused: our key is gone and we must stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeAreFenced;

/// Fencing plans in progress or done, per victim.
#[derive(Clone, Debug, Default)]
pub struct Fencer {
    plans: BTreeMap<NodeId, Plan>,
}

impl Fencer {
    /// Starts fencing `victim` unless already under way. `takeover`: the victim was the owner.
    pub fn start(&mut self, victim: NodeId, takeover: bool, out: &mut Vec<FenceAction>) {
        if self.plans.contains_key(&victim) {
            return;
        }
        self.plans.insert(
            victim,
            Plan {
                step: FenceStep::Preempt,
                takeover,
            },
        );
        out.push(FenceAction::Preempt(victim));
    }

    pub fn preempted(
        &mut self,
        victim: NodeId,
        ok: bool,
        out: &mut Vec<FenceAction>,
    ) -> Result<(), WeAreFenced> {
        let Some(p) = self
            .plans
            .get_mut(&victim)
            .filter(|p| p.step == FenceStep::Preempt)
        else {
            return Ok(());
        };
        if !ok {
            return Err(WeAreFenced);
        }
        p.step = FenceStep::PurgeDisk;
        out.push(FenceAction::PurgeDisk(victim));
        Ok(())
    }

    pub fn disk_purged(&mut self, victim: NodeId, out: &mut Vec<FenceAction>) {
        let Some(p) = self
            .plans
            .get_mut(&victim)
            .filter(|p| p.step == FenceStep::PurgeDisk)
        else {
            return;
        };
        p.step = FenceStep::PurgeDlm;
        out.push(FenceAction::PurgeDlm(victim));
        p.step = FenceStep::Takeover;
        if p.takeover {
            out.push(FenceAction::Takeover(victim));
        }
        p.step = FenceStep::Done;
    }

    pub fn step(&self, victim: NodeId) -> Option<FenceStep> {
        self.plans.get(&victim).map(|p| p.step)
    }

    pub fn is_done(&self, victim: NodeId) -> bool {
        self.step(victim) == Some(FenceStep::Done)
    }

    /// Nodes fully fenced (every step done).
    pub fn done(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.plans
            .iter()
            .filter(|(_, p)| p.step == FenceStep::Done)
            .map(|(n, _)| *n)
    }

    pub fn in_progress(&self) -> bool {
        self.plans.values().any(|p| p.step != FenceStep::Done)
    }

    /// Forget everything (after a new view excluded the victims).
    pub fn clear(&mut self) {
        self.plans.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_in_order_and_only_on_completion() {
        let v = NodeId(7);
        let mut f = Fencer::default();
        let mut out = Vec::new();
        f.start(v, true, &mut out);
        f.start(v, true, &mut out); // idempotent
        assert_eq!(out, vec![FenceAction::Preempt(v)]);
        out.clear();
        // Disk purge before the preempt completed is ignored.
        f.disk_purged(v, &mut out);
        assert!(out.is_empty());
        f.preempted(v, true, &mut out).unwrap();
        assert_eq!(out, vec![FenceAction::PurgeDisk(v)]);
        out.clear();
        f.disk_purged(v, &mut out);
        assert_eq!(
            out,
            vec![FenceAction::PurgeDlm(v), FenceAction::Takeover(v)]
        );
        assert!(f.is_done(v) && !f.in_progress());
        assert_eq!(FENCE_SEQUENCE[0], FenceStep::Preempt);
    }

    #[test]
    fn refused_preempt_means_we_are_the_fenced_one() {
        let mut f = Fencer::default();
        let mut out = Vec::new();
        f.start(NodeId(1), false, &mut out);
        assert_eq!(f.preempted(NodeId(1), false, &mut out), Err(WeAreFenced));
    }
}
