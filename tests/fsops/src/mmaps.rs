//! `fsops mmap`: maps a whole file and reports what the mapping shows, for shell tests.
//!
//!   fsops mmap FILE shared          MAP_SHARED, PROT_READ: the contents on stdout
//!   fsops mmap FILE private         MAP_PRIVATE, writable: writes "private" over the first
//!                                   bytes of the mapping, then the mapping on stdout
//!   fsops mmap FILE shared-write    MAP_SHARED, PROT_READ|PROT_WRITE on a read-write open
//!   fsops mmap FILE mprotect        MAP_SHARED read-only on a read-write open, then
//!                                   mprotect to PROT_WRITE
//!   fsops mmap FILE watch SECONDS   MAP_SHARED, PROT_READ: prints "first XX" (the first
//!                                   byte, hex), then polls it until it changes and prints
//!                                   "changed XX"
//!   fsops mmap FILE poke ONE TWO GO MAP_SHARED, writable: stores ONE at offset 0, prints
//!                                   "stored ONE", waits (up to 300 s) until the file GO
//!                                   exists, stores TWO, prints "stored TWO"; never msyncs
//!
//! shared-write and mprotect print "ok" or the errno name. Exit status 0 on success, 1 when
//! a call failed or the watched byte never changed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::sys::errno_name;

const USAGE: &str = "usage: fsops mmap FILE shared|private|shared-write|mprotect | fsops mmap FILE watch SECONDS\n       \
                     fsops mmap FILE poke ONE TWO GO";

/// A mapping of a whole file, unmapped on drop.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(file: &File, prot: i32, flags: i32) -> Result<Map, i32> {
        let len = file.metadata().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?.len() as usize;
        if len == 0 {
            return Err(libc::EINVAL);
        }
        // SAFETY: a fresh mapping of an open file; nothing else refers to the address range.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, file.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        }
        Ok(Map { ptr: ptr.cast(), len })
    }

    /// The first byte, read through the mapping each time (never from a register).
    fn first(&self) -> u8 {
        // SAFETY: the mapping is at least one byte long and readable.
        unsafe { std::ptr::read_volatile(self.ptr) }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` readable bytes are mapped while `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// A mapping the caller needs: a failure is a setup error naming the file and the errno.
fn map_or_fail(file: &File, path: &str, prot: i32, flags: i32) -> Result<Map, String> {
    Map::new(file, prot, flags).map_err(|e| format!("mmap {path}: {}", errno_name(e)))
}

fn outcome(r: Result<(), i32>) -> ExitCode {
    match r {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", errno_name(e));
            ExitCode::from(1)
        }
    }
}

pub fn run(args: &[&str]) -> Result<ExitCode, String> {
    if let [p, "poke", one, two, go] = args {
        return poke(p, one.as_bytes(), two.as_bytes(), go);
    }
    let (path, how, secs) = match args {
        [p, h] => (*p, *h, None),
        [p, "watch", s] => (*p, "watch", Some(s.parse::<u64>().map_err(|_| USAGE.to_string())?)),
        _ => return Err(USAGE.to_string()),
    };
    let rw = matches!(how, "shared-write" | "mprotect");
    let file = OpenOptions::new().read(true).write(rw).open(path).map_err(|e| format!("open {path}: {e}"))?;
    let (read, write) = (libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE);
    let mut out = std::io::stdout().lock();
    match how {
        "shared" | "private" => {
            let (prot, flags) = if how == "shared" { (read, libc::MAP_SHARED) } else { (write, libc::MAP_PRIVATE) };
            let map = map_or_fail(&file, path, prot, flags)?;
            if how == "private" {
                let mark = b"private";
                let n = mark.len().min(map.len);
                // SAFETY: the private mapping is writable and at least `n` bytes long.
                unsafe { std::ptr::copy_nonoverlapping(mark.as_ptr(), map.ptr, n) };
            }
            out.write_all(map.bytes()).map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        "shared-write" => Ok(outcome(Map::new(&file, write, libc::MAP_SHARED).map(drop))),
        "mprotect" => {
            let map = map_or_fail(&file, path, read, libc::MAP_SHARED)?;
            // SAFETY: changes the protection of our own mapping only.
            let r = unsafe { libc::mprotect(map.ptr.cast(), map.len, write) };
            Ok(outcome(if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)) }))
        }
        "watch" => {
            let map = map_or_fail(&file, path, read, libc::MAP_SHARED)?;
            let first = map.first();
            writeln!(out, "first {first:02x}").and_then(|()| out.flush()).map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(secs.unwrap_or(0));
            while Instant::now() < deadline {
                let now = map.first();
                if now != first {
                    writeln!(out, "changed {now:02x}").map_err(|e| e.to_string())?;
                    return Ok(ExitCode::SUCCESS);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            writeln!(out, "unchanged").map_err(|e| e.to_string())?;
            Ok(ExitCode::from(1))
        }
        _ => Err(USAGE.to_string()),
    }
}

/// Two stores through one shared mapping, the second once `go` exists.
fn poke(path: &str, one: &[u8], two: &[u8], go: &str) -> Result<ExitCode, String> {
    let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| format!("open {path}: {e}"))?;
    let map = map_or_fail(&file, path, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED)?;
    let store = |text: &[u8]| {
        let n = text.len().min(map.len);
        // SAFETY: the shared mapping is writable and at least `n` bytes long.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), map.ptr, n) };
        println!("stored {}", String::from_utf8_lossy(text));
    };
    store(one);
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::path::Path::new(go).exists() {
        if Instant::now() > deadline {
            return Err(format!("{go} never appeared"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    store(two);
    Ok(ExitCode::SUCCESS)
}
