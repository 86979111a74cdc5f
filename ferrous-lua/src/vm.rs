//! One sandboxed Lua state: for EVAL scripts or for FUNCTION libraries (Redis keeps the two
//! apart as well). Created once with every library and `redis.*` function registered, the
//! instruction hook and the memory limit; scripts then only compile and run in it.
use crate::api::{self, Common};
use crate::convert::ReplyProto;
use crate::error::{error_value, find_raise, raise, Raise};
use crate::fast;
use crate::run::{with_active, HOOK_EVERY};
use ferrous_resp::Args;
use mlua::{ffi, Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use std::ffi::c_int;

/// Which kind of code a state runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum VmKind {
    Eval,
    Functions,
}

/// A sandboxed Lua state and the handles the engine needs into it.
pub(crate) struct Vm {
    pub(crate) lua: Lua,
    /// The scripts' globals behind the read-only proxy (KEYS and ARGV are set here).
    pub(crate) globals: Table,
    /// The proxy scripts see as their globals.
    pub(crate) env: Table,
    /// The proxy's metatable: its `__index` switches to the load-time globals during
    /// FUNCTION LOAD.
    env_mt: Table,
    load_globals: Option<Table>,
    /// What the direct calls of [`Vm::run`] reach (see [`anchor`]).
    anchors: Table,
    raw: RawState,
    load_library: Function,
    /// Memory limit of the state in bytes (0: none).
    pub(crate) memory_limit: usize,
    /// Compiled scripts and registered functions.
    pub(crate) store: crate::functions::FunctionStore,
}

const SANDBOX: &str = include_str!("sandbox.lua");
/// Chunk name of the sandbox's own code (its frames are skipped in error positions).
const SANDBOX_NAME: &str = "=sandbox";

/// Reference slots reserved up front (far more than the engine ever holds at once).
const SPARE_REFS: usize = 2048;

impl Vm {
    /// Creates and sandboxes a state.
    pub(crate) fn new(kind: VmKind, common: &Common, memory_limit: usize) -> mlua::Result<Vm> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default())?;
        let base = lua.globals();
        let h = lua.create_table()?;
        let readonly = lua.create_table()?;
        let env = lua.create_table()?;
        let string_mt = lua.create_table()?;
        h.raw_set("readonly", readonly.clone())?;
        h.raw_set("fix", lua.create_function(|lua, v: Value| error_value(lua, v))?)?;
        h.raw_set(
            "check_abort",
            lua.create_function(|_, ()| {
                with_active(|a| match a {
                    Some(a) => a.check_abort().map_err(mlua::Error::from),
                    None => Ok(()),
                })
            })?,
        )?;
        h.raw_set(
            "newindex_ro",
            lua.create_function(|lua, _: mlua::MultiValue| -> mlua::Result<()> {
                Err(raise(lua, "Attempt to modify a readonly table"))
            })?,
        )?;
        h.raw_set(
            "missing_global",
            lua.create_function(|lua, (_, k): (Value, Value)| -> mlua::Result<()> {
                let name = match &k {
                    Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                    Value::Integer(_) | Value::Number(_) => {
                        lua.coerce_string(k.clone())?.map(|s| s.to_string_lossy()).unwrap_or_default()
                    }
                    _ => {
                        return Err(raise(lua, "Second argument to luaProtectedTableError must be a string or number"))
                    }
                };
                Err(raise(lua, format!("Script attempted to access nonexistent global variable '{name}'")))
            })?,
        )?;
        let tostring: Function = base.raw_get("tostring")?;
        let ro = readonly.clone();
        h.raw_set("handler", lua.create_function(move |lua, v: Value| error_handler(lua, v, &tostring, &ro))?)?;
        let collect: Function = base.raw_get("collectgarbage")?;
        h.raw_set("collectgarbage", api::collectgarbage_function(&lua, collect)?)?;
        let views = lua.create_table()?;
        h.raw_set("metatable_views", views.clone())?;
        h.raw_set("getmetatable", api::getmetatable_function(&lua, readonly.clone(), string_mt.clone(), views)?)?;
        h.raw_set("rawget", api::rawget_function(&lua, readonly.clone())?)?;
        h.raw_set("setmetatable", api::setmetatable_function(&lua, readonly.clone())?)?;
        h.raw_set("rawset", api::rawset_function(&lua, readonly.clone())?)?;
        let next: Function = base.raw_get("next")?;
        h.raw_set("pairs", api::pairs_function(&lua, readonly.clone(), next.clone())?)?;
        h.raw_set("next", api::next_function(&lua, readonly.clone(), next)?)?;
        h.raw_set("loadstring", api::loadstring_function(&lua, env.clone())?)?;
        h.raw_set("load", api::load_function(&lua, env.clone())?)?;
        h.raw_set("random", api::random_function(&lua, common)?)?;
        h.raw_set("randomseed", api::randomseed_function(&lua, common)?)?;
        h.raw_set("bit", crate::libs::bit::open(&lua)?)?;
        h.raw_set("struct", crate::libs::structlib::open(&lua)?)?;
        h.raw_set("cjson", crate::libs::cjson::open(&lua)?)?;
        h.raw_set("cmsgpack", crate::libs::cmsgpack::open(&lua)?)?;
        h.raw_set("redis", api::redis_table(&lua, common, kind == VmKind::Eval)?)?;
        let store = crate::functions::FunctionStore::new(&lua)?;
        if kind == VmKind::Functions {
            h.raw_set("load_redis", api::load_redis_table(&lua, common, &store)?)?;
        }
        h.raw_set("env", env.clone())?;
        h.raw_set("string_mt", string_mt)?;
        let mode = if kind == VmKind::Eval { "eval" } else { "function" };
        let built: Table = lua.load(SANDBOX).set_name(SANDBOX_NAME).call((h, base, mode))?;
        let globals: Table = built.raw_get("G")?;
        let env_mt: Table = built.raw_get("env_mt")?;
        lua.set_globals(env.clone())?;
        set_default_hook(&lua)?;
        // Grow mlua's reference stack now: growing it later allocates outside any protected
        // call, and failing that allocation under the memory limit would abort the process.
        let spare = (0..SPARE_REFS).map(|_| lua.create_string("")).collect::<mlua::Result<Vec<_>>>()?;
        drop(spare);
        let anchors = lua.create_table()?;
        anchors.raw_set(anchor::HANDLER, built.raw_get::<Function>("handler")?)?;
        anchors.raw_set(anchor::GLOBALS, globals.clone())?;
        anchors.raw_set(anchor::STORE, store.table().clone())?;
        let (keys, argv) = (lua.create_table()?, lua.create_table()?);
        if kind == VmKind::Eval {
            globals.raw_set("KEYS", keys.clone())?;
            globals.raw_set("ARGV", argv.clone())?;
        }
        anchors.raw_set(anchor::KEYS, keys)?;
        anchors.raw_set(anchor::ARGV, argv)?;
        anchors.raw_set(anchor::KEYS_NAME, "KEYS")?;
        anchors.raw_set(anchor::ARGV_NAME, "ARGV")?;
        let mut raw = RawState { state: std::ptr::null_mut(), anchors: 0 };
        // SAFETY: the closure only reads the state pointer and takes a registry reference to
        // the anchors (its argument, popped by `luaL_ref`); the trampoline gets the anchors
        // as its upvalue.
        unsafe {
            lua.exec_raw::<()>(&anchors, |state| {
                ffi::lua_pushvalue(state, -1);
                ffi::lua_pushcclosure(state, trampoline, 1);
                ffi::lua_rawseti(state, -2, anchor::TRAMPOLINE);
                raw.anchors = ffi::luaL_ref(state, ffi::LUA_REGISTRYINDEX);
                raw.state = state;
            })?;
        }
        if memory_limit > 0 {
            lua.set_memory_limit(memory_limit)?;
        }
        Ok(Vm {
            globals,
            env,
            env_mt,
            load_globals: built.raw_get("load_globals")?,
            anchors,
            raw,
            load_library: built.raw_get("load_library")?,
            lua,
            memory_limit,
            store,
        })
    }

    /// The main Lua state (scripts run in it).
    pub(crate) fn raw_state(&self) -> *mut ffi::lua_State {
        self.raw.state
    }

    /// Compiles `code` as a text chunk named `name` (`@user_script`, `@user_function`).
    pub(crate) fn compile(&self, code: &[u8], name: &str) -> Result<Function, String> {
        api::compile_text(&self.lua, code, name.as_bytes(), &self.env)
    }

    /// Runs a cached script (by SHA1) or a registered function (by id): an EVAL script gets
    /// the `KEYS` and `ARGV` globals, a function the arrays `(keys, args)`; `items` are the
    /// keys (the first `numkeys`) then the arguments. A result the fast conversion handles is
    /// written to `out` (`Ok(None)`); otherwise `(true, result)` or `(false, error)` is
    /// returned for the general path. The error handler turns errors into Redis's
    /// `{err=...}` tables, as `xpcall` would.
    ///
    /// This is the hot path of EVALSHA and FCALL, so it calls Lua directly ([`trampoline`])
    /// instead of through mlua. The caller holds the engine's mutex, which makes its access
    /// to the state exclusive.
    pub(crate) fn run(
        &self,
        callee: Callee<'_>,
        items: Args<'_>,
        numkeys: usize,
        out: &mut Vec<u8>,
        caller_resp3: bool,
    ) -> mlua::Result<Option<(bool, Value)>> {
        let mut call = RawCall { callee, items, numkeys, out, caller_resp3, written: false, ok: false, missing: false };
        let state = self.raw.state;
        // SAFETY: `state` is this Vm's main Lua state, used by one thread at a time (the
        // engine mutex); the stack is restored before returning; `call` outlives the pcall.
        let failure = unsafe {
            let top = ffi::lua_gettop(state);
            let failure = if ffi::lua_checkstack(state, 4) == 0 {
                Some(mlua::Error::StackError)
            } else {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, self.raw.anchors as ffi::lua_Integer);
                ffi::lua_rawgeti(state, -1, anchor::TRAMPOLINE);
                ffi::lua_remove(state, -2);
                ffi::lua_pushlightuserdata(state, std::ptr::from_mut(&mut call).cast());
                match ffi::lua_pcall(state, 1, 0, 0) {
                    0 => None,
                    ffi::LUA_ERRMEM => Some(mlua::Error::MemoryError("not enough memory".into())),
                    _ => {
                        let msg = if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
                            String::from_utf8_lossy(fast::string_at(state, -1)).into_owned()
                        } else {
                            "error running script".into()
                        };
                        Some(mlua::Error::RuntimeError(msg))
                    }
                }
            };
            ffi::lua_settop(state, top);
            failure
        };
        if let Some(e) = failure {
            return Err(e);
        }
        if call.missing {
            return Err(mlua::Error::RuntimeError("NOSCRIPT No matching script. Please use EVAL.".into()));
        }
        if call.written {
            return Ok(None);
        }
        let v: Value = self.anchors.raw_get(anchor::RESULT)?;
        self.anchors.raw_set(anchor::RESULT, Value::Nil)?;
        Ok(Some((call.ok, v)))
    }

    /// Runs a library body with the load-time globals in place.
    pub(crate) fn load_library(&self, chunk: &Function) -> mlua::Result<(bool, Value)> {
        if let Some(lg) = &self.load_globals {
            self.env_mt.raw_set("__index", lg.clone())?;
        }
        let r = self.load_library.call::<(bool, Value)>(chunk.clone());
        self.env_mt.raw_set("__index", self.globals.clone())?;
        r
    }

    /// Clean-up after a run: collects garbage after a memory error.
    pub(crate) fn after_run(&self, memory_error: bool) {
        if memory_error {
            let _ = self.lua.gc_collect();
            let _ = self.lua.gc_collect();
        }
    }
}

/// Installs the usual instruction hook (BUSY, SCRIPT KILL, the instruction limit); a Lua
/// debugger session replaces it while its script runs.
pub(crate) fn set_default_hook(lua: &Lua) -> mlua::Result<()> {
    lua.set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), |_, _| {
        let busy = with_active(|a| match a {
            Some(a) => a.on_hook(),
            None => Ok(None),
        })
        .map_err(mlua::Error::from)?;
        if let Some(db) = busy {
            // Past busy-reply-threshold: let the server answer this thread's other
            // clients (BUSY, or SCRIPT KILL, which takes effect right here).
            db.process_events_while_busy();
            with_active(|a| a.map_or(Ok(()), |a| a.check_abort())).map_err(mlua::Error::from)?;
        }
        Ok(VmState::Continue)
    })
}

/// Installs the Lua debugger's line hook (see [`crate::debugger`]).
pub(crate) fn set_debug_hook(lua: &Lua) -> mlua::Result<()> {
    lua.set_global_hook(HookTriggers::new().every_line().every_nth_instruction(HOOK_EVERY), crate::debugger::debug_hook)
}

/// What to run, which also decides how it receives its keys and arguments.
#[derive(Clone, Copy)]
pub(crate) enum Callee<'a> {
    /// A cached EVAL script, by SHA1 (lower-case hex): the `KEYS` and `ARGV` globals.
    Script(&'a [u8; 40]),
    /// A registered function, by its id in the function store: two array arguments.
    Function(i64),
}

/// The main state of a Vm, for direct calls.
struct RawState {
    state: *mut ffi::lua_State,
    /// Registry reference of the anchors table.
    anchors: c_int,
}

// SAFETY: the pointer is the state owned by the Vm's `Lua` (which is `Send`); it is only
// used by the thread that holds the engine mutex.
unsafe impl Send for RawState {}

/// Slots of the anchors table (registry-referenced, so the trampoline reaches everything it
/// needs without allocating).
mod anchor {
    pub(super) const HANDLER: i64 = 1;
    pub(super) const GLOBALS: i64 = 2;
    pub(super) const STORE: i64 = 3;
    pub(super) const KEYS: i64 = 4;
    pub(super) const ARGV: i64 = 5;
    pub(super) const RESULT: i64 = 6;
    pub(super) const TRAMPOLINE: i64 = 7;
    pub(super) const KEYS_NAME: i64 = 8;
    pub(super) const ARGV_NAME: i64 = 9;
}

/// Tables reused for KEYS/ARGV are replaced by fresh ones once a run left this many entries
/// to clear (a script filled them, or a previous call had many arguments).
const REUSE_MAX: usize = 64;

/// The parameters of one direct call, read by [`trampoline`].
struct RawCall<'a> {
    callee: Callee<'a>,
    items: Args<'a>,
    numkeys: usize,
    out: &'a mut Vec<u8>,
    caller_resp3: bool,
    /// The result went to `out` already.
    written: bool,
    /// The script succeeded (its result, or its error, is in `anchors[RESULT]`).
    ok: bool,
    /// The script or function is not in the store.
    missing: bool,
}

/// Runs one script or function call under `lua_pcall` (argument 1: a `RawCall`).
///
/// # Safety
/// Called by [`Vm::run`] through `lua_pcall` with a valid `RawCall` pointer. Lua errors
/// (out of memory) unwind it with longjmp: it keeps nothing with a destructor.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: see above; stack indices are the ones pushed here (a C function has at least
    // LUA_MINSTACK = 20 slots, and this uses at most 12).
    unsafe {
        let call = &mut *ffi::lua_touserdata(state, 1).cast::<RawCall<'_>>();
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1)); // 2: anchors
        ffi::lua_rawgeti(state, 2, anchor::HANDLER); // 3
        ffi::lua_rawgeti(state, 2, anchor::STORE);
        match call.callee {
            Callee::Script(sha) => fast::push_bytes(state, sha),
            Callee::Function(id) => ffi::lua_pushnumber(state, id as f64),
        }
        ffi::lua_rawget(state, -2);
        ffi::lua_remove(state, -2); // 4: the function
        if ffi::lua_type(state, 4) != ffi::LUA_TFUNCTION {
            call.missing = true;
            return 0;
        }
        let items = call.items;
        let nargs = match call.callee {
            Callee::Script(_) => {
                ffi::lua_rawgeti(state, 2, anchor::GLOBALS); // 5
                refill(state, anchor::KEYS, anchor::KEYS_NAME, items, 0, call.numkeys);
                refill(state, anchor::ARGV, anchor::ARGV_NAME, items, call.numkeys, items.len());
                ffi::lua_settop(state, 4);
                0
            }
            Callee::Function(_) => {
                push_array(state, items, 0, call.numkeys);
                push_array(state, items, call.numkeys, items.len());
                2
            }
        };
        let status = ffi::lua_pcall(state, nargs, 1, 3);
        // 4: the result or the error.
        if status == 0 {
            let proto = ReplyProto { caller_resp3: call.caller_resp3, script_resp3: crate::run::script_resp3() };
            let mark = call.out.len();
            if fast::write_result(state, 4, call.out, proto) {
                call.written = true;
                return 0;
            }
            call.out.truncate(mark);
        } else if out_of_memory(state, 4) {
            // Collect the script's garbage before returning to Rust, so that the engine has
            // room to convert the error.
            ffi::lua_gc(state, ffi::LUA_GCCOLLECT, 0);
        }
        call.ok = status == 0;
        ffi::lua_rawseti(state, 2, anchor::RESULT);
        0
    }
}

/// Fills the reused table `anchors[slot]` (the anchors at index 2) with `items[from..to]`.
/// The script of the previous call may have changed that table in any way, so every entry it
/// has is cleared first (and its metatable removed); a table that had many entries is
/// replaced by a fresh one, which becomes `globals[anchors[name]]` (the globals at index 5).
/// The globals point at the reused tables from the start (see [`Vm::new`]); scripts cannot
/// reassign them.
///
/// # Safety
/// Inside [`trampoline`] (same stack layout and rules).
unsafe fn refill(state: *mut ffi::lua_State, slot: i64, name: i64, items: Args<'_>, from: usize, to: usize) {
    // SAFETY: by the caller.
    unsafe {
        ffi::lua_rawgeti(state, 2, slot);
        let mut t = ffi::lua_gettop(state);
        let mut fresh = to - from > REUSE_MAX;
        if !fresh {
            if ffi::lua_getmetatable(state, t) != 0 {
                ffi::lua_pop(state, 1);
                ffi::lua_pushnil(state);
                ffi::lua_setmetatable(state, t);
            }
            let mut cleared = 0usize;
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, t) != 0 {
                ffi::lua_pop(state, 1);
                ffi::lua_pushvalue(state, -1);
                ffi::lua_pushnil(state);
                ffi::lua_rawset(state, t);
                cleared += 1;
            }
            fresh = cleared > REUSE_MAX;
        }
        if fresh {
            ffi::lua_pop(state, 1);
            ffi::lua_rawgeti(state, 2, name);
            ffi::lua_createtable(state, (to - from) as c_int, 0);
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawseti(state, 2, slot);
            ffi::lua_pushvalue(state, -1);
            ffi::lua_insert(state, -3);
            ffi::lua_rawset(state, 5);
            t = ffi::lua_gettop(state);
        }
        fill(state, t, items, from, to);
        ffi::lua_pop(state, 1);
    }
}

/// Pushes a Lua array of `items[from..to]`.
///
/// # Safety
/// `state` is a running Lua state with two free slots (see [`fast`]'s safety note).
unsafe fn push_array(state: *mut ffi::lua_State, items: Args<'_>, from: usize, to: usize) {
    // SAFETY: by the caller.
    unsafe {
        ffi::lua_createtable(state, (to - from) as c_int, 0);
        fill(state, ffi::lua_gettop(state), items, from, to);
    }
}

/// Sets `t[1..]` (the table at absolute index `t`) to `items[from..to]`.
///
/// # Safety
/// `state` is a running Lua state with a free slot (see [`fast`]'s safety note).
#[inline]
unsafe fn fill(state: *mut ffi::lua_State, t: c_int, items: Args<'_>, from: usize, to: usize) {
    // SAFETY: by the caller.
    unsafe {
        for (i, item) in items.iter().skip(from).take(to - from).enumerate() {
            fast::push_bytes(state, item);
            ffi::lua_rawseti(state, t, i as ffi::lua_Integer + 1);
        }
    }
}

/// True when the error at `idx` is Lua running out of memory (as a string or as the `err`
/// of an error table), or an error in the error handler (which is how that shows when the
/// handler itself ran out).
///
/// # Safety
/// `state` is a running Lua state with two free slots.
unsafe fn out_of_memory(state: *mut ffi::lua_State, idx: c_int) -> bool {
    // SAFETY: by the caller; the pushed field is popped again.
    unsafe {
        let mut pushed = 0;
        let mut at = idx;
        if ffi::lua_type(state, idx) == ffi::LUA_TTABLE {
            fast::push_bytes(state, b"err");
            ffi::lua_rawget(state, idx);
            pushed = 1;
            at = -1;
        }
        let found = ffi::lua_type(state, at) == ffi::LUA_TSTRING && {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(state, at, &mut len);
            let m = std::slice::from_raw_parts(p.cast::<u8>(), len);
            m == b"error in error handling" || m.windows(17).any(|w| w == b"not enough memory")
        };
        ffi::lua_pop(state, pushed);
        found
    }
}

/// Redis's error handler (`__redis__err__handler`): turns any error into a table
/// `{err = ..., source = ..., line = ...}` pointing at the script line that failed (the
/// caller's line when the error was raised in a C or Rust function).
fn error_handler(lua: &Lua, v: Value, tostring: &Function, readonly: &Table) -> mlua::Result<Value> {
    let v = match error_value(lua, v.clone()) {
        Ok(v) => v,
        Err(e) => match find_raise(&e) {
            Some(Raise::Abort(a)) => Value::Table(crate::error::error_table(lua, a.message().as_bytes(), false)?),
            _ => return Err(e),
        },
    };
    let info = |level: usize| {
        lua.inspect_stack(level, |d| {
            let s = d.source();
            (s.what, s.source.map(|c| c.into_owned()), d.current_line())
        })
    };
    // Redis reports the caller of a C function that raised (`getinfo(3)` when level 2 is C).
    // `redis.call` is two C frames here (an entry point and its implementation), so up to two
    // C levels are skipped.
    // Frames of the sandbox's own Lua wrappers (`table.insert`, `pcall`...) stand for C
    // functions in Redis, and are skipped too.
    let mut level = 1;
    let mut c_frames = 0;
    let mut i = info(level);
    loop {
        match &i {
            Some((what, _, _)) if *what == "C" && c_frames < 2 => c_frames += 1,
            Some((_, Some(source), _)) if source == SANDBOX_NAME => {}
            // A frame replaced by a tail call into a sandbox wrapper is gone: look further.
            Some((what, _, _)) if *what == "tail" => {}
            _ => break,
        }
        level += 1;
        i = info(level);
    }
    let t = match &v {
        // (A library table raised as an error value stays untouched.)
        Value::Table(t) if readonly.raw_get::<Value>(t.clone())? == Value::Nil => t.clone(),
        _ => {
            let s: mlua::String = tostring.call(v.clone())?;
            let mut msg = b"ERR ".to_vec();
            msg.extend_from_slice(&s.as_bytes());
            crate::error::error_table(lua, &msg, false)?
        }
    };
    if let Some((_, source, line)) = i {
        if let Some(source) = source {
            t.raw_set("source", source)?;
        }
        t.raw_set("line", line.map(|l| l as i64).unwrap_or(-1))?;
    }
    Ok(Value::Table(t))
}
