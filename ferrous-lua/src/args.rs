//! Results of Rust functions that return many values.
//!
//! mlua keeps every Lua string or table held by Rust in a slot of an auxiliary Lua stack,
//! and Lua 5.1 caps that stack at 8000 slots (mlua panics past it). `struct.unpack` and
//! `cmsgpack.unpack` may return thousands of strings: they return [`Ret`] values (or
//! `cmsgpack`'s decoded tree), whose Lua strings are created one at a time as the results
//! are pushed. (`redis.call`, which receives thousands of arguments, reads them with a C
//! entry point for the same reason; see `api`.)
use mlua::{IntoLua, Lua, Value};

/// A result value whose Lua string is created only when it is pushed.
pub(crate) enum Ret {
    Num(f64),
    Str(Vec<u8>),
}

impl IntoLua for Ret {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        Ok(match self {
            Ret::Num(n) => Value::Number(n),
            Ret::Str(s) => Value::String(lua.create_string(&s)?),
        })
    }
}
