//! Requester side: local requests, the cached-lock fast path, grants and BASTs from masters.

use crate::messages::{DlmMsg, RefuseReason};
use crate::mode::Mode;
use crate::view::{NodeId, ResName};
use crate::Time;

use super::{DlmAction, DlmNode, FailReason, LocalError, PeerError};

impl DlmNode {
    /// Serves queued local requests in order: from the cached lock when it covers them (no
    /// message), otherwise by one conversion request to the master. While a BAST for the held
    /// mode is outstanding, the cache serves nobody new (the waiter on another node goes
    /// first), except the request the master's grant just answered; that delivery repeats
    /// the BAST, because the local client may not have known the mode the BAST was about.
    pub(super) fn pump(&mut self, now: Time, res: &ResName, out: &mut Vec<DlmAction>) {
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

    pub(super) fn pump_lease_blocked(&mut self, now: Time, out: &mut Vec<DlmAction>) {
        if self.lease_blocked.is_empty() || !self.lease_ok(now) {
            return;
        }
        for res in std::mem::take(&mut self.lease_blocked) {
            self.pump(now, &res, out);
        }
    }

    pub(super) fn local_down_convert(
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

    pub(super) fn on_grant(
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

    pub(super) fn on_bast(&mut self, res: ResName, blocking: Mode, out: &mut Vec<DlmAction>) {
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

    pub(super) fn on_refuse(
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
}
