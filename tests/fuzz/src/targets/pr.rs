//! SCSI replies read by fencing: PERSISTENT RESERVE IN (READ KEYS, READ RESERVATION) and
//! standard INQUIRY data.

use mxfs_pr::scsi::{encode_read_keys, encode_read_reservation};
use mxfs_pr::{parse_inquiry, parse_read_keys, parse_read_reservation};

use crate::Outcome;

/// The reply length an accepted PR IN reply declares (header + ADDITIONAL LENGTH); every byte
/// past it must be zero padding.
fn declared(buf: &[u8]) -> usize {
    8 + u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize
}

/// Both PERSISTENT RESERVE IN parsers on the same bytes (the device transfer buffer).
pub fn pr_in(data: &[u8]) -> Outcome {
    let Some((_, buf)) = data.split_first() else { return Outcome::Rejected };
    let mut accepted = false;
    if let Ok(k) = parse_read_keys(buf) {
        let n = declared(buf);
        assert_eq!(k.keys.len() * 8 + 8, n, "key count");
        assert_eq!(encode_read_keys(&k), buf[..n], "READ KEYS re-encodes differently");
        assert!(buf[n..].iter().all(|&b| b == 0), "non-zero padding accepted");
        accepted = true;
    }
    if let Ok(r) = parse_read_reservation(buf) {
        assert!(matches!(declared(buf), 8 | 24), "reservation length");
        if let Some(res) = r.reservation {
            assert!(res.key.is_some() || res.pr_type.all_registrants(), "holder key 0 accepted");
        }
        // The parser ignores the obsolete fields: what it read must survive a round trip.
        assert_eq!(parse_read_reservation(&encode_read_reservation(&r)), Ok(r), "READ RESERVATION round trip");
        accepted = true;
    }
    if accepted {
        Outcome::Accepted
    } else {
        Outcome::Rejected
    }
}

pub fn inquiry(data: &[u8]) -> Outcome {
    let Some((_, buf)) = data.split_first() else { return Outcome::Rejected };
    let Ok(i) = parse_inquiry(buf) else { return Outcome::Rejected };
    assert!(buf.len() >= 36);
    assert_eq!(i.device_type, buf[0] & 0x1f);
    for (s, max) in [(&i.vendor, 8), (&i.product, 16), (&i.revision, 4)] {
        assert!(s.len() <= max, "field longer than its bytes");
        assert!(s.bytes().all(|b| (0x20..=0x7e).contains(&b)), "non-printable byte kept");
        assert_eq!(s.trim(), s.as_str(), "field not trimmed");
    }
    Outcome::Accepted
}
