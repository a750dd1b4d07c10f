//! The owner election's link to the running cluster: the `mxfs.mount` lock is taken through
//! the engine like any local lock client's, and the view comes from the engine too.

use std::sync::mpsc::{channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mxfs_uapi::genl::role;

use super::control::parse_name;
use super::engine::{CtlReq, Event};
use super::remote::RemoteEvent;
use super::{setup, Cluster, DiskSide};
use mxfs_uapi::ident::Uuid;
use crate::remote::election::{self, Elected, Me, MountLock};
use crate::remote::exec::Executor;

/// The cluster lock every election and every release of ownership runs under.
pub const MOUNT_LOCK: &str = "mxfs.mount";
/// The engine's client id for the election (control clients count up from 1).
const CLIENT: u64 = u64::MAX;

/// `MountLock` through the engine, waiting at most `limit` for the grant.
struct EngineLock<'a> {
    tx: &'a SyncSender<Event>,
    limit: Duration,
}

impl EngineLock<'_> {
    fn ask(&self, req: impl FnOnce(std::sync::mpsc::Sender<String>) -> CtlReq, limit: Duration) -> Result<String, String> {
        let (tx, rx) = channel();
        self.tx.send(Event::Ctl(req(tx))).map_err(|_| "the cluster engine has stopped".to_string())?;
        rx.recv_timeout(limit).map_err(|_| format!("no answer from the cluster within {} s", limit.as_secs()))
    }
}

impl MountLock for EngineLock<'_> {
    fn lock(&self) -> Result<(), String> {
        let res = parse_name(MOUNT_LOCK)?;
        let started = Instant::now();
        let (tx, rx) = channel();
        self.tx
            .send(Event::Ctl(CtlReq::Lock { client: CLIENT, res, mode: mxfs_cluster::Mode::EX, reply: tx }))
            .map_err(|_| "the cluster engine has stopped".to_string())?;
        let mut told = false;
        loop {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(a) if a.starts_with("granted ") => return Ok(()),
                Ok(a) => return Err(format!("cluster lock {MOUNT_LOCK}: {}", a.trim_start_matches("error "))),
                Err(_) if started.elapsed() >= self.limit => {
                    return Err(format!(
                        "cluster lock {MOUNT_LOCK} not granted within {} s: this node has not joined a cluster view \
                         (are the other nodes of the volume reachable?)",
                        self.limit.as_secs()
                    ))
                }
                Err(_) if !told => {
                    log::info!("waiting for the cluster lock {MOUNT_LOCK} (joining the cluster view)");
                    told = true;
                }
                Err(_) => {}
            }
        }
    }

    fn unlock(&self) {
        let Ok(res) = parse_name(MOUNT_LOCK) else { return };
        let r = res.clone();
        let _ = self.ask(|reply| CtlReq::Unlock { client: CLIENT, res: r, reply }, Duration::from_secs(10));
        // Drop the cached lock too: the next mount anywhere gets it without a callback here.
        let _ = self.ask(|reply| CtlReq::Release { res, reply }, Duration::from_secs(10));
    }

    fn in_view(&self, node: u32) -> bool {
        let (tx, rx) = channel();
        if self.tx.send(Event::Ctl(CtlReq::Members { reply: tx })).is_err() {
            return false;
        }
        rx.recv_timeout(Duration::from_secs(10)).is_ok_and(|m| m.contains(&node))
    }
}

/// Everything an election needs, detached from `Cluster` so that a failover can elect again
/// from its own thread.
#[derive(Clone)]
pub struct Elector {
    pub engine_tx: SyncSender<Event>,
    pub disk: DiskSide,
    pub me: Me,
    pub volume: Uuid,
}

impl Elector {
    /// Elects this node's role for the volume (see `remote::election`).
    pub fn elect(&self, limit: Duration) -> Result<Elected, String> {
        let mut ls = setup::open(&self.disk.location, &self.volume)?;
        let lock = EngineLock { tx: &self.engine_tx, limit };
        election::elect(&mut ls, &self.me, &lock, self.disk.heartbeat_ms, self.disk.dead_after_ms)
    }

    /// Whether the owner record names no owner (a clean unmount vacated it).
    pub fn owner_vacant(&self) -> Result<bool, String> {
        let mut ls = setup::open(&self.disk.location, &self.volume)?;
        let rec = ls.read_owner().map_err(|e| format!("cannot read the owner record: {e}"))?;
        Ok(rec.owner.is_none())
    }

    /// Vacates the owner record if it names this node; true if it did.
    pub fn release(&self) -> Result<bool, String> {
        let mut ls = setup::open(&self.disk.location, &self.volume)?;
        let lock = EngineLock { tx: &self.engine_tx, limit: Duration::from_secs(10) };
        election::release(&mut ls, &self.me, Some(&lock))
    }
}

impl Cluster {
    fn me(&self) -> Option<Me> {
        let d = self.disk.as_ref()?;
        Some(Me { node_uuid: self.ident.uuid, node_id: self.ident.node_id, slot: d.claim.slot, slot_generation: d.claim.generation })
    }

    /// The election's inputs (none without a lockstate).
    pub fn elector(&self) -> Option<Elector> {
        Some(Elector { engine_tx: self.engine_tx.clone(), disk: self.disk.clone()?, me: self.me()?, volume: self.volume })
    }

    /// Elects this node's role for the volume (see `remote::election`). Without a lockstate
    /// there is nobody to share the volume with: the node owns it.
    pub fn elect(&self, limit: Duration) -> Result<Elected, String> {
        match self.elector() {
            Some(e) => e.elect(limit),
            None => Ok(Elected { role: role::OWNER, owner: self.ident.node_id, generation: 0 }),
        }
    }

    /// Tells the engine the role, so it routes remote requests accordingly.
    pub fn set_role(&self, e: &Elected, executor: Option<Arc<Executor>>) {
        let _ = self.engine_tx.send(Event::Remote(RemoteEvent::Role { role: e.role, owner: e.owner, executor }));
    }

    /// Stops serving remote operations: drops the executor, and with it an XFS mount the daemon
    /// holds after a takeover. Returns the role the node had by then (it may have become the
    /// owner since the mount).
    pub fn stop_serving(&self) -> Option<(u32, u32)> {
        let (tx, rx) = channel();
        self.engine_tx.send(Event::Remote(RemoteEvent::Shutdown { done: tx })).ok()?;
        rx.recv_timeout(Duration::from_secs(60)).ok().flatten()
    }

    /// Where remote requests from the kernel or a control client go.
    pub fn remote_sender(&self) -> SyncSender<Event> {
        self.engine_tx.clone()
    }

    /// Blocking callbacks of the kernel's cache locks go out on `kernel`, from a thread of
    /// their own: an owner's kernel writes the file's mapped dirty pages back inside the call
    /// (a disk wait the engine must not share).
    pub fn set_kernel(&self, kernel: Arc<mxfs_nl::Channel>) {
        let (tx, rx) = channel::<Vec<u8>>();
        let spawned = std::thread::Builder::new().name("mxfsd-bast".into()).spawn(move || {
            // Ends when the engine drops the sink.
            for msg in rx {
                if let Err(e) = kernel.cache_bast(&msg) {
                    log::warn!("netlink: CACHE_BAST not sent: {e}");
                }
            }
        });
        if let Err(e) = spawned {
            log::error!("cannot start the thread for the kernel's blocking callbacks: {e}");
            return;
        }
        let sink = Box::new(move |msg: &[u8]| {
            let _ = tx.send(msg.to_vec());
        });
        let _ = self.engine_tx.send(Event::Cache(super::cache::CacheEvent::Kernel(sink)));
    }

    /// Clean stop of the owner: vacates the owner record (after the kernel has unmounted the
    /// XFS, which it does before it stops the daemon).
    pub fn release_ownership(&self) {
        let Some(elector) = self.elector() else { return };
        match elector.release() {
            Ok(true) => log::info!("ownership released: the owner record is vacant"),
            Ok(false) => log::warn!("the owner record no longer names this node; left as it is"),
            Err(e) => log::error!("cannot release ownership: {e}"),
        }
    }
}
