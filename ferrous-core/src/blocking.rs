//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...): the waiter registry.
//!
//! A blocking command whose keys are all empty registers a [`Waiter`] for them **while
//! still holding the keys' shard locks**, so a concurrent push cannot slip between the
//! emptiness check and the registration. A command that adds data to a key calls
//! [`Access::signal_ready`](crate::access::Access::signal_ready) under its shard lock; if
//! someone waits on that key it is queued as ready. After every command,
//! [`serve_ready`] re-runs the waiting commands for the ready keys, in the order the keys
//! became ready and, per key, in FIFO order of the waiters, before the pushing client's
//! reply is flushed — so nobody can observe the push without the waiters having been
//! served, as in Redis. Re-running goes through the normal dispatch in "serving" mode, so
//! an LMOVE into another list serves that list's waiters too (chains).
//!
//! Lock order: shard locks, then the registry mutex, then a waiter's state mutex. Serving
//! never holds the registry mutex while running a command.
use crate::client::ClientState;
use crate::db::Database;
use ferrous_resp::ArgsBuf;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client's blocking-related state.
#[derive(Default)]
pub struct ClientBlocking {
    /// How to wake this client's owner when a waiter is served; `None` means the client
    /// cannot block (blocking commands then behave as if they timed out at once, as they
    /// do inside MULTI and scripts).
    pub waker: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The waiter registered by the last command, if it blocked.
    pub blocked: Option<Arc<Waiter>>,
    /// Set while re-running a blocked command to serve it: it must not block again.
    pub serving: bool,
    /// Set while EXEC or a script runs: blocking commands act as if they timed out.
    pub disabled: bool,
}

impl ClientBlocking {
    /// True if a blocking command may register a waiter now.
    pub fn can_block(&self) -> bool {
        self.waker.is_some() && !self.serving && !self.disabled
    }
}

/// Where a waiter is in its life.
#[derive(Debug)]
pub enum WaiterState {
    /// Registered, waiting for data.
    Waiting,
    /// Being served by another thread right now.
    Serving,
    /// Served: the reply to send.
    Done(Vec<u8>),
    /// Timed out, disconnected or unblocked; will not be served.
    Cancelled,
}

/// One blocked client.
pub struct Waiter {
    /// The blocked client's id.
    pub client_id: u64,
    /// Its selected database.
    pub db: usize,
    /// Its protocol (2 or 3), for encoding the reply.
    pub resp: u8,
    /// The keys it waits on.
    pub keys: Vec<Vec<u8>>,
    /// The original command, re-run when a key is ready.
    pub args: ArgsBuf,
    /// Absolute deadline (Unix ms), `None` = forever.
    pub deadline: Option<i64>,
    /// The timeout reply is a null array (BLPOP...) rather than a null bulk (BLMOVE...).
    pub null_array_on_timeout: bool,
    /// A stream reader (XREAD/XREADGROUP): woken by any write to its keys, since a deleted
    /// or retyped key must answer XREADGROUP with an error.
    pub stream: bool,
    /// State, guarded for the serve/cancel race.
    pub state: Mutex<WaiterState>,
    changed: Condvar,
    /// Counted in the registry's gauges until removed (a waiter without keys, as WAIT's,
    /// is in no queue, so this, not the queues, says whether it is still counted).
    counted: std::sync::atomic::AtomicBool,
    /// Wakes the owner (an event loop or a blocked thread) when served.
    pub wake: Arc<dyn Fn() + Send + Sync>,
}

impl Waiter {
    /// Cancels the wait (timeout, disconnect, CLIENT UNBLOCK) and unregisters it. Returns
    /// the reply if the waiter was served in the meantime.
    pub fn cancel(self: &Arc<Self>, registry: &BlockingRegistry) -> Option<Vec<u8>> {
        registry.remove(self);
        let mut st = self.state.lock();
        loop {
            match std::mem::replace(&mut *st, WaiterState::Cancelled) {
                WaiterState::Serving => {
                    *st = WaiterState::Serving;
                    self.changed.wait(&mut st);
                }
                WaiterState::Done(reply) => return Some(reply),
                WaiterState::Waiting | WaiterState::Cancelled => return None,
            }
        }
    }

    /// Takes the reply if the waiter has been served.
    pub fn take_reply(&self) -> Option<Vec<u8>> {
        let mut st = self.state.lock();
        match std::mem::replace(&mut *st, WaiterState::Cancelled) {
            WaiterState::Done(r) => Some(r),
            other => {
                *st = other;
                None
            }
        }
    }

    /// The reply sent when the wait times out.
    pub fn timeout_reply(&self) -> &'static [u8] {
        match (self.resp, self.null_array_on_timeout) {
            (3, _) => b"_\r\n",
            (_, true) => b"*-1\r\n",
            (_, false) => b"$-1\r\n",
        }
    }

    /// Blocks the calling thread until served or `deadline` passes (in-process API).
    pub fn wait_until(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut st = self.state.lock();
        loop {
            if matches!(*st, WaiterState::Done(_)) {
                return true;
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut st, d).timed_out() {
                        return matches!(*st, WaiterState::Done(_));
                    }
                }
                None => self.changed.wait(&mut st),
            }
        }
    }
}

/// (database index, key): what a client blocks on.
type DbKey = (usize, Vec<u8>);

/// All blocked clients, by key.
#[derive(Default)]
pub struct BlockingRegistry {
    by_key: Mutex<HashMap<DbKey, VecDeque<Arc<Waiter>>>>,
    ready: Mutex<Vec<DbKey>>,
    waiters: AtomicUsize,
    /// Waiters with a deadline (Redis's clients timeout table).
    timed_waiters: AtomicUsize,
    ready_count: AtomicUsize,
    stream_waiters: AtomicUsize,
}

impl BlockingRegistry {
    /// Blocks `client` on `keys` (call with the keys' shard locks held): registers a waiter
    /// that re-runs `args` when a key is ready, and records it in `client.blocking.blocked`.
    /// Returns false (and registers nothing) if the client cannot block.
    pub fn block(
        &self,
        client: &mut ClientState,
        keys: Vec<Vec<u8>>,
        args: ArgsBuf,
        deadline: Option<i64>,
        null_array_on_timeout: bool,
    ) -> bool {
        self.block_kind(client, keys, args, deadline, null_array_on_timeout, false)
    }

    /// [`BlockingRegistry::block`] for XREAD/XREADGROUP (null-array timeout reply; woken by
    /// any write to the keys, see [`BlockingRegistry::has_stream_waiters`]).
    pub fn block_stream(
        &self,
        client: &mut ClientState,
        keys: Vec<Vec<u8>>,
        args: ArgsBuf,
        deadline: Option<i64>,
    ) -> bool {
        self.block_kind(client, keys, args, deadline, true, true)
    }

    /// Marks every key a stream reader waits on in database `db` (`None`: all) as ready:
    /// FLUSHDB, FLUSHALL and SWAPDB change keys without touching them one by one, and a
    /// blocked XREADGROUP must learn that its stream is gone.
    pub fn mark_stream_keys_ready(&self, db: Option<usize>) {
        if !self.has_stream_waiters() {
            return;
        }
        let keys: Vec<DbKey> = self
            .by_key
            .lock()
            .iter()
            .filter(|((d, _), q)| db.map_or(true, |x| x == *d) && q.iter().any(|w| w.stream))
            .map(|(k, _)| k.clone())
            .collect();
        for (d, k) in keys {
            self.mark_ready(d, &k);
        }
    }

    /// True while a stream reader is blocked: writers then mark every key they modify as
    /// ready (cheap atomic load otherwise).
    #[inline]
    pub fn has_stream_waiters(&self) -> bool {
        self.stream_waiters.load(Relaxed) > 0
    }

    fn block_kind(
        &self,
        client: &mut ClientState,
        keys: Vec<Vec<u8>>,
        args: ArgsBuf,
        deadline: Option<i64>,
        null_array_on_timeout: bool,
        stream: bool,
    ) -> bool {
        if !client.blocking.can_block() {
            return false;
        }
        let Some(wake) = client.blocking.waker.clone() else { return false };
        let w = Arc::new(Waiter {
            client_id: client.id(),
            db: client.db,
            resp: client.resp,
            keys,
            args,
            deadline,
            null_array_on_timeout,
            stream,
            state: Mutex::new(WaiterState::Waiting),
            changed: Condvar::new(),
            counted: std::sync::atomic::AtomicBool::new(true),
            wake,
        });
        let mut map = self.by_key.lock();
        for k in &w.keys {
            let q = map.entry((w.db, k.clone())).or_default();
            if !q.iter().any(|x| Arc::ptr_eq(x, &w)) {
                q.push_back(w.clone());
            }
        }
        self.waiters.fetch_add(1, Relaxed);
        if w.deadline.is_some() {
            self.timed_waiters.fetch_add(1, Relaxed);
        }
        if stream {
            self.stream_waiters.fetch_add(1, Relaxed);
        }
        client.blocking.blocked = Some(w.clone());
        true
    }

    /// Finds the waiter of a blocked client (CLIENT UNBLOCK).
    pub fn find_client(&self, client_id: u64) -> Option<Arc<Waiter>> {
        self.by_key.lock().values().flat_map(|q| q.iter()).find(|w| w.client_id == client_id).cloned()
    }

    /// Unblocks a waiting client with `reply` (CLIENT UNBLOCK): true if it was waiting.
    pub fn unblock_with(&self, w: &Arc<Waiter>, reply: Vec<u8>) -> bool {
        {
            let mut st = w.state.lock();
            if !matches!(*st, WaiterState::Waiting) {
                return false;
            }
            *st = WaiterState::Done(reply);
            w.changed.notify_all();
        }
        self.remove(w);
        (w.wake)();
        true
    }

    fn remove(&self, w: &Arc<Waiter>) {
        let mut map = self.by_key.lock();
        for k in &w.keys {
            let key = (w.db, k.clone());
            if let Some(q) = map.get_mut(&key) {
                q.retain(|x| !Arc::ptr_eq(x, w));
                if q.is_empty() {
                    map.remove(&key);
                }
            }
        }
        if w.counted.swap(false, Relaxed) {
            self.waiters.fetch_sub(1, Relaxed);
            if w.deadline.is_some() {
                self.timed_waiters.fetch_sub(1, Relaxed);
            }
            if w.stream {
                self.stream_waiters.fetch_sub(1, Relaxed);
            }
        }
    }

    /// True if any client is blocked (cheap; checked on every push).
    #[inline]
    pub fn has_waiters(&self) -> bool {
        self.waiters.load(Relaxed) > 0
    }

    /// Number of blocked clients.
    pub fn blocked_clients(&self) -> usize {
        self.waiters.load(Relaxed)
    }

    /// Number of blocked clients that wait with a timeout (INFO's
    /// `clients_in_timeout_table`).
    pub fn clients_with_timeout(&self) -> usize {
        self.timed_waiters.load(Relaxed)
    }

    /// Number of distinct keys with waiters.
    pub fn blocked_keys(&self) -> usize {
        self.by_key.lock().len()
    }

    /// Marks `key` ready if someone waits on it. Called by writers under the shard lock.
    pub fn mark_ready(&self, db: usize, key: &[u8]) {
        let map = self.by_key.lock();
        if map.contains_key(&(db, key.to_vec())) {
            let mut ready = self.ready.lock();
            if !ready.iter().any(|(d, k)| *d == db && k == key) {
                ready.push((db, key.to_vec()));
                self.ready_count.fetch_add(1, Relaxed);
            }
        }
    }

    /// The keys clients are blocked on in database `db` (SWAPDB offers those that exist
    /// after the swap, as Redis's `scanDatabaseForReadyKeys`).
    pub fn blocked_keys_in(&self, db: usize) -> Vec<Vec<u8>> {
        self.by_key.lock().keys().filter(|(d, _)| *d == db).map(|(_, k)| k.clone()).collect()
    }

    /// True if some keys are waiting to be served.
    #[inline]
    pub fn has_ready(&self) -> bool {
        self.ready_count.load(Relaxed) > 0
    }

    fn take_ready(&self) -> Vec<DbKey> {
        let mut r = self.ready.lock();
        self.ready_count.store(0, Relaxed);
        std::mem::take(&mut *r)
    }

    fn first_waiter(&self, db: usize, key: &[u8], skip: usize) -> Option<Arc<Waiter>> {
        self.by_key.lock().get(&(db, key.to_vec())).and_then(|q| q.get(skip).cloned())
    }
}

/// Serves the waiters of every ready key (see the module docs). `db` is any handle.
pub fn serve_ready(db: &Database) {
    let registry = &db.inner.blocking;
    while registry.has_ready() {
        for (dbi, key) in registry.take_ready() {
            let mut skip = 0;
            while let Some(w) = registry.first_waiter(dbi, &key, skip) {
                {
                    let mut st = w.state.lock();
                    if !matches!(*st, WaiterState::Waiting) {
                        drop(st);
                        skip += 1;
                        continue;
                    }
                    *st = WaiterState::Serving;
                }
                let mut client = db.serving_client(w.db, w.resp);
                let mut out = Vec::new();
                db.dispatch(&mut client, w.args.as_args(), &mut out);
                let served = !out.is_empty();
                if served {
                    // The waiter's reply acknowledges the pop: under `appendfsync always`
                    // it is on disk before the waiter wakes.
                    let _ = crate::aof::writer::commit(&db.inner);
                }
                {
                    let mut st = w.state.lock();
                    *st = if served { WaiterState::Done(out) } else { WaiterState::Waiting };
                    w.changed.notify_all();
                }
                if !served {
                    // A stream reader may find nothing for its group while the next waiter
                    // (another group, a plain XREAD) has data: keep going for those.
                    if w.stream {
                        skip += 1;
                        continue;
                    }
                    // The data was taken first (another thread); the key is no longer ready.
                    break;
                }
                registry.remove(&w);
                (w.wake)();
            }
        }
    }
}

impl Database {
    /// Serves clients blocked on keys the typed call that produced `r` filled (the command
    /// path does this after every command; typed calls that add list or zset elements do
    /// it through here).
    pub(crate) fn serve_blocked<T>(&self, r: T) -> T {
        // Inside a transaction the waiters are served once it has released its locks
        // (`Database::transaction`), as after EXEC: serving runs commands that lock.
        if self.inner.blocking.has_ready() && !self.in_transaction() {
            serve_ready(self);
        }
        r
    }

    /// Runs a blocking command (BLPOP, BZPOPMIN...) through the command path on a private
    /// client, blocking the calling thread until it is served or `timeout` passes
    /// (`Duration::ZERO`: forever). Returns the reply; error replies become errors.
    pub(crate) fn run_blocking(&self, args: ArgsBuf, timeout: Duration) -> crate::Result<ferrous_resp::Value> {
        let mut client = self.connect(crate::ConnectionInfo::default());
        client.authenticated = true;
        client.select(self.index);
        client.blocking.waker = Some(Arc::new(|| {}));
        let mut out = Vec::new();
        if self.in_transaction() {
            // Inside a transaction nothing can arrive meanwhile: the command answers at
            // once, as a blocking command inside MULTI or a script does.
            client.blocking.disabled = true;
            crate::commands::dispatch_held(self, &mut client, args.as_args(), &mut out);
        } else {
            self.dispatch(&mut client, args.as_args(), &mut out);
            let _ = crate::aof::writer::commit(&self.inner);
        }
        if out.is_empty() {
            if let Some(w) = client.blocking.blocked.take() {
                let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
                w.wait_until(deadline);
                out = match w.take_reply() {
                    Some(r) => r,
                    None => w.cancel(&self.inner.blocking).unwrap_or_else(|| w.timeout_reply().to_vec()),
                };
            }
        }
        self.disconnect(&client);
        match ferrous_resp::parse_value(&out) {
            Ok(Some((ferrous_resp::Value::Error(e), _))) if e == crate::Error::WrongType.to_string() => {
                Err(crate::Error::WrongType)
            }
            Ok(Some((ferrous_resp::Value::Error(e), _))) => Err(crate::Error::msg(e)),
            Ok(Some((v, _))) => Ok(v),
            _ => Ok(ferrous_resp::Value::Null),
        }
    }
}
