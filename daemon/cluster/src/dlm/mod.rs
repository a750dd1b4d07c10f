//! The distributed lock manager of one node, as a sans-I/O state machine.
//!
//! A node plays two roles at once: requester for its local users (the kernel's lock-cache) and
//! master for the resources the view assigns it (`View::master_of`). Inputs are [`DlmInput`]s,
//! effects are [`DlmAction`]s; messages to other nodes leave as `Send` and are carried by the
//! reliable per-view channel of [`crate::transport`], so handlers see each message once and in
//! order within a view.
//!
//! Phases: `Idle` (no view yet) → `Recovering` (view installed, rebuilding mastered state from
//! every member's report) → `Running`; `Stopped` after self-fencing, for good. Every new view
//! goes through `Recovering`, even for resources whose master did not move: one path, always
//! rebuilt from the holders, who are authoritative.
//!
//! Local grants (cached or fresh) are delivered only while the membership lease is valid, so a
//! node that may already have been fenced never tells a local user it holds a lock.

mod local;
mod master;
mod recovery;
mod requester;
pub mod resource;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::messages::{DlmMsg, RefuseReason, ReportEntry};
use crate::mode::Mode;
use crate::view::{NodeId, ResName, View, ViewId};
use crate::Time;

use local::LocalLock;
use resource::Resource;

/// Identifies one local request, chosen by the local client (the kernel's request id).
pub type ReqId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DlmInput {
    /// A local user wants `mode` on `res`.
    Lock {
        req: ReqId,
        res: ResName,
        mode: Mode,
    },
    /// A local user is done with `res`. The lock stays cached at its mode.
    Unlock { res: ResName },
    /// The local client honoured a BAST (wrote back, invalidated): now holds `mode`
    /// (None: released entirely). Also used to drop cached locks under memory pressure.
    DownConvert { res: ResName, mode: Option<Mode> },
    /// A message from a member, already ordered and deduplicated by the transport.
    Message { from: NodeId, msg: DlmMsg },
    /// Membership installed a new view: new epoch, re-mastering, recovery.
    ViewChanged(Arc<View>),
    /// Membership confirms the node is fenced: its locks may be purged and waiters promoted.
    NodeFenced(NodeId),
    /// Membership's lease: local grants are allowed strictly before this time.
    Lease { until: Time },
    /// Periodic; lets lease-blocked grants proceed.
    Tick,
    /// This node self-fenced: fail everything, forget every lock.
    Stop,
}

/// Why a local request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// This node stopped (self-fenced or excluded from the cluster).
    Stopped,
    /// The master refused it.
    Refused(RefuseReason),
}

/// A peer sent something that does not fit the protocol state. The message is dropped; the
/// error is reported for logging, never a panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    NotMember,
    Fenced,
    NotMaster(ResName),
    UnknownResource(ResName),
    StaleGrant(ResName),
    NotADownConvert,
    DuplicateReport,
    UnexpectedReport,
    /// Recovery reports claimed incompatible grants: the previous epoch was already unsafe.
    RecoveryConflict {
        res: ResName,
        a: NodeId,
        b: NodeId,
    },
}

/// Misuse of the local API (a kernel bug, not a peer's): returned, not acted upon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalError {
    NotHeld(ResName),
    NotADownConvert {
        res: ResName,
        held: Option<Mode>,
        wanted: Option<Mode>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DlmAction {
    Send {
        to: NodeId,
        msg: DlmMsg,
    },
    /// Tell the local client: request `req` holds `mode` (which covers what it asked).
    Grant {
        req: ReqId,
        res: ResName,
        mode: Mode,
    },
    /// Tell the local client: another node waits for `blocking`; down-convert when you can.
    Bast {
        res: ResName,
        blocking: Mode,
    },
    Fail {
        req: ReqId,
        res: ResName,
        reason: FailReason,
    },
    /// The local client must treat the lock on `res` as gone (stop: drop caches, EIO).
    Lost {
        res: ResName,
    },
    PeerError {
        from: NodeId,
        error: PeerError,
    },
    /// Mastered state of this view is rebuilt; new grants may flow.
    RecoveryDone {
        view: ViewId,
    },
}

/// Deliberate defects used to prove the simulator's checker can fail. They can only be switched
/// on in tests or with the `bug-injection` feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Masters grant without looking at the compatibility matrix.
    IgnoreCompat,
    /// Local grants ignore the membership lease.
    IgnoreLease,
    /// A new master starts granting before it has every member's report.
    SkipRecoveryWait,
    /// Masters never send blocking callbacks, so cached locks are never given back.
    DropBasts,
}

/// Counters for status output and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DlmStats {
    /// Local requests served from a cached lock without any message.
    pub cached_grants: u64,
    /// Requests sent to a master.
    pub requests_sent: u64,
    pub grants_by_master: u64,
    pub basts_sent: u64,
    pub recoveries: u64,
}

#[derive(Debug)]
struct Recovery {
    got: BTreeSet<NodeId>,
    reports: BTreeMap<ResName, Vec<(NodeId, ReportEntry)>>,
    inbox: Vec<(NodeId, DlmMsg)>,
}

#[derive(Debug)]
enum Phase {
    Idle,
    Recovering(Recovery),
    Running,
    Stopped,
}

#[derive(Debug)]
pub struct DlmNode {
    me: NodeId,
    view: Option<Arc<View>>,
    phase: Phase,
    locks: BTreeMap<ResName, LocalLock>,
    mastered: BTreeMap<ResName, Resource>,
    fenced: BTreeSet<NodeId>,
    lease_until: Time,
    lease_blocked: BTreeSet<ResName>,
    next_seq: u64,
    /// Messages addressed to this node itself, handled after the current input, in order.
    to_self: VecDeque<DlmMsg>,
    bug: Option<Bug>,
    stats: DlmStats,
}

impl DlmNode {
    pub fn new(me: NodeId) -> DlmNode {
        DlmNode {
            me,
            view: None,
            phase: Phase::Idle,
            locks: BTreeMap::new(),
            mastered: BTreeMap::new(),
            fenced: BTreeSet::new(),
            lease_until: 0,
            lease_blocked: BTreeSet::new(),
            next_seq: 1,
            to_self: VecDeque::new(),
            bug: None,
            stats: DlmStats::default(),
        }
    }

    #[cfg(any(test, feature = "bug-injection"))]
    pub fn inject(&mut self, bug: Bug) {
        self.bug = Some(bug);
    }

    fn has_bug(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// Feeds one input; effects are appended to `out`.
    pub fn handle(
        &mut self,
        now: Time,
        input: DlmInput,
        out: &mut Vec<DlmAction>,
    ) -> Result<(), LocalError> {
        let r = self.handle_one(now, input, out);
        while let Some(msg) = self.to_self.pop_front() {
            self.on_message(now, self.me, msg, out);
        }
        r
    }

    fn handle_one(
        &mut self,
        now: Time,
        input: DlmInput,
        out: &mut Vec<DlmAction>,
    ) -> Result<(), LocalError> {
        if matches!(self.phase, Phase::Stopped) {
            if let DlmInput::Lock { req, res, .. } = input {
                out.push(DlmAction::Fail {
                    req,
                    res,
                    reason: FailReason::Stopped,
                });
            }
            return Ok(());
        }
        match input {
            DlmInput::Lock { req, res, mode } => {
                let lease_ok = self.lease_ok(now);
                let ll = self.locks.entry(res.clone()).or_default();
                // Served from the cached lock without any message: the fast path.
                let bast = ll
                    .bast_seen
                    .is_some_and(|b| ll.held.is_some_and(|h| !h.compatible(b)));
                if ll.queue.is_empty()
                    && ll.held.is_some_and(|h| h.covers(mode))
                    && lease_ok
                    && !bast
                {
                    self.stats.cached_grants += 1;
                }
                ll.queue.push_back((req, mode));
                self.pump(now, &res, out);
            }
            DlmInput::Unlock { res } => {
                let Some(ll) = self.locks.get_mut(&res) else {
                    return Err(LocalError::NotHeld(res));
                };
                ll.in_use = ll.in_use.saturating_sub(1);
            }
            DlmInput::DownConvert { res, mode } => self.local_down_convert(now, res, mode, out)?,
            DlmInput::Message { from, msg } => self.on_message(now, from, msg, out),
            DlmInput::ViewChanged(view) => self.on_view(now, view, out),
            DlmInput::NodeFenced(node) => self.on_fenced(now, node, out),
            DlmInput::Lease { until } => {
                self.lease_until = until;
                self.pump_lease_blocked(now, out);
            }
            DlmInput::Tick => self.pump_lease_blocked(now, out),
            DlmInput::Stop => self.stop(out),
        }
        Ok(())
    }

    fn lease_ok(&self, now: Time) -> bool {
        self.has_bug(Bug::IgnoreLease) || now < self.lease_until
    }

    /// True once a view is installed: reports have gone out, so requests may follow them.
    fn can_talk(&self) -> bool {
        matches!(self.phase, Phase::Recovering(_) | Phase::Running)
    }

    fn send(&mut self, to: NodeId, msg: DlmMsg, out: &mut Vec<DlmAction>) {
        if to == self.me {
            self.to_self.push_back(msg);
        } else {
            out.push(DlmAction::Send { to, msg });
        }
    }

    fn master_of(&self, res: &ResName) -> Option<NodeId> {
        self.view.as_ref().and_then(|v| v.master_of(res))
    }

    pub fn view_id(&self) -> Option<ViewId> {
        self.view.as_ref().map(|v| v.id)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running)
    }

    pub fn is_stopped(&self) -> bool {
        matches!(self.phase, Phase::Stopped)
    }

    /// The mode this node holds on `res` as far as its master is concerned.
    pub fn held(&self, res: &ResName) -> Option<Mode> {
        self.locks.get(res).and_then(|l| l.held)
    }

    /// Local requests not yet answered, over all resources.
    pub fn outstanding(&self) -> usize {
        self.locks.values().map(|l| l.queue.len()).sum()
    }

    /// Granted (node, mode) pairs of a resource this node masters.
    pub fn master_granted(&self, res: &ResName) -> Vec<(NodeId, Mode)> {
        self.mastered
            .get(res)
            .map(|r| r.granted().iter().map(|g| (g.node, g.mode)).collect())
            .unwrap_or_default()
    }

    pub fn mastered(&self) -> impl Iterator<Item = &ResName> {
        self.mastered.keys()
    }

    pub fn held_locks(&self) -> impl Iterator<Item = (&ResName, Mode)> {
        self.locks
            .iter()
            .filter_map(|(r, l)| l.held.map(|m| (r, m)))
    }

    pub fn stats(&self) -> DlmStats {
        self.stats
    }
}

#[cfg(test)]
mod tests;
