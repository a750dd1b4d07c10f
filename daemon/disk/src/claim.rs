//! The heartbeat-slot claim protocol, as a pure state machine.
//!
//! [`Claimer`] does no I/O and reads no clock: it returns [`Action`]s (read a slot, write a
//! slot, wait) and is fed [`Event`]s with the caller's monotonic time in milliseconds. The
//! same machine runs against the real device (`LockstateFile::claim_slot`) and against the
//! simulated disk in the race tests.
//!
//! # Protocol
//!
//! 1. **Scan** every slot.
//! 2. **Observe** when needed: a slot holding our own uuid (a previous incarnation of this
//!    node), a slot of another live-looking node with our node id, or, when no slot is free,
//!    every held slot, is re-read after `dead_after`. A slot whose (generation, state,
//!    sequence, nonce) changed is live; one that did not is stale and may be reclaimed.
//!    Our own uuid live means this node already runs; another uuid with our id live is a
//!    node-id collision. Both fail with a clear error.
//! 3. Pick a target (our stale slot, a stale colliding slot, the lowest free slot, the lowest
//!    stale slot) and **verify** it: re-read it and require it unchanged since we judged it.
//! 4. **Claim**: write `Claiming` with a fresh random nonce and generation + 1. If the time
//!    from issuing the verify read to completing this write exceeds `rw_bound` (two I/O
//!    timeouts), give up: the write may have landed late.
//! 5. **Settle**: wait `settle = heartbeat_interval + rw_bound` after the write completed.
//! 6. **Confirm**: re-read; we won only if the slot still holds exactly our record.
//!
//! # Why two racing claimers cannot both win
//!
//! Each slot is one device block, so reads and writes of it are atomic and totally ordered;
//! let `wX` be the instant X's claim write takes effect and `rX` that of its confirm read.
//! Suppose X and Y both win with `wX < wY`. X's confirm read returned X's record, so no
//! write took effect in `(wX, rX)`: `wY > rX >= wX + settle`. Y's verify read returned the
//! record Y expected. If it took effect after `wX`, it returned X's claim (or something
//! later), not what Y saw before X wrote, unless Y had watched X's record stay unchanged for
//! `dead_after`, which a winner that heartbeats prevents (`dead_after > settle +
//! heartbeat_interval + 2 io_timeout`, enforced by `Timing::validate`). So Y's verify read
//! took effect before `wX`, hence was issued before `wX`, and Y (not having given up) completed
//! its write within `rw_bound` of that: `wY < wX + rw_bound < wX + settle`, a contradiction.
//! Pairwise, this holds for any number of claimers. Nonces are 128-bit random, so two
//! claimers never write the same record.
//!
//! The argument needs I/O that either completes within the bound or is counted as failed,
//! and a holder that stops (self-fences) when it cannot heartbeat within `dead_after` of
//! its last successful write ([`ClaimConfig::self_fence_deadline`]).

use std::fmt;

use mxfs_uapi::ident::{Hostname, Uuid, UuidText};
use mxfs_uapi::lockstate::{HeartbeatSlot, SlotState, Timing};

/// Timing and size the protocol runs with; every node must use the same numbers, which is
/// why they come from the lockstate header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimConfig {
    pub slot_count: u32,
    pub heartbeat_interval_ms: u64,
    pub io_timeout_ms: u64,
    pub dead_after_ms: u64,
}

impl ClaimConfig {
    pub fn new(slot_count: u32, timing: &Timing) -> ClaimConfig {
        ClaimConfig {
            slot_count,
            heartbeat_interval_ms: timing.heartbeat_interval_ms.into(),
            io_timeout_ms: timing.io_timeout_ms.into(),
            dead_after_ms: timing.dead_after_ms.into(),
        }
    }

    /// Longest allowed from issuing the verify read to completing the claim write.
    pub fn rw_bound_ms(&self) -> u64 {
        2 * self.io_timeout_ms
    }

    /// Wait between the claim write completing and the confirm read: longer than any
    /// racing claimer's `rw_bound`, and longer than one heartbeat interval so a live holder
    /// we misjudged would have rewritten its slot.
    pub fn settle_ms(&self) -> u64 {
        self.heartbeat_interval_ms + self.rw_bound_ms()
    }

    /// A holder whose last heartbeat write was *issued* at `last_write_issued_ms` must have
    /// stopped all I/O to the volume by the returned time unless a newer write completed:
    /// after that, observers may declare it dead and reclaim its slot.
    pub fn self_fence_deadline(&self, last_write_issued_ms: u64) -> u64 {
        last_write_issued_ms + self.dead_after_ms - self.io_timeout_ms
    }
}

/// Who is claiming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claimant {
    pub node_uuid: Uuid,
    pub node_id: u32,
    pub hostname: Hostname,
    /// Fresh random bytes for this attempt; never reused, never all zero.
    pub nonce: [u8; 16],
    /// `slot_flags` to advertise.
    pub flags: u32,
}

/// What a slot read returned, as the driver classified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotView {
    /// Never written (all zero).
    Blank,
    Valid(HeartbeatSlot),
    /// Unreadable as a record (torn, corrupt, foreign); carries a hash of the raw block so
    /// a change can still be noticed.
    Corrupt([u8; 32]),
}

impl SlotView {
    fn is_free(&self) -> bool {
        match self {
            SlotView::Blank => true,
            SlotView::Valid(s) => s.is_free(),
            SlotView::Corrupt(_) => false,
        }
    }

    fn held(&self) -> Option<&HeartbeatSlot> {
        match self {
            SlotView::Valid(s) if !s.is_free() => Some(s),
            _ => None,
        }
    }

    /// What must stay the same for a slot to count as unchanged. A live holder bumps its
    /// sequence every interval; a new claim changes generation and nonce.
    fn fingerprint(&self) -> Fingerprint {
        match self {
            SlotView::Blank => Fingerprint::Blank,
            SlotView::Valid(s) => Fingerprint::Valid(s.generation, s.state, s.sequence, s.nonce),
            SlotView::Corrupt(h) => Fingerprint::Corrupt(*h),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fingerprint {
    Blank,
    Valid(u64, SlotState, u64, [u8; 16]),
    Corrupt([u8; 32]),
}

/// What the driver must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Read { slot: u32 },
    Write { slot: u32, record: HeartbeatSlot },
    /// Sleep at least this long, then send [`Event::Waited`].
    Wait { ms: u64 },
    /// Finished: the slot is ours, or why not. Retry with a new [`Claimer`] (new nonce).
    Done(Result<Claim, ClaimError>),
}

/// What happened, with the driver's monotonic clock (ms) passed alongside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Read { slot: u32, view: SlotView },
    Written { slot: u32 },
    Waited,
    /// The read or write of `slot` failed (or took longer than the I/O timeout).
    IoFailed { slot: u32 },
}

/// Why a claim attempt ended without a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// Every slot is held by a live node.
    NoFreeSlot,
    /// A live process with this node's uuid holds `slot`: this node is already running.
    AlreadyRunning { slot: u32 },
    /// A live node with another uuid but our node id holds `slot`.
    NodeIdCollision { slot: u32, node_id: u32, other: Uuid },
    /// The target changed between our judgement and our claim; retry.
    SlotChanged { slot: u32 },
    /// Our claim write completed too late to be safe; retry after the slot goes stale.
    TooSlow { slot: u32, elapsed_ms: u64 },
    /// Another claimer's record replaced ours; retry.
    LostRace { slot: u32 },
    Io { slot: u32 },
    /// The slot's generation cannot advance any further.
    GenerationExhausted { slot: u32 },
    /// The driver sent an event the machine was not waiting for (a driver bug).
    UnexpectedEvent,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFreeSlot => f.write_str("every heartbeat slot is held by a live node"),
            Self::AlreadyRunning { slot } => {
                write!(f, "heartbeat slot {slot} is held by a live process with this node's uuid: is mxfsd already running for this volume?")
            }
            Self::NodeIdCollision { slot, node_id, other } => write!(
                f,
                "live node {} in heartbeat slot {slot} has the same node id {node_id:#010x}; delete /etc/mxfs/node.uuid on this host and remount",
                UuidText(other)
            ),
            Self::SlotChanged { slot } => write!(f, "heartbeat slot {slot} changed while claiming it; retrying"),
            Self::TooSlow { slot, elapsed_ms } => {
                write!(f, "claim of heartbeat slot {slot} took {elapsed_ms} ms, over the I/O bound; retrying")
            }
            Self::LostRace { slot } => write!(f, "another node claimed heartbeat slot {slot} first; retrying"),
            Self::Io { slot } => write!(f, "I/O to heartbeat slot {slot} failed"),
            Self::GenerationExhausted { slot } => write!(f, "heartbeat slot {slot} generation is exhausted"),
            Self::UnexpectedEvent => f.write_str("claim state machine received an unexpected event"),
        }
    }
}

impl std::error::Error for ClaimError {}

impl ClaimError {
    /// Whether a new attempt (new nonce, after a short random backoff) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::SlotChanged { .. } | Self::TooSlow { .. } | Self::LostRace { .. } | Self::Io { .. })
    }
}

/// A won slot: what the holder needs to heartbeat, check and release it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub slot: u32,
    pub generation: u64,
    pub nonce: [u8; 16],
    pub node_uuid: Uuid,
    pub node_id: u32,
    pub hostname: Hostname,
}

impl Claim {
    /// The record for heartbeat number `sequence` (start at 1; the claim itself was 0).
    pub fn heartbeat(&self, sequence: u64, timestamp_ms: u64, flags: u32) -> HeartbeatSlot {
        HeartbeatSlot {
            generation: self.generation,
            state: SlotState::Live,
            node_uuid: self.node_uuid,
            node_id: self.node_id,
            flags,
            nonce: self.nonce,
            sequence,
            timestamp_ms,
            hostname: self.hostname,
        }
    }

    /// Checks a read-back of our slot before the next heartbeat write: anything but our own
    /// claim means the slot was taken over (we were judged dead) and we must stop.
    pub fn still_ours(&self, view: &SlotView) -> Result<(), ClaimError> {
        match view {
            SlotView::Valid(s)
                if !s.is_free()
                    && s.generation == self.generation
                    && s.nonce == self.nonce
                    && s.node_uuid == self.node_uuid =>
            {
                Ok(())
            }
            _ => Err(ClaimError::LostRace { slot: self.slot }),
        }
    }

    /// The record that hands the slot back on a clean shutdown.
    pub fn release(&self) -> HeartbeatSlot {
        HeartbeatSlot::free(self.generation)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Mine,
    Collision,
    Reclaim,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    Scan { next: u32 },
    Observe { until: u64 },
    Recheck { pos: usize },
    Verify { slot: u32, issued: u64 },
    Write { slot: u32, issued: u64, record: HeartbeatSlot },
    Settle { slot: u32, until: u64, record: HeartbeatSlot },
    Confirm { slot: u32, record: HeartbeatSlot },
    Done,
}

/// One claim attempt. See the module documentation for the protocol.
#[derive(Clone, Debug)]
pub struct Claimer {
    cfg: ClaimConfig,
    me: Claimant,
    phase: Phase,
    /// Latest view of every slot.
    views: Vec<SlotView>,
    /// Slots under observation, with the fingerprint they had when observation began.
    watched: Vec<(u32, Why, Fingerprint)>,
}

impl Claimer {
    pub fn new(cfg: ClaimConfig, me: Claimant) -> Claimer {
        let n = cfg.slot_count as usize;
        Claimer { cfg, me, phase: Phase::Start, views: vec![SlotView::Blank; n], watched: Vec::new() }
    }

    /// First action.
    pub fn start(&mut self) -> Action {
        if self.phase != Phase::Start {
            return self.finish(Err(ClaimError::UnexpectedEvent));
        }
        if self.cfg.slot_count == 0 {
            return self.finish(Err(ClaimError::NoFreeSlot));
        }
        self.phase = Phase::Scan { next: 0 };
        Action::Read { slot: 0 }
    }

    /// Feeds one event; returns the next action.
    pub fn handle(&mut self, now: u64, event: Event) -> Action {
        if let Event::IoFailed { slot } = event {
            return self.finish(Err(ClaimError::Io { slot }));
        }
        match (self.phase.clone(), event) {
            (Phase::Scan { next }, Event::Read { slot, view }) if slot == next => {
                self.views[slot as usize] = view;
                if slot + 1 < self.cfg.slot_count {
                    self.phase = Phase::Scan { next: slot + 1 };
                    return Action::Read { slot: slot + 1 };
                }
                self.after_scan(now)
            }
            (Phase::Observe { until }, Event::Waited) => {
                if now < until {
                    return Action::Wait { ms: until - now };
                }
                self.phase = Phase::Recheck { pos: 0 };
                Action::Read { slot: self.watched[0].0 }
            }
            (Phase::Recheck { pos }, Event::Read { slot, view }) if slot == self.watched[pos].0 => {
                self.views[slot as usize] = view;
                if pos + 1 < self.watched.len() {
                    self.phase = Phase::Recheck { pos: pos + 1 };
                    return Action::Read { slot: self.watched[pos + 1].0 };
                }
                self.after_recheck(now)
            }
            (Phase::Verify { slot, issued }, Event::Read { slot: s, view }) if s == slot => {
                if view.fingerprint() != self.views[slot as usize].fingerprint() {
                    return self.finish(Err(ClaimError::SlotChanged { slot }));
                }
                let generation = match self.next_generation(&view) {
                    Some(g) => g,
                    None => return self.finish(Err(ClaimError::GenerationExhausted { slot })),
                };
                let record = HeartbeatSlot {
                    generation,
                    state: SlotState::Claiming,
                    node_uuid: self.me.node_uuid,
                    node_id: self.me.node_id,
                    flags: self.me.flags,
                    nonce: self.me.nonce,
                    sequence: 0,
                    timestamp_ms: 0,
                    hostname: self.me.hostname,
                };
                self.phase = Phase::Write { slot, issued, record };
                Action::Write { slot, record }
            }
            (Phase::Write { slot, issued, record }, Event::Written { slot: s }) if s == slot => {
                let elapsed_ms = now.saturating_sub(issued);
                if elapsed_ms > self.cfg.rw_bound_ms() {
                    return self.finish(Err(ClaimError::TooSlow { slot, elapsed_ms }));
                }
                let settle = self.cfg.settle_ms();
                self.phase = Phase::Settle { slot, until: now + settle, record };
                Action::Wait { ms: settle }
            }
            (Phase::Settle { slot, until, record }, Event::Waited) => {
                if now < until {
                    return Action::Wait { ms: until - now };
                }
                self.phase = Phase::Confirm { slot, record };
                Action::Read { slot }
            }
            (Phase::Confirm { slot, record }, Event::Read { slot: s, view }) if s == slot => {
                if view != SlotView::Valid(record) {
                    return self.finish(Err(ClaimError::LostRace { slot }));
                }
                let claim = Claim {
                    slot,
                    generation: record.generation,
                    nonce: record.nonce,
                    node_uuid: record.node_uuid,
                    node_id: record.node_id,
                    hostname: record.hostname,
                };
                self.finish(Ok(claim))
            }
            _ => self.finish(Err(ClaimError::UnexpectedEvent)),
        }
    }

    fn finish(&mut self, result: Result<Claim, ClaimError>) -> Action {
        self.phase = Phase::Done;
        Action::Done(result)
    }

    fn after_scan(&mut self, now: u64) -> Action {
        let any_free = self.views.iter().any(SlotView::is_free);
        self.watched.clear();
        for (i, v) in self.views.iter().enumerate() {
            let why = match v.held() {
                Some(s) if s.node_uuid == self.me.node_uuid => Some(Why::Mine),
                Some(s) if s.node_id == self.me.node_id => Some(Why::Collision),
                _ if !any_free && !v.is_free() => Some(Why::Reclaim),
                _ => None,
            };
            if let Some(why) = why {
                self.watched.push((i as u32, why, v.fingerprint()));
            }
        }
        if self.watched.is_empty() {
            return self.pick(now);
        }
        // Every scan read completed before `now`; every re-read is issued at or after
        // `until`, so a slot found unchanged went `dead_after` without a write.
        let until = now + self.cfg.dead_after_ms;
        self.phase = Phase::Observe { until };
        Action::Wait { ms: self.cfg.dead_after_ms }
    }

    fn after_recheck(&mut self, now: u64) -> Action {
        for &(slot, why, before) in &self.watched {
            let view = &self.views[slot as usize];
            let live = view.fingerprint() != before && !view.is_free();
            match (why, live, view.held()) {
                (Why::Mine, true, Some(s)) if s.node_uuid == self.me.node_uuid => {
                    return self.finish(Err(ClaimError::AlreadyRunning { slot }));
                }
                (Why::Collision, true, Some(s)) if s.node_id == self.me.node_id && s.node_uuid != self.me.node_uuid => {
                    let other = s.node_uuid;
                    let node_id = self.me.node_id;
                    return self.finish(Err(ClaimError::NodeIdCollision { slot, node_id, other }));
                }
                _ => {}
            }
        }
        self.pick(now)
    }

    /// Chooses the target and issues the verify read.
    fn pick(&mut self, now: u64) -> Action {
        let stale = |why: Why| {
            self.watched
                .iter()
                .find(|&&(slot, w, before)| w == why && self.views[slot as usize].fingerprint() == before)
                .map(|&(slot, _, _)| slot)
        };
        let free = self.views.iter().position(SlotView::is_free).map(|i| i as u32);
        let target = stale(Why::Mine).or(stale(Why::Collision)).or(free).or(stale(Why::Reclaim));
        match target {
            Some(slot) => {
                self.phase = Phase::Verify { slot, issued: now };
                Action::Read { slot }
            }
            None => self.finish(Err(ClaimError::NoFreeSlot)),
        }
    }

    /// One past the slot's generation; for an unreadable slot, one past every generation
    /// seen, the best available guess at "newer than whatever was there".
    fn next_generation(&self, view: &SlotView) -> Option<u64> {
        let base = match view {
            SlotView::Valid(s) => s.generation,
            SlotView::Blank => 0,
            SlotView::Corrupt(_) => self
                .views
                .iter()
                .filter_map(|v| match v {
                    SlotView::Valid(s) => Some(s.generation),
                    _ => None,
                })
                .max()
                .unwrap_or(0),
        };
        base.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxfs_uapi::ident::node_id_from_uuid;

    const CFG: ClaimConfig =
        ClaimConfig { slot_count: 3, heartbeat_interval_ms: 100, io_timeout_ms: 20, dead_after_ms: 1000 };

    fn me(b: u8) -> Claimant {
        let uuid = [b; 16];
        Claimant {
            node_uuid: uuid,
            node_id: node_id_from_uuid(&uuid),
            hostname: Hostname::new(b"hv").unwrap(),
            nonce: [b ^ 0x5a; 16],
            flags: 0,
        }
    }

    fn live(b: u8, seq: u64) -> SlotView {
        let c = Claim { slot: 0, generation: 4, nonce: [b; 16], node_uuid: [b; 16], node_id: node_id_from_uuid(&[b; 16]), hostname: Hostname::EMPTY };
        SlotView::Valid(c.heartbeat(seq, 0, 0))
    }

    /// Drives `c` against fixed slot contents (`disk`), applying writes, at time steps of
    /// `step` ms per I/O. Returns the outcome and the actions seen.
    fn run(c: &mut Claimer, disk: &mut Vec<SlotView>, step: u64, mut tick: impl FnMut(u64, &mut Vec<SlotView>)) -> (Result<Claim, ClaimError>, Vec<Action>) {
        let mut now = 0;
        let mut log = Vec::new();
        let mut action = c.start();
        loop {
            log.push(action.clone());
            let event = match &action {
                Action::Read { slot } => {
                    now += step;
                    tick(now, disk);
                    Event::Read { slot: *slot, view: disk[*slot as usize] }
                }
                Action::Write { slot, record } => {
                    now += step;
                    disk[*slot as usize] = SlotView::Valid(*record);
                    tick(now, disk);
                    Event::Written { slot: *slot }
                }
                Action::Wait { ms } => {
                    now += ms;
                    tick(now, disk);
                    Event::Waited
                }
                Action::Done(r) => return (*r, log),
            };
            action = c.handle(now, event);
        }
    }

    #[test]
    fn claims_the_lowest_free_slot_after_settling() {
        let mut disk = vec![live(9, 1), SlotView::Blank, SlotView::Blank];
        let mut c = Claimer::new(CFG, me(1));
        let (r, log) = run(&mut c, &mut disk, 1, |_, _| {});
        let claim = r.unwrap();
        assert_eq!((claim.slot, claim.generation), (1, 1));
        assert!(log.contains(&Action::Wait { ms: CFG.settle_ms() }));
        assert!(matches!(disk[1], SlotView::Valid(s) if s.state == SlotState::Claiming && s.nonce == me(1).nonce));
        let hb = claim.heartbeat(1, 5, 0);
        assert!(claim.still_ours(&SlotView::Valid(hb)).is_ok());
        assert!(claim.still_ours(&live(9, 1)).is_err());
        assert_eq!(claim.release(), HeartbeatSlot::free(1));
    }

    #[test]
    fn loses_when_another_claim_lands_during_settle() {
        let mut disk = vec![SlotView::Blank; 3];
        let mut c = Claimer::new(CFG, me(1));
        let rival = me(2);
        let (r, _) = run(&mut c, &mut disk, 1, |now, d| {
            if now > 10 && matches!(d[0], SlotView::Valid(s) if s.node_uuid != rival.node_uuid) {
                let mut rec = match d[0] { SlotView::Valid(s) => s, _ => return };
                rec.nonce = rival.nonce;
                rec.node_uuid = rival.node_uuid;
                rec.node_id = rival.node_id;
                d[0] = SlotView::Valid(rec);
            }
        });
        assert_eq!(r, Err(ClaimError::LostRace { slot: 0 }));
    }

    #[test]
    fn gives_up_when_the_claim_write_is_too_slow() {
        let mut disk = vec![SlotView::Blank; 3];
        let mut c = Claimer::new(CFG, me(1));
        let (r, _) = run(&mut c, &mut disk, 25, |_, _| {});
        assert!(matches!(r, Err(ClaimError::TooSlow { slot: 0, elapsed_ms: 50 })));
    }

    #[test]
    fn verify_catches_a_change_since_the_scan() {
        let mut disk = vec![SlotView::Blank; 1];
        let mut c = Claimer::new(ClaimConfig { slot_count: 1, ..CFG }, me(1));
        let (r, _) = run(&mut c, &mut disk, 1, |now, d| {
            if now == 2 {
                d[0] = live(7, 1);
            }
        });
        assert_eq!(r, Err(ClaimError::SlotChanged { slot: 0 }));
    }

    #[test]
    fn full_and_live_means_no_slot() {
        let mut disk = vec![live(7, 1), live(8, 1), live(9, 1)];
        let mut c = Claimer::new(CFG, me(1));
        // Every holder heartbeats: sequence moves on each tick.
        let (r, log) = run(&mut c, &mut disk, 1, |now, d| {
            for (i, v) in d.iter_mut().enumerate() {
                *v = live(7 + i as u8, now);
            }
        });
        assert_eq!(r, Err(ClaimError::NoFreeSlot));
        assert!(log.contains(&Action::Wait { ms: CFG.dead_after_ms }));
    }

    #[test]
    fn full_with_a_dead_holder_reclaims_it() {
        let mut disk = vec![live(7, 1), SlotView::Corrupt([1; 32]), live(9, 1)];
        let mut c = Claimer::new(CFG, me(1));
        let (r, _) = run(&mut c, &mut disk, 1, |now, d| {
            d[0] = live(7, now);
            d[2] = live(9, now);
        });
        let claim = r.unwrap();
        // A corrupt slot's generation is unknown: one past the highest seen anywhere.
        assert_eq!((claim.slot, claim.generation), (1, 5));
    }

    #[test]
    fn own_live_slot_means_already_running() {
        let mut disk = vec![SlotView::Blank; 3];
        let mine = me(1);
        let mut c = Claimer::new(CFG, mine);
        let zombie = |seq| {
            let c = Claim { slot: 2, generation: 3, nonce: [3; 16], node_uuid: mine.node_uuid, node_id: mine.node_id, hostname: Hostname::EMPTY };
            SlotView::Valid(c.heartbeat(seq, 0, 0))
        };
        disk[2] = zombie(1);
        let (r, _) = run(&mut c, &mut disk, 1, |now, d| d[2] = zombie(now));
        assert_eq!(r, Err(ClaimError::AlreadyRunning { slot: 2 }));

        // The same slot gone quiet is a previous incarnation: reclaimed in preference to a
        // free slot, with its generation moved forward.
        let mut disk = vec![SlotView::Blank, SlotView::Blank, zombie(1)];
        let mut c = Claimer::new(CFG, mine);
        let (r, _) = run(&mut c, &mut disk, 1, |_, _| {});
        let claim = r.unwrap();
        assert_eq!((claim.slot, claim.generation), (2, 4));
    }

    #[test]
    fn live_node_id_collision_is_refused() {
        // Two uuids with one node id, found by the birthday bound.
        let mut seen = std::collections::HashMap::new();
        let (a, b) = (1u64..)
            .find_map(|x| {
                // Spread x over all 16 bytes: FNV-1a of inputs differing in only a few
                // bytes is close to a bijection and collides far later.
                let mut u = [0u8; 16];
                u[..8].copy_from_slice(&x.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
                u[8..].copy_from_slice(&(x ^ (x >> 7)).wrapping_mul(0xbf58_476d_1ce4_e5b9).to_le_bytes());
                Some((seen.insert(node_id_from_uuid(&u), u)?, u))
            })
            .unwrap();
        let claimant = Claimant { node_uuid: a, node_id: node_id_from_uuid(&a), ..me(1) };
        let other = |seq| {
            let c = Claim { slot: 0, generation: 1, nonce: [3; 16], node_uuid: b, node_id: node_id_from_uuid(&b), hostname: Hostname::EMPTY };
            SlotView::Valid(c.heartbeat(seq, 0, 0))
        };
        let mut disk = vec![other(1), SlotView::Blank, SlotView::Blank];
        let mut c = Claimer::new(CFG, claimant);
        let (r, _) = run(&mut c, &mut disk, 1, |now, d| d[0] = other(now));
        assert!(matches!(r, Err(ClaimError::NodeIdCollision { slot: 0, other, .. }) if other == b));
    }

    #[test]
    fn unexpected_events_and_io_errors_end_the_attempt() {
        let mut c = Claimer::new(CFG, me(1));
        assert_eq!(c.start(), Action::Read { slot: 0 });
        assert_eq!(c.handle(1, Event::Waited), Action::Done(Err(ClaimError::UnexpectedEvent)));
        assert_eq!(c.handle(1, Event::Waited), Action::Done(Err(ClaimError::UnexpectedEvent)));
        let mut c = Claimer::new(CFG, me(1));
        c.start();
        assert_eq!(c.handle(1, Event::Read { slot: 2, view: SlotView::Blank }), Action::Done(Err(ClaimError::UnexpectedEvent)));
        let mut c = Claimer::new(CFG, me(1));
        c.start();
        assert_eq!(c.handle(1, Event::IoFailed { slot: 0 }), Action::Done(Err(ClaimError::Io { slot: 0 })));
    }

    #[test]
    fn early_wakeups_wait_for_the_rest() {
        let mut c = Claimer::new(ClaimConfig { slot_count: 1, ..CFG }, me(1));
        c.start();
        let a = c.handle(1, Event::Read { slot: 0, view: SlotView::Blank });
        assert_eq!(a, Action::Read { slot: 0 });
        let a = c.handle(2, Event::Read { slot: 0, view: SlotView::Blank });
        assert!(matches!(a, Action::Write { slot: 0, .. }));
        assert_eq!(c.handle(3, Event::Written { slot: 0 }), Action::Wait { ms: CFG.settle_ms() });
        assert_eq!(c.handle(50, Event::Waited), Action::Wait { ms: 3 + CFG.settle_ms() - 50 });
    }
}
