//! End-to-end tests of the append-only file: the real binary, its `appendonlydir`, and
//! redis-server 7.0 / redis-check-aof as the oracle.
//!
//! - [`acknowledged_writes_survive_kill9`]: with `appendfsync always`, concurrent clients'
//!   acknowledged increments all survive SIGKILL + restart, trial after trial
//!   (`FERROUS_AOF_TRIALS` for long runs; a few in CI).
//! - [`rewrite_under_load_keeps_every_write`]: BGREWRITEAOF while clients write loses
//!   nothing and leaves one base and one incr file.
//! - [`always_serves_split_pipelines_and_large_replies`]: under `appendfsync always` replies
//!   wait for the turn's commit; a pipeline arriving in pieces, replies too large for one
//!   socket write and a client that stops reading for a while all get every reply, in order.
//! - [`config_set_appendonly_at_run_time`]: CONFIG SET appendonly yes on a live server
//!   writes a base of what is there; later writes and a restart with the AOF keep it all.
//! - [`aof_directory_loads_into_redis`]: the directory passes `redis-check-aof` and
//!   redis-server 7.0 loads it with the same contents (every type, expiries, MULTI/EXEC,
//!   scripts, several databases), with the base as an RDB preamble and as commands.
mod common;

use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn int(c: &mut RespConn, args: &[&str]) -> i64 {
    match c.cmd(args) {
        Resp::Int(n) => n,
        other => panic!("{args:?} replied {other}"),
    }
}

fn wait_rewrite_done(c: &mut RespConn) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let Resp::Bulk(info) = c.cmd(&["INFO", "persistence"]) else { panic!("INFO") };
        let text = String::from_utf8_lossy(&info).into_owned();
        if text.contains("aof_rewrite_in_progress:0") && text.contains("aof_enabled:1") {
            assert!(text.contains("aof_last_bgrewrite_status:ok"), "{text}");
            return;
        }
        assert!(Instant::now() < deadline, "rewrite still running: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Everything a client can see of a database, canonically (sorted members), per db.
fn contents(c: &mut RespConn) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        c.cmd(&["SELECT", &db.to_string()]);
        let Resp::Array(keys) = c.cmd(&["KEYS", "*"]) else { panic!("KEYS") };
        let mut keys: Vec<String> =
            keys.iter().filter_map(|k| k.bytes()).map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        keys.sort();
        for k in keys {
            let Resp::Simple(t) = c.cmd(&["TYPE", &k]) else { panic!("TYPE") };
            let t = String::from_utf8_lossy(&t).into_owned();
            let value = match t.as_str() {
                "string" => format!("{}", c.cmd(&["GET", &k])),
                "list" => format!("{}", c.cmd(&["LRANGE", &k, "0", "-1"])),
                "zset" => format!("{}", c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                "hash" | "set" => {
                    let cmd = if t == "hash" { "HGETALL" } else { "SMEMBERS" };
                    let Resp::Array(items) = c.cmd(&[cmd, &k]) else { panic!("{cmd}") };
                    let mut items: Vec<String> = items.iter().map(|i| format!("{i}")).collect();
                    if t == "hash" {
                        items = items.chunks(2).map(|p| p.join("=")).collect();
                    }
                    items.sort();
                    items.join(",")
                }
                other => panic!("type {other}"),
            };
            let has_ttl = int(c, &["PTTL", &k]) > 0;
            out.push(format!("{db} {k} {t} {value} ttl:{has_ttl}"));
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

#[test]
fn acknowledged_writes_survive_kill9() {
    let trials: usize = std::env::var("FERROUS_AOF_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let dir = TempDir::new("aof-kill9");
    let mut server =
        TestServer::start_in(Kind::Ferrous, dir.path(), &["--appendonly", "yes", "--appendfsync", "always"]);
    for trial in 0..trials {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = server.addr();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut c = RespConn::connect(addr).expect("connect");
                    c.set_timeout(Duration::from_secs(5));
                    let key = format!("counter:{w}");
                    let mut acked = None;
                    while !stop.load(Ordering::Relaxed) {
                        match c.call(&["INCR", &key]) {
                            Ok(r) => match r.value {
                                Resp::Int(n) => acked = Some(n),
                                other => panic!("INCR replied {other}"),
                            },
                            Err(_) => break, // killed
                        }
                    }
                    (key, acked)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<(String, Option<i64>)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        server.restart();
        let mut c = server.raw();
        for (key, acked) in acked {
            let Some(acked) = acked else { continue };
            let got = match c.cmd(&["GET", &key]) {
                Resp::Bulk(b) => String::from_utf8_lossy(&b).parse::<i64>().unwrap(),
                other => panic!("trial {trial}: {key} is {other} after restart, {acked} was acknowledged"),
            };
            // The last INCR may have reached the file without its reply reaching us.
            assert!(
                got == acked || got == acked + 1,
                "trial {trial}: {key} = {got} after restart, {acked} acknowledged"
            );
        }
    }
}

#[test]
fn rewrite_under_load_keeps_every_write() {
    let dir = TempDir::new("aof-rewrite");
    let mut server = TestServer::start_in(Kind::Ferrous, dir.path(), &["--appendonly", "yes"]);
    let mut c = server.raw();
    c.cmd(&["DEBUG", "POPULATE", "50000", "bulk", "32"]);
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = RespConn::connect(addr).expect("connect");
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                n += 1;
                c.cmd(&["RPUSH", "log", &n.to_string()]);
                c.cmd(&["INCR", "count"]);
            }
            n
        })
    };
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        let r = c.cmd(&["BGREWRITEAOF"]);
        assert!(matches!(&r, Resp::Simple(s) if s.starts_with(b"Background append only file rewriting")), "{r}");
        wait_rewrite_done(&mut c);
    }
    stop.store(true, Ordering::Relaxed);
    let n = writer.join().unwrap();
    let before = contents(&mut c);
    assert_eq!(int(&mut c, &["LLEN", "log"]), n);
    server.kill9();
    let files: Vec<String> = std::fs::read_dir(dir.path().join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.iter().filter(|f| f.contains(".base.")).count(), 1, "{files:?}");
    assert_eq!(files.iter().filter(|f| f.contains(".incr.")).count(), 1, "{files:?}");
    server.restart();
    let mut c = server.raw();
    assert_eq!(contents(&mut c), before);
}

#[test]
fn always_serves_split_pipelines_and_large_replies() {
    let dir = TempDir::new("aof-always-held");
    let mut server =
        TestServer::start_in(Kind::Ferrous, dir.path(), &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = server.raw();
    // A pipeline of writes cut at arbitrary byte boundaries, with pauses between the cuts:
    // every turn ends with some commands executed and held, some still incomplete.
    let mut bytes = Vec::new();
    for i in 0..300 {
        bytes.extend(encode_command(&["INCR", "n"]));
        if i % 7 == 0 {
            bytes.extend(encode_command(&["GET", "n"]));
        }
    }
    for (i, chunk) in bytes.chunks(97).enumerate() {
        c.send_raw(chunk).unwrap();
        if i % 5 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut n = 0;
    for i in 0..300 {
        n += 1;
        assert_eq!(c.read().unwrap().value, Resp::Int(n), "INCR #{i}");
        if i % 7 == 0 {
            assert_eq!(c.read().unwrap().value, Resp::Bulk(n.to_string().into_bytes()), "GET after INCR #{i}");
        }
    }
    // Replies far larger than a socket buffer, to a client that reads only after a while:
    // the rest of the reply goes out on write readiness after the commit.
    let big = "x".repeat(4 << 20);
    c.send(&["SET", "big", &big]).unwrap();
    for _ in 0..3 {
        c.send(&["GETSET", "big", &big]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.read().unwrap().value, simple("OK"));
    for _ in 0..3 {
        assert_eq!(c.read().unwrap().value, Resp::Bulk(big.clone().into_bytes()));
    }
    assert_eq!(c.cmd(&["INCR", "n"]), Resp::Int(301));
    // A pipeline far larger than the read buffer, sent at once: after each commit the
    // server must go on reading what is already in the socket (no new event comes for it).
    let burst: Vec<u8> = (0..20_000).flat_map(|_| encode_command(&["INCR", "m"])).collect();
    c.send_raw(&burst).unwrap();
    for i in 1..=20_000 {
        assert_eq!(c.read().unwrap().value, Resp::Int(i));
    }
    server.kill9();
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["GET", "n"]), Resp::Bulk(b"301".to_vec()));
    assert_eq!(c.cmd(&["STRLEN", "big"]), Resp::Int(4 << 20));
    assert_eq!(c.cmd(&["GET", "m"]), Resp::Bulk(b"20000".to_vec()));
}

#[test]
fn config_set_appendonly_at_run_time() {
    let dir = TempDir::new("aof-config-set");
    let mut server = TestServer::start_in(Kind::Ferrous, dir.path(), &[]);
    let mut c = server.raw();
    c.cmd(&["SET", "before", "1"]);
    c.cmd(&["RPUSH", "list", "a", "b"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]), simple("OK"));
    wait_rewrite_done(&mut c);
    c.cmd(&["SET", "after", "2"]);
    c.cmd(&["LPUSH", "list", "z"]);
    let before = contents(&mut c);
    server.kill9();
    let mut server = TestServer::start_in(Kind::Ferrous, dir.path(), &["--appendonly", "yes"]);
    let mut c = server.raw();
    assert_eq!(contents(&mut c), before);
    server.kill9();
}

#[test]
fn aof_directory_loads_into_redis() {
    if !require_tool("redis-server") || !require_tool("redis-check-aof") {
        return;
    }
    // The base as an RDB preamble, and as commands.
    for preamble in ["yes", "no"] {
        aof_directory_loads_into_redis_with(preamble);
    }
}

fn aof_directory_loads_into_redis_with(preamble: &str) {
    let dir = TempDir::new("aof-to-redis");
    let args = ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", preamble];
    let mut server = TestServer::start_in(Kind::Ferrous, dir.path(), &args);
    let mut c = server.raw();
    let setup: &[&[&str]] = &[
        &["SET", "s", "hello"],
        &["SET", "n", "42"],
        &["SET", "ttl", "v", "EX", "1000"],
        &["RPUSH", "l", "a", "b", "c"],
        &["HSET", "h", "f1", "v1", "f2", "v2"],
        &["SADD", "set", "1", "2", "3"],
        &["SADD", "strs", "x", "y"],
        &["ZADD", "z", "1.5", "a", "-2", "b"],
        &["INCRBYFLOAT", "f", "1.25"],
        &["MULTI"],
        &["INCR", "n"],
        &["SELECT", "3"],
        &["SET", "in3", "x"],
        &["EXEC"],
        &["EVAL", "redis.call('SET', KEYS[1], 'lua'); redis.call('INCR', KEYS[2])", "2", "fromlua", "n"],
        &["SPOP", "set"],
        &["EXPIRE", "h", "5000"],
    ];
    for cmd in setup {
        let r = c.cmd(cmd);
        assert!(!r.is_error(), "{cmd:?}: {r}");
    }
    assert_eq!(c.cmd(&["BGREWRITEAOF"]), simple("Background append only file rewriting started"));
    wait_rewrite_done(&mut c);
    for cmd in [&["LPUSH", "l", "after-rewrite"][..], &["SELECT", "5"], &["SET", "in5", "y"], &["SELECT", "0"]] {
        c.cmd(cmd);
    }
    let expected = contents(&mut c);
    server.kill9();
    let aofdir = dir.path().join("appendonlydir");
    let manifest = aofdir.join("appendonly.aof.manifest");
    let check = std::process::Command::new("redis-check-aof").arg(&manifest).output().expect("run redis-check-aof");
    assert!(
        check.status.success(),
        "redis-check-aof refused the directory:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let copy = TempDir::new("aof-to-redis-copy");
    std::fs::create_dir_all(copy.path().join("appendonlydir")).unwrap();
    for e in std::fs::read_dir(&aofdir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.path().join("appendonlydir").join(e.file_name())).unwrap();
    }
    let mut redis = TestServer::start_in(Kind::Redis, copy.path(), &["--appendonly", "yes"]);
    let mut rc = redis.raw();
    assert_eq!(contents(&mut rc), expected, "aof-use-rdb-preamble {preamble}");
    redis.kill9();
    // And Ferrous itself restarts from it.
    server.restart();
    let mut c = server.raw();
    assert_eq!(contents(&mut c), expected, "aof-use-rdb-preamble {preamble}");
    server.kill9();
}
