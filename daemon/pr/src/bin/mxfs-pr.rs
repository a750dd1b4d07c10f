//! mxfs-pr: SCSI persistent reservations as MXFS uses them, for operators and tests.
//!
//! Exit codes: 0 success; 1 error; 2 usage; 3 the device does not support persistent
//! reservations; 4 reservation conflict; 5 (`watch`) our key is gone and I/O must stop.

use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mxfs_cluster::fence::Fencer;
use mxfs_cluster::NodeId;
use mxfs_pr::fencing::{self, AbortPolicy, PrStep};
use mxfs_pr::{
    KeyWatch, PrDevice, PrError, PrKey, PrOps, ReadKeys, ReadReservation, RegisterVia, WatchAction,
};
use mxfs_uapi::ident::{node_id_from_uuid, parse_uuid};

const EXIT_FENCED: u8 = 5;

#[derive(Parser, Debug)]
#[command(
    name = "mxfs-pr",
    version,
    about = "SCSI persistent reservations as MXFS uses them (WRITE EXCLUSIVE - REGISTRANTS ONLY)",
    after_help = "KEY is node:<node id>, 0x<hex> or decimal, never 0.\n\
                  Exit codes: 0 ok, 1 error, 2 usage, 3 no PR on the device, 4 reservation conflict, \
                  5 (watch) own key gone."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Via {
    /// The ioctl (with APTPL), SG_IO without APTPL if the target rejects APTPL.
    Auto,
    /// IOC_PR_REGISTER only.
    Ioctl,
    /// SG_IO PERSISTENT RESERVE OUT without APTPL only.
    Sgio,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Abort {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the reservation key of a node (from its node id or its node uuid).
    Key {
        #[arg(long, conflicts_with = "uuid", required_unless_present = "uuid")]
        node_id: Option<String>,
        #[arg(long)]
        uuid: Option<String>,
    },
    /// Check that DEVICE supports persistent reservations.
    Probe { device: String },
    /// READ KEYS: the PR generation and every registered key.
    Keys { device: String },
    /// READ RESERVATION: the PR generation and the reservation, if any.
    Reservation { device: String },
    /// Register KEY on this path (REGISTER AND IGNORE EXISTING KEY).
    Register {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// Remove this path's registration of KEY.
    Unregister {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
    },
    /// Reserve WRITE EXCLUSIVE - REGISTRANTS ONLY with KEY.
    Reserve {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
    },
    /// Release the reservation held with KEY.
    Release {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
    },
    /// PREEMPT (or PREEMPT AND ABORT) the registrations of VICTIM with KEY: one command.
    Preempt {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
        #[arg(long, value_parser = parse_key)]
        victim: PrKey,
        #[arg(long)]
        abort: bool,
    },
    /// CLEAR every registration and the reservation (KEY must be registered).
    Clear {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
    },
    /// Register KEY, make sure the LU is reserved, verify (what mxfsd does at mount).
    Join {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
        #[arg(long, value_enum, default_value = "auto")]
        via: Via,
    },
    /// Run the fencing preempt step for a dead node: preempt its key, verify it is gone, keep
    /// the reservation, and report completion to the cluster's fencing sequence.
    Fence {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
        /// The dead node's id (its key is derived from it).
        #[arg(long, value_parser = parse_node_id)]
        victim_node: u32,
        /// PREEMPT AND ABORT: auto uses it unless the target is known to mishandle it.
        #[arg(long, value_enum, default_value = "auto")]
        abort: Abort,
        /// The victim was the owner (the sequence then ends with a takeover).
        #[arg(long)]
        owner: bool,
    },
    /// Poll READ KEYS and run the key watch; exit 5 when our key is gone.
    Watch {
        device: String,
        #[arg(long, value_parser = parse_key)]
        key: PrKey,
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        /// Stop after this many polls (0: never).
        #[arg(long, default_value_t = 0)]
        polls: u64,
    },
    /// One 4 KiB O_DIRECT write; a reservation conflict (EBADE) exits 4.
    Write {
        device: String,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// One 4 KiB O_DIRECT read.
    Read {
        device: String,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
}

fn parse_key(s: &str) -> Result<PrKey, String> {
    PrKey::parse(s).map_err(|e| e.to_string())
}

fn parse_node_id(s: &str) -> Result<u32, String> {
    let v = match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    v.map_err(|_| format!("not a 32-bit node id: {s}"))
}

/// A failure with its exit status.
struct Failure(u8, String);

impl From<PrError> for Failure {
    fn from(e: PrError) -> Failure {
        Failure(e.exit_code(), e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, msg)) => {
            eprintln!("mxfs-pr: {msg}");
            ExitCode::from(code)
        }
    }
}

fn open(device: &str) -> Result<PrDevice, Failure> {
    PrDevice::open(device).map_err(|e| Failure(1, format!("{device}: cannot open: {e}")))
}

fn via(v: Via) -> RegisterVia {
    match v {
        Via::Auto => RegisterVia::Auto,
        Via::Ioctl => RegisterVia::Ioctl,
        Via::Sgio => RegisterVia::SgIo,
    }
}

fn key_note(k: PrKey) -> String {
    match k.node_id() {
        Some(id) => format!("{k} node {id}"),
        None => format!("{k} foreign"),
    }
}

fn print_keys(k: &ReadKeys) {
    println!("generation {}", k.generation);
    if k.keys.is_empty() {
        println!("no keys");
    }
    for key in &k.keys {
        println!("key {}", key_note(*key));
    }
}

fn print_reservation(r: &ReadReservation) {
    println!("generation {}", r.generation);
    match r.reservation {
        None => println!("no reservation"),
        Some(res) => match res.key {
            Some(k) => println!("reservation {} type {}", key_note(k), res.pr_type),
            None => println!("reservation all-registrants type {}", res.pr_type),
        },
    }
}

fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Key { node_id, uuid } => {
            let id = match (node_id, uuid) {
                (Some(n), _) => parse_node_id(&n).map_err(|e| Failure(2, e))?,
                (None, Some(u)) => {
                    let u = parse_uuid(&u).ok_or_else(|| Failure(2, format!("not a uuid: {u}")))?;
                    node_id_from_uuid(&u)
                }
                (None, None) => unreachable!("clap requires one"),
            };
            println!("{}", PrKey::for_node(id));
        }
        Command::Probe { device } => {
            let dev = open(&device)?;
            let keys = dev.probe()?;
            println!(
                "{device} supports SCSI persistent reservations (generation {}, {} registered keys)",
                keys.generation,
                keys.keys.len()
            );
            match dev.inquiry() {
                Ok(i) => {
                    println!("target {} {} {}", i.vendor, i.product, i.revision);
                    match fencing::decide_abort(AbortPolicy::Auto, Some(&i)) {
                        (true, _) => println!("fencing uses PREEMPT AND ABORT"),
                        (false, why) => {
                            println!("fencing uses PREEMPT without ABORT: {}", why.unwrap_or(""))
                        }
                    }
                }
                Err(e) => println!("INQUIRY failed: {e}"),
            }
        }
        Command::Keys { device } => print_keys(&open(&device)?.read_keys()?),
        Command::Reservation { device } => print_reservation(&open(&device)?.read_reservation()?),
        Command::Register {
            device,
            key,
            via: v,
        } => {
            let how = open(&device)?.register(key, via(v))?;
            println!("registered {key} on {device} ({how:?})");
        }
        Command::Unregister { device, key } => {
            open(&device)?.unregister(key)?;
            println!("unregistered {key} from {device}");
        }
        Command::Reserve { device, key } => {
            open(&device)?.reserve(key)?;
            println!("reserved {device} with {key} ({})", mxfs_pr::FENCING_TYPE);
        }
        Command::Release { device, key } => {
            open(&device)?.release(key)?;
            println!("released {device} ({key})");
        }
        Command::Preempt {
            device,
            key,
            victim,
            abort,
        } => {
            open(&device)?.preempt(key, victim, abort)?;
            println!(
                "preempted {victim} with {key} on {device}{}",
                if abort { " (and abort)" } else { "" }
            );
        }
        Command::Clear { device, key } => {
            open(&device)?.clear(key)?;
            println!("cleared every registration and the reservation of {device}");
        }
        Command::Join {
            device,
            key,
            via: v,
        } => {
            let dev = open(&device)?;
            dev.probe()?;
            let (report, _) = fencing::join(&dev, key, via(v))?;
            println!(
                "joined {device} with {key} ({:?}); reservation {} type {}; generation {}",
                report.registered,
                report
                    .reservation
                    .key
                    .map_or("all-registrants".to_string(), |k| k.to_string()),
                report.reservation.pr_type,
                report.generation
            );
        }
        Command::Fence {
            device,
            key,
            victim_node,
            abort,
            owner,
        } => {
            let dev = open(&device)?;
            let policy = match abort {
                Abort::Auto => AbortPolicy::Auto,
                Abort::Always => AbortPolicy::Always,
                Abort::Never => AbortPolicy::Never,
            };
            let (abort, why) = fencing::decide_abort(policy, dev.inquiry().ok().as_ref());
            if let Some(why) = why {
                println!("PREEMPT AND ABORT not used: {why}");
            }
            let victim = NodeId(u64::from(victim_node));
            let mut fencer = Fencer::default();
            let mut actions = Vec::new();
            fencer.start(victim, owner, &mut actions);
            let mut next = Vec::new();
            for action in actions {
                match fencing::execute(&mut fencer, action, Some(&dev), key, abort, &mut next) {
                    PrStep::Completed(r) => {
                        println!(
                            "fence {}: {:?}, generation {}",
                            PrKey::for_node(victim_node),
                            r.outcome,
                            r.generation
                        );
                        println!(
                            "recovery may start in {} s",
                            r.settle_before_recovery().as_secs()
                        );
                        if let Some(res) = r.reservation {
                            println!(
                                "reservation {} type {}",
                                res.key
                                    .map_or("all-registrants".to_string(), |k| k.to_string()),
                                res.pr_type
                            );
                        }
                    }
                    PrStep::WeAreFenced => {
                        println!("StopAllIo: our key {key} is gone; this node is the fenced one");
                        return Err(Failure(EXIT_FENCED, "our own key is gone".into()));
                    }
                    PrStep::Retry(e) => return Err(e.into()),
                    PrStep::NoPr => {
                        return Err(Failure(3, format!("{device}: no persistent reservations")))
                    }
                    PrStep::NoKey(n) => return Err(Failure(1, format!("node {n:?} has no key"))),
                    PrStep::NotOurs(a) => println!("next: {a:?}"),
                }
            }
            for a in next {
                println!("next: {a:?}");
            }
        }
        Command::Watch {
            device,
            key,
            interval_ms,
            polls,
        } => watch(&device, key, interval_ms, polls)?,
        Command::Write { device, offset } => {
            let f = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(&device)
                .map_err(|e| Failure(1, format!("{device}: cannot open: {e}")))?;
            let block = Box::new(Block([0x5a; 4096]));
            match f.write_at(&block.0, offset) {
                Ok(n) if n == block.0.len() => println!("wrote 4096 bytes at {offset} to {device}"),
                Ok(n) => return Err(Failure(1, format!("{device}: short write of {n} bytes"))),
                Err(e) if e.raw_os_error() == Some(libc::EBADE) => {
                    return Err(Failure(
                        4,
                        format!("{device}: write refused: reservation conflict (EBADE)"),
                    ))
                }
                Err(e) => return Err(Failure(1, format!("{device}: write failed: {e}"))),
            }
        }
        Command::Read { device, offset } => {
            let f = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&device)
                .map_err(|e| Failure(1, format!("{device}: cannot open: {e}")))?;
            let mut block = Box::new(Block([0; 4096]));
            let n = f
                .read_at(&mut block.0, offset)
                .map_err(|e| Failure(1, format!("{device}: read failed: {e}")))?;
            println!("read {n} bytes at {offset} from {device}");
        }
    }
    Ok(())
}

/// O_DIRECT needs an aligned buffer.
#[repr(C, align(4096))]
struct Block([u8; 4096]);

fn watch(device: &str, key: PrKey, interval_ms: u64, polls: u64) -> Result<(), Failure> {
    let dev = open(device)?;
    let mut w = KeyWatch::registered(key);
    let mut n = 0u64;
    println!("watching {key} on {device} every {interval_ms} ms");
    loop {
        let mut actions = Vec::new();
        match dev.read_keys() {
            Ok(k) => actions.extend(w.observe_keys(&k)),
            Err(e) => {
                eprintln!("mxfs-pr: {device}: {e}");
                actions.extend(w.observe_failure());
            }
        }
        if !w.io_stopped() {
            match dev.read_reservation() {
                Ok(r) => actions.extend(w.observe_reservation(&r)),
                Err(e) => {
                    eprintln!("mxfs-pr: {device}: {e}");
                    actions.extend(w.observe_failure());
                }
            }
        }
        for a in actions {
            match a {
                WatchAction::StopAllIo { key, generation } => {
                    println!(
                        "StopAllIo: key {key} is gone from {device} (generation {generation}); \
                         stopping all I/O; this node does not re-register on its own"
                    );
                    return Err(Failure(
                        EXIT_FENCED,
                        format!("{device}: own key {key} was preempted"),
                    ));
                }
                WatchAction::Reserve { key } => {
                    println!("no reservation on {device}: reserving with {key}");
                    if let Err(e) = fencing::ensure_reserved(&dev, key) {
                        eprintln!("mxfs-pr: {device}: {e}");
                    }
                }
                WatchAction::ReadsFailing { consecutive } => {
                    println!(
                        "PR reads failing ({consecutive} in a row); relying on disk heartbeats"
                    );
                }
                // Only operator_rejoin produces these; this loop never calls it.
                WatchAction::Register { .. } | WatchAction::Rejoined { .. } => {}
            }
        }
        n += 1;
        if polls != 0 && n >= polls {
            println!("key {key} still registered after {n} polls");
            return Ok(());
        }
        sleep(Duration::from_millis(interval_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
