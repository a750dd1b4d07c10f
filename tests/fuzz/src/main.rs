//! `mxfs-fuzz`: runs every decoder fuzz target on deterministic mutations of valid inputs.
//!
//! ```text
//! mxfs-fuzz [--seconds S] [--seed N] [--target NAME] [--iterations N] [--write-corpus DIR]
//! ```
//!
//! By default the time budget (8 s) is split evenly between the targets. With
//! `--iterations`, each target runs exactly that many inputs instead, which is how a failure
//! is replayed: the report names the seed and iteration.

#![forbid(unsafe_code)]

use std::panic;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mxfs_fuzz::mutate::{mutate, Rng};
use mxfs_fuzz::{seeds, Outcome, TARGETS};

struct Args {
    seconds: f64,
    seed: u64,
    target: Option<String>,
    iterations: Option<u64>,
    corpus: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { seconds: 8.0, seed: 1, target: None, iterations: None, corpus: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--iterations" => a.iterations = Some(value()?.parse().map_err(|e| format!("--iterations: {e}"))?),
            "--target" => a.target = Some(value()?),
            "--write-corpus" => a.corpus = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("usage: mxfs-fuzz [--seconds S] [--seed N] [--target NAME] [--iterations N] [--write-corpus DIR]");
                println!("targets: {}", TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join(" "));
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {flag}; see --help")),
        }
    }
    if let Some(t) = &a.target {
        if !TARGETS.iter().any(|x| x.name == t) {
            return Err(format!("unknown target {t}; see --help"));
        }
    }
    Ok(a)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn panic_text(cause: &Box<dyn std::any::Any + Send>) -> String {
    cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mxfs-fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let chosen: Vec<_> = TARGETS.iter().filter(|t| args.target.as_deref().is_none_or(|n| n == t.name)).collect();

    if let Some(dir) = &args.corpus {
        for t in &chosen {
            let d = dir.join(t.name);
            if let Err(e) = std::fs::create_dir_all(&d) {
                eprintln!("mxfs-fuzz: cannot create {}: {e}", d.display());
                return ExitCode::FAILURE;
            }
            for (i, s) in seeds::for_target(t.name).iter().enumerate() {
                if let Err(e) = std::fs::write(d.join(format!("seed-{i}")), s) {
                    eprintln!("mxfs-fuzz: cannot write corpus: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("FUZZ corpus written to {}", dir.display());
        return ExitCode::SUCCESS;
    }

    // Quiet the default hook: a violation is reported below with its replay command.
    panic::set_hook(Box::new(|info| {
        if let Some(loc) = info.location() {
            eprintln!("  (panicked at {loc})");
        }
    }));
    let budget = Duration::from_secs_f64(args.seconds.max(0.0) / chosen.len().max(1) as f64);
    let (mut total, mut failures) = (0u64, 0u64);
    for (k, t) in TARGETS.iter().enumerate() {
        if !chosen.iter().any(|c| c.name == t.name) {
            continue;
        }
        let corpus = seeds::for_target(t.name);
        let mut rng = Rng::new(args.seed ^ ((k as u64 + 1) << 56));
        let started = Instant::now();
        let (mut execs, mut accepted) = (0u64, 0u64);
        // Seeds themselves first: they must all be accepted.
        for s in &corpus {
            match panic::catch_unwind(|| (t.run)(s)) {
                Ok(Outcome::Accepted) => {}
                Ok(Outcome::Rejected) => {
                    eprintln!("FUZZ target={} seed input rejected: {}", t.name, hex(s));
                    failures += 1;
                }
                Err(cause) => {
                    eprintln!("FUZZ FAILURE target={} on a seed input: {}", t.name, panic_text(&cause));
                    failures += 1;
                }
            }
        }
        loop {
            let done = match args.iterations {
                Some(n) => execs >= n,
                None => execs % 64 == 0 && started.elapsed() >= budget,
            };
            if done {
                break;
            }
            let input = mutate(&mut rng, &corpus);
            match panic::catch_unwind(|| (t.run)(&input)) {
                Ok(Outcome::Accepted) => accepted += 1,
                Ok(Outcome::Rejected) => {}
                Err(cause) => {
                    let why = panic_text(&cause);
                    eprintln!("FUZZ FAILURE target={} seed={} iteration={}: {why}", t.name, args.seed, execs);
                    eprintln!("  input: {}", hex(&input));
                    eprintln!("  replay: mxfs-fuzz --target {} --seed {} --iterations {}", t.name, args.seed, execs + 1);
                    failures += 1;
                    break;
                }
            }
            execs += 1;
        }
        total += execs;
        println!(
            "FUZZ target={} execs={execs} accepted={accepted} rejected={} seconds={:.1}",
            t.name,
            execs - accepted,
            started.elapsed().as_secs_f64()
        );
    }
    println!("FUZZ total execs={total} failures={failures}");
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
