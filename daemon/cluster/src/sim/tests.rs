//! The simulation as a test: a few hundred seeds must pass, a seed must replay exactly, and
//! every deliberately injected bug must be caught (a checker that cannot fail proves nothing).

use super::*;

fn run_range(seeds: std::ops::Range<u64>, tweak: impl Fn(&mut SimConfig)) -> Vec<SimReport> {
    seeds
        .map(|s| {
            let mut cfg = SimConfig::for_seed(s);
            tweak(&mut cfg);
            run(&cfg)
        })
        .collect()
}

fn assert_all_pass(reports: &[SimReport]) {
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            r.violation
                .as_ref()
                .map(|v| format!("seed {}: {v}", r.seed))
        })
        .collect();
    println!(
        "SIMULATION seeds={} failures={}",
        reports.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "replay with mxfs-sim --seed N --verbose:\n{}",
        failed.join("\n")
    );
}

// 500 seeds in four tests so the test harness spreads them over the cores.
#[test]
fn seeds_0_to_125_pass() {
    assert_all_pass(&run_range(0..125, |_| {}));
}

#[test]
fn seeds_125_to_250_pass() {
    assert_all_pass(&run_range(125..250, |_| {}));
}

#[test]
fn seeds_250_to_375_pass() {
    assert_all_pass(&run_range(250..375, |_| {}));
}

#[test]
fn seeds_375_to_500_pass() {
    assert_all_pass(&run_range(375..500, |_| {}));
}

#[test]
fn two_node_clusters_pass() {
    // The 2-node case is where every partition is a tie; give it extra seeds.
    assert_all_pass(&run_range(10_000..10_060, |c| c.nodes = 2));
}

#[test]
fn a_seed_replays_exactly() {
    let mut cfg = SimConfig::for_seed(42);
    cfg.trace = true;
    let a = run(&cfg);
    let b = run(&cfg);
    assert!(!a.trace.is_empty());
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.stats, b.stats);
    assert_eq!(a.violation, b.violation);
    // The run did real work: failovers, grants from cache and from masters.
    assert!(a.stats.views > 1 && a.stats.grants > 10, "{:?}", a.stats);
}

fn first_violation(seeds: std::ops::Range<u64>, bug: Bug) -> String {
    for s in seeds.clone() {
        let mut cfg = SimConfig::for_seed(s);
        cfg.bug = Some(bug);
        if let Some(v) = run(&cfg).violation {
            return v;
        }
    }
    panic!("{bug:?} went unnoticed over seeds {seeds:?}");
}

#[test]
fn checker_catches_a_master_that_ignores_compatibility() {
    let v = first_violation(0..20, Bug::IgnoreCompat);
    assert!(v.contains("incompatible grants"), "{v}");
}

#[test]
fn checker_catches_grants_without_a_lease() {
    let v = first_violation(0..400, Bug::IgnoreLease);
    assert!(v.contains("grant to fenced node"), "{v}");
}

#[test]
fn checker_catches_granting_before_recovery_completes() {
    let v = first_violation(0..20, Bug::SkipRecoveryWait);
    assert!(v.contains("incompatible grants"), "{v}");
}

#[test]
fn checker_catches_a_hang() {
    let v = first_violation(0..20, Bug::DropBasts);
    assert!(v.contains("hang"), "{v}");
}
