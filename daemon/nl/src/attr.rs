//! Netlink attributes (`struct nlattr` TLVs): encoding and decoding on plain byte slices.
//!
//! Nothing here touches a socket, so every rule about malformed input is unit-tested. Decoders
//! never trust a length field: each one is checked against the bytes actually present.

use crate::error::NlError;

/// Size of `struct nlattr` (u16 length, u16 type).
pub const NLA_HDRLEN: usize = 4;
/// Attributes start on 4-byte boundaries.
const NLA_ALIGNTO: usize = 4;
/// Set by the kernel on nests (`nla_nest_start`); not part of the type number.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// Byte-order flag; not part of the type number either.
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
/// Bits of `nla_type` that carry the type number.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Rounds `len` up to the attribute alignment.
pub const fn align(len: usize) -> usize {
    (len + NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

/// One decoded attribute, borrowing its payload from the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// Type number with the flag bits masked off.
    pub kind: u16,
    /// Whether the sender set `NLA_F_NESTED`.
    pub nested: bool,
    /// Payload without header or padding.
    pub payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// Payload as a native-endian u64 (`nla_put_u64_64bit`); any other length is malformed.
    pub fn u64(&self) -> Result<u64, NlError> {
        let bytes: [u8; 8] = self.payload.try_into().map_err(|_| {
            NlError::Malformed(format!(
                "attribute {} should be an 8-byte u64, got {} bytes",
                self.kind,
                self.payload.len()
            ))
        })?;
        Ok(u64::from_ne_bytes(bytes))
    }

    /// Payload as a native-endian u32 (`nla_put_u32`); any other length is malformed.
    pub fn u32(&self) -> Result<u32, NlError> {
        let bytes: [u8; 4] = self.payload.try_into().map_err(|_| {
            NlError::Malformed(format!(
                "attribute {} should be a 4-byte u32, got {} bytes",
                self.kind,
                self.payload.len()
            ))
        })?;
        Ok(u32::from_ne_bytes(bytes))
    }

    /// Payload as a native-endian u16 (`nla_put_u16`); any other length is malformed.
    pub fn u16(&self) -> Result<u16, NlError> {
        let bytes: [u8; 2] = self.payload.try_into().map_err(|_| {
            NlError::Malformed(format!(
                "attribute {} should be a 2-byte u16, got {} bytes",
                self.kind,
                self.payload.len()
            ))
        })?;
        Ok(u16::from_ne_bytes(bytes))
    }

    /// Payload as a NUL-terminated string (`nla_put_string`), at most `max_len` bytes before
    /// the NUL. Bytes that are not UTF-8 (legal in Linux paths) are shown as U+FFFD rather
    /// than failing the whole reply.
    pub fn string(&self, max_len: usize) -> Result<String, NlError> {
        let end = self.payload.iter().position(|&b| b == 0).ok_or_else(|| {
            NlError::Malformed(format!(
                "string attribute {} is not NUL-terminated",
                self.kind
            ))
        })?;
        if end > max_len {
            return Err(NlError::Malformed(format!(
                "string attribute {} is {end} bytes long, the limit is {max_len}",
                self.kind
            )));
        }
        Ok(String::from_utf8_lossy(&self.payload[..end]).into_owned())
    }

    /// Attributes inside this one. The kernel sets `NLA_F_NESTED` on nests, but older
    /// senders do not, so the flag is not required.
    pub fn nested_attrs(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }
}

/// Iterator over the attributes in a byte stream. Yields an error (and then stops) on the first
/// malformed attribute.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Attrs<'a> {
    /// Iterates over `buf`, which must hold whole attributes only.
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs {
            rest: buf,
            failed: false,
        }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, NlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let fail = |this: &mut Self, msg: String| {
            this.failed = true;
            Some(Err(NlError::Malformed(msg)))
        };
        if self.rest.len() < NLA_HDRLEN {
            let n = self.rest.len();
            return fail(self, format!("{n} trailing bytes after the last attribute"));
        }
        let len = usize::from(u16::from_ne_bytes([self.rest[0], self.rest[1]]));
        let raw_type = u16::from_ne_bytes([self.rest[2], self.rest[3]]);
        if len < NLA_HDRLEN {
            return fail(
                self,
                format!("attribute length {len} is shorter than its header"),
            );
        }
        if len > self.rest.len() {
            let have = self.rest.len();
            return fail(
                self,
                format!("attribute length {len} runs past the end ({have} bytes left)"),
            );
        }
        let attr = Attr {
            kind: raw_type & NLA_TYPE_MASK,
            nested: raw_type & NLA_F_NESTED != 0,
            payload: &self.rest[NLA_HDRLEN..len],
        };
        // The last attribute may come without its padding.
        let advance = align(len).min(self.rest.len());
        self.rest = &self.rest[advance..];
        Some(Ok(attr))
    }
}

/// Builds a stream of attributes, padding each to the alignment as the kernel does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrWriter {
    buf: Vec<u8>,
}

impl AttrWriter {
    /// An empty attribute stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an attribute with a raw payload. Fails if it cannot fit the u16 length field.
    pub fn put(&mut self, kind: u16, payload: &[u8]) -> Result<(), NlError> {
        self.put_raw(kind, payload)
    }

    fn put_raw(&mut self, raw_type: u16, payload: &[u8]) -> Result<(), NlError> {
        let len = NLA_HDRLEN + payload.len();
        let len16 = u16::try_from(len).map_err(|_| {
            NlError::InvalidArgument(format!(
                "netlink attribute {} too large ({} bytes)",
                raw_type & NLA_TYPE_MASK,
                payload.len()
            ))
        })?;
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&raw_type.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(self.buf.len() + align(len) - len, 0);
        Ok(())
    }

    /// Appends a native-endian u64 (no padding attribute: the reader copies the bytes).
    pub fn put_u64(&mut self, kind: u16, value: u64) -> Result<(), NlError> {
        self.put(kind, &value.to_ne_bytes())
    }

    /// Appends a native-endian u32.
    pub fn put_u32(&mut self, kind: u16, value: u32) -> Result<(), NlError> {
        self.put(kind, &value.to_ne_bytes())
    }

    /// Appends a native-endian u16.
    pub fn put_u16(&mut self, kind: u16, value: u16) -> Result<(), NlError> {
        self.put(kind, &value.to_ne_bytes())
    }

    /// Appends a NUL-terminated string. A string that already contains a NUL would be cut
    /// short by the receiver, so it is refused.
    pub fn put_str(&mut self, kind: u16, value: &str) -> Result<(), NlError> {
        if value.as_bytes().contains(&0) {
            return Err(NlError::InvalidArgument(format!(
                "string for netlink attribute {kind} contains a NUL byte"
            )));
        }
        let mut payload = Vec::with_capacity(value.len() + 1);
        payload.extend_from_slice(value.as_bytes());
        payload.push(0);
        self.put(kind, &payload)
    }

    /// Appends `inner` as a nest, flagged `NLA_F_NESTED` like `nla_nest_start`.
    pub fn put_nested(&mut self, kind: u16, inner: &AttrWriter) -> Result<(), NlError> {
        self.put_raw((kind & NLA_TYPE_MASK) | NLA_F_NESTED, &inner.buf)
    }

    /// Bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished stream.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(buf: &[u8]) -> Result<Vec<Attr<'_>>, NlError> {
        Attrs::new(buf).collect()
    }

    #[test]
    fn writer_pads_and_reader_recovers_each_attribute() {
        let mut w = AttrWriter::new();
        w.put_str(1, "abc").unwrap(); // 4 + 4 = 8, no padding
        w.put_str(2, "hello").unwrap(); // 4 + 6 = 10, padded to 12
        w.put_u32(3, 0xdead_beef).unwrap();
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 8 + 12 + 8);
        assert_eq!(&bytes[8..10], &10u16.to_ne_bytes());
        assert_eq!(&bytes[18..20], &[0, 0], "padding must be zero");

        let attrs = collect(&bytes).unwrap();
        assert_eq!(attrs.len(), 3);
        assert_eq!(attrs[0].string(64).unwrap(), "abc");
        assert_eq!(attrs[1].kind, 2);
        assert_eq!(attrs[1].string(64).unwrap(), "hello");
        assert_eq!(attrs[2].u32().unwrap(), 0xdead_beef);
    }

    #[test]
    fn nested_flag_is_masked_from_the_type() {
        let mut inner = AttrWriter::new();
        inner.put_u32(4, 7).unwrap();
        let mut outer = AttrWriter::new();
        outer.put_nested(6, &inner).unwrap();
        let bytes = outer.into_bytes();
        assert_eq!(u16::from_ne_bytes([bytes[2], bytes[3]]), 6 | NLA_F_NESTED);

        let attrs = collect(&bytes).unwrap();
        assert_eq!(attrs[0].kind, 6);
        assert!(attrs[0].nested);
        let inner: Vec<_> = attrs[0].nested_attrs().collect::<Result<_, _>>().unwrap();
        assert_eq!(inner[0].kind, 4);
        assert_eq!(inner[0].u32().unwrap(), 7);
    }

    #[test]
    fn byte_order_flag_is_masked_too() {
        let mut bytes = AttrWriter::new();
        bytes.put_u16(5, 1).unwrap();
        let mut raw = bytes.into_bytes();
        raw[2..4].copy_from_slice(&(5 | NLA_F_NET_BYTEORDER).to_ne_bytes());
        assert_eq!(collect(&raw).unwrap()[0].kind, 5);
    }

    #[test]
    fn last_attribute_may_lack_padding() {
        let mut w = AttrWriter::new();
        w.put(1, &[9, 9]).unwrap();
        let mut bytes = w.into_bytes();
        bytes.truncate(6);
        let attrs = collect(&bytes).unwrap();
        assert_eq!(attrs[0].payload, &[9, 9]);
    }

    #[test]
    fn empty_stream_has_no_attributes() {
        assert!(collect(&[]).unwrap().is_empty());
    }

    #[test]
    fn length_past_the_end_is_rejected() {
        let mut w = AttrWriter::new();
        w.put_u32(1, 1).unwrap();
        let mut bytes = w.into_bytes();
        bytes[0..2].copy_from_slice(&40u16.to_ne_bytes());
        let err = collect(&bytes).unwrap_err();
        assert!(
            matches!(err, NlError::Malformed(ref m) if m.contains("runs past the end")),
            "{err}"
        );
    }

    #[test]
    fn length_shorter_than_header_is_rejected_without_looping() {
        let bytes = [2u8, 0, 1, 0, 0, 0, 0, 0];
        let mut it = Attrs::new(&bytes);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none(), "iteration stops after an error");
    }

    #[test]
    fn trailing_partial_header_is_rejected() {
        let mut w = AttrWriter::new();
        w.put_u32(1, 1).unwrap();
        let mut bytes = w.into_bytes();
        bytes.extend_from_slice(&[1, 2]);
        assert!(collect(&bytes).is_err());
    }

    #[test]
    fn every_truncation_of_a_valid_stream_fails_cleanly() {
        let mut w = AttrWriter::new();
        w.put_str(1, "some/path").unwrap(); // 4 + 10 = 14, padded to 16
        w.put_u32(2, 3).unwrap(); // 8
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 24);
        for cut in 1..bytes.len() {
            let res = collect(&bytes[..cut]);
            // Only a cut in the first attribute's padding leaves whole attributes behind.
            if (14..=16).contains(&cut) {
                let attrs = res.unwrap();
                assert_eq!(attrs.len(), 1);
                assert_eq!(attrs[0].string(64).unwrap(), "some/path");
            } else {
                assert!(res.is_err(), "cut at {cut} was accepted");
            }
        }
    }

    #[test]
    fn u32_of_the_wrong_size_is_rejected() {
        let attr = Attr {
            kind: 4,
            nested: false,
            payload: &[1, 2, 3],
        };
        assert!(attr.u32().is_err());
        let attr = Attr {
            kind: 4,
            nested: false,
            payload: &[1, 0, 0, 0, 0, 0, 0, 0],
        };
        assert!(attr.u32().is_err());
    }

    #[test]
    fn strings_must_be_nul_terminated_and_within_limit() {
        let attr = Attr {
            kind: 2,
            nested: false,
            payload: b"abc",
        };
        assert!(attr.string(10).is_err());
        let attr = Attr {
            kind: 2,
            nested: false,
            payload: b"abcdef\0",
        };
        assert!(attr.string(5).is_err());
        assert_eq!(attr.string(6).unwrap(), "abcdef");
        let attr = Attr {
            kind: 2,
            nested: false,
            payload: b"\0",
        };
        assert_eq!(attr.string(6).unwrap(), "");
        let attr = Attr {
            kind: 2,
            nested: false,
            payload: b"/mnt/\xff\0",
        };
        assert_eq!(attr.string(64).unwrap(), "/mnt/\u{fffd}");
    }

    #[test]
    fn writer_refuses_interior_nul_and_oversized_payloads() {
        let mut w = AttrWriter::new();
        assert!(w.put_str(1, "a\0b").is_err());
        assert!(w.put(1, &vec![0u8; 70_000]).is_err());
        assert!(
            w.as_bytes().is_empty(),
            "failed puts leave the stream untouched"
        );
    }
}
