//! Ferrous's typed API as an in-process cache, side by side with the best Rust caches.
//!
//! Every workload runs, in one process and on the same keys, against:
//!
//! - `ferrous`: the typed API, reading with `get_with` (a closure over the value's bytes,
//!   no copy) and writing with `set` / `psetex`;
//! - `ferrous_copy`: the same, reading with `get` (returns an owned `Vec<u8>`);
//! - `moka`: `moka::sync::Cache` (per-entry TTL through its `Expiry` policy);
//! - `quick_cache`: `quick_cache::sync::Cache`, with the deadline kept beside the value
//!   for the TTL workloads;
//! - `rwlock_map`: 64 `RwLock<HashMap>` shards (FxHash), the deadline beside the value.
//!
//! Keys are `key:00000000`..`key:00999999` (1M keys), values 16 bytes. moka and quick_cache
//! hold `Arc<[u8]>` values, so a read costs a reference-count increment rather than a copy.
//! Workloads (each a criterion group, one benchmark per cache, throughput in operations):
//!
//! - `get_random_{1t,2t}`: GET of uniformly random keys on 1 and 2 threads;
//! - `get_hot1k_{1t,2t}`: GET of a 1k-key hot set;
//! - `mixed_90_10_{1t,2t}`: 90% GET / 10% SET (overwrite) of random keys;
//! - `insert`, `insert_ttl`: inserting new keys into an empty cache (TTL: 1 hour each);
//! - `get_random_ttl_1t`: GET of random keys when every key has a TTL;
//! - `setex_get_1t`: one SETEX and one GET of random keys per operation, every key with a
//!   TTL.
//!
//! Run: `cargo bench --bench embedded_cache -- --warm-up-time 1 --measurement-time 3`
//! (filter with e.g. `-- get_hot1k`). At the end it prints a Markdown table of Ferrous's
//! throughput ratio to each other cache per workload (from every sample taken, warm-up
//! included), the table the README shows. On a shared machine, compare ratios, not times.
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ferrous::Database;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::hint::black_box;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KEYS: usize = 1_000_000;
const HOT: usize = 1_000;
const VALUE: &[u8; 16] = b"0123456789abcdef";
const VALUE2: &[u8; 16] = b"fedcba9876543210";
const TTL: Duration = Duration::from_secs(3600);
/// Random indices cycled through by every workload (a power of two).
const RANDOM: usize = 1 << 20;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// What every cache under test offers.
trait Cache: Sync {
    /// The length of the value of `key` (0 if missing), read in place where possible.
    fn get(&self, key: &[u8]) -> usize;
    fn set(&self, key: &[u8], value: &[u8]);
    fn set_ttl(&self, key: &[u8], value: &[u8], ttl: Duration);
}

struct Ferrous(Database);

impl Cache for Ferrous {
    fn get(&self, key: &[u8]) -> usize {
        self.0.get_with(key, |v| v.len()).ok().flatten().unwrap_or(0)
    }
    fn set(&self, key: &[u8], value: &[u8]) {
        self.0.set(key, value).expect("SET");
    }
    fn set_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) {
        self.0.psetex(key, ttl.as_millis() as i64, value).expect("PSETEX");
    }
}

struct FerrousCopy(Database);

impl Cache for FerrousCopy {
    fn get(&self, key: &[u8]) -> usize {
        self.0.get(key).ok().flatten().map_or(0, |v| v.len())
    }
    fn set(&self, key: &[u8], value: &[u8]) {
        self.0.set(key, value).expect("SET");
    }
    fn set_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) {
        self.0.psetex(key, ttl.as_millis() as i64, value).expect("PSETEX");
    }
}

/// moka's per-entry expiry: the TTL travels with the value.
#[derive(Clone)]
struct MokaValue(Arc<[u8]>, Option<Duration>);

struct MokaTtl;

impl moka::Expiry<Vec<u8>, MokaValue> for MokaTtl {
    fn expire_after_create(&self, _: &Vec<u8>, value: &MokaValue, _: Instant) -> Option<Duration> {
        value.1
    }
    fn expire_after_update(&self, _: &Vec<u8>, value: &MokaValue, _: Instant, _: Option<Duration>) -> Option<Duration> {
        value.1
    }
}

struct Moka(moka::sync::Cache<Vec<u8>, MokaValue>);

impl Moka {
    /// With `ttl`, entries expire after their own TTL (moka's `Expiry` policy); without, the
    /// cache has no expiry policy at all.
    fn new(ttl: bool) -> Self {
        let builder = moka::sync::Cache::builder().max_capacity(4 * KEYS as u64);
        Moka(if ttl { builder.expire_after(MokaTtl).build() } else { builder.build() })
    }
}

impl Cache for Moka {
    fn get(&self, key: &[u8]) -> usize {
        self.0.get(key).map_or(0, |v| v.0.len())
    }
    fn set(&self, key: &[u8], value: &[u8]) {
        self.0.insert(key.to_vec(), MokaValue(value.into(), None));
    }
    fn set_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) {
        self.0.insert(key.to_vec(), MokaValue(value.into(), Some(ttl)));
    }
}

/// quick_cache has no TTL: the deadline (Unix ms, 0 for none) is kept beside the value.
struct QuickCache(quick_cache::sync::Cache<Vec<u8>, (i64, Arc<[u8]>)>);

impl QuickCache {
    fn new() -> Self {
        QuickCache(quick_cache::sync::Cache::new(4 * KEYS))
    }
}

impl Cache for QuickCache {
    fn get(&self, key: &[u8]) -> usize {
        match self.0.get(key) {
            Some((0, v)) => v.len(),
            Some((deadline, v)) if deadline > now_ms() => v.len(),
            _ => 0,
        }
    }
    fn set(&self, key: &[u8], value: &[u8]) {
        self.0.insert(key.to_vec(), (0, value.into()));
    }
    fn set_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) {
        self.0.insert(key.to_vec(), (now_ms() + ttl.as_millis() as i64, value.into()));
    }
}

/// rustc's FxHash: the fastest reasonable hasher for short keys.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<FxHasher>>;
/// One shard: key -> (deadline, value).
type MapShard = RwLock<FxMap<(i64, Box<[u8]>)>>;

/// 64 `RwLock<HashMap>` shards; the deadline (Unix ms, 0 for none) beside the value.
struct RwLockMap(Box<[MapShard]>);

impl RwLockMap {
    fn new() -> Self {
        RwLockMap((0..64).map(|_| RwLock::new(FxMap::default())).collect())
    }
    fn shard(&self, key: &[u8]) -> &MapShard {
        let mut h = FxHasher::default();
        key.hash(&mut h);
        &self.0[(h.finish() >> 58) as usize]
    }
}

impl Cache for RwLockMap {
    fn get(&self, key: &[u8]) -> usize {
        let shard = self.shard(key).read().unwrap_or_else(|e| e.into_inner());
        match shard.get(key) {
            Some((0, v)) => v.len(),
            Some((deadline, v)) if *deadline > now_ms() => v.len(),
            _ => 0,
        }
    }
    fn set(&self, key: &[u8], value: &[u8]) {
        let mut shard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        shard.insert(key.into(), (0, value.into()));
    }
    fn set_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) {
        let deadline = now_ms() + ttl.as_millis() as i64;
        let mut shard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        shard.insert(key.into(), (deadline, value.into()));
    }
}

/// Time and operations measured per (workload, cache), for the ratio table printed at the
/// end (criterion's own report gives each benchmark alone; the table compares them).
static MEASURED: Mutex<Vec<(String, &'static str, Duration, u64)>> = Mutex::new(Vec::new());

fn record(group: &str, name: &'static str, elapsed: Duration, ops: u64) {
    let mut m = MEASURED.lock().unwrap_or_else(|e| e.into_inner());
    match m.iter_mut().find(|(g, n, _, _)| g == group && *n == name) {
        Some(entry) => {
            entry.2 += elapsed;
            entry.3 += ops;
        }
        None => m.push((group.to_string(), name, elapsed, ops)),
    }
}

/// Prints, per workload, Ferrous's throughput and its ratio to every other cache (above 1:
/// Ferrous is faster), as a Markdown table.
fn print_ratios() {
    let m = MEASURED.lock().unwrap_or_else(|e| e.into_inner());
    let rate = |group: &str, name: &str| {
        m.iter().find(|(g, n, _, _)| g == group && *n == name).map(|(_, _, t, ops)| *ops as f64 / t.as_secs_f64())
    };
    let mut groups: Vec<&str> = Vec::new();
    for (g, _, _, _) in m.iter() {
        if !groups.contains(&g.as_str()) {
            groups.push(g);
        }
    }
    if groups.is_empty() {
        return;
    }
    println!("\n| workload | ferrous Mops/s | vs ferrous_copy | vs moka | vs quick_cache | vs rwlock_map |");
    println!("|---|---|---|---|---|---|");
    for g in groups {
        let Some(ours) = rate(g, "ferrous") else { continue };
        let mut row = format!("| {g} | {:.2} |", ours / 1e6);
        for other in ["ferrous_copy", "moka", "quick_cache", "rwlock_map"] {
            match rate(g, other) {
                Some(r) => row += &format!(" {:.2}x |", ours / r),
                None => row += " - |",
            }
        }
        println!("{row}");
    }
    if let (Some(plain), Some(ttl)) = (rate("get_random_1t", "ferrous"), rate("get_random_ttl_1t", "ferrous")) {
        println!("\nferrous GET of a key with a TTL costs {:.2}x a GET of a key without one", plain / ttl);
    }
}

fn ferrous_db() -> Database {
    Database::builder().active_expire(false).build()
}

const NAMES: [&str; 5] = ["ferrous", "ferrous_copy", "moka", "quick_cache", "rwlock_map"];

/// A fresh, empty cache of each kind; `ferrous` and `ferrous_copy` share one database.
fn caches(ttl: bool) -> Vec<(&'static str, Box<dyn Cache>)> {
    let db = ferrous_db();
    vec![
        ("ferrous", Box::new(Ferrous(db.clone())) as Box<dyn Cache>),
        ("ferrous_copy", Box::new(FerrousCopy(db))),
        ("moka", Box::new(Moka::new(ttl))),
        ("quick_cache", Box::new(QuickCache::new())),
        ("rwlock_map", Box::new(RwLockMap::new())),
    ]
}

fn empty(name: &str, ttl: bool) -> Box<dyn Cache> {
    match name {
        "ferrous" => Box::new(Ferrous(ferrous_db())),
        "ferrous_copy" => Box::new(FerrousCopy(ferrous_db())),
        "moka" => Box::new(Moka::new(ttl)),
        "quick_cache" => Box::new(QuickCache::new()),
        _ => Box::new(RwLockMap::new()),
    }
}

struct Data {
    keys: Vec<Vec<u8>>,
    random: Vec<u32>,
}

impl Data {
    fn new() -> Self {
        let keys = (0..KEYS).map(|i| format!("key:{i:08}").into_bytes()).collect();
        let mut rng = SmallRng::seed_from_u64(15);
        let random = (0..RANDOM).map(|_| rng.gen_range(0..KEYS as u32)).collect();
        Data { keys, random }
    }
    /// The key of the `i`-th random draw, among `range` keys.
    fn key(&self, i: usize, range: usize) -> &[u8] {
        &self.keys[self.random[i & (RANDOM - 1)] as usize % range]
    }
}

fn load(cache: &dyn Cache, data: &Data, ttl: bool) {
    for k in &data.keys {
        if ttl {
            cache.set_ttl(k, VALUE, TTL);
        } else {
            cache.set(k, VALUE);
        }
    }
}

#[derive(Clone, Copy)]
enum Work {
    Get { range: usize },
    Mixed,
    SetexGet,
}

/// Runs `ops` operations of `work` starting at draw `start`; returns a checksum.
fn run(cache: &dyn Cache, data: &Data, work: Work, start: usize, ops: u64) -> usize {
    let mut sum = 0;
    for n in 0..ops as usize {
        let i = start + n;
        match work {
            Work::Get { range } => sum += cache.get(data.key(i, range)),
            Work::Mixed => {
                if i % 10 == 0 {
                    cache.set(data.key(i, KEYS), if i & 16 == 0 { VALUE } else { VALUE2 });
                } else {
                    sum += cache.get(data.key(i, KEYS));
                }
            }
            Work::SetexGet => {
                cache.set_ttl(data.key(i, KEYS), VALUE2, TTL);
                sum += cache.get(data.key(i + RANDOM / 2, KEYS));
            }
        }
    }
    sum
}

/// `iters` operations split across `threads` threads; the wall time of all of them.
fn timed(cache: &dyn Cache, data: &Data, work: Work, threads: usize, iters: u64, start: &mut usize) -> Duration {
    let per = iters.div_ceil(threads as u64);
    let first = *start;
    *start = start.wrapping_add(iters as usize);
    if threads == 1 {
        let t = Instant::now();
        black_box(run(cache, data, work, first, per));
        return t.elapsed();
    }
    let t = Instant::now();
    std::thread::scope(|s| {
        for th in 0..threads {
            s.spawn(move || black_box(run(cache, data, work, first + th * (RANDOM / threads), per)));
        }
    });
    t.elapsed()
}

fn workloads(c: &mut Criterion, data: &Data, caches: &[(&'static str, Box<dyn Cache>)], list: &[(&str, Work, usize)]) {
    for &(group, work, threads) in list {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1));
        for (name, cache) in caches {
            let mut start = 0;
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let elapsed = timed(cache.as_ref(), data, work, threads, iters, &mut start);
                    record(group, name, elapsed, iters);
                    elapsed
                })
            });
        }
        g.finish();
    }
}

fn reads_and_writes(c: &mut Criterion) {
    let data = Data::new();
    let caches = caches(false);
    for (name, cache) in &caches {
        if *name != "ferrous_copy" {
            load(cache.as_ref(), &data, false);
        }
    }
    workloads(
        c,
        &data,
        &caches,
        &[
            ("get_random_1t", Work::Get { range: KEYS }, 1),
            ("get_random_2t", Work::Get { range: KEYS }, 2),
            ("get_hot1k_1t", Work::Get { range: HOT }, 1),
            ("get_hot1k_2t", Work::Get { range: HOT }, 2),
            ("mixed_90_10_1t", Work::Mixed, 1),
            ("mixed_90_10_2t", Work::Mixed, 2),
        ],
    );
}

fn with_ttl(c: &mut Criterion) {
    let data = Data::new();
    let caches = caches(true);
    for (name, cache) in &caches {
        if *name != "ferrous_copy" {
            load(cache.as_ref(), &data, true);
        }
    }
    workloads(
        c,
        &data,
        &caches,
        &[("get_random_ttl_1t", Work::Get { range: KEYS }, 1), ("setex_get_1t", Work::SetexGet, 1)],
    );
}

fn inserts(c: &mut Criterion) {
    let data = Data::new();
    for (group, ttl) in [("insert", false), ("insert_ttl", true)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1));
        for name in NAMES {
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    // A fresh cache per sample, so every insert adds a new key.
                    let cache = empty(name, ttl);
                    let t = Instant::now();
                    for k in data.keys.iter().cycle().take(iters as usize) {
                        if ttl {
                            cache.set_ttl(k, VALUE, TTL);
                        } else {
                            cache.set(k, VALUE);
                        }
                    }
                    let elapsed = t.elapsed();
                    drop(cache);
                    record(group, name, elapsed, iters);
                    elapsed
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, reads_and_writes, with_ttl, inserts);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_ratios();
}
