//! Ferrous: a Redis-compatible in-memory database, embeddable as a library.
//!
//! ```
//! use ferrous::prelude::*;
//! let db = Database::new();
//! db.set("user:1:name", "Ada").unwrap();
//! assert_eq!(db.get("user:1:name").unwrap().as_deref(), Some(&b"Ada"[..]));
//! ```
//!
//! This crate re-exports [`ferrous_core`] (the database) and [`ferrous_resp`] (the wire
//! codec); the `ferrous` binary in this package is the server.
#![warn(missing_docs)]

pub use ferrous_core::*;
pub use ferrous_resp as resp;

/// The names most programs need.
pub mod prelude {
    pub use ferrous_core::{Database, Error, RespValue, Result, SetCondition, SetExpiry, SetOptions};
}
