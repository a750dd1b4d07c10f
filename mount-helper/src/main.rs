//! mount.mxfs, the mount(8) helper for `mount -t mxfs SPEC DIR`.
//!
//! It finds the device's stable name, checks what the kernel would otherwise fail on with a
//! bare errno (device is XFS, module loadable, mxfsd installed), explains any failure in one
//! line, then calls mount(2). Exit codes follow mount(8): 0 mounted, 1 usage, 32 mount failure.

mod cli;
mod device;
mod failure;
mod options;
mod prereq;

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::process::ExitCode;

use mxfs_uapi::genl::{DAEMON_PATH, FS_NAME};
use nix::mount::mount;
use nix::sched::{setns, CloneFlags};

use cli::{Invocation, Parsed};
use failure::{mount_errno_message, strerror, Failure};

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let result = match args {
        Err(_) => Err(Failure::usage("arguments must be valid UTF-8")),
        Ok(args) => match cli::parse(args) {
            Ok(Parsed::Help) => {
                println!("{}", cli::USAGE);
                Ok(())
            }
            Ok(Parsed::Mount(inv)) => run(&inv),
            Err(f) => Err(f),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("mount.mxfs: {f}");
            ExitCode::from(f.code)
        }
    }
}

/// Side-effect-free checks first (options, mount point, device), then the ones that may load
/// a module, then mount(2).
fn run(inv: &Invocation) -> Result<(), Failure> {
    if let Some(ns) = &inv.namespace {
        enter_namespace(ns)?;
    }
    let opts = options::parse(&inv.options, inv.sloppy)?;
    let dir = mount_point(&inv.dir)?;
    let data = options::data_string(&dir, &opts.cluster)?;
    if let Some(l) = opts.cluster_value(mxfs_uapi::genl::OPT_LOCKSTATE) {
        device::check_lockstate(l)?;
    }

    let given = device::spec_path(&inv.spec)?;
    let dev = device::block_device(&inv.spec, &given)?;
    let source = device::stable_path(Path::new(device::BY_ID), &dev, &given);
    let uuid = device::read_xfs_uuid(&inv.spec, &source)?;
    if inv.verbose {
        let real = fs::canonicalize(&source).unwrap_or_else(|_| source.clone());
        println!(
            "mount.mxfs: device {} ({}), XFS UUID {uuid}",
            source.display(),
            real.display()
        );
    }

    prereq::ensure_module(inv.verbose)?;
    prereq::check_daemon(Path::new(DAEMON_PATH))?;

    if inv.verbose {
        for opt in &opts.dropped {
            println!("mount.mxfs: option '{opt}' is for mount(8) only, not passed to the kernel");
        }
        for opt in &opts.ignored {
            println!("mount.mxfs: ignoring unknown option '{opt}' (-s)");
        }
        println!(
            "mount.mxfs: mounting {} on {dir} type {FS_NAME} ({},{data})",
            source.display(),
            options::flag_names(opts.flags).join(",")
        );
    }
    if inv.fake {
        if inv.verbose {
            println!("mount.mxfs: -f given, not calling mount(2)");
        }
        return Ok(());
    }
    mount(
        Some(&source),
        dir.as_str(),
        Some(FS_NAME),
        opts.flags,
        Some(data.as_str()),
    )
    .map_err(|errno| Failure::mount(mount_errno_message(errno)))
}

/// The canonical mount point, which must be an existing directory. mxfsd gets this path, so it
/// must be absolute and free of symlinks.
fn mount_point(dir: &str) -> Result<String, Failure> {
    let canonical = fs::canonicalize(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Failure::mount(format!("mount point {dir} does not exist")),
        _ => Failure::mount(format!("mount point {dir}: {e}")),
    })?;
    if !canonical.is_dir() {
        return Err(Failure::mount(format!(
            "mount point {dir} is not a directory"
        )));
    }
    canonical.into_os_string().into_string().map_err(|_| {
        Failure::mount(format!(
            "mount point {dir} resolves to a path that is not valid UTF-8"
        ))
    })
}

/// `-N`: mount inside another mount namespace, given as a pid or a namespace file.
fn enter_namespace(ns: &str) -> Result<(), Failure> {
    let path = if !ns.is_empty() && ns.bytes().all(|b| b.is_ascii_digit()) {
        format!("/proc/{ns}/ns/mnt")
    } else {
        ns.to_string()
    };
    let file = File::open(&path)
        .map_err(|e| Failure::mount(format!("cannot open mount namespace {path}: {e}")))?;
    setns(&file, CloneFlags::CLONE_NEWNS).map_err(|e| {
        Failure::mount(format!(
            "cannot enter mount namespace {path}: {}",
            strerror(e)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_point_is_canonical_and_must_be_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(dir.path()).unwrap();
        let sub = real.join("m");
        fs::create_dir(&sub).unwrap();
        let dotted = format!("{}/./m/../m", real.display());
        assert_eq!(mount_point(&dotted).unwrap(), sub.to_str().unwrap());

        let missing = format!("{}/absent", real.display());
        let err = mount_point(&missing).unwrap_err();
        assert_eq!(
            (err.code, err.msg),
            (32, format!("mount point {missing} does not exist"))
        );

        let file = real.join("f");
        fs::write(&file, b"").unwrap();
        let err = mount_point(file.to_str().unwrap()).unwrap_err();
        assert!(err.msg.ends_with("is not a directory"), "{}", err.msg);
    }

    #[test]
    fn bad_namespace_is_a_mount_failure() {
        let err = enter_namespace("/nonexistent/ns").unwrap_err();
        assert_eq!(err.code, 32);
        assert!(
            err.msg
                .starts_with("cannot open mount namespace /nonexistent/ns"),
            "{}",
            err.msg
        );
        let err = enter_namespace("999999999").unwrap_err();
        assert!(err.msg.contains("/proc/999999999/ns/mnt"), "{}", err.msg);
    }
}
