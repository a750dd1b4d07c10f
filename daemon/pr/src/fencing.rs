//! The I/O side of fencing layer 1, driven by the pure sequencing of
//! `mxfs_cluster::fence::Fencer`: joining (register and make sure the LU is reserved), and
//! executing the fencer's `Preempt` action (preempt the victim's key, verify it is gone, keep
//! the reservation) and reporting completion back to the fencer.
//!
//! ```text
//!   Fencer::start(victim) ──> FenceAction::Preempt(victim)
//!        execute_preempt(): read keys ─> PREEMPT [AND ABORT] ─> read keys (victim gone?)
//!                           ─> reservation present? (else RESERVE) ─> Fencer::preempted(ok)
//!   Fencer ──> FenceAction::PurgeDisk(victim) ...   (the daemon's disk and DLM steps)
//! ```

use std::time::Duration;

use mxfs_cluster::fence::{FenceAction, Fencer};
use mxfs_cluster::NodeId;

use crate::device::{PrOps, RegisterVia, Registered};
use crate::error::{Op, PrError};
use crate::key::PrKey;
use crate::scsi::{preempt_abort_hazard, Inquiry, ReadKeys, Reservation, FENCING_TYPE};
use crate::watch::KeyWatch;

/// The PR key of a cluster node. Cluster node ids carry the node's 32-bit id (FNV-1a of its
/// uuid); an id that does not fit in 32 bits has no derivable key.
pub fn key_for_cluster_node(node: NodeId) -> Option<PrKey> {
    u32::try_from(node.0).ok().map(PrKey::for_node)
}

/// Whether to fence with PREEMPT AND ABORT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortPolicy {
    /// PREEMPT AND ABORT unless the target is known to mishandle it
    /// ([`crate::scsi::preempt_abort_hazard`]); plain PREEMPT if the target rejects it.
    Auto,
    Always,
    Never,
}

/// Decides PREEMPT AND ABORT for a target from its INQUIRY data (`None`: unknown). Returns
/// the decision and, when abort is not used, why.
pub fn decide_abort(
    policy: AbortPolicy,
    inquiry: Option<&Inquiry>,
) -> (bool, Option<&'static str>) {
    match policy {
        AbortPolicy::Always => (true, None),
        AbortPolicy::Never => (false, Some("PREEMPT AND ABORT disabled")),
        AbortPolicy::Auto => match inquiry.and_then(preempt_abort_hazard) {
            Some(why) => (false, Some(why)),
            None => (true, None),
        },
    }
}

/// After a plain PREEMPT (no ABORT), commands the victim queued at the target before the
/// preempt may still execute: recovery of the victim's journal should wait this long after
/// the preempt. PREEMPT AND ABORT aborts them and needs no wait. (The SCSI command timeout
/// Linux `sd` uses; SPC gives no bound, so this is a policy value, not a guarantee.)
pub const PLAIN_PREEMPT_SETTLE: Duration = Duration::from_secs(30);

/// How a victim's key came to be absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreemptOutcome {
    /// Our PREEMPT removed it (with ABORT when `aborted`); verified by a READ KEYS.
    Preempted { aborted: bool },
    /// It was already gone (another survivor preempted it first, or it left).
    AlreadyGone,
    /// Our own key is gone: we are the node being fenced. Stop all I/O.
    WeAreFenced,
}

/// The result of a successful preempt step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreemptReport {
    pub outcome: PreemptOutcome,
    /// PR generation of the verifying READ KEYS.
    pub generation: u32,
    /// The reservation as left by this step (ours after preempting the holder, or re-made).
    pub reservation: Option<Reservation>,
}

impl PreemptReport {
    /// How long recovery of the victim's state should wait after this step: nothing after a
    /// PREEMPT AND ABORT, [`PLAIN_PREEMPT_SETTLE`] otherwise (including `AlreadyGone`: whoever
    /// removed the key may have used a plain PREEMPT).
    pub fn settle_before_recovery(&self) -> Duration {
        match self.outcome {
            PreemptOutcome::Preempted { aborted: true } => Duration::ZERO,
            PreemptOutcome::WeAreFenced => Duration::ZERO,
            _ => PLAIN_PREEMPT_SETTLE,
        }
    }
}

/// Preempts `victim` with our key `own` on `dev`, then verifies the victim's key is gone and
/// the LU is still reserved WRITE EXCLUSIVE – REGISTRANTS ONLY.
///
/// `abort`: try PREEMPT AND ABORT first (also aborts the victim's queued commands); a target
/// that rejects it (tgt: INVALID FIELD, EINVAL) gets a plain PREEMPT. A RESERVATION CONFLICT
/// is disambiguated by reading the keys: our key gone means we are the fenced one; the victim
/// gone means another survivor won the race (SPC answers a PREEMPT of an unregistered key
/// with RESERVATION CONFLICT).
pub fn preempt_and_verify<P: PrOps + ?Sized>(
    dev: &P,
    own: PrKey,
    victim: PrKey,
    abort: bool,
) -> Result<PreemptReport, PrError> {
    if own == victim {
        return Err(PrError::Errno {
            op: Op::Preempt,
            errno: libc::EINVAL,
        });
    }
    let before = dev.read_keys()?;
    if let Some(done) = settled(&before, own, victim) {
        return finish(dev, own, done, before.generation);
    }
    let mut aborted = abort;
    let mut r = dev.preempt(own, victim, abort);
    if abort && matches!(&r, Err(e) if e.is_invalid_field() || e.is_not_supported()) {
        aborted = false;
        r = dev.preempt(own, victim, false);
    }
    match r {
        Ok(()) => {}
        Err(e) if e.is_conflict() => {
            let now = dev.read_keys()?;
            return match settled(&now, own, victim) {
                Some(done) => finish(dev, own, done, now.generation),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    }
    let after = dev.read_keys()?;
    if !after.contains(own) {
        return Ok(PreemptReport {
            outcome: PreemptOutcome::WeAreFenced,
            generation: after.generation,
            reservation: None,
        });
    }
    if after.contains(victim) {
        return Err(PrError::StillRegistered { key: victim });
    }
    finish(
        dev,
        own,
        PreemptOutcome::Preempted { aborted },
        after.generation,
    )
}

/// `Some` when the keys already decide the step without a PREEMPT.
fn settled(keys: &ReadKeys, own: PrKey, victim: PrKey) -> Option<PreemptOutcome> {
    if !keys.contains(own) {
        Some(PreemptOutcome::WeAreFenced)
    } else if !keys.contains(victim) {
        Some(PreemptOutcome::AlreadyGone)
    } else {
        None
    }
}

fn finish<P: PrOps + ?Sized>(
    dev: &P,
    own: PrKey,
    outcome: PreemptOutcome,
    generation: u32,
) -> Result<PreemptReport, PrError> {
    if outcome == PreemptOutcome::WeAreFenced {
        return Ok(PreemptReport {
            outcome,
            generation,
            reservation: None,
        });
    }
    let reservation = ensure_reserved(dev, own)?;
    Ok(PreemptReport {
        outcome,
        generation,
        reservation: Some(reservation),
    })
}

/// Makes sure the LU carries our reservation type, reserving it with `own` when it carries
/// none. A reservation of another type is refused (someone else manages this LU).
pub fn ensure_reserved<P: PrOps + ?Sized>(dev: &P, own: PrKey) -> Result<Reservation, PrError> {
    for _ in 0..3 {
        match dev.read_reservation()?.reservation {
            Some(r) if r.pr_type == FENCING_TYPE => return Ok(r),
            Some(r) => {
                return Err(PrError::ForeignReservation {
                    key: r.key,
                    type_name: r.pr_type.name(),
                })
            }
            None => match dev.reserve(own) {
                // Lost a race with another node's RESERVE: read again.
                Ok(()) | Err(PrError::ReservationConflict { .. }) => {}
                Err(e) => return Err(e),
            },
        }
    }
    Err(PrError::ReservationConflict { op: Op::Reserve })
}

/// What [`join`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinReport {
    pub registered: Registered,
    pub reservation: Reservation,
    pub generation: u32,
}

/// Joins the LU on one path: registers `own` (the explicit action that a key watch never
/// takes by itself), makes sure the LU is reserved WRITE EXCLUSIVE – REGISTRANTS ONLY, and
/// verifies the key is visible. Returns the report and a key watch armed for this key.
/// Call it on every path of a multipath LU (registration is per I_T nexus).
pub fn join<P: PrOps + ?Sized>(
    dev: &P,
    own: PrKey,
    via: RegisterVia,
) -> Result<(JoinReport, KeyWatch), PrError> {
    let registered = dev.register(own, via)?;
    let reservation = ensure_reserved(dev, own)?;
    let keys = dev.read_keys()?;
    let mut watch = KeyWatch::registered(own);
    if watch.observe_keys(&keys).is_some() {
        // Preempted between our REGISTER and the READ KEYS.
        return Err(PrError::ReservationConflict { op: Op::Register });
    }
    Ok((
        JoinReport {
            registered,
            reservation,
            generation: keys.generation,
        },
        watch,
    ))
}

/// What the PR part of fencing one victim produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrStep {
    /// The preempt step completed (victim's key verified gone, LU reserved).
    Completed(PreemptReport),
    /// Our own key is gone: we are the fenced node. Stop all I/O; never re-register on our
    /// own.
    WeAreFenced,
    /// The step failed without a conclusion (I/O error, path failure, malformed reply, an
    /// unexplained conflict). Fencing stays at `Preempt`: run the step again after a delay.
    /// Fencing never skips ahead of a preempt that did not complete.
    Retry(PrError),
    /// This volume has no PR. The membership emits `Preempt` only once the victim has been
    /// silent for `fence_after`, past its lease and its self-fence threshold (layer 2), so the
    /// step is complete without any I/O (see docs/cluster.md, "The 2-node rule").
    NoPr,
    /// The victim's node id has no derivable key (see [`key_for_cluster_node`]); nothing can
    /// be preempted. Treated like `Retry` by [`fence_done`]: fencing does not proceed.
    NoKey(NodeId),
    /// Not a PR action; the daemon executes it (disk purge, DLM purge, takeover).
    NotOurs(FenceAction),
}

/// Runs the PR part of fencing `victim` on `dev` (`None`: the volume has no PR).
pub fn preempt_step<P: PrOps + ?Sized>(
    dev: Option<&P>,
    own: PrKey,
    victim: NodeId,
    abort: bool,
) -> PrStep {
    let Some(dev) = dev else {
        return PrStep::NoPr;
    };
    let Some(victim_key) = key_for_cluster_node(victim) else {
        return PrStep::NoKey(victim);
    };
    match preempt_and_verify(dev, own, victim_key, abort) {
        Ok(report) if report.outcome == PreemptOutcome::WeAreFenced => PrStep::WeAreFenced,
        Ok(report) => PrStep::Completed(report),
        Err(e) if e.is_not_supported() => PrStep::NoPr,
        Err(e) => PrStep::Retry(e),
    }
}

/// The answer to `mxfs_cluster::Output::Preempt { victim }` for `ClusterNode::handle`:
/// `FenceDone { ok: true }` when the step completed (or the volume has no PR), `ok: false`
/// when our own key is gone (the membership then self-fences), `None` when the step must be
/// run again later.
pub fn fence_done(victim: NodeId, step: &PrStep) -> Option<mxfs_cluster::Input> {
    let ok = match step {
        PrStep::Completed(_) | PrStep::NoPr => true,
        PrStep::WeAreFenced => false,
        PrStep::Retry(_) | PrStep::NoKey(_) | PrStep::NotOurs(_) => return None,
    };
    Some(mxfs_cluster::Input::FenceDone { victim, ok })
}

/// Executes `action` if it is a `Preempt` of `fencer`'s sequence, reporting completion to
/// `fencer` (whose follow-up actions go to `out`). For a daemon driving
/// `mxfs_cluster::ClusterNode`, use [`preempt_step`] and [`fence_done`] instead: the node
/// owns its fencer.
pub fn execute<P: PrOps + ?Sized>(
    fencer: &mut Fencer,
    action: FenceAction,
    dev: Option<&P>,
    own: PrKey,
    abort: bool,
    out: &mut Vec<FenceAction>,
) -> PrStep {
    let FenceAction::Preempt(victim) = action else {
        return PrStep::NotOurs(action);
    };
    let step = preempt_step(dev, own, victim, abort);
    match fence_done(victim, &step) {
        Some(mxfs_cluster::Input::FenceDone { ok, .. }) => {
            match fencer.preempted(victim, ok, out) {
                Ok(()) => step,
                Err(_) => PrStep::WeAreFenced,
            }
        }
        _ => step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Lun, Quirks};
    use crate::scsi::PrType;
    use mxfs_cluster::fence::FenceStep;

    fn two_nodes(quirks: Quirks) -> (Lun, crate::model::Path, crate::model::Path, PrKey, PrKey) {
        let lun = Lun::with_quirks(quirks);
        let (a, b) = (lun.path(), lun.path());
        let (ka, kb) = (PrKey::for_node(1), PrKey::for_node(2));
        join(&a, ka, RegisterVia::Auto).unwrap();
        join(&b, kb, RegisterVia::Auto).unwrap();
        (lun, a, b, ka, kb)
    }

    #[test]
    fn join_registers_reserves_and_arms_the_watch() {
        let lun = Lun::new();
        let a = lun.path();
        let ka = PrKey::for_node(1);
        let (report, watch) = join(&a, ka, RegisterVia::Auto).unwrap();
        assert_eq!(report.registered, Registered::IoctlAptpl);
        assert_eq!(
            report.reservation,
            Reservation {
                key: Some(ka),
                pr_type: FENCING_TYPE
            }
        );
        assert!(!watch.io_stopped());
        // A second node joins under the first one's reservation.
        let b = lun.path();
        let (report, _) = join(&b, PrKey::for_node(2), RegisterVia::Auto).unwrap();
        assert_eq!(report.reservation.key, Some(ka));
        // tgt-like target: the registration goes through SG_IO without APTPL.
        let lun = Lun::with_quirks(Quirks {
            rejects_aptpl: true,
            ..Quirks::default()
        });
        let (report, _) = join(&lun.path(), ka, RegisterVia::Auto).unwrap();
        assert_eq!(report.registered, Registered::SgIoNoAptpl);
    }

    #[test]
    fn preempting_the_holder_moves_the_reservation() {
        let (lun, a, b, ka, kb) = two_nodes(Quirks::default());
        let r = preempt_and_verify(&b, kb, ka, false).unwrap();
        assert_eq!(r.outcome, PreemptOutcome::Preempted { aborted: false });
        assert_eq!(
            r.reservation,
            Some(Reservation {
                key: Some(kb),
                pr_type: FENCING_TYPE
            })
        );
        assert_eq!(lun.keys(), vec![kb]);
        assert!(a.write().unwrap_err().is_conflict());
        // A's own attempt to fence B now tells A that it is the fenced one.
        assert_eq!(
            preempt_and_verify(&a, ka, kb, false).unwrap().outcome,
            PreemptOutcome::WeAreFenced
        );
    }

    #[test]
    fn abort_falls_back_on_targets_without_it() {
        let (_, _, b, ka, kb) = two_nodes(Quirks {
            no_preempt_abort: true,
            ..Quirks::default()
        });
        let r = preempt_and_verify(&b, kb, ka, true).unwrap();
        assert_eq!(r.outcome, PreemptOutcome::Preempted { aborted: false });
        let (_, _, b, ka, kb) = two_nodes(Quirks::default());
        let r = preempt_and_verify(&b, kb, ka, true).unwrap();
        assert_eq!(r.outcome, PreemptOutcome::Preempted { aborted: true });
    }

    #[test]
    fn two_survivors_racing_both_complete() {
        let lun = Lun::new();
        let paths: Vec<_> = (1..=3).map(|_| lun.path()).collect();
        for (i, p) in paths.iter().enumerate() {
            join(p, PrKey::for_node(i as u32 + 1), RegisterVia::Auto).unwrap();
        }
        let victim = PrKey::for_node(1);
        let r2 = preempt_and_verify(&paths[1], PrKey::for_node(2), victim, false).unwrap();
        // Node 3 read the keys before node 2's preempt, so its own PREEMPT gets a conflict.
        let stale = paths[2].read_keys().unwrap();
        assert!(!stale.contains(victim));
        let r3 = preempt_and_verify(&paths[2], PrKey::for_node(3), victim, false).unwrap();
        assert_eq!(r2.outcome, PreemptOutcome::Preempted { aborted: false });
        assert_eq!(r3.outcome, PreemptOutcome::AlreadyGone);
        assert_eq!(lun.reservation(), Some((PrKey::for_node(2), FENCING_TYPE)));
    }

    #[test]
    fn unexplained_conflict_is_an_error_not_a_conclusion() {
        let (lun, _, b, ka, kb) = two_nodes(Quirks::default());
        // A conflict while both keys are still registered proves nothing: retry later.
        lun.inject(
            Op::Preempt,
            PrError::ReservationConflict { op: Op::Preempt },
        );
        assert!(preempt_and_verify(&b, kb, ka, false)
            .unwrap_err()
            .is_conflict());
        assert!(lun.keys().contains(&ka));
        assert_eq!(
            preempt_and_verify(&b, kb, ka, false).unwrap().outcome,
            PreemptOutcome::Preempted { aborted: false }
        );
    }

    #[test]
    fn victim_already_gone_and_no_reservation_re_reserves() {
        let lun = Lun::new();
        let (a, b) = (lun.path(), lun.path());
        let (ka, kb) = (PrKey::for_node(1), PrKey::for_node(2));
        join(&a, ka, RegisterVia::Auto).unwrap();
        join(&b, kb, RegisterVia::Auto).unwrap();
        a.unregister(ka).unwrap(); // the holder left: no reservation any more
        assert_eq!(lun.reservation(), None);
        let r = preempt_and_verify(&b, kb, ka, false).unwrap();
        assert_eq!(r.outcome, PreemptOutcome::AlreadyGone);
        assert_eq!(lun.reservation(), Some((kb, FENCING_TYPE)));
    }

    #[test]
    fn foreign_reservation_is_refused() {
        let lun = Lun::new();
        let a = lun.path();
        let k = PrKey::new(0x1234).unwrap();
        a.register(k, RegisterVia::Auto).unwrap();
        lun.force_reservation(PrKey::new(0x99).unwrap(), PrType::ExclusiveAccess);
        let e = ensure_reserved(&a, k).unwrap_err();
        assert!(matches!(e, PrError::ForeignReservation { .. }), "{e}");
        assert!(join(&lun.path(), PrKey::for_node(1), RegisterVia::Auto).is_err());
        assert!(
            preempt_and_verify(&a, k, k, false).is_err(),
            "preempting oneself is refused"
        );
    }

    #[test]
    fn executor_drives_the_fencer() {
        let (lun, a, b, _, kb) = two_nodes(Quirks::default());
        let victim = NodeId(1);
        let mut fencer = Fencer::default();
        let mut out = Vec::new();
        fencer.start(victim, true, &mut out);
        assert_eq!(out, vec![FenceAction::Preempt(victim)]);
        let action = out.remove(0);

        // A transient failure leaves the fencer at Preempt.
        lun.inject(
            Op::ReadKeys,
            PrError::Errno {
                op: Op::ReadKeys,
                errno: libc::EIO,
            },
        );
        assert!(matches!(
            execute(&mut fencer, action, Some(&b), kb, true, &mut out),
            PrStep::Retry(_)
        ));
        assert!(out.is_empty());
        assert_eq!(fencer.step(victim), Some(FenceStep::Preempt));

        let step = execute(&mut fencer, action, Some(&b), kb, true, &mut out);
        assert!(matches!(
            step,
            PrStep::Completed(PreemptReport {
                outcome: PreemptOutcome::Preempted { aborted: true },
                ..
            })
        ));
        assert_eq!(out, vec![FenceAction::PurgeDisk(victim)]);
        assert!(a.write().unwrap_err().is_conflict());
        assert!(b.write().is_ok());

        // Other actions are not ours.
        let purge = out.remove(0);
        assert_eq!(
            execute(&mut fencer, purge, Some(&b), kb, true, &mut out),
            PrStep::NotOurs(purge)
        );
        // No PR on the volume: layer 2 timing already made the victim safe; the step is done.
        let mut f2 = Fencer::default();
        f2.start(NodeId(2), false, &mut out);
        out.clear();
        assert_eq!(
            execute::<crate::model::Path>(
                &mut f2,
                FenceAction::Preempt(NodeId(2)),
                None,
                kb,
                true,
                &mut out
            ),
            PrStep::NoPr
        );
        assert_eq!(out, vec![FenceAction::PurgeDisk(NodeId(2))]);
        out.clear();
        // A node id without a key: nothing proceeds.
        let big = NodeId(1 << 40);
        f2.start(big, false, &mut out);
        out.clear();
        assert_eq!(
            execute(
                &mut f2,
                FenceAction::Preempt(big),
                Some(&b),
                kb,
                true,
                &mut out
            ),
            PrStep::NoKey(big)
        );
        assert!(out.is_empty());
        assert_eq!(f2.step(big), Some(FenceStep::Preempt));
    }

    #[test]
    fn executor_on_the_fenced_node_reports_we_are_fenced() {
        let (_, a, b, ka, kb) = two_nodes(Quirks::default());
        preempt_and_verify(&b, kb, ka, false).unwrap();
        // Node 1 (A) now tries to fence node 2 (B): its own key is gone.
        let mut fencer = Fencer::default();
        let mut out = Vec::new();
        fencer.start(NodeId(2), false, &mut out);
        let step = execute(&mut fencer, out.remove(0), Some(&a), ka, false, &mut out);
        assert_eq!(step, PrStep::WeAreFenced);
        assert!(out.is_empty(), "nothing proceeds on the fenced node");
    }

    #[test]
    fn answers_for_the_cluster_node() {
        let (_, a, b, ka, kb) = two_nodes(Quirks::default());
        let step = preempt_step(Some(&b), kb, NodeId(1), false);
        assert!(matches!(step, PrStep::Completed(_)));
        assert_eq!(
            fence_done(NodeId(1), &step),
            Some(mxfs_cluster::Input::FenceDone {
                victim: NodeId(1),
                ok: true
            })
        );
        let step = preempt_step(Some(&a), ka, NodeId(2), false);
        assert_eq!(step, PrStep::WeAreFenced);
        assert_eq!(
            fence_done(NodeId(2), &step),
            Some(mxfs_cluster::Input::FenceDone {
                victim: NodeId(2),
                ok: false
            })
        );
        let step = preempt_step::<crate::model::Path>(None, kb, NodeId(1), false);
        assert_eq!(
            fence_done(NodeId(1), &step),
            Some(mxfs_cluster::Input::FenceDone {
                victim: NodeId(1),
                ok: true
            })
        );
        let retry = PrStep::Retry(PrError::Errno {
            op: Op::ReadKeys,
            errno: libc::EIO,
        });
        assert_eq!(fence_done(NodeId(1), &retry), None);
    }

    #[test]
    fn abort_policy() {
        let lio = Inquiry {
            device_type: 0,
            vendor: "LIO-ORG".into(),
            product: "FILEIO".into(),
            revision: "4.0".into(),
        };
        let other = Inquiry {
            vendor: "NETAPP".into(),
            ..lio.clone()
        };
        assert_eq!(decide_abort(AbortPolicy::Auto, Some(&other)), (true, None));
        assert!(!decide_abort(AbortPolicy::Auto, Some(&lio)).0);
        assert!(decide_abort(AbortPolicy::Auto, None).0);
        assert!(decide_abort(AbortPolicy::Always, Some(&lio)).0);
        assert!(!decide_abort(AbortPolicy::Never, Some(&other)).0);
        let r = |outcome| PreemptReport {
            outcome,
            generation: 0,
            reservation: None,
        };
        assert_eq!(
            r(PreemptOutcome::Preempted { aborted: true }).settle_before_recovery(),
            Duration::ZERO
        );
        assert_eq!(
            r(PreemptOutcome::Preempted { aborted: false }).settle_before_recovery(),
            PLAIN_PREEMPT_SETTLE
        );
        assert_eq!(
            r(PreemptOutcome::AlreadyGone).settle_before_recovery(),
            PLAIN_PREEMPT_SETTLE
        );
    }

    #[test]
    fn cluster_node_keys() {
        assert_eq!(key_for_cluster_node(NodeId(7)), Some(PrKey::for_node(7)));
        assert_eq!(key_for_cluster_node(NodeId(u64::from(u32::MAX) + 1)), None);
    }
}
