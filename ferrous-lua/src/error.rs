//! How Rust functions raise Lua errors that look exactly like Redis's.
//!
//! Redis's C functions raise either a plain string (`luaL_error`, prefixed with the caller's
//! position, `user_script:1: ...`) or a table `{err = "ERR ..."}` (`redis.call` failures).
//! mlua wraps any error a Rust callback returns in an opaque userdata, so a Rust function
//! returns [`Raise`] inside `mlua::Error::external`, and the sandbox turns that back into
//! the string or table wherever a script can observe an error: `pcall`, `xpcall`,
//! `coroutine.resume` and the top-level error handler (see `sandbox.lua`).
use mlua::{Lua, Value};
use std::fmt;

/// Why a running script is being stopped. These errors cannot be caught by the script:
/// every `pcall`/`xpcall`/`coroutine.resume` re-raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// SCRIPT KILL / FUNCTION KILL.
    Killed,
    /// The configured instruction limit was reached.
    InstructionLimit(u64),
    /// FUNCTION LOAD ran for more than 500 ms.
    LoadTimeout,
}

impl Abort {
    /// The `err` field of the error table Redis raises.
    pub(crate) fn message(self) -> String {
        match self {
            Abort::Killed => "ERR Script killed by user with SCRIPT KILL...".into(),
            Abort::InstructionLimit(n) => format!("ERR Script exceeded the instruction limit of {n} instructions"),
            Abort::LoadTimeout => "ERR FUNCTION LOAD timeout".into(),
        }
    }
}

/// An error raised by a Rust function, in the shape a script will see it.
#[derive(Debug, Clone)]
pub(crate) enum Raise {
    /// A plain string error (already including any `user_script:N: ` position).
    Str(Vec<u8>),
    /// A Redis error table `{err = msg}`; `true` adds `ignore_error_stats_update = true`
    /// (errors replied by a command, already counted in the error stats).
    Table(Vec<u8>, bool),
    /// An uncatchable stop.
    Abort(Abort),
}

impl fmt::Display for Raise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raise::Str(s) | Raise::Table(s, _) => f.write_str(&String::from_utf8_lossy(s)),
            Raise::Abort(a) => f.write_str(&a.message()),
        }
    }
}

impl std::error::Error for Raise {}

impl From<Raise> for mlua::Error {
    fn from(r: Raise) -> Self {
        mlua::Error::external(r)
    }
}

/// Lua's `luaL_where(L, level)`: `"source:line: "` for a Lua function at `level` (0 is the
/// running Rust function, 1 its caller), empty for C functions or unknown levels.
pub(crate) fn position(lua: &Lua, level: usize) -> String {
    lua.inspect_stack(level, |d| {
        let line = d.current_line()?;
        if line == 0 {
            return None;
        }
        let src = d.source();
        let short = src.short_src.as_deref()?.to_string();
        Some(format!("{short}:{line}: "))
    })
    .flatten()
    .unwrap_or_default()
}

/// A string error prefixed with the position of the caller of the running Rust function,
/// as `luaL_error` produces it.
pub(crate) fn raise(lua: &Lua, msg: impl AsRef<str>) -> mlua::Error {
    let mut s = position(lua, 1).into_bytes();
    s.extend_from_slice(msg.as_ref().as_bytes());
    Raise::Str(s).into()
}

/// A Redis error table (`{err = "ERR msg"}`); `msg` gets the `ERR ` code unless it starts
/// with `-CODE ` (Redis's `luaPushErrorBuff`).
pub(crate) fn raise_table(msg: &str) -> mlua::Error {
    // The Lua debugger logs the errors of the redis.* functions while stepping.
    if crate::debugger::logging() {
        crate::debugger::log_error(msg.as_bytes());
    }
    Raise::Table(error_table_text(msg.as_bytes()), false).into()
}

/// Redis's normalisation of an error text for a Lua error table: `-CODE msg` keeps its code,
/// anything else gets `ERR`; trailing CR/LF are trimmed.
pub(crate) fn error_table_text(msg: &[u8]) -> Vec<u8> {
    let (code, text): (&[u8], &[u8]) = if let Some(rest) = msg.strip_prefix(b"-") {
        match rest.iter().position(|&c| c == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        }
    } else {
        (b"ERR", msg)
    };
    let mut end = text.len();
    while end > 0 && (text[end - 1] == b'\r' || text[end - 1] == b'\n') {
        end -= 1;
    }
    let mut start = 0;
    while start < end && (text[start] == b'\r' || text[start] == b'\n') {
        start += 1;
    }
    let mut out = Vec::with_capacity(code.len() + 1 + end - start);
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(&text[start..end]);
    out
}

/// "bad argument #n to 'name' (msg)" with the caller's position (`luaL_argerror`). Like Lua,
/// the function's name is the one the caller used (`'?'` when called through `pcall`),
/// and method calls count `self` out.
pub(crate) fn arg_error(lua: &Lua, n: usize, msg: &str) -> mlua::Error {
    let (name, what) = lua
        .inspect_stack(0, |d| {
            let names = d.names();
            (names.name.map(|s| s.into_owned()), names.name_what.map(|s| s.to_string()))
        })
        .unwrap_or((None, None));
    let mut n = n;
    if what.as_deref() == Some("method") {
        n = n.saturating_sub(1);
        if n == 0 {
            let name = name.as_deref().unwrap_or("?");
            return raise(lua, format!("calling '{name}' on bad self ({msg})"));
        }
    }
    let name = name.as_deref().unwrap_or("?");
    raise(lua, format!("bad argument #{n} to '{name}' ({msg})"))
}

/// Lua's type name of a value, as `luaL_typename` prints it.
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::LightUserData(_)) => "userdata",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(Value::UserData(_)) | Some(Value::Error(_)) => "userdata",
        Some(_) => "userdata",
    }
}

/// "bad argument #n to 'name' (T expected, got U)" (`luaL_typerror`).
pub(crate) fn type_error(lua: &Lua, n: usize, expected: &str, got: Option<&Value>) -> mlua::Error {
    arg_error(lua, n, &format!("{expected} expected, got {}", type_name(got)))
}

/// Finds the [`Raise`] inside an mlua error (callback errors wrap their cause).
pub(crate) fn find_raise(e: &mlua::Error) -> Option<&Raise> {
    match e {
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Raise>(),
        mlua::Error::CallbackError { cause, .. } => find_raise(cause),
        mlua::Error::WithContext { cause, .. } => find_raise(cause),
        _ => None,
    }
}

/// True when an mlua error is (or wraps) an out-of-memory error.
pub(crate) fn is_memory_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory_error(cause),
        mlua::Error::WithContext { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

/// The text of an mlua error that is not a [`Raise`] (Lua runtime errors keep their message).
pub(crate) fn plain_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(s) | mlua::Error::SyntaxError { message: s, .. } => s.clone(),
        mlua::Error::MemoryError(_) => "not enough memory".into(),
        mlua::Error::CallbackError { cause, .. } => plain_text(cause),
        mlua::Error::WithContext { cause, .. } => plain_text(cause),
        other => other.to_string(),
    }
}

/// Converts an error value caught in Lua into what Redis would have raised: mlua's wrapped
/// errors become the string or `{err=...}` table they stand for; Lua values pass through.
/// An [`Abort`] is re-raised so that no script can swallow it.
pub(crate) fn error_value(lua: &Lua, v: Value) -> mlua::Result<Value> {
    let Value::Error(e) = v else { return Ok(v) };
    if let Some(r) = find_raise(&e) {
        return match r {
            Raise::Str(s) => Ok(Value::String(lua.create_string(s)?)),
            Raise::Table(msg, ignore) => error_table(lua, msg, *ignore).map(Value::Table),
            Raise::Abort(a) => Err(Raise::Abort(*a).into()),
        };
    }
    Ok(Value::String(lua.create_string(plain_text(&e))?))
}

/// `{err = msg}` (plus `ignore_error_stats_update = true` when `ignore`), with the fields in
/// Redis's insertion order so that `pairs` walks them in the same order.
pub(crate) fn error_table(lua: &Lua, msg: &[u8], ignore: bool) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(msg)?)?;
    if ignore {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(t)
}
