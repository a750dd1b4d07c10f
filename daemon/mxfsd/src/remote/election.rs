//! Who owns the volume: the owner record (lockstate block 1) names the one node that may
//! mount the XFS. See `docs/cluster.md`, "Owner election".
//!
//! A node elects under the cluster lock `mxfs.mount` in EX, so two nodes never decide at
//! once, and decides from the disk, not from who it happens to see:
//!
//! * the record is vacant: claim it (generation + 1, naming us, our slot and its claim
//!   generation) and become OWNER;
//! * it names a node whose heartbeat slot no longer holds the recorded claim (released at a
//!   clean exit, or retaken by the claim protocol after `dead_after` of silence, by which time
//!   the holder has stopped): that owner is gone, claim it;
//! * the slot still holds the claim and the node is in our membership view: MEMBER of it;
//! * the slot holds the claim but the node is not in our view (it may be joining, or dead and
//!   not yet fenced): watch its slot. A heartbeat moves it: MEMBER. Unchanged for
//!   `dead_after`: the node has stopped (it self-fences before that), claim it.
//!
//! Nothing here ever claims while the recorded owner can still be writing: the only ways to
//! claim are a vacant record, a claim that left its slot, or a slot silent for `dead_after`.

use std::time::{Duration, Instant};

use mxfs_disk::claim::SlotView;
use mxfs_disk::LockstateFile;
use mxfs_uapi::ident::{Uuid, UuidText};
use mxfs_uapi::lockstate::{HeartbeatSlot, Owner, OwnerRecord};

/// This node as the owner record would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Me {
    pub node_uuid: Uuid,
    pub node_id: u32,
    pub slot: u32,
    pub slot_generation: u64,
}

impl Me {
    fn as_owner(&self) -> Owner {
        Owner { node_uuid: self.node_uuid, node_id: self.node_id, slot: self.slot, slot_generation: self.slot_generation }
    }

    fn is(&self, o: &Owner) -> bool {
        o.node_uuid == self.node_uuid && o.slot == self.slot && o.slot_generation == self.slot_generation
    }
}

/// What we have seen of the recorded owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Its slot as read now (None: blank, corrupt or unreadable).
    pub slot: Option<HeartbeatSlot>,
    /// It is a member of our current view.
    pub in_view: bool,
    /// The slot changed while we watched it.
    pub moved: bool,
    /// How long we have watched it without a change.
    pub still_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Become the owner; write `record` unless it is already on disk.
    Own { record: OwnerRecord, write: bool },
    Member { owner: u32 },
    /// Keep watching the recorded owner's slot.
    Watch,
}

fn holds_claim(o: &Owner, slot: &Option<HeartbeatSlot>) -> bool {
    slot.as_ref().is_some_and(|s| !s.is_free() && s.generation == o.slot_generation && s.node_uuid == o.node_uuid)
}

/// The election rule (module documentation), as a pure function.
pub fn decide(rec: &OwnerRecord, me: &Me, seen: &Seen, dead_after_ms: u64) -> Decision {
    let claim = Decision::Own { record: OwnerRecord { generation: rec.generation + 1, owner: Some(me.as_owner()) }, write: true };
    let Some(o) = rec.owner else { return claim };
    if me.is(&o) {
        return Decision::Own { record: *rec, write: false };
    }
    if !holds_claim(&o, &seen.slot) {
        return claim;
    }
    if seen.in_view || seen.moved {
        return Decision::Member { owner: o.node_id };
    }
    if seen.still_ms >= dead_after_ms {
        return claim;
    }
    Decision::Watch
}

/// The record a clean stop writes: vacant, if it still names us.
pub fn release_record(rec: &OwnerRecord, me: &Me) -> Option<OwnerRecord> {
    match rec.owner {
        Some(o) if me.is(&o) => Some(OwnerRecord { generation: rec.generation + 1, owner: None }),
        _ => None,
    }
}

/// The cluster lock the election runs under, and the view it consults.
pub trait MountLock {
    fn lock(&self) -> Result<(), String>;
    fn unlock(&self);
    fn in_view(&self, node: u32) -> bool;
}

/// The outcome: this node's role (`genl::role`) and the owner's node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elected {
    pub role: u32,
    pub owner: u32,
    pub generation: u64,
}

fn slot_now(ls: &mut LockstateFile, o: &Owner) -> Option<HeartbeatSlot> {
    match ls.read_slot_view(o.slot) {
        Ok(SlotView::Valid(s)) => Some(s),
        _ => None,
    }
}

/// Runs the election under `lock`; `heartbeat_ms` paces the watching, `dead_after_ms` ends it.
pub fn elect(ls: &mut LockstateFile, me: &Me, lock: &dyn MountLock, heartbeat_ms: u64, dead_after_ms: u64) -> Result<Elected, String> {
    lock.lock()?;
    let r = elect_locked(ls, me, lock, heartbeat_ms, dead_after_ms);
    lock.unlock();
    r
}

fn elect_locked(ls: &mut LockstateFile, me: &Me, lock: &dyn MountLock, heartbeat_ms: u64, dead_after_ms: u64) -> Result<Elected, String> {
    let mut watching: Option<(HeartbeatSlot, Instant)> = None;
    let mut said = false;
    loop {
        let rec = ls.read_owner().map_err(|e| format!("cannot read the owner record: {e}"))?;
        let mut seen = Seen { slot: None, in_view: false, moved: false, still_ms: 0 };
        if let Some(o) = rec.owner {
            seen.slot = slot_now(ls, &o);
            seen.in_view = lock.in_view(o.node_id);
            if let Some(s) = seen.slot {
                match &watching {
                    Some((first, since)) => {
                        seen.moved = first.sequence != s.sequence || first.state != s.state || first.nonce != s.nonce;
                        seen.still_ms = since.elapsed().as_millis() as u64;
                    }
                    None => watching = Some((s, Instant::now())),
                }
            }
        }
        match decide(&rec, me, &seen, dead_after_ms) {
            Decision::Own { record, write } => {
                if write {
                    if let Some(o) = rec.owner {
                        log::warn!(
                            "owner record names node {:#010x} ({}) but its heartbeat slot {} no longer shows it alive; taking ownership",
                            o.node_id,
                            UuidText(&o.node_uuid),
                            o.slot
                        );
                    }
                    ls.write_owner(&record).map_err(|e| format!("cannot write the owner record: {e}"))?;
                    let back = ls.read_owner().map_err(|e| format!("cannot read back the owner record: {e}"))?;
                    if back != record {
                        return Err("the owner record changed under the mxfs.mount lock; refusing to own the volume".into());
                    }
                }
                return Ok(Elected { role: mxfs_uapi::genl::role::OWNER, owner: me.node_id, generation: record.generation });
            }
            Decision::Member { owner } => {
                return Ok(Elected { role: mxfs_uapi::genl::role::MEMBER, owner, generation: rec.generation })
            }
            Decision::Watch => {
                if !said {
                    log::info!(
                        "owner record names node {:#010x}, which is not in our view yet; watching its heartbeat (up to {} ms)",
                        rec.owner.map_or(0, |o| o.node_id),
                        dead_after_ms
                    );
                    said = true;
                }
                std::thread::sleep(Duration::from_millis((heartbeat_ms / 2).max(20)));
            }
        }
    }
}

/// Clean stop of an owner: vacate the record if it still names us. Taken under the lock when
/// the cluster grants it; without it (no view any more) the write is still safe, because no
/// other node claims while our slot holds our claim, which it does until after this.
pub fn release(ls: &mut LockstateFile, me: &Me, lock: Option<&dyn MountLock>) -> Result<bool, String> {
    let locked = match lock {
        Some(l) => match l.lock() {
            Ok(()) => true,
            Err(e) => {
                log::warn!("releasing ownership without the mxfs.mount lock: {e}");
                false
            }
        },
        None => false,
    };
    let r = (|| {
        let rec = ls.read_owner().map_err(|e| format!("cannot read the owner record: {e}"))?;
        match release_record(&rec, me) {
            Some(vacant) => {
                ls.write_owner(&vacant).map_err(|e| format!("cannot write the owner record: {e}"))?;
                Ok(true)
            }
            None => Ok(false),
        }
    })();
    if locked {
        if let Some(l) = lock {
            l.unlock();
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxfs_uapi::ident::{node_id_from_uuid, Hostname};
    use mxfs_uapi::lockstate::SlotState;

    fn me() -> Me {
        let u = [1; 16];
        Me { node_uuid: u, node_id: node_id_from_uuid(&u), slot: 0, slot_generation: 5 }
    }

    fn other() -> Owner {
        let u = [2; 16];
        Owner { node_uuid: u, node_id: node_id_from_uuid(&u), slot: 3, slot_generation: 9 }
    }

    fn slot(o: &Owner, generation: u64, state: SlotState) -> HeartbeatSlot {
        HeartbeatSlot {
            generation,
            state,
            node_uuid: o.node_uuid,
            node_id: o.node_id,
            flags: 0,
            nonce: [7; 16],
            sequence: 4,
            timestamp_ms: 0,
            hostname: Hostname::sanitized(b"h"),
        }
    }

    fn seen(slot: Option<HeartbeatSlot>, in_view: bool, moved: bool, still_ms: u64) -> Seen {
        Seen { slot, in_view, moved, still_ms }
    }

    const DEAD: u64 = 20_000;

    #[test]
    fn a_vacant_record_is_claimed_with_the_next_generation() {
        let rec = OwnerRecord { generation: 6, owner: None };
        let d = decide(&rec, &me(), &seen(None, false, false, 0), DEAD);
        assert_eq!(d, Decision::Own { record: OwnerRecord { generation: 7, owner: Some(me().as_owner()) }, write: true });
    }

    #[test]
    fn a_live_owner_in_the_view_makes_us_a_member() {
        let o = other();
        let rec = OwnerRecord { generation: 3, owner: Some(o) };
        let live = Some(slot(&o, 9, SlotState::Live));
        assert_eq!(decide(&rec, &me(), &seen(live, true, false, 0), DEAD), Decision::Member { owner: o.node_id });
    }

    #[test]
    fn an_owner_not_in_the_view_is_watched_until_it_moves_or_stays_still_too_long() {
        let o = other();
        let rec = OwnerRecord { generation: 3, owner: Some(o) };
        let live = Some(slot(&o, 9, SlotState::Live));
        assert_eq!(decide(&rec, &me(), &seen(live, false, false, 0), DEAD), Decision::Watch);
        assert_eq!(decide(&rec, &me(), &seen(live, false, false, DEAD - 1), DEAD), Decision::Watch);
        assert_eq!(decide(&rec, &me(), &seen(live, false, true, 100), DEAD), Decision::Member { owner: o.node_id });
        assert!(matches!(decide(&rec, &me(), &seen(live, false, false, DEAD), DEAD), Decision::Own { write: true, .. }));
    }

    #[test]
    fn an_owner_whose_claim_left_its_slot_is_replaced() {
        let o = other();
        let rec = OwnerRecord { generation: 3, owner: Some(o) };
        for s in [None, Some(slot(&o, 9, SlotState::Free)), Some(slot(&o, 10, SlotState::Live))] {
            // Even when the node is back in the view: that is a later incarnation, not the owner.
            let d = decide(&rec, &me(), &seen(s, true, true, 0), DEAD);
            assert_eq!(d, Decision::Own { record: OwnerRecord { generation: 4, owner: Some(me().as_owner()) }, write: true });
        }
        let mut stranger = slot(&o, 9, SlotState::Live);
        stranger.node_uuid = [3; 16];
        assert!(matches!(decide(&rec, &me(), &seen(Some(stranger), true, false, 0), DEAD), Decision::Own { .. }));
    }

    #[test]
    fn our_own_record_is_kept_and_an_older_incarnation_of_us_is_replaced() {
        let mine = OwnerRecord { generation: 8, owner: Some(me().as_owner()) };
        assert_eq!(decide(&mine, &me(), &seen(None, false, false, 0), DEAD), Decision::Own { record: mine, write: false });
        let mut old = me().as_owner();
        old.slot_generation = 4;
        let rec = OwnerRecord { generation: 8, owner: Some(old) };
        // Our previous incarnation's slot now holds our new claim (generation 5).
        let now = Some(slot(&old, 5, SlotState::Live));
        assert!(matches!(decide(&rec, &me(), &seen(now, true, true, 0), DEAD), Decision::Own { write: true, .. }));
    }

    #[test]
    fn release_vacates_only_our_own_record() {
        let mine = OwnerRecord { generation: 8, owner: Some(me().as_owner()) };
        assert_eq!(release_record(&mine, &me()), Some(OwnerRecord { generation: 9, owner: None }));
        assert_eq!(release_record(&OwnerRecord { generation: 8, owner: Some(other()) }, &me()), None);
        assert_eq!(release_record(&OwnerRecord { generation: 8, owner: None }, &me()), None);
    }

    /// Two nodes electing one after the other (the lock serializes them) on one record:
    /// exactly one owner, and the second is its member.
    #[test]
    fn two_nodes_in_turn_give_one_owner() {
        let a = me();
        let b_uuid = [9; 16];
        let b = Me { node_uuid: b_uuid, node_id: node_id_from_uuid(&b_uuid), slot: 1, slot_generation: 2 };
        let mut rec = OwnerRecord { generation: 0, owner: None };
        let Decision::Own { record, .. } = decide(&rec, &a, &seen(None, true, false, 0), DEAD) else { panic!() };
        rec = record;
        let a_slot = HeartbeatSlot { node_id: a.node_id, ..slot(&a.as_owner(), a.slot_generation, SlotState::Live) };
        assert_eq!(decide(&rec, &b, &seen(Some(a_slot), true, false, 0), DEAD), Decision::Member { owner: a.node_id });
    }
}
