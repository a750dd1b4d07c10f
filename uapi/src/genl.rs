//! Generic netlink family `mxfs`: commands and attributes between mxfs.ko and mxfsd/mxfsadm.
//!
//! Every command needs CAP_NET_ADMIN (GENL_ADMIN_PERM). Strings are NUL-terminated.

/// Family name registered by the module (without the trailing NUL).
pub const FAMILY_NAME: &str = "mxfs";
/// Family name as a C string, for the kernel's `genl_family.name`.
pub const FAMILY_NAME_C: &[u8] = b"mxfs\0";
/// Bumped on any incompatible change of the commands or attributes below.
pub const FAMILY_VERSION: u8 = 1;

/// Commands (`genlmsghdr.cmd`).
pub mod cmd {
    pub const UNSPEC: u8 = 0;
    /// mxfsd -> kernel: the daemon for VOLUME_UUID is up; the mount may complete.
    /// Accepted only from the process the kernel spawned for that mount.
    pub const DAEMON_READY: u8 = 1;
    /// mxfsadm -> kernel: reply carries one MOUNT nest per mxfs mount on this host.
    pub const STATUS: u8 = 2;
    /// kernel -> mxfsd (unicast to the port DAEMON_READY came from): REMOTE_MSG holds a
    /// request of `remote.rs` for the owner.
    pub const REMOTE_REQUEST: u8 = 3;
    /// mxfsd -> kernel: REMOTE_MSG holds the reply, matched by its id. Accepted only from the
    /// mount's daemon socket.
    pub const REMOTE_REPLY: u8 = 4;
    /// mxfsd -> kernel: REMOTE_MSG holds a CACHE_BAST message of `remote.rs` (another node
    /// waits for a cache lock this node holds). Accepted only from the mount's daemon socket.
    pub const CACHE_BAST: u8 = 5;
    /// Highest command number.
    pub const MAX: u8 = CACHE_BAST;
}

/// Attributes (`nlattr.nla_type`).
pub mod attr {
    pub const UNSPEC: u16 = 0;
    /// NUL string, the XFS superblock UUID in 8-4-4-4-12 hex form (36 chars).
    pub const VOLUME_UUID: u16 = 1;
    /// NUL string, the block device the mount was made from.
    pub const DEVICE: u16 = 2;
    /// NUL string, the mount point as given by mount.mxfs (empty when unknown).
    pub const MOUNTPOINT: u16 = 3;
    /// u32, pid of the mount's mxfsd (0 once it has exited).
    pub const DAEMON_PID: u16 = 4;
    /// u32, one of [`super::state`].
    pub const STATE: u16 = 5;
    /// Nested: one mount in a STATUS reply, holding the attributes above.
    pub const MOUNT: u16 = 6;
    /// u32, one of [`super::role`]: in DAEMON_READY (what this node is for the volume) and
    /// in STATUS replies.
    pub const ROLE: u16 = 7;
    /// Binary, one message of `remote.rs` (at most `remote::MAX_MSG` bytes).
    pub const REMOTE_MSG: u16 = 8;
    /// u32, node id of the volume's owner (this node's own id when it is the owner).
    pub const OWNER_NODE: u16 = 9;
    /// Padding for the 64-bit attributes below (`nla_put_u64_64bit`).
    pub const PAD: u16 = 10;
    /// u64 in STATUS replies: remote calls this node's kernel has sent to the owner.
    pub const REMOTE_CALLS: u16 = 11;
    /// u64 in STATUS replies: attribute and directory entry uses this node's kernel served
    /// from its lock-cache, without a remote call.
    pub const CACHE_HITS: u16 = 12;
    /// Highest attribute number.
    pub const MAX: u16 = CACHE_HITS;
}

/// Length of a volume UUID string without its NUL.
pub const UUID_STR_LEN: usize = 36;
/// Longest device or mount point path accepted, without the NUL (PATH_MAX - 1).
pub const PATH_MAX_LEN: usize = 4095;

/// Mount states reported in [`attr::STATE`].
pub mod state {
    /// mxfsd spawned, DAEMON_READY not yet received.
    pub const STARTING: u32 = 0;
    /// mxfsd ready; the mount is fully served.
    pub const READY: u32 = 1;
    /// mxfsd exited while the volume was mounted.
    pub const DEGRADED: u32 = 2;
    /// Unmount in progress.
    pub const STOPPING: u32 = 3;

    /// Name shown by the tools.
    pub fn name(state: u32) -> &'static str {
        match state {
            STARTING => "starting",
            READY => "ready",
            DEGRADED => "degraded",
            STOPPING => "stopping",
            _ => "unknown",
        }
    }
}

/// A node's role for a volume (DESIGN §2: exactly one owner mounts the XFS).
pub mod role {
    /// This node mounts the XFS and serves the members.
    pub const OWNER: u32 = 1;
    /// Every operation is carried out by the owner.
    pub const MEMBER: u32 = 2;

    pub fn name(role: u32) -> &'static str {
        match role {
            OWNER => "owner",
            MEMBER => "member",
            _ => "unknown",
        }
    }
}

/// Path the kernel executes for each mount.
pub const DAEMON_PATH: &str = "/usr/sbin/mxfsd";
/// Filesystem type name.
pub const FS_NAME: &str = "mxfs";
/// `statfs.f_type` of an mxfs mount ("MXFS").
pub const SUPER_MAGIC: u32 = 0x4d58_4653;
/// Mount option mount.mxfs adds so the kernel can pass the mount point to mxfsd.
pub const OPT_MOUNTPOINT: &str = "mountpoint";
/// Mount option naming the shared lockstate (`PATH[:OFFSET]`); with it the mount joins the
/// volume's cluster (mxfsd `--lockstate`), without it the node runs the volume alone.
pub const OPT_LOCKSTATE: &str = "lockstate";
/// Mount option: unicast discovery peers, `host[:port]` separated by '+' (mxfsd `--peers`).
pub const OPT_PEERS: &str = "peers";
