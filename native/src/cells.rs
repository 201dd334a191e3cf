//! Pending minute cells rolled up into the given pack levels, in one pass: what
//! `merge([level_block(merge(blocks), levels)])` computes with numpy (metering.cells), the
//! reference.
//!
//! A cell's count is summed as int64 (wrapping, as numpy does) and its scaled sum exactly, then
//! written back as (sum_hi, sum_lo) with 0 <= sum_lo < 2**40: that form is unique, so the order
//! of the additions cannot change the result. Callers keep sums within int64 (cells.SAFE_HI).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const LO_BITS: u32 = 40;
const LO_MASK: i128 = (1 << LO_BITS) - 1;

type Key = [i64; 5]; // meter_pk, customer_pk, level, bucket, dims_pk
type Sums = (i64, i128); // count, scaled sum

/// A multiply-rotate hash for small integer keys (FxHash's): the keys are our own ids, not
/// input an attacker picks, and SipHash would cost more than the rest of the rollup.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // [i64; 5] hashes as one write of its 40 bytes
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.write_u64(u64::from_le_bytes(chunk.try_into().unwrap()));
        }
        for b in chunks.remainder() {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Cells = HashMap<Key, Sums, BuildHasherDefault<IdHasher>>;

fn add(cells: &mut Cells, key: Key, count: i64, sum: i128) {
    let cell = cells.entry(key).or_insert((0, 0));
    cell.0 = cell.0.wrapping_add(count);
    cell.1 += sum;
}

/// The coarse cells, at each (level, size in minutes), of blocks of minute cells (each the
/// (n, 8) int64 rows of metering.cells, flat), merged and sorted by key.
pub fn rollup(blocks: &[&[i64]], levels: &[(i64, i64)]) -> Vec<[i64; 8]> {
    let rows: usize = blocks.iter().map(|b| b.len() / 8).sum();
    let mut minutes = Cells::with_capacity_and_hasher(rows / 4 + 16, Default::default());
    for block in blocks {
        for r in block.chunks_exact(8) {
            let sum = ((r[6] as i128) << LO_BITS) + r[7] as i128;
            add(&mut minutes, [r[0], r[1], r[2], r[3], r[4]], r[5], sum);
        }
    }
    let mut coarse =
        Cells::with_capacity_and_hasher(minutes.len() * levels.len(), Default::default());
    for (k, (count, sum)) in &minutes {
        for &(level, size) in levels {
            add(
                &mut coarse,
                [k[0], k[1], level, k[3] - k[3].rem_euclid(size), k[4]],
                *count,
                *sum,
            );
        }
    }
    let mut out: Vec<(Key, Sums)> = coarse.into_iter().collect();
    out.sort_unstable_by_key(|c| c.0);
    out.into_iter()
        .map(|(k, (count, sum))| {
            [
                k[0],
                k[1],
                k[2],
                k[3],
                k[4],
                count,
                (sum >> LO_BITS) as i64,
                (sum & LO_MASK) as i64,
            ]
        })
        .collect()
}
