//! Configuration: redis.conf directives, their validation, and the data behind CONFIG GET/SET.
//!
//! Every directive of Redis 7.0 is declared once in [`DIRECTIVES`] with its type, bounds,
//! default and flags (immutable, protected, hidden, multi-argument), taken from Redis's
//! `config.c` table, so CONFIG GET lists the same names and CONFIG SET validates with the
//! same rules and error texts. Values are kept in their canonical text form (what CONFIG GET
//! prints: memory sizes in bytes, booleans as `yes`/`no`, enums lower-case); typed getters
//! parse that text. Settings read on hot paths are mirrored into atomics by the
//! [`Database`](crate::Database) when they change (see `Inner::apply_config_mirrors`).
//!
//! A directive Ferrous accepts but does not act on (most replication, cluster and defrag
//! tuning) is still stored and shown, as Redis shows it, so tools that read or write it keep
//! working.
//!
//! Deliberate differences from Redis's built-in defaults, because the server binary wants
//! them: `bind` defaults to loopback (`127.0.0.1 -::1`), `io-threads` 0 means "one event
//! loop per core but one (at least one)", and `dir` is the working directory at start-up (shown absolute).
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The type of a directive's value, with Redis's parsing and bounds rules.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no` (case-insensitive).
    Bool,
    /// A signed integer (`string2ll`) within bounds.
    Int(i64, i64),
    /// An unsigned integer: parsed as a signed one, compared as unsigned (so `-1` is out of
    /// range rather than a parse error, as in Redis).
    UInt(u64, u64),
    /// A memory size (`1gb`, `100mb`, `512k`, plain bytes) of a signed type, within bounds.
    Memory(i64, i64),
    /// A memory size of an unsigned type, within bounds.
    UMemory(u64, u64),
    /// A memory size, or a percentage (`10%`, at most the given value).
    MemoryOrPercent(i64),
    /// One of a fixed set of words; `(accepted, canonical)` pairs let an alias word show
    /// as its canonical name (`oom-score-adj relative` shows as `yes`).
    Enum(&'static [(&'static str, &'static str)]),
    /// A space-separated set of flag words (`shutdown-on-sigint nosave now`).
    Flags(&'static [&'static str]),
    /// Any string.
    Str,
    /// A directive with its own syntax.
    Special(Special),
}

/// Directives whose values have their own syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `save`: pairs of seconds and changes, or empty.
    Save,
    /// `bind`: addresses.
    Bind,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>` groups.
    ClientOutputBufferLimit,
    /// `oom-score-adj-values`: three integers.
    OomScoreAdjValues,
    /// `notify-keyspace-events`: event class characters.
    NotifyKeyspaceEvents,
    /// `dir`: an existing directory.
    Dir,
    /// `replicaof`: `<host> <port>` or `no one`.
    ReplicaOf,
    /// `latency-tracking-info-percentiles`: floats between 0 and 100.
    LatencyPercentiles,
}

/// Directive flags (Redis's `*_CONFIG` flags).
pub mod flags {
    /// Only settable at start-up.
    pub const IMMUTABLE: u8 = 1 << 0;
    /// Not settable at run time unless `enable-protected-configs` allows it.
    pub const PROTECTED: u8 = 1 << 1;
    /// Not listed by a CONFIG GET glob; only by its exact name.
    pub const HIDDEN: u8 = 1 << 2;
    /// Takes several arguments in redis.conf (CONFIG SET splits its value on spaces).
    pub const MULTI_ARG: u8 = 1 << 3;
}

/// Extra validation of a parsed value: `Err` carries Redis's reason text.
pub type Check = fn(&str) -> std::result::Result<(), &'static str>;

/// One directive.
#[derive(Debug)]
pub struct Directive {
    /// Canonical name.
    pub name: &'static str,
    /// The other accepted name (`lua-time-limit` for `busy-reply-threshold`), listed by
    /// CONFIG GET as a directive of its own.
    pub alias: Option<&'static str>,
    /// Value type.
    pub kind: Kind,
    /// Default, in canonical form.
    pub default: &'static str,
    /// [`flags`] bits.
    pub flags: u8,
    /// Extra validation of an already parsed value (Redis's `is_valid_fn`).
    pub check: Option<Check>,
}

impl Directive {
    const fn new(name: &'static str, kind: Kind, default: &'static str) -> Directive {
        Directive { name, alias: None, kind, default, flags: 0, check: None }
    }
    const fn alias(mut self, alias: &'static str) -> Directive {
        self.alias = Some(alias);
        self
    }
    const fn flags(mut self, flags: u8) -> Directive {
        self.flags |= flags;
        self
    }
    const fn check(mut self, f: Check) -> Directive {
        self.check = Some(f);
        self
    }
    /// True if the flag bit is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
    /// Only settable at start-up.
    pub fn immutable(&self) -> bool {
        self.has(flags::IMMUTABLE)
    }
}

const fn bool_(name: &'static str, default: bool) -> Directive {
    Directive::new(name, Kind::Bool, if default { "yes" } else { "no" })
}
const fn int(name: &'static str, lo: i64, hi: i64, default: &'static str) -> Directive {
    Directive::new(name, Kind::Int(lo, hi), default)
}
const fn uint(name: &'static str, lo: u64, hi: u64, default: &'static str) -> Directive {
    Directive::new(name, Kind::UInt(lo, hi), default)
}
const fn mem(name: &'static str, lo: i64, hi: i64, default: &'static str) -> Directive {
    Directive::new(name, Kind::Memory(lo, hi), default)
}
const fn umem(name: &'static str, lo: u64, hi: u64, default: &'static str) -> Directive {
    Directive::new(name, Kind::UMemory(lo, hi), default)
}
const fn string(name: &'static str, default: &'static str) -> Directive {
    Directive::new(name, Kind::Str, default)
}
const fn enum_(name: &'static str, words: &'static [(&'static str, &'static str)], default: &'static str) -> Directive {
    Directive::new(name, Kind::Enum(words), default)
}
const fn special(name: &'static str, s: Special, default: &'static str) -> Directive {
    Directive::new(name, Kind::Special(s), default)
}

use flags::{HIDDEN, IMMUTABLE, MULTI_ARG, PROTECTED};

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: u64 = u32::MAX as u64;
const LONG_MAX: i64 = i64::MAX;

macro_rules! words {
    ($($w:literal),* $(,)?) => { &[$(($w, $w)),*] };
}

const MAXMEMORY_POLICIES: &[(&str, &str)] = words!(
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction"
);
const LOGLEVELS: &[(&str, &str)] = words!("debug", "verbose", "notice", "warning");
const FSYNC: &[(&str, &str)] = words!("everysec", "always", "no");
const SUPERVISED: &[(&str, &str)] = words!("upstart", "systemd", "auto", "no");
const SYSLOG_FACILITY: &[(&str, &str)] =
    words!("user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7");
const DISKLESS_LOAD: &[(&str, &str)] = words!("disabled", "on-empty-db", "swapdb");
const OOM_SCORE_ADJ: &[(&str, &str)] = &[("no", "no"), ("yes", "yes"), ("relative", "yes"), ("absolute", "absolute")];
const ACL_PUBSUB_DEFAULT: &[(&str, &str)] = words!("allchannels", "resetchannels");
const SANITIZE_DUMP: &[(&str, &str)] = words!("no", "yes", "clients");
const PROTECTED_ACTION: &[(&str, &str)] = words!("no", "yes", "local");
const ENDPOINT_TYPE: &[(&str, &str)] = words!("ip", "hostname", "unknown-endpoint");
const PROPAGATION_ERROR: &[(&str, &str)] = words!("ignore", "panic", "panic-on-replicas");
const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];

fn no_active_defrag(v: &str) -> std::result::Result<(), &'static str> {
    if v == "yes" {
        return Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution");
    }
    Ok(())
}

fn shutdown_flags_valid(v: &str) -> std::result::Result<(), &'static str> {
    let words: Vec<&str> = v.split(' ').collect();
    if words.contains(&"save") && words.contains(&"nosave") {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously");
    }
    Ok(())
}

fn base_name(v: &str) -> bool {
    !v.contains('/')
}

fn dbfilename_valid(v: &str) -> std::result::Result<(), &'static str> {
    if !base_name(v) {
        return Err("dbfilename can't be a path, just a filename");
    }
    Ok(())
}

fn appendfilename_valid(v: &str) -> std::result::Result<(), &'static str> {
    if v.is_empty() {
        return Err("appendfilename can't be empty");
    }
    if !base_name(v) {
        return Err("appendfilename can't be a path, just a filename");
    }
    Ok(())
}

fn appenddirname_valid(v: &str) -> std::result::Result<(), &'static str> {
    if v.is_empty() {
        return Err("appenddirname can't be empty");
    }
    if !base_name(v) {
        return Err("appenddirname can't be a path, just a dirname");
    }
    Ok(())
}

/// Every directive of Redis 7.0 (without TLS), in Redis's table order.
pub static DIRECTIVES: &[Directive] = &[
    // Booleans.
    bool_("rdbchecksum", true).flags(IMMUTABLE),
    bool_("daemonize", false).flags(IMMUTABLE),
    bool_("io-threads-do-reads", false).flags(IMMUTABLE),
    bool_("always-show-logo", false).flags(IMMUTABLE),
    bool_("protected-mode", true),
    bool_("rdbcompression", true),
    bool_("rdb-del-sync-files", false),
    bool_("activerehashing", true),
    bool_("stop-writes-on-bgsave-error", true),
    bool_("set-proc-title", true).flags(IMMUTABLE),
    bool_("dynamic-hz", true),
    bool_("lazyfree-lazy-eviction", false),
    bool_("lazyfree-lazy-expire", false),
    bool_("lazyfree-lazy-server-del", false),
    bool_("lazyfree-lazy-user-del", false),
    bool_("lazyfree-lazy-user-flush", false),
    bool_("repl-disable-tcp-nodelay", false),
    bool_("repl-diskless-sync", true),
    bool_("aof-rewrite-incremental-fsync", true),
    bool_("no-appendfsync-on-rewrite", false),
    bool_("cluster-require-full-coverage", true),
    bool_("rdb-save-incremental-fsync", true),
    bool_("aof-load-truncated", true),
    bool_("aof-use-rdb-preamble", true),
    bool_("aof-timestamp-enabled", false),
    bool_("cluster-replica-no-failover", false).alias("cluster-slave-no-failover"),
    bool_("replica-lazy-flush", false).alias("slave-lazy-flush"),
    bool_("replica-serve-stale-data", true).alias("slave-serve-stale-data"),
    bool_("replica-read-only", true).alias("slave-read-only"),
    bool_("replica-ignore-maxmemory", true).alias("slave-ignore-maxmemory"),
    bool_("jemalloc-bg-thread", true),
    bool_("activedefrag", false).check(no_active_defrag),
    bool_("syslog-enabled", false).flags(IMMUTABLE),
    bool_("cluster-enabled", false).flags(IMMUTABLE),
    bool_("appendonly", false),
    bool_("cluster-allow-reads-when-down", false),
    bool_("cluster-allow-pubsubshard-when-down", true),
    bool_("crash-log-enabled", true),
    bool_("crash-memcheck-enabled", true),
    bool_("use-exit-on-panic", false).flags(HIDDEN),
    bool_("disable-thp", true),
    bool_("cluster-allow-replica-migration", true),
    bool_("replica-announced", true),
    bool_("latency-tracking", true),
    bool_("aof-disable-auto-gc", false),
    bool_("replica-ignore-disk-write-errors", false),
    // Strings.
    string("aclfile", "").flags(IMMUTABLE),
    string("unixsocket", "").flags(IMMUTABLE),
    string("pidfile", "").flags(IMMUTABLE),
    string("replica-announce-ip", "").alias("slave-announce-ip"),
    string("masteruser", ""),
    string("cluster-announce-ip", ""),
    string("cluster-config-file", "nodes.conf").flags(IMMUTABLE),
    string("cluster-announce-hostname", ""),
    string("syslog-ident", "redis").flags(IMMUTABLE),
    string("dbfilename", "dump.rdb").flags(PROTECTED).check(dbfilename_valid),
    string("appendfilename", "appendonly.aof").flags(IMMUTABLE).check(appendfilename_valid),
    string("appenddirname", "appendonlydir").flags(IMMUTABLE).check(appenddirname_valid),
    string("server_cpulist", "").flags(IMMUTABLE),
    string("bio_cpulist", "").flags(IMMUTABLE),
    string("aof_rewrite_cpulist", "").flags(IMMUTABLE),
    string("bgsave_cpulist", "").flags(IMMUTABLE),
    string("ignore-warnings", ""),
    string("proc-title-template", "{title} {listen-addr} {server-mode}"),
    string("bind-source-addr", ""),
    string("logfile", "").flags(IMMUTABLE),
    string("masterauth", ""),
    string("requirepass", ""),
    // Enums.
    enum_("supervised", SUPERVISED, "no").flags(IMMUTABLE),
    enum_("syslog-facility", SYSLOG_FACILITY, "local0").flags(IMMUTABLE),
    enum_("repl-diskless-load", DISKLESS_LOAD, "disabled"),
    enum_("loglevel", LOGLEVELS, "notice"),
    enum_("maxmemory-policy", MAXMEMORY_POLICIES, "noeviction"),
    enum_("appendfsync", FSYNC, "everysec"),
    enum_("oom-score-adj", OOM_SCORE_ADJ, "no"),
    enum_("acl-pubsub-default", ACL_PUBSUB_DEFAULT, "resetchannels"),
    enum_("sanitize-dump-payload", SANITIZE_DUMP, "no"),
    enum_("enable-protected-configs", PROTECTED_ACTION, "no").flags(IMMUTABLE),
    enum_("enable-debug-command", PROTECTED_ACTION, "no").flags(IMMUTABLE),
    enum_("enable-module-command", PROTECTED_ACTION, "no").flags(IMMUTABLE),
    enum_("cluster-preferred-endpoint-type", ENDPOINT_TYPE, "ip"),
    enum_("propagation-error-behavior", PROPAGATION_ERROR, "ignore"),
    Directive::new("shutdown-on-sigint", Kind::Flags(SHUTDOWN_FLAGS), "default")
        .flags(MULTI_ARG)
        .check(shutdown_flags_valid),
    Directive::new("shutdown-on-sigterm", Kind::Flags(SHUTDOWN_FLAGS), "default")
        .flags(MULTI_ARG)
        .check(shutdown_flags_valid),
    // Integers.
    int("databases", 1, INT_MAX, "16").flags(IMMUTABLE),
    int("port", 0, 65535, "6379"),
    int("io-threads", 0, 128, "0").flags(IMMUTABLE),
    int("auto-aof-rewrite-percentage", 0, INT_MAX, "100"),
    int("cluster-replica-validity-factor", 0, INT_MAX, "10").alias("cluster-slave-validity-factor"),
    int("list-max-listpack-size", INT_MIN, INT_MAX, "-2").alias("list-max-ziplist-size"),
    int("tcp-keepalive", 0, INT_MAX, "300"),
    int("cluster-migration-barrier", 0, INT_MAX, "1"),
    int("active-defrag-cycle-min", 1, 99, "1"),
    int("active-defrag-cycle-max", 1, 99, "25"),
    int("active-defrag-threshold-lower", 0, 1000, "10"),
    int("active-defrag-threshold-upper", 0, 1000, "100"),
    int("lfu-log-factor", 0, INT_MAX, "10"),
    int("lfu-decay-time", 0, INT_MAX, "1"),
    int("replica-priority", 0, INT_MAX, "100").alias("slave-priority"),
    int("repl-diskless-sync-delay", 0, INT_MAX, "5"),
    int("maxmemory-samples", 1, INT_MAX, "5"),
    int("maxmemory-eviction-tenacity", 0, 100, "10"),
    int("timeout", 0, INT_MAX, "0"),
    int("replica-announce-port", 0, 65535, "0").alias("slave-announce-port"),
    int("tcp-backlog", 0, INT_MAX, "511").flags(IMMUTABLE),
    int("cluster-port", 0, 65535, "0").flags(IMMUTABLE),
    int("cluster-announce-bus-port", 0, 65535, "0"),
    int("cluster-announce-port", 0, 65535, "0"),
    int("cluster-announce-tls-port", 0, 65535, "0"),
    int("repl-timeout", 1, INT_MAX, "60"),
    int("repl-ping-replica-period", 1, INT_MAX, "10").alias("repl-ping-slave-period"),
    int("list-compress-depth", 0, INT_MAX, "0"),
    int("rdb-key-save-delay", INT_MIN, INT_MAX, "0").flags(HIDDEN),
    int("key-load-delay", INT_MIN, INT_MAX, "0").flags(HIDDEN),
    int("active-expire-effort", 1, 10, "1"),
    int("hz", 0, INT_MAX, "10"),
    int("min-replicas-to-write", 0, INT_MAX, "0").alias("min-slaves-to-write"),
    int("min-replicas-max-lag", 0, INT_MAX, "10").alias("min-slaves-max-lag"),
    int("watchdog-period", 0, INT_MAX, "0").flags(HIDDEN),
    int("shutdown-timeout", 0, INT_MAX, "10"),
    int("repl-diskless-sync-max-replicas", 0, INT_MAX, "0"),
    uint("maxclients", 1, UINT_MAX, "10000"),
    uint("socket-mark-id", 0, UINT_MAX, "0").flags(IMMUTABLE),
    uint("unixsocketperm", 0, 0o777, "0").flags(IMMUTABLE),
    uint("active-defrag-max-scan-fields", 1, LONG_MAX as u64, "1000"),
    uint("slowlog-max-len", 0, LONG_MAX as u64, "128"),
    uint("acllog-max-len", 0, LONG_MAX as u64, "128"),
    int("busy-reply-threshold", 0, LONG_MAX, "5000").alias("lua-time-limit"),
    // Ferrous's own, read when the server starts: the Lua engine's memory limit per state
    // (0: none) and instruction limit per script (0: none).
    umem("lua-memory-limit", 0, LONG_MAX as u64, "52428800").flags(IMMUTABLE),
    uint("lua-instruction-limit", 0, LONG_MAX as u64, "0").flags(IMMUTABLE),
    int("cluster-node-timeout", 0, LONG_MAX, "15000"),
    int("slowlog-log-slower-than", -1, LONG_MAX, "10000"),
    int("latency-monitor-threshold", 0, LONG_MAX, "0"),
    mem("proto-max-bulk-len", 1024 * 1024, LONG_MAX, "536870912"),
    int("stream-node-max-entries", 0, LONG_MAX, "100"),
    mem("repl-backlog-size", 1, LONG_MAX, "1048576"),
    umem("maxmemory", 0, u64::MAX, "0"),
    umem("cluster-link-sendbuf-limit", 0, u64::MAX, "0"),
    uint("hash-max-listpack-entries", 0, LONG_MAX as u64, "512").alias("hash-max-ziplist-entries"),
    uint("set-max-intset-entries", 0, LONG_MAX as u64, "512"),
    uint("zset-max-listpack-entries", 0, LONG_MAX as u64, "128").alias("zset-max-ziplist-entries"),
    umem("active-defrag-ignore-bytes", 1, LONG_MAX as u64, "104857600"),
    umem("hash-max-listpack-value", 0, LONG_MAX as u64, "64").alias("hash-max-ziplist-value"),
    umem("stream-node-max-bytes", 0, LONG_MAX as u64, "4096"),
    umem("zset-max-listpack-value", 0, LONG_MAX as u64, "64").alias("zset-max-ziplist-value"),
    umem("hll-sparse-max-bytes", 0, LONG_MAX as u64, "3000"),
    uint("tracking-table-max-keys", 0, LONG_MAX as u64, "1000000"),
    umem("client-query-buffer-limit", 1024 * 1024, LONG_MAX as u64, "1073741824"),
    Directive::new("maxmemory-clients", Kind::MemoryOrPercent(100), "0"),
    int("repl-backlog-ttl", 0, LONG_MAX, "3600"),
    mem("auto-aof-rewrite-min-size", 0, LONG_MAX, "67108864"),
    int("loading-process-events-interval-bytes", 1024, INT_MAX, "2097152").flags(HIDDEN),
    // Special syntax.
    special("dir", Special::Dir, ".").flags(PROTECTED),
    special("save", Special::Save, "3600 1 300 100 60 10000").flags(MULTI_ARG),
    special(
        "client-output-buffer-limit",
        Special::ClientOutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    )
    .flags(MULTI_ARG),
    special("oom-score-adj-values", Special::OomScoreAdjValues, "0 200 800").flags(MULTI_ARG),
    special("notify-keyspace-events", Special::NotifyKeyspaceEvents, ""),
    special("bind", Special::Bind, "127.0.0.1 -::1").flags(MULTI_ARG),
    special("replicaof", Special::ReplicaOf, "").alias("slaveof").flags(IMMUTABLE | MULTI_ARG),
    special("latency-tracking-info-percentiles", Special::LatencyPercentiles, "50 99 99.9").flags(MULTI_ARG),
];

/// Looks a directive up by name or alias (case-insensitive).
pub fn directive(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name)))
}

/// Parses a memory size the way redis.conf does (Redis's `memtoull`): digits with an
/// optional unit `b`, `k` (10^3), `kb` (2^10), `m`, `mb`, `g`, `gb` (case-insensitive).
/// An empty number is 0 and an overflowing one saturates, as in Redis.
pub fn parse_memory_u64(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    let (num, unit) = s.split_at(digits);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n = if num.is_empty() { 0 } else { num.parse::<u64>().unwrap_or(u64::MAX) };
    Some(n.wrapping_mul(mul))
}

/// [`parse_memory_u64`] for values that must fit an `i64`.
pub fn parse_memory(s: &str) -> Option<i64> {
    parse_memory_u64(s).and_then(|v| i64::try_from(v).ok())
}

/// The current values of every directive.
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
    /// The configuration file the server was started with (CONFIG REWRITE, INFO's
    /// `config_file`), absolute.
    file: Option<std::path::PathBuf>,
    /// A `save` line was read at start-up: later ones add save points (as Redis reads
    /// several `save` lines of a file) instead of replacing them.
    save_loaded: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: DIRECTIVES.iter().map(|d| (d.name, d.default.to_string())).collect(),
            file: None,
            save_loaded: false,
        }
    }
}

/// Why a value was refused, in Redis's words (the text after `... - `).
pub type Refusal = std::borrow::Cow<'static, str>;

/// Redis's CONFIG SET error for a value refused with `why`.
pub fn set_failed(name: &str, why: &str) -> Error {
    Error::msg(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"))
}

impl Config {
    /// Validates and stores a directive given as redis.conf words (`save 900 1 300 10`);
    /// returns the canonical name. `startup` allows immutable and protected directives and
    /// checks the argument count as redis.conf does.
    pub fn set(&mut self, name: &str, args: &[&str], startup: bool) -> Result<&'static str> {
        let dir = directive(name).ok_or_else(|| {
            Error::msg(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"))
        })?;
        if !startup && dir.immutable() {
            return Err(set_failed(name, "can't set immutable config"));
        }
        if !startup && dir.has(PROTECTED) {
            return Err(set_failed(name, "can't set protected config"));
        }
        let joined;
        let words: Vec<&str> = if dir.has(MULTI_ARG) {
            if startup {
                args.iter().flat_map(|a| a.split(' ')).collect()
            } else {
                joined = args.join(" ");
                joined.split(' ').collect()
            }
        } else {
            if startup && args.len() != 1 {
                return Err(set_failed(dir.name, "wrong number of arguments"));
            }
            vec![args.first().copied().unwrap_or("")]
        };
        let shown = name_as_listed(dir, name);
        let mut value = if matches!(dir.kind, Kind::Special(Special::ClientOutputBufferLimit)) {
            // Classes not named keep their current limits.
            let current = self.values.get(dir.name).map(|s| s.as_str()).unwrap_or(dir.default);
            client_output_buffer_limit(current, &words).map_err(|why| set_failed(shown, &why))?
        } else {
            canonical(dir, &words).map_err(|why| set_failed(shown, &why))?
        };
        if startup && matches!(dir.kind, Kind::Special(Special::Save)) {
            // The first `save` line read replaces the defaults; the next ones add to it.
            let previous = self.values.get(dir.name).filter(|_| self.save_loaded);
            if let Some(previous) = previous.filter(|p| !p.is_empty() && !value.is_empty()) {
                value = format!("{previous} {value}");
            }
            self.save_loaded = true;
        }
        if dir.name == "hz" {
            // Redis clamps the configured frequency to 1..=500 and shows the clamped value.
            value = value.parse::<i64>().unwrap_or(10).clamp(1, 500).to_string();
        }
        self.values.insert(dir.name, value);
        Ok(dir.name)
    }

    /// Sets a directive from a CONFIG SET value (one string, split on spaces for
    /// multi-argument directives). Immutable and protected directives are refused.
    pub fn set_value(&mut self, name: &str, value: &str) -> Result<&'static str> {
        self.set(name, &[value], false)
    }

    /// The canonical text of a directive.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Fast path: a canonical name (what code asks for); aliases and odd case go
        // through the directive table.
        if let Some(v) = self.values.get(name) {
            return Some(v.as_str());
        }
        self.values.get(directive(name)?.name).map(|s| s.as_str())
    }
    /// A directive as an integer (memory sizes in bytes; values above `i64::MAX` saturate,
    /// anything not numeric is 0).
    pub fn get_i64(&self, name: &str) -> i64 {
        let Some(v) = self.get(name) else { return 0 };
        v.parse::<i64>()
            .ok()
            .or_else(|| v.parse::<u64>().ok().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
            .unwrap_or(0)
    }
    /// A yes/no directive.
    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == Some("yes")
    }
    /// Start-up reading is over: a `save` given now replaces the save points (CONFIG SET)
    /// instead of adding to those of earlier `save` lines.
    pub fn finish_loading(&mut self) {
        self.save_loaded = false;
    }
    /// The configuration file the server was started with, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }
    /// Records the configuration file the server was started with (made absolute).
    pub fn set_file(&mut self, path: &std::path::Path) {
        self.file = Some(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    }
    /// The value CONFIG GET shows for a directive (only `dir` differs from the stored text:
    /// it is shown as an absolute path, as Redis shows its working directory).
    pub fn shown(&self, d: &Directive) -> String {
        let v = self.values.get(d.name).cloned().unwrap_or_default();
        if matches!(d.kind, Kind::Special(Special::Dir)) {
            return std::fs::canonicalize(&v).map(|p| p.to_string_lossy().into_owned()).unwrap_or(v);
        }
        v
    }
    /// Every (name, value) pair matching any of `patterns`, as CONFIG GET lists them: a
    /// glob matches names and aliases (each listed once, hidden directives only by exact
    /// name); a pattern without glob characters is looked up directly and listed under the
    /// spelling it was given.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen: std::collections::HashSet<&'static str> = std::collections::HashSet::new();
        for p in patterns {
            if p.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
                continue;
            }
            let name = String::from_utf8_lossy(p);
            if let Some(d) = directive(&name) {
                let listed = if d.name.eq_ignore_ascii_case(&name) { d.name } else { d.alias.unwrap_or(d.name) };
                if seen.insert(listed) {
                    out.push((name.into_owned(), self.shown(d)));
                }
            }
        }
        let globs: Vec<&[u8]> =
            patterns.iter().copied().filter(|p| p.iter().any(|c| matches!(c, b'*' | b'?' | b'['))).collect();
        if globs.is_empty() {
            return out;
        }
        for d in DIRECTIVES.iter().filter(|d| !d.has(HIDDEN)) {
            for listed in std::iter::once(d.name).chain(d.alias) {
                let hit = globs.iter().any(|p| crate::glob::glob_match(p, listed.as_bytes(), true));
                if hit && seen.insert(listed) {
                    out.push((listed.to_string(), self.shown(d)));
                }
            }
        }
        out
    }
}

/// The name under which an error about `given` is reported: the directive or alias that
/// `given` names, lower-case (Redis reports its table entry's name).
fn name_as_listed(d: &'static Directive, given: &str) -> &'static str {
    match d.alias {
        Some(a) if a.eq_ignore_ascii_case(given) => a,
        _ => d.name,
    }
}

fn bounds_error_signed(lo: i64, hi: i64) -> Refusal {
    format!("argument must be between {lo} and {hi} inclusive").into()
}

fn bounds_error_unsigned(lo: u64, hi: u64, octal: bool) -> Refusal {
    if octal {
        format!("argument must be between {lo:o} and {hi:o} inclusive").into()
    } else {
        format!("argument must be between {lo} and {hi} inclusive").into()
    }
}

fn enum_error(words: impl Iterator<Item = &'static str>) -> Refusal {
    let mut names: Vec<&str> = Vec::new();
    for w in words {
        if !names.contains(&w) {
            names.push(w);
        }
    }
    format!("argument(s) must be one of the following: {}", names.join(", ")).into()
}

/// Validates `words` for `dir` and returns the canonical text.
fn canonical(dir: &Directive, words: &[&str]) -> std::result::Result<String, Refusal> {
    let one = words.first().copied().unwrap_or("");
    let value = match dir.kind {
        Kind::Bool => match one.to_ascii_lowercase().as_str() {
            "yes" => "yes".to_string(),
            "no" => "no".to_string(),
            _ => return Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(lo, hi) => {
            let v = ferrous_resp::parse_i64(one.as_bytes()).ok_or("argument couldn't be parsed into an integer")?;
            if v < lo || v > hi {
                return Err(bounds_error_signed(lo, hi));
            }
            v.to_string()
        }
        Kind::UInt(lo, hi) => {
            let octal = dir.name == "unixsocketperm";
            let v = if octal {
                i64::from_str_radix(one, 8).map_err(|_| "argument couldn't be parsed as an octal number")?
            } else {
                ferrous_resp::parse_i64(one.as_bytes()).ok_or("argument couldn't be parsed into an integer")?
            };
            let u = v as u64;
            if u < lo || u > hi {
                return Err(bounds_error_unsigned(lo, hi, octal));
            }
            if octal {
                format!("{u:o}")
            } else {
                u.to_string()
            }
        }
        Kind::Memory(lo, hi) => {
            if one.starts_with('-') {
                return Err("argument must be a memory value".into());
            }
            let v = parse_memory_u64(one).ok_or("argument must be a memory value")? as i64;
            if v < lo || v > hi {
                return Err(bounds_error_signed(lo, hi));
            }
            v.to_string()
        }
        Kind::UMemory(lo, hi) => {
            if one.starts_with('-') {
                return Err("argument must be a memory value".into());
            }
            let v = parse_memory_u64(one).ok_or("argument must be a memory value")?;
            if v < lo || v > hi {
                return Err(bounds_error_unsigned(lo, hi, false));
            }
            v.to_string()
        }
        Kind::MemoryOrPercent(max_percent) => {
            if let Some(v) = (!one.starts_with('-')).then(|| parse_memory_u64(one)).flatten() {
                let v = v as i64;
                if v < -max_percent {
                    return Err(format!("percentage argument must be less or equal to {max_percent}").into());
                }
                v.to_string()
            } else if let Some(p) = one
                .strip_suffix('%')
                .filter(|n| !n.is_empty())
                .and_then(|n| ferrous_resp::parse_i64(n.as_bytes()))
                .filter(|p| *p >= 0)
            {
                if p > max_percent {
                    return Err(format!("percentage argument must be less or equal to {max_percent}").into());
                }
                format!("{p}%")
            } else {
                return Err("argument must be a memory or percent value".into());
            }
        }
        Kind::Enum(words_) => {
            let lower = one.to_ascii_lowercase();
            match words_.iter().find(|(w, _)| *w == lower) {
                Some((_, canon)) => canon.to_string(),
                None => return Err(enum_error(words_.iter().map(|(w, _)| *w))),
            }
        }
        Kind::Flags(names) => {
            let mut set = vec![false; names.len()];
            for w in words {
                let lower = w.to_ascii_lowercase();
                match names.iter().position(|n| *n == lower) {
                    Some(i) => set[i] = true,
                    None => return Err(enum_error(names.iter().copied())),
                }
            }
            // The first name is the empty set ("default"); the others are bits.
            let chosen: Vec<&str> = names.iter().zip(&set).skip(1).filter(|(_, on)| **on).map(|(n, _)| *n).collect();
            if chosen.is_empty() {
                names[0].to_string()
            } else {
                chosen.join(" ")
            }
        }
        Kind::Str => one.to_string(),
        Kind::Special(s) => special_canonical(s, words)?,
    };
    if let Some(check) = dir.check {
        check(&value).map_err(Refusal::from)?;
    }
    Ok(value)
}

fn special_canonical(s: Special, words: &[&str]) -> std::result::Result<String, Refusal> {
    let words: &[&str] = if words.len() == 1 && words[0].is_empty() { &[] } else { words };
    match s {
        Special::Save => {
            let invalid = || Refusal::from("Invalid save parameters");
            if words.len() % 2 != 0 {
                return Err(invalid());
            }
            for (i, w) in words.iter().enumerate() {
                let v = strtoll_exact(w).ok_or_else(invalid)?;
                if (i % 2 == 0 && v < 1) || (i % 2 == 1 && v < 0) {
                    return Err(invalid());
                }
            }
            Ok(words.iter().map(|w| strtoll_exact(w).unwrap_or(0).to_string()).collect::<Vec<_>>().join(" "))
        }
        Special::Bind => {
            if words.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            Ok(words.join(" "))
        }
        Special::ClientOutputBufferLimit => client_output_buffer_limit(DEFAULT_OBUF_LIMITS, words),
        Special::OomScoreAdjValues => {
            if words.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut vals = Vec::new();
            for w in words {
                match strtoll_exact(w) {
                    Some(v) if (-2000..=2000).contains(&v) => vals.push(v.to_string()),
                    _ => return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into()),
                }
            }
            Ok(vals.join(" "))
        }
        Special::NotifyKeyspaceEvents => {
            if words.len() > 1 {
                return Err("wrong number of arguments".into());
            }
            let flags = crate::notify::parse_flags(words.first().copied().unwrap_or(""))
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(notify_flags_to_string(flags))
        }
        Special::Dir => {
            if words.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            match std::fs::metadata(words[0]) {
                Ok(m) if m.is_dir() => Ok(words[0].to_string()),
                Ok(_) => Err("Not a directory".into()),
                Err(e) => Err(os_error_text(&e).into()),
            }
        }
        Special::ReplicaOf => {
            if words.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if words[0].eq_ignore_ascii_case("no") && words[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            match strtoll_exact(words[1]) {
                Some(p) if (0..=65535).contains(&p) => Ok(format!("{} {}", words[0], p)),
                _ => Err("Invalid master port".into()),
            }
        }
        Special::LatencyPercentiles => {
            let mut out = Vec::new();
            for w in words {
                let v = crate::util::parse_float(w.as_bytes())
                    .filter(|v| v.is_finite())
                    .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&v) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                out.push(trim_double(v));
            }
            Ok(out.join(" "))
        }
    }
}

const DEFAULT_OBUF_LIMITS: &str = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// `(class, hard, soft, seconds)` of a canonical `client-output-buffer-limit` value.
fn parse_obuf_limits(canonical: &str) -> [(&'static str, u64, u64, u64); 3] {
    let mut limits = [("normal", 0, 0, 0), ("slave", 268435456, 67108864, 60), ("pubsub", 33554432, 8388608, 60)];
    let words: Vec<&str> = canonical.split(' ').collect();
    for group in words.chunks(4).filter(|g| g.len() == 4) {
        if let Some(l) = limits.iter_mut().find(|l| l.0 == group[0]) {
            let n = |s: &str| s.parse::<u64>().unwrap_or(0);
            *l = (l.0, n(group[1]), n(group[2]), n(group[3]));
        }
    }
    limits
}

/// Applies `client-output-buffer-limit` groups to the `current` limits.
fn client_output_buffer_limit(current: &str, words: &[&str]) -> std::result::Result<String, Refusal> {
    let words: &[&str] = if words.len() == 1 && words[0].is_empty() { &[] } else { words };
    if words.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = parse_obuf_limits(current);
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
        };
        let err = || Refusal::from("Error in hard, soft or soft_seconds setting in buffer limit configuration.");
        let hard = (!group[1].starts_with('-')).then(|| parse_memory_u64(group[1])).flatten().ok_or_else(err)?;
        let soft = (!group[2].starts_with('-')).then(|| parse_memory_u64(group[2])).flatten().ok_or_else(err)?;
        let secs = strtoll_exact(group[3]).filter(|s| *s >= 0).ok_or_else(err)?;
        limits[class] = (limits[class].0, hard, soft, secs as u64);
    }
    Ok(limits.iter().map(|(c, h, s, t)| format!("{c} {h} {s} {t}")).collect::<Vec<_>>().join(" "))
}

/// `strtoll` that must consume the whole (non-empty) string.
fn strtoll_exact(s: &str) -> Option<i64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    if t.is_empty() || t.starts_with(['+', ' ']) {
        return None;
    }
    t.parse::<i64>().ok()
}

/// `%f` with trailing zeros (and a trailing dot) removed, as Redis's `trimDoubleString`.
fn trim_double(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// An OS error's `strerror` text, without Rust's " (os error N)" suffix.
pub(crate) fn os_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Redis's `keyspaceEventsFlagsToString`: the form CONFIG GET shows.
pub fn notify_flags_to_string(f: u32) -> String {
    crate::notify::flags_to_string(f)
}

/// Directives read on hot paths (every collection write checks an encoding threshold),
/// mirrored into atomics after every change so commands never take the configuration lock.
#[derive(Debug, Default)]
pub struct Tunables {
    values: [std::sync::atomic::AtomicI64; TUNABLE_NAMES.len()],
}

/// The directives [`Tunables`] mirrors, in index order.
pub const TUNABLE_NAMES: [&str; 15] = [
    "proto-max-bulk-len",
    "list-max-listpack-size",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "hll-sparse-max-bytes",
    "busy-reply-threshold",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "latency-tracking",
];

/// Index of a mirrored directive.
#[derive(Debug, Clone, Copy)]
#[allow(missing_docs)]
pub enum Tunable {
    ProtoMaxBulkLen = 0,
    ListMaxListpackSize = 1,
    HashMaxListpackEntries = 2,
    HashMaxListpackValue = 3,
    SetMaxIntsetEntries = 4,
    ZsetMaxListpackEntries = 5,
    ZsetMaxListpackValue = 6,
    HllSparseMaxBytes = 7,
    BusyReplyThreshold = 8,
    StreamNodeMaxBytes = 9,
    StreamNodeMaxEntries = 10,
    SlowlogLogSlowerThan = 11,
    SlowlogMaxLen = 12,
    LatencyMonitorThreshold = 13,
    /// 1 for `yes`, 0 for `no`.
    LatencyTracking = 14,
}

impl Tunables {
    /// The current value.
    #[inline]
    pub fn get(&self, t: Tunable) -> i64 {
        self.values[t as usize].load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Re-reads every mirrored directive from `config`.
    pub fn refresh(&self, config: &Config) {
        for (i, name) in TUNABLE_NAMES.iter().enumerate() {
            let value = config.get(name).and_then(|v| match v {
                "yes" => Some(1),
                "no" => Some(0),
                v => v.parse::<i64>().ok(),
            });
            if let Some(v) = value {
                self.values[i].store(v, std::sync::atomic::Ordering::Relaxed);
            }
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
        assert_eq!(parse_memory("5B"), Some(5));
        assert_eq!(parse_memory(""), Some(0));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(parse_memory("1.5mb"), None);
        assert_eq!(parse_memory_u64("100000000000000000000"), Some(u64::MAX));
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
        c.set("save", &["900", "1", "300", "10"], true).unwrap();
        assert_eq!(c.get("save"), Some("900 1 300 10"));
        assert!(c.set("port", &["1", "2"], true).is_err());
    }
    #[test]
    fn error_texts() {
        let mut c = Config::default();
        let e = |r: Result<&str>| r.unwrap_err().to_string();
        assert_eq!(
            e(c.set_value("maxmemory", "foo")),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        assert_eq!(
            e(c.set_value("maxclients", "0")),
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"
        );
        assert_eq!(
            e(c.set_value("maxclients", "-1")),
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"
        );
        assert_eq!(
            e(c.set_value("LUA-TIME-LIMIT", "x")),
            "ERR CONFIG SET failed (possibly related to argument 'lua-time-limit') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            e(c.set_value("maxmemory-clients", "200%")),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"
        );
        assert_eq!(
            e(c.set_value("loglevel", "x")),
            "ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning"
        );
    }
    #[test]
    fn canonical_forms() {
        let mut c = Config::default();
        c.set_value("notify-keyspace-events", "nmgd").unwrap();
        assert_eq!(c.get("notify-keyspace-events"), Some("gdnm"));
        c.set_value("notify-keyspace-events", "KEA").unwrap();
        assert_eq!(c.get("notify-keyspace-events"), Some("AKE"));
        c.set_value("oom-score-adj", "relative").unwrap();
        assert_eq!(c.get("oom-score-adj"), Some("yes"));
        c.set_value("shutdown-on-sigterm", "now nosave").unwrap();
        assert_eq!(c.get("shutdown-on-sigterm"), Some("nosave now"));
        c.set_value("shutdown-on-sigterm", "default now").unwrap();
        assert_eq!(c.get("shutdown-on-sigterm"), Some("now"));
        c.set_value("maxmemory-clients", "10%").unwrap();
        assert_eq!(c.get("maxmemory-clients"), Some("10%"));
        c.set_value("client-output-buffer-limit", "normal 1mb 2 3").unwrap();
        assert_eq!(
            c.get("client-output-buffer-limit"),
            Some("normal 1048576 2 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        );
        c.set_value("latency-tracking-info-percentiles", "50.5 99").unwrap();
        assert_eq!(c.get("latency-tracking-info-percentiles"), Some("50.5 99"));
        c.set_value("maxmemory", "100000000000000000000").unwrap();
        assert_eq!(c.get_i64("maxmemory"), i64::MAX);
    }
    #[test]
    fn matching_lists_aliases_once() {
        let c = Config::default();
        let names: Vec<String> = c.matching(&[b"*ziplist-entries"]).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["hash-max-ziplist-entries".to_string(), "zset-max-ziplist-entries".to_string()]);
        let exact = c.matching(&[b"MAXMEMORY", b"maxmemory"]);
        assert_eq!(exact, vec![("MAXMEMORY".to_string(), "0".to_string())]);
        assert!(c.matching(&[b"watchdog*"]).is_empty());
        assert_eq!(c.matching(&[b"watchdog-period"]).len(), 1);
    }
}
