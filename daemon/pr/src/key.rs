//! Reservation keys.
//!
//! An MXFS node registers on the LUN with the 64-bit key `"MXFS" << 32 | node_id`: the upper
//! half is the ASCII tag `MXFS` (0x4d584653), the lower half the node's 32-bit id (FNV-1a of
//! `/etc/mxfs/node.uuid`, see `mxfs_uapi::ident`). Consequences:
//!
//! - the key is never 0 (0 is not a valid key: registering 0 means "unregister"), whatever the
//!   node id, because the tag is not 0;
//! - any survivor can compute a dead node's key from its node id, with no table to agree on;
//! - keys registered by something other than MXFS (another cluster stack on the same LUN, an
//!   operator's `sg_persist`) are recognisable and reported as foreign.

use core::fmt;
use core::num::NonZeroU64;

use mxfs_uapi::ident::{node_id_from_uuid, Uuid};

/// The upper 32 bits of every MXFS key: ASCII "MXFS".
pub const KEY_TAG: u64 = 0x4d58_4653 << 32;

/// A SCSI persistent reservation key; never 0.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrKey(NonZeroU64);

impl PrKey {
    /// Any non-zero 64-bit value (keys read from the device, operator input).
    pub const fn new(raw: u64) -> Option<PrKey> {
        match NonZeroU64::new(raw) {
            Some(k) => Some(PrKey(k)),
            None => None,
        }
    }

    /// The key of the node with this node id.
    pub const fn for_node(node_id: u32) -> PrKey {
        match NonZeroU64::new(KEY_TAG | node_id as u64) {
            Some(k) => PrKey(k),
            // KEY_TAG is not 0, so neither is the OR.
            None => unreachable!(),
        }
    }

    /// The key of the node with this uuid (its node id is FNV-1a of the uuid).
    pub const fn for_uuid(uuid: &Uuid) -> PrKey {
        PrKey::for_node(node_id_from_uuid(uuid))
    }

    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The node id, when this is an MXFS key; `None` for a foreign key.
    pub const fn node_id(self) -> Option<u32> {
        if self.0.get() & 0xffff_ffff_0000_0000 == KEY_TAG {
            Some(self.0.get() as u32)
        } else {
            None
        }
    }

    /// Parses operator input: `node:<id>` (decimal or 0x-hex node id), `0x<hex>` or a decimal
    /// key. A zero key is refused.
    pub fn parse(text: &str) -> Result<PrKey, KeyParseError> {
        let text = text.trim();
        if let Some(id) = text.strip_prefix("node:") {
            let id = parse_u64(id).ok_or(KeyParseError::BadNumber)?;
            let id = u32::try_from(id).map_err(|_| KeyParseError::NodeIdTooLarge(id))?;
            return Ok(PrKey::for_node(id));
        }
        let raw = parse_u64(text).ok_or(KeyParseError::BadNumber)?;
        PrKey::new(raw).ok_or(KeyParseError::Zero)
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.len() <= 16 => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

/// Why a key given on a command line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyParseError {
    BadNumber,
    Zero,
    NodeIdTooLarge(u64),
}

impl fmt::Display for KeyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadNumber => f.write_str("expected a key as 0x<hex> or decimal, or node:<id>"),
            Self::Zero => f.write_str("0 is not a valid reservation key"),
            Self::NodeIdTooLarge(id) => write!(f, "node id {id} does not fit in 32 bits"),
        }
    }
}

impl std::error::Error for KeyParseError {}

impl fmt::Display for PrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}", self.0.get())
    }
}

impl fmt::Debug for PrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node_id() {
            Some(id) => write!(f, "PrKey(node {id:#010x})"),
            None => write!(f, "PrKey({self})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layout_and_round_trip() {
        let k = PrKey::for_node(0x1234_abcd);
        assert_eq!(k.get(), 0x4d58_4653_1234_abcd);
        assert_eq!(k.node_id(), Some(0x1234_abcd));
        assert_eq!(k.to_string(), "0x4d5846531234abcd");
        assert_eq!(&KEY_TAG.to_be_bytes()[..4], b"MXFS");
    }

    #[test]
    fn key_is_never_zero() {
        for id in [0u32, 1, u32::MAX, 0x8000_0000] {
            assert_ne!(PrKey::for_node(id).get(), 0);
        }
        assert_eq!(PrKey::new(0), None);
        // The all-zero uuid hashes to a non-zero id, and the tag keeps the key non-zero anyway.
        assert_ne!(PrKey::for_uuid(&[0; 16]).get(), 0);
    }

    #[test]
    fn key_follows_the_node_id_of_the_uuid() {
        let uuid = [0x42u8; 16];
        assert_eq!(
            PrKey::for_uuid(&uuid),
            PrKey::for_node(node_id_from_uuid(&uuid))
        );
        assert_eq!(
            PrKey::for_uuid(&uuid).node_id(),
            Some(mxfs_uapi::ident::fnv1a32(&uuid))
        );
    }

    #[test]
    fn distinct_nodes_distinct_keys() {
        let a = PrKey::for_uuid(&[1; 16]);
        let b = PrKey::for_uuid(&[2; 16]);
        assert_ne!(a, b);
    }

    #[test]
    fn foreign_keys_are_recognised() {
        assert_eq!(PrKey::new(0x1234).unwrap().node_id(), None);
        assert_eq!(PrKey::new(0x4d58_4654_0000_0001).unwrap().node_id(), None);
    }

    #[test]
    fn parse_operator_input() {
        assert_eq!(PrKey::parse("node:1"), Ok(PrKey::for_node(1)));
        assert_eq!(PrKey::parse("node:0x10"), Ok(PrKey::for_node(16)));
        assert_eq!(PrKey::parse("0x4d58465300000002"), Ok(PrKey::for_node(2)));
        assert_eq!(PrKey::parse("123"), Ok(PrKey::new(123).unwrap()));
        assert_eq!(PrKey::parse("0"), Err(KeyParseError::Zero));
        assert_eq!(PrKey::parse("0x0"), Err(KeyParseError::Zero));
        assert_eq!(
            PrKey::parse("node:4294967296"),
            Err(KeyParseError::NodeIdTooLarge(1 << 32))
        );
        for bad in [
            "",
            "0x",
            "x1",
            "-1",
            "+1",
            "0x10000000000000000",
            "node:",
            "1a",
            "0xg",
        ] {
            assert_eq!(PrKey::parse(bad), Err(KeyParseError::BadNumber), "{bad:?}");
        }
    }
}
