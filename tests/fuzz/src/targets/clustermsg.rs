//! Cluster messages carried in peer frames: MEMBERSHIP heartbeats and DLM frames.

use mxfs_uapi::clustermsg::{
    DlmFrameRef, DlmFrameWire, DlmMsgRef, DlmMsgWire, HeartbeatRef, HeartbeatWire, MemberWire, ReportEntryWire, ViewWire,
};

use crate::Outcome;

pub fn heartbeat(data: &[u8]) -> Outcome {
    let Some((_, payload)) = data.split_first() else { return Outcome::Rejected };
    let Ok(hb) = HeartbeatRef::decode(payload) else { return Outcome::Rejected };
    let members: Vec<MemberWire> = hb.view.map(|v| v.members().collect()).unwrap_or_default();
    if let Some(v) = hb.view {
        assert_eq!(members.len(), v.len(), "view member count");
    }
    let wire = HeartbeatWire {
        incarnation: hb.incarnation,
        seq: hb.seq,
        echo: hb.echo,
        claim: hb.claim,
        view: hb.view.map(|v| ViewWire { id: v.id, members: &members }),
    };
    assert_eq!(wire.encoded_len(), payload.len(), "heartbeat length");
    let mut out = vec![0u8; payload.len()];
    let n = wire.encode(&mut out).expect("accepted heartbeat re-encodes");
    assert_eq!(&out[..n], payload, "heartbeat re-encodes differently");
    Outcome::Accepted
}

pub fn dlm(data: &[u8]) -> Outcome {
    let Some((_, payload)) = data.split_first() else { return Outcome::Rejected };
    let Ok(f) = DlmFrameRef::decode(payload) else { return Outcome::Rejected };
    let entries: Vec<ReportEntryWire<'_>> = match f.msg {
        Some(DlmMsgRef::Report(r)) => {
            let e: Vec<_> = r.entries().collect();
            assert_eq!(e.len(), r.len(), "report entry count");
            e
        }
        _ => Vec::new(),
    };
    let msg = match f.msg {
        None => None,
        Some(DlmMsgRef::Report(_)) => Some(DlmMsgWire::Report(&entries)),
        Some(DlmMsgRef::Other(m)) => Some(m),
    };
    let wire = DlmFrameWire { view: f.view, seq: f.seq, ack: f.ack, msg };
    // An accepted frame is never longer than its input.
    let mut out = vec![0u8; payload.len()];
    let n = wire.encode(&mut out).expect("accepted DLM frame re-encodes");
    assert_eq!(&out[..n], payload, "DLM frame re-encodes differently");
    Outcome::Accepted
}
