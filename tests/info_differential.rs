//! INFO against redis-server 7.0: the same sections, the same field names in the same order
//! per section, the same section selection rules (`default`, `all`, `everything`, several
//! arguments, unknown names), and the same commandstats/errorstats counts for commands run
//! directly, inside MULTI/EXEC and from scripts and functions.
//!
//! Fields Ferrous prints that Redis does not are listed in [`FERROUS_ONLY`] with the reason;
//! there is no field Redis prints that Ferrous leaves out. Values differ by nature (times,
//! memory, ids) and are not compared, except the counters of the last test.
//!
//! Oracles use ports 7950-7999. Skipped (with `SKIPPED: ...`) when redis-server is not
//! installed, except under CI.
mod common;

use common::{Resp, RespConn, TestServer};
use std::collections::BTreeMap;

/// Fields only Ferrous prints, with why.
const FERROUS_ONLY: &[(&str, &str)] = &[("ferrous_version", "which Ferrous build answers (redis_version is 7.0's)")];

fn servers() -> Option<(TestServer, TestServer)> {
    common::use_redis_ports(7950..8000);
    let redis = TestServer::redis(&[])?;
    Some((TestServer::ferrous(&[]), redis))
}

fn info_text(conn: &mut RespConn, args: &[&str]) -> String {
    let mut argv = vec!["INFO"];
    argv.extend_from_slice(args);
    match conn.cmd(&argv) {
        Resp::Bulk(b) | Resp::Verbatim(b) => String::from_utf8(b).expect("INFO is text"),
        other => panic!("INFO {args:?}: {other:?}"),
    }
}

/// Section title -> field names in order.
fn parse(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.split("\r\n") {
        if let Some(title) = line.strip_prefix("# ") {
            out.push((title.to_string(), Vec::new()));
        } else if let Some((name, _)) = line.split_once(':') {
            out.last_mut().expect("a field before any section").1.push(name.to_string());
        }
    }
    out
}

/// The same commands on both servers (replies compared: the counters below depend on them).
fn run_both(f: &mut RespConn, r: &mut RespConn, commands: &[&[&str]]) {
    for c in commands {
        let (a, b) = (f.cmd(c), r.cmd(c));
        assert_eq!(a.is_error(), b.is_error(), "{c:?}: ferrous {a:?}, redis {b:?}");
    }
}

const WORKLOAD: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["EXPIRE", "k", "1000"],
    &["LPUSH", "l", "a"],
    &["HSET", "h", "f", "v"],
    &["GET", "missing"],
    &["INCR", "k"],
    &["OBJECT", "ENCODING", "l"],
    &["CONFIG", "GET", "maxmemory"],
    &["EVAL", "return redis.call('get', 'k')", "0"],
    &["MULTI"],
    &["INCR", "n"],
    &["SADD", "s", "1"],
    &["EXEC"],
];

#[test]
fn every_section_has_redis_field_names_in_order() {
    let Some((ferrous, redis)) = servers() else { return };
    let (mut f, mut r) = (ferrous.raw(), redis.raw());
    run_both(&mut f, &mut r, WORKLOAD);
    let (fi, ri) = (parse(&info_text(&mut f, &["everything"])), parse(&info_text(&mut r, &["everything"])));
    let titles = |v: &[(String, Vec<String>)]| v.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(titles(&fi), titles(&ri), "sections and their order");
    for ((title, ffields), (_, rfields)) in fi.iter().zip(&ri) {
        let mut ffields: Vec<String> =
            ffields.iter().filter(|n| !FERROUS_ONLY.iter().any(|(x, _)| x == n)).cloned().collect();
        let mut rfields = rfields.clone();
        // Redis lists commands in its dictionary's order; Ferrous sorts them.
        if matches!(title.as_str(), "Commandstats" | "Latencystats" | "Errorstats") {
            ffields.sort();
            rfields.sort();
        }
        assert_eq!(ffields, rfields, "fields of section {title}");
    }
}

#[test]
fn section_arguments_select_as_redis() {
    let Some((ferrous, redis)) = servers() else { return };
    let (mut f, mut r) = (ferrous.raw(), redis.raw());
    run_both(&mut f, &mut r, WORKLOAD);
    let cases: &[&[&str]] = &[
        &[],
        &["default"],
        &["all"],
        &["everything"],
        &["ALL"],
        &["server", "clients"],
        &["keyspace", "server"],
        &["Server"],
        &["nosuchsection"],
        &["default", "commandstats"],
        &["everything", "server"],
        &["commandstats", "latencystats", "errorstats"],
        &["cpu", "modules", "cluster"],
        &["memory", "memory"],
    ];
    for args in cases {
        let sections =
            |text: String| parse(&text).into_iter().map(|(t, fields)| (t, fields.is_empty())).collect::<Vec<_>>();
        assert_eq!(sections(info_text(&mut f, args)), sections(info_text(&mut r, args)), "INFO {args:?}");
    }
}

/// `cmdstat_x` -> (calls, rejected_calls, failed_calls); `errorstat_X` -> (count, 0, 0).
fn counters(conn: &mut RespConn) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out = BTreeMap::new();
    for line in info_text(conn, &["commandstats", "errorstats"]).split("\r\n") {
        let Some((name, value)) = line.split_once(':') else { continue };
        let get = |key: &str| {
            value.split(',').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok()).unwrap_or(0)
        };
        if name.starts_with("errorstat_") {
            out.insert(name.to_string(), (get("count"), 0, 0));
        } else if name != "cmdstat_info" {
            out.insert(name.to_string(), (get("calls"), get("rejected_calls"), get("failed_calls")));
        }
    }
    out
}

#[test]
fn commandstats_count_every_call_path() {
    let Some((ferrous, redis)) = servers() else { return };
    let (mut f, mut r) = (ferrous.raw(), redis.raw());
    let lib = "#!lua name=lib\nredis.register_function('f', function(keys, args) \
               redis.call('set', keys[1], args[1]) return redis.call('get', keys[1]) end)";
    run_both(&mut f, &mut r, &[&["FUNCTION", "LOAD", lib], &["SET", "str", "text"], &["CONFIG", "RESETSTAT"]]);
    run_both(
        &mut f,
        &mut r,
        &[
            // Direct calls, a failing one and a rejected one (arity).
            &["SET", "a", "1"],
            &["INCR", "str"],
            &["GET", "a", "b"],
            &["NOSUCHCOMMAND"],
            // Inside MULTI: queued commands count when EXEC runs them; an error inside
            // counts for that command; a queuing error aborts the EXEC.
            &["MULTI"],
            &["INCR", "a"],
            &["LPUSH", "str", "x"],
            &["EXEC"],
            &["MULTI"],
            &["INCR", "a"],
            &["GET"],
            &["EXEC"],
            &["MULTI"],
            &["DISCARD"],
            // Scripts and functions: the commands they call count too.
            &["EVAL", "redis.call('incr', 'a') redis.call('get', 'a') return 1", "0"],
            &["EVALSHA", "0000000000000000000000000000000000000000", "0"],
            &["FCALL", "f", "1", "fk", "v"],
            &["FCALL_RO", "f", "1", "fk", "v"],
            // Errors in scripts: raised by redis.call (counted once, for the command), caught
            // by redis.pcall and returned or ignored, returned as a value, raised by error().
            &["EVAL", "return redis.call('lpush', 'str', 'x')", "0"],
            &["EVAL", "return redis.pcall('lpush', 'str', 'x')", "0"],
            &["EVAL", "redis.pcall('lpush', 'str', 'x') return 1", "0"],
            &["EVAL", "return redis.error_reply('MY failure')", "0"],
            &["EVAL", "return {err='OTHER failure'}", "0"],
            &["FCALL", "f", "1", "str", "v"],
            &["EVAL", "error('boom')", "0"],
            // A blocking pop that times out.
            &["BLPOP", "nolist", "0.01"],
        ],
    );
    // A blocking pop served by another client's push counts once.
    for server in [&ferrous, &redis] {
        let mut blocked = server.raw();
        blocked.send(&["BLPOP", "bl", "10"]).unwrap();
        let mut pusher = server.raw();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // Polled with INFO, which the counters leave out.
        while !matches!(pusher.cmd(&["INFO", "clients"]), Resp::Bulk(ref t) | Resp::Verbatim(ref t)
            if String::from_utf8_lossy(t).contains("blocked_clients:1"))
        {
            assert!(std::time::Instant::now() < deadline, "BLPOP did not block");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        pusher.cmd(&["RPUSH", "bl", "x"]);
        assert!(matches!(blocked.read().unwrap().value, Resp::Array(_)));
    }
    assert_eq!(counters(&mut f), counters(&mut r));
}
