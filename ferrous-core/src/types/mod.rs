//! The typed, in-process API: one module per family, each a set of `impl Database` methods
//! plus the access-level operations the command handlers share.
//!
//! Every method runs on the handle's logical database at the current clock time and returns
//! `Result<T, Error>` with Redis's semantics (WRONGTYPE, overflow, ...).

pub mod bitmaps;
pub mod dump;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod keys;
pub mod list;
pub mod set;
pub mod stream;
pub mod strings;
pub mod transactions;
pub mod zset;

pub use crate::commands::sort::{SortOptions, SortOutcome};
pub use bitmaps::{BitOp, BitPosRange, BitRange, BitUnit, BitfieldOp, BitfieldOverflow, BitfieldType};
pub use dump::RestoreOptions;
pub use geo::{GeoAddOptions, GeoFrom, GeoMatch, GeoOrder, GeoSearch, GeoShape, GeoUnit};
pub use keys::{CopyOptions, ExpireCondition, FlushMode, ScanOptions};
pub use stream::{AutoClaim, PendingEntry, StreamEntry, StreamId, StreamReads, Trim, XAddOptions};
pub use strings::{GetExExpiry, Lcs, LcsMatch, SetCondition, SetExpiry, SetOptions};
