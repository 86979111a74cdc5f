//! Sets: SADD SREM SMEMBERS ...
use super::Handler;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[];
