"""The dedupe index, in memory: every accepted key in the window as fingerprint -> event seq.

The durable seen-set is the raw event table itself: an event's row, written in the transaction
that counts it, carries the 64-bit fingerprint of its dedupe key. This index answers "which
stored events might have this key?" without touching disk; every hit is confirmed against the
stored event (see EventApplier), so a fingerprint collision can never drop an event.

Layout: sorted numpy runs (16 bytes per id), merged like an LSM tree. Each commit adds its ids as
one run, sorted with numpy (no Python object per id); a new run is merged into the one before it
while that one is at most twice its size, so there are O(log n) runs and each id is merged
O(log n) times; lookups cost a binary search per run. Keys never leave the index while their
events are inside the window; `expire_before` drops older ones.
"""

from __future__ import annotations

import threading

import numpy as np

from metered.native import extension as metered_native

MERGE_FACTOR = 2  # merge a new run into a predecessor at most this many times its size
FILTER_LOG2 = 28  # the lookup filter: 2**28 bits (32 MiB)
FILTER_BITS = 1 << FILTER_LOG2
MAX_MERGED = 1 << 20  # ... but never into runs of more than ~1M ids (20 runs for 20M ids)
# Merges up to this many ids are made by the caller of `add` (the writer, ~1 ms at most); bigger
# ones by the index's own thread once it is started (`start_compacting`): a merge of 1M ids
# took ~20-30 ms (reading and writing 32 MB, faulting in fresh pages), and the writer made it
# between a COMMIT and its answers, into the acknowledgement latency's tail.
MAX_INLINE_MERGE = 1 << 14
FILTER_HASHES = 3  # ~0.8% of absent ids pass at 20M ids (1 hash: ~7%)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it permutes the 64-bit values


def _slot(fps: np.ndarray, hash_index: int) -> np.ndarray:
    """The filter bit of each fingerprint for one hash: fingerprints are uniformly random (a
    BLAKE2b digest's first 8 bytes), so disjoint bit ranges of them are independent hashes;
    the third mixes all 64 bits."""
    bits = fps.view(np.uint64)
    if hash_index == 0:
        slots = bits >> np.uint64(64 - FILTER_LOG2)
    elif hash_index == 1:
        slots = (bits >> np.uint64(64 - 2 * FILTER_LOG2)) & np.uint64(FILTER_BITS - 1)
    else:
        slots = (bits * _MIX) >> np.uint64(64 - FILTER_LOG2)
    return slots.astype(np.int64)


def _slots(fps: np.ndarray) -> list[np.ndarray]:
    return [_slot(fps, i) for i in range(FILTER_HASHES)]


def fingerprint(key: bytes) -> int:
    return int.from_bytes(key[:8], "little", signed=True)


class _Run:
    __slots__ = ("fps", "seqs")

    def __init__(self, fps: np.ndarray, seqs: np.ndarray):
        self.fps = fps
        self.seqs = seqs

    def __len__(self) -> int:
        return len(self.fps)


def _merge(a: _Run, b: _Run, min_seq: int) -> _Run:
    """Merge two sorted runs in linear time (no re-sort). Natively when the extension is
    installed: a two-pointer pass without the GIL, where numpy's binary searches of one run in
    the other cost ~30 ms at a million ids, holding it."""
    if metered_native is not None:
        fps = np.empty(len(a) + len(b), dtype=np.int64)
        seqs = np.empty(len(a) + len(b), dtype=np.int64)
        n = metered_native.merge_runs(a.fps, a.seqs, b.fps, b.seqs, fps, seqs, min_seq)
        if n < len(fps):
            fps, seqs = fps[:n].copy(), seqs[:n].copy()
        return _Run(fps, seqs)
    at = np.searchsorted(a.fps, b.fps, "right")
    fps = np.insert(a.fps, at, b.fps)
    seqs = np.insert(a.seqs, at, b.seqs)
    if min_seq and (seqs < min_seq).any():
        keep = seqs >= min_seq
        fps, seqs = fps[keep], seqs[keep]
    return _Run(fps, seqs)


def _mergeable(runs: list[_Run]) -> int | None:
    """The newest pair of neighbouring runs too big to merge inline but due (comparable sizes,
    at most MAX_MERGED ids together): the position of its older run, or None."""
    for i in range(len(runs) - 2, -1, -1):
        a, b = len(runs[i]), len(runs[i + 1])
        if a <= MERGE_FACTOR * b and MAX_INLINE_MERGE < a + b <= MAX_MERGED:
            return i
    return None


def _sorted_run(fps: np.ndarray, seqs: np.ndarray, min_seq: int) -> _Run:
    keep = seqs >= min_seq
    if not keep.all():
        fps, seqs = fps[keep], seqs[keep]
    order = np.argsort(fps, kind="stable")
    return _Run(np.ascontiguousarray(fps[order]), np.ascontiguousarray(seqs[order]))


class SeenIndex:
    """Thread-safe: the writer adds and looks up; merges swap runs under a lock."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []
        self._min_seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # a big merge is due, or stop
        self._compactor: threading.Thread | None = None
        self._stopping = False
        self._merging = False  # the compactor is merging (outside the lock)
        # A Bloom filter over every fingerprint ever added (32 MiB, three hashes): a lookup
        # whose bits are not all set skips the runs' binary searches, which cost a cache miss
        # per step in every run (with one hash, ~7% of the ids of a 20M window passed, and the
        # searches were ~12% of the server's CPU). Expired ids leave their bits set; that only
        # costs a search.
        self._bits = np.zeros(FILTER_BITS >> 3, dtype=np.uint8)

    def _mark(self, fps: np.ndarray) -> None:
        if metered_native is not None:  # ~40x faster at a commit's few dozen ids (ufunc.at)
            metered_native.filter_mark(self._bits, FILTER_LOG2, fps)
            return
        for slots in _slots(fps):
            np.bitwise_or.at(self._bits, slots >> 3, (1 << (slots & 7)).astype(np.uint8))

    def _maybe(self, fps: np.ndarray) -> np.ndarray:
        if metered_native is not None:
            out = np.empty(len(fps), dtype=np.uint8)
            metered_native.filter_test(self._bits, FILTER_LOG2, np.ascontiguousarray(fps), out)
            return out.view(bool)
        maybe = np.ones(len(fps), dtype=bool)
        at = np.arange(len(fps))
        for hash_index in range(FILTER_HASHES):  # each hash only for those still passing
            slots = _slot(fps[at], hash_index)
            hit = ((self._bits[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1).astype(bool)
            maybe[at[~hit]] = False
            at = at[hit]
            if not len(at):
                break
        return maybe

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    @property
    def nbytes(self) -> int:
        runs = sum(r.fps.nbytes + r.seqs.nbytes for r in self._runs)
        return runs + self._bits.nbytes

    def candidates(self, fps: list[int]) -> dict[int, list[int]]:
        """For each position whose fingerprint is known: the seqs of events that may match."""
        found: dict[int, list[int]] = {}
        if not fps:
            return found
        maybe = np.flatnonzero(self._maybe(np.fromiter(fps, dtype=np.int64, count=len(fps))))
        if not len(maybe):
            return found
        positions = maybe.tolist()
        inner = self._candidates([fps[i] for i in positions])
        return {positions[i]: seqs for i, seqs in inner.items()}

    def any_known(self, fps: np.ndarray) -> bool:
        """Whether any of these fingerprints (an int64 array) is in the index: the writer's
        fast path asks this of every batch, and almost always hears no."""
        if not len(fps):
            return False
        maybe = fps[self._maybe(fps)]
        if not len(maybe):
            return False
        for run in self._runs:
            if len(run):
                at = np.minimum(np.searchsorted(run.fps, maybe), len(run) - 1)
                if (run.fps[at] == maybe).any():
                    return True
        return False

    def _candidates(self, fps: list[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        runs = self._runs
        if runs and fps:
            batch = np.fromiter(fps, dtype=np.int64, count=len(fps))
            for run in runs:
                left = np.searchsorted(run.fps, batch, "left")
                right = np.searchsorted(run.fps, batch, "right")
                for i in np.nonzero(right > left)[0].tolist():
                    found.setdefault(i, []).extend(run.seqs[left[i] : right[i]].tolist())
        return found

    def add(self, fps: np.ndarray, seqs: np.ndarray) -> None:
        """Record committed ids (a commit's, or at start-up the window's): fingerprints (int64)
        and their seqs, as arrays."""
        if not len(fps):
            return
        fps = np.ascontiguousarray(fps, dtype=np.int64)
        self._mark(fps)
        run = _sorted_run(fps, np.asarray(seqs, dtype=np.int64), self._min_seq)
        with self._lock:
            self._runs.append(run)
            self._compact_locked()

    def expire_before(self, min_seq: int) -> None:
        """Forget the ids of events with seq < min_seq (linear in the index size, no sort)."""
        with self._lock:
            self._min_seq = max(self._min_seq, min_seq)
            runs = []
            for run in self._runs:
                if len(run) and run.seqs.min() < min_seq:
                    keep = run.seqs >= min_seq
                    run = _Run(run.fps[keep], run.seqs[keep])
                if len(run):
                    runs.append(run)
            self._runs = runs

    def _compact_locked(self) -> None:
        runs = [r for r in self._runs if len(r)]
        # Keep run sizes geometric: merge the newest run into its predecessor while comparable,
        # up to MAX_MERGED ids (a bigger merge would hold the writer for a noticeable time;
        # more runs only cost a few more binary searches per lookup). Once the compactor runs,
        # merges above MAX_INLINE_MERGE ids are its own.
        limit = MAX_MERGED if self._compactor is None else MAX_INLINE_MERGE
        while (len(runs) > 1 and len(runs[-2]) <= MERGE_FACTOR * len(runs[-1])
               and len(runs[-2]) + len(runs[-1]) <= limit):
            b, a = runs.pop(), runs.pop()
            runs.append(_merge(a, b, self._min_seq))
        self._runs = runs
        if (self._compactor is not None and len(runs) > 1
                and len(runs[-2]) <= MERGE_FACTOR * len(runs[-1])):
            self._wake.notify()  # a big merge is due (the compactor finds any other itself)

    # --- the compactor thread ------------------------------------------------------------

    def start_compacting(self) -> None:
        """From now on, merges above MAX_INLINE_MERGE ids are made on a thread of the index's
        own (its merges run without the GIL), not by the caller of `add`."""
        with self._lock:
            if self._compactor is None:
                self._compactor = threading.Thread(target=self._compact_forever,
                                                   name="metered-index", daemon=True)
                self._compactor.start()

    def stop_compacting(self) -> None:
        with self._lock:
            thread, self._stopping = self._compactor, True
            self._wake.notify()
        if thread is not None:
            thread.join(timeout=30)

    def wait_compacted(self, timeout: float = 30.0) -> bool:
        """Until no merge is due or in progress (tests)."""
        with self._lock:
            return self._wake.wait_for(
                lambda: not self._merging and _mergeable(self._runs) is None, timeout)

    def _compact_forever(self) -> None:
        while True:
            with self._lock:
                self._wake.notify_all()  # for wait_compacted
                self._wake.wait_for(
                    lambda: self._stopping or _mergeable(self._runs) is not None)
                if self._stopping:
                    return
                at = _mergeable(self._runs)
                assert at is not None
                a, b = self._runs[at], self._runs[at + 1]
                min_seq = self._min_seq
                self._merging = True
            try:
                merged = _merge(a, b, min_seq)
            finally:
                with self._lock:
                    self._merging = False
            with self._lock:
                runs = self._runs
                # The writer may have added runs meanwhile, and retention replaced them:
                # swap the pair only if it is still there, side by side.
                for i in range(len(runs) - 1):
                    if runs[i] is a and runs[i + 1] is b:
                        if self._min_seq > min_seq:  # expired while merging
                            keep = merged.seqs >= self._min_seq
                            merged = _Run(merged.fps[keep], merged.seqs[keep])
                        self._runs = [*runs[:i], merged, *runs[i + 2:]]
                        break
