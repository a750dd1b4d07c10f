//! REMOTE_REQUEST and REMOTE_REPLY as generic netlink payloads: one `REMOTE_MSG` attribute
//! carrying a message of `mxfs_uapi::remote`, whose own decoder checks the contents.

use mxfs_uapi::genl::{attr, cmd, FAMILY_VERSION};
use mxfs_uapi::remote::MAX_MSG;

use crate::attr::{AttrWriter, Attrs};
use crate::error::NlError;
use crate::genlmsg;

fn message(payload: &[u8], want: u8, name: &str) -> Result<Vec<u8>, NlError> {
    let msg = genlmsg::decode(payload)?;
    if msg.cmd != want {
        return Err(NlError::Malformed(format!("{name} carries command {}, expected {want}", msg.cmd)));
    }
    let mut found = None;
    for a in Attrs::new(msg.attrs) {
        let a = a?;
        // Later duplicates win, as with the kernel's nla_parse.
        if a.kind == attr::REMOTE_MSG {
            found = Some(a.payload);
        }
    }
    let m = found.ok_or_else(|| NlError::Malformed(format!("{name} without REMOTE_MSG")))?;
    if m.len() > MAX_MSG {
        return Err(NlError::Malformed(format!("{name} REMOTE_MSG of {} bytes exceeds {MAX_MSG}", m.len())));
    }
    Ok(m.to_vec())
}

fn encode(command: u8, m: &[u8]) -> Result<Vec<u8>, NlError> {
    if m.len() > MAX_MSG {
        return Err(NlError::InvalidArgument(format!("remote message of {} bytes exceeds {MAX_MSG}", m.len())));
    }
    let mut attrs = AttrWriter::new();
    attrs.put(attr::REMOTE_MSG, m)?;
    Ok(genlmsg::encode(command, FAMILY_VERSION, attrs.as_bytes()))
}

/// The remote message inside a REMOTE_REQUEST from the kernel.
pub fn decode_remote_request(payload: &[u8]) -> Result<Vec<u8>, NlError> {
    message(payload, cmd::REMOTE_REQUEST, "REMOTE_REQUEST")
}

/// REMOTE_REPLY carrying an encoded reply.
pub fn encode_remote_reply(m: &[u8]) -> Result<Vec<u8>, NlError> {
    encode(cmd::REMOTE_REPLY, m)
}

/// CACHE_BAST carrying an encoded CACHE_BAST message.
pub fn encode_cache_bast(m: &[u8]) -> Result<Vec<u8>, NlError> {
    encode(cmd::CACHE_BAST, m)
}

/// REMOTE_REQUEST as the kernel sends it (for tests and tools).
pub fn encode_remote_request(m: &[u8]) -> Result<Vec<u8>, NlError> {
    encode(cmd::REMOTE_REQUEST, m)
}

/// The remote message inside a REMOTE_REPLY (for tests and tools).
pub fn decode_remote_reply(payload: &[u8]) -> Result<Vec<u8>, NlError> {
    message(payload, cmd::REMOTE_REPLY, "REMOTE_REPLY")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_reply_round_trip() {
        let m = vec![7u8; 33];
        let req = encode_remote_request(&m).unwrap();
        assert_eq!(&req[..4], &[cmd::REMOTE_REQUEST, FAMILY_VERSION, 0, 0]);
        assert_eq!(decode_remote_request(&req).unwrap(), m);
        let rep = encode_remote_reply(&m).unwrap();
        assert_eq!(decode_remote_reply(&rep).unwrap(), m);
        // The largest message fits the attribute's 16-bit length.
        let big = vec![1u8; MAX_MSG];
        assert_eq!(decode_remote_reply(&encode_remote_reply(&big).unwrap()).unwrap(), big);
        assert!(encode_remote_reply(&vec![0u8; MAX_MSG + 1]).is_err());
    }

    #[test]
    fn wrong_command_missing_attribute_and_cuts_are_refused() {
        let m = vec![7u8; 20];
        let rep = encode_remote_reply(&m).unwrap();
        assert!(decode_remote_request(&rep).is_err());
        assert!(decode_remote_request(&genlmsg::encode(cmd::REMOTE_REQUEST, FAMILY_VERSION, &[])).is_err());
        let req = encode_remote_request(&m).unwrap();
        for cut in 0..req.len() {
            assert!(decode_remote_request(&req[..cut]).is_err(), "cut {cut} accepted");
        }
        // Unknown attributes are skipped.
        let mut attrs = AttrWriter::new();
        attrs.put_u32(99, 5).unwrap();
        attrs.put(attr::REMOTE_MSG, &m).unwrap();
        let with_extra = genlmsg::encode(cmd::REMOTE_REQUEST, FAMILY_VERSION, attrs.as_bytes());
        assert_eq!(decode_remote_request(&with_extra).unwrap(), m);
    }
}
