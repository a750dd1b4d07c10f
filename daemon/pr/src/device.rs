//! Persistent reservations on a real block device: the `<linux/pr.h>` ioctls for every
//! PERSISTENT RESERVE OUT action, SG_IO for PERSISTENT RESERVE IN (the 6.12 kernel has no
//! read ioctls) and for REGISTER on targets that reject APTPL.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::thread::sleep;
use std::time::Duration;

use crate::error::{errno_text, Op, PrError};
use crate::key::PrKey;
use crate::scsi::{
    classify_ioctl, classify_sg, inquiry_cdb, parse_inquiry, parse_read_keys,
    parse_read_reservation, prin_cdb, prout_cdb, prout_params, Inquiry, IoctlVerdict, ParseError,
    ReadKeys, ReadReservation, SgVerdict, FENCING_TYPE, PRIN_READ_KEYS, PRIN_READ_RESERVATION,
    PROUT_REGISTER, PROUT_REGISTER_AND_IGNORE_EXISTING_KEY,
};
use crate::sys::{self, Data, PrClear, PrPreempt, PrRegistration, PrReservation, PR_FL_IGNORE_KEY};

/// How to send REGISTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterVia {
    /// `IOC_PR_REGISTER` (the kernel always sets APTPL); when the target rejects that with
    /// INVALID FIELD (EINVAL, e.g. tgt), fall back to SG_IO without APTPL.
    Auto,
    /// `IOC_PR_REGISTER` only.
    Ioctl,
    /// SG_IO PERSISTENT RESERVE OUT without APTPL only.
    SgIo,
}

/// How REGISTER was actually sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registered {
    /// Through the ioctl, with APTPL: the registration survives a target power loss.
    IoctlAptpl,
    /// Through SG_IO without APTPL: the registration lives as long as the target's memory.
    SgIoNoAptpl,
}

/// The persistent-reservation operations MXFS uses, on one path (I_T nexus) to one LU. Every
/// reservation is of type WRITE EXCLUSIVE – REGISTRANTS ONLY. Implemented by [`PrDevice`] and
/// by the in-memory target of [`crate::model`].
pub trait PrOps {
    /// Registers `key` for this path, replacing whatever key it had (REGISTER AND IGNORE
    /// EXISTING KEY). Only called on an explicit join or operator action, never by the watch.
    fn register(&self, key: PrKey, via: RegisterVia) -> Result<Registered, PrError>;
    /// Removes this path's registration `key` (REGISTER with service action key 0).
    fn unregister(&self, key: PrKey) -> Result<(), PrError>;
    fn reserve(&self, key: PrKey) -> Result<(), PrError>;
    fn release(&self, key: PrKey) -> Result<(), PrError>;
    /// PREEMPT (or PREEMPT AND ABORT): removes every registration of `victim`; if `victim`
    /// held the reservation, it passes to `own`.
    fn preempt(&self, own: PrKey, victim: PrKey, abort: bool) -> Result<(), PrError>;
    /// CLEAR: removes every registration and the reservation (operator use only).
    fn clear(&self, key: PrKey) -> Result<(), PrError>;
    fn read_keys(&self) -> Result<ReadKeys, PrError>;
    fn read_reservation(&self) -> Result<ReadReservation, PrError>;
}

/// SG_IO timeout for PR commands, as `sd` uses for its own (30 s).
const SG_TIMEOUT_MS: u32 = 30_000;
/// Sends of one command when the target asks for a retry (UNIT ATTENTION after a preempt or
/// reset, BUSY).
const SG_ATTEMPTS: u32 = 6;
/// READ KEYS allocation lengths: a first guess (32 registrations), and the CDB's limit.
const KEYS_FIRST_ALLOC: usize = 8 + 8 * 32;
const KEYS_MAX_ALLOC: usize = 0xffff;

/// A block device opened for persistent reservations.
#[derive(Debug)]
pub struct PrDevice {
    file: File,
    path: String,
}

impl PrDevice {
    /// Opens `path` read-write (PR ioctls need CAP_SYS_ADMIN or a writable open).
    pub fn open(path: &str) -> Result<PrDevice, PrError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| PrError::Errno {
                op: Op::Probe,
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            })?;
        Ok(PrDevice {
            file,
            path: path.to_string(),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn not_supported(&self, op: Op, detail: impl Into<String>) -> PrError {
        PrError::NotSupported {
            device: self.path.clone(),
            op,
            detail: detail.into(),
        }
    }

    /// Checks that the block driver implements the PR ioctls (without sending a command) and
    /// that the target answers PERSISTENT RESERVE IN. Returns the current keys.
    pub fn probe(&self) -> Result<ReadKeys, PrError> {
        let (ret, errno) = sys::pr_probe(self.file.as_fd());
        match (ret, errno) {
            (r, libc::EFAULT) if r < 0 => {}
            (r, libc::EOPNOTSUPP) if r < 0 => {
                return Err(self.not_supported(
                    Op::Probe,
                    "the block driver has no persistent reservation operations",
                ))
            }
            (r, libc::ENOTTY) if r < 0 => {
                return Err(self.not_supported(Op::Probe, "not a block device with PR ioctls"))
            }
            (r, e) if r < 0 => {
                return Err(PrError::Errno {
                    op: Op::Probe,
                    errno: e,
                })
            }
            // A kernel that accepted a NULL argument: nothing to conclude, go on.
            _ => {}
        }
        self.read_keys()
    }

    /// Standard INQUIRY through SG_IO: vendor, product, revision (for target quirks).
    pub fn inquiry(&self) -> Result<Inquiry, PrError> {
        let mut buf = [0u8; 96];
        let n = self.sg(
            Op::Probe,
            &inquiry_cdb(buf.len() as u8),
            SgData::In(&mut buf),
        )?;
        parse_inquiry(&buf[..n]).map_err(|error| PrError::Malformed {
            op: Op::Probe,
            error,
        })
    }

    fn ioctl_result(&self, op: Op, ret: i32, errno: i32) -> Result<(), PrError> {
        match classify_ioctl(ret, errno) {
            IoctlVerdict::Ok => Ok(()),
            IoctlVerdict::ReservationConflict => Err(PrError::ReservationConflict { op }),
            IoctlVerdict::NotSupported(e) => {
                Err(self.not_supported(op, format!("PR ioctl: {}", errno_text(e))))
            }
            IoctlVerdict::Errno(e) => Err(PrError::Errno { op, errno: e }),
            IoctlVerdict::Status(s) => Err(PrError::Status { op, status: s }),
        }
    }

    fn register_ioctl(&self, op: Op, old: u64, new: u64, ignore: bool) -> Result<(), PrError> {
        let arg = PrRegistration {
            old_key: old,
            new_key: new,
            flags: if ignore { PR_FL_IGNORE_KEY } else { 0 },
            pad: 0,
        };
        let (ret, errno) = sys::pr_ioctl(self.file.as_fd(), sys::IOC_PR_REGISTER, &arg);
        self.ioctl_result(op, ret, errno)
    }

    fn register_sg(&self, op: Op, old: u64, new: u64, ignore: bool) -> Result<(), PrError> {
        let sa = if ignore {
            PROUT_REGISTER_AND_IGNORE_EXISTING_KEY
        } else {
            PROUT_REGISTER
        };
        let cdb = prout_cdb(sa, None);
        let params = prout_params(if ignore { 0 } else { old }, new, false);
        self.sg(op, &cdb, SgData::Out(&params)).map(|_| ())
    }

    /// REGISTER by the chosen route; `Auto` falls back to SG_IO when the target rejects the
    /// APTPL bit the ioctl always sets.
    fn register_via(
        &self,
        op: Op,
        old: u64,
        new: u64,
        ignore: bool,
        via: RegisterVia,
    ) -> Result<Registered, PrError> {
        match via {
            RegisterVia::SgIo => self
                .register_sg(op, old, new, ignore)
                .map(|()| Registered::SgIoNoAptpl),
            RegisterVia::Ioctl => self
                .register_ioctl(op, old, new, ignore)
                .map(|()| Registered::IoctlAptpl),
            RegisterVia::Auto => match self.register_ioctl(op, old, new, ignore) {
                Ok(()) => Ok(Registered::IoctlAptpl),
                Err(e) if e.is_invalid_field() => self
                    .register_sg(op, old, new, ignore)
                    .map(|()| Registered::SgIoNoAptpl),
                Err(e) => Err(e),
            },
        }
    }

    fn sg(&self, op: Op, cdb: &[u8], data: SgData<'_>) -> Result<usize, PrError> {
        let mut data = data;
        for attempt in 1..=SG_ATTEMPTS {
            let d = match &mut data {
                SgData::In(b) => Data::In(b),
                SgData::Out(b) => Data::Out(b),
            };
            let (outcome, transferred) = match sys::sg_io(self.file.as_fd(), cdb, d, SG_TIMEOUT_MS)
            {
                Ok(x) => x,
                // ENOTTY: no SCSI pass-through (virtio-blk); EINVAL: a driver that refuses
                // unknown ioctls that way (loop, nbd); EOPNOTSUPP: likewise.
                Err(e @ (libc::ENOTTY | libc::EINVAL | libc::EOPNOTSUPP)) => {
                    return Err(self.not_supported(
                        op,
                        format!("no SCSI pass-through (SG_IO: {})", errno_text(e)),
                    ))
                }
                Err(e) => return Err(PrError::Errno { op, errno: e }),
            };
            match classify_sg(&outcome) {
                SgVerdict::Good => return Ok(transferred),
                SgVerdict::ReservationConflict => return Err(PrError::ReservationConflict { op }),
                SgVerdict::Retry if attempt < SG_ATTEMPTS => {
                    sleep(Duration::from_millis(20 * u64::from(attempt)));
                }
                SgVerdict::Retry => {
                    return Err(match outcome.sense {
                        Some(sense) => PrError::Check { op, sense },
                        None => PrError::Scsi {
                            op,
                            status: outcome.status,
                            host: 0,
                            driver: 0,
                        },
                    })
                }
                SgVerdict::Unsupported(sense) => {
                    return Err(self.not_supported(
                        op,
                        format!("the target rejects PERSISTENT RESERVE: {sense}"),
                    ))
                }
                SgVerdict::Check(sense) => return Err(PrError::Check { op, sense }),
                SgVerdict::Status(status) => {
                    return Err(PrError::Scsi {
                        op,
                        status,
                        host: 0,
                        driver: 0,
                    })
                }
                SgVerdict::Transport { host, driver } => {
                    return Err(PrError::Scsi {
                        op,
                        status: outcome.status,
                        host,
                        driver,
                    })
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// PERSISTENT RESERVE IN with a growing allocation length until the reply fits.
    fn prin<T>(
        &self,
        op: Op,
        sa: u8,
        first: usize,
        parse: fn(&[u8]) -> Result<T, ParseError>,
    ) -> Result<T, PrError> {
        let mut alloc = first;
        loop {
            let mut buf = vec![0u8; alloc];
            let cdb = prin_cdb(sa, alloc as u16);
            let n = self.sg(op, &cdb, SgData::In(&mut buf))?;
            match parse(&buf[..n]) {
                Ok(v) => return Ok(v),
                Err(ParseError::Truncated { needed, .. })
                    if needed > alloc && alloc < KEYS_MAX_ALLOC =>
                {
                    alloc = needed.min(KEYS_MAX_ALLOC);
                }
                Err(error) => return Err(PrError::Malformed { op, error }),
            }
        }
    }
}

enum SgData<'a> {
    In(&'a mut [u8]),
    Out(&'a [u8]),
}

impl PrOps for PrDevice {
    fn register(&self, key: PrKey, via: RegisterVia) -> Result<Registered, PrError> {
        self.register_via(Op::Register, 0, key.get(), true, via)
    }

    fn unregister(&self, key: PrKey) -> Result<(), PrError> {
        self.register_via(Op::Unregister, key.get(), 0, false, RegisterVia::Auto)
            .map(|_| ())
    }

    fn reserve(&self, key: PrKey) -> Result<(), PrError> {
        let arg = PrReservation {
            key: key.get(),
            pr_type: FENCING_TYPE.block(),
            flags: 0,
        };
        let (ret, errno) = sys::pr_ioctl(self.file.as_fd(), sys::IOC_PR_RESERVE, &arg);
        self.ioctl_result(Op::Reserve, ret, errno)
    }

    fn release(&self, key: PrKey) -> Result<(), PrError> {
        let arg = PrReservation {
            key: key.get(),
            pr_type: FENCING_TYPE.block(),
            flags: 0,
        };
        let (ret, errno) = sys::pr_ioctl(self.file.as_fd(), sys::IOC_PR_RELEASE, &arg);
        self.ioctl_result(Op::Release, ret, errno)
    }

    fn preempt(&self, own: PrKey, victim: PrKey, abort: bool) -> Result<(), PrError> {
        let arg = PrPreempt {
            old_key: own.get(),
            new_key: victim.get(),
            pr_type: FENCING_TYPE.block(),
            flags: 0,
        };
        let (op, req) = if abort {
            (Op::PreemptAbort, sys::IOC_PR_PREEMPT_ABORT)
        } else {
            (Op::Preempt, sys::IOC_PR_PREEMPT)
        };
        let (ret, errno) = sys::pr_ioctl(self.file.as_fd(), req, &arg);
        self.ioctl_result(op, ret, errno)
    }

    fn clear(&self, key: PrKey) -> Result<(), PrError> {
        let arg = PrClear {
            key: key.get(),
            flags: 0,
            pad: 0,
        };
        let (ret, errno) = sys::pr_ioctl(self.file.as_fd(), sys::IOC_PR_CLEAR, &arg);
        self.ioctl_result(Op::Clear, ret, errno)
    }

    fn read_keys(&self) -> Result<ReadKeys, PrError> {
        self.prin(
            Op::ReadKeys,
            PRIN_READ_KEYS,
            KEYS_FIRST_ALLOC,
            parse_read_keys,
        )
    }

    fn read_reservation(&self) -> Result<ReadReservation, PrError> {
        self.prin(
            Op::ReadReservation,
            PRIN_READ_RESERVATION,
            24,
            parse_read_reservation,
        )
    }
}
