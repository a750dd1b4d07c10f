//! The peer wire protocol on TCP 7600: authenticated, length-prefixed frames.
//!
//! ```text
//! frame  = header[24] || payload[payload_len] || MAC[32]
//! header =  0 magic "MXPF"  4 version u8  5 type u8  6 flags u16 (0)
//!           8 payload_len u32  12 reserved u32 (0)  16 sequence u64
//! MAC    = keyed BLAKE3(key, header || payload)
//! ```
//!
//! A connection starts with one HELLO frame each way (sequence 0, MAC'd with the hello key,
//! derived from the volume secret), carrying each side's node identity and a fresh 32-byte
//! nonce. Both sides then derive one key per direction from the secret and both nonces, and
//! each sends READY (sequence 1) under its new key. A peer is trusted only once its READY has
//! verified: that proves it holds the volume secret *now*, since a replayed hello cannot
//! produce a MAC under a key that includes our fresh nonce. Sequence numbers then count up by
//! one per frame per direction, so a dropped, replayed or reordered frame is an error.
//!
//! The decoder is incremental over a caller-owned buffer, checks the header (including the
//! payload length against [`MAX_PAYLOAD`]) before asking for the payload, and never reads
//! past a declared length.

mod error;
mod frame;
mod hello;

pub use error::PeerError;
pub use frame::{Decoded, Frame, FrameDecoder, FrameEncoder, Sealed};
pub use hello::{session_keys, FrameKey, Hello, HelloKey, Role, SessionKeys, HELLO_LEN};

/// TCP port peers listen on.
pub const PORT: u16 = 7600;
pub const MAGIC: [u8; 4] = *b"MXPF";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 24;
pub const MAC_LEN: usize = 32;
/// Largest payload accepted (1 MiB); bounds every receive buffer.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Largest whole frame.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_PAYLOAD + MAC_LEN;
/// Payload length of an OWNER message.
pub const OWNER_LEN: usize = 4;

/// Message types (the `type` byte). Unknown types are refused.
pub mod msg_type {
    /// Identity and nonce; first frame each way, payload [`super::HELLO_LEN`] bytes.
    pub const HELLO: u8 = 1;
    /// Empty; first frame under the session key, confirms the peer derived it.
    pub const READY: u8 = 2;
    /// Empty; orderly close.
    pub const CLOSE: u8 = 3;
    /// Membership heartbeat and view.
    pub const MEMBERSHIP: u8 = 16;
    /// DLM request, grant, BAST, recovery report.
    pub const DLM: u8 = 17;
    /// Remote VFS operation between a member and the owner.
    pub const REMOTE_OP: u8 = 18;
    /// The sender has taken the volume over and serves it now: payload its node id, u32
    /// little-endian ([`super::OWNER_LEN`] bytes). Members waiting to follow elect at once.
    pub const OWNER: u8 = 19;

    /// Payload bounds (inclusive) of a type, or `None` if the type is unknown.
    pub const fn payload_bounds(t: u8) -> Option<(usize, usize)> {
        match t {
            HELLO => Some((super::HELLO_LEN, super::HELLO_LEN)),
            READY | CLOSE => Some((0, 0)),
            MEMBERSHIP | DLM | REMOTE_OP => Some((0, super::MAX_PAYLOAD)),
            OWNER => Some((super::OWNER_LEN, super::OWNER_LEN)),
            _ => None,
        }
    }
}
