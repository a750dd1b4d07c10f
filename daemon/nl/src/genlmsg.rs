//! `struct genlmsghdr`: the 4-byte header in front of every generic netlink payload.

use crate::error::NlError;

/// Size of `struct genlmsghdr` (cmd u8, version u8, reserved u16).
pub const GENL_HDRLEN: usize = 4;

/// A generic netlink payload: header fields plus the attribute stream after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenlMsg<'a> {
    pub cmd: u8,
    pub version: u8,
    pub attrs: &'a [u8],
}

/// Prefixes an attribute stream with a genl header.
pub fn encode(cmd: u8, version: u8, attrs: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(GENL_HDRLEN + attrs.len());
    out.extend_from_slice(&[cmd, version, 0, 0]);
    out.extend_from_slice(attrs);
    out
}

/// Splits a netlink message payload into its genl header and attributes.
pub fn decode(payload: &[u8]) -> Result<GenlMsg<'_>, NlError> {
    if payload.len() < GENL_HDRLEN {
        return Err(NlError::Malformed(format!(
            "generic netlink payload of {} bytes is shorter than its header",
            payload.len()
        )));
    }
    Ok(GenlMsg {
        cmd: payload[0],
        version: payload[1],
        attrs: &payload[GENL_HDRLEN..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let bytes = encode(2, 1, &[8, 0, 4, 0, 1, 0, 0, 0]);
        assert_eq!(&bytes[..4], &[2, 1, 0, 0]);
        let msg = decode(&bytes).unwrap();
        assert_eq!((msg.cmd, msg.version), (2, 1));
        assert_eq!(msg.attrs.len(), 8);
    }

    #[test]
    fn short_payload_is_rejected() {
        for len in 0..GENL_HDRLEN {
            assert!(decode(&[1u8; 3][..len]).is_err());
        }
        assert!(decode(&[1, 1, 0, 0]).unwrap().attrs.is_empty());
    }
}
