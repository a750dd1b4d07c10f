//! mxfsadm: MXFS management over netlink.
//!
//! Exit codes: 0 success, 1 runtime error (one line "mxfsadm: <what>; <what to do>"),
//! 2 usage error (clap's).

mod status;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mxfs_nl::{Client, NlError};

#[derive(Parser, Debug)]
#[command(
    name = "mxfsadm",
    version,
    about = "Manage MXFS cluster filesystem mounts on this host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show every mxfs mount on this host and the state of its daemon.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status { json } => cmd_status(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("mxfsadm: {msg}");
            ExitCode::from(1)
        }
    }
}

fn cmd_status(json: bool) -> Result<(), String> {
    let mounts = Client::connect()
        .and_then(|c| c.status())
        .map_err(|e: NlError| e.to_string())?;
    let report = status::StatusReport::new(mounts);
    let text = if json {
        report.to_json()
    } else {
        report.to_table()
    };
    emit(&text)
}

/// Writes to stdout; a reader that went away (`mxfsadm status | head`) is not an error.
fn emit(text: &str) -> Result<(), String> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(format!(
            "cannot write to standard output: {e}; check where the output goes"
        )),
        _ => Ok(()),
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

    #[test]
    fn status_json_flag_parses() {
        let cli = Cli::try_parse_from(["mxfsadm", "status", "--json"]).unwrap();
        assert!(matches!(cli.command, Command::Status { json: true }));
        let cli = Cli::try_parse_from(["mxfsadm", "status"]).unwrap();
        assert!(matches!(cli.command, Command::Status { json: false }));
    }

    #[test]
    fn unknown_subcommand_is_a_usage_error() {
        let err = Cli::try_parse_from(["mxfsadm", "frobnicate"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
