//! Heartbeat slots (record type 3): one per live node, rewritten every heartbeat interval.
//!
//! Liveness is read from change, never from clocks: a slot whose (generation, sequence, state)
//! has not changed for `dead_after_ms` of the observer's own clock belongs to a dead node.
//! `timestamp_ms` is the writer's wall clock, shown to operators only.

use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::envelope::{open, seal, BODY_OFFSET};
use super::error::check_reserved;
use super::{LockstateError, RecordKind, Volume, BODY_LEN, RECORD_LEN};
use crate::ident::{node_id_from_uuid, Hostname, Uuid, HOSTNAME_MAX};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawSlot {
    node_uuid: [u8; 16],
    node_id: U32,
    state: U32,
    flags: U32,
    pad: U32,
    nonce: [u8; 16],
    sequence: U64,
    timestamp_ms: U64,
    hostname: [u8; HOSTNAME_MAX],
    reserved: [u8; 312],
}

const _: () = assert!(core::mem::size_of::<RawSlot>() == BODY_LEN);

/// Slot states (the `state` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SlotState {
    /// Nobody holds the slot; every other field but the generation is zero.
    Free = 0,
    /// Written by a claimer that has not yet confirmed it won the slot.
    Claiming = 1,
    /// Heartbeating holder.
    Live = 2,
}

/// Bits of the `flags` field.
pub mod slot_flags {
    /// The holder believes it has the lower XFS mounted (informational; the owner record
    /// is authoritative).
    pub const OWNER: u32 = 1 << 0;
    /// The holder's path to the device has no SCSI PR: it can only be fenced by its own
    /// self-fencing, so survivors must wait the full dead threshold.
    pub const NO_PR: u32 = 1 << 1;
    /// Every defined bit; others must be zero.
    pub const ALL: u32 = OWNER | NO_PR;
}

/// A decoded heartbeat slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeartbeatSlot {
    /// Claim generation: one more than the slot's previous generation at each claim.
    pub generation: u64,
    pub state: SlotState,
    pub node_uuid: Uuid,
    /// `node_id_from_uuid(node_uuid)`; 0 only in a free slot.
    pub node_id: u32,
    pub flags: u32,
    /// Random value chosen for this claim; proves which claimer's write is on disk.
    pub nonce: [u8; 16],
    /// Heartbeat counter within this claim.
    pub sequence: u64,
    /// Writer's wall clock (ms since the epoch), for display only.
    pub timestamp_ms: u64,
    pub hostname: Hostname,
}

impl HeartbeatSlot {
    /// A free slot that keeps its generation, so the next claim still moves it forward.
    pub fn free(generation: u64) -> HeartbeatSlot {
        HeartbeatSlot {
            generation,
            state: SlotState::Free,
            node_uuid: [0; 16],
            node_id: 0,
            flags: 0,
            nonce: [0; 16],
            sequence: 0,
            timestamp_ms: 0,
            hostname: Hostname::EMPTY,
        }
    }

    pub fn is_free(&self) -> bool {
        self.state == SlotState::Free
    }

    /// Encodes the record for slot `index`; refuses anything [`HeartbeatSlot::decode`] would.
    pub fn encode(&self, volume: &Volume, index: u32) -> Result<[u8; RECORD_LEN], LockstateError> {
        let raw = RawSlot {
            node_uuid: self.node_uuid,
            node_id: U32::new(self.node_id),
            state: U32::new(self.state as u32),
            flags: U32::new(self.flags),
            pad: U32::new(0),
            nonce: self.nonce,
            sequence: U64::new(self.sequence),
            timestamp_ms: U64::new(self.timestamp_ms),
            hostname: self.hostname.padded(),
            reserved: [0; 312],
        };
        let out = seal(RecordKind::Heartbeat, index, self.generation, &volume.uuid, raw.as_bytes());
        HeartbeatSlot::decode(&out, volume, index)?;
        Ok(out)
    }

    /// Decodes the record read from slot `index` of `volume`.
    pub fn decode(buf: &[u8], volume: &Volume, index: u32) -> Result<HeartbeatSlot, LockstateError> {
        let count = volume.geometry.slot_count;
        if index >= count {
            return Err(LockstateError::IndexOutOfRange { index, count });
        }
        let (generation, body) = open(buf, RecordKind::Heartbeat, index, &volume.uuid)?;
        let raw = RawSlot::ref_from_bytes(body)
            .map_err(|_| LockstateError::BadBufferLength { got: body.len() })?;
        check_reserved(raw.pad.as_bytes(), BODY_OFFSET + offset_of!(RawSlot, pad))?;
        check_reserved(&raw.reserved, BODY_OFFSET + offset_of!(RawSlot, reserved))?;
        let state = match raw.state.get() {
            0 => SlotState::Free,
            1 => SlotState::Claiming,
            2 => SlotState::Live,
            v => return Err(LockstateError::BadField { field: "slot state", value: v.into() }),
        };
        let flags = raw.flags.get();
        if flags & !slot_flags::ALL != 0 {
            return Err(LockstateError::BadField { field: "slot flags", value: flags.into() });
        }
        let slot = HeartbeatSlot {
            generation,
            state,
            node_uuid: raw.node_uuid,
            node_id: raw.node_id.get(),
            flags,
            nonce: raw.nonce,
            sequence: raw.sequence.get(),
            timestamp_ms: raw.timestamp_ms.get(),
            hostname: Hostname::from_padded(&raw.hostname)?,
        };
        if state == SlotState::Free {
            if slot != HeartbeatSlot::free(generation) {
                return Err(LockstateError::Inconsistent("free slot with holder fields set"));
            }
        } else {
            if slot.node_uuid == [0; 16] {
                return Err(LockstateError::Inconsistent("held slot without a node uuid"));
            }
            if slot.node_id != node_id_from_uuid(&slot.node_uuid) {
                return Err(LockstateError::Inconsistent("slot node id is not FNV-1a of its uuid"));
            }
            if slot.nonce == [0; 16] {
                return Err(LockstateError::Inconsistent("held slot without a claim nonce"));
            }
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockstate::envelope::CHECKSUM_OFFSET;
    use crate::lockstate::Geometry;

    const VOL: Volume = Volume { uuid: [0x33; 16], geometry: Geometry::standard(512) };

    fn live() -> HeartbeatSlot {
        let uuid = [0x44; 16];
        HeartbeatSlot {
            generation: 7,
            state: SlotState::Live,
            node_uuid: uuid,
            node_id: node_id_from_uuid(&uuid),
            flags: slot_flags::OWNER,
            nonce: [9; 16],
            sequence: 1234,
            timestamp_ms: 1_700_000_000_000,
            hostname: Hostname::new(b"hv-01").unwrap(),
        }
    }

    fn reseal(buf: &mut [u8; RECORD_LEN]) {
        let sum = blake3::hash(&buf[..CHECKSUM_OFFSET]);
        buf[CHECKSUM_OFFSET..].copy_from_slice(sum.as_bytes());
    }

    #[test]
    fn round_trips() {
        for slot in [live(), HeartbeatSlot::free(0), HeartbeatSlot::free(99)] {
            let bytes = slot.encode(&VOL, 5).unwrap();
            assert_eq!(HeartbeatSlot::decode(&bytes, &VOL, 5).unwrap(), slot);
        }
    }

    #[test]
    fn rejects_misplaced_and_inconsistent_slots() {
        let good = live().encode(&VOL, 5).unwrap();
        assert_eq!(
            HeartbeatSlot::decode(&good, &VOL, 6),
            Err(LockstateError::WrongIndex { expected: 6, found: 5 })
        );
        assert_eq!(
            HeartbeatSlot::decode(&good, &VOL, 64),
            Err(LockstateError::IndexOutOfRange { index: 64, count: 64 })
        );
        let other = Volume { uuid: [0x34; 16], ..VOL };
        assert!(matches!(HeartbeatSlot::decode(&good, &other, 5), Err(LockstateError::WrongVolume { .. })));

        let cases: [(usize, u8); 6] = [
            (60, 7),    // state 7
            (64, 0x80), // unknown flag
            (56, 0),    // node id != fnv(uuid)
            (68, 1),    // pad
            (200, 1),   // reserved
            (104, b' '), // hostname byte
        ];
        for (offset, value) in cases {
            let mut bad = good;
            bad[offset] ^= value.max(1);
            if offset == 104 {
                bad[offset] = value;
            }
            reseal(&mut bad);
            assert!(HeartbeatSlot::decode(&bad, &VOL, 5).is_err(), "offset {offset} accepted");
        }
        let mut no_nonce = live();
        no_nonce.nonce = [0; 16];
        assert!(no_nonce.encode(&VOL, 5).is_err());
        let mut dirty_free = HeartbeatSlot::free(3);
        dirty_free.sequence = 1;
        assert!(dirty_free.encode(&VOL, 5).is_err());
    }
}
