//! The slow log: commands that ran for at least `slowlog-log-slower-than` microseconds,
//! newest first, at most `slowlog-max-len` of them (SLOWLOG GET / LEN / RESET).
//!
//! Entries are Redis 7.0's: a unique increasing id (never reset, not even by SLOWLOG
//! RESET), the Unix time, the duration in µs, the arguments (at most 32: the last kept slot
//! says `... (N more arguments)`; each at most 128 bytes, followed by `... (N more bytes)`),
//! the client's `ip:port` (`?:0` for clients without a socket: scripts, in-process) and its
//! name. Secrets are redacted as Redis does: AUTH's arguments, HELLO's AUTH credentials,
//! CONFIG SET of `requirepass` / `masterauth` / `masteruser`, and ACL SETUSER's rules.
//!
//! What gets logged is decided after each command by [`crate::latency::after_command`]
//! with the duration measured there; commands flagged `skip_slowlog` (EXEC) never are, the
//! commands EXEC and scripts run are, each on its own.
use crate::client::ClientState;
use crate::commands::CommandSpec;
use ferrous_resp::Args;
use parking_lot::Mutex;
use std::collections::VecDeque;

/// Arguments kept per entry (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
pub const MAX_ARGS: usize = 32;
/// Bytes kept per argument (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
pub const MAX_ARG_BYTES: usize = 128;

/// One logged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowlogEntry {
    /// Unique, increasing id.
    pub id: u64,
    /// Unix time (s) the command was logged at.
    pub time: i64,
    /// How long it ran (µs).
    pub duration: u64,
    /// Its arguments, trimmed and redacted.
    pub args: Vec<Vec<u8>>,
    /// The client's `ip:port`.
    pub peer: String,
    /// The client's name (empty if none).
    pub name: Vec<u8>,
}

/// A database's slow log.
#[derive(Debug, Default)]
pub struct SlowLog {
    inner: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    /// Newest first.
    entries: VecDeque<SlowlogEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Logs a command that ran for `usec`, keeping at most `max_len` entries.
    pub fn push(&self, client: &ClientState, spec: &CommandSpec, args: &Args<'_>, usec: u64, max_len: i64) {
        let argv: Vec<&[u8]> = args.iter().collect();
        let peer = if client.info.addr.is_empty() { "?:0".to_string() } else { client.info.addr.clone() };
        let name = client.info.name.lock().clone();
        self.push_entry(&spec.name, &argv, usec, peer, name, max_len);
    }

    /// [`SlowLog::push`] with the parts spelled out (`command`: the full lower-case name).
    pub fn push_entry(&self, command: &str, argv: &[&[u8]], usec: u64, peer: String, name: Vec<u8>, max_len: i64) {
        let args = entry_args(command, argv);
        let time = crate::latency::unix_now();
        let mut log = self.inner.lock();
        let id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(SlowlogEntry { id, time, duration: usec, args, peer, name });
        let max = usize::try_from(max_len).unwrap_or(0);
        log.entries.truncate(max);
    }

    /// The newest `count` entries (all of them for `None`).
    pub fn get(&self, count: Option<usize>) -> Vec<SlowlogEntry> {
        let log = self.inner.lock();
        let n = count.unwrap_or(usize::MAX).min(log.entries.len());
        log.entries.iter().take(n).cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (ids keep counting).
    pub fn reset(&self) {
        self.inner.lock().entries.clear();
    }
}

const REDACTED: &[u8] = b"(redacted)";

/// Configuration directives whose values are secrets (Redis's `SENSITIVE_CONFIG`).
fn sensitive_config(name: &[u8]) -> bool {
    ["requirepass", "masterauth", "masteruser"].iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// Which arguments Redis redacts for this command (it overwrites them in the client's
/// argument vector while running the command, so the slow log and MONITOR never see them).
fn redacted(command: &str, argv: &[&[u8]]) -> Vec<bool> {
    let mut hide = vec![false; argv.len()];
    match command {
        // AUTH with too many arguments fails before redacting.
        "auth" if argv.len() <= 3 => hide.iter_mut().skip(1).for_each(|h| *h = true),
        "hello" => {
            let mut i = 2;
            while i < argv.len() {
                if argv[i].eq_ignore_ascii_case(b"auth") && i + 2 < argv.len() {
                    hide[i + 1] = true;
                    hide[i + 2] = true;
                    i += 3;
                } else if argv[i].eq_ignore_ascii_case(b"setname") {
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
        // An odd count fails the arity check before anything is redacted.
        "config|set" if argv.len() % 2 == 0 => {
            let mut i = 2;
            while i + 1 < argv.len() {
                if sensitive_config(argv[i]) {
                    hide[i + 1] = true;
                }
                i += 2;
            }
        }
        "acl|setuser" => hide.iter_mut().skip(2).for_each(|h| *h = true),
        "migrate" => {
            for i in 6..argv.len() {
                if argv[i].eq_ignore_ascii_case(b"auth") && i + 1 < argv.len() {
                    hide[i + 1] = true;
                } else if argv[i].eq_ignore_ascii_case(b"auth2") && i + 2 < argv.len() {
                    hide[i + 1] = true;
                    hide[i + 2] = true;
                }
            }
        }
        _ => {}
    }
    hide
}

/// The arguments as an entry keeps them: redacted, at most [`MAX_ARGS`], each at most
/// [`MAX_ARG_BYTES`].
fn entry_args(command: &str, argv: &[&[u8]]) -> Vec<Vec<u8>> {
    let hide = redacted(command, argv);
    let kept = argv.len().min(MAX_ARGS);
    (0..kept)
        .map(|j| {
            if kept != argv.len() && j == kept - 1 {
                format!("... ({} more arguments)", argv.len() - kept + 1).into_bytes()
            } else if hide[j] {
                REDACTED.to_vec()
            } else if argv[j].len() > MAX_ARG_BYTES {
                let mut a = argv[j][..MAX_ARG_BYTES].to_vec();
                a.extend_from_slice(format!("... ({} more bytes)", argv[j].len() - MAX_ARG_BYTES).as_bytes());
                a
            } else {
                argv[j].to_vec()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_arguments_and_bytes() {
        let long = vec![b'a'; 200];
        let args = entry_args("set", &[b"set", b"k", &long]);
        assert_eq!(args[2].len(), 128 + "... (72 more bytes)".len());
        assert!(args[2].ends_with(b"... (72 more bytes)"));
        let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = many.iter().map(|v| &v[..]).collect();
        let args = entry_args("rpush", &refs);
        assert_eq!(args.len(), 32);
        assert_eq!(args[30], b"30");
        assert_eq!(args[31], b"... (9 more arguments)");
    }

    #[test]
    fn redacts_secrets() {
        assert_eq!(
            entry_args("auth", &[b"auth", b"u", b"p"]),
            vec![b"auth".to_vec(), REDACTED.to_vec(), REDACTED.to_vec()]
        );
        let h = entry_args("hello", &[b"hello", b"3", b"AUTH", b"u", b"p", b"SETNAME", b"n"]);
        assert_eq!(h[3], REDACTED);
        assert_eq!(h[4], REDACTED);
        assert_eq!(h[6], b"n");
        let c = entry_args("config|set", &[b"config", b"set", b"maxmemory", b"1", b"REQUIREPASS", b"x"]);
        assert_eq!(c[3], b"1");
        assert_eq!(c[5], REDACTED);
    }

    #[test]
    fn newest_first_bounded() {
        let log = SlowLog::default();
        for i in 0..5u64 {
            log.push_entry("get", &[b"get", i.to_string().as_bytes()], i, "?:0".into(), vec![], 3);
        }
        let e = log.get(None);
        assert_eq!(e.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4, 3, 2]);
        assert_eq!(log.get(Some(1)).len(), 1);
        log.reset();
        assert!(log.is_empty());
        log.push_entry("get", &[b"get"], 1, "?:0".into(), vec![], 3);
        assert_eq!(log.get(None)[0].id, 5);
    }
}
