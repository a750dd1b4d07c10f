// SPDX-License-Identifier: GPL-2.0

//! Self-fencing of an owner whose daemon died (DESIGN §5).
//!
//! In a cluster the daemon's disk heartbeat is what keeps the other nodes from taking the
//! volume over. Once it is gone they will, after the dead threshold, fence this node and mount
//! the XFS themselves; by then this kernel must no longer write to the device. So the moment
//! the daemon's netlink socket is released, the owner shuts its XFS down (the same shutdown a
//! vanished block device triggers): no more log or data writes; local users get EIO.

use crate::bindings;
use core::ptr;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};

/// The lower superblock while it may be shut down (null before mount and from unmount on).
struct Armed(*mut bindings::super_block);

// SAFETY: Only dereferenced under the mutex, while `kill_sb` cannot drop the superblock.
unsafe impl Send for Armed {}

#[pin_data]
pub(crate) struct SelfFence {
    #[pin]
    armed: Mutex<Armed>,
    #[pin]
    work: Work<SelfFence>,
}

impl_has_work! {
    impl HasWork<Self> for SelfFence { self.work }
}

impl SelfFence {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(SelfFence {
                armed <- kernel::new_mutex!(Armed(ptr::null_mut())),
                work <- new_work!("SelfFence::work"),
            }),
            GFP_KERNEL,
        )
    }

    /// From now on a daemon death shuts `lower_sb` down.
    pub(crate) fn arm(&self, lower_sb: *mut bindings::super_block) {
        self.armed.lock().0 = lower_sb;
    }

    /// Called by `kill_sb` before it drops the lower mount; waits for a running shutdown.
    pub(crate) fn disarm(&self) {
        self.armed.lock().0 = ptr::null_mut();
    }

    /// The daemon is gone: shut down on the system workqueue, outside the netlink notifier
    /// (which runs in the dying daemon's exit path).
    pub(crate) fn trigger(this: &Arc<Self>) {
        // Already queued is as good as queued now.
        let _ = workqueue::system().enqueue(this.clone());
    }
}

impl WorkItem for SelfFence {
    type Pointer = Arc<SelfFence>;

    fn run(this: Arc<SelfFence>) {
        let armed = this.armed.lock();
        let sb = armed.0;
        if sb.is_null() {
            return;
        }
        // SAFETY: Armed means the lower mount (and so `sb`) is alive until `disarm`, which
        // waits for our lock. `shutdown` wants `s_umount` held, as the block layer holds it.
        unsafe {
            if let Some(shutdown) = (*(*sb).s_op).shutdown {
                bindings::down_read(&raw mut (*sb).s_umount);
                shutdown(sb);
                bindings::up_read(&raw mut (*sb).s_umount);
            }
        }
        pr_err!("owner's mxfsd is gone: XFS shut down so that no write reaches the shared volume once another node takes it over; unmount and mount again\n");
    }
}
