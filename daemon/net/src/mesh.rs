//! The TCP peer mesh: one authenticated connection per pair of nodes.
//!
//! Threads: a listener (accepts, bounded number of handshakes at once), a connector (dials
//! every discovered node that has no connection, with exponential backoff), and per
//! connection a reader (verifies frames, hands them to the callback) and a writer (drains a
//! bounded queue; a peer that cannot keep up is disconnected rather than buffered without end).
//!
//! Both ends may dial each other at once. The registry keeps one connection per node: a
//! newer incarnation replaces an older one; between two connections of the same incarnation,
//! the one dialled by the lower node id wins, so both ends keep the same one.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mxfs_disk::identity::check_node_id_collision;
use mxfs_uapi::discovery::{Announcement, DiscoveryKey};
use mxfs_uapi::ident::{Hostname, Uuid, UuidText};
use mxfs_uapi::peer::{msg_type, Hello, Role};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::discovery::{Discovery, DiscoveryConfig, DiscoveryEvent};
use crate::handshake::{self, ConnError, Local};

/// First reconnect delay; doubles per failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A node not announced for this long is no longer dialled.
const FORGET_AFTER: Duration = Duration::from_secs(120);
/// Handshakes in progress at once (inbound); more are refused at accept.
const MAX_HANDSHAKES: usize = 64;
/// Established connections at most (one per heartbeat slot, twice over for duplicates).
const MAX_CONNECTIONS: usize = 2048;

/// Everything the mesh needs to know about this node and volume.
#[derive(Clone, Debug)]
pub struct MeshConfig {
    pub volume_uuid: Uuid,
    pub secret: [u8; 32],
    pub node_uuid: Uuid,
    pub node_id: u32,
    pub incarnation: u64,
    pub hostname: Hostname,
    /// Where to accept peers (port 7600 normally; port 0 picks a free one).
    pub listen: SocketAddr,
    pub discovery: DiscoveryConfig,
    /// Frames queued per connection before it is dropped as too slow.
    pub send_queue: usize,
    pub handshake_timeout: Duration,
}

/// What the mesh reports to the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// An authenticated connection to `node` (the peer proved it holds the volume secret).
    Up { node: u32, uuid: Uuid, incarnation: u64, addr: SocketAddr },
    /// The connection to `node` is gone.
    Down { node: u32 },
    /// A verified data frame from `node`.
    Frame { node: u32, msg_type: u8, payload: Vec<u8> },
}

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    NotConnected,
    /// The connection's queue was full: it has been dropped (the peer will reconnect).
    QueueFull,
}

pub type Sink = Arc<dyn Fn(NetEvent) + Send + Sync>;

enum Out {
    Frame(u8, Vec<u8>),
    Close,
}

struct Conn {
    id: u64,
    incarnation: u64,
    uuid: Uuid,
    /// Node id of the end that dialled.
    dialler: u32,
    tx: SyncSender<Out>,
    stream: TcpStream,
    since: Instant,
}

struct Book {
    uuid: Uuid,
    addr: SocketAddr,
    hostname: Hostname,
    last_seen: Instant,
    backoff: Duration,
    next_attempt: Instant,
    dialling: bool,
}

#[derive(Default)]
struct Registry {
    conns: HashMap<u32, Conn>,
    book: HashMap<u32, Book>,
}

struct Shared {
    cfg: MeshConfig,
    port: u16,
    stop: AtomicBool,
    next_id: AtomicU64,
    handshakes: AtomicUsize,
    reg: Mutex<Registry>,
    sink: Sink,
}

impl Shared {
    fn reg(&self) -> MutexGuard<'_, Registry> {
        match self.reg.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn local(&self, role: Role) -> Result<Local, io::Error> {
        let nonce = mxfs_disk::random::bytes::<32>()?;
        Ok(Local {
            hello: Hello {
                role,
                tcp_port: self.port,
                node_id: self.cfg.node_id,
                node_uuid: self.cfg.node_uuid,
                volume_uuid: self.cfg.volume_uuid,
                nonce,
                incarnation: self.cfg.incarnation,
            },
            secret: self.cfg.secret,
        })
    }
}

/// A running mesh. Dropping it stops it.
pub struct Mesh {
    shared: Arc<Shared>,
    epoch: Arc<AtomicU64>,
    discovery: Option<Discovery>,
    threads: Vec<JoinHandle<()>>,
}

impl Mesh {
    /// Binds the listener, starts discovery, the listener and the connector.
    pub fn start(cfg: MeshConfig, sink: Sink) -> io::Result<Mesh> {
        let listener = bind_listener(cfg.listen)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            port,
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            handshakes: AtomicUsize::new(0),
            reg: Mutex::new(Registry::default()),
            sink,
        });
        let epoch = Arc::new(AtomicU64::new(0));
        let me = Announcement {
            volume_uuid: cfg.volume_uuid,
            node_uuid: cfg.node_uuid,
            node_id: cfg.node_id,
            tcp_port: port,
            epoch: 0,
            hostname: cfg.hostname,
        };
        let key = DiscoveryKey::derive(&cfg.secret, &cfg.volume_uuid);
        let sh = shared.clone();
        let discovery = Discovery::start(cfg.discovery.clone(), me, key, epoch.clone(), move |ev| on_discovery(&sh, ev))?;
        let mut threads = Vec::new();
        let sh = shared.clone();
        threads.push(std::thread::Builder::new().name("mxfsd-listen".into()).spawn(move || listen(sh, listener))?);
        let sh = shared.clone();
        threads.push(std::thread::Builder::new().name("mxfsd-connect".into()).spawn(move || connector(sh))?);
        Ok(Mesh { shared, epoch, discovery: Some(discovery), threads })
    }

    /// The TCP port peers reach us on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The membership epoch to announce.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// Queues one frame to `node`.
    pub fn send(&self, node: u32, t: u8, payload: Vec<u8>) -> Result<(), SendError> {
        let mut reg = self.shared.reg();
        let Some(c) = reg.conns.get(&node) else {
            return Err(SendError::NotConnected);
        };
        match c.tx.try_send(Out::Frame(t, payload)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                log::warn!("peer {node:#010x}: send queue full ({} frames); dropping the connection", self.shared.cfg.send_queue);
                if let Some(c) = reg.conns.remove(&node) {
                    let _ = c.stream.shutdown(Shutdown::Both);
                }
                drop(reg);
                (self.shared.sink)(NetEvent::Down { node });
                Err(SendError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => Err(SendError::NotConnected),
        }
    }

    /// Nodes with an established connection.
    pub fn connected(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.shared.reg().conns.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Known nodes: (node id, uuid, address, hostname, connected).
    pub fn known(&self) -> Vec<(u32, Uuid, SocketAddr, Hostname, bool)> {
        let reg = self.shared.reg();
        let mut v: Vec<_> = reg
            .book
            .iter()
            .map(|(n, b)| (*n, b.uuid, b.addr, b.hostname, reg.conns.contains_key(n)))
            .collect();
        v.sort_by_key(|e| e.0);
        v
    }

    /// Sends CLOSE on every connection and stops all threads.
    pub fn shutdown(&mut self) {
        if self.shared.stop.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(mut d) = self.discovery.take() {
            d.stop();
        }
        let conns: Vec<Conn> = self.shared.reg().conns.drain().map(|(_, c)| c).collect();
        for c in &conns {
            let _ = c.tx.try_send(Out::Close);
        }
        // Give the writers a moment to flush CLOSE, then cut whatever is left.
        std::thread::sleep(Duration::from_millis(50));
        for c in conns {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    Ok(s.into())
}

fn on_discovery(sh: &Arc<Shared>, ev: DiscoveryEvent) {
    let DiscoveryEvent::Found { ann, from } = ev;
    if let Err(c) = check_node_id_collision(&sh.cfg.node_uuid, &ann.node_uuid) {
        log::error!("discovery: refusing {from}: {c}");
        return;
    }
    let addr = SocketAddr::new(from.ip(), ann.tcp_port);
    let now = Instant::now();
    let mut reg = sh.reg();
    match reg.book.get_mut(&ann.node_id) {
        Some(b) if b.uuid == ann.node_uuid => {
            if b.addr != addr {
                log::info!("discovery: node {:#010x} ({}) moved to {addr}", ann.node_id, ann.hostname);
                b.addr = addr;
                b.next_attempt = now;
                b.backoff = BACKOFF_MIN;
            }
            b.last_seen = now;
            b.hostname = ann.hostname;
        }
        Some(b) => {
            // Two other nodes share a node id; keep the one we knew while it is alive.
            if now.duration_since(b.last_seen) < FORGET_AFTER {
                log::error!(
                    "discovery: nodes {} and {} both have node id {:#010x}; ignoring the newer one at {from}: delete /etc/mxfs/node.uuid on one of them",
                    UuidText(&b.uuid),
                    UuidText(&ann.node_uuid),
                    ann.node_id
                );
                return;
            }
            reg.book.remove(&ann.node_id);
            drop(reg);
            on_discovery(sh, DiscoveryEvent::Found { ann, from });
        }
        None => {
            if reg.book.len() >= MAX_CONNECTIONS {
                return;
            }
            log::info!(
                "discovery: found node {:#010x} ({}, {}) at {addr}, epoch {}",
                ann.node_id,
                UuidText(&ann.node_uuid),
                ann.hostname,
                ann.epoch
            );
            reg.book.insert(
                ann.node_id,
                Book {
                    uuid: ann.node_uuid,
                    addr,
                    hostname: ann.hostname,
                    last_seen: now,
                    backoff: BACKOFF_MIN,
                    next_attempt: now,
                    dialling: false,
                },
            );
        }
    }
}

fn connector(sh: Arc<Shared>) {
    while !sh.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut dial = Vec::new();
        {
            let mut reg = sh.reg();
            reg.book.retain(|_, b| b.dialling || now.duration_since(b.last_seen) < FORGET_AFTER);
            let connected: Vec<u32> = reg.conns.keys().copied().collect();
            for (node, b) in reg.book.iter_mut() {
                if !b.dialling && !connected.contains(node) && now >= b.next_attempt {
                    b.dialling = true;
                    dial.push((*node, b.uuid, b.addr));
                }
            }
        }
        for (node, uuid, addr) in dial {
            let s = sh.clone();
            let spawned = std::thread::Builder::new()
                .name("mxfsd-peer".into())
                .spawn(move || dial_one(s, node, uuid, addr));
            if spawned.is_err() {
                dial_failed(&sh, node, false);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dial_failed(sh: &Shared, node: u32, rejected: bool) {
    let mut reg = sh.reg();
    if let Some(b) = reg.book.get_mut(&node) {
        b.dialling = false;
        b.next_attempt = Instant::now() + jitter(b.backoff);
        b.backoff = (b.backoff * 2).min(BACKOFF_MAX);
        if rejected {
            b.backoff = BACKOFF_MAX;
        }
    }
}

/// 75–125 % of `d`, so nodes that failed together do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let r = mxfs_disk::random::bytes::<1>().map(|b| b[0]).unwrap_or(128);
    d * (96 + u32::from(r) / 4) / 128
}

fn dial_one(sh: Arc<Shared>, node: u32, uuid: Uuid, addr: SocketAddr) {
    let result = TcpStream::connect_timeout(&addr, sh.cfg.handshake_timeout)
        .map_err(ConnError::from)
        .and_then(|stream| {
            let local = sh.local(Role::Initiator).map_err(ConnError::Io)?;
            run_conn(&sh, stream, local, Some(uuid), addr)
        });
    match result {
        Ok(()) => {
            let mut reg = sh.reg();
            if let Some(b) = reg.book.get_mut(&node) {
                b.dialling = false;
            }
        }
        Err(e) => {
            if e.is_rejection() {
                log::warn!("peer {addr}: rejected: {e}");
            } else {
                log::debug!("peer {addr}: connect failed: {e}");
            }
            dial_failed(&sh, node, e.is_rejection());
        }
    }
}

fn listen(sh: Arc<Shared>, listener: TcpListener) {
    while !sh.stop.load(Ordering::Relaxed) {
        let ready = {
            let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0)
        };
        if ready == 0 {
            continue;
        }
        let (stream, addr) = match listener.accept() {
            Ok(x) => x,
            Err(e) => {
                log::debug!("peer listener: accept failed: {e}");
                continue;
            }
        };
        if sh.handshakes.load(Ordering::Relaxed) >= MAX_HANDSHAKES {
            log::warn!("peer {addr}: refused, {MAX_HANDSHAKES} handshakes already in progress");
            continue;
        }
        sh.handshakes.fetch_add(1, Ordering::Relaxed);
        let s = sh.clone();
        let spawned = std::thread::Builder::new().name("mxfsd-peer".into()).spawn(move || {
            let r = s.local(Role::Responder).map_err(ConnError::Io).and_then(|l| run_conn(&s, stream, l, None, addr));
            if let Err(e) = r {
                if e.is_rejection() {
                    log::warn!("peer {addr}: rejected: {e}");
                } else {
                    log::debug!("peer {addr}: {e}");
                }
            }
        });
        if spawned.is_err() {
            sh.handshakes.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Handshake, register, then read frames until the connection ends. The handshake counter
/// (responders only) is released as soon as the handshake is over.
fn run_conn(
    sh: &Arc<Shared>,
    mut stream: TcpStream,
    local: Local,
    expect: Option<Uuid>,
    addr: SocketAddr,
) -> Result<(), ConnError> {
    let responder = local.hello.role == Role::Responder;
    let _ = stream.set_nodelay(true);
    let hs = handshake::handshake(&mut stream, &local, expect, sh.cfg.handshake_timeout);
    if responder {
        sh.handshakes.fetch_sub(1, Ordering::Relaxed);
    }
    let mut session = hs?;
    let remote = session.remote;
    let node = remote.node_id;
    let dialler = if responder { node } else { sh.cfg.node_id };
    let id = sh.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = sync_channel(sh.cfg.send_queue.max(1));
    let writer_stream = stream.try_clone()?;
    let peer_addr = SocketAddr::new(addr.ip(), remote.tcp_port);
    {
        let mut reg = sh.reg();
        if reg.conns.len() >= MAX_CONNECTIONS {
            return Err(ConnError::Io(io::Error::other("too many peer connections")));
        }
        if let Some(old) = reg.conns.get(&node) {
            if old.uuid != remote.node_uuid {
                return Err(ConnError::Collision(format!(
                    "node {} at {addr} has the node id {node:#010x} of connected node {}; delete /etc/mxfs/node.uuid on one of them",
                    UuidText(&remote.node_uuid),
                    UuidText(&old.uuid)
                )));
            }
            let keep_old = old.incarnation > remote.incarnation
                || (old.incarnation == remote.incarnation && old.dialler <= dialler);
            if keep_old {
                log::debug!("peer {node:#010x}: duplicate connection from {addr} closed");
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(());
            }
            if let Some(old) = reg.conns.remove(&node) {
                let _ = old.tx.try_send(Out::Close);
                let _ = old.stream.shutdown(Shutdown::Both);
            }
        }
        reg.conns.insert(
            node,
            Conn {
                id,
                incarnation: remote.incarnation,
                uuid: remote.node_uuid,
                dialler,
                tx,
                stream: stream.try_clone()?,
                since: Instant::now(),
            },
        );
        // The address that works is the one to redial (announcements may come from another).
        let now = Instant::now();
        let b = reg.book.entry(node).or_insert(Book {
            uuid: remote.node_uuid,
            addr: peer_addr,
            hostname: Hostname::EMPTY,
            last_seen: now,
            backoff: BACKOFF_MIN,
            next_attempt: now,
            dialling: false,
        });
        if b.uuid == remote.node_uuid {
            b.addr = peer_addr;
            b.last_seen = now;
        }
    }
    // Outside the lock: the sink may block on a full engine queue, and the engine takes the
    // lock to send. A replaced connection reports no Down (it is no longer registered).
    (sh.sink)(NetEvent::Up { node, uuid: remote.node_uuid, incarnation: remote.incarnation, addr: peer_addr });
    log::info!(
        "peer {node:#010x} ({}) at {addr}: authenticated, incarnation {}",
        UuidText(&remote.node_uuid),
        remote.incarnation
    );
    let mut enc = session.enc;
    let w = std::thread::Builder::new()
        .name("mxfsd-peer-tx".into())
        .spawn(move || writer(writer_stream, &mut enc, rx));
    if w.is_err() {
        unregister(sh, node, id);
        return Err(ConnError::Io(io::Error::other("cannot start writer thread")));
    }
    let end = loop {
        match session.reader.next(&mut stream, &mut session.dec) {
            Ok(f) if f.msg_type == msg_type::CLOSE => break ConnError::Closed,
            Ok(f) => (sh.sink)(NetEvent::Frame { node, msg_type: f.msg_type, payload: f.payload }),
            Err(e) => break e,
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    if unregister(sh, node, id) && !sh.stop.load(Ordering::Relaxed) {
        match &end {
            ConnError::Closed => log::info!("peer {node:#010x}: connection closed"),
            e => log::warn!("peer {node:#010x}: connection lost: {e}"),
        }
    }
    Ok(())
}

/// Removes connection `id` of `node` if it is still the registered one; reports Down.
fn unregister(sh: &Shared, node: u32, id: u64) -> bool {
    let mut reg = sh.reg();
    if reg.conns.get(&node).is_some_and(|c| c.id == id) {
        let c = reg.conns.remove(&node);
        let long_lived = c.is_some_and(|c| c.since.elapsed() > Duration::from_secs(10));
        if let Some(b) = reg.book.get_mut(&node) {
            if long_lived {
                b.backoff = BACKOFF_MIN;
            }
            b.next_attempt = Instant::now() + jitter(b.backoff);
            b.backoff = (b.backoff * 2).min(BACKOFF_MAX);
        }
        drop(reg);
        (sh.sink)(NetEvent::Down { node });
        return true;
    }
    false
}

fn writer(stream: TcpStream, enc: &mut mxfs_uapi::peer::FrameEncoder, rx: Receiver<Out>) {
    let mut w = BufWriter::with_capacity(64 * 1024, stream);
    while let Ok(out) = rx.recv() {
        let mut batch = Some(out);
        let mut ok = true;
        while let Some(o) = batch.take() {
            let r = match o {
                Out::Frame(t, payload) => handshake::write_frame(&mut w, enc, t, &payload),
                Out::Close => {
                    let _ = handshake::write_frame(&mut w, enc, msg_type::CLOSE, &[]);
                    let _ = w.flush();
                    let _ = w.get_ref().shutdown(Shutdown::Write);
                    return;
                }
            };
            if r.is_err() {
                ok = false;
                break;
            }
            batch = rx.try_recv().ok();
        }
        if !ok || w.flush().is_err() {
            let _ = w.get_ref().shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = w.flush();
}
