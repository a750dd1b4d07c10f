//! The model of a node's local lock users (the kernel's lock-cache) for one resource: lock,
//! use for a while, unlock (the lock stays cached), honour blocking callbacks by down-converting
//! when not in use. Its `held` is what the invariants check: what a user believes it may cache.

use super::rng::Rng;
use crate::dlm::ReqId;
use crate::mode::Mode;
use crate::Time;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    Idle,
    Waiting { req: ReqId, mode: Mode, since: Time },
    Using,
}

#[derive(Clone, Debug)]
pub struct Client {
    pub held: Option<Mode>,
    pub state: ClientState,
    /// A blocking callback not yet honoured.
    pub bast: Option<Mode>,
}

impl Client {
    pub fn new() -> Client {
        Client {
            held: None,
            state: ClientState::Idle,
            bast: None,
        }
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

/// Mostly readers and writers, as a filesystem's inode locks are, with the rest for coverage.
pub fn pick_mode(rng: &mut Rng) -> Mode {
    match rng.below(100) {
        0..=34 => Mode::PR,
        35..=59 => Mode::EX,
        60..=69 => Mode::CR,
        70..=79 => Mode::CW,
        80..=91 => Mode::PW,
        _ => Mode::NL,
    }
}

/// What to down-convert to on a BAST: keep as much as allowed, drop to NL, or release.
pub fn down_target(rng: &mut Rng, held: Mode, blocking: Mode) -> Option<Mode> {
    match rng.below(10) {
        0..=5 => Some(held.strongest_compatible_below(blocking)),
        6..=7 => Some(Mode::NL),
        _ => None,
    }
}
