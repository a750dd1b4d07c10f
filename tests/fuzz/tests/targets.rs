//! Every fuzz target accepts its seeds and survives a fixed run of mutations (the quick
//! version of `mxfs-fuzz`, so `cargo test` exercises every decoder with malformed input).

use mxfs_fuzz::mutate::{mutate, Rng};
use mxfs_fuzz::{seeds, Outcome, TARGETS};

#[test]
fn seeds_are_accepted() {
    for t in TARGETS {
        let corpus = seeds::for_target(t.name);
        assert!(!corpus.is_empty(), "{} has no seeds", t.name);
        for s in &corpus {
            assert_eq!((t.run)(s), Outcome::Accepted, "{} rejected a seed", t.name);
        }
    }
}

#[test]
fn mutations_are_rejected_or_round_trip() {
    for (k, t) in TARGETS.iter().enumerate() {
        let corpus = seeds::for_target(t.name);
        let mut rng = Rng::new(0x5eed ^ k as u64);
        let mut accepted = 0;
        for _ in 0..3000 {
            if (t.run)(&mutate(&mut rng, &corpus)) == Outcome::Accepted {
                accepted += 1;
            }
        }
        println!("FUZZ target={} execs=3000 accepted={accepted}", t.name);
        assert!(accepted > 0, "{}: no mutation got past the decoder, the fixups are not working", t.name);
    }
}
