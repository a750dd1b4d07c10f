//! The daemon's clock: CLOCK_MONOTONIC in milliseconds. It is the same clock for every process
//! on the host, so times in `status` output of several daemons can be compared.

use nix::time::{clock_gettime, ClockId};

/// Milliseconds of CLOCK_MONOTONIC.
pub fn now_ms() -> u64 {
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(t) => (t.tv_sec() as u64).saturating_mul(1000) + (t.tv_nsec() as u64) / 1_000_000,
        // CLOCK_MONOTONIC cannot fail on Linux; fall back to a clock that at least moves.
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    }
}

/// Milliseconds since the Unix epoch (wall clock; display and incarnation numbers only).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
