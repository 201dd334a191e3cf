//! A JSON batch decoded, checked and hashed into columns, or left to the Python path.

use std::borrow::Cow;
use std::collections::HashMap;

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};
use serde::de::DeserializeSeed;

use crate::wire::{Envelope, PayloadSeed, ValueField, Wrapped};

const SCALE: i128 = 1_000_000_000_000; // values are stored times 10**12
const LO_BITS: u32 = 40;
const MAX_PLAIN: u64 = 1_000_000_000_000_000; // plain integer values: below 10**15
                                              // --- what the caller gives -----------------------------------------------------------------

/// What checking the events of one meter needs (ingest.native_batch.plan_of).
pub struct Plan {
    pub meter_pk: i64,
    pub key_prefix: Vec<u8>,
    pub customer_key: String,
    pub value_key: String,
    pub dim_keys: Vec<String>,
    pub numeric: bool,
    pub dims: HashMap<String, i64>, // canonical dimension values -> index in the dims table
}

pub struct Limits {
    pub now: i64,
    pub oldest: i64,
    pub newest: i64,
    pub max_batch: usize,
    pub max_identifier: usize,
    pub small_payload: usize,
    pub max_dimension_value: usize,
    pub max_unique_value: usize,
}

// --- the columns ---------------------------------------------------------------------------

#[derive(Default)]
pub struct Columns<'a> {
    pub keys: Vec<[u8; 16]>,
    pub meter_pk: Vec<i64>,
    pub customer_pk: Vec<i64>,
    pub ts: Vec<i64>,
    pub dims_idx: Vec<i64>,
    pub hi: Vec<i64>,
    pub lo: Vec<i64>,
    pub identifier: Vec<Cow<'a, str>>,
    pub value: Vec<Cow<'a, str>>,
    pub payload: Vec<&'a str>,
    pub dims_table: Vec<(i64, String)>,
}

pub enum Outcome {
    Slow,                           // the Python path takes the batch
    Need(Vec<String>, Vec<String>), // unknown event names and customers: look up, call again
}

fn envelopes(body: &str) -> Option<Vec<Envelope<'_>>> {
    let start = body
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()?;
    match start {
        b'[' => serde_json::from_str::<Vec<Envelope>>(body).ok(),
        b'{' => serde_json::from_str::<Wrapped>(body).ok().map(|w| w.events),
        _ => None,
    }
}

pub(crate) fn char_len_within(s: &str, max: usize) -> bool {
    s.len() <= max || s.chars().count() <= max
}

pub(crate) fn truncate_chars(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s;
    }
    match s.char_indices().nth(max) {
        None => s,
        Some((at, _)) => match s {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..at]),
            Cow::Owned(o) => Cow::Owned(o[..at].to_owned()),
        },
    }
}

/// (canonical text, value * 10**12) of a plain value, as validation.plain_quantity.
fn plain_quantity(value: ValueField<'_>) -> Option<(Cow<'_, str>, i128)> {
    match value {
        ValueField::Int(v) if v < MAX_PLAIN => Some((Cow::Owned(v.to_string()), v as i128 * SCALE)),
        ValueField::Str(s) => {
            let b = s.as_bytes();
            if b.is_empty() || b.len() > 15 || !b.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n: u64 = s.parse().ok()?;
            let stripped = s.trim_start_matches('0');
            let text = if stripped.is_empty() {
                Cow::Borrowed("0")
            } else if stripped.len() == s.len() {
                s
            } else {
                Cow::Owned(stripped.to_owned())
            };
            Some((text, n as i128 * SCALE))
        }
        _ => None,
    }
}

/// A string that msgspec's JSON encoder writes as is between quotes (no escape needed).
pub(crate) fn plain_json_str(s: &str) -> bool {
    !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

/// msgspec's JSON of the tuple of dimension values, into `out` (strings need no escapes).
pub(crate) fn canonical_dims(out: &mut String, values: &[Option<Cow<'_, str>>]) {
    out.clear();
    out.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            None => out.push_str("null"),
            Some(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
        }
    }
    out.push(']');
}

pub fn decode<'a, F: FnMut(&str) -> Option<i64>>(
    body: &'a str,
    lim: &Limits,
    plans: &mut HashMap<String, Option<Plan>>,
    mut customer_pk_of: F,
) -> Result<Columns<'a>, Outcome> {
    let events = envelopes(body).ok_or(Outcome::Slow)?;
    if events.is_empty() || events.len() > lim.max_batch {
        return Err(Outcome::Slow);
    }
    let mut cols = Columns::default();
    let mut dims_index: HashMap<(i64, String), i64> = HashMap::new();
    let mut customers: HashMap<String, Option<i64>> = HashMap::new();
    let mut text = String::new();
    let (mut need_names, mut need_customers) = (Vec::new(), Vec::new());
    for env in events {
        let name = env.event_name.0.ok_or(Outcome::Slow)?;
        let plan = match plans.get_mut(name.as_ref()) {
            None => {
                if !need_names.iter().any(|n: &String| n == name.as_ref()) {
                    need_names.push(name.into_owned());
                }
                continue;
            }
            Some(None) => return Err(Outcome::Slow),
            Some(Some(plan)) => plan,
        };
        let identifier = env.identifier.0.ok_or(Outcome::Slow)?;
        let raw = env.payload.ok_or(Outcome::Slow)?.get();
        let ts = env.timestamp.unwrap_or(lim.now);
        if identifier.is_empty()
            || !char_len_within(&identifier, lim.max_identifier)
            || raw.is_empty()
            || raw.len() >= lim.small_payload
            || ts < lim.oldest
            || ts > lim.newest
        {
            return Err(Outcome::Slow);
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        let payload = PayloadSeed { plan }
            .deserialize(&mut de)
            .map_err(|_| Outcome::Slow)?;
        let customer = match payload.customer {
            Some(c) if !c.is_empty() => c,
            _ => return Err(Outcome::Slow),
        };
        let known = match customers.get(customer.as_ref()) {
            Some(known) => *known,
            None => {
                let known = customer_pk_of(&customer);
                customers.insert(customer.to_string(), known);
                known
            }
        };
        let customer_pk = match known {
            Some(pk) => pk,
            None => {
                if !need_customers
                    .iter()
                    .any(|c: &String| c == customer.as_ref())
                {
                    need_customers.push(customer.into_owned());
                }
                continue;
            }
        };
        let (value, scaled) = if plan.numeric {
            plain_quantity(payload.value).ok_or(Outcome::Slow)?
        } else {
            match payload.value {
                ValueField::Absent => (Cow::Borrowed(""), 0),
                ValueField::Str(s) => (truncate_chars(s, lim.max_unique_value), 0),
                ValueField::Int(_) => return Err(Outcome::Slow),
            }
        };
        let dims_idx = if plan.dim_keys.is_empty() {
            let next = dims_index.len() as i64;
            *dims_index
                .entry((plan.meter_pk, String::new()))
                .or_insert_with(|| {
                    cols.dims_table.push((plan.meter_pk, String::new()));
                    next
                })
        } else {
            // The text is unambiguous only for strings without escapes: check them first.
            if !payload.dims.iter().flatten().all(|s| plain_json_str(s)) {
                return Err(Outcome::Slow);
            }
            canonical_dims(&mut text, &payload.dims);
            match plan.dims.get(text.as_str()) {
                Some(idx) => *idx,
                None => {
                    let long = |s: &Cow<'_, str>| !char_len_within(s, lim.max_dimension_value);
                    if payload.dims.iter().flatten().any(long) {
                        return Err(Outcome::Slow);
                    }
                    let next = dims_index.len() as i64;
                    let idx = *dims_index
                        .entry((plan.meter_pk, text.clone()))
                        .or_insert_with(|| {
                            cols.dims_table.push((plan.meter_pk, text.clone()));
                            next
                        });
                    plan.dims.insert(text.clone(), idx);
                    idx
                }
            }
        };
        let mut hasher = Blake2b::<U16>::new();
        hasher.update(&plan.key_prefix);
        hasher.update(identifier.as_bytes());
        cols.keys.push(hasher.finalize().into());
        cols.meter_pk.push(plan.meter_pk);
        cols.customer_pk.push(customer_pk);
        cols.ts.push(ts);
        cols.dims_idx.push(dims_idx);
        cols.hi.push((scaled >> LO_BITS) as i64);
        cols.lo.push((scaled & ((1i128 << LO_BITS) - 1)) as i64);
        cols.identifier.push(identifier);
        cols.value.push(value);
        cols.payload.push(raw);
    }
    if !need_names.is_empty() || !need_customers.is_empty() {
        return Err(Outcome::Need(need_names, need_customers));
    }
    Ok(cols)
}
