// SPDX-License-Identifier: GPL-2.0

//! The lock-cache (DESIGN §3): this node's cluster lock of each inode, taken through mxfsd.
//!
//! A member caches an inode's attributes, and the entries of a directory, only under PR. An
//! owner changes an inode only under EX, which its local processes take here (mxfsd takes it
//! for the members' operations it runs). A blocking callback (CACHE_BAST) makes a member forget
//! what it cached at once; an owner lets the operations inside EX finish first. Either answers
//! with CACHE_DOWN.
//!
//! Each grant of PR gets a new number (`seq`): cached attributes and dentries record the grant
//! they were fetched under and are trusted only while that grant lasts. POSIX ACLs are cached
//! by the VFS itself (`i_acl`), where no grant number fits: a member lets the VFS keep them
//! only while the grant they were fetched under lasts, and drops them when it ends.

use crate::bindings;
use crate::registry::MountState;
use crate::rpc;
use crate::uapi_remote::{cache as mode, CacheLock, Request};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};
use kernel::sync::SpinLock;

/// This node's cluster lock of one inode.
struct Entry {
    /// NL, PR or EX as granted to this node's kernel.
    mode: u8,
    /// Owner: operations running under EX.
    users: u32,
    /// A CACHE_LOCK or CACHE_DOWN of this inode is being sent or answered: others wait.
    busy: bool,
    /// A blocking callback waits for `users` to end (or for the grant in flight).
    bast: bool,
    /// Member: number of the PR grant held (0: none).
    seq: u64,
    /// Member: the grant the inode's attributes were fetched under.
    attr_seq: u64,
    /// Member: the grant the inode's page cache was emptied under; pages read since then
    /// are current while that grant lasts.
    page_seq: u64,
    /// Member: the VFS may cache ACLs fetched under the grant `seq`; they go when it ends.
    acls: bool,
}

impl Entry {
    const fn new() -> Self {
        Entry { mode: mode::NL, users: 0, busy: false, bast: false, seq: 0, attr_seq: 0, page_seq: 0, acls: false }
    }
}

/// The cache locks of one mount.
pub(crate) struct Cache {
    /// Without a lockstate the node runs the volume alone: nothing to coordinate.
    enabled: bool,
    next_seq: AtomicU64,
    table: Pin<KBox<SpinLock<RBTree<u64, Entry>>>>,
    /// The superblock whose inodes the callbacks reach (ACLs and pages on a member, mapped
    /// pages on an owner); null before it is set up. Only compared, never followed: a stale
    /// value finds no inode.
    sb: AtomicPtr<bindings::super_block>,
}

/// How long a waiter sleeps before it looks again at an inode another task is locking.
const WAIT_MS: u32 = 1;

/// What a waiter found.
enum Step {
    Done(u64),
    Wait,
    Request,
}

impl Cache {
    pub(crate) fn new(enabled: bool) -> Result<Self> {
        Ok(Cache {
            enabled,
            next_seq: AtomicU64::new(1),
            table: KBox::pin_init(kernel::new_spinlock!(RBTree::new()), GFP_KERNEL)?,
            sb: AtomicPtr::new(core::ptr::null_mut()),
        })
    }

    /// Runs `f` on the entry of `ino`, created (NL) if missing.
    fn with_entry<R>(&self, ino: u64, f: impl FnOnce(&mut Entry) -> R) -> Result<R> {
        {
            let mut t = self.table.lock();
            if let Some(e) = t.get_mut(&ino) {
                return Ok(f(e));
            }
        }
        // Allocated outside the spinlock; unused if another task inserted the entry meanwhile.
        let spare = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut t = self.table.lock();
        if t.get(&ino).is_none() {
            t.insert(spare.into_node(ino, Entry::new()));
        }
        let e = t.get_mut(&ino).ok_or(EINVAL)?;
        Ok(f(e))
    }

    /// Drops the entry of `ino` once it is back at NL with nothing pending.
    fn forget_if_idle(&self, ino: u64) {
        let mut t = self.table.lock();
        if t.get(&ino).is_some_and(|e| e.mode == mode::NL && !e.busy && !e.bast && e.users == 0) {
            t.remove(&ino);
        }
    }
}

/// Tells mxfsd this node now holds `m` on `ino`. The daemon's receive thread keeps draining,
/// so a full socket clears in a moment; a lost CACHE_DOWN would stall the inode cluster-wide.
fn send_down(mount: &MountState, ino: u64, m: u8) {
    let req = Request::CacheDown(CacheLock { ino, mode: m });
    for _ in 0..1000 {
        match rpc::notify(mount, &req) {
            Ok(()) => return,
            Err(e) if e == EIO => return, // The daemon is gone: nothing to tell.
            Err(_) => {
                // SAFETY: Sleeping is allowed here (process context, no lock held).
                unsafe { bindings::msleep(WAIT_MS) };
            }
        }
    }
    pr_err!("volume {}: CACHE_DOWN for inode {} could not be sent\n", mount.uuid_str(), ino);
}

/// Sends CACHE_DOWN to NL for `ino`, whose entry the caller marked busy at NL, and ends that.
/// A blocking callback that came meanwhile is answered by this CACHE_DOWN too.
fn give_back(mount: &MountState, ino: u64) {
    send_down(mount, ino, mode::NL);
    let cache = mount.cache();
    let mut t = cache.table.lock();
    if let Some(e) = t.get_mut(&ino) {
        e.busy = false;
        e.bast = false;
    }
    drop(t);
    cache.forget_if_idle(ino);
}

/// Asks mxfsd for `m` on `ino` and waits for the grant.
fn request(mount: &MountState, ino: u64, m: u8) -> Result {
    let answer = rpc::call(mount, &Request::CacheLock(CacheLock { ino, mode: m }))?;
    answer.get().map(|_| ())
}

/// Member: makes sure this node holds PR on `ino`; returns the grant's number, 0 when the
/// grant was revoked before it could be used (the caller then caches nothing).
pub(crate) fn hold_pr(mount: &MountState, ino: u64) -> Result<u64> {
    let cache = mount.cache();
    if !cache.enabled {
        return Ok(0);
    }
    loop {
        let step = cache.with_entry(ino, |e| {
            if e.busy {
                Step::Wait
            } else if e.mode != mode::NL {
                Step::Done(e.seq)
            } else {
                e.busy = true;
                Step::Request
            }
        })?;
        match step {
            Step::Done(seq) => return Ok(seq),
            // SAFETY: Process context, no lock held.
            Step::Wait => unsafe { bindings::msleep(WAIT_MS) },
            Step::Request => break,
        }
    }
    let granted = request(mount, ino, mode::PR);
    let mut t = cache.table.lock();
    let Some(e) = t.get_mut(&ino) else { return Err(EIO) };
    if let Err(err) = granted {
        e.busy = false;
        drop(t);
        cache.forget_if_idle(ino);
        return Err(err);
    }
    if e.bast {
        // Revoked before anyone used it: give it straight back.
        e.bast = false;
        drop(t);
        give_back(mount, ino);
        return Ok(0);
    }
    e.mode = mode::PR;
    e.seq = cache.next_seq.fetch_add(1, Ordering::Relaxed);
    e.busy = false;
    Ok(e.seq)
}

/// Member: like [`hold_pr`], for fetching ACLs the VFS will cache: they are dropped when the
/// grant returned ends. 0: no grant, and the caller must keep the VFS from caching them.
pub(crate) fn hold_pr_for_acls(mount: &MountState, ino: u64) -> Result<u64> {
    let seq = hold_pr(mount, ino)?;
    let mut t = mount.cache().table.lock();
    match t.get_mut(&ino).filter(|e| e.mode == mode::PR && seq != 0 && e.seq == seq) {
        Some(e) => {
            e.acls = true;
            Ok(seq)
        }
        None => Ok(0),
    }
}

/// Sets the superblock whose inodes a lost lock reaches; null when it goes.
pub(crate) fn set_sb(mount: &MountState, sb: *mut bindings::super_block) {
    mount.cache().sb.store(sb, Ordering::Release);
}

/// What this node does to the VFS's copy of an inode before it gives the inode's lock back.
/// `pages` and `acls` are for member inodes only, `maps` for owner inodes only.
struct VfsDrop {
    acls: bool,
    /// Member: return the inode, referenced, to empty its page cache (which sleeps).
    pages: bool,
    /// Owner: return the inode, referenced, if its lower file is mapped, to write its dirty
    /// pages back (which sleeps, and write-protects them in every mapping).
    maps: bool,
}

impl VfsDrop {
    const NOTHING: VfsDrop = VfsDrop { acls: false, pages: false, maps: false };
}

/// Drops the ACLs the VFS caches for inode `ino` of this node's superblock (if it is in memory
/// and `what.acls`); returns it with a reference if the rest of `what` applies to it. Safe
/// under the table's spinlock: nothing here sleeps.
fn drop_from_vfs(cache: &Cache, ino: u64, what: &VfsDrop) -> *mut bindings::inode {
    let sb = cache.sb.load(Ordering::Acquire);
    if sb.is_null() || !(what.acls || what.pages || what.maps) {
        return core::ptr::null_mut();
    }
    let data = core::ptr::from_ref(what).cast_mut().cast();
    // SAFETY: `find_inode_nowait` only compares `sb` with the inodes' `i_sb` (under the inode
    // hash lock); `drop_match` does not sleep and reads `data` as the `VfsDrop` it is.
    unsafe { bindings::find_inode_nowait(sb, ino as _, Some(drop_match), data) }
}

/// Does what `what` asks of `ino` on this node before its lock is given back: drops cached
/// ACLs, empties a member's page cache, write-protects an owner's mapped pages. Process
/// context, no lock held.
fn drop_before_giving_back(cache: &Cache, ino: u64, what: &VfsDrop) {
    let inode = drop_from_vfs(cache, ino, what);
    if inode.is_null() {
        return;
    }
    // SAFETY: `inode` is referenced by `drop_match`; sleeping is allowed here.
    unsafe {
        if what.pages {
            // Unmapped from every mapping, so a mapping faults (and takes a grant) again, and
            // dropped where no read or fault holds them, without waiting for any: a read in
            // progress may wait for a reply the owner sends only after this callback. What
            // stays is emptied before the first use under the next grant (`pages_current`).
            let mapping = &raw mut (*inode).i_data;
            bindings::unmap_mapping_range(mapping, 0, 0, 0);
            bindings::invalidate_mapping_pages(mapping, 0, kernel::ffi::c_ulong::MAX);
        }
        let lower = crate::lower::inode(inode);
        if what.maps && !lower.is_null() {
            // Writeback write-protects the pages in every mapping: the next store faults and
            // takes EX again (`mapping`). Members read the page cache through this node, so
            // the data itself needs no flush; an I/O error is XFS's to report at fsync.
            bindings::filemap_write_and_wait_range(&mut (*lower).i_data, 0, i64::MAX);
        }
        bindings::iput(inode);
    }
}

unsafe extern "C" fn drop_match(inode: *mut bindings::inode, ino: kernel::ffi::c_ulong, data: *mut kernel::ffi::c_void) -> kernel::ffi::c_int {
    // SAFETY: Called under the inode hash lock with an inode of this node's superblock, which
    // cannot be freed meanwhile; `data` is the caller's `VfsDrop`, which asks `maps` only of an
    // owner, whose inodes keep their lower inode in `i_private`. Dropping cached ACLs is a pair
    // of atomic exchanges; `igrab` takes the inode's spinlock, as lookups do under this lock.
    unsafe {
        let what = &*data.cast::<VfsDrop>();
        if (*inode).i_ino != ino {
            return 0;
        }
        if what.acls {
            bindings::forget_all_cached_acls(inode);
        }
        if what.pages && (*inode).i_data.nrpages > 0 && !bindings::igrab(inode).is_null() {
            return 1;
        }
        let lower = crate::lower::inode(inode);
        if what.maps && !lower.is_null() && bindings::mxfs_mapping_mapped(&mut (*lower).i_data) && !bindings::igrab(inode).is_null() {
            return 1;
        }
    }
    // Go on: an inode being freed may share the number with its successor.
    0
}

/// Member: the PR grant `ino` is cached under now, 0 when none. Safe in RCU walk.
pub(crate) fn grant(mount: &MountState, ino: u64) -> u64 {
    let t = mount.cache().table.lock();
    t.get(&ino).filter(|e| e.mode == mode::PR).map_or(0, |e| e.seq)
}

/// Member: whether the attributes of `ino` were fetched under the PR grant held now.
pub(crate) fn attrs_cached(mount: &MountState, ino: u64) -> bool {
    let t = mount.cache().table.lock();
    t.get(&ino).is_some_and(|e| e.mode == mode::PR && e.seq != 0 && e.attr_seq == e.seq)
}

/// Member: the attributes of `ino` were fetched under grant `seq`.
pub(crate) fn attrs_fetched(mount: &MountState, ino: u64, seq: u64) {
    let mut t = mount.cache().table.lock();
    if let Some(e) = t.get_mut(&ino).filter(|e| e.mode == mode::PR && seq != 0 && e.seq == seq) {
        e.attr_seq = seq;
    }
}

/// Member: whether the pages cached for `ino` may be used under grant `seq` (else the caller
/// empties the page cache, then calls [`pages_emptied`]).
pub(crate) fn pages_current(mount: &MountState, ino: u64, seq: u64) -> bool {
    let t = mount.cache().table.lock();
    t.get(&ino).is_some_and(|e| e.mode == mode::PR && seq != 0 && e.seq == seq && e.page_seq == seq)
}

/// Member: the page cache of `ino` was emptied under grant `seq`.
pub(crate) fn pages_emptied(mount: &MountState, ino: u64, seq: u64) {
    let mut t = mount.cache().table.lock();
    if let Some(e) = t.get_mut(&ino).filter(|e| e.mode == mode::PR && seq != 0 && e.seq == seq) {
        e.page_seq = seq;
    }
}

/// Most inodes one operation changes (a rename: two directories, the moved and the replaced).
const MAX_CHANGED: usize = 4;

/// EX held on some inodes for one operation on the owner; released on drop.
pub(crate) struct ExGuard<'a> {
    mount: &'a MountState,
    inos: [u64; MAX_CHANGED],
    held: usize,
}

/// Whether the mount's inodes are coordinated through the cluster at all.
pub(crate) fn enabled(mount: &MountState) -> bool {
    mount.cache().enabled
}

/// Owner: EX on one inode named by its number (a store through a mapping, `mapping`).
pub(crate) fn hold_ex_ino(mount: &MountState, ino: u64) -> Result<ExGuard<'_>> {
    let mut inos = [u64::MAX; MAX_CHANGED];
    inos[0] = ino;
    hold_ex_sorted(mount, inos)
}

/// Owner: waits until this node holds EX on the inodes an operation changes (null ones, like a
/// rename's missing target, are skipped). Every operation takes them in inode order, inside the
/// VFS's own locks, so two operations never wait on each other; the members' operations that
/// mxfsd runs come through here too. Alone on the volume, nothing is taken.
///
/// # Safety
///
/// `sb` must be a live mxfs superblock and every non-null inode one of its live inodes.
pub(crate) unsafe fn hold_ex_on<'a>(sb: *mut bindings::super_block, inodes: &[*mut bindings::inode]) -> Result<ExGuard<'a>> {
    // SAFETY: Per the contract.
    let mount = unsafe { &crate::lower::sb_info(sb).mount };
    let mut inos = [u64::MAX; MAX_CHANGED];
    for (slot, &i) in inos.iter_mut().zip(inodes.iter().filter(|i| !i.is_null())) {
        // SAFETY: Per the contract.
        *slot = unsafe { (*i).i_ino } as u64;
    }
    inos.sort_unstable();
    hold_ex_sorted(mount, inos)
}

/// EX on `inos`, sorted, unused slots `u64::MAX` (they sort last); a repeated inode is held
/// once. Nothing is taken when the node runs the volume alone.
fn hold_ex_sorted(mount: &MountState, inos: [u64; MAX_CHANGED]) -> Result<ExGuard<'_>> {
    let mut guard = ExGuard { mount, inos: [0; MAX_CHANGED], held: 0 };
    if !mount.cache().enabled {
        return Ok(guard);
    }
    for (k, &ino) in inos.iter().enumerate() {
        if ino == u64::MAX || (k > 0 && inos[k - 1] == ino) {
            continue;
        }
        hold_one_ex(mount, ino)?;
        guard.inos[guard.held] = ino;
        guard.held += 1;
    }
    Ok(guard)
}

fn hold_one_ex(mount: &MountState, ino: u64) -> Result {
    let cache = mount.cache();
    loop {
        let step = cache.with_entry(ino, |e| {
            if e.busy || e.bast {
                Step::Wait
            } else if e.mode == mode::EX {
                e.users += 1;
                Step::Done(0)
            } else {
                e.busy = true;
                Step::Request
            }
        })?;
        match step {
            Step::Done(_) => return Ok(()),
            // SAFETY: Process context, no lock held.
            Step::Wait => unsafe { bindings::msleep(WAIT_MS) },
            Step::Request => break,
        }
    }
    let granted = request(mount, ino, mode::EX);
    let mut t = cache.table.lock();
    let Some(e) = t.get_mut(&ino) else { return Err(EIO) };
    e.busy = false;
    match granted {
        Ok(()) => {
            e.mode = mode::EX;
            e.users += 1;
            Ok(())
        }
        Err(err) => {
            drop(t);
            cache.forget_if_idle(ino);
            Err(err)
        }
    }
}

impl Drop for ExGuard<'_> {
    fn drop(&mut self) {
        for &ino in &self.inos[..self.held] {
            release_ex(self.mount, ino);
        }
    }
}

fn release_ex(mount: &MountState, ino: u64) {
    let cache = mount.cache();
    let mut t = cache.table.lock();
    let Some(e) = t.get_mut(&ino) else { return };
    e.users = e.users.saturating_sub(1);
    if e.users > 0 || !e.bast {
        return;
    }
    // The last operation of a revoked EX gives it back.
    e.bast = false;
    e.busy = true;
    e.mode = mode::NL;
    drop(t);
    drop_before_giving_back(cache, ino, &VfsDrop { maps: true, ..VfsDrop::NOTHING });
    give_back(mount, ino);
}

/// CACHE_BAST from mxfsd: another node waits for `ino`. Runs in the netlink send of the
/// daemon's BAST thread; it never waits for anything the daemon would have to do (an owner's
/// writeback of mapped pages waits only for the disk).
pub(crate) fn bast(mount: &MountState, ino: u64) {
    let cache = mount.cache();
    let mut what = VfsDrop::NOTHING;
    let mut t = cache.table.lock();
    let answer_now = match t.get_mut(&ino) {
        // Nothing held (a CACHE_DOWN is on its way): say so again, harmlessly.
        None => true,
        Some(e) if e.busy => {
            // A grant is in flight: whoever asked gives it back after its use.
            e.bast = true;
            false
        }
        Some(e) if e.mode == mode::EX && e.users > 0 => {
            e.bast = true;
            false
        }
        Some(e) => {
            what = match e.mode {
                mode::PR => VfsDrop { acls: core::mem::take(&mut e.acls), pages: true, maps: false },
                mode::EX => VfsDrop { maps: true, ..VfsDrop::NOTHING },
                _ => VfsDrop::NOTHING,
            };
            e.mode = mode::NL;
            e.seq = 0;
            e.attr_seq = 0;
            e.busy = true;
            true
        }
    };
    drop(t);
    if answer_now {
        drop_before_giving_back(cache, ino, &what);
        give_back(mount, ino);
    }
}


/// The inode left memory: what this node cached of it goes, and so does its lock.
pub(crate) fn evict(mount: &MountState, ino: u64) {
    let cache = mount.cache();
    if !cache.enabled {
        return;
    }
    let mut t = cache.table.lock();
    let held = match t.get_mut(&ino) {
        Some(e) if !e.busy && e.users == 0 && e.mode != mode::NL => {
            e.mode = mode::NL;
            e.seq = 0;
            e.busy = true;
            true
        }
        _ => false,
    };
    drop(t);
    if held {
        give_back(mount, ino);
    }
}

/// The daemon is gone: no grant can be trusted any more.
pub(crate) fn forget_all(mount: &MountState) {
    let cache = mount.cache();
    let mut t = cache.table.lock();
    for (&ino, e) in t.iter_mut() {
        e.mode = mode::NL;
        e.seq = 0;
        e.attr_seq = 0;
        if core::mem::take(&mut e.acls) {
            // Mapped pages stay until the next read: the daemon that could answer is gone.
            drop_from_vfs(cache, ino, &VfsDrop { acls: true, ..VfsDrop::NOTHING });
        }
    }
}
