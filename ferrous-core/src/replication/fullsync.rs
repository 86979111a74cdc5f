//! Full-sync transfers shared by every replica waiting for one, as Redis 7.0 shares one
//! fork between them.
//!
//! - A replica asking for a full sync becomes a [`Job`] and waits (INFO `wait_bgsave`).
//! - With `repl-diskless-sync yes` and every waiting replica able to load a diskless payload
//!   (`capa eof`), the transfer starts once the oldest job has waited
//!   `repl-diskless-sync-delay` seconds, or at once when `repl-diskless-sync-max-replicas`
//!   replicas wait (Redis's `replicationStartPendingFork`, run here by the waiting replica
//!   threads every 100 ms instead of `replicationCron`). Otherwise it starts at once, to disk.
//! - **Socket target**: ONE snapshot of the fork-less snapshot service is teed to every
//!   job's socket (`$EOF:<40 bytes>` ... the same 40 bytes), as Redis's parent copies its
//!   child's pipe to every replica connection: a replica that cannot keep up slows the
//!   others down to its own pace, and one whose write fails or stalls for `repl-timeout` is
//!   dropped while the others go on. Replicas arriving meanwhile wait for the next transfer.
//! - **Disk target**: the snapshot is written once to a file in `dir`; each replica's own
//!   thread then sends it (`$<length>`, INFO `send_bulk`). A replica arriving while the file
//!   is being written attaches to it (Redis's "Waiting for end of BGSAVE for SYNC").
//!
//! Every replica of a transfer continues the stream from the same offset: the snapshot's
//! position, announced in its `+FULLRESYNC` and in the payload's `repl-offset`.
use super::{offset_at, reselect_from, Peer};
use crate::db::Inner;
use crate::persistence::{log_error, log_notice};
use crate::snapshot::{Format, Snapshot, SnapshotError, SnapshotInfo};
use parking_lot::{Condvar, Mutex};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One replica waiting for (or taking part in) a full-sync transfer.
pub(crate) struct Job {
    pub(crate) peer: Arc<Peer>,
    /// The replica's connection (a clone of the one its thread holds).
    stream: TcpStream,
    /// Answer `+FULLRESYNC` (PSYNC) rather than nothing (old SYNC).
    psync: bool,
    /// `REPLCONF capa eof`.
    capa_eof: bool,
    since: Instant,
    outcome: Mutex<Outcome>,
    done: Condvar,
}

/// How a job ended.
pub(crate) enum Outcome {
    Pending,
    /// The payload was streamed; the stream continues from this 0-based index.
    Socket(u64),
    /// The payload is in this file, to be sent by the replica's thread; the stream
    /// continues from this 0-based index.
    Disk(u64, Arc<SyncFile>),
    Failed(String),
}

/// A snapshot written to disk for replicas; removed when the last one has sent it.
pub(crate) struct SyncFile {
    pub(crate) path: std::path::PathBuf,
}

impl Drop for SyncFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The transfers of one Database.
#[derive(Default)]
pub(crate) struct FullSyncs {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Jobs waiting for the next transfer (Redis's `WAIT_BGSAVE_START`).
    waiting: Vec<Arc<Job>>,
    /// The transfer running, if any.
    running: Option<Running>,
    /// Transfers started (numbers the disk files).
    started: u64,
}

enum Running {
    Socket,
    /// Writing the file: replicas may still attach, continuing from `offset` (`None` while
    /// the snapshot is starting: they are answered with the others once it is known).
    Disk {
        offset: Option<u64>,
        replid: String,
        attached: Vec<Arc<Job>>,
    },
    /// The file is written; its replicas are being sent it.
    DiskDone,
}

impl Job {
    pub(crate) fn new(peer: Arc<Peer>, stream: TcpStream, psync: bool, capa_eof: bool) -> Arc<Job> {
        Arc::new(Job {
            peer,
            stream,
            psync,
            capa_eof,
            since: Instant::now(),
            outcome: Mutex::new(Outcome::Pending),
            done: Condvar::new(),
        })
    }

    fn finish(&self, outcome: Outcome) {
        let mut o = self.outcome.lock();
        if matches!(*o, Outcome::Pending) {
            *o = outcome;
        }
        self.done.notify_all();
    }

    fn name(&self) -> String {
        format!("{}:{}", self.peer.ip, self.peer.port)
    }

    fn fullresync(&self, replid: &str, offset: u64) -> io::Result<()> {
        if self.psync {
            (&self.stream).write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes())?;
        }
        Ok(())
    }
}

fn diskless_config(inner: &Inner) -> (bool, Duration, usize) {
    let c = inner.config.read();
    (
        c.get_bool("repl-diskless-sync"),
        Duration::from_secs(c.get_i64("repl-diskless-sync-delay").max(0) as u64),
        c.get_i64("repl-diskless-sync-max-replicas").max(0) as usize,
    )
}

/// Queues `job` for a transfer (or attaches it to the disk transfer being written) and
/// starts one if it is time. The caller then waits with [`wait`].
pub(crate) fn enqueue(inner: &Arc<Inner>, job: &Arc<Job>) {
    let (diskless, delay, _) = diskless_config(inner);
    let mut st = inner.repl.fullsyncs.state.lock();
    match &mut st.running {
        Some(Running::Disk { offset: None, attached, .. }) => {
            attached.push(job.clone());
            log_notice(inner, "Waiting for end of BGSAVE for SYNC");
            return;
        }
        Some(Running::Disk { offset: Some(offset), replid, attached }) => {
            // The image being written is an earlier point of the stream the replica will
            // get from `offset` on: usable while the backlog still holds that offset.
            let held = {
                let b = inner.repl.backlog.lock();
                let ok = *offset >= b.first() && *offset <= b.offset;
                if ok {
                    job.peer.sent.store(*offset, Relaxed);
                }
                ok
            };
            if held && job.fullresync(replid, *offset).is_ok() {
                attached.push(job.clone());
                log_notice(inner, "Waiting for end of BGSAVE for SYNC");
                return;
            }
            job.peer.sent.store(u64::MAX, Relaxed);
            log_notice(inner, "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC");
        }
        Some(Running::Socket) => {
            log_notice(inner, "Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC")
        }
        Some(Running::DiskDone) => log_notice(inner, "Waiting for next BGSAVE for SYNC"),
        None if diskless && job.capa_eof && !delay.is_zero() => {
            log_notice(inner, "Delay next BGSAVE for diskless SYNC")
        }
        None => {}
    }
    st.waiting.push(job.clone());
    maybe_start(inner, &mut st);
}

/// Waits for `job`'s transfer; `stopped` says the replica went away meanwhile (it is then
/// taken out of the queue, or dropped from the running transfer by its failed writes).
pub(crate) fn wait(inner: &Arc<Inner>, job: &Arc<Job>, stopped: impl Fn() -> bool) -> Outcome {
    loop {
        {
            let mut o = job.outcome.lock();
            if !matches!(*o, Outcome::Pending) {
                return std::mem::replace(&mut *o, Outcome::Pending);
            }
            job.done.wait_for(&mut o, Duration::from_millis(100));
            if !matches!(*o, Outcome::Pending) {
                return std::mem::replace(&mut *o, Outcome::Pending);
            }
        }
        let mut st = inner.repl.fullsyncs.state.lock();
        if stopped() {
            st.waiting.retain(|j| !Arc::ptr_eq(j, job));
            if let Some(Running::Disk { attached, .. }) = &mut st.running {
                attached.retain(|j| !Arc::ptr_eq(j, job));
            }
            job.peer.dropped.store(true, Relaxed);
            return Outcome::Failed("replica dropped before its snapshot".into());
        }
        // Redis's cron: the delay may have passed.
        maybe_start(inner, &mut st);
    }
}

/// Starts a transfer for the waiting jobs when none runs and it is time (see the module
/// documentation).
fn maybe_start(inner: &Arc<Inner>, st: &mut State) {
    if st.running.is_some() || st.waiting.is_empty() {
        return;
    }
    // A BGSAVE or AOF rewrite holds the snapshot service: the next look starts ours.
    if inner.snapshot_running.load(Relaxed) {
        return;
    }
    let (diskless, delay, max) = diskless_config(inner);
    let socket = diskless && st.waiting.iter().all(|j| j.capa_eof);
    let oldest = st.waiting.iter().map(|j| j.since.elapsed()).max().unwrap_or_default();
    if socket && !delay.is_zero() && !(max > 0 && st.waiting.len() >= max) && oldest < delay {
        return;
    }
    let jobs = std::mem::take(&mut st.waiting);
    st.started += 1;
    let n = st.started;
    st.running = Some(if socket {
        Running::Socket
    } else {
        Running::Disk { offset: None, replid: String::new(), attached: Vec::new() }
    });
    let owner = inner.clone();
    let spawned = std::thread::Builder::new().name("ferrous-fullsync".into()).spawn(move || {
        let guard = Finish { inner: owner.clone(), jobs: jobs.clone() };
        if socket {
            to_sockets(&owner, jobs);
        } else {
            to_disk(&owner, jobs, n);
        }
        drop(guard);
    });
    if spawned.is_err() {
        st.running = None;
        log_error(inner, "Can't create a thread for a replica full sync");
    }
}

/// Ends a transfer however it ends: jobs still pending fail, the next transfer may start.
struct Finish {
    inner: Arc<Inner>,
    jobs: Vec<Arc<Job>>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        for j in &self.jobs {
            j.finish(Outcome::Failed("the full sync transfer failed".into()));
        }
        let mut st = self.inner.repl.fullsyncs.state.lock();
        if let Some(Running::Disk { attached, .. }) = st.running.take() {
            for j in attached {
                j.finish(Outcome::Failed("the full sync transfer failed".into()));
            }
        }
        maybe_start(&self.inner, &mut st);
    }
}

/// Begins the snapshot every job of a transfer shares; returns it with the 0-based index the
/// stream continues from and the stream's database. `None` when every job went away first,
/// or when the snapshot could not start (logged).
fn begin(inner: &Arc<Inner>, jobs: &[Arc<Job>]) -> Option<(Snapshot, u64, usize)> {
    let opts = crate::rdb::EncodeOptions { compress: inner.config.read().get_bool("rdbcompression") };
    loop {
        if jobs.iter().all(|j| j.peer.dropped.load(Relaxed)) {
            return None;
        }
        // On a replica (serving sub-replicas) the link applies no command of its master's
        // stream meanwhile: the snapshot, the offset and the stream's database agree.
        let applying = inner.repl.apply_lock.lock();
        let replica = inner.repl.is_replica();
        match Snapshot::begin_as(inner, Format::Rdb, opts, SnapshotInfo::default(), |position| {
            if !replica {
                reselect_from(inner, position)
            }
        }) {
            Ok(s) if replica => {
                // The proxied stream goes on in its master's database without a SELECT:
                // the sub-replica starts there (`repl-stream-db`).
                let db = inner.repl.link.lock().as_ref().map_or(0, |l| l.stream_db());
                return Some((s, inner.repl.offset(), db));
            }
            Ok(s) => {
                drop(applying);
                // The stream after the snapshot selects its database first.
                let offset = offset_at(inner, s.stream_position());
                return Some((s, offset, 0));
            }
            // A BGSAVE or AOF rewrite runs: ours starts when it ends.
            Err(SnapshotError::InProgress) => {
                drop(applying);
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => {
                log_error(inner, &format!("Can't start the snapshot for SYNC: {e}"));
                return None;
            }
        }
    }
}

/// Registers `offset` as every job's next byte, so the backlog keeps the stream from there.
fn hold_stream(inner: &Inner, jobs: &[Arc<Job>], offset: u64) -> bool {
    let b = inner.repl.backlog.lock();
    if offset < b.first() {
        return false;
    }
    for j in jobs {
        j.peer.sent.store(offset, Relaxed);
    }
    true
}

/// The diskless transfer: one snapshot teed to every job's socket.
fn to_sockets(inner: &Arc<Inner>, jobs: Vec<Arc<Job>>) {
    let Some((mut snapshot, offset, stream_db)) = begin(inner, &jobs) else { return };
    log_notice(inner, "Starting BGSAVE for SYNC with target: replicas sockets");
    if !hold_stream(inner, &jobs, offset) {
        return;
    }
    let replid = inner.repl.ids().replid;
    snapshot.set_replication(Some((stream_db as u64, replid.clone(), offset as i64)));
    let (checksum, timeout) = {
        let c = inner.config.read();
        (c.get_bool("rdbchecksum"), c.get_i64("repl-timeout").max(1) as u64)
    };
    let mark = crate::db::random_hex_id();
    let mut tee = Tee { inner, sinks: Vec::new() };
    for j in &jobs {
        let _ = j.stream.set_write_timeout(Some(Duration::from_secs(timeout)));
        let head =
            j.fullresync(&replid, offset).and_then(|_| (&j.stream).write_all(format!("$EOF:{mark}\r\n").as_bytes()));
        match head {
            Ok(()) => tee.sinks.push(j.clone()),
            Err(e) => tee.lose(j, &e),
        }
    }
    log_notice(inner, "Background RDB transfer started");
    let written = snapshot.write_to(&mut tee, checksum);
    let tail = |j: &Arc<Job>| (&j.stream).write_all(mark.as_bytes());
    if written.is_ok() {
        for j in std::mem::take(&mut tee.sinks) {
            match tail(&j) {
                Ok(()) => tee.sinks.push(j),
                Err(e) => tee.lose(&j, &e),
            }
        }
    } else {
        tee.sinks.clear();
    }
    log_notice(
        inner,
        &format!("Diskless rdb transfer, done reading from pipe, {} replicas still up.", tee.sinks.len()),
    );
    match written {
        Ok(()) => log_notice(inner, "Background RDB transfer terminated with success"),
        Err(e) => log_error(inner, &format!("Background transfer error: {e}")),
    }
    for j in &tee.sinks {
        let _ = j.stream.set_write_timeout(None);
        log_notice(
            inner,
            &format!(
                "Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming",
                j.name()
            ),
        );
        // Redis puts a diskless replica online when its transfer ends; the stream then
        // starts at its first ACK.
        *j.peer.state.lock() = "online";
        j.finish(Outcome::Socket(offset));
    }
}

/// The sockets of a diskless transfer, as one sink.
struct Tee<'a> {
    inner: &'a Inner,
    sinks: Vec<Arc<Job>>,
}

impl Tee<'_> {
    fn lose(&self, job: &Arc<Job>, e: &io::Error) {
        let message = if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            format!("Disconnecting timedout replica (streaming sync): {}", job.name())
        } else {
            format!("Diskless rdb transfer, write error sending DB to replica {}: {e}", job.name())
        };
        log_error(self.inner, &message);
        job.peer.dropped.store(true, Relaxed);
        let _ = job.stream.shutdown(std::net::Shutdown::Both);
        job.finish(Outcome::Failed(message));
    }
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// Writes `buf` to every replica still there, one after the other (each socket's
    /// buffer absorbs the difference in pace); fails only when none is left.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        for j in std::mem::take(&mut self.sinks) {
            let r = if j.peer.dropped.load(Relaxed) {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "replica dropped"))
            } else {
                (&j.stream).write_all(buf)
            };
            match r {
                Ok(()) => self.sinks.push(j),
                Err(e) => self.lose(&j, &e),
            }
        }
        self.inner.stats.net_repl_output_bytes.fetch_add(buf.len() as u64 * self.sinks.len() as u64, Relaxed);
        if self.sinks.is_empty() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "no replica left for the transfer"));
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The disk transfer: the snapshot written once to a file, then sent by each replica's
/// thread. Replicas arriving while the file is written attach to it.
fn to_disk(inner: &Arc<Inner>, mut jobs: Vec<Arc<Job>>, n: u64) {
    let Some((mut snapshot, offset, stream_db)) = begin(inner, &jobs) else { return };
    log_notice(inner, "Starting BGSAVE for SYNC with target: disk");
    let replid = inner.repl.ids().replid;
    {
        // Replicas that arrived while the snapshot was starting share it; later ones attach
        // with the offset known.
        let mut st = inner.repl.fullsyncs.state.lock();
        if let Some(Running::Disk { attached, .. }) = &mut st.running {
            jobs.append(attached);
        }
        st.running = Some(Running::Disk { offset: Some(offset), replid: replid.clone(), attached: Vec::new() });
    }
    let _finish = Finish { inner: inner.clone(), jobs: jobs.clone() };
    if !hold_stream(inner, &jobs, offset) {
        return;
    }
    snapshot.set_replication(Some((stream_db as u64, replid.clone(), offset as i64)));
    let mut live = Vec::new();
    for j in &jobs {
        match j.fullresync(&replid, offset) {
            Ok(()) => live.push(j.clone()),
            Err(e) => {
                j.peer.dropped.store(true, Relaxed);
                j.finish(Outcome::Failed(e.to_string()));
            }
        }
    }
    let (dir, checksum) = {
        let c = inner.config.read();
        (c.get("dir").unwrap_or(".").to_string(), c.get_bool("rdbchecksum"))
    };
    let file = SyncFile { path: std::path::Path::new(&dir).join(format!("temp-repl-{}-{n}.rdb", std::process::id())) };
    let written = (|| -> io::Result<()> {
        let f = std::fs::File::create(&file.path)?;
        let mut w = io::BufWriter::with_capacity(1 << 20, &f);
        snapshot.write_to(&mut w, checksum).map_err(|e| io::Error::other(e.to_string()))?;
        w.flush()
    })();
    // From here a new replica waits for the next transfer.
    let attached = match inner.repl.fullsyncs.state.lock().running.replace(Running::DiskDone) {
        Some(Running::Disk { attached, .. }) => attached,
        _ => Vec::new(),
    };
    live.extend(attached);
    match written {
        Ok(()) => {
            log_notice(inner, "Background saving terminated with success");
            let file = Arc::new(file);
            for j in live {
                j.finish(Outcome::Disk(offset, file.clone()));
            }
        }
        Err(e) => {
            log_error(inner, &format!("Background saving error: {e}"));
            for j in live {
                j.finish(Outcome::Failed(format!("the snapshot for SYNC failed: {e}")));
            }
        }
    }
}
