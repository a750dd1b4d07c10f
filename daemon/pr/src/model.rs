//! An in-memory SCSI-3 persistent reservation target (the SPC-4 rules MXFS relies on), so
//! the fencing executor, the key watch and the daemon's logic can be tested deterministically
//! without a SCSI device. One [`Lun`], any number of [`Path`]s (I_T nexuses) to it.
//!
//! Replies to READ KEYS / READ RESERVATION are encoded to bytes and decoded with the real
//! parsers, so the model exercises them too. Quirks model the targets met in practice.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::device::{PrOps, RegisterVia, Registered};
use crate::error::{Op, PrError};
use crate::key::PrKey;
use crate::scsi::{
    encode_read_keys, encode_read_reservation, parse_read_keys, parse_read_reservation, PrType,
    ReadKeys, ReadReservation, Reservation, Sense, FENCING_TYPE,
};

/// Behaviours of real targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Rejects REGISTER with APTPL (tgt): the ioctl fails with EINVAL.
    pub rejects_aptpl: bool,
    /// Has no PREEMPT AND ABORT (tgt): EINVAL.
    pub no_preempt_abort: bool,
}

#[derive(Debug, Default)]
struct State {
    generation: u32,
    /// (nexus, key), in registration order.
    regs: Vec<(u32, PrKey)>,
    /// (holder nexus, holder key, type).
    res: Option<(u32, PrKey, PrType)>,
    next_nexus: u32,
    quirks: Quirks,
    /// Failures to return instead of executing the next command of that kind.
    injected: VecDeque<(Op, PrError)>,
    /// Commands executed, for assertions.
    log: Vec<(u32, Op)>,
}

impl State {
    fn key_of(&self, nexus: u32) -> Option<PrKey> {
        self.regs.iter().find(|(n, _)| *n == nexus).map(|(_, k)| *k)
    }

    fn unregister(&mut self, nexus: u32) {
        self.regs.retain(|(n, _)| *n != nexus);
        if matches!(self.res, Some((h, _, t)) if h == nexus && !t.all_registrants()) {
            self.res = None;
        }
    }
}

/// A logical unit with persistent reservations.
#[derive(Clone, Debug, Default)]
pub struct Lun {
    state: Arc<Mutex<State>>,
}

impl Lun {
    pub fn new() -> Lun {
        Lun::default()
    }

    pub fn with_quirks(quirks: Quirks) -> Lun {
        let lun = Lun::new();
        lun.lock().quirks = quirks;
        lun
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new I_T nexus to this LU (another initiator port, or another path of a host).
    pub fn path(&self) -> Path {
        let mut s = self.lock();
        s.next_nexus += 1;
        Path {
            lun: self.clone(),
            nexus: s.next_nexus,
        }
    }

    /// Makes the next command `op` (on any path) fail with `err`.
    pub fn inject(&self, op: Op, err: PrError) {
        self.lock().injected.push_back((op, err));
    }

    pub fn keys(&self) -> Vec<PrKey> {
        self.lock().regs.iter().map(|(_, k)| *k).collect()
    }

    pub fn reservation(&self) -> Option<(PrKey, PrType)> {
        self.lock().res.map(|(_, k, t)| (k, t))
    }

    pub fn generation(&self) -> u32 {
        self.lock().generation
    }

    /// Puts a reservation in place as some other initiator would (tests of foreign state).
    pub fn force_reservation(&self, key: PrKey, pr_type: PrType) {
        self.lock().res = Some((u32::MAX, key, pr_type));
    }

    /// Commands executed so far: (nexus, operation).
    pub fn log(&self) -> Vec<(u32, Op)> {
        self.lock().log.clone()
    }
}

/// One I_T nexus to a [`Lun`].
#[derive(Clone, Debug)]
pub struct Path {
    lun: Lun,
    nexus: u32,
}

fn conflict(op: Op) -> PrError {
    PrError::ReservationConflict { op }
}

fn invalid(op: Op) -> PrError {
    PrError::Errno {
        op,
        errno: libc::EINVAL,
    }
}

impl Path {
    pub fn nexus(&self) -> u32 {
        self.nexus
    }

    /// Runs `f` on the LU state unless a failure was injected for `op`.
    fn run<T>(
        &self,
        op: Op,
        f: impl FnOnce(&mut State, u32) -> Result<T, PrError>,
    ) -> Result<T, PrError> {
        let mut s = self.lun.lock();
        s.log.push((self.nexus, op));
        if let Some(i) = s.injected.iter().position(|(o, _)| *o == op) {
            let (_, err) = s.injected.remove(i).expect("position is in range");
            return Err(err);
        }
        f(&mut s, self.nexus)
    }

    /// A WRITE through this path: allowed unless a reservation excludes this nexus.
    pub fn write(&self) -> Result<(), PrError> {
        let s = self.lun.lock();
        let registered = s.key_of(self.nexus).is_some();
        match s.res {
            None => Ok(()),
            Some((holder, _, t)) => {
                let allowed = match t {
                    PrType::WriteExclusive | PrType::ExclusiveAccess => holder == self.nexus,
                    _ => registered,
                };
                if allowed {
                    Ok(())
                } else {
                    Err(conflict(Op::Reserve))
                }
            }
        }
    }
}

impl PrOps for Path {
    fn register(&self, key: PrKey, via: RegisterVia) -> Result<Registered, PrError> {
        self.run(Op::Register, |s, nexus| {
            let how = match (via, s.quirks.rejects_aptpl) {
                (RegisterVia::Ioctl, true) => return Err(invalid(Op::Register)),
                (RegisterVia::Ioctl, false) | (RegisterVia::Auto, false) => Registered::IoctlAptpl,
                (RegisterVia::Auto, true) | (RegisterVia::SgIo, _) => Registered::SgIoNoAptpl,
            };
            s.regs.retain(|(n, _)| *n != nexus);
            s.regs.push((nexus, key));
            // A holder re-registering under a new key keeps the reservation, under the new key.
            if let Some((h, _, t)) = s.res {
                if h == nexus {
                    s.res = Some((h, key, t));
                }
            }
            s.generation = s.generation.wrapping_add(1);
            Ok(how)
        })
    }

    fn unregister(&self, key: PrKey) -> Result<(), PrError> {
        self.run(Op::Unregister, |s, nexus| {
            if s.key_of(nexus) != Some(key) {
                return Err(conflict(Op::Unregister));
            }
            s.unregister(nexus);
            s.generation = s.generation.wrapping_add(1);
            Ok(())
        })
    }

    fn reserve(&self, key: PrKey) -> Result<(), PrError> {
        self.run(Op::Reserve, |s, nexus| {
            if s.key_of(nexus) != Some(key) {
                return Err(conflict(Op::Reserve));
            }
            match s.res {
                Some((h, _, t)) if h == nexus && t == FENCING_TYPE => Ok(()),
                Some(_) => Err(conflict(Op::Reserve)),
                None => {
                    s.res = Some((nexus, key, FENCING_TYPE));
                    Ok(())
                }
            }
        })
    }

    fn release(&self, key: PrKey) -> Result<(), PrError> {
        self.run(Op::Release, |s, nexus| {
            if s.key_of(nexus) != Some(key) {
                return Err(conflict(Op::Release));
            }
            match s.res {
                Some((h, _, t)) if h == nexus => {
                    if t != FENCING_TYPE {
                        // ILLEGAL REQUEST, INVALID RELEASE OF PERSISTENT RESERVATION.
                        return Err(PrError::Check {
                            op: Op::Release,
                            sense: Sense {
                                key: 5,
                                asc: 0x26,
                                ascq: 4,
                            },
                        });
                    }
                    s.res = None;
                    Ok(())
                }
                _ => Ok(()),
            }
        })
    }

    fn preempt(&self, own: PrKey, victim: PrKey, abort: bool) -> Result<(), PrError> {
        let op = if abort { Op::PreemptAbort } else { Op::Preempt };
        self.run(op, |s, nexus| {
            if abort && s.quirks.no_preempt_abort {
                return Err(invalid(op));
            }
            if s.key_of(nexus) != Some(own) {
                return Err(conflict(op));
            }
            if !s.regs.iter().any(|(_, k)| *k == victim) {
                return Err(conflict(op));
            }
            s.regs.retain(|(n, k)| *k != victim || *n == nexus);
            if let Some((_, holder_key, _)) = s.res {
                if holder_key == victim {
                    s.res = Some((nexus, own, FENCING_TYPE));
                }
            }
            s.generation = s.generation.wrapping_add(1);
            Ok(())
        })
    }

    fn clear(&self, key: PrKey) -> Result<(), PrError> {
        self.run(Op::Clear, |s, nexus| {
            if s.key_of(nexus) != Some(key) {
                return Err(conflict(Op::Clear));
            }
            s.regs.clear();
            s.res = None;
            s.generation = s.generation.wrapping_add(1);
            Ok(())
        })
    }

    fn read_keys(&self) -> Result<ReadKeys, PrError> {
        self.run(Op::ReadKeys, |s, _| {
            let r = ReadKeys {
                generation: s.generation,
                keys: s.regs.iter().map(|(_, k)| *k).collect(),
            };
            parse_read_keys(&encode_read_keys(&r)).map_err(|error| PrError::Malformed {
                op: Op::ReadKeys,
                error,
            })
        })
    }

    fn read_reservation(&self) -> Result<ReadReservation, PrError> {
        self.run(Op::ReadReservation, |s, _| {
            let r = ReadReservation {
                generation: s.generation,
                reservation: s.res.map(|(_, k, t)| Reservation {
                    key: (!t.all_registrants()).then_some(k),
                    pr_type: t,
                }),
            };
            parse_read_reservation(&encode_read_reservation(&r)).map_err(|error| {
                PrError::Malformed {
                    op: Op::ReadReservation,
                    error,
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_exclusive_registrants_only_rules() {
        let lun = Lun::new();
        let (a, b, c) = (lun.path(), lun.path(), lun.path());
        let (ka, kb) = (PrKey::for_node(1), PrKey::for_node(2));
        assert!(c.write().is_ok(), "no reservation: anyone writes");
        a.register(ka, RegisterVia::Auto).unwrap();
        a.reserve(ka).unwrap();
        a.reserve(ka).unwrap(); // idempotent for the holder
        assert!(c.write().unwrap_err().is_conflict(), "unregistered path");
        assert!(
            b.reserve(kb).unwrap_err().is_conflict(),
            "unregistered reserve"
        );
        b.register(kb, RegisterVia::Auto).unwrap();
        assert!(b.write().is_ok(), "registrants write");
        assert!(b.reserve(kb).unwrap_err().is_conflict(), "held by another");
        b.preempt(kb, ka, false).unwrap();
        assert_eq!(lun.keys(), vec![kb]);
        assert_eq!(lun.reservation(), Some((kb, FENCING_TYPE)));
        assert!(a.write().unwrap_err().is_conflict(), "preempted path");
        assert!(a.reserve(ka).unwrap_err().is_conflict());
        assert!(
            b.preempt(kb, ka, false).unwrap_err().is_conflict(),
            "victim no longer registered"
        );
        b.unregister(kb).unwrap();
        assert_eq!(
            lun.reservation(),
            None,
            "the holder left: the reservation is released"
        );
    }

    #[test]
    fn quirks_and_injection() {
        let lun = Lun::with_quirks(Quirks {
            rejects_aptpl: true,
            no_preempt_abort: true,
        });
        let a = lun.path();
        let k = PrKey::for_node(1);
        assert!(a
            .register(k, RegisterVia::Ioctl)
            .unwrap_err()
            .is_invalid_field());
        assert_eq!(
            a.register(k, RegisterVia::Auto),
            Ok(Registered::SgIoNoAptpl)
        );
        lun.inject(
            Op::ReadKeys,
            PrError::Errno {
                op: Op::ReadKeys,
                errno: libc::EIO,
            },
        );
        assert!(a.read_keys().is_err());
        assert_eq!(a.read_keys().unwrap().keys, vec![k]);
    }
}
