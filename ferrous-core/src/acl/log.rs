//! ACL LOG: the security log of denied commands and failed authentications (Redis's
//! `addACLLogEntry`). Similar events within a minute are counted in one entry.
use std::collections::VecDeque;

/// Why something was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The command (`ACL_DENIED_CMD`).
    Command = 1,
    /// A key (`ACL_DENIED_KEY`).
    Key = 2,
    /// AUTH / HELLO with a wrong password or unknown or disabled user.
    Auth = 3,
    /// A Pub/Sub channel (`ACL_DENIED_CHANNEL`).
    Channel = 4,
}

impl Reason {
    /// The name ACL LOG shows.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
            Reason::Channel => "channel",
        }
    }
}

/// Where the denied command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Sent by the client.
    Toplevel,
    /// Queued in, or run by, a transaction.
    Multi,
    /// Called by a script or function.
    Lua,
}

impl Context {
    /// The name ACL LOG shows.
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Occurrences grouped in this entry.
    pub count: u64,
    /// What was denied.
    pub reason: Reason,
    /// Where.
    pub context: Context,
    /// The command's full name, the key, the channel, or AUTH's own name.
    pub object: Vec<u8>,
    /// The user (for auth failures, the name that was tried).
    pub username: Vec<u8>,
    /// Unix time (ms) of the last occurrence.
    pub time_ms: i64,
    /// CLIENT LIST line of the last client involved.
    pub client_info: String,
}

/// Entries within this many milliseconds of each other are grouped.
const GROUPING_MS: i64 = 60_000;
/// How many recent entries are compared with a new one.
const SCANNED: usize = 10;

/// The log, newest entry first.
#[derive(Default)]
pub struct AclLog {
    entries: VecDeque<LogEntry>,
}

impl AclLog {
    /// Adds an event, grouping it with a recent similar entry; keeps at most `max_len`.
    pub fn add(&mut self, e: LogEntry, max_len: usize) {
        let similar = self.entries.iter().take(SCANNED).position(|x| {
            x.reason == e.reason
                && x.context == e.context
                && (x.time_ms - e.time_ms).abs() <= GROUPING_MS
                && x.object == e.object
                && x.username == e.username
        });
        if let Some(i) = similar {
            if let Some(mut m) = self.entries.remove(i) {
                m.count += 1;
                m.time_ms = e.time_ms;
                m.client_info = e.client_info;
                self.entries.push_front(m);
            }
            return;
        }
        self.entries.push_front(e);
        self.entries.truncate(max_len);
    }

    /// The newest `n` entries.
    pub fn newest(&self, n: usize) -> Vec<LogEntry> {
        self.entries.iter().take(n).cloned().collect()
    }

    /// Empties the log (ACL LOG RESET).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object: &str, t: i64) -> LogEntry {
        LogEntry {
            count: 1,
            reason: Reason::Key,
            context: Context::Toplevel,
            object: object.into(),
            username: b"u".to_vec(),
            time_ms: t,
            client_info: String::new(),
        }
    }

    #[test]
    fn groups_and_trims() {
        let mut log = AclLog::default();
        log.add(entry("a", 0), 3);
        log.add(entry("b", 1), 3);
        log.add(entry("a", 2), 3);
        assert_eq!(log.len(), 2);
        assert_eq!(log.newest(1)[0].count, 2);
        log.add(entry("a", 100_000), 3);
        assert_eq!(log.len(), 3);
        log.add(entry("c", 100_001), 3);
        assert_eq!(log.len(), 3);
        assert_eq!(
            log.newest(3).iter().map(|e| e.object.clone()).collect::<Vec<_>>(),
            vec![b"c".to_vec(), b"a".to_vec(), b"a".to_vec()]
        );
    }
}
