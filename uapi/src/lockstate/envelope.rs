//! The 40-byte header and 32-byte checksum every lockstate record shares.
//!
//! ```text
//!   0  magic "MXLS"        4  type u16        6  version u16     8  length u32 (512)
//!  12  index u32          16  generation u64 24  volume uuid [16]
//!  40  body [440]        480  BLAKE3(bytes 0..480) [32]
//! ```

use core::fmt;
use core::mem::offset_of;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{LockstateError, FORMAT_VERSION, MAGIC, RECORD_LEN};
use crate::ident::Uuid;

/// Offset of the checksum, which covers every byte before it.
pub const CHECKSUM_OFFSET: usize = RECORD_LEN - 32;
/// Bytes available to each record type between the shared header and the checksum.
pub const BODY_LEN: usize = CHECKSUM_OFFSET - BODY_OFFSET;
/// Offset of the type-specific body.
pub(crate) const BODY_OFFSET: usize = 40;

/// Record types (the `type` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RecordKind {
    Header = 1,
    Owner = 2,
    Heartbeat = 3,
    Lock = 4,
}

impl RecordKind {
    fn from_u16(v: u16) -> Option<RecordKind> {
        Some(match v {
            1 => Self::Header,
            2 => Self::Owner,
            3 => Self::Heartbeat,
            4 => Self::Lock,
            _ => return None,
        })
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Owner => "owner",
            Self::Heartbeat => "heartbeat",
            Self::Lock => "lock",
        })
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RawRecord {
    magic: [u8; 4],
    kind: U16,
    version: U16,
    length: U32,
    index: U32,
    generation: U64,
    volume: [u8; 16],
    body: [u8; BODY_LEN],
    checksum: [u8; 32],
}

const _: () = assert!(core::mem::size_of::<RawRecord>() == RECORD_LEN);
const _: () = assert!(offset_of!(RawRecord, body) == BODY_OFFSET);
const _: () = assert!(offset_of!(RawRecord, checksum) == CHECKSUM_OFFSET);

/// The validated shared fields of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub kind: RecordKind,
    pub index: u32,
    pub generation: u64,
    pub volume: Uuid,
}

/// Validates everything but the body: length, magic, version, length field, checksum and
/// type. Used by scrub and by decoders before they look at type-specific fields.
pub fn peek(buf: &[u8]) -> Result<Envelope, LockstateError> {
    Ok(parse(buf)?.0)
}

fn parse(buf: &[u8]) -> Result<(Envelope, &[u8; BODY_LEN]), LockstateError> {
    let raw = RawRecord::ref_from_bytes(buf)
        .map_err(|_| LockstateError::BadBufferLength { got: buf.len() })?;
    if buf.iter().all(|&b| b == 0) {
        return Err(LockstateError::Blank);
    }
    if raw.magic != MAGIC {
        return Err(LockstateError::BadMagic { found: raw.magic });
    }
    // Version before checksum: a newer format may checksum differently.
    if raw.version.get() != FORMAT_VERSION {
        return Err(LockstateError::UnsupportedVersion { found: raw.version.get() });
    }
    if raw.length.get() as usize != RECORD_LEN {
        return Err(LockstateError::BadRecordLength { found: raw.length.get() });
    }
    if blake3::hash(&buf[..CHECKSUM_OFFSET]) != blake3::Hash::from_bytes(raw.checksum) {
        return Err(LockstateError::BadChecksum);
    }
    let kind = RecordKind::from_u16(raw.kind.get())
        .ok_or(LockstateError::UnknownType { found: raw.kind.get() })?;
    let env = Envelope {
        kind,
        index: raw.index.get(),
        generation: raw.generation.get(),
        volume: raw.volume,
    };
    Ok((env, &raw.body))
}

/// Validates the shared fields against what the reader expects at this position and returns
/// the generation and the body.
pub(crate) fn open<'a>(
    buf: &'a [u8],
    kind: RecordKind,
    index: u32,
    volume: &Uuid,
) -> Result<(u64, &'a [u8; BODY_LEN]), LockstateError> {
    let (env, body) = parse(buf)?;
    if env.kind != kind {
        return Err(LockstateError::WrongType { expected: kind, found: env.kind });
    }
    if env.index != index {
        return Err(LockstateError::WrongIndex { expected: index, found: env.index });
    }
    if env.volume != *volume {
        return Err(LockstateError::WrongVolume { expected: *volume, found: env.volume });
    }
    Ok((env.generation, body))
}

/// Builds a checksummed record around `body`.
pub(crate) fn seal(
    kind: RecordKind,
    index: u32,
    generation: u64,
    volume: &Uuid,
    body: &[u8],
) -> [u8; RECORD_LEN] {
    let mut raw = RawRecord {
        magic: MAGIC,
        kind: U16::new(kind as u16),
        version: U16::new(FORMAT_VERSION),
        length: U32::new(RECORD_LEN as u32),
        index: U32::new(index),
        generation: U64::new(generation),
        volume: *volume,
        body: [0; BODY_LEN],
        checksum: [0; 32],
    };
    let n = body.len().min(BODY_LEN);
    raw.body[..n].copy_from_slice(&body[..n]);
    let mut out = [0u8; RECORD_LEN];
    out.copy_from_slice(raw.as_bytes());
    let sum = blake3::hash(&out[..CHECKSUM_OFFSET]);
    out[CHECKSUM_OFFSET..].copy_from_slice(sum.as_bytes());
    out
}
