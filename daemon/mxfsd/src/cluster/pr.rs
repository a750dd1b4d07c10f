//! Fencing layer 1 in the daemon: SCSI persistent reservations on the volume's device through
//! `mxfs_pr`. At start the device is probed and joined (register, reserve, verify); the engine
//! then hands every `Preempt` to a worker thread (the ioctls block) and polls the key watch with
//! each disk heartbeat on the watch thread. A device without PR is reported in one line and
//! the volume relies on disk heartbeats and self-fencing (`docs/fencing.md`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use mxfs_cluster::NodeId;
use mxfs_pr::fencing::ensure_reserved;
use mxfs_pr::{
    decide_abort, join, preempt_step, AbortPolicy, KeyWatch, PrDevice, PrError, PrKey, PrOps, PrStep, ReadKeys,
    ReadReservation, RegisterVia, WatchAction,
};

use super::engine::Event;

/// Pause before a preempt step that ended without a conclusion is run again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A device that answered the probe and was joined.
pub struct Joined {
    dev: Arc<PrDevice>,
    key: PrKey,
    abort: bool,
    watch: KeyWatch,
}

/// Opens and probes `device` (None: no PR device, as for `--standalone` without `--device`)
/// and joins it with the key of `node_id`. `Ok(None)` means the volume has no PR; that is
/// logged here in one line. Any other failure is an error: a node that cannot register must
/// not write to a LUN whose fencing relies on registrations.
pub fn setup(device: Option<&str>, node_id: u32) -> Result<Option<Joined>, String> {
    let Some(path) = device.filter(|d| !d.is_empty()) else {
        log::warn!("no PR device (no --device given): fencing falls back to disk heartbeats and self-fencing");
        return Ok(None);
    };
    let dev = PrDevice::open(path).map_err(|e| format!("SCSI PR on {path}: cannot open: {e}"))?;
    match dev.probe() {
        Ok(_) => {}
        Err(e) if e.is_not_supported() => {
            // mxfs-pr's wording: "device D does not support SCSI persistent reservations;
            // fencing falls back to disk heartbeats and self-fencing (...)".
            log::warn!("{e}");
            return Ok(None);
        }
        Err(e) => return Err(format!("SCSI PR on {path}: {e}")),
    }
    let key = PrKey::for_node(node_id);
    let (report, watch) = join(&dev, key, RegisterVia::Auto).map_err(|e| format!("SCSI PR on {path}: joining with key {key} failed: {e}"))?;
    let inquiry = dev.inquiry().ok();
    let (abort, why) = decide_abort(AbortPolicy::Auto, inquiry.as_ref());
    log::info!(
        "SCSI PR on {path}: joined with key {key} ({:?}, reservation {} by {}, generation {}); fencing uses {}",
        report.registered,
        report.reservation.pr_type.name(),
        report.reservation.key.map_or("all registrants".to_string(), |k| k.to_string()),
        report.generation,
        match why {
            None if abort => "PREEMPT AND ABORT".to_string(),
            Some(w) => format!("plain PREEMPT ({w})"),
            None => "plain PREEMPT".to_string(),
        }
    );
    Ok(Some(Joined { dev: Arc::new(dev), key, abort, watch }))
}

/// Results of PR I/O, for the engine.
pub enum PrEvent {
    /// The preempt step of `victim` reached a conclusion (`fence_done` is `Some`).
    Preempted { victim: NodeId, step: PrStep },
    /// One key-watch poll: READ KEYS, then READ RESERVATION (not read after a failed READ KEYS).
    Polled { keys: Result<ReadKeys, PrError>, reservation: Option<Result<ReadReservation, PrError>> },
}

enum WatchReq {
    Poll,
    Reserve,
}

/// What the engine should do after a watch result.
pub enum WatchVerdict {
    Nothing,
    /// Our key is gone: stop all I/O (the self-fence path).
    StopAllIo(String),
}

/// The engine's handle on a joined device.
pub struct Pr {
    dev: Arc<PrDevice>,
    key: PrKey,
    abort: bool,
    watch: KeyWatch,
    watch_tx: SyncSender<WatchReq>,
    events: SyncSender<Event>,
    stopping: Arc<AtomicBool>,
}

impl Pr {
    /// Starts the watch thread; results reach the engine through `events`.
    pub fn start(j: Joined, events: SyncSender<Event>) -> Result<Pr, String> {
        let (watch_tx, rx) = sync_channel::<WatchReq>(1);
        let (dev, key, etx) = (j.dev.clone(), j.key, events.clone());
        std::thread::Builder::new()
            .name("mxfsd-pr-watch".into())
            .spawn(move || {
                for req in rx {
                    match req {
                        WatchReq::Poll => {
                            let keys = dev.read_keys();
                            let reservation = keys.is_ok().then(|| dev.read_reservation());
                            if etx.send(Event::Pr(PrEvent::Polled { keys, reservation })).is_err() {
                                return;
                            }
                        }
                        WatchReq::Reserve => match ensure_reserved(&*dev, key) {
                            Ok(_) => log::info!("SCSI PR on {}: the LU had no reservation; reserved it again", dev.path()),
                            Err(e) => log::warn!("SCSI PR on {}: cannot re-reserve the LU: {e}", dev.path()),
                        },
                    }
                }
            })
            .map_err(|e| format!("cannot start the PR watch thread: {e}"))?;
        Ok(Pr { dev: j.dev, key: j.key, abort: j.abort, watch: j.watch, watch_tx, events, stopping: Arc::new(AtomicBool::new(false)) })
    }

    pub fn path(&self) -> &str {
        self.dev.path()
    }

    /// Runs the preempt step of `victim` on a worker thread, again after a pause while it ends
    /// without a conclusion (fencing never skips a preempt that did not complete).
    pub fn preempt(&self, victim: NodeId) {
        let (dev, key, abort, tx, stopping) = (self.dev.clone(), self.key, self.abort, self.events.clone(), self.stopping.clone());
        let spawned = std::thread::Builder::new().name("mxfsd-pr-fence".into()).spawn(move || loop {
            let step = preempt_step(Some(&*dev), key, victim, abort);
            if mxfs_pr::fence_done(victim, &step).is_some() {
                let _ = tx.send(Event::Pr(PrEvent::Preempted { victim, step }));
                return;
            }
            let why = match &step {
                PrStep::Retry(e) => e.to_string(),
                other => format!("{other:?}"),
            };
            log::warn!("fencing node {:#010x}: SCSI PR preempt on {} did not complete ({why}); retrying", victim.0, dev.path());
            std::thread::sleep(RETRY_AFTER);
            if stopping.load(Ordering::Relaxed) {
                return;
            }
        });
        if let Err(e) = spawned {
            log::error!("fencing node {:#010x}: cannot start a PR worker thread: {e}", victim.0);
        }
    }

    /// Asks the watch thread for a poll (skipped while one is in progress, or once fenced).
    pub fn poll(&self) {
        if !self.watch.io_stopped() {
            // Full: a poll is still in progress; this one is skipped.
            let _ = self.watch_tx.try_send(WatchReq::Poll);
        }
    }

    /// Feeds a poll to the key watch.
    pub fn polled(&mut self, keys: Result<ReadKeys, PrError>, reservation: Option<Result<ReadReservation, PrError>>) -> WatchVerdict {
        let mut actions = Vec::new();
        match keys {
            Ok(k) => actions.extend(self.watch.observe_keys(&k)),
            Err(e) => {
                log::debug!("SCSI PR on {}: READ KEYS failed: {e}", self.path());
                actions.extend(self.watch.observe_failure());
            }
        }
        match reservation {
            Some(Ok(r)) => actions.extend(self.watch.observe_reservation(&r)),
            Some(Err(_)) => actions.extend(self.watch.observe_failure()),
            None => {}
        }
        let mut verdict = WatchVerdict::Nothing;
        for a in actions {
            match a {
                WatchAction::StopAllIo { key, generation } => {
                    log::error!(
                        "SCSI PR on {}: our key {key} is gone (generation {generation}): another node fenced us; stopping all I/O; this node does not re-register on its own",
                        self.path()
                    );
                    verdict = WatchVerdict::StopAllIo(format!("PrKeyGone {{ key: {key}, generation: {generation} }}"));
                }
                WatchAction::Reserve { .. } => {
                    let _ = self.watch_tx.try_send(WatchReq::Reserve);
                }
                WatchAction::ReadsFailing { consecutive } => {
                    log::warn!("SCSI PR on {}: {consecutive} key reads failed in a row; the disk heartbeat governs liveness", self.path())
                }
                // Only an operator rejoin leads to these; the daemon never asks for one.
                WatchAction::Register { .. } | WatchAction::Rejoined { .. } => {}
            }
        }
        verdict
    }

    /// Workers stop retrying; the watch thread ends with the engine's channel.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_device_means_no_pr() {
        assert!(setup(None, 1).unwrap().is_none());
        assert!(setup(Some(""), 1).unwrap().is_none());
    }

    #[test]
    fn a_plain_file_has_no_pr() {
        let f = tempfile::NamedTempFile::new().unwrap();
        assert!(setup(f.path().to_str(), 0x1234).unwrap().is_none());
    }

    #[test]
    fn a_missing_device_is_an_error() {
        let e = setup(Some("/nonexistent/mxfs-pr-device"), 1).err().unwrap();
        assert!(e.contains("/nonexistent/mxfs-pr-device") && e.contains("cannot open"), "{e}");
    }
}
