//! Valid encodings every target starts from, each behind its control byte.

use mxfs_nl::attr::AttrWriter;
use mxfs_pr::scsi::{encode_read_keys, encode_read_reservation};
use mxfs_pr::{PrKey, PrType, ReadKeys, ReadReservation, Reservation, FENCING_TYPE};
use mxfs_uapi::clustermsg::{
    ClaimWire, DlmFrameWire, DlmMsgWire, EchoWire, HeartbeatWire, MemberWire, RefuseWire, ReportEntryWire, ViewIdWire,
    ViewWire,
};
use mxfs_nl::{ctrl, genlmsg, msg, MountStatus};
use mxfs_uapi::discovery::{self, Announcement};
use mxfs_uapi::genl::{attr, cmd, FAMILY_VERSION};
use mxfs_uapi::ident::Hostname;
use mxfs_uapi::lockstate::{
    Header, HeartbeatSlot, LockGrant, LockMode, LockRecord, Owner, OwnerRecord, ResourceName, SlotState,
};
use mxfs_uapi::peer::{msg_type, FrameEncoder, Role, MAX_FRAME_LEN};

use crate::fixture::{self, discovery_key, hello_key, node, volume, SECRET, VOL};
use crate::targets::{ESTABLISHED, FIX};

fn with_ctl(ctl: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.push(ctl);
    v.extend_from_slice(bytes);
    v
}

/// Seeds for the target called `name`.
pub fn for_target(name: &str) -> Vec<Vec<u8>> {
    match name {
        "lockstate" => lockstate(),
        "discovery" => announcements(),
        "peer" => peer_streams(),
        "hello" => hellos(),
        "netlink" => netlink(),
        "heartbeat" => heartbeats(),
        "dlm" => dlm_frames(),
        "pr-in" => pr_in(),
        "inquiry" => inquiries(),
        "remote" => remote_messages(),
        _ => Vec::new(),
    }
}

fn lockstate() -> Vec<Vec<u8>> {
    let vol = volume();
    let (uuid, id) = node(0x21);
    let live = HeartbeatSlot {
        generation: 4,
        state: SlotState::Live,
        node_uuid: uuid,
        node_id: id,
        flags: 1,
        nonce: [9; 16],
        sequence: 100,
        timestamp_ms: 1_700_000_000_000,
        hostname: fixture::hostname(),
    };
    let grant = |name: &[u8], mode| LockRecord {
        generation: 2,
        grant: Some(LockGrant {
            resource: ResourceName::new(name).expect("seed name fits"),
            mode,
            holder_node_id: id,
            holder_slot: 3,
            holder_generation: 4,
        }),
    };
    let records = [
        Header::new(VOL, SECRET, 512).encode(),
        Header::new(VOL, SECRET, 4096).encode(),
        OwnerRecord { generation: 0, owner: None }.encode(&vol),
        OwnerRecord { generation: 9, owner: Some(Owner { node_uuid: uuid, node_id: id, slot: 3, slot_generation: 4 }) }.encode(&vol),
        HeartbeatSlot::free(0).encode(&vol, 0),
        live.encode(&vol, 3),
        HeartbeatSlot { state: SlotState::Claiming, hostname: Hostname::EMPTY, ..live }.encode(&vol, 63),
        LockRecord { generation: 0, grant: None }.encode(&vol, 0),
        grant(b"ino:128", LockMode::EX).encode(&vol, 5),
        grant(&[0xaa; 256], LockMode::PR).encode(&vol, 65535),
    ];
    records
        .into_iter()
        .flatten()
        .flat_map(|r| [with_ctl(FIX, &r), with_ctl(0, &r)])
        .collect()
}

fn announcements() -> Vec<Vec<u8>> {
    let (uuid, id) = node(0x31);
    let base = Announcement { volume_uuid: VOL, node_uuid: uuid, node_id: id, tcp_port: 7600, epoch: 3, hostname: fixture::hostname() };
    let mut out = Vec::new();
    for a in [base, Announcement { hostname: Hostname::EMPTY, ..base }, Announcement { hostname: Hostname::new(&[b'h'; 64]).unwrap_or(Hostname::EMPTY), ..base }] {
        let mut buf = [0u8; discovery::MAX_LEN];
        if let Ok(n) = a.encode(&discovery_key(), &mut buf) {
            out.push(with_ctl(FIX, &buf[..n]));
            out.push(with_ctl(0, &buf[..n]));
        }
    }
    out
}

fn hellos() -> Vec<Vec<u8>> {
    [Role::Initiator, Role::Responder]
        .iter()
        .filter_map(|&r| fixture::hello(r).encode().ok())
        .map(|h| with_ctl(0, &h))
        .collect()
}

/// Frames A would send: from the hello (fresh decoder) or after the handshake.
fn peer_streams() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let data: [(u8, &[u8]); 4] =
        [(msg_type::DLM, b"request ino:128 EX"), (msg_type::MEMBERSHIP, &[7; 40]), (msg_type::REMOTE_OP, b""), (msg_type::CLOSE, b"")];

    // Fresh: HELLO, READY, data.
    let (a, b) = (fixture::hello(Role::Initiator), fixture::hello(Role::Responder));
    let mut enc = FrameEncoder::new(&hello_key());
    let mut stream = Vec::new();
    if let Ok(n) = enc.encode_hello(&a, &mut buf) {
        stream.extend_from_slice(&buf[..n]);
    }
    out.push(with_ctl(FIX, &stream));
    if enc.establish(&fixture::keys(&a, &b)).is_ok() {
        if let Ok(n) = enc.encode(msg_type::READY, &[], &mut buf) {
            stream.extend_from_slice(&buf[..n]);
        }
        for (t, p) in data {
            if let Ok(n) = enc.encode(t, p, &mut buf) {
                stream.extend_from_slice(&buf[..n]);
            }
        }
    }
    out.push(with_ctl(FIX, &stream));
    out.push(with_ctl(0, &stream));

    // Established: data frames from sequence 2.
    let (mut enc, _) = fixture::established();
    let mut stream = Vec::new();
    for (t, p) in data {
        if let Ok(n) = enc.encode(t, p, &mut buf) {
            stream.extend_from_slice(&buf[..n]);
        }
    }
    out.push(with_ctl(FIX | ESTABLISHED, &stream));
    out.push(with_ctl(ESTABLISHED, &stream));
    out
}

fn netlink() -> Vec<Vec<u8>> {
    let mounts = [
        MountStatus { volume_uuid: "12345678-9abc-def0-0123-456789abcdef".into(), device: "/dev/sdb".into(), mountpoint: "/mnt/shared".into(), daemon_pid: 42, state: 1, remote_calls: 0, cache_hits: 0 },
        MountStatus { volume_uuid: "00000000-0000-0000-0000-000000000001".into(), device: "/dev/disk/by-id/wwn-0x600".into(), mountpoint: String::new(), daemon_pid: 0, state: 2, remote_calls: 0, cache_hits: 0 },
    ];
    let mut out = Vec::new();
    if let Ok(b) = msg::encode_status_reply(&mounts) {
        out.push(b);
    }
    if let Ok(b) = msg::encode_daemon_ready("12345678-9abc-def0-0123-456789abcdef", 1, 7) {
        out.push(b);
    }
    out.push(msg::encode_status());
    let mut fam = AttrWriter::new();
    let _ = fam.put_u16(ctrl::CTRL_ATTR_FAMILY_ID, 0x1c);
    let _ = fam.put_str(ctrl::CTRL_ATTR_FAMILY_NAME, "mxfs");
    let _ = fam.put_u32(ctrl::CTRL_ATTR_VERSION, u32::from(FAMILY_VERSION));
    out.push(genlmsg::encode(ctrl::CTRL_CMD_NEWFAMILY, 2, fam.as_bytes()));
    let mut nest = AttrWriter::new();
    let _ = nest.put_u32(attr::STATE, 0);
    let mut outer = AttrWriter::new();
    let _ = outer.put_nested(attr::MOUNT, &nest);
    out.push(genlmsg::encode(cmd::STATUS, FAMILY_VERSION, outer.as_bytes()));
    out.into_iter().map(|b| with_ctl(0, &b)).collect()
}

fn heartbeats() -> Vec<Vec<u8>> {
    let members = [MemberWire { node: 0x1111, incarnation: 99 }, MemberWire { node: 0x2222, incarnation: 5 }];
    let id = ViewIdWire { epoch: 7, coordinator: 0x1111, coordinator_incarnation: 99 };
    let base = HeartbeatWire { incarnation: 1_700_000_000_123, seq: 42, echo: None, claim: None, view: None };
    let hbs = [
        base,
        HeartbeatWire { echo: Some(EchoWire { incarnation: 5, seq: 41 }), ..base },
        HeartbeatWire { claim: Some(ClaimWire { slot: 3, generation: 4, nonce: [9; 16] }), ..base },
        HeartbeatWire {
            echo: Some(EchoWire { incarnation: 5, seq: 41 }),
            claim: Some(ClaimWire { slot: 63, generation: 1, nonce: [1; 16] }),
            view: Some(ViewWire { id, members: &members }),
            ..base
        },
        HeartbeatWire { view: Some(ViewWire { id, members: &[] }), ..base },
    ];
    hbs.iter()
        .filter_map(|hb| {
            let mut out = vec![0u8; hb.encoded_len()];
            hb.encode(&mut out).ok().map(|n| with_ctl(0, &out[..n]))
        })
        .collect()
}

fn dlm_frames() -> Vec<Vec<u8>> {
    let entries = [
        ReportEntryWire { res: b"ino:128", held: Some((LockMode::EX, 3)), pending: None },
        ReportEntryWire { res: b"ino:129", held: Some((LockMode::PR, 1)), pending: Some((LockMode::EX, 2)) },
        ReportEntryWire { res: &[0xaa; 256], held: None, pending: Some((LockMode::CW, 7)) },
    ];
    let msgs = [
        None,
        Some(DlmMsgWire::Report(&entries)),
        Some(DlmMsgWire::Report(&[])),
        Some(DlmMsgWire::Request { res: b"ino:128", mode: LockMode::EX, seq: 3 }),
        Some(DlmMsgWire::Grant { res: b"ino:128", mode: LockMode::PR, seq: 4 }),
        Some(DlmMsgWire::Bast { res: b"ino:128", blocking: LockMode::PW }),
        Some(DlmMsgWire::DownConvert { res: b"ino:128", mode: None, base: 9 }),
        Some(DlmMsgWire::DownConvert { res: b"ino:128", mode: Some(LockMode::NL), base: 9 }),
        Some(DlmMsgWire::Refuse { res: b"ino:128", seq: 1, reason: RefuseWire::NotMaster }),
        Some(DlmMsgWire::Refuse { res: b"ino:128", seq: 1, reason: RefuseWire::Fenced }),
    ];
    let view = ViewIdWire { epoch: 7, coordinator: 0x1111, coordinator_incarnation: 99 };
    let mut buf = vec![0u8; 4096];
    msgs.into_iter()
        .filter_map(|msg| {
            let f = DlmFrameWire { view, seq: 12, ack: 11, msg };
            f.encode(&mut buf).ok().map(|n| with_ctl(0, &buf[..n]))
        })
        .collect()
}

fn pr_in() -> Vec<Vec<u8>> {
    let (a, b) = (PrKey::for_node(0x1111_2222), PrKey::for_node(7));
    let mut out = vec![
        encode_read_keys(&ReadKeys { generation: 0, keys: Vec::new() }),
        encode_read_keys(&ReadKeys { generation: 3, keys: vec![a] }),
        encode_read_keys(&ReadKeys { generation: 9, keys: vec![a, b, a] }),
        encode_read_reservation(&ReadReservation { generation: 1, reservation: None }),
        encode_read_reservation(&ReadReservation {
            generation: 5,
            reservation: Some(Reservation { key: Some(a), pr_type: FENCING_TYPE }),
        }),
        encode_read_reservation(&ReadReservation {
            generation: 6,
            reservation: Some(Reservation { key: None, pr_type: PrType::WriteExclusiveAllRegistrants }),
        }),
    ];
    // Replies padded with zeros up to the allocation length, as devices transfer them.
    let mut padded = encode_read_keys(&ReadKeys { generation: 2, keys: vec![b] });
    padded.resize(8 + 8 * 32, 0);
    out.push(padded);
    out.into_iter().map(|b| with_ctl(0, &b)).collect()
}

fn inquiries() -> Vec<Vec<u8>> {
    let std = |vendor: &[u8; 8], product: &[u8; 16], rev: &[u8; 4], len: usize| {
        let mut v = vec![0u8; len];
        v[2] = 6;
        v[3] = 2;
        v[4] = (len - 5) as u8;
        v[8..16].copy_from_slice(vendor);
        v[16..32].copy_from_slice(product);
        v[32..36].copy_from_slice(rev);
        v
    };
    [
        std(b"LIO-ORG ", b"fileio0         ", b"4.0 ", 96),
        std(b"IET     ", b"VIRTUAL-DISK    ", b"0001", 36),
        std(b"QEMU    ", b"QEMU HARDDISK   ", b"2.5+", 36),
    ]
    .iter()
    .map(|b| with_ctl(0, b))
    .collect()
}

fn remote_messages() -> Vec<Vec<u8>> {
    use mxfs_uapi::remote::{encode_reply, lock, Attr, Creds, Dirent, Fh, LockInfo, LockReq, Reply, Request, SetAttr, StatFs, Time, MAX_MSG};
    let fh = Fh::new(1, &[7; 12]).expect("seed handle fits");
    let creds = Creds::new(1000, 100, &[100, 27]);
    let attr = Attr { ino: 131, size: 4096, mode: 0o100644, nlink: 1, mtime: Time { sec: 5, nsec: 6 }, ..Default::default() };
    let data = [0x5a; 64];
    let requests = [
        Request::GetRoot,
        Request::Lookup { dir: fh, name: b"file" },
        Request::SetAttr { fh, attr: SetAttr { mask: 0b1001, mode: 0o600, size: 10, ..Default::default() } },
        Request::ReadDir { dir: fh, cookie: 3, max: 4096 },
        Request::Mknod { dir: fh, name: b"n", mode: 0o20644, rdev_major: 1, rdev_minor: 3 },
        Request::Symlink { dir: fh, name: b"l", target: b"../t" },
        Request::Rename { from_dir: fh, from: b"a", to_dir: fh, to: b"b", flags: 1 },
        Request::Write { fh, offset: 8, sync: true, data: &data },
        Request::Fsync { fh, datasync: false },
        Request::Lock(LockReq { fh, owner: 9, kind: lock::POSIX, cmd: lock::SET, ty: lock::WRITE, start: 1, end: 1 }),
        Request::SetXattr { fh, name: b"user.k", flags: 1, value: &data },
    ];
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let mut buf = vec![0u8; MAX_MSG];
        let n = r.encode(i as u64 + 1, &creds, &mut buf).expect("seed request encodes");
        buf.truncate(n);
        out.push(with_ctl(0, &buf));
    }
    let mut ents = vec![0u8; 256];
    let mut pos = 0;
    for (i, name) in [&b"."[..], b"..", b"f"].iter().enumerate() {
        pos = Dirent { ino: 128 + i as u64, cookie: i as u64 + 1, dtype: 4, name }.encode_at(&mut ents, pos).expect("seed dirent fits");
    }
    ents.truncate(pos);
    let replies: [(u8, Result<Reply<'_>, u32>); 7] = [
        (2, Ok(Reply::Entry { fh, attr })),
        (3, Ok(Reply::Attr(attr))),
        (5, Ok(Reply::Dirents { eof: true, data: &ents })),
        (14, Ok(Reply::Data(&data))),
        (17, Ok(Reply::StatFs(StatFs { bsize: 4096, blocks: 10, ..Default::default() }))),
        (10, Err(2)),
        (18, Ok(Reply::Lock(LockInfo { ty: lock::READ, start: 0, end: lock::EOF, pid: 7 }))),
    ];
    for (i, (op, r)) in replies.iter().enumerate() {
        let mut buf = vec![0u8; MAX_MSG];
        let n = encode_reply(*op, i as u64, r, &mut buf).expect("seed reply encodes");
        buf.truncate(n);
        out.push(with_ctl(0, &buf));
    }
    out
}
