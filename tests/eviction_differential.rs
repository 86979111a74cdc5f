//! `maxmemory` against redis-server 7.0: the same steps on both servers must give the same
//! replies. Budgets are chosen so the outcome does not depend on how each server counts its
//! bytes: `maxmemory 1` is always exceeded (every evictable key goes, then deny-oom commands
//! get `-OOM`), `maxmemory 0` never is. Also OBJECT FREQ with `lfu-log-factor 0` (the counter
//! counts accesses exactly), the MEMORY subcommands' errors and help, the `evicted`
//! keyspace event and INFO's `evicted_keys`.
//!
//! Skipped (with `SKIPPED: ...`) when redis-server is not installed, except under CI.
mod common;

use common::{Resp, RespConn, TestServer};
use std::time::Duration;

fn servers() -> Option<(TestServer, TestServer)> {
    common::use_redis_ports(7700..7750);
    let redis = TestServer::redis(&[])?;
    let ferrous = TestServer::ferrous(&[]);
    Some((redis, ferrous))
}

/// One connection to each server, driven in lockstep.
struct Pair {
    label: &'static str,
    conns: [RespConn; 2],
}

impl Pair {
    fn new(label: &'static str, s: &(TestServer, TestServer)) -> Pair {
        Pair { label, conns: [s.0.raw(), s.1.raw()] }
    }
    /// Sends `args` to both; the replies must be equal. Returns Ferrous's.
    fn same(&mut self, args: &[&str]) -> Resp {
        let r = self.conns[0].cmd(args);
        let f = self.conns[1].cmd(args);
        assert_eq!(f, r, "{}: {:?} (left: ferrous, right: redis)", self.label, args);
        f
    }
    /// Sends `args` to both without comparing (set-up whose reply differs, e.g. INFO).
    fn both(&mut self, args: &[&str]) -> [Resp; 2] {
        [self.conns[0].cmd(args), self.conns[1].cmd(args)]
    }
}

fn info_field(info: &Resp, name: &str) -> Option<String> {
    let Resp::Bulk(text) = info else { return None };
    String::from_utf8_lossy(text).lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// 50 keys with a TTL and 50 without, in db 0 and db 2.
fn fill(p: &mut Pair) {
    for db in ["0", "2"] {
        p.same(&["SELECT", db]);
        for i in 0..50 {
            p.same(&["SET", &format!("v{i}"), "x", "EX", "1000"]);
            p.same(&["RPUSH", &format!("p{i}"), "a", "b"]);
        }
    }
    p.same(&["SELECT", "0"]);
}

#[test]
fn policies_with_a_budget_always_exceeded() {
    let Some(s) = servers() else { return };
    for policy in [
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let mut p = Pair::new(policy, &s);
        p.same(&["FLUSHALL"]);
        p.same(&["CONFIG", "SET", "maxmemory", "0"]);
        p.same(&["CONFIG", "SET", "maxmemory-policy", policy]);
        p.same(&["CONFIG", "RESETSTAT"]);
        // No time limit per command: this compares which keys go and the replies once
        // nothing more can go, not how fast a (debug) build evicts. With the default
        // tenacity a command that spends over 500 us evicting runs anyway (Redis's
        // EVICT_RUNNING), which a debug build reaches with a couple of hundred keys.
        p.same(&["CONFIG", "SET", "maxmemory-eviction-tenacity", "100"]);
        fill(&mut p);
        p.same(&["CONFIG", "SET", "maxmemory", "1"]);
        // Deny-oom commands are refused once nothing more can go.
        p.same(&["SET", "new", "x"]);
        p.same(&["LPUSH", "p0", "c"]);
        p.same(&["INCR", "counter"]);
        p.same(&["APPEND", "v0", "y"]);
        // Reads and deletions run.
        p.same(&["DBSIZE"]);
        p.same(&["EXISTS", "v1", "p1"]);
        p.same(&["SELECT", "2"]);
        p.same(&["DBSIZE"]);
        p.same(&["LRANGE", "p3", "0", "-1"]);
        p.same(&["DEL", "p3"]);
        p.same(&["SELECT", "0"]);
        let infos = p.both(&["INFO", "stats"]);
        let evicted = infos.map(|i| info_field(&i, "evicted_keys"));
        assert_eq!(evicted[1], evicted[0], "{policy}: evicted_keys");
        p.same(&["CONFIG", "SET", "maxmemory", "0"]);
        p.same(&["SET", "new", "x"]);
    }
}

#[test]
fn transactions_and_scripts_out_of_memory() {
    let Some(s) = servers() else { return };
    let mut p = Pair::new("multi", &s);
    p.same(&["FLUSHALL"]);
    p.same(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    p.same(&["SET", "a", "1"]);
    p.same(&["MULTI"]);
    p.same(&["SET", "a", "2"]);
    p.same(&["CONFIG", "SET", "maxmemory", "1"]);
    p.same(&["GET", "a"]);
    p.same(&["EXEC"]);
    p.same(&["DISCARD"]);
    // A transaction of reads only may run.
    p.same(&["CONFIG", "SET", "maxmemory", "0"]);
    p.same(&["MULTI"]);
    p.same(&["GET", "a"]);
    p.same(&["CONFIG", "SET", "maxmemory", "1"]);
    p.same(&["EXEC"]);
    // Scripts: a script that writes fails at the write; reads work.
    p.same(&["EVAL", "return redis.call('GET', KEYS[1])", "1", "a"]);
    p.same(&["EVAL", "return redis.pcall('SET', KEYS[1], 'x')", "1", "a"]);
    p.same(&["EVAL", "return redis.pcall('DEL', KEYS[1])", "1", "a"]);
    p.same(&["CONFIG", "SET", "maxmemory", "0"]);
    p.same(&["EVAL", "return redis.pcall('SET', KEYS[1], 'x')", "1", "a"]);
}

#[test]
fn lfu_counter_and_object_errors() {
    let Some(s) = servers() else { return };
    let mut p = Pair::new("lfu", &s);
    p.same(&["FLUSHALL"]);
    p.same(&["CONFIG", "SET", "maxmemory", "0"]);
    p.same(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    p.same(&["SET", "k", "v"]);
    p.same(&["OBJECT", "FREQ", "k"]);
    p.same(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    p.same(&["CONFIG", "SET", "lfu-log-factor", "0"]);
    p.same(&["OBJECT", "IDLETIME", "k"]);
    p.same(&["SET", "fresh", "v"]);
    p.same(&["OBJECT", "FREQ", "fresh"]);
    for _ in 0..7 {
        p.same(&["GET", "fresh"]);
    }
    p.same(&["OBJECT", "FREQ", "fresh"]);
    p.same(&["OBJECT", "FREQ", "missing"]);
    p.same(&["HSET", "h", "f", "v"]);
    p.same(&["HGET", "h", "f"]);
    p.same(&["OBJECT", "FREQ", "h"]);
    let [r, f] = p.both(&["DUMP", "fresh"]);
    let (Resp::Bulk(rd), Resp::Bulk(fd)) = (r, f) else { panic!("no payload") };
    p.conns[0].call(&[b"RESTORE".as_slice(), b"copy", b"0", &rd, b"FREQ", b"77"]).expect("restore");
    p.conns[1].call(&[b"RESTORE".as_slice(), b"copy", b"0", &fd, b"FREQ", b"77"]).expect("restore");
    p.same(&["OBJECT", "FREQ", "copy"]);
    p.same(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
}

#[test]
fn memory_subcommands() {
    let Some(s) = servers() else { return };
    let mut p = Pair::new("memory", &s);
    p.same(&["FLUSHALL"]);
    p.same(&["SET", "foo", "bar"]);
    p.same(&["MEMORY", "HELP"]);
    p.same(&["MEMORY", "USAGE", "nokey"]);
    p.same(&["MEMORY", "USAGE", "foo", "SAMPLES"]);
    p.same(&["MEMORY", "USAGE", "foo", "SAMPLES", "-1"]);
    p.same(&["MEMORY", "USAGE", "foo", "SAMPLES", "x"]);
    p.same(&["MEMORY", "USAGE", "foo", "BOGUS", "1"]);
    p.same(&["MEMORY", "USAGE"]);
    p.same(&["MEMORY", "PURGE"]);
    p.same(&["MEMORY", "NOSUCH"]);
    p.same(&["MEMORY", "DOCTOR"]);
    p.same(&["MEMORY", "STATS", "extra"]);
    // Sizes differ by design; types and field names must not.
    let [r, f] = p.both(&["MEMORY", "USAGE", "foo", "SAMPLES", "0"]);
    assert!(matches!((&r, &f), (Resp::Int(_), Resp::Int(_))), "{r:?} {f:?}");
    let [r, f] = p.both(&["MEMORY", "STATS"]);
    let names = |v: &Resp| -> Vec<String> {
        let Resp::Array(items) = v else { panic!("not an array: {v:?}") };
        items
            .iter()
            .step_by(2)
            .map(|i| match i {
                Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(names(&f), names(&r));
}

#[test]
fn evicted_keys_are_notified() {
    let Some(s) = servers() else { return };
    let mut p = Pair::new("notify", &s);
    p.same(&["FLUSHALL"]);
    p.same(&["CONFIG", "SET", "maxmemory", "0"]);
    p.same(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    p.same(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    p.same(&["SET", "victim", "v"]);
    let mut subs = [s.0.raw(), s.1.raw()];
    for sub in subs.iter_mut() {
        sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
        sub.set_timeout(Duration::from_secs(5));
    }
    p.same(&["CONFIG", "SET", "maxmemory", "1"]);
    p.same(&["SET", "other", "v"]);
    let got = subs.map(|mut sub| sub.read().expect("the evicted event").value);
    assert_eq!(got[1], got[0]);
    p.same(&["CONFIG", "SET", "maxmemory", "0"]);
    p.same(&["CONFIG", "SET", "notify-keyspace-events", ""]);
}

/// `maxmemory-clients`: a client whose query buffer holds 2 MB of an unfinished command is
/// closed, one that ran CLIENT NO-EVICT ON is not, and INFO counts `evicted_clients`.
#[test]
fn client_eviction() {
    use std::io::{Read, Write};
    let Some(s) = servers() else { return };
    let mut p = Pair::new("clients", &s);
    p.same(&["CONFIG", "SET", "maxmemory-clients", "1mb"]);
    p.same(&["CONFIG", "RESETSTAT"]);
    let half_sent = |protect: bool| -> [RespConn; 2] {
        let mut conns = [s.0.raw(), s.1.raw()];
        for c in conns.iter_mut() {
            if protect {
                assert_eq!(c.cmd(&["CLIENT", "NO-EVICT", "on"]), Resp::Simple(b"OK".to_vec()));
            }
            let mut stream = c.stream().try_clone().expect("clone");
            // The server may close the connection before all of it is written.
            let _ = stream.write_all(b"*2\r\n$4\r\nECHO\r\n$4000000\r\n");
            let _ = stream.write_all(&vec![b'x'; 2_000_000]);
        }
        conns
    };
    // Closed (EOF or reset) within 1.5 s (both servers check at least 10 times a second), or
    // still open (the read times out).
    let closed = |c: &RespConn| -> bool {
        let mut stream = c.stream().try_clone().expect("clone");
        stream.set_read_timeout(Some(Duration::from_millis(1500))).expect("timeout");
        let mut buf = [0u8; 16];
        match stream.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        }
    };
    let victims = half_sent(false);
    assert_eq!([closed(&victims[0]), closed(&victims[1])], [true, true], "redis, ferrous: a big client is evicted");
    let infos = p.both(&["INFO", "stats"]);
    let evicted = infos.map(|i| info_field(&i, "evicted_clients"));
    assert_eq!(evicted[1], evicted[0], "evicted_clients");
    // Protected clients stay (the small ones, this test's own, may go instead, on both).
    let protected = half_sent(true);
    assert_eq!([closed(&protected[0]), closed(&protected[1])], [false, false], "NO-EVICT clients stay");
    drop(protected);
    let mut fresh = Pair::new("clients", &s);
    fresh.same(&["CONFIG", "SET", "maxmemory-clients", "0"]);
}

/// Under an LFU policy an RDB file carries each key's counter (FREQ), under an LRU policy
/// its idle time (IDLE), as Redis writes them: a file Ferrous saves loads into redis-server
/// with the same OBJECT FREQ, and the other way round; `redis-check-rdb` accepts Ferrous's.
#[test]
fn rdb_keeps_the_access_clock() {
    let Some((redis, ferrous)) = servers() else { return };
    let lfu = ["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"];
    for s in [&redis, &ferrous] {
        let mut c = s.raw();
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
        c.cmd(&["CONFIG", "SET", "lfu-log-factor", "0"]);
        c.cmd(&["SET", "hot", "v"]);
        c.cmd(&["SET", "cold", "v"]);
        for _ in 0..20 {
            c.cmd(&["GET", "hot"]);
        }
        assert_eq!(c.cmd(&["SAVE"]), Resp::Simple(b"OK".to_vec()));
    }
    if common::require_tool("redis-check-rdb") {
        let out = std::process::Command::new("redis-check-rdb")
            .arg(ferrous.dir().join("dump.rdb"))
            .output()
            .expect("redis-check-rdb");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
    // Each server's file loads into the other kind.
    let redis_from_ferrous = TestServer::start_in(common::Kind::Redis, ferrous.dir(), &lfu);
    let ferrous_from_redis = TestServer::start_in(common::Kind::Ferrous, redis.dir(), &lfu);
    for (loaded, label) in
        [(&redis_from_ferrous, "redis loading ferrous's file"), (&ferrous_from_redis, "ferrous loading redis's file")]
    {
        let mut c = loaded.raw();
        assert_eq!(c.cmd(&["OBJECT", "FREQ", "hot"]), Resp::Int(25), "{label}");
        assert_eq!(c.cmd(&["OBJECT", "FREQ", "cold"]), Resp::Int(5), "{label}");
    }
}
