//! Command line given by mxfs.ko: `mxfsd --device D --mountpoint M --uuid U`.
//!
//! The kernel spawns mxfsd with no terminal, so parse errors are returned as one line for the
//! log rather than printed by clap.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::Parser;
use mxfs_uapi::genl::PATH_MAX_LEN;

/// What mxfs.ko tells the daemon about its mount.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "mxfsd",
    version,
    about = "MXFS per-volume daemon. mxfs.ko starts one for each mount and stops it at unmount; \
             it is not meant to be run by hand."
)]
pub struct Args {
    /// Block device the volume is mounted from.
    #[arg(long, value_name = "DEV")]
    pub device: String,
    /// Mount point; empty when the kernel does not know it.
    #[arg(long, value_name = "DIR", default_value = "")]
    pub mountpoint: String,
    /// XFS superblock UUID of the volume (8-4-4-4-12 hex).
    #[arg(long, value_name = "UUID")]
    pub uuid: String,
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsOutcome {
    /// A usage error, as one line: exit 2.
    Usage(String),
    /// `--help` or `--version` text to print: exit 0.
    Info(String),
}

/// Parses and validates the command line (`argv[0]` first).
pub fn parse<I, T>(argv: I) -> Result<Args, ArgsOutcome>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::try_parse_from(argv).map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ArgsOutcome::Info(e.to_string()),
        _ => ArgsOutcome::Usage(first_line(&e.to_string())),
    })?;
    args.validate().map_err(ArgsOutcome::Usage)?;
    Ok(args)
}

impl Args {
    fn validate(&self) -> Result<(), String> {
        if self.device.is_empty() {
            return Err("--device must name the volume's block device".into());
        }
        if !mxfs_nl::is_volume_uuid(&self.uuid) {
            return Err(format!(
                "--uuid '{}' is not a volume UUID; expected 36 characters in 8-4-4-4-12 hex form",
                self.uuid
            ));
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
}
