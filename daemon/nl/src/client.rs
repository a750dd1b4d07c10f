//! The socket side: neli carries the bytes that `ctrl` and `msg` build and decode, matches
//! replies to requests by sequence number and turns NLMSG_ERROR into an errno.

use neli::consts::nl::NlmF;
use neli::consts::socket::NlFamily;
use neli::err::RouterError;
use neli::nl::NlPayload;
use neli::router::synchronous::{NlRouter, NlRouterReceiverHandle};
use neli::types::Buffer;
use neli::utils::Groups;

use mxfs_uapi::genl::{FAMILY_NAME, FAMILY_VERSION};

use crate::ctrl::{self, FamilyInfo, GENL_ID_CTRL};
use crate::error::{NlError, Op};
use crate::msg::{self, MountStatus};

/// Netlink types below this are control messages (NOOP, ERROR, DONE, OVERRUN).
const NLMSG_MIN_TYPE: u16 = 0x10;

/// A connection to the `mxfs` generic netlink family.
///
/// Requests are sent from the calling thread, so the kernel sees the caller's pid as the
/// sender (DAEMON_READY is accepted only from the mxfsd the kernel spawned). neli receives on a
/// helper thread; create the client after blocking any signals the process waits for.
pub struct Client {
    router: NlRouter,
    family: FamilyInfo,
}

impl Client {
    /// Opens a generic netlink socket and resolves the `mxfs` family. Fails with
    /// [`NlError::ModuleNotLoaded`] when mxfs.ko is not loaded and with
    /// [`NlError::VersionMismatch`] when it speaks another protocol version.
    pub fn connect() -> Result<Client, NlError> {
        let (router, _multicast) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| NlError::Socket(format!("cannot open a generic netlink socket: {e}")))?;
        let family = resolve_family(&router, FAMILY_NAME)?;
        if family.version != u32::from(FAMILY_VERSION) {
            return Err(NlError::VersionMismatch {
                kernel: family.version,
                tools: u32::from(FAMILY_VERSION),
            });
        }
        Ok(Client { router, family })
    }

    /// Netlink message type the kernel assigned to the family.
    pub fn family_id(&self) -> u16 {
        self.family.id
    }

    /// Every mxfs mount on this host, in the kernel's order.
    pub fn status(&self) -> Result<Vec<MountStatus>, NlError> {
        let replies = request_raw(
            &self.router,
            self.family.id,
            Op::Status,
            msg::encode_status(),
        )?;
        let mut mounts = Vec::new();
        for payload in &replies {
            mounts.extend(msg::decode_status_reply(payload)?);
        }
        Ok(mounts)
    }
}

/// Asks the controller for family `name`; ENOENT (unknown name) becomes
/// [`NlError::ModuleNotLoaded`].
fn resolve_family(router: &NlRouter, name: &str) -> Result<FamilyInfo, NlError> {
    let request = ctrl::encode_get_family(name)?;
    let replies = request_raw(router, GENL_ID_CTRL, Op::ResolveFamily, request)?;
    let payload = replies.first().ok_or_else(|| {
        NlError::Malformed("the netlink controller sent no reply to the family lookup".into())
    })?;
    ctrl::decode_family(payload, name)
}

/// Sends one request with NLM_F_ACK and returns the payloads of the replies of type
/// `nl_type` that came before the ACK. A kernel error ends the exchange with its errno.
fn request_raw(
    router: &NlRouter,
    nl_type: u16,
    op: Op,
    payload: Vec<u8>,
) -> Result<Vec<Vec<u8>>, NlError> {
    let replies: NlRouterReceiverHandle<u16, Buffer> = router
        .send(
            nl_type,
            NlmF::ACK,
            NlPayload::Payload(Buffer::from(payload)),
        )
        .map_err(|e| NlError::Socket(format!("sending {op} failed: {e}")))?;
    let mut out = Vec::new();
    for reply in replies {
        match reply {
            Ok(m) => match m.nl_payload() {
                NlPayload::Payload(bytes) if *m.nl_type() == nl_type => {
                    out.push(bytes.as_ref().to_vec())
                }
                NlPayload::Payload(_) if *m.nl_type() >= NLMSG_MIN_TYPE => {
                    return Err(NlError::Malformed(format!(
                        "reply to {op} has netlink type {}, expected {nl_type}",
                        m.nl_type()
                    )))
                }
                // ACK, end of a multipart reply, or a control message: nothing to keep.
                _ => {}
            },
            Err(RouterError::Nlmsgerr(e)) => {
                return Err(NlError::from_errno(op, e.error().saturating_abs()))
            }
            Err(e) => {
                return Err(NlError::Socket(format!(
                    "receiving the reply to {op} failed: {e}"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn router() -> NlRouter {
        NlRouter::connect(NlFamily::Generic, None, Groups::empty())
            .expect("generic netlink socket")
            .0
    }

    #[test]
    fn resolves_the_controller_itself_through_the_kernel() {
        // nlctrl is always registered: id GENL_ID_CTRL, version 2. This runs the whole request
        // path (encode, send, ACK handling, decode) against the running kernel.
        let info = resolve_family(&router(), "nlctrl").unwrap();
        assert_eq!(
            info,
            FamilyInfo {
                id: GENL_ID_CTRL,
                version: 2
            }
        );
    }

    #[test]
    fn unknown_family_is_reported_as_module_not_loaded() {
        let err = resolve_family(&router(), "mxfs-absent").unwrap_err();
        assert_eq!(err, NlError::ModuleNotLoaded);
    }

    #[test]
    fn connect_matches_whether_the_module_is_loaded() {
        let loaded = Path::new("/sys/module/mxfs").exists();
        match Client::connect() {
            Ok(client) => {
                assert!(
                    loaded,
                    "family mxfs resolved but /sys/module/mxfs is absent"
                );
                assert!(client.family_id() >= NLMSG_MIN_TYPE);
            }
            Err(NlError::ModuleNotLoaded) => assert!(!loaded),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}
