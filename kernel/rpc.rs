// SPDX-License-Identifier: GPL-2.0

//! Remote calls of a member mount: each VFS operation becomes one REMOTE_REQUEST netlink
//! message to the mount's mxfsd (which forwards it to the owner) and waits for the
//! REMOTE_REPLY carrying the same id.
//!
//! Waits are killable, never merely interruptible: an operation the owner may already have
//! carried out must not be restarted behind the caller's back. A daemon that goes away fails
//! every waiting call with EIO.

use crate::bindings;
use crate::lower::errno;
use crate::netlink;
use crate::registry::MountState;
use crate::uapi_genl::{attr, cmd};
use crate::uapi_remote::{self as remote, Creds, Reply, Request, MAX_GROUPS};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// One call waiting for its reply. Lives in the caller's heap allocation; the table only
/// holds a pointer while the call is registered.
struct Pending {
    id: u64,
    done: UnsafeCell<bindings::completion>,
    /// Set under the table lock, before `done` completes.
    reply: Option<KVec<u8>>,
}

/// Registered calls of one mount.
pub(crate) struct Table(KVec<*mut Pending>);

// SAFETY: The pointers are only dereferenced under the table's mutex, and each `Pending` stays
// allocated until its caller has removed it from the table (or the reply path has).
unsafe impl Send for Table {}

impl Table {
    /// Removes entry `i` (order does not matter).
    fn take(&mut self, i: usize) -> *mut Pending {
        let s = self.0.as_mut_slice();
        let last = s.len() - 1;
        s.swap(i, last);
        let p = s[last];
        // SAFETY: Shrinks by one; the element is a plain pointer, nothing to drop.
        unsafe { self.0.set_len(last) };
        p
    }
}

/// The per-mount call state.
pub(crate) struct Calls {
    next_id: AtomicU64,
    table: Pin<KBox<Mutex<Table>>>,
}

impl Calls {
    pub(crate) fn new() -> Result<Self> {
        Ok(Calls {
            next_id: AtomicU64::new(1),
            table: KBox::pin_init(kernel::new_mutex!(Table(KVec::new())), GFP_KERNEL)?,
        })
    }

    /// Hands `reply` to the call `id`; false if no such call waits (it was killed).
    pub(crate) fn deliver(&self, id: u64, reply: KVec<u8>) -> bool {
        let mut t = self.table.lock();
        let Some(i) = t.0.iter().position(|&p| {
            // SAFETY: Registered pointers are live while in the table (we hold its lock).
            unsafe { (*p).id == id }
        }) else {
            return false;
        };
        let p = t.take(i);
        // SAFETY: As above; the caller is either waiting or will take the table lock before it
        // looks at `reply`, so completing under the lock hands over both atomically.
        unsafe {
            (*p).reply = Some(reply);
            bindings::complete((*p).done.get());
        }
        true
    }

    /// Fails every waiting call (the daemon is gone).
    pub(crate) fn fail_all(&self) {
        let mut t = self.table.lock();
        while !t.0.is_empty() {
            let p = t.take(0);
            // SAFETY: As in `deliver`; `reply` stays `None`, which the caller reads as EIO.
            unsafe { bindings::complete((*p).done.get()) };
        }
    }

    /// Removes `p` if still registered; true if it was (no reply can arrive any more).
    fn withdraw(&self, p: *mut Pending) -> bool {
        let mut t = self.table.lock();
        match t.0.iter().position(|&q| q == p) {
            Some(i) => {
                t.take(i);
                true
            }
            None => false,
        }
    }
}

/// A reply message; [`Answer::get`] decodes it.
pub(crate) struct Answer(KVec<u8>);

impl Answer {
    /// The operation's result; an errno from the owner becomes the error.
    pub(crate) fn get(&self) -> Result<Reply<'_>> {
        match remote::decode_reply(&self.0) {
            Ok((_, Ok(reply))) => Ok(reply),
            Ok((_, Err(e))) => Err(errno(e.min(4095))),
            Err(e) => {
                pr_err!("malformed reply from mxfsd: {}\n", e);
                Err(EIO)
            }
        }
    }
}

/// The calling task's filesystem credentials as the owner should apply them to `req`.
fn current_creds(req: &Request<'_>) -> Creds {
    // SAFETY: The current task's credentials are stable for the duration of the syscall.
    unsafe {
        let cred = bindings::mxfs_current_cred();
        let uid = bindings::mxfs_from_kuid((*cred).fsuid);
        let gid = bindings::mxfs_from_kgid((*cred).fsgid);
        let gi = (*cred).group_info;
        let mut groups = [0u32; MAX_GROUPS];
        let mut n = 0;
        if !gi.is_null() {
            let count = ((*gi).ngroups as usize).min(MAX_GROUPS);
            let all = (*gi).gid.as_slice(count);
            for (dst, g) in groups.iter_mut().zip(all) {
                *dst = bindings::mxfs_from_kgid(*g);
            }
            n = count;
        }
        // A member's VFS leaves new modes unmasked (its superblock has POSIX ACLs): the owner
        // masks them unless the directory's default ACL decides. Only requests that create
        // inodes read the umask: an exiting task, whose locks are released last, has none.
        let creates = matches!(req, Request::Mknod { .. } | Request::Mkdir { .. });
        let umask = if creates { bindings::current_umask() as u16 } else { 0 };
        Creds::new(uid, gid, &groups[..n]).with_umask(umask)
    }
}

/// Sends `req` to the owner through the mount's daemon and waits for the answer.
pub(crate) fn call(mount: &MountState, req: &Request<'_>) -> Result<Answer> {
    let portid = mount.daemon_portid();
    if portid == 0 || mount.state() != crate::uapi_genl::state::READY {
        return Err(EIO);
    }
    let calls = mount.calls();
    if !matches!(req, Request::CacheLock(_)) {
        mount.remote_calls.fetch_add(1, Ordering::Relaxed);
    }
    let creds = current_creds(req);
    let id = calls.next_id.fetch_add(1, Ordering::Relaxed);
    let len = req.encoded_len(&creds);
    let skb = build(req, id, &creds, len)?;

    let mut pending = KBox::new(
        Pending { id, done: UnsafeCell::new(crate::lower::zeroed()), reply: None },
        GFP_KERNEL,
    )?;
    let p: *mut Pending = &mut *pending;
    // SAFETY: `done` is initialised before anyone can see `p`.
    unsafe { bindings::mxfs_init_completion((*p).done.get()) };
    if let Err(e) = calls.table.lock().0.push(p, GFP_KERNEL) {
        // SAFETY: `skb` was not sent.
        unsafe { bindings::mxfs_nlmsg_free(skb) };
        return Err(e.into());
    }
    // SAFETY: `skb` is a complete message; unicast consumes it in every case.
    let ret = unsafe { bindings::mxfs_genlmsg_unicast(skb, portid) };
    if ret < 0 {
        calls.withdraw(p);
        pr_err!("cannot reach mxfsd for volume {}: error {}\n", mount.uuid_str(), ret);
        return Err(EIO);
    }
    loop {
        // SAFETY: `done` lives in `pending`, which outlives this loop.
        let left = unsafe { bindings::wait_for_completion_killable_timeout((*p).done.get(), bindings::MXFS_HZ as _) };
        if left > 0 {
            break;
        }
        if left < 0 {
            if calls.withdraw(p) {
                return Err(EINTR);
            }
            break; // The reply won the race.
        }
        if !mount.daemon_alive() && calls.withdraw(p) {
            return Err(EIO);
        }
    }
    // Completed: the table no longer refers to `pending`.
    match pending.reply.take() {
        Some(bytes) => {
            match remote::decode_header(&bytes) {
                Ok(h) if h.is_reply && h.op == req.op() && h.id == id => Ok(Answer(bytes)),
                _ => {
                    pr_err!("mxfsd answered request {} with a mismatched reply\n", id);
                    Err(EIO)
                }
            }
        }
        None => Err(EIO),
    }
}

/// Sends `req` to the mount's daemon without waiting for anything (CACHE_DOWN). EIO when the
/// daemon is gone; another error when the send may be tried again.
pub(crate) fn notify(mount: &MountState, req: &Request<'_>) -> Result {
    let portid = mount.daemon_portid();
    if portid == 0 || !mount.daemon_alive() {
        return Err(EIO);
    }
    let creds = Creds::new(0, 0, &[]);
    let skb = build(req, 0, &creds, req.encoded_len(&creds))?;
    // SAFETY: `skb` is a complete message; unicast consumes it in every case.
    let ret = unsafe { bindings::mxfs_genlmsg_unicast(skb, portid) };
    if ret < 0 {
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

/// Builds the REMOTE_REQUEST message.
fn build(req: &Request<'_>, id: u64, creds: &Creds, len: usize) -> Result<*mut bindings::sk_buff> {
    // SAFETY: Allocates a new message, freed below on error.
    let skb = unsafe { bindings::mxfs_genlmsg_new(len + 64) };
    if skb.is_null() {
        return Err(ENOMEM);
    }
    let fail = |e: Error| {
        // SAFETY: `skb` is ours and unsent.
        unsafe { bindings::mxfs_nlmsg_free(skb) };
        e
    };
    // SAFETY: `skb` is new; the family is registered while the module is loaded.
    let hdr = unsafe { bindings::genlmsg_put(skb, 0, 0, netlink::family(), 0, cmd::REMOTE_REQUEST) };
    if hdr.is_null() {
        return Err(fail(errno(bindings::EMSGSIZE)));
    }
    // SAFETY: As above; reserves `len` bytes of attribute payload.
    let nla = unsafe { bindings::nla_reserve(skb, attr::REMOTE_MSG as c_int, len as c_int) };
    if nla.is_null() {
        return Err(fail(errno(bindings::EMSGSIZE)));
    }
    // SAFETY: The attribute payload is `len` writable bytes inside `skb`.
    let buf = unsafe { core::slice::from_raw_parts_mut(bindings::mxfs_nla_data(nla).cast_mut().cast::<u8>(), len) };
    if let Err(e) = req.encode(id, creds, buf) {
        pr_err!("cannot encode a remote request: {}\n", e);
        return Err(fail(EINVAL));
    }
    // SAFETY: `hdr` belongs to `skb`.
    unsafe { bindings::mxfs_genlmsg_end(skb, hdr) };
    Ok(skb)
}
