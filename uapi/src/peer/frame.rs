//! Frame encoder and incremental decoder, one of each per connection.
//!
//! Both follow the conversation: HELLO (sequence 0, hello key) → the caller derives the
//! session keys and calls `establish` → READY (sequence 1, session key) → data frames.
//! A type outside its phase is refused, so a peer cannot skip the key confirmation.

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::hello::{FrameKey, Hello, HelloKey, SessionKeys};
use super::{msg_type, PeerError, HEADER_LEN, MAC_LEN, MAGIC, VERSION};
use crate::keys;

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct RawHeader {
    magic: [u8; 4],
    version: u8,
    msg_type: u8,
    flags: U16,
    payload_len: U32,
    reserved: U32,
    seq: U64,
}

const _: () = assert!(core::mem::size_of::<RawHeader>() == HEADER_LEN);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Only HELLO, under the hello key.
    Hello,
    /// HELLO done; waiting for `establish`.
    AwaitKeys,
    /// Only READY, under the session key.
    Confirm,
    /// Data frames and CLOSE.
    Open,
    /// CLOSE went by; nothing more.
    Closed,
    /// An error ended the stream (decoder only).
    Failed,
}

fn allowed(phase: Phase, t: u8) -> bool {
    match phase {
        Phase::Hello => t == msg_type::HELLO,
        Phase::Confirm => t == msg_type::READY,
        Phase::Open => !matches!(t, msg_type::HELLO | msg_type::READY),
        Phase::AwaitKeys | Phase::Closed | Phase::Failed => false,
    }
}

fn after(phase: Phase, t: u8) -> Phase {
    match (phase, t) {
        (Phase::Hello, _) => Phase::AwaitKeys,
        (_, msg_type::CLOSE) => Phase::Closed,
        (Phase::Confirm, _) => Phase::Open,
        (p, _) => p,
    }
}

fn check_len(t: u8, len: usize) -> Result<(), PeerError> {
    let (min, max) = msg_type::payload_bounds(t).ok_or(PeerError::UnknownType { found: t })?;
    if len < min || len > max {
        return Err(PeerError::BadPayloadLength { msg_type: t, len: len.min(u32::MAX as usize) as u32 });
    }
    Ok(())
}

/// Header and MAC of one frame; the payload goes between them unchanged (for writev).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub header: [u8; HEADER_LEN],
    pub mac: [u8; MAC_LEN],
}

impl Sealed {
    /// Bytes of the whole frame around a payload of `payload_len`.
    pub fn frame_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len + MAC_LEN
    }
}

/// Seals outgoing frames: numbers them and MACs them with the current key.
#[derive(Debug)]
pub struct FrameEncoder {
    key: FrameKey,
    next_seq: u64,
    phase: Phase,
}

impl FrameEncoder {
    pub fn new(hello_key: &HelloKey) -> FrameEncoder {
        FrameEncoder { key: hello_key.0, next_seq: 0, phase: Phase::Hello }
    }

    /// Writes our HELLO frame into `out`; returns its length.
    pub fn encode_hello(&mut self, hello: &Hello, out: &mut [u8]) -> Result<usize, PeerError> {
        let payload = hello.encode()?;
        self.encode(msg_type::HELLO, &payload, out)
    }

    /// Switches to the session's send key once both hellos are known.
    pub fn establish(&mut self, keys: &SessionKeys) -> Result<(), PeerError> {
        if self.phase != Phase::AwaitKeys {
            return Err(PeerError::WrongPhase);
        }
        self.key = keys.send;
        self.phase = Phase::Confirm;
        Ok(())
    }

    /// Numbers and MACs a frame around `payload`.
    pub fn seal(&mut self, t: u8, payload: &[u8]) -> Result<Sealed, PeerError> {
        check_len(t, payload.len())?;
        if !allowed(self.phase, t) {
            return Err(PeerError::WrongPhase);
        }
        let next = self.next_seq.checked_add(1).ok_or(PeerError::SequenceExhausted)?;
        let raw = RawHeader {
            magic: MAGIC,
            version: VERSION,
            msg_type: t,
            flags: U16::new(0),
            payload_len: U32::new(payload.len() as u32), // <= MAX_PAYLOAD by check_len
            reserved: U32::new(0),
            seq: U64::new(self.next_seq),
        };
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(raw.as_bytes());
        let mut h = blake3::Hasher::new_keyed(&self.key.0);
        h.update(&header);
        h.update(payload);
        let mac = *h.finalize().as_bytes();
        self.next_seq = next;
        self.phase = after(self.phase, t);
        Ok(Sealed { header, mac })
    }

    /// Writes a whole frame into `out`; returns its length.
    pub fn encode(&mut self, t: u8, payload: &[u8], out: &mut [u8]) -> Result<usize, PeerError> {
        let len = Sealed::frame_len(payload.len());
        let out = out.get_mut(..len).ok_or(PeerError::BufferTooSmall { need: len })?;
        let sealed = self.seal(t, payload)?;
        out[..HEADER_LEN].copy_from_slice(&sealed.header);
        out[HEADER_LEN..len - MAC_LEN].copy_from_slice(payload);
        out[len - MAC_LEN..].copy_from_slice(&sealed.mac);
        Ok(len)
    }
}

/// One verified frame, borrowing its payload from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub msg_type: u8,
    pub flags: u16,
    pub seq: u64,
    pub payload: &'a [u8],
}

/// Result of feeding the decoder what has arrived so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// The buffer must hold at least `total` bytes (never more than
    /// [`super::MAX_FRAME_LEN`]) before the next call can make progress.
    NeedMore { total: usize },
    /// A frame, which used the first `consumed` bytes of the buffer.
    Frame { frame: Frame<'a>, consumed: usize },
}

/// Verifies incoming frames from the start of a caller-owned buffer.
#[derive(Debug)]
pub struct FrameDecoder {
    key: FrameKey,
    next_seq: u64,
    phase: Phase,
}

impl FrameDecoder {
    pub fn new(hello_key: &HelloKey) -> FrameDecoder {
        FrameDecoder { key: hello_key.0, next_seq: 0, phase: Phase::Hello }
    }

    /// Switches to the session's receive key once both hellos are known.
    pub fn establish(&mut self, keys: &SessionKeys) -> Result<(), PeerError> {
        if self.phase != Phase::AwaitKeys {
            return Err(PeerError::WrongPhase);
        }
        self.key = keys.recv;
        self.phase = Phase::Confirm;
        Ok(())
    }

    /// True once the peer's READY has verified: it holds the volume secret now.
    pub fn is_confirmed(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closed)
    }

    /// Decodes the frame at the start of `buf`. Any error ends the stream: later calls
    /// return [`PeerError::Poisoned`].
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<Decoded<'a>, PeerError> {
        match self.phase {
            Phase::Failed => return Err(PeerError::Poisoned),
            Phase::AwaitKeys | Phase::Closed => return Err(PeerError::WrongPhase),
            _ => {}
        }
        let result = self.step(buf);
        if result.is_err() {
            self.phase = Phase::Failed;
        }
        result
    }

    fn step<'a>(&mut self, buf: &'a [u8]) -> Result<Decoded<'a>, PeerError> {
        let Some(head) = buf.get(..HEADER_LEN) else {
            return Ok(Decoded::NeedMore { total: HEADER_LEN });
        };
        let raw = RawHeader::ref_from_bytes(head).map_err(|_| PeerError::Poisoned)?;
        if raw.magic != MAGIC {
            return Err(PeerError::BadMagic { found: raw.magic });
        }
        if raw.version != VERSION {
            return Err(PeerError::UnsupportedVersion { found: raw.version });
        }
        let t = raw.msg_type;
        if msg_type::payload_bounds(t).is_none() {
            return Err(PeerError::UnknownType { found: t });
        }
        if raw.flags.get() != 0 {
            return Err(PeerError::UnknownFlags { flags: raw.flags.get() });
        }
        if raw.reserved.get() != 0 {
            return Err(PeerError::NonZeroReserved);
        }
        if !allowed(self.phase, t) {
            return Err(PeerError::UnexpectedType { msg_type: t });
        }
        // The declared length is checked before any of the payload is waited for.
        let len = raw.payload_len.get() as usize;
        check_len(t, len)?;
        let total = HEADER_LEN + len + MAC_LEN;
        let Some(frame) = buf.get(..total) else {
            return Ok(Decoded::NeedMore { total });
        };
        let (signed, tag) = frame.split_at(HEADER_LEN + len);
        if !keys::verify(&self.key.0, signed, tag) {
            return Err(PeerError::BadMac);
        }
        let seq = raw.seq.get();
        if seq != self.next_seq {
            return Err(PeerError::BadSequence { expected: self.next_seq, got: seq });
        }
        self.next_seq = seq.checked_add(1).ok_or(PeerError::SequenceExhausted)?;
        self.phase = after(self.phase, t);
        let frame = Frame { msg_type: t, flags: 0, seq, payload: &signed[HEADER_LEN..] };
        Ok(Decoded::Frame { frame, consumed: total })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::super::{session_keys, Role, MAX_FRAME_LEN, MAX_PAYLOAD};
    use super::*;
    use crate::ident::{node_id_from_uuid, Uuid};

    const VOL: Uuid = [0xd4; 16];
    const SECRET: [u8; 32] = [0x17; 32];

    fn hello(role: Role, b: u8) -> Hello {
        let uuid = [b; 16];
        Hello {
            role,
            tcp_port: 7600,
            node_id: node_id_from_uuid(&uuid),
            node_uuid: uuid,
            volume_uuid: VOL,
            nonce: [b.wrapping_add(100); 32],
            incarnation: 1,
        }
    }

    struct End {
        enc: FrameEncoder,
        dec: FrameDecoder,
        hello: Hello,
    }

    fn end(role: Role, b: u8) -> End {
        let key = HelloKey::derive(&SECRET, &VOL);
        End { enc: FrameEncoder::new(&key), dec: FrameDecoder::new(&key), hello: hello(role, b) }
    }

    fn one(dec: &mut FrameDecoder, bytes: &[u8]) -> Result<(u8, Vec<u8>, usize), PeerError> {
        match dec.decode(bytes)? {
            Decoded::Frame { frame, consumed } => Ok((frame.msg_type, frame.payload.to_vec(), consumed)),
            Decoded::NeedMore { total } => panic!("needs {total} of {}", bytes.len()),
        }
    }

    fn send(e: &mut End, t: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; MAX_FRAME_LEN];
        let n = e.enc.encode(t, payload, &mut out).unwrap();
        out.truncate(n);
        out
    }

    /// Runs the handshake; returns both ends ready for data.
    fn connected() -> (End, End) {
        let (mut a, mut b) = (end(Role::Initiator, 1), end(Role::Responder, 2));
        let mut buf = [0u8; 256];
        let n = a.enc.encode_hello(&a.hello.clone(), &mut buf).unwrap();
        let (t, p, used) = one(&mut b.dec, &buf[..n]).unwrap();
        assert_eq!((t, used), (msg_type::HELLO, n));
        let a_hello = Hello::decode(&p, &VOL).unwrap();
        let n = b.enc.encode_hello(&b.hello.clone(), &mut buf).unwrap();
        let (_, p, _) = one(&mut a.dec, &buf[..n]).unwrap();
        let b_hello = Hello::decode(&p, &VOL).unwrap();
        let ka = session_keys(&SECRET, &VOL, &a.hello, &b_hello).unwrap();
        let kb = session_keys(&SECRET, &VOL, &b.hello, &a_hello).unwrap();
        a.enc.establish(&ka).unwrap();
        a.dec.establish(&ka).unwrap();
        b.enc.establish(&kb).unwrap();
        b.dec.establish(&kb).unwrap();
        let r = send(&mut a, msg_type::READY, &[]);
        assert_eq!(one(&mut b.dec, &r).unwrap().0, msg_type::READY);
        let r = send(&mut b, msg_type::READY, &[]);
        assert_eq!(one(&mut a.dec, &r).unwrap().0, msg_type::READY);
        assert!(a.dec.is_confirmed() && b.dec.is_confirmed());
        (a, b)
    }

    #[test]
    fn handshake_and_data_round_trip() {
        let (mut a, mut b) = connected();
        for payload in [&b""[..], b"lock request", &[0xee; 4096]] {
            let f = send(&mut a, msg_type::DLM, payload);
            let (t, p, used) = one(&mut b.dec, &f).unwrap();
            assert_eq!((t, p.as_slice(), used), (msg_type::DLM, payload, f.len()));
        }
        // Two frames back to back in one buffer decode one at a time.
        let mut both = send(&mut b, msg_type::MEMBERSHIP, b"x");
        both.extend(send(&mut b, msg_type::CLOSE, &[]));
        let (_, _, used) = one(&mut a.dec, &both).unwrap();
        assert_eq!(one(&mut a.dec, &both[used..]).unwrap().0, msg_type::CLOSE);
        assert_eq!(a.dec.decode(&[]), Err(PeerError::WrongPhase));
    }

    #[test]
    fn sealed_matches_encoded() {
        let (mut a, mut b) = connected();
        let s = a.enc.seal(msg_type::REMOTE_OP, b"abc").unwrap();
        let mut f = s.header.to_vec();
        f.extend_from_slice(b"abc");
        f.extend_from_slice(&s.mac);
        assert_eq!(one(&mut b.dec, &f).unwrap().1, b"abc");
    }

    #[test]
    fn needs_more_until_complete() {
        let (mut a, mut b) = connected();
        let f = send(&mut a, msg_type::DLM, &[5; 100]);
        for cut in 0..f.len() {
            let want = if cut < HEADER_LEN { HEADER_LEN } else { f.len() };
            assert_eq!(b.dec.decode(&f[..cut]), Ok(Decoded::NeedMore { total: want }));
        }
        assert!(one(&mut b.dec, &f).is_ok());
    }

    #[test]
    fn oversized_length_is_refused_from_the_header_alone() {
        let (mut a, mut b) = connected();
        let mut f = send(&mut a, msg_type::DLM, b"hi");
        f[8..12].copy_from_slice(&((MAX_PAYLOAD + 1) as u32).to_le_bytes());
        assert!(matches!(b.dec.decode(&f[..HEADER_LEN]), Err(PeerError::BadPayloadLength { .. })));
        assert_eq!(b.dec.decode(&f), Err(PeerError::Poisoned));
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let (mut a, _) = connected();
        let f = send(&mut a, msg_type::DLM, b"grant inode 42");
        for i in 0..f.len() {
            let mut bad = f.clone();
            bad[i] ^= 0x01;
            // Hellos carry fixed nonces here, so every `connected()` has the same keys.
            let (_, mut b) = connected();
            let r = b.dec.decode(&bad);
            assert!(!matches!(r, Ok(Decoded::Frame { .. })), "byte {i} accepted");
        }
        let (_, mut b) = connected();
        assert!(one(&mut b.dec, &f).is_ok());
    }

    #[test]
    fn replay_reorder_and_reflection_are_refused() {
        let (mut a, mut b) = connected();
        let f1 = send(&mut a, msg_type::DLM, b"1");
        let _f2 = send(&mut a, msg_type::DLM, b"2");
        assert!(one(&mut b.dec, &f1).is_ok());
        assert_eq!(b.dec.decode(&f1), Err(PeerError::BadSequence { expected: 3, got: 2 }));

        let (mut a, mut b) = connected();
        let _f1 = send(&mut a, msg_type::DLM, b"1");
        let f2b = send(&mut a, msg_type::DLM, b"2");
        assert_eq!(b.dec.decode(&f2b), Err(PeerError::BadSequence { expected: 2, got: 3 }));

        // A frame sent back to its sender fails: the directions have different keys.
        let (mut a, _) = connected();
        let f = send(&mut a, msg_type::DLM, b"1");
        assert_eq!(a.dec.decode(&f), Err(PeerError::BadMac));
    }

    #[test]
    fn phases_are_enforced() {
        let key = HelloKey::derive(&SECRET, &VOL);
        let mut enc = FrameEncoder::new(&key);
        let mut out = [0u8; 256];
        assert_eq!(enc.encode(msg_type::DLM, b"", &mut out), Err(PeerError::WrongPhase));

        // Data before READY is refused by the decoder.
        let (mut a, mut b) = (end(Role::Initiator, 1), end(Role::Responder, 2));
        let n = a.enc.encode_hello(&a.hello.clone(), &mut out).unwrap();
        one(&mut b.dec, &out[..n]).unwrap();
        assert_eq!(b.dec.decode(&out[..n]), Err(PeerError::WrongPhase));
        let ka = session_keys(&SECRET, &VOL, &a.hello, &b.hello).unwrap();
        let kb = session_keys(&SECRET, &VOL, &b.hello, &a.hello).unwrap();
        a.enc.establish(&ka).unwrap();
        b.dec.establish(&kb).unwrap();
        assert_eq!(a.enc.seal(msg_type::DLM, b""), Err(PeerError::WrongPhase));
        let mut forged = FrameEncoder { key: ka.send, next_seq: 1, phase: Phase::Open };
        let n = forged.encode(msg_type::DLM, b"early", &mut out).unwrap();
        assert_eq!(b.dec.decode(&out[..n]), Err(PeerError::UnexpectedType { msg_type: msg_type::DLM }));

        // A hello MAC'd with another volume's secret is refused.
        let other = HelloKey::derive(&[1; 32], &VOL);
        let mut enc = FrameEncoder::new(&other);
        let n = enc.encode_hello(&hello(Role::Initiator, 1), &mut out).unwrap();
        let mut dec = FrameDecoder::new(&key);
        assert_eq!(dec.decode(&out[..n]), Err(PeerError::BadMac));
    }

    #[test]
    fn header_fields_are_checked() {
        let (mut a, _) = connected();
        let f = send(&mut a, msg_type::DLM, b"z");
        let cases: [(usize, u8, PeerError); 5] = [
            (0, b'Q', PeerError::BadMagic { found: *b"QXPF" }),
            (4, 2, PeerError::UnsupportedVersion { found: 2 }),
            (5, 99, PeerError::UnknownType { found: 99 }),
            (6, 1, PeerError::UnknownFlags { flags: 1 }),
            (12, 1, PeerError::NonZeroReserved),
        ];
        for (offset, value, err) in cases {
            let (_, mut b) = connected();
            let mut bad = f.clone();
            bad[offset] = value;
            assert_eq!(b.dec.decode(&bad), Err(err));
        }
        let (_, mut b) = connected();
        let mut bad = f.clone();
        bad[5] = msg_type::HELLO;
        assert_eq!(b.dec.decode(&bad), Err(PeerError::UnexpectedType { msg_type: msg_type::HELLO }));
        let mut bad = f;
        bad[5] = msg_type::CLOSE;
        let (_, mut b) = connected();
        assert!(matches!(b.dec.decode(&bad), Err(PeerError::BadPayloadLength { .. })));
    }
}
