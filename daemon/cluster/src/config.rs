//! Timing thresholds of membership and leases. They are inputs, and their order is what makes
//! fencing safe, so [`Timing::validate`] checks the order rather than trusting callers.

use crate::Time;

/// All durations in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Network heartbeat period to every known peer.
    pub heartbeat_interval: Time,
    /// Disk heartbeat period (write own slot, read all slots).
    pub disk_interval: Time,
    /// A node may hand out grants only while its own last successful disk heartbeat is younger
    /// than this. A node whose writes fail or hang therefore stops granting on its own.
    pub disk_lease: Time,
    /// A peer whose disk slot has not advanced for this long is disk-dead.
    pub disk_dead: Time,
    /// A member with no heartbeat round trip for this long is net-silent: the partition
    /// decision is taken here, and the losing side self-fences.
    pub net_silent: Time,
    /// Grants are allowed until (last acknowledged heartbeat to each member) + `lease`.
    pub lease: Time,
    /// The winning side fences a member not heard from for this long.
    pub fence_after: Time,
    /// A node without a view waits this long after start before it may found a new cluster.
    pub found_wait: Time,
    /// Retransmission timeout of the DLM's reliable channel.
    pub retransmit: Time,
}

impl Timing {
    /// Values for real hosts: disk heartbeat every 2 s as the design fixes; the margins between
    /// thresholds absorb scheduling delays and clock-rate differences between hosts.
    pub fn production() -> Timing {
        Timing {
            heartbeat_interval: 1_000,
            disk_interval: 2_000,
            disk_lease: 5_000,
            disk_dead: 7_000,
            net_silent: 12_000,
            lease: 15_000,
            fence_after: 18_000,
            found_wait: 10_000,
            retransmit: 500,
        }
    }

    /// The same ratios scaled down about tenfold so simulated runs see many failovers.
    pub fn simulation() -> Timing {
        Timing {
            heartbeat_interval: 100,
            disk_interval: 200,
            disk_lease: 500,
            disk_dead: 700,
            net_silent: 1_200,
            lease: 1_600,
            fence_after: 2_000,
            found_wait: 1_000,
            retransmit: 150,
        }
    }

    /// Checks the orderings the safety argument in `docs/cluster.md` relies on.
    pub fn validate(&self) -> Result<(), String> {
        let t = self;
        let rules: [(bool, &str); 7] = [
            (t.heartbeat_interval > 0 && t.disk_interval > 0 && t.retransmit > 0, "intervals must be > 0"),
            (t.disk_lease < t.disk_dead, "disk_lease < disk_dead: a disk-dead node has stopped granting"),
            (
                t.disk_dead + 2 * t.disk_interval < t.net_silent,
                "disk_dead + 2*disk_interval < net_silent: at the partition decision a crashed peer already looks disk-dead",
            ),
            (t.net_silent < t.lease, "net_silent < lease: the losing side self-fences before its lease ends"),
            (t.lease < t.fence_after, "lease < fence_after: a victim's lease has ended before it is fenced"),
            (t.found_wait >= t.disk_dead + t.disk_interval, "found_wait >= disk_dead + disk_interval"),
            (3 * t.heartbeat_interval <= t.net_silent, "3*heartbeat_interval <= net_silent: a lost heartbeat is no partition"),
        ];
        for (ok, why) in rules {
            if !ok {
                return Err(format!("invalid cluster timing: {why}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        Timing::production().validate().unwrap();
        Timing::simulation().validate().unwrap();
    }

    #[test]
    fn lease_longer_than_fence_is_rejected() {
        let mut t = Timing::simulation();
        t.lease = t.fence_after;
        assert!(t.validate().unwrap_err().contains("lease < fence_after"));
    }
}
