//! metered's native fast path: a JSON batch of meter events decoded, checked and turned into
//! the parse worker's columns in one pass (see src/metered/ingest/native_batch.py).
//!
//! It only takes the plainest batches: every event well typed, of a known meter and customer,
//! with a plain integer value and short strings. On anything else it answers `None` and the
//! Python path (ingest.wire_batch, then ingest.batches) decodes and validates the batch: that
//! path is the reference for every answer, and a property test holds this one to it.

mod batch;
mod cells;
mod encode;
mod filter;
mod form;
mod packs;
mod runs;
mod single;
mod wire;

use std::collections::HashMap;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use batch::{decode, Limits, Outcome, Plan};
use encode::{answer, le_bytes, mp_array, mp_ints, mp_strs};

// --- Python --------------------------------------------------------------------------------

fn plans_from(plans: &Bound<'_, PyDict>) -> PyResult<HashMap<String, Option<Plan>>> {
    let mut out = HashMap::with_capacity(plans.len());
    for (name, plan) in plans.iter() {
        let name: String = name.extract()?;
        if plan.is_none() {
            out.insert(name, None);
            continue;
        }
        let (meter_pk, key_prefix, customer_key, value_key, dim_keys, numeric): (
            i64,
            Vec<u8>,
            String,
            String,
            Vec<String>,
            bool,
        ) = plan.extract()?;
        out.insert(
            name,
            Some(Plan {
                meter_pk,
                key_prefix,
                customer_key,
                value_key,
                dim_keys,
                numeric,
                dims: HashMap::new(),
            }),
        );
    }
    Ok(out)
}

/// decode_batch(body, limits, plans, customers) -> None | ("need", names, customers) |
/// ("ok", (keys, meter_pk, customer_pk, ts, dims_idx, hi, lo, dims_table, seg_keys,
///  seg_customers, seg_rest, answer))
///
/// `limits`: (now, oldest, newest, max_batch, max_identifier, small_payload,
/// max_dimension_value, max_unique_value). `plans`: event name -> (meter_pk, key_prefix,
/// customer_key, value_key, dimension_keys, numeric) or None when the fast path can't take it.
/// `customers`: customer id -> pk. Integer columns come back as little-endian int64 bytes.
#[pyfunction]
fn decode_batch<'py>(
    py: Python<'py>,
    body: &[u8],
    limits: (i64, i64, i64, usize, usize, usize, usize, usize),
    plans: &Bound<'py, PyDict>,
    customers: &Bound<'py, PyDict>,
) -> PyResult<PyObject> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Ok(py.None());
    };
    let (now, oldest, newest, max_batch, max_identifier, small_payload, max_dim, max_unique) =
        limits;
    let lim = Limits {
        now,
        oldest,
        newest,
        max_batch,
        max_identifier,
        small_payload,
        max_dimension_value: max_dim,
        max_unique_value: max_unique,
    };
    let mut plans = plans_from(plans)?;
    let lookup = |id: &str| {
        customers
            .get_item(id)
            .ok()
            .flatten()
            .and_then(|pk| pk.extract().ok())
    };
    let cols = match decode(text, &lim, &mut plans, lookup) {
        Ok(cols) => cols,
        Err(Outcome::Slow) => return Ok(py.None()),
        Err(Outcome::Need(names, ids)) => {
            return Ok(("need", names, ids).into_pyobject(py)?.into_any().unbind());
        }
    };
    let mut seg_keys = Vec::with_capacity(cols.identifier.len() * 24 + 16);
    mp_array(&mut seg_keys, 2);
    mp_ints(&mut seg_keys, &cols.meter_pk);
    mp_strs(&mut seg_keys, &cols.identifier);
    let mut seg_customers = Vec::with_capacity(cols.customer_pk.len() * 3 + 8);
    mp_ints(&mut seg_customers, &cols.customer_pk);
    let mut seg_rest = Vec::with_capacity(cols.payload.iter().map(|p| p.len() + 16).sum());
    mp_array(&mut seg_rest, 3);
    mp_ints(&mut seg_rest, &cols.ts);
    mp_strs(&mut seg_rest, &cols.value);
    mp_strs(&mut seg_rest, &cols.payload);
    let keys = PyList::new(py, cols.keys.iter().map(|k| PyBytes::new(py, k)))?;
    let dims_table = PyList::new(py, cols.dims_table.iter().map(|(m, d)| (*m, d.as_str())))?;
    let columns = (
        keys,
        PyBytes::new(py, &le_bytes(&cols.meter_pk)),
        PyBytes::new(py, &le_bytes(&cols.customer_pk)),
        PyBytes::new(py, &le_bytes(&cols.ts)),
        PyBytes::new(py, &le_bytes(&cols.dims_idx)),
        PyBytes::new(py, &le_bytes(&cols.hi)),
        PyBytes::new(py, &le_bytes(&cols.lo)),
        dims_table,
        PyBytes::new(py, &seg_keys),
        PyBytes::new(py, &seg_customers),
        PyBytes::new(py, &seg_rest),
        PyBytes::new(py, &answer(&cols.identifier)),
    );
    Ok(("ok", columns).into_pyobject(py)?.into_any().unbind())
}

type PyKey = (i64, i64, i64, i64);

/// A block of cells (metering.cells: a C-contiguous (n, 8) int64 array), flat, read in place.
fn block_of(buf: &PyBuffer<i64>) -> PyResult<&[i64]> {
    let (ptr, n) = int64s(buf, false)?;
    if !n.is_multiple_of(8) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "a block is (n, 8) int64",
        ));
    }
    // Safety: the buffer is held, its array alive and unchanged, as long as the slice lives.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// The rows of a block.
fn rows_of(buf: &PyBuffer<i64>) -> PyResult<Vec<[i64; 8]>> {
    Ok(block_of(buf)?
        .chunks_exact(8)
        .map(|row| row.try_into().unwrap())
        .collect())
}

/// The writer's pack cache (metering.packs.PackCache keeps its packs here when the extension
/// is installed), and the merge of blocks of cell deltas into those packs.
#[pyclass(name = "PackCache", module = "metered_native")]
struct PyPackCache {
    inner: packs::Cache,
}

#[pymethods]
impl PyPackCache {
    #[new]
    fn new(max_cells: usize) -> Self {
        PyPackCache {
            inner: packs::Cache::new(max_cells),
        }
    }

    fn clear(&mut self) {
        self.inner.clear();
    }

    /// (known, blob): blob None when the pack is known not to exist.
    fn get<'py>(&self, py: Python<'py>, key: PyKey) -> (bool, Option<Bound<'py, PyBytes>>) {
        match self.inner.get(&[key.0, key.1, key.2, key.3]) {
            Err(()) => (false, None),
            Ok(blob) => (true, blob.map(|b| PyBytes::new(py, b))),
        }
    }

    /// Remember a pack as stored (None: it does not exist); a wide one is forgotten.
    #[pyo3(signature = (key, blob))]
    fn put(&mut self, key: PyKey, blob: Option<&[u8]>) {
        self.inner.put([key.0, key.1, key.2, key.3], blob);
    }

    /// The packs of a block of cells that the cache doesn't know.
    fn missing(&self, block: PyBuffer<i64>) -> PyResult<Vec<PyKey>> {
        let rows = rows_of(&block)?;
        Ok(self
            .inner
            .missing(&rows)
            .into_iter()
            .map(|k| (k[0], k[1], k[2], k[3]))
            .collect())
    }

    /// Add a block of cells to its packs: ([meter, customer, level, bucket, blob, ...] flat,
    /// the packs to write, five values each; [(meter, customer, level, bucket)] to delete), the
    /// cache updated; or None, nothing changed, when the Python path must take the block (a
    /// pack unknown or wide, or a sum that could leave int64).
    #[allow(clippy::type_complexity)]
    fn merge<'py>(
        &mut self,
        py: Python<'py>,
        block: PyBuffer<i64>,
    ) -> PyResult<Option<(Bound<'py, PyList>, Vec<PyKey>)>> {
        let rows = rows_of(&block)?;
        let Some(merged) = self.inner.merge(&rows) else {
            return Ok(None);
        };
        let writes = PyList::empty(py);
        for (k, blob) in &merged.writes {
            for v in k {
                writes.append(v)?;
            }
            writes.append(PyBytes::new(py, blob))?;
        }
        let deletes = merged
            .deletes
            .iter()
            .map(|k| (k[0], k[1], k[2], k[3]))
            .collect();
        Ok(Some((writes, deletes)))
    }
}

/// rollup(blocks, levels) -> bytes: the coarse cells of pending minute blocks (each a
/// C-contiguous (n, 8) int64 array, metering.cells) at each (level, size in minutes), merged
/// and sorted, as little-endian int64 bytes. Without the GIL.
#[pyfunction]
fn rollup<'py>(
    py: Python<'py>,
    blocks: Vec<PyBuffer<i64>>,
    levels: Vec<(i64, i64)>,
) -> PyResult<Bound<'py, PyBytes>> {
    let slices = blocks
        .iter()
        .map(block_of)
        .collect::<PyResult<Vec<&[i64]>>>()?;
    let cells = py.allow_threads(|| cells::rollup(&slices, &levels));
    Ok(PyBytes::new(py, &le_bytes(cells.as_flattened())))
}

/// A C-contiguous int64 buffer (a numpy array) as a slice; writable if asked.
fn int64s(buf: &PyBuffer<i64>, writable: bool) -> PyResult<(*mut i64, usize)> {
    if !buf.is_c_contiguous() || (writable && buf.readonly()) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "a contiguous int64 array",
        ));
    }
    Ok((buf.buf_ptr() as *mut i64, buf.item_count()))
}

/// merge_runs(a_fps, a_seqs, b_fps, b_seqs, out_fps, out_seqs, min_seq) -> n: two sorted runs
/// of the dedupe index (int64 arrays) merged into the outputs (each at least as long as both
/// runs), without the GIL; the first n entries of the outputs are the merged run.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn merge_runs(
    py: Python<'_>,
    a_fps: PyBuffer<i64>,
    a_seqs: PyBuffer<i64>,
    b_fps: PyBuffer<i64>,
    b_seqs: PyBuffer<i64>,
    out_fps: PyBuffer<i64>,
    out_seqs: PyBuffer<i64>,
    min_seq: i64,
) -> PyResult<usize> {
    let (a_f, na) = int64s(&a_fps, false)?;
    let (a_s, na2) = int64s(&a_seqs, false)?;
    let (b_f, nb) = int64s(&b_fps, false)?;
    let (b_s, nb2) = int64s(&b_seqs, false)?;
    let (o_f, no) = int64s(&out_fps, true)?;
    let (o_s, no2) = int64s(&out_seqs, true)?;
    if na != na2 || nb != nb2 || no != no2 || no < na + nb {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "runs and outputs do not match",
        ));
    }
    // Safety: the buffers are held (and their arrays alive) until this function returns; the
    // outputs are writable and distinct from the inputs (fresh arrays made by the caller).
    let (a, b, out) = unsafe {
        (
            (
                std::slice::from_raw_parts(a_f, na),
                std::slice::from_raw_parts(a_s, na),
            ),
            (
                std::slice::from_raw_parts(b_f, nb),
                std::slice::from_raw_parts(b_s, nb),
            ),
            (
                std::slice::from_raw_parts_mut(o_f, no),
                std::slice::from_raw_parts_mut(o_s, no),
            ),
        )
    };
    let (a, b) = ((a.0, a.1), (b.0, b.1));
    let (of, os) = out;
    Ok(py.allow_threads(move || runs::merge(a, b, (of, os), min_seq)))
}

/// A C-contiguous uint8 buffer (a numpy array) as a slice; writable if asked.
fn bytes_of(buf: &PyBuffer<u8>, writable: bool) -> PyResult<(*mut u8, usize)> {
    if !buf.is_c_contiguous() || (writable && buf.readonly()) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "a contiguous uint8 array",
        ));
    }
    Ok((buf.buf_ptr() as *mut u8, buf.item_count()))
}

/// Below this many fingerprints the filter's work (~30 ns each, mostly cache misses) is shorter
/// than handing the GIL over and waiting to take it back (up to the switch interval, 1 ms).
const WITHOUT_GIL_FROM: usize = 256;

fn filter_of(filter: &PyBuffer<u8>, log2: u32, writable: bool) -> PyResult<(*mut u8, usize)> {
    let (ptr, n) = bytes_of(filter, writable)?;
    if !(4..=32).contains(&log2) || n != 1 << (log2 - 3) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "a filter of 2**log2 bits",
        ));
    }
    Ok((ptr, n))
}

/// filter_mark(filter, log2, fps): the dedupe index's Bloom filter (a uint8 array of 2**log2
/// bits) gets the bits of each fingerprint (an int64 array) set, without the GIL
/// (native/src/filter.rs; the reference is ingest.seen_index's numpy `_mark`).
#[pyfunction]
fn filter_mark(
    py: Python<'_>,
    filter: PyBuffer<u8>,
    log2: u32,
    fps: PyBuffer<i64>,
) -> PyResult<()> {
    let (f, nf) = filter_of(&filter, log2, true)?;
    let (p, np) = int64s(&fps, false)?;
    // Safety: both buffers are held until this returns; only the writer thread touches the
    // filter, and it is distinct from the fingerprints.
    let (filter_bits, fps) = unsafe {
        (
            std::slice::from_raw_parts_mut(f, nf),
            std::slice::from_raw_parts(p, np),
        )
    };
    if fps.len() < WITHOUT_GIL_FROM {
        filter::mark(filter_bits, log2, fps);
    } else {
        py.allow_threads(move || filter::mark(filter_bits, log2, fps));
    }
    Ok(())
}

/// filter_test(filter, log2, fps, maybe): maybe[i] (a uint8 array as long as `fps`) is 1 when
/// all the bits of fps[i] are set in the filter (it may be in the index), else 0.
#[pyfunction]
fn filter_test(
    py: Python<'_>,
    filter: PyBuffer<u8>,
    log2: u32,
    fps: PyBuffer<i64>,
    maybe: PyBuffer<u8>,
) -> PyResult<()> {
    let (f, nf) = filter_of(&filter, log2, false)?;
    let (p, np) = int64s(&fps, false)?;
    let (m, nm) = bytes_of(&maybe, true)?;
    if nm != np {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "one answer per fingerprint",
        ));
    }
    // Safety: the buffers are held until this returns; `maybe` is a distinct, fresh array.
    let (filter_bits, fps, maybe) = unsafe {
        (
            std::slice::from_raw_parts(f as *const u8, nf),
            std::slice::from_raw_parts(p, np),
            std::slice::from_raw_parts_mut(m, nm),
        )
    };
    if fps.len() < WITHOUT_GIL_FROM {
        filter::test(filter_bits, log2, fps, maybe);
    } else {
        py.allow_threads(move || filter::test(filter_bits, log2, fps, maybe));
    }
    Ok(())
}

type EventRequest<'py> = (
    Bound<'py, PyString>,
    Option<Bound<'py, PyString>>,
    bool,
    usize,
    Bound<'py, PyDict>,
);

/// meter_event_request(data) -> None | (authorization, idempotency_key, keep_alive,
/// body_offset, fields): `data`, the bytes of one read, if they are exactly one plain
/// `POST /v1/billing/meter_events` request (native/src/form.rs); `fields` is the form as the
/// Python decoder makes it: {"event_name": .., "identifier": .., "timestamp": ..,
/// "payload": {key: value, ...}}, each key only when sent, in the order sent.
#[pyfunction]
fn meter_event_request<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Option<EventRequest<'py>>> {
    let Some(head) = form::head(data) else {
        return Ok(None);
    };
    let Some(fields) = form::fields(head.body) else {
        return Ok(None);
    };
    let out = PyDict::new(py);
    for (name, value) in [
        ("event_name", fields.event_name),
        ("identifier", fields.identifier),
        ("timestamp", fields.timestamp),
    ] {
        if let Some(value) = value {
            out.set_item(name, value)?;
        }
    }
    if !fields.payload.is_empty() {
        let payload = PyDict::new(py);
        for (k, v) in fields.payload {
            payload.set_item(k, v)?;
        }
        out.set_item("payload", payload)?;
    }
    let offset = data.len() - head.body.len();
    let auth = PyString::new(py, head.authorization);
    let idem = head.idempotency_key.map(|k| PyString::new(py, k));
    Ok(Some((auth, idem, head.keep_alive, offset, out)))
}

type SingleOut<'py> = (
    Bound<'py, PyBytes>,
    i64,
    String,
    i64,
    String,
    String,
    Bound<'py, PyBytes>,
);

/// meter_event_check(body, event_name, plan, customers, limits, created, livemode) -> None |
/// customer id | (key, customer_pk, dims, ts, value, payload, answer): the form body of a
/// single v1 meter event checked against its meter's `plan` (ingest.native_batch.plan_of) in
/// one pass (native/src/single.rs). None: the Python route takes it; a customer id: look it
/// up, add it to `customers` (id -> pk) and call again. `limits`: (now, oldest, newest,
/// max_identifier, max_payload_keys, max_payload_bytes, max_dimension_value,
/// max_unique_value). `answer` is the route's JSON answer once the event is accepted.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn meter_event_check<'py>(
    py: Python<'py>,
    body: &[u8],
    event_name: &str,
    plan: &Bound<'py, PyTuple>,
    customers: &Bound<'py, PyDict>,
    limits: (i64, i64, i64, usize, usize, usize, usize, usize),
    created: i64,
    livemode: bool,
) -> PyResult<PyObject> {
    let Some(fields) = form::fields(body) else {
        return Ok(py.None());
    };
    // The plan's parts borrowed, not copied: (meter_pk, key_prefix, customer_key, value_key,
    // dimension_keys, numeric).
    let (prefix, customer_key, value_key, dim_keys) = (
        plan.get_item(1)?,
        plan.get_item(2)?,
        plan.get_item(3)?,
        plan.get_item(4)?,
    );
    let dim_keys = dim_keys.downcast::<PyTuple>()?;
    let dim_items: Vec<Bound<'py, PyAny>> = dim_keys.iter().collect();
    let plan = single::SinglePlan {
        key_prefix: prefix.downcast::<PyBytes>()?.as_bytes(),
        customer_key: customer_key.downcast::<PyString>()?.to_str()?,
        value_key: value_key.downcast::<PyString>()?.to_str()?,
        dim_keys: dim_items
            .iter()
            .map(|k| k.downcast::<PyString>()?.to_str())
            .collect::<PyResult<Vec<&str>>>()?,
        numeric: plan.get_item(5)?.extract()?,
    };
    let lim = single::SingleLimits {
        now: limits.0,
        oldest: limits.1,
        newest: limits.2,
        max_identifier: limits.3,
        max_payload_keys: limits.4,
        max_payload_bytes: limits.5,
        max_dimension_value: limits.6,
        max_unique_value: limits.7,
    };
    let customer_pk_of = |id: &str| -> Option<i64> {
        customers
            .get_item(id)
            .ok()
            .flatten()
            .and_then(|pk| pk.extract().ok())
    };
    Ok(
        match single::check(
            &fields,
            event_name,
            &plan,
            &lim,
            created,
            livemode,
            customer_pk_of,
        ) {
            single::Single::Slow => py.None(),
            single::Single::NeedCustomer(id) => PyString::new(py, id).into_any().unbind(),
            single::Single::Ok(c) => {
                let out: SingleOut<'py> = (
                    PyBytes::new(py, &c.key),
                    c.customer_pk,
                    c.dims,
                    c.ts,
                    c.value,
                    c.payload,
                    PyBytes::new(py, c.answer.as_bytes()),
                );
                out.into_pyobject(py)?.into_any().unbind()
            }
        },
    )
}

/// send_all(items) -> [bytes written, or -1 on an error]: each (fd, data) of `items` written
/// to its non-blocking TCP socket as far as it goes without blocking, in order, without the
/// GIL (the single-event fast path's answers: src/metered/api/server.py). The caller owns the
/// descriptors and writes what is left through its transport.
#[pyfunction]
fn send_all(py: Python<'_>, items: Vec<(i32, Bound<'_, PyBytes>)>) -> Vec<isize> {
    let slices: Vec<(i32, &[u8])> = items.iter().map(|(fd, b)| (*fd, b.as_bytes())).collect();
    py.allow_threads(|| {
        slices
            .iter()
            .map(|(fd, data)| send_one(*fd, data))
            .collect()
    })
}

fn send_one(fd: i32, data: &[u8]) -> isize {
    use std::io::{ErrorKind, Write};
    use std::os::fd::FromRawFd;
    // Safety: the caller keeps `fd` open for the call; ManuallyDrop never closes it. Writes on
    // a TcpStream pass MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE.
    let mut stream = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    let mut sent = 0;
    while sent < data.len() {
        match stream.write(&data[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) if sent == 0 => return -1,
            Err(_) => break,
        }
    }
    sent as isize
}

#[pymodule]
fn metered_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_batch, m)?)?;
    m.add_function(wrap_pyfunction!(rollup, m)?)?;
    m.add_function(wrap_pyfunction!(merge_runs, m)?)?;
    m.add_function(wrap_pyfunction!(filter_mark, m)?)?;
    m.add_function(wrap_pyfunction!(filter_test, m)?)?;
    m.add_function(wrap_pyfunction!(meter_event_request, m)?)?;
    m.add_function(wrap_pyfunction!(send_all, m)?)?;
    m.add_function(wrap_pyfunction!(meter_event_check, m)?)?;
    m.add_class::<PyPackCache>()?;
    Ok(())
}
