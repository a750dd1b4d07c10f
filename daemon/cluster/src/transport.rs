//! Reliable, ordered, per-view delivery of DLM messages over a network that loses, delays,
//! duplicates and reorders packets (and over TCP connections that break and reconnect).
//!
//! Each pair of members has one channel per view. Frames carry the view id; a frame of another
//! view is dropped, so nothing sent in an old epoch can act in a new one: recovery rebuilds
//! lock state from reports instead. Within a view a channel retransmits unacknowledged frames
//! until the peer acknowledges them or the view changes.

use std::collections::{BTreeMap, VecDeque};

use crate::messages::{Body, DlmMsg, Frame, Packet};
use crate::view::{NodeId, View, ViewId};
use crate::Time;

/// Frames further ahead than this are dropped (and retransmitted later), bounding the buffer.
const MAX_AHEAD: u64 = 4096;
/// At most this many retransmissions per channel per poll, so a long outage heals gently.
const MAX_RESEND_PER_POLL: usize = 64;

#[derive(Debug)]
struct Unacked {
    seq: u64,
    msg: DlmMsg,
    sent_at: Time,
}

#[derive(Debug, Default)]
struct Channel {
    next_seq: u64,
    unacked: VecDeque<Unacked>,
    recv_next: u64,
    ahead: BTreeMap<u64, DlmMsg>,
}

impl Channel {
    fn new() -> Channel {
        Channel {
            next_seq: 1,
            recv_next: 1,
            ..Default::default()
        }
    }
}

/// Why a frame was not accepted. Not fatal: reported for logging and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// Frame of a view other than the installed one (old, or not installed here yet).
    OtherView(ViewId),
    /// Sender is not a member of the installed view.
    NotMember(NodeId),
    /// Data frame without a message.
    Malformed,
}

/// All channels of this node for the installed view.
#[derive(Debug)]
pub struct Transport {
    me: NodeId,
    view: Option<ViewId>,
    channels: BTreeMap<NodeId, Channel>,
    rto: Time,
}

impl Transport {
    pub fn new(me: NodeId, rto: Time) -> Transport {
        Transport {
            me,
            view: None,
            channels: BTreeMap::new(),
            rto,
        }
    }

    /// Fresh channels for a new view; everything queued for the old view is discarded.
    pub fn reset(&mut self, view: &View) {
        self.view = Some(view.id);
        self.channels.clear();
        for n in view.nodes().filter(|n| *n != self.me) {
            self.channels.insert(n, Channel::new());
        }
    }

    pub fn clear(&mut self) {
        self.view = None;
        self.channels.clear();
    }

    /// Queues `msg` for `to` and transmits it once; retransmitted by [`Transport::poll`].
    /// Returns false if `to` is not a member of the installed view.
    pub fn send(&mut self, to: NodeId, msg: DlmMsg, now: Time, out: &mut Vec<Packet>) -> bool {
        let (Some(view), Some(ch)) = (self.view, self.channels.get_mut(&to)) else {
            return false;
        };
        let seq = ch.next_seq;
        ch.next_seq += 1;
        let frame = Frame {
            view,
            seq,
            ack: ch.recv_next - 1,
            msg: Some(msg.clone()),
        };
        ch.unacked.push_back(Unacked {
            seq,
            msg,
            sent_at: now,
        });
        out.push(Packet {
            from: self.me,
            to,
            body: Body::Dlm(frame),
        });
        true
    }

    /// Accepts a frame; messages now deliverable in order are appended to `delivered`, and an
    /// acknowledgement is queued in `out` for data frames.
    pub fn receive(
        &mut self,
        from: NodeId,
        frame: Frame,
        out: &mut Vec<Packet>,
        delivered: &mut Vec<(NodeId, DlmMsg)>,
    ) -> Result<(), TransportError> {
        let Some(view) = self.view else {
            return Err(TransportError::OtherView(frame.view));
        };
        if frame.view != view {
            return Err(TransportError::OtherView(frame.view));
        }
        let Some(ch) = self.channels.get_mut(&from) else {
            return Err(TransportError::NotMember(from));
        };
        // Acks beyond what we sent are ignored rather than trusted.
        if frame.ack < ch.next_seq {
            while ch.unacked.front().is_some_and(|u| u.seq <= frame.ack) {
                ch.unacked.pop_front();
            }
        }
        if frame.seq == 0 {
            return if frame.msg.is_none() {
                Ok(())
            } else {
                Err(TransportError::Malformed)
            };
        }
        let Some(msg) = frame.msg else {
            return Err(TransportError::Malformed);
        };
        if frame.seq == ch.recv_next {
            delivered.push((from, msg));
            ch.recv_next += 1;
            while let Some(m) = ch.ahead.remove(&ch.recv_next) {
                delivered.push((from, m));
                ch.recv_next += 1;
            }
        } else if frame.seq > ch.recv_next && frame.seq - ch.recv_next <= MAX_AHEAD {
            ch.ahead.insert(frame.seq, msg);
        }
        // Duplicates and out-of-order frames are acknowledged too, so the sender stops resending.
        let ack = Frame {
            view,
            seq: 0,
            ack: ch.recv_next - 1,
            msg: None,
        };
        out.push(Packet {
            from: self.me,
            to: from,
            body: Body::Dlm(ack),
        });
        Ok(())
    }

    /// Retransmits frames unacknowledged for longer than the retransmission timeout.
    pub fn poll(&mut self, now: Time, out: &mut Vec<Packet>) {
        let Some(view) = self.view else { return };
        for (to, ch) in self.channels.iter_mut() {
            let ack = ch.recv_next - 1;
            for u in ch.unacked.iter_mut().take(MAX_RESEND_PER_POLL) {
                if u.sent_at + self.rto <= now {
                    u.sent_at = now;
                    let frame = Frame {
                        view,
                        seq: u.seq,
                        ack,
                        msg: Some(u.msg.clone()),
                    };
                    out.push(Packet {
                        from: self.me,
                        to: *to,
                        body: Body::Dlm(frame),
                    });
                }
            }
        }
    }

    /// Messages sent but not yet acknowledged, over all channels (for status and tests).
    pub fn unacked(&self) -> usize {
        self.channels.values().map(|c| c.unacked.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Member, ResName};

    fn view() -> View {
        let id = ViewId {
            epoch: 1,
            coordinator: NodeId(1),
            coordinator_incarnation: 1,
        };
        View::new(
            id,
            vec![
                Member {
                    node: NodeId(1),
                    incarnation: 1,
                },
                Member {
                    node: NodeId(2),
                    incarnation: 1,
                },
            ],
        )
    }

    fn bast(i: u8) -> DlmMsg {
        DlmMsg::Bast {
            res: ResName::new(&[i]),
            blocking: crate::Mode::EX,
        }
    }

    fn frame(p: Packet) -> Frame {
        match p.body {
            Body::Dlm(f) => f,
            Body::Heartbeat(_) => panic!("not a frame"),
        }
    }

    #[test]
    fn reorder_loss_and_duplicates_deliver_once_in_order() {
        let v = view();
        let mut a = Transport::new(NodeId(1), 10);
        let mut b = Transport::new(NodeId(2), 10);
        a.reset(&v);
        b.reset(&v);
        let mut wire = Vec::new();
        for i in 0..3 {
            assert!(a.send(NodeId(2), bast(i), 0, &mut wire));
        }
        let frames: Vec<Frame> = wire.drain(..).map(frame).collect();
        let mut got = Vec::new();
        let mut acks = Vec::new();
        // Frame 1 is lost; 3 arrives before 2, and 3 twice.
        b.receive(NodeId(1), frames[2].clone(), &mut acks, &mut got)
            .unwrap();
        b.receive(NodeId(1), frames[2].clone(), &mut acks, &mut got)
            .unwrap();
        b.receive(NodeId(1), frames[1].clone(), &mut acks, &mut got)
            .unwrap();
        assert!(got.is_empty());
        // Retransmission brings frame 1 and releases everything in order.
        a.poll(10, &mut wire);
        let resent: Vec<Frame> = wire.drain(..).map(frame).collect();
        assert_eq!(resent.len(), 3);
        b.receive(NodeId(1), resent[0].clone(), &mut acks, &mut got)
            .unwrap();
        let order: Vec<DlmMsg> = got.into_iter().map(|(_, m)| m).collect();
        assert_eq!(order, vec![bast(0), bast(1), bast(2)]);
        // The last ack covers all three, and nothing is resent afterwards.
        let last = frame(acks.pop().unwrap());
        assert_eq!(last.ack, 3);
        let mut none = Vec::new();
        a.receive(NodeId(2), last, &mut none, &mut Vec::new())
            .unwrap();
        a.poll(100, &mut wire);
        assert!(wire.is_empty());
        assert_eq!(a.unacked(), 0);
    }

    #[test]
    fn frames_of_other_views_and_strangers_are_refused() {
        let v = view();
        let mut b = Transport::new(NodeId(2), 10);
        b.reset(&v);
        let mut other = v.id;
        other.epoch = 2;
        let f = Frame {
            view: other,
            seq: 1,
            ack: 0,
            msg: Some(bast(0)),
        };
        let (mut o, mut d) = (Vec::new(), Vec::new());
        assert_eq!(
            b.receive(NodeId(1), f, &mut o, &mut d),
            Err(TransportError::OtherView(other))
        );
        let f = Frame {
            view: v.id,
            seq: 1,
            ack: 0,
            msg: Some(bast(0)),
        };
        assert_eq!(
            b.receive(NodeId(9), f, &mut o, &mut d),
            Err(TransportError::NotMember(NodeId(9)))
        );
        let f = Frame {
            view: v.id,
            seq: 1,
            ack: 0,
            msg: None,
        };
        assert_eq!(
            b.receive(NodeId(1), f, &mut o, &mut d),
            Err(TransportError::Malformed)
        );
        assert!(d.is_empty());
    }
}
