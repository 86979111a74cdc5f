//! Client-side caching: CLIENT TRACKING state and the invalidation table.
//!
//! Default mode: after a read-only command, the keys it read are remembered for the
//! client; when any of them is modified (or expires, or the database is flushed) the client
//! gets one invalidation message and the key is forgotten. BCAST mode: the client gets an
//! invalidation for every modified key that matches one of its prefixes. Messages go to
//! the client's push sink as RESP3 `invalidate` pushes, or, with REDIRECT, to the target:
//! a push if it speaks RESP3, a `message` on `__redis__:invalidate` if it is a subscribed
//! RESP2 client.
//!
//! Redirect targets are reached through the push sinks registered here, which exist for
//! clients that subscribed or turned tracking on; a RESP3 target that did neither gets
//! nothing (Redis would push to it). BCAST messages list the keys a command changed when
//! the dispatcher batches them ([`TrackingTable::start_batch`]); otherwise each key is sent
//! on its own.
use crate::pubsub::PushSink;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// A client's CLIENT TRACKING options.
#[derive(Debug, Clone, Default)]
pub struct TrackingOptions {
    /// REDIRECT target client id (0 = none).
    pub redirect: u64,
    /// BCAST mode.
    pub bcast: bool,
    /// OPTIN mode.
    pub optin: bool,
    /// OPTOUT mode.
    pub optout: bool,
    /// NOLOOP: don't notify about own writes.
    pub noloop: bool,
    /// BCAST prefixes (empty = every key).
    pub prefixes: Vec<Vec<u8>>,
}

/// A client's tracking state (present while tracking is on).
#[derive(Debug, Clone, Default)]
pub struct ClientTracking {
    /// The options given to CLIENT TRACKING ON.
    pub options: TrackingOptions,
    /// CLIENT CACHING yes/no for the next command.
    pub caching: Option<bool>,
    /// The caching flag applies to the command being run (set for one command).
    pub caching_armed: bool,
    /// The redirect target disconnected.
    pub broken_redirect: bool,
}

struct Tracker {
    sink: Arc<PushSink>,
    options: TrackingOptions,
    /// The redirect target disconnected (noticed by the next invalidation, as in Redis).
    target_gone: AtomicBool,
    /// An invalidation could not be redirected (CLIENT TRACKINGINFO's `broken_redirect`).
    broken: AtomicBool,
}

/// Which clients cache which keys.
#[derive(Default)]
pub struct TrackingTable {
    keys: Mutex<HashMap<Vec<u8>, HashSet<u64>>>,
    clients: Mutex<HashMap<u64, Arc<Tracker>>>,
    /// Sinks of every connected client that subscribed or tracked (redirect targets).
    sinks: Mutex<HashMap<u64, Arc<PushSink>>>,
    active: AtomicUsize,
}

/// The keys an invalidation names, or `Flush` for "everything" (FLUSHDB/FLUSHALL). Redis
/// encodes the flush's null in the protocol of the *tracking* client, even when the message
/// goes to a redirect target speaking the other protocol, hence `resp3` here.
#[derive(Clone, Copy)]
enum Keys<'a> {
    Some(&'a [&'a [u8]]),
    Flush { resp3: bool },
}

fn invalidate_msg(resp3: bool, via_channel: bool, keys: Keys<'_>) -> Option<Vec<u8>> {
    use ferrous_resp::write;
    let mut b = Vec::new();
    if resp3 {
        write::header(&mut b, b'>', 2);
        write::bulk(&mut b, b"invalidate");
    } else if via_channel {
        write::header(&mut b, b'*', 3);
        write::bulk(&mut b, b"message");
        write::bulk(&mut b, b"__redis__:invalidate");
    } else {
        return None;
    }
    match keys {
        Keys::Some(keys) => {
            write::header(&mut b, b'*', keys.len() as i64);
            for k in keys {
                write::bulk(&mut b, k);
            }
        }
        Keys::Flush { resp3 } => b.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
    }
    Some(b)
}

/// Keys modified during a batch, each with the client that modified it.
type Batch = Vec<(Vec<u8>, u64)>;

thread_local! {
    /// BCAST invalidations of the command running on this thread, while batching
    /// ([`TrackingTable::start_batch`]).
    static BATCH: std::cell::RefCell<Option<Batch>> = const { std::cell::RefCell::new(None) };
}

/// One BCAST message of a batch: prefix and client id bytes (the sort key), the client,
/// the keys.
type BroadcastMessage<'a> = (&'a [u8], [u8; 8], &'a Tracker, Vec<&'a [u8]>);

impl TrackingTable {
    /// INFO's `tracking_total_keys` (keys some client caches), `tracking_total_items`
    /// (key-client pairs) and `tracking_total_prefixes` (distinct BCAST prefixes, the empty
    /// one for BCAST without PREFIX).
    pub fn totals(&self) -> (usize, usize, usize) {
        let (keys, items) = {
            let keys = self.keys.lock();
            (keys.len(), keys.values().map(|c| c.len()).sum())
        };
        let clients = self.clients.lock();
        let mut prefixes: HashSet<&[u8]> = HashSet::new();
        for t in clients.values().filter(|t| t.options.bcast) {
            if t.options.prefixes.is_empty() {
                prefixes.insert(b"");
            }
            prefixes.extend(t.options.prefixes.iter().map(|p| p.as_slice()));
        }
        (keys, items, prefixes.len())
    }

    /// True if any client tracks (checked after every command).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Relaxed) > 0
    }

    /// Makes a client's push sink reachable as a redirect target.
    pub fn register_sink(&self, client_id: u64, sink: &Arc<PushSink>) {
        self.sinks.lock().insert(client_id, sink.clone());
    }

    /// Forgets a disconnected client (as tracker and as redirect target).
    pub fn forget(&self, client_id: u64) {
        self.sinks.lock().remove(&client_id);
        if self.clients.lock().remove(&client_id).is_some() {
            self.active.fetch_sub(1, Relaxed);
        }
        for t in self.clients.lock().values() {
            if t.options.redirect == client_id {
                t.target_gone.store(true, Relaxed);
            }
        }
    }

    /// Turns tracking on for `client_id` with its sink.
    pub fn enable(&self, client_id: u64, sink: Arc<PushSink>, options: TrackingOptions) {
        let t =
            Arc::new(Tracker { sink, options, target_gone: AtomicBool::new(false), broken: AtomicBool::new(false) });
        if self.clients.lock().insert(client_id, t).is_none() {
            self.active.fetch_add(1, Relaxed);
        }
    }

    /// Turns tracking off.
    pub fn disable(&self, client_id: u64) {
        if self.clients.lock().remove(&client_id).is_some() {
            self.active.fetch_sub(1, Relaxed);
        }
    }

    /// True if the client's redirect target went away.
    pub fn redirect_broken(&self, client_id: u64) -> bool {
        self.clients.lock().get(&client_id).is_some_and(|t| t.broken.load(Relaxed))
    }

    /// Remembers that `client_id` read `keys` (default mode).
    pub fn remember(&self, client_id: u64, keys: &[&[u8]]) {
        let mut m = self.keys.lock();
        for k in keys {
            m.entry(k.to_vec()).or_default().insert(client_id);
        }
    }

    /// Sends one invalidation for `t` (Redis's `sendTrackingMessage`): to the tracking
    /// client itself in RESP3; to its REDIRECT target as a push if the target speaks RESP3,
    /// as a `__redis__:invalidate` message if it is a subscribed RESP2 client, and not at
    /// all otherwise. A RESP3 client whose target is gone gets `tracking-redir-broken`.
    fn send(&self, t: &Tracker, keys: Keys<'_>) {
        if t.options.redirect != 0 {
            if t.target_gone.load(Relaxed) {
                t.broken.store(true, Relaxed);
                if t.sink.resp3.load(Relaxed) {
                    use ferrous_resp::write;
                    let mut b = Vec::new();
                    write::header(&mut b, b'>', 2);
                    write::bulk(&mut b, b"tracking-redir-broken");
                    b.extend_from_slice(format!(":{}\r\n", t.options.redirect).as_bytes());
                    t.sink.push(&b);
                }
                return;
            }
            let sinks = self.sinks.lock();
            // A target that never subscribed nor tracked has no sink (see the module
            // documentation): a RESP2 one would get nothing anyway.
            if let Some(target) = sinks.get(&t.options.redirect) {
                let resp3 = target.resp3.load(Relaxed);
                if resp3 || target.subscribed.load(Relaxed) {
                    if let Some(m) = invalidate_msg(resp3, true, keys) {
                        target.push(&m);
                    }
                }
            }
            return;
        }
        if let Some(m) = invalidate_msg(t.sink.resp3.load(Relaxed), false, keys) {
            t.sink.push(&m);
        }
    }

    /// The trackers, in the order of Redis's radix tree of client ids (little-endian
    /// bytes of the id).
    fn trackers(&self) -> Vec<(u64, Arc<Tracker>)> {
        let mut clients: Vec<(u64, Arc<Tracker>)> =
            self.clients.lock().iter().map(|(id, t)| (*id, t.clone())).collect();
        clients.sort_by_key(|(id, _)| id.to_le_bytes());
        clients
    }

    /// Starts collecting the BCAST invalidations of the command about to run on this
    /// thread; [`TrackingTable::flush_batch`] sends them, one message per tracking client
    /// and matching prefix listing every key, as Redis does once per event-loop turn.
    /// Without a batch, each key is sent on its own at once (the in-process API).
    pub fn start_batch(&self) {
        BATCH.with(|b| *b.borrow_mut() = Some(Vec::new()));
    }

    /// Ends the batch started by [`TrackingTable::start_batch`] and sends it: prefixes in
    /// byte order, keys of a message sorted and distinct, NOLOOP clients not told about
    /// keys they changed last.
    pub fn flush_batch(&self) {
        let Some(mut batch) = BATCH.with(|b| b.borrow_mut().take()) else { return };
        if batch.is_empty() || !self.active() {
            return;
        }
        // The last writer of each key counts for NOLOOP.
        batch.reverse();
        batch.sort_by(|a, b| a.0.cmp(&b.0));
        batch.dedup_by(|a, b| a.0 == b.0);
        let trackers = self.trackers();
        let mut messages: Vec<BroadcastMessage<'_>> = Vec::new();
        for (id, t) in trackers.iter().filter(|(_, t)| t.options.bcast) {
            let prefixes: Vec<&[u8]> = if t.options.prefixes.is_empty() {
                vec![&[]]
            } else {
                t.options.prefixes.iter().map(Vec::as_slice).collect()
            };
            for p in prefixes {
                let keys: Vec<&[u8]> = batch
                    .iter()
                    .filter(|(k, by)| k.starts_with(p) && !(t.options.noloop && by == id))
                    .map(|(k, _)| k.as_slice())
                    .collect();
                if !keys.is_empty() {
                    messages.push((p, id.to_le_bytes(), t, keys));
                }
            }
        }
        messages.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, t, keys) in messages {
            self.send(t, Keys::Some(&keys));
        }
    }

    /// A key was modified by `by` (0 = the server itself, e.g. expiry): notify trackers.
    ///
    /// Messages go out in Redis's order: first the clients that read the key (default
    /// mode, in the order of Redis's radix tree of client ids: little-endian bytes), then
    /// the BCAST clients by matching prefix, one message per prefix the key matches (the
    /// empty prefix and a longer one can both match).
    pub fn invalidate(&self, key: &[u8], by: u64) {
        let ids = self.keys.lock().remove(key).unwrap_or_default();
        let mut clients = self.trackers();
        clients.retain(|(id, t)| !(t.options.noloop && *id == by));
        let batched = BATCH.with(|b| match b.borrow_mut().as_mut() {
            Some(batch) => {
                batch.push((key.to_vec(), by));
                true
            }
            None => false,
        });
        let mut bcast: Vec<(&[u8], [u8; 8], &Tracker)> = Vec::new();
        for (id, t) in &clients {
            if !t.options.bcast {
                if ids.contains(id) {
                    self.send(t, Keys::Some(&[key]));
                }
            } else if !batched {
                // (In a batch, `flush_batch` sends the BCAST messages.)
                if t.options.prefixes.is_empty() {
                    bcast.push((&[], id.to_le_bytes(), t));
                }
                for p in t.options.prefixes.iter().filter(|p| key.starts_with(p)) {
                    bcast.push((p, id.to_le_bytes(), t));
                }
            }
        }
        bcast.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (_, _, t) in bcast {
            self.send(t, Keys::Some(&[key]));
        }
    }

    /// Every key is gone (FLUSHDB/FLUSHALL): tell every tracker, forget every key.
    pub fn invalidate_all(&self) {
        self.keys.lock().clear();
        // In connection order, as Redis walks its client list.
        let mut clients: Vec<(u64, Arc<Tracker>)> =
            self.clients.lock().iter().map(|(id, t)| (*id, t.clone())).collect();
        clients.sort_by_key(|(id, _)| *id);
        for (_, t) in clients {
            let resp3 = t.sink.resp3.load(Relaxed);
            self.send(&t, Keys::Flush { resp3 });
        }
    }
}
