//! What nodes say to each other. These are in-memory types; the byte encoding belongs to the
//! peer wire protocol in `uapi`, whose decoder hands over values of these types. Every handler
//! treats their contents as untrusted: unknown names, wrong sequence numbers or modes that do not
//! fit the state produce a [`crate::dlm::PeerError`], never a panic.

use std::sync::Arc;

use crate::mode::Mode;
use crate::view::{NodeId, ResName, View, ViewId};

/// Membership heartbeat, sent unreliably to every known peer each heartbeat interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub incarnation: u64,
    /// Sender's heartbeat counter (per incarnation).
    pub seq: u64,
    /// The newest heartbeat the sender has received from the addressee. Echoes turn one-way
    /// liveness into round trips, which is what leases are measured from.
    pub echo: Option<Echo>,
    /// The sender's installed view; how views spread (there is no separate install message).
    pub view: Option<Arc<View>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    pub incarnation: u64,
    pub seq: u64,
}

/// A node's knowledge of one of its locks, sent to the resource's new master during recovery.
/// Holders are authoritative: the master's state is rebuilt from these, never from memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportEntry {
    pub res: ResName,
    /// Granted mode and the request sequence number that produced it.
    pub held: Option<(Mode, u64)>,
    /// Outstanding request (mode, sequence number), if any.
    pub pending: Option<(Mode, u64)>,
}

/// Why a master refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefuseReason {
    /// The receiver is not the master of the resource in this view.
    NotMaster,
    /// The requester is fenced.
    Fenced,
}

/// DLM messages; they travel over [`crate::transport`]'s reliable per-view channel, so a DLM
/// handler sees each message once, in order, and only within the view it was sent in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DlmMsg {
    /// Recovery: everything the sender knows about the resources the receiver now masters.
    /// Sent exactly once per view to every member, possibly empty, so completeness is known.
    Report { entries: Vec<ReportEntry> },
    /// New lock or conversion to `mode` (absolute, not relative).
    Request { res: ResName, mode: Mode, seq: u64 },
    /// Master to requester: request `seq` is granted at `mode`.
    Grant { res: ResName, mode: Mode, seq: u64 },
    /// Master to holder: some node waits for `blocking`; please down-convert.
    Bast { res: ResName, blocking: Mode },
    /// Holder to master: now holding `mode` (None: released). `base` is the sequence number of
    /// the grant this applies to, so a down-convert that crossed a newer grant is ignored.
    DownConvert {
        res: ResName,
        mode: Option<Mode>,
        base: u64,
    },
    /// Master to requester: request `seq` will not be served.
    Refuse {
        res: ResName,
        seq: u64,
        reason: RefuseReason,
    },
}

/// Reliable-channel frame: data (seq > 0) and/or a cumulative acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub view: ViewId,
    /// 0 for a pure acknowledgement.
    pub seq: u64,
    /// Every frame up to and including this one has been received.
    pub ack: u64,
    pub msg: Option<DlmMsg>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Heartbeat(Heartbeat),
    Dlm(Frame),
}

/// One datagram-sized unit between two nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub from: NodeId,
    pub to: NodeId,
    pub body: Body,
}
