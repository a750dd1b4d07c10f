//! Packing `getdents64` records into READDIR reply entries.
//!
//! A `linux_dirent64` is `d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name (NUL
//! terminated, padded)`. `d_off` is the position after the entry: it becomes the entry's
//! cookie, so the member resumes exactly there with the next READDIR.

use mxfs_uapi::remote::Dirent;

/// How far one batch of kernel records got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    /// End of the packed entries in `out`.
    pub pos: usize,
    /// An entry did not fit: the reply is full (stop reading the directory).
    pub full: bool,
    /// Entries packed from this batch.
    pub count: usize,
}

/// Appends the records of `raw` (one getdents64 result) to `out[pos..limit]`.
/// Records that are cut short or malformed end the batch (the kernel never sends them).
pub fn pack(raw: &[u8], out: &mut [u8], pos: usize, limit: usize) -> Packed {
    let limit = limit.min(out.len());
    let mut p = Packed { pos, full: false, count: 0 };
    let mut at = 0;
    while at + 19 <= raw.len() {
        let rec = &raw[at..];
        let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
        if reclen < 20 || reclen > rec.len() {
            break;
        }
        let ino = u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes"));
        let off = i64::from_ne_bytes(rec[8..16].try_into().expect("8 bytes"));
        let dtype = rec[18];
        let name_field = &rec[19..reclen];
        let name = &name_field[..name_field.iter().position(|&b| b == 0).unwrap_or(name_field.len())];
        at += reclen;
        let d = Dirent { ino, cookie: off as u64, dtype, name };
        match d.encode_at(&mut out[..limit], p.pos) {
            Some(end) => {
                p.pos = end;
                p.count += 1;
            }
            None if name.is_empty() || name.len() > 255 => continue,
            None => {
                p.full = true;
                break;
            }
        }
    }
    p
}

#[cfg(test)]
pub fn raw_record(ino: u64, off: i64, dtype: u8, name: &[u8]) -> Vec<u8> {
    let reclen = (19 + name.len() + 1 + 7) & !7;
    let mut r = vec![0u8; reclen];
    r[0..8].copy_from_slice(&ino.to_ne_bytes());
    r[8..16].copy_from_slice(&off.to_ne_bytes());
    r[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
    r[18] = dtype;
    r[19..19 + name.len()].copy_from_slice(name);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxfs_uapi::remote::dirents;

    fn batch(names: &[&[u8]]) -> Vec<u8> {
        let mut raw = Vec::new();
        for (i, n) in names.iter().enumerate() {
            raw.extend(raw_record(100 + i as u64, 1000 * (i as i64 + 1), 8, n));
        }
        raw
    }

    #[test]
    fn records_become_entries_with_their_offsets_as_cookies() {
        let raw = batch(&[b".", b"..", b"file-with-a-longer-name"]);
        let mut out = vec![0u8; 4096];
        let p = pack(&raw, &mut out, 0, 4096);
        assert_eq!((p.count, p.full), (3, false));
        let got: Vec<(Vec<u8>, u64, u64)> = dirents(&out[..p.pos]).map(|d| (d.name.to_vec(), d.ino, d.cookie)).collect();
        assert_eq!(
            got,
            vec![(b".".to_vec(), 100, 1000), (b"..".to_vec(), 101, 2000), (b"file-with-a-longer-name".to_vec(), 102, 3000)]
        );
    }

    #[test]
    fn a_full_reply_stops_before_the_entry_that_does_not_fit() {
        let raw = batch(&[b"aaaa", b"bbbb", b"cccc"]);
        let mut out = vec![0u8; 4096];
        // Each entry takes 19 + 4 bytes: room for two.
        let p = pack(&raw, &mut out, 0, 2 * 23 + 10);
        assert_eq!((p.count, p.full, p.pos), (2, true, 46));
        let last = dirents(&out[..p.pos]).last().unwrap();
        assert_eq!(last.cookie, 2000, "the next READDIR resumes after bbbb");
        // Packing continues from a position.
        let p2 = pack(&batch(&[b"dd"]), &mut out, p.pos, 4096);
        assert_eq!((p2.count, p2.pos), (1, 46 + 21));
    }

    #[test]
    fn cut_or_bogus_records_end_the_batch() {
        let mut raw = batch(&[b"ok"]);
        raw.extend_from_slice(&raw_record(5, 6, 8, b"cut")[..20]);
        let mut out = vec![0u8; 512];
        assert_eq!(pack(&raw, &mut out, 0, 512).count, 1);
        let mut bad = batch(&[b"x"]);
        bad[16..18].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(pack(&bad, &mut out, 0, 512).count, 0);
    }
}
