//! The remote-operation codec: every request and reply round-trips, and malformed messages
//! are refused with the right error, never a panic.

use mxfs_uapi::remote::*;

fn fh(n: u8) -> Fh {
    Fh::new(1, &[n; 20]).unwrap()
}

fn creds() -> Creds {
    Creds::new(1000, 100, &[4, 24, 27]).with_umask(0o022)
}

fn attr() -> Attr {
    Attr {
        ino: 131,
        size: 4096,
        blocks: 8,
        atime: Time { sec: 1_700_000_000, nsec: 5 },
        mtime: Time { sec: -3, nsec: 999_999_999 },
        ctime: Time { sec: 7, nsec: 0 },
        mode: 0o100644,
        nlink: 1,
        uid: 1000,
        gid: 100,
        rdev_major: 8,
        rdev_minor: 16,
        blksize: 4096,
        generation: 9,
    }
}

fn all_requests(data: &[u8]) -> Vec<Request<'_>> {
    let setattr = SetAttr { mask: set::MODE | set::SIZE | set::ATIME, mode: 0o600, size: 12, ..Default::default() };
    vec![
        Request::GetRoot,
        Request::Lookup { dir: fh(1), name: b"a" },
        Request::GetAttr { fh: fh(2) },
        Request::SetAttr { fh: fh(3), attr: setattr },
        Request::ReadDir { dir: fh(4), cookie: 77, max: 4096 },
        Request::Mknod { dir: fh(5), name: b"dev", mode: 0o20600, rdev_major: 1, rdev_minor: 3 },
        Request::Mkdir { dir: fh(6), name: b"d", mode: 0o755 },
        Request::Symlink { dir: fh(7), name: b"l", target: b"../x/y" },
        Request::Link { fh: fh(8), dir: fh(9), name: b"hard" },
        Request::Unlink { dir: fh(10), name: b"gone" },
        Request::Rmdir { dir: fh(11), name: b"d" },
        Request::Rename { from_dir: fh(12), from: b"a", to_dir: fh(13), to: b"b", flags: 1 },
        Request::ReadLink { fh: fh(14) },
        Request::Read { fh: fh(15), offset: 1 << 40, len: MAX_IO as u32 },
        Request::Write { fh: fh(16), offset: 3, sync: true, data },
        Request::Fsync { fh: fh(17), datasync: false },
        Request::StatFs { fh: fh(18) },
        Request::Lock(posix_lock(lock::SET, lock::WRITE, 10, 19)),
        Request::Lock(LockReq { kind: lock::FLOCK, ..posix_lock(lock::SET, lock::READ, 0, lock::EOF) }),
        Request::Lock(posix_lock(lock::TEST, lock::READ, 0, lock::EOF)),
        Request::Lock(posix_lock(lock::RECLAIM, lock::READ, 7, 7)),
        Request::GetXattr { fh: fh(20), name: b"user.mime/type" },
        Request::ListXattr { fh: fh(21) },
        Request::SetXattr { fh: fh(22), name: b"trusted.x", flags: 1, value: data },
        Request::SetXattr { fh: fh(22), name: b"user.empty", flags: 0, value: b"" },
        Request::RemoveXattr { fh: fh(23), name: b"security.y" },
        Request::CacheLock(CacheLock { ino: 1 << 40, mode: cache::EX }),
        Request::CacheLock(CacheLock { ino: 128, mode: cache::PR }),
        Request::CacheDown(CacheLock { ino: 128, mode: cache::NL }),
        Request::CacheBast(CacheLock { ino: u64::MAX, mode: cache::PR }),
    ]
}

fn posix_lock(cmd: u8, ty: u8, start: u64, end: u64) -> LockReq {
    LockReq { fh: fh(19), owner: 0xdead_beef_0000_0001, kind: lock::POSIX, cmd, ty, start, end }
}

fn encode_req(req: &Request<'_>, id: u64, c: &Creds) -> Vec<u8> {
    let mut out = vec![0u8; MAX_MSG];
    let n = req.encode(id, c, &mut out).unwrap();
    assert_eq!(n, req.encoded_len(c));
    out.truncate(n);
    out
}

fn encode_rep(op: u8, id: u64, r: &Result<Reply<'_>, u32>) -> Vec<u8> {
    let mut out = vec![0u8; MAX_MSG];
    let n = encode_reply(op, id, r, &mut out).unwrap();
    assert_eq!(n, reply_len(r));
    out.truncate(n);
    out
}

#[test]
fn every_request_round_trips() {
    let data = vec![0xa5u8; MAX_IO];
    for (i, req) in all_requests(&data).into_iter().enumerate() {
        let bytes = encode_req(&req, i as u64 + 1, &creds());
        let (h, c, back) = decode_request(&bytes).unwrap();
        assert_eq!(h, Header { op: req.op(), is_reply: false, id: i as u64 + 1 });
        assert_eq!(c, creds());
        assert_eq!(back, req);
    }
}

fn all_replies(data: &[u8]) -> Vec<(u8, Reply<'_>)> {
    vec![
        (op::GETROOT, Reply::Entry { fh: fh(1), attr: attr() }),
        (op::LOOKUP, Reply::Entry { fh: Fh::new(-1, &[9; MAX_HANDLE]).unwrap(), attr: attr() }),
        (op::GETATTR, Reply::Attr(attr())),
        (op::LINK, Reply::Attr(attr())),
        (op::RENAME, Reply::Done),
        (op::READDIR, Reply::Dirents { eof: true, data }),
        (op::READ, Reply::Data(b"hello")),
        (op::READLINK, Reply::Data(b"../x")),
        (op::WRITE, Reply::Written { count: 5, attr: attr() }),
        (op::STATFS, Reply::StatFs(StatFs { bsize: 4096, blocks: 10, bfree: 5, bavail: 4, files: 100, ffree: 50, namelen: 255 })),
        (op::LOCK, Reply::Lock(LockInfo { ty: lock::WRITE, start: 5, end: lock::EOF, pid: 4242 })),
        (op::LOCK, Reply::Lock(LockInfo { ty: lock::UNLOCK, ..Default::default() })),
        (op::GETXATTR, Reply::Data(b"value\0with nul")),
        (op::LISTXATTR, Reply::Data(b"user.a\0user.b\0")),
        (op::SETXATTR, Reply::Done),
        (op::REMOVEXATTR, Reply::Done),
        (op::CACHE_LOCK, Reply::Done),
    ]
}

fn some_dirents() -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let mut pos = 0;
    for (i, name) in [&b"."[..], b"..", b"file"].into_iter().enumerate() {
        let d = Dirent { ino: 100 + i as u64, cookie: 10 * (i as u64 + 1), dtype: 4, name };
        pos = d.encode_at(&mut buf, pos).unwrap();
    }
    buf.truncate(pos);
    buf
}

#[test]
fn every_reply_round_trips_and_errors_carry_the_errno() {
    let ents = some_dirents();
    for (op, reply) in all_replies(&ents) {
        let bytes = encode_rep(op, 42, &Ok(reply));
        let (h, back) = decode_reply(&bytes).unwrap();
        assert_eq!(h, Header { op, is_reply: true, id: 42 });
        assert_eq!(back, Ok(reply));
    }
    let bytes = encode_rep(op::MKDIR, 7, &Err(17));
    assert_eq!(decode_reply(&bytes).unwrap(), (Header { op: op::MKDIR, is_reply: true, id: 7 }, Err(17)));
    // errno 0 would read as success: it is sent as EPERM instead of a lie.
    let bytes = encode_rep(op::MKDIR, 7, &Err(0));
    assert_eq!(decode_reply(&bytes).unwrap().1, Err(1));
}

#[test]
fn dirents_iterate_in_order() {
    let ents = some_dirents();
    let names: Vec<(&[u8], u64)> = dirents(&ents).map(|d| (d.name, d.cookie)).collect();
    assert_eq!(names, vec![(&b"."[..], 10), (&b".."[..], 20), (&b"file"[..], 30)]);
    // An entry that does not fit, an empty name and a name with '/' are not encoded.
    let mut small = [0u8; 20];
    assert_eq!(Dirent { ino: 1, cookie: 1, dtype: 8, name: b"ab" }.encode_at(&mut small, 0), None);
    let mut buf = [0u8; 64];
    assert_eq!(Dirent { ino: 1, cookie: 1, dtype: 8, name: b"" }.encode_at(&mut buf, 0), None);
    assert_eq!(Dirent { ino: 1, cookie: 1, dtype: 8, name: b"a/b" }.encode_at(&mut buf, 0), None);
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let data = [1u8; 100];
    for req in all_requests(&data) {
        let bytes = encode_req(&req, 5, &creds());
        for cut in 0..bytes.len() {
            let mut b = bytes[..cut].to_vec();
            // Keep the length field honest so the body checks run too.
            if cut >= 8 {
                b[4..8].copy_from_slice(&(cut as u32).to_le_bytes());
            }
            assert!(decode_request(&b).is_err(), "op {} cut at {cut} accepted", req.op());
        }
        let mut long = bytes.clone();
        long.push(0);
        let n = long.len() as u32;
        long[4..8].copy_from_slice(&n.to_le_bytes());
        assert_eq!(decode_request(&long).unwrap_err(), RemoteError::TrailingBytes, "op {}", req.op());
    }
    let ents = some_dirents();
    for (op, reply) in all_replies(&ents) {
        let bytes = encode_rep(op, 5, &Ok(reply));
        for cut in 0..bytes.len() {
            let mut b = bytes[..cut].to_vec();
            if cut >= 8 {
                b[4..8].copy_from_slice(&(cut as u32).to_le_bytes());
            }
            assert!(decode_reply(&b).is_err(), "reply op {op} cut at {cut} accepted");
        }
    }
}

#[test]
fn header_errors_are_typed() {
    let good = encode_req(&Request::GetAttr { fh: fh(1) }, 9, &creds());
    let with = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        b
    };
    assert_eq!(decode_request(&good[..10]).unwrap_err(), RemoteError::Truncated);
    assert_eq!(decode_request(&with(0, 0)).unwrap_err(), RemoteError::UnknownOp(0));
    assert_eq!(decode_request(&with(0, op::MAX + 1)).unwrap_err(), RemoteError::UnknownOp(op::MAX + 1));
    assert_eq!(decode_request(&with(1, 2)).unwrap_err(), RemoteError::BadKind(2));
    assert_eq!(decode_request(&with(1, 1)).unwrap_err(), RemoteError::BadKind(1));
    assert_eq!(decode_request(&with(2, 1)).unwrap_err(), RemoteError::NonZeroReserved);
    assert_eq!(decode_request(&with(4, good[4] + 1)).unwrap_err(), RemoteError::BadLength);
    assert_eq!(decode_reply(&good).unwrap_err(), RemoteError::BadKind(0));
    assert_eq!(decode_header(&vec![0u8; MAX_MSG + 1]).unwrap_err(), RemoteError::TooLarge);
    // A umask beyond the permission bits (0o1000), and more groups than allowed.
    assert_eq!(decode_request(&with(HEADER_LEN + 11, 2)).unwrap_err(), RemoteError::BadUmask);
    let (_, c, _) = decode_request(&good).unwrap();
    assert_eq!(c.umask, 0o022);
    let mut out = vec![0u8; MAX_MSG];
    let bad = creds().with_umask(0o1000);
    assert_eq!(Request::GetAttr { fh: fh(1) }.encode(1, &bad, &mut out).unwrap_err(), RemoteError::BadUmask);
    assert_eq!(decode_request(&with(HEADER_LEN + 8, MAX_GROUPS as u8 + 1)).unwrap_err(), RemoteError::TooManyGroups);
}

#[test]
fn bad_arguments_are_refused_on_both_sides() {
    let mut out = vec![0u8; MAX_MSG];
    for name in [&b""[..], b".", b"..", b"a/b", b"a\0b", &[b'x'; NAME_MAX + 1]] {
        let r = Request::Lookup { dir: fh(1), name };
        assert_eq!(r.encode(1, &creds(), &mut out).unwrap_err(), RemoteError::BadName, "{name:?}");
    }
    let r = Request::Symlink { dir: fh(1), name: b"l", target: b"" };
    assert_eq!(r.encode(1, &creds(), &mut out).unwrap_err(), RemoteError::BadPath);
    let r = Request::Symlink { dir: fh(1), name: b"l", target: b"a\0" };
    assert_eq!(r.encode(1, &creds(), &mut out).unwrap_err(), RemoteError::BadPath);
    let big = vec![0u8; MAX_IO + 1];
    let r = Request::Write { fh: fh(1), offset: 0, sync: false, data: &big };
    assert_eq!(r.encode(1, &creds(), &mut out).unwrap_err(), RemoteError::TooLarge);
    assert_eq!(Request::GetRoot.encode(1, &creds(), &mut out[..20]).unwrap_err(), RemoteError::NoSpace);
    let mut c = creds();
    c.ngroups = MAX_GROUPS as u16 + 1;
    assert_eq!(Request::GetRoot.encode(1, &c, &mut out).unwrap_err(), RemoteError::TooManyGroups);
    assert_eq!(Creds::new(1, 1, &[7; 40]).groups().len(), MAX_GROUPS);
    assert_eq!(Fh::new(1, &[]).unwrap_err(), RemoteError::BadHandle);
    assert_eq!(Fh::new(1, &[0; MAX_HANDLE + 1]).unwrap_err(), RemoteError::BadHandle);

    // Decoder side: patch valid messages.
    let bytes = encode_req(&Request::Lookup { dir: fh(1), name: b"ab" }, 1, &creds());
    let name_at = bytes.len() - 2;
    for bad in [b'/', 0] {
        let mut b = bytes.clone();
        b[name_at] = bad;
        assert_eq!(decode_request(&b).unwrap_err(), RemoteError::BadName);
    }
    let mut b = bytes.clone();
    b[name_at..].copy_from_slice(b"..");
    assert_eq!(decode_request(&b).unwrap_err(), RemoteError::BadName);
    let fh_len_at = HEADER_LEN + 12 + 4 * 3 + 4;
    let mut b = bytes.clone();
    b[fh_len_at] = 0;
    assert!(decode_request(&b).is_err());
    let mut b = bytes;
    b[fh_len_at] = MAX_HANDLE as u8 + 1;
    assert!(decode_request(&b).is_err());

    let read = encode_req(&Request::Read { fh: fh(1), offset: 0, len: 1 }, 1, &creds());
    let mut b = read.clone();
    let n = b.len();
    b[n - 4..].copy_from_slice(&(MAX_IO as u32 + 1).to_le_bytes());
    assert_eq!(decode_request(&b).unwrap_err(), RemoteError::TooLarge);

    let sa = encode_req(&Request::SetAttr { fh: fh(1), attr: SetAttr::default() }, 1, &creds());
    let mask_at = sa.len() - 48;
    let mut b = sa.clone();
    b[mask_at + 1] = 0x01; // bit 8: unknown
    assert_eq!(decode_request(&b).unwrap_err(), RemoteError::BadMask);
    let mut b = sa;
    b[mask_at + 32..mask_at + 36].copy_from_slice(&1_000_000_000u32.to_le_bytes()); // atime nsec
    assert!(decode_request(&b).is_err());

    let fsync = encode_req(&Request::Fsync { fh: fh(1), datasync: true }, 1, &creds());
    let mut b = fsync;
    *b.last_mut().unwrap() = 2;
    assert!(decode_request(&b).is_err());

    // LOCK: unknown fields, inverted or oversized ranges, partial flocks, a TEST of UNLOCK.
    let flock = LockReq { kind: lock::FLOCK, ..posix_lock(lock::SET, lock::WRITE, 0, lock::EOF) };
    for bad in [
        LockReq { kind: 2, ..posix_lock(lock::SET, lock::READ, 0, 1) },
        posix_lock(3, lock::READ, 0, 1),
        posix_lock(lock::RECLAIM, lock::UNLOCK, 0, 1),
        posix_lock(lock::SET, 3, 0, 1),
        posix_lock(lock::SET, lock::READ, 5, 4),
        posix_lock(lock::SET, lock::READ, 0, lock::EOF + 1),
        posix_lock(lock::TEST, lock::UNLOCK, 0, 1),
        LockReq { end: 100, ..flock },
        LockReq { cmd: lock::TEST, ..flock },
    ] {
        assert_eq!(Request::Lock(bad).encode(1, &creds(), &mut out).unwrap_err(), RemoteError::BadLock, "{bad:?}");
    }
    let good = encode_req(&Request::Lock(posix_lock(lock::SET, lock::READ, 0, 9)), 1, &creds());
    let ty_at = good.len() - 17;
    let mut b = good.clone();
    b[ty_at] = 3;
    assert_eq!(decode_request(&b).unwrap_err(), RemoteError::BadLock);
    let mut b = good;
    b[ty_at + 1..ty_at + 9].copy_from_slice(&10u64.to_le_bytes()); // start 10 > end 9
    assert_eq!(decode_request(&b).unwrap_err(), RemoteError::BadLock);
    assert!(posix_lock(lock::SET, lock::UNLOCK, 0, lock::EOF).releases_all());
    assert!(!posix_lock(lock::SET, lock::UNLOCK, 1, lock::EOF).releases_all());
    // Extended attribute names: 1..=255 bytes without NUL ('/' is fine); values up to MAX_IO.
    for name in [&b""[..], b"user.a\0b", &[b'x'; XATTR_NAME_MAX + 1]] {
        let r = Request::GetXattr { fh: fh(1), name };
        assert_eq!(r.encode(1, &creds(), &mut out).unwrap_err(), RemoteError::BadXattrName, "{name:?}");
    }
    let r = Request::SetXattr { fh: fh(1), name: b"user.big", flags: 0, value: &big };
    assert_eq!(r.encode(1, &creds(), &mut out).unwrap_err(), RemoteError::TooLarge);
    let gx = encode_req(&Request::RemoveXattr { fh: fh(1), name: b"user.ab" }, 1, &creds());
    let mut b = gx;
    let last = b.len() - 1;
    b[last] = 0;
    assert_eq!(decode_request(&b).unwrap_err(), RemoteError::BadXattrName);
    let bad_info = Reply::Lock(LockInfo { ty: 3, ..Default::default() });
    assert_eq!(encode_reply(op::LOCK, 1, &Ok(bad_info), &mut out).unwrap_err(), RemoteError::BadLock);
}

#[test]
fn replies_must_match_their_op() {
    let mut out = vec![0u8; MAX_MSG];
    assert!(encode_reply(op::READ, 1, &Ok(Reply::Done), &mut out).is_err());
    assert!(encode_reply(op::LOOKUP, 1, &Ok(Reply::Attr(attr())), &mut out).is_err());
    assert!(encode_reply(0, 1, &Err(5), &mut out).is_err());
    let big = vec![0u8; MAX_DIRENTS + 1];
    assert_eq!(encode_reply(op::READDIR, 1, &Ok(Reply::Dirents { eof: false, data: &big }), &mut out).unwrap_err(), RemoteError::TooLarge);
    // An error reply with a body, and a READDIR reply whose entries are corrupt.
    let mut b = encode_rep(op::UNLINK, 3, &Err(2));
    b.extend_from_slice(&[0; 4]);
    let n = b.len() as u32;
    b[4..8].copy_from_slice(&n.to_le_bytes());
    assert_eq!(decode_reply(&b).unwrap_err(), RemoteError::TrailingBytes);
    let ents = some_dirents();
    let mut b = encode_rep(op::READDIR, 3, &Ok(Reply::Dirents { eof: false, data: &ents }));
    let last = b.len() - 1;
    b[last] = b'/';
    assert_eq!(decode_reply(&b).unwrap_err(), RemoteError::BadName);
}

#[test]
fn random_bytes_never_panic() {
    // A cheap deterministic generator; every outcome is fine except a panic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let data = [3u8; 64];
    let seeds: Vec<Vec<u8>> = all_requests(&data).iter().map(|r| encode_req(r, 1, &creds())).collect();
    for i in 0..20_000 {
        let mut b = seeds[i % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % b.len();
            b[at] = next() as u8;
        }
        let _ = decode_request(&b);
        let _ = decode_reply(&b);
    }
}

#[test]
fn cache_messages_refuse_modes_they_may_not_carry() {
    let c = |mode| CacheLock { ino: 5, mode };
    let bad = [Request::CacheLock(c(cache::NL)), Request::CacheDown(c(cache::EX)), Request::CacheBast(c(cache::NL)), Request::CacheLock(c(9))];
    let mut buf = vec![0u8; MAX_MSG];
    for req in bad {
        assert_eq!(req.encode(1, &creds(), &mut buf), Err(RemoteError::BadCacheMode), "{req:?}");
    }
    // A peer that skips the encoder's check is refused by the decoder.
    let mut bytes = encode_req(&Request::CacheDown(c(cache::PR)), 3, &creds());
    let last = bytes.len() - 1;
    bytes[last] = cache::EX;
    assert_eq!(decode_request(&bytes).map(|_| ()), Err(RemoteError::BadCacheMode));
}

#[test]
fn cache_resource_names_round_trip_and_refuse_others() {
    let r = cache::res_name(0x0102_0304_0506_0708);
    assert_eq!(cache::parse_res(&r), Some(0x0102_0304_0506_0708));
    assert_eq!(cache::parse_res(&r[..8]), None);
    let mut other = r;
    other[0] = b'x';
    assert_eq!(cache::parse_res(&other), None);
}
