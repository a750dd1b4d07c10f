//! The O_DIRECT lockstate layer against a real file.
//!
//! Files go under /var/tmp: /tmp may be tmpfs, which refuses O_DIRECT on older kernels.
//! Where O_DIRECT is refused anyway, each test prints why and skips.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use mxfs_disk::claim::{Claimant, SlotView};
use mxfs_disk::device::DeviceError;
use mxfs_disk::{DiskError, LockstateFile};
use mxfs_uapi::ident::{node_id_from_uuid, Hostname};
use mxfs_uapi::lockstate::{
    Geometry, Header, HeartbeatSlot, LockGrant, LockMode, LockRecord, LockstateError, Owner,
    OwnerRecord, SlotState, Timing,
};

const VOL: [u8; 16] = [0x10; 16];

fn small_header() -> Header {
    Header {
        geometry: Geometry::with_counts(512, 8, 64),
        timing: Timing { heartbeat_interval_ms: 100, io_timeout_ms: 50, dead_after_ms: 1000 },
        ..Header::new(VOL, [0xab; 32], 512)
    }
}

/// A file of `len` bytes for a lockstate, or `None` (with the reason printed) where this
/// machine cannot do O_DIRECT there.
fn scratch(len: u64) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir_in("/var/tmp").or_else(|_| tempfile::tempdir()).unwrap();
    let path = dir.path().join("lockstate");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(len).unwrap();
    match mxfs_disk::BlockDevice::open(&path, 0, 512) {
        Ok(_) => Some((dir, path)),
        Err(e @ DeviceError::DirectIoUnsupported { .. }) => {
            println!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn format_small(path: &Path) -> LockstateFile {
    LockstateFile::format(path, 0, &small_header()).unwrap()
}

#[test]
fn format_then_reopen_reads_every_record() {
    let h = small_header();
    let Some((_dir, path)) = scratch(h.geometry.total_size) else { return };
    format_small(&path);
    let mut ls = LockstateFile::open(&path, 0, &VOL).unwrap();
    assert_eq!(*ls.header(), h);
    assert_eq!(ls.read_owner().unwrap(), OwnerRecord { generation: 0, owner: None });
    for i in 0..8 {
        assert_eq!(ls.read_slot(i).unwrap(), HeartbeatSlot::free(0));
    }
    for j in 0..64 {
        assert_eq!(ls.read_lock(j).unwrap(), LockRecord { generation: 0, grant: None });
    }
    assert!(matches!(ls.read_slot(8), Err(DiskError::Record { .. })));
}

#[test]
fn records_round_trip_through_the_device() {
    let h = small_header();
    let Some((_dir, path)) = scratch(h.geometry.total_size) else { return };
    let mut ls = format_small(&path);
    let uuid = [0x21; 16];
    let node_id = node_id_from_uuid(&uuid);
    let slot = HeartbeatSlot {
        generation: 2,
        state: SlotState::Live,
        node_uuid: uuid,
        node_id,
        flags: 0,
        nonce: [5; 16],
        sequence: 77,
        timestamp_ms: 1,
        hostname: Hostname::new(b"hv-03").unwrap(),
    };
    ls.write_slot(3, &slot).unwrap();
    let lock = LockRecord {
        generation: 1,
        grant: Some(LockGrant {
            resource: mxfs_uapi::lockstate::ResourceName::new(b"ino:4096").unwrap(),
            mode: LockMode::PR,
            holder_node_id: node_id,
            holder_slot: 3,
            holder_generation: 2,
        }),
    };
    ls.write_lock(63, &lock).unwrap();
    let owner = OwnerRecord { generation: 1, owner: Some(Owner { node_uuid: uuid, node_id, slot: 3, slot_generation: 2 }) };
    ls.write_owner(&owner).unwrap();
    drop(ls);
    let mut ls = LockstateFile::open(&path, 0, &VOL).unwrap();
    assert_eq!(ls.read_slot(3).unwrap(), slot);
    assert_eq!(ls.read_lock(63).unwrap(), lock);
    assert_eq!(ls.read_owner().unwrap(), owner);
    assert_eq!(ls.read_slot(2).unwrap(), HeartbeatSlot::free(0));
}

#[test]
fn torn_foreign_and_short_lockstates_are_refused() {
    let h = small_header();
    let Some((_dir, path)) = scratch(h.geometry.total_size) else { return };
    let mut ls = format_small(&path);
    let slot1 = h.geometry.slot_offset(1).unwrap();
    // A torn write: the second half of the sector is from an older record.
    let plain = OpenOptions::new().write(true).open(&path).unwrap();
    plain.write_all_at(&[0x99; 256], slot1 + 256).unwrap();
    plain.sync_all().unwrap();
    assert!(matches!(
        ls.read_slot(1),
        Err(DiskError::Record { error: LockstateError::BadChecksum, .. })
    ));
    assert!(matches!(ls.read_slot_view(1).unwrap(), SlotView::Corrupt(_)));
    // A misdirected write: slot 2's record copied into slot 1.
    let good2 = HeartbeatSlot::free(0).encode(&h.volume(), 2).unwrap();
    plain.write_all_at(&good2, slot1).unwrap();
    plain.sync_all().unwrap();
    assert!(matches!(
        ls.read_slot(1),
        Err(DiskError::Record { error: LockstateError::WrongIndex { expected: 1, found: 2 }, .. })
    ));
    drop(ls);

    let other = [0x11; 16];
    assert!(matches!(
        LockstateFile::open(&path, 0, &other),
        Err(DiskError::Record { error: LockstateError::WrongVolume { .. }, .. })
    ));
    std::fs::File::options().write(true).open(&path).unwrap().set_len(h.geometry.total_size - 512).unwrap();
    assert!(matches!(LockstateFile::open(&path, 0, &VOL), Err(DiskError::TooSmall { .. })));
}

#[test]
fn lockstate_at_an_offset_on_a_larger_device() {
    let h = small_header();
    let base = 1 << 20;
    let Some((_dir, path)) = scratch(base + h.geometry.total_size) else { return };
    LockstateFile::format(&path, base, &h).unwrap();
    assert!(LockstateFile::open(&path, 0, &VOL).is_err());
    let mut ls = LockstateFile::open(&path, base, &VOL).unwrap();
    assert_eq!(ls.read_slot(0).unwrap(), HeartbeatSlot::free(0));
}

#[test]
fn claim_on_a_real_file() {
    let h = small_header();
    let Some((_dir, path)) = scratch(h.geometry.total_size) else { return };
    let mut ls = format_small(&path);
    let uuid = [0x31; 16];
    let me = Claimant { node_uuid: uuid, node_id: node_id_from_uuid(&uuid), hostname: Hostname::new(b"hv-04").unwrap(), nonce: mxfs_disk::random::bytes().unwrap(), flags: 0 };
    let started = Instant::now();
    let claim = ls.claim_slot(me).unwrap();
    println!("claimed slot {} in {:?}", claim.slot, started.elapsed());
    assert_eq!((claim.slot, claim.generation), (0, 1));
    let on_disk = ls.read_slot_view(0).unwrap();
    claim.still_ours(&on_disk).unwrap();
    ls.write_slot(0, &claim.heartbeat(1, 0, 0)).unwrap();
    claim.still_ours(&ls.read_slot_view(0).unwrap()).unwrap();
    // A second claimer gets the next slot.
    let uuid2 = [0x32; 16];
    let other = Claimant { node_uuid: uuid2, node_id: node_id_from_uuid(&uuid2), nonce: [7; 16], ..me };
    assert_eq!(ls.claim_slot(other).unwrap().slot, 1);
    ls.write_slot(0, &claim.release()).unwrap();
    assert_eq!(ls.read_slot(0).unwrap(), HeartbeatSlot::free(1));
}

#[test]
fn standard_lockstate_formats_completely() {
    let h = Header::new(VOL, [0xcd; 32], 512);
    let Some((_dir, path)) = scratch(h.geometry.total_size) else { return };
    let started = Instant::now();
    LockstateFile::format(&path, 0, &h).unwrap();
    println!("formatted a standard {}-byte lockstate in {:?}", h.geometry.total_size, started.elapsed());
    let mut ls = LockstateFile::open(&path, 0, &VOL).unwrap();
    assert_eq!(ls.read_slot(63).unwrap(), HeartbeatSlot::free(0));
    assert_eq!(ls.read_lock(65535).unwrap(), LockRecord { generation: 0, grant: None });
}

/// Cost of one persisted record write (O_DIRECT | O_SYNC, 512 bytes): what a heartbeat or a
/// grant pays before it is answered. Printed, not asserted: it depends on the storage.
#[test]
fn measure_persisted_record_write() {
    let h = small_header();
    let Some((_dir, path)) = scratch(h.geometry.total_size) else { return };
    let mut ls = format_small(&path);
    let uuid = [0x41; 16];
    let claim = mxfs_disk::Claim { slot: 0, generation: 1, nonce: [1; 16], node_uuid: uuid, node_id: node_id_from_uuid(&uuid), hostname: Hostname::EMPTY };
    let n = 200u64;
    let mut samples = Vec::with_capacity(n as usize);
    for seq in 1..=n {
        let rec = claim.heartbeat(seq, seq, 0);
        let t = Instant::now();
        ls.write_slot(0, &rec).unwrap();
        samples.push(t.elapsed().as_micros() as u64);
    }
    samples.sort_unstable();
    let mean = samples.iter().sum::<u64>() / n;
    println!(
        "BENCH lockstate_record_write_odirect_osync value={mean} unit=us (n={n} p50={}us p99={}us max={}us, {})",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples[samples.len() - 1],
        path.display()
    );
}
