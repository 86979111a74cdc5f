//! Append-only file (Redis 7.0 multi-part AOF): a manifest in `appenddirname` lists a base
//! file (an RDB preamble or commands) and incr files of RESP commands.
//!
//! - [`manifest`]: the manifest's syntax and atomic replacement.
//! - [`load`]: start-up loading (base, then incr files replayed through the command table),
//!   `aof-load-truncated`, the upgrade of an old single `appendonly.aof`.
//! - [`rewrite`]: a base file of commands (`aof-use-rdb-preamble no`).
//! - [`writer`]: the propagation stream's consumer (fsync policies, group commit) and the
//!   rewrite (BGREWRITEAOF) on the snapshot service.
pub mod load;
pub mod manifest;
pub mod rewrite;
pub mod writer;
