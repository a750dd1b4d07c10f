//! Payloads of the MEMBERSHIP (16) and DLM (17) peer frames.
//!
//! The frame around them (`peer`) already authenticates the sender, numbers the frames and
//! bounds the length (1 MiB), so these payloads carry neither sender nor addressee: the
//! receiver takes both from the authenticated connection.
//!
//! MEMBERSHIP, one heartbeat (72 bytes, + 24 + 16 per member when a view is attached):
//!
//! ```text
//!   0 kind u8 (1)  1 flags u8 (bit 0 echo, bit 1 view, bit 2 claim)  2 reserved [6]
//!   8 incarnation u64   16 heartbeat seq u64
//!  24 echo incarnation u64   32 echo seq u64                 (zero without the echo flag)
//!  40 claim slot u32   44 reserved u32   48 claim generation u64   56 claim nonce [16]
//!                                                             (zero without the claim flag)
//!  72 view epoch u64   80 coordinator u32   84 member count u32
//!  88 coordinator incarnation u64                             (only with the view flag)
//!  96 members: node id u32, reserved u32, incarnation u64     (16 bytes each, sorted, unique)
//! ```
//!
//! DLM, one reliable-channel frame (40 bytes + body):
//!
//! ```text
//!   0 tag u8 (0 ack only, 1 report, 2 request, 3 grant, 4 bast, 5 down-convert, 6 refuse)
//!   1 reserved [3]   4 view coordinator u32   8 view epoch u64
//!  16 view coordinator incarnation u64   24 channel seq u64   32 cumulative ack u64
//!  40 body
//! ```
//!
//! Bodies 2–6 are one 16-byte record followed by the resource name (1–256 bytes):
//! `0 mode or reason u8  1 flags u8 (bit 0: down-convert keeps a mode)  2 name length u16
//! 4 reserved u32  8 number u64` where the number is the request seq (request, grant,
//! refuse), the base grant seq (down-convert) or zero (bast). The report body is `0 entry
//! count u32  4 reserved u32` followed by entries of 24 bytes + name: `0 flags u8 (bit 0 held,
//! bit 1 pending)  1 held mode u8  2 pending mode u8  3 reserved u8  4 name length u16
//! 6 reserved u16  8 held seq u64  16 pending seq u64`.
//!
//! The heartbeat's claim names the sender's heartbeat slot claim (slot, generation, nonce),
//! so receivers can tell which incarnation writes which slot of the lockstate.
//!
//! Every payload must be used exactly; reserved bytes, unused fields and unknown flags must be
//! zero; modes are 0 (NL) to 5 (EX). Decoders never panic and validate everything up front, so
//! the iterators of a decoded value cannot fail.

use core::fmt;

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::lockstate::{LockMode, MAX_RESOURCE_NAME};

/// Most members a view may list (the most heartbeat slots a lockstate can have).
pub const MAX_MEMBERS: usize = 1024;
/// Heartbeat payload without a view.
pub const HEARTBEAT_LEN: usize = 72;
/// View header inside a heartbeat.
pub const VIEW_LEN: usize = 24;
pub const MEMBER_LEN: usize = 16;
/// DLM frame header.
pub const DLM_HEADER_LEN: usize = 40;
/// Fixed part of a resource body.
pub const RES_LEN: usize = 16;
pub const REPORT_LEN: usize = 8;
pub const ENTRY_LEN: usize = 24;

const KIND_HEARTBEAT: u8 = 1;

/// Heartbeat flag bits.
pub mod hb_flags {
    pub const ECHO: u8 = 1 << 0;
    pub const VIEW: u8 = 1 << 1;
    pub const CLAIM: u8 = 1 << 2;
    pub const ALL: u8 = ECHO | VIEW | CLAIM;
}

/// DLM body tags.
pub mod tag {
    pub const ACK: u8 = 0;
    pub const REPORT: u8 = 1;
    pub const REQUEST: u8 = 2;
    pub const GRANT: u8 = 3;
    pub const BAST: u8 = 4;
    pub const DOWN_CONVERT: u8 = 5;
    pub const REFUSE: u8 = 6;
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeartbeat {
    kind: u8,
    flags: u8,
    reserved: [u8; 6],
    incarnation: U64,
    seq: U64,
    echo_incarnation: U64,
    echo_seq: U64,
    claim_slot: U32,
    reserved2: U32,
    claim_generation: U64,
    claim_nonce: [u8; 16],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawView {
    epoch: U64,
    coordinator: U32,
    count: U32,
    coordinator_incarnation: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawMember {
    node: U32,
    reserved: U32,
    incarnation: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawDlm {
    tag: u8,
    reserved: [u8; 3],
    coordinator: U32,
    epoch: U64,
    coordinator_incarnation: U64,
    seq: U64,
    ack: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawRes {
    mode: u8,
    flags: u8,
    name_len: U16,
    reserved: U32,
    number: U64,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawReport {
    count: U32,
    reserved: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawEntry {
    flags: u8,
    held_mode: u8,
    pending_mode: u8,
    reserved: u8,
    name_len: U16,
    reserved2: U16,
    held_seq: U64,
    pending_seq: U64,
}

const _: () = assert!(core::mem::size_of::<RawHeartbeat>() == HEARTBEAT_LEN);
const _: () = assert!(core::mem::size_of::<RawView>() == VIEW_LEN);
const _: () = assert!(core::mem::size_of::<RawMember>() == MEMBER_LEN);
const _: () = assert!(core::mem::size_of::<RawDlm>() == DLM_HEADER_LEN);
const _: () = assert!(core::mem::size_of::<RawRes>() == RES_LEN);
const _: () = assert!(core::mem::size_of::<RawReport>() == REPORT_LEN);
const _: () = assert!(core::mem::size_of::<RawEntry>() == ENTRY_LEN);

/// Why a payload was refused (or could not be encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterMsgError {
    /// Fewer bytes than the structure needs.
    Truncated { need: usize, got: usize },
    /// Bytes left over after the structure.
    TrailingBytes { extra: usize },
    UnknownKind { found: u8 },
    UnknownTag { found: u8 },
    UnknownFlags { flags: u8 },
    NonZeroReserved,
    /// A field the flags mark absent is not zero.
    AbsentFieldSet,
    BadMode { found: u8 },
    BadRefuseReason { found: u8 },
    /// Resource name length outside 1–256.
    BadNameLength { len: usize },
    /// More members than [`MAX_MEMBERS`].
    TooManyMembers { count: usize },
    /// Members not strictly ascending by node id.
    UnsortedMembers,
    ZeroNodeId,
    /// Encoder output buffer too small.
    BufferTooSmall { need: usize },
}

impl fmt::Display for ClusterMsgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { need, got } => write!(f, "cluster message needs {need} bytes, got {got}"),
            Self::TrailingBytes { extra } => write!(f, "cluster message has {extra} trailing bytes"),
            Self::UnknownKind { found } => write!(f, "unknown membership message kind {found}"),
            Self::UnknownTag { found } => write!(f, "unknown DLM message tag {found}"),
            Self::UnknownFlags { flags } => write!(f, "unknown cluster message flags {flags:#04x}"),
            Self::NonZeroReserved => f.write_str("cluster message reserved field is not zero"),
            Self::AbsentFieldSet => f.write_str("cluster message field marked absent is not zero"),
            Self::BadMode { found } => write!(f, "invalid lock mode {found}"),
            Self::BadRefuseReason { found } => write!(f, "invalid refuse reason {found}"),
            Self::BadNameLength { len } => {
                write!(f, "resource name of {len} bytes (must be 1 to {MAX_RESOURCE_NAME})")
            }
            Self::TooManyMembers { count } => write!(f, "view lists {count} members, the limit is {MAX_MEMBERS}"),
            Self::UnsortedMembers => f.write_str("view members are not sorted by node id without duplicates"),
            Self::ZeroNodeId => f.write_str("cluster message names node id 0"),
            Self::BufferTooSmall { need } => write!(f, "cluster message needs a {need}-byte buffer"),
        }
    }
}

impl core::error::Error for ClusterMsgError {}

type Result<T> = core::result::Result<T, ClusterMsgError>;

/// The newest heartbeat received from the addressee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoWire {
    pub incarnation: u64,
    pub seq: u64,
}

/// The sender's heartbeat slot claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimWire {
    pub slot: u32,
    pub generation: u64,
    pub nonce: [u8; 16],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViewIdWire {
    pub epoch: u64,
    pub coordinator: u32,
    pub coordinator_incarnation: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberWire {
    pub node: u32,
    pub incarnation: u64,
}

/// A view to encode: members sorted by node id, unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewWire<'a> {
    pub id: ViewIdWire,
    pub members: &'a [MemberWire],
}

/// A heartbeat to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatWire<'a> {
    pub incarnation: u64,
    pub seq: u64,
    pub echo: Option<EchoWire>,
    pub claim: Option<ClaimWire>,
    pub view: Option<ViewWire<'a>>,
}

/// A decoded view; its members were validated by the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewRef<'a> {
    pub id: ViewIdWire,
    members: &'a [u8],
}

impl<'a> ViewRef<'a> {
    pub fn len(&self) -> usize {
        self.members.len() / MEMBER_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn members(&self) -> impl Iterator<Item = MemberWire> + 'a {
        self.members.chunks_exact(MEMBER_LEN).filter_map(|c| {
            RawMember::ref_from_bytes(c)
                .ok()
                .map(|m| MemberWire { node: m.node.get(), incarnation: m.incarnation.get() })
        })
    }
}

/// A decoded heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatRef<'a> {
    pub incarnation: u64,
    pub seq: u64,
    pub echo: Option<EchoWire>,
    pub claim: Option<ClaimWire>,
    pub view: Option<ViewRef<'a>>,
}

fn take<T: FromBytes + KnownLayout + Immutable + Unaligned>(buf: &[u8], at: usize) -> Result<(&T, usize)> {
    let size = core::mem::size_of::<T>();
    let end = at.checked_add(size).ok_or(ClusterMsgError::Truncated { need: usize::MAX, got: buf.len() })?;
    let bytes = buf.get(at..end).ok_or(ClusterMsgError::Truncated { need: end, got: buf.len() })?;
    let r = T::ref_from_bytes(bytes).map_err(|_| ClusterMsgError::Truncated { need: end, got: buf.len() })?;
    Ok((r, end))
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<usize> {
    let end = at + bytes.len();
    out.get_mut(at..end)
        .ok_or(ClusterMsgError::BufferTooSmall { need: end })?
        .copy_from_slice(bytes);
    Ok(end)
}

fn done(buf: &[u8], at: usize) -> Result<()> {
    if buf.len() > at {
        return Err(ClusterMsgError::TrailingBytes { extra: buf.len() - at });
    }
    Ok(())
}

fn mode(v: u8) -> Result<LockMode> {
    LockMode::from_u8(v).ok_or(ClusterMsgError::BadMode { found: v })
}

fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() || name.len() > MAX_RESOURCE_NAME {
        return Err(ClusterMsgError::BadNameLength { len: name.len() });
    }
    Ok(())
}

fn check_members(members: impl Iterator<Item = MemberWire>) -> Result<()> {
    let mut prev: Option<u32> = None;
    for m in members {
        if m.node == 0 {
            return Err(ClusterMsgError::ZeroNodeId);
        }
        if prev.is_some_and(|p| m.node <= p) {
            return Err(ClusterMsgError::UnsortedMembers);
        }
        prev = Some(m.node);
    }
    Ok(())
}

impl HeartbeatWire<'_> {
    pub fn encoded_len(&self) -> usize {
        HEARTBEAT_LEN + self.view.map_or(0, |v| VIEW_LEN + MEMBER_LEN * v.members.len())
    }

    /// Writes the payload into `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
        let mut flags = 0;
        let echo = self.echo.unwrap_or(EchoWire { incarnation: 0, seq: 0 });
        if self.echo.is_some() {
            flags |= hb_flags::ECHO;
        }
        let claim = self.claim.unwrap_or(ClaimWire { slot: 0, generation: 0, nonce: [0; 16] });
        if self.claim.is_some() {
            flags |= hb_flags::CLAIM;
        }
        if let Some(v) = &self.view {
            flags |= hb_flags::VIEW;
            if v.members.len() > MAX_MEMBERS {
                return Err(ClusterMsgError::TooManyMembers { count: v.members.len() });
            }
            if v.id.coordinator == 0 {
                return Err(ClusterMsgError::ZeroNodeId);
            }
            check_members(v.members.iter().copied())?;
        }
        let need = self.encoded_len();
        if out.len() < need {
            return Err(ClusterMsgError::BufferTooSmall { need });
        }
        let raw = RawHeartbeat {
            kind: KIND_HEARTBEAT,
            flags,
            reserved: [0; 6],
            incarnation: U64::new(self.incarnation),
            seq: U64::new(self.seq),
            echo_incarnation: U64::new(echo.incarnation),
            echo_seq: U64::new(echo.seq),
            claim_slot: U32::new(claim.slot),
            reserved2: U32::new(0),
            claim_generation: U64::new(claim.generation),
            claim_nonce: claim.nonce,
        };
        let mut at = put(out, 0, raw.as_bytes())?;
        if let Some(v) = &self.view {
            let rv = RawView {
                epoch: U64::new(v.id.epoch),
                coordinator: U32::new(v.id.coordinator),
                count: U32::new(v.members.len() as u32), // <= MAX_MEMBERS, checked above
                coordinator_incarnation: U64::new(v.id.coordinator_incarnation),
            };
            at = put(out, at, rv.as_bytes())?;
            for m in v.members {
                let rm = RawMember { node: U32::new(m.node), reserved: U32::new(0), incarnation: U64::new(m.incarnation) };
                at = put(out, at, rm.as_bytes())?;
            }
        }
        Ok(at)
    }
}

impl<'a> HeartbeatRef<'a> {
    /// Decodes a MEMBERSHIP payload.
    pub fn decode(buf: &'a [u8]) -> Result<HeartbeatRef<'a>> {
        let (raw, at) = take::<RawHeartbeat>(buf, 0)?;
        if raw.kind != KIND_HEARTBEAT {
            return Err(ClusterMsgError::UnknownKind { found: raw.kind });
        }
        if raw.flags & !hb_flags::ALL != 0 {
            return Err(ClusterMsgError::UnknownFlags { flags: raw.flags });
        }
        if raw.reserved != [0; 6] || raw.reserved2.get() != 0 {
            return Err(ClusterMsgError::NonZeroReserved);
        }
        let echo = if raw.flags & hb_flags::ECHO != 0 {
            Some(EchoWire { incarnation: raw.echo_incarnation.get(), seq: raw.echo_seq.get() })
        } else {
            if raw.echo_incarnation.get() != 0 || raw.echo_seq.get() != 0 {
                return Err(ClusterMsgError::AbsentFieldSet);
            }
            None
        };
        let claim = if raw.flags & hb_flags::CLAIM != 0 {
            Some(ClaimWire { slot: raw.claim_slot.get(), generation: raw.claim_generation.get(), nonce: raw.claim_nonce })
        } else {
            if raw.claim_slot.get() != 0 || raw.claim_generation.get() != 0 || raw.claim_nonce != [0; 16] {
                return Err(ClusterMsgError::AbsentFieldSet);
            }
            None
        };
        let (view, at) = if raw.flags & hb_flags::VIEW != 0 {
            let (rv, at) = take::<RawView>(buf, at)?;
            let count = rv.count.get() as usize;
            if count > MAX_MEMBERS {
                return Err(ClusterMsgError::TooManyMembers { count });
            }
            let coordinator = rv.coordinator.get();
            if coordinator == 0 {
                return Err(ClusterMsgError::ZeroNodeId);
            }
            let end = at + count * MEMBER_LEN;
            let members = buf.get(at..end).ok_or(ClusterMsgError::Truncated { need: end, got: buf.len() })?;
            for c in members.chunks_exact(MEMBER_LEN) {
                let (m, _) = take::<RawMember>(c, 0)?;
                if m.reserved.get() != 0 {
                    return Err(ClusterMsgError::NonZeroReserved);
                }
            }
            let id = ViewIdWire {
                epoch: rv.epoch.get(),
                coordinator,
                coordinator_incarnation: rv.coordinator_incarnation.get(),
            };
            let v = ViewRef { id, members };
            check_members(v.members())?;
            (Some(v), end)
        } else {
            (None, at)
        };
        done(buf, at)?;
        Ok(HeartbeatRef { incarnation: raw.incarnation.get(), seq: raw.seq.get(), echo, claim, view })
    }
}

/// Why a master refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RefuseWire {
    NotMaster = 1,
    Fenced = 2,
}

/// One entry of a recovery report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportEntryWire<'a> {
    pub res: &'a [u8],
    pub held: Option<(LockMode, u64)>,
    pub pending: Option<(LockMode, u64)>,
}

/// A DLM message to encode, or as decoded (a decoded report is [`DlmMsgRef::Report`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DlmMsgWire<'a> {
    Report(&'a [ReportEntryWire<'a>]),
    Request { res: &'a [u8], mode: LockMode, seq: u64 },
    Grant { res: &'a [u8], mode: LockMode, seq: u64 },
    Bast { res: &'a [u8], blocking: LockMode },
    DownConvert { res: &'a [u8], mode: Option<LockMode>, base: u64 },
    Refuse { res: &'a [u8], seq: u64, reason: RefuseWire },
}

/// A decoded recovery report; entries were validated by the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportRef<'a> {
    count: usize,
    entries: &'a [u8],
}

impl<'a> ReportRef<'a> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn entries(&self) -> impl Iterator<Item = ReportEntryWire<'a>> + 'a {
        let mut rest = self.entries;
        core::iter::from_fn(move || {
            let (e, used) = parse_entry(rest).ok()?;
            rest = rest.get(used..)?;
            Some(e)
        })
        .take(self.count)
    }
}

/// A decoded DLM message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DlmMsgRef<'a> {
    Report(ReportRef<'a>),
    Other(DlmMsgWire<'a>),
}

/// A DLM reliable-channel frame to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DlmFrameWire<'a> {
    pub view: ViewIdWire,
    pub seq: u64,
    pub ack: u64,
    pub msg: Option<DlmMsgWire<'a>>,
}

/// A decoded DLM frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DlmFrameRef<'a> {
    pub view: ViewIdWire,
    pub seq: u64,
    pub ack: u64,
    pub msg: Option<DlmMsgRef<'a>>,
}

fn parse_entry(buf: &[u8]) -> Result<(ReportEntryWire<'_>, usize)> {
    let (raw, at) = take::<RawEntry>(buf, 0)?;
    if raw.flags & !0b11 != 0 {
        return Err(ClusterMsgError::UnknownFlags { flags: raw.flags });
    }
    if raw.reserved != 0 || raw.reserved2.get() != 0 {
        return Err(ClusterMsgError::NonZeroReserved);
    }
    let held = if raw.flags & 1 != 0 {
        Some((mode(raw.held_mode)?, raw.held_seq.get()))
    } else {
        if raw.held_mode != 0 || raw.held_seq.get() != 0 {
            return Err(ClusterMsgError::AbsentFieldSet);
        }
        None
    };
    let pending = if raw.flags & 2 != 0 {
        Some((mode(raw.pending_mode)?, raw.pending_seq.get()))
    } else {
        if raw.pending_mode != 0 || raw.pending_seq.get() != 0 {
            return Err(ClusterMsgError::AbsentFieldSet);
        }
        None
    };
    let len = usize::from(raw.name_len.get());
    let end = at + len;
    let res = buf.get(at..end).ok_or(ClusterMsgError::Truncated { need: end, got: buf.len() })?;
    check_name(res)?;
    Ok((ReportEntryWire { res, held, pending }, end))
}

fn res_body(out: &mut [u8], at: usize, m: u8, flags: u8, number: u64, res: &[u8]) -> Result<usize> {
    check_name(res)?;
    let raw = RawRes { mode: m, flags, name_len: U16::new(res.len() as u16), reserved: U32::new(0), number: U64::new(number) };
    let at = put(out, at, raw.as_bytes())?;
    put(out, at, res)
}

impl DlmFrameWire<'_> {
    /// Writes the payload into `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
        if self.view.coordinator == 0 {
            return Err(ClusterMsgError::ZeroNodeId);
        }
        let t = match self.msg {
            None => tag::ACK,
            Some(DlmMsgWire::Report(_)) => tag::REPORT,
            Some(DlmMsgWire::Request { .. }) => tag::REQUEST,
            Some(DlmMsgWire::Grant { .. }) => tag::GRANT,
            Some(DlmMsgWire::Bast { .. }) => tag::BAST,
            Some(DlmMsgWire::DownConvert { .. }) => tag::DOWN_CONVERT,
            Some(DlmMsgWire::Refuse { .. }) => tag::REFUSE,
        };
        let raw = RawDlm {
            tag: t,
            reserved: [0; 3],
            coordinator: U32::new(self.view.coordinator),
            epoch: U64::new(self.view.epoch),
            coordinator_incarnation: U64::new(self.view.coordinator_incarnation),
            seq: U64::new(self.seq),
            ack: U64::new(self.ack),
        };
        let at = put(out, 0, raw.as_bytes())?;
        match self.msg {
            None => Ok(at),
            Some(DlmMsgWire::Report(entries)) => {
                let count = u32::try_from(entries.len()).map_err(|_| ClusterMsgError::BufferTooSmall { need: usize::MAX })?;
                let rr = RawReport { count: U32::new(count), reserved: U32::new(0) };
                let mut at = put(out, at, rr.as_bytes())?;
                for e in entries {
                    check_name(e.res)?;
                    let (hm, hs) = e.held.map_or((0, 0), |(m, s)| (m as u8, s));
                    let (pm, ps) = e.pending.map_or((0, 0), |(m, s)| (m as u8, s));
                    let flags = u8::from(e.held.is_some()) | (u8::from(e.pending.is_some()) << 1);
                    let re = RawEntry {
                        flags,
                        held_mode: hm,
                        pending_mode: pm,
                        reserved: 0,
                        name_len: U16::new(e.res.len() as u16),
                        reserved2: U16::new(0),
                        held_seq: U64::new(hs),
                        pending_seq: U64::new(ps),
                    };
                    at = put(out, at, re.as_bytes())?;
                    at = put(out, at, e.res)?;
                }
                Ok(at)
            }
            Some(DlmMsgWire::Request { res, mode, seq }) | Some(DlmMsgWire::Grant { res, mode, seq }) => {
                res_body(out, at, mode as u8, 0, seq, res)
            }
            Some(DlmMsgWire::Bast { res, blocking }) => res_body(out, at, blocking as u8, 0, 0, res),
            Some(DlmMsgWire::DownConvert { res, mode, base }) => {
                res_body(out, at, mode.map_or(0, |m| m as u8), u8::from(mode.is_some()), base, res)
            }
            Some(DlmMsgWire::Refuse { res, seq, reason }) => res_body(out, at, reason as u8, 0, seq, res),
        }
    }
}

impl<'a> DlmFrameRef<'a> {
    /// Decodes a DLM payload.
    pub fn decode(buf: &'a [u8]) -> Result<DlmFrameRef<'a>> {
        let (raw, at) = take::<RawDlm>(buf, 0)?;
        if raw.reserved != [0; 3] {
            return Err(ClusterMsgError::NonZeroReserved);
        }
        let coordinator = raw.coordinator.get();
        if coordinator == 0 {
            return Err(ClusterMsgError::ZeroNodeId);
        }
        let view = ViewIdWire { epoch: raw.epoch.get(), coordinator, coordinator_incarnation: raw.coordinator_incarnation.get() };
        let (msg, at) = match raw.tag {
            tag::ACK => (None, at),
            tag::REPORT => {
                let (rr, mut end) = take::<RawReport>(buf, at)?;
                if rr.reserved.get() != 0 {
                    return Err(ClusterMsgError::NonZeroReserved);
                }
                let count = rr.count.get() as usize;
                // Bound the count by the bytes present before walking it.
                let min = count.saturating_mul(ENTRY_LEN + 1);
                if buf.len() - end < min {
                    return Err(ClusterMsgError::Truncated { need: end.saturating_add(min), got: buf.len() });
                }
                let start = end;
                for _ in 0..count {
                    let rest = buf.get(end..).unwrap_or(&[]);
                    let (_, used) = parse_entry(rest)?;
                    end += used;
                }
                let entries = buf.get(start..end).unwrap_or(&[]);
                (Some(DlmMsgRef::Report(ReportRef { count, entries })), end)
            }
            t @ (tag::REQUEST | tag::GRANT | tag::BAST | tag::DOWN_CONVERT | tag::REFUSE) => {
                let (rr, at) = take::<RawRes>(buf, at)?;
                if rr.reserved.get() != 0 {
                    return Err(ClusterMsgError::NonZeroReserved);
                }
                let len = usize::from(rr.name_len.get());
                let end = at + len;
                let res = buf.get(at..end).ok_or(ClusterMsgError::Truncated { need: end, got: buf.len() })?;
                check_name(res)?;
                let n = rr.number.get();
                let flags_ok = if t == tag::DOWN_CONVERT { rr.flags & !1 == 0 } else { rr.flags == 0 };
                if !flags_ok {
                    return Err(ClusterMsgError::UnknownFlags { flags: rr.flags });
                }
                let msg = match t {
                    tag::REQUEST => DlmMsgWire::Request { res, mode: mode(rr.mode)?, seq: n },
                    tag::GRANT => DlmMsgWire::Grant { res, mode: mode(rr.mode)?, seq: n },
                    tag::BAST => {
                        if n != 0 {
                            return Err(ClusterMsgError::AbsentFieldSet);
                        }
                        DlmMsgWire::Bast { res, blocking: mode(rr.mode)? }
                    }
                    tag::DOWN_CONVERT => {
                        let m = if rr.flags & 1 != 0 {
                            Some(mode(rr.mode)?)
                        } else {
                            if rr.mode != 0 {
                                return Err(ClusterMsgError::AbsentFieldSet);
                            }
                            None
                        };
                        DlmMsgWire::DownConvert { res, mode: m, base: n }
                    }
                    _ => {
                        let reason = match rr.mode {
                            1 => RefuseWire::NotMaster,
                            2 => RefuseWire::Fenced,
                            v => return Err(ClusterMsgError::BadRefuseReason { found: v }),
                        };
                        DlmMsgWire::Refuse { res, seq: n, reason }
                    }
                };
                (Some(DlmMsgRef::Other(msg)), end)
            }
            found => return Err(ClusterMsgError::UnknownTag { found }),
        };
        done(buf, at)?;
        Ok(DlmFrameRef { view, seq: raw.seq.get(), ack: raw.ack.get(), msg })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;

    const VID: ViewIdWire = ViewIdWire { epoch: 7, coordinator: 0x1111, coordinator_incarnation: 99 };

    fn enc_hb(hb: &HeartbeatWire<'_>) -> Vec<u8> {
        let mut out = vec![0u8; hb.encoded_len()];
        let n = hb.encode(&mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    fn enc_dlm(f: &DlmFrameWire<'_>) -> Vec<u8> {
        let mut out = vec![0u8; 4096];
        let n = f.encode(&mut out).unwrap();
        out.truncate(n);
        out
    }

    fn members() -> Vec<MemberWire> {
        vec![MemberWire { node: 0x1111, incarnation: 99 }, MemberWire { node: 0x2222, incarnation: 5 }]
    }

    fn frames<'a>(entries: &'a [ReportEntryWire<'a>]) -> Vec<DlmFrameWire<'a>> {
        let msgs = [
            None,
            Some(DlmMsgWire::Report(entries)),
            Some(DlmMsgWire::Report(&[])),
            Some(DlmMsgWire::Request { res: b"inode/42", mode: LockMode::EX, seq: 3 }),
            Some(DlmMsgWire::Grant { res: b"inode/42", mode: LockMode::PR, seq: u64::MAX }),
            Some(DlmMsgWire::Bast { res: &[0xff; 256], blocking: LockMode::CW }),
            Some(DlmMsgWire::DownConvert { res: b"x", mode: None, base: 9 }),
            Some(DlmMsgWire::DownConvert { res: b"x", mode: Some(LockMode::NL), base: 9 }),
            Some(DlmMsgWire::Refuse { res: b"y", seq: 1, reason: RefuseWire::Fenced }),
        ];
        msgs.into_iter().map(|msg| DlmFrameWire { view: VID, seq: 12, ack: 11, msg }).collect()
    }

    fn entries() -> [ReportEntryWire<'static>; 3] {
        [
            ReportEntryWire { res: b"a", held: Some((LockMode::PR, 4)), pending: None },
            ReportEntryWire { res: b"bb", held: None, pending: Some((LockMode::EX, 5)) },
            ReportEntryWire { res: b"ccc", held: Some((LockMode::NL, 1)), pending: Some((LockMode::PW, 2)) },
        ]
    }

    fn same(a: &DlmFrameWire<'_>, b: &DlmFrameRef<'_>) -> bool {
        if (a.view, a.seq, a.ack) != (b.view, b.seq, b.ack) {
            return false;
        }
        match (a.msg, b.msg) {
            (None, None) => true,
            (Some(DlmMsgWire::Report(e)), Some(DlmMsgRef::Report(r))) => {
                r.len() == e.len() && r.entries().zip(e.iter()).all(|(x, y)| x == *y) && r.entries().count() == e.len()
            }
            (Some(x), Some(DlmMsgRef::Other(y))) => x == y,
            _ => false,
        }
    }

    #[test]
    fn heartbeats_round_trip() {
        let m = members();
        let cases = [
            HeartbeatWire { incarnation: 1, seq: 2, echo: None, claim: None, view: None },
            HeartbeatWire {
                incarnation: 1_700_000_000_000,
                seq: 77,
                echo: Some(EchoWire { incarnation: 3, seq: 4 }),
                claim: Some(ClaimWire { slot: 5, generation: 6, nonce: [7; 16] }),
                view: Some(ViewWire { id: VID, members: &m }),
            },
            HeartbeatWire { incarnation: 1, seq: 2, echo: None, claim: None, view: Some(ViewWire { id: VID, members: &[] }) },
        ];
        for hb in cases {
            let bytes = enc_hb(&hb);
            let d = HeartbeatRef::decode(&bytes).unwrap();
            assert_eq!((d.incarnation, d.seq, d.echo, d.claim), (hb.incarnation, hb.seq, hb.echo, hb.claim));
            match (hb.view, d.view) {
                (None, None) => {}
                (Some(v), Some(r)) => {
                    assert_eq!(r.id, v.id);
                    assert_eq!(r.members().collect::<Vec<_>>(), v.members);
                    assert_eq!(r.len(), v.members.len());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn dlm_frames_round_trip() {
        let e = entries();
        for f in frames(&e) {
            let bytes = enc_dlm(&f);
            let d = DlmFrameRef::decode(&bytes).unwrap();
            assert!(same(&f, &d), "{f:?} vs {d:?}");
        }
    }

    #[test]
    fn encoders_refuse_what_decoders_refuse() {
        let mut out = [0u8; 4096];
        let bad = DlmFrameWire { view: VID, seq: 1, ack: 0, msg: Some(DlmMsgWire::Bast { res: b"", blocking: LockMode::EX }) };
        assert_eq!(bad.encode(&mut out), Err(ClusterMsgError::BadNameLength { len: 0 }));
        let long = [1u8; 257];
        let bad = DlmFrameWire { view: VID, seq: 1, ack: 0, msg: Some(DlmMsgWire::Bast { res: &long, blocking: LockMode::EX }) };
        assert_eq!(bad.encode(&mut out), Err(ClusterMsgError::BadNameLength { len: 257 }));
        let unsorted = [MemberWire { node: 2, incarnation: 1 }, MemberWire { node: 1, incarnation: 1 }];
        let hb = HeartbeatWire { incarnation: 1, seq: 1, echo: None, claim: None, view: Some(ViewWire { id: VID, members: &unsorted }) };
        assert_eq!(hb.encode(&mut out), Err(ClusterMsgError::UnsortedMembers));
        let ok = HeartbeatWire { incarnation: 1, seq: 1, echo: None, claim: None, view: None };
        assert_eq!(ok.encode(&mut out[..10]), Err(ClusterMsgError::BufferTooSmall { need: HEARTBEAT_LEN }));
    }

    /// Every truncation, extension and single-byte change of valid payloads either decodes to
    /// something that re-encodes to the same bytes, or is refused; nothing panics.
    #[test]
    fn mutations_never_panic_and_accepted_input_reencodes() {
        let e = entries();
        let m = members();
        let mut samples: Vec<(bool, Vec<u8>)> = frames(&e).iter().map(|f| (false, enc_dlm(f))).collect();
        samples.push((
            true,
            enc_hb(&HeartbeatWire {
                incarnation: 9,
                seq: 8,
                echo: Some(EchoWire { incarnation: 1, seq: 2 }),
                claim: Some(ClaimWire { slot: 1, generation: 2, nonce: [3; 16] }),
                view: Some(ViewWire { id: VID, members: &m }),
            }),
        ));
        for (is_hb, good) in samples {
            let check = |bytes: &[u8]| {
                if is_hb {
                    if let Ok(d) = HeartbeatRef::decode(bytes) {
                        let ms: Vec<MemberWire> = d.view.map(|v| v.members().collect()).unwrap_or_default();
                        let w = HeartbeatWire {
                            incarnation: d.incarnation,
                            seq: d.seq,
                            echo: d.echo,
                            claim: d.claim,
                            view: d.view.map(|v| ViewWire { id: v.id, members: &ms }),
                        };
                        assert_eq!(enc_hb(&w), bytes);
                    }
                } else if let Ok(d) = DlmFrameRef::decode(bytes) {
                    let es: Vec<ReportEntryWire<'_>> = match d.msg {
                        Some(DlmMsgRef::Report(r)) => r.entries().collect(),
                        _ => Vec::new(),
                    };
                    let msg = d.msg.map(|m| match m {
                        DlmMsgRef::Report(_) => DlmMsgWire::Report(&es),
                        DlmMsgRef::Other(o) => o,
                    });
                    let w = DlmFrameWire { view: d.view, seq: d.seq, ack: d.ack, msg };
                    assert_eq!(enc_dlm(&w), bytes);
                }
            };
            for cut in 0..good.len() {
                check(&good[..cut]);
                if is_hb {
                    assert!(HeartbeatRef::decode(&good[..cut]).is_err());
                } else {
                    assert!(DlmFrameRef::decode(&good[..cut]).is_err());
                }
            }
            let mut longer = good.clone();
            longer.push(0);
            check(&longer);
            for i in 0..good.len() {
                for v in [0x00, 0x01, 0x80, 0xff] {
                    let mut b = good.clone();
                    b[i] ^= v;
                    check(&b);
                }
            }
        }
    }

    #[test]
    fn hostile_counts_are_bounded() {
        let mut b = enc_dlm(&DlmFrameWire { view: VID, seq: 1, ack: 0, msg: Some(DlmMsgWire::Report(&[])) });
        b[DLM_HEADER_LEN..DLM_HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(DlmFrameRef::decode(&b), Err(ClusterMsgError::Truncated { .. })));
        let hb = enc_hb(&HeartbeatWire { incarnation: 1, seq: 1, echo: None, claim: None, view: Some(ViewWire { id: VID, members: &[] }) });
        let mut b = hb.clone();
        b[84..88].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(HeartbeatRef::decode(&b), Err(ClusterMsgError::TooManyMembers { count: u32::MAX as usize }));
        let mut b = hb;
        b[84..88].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(HeartbeatRef::decode(&b), Err(ClusterMsgError::Truncated { .. })));
    }
}
