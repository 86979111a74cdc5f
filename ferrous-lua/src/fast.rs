//! The hot path of a script, on the Lua C API: KEYS/ARGV, a `redis.call` reply and the
//! script's result converted straight between RESP bytes and the Lua stack.
//!
//! Going through mlua costs a protected call, a registry reference and an allocation per
//! value; a script that runs one command spent most of its time there. These functions
//! handle the common shapes (strings, numbers, booleans, nil, status replies and plain
//! arrays of them) and answer `false` for anything else, after restoring the stack, so the
//! caller falls back to the complete conversions of [`crate::convert`], which stay the
//! reference for every rule.
//!
//! # Safety
//! Every function here takes a running `lua_State` and may raise a Lua error (out of
//! memory) through `longjmp`. They keep nothing with a destructor alive across Lua calls,
//! so an error unwinds them without skipping a drop; callers must do the same.
use crate::convert::{boolean, null, Parser, ReplyProto};
use crate::fmt::c_f64_to_i64;
use ferrous_resp::write;
use mlua::ffi;
use std::ffi::c_int;

/// Nesting handled here; deeper replies and results take the general path.
const MAX_FAST_DEPTH: usize = 32;

/// Table fields with a meaning in a script's result (`{err=}`, `{ok=}`...): a table with
/// any of them takes the general path.
const SPECIAL_FIELDS: [&[u8]; 7] = [b"err", b"ok", b"double", b"big_number", b"verbatim_string", b"map", b"set"];

/// Pushes `s` on the stack.
///
/// # Safety
/// `state` is a running Lua state with a free stack slot.
#[inline]
pub(crate) unsafe fn push_bytes(state: *mut ffi::lua_State, s: &[u8]) {
    // SAFETY: by the caller; Lua copies the bytes.
    unsafe {
        ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
    }
}

/// The bytes of the string at `idx` (valid while that value stays on the stack).
///
/// # Safety
/// The value at `idx` is a string.
#[inline]
pub(crate) unsafe fn string_at<'a>(state: *mut ffi::lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: a string value: `lua_tolstring` returns its bytes without converting.
    unsafe {
        let p = ffi::lua_tolstring(state, idx, &mut len);
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

/// Pushes a `redis.call` reply converted to Lua (see [`crate::convert::reply_to_lua`] for
/// the rules). Returns `false`, with the stack as it was, for shapes it does not handle
/// (errors, RESP3 maps, sets, doubles, big numbers, verbatim strings, attributes).
///
/// # Safety
/// `state` is the running Lua state (see the module's safety note).
pub(crate) unsafe fn push_reply(state: *mut ffi::lua_State, reply: &[u8]) -> bool {
    // SAFETY: by the caller.
    unsafe {
        let top = ffi::lua_gettop(state);
        let mut r = Parser { buf: reply, pos: 0 };
        if push_value(state, &mut r, 0) && r.pos >= reply.len() {
            true
        } else {
            ffi::lua_settop(state, top);
            false
        }
    }
}

/// # Safety
/// As [`push_reply`].
unsafe fn push_value(state: *mut ffi::lua_State, r: &mut Parser<'_>, depth: usize) -> bool {
    if depth > MAX_FAST_DEPTH {
        return false;
    }
    let Some(&t) = r.buf.get(r.pos) else { return false };
    r.pos += 1;
    // SAFETY: by the caller; every push is preceded by a stack check.
    unsafe {
        if ffi::lua_checkstack(state, 4) == 0 {
            return false;
        }
        match t {
            b'$' => {
                let n = r.int();
                if n < 0 {
                    ffi::lua_pushboolean(state, 0);
                } else {
                    push_bytes(state, r.bytes(n as usize));
                }
            }
            b':' => ffi::lua_pushnumber(state, r.int() as f64),
            b'+' => {
                ffi::lua_createtable(state, 0, 1);
                push_bytes(state, b"ok");
                push_bytes(state, r.line());
                ffi::lua_rawset(state, -3);
            }
            b'*' => {
                let n = r.int();
                if n < 0 {
                    ffi::lua_pushboolean(state, 0);
                } else {
                    ffi::lua_createtable(state, n.min(1 << 16) as c_int, 0);
                    for i in 1..=n {
                        if !push_value(state, r, depth + 1) {
                            return false;
                        }
                        ffi::lua_rawseti(state, -2, i as ffi::lua_Integer);
                    }
                }
            }
            b'_' => {
                r.line();
                ffi::lua_pushnil(state);
            }
            b'#' => {
                let v = r.line() == b"t";
                ffi::lua_pushboolean(state, v as c_int);
            }
            _ => return false,
        }
    }
    true
}

/// Writes the value at `idx` as a script's reply (see [`crate::convert::lua_to_reply`] for
/// the rules). Returns `false` for shapes it does not handle (tables with any of the
/// special fields, deep nesting); `out` may then hold a partial reply the caller discards.
/// The stack is left as it was.
///
/// # Safety
/// `state` is the running Lua state and `idx` a valid absolute index.
pub(crate) unsafe fn write_result(state: *mut ffi::lua_State, idx: c_int, out: &mut Vec<u8>, p: ReplyProto) -> bool {
    // SAFETY: by the caller.
    unsafe {
        let top = ffi::lua_gettop(state);
        let ok = write_at(state, idx, out, p, 0);
        ffi::lua_settop(state, top);
        ok
    }
}

/// # Safety
/// As [`write_result`].
unsafe fn write_at(state: *mut ffi::lua_State, idx: c_int, out: &mut Vec<u8>, p: ReplyProto, depth: usize) -> bool {
    // SAFETY: by the caller; pushes are preceded by a stack check and popped again.
    unsafe {
        match ffi::lua_type(state, idx) {
            ffi::LUA_TSTRING => write::bulk(out, string_at(state, idx)),
            ffi::LUA_TNUMBER => write::int(out, c_f64_to_i64(ffi::lua_tonumber(state, idx))),
            ffi::LUA_TBOOLEAN => boolean(out, ffi::lua_toboolean(state, idx) != 0, p),
            ffi::LUA_TTABLE => {
                if depth >= MAX_FAST_DEPTH || ffi::lua_checkstack(state, 4) == 0 {
                    return false;
                }
                for field in SPECIAL_FIELDS {
                    push_bytes(state, field);
                    ffi::lua_rawget(state, idx);
                    let present = ffi::lua_type(state, -1) != ffi::LUA_TNIL;
                    ffi::lua_pop(state, 1);
                    if present {
                        return false;
                    }
                }
                // An array, up to the first nil.
                let mut len: ffi::lua_Integer = 0;
                loop {
                    ffi::lua_rawgeti(state, idx, len + 1);
                    let nil = ffi::lua_type(state, -1) == ffi::LUA_TNIL;
                    ffi::lua_pop(state, 1);
                    if nil {
                        break;
                    }
                    len += 1;
                }
                write::header(out, b'*', len);
                for i in 1..=len {
                    ffi::lua_rawgeti(state, idx, i);
                    let ok = write_at(state, ffi::lua_gettop(state), out, p, depth + 1);
                    ffi::lua_pop(state, 1);
                    if !ok {
                        return false;
                    }
                }
            }
            _ => null(out, p),
        }
    }
    true
}
