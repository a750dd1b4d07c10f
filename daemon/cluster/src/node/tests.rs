//! Hostile input: random heartbeats, frames and DLM messages must never panic a node.

use super::*;
use crate::dlm::DlmNode;
use crate::messages::{DlmMsg, Echo, Frame, Heartbeat, RefuseReason, ReportEntry};
use crate::sim::rng::Rng;
use crate::view::Member;

fn pick<T: Copy>(rng: &mut Rng, xs: &[T]) -> T {
    xs[rng.index(xs.len())]
}

fn num(rng: &mut Rng) -> u64 {
    let r = rng.next_u64();
    pick(rng, &[0, 1, 2, 3, u64::MAX, u64::MAX - 1, r])
}

fn mode(rng: &mut Rng) -> Mode {
    Mode::ALL[rng.index(6)]
}

fn res(rng: &mut Rng) -> ResName {
    ResName::new(pick(rng, &[&b"a"[..], b"b", b"", &[0xff; 40]]))
}

fn view(rng: &mut Rng, nodes: &[NodeId]) -> Arc<View> {
    let members = (0..rng.index(4))
        .map(|_| Member {
            node: pick(rng, nodes),
            incarnation: num(rng),
        })
        .collect();
    let id = ViewId {
        epoch: num(rng),
        coordinator: pick(rng, nodes),
        coordinator_incarnation: num(rng),
    };
    Arc::new(View::new(id, members))
}

fn msg(rng: &mut Rng) -> DlmMsg {
    let opt = |rng: &mut Rng| {
        if rng.chance(0.5) {
            Some((mode(rng), num(rng)))
        } else {
            None
        }
    };
    match rng.below(6) {
        0 => DlmMsg::Report {
            entries: (0..rng.index(3))
                .map(|_| ReportEntry {
                    res: res(rng),
                    held: opt(rng),
                    pending: opt(rng),
                })
                .collect(),
        },
        1 => DlmMsg::Request {
            res: res(rng),
            mode: mode(rng),
            seq: num(rng),
        },
        2 => DlmMsg::Grant {
            res: res(rng),
            mode: mode(rng),
            seq: num(rng),
        },
        3 => DlmMsg::Bast {
            res: res(rng),
            blocking: mode(rng),
        },
        4 => {
            let m = if rng.chance(0.5) {
                Some(mode(rng))
            } else {
                None
            };
            DlmMsg::DownConvert {
                res: res(rng),
                mode: m,
                base: num(rng),
            }
        }
        _ => DlmMsg::Refuse {
            res: res(rng),
            seq: num(rng),
            reason: RefuseReason::NotMaster,
        },
    }
}

#[test]
fn random_packets_never_panic_a_node() {
    let me = NodeId(1);
    let nodes = [NodeId(1), NodeId(2), NodeId(3)];
    let mut rng = Rng::new(7);
    let mut node = ClusterNode::new(Timing::simulation(), me, 1, 0);
    let mut out = Vec::new();
    for p in &nodes[1..] {
        node.handle(0, Input::PeerDiscovered(*p), &mut out).unwrap();
    }
    let mut restarts = 0;
    for step in 0..20_000u64 {
        let now = step * 3;
        let from = pick(&mut rng, &nodes);
        let body = if rng.chance(0.5) {
            let echo = rng.chance(0.5).then(|| Echo {
                incarnation: num(&mut rng),
                seq: num(&mut rng),
            });
            let v = rng.chance(0.7).then(|| view(&mut rng, &nodes));
            Body::Heartbeat(Heartbeat {
                incarnation: num(&mut rng),
                seq: num(&mut rng),
                echo,
                view: v,
            })
        } else {
            let v = match node.membership().view() {
                Some(v) if rng.chance(0.8) => v.id,
                _ => view(&mut rng, &nodes).id,
            };
            let m = rng.chance(0.8).then(|| msg(&mut rng));
            Body::Dlm(Frame {
                view: v,
                seq: num(&mut rng),
                ack: num(&mut rng),
                msg: m,
            })
        };
        out.clear();
        node.handle(now, Input::Packet(Packet { from, to: me, body }), &mut out)
            .unwrap();
        if step % 10 == 0 {
            node.handle(now, Input::Tick, &mut out).unwrap();
            node.handle(
                now,
                Input::DiskWritten {
                    counter: step,
                    ok: true,
                },
                &mut out,
            )
            .unwrap();
        }
        if node.is_stopped() {
            // Hostile views make it self-fence often; start again so every layer stays busy.
            restarts += 1;
            node = ClusterNode::new(Timing::simulation(), me, 1 + restarts, now);
            for p in &nodes[1..] {
                node.handle(now, Input::PeerDiscovered(*p), &mut out)
                    .unwrap();
            }
        }
    }
    assert!(restarts > 0, "hostile views must be able to stop a node");
}

#[test]
fn random_dlm_messages_from_members_never_panic() {
    let nodes = [NodeId(1), NodeId(2), NodeId(3)];
    let mut rng = Rng::new(11);
    let mut dlm = DlmNode::new(NodeId(1));
    let mut out = Vec::new();
    let id = ViewId {
        epoch: 1,
        coordinator: NodeId(1),
        coordinator_incarnation: 1,
    };
    let v = Arc::new(View::new(
        id,
        nodes
            .iter()
            .map(|n| Member {
                node: *n,
                incarnation: 1,
            })
            .collect(),
    ));
    dlm.handle(0, DlmInput::Lease { until: u64::MAX }, &mut out)
        .unwrap();
    dlm.handle(0, DlmInput::ViewChanged(v.clone()), &mut out)
        .unwrap();
    for step in 0..20_000u64 {
        let input = match rng.below(20) {
            0 => DlmInput::ViewChanged(v.clone()),
            1 => DlmInput::NodeFenced(pick(&mut rng, &nodes)),
            2 => DlmInput::Lock {
                req: step,
                res: res(&mut rng),
                mode: mode(&mut rng),
            },
            _ => DlmInput::Message {
                from: pick(&mut rng, &nodes),
                msg: msg(&mut rng),
            },
        };
        // Local misuse errors are fine; panics are not.
        let _ = dlm.handle(step, input, &mut out);
        out.clear();
    }
}
