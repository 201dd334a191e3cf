//! Encodings of the columns: little-endian int64, msgpack (as msgspec writes it) and the batch
//! answer's JSON.

use std::borrow::Cow;

pub fn le_bytes(values: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

pub fn mp_array(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n < 65_536 {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

pub fn mp_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        if v < 128 {
            out.push(v as u8);
        } else if v < 256 {
            out.extend_from_slice(&[0xcc, v as u8]);
        } else if v < 65_536 {
            out.push(0xcd);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v < 1 << 32 {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(v as u64).to_be_bytes());
        }
    } else if v >= -32 {
        out.push(v as i8 as u8);
    } else if v >= -128 {
        out.extend_from_slice(&[0xd0, v as i8 as u8]);
    } else if v >= -32_768 {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= -(1 << 31) {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

pub fn mp_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65_536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

pub fn mp_ints(out: &mut Vec<u8>, values: &[i64]) {
    mp_array(out, values.len());
    for v in values {
        mp_int(out, *v);
    }
}

pub fn mp_strs<S: AsRef<str>>(out: &mut Vec<u8>, values: &[S]) {
    mp_array(out, values.len());
    for v in values {
        mp_str(out, v.as_ref());
    }
}

/// A JSON string as msgspec writes it: `"` and `\` escaped, control characters as short
/// escapes or \u00XX, everything else as is.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            _ => None,
        };
        if esc.is_none() && b >= 0x20 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The batch answer when every event is accepted (parse_pool.accepted_answer).
pub fn answer(identifiers: &[Cow<'_, str>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + identifiers.iter().map(|i| i.len() + 48).sum::<usize>());
    out.extend_from_slice(b"{\"object\":\"metered.event_batch\",\"accepted\":");
    out.extend_from_slice(identifiers.len().to_string().as_bytes());
    out.extend_from_slice(b",\"duplicate\":0,\"rejected\":0,\"results\":[");
    for (i, identifier) in identifiers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"index\":");
        out.extend_from_slice(i.to_string().as_bytes());
        out.extend_from_slice(b",\"identifier\":");
        json_str(&mut out, identifier);
        out.extend_from_slice(b",\"status\":\"accepted\"}");
    }
    out.extend_from_slice(b"]}");
    out
}
