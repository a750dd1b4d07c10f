//! What must be in place before mount(2) can succeed: the mxfs filesystem type (loading the
//! module if needed) and the mxfsd binary the kernel will execute. Checking here turns what
//! would be a bare ENODEV or ENOPKG from the kernel into a line that says what is missing.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use mxfs_uapi::genl::FS_NAME;
use nix::unistd::{access, geteuid, AccessFlags};

use crate::failure::Failure;

const PROC_FILESYSTEMS: &str = "/proc/filesystems";

/// Whether a /proc/filesystems listing has `name` ("nodev\tname" or "\tname" lines).
pub fn filesystems_has(listing: &str, name: &str) -> bool {
    listing
        .lines()
        .any(|line| line.split_whitespace().last() == Some(name))
}

fn registered() -> io::Result<bool> {
    fs::read_to_string(PROC_FILESYSTEMS).map(|text| filesystems_has(&text, FS_NAME))
}

fn modprobe() -> &'static str {
    ["/sbin/modprobe", "/usr/sbin/modprobe"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("modprobe")
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "this kernel".into())
}

/// Makes sure the mxfs filesystem type is registered, running `modprobe mxfs` if it is not.
pub fn ensure_module(verbose: bool) -> Result<(), Failure> {
    if registered().unwrap_or(false) {
        return Ok(());
    }
    if !geteuid().is_root() {
        return Err(Failure::mount(
            "mxfs kernel module not loaded and only root can load it; run as root",
        ));
    }
    if verbose {
        println!(
            "mount.mxfs: filesystem type {FS_NAME} not registered; running modprobe {FS_NAME}"
        );
    }
    let missing = |detail: String| {
        Failure::mount(format!(
            "mxfs kernel module missing ({detail}); install mxfs.ko for kernel {}",
            kernel_release()
        ))
    };
    match Command::new(modprobe()).arg(FS_NAME).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr.lines().next().unwrap_or("").trim();
            return Err(missing(if first.is_empty() {
                format!("modprobe {FS_NAME} failed")
            } else {
                first.to_string()
            }));
        }
        Err(e) => return Err(missing(format!("cannot run modprobe: {e}"))),
    }
    match registered() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::mount(format!(
            "mxfs kernel module loaded but filesystem type {FS_NAME} is not registered (see dmesg)"
        ))),
        Err(e) => Err(Failure::mount(format!(
            "cannot read {PROC_FILESYSTEMS}: {e}; mount /proc"
        ))),
    }
}

/// The kernel executes `path` for every mount; without it the mount would fail with ENOPKG.
pub fn check_daemon(path: &Path) -> Result<(), Failure> {
    let is_file = fs::metadata(path).map(|m| m.is_file()).unwrap_or(false);
    if is_file && access(path, AccessFlags::X_OK).is_ok() {
        Ok(())
    } else {
        Err(Failure::mount(format!(
            "mxfsd missing: {} is not an executable file; install the mxfs tools",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn filesystems_listing_is_matched_by_whole_name() {
        let listing = "nodev\tsysfs\nnodev\ttmpfs\n\text4\n\txfs\nnodev\tmxfs\n";
        assert!(filesystems_has(listing, "mxfs"));
        assert!(filesystems_has(listing, "xfs"));
        assert!(!filesystems_has("nodev\tsysfs\n\txfs\n", "mxfs"));
        assert!(!filesystems_has("\tmxfsx\n", "mxfs"));
        assert!(!filesystems_has("", "mxfs"));
    }

    #[test]
    fn daemon_must_be_an_executable_file() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("mxfsd");

        let err = check_daemon(&bin).unwrap_err();
        assert_eq!(err.code, 32);
        assert!(err.msg.starts_with("mxfsd missing"), "{}", err.msg);

        fs::write(&bin, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_daemon(&bin).is_err(), "not executable");

        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_daemon(&bin).is_ok());

        assert!(
            check_daemon(dir.path()).is_err(),
            "a directory is not a daemon"
        );
    }
}
