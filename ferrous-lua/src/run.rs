//! The state of the script running on this thread, and the instruction hook.
//!
//! `redis.call` and the hook are registered once per Lua state, but they act on the run in
//! progress: its [`ScriptRunner`] (which holds every shard), its read-only mode, its start
//! time. That run lives on the stack of `LuaEngine::command`, so it is published for the
//! duration of the call in a thread-local ([`ActiveRun`]): Lua calls back into Rust on the
//! thread that called into Lua, and a run never outlives the call that installed it.
//!
//! What other threads need while a script runs (SCRIPT KILL, FUNCTION KILL, FUNCTION STATS)
//! is in [`Shared`], made of atomics and a small mutex, never the engine's Lua lock.
use crate::error::{Abort, Raise};
use ferrous_core::scripting::{BusyKind, ScriptRunner};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Instructions between two hook calls (Redis uses the same count).
pub(crate) const HOOK_EVERY: u32 = 100_000;

/// FUNCTION LOAD's time budget (Redis's `LOAD_TIMEOUT_MS`).
pub(crate) const LOAD_TIMEOUT_MS: u128 = 500;

/// What kind of code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// EVAL / EVALSHA and their `_RO` forms.
    Eval,
    /// FCALL / FCALL_RO.
    Function,
    /// The body of a library during FUNCTION LOAD (no commands may run).
    Load,
}

// Bits of `Shared::state` (the generation lives above them).
const RUNNING_EVAL: u64 = 1;
const RUNNING_FUNCTION: u64 = 2;
const WROTE: u64 = 4;
const KILL: u64 = 8;
const GEN_SHIFT: u32 = 8;

/// Engine state visible from other threads.
#[derive(Default)]
pub(crate) struct Shared {
    /// `generation << 8 | flags`: which run is in progress, whether it wrote, whether it was
    /// asked to stop. Updated with compare-and-swap so that a kill never lands after a write
    /// (the script would be stopped half-way) and never hits the next run.
    state: AtomicU64,
    /// The running function, for FUNCTION STATS.
    pub(crate) running: Mutex<Option<RunningFunction>>,
}

/// FUNCTION STATS's `running_script`.
pub(crate) struct RunningFunction {
    pub(crate) name: String,
    pub(crate) command: Vec<Vec<u8>>,
    pub(crate) started: Instant,
}

/// Result of a kill request.
pub(crate) enum KillOutcome {
    Killed,
    NotBusy,
    /// A script of the other kind runs (SCRIPT KILL while a function runs...).
    WrongKind,
    Unkillable,
}

impl Shared {
    /// Marks a new run; returns its generation.
    pub(crate) fn begin(&self, kind: RunKind) -> u64 {
        let bit = if kind == RunKind::Function { RUNNING_FUNCTION } else { RUNNING_EVAL };
        let gen = (self.state.load(Ordering::Acquire) >> GEN_SHIFT) + 1;
        self.state.store((gen << GEN_SHIFT) | bit, Ordering::Release);
        gen
    }

    /// Marks the end of the run.
    pub(crate) fn end(&self) {
        let gen = self.state.load(Ordering::Acquire) >> GEN_SHIFT;
        self.state.store(gen << GEN_SHIFT, Ordering::Release);
        *self.running.lock() = None;
    }

    /// Records that the running script is about to write; fails if it was killed already
    /// (the write must not happen then).
    pub(crate) fn mark_write(&self) -> bool {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & KILL != 0 {
                return false;
            }
            if cur & WROTE != 0 {
                return true;
            }
            match self.state.compare_exchange_weak(cur, cur | WROTE, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// True when the run of generation `gen` was asked to stop.
    pub(crate) fn killed(&self, gen: u64) -> bool {
        let s = self.state.load(Ordering::Acquire);
        s >> GEN_SHIFT == gen && s & KILL != 0
    }

    /// SCRIPT KILL (`eval == true`) or FUNCTION KILL.
    pub(crate) fn kill(&self, eval: bool) -> KillOutcome {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let running = cur & (RUNNING_EVAL | RUNNING_FUNCTION);
            if running == 0 {
                return KillOutcome::NotBusy;
            }
            if (running == RUNNING_EVAL) != eval {
                return KillOutcome::WrongKind;
            }
            if cur & WROTE != 0 {
                return KillOutcome::Unkillable;
            }
            match self.state.compare_exchange_weak(cur, cur | KILL, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return KillOutcome::Killed,
                Err(now) => cur = now,
            }
        }
    }

    /// What runs right now, if anything.
    pub(crate) fn running_kind(&self) -> Option<RunKind> {
        let s = self.state.load(Ordering::Acquire);
        if s & RUNNING_EVAL != 0 {
            Some(RunKind::Eval)
        } else if s & RUNNING_FUNCTION != 0 {
            Some(RunKind::Function)
        } else {
            None
        }
    }
}

/// The run in progress on this thread.
pub(crate) struct ActiveRun {
    /// The runner of `Database::run_atomically` (null during FUNCTION LOAD). Valid for as long
    /// as this `ActiveRun` is installed: [`RunGuard`] removes it before the runner's scope ends.
    runner: *mut ScriptRunner<'static>,
    pub(crate) kind: RunKind,
    /// EVAL_RO / FCALL_RO / a `no-writes` script.
    pub(crate) read_only: bool,
    /// Run inside MULTI/EXEC (the caller holds the locks; no BUSY handling).
    pub(crate) held: bool,
    pub(crate) started: Instant,
    /// `busy-reply-threshold` in ms (0: never busy).
    pub(crate) busy_after_ms: u64,
    busy_flagged: bool,
    pub(crate) gen: u64,
    pub(crate) shared: std::sync::Arc<Shared>,
    /// Instructions executed so far (counted by the hook, in steps of [`HOOK_EVERY`]).
    instructions: u64,
    pub(crate) instruction_limit: Option<u64>,
    /// Set once the run is being stopped; every later hook call and catch re-raises it.
    pub(crate) aborted: Option<Abort>,
    /// Reused reply buffer of `redis.call`.
    pub(crate) reply: Vec<u8>,
    /// Functions registered so far (FUNCTION LOAD only).
    pub(crate) registered: Vec<crate::functions::Registered>,
}

thread_local! {
    static ACTIVE: RefCell<Option<ActiveRun>> = const { RefCell::new(None) };
}

/// Parameters of a new run.
pub(crate) struct RunParams {
    pub(crate) kind: RunKind,
    pub(crate) read_only: bool,
    pub(crate) held: bool,
    pub(crate) busy_after_ms: u64,
    pub(crate) gen: u64,
    pub(crate) shared: std::sync::Arc<Shared>,
    pub(crate) instruction_limit: Option<u64>,
}

/// Removes the active run when dropped.
pub(crate) struct RunGuard(());

impl Drop for RunGuard {
    fn drop(&mut self) {
        ACTIVE.with(|a| {
            if let Ok(mut a) = a.try_borrow_mut() {
                *a = None;
            }
        });
    }
}

/// True if a run is active on this thread (a nested engine call would deadlock).
pub(crate) fn is_active() -> bool {
    ACTIVE.with(|a| a.try_borrow().map(|a| a.is_some()).unwrap_or(true))
}

/// Installs a run for the current thread. `runner` must outlive the returned guard.
pub(crate) fn install(params: RunParams, runner: Option<&mut ScriptRunner<'_>>) -> RunGuard {
    let runner = match runner {
        // Only the lifetime changes; the guard removes the pointer before `runner` goes away.
        Some(r) => std::ptr::from_mut(r).cast::<ScriptRunner<'static>>(),
        None => std::ptr::null_mut(),
    };
    let run = ActiveRun {
        runner,
        kind: params.kind,
        read_only: params.read_only,
        held: params.held,
        started: Instant::now(),
        busy_after_ms: params.busy_after_ms,
        busy_flagged: false,
        gen: params.gen,
        shared: params.shared,
        instructions: 0,
        instruction_limit: params.instruction_limit,
        aborted: None,
        reply: Vec::new(),
        registered: Vec::new(),
    };
    ACTIVE.with(|a| *a.borrow_mut() = Some(run));
    RunGuard(())
}

/// Runs `f` with the active run (`None` outside any run, or if it is already borrowed).
pub(crate) fn with_active<R>(f: impl FnOnce(Option<&mut ActiveRun>) -> R) -> R {
    ACTIVE.with(|a| match a.try_borrow_mut() {
        Ok(mut guard) => f(guard.as_mut()),
        Err(_) => f(None),
    })
}

/// True when the running script switched to RESP3 (`redis.setresp(3)`).
pub(crate) fn script_resp3() -> bool {
    with_active(|a| a.and_then(|a| a.runner()).map(|r| r.client.resp == 3)).unwrap_or(false)
}

/// Takes the functions registered during a FUNCTION LOAD.
pub(crate) fn take_registered() -> Vec<crate::functions::Registered> {
    with_active(|a| a.map(|a| std::mem::take(&mut a.registered)).unwrap_or_default())
}

impl ActiveRun {
    /// The runner (`None` during FUNCTION LOAD).
    pub(crate) fn runner(&mut self) -> Option<&mut ScriptRunner<'static>> {
        // SAFETY: `runner` is null or points to the `ScriptRunner` passed to `install`, which
        // outlives this `ActiveRun` (removed by `RunGuard` first). Access goes through the
        // thread-local `RefCell`, so there is never a second reference to it at the same time.
        unsafe { self.runner.as_mut() }
    }

    /// Stops the run if it was aborted or killed, or ran past its limits; marks the database
    /// busy once the run exceeds `busy-reply-threshold`. Called by the hook, which gets the
    /// database back while the run is busy (to serve other clients meanwhile).
    pub(crate) fn on_hook(&mut self) -> Result<Option<ferrous_core::Database>, Raise> {
        if let Some(a) = self.aborted {
            return Err(Raise::Abort(a));
        }
        self.instructions += HOOK_EVERY as u64;
        if self.kind == RunKind::Load {
            if self.started.elapsed().as_millis() > LOAD_TIMEOUT_MS {
                return Err(self.abort(Abort::LoadTimeout));
            }
            return Ok(None);
        }
        if self.shared.killed(self.gen) {
            return Err(self.abort(Abort::Killed));
        }
        if let Some(limit) = self.instruction_limit {
            if self.instructions >= limit {
                return Err(self.abort(Abort::InstructionLimit(limit)));
            }
        }
        if !self.busy_flagged && !self.held && self.busy_after_ms > 0 {
            let elapsed = self.started.elapsed().as_millis() as u64;
            if elapsed >= self.busy_after_ms {
                self.busy_flagged = true;
                let kind = if self.kind == RunKind::Function { BusyKind::Function } else { BusyKind::Script };
                if let Some(r) = self.runner() {
                    r.database().set_busy(kind);
                }
            }
        }
        if self.busy_flagged {
            return Ok(self.runner().map(|r| r.database().clone()));
        }
        Ok(None)
    }

    /// Checks for a pending stop (used after every catch in the script).
    pub(crate) fn check_abort(&mut self) -> Result<(), Raise> {
        if let Some(a) = self.aborted {
            return Err(Raise::Abort(a));
        }
        if self.kind != RunKind::Load && self.shared.killed(self.gen) {
            return Err(self.abort(Abort::Killed));
        }
        Ok(())
    }

    fn abort(&mut self, a: Abort) -> Raise {
        self.aborted = Some(a);
        Raise::Abort(a)
    }
}
