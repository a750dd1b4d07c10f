//! UDP multicast probes for the multi-VM tests (busybox has no UDP client or server):
//!
//!   fsops mcast-recv GROUP PORT SECONDS   join GROUP on every interface, print the first
//!                                         datagram as "from ADDR: TEXT"; exit 1 on timeout
//!   fsops mcast-send GROUP PORT TEXT [N]  send TEXT N times (default 10), 200 ms apart, TTL 1
//!
//! The receiver needs a route for GROUP (the test guests have 239.0.0.0/8 on eth0).

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

fn group(s: &str) -> Result<Ipv4Addr, String> {
    let g: Ipv4Addr = parse("GROUP", s)?;
    if g.is_multicast() {
        Ok(g)
    } else {
        Err(format!("{g} is not a multicast address"))
    }
}

pub fn recv(g: &str, port: &str, seconds: &str) -> Result<ExitCode, String> {
    let g = group(g)?;
    let port: u16 = parse("PORT", port)?;
    let seconds: u64 = parse("SECONDS", seconds)?;
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        .map_err(|e| format!("bind udp port {port}: {e}"))?;
    sock.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED)
        .map_err(|e| format!("join {g}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            println!("mcast-recv {g}:{port}: nothing within {seconds}s");
            return Ok(ExitCode::from(1));
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| format!("set timeout: {e}"))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                println!(
                    "from {}: {}",
                    from.ip(),
                    String::from_utf8_lossy(&buf[..n]).trim_end()
                );
                return Ok(ExitCode::SUCCESS);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
}

pub fn send(g: &str, port: &str, text: &str, count: Option<&str>) -> Result<ExitCode, String> {
    let g = group(g)?;
    let port: u16 = parse("PORT", port)?;
    let count: u32 = count.map_or(Ok(10), |c| parse("N", c))?;
    let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))
        .map_err(|e| format!("bind: {e}"))?;
    sock.set_multicast_ttl_v4(1)
        .map_err(|e| format!("multicast ttl: {e}"))?;
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        sock.send_to(text.as_bytes(), SocketAddrV4::new(g, port))
            .map_err(|e| format!("send to {g}:{port}: {e}"))?;
    }
    println!("mcast-send {g}:{port}: {count} datagram(s)");
    Ok(ExitCode::SUCCESS)
}
