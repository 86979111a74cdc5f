//! MONITOR compared with redis-server 7.0: the same commands (plain, binary arguments,
//! SELECT, MULTI/EXEC, a script, admin commands that are not shown, errors) produce the same
//! lines on a monitoring connection, timestamps and client ports aside.
//! Skipped (`SKIPPED: ...`) without redis-server, except under CI.
mod common;

use common::{RespConn, TestServer};
use std::time::Duration;

/// The monitor's lines after `+OK`, up to the line of the final `PING "end"`, with the
/// timestamp removed and `ip:port` addresses reduced to `ip`.
fn monitor_lines(server: &TestServer, script: &[Vec<&str>]) -> Vec<String> {
    let mut mon = server.raw();
    assert_eq!(mon.cmd(&["MONITOR"]), common::Resp::Simple(b"OK".to_vec()));
    let mut c = server.raw();
    for args in script {
        let _ = c.call(args).expect("command");
    }
    let _ = c.call(&["PING", "end"]).expect("PING");
    let mut lines = Vec::new();
    loop {
        let r = mon.read().expect("monitor line");
        let common::Resp::Simple(line) = r.value else { panic!("monitor sent {:?}", r.value) };
        let line = String::from_utf8_lossy(&line).into_owned();
        // "1700000000.123456 [0 127.0.0.1:5555] "SET" ..." -> "[0 127.0.0.1] "SET" ..."
        let (_, rest) = line.split_once(' ').expect("timestamp");
        let (addr, args) = rest.split_once("] ").expect("address");
        let addr = match addr.rsplit_once(':') {
            Some((ip, _)) if !addr.ends_with("lua") => ip.to_string(),
            _ => addr.to_string(),
        };
        let done = args == "\"PING\" \"end\"";
        lines.push(format!("{addr}] {args}"));
        if done {
            return lines;
        }
    }
}

#[test]
fn monitor_lines_match_redis() {
    let Some(redis) = TestServer::redis(&[]) else { return };
    let ferrous = TestServer::ferrous(&[]);
    let script: Vec<Vec<&str>> = vec![
        vec!["SET", "a", "1"],
        vec!["GET", "a"],
        vec!["SET", "bin", "x\ny\"z\\\x01\u{7f}"],
        vec!["SELECT", "2"],
        vec!["INCR", "n"],
        vec!["MULTI"],
        vec!["INCR", "n"],
        vec!["LPUSH", "l", "v"],
        vec!["EXEC"],
        vec!["EVAL", "redis.call('SET', KEYS[1], 'v'); return redis.call('GET', KEYS[1])", "1", "k"],
        vec!["CONFIG", "GET", "maxmemory"],
        vec![
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=mon\nredis.register_function('f', function(keys) return redis.call('INCR', keys[1]) end)",
        ],
        vec!["FCALL", "f", "1", "fc"],
        vec!["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "fc"],
        vec!["DEBUG", "SLEEP", "0"],
        vec!["INCR", "l"],
        vec!["SELECT", "0"],
        vec!["NOSUCHCOMMAND", "x"],
        vec!["GET"],
    ];
    let on_redis = monitor_lines(&redis, &script);
    let on_ferrous = monitor_lines(&ferrous, &script);
    assert_eq!(on_ferrous, on_redis);
    // The monitor sees nothing more after RESET.
    let mut mon = ferrous.raw();
    mon.cmd(&["MONITOR"]);
    assert_eq!(mon.cmd(&["RESET"]), common::Resp::Simple(b"RESET".to_vec()));
    let mut c = ferrous.raw();
    c.cmd(&["SET", "after", "reset"]);
    let (rest, _) = mon.read_until_close(Duration::from_millis(200));
    assert!(rest.is_empty(), "monitor kept receiving after RESET: {:?}", String::from_utf8_lossy(&rest));
    let _: RespConn = c;
}
