//! Ferrous: a Redis-compatible in-memory database, embeddable as a library.
//!
//! ```
//! use ferrous::prelude::*;
//! let db = Database::new();
//! db.set("user:1:name", "Ada").unwrap();
//! assert_eq!(db.get("user:1:name").unwrap().as_deref(), Some(&b"Ada"[..]));
//! // Lua scripting is installed by default.
//! assert_eq!(db.eval("return redis.call('GET', KEYS[1])", &["user:1:name"], &[] as &[&str]), RespValue::bulk("Ada"));
//! ```
//!
//! This crate re-exports [`ferrous_core`] (the database, its typed API and command table),
//! [`ferrous_resp`] (the wire codec) and [`ferrous_lua`] (scripting). Its [`Database`] is the
//! core database with the Lua engine installed; it dereferences to
//! [`ferrous_core::Database`], so the whole typed API is available on it. The `ferrous`
//! binary in this package is the server.
//!
//! [`Server`] serves the program's own database over RESP while the program keeps using it
//! (see [`serve`]): `redis-cli`, dashboards and other processes see and change the same data.
#![warn(missing_docs)]

pub use ferrous_core::*;
pub use ferrous_lua as lua;
pub use ferrous_resp as resp;

pub mod serve;
pub use serve::{ServeError, Server, ServerBuilder, ServerHandle};

use std::ops::Deref;
use std::sync::Arc;

/// A [`ferrous_core::Database`] with Lua scripting (EVAL, FUNCTION, `Database::eval`)
/// installed. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Database(ferrous_core::Database);

impl Database {
    /// A database with default configuration and scripting.
    pub fn new() -> Self {
        Self::from(ferrous_core::Database::new())
    }
    /// A builder (custom clock, configuration...); `build` installs scripting.
    pub fn builder() -> Builder {
        Builder(ferrous_core::Database::builder())
    }
    /// A durable database with its RDB file in `dir` (see
    /// [`ferrous_core::Database::open`]); function libraries in the file are loaded too.
    pub fn open(dir: impl AsRef<std::path::Path>) -> std::result::Result<Database, PersistError> {
        Self::builder().dir(dir).open()
    }
    /// A handle to logical database `index` (SELECT), sharing everything with `self`.
    pub fn select(&self, index: usize) -> Result<Database> {
        self.0.select(index).map(Database)
    }
    /// The core handle.
    pub fn core(&self) -> &ferrous_core::Database {
        &self.0
    }
    /// Unwraps the core handle.
    pub fn into_core(self) -> ferrous_core::Database {
        self.0
    }
}

impl Default for Database {
    fn default() -> Self {
        Self::new()
    }
}

impl From<ferrous_core::Database> for Database {
    /// Wraps a core database, installing the Lua engine if it has none.
    fn from(db: ferrous_core::Database) -> Self {
        if db.script_engine().is_none() {
            ferrous_lua::install(&db);
        }
        Database(db)
    }
}

impl Deref for Database {
    type Target = ferrous_core::Database;
    fn deref(&self) -> &ferrous_core::Database {
        &self.0
    }
}

/// Builds a scripting-enabled [`Database`].
pub struct Builder(ferrous_core::Builder);

impl Builder {
    /// Uses `clock` as the time source.
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        Builder(self.0.clock(clock))
    }
    /// Starts from this configuration.
    pub fn config(self, config: Config) -> Self {
        Builder(self.0.config(config))
    }
    /// Enables or disables the active expiry cycle.
    pub fn active_expire(self, on: bool) -> Self {
        Builder(self.0.active_expire(on))
    }
    /// Keeps RDB files in `dir` (see [`ferrous_core::Builder::dir`]).
    pub fn dir(self, dir: impl AsRef<std::path::Path>) -> Self {
        Builder(self.0.dir(dir))
    }
    /// The RDB file name (`dbfilename`).
    pub fn dbfilename(self, name: &str) -> Self {
        Builder(self.0.dbfilename(name))
    }
    /// Save points `(seconds, changes)` (see [`ferrous_core::Builder::save_points`]).
    pub fn save_points(self, points: &[(u64, u64)]) -> Self {
        Builder(self.0.save_points(points))
    }
    /// Builds the database and installs scripting.
    pub fn build(self) -> Database {
        let db = Database::from(self.0.build_only());
        // With files to load, `open` starts the link after loading them.
        if !db.inner().rdb.enabled.load(std::sync::atomic::Ordering::Relaxed) {
            db.start_configured_replication();
        }
        db
    }
    /// Replicates the master at `host:port` (see [`ferrous_core::Builder::replica_of`]).
    pub fn replica_of(self, host: &str, port: u16) -> Self {
        Builder(self.0.replica_of(host, port))
    }
    /// Keeps an append-only file (see [`ferrous_core::Builder::appendonly`]).
    pub fn appendonly(self, on: bool) -> Self {
        Builder(self.0.appendonly(on))
    }
    /// `appendfsync`: `"always"`, `"everysec"` or `"no"`.
    pub fn appendfsync(self, policy: &str) -> Self {
        Builder(self.0.appendfsync(policy))
    }
    /// A memory budget in bytes (see [`ferrous_core::Builder::maxmemory`]).
    pub fn maxmemory(self, bytes: u64) -> Self {
        Builder(self.0.maxmemory(bytes))
    }
    /// What to evict past the budget: `"allkeys-lru"`, `"allkeys-lfu"`, ... (see
    /// [`ferrous_core::Builder::maxmemory_policy`]).
    pub fn maxmemory_policy(self, policy: &str) -> Self {
        Builder(self.0.maxmemory_policy(policy))
    }
    /// Builds, installs scripting, then loads the data files (the AOF with `appendonly`,
    /// else the RDB file) when a directory was given.
    pub fn open(self) -> std::result::Result<Database, PersistError> {
        let db = self.build();
        db.load_data_files()?;
        db.start_configured_replication();
        Ok(db)
    }
}

/// The names most programs need.
pub mod prelude {
    pub use crate::Database;
    pub use ferrous_core::{
        Error, Message, PersistError, RespValue, Result, SetCondition, SetExpiry, SetOptions, Subscription,
    };
}
