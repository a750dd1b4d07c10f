//! Typed access to a lockstate region: format it, read and write each kind of record, and
//! run the slot claim protocol against it.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use mxfs_uapi::ident::Uuid;
use mxfs_uapi::lockstate::{
    Geometry, Header, HeartbeatSlot, LockRecord, LockstateError, OwnerRecord, Volume, RECORD_LEN,
};

use crate::claim::{Action, Claim, ClaimConfig, ClaimError, Claimant, Claimer, Event, SlotView};
use crate::device::{AlignedBuf, BlockDevice, DeviceError, MAX_ALIGN};

/// Anything that can go wrong with the lockstate.
#[derive(Debug)]
pub enum DiskError {
    Device(DeviceError),
    /// A record failed validation; `what` names it ("header", "slot 3", ...).
    Record { what: String, error: LockstateError },
    /// The region is shorter than the header's geometry.
    TooSmall { need: u64, have: u64 },
    Claim(ClaimError),
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(e) => e.fmt(f),
            Self::Record { what, error } => write!(f, "lockstate {what}: {error}"),
            Self::TooSmall { need, have } => {
                write!(f, "lockstate region is {have} bytes but its header needs {need}")
            }
            Self::Claim(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DiskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Device(e) => Some(e),
            Self::Record { error, .. } => Some(error),
            Self::Claim(e) => Some(e),
            Self::TooSmall { .. } => None,
        }
    }
}

impl From<DeviceError> for DiskError {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}

fn record_err(what: impl Into<String>) -> impl FnOnce(LockstateError) -> DiskError {
    let what = what.into();
    move |error| DiskError::Record { what, error }
}

/// An open, validated lockstate.
pub struct LockstateFile {
    dev: BlockDevice,
    header: Header,
    buf: AlignedBuf,
}

impl LockstateFile {
    /// Opens the lockstate at `base` on `path` and validates its header against the
    /// volume's XFS uuid.
    pub fn open(path: &Path, base: u64, volume_uuid: &Uuid) -> Result<LockstateFile, DiskError> {
        // The block size is in the header, so read block 0 with the largest alignment,
        // which every smaller block size divides.
        let probe = BlockDevice::open(path, base, MAX_ALIGN)?;
        let mut first = AlignedBuf::new(MAX_ALIGN);
        probe.read(0, &mut first)?;
        let header = Header::decode(&first.as_slice()[..RECORD_LEN], volume_uuid)
            .map_err(record_err("header"))?;
        drop(probe);
        let bs = header.geometry.block_size as usize;
        let mut dev = BlockDevice::open(path, base, bs)?;
        let have = dev.region_len()?;
        if have < header.geometry.total_size {
            return Err(DiskError::TooSmall { need: header.geometry.total_size, have });
        }
        Ok(LockstateFile { dev, header, buf: AlignedBuf::new(bs) })
    }

    /// Writes a complete, fresh lockstate (header, vacant owner, free slots, free lock
    /// records, zeroed gaps) at `base` on `path`. Destroys whatever was there: only for a
    /// volume no node is using yet.
    pub fn format(path: &Path, base: u64, header: &Header) -> Result<LockstateFile, DiskError> {
        let header_bytes = header.encode().map_err(record_err("header"))?;
        let g = header.geometry;
        let vol = header.volume();
        let bs = g.block_size as usize;
        let mut dev = BlockDevice::open(path, base, bs)?;
        let have = dev.region_len()?;
        if have < g.total_size {
            return Err(DiskError::TooSmall { need: g.total_size, have });
        }
        let owner = OwnerRecord { generation: 0, owner: None }.encode(&vol).map_err(record_err("owner"))?;
        let free_slot = |i| HeartbeatSlot::free(0).encode(&vol, i).map_err(record_err(format!("slot {i}")));
        let free_lock = |j| LockRecord { generation: 0, grant: None }.encode(&vol, j).map_err(record_err(format!("lock {j}")));

        // 1 MiB per write keeps a 32 MiB format to a few dozen synchronous writes.
        const CHUNK: usize = 1 << 20;
        let blocks_per_chunk = (CHUNK / bs) as u64;
        let total_blocks = g.total_size / bs as u64;
        let mut chunk = AlignedBuf::new(CHUNK);
        let mut first = 0u64;
        while first < total_blocks {
            let n = blocks_per_chunk.min(total_blocks - first);
            let out = chunk.as_mut_slice();
            out.fill(0);
            for k in 0..n {
                let offset = (first + k) * bs as u64;
                let record = if offset == Geometry::HEADER_OFFSET {
                    Some(header_bytes)
                } else if offset == g.owner_offset {
                    Some(owner)
                } else if let Some(i) = index_in(offset, g.slots_offset, g.slot_count, bs) {
                    Some(free_slot(i)?)
                } else if let Some(j) = index_in(offset, g.locks_offset, g.lock_count, bs) {
                    Some(free_lock(j)?)
                } else {
                    None
                };
                if let Some(r) = record {
                    let at = (k as usize) * bs;
                    out[at..at + RECORD_LEN].copy_from_slice(&r);
                }
            }
            let len = n as usize * bs;
            if len == CHUNK {
                dev.write(first * bs as u64, &chunk)?;
            } else {
                let mut tail = AlignedBuf::new(len);
                tail.as_mut_slice().copy_from_slice(&chunk.as_slice()[..len]);
                dev.write(first * bs as u64, &tail)?;
            }
            first += n;
        }
        Ok(LockstateFile { dev, header: *header, buf: AlignedBuf::new(bs) })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn volume(&self) -> Volume {
        self.header.volume()
    }

    fn read_at(&mut self, offset: u64) -> Result<[u8; RECORD_LEN], DiskError> {
        self.dev.read(offset, &mut self.buf)?;
        let mut out = [0u8; RECORD_LEN];
        out.copy_from_slice(&self.buf.as_slice()[..RECORD_LEN]);
        Ok(out)
    }

    fn write_at(&mut self, offset: u64, record: &[u8; RECORD_LEN]) -> Result<(), DiskError> {
        let block = self.buf.as_mut_slice();
        block.fill(0);
        block[..RECORD_LEN].copy_from_slice(record);
        self.dev.write(offset, &self.buf)?;
        Ok(())
    }

    fn slot_offset(&self, i: u32) -> Result<u64, DiskError> {
        let count = self.header.geometry.slot_count;
        self.header.geometry.slot_offset(i).ok_or_else(|| {
            DiskError::Record { what: format!("slot {i}"), error: LockstateError::IndexOutOfRange { index: i, count } }
        })
    }

    fn lock_offset(&self, j: u32) -> Result<u64, DiskError> {
        let count = self.header.geometry.lock_count;
        self.header.geometry.lock_offset(j).ok_or_else(|| {
            DiskError::Record { what: format!("lock {j}"), error: LockstateError::IndexOutOfRange { index: j, count } }
        })
    }

    /// Reads slot `i` as the claim protocol sees it: blank, valid or corrupt.
    pub fn read_slot_view(&mut self, i: u32) -> Result<SlotView, DiskError> {
        let raw = self.read_at(self.slot_offset(i)?)?;
        Ok(match HeartbeatSlot::decode(&raw, &self.volume(), i) {
            Ok(s) => SlotView::Valid(s),
            Err(LockstateError::Blank) => SlotView::Blank,
            Err(_) => SlotView::Corrupt(*blake3::hash(&raw).as_bytes()),
        })
    }

    pub fn read_slot(&mut self, i: u32) -> Result<HeartbeatSlot, DiskError> {
        let raw = self.read_at(self.slot_offset(i)?)?;
        HeartbeatSlot::decode(&raw, &self.volume(), i).map_err(record_err(format!("slot {i}")))
    }

    pub fn write_slot(&mut self, i: u32, slot: &HeartbeatSlot) -> Result<(), DiskError> {
        let bytes = slot.encode(&self.volume(), i).map_err(record_err(format!("slot {i}")))?;
        self.write_at(self.slot_offset(i)?, &bytes)
    }

    pub fn read_lock(&mut self, j: u32) -> Result<LockRecord, DiskError> {
        let raw = self.read_at(self.lock_offset(j)?)?;
        LockRecord::decode(&raw, &self.volume(), j).map_err(record_err(format!("lock {j}")))
    }

    pub fn write_lock(&mut self, j: u32, record: &LockRecord) -> Result<(), DiskError> {
        let bytes = record.encode(&self.volume(), j).map_err(record_err(format!("lock {j}")))?;
        self.write_at(self.lock_offset(j)?, &bytes)
    }

    pub fn read_owner(&mut self) -> Result<OwnerRecord, DiskError> {
        let raw = self.read_at(self.header.geometry.owner_offset)?;
        OwnerRecord::decode(&raw, &self.volume()).map_err(record_err("owner"))
    }

    pub fn write_owner(&mut self, record: &OwnerRecord) -> Result<(), DiskError> {
        let bytes = record.encode(&self.volume()).map_err(record_err("owner"))?;
        self.write_at(self.header.geometry.owner_offset, &bytes)
    }

    /// Runs one claim attempt against this lockstate with the real clock. Blocks for the
    /// protocol's waits (a few seconds with default timing; longer when slots must be
    /// observed). I/O slower than the header's I/O timeout counts as failed.
    pub fn claim_slot(&mut self, claimant: Claimant) -> Result<Claim, DiskError> {
        let cfg = ClaimConfig::new(self.header.geometry.slot_count, &self.header.timing);
        let io_timeout = Duration::from_millis(cfg.io_timeout_ms);
        let mut claimer = Claimer::new(cfg, claimant);
        let epoch = Instant::now();
        let now = || epoch.elapsed().as_millis() as u64;
        let mut action = claimer.start();
        loop {
            let event = match action {
                Action::Read { slot } => {
                    let started = Instant::now();
                    match self.read_slot_view(slot) {
                        Ok(view) if started.elapsed() <= io_timeout => Event::Read { slot, view },
                        Ok(_) => Event::IoFailed { slot },
                        Err(e) => return Err(e),
                    }
                }
                Action::Write { slot, record } => {
                    self.write_slot(slot, &record)?;
                    Event::Written { slot }
                }
                Action::Wait { ms } => {
                    std::thread::sleep(Duration::from_millis(ms));
                    Event::Waited
                }
                Action::Done(result) => return result.map_err(DiskError::Claim),
            };
            action = claimer.handle(now(), event);
        }
    }
}

/// Index of the block at `offset` within a region of `count` blocks starting at `start`.
fn index_in(offset: u64, start: u64, count: u32, bs: usize) -> Option<u32> {
    let rel = offset.checked_sub(start)? / bs as u64;
    (rel < u64::from(count)).then_some(rel as u32)
}
