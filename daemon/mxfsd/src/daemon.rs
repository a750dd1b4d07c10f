//! The daemon's life for one mount: report ready to mxfs.ko, serve until told to stop.
//! Subsystems (node identity, discovery, peers, DLM, heartbeats) start here, before
//! DAEMON_READY, as they are added.

use std::fmt;

use mxfs_nl::{Client, NlError};

use crate::args::Args;
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

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(args: &Args) -> Result<(), Error> {
    // Before the netlink client exists: its receive thread must inherit the mask.
    let termination = signals::block().map_err(Error::Signals)?;
    // Held until exit: mxfs.ko records this socket at DAEMON_READY and treats its release as
    // the daemon dying (the mount turns degraded).
    let kernel = Client::connect().map_err(Error::Connect)?;

    log::info!("{}: ready", describe(args));
    kernel.daemon_ready(&args.uuid).map_err(Error::Ready)?;

    let signal = termination.wait().map_err(Error::Wait)?;
    log::info!("{}: stopping on {}", describe(args), signal.as_str());
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
