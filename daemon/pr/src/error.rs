//! Typed errors of persistent-reservation operations.

use core::fmt;

use crate::key::PrKey;
use crate::scsi::{pr_status_name, status_name, ParseError, Sense};

/// The operation an error belongs to (for messages and for the caller's decisions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Probe,
    Register,
    Unregister,
    Reserve,
    Release,
    Preempt,
    PreemptAbort,
    Clear,
    ReadKeys,
    ReadReservation,
}

impl Op {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::Register => "register",
            Self::Unregister => "unregister",
            Self::Reserve => "reserve",
            Self::Release => "release",
            Self::Preempt => "preempt",
            Self::PreemptAbort => "preempt and abort",
            Self::Clear => "clear",
            Self::ReadKeys => "read keys",
            Self::ReadReservation => "read reservation",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a persistent-reservation operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrError {
    /// The device (or its driver, or the target behind it) has no SCSI persistent
    /// reservations. Fencing for this volume relies on disk heartbeats and self-fencing.
    NotSupported {
        device: String,
        op: Op,
        detail: String,
    },
    /// The target answered RESERVATION CONFLICT: the I_T nexus is not registered with the
    /// key given (for an MXFS node, usually: its key was preempted), or a reservation of
    /// another holder forbids the operation.
    ReservationConflict { op: Op },
    /// A system call failed with this errno.
    Errno { op: Op, errno: i32 },
    /// The PR ioctl returned a positive status other than reservation conflict
    /// (`PR_STS_*` on 6.x kernels, a SCSI result word on older ones).
    Status { op: Op, status: u32 },
    /// SG_IO: the command ended in CHECK CONDITION with this sense.
    Check { op: Op, sense: Sense },
    /// SG_IO: another SCSI status, or a transport failure (host/driver status).
    Scsi {
        op: Op,
        status: u8,
        host: u16,
        driver: u16,
    },
    /// The PERSISTENT RESERVE IN reply was malformed.
    Malformed { op: Op, error: ParseError },
    /// A preempted key is still registered after the PREEMPT completed.
    StillRegistered { key: PrKey },
    /// The LU carries a reservation MXFS did not make (another type or a foreign key).
    ForeignReservation {
        key: Option<PrKey>,
        type_name: &'static str,
    },
}

impl PrError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::ReservationConflict { .. })
    }

    pub fn is_not_supported(&self) -> bool {
        matches!(self, Self::NotSupported { .. })
    }

    /// The target rejected a field: the kernel maps ILLEGAL REQUEST / INVALID FIELD to EINVAL
    /// for the ioctls; SG_IO shows the sense. Seen for APTPL and PREEMPT AND ABORT on tgt.
    pub fn is_invalid_field(&self) -> bool {
        match self {
            Self::Errno { errno, .. } => *errno == libc::EINVAL,
            Self::Check { sense, .. } => sense.is_invalid_field(),
            _ => false,
        }
    }

    /// Process exit status for the `mxfs-pr` tool: 3 not supported, 4 reservation conflict,
    /// 1 otherwise (2 is left to usage errors).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotSupported { .. } => 3,
            Self::ReservationConflict { .. } => 4,
            _ => 1,
        }
    }
}

pub(crate) fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

impl fmt::Display for PrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSupported { device, op, detail } => write!(
                f,
                "device {device} does not support SCSI persistent reservations; fencing falls back \
                 to disk heartbeats and self-fencing ({op}: {detail})"
            ),
            Self::ReservationConflict { op } => write!(f, "{op}: reservation conflict"),
            Self::Errno { op, errno } => {
                write!(f, "{op}: {}", errno_text(*errno))?;
                if *errno == libc::EPERM {
                    f.write_str(" (PR needs the whole device, not a partition, and CAP_SYS_ADMIN or a writable open)")?;
                }
                Ok(())
            }
            Self::Status { op, status } => {
                write!(f, "{op}: {} (status 0x{status:x})", pr_status_name(*status))
            }
            Self::Check { op, sense } => write!(f, "{op}: CHECK CONDITION, {sense}"),
            Self::Scsi {
                op,
                status,
                host,
                driver,
            } => {
                if *host != 0 || *driver != 0 {
                    write!(f, "{op}: transport failure (host status 0x{host:x}, driver status 0x{driver:x})")
                } else {
                    write!(
                        f,
                        "{op}: SCSI status {} (0x{status:02x})",
                        status_name(*status)
                    )
                }
            }
            Self::Malformed { op, error } => write!(f, "{op}: malformed reply: {error}"),
            Self::StillRegistered { key } => {
                write!(f, "key {key} is still registered after it was preempted")
            }
            Self::ForeignReservation { key, type_name } => match key {
                Some(k) => write!(
                    f,
                    "the LU is reserved {type_name} by key {k}, which MXFS did not make"
                ),
                None => write!(
                    f,
                    "the LU is reserved {type_name} (all registrants), which MXFS did not make"
                ),
            },
        }
    }
}

impl std::error::Error for PrError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_supported_message_is_the_operator_sentence() {
        let e = PrError::NotSupported {
            device: "/dev/vdb".into(),
            op: Op::Probe,
            detail: "the block driver has no persistent reservation operations".into(),
        };
        assert!(e.to_string().starts_with(
            "device /dev/vdb does not support SCSI persistent reservations; fencing falls back to \
             disk heartbeats and self-fencing"
        ));
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            PrError::ReservationConflict { op: Op::Reserve }.exit_code(),
            4
        );
        assert!(PrError::ReservationConflict { op: Op::Reserve }
            .to_string()
            .contains("reservation conflict"));
        assert!(PrError::Errno {
            op: Op::Register,
            errno: libc::EINVAL
        }
        .is_invalid_field());
    }
}
