//! The daemon's life for one mount: start the cluster core, elect the role, report ready to
//! mxfs.ko, serve remote operations until told to stop, then leave cleanly.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mxfs_nl::{Channel, NlError};
use mxfs_uapi::genl::role;

use crate::args::{parse_location, Args, Cli};
use crate::cluster::{setup, Cluster};
use crate::remote::election::Elected;
use crate::remote::exec::{Executor, MountRoot};
use crate::remote::kernel::{Dispatch, KernelLink};
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

/// How long the election may wait for the cluster lock (joining a view included).
const ELECT_LIMIT: Duration = Duration::from_secs(120);

/// Runs the daemon for a kernel mount until SIGTERM or SIGINT.
pub fn run(args: &Args, cli: &Cli) -> Result<(), Error> {
    // Before any thread exists: every thread must inherit the mask.
    let termination = signals::block().map_err(Error::Signals)?;
    // Held until exit: mxfs.ko records this socket at DAEMON_READY, sends remote requests to
    // it and treats its release as the daemon dying (the mount turns degraded).
    let kernel = Arc::new(Channel::open().map_err(Error::Connect)?);

    // The cluster core and the election run before the ready report: the kernel mounts the
    // XFS only on an owner, and only after DAEMON_READY says so.
    let mut cluster = match &cli.lockstate {
        Some(_) => Some(Cluster::start(cli).map_err(Error::Cluster)?),
        None => {
            log::info!("{}: no lockstate given; running without disk heartbeats or cluster peers", describe(args));
            None
        }
    };
    let elected = match &cluster {
        Some(c) => c.elect(ELECT_LIMIT).map_err(|e| Error::Cluster(format!("owner election: {e}")))?,
        None => Elected { role: role::OWNER, owner: single_node_id(cli), generation: 0 },
    };
    let executor = owner_executor(&elected, &args.mountpoint, true)?;
    let dispatch = route(cluster.as_ref(), &elected, executor);
    if let Some(c) = &cluster {
        c.set_kernel(kernel.clone());
    }

    log::info!("{}: ready, {}", describe(args), role_text(&elected));
    kernel.daemon_ready(&args.uuid, elected.role, elected.owner).map_err(Error::Ready)?;
    // Only now: until the ACK the ready request reads the socket itself.
    let mut link = KernelLink::start(kernel.clone(), dispatch).map_err(Error::Cluster)?;

    let signal = termination.wait().map_err(Error::Wait)?;
    log::info!("{}: stopping on {}", describe(args), signal.as_str());
    link.stop();
    finish(cluster.as_mut(), &elected);
    Ok(())
}

/// Runs the cluster core without the kernel until SIGTERM or SIGINT. With `--mountpoint` the
/// node also elects its role and serves remote operations on that directory (the control
/// socket's `remote` request stands in for the kernel).
pub fn run_standalone(cli: &Cli) -> Result<(), Error> {
    let termination = signals::block().map_err(Error::Signals)?;
    let mut cli = cli.clone();
    if cli.run_dir.is_none() {
        cli.run_dir = Some(format!("/run/mxfs/{}", cli.uuid).into());
    }
    let mut cluster = Cluster::start(&cli).map_err(Error::Cluster)?;
    log::info!("volume {}: standalone node {:#010x} ready", cli.uuid, cluster.ident.node_id);
    let mut elected = None;
    if !cli.mountpoint.is_empty() {
        let e = cluster.elect(ELECT_LIMIT).map_err(|e| Error::Cluster(format!("owner election: {e}")))?;
        let executor = owner_executor(&e, &cli.mountpoint, false)?;
        route(Some(&cluster), &e, executor);
        log::info!("volume {}: {}", cli.uuid, role_text(&e));
        elected = Some(e);
    }
    let signal = termination.wait().map_err(Error::Wait)?;
    log::info!("volume {}: stopping on {}", cli.uuid, signal.as_str());
    match elected {
        Some(e) => finish(Some(&mut cluster), &e),
        None => cluster.stop(),
    }
    Ok(())
}

fn role_text(e: &Elected) -> String {
    if e.role == role::OWNER {
        format!("owner of the volume (ownership generation {})", e.generation)
    } else {
        format!("member; the owner is node {:#010x}", e.owner)
    }
}

/// The owner's executor, on its mount point (none for a member, or without a mount point).
/// Its operations pass through the owner's mxfs mount, whose kernel takes the cache locks
/// they need, in the same order as for local processes (inside the VFS's own locks).
fn owner_executor(e: &Elected, mountpoint: &str, check_magic: bool) -> Result<Option<Arc<Executor>>, Error> {
    if e.role != role::OWNER || mountpoint.is_empty() {
        return Ok(None);
    }
    let root = MountRoot::new(mountpoint.into(), check_magic);
    Executor::start(root, None).map(|x| Some(Arc::new(x))).map_err(Error::Cluster)
}

/// Tells the engine the role; returns where the kernel's requests go.
fn route(cluster: Option<&Cluster>, e: &Elected, executor: Option<Arc<Executor>>) -> Dispatch {
    match (cluster, executor) {
        (Some(c), x) => {
            c.set_role(e, x);
            Dispatch::Engine(c.remote_sender())
        }
        (None, Some(x)) => Dispatch::Local(x),
        (None, None) => Dispatch::Nowhere,
    }
}

/// Clean stop: an owner vacates the owner record (the kernel has unmounted the XFS before
/// it sends SIGTERM), then the node leaves the cluster.
fn finish(cluster: Option<&mut Cluster>, e: &Elected) {
    if let Some(c) = cluster {
        // After a failover this node may own the volume through a mount of its own: that is
        // closed first, so the record is vacated only once the XFS is unmounted.
        let now = c.stop_serving().map_or(e.role, |(r, _)| r);
        if now == role::OWNER {
            c.release_ownership();
        }
        c.stop();
    }
}

/// Without a lockstate the node owns the volume alone; the kernel still wants a node id.
fn single_node_id(cli: &Cli) -> u32 {
    match mxfs_disk::identity::load_or_create(&cli.node_uuid_file) {
        Ok(id) => id.node_id,
        Err(e) => {
            log::warn!("node identity: {e}; reporting owner node 0");
            0
        }
    }
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
