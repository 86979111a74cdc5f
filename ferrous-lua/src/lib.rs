//! Redis-compatible Lua 5.1 scripting for Ferrous: EVAL/EVALSHA, SCRIPT, FUNCTION and FCALL
//! on [mlua](https://docs.rs/mlua), with Redis 7.0's semantics and error texts.
//!
//! ```
//! use ferrous_core::{Database, RespValue};
//! let db = Database::new();
//! ferrous_lua::install(&db);
//! db.set("greeting", "hello").unwrap();
//! let v = db.eval("return redis.call('GET', KEYS[1]) .. ' world'", &["greeting"], &[] as &[&str]);
//! assert_eq!(v, RespValue::bulk("hello world"));
//! ```
//!
//! Layout:
//! - [`engine`]: [`LuaEngine`], the [`ScriptEngine`](ferrous_core::scripting::ScriptEngine)
//!   core calls for EVAL, EVALSHA, FCALL, SCRIPT and FUNCTION; the script cache (by SHA1)
//!   and the function registry; running a script atomically with every shard held.
//! - `vm`: one sandboxed Lua state (EVAL scripts and FUNCTION libraries get one each, as in
//!   Redis), built by `sandbox.lua`: read-only library tables, protected globals, the
//!   `pcall`/`xpcall` wrappers, no `io`/`os`/`debug`/`package`/`print`/`loadfile`/`dofile`.
//! - `api`: `redis.call`/`pcall` and the rest of the `redis` table, `math.random` with Redis's
//!   deterministic generator, `loadstring`/`load` refusing bytecode.
//! - `convert`: Redis's RESP <-> Lua conversion rules (RESP2 and RESP3).
//! - `fast`: the hot path of those conversions on the Lua C API (common shapes only; the
//!   rest falls back to `convert`). `vm::trampoline` enters Lua the same way for EVALSHA and
//!   FCALL, reusing the KEYS/ARGV tables of EVAL.
//! - `run`: the run in progress (thread-local), the instruction hook behind BUSY, SCRIPT KILL,
//!   FUNCTION KILL and the instruction limit.
//! - `libs`: `cjson`, `cmsgpack`, `bit` and `struct`, ported from the C libraries Redis links.
//! - `functions`: library metadata, `redis.register_function`, FUNCTION DUMP/RESTORE payloads.
//! - `flags`: script flags and EVAL shebangs. `error`: Lua errors shaped like Redis's.
//!   `fmt`: C number formatting (`%.17g`) and casts.
#![warn(missing_docs)]

mod api;
mod args;
mod convert;
mod debugger;
pub mod engine;
mod error;
mod fast;
mod flags;
mod fmt;
mod functions;
mod libs;
mod run;
mod vm;

pub use engine::{EngineConfig, LuaEngine};
pub use flags::ScriptFlags;

use ferrous_core::Database;
use std::sync::Arc;

/// Severity of a `redis.log` message (the values of `redis.LOG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `redis.LOG_DEBUG`.
    Debug = 0,
    /// `redis.LOG_VERBOSE`.
    Verbose = 1,
    /// `redis.LOG_NOTICE`.
    Notice = 2,
    /// `redis.LOG_WARNING`.
    Warning = 3,
}

impl LogLevel {
    fn from_number(n: i64) -> Option<LogLevel> {
        Some(match n {
            0 => LogLevel::Debug,
            1 => LogLevel::Verbose,
            2 => LogLevel::Notice,
            3 => LogLevel::Warning,
            _ => return None,
        })
    }

    /// The level named by the `loglevel` directive (`debug`, `verbose`, `notice`, `warning`).
    pub fn from_name(name: &str) -> LogLevel {
        match name {
            "debug" => LogLevel::Debug,
            "verbose" => LogLevel::Verbose,
            "warning" => LogLevel::Warning,
            _ => LogLevel::Notice,
        }
    }
}

/// Where `redis.log` messages go (the server installs its logger; the default writes to
/// standard error). Messages below the `loglevel` directive are filtered before.
pub type LogSink = Arc<dyn Fn(LogLevel, &[u8]) + Send + Sync>;

/// The default log sink: one line on standard error, marked like Redis's log levels.
pub fn stderr_log_sink() -> LogSink {
    Arc::new(|level, msg| {
        let mark = match level {
            LogLevel::Debug => '.',
            LogLevel::Verbose => '-',
            LogLevel::Notice => '*',
            LogLevel::Warning => '#',
        };
        eprintln!("{mark} {}", String::from_utf8_lossy(msg));
    })
}

/// Lower-case hex SHA1 of `data` (script ids, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

/// Creates a Lua engine with the default limits (50 MB of Lua memory, no instruction
/// limit) and installs it in `db`, so that EVAL, FCALL, SCRIPT, FUNCTION and
/// [`Database::eval`] work. Returns the engine (for its statistics and settings).
///
/// # Panics
/// If the Lua states cannot be created (only when the process is out of memory).
pub fn install(db: &Database) -> Arc<LuaEngine> {
    install_with(db, EngineConfig::default())
}

/// [`install`] with explicit limits.
///
/// # Panics
/// If the Lua states cannot be created (only when the process is out of memory).
pub fn install_with(db: &Database, config: EngineConfig) -> Arc<LuaEngine> {
    install_engine(db, LuaEngine::new(config).expect("cannot create the Lua scripting engine"))
}

/// Installs an engine built with [`LuaEngine::with_log_sink`] (the server passes its logger
/// so that `redis.log` lines land in its log).
pub fn install_engine(db: &Database, engine: LuaEngine) -> Arc<LuaEngine> {
    let engine = Arc::new(engine);
    db.set_script_engine(engine.clone());
    engine
}
