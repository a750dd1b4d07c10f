//! Where each record lives, and the timing every node must agree on. Pure layout math.

use super::LockstateError;
use crate::ident::Uuid;

/// Heartbeat slots in a standard lockstate.
pub const SLOT_COUNT: u32 = 64;
/// Lock records in a standard lockstate.
pub const LOCK_COUNT: u32 = 65536;
/// Largest slot count a decoder accepts.
pub const MAX_SLOTS: u32 = 1024;
/// Largest lock record count a decoder accepts.
pub const MAX_LOCKS: u32 = 1 << 22;
/// Largest lockstate a decoder accepts (1 TiB), so layout math never nears u64 overflow.
const MAX_TOTAL: u64 = 1 << 40;

// Standard layout, in blocks: header 0, owner 1, slots from 16, locks from 128. The gaps are
// reserved so later versions can add records without moving the existing ones.
const STD_OWNER_BLOCK: u64 = 1;
const STD_SLOTS_BLOCK: u64 = 16;
const STD_LOCKS_BLOCK: u64 = 128;

/// Where the records are, as byte offsets from the start of the lockstate.
///
/// Each record occupies one whole block of `block_size` bytes (its 512 bytes, then zeros), so
/// on a 4 KiB-sector device two records never share a sector and one node's write can never
/// tear another node's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Device block (record stride): 512, 1024, 2048 or 4096.
    pub block_size: u32,
    pub owner_offset: u64,
    pub slots_offset: u64,
    pub slot_count: u32,
    pub locks_offset: u64,
    pub lock_count: u32,
    /// Bytes from the header to the end of the last lock record.
    pub total_size: u64,
}

impl Geometry {
    /// The header is always the first block.
    pub const HEADER_OFFSET: u64 = 0;

    /// The standard layout: 64 slots and 65536 lock records at `block_size` stride.
    /// 33,619,968 bytes with 512-byte blocks; 8 times that with 4 KiB blocks.
    pub const fn standard(block_size: u32) -> Geometry {
        Geometry::with_counts(block_size, SLOT_COUNT, LOCK_COUNT)
    }

    /// The standard layout with other counts (small lockstates for tests).
    pub const fn with_counts(block_size: u32, slot_count: u32, lock_count: u32) -> Geometry {
        let bs = block_size as u64;
        let locks_offset = STD_LOCKS_BLOCK * bs;
        Geometry {
            block_size,
            owner_offset: STD_OWNER_BLOCK * bs,
            slots_offset: STD_SLOTS_BLOCK * bs,
            slot_count,
            locks_offset,
            lock_count,
            total_size: locks_offset + lock_count as u64 * bs,
        }
    }

    /// Byte offset of heartbeat slot `i`, or `None` past the slot count.
    pub const fn slot_offset(&self, i: u32) -> Option<u64> {
        if i < self.slot_count {
            Some(self.slots_offset + i as u64 * self.block_size as u64)
        } else {
            None
        }
    }

    /// Byte offset of lock record `j`, or `None` past the lock count.
    pub const fn lock_offset(&self, j: u32) -> Option<u64> {
        if j < self.lock_count {
            Some(self.locks_offset + j as u64 * self.block_size as u64)
        } else {
            None
        }
    }

    /// Checks that the layout is usable: supported block size, block-aligned, inside the
    /// limits, regions disjoint, and `total_size` exactly the end of the last region.
    pub fn validate(&self) -> Result<(), LockstateError> {
        use LockstateError::BadGeometry as Bad;
        if !matches!(self.block_size, 512 | 1024 | 2048 | 4096) {
            return Err(Bad("block size must be 512, 1024, 2048 or 4096"));
        }
        if !(1..=MAX_SLOTS).contains(&self.slot_count) {
            return Err(Bad("heartbeat slot count out of range"));
        }
        if !(1..=MAX_LOCKS).contains(&self.lock_count) {
            return Err(Bad("lock record count out of range"));
        }
        let bs = u64::from(self.block_size);
        let offsets = [self.owner_offset, self.slots_offset, self.locks_offset, self.total_size];
        if offsets.iter().any(|o| o % bs != 0) {
            return Err(Bad("offsets must be multiples of the block size"));
        }
        if offsets.iter().any(|&o| o > MAX_TOTAL) {
            return Err(Bad("lockstate larger than 1 TiB"));
        }
        // With every offset <= 2^40 and counts <= 2^22 blocks of <= 2^12, no sum overflows.
        let regions = [
            (Self::HEADER_OFFSET, bs),
            (self.owner_offset, self.owner_offset + bs),
            (self.slots_offset, self.slots_offset + u64::from(self.slot_count) * bs),
            (self.locks_offset, self.locks_offset + u64::from(self.lock_count) * bs),
        ];
        for (i, a) in regions.iter().enumerate() {
            for b in &regions[i + 1..] {
                if a.0 < b.1 && b.0 < a.1 {
                    return Err(Bad("record regions overlap"));
                }
            }
        }
        let end = regions.iter().map(|r| r.1).max().unwrap_or(0);
        if self.total_size != end {
            return Err(Bad("total size does not end at the last record"));
        }
        Ok(())
    }
}

/// Heartbeat timing, stored in the header so every node uses the same numbers: the slot
/// claim protocol's safety depends on them agreeing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timing {
    /// A live node rewrites its slot this often.
    pub heartbeat_interval_ms: u32,
    /// Longest a single lockstate read or write may take; slower I/O counts as failed.
    pub io_timeout_ms: u32,
    /// A slot unchanged for this long belongs to a dead node.
    pub dead_after_ms: u32,
}

impl Timing {
    /// Heartbeat every 2 s, I/O bound 1 s, dead after 20 s.
    pub const DEFAULT: Timing =
        Timing { heartbeat_interval_ms: 2000, io_timeout_ms: 1000, dead_after_ms: 20_000 };

    /// Ranges, and the margin the claim protocol needs: a claimer confirms its claim after
    /// `interval + 2 * io_timeout`, and an observer must see a live node's record change
    /// within `dead_after`, so `dead_after > 2 * interval + 4 * io_timeout`.
    pub fn validate(&self) -> Result<(), LockstateError> {
        use LockstateError::BadGeometry as Bad;
        let (hb, io, dead) = (
            u64::from(self.heartbeat_interval_ms),
            u64::from(self.io_timeout_ms),
            u64::from(self.dead_after_ms),
        );
        if !(100..=60_000).contains(&hb) {
            return Err(Bad("heartbeat interval must be 100 ms to 60 s"));
        }
        if !(10..=60_000).contains(&io) {
            return Err(Bad("I/O timeout must be 10 ms to 60 s"));
        }
        if dead > 3_600_000 {
            return Err(Bad("dead threshold must be at most one hour"));
        }
        if dead <= 2 * hb + 4 * io {
            return Err(Bad("dead threshold must exceed 2 heartbeat intervals + 4 I/O timeouts"));
        }
        Ok(())
    }
}

/// What a reader needs to validate a non-header record: whose it must be, and the counts
/// its index and slot references must fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Volume {
    pub uuid: Uuid,
    pub geometry: Geometry,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_layout_math() {
        let g = Geometry::standard(512);
        g.validate().unwrap();
        assert_eq!(g.owner_offset, 512);
        assert_eq!(g.slot_offset(0), Some(8192));
        assert_eq!(g.slot_offset(63), Some(8192 + 63 * 512));
        assert_eq!(g.slot_offset(64), None);
        assert_eq!(g.lock_offset(0), Some(65536));
        assert_eq!(g.lock_offset(65535), Some(65536 + 65535 * 512));
        assert_eq!(g.lock_offset(65536), None);
        assert_eq!(g.total_size, 33_619_968);
        let g4 = Geometry::standard(4096);
        g4.validate().unwrap();
        assert_eq!(g4.total_size, 8 * 33_619_968);
        assert_eq!(g4.slot_offset(1), Some(16 * 4096 + 4096));
    }

    #[test]
    fn bad_geometries_are_refused() {
        let good = Geometry::standard(512);
        let cases = [
            Geometry { block_size: 513, ..good },
            Geometry { block_size: 8192, ..good },
            Geometry { slot_count: 0, ..good },
            Geometry { slot_count: MAX_SLOTS + 1, ..good },
            Geometry { lock_count: 0, ..good },
            Geometry { owner_offset: 0, ..good },
            Geometry { owner_offset: 100, ..good },
            Geometry { slots_offset: 512, ..good },
            Geometry { locks_offset: 8192, ..good },
            Geometry { total_size: good.total_size + 512, ..good },
            Geometry { total_size: u64::MAX - 511, ..good },
            Geometry { locks_offset: 1 << 41, ..good },
        ];
        for g in cases {
            assert!(g.validate().is_err(), "{g:?} accepted");
        }
    }

    #[test]
    fn timing_margins() {
        Timing::DEFAULT.validate().unwrap();
        let t = Timing { heartbeat_interval_ms: 100, io_timeout_ms: 50, dead_after_ms: 401 };
        t.validate().unwrap();
        assert!(Timing { dead_after_ms: 400, ..t }.validate().is_err());
        assert!(Timing { heartbeat_interval_ms: 99, ..t }.validate().is_err());
        assert!(Timing { io_timeout_ms: 9, ..t }.validate().is_err());
    }
}
