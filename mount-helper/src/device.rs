//! The device behind SPEC: resolve tags, require a block device, prefer its stable
//! `/dev/disk/by-id` name (every host of a cluster sees the same WWN, rarely the same sdX), and
//! check it holds XFS.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::failure::Failure;

/// udev's persistent names by hardware identity.
pub const BY_ID: &str = "/dev/disk/by-id";
const BY_UUID: &str = "/dev/disk/by-uuid";
const BY_LABEL: &str = "/dev/disk/by-label";

/// XFS superblock magic, first four bytes of the device.
const XFS_MAGIC: &[u8; 4] = b"XFSB";
/// Offset of `sb_uuid` in the XFS superblock.
const XFS_UUID_OFFSET: usize = 32;
/// Bytes of the superblock we read: magic through `sb_uuid`.
pub const XFS_SB_PREFIX: usize = XFS_UUID_OFFSET + 16;

/// The path SPEC names: `UUID=`/`LABEL=` become udev links, anything else is a path.
pub fn spec_path(spec: &str) -> Result<PathBuf, Failure> {
    let tag = |prefix: &str| spec.strip_prefix(prefix).map(|v| v.trim_matches('"'));
    if let Some(uuid) = tag("UUID=") {
        if uuid.is_empty() || uuid.contains('/') {
            return Err(Failure::mount(format!("{spec}: no such device")));
        }
        // blkid reports XFS UUIDs in lower case, and udev names the links after it.
        return Ok(Path::new(BY_UUID).join(uuid.to_ascii_lowercase()));
    }
    if let Some(label) = tag("LABEL=") {
        if label.is_empty() {
            return Err(Failure::mount(format!("{spec}: no such device")));
        }
        return Ok(Path::new(BY_LABEL).join(udev_encode(label)));
    }
    Ok(PathBuf::from(spec))
}

/// udev's encoding of a label in a link name: bytes outside `[A-Za-z0-9#+-.:=@_]` (and
/// outside multi-byte UTF-8) become `\xHH`, so "my vol" is `my\x20vol`.
pub fn udev_encode(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) || !c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
    }
    out
}

/// Metadata of the block device at `path` (symlinks followed), or the "no such device" failure.
pub fn block_device(spec: &str, path: &Path) -> Result<Metadata, Failure> {
    match fs::metadata(path) {
        Ok(m) if m.file_type().is_block_device() => Ok(m),
        Ok(_) => Err(Failure::mount(format!(
            "{spec}: no such device (not a block device)"
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(Failure::mount(format!("{spec}: no such device")))
        }
        Err(e) => Err(Failure::mount(format!(
            "{spec}: cannot look up the device: {e}"
        ))),
    }
}

/// Whether two metadata describe the same device node (same kind and device number).
fn same_node(a: &Metadata, b: &Metadata) -> bool {
    let (ta, tb) = (a.file_type(), b.file_type());
    let same_kind = (ta.is_block_device() && tb.is_block_device())
        || (ta.is_char_device() && tb.is_char_device());
    same_kind && a.rdev() == b.rdev()
}

/// Names of the entries of `dir` that resolve to the device node `dev`. A missing or
/// unreadable directory (no udev, as in an initramfs) yields none.
pub fn aliases_in(dir: &Path, dev: &Metadata) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            fs::metadata(e.path())
                .map(|m| same_node(&m, dev))
                .unwrap_or(false)
        })
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// The preferred stable name among by-id aliases: a `wwn-*` name (the storage's own world
/// wide name, the same on every host), else the first other name in sorted order.
pub fn pick_stable(names: &[String]) -> Option<&String> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .find(|n| n.starts_with("wwn-"))
        .or_else(|| sorted.first())
        .copied()
}

/// The path to mount from: the preferred `/dev/disk/by-id` alias of `dev`, else `given`.
pub fn stable_path(by_id: &Path, dev: &Metadata, given: &Path) -> PathBuf {
    match pick_stable(&aliases_in(by_id, dev)) {
        Some(name) => by_id.join(name),
        None => given.to_path_buf(),
    }
}

/// The volume UUID (8-4-4-4-12) when `sb` starts an XFS superblock, else `None`.
pub fn xfs_uuid(sb: &[u8]) -> Option<String> {
    if sb.len() < XFS_SB_PREFIX || &sb[..4] != XFS_MAGIC {
        return None;
    }
    let u = &sb[XFS_UUID_OFFSET..XFS_SB_PREFIX];
    let hex =
        |r: std::ops::Range<usize>| u[r].iter().map(|b| format!("{b:02x}")).collect::<String>();
    Some(format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    ))
}

/// Reads the start of the superblock of `path` and returns the XFS UUID. Errors name the
/// device as the user gave it (`spec`), which may differ from the by-id path read.
pub fn read_xfs_uuid(spec: &str, path: &Path) -> Result<String, Failure> {
    let mut sb = Vec::with_capacity(XFS_SB_PREFIX);
    // A device shorter than the prefix just yields fewer bytes, which xfs_uuid refuses.
    let read = File::open(path).and_then(|f| f.take(XFS_SB_PREFIX as u64).read_to_end(&mut sb));
    match read {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(Failure::mount(format!(
                "cannot read {spec}: {e}; run as root"
            )))
        }
        Err(e) => return Err(Failure::mount(format!("cannot read {spec}: {e}"))),
    }
    xfs_uuid(&sb).ok_or_else(|| {
        Failure::mount(format!(
            "{spec}: not an XFS filesystem (run mkfs.xfs first)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tags_map_to_udev_links() {
        assert_eq!(spec_path("/dev/sdb").unwrap(), PathBuf::from("/dev/sdb"));
        assert_eq!(
            spec_path("UUID=0B7C5A2E-9F1D-4C3B-8A6E-2D4F6A8C0E12").unwrap(),
            PathBuf::from("/dev/disk/by-uuid/0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12")
        );
        assert_eq!(
            spec_path("UUID=\"abc\"").unwrap(),
            PathBuf::from("/dev/disk/by-uuid/abc")
        );
        assert_eq!(
            spec_path("LABEL=vms").unwrap(),
            PathBuf::from("/dev/disk/by-label/vms")
        );
        assert_eq!(
            spec_path("LABEL=my vol/1").unwrap(),
            PathBuf::from("/dev/disk/by-label/my\\x20vol\\x2f1")
        );
    }

    #[test]
    fn empty_or_escaping_tags_are_no_such_device() {
        for spec in ["UUID=", "LABEL=", "UUID=../../sda"] {
            let err = spec_path(spec).unwrap_err();
            assert_eq!(err.code, 32);
            assert!(err.msg.ends_with("no such device"), "{}", err.msg);
        }
    }

    #[test]
    fn udev_encoding_matches_udev() {
        assert_eq!(
            udev_encode("data_01-a.b:c=d@e#f+g"),
            "data_01-a.b:c=d@e#f+g"
        );
        assert_eq!(udev_encode("a b"), "a\\x20b");
        assert_eq!(udev_encode("a\\b"), "a\\x5cb");
        assert_eq!(udev_encode("vol/é"), "vol\\x2fé");
    }

    #[test]
    fn wwn_names_win_then_sorted_order() {
        let list = names(&[
            "scsi-3600a0b80001",
            "wwn-0x600a0b80001",
            "ata-DISK_123",
            "wwn-0x500a0b80001",
        ]);
        assert_eq!(pick_stable(&list).unwrap(), "wwn-0x500a0b80001");
        let list = names(&["virtio-abc", "scsi-0QEMU_disk", "nvme-eui.0025"]);
        assert_eq!(pick_stable(&list).unwrap(), "nvme-eui.0025");
        assert_eq!(pick_stable(&[]), None);
    }

    #[test]
    fn xfs_superblock_gives_the_uuid() {
        let mut sb = [0u8; 512];
        sb[..4].copy_from_slice(b"XFSB");
        sb[32..48].copy_from_slice(&[
            0x0b, 0x7c, 0x5a, 0x2e, 0x9f, 0x1d, 0x4c, 0x3b, 0x8a, 0x6e, 0x2d, 0x4f, 0x6a, 0x8c,
            0x0e, 0x12,
        ]);
        assert_eq!(
            xfs_uuid(&sb).as_deref(),
            Some("0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12")
        );
    }

    #[test]
    fn other_data_is_not_xfs() {
        let mut sb = [0u8; 512];
        assert_eq!(xfs_uuid(&sb), None);
        sb[..4].copy_from_slice(b"XFSC");
        assert_eq!(xfs_uuid(&sb), None);
        sb[..4].copy_from_slice(b"XFSB");
        assert_eq!(xfs_uuid(&sb[..47]), None, "too short to hold the UUID");
    }

    #[test]
    fn reading_a_file_checks_the_magic() {
        let dir = tempfile::tempdir().unwrap();
        let xfs = dir.path().join("xfs.img");
        let mut sb = vec![0u8; 4096];
        sb[..4].copy_from_slice(b"XFSB");
        sb[32] = 0xab;
        fs::write(&xfs, &sb).unwrap();
        assert!(read_xfs_uuid("xfs", &xfs).unwrap().starts_with("ab000000-"));

        let ext4 = dir.path().join("ext4.img");
        fs::write(&ext4, vec![0u8; 4096]).unwrap();
        let err = read_xfs_uuid("ext4", &ext4).unwrap_err();
        assert_eq!(err.code, 32);
        assert_eq!(err.msg, "ext4: not an XFS filesystem (run mkfs.xfs first)");

        let tiny = dir.path().join("tiny.img");
        fs::write(&tiny, b"XFSB").unwrap();
        assert!(
            read_xfs_uuid("tiny", &tiny).is_err(),
            "a 4-byte file holds no superblock"
        );
    }

    #[test]
    fn missing_paths_and_non_block_files_are_no_such_device() {
        let dir = tempfile::tempdir().unwrap();
        let err = block_device("/nope", &dir.path().join("nope")).unwrap_err();
        assert_eq!((err.code, err.msg.as_str()), (32, "/nope: no such device"));

        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = block_device("f", &file).unwrap_err();
        assert_eq!(err.msg, "f: no such device (not a block device)");
        let err = block_device("null", Path::new("/dev/null")).unwrap_err();
        assert_eq!(err.msg, "null: no such device (not a block device)");
    }

    #[test]
    fn aliases_are_links_to_the_same_device_node() {
        // Character devices stand in for block ones: the match is on node kind and number.
        let dir = tempfile::tempdir().unwrap();
        symlink("/dev/null", dir.path().join("wwn-0x5000")).unwrap();
        symlink("/dev/null", dir.path().join("ata-DISK")).unwrap();
        symlink("/dev/zero", dir.path().join("wwn-0x4000")).unwrap();
        symlink("/nonexistent", dir.path().join("wwn-0x3000")).unwrap();
        fs::write(dir.path().join("plain"), b"").unwrap();

        let null = fs::metadata("/dev/null").unwrap();
        let mut found = aliases_in(dir.path(), &null);
        found.sort();
        assert_eq!(found, names(&["ata-DISK", "wwn-0x5000"]));
        assert_eq!(
            stable_path(dir.path(), &null, Path::new("/dev/null")),
            dir.path().join("wwn-0x5000")
        );

        let zero = fs::metadata("/dev/zero").unwrap();
        assert_eq!(
            stable_path(dir.path(), &zero, Path::new("/dev/zero")),
            dir.path().join("wwn-0x4000")
        );
    }

    #[test]
    fn without_by_id_the_given_path_is_kept() {
        let null = fs::metadata("/dev/null").unwrap();
        let given = Path::new("/dev/null");
        assert_eq!(
            stable_path(Path::new("/nonexistent/by-id"), &null, given),
            given
        );
    }
}

/// `lockstate=PATH[:OFFSET]` must name an existing file or block device (mxfsd checks the
/// content; here the operator gets the plain "not there" error before anything starts).
pub fn check_lockstate(value: &str) -> Result<(), Failure> {
    let path = match value.rsplit_once(':') {
        Some((p, off))
            if !p.is_empty() && !off.is_empty() && off.bytes().all(|b| b.is_ascii_digit()) =>
        {
            p
        }
        _ => value,
    };
    match fs::metadata(path) {
        Ok(m) if m.is_file() || m.file_type().is_block_device() => Ok(()),
        Ok(_) => Err(Failure::mount(format!(
            "lockstate {path} is neither a file nor a block device"
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Failure::mount(format!(
            "lockstate {path}: no such file or device"
        ))),
        Err(e) => Err(Failure::mount(format!(
            "cannot check lockstate {path}: {e}"
        ))),
    }
}
