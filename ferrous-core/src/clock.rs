//! Time source. Expiry compares absolute Unix-millisecond deadlines against a [`Clock`];
//! tests install a [`ManualClock`] to move time without sleeping.
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current Unix time in milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Microseconds since the Unix epoch (defaults to `now_ms * 1000`).
    fn now_us(&self) -> i64 {
        self.now_ms() * 1000
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        self.now_us() / 1000
    }
    fn now_us(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
    }
}

/// A clock that only moves when told to; starts at the current wall time.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock(AtomicI64::new(SystemClock.now_ms()))
    }
}

impl ManualClock {
    /// A manual clock starting at `ms`.
    pub fn at(ms: i64) -> Self {
        ManualClock(AtomicI64::new(ms))
    }
    /// Moves time forward by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the time.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

thread_local!(static BATCH_NOW: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) });

/// Runs `f` with the command time fixed at `now_ms` for every command dispatched on this
/// thread meanwhile. The server reads the clock once per batch of pipelined commands
/// instead of once per command, as Redis caches its time per event-loop iteration.
pub fn with_batch_time<R>(now_ms: i64, f: impl FnOnce() -> R) -> R {
    crate::latency::batch_started();
    let prev = BATCH_NOW.with(|c| c.replace(Some(now_ms)));
    let r = f();
    BATCH_NOW.with(|c| c.set(prev));
    r
}

/// The batch time set by [`with_batch_time`], if any.
#[inline]
pub fn batch_now() -> Option<i64> {
    BATCH_NOW.with(|c| c.get())
}
