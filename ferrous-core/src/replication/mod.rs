//! Replication, as Redis 7.0 (PSYNC2): this Database as a master of replicas, and as a
//! replica of a remote master.
//!
//! - [`Backlog`]: the replication stream. On a master it is fed by the propagation stream
//!   ([`BacklogSink`], attached when the first replica connects, as Redis creates its
//!   backlog then); on a replica by the bytes its master sent, verbatim (sub-replicas get the
//!   master's stream proxied, offsets and all). It is both Redis's backlog (the last
//!   `repl-backlog-size` bytes, for partial resyncs) and every replica's output buffer (7.0's
//!   shared replication buffer): bytes a connected replica has not been sent yet are kept,
//!   up to the replica class of `client-output-buffer-limit`, past which the replica is
//!   dropped.
//! - [`master`]: serving one replica (`PSYNC` / `SYNC`) on its own threads: a partial resync
//!   from the backlog, or a full one, then the stream.
//! - [`fullsync`]: full-sync transfers from the fork-less snapshot service, one shared by
//!   every replica waiting for it (`repl-diskless-sync-delay` / `-max-replicas`): teed to
//!   their sockets diskless with the EOF marker, or written once to a file they attach to.
//! - [`replica`]: the link to a master (`REPLICAOF`, [`crate::Builder::replica_of`]): the
//!   handshake, the transferred RDB, then the stream applied by a master client whose
//!   replies go nowhere; reconnects with partial resync.
//!
//! Offsets: `offset` counts every byte the stream ever held (Redis's
//! `master_repl_offset`); byte `i` (0-based) is Redis's offset `i + 1`.
pub mod failover;
pub(crate) mod fullsync;
pub mod master;
pub mod replica;

use crate::db::{random_hex_id, Inner};
use crate::propagate::{Block, ChangeSink};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Replication ids (PSYNC2): the current one, and the previous one with the offset up to
/// which it is valid (so a promoted replica still serves partial resyncs to its siblings).
#[derive(Clone, Debug)]
pub struct Ids {
    /// `master_replid`.
    pub replid: String,
    /// `master_replid2` (all zeros when none).
    pub replid2: String,
    /// `second_repl_offset` (-1 when none).
    pub second_offset: i64,
}

const NO_ID: &str = "0000000000000000000000000000000000000000";

/// The replication state of one Database.
pub struct Replication {
    pub(crate) ids: Mutex<Ids>,
    pub(crate) backlog: Mutex<Backlog>,
    /// Signalled when bytes are appended to the backlog (replica senders wait on it).
    pub(crate) data: Condvar,
    /// The backlog sink is attached to the propagation stream.
    sink_attached: AtomicBool,
    /// This Database is a replica: its own writes are not fed to the backlog (the master's
    /// stream is proxied instead).
    pub(crate) is_replica: AtomicBool,
    /// The link to our master, while a replica.
    pub(crate) link: Mutex<Option<Arc<replica::Link>>>,
    /// Acknowledged offsets changed (WAIT).
    pub(crate) acks: Condvar,
    pub(crate) acks_lock: Mutex<()>,
    /// Unix ms of the last PING sent to the replicas.
    last_ping_ms: AtomicI64,
    /// Clients blocked in WAIT.
    waits: Mutex<Vec<PendingWait>>,
    /// A SHUTDOWN waiting for lagging replicas ([`begin_shutdown_wait`]).
    shutdown: Mutex<Option<PendingShutdown>>,
    /// Replica senders waiting on `data`.
    pub(crate) senders_waiting: std::sync::atomic::AtomicUsize,
    /// [`failover`] state (`master_failover_state`).
    pub failover_state: std::sync::atomic::AtomicU8,
    /// FAILOVER ABORT was asked.
    pub(crate) failover_abort: AtomicBool,
    /// Held by the link thread while it applies one command of its master's stream and
    /// counts its bytes, and by a save while it fixes its image: the saved offset is
    /// exactly the data's (Redis's fork takes both at one instant).
    pub(crate) apply_lock: parking_lot::ReentrantMutex<()>,
    /// The master stream's database restored from an RDB file at start-up (`repl-stream-db`),
    /// for the link started next.
    pub(crate) restored_db: Mutex<Option<usize>>,
    /// Unix ms since a master with a backlog has had no replica (`repl-backlog-ttl`).
    pub(crate) no_replicas_since: AtomicI64,
    /// Full-sync transfers shared by the replicas waiting for one.
    pub(crate) fullsyncs: fullsync::FullSyncs,
}

/// The replication AUX fields of an RDB file (`repl-stream-db`, `repl-id`, `repl-offset`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedReplication {
    /// `repl-stream-db` (-1 when absent).
    pub stream_db: i64,
    /// `repl-id` (empty when absent).
    pub replid: String,
    /// `repl-offset` (-1 when absent).
    pub offset: i64,
}

impl SavedReplication {
    /// Nothing read yet.
    pub fn none() -> Self {
        SavedReplication { stream_db: -1, replid: String::new(), offset: -1 }
    }

    /// Takes one AUX field; false when it is not a replication field.
    pub fn take_aux(&mut self, key: &[u8], value: &[u8]) -> bool {
        let int = || std::str::from_utf8(value).ok().and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
        match key {
            b"repl-stream-db" => self.stream_db = int(),
            b"repl-offset" => self.offset = int(),
            // Redis takes the id only when it has exactly 40 characters.
            b"repl-id" if value.len() == 40 => self.replid = String::from_utf8_lossy(value).into_owned(),
            b"repl-id" => {}
            _ => return false,
        }
        true
    }

    /// Complete enough to restore from (Redis's checks at start-up).
    pub fn usable(&self) -> bool {
        self.replid.len() == 40 && self.offset >= 0 && self.stream_db >= 0
    }
}

/// A client blocked in WAIT.
pub(crate) struct PendingWait {
    waiter: Arc<crate::blocking::Waiter>,
    offset: u64,
    replicas: usize,
    deadline: Option<i64>,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            ids: Mutex::new(Ids { replid: random_hex_id(), replid2: NO_ID.into(), second_offset: -1 }),
            backlog: Mutex::new(Backlog::default()),
            data: Condvar::new(),
            sink_attached: AtomicBool::new(false),
            is_replica: AtomicBool::new(false),
            link: Mutex::new(None),
            acks: Condvar::new(),
            acks_lock: Mutex::new(()),
            last_ping_ms: AtomicI64::new(0),
            waits: Mutex::new(Vec::new()),
            shutdown: Mutex::new(None),
            senders_waiting: Default::default(),
            failover_state: Default::default(),
            failover_abort: AtomicBool::new(false),
            apply_lock: parking_lot::ReentrantMutex::new(()),
            restored_db: Mutex::new(None),
            no_replicas_since: AtomicI64::new(0),
            fullsyncs: Default::default(),
        }
    }
}

impl Replication {
    /// Wakes replica senders waiting for bytes (for an event loop's commands, once per turn:
    /// see [`begin_turn`]).
    pub(crate) fn wake_senders(&self) {
        if self.senders_waiting.load(Relaxed) > 0 {
            self.data.notify_all();
        }
    }

    /// The current replication ids.
    pub fn ids(&self) -> Ids {
        self.ids.lock().clone()
    }
    /// `master_repl_offset`.
    pub fn offset(&self) -> u64 {
        self.backlog.lock().offset
    }
    /// True while this Database replicates a master.
    pub fn is_replica(&self) -> bool {
        self.is_replica.load(Relaxed)
    }

    /// A new replication id, the old one kept as the secondary id valid up to the current
    /// offset (Redis's `shiftReplicationId`, on promotion).
    pub(crate) fn shift_id(&self) {
        let offset = self.offset();
        let mut ids = self.ids.lock();
        ids.replid2 = std::mem::replace(&mut ids.replid, random_hex_id());
        ids.second_offset = offset as i64 + 1;
    }
}

/// A connected replica as the backlog sees it.
pub struct Peer {
    /// The client id of its connection.
    pub client_id: u64,
    /// Its address (`ip` in INFO: the announced ip, or the connection's).
    pub ip: String,
    /// Its `REPLCONF listening-port`.
    pub port: u16,
    /// 0-based index of the next backlog byte to send it (`u64::MAX` while its full sync
    /// has not reached the stream yet).
    pub sent: AtomicU64,
    /// The offset it acknowledged (`REPLCONF ACK`).
    pub ack: AtomicU64,
    /// Unix ms of its last ACK.
    pub ack_ms: AtomicI64,
    /// `wait_bgsave`, `send_bulk`, `online`.
    pub state: Mutex<&'static str>,
    /// Dropped (output limit, CLIENT KILL, shutdown): its threads stop.
    pub dropped: AtomicBool,
    /// ACKs received.
    pub acks_received: AtomicU64,
}

/// The replication stream's recent bytes (see the module documentation).
pub struct Backlog {
    data: VecDeque<u8>,
    /// Bytes ever appended (`master_repl_offset`).
    pub(crate) offset: u64,
    /// Created (`repl_backlog_active`).
    pub(crate) active: bool,
    /// `repl-backlog-size`.
    pub(crate) size: usize,
    /// The replica class's hard output limit (0 = none).
    pub(crate) hard_limit: u64,
    /// (stream sequence number, offset of its first byte) of recent blocks: a full sync
    /// finds the offset of its snapshot's position here.
    marks: VecDeque<(u64, u64)>,
    /// The database the stream last selected.
    selected: Option<usize>,
    /// The first block numbered at or above each of these selects its database again (a
    /// replica's stream starts there and knows no current database).
    reselect_from: Vec<u64>,
    scratch: Vec<u8>,
    /// Connected replicas.
    pub(crate) peers: Vec<Arc<Peer>>,
}

impl Default for Backlog {
    fn default() -> Self {
        Backlog {
            data: VecDeque::new(),
            offset: 0,
            active: false,
            size: 1 << 20,
            hard_limit: 256 << 20,
            marks: VecDeque::new(),
            selected: None,
            reselect_from: Vec::new(),
            scratch: Vec::new(),
            peers: Vec::new(),
        }
    }
}

impl Backlog {
    /// 0-based index of the oldest byte held.
    pub fn first(&self) -> u64 {
        self.offset - self.data.len() as u64
    }
    /// Bytes held (`repl_backlog_histlen`).
    pub fn histlen(&self) -> u64 {
        self.data.len() as u64
    }

    /// Appends stream bytes, then drops what neither the backlog size nor a replica still
    /// needs. A replica more than the hard output limit behind is dropped.
    pub(crate) fn append(&mut self, bytes: &[u8]) {
        self.data.extend(bytes);
        self.offset += bytes.len() as u64;
        self.trim();
    }

    fn trim(&mut self) {
        let mut keep_from = self.offset.saturating_sub(self.size as u64);
        for p in &self.peers {
            let sent = p.sent.load(Relaxed);
            if sent == u64::MAX || p.dropped.load(Relaxed) {
                continue;
            }
            if self.hard_limit > 0 && self.offset - sent.min(self.offset) > self.hard_limit {
                p.dropped.store(true, Relaxed);
                continue;
            }
            keep_from = keep_from.min(sent);
        }
        let first = self.first();
        if keep_from > first {
            let n = (keep_from - first) as usize;
            self.data.drain(..n);
        }
        while self.marks.front().is_some_and(|&(_, off)| off < self.first()) && self.marks.len() > 1 {
            self.marks.pop_front();
        }
    }

    /// Copies up to `max` bytes from 0-based index `from` into `out`. `None` when `from` is no
    /// longer held.
    pub(crate) fn read(&self, from: u64, max: usize, out: &mut Vec<u8>) -> Option<usize> {
        if from < self.first() || from > self.offset {
            return None;
        }
        let start = (from - self.first()) as usize;
        let n = max.min(self.data.len() - start);
        let (a, b) = self.data.as_slices();
        if start < a.len() {
            let end = (start + n).min(a.len());
            out.extend_from_slice(&a[start..end]);
            let rest = n - (end - start);
            out.extend_from_slice(&b[..rest]);
        } else {
            out.extend_from_slice(&b[start - a.len()..start - a.len() + n]);
        }
        Some(n)
    }

    /// The next block selects its database whatever the stream selected last (after a
    /// promotion: the proxied master's stream may have selected another one).
    pub(crate) fn force_select(&mut self) {
        self.selected = None;
    }

    /// Empties the backlog and restarts it at `offset` (a replica after a full sync from its
    /// master: its stream continues the master's).
    pub(crate) fn reset(&mut self, offset: u64) {
        self.data.clear();
        self.offset = offset;
        self.marks.clear();
        self.selected = None;
        self.reselect_from.clear();
    }

    fn accept_block(&mut self, block: &Block) {
        if self.reselect_from.iter().any(|&s| block.seq >= s) {
            self.selected = None;
            self.reselect_from.retain(|&s| block.seq < s);
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        block.encode_into(&mut self.selected, &mut buf);
        self.marks.push_back((block.seq, self.offset));
        self.append(&buf);
        self.scratch = buf;
    }
}

/// Feeds the backlog from the propagation stream.
struct BacklogSink(Arc<Inner>);

impl ChangeSink for BacklogSink {
    fn accept(&self, block: &Arc<Block>) -> bool {
        let repl = &self.0.repl;
        if repl.is_replica.load(Relaxed) {
            // A replica's stream is its master's, proxied by the link.
            return true;
        }
        let mut b = repl.backlog.lock();
        // Freed (`repl-backlog-ttl`): the offset stands still until a replica comes, as
        // Redis's master_repl_offset without a backlog.
        if !b.active {
            return true;
        }
        b.accept_block(block);
        drop(b);
        if !TURN.with(|t| t.replace(t.get().map(|_| true)).is_some()) {
            repl.wake_senders();
        }
        true
    }
}

thread_local! {
    /// `Some(pending)` while this thread runs an event-loop turn ([`begin_turn`]).
    static TURN: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Called by an event loop before it runs a turn's commands: the stream they add goes to
/// the replicas when the turn ends ([`end_turn`]), so a busy master writes to each replica
/// about once per turn, as Redis does at the end of its event-loop iteration, instead of
/// waking the replica's sender for every command (each wake-up a small write, a context
/// switch here and a small read on the replica).
pub fn begin_turn() {
    TURN.with(|t| t.set(Some(false)));
}

/// The end of an event-loop turn: wakes the replica senders if the turn added to the
/// stream.
pub fn end_turn(inner: &Inner) {
    if TURN.with(|t| t.take()) == Some(true) {
        inner.repl.wake_senders();
    }
}

/// Creates the backlog if it is not there yet (a new replication id, as Redis when the
/// first replica of a master without a backlog connects) and attaches it to the
/// propagation stream.
pub(crate) fn ensure_backlog(inner: &Arc<Inner>) {
    {
        let mut b = inner.repl.backlog.lock();
        if !b.active {
            b.active = true;
            apply_limits(inner, &mut b);
            if !inner.repl.is_replica() {
                let mut ids = inner.repl.ids.lock();
                ids.replid = random_hex_id();
                ids.replid2 = NO_ID.into();
                ids.second_offset = -1;
            }
        }
    }
    attach_sink(inner);
}

fn attach_sink(inner: &Arc<Inner>) {
    if !inner.repl.sink_attached.swap(true, Relaxed) {
        crate::propagate::attach(inner, Arc::new(BacklogSink(inner.clone())));
    }
}

/// Begins a snapshot whose RDB carries the replication id and offset of its instant in
/// `repl-stream-db`, `repl-id`, `repl-offset` (Redis's `rdbPopulateSaveInfo`): a master
/// with a backlog, or a replica (unless a full sync is replacing its data), so a restart
/// can continue with a partial resync.
pub(crate) fn begin_snapshot(
    inner: &Arc<Inner>,
    opts: crate::rdb::EncodeOptions,
    info: crate::snapshot::SnapshotInfo,
) -> Result<crate::snapshot::Snapshot, crate::snapshot::SnapshotError> {
    let repl = &inner.repl;
    // The link thread applies no command while we hold this: the replica's data and
    // offset stay together.
    let _apply = repl.apply_lock.lock();
    let replica = repl.is_replica();
    let master_backlog = !replica && repl.backlog.lock().active;
    let mut snap = crate::snapshot::Snapshot::begin_at(inner, opts, info, |position| {
        if master_backlog {
            // The stream after the snapshot's offset selects its database first, so the
            // saved `repl-stream-db` is never stale.
            reselect_from(inner, position);
        }
    })?;
    let saved = if master_backlog {
        let offset = offset_at(inner, snap.stream_position());
        Some((0, repl.ids().replid, offset as i64))
    } else if replica {
        let link = repl.link.lock().clone();
        link.filter(|l| l.state.load(Relaxed) != replica::LINK_SYNC)
            .map(|l| (l.stream_db() as u64, repl.ids().replid, repl.offset() as i64))
    } else {
        None
    };
    snap.set_replication(saved);
    Ok(snap)
}

/// Takes the replication id and offset an RDB file loaded at start-up carried, as Redis
/// 7.0's `loadDataFromDisk`: a replica (`replicaof` set) continues from them as from a
/// cached master, asking its master for a partial resync; a master keeps them as its
/// secondary id with a backlog starting at that offset, so its replicas can continue too.
pub fn restore_saved(inner: &Arc<Inner>, saved: &SavedReplication, as_replica: bool) {
    if !saved.usable() {
        return;
    }
    let repl = &inner.repl;
    let offset = saved.offset as u64;
    if as_replica {
        crate::persistence::log_notice(
            inner,
            "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.",
        );
        {
            let mut ids = repl.ids.lock();
            ids.replid = saved.replid.clone();
            ids.replid2 = NO_ID.into();
            ids.second_offset = -1;
        }
        repl.backlog.lock().reset(offset);
        *repl.restored_db.lock() = usize::try_from(saved.stream_db).ok().filter(|&d| d < inner.db_count());
    } else {
        {
            let mut ids = repl.ids.lock();
            ids.replid = random_hex_id();
            ids.replid2 = saved.replid.clone();
            ids.second_offset = saved.offset.saturating_add(1);
        }
        {
            let mut b = repl.backlog.lock();
            b.reset(offset);
            b.active = true;
            apply_limits(inner, &mut b);
        }
        repl.no_replicas_since.store(inner.clock.now_ms(), Relaxed);
        attach_sink(inner);
    }
}

/// Copies `repl-backlog-size` and the replica output limit into the backlog.
pub(crate) fn apply_limits(inner: &Inner, b: &mut Backlog) {
    let c = inner.config.read();
    b.size = c.get_i64("repl-backlog-size").max(16 * 1024) as usize;
    let limits = c.get("client-output-buffer-limit").unwrap_or("").to_string();
    drop(c);
    let words: Vec<&str> = limits.split_whitespace().collect();
    for w in words.chunks(4) {
        if w.len() == 4 && (w[0] == "slave" || w[0] == "replica") {
            b.hard_limit = crate::config::parse_memory(w[1]).unwrap_or(0).max(0) as u64;
        }
    }
}

/// The offset in the replication stream of the propagation stream's `position`: where a
/// replica whose snapshot holds exactly the blocks below `position` continues. Waits for
/// the blocks below it still being published.
pub(crate) fn offset_at(inner: &Inner, position: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while inner.propagation.delivered() < position && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let b = inner.repl.backlog.lock();
    b.marks.iter().find(|&&(seq, _)| seq >= position).map_or(b.offset, |&(_, off)| off)
}

/// Marks the stream so that the first block at or above `position` selects its database.
pub(crate) fn reselect_from(inner: &Inner, position: u64) {
    let mut b = inner.repl.backlog.lock();
    // Pending positions all clear at the next block at or above them: one of each is enough.
    if b.reselect_from.last() != Some(&position) {
        b.reselect_from.push(position);
    }
}

/// Appends raw bytes to the stream (pings, GETACK, a master's stream proxied).
pub(crate) fn feed_raw(inner: &Inner, bytes: &[u8]) {
    let mut b = inner.repl.backlog.lock();
    if !b.active {
        return;
    }
    b.append(bytes);
    drop(b);
    inner.repl.wake_senders();
}

/// Replicas whose last ACK is at most `max_lag` seconds old (`min-replicas-to-write`).
pub fn good_replicas(inner: &Inner, now_ms: i64, max_lag: i64) -> usize {
    let b = inner.repl.backlog.lock();
    b.peers
        .iter()
        .filter(|p| *p.state.lock() == "online" && !p.dropped.load(Relaxed))
        .filter(|p| (now_ms - p.ack_ms.load(Relaxed)) / 1000 <= max_lag)
        .count()
}

/// Replicas that acknowledged at least `offset`.
pub fn acked(inner: &Inner, offset: u64) -> usize {
    let b = inner.repl.backlog.lock();
    b.peers.iter().filter(|p| !p.dropped.load(Relaxed) && p.ack.load(Relaxed) >= offset).count()
}

/// Registers a client blocked in WAIT until `replicas` replicas acknowledged `offset`.
pub(crate) fn add_wait(
    inner: &Inner,
    waiter: Arc<crate::blocking::Waiter>,
    offset: u64,
    replicas: usize,
    deadline: Option<i64>,
) {
    inner.repl.waits.lock().push(PendingWait { waiter, offset, replicas, deadline });
    check_waits(inner, inner.clock.now_ms());
}

/// WAITs blocked with a timeout (they are in Redis's clients timeout table).
pub(crate) fn timed_waits(inner: &Inner) -> usize {
    let waits = inner.repl.waits.lock();
    waits
        .iter()
        .filter(|w| w.deadline.is_some() && !matches!(*w.waiter.state.lock(), crate::blocking::WaiterState::Cancelled))
        .count()
}

/// Answers the WAITs that are satisfied or timed out (on every ACK and from the cron).
pub(crate) fn check_waits(inner: &Inner, now_ms: i64) {
    check_shutdown(inner, now_ms);
    let mut waits = inner.repl.waits.lock();
    if waits.is_empty() {
        return;
    }
    waits.retain(|w| {
        if matches!(*w.waiter.state.lock(), crate::blocking::WaiterState::Cancelled) {
            return false;
        }
        let n = acked(inner, w.offset);
        if n >= w.replicas || w.deadline.is_some_and(|d| d <= now_ms) {
            let reply = format!(":{n}\r\n").into_bytes();
            inner.blocking.unblock_with(&w.waiter, reply);
            return false;
        }
        true
    });
}

/// Asks every replica for an ACK now (`REPLCONF GETACK *` in the stream, as WAIT does).
pub fn request_acks(inner: &Inner) {
    feed_raw(inner, b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n");
}

/// A SHUTDOWN without NOW waiting for its replicas, as Redis 7.0's `shutdown-timeout`.
pub(crate) struct PendingShutdown {
    /// The clients blocked in SHUTDOWN (they get an error if it is aborted or fails).
    waiters: Vec<Arc<crate::blocking::Waiter>>,
    /// The stream offset every online replica must acknowledge.
    target: u64,
    deadline_ms: i64,
    opts: crate::db::ShutdownOptions,
    /// Whether the writes pause is the shutdown's own (a CLIENT PAUSE already running is
    /// left alone when the shutdown is aborted).
    paused_writes: bool,
    /// The database, for the save (weak: this state lives inside it).
    owner: std::sync::Weak<Inner>,
}

/// Online replicas that have not acknowledged `offset`: `(ip:port, bytes behind, last ACK ms)`.
fn lagging_replicas(inner: &Inner, offset: u64) -> Vec<(String, u64, i64)> {
    let b = inner.repl.backlog.lock();
    b.peers
        .iter()
        .filter(|p| !p.dropped.load(Relaxed) && *p.state.lock() == "online" && p.ack.load(Relaxed) < offset)
        .map(|p| (format!("{}:{}", p.ip, p.port), offset - p.ack.load(Relaxed), p.ack_ms.load(Relaxed)))
        .collect()
}

/// How long a shutdown asked now waits for lagging replicas (`shutdown-timeout`, in ms), or
/// `None` when it need not: NOW, a zero timeout, or every online replica has acknowledged
/// the whole stream (and no SHUTDOWN is waiting already, which it would join).
pub(crate) fn shutdown_wait_ms(inner: &Inner, opts: &crate::db::ShutdownOptions) -> Option<i64> {
    let secs = inner.config.read().get_i64("shutdown-timeout").max(0);
    let must = !opts.now
        && secs > 0
        && (inner.repl.shutdown.lock().is_some() || !lagging_replicas(inner, inner.repl.offset()).is_empty());
    must.then(|| secs.saturating_mul(1000))
}

/// SHUTDOWN without NOW when replicas lag, as Redis 7.0: writes are paused, the replicas
/// are asked for an ACK, and the client stays blocked (`waiter`) while every other client
/// goes on being served (reads; writes wait for the pause). The shutdown completes from
/// [`check_waits`] once every online replica has acknowledged the whole stream, or at the
/// timeout (the replicas still behind are logged as Redis logs them); SHUTDOWN ABORT
/// ([`abort_shutdown`]) cancels it. A second SHUTDOWN meanwhile joins the first.
pub(crate) fn begin_shutdown_wait(
    inner: &Arc<Inner>,
    waiter: Option<Arc<crate::blocking::Waiter>>,
    opts: crate::db::ShutdownOptions,
    timeout_ms: i64,
) {
    let mut pending = inner.repl.shutdown.lock();
    if let Some(p) = pending.as_mut() {
        p.waiters.extend(waiter);
        return;
    }
    crate::persistence::log_notice(inner, "Waiting for replicas before shutting down.");
    let paused_writes = !inner.pause.active();
    if paused_writes {
        inner.pause.pause(i64::MAX, crate::pause::PAUSE_WRITE);
    }
    // One GETACK, as Redis sends: each one moves the offset to reach by its own length, so
    // asking again would keep the target ahead of replicas that answer.
    request_acks(inner);
    // Read after the GETACK went into the stream: it must be acknowledged too.
    let target = inner.repl.offset();
    let deadline_ms = inner.clock.now_ms().saturating_add(timeout_ms);
    let owner = Arc::downgrade(inner);
    let waiters = waiter.into_iter().collect();
    *pending = Some(PendingShutdown { waiters, target, deadline_ms, opts, paused_writes, owner });
}

/// A shutdown asked by a signal (SIGTERM, SIGINT): unless `opts.now`, waits up to
/// `shutdown-timeout` for lagging replicas as SHUTDOWN does, then saves per `opts` and stops
/// the server through its hooks. True if it is waiting (it completes on its own); false if
/// nothing needs waiting for, and the caller shuts down now.
pub fn shutdown_after_replicas(inner: &Arc<Inner>, opts: crate::db::ShutdownOptions) -> bool {
    let Some(timeout_ms) = shutdown_wait_ms(inner, &opts) else { return false };
    begin_shutdown_wait(inner, None, opts, timeout_ms);
    true
}

/// SHUTDOWN ABORT: cancels a waiting SHUTDOWN (its clients get Redis's error, writes
/// resume). False if none is waiting.
pub(crate) fn abort_shutdown(inner: &Inner) -> bool {
    let Some(p) = inner.repl.shutdown.lock().take() else { return false };
    crate::persistence::log_notice(inner, "Shutdown manually aborted.");
    resume_after_shutdown(inner, p, crate::persistence::SHUTDOWN_FAILED);
    true
}

/// A waiting SHUTDOWN that will not happen: writes resume and its clients get `error`.
fn resume_after_shutdown(inner: &Inner, p: PendingShutdown, error: &str) {
    if p.paused_writes {
        inner.pause.unpause();
    }
    for w in &p.waiters {
        inner.blocking.unblock_with(w, format!("-{error}\r\n").into_bytes());
    }
}

/// Completes a waiting SHUTDOWN whose replicas caught up or whose time is up.
fn check_shutdown(inner: &Inner, now_ms: i64) {
    let p = {
        let mut pending = inner.repl.shutdown.lock();
        let Some(p) = pending.as_ref() else { return };
        let behind = lagging_replicas(inner, p.target.max(inner.repl.offset()));
        if !behind.is_empty() && now_ms < p.deadline_ms {
            return;
        }
        for (name, by, ack_ms) in behind {
            crate::persistence::log_error(
                inner,
                &format!(
                    "Lagging replica {name} reported offset {by} behind master, lag={}, state=online.",
                    (now_ms - ack_ms).max(0) / 1000
                ),
            );
        }
        pending.take()
    };
    let Some(p) = p else { return };
    let Some(owner) = p.owner.upgrade() else { return };
    if let Err(error) = crate::persistence::save_and_stop(&owner, &p.opts) {
        resume_after_shutdown(inner, p, &error);
    }
}

/// Drops every connected replica (a replica that resynced from a new master; SHUTDOWN).
pub(crate) fn drop_replicas(inner: &Inner) {
    let b = inner.repl.backlog.lock();
    for p in &b.peers {
        p.dropped.store(true, Relaxed);
    }
    drop(b);
    inner.repl.data.notify_all();
}

/// Remembers where the stream was when a client's command ended (Redis's `c->woff`, set
/// after every command a client runs): one load while the backlog is fed, nothing
/// otherwise.
#[inline]
pub(crate) fn note_command_end(inner: &Inner, client: &mut crate::client::ClientState) {
    if inner.repl.sink_attached.load(Relaxed) {
        client.woff = inner.propagation.position();
    }
}

/// The replication offset a client's WAIT waits for: the stream as it was when the
/// client's previous command ended (0 when the backlog was not fed then).
pub fn offset_for_wait(inner: &Inner, client: &crate::client::ClientState) -> u64 {
    if client.woff == 0 || inner.repl.is_replica() {
        return 0;
    }
    offset_at(inner, client.woff)
}

/// True when `client` is the client applying our master's stream.
pub fn is_master_client(inner: &Inner, client: u64) -> bool {
    inner.repl.link.lock().as_ref().is_some_and(|l| l.master_client.load(Relaxed) == client)
}

/// Periodic work (the Database's cron, about every 100 ms): pings replicas every
/// `repl-ping-replica-period` seconds through the stream; `min-replicas-to-write`.
pub(crate) fn cron(inner: &Inner, now_ms: i64) {
    check_waits(inner, now_ms);
    let (min, max_lag) = {
        let c = inner.config.read();
        (c.get_i64("min-replicas-to-write"), c.get_i64("min-replicas-max-lag"))
    };
    let refuse =
        min > 0 && max_lag > 0 && !inner.repl.is_replica() && (good_replicas(inner, now_ms, max_lag) as i64) < min;
    inner.rdb.set_alert(crate::persistence::ALERT_NOREPLICAS, refuse);
    if inner.repl.is_replica() {
        replica::refresh_alerts(inner);
        return;
    }
    let (period, ttl) = {
        let c = inner.config.read();
        (c.get_i64("repl-ping-replica-period").max(1) * 1000, c.get_i64("repl-backlog-ttl"))
    };
    let has_peers = !inner.repl.backlog.lock().peers.is_empty();
    if !has_peers {
        free_idle_backlog(inner, now_ms, ttl);
        return;
    }
    let last = inner.repl.last_ping_ms.load(Relaxed);
    if now_ms - last >= period {
        inner.repl.last_ping_ms.store(now_ms, Relaxed);
        feed_raw(inner, b"*1\r\n$4\r\nPING\r\n");
    }
}

/// Appends `DEL key` (`UNLINK` with `lazyfree-lazy-expire`) for each key that expired
/// while a restored master was down, selecting databases as needed, right after the saved
/// offset: its replicas continuing from there delete them too, as Redis's load feeds them.
pub(crate) fn feed_expired(inner: &Inner, keys: &[(usize, Vec<u8>)]) {
    if keys.is_empty() {
        return;
    }
    let verb: &[u8] = if inner.config.read().get_bool("lazyfree-lazy-expire") { b"UNLINK" } else { b"DEL" };
    let mut b = inner.repl.backlog.lock();
    if !b.active {
        return;
    }
    let mut out = Vec::new();
    for (db, key) in keys {
        out.clear();
        if b.selected != Some(*db) {
            crate::aof::writer::encode_command(&mut out, &[b"SELECT".to_vec(), db.to_string().into_bytes()]);
            b.selected = Some(*db);
        }
        crate::aof::writer::encode_command(&mut out, &[verb.to_vec(), key.clone()]);
        b.append(&out);
    }
}

/// A master without replicas for more than `repl-backlog-ttl` seconds (0: never) frees
/// its backlog, as Redis's replicationCron: a new replication id, no secondary id (a
/// replica of the old id could otherwise continue from a stream that has stopped).
fn free_idle_backlog(inner: &Inner, now_ms: i64, ttl: i64) {
    if ttl <= 0 {
        return;
    }
    let repl = &inner.repl;
    let mut b = repl.backlog.lock();
    if !b.active || !b.peers.is_empty() {
        return;
    }
    let since = repl.no_replicas_since.load(Relaxed);
    if since == 0 {
        repl.no_replicas_since.store(now_ms, Relaxed);
        return;
    }
    if (now_ms - since) / 1000 <= ttl {
        return;
    }
    b.active = false;
    let offset = b.offset;
    b.reset(offset);
    drop(b);
    {
        let mut ids = repl.ids.lock();
        ids.replid = random_hex_id();
        ids.replid2 = NO_ID.into();
        ids.second_offset = -1;
    }
    crate::persistence::log_notice(
        inner,
        &format!("Replication backlog freed after {ttl} seconds without connected replicas."),
    );
}

/// The last replica of a master went away (or it just became one): `repl-backlog-ttl`
/// counts from now.
pub(crate) fn no_replicas_from(inner: &Inner, now_ms: i64) {
    inner.repl.no_replicas_since.store(now_ms, Relaxed);
}

/// INFO replication, field by field, as Redis 7.0 prints them.
pub fn info_fields(inner: &Inner) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| f.push((k.to_string(), v));
    let repl = &inner.repl;
    let now = inner.clock.now_ms();
    let link = repl.link.lock().clone();
    let (offset, active, size, first, histlen, peers) = {
        let b = repl.backlog.lock();
        (b.offset, b.active, b.size, b.first(), b.histlen(), b.peers.clone())
    };
    match link.as_ref().filter(|_| repl.is_replica()) {
        None => put("role", "master".into()),
        Some(l) => {
            let c = inner.config.read();
            put("role", "slave".into());
            put("master_host", l.host.clone());
            put("master_port", l.port.to_string());
            let up = l.state.load(Relaxed) == replica::LINK_CONNECTED;
            put("master_link_status", if up { "up" } else { "down" }.into());
            let last_io = if up { ((now - l.last_io_ms.load(Relaxed)) / 1000).max(0) } else { -1 };
            put("master_last_io_seconds_ago", last_io.to_string());
            let syncing = l.state.load(Relaxed) == replica::LINK_SYNC;
            put("master_sync_in_progress", u8::from(syncing).to_string());
            put("slave_read_repl_offset", offset.to_string());
            put("slave_repl_offset", offset.to_string());
            if syncing {
                let total = l.sync_total.load(Relaxed);
                let read = l.sync_read.load(Relaxed);
                put("master_sync_total_bytes", total.to_string());
                put("master_sync_read_bytes", read.to_string());
                put("master_sync_left_bytes", (total - read as i64).to_string());
                let perc = if total > 0 { read as f64 * 100.0 / total as f64 } else { 0.0 };
                put("master_sync_perc", format!("{perc:.2}"));
                put("master_sync_last_io_seconds_ago", "0".into());
            }
            if !up {
                let since = l.down_since_ms.load(Relaxed);
                let secs = if since > 0 { (now - since) / 1000 } else { -1 };
                put("master_link_down_since_seconds", secs.to_string());
            }
            put("slave_priority", c.get_i64("replica-priority").to_string());
            put("slave_read_only", u8::from(c.get_bool("replica-read-only")).to_string());
            put("replica_announced", u8::from(c.get_bool("replica-announced")).to_string());
        }
    }
    let online: Vec<&Arc<Peer>> = peers.iter().filter(|p| !p.dropped.load(Relaxed)).collect();
    put("connected_slaves", online.len().to_string());
    if !repl.is_replica() {
        let (min, lag) = {
            let c = inner.config.read();
            (c.get_i64("min-replicas-to-write"), c.get_i64("min-replicas-max-lag"))
        };
        if min > 0 && lag > 0 {
            put("min_slaves_good_slaves", good_replicas(inner, now, lag).to_string());
        }
    }
    for (i, p) in online.iter().enumerate() {
        let lag = (now - p.ack_ms.load(Relaxed)) / 1000;
        put(
            &format!("slave{i}"),
            format!(
                "ip={},port={},state={},offset={},lag={}",
                p.ip,
                p.port,
                p.state.lock(),
                p.ack.load(Relaxed),
                lag.max(0)
            ),
        );
    }
    let ids = repl.ids();
    put("master_failover_state", failover::state_name(repl.failover_state.load(Relaxed)).into());
    put("master_replid", ids.replid);
    put("master_replid2", ids.replid2);
    put("master_repl_offset", offset.to_string());
    put("second_repl_offset", ids.second_offset.to_string());
    put("repl_backlog_active", u8::from(active).to_string());
    put("repl_backlog_size", size.to_string());
    put("repl_backlog_first_byte_offset", if active { first + 1 } else { 0 }.to_string());
    put("repl_backlog_histlen", histlen.to_string());
    f
}
