//! Every key MXFS derives from the per-volume secret, in one place.
//!
//! The secret is 32 random bytes in the lockstate header, so only hosts that can read the LUN
//! can derive these keys. Each use has its own BLAKE3 `derive_key` context string, which keeps
//! the keys independent: a discovery MAC can never be replayed as a peer frame MAC.
//! The context strings are part of the wire format; changing one is a version bump.

use crate::ident::Uuid;

/// Context for the discovery announcement MAC key.
pub(crate) const DISCOVERY_CONTEXT: &str = "MXFS 2026 discovery announcement MAC key v1";
/// Context for the key that authenticates peer hello frames.
pub(crate) const HELLO_CONTEXT: &str = "MXFS 2026 peer hello MAC key v1";
/// Context for the per-session, per-direction peer frame keys.
pub(crate) const SESSION_CONTEXT: &str = "MXFS 2026 peer session MAC key v1";

/// `derive_key(context, secret || volume_uuid || extra...)`.
pub(crate) fn derive(context: &str, secret: &[u8; 32], volume: &Uuid, extra: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(context);
    h.update(secret);
    h.update(volume);
    for part in extra {
        h.update(part);
    }
    *h.finalize().as_bytes()
}

/// Keyed BLAKE3 MAC over `data`.
pub(crate) fn mac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    *blake3::keyed_hash(key, data).as_bytes()
}

/// Constant-time check of `tag` against the MAC of `data` (`blake3::Hash` equality is
/// constant-time), so a forger learns nothing from how fast a guess is refused.
pub(crate) fn verify(key: &[u8; 32], data: &[u8], tag: &[u8]) -> bool {
    match <[u8; 32]>::try_from(tag) {
        Ok(tag) => blake3::keyed_hash(key, data) == blake3::Hash::from_bytes(tag),
        Err(_) => false,
    }
}
