//! The mxfsd binary as the kernel runs it: exit codes and the one-line errors.

use std::path::Path;
use std::process::Command;

const UUID: &str = "0b7c5a2e-9f1d-4c3b-8a6e-2d4f6a8c0e12";

fn mxfsd(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mxfsd"))
        .args(args)
        .output()
        .expect("run mxfsd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_uuid_exits_2_with_one_line() {
    let (code, err) = mxfsd(&[
        "--device",
        "/dev/sdb",
        "--mountpoint",
        "/mnt",
        "--uuid",
        "1234",
    ]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("mxfsd: invalid arguments: --uuid '1234'"),
        "{err}"
    );
}

#[test]
fn missing_arguments_exit_2() {
    let (code, err) = mxfsd(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("--device") && err.contains("--uuid"), "{err}");
}

#[test]
fn without_the_module_it_exits_1_saying_so() {
    if Path::new("/sys/module/mxfs").exists() {
        // With the module loaded the kernel would refuse DAEMON_READY from a process it did
        // not spawn; that path is covered by the VM tests.
        return;
    }
    let (code, err) = mxfsd(&["--device", "/dev/sdb", "--mountpoint", "", "--uuid", UUID]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "volume {UUID} on /dev/sdb at (unknown mount point)"
        )),
        "{err}"
    );
    assert!(err.contains("mxfs kernel module is not loaded"), "{err}");
}
