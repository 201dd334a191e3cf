//! One `POST /v1/billing/meter_events` request, read whole from the bytes of one read: the
//! HTTP/1.1 head and its form body, decoded for the single-event fast path
//! (src/metered/api/fast_events.py).
//!
//! It only takes the plainest requests: the exact request line, each header it reads sent
//! once, a Content-Length that ends the request exactly where the bytes end (no pipelining,
//! no partial body), a form body whose fields are `event_name`, `identifier`, `timestamp` and
//! `payload[key]`, each once, percent-escapes well formed and UTF-8. Anything else is `None`,
//! and the request goes through the HTTP server and the ASGI app, which are the reference:
//! tests/api/test_fast_events.py holds the two to the same answers.

const REQUEST_LINE: &[u8] = b"POST /v1/billing/meter_events HTTP/1.1\r\n";
const MAX_HEADERS: usize = 64;

pub struct Head<'a> {
    pub body: &'a [u8],
    pub authorization: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub keep_alive: bool,
}

pub struct Fields {
    pub event_name: Option<String>,
    pub identifier: Option<String>,
    pub timestamp: Option<String>,
    pub payload: Vec<(String, String)>,
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn set_once<'a>(slot: &mut Option<&'a [u8]>, value: &'a [u8]) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// The head and body of `data` if it is exactly one plain request for the route.
pub fn head(data: &[u8]) -> Option<Head<'_>> {
    let rest = data.strip_prefix(REQUEST_LINE)?;
    let end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
    let (lines, body) = (&rest[..end + 2], &rest[end + 4..]); // each line with its CRLF
    let (mut length, mut auth, mut idem, mut ctype, mut connection) =
        (None, None, None, None, None);
    let lines = lines[..lines.len() - 1].split(|&b| b == b'\n'); // no empty piece at the end
    for (count, line) in lines.enumerate() {
        if count >= MAX_HEADERS {
            return None;
        }
        let line = line.strip_suffix(b"\r")?;
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return None; // also an obs-fold continuation line (starts with a space)
        }
        if value.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return None;
        }
        match name.to_ascii_lowercase().as_slice() {
            b"content-length" => set_once(&mut length, value)?,
            b"authorization" => set_once(&mut auth, value)?,
            b"idempotency-key" => set_once(&mut idem, value)?,
            b"content-type" => set_once(&mut ctype, value)?,
            b"connection" => set_once(&mut connection, value)?,
            b"transfer-encoding" | b"expect" | b"upgrade" | b"te" | b"trailer" => return None,
            _ => {}
        }
    }
    let length = length?;
    if length.is_empty() || length.len() > 9 || !length.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length: usize = std::str::from_utf8(length).ok()?.parse().ok()?;
    if length != body.len() {
        return None; // partial, or followed by another request: the general path's
    }
    let ctype = ctype?;
    let media = ctype.split(|&b| b == b';').next().map(trim)?;
    if !media.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        return None;
    }
    let keep_alive = match connection {
        None => true,
        Some(v) if v.eq_ignore_ascii_case(b"keep-alive") => true,
        Some(v) if v.eq_ignore_ascii_case(b"close") => false,
        Some(_) => return None,
    };
    let idempotency_key = match idem {
        None => None,
        Some(v) => Some(std::str::from_utf8(v).ok().filter(|s| s.is_ascii())?),
    };
    Some(Head {
        body,
        authorization: std::str::from_utf8(auth?).ok().filter(|s| s.is_ascii())?,
        idempotency_key,
        keep_alive,
    })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding with `+` as a space; a malformed escape or non-UTF-8 is `None`.
fn unquote(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*raw.get(i + 1)?)?;
                let lo = hex(*raw.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The fields of a meter event's form body.
pub fn fields(body: &[u8]) -> Option<Fields> {
    let mut out = Fields {
        event_name: None,
        identifier: None,
        timestamp: None,
        payload: vec![],
    };
    for field in body.split(|&b| b == b'&') {
        if field.is_empty() {
            continue;
        }
        let eq = field.iter().position(|&b| b == b'=');
        let (key, value) = match eq {
            Some(at) => (&field[..at], &field[at + 1..]),
            None => (field, &b""[..]),
        };
        let (key, value) = (unquote(key)?, unquote(value)?);
        let slot = match key.as_str() {
            "event_name" => &mut out.event_name,
            "identifier" => &mut out.identifier,
            "timestamp" => &mut out.timestamp,
            _ => {
                let sub = key.strip_prefix("payload[")?.strip_suffix(']')?;
                if sub.is_empty()
                    || sub.contains(['[', ']'])
                    || sub.chars().all(char::is_numeric) // a list index to the Python path
                    || out.payload.iter().any(|(k, _)| k == sub)
                {
                    return None;
                }
                out.payload.push((sub.to_owned(), value));
                continue;
            }
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(value);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &str, body: &str) -> Vec<u8> {
        format!("POST /v1/billing/meter_events HTTP/1.1\r\n{headers}\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn plain_request() {
        let body = "event_name=tok&payload%5Bvalue%5D=3&payload[stripe_customer_id]=c+1";
        let data = request(
            &format!(
                "Host: x\r\nAuthorization: Bearer sk_test_1\r\nContent-Type: \
                 application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}",
                body.len()
            ),
            body,
        );
        let h = head(&data).unwrap();
        assert_eq!(h.authorization, "Bearer sk_test_1");
        assert!(h.keep_alive && h.idempotency_key.is_none());
        let f = fields(h.body).unwrap();
        assert_eq!(f.event_name.as_deref(), Some("tok"));
        assert_eq!(
            f.payload,
            vec![
                ("value".into(), "3".into()),
                ("stripe_customer_id".into(), "c 1".into())
            ]
        );
    }

    #[test]
    fn refuses_what_it_does_not_take() {
        let h = "Authorization: a\r\nContent-Type: application/x-www-form-urlencoded\r\n";
        assert!(head(&request(&format!("{h}Content-Length: 5"), "a=1")).is_none()); // partial
        assert!(head(&request(&format!("{h}Content-Length: 2"), "a=1")).is_none()); // pipelined
        assert!(head(&request(
            &format!("{h}Content-Length: 3\r\nContent-Length: 3"),
            "a=1"
        ))
        .is_none());
        assert!(head(&request(
            &format!("{h}Content-Length: 3\r\nExpect: 100-continue"),
            "a=1"
        ))
        .is_none());
        assert!(fields(b"expand[]=x").is_none());
        assert!(fields(b"event_name=a&event_name=b").is_none());
        assert!(fields(b"payload[a][b]=1").is_none());
        assert!(fields(b"payload[0]=1").is_none());
        assert!(fields(b"event_name=%zz").is_none());
        assert!(fields(b"event_name=%FF").is_none());
    }
}
