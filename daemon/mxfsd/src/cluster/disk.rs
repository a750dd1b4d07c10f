//! The disk thread: everything mxfsd reads and writes in the lockstate once its slot is
//! claimed. It executes requests in order (so a lock record written for a grant lands before
//! the one that clears it) and reports results to the engine.
//!
//! Heartbeat: re-read our slot (it must still hold our claim: otherwise others judged us dead
//! and took it, and we must stop), write the next sequence, then read every slot back in one
//! O_DIRECT read. A write slower than the header's I/O bound is not reported as a success.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use mxfs_disk::claim::{Claim, SlotView};
use mxfs_disk::device::{AlignedBuf, BlockDevice};
use mxfs_disk::LockstateFile;
use mxfs_uapi::ident::Uuid;
use mxfs_uapi::lockstate::{slot_flags, HeartbeatSlot, LockGrant, LockRecord, SlotState, RECORD_LEN};

use crate::args::Location;
use crate::clock;

/// Work for the disk thread.
pub enum DiskReq {
    /// Write heartbeat `counter`, then read all slots.
    Heartbeat { counter: u64 },
    /// Write (or free, with `None`) lock record `index`; answer with `token`.
    Record { token: u64, index: u32, grant: Option<Box<LockGrant>> },
    /// Free every lock record held by `victim`.
    Purge { victim: u32 },
    /// Never write again (we self-fenced or lost our slot).
    StopWrites,
    /// Clean exit: free these records of ours (and our slot, with `release`), then stop.
    Shutdown { free: Vec<u32>, release: bool },
}

/// One held slot as read back.
#[derive(Clone, Copy, Debug)]
pub struct SlotObs {
    pub index: u32,
    pub node_id: u32,
    pub uuid: Uuid,
    pub generation: u64,
    pub nonce: [u8; 16],
    pub sequence: u64,
}

pub enum DiskEvent {
    Written { counter: u64, ok: bool, at: u64 },
    Observed(Vec<SlotObs>),
    Recorded { token: u64, ok: bool },
    Purged { victim: u32, freed: usize },
}

/// The two disk threads: heartbeats on one, lock records and purges on the other, so a purge
/// scanning the whole record region never delays a heartbeat past the dead threshold.
pub struct DiskThread {
    hb: Worker,
    rec: Worker,
    writes: Arc<AtomicBool>,
}

struct Worker {
    tx: SyncSender<DiskReq>,
    done: Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(name: &str, mut d: Disk, events: Arc<dyn Fn(DiskEvent) + Send + Sync>) -> Result<Worker, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1024);
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                d.run(rx, &*events);
                let _ = done_tx.send(());
            })
            .map_err(|e| e.to_string())?;
        Ok(Worker { tx, done, handle: Some(handle) })
    }

    fn send(&self, req: DiskReq) -> bool {
        match self.tx.try_send(req) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                log::warn!("lockstate: request queue full; the disk is not keeping up");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    fn finish(mut self, last: Option<DiskReq>, limit: std::time::Duration) {
        if let Some(r) = last {
            let _ = self.tx.try_send(r);
        }
        drop(self.tx);
        if self.done.recv_timeout(limit).is_ok() {
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        } else {
            log::warn!("lockstate: a disk thread did not finish in time");
        }
    }
}

impl DiskThread {
    pub fn start(
        ls: LockstateFile,
        loc: &Location,
        claim: Claim,
        events: impl Fn(DiskEvent) + Send + Sync + 'static,
    ) -> Result<DiskThread, String> {
        let h = *ls.header();
        let bs = h.geometry.block_size as usize;
        let events: Arc<dyn Fn(DiskEvent) + Send + Sync> = Arc::new(events);
        let writes = Arc::new(AtomicBool::new(true));
        let io_timeout_ms = h.timing.io_timeout_ms.into();
        let rec_ls = LockstateFile::open(&loc.path, loc.offset, &h.volume_uuid).map_err(|e| e.to_string())?;
        let open_bulk = || BlockDevice::open(&loc.path, loc.offset, bs).map_err(|e| e.to_string());
        let hb = Disk { ls, bulk: open_bulk()?, claim, writes: writes.clone(), io_timeout_ms, gens: HashMap::new() };
        let rec = Disk { ls: rec_ls, bulk: open_bulk()?, claim, writes: writes.clone(), io_timeout_ms, gens: HashMap::new() };
        Ok(DiskThread {
            hb: Worker::spawn("mxfsd-disk-hb", hb, events.clone())?,
            rec: Worker::spawn("mxfsd-disk-rec", rec, events)?,
            writes,
        })
    }

    /// Queues a request; false if the queue is full (the caller treats it as not done).
    pub fn send(&self, req: DiskReq) -> bool {
        match req {
            DiskReq::StopWrites => {
                self.writes.store(false, Ordering::SeqCst);
                true
            }
            DiskReq::Heartbeat { .. } => self.hb.send(req),
            _ => self.rec.send(req),
        }
    }

    /// Frees `free` and our slot (unless writes were stopped), lets both threads drain their
    /// queues and waits for them, at most `limit` each (a disk stuck in I/O must not keep the
    /// daemon from exiting).
    pub fn finish(self, free: Option<Vec<u32>>, limit: std::time::Duration) {
        let release = free.is_some();
        self.rec.finish(free.map(|f| DiskReq::Shutdown { free: f, release: false }), limit);
        self.hb.finish(release.then_some(DiskReq::Shutdown { free: Vec::new(), release: true }), limit);
    }
}

struct Disk {
    ls: LockstateFile,
    bulk: BlockDevice,
    claim: Claim,
    writes: Arc<AtomicBool>,
    io_timeout_ms: u64,
    gens: HashMap<u32, u64>,
}

impl Disk {
    fn writing(&self) -> bool {
        self.writes.load(Ordering::SeqCst)
    }

    fn run(&mut self, rx: Receiver<DiskReq>, events: &dyn Fn(DiskEvent)) {
        while let Ok(req) = rx.recv() {
            match req {
                DiskReq::Heartbeat { counter } => self.heartbeat(counter, events),
                DiskReq::Record { token, index, grant } => {
                    let ok = self.writing() && self.write_record(index, grant.map(|g| *g));
                    events(DiskEvent::Recorded { token, ok });
                }
                DiskReq::Purge { victim } => {
                    let freed = if self.writing() { self.purge(victim) } else { 0 };
                    events(DiskEvent::Purged { victim, freed });
                }
                DiskReq::StopWrites => self.writes.store(false, Ordering::SeqCst),
                DiskReq::Shutdown { free, release } => {
                    if self.writing() {
                        for i in free {
                            self.write_record(i, None);
                        }
                        if release {
                            match self.ls.write_slot(self.claim.slot, &self.claim.release()) {
                                Ok(()) => log::info!("lockstate: heartbeat slot {} released", self.claim.slot),
                                Err(e) => log::warn!("lockstate: cannot release heartbeat slot {}: {e}", self.claim.slot),
                            }
                        }
                    }
                    return;
                }
            }
        }
    }

    fn heartbeat(&mut self, counter: u64, events: &dyn Fn(DiskEvent)) {
        if !self.writing() {
            return;
        }
        let started = Instant::now();
        let ours = match self.ls.read_slot_view(self.claim.slot) {
            Ok(v) => self.claim.still_ours(&v).is_ok(),
            Err(e) => {
                log::error!("lockstate: cannot read our heartbeat slot {}: {e}", self.claim.slot);
                false
            }
        };
        if !ours {
            log::error!(
                "lockstate: heartbeat slot {} no longer holds our claim: another node judged us dead; stopping all lockstate I/O",
                self.claim.slot
            );
            self.writes.store(false, Ordering::SeqCst);
            events(DiskEvent::Written { counter, ok: false, at: clock::now_ms() });
            return;
        }
        let record = self.claim.heartbeat(counter, clock::wall_ms(), slot_flags::NO_PR);
        if let Err(e) = self.ls.write_slot(self.claim.slot, &record) {
            log::error!("lockstate: heartbeat write failed: {e}");
            events(DiskEvent::Written { counter, ok: false, at: clock::now_ms() });
            return;
        }
        let took = started.elapsed().as_millis() as u64;
        if took > 2 * self.io_timeout_ms {
            log::warn!("lockstate: heartbeat took {took} ms, over the I/O bound; not counted");
        } else {
            events(DiskEvent::Written { counter, ok: true, at: clock::now_ms() });
        }
        match self.read_slots() {
            Ok(obs) => events(DiskEvent::Observed(obs)),
            Err(e) => log::warn!("lockstate: cannot read heartbeat slots: {e}"),
        }
    }

    /// Every held slot but ours, from one read of the slot region.
    fn read_slots(&mut self) -> Result<Vec<SlotObs>, String> {
        let h = *self.ls.header();
        let g = h.geometry;
        let bs = g.block_size as usize;
        let mut buf = AlignedBuf::new(bs * g.slot_count as usize);
        self.bulk.read(g.slots_offset, &mut buf).map_err(|e| e.to_string())?;
        let vol = h.volume();
        let mut out = Vec::new();
        for i in 0..g.slot_count {
            if i == self.claim.slot {
                continue;
            }
            let at = i as usize * bs;
            let Some(raw) = buf.as_slice().get(at..at + RECORD_LEN) else { break };
            if let Ok(s) = HeartbeatSlot::decode(raw, &vol, i) {
                if s.state == SlotState::Live {
                    out.push(SlotObs {
                        index: i,
                        node_id: s.node_id,
                        uuid: s.node_uuid,
                        generation: s.generation,
                        nonce: s.nonce,
                        sequence: s.sequence,
                    });
                }
            }
        }
        Ok(out)
    }

    fn write_record(&mut self, index: u32, grant: Option<LockGrant>) -> bool {
        // Records in our partition are written only by us, so their generation is read once.
        let generation = match self.gens.get(&index) {
            Some(g) => g.saturating_add(1),
            None => match self.ls.read_lock(index) {
                Ok(r) => r.generation.saturating_add(1),
                // A torn or blank record is simply overwritten.
                Err(_) => 1,
            },
        };
        match self.ls.write_lock(index, &LockRecord { generation, grant }) {
            Ok(()) => {
                if self.gens.len() < 1 << 16 {
                    self.gens.insert(index, generation);
                }
                true
            }
            Err(e) => {
                log::error!("lockstate: cannot write lock record {index}: {e}");
                false
            }
        }
    }

    fn purge(&mut self, victim: u32) -> usize {
        let h = *self.ls.header();
        let g = h.geometry;
        let bs = g.block_size as usize;
        let per_chunk = ((1 << 20) / bs).max(1) as u32;
        let vol = h.volume();
        let mut freed = 0;
        let mut first = 0u32;
        while first < g.lock_count {
            let n = per_chunk.min(g.lock_count - first);
            let mut buf = AlignedBuf::new(n as usize * bs);
            let Some(off) = g.lock_offset(first) else { break };
            if let Err(e) = self.bulk.read(off, &mut buf) {
                log::error!("lockstate: cannot read lock records for purge: {e}");
                break;
            }
            let mut hits = Vec::new();
            for k in 0..n {
                let at = k as usize * bs;
                let Some(raw) = buf.as_slice().get(at..at + RECORD_LEN) else { break };
                if let Ok(r) = LockRecord::decode(raw, &vol, first + k) {
                    if r.grant.is_some_and(|g| g.holder_node_id == victim) {
                        hits.push(first + k);
                    }
                }
            }
            for j in hits {
                if self.write_record(j, None) {
                    freed += 1;
                }
            }
            first += n;
        }
        freed
    }
}

/// Lock records are partitioned by heartbeat slot, so no two nodes ever write the same record:
/// slot `s` owns `[s * per, (s + 1) * per)` with `per = lock_count / slot_count`.
pub struct RecordSpace {
    pub first: u32,
    pub count: u32,
}

impl RecordSpace {
    pub fn for_slot(ls: &LockstateFile, slot: u32) -> RecordSpace {
        let g = ls.header().geometry;
        let per = g.lock_count / g.slot_count.max(1);
        RecordSpace { first: slot * per, count: per }
    }

    /// Home index of a resource within the partition.
    pub fn home(&self, hash: u64) -> u32 {
        self.first + (hash % u64::from(self.count.max(1))) as u32
    }
}

/// Verifies the slot reads of a fresh claim (for tests).
#[allow(dead_code)]
pub fn slot_is_ours(view: &SlotView, claim: &Claim) -> bool {
    claim.still_ours(view).is_ok()
}
