//! The single source of truth for everything two MXFS components must agree on.
//!
//! Every module here is plain `core` Rust with no dependencies, because the kernel module
//! includes the same files directly (`#[path]`) next to the userspace crates that depend on
//! this crate.
#![no_std]

pub mod genl;
