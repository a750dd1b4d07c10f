//! Node identities, cluster views and resource mastering.

use std::fmt;
use std::sync::Arc;

/// A node's cluster id: FNV-1a of its `/etc/mxfs/node.uuid` (computed by the daemon). Ids are
/// totally ordered; the order breaks partition ties and picks the view coordinator.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{:04x}", self.0 & 0xffff)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A lock resource name: opaque bytes (the kernel uses the XFS file handle of the inode plus a
/// lock-kind tag). Shared, because it rides in many messages and queue entries.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResName(pub Arc<[u8]>);

impl ResName {
    pub fn new(bytes: &[u8]) -> ResName {
        ResName(Arc::from(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ResName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) => write!(f, "{s}"),
            _ => {
                for b in self.0.iter() {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// 64-bit FNV-1a, the hash the design fixes for node ids and resource mastering.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One incarnation of a node: a restarted daemon is a new member even with the same node id,
/// so stale messages and stale heartbeat slots of the old process are never mistaken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    pub node: NodeId,
    pub incarnation: u64,
}

/// Identifies a view uniquely: a coordinator only ever proposes increasing epochs, and the
/// coordinator's incarnation separates a restarted coordinator from its previous life. Views
/// are ordered by epoch first, so every node adopts the newest one it hears of.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ViewId {
    pub epoch: u64,
    pub coordinator: NodeId,
    pub coordinator_incarnation: u64,
}

impl fmt::Debug for ViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "e{}@{:?}.{}",
            self.epoch, self.coordinator, self.coordinator_incarnation
        )
    }
}

/// An agreed cluster view: the members (sorted by node id, one incarnation each) that run the
/// DLM together in one epoch.
#[derive(Clone, PartialEq, Eq)]
pub struct View {
    pub id: ViewId,
    members: Vec<Member>,
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}{:?}", self.id, self.nodes().collect::<Vec<_>>())
    }
}

impl View {
    /// Builds a view; members are sorted and deduplicated by node id (first incarnation wins).
    pub fn new(id: ViewId, mut members: Vec<Member>) -> View {
        members.sort();
        members.dedup_by_key(|m| m.node);
        View { id, members }
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members.iter().map(|m| m.node)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn contains(&self, node: NodeId) -> bool {
        self.members.binary_search_by_key(&node, |m| m.node).is_ok()
    }

    pub fn contains_member(&self, m: Member) -> bool {
        self.member(m.node) == Some(m)
    }

    pub fn member(&self, node: NodeId) -> Option<Member> {
        self.members
            .binary_search_by_key(&node, |m| m.node)
            .ok()
            .map(|i| self.members[i])
    }

    /// The master of a resource in this view: FNV-1a of the name modulo the sorted live member
    /// list. Every member computes the same answer from the same view, with no messages.
    pub fn master_of(&self, res: &ResName) -> Option<NodeId> {
        master_of(&self.members, res)
    }
}

/// Mastering over an arbitrary sorted member list; `None` only for an empty list.
pub fn master_of(sorted: &[Member], res: &ResName) -> Option<NodeId> {
    if sorted.is_empty() {
        return None;
    }
    let i = fnv1a64(res.as_bytes()) % sorted.len() as u64;
    Some(sorted[i as usize].node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(n: u64) -> Member {
        Member {
            node: NodeId(n),
            incarnation: 1,
        }
    }

    #[test]
    fn fnv_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn mastering_is_order_independent_and_total() {
        let id = ViewId {
            epoch: 1,
            coordinator: NodeId(1),
            coordinator_incarnation: 1,
        };
        let a = View::new(id, vec![m(30), m(10), m(20)]);
        let b = View::new(id, vec![m(20), m(30), m(10)]);
        for i in 0..100u32 {
            let r = ResName::new(&i.to_le_bytes());
            assert_eq!(a.master_of(&r), b.master_of(&r));
            assert!(a.contains(a.master_of(&r).unwrap()));
        }
        let empty = View::new(id, vec![]);
        assert_eq!(empty.master_of(&ResName::new(b"x")), None);
    }

    #[test]
    fn view_ids_order_by_epoch_first() {
        let a = ViewId {
            epoch: 2,
            coordinator: NodeId(9),
            coordinator_incarnation: 9,
        };
        let b = ViewId {
            epoch: 3,
            coordinator: NodeId(1),
            coordinator_incarnation: 1,
        };
        assert!(a < b);
    }
}
