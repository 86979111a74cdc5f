//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis ships it (pack, unpack, unpack_one, unpack_limit).
//!
//! Packing picks the smallest MessagePack type for each value (integers when the number is
//! integral, float32 when that is exact, double otherwise), encodes tables whose keys are
//! exactly 1..n as arrays and others as maps, and stops at 16 levels of nesting (deeper
//! tables become nil, so cyclic tables cannot loop). Unpacking is bounds-checked everywhere
//! ("Missing bytes in input.", "Bad data format in input.") and refuses to push more values
//! than Lua's C stack allows, as the C code does.
use crate::error::{arg_error, raise, type_error, Raise};
use crate::fmt::{c_f64_to_i32, c_f64_to_i64};
use mlua::{IntoLua, Lua, Table, Value, Variadic};

const MAX_NESTING: usize = 16;
/// Lua 5.1's `LUAI_MAXCSTACK`.
const MAX_STACK: usize = 8000;

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    // IS_INT64_EQUIVALENT: not infinite and survives the round trip through int64_t.
    if !n.is_infinite() && c_f64_to_i64(n) as f64 == n {
        encode_int(out, c_f64_to_i64(n));
    } else {
        let f = n as f32;
        if f as f64 == n {
            out.push(0xca);
            out.extend_from_slice(&f.to_be_bytes());
        } else {
            out.push(0xcb);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn encode_len(out: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8, fix_max: usize) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// True when the table's keys are exactly the integers 1..n.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    let mut array = true;
    t.for_each(|k: Value, _: Value| {
        if !array {
            return Ok(());
        }
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => {
                array = false;
                return Ok(());
            }
        };
        // IS_INT_EQUIVALENT (a C `int`).
        if n <= 0.0 || n.is_infinite() || c_f64_to_i32(n) as f64 != n {
            array = false;
            return Ok(());
        }
        max = max.max(n as i64);
        count += 1;
        Ok(())
    })?;
    Ok(array && max == count)
}

fn encode_value(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(out, *i as f64),
        Value::Number(n) => encode_number(out, *n),
        Value::Table(t) if level < MAX_NESTING => {
            if is_array(t)? {
                let len = t.raw_len();
                encode_len(out, len, 0x90, 0xdc, 0xdd, 15);
                for j in 1..=len {
                    let item: Value = t.raw_get(j)?;
                    encode_value(out, &item, level + 1)?;
                }
            } else {
                // Two passes, streaming: a big table must not hold its entries as Lua
                // references (the nesting, at most 16, bounds the recursion).
                let mut len = 0usize;
                t.for_each(|_: Value, _: Value| {
                    len += 1;
                    Ok(())
                })?;
                encode_len(out, len, 0x80, 0xde, 0xdf, 15);
                t.for_each(|k: Value, v: Value| {
                    encode_value(out, &k, level + 1)?;
                    encode_value(out, &v, level + 1)
                })?;
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Value> {
    if args.is_empty() {
        return Err(arg_error(lua, 0, "MessagePack pack needs input."));
    }
    let mut out = Vec::new();
    for v in args.iter() {
        encode_value(&mut out, v, 0)?;
    }
    Ok(Value::String(lua.create_string(&out)?))
}

/// A decoded value. Unpacking builds these first and creates the Lua values only as the
/// results are pushed, so that thousands of results never hold Lua references at once.
pub(crate) enum Mp {
    Nil,
    Bool(bool),
    Num(f64),
    Str(Vec<u8>),
    Arr(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
}

impl IntoLua for Mp {
    /// Builds the Lua value with an explicit stack (no recursion, however deep the data).
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        enum Fill {
            Arr(Table, std::vec::IntoIter<Mp>, i64),
            Map(Table, std::vec::IntoIter<(Mp, Mp)>),
        }
        fn open(lua: &Lua, mp: Mp, stack: &mut Vec<Fill>) -> mlua::Result<Value> {
            Ok(match mp {
                Mp::Nil => Value::Nil,
                Mp::Bool(b) => Value::Boolean(b),
                Mp::Num(n) => Value::Number(n),
                Mp::Str(s) => Value::String(lua.create_string(&s)?),
                Mp::Arr(items) => {
                    let t = lua.create_table_with_capacity(items.len().min(1 << 16), 0)?;
                    stack.push(Fill::Arr(t.clone(), items.into_iter(), 1));
                    Value::Table(t)
                }
                Mp::Map(pairs) => {
                    let t = lua.create_table()?;
                    stack.push(Fill::Map(t.clone(), pairs.into_iter()));
                    Value::Table(t)
                }
            })
        }
        let mut stack = Vec::new();
        let root = open(lua, self, &mut stack)?;
        while let Some(top) = stack.last_mut() {
            match top {
                Fill::Arr(t, items, i) => match items.next() {
                    Some(mp) => {
                        let (t, idx) = (t.clone(), *i);
                        *i += 1;
                        let v = open(lua, mp, &mut stack)?;
                        t.raw_set(idx, v)?;
                    }
                    None => {
                        stack.pop();
                    }
                },
                Fill::Map(t, pairs) => match pairs.next() {
                    Some((k, v)) => {
                        let t = t.clone();
                        let k = open(lua, k, &mut stack)?;
                        let v = open(lua, v, &mut stack)?;
                        t.raw_set(k, v)?;
                    }
                    None => {
                        stack.pop();
                    }
                },
            }
        }
        Ok(root)
    }
}

enum DecodeError {
    Eof,
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for DecodeError {
    fn from(e: mlua::Error) -> Self {
        DecodeError::Lua(e)
    }
}

struct Cursor<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    /// Values the C code would have on the Lua stack (for the stack-overflow check).
    stack: usize,
}

impl Cursor<'_> {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.data.len() - self.pos < n {
            Err(DecodeError::Eof)
        } else {
            Ok(())
        }
    }

    fn be(&self, at: usize, n: usize) -> u64 {
        self.data[at..at + n].iter().fold(0u64, |acc, &b| (acc << 8) | b as u64)
    }

    fn string(&mut self, hdr: usize, len: usize) -> Result<Item, DecodeError> {
        self.need(hdr.checked_add(len).ok_or(DecodeError::Eof)?)?;
        let s = self.data[self.pos + hdr..self.pos + hdr + len].to_vec();
        self.pos += hdr + len;
        Ok(Item::Value(Mp::Str(s)))
    }

    /// Decodes one value. Containers are built with an explicit stack, not recursion.
    fn value(&mut self) -> Result<Mp, DecodeError> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            let mut done = match self.item()? {
                Item::Value(mp) => mp,
                Item::Array(0) => Mp::Arr(Vec::new()),
                Item::Map(0) => Mp::Map(Vec::new()),
                Item::Array(n) => {
                    // The declared length is not trusted for the allocation: data runs out first.
                    let items = Vec::with_capacity(n.min(self.data.len() - self.pos));
                    open.push(Open::Arr { items, left: n });
                    self.stack += 2;
                    continue;
                }
                Item::Map(n) => {
                    let pairs = Vec::with_capacity(n.min(self.data.len() - self.pos));
                    open.push(Open::Map { pairs, left: n, key: None });
                    self.stack += 2;
                    continue;
                }
            };
            // Attach the value to its container, closing every container it completes.
            loop {
                match open.last_mut() {
                    None => return Ok(done),
                    Some(Open::Arr { items, left }) => {
                        items.push(done);
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        let Some(Open::Arr { items, .. }) = open.pop() else { return Err(DecodeError::BadFormat) };
                        self.stack -= 2;
                        done = Mp::Arr(items);
                    }
                    Some(Open::Map { pairs, left, key }) => match key.take() {
                        None => {
                            *key = Some(done);
                            self.stack += 1;
                            break;
                        }
                        Some(k) => {
                            self.stack -= 1;
                            match &k {
                                Mp::Nil => {
                                    return Err(DecodeError::Lua(Raise::Str(b"table index is nil".to_vec()).into()))
                                }
                                Mp::Num(n) if n.is_nan() => {
                                    return Err(DecodeError::Lua(Raise::Str(b"table index is NaN".to_vec()).into()))
                                }
                                _ => pairs.push((k, done)),
                            }
                            *left -= 1;
                            if *left > 0 {
                                break;
                            }
                            let Some(Open::Map { pairs, .. }) = open.pop() else { return Err(DecodeError::BadFormat) };
                            self.stack -= 2;
                            done = Mp::Map(pairs);
                        }
                    },
                }
            }
        }
    }

    /// The next value, or the header of a container.
    fn item(&mut self) -> Result<Item, DecodeError> {
        self.need(1)?;
        if self.stack + 1 > MAX_STACK {
            return Err(DecodeError::Lua(raise(
                self.lua,
                "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
            )));
        }
        let p = self.pos;
        let b = self.data[p];
        let num = |c: &mut Self, n: usize, v: f64| -> Result<Item, DecodeError> {
            c.need(1 + n)?;
            c.pos += 1 + n;
            Ok(Item::Value(Mp::Num(v)))
        };
        let header = |c: &mut Self, n: usize| -> Result<usize, DecodeError> {
            c.need(1 + n)?;
            let l = c.be(p + 1, n) as usize;
            c.pos += 1 + n;
            Ok(l)
        };
        let scalar = |c: &mut Self, mp: Mp| {
            c.pos += 1;
            Ok(Item::Value(mp))
        };
        match b {
            0xcc => {
                self.need(2)?;
                num(self, 1, self.be(p + 1, 1) as f64)
            }
            0xd0 => {
                self.need(2)?;
                num(self, 1, self.data[p + 1] as i8 as f64)
            }
            0xcd => {
                self.need(3)?;
                num(self, 2, self.be(p + 1, 2) as f64)
            }
            0xd1 => {
                self.need(3)?;
                num(self, 2, self.be(p + 1, 2) as u16 as i16 as f64)
            }
            0xce => {
                self.need(5)?;
                num(self, 4, self.be(p + 1, 4) as f64)
            }
            0xd2 => {
                self.need(5)?;
                num(self, 4, self.be(p + 1, 4) as u32 as i32 as f64)
            }
            // uint 64 goes through lua_pushinteger (a signed ptrdiff_t).
            0xcf | 0xd3 => {
                self.need(9)?;
                num(self, 8, self.be(p + 1, 8) as i64 as f64)
            }
            0xc0 => scalar(self, Mp::Nil),
            0xc3 => scalar(self, Mp::Bool(true)),
            0xc2 => scalar(self, Mp::Bool(false)),
            0xca => {
                self.need(5)?;
                num(self, 4, f32::from_bits(self.be(p + 1, 4) as u32) as f64)
            }
            0xcb => {
                self.need(9)?;
                num(self, 8, f64::from_bits(self.be(p + 1, 8)))
            }
            0xd9 => {
                self.need(2)?;
                let l = self.be(p + 1, 1) as usize;
                self.string(2, l)
            }
            0xda => {
                self.need(3)?;
                let l = self.be(p + 1, 2) as usize;
                self.string(3, l)
            }
            0xdb => {
                self.need(5)?;
                let l = self.be(p + 1, 4) as usize;
                self.string(5, l)
            }
            0xdc => Ok(Item::Array(header(self, 2)?)),
            0xdd => Ok(Item::Array(header(self, 4)?)),
            0xde => Ok(Item::Map(header(self, 2)?)),
            0xdf => Ok(Item::Map(header(self, 4)?)),
            b if b & 0x80 == 0 => scalar(self, Mp::Num(b as f64)),
            b if b & 0xe0 == 0xe0 => scalar(self, Mp::Num(b as i8 as f64)),
            b if b & 0xe0 == 0xa0 => self.string(1, (b & 0x1f) as usize),
            b if b & 0xf0 == 0x90 => {
                self.pos += 1;
                Ok(Item::Array((b & 0xf) as usize))
            }
            b if b & 0xf0 == 0x80 => {
                self.pos += 1;
                Ok(Item::Map((b & 0xf) as usize))
            }
            _ => Err(DecodeError::BadFormat),
        }
    }
}

/// What [`Cursor::item`] read.
enum Item {
    Value(Mp),
    Array(usize),
    Map(usize),
}

/// A container being decoded.
enum Open {
    Arr { items: Vec<Mp>, left: usize },
    Map { pairs: Vec<(Mp, Mp)>, left: usize, key: Option<Mp> },
}

fn check_string(lua: &Lua, args: &[Value]) -> mlua::Result<Vec<u8>> {
    match args.first() {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()).unwrap_or_default())
        }
        v => Err(type_error(lua, 1, "string", v)),
    }
}

fn int_arg(lua: &Lua, args: &[Value], i: usize, default: Option<i64>) -> mlua::Result<i64> {
    let v = args.get(i);
    match v {
        None | Some(Value::Nil) if default.is_some() => Ok(default.unwrap_or(0)),
        Some(Value::Integer(n)) => Ok(*n),
        Some(Value::Number(n)) => Ok(c_f64_to_i64(*n)),
        Some(s @ Value::String(_)) => match lua.coerce_number(s.clone())? {
            Some(n) => Ok(c_f64_to_i64(n)),
            None => Err(type_error(lua, i + 1, "number", v)),
        },
        _ => Err(type_error(lua, i + 1, "number", v)),
    }
}

fn unpack_full(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> mlua::Result<Variadic<Mp>> {
    let len = s.len() as i64;
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(raise(
            lua,
            format!("Invalid request to unpack with offset of {} and limit of {}.", offset as i32, len as i32),
        ));
    } else if offset > len {
        return Err(raise(lua, format!("Start offset {} greater than input length {}.", offset as i32, len as i32)));
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut c = Cursor { lua, data: s, pos: offset as usize, stack: 1 };
    let mut values = Vec::new();
    let mut cnt = 0;
    while c.pos < s.len() && cnt < limit {
        match c.value() {
            Ok(v) => values.push(v),
            Err(DecodeError::Eof) => return Err(raise(lua, "Missing bytes in input.")),
            Err(DecodeError::BadFormat) => return Err(raise(lua, "Bad data format in input.")),
            Err(DecodeError::Lua(e)) => return Err(e),
        }
        c.stack += 1;
        cnt += 1;
    }
    if !decode_all {
        let next = if c.pos == s.len() { -1 } else { c.pos as i64 };
        values.insert(0, Mp::Num(next as f64));
    }
    Ok(Variadic::from_iter(values))
}

/// Builds the `cmsgpack` table.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, a: Variadic<Value>| {
            let s = check_string(lua, &a)?;
            unpack_full(lua, &s, 0, 0)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, a: Variadic<Value>| {
            let offset = int_arg(lua, &a, 1, Some(0))?;
            let s = check_string(lua, &a)?;
            unpack_full(lua, &s, 1, offset)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, a: Variadic<Value>| {
            let limit = int_arg(lua, &a, 1, None)?;
            let offset = int_arg(lua, &a, 2, Some(0))?;
            let s = check_string(lua, &a)?;
            unpack_full(lua, &s, limit, offset)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}
