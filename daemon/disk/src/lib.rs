//! MXFS disk layer: node identity, the heartbeat-slot claim protocol, and O_DIRECT access
//! to the on-disk lockstate (whose format lives in `mxfs_uapi::lockstate`).
//!
//! - [`identity`]: `/etc/mxfs/node.uuid`, node id, node-id collision check.
//! - [`claim`]: the slot claim protocol as a pure state machine (no I/O, no clock).
//! - [`device`]: aligned O_DIRECT | O_SYNC block reads and writes.
//! - [`lockstate_file`]: typed record I/O, formatting, and the claim driver.
#![forbid(unsafe_code)]

pub mod claim;
pub mod device;
pub mod identity;
pub mod lockstate_file;
pub mod random;

pub use claim::{Action, Claim, ClaimConfig, ClaimError, Claimant, Claimer, Event, SlotView};
pub use device::{AlignedBuf, BlockDevice, DeviceError};
pub use identity::{check_node_id_collision, load_or_create, NodeIdCollision, NodeIdentity, NODE_UUID_PATH};
pub use lockstate_file::{DiskError, LockstateFile};
