//! The mxfsadm binary: exit codes and error lines.

use std::path::Path;
use std::process::Command;

fn mxfsadm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mxfsadm"))
        .args(args)
        .output()
        .expect("run mxfsadm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(mxfsadm(&[]).0, 2);
    assert_eq!(mxfsadm(&["status", "--bogus"]).0, 2);
}

#[test]
fn status_without_the_module_is_one_line_with_a_remedy() {
    if Path::new("/sys/module/mxfs").exists() {
        return;
    }
    for args in [&["status"][..], &["status", "--json"][..]] {
        let (code, out, err) = mxfsadm(args);
        assert_eq!(code, 1);
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("mxfsadm: the mxfs kernel module is not loaded"),
            "{err}"
        );
        assert!(err.contains("; load it with 'modprobe mxfs'"), "{err}");
    }
}
