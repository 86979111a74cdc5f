//! The acceptor and the worker event loops.
//!
//! One acceptor (the thread that calls [`Server::run`]) owns the listening sockets and hands
//! each accepted connection to a worker, round-robin. Each worker owns a `mio::Poll`, a slab
//! of connections, and runs every command of its connections to completion (the core's
//! shard locks make that safe across workers).
//!
//! Per connection and per loop turn: read what is available (bounded, for fairness),
//! execute every complete command in order, write the output once. A client whose output
//! is not being read stops being read itself once its pending output passes
//! [`OUTPUT_HIGH_WATER`], so a pipelining client that never reads cannot grow the server's
//! memory without bound, and other clients on the same loop keep being served.
use crate::{notice, verbose, warning, ShutdownHandle};
use ferrous_core::db::PREFETCH_BATCH;
use ferrous_core::{ClientState, ConnectionInfo, Database};
use ferrous_resp::{Limits, Parsed, RequestParser};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::Mutex;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAKE: Token = Token(usize::MAX);
/// Initial (and minimum) read buffer size, as Redis's PROTO_IOBUF_LEN.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes read from one connection per loop turn before other connections get their turn.
const READ_BUDGET: usize = 1024 * 1024;
/// How long shutdown waits for the I/O threads to finish their turn.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Pending output above which a connection's input is no longer processed until the client
/// reads its replies.
pub const OUTPUT_HIGH_WATER: usize = 4 * 1024 * 1024;
/// Redis's fixed per-client reply buffer (`PROTO_REPLY_CHUNK_BYTES`): output-buffer limits
/// count only what is pending beyond it, as Redis counts its reply list.
const REPLY_CHUNK: usize = 16 * 1024;

/// One class's `client-output-buffer-limit`: hard and soft limits in bytes (0 = none) and
/// how long the soft one may be exceeded.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct ClassLimit {
    hard: usize,
    soft: usize,
    soft_secs: u64,
}

/// The normal and pubsub classes' limits (replicas are served by core's replication
/// threads, which apply the replica class).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct OutputLimits {
    normal: ClassLimit,
    pubsub: ClassLimit,
}

/// Parses the canonical `client-output-buffer-limit` value (`normal 0 0 0 slave ... pubsub
/// ...`).
fn output_limits(value: &str) -> OutputLimits {
    let mut limits = OutputLimits::default();
    let words: Vec<&str> = value.split_ascii_whitespace().collect();
    for group in words.chunks(4).filter(|g| g.len() == 4) {
        let n = |s: &str| s.parse::<u64>().unwrap_or(0);
        let class = ClassLimit { hard: n(group[1]) as usize, soft: n(group[2]) as usize, soft_secs: n(group[3]) };
        match group[0] {
            "normal" => limits.normal = class,
            "pubsub" => limits.pubsub = class,
            _ => {}
        }
    }
    limits
}

/// Redis's `checkClientOutputBufferLimits`: true when the connection's pending output is at
/// or above its class's hard limit, or has stayed at or above the soft limit for longer than
/// the class's soft seconds (the first time it is seen there only starts the clock).
///
/// The limits are read from the configuration only for a connection with output pending
/// beyond [`REPLY_CHUNK`] (rare: most replies leave in the same turn), so a CONFIG SET
/// applies to the next check without costing the common path anything.
fn over_output_limit(db: &Database, conn: &mut Conn, now: Instant) -> bool {
    let used = conn.pending_output().saturating_sub(REPLY_CHUNK);
    let sink_full = conn.client.pubsub.as_ref().is_some_and(|ps| ps.sink.has_pending());
    if used == 0 && !sink_full {
        conn.soft_limit_since = None;
        return false;
    }
    let limits = output_limits(db.inner().config.read().get("client-output-buffer-limit").unwrap_or(""));
    let class = if conn.client.info.is_pubsub() { limits.pubsub } else { limits.normal };
    if let Some(ps) = &conn.client.pubsub {
        // Messages waiting in the sink count against the same hard limit.
        ps.sink.set_limit(class.hard);
    }
    limit_reached(class, used, &mut conn.soft_limit_since, now)
}

/// The decision of [`over_output_limit`] for `used` bytes pending under `class`;
/// `soft_since` is when the soft limit was first seen exceeded (reset when below it).
fn limit_reached(class: ClassLimit, used: usize, soft_since: &mut Option<Instant>, now: Instant) -> bool {
    let hard = class.hard > 0 && used >= class.hard;
    let mut soft = class.soft > 0 && used >= class.soft;
    if soft {
        match *soft_since {
            None => {
                *soft_since = Some(now);
                soft = false;
            }
            Some(since) => soft = now.duration_since(since).as_secs() > class.soft_secs,
        }
    } else {
        *soft_since = None;
    }
    hard || soft
}

struct WorkerShared {
    waker: Arc<Waker>,
    inbox: Mutex<Vec<(TcpStream, SocketAddr, SocketAddr)>>,
    kill_pending: AtomicBool,
    /// Connections (slot, client id) whose blocking command was served by another thread.
    unblocked: Mutex<Vec<(usize, u64)>>,
}

/// A bound, not yet running server.
pub struct Server {
    db: Database,
    listeners: Vec<TcpListener>,
    poll: Poll,
    shutdown: Arc<AtomicBool>,
    workers: Vec<Arc<WorkerShared>>,
    worker_polls: Vec<Poll>,
    handle: ShutdownHandle,
}

/// The addresses of a `bind` directive (`-` marks optional ones).
pub(crate) fn bind_addresses(bind: &str, port: u16) -> Vec<(SocketAddr, bool)> {
    bind.split_whitespace()
        .filter_map(|a| {
            let (optional, a) = match a.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, a),
            };
            let a = if a == "*" { "0.0.0.0" } else { a };
            let ip: IpAddr = a.parse().ok()?;
            Some((SocketAddr::new(ip, port), optional))
        })
        .collect()
}

fn raise_fd_limit(wanted: u64) {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < wanted {
            let target = wanted.min(lim.rlim_max);
            lim.rlim_cur = target;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 || target < wanted {
                warning!(
                    "You requested maxclients of {} requiring at least {} max file descriptors; the limit is {}",
                    wanted.saturating_sub(32),
                    wanted,
                    target
                );
            }
        }
    }
}

/// `io-threads 0`: one event loop per core but one, and at least one. Redis's own advice for
/// its I/O threads is to leave a core spare: the kernel's network stack, the background
/// threads (expiry, lazy free, AOF fsync, snapshots) and, on small machines, the clients
/// need it. On 2 cores, a second event loop only competed with them: `tools/bench.sh -P 16`
/// with one loop against two, four alternating rounds on this repo's 2-core machine, gave
/// medians of 1.44 / 1.58 (SET), 1.26 / 0.96 (GET), 1.42 / 1.20 (INCR), 1.42 / 1.28 (MSET)
/// times Redis's throughput, and MSET's CPU per call went up to 1.46x Redis's with two loops
/// contending for the same shard locks.
fn default_io_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

impl Server {
    /// Binds the configured addresses and prepares the workers.
    pub fn bind(db: Database, shutdown: Arc<AtomicBool>) -> io::Result<Server> {
        let (port, bind, threads, maxclients) = {
            let c = db.inner().config.read();
            (
                c.get_i64("port") as u16,
                c.get("bind").unwrap_or("").to_string(),
                c.get_i64("io-threads"),
                c.get_i64("maxclients"),
            )
        };
        raise_fd_limit(maxclients as u64 + 32);
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        for (addr, optional) in bind_addresses(&bind, port) {
            match TcpListener::bind(addr) {
                Ok(mut l) => {
                    poll.registry().register(&mut l, Token(listeners.len()), Interest::READABLE)?;
                    listeners.push(l);
                }
                Err(e) if optional => verbose!("Skipping optional bind address {addr}: {e}"),
                Err(e) => return Err(io::Error::new(e.kind(), format!("{addr}: {e}"))),
            }
        }
        if listeners.is_empty() {
            return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to listen on"));
        }
        let n = if threads > 0 { threads as usize } else { default_io_threads() };
        let mut workers = Vec::new();
        let mut worker_polls = Vec::new();
        let mut wakers = vec![Arc::new(Waker::new(poll.registry(), WAKE)?)];
        for _ in 0..n {
            let p = Poll::new()?;
            let waker = Arc::new(Waker::new(p.registry(), WAKE)?);
            wakers.push(waker.clone());
            workers.push(Arc::new(WorkerShared {
                waker,
                inbox: Mutex::new(Vec::new()),
                kill_pending: AtomicBool::new(false),
                unblocked: Mutex::new(Vec::new()),
            }));
            worker_polls.push(p);
        }
        let handle = ShutdownHandle {
            flag: shutdown.clone(),
            wakers: Arc::new(wakers),
            rebind: Default::default(),
            bound: Arc::new(parking_lot::Mutex::new(listeners.iter().filter_map(|l| l.local_addr().ok()).collect())),
        };
        db.set_server_hooks(Arc::new(handle.clone()));
        Ok(Server { db, listeners, poll, shutdown, workers, worker_polls, handle })
    }

    /// The addresses actually bound.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Accepts and serves until shutdown.
    pub fn run(mut self) {
        let mut threads = Vec::new();
        for (i, (shared, poll)) in self.workers.iter().cloned().zip(self.worker_polls.drain(..)).enumerate() {
            let db = self.db.clone();
            let shutdown = self.shutdown.clone();
            let t = std::thread::Builder::new()
                .name(format!("ferrous-io-{i}"))
                .spawn(move || Worker::new(db, poll, shared, shutdown).run());
            match t {
                Ok(t) => threads.push(t),
                Err(e) => warning!("Can't start I/O thread: {e}"),
            }
        }
        for a in self.local_addrs() {
            notice!("Ready to accept connections tcp on {a}");
        }
        let mut events = Events::with_capacity(256);
        let mut next = 0usize;
        while !self.shutdown.load(Relaxed) {
            if let Err(e) = self.poll.poll(&mut events, Some(Duration::from_millis(500))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warning!("poll error: {e}");
                }
                continue;
            }
            for ev in events.iter() {
                if ev.token() == WAKE {
                    self.adopt_rebound_listeners();
                    continue;
                }
                let Some(listener) = self.listeners.get(ev.token().0) else { continue };
                loop {
                    match listener.accept() {
                        Ok((stream, peer)) => {
                            let local = stream.local_addr().unwrap_or(peer);
                            if let Some(stream) = self.admit(stream, peer) {
                                let w = &self.workers[next % self.workers.len()];
                                next = next.wrapping_add(1);
                                w.inbox.lock().push((stream, peer, local));
                                let _ = w.waker.wake();
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            warning!("Accepting client connection: {e}");
                            break;
                        }
                    }
                }
            }
        }
        notice!("User requested shutdown...");
        for w in &self.workers {
            let _ = w.waker.wake();
        }
        // A worker running a script that never ends (SHUTDOWN NOSAVE during a busy script,
        // sent by a client of another thread or served from inside the script) cannot
        // return: the process exits without it, as Redis does.
        let busy = self.db.inner().busy.load(Relaxed) != 0;
        let deadline = Instant::now() + if busy { Duration::ZERO } else { SHUTDOWN_GRACE };
        while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        for t in threads {
            if t.is_finished() {
                let _ = t.join();
            } else {
                warning!("An I/O thread is still running a script; exiting without it.");
            }
        }
    }

    /// Swaps in the listeners CONFIG SET port/bind bound.
    fn adopt_rebound_listeners(&mut self) {
        let Some(new) = self.handle.rebind.lock().take() else { return };
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        for l in new {
            let mut l = TcpListener::from_std(l);
            if self.poll.registry().register(&mut l, Token(self.listeners.len()), Interest::READABLE).is_ok() {
                if let Ok(a) = l.local_addr() {
                    notice!("Ready to accept connections tcp on {a}");
                }
                self.listeners.push(l);
            }
        }
    }

    /// Applies maxclients and protected mode to a new connection.
    fn admit(&self, mut stream: TcpStream, peer: SocketAddr) -> Option<TcpStream> {
        let inner = self.db.inner();
        inner.stats.connections_received.fetch_add(1, Relaxed);
        let (maxclients, protected, has_pass) = {
            let c = inner.config.read();
            (
                c.get_i64("maxclients") as usize,
                c.get_bool("protected-mode"),
                !c.get("requirepass").unwrap_or("").is_empty(),
            )
        };
        let _ = stream.set_nodelay(true);
        if inner.clients.len() >= maxclients {
            inner.stats.rejected_connections.fetch_add(1, Relaxed);
            let _ = stream.write(b"-ERR max number of clients reached\r\n");
            return None;
        }
        if protected && !has_pass && !peer.ip().is_loopback() {
            let _ = stream.write(PROTECTED_MODE_MSG.as_bytes());
            return None;
        }
        Some(stream)
    }
}

const PROTECTED_MODE_MSG: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    parser: RequestParser,
    client: ClientState,
    writable: bool,
    closing: bool,
    /// Execution stopped because the client's pending output passed the high-water mark.
    paused_by_output: bool,
    last_active: Instant,
    /// The last propagation block this connection's commands published: its replies wait
    /// until the AOF holds it (see `Worker::held`).
    commit_seq: u64,
    /// Its replies wait for this turn's AOF commit, which drives it again: no write interest
    /// is registered for them meanwhile (two `epoll_ctl` per write under `always` otherwise).
    held: bool,
    /// It was held after a read that emptied its socket (see [`Worker::drive`]'s
    /// `trust_short_read`): the drive after the commit need not read again, since anything
    /// arriving later raises a new event.
    held_drained: bool,
    /// Its next command waits for a CLIENT PAUSE to end.
    paused: bool,
    /// Since when its pending output has been at or above its class's soft limit.
    soft_limit_since: Option<Instant>,
}

impl Conn {
    fn pending_output(&self) -> usize {
        self.wbuf.len() - self.wpos
    }
}

enum Step {
    Continue,
    Close,
    /// The client became a replica (PSYNC / SYNC): its connection goes to the replica's
    /// own threads.
    HandOff,
    /// The client's EVAL starts a Lua debugger session (`SCRIPT DEBUG YES|SYNC`): its
    /// connection goes to the script engine.
    Debug(ferrous_core::scripting::DebugRequest),
}

struct Worker {
    db: Database,
    poll: Poll,
    shared: Arc<WorkerShared>,
    shutdown: Arc<AtomicBool>,
    conns: Vec<Option<Box<Conn>>>,
    free: Vec<usize>,
    pending: Vec<usize>,
    /// The events (token, trust a short read) of the current turn not handled yet.
    ready: std::collections::VecDeque<(Token, bool)>,
    /// Inside [`Worker::pump`] (connections are not closed there).
    pumping: bool,
    /// Slots of connections blocked in BLPOP & co (for their timeouts).
    blocked: Vec<usize>,
    limits: Limits,
    query_limit: usize,
    /// Connections whose replies wait for this turn's AOF commit (group commit: one write,
    /// and under `appendfsync always` one fsync, for every write of the turn).
    held: Vec<usize>,
    /// Connections whose next command waits for a CLIENT PAUSE to end.
    paused: Vec<usize>,
}

impl Worker {
    fn new(db: Database, poll: Poll, shared: Arc<WorkerShared>, shutdown: Arc<AtomicBool>) -> Worker {
        let (limits, query_limit) = limits_of(&db);
        Worker {
            db,
            poll,
            shared,
            shutdown,
            conns: Vec::new(),
            free: Vec::new(),
            pending: Vec::new(),
            ready: std::collections::VecDeque::new(),
            pumping: false,
            blocked: Vec::new(),
            limits,
            query_limit,
            held: Vec::new(),
            paused: Vec::new(),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        // A handle of our own for the per-turn script batch, which borrows it.
        let db = self.db.clone();
        let mut last_cron = Instant::now();
        loop {
            let mut timeout = if self.pending.is_empty() { self.next_block_timeout() } else { Duration::ZERO };
            if !self.paused.is_empty() {
                // Paused clients resume within 10 ms of the pause's end.
                timeout = timeout.min(Duration::from_millis(10));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    warning!("poll error: {e}");
                }
                continue;
            }
            if self.shutdown.load(Relaxed) {
                break;
            }
            // Scripts run during this turn, on all its connections, keep the dataset locked
            // between them (up to a limit): handing it to another thread after every
            // script costs more than the script. Released before waiting for events.
            let scripts = db.script_batch();
            ferrous_core::replication::begin_turn();
            // This turn's work, in a queue the busy-script pump can take from too.
            self.ready.extend(events.iter().map(readiness));
            let pending = std::mem::take(&mut self.pending);
            self.ready.extend(pending.into_iter().map(|t| (Token(t), false)));
            while let Some((token, trust_short_read)) = self.ready.pop_front() {
                match token {
                    WAKE => self.on_wake(),
                    Token(t) => self.drive(&db, t, trust_short_read),
                }
            }
            drop(scripts);
            self.commit_held(&db);
            ferrous_core::replication::end_turn(db.inner());
            if !self.paused.is_empty()
                && db.inner().pause.kind_at(db.inner().clock.now_ms()) == ferrous_core::pause::PAUSE_NONE
            {
                self.pending.append(&mut self.paused);
            }
            if !self.blocked.is_empty() {
                self.expire_blocked();
            }
            if last_cron.elapsed() >= Duration::from_millis(100) {
                last_cron = Instant::now();
                self.cron();
            }
        }
        for i in 0..self.conns.len() {
            self.close(i);
        }
    }

    /// The end of a turn with writes to make durable: one AOF commit for all of them, then
    /// the held connections send their replies (and go on with their input; what they
    /// write then waits for the next turn, which is made to come at once).
    fn commit_held(&mut self, db: &Database) {
        if self.held.is_empty() {
            return;
        }
        if let Err(e) = ferrous_core::aof::writer::commit(db.inner()) {
            // Nothing is sent: the replies wait for a commit that works (writes meanwhile
            // get MISCONF). Retried next turn.
            warning!("Error writing to the AOF file: {e}");
            self.pending.append(&mut self.held);
            return;
        }
        for idx in std::mem::take(&mut self.held) {
            self.drive(db, idx, false);
        }
        self.pending.extend_from_slice(&self.held);
    }

    /// Poll timeout: 100 ms, or less if a blocked client's deadline comes sooner.
    fn next_block_timeout(&self) -> Duration {
        let mut t = Duration::from_millis(100);
        if self.blocked.is_empty() {
            return t;
        }
        let now = self.db.inner().clock.now_ms();
        for &i in &self.blocked {
            let deadline = self
                .conns
                .get(i)
                .and_then(|c| c.as_ref())
                .and_then(|c| c.client.blocking.blocked.as_ref())
                .and_then(|w| w.deadline);
            if let Some(d) = deadline {
                t = t.min(Duration::from_millis((d - now).max(0) as u64));
            }
        }
        t
    }

    /// Answers blocked clients whose timeout has passed.
    fn expire_blocked(&mut self) {
        let now = self.db.inner().clock.now_ms();
        for idx in std::mem::take(&mut self.blocked) {
            let Some(Some(conn)) = self.conns.get_mut(idx) else { continue };
            let Some(w) = conn.client.blocking.blocked.clone() else { continue };
            if w.deadline.is_some_and(|d| d <= now) {
                let reply = w.cancel(&self.db.inner().blocking).unwrap_or_else(|| w.timeout_reply().to_vec());
                conn.client.deferred_reply(&mut conn.wbuf, &reply);
                conn.client.blocking.blocked = None;
                self.pending.push(idx);
            } else {
                self.blocked.push(idx);
            }
        }
    }

    fn on_wake(&mut self) {
        let served = std::mem::take(&mut *self.shared.unblocked.lock());
        let mut absent = Vec::new();
        for (idx, id) in served {
            let Some(Some(conn)) = self.conns.get_mut(idx) else {
                // Out of the slab: running a busy script (see `pump`); later.
                if idx < self.conns.len() && !self.free.contains(&idx) {
                    absent.push((idx, id));
                }
                continue;
            };
            if conn.client.id() != id {
                continue;
            }
            if let Some(reply) = conn.client.blocking.blocked.as_ref().and_then(|w| w.take_reply()) {
                conn.client.deferred_reply(&mut conn.wbuf, &reply);
                conn.client.blocking.blocked = None;
                self.pending.push(idx);
            }
            if let Some(ps) = &conn.client.pubsub {
                if ps.sink.overflowed.load(Relaxed) && !self.pumping {
                    warning!("Client {} closed for overcoming of output buffer limits.", conn.client.info.addr);
                    self.close(idx);
                    continue;
                }
                if ps.sink.has_pending() {
                    ps.sink.drain_into(&mut conn.wbuf);
                    self.pending.push(idx);
                }
            }
        }
        if !absent.is_empty() {
            self.shared.unblocked.lock().extend(absent);
            let _ = self.shared.waker.wake();
        }
        let incoming = std::mem::take(&mut *self.shared.inbox.lock());
        for (stream, peer, local) in incoming {
            self.add(stream, peer, local);
        }
        if self.pumping {
            // Kills close connections: after the busy script (see `drive`).
            if self.shared.kill_pending.load(Relaxed) || !self.shared.unblocked.lock().is_empty() {
                let _ = self.shared.waker.wake();
            }
        } else if self.shared.kill_pending.swap(false, Relaxed) {
            for i in 0..self.conns.len() {
                if self.conns[i].as_ref().is_some_and(|c| c.client.info.killed.load(Relaxed)) {
                    self.close(i);
                }
            }
        }
    }

    fn add(&mut self, mut stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if self.poll.registry().register(&mut stream, Token(idx), Interest::READABLE).is_err() {
            self.free.push(idx);
            return;
        }
        let shared = self.shared.clone();
        let waker: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            shared.kill_pending.store(true, Relaxed);
            let _ = shared.waker.wake();
        });
        use std::os::fd::AsRawFd;
        let mut client = self.db.connect(ConnectionInfo {
            addr: peer.to_string(),
            laddr: local.to_string(),
            fd: stream.as_raw_fd() as i64,
            waker: Some(waker),
        });
        let shared = self.shared.clone();
        let id = client.id();
        client.blocking.waker = Some(Arc::new(move || {
            shared.unblocked.lock().push((idx, id));
            let _ = shared.waker.wake();
        }));
        self.conns[idx] = Some(Box::new(Conn {
            stream,
            // Buffers are allocated on first use and given back when the client idles, so
            // 10,000 mostly idle connections cost little memory.
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            wpos: 0,
            parser: RequestParser::new(self.limits),
            client,
            writable: false,
            closing: false,
            paused_by_output: false,
            commit_seq: 0,
            held: false,
            held_drained: false,
            paused: false,
            soft_limit_since: None,
            last_active: Instant::now(),
        }));
        // Data may already be waiting (edge-triggered registration after it arrived).
        self.pending.push(idx);
    }

    /// Gives a connection that sent PSYNC / SYNC to the replica's own threads (see
    /// `ferrous_core::replication::master`), with whatever replies it still had pending.
    fn hand_off(&mut self, db: &Database, idx: usize, mut conn: Box<Conn>) {
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.free.push(idx);
        let Some(req) = conn.client.hand_off.take() else { return };
        let info = conn.client.info.clone();
        // The client leaves its watches, subscriptions and tracking, but stays listed.
        db.disconnect(&conn.client);
        db.inner().clients.insert(info.clone());
        // SAFETY: the descriptor moves from the mio stream, which forgets it, to the std
        // stream, which now owns it.
        let stream = unsafe {
            use std::os::fd::{FromRawFd, IntoRawFd};
            std::net::TcpStream::from_raw_fd(conn.stream.into_raw_fd())
        };
        let pending = conn.wbuf[conn.wpos..].to_vec();
        if stream.set_nonblocking(false).is_err() || (&stream).write_all(&pending).is_err() {
            db.inner().clients.unregister(info.id);
            return;
        }
        ferrous_core::replication::master::serve(db.inner_arc(), stream, info, *req);
    }

    /// Gives a connection whose EVAL starts a Lua debugger session to the script engine
    /// (with its pending replies written and its unread input), which closes it at the end.
    fn debug_session(
        &mut self,
        db: &Database,
        idx: usize,
        mut conn: Box<Conn>,
        req: ferrous_core::scripting::DebugRequest,
    ) {
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.free.push(idx);
        // SAFETY: the descriptor moves from the mio stream, which forgets it, to the std
        // stream, which now owns it.
        let stream = unsafe {
            use std::os::fd::{FromRawFd, IntoRawFd};
            std::net::TcpStream::from_raw_fd(conn.stream.into_raw_fd())
        };
        let pending = &conn.wbuf[conn.wpos..];
        let engine = db.script_engine();
        match engine {
            Some(engine) if stream.set_nonblocking(false).is_ok() && (&stream).write_all(pending).is_ok() => {
                let unread = conn.rbuf[conn.rstart..conn.rend].to_vec();
                let debug = ferrous_core::scripting::DebugConnection { stream, unread };
                engine.debug_session(db, conn.client, debug, req);
            }
            _ => db.disconnect(&conn.client),
        }
    }

    fn close(&mut self, idx: usize) {
        if let Some(mut conn) = self.conns.get_mut(idx).and_then(|c| c.take()) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.db.disconnect(&conn.client);
            self.free.push(idx);
        }
    }

    fn cron(&mut self) {
        let (limits, query_limit) = limits_of(&self.db);
        self.limits = limits;
        self.query_limit = query_limit;
        for conn in self.conns.iter_mut().flatten() {
            if conn.rend == 0 && conn.pending_output() == 0 && conn.last_active.elapsed() > Duration::from_secs(2) {
                conn.rbuf = Vec::new();
                conn.wbuf = Vec::new();
            }
        }
        let timeout = self.db.inner().config.read().get_i64("timeout");
        if timeout > 0 {
            let max_idle = Duration::from_secs(timeout as u64);
            for i in 0..self.conns.len() {
                if self.conns[i].as_ref().is_some_and(|c| c.last_active.elapsed() > max_idle) {
                    verbose!("Closing idle client");
                    self.close(i);
                }
            }
        }
    }

    /// Reads, executes and writes for one connection until it would block.
    ///
    /// `trust_short_read`: the caller is handling a readiness event that did not report the
    /// peer's end of stream, so a read that does not fill the buffer has emptied the socket
    /// and anything arriving later (data or FIN) raises a new event: the read that would
    /// only say "would block" is skipped, one syscall less per request at -P 1. Otherwise
    /// (a FIN may already be queued, or no event at all) reading goes on until it blocks.
    ///
    /// The connection is out of the slab while it runs (so that [`serve_while_busy`] can serve
    /// the others if one of its scripts runs long); `db` is the caller's handle, not
    /// `self.db`, for the same reason.
    fn drive(&mut self, db: &Database, idx: usize, trust_short_read: bool) {
        let Some(mut conn) = self.conns.get_mut(idx).and_then(Option::take) else { return };
        let step = if conn.client.info.killed.load(Relaxed) {
            Step::Close
        } else {
            self.serve(db, idx, &mut conn, trust_short_read)
        };
        conn.client.info.qbuf.store(conn.rend - conn.rstart, Relaxed);
        conn.client.info.obuf.store(conn.pending_output(), Relaxed);
        if conn.client.blocking.blocked.is_some() && !self.blocked.contains(&idx) {
            self.blocked.push(idx);
        }
        if conn.paused && !self.paused.contains(&idx) {
            self.paused.push(idx);
        }
        let step = match step {
            Step::HandOff => return self.hand_off(db, idx, conn),
            Step::Debug(req) => return self.debug_session(db, idx, conn, req),
            step => step,
        };
        // Killed while its script ran (the kill notice went to a busy-time pump).
        let keep_open = matches!(step, Step::Continue) && !conn.client.info.killed.load(Relaxed) && {
            // A held connection's replies go out right after the commit, from `commit_held`.
            let want_write = conn.pending_output() > 0 && (!conn.held || conn.writable);
            want_write == conn.writable || {
                let interest = if want_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                let ok = reregister(self.poll.registry(), &mut conn, idx, interest).is_ok();
                if ok {
                    conn.writable = want_write;
                }
                ok
            }
        };
        self.conns[idx] = Some(conn);
        if keep_open {
            return;
        }
        if self.pumping {
            // Closing cancels the client's blocking wait, which may be the one this thread
            // is serving further up the stack: close after the busy script instead.
            self.pending.push(idx);
            return;
        }
        self.close(idx);
    }

    /// The read / execute / write loop of [`Worker::drive`].
    fn serve(&mut self, db: &Database, idx: usize, conn: &mut Conn, trust_short_read: bool) -> Step {
        let mut read_total = 0;
        let mut drained = std::mem::take(&mut conn.held_drained);
        conn.held = false;
        loop {
            if !conn.closing {
                let now = db.inner().clock.now_ms();
                let limits = self.limits;
                // From here until execution returns, `self` is only reached through this
                // pointer, by `serve_while_busy` (see there).
                let prev = PUMP.replace((std::ptr::from_mut(self), idx));
                let published = ferrous_core::propagate::last_published();
                let step = ferrous_core::clock::with_batch_time(now, || execute_buffered(db, conn, limits));
                PUMP.set(prev);
                if let Some(seq) = ferrous_core::propagate::last_published().filter(|s| Some(*s) != published) {
                    conn.commit_seq = seq;
                }
                if !matches!(step, Step::Continue) {
                    return step;
                }
                // Checked before writing, as Redis checks while adding the replies: a reply
                // bigger than the hard limit closes the client even if it reads quickly.
                if over_output_limit(db, conn, Instant::now()) {
                    warning!(
                        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                        conn.client.info.describe(now, None)
                    );
                    return Step::Close;
                }
            }
            if conn.commit_seq > ferrous_core::aof::writer::durable(db.inner()) {
                // Replies to writes go out after the turn's AOF commit.
                if !self.held.contains(&idx) {
                    self.held.push(idx);
                }
                conn.held = true;
                conn.held_drained = drained;
                return Step::Continue;
            }
            if flush(db, conn).is_err() {
                return Step::Close;
            }
            if conn.closing {
                if conn.pending_output() == 0 {
                    return Step::Close;
                }
                return Step::Continue;
            }
            if conn.pending_output() > OUTPUT_HIGH_WATER {
                return Step::Continue;
            }
            if throttled(conn) {
                // Output pressure stopped execution earlier and the flush made room:
                // run the commands still buffered before waiting for more input (no event
                // would come for them otherwise).
                continue;
            }
            if drained {
                return Step::Continue;
            }
            if read_total >= READ_BUDGET {
                self.pending.push(idx);
                return Step::Continue;
            }
            match fill(conn, self.query_limit) {
                Ok((0, _)) => return Step::Continue,
                Ok((n, short)) => {
                    drained = short && trust_short_read;
                    read_total += n;
                    db.inner().stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                    db.inner().stats.reads_processed.fetch_add(1, Relaxed);
                }
                Err(_) => return Step::Close,
            }
        }
    }

    /// One pass over this thread's other connections while connection `busy` runs a script
    /// that passed `busy-reply-threshold` (or waits for one): what Redis's
    /// `processEventsWhileBlocked` does.
    /// Their commands get BUSY, except the few that may run meanwhile (SCRIPT KILL, FUNCTION
    /// KILL, SHUTDOWN...); new connections are adopted. Events of the busy connection itself
    /// are kept for when its script has returned.
    fn pump(&mut self, db: &Database, busy: usize) {
        self.pumping = true;
        self.pump_pass(db, busy);
        self.pumping = false;
    }

    fn pump_pass(&mut self, db: &Database, busy: usize) {
        // What this turn had not reached yet, then whatever has arrived since.
        let mut events = Events::with_capacity(256);
        if self.poll.poll(&mut events, Some(Duration::ZERO)).is_ok() {
            self.ready.extend(events.iter().map(readiness));
        }
        let pending = std::mem::take(&mut self.pending);
        self.ready.extend(pending.into_iter().map(|t| (Token(t), false)));
        // Connections re-queued by their drive (read budget) wait for the next pass: a client
        // that keeps sending must not keep the script from running.
        let mut later = Vec::new();
        while let Some((token, trust_short_read)) = self.ready.pop_front() {
            match token {
                WAKE => {
                    self.on_wake();
                    // New connections and unblocked clients join this pass.
                    let woken = std::mem::take(&mut self.pending);
                    self.ready.extend(woken.into_iter().map(|t| (Token(t), false)));
                }
                Token(t) if t == busy => later.push(t),
                Token(t) => {
                    self.drive(db, t, trust_short_read);
                    later.append(&mut self.pending);
                }
            }
        }
        self.pending.extend(later);
    }
}

thread_local! {
    /// The worker of this thread and the connection it is executing commands of, while it
    /// does (null otherwise): what [`serve_while_busy`] needs.
    static PUMP: std::cell::Cell<(*mut Worker, usize)> = const { std::cell::Cell::new((std::ptr::null_mut(), 0)) };
}

/// Serves the other connections of this thread's event loop while it is stuck behind a busy
/// script: running it for one of them, or in a command of one of them that waits for what
/// the script holds (through `ServerHooks::serve_while_busy`).
pub(crate) fn serve_while_busy() {
    let (worker, busy) = PUMP.replace((std::ptr::null_mut(), 0));
    if worker.is_null() {
        return;
    }
    // SAFETY: `worker` was set by `Worker::serve` on this thread from its `&mut self`, which
    // it does not use until execution returns; this is the only use meanwhile (the core
    // does not call `serve_while_busy` again from inside a pass). The busy connection is
    // out of the slab, owned by that call, and this pass never touches its slot.
    let worker = unsafe { &mut *worker };
    let db = worker.db.clone();
    worker.pump(&db, busy);
    PUMP.set((worker, busy));
}

/// An event as the turn's queue holds it: its token, and whether a short read may be
/// trusted to have emptied the socket (see [`Worker::drive`]).
fn readiness(ev: &mio::event::Event) -> (Token, bool) {
    (ev.token(), !ev.is_read_closed() && !ev.is_error())
}

fn limits_of(db: &Database) -> (Limits, usize) {
    let c = db.inner().config.read();
    let limits = Limits { max_bulk_len: c.get_i64("proto-max-bulk-len"), ..Limits::default() };
    (limits, c.get_i64("client-query-buffer-limit") as usize)
}

fn reregister(registry: &Registry, conn: &mut Conn, idx: usize, interest: Interest) -> io::Result<()> {
    registry.reregister(&mut conn.stream, Token(idx), interest)
}

/// Reads whatever is available: the byte count (0 when the socket would block) and whether
/// the read was short, i.e. took everything the socket had. EOF and errors are `Err`.
fn fill(conn: &mut Conn, query_limit: usize) -> io::Result<(usize, bool)> {
    // Make room: compact first, then grow (to the size of a large bulk argument in one go).
    if conn.rend == conn.rbuf.len() {
        if conn.rstart > 0 {
            conn.rbuf.copy_within(conn.rstart..conn.rend, 0);
            conn.rend -= conn.rstart;
            conn.rstart = 0;
        }
        if conn.rend == conn.rbuf.len() {
            if conn.rend >= query_limit {
                warning!("Closing client that reached max query buffer length");
                return Err(io::ErrorKind::OutOfMemory.into());
            }
            // Grow geometrically, never beyond what the pending argument still needs: the
            // memory a client can make us touch stays proportional to the bytes it really
            // sent (a `$536870912` header alone costs nothing).
            let doubled = (conn.rbuf.len() * 2).max(READ_CHUNK);
            let wanted = conn.parser.bytes_wanted().map_or(doubled, |w| w.clamp(conn.rbuf.len() + 1, doubled));
            conn.rbuf.resize(wanted.min(query_limit.max(READ_CHUNK)), 0);
        }
    }
    loop {
        match conn.stream.read(&mut conn.rbuf[conn.rend..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                let short = conn.rend + n < conn.rbuf.len();
                conn.rend += n;
                conn.last_active = Instant::now();
                return Ok((n, short));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((0, false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// True when complete input may be waiting only because output pressure paused execution.
fn throttled(conn: &Conn) -> bool {
    conn.rstart < conn.rend
        && conn.client.blocking.blocked.is_none()
        && conn.pending_output() <= OUTPUT_HIGH_WATER
        && conn.paused_by_output
}

/// Executes every complete command in the read buffer, appending replies to the output.
fn execute_buffered(db: &Database, conn: &mut Conn, limits: Limits) -> Step {
    conn.parser.set_limits(limits);
    conn.paused = false;
    prefetch_pipeline(db, conn);
    let mut processed = 0u64;
    conn.paused_by_output = false;
    while conn.rstart < conn.rend && conn.client.blocking.blocked.is_none() {
        // Killed (CLIENT KILL, ACL DELUSER) while its input was being read: nothing more
        // runs, as Redis stops at a client flagged to close.
        if conn.client.info.killed.load(Relaxed) {
            return Step::Close;
        }
        if conn.pending_output() > OUTPUT_HIGH_WATER {
            conn.paused_by_output = true;
            break;
        }
        let input = &conn.rbuf[conn.rstart..conn.rend];
        match conn.parser.parse(input) {
            Ok(Parsed::Incomplete) => break,
            Ok(Parsed::Empty(n)) => {
                conn.rstart += n;
                conn.parser.reset();
            }
            Ok(Parsed::Command(n)) => {
                let args = conn.parser.args(input);
                if db.inner().pause.active()
                    && db.inner().pause.holds(&conn.client, args.at(0), db.inner().clock.now_ms())
                {
                    // CLIENT PAUSE: the command stays buffered until the pause ends.
                    conn.parser.reset();
                    conn.paused = true;
                    break;
                }
                // CLIENT REPLY OFF/SKIP is applied by dispatch (pushes still go out).
                db.dispatch(&mut conn.client, args, &mut conn.wbuf);
                processed += 1;
                conn.rstart += n;
                conn.parser.reset();
                if conn.client.hand_off.is_some() {
                    return Step::HandOff;
                }
                if conn.client.close_after_reply {
                    if let Some(req) = ferrous_core::scripting::take_debug_session() {
                        return Step::Debug(req);
                    }
                    conn.closing = true;
                    break;
                }
            }
            Err(e) => {
                let msg = format!("-ERR {e}\r\n");
                conn.wbuf.extend_from_slice(msg.as_bytes());
                verbose!("Protocol error from client {}: {e}", conn.client.info.addr);
                conn.closing = true;
                break;
            }
        }
    }
    if conn.rstart == conn.rend {
        conn.rstart = 0;
        conn.rend = 0;
        if conn.rbuf.len() > 4 * READ_CHUNK && !conn.parser.in_progress() {
            // Give back the space a large request needed.
            conn.rbuf = Vec::new();
        }
    }
    if processed > 0 {
        db.inner().stats.commands_processed.fetch_add(processed, Relaxed);
        conn.client.info.commands.fetch_add(processed, Relaxed);
        conn.client.info.last_interaction_ms.store(db.inner().clock.now_ms(), Relaxed);
    }
    Step::Continue
}

/// When the buffer holds a pipeline (more than one complete command), asks the keyspace to
/// bring the keys of the first [`PREFETCH_BATCH`] commands into the CPU cache before any of
/// them runs, so their cache misses overlap instead of adding up (see
/// [`Database::prefetch_keys`]). A command that is not a plain multibulk, or a key that is not
/// one, only costs a wasted hint.
fn prefetch_pipeline(db: &Database, conn: &Conn) {
    if conn.parser.in_progress() {
        return;
    }
    let input = &conn.rbuf[conn.rstart..conn.rend];
    let mut keys: [&[u8]; PREFETCH_BATCH] = [&[]; PREFETCH_BATCH];
    let (n, commands) = pipeline_keys(input, &mut keys);
    if commands > 1 && n > 0 {
        db.prefetch_keys(conn.client.db, &keys[..n]);
    }
}

/// The keys of the complete multibulk commands at the start of `input`: the first argument
/// of each command with one, every key of MSET/MSETNX/MGET/DEL/UNLINK/EXISTS/TOUCH. Returns
/// how many keys were stored and how many commands were seen; stops at the first incomplete
/// or inline command, or when `out` is full.
fn pipeline_keys<'a>(input: &'a [u8], out: &mut [&'a [u8]; PREFETCH_BATCH]) -> (usize, usize) {
    fn number(input: &[u8], pos: &mut usize, prefix: u8) -> Option<usize> {
        if input.get(*pos) != Some(&prefix) {
            return None;
        }
        let mut i = *pos + 1;
        let mut n = 0usize;
        while let Some(&c) = input.get(i) {
            if c == b'\r' {
                if input.get(i + 1) != Some(&b'\n') {
                    return None;
                }
                *pos = i + 2;
                return Some(n);
            }
            if !c.is_ascii_digit() || n > 1 << 40 {
                return None;
            }
            n = n * 10 + (c - b'0') as usize;
            i += 1;
        }
        None
    }
    let (mut stored, mut commands, mut pos) = (0, 0, 0);
    while stored < out.len() {
        let Some(argc) = number(input, &mut pos, b'*') else { break };
        let start = stored;
        let mut pairs = false;
        let mut all = false;
        for i in 0..argc {
            let Some(len) = number(input, &mut pos, b'$') else { return (start, commands) };
            let Some(arg) = input.get(pos..pos + len) else { return (start, commands) };
            if input.get(pos + len..pos + len + 2) != Some(b"\r\n") {
                return (start, commands);
            }
            pos += len + 2;
            if i == 0 {
                pairs = arg.eq_ignore_ascii_case(b"MSET") || arg.eq_ignore_ascii_case(b"MSETNX");
                all =
                    ["MGET", "DEL", "UNLINK", "EXISTS", "TOUCH"].iter().any(|c| arg.eq_ignore_ascii_case(c.as_bytes()));
            } else if (i == 1 || all || (pairs && i % 2 == 1)) && stored < out.len() {
                out[stored] = arg;
                stored += 1;
            }
        }
        commands += 1;
    }
    (stored, commands)
}

/// Writes pending output until done or the socket would block.
fn flush(db: &Database, conn: &mut Conn) -> io::Result<()> {
    let mut written = 0;
    while conn.wpos < conn.wbuf.len() {
        match conn.stream.write(&conn.wbuf[conn.wpos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                conn.wpos += n;
                written += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if conn.wpos == conn.wbuf.len() {
        conn.wbuf.clear();
        conn.wpos = 0;
        if conn.wbuf.capacity() > 1024 * 1024 {
            conn.wbuf = Vec::new();
        }
    }
    if written > 0 {
        db.inner().stats.net_output_bytes.fetch_add(written as u64, Relaxed);
        db.inner().stats.writes_processed.fetch_add(1, Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_limit_classes_parse() {
        let l = output_limits("normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
        assert_eq!(l.normal, ClassLimit { hard: 1 << 20, soft: 1 << 19, soft_secs: 10 });
        assert_eq!(l.pubsub, ClassLimit { hard: 32 << 20, soft: 8 << 20, soft_secs: 60 });
    }

    #[test]
    fn hard_limit_is_immediate_soft_limit_needs_its_seconds() {
        let class = ClassLimit { hard: 1000, soft: 100, soft_secs: 2 };
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        let mut since = None;
        assert!(!limit_reached(class, 99, &mut since, at(0)));
        assert!(limit_reached(class, 1000, &mut since, at(0)), "hard: at once");
        since = None;
        // Soft: the first time only starts the clock; still over after the seconds: reached.
        assert!(!limit_reached(class, 100, &mut since, at(0)));
        assert!(!limit_reached(class, 500, &mut since, at(2_999)));
        assert!(limit_reached(class, 500, &mut since, at(3_000)));
        // Dropping below resets the clock.
        since = None;
        assert!(!limit_reached(class, 500, &mut since, at(0)));
        assert!(!limit_reached(class, 10, &mut since, at(2_500)));
        assert_eq!(since, None);
        assert!(!limit_reached(class, 500, &mut since, at(4_000)));
        assert!(!limit_reached(class, 500, &mut since, at(6_000)));
        assert!(limit_reached(class, 500, &mut since, at(7_000)));
        // No limits: never.
        let none = ClassLimit::default();
        assert!(!limit_reached(none, usize::MAX, &mut None, at(0)));
    }

    #[test]
    fn pipeline_keys_reads_complete_commands_only() {
        let mut out: [&[u8]; PREFETCH_BATCH] = [&[]; PREFETCH_BATCH];
        let input = b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n\
*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n*3\r\n$3\r\nDEL\r\n$1\r\nx\r\n$1\r\ny\r\n\
*2\r\n$3\r\nGET\r\n$5\r\nhal";
        let (n, commands) = pipeline_keys(input, &mut out);
        assert_eq!(commands, 4, "the incomplete GET is not counted");
        assert_eq!(&out[..n], &[&b"k1"[..], b"a", b"b", b"x", b"y"]);
        // Inline commands and malformed lengths stop the scan without a panic.
        assert_eq!(pipeline_keys(b"PING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &mut out), (0, 0));
        assert_eq!(pipeline_keys(b"*2\r\n$3\r\nGET\r\n$99999999999999999999\r\n", &mut out), (0, 0));
        assert_eq!(pipeline_keys(b"*2\r\n$3\r\nGET\r\n$1\r\nkX\r\n", &mut out), (0, 0));
        // At most PREFETCH_BATCH keys.
        let many = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(40);
        assert_eq!(pipeline_keys(&many, &mut out).0, PREFETCH_BATCH);
    }
}
