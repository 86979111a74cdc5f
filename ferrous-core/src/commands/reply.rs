//! [`Reply`]: encodes a command's reply straight into an output buffer.
//!
//! Handlers write "array of 3", "bulk", "int" into it; the server passes the connection's
//! output buffer, so a reply is serialized once, with no value tree in between. In-process
//! callers decode the bytes with `ferrous_resp::parse_value` when they want a `Value`.
use crate::error::Error;
use ferrous_resp::{write, Value};

/// The reply being written for one command.
pub struct Reply<'a> {
    buf: &'a mut Vec<u8>,
    resp3: bool,
}

impl<'a> Reply<'a> {
    /// A reply appended to `buf` in RESP3 (`resp3`) or RESP2.
    pub fn new(buf: &'a mut Vec<u8>, resp3: bool) -> Self {
        Reply { buf, resp3 }
    }
    /// True when the client speaks RESP3.
    #[inline]
    pub fn resp3(&self) -> bool {
        self.resp3
    }
    /// Bytes written so far to the underlying buffer.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// True when the underlying buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// The underlying buffer (for nested dispatch: EXEC, scripts).
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        self.buf
    }
    /// Drops everything written after `len` (used to discard a partial reply).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }
    /// `+OK`.
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }
    /// A simple string (no CR/LF).
    #[inline]
    pub fn simple(&mut self, s: &str) {
        write::simple(self.buf, s.as_bytes());
    }
    /// An error reply from an [`Error`].
    pub fn error(&mut self, e: &Error) {
        match e {
            Error::Bytes(b) => write::error(self.buf, b),
            _ => self.error_str(&e.to_string()),
        }
    }
    /// An error reply with an exact text (`ERR ...`).
    pub fn error_str(&mut self, s: &str) {
        write::error(self.buf, s.as_bytes());
    }
    /// An integer.
    #[inline]
    pub fn int(&mut self, i: i64) {
        write::int(self.buf, i);
    }
    /// A bulk string.
    #[inline]
    pub fn bulk(&mut self, b: &[u8]) {
        write::bulk(self.buf, b);
    }
    /// The null bulk string (`$-1` / `_`).
    #[inline]
    pub fn null(&mut self) {
        self.buf.extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }
    /// The null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        self.buf.extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }
    /// An array header; `n` elements must follow.
    #[inline]
    pub fn array(&mut self, n: usize) {
        write::header(self.buf, b'*', n as i64);
    }
    /// A map header (`%n` in RESP3, `*2n` in RESP2); `n` key/value pairs must follow.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            write::header(self.buf, b'%', n as i64);
        } else {
            write::header(self.buf, b'*', 2 * n as i64);
        }
    }
    /// A set header (`~n` in RESP3, `*n` in RESP2).
    pub fn set(&mut self, n: usize) {
        write::header(self.buf, if self.resp3 { b'~' } else { b'*' }, n as i64);
    }
    /// A push header (`>n` in RESP3, `*n` in RESP2).
    pub fn push(&mut self, n: usize) {
        write::header(self.buf, if self.resp3 { b'>' } else { b'*' }, n as i64);
    }
    /// A double: RESP3 `,` or, in RESP2, a bulk string formatted as Redis's `%.17g`.
    pub fn double(&mut self, d: f64) {
        let s = crate::util::fmt_double(d);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            write::bulk(self.buf, s.as_bytes());
        }
    }
    /// A boolean: RESP3 `#t`/`#f`, RESP2 integer 1/0.
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }
    /// A verbatim string (RESP3 `=`, RESP2 bulk), `format` being three letters (`txt`).
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3 {
            write::header(self.buf, b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }
    /// Any value tree.
    pub fn value(&mut self, v: &Value) {
        v.encode(self.buf, self.resp3);
    }
    /// Raw, already-encoded RESP bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}
