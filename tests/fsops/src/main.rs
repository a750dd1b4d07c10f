//! fsops: exercises every VFS operation on a directory and verifies the outcome, all derived
//! from a round number so that a later run (after a remount, or through another filesystem
//! stacked on the same disk) can recompute and check the expected state.
//!
//!   fsops populate DIR ROUND   build DIR/round-ROUND, checking each step as it goes
//!   fsops verify DIR ROUND     compare DIR/round-ROUND with the expected state
//!   fsops errnos DIR           run operations that must fail, print "<op> <ERRNO>" lines
//!   fsops mcast-recv GROUP PORT SECONDS, fsops mcast-send GROUP PORT TEXT [N]
//!                              UDP multicast probes for the multi-VM tests (see mcast.rs)
//!   fsops lock FILE CMD TYPE START LEN [HOLD]
//!                              one fcntl lock call, its outcome, the lock held (see locks.rs)
//!   fsops xattr FILE get NAME | set NAME VALUE [create|replace] | remove NAME | list
//!                              one extended attribute call and its outcome (see xattrs.rs)
//!   fsops mmap FILE shared|private|shared-write|mprotect|watch SECONDS
//!                              what a mapping of FILE shows (see mmaps.rs)
//!
//! Exit status: 0 success, 1 mismatches (one line each on stdout), 2 usage or setup error.

mod errnos;
mod fsys;
mod locks;
mod mcast;
mod mmaps;
mod model;
mod rng;
mod sys;
mod xattrs;

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str =
    "usage: fsops populate DIR ROUND | fsops verify DIR ROUND | fsops errnos DIR\n       \
                     fsops mcast-recv GROUP PORT SECONDS | fsops mcast-send GROUP PORT TEXT [N]\n       \
                     fsops lock FILE CMD TYPE START LEN [HOLD]\n       \
                     fsops xattr FILE get NAME | set NAME VALUE [create|replace] | remove NAME | list\n       \
                     fsops mmap FILE shared|private|shared-write|mprotect | fsops mmap FILE watch SECONDS";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&argv) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("fsops: {msg}");
            ExitCode::from(2)
        }
    }
}

fn parse_round(s: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| format!("bad ROUND {s:?}: expected a number\n{USAGE}"))
}

fn finish(what: &str, dir: &Path, report: fsys::Report) -> ExitCode {
    for line in &report.lines {
        println!("{line}");
    }
    if report.lines.is_empty() {
        println!("fsops {what} {}: ok", dir.display());
        ExitCode::SUCCESS
    } else {
        println!(
            "fsops {what} {}: {} problem(s)",
            dir.display(),
            report.lines.len()
        );
        ExitCode::from(1)
    }
}

fn run(argv: &[&str]) -> Result<ExitCode, String> {
    match argv {
        ["populate", dir, round] => {
            let round = parse_round(round)?;
            let root = fsys::round_dir(Path::new(dir), round);
            let mut report = fsys::Report::default();
            fsys::populate(&root, &model::plan(round), &mut report)
                .map_err(|e| format!("populate {}: {e}", root.display()))?;
            Ok(finish("populate", &root, report))
        }
        ["verify", dir, round] => {
            let round = parse_round(round)?;
            let root = fsys::round_dir(Path::new(dir), round);
            if !root.is_dir() {
                return Err(format!("verify: {} is not a directory", root.display()));
            }
            let mut report = fsys::Report::default();
            fsys::verify(&root, &model::expected(round), &mut report);
            Ok(finish("verify", &root, report))
        }
        ["errnos", dir] => {
            let unexpected =
                errnos::run(Path::new(dir)).map_err(|e| format!("errnos {dir}: {e}"))?;
            Ok(if unexpected == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ["mcast-recv", group, port, seconds] => mcast::recv(group, port, seconds),
        ["mcast-send", group, port, text] => mcast::send(group, port, text, None),
        ["mcast-send", group, port, text, n] => mcast::send(group, port, text, Some(n)),
        ["lock", rest @ ..] => locks::run(rest),
        ["xattr", rest @ ..] => xattrs::run(rest),
        ["mmap", rest @ ..] => mmaps::run(rest),
        _ => Err(USAGE.to_string()),
    }
}
