//! [`Database`]: the embeddable, thread-safe database handle.
use crate::access::Access;
use crate::client::{ClientRegistry, ClientState, ConnectionInfo};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::keyspace::{Keyspace, SHARDS};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Number of logical databases (`SELECT 0..15`).
pub const DEFAULT_DATABASES: usize = 16;

/// Server-wide counters (INFO stats).
#[derive(Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections_received: AtomicU64,
    /// Connections refused (maxclients).
    pub rejected_connections: AtomicU64,
    /// Commands processed.
    pub commands_processed: crate::util::StripedCounter,
    /// Bytes read from clients.
    pub net_input_bytes: crate::util::StripedCounter,
    /// Bytes written to clients.
    pub net_output_bytes: crate::util::StripedCounter,
    /// Reads from client sockets that returned data (`total_reads_processed`).
    pub reads_processed: crate::util::StripedCounter,
    /// Writes to client sockets that sent data (`total_writes_processed`).
    pub writes_processed: crate::util::StripedCounter,
    /// Replication stream bytes received from a master.
    pub net_repl_input_bytes: AtomicU64,
    /// Replication stream bytes sent to replicas.
    pub net_repl_output_bytes: AtomicU64,
    /// Full resyncs served (`sync_full`).
    pub sync_full: AtomicU64,
    /// Partial resyncs accepted (`sync_partial_ok`).
    pub sync_partial_ok: AtomicU64,
    /// Partial resyncs refused (`sync_partial_err`).
    pub sync_partial_err: AtomicU64,
    /// Lookups that found a key.
    pub keyspace_hits: crate::util::StripedCounter,
    /// Lookups that found nothing.
    pub keyspace_misses: crate::util::StripedCounter,
    /// Error replies, by error code (`ERR`, `WRONGTYPE`...).
    pub errors: Mutex<HashMap<String, u64>>,
    /// Total error replies.
    pub total_errors: AtomicU64,
    /// Expired-key count at the last CONFIG RESETSTAT (the shards keep running totals).
    pub expired_keys_at_reset: AtomicU64,
    /// Active-expiry cycles that stopped at their time budget
    /// (`expired_time_cap_reached_count`).
    pub expire_cycle_time_cap_reached: AtomicU64,
    /// Microseconds spent in active-expiry cycles (`expire_cycle_cpu_milliseconds`).
    pub expire_cycle_us: AtomicU64,
    /// Running estimate (bits of an `f64` in 0..=1) of the share of sampled deadlines that
    /// had passed, 5% weight to each cycle (`expired_stale_perc`).
    pub expired_stale_perc: AtomicU64,
    /// Samples behind INFO's `instantaneous_*` rates.
    pub(crate) instantaneous: Mutex<crate::commands::info::RateSamples>,
}

impl Stats {
    /// Counts an error reply under its code.
    pub fn error(&self, e: &Error) {
        self.total_errors.fetch_add(1, Relaxed);
        let text = e.to_string();
        let code = text.split(' ').next().unwrap_or("ERR").to_string();
        *self.errors.lock().entry(code).or_default() += 1;
    }

    /// Zeroes the counters CONFIG RESETSTAT resets (`expired_total` is the current running
    /// total of expired keys, remembered as the new zero).
    pub fn reset(&self, expired_total: u64) {
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.total_errors,
            &self.net_repl_input_bytes,
            &self.net_repl_output_bytes,
            &self.sync_full,
            &self.sync_partial_ok,
            &self.sync_partial_err,
            &self.expire_cycle_time_cap_reached,
            &self.expire_cycle_us,
            &self.expired_stale_perc,
        ] {
            c.store(0, Relaxed);
        }
        for c in [
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.reads_processed,
            &self.writes_processed,
            &self.keyspace_hits,
            &self.keyspace_misses,
        ] {
            c.store(0, Relaxed);
        }
        self.expired_keys_at_reset.store(expired_total, Relaxed);
        self.errors.lock().clear();
        *self.instantaneous.lock() = Default::default();
    }
}

/// Hook the server installs to learn about requests only it can carry out.
pub trait ServerHooks: Send + Sync {
    /// SHUTDOWN was called; the server should stop (after saving, if asked).
    fn shutdown(&self);
    /// SHUTDOWN with its options. `Err` carries the error reply text (the server keeps
    /// running then). The default stops through [`ServerHooks::shutdown`].
    fn shutdown_with(&self, options: &ShutdownOptions) -> std::result::Result<(), String> {
        let _ = options;
        self.shutdown();
        Ok(())
    }
    /// CONFIG SET changed `name`, a directive the server acts on (`port`, `bind`,
    /// `maxclients`, `timeout`...); `config` holds the new values. `Err` carries Redis's
    /// reason text (`Failed to bind to specified addresses.`) and makes CONFIG SET restore
    /// the previous values. The default accepts every change.
    fn config_changed(&self, name: &str, config: &Config) -> std::result::Result<(), String> {
        let _ = (name, config);
        Ok(())
    }
    /// A script has passed `busy-reply-threshold` and this thread is stuck behind it
    /// (running it, or in a command waiting for what it holds): serve the other clients of
    /// this thread's event loop once (their commands get BUSY, SCRIPT KILL and the like
    /// run), as Redis's `processEventsWhileBlocked`. Called repeatedly until the script
    /// ends. The default does nothing.
    fn serve_while_busy(&self) {}
    /// A line for the server log (`warning`: Redis's `LL_WARNING`, else `LL_NOTICE`). The
    /// default drops it: an embedded database has no log of its own.
    fn log(&self, warning: bool, message: &str) {
        let _ = (warning, message);
    }
}

/// What SHUTDOWN asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// `Some(true)`: SAVE, `Some(false)`: NOSAVE, `None`: save if save points are configured.
    pub save: Option<bool>,
    /// NOW: don't wait for lagging replicas.
    pub now: bool,
    /// FORCE: exit even if saving fails.
    pub force: bool,
}

/// State shared by every handle of one database.
pub struct Inner {
    pub(crate) dbs: Box<[Keyspace]>,
    pub(crate) hasher: foldhash::fast::FixedState,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub config: RwLock<Config>,
    /// Counters.
    pub stats: Stats,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Clients blocked on keys (BLPOP...).
    pub blocking: crate::blocking::BlockingRegistry,
    /// Keys watched by WATCH.
    pub watches: crate::transaction::WatchRegistry,
    /// Pub/Sub channels and patterns.
    pub pubsub: Arc<crate::pubsub::PubSubHub>,
    /// Client-side caching: who caches which keys.
    pub tracking: crate::tracking::TrackingTable,
    /// Enabled keyspace-notification classes (mirror of `notify-keyspace-events`).
    pub notify_flags: std::sync::atomic::AtomicU32,
    /// Hot directives mirrored in atomics (encoding thresholds, size limits).
    pub tunables: crate::config::Tunables,
    /// The scripting engine, if installed.
    pub(crate) script_engine: RwLock<Option<Arc<dyn crate::scripting::ScriptEngine>>>,
    /// A script is running past `busy-reply-threshold` ([`crate::scripting::BusyKind`]).
    pub busy: std::sync::atomic::AtomicU8,
    /// A script holds every shard right now.
    pub script_running: AtomicBool,
    /// Taken first by every operation that locks shards of more than one database
    /// (see [`crate::access::HeldLocks`]).
    pub(crate) cross_db: Mutex<()>,
    /// `requirepass`, mirrored to notice when CONFIG SET changes it.
    pub(crate) requirepass: RwLock<Option<Vec<u8>>>,
    /// ACL users and the ACL LOG ([`crate::acl`]).
    pub acl: crate::acl::Acl,
    /// Start time (Unix ms).
    pub started_ms: i64,
    /// Writes since the last save.
    pub dirty: crate::util::StripedCounter,
    /// Unix time (s) of the last successful save.
    pub last_save: AtomicI64,
    pub(crate) active_expire: AtomicBool,
    pub(crate) hooks: RwLock<Option<Arc<dyn ServerHooks>>>,
    /// A random 40-hex-digit id of this instance (INFO `run_id`).
    pub run_id: String,
    /// Replication: ids, backlog, replicas, the link to a master ([`crate::replication`]).
    pub repl: crate::replication::Replication,
    /// Clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// CLIENT PAUSE.
    pub pause: crate::pause::Pause,
    /// RDB persistence: save state, background saves, loading.
    pub rdb: crate::persistence::RdbState,
    /// The append-only file, while `appendonly` is on.
    pub aof: RwLock<Option<Arc<crate::aof::writer::Aof>>>,
    /// The stream of effective writes ([`crate::propagate`]).
    pub propagation: crate::propagate::Propagation,
    /// A snapshot ([`crate::snapshot`]) is running; one at a time.
    pub(crate) snapshot_running: AtomicBool,
    /// SLOWLOG's entries.
    pub slowlog: crate::slowlog::SlowLog,
    /// The latency monitor's events (LATENCY LATEST/HISTORY...).
    pub latency: crate::latency::LatencyMonitor,
    /// The lazy-free thread ([`crate::lazyfree`]).
    pub lazyfree: crate::lazyfree::LazyFree,
    /// `maxmemory`: eviction settings, pool and counters ([`crate::evict`]).
    pub evict: crate::evict::Eviction,
    /// `used_memory` accounting ([`crate::memory`]).
    pub memory: crate::memory::MemoryState,
    stop: Mutex<bool>,
    stop_cv: Condvar,
}

/// 40 random hex digits (Redis's run ids and replication ids).
pub fn random_hex_id() -> String {
    (0..40).map(|_| char::from_digit(rand::random::<u32>() % 16, 16).unwrap_or('0')).collect()
}

impl Inner {
    /// Copies the configuration values read on hot paths into their mirrors
    /// (`requirepass`, `notify-keyspace-events`); called after every CONFIG SET.
    pub fn apply_config_mirrors(&self) {
        let (pass, events) = {
            let c = self.config.read();
            (
                c.get("requirepass").filter(|p| !p.is_empty()).map(|p| p.as_bytes().to_vec()),
                c.get("notify-keyspace-events").unwrap_or("").to_string(),
            )
        };
        self.tunables.refresh(&self.config.read());
        let previous = std::mem::replace(&mut *self.requirepass.write(), pass.clone());
        if previous != pass {
            // `requirepass` is the default user's password (Redis's `updateRequirePass`).
            self.acl.set_requirepass(pass.as_deref());
        }
        self.notify_flags.store(crate::notify::parse_flags(&events).unwrap_or(0), Relaxed);
        self.evict.refresh(&self.config.read());
        self.rdb.set_alert(crate::persistence::ALERT_MAXMEMORY, self.evict.maxmemory() > 0);
    }

    /// The configured password of the default user (`requirepass`), if any.
    pub fn requirepass(&self) -> Option<Vec<u8>> {
        self.requirepass.read().clone()
    }

    /// Number of logical databases.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }
    /// A logical database.
    pub fn keyspace(&self, i: usize) -> &Keyspace {
        &self.dbs[i]
    }
}

/// Stops the background thread when the last handle goes away.
struct Owner {
    inner: Arc<Inner>,
    background: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // As SHUTDOWN does: a running BGSAVE finishes, then a final save when save points
        // are configured (only when persistence was opted into).
        crate::persistence::join_bgsave(&self.inner);
        // What the AOF buffered is written and fsynced.
        crate::aof::writer::disable(&self.inner);
        if self.inner.rdb.enabled.load(Relaxed)
            && !crate::persistence::save_points(&self.inner.config.read()).is_empty()
        {
            let _ = crate::persistence::save(&self.inner);
        }
        *self.inner.stop.lock() = true;
        self.inner.stop_cv.notify_all();
        if let Some(h) = self.background.lock().take() {
            let _ = h.join();
        }
        self.inner.lazyfree.stop();
    }
}

/// An embeddable Redis-compatible database.
///
/// Cheap to clone (an `Arc` inside) and `Send + Sync`: share it between threads freely.
/// Each handle addresses one logical database (0 by default; see [`Database::select`]).
///
/// ```
/// use ferrous_core::Database;
/// let db = Database::new();
/// db.set("greeting", "hello").unwrap();
/// assert_eq!(db.get("greeting").unwrap(), Some(b"hello".to_vec()));
/// ```
#[derive(Clone)]
pub struct Database {
    owner: Arc<Owner>,
    pub(crate) inner: Arc<Inner>,
    pub(crate) index: usize,
    /// Set on the handle given to a [`Database::transaction`] closure.
    pub(crate) held: Option<Arc<crate::types::transactions::HeldToken>>,
}

/// A handle that does not keep a [`Database`] alive (its background threads, such as a
/// replica's link, hold one).
#[derive(Clone)]
pub struct WeakDatabase {
    owner: std::sync::Weak<Owner>,
    index: usize,
}

impl WeakDatabase {
    /// The Database, if it still exists.
    pub fn upgrade(&self) -> Option<Database> {
        let owner = self.owner.upgrade()?;
        let inner = owner.inner.clone();
        Some(Database { owner, inner, index: self.index, held: None })
    }
}

/// How to build a [`Database`].
pub struct Builder {
    clock: Arc<dyn Clock>,
    config: Config,
    active_expire: bool,
    persistence: bool,
    save_points: Option<Vec<(u64, u64)>>,
    dir: Option<std::path::PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            clock: Arc::new(SystemClock),
            config: Config::default(),
            active_expire: true,
            persistence: false,
            save_points: None,
            dir: None,
        }
    }
}

impl Builder {
    /// Uses `clock` as the time source (tests use a [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Starts from this configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// Disables the background active-expiry cycle (lazy expiry still applies).
    pub fn active_expire(mut self, on: bool) -> Self {
        self.active_expire = on;
        self
    }
    /// Turns persistence on with RDB files in `dir` (created if missing): the build loads
    /// `dir/dbfilename` if it exists, save points run in the background, and dropping the
    /// last handle saves when save points are set. Without it (and without
    /// [`Builder::persistence`]) a Database never touches the disk.
    pub fn dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self.persistence = true;
        self
    }
    /// The RDB file name inside the directory (`dbfilename`, default `dump.rdb`).
    pub fn dbfilename(mut self, name: &str) -> Self {
        let _ = self.config.set("dbfilename", &[name], true);
        self
    }
    /// Save points: a background save runs when at least `changes` writes happened within
    /// `seconds` (`save 3600 1 300 100 60 10000`, Redis's default, applies when not set;
    /// an empty slice disables automatic saves).
    pub fn save_points(mut self, points: &[(u64, u64)]) -> Self {
        self.save_points = Some(points.to_vec());
        self
    }
    /// Keeps an append-only file (`appendonly yes`) in `dir/appendonlydir`: [`Builder::open`]
    /// loads it (instead of the RDB file) and every write, through the typed API or the
    /// command table (`execute`, scripts, transactions), is appended before the call returns.
    pub fn appendonly(mut self, on: bool) -> Self {
        let _ = self.config.set("appendonly", &[if on { "yes" } else { "no" }], true);
        self
    }
    /// `appendfsync`: `"always"`, `"everysec"` (default) or `"no"`.
    pub fn appendfsync(mut self, policy: &str) -> Self {
        let _ = self.config.set("appendfsync", &[policy], true);
        self
    }
    /// Bounds the Database's memory (`maxmemory`, bytes; 0: no limit). With an evicting
    /// [`Builder::maxmemory_policy`] it becomes a bounded LRU/LFU cache: every write first
    /// evicts keys until `used_memory` is under the limit. `used_memory` is exact when the
    /// program installs [`crate::memory::CountingAlloc`] (then it is the process's heap, as in
    /// Redis), an estimate of the Database's own data otherwise.
    pub fn maxmemory(mut self, bytes: u64) -> Self {
        let _ = self.config.set("maxmemory", &[&bytes.to_string()], true);
        self
    }
    /// `maxmemory-policy`: `"allkeys-lru"`, `"allkeys-lfu"`, `"volatile-lru"`,
    /// `"volatile-lfu"`, `"allkeys-random"`, `"volatile-random"`, `"volatile-ttl"` or
    /// `"noeviction"` (the default: writes fail with `-OOM` past the limit).
    pub fn maxmemory_policy(mut self, policy: &str) -> Self {
        let _ = self.config.set("maxmemory-policy", &[policy], true);
        self
    }
    /// Makes the Database a live replica of the Redis or Ferrous master at `host:port`
    /// (`replicaof`): it syncs in the background once built (after [`Builder::open`] loaded
    /// the files, when persistence is on), follows the master's stream, reconnects and
    /// resyncs partially after a broken link. Read it through the typed API at memory speed;
    /// [`Database::wait_for_offset`] gives read-your-writes against the master's offset.
    pub fn replica_of(mut self, host: &str, port: u16) -> Self {
        let _ = self.config.set("replicaof", &[host, &port.to_string()], true);
        self
    }
    /// Turns file persistence on or off with the configuration's `dir` (the server turns it
    /// on; [`Builder::dir`] does too).
    pub fn persistence(mut self, on: bool) -> Self {
        self.persistence = on;
        self
    }

    /// Like [`Builder::build`], then loads `dir/dbfilename` if persistence is on and the
    /// file exists ([`Database::load_rdb_file`]). A corrupt file is an error.
    pub fn open(self) -> std::result::Result<Database, crate::persistence::PersistError> {
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir).map_err(|source| crate::persistence::PersistError::Io {
                op: "creating",
                path: dir.clone(),
                source,
            })?;
        }
        let db = self.build_only();
        db.load_data_files()?;
        db.start_configured_replication();
        Ok(db)
    }

    /// Builds the database and starts its background threads (and the `replicaof` link
    /// unless persistence is on: then the link starts once the files are loaded, see
    /// [`Database::start_configured_replication`]). Files are not read here; see
    /// [`Builder::open`].
    pub fn build(self) -> Database {
        let persistence = self.persistence || self.dir.is_some();
        let db = self.build_only();
        if !persistence {
            db.start_configured_replication();
        }
        db
    }

    /// [`Builder::build`] without starting the `replicaof` link: a caller that installs
    /// something first (the facade's scripting engine) starts it with
    /// [`Database::start_configured_replication`].
    pub fn build_only(mut self) -> Database {
        if let Some(dir) = self.dir.take() {
            // A directory that cannot be created or used turns persistence off rather than
            // letting files land in the working directory ([`Builder::open`] reports it).
            let usable = std::fs::create_dir_all(&dir).is_ok()
                && self.config.set("dir", &[&dir.to_string_lossy()], true).is_ok();
            self.persistence &= usable;
        }
        if let Some(points) = &self.save_points {
            let words: Vec<String> = points.iter().flat_map(|(s, c)| [s.to_string(), c.to_string()]).collect();
            let args: Vec<&str> = if words.is_empty() { vec![""] } else { words.iter().map(String::as_str).collect() };
            let _ = self.config.set("save", &args, true);
        }
        let ndb = (self.config.get_i64("databases").max(1) as usize).min(1 << 16);
        let requirepass = self.config.get("requirepass").filter(|p| !p.is_empty()).map(|p| p.as_bytes().to_vec());
        let seed: u64 = rand::random();
        let now = self.clock.now_ms();
        let inner = Arc::new(Inner {
            dbs: (0..ndb).map(|_| Keyspace::default()).collect(),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            clock: self.clock,
            config: RwLock::new(self.config),
            stats: Stats::default(),
            clients: ClientRegistry::default(),
            blocking: Default::default(),
            watches: Default::default(),
            pubsub: Default::default(),
            tracking: Default::default(),
            notify_flags: Default::default(),
            tunables: Default::default(),
            script_engine: RwLock::new(None),
            busy: Default::default(),
            script_running: AtomicBool::new(false),
            cross_db: Mutex::new(()),
            acl: crate::acl::Acl::new(requirepass.as_deref()),
            requirepass: RwLock::new(requirepass),
            started_ms: now,
            dirty: Default::default(),
            last_save: AtomicI64::new(now / 1000),
            active_expire: AtomicBool::new(self.active_expire),
            hooks: RwLock::new(None),
            run_id: random_hex_id(),
            repl: Default::default(),
            monitors: Default::default(),
            pause: Default::default(),
            rdb: Default::default(),
            propagation: Default::default(),
            aof: RwLock::new(None),
            snapshot_running: AtomicBool::new(false),
            slowlog: Default::default(),
            latency: Default::default(),
            lazyfree: Default::default(),
            evict: Default::default(),
            memory: Default::default(),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
        });
        let bg_inner = inner.clone();
        let background =
            std::thread::Builder::new().name("ferrous-cron".into()).spawn(move || background_loop(&bg_inner)).ok();
        inner.apply_config_mirrors();
        crate::memory::refresh_estimate(&inner);
        inner.memory.startup.store(crate::memory::used_memory(&inner), Relaxed);
        inner.rdb.enabled.store(self.persistence, Relaxed);
        let owner = Arc::new(Owner { inner: inner.clone(), background: Mutex::new(background) });
        Database { owner, inner, index: 0, held: None }
    }
}

/// The background cycle (Redis's `serverCron` part that belongs to the data): active expiry
/// `hz` times per second.
fn background_loop(inner: &Arc<Inner>) {
    let mut last_fsync = std::time::Instant::now();
    loop {
        let hz = inner.config.read().get_i64("hz").clamp(1, 500) as u64;
        {
            let mut stop = inner.stop.lock();
            if *stop {
                return;
            }
            inner.stop_cv.wait_for(&mut stop, Duration::from_millis(1000 / hz));
            if *stop {
                return;
            }
        }
        // A replica's keys expire when its master says so (its DELs).
        if inner.active_expire.load(Relaxed) && !inner.repl.is_replica() {
            active_expire_cycle(inner, 1000 / hz);
        }
        crate::persistence::cron(inner);
        crate::memory::refresh_estimate(inner);
        crate::memory::used_memory(inner); // keeps the peak
        inner.evict.backlog_bytes.store(inner.repl.backlog.lock().histlen(), Relaxed);
        if inner.evict.maxmemory() > 0 {
            crate::evict::perform(inner);
        }
        crate::evict::evict_clients(inner);
        crate::replication::cron(inner, inner.clock.now_ms());
        crate::aof::writer::cron(inner, &mut last_fsync);
    }
}

/// Redis's slow active-expiry cycle: per shard, sample 20 deadlines, delete expired ones,
/// repeat while more than 25% of the sample had expired, within a CPU budget of 25% of the
/// cycle period.
fn active_expire_cycle(inner: &Inner, period_ms: u64) {
    let start = std::time::Instant::now();
    let mut sampled = (0, 0);
    let capped = active_expire_walk(inner, period_ms, start, &mut sampled);
    let st = &inner.stats;
    st.expire_cycle_us.fetch_add(start.elapsed().as_micros() as u64, Relaxed);
    if capped {
        st.expire_cycle_time_cap_reached.fetch_add(1, Relaxed);
    }
    let (checked, expired) = sampled;
    let current = if checked == 0 { 0.0 } else { expired as f64 / checked as f64 };
    let previous = f64::from_bits(st.expired_stale_perc.load(Relaxed));
    st.expired_stale_perc.store((current * 0.05 + previous * 0.95).to_bits(), Relaxed);
}

/// The cycle's walk over the shards, adding (deadlines sampled, expired) to `sampled`;
/// true when it stopped at its time budget.
fn active_expire_walk(inner: &Inner, period_ms: u64, start: std::time::Instant, sampled: &mut (usize, usize)) -> bool {
    const SAMPLES: usize = 20;
    let budget = Duration::from_micros(period_ms * 1000 / 4);
    for (db_index, ks) in inner.dbs.iter().enumerate() {
        for i in 0..SHARDS {
            loop {
                let now = inner.clock.now_ms();
                let mut shard = ks.shard_at(i).write();
                if shard.volatile_len() == 0 {
                    break;
                }
                // Each step is a command of its own for the propagation stream (its DELs).
                let (checked, expired) = crate::propagate::as_command(inner, || {
                    let r = shard.active_expire_step(now, SAMPLES);
                    crate::access::report_expired(inner, db_index, &mut shard);
                    r
                });
                drop(shard);
                sampled.0 += checked;
                sampled.1 += expired;
                if checked == 0 || expired * 4 <= checked || start.elapsed() > budget {
                    break;
                }
            }
            if start.elapsed() > budget {
                return true;
            }
        }
    }
    false
}

impl Default for Database {
    fn default() -> Self {
        Self::new()
    }
}

/// The most keys [`Database::prefetch_keys`] warms at once.
pub const PREFETCH_BATCH: usize = 16;

impl Database {
    /// True when no other handle to this Database exists (a background thread holding one
    /// temporarily stops then).
    pub fn is_last_handle(&self) -> bool {
        Arc::strong_count(&self.owner) == 1
    }

    /// A handle that does not keep this Database alive.
    pub fn downgrade(&self) -> WeakDatabase {
        WeakDatabase { owner: Arc::downgrade(&self.owner), index: self.index }
    }

    /// A database with default configuration, the system clock and active expiry.
    pub fn new() -> Self {
        Builder::default().build()
    }
    /// A builder for custom clock/configuration.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A durable database with its RDB file in `dir` (created if missing): loads
    /// `dir/dump.rdb` if it exists, saves in the background at Redis's default save points,
    /// and saves when the last handle is dropped.
    ///
    /// ```no_run
    /// let db = ferrous_core::Database::open("data")?;
    /// db.set("k", "v")?;
    /// db.save()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(dir: impl AsRef<std::path::Path>) -> std::result::Result<Database, crate::persistence::PersistError> {
        Builder::default().dir(dir).open()
    }

    /// A handle to logical database `index` sharing everything with `self`.
    pub fn select(&self, index: usize) -> Result<Database> {
        if index >= self.inner.dbs.len() {
            return Err(Error::DbIndexOutOfRange);
        }
        Ok(Database { owner: self.owner.clone(), inner: self.inner.clone(), index, held: self.held.clone() })
    }

    /// The logical database this handle addresses.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Shared state (for the server and advanced embedding).
    pub fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Shared state, as the `Arc` that background work (saves, snapshots) keeps alive.
    pub fn inner_arc(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// An [`Access`] to this handle's database at the current time.
    pub fn access(&self) -> Access<'_> {
        if self.inner.rdb.alerts.load(Relaxed) & crate::persistence::ALERT_MAXMEMORY != 0 {
            self.evict_before_typed_call();
        }
        let acc = Access::new(&self.inner, self.index, self.inner.clock.now_ms());
        match &self.held {
            Some(t) if t.is_mine() => acc.held(),
            _ => acc,
        }
    }

    /// A write of the typed API: `body` runs on an [`Access`] and `form` gives the commands
    /// that replay what it did, in Redis's propagated form, so the write reaches the AOF,
    /// replicas and [`Database::changes`] like a client's command (see
    /// [`crate::propagate::typed`]). `form` runs only when a consumer is attached and the
    /// call changed something.
    #[inline]
    pub(crate) fn write_typed<R>(
        &self,
        body: impl FnOnce(&Access<'_>) -> R,
        form: impl FnOnce(&Access<'_>, &R) -> Vec<Vec<Vec<u8>>>,
    ) -> R {
        let acc = self.access();
        crate::propagate::typed(&self.inner, self.index, || body(&acc), |r| form(&acc, r))
    }

    /// Warms the CPU cache for the keys the next pipelined commands will look up, in
    /// database `db` (Redis 8's batch prefetch): a lookup of a key not in the cache costs two
    /// dependent memory loads (its bucket slot, then its entry), each up to ~100 ns, and a
    /// pipeline of 16 commands on random keys pays 32 of them one after the other. Here the
    /// slots of every key are requested first, then every key's entry, so the loads
    /// overlap. A shard that is locked for writing by someone else is skipped (this is only
    /// a hint). At most [`PREFETCH_BATCH`] keys.
    pub fn prefetch_keys(&self, db: usize, keys: &[&[u8]]) {
        let Some(ks) = self.inner.dbs.get(db) else { return };
        let mut hashes = [crate::keyspace::KeyHash(0); PREFETCH_BATCH];
        let n = keys.len().min(PREFETCH_BATCH);
        for (h, k) in hashes.iter_mut().zip(&keys[..n]) {
            *h = crate::keyspace::KeyHash(std::hash::BuildHasher::hash_one(&self.inner.hasher, k));
        }
        for h in &hashes[..n] {
            if let Some(shard) = ks.shard(*h).try_read() {
                shard.dict.prefetch_slot(h.dict());
            }
        }
        for h in &hashes[..n] {
            if let Some(shard) = ks.shard(*h).try_read() {
                shard.dict.prefetch_entry(h.dict());
            }
        }
    }

    /// `maxmemory` for the typed API: evicts as a command would (the typed call itself is
    /// not refused: only commands get `-OOM`). Not while this thread holds shard locks.
    #[cold]
    fn evict_before_typed_call(&self) {
        if self.held.is_none() && crate::access::kept_locks().is_null() {
            crate::evict::perform(&self.inner);
        }
    }

    /// Installs the server's hooks.
    pub fn set_server_hooks(&self, hooks: Arc<dyn ServerHooks>) {
        *self.inner.hooks.write() = Some(hooks);
        // The server is set up: what is allocated now is INFO's `used_memory_startup`
        // (with the command table, built on first use otherwise).
        crate::commands::table();
        self.inner.memory.startup.store(crate::memory::used_memory(&self.inner), Relaxed);
    }

    /// Removes the server's hooks (an embedded server stopped): SHUTDOWN and CONFIG SET
    /// port/bind act again as on a database that no server runs.
    pub fn clear_server_hooks(&self) {
        *self.inner.hooks.write() = None;
    }

    /// For script engines: a script running on this thread is busy (past
    /// `busy-reply-threshold`); lets the server answer its other clients meanwhile (see
    /// [`ServerHooks::serve_while_busy`]). Commands run from there that would need the
    /// dataset the script holds get BUSY. Does nothing when called again from inside.
    pub fn process_events_while_busy(&self) {
        crate::scripting::serve_others_while_busy(&self.inner);
    }

    /// Registers a client connection (used by the server for each accepted socket).
    pub fn connect(&self, conn: ConnectionInfo) -> ClientState {
        let authenticated = self.inner.acl.new_clients_authenticated();
        let mut client = self.inner.clients.register(conn, self.inner.clock.now_ms(), authenticated);
        client.set_user(self.inner.acl.default_user().clone());
        client
    }

    /// A transient, unregistered client used to re-run a blocked client's command when
    /// serving it (see [`crate::blocking`]).
    pub(crate) fn serving_client(&self, db: usize, resp: u8) -> ClientState {
        let mut c = self.inner.clients.transient(self.inner.clock.now_ms());
        c.db = db;
        c.resp = resp;
        c.blocking.serving = true;
        c
    }

    /// Unregisters a client, cancelling any blocking wait it has.
    pub fn disconnect(&self, client: &ClientState) {
        crate::scripting::release_kept_locks();
        if let Some(w) = &client.blocking.blocked {
            w.cancel(&self.inner.blocking);
        }
        self.inner.watches.forget(&client.tx);
        self.inner.tracking.forget(client.id());
        self.inner.monitors.remove(client.id());
        if let Some(ps) = &client.pubsub {
            let id = ps.client_id();
            for c in &ps.channels {
                self.inner.pubsub.unsubscribe(crate::pubsub::Kind::Channel, c, id);
            }
            for c in &ps.patterns {
                self.inner.pubsub.unsubscribe(crate::pubsub::Kind::Pattern, c, id);
            }
            for c in &ps.shard_channels {
                self.inner.pubsub.unsubscribe(crate::pubsub::Kind::Shard, c, id);
            }
        }
        self.inner.clients.unregister(client.id());
    }

    /// Runs one command for `client` and appends its RESP reply to `out`.
    #[inline]
    pub fn dispatch(&self, client: &mut ClientState, args: ferrous_resp::Args<'_>, out: &mut Vec<u8>) {
        crate::commands::dispatch(self, client, args, out)
    }

    /// Runs one command given as arguments (`["SET", "k", "v"]`) on this handle's database
    /// and returns the reply as a value. Error replies come back as `Value::Error`.
    ///
    /// ```
    /// use ferrous_core::{Database, RespValue};
    /// let db = Database::new();
    /// assert_eq!(db.execute(["SET", "k", "v"]), RespValue::ok());
    /// assert_eq!(db.execute(["GET", "k"]), RespValue::bulk("v"));
    /// ```
    ///
    /// The command runs with no ACL restriction (as the program's own call); see
    /// [`Database::as_user`] to run commands with a user's permissions.
    pub fn execute<I, A>(&self, args: I) -> ferrous_resp::Value
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.execute_as(crate::acl::superuser(), args)
    }

    /// True for the handle a [`Database::transaction`] closure got, on the thread running it
    /// (the thread holds the transaction's locks).
    pub(crate) fn in_transaction(&self) -> bool {
        self.held.as_ref().is_some_and(|t| t.is_mine())
    }

    /// [`Database::execute`] with the permissions of `user`.
    pub(crate) fn execute_as<I, A>(&self, user: &Arc<crate::acl::User>, args: I) -> ferrous_resp::Value
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let argv: ferrous_resp::ArgsBuf = args.into_iter().collect();
        let mut client = self.connect(ConnectionInfo::default());
        client.authenticated = true;
        client.set_user(user.clone());
        client.select(self.index);
        let mut out = Vec::new();
        if self.in_transaction() {
            // A handle given to `Database::transaction`: this thread holds the locks, so the
            // command runs inside them (as a command of EXEC or a script does), and the
            // transaction's end makes it durable.
            crate::commands::dispatch_held(self, &mut client, argv.as_args(), &mut out);
        } else {
            self.dispatch(&mut client, argv.as_args(), &mut out);
            // The write is in the AOF (and on disk under `appendfsync always`) before the
            // call returns; an error is the AOF's MISCONF state, reported by the next write.
            let _ = crate::aof::writer::commit(&self.inner);
        }
        self.disconnect(&client);
        match ferrous_resp::parse_value(&out) {
            Ok(Some((v, _))) => v,
            _ => ferrous_resp::Value::Null,
        }
    }

    /// PUBLISH: delivers `message` to every subscriber of `channel` (connections and
    /// in-process subscriptions, direct and by pattern); returns how many received it.
    pub fn publish(&self, channel: impl AsRef<[u8]>, message: impl AsRef<[u8]>) -> usize {
        self.inner.pubsub.publish(channel.as_ref(), message.as_ref())
    }

    /// An in-process subscription to `channels` (more can be added with
    /// [`Subscription::add`](crate::pubsub::Subscription::add)); it unsubscribes on drop.
    pub fn subscribe<C: AsRef<[u8]>>(&self, channels: &[C]) -> crate::pubsub::Subscription {
        let mut s = self.inner.pubsub.local();
        for c in channels {
            s.add(crate::pubsub::Kind::Channel, c);
        }
        s
    }

    /// An in-process subscription to glob `patterns`.
    pub fn psubscribe<C: AsRef<[u8]>>(&self, patterns: &[C]) -> crate::pubsub::Subscription {
        let mut s = self.inner.pubsub.local();
        for p in patterns {
            s.add(crate::pubsub::Kind::Pattern, p);
        }
        s
    }

    /// Turns the active expiry cycle on or off (DEBUG SET-ACTIVE-EXPIRE).
    pub fn set_active_expire(&self, on: bool) {
        self.inner.active_expire.store(on, Relaxed);
    }
}
