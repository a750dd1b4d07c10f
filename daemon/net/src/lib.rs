//! MXFS network drivers: UDP discovery and the authenticated TCP peer mesh.
//!
//! Thin I/O around the formats of `mxfs_uapi` (`discovery`, `peer`): these modules move bytes,
//! bound buffers and apply the identity rules; they make no cluster decisions. The daemon feeds
//! what they report ([`NetEvent`]) to the cluster state machines and hands back frames to send.
#![forbid(unsafe_code)]

pub mod discovery;
pub mod handshake;
pub mod mesh;

pub use discovery::{multicast_interfaces, DiscoveryConfig, DiscoveryEvent};
pub use mesh::{Mesh, MeshConfig, NetEvent, SendError, Sink};
