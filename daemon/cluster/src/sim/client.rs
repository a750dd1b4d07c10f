//! The model of a node's local lock users (the kernel's lock-cache) for one resource: lock,
//! use for a while, unlock (the lock stays cached), honour blocking callbacks by down-converting
//! when not in use. Its `held` is what the invariants check: what a user believes it may cache.

use super::rng::Rng;
use super::{Ev, Sim};
use crate::dlm::ReqId;
use crate::mode::Mode;
use crate::node::Input;
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

impl Sim<'_> {
    pub(super) fn client_wake(&mut self, i: usize, inc: u64, r: usize) {
        if !self.up(i, inc) || self.quiescing {
            return;
        }
        if self.clients[i][r].state == ClientState::Idle {
            if self.rng.chance(0.85) {
                let mode = pick_mode(&mut self.rng);
                let req = self.next_req;
                self.next_req += 1;
                self.clients[i][r].state = ClientState::Waiting {
                    req,
                    mode,
                    since: self.now,
                };
                let res = self.res[r].clone();
                self.feed(i, Input::Lock { req, res, mode });
            } else if self.clients[i][r].held.is_some() {
                // Cache pressure: drop a cached lock voluntarily.
                self.clients[i][r].held = None;
                self.clients[i][r].bast = None;
                let res = self.res[r].clone();
                self.feed(i, Input::DownConvert { res, mode: None });
            }
        }
        self.after(20, 700, Ev::Wake(i, inc, r));
    }

    pub(super) fn client_honour(&mut self, i: usize, inc: u64, r: usize) {
        if !self.up(i, inc) || self.clients[i][r].state == ClientState::Using {
            return;
        }
        let Some(blocking) = self.clients[i][r].bast else {
            return;
        };
        let Some(held) = self.clients[i][r].held else {
            // The BAST can overtake the grant it is about (the grant may wait for the lease):
            // keep it until the lock has been used and unlocked.
            if !matches!(self.clients[i][r].state, ClientState::Waiting { .. }) {
                self.clients[i][r].bast = None;
            }
            return;
        };
        self.clients[i][r].bast = None;
        if held.compatible(blocking) {
            return;
        }
        let target = down_target(&mut self.rng, held, blocking);
        self.clients[i][r].held = target;
        let res = self.res[r].clone();
        self.feed(i, Input::DownConvert { res, mode: target });
    }
}
