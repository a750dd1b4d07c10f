//! The fuzz targets. Each panics only on a property violation.

mod clustermsg;
mod lockstate;
mod netlink;
mod pr;
mod remote;
mod wire;

pub use clustermsg::{dlm, heartbeat};
pub use lockstate::lockstate;
pub use netlink::netlink;
pub use pr::{inquiry, pr_in};
pub use remote::remote;
pub use wire::{discovery, hello, peer_stream};

/// Control bit: repair the checksum or MAC before decoding.
pub(crate) const FIX: u8 = 1;
/// Control bit (peer stream): start from an established session instead of the hello.
pub(crate) const ESTABLISHED: u8 = 2;
