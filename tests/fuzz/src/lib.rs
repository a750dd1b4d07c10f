//! Fuzz targets for every MXFS decoder (and the SCSI replies fencing parses), and a small deterministic mutation engine to drive
//! them without any extra toolchain.
//!
//! Each target takes arbitrary bytes and panics only when a property is violated: a decoder
//! panicked, or an input it accepted does not re-encode to the same bytes (or, for netlink,
//! to the same values). The first input byte is a control byte: when its low bit is set the
//! target first repairs the checksum or MAC, so mutations also reach the checks behind them.
//!
//! The same target functions back the libFuzzer harness in `libfuzzer/` and the
//! `mxfs-fuzz` binary (`cargo run --release -p mxfs-fuzz -- --seconds 8`).

#![forbid(unsafe_code)]

mod fixture;
pub mod mutate;
pub mod seeds;
pub mod targets;

/// A named fuzz target.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]) -> Outcome,
}

/// What a target did with one input (for statistics; violations panic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Rejected,
}

/// Every target, in a fixed order (the order seeds are derived in).
pub const TARGETS: &[Target] = &[
    Target { name: "lockstate", run: targets::lockstate },
    Target { name: "discovery", run: targets::discovery },
    Target { name: "peer", run: targets::peer_stream },
    Target { name: "hello", run: targets::hello },
    Target { name: "netlink", run: targets::netlink },
    Target { name: "heartbeat", run: targets::heartbeat },
    Target { name: "dlm", run: targets::dlm },
    Target { name: "remote", run: targets::remote },
    Target { name: "pr-in", run: targets::pr_in },
    Target { name: "inquiry", run: targets::inquiry },
];
