//! Why a lockstate record was refused.

use core::fmt;

use super::RecordKind;
use crate::ident::{HostnameError, UuidText};

/// A malformed, foreign, stale or torn lockstate record, or an encoder input out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockstateError {
    /// The buffer handed to the decoder is not exactly 512 bytes.
    BadBufferLength { got: usize },
    /// All zero: the block was never written.
    Blank,
    BadMagic { found: [u8; 4] },
    UnsupportedVersion { found: u16 },
    /// The record's own length field is not 512.
    BadRecordLength { found: u32 },
    /// Torn or corrupted write.
    BadChecksum,
    UnknownType { found: u16 },
    WrongType { expected: RecordKind, found: RecordKind },
    /// The record belongs at another index: a misdirected write.
    WrongIndex { expected: u32, found: u32 },
    /// The record belongs to another volume (stale copy or wrong device).
    WrongVolume { expected: [u8; 16], found: [u8; 16] },
    /// Index past the geometry's count (encoders and layout math).
    IndexOutOfRange { index: u32, count: u32 },
    /// A reserved byte is not zero.
    NonZeroReserved { offset: usize },
    /// A field holds a value outside its range.
    BadField { field: &'static str, value: u64 },
    /// Fields that must agree do not.
    Inconsistent(&'static str),
    /// The header's geometry or timing is unusable.
    BadGeometry(&'static str),
    BadHostname(HostnameError),
}

impl fmt::Display for LockstateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadBufferLength { got } => {
                write!(f, "lockstate record buffer is {got} bytes, expected 512")
            }
            Self::Blank => f.write_str("lockstate record was never written (all zero)"),
            Self::BadMagic { found } => write!(f, "bad lockstate magic {found:02x?}"),
            Self::UnsupportedVersion { found } => {
                write!(f, "unsupported lockstate format version {found}")
            }
            Self::BadRecordLength { found } => {
                write!(f, "lockstate record claims length {found}, expected 512")
            }
            Self::BadChecksum => f.write_str("lockstate record checksum mismatch (torn or corrupt write)"),
            Self::UnknownType { found } => write!(f, "unknown lockstate record type {found}"),
            Self::WrongType { expected, found } => {
                write!(f, "expected a {expected} record, found a {found} record")
            }
            Self::WrongIndex { expected, found } => {
                write!(f, "record for index {found} found at index {expected} (misdirected write)")
            }
            Self::WrongVolume { expected, found } => write!(
                f,
                "record belongs to volume {}, not {}",
                UuidText(found),
                UuidText(expected)
            ),
            Self::IndexOutOfRange { index, count } => {
                write!(f, "record index {index} is out of range (count {count})")
            }
            Self::NonZeroReserved { offset } => {
                write!(f, "reserved byte at offset {offset} is not zero")
            }
            Self::BadField { field, value } => write!(f, "{field} has invalid value {value}"),
            Self::Inconsistent(what) => write!(f, "inconsistent record: {what}"),
            Self::BadGeometry(what) => write!(f, "bad lockstate geometry: {what}"),
            Self::BadHostname(e) => write!(f, "bad hostname in record: {e}"),
        }
    }
}

impl core::error::Error for LockstateError {}

impl From<HostnameError> for LockstateError {
    fn from(e: HostnameError) -> Self {
        Self::BadHostname(e)
    }
}

/// Fails with the offset of the first non-zero byte of a reserved field at `base`.
pub(crate) fn check_reserved(field: &[u8], base: usize) -> Result<(), LockstateError> {
    match field.iter().position(|&b| b != 0) {
        Some(i) => Err(LockstateError::NonZeroReserved { offset: base + i }),
        None => Ok(()),
    }
}
