// SPDX-License-Identifier: GPL-2.0

//! mxfsd lifecycle: spawned by the kernel for each mount, waited for until it reports ready,
//! stopped at unmount.
//!
//! The daemon is started with `UMH_WAIT_EXEC`, so its parent is kthreadd (which reaps it)
//! and it is never our child to wait for; we follow it through its `struct pid`, taken in
//! its own context just before it execs.

use crate::bindings;
use crate::lower::{cstr_ptr, errno};
use crate::registry::MountState;
use crate::uapi_genl::state;
use kernel::ffi::{c_char, c_int, c_void};
use core::ptr;
use kernel::prelude::*;

const DAEMON_PATH: &core::ffi::CStr = c"/usr/sbin/mxfsd";
/// How long a mount waits for DAEMON_READY (generous: guests may run emulated).
const READY_TIMEOUT_MS: u32 = 30_000;
/// The same with a lockstate: the daemon first joins the cluster and elects the owner, which
/// may wait out a silent owner's dead threshold.
const CLUSTER_READY_TIMEOUT_MS: u32 = 180_000;
/// How long an unmount waits after SIGTERM before it sends SIGKILL.
const STOP_TIMEOUT_MS: u32 = 10_000;
const KILL_TIMEOUT_MS: u32 = 5_000;
const POLL_MS: u32 = 10;

/// Runs in the new process before it execs mxfsd: records its pid on the mount.
unsafe extern "C" fn umh_init(info: *mut bindings::subprocess_info, _new: *mut bindings::cred) -> c_int {
    // SAFETY: `data` is the `MountState` passed to `spawn`, which outlives the exec because
    // `spawn` waits for it (`UMH_WAIT_EXEC`) while holding a reference.
    let mount = unsafe { &*(*info).data.cast::<MountState>() };
    // SAFETY: Runs in process context of the new task; returns a counted pid.
    mount.set_daemon_pid(unsafe { bindings::mxfs_get_current_pid() });
    0
}

/// Starts `/usr/sbin/mxfsd --device D --mountpoint M --uuid U [--lockstate L] [--peers P]`
/// for `mount`.
pub(crate) fn spawn(mount: &MountState) -> Result {
    let mut argv: [*mut c_char; 12] = [ptr::null_mut(); 12];
    let fixed = [
        cstr_ptr(DAEMON_PATH),
        cstr_ptr(c"--device"),
        mount.device.as_char_ptr().cast_mut(),
        cstr_ptr(c"--mountpoint"),
        mount.mountpoint.as_char_ptr().cast_mut(),
        cstr_ptr(c"--uuid"),
        mount.uuid.as_ptr().cast::<c_char>().cast_mut(),
    ];
    for (dst, src) in argv.iter_mut().zip(fixed) {
        *dst = src;
    }
    let mut n = fixed.len();
    for (flag, value) in [(c"--lockstate", &mount.lockstate), (c"--peers", &mount.peers)] {
        if let Some(v) = value {
            argv[n] = cstr_ptr(flag);
            argv[n + 1] = v.as_char_ptr().cast_mut();
            n += 2;
        }
    }
    let mut envp: [*mut c_char; 3] = [
        cstr_ptr(c"HOME=/"),
        cstr_ptr(c"PATH=/sbin:/usr/sbin:/bin:/usr/bin"),
        ptr::null_mut(),
    ];
    // SAFETY: `argv` and `envp` are NUL-terminated arrays of NUL-terminated strings that live
    // until `call_usermodehelper_exec` returns, which with `UMH_WAIT_EXEC` is after the exec.
    let info = unsafe {
        bindings::call_usermodehelper_setup(
            cstr_ptr(DAEMON_PATH),
            argv.as_mut_ptr(),
            envp.as_mut_ptr(),
            bindings::MXFS_GFP_KERNEL,
            Some(umh_init),
            None,
            mount as *const MountState as *mut c_void,
        )
    };
    if info.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `info` was just set up; exec consumes it.
    let ret = unsafe { bindings::call_usermodehelper_exec(info, bindings::MXFS_UMH_WAIT_EXEC as c_int) };
    if ret != 0 {
        pr_err!(
            "cannot start {} for volume {}: error {}; is mxfsd installed?\n",
            "/usr/sbin/mxfsd",
            mount.uuid_str(),
            ret
        );
        return Err(errno(bindings::ENOPKG));
    }
    Ok(())
}

/// Waits until the daemon reports ready, exits, or the timeout passes.
pub(crate) fn wait_ready(mount: &MountState) -> Result {
    let timeout = if mount.lockstate.is_some() { CLUSTER_READY_TIMEOUT_MS } else { READY_TIMEOUT_MS };
    let mut waited = 0;
    loop {
        if mount.state() == state::READY {
            return Ok(());
        }
        if !mount.daemon_alive() {
            pr_err!("mxfsd for volume {} exited before it was ready\n", mount.uuid_str());
            return Err(errno(bindings::ENOPKG));
        }
        if waited >= timeout {
            pr_err!("mxfsd for volume {} not ready after {} ms\n", mount.uuid_str(), timeout);
            return Err(errno(bindings::ETIMEDOUT));
        }
        // SAFETY: Called from the mounting task.
        if unsafe { bindings::mxfs_fatal_signal_pending() } {
            return Err(EINTR);
        }
        // SAFETY: Sleeping is allowed in the mount path.
        unsafe { bindings::msleep(POLL_MS) };
        waited += POLL_MS;
    }
}

fn signal_and_wait(mount: &MountState, sig: c_int, timeout_ms: u32) -> bool {
    let pid = mount.daemon_pid();
    // SAFETY: `pid` is a counted reference held by `mount`; signalling an exited pid is a
    // harmless -ESRCH.
    unsafe { bindings::kill_pid(pid, sig, 1) };
    let mut waited = 0;
    while mount.daemon_alive() {
        if waited >= timeout_ms {
            return false;
        }
        // SAFETY: Unmount runs in process context.
        unsafe { bindings::msleep(POLL_MS) };
        waited += POLL_MS;
    }
    true
}

/// Stops the daemon (SIGTERM, then SIGKILL after a bounded wait) and waits for it to exit.
pub(crate) fn stop(mount: &MountState) {
    if !mount.daemon_alive() {
        return;
    }
    if signal_and_wait(mount, bindings::SIGTERM as c_int, STOP_TIMEOUT_MS) {
        return;
    }
    pr_warn!(
        "mxfsd for volume {} ignored SIGTERM for {} ms; killing it\n",
        mount.uuid_str(),
        STOP_TIMEOUT_MS
    );
    if !signal_and_wait(mount, bindings::SIGKILL as c_int, KILL_TIMEOUT_MS) {
        pr_err!("mxfsd for volume {} did not exit after SIGKILL\n", mount.uuid_str());
    }
}
