//! The daemon's own generic netlink socket to mxfs.ko.
//!
//! The kernel sends REMOTE_REQUEST unsolicited (sequence 0) to the port DAEMON_READY came
//! from, and accepts REMOTE_REPLY only from that port. neli's router hands messages it did not
//! ask for to every pending request as errors, so this socket is driven directly: DAEMON_READY
//! and the family lookup wait for their ACK here, and afterwards one thread receives while
//! any thread may send replies (a datagram send is atomic).
//!
//! Only messages from the kernel (source port 0) are accepted: any local process may send a
//! netlink datagram to our port, and a forged request would run with credentials it chose.

use std::collections::VecDeque;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mxfs_uapi::genl::{cmd, FAMILY_NAME, FAMILY_VERSION};

use crate::ctrl::{self, GENL_ID_CTRL};
use crate::error::{NlError, Op};
use crate::nlmsg::{self, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_REQUEST};
use crate::{genlmsg, msg, remote};

/// Receive buffer: the largest request is about 35 KiB; many may queue while we work.
const RCVBUF: libc::c_int = 4 << 20;
/// One datagram: a request with headers, rounded up generously.
const DATAGRAM: usize = 64 << 10;
/// How long the kernel may take to answer DAEMON_READY or the family lookup.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`Channel::recv`] got from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// The remote message of a REMOTE_REQUEST.
    Request(Vec<u8>),
    /// The kernel refused one of our REMOTE_REPLY messages with this errno.
    Refused { errno: i32 },
    /// The socket's receive queue overflowed: the kernel dropped messages to us.
    Overrun,
    /// A message that does not follow the contract (dropped).
    Malformed(String),
}

pub struct Channel {
    fd: OwnedFd,
    port: u32,
    family: u16,
    seq: AtomicU32,
    /// Requests that arrived while a synchronous request waited for its ACK.
    early: Mutex<VecDeque<Incoming>>,
}

fn os_err(what: &str) -> NlError {
    NlError::Socket(format!("{what}: {}", std::io::Error::last_os_error()))
}

impl Channel {
    /// Opens the socket and resolves the `mxfs` family (unknown family: module not loaded;
    /// other version: mismatch), as `Client::connect` does.
    pub fn open() -> Result<Channel, NlError> {
        // SAFETY: plain socket(2); the result is checked and owned at once.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_GENERIC) };
        if raw < 0 {
            return Err(os_err("cannot open a generic netlink socket"));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = RCVBUF;
        let set = |opt| {
            // SAFETY: the option value is a c_int that lives across the call.
            unsafe {
                libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, opt, &size as *const _ as *const libc::c_void, size_of::<libc::c_int>() as u32)
            }
        };
        // FORCE passes the system limit (we run as root); plain SO_RCVBUF is the fallback.
        if set(libc::SO_RCVBUFFORCE) != 0 {
            set(libc::SO_RCVBUF);
        }
        // SAFETY: sockaddr_nl is plain data; zero means "let the kernel pick our port".
        let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        let len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_nl of `len` bytes.
        if unsafe { libc::bind(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) } != 0 {
            return Err(os_err("cannot bind the generic netlink socket"));
        }
        let mut got_len = len;
        // SAFETY: getsockname writes at most `got_len` bytes into addr.
        if unsafe { libc::getsockname(fd.as_raw_fd(), &mut addr as *mut _ as *mut libc::sockaddr, &mut got_len) } != 0 {
            return Err(os_err("cannot read the netlink port id"));
        }
        let mut ch = Channel { fd, port: addr.nl_pid, family: 0, seq: AtomicU32::new(1), early: Mutex::new(VecDeque::new()) };
        let replies = ch.request(GENL_ID_CTRL, Op::ResolveFamily, &ctrl::encode_get_family(FAMILY_NAME)?)?;
        let payload = replies
            .first()
            .ok_or_else(|| NlError::Malformed("the netlink controller sent no reply to the family lookup".into()))?;
        let info = ctrl::decode_family(payload, FAMILY_NAME)?;
        if info.version != u32::from(FAMILY_VERSION) {
            return Err(NlError::VersionMismatch { kernel: info.version, tools: u32::from(FAMILY_VERSION) });
        }
        ch.family = info.id;
        Ok(ch)
    }

    /// The netlink port id the kernel will address requests to.
    pub fn port_id(&self) -> u32 {
        self.port
    }

    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Reports the daemon ready with its role and the owner's node id; waits for the ACK.
    pub fn daemon_ready(&self, volume_uuid: &str, role: u32, owner_node: u32) -> Result<(), NlError> {
        let payload = msg::encode_daemon_ready(volume_uuid, role, owner_node)?;
        self.request(self.family, Op::DaemonReady, &payload).map(|_| ())
    }

    /// Sends one REMOTE_REPLY (no ACK asked: a refusal still comes back as an error).
    pub fn reply(&self, m: &[u8]) -> Result<(), NlError> {
        let payload = remote::encode_remote_reply(m)?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.send(&nlmsg::encode(self.family, NLM_F_REQUEST, seq, self.port, &payload)?)
    }

    /// Sends one CACHE_BAST (no ACK asked, as for replies).
    pub fn cache_bast(&self, m: &[u8]) -> Result<(), NlError> {
        let payload = remote::encode_cache_bast(m)?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.send(&nlmsg::encode(self.family, NLM_F_REQUEST, seq, self.port, &payload)?)
    }

    /// Waits up to `timeout` for the next messages; empty when nothing came.
    pub fn recv(&self, timeout: Duration) -> Result<Vec<Incoming>, NlError> {
        {
            let mut early = self.early.lock().unwrap_or_else(|p| p.into_inner());
            if !early.is_empty() {
                return Ok(early.drain(..).collect());
            }
        }
        let mut buf = vec![0u8; DATAGRAM];
        match self.recv_datagram(&mut buf, timeout)? {
            None => Ok(Vec::new()),
            Some(Err(overrun)) => Ok(vec![overrun]),
            Some(Ok(n)) => Ok(self.classify(&buf[..n], None).0),
        }
    }

    fn send(&self, bytes: &[u8]) -> Result<(), NlError> {
        // SAFETY: zeroed sockaddr_nl addresses the kernel (port 0).
        let mut to: libc::sockaddr_nl = unsafe { zeroed() };
        to.nl_family = libc::AF_NETLINK as u16;
        loop {
            // SAFETY: bytes and `to` are valid for the lengths given.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr() as *const libc::c_void,
                    bytes.len(),
                    0,
                    &to as *const _ as *const libc::sockaddr,
                    size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return Err(os_err("sending to mxfs.ko failed"));
            }
        }
    }

    /// One datagram from the kernel into `buf`: `Ok(len)`, `Err(Overrun)` when the queue
    /// overflowed, `None` on timeout. Datagrams from other senders are dropped.
    fn recv_datagram(&self, buf: &mut [u8], timeout: Duration) -> Result<Option<Result<usize, Incoming>>, NlError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(os_err("waiting on the netlink socket failed"));
            }
            if r == 0 {
                return Ok(None);
            }
            // SAFETY: zeroed sockaddr_nl for the source address.
            let mut from: libc::sockaddr_nl = unsafe { zeroed() };
            let mut from_len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: buf and from are valid for the lengths given; MSG_TRUNC reports the real size.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                    &mut from as *mut _ as *mut libc::sockaddr,
                    &mut from_len,
                )
            };
            if n < 0 {
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
                    Some(libc::ENOBUFS) => return Ok(Some(Err(Incoming::Overrun))),
                    _ => return Err(os_err("receiving from mxfs.ko failed")),
                }
            }
            if from.nl_pid != 0 {
                // Not the kernel: ignore it (see the module comment).
                continue;
            }
            let n = n as usize;
            if n > buf.len() {
                return Ok(Some(Err(Incoming::Malformed(format!("netlink datagram of {n} bytes exceeds {} and was cut", buf.len())))));
            }
            return Ok(Some(Ok(n)));
        }
    }

    /// Sorts one datagram: remote requests and refusals go to the caller; with `waiting`
    /// (a synchronous request's seq and reply type), its replies and final status are
    /// returned separately.
    fn classify(&self, buf: &[u8], waiting: Option<(u32, u16)>) -> (Vec<Incoming>, Vec<Vec<u8>>, Option<i32>) {
        let (mut incoming, mut replies, mut done) = (Vec::new(), Vec::new(), None);
        for m in nlmsg::split(buf) {
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    incoming.push(Incoming::Malformed(e.to_string()));
                    break;
                }
            };
            let ours = waiting.is_some_and(|(seq, _)| m.seq == seq && seq != 0);
            match m.nl_type {
                NLMSG_ERROR => {
                    let code = nlmsg::error_code(m.payload);
                    let seq = nlmsg::error_seq(m.payload);
                    match (code, waiting) {
                        (Ok(c), Some((want, _))) if seq == Some(want) => done = Some(c),
                        (Ok(0), _) => {}
                        (Ok(c), _) => incoming.push(Incoming::Refused { errno: c }),
                        (Err(e), _) => incoming.push(Incoming::Malformed(e.to_string())),
                    }
                }
                NLMSG_NOOP => {}
                NLMSG_DONE if ours => done = Some(0),
                NLMSG_DONE => {}
                NLMSG_OVERRUN => incoming.push(Incoming::Overrun),
                t if ours && waiting.is_some_and(|(_, ty)| ty == t) => replies.push(m.payload.to_vec()),
                t if t == self.family && t != 0 => match genlmsg::decode(m.payload) {
                    Ok(g) if g.cmd == cmd::REMOTE_REQUEST => match remote::decode_remote_request(m.payload) {
                        Ok(r) => incoming.push(Incoming::Request(r)),
                        Err(e) => incoming.push(Incoming::Malformed(e.to_string())),
                    },
                    Ok(g) => incoming.push(Incoming::Malformed(format!("unexpected mxfs command {} from the kernel", g.cmd))),
                    Err(e) => incoming.push(Incoming::Malformed(e.to_string())),
                },
                t => incoming.push(Incoming::Malformed(format!("unexpected netlink message type {t}"))),
            }
        }
        (incoming, replies, done)
    }

    /// Sends one request with NLM_F_ACK and collects the replies of type `nl_type` until the
    /// ACK; a kernel error ends it with its errno. Requests that arrive meanwhile are kept for
    /// the next `recv`.
    fn request(&self, nl_type: u16, op: Op, payload: &[u8]) -> Result<Vec<Vec<u8>>, NlError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.send(&nlmsg::encode(nl_type, NLM_F_REQUEST | NLM_F_ACK, seq, self.port, payload)?)?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let mut buf = vec![0u8; DATAGRAM];
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NlError::Socket(format!("no answer to {op} within {} s", REQUEST_TIMEOUT.as_secs())));
            }
            let n = match self.recv_datagram(&mut buf, left)? {
                None => continue,
                Some(Err(other)) => {
                    self.early.lock().unwrap_or_else(|p| p.into_inner()).push_back(other);
                    continue;
                }
                Some(Ok(n)) => n,
            };
            let (incoming, replies, done) = self.classify(&buf[..n], Some((seq, nl_type)));
            self.early.lock().unwrap_or_else(|p| p.into_inner()).extend(incoming);
            out.extend(replies);
            match done {
                Some(0) => return Ok(out),
                Some(errno) => return Err(NlError::from_errno(op, errno)),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn open_matches_whether_the_module_is_loaded() {
        let loaded = Path::new("/sys/module/mxfs").exists();
        match Channel::open() {
            Ok(ch) => {
                assert!(loaded, "family mxfs resolved but /sys/module/mxfs is absent");
                assert!(ch.family_id() >= 0x10);
                assert_ne!(ch.port_id(), 0);
            }
            Err(NlError::ModuleNotLoaded) => assert!(!loaded),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}
