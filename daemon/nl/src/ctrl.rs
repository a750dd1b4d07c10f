//! The generic netlink controller ("nlctrl"): resolves the `mxfs` family name to its id and
//! reports the protocol version the module registered, so a mismatch is caught before any
//! mxfs command is sent.

use crate::attr::{AttrWriter, Attrs};
use crate::error::NlError;
use crate::genlmsg;

/// Netlink message type of the controller (`GENL_ID_CTRL`).
pub const GENL_ID_CTRL: u16 = 0x10;
/// `CTRL_CMD_NEWFAMILY`: the controller's reply to GETFAMILY.
pub const CTRL_CMD_NEWFAMILY: u8 = 1;
/// `CTRL_CMD_GETFAMILY`.
pub const CTRL_CMD_GETFAMILY: u8 = 3;
/// `CTRL_ATTR_FAMILY_ID`, u16.
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// `CTRL_ATTR_FAMILY_NAME`, NUL string.
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// `CTRL_ATTR_VERSION`, u32.
pub const CTRL_ATTR_VERSION: u16 = 3;
/// Version of the controller's own protocol that we speak.
const CTRL_VERSION: u8 = 2;
/// `GENL_NAMSIZ - 1`: longest family name.
const FAMILY_NAME_MAX: usize = 15;

/// What the controller tells about a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyInfo {
    /// Netlink message type to address the family with.
    pub id: u16,
    /// `genl_family.version` as registered by the module.
    pub version: u32,
}

/// GETFAMILY request for `name` (genl header and attributes).
pub fn encode_get_family(name: &str) -> Result<Vec<u8>, NlError> {
    let mut attrs = AttrWriter::new();
    attrs.put_str(CTRL_ATTR_FAMILY_NAME, name)?;
    Ok(genlmsg::encode(
        CTRL_CMD_GETFAMILY,
        CTRL_VERSION,
        attrs.as_bytes(),
    ))
}

/// Decodes the controller's NEWFAMILY reply for family `name`. The reply also carries ops and
/// multicast groups, which are skipped.
pub fn decode_family(payload: &[u8], name: &str) -> Result<FamilyInfo, NlError> {
    let msg = genlmsg::decode(payload)?;
    if msg.cmd != CTRL_CMD_NEWFAMILY {
        return Err(NlError::Malformed(format!(
            "controller replied with command {}, expected NEWFAMILY ({CTRL_CMD_NEWFAMILY})",
            msg.cmd
        )));
    }
    let (mut id, mut version, mut got_name) = (None, None, None);
    for attr in Attrs::new(msg.attrs) {
        let attr = attr?;
        match attr.kind {
            CTRL_ATTR_FAMILY_ID => id = Some(attr.u16()?),
            CTRL_ATTR_VERSION => version = Some(attr.u32()?),
            CTRL_ATTR_FAMILY_NAME => got_name = Some(attr.string(FAMILY_NAME_MAX)?),
            _ => {}
        }
    }
    if let Some(got) = got_name {
        if got != name {
            return Err(NlError::Malformed(format!(
                "controller answered for family \"{got}\", asked for \"{name}\""
            )));
        }
    }
    match (id, version) {
        (Some(id), Some(version)) => Ok(FamilyInfo { id, version }),
        _ => Err(NlError::Malformed(format!(
            "controller reply for family \"{name}\" lacks the family id or version"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(attrs: &AttrWriter) -> Vec<u8> {
        genlmsg::encode(CTRL_CMD_NEWFAMILY, 2, attrs.as_bytes())
    }

    #[test]
    fn request_names_the_family() {
        let bytes = encode_get_family("mxfs").unwrap();
        assert_eq!(bytes[0], CTRL_CMD_GETFAMILY);
        let attrs: Vec<_> = Attrs::new(&bytes[4..]).collect::<Result<_, _>>().unwrap();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].kind, CTRL_ATTR_FAMILY_NAME);
        assert_eq!(attrs[0].payload, b"mxfs\0");
    }

    #[test]
    fn decodes_id_and_version_and_skips_the_rest() {
        let mut a = AttrWriter::new();
        a.put_str(CTRL_ATTR_FAMILY_NAME, "mxfs").unwrap();
        a.put_u16(CTRL_ATTR_FAMILY_ID, 0x1d).unwrap();
        a.put_u32(CTRL_ATTR_VERSION, 1).unwrap();
        a.put_u32(4, 0).unwrap(); // HDRSIZE
        let mut ops = AttrWriter::new();
        ops.put_u32(1, 2).unwrap();
        a.put_nested(6, &ops).unwrap(); // OPS
        assert_eq!(
            decode_family(&reply(&a), "mxfs").unwrap(),
            FamilyInfo {
                id: 0x1d,
                version: 1
            }
        );
    }

    #[test]
    fn missing_id_or_wrong_family_is_malformed() {
        let mut a = AttrWriter::new();
        a.put_u32(CTRL_ATTR_VERSION, 1).unwrap();
        assert!(matches!(
            decode_family(&reply(&a), "mxfs"),
            Err(NlError::Malformed(_))
        ));

        let mut a = AttrWriter::new();
        a.put_str(CTRL_ATTR_FAMILY_NAME, "nbd").unwrap();
        a.put_u16(CTRL_ATTR_FAMILY_ID, 0x1d).unwrap();
        a.put_u32(CTRL_ATTR_VERSION, 1).unwrap();
        assert!(matches!(
            decode_family(&reply(&a), "mxfs"),
            Err(NlError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_reply_command_or_bad_sizes_are_malformed() {
        let mut a = AttrWriter::new();
        a.put_u16(CTRL_ATTR_FAMILY_ID, 0x1d).unwrap();
        a.put_u32(CTRL_ATTR_VERSION, 1).unwrap();
        let mut bytes = reply(&a);
        bytes[0] = CTRL_CMD_GETFAMILY;
        assert!(decode_family(&bytes, "mxfs").is_err());

        let mut a = AttrWriter::new();
        a.put_u32(CTRL_ATTR_FAMILY_ID, 0x1d).unwrap(); // u32 where u16 belongs
        a.put_u32(CTRL_ATTR_VERSION, 1).unwrap();
        assert!(decode_family(&reply(&a), "mxfs").is_err());
    }
}
