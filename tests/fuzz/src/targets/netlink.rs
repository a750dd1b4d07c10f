//! mxfs-nl's netlink decoders (attributes, genl header, STATUS reply, controller reply),
//! called through their public functions only.

use mxfs_nl::attr::{AttrWriter, Attrs};
use mxfs_nl::{ctrl, genlmsg, msg};

use crate::Outcome;

/// Kind and payload of every attribute up to the first error, and whether one occurred.
fn collect(buf: &[u8]) -> (Vec<(u16, Vec<u8>)>, bool) {
    let mut out = Vec::new();
    for a in Attrs::new(buf) {
        match a {
            Ok(a) => out.push((a.kind, a.payload.to_vec())),
            Err(_) => return (out, true),
        }
    }
    (out, false)
}

/// Walks nests and calls every accessor; none may panic.
fn walk(buf: &[u8], depth: u32) {
    for a in Attrs::new(buf) {
        let Ok(a) = a else { return };
        let _ = a.u16();
        let _ = a.u32();
        let _ = a.string(4095);
        let _ = a.string(0);
        if depth < 4 {
            walk(a.payload, depth + 1);
        }
    }
}

pub fn netlink(data: &[u8]) -> Outcome {
    let Some((_, buf)) = data.split_first() else { return Outcome::Rejected };
    // The payload after the genl header, or the whole input as a bare attribute stream.
    let stream = genlmsg::decode(buf).map(|m| m.attrs).unwrap_or(buf);
    walk(stream, 0);

    // A stream that decodes cleanly re-encodes to a stream with the same attributes.
    let (attrs, failed) = collect(stream);
    if !failed {
        let mut w = AttrWriter::new();
        for (kind, payload) in &attrs {
            w.put(*kind, payload).expect("decoded attribute re-encodes");
        }
        let (again, failed_again) = collect(w.as_bytes());
        assert!(!failed_again, "re-encoded attributes fail to decode");
        assert_eq!(again, attrs, "attributes change across a round trip");
    }

    let _ = ctrl::decode_family(buf, "mxfs");
    let status = msg::decode_status_reply(buf);
    if let Ok(mounts) = &status {
        let bytes = msg::encode_status_reply(mounts).expect("decoded mounts re-encode");
        match msg::decode_status_reply(&bytes) {
            Ok(again) => assert_eq!(&again, mounts, "STATUS reply changes across a round trip"),
            // Only lossy UTF-8 (bytes shown as U+FFFD, three bytes each) may outgrow a limit.
            Err(_) => assert!(
                mounts.iter().any(|m| [&m.device, &m.mountpoint].iter().any(|s| s.contains('\u{fffd}'))),
                "re-encoded STATUS reply refused"
            ),
        }
    }
    if failed {
        Outcome::Rejected
    } else {
        Outcome::Accepted
    }
}
