//! Benchmarks, printed as `BENCH <name> value=<v> unit=<u>`. Nothing here asserts a time.
//! Latencies are what a local client sees through the control socket (one Unix-socket round
//! trip included), on the 200 ms test timing; lock traffic does not depend on that timing.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::env::*;
use crate::scenarios::Fixture;
use crate::Opts;

fn bench(name: &str, value: f64, unit: &str) {
    println!("BENCH {name} value={value:.1} unit={unit}");
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A resource name mastered by node id `master`.
fn name_mastered_by(c: &mut Ctl, master: u64, tag: &str, from: &mut u64) -> Result<String, String> {
    loop {
        *from += 1;
        let n = format!("{tag}-{from}");
        let a = c.req(&format!("master {n}"))?;
        if a == format!("master {master:#010x}") {
            return Ok(n);
        }
        if *from > 1_000_000 {
            return Err("no name found for the master".into());
        }
    }
}

pub fn run_all(o: &Opts) -> ExitCode {
    match run(o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mxfs-netns bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn latency(f: &mut Fixture, tag: &str) -> Result<(), String> {
    let id2 = f.node_id(2)?;
    let mut a = Ctl::connect(&f.d(1)?.sock())?;
    let mut b = Ctl::connect(&f.d(2)?.sock())?;

    // Cached re-acquire: the node holds the lock; a local lock is answered without a message.
    a.lock("bench-cached", "EX")?;
    a.unlock("bench-cached")?;
    let mut v = Vec::new();
    for _ in 0..2000 {
        let t = Instant::now();
        a.lock("bench-cached", "EX")?;
        v.push(us(t.elapsed()));
        a.unlock("bench-cached")?;
    }
    bench(&format!("lock_cached_reacquire{tag}"), median(v), "us");

    // Uncontended remote: a fresh resource mastered by node 2, requested from node 1.
    let mut k = 0;
    let mut v = Vec::new();
    for _ in 0..300 {
        let n = name_mastered_by(&mut a, id2, "remote", &mut k)?;
        let t = Instant::now();
        a.lock(&n, "EX")?;
        v.push(us(t.elapsed()));
        a.unlock(&n)?;
        a.req(&format!("release {n}"))?;
    }
    bench(&format!("lock_uncontended_remote{tag}"), median(v), "us");

    // Contended ping-pong: nodes 1 and 2 take EX on one resource in turn; each acquisition
    // needs a blocking callback to the other node and its down-convert.
    a.lock("pingpong", "EX")?;
    a.unlock("pingpong")?;
    let mut v = Vec::new();
    for i in 0..300 {
        let c = if i % 2 == 0 { &mut b } else { &mut a };
        let t = Instant::now();
        c.lock("pingpong", "EX")?;
        v.push(us(t.elapsed()));
        c.unlock("pingpong")?;
    }
    bench(&format!("lock_contended_pingpong{tag}"), median(v), "us");
    Ok(())
}

/// Lock operations per second, all nodes at once, 4 clients per node, each cycling through
/// fresh resources (lock, unlock, release: a request to the master every time).
fn throughput(f: &mut Fixture, nodes: usize, name: &str) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for i in 1..=nodes {
        for t in 0..4 {
            let sock = f.d(i)?.sock();
            let (stop, count) = (stop.clone(), count.clone());
            threads.push(std::thread::spawn(move || -> Result<(), String> {
                let mut c = Ctl::connect(&sock)?;
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    k += 1;
                    let n = format!("tp-{i}-{t}-{}", k % 64);
                    c.lock(&n, "EX")?;
                    c.unlock(&n)?;
                    c.req(&format!("release {n}"))?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }));
        }
    }
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let secs = t.elapsed().as_secs_f64();
    for th in threads {
        th.join().map_err(|_| "thread panicked")??;
    }
    bench(name, count.load(Ordering::Relaxed) as f64 / secs, "ops/s");
    Ok(())
}

fn run(o: &Opts) -> Result<(), String> {
    {
        let mut f = Fixture::new(o, "b", 4, 3, true)?;
        f.wait_view(&[1, 2, 3], Duration::from_secs(30))?;
        latency(&mut f, "")?;
        throughput(&mut f, 3, "lock_throughput_3nodes")?;

        // Time to declare a silent node dead, and to fence it and install the next view.
        let id3 = f.node_id(3)?;
        let t0 = mono_ms();
        f.d(3)?.signal(Signal::SIGSTOP);
        let mut dead = None;
        let mut gone = None;
        wait_for(Duration::from_secs(30), || {
            let s = f.status(1).ok()?;
            if dead.is_none() {
                dead = s["declared_dead"].as_array()?.iter().find(|e| e["node"].as_u64() == Some(id3))?["at_ms"].as_u64();
            }
            if gone.is_none() && !view_members(&s).contains(&id3) && s["recovered"] == serde_json::Value::Bool(true) {
                gone = Some(mono_ms());
            }
            (dead.is_some() && gone.is_some()).then_some(())
        })
        .ok_or("the stopped node was not removed")?;
        bench("dead_node_declared_fast_timing", dead.unwrap_or(0).saturating_sub(t0) as f64, "ms");
        bench("dead_node_fenced_new_view_fast_timing", gone.unwrap_or(0).saturating_sub(t0) as f64, "ms");
        f.d(3)?.signal(Signal::SIGKILL);
    }
    {
        let mut f = Fixture::new(o, "d", 5, 2, true)?;
        f.wait_view(&[1, 2], Duration::from_secs(30))?;
        throughput(&mut f, 2, "lock_throughput_2nodes")?;
    }
    {
        // The price of persisting each grant's lock record: the same latencies without it.
        let mut f = Fixture::new(o, "e", 6, 2, false)?;
        for i in 1..=2 {
            f.start(i, &["--no-grant-records"])?;
        }
        for i in 1..=2 {
            f.d(i)?.wait_ready(Duration::from_secs(30))?;
        }
        f.wait_view(&[1, 2], Duration::from_secs(30))?;
        latency(&mut f, "_no_grant_record")?;
        throughput(&mut f, 2, "lock_throughput_2nodes_no_grant_record")?;
    }
    Ok(())
}
