//! `fsops lock`: one fcntl lock call, its outcome on stdout, then the lock held for a while,
//! so shell tests on several nodes can arrange conflicts.
//!
//!   fsops lock FILE CMD TYPE START LEN [HOLD]
//!     CMD   getlk setlk setlkw ofd-getlk ofd-setlk ofd-setlkw, or flock flock-nb (flock(2):
//!           TYPE r shared, w exclusive, u unlock; START and LEN are ignored)
//!     TYPE  r w u
//!   prints "unlocked" or "TYPE START LEN" (get), "locked" (set), or the errno name; then
//!   sleeps HOLD seconds (default 0) with the file open and exits. Exit status 0 when the
//!   call succeeded, 1 when it failed.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use crate::sys::errno_name;

pub fn run(args: &[&str]) -> Result<ExitCode, String> {
    let usage = || "usage: fsops lock FILE getlk|setlk|setlkw|ofd-getlk|ofd-setlk|ofd-setlkw|flock|flock-nb r|w|u START LEN [HOLD]".to_string();
    let (file, cmd, ty, start, len, hold) = match args {
        [f, c, t, s, l] => (*f, *c, *t, *s, *l, "0"),
        [f, c, t, s, l, h] => (*f, *c, *t, *s, *l, *h),
        _ => return Err(usage()),
    };
    let flock = match cmd {
        "flock" => Some(0),
        "flock-nb" => Some(libc::LOCK_NB),
        _ => None,
    };
    let cmd = match cmd {
        "flock" | "flock-nb" => 0,
        "getlk" => libc::F_GETLK,
        "setlk" => libc::F_SETLK,
        "setlkw" => libc::F_SETLKW,
        "ofd-getlk" => libc::F_OFD_GETLK,
        "ofd-setlk" => libc::F_OFD_SETLK,
        "ofd-setlkw" => libc::F_OFD_SETLKW,
        _ => return Err(usage()),
    };
    let l_type = match ty {
        "r" => libc::F_RDLCK,
        "w" => libc::F_WRLCK,
        "u" => libc::F_UNLCK,
        _ => return Err(usage()),
    };
    let num = |s: &str| s.parse::<i64>().map_err(|_| format!("bad number {s:?}\n{}", usage()));
    let (start, len, hold) = (num(start)?, num(len)?, num(hold)?);
    let f = OpenOptions::new().read(true).write(true).open(file).map_err(|e| format!("{file}: {e}"))?;
    // SAFETY: all-zero is a valid flock; l_pid must be 0 for OFD commands.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start;
    fl.l_len = len;
    let ok = match flock {
        Some(nb) => {
            let op = match l_type {
                libc::F_RDLCK => libc::LOCK_SH,
                libc::F_WRLCK => libc::LOCK_EX,
                _ => libc::LOCK_UN,
            };
            // SAFETY: a valid descriptor.
            unsafe { libc::flock(f.as_raw_fd(), op | nb) == 0 }
        }
        // SAFETY: a valid descriptor and flock.
        None => unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut fl as *mut libc::flock) == 0 },
    };
    let line = if !ok {
        errno_name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else if cmd == libc::F_GETLK || cmd == libc::F_OFD_GETLK {
        match fl.l_type as i32 {
            libc::F_UNLCK => "unlocked".to_string(),
            t => format!("{} {} {}", if t == libc::F_WRLCK { "w" } else { "r" }, fl.l_start, fl.l_len),
        }
    } else {
        "locked".to_string()
    };
    println!("{line}");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(hold.max(0) as u64));
    drop(f);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
