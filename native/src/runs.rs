//! Two sorted runs of the dedupe index merged in linear time (ingest.seen_index), the reference
//! being numpy's `np.insert(a, np.searchsorted(a, b, "right"), b)`: on equal fingerprints, a's
//! entries come first. Entries whose seq is below `min_seq` (expired) are dropped.

/// Merge (a_fps, a_seqs) and (b_fps, b_seqs) into the outputs; returns how many were written.
pub fn merge(
    a: (&[i64], &[i64]),
    b: (&[i64], &[i64]),
    out: (&mut [i64], &mut [i64]),
    min_seq: i64,
) -> usize {
    let (a_fps, a_seqs) = a;
    let (b_fps, b_seqs) = b;
    let (out_fps, out_seqs) = out;
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a_fps.len() || j < b_fps.len() {
        let from_a = j == b_fps.len() || (i < a_fps.len() && a_fps[i] <= b_fps[j]);
        let (fp, seq) = if from_a {
            i += 1;
            (a_fps[i - 1], a_seqs[i - 1])
        } else {
            j += 1;
            (b_fps[j - 1], b_seqs[j - 1])
        };
        if seq >= min_seq {
            out_fps[n] = fp;
            out_seqs[n] = seq;
            n += 1;
        }
    }
    n
}
