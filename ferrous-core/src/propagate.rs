//! The propagation stream: every effective write, once, in Redis 7.0's propagated form and
//! in the order the changes happened. The AOF writer, the replication backlog and in-process
//! change feeds ([`Database::changes`]) all read this one stream.
//!
//! How a command becomes a record:
//! - Dispatch opens a *frame* per command ([`enter`]); nested commands (inside EXEC, a
//!   script, a served blocked client) open nested frames on the same thread.
//! - The first change the outermost command makes to a shard (the shard's `before_change`
//!   hook, under the shard's write lock) takes a sequence number ([`stamp`]). Sequence
//!   numbers are taken under the locks that order the changes, so two commands touching the
//!   same key get numbers in the order of their changes, even on different threads.
//! - When a command ends having moved the change counter, its propagated form (the
//!   arguments as sent, or what its handler set with [`replace`], e.g. `SET k v PXAT <ms>`
//!   for `SET k v EX 10`) joins the outermost frame's list, after anything added on the way
//!   with [`also`] (the `DEL` of a key found expired).
//! - When the outermost frame closes, its list becomes one [`Block`] (wrapped in
//!   MULTI/EXEC by consumers when it holds more than one command) and is published under its
//!   sequence number. Blocks are handed to consumers strictly in sequence order: a block
//!   waits until every lower number has been published (each number taken is published,
//!   empty if the command ended up changing nothing).
//!
//! Shards stamp only while a consumer is attached (`Shard::propagate`, switched under every
//! shard lock, so the switch itself has a precise place in the order), and only inside a
//! frame. The typed Rust API's writes open frames of their own ([`typed`]) and give the
//! commands that replay them, so they reach the AOF, replicas and change feeds like a
//! client's commands; an in-process transaction is one block ([`typed_transaction`]).
use crate::db::{Database, Inner};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// One propagated command: the database it applies to and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The logical database (consumers write `SELECT` when it changes).
    pub db: usize,
    /// The command and its arguments.
    pub args: Vec<Vec<u8>>,
}

/// The effects of one top-level command, in order. More than one change is applied
/// atomically (consumers wrap them in MULTI/EXEC, as Redis does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Position in the stream.
    pub seq: u64,
    /// The commands.
    pub changes: Vec<Change>,
    /// Apply the changes as one transaction (MULTI/EXEC): a command, transaction or script
    /// that propagated more than one command. The background expiry cycle's DELs are not.
    pub transaction: bool,
}

impl Block {
    /// The commands a consumer writes for this block, as Redis writes them to its AOF and
    /// replica links: `SELECT n` before the first command of a database other than the one
    /// the stream last selected (`selected`, updated), before `MULTI` when a transaction
    /// starts in another database and inside it when the transaction switches.
    pub fn commands(&self, selected: &mut Option<usize>) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(self.changes.len() + 3);
        let mut select = |db: usize, out: &mut Vec<Vec<Vec<u8>>>| {
            if *selected != Some(db) {
                out.push(args([&b"SELECT"[..], db.to_string().as_bytes()]));
                *selected = Some(db);
            }
        };
        if self.transaction {
            if let Some(first) = self.changes.first() {
                select(first.db, &mut out);
            }
            out.push(args(["MULTI"]));
        }
        for c in &self.changes {
            select(c.db, &mut out);
            out.push(c.args.clone());
        }
        if self.transaction {
            out.push(args(["EXEC"]));
        }
        out
    }
}

impl Block {
    /// Appends [`Block::commands`] in RESP form to `out` without building them first (the
    /// AOF and the replication backlog encode every block this way).
    pub fn encode_into(&self, selected: &mut Option<usize>, out: &mut Vec<u8>) {
        fn select(db: usize, selected: &mut Option<usize>, out: &mut Vec<u8>) {
            if *selected != Some(db) {
                let n = db.to_string();
                out.extend_from_slice(b"*2\r\n$6\r\nSELECT\r\n$");
                out.extend_from_slice(n.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b"\r\n");
                *selected = Some(db);
            }
        }
        if self.transaction {
            if let Some(first) = self.changes.first() {
                select(first.db, selected, out);
            }
            out.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
        }
        for c in &self.changes {
            select(c.db, selected, out);
            encode_args(out, &c.args);
        }
        if self.transaction {
            out.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        }
    }
}

/// Appends one command in RESP form (`*<n>`, then `$<len>` and the bytes of each argument).
pub fn encode_args(out: &mut Vec<u8>, args: &[Vec<u8>]) {
    let mut num = itoa_buf(args.len());
    out.push(b'*');
    out.extend_from_slice(num.as_slice());
    out.extend_from_slice(b"\r\n");
    for a in args {
        num = itoa_buf(a.len());
        out.push(b'$');
        out.extend_from_slice(num.as_slice());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Decimal digits of `n` without an allocation.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: usize) -> Digits {
    let mut d = Digits { buf: [0; 20], start: 20 };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

/// A reader of the stream. `accept` is called in stream order, one block at a time, while
/// the stream's lock is held: keep it short (encode into a buffer, send on a channel).
pub trait ChangeSink: Send + Sync {
    /// A block was published. Returns false to be detached (a closed feed).
    fn accept(&self, block: &Arc<Block>) -> bool;
}

/// The stream of one Database.
#[derive(Default)]
pub struct Propagation {
    next_seq: AtomicU64,
    /// A consumer is (or was) attached: commands collect their propagated forms.
    attached: std::sync::atomic::AtomicBool,
    ordered: Mutex<Ordered>,
}

#[derive(Default)]
struct Ordered {
    /// The next sequence number to hand out to consumers.
    next: u64,
    /// Published blocks waiting for a lower number.
    waiting: BTreeMap<u64, Block>,
    sinks: Vec<Arc<dyn ChangeSink>>,
}

impl Propagation {
    /// The sequence number the next change will take: everything below it has happened.
    /// Read under every shard lock (a snapshot's start), it is the exact stream position of
    /// the snapshot.
    pub fn position(&self) -> u64 {
        self.next_seq.load(Relaxed)
    }

    /// The number of the next block to hand to consumers: every block below it has been
    /// delivered.
    pub fn delivered(&self) -> u64 {
        self.ordered.lock().next
    }

    fn publish(&self, block: Block) {
        let mut o = self.ordered.lock();
        if block.seq != o.next {
            o.waiting.insert(block.seq, block);
            return;
        }
        o.deliver(block);
        loop {
            let next = o.next;
            let Some(b) = o.waiting.remove(&next) else { break };
            o.deliver(b);
        }
    }
}

impl Ordered {
    fn deliver(&mut self, block: Block) {
        self.next = block.seq + 1;
        if block.changes.is_empty() || self.sinks.is_empty() {
            return;
        }
        let block = Arc::new(block);
        self.sinks.retain(|s| s.accept(&block));
    }
}

/// Attaches a consumer: from the returned stream position on, every block reaches `sink`.
/// Shards start stamping changes (the switch happens under every shard lock, so the
/// position is exact: a snapshot begun right after sees exactly the changes below it).
pub fn attach(inner: &Inner, sink: Arc<dyn ChangeSink>) -> u64 {
    let all: Vec<usize> = (0..inner.db_count()).collect();
    let acc = crate::access::Access::new(inner, 0, inner.clock.now_ms());
    acc.write_dbs(&all, |dbs| {
        for (_, shards) in dbs.iter_mut() {
            for s in shards.iter_mut() {
                s.propagate = true;
            }
        }
        inner.propagation.ordered.lock().sinks.push(sink);
        inner.propagation.attached.store(true, Relaxed);
        inner.propagation.position()
    })
}

// ---------------------------------------------------------------------------------------
// Per-thread command frames

struct Frame {
    /// What the handler said to propagate instead of its arguments.
    replaced: Option<Vec<Change>>,
    /// The thread's change count when the command started.
    dirty_at_start: u64,
    /// Propagated whether or not it changed anything ([`force`]).
    forced: bool,
    kind: FrameKind,
}

/// Who opened a frame.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    /// A command through the command table.
    Command,
    /// A typed-API write.
    Typed,
    /// An in-process transaction of typed calls.
    Transaction,
}

#[derive(Default)]
struct Context {
    /// The stream of the outermost command's database (null outside commands).
    stream: Option<*const Propagation>,
    frames: Vec<Frame>,
    /// Sequence number taken by the outermost command.
    seq: Option<u64>,
    /// The outermost command collects what it propagates (a consumer is attached, or its
    /// shard stamped a change).
    active: bool,
    /// Changes collected for the outermost command.
    changes: Vec<Change>,
    /// The outermost frame is not a client's command (active expiry): no MULTI/EXEC.
    no_transaction: bool,
    /// Changes this thread counted (`Access::add_dirty`), to tell exactly whether a
    /// command wrote.
    dirty: u64,
}

thread_local!(static CTX: RefCell<Context> = RefCell::new(Context::default()));
thread_local!(static LAST_PUBLISHED: std::cell::Cell<(*const Propagation, u64)> = const {
    std::cell::Cell::new((std::ptr::null(), 0))
});

/// The number of the last block this thread published to any stream (the event loop
/// compares it before and after a connection's commands).
pub fn last_published() -> Option<u64> {
    let (stream, seq) = LAST_PUBLISHED.get();
    (!stream.is_null()).then_some(seq)
}

/// The number of the last block this thread published to `inner`'s stream (the AOF's
/// commit makes it durable before the thread sends its replies).
pub fn last_published_to(inner: &Inner) -> Option<u64> {
    let (stream, seq) = LAST_PUBLISHED.get();
    std::ptr::eq(stream, &inner.propagation).then_some(seq)
}

/// Counts changes made by this thread (called by `Access::add_dirty`).
#[inline]
pub(crate) fn count_dirty(n: u64) {
    CTX.with(|c| c.borrow_mut().dirty += n);
}

/// Takes the outermost command's sequence number if it has none yet. Called by a shard
/// about to change (under its write lock) while a consumer is attached.
#[inline]
pub(crate) fn stamp() {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.seq.is_none() {
            if let Some(stream) = c.stream {
                // SAFETY: `stream` is set by `enter` from a live `Inner` and cleared when
                // the outermost frame closes; the command holds a `Database` meanwhile.
                c.seq = Some(unsafe { &*stream }.next_seq.fetch_add(1, Relaxed));
                // A consumer attached after this command started: collect from here on.
                c.active = true;
            }
        }
    });
}

/// Opens a command frame (dispatch calls this around every command).
pub(crate) fn enter(inner: &Inner) {
    enter_as(inner, FrameKind::Command);
}

fn enter_as(inner: &Inner, kind: FrameKind) {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.frames.is_empty() {
            c.stream = Some(&inner.propagation as *const Propagation);
            c.active = inner.propagation.attached.load(Relaxed);
            c.no_transaction = false;
        }
        let dirty_at_start = c.dirty;
        c.frames.push(Frame { replaced: None, dirty_at_start, forced: false, kind });
    });
}

/// Closes the innermost frame. `own`: the command's arguments and database, propagated
/// when the command changed something and its handler did not [`replace`] them (`None`
/// for commands never propagated themselves: EXEC, scripts). Publishes the block when the
/// outermost frame closes.
pub(crate) fn leave(own: Option<(usize, &ferrous_resp::Args<'_>)>) {
    close(|| own.map(|(db, args)| vec![Change { db, args: args.iter().map(<[u8]>::to_vec).collect() }]));
}

/// Closes the innermost frame; `own` gives its propagated form (asked only when the frame
/// wrote, a consumer collects, and nothing [`replace`]d it). True when the frame was the
/// outermost and published a block.
fn close(own: impl FnOnce() -> Option<Vec<Change>>) -> bool {
    let block = CTX.with(|c| {
        let mut c = c.borrow_mut();
        let frame = c.frames.pop()?;
        let wrote = c.dirty != frame.dirty_at_start || frame.forced;
        if !c.active {
            if c.frames.is_empty() {
                c.stream = None;
            }
            return None;
        }
        match frame.replaced {
            Some(changes) if wrote => c.changes.extend(changes),
            Some(_) => {}
            None if wrote => {
                if let Some(changes) = own() {
                    c.changes.extend(changes);
                }
            }
            None => {}
        }
        if !c.frames.is_empty() {
            return None;
        }
        let stream = c.stream.take()?;
        let changes = std::mem::take(&mut c.changes);
        // A write that touched no entry (SWAPDB 2 2, FLUSHALL of empty databases) took no
        // number under a lock; it orders against nothing, so any number will do.
        // SAFETY: see `stamp`.
        let seq = c
            .seq
            .take()
            .or_else(|| (!changes.is_empty()).then(|| unsafe { &*stream }.next_seq.fetch_add(1, Relaxed)))?;
        let transaction = changes.len() > 1 && !std::mem::take(&mut c.no_transaction);
        Some((stream, Block { seq, changes, transaction }))
    });
    let Some((stream, block)) = block else { return false };
    let published = !block.changes.is_empty();
    if published {
        LAST_PUBLISHED.set((stream, block.seq));
    }
    // SAFETY: see `stamp`.
    unsafe { &*stream }.publish(block);
    published
}

// ---------------------------------------------------------------------------------------
// The typed API's writes

/// Closes a typed frame if its call unwinds (the thread-local stays consistent).
struct TypedFrame {
    done: bool,
}

impl Drop for TypedFrame {
    fn drop(&mut self) {
        if !self.done {
            close(|| None);
        }
    }
}

/// Opens a frame for a typed-API call unless a command's or another typed call's frame is
/// running on this thread (its own propagated form already covers what it calls; inside an
/// in-process transaction each typed call has its own frame).
fn enter_typed(inner: &Inner, kind: FrameKind) -> bool {
    let covered = CTX.with(|c| c.borrow().frames.last().is_some_and(|f| f.kind != FrameKind::Transaction));
    if covered {
        return false;
    }
    enter_as(inner, kind);
    true
}

/// Runs a write of the typed Rust API (a `Database` method) as a command of its own: what
/// it changed joins the stream as `form(&result)` (the commands that replay it, in
/// Redis's propagated form: absolute expiries, SREM for SPOP...), asked only when a
/// consumer collects and the call changed something. Inside [`typed_transaction`] the
/// forms join the transaction's block. Under `appendfsync always` the call returns once
/// its write is on disk, as a client's reply would.
///
/// `form` runs while the stream's thread state is borrowed: it must only build arguments
/// (no keyspace access, no other typed call).
#[inline]
pub(crate) fn typed<R>(
    inner: &Inner,
    db: usize,
    body: impl FnOnce() -> R,
    form: impl FnOnce(&R) -> Vec<Vec<Vec<u8>>>,
) -> R {
    in_typed_frame(inner, FrameKind::Typed, body, |r| {
        Some(form(r).into_iter().map(|args| Change { db, args }).collect())
    })
}

/// An in-process transaction ([`Database::transaction`]): the typed writes inside it are
/// one block (MULTI/EXEC when there is more than one).
pub(crate) fn typed_transaction<R>(inner: &Inner, body: impl FnOnce() -> R) -> R {
    in_typed_frame(inner, FrameKind::Transaction, body, |_| None)
}

/// Runs `body` in a frame of `kind` (unless one that covers it is open), closes it with
/// `own` as its form, and makes what it published durable per `appendfsync`.
#[inline]
fn in_typed_frame<R>(
    inner: &Inner,
    kind: FrameKind,
    body: impl FnOnce() -> R,
    own: impl FnOnce(&R) -> Option<Vec<Change>>,
) -> R {
    if !enter_typed(inner, kind) {
        return body();
    }
    let mut guard = TypedFrame { done: false };
    let r = body();
    guard.done = true;
    if close(|| own(&r)) {
        let _ = crate::aof::writer::commit(inner);
    }
    r
}

/// True when the running command's propagated form is being collected (a consumer is
/// attached): handlers build rewritten forms only then.
#[inline]
pub fn collecting() -> bool {
    CTX.with(|c| c.borrow().active)
}

/// Propagates `changes` instead of the running command's arguments (an empty list: the
/// command propagates nothing). Rewrites such as relative to absolute expiries use this.
pub fn replace(changes: Vec<Change>) {
    CTX.with(|c| {
        if let Some(f) = c.borrow_mut().frames.last_mut() {
            f.replaced = Some(changes);
        }
    });
}

/// Propagates `change` now, before the running command's own form (a key found expired
/// becomes a DEL ahead of the command that found it).
pub fn also(change: Change) {
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.active && !c.frames.is_empty() {
            c.changes.push(change);
        }
    });
}

/// Runs `f` as a command of its own (the background expiry cycle: its DELs are published
/// like a client's command).
pub(crate) fn as_command<R>(inner: &Inner, f: impl FnOnce() -> R) -> R {
    enter(inner);
    CTX.with(|c| c.borrow_mut().no_transaction = true);
    let r = f();
    leave(None);
    r
}

/// `DEL`, or `UNLINK` when the lazy-free directive `lazyfree` (`lazyfree-lazy-expire`,
/// `lazyfree-lazy-user-del`...) is on: how Redis propagates a deletion.
pub fn del_word(inner: &Inner, lazyfree: &str) -> &'static [u8] {
    if inner.config.read().get_bool(lazyfree) {
        b"UNLINK"
    } else {
        b"DEL"
    }
}

/// Propagates the running command even if it changed nothing (Redis's
/// `forceCommandPropagation`: FLUSHDB of an empty database, FUNCTION LOAD...).
pub fn force() {
    CTX.with(|c| {
        if let Some(f) = c.borrow_mut().frames.last_mut() {
            f.forced = true;
        }
    });
}

/// One propagated command (a typed write's form) from string-ish parts.
pub(crate) fn one<A: AsRef<[u8]>>(parts: impl IntoIterator<Item = A>) -> Vec<Vec<Vec<u8>>> {
    vec![args(parts)]
}

/// A command name followed by keys or members (`DEL k1 k2`, `SADD k m1 m2`).
pub(crate) fn with_list<A: AsRef<[u8]>>(head: &[&[u8]], items: impl IntoIterator<Item = A>) -> Vec<Vec<Vec<u8>>> {
    let mut a: Vec<Vec<u8>> = head.iter().map(|p| p.to_vec()).collect();
    a.extend(items.into_iter().map(|p| p.as_ref().to_vec()));
    vec![a]
}

/// A `Vec<Vec<u8>>` argument list from string-ish parts.
pub fn args<A: AsRef<[u8]>>(parts: impl IntoIterator<Item = A>) -> Vec<Vec<u8>> {
    parts.into_iter().map(|p| p.as_ref().to_vec()).collect()
}

// ---------------------------------------------------------------------------------------
// In-process change feed

/// An in-process subscription to the propagation stream ([`Database::changes`]): the
/// ordered feed of every write, by clients, `execute`, scripts and the typed API
/// (transactions as one block), in Redis's propagated form. Dropping it detaches it.
pub struct ChangeFeed {
    rx: std::sync::mpsc::Receiver<Arc<Block>>,
}

struct FeedSink(Mutex<std::sync::mpsc::Sender<Arc<Block>>>);

impl ChangeSink for FeedSink {
    fn accept(&self, block: &Arc<Block>) -> bool {
        self.0.lock().send(block.clone()).is_ok()
    }
}

impl ChangeFeed {
    /// The next block, waiting for it.
    pub fn recv(&self) -> Option<Arc<Block>> {
        self.rx.recv().ok()
    }
    /// The next block if one is there.
    pub fn try_recv(&self) -> Option<Arc<Block>> {
        self.rx.try_recv().ok()
    }
    /// The next block, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Arc<Block>> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Database {
    /// Subscribes to the change stream: every write from now on, in order, as the commands
    /// that replay it (what Redis writes to its AOF and sends to replicas).
    ///
    /// ```
    /// let db = ferrous_core::Database::new();
    /// let feed = db.changes();
    /// db.execute(["SET", "k", "v", "EX", "100"]);
    /// let block = feed.try_recv().unwrap();
    /// assert_eq!(block.changes[0].args[3], b"PXAT");
    /// ```
    pub fn changes(&self) -> ChangeFeed {
        let (tx, rx) = std::sync::mpsc::channel();
        attach(&self.inner, Arc::new(FeedSink(Mutex::new(tx))));
        ChangeFeed { rx }
    }
}
