//! The Ferrous database core: an embeddable, thread-safe, Redis-compatible database.
//!
//! ```
//! use ferrous_core::Database;
//! let db = Database::new();
//! db.set("counter", "10").unwrap();
//! assert_eq!(db.incr_by("counter", 5).unwrap(), 15);
//! ```
//!
//! Layout:
//! - [`acl`]: ACL users, their rules, the permission check of every command, ACL LOG.
//! - [`db`]: [`Database`], the handle (clone it freely), its builder and background cycle.
//! - [`keyspace`]: a logical database split into lock-protected shards; expiry index.
//! - [`dict`]: the chained hash table under each shard (SCAN cursors, random sampling).
//! - [`access`]: how operations lock and reach keys; shared by the typed API and commands.
//! - [`value`], [`bytes`]: stored values and the inline small-string type.
//! - [`types`]: the typed API (`db.set`, `db.incr_by`, `db.expire`, `db.scan`, ...).
//! - [`commands`]: the command table (Redis metadata + handlers) and dispatch.
//! - [`client`]: per-connection state and the client registry.
//! - [`notify`]: keyspace notifications.
//! - [`pubsub`]: channels, patterns, in-process subscriptions.
//! - [`scripting`]: the script-engine hook (EVAL/FCALL run atomically through it).
//! - [`tracking`]: client-side caching (CLIENT TRACKING) invalidation table.
//! - [`transaction`]: MULTI/EXEC queue and WATCH registry.
//! - [`blocking`]: the registry of clients blocked on keys (BLPOP...) and how they are served.
//! - [`snapshot`]: point-in-time snapshots without fork, streamed as RDB.
//! - [`persistence`]: SAVE/BGSAVE to `dir/dbfilename`, save points, loading.
//! - [`propagate`]: the ordered stream of writes in Redis's propagated form (AOF, replicas,
//!   `db.changes()`).
//! - [`rdb`]: the RDB codec (Redis's snapshot and DUMP format, bytes <-> values).
//! - [`config`]: redis.conf directives, CONFIG GET/SET; [`config_rewrite`]: CONFIG REWRITE.
//! - [`digest`]: Redis's dataset digest (DEBUG DIGEST / DIGEST-VALUE).
//! - [`slowlog`], [`latency`]: SLOWLOG entries; command timing, per-command latency
//!   histograms and the latency monitor (LATENCY, INFO latencystats).
//! - [`lazyfree`]: values and flushed databases freed on a background thread (UNLINK, ASYNC).
//! - [`glob`]: Redis's glob matcher. [`clock`]: time source. [`error`]: errors.
#![warn(missing_docs)]

pub mod access;
pub mod acl;
pub mod aof;
pub mod blocking;
pub mod bytes;
pub mod client;
pub mod clock;
pub mod commands;
pub mod config;
pub mod config_rewrite;
pub mod db;
pub mod dict;
pub mod digest;
pub mod error;
pub mod evict;
pub mod glob;
pub mod keyspace;
pub mod latency;
pub mod lazyfree;
pub mod long_double;
pub mod memory;
pub mod monitor;
pub mod notify;
pub mod pause;
pub mod persistence;
pub mod propagate;
pub mod pubsub;
pub mod rdb;
pub mod replication;
pub mod scripting;
pub mod slowlog;
pub mod snapshot;
pub mod tracking;
pub mod transaction;
pub(crate) mod ttl_index;
pub mod types;
pub mod util;
pub mod value;

pub use acl::UserHandle;
pub use client::{ClientState, ConnectionInfo};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use db::{Builder, Database, ServerHooks, ShutdownOptions};
pub use error::{Error, Result};
pub use ferrous_resp::Value as RespValue;
pub use persistence::{BgSave, LoadStats, PersistError};
pub use pubsub::{Message, Subscription};
pub use types::*;
