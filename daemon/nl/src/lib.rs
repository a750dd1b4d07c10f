//! Generic netlink client for the `mxfs` family registered by mxfs.ko.
//!
//! The wire contract lives in `mxfs_uapi::genl`. This crate keeps the byte-level work (attribute
//! TLVs, genl headers, the controller's family lookup, the mxfs commands) in pure functions, so
//! every malformed-input rule is tested without a kernel; [`Client`] only moves those bytes
//! over a socket with neli.

pub mod attr;
mod client;
pub mod ctrl;
mod error;
pub mod genlmsg;
pub mod msg;

pub use client::Client;
pub use error::{strerror, NlError, Op};
pub use msg::{is_volume_uuid, MountStatus};
