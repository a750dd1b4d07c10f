//! `mxfsadm status`: one row per mxfs mount on this host. Text and `--json` are rendered from
//! the same serde structs, so both always carry the same data.

use mxfs_nl::MountStatus;
use mxfs_uapi::genl::state;
use serde::Serialize;

/// One mount as shown to the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountRow {
    pub volume_uuid: String,
    pub device: String,
    /// Empty when the kernel does not know it.
    pub mountpoint: String,
    /// 0 once the daemon has exited.
    pub daemon_pid: u32,
    /// Name from `mxfs_uapi::genl::state::name`.
    pub state: &'static str,
    /// The raw state number, so an "unknown" state can still be told apart.
    pub state_code: u32,
    /// Remote calls this node sent to the owner.
    pub remote_calls: u64,
    /// Attribute and entry uses served from the lock-cache.
    pub cache_hits: u64,
}

/// The whole `status --json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub mounts: Vec<MountRow>,
}

impl From<MountStatus> for MountRow {
    fn from(m: MountStatus) -> Self {
        MountRow {
            volume_uuid: m.volume_uuid,
            device: m.device,
            mountpoint: m.mountpoint,
            daemon_pid: m.daemon_pid,
            state: state::name(m.state),
            state_code: m.state,
            remote_calls: m.remote_calls,
            cache_hits: m.cache_hits,
        }
    }
}

impl StatusReport {
    pub fn new(mounts: Vec<MountStatus>) -> Self {
        StatusReport {
            mounts: mounts.into_iter().map(MountRow::from).collect(),
        }
    }

    /// `--json` output, newline-terminated.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }

    /// Aligned text table, newline-terminated; a single sentence when there are no mounts.
    pub fn to_table(&self) -> String {
        if self.mounts.is_empty() {
            return "no mxfs mounts\n".into();
        }
        let header = ["VOLUME", "DEVICE", "MOUNTPOINT", "DAEMON-PID", "STATE"].map(String::from);
        let rows: Vec<[String; 5]> = self
            .mounts
            .iter()
            .map(|m| {
                [
                    m.volume_uuid.clone(),
                    m.device.clone(),
                    dash_if_empty(&m.mountpoint),
                    if m.daemon_pid == 0 {
                        "-".into()
                    } else {
                        m.daemon_pid.to_string()
                    },
                    m.state.to_string(),
                ]
            })
            .collect();
        let mut widths = header.clone().map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn dash_if_empty(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<MountStatus> {
        vec![
            MountStatus {
                volume_uuid: "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12".into(),
                device: "/dev/disk/by-id/wwn-0x600a0b80001".into(),
                mountpoint: "/mnt/shared".into(),
                daemon_pid: 812,
                state: state::READY,
                remote_calls: 1234,
                cache_hits: 5678,
            },
            MountStatus {
                volume_uuid: "f00dcafe-0000-4000-8000-0123456789ab".into(),
                device: "/dev/vdb".into(),
                mountpoint: String::new(),
                daemon_pid: 0,
                state: state::DEGRADED,
                remote_calls: 0,
                cache_hits: 0,
            },
        ]
    }

    #[test]
    fn table_has_a_header_and_aligned_rows() {
        let text = StatusReport::new(sample()).to_table();
        let expected = "\
VOLUME                                DEVICE                             MOUNTPOINT   DAEMON-PID  STATE
0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12  /dev/disk/by-id/wwn-0x600a0b80001  /mnt/shared  812         ready
f00dcafe-0000-4000-8000-0123456789ab  /dev/vdb                           -            -           degraded
";
        assert_eq!(text, expected);
    }

    #[test]
    fn no_mounts_is_said_in_words() {
        assert_eq!(StatusReport::new(vec![]).to_table(), "no mxfs mounts\n");
    }

    #[test]
    fn json_carries_the_same_rows() {
        let json: serde_json::Value =
            serde_json::from_str(&StatusReport::new(sample()).to_json()).unwrap();
        let mounts = json["mounts"].as_array().unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(
            mounts[0]["volume_uuid"],
            "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12"
        );
        assert_eq!(mounts[0]["device"], "/dev/disk/by-id/wwn-0x600a0b80001");
        assert_eq!(mounts[0]["mountpoint"], "/mnt/shared");
        assert_eq!(mounts[0]["daemon_pid"], 812);
        assert_eq!(mounts[0]["state"], "ready");
        assert_eq!(mounts[0]["state_code"], state::READY);
        assert_eq!(mounts[0]["remote_calls"], 1234);
        assert_eq!(mounts[0]["cache_hits"], 5678);
        assert_eq!(mounts[1]["mountpoint"], "");
        assert_eq!(mounts[1]["daemon_pid"], 0);
        assert_eq!(mounts[1]["state"], "degraded");
    }

    #[test]
    fn empty_json_is_an_empty_list() {
        let json: serde_json::Value =
            serde_json::from_str(&StatusReport::new(vec![]).to_json()).unwrap();
        assert_eq!(json, serde_json::json!({ "mounts": [] }));
    }

    #[test]
    fn unknown_state_keeps_its_number() {
        let mut m = sample();
        m[0].state = 42;
        let row = MountRow::from(m.remove(0));
        assert_eq!((row.state, row.state_code), ("unknown", 42));
    }
}
