//! Conversion between the cluster state machines' messages (`mxfs_cluster::messages`) and
//! their byte encoding in peer frames (`mxfs_uapi::clustermsg`).

use std::fmt;
use std::sync::Arc;

use mxfs_cluster::messages::{Body, DlmMsg, Echo, Frame, Heartbeat, RefuseReason, ReportEntry};
use mxfs_cluster::view::{Member, NodeId, ResName, View, ViewId};
use mxfs_cluster::Mode;
use mxfs_uapi::clustermsg::{
    ClaimWire, ClusterMsgError, DlmFrameRef, DlmFrameWire, DlmMsgRef, DlmMsgWire, EchoWire, HeartbeatRef,
    HeartbeatWire, MemberWire, RefuseWire, ReportEntryWire, ViewIdWire, ViewWire,
};
use mxfs_uapi::lockstate::LockMode;
use mxfs_uapi::peer::{msg_type, MAX_PAYLOAD};

#[derive(Debug)]
pub enum WireError {
    Codec(ClusterMsgError),
    /// A node id that does not fit the 32-bit wire field (never produced by mxfsd).
    NodeId(u64),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Codec(e) => e.fmt(f),
            Self::NodeId(n) => write!(f, "node id {n:#x} does not fit 32 bits"),
        }
    }
}

impl From<ClusterMsgError> for WireError {
    fn from(e: ClusterMsgError) -> Self {
        WireError::Codec(e)
    }
}

fn id32(n: NodeId) -> Result<u32, WireError> {
    u32::try_from(n.0).map_err(|_| WireError::NodeId(n.0))
}

pub fn mode_to_wire(m: Mode) -> LockMode {
    match m {
        Mode::NL => LockMode::NL,
        Mode::CR => LockMode::CR,
        Mode::CW => LockMode::CW,
        Mode::PR => LockMode::PR,
        Mode::PW => LockMode::PW,
        Mode::EX => LockMode::EX,
    }
}

pub fn mode_from_wire(m: LockMode) -> Mode {
    match m {
        LockMode::NL => Mode::NL,
        LockMode::CR => Mode::CR,
        LockMode::CW => Mode::CW,
        LockMode::PR => Mode::PR,
        LockMode::PW => Mode::PW,
        LockMode::EX => Mode::EX,
    }
}

fn view_id_to_wire(v: ViewId) -> Result<ViewIdWire, WireError> {
    Ok(ViewIdWire { epoch: v.epoch, coordinator: id32(v.coordinator)?, coordinator_incarnation: v.coordinator_incarnation })
}

fn view_id_from_wire(v: ViewIdWire) -> ViewId {
    ViewId { epoch: v.epoch, coordinator: NodeId(v.coordinator.into()), coordinator_incarnation: v.coordinator_incarnation }
}

/// Encodes a packet body: (peer frame type, payload).
pub fn encode(body: &Body, claim: Option<ClaimWire>) -> Result<(u8, Vec<u8>), WireError> {
    match body {
        Body::Heartbeat(hb) => {
            let members: Vec<MemberWire> = match &hb.view {
                Some(v) => v
                    .members()
                    .iter()
                    .map(|m| Ok(MemberWire { node: id32(m.node)?, incarnation: m.incarnation }))
                    .collect::<Result<_, WireError>>()?,
                None => Vec::new(),
            };
            let view = match &hb.view {
                Some(v) => Some(ViewWire { id: view_id_to_wire(v.id)?, members: &members }),
                None => None,
            };
            let w = HeartbeatWire {
                incarnation: hb.incarnation,
                seq: hb.seq,
                echo: hb.echo.map(|e| EchoWire { incarnation: e.incarnation, seq: e.seq }),
                claim,
                view,
            };
            let mut out = vec![0u8; w.encoded_len()];
            let n = w.encode(&mut out)?;
            out.truncate(n);
            Ok((msg_type::MEMBERSHIP, out))
        }
        Body::Dlm(f) => {
            let entries: Vec<ReportEntryWire<'_>>;
            let msg = match &f.msg {
                None => None,
                Some(DlmMsg::Report { entries: es }) => {
                    entries = es
                        .iter()
                        .map(|e| ReportEntryWire {
                            res: e.res.as_bytes(),
                            held: e.held.map(|(m, s)| (mode_to_wire(m), s)),
                            pending: e.pending.map(|(m, s)| (mode_to_wire(m), s)),
                        })
                        .collect();
                    Some(DlmMsgWire::Report(&entries))
                }
                Some(DlmMsg::Request { res, mode, seq }) => {
                    Some(DlmMsgWire::Request { res: res.as_bytes(), mode: mode_to_wire(*mode), seq: *seq })
                }
                Some(DlmMsg::Grant { res, mode, seq }) => {
                    Some(DlmMsgWire::Grant { res: res.as_bytes(), mode: mode_to_wire(*mode), seq: *seq })
                }
                Some(DlmMsg::Bast { res, blocking }) => {
                    Some(DlmMsgWire::Bast { res: res.as_bytes(), blocking: mode_to_wire(*blocking) })
                }
                Some(DlmMsg::DownConvert { res, mode, base }) => {
                    Some(DlmMsgWire::DownConvert { res: res.as_bytes(), mode: mode.map(mode_to_wire), base: *base })
                }
                Some(DlmMsg::Refuse { res, seq, reason }) => Some(DlmMsgWire::Refuse {
                    res: res.as_bytes(),
                    seq: *seq,
                    reason: match reason {
                        RefuseReason::NotMaster => RefuseWire::NotMaster,
                        RefuseReason::Fenced => RefuseWire::Fenced,
                    },
                }),
            };
            let w = DlmFrameWire { view: view_id_to_wire(f.view)?, seq: f.seq, ack: f.ack, msg };
            let mut out = vec![0u8; 4096];
            let n = loop {
                match w.encode(&mut out) {
                    Ok(n) => break n,
                    Err(ClusterMsgError::BufferTooSmall { need }) if need <= MAX_PAYLOAD && need > out.len() => {
                        out.resize(need.max(out.len() * 2).min(MAX_PAYLOAD), 0)
                    }
                    Err(ClusterMsgError::BufferTooSmall { .. }) if out.len() < MAX_PAYLOAD => out.resize(MAX_PAYLOAD, 0),
                    Err(e) => return Err(e.into()),
                }
            };
            out.truncate(n);
            Ok((msg_type::DLM, out))
        }
    }
}

/// A decoded MEMBERSHIP payload: the heartbeat and the sender's slot claim, if it has one.
pub fn decode_heartbeat(payload: &[u8]) -> Result<(Heartbeat, Option<ClaimWire>), WireError> {
    let h = HeartbeatRef::decode(payload)?;
    let view = h.view.map(|v| {
        let members = v.members().map(|m| Member { node: NodeId(m.node.into()), incarnation: m.incarnation }).collect();
        Arc::new(View::new(view_id_from_wire(v.id), members))
    });
    Ok((
        Heartbeat {
            incarnation: h.incarnation,
            seq: h.seq,
            echo: h.echo.map(|e| Echo { incarnation: e.incarnation, seq: e.seq }),
            view,
        },
        h.claim,
    ))
}

/// A decoded DLM payload.
pub fn decode_dlm(payload: &[u8]) -> Result<Frame, WireError> {
    let f = DlmFrameRef::decode(payload)?;
    let msg = f.msg.map(|m| match m {
        DlmMsgRef::Report(r) => DlmMsg::Report {
            entries: r
                .entries()
                .map(|e| ReportEntry {
                    res: ResName::new(e.res),
                    held: e.held.map(|(m, s)| (mode_from_wire(m), s)),
                    pending: e.pending.map(|(m, s)| (mode_from_wire(m), s)),
                })
                .collect(),
        },
        DlmMsgRef::Other(o) => match o {
            DlmMsgWire::Report(es) => DlmMsg::Report {
                entries: es
                    .iter()
                    .map(|e| ReportEntry {
                        res: ResName::new(e.res),
                        held: e.held.map(|(m, s)| (mode_from_wire(m), s)),
                        pending: e.pending.map(|(m, s)| (mode_from_wire(m), s)),
                    })
                    .collect(),
            },
            DlmMsgWire::Request { res, mode, seq } => DlmMsg::Request { res: ResName::new(res), mode: mode_from_wire(mode), seq },
            DlmMsgWire::Grant { res, mode, seq } => DlmMsg::Grant { res: ResName::new(res), mode: mode_from_wire(mode), seq },
            DlmMsgWire::Bast { res, blocking } => DlmMsg::Bast { res: ResName::new(res), blocking: mode_from_wire(blocking) },
            DlmMsgWire::DownConvert { res, mode, base } => {
                DlmMsg::DownConvert { res: ResName::new(res), mode: mode.map(mode_from_wire), base }
            }
            DlmMsgWire::Refuse { res, seq, reason } => DlmMsg::Refuse {
                res: ResName::new(res),
                seq,
                reason: match reason {
                    RefuseWire::NotMaster => RefuseReason::NotMaster,
                    RefuseWire::Fenced => RefuseReason::Fenced,
                },
            },
        },
    });
    Ok(Frame { view: view_id_from_wire(f.view), seq: f.seq, ack: f.ack, msg })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vid() -> ViewId {
        ViewId { epoch: 3, coordinator: NodeId(0x10), coordinator_incarnation: 77 }
    }

    #[test]
    fn heartbeat_round_trips_through_bytes() {
        let v = Arc::new(View::new(
            vid(),
            vec![Member { node: NodeId(0x10), incarnation: 77 }, Member { node: NodeId(0x20), incarnation: 5 }],
        ));
        let hb = Heartbeat { incarnation: 9, seq: 4, echo: Some(Echo { incarnation: 1, seq: 2 }), view: Some(v) };
        let claim = ClaimWire { slot: 3, generation: 8, nonce: [1; 16] };
        let (t, bytes) = encode(&Body::Heartbeat(hb.clone()), Some(claim)).unwrap();
        assert_eq!(t, msg_type::MEMBERSHIP);
        assert_eq!(decode_heartbeat(&bytes).unwrap(), (hb, Some(claim)));
    }

    #[test]
    fn dlm_frames_round_trip_through_bytes() {
        let r = ResName::new(b"inode/7");
        let msgs = vec![
            None,
            Some(DlmMsg::Report {
                entries: vec![ReportEntry { res: r.clone(), held: Some((Mode::PR, 3)), pending: Some((Mode::EX, 4)) }],
            }),
            Some(DlmMsg::Request { res: r.clone(), mode: Mode::EX, seq: 1 }),
            Some(DlmMsg::Grant { res: r.clone(), mode: Mode::PW, seq: 1 }),
            Some(DlmMsg::Bast { res: r.clone(), blocking: Mode::CR }),
            Some(DlmMsg::DownConvert { res: r.clone(), mode: None, base: 2 }),
            Some(DlmMsg::Refuse { res: r, seq: 5, reason: RefuseReason::NotMaster }),
        ];
        for msg in msgs {
            let f = Frame { view: vid(), seq: 6, ack: 5, msg };
            let (t, bytes) = encode(&Body::Dlm(f.clone()), None).unwrap();
            assert_eq!(t, msg_type::DLM);
            assert_eq!(decode_dlm(&bytes).unwrap(), f);
        }
    }

    #[test]
    fn large_reports_grow_the_buffer() {
        let entries = (0..2000u32)
            .map(|i| ReportEntry { res: ResName::new(format!("res-{i:08}").as_bytes()), held: Some((Mode::EX, 1)), pending: None })
            .collect();
        let f = Frame { view: vid(), seq: 1, ack: 0, msg: Some(DlmMsg::Report { entries }) };
        let (_, bytes) = encode(&Body::Dlm(f.clone()), None).unwrap();
        assert_eq!(decode_dlm(&bytes).unwrap(), f);
    }
}
