//! The locks this node holds through the owner, so they can be taken again from the next one
//! (pure logic).
//!
//! An owner keeps the locks of every node in its memory only; when it dies or hands the
//! volume over, its successor starts with none, while this node's kernel still records its
//! processes' locks as held. A member therefore replays what the owner granted it: every
//! successful SET (lock or unlock) updates a model of the held ranges with the kernel's own
//! rules (a new range replaces what it overlaps, an unlock cuts it out), and after the change of
//! owner each held range goes to the new owner as a RECLAIM, accepted there during its grace
//! period before any new lock.

use std::collections::HashMap;

use mxfs_uapi::remote::{lock, Fh, LockReq};

/// (lock owner, kind, handle type, handle bytes).
type Key = (u64, u8, i32, Vec<u8>);

/// A held range: `start..=end` and its type (READ or WRITE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
    ty: u8,
}

#[derive(Default, Debug)]
pub struct HeldLocks {
    held: HashMap<Key, (Fh, Vec<Range>)>,
}

impl HeldLocks {
    /// The owner answered `l` with success (for an unlock: answered at all, since the local
    /// record is gone either way).
    pub fn granted(&mut self, l: &LockReq) {
        if l.cmd == lock::TEST {
            return;
        }
        let key = (l.owner, l.kind, l.fh.ty, l.fh.as_bytes().to_vec());
        let (_, ranges) = self.held.entry(key.clone()).or_insert_with(|| (l.fh, Vec::new()));
        // Cut the new range out of what is held, then add it unless it is an unlock.
        let mut kept = Vec::with_capacity(ranges.len() + 1);
        for r in ranges.drain(..) {
            if r.end < l.start || r.start > l.end {
                kept.push(r);
                continue;
            }
            if r.start < l.start {
                kept.push(Range { end: l.start - 1, ..r });
            }
            if r.end > l.end {
                kept.push(Range { start: l.end + 1, ..r });
            }
        }
        if l.ty != lock::UNLOCK {
            kept.push(Range { start: l.start, end: l.end, ty: l.ty });
        }
        if kept.is_empty() {
            self.held.remove(&key);
        } else {
            *ranges = kept;
        }
    }

    /// The RECLAIM requests that rebuild every held lock on a new owner.
    pub fn reclaims(&self) -> Vec<LockReq> {
        let mut out = Vec::new();
        for ((owner, kind, _, _), (fh, ranges)) in &self.held {
            for r in ranges {
                out.push(LockReq { fh: *fh, owner: *owner, kind: *kind, cmd: lock::RECLAIM, ty: r.ty, start: r.start, end: r.end });
            }
        }
        out.sort_by_key(|l| (l.owner, l.kind, l.start));
        out
    }

    /// Held ranges.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.held.values().map(|(_, r)| r.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(owner: u64, ty: u8, start: u64, end: u64) -> LockReq {
        LockReq { fh: Fh::new(1, &[7; 8]).unwrap(), owner, kind: lock::POSIX, cmd: lock::SET, ty, start, end }
    }

    fn held(h: &HeldLocks) -> Vec<(u64, u8, u64, u64)> {
        h.reclaims().iter().map(|l| (l.owner, l.ty, l.start, l.end)).collect()
    }

    #[test]
    fn ranges_follow_the_kernels_rules() {
        let mut h = HeldLocks::default();
        h.granted(&req(1, lock::WRITE, 0, 99));
        h.granted(&req(1, lock::READ, 10, 19)); // converts the middle
        h.granted(&req(1, lock::UNLOCK, 50, 59)); // punches a hole
        h.granted(&req(2, lock::READ, 0, lock::EOF)); // another owner, kept apart
        assert_eq!(
            held(&h),
            vec![(1, lock::WRITE, 0, 9), (1, lock::READ, 10, 19), (1, lock::WRITE, 20, 49), (1, lock::WRITE, 60, 99), (2, lock::READ, 0, lock::EOF)]
        );
        // A test changes nothing; releasing the whole file forgets the owner.
        h.granted(&LockReq { cmd: lock::TEST, ..req(1, lock::WRITE, 0, 5) });
        h.granted(&req(1, lock::UNLOCK, 0, lock::EOF));
        assert_eq!(held(&h), vec![(2, lock::READ, 0, lock::EOF)]);
        assert!(h.reclaims().iter().all(|l| l.cmd == lock::RECLAIM && l.valid()));
    }

    #[test]
    fn a_ping_pong_ring_stays_small() {
        // Lock the next byte, unlock this one, round a ring of three: never more than two held.
        let mut h = HeldLocks::default();
        h.granted(&req(9, lock::WRITE, 0, 0));
        for i in 0..3000u64 {
            h.granted(&req(9, lock::WRITE, (i + 1) % 3, (i + 1) % 3));
            h.granted(&req(9, lock::UNLOCK, i % 3, i % 3));
            assert_eq!(h.len(), 1);
        }
        assert_eq!(held(&h), vec![(9, lock::WRITE, 0, 0)]);
    }

    #[test]
    fn flocks_are_whole_file_and_convert() {
        let mut h = HeldLocks::default();
        let f = |ty| LockReq { kind: lock::FLOCK, ..req(5, ty, 0, lock::EOF) };
        h.granted(&f(lock::READ));
        h.granted(&f(lock::WRITE));
        assert_eq!(held(&h), vec![(5, lock::WRITE, 0, lock::EOF)]);
        h.granted(&f(lock::UNLOCK));
        assert_eq!(h.len(), 0);
    }
}
