//! Lock records (record type 4): one per granted (resource, holder) pair, written before the
//! grant is answered so that survivors know what a dead node held.
//!
//! Which index a grant uses is the disklock's choice (e.g. home index = `resource_hash %
//! lock_count`, then linear probing); the record names its resource in full, so a reader never
//! depends on that choice to interpret it.

use core::fmt;
use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::envelope::{open, seal, BODY_OFFSET};
use super::error::check_reserved;
use super::{LockstateError, RecordKind, Volume, BODY_LEN, RECORD_LEN};
use crate::ident::fnv1a64;

/// Longest resource name a lock record holds.
pub const MAX_RESOURCE_NAME: usize = 256;

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawLock {
    resource_hash: U64,
    holder_node_id: U32,
    holder_slot: U32,
    holder_generation: U64,
    mode: u8,
    flags: u8,
    name_len: U16,
    name: [u8; MAX_RESOURCE_NAME],
    reserved: [u8; 156],
}

const _: () = assert!(core::mem::size_of::<RawLock>() == BODY_LEN);

/// DLM lock modes, numbered as everywhere else in MXFS (NL = 0 ... EX = 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LockMode {
    NL = 0,
    CR = 1,
    CW = 2,
    PR = 3,
    PW = 4,
    EX = 5,
}

impl LockMode {
    pub fn from_u8(v: u8) -> Option<LockMode> {
        Some(match v {
            0 => Self::NL,
            1 => Self::CR,
            2 => Self::CW,
            3 => Self::PR,
            4 => Self::PW,
            5 => Self::EX,
            _ => return None,
        })
    }
}

/// A resource name of 1 to 256 arbitrary bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceName {
    len: u16,
    bytes: [u8; MAX_RESOURCE_NAME],
}

impl ResourceName {
    pub fn new(name: &[u8]) -> Result<ResourceName, LockstateError> {
        if name.is_empty() || name.len() > MAX_RESOURCE_NAME {
            return Err(LockstateError::BadField { field: "resource name length", value: name.len() as u64 });
        }
        let mut bytes = [0; MAX_RESOURCE_NAME];
        bytes[..name.len()].copy_from_slice(name);
        Ok(ResourceName { len: name.len() as u16, bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// FNV-1a 64 of the name, stored beside it as a cheap cross-check.
    pub fn hash(&self) -> u64 {
        fnv1a64(self.as_bytes())
    }
}

impl fmt::Debug for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceName({:02x?})", self.as_bytes())
    }
}

/// A grant persisted in a lock record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockGrant {
    pub resource: ResourceName,
    pub mode: LockMode,
    /// Never 0.
    pub holder_node_id: u32,
    /// Heartbeat slot of the holder.
    pub holder_slot: u32,
    /// The holder slot's claim generation when granted; a record whose generation differs
    /// from the slot's current one is an orphan of an earlier incarnation. Never 0.
    pub holder_generation: u64,
}

/// A decoded lock record: free (`grant == None`) or holding one grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockRecord {
    /// Bumped on every write of this record, so a reader that remembers it can tell a stale
    /// read (a lower generation) from a current one.
    pub generation: u64,
    pub grant: Option<LockGrant>,
}

impl LockRecord {
    /// Encodes the record for lock index `index`; refuses anything `decode` would.
    pub fn encode(&self, volume: &Volume, index: u32) -> Result<[u8; RECORD_LEN], LockstateError> {
        let mut raw = RawLock::new_zeroed();
        if let Some(g) = &self.grant {
            raw.resource_hash = U64::new(g.resource.hash());
            raw.holder_node_id = U32::new(g.holder_node_id);
            raw.holder_slot = U32::new(g.holder_slot);
            raw.holder_generation = U64::new(g.holder_generation);
            raw.mode = g.mode as u8;
            raw.name_len = U16::new(g.resource.len);
            raw.name = g.resource.bytes;
        }
        let out = seal(RecordKind::Lock, index, self.generation, &volume.uuid, raw.as_bytes());
        LockRecord::decode(&out, volume, index)?;
        Ok(out)
    }

    /// Decodes the record read from lock index `index` of `volume`.
    pub fn decode(buf: &[u8], volume: &Volume, index: u32) -> Result<LockRecord, LockstateError> {
        let count = volume.geometry.lock_count;
        if index >= count {
            return Err(LockstateError::IndexOutOfRange { index, count });
        }
        let (generation, body) = open(buf, RecordKind::Lock, index, &volume.uuid)?;
        let raw = RawLock::ref_from_bytes(body)
            .map_err(|_| LockstateError::BadBufferLength { got: body.len() })?;
        check_reserved(&raw.reserved, BODY_OFFSET + offset_of!(RawLock, reserved))?;
        if raw.flags != 0 {
            return Err(LockstateError::BadField { field: "lock flags", value: raw.flags.into() });
        }
        if raw.holder_node_id.get() == 0 {
            check_reserved(body, BODY_OFFSET)
                .map_err(|_| LockstateError::Inconsistent("free lock record with grant fields set"))?;
            return Ok(LockRecord { generation, grant: None });
        }
        let name_len = usize::from(raw.name_len.get());
        if name_len == 0 || name_len > MAX_RESOURCE_NAME {
            return Err(LockstateError::BadField { field: "resource name length", value: name_len as u64 });
        }
        check_reserved(&raw.name[name_len..], BODY_OFFSET + offset_of!(RawLock, name) + name_len)?;
        let resource = ResourceName::new(&raw.name[..name_len])?;
        if resource.hash() != raw.resource_hash.get() {
            return Err(LockstateError::Inconsistent("resource hash does not match its name"));
        }
        let mode = LockMode::from_u8(raw.mode)
            .ok_or(LockstateError::BadField { field: "lock mode", value: raw.mode.into() })?;
        let holder_slot = raw.holder_slot.get();
        if holder_slot >= volume.geometry.slot_count {
            return Err(LockstateError::BadField { field: "holder slot", value: holder_slot.into() });
        }
        let holder_generation = raw.holder_generation.get();
        if holder_generation == 0 {
            return Err(LockstateError::BadField { field: "holder generation", value: 0 });
        }
        let grant = LockGrant {
            resource,
            mode,
            holder_node_id: raw.holder_node_id.get(),
            holder_slot,
            holder_generation,
        };
        Ok(LockRecord { generation, grant: Some(grant) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockstate::envelope::CHECKSUM_OFFSET;
    use crate::lockstate::Geometry;

    const VOL: Volume = Volume { uuid: [0x55; 16], geometry: Geometry::standard(512) };

    fn granted() -> LockRecord {
        LockRecord {
            generation: 3,
            grant: Some(LockGrant {
                resource: ResourceName::new(b"inode:128:data").unwrap(),
                mode: LockMode::EX,
                holder_node_id: 0xdead_beef,
                holder_slot: 63,
                holder_generation: 2,
            }),
        }
    }

    fn reseal(buf: &mut [u8; RECORD_LEN]) {
        let sum = blake3::hash(&buf[..CHECKSUM_OFFSET]);
        buf[CHECKSUM_OFFSET..].copy_from_slice(sum.as_bytes());
    }

    #[test]
    fn round_trips() {
        let full = LockRecord {
            generation: u64::MAX,
            grant: Some(LockGrant {
                resource: ResourceName::new(&[0xff; MAX_RESOURCE_NAME]).unwrap(),
                ..granted().grant.unwrap()
            }),
        };
        for rec in [granted(), full, LockRecord { generation: 0, grant: None }] {
            let bytes = rec.encode(&VOL, 65535).unwrap();
            assert_eq!(LockRecord::decode(&bytes, &VOL, 65535).unwrap(), rec);
        }
    }

    #[test]
    fn rejects_bad_grants() {
        let good = granted().encode(&VOL, 1).unwrap();
        assert_eq!(
            LockRecord::decode(&good, &VOL, 65536),
            Err(LockstateError::IndexOutOfRange { index: 65536, count: 65536 })
        );
        let edits: [(usize, u8); 7] = [
            (40, 1),   // hash
            (52, 64),  // holder slot 64
            (56, 0),   // holder generation 0 (low byte of 2)
            (64, 6),   // mode 6
            (65, 1),   // flags
            (66, 0),   // name length 0
            (200, 1),  // byte after the name
        ];
        for (offset, value) in edits {
            let mut bad = good;
            bad[offset] = value;
            reseal(&mut bad);
            assert!(LockRecord::decode(&bad, &VOL, 1).is_err(), "offset {offset} accepted");
        }
        // A free record must carry nothing but zeros.
        let mut free = LockRecord { generation: 1, grant: None }.encode(&VOL, 1).unwrap();
        free[70] = 1;
        reseal(&mut free);
        assert!(matches!(LockRecord::decode(&free, &VOL, 1), Err(LockstateError::Inconsistent(_))));
        assert!(ResourceName::new(b"").is_err());
        assert!(ResourceName::new(&[0; 257]).is_err());
    }
}
