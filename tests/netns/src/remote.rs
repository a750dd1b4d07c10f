//! `remote-ops`: member mode between two standalone daemons. Both start at the same moment on
//! a fresh lockstate and elect: exactly one becomes owner, the other its member. Requests
//! submitted on the member's control socket (as its kernel would send them) run on the
//! owner's directory with the caller's credentials, and their errnos come back unchanged.
//! When the owner stops it vacates the owner record, and the member answers EIO.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use mxfs_uapi::remote::*;
use serde_json::Value;

use crate::env::*;
use crate::scenarios::Fixture;
use crate::Opts;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16).map_err(|e| e.to_string())).collect()
}

struct Client {
    ctl: Ctl,
    next: u64,
}

impl Client {
    fn call(&mut self, c: &Creds, req: Request<'_>) -> Result<Vec<u8>, String> {
        self.next += 1;
        let mut buf = vec![0u8; MAX_MSG];
        let n = req.encode(self.next, c, &mut buf).map_err(|e| e.to_string())?;
        let answer = self.ctl.req(&format!("remote {}", hex(&buf[..n])))?;
        let bytes = unhex(answer.strip_prefix("reply ").ok_or_else(|| format!("remote op {}: {answer}", req.op()))?)?;
        let (h, _) = decode_reply(&bytes).map_err(|e| e.to_string())?;
        if (h.op, h.id) != (req.op(), self.next) {
            return Err(format!("reply {h:?} does not match request op {} id {}", req.op(), self.next));
        }
        Ok(bytes)
    }

    fn errno(&mut self, c: &Creds, req: Request<'_>) -> Result<u32, String> {
        let b = self.call(c, req)?;
        match decode_reply(&b).map_err(|e| e.to_string())?.1 {
            Err(e) => Ok(e),
            Ok(r) => Err(format!("op {} succeeded: {r:?}", req.op())),
        }
    }

    fn entry(&mut self, c: &Creds, req: Request<'_>) -> Result<(Fh, Attr), String> {
        let b = self.call(c, req)?;
        match decode_reply(&b).map_err(|e| e.to_string())?.1 {
            Ok(Reply::Entry { fh, attr }) => Ok((fh, attr)),
            other => Err(format!("op {} gave {other:?}", req.op())),
        }
    }
}

fn role(f: &mut Fixture, i: usize) -> Option<(String, u64)> {
    let s = f.status(i).ok()?;
    Some((s["role"].as_str()?.to_string(), s["owner"].as_u64()?))
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

pub fn remote_ops(o: &Opts) -> Result<(), String> {
    let mut f = Fixture::new(o, "r", 7, 2, false)?;
    let exports: Vec<PathBuf> = (1..=2).map(|i| f.scratch.dir.join(format!("export{i}"))).collect();
    for e in &exports {
        fs::create_dir_all(e).map_err(|x| x.to_string())?;
        fs::set_permissions(e, fs::Permissions::from_mode(0o755)).map_err(|x| x.to_string())?;
    }
    // Both at once: the election must still give one owner.
    for i in 1..=2 {
        let mp = exports[i - 1].display().to_string();
        f.start(i, &["--mountpoint", &mp])?;
    }
    for i in 1..=2 {
        f.d(i)?.wait_ready(Duration::from_secs(30))?;
    }
    let roles = wait_for(Duration::from_secs(40), || Some((role(&mut f, 1)?, role(&mut f, 2)?)))
        .ok_or("the nodes did not both finish the election")?;
    let ids = (f.node_id(1)?, f.node_id(2)?);
    let (owner, member) = match (&roles.0 .0[..], &roles.1 .0[..]) {
        ("owner", "member") => (1, 2),
        ("member", "owner") => (2, 1),
        _ => return Err(format!("roles {roles:?}: want one owner and one member")),
    };
    let owner_id = if owner == 1 { ids.0 } else { ids.1 };
    check(roles.0 .1 == owner_id && roles.1 .1 == owner_id, || format!("both must name owner {owner_id:#x}: {roles:?}"))?;
    eprintln!("netns: node {owner} owns the volume, node {member} is its member");

    let mut c = Client { ctl: Ctl::connect(&f.d(member)?.sock())?, next: 0 };
    let (root, user) = (Creds::new(0, 0, &[]), Creds::new(4321, 4321, &[]));
    let (top, _) = c.entry(&user, Request::GetRoot)?;
    let e = c.errno(&user, Request::Mkdir { dir: top, name: b"d", mode: 0o755 })?;
    check(e == libc::EACCES as u32, || format!("mkdir by uid 4321 in a 0755 root directory gave errno {e}, want EACCES"))?;
    let (d, _) = c.entry(&root, Request::Mkdir { dir: top, name: b"d", mode: 0o777 })?;
    let (file, _) = c.entry(&user, Request::Mknod { dir: d, name: b"f", mode: libc::S_IFREG | 0o644, rdev_major: 0, rdev_minor: 0 })?;
    let e = c.errno(&user, Request::Mknod { dir: d, name: b"f", mode: libc::S_IFREG | 0o644, rdev_major: 0, rdev_minor: 0 })?;
    check(e == libc::EEXIST as u32, || format!("second create gave errno {e}, want EEXIST"))?;
    c.call(&user, Request::Write { fh: file, offset: 0, sync: true, data: b"written through the member" })?;
    let b = c.call(&root, Request::Read { fh: file, offset: 8, len: 100 })?;
    let read = match decode_reply(&b).map_err(|e| e.to_string())?.1 {
        Ok(Reply::Data(d)) => d.to_vec(),
        other => return Err(format!("read gave {other:?}")),
    };
    check(read == b"through the member", || format!("read back {:?}", String::from_utf8_lossy(&read)))?;
    let e = c.errno(&user, Request::Lookup { dir: d, name: b"missing" })?;
    check(e == libc::ENOENT as u32, || format!("lookup of a missing name gave errno {e}"))?;

    // It ran on the owner's directory, as the caller; the member's stayed untouched.
    let on_owner = exports[owner - 1].join("d/f");
    let text = fs::read_to_string(&on_owner).map_err(|e| format!("{}: {e}", on_owner.display()))?;
    check(text == "written through the member", || format!("owner's file holds {text:?}"))?;
    let uid = std::os::unix::fs::MetadataExt::uid(&fs::metadata(&on_owner).map_err(|e| e.to_string())?);
    check(uid == 4321, || format!("the file belongs to uid {uid}, want the caller's 4321"))?;
    let member_dir = fs::read_dir(&exports[member - 1]).map_err(|e| e.to_string())?.count();
    check(member_dir == 0, || "the member executed something locally".into())?;
    let s: Value = f.status(member)?;
    check(s["remote_in_flight"] == 0, || format!("member still has requests in flight: {}", s["remote_in_flight"]))?;

    // A clean stop of the owner vacates the record; the member then answers EIO.
    let code = f.d(owner)?.stop(Duration::from_secs(15));
    check(code == Some(0), || format!("owner exit code {code:?}"))?;
    let log = f.daemons[owner - 1].as_ref().map(|d| d.log_text()).unwrap_or_default();
    check(log.contains("ownership released"), || "the owner did not log releasing ownership".into())?;
    let e = c.errno(&user, Request::GetAttr { fh: file })?;
    check(e == libc::EIO as u32, || format!("with the owner gone the member answered errno {e}, want EIO"))?;
    f.daemons[owner - 1] = None;

    // The member restarts and finds the record vacant: it becomes the owner.
    f.d(member)?.stop(Duration::from_secs(15));
    let mp = exports[member - 1].display().to_string();
    f.start(member, &["--mountpoint", &mp])?;
    f.d(member)?.wait_ready(Duration::from_secs(30))?;
    let r = wait_for(Duration::from_secs(40), || role(&mut f, member)).ok_or("the restarted node did not elect")?;
    check(r.0 == "owner", || format!("alone on a vacant record the node became {r:?}"))?;
    Ok(())
}
