//! Serving the program's own [`Database`] over RESP.
//!
//! [`Server::builder`] takes a handle to a database the program already uses through the
//! typed API and exposes it on a TCP socket with the same event loops as the `ferrous`
//! binary, so `redis-cli`, dashboards and other processes read and change the very data the
//! program sees. Nothing is copied: both sides work on one keyspace, with the same locks,
//! expiry, keyspace notifications and client-side-caching invalidations.
//!
//! ```no_run
//! use ferrous::prelude::*;
//! let db = Database::new();
//! db.set("greeting", "hello").unwrap();
//! let server = ferrous::Server::builder(db.clone())
//!     .bind("127.0.0.1:6380")
//!     .io_threads(2)
//!     .config("maxclients", "100")
//!     .start()?;
//! println!("try: redis-cli -p {} GET greeting", server.local_addr().port());
//! // ... the program goes on using `db`; clients see its changes and it sees theirs ...
//! server.stop(); // listener and connections closed, threads joined (also on drop)
//! # Ok::<(), ferrous::ServeError>(())
//! ```
//!
//! Layout: [`ServerBuilder`] gathers the address, I/O threads and redis.conf directives;
//! [`ServerBuilder::start`] applies the directives to the database's configuration (they are
//! its configuration: `CONFIG GET` shows them), binds the listeners, and runs the
//! acceptor on a thread of its own; [`ServerHandle`] stops it. A database is served by at
//! most one server at a time, because the server is where `SHUTDOWN` and `CONFIG SET
//! port/bind` are carried out.
use crate::Database;
use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Entry point for serving an embedded [`Database`]: see [`Server::builder`].
#[derive(Debug)]
pub struct Server(());

impl Server {
    /// A builder that will serve `db` (a clone of the program's handle: the server and the
    /// program share the data). Nothing is bound until [`ServerBuilder::start`].
    pub fn builder(db: impl Into<Database>) -> ServerBuilder {
        ServerBuilder { db: db.into(), addr: None, io_threads: None, config: Vec::new() }
    }
}

/// Options of an embedded server; [`ServerBuilder::start`] runs it.
#[must_use = "a builder does nothing until start() is called"]
pub struct ServerBuilder {
    db: Database,
    addr: Option<String>,
    io_threads: Option<usize>,
    config: Vec<(String, String)>,
}

/// Why an embedded server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The address given to [`ServerBuilder::bind`] could not be parsed or resolved.
    Address {
        /// The address as given.
        addr: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A directive given to [`ServerBuilder::config`] (or [`ServerBuilder::io_threads`]) was
    /// refused; the database's configuration is unchanged.
    Config {
        /// The directive.
        name: String,
        /// Redis's error text.
        message: String,
    },
    /// Listening failed (address in use, not available, permission); the database's
    /// configuration is unchanged.
    Bind(std::io::Error),
    /// The server's threads could not be started.
    Spawn(std::io::Error),
    /// This database is already served by a running [`ServerHandle`].
    AlreadyServed,
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Address { addr, source } => write!(f, "invalid address {addr:?}: {source}"),
            ServeError::Config { name, message } => write!(f, "configuration '{name}' refused: {message}"),
            ServeError::Bind(e) => write!(f, "cannot listen: {e}"),
            ServeError::Spawn(e) => write!(f, "cannot start the server threads: {e}"),
            ServeError::AlreadyServed => f.write_str("this database is already served by a running server"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Address { source, .. } => Some(source),
            ServeError::Bind(e) | ServeError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// The databases (by the address of their shared state) a running server serves.
static SERVED: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn served_key(db: &Database) -> usize {
    Arc::as_ptr(db.inner_arc()) as usize
}

/// Marks `db` as served; false if it already was.
fn claim(db: &Database) -> bool {
    let mut served = SERVED.lock().unwrap_or_else(|e| e.into_inner());
    served.get_or_insert_with(HashSet::new).insert(served_key(db))
}

fn release(db: &Database) {
    let mut served = SERVED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = served.as_mut() {
        s.remove(&served_key(db));
    }
}

impl ServerBuilder {
    /// The address to listen on (`"127.0.0.1:6380"`, `"[::1]:6380"`, `"localhost:6380"`;
    /// port 0 picks a free port, see [`ServerHandle::local_addr`]). Without it the database's
    /// `bind` and `port` directives apply (by default `127.0.0.1 -::1` and 6379).
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.addr = Some(addr.into());
        self
    }

    /// Number of event-loop threads serving connections (`io-threads`; 0, the default, means
    /// one per core).
    pub fn io_threads(mut self, n: usize) -> Self {
        self.io_threads = Some(n);
        self
    }

    /// A redis.conf directive (`maxclients`, `requirepass`, `timeout`, `loglevel`...), as
    /// `redis-server --name value` would take it. Checked by [`ServerBuilder::start`].
    /// `loglevel` and `logfile` set the server's log (notices go to standard output by
    /// default; `loglevel warning` keeps it quiet).
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((name.into(), value.into()));
        self
    }

    /// Applies the configuration, binds the listeners and starts serving on threads of the
    /// server's own. Returns once clients can connect. On error nothing is left running or
    /// bound, and the database's configuration is as before.
    pub fn start(self) -> Result<ServerHandle, ServeError> {
        let ServerBuilder { db, addr, io_threads, config } = self;
        let addrs = match &addr {
            Some(a) => Some(resolve(a)?),
            None => None,
        };
        if !claim(&db) {
            return Err(ServeError::AlreadyServed);
        }
        match start_claimed(&db, addrs, io_threads, &config) {
            Ok(handle) => Ok(handle),
            Err(e) => {
                release(&db);
                Err(e)
            }
        }
    }
}

/// The addresses of `addr`, all with one port (the first's; with port 0 only the first
/// address, since each listener would get a port of its own).
fn resolve(addr: &str) -> Result<Vec<SocketAddr>, ServeError> {
    let bad = |source| ServeError::Address { addr: addr.to_string(), source };
    let mut all: Vec<SocketAddr> = addr.to_socket_addrs().map_err(bad)?.collect();
    let Some(first) = all.first().copied() else {
        return Err(bad(std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address")));
    };
    if first.port() == 0 {
        all.truncate(1);
    }
    all.retain(|a| a.port() == first.port());
    all.dedup();
    Ok(all)
}

fn start_claimed(
    db: &Database,
    addrs: Option<Vec<SocketAddr>>,
    io_threads: Option<usize>,
    config: &[(String, String)],
) -> Result<ServerHandle, ServeError> {
    let inner = db.inner();
    // The new configuration, checked in full before anything changes.
    let mut next = inner.config.read().clone();
    let refused = |name: &str, e: crate::Error| ServeError::Config { name: name.to_string(), message: e.to_string() };
    for (name, value) in config {
        // Startup semantics, as redis.conf: immutable directives (io-threads, logfile) are
        // accepted since the server is not running yet.
        next.set(name, &[value.as_str()], true).map_err(|e| refused(name, e))?;
    }
    if let Some(n) = io_threads {
        next.set("io-threads", &[n.to_string().as_str()], true).map_err(|e| refused("io-threads", e))?;
    }
    if let Some(addrs) = &addrs {
        let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
        next.set("bind", &[ips.join(" ").as_str()], true).map_err(|e| refused("bind", e))?;
        let port = addrs.first().map_or(0, |a| a.port()).to_string();
        next.set("port", &[port.as_str()], true).map_err(|e| refused("port", e))?;
    }
    let (level, file) =
        (next.get("loglevel").unwrap_or("notice").to_string(), next.get("logfile").unwrap_or("").to_string());
    let previous = std::mem::replace(&mut *inner.config.write(), next);
    inner.apply_config_mirrors();
    let restore = || {
        *inner.config.write() = previous.clone();
        inner.apply_config_mirrors();
    };
    ferrous_server::log::init(&level, &file);
    let shutdown = Arc::new(AtomicBool::new(false));
    let server = match ferrous_server::event_loop::Server::bind(db.core().clone(), shutdown) {
        Ok(s) => s,
        Err(e) => {
            restore();
            return Err(ServeError::Bind(e));
        }
    };
    let local = server.local_addrs();
    // Port 0 picked a port: CONFIG GET port and INFO show the real one.
    if let Some(a) = local.first() {
        if inner.config.read().get_i64("port") == 0 {
            let _ = inner.config.write().set("port", &[a.port().to_string().as_str()], true);
        }
    }
    let stop = server.shutdown_handle();
    let core = db.core().clone();
    let thread = std::thread::Builder::new().name("ferrous-server".into()).spawn(move || {
        server.run();
        // Stopped by a client's SHUTDOWN too: from now on CONFIG SET port/bind must not
        // bind listeners for an acceptor that is gone.
        core.clear_server_hooks();
    });
    match thread {
        Ok(thread) => Ok(ServerHandle { db: db.clone(), addrs: local, stop, thread: Some(thread), released: false }),
        Err(e) => {
            // The closure (and with it the server and its listeners) is gone already.
            db.clear_server_hooks();
            restore();
            Err(ServeError::Spawn(e))
        }
    }
}

/// A running embedded server. [`ServerHandle::stop`] (or dropping the handle) closes the
/// listeners and every connection and joins the server's threads; the database goes on.
pub struct ServerHandle {
    db: Database,
    addrs: Vec<SocketAddr>,
    stop: ferrous_server::ShutdownHandle,
    thread: Option<JoinHandle<()>>,
    released: bool,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("addrs", &self.addrs).field("running", &self.is_running()).finish()
    }
}

impl ServerHandle {
    /// The address clients connect to (the first one bound; with port 0, the port the
    /// system picked).
    pub fn local_addr(&self) -> SocketAddr {
        // `start` fails unless at least one listener was bound.
        self.addrs[0]
    }

    /// Every address bound at start.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The database being served.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// False once the server has stopped (a client sent `SHUTDOWN`, or [`ServerHandle::stop`]).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Blocks until the server stops by itself (a client's `SHUTDOWN`), then releases it as
    /// [`ServerHandle::stop`] does.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.finish();
    }

    /// Stops serving: the listeners are closed (the port is free again when this returns),
    /// connected clients are disconnected, and the server's threads are joined. The
    /// database and everything in it stay.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.finish();
    }

    /// After the server's threads are gone: `SHUTDOWN` and `CONFIG SET port` act again as
    /// on a database no server runs, and another server may serve it.
    fn finish(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        self.db.clear_server_hooks();
        release(&self.db);
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}
