//! The mount.mxfs binary: exit codes and the one line it prints for each failure. The loop
//! device cases need root, losetup and mkfs.xfs; without them they say so and pass.

use std::fs::{self, File};
use std::path::Path;
use std::process::Command;

fn helper(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mount-mxfs"))
        .args(args)
        .output()
        .expect("run mount-mxfs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts exit `code` and exactly one stderr line equal to `line`.
fn assert_fails(args: &[&str], code: i32, line: &str) {
    let (got, _, err) = helper(args);
    assert_eq!(got, code, "{args:?}: {err}");
    assert_eq!(err, format!("{line}\n"), "{args:?}");
}

#[test]
fn usage_errors_exit_1() {
    let (code, _, err) = helper(&[]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.starts_with("mount.mxfs: expected SPEC and DIR"),
        "{err}"
    );
    assert_eq!(helper(&["/dev/sdb", "/mnt", "-q"]).0, 1);
}

#[test]
fn help_exits_0() {
    let (code, out, _) = helper(&["-h"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("usage: mount.mxfs SPEC DIR"));
}

#[test]
fn unknown_option_exits_32_before_touching_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert_fails(
        &["/nonexistent/dev", d, "-o", "rw,inode64"],
        32,
        "mount.mxfs: unknown option 'inode64'",
    );
}

#[test]
fn missing_mount_point_exits_32() {
    assert_fails(
        &["/dev/null", "/nonexistent/mnt", "-f"],
        32,
        "mount.mxfs: mount point /nonexistent/mnt does not exist",
    );
}

#[test]
fn missing_or_non_block_device_is_no_such_device() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert_fails(
        &["/nonexistent/dev", d, "-f"],
        32,
        "mount.mxfs: /nonexistent/dev: no such device",
    );
    assert_fails(
        &["/dev/null", d, "-f"],
        32,
        "mount.mxfs: /dev/null: no such device (not a block device)",
    );
    let file = dir.path().join("img");
    File::create(&file).unwrap();
    let f = file.to_str().unwrap();
    assert_fails(
        &[f, d, "-f"],
        32,
        &format!("mount.mxfs: {f}: no such device (not a block device)"),
    );
}

/// A loop device over a sparse image; detached on drop.
struct Loop {
    dev: String,
    _dir: tempfile::TempDir,
}

impl Loop {
    /// `None` when this environment cannot make loop devices or XFS.
    fn new(xfs_uuid: Option<&str>) -> Option<Loop> {
        let usable = nix_is_root()
            && Path::new("/dev/loop-control").exists()
            && which("losetup")
            && which("mkfs.xfs");
        if !usable {
            eprintln!("skipped: needs root, /dev/loop-control, losetup and mkfs.xfs");
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let img = dir.path().join("disk.img");
        // mkfs.xfs refuses filesystems under 300 MB; a sparse file costs nothing.
        File::create(&img).ok()?.set_len(320 << 20).ok()?;
        if let Some(uuid) = xfs_uuid {
            let ok = Command::new("mkfs.xfs")
                .args(["-q", "-m", &format!("uuid={uuid}")])
                .arg(&img)
                .status()
                .ok()?;
            assert!(ok.success(), "mkfs.xfs failed");
        }
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&img)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipped: losetup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Some(Loop { dev, _dir: dir })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn nix_is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn blank_block_device_is_not_xfs() {
    let Some(lo) = Loop::new(None) else { return };
    let dir = tempfile::tempdir().unwrap();
    assert_fails(
        &[&lo.dev, dir.path().to_str().unwrap(), "-f"],
        32,
        &format!(
            "mount.mxfs: {}: not an XFS filesystem (run mkfs.xfs first)",
            lo.dev
        ),
    );
}

#[test]
fn xfs_block_device_passes_the_device_checks() {
    const UUID: &str = "6d5c4b3a-2918-4756-a5b4-c3d2e1f00f1e";
    let Some(lo) = Loop::new(Some(UUID)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = helper(&[
        &lo.dev,
        dir.path().to_str().unwrap(),
        "-fv",
        "-o",
        "ro,_netdev",
    ]);
    assert!(
        out.contains(&format!("XFS UUID {UUID}")),
        "stdout: {out}\nstderr: {err}"
    );
    // What follows depends on this host: mxfs.ko and mxfsd installed or not.
    match code {
        0 => assert!(out.contains("-f given, not calling mount(2)"), "{out}"),
        32 => {
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.starts_with("mount.mxfs: mxfs kernel module missing")
                    || err.starts_with("mount.mxfs: mxfsd missing"),
                "{err}"
            );
        }
        other => panic!("exit {other}: {err}"),
    }
}
