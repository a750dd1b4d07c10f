//! MXFS cluster core: the distributed lock manager and cluster membership as sans-I/O state
//! machines, plus a deterministic simulator that drives them through faults.
//!
//! Nothing in this crate performs I/O, reads a clock or draws random numbers inside a state
//! machine: time arrives as an argument and every effect leaves as an action. `mxfsd` executes
//! the actions against sockets, the lockstate file and SCSI PR; [`sim`] executes the same
//! actions against a seeded model of the network, the disk and the local clients, and checks
//! the safety invariants after every step. See `docs/cluster.md`.
#![forbid(unsafe_code)]

pub mod config;
pub mod dlm;
pub mod fence;
pub mod membership;
pub mod messages;
pub mod mode;
pub mod node;
pub mod sim;
pub mod transport;
pub mod view;

/// Virtual or real time in milliseconds. The state machines only compare and add these; the
/// driver decides where they come from (a monotonic clock in `mxfsd`, the event queue in `sim`).
pub type Time = u64;

pub use config::Timing;
pub use mode::Mode;
pub use node::{ClusterNode, Input, Output};
pub use view::{NodeId, ResName, View, ViewId};
