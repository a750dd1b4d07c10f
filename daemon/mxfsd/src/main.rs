//! mxfsd: one per mounted mxfs volume, started and stopped by mxfs.ko. It never daemonizes:
//! the kernel owns its lifecycle and watches its pid.
//!
//! Exit codes: 0 stopped on SIGTERM/SIGINT, 1 runtime failure, 2 bad arguments.

mod args;
mod clock;
mod cluster;
mod daemon;
mod logging;
mod remote;
mod signals;

use std::process::ExitCode;

use logging::Backend;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Runs by hand log to stderr, with a time stamp; the kernel's runs use syslog or kmsg.
    let by_hand = argv.iter().any(|a| a == "--standalone" || a == "--format-lockstate");
    let verbose = argv.iter().any(|a| a == "--verbose" || a == "-v");
    let backend = if by_hand { logging::init_stderr(verbose) } else { logging::init() };
    let cli = match args::parse_cli(argv) {
        Ok(cli) => cli,
        Err(args::ArgsOutcome::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(args::ArgsOutcome::Usage(msg)) => {
            fatal(backend, &format!("invalid arguments: {msg}"));
            return ExitCode::from(2);
        }
    };
    let (result, what) = match cli.mode() {
        args::Mode::Kernel(a) => (daemon::run(&a, &cli), daemon::describe(&a)),
        args::Mode::Standalone => (daemon::run_standalone(&cli), format!("volume {}", cli.uuid)),
        args::Mode::Format => (daemon::run_format(&cli), format!("volume {}", cli.uuid)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(backend, &format!("{what}: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Logs a fatal error; when the log is not stderr, says it on stderr too for anyone running
/// mxfsd by hand.
fn fatal(backend: Backend, msg: &str) {
    log::error!("{msg}");
    if backend != Backend::Stderr {
        eprint!("{}", logging::stderr_line(msg));
    }
}
