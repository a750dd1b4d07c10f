//! UDP discovery: announce this node to 239.66.83.1:7601 on every multicast interface (TTL 1)
//! and to a configured unicast list, and receive other nodes' announcements.
//!
//! One thread owns the socket. It sends an announcement every `interval`, receives with a short
//! timeout so it notices `stop`, re-scans the interfaces now and then (an interface that comes
//! up later is joined then), and hands every verified announcement to the callback. Datagrams
//! of other volumes are dropped quietly (the group is shared); forged or wrongly keyed ones are
//! logged, at most once per source per `REJECT_LOG_EVERY`.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mxfs_uapi::discovery::{Announcement, DiscoveryError, DiscoveryKey, MAX_LEN, MULTICAST_GROUP};
use nix::net::if_::InterfaceFlags;
use socket2::{Domain, Protocol, Socket, Type};

/// A source whose datagrams are refused is logged at most this often.
const REJECT_LOG_EVERY: Duration = Duration::from_secs(30);
/// Sources remembered for rate limiting (bounded).
const REJECT_MEMORY: usize = 256;
/// Interfaces are re-scanned this often.
const RESCAN_EVERY: Duration = Duration::from_secs(5);

/// Where and how to announce.
#[derive(Clone, Debug)]
pub struct DiscoveryConfig {
    /// UDP port (7601).
    pub port: u16,
    /// Send to and listen on the multicast group.
    pub multicast: bool,
    /// Interface names to use for multicast; empty means every interface that is up, has an
    /// IPv4 address and can multicast (loopback only when named).
    pub interfaces: Vec<String>,
    /// Unicast destinations (host:port) for networks without multicast.
    pub unicast: Vec<SocketAddr>,
    /// Announcement period.
    pub interval: Duration,
}

/// What the discovery thread reports.
#[derive(Clone, Debug)]
pub enum DiscoveryEvent {
    /// A verified announcement and the address it came from.
    Found { ann: Announcement, from: SocketAddr },
}

pub(crate) struct Discovery {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Discovery {
    pub(crate) fn start(
        cfg: DiscoveryConfig,
        me: Announcement,
        key: DiscoveryKey,
        epoch: Arc<AtomicU64>,
        on_event: impl Fn(DiscoveryEvent) + Send + 'static,
    ) -> io::Result<Discovery> {
        let sock = open_socket(cfg.port)?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::Builder::new().name("mxfsd-discovery".into()).spawn(move || {
            let mut d = Driver { cfg, me, key, epoch, sock, joined: BTreeSet::new(), rejected: HashMap::new() };
            d.run(&st, &on_event);
        })?;
        Ok(Discovery { thread: Some(thread), stop })
    }

    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.stop();
    }
}

fn open_socket(port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several daemons (one per mounted volume) share the port; each sees every multicast.
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_multicast_ttl_v4(1)?;
    s.set_multicast_loop_v4(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).into())?;
    let u: UdpSocket = s.into();
    u.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(u)
}

/// IPv4 addresses of the interfaces to multicast on.
pub fn multicast_interfaces(names: &[String]) -> Vec<(String, Ipv4Addr)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ifa in addrs {
        let Some(ip) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()).map(|s| s.ip()) else {
            continue;
        };
        let flags = ifa.flags;
        let named = names.contains(&ifa.interface_name);
        let usable = if names.is_empty() {
            flags.contains(InterfaceFlags::IFF_UP)
                && flags.contains(InterfaceFlags::IFF_MULTICAST)
                && !flags.contains(InterfaceFlags::IFF_LOOPBACK)
        } else {
            named && flags.contains(InterfaceFlags::IFF_UP)
        };
        if usable {
            out.push((ifa.interface_name.clone(), ip));
        }
    }
    out
}

struct Driver {
    cfg: DiscoveryConfig,
    me: Announcement,
    key: DiscoveryKey,
    epoch: Arc<AtomicU64>,
    sock: UdpSocket,
    joined: BTreeSet<Ipv4Addr>,
    rejected: HashMap<IpAddr, Instant>,
}

impl Driver {
    fn run(&mut self, stop: &AtomicBool, on_event: &dyn Fn(DiscoveryEvent)) {
        let group = Ipv4Addr::from(MULTICAST_GROUP);
        let mut next_send = Instant::now();
        let mut next_scan = Instant::now();
        let mut buf = [0u8; MAX_LEN + 1];
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if self.cfg.multicast && now >= next_scan {
                next_scan = now + RESCAN_EVERY;
                self.rescan(group);
            }
            if now >= next_send {
                next_send = now + self.cfg.interval;
                self.announce(group);
            }
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => self.receive(&buf[..n], from, on_event),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
                Err(e) => {
                    log::warn!("discovery: receive failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    fn rescan(&mut self, group: Ipv4Addr) {
        for (name, ip) in multicast_interfaces(&self.cfg.interfaces) {
            if self.joined.contains(&ip) {
                continue;
            }
            match self.sock.join_multicast_v4(&group, &ip) {
                Ok(()) => {
                    log::info!("discovery: joined {group} on {name} ({ip})");
                    self.joined.insert(ip);
                }
                Err(e) if e.raw_os_error() == Some(nix::libc::EADDRINUSE) => {
                    self.joined.insert(ip);
                }
                Err(e) => log::warn!("discovery: cannot join {group} on {name} ({ip}): {e}"),
            }
        }
    }

    fn announce(&mut self, group: Ipv4Addr) {
        let ann = Announcement { epoch: self.epoch.load(Ordering::Relaxed), ..self.me };
        let mut buf = [0u8; MAX_LEN];
        let n = match ann.encode(&self.key, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                log::error!("discovery: cannot encode our announcement: {e}");
                return;
            }
        };
        let sock = socket2::SockRef::from(&self.sock);
        if self.cfg.multicast {
            let dest = SocketAddr::V4(SocketAddrV4::new(group, self.cfg.port));
            for ip in self.joined.clone() {
                if sock.set_multicast_if_v4(&ip).is_ok() {
                    if let Err(e) = self.sock.send_to(&buf[..n], dest) {
                        log::debug!("discovery: multicast via {ip} failed: {e}");
                    }
                }
            }
        }
        for dest in &self.cfg.unicast {
            if let Err(e) = self.sock.send_to(&buf[..n], dest) {
                log::debug!("discovery: announcement to {dest} failed: {e}");
            }
        }
    }

    fn receive(&mut self, datagram: &[u8], from: SocketAddr, on_event: &dyn Fn(DiscoveryEvent)) {
        match Announcement::decode(datagram, &self.me.volume_uuid, &self.key) {
            Ok(ann) if ann.node_uuid == self.me.node_uuid => {}
            Ok(ann) => on_event(DiscoveryEvent::Found { ann, from }),
            Err(DiscoveryError::OtherVolume { .. }) => {}
            Err(e) => self.reject(from, e),
        }
    }

    fn reject(&mut self, from: SocketAddr, e: DiscoveryError) {
        let now = Instant::now();
        let ip = from.ip();
        if self.rejected.get(&ip).is_some_and(|t| now.duration_since(*t) < REJECT_LOG_EVERY) {
            return;
        }
        if self.rejected.len() >= REJECT_MEMORY {
            self.rejected.retain(|_, t| now.duration_since(*t) < REJECT_LOG_EVERY);
            if self.rejected.len() >= REJECT_MEMORY {
                return;
            }
        }
        self.rejected.insert(ip, now);
        log::warn!("discovery: rejected announcement from {from}: {e}");
    }
}
