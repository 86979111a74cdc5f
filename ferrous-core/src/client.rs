//! Per-connection state ([`ClientState`]) and the registry behind CLIENT LIST/KILL/INFO.
//!
//! `ClientState` belongs to whoever drives the connection (a server event loop, or the
//! in-process API); the shared half, [`ClientInfo`], is registered with the database so other
//! clients can list or kill it. Killing sets a flag and calls the connection's waker; the
//! event loop that owns the socket closes it.
use crate::commands::CommandSpec;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// How replies are sent (CLIENT REPLY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Normal.
    On,
    /// No replies at all.
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Currently skipping this command's reply (set from `Skip` for one command).
    SkipThis,
}

/// The part of a client's state other clients can see (CLIENT LIST) or act on (KILL).
///
/// Fields that mirror the owner's [`ClientState`] (`db`, `resp`, subscription counts,
/// MULTI, tracking) are refreshed by [`ClientState::sync_info`], so CLIENT LIST run by
/// another client shows them without touching that client's state.
pub struct ClientInfo {
    /// Unique, increasing id.
    pub id: u64,
    /// Peer address (`ip:port`), empty for in-process clients.
    pub addr: String,
    /// Local address.
    pub laddr: String,
    /// Socket file descriptor, -1 in-process.
    pub fd: i64,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last command time, Unix ms.
    pub last_interaction_ms: AtomicI64,
    /// CLIENT SETNAME (empty: no name).
    pub name: Mutex<Vec<u8>>,
    /// Selected db.
    pub db: AtomicUsize,
    /// Protocol version (2 or 3).
    pub resp: AtomicUsize,
    /// The last command run (CLIENT LIST's `cmd=`), null before the first one.
    last_command: AtomicPtr<CommandSpec>,
    /// Query buffer length and free space (bytes), updated by the event loop.
    pub qbuf: AtomicUsize,
    /// Output buffer length (bytes).
    pub obuf: AtomicUsize,
    /// Set by CLIENT KILL; the owner closes the connection.
    pub killed: AtomicBool,
    /// CLIENT NO-EVICT.
    pub no_evict: AtomicBool,
    /// Wakes the owning event loop (so it notices `killed`).
    pub waker: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Commands processed.
    pub commands: AtomicU64,
    /// Channel, pattern and shard-channel subscription counts.
    pub subscriptions: [AtomicUsize; 3],
    /// Commands queued by MULTI, -1 outside a transaction.
    pub multi: AtomicI64,
    /// Memory of the queued commands' arguments (CLIENT LIST's `multi-mem`): see
    /// [`queued_command_mem`].
    pub multi_mem: AtomicUsize,
    /// Keys the client WATCHes (part of its memory, as in Redis).
    pub watched: AtomicUsize,
    /// CLIENT TRACKING is on.
    pub tracking: AtomicBool,
    /// The tracking REDIRECT target, -1 for none.
    pub redirect: AtomicI64,
    /// Blocked in a blocking command.
    pub blocked: AtomicBool,
    /// [`ROLE_NORMAL`], [`ROLE_REPLICA`] (a replica of ours, flag `S`) or [`ROLE_MASTER`]
    /// (our master's link, flag `M`).
    pub role: std::sync::atomic::AtomicU8,
    /// The ACL user the client is authenticated as (CLIENT LIST's `user=`, CLIENT KILL USER,
    /// ACL DELUSER); the owner's [`ClientState::acl`] is the copy commands are checked with.
    pub user: Mutex<Arc<crate::acl::User>>,
}

/// An ordinary client.
pub const ROLE_NORMAL: u8 = 0;
/// A replica connected to us.
pub const ROLE_REPLICA: u8 = 1;
/// The client applying our master's stream.
pub const ROLE_MASTER: u8 = 2;

impl ClientInfo {
    /// The client's memory as CLIENT LIST's `tot-mem` counts it between commands: its query
    /// buffer (at least the read buffer) and pending output (`maxmemory-clients`).
    pub fn tot_mem(&self) -> usize {
        READ_BUFFER.max(self.qbuf.load(Relaxed)) + self.obuf.load(Relaxed) + self.multi_state_mem()
    }

    /// The memory of the client's transaction state, as Redis's `multiStateMemOverhead`
    /// counts it: the queued commands' arguments, the queue's slots and the watched keys.
    pub fn multi_state_mem(&self) -> usize {
        let queued = self.multi.load(Relaxed).max(0) as usize;
        multi_state_mem(queued, self.multi_mem.load(Relaxed), self.watched.load(Relaxed))
    }

    /// Marks the client killed and wakes its owner.
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        if let Some(w) = &self.waker {
            w();
        }
    }

    /// Records the command this client runs (CLIENT LIST's `cmd=`).
    #[inline]
    pub fn set_last_command(&self, spec: &'static CommandSpec) {
        self.last_command.store(spec as *const CommandSpec as *mut CommandSpec, Relaxed);
    }

    /// Full name of the last command (`client|list`), `None` before the first one.
    pub fn last_command(&self) -> Option<&'static str> {
        let p = self.last_command.load(Relaxed);
        // SAFETY: the pointer is null or was stored from a `&'static CommandSpec` (the
        // command table lives for the whole process and is never freed).
        unsafe { p.as_ref() }.map(|spec| spec.name.as_str())
    }

    /// The client name, if set.
    pub fn name(&self) -> Option<Vec<u8>> {
        let n = self.name.lock();
        (!n.is_empty()).then(|| n.clone())
    }

    /// The client is a Pub/Sub subscriber (CLIENT LIST TYPE pubsub, flag `P`).
    pub fn is_pubsub(&self) -> bool {
        self.subscriptions.iter().any(|c| c.load(Relaxed) > 0)
    }

    /// True for a loopback or in-process connection (Redis's `islocalClient`).
    pub fn is_local(&self) -> bool {
        if self.addr.is_empty() {
            return true;
        }
        let ip = match self.addr.rfind(':') {
            Some(i) => &self.addr[..i],
            None => &self.addr,
        };
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        ip == "::1" || ip.starts_with("127.") || ip == "localhost"
    }

    /// One line of CLIENT LIST / CLIENT INFO (without newline), in Redis 7.0's format.
    /// `cmd` overrides the last command (the caller shows its own current command).
    pub fn describe(&self, now_ms: i64, cmd: Option<&str>) -> String {
        self.describe_running(now_ms, cmd, None)
    }

    /// [`ClientInfo::describe`] for the client running CLIENT LIST/INFO itself: `running` is
    /// its current command's `(bytes in the query buffer, argv-mem)`, which Redis still holds
    /// while the command runs (`qbuf=26 ... argv-mem=10` for `CLIENT LIST`).
    pub fn describe_running(&self, now_ms: i64, cmd: Option<&str>, running: Option<(usize, usize)>) -> String {
        let name = String::from_utf8_lossy(&self.name.lock()).into_owned();
        let age = (now_ms - self.created_ms).max(0) / 1000;
        // The client running CLIENT LIST/INFO is interacting right now.
        let idle = if cmd.is_some() { 0 } else { (now_ms - self.last_interaction_ms.load(Relaxed)).max(0) / 1000 };
        let multi = self.multi.load(Relaxed);
        let mut flags = String::new();
        match self.role.load(Relaxed) {
            ROLE_REPLICA => flags.push('S'),
            ROLE_MASTER => flags.push('M'),
            _ => {}
        }
        if self.is_pubsub() {
            flags.push('P');
        }
        if multi >= 0 {
            flags.push('x');
        }
        if self.blocked.load(Relaxed) {
            flags.push('b');
        }
        if self.tracking.load(Relaxed) {
            flags.push('t');
        }
        if self.killed.load(Relaxed) {
            flags.push('A');
        }
        if self.no_evict.load(Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let (running_qbuf, argv_mem) = running.unwrap_or((0, 0));
        let qbuf = self.qbuf.load(Relaxed) + running_qbuf;
        let obuf = self.obuf.load(Relaxed);
        let cmd = cmd.or_else(|| self.last_command()).unwrap_or("NULL");
        let [sub, psub, ssub] = [0, 1, 2].map(|i| self.subscriptions[i].load(Relaxed));
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
             qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll=0 omem={} tot-mem={} events={} \
             cmd={} user={} redir={} resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            age,
            idle,
            flags,
            self.db.load(Relaxed),
            sub,
            psub,
            ssub,
            if multi >= 0 { multi } else { -1 },
            qbuf,
            READ_BUFFER.saturating_sub(qbuf),
            argv_mem,
            self.multi_mem.load(Relaxed),
            READ_BUFFER.max(qbuf),
            // The peak of the reply buffer: Ferrous's does not shrink below its size.
            READ_BUFFER.max(qbuf),
            obuf,
            obuf,
            READ_BUFFER.max(qbuf) + obuf + argv_mem + self.multi_state_mem(),
            if obuf > 0 { "rw" } else { "r" },
            cmd,
            String::from_utf8_lossy(self.user.lock().name()),
            self.redirect.load(Relaxed),
            self.resp.load(Relaxed),
        )
    }
}

/// The read-buffer size CLIENT LIST reports for a connection (`rbs=`).
const READ_BUFFER: usize = 16 * 1024;

/// Size of an argument reference in a queued command (Redis's `robj *`).
const ARG_REF: usize = std::mem::size_of::<usize>();
/// One slot of the MULTI queue (Redis's `multiCmd`: argv pointer, two ints, command pointer).
const QUEUE_SLOT: usize = 3 * std::mem::size_of::<usize>();
/// One watched key's bookkeeping (Redis's list node plus `watchedKey`).
const WATCHED_KEY: usize = 7 * std::mem::size_of::<usize>();

/// What one command queued by MULTI adds to `multi-mem`: its arguments' bytes plus one
/// reference per argument, as Redis 7.0 counts `argv_len_sum + argc * sizeof(robj*)`.
pub fn queued_command_mem<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> usize {
    args.into_iter().map(|a| a.len() + ARG_REF).sum()
}

/// Redis 7.0's `multiStateMemOverhead` for `queued` commands whose arguments take
/// `queued_mem` ([`queued_command_mem`]) and `watched` watched keys: the queue holds room for
/// 2 commands at first and doubles when full.
pub fn multi_state_mem(queued: usize, queued_mem: usize, watched: usize) -> usize {
    let slots = if queued == 0 { 0 } else { queued.next_power_of_two().max(2) };
    queued_mem + slots * QUEUE_SLOT + watched * WATCHED_KEY
}

/// The state of one client connection, owned by its driver.
pub struct ClientState {
    /// Shared, registered half.
    pub info: Arc<ClientInfo>,
    /// Selected database index.
    pub db: usize,
    /// RESP protocol version, 2 or 3.
    pub resp: u8,
    /// Passed AUTH (or no password is configured).
    pub authenticated: bool,
    /// The ACL user commands run as (see [`crate::acl`]); [`ClientState::set_user`] changes it.
    pub acl: crate::acl::ClientAcl,
    /// CLIENT REPLY state.
    pub reply_mode: ReplyMode,
    /// Close the connection once the pending replies are written (QUIT, protocol error).
    pub close_after_reply: bool,
    /// Blocking-command state (see [`crate::blocking`]).
    pub blocking: crate::blocking::ClientBlocking,
    /// MULTI/EXEC/WATCH state (see [`crate::transaction`]).
    pub tx: crate::transaction::ClientTx,
    /// Pub/Sub subscriptions, created on first SUBSCRIBE (see [`crate::pubsub`]).
    pub pubsub: Option<crate::pubsub::ClientPubSub>,
    /// CLIENT TRACKING state, while tracking is on (see [`crate::tracking`]).
    pub tracking: Option<crate::tracking::ClientTracking>,
    /// Spans of the output (start, end) the current command wrote as pushes while its
    /// replies are silenced by CLIENT REPLY OFF/SKIP: see [`ClientState::mark_push`].
    pub push_spans: Vec<(usize, usize)>,
    /// What a replica said in `REPLCONF` (listening port, capabilities).
    pub repl: crate::replication::master::SyncRequest,
    /// Set by PSYNC / SYNC: the server hands the connection to
    /// [`crate::replication::master::serve`] after this command.
    pub hand_off: Option<Box<crate::replication::master::SyncRequest>>,
    /// The propagation stream's position when this client's last command ended, while
    /// replicas are fed (Redis's `woff`: WAIT waits for the replication offset there).
    pub woff: u64,
}

impl ClientState {
    /// The client id.
    pub fn id(&self) -> u64 {
        self.info.id
    }
    /// True when talking RESP3.
    pub fn resp3(&self) -> bool {
        self.resp == 3
    }
    /// Records that the output bytes `start..end` are a push (a Pub/Sub subscribe or
    /// unsubscribe confirmation, a message, a tracking invalidation), which CLIENT REPLY
    /// OFF/SKIP does not silence: Redis marks such output `CLIENT_PUSHING`, and a client
    /// library waiting for its subscribe confirmations would hang without them. A no-op
    /// while replies are on (nothing is filtered then).
    #[inline]
    pub fn mark_push(&mut self, start: usize, end: usize) {
        if self.reply_mode != ReplyMode::On && end > start {
            self.push_spans.push((start, end));
        }
    }

    /// Appends the reply of a blocking command answered after it blocked (served, timed
    /// out or unblocked), unless CLIENT REPLY silences it: OFF, or SKIP given before the
    /// command (the skip lasts until the blocked command is answered, as in Redis).
    pub fn deferred_reply(&mut self, out: &mut Vec<u8>, reply: &[u8]) {
        match self.reply_mode {
            ReplyMode::Off => {}
            ReplyMode::SkipThis => self.reply_mode = ReplyMode::On,
            ReplyMode::On | ReplyMode::Skip => out.extend_from_slice(reply),
        }
    }

    /// Authenticates as `user` (AUTH, HELLO AUTH, RESET, a new connection).
    pub fn set_user(&mut self, user: Arc<crate::acl::User>) {
        *self.info.user.lock() = user.clone();
        self.acl = crate::acl::ClientAcl::new(user);
    }

    /// Selects a database (caller validates the index).
    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Relaxed);
    }

    /// Refreshes the mirrors in [`ClientInfo`] from this state (db, protocol, subscription
    /// counts, MULTI queue length, tracking), for CLIENT LIST run by other clients.
    pub fn sync_info(&self) {
        let i = &self.info;
        i.db.store(self.db, Relaxed);
        i.resp.store(self.resp as usize, Relaxed);
        let (ch, pat, shard) =
            self.pubsub.as_ref().map_or((0, 0, 0), |p| (p.channels.len(), p.patterns.len(), p.shard_channels.len()));
        i.subscriptions[0].store(ch, Relaxed);
        i.subscriptions[1].store(pat, Relaxed);
        i.subscriptions[2].store(shard, Relaxed);
        i.multi.store(self.tx.queue.as_ref().map_or(-1, |q| q.len() as i64), Relaxed);
        if self.tx.queue.as_ref().map_or(true, |q| q.is_empty()) {
            // Queued commands add to `multi_mem` as they are queued (dispatch).
            i.multi_mem.store(0, Relaxed);
        }
        i.watched.store(self.tx.watched.len(), Relaxed);
        i.tracking.store(self.tracking.is_some(), Relaxed);
        let redirect =
            self.tracking.as_ref().map_or(-1, |t| if t.options.redirect == 0 { -1 } else { t.options.redirect as i64 });
        i.redirect.store(redirect, Relaxed);
        i.blocked.store(self.blocking.blocked.is_some(), Relaxed);
    }
}

/// Details of a new connection for [`ClientRegistry::register`].
#[derive(Default)]
pub struct ConnectionInfo {
    /// Peer address.
    pub addr: String,
    /// Local address.
    pub laddr: String,
    /// File descriptor.
    pub fd: i64,
    /// Wakes the owner.
    pub waker: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// All connected clients, by id.
#[derive(Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl ClientRegistry {
    /// Registers a new client and returns its state.
    pub fn register(&self, conn: ConnectionInfo, now_ms: i64, authenticated: bool) -> ClientState {
        let c = self.build(conn, now_ms, authenticated);
        self.clients.lock().insert(c.id(), c.info.clone());
        c
    }

    /// A client state that is not (yet) in the registry.
    fn build(&self, conn: ConnectionInfo, now_ms: i64, authenticated: bool) -> ClientState {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let info = Arc::new(ClientInfo {
            id,
            addr: conn.addr,
            laddr: conn.laddr,
            fd: conn.fd,
            created_ms: now_ms,
            last_interaction_ms: AtomicI64::new(now_ms),
            name: Mutex::default(),
            db: AtomicUsize::new(0),
            resp: AtomicUsize::new(2),
            last_command: AtomicPtr::new(std::ptr::null_mut()),
            qbuf: AtomicUsize::new(0),
            obuf: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            waker: conn.waker,
            commands: AtomicU64::new(0),
            subscriptions: Default::default(),
            multi: AtomicI64::new(-1),
            multi_mem: AtomicUsize::new(0),
            watched: AtomicUsize::new(0),
            tracking: AtomicBool::new(false),
            redirect: AtomicI64::new(-1),
            blocked: AtomicBool::new(false),
            role: std::sync::atomic::AtomicU8::new(ROLE_NORMAL),
            user: Mutex::new(crate::acl::superuser().clone()),
        });
        ClientState {
            info,
            db: 0,
            resp: 2,
            authenticated,
            acl: Default::default(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            blocking: Default::default(),
            tx: Default::default(),
            pubsub: None,
            tracking: None,
            push_spans: Vec::new(),
            repl: Default::default(),
            hand_off: None,
            woff: 0,
        }
    }

    /// A client that is not registered (not listed, not killable): used internally.
    /// Never enters the registry, so scripts and served waiters don't contend on its lock.
    pub fn transient(&self, now_ms: i64) -> ClientState {
        self.build(ConnectionInfo::default(), now_ms, true)
    }

    /// Puts a client back in the registry (a connection handed to a replica's threads).
    pub fn insert(&self, info: Arc<ClientInfo>) {
        self.clients.lock().insert(info.id, info);
    }

    /// Removes a client (on disconnect).
    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    /// Snapshot of every client, by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }

    /// A client by id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients.lock().get(&id).cloned()
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_command_memory_counts_arguments_and_references() {
        // SET k v: 5 bytes of arguments and 3 references (Redis 7.0 shows multi-mem=29).
        assert_eq!(queued_command_mem([&b"SET"[..], b"k", b"v"]), 29);
        assert_eq!(queued_command_mem([&b"PING"[..]]), 12);
    }

    #[test]
    fn multi_state_memory_grows_the_queue_by_doubling() {
        assert_eq!(multi_state_mem(0, 0, 0), 0);
        // Room for 2 commands at the first one, 4 at the third, 8 at the fifth.
        assert_eq!(multi_state_mem(1, 29, 0), 29 + 2 * QUEUE_SLOT);
        assert_eq!(multi_state_mem(2, 58, 0), 58 + 2 * QUEUE_SLOT);
        assert_eq!(multi_state_mem(3, 87, 0), 87 + 4 * QUEUE_SLOT);
        assert_eq!(multi_state_mem(5, 100, 0), 100 + 8 * QUEUE_SLOT);
        assert_eq!(multi_state_mem(0, 0, 3), 3 * WATCHED_KEY);
    }
}
