//! `struct nlmsghdr` framing, for the daemon's own socket (`channel`): build one message,
//! split a received datagram into its messages, read NLMSG_ERROR codes. Native endian, as
//! netlink is.

use crate::error::NlError;

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const NLM_F_REQUEST: u16 = 1;
pub const NLM_F_ACK: u16 = 4;

/// One netlink message of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlMsg<'a> {
    pub nl_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

const fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A whole message: header (length, type, flags, seq, port id) and payload.
pub fn encode(nl_type: u16, flags: u16, seq: u32, pid: u32, payload: &[u8]) -> Result<Vec<u8>, NlError> {
    let len = u32::try_from(NLMSG_HDRLEN + payload.len())
        .map_err(|_| NlError::InvalidArgument(format!("netlink message of {} bytes is too large", payload.len())))?;
    let mut out = Vec::with_capacity(align(len as usize));
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&nl_type.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&pid.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(align(out.len()), 0);
    Ok(out)
}

/// The messages of one datagram, in order. A length that runs past the end, or is shorter
/// than the header, ends the datagram with an error.
pub fn split(buf: &[u8]) -> Vec<Result<NlMsg<'_>, NlError>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < NLMSG_HDRLEN {
            out.push(Err(NlError::Malformed(format!("{} trailing bytes after the last netlink message", rest.len()))));
            break;
        }
        let u32_at = |i: usize| u32::from_ne_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let u16_at = |i: usize| u16::from_ne_bytes([rest[i], rest[i + 1]]);
        let len = u32_at(0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            out.push(Err(NlError::Malformed(format!(
                "netlink message length {len} does not fit the {} bytes left",
                rest.len()
            ))));
            break;
        }
        out.push(Ok(NlMsg { nl_type: u16_at(4), flags: u16_at(6), seq: u32_at(8), pid: u32_at(12), payload: &rest[NLMSG_HDRLEN..len] }));
        rest = &rest[align(len).min(rest.len())..];
    }
    out
}

/// The code of an NLMSG_ERROR payload: 0 for an ACK, else a positive errno.
pub fn error_code(payload: &[u8]) -> Result<i32, NlError> {
    let b = payload
        .get(..4)
        .ok_or_else(|| NlError::Malformed(format!("NLMSG_ERROR payload of {} bytes", payload.len())))?;
    Ok(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]).saturating_abs())
}

/// Sequence number of the request an NLMSG_ERROR answers (from the echoed header).
pub fn error_seq(payload: &[u8]) -> Option<u32> {
    let b = payload.get(4 + 8..4 + 12)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_pad() {
        let a = encode(0x20, NLM_F_REQUEST | NLM_F_ACK, 7, 99, &[1, 2, 3]).unwrap();
        assert_eq!(a.len(), 20);
        let b = encode(NLMSG_DONE, 0, 8, 0, &[]).unwrap();
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let msgs: Vec<NlMsg<'_>> = split(&both).into_iter().map(|m| m.unwrap()).collect();
        assert_eq!(msgs[0], NlMsg { nl_type: 0x20, flags: 5, seq: 7, pid: 99, payload: &[1, 2, 3] });
        assert_eq!((msgs[1].nl_type, msgs[1].seq, msgs[1].payload.len()), (NLMSG_DONE, 8, 0));
        // The last message may lack its padding.
        assert_eq!(split(&a[..19]).len(), 1);
        assert!(split(&a[..19])[0].is_ok());
    }

    #[test]
    fn bad_lengths_end_the_datagram() {
        let a = encode(0x20, 0, 1, 0, &[0; 8]).unwrap();
        for cut in 1..a.len() - 8 {
            let r = split(&a[..cut]);
            assert!(r.last().unwrap().is_err(), "cut {cut}");
        }
        let mut bad = a.clone();
        bad[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(split(&bad)[0].is_err());
    }

    #[test]
    fn error_payloads() {
        let mut p = (-13i32).to_ne_bytes().to_vec();
        p.extend_from_slice(&encode(0x20, 0, 42, 5, &[]).unwrap());
        assert_eq!(error_code(&p).unwrap(), 13);
        assert_eq!(error_seq(&p), Some(42));
        assert_eq!(error_code(&0i32.to_ne_bytes()).unwrap(), 0);
        assert!(error_code(&[0, 0]).is_err());
        assert_eq!(error_seq(&[0; 6]), None);
    }
}
