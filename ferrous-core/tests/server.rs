//! Server commands in-process: INFO, CONFIG, COMMAND, TIME, DEBUG, SHUTDOWN. Expected texts
//! are Redis 7.0.15's replies to the same commands.
use ferrous_core::db::ShutdownOptions;
use ferrous_core::{ClientState, Config, ConnectionInfo, Database, RespValue as V, ServerHooks};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Command statistics live in the process-wide command table, shared by every database
/// in this test binary: tests that run commands take this lock so INFO commandstats and
/// CONFIG RESETSTAT see only their own commands.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

struct Conn {
    db: Database,
    c: ClientState,
}

impl Conn {
    fn new(db: &Database) -> Conn {
        Conn { db: db.clone(), c: db.connect(ConnectionInfo::default()) }
    }
    fn tcp(db: &Database, addr: &str) -> Conn {
        let info = ConnectionInfo { addr: addr.into(), laddr: "127.0.0.1:6379".into(), fd: 7, waker: None };
        Conn { db: db.clone(), c: db.connect(info) }
    }
    fn raw(&mut self, args: &[&str]) -> Vec<u8> {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.c, argv.as_args(), &mut out);
        out
    }
    fn cmd(&mut self, args: &[&str]) -> V {
        let out = self.raw(args);
        match ferrous_resp::parse_value(&out).unwrap() {
            Some((v, n)) => {
                assert_eq!(n, out.len(), "one reply expected for {args:?}");
                v
            }
            None => panic!("no reply to {args:?}"),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.db.disconnect(&self.c);
    }
}

fn ok() -> V {
    V::ok()
}
fn err(s: &str) -> V {
    V::Error(s.into())
}
fn int(i: i64) -> V {
    V::Integer(i)
}
fn bulk(s: &str) -> V {
    V::bulk(s)
}
fn text(v: V) -> String {
    match v {
        V::Bulk(b) | V::Verbatim(_, b) => String::from_utf8(b).unwrap(),
        V::Simple(s) => s,
        other => panic!("not text: {other:?}"),
    }
}
fn strings(v: V) -> Vec<String> {
    match v {
        V::Array(items) | V::Set(items) => items.into_iter().map(text).collect(),
        other => panic!("not an array: {other:?}"),
    }
}
/// A map reply (RESP3 map or RESP2 flat array) as pairs.
fn pairs(v: V) -> Vec<(String, V)> {
    let p: Vec<(V, V)> = match v {
        V::Map(p) => p,
        V::Array(items) => items.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
        other => panic!("not a map: {other:?}"),
    };
    p.into_iter().map(|(k, v)| (text(k), v)).collect()
}

/// `INFO` parsed into sections of fields.
fn info(c: &mut Conn, args: &[&str]) -> Vec<(String, HashMap<String, String>)> {
    let mut cmd = vec!["INFO"];
    cmd.extend_from_slice(args);
    let t = text(c.cmd(&cmd));
    let mut out: Vec<(String, HashMap<String, String>)> = Vec::new();
    for line in t.split("\r\n") {
        if let Some(title) = line.strip_prefix("# ") {
            out.push((title.to_string(), HashMap::new()));
        } else if let Some((k, v)) = line.split_once(':') {
            out.last_mut().expect("field before any section").1.insert(k.to_string(), v.to_string());
        }
    }
    out
}

fn field(c: &mut Conn, section: &str, name: &str) -> String {
    let s = info(c, &[section]);
    s[0].1.get(name).unwrap_or_else(|| panic!("no {name} in {section}")).clone()
}

// ---------------------------------------------------------------- INFO

#[test]
fn info_sections_and_format() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let titles = |c: &mut Conn, a: &[&str]| info(c, a).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
    let default = [
        "Server",
        "Clients",
        "Memory",
        "Persistence",
        "Stats",
        "Replication",
        "CPU",
        "Modules",
        "Errorstats",
        "Cluster",
        "Keyspace",
    ];
    assert_eq!(titles(&mut c, &[]), default);
    assert_eq!(titles(&mut c, &["default"]), default);
    let all = [
        "Server",
        "Clients",
        "Memory",
        "Persistence",
        "Stats",
        "Replication",
        "CPU",
        "Modules",
        "Commandstats",
        "Errorstats",
        "Latencystats",
        "Cluster",
        "Keyspace",
    ];
    assert_eq!(titles(&mut c, &["all"]), all);
    assert_eq!(titles(&mut c, &["everything"]), all);
    assert_eq!(titles(&mut c, &["CPU", "keyspace"]), ["CPU", "Keyspace"]);
    assert_eq!(text(c.cmd(&["INFO", "foo"])), "");
    // Exact framing: sections end in CRLF and are separated by an empty line.
    assert_eq!(text(c.cmd(&["INFO", "keyspace"])), "# Keyspace\r\n");
    assert_eq!(text(c.cmd(&["INFO", "cluster", "keyspace"])), "# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n");
    assert_eq!(text(c.cmd(&["INFO", "modules"])), "# Modules\r\n");
    // RESP3: a verbatim string.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.raw(&["INFO", "cluster"]), b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n");
}

#[test]
fn info_server_fields() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let s = &info(&mut c, &["server"])[0].1;
    let expected_fields = [
        "redis_version",
        "redis_git_sha1",
        "redis_git_dirty",
        "redis_build_id",
        "redis_mode",
        "os",
        "arch_bits",
        "monotonic_clock",
        "multiplexing_api",
        "atomicvar_api",
        "gcc_version",
        "process_id",
        "process_supervised",
        "run_id",
        "tcp_port",
        "server_time_usec",
        "uptime_in_seconds",
        "uptime_in_days",
        "hz",
        "configured_hz",
        "lru_clock",
        "executable",
        "config_file",
        "io_threads_active",
    ];
    for f in expected_fields {
        assert!(s.contains_key(f), "missing {f}");
    }
    assert_eq!(s["redis_version"], "7.0.15");
    assert_eq!(s["redis_mode"], "standalone");
    assert_eq!(s["tcp_port"], "6379");
    assert_eq!(s["hz"], "10");
    assert_eq!(s["run_id"].len(), 40);
    assert_eq!(s["process_id"], std::process::id().to_string());
    assert!(s["run_id"].bytes().all(|b| b.is_ascii_hexdigit()));
    let t: i64 = s["server_time_usec"].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    assert!((now - t).abs() < 10_000_000);
}

#[test]
fn info_keyspace_counts_keys_and_expires() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "b", "1", "EX", "100"]);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "c", "1"]);
    let t = text(c.cmd(&["INFO", "keyspace"]));
    let lines: Vec<&str> = t.split("\r\n").collect();
    assert_eq!(lines[0], "# Keyspace");
    assert!(lines[1].starts_with("db0:keys=2,expires=1,avg_ttl="), "{t}");
    let avg: i64 = lines[1].rsplit('=').next().unwrap().parse().unwrap();
    assert!(avg > 90_000 && avg <= 100_000, "{avg}");
    assert_eq!(lines[2], "db3:keys=1,expires=0,avg_ttl=0");
    assert_eq!(lines[3], "");
    assert_eq!(lines.len(), 4);
}

#[test]
fn info_clients_memory_persistence_replication_cpu() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let _d = Conn::new(&db);
    assert_eq!(field(&mut c, "clients", "connected_clients"), "2");
    assert_eq!(field(&mut c, "clients", "maxclients"), "10000");
    assert_eq!(field(&mut c, "clients", "blocked_clients"), "0");

    let before: u64 = field(&mut c, "memory", "used_memory").parse().unwrap();
    let big = "x".repeat(1000);
    for i in 0..2000 {
        db.set(format!("key:{i}"), big.as_str()).unwrap();
    }
    let mem = info(&mut c, &["memory"]).remove(0).1;
    let after: u64 = mem["used_memory"].parse().unwrap();
    assert!(after > before + 1_500_000, "{before} -> {after}");
    assert!(mem["used_memory_rss"].parse::<u64>().unwrap() > 0);
    assert!(mem["used_memory_human"].ends_with('M'), "{}", mem["used_memory_human"]);
    assert!(mem["used_memory_peak"].parse::<u64>().unwrap() >= after);
    assert_eq!(mem["maxmemory"], "0");
    assert_eq!(mem["maxmemory_human"], "0B");
    assert_eq!(mem["maxmemory_policy"], "noeviction");
    c.cmd(&["CONFIG", "SET", "maxmemory", "1gb"]);
    assert_eq!(field(&mut c, "memory", "maxmemory_human"), "1.00G");

    let p = info(&mut c, &["persistence"]).remove(0).1;
    assert_eq!(
        p["rdb_changes_since_last_save"],
        db.inner().dirty.load(std::sync::atomic::Ordering::Relaxed).to_string()
    );
    assert_eq!(p["aof_enabled"], "0");
    assert_eq!(p["rdb_bgsave_in_progress"], "0");

    let r = info(&mut c, &["replication"]).remove(0).1;
    assert_eq!(r["role"], "master");
    assert_eq!(r["connected_slaves"], "0");
    assert_eq!(r["master_replid"].len(), 40);
    assert_eq!(r["repl_backlog_size"], "1048576");

    let cpu = info(&mut c, &["cpu"]).remove(0).1;
    for f in [
        "used_cpu_sys",
        "used_cpu_user",
        "used_cpu_sys_children",
        "used_cpu_user_children",
        "used_cpu_sys_main_thread",
        "used_cpu_user_main_thread",
    ] {
        let (secs, micros) = cpu[f].split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{f}: {}", cpu[f]);
    }
}

#[test]
fn info_stats_expired_keys_and_resetstat() {
    let _serial = serial();
    let clock = Arc::new(ferrous_core::ManualClock::at(1_700_000_000_000));
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    let mut c = Conn::new(&db);
    c.cmd(&["SET", "a", "1", "PX", "10"]);
    c.cmd(&["SET", "b", "1", "PX", "10"]);
    clock.advance(20);
    assert_eq!(c.cmd(&["GET", "a"]), V::Null);
    assert_eq!(field(&mut c, "stats", "expired_keys"), "1");
    c.cmd(&["GET", "nope"]);
    c.cmd(&["INCR", "a", "b"]);
    let s = info(&mut c, &["stats"]).remove(0).1;
    assert_eq!(s["total_error_replies"], "1");
    assert_eq!(s["pubsub_channels"], "0");
    assert_eq!(s["instantaneous_input_kbps"], "0.00");
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
    let s = info(&mut c, &["stats"]).remove(0).1;
    assert_eq!(s["expired_keys"], "0");
    assert_eq!(s["total_error_replies"], "0");
    assert_eq!(text(c.cmd(&["INFO", "errorstats"])), "# Errorstats\r\n");
    // Command statistics restart with CONFIG RESETSTAT itself (counted once it returns,
    // as in Redis), then the two INFO calls above.
    let cs = text(c.cmd(&["INFO", "commandstats"]));
    assert_eq!(cs.lines().filter(|l| l.starts_with("cmdstat_")).count(), 2, "{cs}");
    assert!(cs.starts_with("# Commandstats\r\ncmdstat_config|resetstat:calls=1,usec="), "{cs}");
    assert!(cs.contains("\r\ncmdstat_info:calls=2,usec="), "{cs}");
    assert_eq!(c.cmd(&["GET", "b"]), V::Null);
    assert_eq!(field(&mut c, "stats", "expired_keys"), "1");
}

#[test]
fn info_commandstats_format() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["INCR", "k"]);
    c.cmd(&["GET"]);
    c.cmd(&["CLIENT", "ID"]);
    let cs = text(c.cmd(&["INFO", "commandstats"]));
    let lines: HashMap<&str, &str> = cs.lines().filter_map(|l| l.split_once(':')).collect();
    let get = lines["cmdstat_get"];
    assert!(get.starts_with("calls=2,usec="), "{get}");
    assert!(get.ends_with(",rejected_calls=1,failed_calls=0"), "{get}");
    let per_call = get.split(',').find_map(|f| f.strip_prefix("usec_per_call=")).unwrap();
    assert_eq!(per_call.split_once('.').unwrap().1.len(), 2);
    assert!(lines["cmdstat_incr"].ends_with(",rejected_calls=0,failed_calls=1"));
    assert!(lines["cmdstat_client|id"].starts_with("calls=1,"));
    assert!(!lines.contains_key("cmdstat_del"));
    let names: Vec<&&str> = lines.keys().filter(|k| k.starts_with("cmdstat_")).collect();
    // get, set, incr, client|id and config|resetstat; INFO is counted once it returns.
    assert_eq!(names.len(), 5, "{cs}");
}

// ---------------------------------------------------------------- CONFIG

#[test]
fn config_get() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxmemory"]), V::Array(vec![bulk("maxmemory"), bulk("0")]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "MAXMEMORY"]), V::Array(vec![bulk("MAXMEMORY"), bulk("0")]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "nonexistent"]), V::Array(vec![]));
    assert_eq!(c.cmd(&["CONFIG", "GET"]), err("ERR wrong number of arguments for 'config|get' command"));
    let mut m: Vec<(String, V)> = pairs(c.cmd(&["CONFIG", "GET", "maxmemory", "port"]));
    m.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(m, vec![("maxmemory".into(), bulk("0")), ("port".into(), bulk("6379"))]);
    let mut names: Vec<String> = pairs(c.cmd(&["CONFIG", "GET", "max*"])).into_iter().map(|p| p.0).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "maxclients",
            "maxmemory",
            "maxmemory-clients",
            "maxmemory-eviction-tenacity",
            "maxmemory-policy",
            "maxmemory-samples"
        ]
    );
    // Redis lists only the alias; the other two are Ferrous's own.
    assert_eq!(
        pairs(c.cmd(&["CONFIG", "GET", "lua*"])),
        vec![
            ("lua-time-limit".to_string(), bulk("5000")),
            ("lua-memory-limit".to_string(), bulk("52428800")),
            ("lua-instruction-limit".to_string(), bulk("0"))
        ]
    );
    assert_eq!(pairs(c.cmd(&["CONFIG", "GET", "busy*"])), vec![("busy-reply-threshold".to_string(), bulk("5000"))]);
    let mut zl: Vec<(String, V)> = pairs(c.cmd(&["CONFIG", "GET", "*ziplist-entries"]));
    zl.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        zl,
        vec![("hash-max-ziplist-entries".into(), bulk("512")), ("zset-max-ziplist-entries".into(), bulk("128"))]
    );
    // Several patterns that overlap list each directive once.
    assert_eq!(pairs(c.cmd(&["CONFIG", "GET", "hz", "h?", "hz"])).len(), 1);
    // Hidden directives only by exact name.
    assert!(pairs(c.cmd(&["CONFIG", "GET", "watchdog*"])).is_empty());
    assert_eq!(pairs(c.cmd(&["CONFIG", "GET", "watchdog-period"])).len(), 1);
    // Redis 7.0.15 lists 192 directives with TLS compiled in; Ferrous has none of its 20 TLS
    // ones, and two of its own (lua-memory-limit, lua-instruction-limit).
    let all = pairs(c.cmd(&["CONFIG", "GET", "*"]));
    assert_eq!(all.len(), 192 - 20 + 2, "{:?}", all.iter().map(|p| &p.0).collect::<Vec<_>>());
    let dir = pairs(c.cmd(&["CONFIG", "GET", "dir"])).remove(0).1;
    assert!(text(dir).starts_with('/'));
    // RESP3: a map.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.raw(&["CONFIG", "GET", "maxmemory"]), b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
}

#[test]
fn config_defaults_match_redis() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let all: HashMap<String, String> =
        pairs(c.cmd(&["CONFIG", "GET", "*"])).into_iter().map(|(k, v)| (k, text(v))).collect();
    for (k, v) in [
        ("save", "3600 1 300 100 60 10000"),
        ("appendonly", "no"),
        ("appendfsync", "everysec"),
        ("databases", "16"),
        ("timeout", "0"),
        ("tcp-keepalive", "300"),
        ("maxmemory-policy", "noeviction"),
        ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        ("notify-keyspace-events", ""),
        ("slowlog-log-slower-than", "10000"),
        ("proto-max-bulk-len", "536870912"),
        ("list-max-listpack-size", "-2"),
        ("list-max-ziplist-size", "-2"),
        ("slave-read-only", "yes"),
        ("replica-read-only", "yes"),
        ("latency-tracking-info-percentiles", "50 99 99.9"),
        ("oom-score-adj-values", "0 200 800"),
        ("shutdown-on-sigterm", "default"),
        ("enable-debug-command", "no"),
        ("acl-pubsub-default", "resetchannels"),
        ("proc-title-template", "{title} {listen-addr} {server-mode}"),
        ("replicaof", ""),
        ("slaveof", ""),
    ] {
        assert_eq!(all.get(k).map(|s| s.as_str()), Some(v), "{k}");
    }
}

#[test]
fn config_set_applies_and_validates() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let set_err =
        |name: &str, why: &str| err(&format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1mb"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxmemory"]), V::Array(vec![bulk("maxmemory"), bulk("1048576")]));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1GB"]), ok());
    assert_eq!(db.inner().config.read().get_i64("maxmemory"), 1 << 30);
    for (name, value, why) in [
        ("maxmemory", "foo", "argument must be a memory value"),
        ("maxmemory", "-1", "argument must be a memory value"),
        ("maxmemory", "1.5mb", "argument must be a memory value"),
        ("maxmemory", "+5", "argument must be a memory value"),
        ("proto-max-bulk-len", "1000", "argument must be between 1048576 and 9223372036854775807 inclusive"),
        ("hz", "abc", "argument couldn't be parsed into an integer"),
        ("hz", " 5", "argument couldn't be parsed into an integer"),
        ("hz", "-1", "argument must be between 0 and 2147483647 inclusive"),
        ("timeout", "99999999999", "argument must be between 0 and 2147483647 inclusive"),
        ("maxclients", "0", "argument must be between 1 and 4294967295 inclusive"),
        ("maxclients", "-1", "argument must be between 1 and 4294967295 inclusive"),
        ("slowlog-log-slower-than", "-5", "argument must be between -1 and 9223372036854775807 inclusive"),
        ("maxmemory-samples", "0", "argument must be between 1 and 2147483647 inclusive"),
        ("list-max-listpack-size", "-99999999999", "argument must be between -2147483648 and 2147483647 inclusive"),
        ("maxmemory-clients", "200%", "percentage argument must be less or equal to 100"),
        ("maxmemory-clients", "-5", "argument must be a memory or percent value"),
        ("protected-mode", "foo", "argument must be 'yes' or 'no'"),
        ("appendonly", "maybe", "argument must be 'yes' or 'no'"),
        (
            "maxmemory-policy",
            "foo",
            "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
        ),
        ("appendfsync", "foo", "argument(s) must be one of the following: everysec, always, no"),
        ("loglevel", "foo", "argument(s) must be one of the following: debug, verbose, notice, warning"),
        ("shutdown-on-sigint", "foo", "argument(s) must be one of the following: default, save, nosave, now, force"),
        ("shutdown-on-sigint", "save nosave", "shutdown options SAVE and NOSAVE can't be used simultaneously"),
        ("save", "100 x", "Invalid save parameters"),
        ("save", "100", "Invalid save parameters"),
        ("save", "0 1", "Invalid save parameters"),
        ("save", "1 -1", "Invalid save parameters"),
        ("save", "  ", "Invalid save parameters"),
        ("client-output-buffer-limit", "normal 1 2", "Wrong number of arguments in buffer limit configuration."),
        ("client-output-buffer-limit", "master 1 2 3", "Invalid client class specified in buffer limit configuration."),
        ("client-output-buffer-limit", "foo 0 0 0", "Invalid client class specified in buffer limit configuration."),
        (
            "client-output-buffer-limit",
            "replica 1mb 2mb 3 pubsub 1 2 x",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
        ("oom-score-adj-values", "1 2", "wrong number of arguments"),
        ("oom-score-adj-values", "0 200 9000", "Invalid oom-score-adj-values, elements must be between -2000 and 2000."),
        ("latency-tracking-info-percentiles", "50 200", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
        ("latency-tracking-info-percentiles", "50 x", "Invalid latency-tracking-info-percentiles parameters"),
        ("notify-keyspace-events", "foo", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."),
        (
            "activedefrag",
            "yes",
            "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution",
        ),
        ("lua-time-limit", "abc", "argument couldn't be parsed into an integer"),
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", name, value]), set_err(name, why), "{name} {value}");
    }
    // Failed sets changed nothing.
    assert_eq!(db.inner().config.read().get_i64("maxmemory"), 1 << 30);
    assert_eq!(c.cmd(&["CONFIG", "SET", "MAXMEMORY", "foo"]), set_err("maxmemory", "argument must be a memory value"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "LUA-TIME-LIMIT", "abc"]),
        set_err("lua-time-limit", "argument couldn't be parsed into an integer")
    );

    // Canonical forms.
    for (name, value, shown) in [
        ("hz", "0", "1"),
        ("hz", "600", "500"),
        ("maxmemory", "", "0"),
        ("maxmemory", "5B", "5"),
        ("maxmemory", "1Kb", "1024"),
        ("maxmemory", "100000000000000000000", "18446744073709551615"),
        ("maxmemory-policy", "ALLKEYS-LRU", "allkeys-lru"),
        ("protected-mode", "YES", "yes"),
        ("appendfsync", "ALWAYS", "always"),
        ("oom-score-adj", "relative", "yes"),
        ("shutdown-on-sigterm", "now nosave", "nosave now"),
        ("shutdown-on-sigterm", "default now", "now"),
        ("maxmemory-clients", "10%", "10%"),
        ("notify-keyspace-events", "KEA", "AKE"),
        ("notify-keyspace-events", "Ex", "xE"),
        ("notify-keyspace-events", "nmgd", "gdnm"),
        // Redis shows "AKEm" (it drops `n` next to `A`); Ferrous keeps `n` so the class stays on.
        ("notify-keyspace-events", "gx$lshzxeKEtmdn", "AnKEm"),
        ("save", "3600 1 300 100", "3600 1 300 100"),
        ("save", "1 0", "1 0"),
        ("save", "", ""),
        (
            "client-output-buffer-limit",
            "normal 1 2 3",
            "normal 1 2 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        (
            "client-output-buffer-limit",
            "replica 1mb 2mb 3",
            "normal 1 2 3 slave 1048576 2097152 3 pubsub 33554432 8388608 60",
        ),
        ("latency-tracking-info-percentiles", "50.5 99", "50.5 99"),
        ("requirepass", "a b", "a b"),
        ("requirepass", "", ""),
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", name, value]), ok(), "{name} {value}");
        assert_eq!(pairs(c.cmd(&["CONFIG", "GET", name])), vec![(name.to_string(), bulk(shown))], "{name} {value}");
    }
}

#[test]
fn config_set_names_are_checked_first() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let set_err =
        |name: &str, why: &str| err(&format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
    let unknown = |name: &str| err(&format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "nonexistent", "1"]), unknown("nonexistent"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "Nonexist", "1"]), unknown("Nonexist"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "1mb", "port"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "save"]), err("ERR wrong number of arguments for 'config|set' command"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "DAEMONIZE", "yes"]), set_err("DAEMONIZE", "can't set immutable config"));
    for name in ["io-threads", "databases", "unixsocketperm", "appendfilename", "replicaof", "enable-debug-command"] {
        assert_eq!(c.cmd(&["CONFIG", "SET", name, "1"]), set_err(name, "can't set immutable config"));
    }
    assert_eq!(c.cmd(&["CONFIG", "SET", "dir", "."]), set_err("dir", "can't set protected config"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "dbfilename", "a/b"]), set_err("dbfilename", "can't set protected config"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "1mb", "maxmemory", "2mb"]),
        set_err("maxmemory", "duplicate parameter")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "Maxmemory", "1", "maxmemory", "2"]),
        set_err("maxmemory", "duplicate parameter")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "lua-time-limit", "3", "lua-time-limit", "4"]),
        set_err("lua-time-limit", "duplicate parameter")
    );
    // The first problem in argument order wins.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "daemonize", "yes", "nonexist", "1"]),
        set_err("daemonize", "can't set immutable config")
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "nonexist", "1", "daemonize", "yes"]), unknown("nonexist"));
    // Names are all checked before any value.
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "foo", "nonexist", "1"]), unknown("nonexist"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "hz", "abc", "maxmemory", "foo"]),
        set_err("hz", "argument couldn't be parsed into an integer")
    );
    // Atomic: a bad value leaves the good ones unapplied.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "5mb", "hz", "abc"]),
        set_err("hz", "argument couldn't be parsed into an integer")
    );
    assert_eq!(db.inner().config.read().get_i64("maxmemory"), 0);
    // A name and its alias are different entries: both apply, in order.
    assert_eq!(c.cmd(&["CONFIG", "SET", "busy-reply-threshold", "1", "lua-time-limit", "2"]), ok());
    assert_eq!(pairs(c.cmd(&["CONFIG", "GET", "busy-reply-threshold"]))[0].1, bulk("2"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory", "5mb", "maxmemory-policy", "allkeys-lru"]), ok());
    assert_eq!(db.inner().config.read().get_i64("maxmemory"), 5 << 20);
    assert_eq!(db.inner().config.read().get("maxmemory-policy"), Some("allkeys-lru"));
}

#[test]
fn protected_configs_follow_enable_protected_configs() {
    let _serial = serial();
    let mut config = Config::default();
    config.set("enable-protected-configs", &["local"], true).unwrap();
    let db = Database::builder().config(config).build();
    let dir = std::env::temp_dir();
    let dir = dir.to_str().unwrap();
    let mut remote = Conn::tcp(&db, "10.1.2.3:5000");
    assert_eq!(
        remote.cmd(&["CONFIG", "SET", "dir", dir]),
        err("ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config")
    );
    let mut local = Conn::tcp(&db, "127.0.0.1:5000");
    assert_eq!(local.cmd(&["CONFIG", "SET", "dir", dir]), ok());
    assert_eq!(
        local.cmd(&["CONFIG", "SET", "dir", "/nonexistent-ferrous-dir"]),
        err("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory")
    );
    assert_eq!(
        local.cmd(&["CONFIG", "SET", "dbfilename", "a/b"]),
        err("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename")
    );
}

#[test]
fn config_set_notify_keyspace_events_takes_effect() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let mut sub = db.psubscribe(&["__key*__:*"]);
    c.cmd(&["SET", "k", "v"]);
    assert!(sub.try_recv().is_none());
    assert_eq!(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]), ok());
    c.cmd(&["SET", "k", "v2"]);
    let m = sub.recv_timeout(std::time::Duration::from_secs(1)).expect("a keyspace event");
    assert_eq!(m.channel, b"__keyspace@0__:k");
    assert_eq!(m.payload, b"set");
}

#[test]
fn config_resetstat_rewrite_help() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), err("ERR The server is running without a config file"));
    let help = strings(c.cmd(&["CONFIG", "HELP"]));
    assert_eq!(help.len(), 11);
    assert_eq!(help[0], "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    assert_eq!(help[3], "SET <directive> <value>");
    assert_eq!(c.cmd(&["CONFIG", "foo"]), err("ERR unknown subcommand 'foo'. Try CONFIG HELP."));
    assert_eq!(
        c.cmd(&["CONFIG", "RESETSTAT", "x"]),
        err("ERR wrong number of arguments for 'config|resetstat' command")
    );
}

/// Records what the server was asked to do.
#[derive(Default)]
struct FakeServer {
    shutdowns: Mutex<Vec<ShutdownOptions>>,
    changes: Mutex<Vec<String>>,
    refuse_port: bool,
}

impl ServerHooks for FakeServer {
    fn shutdown(&self) {
        self.shutdowns.lock().unwrap().push(ShutdownOptions::default());
    }
    fn shutdown_with(&self, options: &ShutdownOptions) -> Result<(), String> {
        self.shutdowns.lock().unwrap().push(*options);
        Ok(())
    }
    fn config_changed(&self, name: &str, config: &Config) -> Result<(), String> {
        self.changes.lock().unwrap().push(format!("{name}={}", config.get(name).unwrap_or("")));
        if self.refuse_port && name == "port" && config.get("port") != Some("6379") {
            return Err("Unable to listen on this port. Check server logs.".into());
        }
        Ok(())
    }
}

#[test]
fn config_set_tells_the_server_and_rolls_back_on_refusal() {
    let _serial = serial();
    let db = Database::new();
    let server = Arc::new(FakeServer { refuse_port: true, ..Default::default() });
    db.set_server_hooks(server.clone());
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["CONFIG", "SET", "timeout", "5", "maxclients", "100"]), ok());
    assert_eq!(*server.changes.lock().unwrap(), ["timeout=5", "maxclients=100"]);
    server.changes.lock().unwrap().clear();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "timeout", "7", "port", "1234"]),
        err("ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.")
    );
    assert_eq!(db.inner().config.read().get("timeout"), Some("5"));
    assert_eq!(db.inner().config.read().get("port"), Some("6379"));
}

// ---------------------------------------------------------------- COMMAND

#[test]
fn command_count_info_docs() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let V::Integer(count) = c.cmd(&["COMMAND", "COUNT"]) else { panic!() };
    let V::Array(all) = c.cmd(&["COMMAND"]) else { panic!() };
    assert_eq!(all.len() as i64, count);
    assert_eq!(c.cmd(&["COMMAND", "INFO"]), V::Array(all.clone()));
    assert_eq!(c.cmd(&["COMMAND", "COUNT", "x"]), err("ERR wrong number of arguments for 'command|count' command"));
    // The exact bytes Redis 7.0 sends for COMMAND INFO get.
    let get_info = b"*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
    let mut expected = b"*3\r\n".to_vec();
    expected.extend_from_slice(get_info);
    expected.extend_from_slice(b"$-1\r\n");
    expected.extend_from_slice(get_info);
    assert_eq!(c.raw(&["COMMAND", "INFO", "GET", "nosuch", "get"]), expected);
    let V::Array(sub) = c.cmd(&["COMMAND", "INFO", "client|list", "config|nosuch"]) else { panic!() };
    assert_eq!(sub[1], V::Null);
    let V::Array(entry) = &sub[0] else { panic!() };
    assert_eq!(entry[0], bulk("client|list"));
    assert_eq!(entry[1], int(-2));

    let docs = b"*2\r\n$3\r\nget\r\n*10\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$10\r\ncomplexity\r\n$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n*6\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n";
    assert_eq!(c.raw(&["COMMAND", "DOCS", "GET", "nosuch"]), docs);
    assert_eq!(c.cmd(&["COMMAND", "DOCS", "nosuch"]), V::Array(vec![]));
    let d = pairs(c.cmd(&["COMMAND", "DOCS", "client|list"]));
    assert_eq!(d[0].0, "client|list");
    let V::Array(all_docs) = c.cmd(&["COMMAND", "DOCS"]) else { panic!() };
    assert_eq!(all_docs.len() as i64, 2 * count);
    c.cmd(&["HELLO", "3"]);
    assert!(c.raw(&["COMMAND", "DOCS", "get"]).starts_with(b"%1\r\n$3\r\nget\r\n%5\r\n"));
    assert_eq!(c.raw(&["COMMAND", "INFO", "nosuch"]), b"*1\r\n_\r\n");
}

#[test]
fn command_list_filters() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let mut cfg = strings(c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "config*"]));
    cfg.sort();
    assert_eq!(cfg, ["config", "config|get", "config|help", "config|resetstat", "config|rewrite", "config|set"]);
    let all = strings(c.cmd(&["COMMAND", "LIST"]));
    assert!(all.contains(&"get".to_string()) && all.contains(&"client|list".to_string()));
    let V::Integer(count) = c.cmd(&["COMMAND", "COUNT"]) else { panic!() };
    assert!(all.len() as i64 > count);
    let conn = strings(c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "connection"]));
    assert!(
        conn.contains(&"ping".to_string())
            && conn.contains(&"client|id".to_string())
            && !conn.contains(&"get".to_string())
    );
    assert_eq!(c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "@read"]), V::Array(vec![]));
    assert_eq!(c.cmd(&["COMMAND", "LIST", "FILTERBY", "MODULE", "foo"]), V::Array(vec![]));
    assert_eq!(c.cmd(&["COMMAND", "LIST", "FILTERBY", "foo", "bar"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["COMMAND", "LIST", "foo"]), err("ERR syntax error"));
}

#[test]
fn command_getkeys() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let keys = |c: &mut Conn, args: &[&str]| {
        let mut a = vec!["COMMAND", "GETKEYS"];
        a.extend_from_slice(args);
        c.cmd(&a)
    };
    let list = |v: &[&str]| V::Array(v.iter().map(|s| bulk(s)).collect());
    // Commands not implemented (yet) are unknown to COMMAND GETKEYS, as to everything
    // else; the key-spec rules themselves are unit-tested on Redis's data for every command.
    let known = |c: &mut Conn, name: &str| c.cmd(&["COMMAND", "INFO", name]) != V::Array(vec![V::Null]);
    for (args, expected) in [
        (&["get", "a"][..], &["a"][..]),
        (&["GET", "a"], &["a"]),
        (&["set", "a", "b"], &["a"]),
        (&["mset", "a", "b", "c", "d"], &["a", "c"]),
        (&["mset", "a", "b", "c"], &["a", "c"]),
        (&["del", "a", "b", "c"], &["a", "b", "c"]),
        (&["eval", "return 1", "2", "a", "b", "c"], &["a", "b"]),
        (&["EVAL", "return", "1", "a"], &["a"]),
        (&["eval", "return 1", "5", "a", "b", "c"], &[]),
        (&["eval", "return 1", "-1"], &[]),
        (&["eval", "return 1", "abc"], &[]),
        (&["eval", "return 1", "0"], &[]),
        (&["zunionstore", "d", "2", "a", "b", "weights", "1", "2"], &["d", "a", "b"]),
        (&["sort", "mylist", "by", "x", "store", "dst"], &["mylist", "dst"]),
        (&["lmpop", "2", "a", "b", "left"], &["a", "b"]),
        (&["lmpop", "1", "a", "left"], &["a"]),
        (&["xread", "streams", "a", "b", "0", "0"], &["a", "b"]),
        (&["xread", "count", "1", "streams", "a", "0"], &["a"]),
        (&["migrate", "h", "p", "", "0", "5", "keys", "a", "b"], &["a", "b"]),
        (&["georadius", "k", "0", "0", "1", "m", "store", "d"], &["k", "d"]),
        (&["georadius", "k", "0", "0", "1", "m", "storedist", "d"], &["k", "d"]),
        (&["georadius", "k", "0", "0", "1", "m", "store", "d", "storedist", "e"], &["k", "d", "e"]),
        (&["object", "encoding", "k"], &["k"]),
        (&["memory", "usage", "k"], &["k"]),
        (&["xgroup", "create", "k", "g", "$"], &["k"]),
        (&["bitfield_ro", "k", "get", "u8", "0"], &["k"]),
    ] {
        if known(&mut c, args[0]) {
            assert_eq!(keys(&mut c, args), list(expected), "{args:?}");
        }
    }
    for (args, e) in [
        (&["nosuch", "a"][..], "ERR Invalid command specified"),
        (&["client", "foo"], "ERR Invalid command specified"),
        (&["client", "list"], "ERR The command has no key arguments"),
        (&["client", "list", "extra"], "ERR The command has no key arguments"),
        (&["config", "get", "x"], "ERR The command has no key arguments"),
        (&["object", "help"], "ERR The command has no key arguments"),
        (&["spublish", "ch", "msg"], "ERR The command has no key arguments"),
        (&["get", "a", "b"], "ERR Invalid number of arguments specified for command"),
        (&["mset", "a"], "ERR Invalid number of arguments specified for command"),
        (&["lmpop", "0", "left"], "ERR Invalid number of arguments specified for command"),
        (&["zunionstore", "d", "5", "a"], "ERR Invalid arguments specified for command"),
        (&["migrate", "h", "p", "k", "0", "5", "keys", "a"], "ERR Invalid arguments specified for command"),
    ] {
        if args[0] == "nosuch" || known(&mut c, args[0]) {
            assert_eq!(keys(&mut c, args), err(e), "{args:?}");
        }
    }
    assert_eq!(keys(&mut c, &["ping"]), err("ERR wrong number of arguments for 'command|getkeys' command"));
}

#[test]
fn command_getkeysandflags() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let flags = |c: &mut Conn, args: &[&str]| {
        let mut a = vec!["COMMAND", "GETKEYSANDFLAGS"];
        a.extend_from_slice(args);
        let V::Array(items) = c.cmd(&a) else { panic!("{args:?}") };
        items
            .into_iter()
            .map(|kv| {
                let V::Array(kv) = kv else { panic!() };
                let mut it = kv.into_iter();
                (text(it.next().unwrap()), strings(it.next().unwrap()).join(" "))
            })
            .collect::<Vec<_>>()
    };
    let p = |k: &str, f: &str| (k.to_string(), f.to_string());
    let known = |c: &mut Conn, name: &str| c.cmd(&["COMMAND", "INFO", name]) != V::Array(vec![V::Null]);
    assert_eq!(flags(&mut c, &["set", "a", "b"]), [p("a", "OW update")]);
    assert_eq!(flags(&mut c, &["set", "a", "b", "get"]), [p("a", "RW access update")]);
    if known(&mut c, "lmove") {
        assert_eq!(
            flags(&mut c, &["lmove", "a", "b", "left", "right"]),
            [p("a", "RW access delete"), p("b", "RW insert")]
        );
    }
    if known(&mut c, "sort") {
        assert_eq!(flags(&mut c, &["sort", "a", "store", "b"]), [p("a", "RO access"), p("b", "OW update")]);
    }
    if known(&mut c, "sort") {
        assert_eq!(
            flags(&mut c, &["sort", "a", "limit", "0", "1", "store", "b", "store", "c"]),
            [p("a", "RO access"), p("c", "OW update")]
        );
    }
    if known(&mut c, "sort_ro") {
        assert_eq!(flags(&mut c, &["sort_ro", "a", "by", "x"]), [p("a", "RO access")]);
    }
    if known(&mut c, "migrate") {
        assert_eq!(flags(&mut c, &["migrate", "h", "p", "k", "0", "5"]), [p("k", "RW access delete")]);
    }
    if known(&mut c, "migrate") {
        assert_eq!(
            flags(&mut c, &["migrate", "h", "p", "", "0", "5", "auth", "x", "keys", "a"]),
            [p("a", "RW access delete")]
        );
    }
    if known(&mut c, "bitfield") {
        assert_eq!(flags(&mut c, &["bitfield", "k", "get", "u8", "0"]), [p("k", "RO access")]);
    }
    if known(&mut c, "bitfield") {
        assert_eq!(flags(&mut c, &["bitfield", "k", "set", "u8", "0", "1"]), [p("k", "RW access update")]);
    }
    // RESP3: the flags are a set.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.raw(&["COMMAND", "GETKEYSANDFLAGS", "set", "a", "b"]),
        b"*1\r\n*2\r\n$1\r\na\r\n~2\r\n+OW\r\n+update\r\n"
    );
}

#[test]
fn command_help_and_unknown() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let help = strings(c.cmd(&["COMMAND", "HELP"]));
    assert_eq!(help.len(), 21);
    assert_eq!(help[1], "(no subcommand)");
    assert_eq!(help[20], "    Prints this help.");
    assert_eq!(c.cmd(&["COMMAND", "foo"]), err("ERR unknown subcommand 'foo'. Try COMMAND HELP."));
}

// ---------------------------------------------------------------- TIME, DEBUG, SHUTDOWN

#[test]
fn time() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let t = strings(c.cmd(&["TIME"]));
    assert_eq!(t.len(), 2);
    let secs: u64 = t[0].parse().unwrap();
    let micros: u64 = t[1].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(secs) <= 2);
    assert!(micros < 1_000_000);
    assert_eq!(c.cmd(&["TIME", "x"]), err("ERR wrong number of arguments for 'time' command"));
}

#[test]
fn debug_is_gated_for_network_clients() {
    let _serial = serial();
    let not_allowed = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
    let db = Database::new();
    let mut tcp = Conn::tcp(&db, "127.0.0.1:4000");
    assert_eq!(tcp.cmd(&["DEBUG", "SLEEP", "0"]), err(not_allowed));
    assert_eq!(tcp.cmd(&["DEBUG", "HELP"]), err(not_allowed));
    // In-process callers own the process: always allowed.
    let mut local = Conn::new(&db);
    assert_eq!(local.cmd(&["DEBUG", "SLEEP", "0"]), ok());

    let mut config = Config::default();
    config.set("enable-debug-command", &["local"], true).unwrap();
    let db = Database::builder().config(config).build();
    assert_eq!(Conn::tcp(&db, "127.0.0.1:4000").cmd(&["DEBUG", "SLEEP", "0"]), ok());
    assert_eq!(Conn::tcp(&db, "[::1]:4000").cmd(&["DEBUG", "SLEEP", "0"]), ok());
    assert_eq!(Conn::tcp(&db, "10.0.0.1:4000").cmd(&["DEBUG", "SLEEP", "0"]), err(not_allowed));
}

#[test]
fn debug_subcommands() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let unknown =
        |s: &str| err(&format!("ERR unknown subcommand or wrong number of arguments for '{s}'. Try DEBUG HELP."));
    assert_eq!(c.cmd(&["DEBUG"]), err("ERR wrong number of arguments for 'debug' command"));
    assert_eq!(c.cmd(&["DEBUG", "jmap"]), unknown("jmap"));
    assert_eq!(c.cmd(&["DEBUG", "object"]), unknown("object"));
    assert_eq!(c.cmd(&["DEBUG", "object", "s", "extra"]), unknown("object"));
    assert_eq!(c.cmd(&["DEBUG", "set-active-expire"]), unknown("set-active-expire"));
    assert_eq!(c.cmd(&["DEBUG", "object", "nokey"]), err("ERR no such key"));
    for arg in ["0", "0.05", "abc", "-1"] {
        assert_eq!(c.cmd(&["DEBUG", "SLEEP", arg]), ok(), "{arg}");
    }
    let started = std::time::Instant::now();
    c.cmd(&["DEBUG", "SLEEP", "0.2"]);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert_eq!(c.cmd(&["DEBUG", "LOG", "hello"]), ok());
    assert_eq!(c.cmd(&["DEBUG", "ERROR", "FOO bar"]), err("FOO bar"));
    assert_eq!(c.cmd(&["DEBUG", "ERROR", "bar"]), err("bar"));
    let help = strings(c.cmd(&["DEBUG", "HELP"]));
    assert_eq!(help[0], "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    assert!(help.contains(&"SLEEP <seconds>".to_string()));
}

#[test]
fn debug_set_active_expire() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.cmd(&["SET", "k", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(c.cmd(&["DBSIZE"]), int(1), "not expired in the background");
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "abc"]), ok(), "atoi: 0");
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "2"]), ok(), "any non-zero is on");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while c.cmd(&["DBSIZE"]) != int(0) {
        assert!(std::time::Instant::now() < deadline, "active expiry did not resume");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn debug_object() {
    let _serial = serial();
    let clock = Arc::new(ferrous_core::ManualClock::at(1_700_000_000_000));
    let db = Database::builder().clock(clock.clone()).build();
    let mut c = Conn::new(&db);
    let obj = |c: &mut Conn, k: &str| text(c.cmd(&["DEBUG", "OBJECT", k]));
    let re = |s: &str| -> HashMap<String, String> {
        assert!(s.starts_with("Value at:0x"), "{s}");
        s.split(' ').filter_map(|f| f.split_once(':')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    for (value, encoding, refcount, len) in [
        ("hello", "embstr", "1", "6"),
        ("123", "int", "2147483647", "2"),
        ("-5", "int", "1", "2"),
        ("100000", "int", "1", "5"),
        ("5000000000", "int", "1", "11"),
        ("123456789012", "int", "1", "13"),
        ("abcdefghijklmnopqrstuvwxyz0123456789", "embstr", "1", "37"),
    ] {
        c.cmd(&["SET", "k", value]);
        let f = re(&obj(&mut c, "k"));
        assert_eq!(f["encoding"], encoding, "{value}");
        assert_eq!(f["refcount"], refcount, "{value}");
        assert_eq!(f["serializedlength"], len, "{value}");
        assert_eq!(f["lru_seconds_idle"], "0");
    }
    clock.advance(5_000);
    let f = re(&obj(&mut c, "k"));
    assert_eq!(f["lru_seconds_idle"], "5");
    assert_eq!(re(&obj(&mut c, "k"))["lru_seconds_idle"], "5", "DEBUG OBJECT does not touch the key");
    let lru: u32 = f["lru"].parse().unwrap();
    assert_eq!(lru, ((1_700_000_000_000i64 / 1000) as u32) & ((1 << 24) - 1));

    c.cmd(&["RPUSH", "l", "a", "b", "c"]);
    let l = obj(&mut c, "l");
    let f = re(&l);
    assert_eq!(f["encoding"], "quicklist");
    assert_eq!(f["ql_nodes"], "1");
    assert_eq!(f["ql_avg_node"], "3.00");
    assert_eq!(f["ql_listpack_max"], "-2");
    assert_eq!(f["ql_compressed"], "0");
    assert!(l.contains(" lru_seconds_idle:0 ql_nodes:"), "{l}");
}

#[test]
fn debug_protocol() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let cases2: [(&str, &[u8]); 9] = [
        ("string", b"$11\r\nHello World\r\n"),
        ("integer", b":12345\r\n"),
        ("double", b"$5\r\n3.141\r\n"),
        ("bignum", b"$37\r\n1234567999999999999999999999999999999\r\n"),
        ("null", b"$-1\r\n"),
        ("map", b"*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n"),
        ("attrib", b"$39\r\nSome real reply following the attribute\r\n"),
        ("verbatim", b"$25\r\nThis is a verbatim\nstring\r\n"),
        ("true", b":1\r\n"),
    ];
    for (t, bytes) in cases2 {
        assert_eq!(c.raw(&["DEBUG", "PROTOCOL", t]), bytes, "{t}");
    }
    assert_eq!(c.cmd(&["DEBUG", "PROTOCOL", "push"]), err("ERR RESP2 is not supported by this command"));
    assert_eq!(
        c.cmd(&["DEBUG", "PROTOCOL", "foo"]),
        err("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
    );
    c.cmd(&["HELLO", "3"]);
    let cases3: [(&str, &[u8]); 8] = [
        ("double", b",3.141\r\n"),
        ("bignum", b"(1234567999999999999999999999999999999\r\n"),
        ("attrib", b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n"),
        ("push", b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n$40\r\nSome real reply following the push reply\r\n"),
        ("null", b"_\r\n"),
        ("set", b"~3\r\n:0\r\n:1\r\n:2\r\n"),
        ("map", b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"),
        ("verbatim", b"=29\r\ntxt:This is a verbatim\nstring\r\n"),
    ];
    for (t, bytes) in cases3 {
        assert_eq!(c.raw(&["DEBUG", "PROTOCOL", t]), bytes, "{t}");
    }
}

#[test]
fn debug_populate() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "3"]), ok());
    assert_eq!(c.cmd(&["GET", "key:2"]), bulk("value:2"));
    assert_eq!(c.cmd(&["DBSIZE"]), int(3));
    c.cmd(&["SET", "pfx:0", "mine"]);
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "2", "pfx", "20"]), ok());
    assert_eq!(c.cmd(&["GET", "pfx:0"]), bulk("mine"), "existing keys are kept");
    assert_eq!(c.cmd(&["GET", "pfx:1"]), V::Bulk(b"value:1\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec()));
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "1", "cut", "3"]), ok());
    assert_eq!(c.cmd(&["GET", "cut:0"]), bulk("val"));
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "0"]), ok());
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "-1"]), err("ERR value is out of range, must be positive"));
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "abc"]), err("ERR value is out of range, must be positive"));
}

#[test]
fn shutdown() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(
        c.cmd(&["SHUTDOWN"]),
        err("ERR SHUTDOWN is not available: this database is embedded, not run by a server")
    );
    let server = Arc::new(FakeServer::default());
    db.set_server_hooks(server.clone());
    for args in [
        &["SHUTDOWN", "foo"][..],
        &["SHUTDOWN", "SAVE", "NOSAVE"],
        &["SHUTDOWN", "ABORT", "NOW"],
        &["SHUTDOWN", "NOSAVE", "ABORT"],
    ] {
        assert_eq!(c.cmd(args), err("ERR syntax error"), "{args:?}");
    }
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]), err("ERR No shutdown in progress."));
    assert!(server.shutdowns.lock().unwrap().is_empty());
    assert!(c.raw(&["SHUTDOWN", "nosave", "NOW", "force"]).is_empty(), "no reply on success");
    assert!(c.c.close_after_reply);
    assert!(c.raw(&["SHUTDOWN"]).is_empty());
    assert!(c.raw(&["SHUTDOWN", "SAVE"]).is_empty());
    assert_eq!(
        *server.shutdowns.lock().unwrap(),
        [
            ShutdownOptions { save: Some(false), now: true, force: true },
            ShutdownOptions::default(),
            ShutdownOptions { save: Some(true), now: false, force: false },
        ]
    );
}

#[test]
fn shutdown_refused_by_the_server() {
    let _serial = serial();
    struct Failing;
    impl ServerHooks for Failing {
        fn shutdown(&self) {}
        fn shutdown_with(&self, _: &ShutdownOptions) -> Result<(), String> {
            Err("Errors trying to SHUTDOWN. Check logs.".into())
        }
    }
    let db = Database::new();
    db.set_server_hooks(Arc::new(Failing));
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["SHUTDOWN", "SAVE"]), err("ERR Errors trying to SHUTDOWN. Check logs."));
    assert!(!c.c.close_after_reply);
}
