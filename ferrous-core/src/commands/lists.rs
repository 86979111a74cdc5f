//! Lists: LPUSH RPUSH LPOP ... and the blocking BLPOP BRPOP BLMOVE BLMPOP BRPOPLPUSH.
use super::Handler;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[];
