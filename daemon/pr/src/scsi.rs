//! The SCSI side, pure: reservation types, PERSISTENT RESERVE IN/OUT command blocks and
//! parameter lists, strict parsers of the PERSISTENT RESERVE IN replies, sense data, and the
//! classification of what the kernel hands back (PR ioctl return values, SG_IO status).
//!
//! Nothing here does I/O; every function is deterministic and unit-tested, and the two reply
//! parsers are exposed for fuzzing.

use core::fmt;

use crate::key::PrKey;

/// SCSI operation codes.
pub const PERSISTENT_RESERVE_IN: u8 = 0x5e;
pub const PERSISTENT_RESERVE_OUT: u8 = 0x5f;

/// PERSISTENT RESERVE IN service actions (SPC-4 6.16).
pub const PRIN_READ_KEYS: u8 = 0x00;
pub const PRIN_READ_RESERVATION: u8 = 0x01;

/// PERSISTENT RESERVE OUT service actions (SPC-4 6.17).
pub const PROUT_REGISTER: u8 = 0x00;
pub const PROUT_RESERVE: u8 = 0x01;
pub const PROUT_RELEASE: u8 = 0x02;
pub const PROUT_CLEAR: u8 = 0x03;
pub const PROUT_PREEMPT: u8 = 0x04;
pub const PROUT_PREEMPT_AND_ABORT: u8 = 0x05;
pub const PROUT_REGISTER_AND_IGNORE_EXISTING_KEY: u8 = 0x06;

/// PERSISTENT RESERVE OUT basic parameter list: 24 bytes.
pub const PROUT_PARAM_LEN: usize = 24;
/// APTPL (activate persist through power loss), byte 20 bit 0 of the parameter list.
pub const PROUT_FLAG_APTPL: u8 = 0x01;

/// SCSI status bytes (SAM-5).
pub const STATUS_GOOD: u8 = 0x00;
pub const STATUS_CHECK_CONDITION: u8 = 0x02;
pub const STATUS_CONDITION_MET: u8 = 0x04;
pub const STATUS_BUSY: u8 = 0x08;
pub const STATUS_RESERVATION_CONFLICT: u8 = 0x18;
pub const STATUS_TASK_SET_FULL: u8 = 0x28;
pub const STATUS_ACA_ACTIVE: u8 = 0x30;
pub const STATUS_TASK_ABORTED: u8 = 0x40;

/// Sense keys used in decisions.
pub const SENSE_NOT_READY: u8 = 0x2;
pub const SENSE_ILLEGAL_REQUEST: u8 = 0x5;
pub const SENSE_UNIT_ATTENTION: u8 = 0x6;

/// Persistent reservation types. SCSI and `<linux/pr.h>` number them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrType {
    WriteExclusive,
    ExclusiveAccess,
    WriteExclusiveRegistrantsOnly,
    ExclusiveAccessRegistrantsOnly,
    WriteExclusiveAllRegistrants,
    ExclusiveAccessAllRegistrants,
}

/// The type MXFS reserves with: registered nodes may write, everyone may read, and a node
/// whose key is removed can no longer write.
pub const FENCING_TYPE: PrType = PrType::WriteExclusiveRegistrantsOnly;

impl PrType {
    /// The TYPE field of the SCSI commands and replies.
    pub const fn scsi(self) -> u8 {
        match self {
            Self::WriteExclusive => 1,
            Self::ExclusiveAccess => 3,
            Self::WriteExclusiveRegistrantsOnly => 5,
            Self::ExclusiveAccessRegistrantsOnly => 6,
            Self::WriteExclusiveAllRegistrants => 7,
            Self::ExclusiveAccessAllRegistrants => 8,
        }
    }

    /// `enum pr_type` of `<linux/pr.h>`.
    pub const fn block(self) -> u32 {
        match self {
            Self::WriteExclusive => 1,
            Self::ExclusiveAccess => 2,
            Self::WriteExclusiveRegistrantsOnly => 3,
            Self::ExclusiveAccessRegistrantsOnly => 4,
            Self::WriteExclusiveAllRegistrants => 5,
            Self::ExclusiveAccessAllRegistrants => 6,
        }
    }

    pub const fn from_scsi(t: u8) -> Option<PrType> {
        Some(match t {
            1 => Self::WriteExclusive,
            3 => Self::ExclusiveAccess,
            5 => Self::WriteExclusiveRegistrantsOnly,
            6 => Self::ExclusiveAccessRegistrantsOnly,
            7 => Self::WriteExclusiveAllRegistrants,
            8 => Self::ExclusiveAccessAllRegistrants,
            _ => return None,
        })
    }

    /// All-registrants types have no single holder; their reservation key field is 0.
    pub const fn all_registrants(self) -> bool {
        matches!(
            self,
            Self::WriteExclusiveAllRegistrants | Self::ExclusiveAccessAllRegistrants
        )
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::WriteExclusive => "write-exclusive",
            Self::ExclusiveAccess => "exclusive-access",
            Self::WriteExclusiveRegistrantsOnly => "write-exclusive-registrants-only",
            Self::ExclusiveAccessRegistrantsOnly => "exclusive-access-registrants-only",
            Self::WriteExclusiveAllRegistrants => "write-exclusive-all-registrants",
            Self::ExclusiveAccessAllRegistrants => "exclusive-access-all-registrants",
        }
    }
}

impl fmt::Display for PrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// --- command blocks -----------------------------------------------------------------------

/// PERSISTENT RESERVE IN (10-byte CDB) with an allocation length.
pub fn prin_cdb(service_action: u8, alloc_len: u16) -> [u8; 10] {
    let l = alloc_len.to_be_bytes();
    [
        PERSISTENT_RESERVE_IN,
        service_action & 0x1f,
        0,
        0,
        0,
        0,
        0,
        l[0],
        l[1],
        0,
    ]
}

/// PERSISTENT RESERVE OUT (10-byte CDB) for the 24-byte basic parameter list. Scope is
/// always LU_SCOPE (0).
pub fn prout_cdb(service_action: u8, pr_type: Option<PrType>) -> [u8; 10] {
    let l = (PROUT_PARAM_LEN as u32).to_be_bytes();
    let t = pr_type.map_or(0, PrType::scsi) & 0x0f;
    [
        PERSISTENT_RESERVE_OUT,
        service_action & 0x1f,
        t,
        0,
        0,
        l[0],
        l[1],
        l[2],
        l[3],
        0,
    ]
}

/// The basic PERSISTENT RESERVE OUT parameter list: RESERVATION KEY, SERVICE ACTION
/// RESERVATION KEY, flags (APTPL only; never SPEC_I_PT or ALL_TG_PT: MXFS registers each path
/// explicitly).
pub fn prout_params(key: u64, sa_key: u64, aptpl: bool) -> [u8; PROUT_PARAM_LEN] {
    let mut p = [0u8; PROUT_PARAM_LEN];
    p[0..8].copy_from_slice(&key.to_be_bytes());
    p[8..16].copy_from_slice(&sa_key.to_be_bytes());
    if aptpl {
        p[20] = PROUT_FLAG_APTPL;
    }
    p
}

// --- replies ------------------------------------------------------------------------------

/// Why a PERSISTENT RESERVE IN reply was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer than the 8 header bytes.
    Short { len: usize },
    /// The ADDITIONAL LENGTH says there is more than was transferred: the allocation length
    /// was too small (or the transfer was cut short). `needed` is the full reply size.
    Truncated { needed: usize, got: usize },
    /// READ KEYS: ADDITIONAL LENGTH is not a multiple of 8.
    KeyListLength(u32),
    /// READ KEYS: a registered key of 0 (registering 0 means unregistering: it cannot exist).
    ZeroKey { index: usize },
    /// READ RESERVATION: ADDITIONAL LENGTH other than 0 or 16.
    ReservationLength(u32),
    /// READ RESERVATION: a scope other than LU_SCOPE.
    Scope(u8),
    /// READ RESERVATION: an unknown reservation type.
    Type(u8),
    /// READ RESERVATION: a key of 0 for a type that has a single holder.
    ZeroHolderKey,
    /// Non-zero bytes after the reply the length field describes.
    TrailingBytes { at: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short { len } => {
                write!(f, "reply of {len} bytes is shorter than its 8-byte header")
            }
            Self::Truncated { needed, got } => {
                write!(f, "reply is {needed} bytes but only {got} were transferred")
            }
            Self::KeyListLength(l) => write!(f, "key list length {l} is not a multiple of 8"),
            Self::ZeroKey { index } => write!(f, "registered key #{index} is 0"),
            Self::ReservationLength(l) => {
                write!(f, "reservation descriptor length {l} (expected 0 or 16)")
            }
            Self::Scope(s) => write!(f, "reservation scope {s} (only LU_SCOPE 0 is defined)"),
            Self::Type(t) => write!(f, "unknown reservation type {t}"),
            Self::ZeroHolderKey => f.write_str("reservation holder key is 0"),
            Self::TrailingBytes { at } => {
                write!(f, "non-zero bytes after the reply at offset {at}")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// READ KEYS: the PR generation and every registered key, one entry per registered I_T nexus
/// (a node registered on two paths appears twice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadKeys {
    pub generation: u32,
    pub keys: Vec<PrKey>,
}

impl ReadKeys {
    pub fn contains(&self, key: PrKey) -> bool {
        self.keys.contains(&key)
    }
}

/// A reservation as READ RESERVATION reports it. `key` is `None` only for the all-registrants
/// types, which have no single holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub key: Option<PrKey>,
    pub pr_type: PrType,
}

/// READ RESERVATION: the PR generation and the reservation, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadReservation {
    pub generation: u32,
    pub reservation: Option<Reservation>,
}

fn header(buf: &[u8]) -> Result<(u32, u32), ParseError> {
    if buf.len() < 8 {
        return Err(ParseError::Short { len: buf.len() });
    }
    let be32 = |at: usize| u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    Ok((be32(0), be32(4)))
}

/// The reply body per its ADDITIONAL LENGTH; bytes past it must be zero (padding up to the
/// allocation length).
fn body(buf: &[u8], additional: u32) -> Result<&[u8], ParseError> {
    let needed = usize::try_from(additional)
        .ok()
        .and_then(|a| a.checked_add(8))
        .unwrap_or(usize::MAX);
    if needed > buf.len() {
        return Err(ParseError::Truncated {
            needed,
            got: buf.len(),
        });
    }
    if let Some(i) = buf[needed..].iter().position(|&b| b != 0) {
        return Err(ParseError::TrailingBytes { at: needed + i });
    }
    Ok(&buf[8..needed])
}

/// Parses PERSISTENT RESERVE IN / READ KEYS parameter data (SPC-4 6.16.2): PRGENERATION,
/// ADDITIONAL LENGTH, then 8-byte keys. `buf` is what the device transferred.
pub fn parse_read_keys(buf: &[u8]) -> Result<ReadKeys, ParseError> {
    let (generation, additional) = header(buf)?;
    if additional % 8 != 0 {
        return Err(ParseError::KeyListLength(additional));
    }
    let list = body(buf, additional)?;
    let mut keys = Vec::with_capacity(list.len() / 8);
    for (index, chunk) in list.chunks_exact(8).enumerate() {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(chunk);
        keys.push(PrKey::new(u64::from_be_bytes(raw)).ok_or(ParseError::ZeroKey { index })?);
    }
    Ok(ReadKeys { generation, keys })
}

/// Parses PERSISTENT RESERVE IN / READ RESERVATION parameter data (SPC-4 6.16.3):
/// PRGENERATION, ADDITIONAL LENGTH (0: no reservation, 16: one descriptor with the
/// RESERVATION KEY, SCOPE and TYPE).
pub fn parse_read_reservation(buf: &[u8]) -> Result<ReadReservation, ParseError> {
    let (generation, additional) = header(buf)?;
    if additional != 0 && additional != 16 {
        return Err(ParseError::ReservationLength(additional));
    }
    let d = body(buf, additional)?;
    if d.is_empty() {
        return Ok(ReadReservation {
            generation,
            reservation: None,
        });
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&d[0..8]);
    let scope = d[13] >> 4;
    if scope != 0 {
        return Err(ParseError::Scope(scope));
    }
    let pr_type = PrType::from_scsi(d[13] & 0x0f).ok_or(ParseError::Type(d[13] & 0x0f))?;
    let key = PrKey::new(u64::from_be_bytes(raw));
    if key.is_none() && !pr_type.all_registrants() {
        return Err(ParseError::ZeroHolderKey);
    }
    Ok(ReadReservation {
        generation,
        reservation: Some(Reservation { key, pr_type }),
    })
}

/// Encodes READ KEYS parameter data (tests, the in-memory target).
pub fn encode_read_keys(r: &ReadKeys) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + 8 * r.keys.len());
    v.extend_from_slice(&r.generation.to_be_bytes());
    v.extend_from_slice(&((8 * r.keys.len()) as u32).to_be_bytes());
    for k in &r.keys {
        v.extend_from_slice(&k.get().to_be_bytes());
    }
    v
}

/// Encodes READ RESERVATION parameter data (tests, the in-memory target).
pub fn encode_read_reservation(r: &ReadReservation) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&r.generation.to_be_bytes());
    match r.reservation {
        None => v.extend_from_slice(&0u32.to_be_bytes()),
        Some(res) => {
            v.extend_from_slice(&16u32.to_be_bytes());
            v.extend_from_slice(&res.key.map_or(0, PrKey::get).to_be_bytes());
            v.extend_from_slice(&[0, 0, 0, 0, 0, res.pr_type.scsi(), 0, 0]);
        }
    }
    v
}

// --- INQUIRY ------------------------------------------------------------------------------

pub const INQUIRY: u8 = 0x12;
/// Standard INQUIRY data is at least 36 bytes (vendor, product, revision included).
pub const INQUIRY_MIN_LEN: usize = 36;

/// Standard INQUIRY (6-byte CDB, EVPD 0).
pub fn inquiry_cdb(alloc_len: u8) -> [u8; 6] {
    [INQUIRY, 0, 0, 0, alloc_len, 0]
}

/// The identifying part of standard INQUIRY data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inquiry {
    /// PERIPHERAL DEVICE TYPE (0: direct-access block device).
    pub device_type: u8,
    pub vendor: String,
    pub product: String,
    pub revision: String,
}

/// Parses standard INQUIRY data: at least 36 bytes; the ASCII fields are trimmed (NUL counts
/// as padding), any other byte outside printable ASCII is shown as '.'.
pub fn parse_inquiry(buf: &[u8]) -> Result<Inquiry, ParseError> {
    if buf.len() < INQUIRY_MIN_LEN {
        return Err(ParseError::Short { len: buf.len() });
    }
    let text = |r: core::ops::Range<usize>| -> String {
        buf[r]
            .iter()
            .map(|&b| match b {
                0 => ' ',
                0x20..=0x7e => b as char,
                _ => '.',
            })
            .collect::<String>()
            .trim()
            .to_string()
    };
    Ok(Inquiry {
        device_type: buf[0] & 0x1f,
        vendor: text(8..16),
        product: text(16..32),
        revision: text(32..36),
    })
}

/// Why PREEMPT AND ABORT must not be sent to this target, if it must not.
///
/// The Linux LIO target (vendor `LIO-ORG`) deadlocks on it when the fabric queues command
/// submission to a work item (tcm_loop, vhost-scsi): the PERSISTENT RESERVE OUT runs in that
/// work item and `core_tmr_lun_reset` flushes the same work, so the preempting node's command
/// never completes (seen on 6.1 and 6.12; lockdep reports recursive locking on
/// `(work_completion)(&q->sq.work)`).
pub fn preempt_abort_hazard(inq: &Inquiry) -> Option<&'static str> {
    (inq.vendor == "LIO-ORG").then_some(
        "the Linux LIO target deadlocks in PREEMPT AND ABORT on tcm_loop/vhost-scsi (core_tmr_lun_reset flushes its own submission work)",
    )
}

// --- sense data and status ----------------------------------------------------------------

/// The decision-relevant part of sense data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

impl Sense {
    /// Parses fixed (0x70/0x71) or descriptor (0x72/0x73) format sense data. `None` when the
    /// buffer holds no valid sense.
    pub fn parse(buf: &[u8]) -> Option<Sense> {
        let code = *buf.first()? & 0x7f;
        match code {
            0x70 | 0x71 if buf.len() >= 3 => Some(Sense {
                key: buf[2] & 0x0f,
                asc: buf.get(12).copied().unwrap_or(0),
                ascq: buf.get(13).copied().unwrap_or(0),
            }),
            0x72 | 0x73 if buf.len() >= 4 => Some(Sense {
                key: buf[1] & 0x0f,
                asc: buf[2],
                ascq: buf[3],
            }),
            _ => None,
        }
    }

    pub fn key_name(&self) -> &'static str {
        match self.key {
            0x0 => "NO SENSE",
            0x1 => "RECOVERED ERROR",
            0x2 => "NOT READY",
            0x3 => "MEDIUM ERROR",
            0x4 => "HARDWARE ERROR",
            0x5 => "ILLEGAL REQUEST",
            0x6 => "UNIT ATTENTION",
            0x7 => "DATA PROTECT",
            0x8 => "BLANK CHECK",
            0xb => "ABORTED COMMAND",
            _ => "sense key",
        }
    }

    /// ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE: the target has no PR at all.
    pub fn is_invalid_opcode(&self) -> bool {
        self.key == SENSE_ILLEGAL_REQUEST && self.asc == 0x20
    }

    /// ILLEGAL REQUEST, INVALID FIELD IN CDB (0x24) or IN PARAMETER LIST (0x26): e.g. a target
    /// that rejects APTPL or PREEMPT AND ABORT.
    pub fn is_invalid_field(&self) -> bool {
        self.key == SENSE_ILLEGAL_REQUEST && (self.asc == 0x24 || self.asc == 0x26)
    }
}

impl fmt::Display for Sense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (0x{:x}), asc/ascq 0x{:02x}/0x{:02x}",
            self.key_name(),
            self.key,
            self.asc,
            self.ascq
        )?;
        match (self.asc, self.ascq) {
            (0x20, 0x00) => f.write_str(" invalid command operation code"),
            (0x24, 0x00) => f.write_str(" invalid field in CDB"),
            (0x26, 0x00) => f.write_str(" invalid field in parameter list"),
            (0x2a, 0x03) => f.write_str(" reservations preempted"),
            (0x2a, 0x04) => f.write_str(" reservations released"),
            (0x2a, 0x05) => f.write_str(" registrations preempted"),
            (0x29, _) => f.write_str(" power on, reset, or bus device reset occurred"),
            _ => Ok(()),
        }
    }
}

/// The name of a SCSI status byte.
pub fn status_name(status: u8) -> &'static str {
    match status {
        STATUS_GOOD => "GOOD",
        STATUS_CHECK_CONDITION => "CHECK CONDITION",
        STATUS_CONDITION_MET => "CONDITION MET",
        STATUS_BUSY => "BUSY",
        STATUS_RESERVATION_CONFLICT => "RESERVATION CONFLICT",
        STATUS_TASK_SET_FULL => "TASK SET FULL",
        STATUS_ACA_ACTIVE => "ACA ACTIVE",
        STATUS_TASK_ABORTED => "TASK ABORTED",
        _ => "unknown status",
    }
}

/// What an SG_IO command came back with (the fields of `sg_io_hdr` that matter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgOutcome {
    pub status: u8,
    pub host_status: u16,
    pub driver_status: u16,
    pub sense: Option<Sense>,
}

/// Classification of an SG_IO outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgVerdict {
    Good,
    ReservationConflict,
    /// UNIT ATTENTION, BUSY, TASK SET FULL: send the command again.
    Retry,
    /// ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE: no PR on this target.
    Unsupported(Sense),
    /// Any other CHECK CONDITION.
    Check(Sense),
    /// Another status, or CHECK CONDITION without sense.
    Status(u8),
    /// The transport failed (host_status, driver_status).
    Transport {
        host: u16,
        driver: u16,
    },
}

/// Linux `DID_*` host byte: 0 is DID_OK. Driver byte DRIVER_SENSE (0x08) only says sense is
/// present; anything else in the low nibble is a driver failure (DRIVER_ERROR, DRIVER_TIMEOUT).
pub fn classify_sg(o: &SgOutcome) -> SgVerdict {
    if o.host_status != 0 || (o.driver_status & 0x07) != 0 {
        return SgVerdict::Transport {
            host: o.host_status,
            driver: o.driver_status,
        };
    }
    match o.status & 0xfe {
        STATUS_GOOD | STATUS_CONDITION_MET => SgVerdict::Good,
        STATUS_RESERVATION_CONFLICT => SgVerdict::ReservationConflict,
        STATUS_BUSY | STATUS_TASK_SET_FULL => SgVerdict::Retry,
        STATUS_CHECK_CONDITION => match o.sense {
            Some(s) if s.key == SENSE_UNIT_ATTENTION => SgVerdict::Retry,
            // LOGICAL UNIT NOT READY, becoming ready.
            Some(s) if s.key == SENSE_NOT_READY && s.asc == 0x04 && s.ascq == 0x01 => {
                SgVerdict::Retry
            }
            Some(s) if s.is_invalid_opcode() => SgVerdict::Unsupported(s),
            Some(s) => SgVerdict::Check(s),
            None => SgVerdict::Status(o.status),
        },
        s => SgVerdict::Status(s),
    }
}

/// What a `<linux/pr.h>` ioctl returned, classified. The ioctls return a negative errno
/// (`-1` and `errno` in userspace), 0, or a positive status: a `PR_STS_*` value on 6.x `sd`
/// (0x18 reservation conflict, 0x2 I/O error, 0xe0000/0xf0000/0x10000 path failures), a raw
/// SCSI result word on older kernels; in both, `ret & 0xff == 0x18` is a reservation conflict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoctlVerdict {
    Ok,
    ReservationConflict,
    /// The driver has no PR operations (ENOTTY: not a block device or no such ioctl;
    /// EOPNOTSUPP: a block driver without pr_ops, e.g. virtio-blk, loop, nbd).
    NotSupported(i32),
    Errno(i32),
    Status(u32),
}

pub fn classify_ioctl(ret: i32, errno: i32) -> IoctlVerdict {
    match ret {
        0 => IoctlVerdict::Ok,
        r if r < 0 => match errno {
            libc::ENOTTY | libc::EOPNOTSUPP => IoctlVerdict::NotSupported(errno),
            e => IoctlVerdict::Errno(e),
        },
        r if (r & 0xff) == i32::from(STATUS_RESERVATION_CONFLICT) => {
            IoctlVerdict::ReservationConflict
        }
        r => IoctlVerdict::Status(r as u32),
    }
}

/// Describes a positive PR ioctl status.
pub fn pr_status_name(status: u32) -> &'static str {
    match status {
        0x2 => "I/O error",
        0x18 => "reservation conflict",
        0xe0000 => "temporary path failure (retry)",
        0xf0000 => "path failed fast",
        0x10000 => "path failed",
        _ => "SCSI result",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u32) -> PrKey {
        PrKey::for_node(n)
    }

    #[test]
    fn type_numbering_differs_between_scsi_and_block() {
        assert_eq!(FENCING_TYPE.scsi(), 5);
        assert_eq!(FENCING_TYPE.block(), 3);
        for t in [1u8, 3, 5, 6, 7, 8] {
            assert_eq!(PrType::from_scsi(t).unwrap().scsi(), t);
        }
        for t in [0u8, 2, 4, 9, 15] {
            assert_eq!(PrType::from_scsi(t), None);
        }
    }

    #[test]
    fn cdbs() {
        assert_eq!(
            prin_cdb(PRIN_READ_KEYS, 0x1234),
            [0x5e, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0]
        );
        assert_eq!(
            prin_cdb(PRIN_READ_RESERVATION, 24),
            [0x5e, 1, 0, 0, 0, 0, 0, 0, 24, 0]
        );
        assert_eq!(
            prout_cdb(PROUT_PREEMPT, Some(FENCING_TYPE)),
            [0x5f, 4, 5, 0, 0, 0, 0, 0, 24, 0]
        );
        assert_eq!(
            prout_cdb(PROUT_REGISTER_AND_IGNORE_EXISTING_KEY, None)[..3],
            [0x5f, 6, 0]
        );
        let p = prout_params(0x0102030405060708, 0x1112131415161718, true);
        assert_eq!(p[..8], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p[8..16], [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        assert_eq!(p[20], 1);
        assert_eq!(prout_params(1, 2, false)[20], 0);
    }

    #[test]
    fn read_keys_round_trip() {
        for keys in [vec![], vec![k(1)], vec![k(1), k(2), k(1)]] {
            let r = ReadKeys {
                generation: 0xdead_beef,
                keys,
            };
            assert_eq!(parse_read_keys(&encode_read_keys(&r)), Ok(r));
        }
    }

    #[test]
    fn read_keys_accepts_zero_padding_only() {
        let mut buf = encode_read_keys(&ReadKeys {
            generation: 3,
            keys: vec![k(7)],
        });
        buf.resize(256, 0);
        assert_eq!(parse_read_keys(&buf).unwrap().keys, vec![k(7)]);
        buf[100] = 1;
        assert_eq!(
            parse_read_keys(&buf),
            Err(ParseError::TrailingBytes { at: 100 })
        );
    }

    #[test]
    fn read_keys_rejects_malformed() {
        assert_eq!(parse_read_keys(&[]), Err(ParseError::Short { len: 0 }));
        assert_eq!(parse_read_keys(&[0; 7]), Err(ParseError::Short { len: 7 }));
        // Length not a multiple of 8.
        assert_eq!(
            parse_read_keys(&[0, 0, 0, 1, 0, 0, 0, 4, 1, 2, 3, 4]),
            Err(ParseError::KeyListLength(4))
        );
        // Says 2 keys, carries 1: the allocation length was too small.
        let mut buf = encode_read_keys(&ReadKeys {
            generation: 1,
            keys: vec![k(1), k(2)],
        });
        buf.truncate(16);
        assert_eq!(
            parse_read_keys(&buf),
            Err(ParseError::Truncated {
                needed: 24,
                got: 16
            })
        );
        // A huge length must not overflow or allocate.
        let mut huge = vec![0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf8];
        huge.extend_from_slice(&[1; 8]);
        assert!(matches!(
            parse_read_keys(&huge),
            Err(ParseError::Truncated { .. })
        ));
        // Key 0 cannot be registered.
        let mut zero = vec![0, 0, 0, 1, 0, 0, 0, 16];
        zero.extend_from_slice(&k(1).get().to_be_bytes());
        zero.extend_from_slice(&[0; 8]);
        assert_eq!(
            parse_read_keys(&zero),
            Err(ParseError::ZeroKey { index: 1 })
        );
    }

    #[test]
    fn read_reservation_round_trip() {
        let none = ReadReservation {
            generation: 9,
            reservation: None,
        };
        assert_eq!(
            parse_read_reservation(&encode_read_reservation(&none)),
            Ok(none)
        );
        let held = ReadReservation {
            generation: 10,
            reservation: Some(Reservation {
                key: Some(k(2)),
                pr_type: FENCING_TYPE,
            }),
        };
        let buf = encode_read_reservation(&held);
        assert_eq!(buf.len(), 24);
        assert_eq!(buf[21], 5);
        assert_eq!(parse_read_reservation(&buf), Ok(held));
        let all = ReadReservation {
            generation: 11,
            reservation: Some(Reservation {
                key: None,
                pr_type: PrType::WriteExclusiveAllRegistrants,
            }),
        };
        assert_eq!(
            parse_read_reservation(&encode_read_reservation(&all)),
            Ok(all)
        );
    }

    #[test]
    fn read_reservation_rejects_malformed() {
        let held = ReadReservation {
            generation: 1,
            reservation: Some(Reservation {
                key: Some(k(2)),
                pr_type: FENCING_TYPE,
            }),
        };
        let good = encode_read_reservation(&held);
        assert_eq!(
            parse_read_reservation(&good[..5]),
            Err(ParseError::Short { len: 5 })
        );
        assert_eq!(
            parse_read_reservation(&good[..20]),
            Err(ParseError::Truncated {
                needed: 24,
                got: 20
            })
        );
        let mut b = good.clone();
        b[7] = 8;
        assert_eq!(
            parse_read_reservation(&b),
            Err(ParseError::ReservationLength(8))
        );
        let mut b = good.clone();
        b[21] = 0x15; // element scope
        assert_eq!(parse_read_reservation(&b), Err(ParseError::Scope(1)));
        let mut b = good.clone();
        b[21] = 2;
        assert_eq!(parse_read_reservation(&b), Err(ParseError::Type(2)));
        let mut b = good.clone();
        b[8..16].fill(0);
        assert_eq!(parse_read_reservation(&b), Err(ParseError::ZeroHolderKey));
        let mut b = good.clone();
        b.extend_from_slice(&[0, 0, 7]);
        assert_eq!(
            parse_read_reservation(&b),
            Err(ParseError::TrailingBytes { at: 26 })
        );
        // "No reservation" followed by garbage.
        let mut b = encode_read_reservation(&ReadReservation {
            generation: 1,
            reservation: None,
        });
        b.extend_from_slice(&[0xff; 16]);
        assert_eq!(
            parse_read_reservation(&b),
            Err(ParseError::TrailingBytes { at: 8 })
        );
    }

    /// Deterministic mutation of valid replies: the parsers never panic, and whatever they
    /// accept re-encodes to the same bytes up to zero padding.
    #[test]
    fn parsers_survive_mutation() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let bases = [
            encode_read_keys(&ReadKeys {
                generation: 5,
                keys: vec![k(1), k(2), k(3)],
            }),
            encode_read_reservation(&ReadReservation {
                generation: 5,
                reservation: Some(Reservation {
                    key: Some(k(1)),
                    pr_type: FENCING_TYPE,
                }),
            }),
            vec![0; 8],
        ];
        for i in 0..50_000 {
            let mut b = bases[i % bases.len()].clone();
            let r = next();
            match r % 4 {
                0 => {
                    let at = (r >> 8) as usize % b.len();
                    b[at] ^= (r >> 32) as u8 | 1;
                }
                1 => b.truncate((r >> 8) as usize % (b.len() + 1)),
                2 => b.extend((0..(r >> 8) % 24).map(|j| (r >> (j % 8)) as u8)),
                _ => {
                    let at = (r >> 8) as usize % b.len();
                    b[at] = (r >> 40) as u8;
                }
            }
            if let Ok(keys) = parse_read_keys(&b) {
                let e = encode_read_keys(&keys);
                assert_eq!(e[..], b[..e.len()]);
                assert!(b[e.len()..].iter().all(|&x| x == 0));
            }
            if let Ok(res) = parse_read_reservation(&b) {
                let e = encode_read_reservation(&res);
                assert_eq!(e[..8], b[..8]);
                assert!(b.len() >= e.len());
                assert_eq!(
                    res.reservation.map(|r| r.pr_type.scsi()),
                    (e.len() > 8).then(|| e[21])
                );
            }
        }
    }

    #[test]
    fn inquiry() {
        let mut b = vec![0u8; 36];
        b[8..16].copy_from_slice(b"LIO-ORG ");
        b[16..32].copy_from_slice(b"FILEIO          ");
        b[32..36].copy_from_slice(b"4.0\0");
        let i = parse_inquiry(&b).unwrap();
        assert_eq!(
            (
                i.device_type,
                i.vendor.as_str(),
                i.product.as_str(),
                i.revision.as_str()
            ),
            (0, "LIO-ORG", "FILEIO", "4.0")
        );
        assert!(preempt_abort_hazard(&i).is_some());
        b[8..16].copy_from_slice(b"IET     ");
        assert!(preempt_abort_hazard(&parse_inquiry(&b).unwrap()).is_none());
        assert_eq!(parse_inquiry(&b[..35]), Err(ParseError::Short { len: 35 }));
        b[16] = 0xff;
        assert!(parse_inquiry(&b).unwrap().product.starts_with('.'));
        assert_eq!(inquiry_cdb(96), [0x12, 0, 0, 0, 96, 0]);
    }

    #[test]
    fn sense_formats() {
        let mut fixed = [0u8; 18];
        fixed[0] = 0x70;
        fixed[2] = 0x05;
        fixed[12] = 0x26;
        let s = Sense::parse(&fixed).unwrap();
        assert_eq!(
            s,
            Sense {
                key: 5,
                asc: 0x26,
                ascq: 0
            }
        );
        assert!(s.is_invalid_field() && !s.is_invalid_opcode());
        assert_eq!(
            Sense::parse(&[0xf0, 0, 0x06]),
            Some(Sense {
                key: 6,
                asc: 0,
                ascq: 0
            })
        );
        assert_eq!(
            Sense::parse(&[0x72, 0x05, 0x20, 0x00]),
            Some(Sense {
                key: 5,
                asc: 0x20,
                ascq: 0
            })
        );
        assert_eq!(Sense::parse(&[]), None);
        assert_eq!(Sense::parse(&[0x00, 1, 2, 3]), None);
        assert_eq!(Sense::parse(&[0x72, 1]), None);
        assert!(Sense {
            key: 6,
            asc: 0x2a,
            ascq: 5
        }
        .to_string()
        .contains("registrations preempted"));
    }

    #[test]
    fn sg_classification() {
        let o = |status, host, driver, sense| SgOutcome {
            status,
            host_status: host,
            driver_status: driver,
            sense,
        };
        assert_eq!(classify_sg(&o(0, 0, 0, None)), SgVerdict::Good);
        assert_eq!(
            classify_sg(&o(0x18, 0, 0, None)),
            SgVerdict::ReservationConflict
        );
        assert_eq!(classify_sg(&o(0x08, 0, 0, None)), SgVerdict::Retry);
        assert_eq!(
            classify_sg(&o(0, 0x01, 0, None)),
            SgVerdict::Transport { host: 1, driver: 0 }
        );
        assert_eq!(
            classify_sg(&o(0, 0, 0x06, None)),
            SgVerdict::Transport { host: 0, driver: 6 }
        );
        let ua = Sense {
            key: 6,
            asc: 0x2a,
            ascq: 5,
        };
        assert_eq!(classify_sg(&o(2, 0, 0x08, Some(ua))), SgVerdict::Retry);
        let opcode = Sense {
            key: 5,
            asc: 0x20,
            ascq: 0,
        };
        assert_eq!(
            classify_sg(&o(2, 0, 0x08, Some(opcode))),
            SgVerdict::Unsupported(opcode)
        );
        let field = Sense {
            key: 5,
            asc: 0x26,
            ascq: 0,
        };
        assert_eq!(
            classify_sg(&o(2, 0, 0x08, Some(field))),
            SgVerdict::Check(field)
        );
        assert_eq!(classify_sg(&o(2, 0, 0, None)), SgVerdict::Status(2));
    }

    #[test]
    fn ioctl_classification() {
        assert_eq!(classify_ioctl(0, 0), IoctlVerdict::Ok);
        assert_eq!(classify_ioctl(0x18, 0), IoctlVerdict::ReservationConflict);
        // Older kernels: a raw SCSI result word with the status in the low byte.
        assert_eq!(
            classify_ioctl(0x0000_0018, 0),
            IoctlVerdict::ReservationConflict
        );
        assert_eq!(
            classify_ioctl(0x0007_0018, 0),
            IoctlVerdict::ReservationConflict
        );
        assert_eq!(classify_ioctl(2, 0), IoctlVerdict::Status(2));
        assert_eq!(classify_ioctl(0xe0000, 0), IoctlVerdict::Status(0xe0000));
        assert_eq!(
            classify_ioctl(-1, libc::ENOTTY),
            IoctlVerdict::NotSupported(libc::ENOTTY)
        );
        assert_eq!(
            classify_ioctl(-1, libc::EOPNOTSUPP),
            IoctlVerdict::NotSupported(libc::EOPNOTSUPP)
        );
        assert_eq!(
            classify_ioctl(-1, libc::EINVAL),
            IoctlVerdict::Errno(libc::EINVAL)
        );
        assert_eq!(
            classify_ioctl(-1, libc::EPERM),
            IoctlVerdict::Errno(libc::EPERM)
        );
    }
}
