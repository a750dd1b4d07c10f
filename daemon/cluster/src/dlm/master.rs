//! Master side: message dispatch, requests and down-converts for mastered resources.

use crate::messages::{DlmMsg, RefuseReason};
use crate::view::{NodeId, ResName};
use crate::Time;

use super::resource::MasterOut;
use super::{Bug, DlmAction, DlmNode, PeerError, Phase};

impl DlmNode {
    pub(super) fn on_message(
        &mut self,
        now: Time,
        from: NodeId,
        msg: DlmMsg,
        out: &mut Vec<DlmAction>,
    ) {
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

    pub(super) fn master_handle(&mut self, from: NodeId, msg: DlmMsg, out: &mut Vec<DlmAction>) {
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
    pub(super) fn process(&mut self, res: &ResName, out: &mut Vec<DlmAction>) {
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
}
