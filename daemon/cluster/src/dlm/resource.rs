//! Master-side state of one resource: the grant, convert and wait queues.
//!
//! Rules, in the order they are applied by [`Resource::process`]:
//! 1. Conversions (requests from nodes that already hold the resource) go first, strictly FIFO:
//!    a blocked head conversion stops the others, so no conversion starves.
//! 2. New requests are considered only when no conversion is queued, also strictly FIFO: a
//!    compatible newcomer never overtakes a blocked earlier one.
//! 3. The head that is blocked gets a blocking callback (BAST) sent to every holder whose
//!    granted mode conflicts with it, once per (holder, mode) until the holder's mode changes.
//!    A holder that itself waits to convert still receives BASTs; releasing while waiting is what
//!    breaks the classic two-readers-upgrade deadlock.

use std::collections::VecDeque;

use crate::messages::ReportEntry;
use crate::mode::Mode;
use crate::view::NodeId;

use super::PeerError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub node: NodeId,
    pub mode: Mode,
    /// Sequence number of the request this grant answered; down-converts must name it.
    pub seq: u64,
    bast_sent: Option<Mode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub node: NodeId,
    pub mode: Mode,
    pub seq: u64,
}

/// What processing a resource asks the master to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterOut {
    Grant { node: NodeId, mode: Mode, seq: u64 },
    Bast { node: NodeId, blocking: Mode },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    granted: Vec<Granted>,
    converting: VecDeque<Pending>,
    waiting: VecDeque<Pending>,
}

impl Resource {
    pub fn granted(&self) -> &[Granted] {
        &self.granted
    }

    pub fn converting(&self) -> impl Iterator<Item = &Pending> {
        self.converting.iter()
    }

    pub fn waiting(&self) -> impl Iterator<Item = &Pending> {
        self.waiting.iter()
    }

    /// Nothing granted or queued: the master may forget the resource.
    pub fn is_idle(&self) -> bool {
        self.granted.is_empty() && self.converting.is_empty() && self.waiting.is_empty()
    }

    fn granted_idx(&self, node: NodeId) -> Option<usize> {
        self.granted.iter().position(|g| g.node == node)
    }

    fn remove_pending(&mut self, node: NodeId) {
        self.converting.retain(|p| p.node != node);
        self.waiting.retain(|p| p.node != node);
    }

    /// Queues a request for an absolute `mode`. A node has at most one outstanding request;
    /// a newer one replaces it (at the back: it is a new request).
    pub fn request(&mut self, node: NodeId, mode: Mode, seq: u64) {
        self.remove_pending(node);
        let p = Pending { node, mode, seq };
        if self.granted_idx(node).is_some() {
            self.converting.push_back(p);
        } else {
            self.waiting.push_back(p);
        }
    }

    /// Applies a holder's down-convert (None = release). Returns false for a stale one: it
    /// names an older grant than the master has, because a newer grant crossed it on the wire
    /// and the holder will adopt that grant.
    pub fn down_convert(
        &mut self,
        node: NodeId,
        mode: Option<Mode>,
        base: u64,
    ) -> Result<bool, PeerError> {
        let Some(i) = self.granted_idx(node) else {
            return Ok(false);
        };
        if self.granted[i].seq != base {
            return Ok(false);
        }
        match mode {
            None => {
                self.granted.remove(i);
            }
            Some(m) if self.granted[i].mode.covers(m) => {
                self.granted[i].mode = m;
                self.granted[i].bast_sent = None;
            }
            Some(_) => return Err(PeerError::NotADownConvert),
        }
        Ok(true)
    }

    /// Drops everything a (fenced) node holds or waits for.
    pub fn purge(&mut self, node: NodeId) {
        self.granted.retain(|g| g.node != node);
        self.remove_pending(node);
    }

    fn grantable(&self, p: &Pending, ignore_compat: bool) -> bool {
        ignore_compat
            || self
                .granted
                .iter()
                .filter(|g| g.node != p.node)
                .all(|g| g.mode.compatible(p.mode))
    }

    fn grant(&mut self, p: Pending, out: &mut Vec<MasterOut>) {
        match self.granted_idx(p.node) {
            Some(i) => {
                let g = &mut self.granted[i];
                g.mode = p.mode;
                g.seq = p.seq;
                g.bast_sent = None;
            }
            None => self.granted.push(Granted {
                node: p.node,
                mode: p.mode,
                seq: p.seq,
                bast_sent: None,
            }),
        }
        out.push(MasterOut::Grant {
            node: p.node,
            mode: p.mode,
            seq: p.seq,
        });
    }

    /// Grants whatever the queue rules allow and sends the BASTs the blocked head needs.
    /// `ignore_compat` exists only so tests can prove the simulator catches a broken master.
    pub fn process(&mut self, ignore_compat: bool, out: &mut Vec<MasterOut>) {
        while let Some(head) = self.converting.front() {
            if !self.grantable(head, ignore_compat) {
                break;
            }
            let p = self.converting.pop_front().expect("front exists");
            self.grant(p, out);
        }
        if self.converting.is_empty() {
            while let Some(head) = self.waiting.front() {
                if !self.grantable(head, ignore_compat) {
                    break;
                }
                let p = self.waiting.pop_front().expect("front exists");
                self.grant(p, out);
            }
        }
        let blocked = match self.converting.front() {
            Some(p) => Some(p.clone()),
            None => self.waiting.front().cloned(),
        };
        if let Some(b) = blocked {
            for g in self.granted.iter_mut() {
                if g.node != b.node && !g.mode.compatible(b.mode) && g.bast_sent != Some(b.mode) {
                    g.bast_sent = Some(b.mode);
                    out.push(MasterOut::Bast {
                        node: g.node,
                        blocking: b.mode,
                    });
                }
            }
        }
    }

    /// Rebuilds a resource from the holders' recovery reports (sorted by node id so every run
    /// rebuilds the same queues). Returns the conflicting pair if the reports claim two
    /// incompatible grants, which would mean the previous epoch was already broken.
    pub fn rebuild(
        mut entries: Vec<(NodeId, ReportEntry)>,
    ) -> (Resource, Option<(NodeId, NodeId)>) {
        entries.sort_by_key(|(n, _)| *n);
        entries.dedup_by_key(|(n, _)| *n);
        let mut r = Resource::default();
        for (node, e) in &entries {
            if let Some((mode, seq)) = e.held {
                r.granted.push(Granted {
                    node: *node,
                    mode,
                    seq,
                    bast_sent: None,
                });
            }
        }
        for (node, e) in &entries {
            if let Some((mode, seq)) = e.pending {
                let p = Pending {
                    node: *node,
                    mode,
                    seq,
                };
                if e.held.is_some() {
                    r.converting.push_back(p);
                } else {
                    r.waiting.push_back(p);
                }
            }
        }
        let mut conflict = None;
        for (i, a) in r.granted.iter().enumerate() {
            for b in &r.granted[i + 1..] {
                if !a.mode.compatible(b.mode) && conflict.is_none() {
                    conflict = Some((a.node, b.node));
                }
            }
        }
        (r, conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode::*;
    use crate::view::ResName;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);
    const C: NodeId = NodeId(3);

    fn run(r: &mut Resource) -> Vec<MasterOut> {
        let mut out = Vec::new();
        r.process(false, &mut out);
        out
    }

    fn grant(node: NodeId, mode: Mode, seq: u64) -> MasterOut {
        MasterOut::Grant { node, mode, seq }
    }

    fn bast(node: NodeId, blocking: Mode) -> MasterOut {
        MasterOut::Bast { node, blocking }
    }

    #[test]
    fn compatible_requests_share_incompatible_wait_with_bast() {
        let mut r = Resource::default();
        r.request(A, PR, 1);
        r.request(B, PR, 1);
        assert_eq!(run(&mut r), vec![grant(A, PR, 1), grant(B, PR, 1)]);
        r.request(C, EX, 1);
        assert_eq!(run(&mut r), vec![bast(A, EX), bast(B, EX)]);
        // No duplicate BASTs while nothing changed.
        assert_eq!(run(&mut r), vec![]);
        assert!(r.down_convert(A, None, 1).unwrap());
        assert_eq!(run(&mut r), vec![]);
        assert!(r.down_convert(B, Some(NL), 1).unwrap());
        assert_eq!(run(&mut r), vec![grant(C, EX, 1)]);
    }

    #[test]
    fn waiters_are_fifo_no_overtaking() {
        let mut r = Resource::default();
        r.request(A, EX, 1);
        run(&mut r);
        r.request(B, EX, 1);
        r.request(C, CR, 1); // conflicts with EX too; stays behind B
        assert_eq!(run(&mut r), vec![bast(A, EX)]);
        r.down_convert(A, None, 1).unwrap();
        assert_eq!(run(&mut r), vec![grant(B, EX, 1), bast(B, CR)]);
    }

    #[test]
    fn conversions_go_before_new_requests() {
        let mut r = Resource::default();
        r.request(A, PR, 1);
        r.request(B, PR, 1);
        run(&mut r);
        r.request(C, PR, 1); // compatible, but queued behind nothing: granted at once
        assert_eq!(run(&mut r), vec![grant(C, PR, 1)]);
        r.request(A, EX, 2); // conversion, blocked by B and C
        r.request(NodeId(4), CR, 1); // new request, compatible with all granted, must wait
        let out = run(&mut r);
        assert_eq!(out, vec![bast(B, EX), bast(C, EX)]);
        r.down_convert(B, None, 1).unwrap();
        r.down_convert(C, None, 1).unwrap();
        assert_eq!(run(&mut r), vec![grant(A, EX, 2), bast(A, CR)]);
    }

    #[test]
    fn upgrade_deadlock_breaks_when_a_waiting_holder_releases() {
        let mut r = Resource::default();
        r.request(A, PR, 1);
        r.request(B, PR, 1);
        run(&mut r);
        r.request(A, EX, 2);
        r.request(B, EX, 2);
        // Only the head's blockers are called back.
        assert_eq!(run(&mut r), vec![bast(B, EX)]);
        // B, itself waiting, drops to NL and keeps its place in the convert queue.
        r.down_convert(B, Some(NL), 1).unwrap();
        // A gets EX; B's NL->EX is now the blocked head, so A is asked to yield in turn.
        assert_eq!(run(&mut r), vec![grant(A, EX, 2), bast(A, EX)]);
        assert_eq!(r.converting().count(), 1);
        r.down_convert(A, None, 2).unwrap();
        assert_eq!(run(&mut r), vec![grant(B, EX, 2)]);
    }

    #[test]
    fn stale_down_convert_is_ignored_and_upgrades_are_refused() {
        let mut r = Resource::default();
        r.request(A, PR, 1);
        run(&mut r);
        r.request(A, EX, 2);
        run(&mut r);
        // A's "release PR" was sent before it saw the EX grant: it must not drop the EX.
        assert!(!r.down_convert(A, None, 1).unwrap());
        assert_eq!(r.granted()[0].mode, EX);
        assert_eq!(r.down_convert(A, Some(EX), 2), Ok(true));
        r.down_convert(A, Some(PR), 2).unwrap();
        assert_eq!(
            r.down_convert(A, Some(EX), 2),
            Err(PeerError::NotADownConvert)
        );
    }

    #[test]
    fn purge_promotes_waiters() {
        let mut r = Resource::default();
        r.request(A, EX, 1);
        run(&mut r);
        r.request(B, PR, 1);
        run(&mut r);
        r.purge(A);
        assert_eq!(run(&mut r), vec![grant(B, PR, 1)]);
    }

    #[test]
    fn rebuild_from_reports() {
        let e = |held, pending| ReportEntry {
            res: ResName::new(b"r"),
            held,
            pending,
        };
        let (r, conflict) = Resource::rebuild(vec![
            (C, e(None, Some((EX, 7)))),
            (A, e(Some((PR, 3)), Some((EX, 4)))),
            (B, e(Some((PR, 5)), None)),
        ]);
        assert_eq!(conflict, None);
        assert_eq!(
            r.granted()
                .iter()
                .map(|g| (g.node, g.mode))
                .collect::<Vec<_>>(),
            vec![(A, PR), (B, PR)]
        );
        assert_eq!(r.converting().map(|p| p.node).collect::<Vec<_>>(), vec![A]);
        assert_eq!(r.waiting().map(|p| p.node).collect::<Vec<_>>(), vec![C]);
        let (_, conflict) = Resource::rebuild(vec![
            (A, e(Some((EX, 1)), None)),
            (B, e(Some((PR, 1)), None)),
        ]);
        assert_eq!(conflict, Some((A, B)));
    }
}
