//! In-process transactions: [`Database::transaction`] (atomic closure) and
//! [`Database::optimistic`] (WATCH-style optimistic locking with retries).
use crate::db::Database;
use crate::error::Result;
use crate::transaction::{ClientTx, Watched};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::ThreadId;

/// Marks a [`Database`] handle as running inside a transaction on one thread.
///
/// The handle given to a transaction closure reaches shards without locking (its thread
/// already holds every lock). If the handle escapes (cloned, sent to another thread, kept
/// after the closure), the token no longer matches and it silently falls back to normal
/// locking, so misuse can block but never race.
pub struct HeldToken {
    thread: ThreadId,
    alive: AtomicBool,
}

impl HeldToken {
    /// True on the owning thread while the transaction runs.
    pub(crate) fn is_mine(&self) -> bool {
        self.alive.load(Relaxed) && std::thread::current().id() == self.thread
    }
}

impl Database {
    /// Runs `f` atomically: no other client or thread observes the database between its
    /// first and last operation. `f` gets a handle with the whole typed API.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.set("from", "10").unwrap();
    /// db.transaction(|tx| {
    ///     tx.incr_by("from", -3)?;
    ///     tx.incr_by("to", 3)?;
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(db.get("to").unwrap(), Some(b"3".to_vec()));
    /// ```
    pub fn transaction<R>(&self, f: impl FnOnce(&Database) -> Result<R>) -> Result<R> {
        if self.held.as_ref().is_some_and(|t| t.is_mine()) {
            // Already inside a transaction on this thread: just run.
            return f(self);
        }
        // The typed writes inside are one block of the change stream (MULTI/EXEC for
        // several), published once the locks are released; then clients blocked on keys it
        // filled are served, as after EXEC.
        let r = crate::propagate::typed_transaction(&self.inner, || {
            let guards = crate::access::HeldLocks::acquire(&self.inner, self.index);
            let token = Arc::new(HeldToken { thread: std::thread::current().id(), alive: AtomicBool::new(true) });
            let mut tx = self.clone();
            tx.held = Some(token.clone());
            let r = f(&tx);
            token.alive.store(false, Relaxed);
            drop(guards);
            r
        });
        self.serve_blocked(r)
    }

    /// Optimistic locking, like WATCH/MULTI/EXEC: `read` runs without locks and computes
    /// a plan from the current data; then, atomically, if none of `keys` was modified since
    /// `read` started, `apply` runs with the plan. Otherwise it retries, up to
    /// `max_attempts` times. Returns `Ok(None)` if every attempt lost the race.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.set("balance", "100").unwrap();
    /// let new = db
    ///     .optimistic(&["balance"], 5, |db| {
    ///         let cur: i64 = String::from_utf8(db.get("balance")?.unwrap_or_default()).unwrap().parse().unwrap();
    ///         Ok(cur - 30)
    ///     }, |tx, new| {
    ///         tx.set("balance", new.to_string())?;
    ///         Ok(new)
    ///     })
    ///     .unwrap();
    /// assert_eq!(new, Some(70));
    /// ```
    pub fn optimistic<K: AsRef<[u8]>, T, R>(
        &self,
        keys: &[K],
        max_attempts: usize,
        mut read: impl FnMut(&Database) -> Result<T>,
        mut apply: impl FnMut(&Database, T) -> Result<R>,
    ) -> Result<Option<R>> {
        let watches = &self.inner.watches;
        for _ in 0..max_attempts {
            let mut tx = ClientTx::default();
            for k in keys {
                let key = k.as_ref();
                let alive = self.access().read(key, |n| n.is_some());
                watches.watch(self.index, key, &tx.dirty);
                tx.watched.push(Watched { db: self.index, key: key.to_vec(), alive });
            }
            let plan = read(self);
            let plan = match plan {
                Ok(p) => p,
                Err(e) => {
                    watches.unwatch_all(&mut tx);
                    return Err(e);
                }
            };
            let outcome = self.transaction(|db| {
                let unchanged = !tx.dirty.load(Relaxed)
                    && tx.watched.iter().all(|w| !w.alive || db.access().read(&w.key, |n| n.is_some()));
                if unchanged {
                    apply(db, plan).map(Some)
                } else {
                    Ok(None)
                }
            });
            watches.unwatch_all(&mut tx);
            match outcome? {
                Some(r) => return Ok(Some(r)),
                None => continue,
            }
        }
        Ok(None)
    }
}
