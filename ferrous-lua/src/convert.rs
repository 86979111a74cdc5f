//! Redis's conversion rules between RESP replies and Lua values, both directions.
//!
//! RESP -> Lua (a `redis.call` reply, in the script's protocol, RESP2 unless
//! `redis.setresp(3)`): integer -> number, bulk -> string, null bulk and null array -> `false`
//! (RESP3 null -> `nil`), status -> `{ok=...}`, error -> `{err=...}`, array -> table; RESP3
//! map -> `{map={...}}`, set -> `{set={member=true}}`, double -> `{double=n}`, boolean ->
//! boolean, big number -> `{big_number="..."}`, verbatim -> `{verbatim_string={format=,
//! string=}}`; attributes are skipped.
//!
//! Lua -> RESP (a script's return value, in the caller's protocol): string -> bulk, number ->
//! integer (truncated, C cast), boolean -> `:1`/null in RESP2 scripts and RESP3 booleans
//! after `redis.setresp(3)`, tables by their `err`/`ok`/`double`/`big_number`/
//! `verbatim_string`/`map`/`set` fields, else arrays up to the first `nil`; anything else
//! is a null.
use crate::error::error_table;
use crate::fmt::{c_f64_to_i64, fmt_g};
use ferrous_resp::write;
use mlua::{Lua, Table, Value};

/// Nesting limit of both conversions (Redis fails at its Lua stack limit; this keeps the
/// Rust recursion far from any thread's stack size).
pub(crate) const MAX_DEPTH: usize = 1000;

/// Nesting limit of command replies converted to Lua (replies nest a few levels at most;
/// the parser recurses).
const MAX_REPLY_DEPTH: usize = 64;

/// A `redis.call` reply converted to Lua, and whether it was an error reply.
pub(crate) fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<(Value, bool)> {
    let mut p = Parser { buf, pos: 0 };
    let is_error = buf.first() == Some(&b'-');
    let v = p.value(lua, 0)?;
    Ok((v, is_error))
}

/// A RESP reply being read (also by the fast path in `crate::fast`).
pub(crate) struct Parser<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl Parser<'_> {
    pub(crate) fn line(&mut self) -> &[u8] {
        let start = self.pos;
        let end = self.buf[start..].windows(2).position(|w| w == b"\r\n").map_or(self.buf.len(), |i| start + i);
        self.pos = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    pub(crate) fn int(&mut self) -> i64 {
        ferrous_resp::parse_i64(self.line()).unwrap_or(0)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> &[u8] {
        let start = self.pos.min(self.buf.len());
        let end = start.saturating_add(n).min(self.buf.len());
        self.pos = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        if depth > MAX_REPLY_DEPTH {
            return Err(mlua::Error::runtime("reply nesting too deep"));
        }
        let Some(&t) = self.buf.get(self.pos) else { return Ok(Value::Nil) };
        self.pos += 1;
        Ok(match t {
            b'+' => {
                let l = self.line();
                let s = lua.create_string(l)?;
                let t = lua.create_table_with_capacity(0, 1)?;
                t.raw_set("ok", s)?;
                Value::Table(t)
            }
            b'-' => {
                let l = self.line();
                let mut msg = Vec::with_capacity(l.len() + 1);
                msg.push(b'-');
                msg.extend_from_slice(l);
                Value::Table(error_table(lua, &crate::error::error_table_text(&msg), true)?)
            }
            b':' => Value::Number(self.int() as f64),
            b'$' => {
                let n = self.int();
                if n < 0 {
                    Value::Boolean(false)
                } else {
                    let b = self.bytes(n as usize);
                    Value::String(lua.create_string(b)?)
                }
            }
            b'*' | b'>' => {
                let n = self.int();
                if n < 0 {
                    Value::Boolean(false)
                } else {
                    let t = lua.create_table_with_capacity(n.min(1 << 16) as usize, 0)?;
                    for i in 1..=n {
                        let v = self.value(lua, depth + 1)?;
                        t.raw_set(i, v)?;
                    }
                    Value::Table(t)
                }
            }
            b'_' => {
                self.line();
                Value::Nil
            }
            b'#' => Value::Boolean(self.line() == b"t"),
            b',' => {
                let l = self.line();
                let d = match l {
                    b"inf" => f64::INFINITY,
                    b"-inf" => f64::NEG_INFINITY,
                    _ => std::str::from_utf8(l).ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(f64::NAN),
                };
                let t = lua.create_table_with_capacity(0, 1)?;
                t.raw_set("double", d)?;
                Value::Table(t)
            }
            b'(' => {
                let l = self.line();
                let s = lua.create_string(l)?;
                let t = lua.create_table_with_capacity(0, 1)?;
                t.raw_set("big_number", s)?;
                Value::Table(t)
            }
            b'=' => {
                let n = self.int().max(0) as usize;
                let b = self.bytes(n);
                let (format, text) = if b.len() >= 4 { (&b[..3], &b[4..]) } else { (&b[..0], b) };
                let inner = lua.create_table_with_capacity(0, 2)?;
                inner.raw_set("string", lua.create_string(text)?)?;
                inner.raw_set("format", lua.create_string(format)?)?;
                let t = lua.create_table_with_capacity(0, 1)?;
                t.raw_set("verbatim_string", inner)?;
                Value::Table(t)
            }
            b'%' => {
                let n = self.int().max(0);
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, depth + 1)?;
                    let v = self.value(lua, depth + 1)?;
                    if !matches!(k, Value::Nil) {
                        inner.raw_set(k, v)?;
                    }
                }
                let t = lua.create_table_with_capacity(0, 1)?;
                t.raw_set("map", inner)?;
                Value::Table(t)
            }
            b'~' => {
                let n = self.int().max(0);
                let inner = lua.create_table()?;
                for _ in 0..n {
                    let k = self.value(lua, depth + 1)?;
                    if !matches!(k, Value::Nil) {
                        inner.raw_set(k, true)?;
                    }
                }
                let t = lua.create_table_with_capacity(0, 1)?;
                t.raw_set("set", inner)?;
                Value::Table(t)
            }
            b'|' => {
                let n = self.int().max(0);
                for _ in 0..n * 2 {
                    self.value(lua, depth + 1)?;
                }
                return self.value(lua, depth);
            }
            _ => {
                self.line();
                Value::Nil
            }
        })
    }
}

/// How a script's result is written.
#[derive(Clone, Copy)]
pub(crate) struct ReplyProto {
    /// The calling client speaks RESP3.
    pub(crate) caller_resp3: bool,
    /// The script switched to RESP3 with `redis.setresp(3)` (decides how booleans go out).
    pub(crate) script_resp3: bool,
}

/// A null reply in the caller's protocol (`nil`, and `false` from a RESP2 script).
pub(crate) fn null(out: &mut Vec<u8>, p: ReplyProto) {
    out.extend_from_slice(if p.caller_resp3 { b"_\r\n" } else { b"$-1\r\n" });
}

/// A Lua boolean as a reply: RESP3 booleans (`:1`/`:0` to a RESP2 caller) after
/// `redis.setresp(3)`, else `:1` for true and a null for false.
pub(crate) fn boolean(out: &mut Vec<u8>, b: bool, p: ReplyProto) {
    if p.script_resp3 {
        if p.caller_resp3 {
            out.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            write::int(out, b as i64);
        }
    } else if b {
        out.extend_from_slice(b":1\r\n");
    } else {
        null(out, p);
    }
}

/// A table key kept without a Lua reference when it is a scalar.
pub(crate) enum Key {
    Bytes(Vec<u8>),
    Num(f64),
    Bool(bool),
    Other(Value),
}

impl Key {
    pub(crate) fn from_value(v: Value) -> Key {
        match v {
            Value::String(s) => Key::Bytes(s.as_bytes().to_vec()),
            Value::Integer(i) => Key::Num(i as f64),
            Value::Number(n) => Key::Num(n),
            Value::Boolean(b) => Key::Bool(b),
            other => Key::Other(other),
        }
    }

    pub(crate) fn to_value(&self, lua: &Lua) -> mlua::Result<Value> {
        Ok(match self {
            Key::Bytes(b) => Value::String(lua.create_string(b)?),
            Key::Num(n) => Value::Number(*n),
            Key::Bool(b) => Value::Boolean(*b),
            Key::Other(v) => v.clone(),
        })
    }
}

/// The keys of a table, in `lua_next` order, holding no Lua references for scalar keys.
pub(crate) fn table_keys(t: &Table) -> mlua::Result<Vec<Key>> {
    let mut keys = Vec::new();
    t.for_each(|k: Value, _: Value| {
        keys.push(Key::from_value(k));
        Ok(())
    })?;
    Ok(keys)
}

/// A table whose elements are being written.
enum Frame {
    /// `t[next..=len]`.
    Array { t: Table, next: i64, len: i64 },
    /// A RESP3 map (`values`) or set: the keys, then (for maps) each key's value.
    Keys { t: Table, keys: Vec<Key>, next: usize, values: bool, value_pending: bool },
}

/// Writes `v` as the reply to the caller. Nested tables are walked with an explicit stack
/// (no recursion), and elements are read one at a time (no Lua references piling up).
pub(crate) fn lua_to_reply(lua: &Lua, v: &Value, out: &mut Vec<u8>, p: ReplyProto) -> mlua::Result<()> {
    let mut stack: Vec<Frame> = Vec::new();
    write_value(lua, v.clone(), out, p, &mut stack)?;
    loop {
        let next = match stack.last_mut() {
            None => return Ok(()),
            Some(Frame::Array { t, next, len }) => {
                if *next > *len {
                    None
                } else {
                    let v: Value = t.raw_get(*next)?;
                    *next += 1;
                    Some(v)
                }
            }
            Some(Frame::Keys { t, keys, next, values, value_pending }) => {
                if *next >= keys.len() {
                    None
                } else if *value_pending {
                    let v: Value = t.raw_get(keys[*next].to_value(lua)?)?;
                    *value_pending = false;
                    *next += 1;
                    Some(v)
                } else {
                    let k = keys[*next].to_value(lua)?;
                    if *values {
                        *value_pending = true;
                    } else {
                        *next += 1;
                    }
                    Some(k)
                }
            }
        };
        match next {
            Some(v) => write_value(lua, v, out, p, &mut stack)?,
            None => {
                stack.pop();
            }
        }
    }
}

/// Writes a scalar, or a table's header (pushing a frame for its elements).
fn write_value(lua: &Lua, v: Value, out: &mut Vec<u8>, p: ReplyProto, stack: &mut Vec<Frame>) -> mlua::Result<()> {
    match &v {
        Value::String(s) => write::bulk(out, &s.as_bytes()),
        Value::Boolean(b) => boolean(out, *b, p),
        Value::Integer(i) => write::int(out, c_f64_to_i64(*i as f64)),
        Value::Number(n) => write::int(out, c_f64_to_i64(*n)),
        Value::Table(t) => {
            if stack.len() >= MAX_DEPTH {
                write::error(out, b"ERR reached lua stack limit");
                return Ok(());
            }
            if let Some(frame) = table_to_reply(lua, t, out, p)? {
                stack.push(frame);
            }
        }
        _ => null(out, p),
    }
    Ok(())
}

/// Writes a table's reply, or its header and returns the frame of its elements.
fn table_to_reply(lua: &Lua, t: &Table, out: &mut Vec<u8>, p: ReplyProto) -> mlua::Result<Option<Frame>> {
    if let Value::String(e) = t.raw_get::<Value>("err")? {
        // Redis copies the message as a C string: it stops at the first NUL.
        write::error(out, until_nul(&e.as_bytes()));
        return Ok(None);
    }
    if let Value::String(s) = t.raw_get::<Value>("ok")? {
        write::simple(out, &crlf_to_spaces(until_nul(&s.as_bytes())));
        return Ok(None);
    }
    match t.raw_get::<Value>("double")? {
        Value::Integer(i) => {
            double(out, i as f64, p);
            return Ok(None);
        }
        Value::Number(d) => {
            double(out, d, p);
            return Ok(None);
        }
        _ => {}
    }
    if let Value::String(s) = t.raw_get::<Value>("big_number")? {
        let n = crlf_to_spaces(&s.as_bytes());
        if p.caller_resp3 {
            out.push(b'(');
            out.extend_from_slice(&n);
            out.extend_from_slice(b"\r\n");
        } else {
            write::bulk(out, &n);
        }
        return Ok(None);
    }
    if let Value::Table(v) = t.raw_get::<Value>("verbatim_string")? {
        if let (Value::String(f), Value::String(s)) = (v.raw_get::<Value>("format")?, v.raw_get::<Value>("string")?) {
            let text = s.as_bytes();
            if p.caller_resp3 {
                let mut fmt = [b' '; 3];
                for (d, c) in fmt.iter_mut().zip(f.as_bytes().iter()) {
                    *d = *c;
                }
                write::header(out, b'=', (text.len() + 4) as i64);
                out.extend_from_slice(&fmt);
                out.push(b':');
                out.extend_from_slice(&text);
                out.extend_from_slice(b"\r\n");
            } else {
                write::bulk(out, &text);
            }
            return Ok(None);
        }
    }
    if let Value::Table(m) = t.raw_get::<Value>("map")? {
        let keys = table_keys(&m)?;
        if p.caller_resp3 {
            write::header(out, b'%', keys.len() as i64);
        } else {
            write::header(out, b'*', 2 * keys.len() as i64);
        }
        return Ok(Some(Frame::Keys { t: m, keys, next: 0, values: true, value_pending: false }));
    }
    if let Value::Table(s) = t.raw_get::<Value>("set")? {
        let keys = table_keys(&s)?;
        write::header(out, if p.caller_resp3 { b'~' } else { b'*' }, keys.len() as i64);
        return Ok(Some(Frame::Keys { t: s, keys, next: 0, values: false, value_pending: false }));
    }
    // An array, up to the first nil.
    let mut len = 0i64;
    while !matches!(t.raw_get::<Value>(len + 1)?, Value::Nil) {
        len += 1;
    }
    write::header(out, b'*', len);
    let _ = lua;
    Ok(Some(Frame::Array { t: t.clone(), next: 1, len }))
}

fn double(out: &mut Vec<u8>, d: f64, p: ReplyProto) {
    let s = fmt_g(d, 17);
    if p.caller_resp3 {
        out.push(b',');
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        write::bulk(out, s.as_bytes());
    }
}

fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

fn crlf_to_spaces(b: &[u8]) -> Vec<u8> {
    b.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }).collect()
}
