//! Memory accounting: how many bytes a Database uses (`used_memory`), for INFO, MEMORY and
//! `maxmemory`.
//!
//! Two sources, chosen at run time:
//!
//! - **The counting allocator** ([`CountingAlloc`]), exact. Redis counts every allocation
//!   through its `zmalloc` wrapper; Ferrous does the same with a `#[global_allocator]` that
//!   wraps the system allocator. The server binary installs it; a program embedding a
//!   Database may install it too (then `used_memory` is the process's heap, as Redis's is
//!   the server process's). Each thread batches its count in a thread-local and publishes it
//!   to one atomic when it moves by more than [`FLUSH_BYTES`], so the hot path costs a
//!   thread-local add and the total is off by at most that much per thread.
//! - **An estimate**, when the allocator is not installed (a library should not impose a
//!   global allocator on its host): every shard's table and entry sizes plus the heap of a
//!   sample of its values, scaled to the shard's size ([`estimate`]). It is refreshed by the
//!   Database's background thread and, while `maxmemory` is set, after every
//!   [`ESTIMATE_EVERY_WRITES`] writes; eviction subtracts what it frees as it goes.
use crate::db::Inner;
use crate::dict::Node;
use crate::keyspace::SHARDS;
use crate::value::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};

/// Bytes a thread may count before publishing them to the shared total.
pub const FLUSH_BYTES: i64 = 32 * 1024;

/// While `maxmemory` is set and the allocator is not counting, the estimate is refreshed at
/// least every this many writes.
pub const ESTIMATE_EVERY_WRITES: u64 = 256;

static ALLOCATED: AtomicI64 = AtomicI64::new(0);
static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's bytes not yet published to [`ALLOCATED`].
    static PENDING: Cell<i64> = const { Cell::new(0) };
}

/// A global allocator that counts the bytes it hands out: install it with
/// `#[global_allocator] static A: ferrous_core::memory::CountingAlloc = ferrous_core::memory::CountingAlloc;`
/// and `used_memory` becomes exact.
///
/// Counted per allocation is its usable size under glibc's malloc (the request rounded up
/// so that it plus the 8-byte chunk header is a multiple of 16, 24 bytes at least): what
/// Redis counts, `malloc_usable_size`, when built with the system allocator.
pub struct CountingAlloc;

#[inline]
fn charge(size: usize) -> i64 {
    (((size + 8 + 15) & !15).max(32) - 8) as i64
}

#[inline]
fn count(delta: i64) {
    let published = PENDING.try_with(|p| {
        let v = p.get() + delta;
        if v.abs() >= FLUSH_BYTES {
            ALLOCATED.fetch_add(v, Relaxed);
            p.set(0);
        } else {
            p.set(v);
        }
    });
    if published.is_err() {
        // The thread is exiting: count directly.
        ALLOCATED.fetch_add(delta, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counting on the side touches only a const-initialized thread-local `Cell` and an atomic,
// which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(charge(layout.size()));
        }
        p
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(charge(layout.size()));
        }
        p
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        count(-charge(layout.size()));
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(charge(new_size) - charge(layout.size()));
        }
        p
    }
}

impl CountingAlloc {
    /// Marks the allocator as installed: call once from `main` of a program that made it
    /// the `#[global_allocator]` (Ferrous cannot tell otherwise), before building a
    /// Database. Until then `used_memory` is the estimate.
    pub fn activate() {
        ACTIVE.store(true, Relaxed);
    }
}

/// True when [`CountingAlloc`] is installed and activated.
#[inline]
pub fn counting() -> bool {
    ACTIVE.load(Relaxed)
}

/// Bytes the counting allocator holds, including this thread's unpublished count.
#[inline]
pub fn allocated() -> u64 {
    let own = PENDING.try_with(Cell::get).unwrap_or(0);
    (ALLOCATED.load(Relaxed) + own).max(0) as u64
}

/// Publishes this thread's pending count (a thread about to exit, or a test that wants an
/// exact figure).
pub fn flush_thread() {
    let _ = PENDING.try_with(|p| {
        ALLOCATED.fetch_add(p.replace(0), Relaxed);
    });
}

/// Per-Database accounting state.
#[derive(Default)]
pub struct MemoryState {
    /// The last estimate (bytes), when the allocator is not counting.
    pub(crate) estimate: AtomicU64,
    /// `dirty` when the estimate was last refreshed.
    pub(crate) estimated_at: AtomicU64,
    /// `used_memory` when the Database was built (INFO `used_memory_startup`).
    pub startup: AtomicU64,
    /// Highest `used_memory` seen.
    pub peak: AtomicU64,
}

/// The bytes this Database uses: the counting allocator's total when installed, otherwise
/// the estimate.
pub fn used_memory(inner: &Inner) -> u64 {
    let used = if counting() { allocated() } else { inner.memory.estimate.load(Relaxed) };
    inner.memory.peak.fetch_max(used, Relaxed);
    used
}

/// Refreshes the estimate now (no-op when the allocator counts).
pub fn refresh_estimate(inner: &Inner) {
    if counting() {
        return;
    }
    inner.memory.estimated_at.store(inner.dirty.load(Relaxed), Relaxed);
    inner.memory.estimate.store(estimate(inner), Relaxed);
}

/// Refreshes the estimate if enough writes happened since the last one.
pub(crate) fn refresh_estimate_if_stale(inner: &Inner) {
    if counting() {
        return;
    }
    let dirty = inner.dirty.load(Relaxed);
    if dirty.wrapping_sub(inner.memory.estimated_at.load(Relaxed)) >= ESTIMATE_EVERY_WRITES {
        refresh_estimate(inner);
    }
}

/// Takes `bytes` off the estimate (eviction freed them).
pub(crate) fn estimate_freed(inner: &Inner, bytes: u64) {
    let _ = inner.memory.estimate.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(bytes)));
}

/// Values sampled per shard to estimate the heap they own.
const ESTIMATE_SAMPLES: usize = 16;

/// Bytes one entry of the keyspace costs: its node, the heap of its key and value.
pub fn entry_bytes(node: &Node<Value>) -> u64 {
    (std::mem::size_of::<Node<Value>>() + 16 + node.key.heap_size() + node.value.heap_size()) as u64
}

/// The estimate: per shard, the table and entry sizes plus the heap of a random sample of
/// its values scaled to the shard's size, and per-client state.
pub fn estimate(inner: &Inner) -> u64 {
    let mut rng = rand::thread_rng();
    let mut total = std::mem::size_of::<Inner>() as u64;
    for db in 0..inner.db_count() {
        let ks = inner.keyspace(db);
        for i in 0..SHARDS {
            let shard = ks.shard_at(i).read();
            let mut bytes = std::mem::size_of_val(&*shard) as u64;
            bytes += (shard.dict.buckets() * std::mem::size_of::<usize>()) as u64;
            bytes += shard.volatile_bytes() as u64;
            let n = shard.dict.len();
            if n <= ESTIMATE_SAMPLES {
                bytes += shard.dict.iter().map(entry_bytes).sum::<u64>();
            } else {
                let sampled: u64 =
                    (0..ESTIMATE_SAMPLES).filter_map(|_| shard.dict.random(&mut rng)).map(entry_bytes).sum();
                bytes += sampled * n as u64 / ESTIMATE_SAMPLES as u64;
            }
            total += bytes;
        }
    }
    for c in inner.clients.all() {
        total +=
            (std::mem::size_of::<crate::client::ClientInfo>() + c.qbuf.load(Relaxed) + c.obuf.load(Relaxed)) as u64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn charge_is_glibc_usable_size() {
        assert_eq!(charge(0), 24);
        assert_eq!(charge(24), 24);
        assert_eq!(charge(25), 40);
        assert_eq!(charge(100), 104);
        assert_eq!(charge(104), 104);
    }
}
