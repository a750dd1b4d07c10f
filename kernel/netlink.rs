// SPDX-License-Identifier: GPL-2.0

//! The `mxfs` generic netlink family (commands and attributes from `uapi/src/genl.rs`) and
//! the notifier that tells us when a daemon's netlink socket goes away.

use crate::bindings;
use crate::lower::{errno, zeroed, SyncTable};
use crate::registry::{self, MountState};
use crate::uapi_genl::{attr, cmd, role, state, FAMILY_NAME_C, FAMILY_VERSION, PATH_MAX_LEN, UUID_STR_LEN};
use crate::uapi_remote as remote;
use core::cell::UnsafeCell;
use core::sync::atomic::Ordering;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;

const fn policy(ty: u32, len: u16) -> bindings::nla_policy {
    let mut p: bindings::nla_policy = zeroed();
    p.type_ = ty as u8;
    p.len = len;
    p
}

const POLICY_LEN: usize = attr::MAX as usize + 1;

/// Attribute policy: the core validates types and string lengths before a handler runs and,
/// because `resv_start_op` is 0, rejects unknown attributes and trailing garbage.
static POLICY: SyncTable<[bindings::nla_policy; POLICY_LEN]> = SyncTable({
    let mut p = [policy(bindings::NLA_UNSPEC as u32, 0); POLICY_LEN];
    p[attr::VOLUME_UUID as usize] = policy(bindings::NLA_NUL_STRING as u32, UUID_STR_LEN as u16);
    p[attr::DEVICE as usize] = policy(bindings::NLA_NUL_STRING as u32, PATH_MAX_LEN as u16);
    p[attr::MOUNTPOINT as usize] = policy(bindings::NLA_NUL_STRING as u32, PATH_MAX_LEN as u16);
    p[attr::DAEMON_PID as usize] = policy(bindings::NLA_U32 as u32, 0);
    p[attr::STATE as usize] = policy(bindings::NLA_U32 as u32, 0);
    p[attr::MOUNT as usize] = policy(bindings::NLA_REJECT as u32, 0);
    p[attr::ROLE as usize] = policy(bindings::NLA_U32 as u32, 0);
    p[attr::REMOTE_MSG as usize] = policy(bindings::NLA_BINARY as u32, remote::MAX_MSG as u16);
    p[attr::OWNER_NODE as usize] = policy(bindings::NLA_U32 as u32, 0);
    p[attr::REMOTE_CALLS as usize] = policy(bindings::NLA_U64 as u32, 0);
    p[attr::CACHE_HITS as usize] = policy(bindings::NLA_U64 as u32, 0);
    p
});

const fn op(command: u8, doit: unsafe extern "C" fn(*mut bindings::sk_buff, *mut bindings::genl_info) -> c_int) -> bindings::genl_small_ops {
    let mut o: bindings::genl_small_ops = zeroed();
    o.cmd = command;
    o.flags = bindings::GENL_ADMIN_PERM as u8;
    o.doit = Some(doit);
    o
}

static OPS: SyncTable<[bindings::genl_small_ops; 4]> = SyncTable([
    op(cmd::DAEMON_READY, daemon_ready_doit),
    op(cmd::STATUS, status_doit),
    op(cmd::REMOTE_REPLY, remote_reply_doit),
    op(cmd::CACHE_BAST, cache_bast_doit),
]);

struct Family(UnsafeCell<bindings::genl_family>);
// SAFETY: Written only in `Registration::new` before registration; afterwards owned by the
// genetlink core.
unsafe impl Sync for Family {}
static FAMILY: Family = Family(UnsafeCell::new(zeroed()));

struct Notifier(UnsafeCell<bindings::notifier_block>);
// SAFETY: As for `Family`: set up once, then owned by the notifier chain.
unsafe impl Sync for Notifier {}
static NOTIFIER: Notifier = Notifier(UnsafeCell::new(zeroed()));

/// The registered family, for messages the kernel sends on its own (remote requests).
pub(crate) fn family() -> *const bindings::genl_family {
    FAMILY.0.get()
}

/// Registered family and notifier; unregistered on drop.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        let family = FAMILY.0.get();
        // SAFETY: Module init runs once, before anyone can reach `FAMILY`.
        unsafe {
            for (dst, src) in (*family).name.iter_mut().zip(FAMILY_NAME_C) {
                *dst = *src as _;
            }
            (*family).version = FAMILY_VERSION as u32;
            (*family).maxattr = attr::MAX as u32;
            (*family).policy = POLICY.0.as_ptr();
            (*family).small_ops = OPS.0.as_ptr();
            (*family).n_small_ops = OPS.0.len() as u8;
            (*family).resv_start_op = 0;
            // Handlers run concurrently (each keeps its own state safe): an owner's CACHE_BAST
            // may wait for a writeback, and nothing else must queue behind it.
            (*family).set_parallel_ops(1);
            (*family).module = module.as_ptr().cast();
        }
        // SAFETY: `family` is fully initialised and static.
        kernel::error::to_result(unsafe { bindings::genl_register_family(family) })?;
        let nb = NOTIFIER.0.get();
        // SAFETY: As above; the block is static.
        let ret = unsafe {
            (*nb).notifier_call = Some(netlink_event);
            bindings::netlink_register_notifier(nb)
        };
        if ret != 0 {
            // SAFETY: Registered just above.
            unsafe { bindings::genl_unregister_family(family) };
            return Err(Error::from_errno(ret));
        }
        Ok(Registration)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Both were registered in `new`.
        unsafe {
            bindings::netlink_unregister_notifier(NOTIFIER.0.get());
            bindings::genl_unregister_family(FAMILY.0.get());
        }
    }
}

/// Attribute `ty` of a request, if present (the core validated it against `POLICY`).
///
/// # Safety
///
/// `info` must be the `genl_info` of a request being handled.
unsafe fn request_attr<'a>(info: *mut bindings::genl_info, ty: u16) -> Option<&'a [u8]> {
    // SAFETY: `attrs` has `maxattr + 1` entries for a family with a policy.
    let nla = unsafe { *(*info).attrs.add(ty as usize) };
    if nla.is_null() {
        return None;
    }
    // SAFETY: `nla` is a validated attribute inside the request skb.
    let (data, len) = unsafe { (bindings::mxfs_nla_data(nla), bindings::mxfs_nla_len(nla)) };
    // SAFETY: The attribute payload is `len` bytes at `data`.
    Some(unsafe { core::slice::from_raw_parts(data.cast::<u8>(), len as usize) })
}

/// Strips the NUL that `NLA_NUL_STRING` guarantees somewhere in the payload.
fn nul_string(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// DAEMON_READY: the daemon for VOLUME_UUID is up. Only that mount's own mxfsd may say so.
unsafe extern "C" fn daemon_ready_doit(_skb: *mut bindings::sk_buff, info: *mut bindings::genl_info) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The genetlink core calls us with a valid `info`.
        let uuid = unsafe { request_attr(info, attr::VOLUME_UUID) }.ok_or(EINVAL)?;
        let mount = registry::find_uuid(nul_string(uuid)).ok_or(ENOENT)?;
        // SAFETY: Handlers run in the context of the sending task.
        let sender = unsafe { bindings::mxfs_current_tgid() } as u32;
        if sender != mount.daemon_pid_nr() {
            pr_warn!(
                "DAEMON_READY for volume {} from pid {}, which is not its mxfsd; refused\n",
                mount.uuid_str(),
                sender
            );
            return Err(EPERM);
        }
        // Without a role the daemon runs the volume alone: this node is its owner.
        // SAFETY: As above.
        let r = unsafe { request_attr(info, attr::ROLE) }.map_or(Ok(role::OWNER), u32_attr)?;
        if r != role::OWNER && r != role::MEMBER {
            pr_err!("DAEMON_READY for volume {} names unknown role {}\n", mount.uuid_str(), r);
            return Err(EINVAL);
        }
        // SAFETY: As above.
        let owner = unsafe { request_attr(info, attr::OWNER_NODE) }.map_or(Ok(0), u32_attr)?;
        if mount.state() != state::STARTING {
            return Err(errno(bindings::EALREADY));
        }
        mount.set_role(r, owner);
        // SAFETY: As above.
        mount.set_daemon_portid(unsafe { (*info).snd_portid });
        if !mount.transition(state::STARTING, state::READY) {
            return Err(errno(bindings::EALREADY));
        }
        pr_info!(
            "mxfsd (pid {}) ready for volume {}: this node is {} (owner node {:#010x})\n",
            sender,
            mount.uuid_str(),
            role::name(r),
            owner
        );
        Ok(0)
    })
}

/// A u32 attribute (the policy checked its length).
fn u32_attr(bytes: &[u8]) -> Result<u32> {
    let b: [u8; 4] = bytes.try_into().map_err(|_| EINVAL)?;
    Ok(u32::from_ne_bytes(b))
}

/// REMOTE_REPLY: the answer to one remote call, only from the daemon socket of a mount.
unsafe extern "C" fn remote_reply_doit(_skb: *mut bindings::sk_buff, info: *mut bindings::genl_info) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The genetlink core calls us with a valid `info`.
        let portid = unsafe { (*info).snd_portid };
        let mount = registry::find_portid(portid).ok_or(EPERM)?;
        // SAFETY: As above.
        let msg = unsafe { request_attr(info, attr::REMOTE_MSG) }.ok_or(EINVAL)?;
        let h = remote::decode_header(msg).map_err(|e| {
            pr_warn!("malformed REMOTE_REPLY for volume {}: {}\n", mount.uuid_str(), e);
            EINVAL
        })?;
        if !h.is_reply {
            return Err(EINVAL);
        }
        let mut copy = KVec::with_capacity(msg.len(), GFP_KERNEL)?;
        copy.extend_from_slice(msg, GFP_KERNEL)?;
        if !mount.calls().deliver(h.id, copy) {
            // The caller was killed meanwhile; the daemon need not care.
            return Err(ENOENT);
        }
        Ok(0)
    })
}

/// CACHE_BAST: another node waits for a cache lock of this node, only from a mount's daemon.
unsafe extern "C" fn cache_bast_doit(_skb: *mut bindings::sk_buff, info: *mut bindings::genl_info) -> c_int {
    kernel::error::from_result(|| {
        // SAFETY: The genetlink core calls us with a valid `info`.
        let portid = unsafe { (*info).snd_portid };
        let mount = registry::find_portid(portid).ok_or(EPERM)?;
        // SAFETY: As above.
        let msg = unsafe { request_attr(info, attr::REMOTE_MSG) }.ok_or(EINVAL)?;
        match remote::decode_request(msg) {
            Ok((_, _, remote::Request::CacheBast(c))) => {
                crate::cache::bast(&mount, c.ino);
                Ok(0)
            }
            Ok(_) => Err(EINVAL),
            Err(e) => {
                pr_warn!("malformed CACHE_BAST for volume {}: {}\n", mount.uuid_str(), e);
                Err(EINVAL)
            }
        }
    })
}

fn nla_total_size(payload: usize) -> usize {
    (4 + payload + 3) & !3
}

fn mount_reply_size(m: &MountState) -> usize {
    nla_total_size(0)
        + nla_total_size(UUID_STR_LEN + 1)
        + nla_total_size(m.device.len() + 1)
        + nla_total_size(m.mountpoint.len() + 1)
        + 2 * nla_total_size(4)
        + 2 * (nla_total_size(8) + nla_total_size(0))
}

/// Appends one MOUNT nest to `skb`.
///
/// # Safety
///
/// `skb` must be a reply being built by this handler.
unsafe fn put_mount(skb: *mut bindings::sk_buff, m: &MountState) -> Result {
    // SAFETY: `skb` is valid per the caller; sizes were reserved by `mount_reply_size`.
    unsafe {
        let nest = bindings::mxfs_nla_nest_start(skb, attr::MOUNT as c_int);
        if nest.is_null() {
            return Err(errno(bindings::EMSGSIZE));
        }
        let puts = [
            bindings::mxfs_nla_put_string(skb, attr::VOLUME_UUID as c_int, m.uuid.as_ptr().cast()),
            bindings::mxfs_nla_put_string(skb, attr::DEVICE as c_int, m.device.as_char_ptr()),
            bindings::mxfs_nla_put_string(skb, attr::MOUNTPOINT as c_int, m.mountpoint.as_char_ptr()),
            bindings::mxfs_nla_put_u32(skb, attr::DAEMON_PID as c_int, m.daemon_pid_nr()),
            bindings::mxfs_nla_put_u32(skb, attr::STATE as c_int, m.state()),
            bindings::mxfs_nla_put_u64(skb, attr::REMOTE_CALLS as c_int, m.remote_calls.load(Ordering::Relaxed), attr::PAD as c_int),
            bindings::mxfs_nla_put_u64(skb, attr::CACHE_HITS as c_int, m.cache_hits.load(Ordering::Relaxed), attr::PAD as c_int),
        ];
        if puts.iter().any(|&r| r != 0) {
            return Err(errno(bindings::EMSGSIZE));
        }
        bindings::mxfs_nla_nest_end(skb, nest);
    }
    Ok(())
}

/// STATUS: one MOUNT nest per mount of this host.
unsafe extern "C" fn status_doit(_skb: *mut bindings::sk_buff, info: *mut bindings::genl_info) -> c_int {
    kernel::error::from_result(|| {
        let mounts = registry::snapshot();
        for m in mounts.iter().flatten() {
            // A daemon that died without us seeing its socket close is still dead.
            if m.state() == state::READY && !m.daemon_alive() {
                m.daemon_gone();
            }
        }
        let size = mounts.iter().flatten().map(|m| mount_reply_size(m)).sum::<usize>() + 64;
        // SAFETY: Allocates a new message; freed below on error or consumed by the reply.
        let skb = unsafe { bindings::mxfs_genlmsg_new(size) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `skb` is new and `info` is the request being answered.
        let hdr = unsafe { bindings::mxfs_genlmsg_put_reply(skb, info, FAMILY.0.get(), cmd::STATUS) };
        let filled = if hdr.is_null() {
            Err(errno(bindings::EMSGSIZE))
        } else {
            // SAFETY: `skb` is the reply under construction.
            mounts.iter().flatten().try_for_each(|m| unsafe { put_mount(skb, m) })
        };
        if let Err(e) = filled {
            // SAFETY: `skb` is ours and was not sent.
            unsafe { bindings::mxfs_nlmsg_free(skb) };
            return Err(e);
        }
        // SAFETY: `hdr` belongs to `skb`; the reply consumes `skb`.
        unsafe {
            bindings::mxfs_genlmsg_end(skb, hdr);
            kernel::error::to_result(bindings::mxfs_genlmsg_reply(skb, info))?;
        }
        Ok(0)
    })
}

/// A netlink socket was released: if it was a daemon's, that daemon is gone.
unsafe extern "C" fn netlink_event(_nb: *mut bindings::notifier_block, event: c_ulong, ptr: *mut c_void) -> c_int {
    if event != bindings::NETLINK_URELEASE as c_ulong {
        return bindings::NOTIFY_DONE as c_int;
    }
    // SAFETY: For NETLINK_URELEASE the chain passes a `struct netlink_notify`.
    let n = unsafe { &*ptr.cast::<bindings::netlink_notify>() };
    if n.protocol == bindings::NETLINK_GENERIC as c_int {
        if let Some(mount) = registry::find_portid(n.portid) {
            mount.daemon_gone();
        }
    }
    bindings::NOTIFY_DONE as c_int
}
