//! SLOWLOG, LATENCY and INFO latencystats in-process, and against redis-server 7.0 where
//! the replies can be compared (the oracle tests skip with `SKIPPED: ...` when redis-server
//! is missing, except under CI).
//!
//! Command statistics (and so the latency histograms) live in the process-wide command
//! table: tests that look at them take [`serial`] so they see only their own commands.
#[path = "support/tools.rs"]
mod tools;

use ferrous_core::{ClientState, ConnectionInfo, Database, RespValue as V};
use std::io::{Read, Write};
use std::time::Duration;
use tools::{require_tool, RedisProc, TempDir};

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// An in-process client with a socket-like address and a name slot.
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
    fn send(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.c, argv.as_args(), &mut out);
        out
    }
    fn cmd(&mut self, args: &[&str]) -> V {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse_one(&self.send(&argv))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.db.disconnect(&self.c);
    }
}

fn parse_one(out: &[u8]) -> V {
    match ferrous_resp::parse_value(out) {
        Ok(Some((v, n))) => {
            assert_eq!(n, out.len(), "one reply expected");
            v
        }
        other => panic!("no reply: {other:?}"),
    }
}

fn int(v: &V) -> i64 {
    match v {
        V::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn array(v: &V) -> &[V] {
    match v {
        V::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

fn bulk(v: &V) -> Vec<u8> {
    match v {
        V::Bulk(b) | V::Verbatim(_, b) => b.clone(),
        V::Simple(s) => s.as_bytes().to_vec(),
        other => panic!("not a string: {other:?}"),
    }
}

fn text(v: &V) -> String {
    String::from_utf8_lossy(&bulk(v)).into_owned()
}

/// `[args...]` of each SLOWLOG GET entry, newest first.
fn logged(v: &V) -> Vec<Vec<String>> {
    array(v).iter().map(|e| array(&array(e)[3]).iter().map(text).collect()).collect()
}

fn ok(v: V) {
    assert_eq!(v, V::Simple("OK".into()));
}

#[test]
fn slowlog_entries() {
    let db = Database::new();
    let mut c = Conn::tcp(&db, "10.1.2.3:4567");
    ok(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]));
    ok(c.cmd(&["SLOWLOG", "RESET"]));
    ok(c.cmd(&["CLIENT", "SETNAME", "worker"]));
    let long = "x".repeat(200);
    ok(c.cmd(&["SET", "k", &long]));
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut rpush = vec!["RPUSH", "list"];
    rpush.extend(many.iter().map(String::as_str));
    c.cmd(&rpush);
    c.cmd(&["AUTH", "user", "secret"]);
    ok(c.cmd(&["MULTI"]));
    c.cmd(&["INCR", "n"]);
    c.cmd(&["EXEC"]);
    let got = c.cmd(&["SLOWLOG", "GET", "-1"]);
    let entries = array(&got);
    // SLOWLOG RESET is logged after it clears, EXEC is not, its commands are.
    let sv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut rpush_logged = sv(&["RPUSH", "list"]);
    rpush_logged.extend(many[..29].iter().cloned());
    rpush_logged.push("... (11 more arguments)".into());
    let set_logged = vec!["SET".to_string(), "k".to_string(), format!("{}... (72 more bytes)", "x".repeat(128))];
    assert_eq!(
        logged(&got),
        vec![
            sv(&["INCR", "n"]),
            sv(&["MULTI"]),
            sv(&["AUTH", "(redacted)", "(redacted)"]),
            rpush_logged,
            set_logged,
            sv(&["CLIENT", "SETNAME", "worker"]),
            sv(&["SLOWLOG", "RESET"]),
        ]
    );
    let ids: Vec<i64> = entries.iter().map(|e| int(&array(e)[0])).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "ids count down from the newest: {ids:?}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for e in entries {
        let e = array(e);
        assert_eq!(e.len(), 6);
        assert!((int(&e[1]) - now).abs() <= 5, "unix time");
        assert!(int(&e[2]) >= 0);
        assert_eq!(text(&e[4]), "10.1.2.3:4567");
    }
    // The name is the one the client had when the command was logged.
    let names: Vec<String> = entries.iter().map(|e| text(&array(e)[5])).collect();
    assert_eq!(names, ["worker", "worker", "worker", "worker", "worker", "worker", ""]);
    assert_eq!(int(&c.cmd(&["SLOWLOG", "LEN"])), 8);
    assert_eq!(array(&c.cmd(&["SLOWLOG", "GET"])).len(), 9, "SLOWLOG LEN was logged too");
    assert_eq!(array(&c.cmd(&["SLOWLOG", "GET", "2"])).len(), 2);
    assert_eq!(array(&c.cmd(&["SLOWLOG", "GET", "0"])).len(), 0);
    // In-process clients have no address: Redis shows its fake clients' as `?:0`.
    let mut local = Conn::new(&db);
    local.cmd(&["PING"]);
    let last = local.cmd(&["SLOWLOG", "GET", "1"]);
    assert_eq!(text(&array(&array(&last)[0])[4]), "?:0");
    assert_eq!(text(&array(&array(&last)[0])[5]), "");
}

#[test]
fn slowlog_thresholds_and_length() {
    let db = Database::new();
    let mut c = Conn::new(&db);
    // The default threshold (10 ms) keeps quick commands out, a 20 ms sleep in.
    ok(c.cmd(&["SLOWLOG", "RESET"]));
    c.cmd(&["PING"]);
    ok(c.cmd(&["DEBUG", "SLEEP", "0.02"]));
    let got = c.cmd(&["SLOWLOG", "GET"]);
    assert_eq!(logged(&got), vec![vec!["DEBUG", "SLEEP", "0.02"]]);
    assert!(int(&array(&array(&got)[0])[2]) >= 20_000, "duration in µs");
    // Negative: nothing is logged.
    ok(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]));
    ok(c.cmd(&["DEBUG", "SLEEP", "0.02"]));
    assert_eq!(int(&c.cmd(&["SLOWLOG", "LEN"])), 1);
    // The length bound drops the oldest entries on the next push.
    ok(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]));
    ok(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "3"]));
    for _ in 0..5 {
        c.cmd(&["PING"]);
    }
    assert_eq!(int(&c.cmd(&["SLOWLOG", "LEN"])), 3);
    ok(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "0"]));
    c.cmd(&["PING"]);
    assert_eq!(int(&c.cmd(&["SLOWLOG", "LEN"])), 0);
}

#[test]
fn chained_timing_in_a_batch() {
    // Inside a batch a command starts where the previous one ended; a new batch starts
    // afresh, so time spent between batches is never charged to a command.
    let db = Database::new();
    let mut c = Conn::new(&db);
    ok(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "15000"]));
    ok(c.cmd(&["SLOWLOG", "RESET"]));
    ferrous_core::clock::with_batch_time(db.inner().clock.now_ms(), || {
        c.cmd(&["DEBUG", "SLEEP", "0.02"]);
        c.cmd(&["PING"]);
    });
    std::thread::sleep(Duration::from_millis(30));
    ferrous_core::clock::with_batch_time(db.inner().clock.now_ms(), || {
        c.cmd(&["ECHO", "first of its batch"]);
        c.cmd(&["ECHO", "second"]);
    });
    assert_eq!(logged(&c.cmd(&["SLOWLOG", "GET"])), vec![vec!["DEBUG", "SLEEP", "0.02"]]);
}

#[test]
fn slowlog_errors_and_help() {
    let db = Database::new();
    let mut c = Conn::new(&db);
    let err = |v: V| match v {
        V::Error(e) => e,
        other => panic!("not an error: {other:?}"),
    };
    assert_eq!(err(c.cmd(&["SLOWLOG", "GET", "-2"])), "ERR count should be greater than or equal to -1");
    assert_eq!(err(c.cmd(&["SLOWLOG", "GET", "x"])), "ERR count should be greater than or equal to -1");
    assert_eq!(
        err(c.cmd(&["SLOWLOG", "GET", "1", "2"])),
        "ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP."
    );
    assert_eq!(err(c.cmd(&["SLOWLOG", "LEN", "x"])), "ERR wrong number of arguments for 'slowlog|len' command");
    assert_eq!(err(c.cmd(&["SLOWLOG", "nope"])), "ERR unknown subcommand 'nope'. Try SLOWLOG HELP.");
    assert_eq!(array(&c.cmd(&["SLOWLOG", "HELP"])).len(), 12);
    assert_eq!(array(&c.cmd(&["LATENCY", "HELP"])).len(), 17);
    assert_eq!(err(c.cmd(&["LATENCY", "GRAPH", "nope"])), "ERR No samples available for event 'nope'");
    assert_eq!(array(&c.cmd(&["LATENCY", "HISTORY", "nope"])).len(), 0);
}

#[test]
fn latency_monitor_events() {
    let db = Database::new();
    let mut c = Conn::new(&db);
    let doctor = text(&c.cmd(&["LATENCY", "DOCTOR"]));
    assert!(doctor.starts_with("I'm sorry, Dave, I can't do that. Latency monitoring is disabled"), "{doctor}");
    // Off by default: nothing recorded.
    ok(c.cmd(&["DEBUG", "SLEEP", "0.01"]));
    assert_eq!(array(&c.cmd(&["LATENCY", "LATEST"])).len(), 0);
    ok(c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "5"]));
    assert!(text(&c.cmd(&["LATENCY", "DOCTOR"])).starts_with("Dave, no latency spike was observed"));
    ok(c.cmd(&["DEBUG", "SLEEP", "0.02"]));
    c.cmd(&["PING"]);
    let latest = c.cmd(&["LATENCY", "LATEST"]);
    let latest = array(&latest);
    assert_eq!(latest.len(), 1);
    let e = array(&latest[0]);
    assert_eq!(text(&e[0]), "command");
    assert!(int(&e[2]) >= 20 && int(&e[3]) >= 20, "{e:?}");
    let history = c.cmd(&["LATENCY", "HISTORY", "command"]);
    assert_eq!(array(&history).len(), 1);
    assert_eq!(array(&array(&history)[0])[0], e[1]);
    let graph = text(&c.cmd(&["LATENCY", "GRAPH", "command"]));
    assert!(graph.starts_with(&format!("command - high {0} ms, low {0} ms (all time high {0} ms)\n", int(&e[2]))));
    let doctor = text(&c.cmd(&["LATENCY", "DOCTOR"]));
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    assert!(doctor.contains("- Check your Slow Log"), "{doctor}");
    // RESET counts the series it drops, matching names without case.
    assert_eq!(int(&c.cmd(&["LATENCY", "RESET", "nope"])), 0);
    assert_eq!(int(&c.cmd(&["LATENCY", "RESET", "COMMAND", "command"])), 1);
    assert_eq!(int(&c.cmd(&["LATENCY", "RESET"])), 0);
}

#[test]
fn latency_histogram_and_latencystats() {
    let _guard = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    c.cmd(&["HELLO", "3"]);
    ok(c.cmd(&["CONFIG", "RESETSTAT"]));
    for _ in 0..7 {
        c.cmd(&["ECHO", "x"]);
    }
    c.cmd(&["CONFIG", "GET", "hz"]);
    let h = c.cmd(&["LATENCY", "HISTOGRAM", "echo", "config", "nosuchcommand"]);
    let V::Map(entries) = &h else { panic!("{h:?}") };
    let names: Vec<String> = entries.iter().map(|(k, _)| text(k)).collect();
    assert_eq!(names, ["echo", "config|get", "config|resetstat"]);
    let V::Map(echo) = &entries[0].1 else { panic!() };
    assert_eq!(text(&echo[0].0), "calls");
    assert_eq!(int(&echo[0].1), 7);
    assert_eq!(text(&echo[1].0), "histogram_usec");
    let V::Map(points) = &echo[1].1 else { panic!() };
    let counts: Vec<i64> = points.iter().map(|(_, n)| int(n)).collect();
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "cumulative: {counts:?}");
    assert_eq!(counts.last(), Some(&7));
    let buckets: Vec<i64> = points.iter().map(|(b, _)| int(b)).collect();
    let known = [1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266];
    assert!(buckets.iter().all(|b| known.contains(b)), "{buckets:?}");
    // INFO latencystats: one line per command with calls, at the configured percentiles.
    let info = text(&c.cmd(&["INFO", "latencystats"]));
    let line = info.lines().find(|l| l.starts_with("latency_percentiles_usec_echo:")).expect(&info);
    let parts: Vec<&str> = line.split(':').nth(1).unwrap().split(',').collect();
    assert_eq!(parts.len(), 3);
    assert!(parts[0].starts_with("p50=") && parts[1].starts_with("p99=") && parts[2].starts_with("p99.9="));
    assert!(parts.iter().all(|p| p.split('=').nth(1).unwrap().split('.').nth(1).unwrap().len() == 3));
    ok(c.cmd(&["CONFIG", "SET", "latency-tracking-info-percentiles", "0 100"]));
    let info = text(&c.cmd(&["INFO", "latencystats"]));
    assert!(info.lines().any(|l| l.starts_with("latency_percentiles_usec_echo:p0=") && l.contains(",p100=")));
    // latency-tracking off: nothing shown, nothing recorded.
    ok(c.cmd(&["CONFIG", "SET", "latency-tracking", "no"]));
    c.cmd(&["ECHO", "x"]);
    assert_eq!(text(&c.cmd(&["INFO", "latencystats"])), "# Latencystats\r\n");
    ok(c.cmd(&["CONFIG", "SET", "latency-tracking", "yes"]));
    let h = c.cmd(&["LATENCY", "HISTOGRAM", "echo"]);
    let V::Map(entries) = &h else { panic!() };
    let V::Map(echo) = &entries[0].1 else { panic!() };
    assert_eq!(int(&echo[0].1), 7);
    // CONFIG RESETSTAT forgets the histograms.
    ok(c.cmd(&["CONFIG", "RESETSTAT"]));
    assert_eq!(c.cmd(&["LATENCY", "HISTOGRAM", "echo"]), V::Map(vec![]));
}

#[test]
fn commandstats_usec_counts_every_call() {
    let _guard = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    ok(c.cmd(&["CONFIG", "RESETSTAT"]));
    ok(c.cmd(&["DEBUG", "SLEEP", "0.01"]));
    let info = text(&c.cmd(&["INFO", "commandstats"]));
    let line = info.lines().find(|l| l.starts_with("cmdstat_debug:")).expect(&info);
    let usec: i64 = line.split("usec=").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!((10_000..1_000_000).contains(&usec), "{line}");
}

// ---- Against redis-server ------------------------------------------------------------

/// A raw RESP connection to redis-server, replies parsed with Ferrous's own parser.
struct Raw(std::net::TcpStream, Vec<u8>);

impl Raw {
    fn cmd(&mut self, args: &[&str]) -> V {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.0.write_all(&req).unwrap();
        loop {
            if let Ok(Some((v, n))) = ferrous_resp::parse_value(&self.1) {
                self.1.drain(..n);
                return v;
            }
            let mut buf = [0u8; 65536];
            let n = self.0.read(&mut buf).unwrap();
            assert!(n > 0, "redis-server closed the connection");
            self.1.extend_from_slice(&buf[..n]);
        }
    }
}

/// Blanks what differs between two runs: times, durations, ids (made relative), the
/// client's port.
fn normalize(v: &V) -> V {
    let entries = array(v);
    let first_id = entries.last().map(|e| int(&array(e)[0])).unwrap_or(0);
    V::Array(
        entries
            .iter()
            .map(|e| {
                let e = array(e);
                V::Array(vec![
                    V::Integer(int(&e[0]) - first_id),
                    V::Integer(0),
                    V::Integer(0),
                    e[3].clone(),
                    V::Bulk(if text(&e[4]) == "?:0" { b"?:0".to_vec() } else { b"ADDR".to_vec() }),
                    e[5].clone(),
                ])
            })
            .collect(),
    )
}

#[test]
fn slowlog_and_latency_replies_match_redis() {
    if !require_tool("redis-server") {
        return;
    }
    let dir = TempDir::new("observability");
    let redis = RedisProc::start(dir.path(), &["--enable-debug-command", "yes"]);
    let stream = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = Raw(stream, Vec::new());
    let db = Database::new();
    let mut f = Conn::tcp(&db, "127.0.0.1:5555");
    let long = "y".repeat(300);
    let script: Vec<Vec<&str>> = vec![
        vec!["CONFIG", "SET", "slowlog-log-slower-than", "0"],
        vec!["SLOWLOG", "RESET"],
        vec!["SET", "k", &long],
        vec!["CLIENT", "SETNAME", "oracle"],
        vec!["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9"],
        vec![
            "HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9", "j",
        ],
        vec!["CONFIG", "SET", "masterauth", "pw", "maxmemory-samples", "5"],
        vec!["CONFIG", "SET", "masterauth", ""],
        vec!["AUTH", "a", "b", "c"],
        vec!["AUTH", "pw"],
        vec!["HELLO", "2", "AUTH", "nobody", "pw", "SETNAME", "oracle"],
        vec!["MULTI"],
        vec!["SET", "a", "1"],
        vec!["GET", "a"],
        vec!["EXEC"],
        vec!["MULTI"],
        vec!["NOSUCHCOMMAND"],
        vec!["EXEC"],
        vec!["SLOWLOG", "LEN"],
    ];
    for cmd in &script {
        let (want, got) = (r.cmd(cmd), f.cmd(cmd));
        assert_eq!(got, want, "{cmd:?}");
    }
    let (want, got) = (r.cmd(&["SLOWLOG", "GET", "-1"]), f.cmd(&["SLOWLOG", "GET", "-1"]));
    assert_eq!(normalize(&got), normalize(&want));
    for cmd in [
        vec!["SLOWLOG", "GET", "-2"],
        vec!["SLOWLOG", "GET", "1", "2"],
        vec!["SLOWLOG", "GET", "9223372036854775807"],
        vec!["SLOWLOG", "HELP"],
        vec!["SLOWLOG"],
        vec!["LATENCY", "HELP"],
        vec!["LATENCY", "LATEST"],
        vec!["LATENCY", "DOCTOR"],
        vec!["LATENCY", "RESET"],
        vec!["LATENCY", "HISTORY", "command"],
        vec!["LATENCY", "GRAPH", "command"],
        vec!["LATENCY", "HISTOGRAM", "nosuch"],
        vec!["CONFIG", "SET", "latency-monitor-threshold", "1"],
        vec!["LATENCY", "DOCTOR"],
        vec!["CONFIG", "SET", "latency-tracking-info-percentiles", "101"],
        vec!["CONFIG", "SET", "slowlog-max-len", "-1"],
    ] {
        let (want, got) = (r.cmd(&cmd), f.cmd(&cmd));
        if cmd.starts_with(&["SLOWLOG", "GET"]) && !matches!(want, V::Error(_)) {
            assert_eq!(normalize(&got), normalize(&want), "{cmd:?}");
        } else {
            assert_eq!(got, want, "{cmd:?}");
        }
    }
    // One spike of the same size on both sides: LATEST, HISTORY and the graph agree but
    // for the times (and the graph's age labels).
    // (DEBUG from a client with an address needs `enable-debug-command`; in-process may.)
    let mut local = Conn::new(&db);
    for cmd in [&["LATENCY", "RESET"][..], &["DEBUG", "SLEEP", "0.03"]] {
        r.cmd(cmd);
        local.cmd(cmd);
    }
    let shape = |v: V| -> (String, i64) {
        let e = array(&v).first().cloned().unwrap_or_else(|| panic!("no event: {v:?}"));
        let e = array(&e);
        (text(&e[0]), int(&e[3]) / 10)
    };
    assert_eq!(shape(f.cmd(&["LATENCY", "LATEST"])), shape(r.cmd(&["LATENCY", "LATEST"])));
    let first_line = |v: V| text(&v).lines().next().map(|l| l.replace(|c: char| c.is_ascii_digit(), "N"));
    assert_eq!(
        first_line(f.cmd(&["LATENCY", "GRAPH", "command"])),
        first_line(r.cmd(&["LATENCY", "GRAPH", "command"]))
    );
    let doctor = |v: V| text(&v).replace(|c: char| c.is_ascii_digit(), "N");
    assert_eq!(doctor(f.cmd(&["LATENCY", "DOCTOR"])), doctor(r.cmd(&["LATENCY", "DOCTOR"])));
}
