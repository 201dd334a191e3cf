//! One form-encoded v1 meter event (native/src/form.rs's fields) checked against its meter,
//! hashed, and its answer written, in one pass: the single-event fast path's validation
//! (src/metered/api/fast_events.py). Like the batch path (batch.rs) it only takes the plainest
//! events: a known customer, a plain integer value (or none, for count), strings that JSON
//! writes as they are, a timestamp in range; on anything else the Python route validates the
//! event and gives the answer or the precise error, and tests hold the two to the same bytes.

use std::borrow::Cow;
use std::fmt::Write;

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};

use crate::batch::{canonical_dims, char_len_within, plain_json_str, truncate_chars};
use crate::form::Fields;

/// What checking an event of one meter needs (ingest.native_batch.plan_of).
pub struct SinglePlan<'a> {
    pub key_prefix: &'a [u8],
    pub customer_key: &'a str,
    pub value_key: &'a str,
    pub dim_keys: Vec<&'a str>,
    pub numeric: bool,
}

pub struct SingleLimits {
    pub now: i64,
    pub oldest: i64,
    pub newest: i64,
    pub max_identifier: usize,
    pub max_payload_keys: usize,
    pub max_payload_bytes: usize,
    pub max_dimension_value: usize,
    pub max_unique_value: usize,
}

/// The event, as ingest.events.ValidatedEvent holds it, and the route's answer once accepted.
pub struct Checked {
    pub key: [u8; 16],
    pub customer_pk: i64,
    pub dims: String,
    pub ts: i64,
    pub value: String,
    pub payload: String,
    pub answer: String,
}

pub enum Single<'a> {
    Slow,                  // the Python route takes the event
    NeedCustomer(&'a str), // look the customer up, then call again
    Ok(Checked),
}

const MAX_PLAIN_DIGITS: usize = 15; // validation.plain_quantity

fn plain_digits(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_PLAIN_DIGITS || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let stripped = s.trim_start_matches('0');
    Some(if stripped.is_empty() { "0" } else { stripped })
}

fn timestamp(raw: Option<&str>, lim: &SingleLimits) -> Option<i64> {
    let ts = match raw {
        None | Some("") => lim.now,
        Some(s) if s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok()?,
        Some(_) => return None,
    };
    (lim.oldest..=lim.newest).contains(&ts).then_some(ts)
}

pub fn check<'a, F: FnOnce(&str) -> Option<i64>>(
    fields: &'a Fields,
    event_name: &str,
    plan: &SinglePlan<'_>,
    lim: &SingleLimits,
    created: i64,
    livemode: bool,
    customer_pk_of: F,
) -> Single<'a> {
    let payload = &fields.payload;
    let Some(identifier) = fields.identifier.as_deref() else {
        return Single::Slow;
    };
    if identifier.is_empty()
        || !char_len_within(identifier, lim.max_identifier)
        || !plain_json_str(identifier)
        || !plain_json_str(event_name)
        || payload.is_empty()
        || payload.len() > lim.max_payload_keys
        || !payload
            .iter()
            .all(|(k, v)| plain_json_str(k) && plain_json_str(v))
    {
        return Single::Slow;
    }
    let get = |key: &str| {
        payload
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let customer = match get(plan.customer_key) {
        Some(c) if !c.is_empty() => c,
        _ => return Single::Slow,
    };
    let Some(customer_pk) = customer_pk_of(customer) else {
        return Single::NeedCustomer(customer);
    };
    let value = match (plan.numeric, get(plan.value_key)) {
        (true, Some(raw)) => match plain_digits(raw) {
            Some(digits) => digits.to_owned(),
            None => return Single::Slow,
        },
        (true, None) => return Single::Slow,
        (false, None) => String::new(),
        (false, Some(raw)) => truncate_chars(Cow::Borrowed(raw), lim.max_unique_value).into_owned(),
    };
    let mut dims = String::new();
    if !plan.dim_keys.is_empty() {
        let values: Vec<Option<Cow<'_, str>>> = plan
            .dim_keys
            .iter()
            .map(|k| get(k).map(Cow::Borrowed))
            .collect();
        if values
            .iter()
            .flatten()
            .any(|v| !char_len_within(v, lim.max_dimension_value))
        {
            return Single::Slow;
        }
        canonical_dims(&mut dims, &values);
    }
    let Some(ts) = timestamp(fields.timestamp.as_deref(), lim) else {
        return Single::Slow;
    };
    let mut json = String::with_capacity(
        64 + payload
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>(),
    );
    json.push('{');
    for (i, (k, v)) in payload.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(json, "\"{k}\":\"{v}\"");
    }
    json.push('}');
    if json.len() > lim.max_payload_bytes {
        return Single::Slow;
    }
    let mut hasher = Blake2b::<U16>::new();
    hasher.update(plan.key_prefix);
    hasher.update(identifier.as_bytes());
    let mut answer = String::with_capacity(json.len() + event_name.len() + identifier.len() + 128);
    let _ = write!(
        answer,
        "{{\"object\":\"billing.meter_event\",\"created\":{created},\"event_name\":\"{event_name}\",\
         \"identifier\":\"{identifier}\",\"livemode\":{livemode},\"payload\":{json},\"timestamp\":{ts}}}"
    );
    Single::Ok(Checked {
        key: hasher.finalize().into(),
        customer_pk,
        dims,
        ts,
        value,
        payload: json,
        answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::fields;

    fn limits() -> SingleLimits {
        SingleLimits {
            now: 1_000_000,
            oldest: 900_000,
            newest: 1_000_300,
            max_identifier: 255,
            max_payload_keys: 100,
            max_payload_bytes: 16_384,
            max_dimension_value: 200,
            max_unique_value: 256,
        }
    }

    fn plan() -> SinglePlan<'static> {
        SinglePlan {
            key_prefix: b"1\x1f0\x1ftok\x1f",
            customer_key: "stripe_customer_id",
            value_key: "value",
            dim_keys: vec!["model", "region"],
            numeric: true,
        }
    }

    #[test]
    fn a_plain_event_and_its_answer() {
        let f = fields(b"event_name=tok&identifier=e1&timestamp=999999&payload[stripe_customer_id]=c1&payload[value]=007&payload[model]=gpt").unwrap();
        let Single::Ok(c) = check(&f, "tok", &plan(), &limits(), 1_000_001, false, |c| {
            (c == "c1").then_some(7)
        }) else {
            panic!("not taken");
        };
        assert_eq!((c.customer_pk, c.ts, c.value.as_str()), (7, 999_999, "7"));
        assert_eq!(c.dims, r#"["gpt",null]"#);
        assert_eq!(
            c.payload,
            r#"{"stripe_customer_id":"c1","value":"007","model":"gpt"}"#
        );
        assert!(c.answer.starts_with(r#"{"object":"billing.meter_event","created":1000001,"event_name":"tok","identifier":"e1","livemode":false,"payload":{"#));
        assert!(c.answer.ends_with(r#""timestamp":999999}"#));
    }

    #[test]
    fn leaves_the_rest_to_python() {
        let lim = limits();
        let known = |c: &str| (c == "c1").then_some(7);
        for body in [
            &b"event_name=tok&timestamp=999999&payload[stripe_customer_id]=c1&payload[value]=1"[..], // no identifier
            b"event_name=tok&identifier=e&timestamp=1&payload[stripe_customer_id]=c1&payload[value]=1", // too old
            b"event_name=tok&identifier=e&timestamp=-5&payload[stripe_customer_id]=c1&payload[value]=1",
            b"event_name=tok&identifier=e&payload[stripe_customer_id]=c1&payload[value]=1.5",
            b"event_name=tok&identifier=e&payload[stripe_customer_id]=c1",
            b"event_name=tok&identifier=e%22&payload[stripe_customer_id]=c1&payload[value]=1",
            b"event_name=tok&identifier=e&payload[stripe_customer_id]=&payload[value]=1",
        ] {
            let f = fields(body).unwrap();
            assert!(matches!(check(&f, "tok", &plan(), &lim, 0, false, known), Single::Slow));
        }
        let f =
            fields(b"event_name=tok&identifier=e&payload[stripe_customer_id]=c2&payload[value]=1")
                .unwrap();
        assert!(matches!(
            check(&f, "tok", &plan(), &lim, 0, false, known),
            Single::NeedCustomer("c2")
        ));
    }
}
