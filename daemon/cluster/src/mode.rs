//! Lock modes and the standard VMS/DLM compatibility matrix.
//!
//! | held \ wanted | NL | CR | CW | PR | PW | EX |
//! |---------------|----|----|----|----|----|----|
//! | NL            | y  | y  | y  | y  | y  | y  |
//! | CR            | y  | y  | y  | y  | y  | n  |
//! | CW            | y  | y  | y  | n  | n  | n  |
//! | PR            | y  | y  | n  | y  | n  | n  |
//! | PW            | y  | y  | n  | n  | n  | n  |
//! | EX            | y  | n  | n  | n  | n  | n  |
//!
//! Modes are also ordered by what they allow: NL < CR < CW < PW < EX and CR < PR < PW. CW and
//! PR are incomparable (concurrent writers vs. protected readers); the least mode covering both
//! is PW. "Covers" is what makes cached locks free: a holder of PW needs no message to serve a
//! local PR or CW request.

/// A DLM lock mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Null: holds a reference, grants nothing, compatible with everything.
    NL = 0,
    /// Concurrent read.
    CR = 1,
    /// Concurrent write.
    CW = 2,
    /// Protected read (shared).
    PR = 3,
    /// Protected write (update).
    PW = 4,
    /// Exclusive.
    EX = 5,
}

/// Rows: held mode, columns: requested mode, in `Mode` discriminant order.
const COMPAT: [[bool; 6]; 6] = [
    // NL    CR     CW     PR     PW     EX
    [true, true, true, true, true, true],      // NL
    [true, true, true, true, true, false],     // CR
    [true, true, true, false, false, false],   // CW
    [true, true, false, true, false, false],   // PR
    [true, true, false, false, false, false],  // PW
    [true, false, false, false, false, false], // EX
];

/// `COVERS[a][b]`: holding `a` gives at least the rights of `b`.
const COVERS: [[bool; 6]; 6] = [
    // NL    CR     CW     PR     PW     EX
    [true, false, false, false, false, false], // NL
    [true, true, false, false, false, false],  // CR
    [true, true, true, false, false, false],   // CW
    [true, true, false, true, false, false],   // PR
    [true, true, true, true, true, false],     // PW
    [true, true, true, true, true, true],      // EX
];

impl Mode {
    /// Every mode, weakest first; also a linear extension of the "covers" order.
    pub const ALL: [Mode; 6] = [Mode::NL, Mode::CR, Mode::CW, Mode::PR, Mode::PW, Mode::EX];

    /// Can one node hold `self` while another holds `other`? The matrix is symmetric.
    pub fn compatible(self, other: Mode) -> bool {
        COMPAT[self as usize][other as usize]
    }

    /// Does holding `self` satisfy a request for `wanted` without asking the master?
    pub fn covers(self, wanted: Mode) -> bool {
        COVERS[self as usize][wanted as usize]
    }

    /// The weakest mode that covers both; what a holder converts to when a local request
    /// needs more than it holds (PR held + CW wanted -> PW).
    pub fn join(self, other: Mode) -> Mode {
        // ALL is weakest first and the order has unique joins, so the first hit is the least.
        for m in Mode::ALL {
            if m.covers(self) && m.covers(other) {
                return m;
            }
        }
        Mode::EX
    }

    /// The strongest mode covered by `self` that is compatible with `blocking`: what a holder
    /// down-converts to on a blocking callback if it wants to keep as much cache as allowed.
    pub fn strongest_compatible_below(self, blocking: Mode) -> Mode {
        for m in Mode::ALL.iter().rev() {
            if self.covers(*m) && m.compatible(blocking) {
                return *m;
            }
        }
        Mode::NL
    }

    /// Short upper-case name, as admins know them.
    pub fn name(self) -> &'static str {
        match self {
            Mode::NL => "NL",
            Mode::CR => "CR",
            Mode::CW => "CW",
            Mode::PR => "PR",
            Mode::PW => "PW",
            Mode::EX => "EX",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Mode::{self, *};

    #[test]
    fn matrix_matches_the_vms_table() {
        let expect_incompatible = [
            (CR, EX),
            (CW, PR),
            (CW, PW),
            (CW, EX),
            (PR, CW),
            (PR, PW),
            (PR, EX),
            (PW, CW),
            (PW, PR),
            (PW, PW),
            (PW, EX),
            (EX, CR),
            (EX, CW),
            (EX, PR),
            (EX, PW),
            (EX, EX),
        ];
        for a in Mode::ALL {
            for b in Mode::ALL {
                let want = !expect_incompatible.contains(&(a, b));
                assert_eq!(a.compatible(b), want, "{a} vs {b}");
                assert_eq!(a.compatible(b), b.compatible(a), "symmetry {a} {b}");
            }
        }
    }

    #[test]
    fn covers_is_a_partial_order() {
        for a in Mode::ALL {
            assert!(a.covers(a));
            assert!(a.covers(NL));
            assert!(EX.covers(a));
            for b in Mode::ALL {
                if a != b && a.covers(b) {
                    assert!(!b.covers(a), "antisymmetry {a} {b}");
                }
                for c in Mode::ALL {
                    if a.covers(b) && b.covers(c) {
                        assert!(a.covers(c), "transitivity {a} {b} {c}");
                    }
                }
            }
        }
        assert!(!CW.covers(PR) && !PR.covers(CW));
    }

    #[test]
    fn a_stronger_mode_conflicts_with_at_least_as_much() {
        // If a covers b, anything incompatible with b is incompatible with a: this is what
        // makes "the holder may serve covered requests locally" safe.
        for a in Mode::ALL {
            for b in Mode::ALL {
                if a.covers(b) {
                    for c in Mode::ALL {
                        if !b.compatible(c) {
                            assert!(!a.compatible(c), "{a} covers {b} but not conflicts {c}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn join_and_downconvert() {
        assert_eq!(PR.join(CW), PW);
        assert_eq!(CR.join(PR), PR);
        assert_eq!(NL.join(EX), EX);
        assert_eq!(PW.join(PR), PW);
        for a in Mode::ALL {
            for b in Mode::ALL {
                let j = a.join(b);
                assert!(j.covers(a) && j.covers(b));
            }
        }
        assert_eq!(EX.strongest_compatible_below(PR), PR);
        assert_eq!(EX.strongest_compatible_below(CW), CW);
        assert_eq!(PR.strongest_compatible_below(EX), NL);
        assert_eq!(PW.strongest_compatible_below(CW), CW);
        assert_eq!(PW.strongest_compatible_below(PR), PR);
        assert_eq!(PW.strongest_compatible_below(EX), NL);
        for a in Mode::ALL {
            for b in Mode::ALL {
                let d = a.strongest_compatible_below(b);
                assert!(a.covers(d) && d.compatible(b));
            }
        }
    }
}
