// SPDX-License-Identifier: GPL-2.0

//! The mounts of this host, as seen by the netlink side: which daemon serves which volume,
//! and in what state.

use crate::bindings;
use crate::cache::{self, Cache};
use crate::fence::SelfFence;
use crate::rpc::Calls;
use crate::uapi_genl::{role, state, UUID_STR_LEN};
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{Arc, Mutex};

/// Most mxfs mounts one host may have at once.
const MAX_MOUNTS: usize = 64;

/// One mxfs mount and its daemon.
pub(crate) struct MountState {
    /// XFS superblock UUID as text, NUL-terminated.
    pub(crate) uuid: [u8; UUID_STR_LEN + 1],
    pub(crate) device: CString,
    pub(crate) mountpoint: CString,
    /// Cluster options passed on to mxfsd (`--lockstate`, `--peers`), when given.
    pub(crate) lockstate: Option<CString>,
    pub(crate) peers: Option<CString>,
    state: AtomicU32,
    /// `role::OWNER` or `role::MEMBER`, as mxfsd decided at DAEMON_READY (0 before).
    role: AtomicU32,
    /// Node id of the volume's owner, from DAEMON_READY.
    owner_node: AtomicU32,
    /// Remote calls of a member mount waiting for their replies.
    calls: Calls,
    /// This node's cluster locks of the volume's inodes (the lock-cache).
    cache: Cache,
    /// Remote calls sent to the owner, and uses served from the lock-cache (for STATUS).
    pub(crate) remote_calls: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    /// Shuts a clustered owner's XFS down when its daemon dies.
    pub(crate) fence: Arc<SelfFence>,
    /// `struct pid` of mxfsd (counted), set in the daemon's context before it execs.
    daemon_pid: AtomicPtr<bindings::pid>,
    /// Netlink port the daemon reported ready from; its release means the daemon is gone.
    daemon_portid: AtomicU32,
}

impl MountState {
    pub(crate) fn new(
        uuid: [u8; UUID_STR_LEN + 1],
        device: CString,
        mountpoint: CString,
        lockstate: Option<CString>,
        peers: Option<CString>,
    ) -> Result<Self> {
        let clustered = lockstate.is_some();
        Ok(MountState {
            cache: Cache::new(clustered)?,
            remote_calls: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            uuid,
            device,
            mountpoint,
            lockstate,
            peers,
            state: AtomicU32::new(state::STARTING),
            role: AtomicU32::new(0),
            owner_node: AtomicU32::new(0),
            calls: Calls::new()?,
            fence: SelfFence::new()?,
            daemon_pid: AtomicPtr::new(ptr::null_mut()),
            daemon_portid: AtomicU32::new(0),
        })
    }

    pub(crate) fn calls(&self) -> &Calls {
        &self.calls
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.cache
    }

    pub(crate) fn role(&self) -> u32 {
        self.role.load(Ordering::Acquire)
    }

    pub(crate) fn is_member(&self) -> bool {
        self.role() == role::MEMBER
    }

    pub(crate) fn set_role(&self, r: u32, owner: u32) {
        self.owner_node.store(owner, Ordering::Release);
        self.role.store(r, Ordering::Release);
    }

    pub(crate) fn owner_node(&self) -> u32 {
        self.owner_node.load(Ordering::Acquire)
    }

    /// The UUID without its NUL, for comparisons and logs.
    pub(crate) fn uuid_str(&self) -> &str {
        // The UUID is formatted from hex digits and dashes only.
        core::str::from_utf8(&self.uuid[..UUID_STR_LEN]).unwrap_or("?")
    }

    pub(crate) fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn set_state(&self, new: u32) {
        self.state.store(new, Ordering::Release);
    }

    /// Moves from `from` to `to`; false if the state was something else.
    pub(crate) fn transition(&self, from: u32, to: u32) -> bool {
        self.state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Records the daemon's pid; takes over the reference `pid` carries.
    pub(crate) fn set_daemon_pid(&self, pid: *mut bindings::pid) {
        let old = self.daemon_pid.swap(pid, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: We owned the reference stored before.
            unsafe { bindings::put_pid(old) };
        }
    }

    pub(crate) fn daemon_pid(&self) -> *mut bindings::pid {
        self.daemon_pid.load(Ordering::Acquire)
    }

    /// Whether the daemon process still exists.
    pub(crate) fn daemon_alive(&self) -> bool {
        let pid = self.daemon_pid();
        // SAFETY: A non-null `pid` is a reference we hold until `drop`.
        !pid.is_null() && unsafe { bindings::mxfs_pid_alive(pid) }
    }

    /// The daemon's pid number, 0 when it has none or has exited.
    pub(crate) fn daemon_pid_nr(&self) -> u32 {
        if !self.daemon_alive() {
            return 0;
        }
        // SAFETY: `daemon_alive` saw a non-null pid reference we hold.
        unsafe { bindings::mxfs_pid_nr(self.daemon_pid()) as u32 }
    }

    pub(crate) fn set_daemon_portid(&self, portid: u32) {
        self.daemon_portid.store(portid, Ordering::Release);
    }

    pub(crate) fn daemon_portid(&self) -> u32 {
        self.daemon_portid.load(Ordering::Acquire)
    }

    /// Called when the daemon is seen gone: a ready mount becomes degraded (once).
    pub(crate) fn daemon_gone(&self) {
        self.calls.fail_all();
        cache::forget_all(self);
        SelfFence::trigger(&self.fence);
        if self.transition(state::READY, state::DEGRADED) {
            pr_err!(
                "mxfsd for volume {} exited while mounted; mount is degraded\n",
                self.uuid_str()
            );
        }
    }
}

impl Drop for MountState {
    fn drop(&mut self) {
        self.set_daemon_pid(ptr::null_mut());
    }
}

type Table = [Option<Arc<MountState>>; MAX_MOUNTS];

/// All mounts of this host. Lives in the module object; netlink and mount paths reach it
/// through [`with`], which is only called while the module is registered.
pub(crate) struct Registry {
    table: Pin<KBox<Mutex<Table>>>,
}

static CURRENT: AtomicPtr<Mutex<Table>> = AtomicPtr::new(ptr::null_mut());

impl Registry {
    pub(crate) fn new() -> Result<Self> {
        let table = KBox::pin_init(kernel::new_mutex!([const { None }; MAX_MOUNTS]), GFP_KERNEL)?;
        let ptr = &*table as *const Mutex<Table> as *mut Mutex<Table>;
        CURRENT.store(ptr, Ordering::Release);
        Ok(Registry { table })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        CURRENT.store(ptr::null_mut(), Ordering::Release);
        let _ = &self.table;
    }
}

fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let ptr = CURRENT.load(Ordering::Acquire);
    // SAFETY: The registry is created before the filesystem and the netlink family are
    // registered and dropped after both are unregistered, so every caller sees it live.
    let table = unsafe { &*ptr };
    let mut guard = table.lock();
    f(&mut guard)
}

/// Adds a mount; a volume may be mounted once per host.
pub(crate) fn insert(mount: &Arc<MountState>) -> Result {
    with(|table| {
        if table.iter().flatten().any(|m| m.uuid == mount.uuid) {
            pr_err!("volume {} is already mounted on this host\n", mount.uuid_str());
            return Err(EBUSY);
        }
        let slot = table.iter_mut().find(|s| s.is_none()).ok_or_else(|| {
            pr_err!("too many mxfs mounts on this host (at most {})\n", MAX_MOUNTS);
            ENOSPC
        })?;
        *slot = Some(mount.clone());
        Ok(())
    })
}

/// Removes exactly this mount (not another mount of the same volume).
pub(crate) fn remove(mount: &Arc<MountState>) {
    with(|table| {
        for slot in table.iter_mut() {
            if slot.as_ref().is_some_and(|m| Arc::ptr_eq(m, mount)) {
                *slot = None;
            }
        }
    })
}

/// Finds the mount of a volume by UUID text (without NUL).
pub(crate) fn find_uuid(uuid: &[u8]) -> Option<Arc<MountState>> {
    with(|table| {
        table
            .iter()
            .flatten()
            .find(|m| &m.uuid[..UUID_STR_LEN] == uuid)
            .cloned()
    })
}

/// Finds the mount whose daemon reported ready from netlink port `portid`.
pub(crate) fn find_portid(portid: u32) -> Option<Arc<MountState>> {
    if portid == 0 {
        return None;
    }
    with(|table| table.iter().flatten().find(|m| m.daemon_portid() == portid).cloned())
}

/// A snapshot of all mounts, for status replies built outside the lock.
pub(crate) fn snapshot() -> Table {
    with(|table| table.clone())
}
