//! The dedupe index's Bloom filter (ingest.seen_index): three bits per fingerprint in a bit
//! array of 2**log2 bits, the same slots as the Python reference `_slot`: fingerprints are
//! uniformly random, so two disjoint bit ranges of one are two hashes, and a multiplication by
//! an odd constant (a permutation of the 64-bit values) mixes all 64 bits into the third.

pub const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

fn slots(fp: i64, log2: u32) -> [usize; 3] {
    let bits = fp as u64;
    let mask = (1u64 << log2) - 1;
    [
        (bits >> (64 - log2)) as usize,
        ((bits >> (64 - 2 * log2)) & mask) as usize,
        (bits.wrapping_mul(MIX) >> (64 - log2)) as usize,
    ]
}

/// Set the bits of each fingerprint.
pub fn mark(filter: &mut [u8], log2: u32, fps: &[i64]) {
    for &fp in fps {
        for slot in slots(fp, log2) {
            filter[slot >> 3] |= 1 << (slot & 7);
        }
    }
}

/// For each fingerprint, whether all its bits are set (it may be in the index).
pub fn test(filter: &[u8], log2: u32, fps: &[i64], maybe: &mut [u8]) {
    for (out, &fp) in maybe.iter_mut().zip(fps) {
        *out = slots(fp, log2)
            .iter()
            .all(|&slot| filter[slot >> 3] >> (slot & 7) & 1 == 1) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_fingerprints_pass_and_most_others_do_not() {
        let log2 = 16;
        let mut filter = vec![0u8; 1 << (log2 - 3)];
        let fps: Vec<i64> = (0..100i64)
            .map(|i| i.wrapping_mul(0x2545_F491_4F6C_DD1D))
            .collect();
        mark(&mut filter, log2, &fps);
        let mut maybe = vec![0u8; fps.len()];
        test(&filter, log2, &fps, &mut maybe);
        assert!(maybe.iter().all(|&m| m == 1));
        let others: Vec<i64> = (1000..2000i64)
            .map(|i| i.wrapping_mul(0x2545_F491_4F6C_DD1D))
            .collect();
        let mut maybe = vec![0u8; others.len()];
        test(&filter, log2, &others, &mut maybe);
        assert!(maybe.iter().filter(|&&m| m == 1).count() < 10);
    }
}
