//! One sandboxed Lua state: for EVAL scripts or for FUNCTION libraries (Redis keeps the two
//! apart as well). Created once with every library and `redis.*` function registered, the
//! instruction hook and the memory limit; scripts then only compile and run in it.
use crate::api::{self, Common};
use crate::error::{error_value, find_raise, raise, Raise};
use crate::run::{with_active, HOOK_EVERY};
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

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
    run: Function,
    run_function: Function,
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
        h.raw_set("getmetatable", api::getmetatable_function(&lua, readonly.clone(), string_mt.clone())?)?;
        h.raw_set("setmetatable", api::setmetatable_function(&lua, readonly.clone())?)?;
        h.raw_set("rawset", api::rawset_function(&lua, readonly.clone())?)?;
        let next: Function = base.raw_get("next")?;
        h.raw_set("pairs", api::pairs_function(&lua, readonly.clone(), next)?)?;
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
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), |_, _| {
            with_active(|a| match a {
                Some(a) => a.on_hook().map(|_| VmState::Continue).map_err(mlua::Error::from),
                None => Ok(VmState::Continue),
            })
        })?;
        // Grow mlua's reference stack now: growing it later allocates outside any protected
        // call, and failing that allocation under the memory limit would abort the process.
        let spare = (0..SPARE_REFS).map(|_| lua.create_string("")).collect::<mlua::Result<Vec<_>>>()?;
        drop(spare);
        if memory_limit > 0 {
            lua.set_memory_limit(memory_limit)?;
        }
        Ok(Vm {
            globals,
            env,
            env_mt,
            load_globals: built.raw_get("load_globals")?,
            run: built.raw_get("run")?,
            run_function: built.raw_get("run_function")?,
            load_library: built.raw_get("load_library")?,
            lua,
            memory_limit,
            store,
        })
    }

    /// Compiles `code` as a text chunk named `name` (`@user_script`, `@user_function`).
    pub(crate) fn compile(&self, code: &[u8], name: &str) -> Result<Function, String> {
        api::compile_text(&self.lua, code, name.as_bytes(), &self.env)
    }

    /// A Lua array of byte strings.
    pub(crate) fn array<'a>(&self, items: impl Iterator<Item = &'a [u8]>) -> mlua::Result<Table> {
        let (lo, _) = items.size_hint();
        let t = self.lua.create_table_with_capacity(lo, 0)?;
        for (i, item) in items.enumerate() {
            t.raw_set(i + 1, self.lua.create_string(item)?)?;
        }
        Ok(t)
    }

    /// Runs an EVAL script with its KEYS and ARGV: `(true, result)` or `(false, error)`.
    pub(crate) fn run_eval<'a>(
        &self,
        f: &Function,
        keys: impl Iterator<Item = &'a [u8]>,
        argv: impl Iterator<Item = &'a [u8]>,
    ) -> mlua::Result<(bool, Value)> {
        // The tables are built on the Lua side: one call instead of an mlua operation per
        // element.
        let mut nkeys = 0i64;
        let mut all: Vec<mlua::BString> = Vec::new();
        for k in keys {
            all.push(k.into());
            nkeys += 1;
        }
        all.extend(argv.map(mlua::BString::from));
        self.run.call((f.clone(), nkeys, mlua::Variadic::from_iter(all)))
    }

    /// Runs a function with its keys and arguments.
    pub(crate) fn run_function<'a>(
        &self,
        f: &Function,
        keys: impl Iterator<Item = &'a [u8]>,
        args: impl Iterator<Item = &'a [u8]>,
    ) -> mlua::Result<(bool, Value)> {
        let k = self.array(keys)?;
        let a = self.array(args)?;
        self.run_function.call((f.clone(), k, a))
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
