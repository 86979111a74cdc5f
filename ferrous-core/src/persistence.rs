//! RDB persistence: saving snapshots to `dir/dbfilename`, background saves, save points,
//! and loading a file back.
//!
//! - [`save`] (SAVE) and [`bgsave`] (BGSAVE) take a snapshot with [`crate::snapshot`] at
//!   the moment they are called; SAVE writes it on the calling thread, BGSAVE on a thread
//!   of the Database's own. Either writes `temp-<pid>.rdb` in `dir`, fsyncs it, renames it
//!   over `dbfilename` and fsyncs the directory, so a crash at any point leaves the previous
//!   file intact.
//! - [`cron`], run by the Database's background thread, starts a BGSAVE when a save point
//!   (`save <seconds> <changes>`) is reached, with Redis's retry delay after a failure.
//! - [`load`] reads an RDB stream into fresh keyspaces off to the side and swaps them in
//!   at once, so no client sees half a file; while it runs, commands get `-LOADING`.
//!
//! Nothing here touches a file unless persistence was opted into ([`RdbState::enabled`]):
//! `Database::new()` stays purely in memory.
use crate::db::{Database, Inner};
use crate::keyspace::{KeyHash, Keyspace, Shard, META_SNAP, SHARDS};
use crate::rdb::{self, DecodeOptions, EncodeOptions, Item, RdbError, ValueLimits};
use crate::snapshot::{Snapshot, SnapshotError, SnapshotInfo};
use parking_lot::{Condvar, Mutex};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

/// Seconds to wait before retrying a failed automatic BGSAVE (Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`).
const BGSAVE_RETRY_DELAY: i64 = 5;
/// With `rdb-save-incremental-fsync`, fsync the file every this many bytes (Redis's
/// `REDIS_AUTOSYNC_BYTES`), so the final fsync does not stall on gigabytes of dirty pages.
const AUTOSYNC_BYTES: u64 = 4 * 1024 * 1024;

/// [`RdbState::alerts`] bit: a file is being loaded (commands get `-LOADING`).
pub const ALERT_LOADING: u8 = 1;
/// [`RdbState::alerts`] bit: the last background save failed (writes may get `-MISCONF`).
pub const ALERT_BGSAVE_FAILED: u8 = 2;

/// [`RdbState::alerts`] bit: the last AOF write or fsync failed (writes get `-MISCONF`).
pub const ALERT_AOF_FAILED: u8 = 4;
/// A read-only replica: writes from clients other than the master get `-READONLY`.
pub const ALERT_READONLY: u8 = 8;
/// A replica whose link is down with `replica-serve-stale-data no`: `-MASTERDOWN`.
pub const ALERT_STALE: u8 = 16;
/// `min-replicas-to-write` is not met: writes get `-NOREPLICAS`.
pub const ALERT_NOREPLICAS: u8 = 32;
/// `maxmemory` is set: commands go through the eviction gate ([`crate::evict`]).
pub const ALERT_MAXMEMORY: u8 = 64;

/// Redis's MISCONF error text.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
/// Redis's LOADING error text.
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// Why a save or a load failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Another snapshot (BGSAVE, AOF rewrite, full sync) is running.
    #[error("Background save already in progress")]
    InProgress,
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`creating`, `writing`, `renaming`...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Writing the stream to a caller's sink failed.
    #[error("writing the snapshot: {0}")]
    Sink(io::Error),
    /// The RDB data is invalid.
    #[error("{0}")]
    Rdb(#[from] RdbError),
    /// The file holds the same key twice in one database.
    #[error("RDB has duplicated key '{key}' in DB {db}")]
    DuplicateKey {
        /// The key (lossy UTF-8).
        key: String,
        /// The database.
        db: usize,
    },
    /// The file names a database this instance does not have.
    #[error("FATAL: Data file was created with a Redis server configured to handle more than {0} databases. Exiting")]
    DbIndex(usize),
    /// The Database was built without a directory (`Database::new()` never touches the
    /// disk): see `Database::builder().dir(..)`.
    #[error("persistence is disabled for this database")]
    Disabled,
    /// The background save was stopped (FLUSHALL or SHUTDOWN wrote the file instead).
    #[error("Background saving aborted")]
    Aborted,
    /// The append-only file could not be read.
    #[error("{0}")]
    Aof(#[from] Box<crate::aof::manifest::AofError>),
    /// The append-only file could not be opened or written.
    #[error("{0}")]
    AofWrite(#[from] Box<crate::aof::writer::AofWriteError>),
    /// A function library of the file could not be loaded.
    #[error("Failed loading library: {0}")]
    Function(String),
}

impl From<SnapshotError> for PersistError {
    fn from(e: SnapshotError) -> Self {
        match e {
            SnapshotError::InProgress => PersistError::InProgress,
            SnapshotError::Io(e) => PersistError::Sink(e),
        }
    }
}

/// Persistence state of one Database (INFO persistence reads it).
pub struct RdbState {
    /// Files are read and written (the server, or a builder given a directory). Off for
    /// `Database::new()`, which never touches the disk.
    pub enabled: AtomicBool,
    /// [`ALERT_LOADING`] | [`ALERT_BGSAVE_FAILED`]: what dispatch checks, one load per
    /// command.
    pub alerts: AtomicU8,
    /// `dirty` at the last successful save (`rdb_changes_since_last_save` is the
    /// difference).
    pub dirty_at_save: AtomicU64,
    /// Saves attempted, failed ones included, as Redis counts `rdb_saves`.
    pub saves: AtomicU64,
    /// Unix ms when the running BGSAVE started, 0 when none runs.
    pub bgsave_started_ms: AtomicI64,
    /// Unix seconds of the last BGSAVE attempt (`lastbgsave_try`).
    pub last_bgsave_try: AtomicI64,
    /// Whether the last BGSAVE succeeded (`rdb_last_bgsave_status`).
    pub last_bgsave_ok: AtomicBool,
    /// Duration of the last BGSAVE in seconds, -1 if none (`rdb_last_bgsave_time_sec`).
    pub last_bgsave_secs: AtomicI64,
    /// BGSAVE SCHEDULE is pending.
    pub scheduled: AtomicBool,
    /// Unix ms when the running load started.
    pub loading_started_ms: AtomicI64,
    /// A replica's async load runs (`async_loading` in INFO).
    pub async_loading: AtomicBool,
    /// Size of the file being loaded.
    pub loading_total_bytes: AtomicU64,
    /// Bytes of it loaded so far.
    pub loading_loaded_bytes: AtomicU64,
    /// Keys the last load added (`rdb_last_load_keys_loaded`).
    pub last_load_keys_loaded: AtomicU64,
    /// Expired keys the last load skipped (`rdb_last_load_keys_expired`).
    pub last_load_keys_expired: AtomicU64,
    /// Keys in the running snapshot (BGSAVE, AOF rewrite, full sync), 0 when none runs
    /// (`current_save_keys_total`).
    pub save_keys_total: AtomicU64,
    /// Keys the running snapshot has written so far (`current_save_keys_processed`).
    pub save_keys_processed: AtomicU64,
    /// Asks the running BGSAVE to give up without replacing the file (FLUSHALL and
    /// SHUTDOWN write their own file; Redis kills the child).
    abort: Arc<AtomicBool>,
    /// Held around every rename over `dbfilename`, so an aborted BGSAVE cannot replace a
    /// newer file after the fact.
    file_lock: Mutex<()>,
    /// Outcome of the running or last background save, for [`BgSave::wait`].
    job: Arc<JobSlot>,
    /// The BGSAVE thread, joined when the Database goes away.
    pub(crate) thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Default for RdbState {
    fn default() -> Self {
        RdbState {
            enabled: AtomicBool::new(false),
            alerts: AtomicU8::new(0),
            dirty_at_save: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            bgsave_started_ms: AtomicI64::new(0),
            last_bgsave_try: AtomicI64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            scheduled: AtomicBool::new(false),
            loading_started_ms: AtomicI64::new(0),
            async_loading: AtomicBool::new(false),
            loading_total_bytes: AtomicU64::new(0),
            loading_loaded_bytes: AtomicU64::new(0),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
            save_keys_total: AtomicU64::new(0),
            save_keys_processed: AtomicU64::new(0),
            abort: Arc::new(AtomicBool::new(false)),
            file_lock: Mutex::new(()),
            job: Arc::new(JobSlot::default()),
            thread: Mutex::new(None),
        }
    }
}

impl RdbState {
    pub(crate) fn set_alert(&self, bit: u8, on: bool) {
        if on {
            self.alerts.fetch_or(bit, Relaxed);
        } else {
            self.alerts.fetch_and(!bit, Relaxed);
        }
    }
}

#[derive(Default)]
struct JobSlot {
    /// (generation of the last finished job, its error text if it failed).
    done: Mutex<(u64, Option<String>)>,
    cv: Condvar,
}

/// A running background save ([`Database::bgsave`]): wait for its outcome.
pub struct BgSave {
    job: Arc<JobSlot>,
    generation: u64,
}

impl BgSave {
    /// Blocks until the save has finished; its outcome (the error text if it failed).
    pub fn wait(self) -> Result<(), String> {
        let mut done = self.job.done.lock();
        while done.0 < self.generation {
            self.job.cv.wait(&mut done);
        }
        match &done.1 {
            Some(e) if done.0 == self.generation => Err(e.clone()),
            _ => Ok(()),
        }
    }
}

/// The save points of `save` (`"3600 1 300 100"` -> `[(3600, 1), (300, 100)]`).
pub fn save_points(config: &crate::Config) -> Vec<(i64, u64)> {
    let words: Vec<i64> = config.get("save").unwrap_or("").split_whitespace().filter_map(|w| w.parse().ok()).collect();
    words.chunks_exact(2).map(|p| (p[0], p[1].max(0) as u64)).collect()
}

/// Changes since the last successful save (`rdb_changes_since_last_save`).
pub fn changes_since_save(inner: &Inner) -> u64 {
    inner.dirty.load(Relaxed).saturating_sub(inner.rdb.dirty_at_save.load(Relaxed))
}

fn encode_options(inner: &Inner) -> (EncodeOptions, bool) {
    let c = inner.config.read();
    (EncodeOptions { compress: c.get_bool("rdbcompression") }, c.get_bool("rdbchecksum"))
}

/// The path of the RDB file (`dir/dbfilename`).
pub fn rdb_path(inner: &Inner) -> PathBuf {
    let c = inner.config.read();
    Path::new(c.get("dir").unwrap_or(".")).join(c.get("dbfilename").unwrap_or("dump.rdb"))
}

fn snapshot_info(inner: &Inner, aof_base: bool) -> SnapshotInfo {
    SnapshotInfo { aof_base, used_memory: crate::memory::used_memory(inner), replication: None }
}

/// Takes a snapshot now and streams it into `sink` on the calling thread.
pub fn snapshot_to(inner: &Arc<Inner>, sink: &mut dyn Write) -> Result<(), PersistError> {
    let (opts, checksum) = encode_options(inner);
    let snap = crate::replication::begin_snapshot(inner, opts, snapshot_info(inner, false))?;
    snap.write_to(sink, checksum)?;
    Ok(())
}

/// SAVE: snapshot now, write `dir/dbfilename` on the calling thread.
pub fn save(inner: &Arc<Inner>) -> Result<(), PersistError> {
    let (opts, checksum) = encode_options(inner);
    let snap = crate::replication::begin_snapshot(inner, opts, snapshot_info(inner, false))?;
    inner.rdb.saves.fetch_add(1, Relaxed);
    let dirty = inner.dirty.load(Relaxed);
    if let Err(e) = write_file(inner, snap, checksum, false) {
        log_error(inner, &format!("Failed saving the DB: {e}"));
        return Err(e);
    }
    log_notice(inner, "DB saved on disk");
    saved(inner, dirty);
    Ok(())
}

/// Writes an RDB of an empty dataset (FLUSHALL with save points: Redis stops a running
/// BGSAVE and saves the emptied dataset). No snapshot walk is needed, so this works inside
/// MULTI and scripts (`held`: the caller holds shard locks and must not wait for the walk).
pub fn save_empty(inner: &Arc<Inner>, held: bool) -> Result<(), PersistError> {
    let (_, checksum) = encode_options(inner);
    let mut buf = Vec::new();
    rdb::write_header(&mut buf);
    rdb::write_aux(&mut buf, b"redis-ver", crate::commands::connection::REDIS_VERSION.as_bytes());
    rdb::write_aux_int(&mut buf, b"redis-bits", (std::mem::size_of::<usize>() * 8) as i64);
    rdb::write_aux_int(&mut buf, b"ctime", inner.clock.now_ms() / 1000);
    // The dataset is empty; the caller may hold shard locks, so nothing is measured.
    rdb::write_aux_int(&mut buf, b"used-mem", 0);
    rdb::write_aux_int(&mut buf, b"aof-base", 0);
    if let Some(engine) = inner.script_engine.read().as_ref() {
        for code in engine.library_sources() {
            rdb::write_function(&mut buf, &code);
        }
    }
    rdb::write_eof(&mut buf, 0);
    if checksum {
        let n = buf.len() - 8;
        let mut crc = rdb::Crc64::new();
        crc.update(&buf[..n]);
        let v = crc.value();
        buf[n..].copy_from_slice(&v.to_le_bytes());
    }
    let dirty = inner.dirty.load(Relaxed);
    inner.rdb.saves.fetch_add(1, Relaxed);
    abort_bgsave(inner, !held);
    write_atomically(inner, false, |f| f.write_all(&buf).map_err(SnapshotError::Io))?;
    saved(inner, dirty);
    Ok(())
}

/// A successful save: LASTSAVE, the change counter, the count of saves.
fn saved(inner: &Inner, dirty_at_start: u64) {
    inner.rdb.dirty_at_save.store(dirty_at_start, Relaxed);
    inner.last_save.store(inner.clock.now_ms() / 1000, Relaxed);
}

/// The file the snapshot goes to while it is written.
fn temp_path(dir: &Path) -> PathBuf {
    dir.join(format!("temp-{}.rdb", std::process::id()))
}

fn write_file(inner: &Inner, snap: Snapshot, checksum: bool, abortable: bool) -> Result<(), PersistError> {
    let mut snap = Some(snap);
    write_atomically(inner, abortable, |f| match snap.take() {
        Some(s) => s.write_to(f, checksum),
        None => Ok(()),
    })
}

/// Writes `dir/temp-<pid>.rdb` with `fill`, fsyncs it, renames it over `dir/dbfilename`
/// and fsyncs the directory. On failure the temporary file is removed and the old file is
/// untouched.
fn write_atomically(
    inner: &Inner,
    abortable: bool,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), SnapshotError>,
) -> Result<(), PersistError> {
    let target = rdb_path(inner);
    let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let incremental = inner.config.read().get_bool("rdb-save-incremental-fsync");
    let tmp = temp_path(&dir);
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| PersistError::Io { op, path, source }
    };
    let file = std::fs::File::create(&tmp).map_err(io("Failed opening the temp RDB file", &tmp))?;
    let mut sink = FileSink { file, unsynced: 0, incremental };
    let aborted = || abortable && inner.rdb.abort.load(Relaxed);
    let result = fill(&mut sink)
        .map_err(|e| match e {
            _ if aborted() => PersistError::Aborted,
            SnapshotError::Io(source) => {
                PersistError::Io { op: "Write error saving DB on disk", path: tmp.clone(), source }
            }
            other => other.into(),
        })
        .and_then(|_| sink.file.sync_all().map_err(io("fsync", &tmp)))
        .and_then(|_| {
            let _renaming = inner.rdb.file_lock.lock();
            if aborted() {
                return Err(PersistError::Aborted);
            }
            std::fs::rename(&tmp, &target).map_err(io("Error moving temp DB file on the final destination", &target))
        })
        .and_then(|_| sync_dir(&dir).map_err(io("Failed to fsync directory", &dir)));
    if result.is_err() {
        let started = std::time::Instant::now();
        let _ = std::fs::remove_file(&tmp);
        inner.latency.add_sample_if_needed(inner, "rdb-unlink-temp-file", started.elapsed().as_millis() as u64);
    }
    result
}

/// fsyncs a directory so a rename inside it is durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The temporary file, fsynced every [`AUTOSYNC_BYTES`] with `rdb-save-incremental-fsync`.
struct FileSink {
    file: std::fs::File,
    unsynced: u64,
    incremental: bool,
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.incremental && self.unsynced >= AUTOSYNC_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// BGSAVE: takes the snapshot now, writes it on a background thread. Fails with
/// [`PersistError::InProgress`] while another snapshot runs.
pub fn bgsave(inner: &Arc<Inner>) -> Result<BgSave, PersistError> {
    let (opts, checksum) = encode_options(inner);
    let now = inner.clock.now_ms();
    inner.rdb.last_bgsave_try.store(now / 1000, Relaxed);
    let mut snap = crate::replication::begin_snapshot(inner, opts, snapshot_info(inner, false))?;
    inner.rdb.scheduled.store(false, Relaxed);
    inner.rdb.abort.store(false, Relaxed);
    inner.rdb.saves.fetch_add(1, Relaxed);
    snap.stop_on(inner.rdb.abort.clone());
    let dirty = inner.dirty.load(Relaxed);
    inner.rdb.bgsave_started_ms.store(now.max(1), Relaxed);
    let generation = {
        let done = inner.rdb.job.done.lock();
        done.0 + 1
    };
    let job = inner.rdb.job.clone();
    let bg = inner.clone();
    let mut slot = inner.rdb.thread.lock();
    if let Some(old) = slot.take() {
        // The previous BGSAVE thread has finished its work (the snapshot lock was free).
        let _ = old.join();
    }
    let handle = std::thread::Builder::new().name("ferrous-bgsave".into()).spawn(move || {
        lower_priority();
        let result = write_file(&bg, snap, checksum, true);
        let elapsed = (bg.clock.now_ms() - now).max(0);
        bg.rdb.last_bgsave_secs.store((elapsed + 500) / 1000, Relaxed);
        bg.rdb.bgsave_started_ms.store(0, Relaxed);
        let error = match result {
            Ok(()) => {
                log_notice(&bg, "Background saving terminated with success");
                saved(&bg, dirty);
                bg.rdb.last_bgsave_ok.store(true, Relaxed);
                bg.rdb.set_alert(ALERT_BGSAVE_FAILED, false);
                None
            }
            // Stopped on purpose (Redis's child killed with SIGUSR1): not a failure.
            Err(PersistError::Aborted) => Some(PersistError::Aborted.to_string()),
            Err(e) => {
                log_error(&bg, &format!("Background saving error: {e}"));
                bg.rdb.last_bgsave_ok.store(false, Relaxed);
                bg.rdb.set_alert(ALERT_BGSAVE_FAILED, true);
                Some(e.to_string())
            }
        };
        let mut done = job.done.lock();
        *done = (generation, error);
        job.cv.notify_all();
    });
    match handle {
        Ok(h) => *slot = Some(h),
        Err(e) => {
            inner.rdb.bgsave_started_ms.store(0, Relaxed);
            return Err(PersistError::Io {
                op: "Can't start the background save thread",
                path: PathBuf::new(),
                source: e,
            });
        }
    }
    log_notice(inner, "Background saving started");
    Ok(BgSave { job: inner.rdb.job.clone(), generation })
}

/// Stops a running BGSAVE from replacing the file; with `wait`, also waits for its thread
/// (never with shard locks held: the walk needs them to finish).
pub fn abort_bgsave(inner: &Inner, wait: bool) {
    if bgsave_in_progress(inner) {
        inner.rdb.abort.store(true, Relaxed);
        if wait {
            join_bgsave(inner);
        }
    }
}

/// The end of a SHUTDOWN: the save [`shutdown_save`] makes (unless it fails without
/// `force`), then the server stopped through its hooks. `Err` is the error reply for the
/// SHUTDOWN client, the server going on.
pub(crate) fn save_and_stop(inner: &Arc<Inner>, opts: &crate::db::ShutdownOptions) -> Result<(), String> {
    if let Err(e) = shutdown_save(inner, opts.save) {
        if !opts.force {
            log_error(inner, &format!("Error trying to save the DB, can't exit: {e}"));
            return Err(SHUTDOWN_FAILED.into());
        }
    }
    let hooks = inner.hooks.read().clone();
    let Some(hooks) = hooks else { return Err(SHUTDOWN_UNAVAILABLE.into()) };
    hooks.shutdown_with(opts).map_err(|why| format!("ERR {why}"))
}

/// The reply to a SHUTDOWN that could not complete (or was aborted), as Redis's.
pub(crate) const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";
/// The reply to SHUTDOWN in a Database no server runs.
pub(crate) const SHUTDOWN_UNAVAILABLE: &str =
    "ERR SHUTDOWN is not available: this database is embedded, not run by a server";

/// SHUTDOWN's save (Redis's `prepareForShutdown`): a running BGSAVE is stopped, then the
/// dataset is saved when `save` is `Some(true)`, or `None` with save points configured.
/// Nothing when persistence is off or `save` is `Some(false)`.
pub fn shutdown_save(inner: &Arc<Inner>, save: Option<bool>) -> Result<(), PersistError> {
    if !inner.rdb.enabled.load(Relaxed) {
        return Ok(());
    }
    abort_bgsave(inner, true);
    let wanted = save.unwrap_or_else(|| !save_points(&inner.config.read()).is_empty());
    if wanted {
        self::save(inner)?;
    }
    Ok(())
}

/// Logs a warning through the server's hooks (an embedded database drops it).
pub fn log_error(inner: &Inner, message: &str) {
    if let Some(h) = inner.hooks.read().as_ref() {
        h.log(true, message);
    }
}

/// Logs a notice through the server's hooks.
pub fn log_notice(inner: &Inner, message: &str) {
    if let Some(h) = inner.hooks.read().as_ref() {
        h.log(false, message);
    }
}

/// Gives the calling thread a lower CPU priority (nice +10). A background save competes
/// for cores with the threads serving clients (Redis's fork child competes with one main
/// thread); serving comes first, the save takes what is left and merely finishes later.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// True while a BGSAVE runs.
pub fn bgsave_in_progress(inner: &Inner) -> bool {
    inner.rdb.bgsave_started_ms.load(Relaxed) != 0
}

/// Waits for the running BGSAVE thread, if any (shutdown, drop).
pub(crate) fn join_bgsave(inner: &Inner) {
    let handle = inner.rdb.thread.lock().take();
    if let Some(h) = handle {
        let _ = h.join();
    }
}

/// The background thread's part (Redis's `serverCron`): a scheduled BGSAVE, or one due to a
/// save point.
pub(crate) fn cron(inner: &Arc<Inner>) {
    let state = &inner.rdb;
    if !state.enabled.load(Relaxed) || state.alerts.load(Relaxed) & ALERT_LOADING != 0 {
        return;
    }
    if inner.snapshot_running.load(Relaxed) {
        return;
    }
    if state.scheduled.load(Relaxed) {
        let _ = bgsave(inner);
        return;
    }
    let now = inner.clock.now_ms() / 1000;
    let changes = changes_since_save(inner);
    let last_save = inner.last_save.load(Relaxed);
    let retry_ok = now - state.last_bgsave_try.load(Relaxed) > BGSAVE_RETRY_DELAY || state.last_bgsave_ok.load(Relaxed);
    let points = save_points(&inner.config.read());
    if retry_ok && points.iter().any(|&(secs, n)| changes >= n && now - last_save > secs) {
        let _ = bgsave(inner);
    }
}

/// Whether writes must be refused with MISCONF (the last BGSAVE failed, save points are
/// set and `stop-writes-on-bgsave-error` is on). Called only when the alert bit is set.
pub fn writes_refused(inner: &Inner) -> bool {
    let c = inner.config.read();
    c.get_bool("stop-writes-on-bgsave-error") && !save_points(&c).is_empty()
}

// ---------------------------------------------------------------------------------------
// Loading

/// What a load did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Keys added.
    pub keys_loaded: u64,
    /// Keys skipped because they had expired.
    pub keys_expired: u64,
    /// Empty collections skipped (old files can hold them).
    pub empty_skipped: u64,
    /// Function libraries loaded.
    pub functions: u64,
}

/// How to load.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Skip keys whose deadline has passed (a master does; a replica keeps them until its
    /// master deletes them).
    pub skip_expired: bool,
    /// Replace the function libraries (DEBUG RELOAD, start-up) instead of adding to them.
    pub replace_functions: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { skip_expired: true, replace_functions: true }
    }
}

/// Counts the bytes read, for INFO's loading progress.
struct Progress<'a, R> {
    inner: R,
    state: &'a RdbState,
    read: u64,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.state.loading_loaded_bytes.store(self.read, Relaxed);
        Ok(n)
    }
}

/// Clears the loading alert when the load ends, whichever way.
/// Restores the loading alert as it was before this load (an AOF load around its base's
/// RDB load keeps it set until the replay is done).
/// `None`: an async load, whose flag is cleared instead.
struct LoadingGuard<'a>(&'a RdbState, Option<bool>);

impl Drop for LoadingGuard<'_> {
    fn drop(&mut self) {
        match self.1 {
            Some(was) => self.0.set_alert(ALERT_LOADING, was),
            None => self.0.async_loading.store(false, Relaxed),
        }
    }
}

/// Empties every database (a replica whose synchronization file failed to load, as Redis
/// flushed its data before loading it).
pub(crate) fn flush_all(inner: &Inner) {
    let fresh: Vec<Keyspace> = (0..inner.dbs.len()).map(|_| Keyspace::default()).collect();
    install(inner, fresh);
}

/// Loads the RDB file at `path` (see [`load`]). A missing file is not an error: nothing is
/// loaded (`Ok(None)`).
pub fn load_file(inner: &Inner, path: &Path, opts: LoadOptions) -> Result<Option<LoadStats>, PersistError> {
    Ok(load_file_saved(inner, path, opts)?.map(|(stats, _)| stats))
}

/// Loads `dir/dbfilename` at start-up, as Redis's `loadDataFromDisk`: a replica
/// (`replicaof` set) keeps keys whose deadline has passed (its master deletes them), and
/// the replication id and offset the file carries are restored
/// ([`crate::replication::restore_saved`]). `Ok(None)`: no file.
pub fn load_file_at_startup(inner: &Arc<Inner>, path: &Path) -> Result<Option<LoadStats>, PersistError> {
    let replica = {
        let c = inner.config.read();
        let v = c.get("replicaof").unwrap_or("").trim().to_ascii_lowercase();
        !v.is_empty() && !v.starts_with("no ")
    };
    let opts = LoadOptions { skip_expired: !replica, replace_functions: true };
    // A master that continues its replication stream tells its replicas about the keys
    // that expired while it was down (Redis feeds their DELs to the backlog as it loads).
    let mut expired = Vec::new();
    let Some((stats, saved)) = load_file_impl(inner, path, opts, Some(&mut expired))? else { return Ok(None) };
    crate::replication::restore_saved(inner, &saved, replica);
    if !replica && saved.usable() {
        crate::replication::feed_expired(inner, &expired);
    }
    Ok(Some(stats))
}

pub(crate) fn load_file_saved(
    inner: &Inner,
    path: &Path,
    opts: LoadOptions,
) -> Result<Option<(LoadStats, crate::replication::SavedReplication)>, PersistError> {
    load_file_impl(inner, path, opts, None)
}

/// Keys skipped because they had expired, by database (collected only when the file
/// carries usable replication info).
type Expired = Vec<(usize, Vec<u8>)>;

fn load_file_impl(
    inner: &Inner,
    path: &Path,
    opts: LoadOptions,
    expired: Option<&mut Expired>,
) -> Result<Option<(LoadStats, crate::replication::SavedReplication)>, PersistError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PersistError::Io { op: "opening", path: path.to_path_buf(), source }),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size < 9 {
        // Shorter than "REDIS" and a version: Redis's "Short read" (not a bad signature).
        return Err(RdbError::Truncated { offset: size }.into());
    }
    load_impl(inner, file, size, opts, false, expired).map(Some)
}

/// Replaces the whole dataset (every database, and the function libraries) with the RDB
/// stream `r`. The stream is read into new keyspaces first; they are swapped in at once at
/// the end, so on error nothing changes. While it runs, commands get `-LOADING`.
pub fn load(inner: &Inner, r: impl Read, size_hint: u64, opts: LoadOptions) -> Result<LoadStats, PersistError> {
    load_saved(inner, r, size_hint, opts).map(|(stats, _)| stats)
}

/// [`load`], also returning the replication AUX fields the stream carried.
pub fn load_saved(
    inner: &Inner,
    r: impl Read,
    size_hint: u64,
    opts: LoadOptions,
) -> Result<(LoadStats, crate::replication::SavedReplication), PersistError> {
    load_saved_as(inner, r, size_hint, opts, false)
}

/// [`load_saved`]; `async_load`: Redis 7.0's async loading (a replica's `swapdb` full
/// sync): clients keep using the old data meanwhile instead of getting `-LOADING`, and
/// INFO shows `async_loading:1`.
pub fn load_saved_as(
    inner: &Inner,
    r: impl Read,
    size_hint: u64,
    opts: LoadOptions,
    async_load: bool,
) -> Result<(LoadStats, crate::replication::SavedReplication), PersistError> {
    load_impl(inner, r, size_hint, opts, async_load, None)
}

fn load_impl(
    inner: &Inner,
    r: impl Read,
    size_hint: u64,
    opts: LoadOptions,
    async_load: bool,
    mut expired: Option<&mut Expired>,
) -> Result<(LoadStats, crate::replication::SavedReplication), PersistError> {
    let state = &inner.rdb;
    state.loading_started_ms.store(inner.clock.now_ms(), Relaxed);
    state.loading_total_bytes.store(size_hint, Relaxed);
    state.loading_loaded_bytes.store(0, Relaxed);
    let was_loading = state.alerts.load(Relaxed) & ALERT_LOADING != 0;
    let _guard = if async_load {
        state.async_loading.store(true, Relaxed);
        LoadingGuard(state, None)
    } else {
        state.set_alert(ALERT_LOADING, true);
        LoadingGuard(state, Some(was_loading))
    };
    let decode = DecodeOptions {
        limits: ValueLimits::from_tunables(&inner.tunables),
        verify_checksum: inner.config.read().get_bool("rdbchecksum"),
        deep_sanitize: false,
    };
    let progress = Progress { inner: r, state, read: 0 };
    let mut reader = rdb::Reader::new(progress, decode)?;
    let mut fresh: Vec<Keyspace> = (0..inner.dbs.len()).map(|_| Keyspace::default()).collect();
    let mut stats = LoadStats::default();
    let mut saved = crate::replication::SavedReplication::none();
    let mut functions = Vec::new();
    let mut db = 0usize;
    let now = inner.clock.now_ms();
    let lfu = inner.evict.policy().lfu();
    loop {
        match reader.next_item()? {
            Item::Eof => break,
            Item::SelectDb(n) => {
                db = usize::try_from(n).ok().filter(|&d| d < fresh.len()).ok_or(PersistError::DbIndex(fresh.len()))?;
            }
            Item::Function(code) => functions.push(code),
            Item::ResizeDb { db_size, expires_size } => {
                // Size the tables once instead of doubling them all the way up; the hint is
                // capped so a corrupt file cannot make us allocate wildly.
                let per_shard = |n: u64| (n.min(size_hint.max(1 << 20)) as usize).div_ceil(SHARDS);
                for i in 0..SHARDS {
                    let shard = fresh[db].shard_at_mut(i);
                    shard.dict.reserve(per_shard(db_size));
                    shard.reserve_volatile(per_shard(expires_size));
                }
            }
            Item::Aux { key, value } => {
                saved.take_aux(&key, &value);
            }
            Item::Entry(e) => {
                if collection_is_empty(&e.value) {
                    stats.empty_skipped += 1;
                    continue;
                }
                if opts.skip_expired && e.expire_ms.is_some_and(|t| t < now) {
                    stats.keys_expired += 1;
                    if let Some(out) = expired.as_deref_mut().filter(|_| saved.usable()) {
                        out.push((db, e.key));
                    }
                    continue;
                }
                let h = KeyHash(std::hash::BuildHasher::hash_one(&inner.hasher, &e.key[..]));
                let shard: &mut Shard = fresh[db].shard_at_mut(h.shard());
                if shard.set(h, &e.key, e.value, e.expire_ms, now).is_some() {
                    return Err(PersistError::DuplicateKey { key: String::from_utf8_lossy(&e.key).into_owned(), db });
                }
                // The access clock: the file's FREQ under an LFU policy (else the initial
                // counter), its IDLE under the others, as Redis loads them.
                if lfu || e.idle.is_some() {
                    if let Some(node) = shard.dict.get(h.dict(), &e.key) {
                        let bits = if lfu {
                            crate::evict::lfu_clock(now, e.freq.unwrap_or(crate::evict::LFU_INIT_VAL as u8))
                        } else {
                            crate::keyspace::lru_clock(
                                now.saturating_sub((e.idle.unwrap_or(0) as i64).saturating_mul(1000)),
                            )
                        };
                        let m = node.meta.load(Relaxed);
                        node.meta.store((m & !crate::keyspace::META_CLOCK_MASK) | bits, Relaxed);
                    }
                }
                stats.keys_loaded += 1;
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    if let Some(engine) = inner.script_engine.read().clone() {
        if !functions.is_empty() || opts.replace_functions {
            engine
                .load_libraries(&functions, opts.replace_functions)
                .map_err(|e| PersistError::Function(e.to_string()))?;
        }
        stats.functions = functions.len() as u64;
    }
    install(inner, fresh);
    state.last_load_keys_loaded.store(stats.keys_loaded, Relaxed);
    state.last_load_keys_expired.store(stats.keys_expired, Relaxed);
    Ok((stats, saved))
}

pub(crate) fn collection_is_empty(v: &crate::value::Value) -> bool {
    use crate::value::Value;
    match v {
        Value::List(l) => l.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        _ => false,
    }
}

/// Swaps the loaded keyspaces in for the live ones, all databases at once; the old data is
/// freed after the locks are released.
fn install(inner: &Inner, mut fresh: Vec<Keyspace>) {
    let all: Vec<usize> = (0..inner.dbs.len()).collect();
    let acc = crate::access::Access::new(inner, 0, inner.clock.now_ms());
    acc.write_dbs(&all, |dbs| {
        for (db, shards) in dbs.iter_mut() {
            for (i, live) in shards.iter_mut().enumerate().take(SHARDS) {
                let new = fresh[*db].shard_at_mut(i);
                // Loaded entries carry sense 0; match the live shard's so a later snapshot
                // treats them like every other entry.
                if live.snap_sense != new.snap_sense {
                    for node in new.dict.iter() {
                        node.meta.fetch_xor(META_SNAP, Relaxed);
                    }
                    new.snap_sense = live.snap_sense;
                }
                live.swap_data(new);
            }
            inner.watches.touch_db_if(*db, |_| true);
        }
        inner.tracking.invalidate_all();
    });
    // The replaced data (DEBUG RELOAD, a load over a live dataset) is freed on a thread of
    // its own, as FLUSHALL ASYNC does, so the load returns as soon as the new data is in.
    if fresh.iter().any(|ks| !ks.is_empty()) {
        let _ = std::thread::Builder::new().name("ferrous-free".into()).spawn(move || drop(fresh));
    }
}

impl Database {
    /// SAVE: writes a snapshot of every database to `dir/dbfilename` now (other threads
    /// keep running; the file is the dataset as of this call).
    pub fn save(&self) -> Result<(), PersistError> {
        self.require_persistence()?;
        save(&self.inner)
    }

    fn require_persistence(&self) -> Result<(), PersistError> {
        if self.inner.rdb.enabled.load(Relaxed) {
            Ok(())
        } else {
            Err(PersistError::Disabled)
        }
    }

    /// BGSAVE: takes a snapshot now and writes it to `dir/dbfilename` on a background
    /// thread; wait on the returned handle for the outcome.
    pub fn bgsave(&self) -> Result<BgSave, PersistError> {
        self.require_persistence()?;
        bgsave(&self.inner)
    }

    /// Streams a point-in-time snapshot of every database as an RDB file (Redis 7.0's
    /// format: `redis-server` loads it) into `sink`.
    pub fn snapshot_to(&self, mut sink: impl Write) -> Result<(), PersistError> {
        snapshot_to(&self.inner, &mut sink)
    }

    /// Replaces the whole dataset with the RDB stream `r` (a file Redis or Ferrous wrote).
    /// Keys whose deadline has passed are skipped.
    pub fn load_from(&self, r: impl Read) -> Result<LoadStats, PersistError> {
        load(&self.inner, io::BufReader::new(r), 0, LoadOptions::default())
    }

    /// Loads the data files when persistence is on, as Redis's start-up does: with
    /// `appendonly yes` the AOF (an old single-file AOF is upgraded first; a first start
    /// writes a base and an incr file), and the AOF writer starts; otherwise
    /// `dir/dbfilename`.
    pub fn load_data_files(&self) -> Result<(), PersistError> {
        if !self.inner.rdb.enabled.load(Relaxed) {
            return Ok(());
        }
        let (root, dirname, filename, load_truncated, aof) = {
            let c = self.inner.config.read();
            (
                PathBuf::from(c.get("dir").unwrap_or(".")),
                c.get("appenddirname").unwrap_or("appendonlydir").to_string(),
                c.get("appendfilename").unwrap_or("appendonly.aof").to_string(),
                c.get_bool("aof-load-truncated"),
                c.get_bool("appendonly"),
            )
        };
        if !aof {
            self.load_rdb_file()?;
            return Ok(());
        }
        crate::aof::load::upgrade_old_aof(&root, &filename, &dirname).map_err(Box::new)?;
        let opts = crate::aof::load::AofLoadOptions { load_truncated };
        crate::aof::load::load(self, &root.join(&dirname), &filename, opts).map_err(Box::new)?;
        crate::aof::writer::enable(&self.inner).map_err(Box::new)?;
        Ok(())
    }

    /// Loads `dir/dbfilename` when persistence is on, replacing
    /// the dataset; `Ok(None)` when there is no file yet or persistence is off.
    pub fn load_rdb_file(&self) -> Result<Option<LoadStats>, PersistError> {
        if !self.inner.rdb.enabled.load(Relaxed) {
            return Ok(None);
        }
        load_file_at_startup(&self.inner, &rdb_path(&self.inner))
    }

    /// LASTSAVE: Unix time (seconds) of the last successful save.
    pub fn last_save(&self) -> i64 {
        self.inner.last_save.load(Relaxed)
    }
}
