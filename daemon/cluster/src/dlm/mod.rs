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
pub mod resource;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::messages::{DlmMsg, RefuseReason, ReportEntry};
use crate::mode::Mode;
use crate::view::{NodeId, ResName, View, ViewId};
use crate::Time;

use local::LocalLock;
use resource::{MasterOut, Resource};

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

    // ---- requester side ----

    /// Serves queued local requests in order: from the cached lock when it covers them (no
    /// message), otherwise by one conversion request to the master. While a BAST for the held
    /// mode is outstanding, the cache serves nobody new (the waiter on another node goes
    /// first), except the request the master's grant just answered; that delivery repeats
    /// the BAST, because the local client may not have known the mode the BAST was about.
    fn pump(&mut self, now: Time, res: &ResName, out: &mut Vec<DlmAction>) {
        let lease_ok = self.lease_ok(now);
        let can_talk = self.can_talk();
        let master = self.master_of(res);
        let Some(ll) = self.locks.get_mut(res) else {
            return;
        };
        let mut request = None;
        while let Some(&(req, want)) = ll.queue.front() {
            let blocking = ll
                .bast_seen
                .filter(|b| ll.held.is_some_and(|h| !h.compatible(*b)));
            if let Some(held) = ll.held.filter(|h| h.covers(want)) {
                if blocking.is_some() && !ll.fresh_grant {
                    break;
                }
                if !lease_ok {
                    self.lease_blocked.insert(res.clone());
                    break;
                }
                ll.queue.pop_front();
                ll.in_use += 1;
                ll.fresh_grant = false;
                out.push(DlmAction::Grant {
                    req,
                    res: res.clone(),
                    mode: held,
                });
                if let Some(b) = blocking {
                    out.push(DlmAction::Bast {
                        res: res.clone(),
                        blocking: b,
                    });
                }
                continue;
            }
            if ll.inflight.is_none() && can_talk {
                if let Some(m) = master {
                    let target = ll.held.map_or(want, |h| h.join(want));
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    ll.inflight = Some((seq, target));
                    request = Some((
                        m,
                        DlmMsg::Request {
                            res: res.clone(),
                            mode: target,
                            seq,
                        },
                    ));
                }
            }
            break;
        }
        if let Some((m, msg)) = request {
            self.stats.requests_sent += 1;
            self.send(m, msg, out);
        }
    }

    fn pump_lease_blocked(&mut self, now: Time, out: &mut Vec<DlmAction>) {
        if self.lease_blocked.is_empty() || !self.lease_ok(now) {
            return;
        }
        for res in std::mem::take(&mut self.lease_blocked) {
            self.pump(now, &res, out);
        }
    }

    fn local_down_convert(
        &mut self,
        now: Time,
        res: ResName,
        mode: Option<Mode>,
        out: &mut Vec<DlmAction>,
    ) -> Result<(), LocalError> {
        let Some(ll) = self.locks.get_mut(&res) else {
            return Err(LocalError::NotHeld(res));
        };
        let ok = match (ll.held, mode) {
            (Some(_), None) => true,
            (Some(h), Some(m)) => h.covers(m),
            (None, _) => false,
        };
        if !ok {
            return Err(LocalError::NotADownConvert {
                res,
                held: ll.held,
                wanted: mode,
            });
        }
        ll.held = mode;
        ll.bast_seen = None;
        ll.fresh_grant = false;
        let base = ll.held_seq;
        if ll.is_empty() {
            self.locks.remove(&res);
        }
        // Without a view there is no master to tell; the next view's report carries it.
        if self.can_talk() {
            if let Some(m) = self.master_of(&res) {
                self.send(
                    m,
                    DlmMsg::DownConvert {
                        res: res.clone(),
                        mode,
                        base,
                    },
                    out,
                );
            }
        }
        // Requests that waited for this yield now go to the master, behind the waiter.
        self.pump(now, &res, out);
        Ok(())
    }

    fn on_grant(
        &mut self,
        now: Time,
        from: NodeId,
        res: ResName,
        mode: Mode,
        seq: u64,
        out: &mut Vec<DlmAction>,
    ) {
        let Some(ll) = self
            .locks
            .get_mut(&res)
            .filter(|ll| ll.inflight.map(|f| f.0) == Some(seq))
        else {
            out.push(DlmAction::PeerError {
                from,
                error: PeerError::StaleGrant(res),
            });
            return;
        };
        ll.held = Some(mode);
        ll.held_seq = seq;
        ll.inflight = None;
        ll.bast_seen = None;
        ll.fresh_grant = true;
        self.pump(now, &res, out);
    }

    fn on_bast(&mut self, res: ResName, blocking: Mode, out: &mut Vec<DlmAction>) {
        let Some(ll) = self.locks.get_mut(&res) else {
            return;
        };
        match ll.held {
            Some(h) if !h.compatible(blocking) && ll.bast_seen != Some(blocking) => {
                ll.bast_seen = Some(blocking);
                out.push(DlmAction::Bast { res, blocking });
            }
            // Already down-converted, or already told: nothing to do.
            _ => {}
        }
    }

    fn on_refuse(
        &mut self,
        now: Time,
        from: NodeId,
        res: ResName,
        seq: u64,
        reason: RefuseReason,
        out: &mut Vec<DlmAction>,
    ) {
        let Some(ll) = self
            .locks
            .get_mut(&res)
            .filter(|ll| ll.inflight.map(|f| f.0) == Some(seq))
        else {
            out.push(DlmAction::PeerError {
                from,
                error: PeerError::StaleGrant(res),
            });
            return;
        };
        ll.inflight = None;
        let held = ll.held;
        let mut failed = Vec::new();
        ll.queue.retain(|(req, want)| {
            let keep = held.is_some_and(|h| h.covers(*want));
            if !keep {
                failed.push(*req);
            }
            keep
        });
        for req in failed {
            out.push(DlmAction::Fail {
                req,
                res: res.clone(),
                reason: FailReason::Refused(reason),
            });
        }
        if self.locks.get(&res).is_some_and(|ll| ll.is_empty()) {
            self.locks.remove(&res);
        }
        self.pump(now, &res, out);
    }

    // ---- master side ----

    fn on_message(&mut self, now: Time, from: NodeId, msg: DlmMsg, out: &mut Vec<DlmAction>) {
        if matches!(self.phase, Phase::Stopped | Phase::Idle) {
            return;
        }
        if from != self.me {
            if self.fenced.contains(&from) {
                out.push(DlmAction::PeerError {
                    from,
                    error: PeerError::Fenced,
                });
                return;
            }
            if !self.view.as_ref().is_some_and(|v| v.contains(from)) {
                out.push(DlmAction::PeerError {
                    from,
                    error: PeerError::NotMember,
                });
                return;
            }
        }
        match msg {
            DlmMsg::Grant { res, mode, seq } => self.on_grant(now, from, res, mode, seq, out),
            DlmMsg::Bast { res, blocking } => self.on_bast(res, blocking, out),
            DlmMsg::Refuse { res, seq, reason } => self.on_refuse(now, from, res, seq, reason, out),
            DlmMsg::Report { entries } => self.on_report(now, from, entries, out),
            msg @ (DlmMsg::Request { .. } | DlmMsg::DownConvert { .. }) => match &mut self.phase {
                // Nothing is granted before the rebuild: park until every report is in.
                Phase::Recovering(r) => r.inbox.push((from, msg)),
                _ => self.master_handle(from, msg, out),
            },
        }
    }

    fn master_handle(&mut self, from: NodeId, msg: DlmMsg, out: &mut Vec<DlmAction>) {
        match msg {
            DlmMsg::Request { res, mode, seq } => {
                if self.master_of(&res) != Some(self.me) {
                    out.push(DlmAction::PeerError {
                        from,
                        error: PeerError::NotMaster(res.clone()),
                    });
                    self.send(
                        from,
                        DlmMsg::Refuse {
                            res,
                            seq,
                            reason: RefuseReason::NotMaster,
                        },
                        out,
                    );
                    return;
                }
                self.mastered
                    .entry(res.clone())
                    .or_default()
                    .request(from, mode, seq);
                self.process(&res, out);
            }
            DlmMsg::DownConvert { res, mode, base } => {
                let Some(r) = self.mastered.get_mut(&res) else {
                    out.push(DlmAction::PeerError {
                        from,
                        error: PeerError::UnknownResource(res),
                    });
                    return;
                };
                match r.down_convert(from, mode, base) {
                    Ok(_) => self.process(&res, out),
                    Err(e) => out.push(DlmAction::PeerError { from, error: e }),
                }
            }
            _ => {}
        }
    }

    /// Runs the queue rules of one mastered resource and sends what they produce.
    fn process(&mut self, res: &ResName, out: &mut Vec<DlmAction>) {
        let ignore_compat = self.has_bug(Bug::IgnoreCompat);
        let Some(r) = self.mastered.get_mut(res) else {
            return;
        };
        let mut mo = Vec::new();
        r.process(ignore_compat, &mut mo);
        if r.is_idle() {
            self.mastered.remove(res);
        }
        for o in mo {
            match o {
                MasterOut::Grant { node, mode, seq } => {
                    self.stats.grants_by_master += 1;
                    self.send(
                        node,
                        DlmMsg::Grant {
                            res: res.clone(),
                            mode,
                            seq,
                        },
                        out,
                    );
                }
                MasterOut::Bast { .. } if self.bug == Some(Bug::DropBasts) => {}
                MasterOut::Bast { node, blocking } => {
                    self.stats.basts_sent += 1;
                    self.send(
                        node,
                        DlmMsg::Bast {
                            res: res.clone(),
                            blocking,
                        },
                        out,
                    );
                }
            }
        }
    }

    // ---- membership events and recovery ----

    fn on_view(&mut self, now: Time, view: Arc<View>, out: &mut Vec<DlmAction>) {
        if !view.contains(self.me) {
            return;
        }
        self.view = Some(view.clone());
        self.mastered.clear();
        self.fenced.clear();
        self.stats.recoveries += 1;
        // Old-epoch messages to ourselves die with the epoch, like those on the wire.
        self.to_self.clear();
        self.phase = Phase::Recovering(Recovery {
            got: BTreeSet::new(),
            reports: BTreeMap::new(),
            inbox: Vec::new(),
        });
        let mut per_master: BTreeMap<NodeId, Vec<ReportEntry>> =
            view.nodes().map(|n| (n, Vec::new())).collect();
        for (res, ll) in self.locks.iter_mut() {
            ll.bast_seen = None;
            if ll.held.is_none() && ll.inflight.is_none() {
                continue;
            }
            if let Some(m) = view.master_of(res) {
                per_master.entry(m).or_default().push(ReportEntry {
                    res: res.clone(),
                    held: ll.held.map(|h| (h, ll.held_seq)),
                    pending: ll.inflight.map(|(seq, mode)| (mode, seq)),
                });
            }
        }
        // Every member gets a report, even an empty one: completeness is what masters wait for.
        for (m, entries) in per_master {
            self.send(m, DlmMsg::Report { entries }, out);
        }
        let names: Vec<ResName> = self.locks.keys().cloned().collect();
        for res in names {
            self.pump(now, &res, out);
        }
    }

    fn on_report(
        &mut self,
        _now: Time,
        from: NodeId,
        entries: Vec<ReportEntry>,
        out: &mut Vec<DlmAction>,
    ) {
        let me = self.me;
        let view = self.view.clone();
        let Phase::Recovering(r) = &mut self.phase else {
            out.push(DlmAction::PeerError {
                from,
                error: PeerError::UnexpectedReport,
            });
            return;
        };
        if !r.got.insert(from) {
            out.push(DlmAction::PeerError {
                from,
                error: PeerError::DuplicateReport,
            });
            return;
        }
        for e in entries {
            if view.as_ref().and_then(|v| v.master_of(&e.res)) != Some(me) {
                out.push(DlmAction::PeerError {
                    from,
                    error: PeerError::NotMaster(e.res),
                });
                continue;
            }
            let list = r.reports.entry(e.res.clone()).or_default();
            if list.iter().any(|(n, _)| *n == from) {
                out.push(DlmAction::PeerError {
                    from,
                    error: PeerError::DuplicateReport,
                });
                continue;
            }
            list.push((from, e));
        }
        self.try_finish_recovery(out);
    }

    fn try_finish_recovery(&mut self, out: &mut Vec<DlmAction>) {
        let Some(view) = self.view.clone() else {
            return;
        };
        let skip_wait = self.has_bug(Bug::SkipRecoveryWait);
        let Phase::Recovering(r) = &mut self.phase else {
            return;
        };
        if !skip_wait && !view.nodes().all(|n| r.got.contains(&n)) {
            return;
        }
        let Phase::Recovering(r) = std::mem::replace(&mut self.phase, Phase::Running) else {
            return;
        };
        for (res, entries) in r.reports {
            let (resource, conflict) = Resource::rebuild(entries);
            if let Some((a, b)) = conflict {
                out.push(DlmAction::PeerError {
                    from: a,
                    error: PeerError::RecoveryConflict {
                        res: res.clone(),
                        a,
                        b,
                    },
                });
            }
            self.mastered.insert(res, resource);
        }
        out.push(DlmAction::RecoveryDone { view: view.id });
        let names: Vec<ResName> = self.mastered.keys().cloned().collect();
        for res in names {
            self.process(&res, out);
        }
        for (from, msg) in r.inbox {
            if !self.fenced.contains(&from) {
                self.master_handle(from, msg, out);
            }
        }
    }

    fn on_fenced(&mut self, _now: Time, node: NodeId, out: &mut Vec<DlmAction>) {
        if node == self.me || !self.fenced.insert(node) {
            return;
        }
        match &mut self.phase {
            Phase::Recovering(r) => {
                // A fenced member's locks are void: it no longer needs to report.
                r.got.insert(node);
                for list in r.reports.values_mut() {
                    list.retain(|(n, _)| *n != node);
                }
                r.inbox.retain(|(n, _)| *n != node);
                self.try_finish_recovery(out);
            }
            Phase::Running => {
                let names: Vec<ResName> = self.mastered.keys().cloned().collect();
                for res in names {
                    if let Some(r) = self.mastered.get_mut(&res) {
                        r.purge(node);
                    }
                    self.process(&res, out);
                }
            }
            Phase::Idle | Phase::Stopped => {}
        }
    }

    fn stop(&mut self, out: &mut Vec<DlmAction>) {
        for (res, ll) in std::mem::take(&mut self.locks) {
            for (req, _) in ll.queue {
                out.push(DlmAction::Fail {
                    req,
                    res: res.clone(),
                    reason: FailReason::Stopped,
                });
            }
            if ll.held.is_some() {
                out.push(DlmAction::Lost { res });
            }
        }
        self.mastered.clear();
        self.lease_blocked.clear();
        self.to_self.clear();
        self.view = None;
        self.phase = Phase::Stopped;
    }

    // ---- inspection (status, tests, simulator checks) ----

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
