//! [`Access`]: how operations reach the keyspace of one logical database.
//!
//! Both the typed API and the command handlers go through `Access`, so they lock the same
//! way and see the same semantics. Every method takes a closure and holds the shard lock
//! only for the closure's duration.
//!
//! Lock order: shards are locked in ascending index order; a multi-key operation collects
//! its distinct shards, sorts them, and locks them in that order. Nothing takes a shard lock
//! while holding another unless it follows that order, so no deadlock is possible.
use crate::db::Inner;
use crate::dict::Node;
use crate::keyspace::{KeyHash, Keyspace, Lookup, Shard, SHARDS};
use crate::value::Value;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::hash::BuildHasher;

/// A view of one logical database at one instant (`now`, in Unix ms).
///
/// In *held* mode (EXEC, scripts) the calling thread already write-locks the shards (see
/// [`HeldLocks`]); then `Access` reaches shards through the lock's data pointer instead of
/// locking again.
#[derive(Clone, Copy)]
pub struct Access<'a> {
    pub(crate) inner: &'a Inner,
    /// The database index.
    pub db: usize,
    /// The time this operation runs at (Redis snapshots time once per command).
    pub now: i64,
    held: bool,
    /// The client running the operation (0: the server or the in-process API): NOLOOP
    /// client tracking skips the invalidations of a client's own writes.
    pub(crate) client: u64,
}

/// What EXEC, scripts and in-process transactions hold while they run: the cross-database
/// gate, then every shard of the databases they touch, write-locked.
///
/// The caller's current database is locked up front; any other database is locked the
/// first time the transaction touches it (SELECT in a script, MOVE, SWAPDB...). That is
/// deadlock-free because every operation that spans databases (EXEC, scripts, MOVE, COPY
/// ... DB, SWAPDB, FLUSHALL) first takes the gate, so whoever holds the gate is the only one
/// that may hold or wait for shard locks in two databases; everybody else locks shards of
/// one database in ascending order, which a lazy `0..SHARDS` sweep cannot deadlock with.
/// Locking one database instead of all sixteen makes an EVAL or EXEC 16x cheaper in locks.
///
/// While alive, what it holds is recorded in a thread-local ([`HeldStack`]), where held-mode
/// `Access` finds it. Shards are locked and unlocked through the raw lock (no guard objects),
/// and the thread-local's buffers are reused, so taking and releasing costs no allocation.
pub struct HeldLocks<'a> {
    inner: &'a Inner,
    /// Not `Send`: the locks are released by the thread that took them.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Attempts to take the gate by spinning before waiting for it (see `HeldLocks::acquire`).
const GATE_SPINS: u32 = 256;

/// The databases held by the transactions running on this thread (innermost last).
struct HeldStack {
    frames: Vec<HeldFrame>,
    depth: usize,
}

struct HeldFrame {
    inner: *const Inner,
    /// Databases whose shards are all write-locked by this frame.
    dbs: Vec<usize>,
}

thread_local!(static HELD: std::cell::RefCell<HeldStack> = const {
    std::cell::RefCell::new(HeldStack { frames: Vec::new(), depth: 0 })
});

// Locks this thread kept after a run ended (`HeldLocks::keep`), for the next run to take over
// (`HeldLocks::resume`); null when none. Their frame is the top of `HELD`.
thread_local!(static KEPT: std::cell::Cell<*const Inner> = const { std::cell::Cell::new(std::ptr::null()) });

impl<'a> HeldLocks<'a> {
    /// Takes the gate and write-locks database `first_db`; registers itself for this thread.
    pub fn acquire(inner: &'a Inner, first_db: usize) -> HeldLocks<'a> {
        // Scripts and EXECs hold the gate for a microsecond or two: spin a little before
        // parking, since parking and the wake-up that follows cost a system call on each side.
        let mut gate = None;
        for _ in 0..GATE_SPINS {
            gate = inner.cross_db.try_lock();
            if gate.is_some() {
                break;
            }
            std::hint::spin_loop();
        }
        let gate = gate.unwrap_or_else(|| lock_gate(inner));
        // Released in `Drop` (a guard object cannot live in the thread-local).
        std::mem::forget(gate);
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            let depth = h.depth;
            if h.frames.len() == depth {
                h.frames.push(HeldFrame { inner, dbs: Vec::new() });
            }
            let frame = &mut h.frames[depth];
            frame.inner = inner;
            frame.dbs.clear();
            h.depth += 1;
        });
        ensure_held(first_db);
        HeldLocks { inner, _not_send: std::marker::PhantomData }
    }

    /// Ends this value's life without releasing anything: the gate and shards stay locked by
    /// this thread until [`HeldLocks::resume`] takes them over or [`release_kept`] frees them.
    /// The caller guarantees that one of the two runs while `inner` is alive.
    pub(crate) fn keep(self) {
        debug_assert!(KEPT.get().is_null(), "locks kept twice");
        KEPT.set(self.inner);
        std::mem::forget(self);
    }

    /// The locks this thread kept for `inner`, now also holding database `db`; `None` when
    /// it keeps none for `inner`.
    pub(crate) fn resume(inner: &'a Inner, db: usize) -> Option<HeldLocks<'a>> {
        if !std::ptr::eq(KEPT.get(), inner) {
            return None;
        }
        KEPT.set(std::ptr::null());
        ensure_held(db);
        Some(HeldLocks { inner, _not_send: std::marker::PhantomData })
    }
}

/// The database whose locks this thread keeps (see [`HeldLocks::keep`]); null if none.
#[inline]
pub(crate) fn kept_locks() -> *const Inner {
    KEPT.get()
}

/// Releases the locks this thread keeps, if any, calling `before` on their database first.
pub(crate) fn release_kept(before: impl FnOnce(&Inner)) {
    let kept = KEPT.replace(std::ptr::null());
    if kept.is_null() {
        return;
    }
    // SAFETY: whoever kept the locks guaranteed their `Inner` outlives them (`keep`).
    let inner = unsafe { &*kept };
    debug_assert!(HELD.with(|h| h.borrow().depth == 1), "kept locks are not the only ones held");
    before(inner);
    drop(HeldLocks { inner, _not_send: std::marker::PhantomData });
}

impl Drop for HeldLocks<'_> {
    fn drop(&mut self) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            h.depth -= 1;
            let depth = h.depth;
            for &db in &h.frames[depth].dbs {
                // SAFETY: `ensure_held` write-locked every shard of `db` for this frame, on
                // this thread, and nothing else unlocks them.
                unsafe { self.inner.dbs[db].unlock_all_exclusive() };
            }
        });
        // SAFETY: `acquire` locked the gate and forgot its guard; this releases it once.
        unsafe { self.inner.cross_db.force_unlock() };
    }
}

/// Makes sure the running transaction of this thread holds database `db`.
fn ensure_held(db: usize) {
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        let depth = h.depth;
        assert!(depth > 0, "held-mode access outside a transaction");
        let frame = &mut h.frames[depth - 1];
        if !frame.dbs.contains(&db) {
            // SAFETY: the frame's `inner` is the database of the live `HeldLocks` that
            // pushed it (frames are popped before their `HeldLocks` goes away).
            let inner = unsafe { &*frame.inner };
            if let Some(ks) = inner.dbs.get(db) {
                ks.lock_all_exclusive();
                frame.dbs.push(db);
            }
        }
    });
}

/// How long a command waits for a contended shard or gate between two looks at whether a
/// busy script holds it.
pub(crate) const WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(1);

/// Waits for `attempt` to succeed. A command gets here when its shard (or the gate) is
/// taken; normally by another command, for microseconds. It can also be a script that
/// started just after this command checked that none was running: if that script goes
/// BUSY, this thread serves its other clients meanwhile (BUSY replies, SCRIPT KILL) instead
/// of leaving them all waiting behind this one command.
#[cold]
#[inline(never)]
fn wait_busy_aware<G>(inner: &Inner, mut attempt: impl FnMut() -> Option<G>) -> G {
    loop {
        if let Some(g) = attempt() {
            return g;
        }
        crate::scripting::serve_others_while_busy(inner);
    }
}

/// Read-locks a shard for an ordinary (non-held) operation (see [`wait_busy_aware`]).
#[inline]
fn read_lock<'l>(inner: &Inner, lock: &'l RwLock<Shard>) -> RwLockReadGuard<'l, Shard> {
    match lock.try_read() {
        Some(g) => g,
        None => wait_busy_aware(inner, || lock.try_read_for(WAIT_SLICE)),
    }
}

/// Write-locks a shard for an ordinary (non-held) operation (see [`wait_busy_aware`]).
#[inline]
fn write_lock<'l>(inner: &Inner, lock: &'l RwLock<Shard>) -> RwLockWriteGuard<'l, Shard> {
    match lock.try_write() {
        Some(g) => g,
        None => wait_busy_aware(inner, || lock.try_write_for(WAIT_SLICE)),
    }
}

/// Takes the cross-database gate for an ordinary operation (see [`wait_busy_aware`]).
pub(crate) fn lock_gate(inner: &Inner) -> parking_lot::MutexGuard<'_, ()> {
    match inner.cross_db.try_lock() {
        Some(g) => g,
        None => wait_busy_aware(inner, || inner.cross_db.try_lock_for(WAIT_SLICE)),
    }
}

impl<'a> Access<'a> {
    pub(crate) fn new(inner: &'a Inner, db: usize, now: i64) -> Self {
        crate::evict::enter(inner);
        Access { inner, db, now, held: false, client: 0 }
    }

    /// The same view in held mode. Only valid while a [`HeldLocks`] is alive on this thread.
    pub(crate) fn held(&self) -> Access<'a> {
        Access { held: true, ..*self }
    }

    /// True in held mode.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// The shard at index `i` of this database, in held mode.
    #[allow(clippy::mut_from_ref)]
    fn held_shard(&self, i: usize) -> &'a mut Shard {
        debug_assert!(self.held);
        ensure_held(self.db);
        // SAFETY: held mode is only entered (by EXEC, scripts, transactions) while this
        // thread's `HeldLocks` owns the write guard of every shard of this database
        // (`ensure_held` just made sure), so no other thread can reach the shard. Within the
        // thread, `Access` hands the reference only to one closure at a time and
        // `write_many` deduplicates shards, so two live `&mut` never alias.
        unsafe { &mut *self.keyspace().shard_at(i).data_ptr() }
    }

    /// The keyspace.
    #[inline]
    pub fn keyspace(&self) -> &'a Keyspace {
        &self.inner.dbs[self.db]
    }

    /// Another database at the same instant.
    pub fn with_db(&self, db: usize) -> Access<'a> {
        Access { db, ..*self }
    }

    /// The hash of a key.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> KeyHash {
        KeyHash(self.inner.hasher.hash_one(key))
    }

    /// Tells blocked clients that `key` may now have data for them (call after adding
    /// elements to a list/zset, under the shard lock). Costs one atomic load when no client
    /// is blocked.
    #[inline]
    pub fn signal_ready(&self, key: &[u8]) {
        if self.inner.blocking.has_waiters() {
            self.inner.blocking.mark_ready(self.db, key);
        }
    }

    /// The same view for the operations of client `id`.
    pub(crate) fn for_client(self, id: u64) -> Self {
        Access { client: id, ..self }
    }

    /// Redis's `signalModifiedKey`: flags the clients watching `key` and sends client-side
    /// caching invalidations. Call under the key's shard lock, once per modified key.
    #[inline]
    pub fn signal_modified(&self, key: &[u8]) {
        if self.inner.watches.active() {
            self.inner.watches.touch(self.db, key);
        }
        if self.inner.tracking.active() {
            self.inner.tracking.invalidate(key, self.client);
        }
    }

    /// If the operation moved the `dirty` counter, signals every one of `keys` as modified
    /// ([`Access::signal_modified`]). Called by `write`/`write_many`, so commands and the
    /// typed API invalidate alike.
    #[inline]
    fn touch_if_modified(&self, dirty_before: u64, keys: &[&[u8]]) {
        // Blocked stream readers must see deletions and type changes of their keys (Redis's
        // signalDeletedKeyAsReady): any modified key is offered to them.
        if self.inner.blocking.has_stream_waiters() && self.inner.dirty.local() != dirty_before {
            for k in keys {
                self.inner.blocking.mark_ready(self.db, k);
            }
        }
        if (self.inner.watches.active() || self.inner.tracking.active()) && self.inner.dirty.local() != dirty_before {
            for k in keys {
                self.signal_modified(k);
            }
        }
    }

    /// Counts `n` changes to the dataset (Redis's `server.dirty`): what WATCH, scripts and
    /// INFO's `rdb_changes_since_last_save` read. Every write op calls this.
    #[inline]
    pub fn add_dirty(&self, n: u64) {
        if n > 0 {
            self.inner.dirty.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            crate::propagate::count_dirty(n);
        }
    }

    /// Publishes a keyspace notification (`class` from [`crate::notify`], `event` Redis's
    /// event name such as `"set"` or `"lpush"`) if that class is enabled.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        let flags = self.inner.notify_flags.load(std::sync::atomic::Ordering::Relaxed);
        if flags & class != 0 {
            crate::notify::emit(&self.inner.pubsub, flags, class, event, self.db, key);
        }
    }

    /// Reports keys that `shard` deleted because they expired: `expired` notifications and
    /// client-side-caching invalidations, as Redis does when it deletes an expired key.
    #[inline]
    pub(crate) fn drain_expired(&self, shard: &mut Shard) {
        if shard.expired_log.is_empty() {
            return;
        }
        report_expired(self.inner, self.db, shard);
    }

    /// Runs `f` on the live entry of `key` (or `None`) under the shard's read lock.
    #[inline]
    pub fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Node<Value>>) -> R) -> R {
        let h = self.hash(key);
        if self.held {
            let shard = self.held_shard(h.shard());
            if shard.expire_if_needed(h, key, self.now) {
                self.drain_expired(shard);
            }
            return match shard.lookup(h, key, self.now) {
                Lookup::Live(n) => f(Some(n)),
                _ => f(None),
            };
        }
        let lock = self.keyspace().shard(h);
        {
            let shard = read_lock(self.inner, lock);
            match shard.lookup(h, key, self.now) {
                Lookup::Live(n) => {
                    self.inner.stats.keyspace_hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return f(Some(n));
                }
                Lookup::Missing => {
                    self.inner.stats.keyspace_misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return f(None);
                }
                Lookup::Expired => {}
            }
        }
        // Rare: the key expired. Delete it under the write lock, as Redis's lazy expiry does.
        self.inner.stats.keyspace_misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.delete_expired(lock, h, key);
        f(None)
    }

    /// Deletes `key` if it is past its deadline, under the shard's write lock. Outside a
    /// command (a typed-API read) this runs as a write of its own, so that the deletion
    /// reaches the change stream as the DEL Redis propagates, in its place in the order.
    #[cold]
    fn delete_expired(&self, lock: &RwLock<Shard>, h: KeyHash, key: &[u8]) {
        crate::propagate::typed(
            self.inner,
            self.db,
            || {
                let mut shard = write_lock(self.inner, lock);
                shard.expire_if_needed(h, key, self.now);
                self.drain_expired(&mut shard);
            },
            |_| Vec::new(),
        )
    }

    /// Runs `f` with the shard of `key` write-locked (expired keys are deleted lazily by the
    /// shard methods `f` calls).
    #[inline]
    pub fn write<R>(&self, key: &[u8], f: impl FnOnce(&mut Shard, KeyHash) -> R) -> R {
        let h = self.hash(key);
        let dirty = self.inner.dirty.local();
        let r = if self.held {
            let shard = self.held_shard(h.shard());
            let r = f(shard, h);
            self.drain_expired(shard);
            r
        } else {
            let mut shard = write_lock(self.inner, self.keyspace().shard(h));
            let r = f(&mut shard, h);
            self.drain_expired(&mut shard);
            r
        };
        self.touch_if_modified(dirty, &[key]);
        r
    }

    /// Runs `f` with the shards of all `keys` read-locked (in ascending order): an atomic
    /// view for multi-key reads (MGET, LCS...) that does not block other readers. Keys
    /// found expired are deleted afterwards, as lazy expiry does.
    pub fn read_many<R>(&self, keys: &[&[u8]], f: impl FnOnce(&mut MultiRead<'_>) -> R) -> R {
        let mut idx: Vec<usize> = keys.iter().map(|k| self.hash(k).shard()).collect();
        idx.sort_unstable();
        idx.dedup();
        let ks = self.keyspace();
        let shards = idx
            .iter()
            .map(|&i| {
                (
                    i,
                    if self.held {
                        ReadRef::Held(&*self.held_shard(i))
                    } else {
                        ReadRef::Guard(read_lock(self.inner, ks.shard_at(i)))
                    },
                )
            })
            .collect();
        let mut m = MultiRead { shards, now: self.now, expired: Default::default() };
        let r = f(&mut m);
        let expired = m.expired.take();
        drop(m);
        for key in expired {
            let h = self.hash(&key);
            if self.held {
                let shard = self.held_shard(h.shard());
                shard.expire_if_needed(h, &key, self.now);
                self.drain_expired(shard);
            } else {
                self.delete_expired(self.keyspace().shard(h), h, &key);
            }
        }
        r
    }

    /// Runs `f` with the shards of all `keys` write-locked (in ascending order).
    pub fn write_many<R>(&self, keys: &[&[u8]], f: impl FnOnce(&mut MultiShard<'_>) -> R) -> R {
        let hashes: Vec<KeyHash> = keys.iter().map(|k| self.hash(k)).collect();
        let mut idx: Vec<usize> = hashes.iter().map(|h| h.shard()).collect();
        idx.sort_unstable();
        idx.dedup();
        let ks = self.keyspace();
        let guards = idx
            .iter()
            .map(|&i| {
                (
                    i,
                    if self.held {
                        ShardRef::Held(self.held_shard(i))
                    } else {
                        ShardRef::Guard(write_lock(self.inner, ks.shard_at(i)))
                    },
                )
            })
            .collect();
        let dirty = self.inner.dirty.local();
        let mut m = MultiShard { guards, now: self.now, modified: None };
        let r = f(&mut m);
        for (_, shard) in m.guards.iter_mut() {
            self.drain_expired(shard);
        }
        let modified = m.modified.take();
        drop(m);
        match modified {
            Some(declared) => {
                let declared: Vec<&[u8]> = declared.iter().map(Vec::as_slice).collect();
                self.touch_if_modified(dirty, &declared);
            }
            None => self.touch_if_modified(dirty, keys),
        }
        r
    }

    /// Like [`Access::read`] but without refreshing the key's LRU clock (Redis's
    /// `LOOKUP_NOTOUCH`: TYPE, TTL, EXISTS, OBJECT), and passing the key's deadline along.
    pub fn peek<R>(&self, key: &[u8], f: impl FnOnce(Option<(&Node<Value>, Option<i64>)>) -> R) -> R {
        let h = self.hash(key);
        if self.held {
            let shard = self.held_shard(h.shard());
            if shard.expire_if_needed(h, key, self.now) {
                self.drain_expired(shard);
            }
            return match shard.peek(h, key, self.now) {
                Lookup::Live(n) => f(Some((n, shard.deadline(n, h.dict())))),
                _ => f(None),
            };
        }
        let lock = self.keyspace().shard(h);
        {
            let shard = read_lock(self.inner, lock);
            match shard.peek(h, key, self.now) {
                Lookup::Live(n) => return f(Some((n, shard.deadline(n, h.dict())))),
                Lookup::Missing => return f(None),
                Lookup::Expired => {}
            }
        }
        self.delete_expired(lock, h, key);
        f(None)
    }

    /// Runs `f` with shard `i` (`0..SHARDS`) of this database read-locked (SCAN,
    /// RANDOMKEY walk shards one at a time).
    pub fn read_shard<R>(&self, i: usize, f: impl FnOnce(&Shard) -> R) -> R {
        if self.held {
            return f(self.held_shard(i));
        }
        f(&read_lock(self.inner, self.keyspace().shard_at(i)))
    }

    /// Runs `f` with every shard of this database read-locked, in ascending order (KEYS,
    /// DBSIZE: one consistent view of the whole database).
    pub fn read_all<R>(&self, f: impl FnOnce(&[&Shard]) -> R) -> R {
        if self.held {
            let shards: Vec<&Shard> = (0..SHARDS).map(|i| &*self.held_shard(i)).collect();
            return f(&shards);
        }
        let ks = self.keyspace();
        let guards: Vec<_> = (0..SHARDS).map(|i| read_lock(self.inner, ks.shard_at(i))).collect();
        let shards: Vec<&Shard> = guards.iter().map(|g| &**g).collect();
        f(&shards)
    }

    /// Every shard of database `db` write-locked in ascending order (or reached through
    /// held mode).
    fn lock_db(&self, db: usize) -> Vec<ShardRef<'a>> {
        if self.held {
            let acc = self.with_db(db);
            return (0..SHARDS).map(|i| ShardRef::Held(acc.held_shard(i))).collect();
        }
        let ks = &self.inner.dbs[db];
        (0..SHARDS).map(|i| ShardRef::Guard(write_lock(self.inner, ks.shard_at(i)))).collect()
    }

    /// Runs `f` with every shard of this database write-locked, in ascending order
    /// (FLUSHDB).
    pub fn write_all<R>(&self, f: impl FnOnce(&mut [ShardRef<'_>]) -> R) -> R {
        f(&mut self.lock_db(self.db))
    }

    /// Runs `f` with the shard of `key` in this database and the shard of `other_key` in
    /// database `other_db` write-locked (MOVE, COPY ... DB). Across databases the global
    /// lock order is (database, shard) ascending. Returns `None` without calling `f` when
    /// `other_db` is this database or does not exist (one database: use
    /// [`Access::write_many`]).
    pub fn write_two_dbs<R>(
        &self,
        key: &[u8],
        other_db: usize,
        other_key: &[u8],
        f: impl FnOnce(&mut Shard, KeyHash, &mut Shard, KeyHash) -> R,
    ) -> Option<R> {
        let other = self.inner.dbs.get(other_db).filter(|_| other_db != self.db)?;
        let (h, oh) = (self.hash(key), self.hash(other_key));
        let other_acc = self.with_db(other_db);
        if self.held {
            // Different databases: the two shards are distinct, no aliasing.
            let (a, b) = (self.held_shard(h.shard()), other_acc.held_shard(oh.shard()));
            let r = f(a, h, b, oh);
            self.drain_expired(a);
            other_acc.drain_expired(b);
            return Some(r);
        }
        let _gate = lock_gate(self.inner);
        let (mine, theirs) = (self.keyspace().shard(h), other.shard(oh));
        let (mut a, mut b) = if self.db < other_db {
            let a = write_lock(self.inner, mine);
            (a, write_lock(self.inner, theirs))
        } else {
            let b = write_lock(self.inner, theirs);
            (write_lock(self.inner, mine), b)
        };
        let r = f(&mut a, h, &mut b, oh);
        self.drain_expired(&mut a);
        other_acc.drain_expired(&mut b);
        Some(r)
    }

    /// Runs `f` with every shard of each listed database write-locked, in global
    /// (database, shard) order (SWAPDB, FLUSHALL). `f` receives one `(db, shards)` entry
    /// per distinct existing database, sorted by database index.
    #[allow(clippy::type_complexity)]
    pub fn write_dbs<R>(&self, dbs: &[usize], f: impl FnOnce(&mut [(usize, Vec<ShardRef<'_>>)]) -> R) -> R {
        let mut idx: Vec<usize> = dbs.iter().copied().filter(|&d| d < self.inner.dbs.len()).collect();
        idx.sort_unstable();
        idx.dedup();
        let _gate = (!self.held).then(|| lock_gate(self.inner));
        let mut locked: Vec<_> = idx.into_iter().map(|d| (d, self.lock_db(d))).collect();
        f(&mut locked)
    }
}

/// Several read-locked shards of one keyspace (see [`Access::read_many`]).
pub struct MultiRead<'a> {
    shards: Vec<(usize, ReadRef<'a>)>,
    now: i64,
    expired: std::cell::RefCell<Vec<Vec<u8>>>,
}

enum ReadRef<'a> {
    Guard(parking_lot::RwLockReadGuard<'a, Shard>),
    Held(&'a Shard),
}

impl MultiRead<'_> {
    /// The live entry of `key` (hash `h`, one of the keys given to `read_many`). Several
    /// entries can be held at once.
    pub fn get(&self, h: KeyHash, key: &[u8]) -> Option<&Node<Value>> {
        let i = h.shard();
        let pos = self.shards.iter().position(|(s, _)| *s == i)?;
        let shard: &Shard = match &self.shards[pos].1 {
            ReadRef::Guard(g) => g,
            ReadRef::Held(s) => s,
        };
        match shard.lookup(h, key, self.now) {
            Lookup::Live(n) => Some(n),
            Lookup::Missing => None,
            Lookup::Expired => {
                self.expired.borrow_mut().push(key.to_vec());
                None
            }
        }
    }
}

/// Publishes `expired` events and tracking invalidations for the keys `shard` expired.
pub(crate) fn report_expired(inner: &Inner, db: usize, shard: &mut Shard) {
    let flags = inner.notify_flags.load(std::sync::atomic::Ordering::Relaxed);
    let tracking = inner.tracking.active();
    for value in shard.expired_values.drain(..) {
        crate::lazyfree::free_per(inner, value, "lazyfree-lazy-expire");
    }
    for key in shard.expired_log.drain(..) {
        // Redis propagates the deletion of an expired key as a DEL in its database.
        if crate::propagate::collecting() {
            let del = crate::propagate::del_word(inner, "lazyfree-lazy-expire");
            crate::propagate::also(crate::propagate::Change { db, args: crate::propagate::args([del, &key]) });
        }
        if flags & crate::notify::EXPIRED != 0 {
            crate::notify::emit(&inner.pubsub, flags, crate::notify::EXPIRED, "expired", db, &key);
        }
        if tracking {
            inner.tracking.invalidate(&key, 0);
        }
    }
}

/// A write-locked shard: locked here, or already held by the caller (EXEC, scripts).
pub enum ShardRef<'a> {
    /// Locked by this operation.
    Guard(RwLockWriteGuard<'a, Shard>),
    /// Locked by the enclosing EXEC/script.
    Held(&'a mut Shard),
}

impl std::ops::Deref for ShardRef<'_> {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        match self {
            ShardRef::Guard(g) => g,
            ShardRef::Held(s) => s,
        }
    }
}

impl std::ops::DerefMut for ShardRef<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        match self {
            ShardRef::Guard(g) => g,
            ShardRef::Held(s) => s,
        }
    }
}

/// Several write-locked shards of one keyspace (see [`Access::write_many`]).
pub struct MultiShard<'a> {
    guards: Vec<(usize, ShardRef<'a>)>,
    /// The operation's time.
    pub now: i64,
    /// The keys the operation declared modified ([`MultiShard::modified_only`]); `None`:
    /// all of them, if it changed anything.
    modified: Option<Vec<Vec<u8>>>,
}

impl MultiShard<'_> {
    /// Declares which of the keys given to `write_many` the operation modified, so only
    /// those signal "key modified" (WATCH, tracking): sources a store command only read,
    /// a destination SMOVE found already holding the member, the keys an LMPOP found
    /// empty. Without it, every key is signalled when the dataset changed. Repeated calls
    /// add keys.
    pub fn modified_only(&mut self, keys: &[&[u8]]) {
        self.modified.get_or_insert_with(Vec::new).extend(keys.iter().map(|k| k.to_vec()));
    }

    /// The shard holding a hash. The hash must belong to one of the keys given to
    /// `write_many`.
    pub fn shard(&mut self, h: KeyHash) -> &mut Shard {
        let i = h.shard();
        let pos = self.guards.iter().position(|(s, _)| *s == i).expect("key was declared to write_many");
        &mut self.guards[pos].1
    }
}
