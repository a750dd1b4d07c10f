//! What a member may do with its requests when the owner goes away (pure logic).
//!
//! A request in flight when the owner's connection drops may or may not have been carried
//! out. Those whose repetition gives the same result are held and sent again to whichever
//! owner comes next ([`retry_safe`]); the others are answered EIO, because a repeated create,
//! link, unlink, rename or remove could report EEXIST or ENOENT for what actually succeeded.
//!
//! Writes the old owner acknowledged but had not yet made durable are lost with it. A member
//! keeps no copy to write again, so it remembers which files had such writes ([`Durability`])
//! and fails the next fsync of each with EIO, once: the application learns of the loss as it
//! would of a failed writeback on a local disk.

use std::collections::{HashMap, HashSet};

use mxfs_uapi::remote::{op, Request};

/// Ops that can be sent again after the owner changed without changing their outcome.
pub fn retry_safe(op: u8) -> bool {
    matches!(
        op,
        op::GETROOT
            | op::LOOKUP
            | op::GETATTR
            | op::SETATTR
            | op::READDIR
            | op::READLINK
            | op::READ
            | op::WRITE
            | op::FSYNC
            | op::STATFS
            | op::GETXATTR
            | op::LISTXATTR
            // Taking a range an owner already holds, or releasing one, changes nothing.
            | op::LOCK
    )
}

/// A file handle as a map key.
type Key = (i32, Vec<u8>);

/// Files with writes that only an owner's memory held.
#[derive(Default, Debug)]
pub struct Durability {
    /// Acknowledged unsynced writes: file -> the owner that acknowledged them.
    unstable: HashMap<Key, u32>,
    /// Files whose unsynced writes died with their owner; their next fsync fails.
    lost: HashSet<Key>,
}

impl Durability {
    /// Whether replies to `op` matter here (the rest need not be decoded).
    pub fn tracks(op: u8) -> bool {
        matches!(op, op::WRITE | op::SETATTR | op::FSYNC)
    }

    /// A successful reply from `owner` to `req`.
    pub fn answered(&mut self, owner: u32, req: &Request<'_>) {
        match req {
            Request::Write { fh, sync: false, .. } => {
                self.unstable.insert((fh.ty, fh.as_bytes().to_vec()), owner);
            }
            Request::SetAttr { fh, attr } if attr.mask & mxfs_uapi::remote::set::SIZE != 0 => {
                self.unstable.insert((fh.ty, fh.as_bytes().to_vec()), owner);
            }
            Request::Fsync { fh, .. } => {
                let k = (fh.ty, fh.as_bytes().to_vec());
                if self.unstable.get(&k) == Some(&owner) {
                    self.unstable.remove(&k);
                }
            }
            _ => {}
        }
    }

    /// `owner` is gone: what it alone held is lost.
    pub fn owner_lost(&mut self, owner: u32) {
        let gone: Vec<Key> = self.unstable.iter().filter(|(_, o)| **o == owner).map(|(k, _)| k.clone()).collect();
        for k in gone {
            self.unstable.remove(&k);
            self.lost.insert(k);
        }
    }

    /// Before sending `req`: true if it is an fsync that must fail with EIO (reported once).
    pub fn fsync_fails(&mut self, req: &Request<'_>) -> bool {
        match req {
            Request::Fsync { fh, .. } => self.lost.remove(&(fh.ty, fh.as_bytes().to_vec())),
            _ => false,
        }
    }

    pub fn lost_files(&self) -> usize {
        self.lost.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxfs_uapi::remote::{set, Fh, SetAttr};

    fn fh(b: u8) -> Fh {
        Fh::new(1, &[b; 8]).unwrap()
    }

    #[test]
    fn only_repeatable_ops_are_retried() {
        for o in [op::LOOKUP, op::GETATTR, op::READ, op::WRITE, op::FSYNC, op::READDIR, op::SETATTR] {
            assert!(retry_safe(o), "{o}");
        }
        for o in [op::MKNOD, op::MKDIR, op::SYMLINK, op::LINK, op::UNLINK, op::RMDIR, op::RENAME] {
            assert!(!retry_safe(o), "{o}");
        }
    }

    #[test]
    fn unsynced_writes_of_a_dead_owner_fail_the_next_fsync_once() {
        let mut d = Durability::default();
        let w = Request::Write { fh: fh(1), offset: 0, sync: false, data: b"x" };
        let f = Request::Fsync { fh: fh(1), datasync: false };
        d.answered(7, &w);
        d.owner_lost(7);
        assert_eq!(d.lost_files(), 1);
        assert!(d.fsync_fails(&f));
        assert!(!d.fsync_fails(&f), "reported once");
    }

    #[test]
    fn synced_and_sync_writes_are_safe() {
        let mut d = Durability::default();
        d.answered(7, &Request::Write { fh: fh(1), offset: 0, sync: false, data: b"x" });
        d.answered(7, &Request::Fsync { fh: fh(1), datasync: true });
        d.answered(7, &Request::Write { fh: fh(2), offset: 0, sync: true, data: b"x" });
        d.owner_lost(7);
        assert_eq!(d.lost_files(), 0);
    }

    #[test]
    fn an_fsync_answered_by_a_new_owner_does_not_cover_the_old_owners_writes() {
        let mut d = Durability::default();
        d.answered(7, &Request::Write { fh: fh(1), offset: 0, sync: false, data: b"x" });
        d.answered(8, &Request::Fsync { fh: fh(1), datasync: false });
        d.owner_lost(7);
        assert!(d.fsync_fails(&Request::Fsync { fh: fh(1), datasync: false }));
    }

    #[test]
    fn truncation_counts_as_an_unsynced_change() {
        let mut d = Durability::default();
        let attr = SetAttr { mask: set::SIZE, ..Default::default() };
        d.answered(7, &Request::SetAttr { fh: fh(3), attr });
        d.owner_lost(9);
        assert_eq!(d.lost_files(), 0, "another node's loss does not matter");
        d.owner_lost(7);
        assert_eq!(d.lost_files(), 1);
    }
}
