//! Node identity rules and the small bounded values every format carries.
//!
//! A node is named by a random 128-bit uuid kept in `/etc/mxfs/node.uuid`; its 32-bit node id
//! (heartbeat records, PR keys, DLM mastering) is the FNV-1a hash of the uuid bytes. Every
//! decoder checks that the two agree, so a record or packet cannot name one node by uuid and
//! another by id.

use core::fmt;

/// A 128-bit uuid in its 16 raw bytes (RFC 4122 byte order).
pub type Uuid = [u8; 16];

const FNV32_OFFSET: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;
const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 32-bit FNV-1a.
pub const fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash = FNV32_OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(FNV32_PRIME);
        i += 1;
    }
    hash
}

/// 64-bit FNV-1a (lock record resource hashes).
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = FNV64_OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV64_PRIME);
        i += 1;
    }
    hash
}

/// Node id used when FNV-1a of a uuid is 0, because 0 means "free" in heartbeat slots and
/// is not a valid SCSI PR key.
pub const NODE_ID_FOR_ZERO_HASH: u32 = 1;

/// The node id of a node uuid: FNV-1a 32 of its 16 bytes, never 0.
pub const fn node_id_from_uuid(uuid: &Uuid) -> u32 {
    match fnv1a32(uuid) {
        0 => NODE_ID_FOR_ZERO_HASH,
        id => id,
    }
}

/// Formats a uuid as lowercase 8-4-4-4-12 hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UuidText<'a>(pub &'a Uuid);

impl fmt::Display for UuidText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for UuidText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses the 36-character 8-4-4-4-12 hex form (either case). Anything else is `None`.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    let s = text.as_bytes();
    if s.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut high = true;
    let mut at = 0usize;
    for (i, &c) in s.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        if high {
            out[at] = v << 4;
        } else {
            out[at] |= v;
            at += 1;
        }
        high = !high;
    }
    Some(out)
}

/// Longest hostname carried in records and announcements (Linux HOST_NAME_MAX).
pub const HOSTNAME_MAX: usize = 64;

/// A hostname as shown to operators: 0 to 64 bytes of `[A-Za-z0-9._-]`.
///
/// Kept to that set so a value read from disk or the network is safe to print in logs and
/// JSON without escaping.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hostname {
    len: u8,
    bytes: [u8; HOSTNAME_MAX],
}

/// Why a hostname was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostnameError {
    TooLong(usize),
    BadByte(u8),
}

impl fmt::Display for HostnameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "hostname is {n} bytes, the limit is {HOSTNAME_MAX}"),
            Self::BadByte(b) => write!(f, "hostname contains byte 0x{b:02x} outside [A-Za-z0-9._-]"),
        }
    }
}

impl core::error::Error for HostnameError {}

impl Hostname {
    /// The empty hostname (free heartbeat slots).
    pub const EMPTY: Hostname = Hostname { len: 0, bytes: [0; HOSTNAME_MAX] };

    /// Validates `bytes` as a hostname.
    pub fn new(bytes: &[u8]) -> Result<Hostname, HostnameError> {
        if bytes.len() > HOSTNAME_MAX {
            return Err(HostnameError::TooLong(bytes.len()));
        }
        if let Some(&b) = bytes
            .iter()
            .find(|&&b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')))
        {
            return Err(HostnameError::BadByte(b));
        }
        let mut out = Hostname::EMPTY;
        out.bytes[..bytes.len()].copy_from_slice(bytes);
        out.len = bytes.len() as u8; // <= 64, checked above
        Ok(out)
    }

    /// Like [`Hostname::new`] for a system hostname that may not fit: cut at 64 bytes and map
    /// any other byte to `-`, so a node with an odd hostname can still join.
    pub fn sanitized(bytes: &[u8]) -> Hostname {
        let mut out = Hostname::EMPTY;
        let n = bytes.len().min(HOSTNAME_MAX);
        for (dst, &b) in out.bytes.iter_mut().zip(&bytes[..n]) {
            let ok = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
            *dst = if ok { b } else { b'-' };
        }
        out.len = n as u8;
        out
    }

    /// Decodes a NUL-padded fixed field: the name, then only zero bytes.
    pub(crate) fn from_padded(field: &[u8; HOSTNAME_MAX]) -> Result<Hostname, HostnameError> {
        let len = field.iter().position(|&b| b == 0).unwrap_or(HOSTNAME_MAX);
        if let Some(&b) = field[len..].iter().find(|&&b| b != 0) {
            return Err(HostnameError::BadByte(b));
        }
        Hostname::new(&field[..len])
    }

    /// The NUL-padded fixed field form.
    pub(crate) fn padded(&self) -> [u8; HOSTNAME_MAX] {
        self.bytes
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Always valid UTF-8 (ASCII by construction).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn node_id_is_never_zero() {
        let uuid = [7u8; 16];
        assert_eq!(node_id_from_uuid(&uuid), fnv1a32(&uuid));
        assert_ne!(node_id_from_uuid(&[0u8; 16]), 0);
    }

    #[test]
    fn uuid_text_round_trips() {
        let uuid: Uuid = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        let mut buf = [0u8; 36];
        let mut w = Buf { buf: &mut buf, len: 0 };
        fmt::write(&mut w, format_args!("{}", UuidText(&uuid))).unwrap();
        let text = core::str::from_utf8(&buf).unwrap();
        assert_eq!(text, "12345678-9abc-def0-0123-456789abcdef");
        assert_eq!(parse_uuid(text), Some(uuid));
        assert_eq!(parse_uuid("12345678-9ABC-DEF0-0123-456789ABCDEF"), Some(uuid));
        assert_eq!(parse_uuid("12345678-9abc-def0-0123-456789abcde"), None);
        assert_eq!(parse_uuid("12345678_9abc-def0-0123-456789abcdef"), None);
        assert_eq!(parse_uuid("12345678-9abc-def0-0123-456789abcdeg"), None);
    }

    struct Buf<'a> {
        buf: &'a mut [u8],
        len: usize,
    }

    impl fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            self.buf.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    #[test]
    fn hostnames_are_bounded_and_printable() {
        assert_eq!(Hostname::new(b"node-1.example").unwrap().as_str(), "node-1.example");
        assert_eq!(Hostname::new(&[b'a'; 65]), Err(HostnameError::TooLong(65)));
        assert_eq!(Hostname::new(b"a b"), Err(HostnameError::BadByte(b' ')));
        assert_eq!(Hostname::sanitized(b"caf\xc3\xa9 1").as_str(), "caf---1");
        assert_eq!(Hostname::sanitized(&[b'x'; 100]).as_bytes().len(), 64);
        let mut field = Hostname::new(b"abc").unwrap().padded();
        assert_eq!(Hostname::from_padded(&field).unwrap().as_str(), "abc");
        field[10] = b'z';
        assert!(Hostname::from_padded(&field).is_err());
    }
}
