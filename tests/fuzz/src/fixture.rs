//! The fixed volume, secret and nodes every target and seed uses.

use mxfs_uapi::discovery::DiscoveryKey;
use mxfs_uapi::ident::{node_id_from_uuid, Hostname, Uuid};
use mxfs_uapi::lockstate::{Geometry, Volume};
use mxfs_uapi::peer::{session_keys, FrameDecoder, FrameEncoder, Hello, HelloKey, Role, SessionKeys};

pub const VOL: Uuid = [0x5e; 16];
pub const SECRET: [u8; 32] = [0xc7; 32];

pub fn volume() -> Volume {
    Volume { uuid: VOL, geometry: Geometry::standard(512) }
}

pub fn discovery_key() -> DiscoveryKey {
    DiscoveryKey::derive(&SECRET, &VOL)
}

pub fn hello_key() -> HelloKey {
    HelloKey::derive(&SECRET, &VOL)
}

pub fn node(b: u8) -> (Uuid, u32) {
    let uuid = [b; 16];
    (uuid, node_id_from_uuid(&uuid))
}

/// The hello of the connecting node (A) or the accepting node (B).
pub fn hello(role: Role) -> Hello {
    let b = match role {
        Role::Initiator => 0xa1,
        Role::Responder => 0xb2,
    };
    let (uuid, id) = node(b);
    Hello {
        role,
        tcp_port: 7600,
        node_id: id,
        node_uuid: uuid,
        volume_uuid: VOL,
        nonce: [b ^ 0x33; 32],
        incarnation: 1,
    }
}

pub fn hostname() -> Hostname {
    Hostname::new(b"fuzz-node.example").unwrap_or(Hostname::EMPTY)
}

/// Keys as seen by `local`, talking to `remote`.
pub fn keys(local: &Hello, remote: &Hello) -> SessionKeys {
    session_keys(&SECRET, &VOL, local, remote).expect("fixture hellos pair up")
}

/// A's encoder and B's decoder after the whole handshake (both READYs exchanged): B next
/// expects A's data frame with sequence 2.
pub fn established() -> (FrameEncoder, FrameDecoder) {
    let (a, b) = (hello(Role::Initiator), hello(Role::Responder));
    let mut enc = FrameEncoder::new(&hello_key());
    let mut dec = FrameDecoder::new(&hello_key());
    let mut buf = [0u8; 256];
    let n = enc.encode_hello(&a, &mut buf).expect("hello encodes");
    dec.decode(&buf[..n]).expect("hello decodes");
    enc.establish(&keys(&a, &b)).expect("encoder establishes");
    dec.establish(&keys(&b, &a)).expect("decoder establishes");
    let n = enc.encode(mxfs_uapi::peer::msg_type::READY, &[], &mut buf).expect("ready encodes");
    dec.decode(&buf[..n]).expect("ready decodes");
    (enc, dec)
}
