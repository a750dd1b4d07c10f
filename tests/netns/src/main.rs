//! Multi-process tests and benchmarks of mxfsd on one host: standalone daemons, each in its
//! own network namespace, joined by veth pairs to a bridge, sharing one lockstate image.
//!
//! ```text
//! mxfs-netns run   --mxfsd PATH [--prefix P] [--only NAME]   # NETNS <name> PASS|FAIL lines
//! mxfs-netns bench --mxfsd PATH [--prefix P]                 # BENCH <name> value=<v> unit=<u>
//! mxfs-netns attack ADDR:PORT                                # (inside a namespace) wrong-secret hello
//! ```
//!
//! Needs root (ip netns). Everything it creates is named after the prefix and removed on exit;
//! `tests/netns/run.sh` also removes leftovers after a crash.

mod bench;
mod env;
mod remote;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

pub struct Opts {
    pub mxfsd: PathBuf,
    pub prefix: String,
    pub only: Option<String>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(cmd) = args.get(1).cloned() else {
        eprintln!("usage: mxfs-netns run|bench|attack ...");
        return ExitCode::from(2);
    };
    if cmd == "attack" {
        return match args.get(2).map(|a| scenarios::attack(a)) {
            Some(Ok(msg)) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Some(Err(e)) => {
                println!("{e}");
                ExitCode::from(1)
            }
            None => ExitCode::from(2),
        };
    }
    let mut o = Opts { mxfsd: PathBuf::from("target/release/mxfsd"), prefix: format!("mxt{}", std::process::id()), only: None };
    let mut i = 2;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--mxfsd", Some(v)) => o.mxfsd = PathBuf::from(v),
            ("--prefix", Some(v)) => o.prefix = v.clone(),
            ("--only", Some(v)) => o.only = Some(v.clone()),
            (a, _) => {
                eprintln!("mxfs-netns: unknown argument {a}");
                return ExitCode::from(2);
            }
        }
        i += 2;
    }
    if !o.mxfsd.exists() {
        eprintln!("mxfs-netns: {} not found; build it first (cargo build --release -p mxfsd)", o.mxfsd.display());
        return ExitCode::from(2);
    }
    // Absolute, so `ip netns exec` finds it whatever the working directory.
    o.mxfsd = std::fs::canonicalize(&o.mxfsd).unwrap_or(o.mxfsd.clone());
    match cmd.as_str() {
        "run" => scenarios::run_all(&o),
        "bench" => bench::run_all(&o),
        _ => ExitCode::from(2),
    }
}
