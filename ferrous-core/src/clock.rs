//! Time source. Expiry compares absolute Unix-millisecond deadlines against a [`Clock`];
//! tests install a [`ManualClock`] to move time without sleeping.
//!
//! Reading the wall clock is the largest single cost of an in-process GET of a hot key
//! (`clock_gettime` through the vDSO plus `SystemTime`'s conversions, about half of the call
//! when measured), so [`SystemClock`] reads `CLOCK_REALTIME` directly, and [`Clock::coarse_ms`]
//! offers the kernel's tick-granular clock for reads that only need the time to decide that
//! a deadline is far away (see [`COARSE_LAG_MS`]) and to refresh a key's LRU clock.
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
    /// A cheaper reading that is never ahead of [`Clock::now_ms`] and at most
    /// [`COARSE_LAG_MS`] behind it. A deadline later than `coarse_ms() + COARSE_LAG_MS` has
    /// certainly not passed; anything closer must be decided with `now_ms`. Defaults to
    /// `now_ms` (exact clocks, such as [`ManualClock`], need nothing cheaper).
    fn coarse_ms(&self) -> i64 {
        self.now_ms()
    }
}

/// The most [`Clock::coarse_ms`] may lag behind [`Clock::now_ms`]. The system's coarse clock
/// is the time of the last timer tick (1 to 10 ms old, by the kernel's `HZ`); the margin
/// covers a late tick several times over.
pub const COARSE_LAG_MS: i64 = 50;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// `clock_gettime(id)` as (seconds, nanoseconds); `None` if the clock cannot be read.
#[inline]
fn read_clock(id: libc::clockid_t) -> Option<(i64, i64)> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    // `time_t` and `c_long` are 32-bit on some targets.
    #[allow(clippy::unnecessary_cast)]
    let (s, ns) = (ts.tv_sec as i64, ts.tv_nsec as i64);
    (rc == 0).then_some((s, ns))
}

/// The wall clock through `std` (only if `clock_gettime` fails, which Linux never does
/// for these clocks).
#[cold]
fn std_now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

impl Clock for SystemClock {
    #[inline]
    fn now_ms(&self) -> i64 {
        match read_clock(libc::CLOCK_REALTIME) {
            Some((s, ns)) => s * 1000 + ns / 1_000_000,
            None => std_now_us() / 1000,
        }
    }
    #[inline]
    fn now_us(&self) -> i64 {
        match read_clock(libc::CLOCK_REALTIME) {
            Some((s, ns)) => s * 1_000_000 + ns / 1000,
            None => std_now_us(),
        }
    }
    #[inline]
    fn coarse_ms(&self) -> i64 {
        // The tick-granular clock costs a few loads in the vDSO instead of a TSC read and
        // its conversion.
        match read_clock(libc::CLOCK_REALTIME_COARSE) {
            Some((s, ns)) => s * 1000 + ns / 1_000_000,
            None => self.now_ms(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_agrees_with_std() {
        let before = std_now_us();
        let us = SystemClock.now_us();
        let ms = SystemClock.now_ms();
        let after = std_now_us();
        assert!(before <= us && us <= after, "{before} <= {us} <= {after}");
        assert!(before / 1000 <= ms && ms <= after / 1000, "{before} <= {ms}000 <= {after}");
    }

    #[test]
    fn coarse_is_never_ahead_and_lags_less_than_the_margin() {
        for _ in 0..1000 {
            // Read in this order, a pause between the reads can only shrink the lag
            // measured (`before - coarse`) and widen the window (`coarse <= after`).
            let before = SystemClock.now_ms();
            let coarse = SystemClock.coarse_ms();
            let after = SystemClock.now_ms();
            assert!(coarse <= after, "coarse {coarse} ahead of {after}");
            assert!(before - coarse < COARSE_LAG_MS, "coarse {coarse} lags {before} by more than the margin");
        }
        let manual = ManualClock::at(1234);
        assert_eq!(manual.coarse_ms(), 1234);
    }
}
