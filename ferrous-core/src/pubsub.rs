//! Pub/Sub: the hub that maps channels and patterns to subscribers, and the in-process
//! subscription API.
//!
//! A subscriber is either a connection (messages are encoded in its protocol into its
//! [`PushSink`], and its event loop is woken to move them to the socket) or an in-process
//! [`Subscription`] (messages are queued as values). Delivery order per publisher is the
//! order of its PUBLISH calls: a publish appends to every sink while holding the hub's
//! read lock, and a sink is a FIFO.
use crate::glob::glob_match;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Out-of-band output for a connection (pub/sub messages, tracking invalidations):
/// encoded bytes waiting for the connection's event loop.
pub struct PushSink {
    buf: Mutex<Vec<u8>>,
    /// Protocol of the connection (3 = push messages).
    pub resp3: AtomicBool,
    /// The connection is subscribed to something (Redis's `CLIENT_PUBSUB`): a RESP2
    /// redirect target receives tracking invalidations only then.
    pub subscribed: AtomicBool,
    wake: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Set when the sink went past its limit; the owner closes the connection.
    pub overflowed: AtomicBool,
    limit: AtomicUsize,
}

impl PushSink {
    /// A sink that wakes its owner with `wake`.
    pub fn new(wake: Option<Arc<dyn Fn() + Send + Sync>>) -> Arc<PushSink> {
        Arc::new(PushSink {
            buf: Mutex::new(Vec::new()),
            resp3: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            wake,
            overflowed: AtomicBool::new(false),
            limit: AtomicUsize::new(32 * 1024 * 1024),
        })
    }
    /// Appends encoded bytes and wakes the owner if the sink was empty.
    pub fn push(&self, bytes: &[u8]) {
        let was_empty = {
            let mut b = self.buf.lock();
            let was_empty = b.is_empty();
            if b.len() + bytes.len() > self.limit.load(Relaxed) {
                self.overflowed.store(true, Relaxed);
            } else {
                b.extend_from_slice(bytes);
            }
            was_empty
        };
        if was_empty {
            if let Some(w) = &self.wake {
                w();
            }
        }
    }
    /// Moves everything pending to `out`.
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        let mut b = self.buf.lock();
        if out.is_empty() {
            std::mem::swap(&mut *b, out);
        } else {
            out.extend_from_slice(&b);
            b.clear();
        }
    }
    /// True if something is pending.
    pub fn has_pending(&self) -> bool {
        !self.buf.lock().is_empty()
    }
    /// Sets the hard limit in bytes (`client-output-buffer-limit pubsub`), 0 = none.
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(if bytes == 0 { usize::MAX } else { bytes }, Relaxed);
    }
}

/// A message received by an in-process [`Subscription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published to.
    pub channel: Vec<u8>,
    /// The pattern that matched, for pattern subscriptions.
    pub pattern: Option<Vec<u8>>,
    /// The payload.
    pub payload: Vec<u8>,
}

struct LocalQueue {
    queue: Mutex<VecDeque<Message>>,
    ready: Condvar,
}

enum Target {
    Wire(Arc<PushSink>),
    Local(Arc<LocalQueue>),
}

/// One subscriber (a connection or an in-process subscription).
pub struct Subscriber {
    id: u64,
    target: Target,
}

impl Subscriber {
    fn deliver(&self, kind: &[u8], pattern: Option<&[u8]>, channel: &[u8], payload: &[u8]) {
        match &self.target {
            Target::Wire(sink) => {
                let mut buf = Vec::with_capacity(32 + channel.len() + payload.len());
                let n = if pattern.is_some() { 4 } else { 3 };
                ferrous_resp::write::header(&mut buf, if sink.resp3.load(Relaxed) { b'>' } else { b'*' }, n);
                ferrous_resp::write::bulk(&mut buf, kind);
                if let Some(p) = pattern {
                    ferrous_resp::write::bulk(&mut buf, p);
                }
                ferrous_resp::write::bulk(&mut buf, channel);
                ferrous_resp::write::bulk(&mut buf, payload);
                sink.push(&buf);
            }
            Target::Local(q) => {
                q.queue.lock().push_back(Message {
                    channel: channel.to_vec(),
                    pattern: pattern.map(|p| p.to_vec()),
                    payload: payload.to_vec(),
                });
                q.ready.notify_one();
            }
        }
    }
}

type Subs = Vec<Arc<Subscriber>>;

/// Channel and pattern subscriptions of the whole server.
#[derive(Default)]
pub struct PubSubHub {
    channels: RwLock<HashMap<Vec<u8>, Subs>>,
    patterns: RwLock<Vec<(Vec<u8>, Arc<Subscriber>)>>,
    shard_channels: RwLock<HashMap<Vec<u8>, Subs>>,
    next_local_id: AtomicUsize,
}

/// Which namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

impl PubSubHub {
    /// Adds a subscription; returns false if it already existed.
    pub fn subscribe(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) -> bool {
        match kind {
            Kind::Pattern => {
                let mut p = self.patterns.write();
                if p.iter().any(|(n, s)| n == name && s.id == sub.id) {
                    return false;
                }
                p.push((name.to_vec(), sub.clone()));
                true
            }
            Kind::Channel | Kind::Shard => {
                let map = if kind == Kind::Channel { &self.channels } else { &self.shard_channels };
                let mut m = map.write();
                let v = m.entry(name.to_vec()).or_default();
                if v.iter().any(|s| s.id == sub.id) {
                    return false;
                }
                v.push(sub.clone());
                true
            }
        }
    }

    /// Removes a subscription; returns false if it did not exist.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], sub_id: u64) -> bool {
        match kind {
            Kind::Pattern => {
                let mut p = self.patterns.write();
                let before = p.len();
                p.retain(|(n, s)| !(n == name && s.id == sub_id));
                p.len() != before
            }
            Kind::Channel | Kind::Shard => {
                let map = if kind == Kind::Channel { &self.channels } else { &self.shard_channels };
                let mut m = map.write();
                let Some(v) = m.get_mut(name) else { return false };
                let before = v.len();
                v.retain(|s| s.id != sub_id);
                let removed = v.len() != before;
                if v.is_empty() {
                    m.remove(name);
                }
                removed
            }
        }
    }

    /// Publishes; returns the number of receivers (channel subscribers + pattern matches).
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let mut n = 0;
        if let Some(v) = self.channels.read().get(channel) {
            for s in v {
                s.deliver(b"message", None, channel, payload);
                n += 1;
            }
        }
        for (pat, s) in self.patterns.read().iter() {
            if glob_match(pat, channel, false) {
                s.deliver(b"pmessage", Some(pat), channel, payload);
                n += 1;
            }
        }
        n
    }

    /// SPUBLISH.
    pub fn spublish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let mut n = 0;
        if let Some(v) = self.shard_channels.read().get(channel) {
            for s in v {
                s.deliver(b"smessage", None, channel, payload);
                n += 1;
            }
        }
        n
    }

    /// Active channels matching an optional pattern (PUBSUB CHANNELS / SHARDCHANNELS).
    pub fn channel_names(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let map = if shard { self.shard_channels.read() } else { self.channels.read() };
        map.keys().filter(|c| pattern.map_or(true, |p| glob_match(p, c, false))).cloned().collect()
    }

    /// Subscribers of a channel (PUBSUB NUMSUB / SHARDNUMSUB).
    pub fn num_subscribers(&self, shard: bool, channel: &[u8]) -> usize {
        let map = if shard { self.shard_channels.read() } else { self.channels.read() };
        map.get(channel).map_or(0, |v| v.len())
    }

    /// The channels, patterns and shard channels subscriber `id` has (ACL changes check them).
    pub fn subscriptions_of(&self, id: u64) -> [Vec<Vec<u8>>; 3] {
        let of = |map: &RwLock<HashMap<Vec<u8>, Subs>>| {
            map.read().iter().filter(|(_, v)| v.iter().any(|s| s.id == id)).map(|(k, _)| k.clone()).collect()
        };
        let patterns = self.patterns.read().iter().filter(|(_, s)| s.id == id).map(|(p, _)| p.clone()).collect();
        [of(&self.channels), patterns, of(&self.shard_channels)]
    }

    /// Distinct patterns subscribed (PUBSUB NUMPAT).
    pub fn num_patterns(&self) -> usize {
        self.patterns.read().iter().map(|(p, _)| p).collect::<HashSet<_>>().len()
    }

    /// Subscribes an in-process receiver.
    pub fn local(self: &Arc<Self>) -> Subscription {
        // In-process subscriber ids live above the client-id range.
        let id = u64::MAX / 2 + self.next_local_id.fetch_add(1, Relaxed) as u64;
        let queue = Arc::new(LocalQueue { queue: Mutex::new(VecDeque::new()), ready: Condvar::new() });
        let sub = Arc::new(Subscriber { id, target: Target::Local(queue.clone()) });
        Subscription { hub: self.clone(), sub, queue, names: Vec::new() }
    }
}

/// A connection's subscriptions.
pub struct ClientPubSub {
    /// Its subscriber handle in the hub.
    pub subscriber: Arc<Subscriber>,
    /// Its sink (shared with the subscriber).
    pub sink: Arc<PushSink>,
    /// Subscribed channels, in subscription order.
    pub channels: Vec<Vec<u8>>,
    /// Subscribed patterns.
    pub patterns: Vec<Vec<u8>>,
    /// Subscribed shard channels.
    pub shard_channels: Vec<Vec<u8>>,
}

impl ClientPubSub {
    /// A connection's pub/sub state; `wake` wakes its event loop.
    pub fn new(client_id: u64, wake: Option<Arc<dyn Fn() + Send + Sync>>) -> ClientPubSub {
        let sink = PushSink::new(wake);
        let subscriber = Arc::new(Subscriber { id: client_id, target: Target::Wire(sink.clone()) });
        ClientPubSub { subscriber, sink, channels: Vec::new(), patterns: Vec::new(), shard_channels: Vec::new() }
    }
    /// The client id this state belongs to.
    pub fn client_id(&self) -> u64 {
        self.subscriber.id
    }
    /// Channel + pattern subscriptions (what SUBSCRIBE replies count).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
    /// True if subscribed to anything (RESP2 subscribed mode).
    pub fn active(&self) -> bool {
        self.count() + self.shard_channels.len() > 0
    }
    /// Publishes [`ClientPubSub::active`] on the sink (call after changing subscriptions).
    pub fn sync_subscribed(&self) {
        self.sink.subscribed.store(self.active(), Relaxed);
    }
    /// Drops every subscription (disconnect, RESET).
    pub fn clear(&mut self, hub: &PubSubHub) {
        let id = self.subscriber.id;
        for c in self.channels.drain(..) {
            hub.unsubscribe(Kind::Channel, &c, id);
        }
        for p in self.patterns.drain(..) {
            hub.unsubscribe(Kind::Pattern, &p, id);
        }
        for c in self.shard_channels.drain(..) {
            hub.unsubscribe(Kind::Shard, &c, id);
        }
        self.sync_subscribed();
    }
}

/// An in-process subscription; unsubscribes everything on drop.
///
/// ```
/// use ferrous_core::Database;
/// use std::time::Duration;
/// let db = Database::new();
/// let mut sub = db.subscribe(&["news"]);
/// assert_eq!(db.publish("news", "hello"), 1);
/// let msg = sub.recv_timeout(Duration::from_secs(1)).unwrap();
/// assert_eq!(msg.payload, b"hello");
/// ```
pub struct Subscription {
    hub: Arc<PubSubHub>,
    sub: Arc<Subscriber>,
    queue: Arc<LocalQueue>,
    names: Vec<(Kind, Vec<u8>)>,
}

impl Subscription {
    /// Adds a subscription of `kind` (channel, pattern or shard channel).
    pub fn add(&mut self, kind: Kind, name: impl AsRef<[u8]>) {
        let name = name.as_ref();
        if self.hub.subscribe(kind, name, &self.sub) {
            self.names.push((kind, name.to_vec()));
        }
    }
    /// Removes a subscription.
    pub fn remove(&mut self, kind: Kind, name: impl AsRef<[u8]>) {
        let name = name.as_ref();
        self.hub.unsubscribe(kind, name, self.sub.id);
        self.names.retain(|(k, n)| !(*k == kind && n == name));
    }
    /// The next message, if one is waiting.
    pub fn try_recv(&mut self) -> Option<Message> {
        self.queue.queue.lock().pop_front()
    }
    /// Waits up to `timeout` for the next message.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        let mut q = self.queue.queue.lock();
        loop {
            if let Some(m) = q.pop_front() {
                return Some(m);
            }
            if self.queue.ready.wait_until(&mut q, deadline).timed_out() {
                return q.pop_front();
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        for (k, n) in self.names.drain(..) {
            self.hub.unsubscribe(k, &n, self.sub.id);
        }
    }
}
