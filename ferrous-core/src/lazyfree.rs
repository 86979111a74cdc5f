//! Lazy free: values and whole databases freed on a background thread of the Database, as
//! Redis 7.0's `lazyfree.c` with its BIO thread.
//!
//! - [`free`] takes a value that left the keyspace (DEL/UNLINK, an overwrite, an expired or
//!   evicted key) and frees it inline or hands it to the thread: only when the caller's
//!   lazy-free directive applies *and* the value's [`free_effort`] is above
//!   [`LAZYFREE_THRESHOLD`] (a list of more than 64 nodes, a hash table or skiplist of more
//!   than 64 elements...). A small value costs less to free than to hand over.
//! - [`free_data`] takes the contents of flushed shards (FLUSHALL/FLUSHDB ASYNC): always to
//!   the thread, as Redis's `emptyDbAsync`.
//! - [`pending`] / [`freed`] are INFO's `lazyfree_pending_objects` (memory section) and
//!   `lazyfreed_objects` (stats): objects handed over and not freed yet, and objects the
//!   thread has freed (a flushed database counts its keys).
//!
//! The thread is started on the first hand-over (most embedded Databases never need one) and
//! is stopped by [`LazyFree::stop`] when the Database is dropped: it frees what is still
//! queued, then exits and is joined.
use crate::db::Inner;
use crate::dict::Dict;
use crate::value::Value;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Redis's `LAZYFREE_THRESHOLD`: values whose free effort is at most this are freed inline.
pub const LAZYFREE_THRESHOLD: usize = 64;

/// Data the thread frees, with the number of objects it counts for.
type Job = (Garbage, usize);

/// What is handed to the thread: anything, as the thread only drops it.
type Garbage = Box<dyn Send>;

/// Counters shared with the thread.
#[derive(Default)]
struct Counters {
    pending: AtomicUsize,
    freed: AtomicU64,
}

/// The Database's lazy-free thread and its counters.
#[derive(Default)]
pub struct LazyFree {
    counters: Arc<Counters>,
    /// The queue to the thread and the thread, once started; `None` again after `stop`.
    thread: Mutex<Option<(Sender<Job>, JoinHandle<()>)>>,
}

impl LazyFree {
    /// Queues `garbage` counting as `objects`; frees it here if the thread cannot run (not
    /// started and cannot be, or already stopped by the Database's drop).
    fn submit(&self, garbage: Garbage, objects: usize) {
        let mut slot = self.thread.lock();
        if slot.is_none() {
            let (tx, rx) = channel::<Job>();
            let counters = self.counters.clone();
            let spawned = std::thread::Builder::new().name("ferrous-lazyfree".into()).spawn(move || {
                // Ends when the sender is dropped (`stop`), after freeing everything queued.
                for (garbage, n) in rx {
                    drop(garbage);
                    counters.pending.fetch_sub(n, Relaxed);
                    counters.freed.fetch_add(n as u64, Relaxed);
                }
            });
            match spawned {
                Ok(handle) => *slot = Some((tx, handle)),
                Err(_) => {
                    drop(slot);
                    drop(garbage);
                    self.counters.freed.fetch_add(objects as u64, Relaxed);
                    return;
                }
            }
        }
        if let Some((tx, _)) = slot.as_ref() {
            self.counters.pending.fetch_add(objects, Relaxed);
            if let Err(e) = tx.send((garbage, objects)) {
                // The thread is gone (it cannot panic on a drop, but be safe): free here.
                self.counters.pending.fetch_sub(objects, Relaxed);
                drop(slot);
                drop(e.0);
            }
        }
    }

    /// Stops the thread after it has freed what is queued (the Database's drop).
    pub(crate) fn stop(&self) {
        let taken = self.thread.lock().take();
        if let Some((tx, handle)) = taken {
            drop(tx);
            let _ = handle.join();
        }
    }

    /// Waits until everything handed over so far is freed (tests, DEBUG).
    pub fn drain(&self) {
        while self.counters.pending.load(Relaxed) > 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Redis's `lazyfreeGetFreeEffort`: roughly the number of allocations freeing `value` costs.
/// Strings and the compact encodings (listpack, intset) are one allocation.
pub fn free_effort(value: &Value) -> usize {
    match value {
        Value::List(l) => l.node_count(),
        Value::Set(s) if s.encoding() == "hashtable" => s.len(),
        Value::Hash(h) if h.encoding() == "hashtable" => h.len(),
        Value::ZSet(z) if z.encoding() == "skiplist" => z.len(),
        // Every node is an allocation; every group and the entries of its PEL too (the first
        // group's PEL size stands for all of them, as in Redis).
        Value::Stream(s) => {
            let groups = s.groups().count();
            let pel = s.groups().next().map_or(0, |(_, g)| g.pel.len());
            s.node_count() + groups * (1 + pel)
        }
        _ => 1,
    }
}

/// Frees a value that left the keyspace. `lazy`: the lazy-free directive of the caller's
/// path is on (UNLINK passes `true`); the value then goes to the background thread if
/// freeing it is costly enough ([`free_effort`] above [`LAZYFREE_THRESHOLD`]).
pub fn free(inner: &Inner, value: Value, lazy: bool) {
    if lazy && free_effort(&value) > LAZYFREE_THRESHOLD {
        inner.lazyfree.submit(Box::new(value), 1);
    }
}

/// Frees a value as the directive `name` (`lazyfree-lazy-server-del`, `lazyfree-lazy-expire`...)
/// says.
pub fn free_per(inner: &Inner, value: Value, name: &str) {
    if free_effort(&value) > LAZYFREE_THRESHOLD && inner.config.read().get_bool(name) {
        inner.lazyfree.submit(Box::new(value), 1);
    }
}

/// Frees what an implicit delete removed (RENAME's and the STORE commands' destination, the
/// value SET or RESTORE REPLACE overwrote) as `lazyfree-lazy-server-del` says.
pub fn server_del(inner: &Inner, old: Option<Value>) {
    if let Some(value) = old {
        free_per(inner, value, "lazyfree-lazy-server-del");
    }
}

/// Frees the contents of flushed shards holding `keys` keys: on the thread when `lazy`
/// (FLUSHALL/FLUSHDB ASYNC), else here.
pub fn free_data(inner: &Inner, data: Vec<Dict<Value>>, keys: usize, lazy: bool) {
    if lazy && keys > 0 {
        inner.lazyfree.submit(Box::new(data), keys);
    }
}

/// INFO's `lazyfree_pending_objects`: objects handed to the thread and not freed yet.
pub fn pending(inner: &Inner) -> usize {
    inner.lazyfree.counters.pending.load(Relaxed)
}

/// INFO's `lazyfreed_objects`: objects the thread has freed (since the last CONFIG RESETSTAT).
pub fn freed(inner: &Inner) -> u64 {
    inner.lazyfree.counters.freed.load(Relaxed)
}

/// CONFIG RESETSTAT: zeroes `lazyfreed_objects`.
pub fn reset_stats(inner: &Inner) {
    inner.lazyfree.counters.freed.store(0, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Database;

    fn big_list(db: &Database, key: &str, nodes: usize) {
        // One quicklist node per element past the listpack size limit forces many nodes.
        db.execute(["CONFIG", "SET", "list-max-listpack-size", "1"]);
        for i in 0..nodes {
            db.execute(["RPUSH", key, &i.to_string()]);
        }
    }

    #[test]
    fn effort_follows_redis_rules() {
        let db = Database::new();
        db.execute(["SET", "s", &"x".repeat(10_000)]);
        big_list(&db, "l", 100);
        db.execute(["SADD", "small", "1", "2"]);
        let effort = |k: &str| db.access().peek(k.as_bytes(), |n| n.map(|(n, _)| free_effort(&n.value)));
        assert_eq!(effort("s"), Some(1));
        assert_eq!(effort("small"), Some(1));
        assert_eq!(effort("l"), Some(100));
    }

    #[test]
    fn big_values_go_to_the_thread_small_ones_do_not() {
        let db = Database::new();
        big_list(&db, "l", 100);
        db.execute(["RPUSH", "small", "a"]);
        assert_eq!(db.execute(["UNLINK", "small"]), crate::RespValue::Integer(1));
        db.inner().lazyfree.drain();
        assert_eq!(freed(db.inner()), 0);
        assert_eq!(db.execute(["UNLINK", "l"]), crate::RespValue::Integer(1));
        db.inner().lazyfree.drain();
        assert_eq!(freed(db.inner()), 1);
        assert_eq!(pending(db.inner()), 0);
    }

    #[test]
    fn stop_frees_what_is_queued() {
        let db = Database::new();
        let lf = LazyFree::default();
        lf.submit(Box::new(crate::value::Value::Int(1)), 3);
        lf.stop();
        assert_eq!(lf.counters.pending.load(Relaxed), 0);
        assert_eq!(lf.counters.freed.load(Relaxed), 3);
        drop(db);
    }
}
