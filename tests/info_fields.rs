//! INFO fields and CLIENT LIST's `multi-mem` that report real state, against redis-server
//! 7.0 where the value is deterministic (the same on both servers), otherwise by how they
//! move: `multi-mem` and the transaction's share of `tot-mem`, the script and function
//! caches, the Lua states' memory, the clients timeout table, the tracking table, and a
//! BGREWRITEAOF scheduled behind a BGSAVE with the save's key progress.
//!
//! Oracles use ports 8250-8299. Skipped (with `SKIPPED: ...`) when redis-server is not
//! installed, except under CI.
mod common;

use common::{client_fields, Resp, RespConn, TestServer};
use std::collections::HashMap;
use std::time::Duration;

fn ferrous_and_redis(extra: &[&str]) -> Option<(TestServer, TestServer)> {
    common::use_redis_ports(8250..8300);
    let redis = TestServer::redis(extra)?;
    Some((TestServer::ferrous(extra), redis))
}

fn text(reply: Resp) -> String {
    match reply {
        Resp::Bulk(b) => String::from_utf8(b).expect("text"),
        Resp::Verbatim(b) => {
            let s = String::from_utf8(b).expect("text");
            s.strip_prefix("txt:").map(str::to_string).unwrap_or(s)
        }
        other => panic!("expected text, got {other:?}"),
    }
}

/// Every `name:value` of `INFO section`.
fn info(conn: &mut RespConn, section: &str) -> HashMap<String, String> {
    text(conn.cmd(&["INFO", section]))
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn info_u64(conn: &mut RespConn, section: &str, field: &str) -> u64 {
    let all = info(conn, section);
    let v = all.get(field).unwrap_or_else(|| panic!("INFO {section} has no {field}"));
    v.parse().unwrap_or_else(|_| panic!("{field}:{v} is not a number"))
}

fn client_u64(observer: &mut RespConn, name: &str, field: &str) -> u64 {
    client_fields(observer, name)[field].parse().expect("a number")
}

fn ok(conn: &mut RespConn, args: &[&str]) -> Resp {
    let r = conn.cmd(args);
    assert!(!r.is_error(), "{args:?}: {r:?}");
    r
}

/// `(multi-mem, tot-mem)` of the client named `a` after each step of a transaction, and
/// after EXEC or DISCARD.
fn transaction_memory(server: &TestServer, end: &str) -> Vec<(u64, u64)> {
    let (mut a, mut b) = (server.raw(), server.raw());
    ok(&mut a, &["CLIENT", "SETNAME", "a"]);
    let mut seen = Vec::new();
    let mut look = |b: &mut RespConn| {
        let f = client_fields(b, "a");
        seen.push((f["multi-mem"].parse().unwrap(), f["tot-mem"].parse().unwrap()));
    };
    look(&mut b);
    ok(&mut a, &["WATCH", "w1", "w2"]);
    look(&mut b);
    ok(&mut a, &["MULTI"]);
    look(&mut b);
    let big = "x".repeat(1000);
    let queued: [&[&str]; 5] =
        [&["SET", "k", "v"], &["SET", "k", "v"], &["SET", "k", "v"], &["SET", "kkkkkkkkkk", &big], &["PING"]];
    for c in queued {
        assert_eq!(a.cmd(c), Resp::Simple(b"QUEUED".to_vec()), "{c:?}");
        look(&mut b);
    }
    ok(&mut a, &[end]);
    look(&mut b);
    seen
}

#[test]
fn multi_mem_counts_queued_commands_as_redis() {
    let Some((ferrous, redis)) = ferrous_and_redis(&[]) else { return };
    for end in ["EXEC", "DISCARD"] {
        let (f, r) = (transaction_memory(&ferrous, end), transaction_memory(&redis, end));
        let multi_mem = |v: &[(u64, u64)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(multi_mem(&f), multi_mem(&r), "multi-mem through a transaction ending in {end}");
        // Grows with every queued command, back to 0 once the transaction ends.
        assert!(multi_mem(&f).windows(2).skip(2).take(5).all(|w| w[1] > w[0]), "{f:?}");
        assert_eq!(f.last().unwrap().0, 0);
        // tot-mem moves as Redis's: the queued arguments, the queue's slots and the
        // watched keys (each step against the one before).
        let steps = |v: &[(u64, u64)]| v.windows(2).map(|w| w[1].1 as i64 - w[0].1 as i64).collect::<Vec<_>>();
        assert_eq!(steps(&f), steps(&r), "tot-mem steps through a transaction ending in {end}");
    }
}

#[test]
fn queued_commands_count_in_mem_clients_normal() {
    let server = TestServer::start();
    let (mut a, mut b) = (server.raw(), server.raw());
    ok(&mut a, &["CLIENT", "SETNAME", "a"]);
    ok(&mut a, &["MULTI"]);
    let before = info_u64(&mut b, "memory", "mem_clients_normal");
    let value = "v".repeat(100_000);
    for _ in 0..5 {
        assert_eq!(a.cmd(&["SET", "k", &value]), Resp::Simple(b"QUEUED".to_vec()));
    }
    let queued = client_u64(&mut b, "a", "multi-mem");
    assert!(queued >= 500_000, "multi-mem {queued}");
    if server.kind() == common::Kind::Ferrous {
        // Redis refreshes this figure from its cron; Ferrous measures when asked.
        let during = info_u64(&mut b, "memory", "mem_clients_normal");
        assert!(during >= before + queued, "mem_clients_normal {before} -> {during} with {queued} queued");
        ok(&mut a, &["DISCARD"]);
        let after = info_u64(&mut b, "memory", "mem_clients_normal");
        assert!(after + queued <= during, "mem_clients_normal {during} -> {after} after DISCARD");
    } else {
        ok(&mut a, &["DISCARD"]);
    }
    assert_eq!(client_u64(&mut b, "a", "multi-mem"), 0);
}

/// `(number_of_cached_scripts, used_memory_scripts_eval > 0)` after each step.
fn script_cache(server: &TestServer) -> Vec<(u64, bool)> {
    let mut c = server.raw();
    let mut seen = Vec::new();
    let mut look = |c: &mut RespConn| {
        let m = info(c, "memory");
        seen.push((m["number_of_cached_scripts"].parse().unwrap(), m["used_memory_scripts_eval"] != "0"));
    };
    look(&mut c);
    for body in ["return 1", "return 2", "return 3"] {
        ok(&mut c, &["SCRIPT", "LOAD", body]);
    }
    ok(&mut c, &["SCRIPT", "LOAD", "return 1"]);
    look(&mut c);
    ok(&mut c, &["EVAL", "return 4", "0"]);
    look(&mut c);
    ok(&mut c, &["SCRIPT", "FLUSH"]);
    look(&mut c);
    seen
}

#[test]
fn cached_scripts_as_redis() {
    let Some((ferrous, redis)) = ferrous_and_redis(&[]) else { return };
    let (f, r) = (script_cache(&ferrous), script_cache(&redis));
    assert_eq!(f, r);
    assert_eq!(f.iter().map(|s| s.0).collect::<Vec<_>>(), [0, 3, 4, 0]);
}

const LIB_A: &str = "#!lua name=liba\n\
    redis.register_function('fa1', function() return 1 end)\n\
    redis.register_function{function_name='fa2', callback=function() return 2 end, description='two'}";
const LIB_B: &str = "#!lua name=libb\nredis.register_function('fb1', function() return 1 end)";

/// `(number_of_functions, number_of_libraries)` after each step.
fn function_counts(server: &TestServer) -> Vec<(u64, u64)> {
    let mut c = server.raw();
    let mut seen = Vec::new();
    let mut look = |c: &mut RespConn| {
        let m = info(c, "memory");
        seen.push((m["number_of_functions"].parse().unwrap(), m["number_of_libraries"].parse().unwrap()));
    };
    look(&mut c);
    ok(&mut c, &["FUNCTION", "LOAD", LIB_A]);
    look(&mut c);
    ok(&mut c, &["FUNCTION", "LOAD", LIB_B]);
    look(&mut c);
    assert!(c.cmd(&["FUNCTION", "LOAD", LIB_B]).is_error(), "a second libb");
    look(&mut c);
    ok(&mut c, &["FUNCTION", "DELETE", "liba"]);
    look(&mut c);
    ok(&mut c, &["FUNCTION", "FLUSH"]);
    look(&mut c);
    seen
}

#[test]
fn functions_and_libraries_as_redis() {
    let Some((ferrous, redis)) = ferrous_and_redis(&[]) else { return };
    let (f, r) = (function_counts(&ferrous), function_counts(&redis));
    assert_eq!(f, r);
    assert_eq!(f, [(0, 0), (2, 1), (3, 2), (3, 2), (1, 1), (0, 0)]);
}

#[test]
fn lua_memory_grows_with_loaded_scripts() {
    let server = TestServer::start();
    let mut c = server.raw();
    let fields = |c: &mut RespConn| {
        let m = info(c, "memory");
        let n = |k: &str| m[k].parse::<u64>().unwrap_or_else(|_| panic!("{k}:{}", m[k]));
        (n("used_memory_lua"), n("used_memory_vm_eval"), n("used_memory_vm_functions"), n("used_memory_vm_total"))
    };
    let (lua0, eval0, functions0, total0) = fields(&mut c);
    assert!(lua0 > 0, "a Lua state takes memory");
    assert_eq!(lua0, eval0);
    assert_eq!(total0, eval0 + functions0);
    for i in 0..300 {
        let body = format!("local t = {{}} for i = 1, 10 do t[i] = '{i}' .. i end return #t + {i}");
        ok(&mut c, &["SCRIPT", "LOAD", &body]);
    }
    let (lua1, eval1, functions1, total1) = fields(&mut c);
    assert!(lua1 > lua0 + 50_000, "used_memory_lua {lua0} -> {lua1} after 300 scripts");
    assert_eq!(lua1, eval1);
    assert_eq!(total1, eval1 + functions1);
    ok(&mut c, &["FUNCTION", "LOAD", LIB_A]);
    let (_, _, functions2, _) = fields(&mut c);
    assert!(functions2 > functions1, "used_memory_vm_functions {functions1} -> {functions2}");
    let m = info(&mut c, "memory");
    assert!(m["used_memory_functions"].parse::<u64>().unwrap() > 0);
    let scripts: u64 = m["used_memory_scripts"].parse().unwrap();
    let parts: u64 =
        m["used_memory_scripts_eval"].parse::<u64>().unwrap() + m["used_memory_functions"].parse::<u64>().unwrap();
    assert_eq!(scripts, parts, "used_memory_scripts is the EVAL cache plus the functions");
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    common::wait_until(what, Duration::from_secs(20), done)
}

/// `(blocked_clients, clients_in_timeout_table)` with nobody blocked, one BLPOP 0, one
/// BLPOP 5 more, after both are served, during a WAIT with a timeout and after it.
fn timeout_table(server: &TestServer) -> Vec<(u64, u64)> {
    let (mut forever, mut timed, mut c) = (server.raw(), server.raw(), server.raw());
    let mut seen = Vec::new();
    let mut look = |c: &mut RespConn| {
        let m = info(c, "clients");
        seen.push((m["blocked_clients"].parse().unwrap(), m["clients_in_timeout_table"].parse().unwrap()));
    };
    look(&mut c);
    forever.send(&["BLPOP", "q0", "0"]).unwrap();
    wait_for("BLPOP 0 to block", || info_u64(&mut c, "clients", "blocked_clients") == 1);
    look(&mut c);
    timed.send(&["BLPOP", "q5", "5"]).unwrap();
    wait_for("BLPOP 5 to block", || info_u64(&mut c, "clients", "blocked_clients") == 2);
    look(&mut c);
    ok(&mut c, &["RPUSH", "q5", "x"]);
    assert!(matches!(timed.read().unwrap().value, Resp::Array(_)));
    look(&mut c);
    ok(&mut c, &["RPUSH", "q0", "x"]);
    assert!(matches!(forever.read().unwrap().value, Resp::Array(_)));
    look(&mut c);
    // WAIT with no replica blocks until its timeout, and counts as blocked meanwhile.
    timed.send(&["WAIT", "1", "400"]).unwrap();
    wait_for("WAIT to block", || info_u64(&mut c, "clients", "blocked_clients") == 1);
    look(&mut c);
    assert_eq!(timed.read().unwrap().value, Resp::Int(0));
    look(&mut c);
    seen
}

#[test]
fn clients_in_timeout_table_as_redis() {
    let Some((ferrous, redis)) = ferrous_and_redis(&[]) else { return };
    let (f, r) = (timeout_table(&ferrous), timeout_table(&redis));
    assert_eq!(f, r);
    assert_eq!(f, [(0, 0), (1, 0), (2, 1), (1, 0), (0, 0), (1, 1), (0, 0)]);
}

/// `(tracking_total_keys, tracking_total_items, tracking_total_prefixes)` after each step.
fn tracking_totals(server: &TestServer) -> Vec<(u64, u64, u64)> {
    let (mut t1, mut t2, mut b, mut c) = (server.raw(), server.raw(), server.raw(), server.raw());
    let mut seen = Vec::new();
    let mut look = |c: &mut RespConn| {
        let m = info(c, "stats");
        let n = |k: &str| m[k].parse::<u64>().unwrap();
        seen.push((n("tracking_total_keys"), n("tracking_total_items"), n("tracking_total_prefixes")));
    };
    look(&mut c);
    ok(&mut c, &["MSET", "a", "1", "b", "2"]);
    for t in [&mut t1, &mut t2] {
        ok(t, &["HELLO", "3"]);
        ok(t, &["CLIENT", "TRACKING", "ON"]);
        ok(t, &["GET", "a"]);
    }
    ok(&mut t1, &["GET", "b"]);
    look(&mut c);
    ok(&mut b, &["HELLO", "3"]);
    ok(&mut b, &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "x", "PREFIX", "y"]);
    look(&mut c);
    ok(&mut c, &["SET", "a", "3"]);
    look(&mut c);
    seen
}

#[test]
fn tracking_totals_as_redis() {
    let Some((ferrous, redis)) = ferrous_and_redis(&[]) else { return };
    let (f, r) = (tracking_totals(&ferrous), tracking_totals(&redis));
    assert_eq!(f, r);
    assert_eq!(f, [(0, 0, 0), (2, 3, 0), (2, 3, 2), (1, 1, 2)]);
}

/// What INFO persistence says right after BGREWRITEAOF is answered during a slow BGSAVE of
/// 100 keys: (reply, aof_rewrite_scheduled, aof_rewrite_in_progress, aof_pending_rewrite,
/// current_save_keys_total, rdb_bgsave_in_progress); then waits for both to end.
fn rewrite_behind_bgsave(server: &TestServer) -> (String, u64, u64, u64, u64, u64) {
    let mut c = server.raw();
    for i in 0..100 {
        ok(&mut c, &["SET", &format!("key:{i}"), "v"]);
    }
    ok(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    wait_for("the first rewrite", || {
        let m = info(&mut c, "persistence");
        m["aof_rewrite_in_progress"] == "0" && m["aof_rewrite_scheduled"] == "0" && m["rdb_bgsave_in_progress"] == "0"
    });
    // 100 keys at 10 ms each: the BGSAVE takes about a second.
    ok(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
    ok(&mut c, &["BGSAVE"]);
    let reply = match c.cmd(&["BGREWRITEAOF"]) {
        Resp::Simple(s) => String::from_utf8(s).unwrap(),
        other => panic!("BGREWRITEAOF: {other:?}"),
    };
    let m = info(&mut c, "persistence");
    let n = |k: &str| m[k].parse::<u64>().unwrap_or_else(|_| panic!("{k}:{}", m[k]));
    let seen = (
        reply,
        n("aof_rewrite_scheduled"),
        n("aof_rewrite_in_progress"),
        n("aof_pending_rewrite"),
        n("current_save_keys_total"),
        n("rdb_bgsave_in_progress"),
    );
    assert!(n("current_save_keys_processed") <= 100);
    ok(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    // The save keeps the delay it started with: about a second, then the rewrite.
    wait_for("the BGSAVE and the scheduled rewrite", || {
        let m = info(&mut c, "persistence");
        m["aof_rewrite_in_progress"] == "0" && m["aof_rewrite_scheduled"] == "0" && m["rdb_bgsave_in_progress"] == "0"
    });
    let m = info(&mut c, "persistence");
    assert_eq!(m["current_save_keys_total"], "0", "no save runs");
    assert_eq!(m["current_save_keys_processed"], "0", "no save runs");
    seen
}

#[test]
fn bgrewriteaof_during_bgsave_is_scheduled_as_redis() {
    let Some((ferrous, redis)) = ferrous_and_redis(&[]) else { return };
    let (f, r) = (rewrite_behind_bgsave(&ferrous), rewrite_behind_bgsave(&redis));
    assert_eq!(f, r);
    assert_eq!(f, ("Background append only file rewriting scheduled".to_string(), 1, 0, 1, 100, 1));
}

#[test]
fn save_progress_is_reported_while_a_bgsave_runs() {
    let server = TestServer::start();
    let mut c = server.raw();
    for i in 0..200 {
        ok(&mut c, &["SET", &format!("key:{i}"), "v"]);
    }
    // 200 keys at 5 ms each: about a second.
    ok(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "5000"]);
    ok(&mut c, &["BGSAVE"]);
    let mut processed = Vec::new();
    loop {
        let m = info(&mut c, "persistence");
        if m["rdb_bgsave_in_progress"] == "0" {
            break;
        }
        let total: u64 = m["current_save_keys_total"].parse().unwrap();
        if total > 0 {
            assert_eq!(total, 200);
            processed.push(m["current_save_keys_processed"].parse::<u64>().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(processed.windows(2).all(|w| w[0] <= w[1]), "progress only grows: {processed:?}");
    assert!(processed.iter().any(|&p| p > 0 && p < 200), "progress seen mid-way: {processed:?}");
}

#[test]
fn active_expiry_reports_its_cycles() {
    let server = TestServer::start();
    let mut c = server.raw();
    let stats = |c: &mut RespConn| info(c, "stats");
    assert_eq!(stats(&mut c)["expired_stale_perc"], "0.00");
    // Many keys expiring at once: the sampled deadlines are mostly stale for a while.
    for i in 0..2000 {
        ok(&mut c, &["SET", &format!("k:{i}"), "v", "PX", "50"]);
    }
    wait_for("active expiry", || stats(&mut c)["expired_keys"].parse::<u64>().unwrap() >= 2000);
    let m = stats(&mut c);
    let stale: f64 = m["expired_stale_perc"].parse().unwrap();
    assert!(stale > 0.0, "expired_stale_perc {stale} after the cycles expired 2000 keys");
    assert!(m["expire_cycle_cpu_milliseconds"].parse::<u64>().is_ok());
    assert!(m["expired_time_cap_reached_count"].parse::<u64>().is_ok());
}
