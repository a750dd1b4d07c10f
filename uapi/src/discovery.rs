//! The discovery announcement: one UDP datagram a node multicasts to 239.66.83.1:7601 (or
//! unicasts to configured peers) every few seconds.
//!
//! ```text
//!   0  magic "MXDA"   4  version u8   5  hostname length u8   6  total length u16
//!   8  volume uuid [16]   24  node uuid [16]   40  node id u32   44  TCP port u16
//!  46  flags u16 (0)      48  epoch u64        56  hostname [n]  56+n  MAC [32]
//! ```
//!
//! The MAC is keyed BLAKE3 over every byte before it, with a key derived from the volume
//! secret in the lockstate header: only a host that can read the LUN can announce itself.
//! Nodes of other volumes share the group, so a datagram for another volume is reported as
//! [`DiscoveryError::OtherVolume`] (ignore quietly) before the MAC is even computed.

use core::fmt;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::ident::{node_id_from_uuid, Hostname, HostnameError, Uuid, HOSTNAME_MAX};
use crate::keys;

/// Multicast group announcements are sent to.
pub const MULTICAST_GROUP: [u8; 4] = [239, 66, 83, 1];
/// UDP port announcements are sent to.
pub const PORT: u16 = 7601;
pub const MAGIC: [u8; 4] = *b"MXDA";
pub const VERSION: u8 = 1;
/// Fixed part before the hostname.
pub const FIXED_LEN: usize = 56;
/// MAC length.
pub const MAC_LEN: usize = 32;
/// Shortest datagram (empty hostname).
pub const MIN_LEN: usize = FIXED_LEN + MAC_LEN;
/// Longest datagram; receive buffers need no more.
pub const MAX_LEN: usize = MIN_LEN + HOSTNAME_MAX;

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawFixed {
    magic: [u8; 4],
    version: u8,
    hostname_len: u8,
    total_len: U16,
    volume_uuid: [u8; 16],
    node_uuid: [u8; 16],
    node_id: U32,
    tcp_port: U16,
    flags: U16,
    epoch: U64,
}

const _: () = assert!(core::mem::size_of::<RawFixed>() == FIXED_LEN);

/// The MAC key for one volume's announcements.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryKey([u8; 32]);

impl DiscoveryKey {
    /// `derive_key("MXFS 2026 discovery announcement MAC key v1", secret || volume_uuid)`.
    pub fn derive(secret: &[u8; 32], volume_uuid: &Uuid) -> DiscoveryKey {
        DiscoveryKey(keys::derive(keys::DISCOVERY_CONTEXT, secret, volume_uuid, &[]))
    }

    /// Keyed BLAKE3 of raw bytes under this key (an announcement's MAC is over every byte
    /// before it). Tests and fuzzers use it to build or repair datagrams.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        keys::mac(&self.0, data)
    }
}

impl fmt::Debug for DiscoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DiscoveryKey(<redacted>)")
    }
}

/// A verified announcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announcement {
    pub volume_uuid: Uuid,
    pub node_uuid: Uuid,
    /// Always `node_id_from_uuid(node_uuid)`.
    pub node_id: u32,
    /// Where the sender accepts peer connections (normally 7600). Never 0.
    pub tcp_port: u16,
    /// The sender's membership epoch.
    pub epoch: u64,
    pub hostname: Hostname,
}

/// Why a datagram was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoveryError {
    TooShort { got: usize },
    TooLong { got: usize },
    BadMagic { found: [u8; 4] },
    UnsupportedVersion { found: u8 },
    /// The total length field disagrees with the datagram size.
    LengthMismatch { declared: u16, got: usize },
    /// The hostname length does not fit the total length or the limit.
    BadHostnameLength { declared: u8 },
    /// A node of another volume (not an error: drop it silently).
    OtherVolume { volume_uuid: Uuid },
    /// Forged, corrupted or keyed with another secret.
    BadMac,
    NodeIdMismatch { node_id: u32 },
    ZeroNodeUuid,
    ZeroPort,
    UnknownFlags { flags: u16 },
    BadHostname(HostnameError),
    /// Encoder output buffer too small.
    BufferTooSmall { need: usize },
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { got } => write!(f, "announcement of {got} bytes is shorter than {MIN_LEN}"),
            Self::TooLong { got } => write!(f, "announcement of {got} bytes is longer than {MAX_LEN}"),
            Self::BadMagic { found } => write!(f, "bad announcement magic {found:02x?}"),
            Self::UnsupportedVersion { found } => write!(f, "unsupported announcement version {found}"),
            Self::LengthMismatch { declared, got } => {
                write!(f, "announcement declares {declared} bytes but {got} arrived")
            }
            Self::BadHostnameLength { declared } => {
                write!(f, "announcement hostname length {declared} does not fit the datagram")
            }
            Self::OtherVolume { volume_uuid } => {
                write!(f, "announcement for another volume {}", crate::ident::UuidText(volume_uuid))
            }
            Self::BadMac => f.write_str("announcement MAC mismatch (forged, corrupt or wrong volume secret)"),
            Self::NodeIdMismatch { node_id } => {
                write!(f, "announced node id {node_id:#010x} is not FNV-1a of the node uuid")
            }
            Self::ZeroNodeUuid => f.write_str("announcement carries an all-zero node uuid"),
            Self::ZeroPort => f.write_str("announcement carries TCP port 0"),
            Self::UnknownFlags { flags } => write!(f, "announcement has unknown flags {flags:#06x}"),
            Self::BadHostname(e) => write!(f, "announcement {e}"),
            Self::BufferTooSmall { need } => write!(f, "announcement needs a {need}-byte buffer"),
        }
    }
}

impl core::error::Error for DiscoveryError {}

impl From<HostnameError> for DiscoveryError {
    fn from(e: HostnameError) -> Self {
        Self::BadHostname(e)
    }
}

impl Announcement {
    /// Bytes this announcement encodes to.
    pub fn encoded_len(&self) -> usize {
        MIN_LEN + self.hostname.as_bytes().len()
    }

    /// Writes the datagram into `out` and returns its length. Refuses values the decoder
    /// would refuse.
    pub fn encode(&self, key: &DiscoveryKey, out: &mut [u8]) -> Result<usize, DiscoveryError> {
        self.check()?;
        let name = self.hostname.as_bytes();
        let len = self.encoded_len();
        let out = out.get_mut(..len).ok_or(DiscoveryError::BufferTooSmall { need: len })?;
        let fixed = RawFixed {
            magic: MAGIC,
            version: VERSION,
            hostname_len: name.len() as u8, // <= 64 by Hostname's invariant
            total_len: U16::new(len as u16),
            volume_uuid: self.volume_uuid,
            node_uuid: self.node_uuid,
            node_id: U32::new(self.node_id),
            tcp_port: U16::new(self.tcp_port),
            flags: U16::new(0),
            epoch: U64::new(self.epoch),
        };
        out[..FIXED_LEN].copy_from_slice(fixed.as_bytes());
        out[FIXED_LEN..FIXED_LEN + name.len()].copy_from_slice(name);
        let mac_at = len - MAC_LEN;
        let tag = keys::mac(&key.0, &out[..mac_at]);
        out[mac_at..].copy_from_slice(&tag);
        Ok(len)
    }

    /// Verifies and decodes a datagram for `volume_uuid`. Structure first, then the volume,
    /// then the MAC (constant-time), then the values: nothing unauthenticated is interpreted
    /// beyond what is needed to find the MAC.
    pub fn decode(buf: &[u8], volume_uuid: &Uuid, key: &DiscoveryKey) -> Result<Announcement, DiscoveryError> {
        if buf.len() < MIN_LEN {
            return Err(DiscoveryError::TooShort { got: buf.len() });
        }
        if buf.len() > MAX_LEN {
            return Err(DiscoveryError::TooLong { got: buf.len() });
        }
        let raw = RawFixed::ref_from_bytes(&buf[..FIXED_LEN])
            .map_err(|_| DiscoveryError::TooShort { got: buf.len() })?;
        if raw.magic != MAGIC {
            return Err(DiscoveryError::BadMagic { found: raw.magic });
        }
        if raw.version != VERSION {
            return Err(DiscoveryError::UnsupportedVersion { found: raw.version });
        }
        if usize::from(raw.total_len.get()) != buf.len() {
            return Err(DiscoveryError::LengthMismatch { declared: raw.total_len.get(), got: buf.len() });
        }
        let name_len = usize::from(raw.hostname_len);
        if name_len > HOSTNAME_MAX || MIN_LEN + name_len != buf.len() {
            return Err(DiscoveryError::BadHostnameLength { declared: raw.hostname_len });
        }
        if raw.volume_uuid != *volume_uuid {
            return Err(DiscoveryError::OtherVolume { volume_uuid: raw.volume_uuid });
        }
        let mac_at = buf.len() - MAC_LEN;
        if !keys::verify(&key.0, &buf[..mac_at], &buf[mac_at..]) {
            return Err(DiscoveryError::BadMac);
        }
        if raw.flags.get() != 0 {
            return Err(DiscoveryError::UnknownFlags { flags: raw.flags.get() });
        }
        let ann = Announcement {
            volume_uuid: raw.volume_uuid,
            node_uuid: raw.node_uuid,
            node_id: raw.node_id.get(),
            tcp_port: raw.tcp_port.get(),
            epoch: raw.epoch.get(),
            hostname: Hostname::new(&buf[FIXED_LEN..mac_at])?,
        };
        ann.check()?;
        Ok(ann)
    }

    fn check(&self) -> Result<(), DiscoveryError> {
        if self.node_uuid == [0; 16] {
            return Err(DiscoveryError::ZeroNodeUuid);
        }
        if self.node_id != node_id_from_uuid(&self.node_uuid) {
            return Err(DiscoveryError::NodeIdMismatch { node_id: self.node_id });
        }
        if self.tcp_port == 0 {
            return Err(DiscoveryError::ZeroPort);
        }
        Ok(())
    }
}

/// The volume a datagram claims to be for, without verifying anything: lets one socket
/// serve several volumes by picking the key to verify with.
pub fn peek_volume(buf: &[u8]) -> Option<Uuid> {
    if buf.len() < MIN_LEN || buf[..4] != MAGIC {
        return None;
    }
    buf[8..24].try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOL: Uuid = [0xa1; 16];

    fn key() -> DiscoveryKey {
        DiscoveryKey::derive(&[0x42; 32], &VOL)
    }

    fn ann() -> Announcement {
        let uuid = [0xb2; 16];
        Announcement {
            volume_uuid: VOL,
            node_uuid: uuid,
            node_id: node_id_from_uuid(&uuid),
            tcp_port: 7600,
            epoch: 17,
            hostname: Hostname::new(b"hv-02.lab").unwrap(),
        }
    }

    fn encode(a: &Announcement) -> ([u8; MAX_LEN], usize) {
        let mut buf = [0u8; MAX_LEN];
        let n = a.encode(&key(), &mut buf).unwrap();
        (buf, n)
    }

    #[test]
    fn round_trips() {
        let (buf, n) = encode(&ann());
        assert_eq!(n, MIN_LEN + 9);
        assert_eq!(Announcement::decode(&buf[..n], &VOL, &key()).unwrap(), ann());
        assert_eq!(peek_volume(&buf[..n]), Some(VOL));
        let empty = Announcement { hostname: Hostname::EMPTY, ..ann() };
        let (buf, n) = encode(&empty);
        assert_eq!(Announcement::decode(&buf[..n], &VOL, &key()).unwrap(), empty);
        let long = Announcement { hostname: Hostname::new(&[b'h'; 64]).unwrap(), ..ann() };
        let (buf, n) = encode(&long);
        assert_eq!(n, MAX_LEN);
        assert_eq!(Announcement::decode(&buf[..n], &VOL, &key()).unwrap(), long);
    }

    #[test]
    fn rejects_malformed_datagrams() {
        let (good, n) = encode(&ann());
        let good = &good[..n];
        let dec = |b: &[u8]| Announcement::decode(b, &VOL, &key());
        assert_eq!(dec(&good[..MIN_LEN - 1]), Err(DiscoveryError::TooShort { got: MIN_LEN - 1 }));
        assert_eq!(dec(&[0u8; MAX_LEN + 1]), Err(DiscoveryError::TooLong { got: MAX_LEN + 1 }));
        assert!(matches!(dec(&good[..n - 1]), Err(DiscoveryError::LengthMismatch { .. })));

        let mut b = good.to_vec();
        b[0] = b'x';
        assert!(matches!(dec(&b), Err(DiscoveryError::BadMagic { .. })));
        let mut b = good.to_vec();
        b[4] = 2;
        assert_eq!(dec(&b), Err(DiscoveryError::UnsupportedVersion { found: 2 }));
        let mut b = good.to_vec();
        b[5] = 200;
        assert_eq!(dec(&b), Err(DiscoveryError::BadHostnameLength { declared: 200 }));
        let mut b = good.to_vec();
        b[5] = 8;
        assert_eq!(dec(&b), Err(DiscoveryError::BadHostnameLength { declared: 8 }));
        let mut b = good.to_vec();
        b[8] ^= 1;
        assert!(matches!(dec(&b), Err(DiscoveryError::OtherVolume { .. })));
        // Any flipped authenticated bit, or the wrong secret, fails the MAC.
        for i in 24..n {
            let mut b = good.to_vec();
            b[i] ^= 0x10;
            assert_eq!(dec(&b), Err(DiscoveryError::BadMac), "byte {i}");
        }
        let other = DiscoveryKey::derive(&[0x43; 32], &VOL);
        assert_eq!(Announcement::decode(good, &VOL, &other), Err(DiscoveryError::BadMac));
    }

    #[test]
    fn refuses_inconsistent_values_even_when_authentic() {
        let mut buf = [0u8; MAX_LEN];
        let bad_id = Announcement { node_id: 5, ..ann() };
        assert!(matches!(bad_id.encode(&key(), &mut buf), Err(DiscoveryError::NodeIdMismatch { .. })));
        let bad_port = Announcement { tcp_port: 0, ..ann() };
        assert_eq!(bad_port.encode(&key(), &mut buf), Err(DiscoveryError::ZeroPort));
        assert_eq!(ann().encode(&key(), &mut buf[..10]), Err(DiscoveryError::BufferTooSmall { need: MIN_LEN + 9 }));

        // A sender with the secret but a bad field: re-MAC after editing.
        let (mut good, n) = encode(&ann());
        good[46] = 1; // flags
        let tag = keys::mac(&key().0, &good[..n - MAC_LEN]);
        good[n - MAC_LEN..n].copy_from_slice(&tag);
        assert_eq!(Announcement::decode(&good[..n], &VOL, &key()), Err(DiscoveryError::UnknownFlags { flags: 1 }));
    }
}
