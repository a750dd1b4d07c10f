//! mxfsd: one per mounted mxfs volume, started and stopped by mxfs.ko. It never daemonizes:
//! the kernel owns its lifecycle and watches its pid.
//!
//! Exit codes: 0 stopped on SIGTERM/SIGINT, 1 runtime failure, 2 bad arguments.

mod args;
mod daemon;
mod logging;
mod signals;

use std::process::ExitCode;

use logging::Backend;

fn main() -> ExitCode {
    let backend = logging::init();
    let args = match args::parse(std::env::args_os()) {
        Ok(args) => args,
        Err(args::ArgsOutcome::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(args::ArgsOutcome::Usage(msg)) => {
            fatal(backend, &format!("invalid arguments: {msg}"));
            return ExitCode::from(2);
        }
    };
    match daemon::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(backend, &format!("{}: {e}", daemon::describe(&args)));
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
