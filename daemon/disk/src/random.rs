//! Randomness from the kernel: node uuids, claim nonces, volume secrets.

use std::fs::File;
use std::io::{self, Read};

use mxfs_uapi::ident::Uuid;

/// Where random bytes come from (never blocks once the pool is initialised at boot).
pub const SOURCE: &str = "/dev/urandom";

/// `N` bytes from the kernel's CSPRNG.
pub fn bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut out = [0u8; N];
    File::open(SOURCE)?.read_exact(&mut out)?;
    Ok(out)
}

/// A random (version 4, RFC 4122 variant) uuid.
pub fn uuid_v4() -> io::Result<Uuid> {
    let mut u: Uuid = bytes()?;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Ok(u)
}
