//! Generic netlink client for the `mxfs` family registered by mxfs.ko.
//!
//! The wire contract lives in `mxfs_uapi::genl`. This crate keeps the byte-level work (attribute
//! TLVs, genl headers, the controller's family lookup, the mxfs commands) in pure functions, so
//! every malformed-input rule is tested without a kernel; [`Client`] only moves those bytes
//! over a socket with neli. [`Channel`] is mxfsd's own socket: it reports DAEMON_READY and then
//! receives the kernel's unsolicited REMOTE_REQUESTs and answers them from the same port.

pub mod attr;
mod channel;
mod client;
pub mod ctrl;
mod error;
pub mod genlmsg;
pub mod msg;
pub mod nlmsg;
pub mod remote;

pub use channel::{Channel, Incoming};
pub use client::Client;
pub use error::{strerror, NlError, Op};
pub use msg::{is_volume_uuid, MountStatus};
