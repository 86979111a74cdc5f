//! Configuration: redis.conf directives, their validation, and CONFIG GET/SET.
//!
//! Every directive is declared once in [`DIRECTIVES`] with its type and default. Values are
//! kept in their canonical text form (what CONFIG GET prints: memory sizes in bytes, booleans
//! as yes/no); typed getters parse that text. Settings read on hot paths are mirrored into
//! atomics by the [`Database`](crate::Database) when they change.
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The type of a directive's value.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// An integer within bounds.
    Int(i64, i64),
    /// A memory size (`1gb`, `100mb`, `512k`, plain bytes), within bounds.
    Memory(i64, i64),
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// Any string.
    Str,
    /// `save`: pairs of seconds and changes, or empty.
    Save,
    /// A list of addresses (`bind`).
    List,
}

/// One directive.
#[derive(Debug)]
pub struct Directive {
    /// Canonical name.
    pub name: &'static str,
    /// Other accepted names (`lua-time-limit` for `busy-reply-threshold`).
    pub aliases: &'static [&'static str],
    /// Value type.
    pub kind: Kind,
    /// Default, in canonical form.
    pub default: &'static str,
    /// Only settable at start-up.
    pub immutable: bool,
}

const fn d(name: &'static str, kind: Kind, default: &'static str) -> Directive {
    Directive { name, aliases: &[], kind, default, immutable: false }
}
const fn fixed(name: &'static str, kind: Kind, default: &'static str) -> Directive {
    Directive { name, aliases: &[], kind, default, immutable: true }
}

const MAXMEM_POLICIES: &[&str] =
    &["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"];
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const FSYNC: &[&str] = &["always", "everysec", "no"];
const BIG: i64 = i64::MAX;

/// Every directive Ferrous knows.
pub static DIRECTIVES: &[Directive] = &[
    d("port", Kind::Int(0, 65535), "6379"),
    d("bind", Kind::List, "127.0.0.1 -::1"),
    d("protected-mode", Kind::Bool, "yes"),
    fixed("io-threads", Kind::Int(0, 128), "0"),
    d("maxclients", Kind::Int(1, 1_000_000), "10000"),
    d("timeout", Kind::Int(0, i32::MAX as i64), "0"),
    d("tcp-keepalive", Kind::Int(0, i32::MAX as i64), "300"),
    d("tcp-backlog", Kind::Int(0, i32::MAX as i64), "511"),
    d("requirepass", Kind::Str, ""),
    d("databases", Kind::Int(1, i32::MAX as i64), "16"),
    d("maxmemory", Kind::Memory(0, BIG), "0"),
    d("maxmemory-policy", Kind::Enum(MAXMEM_POLICIES), "noeviction"),
    d("maxmemory-samples", Kind::Int(1, 64), "5"),
    d("proto-max-bulk-len", Kind::Memory(1024 * 1024, BIG), "536870912"),
    d("client-query-buffer-limit", Kind::Memory(1024 * 1024, BIG), "1073741824"),
    d("hz", Kind::Int(1, 500), "10"),
    d("dynamic-hz", Kind::Bool, "yes"),
    d("active-expire-effort", Kind::Int(1, 10), "1"),
    d("loglevel", Kind::Enum(LOGLEVELS), "notice"),
    d("logfile", Kind::Str, ""),
    d("dir", Kind::Str, "."),
    d("dbfilename", Kind::Str, "dump.rdb"),
    d("save", Kind::Save, "3600 1 300 100 60 10000"),
    d("appendonly", Kind::Bool, "no"),
    d("appendfilename", Kind::Str, "appendonly.aof"),
    d("appendfsync", Kind::Enum(FSYNC), "everysec"),
    d("daemonize", Kind::Bool, "no"),
    d("pidfile", Kind::Str, ""),
    Directive {
        name: "busy-reply-threshold",
        aliases: &["lua-time-limit"],
        kind: Kind::Int(0, BIG),
        default: "5000",
        immutable: false,
    },
    d("lazyfree-lazy-user-flush", Kind::Bool, "no"),
    d("lazyfree-lazy-user-del", Kind::Bool, "no"),
    d("lazyfree-lazy-expire", Kind::Bool, "no"),
    d("lazyfree-lazy-eviction", Kind::Bool, "no"),
    d("lazyfree-lazy-server-del", Kind::Bool, "no"),
    d("notify-keyspace-events", Kind::Str, ""),
    d("slowlog-log-slower-than", Kind::Int(-1, BIG), "10000"),
    d("slowlog-max-len", Kind::Int(0, BIG), "128"),
    d("latency-monitor-threshold", Kind::Int(0, BIG), "0"),
    d("list-max-listpack-size", Kind::Int(i32::MIN as i64, i32::MAX as i64), "-2"),
    d("list-compress-depth", Kind::Int(0, i32::MAX as i64), "0"),
    d("hash-max-listpack-entries", Kind::Int(0, BIG), "128"),
    d("hash-max-listpack-value", Kind::Int(0, BIG), "64"),
    d("set-max-intset-entries", Kind::Int(0, BIG), "512"),
    d("zset-max-listpack-entries", Kind::Int(0, BIG), "128"),
    d("zset-max-listpack-value", Kind::Int(0, BIG), "64"),
    d("client-output-buffer-limit", Kind::Str, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
];

/// Looks a directive up by name or alias (case-insensitive).
pub fn directive(name: &str) -> Option<&'static Directive> {
    let lower = name.to_ascii_lowercase();
    DIRECTIVES.iter().find(|d| d.name == lower || d.aliases.contains(&lower.as_str()))
}

/// Parses a memory size the way redis.conf does: `1gb`, `1g` (10^9), `512mb`, `100k`, bytes.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let units: &[(&str, i64)] = &[
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ];
    for (suffix, mul) in units {
        if let Some(num) = lower.strip_suffix(suffix) {
            return num.parse::<i64>().ok()?.checked_mul(*mul);
        }
    }
    lower.parse().ok()
}

/// The current values of every directive.
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config { values: DIRECTIVES.iter().map(|d| (d.name, d.default.to_string())).collect() }
    }
}

impl Config {
    /// Validates and stores a directive given as redis.conf words (`save 900 1 300 10`);
    /// returns the canonical name. `startup` allows immutable directives.
    pub fn set(&mut self, name: &str, args: &[&str], startup: bool) -> Result<&'static str> {
        let dir = directive(name).ok_or_else(|| Error::msg(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'")))?;
        if dir.immutable && !startup {
            return Err(Error::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
                dir.name
            )));
        }
        let value = canonical(dir, args).ok_or_else(|| {
            Error::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - argument couldn't be parsed into an integer",
                dir.name
            ))
        })?;
        self.values.insert(dir.name, value);
        Ok(dir.name)
    }

    /// The canonical text of a directive.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(directive(name)?.name).map(|s| s.as_str())
    }
    /// A directive as an integer (memory sizes in bytes).
    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
    /// A yes/no directive.
    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == Some("yes")
    }
    /// Every (name, value) pair whose name (or alias) matches the glob `pattern`.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for d in DIRECTIVES {
            for name in std::iter::once(&d.name).chain(d.aliases.iter()) {
                if crate::glob::glob_match(pattern, name.as_bytes(), true) {
                    out.push((*name, self.values[d.name].clone()));
                }
            }
        }
        out
    }
}

fn canonical(dir: &Directive, args: &[&str]) -> Option<String> {
    let joined = args.join(" ");
    match dir.kind {
        Kind::Bool => match joined.to_ascii_lowercase().as_str() {
            "yes" => Some("yes".into()),
            "no" => Some("no".into()),
            _ => None,
        },
        Kind::Int(lo, hi) => joined.parse::<i64>().ok().filter(|v| (lo..=hi).contains(v)).map(|v| v.to_string()),
        Kind::Memory(lo, hi) => parse_memory(&joined).filter(|v| (lo..=hi).contains(v) || *v == 0 && lo == 0).map(|v| v.to_string()),
        Kind::Enum(words) => {
            let l = joined.to_ascii_lowercase();
            words.iter().find(|w| **w == l).map(|w| w.to_string())
        }
        Kind::Str => Some(joined),
        Kind::List => Some(args.iter().flat_map(|a| a.split_whitespace()).collect::<Vec<_>>().join(" ")),
        Kind::Save => {
            let parts: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
            if parts.is_empty() || parts == [""] {
                return Some(String::new());
            }
            if parts.len() % 2 != 0 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
                return None;
            }
            Some(parts.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("x"), None);
    }
    #[test]
    fn set_and_get() {
        let mut c = Config::default();
        c.set("maxmemory", &["1mb"], false).unwrap();
        assert_eq!(c.get("maxmemory"), Some("1048576"));
        c.set("lua-time-limit", &["100"], false).unwrap();
        assert_eq!(c.get("busy-reply-threshold"), Some("100"));
        assert!(c.set("io-threads", &["4"], false).is_err());
        assert!(c.set("nope", &["1"], false).is_err());
        c.set("save", &[""], false).unwrap();
        assert_eq!(c.get("save"), Some(""));
    }
}
