use super::*;

#[test]
fn smoke() {
    let r = run(&SimConfig::for_seed(1));
    assert!(r.violation.is_none(), "{:?}", r.violation);
}
