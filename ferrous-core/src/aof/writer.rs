//! The AOF writer: the propagation stream's consumer that appends to the current incr file,
//! with Redis's fsync policies, and the rewrite (BGREWRITEAOF) that replaces base + incrs
//! with a fresh base from the snapshot service.
//!
//! - Blocks arrive in stream order ([`crate::propagate::ChangeSink`]) and are encoded as
//!   RESP commands into a buffer, with `SELECT` and MULTI/EXEC as Redis writes them.
//! - [`commit`] writes the buffer to the file (and fsyncs it under `appendfsync always`).
//!   The server calls it once per event-loop turn before sending that turn's replies, so a
//!   reply is sent only after its write is in the file (on disk for `always`): group commit,
//!   one write and one fsync for every write of the turn. `everysec` fsyncs on the
//!   Database's background thread.
//! - A rewrite opens the next incr file first and lists it in the manifest, then takes a
//!   snapshot; blocks numbered from the snapshot's stream position on go to the new incr
//!   file, the snapshot becomes the new base, and the manifest switches to base + new incr
//!   (old files move to history and are deleted). A crash at any point leaves a manifest
//!   whose files hold every acknowledged write.
use super::manifest::{AofFile, AofFileKind, Manifest};
use crate::db::Inner;
use crate::propagate::{Block, ChangeSink};
use parking_lot::{Condvar, Mutex};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every write, before the reply.
    Always,
    /// Once per second, in the background.
    EverySec,
    /// Never (the OS decides).
    No,
}

impl FsyncPolicy {
    /// From the directive's text.
    pub fn parse(s: &str) -> FsyncPolicy {
        match s {
            "always" => FsyncPolicy::Always,
            "no" => FsyncPolicy::No,
            _ => FsyncPolicy::EverySec,
        }
    }
}

/// Why the AOF could not be written or rewritten.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AofWriteError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The manifest could not be written.
    #[error("{0}")]
    Manifest(#[from] super::manifest::AofError),
    /// A rewrite (or another snapshot) is already running.
    #[error("Background append only file rewriting already in progress")]
    InProgress,
    /// The snapshot for the new base failed.
    #[error("{0}")]
    Snapshot(#[from] crate::persistence::PersistError),
}

/// The AOF of one Database while `appendonly` is on.
pub struct Aof {
    state: Mutex<State>,
    /// Highest block number written to the file / fsynced.
    written: AtomicU64,
    synced: AtomicU64,
    /// Waiters for `written`/`synced` to move (commit waiting for another thread's block).
    cv: Condvar,
    /// The last write failed (`aof_last_write_status`); writes get MISCONF until one works.
    pub write_failed: AtomicBool,
    /// A rewrite is running (`aof_rewrite_in_progress`), or waits for the snapshot slot.
    pub rewriting: AtomicBool,
    /// The claimed rewrite waits for a running snapshot (a BGSAVE) to end before it starts
    /// (`aof_rewrite_scheduled`, as Redis schedules BGREWRITEAOF during a BGSAVE).
    pub scheduled: AtomicBool,
    /// Unix ms when the running rewrite's snapshot started, 0 when none runs
    /// (`aof_current_rewrite_time_sec`).
    pub rewrite_started_ms: AtomicI64,
    /// Duration of the last rewrite in seconds, -1 if none.
    pub last_rewrite_secs: AtomicI64,
    /// Whether the last rewrite succeeded.
    pub last_rewrite_ok: AtomicBool,
    /// Successful rewrites.
    pub rewrites: AtomicU64,
    /// Fsyncs that were late under everysec (`aof_delayed_fsync`).
    pub delayed_fsync: AtomicU64,
    /// Size of the base file after the last rewrite or start-up (`aof_base_size`).
    pub base_size: AtomicU64,
    /// Current size: base + incr files (`aof_current_size`).
    pub current_size: AtomicU64,
    /// Turned off: the sink detaches at the next block.
    detached: AtomicBool,
    last_error: Mutex<String>,
}

struct State {
    dir: PathBuf,
    prefix: String,
    manifest: Manifest,
    /// The current incr file (shared so that fsync runs without the state lock: writers
    /// keep appending to the buffer meanwhile).
    file: Arc<File>,
    file_name: String,
    /// Encoded blocks not yet written.
    buf: Vec<u8>,
    /// Highest block number in `buf` (or written).
    buffered: u64,
    /// The database the file last selected.
    selected: Option<usize>,
    /// Blocks below this number are in the base file: skipped.
    start: u64,
    /// A rewrite's new incr file: blocks from this number on go there.
    switch: Option<(u64, File, String)>,
    policy: FsyncPolicy,
    timestamps: bool,
    last_timestamp: i64,
    now_s: fn() -> i64,
}

fn unix_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Appends one command in RESP form.
pub fn encode_command(out: &mut Vec<u8>, args: &[Vec<u8>]) {
    crate::propagate::encode_args(out, args);
}

impl State {
    fn encode(&mut self, block: &Block) {
        if self.timestamps {
            let now = (self.now_s)();
            if now != self.last_timestamp {
                self.last_timestamp = now;
                self.buf.extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
            }
        }
        block.encode_into(&mut self.selected, &mut self.buf);
        self.buffered = block.seq;
    }

    /// Writes the buffer to the current file.
    fn write_out(&mut self) -> io::Result<usize> {
        if self.buf.is_empty() {
            return Ok(0);
        }
        (&*self.file).write_all(&self.buf)?;
        let n = self.buf.len();
        self.buf.clear();
        Ok(n)
    }
}

/// The sink attached to the propagation stream.
struct Sink(Arc<Aof>);

impl ChangeSink for Sink {
    fn accept(&self, block: &Arc<Block>) -> bool {
        let aof = &self.0;
        if aof.detached.load(Relaxed) {
            return false;
        }
        let mut st = aof.state.lock();
        if block.seq < st.start {
            // In the base already; counts as written for commit's bookkeeping.
            st.buffered = block.seq;
            drop(st);
            aof.cv.notify_all();
            return true;
        }
        if let Some((at, _, _)) = &st.switch {
            if block.seq >= *at {
                // The rewrite's snapshot has everything before `at`: the old incr file ends
                // here, the new one starts. (A failed write keeps the bytes in the buffer;
                // they are in the snapshot anyway.)
                if st.write_out().is_err() {
                    st.buf.clear();
                }
                if let Some((_, file, name)) = st.switch.take() {
                    let _ = st.file.sync_data();
                    st.file = Arc::new(file);
                    st.file_name = name;
                    st.selected = None;
                }
            }
        }
        st.encode(block);
        drop(st);
        aof.cv.notify_all();
        true
    }
}

impl Aof {
    /// Opens the AOF in `dir` for appending: the current incr file of `manifest` (which
    /// must have one), with blocks from stream position `start` on.
    fn open(
        dir: &Path,
        prefix: &str,
        manifest: Manifest,
        start: u64,
        policy: FsyncPolicy,
        timestamps: bool,
    ) -> Result<Arc<Aof>, AofWriteError> {
        let Some(incr) = manifest.incrs.last().cloned() else {
            return Err(AofWriteError::Io {
                op: "opening the incr file",
                path: dir.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "the manifest lists no incr file"),
            });
        };
        let path = dir.join(&incr.name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| AofWriteError::Io { op: "opening", path: path.clone(), source })?;
        let base_size =
            manifest.base.as_ref().and_then(|b| std::fs::metadata(dir.join(&b.name)).ok()).map_or(0, |m| m.len());
        let incr_sizes: u64 =
            manifest.incrs.iter().filter_map(|f| std::fs::metadata(dir.join(&f.name)).ok()).map(|m| m.len()).sum();
        Ok(Arc::new(Aof {
            state: Mutex::new(State {
                dir: dir.to_path_buf(),
                prefix: prefix.to_string(),
                manifest,
                file: Arc::new(file),
                file_name: incr.name,
                buf: Vec::new(),
                buffered: 0,
                selected: None,
                start,
                switch: None,
                policy,
                timestamps,
                last_timestamp: 0,
                now_s: unix_s,
            }),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            cv: Condvar::new(),
            write_failed: AtomicBool::new(false),
            rewriting: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            rewrite_started_ms: AtomicI64::new(0),
            last_rewrite_secs: AtomicI64::new(-1),
            last_rewrite_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            delayed_fsync: AtomicU64::new(0),
            base_size: AtomicU64::new(base_size),
            current_size: AtomicU64::new(base_size + incr_sizes),
            detached: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
        }))
    }

    /// The OS's text for the last write or fsync error.
    pub fn last_error(&self) -> String {
        self.last_error.lock().clone()
    }

    /// Bytes encoded and not yet written (`aof_buffer_length`).
    pub fn buffer_length(&self) -> usize {
        self.state.lock().buf.len()
    }

    /// Bytes the writer's buffer holds allocated (`mem_aof_buffer`: what is encoded and not
    /// yet written, plus the room kept for the next blocks).
    pub fn buffer_memory(&self) -> usize {
        self.state.lock().buf.capacity()
    }

    /// The fsync policy in force.
    pub fn policy(&self) -> FsyncPolicy {
        self.state.lock().policy
    }

    /// Changes the fsync policy (CONFIG SET appendfsync).
    pub fn set_policy(&self, policy: FsyncPolicy) {
        self.state.lock().policy = policy;
    }

    /// Writes everything buffered; with `fsync`, also fsyncs. Returns the highest block
    /// number now in the file.
    fn flush(&self, inner: &Inner, fsync: bool) -> io::Result<u64> {
        let r = self.flush_inner(inner, fsync);
        let failed = r.is_err();
        if let Err(e) = &r {
            // Redis shows strerror's text: the io::Error's description without "(os error N)".
            let text = e.to_string();
            *self.last_error.lock() = text.split(" (os error").next().unwrap_or(&text).to_string();
        }
        self.write_failed.store(failed, Relaxed);
        inner.rdb.set_alert(crate::persistence::ALERT_AOF_FAILED, failed);
        r
    }

    fn flush_inner(&self, inner: &Inner, fsync: bool) -> io::Result<u64> {
        // Redis's latency-monitor events for the AOF (clock reads only while monitoring).
        let monitoring = inner.tunables.get(crate::config::Tunable::LatencyMonitorThreshold) > 0;
        let (upto, file) = {
            let mut st = self.state.lock();
            let upto = st.buffered;
            let started = (monitoring && !st.buf.is_empty()).then(std::time::Instant::now);
            let n = st.write_out()?;
            if let Some(t) = started {
                let ms = t.elapsed().as_millis() as u64;
                let event =
                    if inner.snapshot_running.load(Relaxed) { "aof-write-active-child" } else { "aof-write-alone" };
                inner.latency.add_sample_if_needed(inner, event, ms);
                inner.latency.add_sample_if_needed(inner, "aof-write", ms);
            }
            self.current_size.fetch_add(n as u64, Relaxed);
            self.written.fetch_max(upto, Relaxed);
            (upto, st.file.clone())
        };
        // The fsync runs without the lock: other threads go on appending (group commit: a
        // later fsync covers what arrives meanwhile).
        if fsync && self.synced.load(Relaxed) < upto {
            let started = monitoring.then(std::time::Instant::now);
            file.sync_data()?;
            if let Some(t) = started {
                if self.policy() == FsyncPolicy::Always {
                    inner.latency.add_sample_if_needed(inner, "aof-fsync-always", t.elapsed().as_millis() as u64);
                }
            }
            self.synced.fetch_max(upto, Relaxed);
        }
        Ok(upto)
    }
}

/// The AOF of `inner`, if `appendonly` is on.
pub fn current(inner: &Inner) -> Option<Arc<Aof>> {
    inner.aof.read().clone()
}

/// The highest block number that is as durable as `appendfsync` promises (in the file, or
/// fsynced under `always`); `u64::MAX` when the AOF is off.
pub fn durable(inner: &Inner) -> u64 {
    match current(inner) {
        None => u64::MAX,
        Some(aof) if aof.policy() == FsyncPolicy::Always => aof.synced.load(Relaxed),
        Some(aof) => aof.written.load(Relaxed),
    }
}

/// Makes the writes this thread published so far durable per `appendfsync` before their
/// replies go out: waits until the stream has delivered them to the AOF (a block can wait
/// for a lower-numbered one of another thread), writes the buffer, and fsyncs under
/// `always`. Cheap when the AOF is off or this thread has nothing new.
pub fn commit(inner: &Inner) -> io::Result<()> {
    let Some(aof) = current(inner) else { return Ok(()) };
    let Some(mine) = crate::propagate::last_published_to(inner) else { return Ok(()) };
    let policy = aof.policy();
    let done = if policy == FsyncPolicy::Always { &aof.synced } else { &aof.written };
    if done.load(Relaxed) >= mine {
        return Ok(());
    }
    // Our block may sit behind a lower number another thread has not published yet (it is
    // between its change and the end of its command): wait for the stream to deliver it.
    {
        let mut st = aof.state.lock();
        if mine < st.start && st.start != u64::MAX {
            // Published before this AOF existed: its base holds it.
            return Ok(());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while st.buffered < mine && aof.written.load(Relaxed) < mine {
            if aof.cv.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
    }
    aof.flush(inner, policy == FsyncPolicy::Always).map(|_| ())
}

/// The background part (the Database's cron, every tick): writes what is buffered and,
/// under `everysec`, fsyncs once a second.
pub(crate) fn cron(inner: &Arc<Inner>, last_fsync: &mut std::time::Instant) {
    let Some(aof) = current(inner) else { return };
    let policy = aof.policy();
    let fsync = policy == FsyncPolicy::EverySec && last_fsync.elapsed() >= std::time::Duration::from_secs(1);
    if fsync {
        if last_fsync.elapsed() >= std::time::Duration::from_secs(2) {
            aof.delayed_fsync.fetch_add(1, Relaxed);
        }
        *last_fsync = std::time::Instant::now();
    }
    if let Err(e) = aof.flush(inner, fsync || policy == FsyncPolicy::Always) {
        crate::persistence::log_error(inner, &format!("Error writing to the AOF file: {e}"));
    }
    auto_rewrite(inner, &aof);
}

/// `auto-aof-rewrite-percentage` / `auto-aof-rewrite-min-size`, as Redis's cron: a rewrite
/// when the AOF grew by that percentage over its base and is past the minimum size.
fn auto_rewrite(inner: &Arc<Inner>, aof: &Aof) {
    let (pct, min) = {
        let c = inner.config.read();
        (c.get_i64("auto-aof-rewrite-percentage"), c.get_i64("auto-aof-rewrite-min-size"))
    };
    let size = aof.current_size.load(Relaxed) as i64;
    if pct <= 0 || size <= min || aof.rewriting.load(Relaxed) || inner.snapshot_running.load(Relaxed) {
        return;
    }
    let base = (aof.base_size.load(Relaxed) as i64).max(1);
    if size.saturating_mul(100) / base - 100 >= pct {
        crate::persistence::log_notice(
            inner,
            &format!("Starting automatic rewriting of AOF on {}% growth", size.saturating_mul(100) / base - 100),
        );
        if let Err(e) = rewrite_in_background(inner) {
            crate::persistence::log_error(inner, &format!("Can't rewrite the append only file: {e}"));
        }
    }
}

/// The AOF directory and file name prefix from the configuration.
fn location(inner: &Inner) -> (PathBuf, String) {
    let c = inner.config.read();
    let dir = Path::new(c.get("dir").unwrap_or(".")).join(c.get("appenddirname").unwrap_or("appendonlydir"));
    (dir, c.get("appendfilename").unwrap_or("appendonly.aof").to_string())
}

/// Turns the AOF on: loads nothing (the caller loaded the data), writes a base of the
/// current dataset and a fresh incr file when the directory has no manifest yet (Redis at
/// first start or CONFIG SET appendonly yes), opens the current incr file, and attaches the
/// writer to the propagation stream.
pub fn enable(inner: &Arc<Inner>) -> Result<(), AofWriteError> {
    enable_with(inner, false)
}

/// [`enable`]; with `background`, a first base is written by a background rewrite (already
/// visible in INFO when this returns), as CONFIG SET appendonly yes does.
fn enable_with(inner: &Arc<Inner>, background: bool) -> Result<(), AofWriteError> {
    if current(inner).is_some() {
        return Ok(());
    }
    let (dir, prefix) = location(inner);
    std::fs::create_dir_all(&dir).map_err(|source| AofWriteError::Io { op: "creating", path: dir.clone(), source })?;
    let (policy, timestamps) = {
        let c = inner.config.read();
        (FsyncPolicy::parse(c.get("appendfsync").unwrap_or("everysec")), c.get_bool("aof-timestamp-enabled"))
    };
    let existing = Manifest::read(&dir, &prefix)?;
    let (aof, attach_now) = match existing {
        Some(m) if !m.incrs.is_empty() => (Aof::open(&dir, &prefix, m, 0, policy, timestamps)?, true),
        existing => {
            // No usable AOF: a base of the current dataset, then an incr file, switched
            // in through the manifest (as a rewrite does).
            let mut m = existing.unwrap_or_default();
            m.cur_incr_seq += 1;
            let incr = AofFile {
                name: Manifest::incr_name(&prefix, m.cur_incr_seq),
                seq: m.cur_incr_seq,
                kind: AofFileKind::Incr,
            };
            std::fs::File::create(dir.join(&incr.name)).map_err(|source| AofWriteError::Io {
                op: "creating",
                path: dir.join(&incr.name),
                source,
            })?;
            m.incrs.push(incr);
            m.write_atomically(&dir, &prefix)?;
            (Aof::open(&dir, &prefix, m, u64::MAX, policy, timestamps)?, false)
        }
    };
    *inner.aof.write() = Some(aof.clone());
    let position = crate::propagate::attach(inner, Arc::new(Sink(aof.clone())));
    if attach_now {
        aof.state.lock().start = position;
        return Ok(());
    }
    // Fresh AOF: everything up to the rewrite's snapshot goes into the base.
    if background {
        rewrite_in_background(inner)
    } else {
        rewrite(inner)
    }
}

/// BGREWRITEAOF, run on the calling thread: a new base from a snapshot, the incr files
/// before it retired.
pub fn rewrite(inner: &Arc<Inner>) -> Result<(), AofWriteError> {
    let Some(aof) = current(inner) else { return Ok(()) };
    if aof.rewriting.swap(true, Relaxed) {
        return Err(AofWriteError::InProgress);
    }
    rewrite_claimed(inner, &aof)
}

/// The rewrite, `aof.rewriting` already set by the caller (cleared here).
fn rewrite_claimed(inner: &Arc<Inner>, aof: &Arc<Aof>) -> Result<(), AofWriteError> {
    let started = std::time::Instant::now();
    let result = rewrite_inner(inner, aof);
    aof.scheduled.store(false, Relaxed);
    aof.rewrite_started_ms.store(0, Relaxed);
    aof.rewriting.store(false, Relaxed);
    aof.last_rewrite_ok.store(result.is_ok(), Relaxed);
    aof.last_rewrite_secs.store(started.elapsed().as_secs() as i64, Relaxed);
    if result.is_ok() {
        aof.rewrites.fetch_add(1, Relaxed);
        crate::persistence::log_notice(inner, "Background AOF rewrite finished successfully");
    }
    result
}

fn rewrite_inner(inner: &Arc<Inner>, aof: &Arc<Aof>) -> Result<(), AofWriteError> {
    let (dir, prefix) = {
        let st = aof.state.lock();
        (st.dir.clone(), st.prefix.clone())
    };
    // 1. The next incr file, listed in the manifest before any block goes to it. The file
    //    and manifest I/O (two fsyncs) run without the writer's lock, which every write
    //    needs to append: only this rewrite changes the manifest meanwhile.
    let (new_incr, mut manifest) = {
        let mut m = aof.state.lock().manifest.clone();
        m.cur_incr_seq += 1;
        let incr = AofFile {
            name: Manifest::incr_name(&prefix, m.cur_incr_seq),
            seq: m.cur_incr_seq,
            kind: AofFileKind::Incr,
        };
        let path = dir.join(&incr.name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| AofWriteError::Io { op: "creating", path: path.clone(), source })?;
        m.incrs.push(incr.clone());
        m.write_atomically(&dir, &prefix)?;
        let mut st = aof.state.lock();
        st.manifest = m.clone();
        // Blocks go to the new file from the snapshot's position on (set below); until
        // then the switch waits at the end of numbering.
        st.switch = Some((u64::MAX, file, incr.name.clone()));
        (incr, m)
    };
    // 2. The snapshot: its position decides which blocks the new incr file starts with.
    let (opts, checksum, preamble) = {
        let c = inner.config.read();
        (
            crate::rdb::EncodeOptions { compress: c.get_bool("rdbcompression") },
            c.get_bool("rdbchecksum"),
            c.get_bool("aof-use-rdb-preamble"),
        )
    };
    // One snapshot at a time: a running BGSAVE is waited for (Redis schedules the rewrite
    // after it), so a rewrite that a fresh AOF depends on always happens.
    let snap = loop {
        let info = crate::snapshot::SnapshotInfo { aof_base: true, ..Default::default() };
        let format = if preamble { crate::snapshot::Format::Rdb } else { crate::snapshot::Format::Commands };
        let begun = crate::snapshot::Snapshot::begin_as(inner, format, opts, info, |position| {
            let mut st = aof.state.lock();
            if let Some(sw) = st.switch.as_mut() {
                sw.0 = position;
            }
            if st.start == u64::MAX {
                st.start = position;
            }
        });
        match begun {
            Ok(snap) => {
                aof.scheduled.store(false, Relaxed);
                aof.rewrite_started_ms.store(inner.clock.now_ms().max(1), Relaxed);
                break snap;
            }
            Err(crate::snapshot::SnapshotError::InProgress) => {
                aof.scheduled.store(true, Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => return Err(crate::persistence::PersistError::from(e).into()),
        }
    };
    // 3. The new base, written to a temporary name and renamed.
    manifest.cur_base_seq += 1;
    let base = AofFile {
        name: Manifest::base_name(&prefix, manifest.cur_base_seq, preamble),
        seq: manifest.cur_base_seq,
        kind: AofFileKind::Base,
    };
    let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| AofWriteError::Io { op, path, source }
    };
    let write = (|| {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(io("creating", &tmp))?);
        snap.write_to(&mut f, checksum).map_err(|e| match e {
            crate::snapshot::SnapshotError::Io(source) => {
                AofWriteError::Io { op: "writing", path: tmp.clone(), source }
            }
            other => crate::persistence::PersistError::from(other).into(),
        })?;
        let f = f.into_inner().map_err(|e| AofWriteError::Io {
            op: "writing",
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        std::fs::rename(&tmp, dir.join(&base.name)).map_err(io("renaming", &tmp))
    })();
    if let Err(e) = write {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // 4. The manifest switches to the new base and the new incr file; the old files go to
    //    history and are deleted. Writes go on meanwhile (they already append to the new
    //    incr file): the lock is taken only to read and to install the manifest.
    let mut m = aof.state.lock().manifest.clone();
    let mut retired: Vec<AofFile> = m.base.take().into_iter().filter(|f| f.name != base.name).collect();
    retired.extend(m.incrs.drain(..).filter(|f| f.name != new_incr.name));
    m.cur_base_seq = m.cur_base_seq.max(base.seq);
    m.base = Some(base.clone());
    m.incrs = vec![new_incr];
    m.history.extend(retired.iter().map(|f| AofFile { kind: AofFileKind::History, ..f.clone() }));
    m.write_atomically(&dir, &prefix)?;
    let base_size = std::fs::metadata(dir.join(&base.name)).map(|m| m.len()).unwrap_or(0);
    aof.base_size.store(base_size, Relaxed);
    aof.current_size.store(base_size, Relaxed);
    // Deleting history right away, as Redis does unless aof-disable-auto-gc.
    if !inner.config.read().get_bool("aof-disable-auto-gc") {
        for f in &m.history {
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
        m.history.clear();
        m.write_atomically(&dir, &prefix)?;
    }
    aof.state.lock().manifest = m;
    Ok(())
}

/// Acts on `appendonly` / `appendfsync` after CONFIG SET: turns the AOF on (a rewrite on a
/// background thread writes the base, as Redis's `startAppendOnly`) or off (flushed and
/// fsynced, then detached), or changes the fsync policy. Only for a Database that may touch
/// files (the server, or one built with a directory).
pub fn apply_config(inner: &Arc<Inner>) {
    if !inner.rdb.enabled.load(Relaxed) {
        return;
    }
    let (on, policy) = {
        let c = inner.config.read();
        (c.get_bool("appendonly"), FsyncPolicy::parse(c.get("appendfsync").unwrap_or("everysec")))
    };
    match (on, current(inner)) {
        (true, Some(aof)) => aof.set_policy(policy),
        (true, None) => {
            if let Err(e) = enable_with(inner, true) {
                crate::persistence::log_error(inner, &format!("Can't turn the append only file on: {e}"));
            }
        }
        (false, Some(_)) => disable(inner),
        (false, None) => {}
    }
}

/// Turns the AOF off: what is buffered is written and fsynced, the writer detaches.
pub fn disable(inner: &Inner) {
    let Some(aof) = inner.aof.write().take() else { return };
    aof.detached.store(true, Relaxed);
    if let Err(e) = aof.flush(inner, true) {
        crate::persistence::log_error(inner, &format!("Error flushing the AOF file when turning it off: {e}"));
    }
}

/// BGREWRITEAOF: the rewrite on a background thread of the Database (nice +10, as a BGSAVE).
pub fn rewrite_in_background(inner: &Arc<Inner>) -> Result<(), AofWriteError> {
    let Some(aof) = current(inner) else {
        return Err(AofWriteError::Io {
            op: "rewriting",
            path: PathBuf::new(),
            source: io::Error::new(io::ErrorKind::Unsupported, "the append only file is off"),
        });
    };
    // Claimed here, before the reply, so INFO shows the rewrite from the moment it is
    // acknowledged.
    if aof.rewriting.swap(true, Relaxed) {
        return Err(AofWriteError::InProgress);
    }
    // A running snapshot (BGSAVE) makes the rewrite wait for it: scheduled from the reply
    // on, as Redis answers "scheduled" and starts it after the BGSAVE.
    if inner.snapshot_running.load(Relaxed) {
        aof.scheduled.store(true, Relaxed);
    }
    let (bg, claimed) = (inner.clone(), aof.clone());
    let spawned = std::thread::Builder::new().name("ferrous-aofrw".into()).spawn(move || {
        crate::persistence::lower_priority();
        if let Err(e) = rewrite_claimed(&bg, &claimed) {
            crate::persistence::log_error(&bg, &format!("Background AOF rewrite failed: {e}"));
        }
    });
    spawned.map(|_| ()).map_err(|source| {
        aof.scheduled.store(false, Relaxed);
        aof.rewriting.store(false, Relaxed);
        AofWriteError::Io { op: "starting the rewrite thread", path: PathBuf::new(), source }
    })
}
