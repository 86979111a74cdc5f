//! MULTI/EXEC/WATCH state: what a client has queued and watched, and the registry that
//! flags watchers when a watched key is modified.
//!
//! How a modification is noticed (Redis's `signalModifiedKey`): `Access::write` and
//! `Access::write_many` touch their keys when the operation moved `dirty` under the lock;
//! operations that lock more keys than they modify (BITOP, SINTERSTORE, COPY, MOVE, ...)
//! touch exactly the keys they changed, under the lock. Touching flags every client
//! watching that key (one atomic load when nobody watches). Keys that disappear without a
//! command naming them (expiry, FLUSHDB/FLUSHALL) are caught at EXEC time: a key that was
//! alive when watched and is not alive any more aborts the transaction, which is what
//! Redis 7.0 decides for expired and flushed keys (a key that was missing or already
//! expired when watched is not a change when it is flushed). SWAPDB flags the watched keys
//! that are alive in their database after the swap ([`WatchRegistry::touch_db_if`]).
use ferrous_resp::ArgsBuf;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// A watched key.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Database index.
    pub db: usize,
    /// The key.
    pub key: Vec<u8>,
    /// Whether it existed (and had not expired) when WATCH ran.
    pub alive: bool,
}

/// A client's transaction state.
#[derive(Default)]
pub struct ClientTx {
    /// Commands queued since MULTI (`None`: not in MULTI).
    pub queue: Option<Vec<ArgsBuf>>,
    /// A command failed to queue: EXEC will answer EXECABORT.
    pub aborted: bool,
    /// Keys watched with WATCH.
    pub watched: Vec<Watched>,
    /// Set when a watched key is touched.
    pub dirty: Arc<AtomicBool>,
    /// True while EXEC runs the queue.
    pub in_exec: bool,
}

impl ClientTx {
    /// True between MULTI and EXEC/DISCARD.
    pub fn in_multi(&self) -> bool {
        self.queue.is_some()
    }
}

type Watchers = Vec<Arc<AtomicBool>>;

/// Who watches which key.
#[derive(Default)]
pub struct WatchRegistry {
    /// (db, key) -> the dirty flags of the clients watching it.
    map: Mutex<HashMap<(usize, Vec<u8>), Watchers>>,
    count: AtomicUsize,
}

impl WatchRegistry {
    /// True if any key is watched (checked after every write).
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    /// Starts watching.
    pub fn watch(&self, db: usize, key: &[u8], flag: &Arc<AtomicBool>) {
        let mut m = self.map.lock();
        let v = m.entry((db, key.to_vec())).or_default();
        if !v.iter().any(|f| Arc::ptr_eq(f, flag)) {
            v.push(flag.clone());
            self.count.fetch_add(1, Relaxed);
        }
    }

    /// Stops watching everything in `tx` and clears its flag.
    pub fn unwatch_all(&self, tx: &mut ClientTx) {
        self.forget(tx);
        tx.watched.clear();
        tx.dirty.store(false, Relaxed);
    }

    /// Removes `tx`'s watches from the registry (on disconnect).
    pub fn forget(&self, tx: &ClientTx) {
        if tx.watched.is_empty() {
            return;
        }
        let mut m = self.map.lock();
        for w in &tx.watched {
            let k = (w.db, w.key.clone());
            if let Some(v) = m.get_mut(&k) {
                let before = v.len();
                v.retain(|f| !Arc::ptr_eq(f, &tx.dirty));
                self.count.fetch_sub(before - v.len(), Relaxed);
                if v.is_empty() {
                    m.remove(&k);
                }
            }
        }
    }

    /// Flags every client watching `key` in `db`.
    pub fn touch(&self, db: usize, key: &[u8]) {
        if !self.active() {
            return;
        }
        if let Some(v) = self.map.lock().get(&(db, key.to_vec())) {
            for f in v {
                f.store(true, Relaxed);
            }
        }
    }

    /// Flags the clients watching a key of `db` for which `changed(key)` is true (SWAPDB,
    /// which knows which watched keys it changed only by looking at them).
    pub fn touch_db_if(&self, db: usize, mut changed: impl FnMut(&[u8]) -> bool) {
        if !self.active() {
            return;
        }
        for ((d, key), v) in self.map.lock().iter() {
            if *d == db && changed(key) {
                for f in v {
                    f.store(true, Relaxed);
                }
            }
        }
    }

    /// Flags every client watching any key of `db`.
    pub fn touch_db(&self, db: usize) {
        if !self.active() {
            return;
        }
        for ((d, _), v) in self.map.lock().iter() {
            if *d == db {
                for f in v {
                    f.store(true, Relaxed);
                }
            }
        }
    }
}
