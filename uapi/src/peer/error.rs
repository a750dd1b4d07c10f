//! Why a peer frame or hello was refused. Any of these ends the connection.

use core::fmt;

use crate::ident::{Uuid, UuidText};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerError {
    BadMagic { found: [u8; 4] },
    UnsupportedVersion { found: u8 },
    UnknownType { found: u8 },
    UnknownFlags { flags: u16 },
    NonZeroReserved,
    /// Payload length outside what the type allows (checked before buffering it).
    BadPayloadLength { msg_type: u8, len: u32 },
    /// Forged, corrupted, or keyed with another secret or session.
    BadMac,
    /// A frame was lost, replayed or reordered.
    BadSequence { expected: u64, got: u64 },
    /// A valid type at the wrong point of the conversation.
    UnexpectedType { msg_type: u8 },
    /// A call made in the wrong phase (e.g. data before the session is established).
    WrongPhase,
    /// An earlier error ended this stream.
    Poisoned,
    /// The 2^64 sequence space is used up.
    SequenceExhausted,
    BufferTooSmall { need: usize },
    BadHello(&'static str),
    OtherVolume { volume_uuid: Uuid },
    /// Both ends claim the same role.
    RoleConflict,
    /// The peer has our own node uuid (a reflected hello or a cloned identity).
    SelfConnection,
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic { found } => write!(f, "bad peer frame magic {found:02x?}"),
            Self::UnsupportedVersion { found } => write!(f, "unsupported peer protocol version {found}"),
            Self::UnknownType { found } => write!(f, "unknown peer message type {found}"),
            Self::UnknownFlags { flags } => write!(f, "unknown peer frame flags {flags:#06x}"),
            Self::NonZeroReserved => f.write_str("peer frame reserved field is not zero"),
            Self::BadPayloadLength { msg_type, len } => {
                write!(f, "peer message type {msg_type} with invalid payload length {len}")
            }
            Self::BadMac => f.write_str("peer frame MAC mismatch (forged, corrupt or wrong volume secret)"),
            Self::BadSequence { expected, got } => {
                write!(f, "peer frame sequence {got}, expected {expected} (lost, replayed or reordered)")
            }
            Self::UnexpectedType { msg_type } => {
                write!(f, "peer message type {msg_type} not allowed at this point")
            }
            Self::WrongPhase => f.write_str("peer codec used in the wrong phase"),
            Self::Poisoned => f.write_str("peer stream already failed"),
            Self::SequenceExhausted => f.write_str("peer sequence numbers exhausted"),
            Self::BufferTooSmall { need } => write!(f, "peer frame needs a {need}-byte buffer"),
            Self::BadHello(what) => write!(f, "bad peer hello: {what}"),
            Self::OtherVolume { volume_uuid } => {
                write!(f, "peer hello is for another volume {}", UuidText(volume_uuid))
            }
            Self::RoleConflict => f.write_str("both ends of the peer connection claim the same role"),
            Self::SelfConnection => f.write_str("peer hello carries our own node uuid"),
        }
    }
}

impl core::error::Error for PeerError {}
