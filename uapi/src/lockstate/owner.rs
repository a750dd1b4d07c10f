//! The owner record (record type 2): which node has the lower XFS mounted.
//!
//! Its generation is the ownership generation, bumped on every change of owner, so a node
//! that was owner can tell it has been replaced even if the same node id returns.

use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::envelope::{open, seal, BODY_OFFSET};
use super::error::check_reserved;
use super::{LockstateError, RecordKind, Volume, BODY_LEN, RECORD_LEN};
use crate::ident::{node_id_from_uuid, Uuid};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawOwner {
    node_id: U32,
    slot: U32,
    node_uuid: [u8; 16],
    slot_generation: U64,
    reserved: [u8; 408],
}

const _: () = assert!(core::mem::size_of::<RawOwner>() == BODY_LEN);

/// The node that owns the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    pub node_uuid: Uuid,
    /// `node_id_from_uuid(node_uuid)`.
    pub node_id: u32,
    /// The owner's heartbeat slot and that slot's claim generation: a dead owner is one whose
    /// slot generation moved on or whose heartbeat stopped.
    pub slot: u32,
    pub slot_generation: u64,
}

/// A decoded owner record: vacant (`owner == None`) or owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OwnerRecord {
    /// Ownership generation.
    pub generation: u64,
    pub owner: Option<Owner>,
}

impl OwnerRecord {
    pub fn encode(&self, volume: &Volume) -> Result<[u8; RECORD_LEN], LockstateError> {
        let mut raw = RawOwner::new_zeroed();
        if let Some(o) = &self.owner {
            raw.node_id = U32::new(o.node_id);
            raw.slot = U32::new(o.slot);
            raw.node_uuid = o.node_uuid;
            raw.slot_generation = U64::new(o.slot_generation);
        }
        let out = seal(RecordKind::Owner, 0, self.generation, &volume.uuid, raw.as_bytes());
        OwnerRecord::decode(&out, volume)?;
        Ok(out)
    }

    pub fn decode(buf: &[u8], volume: &Volume) -> Result<OwnerRecord, LockstateError> {
        let (generation, body) = open(buf, RecordKind::Owner, 0, &volume.uuid)?;
        let raw = RawOwner::ref_from_bytes(body)
            .map_err(|_| LockstateError::BadBufferLength { got: body.len() })?;
        check_reserved(&raw.reserved, BODY_OFFSET + offset_of!(RawOwner, reserved))?;
        if raw.node_id.get() == 0 {
            check_reserved(body, BODY_OFFSET)
                .map_err(|_| LockstateError::Inconsistent("vacant owner record with owner fields set"))?;
            return Ok(OwnerRecord { generation, owner: None });
        }
        if raw.node_id.get() != node_id_from_uuid(&raw.node_uuid) {
            return Err(LockstateError::Inconsistent("owner node id is not FNV-1a of its uuid"));
        }
        let slot = raw.slot.get();
        if slot >= volume.geometry.slot_count {
            return Err(LockstateError::BadField { field: "owner slot", value: slot.into() });
        }
        if raw.slot_generation.get() == 0 {
            return Err(LockstateError::BadField { field: "owner slot generation", value: 0 });
        }
        let owner = Owner {
            node_uuid: raw.node_uuid,
            node_id: raw.node_id.get(),
            slot,
            slot_generation: raw.slot_generation.get(),
        };
        Ok(OwnerRecord { generation, owner: Some(owner) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockstate::envelope::CHECKSUM_OFFSET;
    use crate::lockstate::Geometry;

    const VOL: Volume = Volume { uuid: [0x66; 16], geometry: Geometry::standard(512) };

    fn owned() -> OwnerRecord {
        let uuid = [0x77; 16];
        OwnerRecord {
            generation: 12,
            owner: Some(Owner { node_uuid: uuid, node_id: node_id_from_uuid(&uuid), slot: 2, slot_generation: 4 }),
        }
    }

    #[test]
    fn round_trips() {
        for rec in [owned(), OwnerRecord { generation: 0, owner: None }] {
            assert_eq!(OwnerRecord::decode(&rec.encode(&VOL).unwrap(), &VOL).unwrap(), rec);
        }
    }

    #[test]
    fn rejects_bad_owners() {
        let good = owned().encode(&VOL).unwrap();
        for (offset, value) in [(40usize, 1u8), (44, 64), (64, 0), (300, 1)] {
            let mut bad = good;
            bad[offset] = value;
            let sum = blake3::hash(&bad[..CHECKSUM_OFFSET]);
            bad[CHECKSUM_OFFSET..].copy_from_slice(sum.as_bytes());
            assert!(OwnerRecord::decode(&bad, &VOL).is_err(), "offset {offset} accepted");
        }
        let mut vacant_dirty = OwnerRecord { generation: 1, owner: None }.encode(&VOL).unwrap();
        vacant_dirty[50] = 1;
        let sum = blake3::hash(&vacant_dirty[..CHECKSUM_OFFSET]);
        vacant_dirty[CHECKSUM_OFFSET..].copy_from_slice(sum.as_bytes());
        assert!(OwnerRecord::decode(&vacant_dirty, &VOL).is_err());
    }
}
