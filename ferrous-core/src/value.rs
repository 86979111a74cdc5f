//! Stored values and their Redis types and encodings.
use crate::bytes::SmallBytes;
use crate::types::{hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet};

/// A value stored under a key.
///
/// Strings that look like integers (Redis's `string2ll` rules, at most 20 characters) are
/// stored as `Int`, as Redis's `int` encoding does; the byte form is rebuilt when read.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A string.
    Str(SmallBytes),
    /// A string holding a canonical decimal integer.
    Int(i64),
    /// A list.
    List(Box<List>),
    /// A hash. Hashes, sets and sorted sets are 16-byte handles stored unboxed: a small one
    /// costs one exact-size allocation (its listpack or intset), as in Redis.
    Hash(Hash),
    /// A set.
    Set(Set),
    /// A sorted set.
    ZSet(ZSet),
    /// A stream.
    Stream(Box<Stream>),
}

impl Value {
    /// A string value, integer-encoded when it is a canonical integer.
    pub fn string(b: &[u8]) -> Value {
        match ferrous_resp::parse_i64(b) {
            Some(i) => Value::Int(i),
            None => Value::Str(SmallBytes::new(b)),
        }
    }
    /// A string value from an owned buffer.
    pub fn string_from_vec(v: Vec<u8>) -> Value {
        match ferrous_resp::parse_i64(&v) {
            Some(i) => Value::Int(i),
            None => Value::Str(SmallBytes::from_vec(v)),
        }
    }
    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }
    /// True for strings.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Int(_))
    }
    /// Redis's OBJECT ENCODING name; `raw` is the keyspace's "modified in place" flag.
    pub fn encoding(&self, raw: bool) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(s) if raw || s.len() > 44 => "raw",
            Value::Str(_) => "embstr",
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }
    /// Approximate heap bytes owned by the value (for MEMORY/INFO estimates).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::Int(_) => 0,
            Value::List(l) => l.heap_size(),
            Value::Hash(h) => h.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Stream(s) => s.heap_size(),
        }
    }
}

/// Byte form of a string value without allocating for the common cases.
pub enum StrRef<'a> {
    /// Borrowed bytes.
    Bytes(&'a [u8]),
    /// An integer formatted into a small buffer.
    Int([u8; 20], u8),
}

impl StrRef<'_> {
    /// Formats `i` in decimal.
    pub fn int(i: i64) -> StrRef<'static> {
        let mut buf = [0u8; 20];
        let pos = ferrous_resp::write::int_digits(i, &mut buf);
        buf.copy_within(pos.., 0);
        StrRef::Int(buf, (buf.len() - pos) as u8)
    }
}

impl std::ops::Deref for StrRef<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StrRef::Bytes(b) => b,
            StrRef::Int(buf, n) => &buf[..*n as usize],
        }
    }
}

impl Value {
    /// The bytes of a string value (`None` for other types).
    pub fn as_str(&self) -> Option<StrRef<'_>> {
        match self {
            Value::Str(s) => Some(StrRef::Bytes(s)),
            Value::Int(i) => Some(StrRef::int(*i)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn value_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }
    #[test]
    fn int_encoding() {
        assert_eq!(Value::string(b"123"), Value::Int(123));
        assert!(matches!(Value::string(b"0123"), Value::Str(_)));
        assert_eq!(&*Value::Int(-5).as_str().unwrap(), b"-5");
        for i in [0, 7, -1, 10, 1234567890123, i64::MAX, i64::MIN] {
            assert_eq!(&*StrRef::int(i), i.to_string().as_bytes());
        }
    }
}
