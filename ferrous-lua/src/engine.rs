//! [`LuaEngine`]: the scripting engine core forwards EVAL, EVALSHA, EVAL_RO, EVALSHA_RO,
//! FCALL, FCALL_RO, SCRIPT and FUNCTION to.
//!
//! Locking: a script runs inside [`Database::run_atomically`](ferrous_core::Database::run_atomically) (every shard held), and only
//! then takes the engine's own mutex (the Lua states are not reentrant). Nothing here takes
//! shard locks while holding that mutex, so EXEC (which holds every shard and may run EVAL)
//! and a plain EVAL can never wait on each other in a cycle. SCRIPT KILL, FUNCTION KILL and
//! FUNCTION STATS arrive while a script runs (they are flagged allow-busy) and use only the
//! atomics of the run state, never the mutex.
use crate::api::{Common, RNG_INIT};
use crate::convert::{lua_to_reply, ReplyProto};
use crate::error::{find_raise, plain_text, Raise};
use crate::flags::{parse_eval_shebang, ScriptFlags};
use crate::functions::{self, FunctionInfo, Library, Registry};
use crate::run::{self, KillOutcome, RunKind, RunParams, RunningFunction, Shared};
use crate::vm::{Callee, Vm, VmKind};
use crate::LogSink;
use ferrous_core::commands::Reply;
use ferrous_core::config::Tunable;
use ferrous_core::scripting::{ScriptCall, ScriptEngine, ScriptMemory, ScriptRunner};
use ferrous_core::{Error, Result};
use ferrous_resp::Args;
use mlua::Value;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Limits of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Memory limit of each Lua state (EVAL scripts, FUNCTION libraries) in bytes; 0 for
    /// none. Default 50 MB. A script that exceeds it fails with an error reply; the engine
    /// stays usable.
    pub memory_limit: usize,
    /// Stops a script after about this many Lua instructions (checked every 100,000);
    /// `None` (the default) lets scripts run as long as Redis would.
    pub instruction_limit: Option<u64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { memory_limit: 50 * 1024 * 1024, instruction_limit: None }
    }
}

/// A cached EVAL script. The compiled function is in the state's store, keyed by SHA1.
struct Script {
    flags: ScriptFlags,
}

/// What the engine mutex protects.
struct State {
    eval: Vm,
    /// SHA1 (lower-case hex) -> compiled script; shared by EVAL and SCRIPT LOAD.
    /// Keyed by SHA1 hex (not attacker-choosable), so a fast non-keyed hasher is fine.
    scripts: HashMap<[u8; 40], Script, foldhash::fast::FixedState>,
    functions: Vm,
    registry: Registry,
}

/// The Lua scripting engine. Create it with [`crate::install`] (or [`LuaEngine::new`] and
/// [`Database::set_script_engine`](ferrous_core::Database::set_script_engine)).
pub struct LuaEngine {
    config: EngineConfig,
    common: Common,
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Mirrors of the registry's sizes, for FUNCTION STATS while a function runs.
    libraries: AtomicUsize,
    function_count: AtomicUsize,
    /// The last [`ScriptEngine::memory`] measurement, answered while the states are busy.
    last_memory: Mutex<ScriptMemory>,
    /// Clients that set `SCRIPT DEBUG YES` (false) or `SYNC` (true), by id; `debugging`
    /// counts them so that EVAL looks at the map only when some client is in debug mode.
    debug_clients: Mutex<HashMap<u64, bool>>,
    debugging: AtomicUsize,
}

use ferrous_core::scripting::{BUSY_FUNCTION as SLOW_FUNCTION, BUSY_SCRIPT as SLOW_EVAL};
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
const RO_WITH_WRITE_FLAG: &str = "ERR Can not execute a script with write flag using *_ro command.";

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// How a FUNCTION RESTORE treats the existing libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    /// Delete every existing library first.
    Flush,
    /// Add the libraries; fail on any collision (the default).
    Append,
    /// Add the libraries, replacing existing ones with the same name.
    Replace,
}

fn err(text: impl Into<String>) -> Error {
    Error::msg(text.into())
}

fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

/// `getLongLongFromObject`.
fn parse_numkeys(arg: &[u8]) -> Option<i64> {
    ferrous_resp::parse_i64(arg)
}

impl LuaEngine {
    /// Creates an engine (both Lua states, fully sandboxed).
    pub fn new(config: EngineConfig) -> std::result::Result<LuaEngine, String> {
        Self::with_log_sink(config, crate::stderr_log_sink())
    }

    /// Creates an engine whose `redis.log` messages go to `log`.
    pub fn with_log_sink(config: EngineConfig, log: LogSink) -> std::result::Result<LuaEngine, String> {
        let common = Common { rng: Arc::new(Mutex::new(RNG_INIT)), log };
        let eval = Vm::new(VmKind::Eval, &common, config.memory_limit).map_err(|e| e.to_string())?;
        let functions = Vm::new(VmKind::Functions, &common, config.memory_limit).map_err(|e| e.to_string())?;
        let engine = LuaEngine {
            config,
            common,
            shared: Arc::new(Shared::default()),
            state: Mutex::new(State { eval, scripts: HashMap::default(), functions, registry: Registry::default() }),
            libraries: AtomicUsize::new(0),
            function_count: AtomicUsize::new(0),
            last_memory: Mutex::new(ScriptMemory::default()),
            debug_clients: Mutex::new(HashMap::new()),
            debugging: AtomicUsize::new(0),
        };
        let fresh = Self::measure(&engine.state.lock());
        *engine.last_memory.lock() = fresh;
        Ok(engine)
    }

    /// The limits in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Bytes used by the EVAL Lua state (Redis's `used_memory_lua`).
    pub fn eval_memory(&self) -> usize {
        self.state.lock().eval.lua.used_memory()
    }

    /// Bytes used by the FUNCTION Lua state (Redis's `used_memory_vm_functions`).
    pub fn functions_memory(&self) -> usize {
        self.state.lock().functions.lua.used_memory()
    }

    /// Number of scripts in the EVAL cache.
    pub fn cached_scripts(&self) -> usize {
        self.state.lock().scripts.len()
    }

    /// Number of loaded function libraries.
    pub fn library_count(&self) -> usize {
        self.libraries.load(Ordering::Relaxed)
    }

    /// FUNCTION DUMP: every library, in Redis's payload format (what RDB files hold too).
    pub fn dump_functions(&self) -> Vec<u8> {
        let st = self.state.lock();
        functions::dump(st.registry.libraries.values().map(|l| l.code.as_slice()))
    }

    /// FUNCTION RESTORE of a payload from [`LuaEngine::dump_functions`] or Redis's FUNCTION
    /// DUMP. Errors carry Redis's text.
    pub fn restore_functions(&self, payload: &[u8], policy: RestorePolicy) -> Result<()> {
        let mut st = self.state.lock();
        self.restore(&mut st, payload, policy).map_err(err)
    }

    /// Measures the states' memory and the caches' sizes (see [`ScriptEngine::memory`]).
    fn measure(st: &State) -> ScriptMemory {
        use std::mem::size_of;
        // Outside the Lua state an EVAL script is its cache entry (the compiled function is
        // in the state); a library is its code and name, each function its name,
        // description and index entry.
        let script_entry = (size_of::<[u8; 40]>() + size_of::<Script>()) as u64;
        let function_bytes =
            |f: &FunctionInfo| 2 * (f.name.len() + size_of::<FunctionInfo>()) + f.desc.as_ref().map_or(0, |d| d.len());
        let functions_overhead: usize = st
            .registry
            .libraries
            .iter()
            .map(|(name, lib)| {
                name.len()
                    + size_of::<Library>()
                    + lib.code.len()
                    + lib.functions.iter().map(function_bytes).sum::<usize>()
            })
            .sum();
        ScriptMemory {
            vm_eval: st.eval.lua.used_memory() as u64,
            vm_functions: st.functions.lua.used_memory() as u64,
            scripts_eval: st.scripts.len() as u64 * script_entry,
            cached_scripts: st.scripts.len() as u64,
            functions_overhead: functions_overhead as u64,
            functions: st.registry.function_count() as u64,
            libraries: st.registry.libraries.len() as u64,
        }
    }

    fn sync_counts(&self, st: &State) {
        self.libraries.store(st.registry.libraries.len(), Ordering::Relaxed);
        self.function_count.store(st.registry.function_count(), Ordering::Relaxed);
    }

    fn lock(&self) -> Result<parking_lot::MutexGuard<'_, State>> {
        if run::is_active() {
            // A command run by a script reached the engine again (cannot happen through the
            // command table: scripting commands are `noscript`); waiting would deadlock.
            return Err(err("ERR This Redis command is not allowed from script"));
        }
        Ok(self.state.lock())
    }

    // -------------------------------------------------------------------------------------
    // EVAL

    /// `EVAL script numkeys [key ...] [arg ...]` and EVALSHA, EVAL_RO, EVALSHA_RO.
    fn eval(&self, call: ScriptCall<'_>, by_sha: bool, ro: bool) -> Result<()> {
        let args = call.args;
        let debug_session = crate::debugger::session_armed();
        // A session needs the client's socket: in-process clients (no descriptor) and
        // EVAL inside MULTI/EXEC run the script normally.
        let has_socket = call.client.info.fd > 0;
        if self.debugging.load(Ordering::Relaxed) > 0 && !debug_session && !call.held && has_socket {
            if let Some(sync) = self.debug_mode(call.client.id()) {
                if by_sha {
                    if args.at(1).len() != 40 {
                        return Err(err("NOSCRIPT No matching script. Please use EVAL."));
                    }
                    return Err(err("ERR Please use EVAL instead of EVALSHA for debugging"));
                }
                // The connection goes to a debugger session, which runs this EVAL and
                // closes the connection at the end (Redis forks or blocks here).
                self.set_debug_mode(call.db, call.client.id(), None);
                ferrous_core::scripting::request_debug_session(ferrous_core::scripting::DebugRequest {
                    args: args.to_vec(),
                    sync,
                });
                call.client.close_after_reply = true;
                return Ok(());
            }
        }
        let numkeys = parse_numkeys(args.at(2)).ok_or(Error::NotInteger)?;
        if numkeys > args.len() as i64 - 3 {
            return Err(err("ERR Number of keys can't be greater than number of args"));
        }
        if numkeys < 0 {
            return Err(err("ERR Number of keys can't be negative"));
        }
        let key = if by_sha {
            let sha = args.at(1);
            if sha.len() != 40 {
                return Err(err("NOSCRIPT No matching script. Please use EVAL."));
            }
            let mut k = [0u8; 40];
            for (d, c) in k.iter_mut().zip(sha) {
                *d = c.to_ascii_lowercase();
            }
            k
        } else {
            let mut k = [0u8; 40];
            k.copy_from_slice(crate::sha1_hex(args.at(1)).as_bytes());
            k
        };
        let numkeys = numkeys as usize;
        let caller_resp3 = call.client.resp3();
        let out = call.out;
        let db = call.db;
        db.run_atomically(call.client.db, 2, call.held, |runner| {
            contained(out, |out| {
                let mut st = self.lock()?;
                let st = &mut *st;
                if !st.scripts.contains_key(&key) {
                    if by_sha {
                        return Err(err("NOSCRIPT No matching script. Please use EVAL."));
                    }
                    let script = compile_script(&st.eval, &key, args.at(1)).map_err(err)?;
                    st.scripts.insert(key, script);
                }
                let Some(script) = st.scripts.get(&key) else {
                    return Err(err("NOSCRIPT No matching script. Please use EVAL."));
                };
                let flags = script.flags;
                if ro && !flags.eval_compat && !flags.no_writes {
                    return Err(err(RO_WITH_WRITE_FLAG));
                }
                let name = std::str::from_utf8(&key).unwrap_or("?");
                let callee = Callee::Script(&key);
                let target = Target {
                    vm: &st.eval,
                    callee,
                    name,
                    read_only: ro || flags.no_writes,
                    held: call.held,
                    running: None,
                };
                if !debug_session {
                    return self.execute(target, runner, args.slice_from(3), numkeys, out, caller_resp3);
                }
                let threshold = runner.database().inner().tunables.get(Tunable::BusyReplyThreshold).max(0) as u64;
                crate::vm::set_debug_hook(&st.eval.lua).map_err(|e| err(format!("ERR {e}")))?;
                crate::debugger::start(st.eval.raw_state(), threshold);
                // The usual hook comes back however the run ends (even by a panic).
                struct Restore<'a>(&'a mlua::Lua);
                impl Drop for Restore<'_> {
                    fn drop(&mut self) {
                        crate::debugger::stop();
                        let _ = crate::vm::set_default_hook(self.0);
                    }
                }
                let _restore = Restore(&st.eval.lua);
                self.execute(target, runner, args.slice_from(3), numkeys, out, caller_resp3)
            })
        })
    }

    /// Runs a compiled script or function for the caller while every shard is held
    /// (`runner`): publishes the run (for the hook, `redis.call`, SCRIPT KILL), runs it and
    /// writes its result or error to `out`.
    fn execute(
        &self,
        t: Target<'_>,
        runner: &mut ScriptRunner<'_>,
        items: Args<'_>,
        numkeys: usize,
        out: &mut Vec<u8>,
        caller_resp3: bool,
    ) -> Result<()> {
        let busy_after_ms = runner.database().inner().tunables.get(Tunable::BusyReplyThreshold).max(0) as u64;
        let kind = match t.callee {
            Callee::Script(_) => RunKind::Eval,
            Callee::Function(_) => RunKind::Function,
        };
        let gen = self.shared.begin(kind);
        let _end = EndRun(&self.shared);
        if let Some(r) = t.running {
            *self.shared.running.lock() = Some(r);
        }
        let params = RunParams {
            kind,
            read_only: t.read_only,
            held: t.held,
            busy_after_ms,
            gen,
            shared: self.shared.clone(),
            instruction_limit: self.config.instruction_limit,
        };
        let guard = run::install(params, Some(runner));
        let outcome = match t.vm.run(t.callee, items, numkeys, out, caller_resp3) {
            Ok(None) => Outcome { result: Ok(()), memory_error: false },
            res => {
                let proto = ReplyProto { caller_resp3, script_resp3: run::script_resp3() };
                let res = res.map(|v| v.unwrap_or((true, Value::Nil)));
                finish(&t.vm.lua, res, t.name, out, proto, t.vm.memory_limit)
            }
        };
        drop(guard);
        drop(_end);
        t.vm.after_run(outcome.memory_error);
        outcome.result
    }

    // -------------------------------------------------------------------------------------
    // FCALL

    /// `FCALL function numkeys [key ...] [arg ...]` and FCALL_RO.
    fn fcall(&self, call: ScriptCall<'_>, ro: bool) -> Result<()> {
        let args = call.args;
        let name = args.at(1);
        {
            let st = self.lock()?;
            if st.registry.function(name).is_none() {
                return Err(err("ERR Function not found"));
            }
        }
        let Some(numkeys) = parse_numkeys(args.at(2)) else {
            return Err(err("ERR Bad number of keys provided"));
        };
        if numkeys > args.len() as i64 - 3 {
            return Err(err("ERR Number of keys can't be greater than number of args"));
        }
        if numkeys < 0 {
            return Err(err("ERR Number of keys can't be negative"));
        }
        let numkeys = numkeys as usize;
        let caller_resp3 = call.client.resp3();
        let out = call.out;
        call.db.run_atomically(call.client.db, 2, call.held, |runner| {
            contained(out, |out| {
                let mut st = self.lock()?;
                let st = &mut *st;
                let Some(FunctionInfo { name: fname, flags, id, .. }) = st.registry.function(name).cloned() else {
                    return Err(err("ERR Function not found"));
                };
                if ro && !flags.no_writes {
                    return Err(err(RO_WITH_WRITE_FLAG));
                }
                let fname = String::from_utf8_lossy(&fname).into_owned();
                let running =
                    RunningFunction { name: fname.clone(), command: args.to_vec(), started: std::time::Instant::now() };
                let target = Target {
                    vm: &st.functions,
                    callee: Callee::Function(id),
                    name: &fname,
                    read_only: ro || flags.no_writes,
                    held: call.held,
                    running: Some(running),
                };
                self.execute(target, runner, args.slice_from(3), numkeys, out, caller_resp3)
            })
        })
    }

    // -------------------------------------------------------------------------------------
    // SCRIPT

    fn script(&self, call: ScriptCall<'_>) -> Result<()> {
        let args = call.args;
        let resp3 = call.client.resp3();
        let mut reply = Reply::new(call.out, resp3);
        match lower(args.at(1)).as_slice() {
            b"load" => {
                let body = args.at(2);
                let sha = crate::sha1_hex(body);
                let mut key = [0u8; 40];
                key.copy_from_slice(sha.as_bytes());
                let mut st = self.lock()?;
                if !st.scripts.contains_key(&key) {
                    let script = compile_script(&st.eval, &key, body).map_err(err)?;
                    st.scripts.insert(key, script);
                }
                reply.bulk(sha.as_bytes());
            }
            b"exists" => {
                let st = self.lock()?;
                reply.array(args.len() - 2);
                for sha in args.iter().skip(2) {
                    let found = sha.len() == 40 && {
                        let mut k = [0u8; 40];
                        k.copy_from_slice(&lower(sha));
                        st.scripts.contains_key(&k)
                    };
                    reply.int(found as i64);
                }
            }
            b"flush" => {
                let mode = args.get(2).map(lower);
                if !(args.len() == 2 || (args.len() == 3 && matches!(mode.as_deref(), Some(b"sync") | Some(b"async"))))
                {
                    return Err(err("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
                }
                let mut st = self.lock()?;
                // Like Redis, start over with a fresh Lua state: nothing a script did survives.
                st.eval = Vm::new(VmKind::Eval, &self.common, self.config.memory_limit)
                    .map_err(|e| err(format!("ERR {e}")))?;
                st.scripts.clear();
                reply.ok();
            }
            b"kill" => self.kill(true, &mut reply)?,
            b"help" => help(&mut reply, SCRIPT_HELP),
            b"debug" if args.len() == 3 => {
                if !reply.is_empty() {
                    return Err(err("ERR SCRIPT DEBUG must be called outside a pipeline"));
                }
                let mode = match lower(args.at(2)).as_slice() {
                    b"no" => None,
                    b"yes" => Some(false),
                    b"sync" => Some(true),
                    _ => return Err(err("ERR Use SCRIPT DEBUG YES/SYNC/NO")),
                };
                self.set_debug_mode(call.db, call.client.id(), mode);
                reply.ok();
            }
            _ => {
                return Err(Error::UnknownSubcommand {
                    cmd: "SCRIPT".into(),
                    sub: String::from_utf8_lossy(args.at(1)).into_owned(),
                })
            }
        }
        Ok(())
    }

    /// The debug mode `SCRIPT DEBUG` set for a client (`Some(true)`: SYNC).
    fn debug_mode(&self, client: u64) -> Option<bool> {
        self.debug_clients.lock().get(&client).copied()
    }

    fn set_debug_mode(&self, db: &ferrous_core::Database, client: u64, mode: Option<bool>) {
        let mut map = self.debug_clients.lock();
        match mode {
            Some(sync) => {
                if map.len() >= 64 {
                    // Forget clients that disconnected in debug mode.
                    map.retain(|id, _| db.inner().clients.get(*id).is_some());
                }
                map.insert(client, sync);
            }
            None => {
                map.remove(&client);
            }
        }
        self.debugging.store(map.len(), Ordering::Relaxed);
    }

    fn kill(&self, eval: bool, reply: &mut Reply<'_>) -> Result<()> {
        match self.shared.kill(eval) {
            KillOutcome::Killed => {
                reply.ok();
                Ok(())
            }
            KillOutcome::NotBusy => Err(err("NOTBUSY No scripts in execution right now.")),
            KillOutcome::WrongKind => Err(err(if eval { SLOW_FUNCTION } else { SLOW_EVAL })),
            KillOutcome::Unkillable => Err(err(UNKILLABLE)),
        }
    }

    // -------------------------------------------------------------------------------------
    // FUNCTION

    fn function(&self, call: ScriptCall<'_>) -> Result<()> {
        let args = call.args;
        let resp3 = call.client.resp3();
        let db = call.db;
        let mut reply = Reply::new(call.out, resp3);
        let sub = lower(args.at(1));
        match sub.as_slice() {
            b"load" => {
                let mut replace = false;
                let mut pos = 2;
                while pos < args.len() - 1 {
                    let a = args.at(pos);
                    pos += 1;
                    if a.eq_ignore_ascii_case(b"replace") {
                        replace = true;
                        continue;
                    }
                    return Err(err(format!("ERR Unknown option given: {}", String::from_utf8_lossy(a))));
                }
                if pos >= args.len() {
                    return Err(err("ERR Function code is missing"));
                }
                let code = args.at(pos);
                let mut st = self.lock()?;
                let name = self.load_library(&mut st, code, replace).map_err(err)?;
                self.sync_counts(&st);
                db.inner().dirty.fetch_add(1, Ordering::Relaxed);
                reply.bulk(&name);
            }
            b"delete" => {
                let mut st = self.lock()?;
                let Some(lib) = st.registry.unlink(args.at(2)) else {
                    return Err(err("ERR Library not found"));
                };
                forget(&st.functions, &lib);
                self.sync_counts(&st);
                db.inner().dirty.fetch_add(1, Ordering::Relaxed);
                reply.ok();
            }
            b"list" => {
                let (mut with_code, mut pattern): (bool, Option<&[u8]>) = (false, None);
                let mut i = 2;
                while i < args.len() {
                    let a = args.at(i);
                    if !with_code && a.eq_ignore_ascii_case(b"withcode") {
                        with_code = true;
                    } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
                        if i >= args.len() - 1 {
                            return Err(err("ERR library name argument was not given"));
                        }
                        i += 1;
                        pattern = Some(args.at(i));
                    } else {
                        return Err(err(format!("ERR Unknown argument {}", String::from_utf8_lossy(a))));
                    }
                    i += 1;
                }
                let st = self.lock()?;
                let libs: Vec<(&Vec<u8>, &Library)> = st
                    .registry
                    .libraries
                    .iter()
                    .filter(|(n, _)| pattern.map_or(true, |p| ferrous_core::glob::glob_match(p, n, true)))
                    .collect();
                reply.array(libs.len());
                for (name, lib) in libs {
                    reply.map(if with_code { 4 } else { 3 });
                    reply.bulk(b"library_name");
                    reply.bulk(name);
                    reply.bulk(b"engine");
                    reply.bulk(b"LUA");
                    reply.bulk(b"functions");
                    reply.array(lib.functions.len());
                    for f in &lib.functions {
                        reply.map(3);
                        reply.bulk(b"name");
                        reply.bulk(&f.name);
                        reply.bulk(b"description");
                        match &f.desc {
                            Some(d) => reply.bulk(d),
                            None => reply.null(),
                        }
                        reply.bulk(b"flags");
                        let names = f.flags.names();
                        reply.set(names.len());
                        for n in names {
                            reply.simple(n);
                        }
                    }
                    if with_code {
                        reply.bulk(b"library_code");
                        reply.bulk(&lib.code);
                    }
                }
            }
            b"flush" => {
                let mode = args.get(2).map(lower);
                if args.len() > 3 {
                    return Err(syntax_error("FUNCTION", args.at(1)));
                }
                if !(args.len() == 2 || matches!(mode.as_deref(), Some(b"sync") | Some(b"async"))) {
                    return Err(err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
                }
                let mut st = self.lock()?;
                st.functions = Vm::new(VmKind::Functions, &self.common, self.config.memory_limit)
                    .map_err(|e| err(format!("ERR {e}")))?;
                st.registry = Registry::default();
                self.sync_counts(&st);
                db.inner().dirty.fetch_add(1, Ordering::Relaxed);
                reply.ok();
            }
            b"dump" => {
                let payload = self.dump_functions();
                reply.bulk(&payload);
            }
            b"restore" => {
                if args.len() > 4 {
                    return Err(syntax_error("FUNCTION", args.at(1)));
                }
                let policy = match args.get(3).map(lower).as_deref() {
                    None | Some(b"append") => RestorePolicy::Append,
                    Some(b"replace") => RestorePolicy::Replace,
                    Some(b"flush") => RestorePolicy::Flush,
                    Some(_) => {
                        return Err(err(
                            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                        ))
                    }
                };
                let mut st = self.lock()?;
                self.restore(&mut st, args.at(2), policy).map_err(err)?;
                db.inner().dirty.fetch_add(1, Ordering::Relaxed);
                reply.ok();
            }
            b"stats" => {
                // No engine lock: this runs while a function may be running.
                if let Some(RunKind::Eval) = self.shared.running_kind() {
                    return Err(err(SLOW_EVAL));
                }
                reply.map(2);
                reply.bulk(b"running_script");
                match &*self.shared.running.lock() {
                    None => reply.null(),
                    Some(r) => {
                        reply.map(3);
                        reply.bulk(b"name");
                        reply.bulk(r.name.as_bytes());
                        reply.bulk(b"command");
                        reply.array(r.command.len());
                        for a in &r.command {
                            reply.bulk(a);
                        }
                        reply.bulk(b"duration_ms");
                        reply.int(r.started.elapsed().as_millis() as i64);
                    }
                }
                reply.bulk(b"engines");
                reply.map(1);
                reply.bulk(b"LUA");
                reply.map(2);
                reply.bulk(b"libraries_count");
                reply.int(self.libraries.load(Ordering::Relaxed) as i64);
                reply.bulk(b"functions_count");
                reply.int(self.function_count.load(Ordering::Relaxed) as i64);
            }
            b"kill" => self.kill(false, &mut reply)?,
            b"help" => help(&mut reply, FUNCTION_HELP),
            _ => {
                return Err(Error::UnknownSubcommand {
                    cmd: "FUNCTION".into(),
                    sub: String::from_utf8_lossy(args.at(1)).into_owned(),
                })
            }
        }
        Ok(())
    }

    /// Compiles a library and runs its body (which registers its functions). Nothing is
    /// linked into the registry.
    fn compile_library(&self, st: &State, code: &[u8]) -> std::result::Result<(Vec<u8>, Library), String> {
        let meta = functions::parse_metadata(code)?;
        let chunk = st
            .functions
            .compile(&code[meta.body_at..], "@user_function")
            .map_err(|m| format!("ERR Error compiling function: {m}"))?;
        let params = RunParams {
            kind: RunKind::Load,
            read_only: true,
            held: true,
            busy_after_ms: 0,
            gen: 0,
            shared: self.shared.clone(),
            instruction_limit: None,
        };
        let guard = run::install(params, None);
        let res = st.functions.load_library(&chunk);
        let registered = run::take_registered();
        drop(guard);
        let failure = match res {
            Ok((true, _)) => None,
            Ok((false, v)) => Some(load_error_text(&st.functions, v)),
            Err(e) => Some(match find_raise(&e) {
                Some(Raise::Abort(a)) => a.message(),
                _ => format!("ERR {}", plain_text(&e)),
            }),
        };
        st.functions.after_run(false);
        if let Some(msg) = failure {
            for r in &registered {
                st.functions.store.remove(r.id);
            }
            return Err(format!("ERR Error registering functions: {msg}"));
        }
        let functions = registered
            .into_iter()
            .map(|r| FunctionInfo { name: r.name, desc: r.desc, flags: r.flags, id: r.id })
            .collect();
        Ok((meta.name, Library { code: code.to_vec(), functions }))
    }

    /// FUNCTION LOAD: returns the library name.
    fn load_library(&self, st: &mut State, code: &[u8], replace: bool) -> std::result::Result<Vec<u8>, String> {
        let meta = functions::parse_metadata(code)?;
        if !replace && st.registry.libraries.contains_key(&meta.name) {
            return Err(format!("ERR Library '{}' already exists", String::from_utf8_lossy(&meta.name)));
        }
        let (name, lib) = self.compile_library(st, code)?;
        if lib.functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        let old = if replace { st.registry.unlink(&name) } else { None };
        if let Some(f) = st.registry.collision(&lib) {
            forget(&st.functions, &lib);
            if let Some(old) = old {
                st.registry.link(name, old);
            }
            return Err(format!("ERR Function {} already exists", String::from_utf8_lossy(&f)));
        }
        st.registry.link(name.clone(), lib);
        if let Some(old) = old {
            forget(&st.functions, &old);
        }
        Ok(name)
    }

    fn restore(&self, st: &mut State, payload: &[u8], policy: RestorePolicy) -> std::result::Result<(), String> {
        let codes = functions::parse_dump(payload)?;
        self.restore_codes(st, &codes, policy)
    }

    /// Loads library sources (from a FUNCTION RESTORE payload or an RDB file) by `policy`.
    fn restore_codes(
        &self,
        st: &mut State,
        codes: &[Vec<u8>],
        policy: RestorePolicy,
    ) -> std::result::Result<(), String> {
        let mut incoming = Registry::default();
        let result = self.restore_into(st, codes, &mut incoming, policy);
        // Whatever was not linked (all of it on failure) is dropped from the Lua state.
        for lib in std::mem::take(&mut incoming.libraries).values() {
            forget(&st.functions, lib);
        }
        result
    }

    fn restore_into(
        &self,
        st: &mut State,
        codes: &[Vec<u8>],
        incoming: &mut Registry,
        policy: RestorePolicy,
    ) -> std::result::Result<(), String> {
        for code in codes {
            let meta = functions::parse_metadata(code)?;
            if incoming.libraries.contains_key(&meta.name) {
                return Err(format!("ERR Library '{}' already exists", String::from_utf8_lossy(&meta.name)));
            }
            let (name, lib) = self.compile_library(st, code)?;
            if lib.functions.is_empty() {
                forget(&st.functions, &lib);
                return Err("ERR No functions registered".into());
            }
            if let Some(f) = incoming.collision(&lib) {
                forget(&st.functions, &lib);
                return Err(format!("ERR Function {} already exists", String::from_utf8_lossy(&f)));
            }
            incoming.link(name, lib);
        }
        if policy == RestorePolicy::Flush {
            let old = std::mem::replace(&mut st.registry, std::mem::take(incoming));
            for lib in old.libraries.values() {
                forget(&st.functions, lib);
            }
            self.sync_counts(st);
            return Ok(());
        }
        let mut replaced = Vec::new();
        for name in incoming.libraries.keys() {
            if st.registry.libraries.contains_key(name) {
                if policy == RestorePolicy::Append {
                    for (n, lib) in replaced {
                        st.registry.link(n, lib);
                    }
                    return Err(format!("ERR Library {} already exists", String::from_utf8_lossy(name)));
                }
                if let Some(old) = st.registry.unlink(name) {
                    replaced.push((name.clone(), old));
                }
            }
        }
        for lib in incoming.libraries.values() {
            if let Some(f) = st.registry.collision(lib) {
                for (n, lib) in replaced {
                    st.registry.link(n, lib);
                }
                return Err(format!("ERR Function {} already exists", String::from_utf8_lossy(&f)));
            }
        }
        let names: Vec<Vec<u8>> = incoming.libraries.keys().cloned().collect();
        for name in names {
            if let Some(lib) = incoming.unlink(&name) {
                st.registry.link(name, lib);
            }
        }
        for (_, old) in replaced {
            forget(&st.functions, &old);
        }
        self.sync_counts(st);
        Ok(())
    }
}

/// Marks the end of a run, also when unwinding.
struct EndRun<'a>(&'a Shared);

/// What [`LuaEngine::execute`] runs.
struct Target<'a> {
    vm: &'a Vm,
    callee: Callee<'a>,
    /// The script's SHA1 or the function's name (for error messages).
    name: &'a str,
    read_only: bool,
    /// Inside MULTI/EXEC (the caller holds the locks).
    held: bool,
    /// FUNCTION STATS's view of a running function.
    running: Option<RunningFunction>,
}

impl Drop for EndRun<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Runs `f`, turning a panic into an error reply (with nothing written to `out`). mlua
/// panics when one of its invariants breaks (its reference stack exhausted by a hostile
/// script, say); the panic must not cross `run_atomically`, nor reach the server's threads.
fn contained<R>(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>) -> Result<R>) -> Result<R> {
    let mark = out.len();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *out))) {
        Ok(r) => r,
        Err(_) => {
            out.truncate(mark);
            Err(err("ERR Error running script: internal error in the Lua engine"))
        }
    }
}

/// Drops a library's functions from the Lua state's store.
fn forget(vm: &Vm, lib: &Library) {
    for f in &lib.functions {
        vm.store.remove(f.id);
    }
}

fn help(reply: &mut Reply<'_>, lines: &[&str]) {
    reply.array(lines.len());
    for l in lines {
        reply.simple(l);
    }
}

/// `addReplySubcommandSyntaxError`.
fn syntax_error(container: &str, sub: &[u8]) -> Error {
    err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

/// Compiles an EVAL script (shebang flags, then the Lua code as chunk `@user_script`) and
/// keeps it in the state's store under its SHA1.
fn compile_script(vm: &Vm, sha: &[u8; 40], body: &[u8]) -> std::result::Result<Script, String> {
    let (flags, at) = parse_eval_shebang(body)?;
    let func = vm
        .compile(&body[at..], "@user_script")
        .map_err(|m| format!("ERR Error compiling script (new function): {m}"))?;
    vm.store.put_named(sha, &func).map_err(|e| format!("ERR {}", plain_text(&e)))?;
    Ok(Script { flags })
}

/// The text of a failed library body (`luaExtractErrorInformation` on a bare pcall error).
fn load_error_text(vm: &Vm, v: Value) -> String {
    let v = match crate::error::error_value(&vm.lua, v) {
        Ok(v) => v,
        Err(e) => {
            return match find_raise(&e) {
                Some(Raise::Abort(a)) => a.message(),
                _ => format!("ERR {}", plain_text(&e)),
            }
        }
    };
    match &v {
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        Value::Integer(_) | Value::Number(_) => {
            format!(
                "ERR {}",
                vm.lua.coerce_string(v.clone()).ok().flatten().map(|s| s.to_string_lossy()).unwrap_or_default()
            )
        }
        Value::Table(t) => field_text(vm, t, "err").unwrap_or_else(|| "ERR unknown error".into()),
        _ => "ERR unknown error".into(),
    }
}

/// A field of an error table as text, if it is a string or a number (`lua_isstring`).
fn field_text(vm: &Vm, t: &mlua::Table, field: &str) -> Option<String> {
    match t.get::<Value>(field).ok()? {
        Value::String(s) => Some(s.to_string_lossy()),
        v @ (Value::Integer(_) | Value::Number(_)) => {
            vm.lua.coerce_string(v).ok().flatten().map(|s| s.to_string_lossy())
        }
        _ => None,
    }
}

struct Outcome {
    result: Result<()>,
    memory_error: bool,
}

/// Writes a script's result, or builds its error (`ERR ... script: <name>, on
/// @user_script:<line>.`).
fn finish(
    lua: &mlua::Lua,
    res: mlua::Result<(bool, Value)>,
    name: &str,
    out: &mut Vec<u8>,
    proto: ReplyProto,
    memory_limit: usize,
) -> Outcome {
    let memory_text =
        |msg: &str| format!("ERR Error running script {name}, {msg} (the Lua memory limit is {memory_limit} bytes)");
    // An error table from `redis.call` / `redis.pcall` was counted when its command failed.
    let counted = |t: &mlua::Table| matches!(t.raw_get::<Value>("ignore_error_stats_update"), Ok(Value::Boolean(true)));
    match res {
        Ok((true, v)) => {
            if matches!(&v, Value::Table(t) if counted(t)) {
                ferrous_core::scripting::mark_error_counted();
            }
            let mark = out.len();
            match lua_to_reply(lua, &v, out, proto) {
                Ok(()) => Outcome { result: Ok(()), memory_error: false },
                Err(e) => {
                    out.truncate(mark);
                    let mem = crate::error::is_memory_error(&e);
                    let text = if mem { memory_text("not enough memory") } else { format!("ERR {}", plain_text(&e)) };
                    Outcome { result: Err(err(text)), memory_error: mem }
                }
            }
        }
        Ok((false, Value::Table(t))) => {
            if counted(&t) {
                ferrous_core::scripting::mark_error_counted();
            }
            let get = |field: &str| -> Option<String> {
                match t.get::<Value>(field).ok()? {
                    Value::String(s) => Some(s.to_string_lossy()),
                    Value::Integer(i) => Some(i.to_string()),
                    Value::Number(n) => Some(crate::fmt::fmt_g(n, 14)),
                    _ => None,
                }
            };
            let msg = get("err").unwrap_or_else(|| "ERR unknown error".into());
            let memory = msg.contains("not enough memory");
            let mut text = if memory { memory_text(&msg) } else { msg };
            if !memory {
                if let (Some(source), Some(line)) = (get("source"), get("line")) {
                    text.push_str(&format!(" script: {name}, on {source}:{line}."));
                }
            }
            Outcome { result: Err(err(text)), memory_error: memory }
        }
        Ok((false, v)) => {
            let msg = match &v {
                Value::String(s) => s.to_string_lossy(),
                _ => "execution failure".into(),
            };
            let memory = msg.contains("not enough memory");
            let text = if memory {
                memory_text(&msg)
            } else {
                let short: String = msg.chars().take(100).collect();
                format!("ERR Error running script {name}, {short}")
            };
            Outcome { result: Err(err(text)), memory_error: memory }
        }
        Err(e) => {
            let memory = crate::error::is_memory_error(&e);
            let text = if memory {
                memory_text("not enough memory")
            } else {
                format!("ERR Error running script {name}, {}", plain_text(&e))
            };
            Outcome { result: Err(err(text)), memory_error: memory }
        }
    }
}

impl ScriptEngine for LuaEngine {
    fn command(&self, call: ScriptCall<'_>) -> Result<()> {
        let ScriptCall { db, client, args, out, held } = call;
        contained(out, |out| self.dispatch(ScriptCall { db, client, args, out, held }))
    }

    fn library_sources(&self) -> Vec<Vec<u8>> {
        let st = self.state.lock();
        st.registry.libraries.values().map(|l| l.code.clone()).collect()
    }

    fn memory(&self) -> ScriptMemory {
        // Never waits: the caller may be a script holding the states (INFO from Lua), or
        // another client while a slow script runs.
        match self.state.try_lock() {
            Some(st) => {
                let m = Self::measure(&st);
                drop(st);
                *self.last_memory.lock() = m;
                m
            }
            None => *self.last_memory.lock(),
        }
    }

    fn load_libraries(&self, sources: &[Vec<u8>], replace_all: bool) -> Result<()> {
        let mut st = self.state.lock();
        let policy = if replace_all { RestorePolicy::Flush } else { RestorePolicy::Append };
        self.restore_codes(&mut st, sources, policy).map_err(err)
    }

    fn debug_session(
        &self,
        db: &ferrous_core::Database,
        client: ferrous_core::ClientState,
        conn: ferrous_core::scripting::DebugConnection,
        req: ferrous_core::scripting::DebugRequest,
    ) {
        let config = self.config.clone();
        if req.sync {
            // Blocks this thread (and the dataset, while the script runs), as Redis does.
            crate::debugger::run_session(db, client, conn, req, config);
            return;
        }
        let (id, session_db) = (client.id(), db.clone());
        let spawned = std::thread::Builder::new()
            .name("ferrous-ldb".into())
            .spawn(move || crate::debugger::run_session(&session_db, client, conn, req, config));
        if spawned.is_err() {
            // The connection went with the closure: the client sees it close.
            db.inner().clients.unregister(id);
        }
    }
}

impl LuaEngine {
    fn dispatch(&self, call: ScriptCall<'_>) -> Result<()> {
        let name = lower(call.args.at(0));
        match name.as_slice() {
            b"eval" => self.eval(call, false, false),
            b"evalsha" => self.eval(call, true, false),
            b"eval_ro" => self.eval(call, false, true),
            b"evalsha_ro" => self.eval(call, true, true),
            b"fcall" => self.fcall(call, false),
            b"fcall_ro" => self.fcall(call, true),
            b"script" => self.script(call),
            b"function" => self.function(call),
            _ => Err(ferrous_core::commands::unknown_command(&call.args)),
        }
    }
}

/// The engine is shared between the server's event-loop threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<LuaEngine>();
}
