//! The functions scripts call that are written in Rust: the `redis` table, `math.random`,
//! and the base functions the sandbox replaces (`getmetatable`, `setmetatable`, `rawset`,
//! `loadstring`, `load`, `collectgarbage`).
use crate::convert::reply_to_lua;
use crate::error::{arg_error, error_table, error_table_text, raise, raise_table, type_error, Raise};
use crate::fast;
use crate::fmt::{c_f64_to_i64, number_arg};
use crate::run::{with_active, RunKind};
use crate::LogLevel;
use ferrous_core::commands::flags;
use ferrous_core::scripting::command_spec;
use mlua::ffi;
use mlua::{Lua, MultiValue, Table, Value, Variadic};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::ffi::c_int;
use std::sync::Arc;

/// The version scripts see (`redis.REDIS_VERSION`, `redis.REDIS_VERSION_NUM`).
pub(crate) const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: i64 = 0x07_00_0f;

/// State shared by every Lua state of an engine.
#[derive(Clone)]
pub(crate) struct Common {
    /// `redisLrand48`'s state (one per process in Redis; one per engine here).
    pub(crate) rng: Arc<Mutex<u64>>,
    /// Where `redis.log` writes.
    pub(crate) log: crate::LogSink,
}

/// Initial `redisLrand48` state (`x0 = 0x330E, x1 = 0xABCD, x2 = 0x1234`, never seeded).
pub(crate) const RNG_INIT: u64 = 0x1234_ABCD_330E;

fn lrand48(state: &mut u64) -> u32 {
    *state = state.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & ((1u64 << 48) - 1);
    (*state >> 17) as u32
}

// ---------------------------------------------------------------------------------------
// redis.call / redis.pcall

/// Converts the arguments of `redis.acl_check_cmd` into an argv, or Redis's error text.
fn build_args(args: &[Value], out: &mut ferrous_resp::ArgsBuf) -> Result<(), &'static str> {
    out.clear();
    if args.is_empty() {
        return Err(NO_ARGS);
    }
    for v in args.iter() {
        match v {
            Value::String(s) => {
                out.push(&*s.as_bytes());
            }
            Value::Integer(i) => {
                out.push(number_arg(*i as f64));
            }
            Value::Number(n) => {
                out.push(number_arg(*n));
            }
            _ => return Err(BAD_ARGS),
        }
    }
    Ok(())
}

const NO_ARGS: &str = "Please specify at least one argument for this redis lib call";
const BAD_ARGS: &str = "Lua redis lib command arguments must be strings or integers";

/// Where the C entry points of `redis.call`/`redis.pcall` find the Rust implementation.
const CALL_IMPL_KEY: &std::ffi::CStr = c"ferrous.redis_call";

thread_local! {
    /// The argv of the `redis.call` in progress, copied off the Lua stack by [`call_shim`].
    static CALL_ARGS: RefCell<ferrous_resp::ArgsBuf> = RefCell::new(ferrous_resp::ArgsBuf::new());
    /// The outcome of the `redis.call` in progress, when [`redis_call_impl`] delivers it.
    static PENDING: RefCell<Option<CallOutcome>> = const { RefCell::new(None) };
}

/// The C entry point of `redis.call` (`raise`) and `redis.pcall`.
///
/// mlua hands a Rust function its arguments as Lua references, and Lua 5.1 allows fewer than
/// 8000 of them at once, while `redis.call('SADD', key, unpack(members))` may pass 7999
/// arguments. So this plain C function copies the strings and numbers off the stack itself
/// and runs the command ([`execute_call`]). A reply of a common shape is converted straight
/// onto the stack ([`fast::push_reply`]); anything else (errors, RESP3 types, refusals) is
/// delivered by the Rust implementation ([`redis_call_impl`]), called through mlua.
///
/// # Safety
/// Called by Lua with a valid state. Nothing with a destructor is alive when a Lua call may
/// raise (errors unwind with longjmp).
unsafe fn call_shim(state: *mut ffi::lua_State, raise: bool) -> c_int {
    // SAFETY (for the calls below): `state` is the running Lua state; indices are within
    // `lua_gettop`; `lua_tolstring` is only used on strings (no conversion, no allocation).
    let n = unsafe { ffi::lua_gettop(state) };
    let code: ffi::lua_Integer = CALL_ARGS.with(|c| {
        let Ok(mut argv) = c.try_borrow_mut() else { return 3 };
        argv.clear();
        if n == 0 {
            return 1;
        }
        for i in 1..=n {
            match unsafe { ffi::lua_type(state, i) } {
                ffi::LUA_TNUMBER => {
                    let d = unsafe { ffi::lua_tonumber(state, i) };
                    argv.push(number_arg(d));
                }
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let p = unsafe { ffi::lua_tolstring(state, i, &mut len) };
                    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, len) };
                    argv.push(bytes);
                }
                _ => return 2,
            }
        }
        0
    });
    let next = execute_call(raise, code);
    unsafe {
        ffi::lua_settop(state, 0);
        if let Next::Fast(p, len) = next {
            // The reply stays in the run's buffer until the next `redis.call`, which cannot
            // start before this conversion ends (scripts cannot run code from inside the
            // garbage collector: no userdata finalizers are reachable from the sandbox).
            if fast::push_reply(state, std::slice::from_raw_parts(p, len)) {
                return 1;
            }
            stash_run_reply();
        }
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, CALL_IMPL_KEY.as_ptr());
        ffi::lua_pushboolean(state, raise as c_int);
        ffi::lua_call(state, 1, 1);
    }
    1
}

unsafe extern "C-unwind" fn redis_call_c(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its running state.
    unsafe { call_shim(state, true) }
}

unsafe extern "C-unwind" fn redis_pcall_c(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its running state.
    unsafe { call_shim(state, false) }
}

/// Registers the Rust side of `redis.call` in `lua`'s registry and returns the two C entry
/// points (`redis.call`, `redis.pcall`).
pub(crate) fn call_functions(lua: &Lua) -> mlua::Result<(mlua::Function, mlua::Function)> {
    let imp = lua.create_function(|lua, raise: bool| redis_call_impl(lua, raise))?;
    lua.set_named_registry_value(CALL_IMPL_KEY.to_str().unwrap_or("ferrous.redis_call"), imp)?;
    // SAFETY: the shims only use the Lua C API as documented above.
    unsafe { Ok((lua.create_c_function(redis_call_c)?, lua.create_c_function(redis_pcall_c)?)) }
}

/// The command an argv names, with Redis's script-side checks (`scriptCall`).
fn check_command(
    args: &ferrous_resp::Args<'_>,
    read_only: bool,
) -> Result<&'static ferrous_core::commands::CommandSpec, &'static str> {
    let Some(mut spec) = command_spec(args.at(0)) else {
        return Err("Unknown Redis command called from script");
    };
    if !spec.subcommands.is_empty() && args.len() >= 2 {
        let mut sub = args.at(1).to_vec();
        sub.make_ascii_lowercase();
        match spec.subcommands.get(&sub) {
            Some(s) => spec = s,
            None => return Err("Unknown Redis command called from script"),
        }
    }
    if !spec.arity_ok(args.len()) || spec.handler.is_none() {
        return Err("Wrong number of args calling Redis command from script");
    }
    if spec.has(flags::NOSCRIPT) {
        return Err("This Redis command is not allowed from script");
    }
    if spec.has(flags::WRITE) && read_only {
        return Err("Write commands are not allowed from read-only scripts.");
    }
    Ok(spec)
}

enum CallOutcome {
    /// The reply bytes (taken out of the run's buffer).
    Reply(Vec<u8>),
    /// An error raised before the command ran (`ignore_error_stats_update` flag).
    Refused(&'static str, bool),
    Abort(Raise),
}

/// What [`call_shim`] does after running the command.
#[derive(Clone, Copy)]
enum Next {
    /// Convert the reply held in the run's buffer (address, length) on the fast path.
    Fast(*const u8, usize),
    /// Call [`redis_call_impl`], which takes the outcome from `PENDING`.
    General,
}

const NOT_IN_SCRIPT: &str = "redis.call/pcall can only be called inside a script invocation";

/// Runs the command of a `redis.call` (argv in `CALL_ARGS`, `code` from the shim's copy).
fn execute_call(raise: bool, code: i64) -> Next {
    let argv = CALL_ARGS.with(|c| c.try_borrow_mut().map(|mut a| std::mem::take(&mut *a)).unwrap_or_default());
    // `Ok`: the reply is in the run's buffer, for the fast path; `Err`: the general path.
    let outcome = with_active(|run| {
        let Some(run) = run else { return Err(CallOutcome::Refused(NOT_IN_SCRIPT, false)) };
        if run.kind == RunKind::Load {
            return Err(CallOutcome::Refused(NOT_IN_SCRIPT, false));
        }
        // The Lua debugger logs the command, its reply and its errors while stepping.
        let debugging = crate::debugger::logging();
        let refused = |msg: &'static str, counted: bool| {
            if debugging {
                crate::debugger::log_error(msg.as_bytes());
            }
            CallOutcome::Refused(msg, counted)
        };
        match code {
            0 => {}
            1 => return Err(refused(NO_ARGS, false)),
            2 => return Err(refused(BAD_ARGS, false)),
            _ => return Err(CallOutcome::Refused(NOT_IN_SCRIPT, false)),
        }
        if debugging {
            crate::debugger::log_command(&argv.as_args());
        }
        let spec = check_command(&argv.as_args(), run.read_only).map_err(|msg| refused(msg, true))?;
        if spec.has(flags::WRITE) && !run.shared.mark_write() {
            // SCRIPT KILL won the race: stop before the write happens.
            run.aborted = Some(crate::error::Abort::Killed);
            return Err(CallOutcome::Abort(Raise::Abort(crate::error::Abort::Killed)));
        }
        let mut reply = std::mem::take(&mut run.reply);
        reply.clear();
        let Some(r) = run.runner() else { return Err(CallOutcome::Refused(NOT_IN_SCRIPT, false)) };
        r.call_resolved(Some(spec), argv.as_args(), &mut reply);
        if debugging {
            let end = reply.windows(2).position(|w| w == b"\r\n").unwrap_or(reply.len());
            // Redis refuses a script's command for its ACL before running it: an error
            // without a reply in the log.
            if let Some(acl) =
                reply[..end].strip_prefix(b"-ERR ").filter(|t| t.starts_with(b"The user executing the script "))
            {
                crate::debugger::log_error(acl);
            } else {
                if reply.first() == Some(&b'-') {
                    crate::debugger::log_error(&reply[..end]);
                }
                crate::debugger::log_reply(&reply);
            }
        }
        if raise && reply.first() == Some(&b'-') {
            return Err(CallOutcome::Reply(reply));
        }
        run.reply = reply;
        Ok(Next::Fast(run.reply.as_ptr(), run.reply.len()))
    });
    CALL_ARGS.with(|c| {
        if let Ok(mut a) = c.try_borrow_mut() {
            *a = argv;
        }
    });
    outcome.unwrap_or_else(|o| {
        PENDING.with(|p| *p.borrow_mut() = Some(o));
        Next::General
    })
}

/// Moves the run's reply buffer to `PENDING`, for the general conversion.
fn stash_run_reply() {
    let reply = with_active(|run| run.map(|r| std::mem::take(&mut r.reply)).unwrap_or_default());
    PENDING.with(|p| *p.borrow_mut() = Some(CallOutcome::Reply(reply)));
}

/// Delivers the outcome of a `redis.call` that the shim did not convert itself: raises or
/// returns the error table, or converts the reply.
fn redis_call_impl(lua: &Lua, raise_errors: bool) -> mlua::Result<Value> {
    let outcome = PENDING.with(|p| p.borrow_mut().take()).unwrap_or(CallOutcome::Refused(NOT_IN_SCRIPT, false));
    let fail = |msg: &str, ignore: bool| -> mlua::Result<Value> {
        let text = error_table_text(msg.as_bytes());
        if raise_errors {
            Err(Raise::Table(text, ignore).into())
        } else {
            Ok(Value::Table(error_table(lua, &text, ignore)?))
        }
    };
    match outcome {
        CallOutcome::Refused(msg, ignore) => fail(msg, ignore),
        CallOutcome::Abort(r) => Err(r.into()),
        CallOutcome::Reply(reply) => {
            let converted = reply_to_lua(lua, &reply);
            let is_error = reply.first() == Some(&b'-');
            let error_text = if is_error && raise_errors {
                let end = reply.windows(2).position(|w| w == b"\r\n").unwrap_or(reply.len());
                Some(error_table_text(&reply[..end]))
            } else {
                None
            };
            with_active(|run| {
                if let Some(run) = run {
                    run.reply = reply;
                }
            });
            if let Some(text) = error_text {
                return Err(Raise::Table(text, true).into());
            }
            Ok(converted?.0)
        }
    }
}

// ---------------------------------------------------------------------------------------
// The rest of the redis table

fn number_of(lua: &Lua, v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(_) => lua.coerce_number(v.clone()).ok().flatten(),
        _ => None,
    }
}

fn redis_log(lua: &Lua, args: Variadic<Value>, common: &Common) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(raise_table("redis.log() requires two arguments or more."));
    }
    let Some(level) = number_of(lua, &args[0]) else {
        return Err(raise_table("First argument must be a number (log level)."));
    };
    let level = c_f64_to_i64(level);
    let Some(level) = LogLevel::from_number(level) else {
        return Err(raise_table("Invalid debug level."));
    };
    let verbosity = with_active(|run| {
        run.and_then(|r| r.runner())
            .and_then(|r| r.database().inner().config.read().get("loglevel").map(LogLevel::from_name))
    })
    .unwrap_or(LogLevel::Notice);
    if level < verbosity {
        return Ok(());
    }
    let mut msg: Vec<u8> = Vec::new();
    for (j, v) in args.iter().skip(1).enumerate() {
        let s = match v {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Integer(_) | Value::Number(_) => lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()),
            _ => None,
        };
        if let Some(s) = s {
            if j != 0 {
                msg.push(b' ');
            }
            msg.extend_from_slice(&s);
        }
    }
    (common.log)(level, &msg);
    Ok(())
}

fn sha1hex(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Value> {
    if args.len() != 1 {
        return Err(raise_table("wrong number of arguments"));
    }
    let bytes = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        v @ (Value::Integer(_) | Value::Number(_)) => {
            lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    Ok(Value::String(lua.create_string(crate::sha1_hex(&bytes))?))
}

fn single_field(lua: &Lua, args: Variadic<Value>, field: &str) -> mlua::Result<Value> {
    let bad = || -> mlua::Result<Value> {
        if crate::debugger::logging() {
            crate::debugger::log_error(b"wrong number or type of arguments");
        }
        Ok(Value::Table(error_table(lua, b"ERR wrong number or type of arguments", false)?))
    };
    if args.len() != 1 {
        return bad();
    }
    let Value::String(s) = &args[0] else { return bad() };
    if field == "err" {
        let mut text = s.as_bytes().to_vec();
        if text.first() != Some(&b'-') {
            text.insert(0, b'-');
        }
        if crate::debugger::logging() {
            crate::debugger::log_error(&text);
        }
        return Ok(Value::Table(error_table(lua, &error_table_text(&text), false)?));
    }
    let t = lua.create_table()?;
    t.raw_set(field, s.clone())?;
    Ok(Value::Table(t))
}

fn setresp(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(raise_table("redis.setresp() requires one argument."));
    }
    let n = number_of(lua, &args[0]).map(c_f64_to_i64).unwrap_or(0);
    if n != 2 && n != 3 {
        return Err(raise_table("RESP version must be 2 or 3."));
    }
    let ok = with_active(|run| match run.and_then(|r| r.runner()) {
        Some(r) => {
            r.client.resp = n as u8;
            true
        }
        None => false,
    });
    if !ok {
        return Err(raise_table("redis.setresp can only be called inside a script invocation"));
    }
    Ok(())
}

fn set_repl(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(raise_table("redis.set_repl() requires two arguments."));
    }
    let n = number_of(lua, &args[0]).map(c_f64_to_i64).unwrap_or(0);
    if n & !3 != 0 {
        return Err(raise_table("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."));
    }
    Ok(())
}

fn acl_check_cmd(args: Variadic<Value>) -> mlua::Result<bool> {
    let mut argv = ferrous_resp::ArgsBuf::new();
    build_args(&args, &mut argv).map_err(raise_table)?;
    let a = argv.as_args();
    let Some(spec) = command_spec(a.at(0)) else {
        return Err(raise_table("Invalid command passed to redis.acl_check_cmd()"));
    };
    if !spec.subcommands.is_empty() && a.len() >= 2 {
        let mut sub = a.at(1).to_vec();
        sub.make_ascii_lowercase();
        if !spec.subcommands.contains_key(&sub) {
            return Err(raise_table("Invalid command passed to redis.acl_check_cmd()"));
        }
    }
    // Whether the user the script runs as (its caller's) may run it.
    Ok(ferrous_core::acl::script_may_run(&a))
}

fn set_log_fields(t: &Table) -> mlua::Result<()> {
    t.raw_set("LOG_DEBUG", 0)?;
    t.raw_set("LOG_VERBOSE", 1)?;
    t.raw_set("LOG_NOTICE", 2)?;
    t.raw_set("LOG_WARNING", 3)?;
    Ok(())
}

fn set_version_fields(t: &Table) -> mlua::Result<()> {
    t.raw_set("REDIS_VERSION_NUM", REDIS_VERSION_NUM)?;
    t.raw_set("REDIS_VERSION", REDIS_VERSION)?;
    Ok(())
}

/// The `redis.log` function.
pub(crate) fn log_function(lua: &Lua, common: &Common) -> mlua::Result<mlua::Function> {
    let c = common.clone();
    lua.create_function(move |lua, a: Variadic<Value>| redis_log(lua, a, &c))
}

/// The `redis` table scripts and functions run with (`eval` adds the debugger no-ops and
/// `replicate_commands`).
pub(crate) fn redis_table(lua: &Lua, common: &Common, eval: bool) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let (call, pcall) = call_functions(lua)?;
    t.raw_set("call", call)?;
    t.raw_set("pcall", pcall)?;
    t.raw_set("log", log_function(lua, common)?)?;
    set_log_fields(&t)?;
    set_version_fields(&t)?;
    t.raw_set("setresp", lua.create_function(setresp)?)?;
    t.raw_set("sha1hex", lua.create_function(sha1hex)?)?;
    t.raw_set("error_reply", lua.create_function(|lua, a: Variadic<Value>| single_field(lua, a, "err"))?)?;
    t.raw_set("status_reply", lua.create_function(|lua, a: Variadic<Value>| single_field(lua, a, "ok"))?)?;
    t.raw_set("set_repl", lua.create_function(set_repl)?)?;
    t.raw_set("REPL_NONE", 0)?;
    t.raw_set("REPL_AOF", 1)?;
    t.raw_set("REPL_SLAVE", 2)?;
    t.raw_set("REPL_REPLICA", 2)?;
    t.raw_set("REPL_ALL", 3)?;
    t.raw_set("acl_check_cmd", lua.create_function(|_, a: Variadic<Value>| acl_check_cmd(a))?)?;
    if eval {
        t.raw_set("breakpoint", lua.create_function(|_, _: MultiValue| Ok(crate::debugger::breakpoint_call()))?)?;
        t.raw_set(
            "debug",
            lua.create_function(|_, args: MultiValue| {
                crate::debugger::debug_call(&args.into_iter().collect::<Vec<_>>());
                Ok(())
            })?,
        )?;
        t.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    }
    Ok(t)
}

/// The `redis` table a library's body sees during FUNCTION LOAD.
pub(crate) fn load_redis_table(
    lua: &Lua,
    common: &Common,
    store: &crate::functions::FunctionStore,
) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let store = store.clone();
    t.raw_set(
        "register_function",
        lua.create_function(move |lua, a: Variadic<Value>| crate::functions::register_function(lua, a, &store))?,
    )?;
    t.raw_set("log", log_function(lua, common)?)?;
    set_log_fields(&t)?;
    set_version_fields(&t)?;
    Ok(t)
}

// ---------------------------------------------------------------------------------------
// math.random / math.randomseed

fn check_int(lua: &Lua, args: &[Value], i: usize) -> mlua::Result<i32> {
    let v = args.get(i);
    let n = match v {
        Some(Value::Integer(n)) => *n as f64,
        Some(Value::Number(n)) => *n,
        Some(s @ Value::String(_)) => match lua.coerce_number(s.clone())? {
            Some(n) => n,
            None => return Err(type_error(lua, i + 1, "number", v)),
        },
        _ => return Err(type_error(lua, i + 1, "number", v)),
    };
    Ok(c_f64_to_i64(n) as i32)
}

/// `math.random` with Redis's deterministic `redisLrand48`.
pub(crate) fn random_function(lua: &Lua, common: &Common) -> mlua::Result<mlua::Function> {
    let rng = common.rng.clone();
    lua.create_function(move |lua, a: Variadic<Value>| {
        let r = {
            let mut s = rng.lock();
            (lrand48(&mut s) % 0x7fff_ffff) as f64 / 0x7fff_ffff as f64
        };
        Ok(match a.len() {
            0 => r,
            1 => {
                let u = check_int(lua, &a, 0)?;
                if u < 1 {
                    return Err(arg_error(lua, 1, "interval is empty"));
                }
                (r * u as f64).floor() + 1.0
            }
            2 => {
                let l = check_int(lua, &a, 0)?;
                let u = check_int(lua, &a, 1)?;
                if l > u {
                    return Err(arg_error(lua, 2, "interval is empty"));
                }
                (r * (u as f64 - l as f64 + 1.0)).floor() + l as f64
            }
            _ => return Err(raise(lua, "wrong number of arguments")),
        })
    })
}

/// `math.randomseed`.
pub(crate) fn randomseed_function(lua: &Lua, common: &Common) -> mlua::Result<mlua::Function> {
    let rng = common.rng.clone();
    lua.create_function(move |lua, a: Variadic<Value>| {
        let seed = check_int(lua, &a, 0)?;
        *rng.lock() = ((seed as u32 as u64) << 16) | 0x330E;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------
// Base functions the sandbox replaces

/// `getmetatable`: library proxies have none, the globals' proxy a read-only view of the
/// globals' metatable (`views`, as Redis's `getmetatable(_G)`); strings get a read-only
/// view of theirs.
pub(crate) fn getmetatable_function(
    lua: &Lua,
    readonly: Table,
    string_mt: Table,
    views: Table,
) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let Some(v) = a.first() else {
            return Err(arg_error(lua, 1, "value expected"));
        };
        Ok(match v {
            Value::Table(t) => {
                if readonly.raw_get::<Value>(t.clone())? != Value::Nil {
                    return views.raw_get(t.clone());
                }
                match t.metatable() {
                    None => Value::Nil,
                    Some(mt) => match mt.raw_get::<Value>("__metatable")? {
                        Value::Nil => Value::Table(mt),
                        protected => protected,
                    },
                }
            }
            Value::String(_) => Value::Table(string_mt.clone()),
            _ => Value::Nil,
        })
    })
}

/// `setmetatable`, refusing read-only tables like Redis's patched VM.
pub(crate) fn setmetatable_function(lua: &Lua, readonly: Table) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let t = match a.first() {
            Some(Value::Table(t)) => t.clone(),
            v => return Err(type_error(lua, 1, "table", v)),
        };
        let mt = match a.get(1) {
            Some(Value::Nil) => None,
            Some(Value::Table(mt)) => Some(mt.clone()),
            _ => return Err(arg_error(lua, 2, "nil or table expected")),
        };
        if readonly.raw_get::<Value>(t.clone())? != Value::Nil {
            return Err(Raise::Str(b"Attempt to modify a readonly table".to_vec()).into());
        }
        if let Some(cur) = t.metatable() {
            if cur.raw_get::<Value>("__metatable")? != Value::Nil {
                return Err(raise(lua, "cannot change a protected metatable"));
            }
        }
        t.set_metatable(mt)?;
        Ok(t)
    })
}

/// `rawset`, refusing read-only tables.
pub(crate) fn rawset_function(lua: &Lua, readonly: Table) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let t = match a.first() {
            Some(Value::Table(t)) => t.clone(),
            v => return Err(type_error(lua, 1, "table", v)),
        };
        if a.len() < 2 {
            return Err(arg_error(lua, 2, "value expected"));
        }
        if a.len() < 3 {
            return Err(arg_error(lua, 3, "value expected"));
        }
        if readonly.raw_get::<Value>(t.clone())? != Value::Nil {
            return Err(Raise::Str(b"Attempt to modify a readonly table".to_vec()).into());
        }
        match &a[1] {
            Value::Nil => return Err(Raise::Str(b"table index is nil".to_vec()).into()),
            Value::Number(n) if n.is_nan() => return Err(Raise::Str(b"table index is NaN".to_vec()).into()),
            _ => {}
        }
        t.raw_set(a[1].clone(), a[2].clone())?;
        Ok(t)
    })
}

/// `rawget`: a read-only proxy reads the table behind it (Redis's read-only tables are the
/// tables themselves, their contents visible to `rawget`).
pub(crate) fn rawget_function(lua: &Lua, readonly: Table) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let t = match a.first() {
            Some(Value::Table(t)) => t.clone(),
            v => return Err(type_error(lua, 1, "table", v)),
        };
        if a.len() < 2 {
            return Err(arg_error(lua, 2, "value expected"));
        }
        let target = match readonly.raw_get::<Value>(t.clone())? {
            Value::Table(real) => real,
            _ => t,
        };
        target.raw_get::<Value>(a[1].clone())
    })
}

/// `next`: a read-only proxy walks the table behind it, like [`pairs_function`].
pub(crate) fn next_function(lua: &Lua, readonly: Table, next: mlua::Function) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let t = match a.first() {
            Some(Value::Table(t)) => t.clone(),
            v => return Err(type_error(lua, 1, "table", v)),
        };
        let target = match readonly.raw_get::<Value>(t.clone())? {
            Value::Table(real) => real,
            _ => t,
        };
        next.call::<mlua::MultiValue>((target, a.get(1).cloned().unwrap_or(Value::Nil)))
    })
}

/// `pairs`: a read-only proxy iterates the table behind it (Redis's library tables are
/// plain tables, and scripts may walk them).
pub(crate) fn pairs_function(lua: &Lua, readonly: Table, next: mlua::Function) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let t = match a.first() {
            Some(Value::Table(t)) => t.clone(),
            v => return Err(type_error(lua, 1, "table", v)),
        };
        let target = match readonly.raw_get::<Value>(t.clone())? {
            Value::Table(real) => real,
            _ => t,
        };
        Ok((next.clone(), target, Value::Nil))
    })
}

/// Lua's `luaO_chunkid` for a `[string "..."]` chunk name (what syntax errors start with).
fn chunk_id(name: &[u8]) -> String {
    let name = name.iter().position(|&c| c == 0).map_or(name, |i| &name[..i]);
    const IDSIZE: usize = 60;
    if let Some(rest) = name.strip_prefix(b"=") {
        let n = rest.len().min(IDSIZE - 1);
        return String::from_utf8_lossy(&rest[..n]).into_owned();
    }
    if let Some(rest) = name.strip_prefix(b"@") {
        let budget = IDSIZE - 1;
        if rest.len() > budget {
            let keep = budget - 3;
            return format!("...{}", String::from_utf8_lossy(&rest[rest.len() - keep..]));
        }
        return String::from_utf8_lossy(rest).into_owned();
    }
    let line_len = name.iter().position(|&c| c == b'\n' || c == b'\r').unwrap_or(name.len());
    let budget = IDSIZE - 17;
    let len = line_len.min(budget);
    if len < name.len() {
        format!("[string \"{}...\"]", String::from_utf8_lossy(&name[..len]))
    } else {
        format!("[string \"{}\"]", String::from_utf8_lossy(name))
    }
}

/// Compiles `code` as a text chunk named `name` in the scripts' globals. Precompiled
/// bytecode is refused the way Redis's patched loader does: parsed as text.
pub(crate) fn compile_text(lua: &Lua, code: &[u8], name: &[u8], env: &Table) -> Result<mlua::Function, String> {
    if code.first() == Some(&0x1b) {
        return Err(format!("{}:1: unexpected symbol near 'char(27)'", chunk_id(name)));
    }
    let name = name.iter().position(|&c| c == 0).map_or(name, |i| &name[..i]);
    lua.load(code)
        .set_name(String::from_utf8_lossy(name).into_owned())
        .set_mode(mlua::ChunkMode::Text)
        .set_environment(env.clone())
        .into_function()
        .map_err(|e| crate::error::plain_text(&e))
}

fn string_arg(lua: &Lua, a: &[Value], i: usize) -> mlua::Result<Vec<u8>> {
    match a.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()).unwrap_or_default())
        }
        v => Err(type_error(lua, i + 1, "string", v)),
    }
}

/// `loadstring(s [, chunkname])`.
pub(crate) fn loadstring_function(lua: &Lua, env: Table) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let code = string_arg(lua, &a, 0)?;
        let name = match a.get(1) {
            None | Some(Value::Nil) => code.clone(),
            Some(_) => string_arg(lua, &a, 1)?,
        };
        Ok(match compile_text(lua, &code, &name, &env) {
            Ok(f) => (Value::Function(f), Value::Nil),
            Err(msg) => (Value::Nil, Value::String(lua.create_string(msg)?)),
        })
    })
}

/// `load(reader [, chunkname])`.
pub(crate) fn load_function(lua: &Lua, env: Table) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let reader = match a.first() {
            Some(Value::Function(f)) => f.clone(),
            v => return Err(type_error(lua, 1, "function", v)),
        };
        let name = match a.get(1) {
            None | Some(Value::Nil) => b"=(load)".to_vec(),
            Some(_) => string_arg(lua, &a, 1)?,
        };
        let mut code = Vec::new();
        loop {
            match reader.call::<Value>(())? {
                Value::Nil => break,
                Value::String(s) => {
                    if s.as_bytes().is_empty() {
                        break;
                    }
                    code.extend_from_slice(&s.as_bytes());
                }
                _ => {
                    let msg = lua.create_string("reader function must return a string")?;
                    return Ok((Value::Nil, Value::String(msg)));
                }
            }
        }
        Ok(match compile_text(lua, &code, &name, &env) {
            Ok(f) => (Value::Function(f), Value::Nil),
            Err(msg) => (Value::Nil, Value::String(lua.create_string(msg)?)),
        })
    })
}

/// `collectgarbage`: the options that would leave the collector off for every later script
/// ("stop", a huge "setpause") are ignored; the others behave as in Lua.
pub(crate) fn collectgarbage_function(lua: &Lua, original: mlua::Function) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, a: Variadic<Value>| {
        let opt = match a.first() {
            None | Some(Value::Nil) => b"collect".to_vec(),
            Some(_) => string_arg(lua, &a, 0)?,
        };
        match opt.as_slice() {
            b"stop" => Ok(MultiValue::from_iter([Value::Integer(0)])),
            b"setpause" | b"setstepmul" => Ok(MultiValue::from_iter([Value::Integer(200)])),
            _ => original.call::<MultiValue>(MultiValue::from_iter(a.iter().cloned())),
        }
    })
}
