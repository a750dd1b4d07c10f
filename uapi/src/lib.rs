//! The single source of truth for everything two MXFS components must agree on.
//!
//! - [`genl`]: the generic netlink contract. Plain `core` Rust with no dependencies, because
//!   the kernel module includes that file directly (`#[path]`).
//! - [`ident`]: node identity rules (node id = FNV-1a of the node uuid) and bounded names.
//! - [`lockstate`]: the on-disk lockstate (header, owner, heartbeat slots, lock records).
//! - [`discovery`]: the UDP multicast announcement datagram.
//! - [`peer`]: the TCP peer frame format, hello and per-session keys.
//! - [`clustermsg`]: the MEMBERSHIP and DLM payloads carried in peer frames.
//! - [`remote`]: remote VFS operations, member kernel -> owner mxfsd (core Rust; the module
//!   includes it by path like `genl`).
//!
//! The format modules are `no_std` too (BLAKE3 and zerocopy build without std), so the same
//! definitions serve the daemon, the admin tool and, if it ever needs them, the module.
//! Every decoder returns a typed error for malformed input and never panics.
#![no_std]
#![forbid(unsafe_code)]

pub mod clustermsg;
pub mod discovery;
pub mod genl;
pub mod ident;
pub mod lockstate;
pub mod peer;
pub mod remote;

mod keys;
