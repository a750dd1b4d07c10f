//! The local control socket: `RUN_DIR/control.sock`, a Unix stream socket speaking one text
//! line per request and one per answer. It lets tests and operators take and release cluster
//! locks and read the node's state without the kernel:
//!
//! ```text
//! lock NAME MODE   -> granted NAME MODE | error ...   (waits until granted)
//! unlock NAME      -> ok | error ...                 (the lock stays cached)
//! release NAME     -> ok | error ...                 (drop the cached lock if unused)
//! master NAME      -> master 0xNODEID | error ...
//! status           -> status {json}
//! remote HEX       -> reply HEX | error ...      (one remote request, as if from the kernel)
//! ping             -> pong
//! ```
//!
//! NAME is 1–256 bytes of `[A-Za-z0-9._:/-]`; MODE is NL, CR, CW, PR, PW or EX. Each
//! connection is one client: its locks are unlocked when it disconnects. Lines are at most
//! 1 KiB (`remote` lines up to 80 KiB: a request is at most `remote::MAX_MSG` bytes);
//! connections at most 256.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use mxfs_cluster::view::ResName;
use mxfs_cluster::Mode;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::engine::{CtlReq, Event};
use super::remote::RemoteEvent;
use crate::remote::{request_header, Responder};

const MAX_LINE: usize = 1024;
/// `remote ` and a whole request in hex.
const MAX_REMOTE_LINE: usize = 7 + 2 * mxfs_uapi::remote::MAX_MSG + 1;
const MAX_CLIENTS: usize = 256;

pub struct Control {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    pub fn start(run_dir: &Path, engine: SyncSender<Event>) -> Result<Control, String> {
        std::fs::create_dir_all(run_dir).map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
        let path = run_dir.join("control.sock");
        if UnixStream::connect(&path).is_ok() {
            return Err(format!("{} is in use: is another mxfsd running with this --run-dir?", path.display()));
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mxfsd-control".into())
            .spawn(move || serve(listener, engine, st))
            .map_err(|e| e.to_string())?;
        log::info!("control socket at {}", path.display());
        Ok(Control { path, stop, thread: Some(thread) })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(listener: UnixListener, engine: SyncSender<Event>, stop: Arc<AtomicBool>) {
    let next = AtomicU64::new(1);
    let clients = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let ready = {
            let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0)
        };
        if ready == 0 {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else { continue };
        if clients.load(Ordering::Relaxed) >= MAX_CLIENTS {
            let mut s = stream;
            let _ = s.write_all(b"error too many control clients\n");
            continue;
        }
        clients.fetch_add(1, Ordering::Relaxed);
        let id = next.fetch_add(1, Ordering::Relaxed);
        let (eng, cl) = (engine.clone(), clients.clone());
        let spawned = std::thread::Builder::new().name("mxfsd-ctl-client".into()).spawn(move || {
            client(stream, id, &eng);
            let _ = eng.send(Event::Ctl(CtlReq::Gone { client: id }));
            cl.fetch_sub(1, Ordering::Relaxed);
        });
        if spawned.is_err() {
            clients.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Parses a resource name as the control protocol allows it.
pub fn parse_name(s: &str) -> Result<ResName, String> {
    if s.is_empty() || s.len() > 256 {
        return Err("resource names are 1 to 256 bytes".into());
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b)) {
        return Err("resource names use [A-Za-z0-9._:/-]".into());
    }
    Ok(ResName::new(s.as_bytes()))
}

pub fn parse_mode(s: &str) -> Result<Mode, String> {
    Mode::ALL
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown mode '{s}': use NL, CR, CW, PR, PW or EX"))
}

fn client(stream: UnixStream, id: u64, engine: &SyncSender<Event>) {
    let Ok(mut out) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream.take(u64::MAX));
    let mut line = String::new();
    loop {
        line.clear();
        match reader.by_ref().take(MAX_REMOTE_LINE as u64 + 1).read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let limit = if line.starts_with("remote ") { MAX_REMOTE_LINE } else { MAX_LINE };
        if line.len() > limit || !line.ends_with('\n') {
            let _ = out.write_all(b"error line too long\n");
            return;
        }
        let answer = handle(line.trim(), id, engine);
        if out.write_all(answer.as_bytes()).and_then(|_| out.write_all(b"\n")).is_err() {
            return;
        }
    }
}

fn handle(line: &str, id: u64, engine: &SyncSender<Event>) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (tx, rx) = channel();
    let req = match words.as_slice() {
        ["ping"] => return "pong".into(),
        ["remote", hex] => return remote(hex, engine),
        ["status"] => CtlReq::Status { reply: tx },
        ["lock", name, mode] => match (parse_name(name), parse_mode(mode)) {
            (Ok(res), Ok(mode)) => CtlReq::Lock { client: id, res, mode, reply: tx },
            (Err(e), _) | (_, Err(e)) => return format!("error {e}"),
        },
        ["unlock", name] => match parse_name(name) {
            Ok(res) => CtlReq::Unlock { client: id, res, reply: tx },
            Err(e) => return format!("error {e}"),
        },
        ["release", name] => match parse_name(name) {
            Ok(res) => CtlReq::Release { res, reply: tx },
            Err(e) => return format!("error {e}"),
        },
        ["master", name] => match parse_name(name) {
            Ok(res) => CtlReq::Master { res, reply: tx },
            Err(e) => return format!("error {e}"),
        },
        _ => return "error unknown request; use lock, unlock, release, master, status, remote or ping".into(),
    };
    if engine.send(Event::Ctl(req)).is_err() {
        return "error the daemon is stopping".into();
    }
    rx.recv().unwrap_or_else(|_| "error the daemon is stopping".into())
}

/// Submits one encoded remote request as the kernel would, and waits for its reply.
fn remote(hex: &str, engine: &SyncSender<Event>) -> String {
    let Some(msg) = from_hex(hex) else { return "error remote takes one request in hex".into() };
    let Some(h) = request_header(&msg, "control socket") else { return "error malformed remote request".into() };
    let (tx, rx) = channel();
    let sink = Box::new(move |bytes: Vec<u8>| {
        let _ = tx.send(format!("reply {}", to_hex(&bytes)));
    });
    if engine.send(Event::Remote(RemoteEvent::Request { msg, reply: Responder::new(h, sink) })).is_err() {
        return "error the daemon is stopping".into();
    }
    rx.recv().unwrap_or_else(|_| "error the daemon is stopping".into())
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_modes_are_checked() {
        assert!(parse_name("inode/42:data").is_ok());
        assert!(parse_name("").is_err());
        assert!(parse_name("a b").is_err());
        assert!(parse_name(&"x".repeat(257)).is_err());
        assert_eq!(parse_mode("ex"), Ok(Mode::EX));
        assert!(parse_mode("XX").is_err());
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(from_hex(&to_hex(&[0, 1, 0xab, 0xff])).unwrap(), vec![0, 1, 0xab, 0xff]);
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
    }
}
