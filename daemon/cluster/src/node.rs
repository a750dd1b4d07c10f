//! One cluster node: membership, DLM and the DLM transport wired together behind a single
//! input/output interface. This is what `mxfsd` and the simulator drive.
//!
//! The wiring is where the ordering guarantees live: a new view resets the transport before the
//! DLM sends its recovery reports; the fencing sequence hands `PurgeDlm` to the DLM only after
//! the driver confirmed the preempt and the disk purge; the membership lease gates every local
//! grant; self-fencing stops the DLM, which fails every local request.

use std::sync::Arc;

use crate::config::Timing;
use crate::dlm::{DlmAction, DlmInput, DlmNode, FailReason, LocalError, PeerError, ReqId};
use crate::fence::FenceAction;
use crate::membership::{DiskSlot, MemberAction, MemberInput, Membership, SelfFenceReason};
use crate::messages::{Body, Packet};
use crate::mode::Mode;
use crate::transport::{Transport, TransportError};
use crate::view::{NodeId, ResName, View, ViewId};
use crate::Time;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Periodic; the driver calls it at least every `heartbeat_interval / 2`.
    Tick,
    Packet(Packet),
    /// Result of `Output::WriteDiskHeartbeat` for the slot with this counter.
    DiskWritten {
        counter: u64,
        ok: bool,
    },
    DiskObserved {
        node: NodeId,
        slot: DiskSlot,
    },
    /// Result of `Output::Preempt`.
    FenceDone {
        victim: NodeId,
        ok: bool,
    },
    /// Result of `Output::PurgeDiskLocks`.
    DiskPurged {
        victim: NodeId,
    },
    PeerDiscovered(NodeId),
    Owner(Option<NodeId>),
    Lock {
        req: ReqId,
        res: ResName,
        mode: Mode,
    },
    Unlock {
        res: ResName,
    },
    DownConvert {
        res: ResName,
        mode: Option<Mode>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send(Packet),
    WriteDiskHeartbeat(DiskSlot),
    /// SCSI PR preempt (and abort) of the victim's key; answer with `Input::FenceDone`.
    Preempt {
        victim: NodeId,
    },
    /// Clear the victim's disk lock records; answer with `Input::DiskPurged`.
    PurgeDiskLocks {
        victim: NodeId,
    },
    /// The fenced victim was the owner: take over (mount XFS, replay its log).
    OwnerTakeover {
        victim: NodeId,
    },
    DeclareDead(NodeId),
    /// Local grants are allowed strictly before `until`; past it the kernel must not start
    /// new cached operations (the daemon reports a lost lease).
    Lease {
        until: Time,
    },
    /// A new view is in force here (installed, and our registration proven on disk).
    NewView(Arc<View>),
    /// The DLM rebuilt its mastered state for this view.
    RecoveryDone(ViewId),
    /// Stop all I/O now: the kernel fails requests with EIO and shuts the lower XFS down.
    SelfFence(SelfFenceReason),
    Grant {
        req: ReqId,
        res: ResName,
        mode: Mode,
    },
    Bast {
        res: ResName,
        blocking: Mode,
    },
    Fail {
        req: ReqId,
        res: ResName,
        reason: FailReason,
    },
    Lost {
        res: ResName,
    },
    PeerError {
        from: NodeId,
        error: PeerError,
    },
    TransportError {
        from: NodeId,
        error: TransportError,
    },
}

#[derive(Debug)]
pub struct ClusterNode {
    me: NodeId,
    membership: Membership,
    dlm: DlmNode,
    transport: Transport,
}

impl ClusterNode {
    /// A freshly started node (no view). `incarnation` must differ for every start of the same
    /// node id (a boot nonce or a counter kept in the lockstate).
    pub fn new(timing: Timing, me: NodeId, incarnation: u64, now: Time) -> ClusterNode {
        let rto = timing.retransmit;
        ClusterNode {
            me,
            membership: Membership::new(timing, me, incarnation, now),
            dlm: DlmNode::new(me),
            transport: Transport::new(me, rto),
        }
    }

    pub fn id(&self) -> NodeId {
        self.me
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn dlm(&self) -> &DlmNode {
        &self.dlm
    }

    #[cfg(any(test, feature = "bug-injection"))]
    pub fn inject(&mut self, bug: crate::dlm::Bug) {
        self.dlm.inject(bug);
    }

    /// DLM messages sent but not yet acknowledged by their receivers.
    pub fn unacked(&self) -> usize {
        self.transport.unacked()
    }

    pub fn is_stopped(&self) -> bool {
        self.membership.is_stopped()
    }

    /// Feeds one input. `Err` only for misuse of the local lock API.
    pub fn handle(
        &mut self,
        now: Time,
        input: Input,
        out: &mut Vec<Output>,
    ) -> Result<(), LocalError> {
        match input {
            Input::Tick => {
                self.member(now, MemberInput::Tick, out);
                self.dlm_in(now, DlmInput::Tick, out)?;
                let mut pk = Vec::new();
                self.transport.poll(now, &mut pk);
                out.extend(pk.into_iter().map(Output::Send));
            }
            Input::Packet(p) => {
                if p.to != self.me || self.membership.is_stopped() {
                    return Ok(());
                }
                match p.body {
                    Body::Heartbeat(hb) => {
                        self.member(now, MemberInput::Heartbeat { from: p.from, hb }, out)
                    }
                    Body::Dlm(frame) => {
                        let (mut pk, mut delivered) = (Vec::new(), Vec::new());
                        if let Err(error) =
                            self.transport
                                .receive(p.from, frame, &mut pk, &mut delivered)
                        {
                            out.push(Output::TransportError {
                                from: p.from,
                                error,
                            });
                        }
                        out.extend(pk.into_iter().map(Output::Send));
                        for (from, msg) in delivered {
                            self.dlm_in(now, DlmInput::Message { from, msg }, out)?;
                        }
                    }
                }
            }
            Input::DiskWritten { counter, ok } => {
                self.member(now, MemberInput::DiskWritten { counter, ok }, out)
            }
            Input::DiskObserved { node, slot } => {
                self.member(now, MemberInput::DiskObserved { node, slot }, out)
            }
            Input::FenceDone { victim, ok } => {
                self.member(now, MemberInput::FenceDone { victim, ok }, out)
            }
            Input::DiskPurged { victim } => {
                self.member(now, MemberInput::DiskPurged { victim }, out)
            }
            Input::PeerDiscovered(n) => self.member(now, MemberInput::PeerDiscovered(n), out),
            Input::Owner(o) => self.member(now, MemberInput::Owner(o), out),
            Input::Lock { req, res, mode } => {
                self.dlm_in(now, DlmInput::Lock { req, res, mode }, out)?
            }
            Input::Unlock { res } => self.dlm_in(now, DlmInput::Unlock { res }, out)?,
            Input::DownConvert { res, mode } => {
                self.dlm_in(now, DlmInput::DownConvert { res, mode }, out)?
            }
        }
        Ok(())
    }

    fn member(&mut self, now: Time, input: MemberInput, out: &mut Vec<Output>) {
        let mut acts = Vec::new();
        self.membership.handle(now, input, &mut acts);
        for a in acts {
            // Membership-driven DLM inputs never come from the local API, so they cannot fail.
            let _ = self.on_member_action(now, a, out);
        }
    }

    fn on_member_action(
        &mut self,
        now: Time,
        a: MemberAction,
        out: &mut Vec<Output>,
    ) -> Result<(), LocalError> {
        match a {
            MemberAction::SendHeartbeat { to, hb } => out.push(Output::Send(Packet {
                from: self.me,
                to,
                body: Body::Heartbeat(hb),
            })),
            MemberAction::WriteDiskHeartbeat(slot) => out.push(Output::WriteDiskHeartbeat(slot)),
            MemberAction::Fence(FenceAction::Preempt(victim)) => {
                out.push(Output::Preempt { victim })
            }
            MemberAction::Fence(FenceAction::PurgeDisk(victim)) => {
                out.push(Output::PurgeDiskLocks { victim })
            }
            MemberAction::Fence(FenceAction::PurgeDlm(victim)) => {
                self.dlm_in(now, DlmInput::NodeFenced(victim), out)?
            }
            MemberAction::Fence(FenceAction::Takeover(victim)) => {
                out.push(Output::OwnerTakeover { victim })
            }
            MemberAction::DeclareDead(n) => out.push(Output::DeclareDead(n)),
            MemberAction::NewView(v) => {
                self.transport.reset(&v);
                out.push(Output::NewView(v.clone()));
                self.dlm_in(now, DlmInput::ViewChanged(v), out)?;
            }
            MemberAction::Lease { until } => {
                out.push(Output::Lease { until });
                self.dlm_in(now, DlmInput::Lease { until }, out)?;
            }
            MemberAction::SelfFence(why) => {
                self.transport.clear();
                self.dlm_in(now, DlmInput::Stop, out)?;
                out.push(Output::SelfFence(why));
            }
        }
        Ok(())
    }

    fn dlm_in(
        &mut self,
        now: Time,
        input: DlmInput,
        out: &mut Vec<Output>,
    ) -> Result<(), LocalError> {
        let mut acts = Vec::new();
        let r = self.dlm.handle(now, input, &mut acts);
        let mut pk = Vec::new();
        for a in acts {
            match a {
                DlmAction::Send { to, msg } => {
                    // A member missing from the transport means the view changed under us; the
                    // next view's recovery report carries the state, so dropping is correct.
                    self.transport.send(to, msg, now, &mut pk);
                }
                DlmAction::Grant { req, res, mode } => out.push(Output::Grant { req, res, mode }),
                DlmAction::Bast { res, blocking } => out.push(Output::Bast { res, blocking }),
                DlmAction::Fail { req, res, reason } => out.push(Output::Fail { req, res, reason }),
                DlmAction::Lost { res } => out.push(Output::Lost { res }),
                DlmAction::PeerError { from, error } => out.push(Output::PeerError { from, error }),
                DlmAction::RecoveryDone { view } => out.push(Output::RecoveryDone(view)),
            }
        }
        out.extend(pk.into_iter().map(Output::Send));
        r
    }
}

#[cfg(test)]
mod tests;
