//! End-to-end tests over TCP for what crosses connections and event-loop threads:
//! blocking pops, pub/sub, transactions with WATCH, client-side caching, keyspace
//! notifications. Runs against Ferrous (or Redis with `FERROUS_E2E_AGAINST_REDIS=1`, to
//! check the tests themselves).
mod common;

use common::{Resp, RespConn, Rng, TestServer};
use std::time::{Duration, Instant};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}
fn arr(items: &[&str]) -> Resp {
    Resp::Array(items.iter().map(|s| bulk(s)).collect())
}
fn ok() -> Resp {
    Resp::Simple(b"OK".to_vec())
}

fn conn(s: &TestServer) -> RespConn {
    s.raw()
}

#[test]
fn blpop_is_served_by_a_push_from_another_connection() {
    let s = TestServer::start_with(&["--io-threads", "2"]);
    let mut waiters: Vec<RespConn> = (0..3).map(|_| conn(&s)).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&["BLPOP", "q", "5"]).unwrap();
        // Make the arrival order deterministic: FIFO is by time of blocking.
        std::thread::sleep(Duration::from_millis(50 + i as u64));
    }
    let mut p = conn(&s);
    assert_eq!(p.cmd(&["RPUSH", "q", "a", "b", "c"]), Resp::Int(3));
    for (w, v) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(w.read().unwrap().value, arr(&["q", v]), "FIFO order");
    }
    assert_eq!(p.cmd(&["LLEN", "q"]), Resp::Int(0));
}

#[test]
fn blocking_timeouts_and_pipelined_commands_after_a_block() {
    let s = TestServer::start();
    let mut c = conn(&s);
    let t = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "none", "0.2"]), Resp::NilArray);
    assert!(t.elapsed() >= Duration::from_millis(180), "returned too early");
    assert!(t.elapsed() < Duration::from_secs(3), "sub-second timeout took too long");
    // A pipelined command after a blocking one waits for it.
    c.send_raw(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut p = conn(&s);
    p.cmd(&["LPUSH", "k", "v"]);
    assert_eq!(c.read().unwrap().value, arr(&["k", "v"]));
    assert_eq!(c.read().unwrap().value, Resp::Simple(b"PONG".to_vec()));
    // Redis 7.0 answers a timed-out BRPOPLPUSH with a null array, like BLPOP.
    assert_eq!(c.cmd(&["BRPOPLPUSH", "none", "dst", "0.1"]), Resp::NilArray);
    match c.cmd(&["BLPOP", "k", "-1"]) {
        Resp::Error(e) => assert_eq!(e, b"ERR timeout is negative"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn blmove_chain_and_disconnect_cleanup() {
    let s = TestServer::start();
    let mut a = conn(&s);
    let mut b = conn(&s);
    a.send(&["BLMOVE", "src", "mid", "LEFT", "RIGHT", "5"]).unwrap();
    b.send(&["BLPOP", "mid", "5"]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // A client that blocks and disconnects must not swallow an element.
    let mut gone = conn(&s);
    gone.send(&["BLPOP", "src", "5"]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(gone);
    std::thread::sleep(Duration::from_millis(100));
    let mut p = conn(&s);
    p.cmd(&["RPUSH", "src", "x"]);
    assert_eq!(a.read().unwrap().value, bulk("x"));
    assert_eq!(b.read().unwrap().value, arr(&["mid", "x"]));
}

#[test]
fn blocking_inside_multi_does_not_block() {
    let s = TestServer::start();
    let mut c = conn(&s);
    c.cmd(&["MULTI"]);
    c.cmd(&["BLPOP", "empty", "0"]);
    assert_eq!(c.cmd(&["EXEC"]), Resp::Array(vec![Resp::NilArray]));
}

#[test]
fn pubsub_across_connections_in_publish_order() {
    let s = TestServer::start_with(&["--io-threads", "2"]);
    let mut subs: Vec<RespConn> = (0..4).map(|_| conn(&s)).collect();
    for sub in subs.iter_mut() {
        assert_eq!(sub.cmd(&["SUBSCRIBE", "news"]), Resp::Array(vec![bulk("subscribe"), bulk("news"), Resp::Int(1)]));
    }
    let mut p = conn(&s);
    for i in 0..200 {
        assert_eq!(p.cmd(&["PUBLISH", "news", &i.to_string()]), Resp::Int(4));
    }
    for sub in subs.iter_mut() {
        for i in 0..200 {
            assert_eq!(sub.read().unwrap().value, arr(&["message", "news", &i.to_string()]));
        }
    }
}

#[test]
fn pubsub_with_the_redis_crate() {
    let s = TestServer::start();
    let mut sub_conn = s.client();
    let mut pubsub = sub_conn.as_pubsub();
    pubsub.psubscribe("ev:*").unwrap();
    pubsub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = s.client();
    let n: i64 = redis::cmd("PUBLISH").arg("ev:1").arg("hello").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let msg = pubsub.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "ev:1");
    assert_eq!(msg.get_pattern::<String>().unwrap(), "ev:*");
    assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
}

#[test]
fn multi_exec_and_watch_over_tcp() {
    let s = TestServer::start();
    let mut c = s.client();
    let (a, b): (i64, i64) = redis::pipe().atomic().incr("a", 1).incr("b", 2).query(&mut c).unwrap();
    assert_eq!((a, b), (1, 2));
    let mut w = conn(&s);
    let mut other = conn(&s);
    assert_eq!(w.cmd(&["WATCH", "a"]), ok());
    other.cmd(&["INCR", "a"]);
    w.cmd(&["MULTI"]);
    w.cmd(&["INCR", "a"]);
    assert_eq!(w.cmd(&["EXEC"]), Resp::NilArray);
}

#[test]
fn client_tracking_resp3_invalidation() {
    let s = TestServer::start();
    let mut t = conn(&s);
    assert!(matches!(t.cmd(&["HELLO", "3"]), Resp::Map(_)));
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "on"]), ok());
    assert_eq!(t.cmd(&["GET", "cached"]), Resp::Null);
    let mut w = conn(&s);
    w.cmd(&["SET", "cached", "1"]);
    assert_eq!(t.read().unwrap().value, Resp::Push(vec![bulk("invalidate"), arr(&["cached"])]));
}

#[test]
fn keyspace_notifications_over_tcp() {
    let s = TestServer::start();
    let mut c = conn(&s);
    assert_eq!(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]), ok());
    let mut sub = conn(&s);
    sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    c.cmd(&["DEL", "nothing"]);
    c.cmd(&["SET", "k", "v", "PX", "50"]);
    c.cmd(&["EXPIRE", "k", "100"]);
    let pm = |ev: &str, key: &str| {
        Resp::Array(vec![bulk("pmessage"), bulk("__keyevent@0__:*"), bulk(&format!("__keyevent@0__:{ev}")), bulk(key)])
    };
    // SET ... PX emits `set` then `expire`; EXPIRE emits `expire`.
    assert_eq!(sub.read().unwrap().value, pm("set", "k"));
    assert_eq!(sub.read().unwrap().value, pm("expire", "k"));
    assert_eq!(sub.read().unwrap().value, pm("expire", "k"));
    c.cmd(&["PEXPIRE", "k", "30"]);
    assert_eq!(sub.read().unwrap().value, pm("expire", "k"));
    // Expiry by the active cycle (nobody touches the key).
    sub.set_timeout(Duration::from_secs(5));
    assert_eq!(sub.read().unwrap().value, pm("expired", "k"));
}

#[test]
fn client_unblock_timeout_and_error() {
    let s = TestServer::start();
    let mut blocked = conn(&s);
    let id = match blocked.cmd(&["CLIENT", "ID"]) {
        Resp::Int(i) => i.to_string(),
        other => panic!("{other:?}"),
    };
    let mut admin = conn(&s);
    blocked.send(&["BLPOP", "nothing", "0"]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Resp::Int(1));
    assert_eq!(blocked.read().unwrap().value, Resp::NilArray);
    blocked.send(&["BLPOP", "nothing", "0"]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), Resp::Int(1));
    assert_eq!(blocked.read().unwrap().value, Resp::Error(b"UNBLOCKED client unblocked via CLIENT UNBLOCK".to_vec()));
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Resp::Int(0), "not blocked any more");
    match admin.cmd(&["CLIENT", "UNBLOCK", &id, "NOPE"]) {
        Resp::Error(e) => assert_eq!(e, b"ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        other => panic!("{other:?}"),
    }
    // The unblocked client works normally afterwards.
    assert_eq!(blocked.cmd(&["PING"]), Resp::Simple(b"PONG".to_vec()));
}

/// Raises this process's open-file limit to at least `n`; false if the hard limit is lower.
fn raise_nofile(n: u64) -> bool {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return false;
        }
        if lim.rlim_cur >= n {
            return true;
        }
        if lim.rlim_max < n {
            return false;
        }
        lim.rlim_cur = n;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
    }
}

#[test]
fn ten_thousand_concurrent_clients() {
    const N: usize = 10_000;
    if !raise_nofile(N as u64 + 512) {
        println!("SKIPPED: the open-file hard limit is below {N} connections");
        return;
    }
    let s = TestServer::start_with(&["--maxclients", "10100"]);
    // Connect from several threads: a lost SYN costs a 1 s retransmission, and on a busy
    // machine a few of ten thousand are lost whatever the server does.
    let addr = s.addr();
    let conns: Vec<std::net::TcpStream> = (0..20)
        .map(|t| {
            std::thread::spawn(move || {
                (0..N / 20)
                    .map(|i| {
                        let mut last = None;
                        for _ in 0..5 {
                            match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
                                Ok(c) => return c,
                                Err(e) => last = Some(e),
                            }
                        }
                        panic!("connection {t}/{i}: {last:?}")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    use std::io::{Read, Write};
    for c in &conns {
        (&*c).write_all(b"PING\r\n").unwrap();
    }
    for (i, c) in conns.iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 7];
        (&*c).read_exact(&mut buf).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        assert_eq!(&buf, b"+PONG\r\n", "connection {i}");
    }
    let mut admin = conn(&s);
    let Resp::Bulk(info) = admin.cmd(&["INFO", "clients"]) else { panic!("INFO") };
    let text = String::from_utf8_lossy(&info).into_owned();
    assert!(text.contains(&format!("connected_clients:{}", N + 1)), "{text}");
}

/// A read-modify-write in Lua that loses updates unless every script runs atomically.
const BUMP: &str =
    "local v = tonumber(redis.call('GET', KEYS[1]) or '0') redis.call('SET', KEYS[1], v + 1) return v + 1";

/// Pipelined scripts on several connections (spread over both event-loop threads, which
/// keep the dataset locked between consecutive scripts of a turn) stay atomic, and plain
/// commands of other connections keep being served meanwhile.
#[test]
fn pipelined_scripts_on_two_threads_stay_atomic() {
    const CONNS: usize = 6;
    const ROUNDS: usize = 20;
    const PIPELINE: usize = 16;
    let s = TestServer::start_with(&["--io-threads", "2"]);
    std::thread::scope(|scope| {
        for _ in 0..CONNS {
            let s = &s;
            scope.spawn(move || {
                let mut c = conn(s);
                let batch: Vec<u8> =
                    (0..PIPELINE).flat_map(|_| common::encode_command(&["EVAL", BUMP, "1", "counter"])).collect();
                for _ in 0..ROUNDS {
                    c.send_raw(&batch).unwrap();
                    for _ in 0..PIPELINE {
                        let r = c.read().unwrap().value;
                        assert!(matches!(r, Resp::Int(_)), "{r}");
                    }
                }
            });
        }
        let s = &s;
        scope.spawn(move || {
            let mut c = conn(s);
            for i in 1..=200 {
                assert_eq!(c.cmd(&["INCR", "plain"]), Resp::Int(i));
            }
        });
    });
    let mut c = conn(&s);
    assert_eq!(c.cmd(&["GET", "counter"]), bulk(&(CONNS * ROUNDS * PIPELINE).to_string()));
    assert_eq!(c.cmd(&["GET", "plain"]), bulk("200"));
}

/// Within one pipeline, scripts alternate with commands that must not run under the locks a
/// script left for the next one: plain commands, MULTI/EXEC, a blocking pop, serving another
/// connection's blocked pop, and a disconnection.
#[test]
fn scripts_pipelined_with_other_commands() {
    let s = TestServer::start_with(&["--io-threads", "2"]);
    let mut waiter = conn(&s);
    waiter.send(&["BLPOP", "jobs", "10"]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut c = conn(&s);
    let cmds: Vec<Vec<&str>> = vec![
        vec!["EVAL", BUMP, "1", "n"],
        vec!["GET", "n"],
        vec!["EVAL", "return redis.call('RPUSH', KEYS[1], 'job')", "1", "jobs"],
        vec!["EVAL", BUMP, "1", "n"],
        vec!["MULTI"],
        vec!["EVAL", BUMP, "1", "n"],
        vec!["INCR", "n"],
        vec!["EXEC"],
        vec!["EVAL", BUMP, "1", "n"],
        vec!["BLPOP", "empty", "0.05"],
        vec!["EVAL", BUMP, "1", "n"],
    ];
    let bytes: Vec<u8> = cmds.iter().flat_map(|a| common::encode_command(a)).collect();
    c.send_raw(&bytes).unwrap();
    let replies: Vec<Resp> = cmds.iter().map(|_| c.read().unwrap().value).collect();
    assert_eq!(
        replies,
        vec![
            Resp::Int(1),
            bulk("1"),
            Resp::Int(1),
            Resp::Int(2),
            ok(),
            Resp::Simple(b"QUEUED".to_vec()),
            Resp::Simple(b"QUEUED".to_vec()),
            Resp::Array(vec![Resp::Int(3), Resp::Int(4)]),
            Resp::Int(5),
            Resp::NilArray,
            Resp::Int(6),
        ]
    );
    assert_eq!(waiter.read().unwrap().value, arr(&["jobs", "job"]));
    // A connection that leaves right after its scripts does not leave the dataset locked.
    let mut leaving = conn(&s);
    let bytes: Vec<u8> = (0..8).flat_map(|_| common::encode_command(&["EVAL", BUMP, "1", "n"])).collect();
    leaving.send_raw(&bytes).unwrap();
    drop(leaving);
    let mut other = conn(&s);
    other.set_timeout(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Resp::Bulk(v) = other.cmd(&["GET", "n"]) else { panic!("GET n") };
        let n: i64 = String::from_utf8_lossy(&v).parse().unwrap();
        if n == 14 {
            break;
        }
        assert!(n < 14 && Instant::now() < deadline, "n = {n}");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(other.cmd(&["INCR", "n"]), Resp::Int(15));
}

/// A script that runs long after others in the same pipeline still turns other clients'
/// commands into BUSY errors, and SCRIPT KILL ends it.
#[test]
fn busy_script_after_pipelined_scripts() {
    let s = TestServer::start_with(&["--io-threads", "2", "--busy-reply-threshold", "100"]);
    let mut c = conn(&s);
    let cmds: Vec<Vec<&str>> =
        vec![vec!["EVAL", BUMP, "1", "n"], vec!["EVAL", BUMP, "1", "n"], vec!["EVAL", "while true do end", "0"]];
    let bytes: Vec<u8> = cmds.iter().flat_map(|a| common::encode_command(a)).collect();
    c.send_raw(&bytes).unwrap();
    let mut other = conn(&s);
    // Not within the instant the script starts: a command that passes the "script running?"
    // check just before waits for the script instead of getting BUSY (see `until_busy`).
    std::thread::sleep(Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = other.cmd(&["GET", "n"]);
        if r.is_error() {
            let text = format!("{r}");
            assert!(text.contains("BUSY"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "no BUSY reply");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), ok());
    assert_eq!(c.read().unwrap().value, Resp::Int(1));
    assert_eq!(c.read().unwrap().value, Resp::Int(2));
    assert!(c.read().unwrap().value.is_error());
    assert_eq!(other.cmd(&["GET", "n"]), bulk("2"));
}

/// Random pipelines on both event-loop threads mixing scripts (some switching databases),
/// plain increments, MULTI/EXEC, blocking pops fed by scripts, and connections that leave
/// without reading their replies: nothing deadlocks and no increment is lost.
#[test]
fn random_script_pipelines_with_everything_else() {
    const CONNS: u64 = 6;
    const ROUNDS: usize = 30;
    let s = TestServer::start_with(&["--io-threads", "2"]);
    let total = std::sync::atomic::AtomicI64::new(0);
    std::thread::scope(|scope| {
        for t in 0..CONNS {
            let (s, total) = (&s, &total);
            scope.spawn(move || {
                let mut rng = Rng::new(t);
                let mut c = conn(s);
                for _ in 0..ROUNDS {
                    let mut cmds: Vec<Vec<&str>> = Vec::new();
                    let mut bumps = 0;
                    for _ in 0..rng.range(1, 24) {
                        match rng.below(8) {
                            0..=2 => {
                                cmds.push(vec!["EVAL", BUMP, "1", "total"]);
                                bumps += 1;
                            }
                            3 => {
                                let other = "redis.call('SELECT', 1) redis.call('INCR', 'x') redis.call('SELECT', 0) return redis.call('INCR', KEYS[1])";
                                cmds.push(vec!["EVAL", other, "1", "total"]);
                                bumps += 1;
                            }
                            4 => {
                                cmds.push(vec!["INCR", "total"]);
                                bumps += 1;
                            }
                            5 => {
                                cmds.extend([vec!["MULTI"], vec!["EVAL", BUMP, "1", "total"], vec!["INCR", "total"], vec!["EXEC"]]);
                                bumps += 2;
                            }
                            6 => cmds.push(vec!["EVAL", "return redis.call('RPUSH', KEYS[1], 'x')", "1", "feed"]),
                            _ => cmds.push(vec!["BLPOP", "feed", "0.01"]),
                        }
                    }
                    let bytes: Vec<u8> = cmds.iter().flat_map(|a| common::encode_command(a)).collect();
                    c.send_raw(&bytes).unwrap();
                    for a in &cmds {
                        let r = c.read().unwrap_or_else(|e| panic!("{}: {e}", common::show_command(a))).value;
                        assert!(!r.is_error(), "{} -> {r}", common::show_command(a));
                    }
                    total.fetch_add(bumps, std::sync::atomic::Ordering::Relaxed);
                    if rng.below(5) == 0 {
                        // Leave without reading (scripts on a key nobody checks), come back.
                        let mut leaving = conn(s);
                        let bytes: Vec<u8> =
                            (0..8).flat_map(|_| common::encode_command(&["EVAL", BUMP, "1", "scratch"])).collect();
                        leaving.send_raw(&bytes).unwrap();
                    }
                }
            });
        }
    });
    let mut c = conn(&s);
    assert_eq!(c.cmd(&["GET", "total"]), bulk(&total.into_inner().to_string()));
}

/// The text of an error reply (empty for anything else).
fn error_text(r: &Resp) -> String {
    match r {
        Resp::Error(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// Waits until `c` gets a BUSY error for `GET x` (the script passed busy-reply-threshold).
///
/// Starts 50 ms after the script was sent: a command that passes the "script running?"
/// check in the instant before the script takes the dataset waits for the script (its
/// thread keeps serving its other clients meanwhile) instead of getting BUSY.
fn until_busy(c: &mut RespConn) {
    std::thread::sleep(Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.cmd(&["GET", "x"]);
        if r.is_error() {
            assert!(error_text(&r).starts_with("BUSY"), "{r}");
            return;
        }
        assert!(Instant::now() < deadline, "no BUSY reply");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A busy script does not take its event-loop thread's other clients hostage: with one I/O
/// thread (every client on the script's thread) and with two, clients connected before and
/// after the script started get BUSY, and SCRIPT KILL / FUNCTION KILL sent by any of them
/// stop it (the script's hook serves them, as Redis's processEventsWhileBlocked).
#[test]
fn busy_script_thread_keeps_serving_its_other_clients() {
    for threads in ["1", "2"] {
        let s = TestServer::start_with(&["--io-threads", threads, "--busy-reply-threshold", "100"]);
        let mut others: Vec<RespConn> = (0..3).map(|_| conn(&s)).collect();
        let mut runner = conn(&s);
        runner.send(&["EVAL", "while true do end", "0"]).unwrap();
        for c in others.iter_mut() {
            until_busy(c);
        }
        // Leaving meanwhile is fine (the server closes such connections once the script
        // is over).
        let mut leaving = conn(&s);
        assert_eq!(leaving.cmd(&["QUIT"]), ok());
        drop(leaving);
        drop(conn(&s));
        let mut late = conn(&s);
        let r = late.cmd(&["PING"]);
        assert!(error_text(&r).starts_with("BUSY"), "io-threads {threads}: {r}");
        // Two commands in one write: BUSY for the first, the kill runs.
        late.send_raw(&[common::encode_command(&["GET", "x"]), common::encode_command(&["SCRIPT", "KILL"])].concat())
            .unwrap();
        assert!(error_text(&late.read().unwrap().value).starts_with("BUSY"));
        assert_eq!(late.read().unwrap().value, ok(), "io-threads {threads}");
        let killed = runner.read().unwrap().value;
        assert!(error_text(&killed).starts_with("ERR Script killed by user with SCRIPT KILL..."), "{killed}");
        for c in others.iter_mut() {
            assert_eq!(c.cmd(&["SET", "x", "1"]), ok());
        }
        // The same for a function.
        let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
        assert_eq!(runner.cmd(&["FUNCTION", "LOAD", lib]), bulk("spin"));
        runner.send(&["FCALL", "spin", "0"]).unwrap();
        for c in others.iter_mut() {
            until_busy(c);
        }
        assert_eq!(others[0].cmd(&["FUNCTION", "KILL"]), ok(), "io-threads {threads}");
        let killed = runner.read().unwrap().value;
        assert!(error_text(&killed).contains("killed"), "{killed}");
        assert_eq!(late.cmd(&["GET", "x"]), bulk("1"));
    }
}

/// SHUTDOWN NOSAVE during a script that never ends stops the server, from a client on the
/// script's own thread.
#[test]
fn shutdown_nosave_during_an_endless_script() {
    let mut s = TestServer::start_with(&["--io-threads", "1", "--busy-reply-threshold", "100"]);
    let mut runner = conn(&s);
    runner.send(&["EVAL", "while true do end", "0"]).unwrap();
    let mut other = conn(&s);
    until_busy(&mut other);
    // As in Redis, only SHUTDOWN NOSAVE is accepted then; WATCH (which Redis accepts) gets
    // BUSY here, as it would have to read its key.
    for cmd in [&["SHUTDOWN"][..], &["SHUTDOWN", "SAVE"], &["WATCH", "x"]] {
        let r = other.cmd(cmd);
        assert!(error_text(&r).starts_with("BUSY"), "{cmd:?}: {r}");
    }
    assert_eq!(other.cmd(&["MULTI"]), ok());
    assert_eq!(other.cmd(&["DISCARD"]), ok());
    let _ = other.call(&["SHUTDOWN", "NOSAVE"]);
    let status = s.wait_exit(Duration::from_secs(10)).expect("still running 10 s after SHUTDOWN NOSAVE");
    assert!(status.success(), "{status:?}");
}
