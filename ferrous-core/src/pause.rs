//! CLIENT PAUSE (and the pause FAILOVER takes): while a pause runs, the event loops hold back
//! the commands it covers (every command, or with `WRITE` the ones that may change the
//! dataset or be propagated: writes, `may_replicate` commands such as EVAL and PUBLISH, and
//! EXEC of a transaction) and run them when it ends. Replicas and the master link are never
//! paused. While no pause runs, the cost is one atomic load per command.
use crate::client::ClientState;
use crate::commands::{flags, table};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering::Relaxed};

/// No pause.
pub const PAUSE_NONE: u8 = 0;
/// Writes (and commands that may replicate) wait.
pub const PAUSE_WRITE: u8 = 1;
/// Every command waits.
pub const PAUSE_ALL: u8 = 2;

/// The pause state of a Database.
#[derive(Default)]
pub struct Pause {
    /// Unix ms when the pause ends (0 = none).
    until_ms: AtomicI64,
    kind: AtomicU8,
}

impl Pause {
    /// True while a pause may be running (checked before every command by the server).
    #[inline]
    pub fn active(&self) -> bool {
        self.until_ms.load(Relaxed) != 0
    }

    /// Starts or extends a pause: the longer end and the stricter kind win, as in Redis.
    pub fn pause(&self, until_ms: i64, kind: u8) {
        let now_until = self.until_ms.load(Relaxed);
        if now_until == 0 || until_ms > now_until {
            self.until_ms.store(until_ms, Relaxed);
        }
        self.kind.fetch_max(kind, Relaxed);
    }

    /// Ends the pause.
    pub fn unpause(&self) {
        self.until_ms.store(0, Relaxed);
        self.kind.store(PAUSE_NONE, Relaxed);
    }

    /// The pause kind in force at `now_ms` (ending a pause whose time is up).
    pub fn kind_at(&self, now_ms: i64) -> u8 {
        let until = self.until_ms.load(Relaxed);
        if until == 0 {
            return PAUSE_NONE;
        }
        if now_ms >= until {
            self.unpause();
            return PAUSE_NONE;
        }
        self.kind.load(Relaxed)
    }

    /// Must `client`'s command `name` wait for the pause to end?
    pub fn holds(&self, client: &ClientState, name: &[u8], now_ms: i64) -> bool {
        let kind = self.kind_at(now_ms);
        if kind == PAUSE_NONE || client.info.role.load(Relaxed) != crate::client::ROLE_NORMAL {
            return false;
        }
        if kind == PAUSE_ALL {
            return true;
        }
        match table().get(name) {
            Some(spec) if spec.name == "exec" => client.tx.in_multi(),
            // Redis's internal may-replicate commands, not all flagged in COMMAND INFO.
            Some(spec) => {
                spec.has(flags::WRITE | flags::MAY_REPLICATE)
                    || (spec.has(flags::RUNS_SCRIPT) && !spec.name.ends_with("_ro"))
                    || matches!(spec.name.as_str(), "publish" | "spublish" | "pfcount")
            }
            None => false,
        }
    }
}
