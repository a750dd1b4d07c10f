//! `-o` options: mount(8)'s generic options become MS_* flags or are dropped (they only matter
//! to mount(8) and fstab); the cluster options `lockstate=` and `peers=` go to the kernel,
//! which hands them to mxfsd; anything else is refused. The kernel also takes `mountpoint=`,
//! which is added here, never by users.

use mxfs_uapi::genl::{OPT_LOCKSTATE, OPT_MOUNTPOINT, OPT_PEERS};
use nix::mount::MsFlags;

use crate::failure::Failure;

/// Longest data string mount(2) copies (one page, NUL included).
const DATA_MAX: usize = 4095;

/// Parsed `-o` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Options meant for userspace only (`_netdev`, `nofail`, `x-*`, ...), kept for `-v`.
    pub dropped: Vec<String>,
    /// Unknown options skipped because of `-s`.
    pub ignored: Vec<String>,
    /// Cluster options for the kernel, `key=value` as given (the last of each key wins).
    pub cluster: Vec<String>,
}

impl MountOptions {
    /// The value of cluster option `key`, if given.
    pub fn cluster_value(&self, key: &str) -> Option<&str> {
        self.cluster
            .iter()
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    }
}

/// A cluster option (`lockstate=PATH[:OFFSET]`, `peers=HOST[:PORT]+...`): Ok(None) if `opt` is
/// not one.
fn cluster(opt: &str) -> Result<Option<(&str, &str)>, Failure> {
    let Some((key, value)) = opt.split_once('=') else {
        return Ok(None);
    };
    if key != OPT_LOCKSTATE && key != OPT_PEERS {
        return Ok(None);
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::mount(format!(
            "option '{key}=' needs a value without blanks"
        )));
    }
    Ok(Some((key, value)))
}

/// What one generic option does.
enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    /// Meaningful to mount(8) or fstab only.
    Drop,
}

fn generic(opt: &str) -> Option<Effect> {
    use Effect::*;
    let effect = match opt {
        "defaults" => Drop,
        // mount -o remount,ro|rw calls the helper too; the kernel re-checks mxfs options.
        "remount" => Set(MsFlags::MS_REMOUNT),
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nodev" => Set(MsFlags::MS_NODEV),
        "dev" => Clear(MsFlags::MS_NODEV),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "auto" | "noauto" | "user" | "nouser" | "users" | "nofail" | "_netdev" => Drop,
        _ if opt.starts_with("x-") || opt.starts_with("comment=") || opt.starts_with("user=") => {
            Drop
        }
        _ => return None,
    };
    Some(effect)
}

/// Parses a comma-separated option string. Later options override earlier ones (`ro,rw` is
/// read-write), as with mount(8). With `sloppy`, unknown options are skipped, not refused.
pub fn parse(options: &str, sloppy: bool) -> Result<MountOptions, Failure> {
    let mut out = MountOptions {
        flags: MsFlags::empty(),
        dropped: Vec::new(),
        ignored: Vec::new(),
        cluster: Vec::new(),
    };
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        if let Some((key, _)) = cluster(opt)? {
            out.cluster.retain(|o| o.split('=').next() != Some(key));
            out.cluster.push(opt.to_string());
            continue;
        }
        match generic(opt) {
            Some(Effect::Set(f)) => out.flags.insert(f),
            Some(Effect::Clear(f)) => out.flags.remove(f),
            Some(Effect::Drop) => out.dropped.push(opt.to_string()),
            None if sloppy => out.ignored.push(opt.to_string()),
            None if is_internal(opt) => {
                return Err(Failure::mount(format!(
                    "option '{opt}' is set by mount.mxfs itself; remove it"
                )))
            }
            None => return Err(Failure::mount(format!("unknown option '{opt}'"))),
        }
    }
    Ok(out)
}

fn is_internal(opt: &str) -> bool {
    opt.split('=').next() == Some(OPT_MOUNTPOINT)
}

/// The data string for mount(2): `mountpoint=<DIR>` and the cluster options, which mxfs.ko
/// hands to mxfsd. The kernel splits options at commas, so a DIR holding one cannot be passed.
pub fn data_string(dir: &str, cluster: &[String]) -> Result<String, Failure> {
    if dir.contains(',') {
        return Err(Failure::mount(format!(
            "mount point '{dir}' contains a comma, which mount options cannot carry; use another directory"
        )));
    }
    let mut data = format!("{OPT_MOUNTPOINT}={dir}");
    for opt in cluster {
        data.push(',');
        data.push_str(opt);
    }
    if data.len() > DATA_MAX {
        return Err(Failure::mount(format!(
            "mount point and options are {} bytes long, the limit is {}; use a shorter path",
            data.len(),
            DATA_MAX
        )));
    }
    Ok(data)
}

/// Flag names for `-v` output, in a fixed order.
pub fn flag_names(flags: MsFlags) -> Vec<&'static str> {
    let table = [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_NOATIME, "noatime"),
        (MsFlags::MS_NODIRATIME, "nodiratime"),
        (MsFlags::MS_RELATIME, "relatime"),
        (MsFlags::MS_STRICTATIME, "strictatime"),
        (MsFlags::MS_LAZYTIME, "lazytime"),
    ];
    let mut names: Vec<_> = table
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    if !flags.contains(MsFlags::MS_RDONLY) {
        names.insert(0, "rw");
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(opts: &str) -> MsFlags {
        parse(opts, false).unwrap().flags
    }

    #[test]
    fn empty_and_defaults_mean_no_flags() {
        assert_eq!(flags(""), MsFlags::empty());
        assert_eq!(flags("defaults"), MsFlags::empty());
        assert_eq!(flags(",,rw,"), MsFlags::empty());
    }

    #[test]
    fn each_generic_option_maps_to_its_flag() {
        let cases = [
            ("ro", MsFlags::MS_RDONLY),
            ("nosuid", MsFlags::MS_NOSUID),
            ("nodev", MsFlags::MS_NODEV),
            ("noexec", MsFlags::MS_NOEXEC),
            ("sync", MsFlags::MS_SYNCHRONOUS),
            ("dirsync", MsFlags::MS_DIRSYNC),
            ("noatime", MsFlags::MS_NOATIME),
            ("nodiratime", MsFlags::MS_NODIRATIME),
            ("relatime", MsFlags::MS_RELATIME),
            ("strictatime", MsFlags::MS_STRICTATIME),
            ("lazytime", MsFlags::MS_LAZYTIME),
        ];
        for (opt, flag) in cases {
            assert_eq!(flags(opt), flag, "{opt}");
        }
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert_eq!(flags("ro,rw"), MsFlags::empty());
        assert_eq!(flags("rw,ro"), MsFlags::MS_RDONLY);
        assert_eq!(
            flags("nosuid,suid,nodev,dev,noexec,exec,sync,async"),
            MsFlags::empty()
        );
        assert_eq!(
            flags("noatime,atime,nodiratime,diratime,relatime,norelatime"),
            MsFlags::empty()
        );
        assert_eq!(flags("lazytime,nolazytime"), MsFlags::empty());
        assert_eq!(
            flags("ro,noexec,nodev"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV
        );
    }

    #[test]
    fn fstab_only_options_are_dropped() {
        let o = parse("_netdev,nofail,auto,noauto,user,nouser,users,x-systemd.automount,comment=cluster,defaults", false)
            .unwrap();
        assert_eq!(o.flags, MsFlags::empty());
        assert_eq!(o.dropped.len(), 10);
        assert!(o.dropped.contains(&"x-systemd.automount".to_string()));
    }

    #[test]
    fn unknown_options_are_refused_by_name() {
        let err = parse("rw,inode64", false).unwrap_err();
        assert_eq!(err.code, 32);
        assert_eq!(err.msg, "unknown option 'inode64'");
        assert_eq!(parse("RO", false).unwrap_err().msg, "unknown option 'RO'");
    }

    #[test]
    fn sloppy_skips_unknown_options() {
        let o = parse("ro,inode64,logbsize=256k", true).unwrap();
        assert_eq!(o.flags, MsFlags::MS_RDONLY);
        assert_eq!(
            o.ignored,
            vec!["inode64".to_string(), "logbsize=256k".to_string()]
        );
    }

    #[test]
    fn users_cannot_set_the_internal_mountpoint_option() {
        let err = parse("mountpoint=/elsewhere", false).unwrap_err();
        assert_eq!(err.code, 32);
        assert!(err.msg.contains("set by mount.mxfs itself"), "{}", err.msg);
    }

    #[test]
    fn remount_is_a_flag() {
        let o = parse("remount,ro", false).unwrap();
        assert!(o.flags.contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY));
    }

    #[test]
    fn data_string_carries_the_mount_point() {
        assert_eq!(
            data_string("/mnt/shared", &[]).unwrap(),
            "mountpoint=/mnt/shared"
        );
        assert_eq!(data_string("/mnt/a=b", &[]).unwrap(), "mountpoint=/mnt/a=b");
    }

    #[test]
    fn data_string_refuses_commas_and_overlong_paths() {
        assert!(data_string("/mnt/a,b", &[])
            .unwrap_err()
            .msg
            .contains("comma"));
        let longest = format!("/{}", "d".repeat(DATA_MAX - "mountpoint=".len() - 1));
        assert_eq!(data_string(&longest, &[]).unwrap().len(), DATA_MAX);
        let too_long = format!("{longest}d");
        assert_eq!(data_string(&too_long, &[]).unwrap_err().code, 32);
    }

    #[test]
    fn cluster_options_reach_the_kernel_and_the_last_one_wins() {
        let o = parse(
            "rw,lockstate=/dev/sdb:0,peers=10.0.0.1+10.0.0.2:7601,lockstate=/dev/sdc",
            false,
        )
        .unwrap();
        assert_eq!(
            o.cluster,
            vec![
                "peers=10.0.0.1+10.0.0.2:7601".to_string(),
                "lockstate=/dev/sdc".to_string()
            ]
        );
        assert_eq!(o.cluster_value("lockstate"), Some("/dev/sdc"));
        assert_eq!(
            data_string("/mnt/s", &o.cluster).unwrap(),
            "mountpoint=/mnt/s,peers=10.0.0.1+10.0.0.2:7601,lockstate=/dev/sdc"
        );
        assert!(parse("lockstate=", false)
            .unwrap_err()
            .msg
            .contains("needs a value"));
        assert!(parse("peers=a b", false)
            .unwrap_err()
            .msg
            .contains("needs a value"));
    }

    #[test]
    fn flag_names_read_back_the_options() {
        assert_eq!(flag_names(MsFlags::empty()), vec!["rw"]);
        assert_eq!(
            flag_names(flags("ro,noatime,nodev")),
            vec!["ro", "nodev", "noatime"]
        );
    }
}
