//! Command line. mxfs.ko runs `mxfsd --device D --mountpoint M --uuid U [--lockstate L]
//! [--peers P]`, the last two from the mount options (P joined by '+', as mount options are
//! comma separated). `--standalone`
//! runs the cluster core without the kernel (tests, operations), and `--format-lockstate`
//! creates a lockstate region and exits.
//!
//! The kernel spawns mxfsd with no terminal, so parse errors are returned as one line for the
//! log rather than printed by clap.

use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::Parser;
use mxfs_uapi::genl::PATH_MAX_LEN;

/// What mxfs.ko tells the daemon about its mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Block device the volume is mounted from.
    pub device: String,
    /// Mount point; empty when the kernel does not know it.
    pub mountpoint: String,
    /// XFS superblock UUID of the volume (8-4-4-4-12 hex).
    pub uuid: String,
}

/// The whole command line.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "mxfsd",
    version,
    about = "MXFS per-volume daemon. mxfs.ko starts one for each mount and stops it at unmount; \
             it is not meant to be run by hand, except with --standalone or --format-lockstate."
)]
pub struct Cli {
    /// Block device the volume is mounted from.
    #[arg(long, value_name = "DEV", required_unless_present_any = ["standalone", "format_lockstate"])]
    pub device: Option<String>,
    /// Mount point; empty when the kernel does not know it.
    #[arg(long, value_name = "DIR", default_value = "")]
    pub mountpoint: String,
    /// XFS superblock UUID of the volume (8-4-4-4-12 hex).
    #[arg(long, visible_alias = "volume-uuid", value_name = "UUID")]
    pub uuid: String,

    /// Run the cluster core without the kernel: no netlink, a control socket under --run-dir.
    #[arg(long, conflicts_with = "format_lockstate")]
    pub standalone: bool,
    /// Write a fresh lockstate (new random secret) at PATH[:OFFSET] and exit.
    #[arg(long, value_name = "PATH[:OFFSET]")]
    pub format_lockstate: Option<String>,
    /// Lockstate block size (--format-lockstate).
    #[arg(long, value_name = "BYTES", default_value_t = 512)]
    pub block_size: u32,
    /// Disk heartbeat interval stored in the lockstate (--format-lockstate); the cluster's
    /// network and membership timing scale with it (2000 gives the production timing).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub heartbeat_ms: u32,
    /// Lockstate I/O bound stored in the header (--format-lockstate).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub io_timeout_ms: u32,
    /// Slot dead threshold stored in the header (--format-lockstate).
    #[arg(long, value_name = "MS", default_value_t = 20_000)]
    pub dead_after_ms: u32,
    /// Overwrite an existing valid lockstate (--format-lockstate).
    #[arg(long)]
    pub force: bool,

    /// Preformatted lockstate region: a file or device, optionally at a byte offset.
    #[arg(long, value_name = "PATH[:OFFSET]")]
    pub lockstate: Option<String>,
    /// Node identity file.
    #[arg(long, value_name = "PATH", default_value = "/etc/mxfs/node.uuid")]
    pub node_uuid_file: PathBuf,
    /// Directory for the control socket (control.sock).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// TCP port for peer connections.
    #[arg(long, value_name = "PORT", default_value_t = 7600)]
    pub port: u16,
    /// UDP port for discovery.
    #[arg(long, value_name = "PORT", default_value_t = 7601)]
    pub discovery_port: u16,
    /// Unicast discovery destinations, host[:port] separated by commas or '+' (the mount
    /// option's form, since mount options are comma separated); the port defaults to the
    /// discovery port. For networks without multicast.
    #[arg(long, value_name = "HOST[:PORT],...", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Interfaces to multicast on, separated by commas (default: every multicast interface).
    #[arg(long, value_name = "IF,...", value_delimiter = ',')]
    pub interfaces: Vec<String>,
    /// Do not use multicast (only --peers).
    #[arg(long)]
    pub no_multicast: bool,
    /// Hostname to announce (default: the system hostname).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Do not persist a lock record before answering a grant (measurements only).
    #[arg(long)]
    pub no_grant_records: bool,
    /// Log debug messages too.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Which of mxfsd's jobs the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Started by mxfs.ko for a mount.
    Kernel(Args),
    Standalone,
    Format,
}

/// A lockstate location: path and byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub offset: u64,
}

/// `PATH[:OFFSET]`; a path that itself contains ':' can be given as `PATH:0`.
pub fn parse_location(s: &str) -> Result<Location, String> {
    if s.is_empty() {
        return Err("empty lockstate path".into());
    }
    if let Some((p, off)) = s.rsplit_once(':') {
        if !p.is_empty() && !off.is_empty() && off.bytes().all(|b| b.is_ascii_digit()) {
            let offset = off.parse::<u64>().map_err(|_| format!("lockstate offset '{off}' is too large"))?;
            return Ok(Location { path: p.into(), offset });
        }
    }
    Ok(Location { path: s.into(), offset: 0 })
}

/// Resolves `host[:port]` entries (each may hold several joined by '+'); the port defaults
/// to `default_port`.
pub fn resolve_peers(peers: &[String], default_port: u16) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for p in peers.iter().flat_map(|p| p.split('+')).map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let with_port = if p.parse::<SocketAddr>().is_ok() || (p.contains(':') && !p.contains('[') && p.matches(':').count() == 1) {
            p.to_string()
        } else {
            format!("{p}:{default_port}")
        };
        let addrs = with_port
            .to_socket_addrs()
            .map_err(|e| format!("--peers entry '{p}' cannot be resolved: {e}"))?;
        let v4: Vec<SocketAddr> = addrs.filter(|a| a.is_ipv4()).collect();
        match v4.first() {
            Some(a) => out.push(*a),
            None => return Err(format!("--peers entry '{p}' has no IPv4 address")),
        }
    }
    Ok(out)
}

impl Cli {
    pub fn mode(&self) -> Mode {
        if self.format_lockstate.is_some() {
            Mode::Format
        } else if self.standalone {
            Mode::Standalone
        } else {
            Mode::Kernel(Args {
                device: self.device.clone().unwrap_or_default(),
                mountpoint: self.mountpoint.clone(),
                uuid: self.uuid.clone(),
            })
        }
    }

    fn validate(&self) -> Result<(), String> {
        if let Mode::Kernel(a) = self.mode() {
            a.validate()?;
        } else if !mxfs_nl::is_volume_uuid(&self.uuid) {
            return Err(bad_uuid(&self.uuid));
        }
        for l in [&self.lockstate, &self.format_lockstate].into_iter().flatten() {
            parse_location(l).map_err(|e| format!("--lockstate/--format-lockstate: {e}"))?;
        }
        if self.port == 0 && self.mode() != Mode::Format && !self.standalone {
            return Err("--port 0 is only for --standalone".into());
        }
        if self.discovery_port == 0 {
            return Err("--discovery-port must not be 0".into());
        }
        if let Some(h) = &self.hostname {
            mxfs_uapi::ident::Hostname::new(h.as_bytes()).map_err(|e| format!("--hostname: {e}"))?;
        }
        Ok(())
    }
}

fn bad_uuid(uuid: &str) -> String {
    format!("--uuid '{uuid}' is not a volume UUID; expected 36 characters in 8-4-4-4-12 hex form")
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsOutcome {
    /// A usage error, as one line: exit 2.
    Usage(String),
    /// `--help` or `--version` text to print: exit 0.
    Info(String),
}

/// Parses and validates the kernel's command line (`argv[0]` first).
#[cfg_attr(not(test), allow(dead_code))]
pub fn parse<I, T>(argv: I) -> Result<Args, ArgsOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = parse_cli(argv)?;
    match cli.mode() {
        Mode::Kernel(a) => Ok(a),
        _ => Err(ArgsOutcome::Usage("--standalone and --format-lockstate are not a kernel command line".into())),
    }
}

/// Parses and validates the whole command line (`argv[0]` first).
pub fn parse_cli<I, T>(argv: I) -> Result<Cli, ArgsOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::try_parse_from(argv).map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ArgsOutcome::Info(e.to_string()),
        _ => ArgsOutcome::Usage(first_line(&e.to_string())),
    })?;
    cli.validate().map_err(ArgsOutcome::Usage)?;
    Ok(cli)
}

impl Args {
    fn validate(&self) -> Result<(), String> {
        if self.device.is_empty() {
            return Err("--device must name the volume's block device".into());
        }
        if !mxfs_nl::is_volume_uuid(&self.uuid) {
            return Err(bad_uuid(&self.uuid));
        }
        for (name, value) in [
            ("--device", &self.device),
            ("--mountpoint", &self.mountpoint),
        ] {
            if value.len() > PATH_MAX_LEN {
                return Err(format!(
                    "{name} is {} bytes long, the limit is {PATH_MAX_LEN}",
                    value.len()
                ));
            }
        }
        Ok(())
    }
}

/// clap renders "error: ...\n  detail\n\nUsage: ..."; the log gets the first paragraph as
/// one line, without the prefix.
fn first_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match joined.strip_prefix("error: ") {
        Some(rest) => rest.to_string(),
        None if joined.is_empty() => "invalid arguments".to_string(),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12";

    fn argv(rest: &[&str]) -> Vec<String> {
        std::iter::once("mxfsd")
            .chain(rest.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn kernel_command_line_parses() {
        let a = parse(argv(&[
            "--device",
            "/dev/sdb",
            "--mountpoint",
            "/mnt/shared",
            "--uuid",
            UUID,
        ]))
        .unwrap();
        assert_eq!(
            a,
            Args {
                device: "/dev/sdb".into(),
                mountpoint: "/mnt/shared".into(),
                uuid: UUID.into()
            }
        );
    }

    #[test]
    fn empty_mountpoint_is_allowed_and_so_is_leaving_it_out() {
        let a = parse(argv(&[
            "--device",
            "/dev/sdb",
            "--mountpoint",
            "",
            "--uuid",
            UUID,
        ]))
        .unwrap();
        assert_eq!(a.mountpoint, "");
        let a = parse(argv(&["--device", "/dev/sdb", "--uuid", UUID])).unwrap();
        assert_eq!(a.mountpoint, "");
    }

    #[test]
    fn bad_uuid_is_a_usage_error_naming_the_value() {
        for bad in [
            "",
            "xyz",
            "0b7c5a2e9f1d4c3b8a6e2d4f6a8c0e12",
            "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e1z",
        ] {
            match parse(argv(&["--device", "/dev/sdb", "--uuid", bad])) {
                Err(ArgsOutcome::Usage(msg)) => {
                    assert!(msg.contains("--uuid"), "{msg}");
                    assert!(msg.contains("8-4-4-4-12"), "{msg}");
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn empty_device_is_a_usage_error() {
        let err = parse(argv(&["--device", "", "--uuid", UUID])).unwrap_err();
        assert!(
            matches!(err, ArgsOutcome::Usage(ref m) if m.contains("--device")),
            "{err:?}"
        );
    }

    #[test]
    fn over_long_paths_are_refused() {
        let long = format!("/{}", "m".repeat(PATH_MAX_LEN));
        let err = parse(argv(&[
            "--device",
            "/dev/sdb",
            "--mountpoint",
            &long,
            "--uuid",
            UUID,
        ]))
        .unwrap_err();
        assert!(
            matches!(err, ArgsOutcome::Usage(ref m) if m.contains("--mountpoint")),
            "{err:?}"
        );
    }

    #[test]
    fn missing_or_unknown_arguments_give_one_line() {
        for rest in [
            &["--uuid", UUID][..],
            &["--device", "/dev/sdb", "--uuid", UUID, "--bogus"][..],
        ] {
            match parse(argv(rest)) {
                Err(ArgsOutcome::Usage(msg)) => {
                    assert!(!msg.contains('\n') && !msg.is_empty(), "{msg:?}");
                    assert!(!msg.starts_with("error:"), "{msg:?}");
                }
                other => panic!("{rest:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn missing_arguments_are_listed_on_the_same_line() {
        match parse(argv(&[])) {
            Err(ArgsOutcome::Usage(msg)) => {
                assert!(msg.contains("--device") && msg.contains("--uuid"), "{msg}");
                assert!(!msg.contains("Usage"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_is_information_not_an_error() {
        assert!(
            matches!(parse(argv(&["--help"])), Err(ArgsOutcome::Info(t)) if t.contains("--device"))
        );
    }

    #[test]
    fn standalone_and_format_need_no_device() {
        let c = parse_cli(argv(&["--standalone", "--uuid", UUID, "--lockstate", "/var/tmp/ls:4096", "--port", "0"])).unwrap();
        assert_eq!(c.mode(), Mode::Standalone);
        assert_eq!(
            parse_location(c.lockstate.as_deref().unwrap()).unwrap(),
            Location { path: "/var/tmp/ls".into(), offset: 4096 }
        );
        let c = parse_cli(argv(&["--format-lockstate", "/dev/sdb:0", "--volume-uuid", UUID])).unwrap();
        assert_eq!(c.mode(), Mode::Format);
        assert!(parse(argv(&["--standalone", "--uuid", UUID])).is_err());
    }

    #[test]
    fn cluster_options_are_checked() {
        for rest in [
            &["--standalone", "--uuid", "bad"][..],
            &["--standalone", "--uuid", UUID, "--hostname", "a b"][..],
            &["--standalone", "--uuid", UUID, "--discovery-port", "0"][..],
            &["--device", "/dev/sdb", "--uuid", UUID, "--port", "0"][..],
            &["--standalone", "--format-lockstate", "x", "--uuid", UUID][..],
        ] {
            assert!(matches!(parse_cli(argv(rest)), Err(ArgsOutcome::Usage(_))), "{rest:?}");
        }
        let c = parse_cli(argv(&["--device", "/dev/sdb", "--uuid", UUID, "--peers", "10.0.0.1,10.0.0.2:9000"])).unwrap();
        assert_eq!(
            resolve_peers(&c.peers, 7601).unwrap(),
            vec!["10.0.0.1:7601".parse().unwrap(), "10.0.0.2:9000".parse().unwrap()]
        );
        assert_eq!(parse_location("/a:b").unwrap(), Location { path: "/a:b".into(), offset: 0 });
        // The kernel passes the mount option's '+'-separated form.
        let c = parse_cli(argv(&["--device", "/dev/sdb", "--uuid", UUID, "--peers", "10.0.0.1+10.0.0.2:9000,10.0.0.3"])).unwrap();
        assert_eq!(
            resolve_peers(&c.peers, 7601).unwrap(),
            vec!["10.0.0.1:7601".parse().unwrap(), "10.0.0.2:9000".parse().unwrap(), "10.0.0.3:7601".parse().unwrap()]
        );
    }
}
