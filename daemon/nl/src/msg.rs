//! The mxfs commands as bytes: requests the tools send and the replies they decode, following
//! `mxfs_uapi::genl`. Unknown attributes are skipped so a newer module can add some; missing
//! or ill-formed known ones are errors.

use mxfs_uapi::genl::{attr, cmd, FAMILY_VERSION, PATH_MAX_LEN, UUID_STR_LEN};

use crate::attr::{Attr, AttrWriter, Attrs};
use crate::error::NlError;
use crate::genlmsg;

/// One mxfs mount on this host, as reported by STATUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountStatus {
    /// XFS superblock UUID, 8-4-4-4-12 hex.
    pub volume_uuid: String,
    /// Block device the mount was made from.
    pub device: String,
    /// Mount point as mount.mxfs gave it; empty when the kernel does not know it.
    pub mountpoint: String,
    /// pid of the mount's mxfsd; 0 once it has exited.
    pub daemon_pid: u32,
    /// One of `mxfs_uapi::genl::state`.
    pub state: u32,
    /// Remote calls sent to the owner (0 from a module that does not count them).
    pub remote_calls: u64,
    /// Uses served from the lock-cache.
    pub cache_hits: u64,
}

/// Whether `s` is a UUID in the 36-character 8-4-4-4-12 hex form (either case).
pub fn is_volume_uuid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == UUID_STR_LEN
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// DAEMON_READY request for `volume_uuid`: this node's `role` (`genl::role`) and the node id
/// of the volume's owner (our own when we are the owner).
pub fn encode_daemon_ready(volume_uuid: &str, role: u32, owner_node: u32) -> Result<Vec<u8>, NlError> {
    if !is_volume_uuid(volume_uuid) {
        return Err(NlError::InvalidArgument(format!(
            "invalid volume UUID '{volume_uuid}'; expected 36 characters in 8-4-4-4-12 hex form"
        )));
    }
    if role != mxfs_uapi::genl::role::OWNER && role != mxfs_uapi::genl::role::MEMBER {
        return Err(NlError::InvalidArgument(format!("unknown role {role} for DAEMON_READY")));
    }
    let mut attrs = AttrWriter::new();
    attrs.put_str(attr::VOLUME_UUID, volume_uuid)?;
    attrs.put_u32(attr::ROLE, role)?;
    attrs.put_u32(attr::OWNER_NODE, owner_node)?;
    Ok(genlmsg::encode(
        cmd::DAEMON_READY,
        FAMILY_VERSION,
        attrs.as_bytes(),
    ))
}

/// STATUS request (no attributes).
pub fn encode_status() -> Vec<u8> {
    genlmsg::encode(cmd::STATUS, FAMILY_VERSION, &[])
}

/// Builds a STATUS reply as the kernel sends it. The tools never send one; it exists so the
/// decoder can be tested against the exact layout the contract describes.
pub fn encode_status_reply(mounts: &[MountStatus]) -> Result<Vec<u8>, NlError> {
    let mut attrs = AttrWriter::new();
    for m in mounts {
        let mut nest = AttrWriter::new();
        nest.put_str(attr::VOLUME_UUID, &m.volume_uuid)?;
        nest.put_str(attr::DEVICE, &m.device)?;
        nest.put_str(attr::MOUNTPOINT, &m.mountpoint)?;
        nest.put_u32(attr::DAEMON_PID, m.daemon_pid)?;
        nest.put_u32(attr::STATE, m.state)?;
        nest.put_u64(attr::REMOTE_CALLS, m.remote_calls)?;
        nest.put_u64(attr::CACHE_HITS, m.cache_hits)?;
        attrs.put_nested(attr::MOUNT, &nest)?;
    }
    Ok(genlmsg::encode(
        cmd::STATUS,
        FAMILY_VERSION,
        attrs.as_bytes(),
    ))
}

/// Decodes one STATUS reply payload (genl header included) into its mounts, in kernel order.
pub fn decode_status_reply(payload: &[u8]) -> Result<Vec<MountStatus>, NlError> {
    let msg = genlmsg::decode(payload)?;
    if msg.cmd != cmd::STATUS {
        return Err(NlError::Malformed(format!(
            "STATUS reply carries command {}, expected {}",
            msg.cmd,
            cmd::STATUS
        )));
    }
    let mut mounts = Vec::new();
    for a in Attrs::new(msg.attrs) {
        let a = a?;
        if a.kind == attr::MOUNT {
            mounts.push(decode_mount(&a)?);
        }
    }
    Ok(mounts)
}

/// Decodes one MOUNT nest.
fn decode_mount(nest: &Attr<'_>) -> Result<MountStatus, NlError> {
    let (mut uuid, mut device, mut mountpoint, mut pid, mut state) = (None, None, None, None, None);
    let (mut remote_calls, mut cache_hits) = (0, 0);
    for a in nest.nested_attrs() {
        let a = a?;
        // Later duplicates win, as with the kernel's nla_parse.
        match a.kind {
            attr::VOLUME_UUID => uuid = Some(a.string(UUID_STR_LEN)?),
            attr::DEVICE => device = Some(a.string(PATH_MAX_LEN)?),
            attr::MOUNTPOINT => mountpoint = Some(a.string(PATH_MAX_LEN)?),
            attr::DAEMON_PID => pid = Some(a.u32()?),
            attr::STATE => state = Some(a.u32()?),
            attr::REMOTE_CALLS => remote_calls = a.u64()?,
            attr::CACHE_HITS => cache_hits = a.u64()?,
            _ => {}
        }
    }
    let missing = |name: &str| NlError::Malformed(format!("MOUNT entry without {name}"));
    let volume_uuid = uuid.ok_or_else(|| missing("VOLUME_UUID"))?;
    if !is_volume_uuid(&volume_uuid) {
        return Err(NlError::Malformed(format!(
            "MOUNT entry has invalid VOLUME_UUID '{volume_uuid}'"
        )));
    }
    Ok(MountStatus {
        volume_uuid,
        device: device.ok_or_else(|| missing("DEVICE"))?,
        // The contract sends "" when unknown; a module that omits it means the same.
        mountpoint: mountpoint.unwrap_or_default(),
        daemon_pid: pid.ok_or_else(|| missing("DAEMON_PID"))?,
        state: state.ok_or_else(|| missing("STATE"))?,
        remote_calls,
        cache_hits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::NLA_F_NESTED;
    use mxfs_uapi::genl::{role, state};

    const UUID_A: &str = "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12";
    const UUID_B: &str = "F00DCAFE-0000-4000-8000-0123456789AB";

    fn mount(uuid: &str, mountpoint: &str, pid: u32, st: u32) -> MountStatus {
        MountStatus {
            volume_uuid: uuid.into(),
            device: "/dev/disk/by-id/wwn-0x600a0b80001".into(),
            mountpoint: mountpoint.into(),
            daemon_pid: pid,
            state: st,
            remote_calls: u64::from(pid) << 33,
            cache_hits: 7,
        }
    }

    /// A reply assembled attribute by attribute, for the cases the encoder cannot produce.
    fn reply_with_nest(build: impl FnOnce(&mut AttrWriter)) -> Vec<u8> {
        let mut nest = AttrWriter::new();
        build(&mut nest);
        let mut top = AttrWriter::new();
        top.put_nested(attr::MOUNT, &nest).unwrap();
        genlmsg::encode(cmd::STATUS, FAMILY_VERSION, top.as_bytes())
    }

    #[test]
    fn uuid_shape_check() {
        assert!(is_volume_uuid(UUID_A));
        assert!(is_volume_uuid(UUID_B));
        assert!(!is_volume_uuid(""));
        assert!(!is_volume_uuid("0b7c5a2e9f1d4c3b8a6e2d4f6a8c0e12"));
        assert!(!is_volume_uuid("0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e1"));
        assert!(!is_volume_uuid("0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e123"));
        assert!(!is_volume_uuid("0b7c5a2e-9f1d-4c3b-8a6e_2d4f6a8c0e12"));
        assert!(!is_volume_uuid("0b7c5a2g-9f1d-4c3b-8a6e-2d4f6a8c0e12"));
        assert!(!is_volume_uuid("{b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e1}"));
    }

    #[test]
    fn daemon_ready_carries_the_uuid_role_and_owner() {
        let bytes = encode_daemon_ready(UUID_A, role::MEMBER, 0x1234_5678).unwrap();
        assert_eq!(&bytes[..4], &[cmd::DAEMON_READY, FAMILY_VERSION, 0, 0]);
        let len = u16::from_ne_bytes([bytes[4], bytes[5]]);
        assert_eq!(usize::from(len), 4 + 37);
        assert_eq!(u16::from_ne_bytes([bytes[6], bytes[7]]), attr::VOLUME_UUID);
        assert_eq!(&bytes[8..8 + 37], format!("{UUID_A}\0").as_bytes());
        assert_eq!(bytes.len(), 4 + 44 + 8 + 8, "attributes padded to 4 bytes");
        let attrs: Vec<(u16, u32)> = Attrs::new(&bytes[4 + 44..]).map(|a| a.unwrap()).map(|a| (a.kind, a.u32().unwrap())).collect();
        assert_eq!(attrs, vec![(attr::ROLE, role::MEMBER), (attr::OWNER_NODE, 0x1234_5678)]);
    }

    #[test]
    fn daemon_ready_refuses_a_bad_uuid_or_role() {
        let err = encode_daemon_ready("not-a-uuid", role::OWNER, 1).unwrap_err();
        assert!(matches!(err, NlError::InvalidArgument(_)));
        assert!(err.to_string().contains("not-a-uuid"));
        assert!(encode_daemon_ready(UUID_A, 0, 1).is_err());
    }

    #[test]
    fn status_request_is_a_bare_header() {
        assert_eq!(encode_status(), vec![cmd::STATUS, FAMILY_VERSION, 0, 0]);
    }

    #[test]
    fn status_reply_round_trips() {
        let mounts = vec![
            mount(UUID_A, "/mnt/shared", 4242, state::READY),
            mount(UUID_B, "", 0, state::DEGRADED),
        ];
        let bytes = encode_status_reply(&mounts).unwrap();
        assert_eq!(decode_status_reply(&bytes).unwrap(), mounts);
    }

    #[test]
    fn empty_status_reply_means_no_mounts() {
        let bytes = encode_status_reply(&[]).unwrap();
        assert_eq!(bytes.len(), 4);
        assert!(decode_status_reply(&bytes).unwrap().is_empty());
    }

    #[test]
    fn nest_flag_is_optional_and_unknown_attributes_are_skipped() {
        let m = mount(UUID_A, "/srv", 7, state::STARTING);
        let mut bytes = encode_status_reply(std::slice::from_ref(&m)).unwrap();
        // Clear NLA_F_NESTED on the MOUNT nest (bytes 6..8 are its type).
        let raw = u16::from_ne_bytes([bytes[6], bytes[7]]);
        assert_eq!(raw, attr::MOUNT | NLA_F_NESTED);
        bytes[6..8].copy_from_slice(&attr::MOUNT.to_ne_bytes());
        // And append an attribute from a future version, top level.
        let mut extra = AttrWriter::new();
        extra.put_u32(99, 1).unwrap();
        bytes.extend_from_slice(extra.as_bytes());
        assert_eq!(decode_status_reply(&bytes).unwrap(), vec![m]);
    }

    #[test]
    fn missing_mountpoint_reads_as_unknown() {
        let bytes = reply_with_nest(|n| {
            n.put_str(attr::VOLUME_UUID, UUID_A).unwrap();
            n.put_str(attr::DEVICE, "/dev/sdb").unwrap();
            n.put_u32(attr::DAEMON_PID, 1).unwrap();
            n.put_u32(attr::STATE, state::READY).unwrap();
        });
        let mounts = decode_status_reply(&bytes).unwrap();
        assert_eq!(mounts[0].mountpoint, "");
        assert_eq!(mounts[0].device, "/dev/sdb");
    }

    #[test]
    fn missing_required_attributes_are_named() {
        let bytes = reply_with_nest(|n| {
            n.put_str(attr::VOLUME_UUID, UUID_A).unwrap();
            n.put_str(attr::DEVICE, "/dev/sdb").unwrap();
            n.put_u32(attr::STATE, state::READY).unwrap();
        });
        let err = decode_status_reply(&bytes).unwrap_err();
        assert!(err.to_string().contains("DAEMON_PID"), "{err}");

        let bytes = reply_with_nest(|n| {
            n.put_str(attr::DEVICE, "/dev/sdb").unwrap();
            n.put_u32(attr::DAEMON_PID, 1).unwrap();
            n.put_u32(attr::STATE, state::READY).unwrap();
        });
        assert!(decode_status_reply(&bytes)
            .unwrap_err()
            .to_string()
            .contains("VOLUME_UUID"));
    }

    #[test]
    fn ill_formed_values_are_rejected() {
        // u32 sent as u16.
        let bytes = reply_with_nest(|n| {
            n.put_str(attr::VOLUME_UUID, UUID_A).unwrap();
            n.put_str(attr::DEVICE, "/dev/sdb").unwrap();
            n.put_u16(attr::DAEMON_PID, 1).unwrap();
            n.put_u32(attr::STATE, 1).unwrap();
        });
        assert!(decode_status_reply(&bytes).is_err());
        // UUID of the wrong shape.
        let bytes = reply_with_nest(|n| {
            n.put_str(attr::VOLUME_UUID, "0123").unwrap();
            n.put_str(attr::DEVICE, "/dev/sdb").unwrap();
            n.put_u32(attr::DAEMON_PID, 1).unwrap();
            n.put_u32(attr::STATE, 1).unwrap();
        });
        assert!(decode_status_reply(&bytes).is_err());
        // Device string without its NUL.
        let bytes = reply_with_nest(|n| {
            n.put_str(attr::VOLUME_UUID, UUID_A).unwrap();
            n.put(attr::DEVICE, b"/dev/sdb").unwrap();
            n.put_u32(attr::DAEMON_PID, 1).unwrap();
            n.put_u32(attr::STATE, 1).unwrap();
        });
        assert!(decode_status_reply(&bytes).is_err());
        // Device path longer than PATH_MAX - 1.
        let long = "d".repeat(PATH_MAX_LEN + 1);
        let bytes = reply_with_nest(|n| {
            n.put_str(attr::VOLUME_UUID, UUID_A).unwrap();
            n.put_str(attr::DEVICE, &long).unwrap();
            n.put_u32(attr::DAEMON_PID, 1).unwrap();
            n.put_u32(attr::STATE, 1).unwrap();
        });
        assert!(decode_status_reply(&bytes).is_err());
    }

    #[test]
    fn wrong_command_in_reply_is_rejected() {
        let mut bytes = encode_status_reply(&[]).unwrap();
        bytes[0] = cmd::DAEMON_READY;
        assert!(decode_status_reply(&bytes).is_err());
    }

    #[test]
    fn every_truncated_reply_is_an_error_not_a_panic() {
        let mounts = vec![
            mount(UUID_A, "/mnt/a", 10, state::READY),
            mount(UUID_B, "/mnt/b", 11, state::STOPPING),
        ];
        let bytes = encode_status_reply(&mounts).unwrap();
        for cut in 0..bytes.len() {
            match decode_status_reply(&bytes[..cut]) {
                Err(_) => {}
                // Only a cut right after the header or right after the first nest leaves
                // whole attributes; what decodes then must be exactly that prefix.
                Ok(got) => {
                    let whole_prefix = mounts.starts_with(&got) && !got.is_empty();
                    assert!(
                        whole_prefix || (cut == 4 && got.is_empty()),
                        "cut {cut}: {got:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let mounts = vec![mount(UUID_A, "/mnt/a", 10, state::READY)];
        let bytes = encode_status_reply(&mounts).unwrap();
        // Flip every byte to a few values; decoding must return, whatever it returns.
        for i in 0..bytes.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = decode_status_reply(&b);
            }
        }
    }
}
