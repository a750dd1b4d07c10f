//! The peer handshake and the frame reader over a blocking TCP stream.
//!
//! Both ends send HELLO at once, read the other's, derive the session keys, send READY under
//! the new key and wait for the other's READY. The codec (`mxfs_uapi::peer`) enforces the
//! phases; this module only moves bytes, bounds the buffer and applies the identity rules.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mxfs_disk::identity::check_node_id_collision;
use mxfs_uapi::ident::{Uuid, UuidText};
use mxfs_uapi::peer::{
    msg_type, session_keys, Decoded, FrameDecoder, FrameEncoder, Hello, HelloKey, PeerError, HEADER_LEN, MAC_LEN,
    MAX_FRAME_LEN,
};

/// Why a connection was refused or ended.
#[derive(Debug)]
pub enum ConnError {
    Io(io::Error),
    /// The peer's bytes failed the protocol (a bad MAC here means another volume secret).
    Protocol(PeerError),
    /// The handshake did not finish in time.
    Timeout,
    /// The peer closed the connection.
    Closed,
    /// The peer is not the node we meant to reach.
    WrongPeer { expected: Uuid, got: Uuid },
    /// A different node with our node id.
    Collision(String),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Protocol(PeerError::BadMac) => {
                f.write_str("peer frame MAC mismatch: the peer does not hold this volume's secret (wrong lockstate?)")
            }
            Self::Protocol(e) => write!(f, "{e}"),
            Self::Timeout => f.write_str("handshake timed out"),
            Self::Closed => f.write_str("connection closed by peer"),
            Self::WrongPeer { expected, got } => {
                write!(f, "expected node {} but node {} answered", UuidText(expected), UuidText(got))
            }
            Self::Collision(s) => f.write_str(s),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            ConnError::Timeout
        } else {
            ConnError::Io(e)
        }
    }
}

impl From<PeerError> for ConnError {
    fn from(e: PeerError) -> Self {
        ConnError::Protocol(e)
    }
}

impl ConnError {
    /// A refusal worth a warning (authentication, identity), not just a network hiccup.
    pub fn is_rejection(&self) -> bool {
        matches!(self, Self::Protocol(_) | Self::WrongPeer { .. } | Self::Collision(_))
    }
}

/// Incoming bytes of one connection: a buffer that grows only to what the decoder asks for
/// (at most one whole frame, 1 MiB + 56 bytes).
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// One frame as the reader hands it out.
pub struct OwnedFrame {
    pub msg_type: u8,
    pub payload: Vec<u8>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    pub fn new() -> Reader {
        Reader { buf: vec![0; 64 * 1024], start: 0, end: 0 }
    }

    /// Reads until one whole frame has been verified by `dec`.
    pub fn next(&mut self, stream: &mut TcpStream, dec: &mut FrameDecoder) -> Result<OwnedFrame, ConnError> {
        loop {
            match dec.decode(&self.buf[self.start..self.end])? {
                Decoded::Frame { frame, consumed } => {
                    let out = OwnedFrame { msg_type: frame.msg_type, payload: frame.payload.to_vec() };
                    self.start += consumed;
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    }
                    return Ok(out);
                }
                Decoded::NeedMore { total } => {
                    let total = total.min(MAX_FRAME_LEN);
                    if self.start + total > self.buf.len() {
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                        if total > self.buf.len() {
                            self.buf.resize(total, 0);
                        }
                    }
                    let n = stream.read(&mut self.buf[self.end..])?;
                    if n == 0 {
                        return Err(ConnError::Closed);
                    }
                    self.end += n;
                }
            }
        }
    }
}

/// What each end knows about itself for the handshake.
#[derive(Clone, Copy)]
pub struct Local {
    pub hello: Hello,
    pub secret: [u8; 32],
}

/// A finished handshake: the codec ends and the peer's hello.
pub struct Session {
    pub enc: FrameEncoder,
    pub dec: FrameDecoder,
    pub reader: Reader,
    pub remote: Hello,
}

fn send_frame(stream: &mut TcpStream, enc: &mut FrameEncoder, t: u8, payload: &[u8]) -> Result<(), ConnError> {
    let mut out = vec![0u8; HEADER_LEN + payload.len() + MAC_LEN];
    let n = enc.encode(t, payload, &mut out)?;
    stream.write_all(&out[..n])?;
    Ok(())
}

/// Runs the handshake on a connected stream. `expect` is the node uuid we meant to reach
/// (initiators that dialled a discovered node).
pub fn handshake(
    stream: &mut TcpStream,
    local: &Local,
    expect: Option<Uuid>,
    timeout: Duration,
) -> Result<Session, ConnError> {
    let vol = local.hello.volume_uuid;
    let deadline = Instant::now() + timeout;
    let key = HelloKey::derive(&local.secret, &vol);
    let mut enc = FrameEncoder::new(&key);
    let mut dec = FrameDecoder::new(&key);
    let mut reader = Reader::new();
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    let hello = local.hello.encode()?;
    send_frame(stream, &mut enc, msg_type::HELLO, &hello)?;
    let f = reader.next(stream, &mut dec)?;
    let remote = Hello::decode(&f.payload, &vol)?;
    if let Some(expected) = expect {
        if remote.node_uuid != expected {
            return Err(ConnError::WrongPeer { expected, got: remote.node_uuid });
        }
    }
    if let Err(c) = check_node_id_collision(&local.hello.node_uuid, &remote.node_uuid) {
        return Err(ConnError::Collision(c.to_string()));
    }
    let keys = session_keys(&local.secret, &vol, &local.hello, &remote)?;
    enc.establish(&keys)?;
    dec.establish(&keys)?;
    send_frame(stream, &mut enc, msg_type::READY, &[])?;
    if Instant::now() > deadline {
        return Err(ConnError::Timeout);
    }
    let f = reader.next(stream, &mut dec)?;
    if f.msg_type != msg_type::READY || !dec.is_confirmed() {
        return Err(ConnError::Protocol(PeerError::UnexpectedType { msg_type: f.msg_type }));
    }
    stream.set_read_timeout(None)?;
    Ok(Session { enc, dec, reader, remote })
}

/// Sends one frame on an established session (used by the writer thread).
pub fn write_frame(w: &mut impl Write, enc: &mut FrameEncoder, t: u8, payload: &[u8]) -> Result<(), ConnError> {
    let sealed = enc.seal(t, payload)?;
    w.write_all(&sealed.header)?;
    w.write_all(payload)?;
    w.write_all(&sealed.mac)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxfs_uapi::ident::node_id_from_uuid;
    use mxfs_uapi::peer::Role;
    use std::net::TcpListener;

    const VOL: Uuid = [0x42; 16];

    fn local(role: Role, b: u8, secret: [u8; 32]) -> Local {
        let uuid = [b; 16];
        Local {
            hello: Hello {
                role,
                tcp_port: 7600,
                node_id: node_id_from_uuid(&uuid),
                node_uuid: uuid,
                volume_uuid: VOL,
                nonce: [b ^ 0x5a; 32],
                incarnation: 9,
            },
            secret,
        }
    }

    /// Runs both ends over a real loopback connection.
    fn pair(a: Local, b: Local, expect: Option<Uuid>) -> (Result<Session, ConnError>, Result<Session, ConnError>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            handshake(&mut s, &b, None, Duration::from_secs(2))
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let ra = handshake(&mut c, &a, expect, Duration::from_secs(2));
        drop(c);
        (ra, t.join().unwrap())
    }

    #[test]
    fn same_secret_establishes_and_frames_flow() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut sess = handshake(&mut s, &local(Role::Responder, 2, [7; 32]), None, Duration::from_secs(2)).unwrap();
            let f = sess.reader.next(&mut s, &mut sess.dec).unwrap();
            (sess.remote.node_uuid, f.msg_type, f.payload)
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let mut sess = handshake(&mut c, &local(Role::Initiator, 1, [7; 32]), Some([2; 16]), Duration::from_secs(2)).unwrap();
        assert_eq!(sess.remote.node_uuid, [2; 16]);
        write_frame(&mut c, &mut sess.enc, msg_type::DLM, b"hello dlm").unwrap();
        let (uuid, t, p) = t.join().unwrap();
        assert_eq!((uuid, t, p.as_slice()), ([1; 16], msg_type::DLM, &b"hello dlm"[..]));
    }

    #[test]
    fn wrong_secret_is_refused_on_both_ends() {
        let (a, b) = pair(local(Role::Initiator, 1, [7; 32]), local(Role::Responder, 2, [8; 32]), None);
        assert!(matches!(a, Err(ConnError::Protocol(PeerError::BadMac))), "{:?}", a.err());
        assert!(matches!(b, Err(ConnError::Protocol(PeerError::BadMac))), "{:?}", b.err());
        assert!(a.err().unwrap().is_rejection());
    }

    #[test]
    fn the_wrong_node_or_ourselves_is_refused() {
        let (a, _) = pair(local(Role::Initiator, 1, [7; 32]), local(Role::Responder, 2, [7; 32]), Some([3; 16]));
        assert!(matches!(a, Err(ConnError::WrongPeer { .. })));
        let (a, _) = pair(local(Role::Initiator, 1, [7; 32]), local(Role::Responder, 1, [7; 32]), None);
        assert!(matches!(a, Err(ConnError::Protocol(PeerError::SelfConnection))), "{:?}", a.err());
    }

    #[test]
    fn a_silent_peer_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _held = l.accept().unwrap();
        let r = handshake(&mut c, &local(Role::Initiator, 1, [7; 32]), None, Duration::from_millis(200));
        assert!(matches!(r, Err(ConnError::Timeout)), "{:?}", r.err());
    }
}
