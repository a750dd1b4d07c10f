//! The test world: network namespaces joined by veth pairs to a bridge that lives in a hub
//! namespace of its own (nothing is added to the host's namespace), a lockstate image on a
//! disk filesystem, and standalone mxfsd processes with their control sockets.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const VOLUME: &str = "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12";

pub fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CLOCK_MONOTONIC in ms, the clock mxfsd's status uses.
pub fn mono_ms() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("clock");
    t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000
}

/// Namespaces `PREFIX-hub` (bridge `br0`) and `PREFIX-nI` (eth0 = 10.77.N.I/24).
pub struct Net {
    pub prefix: String,
    pub subnet: u8,
    names: Vec<String>,
}

impl Net {
    pub fn new(prefix: &str, subnet: u8) -> Result<Net, String> {
        let hub = format!("{prefix}-hub");
        let mut net = Net { prefix: prefix.into(), subnet, names: Vec::new() };
        sh(&["ip", "netns", "add", &hub])?;
        net.names.push(hub.clone());
        sh(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        // Every port gets every multicast: no IGMP querier runs here.
        sh(&["ip", "-n", &hub, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"])?;
        sh(&["ip", "-n", &hub, "link", "set", "br0", "up"])?;
        Ok(net)
    }

    pub fn ns(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    pub fn ip(&self, i: usize) -> String {
        format!("10.77.{}.{i}", self.subnet)
    }

    /// Adds node namespace `i` (1-based) with its veth pair to the bridge.
    pub fn add(&mut self, i: usize) -> Result<(), String> {
        let (hub, ns) = (format!("{}-hub", self.prefix), self.ns(i));
        sh(&["ip", "netns", "add", &ns])?;
        self.names.push(ns.clone());
        let port = format!("p{i}");
        sh(&["ip", "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
        sh(&["ip", "-n", &hub, "link", "set", &port, "master", "br0", "up"])?;
        sh(&["ip", "-n", &ns, "addr", "add", &format!("{}/24", self.ip(i)), "dev", "eth0"])?;
        sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Cuts node `i` off the network (its bridge port goes down), or heals it.
    pub fn link(&self, i: usize, up: bool) -> Result<(), String> {
        let hub = format!("{}-hub", self.prefix);
        sh(&["ip", "-n", &hub, "link", "set", &format!("p{i}"), if up { "up" } else { "down" }]).map(|_| ())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            // Any process left in the namespace would keep it alive: kill them first.
            if let Ok(pids) = sh(&["ip", "netns", "pids", n]) {
                for p in pids.split_whitespace() {
                    let _ = sh(&["kill", "-9", p]);
                }
            }
            let _ = sh(&["ip", "netns", "del", n]);
        }
    }
}

/// One scratch directory per run, on a filesystem with O_DIRECT.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Result<Scratch, String> {
        let dir = PathBuf::from(format!("/var/tmp/{name}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Scratch { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("MXFS_NETNS_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Formats a lockstate image with the fast test timing (heartbeat 200 ms: every cluster
/// threshold is a tenth of production).
pub fn format_lockstate(mxfsd: &Path, path: &Path, heartbeat_ms: u32) -> Result<(), String> {
    let hb = heartbeat_ms.to_string();
    let io = (heartbeat_ms * 5 / 4).max(10).to_string();
    let dead = (heartbeat_ms * 15).to_string();
    let p = path.display().to_string();
    let m = mxfsd.display().to_string();
    sh(&[&m, "--format-lockstate", &p, "--uuid", VOLUME, "--heartbeat-ms", &hb, "--io-timeout-ms", &io, "--dead-after-ms", &dead, "--force"])
        .map(|_| ())
}

pub struct Daemon {
    pub name: String,
    pub child: Option<Child>,
    pub run_dir: PathBuf,
    pub log: PathBuf,
}

pub struct DaemonOpts<'a> {
    pub ns: &'a str,
    pub lockstate: &'a Path,
    pub uuid_file: &'a Path,
    pub extra: &'a [&'a str],
}

impl Daemon {
    pub fn start(mxfsd: &Path, dir: &Path, name: &str, o: DaemonOpts<'_>) -> Result<Daemon, String> {
        let run_dir = dir.join(format!("run-{name}"));
        let log = dir.join(format!("{name}.log"));
        let f = fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", o.ns])
            .arg(mxfsd)
            .args(["--standalone", "--uuid", VOLUME, "--hostname", name])
            .arg("--lockstate")
            .arg(o.lockstate)
            .arg("--node-uuid-file")
            .arg(o.uuid_file)
            .arg("--run-dir")
            .arg(&run_dir)
            .args(o.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(f);
        let child = cmd.spawn().map_err(|e| format!("start mxfsd: {e}"))?;
        Ok(Daemon { name: name.into(), child: Some(child), run_dir, log })
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn sock(&self) -> PathBuf {
        self.run_dir.join("control.sock")
    }

    /// Waits until the control socket answers.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(mut c) = Ctl::connect(&self.sock()) {
                if c.req("ping").is_ok() {
                    return Ok(());
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Err(format!("{} exited ({st}): {}", self.name, self.log_tail(3)));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{} not ready after {limit:?}: {}", self.name, self.log_tail(3)))
    }

    pub fn status(&self) -> Result<Value, String> {
        let mut c = Ctl::connect(&self.sock())?;
        let line = c.req("status")?;
        let j = line.strip_prefix("status ").ok_or_else(|| format!("bad status answer: {line}"))?;
        serde_json::from_str(j).map_err(|e| e.to_string())
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join(" | ")
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(p) = self.pid() {
            // `ip netns exec` execs mxfsd, so the child pid is mxfsd's.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
        }
    }

    /// SIGTERM, then SIGKILL after `limit`; returns the exit code if it exited by itself.
    pub fn stop(&mut self, limit: Duration) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGCONT);
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Waits for the process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let c = self.child.as_mut()?;
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One control connection (one lock client).
pub struct Ctl {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Ctl {
    pub fn connect(path: &Path) -> Result<Ctl, String> {
        let s = UnixStream::connect(path).map_err(|e| format!("{}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let w = s.try_clone().map_err(|e| e.to_string())?;
        Ok(Ctl { r: BufReader::new(s), w })
    }

    pub fn send(&mut self, line: &str) -> Result<(), String> {
        self.w.write_all(format!("{line}\n").as_bytes()).map_err(|e| e.to_string())
    }

    /// The next answer line, waiting at most `limit` (None: nothing yet).
    pub fn answer(&mut self, limit: Duration) -> Result<Option<String>, String> {
        self.r.get_ref().set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) => Err("control connection closed".into()),
            Ok(_) => Ok(Some(line.trim().to_string())),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn req(&mut self, line: &str) -> Result<String, String> {
        self.send(line)?;
        self.answer(Duration::from_secs(30))?.ok_or_else(|| format!("no answer to '{line}' in 30 s"))
    }

    /// `lock` that must be granted.
    pub fn lock(&mut self, res: &str, mode: &str) -> Result<(), String> {
        let a = self.req(&format!("lock {res} {mode}"))?;
        if a.starts_with("granted ") {
            Ok(())
        } else {
            Err(format!("lock {res} {mode}: {a}"))
        }
    }

    pub fn unlock(&mut self, res: &str) -> Result<(), String> {
        let a = self.req(&format!("unlock {res}"))?;
        if a == "ok" {
            Ok(())
        } else {
            Err(format!("unlock {res}: {a}"))
        }
    }

    #[allow(dead_code)]
    pub fn drain(&mut self) {
        let mut buf = [0u8; 256];
        let _ = self.r.get_ref().set_read_timeout(Some(Duration::from_millis(10)));
        let _ = self.r.read(&mut buf);
    }
}

/// Polls `f` every 50 ms until it returns `Some`, at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn view_members(s: &Value) -> Vec<u64> {
    s["view"]["members"].as_array().map(|a| a.iter().filter_map(|v| v.as_u64()).collect()).unwrap_or_default()
}
