//! A small, deterministic mutator: the same seed gives the same inputs on every machine.

/// SplitMix64: tiny, fast and stable across versions, so a failing seed always replays.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Values that sit on the boundaries decoders check.
const INTERESTING: [u64; 14] = [
    0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 511, 512, 513, 4096, (1 << 20) + 1, 0xffff_ffff, u64::MAX,
];

/// One mutated input: 1 to 4 edits to a seed, or (rarely) a splice of two seeds or random
/// bytes. Byte 0 (the control byte) is edited too, but less often.
pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = match seeds.len() {
        0 => Vec::new(),
        n => seeds[rng.below(n)].clone(),
    };
    if rng.below(64) == 0 {
        let len = rng.below(600);
        let mut v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if let Some(c) = v.first_mut() {
            *c &= 0x03;
        }
        return v;
    }
    for _ in 0..1 + rng.below(4) {
        edit(rng, &mut data, seeds);
    }
    data
}

fn edit(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = data.len();
    // Prefer the payload over the control byte.
    let pos = |rng: &mut Rng| if len > 1 && rng.below(16) != 0 { 1 + rng.below(len - 1) } else { rng.below(len.max(1)) };
    match rng.below(10) {
        0 | 1 if len > 0 => {
            let p = pos(rng);
            data[p] ^= 1 << rng.below(8);
        }
        2 if len > 0 => {
            let p = pos(rng);
            data[p] = INTERESTING[rng.below(INTERESTING.len())] as u8;
        }
        3 | 4 if len > 0 => {
            // An integer field: 1, 2, 4 or 8 bytes, little-endian, at any offset.
            let width = 1 << rng.below(4);
            let p = pos(rng);
            let v = match rng.below(3) {
                0 => INTERESTING[rng.below(INTERESTING.len())],
                1 => len as u64 + rng.below(3) as u64 - 1,
                _ => rng.next_u64(),
            };
            for (i, b) in v.to_le_bytes().iter().take(width).enumerate() {
                if let Some(slot) = data.get_mut(p + i) {
                    *slot = *b;
                }
            }
        }
        5 => data.truncate(rng.below(len + 1)),
        6 => {
            let n = 1 + rng.below(32);
            let p = rng.below(len + 1);
            let fill: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            data.splice(p..p, fill);
        }
        7 if len > 1 => {
            // Duplicate or drop a chunk (frames repeated or lost in a stream).
            let a = 1 + rng.below(len - 1);
            let b = (a + 1 + rng.below(len - a)).min(len);
            if rng.below(2) == 0 {
                let chunk = data[a..b].to_vec();
                data.splice(b..b, chunk);
            } else {
                data.drain(a..b);
            }
        }
        8 if !seeds.is_empty() => {
            // Splice the tail of another seed.
            let other = &seeds[rng.below(seeds.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        _ if len > 1 => {
            let a = 1 + rng.below(len - 1);
            let b = (a + rng.below(16)).min(len);
            data[a..b].fill(0);
        }
        _ => data.push(rng.next_u64() as u8),
    }
}
