//! The scripting hook: core defines [`ScriptEngine`]; `ferrous-lua` implements it; the
//! facade crate and the server install it with [`Database::set_script_engine`].
//!
//! EVAL, EVALSHA, FCALL, SCRIPT and FUNCTION (and their `_RO` forms) are handled by the
//! engine. A script runs inside [`Database::run_atomically`]: every shard of the
//! databases it touches is write-locked for its duration (so no client on any thread observes part of
//! it, and it may touch keys it did not declare, as Redis allows), and its `redis.call`s go
//! through the same command table as clients' commands via [`ScriptRunner::call`].
//!
//! While a script runs past `busy-reply-threshold`, the engine marks the database busy;
//! dispatch then answers other clients' commands with `BUSY` instead of waiting for the
//! locks, except those flagged `allow-busy` (SCRIPT KILL, FUNCTION KILL, SHUTDOWN NOSAVE).
use crate::client::ClientState;
use crate::commands::{self, CommandSpec};
use crate::db::Database;
use crate::error::{Error, Result};
use ferrous_resp::Args;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// One scripting command to run.
pub struct ScriptCall<'a> {
    /// The database.
    pub db: &'a Database,
    /// The calling client.
    pub client: &'a mut ClientState,
    /// The full command (`EVAL script numkeys key... arg...`).
    pub args: Args<'a>,
    /// Where the reply goes (in the client's protocol).
    pub out: &'a mut Vec<u8>,
    /// True when the caller already holds every shard (EVAL inside MULTI/EXEC).
    pub held: bool,
}

/// A scripting engine (Lua).
pub trait ScriptEngine: Send + Sync + 'static {
    /// Runs EVAL/EVALSHA/EVAL_RO/EVALSHA_RO/FCALL/FCALL_RO or a SCRIPT/FUNCTION subcommand.
    /// An `Err` becomes the error reply.
    fn command(&self, call: ScriptCall<'_>) -> Result<()>;
    /// The source code of every loaded function library (what an RDB file stores).
    fn library_sources(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// Loads function libraries read from an RDB file; `replace_all` drops every existing
    /// library first (start-up, DEBUG RELOAD). An `Err` carries Redis's text.
    fn load_libraries(&self, sources: &[Vec<u8>], replace_all: bool) -> Result<()> {
        let _ = replace_all;
        if sources.is_empty() {
            Ok(())
        } else {
            Err(Error::msg("ERR no scripting engine to load functions"))
        }
    }
    /// Runs a Lua debugger session (see [`DebugRequest`]) for `client` on `conn`, then
    /// closes the connection and unregisters the client. May return before the session
    /// ends (`SCRIPT DEBUG YES` sessions run on their own thread). The default closes the
    /// connection.
    fn debug_session(&self, db: &Database, client: ClientState, conn: DebugConnection, req: DebugRequest) {
        let _ = (req, conn);
        db.disconnect(&client);
    }
    /// The engine's memory and sizes (INFO memory, MEMORY STATS). Must not wait for a
    /// running script (INFO may be called by one): an engine that is busy answers its last
    /// measurement. The default (no Lua state at all) is zeros.
    fn memory(&self) -> ScriptMemory {
        ScriptMemory::default()
    }
}

/// A scripting engine's memory and sizes, in Redis 7.0's INFO memory terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptMemory {
    /// Bytes of the Lua state EVAL scripts run in (`used_memory_vm_eval`, `used_memory_lua`).
    pub vm_eval: u64,
    /// Bytes of the Lua state functions run in (`used_memory_vm_functions`).
    pub vm_functions: u64,
    /// Bytes of the EVAL script cache outside the Lua state (`used_memory_scripts_eval`).
    pub scripts_eval: u64,
    /// Scripts in the EVAL cache (`number_of_cached_scripts`).
    pub cached_scripts: u64,
    /// Bytes of the function libraries outside the Lua state (`used_memory_functions`).
    pub functions_overhead: u64,
    /// Loaded functions (`number_of_functions`).
    pub functions: u64,
    /// Loaded libraries (`number_of_libraries`).
    pub libraries: u64,
}

/// What a running script is (for the BUSY error text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BusyKind {
    /// Nothing running past the threshold.
    Idle = 0,
    /// An EVAL script.
    Script = 1,
    /// A FUNCTION.
    Function = 2,
}

/// Runs commands for a script while every shard is held.
pub struct ScriptRunner<'a> {
    db: &'a Database,
    /// The script's own client (its selected db, protocol...).
    pub client: ClientState,
    /// True once a command of the script modified the dataset (SCRIPT KILL then refuses).
    pub wrote: bool,
}

impl ScriptRunner<'_> {
    /// Runs one command, appending its reply (in `self.client`'s protocol) to `out`.
    pub fn call(&mut self, args: Args<'_>, out: &mut Vec<u8>) {
        self.call_resolved(None, args, out)
    }

    /// [`ScriptRunner::call`] for a command already looked up (`spec` must be what
    /// [`crate::commands::CommandTable::resolve`] finds for `args`).
    pub fn call_resolved(&mut self, spec: Option<&'static CommandSpec>, args: Args<'_>, out: &mut Vec<u8>) {
        let before = self.db.inner.dirty.local();
        match spec {
            Some(spec) => commands::dispatch_held_resolved(self.db, &mut self.client, spec, args, out),
            None => commands::dispatch_held(self.db, &mut self.client, args, out),
        }
        if self.db.inner.dirty.local() != before {
            self.wrote = true;
        }
    }
    /// The database.
    pub fn database(&self) -> &Database {
        self.db
    }
}

thread_local! {
    /// The client of the last script run on this thread, with the address of its database's
    /// state: building a client allocates, and a script runs one per call.
    static SCRIPT_CLIENT: std::cell::RefCell<Option<(usize, ClientState)>> = const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// Set by the script engine when the error a script ends with (raised or returned) was
    /// already counted in the error statistics: an error of `redis.call` / `redis.pcall`
    /// (Redis's `ignore_error_stats_update`). The script's command then counts as failed
    /// without counting the error a second time.
    static ERROR_ALREADY_COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// For script engines: the error the running script ends with was already counted (see
/// [`ERROR_ALREADY_COUNTED`]).
pub fn mark_error_counted() {
    ERROR_ALREADY_COUNTED.set(true);
}

/// Takes the mark [`mark_error_counted`] set (the command table, after each command).
pub(crate) fn take_error_counted() -> bool {
    ERROR_ALREADY_COUNTED.replace(false)
}

/// Scripts one batch may run back to back before it lets other threads in (~0.3 ms of
/// short scripts).
const MAX_KEPT_RUNS: u32 = 256;

thread_local! {
    /// The database of the [`ScriptBatch`] open on this thread (null: none) and how many of
    /// its scripts have run since it last took the locks.
    static BATCH: std::cell::Cell<(*const crate::db::Inner, u32)> = const { std::cell::Cell::new((std::ptr::null(), 0)) };
}

/// While alive, consecutive scripts run on this thread for its database keep the dataset
/// locked between them: see [`Database::script_batch`].
pub struct ScriptBatch<'a> {
    /// Borrows the database (the kept locks must not outlive it); not `Send`: the batch is
    /// this thread's.
    _db: std::marker::PhantomData<(&'a Database, *const ())>,
}

impl Drop for ScriptBatch<'_> {
    fn drop(&mut self) {
        release_kept_locks();
        BATCH.set((std::ptr::null(), 0));
    }
}

/// Releases the locks a batch kept after its last script (nothing if it keeps none).
pub(crate) fn release_kept_locks() {
    crate::access::release_kept(|inner| inner.script_running.store(false, Relaxed));
}

/// True when a script of `db` that just ended may keep its locks for the next one.
fn batch_keeps(db: &Database) -> bool {
    let (batch_db, runs) = BATCH.get();
    if !std::ptr::eq(batch_db, &*db.inner) {
        return false;
    }
    let keep = runs + 1 < MAX_KEPT_RUNS;
    BATCH.set((batch_db, if keep { runs + 1 } else { 0 }));
    keep
}

/// True when a script's client is back in the state a fresh one starts in (apart from the
/// database and protocol, which every run sets).
fn reusable(c: &ClientState) -> bool {
    c.pubsub.is_none()
        && c.tracking.is_none()
        && !c.tx.in_multi()
        && !c.tx.aborted
        && !c.tx.in_exec
        && c.tx.watched.is_empty()
        && c.blocking.blocked.is_none()
        && !c.blocking.serving
        && !c.close_after_reply
        && c.reply_mode == crate::client::ReplyMode::On
}

/// Looks a command up in the table (for script restrictions: `noscript`, `write`...).
pub fn command_spec(name: &[u8]) -> Option<&'static CommandSpec> {
    commands::table().get(name)
}

impl Database {
    /// Installs the scripting engine.
    pub fn set_script_engine(&self, engine: Arc<dyn ScriptEngine>) {
        *self.inner.script_engine.write() = Some(engine);
    }

    /// The installed scripting engine.
    pub fn script_engine(&self) -> Option<Arc<dyn ScriptEngine>> {
        self.inner.script_engine.read().clone()
    }

    /// Runs `f` with every shard of every database write-locked (unless `already_held`),
    /// giving it a [`ScriptRunner`] whose client starts in `db_index` with protocol `resp`.
    pub fn run_atomically<R>(
        &self,
        db_index: usize,
        resp: u8,
        already_held: bool,
        f: impl FnOnce(&mut ScriptRunner<'_>) -> R,
    ) -> R {
        let guards = if already_held {
            None
        } else {
            Some(crate::access::HeldLocks::resume(&self.inner, db_index).unwrap_or_else(|| {
                let g = crate::access::HeldLocks::acquire(&self.inner, db_index);
                self.inner.script_running.store(true, Relaxed);
                g
            }))
        };
        let owner = std::ptr::from_ref(&*self.inner) as usize;
        let cached = SCRIPT_CLIENT.with(|c| c.borrow_mut().take()).filter(|(o, c)| *o == owner && reusable(c));
        let mut client = match cached {
            Some((_, c)) => c,
            None => self.inner.clients.transient(self.inner.clock.now_ms()),
        };
        client.db = db_index;
        client.resp = resp;
        client.acl = crate::acl::script_acl();
        client.blocking.disabled = true;
        let mut runner = ScriptRunner { db: self, client, wrote: false };
        let r = f(&mut runner);
        SCRIPT_CLIENT.with(|c| *c.borrow_mut() = Some((owner, runner.client)));
        if let Some(guards) = guards {
            self.set_busy(BusyKind::Idle);
            if batch_keeps(self) {
                // The batch's `Drop` (or the next command that is not a script) releases
                // them, and the batch borrows this database: it outlives the locks.
                guards.keep();
            } else {
                self.inner.script_running.store(false, Relaxed);
                drop(guards);
            }
        }
        r
    }

    /// Opens a script batch on this thread, for an event loop's turn: until the returned
    /// value is dropped, a script (EVAL, EVALSHA, FCALL and their `_RO` forms) that ends
    /// keeps the dataset locked for the next script run on this thread, up to 256 in a row,
    /// instead of handing it over between every two. Each script is as atomic as ever;
    /// other clients wait for the run of scripts instead of one, as they would wait for
    /// Redis's single thread. Any other command, a disconnection, serving blocked clients
    /// and the batch's end release the locks first.
    ///
    /// Handing the dataset over costs more than a short script itself when two threads run
    /// scripts (a futex wake-up, and the Lua state's memory moving between CPU caches).
    ///
    /// While a batch is open, this thread must reach the dataset only through
    /// [`Database::dispatch`] (the typed API would wait for the locks the batch keeps).
    #[doc(hidden)]
    pub fn script_batch(&self) -> ScriptBatch<'_> {
        release_kept_locks();
        BATCH.set((std::ptr::from_ref(&*self.inner), 0));
        ScriptBatch { _db: std::marker::PhantomData }
    }

    /// Marks a script as running past `busy-reply-threshold` (or idle again).
    pub fn set_busy(&self, kind: BusyKind) {
        self.inner.busy.store(kind as u8, Relaxed);
    }

    /// EVAL `script` with `keys` and `args`, returning the reply (errors as
    /// `RespValue::Error`). Needs a scripting engine (the `ferrous` facade installs Lua).
    pub fn eval<K: AsRef<[u8]>, A: AsRef<[u8]>>(&self, script: &str, keys: &[K], args: &[A]) -> ferrous_resp::Value {
        let n = keys.len().to_string();
        let argv: Vec<&[u8]> = [b"EVAL".as_slice(), script.as_bytes(), n.as_bytes()]
            .into_iter()
            .chain(keys.iter().map(|k| k.as_ref()))
            .chain(args.iter().map(|a| a.as_ref()))
            .collect();
        self.execute(argv)
    }

    /// EVALSHA `sha1` with `keys` and `args`.
    pub fn evalsha<K: AsRef<[u8]>, A: AsRef<[u8]>>(&self, sha1: &str, keys: &[K], args: &[A]) -> ferrous_resp::Value {
        let n = keys.len().to_string();
        let argv: Vec<&[u8]> = [b"EVALSHA".as_slice(), sha1.as_bytes(), n.as_bytes()]
            .into_iter()
            .chain(keys.iter().map(|k| k.as_ref()))
            .chain(args.iter().map(|a| a.as_ref()))
            .collect();
        self.execute(argv)
    }
}

/// Waits while a script holds the dataset; returns the BUSY error once it runs past the
/// threshold. Called before a command takes any lock, so an event-loop thread never
/// parks on a shard lock behind a long script and can still deliver SCRIPT KILL.
///
/// Most scripts run for a microsecond or two, so the wait spins a little first; then it
/// sleeps on the gate the script holds (released with the dataset, which wakes it), waking
/// every millisecond to see whether the script has turned BUSY. Yielding or sleeping for a
/// fixed time instead would burn the CPU the script's thread needs, or oversleep.
pub(crate) fn wait_for_script(db: &Database) -> Option<Error> {
    let mut spins = 0u32;
    while db.inner.script_running.load(Relaxed) {
        if let Some(e) = busy_error(db) {
            return Some(e);
        }
        if spins < SCRIPT_WAIT_SPINS {
            spins += 1;
            std::hint::spin_loop();
        } else if let Some(gate) = db.inner.cross_db.try_lock_for(crate::access::WAIT_SLICE) {
            drop(gate);
        }
    }
    None
}

thread_local! {
    /// Set while this thread serves other clients from inside a busy script.
    static SERVING_WHILE_BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while this thread serves other clients from inside a busy script
/// ([`Database::process_events_while_busy`]).
pub(crate) fn serving_while_busy() -> bool {
    SERVING_WHILE_BUSY.get()
}

/// If a script is busy, serves this thread's other clients once through the server's
/// hooks ([`ServerHooks::serve_while_busy`](crate::ServerHooks::serve_while_busy)); not
/// again from inside that.
pub(crate) fn serve_others_while_busy(inner: &crate::db::Inner) {
    if inner.busy.load(Relaxed) == 0 || SERVING_WHILE_BUSY.get() {
        return;
    }
    let hooks = inner.hooks.read().clone();
    if let Some(hooks) = hooks {
        SERVING_WHILE_BUSY.set(true);
        hooks.serve_while_busy();
        SERVING_WHILE_BUSY.set(false);
    }
}

/// Rounds `wait_for_script` spins before it sleeps.
const SCRIPT_WAIT_SPINS: u32 = 200;

/// Redis's reply while an EVAL script is busy.
pub const BUSY_SCRIPT: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// Redis's reply while a function is busy.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// The BUSY error for the current busy kind, if a script is busy.
pub(crate) fn busy_error(db: &Database) -> Option<Error> {
    match db.inner.busy.load(Relaxed) {
        1 => Some(Error::msg(BUSY_SCRIPT)),
        2 => Some(Error::msg(BUSY_FUNCTION)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The Lua debugger's connection hand-off (SCRIPT DEBUG YES|SYNC, then EVAL).

/// An EVAL that must run as a Lua debugger session: the engine saw `SCRIPT DEBUG YES|SYNC`
/// on the client, wrote no reply, set `close_after_reply` and parked this request with
/// [`request_debug_session`]. The connection's driver (the server) then takes it with
/// [`take_debug_session`] and hands the socket to [`ScriptEngine::debug_session`], which
/// talks to the client directly and closes the connection at the end, as Redis does.
#[derive(Debug, Clone)]
pub struct DebugRequest {
    /// The EVAL command (`EVAL script numkeys key... arg...`).
    pub args: Vec<Vec<u8>>,
    /// `SCRIPT DEBUG SYNC`: the session blocks the server and keeps the script's changes.
    /// Otherwise (`YES`) the script runs against a private copy of the data, discarded at
    /// the end, while the server keeps serving other clients (Redis forks for that).
    pub sync: bool,
}

/// The client's connection during a debug session.
pub struct DebugConnection {
    /// The socket, in blocking mode.
    pub stream: std::net::TcpStream,
    /// Bytes the client sent after the EVAL (debugger commands pipelined behind it).
    pub unread: Vec<u8>,
}

thread_local! {
    static DEBUG_REQUEST: std::cell::RefCell<Option<DebugRequest>> = const { std::cell::RefCell::new(None) };
}

/// For script engines: parks a debug session request for the connection whose command is
/// running on this thread (its client must also get `close_after_reply`, which is what
/// makes the driver look here).
pub fn request_debug_session(req: DebugRequest) {
    DEBUG_REQUEST.with(|r| *r.borrow_mut() = Some(req));
}

/// For connection drivers: the debug session the command just run asked for, if any. Only
/// worth calling when the client got `close_after_reply`.
pub fn take_debug_session() -> Option<DebugRequest> {
    DEBUG_REQUEST.with(|r| r.borrow_mut().take())
}
