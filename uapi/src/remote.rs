//! Remote VFS operations: a member's kernel asks, the owner's mxfsd executes on the lower XFS.
//!
//! One message format travels the whole path unchanged: in the netlink attribute
//! `REMOTE_MSG` between mxfs.ko and the local mxfsd, and as the payload of peer frames of type
//! `REMOTE_OP` between the member's and the owner's mxfsd. Inodes are named by XFS file
//! handles, exactly as `name_to_handle_at(2)` returns them on the owner.
//!
//! ```text
//! header  =  0 op u8  1 kind u8 (0 request, 1 reply)  2 reserved u16 (0)  4 len u32 (whole
//!            message)  8 id u64 (chosen by the requester, echoed in the reply)
//! request =  header || creds || op arguments
//! creds   =  uid u32 || gid u32 || ngroups u16 (<= MAX_GROUPS) || umask u16 (<= 0o777) ||
//!            groups u32[ngroups]
//! reply   =  header || errno u32 (0 = success) || op result (only on success)
//! fh      =  type i32 || len u8 (1..=MAX_HANDLE) || bytes[len]
//! name    =  len u16 (1..=255) || bytes (no '/' or NUL; not "." or "..")
//! xname   =  len u16 (1..=255) || bytes (no NUL): an extended attribute name
//! lock    =  fh || owner u64 || kind u8 || cmd u8 || type u8 || start u64 || end u64
//! lockinfo = type u8 || start u64 || end u64 || pid u32
//! ```
//!
//! All integers are little-endian. Plain `core` Rust without dependencies: the kernel module
//! includes this file by path. Decoders never panic and reject trailing bytes.

/// Largest file handle (`MAX_HANDLE_SZ`).
pub const MAX_HANDLE: usize = 128;
/// Supplementary groups carried with a request; callers with more are cut to the first ones,
/// which can only deny access, never grant it.
pub const MAX_GROUPS: usize = 32;
/// Largest umask: permission bits only.
pub const MAX_UMASK: u16 = 0o777;
/// Largest READ or WRITE payload; a netlink attribute holds at most 64 KiB.
pub const MAX_IO: usize = 32 * 1024;
/// Largest READDIR reply payload.
pub const MAX_DIRENTS: usize = 16 * 1024;
/// Largest message of either kind.
pub const MAX_MSG: usize = MAX_IO + 2048;
pub const HEADER_LEN: usize = 16;
pub const NAME_MAX: usize = 255;
pub const PATH_MAX: usize = 4095;
/// Reply errno meaning "this node does not serve the volume (any more); nothing was done":
/// an owner that is unmounting answers it, and a member then waits for the next owner and
/// sends the request again. ESHUTDOWN, which XFS never returns.
pub const ERR_NOT_SERVING: u32 = 108;
/// Encoded size of [`Attr`].
pub const ATTR_LEN: usize = 92;

/// Operation codes (header byte 0).
pub mod op {
    pub const GETROOT: u8 = 1;
    pub const LOOKUP: u8 = 2;
    pub const GETATTR: u8 = 3;
    pub const SETATTR: u8 = 4;
    pub const READDIR: u8 = 5;
    pub const MKNOD: u8 = 6;
    pub const MKDIR: u8 = 7;
    pub const SYMLINK: u8 = 8;
    pub const LINK: u8 = 9;
    pub const UNLINK: u8 = 10;
    pub const RMDIR: u8 = 11;
    pub const RENAME: u8 = 12;
    pub const READLINK: u8 = 13;
    pub const READ: u8 = 14;
    pub const WRITE: u8 = 15;
    pub const FSYNC: u8 = 16;
    pub const STATFS: u8 = 17;
    pub const LOCK: u8 = 18;
    pub const GETXATTR: u8 = 19;
    pub const LISTXATTR: u8 = 20;
    pub const SETXATTR: u8 = 21;
    pub const REMOVEXATTR: u8 = 22;
    /// kernel -> its own mxfsd, never forwarded: take the cache lock of an inode at a mode of
    /// [`super::cache`]. Answered (`Done`) once granted.
    pub const CACHE_LOCK: u8 = 23;
    /// kernel -> its own mxfsd: the node's cache lock went down to a weaker mode (after a
    /// blocking callback, or when the inode left memory). Never answered.
    pub const CACHE_DOWN: u8 = 24;
    /// mxfsd -> kernel (genl CACHE_BAST): another node waits for a mode the cache lock blocks.
    /// Never answered; the kernel answers with CACHE_DOWN.
    pub const CACHE_BAST: u8 = 25;
    pub const MAX: u8 = CACHE_BAST;
}

/// Longest extended attribute name (`XATTR_NAME_MAX`).
pub const XATTR_NAME_MAX: usize = 255;

/// `LOCK` fields. A lock belongs to (requesting node, `owner`): the owner keeps one open file
/// per such pair and takes the lock on it, so locks of different nodes and owners conflict
/// exactly as local ones do.
pub mod lock {
    /// fcntl byte-range lock (POSIX or OFD: the member's kernel names the owner).
    pub const POSIX: u8 = 0;
    /// flock(2) lock: always the whole file.
    pub const FLOCK: u8 = 1;
    /// `cmd`: report the first conflicting lock (F_GETLK); POSIX only.
    pub const TEST: u8 = 0;
    /// `cmd`: take or release, never waiting (the member's kernel retries for F_SETLKW).
    pub const SET: u8 = 1;
    /// `cmd`: take again a lock the previous owner had granted (after a failover or a
    /// hand-over); the only kind of SET a new owner accepts during its grace period.
    pub const RECLAIM: u8 = 2;
    pub const READ: u8 = 0;
    pub const WRITE: u8 = 1;
    pub const UNLOCK: u8 = 2;
    /// `end` of a lock that runs to the end of the file (the kernel's OFFSET_MAX).
    pub const EOF: u64 = i64::MAX as u64;
}

const KIND_REQUEST: u8 = 0;
const KIND_REPLY: u8 = 1;

/// `SETATTR` mask bits: which fields of [`SetAttr`] apply.
pub mod set {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
    /// Set atime to the given time; without `ATIME_SET` atime becomes "now".
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const ATIME_SET: u32 = 1 << 6;
    pub const MTIME_SET: u32 = 1 << 7;
    pub const ALL: u32 = (1 << 8) - 1;
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteError {
    Truncated,
    TrailingBytes,
    BadLength,
    UnknownOp(u8),
    BadKind(u8),
    NonZeroReserved,
    BadHandle,
    BadName,
    BadPath,
    TooManyGroups,
    /// A umask with bits beyond the permission bits.
    BadUmask,
    TooLarge,
    BadMask,
    /// A LOCK request with an unknown kind, command or type, or a range that is not one.
    BadLock,
    /// An extended attribute name that is empty, too long or contains NUL.
    BadXattrName,
    /// A cache lock message whose mode is not one that message may carry.
    BadCacheMode,
    /// The output buffer is smaller than the encoded message.
    NoSpace,
}

impl core::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("remote message is truncated"),
            Self::TrailingBytes => f.write_str("remote message has trailing bytes"),
            Self::BadLength => f.write_str("remote message length field does not match its size"),
            Self::UnknownOp(o) => write!(f, "unknown remote operation {o}"),
            Self::BadKind(k) => write!(f, "remote message kind {k} is neither request nor reply"),
            Self::NonZeroReserved => f.write_str("remote message reserved field is not zero"),
            Self::BadHandle => f.write_str("file handle length is 0 or above 128"),
            Self::BadName => f.write_str("name is empty, too long, '.', '..', or contains '/' or NUL"),
            Self::BadPath => f.write_str("symlink target is empty, too long or contains NUL"),
            Self::TooManyGroups => f.write_str("too many supplementary groups"),
            Self::BadUmask => f.write_str("umask has bits beyond 0o777"),
            Self::TooLarge => f.write_str("remote payload exceeds its limit"),
            Self::BadMask => f.write_str("unknown SETATTR mask bits"),
            Self::BadLock => f.write_str("LOCK request with an unknown kind, command or type, or an invalid range"),
            Self::BadXattrName => f.write_str("extended attribute name is empty, longer than 255 bytes or contains NUL"),
            Self::BadCacheMode => f.write_str("cache lock message with a mode it may not carry"),
            Self::NoSpace => f.write_str("buffer too small for the remote message"),
        }
    }
}

/// An XFS file handle as `name_to_handle_at(2)` gives it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fh {
    pub ty: i32,
    pub len: u8,
    pub bytes: [u8; MAX_HANDLE],
}

impl Fh {
    pub fn new(ty: i32, bytes: &[u8]) -> Result<Fh, RemoteError> {
        if bytes.is_empty() || bytes.len() > MAX_HANDLE {
            return Err(RemoteError::BadHandle);
        }
        let mut fh = Fh { ty, len: bytes.len() as u8, bytes: [0; MAX_HANDLE] };
        copy(&mut fh.bytes, bytes);
        Ok(fh)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    fn encoded_len(&self) -> usize {
        5 + self.len as usize
    }
}

impl core::fmt::Debug for Fh {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Fh({}:", self.ty)?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// A timestamp: seconds since the epoch and nanoseconds (< 1e9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

/// Inode attributes as the owner's XFS reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    /// 512-byte blocks.
    pub blocks: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub blksize: u32,
    /// Inode generation (`FS_IOC_GETVERSION`); 0 when unknown.
    pub generation: u32,
}

/// What a SETATTR changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// [`set`] bits.
    pub mask: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Time,
    pub mtime: Time,
}

const SETATTR_LEN: usize = 4 * 4 + 8 + 2 * 12;

/// `statfs` numbers of the owner's XFS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatFs {
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namelen: u64,
}

const STATFS_LEN: usize = 7 * 8;

/// Credentials a request runs with on the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub ngroups: u16,
    /// The caller's umask: the owner applies it to new inodes unless the directory's default
    /// ACL decides their mode (so the member's VFS sends modes unmasked).
    pub umask: u16,
    pub groups: [u32; MAX_GROUPS],
}

impl Creds {
    /// `groups` beyond [`MAX_GROUPS`] are dropped.
    pub fn new(uid: u32, gid: u32, groups: &[u32]) -> Creds {
        let n = groups.len().min(MAX_GROUPS);
        let mut c = Creds { uid, gid, ngroups: n as u16, umask: 0, groups: [0; MAX_GROUPS] };
        copy(&mut c.groups, &groups[..n]);
        c
    }

    /// The same credentials with the caller's umask.
    pub fn with_umask(self, umask: u16) -> Creds {
        Creds { umask, ..self }
    }

    /// The first `ngroups` groups (never more than [`MAX_GROUPS`], whatever `ngroups` says).
    pub fn groups(&self) -> &[u32] {
        &self.groups[..(self.ngroups as usize).min(MAX_GROUPS)]
    }

    fn encoded_len(&self) -> usize {
        12 + 4 * self.ngroups as usize
    }
}

/// A request's operation and arguments. Byte slices borrow from the decoded buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    GetRoot,
    Lookup { dir: Fh, name: &'a [u8] },
    GetAttr { fh: Fh },
    SetAttr { fh: Fh, attr: SetAttr },
    /// Entries from `cookie` (0 = start) filling at most `max` bytes of [`MAX_DIRENTS`].
    ReadDir { dir: Fh, cookie: u64, max: u32 },
    /// Any non-directory: regular file, fifo, socket, device (`rdev` for devices).
    Mknod { dir: Fh, name: &'a [u8], mode: u32, rdev_major: u32, rdev_minor: u32 },
    Mkdir { dir: Fh, name: &'a [u8], mode: u32 },
    Symlink { dir: Fh, name: &'a [u8], target: &'a [u8] },
    Link { fh: Fh, dir: Fh, name: &'a [u8] },
    Unlink { dir: Fh, name: &'a [u8] },
    Rmdir { dir: Fh, name: &'a [u8] },
    /// `flags` are renameat2 flags.
    Rename { from_dir: Fh, from: &'a [u8], to_dir: Fh, to: &'a [u8], flags: u32 },
    ReadLink { fh: Fh },
    Read { fh: Fh, offset: u64, len: u32 },
    /// `sync`: O_SYNC/O_DSYNC write, durable when answered.
    Write { fh: Fh, offset: u64, sync: bool, data: &'a [u8] },
    Fsync { fh: Fh, datasync: bool },
    StatFs { fh: Fh },
    /// A [`lock`] request: `start..=end` (inclusive, `end` at most [`lock::EOF`]).
    Lock(LockReq),
    /// The whole value (at most [`MAX_IO`] bytes; a longer one fails with E2BIG).
    GetXattr { fh: Fh, name: &'a [u8] },
    /// The NUL-separated names (at most [`MAX_IO`] bytes).
    ListXattr { fh: Fh },
    /// `flags`: XATTR_CREATE (1) or XATTR_REPLACE (2) or 0.
    SetXattr { fh: Fh, name: &'a [u8], flags: u32, value: &'a [u8] },
    RemoveXattr { fh: Fh, name: &'a [u8] },
    /// [`op::CACHE_LOCK`]: `mode` is PR or EX.
    CacheLock(CacheLock),
    /// [`op::CACHE_DOWN`]: `mode` is the mode now held, NL or PR.
    CacheDown(CacheLock),
    /// [`op::CACHE_BAST`]: `mode` is the blocked mode, PR or EX.
    CacheBast(CacheLock),
}

/// The arguments of a LOCK request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockReq {
    pub fh: Fh,
    pub owner: u64,
    pub kind: u8,
    pub cmd: u8,
    pub ty: u8,
    pub start: u64,
    pub end: u64,
}

const LOCK_ARGS_LEN: usize = 8 + 3 + 16;

impl LockReq {
    /// Whether the fields make sense together (both codec sides check it).
    pub fn valid(&self) -> bool {
        let known = self.kind <= lock::FLOCK && self.cmd <= lock::RECLAIM && self.ty <= lock::UNLOCK;
        let range = self.start <= self.end && self.end <= lock::EOF;
        let flock = self.kind != lock::FLOCK || (self.cmd != lock::TEST && self.start == 0 && self.end == lock::EOF);
        let no_unlock = self.ty != lock::UNLOCK || self.cmd == lock::SET;
        known && range && flock && no_unlock
    }

    /// Releases everything this owner holds on the file.
    pub fn releases_all(&self) -> bool {
        self.cmd == lock::SET && self.ty == lock::UNLOCK && self.start == 0 && self.end == lock::EOF
    }
}

/// A LOCK reply: the lock taken or released (SET), or the first conflicting lock, `ty`
/// [`lock::UNLOCK`] when there is none (TEST). `pid` is the holder's on the owner, 0 when
/// unknown. A SET that conflicts fails with EAGAIN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockInfo {
    pub ty: u8,
    pub start: u64,
    pub end: u64,
    pub pid: u32,
}

const LOCK_INFO_LEN: usize = 1 + 16 + 4;

/// The lock-cache (DESIGN §3): one cluster lock per inode, named by its XFS inode number,
/// which the owner and the members both know. Attributes and directory entries may be cached
/// only under PR; an inode is changed only under EX. A reused inode number names the same lock,
/// which is harmless: removing the old inode took EX, so nobody still caches it.
pub mod cache {
    pub const NL: u8 = 0;
    pub const PR: u8 = 1;
    pub const EX: u8 = 2;
    /// Length of a cache lock's resource name.
    pub const RES_LEN: usize = 9;

    /// The DLM resource of inode `ino`: `'i'`, then the number little-endian.
    pub fn res_name(ino: u64) -> [u8; RES_LEN] {
        let mut r = [0u8; RES_LEN];
        r[0] = b'i';
        r[1..9].copy_from_slice(&ino.to_le_bytes());
        r
    }

    /// The inode a resource name belongs to, if it is a cache lock's.
    pub fn parse_res(res: &[u8]) -> Option<u64> {
        if res.len() != RES_LEN || res[0] != b'i' {
            return None;
        }
        let mut ino = [0u8; 8];
        ino.copy_from_slice(&res[1..9]);
        Some(u64::from_le_bytes(ino))
    }
}

/// The arguments of the cache lock messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLock {
    pub ino: u64,
    pub mode: u8,
}

const CACHE_LOCK_LEN: usize = 8 + 1;

impl Request<'_> {
    pub fn op(&self) -> u8 {
        match self {
            Request::GetRoot => op::GETROOT,
            Request::Lookup { .. } => op::LOOKUP,
            Request::GetAttr { .. } => op::GETATTR,
            Request::SetAttr { .. } => op::SETATTR,
            Request::ReadDir { .. } => op::READDIR,
            Request::Mknod { .. } => op::MKNOD,
            Request::Mkdir { .. } => op::MKDIR,
            Request::Symlink { .. } => op::SYMLINK,
            Request::Link { .. } => op::LINK,
            Request::Unlink { .. } => op::UNLINK,
            Request::Rmdir { .. } => op::RMDIR,
            Request::Rename { .. } => op::RENAME,
            Request::ReadLink { .. } => op::READLINK,
            Request::Read { .. } => op::READ,
            Request::Write { .. } => op::WRITE,
            Request::Fsync { .. } => op::FSYNC,
            Request::StatFs { .. } => op::STATFS,
            Request::Lock(_) => op::LOCK,
            Request::GetXattr { .. } => op::GETXATTR,
            Request::ListXattr { .. } => op::LISTXATTR,
            Request::SetXattr { .. } => op::SETXATTR,
            Request::RemoveXattr { .. } => op::REMOVEXATTR,
            Request::CacheLock(_) => op::CACHE_LOCK,
            Request::CacheDown(_) => op::CACHE_DOWN,
            Request::CacheBast(_) => op::CACHE_BAST,
        }
    }

    /// Whether a cache lock message carries a mode it may (both codec sides check it).
    fn cache_mode_ok(&self) -> bool {
        match self {
            Request::CacheLock(c) | Request::CacheBast(c) => c.mode == cache::PR || c.mode == cache::EX,
            Request::CacheDown(c) => c.mode == cache::NL || c.mode == cache::PR,
            _ => true,
        }
    }

    fn body_len(&self) -> usize {
        let name = |n: &[u8]| 2 + n.len();
        match self {
            Request::GetRoot => 0,
            Request::Lookup { dir, name: n } | Request::Unlink { dir, name: n } | Request::Rmdir { dir, name: n } => {
                dir.encoded_len() + name(n)
            }
            Request::GetAttr { fh } | Request::ReadLink { fh } | Request::StatFs { fh } => fh.encoded_len(),
            Request::SetAttr { fh, .. } => fh.encoded_len() + SETATTR_LEN,
            Request::ReadDir { dir, .. } => dir.encoded_len() + 12,
            Request::Mknod { dir, name: n, .. } => dir.encoded_len() + name(n) + 12,
            Request::Mkdir { dir, name: n, .. } => dir.encoded_len() + name(n) + 4,
            Request::Symlink { dir, name: n, target } => dir.encoded_len() + name(n) + 2 + target.len(),
            Request::Link { fh, dir, name: n } => fh.encoded_len() + dir.encoded_len() + name(n),
            Request::Rename { from_dir, from, to_dir, to, .. } => {
                from_dir.encoded_len() + name(from) + to_dir.encoded_len() + name(to) + 4
            }
            Request::Read { fh, .. } => fh.encoded_len() + 12,
            Request::Write { fh, data, .. } => fh.encoded_len() + 8 + 1 + 4 + data.len(),
            Request::Fsync { fh, .. } => fh.encoded_len() + 1,
            Request::Lock(l) => l.fh.encoded_len() + LOCK_ARGS_LEN,
            Request::GetXattr { fh, name: n } | Request::RemoveXattr { fh, name: n } => fh.encoded_len() + 2 + n.len(),
            Request::ListXattr { fh } => fh.encoded_len(),
            Request::SetXattr { fh, name: n, value, .. } => fh.encoded_len() + 2 + n.len() + 4 + 4 + value.len(),
            Request::CacheLock(_) | Request::CacheDown(_) | Request::CacheBast(_) => CACHE_LOCK_LEN,
        }
    }

    /// Size of the encoded request.
    pub fn encoded_len(&self, creds: &Creds) -> usize {
        HEADER_LEN + creds.encoded_len() + self.body_len()
    }

    /// Encodes the request into `out`; returns the length written.
    pub fn encode(&self, id: u64, creds: &Creds, out: &mut [u8]) -> Result<usize, RemoteError> {
        // `ngroups` is a public field: a caller could set it past the array.
        if creds.ngroups as usize > MAX_GROUPS {
            return Err(RemoteError::TooManyGroups);
        }
        if creds.umask > MAX_UMASK {
            return Err(RemoteError::BadUmask);
        }
        let len = self.encoded_len(creds);
        if len > MAX_MSG {
            return Err(RemoteError::TooLarge);
        }
        let mut w = Writer::new(out, len)?;
        w.header(self.op(), KIND_REQUEST, len, id);
        w.u32(creds.uid);
        w.u32(creds.gid);
        w.u16(creds.ngroups);
        w.u16(creds.umask);
        for g in creds.groups() {
            w.u32(*g);
        }
        match *self {
            Request::GetRoot => {}
            Request::Lookup { dir, name } | Request::Unlink { dir, name } | Request::Rmdir { dir, name } => {
                w.fh(&dir);
                w.name(name)?;
            }
            Request::GetAttr { fh } | Request::ReadLink { fh } | Request::StatFs { fh } => w.fh(&fh),
            Request::SetAttr { fh, attr } => {
                w.fh(&fh);
                w.u32(attr.mask);
                w.u32(attr.mode);
                w.u32(attr.uid);
                w.u32(attr.gid);
                w.u64(attr.size);
                w.time(attr.atime);
                w.time(attr.mtime);
            }
            Request::ReadDir { dir, cookie, max } => {
                w.fh(&dir);
                w.u64(cookie);
                w.u32(max);
            }
            Request::Mknod { dir, name, mode, rdev_major, rdev_minor } => {
                w.fh(&dir);
                w.name(name)?;
                w.u32(mode);
                w.u32(rdev_major);
                w.u32(rdev_minor);
            }
            Request::Mkdir { dir, name, mode } => {
                w.fh(&dir);
                w.name(name)?;
                w.u32(mode);
            }
            Request::Symlink { dir, name, target } => {
                w.fh(&dir);
                w.name(name)?;
                w.path(target)?;
            }
            Request::Link { fh, dir, name } => {
                w.fh(&fh);
                w.fh(&dir);
                w.name(name)?;
            }
            Request::Rename { from_dir, from, to_dir, to, flags } => {
                w.fh(&from_dir);
                w.name(from)?;
                w.fh(&to_dir);
                w.name(to)?;
                w.u32(flags);
            }
            Request::Read { fh, offset, len } => {
                w.fh(&fh);
                w.u64(offset);
                w.u32(len);
            }
            Request::Write { fh, offset, sync, data } => {
                if data.len() > MAX_IO {
                    return Err(RemoteError::TooLarge);
                }
                w.fh(&fh);
                w.u64(offset);
                w.u8(sync as u8);
                w.u32(data.len() as u32);
                w.bytes(data);
            }
            Request::Fsync { fh, datasync } => {
                w.fh(&fh);
                w.u8(datasync as u8);
            }
            Request::Lock(l) => {
                if !l.valid() {
                    return Err(RemoteError::BadLock);
                }
                w.fh(&l.fh);
                w.u64(l.owner);
                w.u8(l.kind);
                w.u8(l.cmd);
                w.u8(l.ty);
                w.u64(l.start);
                w.u64(l.end);
            }
            Request::GetXattr { fh, name } | Request::RemoveXattr { fh, name } => {
                w.fh(&fh);
                w.xattr_name(name)?;
            }
            Request::ListXattr { fh } => w.fh(&fh),
            Request::SetXattr { fh, name, flags, value } => {
                if value.len() > MAX_IO {
                    return Err(RemoteError::TooLarge);
                }
                w.fh(&fh);
                w.xattr_name(name)?;
                w.u32(flags);
                w.u32(value.len() as u32);
                w.bytes(value);
            }
            Request::CacheLock(c) | Request::CacheDown(c) | Request::CacheBast(c) => {
                if !self.cache_mode_ok() {
                    return Err(RemoteError::BadCacheMode);
                }
                w.u64(c.ino);
                w.u8(c.mode);
            }
        }
        Ok(w.finish())
    }
}

/// Header fields of any message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub op: u8,
    pub is_reply: bool,
    pub id: u64,
}

/// Reads and checks the header of a complete message (`buf` is the whole message).
pub fn decode_header(buf: &[u8]) -> Result<Header, RemoteError> {
    if buf.len() < HEADER_LEN {
        return Err(RemoteError::Truncated);
    }
    if buf.len() > MAX_MSG {
        return Err(RemoteError::TooLarge);
    }
    let op = buf[0];
    if op == 0 || op > op::MAX {
        return Err(RemoteError::UnknownOp(op));
    }
    let is_reply = match buf[1] {
        KIND_REQUEST => false,
        KIND_REPLY => true,
        k => return Err(RemoteError::BadKind(k)),
    };
    if buf[2] != 0 || buf[3] != 0 {
        return Err(RemoteError::NonZeroReserved);
    }
    if u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize != buf.len() {
        return Err(RemoteError::BadLength);
    }
    let mut id = [0u8; 8];
    copy(&mut id, &buf[8..16]);
    Ok(Header { op, is_reply, id: u64::from_le_bytes(id) })
}

/// Decodes a whole request message.
pub fn decode_request(buf: &[u8]) -> Result<(Header, Creds, Request<'_>), RemoteError> {
    let h = decode_header(buf)?;
    if h.is_reply {
        return Err(RemoteError::BadKind(KIND_REPLY));
    }
    let mut r = Reader { buf, pos: HEADER_LEN };
    let uid = r.u32()?;
    let gid = r.u32()?;
    let n = r.u16()? as usize;
    let umask = r.u16()?;
    if umask > MAX_UMASK {
        return Err(RemoteError::BadUmask);
    }
    if n > MAX_GROUPS {
        return Err(RemoteError::TooManyGroups);
    }
    let mut creds = Creds { uid, gid, ngroups: n as u16, umask, groups: [0; MAX_GROUPS] };
    for g in creds.groups.iter_mut().take(n) {
        *g = r.u32()?;
    }
    let req = match h.op {
        op::GETROOT => Request::GetRoot,
        op::LOOKUP => Request::Lookup { dir: r.fh()?, name: r.name()? },
        op::UNLINK => Request::Unlink { dir: r.fh()?, name: r.name()? },
        op::RMDIR => Request::Rmdir { dir: r.fh()?, name: r.name()? },
        op::GETATTR => Request::GetAttr { fh: r.fh()? },
        op::READLINK => Request::ReadLink { fh: r.fh()? },
        op::STATFS => Request::StatFs { fh: r.fh()? },
        op::SETATTR => {
            let fh = r.fh()?;
            let attr = SetAttr {
                mask: r.u32()?,
                mode: r.u32()?,
                uid: r.u32()?,
                gid: r.u32()?,
                size: r.u64()?,
                atime: r.time()?,
                mtime: r.time()?,
            };
            if attr.mask & !set::ALL != 0 {
                return Err(RemoteError::BadMask);
            }
            Request::SetAttr { fh, attr }
        }
        op::READDIR => Request::ReadDir { dir: r.fh()?, cookie: r.u64()?, max: r.u32()? },
        op::MKNOD => Request::Mknod {
            dir: r.fh()?,
            name: r.name()?,
            mode: r.u32()?,
            rdev_major: r.u32()?,
            rdev_minor: r.u32()?,
        },
        op::MKDIR => Request::Mkdir { dir: r.fh()?, name: r.name()?, mode: r.u32()? },
        op::SYMLINK => Request::Symlink { dir: r.fh()?, name: r.name()?, target: r.path()? },
        op::LINK => Request::Link { fh: r.fh()?, dir: r.fh()?, name: r.name()? },
        op::RENAME => Request::Rename {
            from_dir: r.fh()?,
            from: r.name()?,
            to_dir: r.fh()?,
            to: r.name()?,
            flags: r.u32()?,
        },
        op::READ => {
            let (fh, offset, len) = (r.fh()?, r.u64()?, r.u32()?);
            if len as usize > MAX_IO {
                return Err(RemoteError::TooLarge);
            }
            Request::Read { fh, offset, len }
        }
        op::WRITE => {
            let (fh, offset, sync) = (r.fh()?, r.u64()?, r.bool()?);
            let n = r.u32()? as usize;
            if n > MAX_IO {
                return Err(RemoteError::TooLarge);
            }
            Request::Write { fh, offset, sync, data: r.take(n)? }
        }
        op::FSYNC => Request::Fsync { fh: r.fh()?, datasync: r.bool()? },
        op::LOCK => {
            let l = LockReq {
                fh: r.fh()?,
                owner: r.u64()?,
                kind: r.u8()?,
                cmd: r.u8()?,
                ty: r.u8()?,
                start: r.u64()?,
                end: r.u64()?,
            };
            if !l.valid() {
                return Err(RemoteError::BadLock);
            }
            Request::Lock(l)
        }
        op::GETXATTR => Request::GetXattr { fh: r.fh()?, name: r.xattr_name()? },
        op::REMOVEXATTR => Request::RemoveXattr { fh: r.fh()?, name: r.xattr_name()? },
        op::LISTXATTR => Request::ListXattr { fh: r.fh()? },
        op::SETXATTR => {
            let (fh, name, flags) = (r.fh()?, r.xattr_name()?, r.u32()?);
            let n = r.u32()? as usize;
            if n > MAX_IO {
                return Err(RemoteError::TooLarge);
            }
            Request::SetXattr { fh, name, flags, value: r.take(n)? }
        }
        op::CACHE_LOCK | op::CACHE_DOWN | op::CACHE_BAST => {
            let c = CacheLock { ino: r.u64()?, mode: r.u8()? };
            let req = match h.op {
                op::CACHE_LOCK => Request::CacheLock(c),
                op::CACHE_DOWN => Request::CacheDown(c),
                _ => Request::CacheBast(c),
            };
            if !req.cache_mode_ok() {
                return Err(RemoteError::BadCacheMode);
            }
            req
        }
        o => return Err(RemoteError::UnknownOp(o)),
    };
    r.end()?;
    Ok((h, creds, req))
}

/// A successful result. Which variant belongs to which op is fixed:
/// GETROOT, LOOKUP, MKNOD, MKDIR, SYMLINK → `Entry`; GETATTR, SETATTR, LINK → `Attr`;
/// UNLINK, RMDIR, RENAME, FSYNC, SETXATTR, REMOVEXATTR, CACHE_LOCK → `Done`; READDIR → `Dirents`; READ,
/// READLINK, GETXATTR, LISTXATTR → `Data`; WRITE → `Written`; STATFS → `StatFs`; LOCK → `Lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    Entry { fh: Fh, attr: Attr },
    Attr(Attr),
    Done,
    /// `data` is a sequence of [`Dirent`]s (decode with [`dirents`]); `eof` when the
    /// directory has no entries after the last one.
    Dirents { eof: bool, data: &'a [u8] },
    Data(&'a [u8]),
    Written { count: u32, attr: Attr },
    StatFs(StatFs),
    Lock(LockInfo),
}

/// The reply shape an op expects.
fn reply_matches(op: u8, reply: &Reply<'_>) -> bool {
    matches!(
        (op, reply),
        (op::GETROOT | op::LOOKUP | op::MKNOD | op::MKDIR | op::SYMLINK, Reply::Entry { .. })
            | (op::GETATTR | op::SETATTR | op::LINK, Reply::Attr(_))
            | (op::UNLINK | op::RMDIR | op::RENAME | op::FSYNC | op::SETXATTR | op::REMOVEXATTR | op::CACHE_LOCK, Reply::Done)
            | (op::READDIR, Reply::Dirents { .. })
            | (op::READ | op::READLINK | op::GETXATTR | op::LISTXATTR, Reply::Data(_))
            | (op::WRITE, Reply::Written { .. })
            | (op::STATFS, Reply::StatFs(_))
            | (op::LOCK, Reply::Lock(_))
    )
}

fn reply_body_len(reply: &Reply<'_>) -> usize {
    match reply {
        Reply::Entry { fh, .. } => fh.encoded_len() + ATTR_LEN,
        Reply::Attr(_) => ATTR_LEN,
        Reply::Done => 0,
        Reply::Dirents { data, .. } => 1 + 4 + data.len(),
        Reply::Data(d) => 4 + d.len(),
        Reply::Written { .. } => 4 + ATTR_LEN,
        Reply::StatFs(_) => STATFS_LEN,
        Reply::Lock(_) => LOCK_INFO_LEN,
    }
}

/// Size of an encoded reply: `result` is `Ok(reply)` or `Err(errno)`.
pub fn reply_len(result: &Result<Reply<'_>, u32>) -> usize {
    HEADER_LEN + 4 + result.as_ref().map_or(0, reply_body_len)
}

/// Encodes a reply to request `op`/`id`; `Err(errno)` (positive, non-zero) reports failure.
pub fn encode_reply(op: u8, id: u64, result: &Result<Reply<'_>, u32>, out: &mut [u8]) -> Result<usize, RemoteError> {
    if op == 0 || op > op::MAX {
        return Err(RemoteError::UnknownOp(op));
    }
    let len = reply_len(result);
    if len > MAX_MSG {
        return Err(RemoteError::TooLarge);
    }
    let mut w = Writer::new(out, len)?;
    w.header(op, KIND_REPLY, len, id);
    match result {
        Err(errno) => w.u32((*errno).max(1)),
        Ok(reply) => {
            if !reply_matches(op, reply) {
                return Err(RemoteError::UnknownOp(op));
            }
            w.u32(0);
            match *reply {
                Reply::Entry { fh, attr } => {
                    w.fh(&fh);
                    w.attr(&attr);
                }
                Reply::Attr(a) => w.attr(&a),
                Reply::Done => {}
                Reply::Dirents { eof, data } => {
                    if data.len() > MAX_DIRENTS {
                        return Err(RemoteError::TooLarge);
                    }
                    w.u8(eof as u8);
                    w.u32(data.len() as u32);
                    w.bytes(data);
                }
                Reply::Data(d) => {
                    if d.len() > MAX_IO {
                        return Err(RemoteError::TooLarge);
                    }
                    w.u32(d.len() as u32);
                    w.bytes(d);
                }
                Reply::Written { count, attr } => {
                    w.u32(count);
                    w.attr(&attr);
                }
                Reply::StatFs(s) => {
                    for v in [s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.namelen] {
                        w.u64(v);
                    }
                }
                Reply::Lock(l) => {
                    if l.ty > lock::UNLOCK {
                        return Err(RemoteError::BadLock);
                    }
                    w.u8(l.ty);
                    w.u64(l.start);
                    w.u64(l.end);
                    w.u32(l.pid);
                }
            }
        }
    }
    Ok(w.finish())
}

/// Decodes a whole reply message: the header and `Ok(result)` or `Err(errno)`.
pub fn decode_reply(buf: &[u8]) -> Result<(Header, Result<Reply<'_>, u32>), RemoteError> {
    let h = decode_header(buf)?;
    if !h.is_reply {
        return Err(RemoteError::BadKind(KIND_REQUEST));
    }
    let mut r = Reader { buf, pos: HEADER_LEN };
    let errno = r.u32()?;
    if errno != 0 {
        r.end()?;
        return Ok((h, Err(errno)));
    }
    let reply = match h.op {
        op::GETROOT | op::LOOKUP | op::MKNOD | op::MKDIR | op::SYMLINK => Reply::Entry { fh: r.fh()?, attr: r.attr()? },
        op::GETATTR | op::SETATTR | op::LINK => Reply::Attr(r.attr()?),
        op::UNLINK | op::RMDIR | op::RENAME | op::FSYNC | op::SETXATTR | op::REMOVEXATTR | op::CACHE_LOCK => Reply::Done,
        op::READDIR => {
            let eof = r.bool()?;
            let n = r.u32()? as usize;
            if n > MAX_DIRENTS {
                return Err(RemoteError::TooLarge);
            }
            let data = r.take(n)?;
            // Validate every entry now so consumers can iterate without errors.
            let mut it = Dirents { buf: data, pos: 0 };
            while let Some(e) = it.next_entry()? {
                let _ = e;
            }
            Reply::Dirents { eof, data }
        }
        op::READ | op::READLINK | op::GETXATTR | op::LISTXATTR => {
            let n = r.u32()? as usize;
            if n > MAX_IO {
                return Err(RemoteError::TooLarge);
            }
            Reply::Data(r.take(n)?)
        }
        op::WRITE => Reply::Written { count: r.u32()?, attr: r.attr()? },
        op::STATFS => Reply::StatFs(StatFs {
            bsize: r.u64()?,
            blocks: r.u64()?,
            bfree: r.u64()?,
            bavail: r.u64()?,
            files: r.u64()?,
            ffree: r.u64()?,
            namelen: r.u64()?,
        }),
        op::LOCK => {
            let l = LockInfo { ty: r.u8()?, start: r.u64()?, end: r.u64()?, pid: r.u32()? };
            if l.ty > lock::UNLOCK {
                return Err(RemoteError::BadLock);
            }
            Reply::Lock(l)
        }
        o => return Err(RemoteError::UnknownOp(o)),
    };
    r.end()?;
    Ok((h, Ok(reply)))
}

/// One directory entry of a READDIR reply:
/// `ino u64 || cookie u64 (resume point after this entry) || dtype u8 || name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dirent<'a> {
    pub ino: u64,
    pub cookie: u64,
    /// `DT_*` value.
    pub dtype: u8,
    /// May be "." or ".." here, unlike request names.
    pub name: &'a [u8],
}

impl Dirent<'_> {
    pub fn encoded_len(&self) -> usize {
        17 + 2 + self.name.len()
    }

    /// Appends the entry at `out[pos..]`; returns the new position or `None` if it does not fit.
    pub fn encode_at(&self, out: &mut [u8], pos: usize) -> Option<usize> {
        let end = pos.checked_add(self.encoded_len())?;
        // Refuse what the decoder refuses, so a reply that encodes also decodes.
        if end > out.len() || self.name.is_empty() || self.name.len() > NAME_MAX || self.name.iter().any(|&b| b == b'/' || b == 0) {
            return None;
        }
        let o = &mut out[pos..end];
        copy(&mut o[0..8], &self.ino.to_le_bytes());
        copy(&mut o[8..16], &self.cookie.to_le_bytes());
        o[16] = self.dtype;
        copy(&mut o[17..19], &(self.name.len() as u16).to_le_bytes());
        copy(&mut o[19..], self.name);
        Some(end)
    }
}

/// Iterates the entries of a READDIR reply's data (already validated by [`decode_reply`]).
pub fn dirents(data: &[u8]) -> Dirents<'_> {
    Dirents { buf: data, pos: 0 }
}

pub struct Dirents<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dirents<'a> {
    fn next_entry(&mut self) -> Result<Option<Dirent<'a>>, RemoteError> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let mut r = Reader { buf: self.buf, pos: self.pos };
        let ino = r.u64()?;
        let cookie = r.u64()?;
        let dtype = r.u8()?;
        let n = r.u16()? as usize;
        if n == 0 || n > NAME_MAX {
            return Err(RemoteError::BadName);
        }
        let name = r.take(n)?;
        if name.iter().any(|&b| b == b'/' || b == 0) {
            return Err(RemoteError::BadName);
        }
        self.pos = r.pos;
        Ok(Some(Dirent { ino, cookie, dtype, name }))
    }
}

impl<'a> Iterator for Dirents<'a> {
    type Item = Dirent<'a>;
    fn next(&mut self) -> Option<Dirent<'a>> {
        self.next_entry().ok().flatten()
    }
}

/// Copies the overlap of `src` into `dst`. Unlike `copy_from_slice` it has no panic path, which
/// matters where this file is compiled into the kernel.
fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// Whether `name` is acceptable as an extended attribute name ("user.x", ...).
pub fn valid_xattr_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= XATTR_NAME_MAX && !name.contains(&0)
}

/// Whether `name` is acceptable as one path component in a request.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= NAME_MAX && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut [u8], len: usize) -> Result<Self, RemoteError> {
        if out.len() < len {
            return Err(RemoteError::NoSpace);
        }
        Ok(Writer { out, pos: 0 })
    }
    fn bytes(&mut self, b: &[u8]) {
        copy(&mut self.out[self.pos..], b);
        self.pos += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn time(&mut self, t: Time) {
        self.u64(t.sec as u64);
        self.u32(t.nsec);
    }
    fn header(&mut self, op: u8, kind: u8, len: usize, id: u64) {
        self.bytes(&[op, kind, 0, 0]);
        self.u32(len as u32);
        self.u64(id);
    }
    fn fh(&mut self, fh: &Fh) {
        self.u32(fh.ty as u32);
        self.u8(fh.len);
        self.bytes(fh.as_bytes());
    }
    fn name(&mut self, n: &[u8]) -> Result<(), RemoteError> {
        if !valid_name(n) {
            return Err(RemoteError::BadName);
        }
        self.u16(n.len() as u16);
        self.bytes(n);
        Ok(())
    }
    fn xattr_name(&mut self, n: &[u8]) -> Result<(), RemoteError> {
        if !valid_xattr_name(n) {
            return Err(RemoteError::BadXattrName);
        }
        self.u16(n.len() as u16);
        self.bytes(n);
        Ok(())
    }
    fn path(&mut self, p: &[u8]) -> Result<(), RemoteError> {
        if p.is_empty() || p.len() > PATH_MAX || p.contains(&0) {
            return Err(RemoteError::BadPath);
        }
        self.u16(p.len() as u16);
        self.bytes(p);
        Ok(())
    }
    fn attr(&mut self, a: &Attr) {
        self.u64(a.ino);
        self.u64(a.size);
        self.u64(a.blocks);
        self.time(a.atime);
        self.time(a.mtime);
        self.time(a.ctime);
        for v in [a.mode, a.nlink, a.uid, a.gid, a.rdev_major, a.rdev_minor, a.blksize, a.generation] {
            self.u32(v);
        }
    }
    fn finish(self) -> usize {
        self.pos
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RemoteError> {
        let end = self.pos.checked_add(n).ok_or(RemoteError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(RemoteError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, RemoteError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, RemoteError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(RemoteError::NonZeroReserved),
        }
    }
    fn u16(&mut self) -> Result<u16, RemoteError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, RemoteError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, RemoteError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn time(&mut self) -> Result<Time, RemoteError> {
        let sec = self.u64()? as i64;
        let nsec = self.u32()?;
        if nsec >= 1_000_000_000 {
            return Err(RemoteError::NonZeroReserved);
        }
        Ok(Time { sec, nsec })
    }
    fn fh(&mut self) -> Result<Fh, RemoteError> {
        let ty = self.u32()? as i32;
        let n = self.u8()? as usize;
        Fh::new(ty, self.take(n)?)
    }
    fn name(&mut self) -> Result<&'a [u8], RemoteError> {
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        if !valid_name(s) {
            return Err(RemoteError::BadName);
        }
        Ok(s)
    }
    fn xattr_name(&mut self) -> Result<&'a [u8], RemoteError> {
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        if !valid_xattr_name(s) {
            return Err(RemoteError::BadXattrName);
        }
        Ok(s)
    }
    fn path(&mut self) -> Result<&'a [u8], RemoteError> {
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        if s.is_empty() || s.len() > PATH_MAX || s.contains(&0) {
            return Err(RemoteError::BadPath);
        }
        Ok(s)
    }
    fn attr(&mut self) -> Result<Attr, RemoteError> {
        Ok(Attr {
            ino: self.u64()?,
            size: self.u64()?,
            blocks: self.u64()?,
            atime: self.time()?,
            mtime: self.time()?,
            ctime: self.time()?,
            mode: self.u32()?,
            nlink: self.u32()?,
            uid: self.u32()?,
            gid: self.u32()?,
            rdev_major: self.u32()?,
            rdev_minor: self.u32()?,
            blksize: self.u32()?,
            generation: self.u32()?,
        })
    }
    fn end(&self) -> Result<(), RemoteError> {
        if self.pos != self.buf.len() {
            return Err(RemoteError::TrailingBytes);
        }
        Ok(())
    }
}
