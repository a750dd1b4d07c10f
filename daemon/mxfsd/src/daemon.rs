//! The daemon's life for one mount: report ready to mxfs.ko, serve until told to stop.
//! Subsystems (node identity, discovery, peers, DLM, heartbeats) start here, before
//! DAEMON_READY, as they are added.

use std::fmt;

use mxfs_nl::{Client, NlError};

use crate::args::{parse_location, Args, Cli};
use crate::cluster::{setup, Cluster};
use crate::signals;

/// Why mxfsd gave up. Each renders as one log line that says what to do.
#[derive(Debug)]
pub enum Error {
    /// Blocking the termination signals failed.
    Signals(nix::Error),
    /// The netlink connection to mxfs.ko could not be made.
    Connect(NlError),
    /// The kernel did not accept DAEMON_READY.
    Ready(NlError),
    /// Waiting for a termination signal failed.
    Wait(nix::Error),
    /// A cluster subsystem could not start.
    Cluster(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Signals(e) => write!(
                f,
                "cannot block SIGTERM/SIGINT: {}; this is a bug, report it",
                e.desc()
            ),
            Error::Connect(e) => write!(f, "cannot reach mxfs.ko over netlink: {e}"),
            Error::Ready(e) => write!(f, "DAEMON_READY not accepted: {e}"),
            Error::Wait(e) => write!(
                f,
                "waiting for SIGTERM failed: {}; this is a bug, report it",
                e.desc()
            ),
            Error::Cluster(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Error {}

/// How the mount is named in log lines.
pub fn describe(args: &Args) -> String {
    let at = if args.mountpoint.is_empty() {
        "(unknown mount point)"
    } else {
        &args.mountpoint
    };
    format!("volume {} on {} at {at}", args.uuid, args.device)
}

/// Runs the daemon for a kernel mount until SIGTERM or SIGINT.
pub fn run(args: &Args, cli: &Cli) -> Result<(), Error> {
    // Before the netlink client exists: its receive thread must inherit the mask.
    let termination = signals::block().map_err(Error::Signals)?;
    // Held until exit: mxfs.ko records this socket at DAEMON_READY and treats its release as
    // the daemon dying (the mount turns degraded).
    let kernel = Client::connect().map_err(Error::Connect)?;

    // The cluster core starts before the ready report, as the mount sequence wants. Without
    // a lockstate (the kernel does not pass one yet) the daemon keeps its single-node role.
    let mut cluster = match &cli.lockstate {
        Some(_) => Some(Cluster::start(cli).map_err(Error::Cluster)?),
        None => {
            log::info!("{}: no lockstate given; running without disk heartbeats or cluster peers", describe(args));
            None
        }
    };

    log::info!("{}: ready", describe(args));
    kernel.daemon_ready(&args.uuid).map_err(Error::Ready)?;

    let signal = termination.wait().map_err(Error::Wait)?;
    log::info!("{}: stopping on {}", describe(args), signal.as_str());
    if let Some(c) = cluster.as_mut() {
        c.stop();
    }
    Ok(())
}

/// Runs the cluster core without the kernel until SIGTERM or SIGINT.
pub fn run_standalone(cli: &Cli) -> Result<(), Error> {
    let termination = signals::block().map_err(Error::Signals)?;
    let mut cli = cli.clone();
    if cli.run_dir.is_none() {
        cli.run_dir = Some(format!("/run/mxfs/{}", cli.uuid).into());
    }
    let mut cluster = Cluster::start(&cli).map_err(Error::Cluster)?;
    log::info!("volume {}: standalone node {:#010x} ready", cli.uuid, cluster.ident.node_id);
    let signal = termination.wait().map_err(Error::Wait)?;
    log::info!("volume {}: stopping on {}", cli.uuid, signal.as_str());
    cluster.stop();
    Ok(())
}

/// `--format-lockstate`: writes a fresh lockstate and exits.
pub fn run_format(cli: &Cli) -> Result<(), Error> {
    let loc = parse_location(cli.format_lockstate.as_deref().unwrap_or_default()).map_err(Error::Cluster)?;
    let volume = mxfs_uapi::ident::parse_uuid(&cli.uuid).ok_or_else(|| Error::Cluster("invalid --uuid".into()))?;
    let timing = mxfs_uapi::lockstate::Timing {
        heartbeat_interval_ms: cli.heartbeat_ms,
        io_timeout_ms: cli.io_timeout_ms,
        dead_after_ms: cli.dead_after_ms,
    };
    setup::cluster_timing(&timing).map_err(Error::Cluster)?;
    let h = setup::format(&loc, &volume, cli.block_size, timing, cli.force).map_err(Error::Cluster)?;
    log::info!(
        "lockstate for volume {} written to {} at offset {} ({} bytes, {} heartbeat slots, {} lock records, heartbeat {} ms)",
        cli.uuid,
        loc.path.display(),
        loc.offset,
        h.geometry.total_size,
        h.geometry.slot_count,
        h.geometry.lock_count,
        h.timing.heartbeat_interval_ms
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(mountpoint: &str) -> Args {
        Args {
            device: "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4".into(),
            mountpoint: mountpoint.into(),
            uuid: "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12".into(),
        }
    }

    #[test]
    fn describe_names_volume_device_and_mountpoint() {
        assert_eq!(
            describe(&args("/mnt/shared")),
            "volume 0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12 on /dev/disk/by-id/wwn-0x5000c500a1b2c3d4 at /mnt/shared"
        );
        assert!(describe(&args("")).ends_with("at (unknown mount point)"));
    }

    #[test]
    fn errors_are_single_lines_carrying_the_netlink_remedy() {
        let e = Error::Connect(NlError::ModuleNotLoaded);
        let text = e.to_string();
        assert!(
            text.starts_with(
                "cannot reach mxfs.ko over netlink: the mxfs kernel module is not loaded"
            ),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let e = Error::Ready(NlError::from_errno(mxfs_nl::Op::DaemonReady, 1));
        assert!(e.to_string().contains("CAP_NET_ADMIN"), "{e}");
    }
}
