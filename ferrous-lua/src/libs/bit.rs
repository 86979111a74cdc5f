//! `bit`: LuaBitOp 1.0 (tobit tohex bnot band bor bxor lshift rshift arshift rol ror bswap).
//!
//! Numbers are normalised to 32-bit integers the way LuaBitOp does it (adding 2^52+2^51 and
//! keeping the low 32 bits of the double, i.e. round-to-nearest modulo 2^32); results are
//! signed 32-bit numbers.
use crate::error::type_error;
use mlua::{Lua, Table, Value, Variadic};

/// Normalises a Lua number to 32 bits like LuaBitOp's `barg`.
pub(crate) fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn arg(lua: &Lua, args: &[Value], i: usize) -> mlua::Result<i32> {
    let v = args.get(i);
    let n = match v {
        Some(Value::Integer(n)) => *n as f64,
        Some(Value::Number(n)) => *n,
        Some(Value::String(_)) => match lua.coerce_number(v.cloned().unwrap_or(Value::Nil))? {
            Some(n) => n,
            None => return Err(type_error(lua, i + 1, "number", v)),
        },
        _ => return Err(type_error(lua, i + 1, "number", v)),
    };
    Ok(tobit(n))
}

fn num(v: i32) -> Value {
    Value::Number(v as f64)
}

/// Builds the `bit` table.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|lua, a: Variadic<Value>| Ok(num(arg(lua, &a, 0)?)))?)?;
    t.raw_set("bnot", lua.create_function(|lua, a: Variadic<Value>| Ok(num(!arg(lua, &a, 0)?)))?)?;
    fn fold(lua: &Lua, a: &[Value], f: fn(i32, i32) -> i32) -> mlua::Result<Value> {
        let mut acc = arg(lua, a, 0)?;
        for i in 1..a.len() {
            acc = f(acc, arg(lua, a, i)?);
        }
        Ok(num(acc))
    }
    t.raw_set("band", lua.create_function(|lua, a: Variadic<Value>| fold(lua, &a, |x, y| x & y))?)?;
    t.raw_set("bor", lua.create_function(|lua, a: Variadic<Value>| fold(lua, &a, |x, y| x | y))?)?;
    t.raw_set("bxor", lua.create_function(|lua, a: Variadic<Value>| fold(lua, &a, |x, y| x ^ y))?)?;
    fn shift(lua: &Lua, a: &[Value], f: fn(u32, u32) -> u32) -> mlua::Result<Value> {
        let x = arg(lua, a, 0)? as u32;
        let n = arg(lua, a, 1)? as u32 & 31;
        Ok(num(f(x, n) as i32))
    }
    t.raw_set("lshift", lua.create_function(|lua, a: Variadic<Value>| shift(lua, &a, |x, n| x << n))?)?;
    t.raw_set("rshift", lua.create_function(|lua, a: Variadic<Value>| shift(lua, &a, |x, n| x >> n))?)?;
    t.raw_set(
        "arshift",
        lua.create_function(|lua, a: Variadic<Value>| shift(lua, &a, |x, n| ((x as i32) >> n) as u32))?,
    )?;
    t.raw_set("rol", lua.create_function(|lua, a: Variadic<Value>| shift(lua, &a, |x, n| x.rotate_left(n)))?)?;
    t.raw_set("ror", lua.create_function(|lua, a: Variadic<Value>| shift(lua, &a, |x, n| x.rotate_right(n)))?)?;
    t.raw_set(
        "bswap",
        lua.create_function(|lua, a: Variadic<Value>| Ok(num((arg(lua, &a, 0)? as u32).swap_bytes() as i32)))?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, a: Variadic<Value>| {
            let x = arg(lua, &a, 0)? as u32;
            let n = if a.len() < 2 { 8 } else { arg(lua, &a, 1)? };
            let (upper, n) = if n < 0 { (true, n.unsigned_abs()) } else { (false, n as u32) };
            let n = n.min(8) as usize;
            let digits: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
            let mut s = vec![b'0'; n];
            let mut v = x;
            for i in (0..n).rev() {
                s[i] = digits[(v & 15) as usize];
                v >>= 4;
            }
            Ok(Value::String(lua.create_string(&s)?))
        })?,
    )?;
    Ok(t)
}
