//! Remote VFS operation messages (`mxfs_uapi::remote`): what a member's kernel, a member's
//! mxfsd and an owner's mxfsd hand each other.

use mxfs_uapi::remote::{decode_reply, decode_request, dirents, encode_reply, MAX_MSG};

use crate::Outcome;

/// Every accepted message re-encodes to exactly its input; dirents of an accepted reply all
/// iterate.
pub fn remote(data: &[u8]) -> Outcome {
    let Some((_, msg)) = data.split_first() else { return Outcome::Rejected };
    let mut out = vec![0u8; MAX_MSG];
    if let Ok((h, creds, req)) = decode_request(msg) {
        let n = req.encode(h.id, &creds, &mut out).expect("accepted request re-encodes");
        assert_eq!(&out[..n], msg, "request re-encodes differently");
        return Outcome::Accepted;
    }
    if let Ok((h, result)) = decode_reply(msg) {
        if let Ok(mxfs_uapi::remote::Reply::Dirents { data, .. }) = &result {
            let total: usize = dirents(data).map(|e| e.encoded_len()).sum();
            assert_eq!(total, data.len(), "dirents of an accepted reply cover its data");
        }
        let n = encode_reply(h.op, h.id, &result, &mut out).expect("accepted reply re-encodes");
        assert_eq!(&out[..n], msg, "reply re-encodes differently");
        return Outcome::Accepted;
    }
    Outcome::Rejected
}
