//! The only place with `unsafe`: the `<linux/pr.h>` ioctls and SG_IO.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::scsi::{Sense, SgOutcome};

// <linux/pr.h> argument structures (all fields naturally aligned, no implicit padding).

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PrReservation {
    pub key: u64,
    pub pr_type: u32,
    pub flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PrRegistration {
    pub old_key: u64,
    pub new_key: u64,
    pub flags: u32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PrPreempt {
    pub old_key: u64,
    pub new_key: u64,
    pub pr_type: u32,
    pub flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PrClear {
    pub key: u64,
    pub flags: u32,
    pub pad: u32,
}

/// `PR_FL_IGNORE_KEY`: register regardless of the key currently registered for this I_T
/// nexus (REGISTER AND IGNORE EXISTING KEY).
pub const PR_FL_IGNORE_KEY: u32 = 1;

/// `_IOW(type, nr, size)` of the generic Linux ioctl encoding (x86, arm, riscv, ...).
const fn iow(ty: u8, nr: u8, size: usize) -> u32 {
    (1 << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32
}

pub const IOC_PR_REGISTER: u32 = iow(b'p', 200, std::mem::size_of::<PrRegistration>());
pub const IOC_PR_RESERVE: u32 = iow(b'p', 201, std::mem::size_of::<PrReservation>());
pub const IOC_PR_RELEASE: u32 = iow(b'p', 202, std::mem::size_of::<PrReservation>());
pub const IOC_PR_PREEMPT: u32 = iow(b'p', 203, std::mem::size_of::<PrPreempt>());
pub const IOC_PR_PREEMPT_ABORT: u32 = iow(b'p', 204, std::mem::size_of::<PrPreempt>());
pub const IOC_PR_CLEAR: u32 = iow(b'p', 205, std::mem::size_of::<PrClear>());

/// Marker for the ioctl argument structures above: plain `repr(C)` data of the size the
/// request number encodes.
pub trait PrArg: Copy {}
impl PrArg for PrReservation {}
impl PrArg for PrRegistration {}
impl PrArg for PrPreempt {}
impl PrArg for PrClear {}

/// Issues one PR ioctl. Returns the raw return value and errno (meaningful when negative).
pub fn pr_ioctl<T: PrArg>(fd: BorrowedFd<'_>, request: u32, arg: &T) -> (i32, i32) {
    // SAFETY: `arg` is a live, properly aligned `repr(C)` structure of the exact size encoded
    // in `request` (the kernel copies it in with copy_from_user and never writes it); `fd`
    // is a valid open descriptor for the duration of the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg as *const T) };
    (ret, last_errno(ret))
}

/// Asks whether the block driver implements PR without sending any command: IOC_PR_RELEASE
/// with a NULL argument fails with EOPNOTSUPP when the driver has no PR operations, EPERM on
/// a partition or without the rights, ENOTTY when `fd` is not a block device, and EFAULT
/// (from copying the NULL argument) when PR is implemented. The kernel checks in that order
/// (block/ioctl.c, since 4.5).
pub fn pr_probe(fd: BorrowedFd<'_>) -> (i32, i32) {
    // SAFETY: a NULL argument is never dereferenced in userspace; the kernel validates the
    // pointer with copy_from_user and fails with EFAULT. `fd` is valid for the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            IOC_PR_RELEASE as _,
            std::ptr::null::<PrReservation>(),
        )
    };
    (ret, last_errno(ret))
}

fn last_errno(ret: i32) -> i32 {
    if ret < 0 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        0
    }
}

/// `struct sg_io_hdr` of `<scsi/sg.h>`.
#[repr(C)]
struct SgIoHdr {
    interface_id: libc::c_int,
    dxfer_direction: libc::c_int,
    cmd_len: libc::c_uchar,
    mx_sb_len: libc::c_uchar,
    iovec_count: libc::c_ushort,
    dxfer_len: libc::c_uint,
    dxferp: *mut libc::c_void,
    cmdp: *const libc::c_uchar,
    sbp: *mut libc::c_uchar,
    timeout: libc::c_uint,
    flags: libc::c_uint,
    pack_id: libc::c_int,
    usr_ptr: *mut libc::c_void,
    status: libc::c_uchar,
    masked_status: libc::c_uchar,
    msg_status: libc::c_uchar,
    sb_len_wr: libc::c_uchar,
    host_status: libc::c_ushort,
    driver_status: libc::c_ushort,
    resid: libc::c_int,
    duration: libc::c_uint,
    info: libc::c_uint,
}

const SG_IO: u32 = 0x2285;
const SG_DXFER_TO_DEV: libc::c_int = -2;
const SG_DXFER_FROM_DEV: libc::c_int = -3;
const SENSE_LEN: usize = 64;

/// Data phase of an SG_IO command.
pub enum Data<'a> {
    /// Data-in: the buffer's length is the allocation length.
    In(&'a mut [u8]),
    Out(&'a [u8]),
}

/// Sends one SCSI command through SG_IO. `Ok` carries the outcome and the number of bytes
/// transferred (data-in: the buffer length minus the residual); `Err` an errno from the
/// ioctl itself (ENOTTY: no SCSI pass-through on this device).
pub fn sg_io(
    fd: BorrowedFd<'_>,
    cdb: &[u8],
    data: Data<'_>,
    timeout_ms: u32,
) -> Result<(SgOutcome, usize), i32> {
    let mut sense = [0u8; SENSE_LEN];
    let (dir, ptr, len) = match data {
        Data::In(b) => (
            SG_DXFER_FROM_DEV,
            b.as_mut_ptr().cast::<libc::c_void>(),
            b.len(),
        ),
        Data::Out(b) => (
            SG_DXFER_TO_DEV,
            b.as_ptr().cast_mut().cast::<libc::c_void>(),
            b.len(),
        ),
    };
    let cmd_len = u8::try_from(cdb.len()).map_err(|_| libc::EINVAL)?;
    let dxfer_len = u32::try_from(len).map_err(|_| libc::EINVAL)?;
    let mut hdr = SgIoHdr {
        interface_id: i32::from(b'S'),
        dxfer_direction: dir,
        cmd_len,
        mx_sb_len: SENSE_LEN as u8,
        iovec_count: 0,
        dxfer_len,
        dxferp: ptr,
        cmdp: cdb.as_ptr(),
        sbp: sense.as_mut_ptr(),
        timeout: timeout_ms,
        flags: 0,
        pack_id: 0,
        usr_ptr: std::ptr::null_mut(),
        status: 0,
        masked_status: 0,
        msg_status: 0,
        sb_len_wr: 0,
        host_status: 0,
        driver_status: 0,
        resid: 0,
        duration: 0,
        info: 0,
    };
    // SAFETY: `hdr` points at the CDB, the sense buffer and the data buffer, all alive and
    // exclusively borrowed (or, for data-out, only read by the kernel) until the synchronous
    // ioctl returns; their lengths are the ones given in `hdr`. The kernel writes only into
    // `hdr`, `sense` and (data-in) the data buffer.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), SG_IO as _, &mut hdr as *mut SgIoHdr) };
    if ret < 0 {
        return Err(last_errno(ret));
    }
    let written = usize::from(hdr.sb_len_wr).min(SENSE_LEN);
    let outcome = SgOutcome {
        status: hdr.status,
        host_status: hdr.host_status,
        driver_status: hdr.driver_status,
        sense: Sense::parse(&sense[..written]),
    };
    let resid = usize::try_from(hdr.resid).unwrap_or(0).min(len);
    Ok((outcome, len - resid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_linux() {
        // Values of the <linux/pr.h> macros on x86-64.
        assert_eq!(IOC_PR_REGISTER, 0x4018_70c8);
        assert_eq!(IOC_PR_RESERVE, 0x4010_70c9);
        assert_eq!(IOC_PR_RELEASE, 0x4010_70ca);
        assert_eq!(IOC_PR_PREEMPT, 0x4018_70cb);
        assert_eq!(IOC_PR_PREEMPT_ABORT, 0x4018_70cc);
        assert_eq!(IOC_PR_CLEAR, 0x4010_70cd);
        assert_eq!(std::mem::size_of::<SgIoHdr>(), 88);
    }
}
