//! Requester-side state of one resource on one node: the node-level lock that all local users
//! share (the kernel's lock-cache holds one cluster lock per inode per node).

use std::collections::VecDeque;

use crate::mode::Mode;

use super::ReqId;

#[derive(Clone, Debug, Default)]
pub struct LocalLock {
    /// What the master believes this node holds; this is what recovery reports.
    pub held: Option<Mode>,
    /// Sequence number of the grant behind `held`.
    pub held_seq: u64,
    /// The one request in flight to the master: (seq, absolute mode).
    pub inflight: Option<(u64, Mode)>,
    /// Local requests not answered yet, FIFO.
    pub queue: VecDeque<(ReqId, Mode)>,
    /// Local users between grant and unlock (bookkeeping for status; the kernel decides when
    /// a blocking callback can be honoured).
    pub in_use: u32,
    /// Blocking callback received for the current `held` mode (reset when it changes).
    pub bast_seen: Option<Mode>,
    /// `held` comes from a master grant not yet delivered to the local request that asked.
    pub fresh_grant: bool,
}

impl LocalLock {
    /// Nothing held, asked for or in use: the entry can be dropped.
    pub fn is_empty(&self) -> bool {
        self.held.is_none() && self.inflight.is_none() && self.queue.is_empty() && self.in_use == 0
    }
}
