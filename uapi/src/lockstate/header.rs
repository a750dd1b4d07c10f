//! The lockstate header (record type 1, block 0): identity, secret, geometry, timing.

use core::fmt;
use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::envelope::{open, seal, BODY_OFFSET};
use super::error::check_reserved;
use super::{Geometry, LockstateError, RecordKind, Timing, Volume, BODY_LEN, RECORD_LEN};
use crate::ident::{Uuid, UuidText};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader {
    secret: [u8; 32],
    owner_offset: U64,
    slots_offset: U64,
    locks_offset: U64,
    total_size: U64,
    slot_count: U32,
    lock_count: U32,
    block_size: U32,
    heartbeat_interval_ms: U32,
    io_timeout_ms: U32,
    dead_after_ms: U32,
    reserved: [u8; 352],
}

const _: () = assert!(core::mem::size_of::<RawHeader>() == BODY_LEN);

/// The decoded header. `Debug` never prints the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bumped each time the header is rewritten (e.g. a secret rotation).
    pub generation: u64,
    /// The XFS superblock uuid of the volume this lockstate belongs to.
    pub volume_uuid: Uuid,
    /// 32 random bytes; the root of every discovery and peer key. Never all zero.
    pub secret: [u8; 32],
    pub geometry: Geometry,
    pub timing: Timing,
}

impl Header {
    /// A fresh header with the standard geometry and default timing.
    pub fn new(volume_uuid: Uuid, secret: [u8; 32], block_size: u32) -> Header {
        Header {
            generation: 1,
            volume_uuid,
            secret,
            geometry: Geometry::standard(block_size),
            timing: Timing::DEFAULT,
        }
    }

    /// The context other records are validated against.
    pub fn volume(&self) -> Volume {
        Volume { uuid: self.volume_uuid, geometry: self.geometry }
    }

    pub fn encode(&self) -> Result<[u8; RECORD_LEN], LockstateError> {
        let g = &self.geometry;
        let raw = RawHeader {
            secret: self.secret,
            owner_offset: U64::new(g.owner_offset),
            slots_offset: U64::new(g.slots_offset),
            locks_offset: U64::new(g.locks_offset),
            total_size: U64::new(g.total_size),
            slot_count: U32::new(g.slot_count),
            lock_count: U32::new(g.lock_count),
            block_size: U32::new(g.block_size),
            heartbeat_interval_ms: U32::new(self.timing.heartbeat_interval_ms),
            io_timeout_ms: U32::new(self.timing.io_timeout_ms),
            dead_after_ms: U32::new(self.timing.dead_after_ms),
            reserved: [0; 352],
        };
        let out = seal(RecordKind::Header, 0, self.generation, &self.volume_uuid, raw.as_bytes());
        // Encoders refuse exactly what decoders refuse.
        Header::decode(&out, &self.volume_uuid)?;
        Ok(out)
    }

    /// Decodes block 0 and checks it belongs to `volume_uuid` (the XFS superblock uuid).
    pub fn decode(buf: &[u8], volume_uuid: &Uuid) -> Result<Header, LockstateError> {
        let (generation, body) = open(buf, RecordKind::Header, 0, volume_uuid)?;
        let raw = RawHeader::ref_from_bytes(body)
            .map_err(|_| LockstateError::BadBufferLength { got: body.len() })?;
        check_reserved(&raw.reserved, BODY_OFFSET + offset_of!(RawHeader, reserved))?;
        if raw.secret == [0; 32] {
            return Err(LockstateError::Inconsistent("volume secret is all zero"));
        }
        let geometry = Geometry {
            block_size: raw.block_size.get(),
            owner_offset: raw.owner_offset.get(),
            slots_offset: raw.slots_offset.get(),
            slot_count: raw.slot_count.get(),
            locks_offset: raw.locks_offset.get(),
            lock_count: raw.lock_count.get(),
            total_size: raw.total_size.get(),
        };
        geometry.validate()?;
        let timing = Timing {
            heartbeat_interval_ms: raw.heartbeat_interval_ms.get(),
            io_timeout_ms: raw.io_timeout_ms.get(),
            dead_after_ms: raw.dead_after_ms.get(),
        };
        timing.validate()?;
        Ok(Header { generation, volume_uuid: *volume_uuid, secret: raw.secret, geometry, timing })
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("generation", &self.generation)
            .field("volume_uuid", &UuidText(&self.volume_uuid))
            .field("secret", &"<redacted>")
            .field("geometry", &self.geometry)
            .field("timing", &self.timing)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockstate::envelope::CHECKSUM_OFFSET;

    const VOL: Uuid = [0x11; 16];

    fn header() -> Header {
        Header::new(VOL, [0x5a; 32], 512)
    }

    fn reseal(buf: &mut [u8; RECORD_LEN]) {
        let sum = blake3::hash(&buf[..CHECKSUM_OFFSET]);
        buf[CHECKSUM_OFFSET..].copy_from_slice(sum.as_bytes());
    }

    #[test]
    fn round_trips() {
        let h = header();
        let bytes = h.encode().unwrap();
        assert_eq!(&bytes[..4], b"MXLS");
        assert_eq!(Header::decode(&bytes, &VOL).unwrap(), h);
        let h4 = Header { generation: 9, ..Header::new(VOL, [1; 32], 4096) };
        assert_eq!(Header::decode(&h4.encode().unwrap(), &VOL).unwrap(), h4);
    }

    #[test]
    fn debug_redacts_the_secret() {
        extern crate std;
        let text = std::format!("{:?}", header());
        assert!(text.contains("redacted") && !text.contains("90, 90"));
    }

    #[test]
    fn rejects_malformed_headers() {
        let good = header().encode().unwrap();
        assert_eq!(Header::decode(&good[..511], &VOL), Err(LockstateError::BadBufferLength { got: 511 }));
        assert_eq!(Header::decode(&[0; 512], &VOL), Err(LockstateError::Blank));
        assert!(matches!(Header::decode(&good, &[0x22; 16]), Err(LockstateError::WrongVolume { .. })));

        let mut torn = good;
        torn[300..].fill(0);
        assert_eq!(Header::decode(&torn, &VOL), Err(LockstateError::BadChecksum));

        let mut bad = good;
        bad[0] = b'X';
        assert!(matches!(Header::decode(&bad, &VOL), Err(LockstateError::BadMagic { .. })));

        let mut bad = good;
        bad[6] = 2;
        assert_eq!(Header::decode(&bad, &VOL), Err(LockstateError::UnsupportedVersion { found: 2 }));

        let mut bad = good;
        bad[8..12].copy_from_slice(&4096u32.to_le_bytes());
        assert_eq!(Header::decode(&bad, &VOL), Err(LockstateError::BadRecordLength { found: 4096 }));

        // Valid checksums over bad contents: each field check must fire on its own.
        let mut bad = good;
        bad[4] = 9;
        reseal(&mut bad);
        assert_eq!(Header::decode(&bad, &VOL), Err(LockstateError::UnknownType { found: 9 }));

        let mut bad = good;
        bad[4] = 3;
        reseal(&mut bad);
        assert!(matches!(Header::decode(&bad, &VOL), Err(LockstateError::WrongType { .. })));

        let mut bad = good;
        bad[12] = 1;
        reseal(&mut bad);
        assert!(matches!(Header::decode(&bad, &VOL), Err(LockstateError::WrongIndex { .. })));

        let mut bad = good;
        bad[470] = 1;
        reseal(&mut bad);
        assert_eq!(Header::decode(&bad, &VOL), Err(LockstateError::NonZeroReserved { offset: 470 }));

        let mut bad = good;
        bad[40..72].fill(0);
        reseal(&mut bad);
        assert!(matches!(Header::decode(&bad, &VOL), Err(LockstateError::Inconsistent(_))));

        let mut bad = good;
        bad[112..116].copy_from_slice(&1000u32.to_le_bytes()); // block size
        reseal(&mut bad);
        assert!(matches!(Header::decode(&bad, &VOL), Err(LockstateError::BadGeometry(_))));

        let mut bad = good;
        bad[124..128].copy_from_slice(&1u32.to_le_bytes()); // dead_after_ms
        reseal(&mut bad);
        assert!(matches!(Header::decode(&bad, &VOL), Err(LockstateError::BadGeometry(_))));
    }

    #[test]
    fn encoder_refuses_what_decoder_refuses() {
        let mut h = header();
        h.secret = [0; 32];
        assert!(h.encode().is_err());
        let mut h = header();
        h.geometry.slot_count = 0;
        assert!(h.encode().is_err());
    }
}
