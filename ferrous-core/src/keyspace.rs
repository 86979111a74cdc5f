//! The keyspace of one logical database: [`Keyspace`] split into [`Shard`]s.
//!
//! A key's 64-bit hash picks its shard (high 32 bits) and its bucket inside the shard's
//! [`Dict`] (low 32 bits). Each shard sits behind its own `parking_lot::RwLock`; a command
//! locks only the shards of its keys, in ascending shard order, so commands on different
//! keys run in parallel on different event-loop threads and can never deadlock.
//!
//! Expiry: a key's deadline (absolute Unix ms) is kept in its own entry, flagged by a bit of
//! the entry's `meta` word, so reading a key with a TTL costs one lookup, as reading one
//! without; the shard's [`TtlIndex`] lists the entries that have one (for the active expiry
//! cycle, volatile eviction and INFO) with a pointer each, instead of Redis's second dict
//! holding the key again.
use crate::bytes::SmallBytes;
use crate::dict::{Dict, Node};
use crate::ttl_index::TtlIndex;
use crate::value::Value;
use parking_lot::RwLock;
use std::sync::atomic::Ordering::Relaxed;

/// Number of shards per logical database. 32 keeps lock contention negligible for the
/// event-loop thread counts we expect (a shard is locked for well under a microsecond) while
/// whole-keyspace operations (DBSIZE, FLUSHDB, SWAPDB) touch few locks.
pub const SHARDS: usize = 32;
/// Bits of a SCAN cursor that hold the shard index.
pub const SHARD_BITS: u32 = SHARDS.trailing_zeros();

/// `meta` bit: the key has a deadline (`Node::deadline`, and an entry in the shard's
/// [`TtlIndex`]).
pub const META_EXPIRE: u32 = 1 << 24;
/// `meta` bit: a string modified in place (APPEND, SETRANGE...) reports encoding `raw`.
pub const META_RAW: u32 = 1 << 25;
/// `meta` bit: which side of the running (or last) snapshot the entry is on. An entry whose
/// bit equals its shard's `snap_sense` has been written to the snapshot already (or did not
/// exist when it started); see [`crate::snapshot`].
pub const META_SNAP: u32 = 1 << 26;
/// `meta` bits holding the LRU clock (seconds, wrapping at 2^24 like Redis's).
pub const META_LRU_MASK: u32 = (1 << 24) - 1;
/// `meta` bits 27-31: the LRU clock's fraction of a second, in 32nds. Redis's clock stops at
/// seconds, so keys touched within the same second tie in its eviction pool; eviction here
/// also orders them by these bits. What is reported (OBJECT IDLETIME, an RDB's IDLE, DEBUG
/// OBJECT) is the seconds, as in Redis. Unused (zero) under LFU.
pub const META_LRU_FRACTION: u32 = 0x1F << 27;
/// Every bit of the access clock: seconds (or LFU time and counter) and fraction.
pub const META_CLOCK_MASK: u32 = META_LRU_MASK | META_LRU_FRACTION;

/// The LRU clock value for a time in ms.
#[inline]
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & META_LRU_MASK
}

/// The LRU clock with its fraction of a second ([`META_LRU_FRACTION`]).
#[inline]
pub fn lru_clock_fine(now_ms: i64) -> u32 {
    lru_clock(now_ms) | ((now_ms.rem_euclid(1000) * 32 / 1000) as u32) << 27
}

/// A key's hash, split into shard index and in-shard hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(pub u64);

impl KeyHash {
    /// The shard this key lives in.
    #[inline]
    pub fn shard(self) -> usize {
        (self.0 >> 32) as usize & (SHARDS - 1)
    }
    /// The hash used inside the shard's dict.
    #[inline]
    pub fn dict(self) -> u32 {
        self.0 as u32
    }
}

/// Result of a lookup under a read lock.
pub enum Lookup<'a> {
    /// The key exists and has not expired.
    Live(&'a Node<Value>),
    /// No such key.
    Missing,
    /// The key exists but its deadline has passed: retry under a write lock to delete it.
    Expired,
}

/// One shard: its keys, their deadlines, and counters.
#[derive(Default)]
pub struct Shard {
    /// key -> value.
    pub dict: Dict<Value>,
    /// The entries that have a deadline. Private: its pointers are only valid while the
    /// shard holds the entries, so it is read through the shard's methods.
    ttl: TtlIndex,
    /// Where the active expiry cycle continues its walk of the deadlines.
    pub expire_cursor: u64,
    /// Keys deleted because they expired (lazily or actively).
    pub expired_keys: u64,
    /// Keys deleted by expiry since the owner last looked (for `expired` notifications
    /// and client-side-caching invalidations); drained by `Access` after each operation.
    pub expired_log: Vec<SmallBytes>,
    /// The values of the keys in `expired_log`, freed when it is drained (on the lazy-free
    /// thread under `lazyfree-lazy-expire`, see [`crate::lazyfree`]).
    pub(crate) expired_values: Vec<Value>,
    /// The running snapshot, while it has not finished walking this shard: every change to
    /// an entry it has not written yet first writes the entry's old contents into it.
    pub(crate) snap: Option<crate::snapshot::ShardSnapshot>,
    /// [`META_SNAP`] or 0: the bit value that marks an entry as already snapshotted. It flips
    /// when a snapshot starts (making every existing entry "not yet written").
    pub(crate) snap_sense: u32,
    /// A consumer of the propagation stream is attached: changes take a sequence number
    /// ([`crate::propagate::stamp`]) under this shard's lock.
    pub(crate) propagate: bool,
    /// This Database is a replica: a key past its deadline reads as missing but stays until
    /// the master's DEL (the master's stream applies to it as to a live key), as in Redis.
    pub(crate) keep_expired: bool,
}

impl Shard {
    /// Deadline of a node's key, if it has one.
    #[inline]
    pub fn deadline(&self, node: &Node<Value>, _hash: u32) -> Option<i64> {
        node_deadline(node)
    }

    /// Number of keys with a deadline.
    #[inline]
    pub fn volatile_len(&self) -> usize {
        self.ttl.len()
    }

    /// Bytes the deadlines cost beyond the entries (the index's table).
    pub fn volatile_bytes(&self) -> usize {
        self.ttl.table_bytes()
    }

    /// Room for `n` keys with a deadline (a load that knows the count).
    pub fn reserve_volatile(&mut self, n: usize) {
        self.ttl.reserve(n);
    }

    /// The entries that have a deadline.
    pub fn volatile_iter(&self) -> impl Iterator<Item = &Node<Value>> {
        // SAFETY: `&self` keeps the shard, and so every indexed entry, unchanged.
        unsafe { self.ttl.iter() }
    }

    /// A random entry that has a deadline.
    pub fn volatile_random<R: rand::Rng>(&self, rng: &mut R) -> Option<&Node<Value>> {
        // SAFETY: as in `volatile_iter`.
        unsafe { self.ttl.random(rng) }
    }

    /// Up to `count` entries that have a deadline, from consecutive slots of the index
    /// starting at a random one (eviction sampling).
    pub fn volatile_sample<'a, R: rand::Rng>(&'a self, rng: &mut R, count: usize, f: impl FnMut(&'a Node<Value>)) {
        // SAFETY: as in `volatile_iter`.
        unsafe { self.ttl.sample_some(rng, count, f) }
    }

    /// Looks a key up without modifying anything but the LRU clock.
    #[inline]
    pub fn lookup(&self, h: KeyHash, key: &[u8], now: i64) -> Lookup<'_> {
        let Some(node) = self.dict.get(h.dict(), key) else { return Lookup::Missing };
        if let Some(when) = self.deadline(node, h.dict()) {
            if when <= now {
                return Lookup::Expired;
            }
        }
        touch(node, now);
        Lookup::Live(node)
    }

    /// Looks a key up like [`Shard::lookup`] but leaves its LRU clock alone: Redis's
    /// `LOOKUP_NOTOUCH`, used by TYPE, TTL, EXISTS and OBJECT so that inspecting a key does
    /// not make it look recently used to eviction.
    #[inline]
    pub fn peek(&self, h: KeyHash, key: &[u8], now: i64) -> Lookup<'_> {
        let Some(node) = self.dict.get(h.dict(), key) else { return Lookup::Missing };
        match self.deadline(node, h.dict()) {
            Some(when) if when <= now => Lookup::Expired,
            _ => Lookup::Live(node),
        }
    }

    /// Deletes the key if its deadline has passed; returns true if it did.
    pub fn expire_if_needed(&mut self, h: KeyHash, key: &[u8], now: i64) -> bool {
        if self.keep_expired {
            return false;
        }
        let Some(node) = self.dict.get(h.dict(), key) else { return false };
        match self.deadline(node, h.dict()) {
            Some(when) if when <= now => {
                if let Some(value) = self.remove(h, key) {
                    self.expired_values.push(value);
                }
                self.expired_keys += 1;
                self.expired_log.push(SmallBytes::new(key));
                true
            }
            _ => false,
        }
    }

    /// The live entry for `key`, deleting it first if it has expired.
    #[inline]
    pub fn get_mut(&mut self, h: KeyHash, key: &[u8], now: i64) -> Option<&mut Node<Value>> {
        self.expire_if_needed(h, key, now);
        self.before_change(h, key);
        let node = self.dict.get_mut(h.dict(), key)?;
        touch(node, now);
        Some(node)
    }

    /// True if a live key exists.
    pub fn contains(&mut self, h: KeyHash, key: &[u8], now: i64) -> bool {
        self.expire_if_needed(h, key, now);
        self.dict.get(h.dict(), key).is_some()
    }

    /// Stores `value` under `key`, replacing any old value. `expire`: `None` keeps no
    /// deadline (any old one is removed), `Some(ms)` sets one. Returns the old value.
    pub fn set(&mut self, h: KeyHash, key: &[u8], value: Value, expire: Option<i64>, now: i64) -> Option<Value> {
        // Under LFU an overwritten key keeps its access counter, as in Redis.
        let lfu_clock = if crate::evict::lfu_active() {
            self.dict.get(h.dict(), key).map(|n| crate::evict::overwrite_clock(&n.meta, now))
        } else {
            None
        };
        let old = self.remove(h, key);
        let meta = lfu_clock.unwrap_or_else(|| crate::evict::initial_clock(now)) | self.snap_sense;
        let node = self.dict.insert_new(h.dict(), SmallBytes::new(key), value, meta);
        crate::evict::created(&node.meta);
        if let Some(when) = expire {
            node.meta.fetch_or(META_EXPIRE, Relaxed);
            node.deadline = when;
            self.ttl.insert(std::ptr::NonNull::from(&mut *node));
        }
        old
    }

    /// Stores `value` under `key` keeping the key's deadline if it exists. Returns the old
    /// value.
    pub fn set_keep_ttl(&mut self, h: KeyHash, key: &[u8], value: Value, now: i64) -> Option<Value> {
        if let Some(node) = self.get_mut(h, key, now) {
            node.meta.fetch_and(!META_RAW, Relaxed);
            return Some(std::mem::replace(&mut node.value, value));
        }
        let node = self.dict.insert_new(
            h.dict(),
            SmallBytes::new(key),
            value,
            crate::evict::initial_clock(now) | self.snap_sense,
        );
        crate::evict::created(&node.meta);
        None
    }

    /// Removes `key` (expired or not) and its deadline.
    pub fn remove(&mut self, h: KeyHash, key: &[u8]) -> Option<Value> {
        self.before_change(h, key);
        let mut node = self.dict.remove(h.dict(), key)?;
        if node.meta.load(Relaxed) & META_EXPIRE != 0 {
            // Still allocated: the index forgets it before it is freed.
            self.ttl.remove(std::ptr::NonNull::from(&mut *node));
        }
        Some(node.value)
    }

    /// Sets the deadline of an existing key.
    pub fn set_expire(&mut self, h: KeyHash, key: &[u8], when: i64) {
        self.before_change(h, key);
        let Some(node) = self.dict.get_mut(h.dict(), key) else { return };
        node.deadline = when;
        if node.meta.fetch_or(META_EXPIRE, Relaxed) & META_EXPIRE == 0 {
            self.ttl.insert(std::ptr::NonNull::from(&mut *node));
        }
    }

    /// Removes the deadline of a key; true if it had one.
    pub fn persist(&mut self, h: KeyHash, key: &[u8]) -> bool {
        self.before_change(h, key);
        let Some(node) = self.dict.get_mut(h.dict(), key) else { return false };
        if node.meta.fetch_and(!META_EXPIRE, Relaxed) & META_EXPIRE == 0 {
            return false;
        }
        self.ttl.remove(std::ptr::NonNull::from(&mut *node))
    }

    /// Deadline of a live key: `Err(())` if missing.
    pub fn ttl(&mut self, h: KeyHash, key: &[u8], now: i64) -> Option<Option<i64>> {
        let node = self.get_mut(h, key, now)?;
        Some(node_deadline(node))
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.before_bulk_change();
        self.ttl.clear();
        self.dict.clear();
        self.expire_cursor = 0;
    }

    /// Takes every key and deadline out, leaving the shard empty (FLUSHDB/FLUSHALL take the
    /// data under the lock and free it after releasing the lock, or on another thread for
    /// ASYNC). The shard's counters are kept.
    pub fn take_data(&mut self) -> Dict<Value> {
        self.before_bulk_change();
        self.expire_cursor = 0;
        self.ttl.clear();
        std::mem::take(&mut self.dict)
    }

    /// Exchanges keys and deadlines with another shard (SWAPDB swaps shard `i` of one
    /// database with shard `i` of the other: a key hashes to the same shard index in every
    /// database). Counters stay where they are.
    pub fn swap_data(&mut self, other: &mut Shard) {
        self.before_bulk_change();
        other.before_bulk_change();
        std::mem::swap(&mut self.dict, &mut other.dict);
        std::mem::swap(&mut self.ttl, &mut other.ttl);
        std::mem::swap(&mut self.expire_cursor, &mut other.expire_cursor);
    }

    /// Runs one active-expiry step: visits slots of the deadline index from the saved
    /// cursor until `samples` deadlines were checked; deletes the expired ones. Returns
    /// (checked, expired).
    pub fn active_expire_step(&mut self, now: i64, samples: usize) -> (usize, usize) {
        let (mut checked, mut expired) = (0, 0);
        let mut slots = 0;
        while checked < samples && self.ttl.len() > 0 && slots < samples * 20 {
            let mut dead = None;
            // SAFETY: `&mut self` keeps every indexed entry alive; the closure only reads.
            let next = unsafe {
                self.ttl.scan(self.expire_cursor, |n| {
                    checked += 1;
                    if n.deadline <= now {
                        dead = Some((Dict::hash_of(n), n.key.clone()));
                    }
                })
            };
            self.expire_cursor = next;
            slots += 1;
            let found = dead.is_some();
            if let Some((hash, key)) = dead {
                // Only the in-shard half of the hash is used inside a shard.
                if let Some(value) = self.remove(KeyHash(hash as u64), &key) {
                    self.expired_values.push(value);
                }
                self.expired_log.push(key);
                expired += 1;
                // The deletion shifted a later entry into this slot: look at it again.
                self.expire_cursor = self.expire_cursor.saturating_sub(1);
            }
            if next == 0 && !found {
                break;
            }
        }
        self.expired_keys += expired as u64;
        (checked, expired)
    }
}

/// A node's deadline, if it has one.
#[inline]
pub fn node_deadline(node: &Node<Value>) -> Option<i64> {
    (node.meta.load(Relaxed) & META_EXPIRE != 0).then_some(node.deadline)
}

impl Shard {
    /// Called before the entry of `key` (if any) changes or goes away: while a snapshot is
    /// walking this shard and has not written the entry yet, writes its current contents
    /// into the snapshot first. One `Option` check when no snapshot runs.
    #[inline]
    fn before_change(&self, h: KeyHash, key: &[u8]) {
        if self.propagate {
            crate::propagate::stamp();
        }
        if let Some(snap) = &self.snap {
            if let Some(node) = self.dict.get(h.dict(), key) {
                snap.capture(self, node);
            }
        }
    }

    /// Called before a change to the whole shard (FLUSHDB, SWAPDB): writes every entry the
    /// running snapshot has not written yet.
    fn before_bulk_change(&self) {
        if self.propagate {
            crate::propagate::stamp();
        }
        if let Some(snap) = &self.snap {
            for node in self.dict.iter() {
                snap.capture(self, node);
            }
        }
    }

    /// True if the running snapshot has written this entry already (or it is newer).
    #[inline]
    pub(crate) fn snapshotted(&self, node: &Node<Value>) -> bool {
        node.meta.load(Relaxed) & META_SNAP == self.snap_sense
    }
}

#[inline]
fn touch(node: &Node<Value>, now: i64) {
    crate::evict::touch(&node.meta, now);
}

/// One logical database (`SELECT n`): [`SHARDS`] shards.
pub struct Keyspace {
    shards: Box<[RwLock<Shard>]>,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace { shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect() }
    }
}

impl Keyspace {
    /// The shard lock of a hash.
    #[inline]
    pub fn shard(&self, h: KeyHash) -> &RwLock<Shard> {
        &self.shards[h.shard()]
    }
    /// Shard lock by index.
    #[inline]
    pub fn shard_at(&self, i: usize) -> &RwLock<Shard> {
        &self.shards[i]
    }
    /// Shard by index, through exclusive ownership (no locking: a keyspace being built).
    #[inline]
    pub fn shard_at_mut(&mut self, i: usize) -> &mut Shard {
        self.shards[i].get_mut()
    }
    /// Write-locks every shard in ascending order, keeping no guards: the caller must call
    /// [`Keyspace::unlock_all_exclusive`] later on the same thread.
    pub(crate) fn lock_all_exclusive(&self) {
        for s in self.shards.iter() {
            std::mem::forget(s.write());
        }
    }
    /// Releases what [`Keyspace::lock_all_exclusive`] took.
    ///
    /// # Safety
    /// Every shard must be write-locked by a `lock_all_exclusive` of this thread that was
    /// not released yet.
    pub(crate) unsafe fn unlock_all_exclusive(&self) {
        for s in self.shards.iter() {
            // SAFETY: by the caller, the write lock is held (its guard was forgotten).
            unsafe { s.force_unlock_write() };
        }
    }
    /// Number of keys (including expired keys not yet deleted, as Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().dict.len()).sum()
    }
    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of keys with a deadline.
    pub fn volatile_len(&self) -> usize {
        self.shards.iter().map(|s| s.read().ttl.len()).sum()
    }
}
