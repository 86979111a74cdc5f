//! End-to-end tests: the real `ferrous` binary on a TCP port, driven by the `redis` crate and
//! by raw bytes on a `TcpStream`.
//!
//! Expectations are Redis 7.0's. Run `FERROUS_E2E_AGAINST_REDIS=1 cargo test --release --test
//! e2e` to check them against redis-server itself.
mod common;

use common::{bulk, error, simple, Resp, RespConn, Rng, TestServer};
use redis::Commands;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads until the server closes the connection (or 10 s of silence).
fn until_close(c: &mut RespConn) -> (Vec<u8>, bool) {
    c.read_until_close(Duration::from_secs(10))
}

#[test]
fn ping_echo_and_command_count() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    assert_eq!(c.cmd(&["PING", "hello"]), bulk("hello"));
    assert_eq!(c.cmd(&["ECHO", "hi there"]), bulk("hi there"));
    match c.cmd(&["COMMAND", "COUNT"]) {
        Resp::Int(n) => assert!(n > 0, "COMMAND COUNT = {n}"),
        other => panic!("COMMAND COUNT replied {other}"),
    }
    let mut r = s.client();
    let pong: String = redis::cmd("PING").query(&mut r).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn strings_set_get_incr_del_exists() {
    let s = TestServer::start();
    let mut r = s.client();
    let _: () = r.set("greeting", "hello").unwrap();
    let v: Option<String> = r.get("greeting").unwrap();
    assert_eq!(v.as_deref(), Some("hello"));
    let v: Option<String> = r.get("missing").unwrap();
    assert_eq!(v, None);
    let n: i64 = r.incr("counter", 1).unwrap();
    assert_eq!(n, 1);
    let n: i64 = r.incr("counter", 41).unwrap();
    assert_eq!(n, 42);
    let n: i64 = r.decr("counter", 2).unwrap();
    assert_eq!(n, 40);
    let n: i64 = r.exists(&["greeting", "counter", "missing", "greeting"]).unwrap();
    assert_eq!(n, 3);
    let n: i64 = r.del(&["greeting", "missing"]).unwrap();
    assert_eq!(n, 1);
    let n: i64 = r.exists("greeting").unwrap();
    assert_eq!(n, 0);

    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "s", "abc"]), simple("OK"));
    assert_eq!(c.cmd(&["INCR", "s"]), error("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["SET", "big", "9223372036854775807"]), simple("OK"));
    assert_eq!(c.cmd(&["INCR", "big"]), error("ERR increment or decrement would overflow"));
    assert_eq!(c.cmd(&["GET"]), error("ERR wrong number of arguments for 'get' command"));
    assert_eq!(c.cmd(&["SET", "k", "v", "NX", "XX"]), error("ERR syntax error"));
}

#[test]
fn strings_mset_mget() {
    let s = TestServer::start();
    let mut r = s.client();
    let _: () = r.mset(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
    let v: Vec<Option<String>> = r.mget(&["a", "nope", "c", "b"]).unwrap();
    assert_eq!(v, vec![Some("1".into()), None, Some("3".into()), Some("2".into())]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["MSET", "a"]), error("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(c.cmd(&["MSET", "a", "1", "b"]), error("ERR wrong number of arguments for 'mset' command"));
}

#[test]
fn set_px_then_key_expires() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "short", "v", "PX", "700"]), simple("OK"));
    assert_eq!(c.cmd(&["SET", "long", "v", "PX", "100000"]), simple("OK"));
    assert_eq!(c.cmd(&["GET", "short"]), bulk("v"));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(c.cmd(&["GET", "short"]), Resp::NilBulk);
    assert_eq!(c.cmd(&["EXISTS", "short"]), Resp::Int(0));
    assert_eq!(c.cmd(&["GET", "long"]), bulk("v"));
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "0"]), error("ERR invalid expire time in 'set' command"));
}

#[test]
fn ttl_reports_remaining_time() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "k", "v", "EX", "100"]), simple("OK"));
    match c.cmd(&["TTL", "k"]) {
        Resp::Int(n) => assert!((99..=100).contains(&n), "TTL = {n}"),
        other => panic!("TTL replied {other}"),
    }
    match c.cmd(&["PTTL", "k"]) {
        Resp::Int(n) => assert!((90_000..=100_000).contains(&n), "PTTL = {n}"),
        other => panic!("PTTL replied {other}"),
    }
    assert_eq!(c.cmd(&["SET", "p", "v"]), simple("OK"));
    assert_eq!(c.cmd(&["TTL", "p"]), Resp::Int(-1));
    assert_eq!(c.cmd(&["TTL", "missing"]), Resp::Int(-2));
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let s = TestServer::start();
    let mut c = s.raw();
    for i in 0..200 {
        assert_eq!(c.cmd(&["SET", &format!("vol:{i}"), "x", "PX", "50"]), simple("OK"));
    }
    assert_eq!(c.cmd(&["SET", "keep", "x"]), simple("OK"));
    // DBSIZE counts keys that expired but were not reclaimed: only the active cycle empties it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = c.cmd(&["DBSIZE"]);
        if n == Resp::Int(1) {
            break;
        }
        assert!(Instant::now() < deadline, "expired keys still counted after 5 s: DBSIZE = {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pipeline_of_10000_commands_replies_in_order() {
    let s = TestServer::start();
    let mut c = s.raw();
    let mut buf = Vec::new();
    for i in 0..10_000 {
        if i % 2 == 0 {
            buf.extend_from_slice(&common::encode_command(&["INCR", "pipelined"]));
        } else {
            buf.extend_from_slice(&common::encode_command(&["ECHO", &format!("msg-{i}")]));
        }
    }
    // Write from another thread: the replies may fill the socket buffers before all the
    // requests are written.
    let mut w = c.stream().try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&buf));
    for i in 0..10_000 {
        let reply = c.read().unwrap_or_else(|e| panic!("reply {i}: {e}")).value;
        let want = if i % 2 == 0 { Resp::Int(i / 2 + 1) } else { bulk(&format!("msg-{i}")) };
        assert_eq!(reply, want, "reply #{i}");
    }
    writer.join().unwrap().unwrap();
    assert_eq!(c.cmd(&["GET", "pipelined"]), bulk("5000"));
}

#[test]
fn redis_crate_pipeline() {
    let s = TestServer::start();
    let mut r = s.client();
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.set(format!("p{i}"), i).ignore();
    }
    for i in (0..1000).step_by(100) {
        p.get(format!("p{i}"));
    }
    let got: Vec<i64> = p.query(&mut r).unwrap();
    assert_eq!(got, (0..1000).step_by(100).collect::<Vec<i64>>());
}

#[test]
fn concurrent_incr_from_200_clients() {
    let s = TestServer::start();
    const CLIENTS: usize = 200;
    const EACH: usize = 50;
    let barrier = std::sync::Barrier::new(CLIENTS);
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                let mut r = s.client();
                barrier.wait();
                for _ in 0..EACH {
                    let _: i64 = r.incr("shared", 1).unwrap();
                }
            });
        }
    });
    let mut r = s.client();
    let total: i64 = r.get("shared").unwrap();
    assert_eq!(total, (CLIENTS * EACH) as i64);
}

#[test]
fn binary_safe_keys_and_values() {
    let s = TestServer::start();
    let mut r = s.client();
    let all: Vec<u8> = (0..=255u8).collect();
    let key: &[u8] = b"bin\x00key\r\n\xff";
    let _: () = r.set(key, &all).unwrap();
    let got: Vec<u8> = r.get(key).unwrap();
    assert_eq!(got, all);
    let _: () = r.set(b"", b"empty key").unwrap();
    let got: Vec<u8> = r.get(b"").unwrap();
    assert_eq!(got, b"empty key");
    let _: () = r.set("empty value", b"").unwrap();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "empty value"]), bulk(""));
    let got = c.call(&[&b"GET"[..], key]).unwrap();
    assert_eq!(got.value, Resp::Bulk(all.clone()));
    let mut expected = b"$256\r\n".to_vec();
    expected.extend_from_slice(&all);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(got.raw, expected);
}

#[test]
fn one_megabyte_value() {
    let s = TestServer::start();
    let big = Rng::new(1).bytes(1024 * 1024);
    let mut r = s.client();
    let _: () = r.set("big", &big).unwrap();
    let got: Vec<u8> = r.get("big").unwrap();
    assert!(got == big, "1 MB value changed on its way through the server");
    let mut c = s.raw();
    assert_eq!(c.call(&[&b"GET"[..], b"big"]).unwrap().value, Resp::Bulk(big));
}

#[test]
fn request_split_across_many_small_writes() {
    let s = TestServer::start();
    let value = Rng::new(2).bytes(100_000);
    let req = common::encode_command(&[&b"SET"[..], b"split", &value]);
    let mut stream = TcpStream::connect(s.addr()).unwrap();
    stream.set_nodelay(true).unwrap();
    // Byte by byte through the header, then in uneven pieces.
    let mut pos = 0;
    let mut step = 1;
    while pos < req.len() {
        let end = (pos + step).min(req.len());
        stream.write_all(&req[pos..end]).unwrap();
        pos = end;
        if pos < 40 {
            std::thread::sleep(Duration::from_millis(2));
        } else {
            step = step * 3 + 7;
        }
    }
    let mut c = RespConn::connect(s.addr()).unwrap();
    let mut reply = [0u8; 5];
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
    assert_eq!(c.call(&["GET", "split"]).unwrap().value, Resp::Bulk(value));
}

#[test]
fn protocol_error_invalid_multibulk_length_closes_connection() {
    let s = TestServer::start();
    let mut c = s.raw();
    c.send_raw(b"*x\r\n").unwrap();
    let (out, closed) = until_close(&mut c);
    assert_eq!(common::escape(&out), common::escape(b"-ERR Protocol error: invalid multibulk length\r\n"));
    assert!(closed, "connection left open after a protocol error");
    // The server itself is fine.
    assert_eq!(s.raw().cmd(&["PING"]), simple("PONG"));
}

#[test]
fn protocol_errors_have_redis_texts() {
    let s = TestServer::start();
    // (input, what Redis 7.0 sends back before closing, closes?)
    let cases: &[(&[u8], &[u8], bool)] = &[
        (b"*1\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n", true),
        (b"*1\r\n$600000000\r\n", b"-ERR Protocol error: invalid bulk length\r\n", true),
        (b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n", true),
        (b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n", true),
        (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$x\r\n", b"$-1\r\n-ERR Protocol error: invalid bulk length\r\n", true),
        // Empty and negative multibulk counts are skipped, as are empty inline lines.
        (b"*0\r\n*-1\r\n\r\n\r\nPING\r\n", b"+PONG\r\n", false),
        // The two bytes after a bulk payload are not checked.
        (b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", b"+PONG\r\n+PONG\r\n", false),
    ];
    for (input, want, closes) in cases {
        let mut c = s.raw();
        c.send_raw(input).unwrap();
        let idle = if *closes { Duration::from_secs(10) } else { Duration::from_millis(500) };
        let (out, closed) = c.read_until_close(idle);
        assert_eq!(common::escape(&out), common::escape(want), "input \"{}\"", common::escape(input));
        assert_eq!(closed, *closes, "connection closed? input \"{}\"", common::escape(input));
    }
    let mut c = s.raw();
    c.send_raw(&vec![b'x'; 70_000]).unwrap();
    let (out, closed) = until_close(&mut c);
    assert_eq!(common::escape(&out), "-ERR Protocol error: too big inline request\\r\\n");
    assert!(closed);
}

#[test]
fn unbalanced_quotes_in_inline_command_close_connection() {
    let s = TestServer::start();
    let mut c = s.raw();
    c.send_raw(b"SET k \"abc\r\n").unwrap();
    let (out, closed) = until_close(&mut c);
    assert_eq!(common::escape(&out), "-ERR Protocol error: unbalanced quotes in request\\r\\n");
    assert!(closed);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["EXISTS", "k"]), Resp::Int(0));
}

#[test]
fn inline_commands() {
    let s = TestServer::start();
    let mut c = s.raw();
    c.send_raw(b"PING\r\n").unwrap();
    assert_eq!(c.read().unwrap().raw, b"+PONG\r\n");
    // LF alone ends a line too; quotes and escapes as in redis-cli.
    c.send_raw(b"ECHO hello\n").unwrap();
    assert_eq!(c.read().unwrap().value, bulk("hello"));
    c.send_raw(b"SET inl \"a b\\x00c\\n\"\r\nGET inl\r\n").unwrap();
    assert_eq!(c.read().unwrap().value, simple("OK"));
    assert_eq!(c.read().unwrap().value, Resp::Bulk(b"a b\x00c\n".to_vec()));
    c.send_raw(b"SET single 'it''s'\r\n").unwrap();
    // 'it''s' is one quoted word followed directly by another: Redis rejects it.
    let (out, closed) = until_close(&mut c);
    assert_eq!(common::escape(&out), "-ERR Protocol error: unbalanced quotes in request\\r\\n");
    assert!(closed);
    // Inline and multibulk mixed in one packet.
    let mut c = s.raw();
    let mut packet = b"\r\n   \r\nPING\r\n".to_vec();
    packet.extend_from_slice(&common::encode_command(&["ECHO", "x y"]));
    packet.extend_from_slice(b"  ECHO   'x y'  \r\n");
    c.send_raw(&packet).unwrap();
    assert_eq!(c.read().unwrap().value, simple("PONG"));
    assert_eq!(c.read().unwrap().value, bulk("x y"));
    assert_eq!(c.read().unwrap().value, bulk("x y"));
    c.send_raw(b"FOO bar baz\r\n").unwrap();
    assert_eq!(c.read().unwrap().raw, b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n");
}

#[test]
fn quit_replies_ok_then_closes() {
    let s = TestServer::start();
    let mut c = s.raw();
    c.send_raw(&common::encode_command(&["QUIT"])).unwrap();
    let (out, closed) = until_close(&mut c);
    assert_eq!(out, b"+OK\r\n");
    assert!(closed);
    let mut c = s.raw();
    c.send_raw(b"QUIT\r\nPING\r\n").unwrap();
    let (out, closed) = until_close(&mut c);
    assert_eq!(out, b"+OK\r\n", "commands after QUIT must not run");
    assert!(closed);
}

#[test]
fn half_request_then_disconnect_does_not_affect_others() {
    let s = TestServer::start();
    let mut other = s.raw();
    assert_eq!(other.cmd(&["SET", "stable", "1"]), simple("OK"));
    for cut in [1usize, 4, 9, 14, 20, 27] {
        let req = common::encode_command(&["SET", "half", "value-that-never-arrives"]);
        let mut c = s.raw();
        c.send_raw(&req[..cut.min(req.len() - 1)]).unwrap();
        assert_eq!(other.cmd(&["INCR", "stable"]), Resp::Int(2));
        assert_eq!(other.cmd(&["DECR", "stable"]), Resp::Int(1));
        drop(c);
    }
    // A client that stays connected with half a request does not block anyone either.
    let mut stuck = s.raw();
    stuck.send_raw(b"*2\r\n$3\r\nGET\r\n$100\r\nabc").unwrap();
    assert_eq!(other.cmd(&["GET", "stable"]), bulk("1"));
    assert_eq!(other.cmd(&["EXISTS", "half"]), Resp::Int(0));
    drop(stuck);
    assert_eq!(s.raw().cmd(&["PING"]), simple("PONG"));
}

/// One buffer of garbage: random bytes, RESP-looking token soup, or a valid prefix followed
/// by junk.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    const TOKENS: &[&[u8]] = &[
        b"*",
        b"$",
        b"-1",
        b"0",
        b"1",
        b"2",
        b"3",
        b"100",
        b"99999999999",
        b"-",
        b"+",
        b":",
        b"\r\n",
        b"\n",
        b"\r",
        b"\"",
        b"'",
        b"\\x",
        b"\\",
        b" ",
        b"PING",
        b"ECHO",
        b"GET",
        b"SET",
        b"k",
        b"\x00",
        b"\xff",
        b"*2\r\n$4\r\nECHO\r\n$",
        b"*1\r\n$4\r\nPING\r\n",
        b"%1\r\n",
        b"_\r\n",
    ];
    match rng.below(3) {
        0 => {
            let n = rng.range(1, 400) as usize;
            rng.bytes(n)
        }
        1 => {
            let mut out = Vec::new();
            for _ in 0..rng.range(1, 40) {
                out.extend_from_slice(rng.pick::<&[u8]>(TOKENS));
            }
            out
        }
        _ => {
            let mut out = common::encode_command(&["ECHO", "ok"]);
            let cut = rng.range(1, out.len() as i64) as usize;
            out.truncate(cut);
            let n = rng.range(0, 100) as usize;
            out.extend(rng.bytes(n));
            out
        }
    }
}

#[test]
fn survives_1000_garbage_buffers() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "sentinel", "still here"]), simple("OK"));
    let not_closed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..8u64 {
            let s = &s;
            let not_closed = &not_closed;
            scope.spawn(move || {
                let mut rng = Rng::new(1000 + t);
                for _ in 0..125 {
                    let buf = garbage(&mut rng);
                    let Ok(mut g) = RespConn::connect(s.addr()) else { continue };
                    // The server may close first (protocol error): write errors are fine.
                    let _ = g.send_raw(&buf);
                    g.shutdown_write();
                    let (_, closed) = g.read_until_close(Duration::from_secs(10));
                    if !closed {
                        not_closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(not_closed.into_inner(), 0, "connections the server kept open after the client's EOF");
    assert_eq!(c.cmd(&["GET", "sentinel"]), bulk("still here"));
    assert_eq!(s.raw().cmd(&["PING"]), simple("PONG"));
}

/// Connects until the server admits the connection (a just-closed connection may still be
/// counted for a moment).
fn admitted(s: &TestServer) -> RespConn {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = s.raw();
        match c.call(&["PING"]) {
            Ok(r) if r.value == simple("PONG") => return c,
            other => assert!(Instant::now() < deadline, "connection not admitted: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn maxclients_rejects_the_sixth_connection() {
    let s = TestServer::start_with(&["--maxclients", "5"]);
    let mut conns: Vec<RespConn> = (0..5).map(|_| admitted(&s)).collect();
    let mut sixth = s.raw();
    let (out, closed) = until_close(&mut sixth);
    assert_eq!(common::escape(&out), "-ERR max number of clients reached\\r\\n");
    assert!(closed);
    for c in &mut conns {
        assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    }
    conns.pop();
    let mut again = admitted(&s);
    assert_eq!(again.cmd(&["ECHO", "in"]), bulk("in"));
}

#[test]
fn requirepass_noauth_then_auth() {
    let s = TestServer::start_with(&["--requirepass", "s3cret"]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "k"]), error("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["PING"]), error("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "wrong"]), error("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(
        c.cmd(&["AUTH", "default", "wrong"]),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd(&["GET", "k"]), error("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), simple("OK"));
    assert_eq!(c.cmd(&["SET", "k", "v"]), simple("OK"));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    let mut c2 = s.raw();
    assert_eq!(c2.cmd(&["AUTH", "default", "s3cret"]), simple("OK"));
    assert_eq!(c2.cmd(&["GET", "k"]), bulk("v"));
    // The redis crate authenticates from the URL.
    let client = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", s.port())).unwrap();
    let mut r = client.get_connection().unwrap();
    let v: String = r.get("k").unwrap();
    assert_eq!(v, "v");
    let bad = redis::Client::open(format!("redis://:nope@127.0.0.1:{}/", s.port())).unwrap();
    assert!(bad.get_connection().is_err(), "a wrong password must be refused");
}

#[test]
fn auth_without_password_configured() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["AUTH", "x"]),
        error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    );
}

#[test]
fn select_isolates_databases() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "k", "db0"]), simple("OK"));
    assert_eq!(c.cmd(&["SELECT", "1"]), simple("OK"));
    assert_eq!(c.cmd(&["GET", "k"]), Resp::NilBulk);
    assert_eq!(c.cmd(&["SET", "k", "db1"]), simple("OK"));
    assert_eq!(c.cmd(&["SELECT", "0"]), simple("OK"));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("db0"));
    assert_eq!(c.cmd(&["SELECT", "16"]), error("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["SELECT", "-1"]), error("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["SELECT", "x"]), error("ERR value is not an integer or out of range"));
    // Another connection starts in db 0; the redis crate selects from the URL.
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/1", s.port())).unwrap();
    let mut r = client.get_connection().unwrap();
    let v: String = r.get("k").unwrap();
    assert_eq!(v, "db1");
}

#[test]
fn slow_reader_does_not_block_other_clients() {
    let s = TestServer::start();
    let mut c = s.raw();
    let value = vec![b'v'; 200_000];
    assert_eq!(c.call(&[&b"SET"[..], b"fat", &value]).unwrap().value, simple("OK"));
    // 200 x 200 KB of replies nobody reads for now.
    let mut req = Vec::new();
    for _ in 0..200 {
        req.extend_from_slice(&common::encode_command(&["GET", "fat"]));
    }
    c.send_raw(&req).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut other = s.raw();
    assert_eq!(other.cmd(&["PING"]), simple("PONG"));
    assert_eq!(other.cmd(&["INCR", "n"]), Resp::Int(1));
    for i in 0..200 {
        assert_eq!(c.read().unwrap().value, Resp::Bulk(value.clone()), "reply {i}");
    }
    // A client that disconnects with output pending does not hurt the server.
    let mut gone = s.raw();
    gone.send_raw(&req).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(gone);
    assert_eq!(other.cmd(&["INCR", "n"]), Resp::Int(2));
}

#[test]
fn shutdown_command_stops_the_process() {
    let mut s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SET", "k", "v"]), simple("OK"));
    c.send(&["SHUTDOWN"]).unwrap();
    let (out, closed) = until_close(&mut c);
    assert!(closed, "connection still open after SHUTDOWN");
    assert!(out.is_empty(), "SHUTDOWN replied \"{}\" (Redis closes without a reply)", common::escape(&out));
    let status = s.wait_exit(Duration::from_secs(10)).expect("process still running 10 s after SHUTDOWN");
    assert!(status.success(), "exit status after SHUTDOWN: {status}");
}

#[test]
fn sigterm_stops_the_process_gracefully() {
    let mut s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(10)).expect("process still running 10 s after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let (_, closed) = until_close(&mut c);
    assert!(closed);
}

/// Commands followed by the client's EOF are answered, then the connection is closed,
/// whether the EOF arrives with the commands or after the server has read them (the server
/// skips the read that would only say "would block" after a short read).
#[test]
fn answers_then_closes_on_half_close() {
    let s = TestServer::start();
    for delay_ms in [0, 50] {
        let mut c = s.raw();
        // A first round trip, so that the rest arrives on a connection the server waits on.
        assert_eq!(c.cmd(&["PING"]), simple("PONG"));
        c.send_raw(b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        c.shutdown_write();
        let (out, closed) = c.read_until_close(Duration::from_secs(5));
        assert_eq!(String::from_utf8_lossy(&out), "+PONG\r\n$2\r\nhi\r\n", "delay {delay_ms} ms");
        assert!(closed, "connection left open after EOF (delay {delay_ms} ms)");
    }
}

/// The Lua engine's limits are server directives: `lua-memory-limit` and
/// `lua-instruction-limit` (read at start-up, so CONFIG SET refuses them).
#[test]
fn lua_limits_from_the_command_line() {
    let s = TestServer::start_with(&["--lua-memory-limit", "16mb", "--lua-instruction-limit", "5000000"]);
    let mut c = s.raw();
    let hog = "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 100) .. i end return #t";
    let r = c.cmd(&["EVAL", hog, "0"]);
    assert!(r.is_error() && format!("{r}").contains("not enough memory"), "{r}");
    let r = c.cmd(&["EVAL", "while true do end", "0"]);
    assert!(format!("{r}").contains("Script exceeded the instruction limit of 5000000 instructions"), "{r}");
    assert_eq!(c.cmd(&["EVAL", "return 1 + 1", "0"]), Resp::Int(2));
    for (name, value) in [("lua-memory-limit", "16777216"), ("lua-instruction-limit", "5000000")] {
        assert_eq!(c.cmd(&["CONFIG", "GET", name]), Resp::Array(vec![bulk(name), bulk(value)]));
    }
    assert!(c.cmd(&["CONFIG", "SET", "lua-memory-limit", "1mb"]).is_error());
}
