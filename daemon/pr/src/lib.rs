//! MXFS fencing layer 1: SCSI-3 persistent reservations on the shared LUN.
//!
//! - [`key`]: a node's reservation key, `"MXFS" << 32 | node_id`, never 0.
//! - [`scsi`]: pure protocol: reservation types, command blocks, strict parsers of the
//!   PERSISTENT RESERVE IN replies ([`parse_read_keys`], [`parse_read_reservation`]), sense
//!   data, and classification of ioctl and SG_IO results.
//! - [`device`]: [`PrDevice`], a block device driven through the `<linux/pr.h>` ioctls for
//!   every PERSISTENT RESERVE OUT action and SG_IO for the reads (6.12 has no read ioctls) and
//!   for REGISTER on targets that reject APTPL. The [`PrOps`] trait abstracts one path.
//! - [`watch`]: [`KeyWatch`], the pure state machine that turns periodic READ KEYS into
//!   `StopAllIo` when the node's own key disappears, and never re-registers by itself.
//! - [`fencing`]: joining a LUN and executing `mxfs_cluster::fence::Fencer`'s `Preempt` step
//!   (preempt, verify, keep the reservation), reporting completion to the fencer.
//! - [`model`]: an in-memory SPC-4 PR target for deterministic tests.
//!
//! Every reservation is WRITE EXCLUSIVE – REGISTRANTS ONLY (SCSI type 5, `<linux/pr.h>` 3).
//! See `docs/fencing.md`.

pub mod device;
pub mod error;
pub mod fencing;
pub mod key;
pub mod model;
pub mod scsi;
mod sys;
pub mod watch;

pub use device::{PrDevice, PrOps, RegisterVia, Registered};
pub use error::{Op, PrError};
pub use fencing::{
    decide_abort, execute, fence_done, join, preempt_and_verify, preempt_step, AbortPolicy,
    JoinReport, PrStep, PreemptOutcome, PreemptReport,
};
pub use key::PrKey;
pub use scsi::{
    parse_inquiry, parse_read_keys, parse_read_reservation, Inquiry, ParseError, PrType, ReadKeys,
    ReadReservation, Reservation, FENCING_TYPE,
};
pub use watch::{KeyWatch, WatchAction, WatchState};
