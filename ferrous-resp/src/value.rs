//! RESP value tree and its encoder.
use crate::write;

/// A RESP2/RESP3 value.
///
/// RESP2 has no maps, sets, doubles, booleans or big numbers; [`Value::encode`] downgrades
/// them the way Redis does when a client speaks RESP2 (maps become flat arrays, doubles and
/// big numbers bulk strings, booleans the integers 1/0).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...` (the full text, including the error code).
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Vec<u8>),
    /// The null bulk string (`$-1`) in RESP2, `_` in RESP3.
    Null,
    /// The null array (`*-1`) in RESP2, `_` in RESP3.
    NullArray,
    /// `*2 ...`
    Array(Vec<Value>),
    /// RESP3 `%` map, in order.
    Map(Vec<(Value, Value)>),
    /// RESP3 `~` set.
    Set(Vec<Value>),
    /// RESP3 `,` double.
    Double(f64),
    /// RESP3 `#` boolean.
    Boolean(bool),
    /// RESP3 `(` big number, as its decimal digits.
    BigNumber(String),
    /// RESP3 `=` verbatim string with its three-letter format.
    Verbatim(String, Vec<u8>),
    /// RESP3 `>` push message (pub/sub, invalidation).
    Push(Vec<Value>),
}

impl Value {
    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl AsRef<[u8]>) -> Value {
        Value::Bulk(b.as_ref().to_vec())
    }
    /// `+OK`.
    pub fn ok() -> Value {
        Value::Simple("OK".into())
    }
    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }
    /// The bytes of a bulk, simple or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) | Value::Verbatim(_, b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
    /// The integer of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// Appends the wire form of this value; `resp3` selects the protocol.
    pub fn encode(&self, out: &mut Vec<u8>, resp3: bool) {
        match self {
            Value::Simple(s) => write::simple(out, s.as_bytes()),
            Value::Error(e) => write::error(out, e.as_bytes()),
            Value::Integer(i) => write::int(out, *i),
            Value::Bulk(b) => write::bulk(out, b),
            Value::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Value::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Value::Null => out.extend_from_slice(b"$-1\r\n"),
            Value::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Value::Array(items) => {
                write::header(out, b'*', items.len() as i64);
                items.iter().for_each(|v| v.encode(out, resp3));
            }
            Value::Push(items) => {
                write::header(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|v| v.encode(out, resp3));
            }
            Value::Set(items) => {
                write::header(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|v| v.encode(out, resp3));
            }
            Value::Map(pairs) => {
                if resp3 {
                    write::header(out, b'%', pairs.len() as i64);
                } else {
                    write::header(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Value::Double(d) => {
                let s = format_double(*d);
                if resp3 {
                    out.push(b',');
                    out.extend_from_slice(s.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    write::bulk(out, s.as_bytes());
                }
            }
            Value::Boolean(b) if resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Value::Boolean(b) => write::int(out, *b as i64),
            Value::BigNumber(n) if resp3 => {
                out.push(b'(');
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Value::BigNumber(n) => write::bulk(out, n.as_bytes()),
            Value::Verbatim(fmt, text) if resp3 => {
                write::header(out, b'=', (text.len() + 4) as i64);
                out.extend_from_slice(fmt.as_bytes());
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Value::Verbatim(_, text) => write::bulk(out, text),
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self, resp3: bool) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v, resp3);
        v
    }
}

/// Formats a double as RESP3 does (`inf`, `-inf`, `nan`, shortest round-trip digits).
fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{d}")
    }
}
