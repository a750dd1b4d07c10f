//! Member mode, daemon side: remote VFS operations (`mxfs_uapi::remote`).
//!
//! A member's kernel sends each operation to its mxfsd (netlink REMOTE_REQUEST); that mxfsd
//! forwards it to the owner's mxfsd as a REMOTE_OP peer frame, unchanged; the owner's
//! executor runs it on the owner's mount and the reply travels back the same way. Which node
//! is the owner is decided once at start by the election (`election`).
//!
//! Every request gets exactly one reply: a [`Responder`] that is dropped unanswered sends
//! EIO, so a lost request can never leave the kernel waiting.

pub mod changes;
pub mod detached;
pub mod dirents;
pub mod election;
pub mod exec;
pub mod kernel;
pub mod locks;
pub mod retry;
pub mod ops;
pub mod reclaim;
pub mod sys;

use mxfs_uapi::remote::{decode_header, encode_reply, Header, Reply, MAX_MSG};

use sys::Errno;

/// Where a reply goes: the kernel's socket, a peer, or a control client.
pub type Sink = Box<dyn FnOnce(Vec<u8>) + Send>;

/// The one reply owed to one request.
pub struct Responder {
    op: u8,
    id: u64,
    sink: Option<Sink>,
}

impl Responder {
    pub fn new(h: Header, sink: Sink) -> Responder {
        Responder { op: h.op, id: h.id, sink: Some(sink) }
    }

    pub fn op(&self) -> u8 {
        self.op
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// For a message that is never answered (CACHE_DOWN).
    pub fn discard(mut self) {
        self.sink = None;
    }

    /// Passes on an already encoded reply (from the owner).
    pub fn send(mut self, bytes: Vec<u8>) {
        if let Some(s) = self.sink.take() {
            s(bytes);
        }
    }

    pub fn result(self, r: Result<Reply<'_>, Errno>) {
        let mut buf = vec![0u8; MAX_MSG];
        match encode_reply(self.op, self.id, &r, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                self.send(buf);
            }
            Err(e) => {
                log::error!("cannot encode the reply to remote op {} id {}: {e}; answering EIO", self.op, self.id);
                self.fail(libc::EIO as Errno);
            }
        }
    }

    pub fn fail(mut self, errno: Errno) {
        if let Some(s) = self.sink.take() {
            s(error_reply(self.op, self.id, errno));
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(s) = self.sink.take() {
            s(error_reply(self.op, self.id, libc::EIO as Errno));
        }
    }
}

pub fn error_reply(op: u8, id: u64, errno: Errno) -> Vec<u8> {
    let mut buf = vec![0u8; 32];
    let n = encode_reply(op, id, &Err(errno), &mut buf).unwrap_or(0);
    buf.truncate(n);
    buf
}

/// The header of a request that can be answered, or a log line saying why not.
pub fn request_header(msg: &[u8], from: &str) -> Option<Header> {
    match decode_header(msg) {
        Ok(h) if !h.is_reply => Some(h),
        Ok(h) => {
            log::warn!("{from}: remote reply id {} where a request was expected; dropped", h.id);
            None
        }
        Err(e) => {
            log::warn!("{from}: malformed remote request dropped: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests;
