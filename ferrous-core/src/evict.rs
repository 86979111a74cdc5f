//! `maxmemory`: eviction with Redis 7.0's approximated algorithms, and the per-key LRU/LFU
//! clock it reads.
//!
//! - **The access clock.** Every key's `meta` word has 24 bits for it, read as Redis reads
//!   `robj.lru`: under an LRU (or no) policy the LRU clock in seconds; under an LFU policy the
//!   last decrement time in minutes (16 bits) and a logarithmic access counter (8 bits),
//!   incremented with probability `1 / ((counter - 5) * lfu-log-factor + 1)` on each access
//!   and decremented by one per `lfu-decay-time` minutes idle. Which one applies is per
//!   Database; the shard code reads it from a thread-local that [`enter`] sets when an
//!   operation starts, so a key touch stays a couple of instructions.
//! - **Eviction.** Before each command while `maxmemory` is set (the dispatcher's alert
//!   bit [`crate::persistence::ALERT_MAXMEMORY`] makes it free otherwise), [`perform`] frees
//!   keys until `used_memory` is under the limit: the random policies pick a random key
//!   (round-robin over databases), the others keep Redis's eviction pool of 16 candidates,
//!   refilled with `maxmemory-samples` keys sampled per database and scored by idle time,
//!   `255 - frequency` or time to live, evicting the best. The loop stops after a time
//!   budget set by `maxmemory-eviction-tenacity` (the next command continues). An evicted
//!   key is propagated as DEL (UNLINK with `lazyfree-lazy-eviction`), notified as
//!   `evicted`, invalidates WATCH and client tracking, and counts in `evicted_keys`.
//! - When nothing can be evicted (`noeviction`, or a volatile policy without volatile
//!   keys), commands flagged `denyoom` get `-OOM command not allowed when used memory >
//!   'maxmemory'.`, as does an EXEC whose transaction queued one; inside a script, a
//!   `denyoom` command fails if memory was over the limit when the script started.
use crate::access::Access;
use crate::bytes::SmallBytes;
use crate::db::Inner;
use crate::keyspace::{lru_clock, lru_clock_fine, META_CLOCK_MASK, META_LRU_FRACTION, META_LRU_MASK, SHARDS};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};
use std::time::{Duration, Instant};

/// A new key's LFU counter (Redis's `LFU_INIT_VAL`), so it is not evicted at once.
pub const LFU_INIT_VAL: u32 = 5;
/// Candidates kept in the eviction pool (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// How often the list of non-empty shards is rebuilt.
const SHARD_LIST_TTL: Duration = Duration::from_millis(100);

/// The eight `maxmemory-policy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    /// Never evict; deny-oom commands fail.
    NoEviction = 0,
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// A random key with a TTL.
    VolatileRandom,
    /// The key with the nearest deadline.
    VolatileTtl,
    /// Least recently used among all keys.
    AllKeysLru,
    /// Least frequently used among all keys.
    AllKeysLfu,
    /// A random key.
    AllKeysRandom,
}

impl Policy {
    /// The policy of a `maxmemory-policy` value (`noeviction` for anything else).
    pub fn parse(s: &str) -> Policy {
        match s {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            _ => Policy::NoEviction,
        }
    }
    fn from_u8(v: u8) -> Policy {
        [
            Policy::NoEviction,
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
            Policy::AllKeysLru,
            Policy::AllKeysLfu,
            Policy::AllKeysRandom,
        ][v as usize & 7]
    }
    /// An LFU policy: keys carry access counters.
    pub fn lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllKeysLfu)
    }
    /// Only keys with a TTL are candidates.
    pub fn volatile(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }
    fn random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllKeysRandom)
    }
}

// ---------------------------------------------------------------------------------------
// The access clock

/// Bit of the packed mode word marking LFU; the low 32 bits hold `lfu-log-factor`, the
/// next 31 `lfu-decay-time`.
const MODE_LFU: u64 = 1 << 63;

thread_local! {
    /// The clock mode of the Database this thread operates on (0: LRU).
    static MODE: Cell<u64> = const { Cell::new(0) };
    /// Whether memory was over `maxmemory` when this thread's current top-level command
    /// started (scripts read it for the deny-oom commands they call).
    static OOM_AT_START: Cell<bool> = const { Cell::new(false) };
    /// Bumped by [`enter`]: one operation's touches of a key count once.
    static EPOCH: Cell<u64> = const { Cell::new(0) };
    /// The meta word last touched under LFU, and in which operation.
    static TOUCHED: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
    /// A small fast generator for the LFU counter's coin flips.
    static COIN: Cell<u64> = const { Cell::new(0x9E37_79B9_7F4A_7C15) };
}

/// Sets this thread's clock mode to `inner`'s (called when an operation starts).
#[inline]
pub(crate) fn enter(inner: &Inner) {
    let mode = inner.evict.mode.load(Relaxed);
    MODE.set(mode);
    if mode != 0 {
        EPOCH.set(EPOCH.get().wrapping_add(1));
    }
}

/// True under an LFU policy (for this thread's current Database).
#[inline]
pub fn lfu_active() -> bool {
    MODE.get() & MODE_LFU != 0
}

/// Marks `meta` as touched by the running operation (LFU): a command that looks a key up
/// several times, or creates it and then updates it, counts one access, as in Redis.
/// Returns false if it was already.
fn first_touch(meta: &AtomicU32) -> bool {
    let me = (meta as *const AtomicU32 as usize, EPOCH.get());
    TOUCHED.replace(me) != me
}

/// A key was just created by the running operation (LFU: its counter starts at
/// [`LFU_INIT_VAL`] and this operation's later lookups do not count).
#[inline]
pub fn created(meta: &AtomicU32) {
    if lfu_active() {
        first_touch(meta);
    }
}

/// The clock bits a value written over an existing key gets under LFU: the old key's
/// counter after this operation's access to it (Redis keeps the LFU data on overwrite, and
/// its write lookup counts as an access).
pub fn overwrite_clock(old: &AtomicU32, now_ms: i64) -> u32 {
    let m = old.load(Relaxed);
    if !first_touch(old) {
        return m & META_CLOCK_MASK;
    }
    let counter = lfu_log_incr(lfu_decr_and_return(m, now_ms, decay_time(MODE.get())), MODE.get() as u32);
    (lfu_minutes(now_ms) << 8) | counter
}

/// The meta clock bits of a key created now.
#[inline]
pub fn initial_clock(now_ms: i64) -> u32 {
    if MODE.get() & MODE_LFU == 0 {
        lru_clock_fine(now_ms)
    } else {
        (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
    }
}

/// Records an access to a key: the LRU clock, or the LFU counter's decay and increment.
#[inline]
pub fn touch(meta: &AtomicU32, now_ms: i64) {
    let mode = MODE.get();
    let m = meta.load(Relaxed);
    if mode & MODE_LFU == 0 {
        let lru = lru_clock_fine(now_ms);
        if m & META_CLOCK_MASK != lru {
            meta.store((m & !META_CLOCK_MASK) | lru, Relaxed);
        }
    } else if first_touch(meta) {
        let counter = lfu_log_incr(lfu_decr_and_return(m, now_ms, decay_time(mode)), mode as u32);
        meta.store((m & !META_CLOCK_MASK) | (lfu_minutes(now_ms) << 8) | counter, Relaxed);
    }
}

fn decay_time(mode: u64) -> u32 {
    ((mode >> 32) & 0x7FFF_FFFF) as u32
}

/// Minutes on Redis's 16-bit LFU clock.
#[inline]
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms.max(0) / 60_000) as u32) & 0xFFFF
}

/// The access counter of a meta word after its idle-time decay (Redis's
/// `LFUDecrAndReturn`); `decay` is `lfu-decay-time` in minutes (0: never decays).
pub fn lfu_decr_and_return(meta: u32, now_ms: i64, decay: u32) -> u32 {
    let ldt = (meta & META_LRU_MASK) >> 8;
    let counter = meta & 0xFF;
    if decay == 0 {
        return counter;
    }
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt { now - ldt } else { 65535 - ldt + now };
    counter.saturating_sub(elapsed / decay)
}

/// Redis's `LFULogIncr`: the counter grows with probability `1/((c-5)*factor+1)`.
fn lfu_log_incr(counter: u32, factor: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * factor as f64 + 1.0);
    let r = COIN.with(|c| {
        // xorshift64*
        let mut x = c.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    });
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// A meta word's clock bits set to an LFU counter of `freq` as of now (RESTORE ... FREQ).
pub fn lfu_clock(now_ms: i64, freq: u8) -> u32 {
    (lfu_minutes(now_ms) << 8) | freq as u32
}

/// Idle time of an LRU clock value in 32nds of a second, fraction bits included (the
/// eviction pool's score; wraps as the seconds clock does). A clock up to a minute ahead of
/// `now_ms` counts as just touched: eviction reads a tick-granular clock, which can lag the
/// time a key was touched at, and such a key must not look the oldest of all.
pub fn idle_ticks(meta: u32, now_ms: i64) -> u64 {
    const TICKS: u32 = (META_LRU_MASK + 1) << 5;
    const AHEAD: u32 = 60 << 5;
    let ticks = |clock: u32| ((clock & META_LRU_MASK) << 5) | ((clock & META_LRU_FRACTION) >> 27);
    let idle = ticks(lru_clock_fine(now_ms)).wrapping_sub(ticks(meta)) & (TICKS - 1);
    if idle > TICKS - AHEAD {
        0
    } else {
        idle as u64
    }
}

/// Seconds idle of an LRU clock value (Redis's `estimateObjectIdleTime`, in seconds).
pub fn idle_seconds(meta: u32, now_ms: i64) -> u64 {
    let clock = lru_clock(now_ms);
    let last = meta & META_LRU_MASK;
    (if clock >= last { clock - last } else { clock + (META_LRU_MASK - last) }) as u64
}

// ---------------------------------------------------------------------------------------
// Eviction

/// One candidate of the eviction pool.
struct Candidate {
    score: u64,
    db: usize,
    shard: usize,
    hash: u32,
    key: SmallBytes,
}

#[derive(Default)]
struct State {
    pool: Vec<Candidate>,
    /// `(db, shard)` of shards whose keyspace (`all`) or deadline table (`volatile`) was
    /// non-empty when last looked at.
    all: Vec<(usize, usize)>,
    volatile: Vec<(usize, usize)>,
    listed_at: Option<Instant>,
    next_db: usize,
    rng: Option<SmallRng>,
    /// Candidates of the shard being sampled (kept to reuse its allocation).
    scratch: Vec<Candidate>,
    /// Per database, where its next two keyspace samples will be taken: chosen one and two
    /// evictions ahead so that their buckets and entries are prefetched while the command
    /// that caused this eviction runs (a sample otherwise waits on two cache misses in a
    /// row: the bucket, then the entries).
    ahead: Vec<Ahead>,
}

/// The next two sampling positions of one database: `(shard, start bucket)`.
struct Ahead {
    db: usize,
    next: (usize, usize),
    later: (usize, usize),
}

/// A Database's eviction settings, pool and counters.
#[derive(Default)]
pub struct Eviction {
    /// The packed clock mode [`enter`] installs (0: LRU).
    pub(crate) mode: AtomicU64,
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    tenacity: AtomicU32,
    ignore_on_replica: AtomicBool,
    lazy: AtomicBool,
    /// The replication backlog's size as the background thread last saw it (not counted
    /// for eviction, as in Redis).
    pub(crate) backlog_bytes: AtomicU64,
    /// `maxmemory-clients` in bytes (0: no client eviction).
    clients_limit: AtomicU64,
    /// Clients closed by client eviction (INFO `evicted_clients`).
    pub evicted_clients: AtomicU64,
    /// Keys evicted (INFO `evicted_keys`).
    pub evicted_keys: AtomicU64,
    /// Total ms spent over `maxmemory` (INFO `total_eviction_exceeded_time`).
    pub exceeded_ms: AtomicU64,
    /// Since when memory is over the limit (Unix ms, 0: not over).
    pub over_since: AtomicU64,
    state: Mutex<State>,
}

impl Eviction {
    /// Reads the eviction directives from the configuration.
    pub fn refresh(&self, config: &crate::config::Config) {
        let policy = Policy::parse(config.get("maxmemory-policy").unwrap_or("noeviction"));
        let maxmemory = config.get_i64("maxmemory").max(0) as u64;
        self.maxmemory.store(maxmemory, Relaxed);
        self.policy.store(policy as u8, Relaxed);
        self.samples.store(config.get_i64("maxmemory-samples").clamp(1, 64) as u32, Relaxed);
        self.tenacity.store(config.get_i64("maxmemory-eviction-tenacity").clamp(0, 100) as u32, Relaxed);
        self.ignore_on_replica.store(config.get_bool("replica-ignore-maxmemory"), Relaxed);
        self.lazy.store(config.get_bool("lazyfree-lazy-eviction"), Relaxed);
        // `maxmemory-clients`: bytes, or a percentage of `maxmemory`.
        let clients = config.get("maxmemory-clients").unwrap_or("0");
        let clients_limit = match clients.strip_suffix('%') {
            Some(p) => p.parse::<u64>().unwrap_or(0).saturating_mul(maxmemory) / 100,
            None => clients.parse::<u64>().unwrap_or(0),
        };
        self.clients_limit.store(clients_limit, Relaxed);
        let mode = if policy.lfu() {
            let factor = config.get_i64("lfu-log-factor").clamp(0, u32::MAX as i64) as u64;
            let decay = config.get_i64("lfu-decay-time").clamp(0, 0x7FFF_FFFF) as u64;
            MODE_LFU | (decay << 32) | factor
        } else {
            0
        };
        self.mode.store(mode, Relaxed);
    }

    /// `maxmemory` in bytes (0: no limit).
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Relaxed)
    }

    /// The configured policy.
    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Relaxed))
    }

    /// `lfu-decay-time` when an LFU policy is set.
    pub fn lfu_decay(&self) -> Option<u32> {
        let mode = self.mode.load(Relaxed);
        (mode & MODE_LFU != 0).then(|| decay_time(mode))
    }
}

/// `maxmemory-clients` (Redis's client eviction): while the memory of the normal clients
/// together (query and output buffers, CLIENT LIST's `tot-mem`) is over the limit, the client
/// using the most is closed; never one that ran CLIENT NO-EVICT ON, a replica or the master.
/// Run by the Database's background thread; returns how many clients it closed.
pub fn evict_clients(inner: &Inner) -> usize {
    let limit = inner.evict.clients_limit.load(Relaxed);
    if limit == 0 {
        return 0;
    }
    let clients = inner.clients.all();
    let mut total: u64 = clients.iter().map(|c| c.tot_mem() as u64).sum();
    if total <= limit {
        return 0;
    }
    let mut candidates: Vec<_> = clients
        .iter()
        .filter(|c| {
            !c.no_evict.load(Relaxed) && c.role.load(Relaxed) == crate::client::ROLE_NORMAL && !c.killed.load(Relaxed)
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.tot_mem()));
    let mut closed = 0;
    for c in candidates {
        if total <= limit {
            break;
        }
        total = total.saturating_sub(c.tot_mem() as u64);
        // Counted before the client can see its connection close.
        inner.evict.evicted_clients.fetch_add(1, Relaxed);
        c.kill();
        closed += 1;
    }
    closed
}

/// Redis's `evictionTimeLimitUs`: how long one call may evict before letting the command
/// run (the next call continues).
fn time_limit(tenacity: u32) -> Duration {
    match tenacity {
        0..=10 => Duration::from_micros(50 * tenacity as u64),
        11..=99 => Duration::from_micros((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64),
        _ => Duration::MAX,
    }
}

/// The part of `used_memory` eviction looks at: without the replication backlog, which
/// Redis does not count for eviction either.
pub fn used_for_eviction(inner: &Inner) -> u64 {
    if crate::memory::counting() {
        crate::memory::allocated().saturating_sub(inner.evict.backlog_bytes.load(Relaxed))
    } else {
        inner.memory.estimate.load(Relaxed)
    }
}

/// What [`perform`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Memory is under the limit (or there is none).
    Ok,
    /// Keys were evicted but the time budget ran out first; commands may run.
    Running,
    /// Over the limit and nothing can be evicted.
    Fail,
}

/// Frees keys until memory is under `maxmemory` (Redis's `performEvictions`).
pub fn perform(inner: &Inner) -> Outcome {
    let ev = &inner.evict;
    let max = ev.maxmemory();
    if max == 0 || (ev.ignore_on_replica.load(Relaxed) && inner.repl.is_replica()) {
        return Outcome::Ok;
    }
    crate::memory::refresh_estimate_if_stale(inner);
    if used_for_eviction(inner) <= max {
        note_under(inner);
        return Outcome::Ok;
    }
    // Scores are in seconds and minutes: the tick-granular clock is precise enough.
    let now = inner.clock.coarse_ms();
    let _ = ev.over_since.compare_exchange(0, now.max(1) as u64, Relaxed, Relaxed);
    let policy = ev.policy();
    if policy == Policy::NoEviction {
        return Outcome::Fail;
    }
    // One thread evicts at a time; another one over the limit meanwhile lets its command
    // run rather than sleep on the lock (the evicting thread frees for both, as it loops
    // until memory is under the limit).
    let Some(mut st) = ev.state.try_lock() else { return Outcome::Running };
    let limit = time_limit(ev.tenacity.load(Relaxed));
    // The clock is read only once evicting takes a while (most calls evict one key).
    let mut start: Option<Instant> = None;
    let samples = ev.samples.load(Relaxed) as usize;
    let mut evicted = 0u32;
    loop {
        if used_for_eviction(inner) <= max {
            note_under(inner);
            return Outcome::Ok;
        }
        let Some(c) = st.pick(inner, policy, samples, now) else { return Outcome::Fail };
        evict_key(inner, c.db, &c.key, now);
        evicted += 1;
        if evicted % 16 == 0 && start.get_or_insert_with(Instant::now).elapsed() > limit {
            return Outcome::Running;
        }
    }
}

/// CONFIG RESETSTAT: the eviction counters restart.
pub fn reset_stats(inner: &Inner) {
    inner.evict.evicted_keys.store(0, Relaxed);
    inner.evict.exceeded_ms.store(0, Relaxed);
    inner.memory.peak.store(crate::memory::used_memory(inner), Relaxed);
}

fn note_under(inner: &Inner) {
    let since = inner.evict.over_since.swap(0, Relaxed);
    if since != 0 {
        let now = inner.clock.now_ms().max(0) as u64;
        inner.evict.exceeded_ms.fetch_add(now.saturating_sub(since), Relaxed);
    }
}

/// Deletes one key for eviction.
fn evict_key(inner: &Inner, db: usize, key: &[u8], now: i64) {
    let acc = Access::new(inner, db, now);
    let estimating = !crate::memory::counting();
    let removed = crate::propagate::as_command(inner, || {
        let removed = acc.write(key, |shard, h| {
            let bytes =
                if estimating { shard.dict.get(h.dict(), key).map_or(0, crate::memory::entry_bytes) } else { 0 };
            shard.remove(h, key).map(|v| (v, bytes))
        });
        if removed.is_some() && crate::propagate::collecting() {
            let del: &[u8] = if inner.evict.lazy.load(Relaxed) { b"UNLINK" } else { b"DEL" };
            crate::propagate::also(crate::propagate::Change { db, args: crate::propagate::args([del, key]) });
        }
        removed
    });
    let Some((value, bytes)) = removed else { return };
    inner.evict.evicted_keys.fetch_add(1, Relaxed);
    acc.signal_modified(key);
    acc.notify(crate::notify::EVICTED, "evicted", key);
    crate::lazyfree::free(inner, value, inner.evict.lazy.load(Relaxed));
    if estimating {
        crate::memory::estimate_freed(inner, bytes);
    }
}

impl State {
    fn rng(&mut self) -> &mut SmallRng {
        self.rng.get_or_insert_with(SmallRng::from_entropy)
    }

    /// Rebuilds the lists of non-empty shards when they are old or `force`.
    fn list_shards(&mut self, inner: &Inner, force: bool) {
        if !force && self.listed_at.is_some_and(|t| t.elapsed() < SHARD_LIST_TTL) {
            return;
        }
        self.all.clear();
        self.volatile.clear();
        for db in 0..inner.db_count() {
            let ks = inner.keyspace(db);
            for i in 0..SHARDS {
                let shard = ks.shard_at(i).read();
                if !shard.dict.is_empty() {
                    self.all.push((db, i));
                }
                if shard.volatile_len() > 0 {
                    self.volatile.push((db, i));
                }
            }
        }
        self.listed_at = Some(Instant::now());
    }

    /// The next key to evict under `policy`, `None` when there is none.
    fn pick(&mut self, inner: &Inner, policy: Policy, samples: usize, now: i64) -> Option<Candidate> {
        self.list_shards(inner, false);
        for round in 0..3 {
            if round > 0 {
                self.list_shards(inner, true);
            }
            let found = if policy.random() {
                self.pick_random(inner, policy)
            } else {
                self.pick_pooled(inner, policy, samples, now)
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// allkeys-random / volatile-random: a random key of the next database that has one.
    fn pick_random(&mut self, inner: &Inner, policy: Policy) -> Option<Candidate> {
        let volatile = policy.volatile();
        let ndb = inner.db_count();
        for _ in 0..ndb {
            self.next_db = (self.next_db + 1) % ndb;
            let db = self.next_db;
            let shards: Vec<usize> =
                (if volatile { &self.volatile } else { &self.all }).iter().filter(|s| s.0 == db).map(|s| s.1).collect();
            if shards.is_empty() {
                continue;
            }
            let i = shards[self.rng().gen_range(0..shards.len())];
            let shard = inner.keyspace(db).shard_at(i).read();
            let rng = self.rng.as_mut()?;
            let picked = if volatile {
                shard.volatile_random(rng).map(|n| (crate::dict::Dict::hash_of(n), n.key.clone()))
            } else {
                shard.dict.random(rng).map(|n| (crate::dict::Dict::hash_of(n), n.key.clone()))
            };
            if let Some((hash, key)) = picked {
                return Some(Candidate { score: 0, db, shard: i, hash, key });
            }
        }
        None
    }

    /// The LRU / LFU / TTL policies: refill the pool from every database, then take the
    /// best candidate that still exists.
    fn pick_pooled(&mut self, inner: &Inner, policy: Policy, samples: usize, now: i64) -> Option<Candidate> {
        let volatile = policy.volatile();
        let decay = inner.evict.lfu_decay().unwrap_or(1);
        let listed = if volatile { std::mem::take(&mut self.volatile) } else { std::mem::take(&mut self.all) };
        if listed.is_empty() {
            return None;
        }
        let score = |meta: u32, deadline: Option<i64>| match policy {
            Policy::VolatileTtl => u64::MAX - deadline.unwrap_or(i64::MAX).max(0) as u64,
            p if p.lfu() => 255 - lfu_decr_and_return(meta, now, decay) as u64,
            _ => idle_ticks(meta, now),
        };
        let mut start = 0;
        while start < listed.len() {
            let db = listed[start].0;
            let end = start + listed[start..].iter().take_while(|s| s.0 == db).count();
            let group = start..end;
            start = end;
            // Where to sample: planned ahead for the keyspace, drawn now for deadlines.
            let (i, pos) = if volatile {
                (listed[self.rng().gen_range(group.clone())].1, 0)
            } else {
                self.take_planned(db, &listed[group.clone()])
            };
            let shard = inner.keyspace(db).shard_at(i).read();
            let mut found = std::mem::take(&mut self.scratch);
            found.clear();
            let rng = self.rng.get_or_insert_with(SmallRng::from_entropy);
            if volatile {
                shard.volatile_sample(rng, samples, |n| {
                    found.push(Candidate {
                        score: score(n.meta.load(Relaxed), crate::keyspace::node_deadline(n)),
                        db,
                        shard: i,
                        hash: crate::dict::Dict::hash_of(n),
                        key: n.key.clone(),
                    });
                });
            } else {
                shard.dict.sample_some_from(pos, rng, samples, |n| {
                    let hash = crate::dict::Dict::hash_of(n);
                    found.push(Candidate {
                        score: score(n.meta.load(Relaxed), None),
                        db,
                        shard: i,
                        hash,
                        key: n.key.clone(),
                    });
                });
            }
            drop(shard);
            for c in found.drain(..) {
                self.insert(c);
            }
            self.scratch = found;
            if !volatile {
                self.plan_ahead(inner, db, &listed[group], samples);
            }
        }
        if volatile {
            self.volatile = listed;
        } else {
            self.all = listed;
        }
        while let Some(c) = self.pool.pop() {
            let shard = inner.keyspace(c.db).shard_at(c.shard).read();
            let live = if volatile {
                shard.dict.get(c.hash, &c.key).is_some_and(|n| crate::keyspace::node_deadline(n).is_some())
            } else {
                shard.dict.get(c.hash, &c.key).is_some()
            };
            if live {
                return Some(c);
            }
        }
        None
    }

    /// The `(shard, start bucket)` planned for `db`'s next keyspace sample, if its shard is
    /// still among `group` (the database's non-empty shards), else a fresh random one.
    fn take_planned(&mut self, db: usize, group: &[(usize, usize)]) -> (usize, usize) {
        let planned = self.ahead.iter().find(|a| a.db == db).map(|a| a.next);
        match planned {
            Some(p) if group.iter().any(|s| s.1 == p.0) => p,
            _ => self.random_position(group),
        }
    }

    fn random_position(&mut self, group: &[(usize, usize)]) -> (usize, usize) {
        let rng = self.rng();
        (group[rng.gen_range(0..group.len())].1, rng.gen())
    }

    /// After `db` was sampled: the position two samples ahead becomes the next one and its
    /// entries are prefetched; a new position two ahead is drawn and its buckets prefetched.
    fn plan_ahead(&mut self, inner: &Inner, db: usize, group: &[(usize, usize)], samples: usize) {
        let fresh = self.random_position(group);
        let k = match self.ahead.iter().position(|a| a.db == db) {
            Some(k) => k,
            None => {
                let next = self.random_position(group);
                self.ahead.push(Ahead { db, next, later: next });
                self.ahead.len() - 1
            }
        };
        let a = &mut self.ahead[k];
        a.next = a.later;
        a.later = fresh;
        let (next, later) = (a.next, a.later);
        let ks = inner.keyspace(db);
        ks.shard_at(next.0).read().dict.prefetch_sample_entries(next.1, samples);
        ks.shard_at(later.0).read().dict.prefetch_sample_slots(later.1);
    }

    /// Puts a candidate into the pool, which keeps the [`POOL_SIZE`] highest scores in
    /// ascending order.
    fn insert(&mut self, c: Candidate) {
        let k = self.pool.partition_point(|p| p.score < c.score);
        if self.pool.len() < POOL_SIZE {
            self.pool.insert(k, c);
        } else if k > 0 {
            self.pool.remove(0);
            self.pool.insert(k - 1, c);
        }
    }
}

/// The maxmemory check before a command (see the module documentation). `None`: the
/// command may run.
pub(crate) fn command_gate(
    inner: &Inner,
    client: &crate::client::ClientState,
    spec: &crate::commands::CommandSpec,
    held: bool,
) -> Option<crate::error::Error> {
    use crate::commands::flags;
    if crate::replication::is_master_client(inner, client.id()) {
        return None;
    }
    if held {
        // Inside a script: deny-oom commands fail if the script started over the limit.
        let in_script = inner.script_running.load(Relaxed);
        return (in_script && spec.has(flags::DENYOOM) && OOM_AT_START.get()).then_some(crate::error::Error::Oom);
    }
    let oom = perform(inner) == Outcome::Fail;
    OOM_AT_START.set(oom);
    if !oom {
        return None;
    }
    // Queuing in MULTI takes memory too: everything but EXEC, DISCARD, QUIT and RESET is
    // refused there, as Redis does.
    let queuing = client.tx.in_multi() && !matches!(spec.name.as_str(), "exec" | "discard" | "quit" | "reset");
    let deny = spec.has(flags::DENYOOM)
        || queuing
        || (spec.name == "exec"
            && client.tx.queue.as_ref().is_some_and(|q| {
                q.iter()
                    .any(|args| crate::commands::table().resolve(&args.as_args()).is_ok_and(|s| s.has(flags::DENYOOM)))
            }));
    deny.then_some(crate::error::Error::Oom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_clock_orders_keys_within_a_second() {
        use crate::keyspace::lru_clock_fine;
        let now = 1_700_000_000_500;
        // Keys touched 1.5 s, 0.5 s and 0.1 s ago: the seconds tie for the last two, the
        // ticks do not, and the reported idle seconds stay Redis's.
        let (a, b, c) = (lru_clock_fine(now - 1500), lru_clock_fine(now - 500), lru_clock_fine(now - 100));
        assert_eq!(idle_ticks(a, now), 48);
        assert_eq!(idle_ticks(b, now), 16);
        assert_eq!(idle_ticks(c, now), 4); // 12.8 -> 12 and 16: whole 32nds
        assert_eq!((idle_seconds(a, now), idle_seconds(b, now), idle_seconds(c, now)), (1, 0, 0));
        // Across the seconds clock's wrap.
        let wrap = (META_LRU_MASK as i64 + 1) * 1000;
        assert_eq!(idle_ticks(lru_clock_fine(wrap - 250), wrap + 250), 16);
        // Flag bits outside the clock do not count.
        assert_eq!(idle_ticks(c | crate::keyspace::META_EXPIRE | crate::keyspace::META_SNAP, now), 4);
        // A key touched after the (lagging) clock eviction reads is not the oldest.
        assert_eq!(idle_ticks(lru_clock_fine(now + 150), now), 0);
        assert_eq!(idle_ticks(lru_clock_fine(now + 59_000), now), 0);
    }

    #[test]
    fn lfu_counter_decays_per_period() {
        let now = 10 * 60_000;
        let meta = lfu_clock(now, 20);
        assert_eq!(lfu_decr_and_return(meta, now, 1), 20);
        assert_eq!(lfu_decr_and_return(meta, now + 3 * 60_000, 1), 17);
        assert_eq!(lfu_decr_and_return(meta, now + 3 * 60_000, 2), 19);
        assert_eq!(lfu_decr_and_return(meta, now + 300 * 60_000, 1), 0);
        assert_eq!(lfu_decr_and_return(meta, now + 300 * 60_000, 0), 20);
    }

    #[test]
    fn lfu_log_incr_slows_down() {
        let mut c = LFU_INIT_VAL;
        for _ in 0..1000 {
            c = lfu_log_incr(c, 10);
        }
        // With factor 10, 1000 hits give a counter around 18 (Redis's table).
        assert!((12..=25).contains(&c), "{c}");
        let mut c = LFU_INIT_VAL;
        for _ in 0..100 {
            c = lfu_log_incr(c, 0);
        }
        assert_eq!(c, 105);
    }

    #[test]
    fn pool_keeps_the_best() {
        let mut st = State::default();
        for s in [5u64, 1, 9, 3, 7, 20, 0, 11, 13, 2, 4, 6, 8, 10, 12, 14, 15, 16] {
            st.insert(Candidate { score: s, db: 0, shard: 0, hash: 0, key: SmallBytes::new(b"k") });
        }
        let scores: Vec<u64> = st.pool.iter().map(|c| c.score).collect();
        assert_eq!(scores.len(), POOL_SIZE);
        assert_eq!(scores.last(), Some(&20));
        assert!(scores.windows(2).all(|w| w[0] <= w[1]));
        assert!(!scores.contains(&0) && !scores.contains(&1));
    }

    #[test]
    fn tenacity_limits() {
        assert_eq!(time_limit(10), Duration::from_micros(500));
        assert_eq!(time_limit(0), Duration::ZERO);
        assert_eq!(time_limit(100), Duration::MAX);
    }
}
