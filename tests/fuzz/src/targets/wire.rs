//! Network formats: discovery datagrams, hello payloads, and peer frame streams.

use mxfs_uapi::discovery::{self, Announcement};
use mxfs_uapi::peer::{
    msg_type, session_keys, Decoded, FrameDecoder, FrameEncoder, FrameKey, Hello, PeerError, Role,
    HEADER_LEN, MAC_LEN, MAX_FRAME_LEN, MAX_PAYLOAD,
};

use super::{ESTABLISHED, FIX};
use crate::fixture::{self, discovery_key, hello_key, SECRET, VOL};
use crate::Outcome;

pub fn discovery(data: &[u8]) -> Outcome {
    let Some((&ctl, rest)) = data.split_first() else { return Outcome::Rejected };
    let mut buf = rest.to_vec();
    let key = discovery_key();
    if ctl & FIX != 0 && buf.len() >= discovery::MIN_LEN {
        let at = buf.len() - discovery::MAC_LEN;
        let tag = key.mac(&buf[..at]);
        buf[at..].copy_from_slice(&tag);
    }
    let peeked = discovery::peek_volume(&buf);
    match Announcement::decode(&buf, &VOL, &key) {
        Ok(a) => {
            assert_eq!(peeked, Some(VOL));
            let mut out = [0u8; discovery::MAX_LEN];
            let n = a.encode(&key, &mut out).expect("accepted announcement re-encodes");
            assert_eq!(&out[..n], &buf[..], "announcement re-encodes differently");
            Outcome::Accepted
        }
        Err(_) => Outcome::Rejected,
    }
}

pub fn hello(data: &[u8]) -> Outcome {
    let Some((_, payload)) = data.split_first() else { return Outcome::Rejected };
    match Hello::decode(payload, &VOL) {
        Ok(h) => {
            assert_eq!(&h.encode().expect("accepted hello re-encodes")[..], payload);
            // Pairing with either fixture end never panics.
            let _ = session_keys(&SECRET, &VOL, &fixture::hello(Role::Responder), &h);
            let _ = session_keys(&SECRET, &VOL, &h, &fixture::hello(Role::Initiator));
            Outcome::Accepted
        }
        Err(_) => Outcome::Rejected,
    }
}

/// Recomputes the MAC of the frame at the start of `buf` if its declared length fits.
fn repair(buf: &mut [u8], key: &FrameKey) {
    if buf.len() < HEADER_LEN {
        return;
    }
    let len = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    if len > MAX_PAYLOAD || HEADER_LEN + len + MAC_LEN > buf.len() {
        return;
    }
    let tag = key.mac(&buf[..HEADER_LEN + len]);
    buf[HEADER_LEN + len..HEADER_LEN + len + MAC_LEN].copy_from_slice(&tag);
}

/// The bytes node A sends to node B, fed to B's decoder frame by frame. A mirror of A's
/// encoder re-encodes every accepted frame, which must give back the same bytes.
pub fn peer_stream(data: &[u8]) -> Outcome {
    let Some((&ctl, rest)) = data.split_first() else { return Outcome::Rejected };
    let mut buf = rest.to_vec();
    let b_hello = fixture::hello(Role::Responder);
    let (mut mirror, mut dec, mut key) = if ctl & ESTABLISHED != 0 {
        let (enc, dec) = fixture::established();
        let a_hello = fixture::hello(Role::Initiator);
        (enc, dec, fixture::keys(&b_hello, &a_hello).recv)
    } else {
        let hk = hello_key();
        (FrameEncoder::new(&hk), FrameDecoder::new(&hk), *hk.frame_key())
    };
    // An accepted frame is never longer than the input it came from.
    let mut out = vec![0u8; buf.len()];
    let mut off = 0;
    let mut accepted = 0;
    while off <= buf.len() {
        if ctl & FIX != 0 {
            repair(&mut buf[off..], &key);
        }
        let rest = &buf[off..];
        match dec.decode(rest) {
            Ok(Decoded::NeedMore { total }) => {
                assert!(total > rest.len() && total <= MAX_FRAME_LEN, "bad NeedMore {total}");
                break;
            }
            Ok(Decoded::Frame { frame, consumed }) => {
                assert_eq!(consumed, HEADER_LEN + frame.payload.len() + MAC_LEN);
                assert!(consumed <= rest.len());
                let n = mirror
                    .encode(frame.msg_type, frame.payload, &mut out)
                    .expect("accepted frame re-encodes");
                assert_eq!(&out[..n], &rest[..consumed], "frame re-encodes differently");
                accepted += 1;
                if frame.msg_type == msg_type::HELLO {
                    // B answers A's hello: both sides switch to the session keys.
                    let Ok(a_hello) = Hello::decode(frame.payload, &VOL) else { break };
                    let Ok(b_keys) = session_keys(&SECRET, &VOL, &b_hello, &a_hello) else { break };
                    let a_keys = session_keys(&SECRET, &VOL, &a_hello, &b_hello).expect("pairing is symmetric");
                    dec.establish(&b_keys).expect("decoder establishes after hello");
                    mirror.establish(&a_keys).expect("mirror establishes after hello");
                    key = b_keys.recv;
                }
                off += consumed;
            }
            Err(PeerError::WrongPhase) => break, // after CLOSE
            Err(_) => {
                assert_eq!(dec.decode(rest), Err(PeerError::Poisoned), "stream not poisoned");
                break;
            }
        }
    }
    if accepted > 0 {
        Outcome::Accepted
    } else {
        Outcome::Rejected
    }
}
