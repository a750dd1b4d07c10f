//! Lockstate records: every decoder on the same 512 bytes.

use mxfs_uapi::lockstate::{
    peek, Header, HeartbeatSlot, LockRecord, LockstateError, OwnerRecord, CHECKSUM_OFFSET, RECORD_LEN,
};

use super::FIX;
use crate::fixture::{volume, VOL};
use crate::Outcome;

pub fn lockstate(data: &[u8]) -> Outcome {
    let Some((&ctl, rest)) = data.split_first() else { return Outcome::Rejected };
    let mut buf = rest.to_vec();
    if ctl & FIX != 0 && buf.len() == RECORD_LEN {
        let sum = blake3::hash(&buf[..CHECKSUM_OFFSET]);
        buf[CHECKSUM_OFFSET..].copy_from_slice(sum.as_bytes());
    }
    let vol = volume();
    let envelope = peek(&buf);
    // Decode at the record's own index when it is in range, so index checks pass and the
    // body checks behind them are reached.
    let index = match envelope {
        Ok(e) => e.index % vol.geometry.slot_count.min(vol.geometry.lock_count),
        Err(_) => 0,
    };
    let lock_index = match envelope {
        Ok(e) if e.index < vol.geometry.lock_count => e.index,
        _ => index,
    };

    let header = Header::decode(&buf, &VOL);
    let owner = OwnerRecord::decode(&buf, &vol);
    let slot = HeartbeatSlot::decode(&buf, &vol, index);
    let lock = LockRecord::decode(&buf, &vol, lock_index);

    // Whatever the envelope check refuses, every decoder refuses the same way.
    if let Err(e) = envelope {
        for got in [header.err(), owner.err(), slot.err(), lock.err()] {
            assert_eq!(got, Some(e), "decoders disagree with peek");
        }
        return Outcome::Rejected;
    }
    // Accepted records re-encode to exactly the input.
    let mut accepted = 0;
    if let Ok(h) = header {
        assert_eq!(h.encode().expect("accepted header re-encodes")[..], buf[..]);
        accepted += 1;
    }
    if let Ok(o) = owner {
        assert_eq!(o.encode(&vol).expect("accepted owner re-encodes")[..], buf[..]);
        accepted += 1;
    }
    if let Ok(s) = slot {
        assert_eq!(s.encode(&vol, index).expect("accepted slot re-encodes")[..], buf[..]);
        accepted += 1;
    }
    if let Ok(l) = lock {
        assert_eq!(l.encode(&vol, lock_index).expect("accepted lock re-encodes")[..], buf[..]);
        accepted += 1;
    }
    // A record has one type: no two decoders accept the same bytes.
    assert!(accepted <= 1, "one record accepted as {accepted} types");
    // The checksum is over everything before it: any change to an accepted record is caught.
    if accepted == 1 {
        let mut flipped = buf.clone();
        // Past magic, version and length, which are checked before the checksum.
        flipped[12 + (ctl as usize * 7) % (CHECKSUM_OFFSET - 12)] ^= 0x20;
        assert_eq!(peek(&flipped).err(), Some(LockstateError::BadChecksum));
        return Outcome::Accepted;
    }
    Outcome::Rejected
}
