//! Node identity: a random uuid kept in `/etc/mxfs/node.uuid`, and the node id derived from it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use mxfs_uapi::ident::{node_id_from_uuid, parse_uuid, Uuid, UuidText};

use crate::random;

/// Where a host keeps its node uuid.
pub const NODE_UUID_PATH: &str = "/etc/mxfs/node.uuid";

/// This host's identity in every cluster it joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeIdentity {
    pub uuid: Uuid,
    /// FNV-1a 32 of the uuid bytes, never 0 (see `mxfs_uapi::ident::node_id_from_uuid`).
    pub node_id: u32,
}

impl NodeIdentity {
    pub fn from_uuid(uuid: Uuid) -> NodeIdentity {
        NodeIdentity { uuid, node_id: node_id_from_uuid(&uuid) }
    }
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {:#010x} ({})", self.node_id, UuidText(&self.uuid))
    }
}

/// Two different live nodes whose uuids hash to the same node id. Their PR keys and heartbeat
/// ids would be the same, so fencing one would fence both: the cluster refuses the newcomer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeIdCollision {
    pub node_id: u32,
    pub ours: Uuid,
    pub theirs: Uuid,
}

impl fmt::Display for NodeIdCollision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node id {:#010x} of this node ({}) is also the id of live node {}; \
             delete {NODE_UUID_PATH} on this host and remount to get a new identity",
            self.node_id,
            UuidText(&self.ours),
            UuidText(&self.theirs)
        )
    }
}

impl std::error::Error for NodeIdCollision {}

/// Fails when two *different* node uuids map to the same node id. The same uuid twice is
/// the same node and is fine.
pub fn check_node_id_collision(ours: &Uuid, theirs: &Uuid) -> Result<(), NodeIdCollision> {
    let node_id = node_id_from_uuid(ours);
    if ours != theirs && node_id == node_id_from_uuid(theirs) {
        return Err(NodeIdCollision { node_id, ours: *ours, theirs: *theirs });
    }
    Ok(())
}

/// Why the identity file could not be used.
#[derive(Debug)]
pub enum IdentityError {
    Io { path: PathBuf, what: &'static str, source: io::Error },
    Malformed { path: PathBuf },
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, what, source } => write!(f, "cannot {what} {}: {source}", path.display()),
            Self::Malformed { path } => write!(
                f,
                "{} does not hold one non-zero uuid (8-4-4-4-12 hex); fix or delete it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for IdentityError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Malformed { .. } => None,
        }
    }
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> IdentityError + 'a {
    move |source| IdentityError::Io { path: path.to_path_buf(), what, source }
}

/// Reads the node uuid at `path`, creating it on first run.
///
/// Creation is atomic and never replaces an existing identity: the uuid is written to a
/// temporary file in the same directory, fsynced, then hard-linked into place (link fails if
/// the name exists, unlike rename), and the directory is fsynced. Two daemons starting at
/// once on a fresh host therefore agree on one uuid: the loser of the link reads the winner's.
pub fn load_or_create(path: &Path) -> Result<NodeIdentity, IdentityError> {
    match read(path) {
        Err(IdentityError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
    let uuid = random::uuid_v4().map_err(io_err(Path::new(random::SOURCE), "read"))?;
    let tmp = dir.join(format!(".node.uuid.{}.{:08x}", std::process::id(), u32::from_le_bytes([uuid[0], uuid[1], uuid[2], uuid[3]])));
    let result = publish(&tmp, path, &uuid);
    let _ = fs::remove_file(&tmp);
    match result {
        Ok(()) => {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir, "sync directory"))?;
            Ok(NodeIdentity::from_uuid(uuid))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(IdentityError::Io { path: path.to_path_buf(), what: "create", source: e }),
    }
}

fn publish(tmp: &Path, path: &Path, uuid: &Uuid) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o644).open(tmp)?;
    writeln!(f, "{}", UuidText(uuid))?;
    f.sync_all()?;
    fs::hard_link(tmp, path)
}

/// Reads an existing identity file: one uuid, optionally followed by a newline.
pub fn read(path: &Path) -> Result<NodeIdentity, IdentityError> {
    let text = fs::read_to_string(path).map_err(io_err(path, "read"))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    match parse_uuid(line) {
        Some(uuid) if uuid != [0; 16] => Ok(NodeIdentity::from_uuid(uuid)),
        _ => Err(IdentityError::Malformed { path: path.to_path_buf() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/mxfs/node.uuid");
        let first = load_or_create(&path).unwrap();
        assert_ne!(first.node_id, 0);
        assert_eq!(first.uuid[6] >> 4, 4, "version 4 uuid");
        assert_eq!(load_or_create(&path).unwrap(), first);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", UuidText(&first.uuid)));
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn concurrent_first_runs_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.uuid");
        let ids: Vec<_> = (0..8)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || load_or_create(&p).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn malformed_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.uuid");
        for bad in ["", "not-a-uuid\n", "00000000-0000-0000-0000-000000000000\n", "12345678-9abc-def0-0123-456789abcdef\n\n"] {
            fs::write(&path, bad).unwrap();
            assert!(matches!(load_or_create(&path), Err(IdentityError::Malformed { .. })), "{bad:?}");
            assert_eq!(fs::read_to_string(&path).unwrap(), bad);
        }
        fs::write(&path, "12345678-9ABC-def0-0123-456789abcdef").unwrap();
        assert_eq!(load_or_create(&path).unwrap().uuid[0], 0x12);
    }

    #[test]
    fn collisions_need_two_different_uuids_with_one_id() {
        // A 32-bit id collides by the birthday bound after ~2^16 uuids: find a pair.
        let mut seen = std::collections::HashMap::new();
        let (a, b) = (1u64..)
            .find_map(|x| {
                // Spread x over all 16 bytes: FNV-1a of inputs differing in only a few
                // bytes is close to a bijection and collides far later.
                let mut u = [0u8; 16];
                u[..8].copy_from_slice(&x.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
                u[8..].copy_from_slice(&(x ^ (x >> 7)).wrapping_mul(0xbf58_476d_1ce4_e5b9).to_le_bytes());
                let prev = seen.insert(node_id_from_uuid(&u), u)?;
                Some((prev, u))
            })
            .unwrap();
        let id = node_id_from_uuid(&a);
        let err = check_node_id_collision(&a, &b).unwrap_err();
        assert_eq!(err.node_id, id);
        assert!(err.to_string().contains("delete /etc/mxfs/node.uuid"));
        assert_eq!(check_node_id_collision(&a, &a), Ok(()));
        assert_eq!(check_node_id_collision(&a, &[2; 16]), Ok(()));
    }
}
