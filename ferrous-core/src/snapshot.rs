//! The snapshot service: a consistent point-in-time image of every database, streamed as an
//! RDB file into any `Write`, taken without fork while writers go on.
//!
//! How (Dragonfly's scheme, at entry granularity):
//! 1. **Start** ([`Snapshot::begin`]): with the cross-database gate and every shard of every
//!    database write-locked, for a few microseconds, each shard flips its `snap_sense` bit and
//!    is handed a [`ShardSnapshot`]. Flipping the sense makes every existing entry "not yet
//!    written" at once (an entry is written when its [`META_SNAP`] bit equals the sense)
//!    without touching any entry; entries created later get the new sense and so are never
//!    part of this snapshot.
//! 2. **Walk** ([`Snapshot::write_to`]): the snapshot's own thread visits each shard in short
//!    batches of buckets under the shard's write lock, writes every entry not written yet and
//!    marks it. The bucket walk uses SCAN's reverse-binary cursor, so an entry present for the
//!    whole walk is visited even if the table resizes in between; the mark makes it written
//!    exactly once.
//! 3. **Writers**: a change to an entry the walk has not reached ([`crate::keyspace::Shard`]'s
//!    `before_change`, run under the shard lock the writer already holds) first writes the
//!    entry's old contents into a side buffer of its database, which the walk drains into the
//!    stream. Deleting, overwriting, expiring, FLUSHDB and SWAPDB all go through it.
//!
//! So the image is exact, nothing is copied up front, the pause is the start's lock sweep
//! plus, for a writer, the encoding of the one value it is about to change (the analogue of
//! a copy-on-write page fault after fork), and the extra memory is the stream itself: the
//! side buffers hold only entries changed ahead of the walk. Each shard drops its
//! `ShardSnapshot` when the walk has finished it, so writers there pay nothing more.
//!
//! One snapshot runs at a time per database ([`SnapshotError::InProgress`]). The stream is an
//! RDB file in Redis 7.0's format ([`crate::rdb`] knows the bytes; this module knows none):
//! BGSAVE and SAVE write it to disk, and the same stream serves the AOF rewrite base and a
//! replica's full sync.
use crate::db::Inner;
use crate::dict::{Dict, Node};
use crate::keyspace::{Shard, META_SNAP, SHARDS};
use crate::rdb::{self, EncodeOptions};
use crate::value::Value;
use parking_lot::Mutex;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Buckets the walk visits per shard-lock hold. Small enough that a writer or reader of the
/// shard waits at most tens of microseconds behind it.
const BUCKETS_PER_BATCH: usize = 64;
/// Bytes the walk stages before handing them to the sink.
const FLUSH_BYTES: usize = 256 * 1024;

/// Why a snapshot could not be taken or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Another snapshot of this database is running (BGSAVE, a rewrite, a full sync).
    #[error("a snapshot is already in progress")]
    InProgress,
    /// The sink failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The part of a running snapshot each shard points to while the walk has not finished it.
pub(crate) struct ShardSnapshot {
    shared: Arc<Shared>,
    db: usize,
}

/// How a snapshot encodes one entry (RDB, or commands for an AOF base).
pub type EntryEncoder = fn(&mut Vec<u8>, &[u8], &Value, Option<i64>, &EncodeOptions);

/// The stream a snapshot writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// An RDB file (header, AUX fields, functions, databases, EOF and checksum).
    #[default]
    Rdb,
    /// RESP commands that rebuild the data (`FUNCTION LOAD`, `SELECT`, `SET`, `RPUSH`...),
    /// an AOF base with `aof-use-rdb-preamble no`.
    Commands,
}

/// What an RDB snapshot writes of each key's access clock, as Redis: `IDLE` seconds under
/// an LRU policy, the `FREQ` counter under an LFU one, nothing otherwise.
#[derive(Clone, Copy)]
enum ClockBits {
    None,
    Lru { now: i64 },
    Lfu { now: i64, decay: u32 },
}

impl ClockBits {
    #[inline]
    fn write(self, out: &mut Vec<u8>, meta: u32) {
        match self {
            ClockBits::None => {}
            ClockBits::Lru { now } => rdb::write_idle(out, crate::evict::idle_seconds(meta, now)),
            ClockBits::Lfu { now, decay } => {
                rdb::write_freq(out, crate::evict::lfu_decr_and_return(meta, now, decay) as u8)
            }
        }
    }
}

/// State shared by the walk and the writers of one snapshot.
struct Shared {
    encode: EntryEncoder,
    clock: ClockBits,
    /// Per database: entries writers saved ahead of the walk, already in RDB form.
    side: Box<[Mutex<Vec<u8>>]>,
    opts: EncodeOptions,
    /// The sink failed: entries are only marked from now on, not encoded.
    discard: AtomicBool,
    /// Entries writers had to save ahead of the walk (for INFO / tests).
    captured: AtomicU64,
    /// Entries the walk wrote.
    walked: AtomicU64,
}

impl ShardSnapshot {
    /// Writes `node` (an entry of `shard`) into the snapshot unless it is there already.
    #[inline]
    pub(crate) fn capture(&self, shard: &Shard, node: &Node<Value>) {
        if !shard.snapshotted(node) {
            self.capture_slow(shard, node);
        }
    }

    #[cold]
    #[inline(never)]
    fn capture_slow(&self, shard: &Shard, node: &Node<Value>) {
        mark(shard, node);
        if self.shared.discard.load(Relaxed) {
            return;
        }
        let deadline = shard.deadline(node, Dict::hash_of(node));
        let mut side = self.shared.side[self.db].lock();
        self.shared.clock.write(&mut side, node.meta.load(Relaxed));
        (self.shared.encode)(&mut side, &node.key, &node.value, deadline, &self.shared.opts);
        self.shared.captured.fetch_add(1, Relaxed);
    }
}

/// Marks an entry as written by the running snapshot. The caller holds the shard's write
/// lock: nobody else can change the meta word meanwhile (readers refreshing the LRU clock
/// under a read lock never run concurrently with this).
#[inline]
fn mark(shard: &Shard, node: &Node<Value>) {
    if shard.snap_sense != 0 {
        node.meta.fetch_or(META_SNAP, Relaxed);
    } else {
        node.meta.fetch_and(!META_SNAP, Relaxed);
    }
}

/// What the stream says about the writer (RDB AUX fields).
#[derive(Clone, Debug, Default)]
pub struct SnapshotInfo {
    /// The snapshot is an AOF base (`aof-base` AUX field).
    pub aof_base: bool,
    /// Used memory to report (`used-mem`).
    pub used_memory: u64,
    /// Replication info (`repl-stream-db`, `repl-id`, `repl-offset`), written when known.
    pub replication: Option<(u64, String, i64)>,
}

/// A snapshot that has started: its image is fixed; [`Snapshot::write_to`] streams it.
///
/// Dropping it without writing still finishes the walk (marking only), so the shards are
/// left ready for the next snapshot.
pub struct Snapshot {
    inner: Arc<Inner>,
    shared: Arc<Shared>,
    /// Per database: (keys, keys with a deadline) when the snapshot started.
    sizes: Vec<(u64, u64)>,
    /// Function library sources when the snapshot started.
    functions: Vec<Vec<u8>>,
    /// Unix seconds when it started (the `ctime` AUX field).
    started: i64,
    info: SnapshotInfo,
    format: Format,
    /// The propagation stream's position at the snapshot's instant: the snapshot holds
    /// exactly the blocks numbered below it.
    position: u64,
    walked: bool,
    /// When set, the walk stops writing (marks only) and the result is discarded.
    stop: Option<Arc<AtomicBool>>,
}

impl Snapshot {
    /// Fixes the image of every database now. Blocks writers for the time it takes to lock
    /// and flip every shard. Fails with [`SnapshotError::InProgress`] when another snapshot
    /// of this database runs.
    pub fn begin(inner: &Arc<Inner>, opts: EncodeOptions, info: SnapshotInfo) -> Result<Snapshot, SnapshotError> {
        Self::begin_at(inner, opts, info, |_| {})
    }

    /// [`Snapshot::begin`], calling `at_position` with the propagation stream's position
    /// while every shard is still locked (an AOF rewrite routes later blocks to its new incr
    /// file from exactly there).
    pub fn begin_at(
        inner: &Arc<Inner>,
        opts: EncodeOptions,
        info: SnapshotInfo,
        at_position: impl FnOnce(u64),
    ) -> Result<Snapshot, SnapshotError> {
        Self::begin_as(inner, Format::Rdb, opts, info, at_position)
    }

    /// [`Snapshot::begin_at`] writing `format`.
    pub fn begin_as(
        inner: &Arc<Inner>,
        format: Format,
        opts: EncodeOptions,
        info: SnapshotInfo,
        at_position: impl FnOnce(u64),
    ) -> Result<Snapshot, SnapshotError> {
        if inner.snapshot_running.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Err(SnapshotError::InProgress);
        }
        // Library sources first: the engine's lock is never taken while shards are held.
        let functions = inner.script_engine.read().as_ref().map(|e| e.library_sources()).unwrap_or_default();
        let policy = inner.evict.policy();
        let clock_now = inner.clock.now_ms();
        let clock = match policy {
            _ if format != Format::Rdb => ClockBits::None,
            crate::evict::Policy::AllKeysLru | crate::evict::Policy::VolatileLru => ClockBits::Lru { now: clock_now },
            p if p.lfu() => ClockBits::Lfu { now: clock_now, decay: inner.evict.lfu_decay().unwrap_or(1) },
            _ => ClockBits::None,
        };
        let shared = Arc::new(Shared {
            clock,
            encode: match format {
                Format::Rdb => rdb::write_entry,
                Format::Commands => crate::aof::rewrite::write_entry,
            },
            side: (0..inner.dbs.len()).map(|_| Mutex::new(Vec::new())).collect(),
            opts,
            discard: AtomicBool::new(false),
            captured: AtomicU64::new(0),
            walked: AtomicU64::new(0),
        });
        let now = inner.clock.now_ms();
        let all: Vec<usize> = (0..inner.dbs.len()).collect();
        let mut position = 0;
        let sizes: Vec<(u64, u64)> = crate::access::Access::new(inner, 0, now).write_dbs(&all, |dbs| {
            position = inner.propagation.position();
            at_position(position);
            dbs.iter_mut()
                .map(|(db, shards)| {
                    let (mut keys, mut volatile) = (0, 0);
                    for shard in shards.iter_mut() {
                        keys += shard.dict.len() as u64;
                        volatile += shard.volatile_len() as u64;
                        shard.snap_sense ^= META_SNAP;
                        shard.snap = Some(ShardSnapshot { shared: shared.clone(), db: *db });
                    }
                    (keys, volatile)
                })
                .collect()
        });
        // INFO's `current_save_keys_total` / `_processed` while the snapshot runs.
        let total: u64 = sizes.iter().map(|&(keys, _)| keys).sum();
        inner.rdb.save_keys_processed.store(0, Relaxed);
        inner.rdb.save_keys_total.store(total, Relaxed);
        Ok(Snapshot {
            inner: inner.clone(),
            shared,
            sizes,
            functions,
            started: now / 1000,
            info,
            format,
            position,
            walked: false,
            stop: None,
        })
    }

    /// Makes the walk give up writing as soon as `flag` is set (BGSAVE aborted by FLUSHALL
    /// or SHUTDOWN); [`Snapshot::write_to`] then still finishes the walk, marking only.
    pub fn stop_on(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// The propagation stream's position at the snapshot's instant: blocks numbered below
    /// it are in the snapshot, the others are not (an AOF rewrite or a replica's full sync
    /// continues the stream from here).
    pub fn stream_position(&self) -> u64 {
        self.position
    }

    /// Sets the replication AUX fields to write (known once the snapshot's position is).
    pub fn set_replication(&mut self, replication: Option<(u64, String, i64)>) {
        self.info.replication = replication;
    }

    /// Entries writers had to save ahead of the walk so far.
    pub fn captured_by_writers(&self) -> u64 {
        self.shared.captured.load(Relaxed)
    }

    /// Streams the image as a complete RDB file (header, AUX fields, functions, every
    /// non-empty database, EOF and checksum) into `sink`. `checksum`: write the CRC64
    /// trailer (`rdbchecksum`); otherwise it is zero, as Redis writes it.
    ///
    /// On a sink error the walk still completes (marking only) before the error returns.
    pub fn write_to(mut self, sink: &mut dyn Write, checksum: bool) -> Result<(), SnapshotError> {
        let rdb_format = self.format == Format::Rdb;
        let checksum = checksum && rdb_format;
        let mut out =
            Out { sink, buf: Vec::with_capacity(FLUSH_BYTES * 2), crc: rdb::BgCrc64::new(), checksum, error: None };
        if rdb_format {
            rdb::write_header(&mut out.buf);
            self.write_aux(&mut out.buf);
        }
        for code in &self.functions {
            if rdb_format {
                rdb::write_function(&mut out.buf, code);
            } else {
                crate::aof::writer::encode_command(
                    &mut out.buf,
                    &[b"FUNCTION".to_vec(), b"LOAD".to_vec(), code.clone()],
                );
            }
        }
        let delay = self.inner.config.read().get_i64("rdb-key-save-delay");
        for db in 0..self.inner.dbs.len() {
            let (keys, volatile) = self.sizes[db];
            if keys > 0 && rdb_format {
                rdb::write_select_db(&mut out.buf, db as u64);
                rdb::write_resize_db(&mut out.buf, keys, volatile);
            } else if keys > 0 {
                crate::aof::writer::encode_command(&mut out.buf, &[b"SELECT".to_vec(), db.to_string().into_bytes()]);
            }
            for i in 0..SHARDS {
                self.walk_shard(db, i, &mut out, delay);
            }
            // No shard of this database can capture anything more: drain for good.
            out.take_side(&self.shared.side[db]);
            out.maybe_flush(&self.shared, true);
        }
        self.walked = true;
        if rdb_format {
            rdb::write_eof(&mut out.buf, 0);
        }
        if self.shared.discard.load(Relaxed) && out.error.is_none() {
            out.error = Some(io::Error::new(io::ErrorKind::Interrupted, "snapshot stopped"));
        }
        out.finish();
        match out.error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn write_aux(&self, buf: &mut Vec<u8>) {
        rdb::write_aux(buf, b"redis-ver", crate::commands::connection::REDIS_VERSION.as_bytes());
        rdb::write_aux_int(buf, b"redis-bits", (std::mem::size_of::<usize>() * 8) as i64);
        rdb::write_aux_int(buf, b"ctime", self.started);
        rdb::write_aux_int(buf, b"used-mem", self.info.used_memory as i64);
        if let Some((db, id, offset)) = &self.info.replication {
            rdb::write_aux_int(buf, b"repl-stream-db", *db as i64);
            rdb::write_aux(buf, b"repl-id", id.as_bytes());
            rdb::write_aux_int(buf, b"repl-offset", *offset);
        }
        rdb::write_aux_int(buf, b"aof-base", self.info.aof_base as i64);
    }

    /// Walks shard `i` of database `db` to the end in short batches, then detaches the
    /// snapshot from it.
    fn walk_shard(&self, db: usize, i: usize, out: &mut Out<'_>, delay_us: i64) {
        let lock = self.inner.dbs[db].shard_at(i);
        let mut cursor = 0u64;
        loop {
            if self.stop.as_ref().is_some_and(|f| f.load(Relaxed)) {
                self.shared.discard.store(true, Relaxed);
            }
            let (done, written) = {
                let mut shard = lock.write();
                let discard = self.shared.discard.load(Relaxed);
                let s: &Shard = &shard;
                let mut written = 0usize;
                for _ in 0..BUCKETS_PER_BATCH {
                    cursor = s.dict.scan(cursor, |node| {
                        if !s.snapshotted(node) {
                            mark(s, node);
                            if !discard {
                                let deadline = s.deadline(node, Dict::hash_of(node));
                                self.shared.clock.write(&mut out.buf, node.meta.load(Relaxed));
                                (self.shared.encode)(&mut out.buf, &node.key, &node.value, deadline, &self.shared.opts);
                                written += 1;
                            }
                        }
                    });
                    if cursor == 0 || out.buf.len() >= FLUSH_BYTES {
                        break;
                    }
                }
                if cursor == 0 {
                    shard.snap = None;
                }
                if delay_us > 0 && written > 0 {
                    // rdb-key-save-delay (tests): slow the walk down, as Redis's child does.
                    drop(shard);
                    std::thread::sleep(std::time::Duration::from_micros(delay_us as u64 * written as u64));
                }
                (cursor == 0, written)
            };
            if written > 0 || done {
                let walked = self.shared.walked.fetch_add(written as u64, Relaxed) + written as u64;
                let processed = walked + self.shared.captured.load(Relaxed);
                self.inner.rdb.save_keys_processed.store(processed, Relaxed);
            }
            out.take_side(&self.shared.side[db]);
            out.maybe_flush(&self.shared, false);
            if done {
                return;
            }
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if !self.walked {
            // Never written (or the writer panicked): finish the walk marking only, so every
            // entry ends on the new sense and every shard is detached.
            self.shared.discard.store(true, Relaxed);
            let mut sink = io::sink();
            let mut out =
                Out { sink: &mut sink, buf: Vec::new(), crc: rdb::BgCrc64::new(), checksum: false, error: None };
            for db in 0..self.inner.dbs.len() {
                for i in 0..SHARDS {
                    self.walk_shard(db, i, &mut out, 0);
                }
            }
        }
        self.inner.rdb.save_keys_total.store(0, Relaxed);
        self.inner.rdb.save_keys_processed.store(0, Relaxed);
        self.inner.snapshot_running.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// The walk's staging buffer in front of the sink, keeping the running CRC64 (on a helper
/// thread once the stream is large: see [`rdb::BgCrc64`]; each full buffer is written,
/// then handed to it, and the walk goes on in a recycled one).
struct Out<'a> {
    sink: &'a mut dyn Write,
    buf: Vec<u8>,
    crc: rdb::BgCrc64,
    checksum: bool,
    error: Option<io::Error>,
}

impl Out<'_> {
    /// Appends what writers saved for this database.
    fn take_side(&mut self, side: &Mutex<Vec<u8>>) {
        let mut side = side.lock();
        if !side.is_empty() {
            if self.buf.is_empty() {
                std::mem::swap(&mut self.buf, &mut side);
            } else {
                self.buf.extend_from_slice(&side);
                side.clear();
            }
        }
    }

    fn maybe_flush(&mut self, shared: &Shared, force: bool) {
        if self.buf.len() >= FLUSH_BYTES || (force && !self.buf.is_empty()) {
            self.flush(shared);
        }
    }

    fn flush(&mut self, shared: &Shared) {
        if self.error.is_none() {
            if let Err(e) = self.sink.write_all(&self.buf) {
                shared.discard.store(true, Relaxed);
                self.error = Some(e);
            } else if self.checksum {
                let full = std::mem::take(&mut self.buf);
                self.buf = self.crc.update_vec(full);
                return;
            }
        }
        self.buf.clear();
    }

    /// Writes the rest and the checksum (the EOF opcode's trailing 8 bytes are part of the
    /// buffer: they are patched with the CRC of everything before them).
    fn finish(&mut self) {
        if self.error.is_some() {
            return;
        }
        let n = self.buf.len();
        if self.checksum && n >= 8 {
            self.crc.update(&self.buf[..n - 8]);
            let crc = self.crc.value();
            self.buf[n - 8..].copy_from_slice(&crc.to_le_bytes());
        }
        if let Err(e) = self.sink.write_all(&self.buf).and_then(|_| self.sink.flush()) {
            self.error = Some(e);
        }
        self.buf.clear();
    }
}
