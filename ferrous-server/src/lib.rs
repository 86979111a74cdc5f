//! The Ferrous server: RESP2/RESP3 over TCP on mio event loops.
//!
//! The server is thin: it owns sockets, event loops, configuration and process life; every
//! command's meaning lives in `ferrous-core`.
//!
//! - [`config`]: command-line and redis.conf parsing into a core `Config`.
//! - [`event_loop`]: the acceptor and the N worker loops (one `mio::Poll` each).
//! - [`log`]: Redis-style log lines.
//!
//! Data path: a worker reads every available byte of a connection into its reusable read
//! buffer, parses each complete command in place (arguments are ranges into that buffer),
//! dispatches it to the core, which encodes the reply straight into the connection's output
//! buffer, then writes the output once per loop turn. `WRITABLE` interest is registered only
//! while output is pending.
#![warn(missing_docs)]

pub mod config;
pub mod event_loop;
pub mod log;

use ferrous_core::Database;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs the server with redis-server style arguments until shutdown. Returns the process
/// exit code.
pub fn main_with_args(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("Ferrous server v={} (Redis 7.0 compatible)", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let mut warnings = Vec::new();
    let (config, users) = match config::from_args_with_users(args, &mut warnings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    log::init(config.get("loglevel").unwrap_or("notice"), config.get("logfile").unwrap_or(""));
    for w in warnings {
        warning!("{w}");
    }
    notice!("Ferrous {} starting, pid={}", env!("CARGO_PKG_VERSION"), std::process::id());
    // The server always persists: `dir/dbfilename` is loaded below and saved per `save`.
    let db = Database::builder().config(config).persistence(true).build();
    // ACL users: the configuration's `user` lines, then the `aclfile` (Redis's
    // `ACLLoadUsersAtStartup`); an error stops the server, as in Redis.
    if let Err(e) = ferrous_core::acl::load_startup(db.inner(), &users) {
        for line in e.lines() {
            warning!("{line}");
        }
        return 1;
    }
    let lua = {
        let c = db.inner().config.read();
        let instructions = c.get_i64("lua-instruction-limit");
        ferrous_lua::EngineConfig {
            memory_limit: c.get_i64("lua-memory-limit") as usize,
            instruction_limit: (instructions > 0).then_some(instructions as u64),
        }
    };
    ferrous_lua::install_with(&db, lua);
    let shutdown = Arc::new(AtomicBool::new(false));
    // Clients that connect before the file is loaded get -LOADING, as from Redis.
    db.inner().rdb.alerts.fetch_or(ferrous_core::persistence::ALERT_LOADING, Ordering::Relaxed);
    match event_loop::Server::bind(db.clone(), shutdown.clone()) {
        Ok(server) => {
            install_signal_handlers(&server, &db);
            load_data(&db);
            server.run();
            notice!("Ferrous is now ready to exit, bye bye...");
            0
        }
        Err(e) => {
            warning!("Failed listening on port: {e}");
            1
        }
    }
}

/// Loads `dir/dbfilename` on a thread of its own while the event loops answer -LOADING;
/// a file that cannot be loaded stops the process, as Redis does.
fn load_data(db: &Database) {
    let db = db.clone();
    let spawned = std::thread::Builder::new().name("ferrous-load".into()).spawn(move || {
        let inner = db.inner();
        let started = std::time::Instant::now();
        if inner.config.read().get_bool("appendonly") {
            // The AOF is the dataset, as in Redis (dump.rdb is not read); a first start
            // writes a base and an incr file.
            match db.load_data_files() {
                Ok(()) => notice!("DB loaded from append only file: {:.3} seconds", started.elapsed().as_secs_f64()),
                Err(e) => {
                    warning!("Fatal error loading the append only file: {e}. Exiting.");
                    std::process::exit(1);
                }
            }
            inner.rdb.alerts.fetch_and(!ferrous_core::persistence::ALERT_LOADING, Ordering::Relaxed);
            db.start_configured_replication();
            return;
        }
        let path = ferrous_core::persistence::rdb_path(inner);
        match ferrous_core::persistence::load_file_at_startup(db.inner_arc(), &path) {
            Ok(Some(stats)) => notice!(
                "Done loading RDB, keys loaded: {}, keys expired: {}. DB loaded from disk: {:.3} seconds",
                stats.keys_loaded,
                stats.keys_expired,
                started.elapsed().as_secs_f64()
            ),
            Ok(None) => {}
            Err(e) => {
                warning!("Fatal error loading the DB ({}): {e}. Exiting.", path.display());
                std::process::exit(1);
            }
        }
        inner.rdb.alerts.fetch_and(!ferrous_core::persistence::ALERT_LOADING, Ordering::Relaxed);
        db.start_configured_replication();
    });
    if let Err(e) = spawned {
        warning!("Can't start the loading thread: {e}. Exiting.");
        std::process::exit(1);
    }
}

fn install_signal_handlers(server: &event_loop::Server, db: &Database) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    let handle = server.shutdown_handle();
    let db = db.clone();
    std::thread::Builder::new()
        .name("ferrous-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                warning!("Received {name} scheduling shutdown...");
                // As Redis's prepareForShutdown: save when save points are set; if that
                // fails, keep running rather than lose the data.
                let directive = if sig == SIGINT { "shutdown-on-sigint" } else { "shutdown-on-sigterm" };
                let flags = db.inner().config.read().get(directive).unwrap_or("default").to_string();
                let save = if flags.contains("nosave") {
                    Some(false)
                } else if flags.contains("save") {
                    Some(true)
                } else {
                    None
                };
                // Without `now`, lagging replicas get `shutdown-timeout` seconds first, as
                // SHUTDOWN gives them; the shutdown then completes on its own.
                let opts = ferrous_core::ShutdownOptions { save, now: flags.contains("now"), force: flags.contains("force") };
                if ferrous_core::replication::shutdown_after_replicas(db.inner_arc(), opts) {
                    continue;
                }
                if let Err(e) = ferrous_core::persistence::shutdown_save(db.inner_arc(), save) {
                    warning!("Error trying to save the DB, can't exit: {e}");
                    if !flags.contains("force") {
                        warning!("{name} received but errors trying to shut down the server, check the logs for more information");
                        continue;
                    }
                }
                handle.shutdown();
                return;
            }
        })
        .ok();
}

/// Asks a running server to stop.
#[derive(Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    wakers: Arc<Vec<Arc<mio::Waker>>>,
    /// Listeners bound by CONFIG SET port/bind, waiting for the acceptor to adopt them.
    pub(crate) rebind: Arc<parking_lot::Mutex<Option<Vec<std::net::TcpListener>>>>,
    /// The addresses currently listened on.
    pub(crate) bound: Arc<parking_lot::Mutex<Vec<std::net::SocketAddr>>>,
}

impl ShutdownHandle {
    /// Stops accepting, closes connections and returns from `run`.
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        for w in self.wakers.iter() {
            let _ = w.wake();
        }
    }
}

impl ferrous_core::ServerHooks for ShutdownHandle {
    fn shutdown(&self) {
        ShutdownHandle::shutdown(self)
    }

    fn serve_while_busy(&self) {
        event_loop::serve_while_busy();
    }

    fn log(&self, warning: bool, message: &str) {
        let level = if warning { log::Level::Warning } else { log::Level::Notice };
        log::log(level, message);
    }

    /// CONFIG SET port/bind: bind the new addresses now (so a failure can be reported and
    /// rolled back), then hand them to the acceptor, which drops the old listeners.
    fn config_changed(&self, name: &str, config: &ferrous_core::Config) -> Result<(), String> {
        if name != "port" && name != "bind" {
            return Ok(());
        }
        let port = config.get_i64("port") as u16;
        let wanted = event_loop::bind_addresses(config.get("bind").unwrap_or(""), port);
        let addrs: Vec<std::net::SocketAddr> = wanted.iter().map(|(a, _)| *a).collect();
        if *self.bound.lock() == addrs {
            return Ok(());
        }
        let mut listeners = Vec::new();
        for (addr, optional) in wanted {
            match std::net::TcpListener::bind(addr) {
                Ok(l) => {
                    if l.set_nonblocking(true).is_err() {
                        return Err("Failed to bind to specified addresses.".into());
                    }
                    listeners.push(l)
                }
                Err(_) if optional => {}
                Err(_) => return Err("Failed to bind to specified addresses.".into()),
            }
        }
        if listeners.is_empty() {
            return Err("Failed to bind to specified addresses.".into());
        }
        *self.bound.lock() = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
        *self.rebind.lock() = Some(listeners);
        if let Some(w) = self.wakers.first() {
            let _ = w.wake();
        }
        Ok(())
    }
}
