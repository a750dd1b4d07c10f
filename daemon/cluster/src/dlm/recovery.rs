//! Membership events: a new view (re-mastering and rebuild from reports), a fenced node, stop.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::messages::{DlmMsg, ReportEntry};
use crate::view::{NodeId, ResName, View};
use crate::Time;

use super::resource::Resource;
use super::{Bug, DlmAction, DlmNode, FailReason, PeerError, Phase, Recovery};

impl DlmNode {
    pub(super) fn on_view(&mut self, now: Time, view: Arc<View>, out: &mut Vec<DlmAction>) {
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

    pub(super) fn on_report(
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

    pub(super) fn try_finish_recovery(&mut self, out: &mut Vec<DlmAction>) {
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

    pub(super) fn on_fenced(&mut self, _now: Time, node: NodeId, out: &mut Vec<DlmAction>) {
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

    pub(super) fn stop(&mut self, out: &mut Vec<DlmAction>) {
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
}
