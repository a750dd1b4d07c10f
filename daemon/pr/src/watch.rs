//! The key watch: a pure state machine fed with periodic READ KEYS (and READ RESERVATION)
//! results for one volume. A node whose own key has disappeared has been preempted by a
//! survivor: its writes are already refused by the storage, and the rest of the cluster is
//! about to purge its locks and replay its journal. It must stop all I/O at once and must not
//! register again on its own; only an explicit operator or rejoin action may do that.
//!
//! ```text
//!   Registered --(own key absent)--> Fenced --(operator_rejoin)--> Rejoining
//!       ^              emits StopAllIo      emits Register(key)        |
//!       +-----------------------------(own key present)----------------+  emits Rejoined
//! ```
//!
//! Nothing leaves `Fenced` but [`KeyWatch::operator_rejoin`]: a key that "comes back" while
//! fenced (it cannot, unless someone registered it deliberately) changes nothing.

use crate::key::PrKey;
use crate::scsi::{ReadKeys, ReadReservation};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchState {
    /// Our key is registered (last seen at this PR generation, if any read succeeded).
    Registered { generation: Option<u32> },
    /// Our key was found missing at this generation; all I/O is stopped.
    Fenced { generation: u32 },
    /// An operator asked to rejoin; waiting to see our key registered again.
    Rejoining,
}

/// What the driver must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchAction {
    /// Our key is gone: stop all I/O to the volume now (fail pending and new I/O with EIO,
    /// shut the lower XFS down, drop the lease). Emitted once per loss.
    StopAllIo { key: PrKey, generation: u32 },
    /// Register `key` again. Only ever the answer to [`KeyWatch::operator_rejoin`].
    Register { key: PrKey },
    /// The rejoin completed: our key is registered again; the node may rejoin the cluster
    /// (it must still re-acquire its locks and state as a new member).
    Rejoined { generation: u32 },
    /// We are registered but the LU carries no reservation (its holder left cleanly):
    /// reserve it again with our key, so unregistered initiators cannot write.
    Reserve { key: PrKey },
    /// PR reads have failed this many times in a row. Nothing is concluded from a failed read;
    /// the disk heartbeat (layer 2) governs. Emitted once when the threshold is reached.
    ReadsFailing { consecutive: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWatch {
    key: PrKey,
    state: WatchState,
    failures: u32,
    failure_threshold: u32,
}

/// Consecutive failed reads before [`WatchAction::ReadsFailing`].
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;

impl KeyWatch {
    /// A watch for a node that has just registered `key` (after a successful join).
    pub fn registered(key: PrKey) -> KeyWatch {
        KeyWatch {
            key,
            state: WatchState::Registered { generation: None },
            failures: 0,
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
        }
    }

    pub fn with_failure_threshold(mut self, n: u32) -> KeyWatch {
        self.failure_threshold = n.max(1);
        self
    }

    pub fn key(&self) -> PrKey {
        self.key
    }

    pub fn state(&self) -> WatchState {
        self.state
    }

    /// True once the key was lost and until an operator rejoin completes: no I/O allowed.
    pub fn io_stopped(&self) -> bool {
        !matches!(self.state, WatchState::Registered { .. })
    }

    /// A successful READ KEYS.
    pub fn observe_keys(&mut self, keys: &ReadKeys) -> Option<WatchAction> {
        self.failures = 0;
        let present = keys.contains(self.key);
        match self.state {
            WatchState::Registered { .. } if present => {
                self.state = WatchState::Registered {
                    generation: Some(keys.generation),
                };
                None
            }
            WatchState::Registered { .. } => {
                self.state = WatchState::Fenced {
                    generation: keys.generation,
                };
                Some(WatchAction::StopAllIo {
                    key: self.key,
                    generation: keys.generation,
                })
            }
            WatchState::Fenced { .. } => None,
            WatchState::Rejoining if present => {
                self.state = WatchState::Registered {
                    generation: Some(keys.generation),
                };
                Some(WatchAction::Rejoined {
                    generation: keys.generation,
                })
            }
            WatchState::Rejoining => None,
        }
    }

    /// A successful READ RESERVATION. Asks to re-reserve only while registered and when no
    /// reservation exists; a reservation of another type than ours is left alone (the join
    /// path reports it).
    pub fn observe_reservation(&mut self, r: &ReadReservation) -> Option<WatchAction> {
        self.failures = 0;
        match (self.state, r.reservation) {
            (
                WatchState::Registered {
                    generation: Some(_),
                },
                None,
            ) => Some(WatchAction::Reserve { key: self.key }),
            _ => None,
        }
    }

    /// A failed PR read (any error).
    pub fn observe_failure(&mut self) -> Option<WatchAction> {
        self.failures = self.failures.saturating_add(1);
        (self.failures == self.failure_threshold).then_some(WatchAction::ReadsFailing {
            consecutive: self.failures,
        })
    }

    /// The explicit operator/rejoin action: the only way to get a `Register`. Ignored unless
    /// fenced (a registered node has nothing to rejoin; a rejoin in progress is not repeated).
    pub fn operator_rejoin(&mut self) -> Option<WatchAction> {
        match self.state {
            WatchState::Fenced { .. } => {
                self.state = WatchState::Rejoining;
                Some(WatchAction::Register { key: self.key })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scsi::{Reservation, FENCING_TYPE};

    fn keys(generation: u32, ks: &[u32]) -> ReadKeys {
        ReadKeys {
            generation,
            keys: ks.iter().map(|&n| PrKey::for_node(n)).collect(),
        }
    }

    #[test]
    fn losing_the_key_stops_io_once() {
        let me = PrKey::for_node(1);
        let mut w = KeyWatch::registered(me);
        assert_eq!(w.observe_keys(&keys(1, &[1, 2])), None);
        assert_eq!(w.observe_keys(&keys(1, &[2, 1])), None);
        assert!(!w.io_stopped());
        assert_eq!(
            w.observe_keys(&keys(2, &[2])),
            Some(WatchAction::StopAllIo {
                key: me,
                generation: 2
            })
        );
        assert!(w.io_stopped());
        // Repeated observations do not repeat the action...
        assert_eq!(w.observe_keys(&keys(2, &[2])), None);
        assert_eq!(w.observe_keys(&keys(3, &[])), None);
        // ...and the key "coming back" does not unfence.
        assert_eq!(w.observe_keys(&keys(4, &[1, 2])), None);
        assert_eq!(w.state(), WatchState::Fenced { generation: 2 });
    }

    #[test]
    fn never_registers_by_itself() {
        // Whatever sequence of observations, no Register action appears without
        // operator_rejoin.
        let me = PrKey::for_node(1);
        let mut w = KeyWatch::registered(me);
        let mut seed = 1u64;
        for i in 0..10_000u32 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let act = match seed >> 62 {
                0 => w.observe_keys(&keys(i, &[1, 2])),
                1 => w.observe_keys(&keys(i, &[2])),
                2 => w.observe_failure(),
                _ => w.observe_reservation(&ReadReservation {
                    generation: i,
                    reservation: None,
                }),
            };
            assert!(!matches!(act, Some(WatchAction::Register { .. })));
        }
        assert!(w.io_stopped());
    }

    #[test]
    fn rejoin_is_explicit_and_completes_on_seeing_the_key() {
        let me = PrKey::for_node(1);
        let mut w = KeyWatch::registered(me);
        assert_eq!(
            w.operator_rejoin(),
            None,
            "nothing to rejoin while registered"
        );
        w.observe_keys(&keys(5, &[2]));
        assert_eq!(w.operator_rejoin(), Some(WatchAction::Register { key: me }));
        assert_eq!(w.operator_rejoin(), None, "not repeated");
        assert_eq!(
            w.observe_keys(&keys(5, &[2])),
            None,
            "registration not visible yet"
        );
        assert!(w.io_stopped());
        assert_eq!(
            w.observe_keys(&keys(6, &[2, 1])),
            Some(WatchAction::Rejoined { generation: 6 })
        );
        assert!(!w.io_stopped());
        // A second loss is detected again.
        assert!(matches!(
            w.observe_keys(&keys(7, &[2])),
            Some(WatchAction::StopAllIo { .. })
        ));
    }

    #[test]
    fn read_failures_conclude_nothing() {
        let me = PrKey::for_node(1);
        let mut w = KeyWatch::registered(me).with_failure_threshold(2);
        assert_eq!(w.observe_failure(), None);
        assert_eq!(
            w.observe_failure(),
            Some(WatchAction::ReadsFailing { consecutive: 2 })
        );
        assert_eq!(w.observe_failure(), None, "reported once");
        assert!(!w.io_stopped());
        assert_eq!(w.observe_keys(&keys(1, &[1])), None);
        assert_eq!(w.observe_failure(), None, "counter reset by a good read");
    }

    #[test]
    fn missing_reservation_is_re_established_by_a_registered_node() {
        let me = PrKey::for_node(1);
        let mut w = KeyWatch::registered(me);
        let none = ReadReservation {
            generation: 1,
            reservation: None,
        };
        assert_eq!(
            w.observe_reservation(&none),
            None,
            "not before our key was seen"
        );
        w.observe_keys(&keys(1, &[1]));
        assert_eq!(
            w.observe_reservation(&none),
            Some(WatchAction::Reserve { key: me })
        );
        let held = ReadReservation {
            generation: 1,
            reservation: Some(Reservation {
                key: Some(PrKey::for_node(2)),
                pr_type: FENCING_TYPE,
            }),
        };
        assert_eq!(w.observe_reservation(&held), None);
        w.observe_keys(&keys(2, &[2]));
        assert_eq!(
            w.observe_reservation(&none),
            None,
            "a fenced node reserves nothing"
        );
    }
}
