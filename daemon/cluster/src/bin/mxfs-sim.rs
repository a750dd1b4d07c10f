//! Runs the deterministic cluster simulation.
//!
//!     mxfs-sim --seeds 10000 [--start 0] [--threads N]   many seeds, summary line
//!     mxfs-sim --seed 1234 [--verbose]                   replay one seed, with a trace
//!
//! Prints `SIMULATION seeds=<n> failures=<n>` and exits 1 if any seed failed. A failing seed
//! replays exactly with `--seed`.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use mxfs_cluster::sim::{self, SimConfig, SimReport, SimStats};

struct Args {
    seeds: Option<u64>,
    start: u64,
    seed: Option<u64>,
    verbose: bool,
    trace_all: bool,
    threads: usize,
    bug: Option<String>,
}

const USAGE: &str = "usage: mxfs-sim --seeds N [--start S] [--threads T] | --seed S [--verbose]";

fn parse() -> Result<Args, String> {
    let mut a = Args {
        seeds: None,
        start: 0,
        seed: None,
        verbose: false,
        trace_all: false,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        bug: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a number"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            "--seeds" => a.seeds = Some(num("--seeds")?),
            "--start" => a.start = num("--start")?,
            "--seed" => a.seed = Some(num("--seed")?),
            "--threads" => a.threads = num("--threads")?.max(1) as usize,
            "--verbose" | "-v" => a.verbose = true,
            "--trace-all" => {
                a.verbose = true;
                a.trace_all = true;
            }
            "--inject-bug" => a.bug = Some(it.next().ok_or("--inject-bug needs a name")?),
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.seeds.is_none() && a.seed.is_none() {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn config(seed: u64, args: &Args) -> Result<SimConfig, String> {
    #[allow(unused_mut)]
    let mut cfg = SimConfig::for_seed(seed);
    cfg.trace = args.verbose;
    cfg.trace_all = args.trace_all;
    if let Some(name) = &args.bug {
        #[cfg(feature = "bug-injection")]
        {
            cfg.bug = Some(match name.as_str() {
                "ignore-compat" => sim::Bug::IgnoreCompat,
                "ignore-lease" => sim::Bug::IgnoreLease,
                "skip-recovery-wait" => sim::Bug::SkipRecoveryWait,
                "drop-basts" => sim::Bug::DropBasts,
                other => {
                    return Err(format!(
                        "unknown bug {other}: ignore-compat, ignore-lease, skip-recovery-wait, drop-basts"
                    ))
                }
            });
        }
        #[cfg(not(feature = "bug-injection"))]
        return Err(format!(
            "--inject-bug {name}: build with --features bug-injection"
        ));
    }
    Ok(cfg)
}

fn describe(cfg: &SimConfig) -> String {
    format!(
        "nodes={} resources={} loss={} dup={} slow={}",
        cfg.nodes, cfg.resources, cfg.loss, cfg.dup, cfg.slow
    )
}

fn add(total: &mut SimStats, s: &SimStats) {
    total.events += s.events;
    total.packets += s.packets;
    total.grants += s.grants;
    total.cached_grants += s.cached_grants;
    total.failed_requests += s.failed_requests;
    total.views += s.views;
    total.fences += s.fences;
    total.self_fences += s.self_fences;
    total.crashes += s.crashes;
    total.partitions += s.partitions;
    total.takeovers += s.takeovers;
}

fn replay(seed: u64, args: &Args) -> Result<ExitCode, String> {
    let cfg = config(seed, args)?;
    let r = sim::run(&cfg);
    for line in &r.trace {
        println!("{line}");
    }
    println!("seed {seed}: {}", describe(&cfg));
    println!("stats: {:?}", r.stats);
    match &r.violation {
        Some(v) => println!("FAIL seed={seed}: {v}"),
        None => println!("PASS seed={seed}"),
    }
    let failures = u64::from(r.violation.is_some());
    println!("SIMULATION seeds=1 failures={failures}");
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn many(n: u64, args: &Args) -> Result<ExitCode, String> {
    config(args.start, args)?; // validate options once, before spawning
    let next = AtomicU64::new(0);
    let failed: Mutex<Vec<SimReport>> = Mutex::new(Vec::new());
    let total = Mutex::new(SimStats::default());
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| {
                let mut mine = SimStats::default();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n {
                        break;
                    }
                    let seed = args.start + k;
                    let Ok(cfg) = config(seed, args) else { break };
                    let r = sim::run(&cfg);
                    add(&mut mine, &r.stats);
                    if r.violation.is_some() {
                        failed.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                    }
                }
                add(&mut total.lock().unwrap_or_else(|e| e.into_inner()), &mine);
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let mut failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    failed.sort_by_key(|r| r.seed);
    for r in failed.iter().take(20) {
        println!(
            "FAIL seed={}: {}",
            r.seed,
            r.violation.as_deref().unwrap_or("")
        );
    }
    if failed.len() > 20 {
        println!("... and {} more", failed.len() - 20);
    }
    if let Some(r) = failed.first() {
        println!("replay with: mxfs-sim --seed {} --verbose", r.seed);
    }
    let t = total.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "stats: events={} packets={} grants={} cached_grants={} failed_requests={} views={} fences={} self_fences={} crashes={} partitions={} takeovers={}",
        t.events, t.packets, t.grants, t.cached_grants, t.failed_requests, t.views, t.fences, t.self_fences, t.crashes, t.partitions, t.takeovers
    );
    println!(
        "elapsed={secs:.2}s seeds_per_second={:.0} threads={}",
        n as f64 / secs.max(1e-9),
        args.threads
    );
    println!("SIMULATION seeds={n} failures={}", failed.len());
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let r = match (args.seed, args.seeds) {
        (Some(seed), _) => replay(seed, &args),
        (None, Some(n)) => many(n, &args),
        (None, None) => Err(USAGE.into()),
    };
    r.unwrap_or_else(|e| {
        eprintln!("mxfs-sim: {e}");
        ExitCode::from(2)
    })
}
