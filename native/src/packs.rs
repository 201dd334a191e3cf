//! The writer's pack cache, with the merge of a block of cell deltas into its packs
//! (metering.packs: the Python path, and the format, are described there).
//!
//! A pack is kept as its narrow blob: the 8-byte header, then (dims_pk, count, sum_hi, sum_lo)
//! little-endian int64 rows sorted by dims_pk, without empty cells. Wide packs are never held:
//! a block that touches one, or whose sums could leave int64, is left to the Python path.

use std::collections::HashMap;

pub const NARROW: &[u8; 8] = b"P0000000";
const LO_BITS: u32 = 40;
const LO_MASK: i64 = (1 << LO_BITS) - 1;
const SAFE: i64 = 1 << 62;

pub type Key = [i64; 4]; // meter_pk, customer_pk, level, bucket
type Cell = [i64; 4]; // dims_pk, count, sum_hi, sum_lo

pub struct Cache {
    packs: HashMap<Key, Option<Vec<u8>>>, // None: known not to exist
    cells: usize,
    max_cells: usize,
}

/// What merging a block does to the store: packs to write (key, blob), packs to delete.
pub struct Merged {
    pub writes: Vec<(Key, Vec<u8>)>,
    pub deletes: Vec<Key>,
}

fn cells_of(blob: &[u8]) -> impl Iterator<Item = Cell> + '_ {
    blob[8..].chunks_exact(32).map(|row| {
        let mut cell = [0i64; 4];
        for (i, v) in row.chunks_exact(8).enumerate() {
            cell[i] = i64::from_le_bytes(v.try_into().unwrap());
        }
        cell
    })
}

fn key_of(row: &[i64; 8]) -> Key {
    [row[0], row[1], row[2], row[3]]
}

/// The block's rows grouped by pack: (key, first row, end row).
fn groups(rows: &[[i64; 8]]) -> Vec<(Key, usize, usize)> {
    let mut out: Vec<(Key, usize, usize)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let key = key_of(row);
        match out.last_mut() {
            Some((k, _, end)) if *k == key => *end = i + 1,
            _ => out.push((key, i, i + 1)),
        }
    }
    out
}

fn is_narrow(blob: &[u8]) -> bool {
    blob.len() >= 8 && &blob[..8] == NARROW && (blob.len() - 8).is_multiple_of(32)
}

/// Old cells plus deltas, both sorted by dims_pk; None if a sum could leave int64.
fn merge_cells(old: &[u8], deltas: &[[i64; 8]]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(old.len().max(8) + deltas.len() * 32);
    out.extend_from_slice(NARROW);
    let mut push = |cell: Cell| -> Option<()> {
        let [dims, count, hi, lo] = cell;
        if hi.abs() >= SAFE / 2 {
            return None;
        }
        let (hi, lo) = (hi + (lo >> LO_BITS), lo & LO_MASK);
        if count != 0 || hi != 0 || lo != 0 {
            for v in [dims, count, hi, lo] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Some(())
    };
    let mut old_cells = cells_of(old).peekable();
    let mut new_cells = deltas.iter().map(|r| [r[4], r[5], r[6], r[7]]).peekable();
    loop {
        let cell = match (old_cells.peek(), new_cells.peek()) {
            (None, None) => break,
            (Some(_), None) => old_cells.next().unwrap(),
            (None, Some(_)) => new_cells.next().unwrap(),
            (Some(a), Some(b)) if a[0] < b[0] => old_cells.next().unwrap(),
            (Some(a), Some(b)) if a[0] > b[0] => new_cells.next().unwrap(),
            (Some(_), Some(_)) => {
                let (a, b) = (old_cells.next().unwrap(), new_cells.next().unwrap());
                if a[2].abs() >= SAFE / 2 || b[2].abs() >= SAFE / 2 {
                    return None;
                }
                [a[0], a[1].checked_add(b[1])?, a[2] + b[2], a[3] + b[3]]
            }
        };
        push(cell)?;
    }
    Some(out)
}

impl Cache {
    pub fn new(max_cells: usize) -> Self {
        Cache {
            packs: HashMap::new(),
            cells: 0,
            max_cells,
        }
    }

    pub fn clear(&mut self) {
        self.packs.clear();
        self.cells = 0;
    }

    /// The pack's blob, None if there is none, or Err(()) when the cache doesn't know.
    pub fn get(&self, key: &Key) -> Result<Option<&[u8]>, ()> {
        match self.packs.get(key) {
            None => Err(()),
            Some(blob) => Ok(blob.as_deref()),
        }
    }

    /// Remember a pack as stored (None: it does not exist); a wide one is forgotten instead.
    pub fn put(&mut self, key: Key, blob: Option<&[u8]>) {
        if let Some(Some(old)) = self.packs.remove(&key) {
            self.cells -= (old.len() - 8) / 32;
        }
        if matches!(blob, Some(b) if !is_narrow(b)) {
            return; // wide packs are rare: read them when needed
        }
        if self.cells > self.max_cells {
            self.clear();
        }
        if let Some(b) = blob {
            self.cells += (b.len() - 8) / 32;
        }
        self.packs.insert(key, blob.map(|b| b.to_vec()));
    }

    /// The packs of the block the cache doesn't know.
    pub fn missing(&self, rows: &[[i64; 8]]) -> Vec<Key> {
        groups(rows)
            .into_iter()
            .map(|(k, _, _)| k)
            .filter(|k| !self.packs.contains_key(k))
            .collect()
    }

    /// Add the block to its packs, all of them known: what to write and delete, and the cache
    /// updated to match. None (nothing changed) if a pack is unknown or wide, or a sum could
    /// leave int64: the Python path takes the block then.
    pub fn merge(&mut self, rows: &[[i64; 8]]) -> Option<Merged> {
        let mut merged = Merged {
            writes: Vec::new(),
            deletes: Vec::new(),
        };
        for (key, start, end) in groups(rows) {
            let old = self.packs.get(&key)?;
            let blob = merge_cells(old.as_deref().unwrap_or(NARROW), &rows[start..end])?;
            if blob.len() > 8 {
                merged.writes.push((key, blob));
            } else if old.is_some() {
                merged.deletes.push(key);
            }
        }
        for (key, blob) in &merged.writes {
            self.put(*key, Some(blob));
        }
        for key in &merged.deletes {
            self.put(*key, None);
        }
        Some(merged)
    }
}
