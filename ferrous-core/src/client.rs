//! Per-connection state ([`ClientState`]) and the registry behind CLIENT LIST/KILL/INFO.
//!
//! `ClientState` belongs to whoever drives the connection (a server event loop, or the
//! in-process API); the shared half, [`ClientInfo`], is registered with the database so other
//! clients can list or kill it. Killing sets a flag and calls the connection's waker; the
//! event loop that owns the socket closes it.
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
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
    /// CLIENT SETNAME.
    pub name: Mutex<Vec<u8>>,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Mutex<Vec<u8>>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Mutex<Vec<u8>>,
    /// Selected db.
    pub db: AtomicUsize,
    /// Protocol version (2 or 3).
    pub resp: AtomicUsize,
    /// Last command's full name (`client|list`).
    pub last_cmd: Mutex<String>,
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
}

impl ClientInfo {
    /// Marks the client killed and wakes its owner.
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        if let Some(w) = &self.waker {
            w();
        }
    }

    /// One line of CLIENT LIST / CLIENT INFO (without newline), Redis 7.0's fields.
    pub fn describe(&self, now_ms: i64, current: bool) -> String {
        let name = String::from_utf8_lossy(&self.name.lock()).into_owned();
        let age = (now_ms - self.created_ms).max(0) / 1000;
        let idle = (now_ms - self.last_interaction_ms.load(Relaxed)).max(0) / 1000;
        let mut flags = String::new();
        if self.no_evict.load(Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let qbuf = self.qbuf.load(Relaxed);
        let cmd = if current { "client|list".to_string() } else { self.last_cmd.lock().clone() };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            age,
            idle,
            flags,
            self.db.load(Relaxed),
            qbuf,
            16384usize.saturating_sub(qbuf),
            self.obuf.load(Relaxed),
            qbuf + self.obuf.load(Relaxed) + 16384,
            if cmd.is_empty() { "NULL" } else { &cmd },
            self.resp.load(Relaxed),
            String::from_utf8_lossy(&self.lib_name.lock()),
            String::from_utf8_lossy(&self.lib_ver.lock()),
        )
    }
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
    /// Selects a database (caller validates the index).
    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Relaxed);
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
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let info = Arc::new(ClientInfo {
            id,
            addr: conn.addr,
            laddr: conn.laddr,
            fd: conn.fd,
            created_ms: now_ms,
            last_interaction_ms: AtomicI64::new(now_ms),
            name: Mutex::default(),
            lib_name: Mutex::default(),
            lib_ver: Mutex::default(),
            db: AtomicUsize::new(0),
            resp: AtomicUsize::new(2),
            last_cmd: Mutex::default(),
            qbuf: AtomicUsize::new(0),
            obuf: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            waker: conn.waker,
            commands: AtomicU64::new(0),
        });
        self.clients.lock().insert(id, info.clone());
        ClientState { info, db: 0, resp: 2, authenticated, reply_mode: ReplyMode::On, close_after_reply: false, blocking: Default::default(), tx: Default::default(), pubsub: None, tracking: None }
    }

    /// A client that is not registered (not listed, not killable): used internally.
    pub fn transient(&self, now_ms: i64) -> ClientState {
        let mut c = self.register(ConnectionInfo::default(), now_ms, true);
        self.unregister(c.id());
        c.authenticated = true;
        c
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
