//! The cluster core's I/O layer: node identity, the lockstate (slot claim, disk heartbeats,
//! lock records), discovery and the peer mesh, the engine that drives `mxfs_cluster`'s state
//! machines, SCSI PR fencing (`pr`), and the local control socket.
//!
//! Threads (all bounded queues): `mxfsd-engine` (the state machines), `mxfsd-disk` (lockstate
//! I/O), `mxfsd-discovery` (UDP), `mxfsd-listen` and `mxfsd-connect` (TCP), two per peer
//! connection (`mxfsd-peer` reader, `mxfsd-peer-tx` writer), `mxfsd-control` plus one per
//! control client. The main thread only waits for SIGTERM.

pub mod cache;
pub mod control;
pub mod disk;
pub mod engine;
pub mod failover;
pub mod owner;
pub mod pr;
pub mod remote;
pub mod setup;
pub mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mxfs_cluster::Timing;
use mxfs_disk::claim::Claim;
use mxfs_disk::identity::{load_or_create, NodeIdentity};
use mxfs_net::{DiscoveryConfig, Mesh, MeshConfig};
use mxfs_uapi::ident::{parse_uuid, Uuid, UuidText};

use crate::args::{parse_location, resolve_peers, Cli, Location};
use control::Control;
use disk::{DiskThread, RecordSpace};
use engine::{Engine, EngineParts, Event};

/// Frames queued per peer connection before it is dropped.
const SEND_QUEUE: usize = 4096;
/// Events queued for the engine (readers block when it is full: TCP back-pressure).
const ENGINE_QUEUE: usize = 8192;

/// A running cluster core.
pub struct Cluster {
    engine_tx: SyncSender<Event>,
    engine: Option<JoinHandle<()>>,
    control: Option<Control>,
    pub ident: NodeIdentity,
    /// With a lockstate: where it is, our slot claim, and its heartbeat interval and dead
    /// threshold (ms), for the owner election.
    pub disk: Option<DiskSide>,
    pub volume: Uuid,
}

#[derive(Clone, Debug)]
pub struct DiskSide {
    pub location: Location,
    pub claim: Claim,
    pub heartbeat_ms: u64,
    pub dead_after_ms: u64,
}

impl Cluster {
    /// Starts every subsystem the command line asks for. Without a lockstate there is no volume
    /// secret: no peer can be authenticated, so the node runs alone, without disk heartbeats.
    pub fn start(cli: &Cli) -> Result<Cluster, String> {
        let volume: Uuid = parse_uuid(&cli.uuid).ok_or("invalid --uuid")?;
        let ident = load_or_create(&cli.node_uuid_file).map_err(|e| format!("node identity: {e}"))?;
        let hostname = setup::hostname(cli.hostname.as_deref());
        log::info!("this is node {:#010x} ({}, {hostname})", ident.node_id, UuidText(&ident.uuid));

        let mut lockstate = None;
        let mut timing = Timing::production();
        let mut location = None;
        let mut joined = None;
        if let Some(l) = &cli.lockstate {
            let loc = parse_location(l)?;
            let ls = setup::open(&loc, &volume)?;
            timing = setup::cluster_timing(&ls.header().timing)?;
            // Fencing layer 1: register on the LUN before writing to it.
            joined = pr::setup(cli.device.as_deref(), ident.node_id)?;
            location = Some(loc);
            lockstate = Some(ls);
        } else {
            log::warn!(
                "no lockstate given: running without disk heartbeats; without the volume secret no peer can be \
                 authenticated, so this node runs alone"
            );
        }
        let incarnation = setup::incarnation(lockstate.as_mut(), &ident);

        let (tx, rx) = sync_channel::<Event>(ENGINE_QUEUE);
        let mut claim = None;
        let mut space = None;
        let mut disk = None;
        let mut mesh = None;
        let mut path_text = String::from("(none)");
        let mut disk_side = None;
        if let (Some(mut ls), Some(loc)) = (lockstate, location) {
            let secret = ls.header().secret;
            let unicast = resolve_peers(&cli.peers, cli.discovery_port)?;
            let cfg = MeshConfig {
                volume_uuid: volume,
                secret,
                node_uuid: ident.uuid,
                node_id: ident.node_id,
                incarnation,
                hostname,
                listen: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), cli.port),
                discovery: DiscoveryConfig {
                    port: cli.discovery_port,
                    multicast: !cli.no_multicast,
                    interfaces: cli.interfaces.clone(),
                    unicast,
                    interval: Duration::from_millis((2 * timing.heartbeat_interval).max(100)),
                },
                send_queue: SEND_QUEUE,
                handshake_timeout: Duration::from_millis((2 * timing.heartbeat_interval).clamp(500, 5000)),
            };
            let etx = tx.clone();
            let sink: mxfs_net::Sink = Arc::new(move |ev| {
                let _ = etx.send(Event::Net(ev));
            });
            let m = Mesh::start(cfg, sink).map_err(|e| format!("cannot start the peer network on port {}: {e}", cli.port))?;
            log::info!(
                "peers: TCP port {}, discovery on UDP port {}{}{}",
                m.port(),
                cli.discovery_port,
                if cli.no_multicast { "" } else { " (multicast 239.66.83.1)" },
                if cli.peers.is_empty() { String::new() } else { format!(", unicast to {}", cli.peers.join(",")) }
            );
            mesh = Some(m);
            let c = setup::claim_slot(&mut ls, &ident, hostname)?;
            log::info!(
                "lockstate {} at offset {}: heartbeat slot {} (generation {}), heartbeat every {} ms",
                loc.path.display(),
                loc.offset,
                c.slot,
                c.generation,
                ls.header().timing.heartbeat_interval_ms
            );
            space = Some(RecordSpace::for_slot(&ls, c.slot));
            claim = Some(c);
            let t = ls.header().timing;
            disk_side = Some(DiskSide {
                location: loc.clone(),
                claim: c,
                heartbeat_ms: t.heartbeat_interval_ms.into(),
                dead_after_ms: t.dead_after_ms.into(),
            });
            path_text = loc.path.display().to_string();
            let etx = tx.clone();
            disk = Some(DiskThread::start(ls, &loc, c, move |ev| {
                let _ = etx.send(Event::Disk(ev));
            })?);
        }
        if !cli.no_grant_records && disk.is_some() {
            log::info!("grants are persisted in the lockstate before they are answered");
        }
        let pr = match joined {
            Some(j) => Some(pr::Pr::start(j, tx.clone())?),
            None => None,
        };
        let parts = EngineParts {
            ident,
            incarnation,
            hostname,
            timing,
            mesh,
            disk,
            claim,
            space,
            persist_grants: !cli.no_grant_records,
            lockstate_path: path_text,
            pr,
            engine_tx: tx.clone(),
            exit_on_self_fence: !cli.standalone,
            failover: match (&disk_side, &cli.device) {
                (Some(d), Some(device)) if !cli.standalone => {
                    let me = crate::remote::election::Me {
                        node_uuid: ident.uuid,
                        node_id: ident.node_id,
                        slot: d.claim.slot,
                        slot_generation: d.claim.generation,
                    };
                    let elector = owner::Elector { engine_tx: tx.clone(), disk: d.clone(), me, volume };
                    Some(failover::Failover::new(elector, device.clone()))
                }
                _ => None,
            },
        };
        let engine = Engine::new(parts);
        let handle = std::thread::Builder::new()
            .name("mxfsd-engine".into())
            .spawn(move || engine.run(rx))
            .map_err(|e| format!("cannot start the engine thread: {e}"))?;
        let control = match &cli.run_dir {
            Some(dir) => Some(Control::start(dir, tx.clone())?),
            None => None,
        };
        Ok(Cluster { engine_tx: tx, engine: Some(handle), control, ident, disk: disk_side, volume })
    }

    /// Stops the control socket, then the engine (which leaves the cluster cleanly).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.control.take() {
            c.stop();
        }
        let _ = self.engine_tx.send(Event::Stop);
        if let Some(h) = self.engine.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
