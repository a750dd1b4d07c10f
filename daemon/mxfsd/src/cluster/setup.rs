//! Start-up steps before the cluster threads run: the lockstate (format, open), the cluster
//! timing it implies, the heartbeat slot claim, and this run's incarnation.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use mxfs_cluster::Timing;
use mxfs_disk::claim::{Claim, Claimant, SlotView};
use mxfs_disk::identity::NodeIdentity;
use mxfs_disk::{DiskError, LockstateFile};
use mxfs_uapi::ident::{Hostname, Uuid, UuidText};
use mxfs_uapi::lockstate::{slot_flags, Geometry, Header, LockstateError, Timing as DiskTiming};

use crate::args::Location;
use crate::clock;

/// Formats a lockstate at `loc` for `volume` with a fresh random secret. A file that does not
/// exist is created at the right size; an existing valid lockstate is kept unless `force`.
pub fn format(loc: &Location, volume: &Uuid, block_size: u32, timing: DiskTiming, force: bool) -> Result<Header, String> {
    let secret = mxfs_disk::random::bytes::<32>().map_err(|e| format!("cannot read random bytes: {e}"))?;
    if secret == [0; 32] {
        return Err("the random source returned zeros; refusing to create a lockstate with an all-zero secret".into());
    }
    let mut header = Header::new(*volume, secret, block_size);
    header.timing = timing;
    header.encode().map_err(|e| format!("invalid lockstate parameters: {e}"))?;
    if !force {
        match LockstateFile::open(&loc.path, loc.offset, volume) {
            Ok(_) => {
                return Err(format!(
                    "{} already holds a lockstate for volume {}; add --force to destroy it (only when no node uses it)",
                    loc.path.display(),
                    UuidText(volume)
                ))
            }
            Err(DiskError::Record { error: LockstateError::WrongVolume { .. }, .. }) if !force => {
                return Err(format!(
                    "{} holds the lockstate of another volume; add --force to destroy it",
                    loc.path.display()
                ))
            }
            Err(_) => {}
        }
    }
    let need = loc.offset + Geometry::standard(block_size).total_size;
    if !loc.path.exists() || std::fs::metadata(&loc.path).is_ok_and(|m| m.is_file() && m.len() < need) {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&loc.path)
            .map_err(|e| format!("cannot create {}: {e}", loc.path.display()))?;
        f.set_len(need).map_err(|e| format!("cannot size {}: {e}", loc.path.display()))?;
    }
    LockstateFile::format(&loc.path, loc.offset, &header).map_err(|e| e.to_string())?;
    Ok(header)
}

/// Cluster timing for a lockstate: the production values scaled by the header's heartbeat
/// interval (2000 ms gives exactly `Timing::production`). Every node reads the same header, so
/// every node runs the same thresholds, which the fencing argument needs.
pub fn cluster_timing(disk: &DiskTiming) -> Result<Timing, String> {
    let p = Timing::production();
    let hb = u64::from(disk.heartbeat_interval_ms);
    let scale = |v: u64| (v * hb / p.disk_interval).max(1);
    let t = Timing {
        heartbeat_interval: scale(p.heartbeat_interval),
        disk_interval: hb,
        disk_lease: scale(p.disk_lease),
        disk_dead: scale(p.disk_dead),
        net_silent: scale(p.net_silent),
        lease: scale(p.lease),
        fence_after: scale(p.fence_after),
        found_wait: scale(p.found_wait),
        retransmit: scale(p.retransmit).max(20),
    };
    t.validate()?;
    // The claim protocol lets others reclaim our slot once it has not changed for
    // `dead_after`; we must have stopped by then. Membership stops us `disk_dead` after the
    // last successful heartbeat, which completed within one I/O bound of being issued.
    let io = u64::from(disk.io_timeout_ms);
    if t.disk_dead + 2 * io + tick_ms(&t) >= u64::from(disk.dead_after_ms) {
        return Err(format!(
            "lockstate timing (heartbeat {} ms, I/O bound {} ms, dead after {} ms) leaves no margin for self-fencing; \
             reformat with a dead threshold above {} ms",
            disk.heartbeat_interval_ms,
            disk.io_timeout_ms,
            disk.dead_after_ms,
            t.disk_dead + 2 * io + tick_ms(&t)
        ));
    }
    Ok(t)
}

/// How often the state machines are ticked (they ask for at least every half heartbeat).
pub fn tick_ms(t: &Timing) -> u64 {
    (t.heartbeat_interval / 4).max(5)
}

/// The system hostname as announced (sanitised to the announcement's character set).
pub fn hostname(given: Option<&str>) -> Hostname {
    match given {
        Some(h) => Hostname::sanitized(h.as_bytes()),
        None => {
            let h = nix::unistd::gethostname().ok().and_then(|s| s.into_string().ok()).unwrap_or_default();
            Hostname::sanitized(h.as_bytes())
        }
    }
}

/// Claims a heartbeat slot, retrying races with a random backoff. Refusals (this node already
/// runs, a live node with our node id, no free slot) fail at once with the protocol's message.
pub fn claim_slot(ls: &mut LockstateFile, me: &NodeIdentity, hostname: Hostname) -> Result<Claim, String> {
    let mut last = String::new();
    for attempt in 0..12 {
        let nonce = mxfs_disk::random::bytes::<16>().map_err(|e| format!("cannot read random bytes: {e}"))?;
        let nonce = if nonce == [0; 16] { [1; 16] } else { nonce };
        let claimant = Claimant { node_uuid: me.uuid, node_id: me.node_id, hostname, nonce, flags: slot_flags::NO_PR };
        match ls.claim_slot(claimant) {
            Ok(c) => return Ok(c),
            Err(DiskError::Claim(e)) if e.is_retryable() => {
                log::info!("heartbeat slot claim attempt {}: {e}", attempt + 1);
                last = e.to_string();
                let r = mxfs_disk::random::bytes::<2>().map(u16::from_le_bytes).unwrap_or(0);
                let hb = u64::from(ls.header().timing.heartbeat_interval_ms);
                std::thread::sleep(Duration::from_millis(hb / 4 + u64::from(r) % hb.max(1)));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("could not claim a heartbeat slot after 12 attempts: {last}"))
}

/// This run's incarnation: the wall clock at start in ms, kept above every heartbeat time a
/// previous run of this node left in the lockstate, so it grows across restarts even if the
/// clock was stepped back a little.
pub fn incarnation(ls: Option<&mut LockstateFile>, me: &NodeIdentity) -> u64 {
    let mut inc = clock::wall_ms().max(1);
    if let Some(ls) = ls {
        for i in 0..ls.header().geometry.slot_count {
            if let Ok(SlotView::Valid(s)) = ls.read_slot_view(i) {
                if s.node_uuid == me.uuid && !s.is_free() {
                    inc = inc.max(s.timestamp_ms.saturating_add(1));
                }
            }
        }
    }
    inc
}

/// Opens the lockstate and checks it can carry this volume's heartbeats.
pub fn open(loc: &Location, volume: &Uuid) -> Result<LockstateFile, String> {
    let ls = LockstateFile::open(&loc.path, loc.offset, volume).map_err(|e| match e {
        DiskError::Record { error: LockstateError::Blank, .. } => format!(
            "{} holds no lockstate; create one with mxfsd --format-lockstate {} --uuid {}",
            loc.path.display(),
            loc.path.display(),
            UuidText(volume)
        ),
        e => e.to_string(),
    })?;
    Ok(ls)
}

/// Used by tests and tools: true if `path` looks like a lockstate of `volume`.
#[allow(dead_code)]
pub fn is_lockstate(path: &Path, offset: u64, volume: &Uuid) -> bool {
    LockstateFile::open(path, offset, volume).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_header_gives_production_timing() {
        assert_eq!(cluster_timing(&DiskTiming::DEFAULT).unwrap(), Timing::production());
    }

    #[test]
    fn a_fast_header_scales_every_threshold() {
        let t = cluster_timing(&DiskTiming { heartbeat_interval_ms: 200, io_timeout_ms: 250, dead_after_ms: 3000 }).unwrap();
        assert_eq!((t.heartbeat_interval, t.disk_interval, t.net_silent, t.fence_after), (100, 200, 1200, 1800));
        t.validate().unwrap();
    }

    #[test]
    fn a_header_without_self_fence_margin_is_refused() {
        let e = cluster_timing(&DiskTiming { heartbeat_interval_ms: 200, io_timeout_ms: 100, dead_after_ms: 900 }).unwrap_err();
        assert!(e.contains("no margin"), "{e}");
    }
}
