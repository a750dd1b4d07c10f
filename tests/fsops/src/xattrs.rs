//! `fsops xattr`: one extended attribute call and its outcome on stdout, for shell tests
//! (the guests' busybox has no getfattr/setfattr).
//!
//!   fsops xattr FILE get NAME            the value, or the errno name
//!   fsops xattr FILE set NAME VALUE [create|replace]
//!   fsops xattr FILE remove NAME
//!   fsops xattr FILE list                the names, sorted, space-separated
//! Exit status 0 when the call succeeded, 1 when it failed.

use std::ffi::CString;
use std::process::ExitCode;

use crate::sys::errno_name;

fn c(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} contains NUL"))
}

fn last_errno() -> String {
    errno_name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

pub fn run(args: &[&str]) -> Result<ExitCode, String> {
    let usage = || "usage: fsops xattr FILE get NAME | set NAME VALUE [create|replace] | remove NAME | list".to_string();
    let (file, rest) = args.split_first().ok_or_else(usage)?;
    let path = c(file)?;
    let mut buf = vec![0u8; 64 << 10];
    let (ok, line) = match rest {
        ["get", name] => {
            let n = c(name)?;
            // SAFETY: valid strings; the buffer holds buf.len() bytes.
            let r = unsafe { libc::getxattr(path.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 { (false, last_errno()) } else { (true, String::from_utf8_lossy(&buf[..r as usize]).into_owned()) }
        }
        ["set", name, value] | ["set", name, value, _] => {
            let flags = match rest.get(3) {
                None => 0,
                Some(&"create") => libc::XATTR_CREATE,
                Some(&"replace") => libc::XATTR_REPLACE,
                Some(_) => return Err(usage()),
            };
            let n = c(name)?;
            // SAFETY: valid strings; `value` holds value.len() bytes.
            let r = unsafe { libc::setxattr(path.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), flags) };
            if r < 0 { (false, last_errno()) } else { (true, "ok".to_string()) }
        }
        ["remove", name] => {
            let n = c(name)?;
            // SAFETY: valid strings.
            let r = unsafe { libc::removexattr(path.as_ptr(), n.as_ptr()) };
            if r < 0 { (false, last_errno()) } else { (true, "ok".to_string()) }
        }
        ["list"] => {
            // SAFETY: a valid string; the buffer holds buf.len() bytes.
            let r = unsafe { libc::listxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 {
                (false, last_errno())
            } else {
                let mut names: Vec<String> =
                    buf[..r as usize].split(|&b| b == 0).filter(|n| !n.is_empty()).map(|n| String::from_utf8_lossy(n).into_owned()).collect();
                names.sort();
                (true, names.join(" "))
            }
        }
        _ => return Err(usage()),
    };
    println!("{line}");
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
