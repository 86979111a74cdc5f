//! `cjson`: lua-cjson 2.1.0 as Redis ships it (encode, decode, the configuration functions,
//! `cjson.null`, `cjson.new`).
//!
//! Encoding walks tables with `lua_next` order (so object keys come out in the same order as
//! in Redis), detects arrays by their keys (sparse arrays are refused past the ratio/safe
//! limits), formats numbers with `%.14g`, escapes `/` and control characters. Decoding is
//! a byte-for-byte port of the tokenizer: same leniencies (strtod numbers, `nan`, hex), same
//! error texts and character positions.
use crate::convert::{table_keys, Key};
use crate::error::{arg_error, raise, type_error, type_name};
use crate::fmt::{c_f64_to_i64, fmt_g, strtod};
use mlua::{LightUserData, Lua, Table, Value, Variadic};
use parking_lot::Mutex;
use std::sync::Arc;

/// cjson's configuration (per `cjson.new()` instance).
#[derive(Clone)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    number_precision: usize,
    keep_buffer: bool,
    /// 0: refuse NaN/Inf, 1: encode them, 2: encode them as null.
    encode_invalid: u8,
    decode_invalid: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            number_precision: 14,
            keep_buffer: true,
            encode_invalid: 0,
            decode_invalid: true,
        }
    }
}

type Cfg = Arc<Mutex<Config>>;

/// Nesting limit regardless of the configured depths (keeps the Rust recursion bounded).
const MAX_DEPTH: i64 = 1000;

/// `cjson.null`: a NULL light userdata.
pub(crate) fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn is_null(v: &Value) -> bool {
    matches!(v, Value::LightUserData(p) if p.0.is_null())
}

// ===== Encoding =====

const ESCAPES: [&str; 32] = [
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007", "\\b", "\\t", "\\n",
    "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015",
    "\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
];

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            0..=31 => out.extend_from_slice(ESCAPES[c as usize].as_bytes()),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            127 => out.extend_from_slice(b"\\u007f"),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// A table being encoded.
enum Frame {
    Array {
        t: Table,
        next: i64,
        len: i64,
    },
    /// An object: its keys (as Rust values, so that big tables hold no Lua references).
    Object {
        t: Table,
        keys: Vec<Key>,
        next: usize,
    },
}

struct Encoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    out: Vec<u8>,
    depth: i64,
}

impl Encoder<'_> {
    fn exception(&self, v: &Value, reason: &str) -> mlua::Error {
        raise(self.lua, format!("Cannot serialise {}: {reason}", type_name(Some(v))))
    }

    fn number(&mut self, v: &Value, n: f64) -> mlua::Result<()> {
        if n.is_nan() || n.is_infinite() {
            match self.cfg.encode_invalid {
                0 => return Err(self.exception(v, "must not be NaN or Inf")),
                1 if n.is_nan() => {
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
                2 => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
                _ => {}
            }
        }
        self.out.extend_from_slice(fmt_g(n, self.cfg.number_precision).as_bytes());
        Ok(())
    }

    /// Writes a scalar, or opens a table (writes `[`/`{` and pushes its frame). Tables are
    /// walked with an explicit stack, not recursion: nesting is only bounded by the
    /// configured depth, and the thread running the script may have a small stack.
    fn open(&mut self, v: &Value, stack: &mut Vec<Frame>) -> mlua::Result<()> {
        match v {
            Value::String(s) => append_string(&mut self.out, &s.as_bytes()),
            Value::Integer(i) => self.number(v, *i as f64)?,
            Value::Number(n) => self.number(v, *n)?,
            Value::Boolean(b) => self.out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            v if is_null(v) => self.out.extend_from_slice(b"null"),
            Value::Table(t) => {
                self.depth += 1;
                if self.depth > self.cfg.encode_max_depth.min(MAX_DEPTH) {
                    return Err(raise(self.lua, format!("Cannot serialise, excessive nesting ({})", self.depth)));
                }
                let len = self.array_length(t, v)?;
                if len > 0 {
                    self.out.push(b'[');
                    stack.push(Frame::Array { t: t.clone(), next: 1, len });
                } else {
                    self.out.push(b'{');
                    let keys = table_keys(t)?;
                    stack.push(Frame::Object { t: t.clone(), keys, next: 0 });
                }
            }
            other => return Err(self.exception(other, "type not supported")),
        }
        Ok(())
    }

    fn value(&mut self, root: &Value) -> mlua::Result<()> {
        let mut stack: Vec<Frame> = Vec::new();
        self.open(root, &mut stack)?;
        loop {
            let child = match stack.last_mut() {
                None => return Ok(()),
                Some(Frame::Array { t, next, len }) => {
                    if *next > *len {
                        None
                    } else {
                        if *next > 1 {
                            self.out.push(b',');
                        }
                        let item: Value = t.raw_get(*next)?;
                        *next += 1;
                        Some(item)
                    }
                }
                Some(Frame::Object { t, keys, next }) => {
                    if *next == keys.len() {
                        None
                    } else {
                        if *next > 0 {
                            self.out.push(b',');
                        }
                        let k = keys[*next].to_value(self.lua)?;
                        *next += 1;
                        let v: Value = t.raw_get(k.clone())?;
                        self.key(&k)?;
                        Some(v)
                    }
                }
            };
            match child {
                Some(v) => self.open(&v, &mut stack)?,
                None => {
                    let closing = if matches!(stack.pop(), Some(Frame::Array { .. })) { b']' } else { b'}' };
                    self.out.push(closing);
                    self.depth -= 1;
                }
            }
        }
    }

    fn key(&mut self, k: &Value) -> mlua::Result<()> {
        match k {
            Value::Integer(i) => {
                self.out.push(b'"');
                self.number(k, *i as f64)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::Number(n) => {
                self.out.push(b'"');
                self.number(k, *n)?;
                self.out.extend_from_slice(b"\":");
            }
            Value::String(s) => {
                append_string(&mut self.out, &s.as_bytes());
                self.out.push(b':');
            }
            other => return Err(self.exception(other, "table key must be a number or string")),
        }
        Ok(())
    }

    /// The array length of a table, or -1 if it must be encoded as an object.
    fn array_length(&self, t: &Table, tv: &Value) -> mlua::Result<i64> {
        let mut max: i64 = 0;
        let mut items: i64 = 0;
        for kv in t.pairs::<Value, Value>() {
            let (k, _) = kv?;
            let n = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(-1),
            };
            if n != 0.0 && n.floor() == n && n >= 1.0 {
                if n > max as f64 {
                    max = c_f64_to_i64(n).min(i32::MAX as i64);
                }
                items += 1;
                continue;
            }
            return Ok(-1);
        }
        let c = &self.cfg;
        if c.sparse_ratio > 0 && max > items * c.sparse_ratio && max > c.sparse_safe {
            if !c.sparse_convert {
                return Err(self.exception(tv, "excessively sparse array"));
            }
            return Ok(-1);
        }
        Ok(max)
    }
}

fn encode(lua: &Lua, cfg: &Cfg, args: Variadic<Value>) -> mlua::Result<Value> {
    if args.len() != 1 {
        return Err(arg_error(lua, 1, "expected 1 argument"));
    }
    let mut enc = Encoder { lua, cfg: cfg.lock().clone(), out: Vec::new(), depth: 0 };
    enc.value(&args[0])?;
    Ok(Value::String(lua.create_string(&enc.out)?))
}

// ===== Decoding =====

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num => "T_NUMBER",
            Tok::Bool => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Tok,
    index: usize,
    num: f64,
    boolean: bool,
    string: Vec<u8>,
    error: &'static str,
}

struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    ptr: usize,
    depth: i64,
    cfg: Config,
}

impl Decoder<'_> {
    /// The byte at `i`, with the C string's terminating NUL past the end.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn token_error(&self, t: &mut Token, what: &'static str) {
        t.kind = Tok::Error;
        t.index = self.ptr;
        t.error = what;
    }

    fn is_invalid_number(&self) -> bool {
        let mut i = self.ptr;
        if self.at(i) == b'+' {
            return true;
        }
        if self.at(i) == b'-' {
            i += 1;
        }
        if self.at(i) == b'0' {
            let c2 = self.at(i + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        } else if self.at(i) <= b'9' {
            return false;
        }
        let rest = |n: usize| -> Vec<u8> { (0..n).map(|k| self.at(i + k).to_ascii_lowercase()).collect() };
        rest(3) == b"inf" || rest(3) == b"nan"
    }

    fn number_token(&mut self, t: &mut Token) {
        // strtod only consumes characters from this set; stopping there keeps the scan
        // proportional to the token (and stops at a NUL, as the C string does).
        let tail = &self.data[self.ptr.min(self.data.len())..];
        let end = tail
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-' | b'(' | b')' | b'_')))
            .unwrap_or(tail.len());
        let (v, n) = strtod(&tail[..end]);
        if n == 0 {
            self.token_error(t, "invalid number");
            return;
        }
        t.kind = Tok::Num;
        t.num = v;
        self.ptr += n;
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0u32;
        for k in 0..4 {
            v = (v << 4) | (self.at(at + k) as char).to_digit(16)?;
        }
        Some(v)
    }

    /// Appends the UTF-8 form of the `\uXXXX` escape at `ptr` (and its surrogate pair).
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(mut cp) = self.hex4(self.ptr + 2) else { return false };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.at(self.ptr + 6) != b'\\' || self.at(self.ptr + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.ptr + 8) else { return false };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let mut buf = [0u8; 4];
        match char::from_u32(cp) {
            Some(c) => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
            None => return false,
        }
        self.ptr += len;
        true
    }

    fn string_token(&mut self, t: &mut Token) {
        self.ptr += 1;
        let mut s = Vec::new();
        loop {
            let ch = self.at(self.ptr);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                self.token_error(t, "unexpected end of string");
                return;
            }
            if ch == b'\\' {
                let esc = match self.at(self.ptr + 1) {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 8,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'f' => 12,
                    b'r' => b'\r',
                    b'u' => {
                        if self.unicode_escape(&mut s) {
                            continue;
                        }
                        self.token_error(t, "invalid unicode escape code");
                        return;
                    }
                    _ => {
                        self.token_error(t, "invalid escape code");
                        return;
                    }
                };
                s.push(esc);
                self.ptr += 2;
                continue;
            }
            s.push(ch);
            self.ptr += 1;
        }
        self.ptr += 1;
        t.kind = Tok::Str;
        t.string = s;
    }

    fn next_token(&mut self) -> Token {
        let mut t = Token { kind: Tok::Error, index: 0, num: 0.0, boolean: false, string: Vec::new(), error: "" };
        while matches!(self.at(self.ptr), b' ' | b'\t' | b'\n' | b'\r') {
            self.ptr += 1;
        }
        t.index = self.ptr;
        let ch = self.at(self.ptr);
        let single = match ch {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(k) = single {
            t.kind = k;
            self.ptr += 1;
            return t;
        }
        if ch == 0 {
            t.kind = Tok::End;
            return t;
        }
        let starts = |w: &[u8]| (0..w.len()).all(|k| self.at(self.ptr + k) == w[k]);
        match ch {
            b'"' => self.string_token(&mut t),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid && self.is_invalid_number() {
                    self.token_error(&mut t, "invalid number");
                } else {
                    self.number_token(&mut t);
                }
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                if starts(b"true") {
                    t.kind = Tok::Bool;
                    t.boolean = true;
                    self.ptr += 4;
                } else if starts(b"false") {
                    t.kind = Tok::Bool;
                    self.ptr += 5;
                } else if starts(b"null") {
                    t.kind = Tok::Null;
                    self.ptr += 4;
                } else if self.cfg.decode_invalid && self.is_invalid_number() {
                    self.number_token(&mut t);
                } else {
                    self.token_error(&mut t, "invalid token");
                }
            }
            _ => self.token_error(&mut t, "invalid token"),
        }
        t
    }

    fn parse_error(&self, expected: &str, t: &Token) -> mlua::Error {
        let found = if t.kind == Tok::Error { t.error } else { t.kind.name() };
        raise(self.lua, format!("Expected {expected} but found {found} at character {}", t.index + 1))
    }

    fn descend(&mut self) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth.min(MAX_DEPTH) {
            return Err(raise(
                self.lua,
                format!("Found too many nested data structures ({}) at character {}", self.depth, self.ptr),
            ));
        }
        Ok(())
    }

    /// Starts a value at token `t`: a scalar is returned; a container is pushed on `stack`
    /// (and returned at once if it is empty).
    fn begin(&mut self, t: Token, stack: &mut Vec<Open>) -> mlua::Result<Step> {
        Ok(Step::Value(match t.kind {
            Tok::Str => Value::String(self.lua.create_string(&t.string)?),
            Tok::Num => Value::Number(t.num),
            Tok::Bool => Value::Boolean(t.boolean),
            Tok::Null => null(),
            Tok::ObjBegin => {
                self.descend()?;
                let obj = self.lua.create_table()?;
                let tok = self.next_token();
                if tok.kind == Tok::ObjEnd {
                    self.depth -= 1;
                    Value::Table(obj)
                } else {
                    let key = self.object_key(tok)?;
                    stack.push(Open { table: obj, array_index: 0, key: Some(key) });
                    return Ok(Step::Pending(self.next_token()));
                }
            }
            Tok::ArrBegin => {
                self.descend()?;
                let arr = self.lua.create_table()?;
                let tok = self.next_token();
                if tok.kind == Tok::ArrEnd {
                    self.depth -= 1;
                    Value::Table(arr)
                } else {
                    stack.push(Open { table: arr, array_index: 1, key: None });
                    return Ok(Step::Pending(tok));
                }
            }
            _ => return Err(self.parse_error("value", &t)),
        }))
    }

    /// An object key and its colon.
    fn object_key(&mut self, tok: Token) -> mlua::Result<mlua::String> {
        if tok.kind != Tok::Str {
            return Err(self.parse_error("object key string", &tok));
        }
        let key = self.lua.create_string(&tok.string)?;
        let colon = self.next_token();
        if colon.kind != Tok::Colon {
            return Err(self.parse_error("colon", &colon));
        }
        Ok(key)
    }

    /// Parses a whole value. Containers are tracked with an explicit stack rather than
    /// recursion, so deep documents cannot exhaust the thread's stack.
    fn value(&mut self, t: Token) -> mlua::Result<Value> {
        let mut stack: Vec<Open> = Vec::new();
        let mut step = self.begin(t, &mut stack)?;
        loop {
            let v = match step {
                Step::Value(v) => v,
                Step::Pending(tok) => {
                    step = self.begin(tok, &mut stack)?;
                    continue;
                }
            };
            let Some(top) = stack.last_mut() else { return Ok(v) };
            match top.key.take() {
                Some(k) => top.table.raw_set(k, v)?,
                None => {
                    top.table.raw_set(top.array_index, v)?;
                    top.array_index += 1;
                }
            }
            let is_array = top.array_index > 0;
            let tok = self.next_token();
            let (end, what) =
                if is_array { (Tok::ArrEnd, "comma or array end") } else { (Tok::ObjEnd, "comma or object end") };
            if tok.kind == end {
                let Some(closed) = stack.pop() else { return Err(mlua::Error::runtime("cjson: parser state")) };
                self.depth -= 1;
                step = Step::Value(Value::Table(closed.table));
                continue;
            }
            if tok.kind != Tok::Comma {
                return Err(self.parse_error(what, &tok));
            }
            let next = self.next_token();
            if !is_array {
                let key = self.object_key(next)?;
                if let Some(top) = stack.last_mut() {
                    top.key = Some(key);
                }
                step = Step::Pending(self.next_token());
            } else {
                step = Step::Pending(next);
            }
        }
    }
}

/// What `begin` found: a complete value, or an opened container whose first value starts at
/// the token.
enum Step {
    Value(Value),
    Pending(Token),
}

/// A container being decoded: arrays count from 1, objects hold the pending key.
struct Open {
    table: Table,
    array_index: i64,
    key: Option<mlua::String>,
}

fn decode(lua: &Lua, cfg: &Cfg, args: Variadic<Value>) -> mlua::Result<Value> {
    if args.len() != 1 {
        return Err(arg_error(lua, 1, "expected 1 argument"));
    }
    let data: Vec<u8> = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        v @ (Value::Integer(_) | Value::Number(_)) => {
            lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()).unwrap_or_default()
        }
        v => return Err(type_error(lua, 1, "string", Some(v))),
    };
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(raise(lua, "JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut d = Decoder { lua, data: &data, ptr: 0, depth: 0, cfg: cfg.lock().clone() };
    let t = d.next_token();
    let v = d.value(t)?;
    let end = d.next_token();
    if end.kind != Tok::End {
        return Err(d.parse_error("the end", &end));
    }
    Ok(v)
}

// ===== Configuration =====

fn check_args(lua: &Lua, args: &[Value], max: usize) -> mlua::Result<()> {
    if args.len() > max {
        return Err(arg_error(lua, max + 1, "found too many arguments"));
    }
    Ok(())
}

fn int_option(lua: &Lua, args: &[Value], i: usize, min: i64, max: i64) -> mlua::Result<Option<i64>> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => {
            let n = match v {
                Value::Integer(n) => *n as f64,
                Value::Number(n) => *n,
                Value::String(_) => {
                    lua.coerce_number(v.clone())?.ok_or_else(|| type_error(lua, i + 1, "number", Some(v)))?
                }
                _ => return Err(type_error(lua, i + 1, "number", Some(v))),
            };
            let n = c_f64_to_i64(n);
            if n < min || n > max {
                return Err(arg_error(lua, i + 1, &format!("expected integer between {min} and {max}")));
            }
            Ok(Some(n))
        }
    }
}

fn bool_option(lua: &Lua, args: &[Value], i: usize) -> mlua::Result<Option<bool>> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if &*s.as_bytes() == b"on" => Ok(Some(true)),
        Some(Value::String(s)) if &*s.as_bytes() == b"off" => Ok(Some(false)),
        Some(Value::String(s)) => {
            Err(arg_error(lua, i + 1, &format!("invalid option '{}'", String::from_utf8_lossy(&s.as_bytes()))))
        }
        Some(v) => Err(type_error(lua, i + 1, "string", Some(v))),
    }
}

/// Builds a `cjson` table with its own configuration.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Cfg = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;
    let c = cfg.clone();
    t.raw_set("encode", lua.create_function(move |lua, a: Variadic<Value>| encode(lua, &c, a))?)?;
    let c = cfg.clone();
    t.raw_set("decode", lua.create_function(move |lua, a: Variadic<Value>| decode(lua, &c, a))?)?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(move |lua, a: Variadic<Value>| {
            check_args(lua, &a, 3)?;
            let mut g = c.lock();
            if let Some(b) = bool_option(lua, &a, 0)? {
                g.sparse_convert = b;
            }
            if let Some(n) = int_option(lua, &a, 1, 0, i32::MAX as i64)? {
                g.sparse_ratio = n;
            }
            if let Some(n) = int_option(lua, &a, 2, 0, i32::MAX as i64)? {
                g.sparse_safe = n;
            }
            Ok((g.sparse_convert, g.sparse_ratio, g.sparse_safe))
        })?,
    )?;
    for (name, is_encode) in [("encode_max_depth", true), ("decode_max_depth", false)] {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, a: Variadic<Value>| {
                check_args(lua, &a, 1)?;
                let mut g = c.lock();
                if let Some(n) = int_option(lua, &a, 0, 1, i32::MAX as i64)? {
                    if is_encode {
                        g.encode_max_depth = n;
                    } else {
                        g.decode_max_depth = n;
                    }
                }
                Ok(if is_encode { g.encode_max_depth } else { g.decode_max_depth })
            })?,
        )?;
    }
    let c = cfg.clone();
    t.raw_set(
        "encode_number_precision",
        lua.create_function(move |lua, a: Variadic<Value>| {
            check_args(lua, &a, 1)?;
            let mut g = c.lock();
            if let Some(n) = int_option(lua, &a, 0, 1, 14)? {
                g.number_precision = n as usize;
            }
            Ok(g.number_precision as i64)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(move |lua, a: Variadic<Value>| {
            check_args(lua, &a, 1)?;
            let mut g = c.lock();
            if let Some(b) = bool_option(lua, &a, 0)? {
                g.keep_buffer = b;
            }
            Ok(g.keep_buffer)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, a: Variadic<Value>| {
            check_args(lua, &a, 1)?;
            let mut g = c.lock();
            match a.first() {
                Some(Value::String(s)) if &*s.as_bytes() == b"null" => g.encode_invalid = 2,
                _ => {
                    if let Some(b) = bool_option(lua, &a, 0)? {
                        g.encode_invalid = b as u8;
                    }
                }
            }
            Ok(match g.encode_invalid {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode_invalid_numbers",
        lua.create_function(move |lua, a: Variadic<Value>| {
            check_args(lua, &a, 1)?;
            let mut g = c.lock();
            if let Some(b) = bool_option(lua, &a, 0)? {
                g.decode_invalid = b;
            }
            Ok(g.decode_invalid)
        })?,
    )?;
    t.raw_set("new", lua.create_function(|lua, ()| open(lua))?)?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}
