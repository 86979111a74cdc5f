//! Hashes: HSET HGET HDEL ...
use super::Handler;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[];
