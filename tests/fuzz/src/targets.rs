//! The fuzz targets. Each panics only on a property violation.

mod lockstate;
mod netlink;
mod wire;

pub use lockstate::lockstate;
pub use netlink::netlink;
pub use wire::{discovery, hello, peer_stream};

/// Control bit: repair the checksum or MAC before decoding.
pub(crate) const FIX: u8 = 1;
/// Control bit (peer stream): start from an established session instead of the hello.
pub(crate) const ESTABLISHED: u8 = 2;
