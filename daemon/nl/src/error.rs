//! Errors of the netlink client. Each message is one line of the form
//! "<what went wrong>; <what to do>", so tools can print it as is.

use std::fmt;
use std::io;

/// The request an error belongs to, named as the kernel side names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Looking up the `mxfs` family in the generic netlink controller.
    ResolveFamily,
    /// `cmd::DAEMON_READY`.
    DaemonReady,
    /// `cmd::STATUS`.
    Status,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::ResolveFamily => "the netlink family lookup",
            Op::DaemonReady => "DAEMON_READY",
            Op::Status => "STATUS",
        })
    }
}

/// Everything that can go wrong talking to mxfs.ko.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NlError {
    /// The generic netlink family `mxfs` is not registered.
    ModuleNotLoaded,
    /// The module registered the family with another protocol version.
    VersionMismatch { kernel: u32, tools: u32 },
    /// The kernel answered EPERM or EACCES: every mxfs command needs CAP_NET_ADMIN.
    NeedsAdmin { op: Op, errno: i32 },
    /// The kernel answered with another errno.
    Kernel { op: Op, errno: i32 },
    /// A reply that does not follow the contract in `mxfs_uapi::genl`.
    Malformed(String),
    /// An argument that cannot be encoded (detail says which and why).
    InvalidArgument(String),
    /// The socket itself failed (open, send, receive).
    Socket(String),
}

impl NlError {
    /// Classifies a kernel errno (positive, as in `errno.h`) for request `op`.
    pub fn from_errno(op: Op, errno: i32) -> NlError {
        match errno {
            libc::EPERM | libc::EACCES => NlError::NeedsAdmin { op, errno },
            // The controller answers ENOENT for an unknown family name.
            libc::ENOENT if op == Op::ResolveFamily => NlError::ModuleNotLoaded,
            _ => NlError::Kernel { op, errno },
        }
    }

    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::NeedsAdmin { errno, .. } | NlError::Kernel { errno, .. } => Some(*errno),
            NlError::ModuleNotLoaded => Some(libc::ENOENT),
            _ => None,
        }
    }
}

/// `strerror(errno)` without the "(os error N)" suffix std appends.
pub fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NlError::ModuleNotLoaded => write!(
                f,
                "the mxfs kernel module is not loaded (no generic netlink family \"{}\"); \
                 load it with 'modprobe mxfs' or mount an mxfs volume",
                mxfs_uapi::genl::FAMILY_NAME
            ),
            NlError::VersionMismatch { kernel, tools } => write!(
                f,
                "the mxfs kernel module speaks netlink version {kernel}, these tools speak \
                 version {tools}; install mxfs.ko and the mxfs tools from the same release"
            ),
            // mxfs.ko also answers EPERM to a DAEMON_READY from any process but the mxfsd it
            // started for that volume.
            NlError::NeedsAdmin {
                op: Op::DaemonReady,
                errno,
            } => write!(
                f,
                "the kernel refused DAEMON_READY: {}; it needs CAP_NET_ADMIN (run as root) and \
                 must come from the mxfsd that mxfs.ko started for the mount",
                strerror(*errno)
            ),
            NlError::NeedsAdmin { op, errno } => write!(
                f,
                "the kernel refused {op}: {}; mxfs netlink commands need CAP_NET_ADMIN, run as root",
                strerror(*errno)
            ),
            NlError::Kernel {
                op: Op::DaemonReady,
                errno: libc::ENOENT,
            } => write!(
                f,
                "the kernel has no mount of this volume waiting for its daemon; mxfsd is started \
                 by 'mount -t mxfs', not by hand"
            ),
            NlError::Kernel {
                op: Op::DaemonReady,
                errno: libc::EALREADY,
            } => write!(
                f,
                "the kernel already has a ready daemon for this volume; check 'mxfsadm status'"
            ),
            NlError::Kernel { op, errno } => write!(
                f,
                "the kernel rejected {op}: {} (errno {errno}); see dmesg for the reason",
                strerror(*errno)
            ),
            NlError::Malformed(detail) => write!(
                f,
                "malformed netlink reply from mxfs.ko: {detail}; install mxfs.ko and the mxfs \
                 tools from the same release"
            ),
            NlError::InvalidArgument(detail) => write!(f, "{detail}"),
            NlError::Socket(detail) => write!(
                f,
                "generic netlink socket failed: {detail}; check that this kernel has \
                 networking and generic netlink enabled"
            ),
        }
    }
}

impl std::error::Error for NlError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_say_cap_net_admin_and_root() {
        for errno in [libc::EPERM, libc::EACCES] {
            let err = NlError::from_errno(Op::Status, errno);
            assert_eq!(
                err,
                NlError::NeedsAdmin {
                    op: Op::Status,
                    errno
                }
            );
            let text = err.to_string();
            assert!(text.contains("CAP_NET_ADMIN"), "{text}");
            assert!(text.contains("run as root"), "{text}");
            assert_eq!(err.errno(), Some(errno));
        }
    }

    #[test]
    fn unknown_family_means_module_not_loaded() {
        let err = NlError::from_errno(Op::ResolveFamily, libc::ENOENT);
        assert_eq!(err, NlError::ModuleNotLoaded);
        let text = err.to_string();
        assert!(text.contains("mxfs kernel module is not loaded"), "{text}");
        assert!(text.contains("modprobe mxfs"), "{text}");
    }

    #[test]
    fn enoent_from_a_command_is_a_kernel_error() {
        let err = NlError::from_errno(Op::Status, libc::ENOENT);
        assert_eq!(
            err,
            NlError::Kernel {
                op: Op::Status,
                errno: libc::ENOENT
            }
        );
        let text = err.to_string();
        assert!(
            text.starts_with("the kernel rejected STATUS: No such file or directory"),
            "{text}"
        );
    }

    #[test]
    fn daemon_ready_refusals_explain_the_handshake() {
        let text = NlError::from_errno(Op::DaemonReady, libc::EPERM).to_string();
        assert!(
            text.contains("CAP_NET_ADMIN") && text.contains("mxfsd that mxfs.ko started"),
            "{text}"
        );
        let text = NlError::from_errno(Op::DaemonReady, libc::ENOENT).to_string();
        assert!(text.contains("no mount of this volume"), "{text}");
        let text = NlError::from_errno(Op::DaemonReady, libc::EALREADY).to_string();
        assert!(text.contains("already has a ready daemon"), "{text}");
        let text = NlError::from_errno(Op::DaemonReady, libc::EINVAL).to_string();
        assert!(
            text.starts_with("the kernel rejected DAEMON_READY: Invalid argument"),
            "{text}"
        );
    }

    #[test]
    fn messages_are_one_line_with_a_remedy() {
        let all = [
            NlError::ModuleNotLoaded,
            NlError::VersionMismatch {
                kernel: 2,
                tools: 1,
            },
            NlError::from_errno(Op::Status, libc::EPERM),
            NlError::from_errno(Op::Status, libc::EINVAL),
            NlError::from_errno(Op::DaemonReady, libc::EPERM),
            NlError::from_errno(Op::DaemonReady, libc::ENOENT),
            NlError::from_errno(Op::DaemonReady, libc::EALREADY),
            NlError::Malformed("x".into()),
            NlError::Socket("y".into()),
        ];
        for err in all {
            let text = err.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("; "), "no remedy in: {text}");
        }
    }

    #[test]
    fn strerror_drops_the_os_error_suffix() {
        assert_eq!(strerror(libc::EINVAL), "Invalid argument");
    }
}
