//! Termination signals. mxfs.ko stops mxfsd with SIGTERM at unmount; SIGINT is honoured for
//! runs under a debugger. Both are blocked and taken synchronously with sigwait, so no handler
//! runs in the middle of netlink or disk I/O.

use nix::sys::signal::{SigSet, Signal};

/// The blocked termination signals of this thread.
pub struct Termination(SigSet);

/// Blocks SIGTERM and SIGINT in the calling thread. Call it before any thread is spawned (neli
/// starts one) so every thread inherits the mask and the signals wait for [`Termination::wait`].
pub fn block() -> nix::Result<Termination> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block()?;
    Ok(Termination(set))
}

impl Termination {
    /// Waits until SIGTERM or SIGINT arrives and returns which.
    pub fn wait(&self) -> nix::Result<Signal> {
        self.0.wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::raise;

    #[test]
    fn a_blocked_sigterm_is_returned_by_wait() {
        // The test harness runs each test in its own thread; the mask and raise() are per
        // thread, so this affects no other test.
        let term = block().unwrap();
        raise(Signal::SIGTERM).unwrap();
        assert_eq!(term.wait().unwrap(), Signal::SIGTERM);
        raise(Signal::SIGINT).unwrap();
        assert_eq!(term.wait().unwrap(), Signal::SIGINT);
    }
}
