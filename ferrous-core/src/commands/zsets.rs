//! Sorted sets: ZADD ZRANGE ... and the blocking BZPOPMIN BZPOPMAX BZMPOP.
use super::Handler;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[];
