//! The wire: a batch's envelopes and the keys of a payload that a meter reads, borrowed from
//! the body wherever a string has no escapes. A type the fast path does not take is an error,
//! which sends the batch to the Python path.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::batch::Plan;

#[derive(Deserialize)]
pub struct Envelope<'a> {
    #[serde(default, borrow)]
    pub event_name: MaybeStr<'a>,
    #[serde(default, borrow)]
    pub identifier: MaybeStr<'a>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default, borrow)]
    pub payload: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub struct Wrapped<'a> {
    #[serde(borrow)]
    pub events: Vec<Envelope<'a>>,
}

/// A JSON string (borrowed from the body when it has no escapes) or null; anything else is a
/// type error, which sends the batch to the Python path.
#[derive(Default)]
pub struct MaybeStr<'a>(pub Option<Cow<'a, str>>);

struct MaybeStrVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MaybeStrVisitor<'a> {
    type Value = MaybeStr<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Owned(v))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MaybeStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MaybeStrVisitor(PhantomData))
    }
}

/// The value key of a payload: a string, a non-negative integer that fits u64, or null.
pub enum ValueField<'a> {
    Absent,
    Str(Cow<'a, str>),
    Int(u64),
}

struct ValueVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
    type Value = ValueField<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, an integer or null")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ValueField::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ValueField::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(ValueField::Int(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v == 0 {
            return Ok(ValueField::Int(0)); // `-0`
        }
        Err(E::custom("negative")) // the Python path gives the precise error
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ValueField::Absent)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ValueField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor(PhantomData))
    }
}

/// A map key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = d.deserialize_str(MaybeStrVisitor(PhantomData))?;
        s.0.map(Key).ok_or_else(|| de::Error::custom("null key"))
    }
}

/// What a payload holds for the meter: only the keys it reads; the others are skipped.
pub struct Payload<'a> {
    pub customer: Option<Cow<'a, str>>,
    pub value: ValueField<'a>,
    pub dims: Vec<Option<Cow<'a, str>>>,
}

pub struct PayloadSeed<'p> {
    pub plan: &'p Plan,
}

impl<'de, 'p> DeserializeSeed<'de> for PayloadSeed<'p> {
    type Value = Payload<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'p> Visitor<'de> for PayloadSeed<'p> {
    type Value = Payload<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a payload object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let plan = self.plan;
        let mut out = Payload {
            customer: None,
            value: ValueField::Absent,
            dims: vec![None; plan.dim_keys.len()],
        };
        let mut seen = 0u64; // bit 0 the customer, bit 1 the value, bits 2.. the dimensions
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let slot = if key == plan.customer_key {
                0
            } else if key == plan.value_key {
                1
            } else if let Some(i) = plan.dim_keys.iter().position(|k| *k == key) {
                i + 2
            } else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if slot < 64 {
                if seen & (1 << slot) != 0 {
                    return Err(de::Error::custom("a key read twice")); // Python: last one wins
                }
                seen |= 1 << slot;
            }
            match slot {
                0 => out.customer = map.next_value::<MaybeStr<'de>>()?.0,
                1 => out.value = map.next_value::<ValueField<'de>>()?,
                i => out.dims[i - 2] = map.next_value::<MaybeStr<'de>>()?.0,
            }
        }
        Ok(out)
    }
}
