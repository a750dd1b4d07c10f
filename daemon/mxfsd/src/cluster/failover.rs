//! Owner failover (DESIGN §2). A view drops a member only after its fencing has finished, so
//! when the owner is missing from a new view it can no longer write to the volume. Every member
//! then elects again under the mount lock: the first to get it claims the owner record, mounts
//! the XFS itself (a detached mount, see `remote::detached`; XFS log recovery replays the dead
//! owner's journal) and serves; the others find the new owner in the record and follow it. The
//! router meanwhile holds the requests it may send again (`remote::retry`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mxfs_uapi::genl::role;

use super::cache::CacheClient;
use super::engine::Event;
use super::owner::Elector;
use super::remote::RemoteEvent;
use crate::remote::detached;
use crate::remote::exec::{Executor, MountRoot};

/// How long one election may wait for the mount lock (the view is changing meanwhile).
const ELECT_LIMIT: Duration = Duration::from_secs(120);
/// Elections are tried this often before the node gives up on the volume.
const ATTEMPTS: u32 = 5;
/// Seconds an election may keep finding the gone owner (still in the view) before that counts
/// as a failed attempt.
const STILL_IN_VIEW_LIMIT: u32 = 120;

pub struct Failover {
    elector: Elector,
    /// The volume's block device, for the takeover mount.
    device: String,
    running: AtomicBool,
    /// Owner losses seen, and the count an election last settled: a delayed election is
    /// skipped when one after its loss has already found the next owner.
    losses: AtomicU64,
    settled: AtomicU64,
    /// This daemon holds the XFS mount (it took the volume over).
    mounted: AtomicBool,
}

impl Failover {
    pub fn new(elector: Elector, device: String) -> Arc<Failover> {
        Arc::new(Failover {
            elector,
            device,
            running: AtomicBool::new(false),
            losses: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            mounted: AtomicBool::new(false),
        })
    }

    /// The owner's connection closed. An owner that unmounted cleanly vacated the owner record
    /// before it left: then the volume is handed over at once, without fencing. Otherwise the
    /// requests wait for the owner to come back or for the view to drop it.
    pub fn owner_disconnected(self: &Arc<Self>, owner: u32) {
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("mxfsd-handover".into()).spawn(move || {
            match me.elector.owner_vacant() {
                Ok(true) => {
                    log::info!("owner {owner:#010x} left cleanly (the owner record is vacant): taking over without fencing");
                    me.start(owner);
                }
                Ok(false) => log::info!("owner {owner:#010x} disconnected; the owner record still names it"),
                Err(e) => log::warn!("owner {owner:#010x} disconnected and the owner record cannot be read: {e}"),
            }
        });
        if let Err(e) = spawned {
            log::error!("cannot start the hand-over check: {e}");
        }
    }

    /// Elects after `delay`, unless another election has settled the role by then.
    pub fn start_after(self: &Arc<Self>, gone: u32, delay: Duration) {
        let loss = self.losses.fetch_add(1, Ordering::AcqRel) + 1;
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("mxfsd-follow".into()).spawn(move || {
            std::thread::sleep(delay);
            if me.settled.load(Ordering::Acquire) < loss {
                me.start(gone);
            }
        });
        if let Err(e) = spawned {
            log::error!("cannot start the delayed election: {e}");
        }
    }

    /// Elect again (once at a time), off the engine thread (the election talks to the engine):
    /// the owner `gone` left the view (fenced) or vacated the record.
    pub fn start(self: &Arc<Self>, gone: u32) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        log::warn!("owner {gone:#010x} is gone: electing a new owner");
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("mxfsd-failover".into()).spawn(move || {
            me.run(gone);
            me.running.store(false, Ordering::Release);
        });
        if let Err(e) = spawned {
            log::error!("cannot start the failover thread: {e}");
            self.running.store(false, Ordering::Release);
        }
    }

    fn run(&self, gone: u32) {
        let mut attempt = 0;
        let mut waits = 0;
        while attempt < ATTEMPTS {
            match self.once(gone) {
                Ok(true) => {
                    self.settled.store(self.losses.load(Ordering::Acquire), Ordering::Release);
                    return;
                }
                // The gone owner is still in the view, so its slot still counts as alive:
                // elect again once the view has caught up (bounded like the held requests).
                Ok(false) if waits < STILL_IN_VIEW_LIMIT => {
                    waits += 1;
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                Ok(false) => log::error!("the owner record still names the gone owner {gone:#010x} after {waits} s"),
                Err(e) => log::error!("failover attempt {}/{ATTEMPTS}: {e}", attempt + 1),
            }
            attempt += 1;
            std::thread::sleep(Duration::from_secs(2));
        }
        log::error!("failover failed; requests on this node fail with EIO until it is remounted");
        let _ = self.elector.engine_tx.send(Event::Remote(RemoteEvent::Abandon));
    }

    /// One election; `Ok(false)` when it still finds `gone` as the owner.
    fn once(&self, gone: u32) -> Result<bool, String> {
        let e = self.elector.elect(ELECT_LIMIT)?;
        if e.role != role::OWNER && e.owner == gone {
            return Ok(false);
        }
        if e.role != role::OWNER {
            log::info!("the new owner is node {:#010x}", e.owner);
            let _ = self.elector.engine_tx.send(Event::Remote(RemoteEvent::Role { role: e.role, owner: e.owner, executor: None }));
            return Ok(true);
        }
        if self.mounted.load(Ordering::Acquire) {
            log::info!("this node already owns the volume");
            return Ok(true);
        }
        // The record names us now: mount, or give the record back so another node can try.
        let root = match detached::mount_xfs(&self.device) {
            Ok(r) => r,
            Err(err) => {
                self.give_back();
                return Err(err);
            }
        };
        log::warn!("took the volume over (ownership generation {}): XFS on {} mounted (a dirty log was replayed)", e.generation, self.device);
        self.mounted.store(true, Ordering::Release);
        let cache = CacheClient::new(self.elector.engine_tx.clone());
        let executor = Executor::start(MountRoot::held(root, PathBuf::from(&self.device)), Some(cache))?;
        let _ = self.elector.engine_tx.send(Event::Remote(RemoteEvent::Role {
            role: role::OWNER,
            owner: e.owner,
            executor: Some(Arc::new(executor)),
        }));
        Ok(true)
    }

    fn give_back(&self) {
        match self.elector.release() {
            Ok(_) => {}
            Err(e) => log::error!("cannot vacate the owner record after a failed takeover mount: {e}"),
        }
    }
}
