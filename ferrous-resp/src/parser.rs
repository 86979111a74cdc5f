//! Incremental request parser (client -> server) and a reply parser (server -> client).
//!
//! The request parser follows `processMultibulkBuffer` / `processInlineBuffer` of Redis 7.0:
//! the same limits, the same protocol error texts, the same leniencies (the two bytes after a
//! bulk payload are skipped, not checked).
use crate::{Args, Value};
use std::ops::Range;

/// Maximum size of an inline request or of a `*`/`$` header line (`PROTO_INLINE_MAX_SIZE`).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Protocol limits, configurable as Redis's `proto-max-bulk-len`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted bulk argument (`proto-max-bulk-len`, default 512 MB).
    pub max_bulk_len: i64,
    /// Largest accepted inline request and header line.
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bulk_len: 512 * 1024 * 1024, max_inline_len: PROTO_INLINE_MAX_SIZE }
    }
}

/// A framing error. The server replies `-ERR <Display>` and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// `*<n>` where n is not an integer or is too large.
    InvalidMultibulkLength,
    /// `$<n>` where n is not an integer, negative or above `proto-max-bulk-len`.
    InvalidBulkLength,
    /// Something other than `$` where a bulk header was expected.
    ExpectedDollar(u8),
    /// An inline request with an unterminated quote.
    UnbalancedQuotes,
    /// An inline request longer than the limit with no newline.
    TooBigInline,
    /// A `*` header longer than the limit.
    TooBigMbulkCount,
    /// A `$` header longer than the limit.
    TooBigBulkCount,
    /// A reply that is not valid RESP (only from [`parse_value`]).
    InvalidReply,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::InvalidMultibulkLength => f.write_str("Protocol error: invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("Protocol error: invalid bulk length"),
            ProtocolError::ExpectedDollar(c) => write!(f, "Protocol error: expected '$', got '{}'", *c as char),
            ProtocolError::UnbalancedQuotes => f.write_str("Protocol error: unbalanced quotes in request"),
            ProtocolError::TooBigInline => f.write_str("Protocol error: too big inline request"),
            ProtocolError::TooBigMbulkCount => f.write_str("Protocol error: too big mbulk count string"),
            ProtocolError::TooBigBulkCount => f.write_str("Protocol error: too big bulk count string"),
            ProtocolError::InvalidReply => f.write_str("Protocol error: invalid reply"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Outcome of one [`RequestParser::parse`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed; call again with the same start and more data appended.
    Incomplete,
    /// A complete command spanning this many bytes; read it with [`RequestParser::args`].
    Command(usize),
    /// This many bytes held no command (an empty inline line, `*0`, `*-1`): skip them.
    Empty(usize),
}

/// Incremental parser of client requests.
///
/// Call [`parse`](Self::parse) with a buffer that starts at the beginning of the next
/// command. On [`Parsed::Incomplete`] the parser remembers how far it got: call again with a
/// buffer that starts at the same place and has more bytes appended (the caller may move
/// the bytes, as long as the command's start stays the buffer's start). After
/// [`Parsed::Command`], read the arguments with [`args`](Self::args) and then
/// [`reset`](Self::reset).
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    ranges: Vec<Range<usize>>,
    inline: Vec<u8>,
    is_inline: bool,
    pos: usize,
    multibulk_remaining: i64,
    bulk_len: i64,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            ranges: Vec::with_capacity(8),
            inline: Vec::new(),
            is_inline: false,
            pos: 0,
            multibulk_remaining: -1,
            bulk_len: -1,
        }
    }

    /// Changes the limits (e.g. after `CONFIG SET proto-max-bulk-len`).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Forgets the current command; call after each `Command` or `Empty`.
    #[inline]
    pub fn reset(&mut self) {
        self.ranges.clear();
        self.is_inline = false;
        self.pos = 0;
        self.multibulk_remaining = -1;
        self.bulk_len = -1;
    }

    /// True when part of a command has been parsed but it is not complete yet.
    pub fn in_progress(&self) -> bool {
        self.multibulk_remaining >= 0
    }

    /// When the parser is waiting for the payload of a bulk argument, the total number of
    /// bytes (from the command's start) that the buffer must hold to complete that
    /// argument. Lets a caller reserve the space once for a large value.
    pub fn bytes_wanted(&self) -> Option<usize> {
        (self.bulk_len >= 0).then(|| self.pos + self.bulk_len as usize + 2)
    }

    /// The arguments of the command just parsed from `buf` (the same buffer given to
    /// [`parse`](Self::parse)).
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        if self.is_inline {
            Args::new(&self.inline, &self.ranges)
        } else {
            Args::new(buf, &self.ranges)
        }
    }

    /// Parses the next command at the start of `buf`.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        if self.multibulk_remaining < 0 {
            match buf.first() {
                None => return Ok(Parsed::Incomplete),
                Some(b'*') => {}
                Some(_) => return self.parse_inline(buf),
            }
            let Some(cr) = find(buf, 0, b'\r') else {
                if buf.len() > self.limits.max_inline_len {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return Ok(Parsed::Incomplete);
            };
            if cr + 2 > buf.len() {
                return Ok(Parsed::Incomplete);
            }
            let n = parse_i64(&buf[1..cr]).filter(|&n| n <= i32::MAX as i64);
            let Some(n) = n else { return Err(ProtocolError::InvalidMultibulkLength) };
            if n <= 0 {
                return Ok(Parsed::Empty(cr + 2));
            }
            self.pos = cr + 2;
            self.multibulk_remaining = n;
            self.ranges.reserve((n as usize).min(1024));
        }
        while self.multibulk_remaining > 0 {
            if self.bulk_len < 0 {
                let pos = self.pos;
                let Some(&first) = buf.get(pos) else { return Ok(Parsed::Incomplete) };
                if first != b'$' {
                    return Err(ProtocolError::ExpectedDollar(first));
                }
                let Some(cr) = find(buf, pos, b'\r') else {
                    if buf.len() - pos > self.limits.max_inline_len {
                        return Err(ProtocolError::TooBigBulkCount);
                    }
                    return Ok(Parsed::Incomplete);
                };
                if cr + 2 > buf.len() {
                    return Ok(Parsed::Incomplete);
                }
                let len = parse_i64(&buf[pos + 1..cr]).filter(|&n| n >= 0 && n <= self.limits.max_bulk_len);
                let Some(len) = len else { return Err(ProtocolError::InvalidBulkLength) };
                self.pos = cr + 2;
                self.bulk_len = len;
            }
            let len = self.bulk_len as usize;
            if buf.len() - self.pos < len + 2 {
                return Ok(Parsed::Incomplete);
            }
            self.ranges.push(self.pos..self.pos + len);
            self.pos += len + 2;
            self.bulk_len = -1;
            self.multibulk_remaining -= 1;
        }
        Ok(Parsed::Command(self.pos))
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let Some(nl) = find(buf, 0, b'\n') else {
            if buf.len() > self.limits.max_inline_len {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete);
        };
        let mut line = &buf[..nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        self.inline.clear();
        self.ranges.clear();
        split_args(line, &mut self.inline, &mut self.ranges)?;
        if self.ranges.is_empty() {
            return Ok(Parsed::Empty(nl + 1));
        }
        self.is_inline = true;
        Ok(Parsed::Command(nl + 1))
    }
}

#[inline]
fn find(buf: &[u8], from: usize, c: u8) -> Option<usize> {
    buf[from..].iter().position(|&b| b == c).map(|i| i + from)
}

/// Parses a decimal `i64` with Redis's strict `string2ll` rules: no sign but `-`, no leading
/// zeros, no spaces, at most 20 characters, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits an inline request the way `sdssplitargs` does (redis-cli's quoting rules).
fn split_args(line: &[u8], out: &mut Vec<u8>, ranges: &mut Vec<Range<usize>>) -> Result<(), ProtocolError> {
    let mut p = 0;
    let n = line.len();
    loop {
        while p < n && is_space(line[p]) {
            p += 1;
        }
        if p >= n || line[p] == 0 {
            return Ok(());
        }
        let start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(p).copied();
            if in_dq {
                let Some(c) = c else { return Err(ProtocolError::UnbalancedQuotes) };
                if c == b'\\' && line.get(p + 1) == Some(&b'x') {
                    if let (Some(h), Some(l)) =
                        (line.get(p + 2).copied().and_then(hex_val), line.get(p + 3).copied().and_then(hex_val))
                    {
                        out.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && p + 1 < n {
                    p += 1;
                    out.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else if in_sq {
                let Some(c) = c else { return Err(ProtocolError::UnbalancedQuotes) };
                if c == b'\\' && line.get(p + 1) == Some(&b'\'') {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if p + 1 < n && !is_space(line[p + 1]) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t' | 0) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(c) => out.push(c),
                }
            }
            p += 1;
        }
        ranges.push(start..out.len());
    }
}

/// Splits a line into arguments with redis-cli's quoting rules (`"a b"`, `'c'`, `\x41`),
/// as inline requests and redis.conf lines are split.
pub fn split_line(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    split_args(line, &mut buf, &mut ranges)?;
    Ok(ranges.into_iter().map(|r| buf[r].to_vec()).collect())
}

/// Maximum nesting accepted by [`parse_value`].
const MAX_DEPTH: usize = 512;

/// Parses one complete reply at the start of `buf`: `Ok(None)` if more bytes are needed,
/// otherwise the value and the number of bytes it used.
pub fn parse_value(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(v) => Ok(Some((v, pos))),
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let cr = find(buf, *pos, b'\r')?;
    if cr + 1 >= buf.len() {
        return None;
    }
    let l = &buf[*pos..cr];
    *pos = cr + 2;
    Some(l)
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::InvalidReply);
    }
    let Some(&t) = buf.get(*pos) else { return Ok(None) };
    *pos += 1;
    let Some(l) = line(buf, pos) else { return Ok(None) };
    let text = || String::from_utf8(l.to_vec()).map_err(|_| ProtocolError::InvalidReply);
    let int = || parse_i64(l).ok_or(ProtocolError::InvalidReply);
    let v = match t {
        b'+' => Value::Simple(text()?),
        // Error texts quote client bytes (a key, a group name) that need not be UTF-8.
        b'-' => Value::Error(String::from_utf8_lossy(l).into_owned()),
        b':' => Value::Integer(int()?),
        b'_' => Value::Null,
        b'#' => Value::Boolean(l == b"t"),
        b'(' => Value::BigNumber(text()?),
        b',' => {
            let s = text()?;
            Value::Double(match s.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => s.parse().map_err(|_| ProtocolError::InvalidReply)?,
            })
        }
        b'$' | b'=' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some(Value::Null));
            }
            let n = n as usize;
            if buf.len() < *pos + n + 2 {
                return Ok(None);
            }
            let data = buf[*pos..*pos + n].to_vec();
            *pos += n + 2;
            if t == b'=' && n >= 4 {
                Value::Verbatim(String::from_utf8_lossy(&data[..3]).into_owned(), data[4..].to_vec())
            } else {
                Value::Bulk(data)
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = int()?;
            if n < 0 {
                return Ok(Some(Value::NullArray));
            }
            let count = if matches!(t, b'%' | b'|') { 2 * n as usize } else { n as usize };
            let mut items = Vec::with_capacity(count.min(4096));
            for _ in 0..count {
                match parse_at(buf, pos, depth + 1)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            match t {
                b'*' => Value::Array(items),
                b'~' => Value::Set(items),
                b'>' => Value::Push(items),
                b'|' => return parse_at(buf, pos, depth + 1),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Value::Map(pairs)
                }
            }
        }
        _ => return Err(ProtocolError::InvalidReply),
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::default();
        let mut out = vec![];
        let mut at = 0;
        loop {
            match p.parse(&input[at..])? {
                Parsed::Incomplete => return Ok(out),
                Parsed::Empty(n) => at += n,
                Parsed::Command(n) => {
                    out.push(p.args(&input[at..]).to_vec());
                    at += n;
                }
            }
            p.reset();
        }
    }

    #[test]
    fn multibulk_and_pipeline() {
        let cmds = parse_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n").unwrap();
        assert_eq!(cmds, vec![vec![b"PING".to_vec()], vec![b"ECHO".to_vec(), vec![]]]);
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut p = RequestParser::default();
        for end in 0..input.len() {
            assert_eq!(p.parse(&input[..end]).unwrap(), Parsed::Incomplete, "at {end}");
        }
        assert_eq!(p.parse(input).unwrap(), Parsed::Command(input.len()));
        assert_eq!(p.args(input).at(2), b"hello");
    }

    #[test]
    fn inline_quoting() {
        let cmds = parse_all(b"SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n\r\nPING\n").unwrap();
        assert_eq!(cmds[0], vec![b"SET".to_vec(), b"a b".to_vec(), b"c'd".to_vec(), b"A\n".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(parse_all(b"GET \"abc\r\n"), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(parse_all(b"GET \"abc\"x\r\n"), Err(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(parse_all(b"*x\r\n"), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*2\r\n$-1\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\nfoo\r\n"), Err(ProtocolError::ExpectedDollar(b'f')));
        assert_eq!(parse_all(b"*1\r\n$536870913\r\n"), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(parse_all(&vec![b'a'; 70000]), Err(ProtocolError::TooBigInline));
        let mut big = b"*".to_vec();
        big.extend(vec![b'1'; 70000]);
        assert_eq!(parse_all(&big), Err(ProtocolError::TooBigMbulkCount));
        assert_eq!(parse_all(b"*0\r\n*-1\r\n").unwrap().len(), 0);
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [&b"9223372036854775808"[..], b"", b"-", b"+1", b"01", b"-0", b" 1", b"1 "] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn value_roundtrip_resp3() {
        let v = Value::Array(vec![
            Value::Map(vec![(Value::bulk("a"), Value::Double(1.5))]),
            Value::Set(vec![Value::Integer(-3)]),
            Value::Null,
            Value::Boolean(true),
            Value::Verbatim("txt".into(), b"hi".to_vec()),
            Value::Error("ERR x".into()),
            Value::BigNumber("123456789012345678901234567890".into()),
        ]);
        let bytes = v.to_bytes(true);
        assert_eq!(parse_value(&bytes).unwrap(), Some((v, bytes.len())));
        assert_eq!(parse_value(&bytes[..bytes.len() - 1]).unwrap(), None);
    }
}
