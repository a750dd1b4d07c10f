//! The HELLO payload and the keys derived around it.
//!
//! ```text
//!   0  role u8 (1 initiator, 2 responder)   1  reserved u8 (0)   2  TCP port u16
//!   4  node id u32   8  node uuid [16]   24  volume uuid [16]   40  nonce [32]
//!  72  incarnation u64                                                  (80 bytes)
//! ```

use core::fmt;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::PeerError;
use crate::ident::{node_id_from_uuid, Uuid};
use crate::keys;

pub const HELLO_LEN: usize = 80;

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHello {
    role: u8,
    reserved: u8,
    tcp_port: U16,
    node_id: U32,
    node_uuid: [u8; 16],
    volume_uuid: [u8; 16],
    nonce: [u8; 32],
    incarnation: U64,
}

const _: () = assert!(core::mem::size_of::<RawHello>() == HELLO_LEN);

/// Which end of the TCP connection a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// Called connect().
    Initiator = 1,
    /// Called accept().
    Responder = 2,
}

/// One side's hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub role: Role,
    /// The sender's listening port (where to reconnect to it). Never 0.
    pub tcp_port: u16,
    /// `node_id_from_uuid(node_uuid)`.
    pub node_id: u32,
    pub node_uuid: Uuid,
    pub volume_uuid: Uuid,
    /// Fresh random bytes for this connection; never all zero.
    pub nonce: [u8; 32],
    /// Changes every time the sender's daemon restarts (e.g. its slot claim generation).
    pub incarnation: u64,
}

impl Hello {
    pub fn encode(&self) -> Result<[u8; HELLO_LEN], PeerError> {
        self.check()?;
        let raw = RawHello {
            role: self.role as u8,
            reserved: 0,
            tcp_port: U16::new(self.tcp_port),
            node_id: U32::new(self.node_id),
            node_uuid: self.node_uuid,
            volume_uuid: self.volume_uuid,
            nonce: self.nonce,
            incarnation: U64::new(self.incarnation),
        };
        let mut out = [0u8; HELLO_LEN];
        out.copy_from_slice(raw.as_bytes());
        Ok(out)
    }

    /// Decodes an (already MAC-verified) hello payload meant for `volume_uuid`.
    pub fn decode(payload: &[u8], volume_uuid: &Uuid) -> Result<Hello, PeerError> {
        let raw = RawHello::ref_from_bytes(payload)
            .map_err(|_| PeerError::BadHello("payload is not 80 bytes"))?;
        let role = match raw.role {
            1 => Role::Initiator,
            2 => Role::Responder,
            _ => return Err(PeerError::BadHello("unknown role")),
        };
        if raw.reserved != 0 {
            return Err(PeerError::NonZeroReserved);
        }
        let hello = Hello {
            role,
            tcp_port: raw.tcp_port.get(),
            node_id: raw.node_id.get(),
            node_uuid: raw.node_uuid,
            volume_uuid: raw.volume_uuid,
            nonce: raw.nonce,
            incarnation: raw.incarnation.get(),
        };
        hello.check()?;
        if hello.volume_uuid != *volume_uuid {
            return Err(PeerError::OtherVolume { volume_uuid: hello.volume_uuid });
        }
        Ok(hello)
    }

    fn check(&self) -> Result<(), PeerError> {
        if self.node_uuid == [0; 16] {
            return Err(PeerError::BadHello("all-zero node uuid"));
        }
        if self.node_id != node_id_from_uuid(&self.node_uuid) {
            return Err(PeerError::BadHello("node id is not FNV-1a of the node uuid"));
        }
        if self.tcp_port == 0 {
            return Err(PeerError::BadHello("TCP port 0"));
        }
        if self.nonce == [0; 32] {
            return Err(PeerError::BadHello("all-zero nonce"));
        }
        Ok(())
    }
}

/// A 32-byte frame MAC key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameKey(pub(crate) [u8; 32]);

impl FrameKey {
    /// Keyed BLAKE3 of raw bytes under this key: what a frame's MAC is over its header and
    /// payload. Tests and fuzzers use it to build or repair frames.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        keys::mac(&self.0, data)
    }
}

impl fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrameKey(<redacted>)")
    }
}

/// The key that authenticates HELLO frames of one volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloKey(pub(crate) FrameKey);

impl HelloKey {
    /// `derive_key("MXFS 2026 peer hello MAC key v1", secret || volume_uuid)`.
    pub fn derive(secret: &[u8; 32], volume_uuid: &Uuid) -> HelloKey {
        HelloKey(FrameKey(keys::derive(keys::HELLO_CONTEXT, secret, volume_uuid, &[])))
    }

    /// The frame key HELLO frames are MAC'd with.
    pub fn frame_key(&self) -> &FrameKey {
        &self.0
    }
}

/// The two keys of one connection, as seen from one end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionKeys {
    pub send: FrameKey,
    pub recv: FrameKey,
}

/// Derives the per-direction session keys once both hellos are known:
/// `derive_key("MXFS 2026 peer session MAC key v1", secret || volume_uuid || initiator uuid ||
/// responder uuid || initiator nonce || responder nonce || direction)`, direction 1 for
/// initiator to responder and 2 for the reverse. Separate keys per direction stop a frame
/// from being reflected back to its sender.
pub fn session_keys(
    secret: &[u8; 32],
    volume_uuid: &Uuid,
    local: &Hello,
    remote: &Hello,
) -> Result<SessionKeys, PeerError> {
    if local.role == remote.role {
        return Err(PeerError::RoleConflict);
    }
    if local.node_uuid == remote.node_uuid {
        return Err(PeerError::SelfConnection);
    }
    for h in [local, remote] {
        if h.volume_uuid != *volume_uuid {
            return Err(PeerError::OtherVolume { volume_uuid: h.volume_uuid });
        }
    }
    let (ini, resp) = match local.role {
        Role::Initiator => (local, remote),
        Role::Responder => (remote, local),
    };
    let key = |direction: u8| {
        FrameKey(keys::derive(
            keys::SESSION_CONTEXT,
            secret,
            volume_uuid,
            &[&ini.node_uuid, &resp.node_uuid, &ini.nonce, &resp.nonce, &[direction]],
        ))
    };
    let (to_resp, to_ini) = (key(1), key(2));
    Ok(match local.role {
        Role::Initiator => SessionKeys { send: to_resp, recv: to_ini },
        Role::Responder => SessionKeys { send: to_ini, recv: to_resp },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOL: Uuid = [0xc3; 16];

    fn hello(role: Role, uuid_byte: u8) -> Hello {
        let uuid = [uuid_byte; 16];
        Hello {
            role,
            tcp_port: 7600,
            node_id: node_id_from_uuid(&uuid),
            node_uuid: uuid,
            volume_uuid: VOL,
            nonce: [uuid_byte ^ 0xff; 32],
            incarnation: 3,
        }
    }

    #[test]
    fn hello_round_trips() {
        let h = hello(Role::Responder, 1);
        assert_eq!(Hello::decode(&h.encode().unwrap(), &VOL).unwrap(), h);
    }

    #[test]
    fn hello_rejects_bad_fields() {
        let good = hello(Role::Initiator, 1).encode().unwrap();
        assert!(Hello::decode(&good[..79], &VOL).is_err());
        assert!(matches!(Hello::decode(&good, &[0; 16]), Err(PeerError::OtherVolume { .. })));
        for (offset, value) in [(0usize, 3u8), (1, 1), (2, 0), (4, 0)] {
            let mut bad = good;
            bad[offset] = value;
            if offset == 2 {
                bad[3] = 0;
            }
            assert!(Hello::decode(&bad, &VOL).is_err(), "offset {offset} accepted");
        }
        let mut bad = good;
        bad[40..72].fill(0);
        assert_eq!(Hello::decode(&bad, &VOL), Err(PeerError::BadHello("all-zero nonce")));
    }

    #[test]
    fn session_keys_pair_up_and_differ_per_direction() {
        let secret = [9u8; 32];
        let a = hello(Role::Initiator, 1);
        let b = hello(Role::Responder, 2);
        let ka = session_keys(&secret, &VOL, &a, &b).unwrap();
        let kb = session_keys(&secret, &VOL, &b, &a).unwrap();
        assert_eq!(ka.send, kb.recv);
        assert_eq!(ka.recv, kb.send);
        assert_ne!(ka.send, ka.recv);
        // A fresh nonce on either side gives unrelated keys.
        let b2 = Hello { nonce: [7; 32], ..b };
        assert_ne!(session_keys(&secret, &VOL, &a, &b2).unwrap().send, ka.send);
        assert_eq!(session_keys(&secret, &VOL, &a, &a), Err(PeerError::RoleConflict));
        let twin = Hello { role: Role::Responder, ..a };
        assert_eq!(session_keys(&secret, &VOL, &a, &twin), Err(PeerError::SelfConnection));
    }
}
