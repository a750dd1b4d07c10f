//! The scenarios. Each prints `NETNS <name> PASS|FAIL`; a failure adds one indented line
//! saying why. The run ends with `N passed, N failed`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mxfs_uapi::ident::{node_id_from_uuid, Uuid, UuidText};
use mxfs_uapi::peer::{msg_type, Decoded, FrameDecoder, FrameEncoder, Hello, HelloKey, Role};
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::env::*;
use crate::Opts;

/// Cluster thresholds for the 200 ms test lockstate (a tenth of production).
pub const HB_MS: u32 = 200;
pub const NET_SILENT_MS: u64 = 1200;
pub const DISK_DEAD_MS: u64 = 700;
/// Network heartbeat period: silence is measured from the last round trip, which can be up to
/// two periods older than the moment a node stopped.
pub const HB_NET_MS: u64 = 100;

/// Namespaces, image and daemons of one test cluster. Fields drop in order: daemons first.
pub struct Fixture {
    pub daemons: Vec<Option<Daemon>>,
    pub net: Net,
    pub scratch: Scratch,
    pub image: PathBuf,
    pub mxfsd: PathBuf,
}

impl Fixture {
    pub fn new(o: &Opts, tag: &str, subnet: u8, nodes: usize, start: bool) -> Result<Fixture, String> {
        let prefix = format!("{}{tag}", o.prefix);
        let net = Net::new(&prefix, subnet)?;
        let scratch = Scratch::new(&prefix)?;
        let image = scratch.dir.join("lockstate.img");
        format_lockstate(&o.mxfsd, &image, HB_MS)?;
        let mut f = Fixture { daemons: Vec::new(), net, scratch, image, mxfsd: o.mxfsd.clone() };
        for i in 1..=nodes {
            f.net.add(i)?;
            f.daemons.push(None);
        }
        if start {
            for i in 1..=nodes {
                f.start(i, &[])?;
            }
            for i in 1..=nodes {
                f.d(i)?.wait_ready(Duration::from_secs(30))?;
            }
        }
        Ok(f)
    }

    pub fn uuid_file(&self, i: usize) -> PathBuf {
        self.scratch.dir.join(format!("n{i}.uuid"))
    }

    /// Starts node `i` (its namespace must exist) on the shared image.
    pub fn start(&mut self, i: usize, extra: &[&str]) -> Result<(), String> {
        let image = self.image.clone();
        self.start_with(i, &image, &self.uuid_file(i), extra)
    }

    pub fn start_with(&mut self, i: usize, image: &Path, uuid_file: &Path, extra: &[&str]) -> Result<(), String> {
        while self.daemons.len() < i {
            self.daemons.push(None);
        }
        let ns = self.net.ns(i);
        let d = Daemon::start(
            &self.mxfsd,
            &self.scratch.dir,
            &format!("n{i}"),
            DaemonOpts { ns: &ns, lockstate: image, uuid_file, extra },
        )?;
        self.daemons[i - 1] = Some(d);
        Ok(())
    }

    pub fn d(&mut self, i: usize) -> Result<&mut Daemon, String> {
        self.daemons.get_mut(i - 1).and_then(|d| d.as_mut()).ok_or_else(|| format!("node {i} is not running"))
    }

    pub fn status(&mut self, i: usize) -> Result<Value, String> {
        self.d(i)?.status()
    }

    pub fn node_id(&mut self, i: usize) -> Result<u64, String> {
        self.status(i)?["node_id"].as_u64().ok_or("no node_id".into())
    }

    /// Waits until each of `nodes` is in a recovered view with exactly `nodes` as members.
    pub fn wait_view(&mut self, nodes: &[usize], limit: Duration) -> Result<(), String> {
        let mut ids = Vec::new();
        for &i in nodes {
            ids.push(self.node_id(i)?);
        }
        ids.sort_unstable();
        let mut last = String::new();
        let ok = wait_for(limit, || {
            for &i in nodes {
                let s = self.status(i).ok()?;
                let m = view_members(&s);
                if m != ids || s["recovered"] != Value::Bool(true) {
                    last = format!("node {i} has view {m:x?} (recovered {}), want {ids:x?}", s["recovered"]);
                    return None;
                }
            }
            Some(())
        });
        ok.ok_or(last)
    }
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

type Step = fn(&mut Fixture) -> Result<(), String>;

struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    fn record(&mut self, name: &str, r: Result<(), String>) {
        match r {
            Ok(()) => {
                self.passed += 1;
                println!("NETNS {name} PASS");
            }
            Err(e) => {
                self.failed += 1;
                println!("NETNS {name} FAIL");
                println!("    {name}: {e}");
            }
        }
    }
}

pub fn run_all(o: &Opts) -> ExitCode {
    let mut rep = Report { passed: 0, failed: 0 };
    let want = |n: &str| o.only.as_deref().is_none_or(|x| n.starts_with(x) || x == "main" && !n.starts_with("slot") && !n.starts_with("node-id"));
    if want("discovery") || want("auth") || want("contention") || want("exclusion") || want("partition") || want("restart") || want("death") {
        match Fixture::new(o, "a", 1, 3, true) {
            Ok(mut f) => {
                let steps: [(&str, Step); 9] = [
                    ("discovery", discovery),
                    ("auth-wrong-secret", auth),
                    ("lock-contention", contention),
                    ("lock-exclusion", exclusion),
                    ("partition-self-fence", partition),
                    ("restart-rejoin", restart_rejoin),
                    ("death-sigstop", death_stop),
                    ("restart-rejoin-again", restart_rejoin),
                    ("death-sigkill", death_kill),
                ];
                let mut broken = false;
                for (name, step) in steps {
                    if !want(name) {
                        continue;
                    }
                    if broken {
                        rep.record(name, Err("not run: an earlier step left the cluster unusable".into()));
                        continue;
                    }
                    let t = Instant::now();
                    let r = step(&mut f);
                    eprintln!("netns: {name} took {:.1} s", t.elapsed().as_secs_f64());
                    broken = r.is_err() && name == "discovery";
                    rep.record(name, r.map_err(|e| format!("{e}; logs in {}", f.scratch.dir.display())));
                }
                if rep.failed > 0 {
                    dump_logs(&f);
                }
            }
            Err(e) => rep.record("discovery", Err(format!("cannot set up: {e}"))),
        }
    }
    if want("slot-race") {
        rep.record("slot-claim-race", slot_race(o));
    }
    if want("node-id") {
        rep.record("node-id-collision", collision(o));
    }
    if want("remote") {
        rep.record("remote-ops", crate::remote::remote_ops(o));
    }
    println!("{} passed, {} failed", rep.passed, rep.failed);
    if rep.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn dump_logs(f: &Fixture) {
    for d in f.daemons.iter().flatten() {
        eprintln!("---- {} ({}) last lines:", d.name, d.log.display());
        let t = d.log_text();
        let lines: Vec<&str> = t.lines().collect();
        for l in &lines[lines.len().saturating_sub(25)..] {
            eprintln!("  {l}");
        }
    }
}

fn discovery(f: &mut Fixture) -> Result<(), String> {
    f.wait_view(&[1, 2, 3], Duration::from_secs(30))?;
    for i in 1..=3 {
        let s = f.status(i)?;
        let connected = s["peers"].as_array().map_or(0, |a| a.iter().filter(|p| p["connected"] == Value::Bool(true)).count());
        check(connected == 2, || format!("node {i} is connected to {connected} peers, want 2"))?;
        check(s["slot"].is_u64(), || format!("node {i} has no heartbeat slot"))?;
    }
    Ok(())
}

fn auth(f: &mut Fixture) -> Result<(), String> {
    // Node 4 holds another lockstate for the same volume: another secret.
    f.net.add(4)?;
    let other = f.scratch.dir.join("other-lockstate.img");
    format_lockstate(&f.mxfsd, &other, HB_MS)?;
    let uf = f.uuid_file(4);
    f.start_with(4, &other, &uf, &[])?;
    f.d(4)?.wait_ready(Duration::from_secs(30))?;
    eprintln!("netns: wrong-secret node up");
    // Several announcement rounds each way.
    std::thread::sleep(Duration::from_millis(2500));
    let bad_ip = f.net.ip(4);
    let bad_id = f.node_id(4)?;
    for i in 1..=3 {
        let s = f.status(i)?;
        check(!view_members(&s).contains(&bad_id), || format!("node {i} let the wrong-secret node into its view"))?;
        let knows = s["peers"].as_array().is_some_and(|a| a.iter().any(|p| p["node"].as_u64() == Some(bad_id)));
        check(!knows, || format!("node {i} lists the wrong-secret node as a peer"))?;
    }
    let log1 = f.d(1)?.log_text();
    check(log1.contains(&format!("rejected announcement from {bad_ip}")), || "node 1 did not log the rejected announcement".into())?;
    let s4 = f.status(4)?;
    check(view_members(&s4).iter().all(|m| *m == bad_id), || "the wrong-secret node joined the others".into())?;

    // A TCP hello keyed with another secret is refused and logged.
    let target = format!("{}:7600", f.net.ip(1));
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = sh(&["ip", "netns", "exec", &f.net.ns(4), &me.display().to_string(), "attack", &target]);
    let out = out.map_err(|e| format!("attack: {e}"))?;
    check(out.contains("refused"), || format!("attack: {}", out.trim()))?;
    let ok = wait_for(Duration::from_secs(5), || f.daemons[0].as_ref()?.log_text().contains("rejected: peer frame MAC mismatch").then_some(()));
    check(ok.is_some(), || "node 1 did not log the rejected TCP hello".into())?;
    f.d(4)?.stop(Duration::from_secs(5));
    f.daemons[3] = None;
    Ok(())
}

/// Sends a hello MAC'd with a wrong secret; the peer must close without trusting us.
pub fn attack(addr: &str) -> Result<String, String> {
    let vol = mxfs_uapi::ident::parse_uuid(VOLUME).ok_or("uuid")?;
    let mut s = TcpStream::connect_timeout(&addr.parse().map_err(|e| format!("{addr}: {e}"))?, Duration::from_secs(3))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let uuid: Uuid = [0x5a; 16];
    let key = HelloKey::derive(&[0x77; 32], &vol);
    let hello = Hello {
        role: Role::Initiator,
        tcp_port: 7600,
        node_id: node_id_from_uuid(&uuid),
        node_uuid: uuid,
        volume_uuid: vol,
        nonce: [0x33; 32],
        incarnation: 1,
    };
    let mut enc = FrameEncoder::new(&key);
    let mut buf = [0u8; 256];
    let n = enc.encode_hello(&hello, &mut buf).map_err(|e| e.to_string())?;
    s.write_all(&buf[..n]).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let start = Instant::now();
    let mut tmp = [0u8; 512];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(k) => got.extend_from_slice(&tmp[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(format!("connection still open after {:?}: {e}", start.elapsed())),
        }
    }
    // Whatever the peer sent (its hello) must not verify under our key either.
    let mut dec = FrameDecoder::new(&key);
    let verified = matches!(dec.decode(&got), Ok(Decoded::Frame { frame, .. }) if frame.msg_type == msg_type::HELLO);
    if verified {
        return Err("the peer's hello verified under a wrong secret".into());
    }
    Ok(format!("refused: connection closed after {} bytes", got.len()))
}

fn contention(f: &mut Fixture) -> Result<(), String> {
    let (s1, s2) = (f.d(1)?.sock(), f.d(2)?.sock());
    let mut a = Ctl::connect(&s1)?;
    let mut b = Ctl::connect(&s2)?;
    a.lock("contended", "EX")?;
    b.send("lock contended EX")?;
    let early = b.answer(Duration::from_millis(1500))?;
    check(early.is_none(), || format!("node 2 got {early:?} while node 1 holds EX"))?;
    let holder = f.status(1)?;
    let held = holder["locks"].as_array().is_some_and(|a| a.iter().any(|l| l["res"] == "contended" && l["mode"] == "EX"));
    check(held, || "node 1 does not list its EX lock".into())?;
    a.unlock("contended")?;
    let got = b.answer(Duration::from_secs(10))?;
    check(got.as_deref() == Some("granted contended EX"), || format!("node 2 got {got:?} after the release"))?;
    // The lock moved: node 1 no longer holds it (it down-converted on the blocking callback).
    let s = f.status(1)?;
    let still = s["locks"].as_array().is_some_and(|a| a.iter().any(|l| l["res"] == "contended" && l["mode"] == "EX"));
    check(!still, || "node 1 still holds EX after granting it away".into())?;
    b.unlock("contended")?;
    // And back: a cached lock on node 2 is called back for node 1.
    a.lock("contended", "PR")?;
    a.unlock("contended")?;
    Ok(())
}

/// Two clients on two nodes update a shared counter under EX; no update may be lost and
/// nobody may find the critical section occupied.
fn exclusion(f: &mut Fixture) -> Result<(), String> {
    let counter = f.scratch.dir.join("counter");
    fs::write(&counter, "0").map_err(|e| e.to_string())?;
    let inside = Arc::new(Mutex::new(Vec::<String>::new()));
    let rounds = 25;
    let mut threads = Vec::new();
    for i in [1usize, 2, 3] {
        let sock = f.d(i)?.sock();
        let (counter, inside) = (counter.clone(), inside.clone());
        threads.push(std::thread::spawn(move || -> Result<(), String> {
            let mut c = Ctl::connect(&sock)?;
            for _ in 0..rounds {
                c.lock("counter", "EX")?;
                {
                    let mut g = inside.lock().map_err(|_| "poisoned")?;
                    if !g.is_empty() {
                        return Err(format!("node {i} entered while {g:?} held EX"));
                    }
                    g.push(format!("node {i}"));
                }
                let v: u64 = fs::read_to_string(&counter).map_err(|e| e.to_string())?.trim().parse().map_err(|_| "counter")?;
                std::thread::sleep(Duration::from_millis(2));
                fs::write(&counter, (v + 1).to_string()).map_err(|e| e.to_string())?;
                inside.lock().map_err(|_| "poisoned")?.clear();
                c.unlock("counter")?;
            }
            Ok(())
        }));
    }
    for t in threads {
        t.join().map_err(|_| "client thread panicked".to_string())??;
    }
    let v: u64 = fs::read_to_string(&counter).map_err(|e| e.to_string())?.trim().parse().map_err(|_| "counter")?;
    check(v == 3 * rounds, || format!("counter is {v}, want {}: an update was lost", 3 * rounds))
}

fn stamp(s: &Value, key: &str, node: u64) -> Option<u64> {
    s[key].as_array()?.iter().find(|e| e["node"].as_u64() == Some(node))?["at_ms"].as_u64()
}

/// Node 3 loses its network but keeps writing its disk heartbeat: a partition, not a death.
/// Node 3 is alone (1 of 3) and must self-fence; the others fence it and go on as two, and
/// none of them declares it dead while its disk heartbeat still advanced.
fn partition(f: &mut Fixture) -> Result<(), String> {
    f.wait_view(&[1, 2, 3], Duration::from_secs(20))?;
    let id3 = f.node_id(3)?;
    f.net.link(3, false)?;
    let r = (|| {
        let fenced3 = wait_for(Duration::from_secs(15), || {
            let s = f.status(3).ok()?;
            (s["stopped"] == Value::Bool(true)).then_some(s)
        })
        .ok_or("node 3 did not self-fence after losing the network")?;
        check(fenced3["self_fence"] == "LostPartition", || format!("node 3 self-fenced for {}", fenced3["self_fence"]))?;
        f.wait_view(&[1, 2], Duration::from_secs(15))?;
        let last_disk = fenced3["last_disk_ok_ms"].as_u64().ok_or("node 3 never wrote its disk heartbeat")?;
        for i in [1, 2] {
            let s = f.status(i)?;
            if let Some(at) = stamp(&s, "declared_dead", id3) {
                check(at >= last_disk + DISK_DEAD_MS, || {
                    format!("node {i} declared node 3 dead at {at} ms, but its disk heartbeat was written at {last_disk} ms")
                })?;
            }
            check(s["stopped"] == Value::Bool(false), || format!("node {i} stopped too"))?;
        }
        let fenced = (1..=2).any(|i| f.status(i).ok().and_then(|s| stamp(&s, "fenced", id3)).is_some());
        check(fenced, || "nobody fenced node 3".into())
    })();
    f.net.link(3, true)?;
    r
}

/// Node 3 (stopped or self-fenced) is restarted with the same identity: a new incarnation that
/// reclaims its own slot and joins the view again.
fn restart_rejoin(f: &mut Fixture) -> Result<(), String> {
    if let Some(d) = f.daemons[2].as_mut() {
        d.stop(Duration::from_secs(5));
    }
    f.start(3, &[])?;
    f.d(3)?.wait_ready(Duration::from_secs(30))?;
    f.wait_view(&[1, 2, 3], Duration::from_secs(30))?;
    // The rejoined node takes part in locking.
    let mut c = Ctl::connect(&f.d(3)?.sock())?;
    c.lock("contended", "EX")?;
    c.unlock("contended")
}

fn death(f: &mut Fixture, sig: Signal) -> Result<(), String> {
    f.wait_view(&[1, 2, 3], Duration::from_secs(20))?;
    let id3 = f.node_id(3)?;
    // Node 3 holds a lock when it dies; node 1 must get it after the fence.
    let mut c3 = Ctl::connect(&f.d(3)?.sock())?;
    c3.lock("victim-lock", "EX")?;
    let t0 = mono_ms();
    f.d(3)?.signal(sig);
    let mut c1 = Ctl::connect(&f.d(1)?.sock())?;
    c1.send("lock victim-lock EX")?;
    let mut declared = None;
    let ok = wait_for(Duration::from_secs(20), || {
        for i in [1, 2] {
            let s = f.status(i).ok()?;
            if let Some(at) = stamp(&s, "declared_dead", id3) {
                declared = Some(declared.map_or(at, |d: u64| d.min(at)));
            }
        }
        let s1 = f.status(1).ok()?;
        let s2 = f.status(2).ok()?;
        (declared.is_some() && !view_members(&s1).contains(&id3) && view_members(&s1) == view_members(&s2)).then_some(())
    });
    check(ok.is_some(), || format!("node 3 was not declared dead and removed (declared: {declared:?})"))?;
    let at = declared.unwrap_or(0);
    check(at + 2 * HB_NET_MS >= t0 + NET_SILENT_MS, || {
        format!("node 3 declared dead {} ms after it stopped, before the network threshold", at as i64 - t0 as i64)
    })?;
    let fenced = [1, 2].iter().any(|&i| f.status(i).ok().and_then(|s| stamp(&s, "fenced", id3)).is_some());
    check(fenced, || "node 3 was not fenced".into())?;
    let logged = f.d(1)?.log_text().contains("preempt is a no-op") || f.d(2)?.log_text().contains("preempt is a no-op");
    check(logged, || "the fencer did not log the no-op preempt".into())?;
    let got = c1.answer(Duration::from_secs(10))?;
    check(got.as_deref() == Some("granted victim-lock EX"), || format!("node 1 got {got:?} for the dead node's lock"))?;
    c1.unlock("victim-lock")?;
    for i in [1, 2] {
        check(f.status(i)?["stopped"] == Value::Bool(false), || format!("node {i} stopped"))?;
    }
    Ok(())
}

fn death_stop(f: &mut Fixture) -> Result<(), String> {
    death(f, Signal::SIGSTOP)
}

fn death_kill(f: &mut Fixture) -> Result<(), String> {
    death(f, Signal::SIGKILL)
}

/// Three daemons started at the same instant on a fresh lockstate never share a slot; their
/// clean exits free the slots, so every round races for the same ones again.
fn slot_race(o: &Opts) -> Result<(), String> {
    let mut f = Fixture::new(o, "s", 2, 3, false)?;
    for round in 0..3 {
        for i in 1..=3 {
            f.start(i, &[])?;
        }
        for i in 1..=3 {
            f.d(i)?.wait_ready(Duration::from_secs(40))?;
        }
        let mut slots = Vec::new();
        for i in 1..=3 {
            slots.push(f.status(i)?["slot"].as_u64().ok_or("no slot")?);
        }
        let mut uniq = slots.clone();
        uniq.sort_unstable();
        uniq.dedup();
        check(uniq.len() == 3, || format!("round {round}: slots {slots:?} are shared"))?;
        let races: usize = (1..=3).map(|i| f.daemons[i - 1].as_ref().map_or(0, |d| d.log_text().matches("retrying").count())).sum();
        eprintln!("netns: slot race round {round}: slots {slots:?}, {races} lost claims retried so far");
        for i in 1..=3 {
            let code = f.d(i)?.stop(Duration::from_secs(10));
            check(code == Some(0), || format!("round {round}: node {i} exit code {code:?} after SIGTERM"))?;
        }
    }
    Ok(())
}

/// Two uuids with the same node id, found by the birthday bound (about 2^16 tries).
fn colliding_uuids() -> (Uuid, Uuid) {
    let mut seen = std::collections::HashMap::new();
    let mut x: u64 = mono_ms() | 1;
    loop {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        let mut u = [0u8; 16];
        for chunk in u.chunks_mut(8) {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes()[..chunk.len()]);
        }
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
        if let Some(prev) = seen.insert(node_id_from_uuid(&u), u) {
            if prev != u {
                return (prev, u);
            }
        }
    }
}

/// A second node with the same node id (another uuid) is refused with a clear error; so is a
/// second daemon with the same identity.
fn collision(o: &Opts) -> Result<(), String> {
    let mut f = Fixture::new(o, "c", 3, 3, false)?;
    let (a, b) = colliding_uuids();
    fs::write(f.uuid_file(1), format!("{}\n", UuidText(&a))).map_err(|e| e.to_string())?;
    fs::write(f.uuid_file(2), format!("{}\n", UuidText(&b))).map_err(|e| e.to_string())?;
    f.start(1, &[])?;
    f.d(1)?.wait_ready(Duration::from_secs(30))?;
    f.start(2, &[])?;
    let code = f.d(2)?.wait_exit(Duration::from_secs(30));
    let log = f.d(1).map(|_| ()).and(Ok(f.daemons[1].as_ref().map(|d| d.log_text()).unwrap_or_default()))?;
    check(code == Some(1), || format!("the colliding node exited with {code:?}: {log}"))?;
    check(log.contains("same node id") && log.contains("delete /etc/mxfs/node.uuid"), || format!("unclear refusal: {log}"))?;
    // The same identity twice: "already running".
    let uf1 = f.uuid_file(1);
    let image = f.image.clone();
    f.start_with(3, &image, &uf1, &[])?;
    let code = f.d(3)?.wait_exit(Duration::from_secs(30));
    let log = f.daemons[2].as_ref().map(|d| d.log_text()).unwrap_or_default();
    check(code == Some(1) && log.contains("already running"), || format!("a second daemon with the same identity: exit {code:?}: {log}"))?;
    let s = f.status(1)?;
    check(s["stopped"] == Value::Bool(false), || "the first node stopped".into())
}
