//! Feeding inputs to a node and executing its outputs against the simulated world.

use std::collections::VecDeque;

use super::client::ClientState;
use super::{Ev, Sim};
use crate::dlm::PeerError;
use crate::messages::Body;
use crate::node::{Input, Output};

impl Sim<'_> {
    /// Feeds one input to node `i` and executes its outputs; synchronous follow-ups (disk
    /// heartbeat results) are fed back before returning.
    pub(super) fn feed(&mut self, i: usize, input: Input) {
        let mut work = VecDeque::from([input]);
        let mut went_down = false;
        while let Some(inp) = work.pop_front() {
            if self.cfg.trace && (self.cfg.trace_all || traced_input(&inp)) {
                let id = self.nodes[i].id;
                self.log(|| format!("{id:?} <- {inp:?}"));
            }
            let now = self.now;
            let mut out = Vec::new();
            let Some(node) = self.nodes[i].node.as_mut() else {
                break;
            };
            if let Err(e) = node.handle(now, inp, &mut out) {
                self.fail(format!("local lock API misused by the client model: {e:?}"));
            }
            for o in out {
                self.exec(i, o, &mut work, &mut went_down);
            }
        }
        if went_down {
            self.node_down(i, "self-fenced");
        }
    }

    pub(super) fn exec(
        &mut self,
        i: usize,
        o: Output,
        work: &mut VecDeque<Input>,
        went_down: &mut bool,
    ) {
        let id = self.nodes[i].id;
        let inc = self.nodes[i].inc;
        if self.cfg.trace && (self.cfg.trace_all || traced_output(&o)) {
            self.log(|| format!("{id:?} -> {o:?}"));
        }
        match o {
            Output::Send(p) => {
                let Some(to) = self.idx(p.to) else { return };
                self.stats.packets += 1;
                let mut delays = std::mem::take(&mut self.delays);
                self.net.deliveries(i, to, &mut self.rng, &mut delays);
                // Usually one delivery (or none): move the packet, clone only for a duplicate.
                let mut p = Some(p);
                for (k, d) in delays.iter().enumerate() {
                    let pk = if k + 1 == delays.len() {
                        p.take()
                    } else {
                        p.clone()
                    };
                    if let Some(pk) = pk {
                        self.at(self.now + d, Ev::Deliver(Box::new(pk)));
                    }
                }
                self.delays = delays;
            }
            Output::WriteDiskHeartbeat(slot) => {
                let ok = self.disk.write(i, slot);
                work.push_back(Input::DiskWritten {
                    counter: slot.counter,
                    ok,
                });
                if ok {
                    for (j, s) in self.disk.slots() {
                        if j != i {
                            work.push_back(Input::DiskObserved {
                                node: self.nodes[j].id,
                                slot: s,
                            });
                        }
                    }
                }
            }
            Output::Preempt { victim } => self.after(2, 30, Ev::Preempt { by: i, inc, victim }),
            Output::PurgeDiskLocks { victim } => {
                self.after(1, 10, Ev::DiskPurge { by: i, inc, victim })
            }
            Output::OwnerTakeover { .. } => {
                self.stats.takeovers += 1;
                self.owner = Some(id);
                self.announce_owner(id);
            }
            Output::NewView(v) => {
                self.stats.views += 1;
                if self.owner.is_none() {
                    self.owner = Some(v.id.coordinator);
                    self.announce_owner(v.id.coordinator);
                }
            }
            Output::SelfFence(_) => {
                self.stats.self_fences += 1;
                *went_down = true;
            }
            Output::Grant { req, res, mode } => {
                self.stats.grants += 1;
                if !self.disk.is_registered(i) {
                    self.fail(format!("grant to fenced node {id:?}: {res:?} {mode}"));
                }
                let Some(r) = self.res_idx(&res) else {
                    self.fail(format!("grant for unknown resource {res:?}"));
                    return;
                };
                let c = &mut self.clients[i][r];
                match c.state {
                    ClientState::Waiting {
                        req: w, mode: want, ..
                    } if w == req => {
                        if !mode.covers(want) {
                            self.fail(format!(
                                "{id:?} granted {mode} for a {want} request on {res:?}"
                            ));
                            return;
                        }
                        c.held = Some(mode);
                        c.state = ClientState::Using;
                        self.after(5, 150, Ev::Unlock(i, inc, r));
                    }
                    other => self.fail(format!(
                        "{id:?} unexpected grant {req} on {res:?} in state {other:?}"
                    )),
                }
            }
            Output::Bast { res, blocking } => {
                if let Some(r) = self.res_idx(&res) {
                    self.clients[i][r].bast = Some(blocking);
                    if self.clients[i][r].state != ClientState::Using {
                        self.after(1, 30, Ev::Honour(i, inc, r));
                    }
                }
            }
            Output::Fail { req, res, .. } => {
                self.stats.failed_requests += 1;
                if let Some(r) = self.res_idx(&res) {
                    if matches!(self.clients[i][r].state, ClientState::Waiting { req: w, .. } if w == req)
                    {
                        self.clients[i][r].state = ClientState::Idle;
                    }
                }
            }
            Output::Lost { res } => {
                if let Some(r) = self.res_idx(&res) {
                    self.clients[i][r].held = None;
                    self.clients[i][r].bast = None;
                }
            }
            // Only a conflict between two unfenced nodes matters: a fenced node's locks are void.
            Output::PeerError {
                error: PeerError::RecoveryConflict { res, a, b },
                ..
            } if [a, b]
                .iter()
                .all(|n| self.idx(*n).is_some_and(|k| self.disk.is_registered(k))) =>
            {
                self.fail(format!(
                    "recovery at {id:?} found incompatible grants on {res:?}: {a:?} and {b:?}"
                ));
            }
            Output::PeerError { .. }
            | Output::Lease { .. }
            | Output::TransportError { .. }
            | Output::DeclareDead(_)
            | Output::RecoveryDone(_) => {}
        }
    }
}

fn traced_input(i: &Input) -> bool {
    match i {
        Input::Tick
        | Input::DiskWritten { .. }
        | Input::DiskObserved { .. }
        | Input::PeerDiscovered(_) => false,
        Input::Packet(p) => match &p.body {
            Body::Heartbeat(_) => false,
            Body::Dlm(f) => f.msg.is_some(),
        },
        _ => true,
    }
}

fn traced_output(o: &Output) -> bool {
    !matches!(
        o,
        Output::Send(_)
            | Output::WriteDiskHeartbeat(_)
            | Output::TransportError { .. }
            | Output::Lease { .. }
    )
}
