//! How mount.mxfs fails: one line on stderr and an exit code mount(8) understands.

use std::fmt;

use nix::errno::Errno;

/// mount(8): incorrect invocation.
pub const EX_USAGE: u8 = 1;
/// mount(8): mount failure.
pub const EX_FAIL: u8 = 32;

/// A failure with its exit code; `msg` is printed after "mount.mxfs: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub msg: String,
}

impl Failure {
    /// Wrong command line: exit 1.
    pub fn usage(msg: impl Into<String>) -> Self {
        Failure {
            code: EX_USAGE,
            msg: msg.into(),
        }
    }

    /// Anything that keeps the mount from happening: exit 32.
    pub fn mount(msg: impl Into<String>) -> Self {
        Failure {
            code: EX_FAIL,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// What a mount(2) errno means for an mxfs mount. mxfs.ko picks these codes for the daemon
/// handshake (ENOPKG, ETIMEDOUT), so they are explained rather than shown as strerror.
pub fn mount_errno_message(errno: Errno) -> String {
    match errno {
        Errno::ENOPKG => "mxfsd could not be started (see dmesg)".into(),
        Errno::ETIMEDOUT => "mxfsd did not report ready in time (see dmesg)".into(),
        Errno::EBUSY => "volume or device already mounted".into(),
        Errno::EINVAL => "invalid mount option or not a valid XFS (see dmesg)".into(),
        Errno::EPERM => "must be root".into(),
        Errno::ENODEV => {
            "filesystem type mxfs is not registered; load it with 'modprobe mxfs'".into()
        }
        other => format!("mount failed: {}", strerror(other)),
    }
}

/// The C library's text for `errno`, without the "(os error N)" std appends.
pub fn strerror(errno: Errno) -> String {
    let text = std::io::Error::from_raw_os_error(errno as i32).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errnos_point_at_the_daemon() {
        assert_eq!(
            mount_errno_message(Errno::ENOPKG),
            "mxfsd could not be started (see dmesg)"
        );
        assert_eq!(
            mount_errno_message(Errno::ETIMEDOUT),
            "mxfsd did not report ready in time (see dmesg)"
        );
    }

    #[test]
    fn common_errnos_have_their_own_line() {
        assert_eq!(
            mount_errno_message(Errno::EBUSY),
            "volume or device already mounted"
        );
        assert_eq!(
            mount_errno_message(Errno::EINVAL),
            "invalid mount option or not a valid XFS (see dmesg)"
        );
        assert_eq!(mount_errno_message(Errno::EPERM), "must be root");
        assert!(mount_errno_message(Errno::ENODEV).contains("modprobe mxfs"));
    }

    #[test]
    fn other_errnos_fall_back_to_strerror() {
        assert_eq!(
            mount_errno_message(Errno::EIO),
            "mount failed: Input/output error"
        );
        assert_eq!(
            mount_errno_message(Errno::ENOMEM),
            "mount failed: Cannot allocate memory"
        );
    }

    #[test]
    fn exit_codes_follow_mount8() {
        assert_eq!(Failure::usage("x").code, 1);
        assert_eq!(Failure::mount("x").code, 32);
    }
}
