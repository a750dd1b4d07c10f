//! The on-disk lockstate: MXFS's persistent fencing layer (design §5, layer 2).
//!
//! The lockstate is a preallocated region (a fully written file under `/.mxfs/`, or any
//! byte range of the shared device) that every node reads and writes with O_DIRECT, one
//! record per device block. It holds:
//!
//! - a **header** at offset 0: magic, volume uuid, the per-volume secret, geometry, timing;
//! - an **owner record**: which node has the lower XFS mounted, with an ownership generation;
//! - **heartbeat slots** (64): one per live node, rewritten every heartbeat interval;
//! - **lock records** (65536): one per granted (resource, holder) pair, persisted before the
//!   grant is answered.
//!
//! Every record is exactly [`RECORD_LEN`] (512) bytes and starts on a device block boundary
//! (block size 512 to 4096; a record never shares a block, so a write of one record can never
//! tear another). Each carries magic, type, version, its own length, its own index, a
//! generation and the volume uuid, and ends with a BLAKE3 checksum of everything before it:
//! a torn, misdirected, foreign or stale write is detected, never trusted.
//!
//! All integers are little-endian. Byte tables are in `docs/formats.md`.

mod envelope;
mod error;
mod geometry;
mod header;
mod lock;
mod owner;
mod slot;

pub use envelope::{peek, Envelope, RecordKind, BODY_LEN, CHECKSUM_OFFSET};
pub use error::LockstateError;
pub use geometry::{Geometry, Timing, Volume, LOCK_COUNT, MAX_LOCKS, MAX_SLOTS, SLOT_COUNT};
pub use header::Header;
pub use lock::{LockGrant, LockMode, LockRecord, ResourceName, MAX_RESOURCE_NAME};
pub use owner::{Owner, OwnerRecord};
pub use slot::{slot_flags, HeartbeatSlot, SlotState};

/// Size of every lockstate record.
pub const RECORD_LEN: usize = 512;
/// First four bytes of every record.
pub const MAGIC: [u8; 4] = *b"MXLS";
/// Format version written and accepted.
pub const FORMAT_VERSION: u16 = 1;
