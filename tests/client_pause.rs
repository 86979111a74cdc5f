//! CLIENT PAUSE / UNPAUSE against redis-server 7.0: error replies compared, and on both
//! servers the same behaviour: WRITE holds writes (and EVAL) but not reads, ALL holds
//! everything, UNPAUSE and the timeout release the held commands in order.
//! Skipped (`SKIPPED: ...`) without redis-server, except under CI.
mod common;

use common::{Resp, TestServer};
use std::time::{Duration, Instant};

/// Runs `args` on a fresh connection while `server` is paused; returns the reply and how
/// long it took.
fn timed(server: &TestServer, args: &[&str]) -> (Resp, Duration) {
    let mut c = server.raw();
    let t = Instant::now();
    let r = c.cmd(args);
    (r, t.elapsed())
}

fn behaviour(server: &TestServer) -> Vec<String> {
    let mut admin = server.raw();
    let mut out = Vec::new();
    for args in [&["CLIENT", "PAUSE", "abc"][..], &["CLIENT", "PAUSE", "-1"], &["CLIENT", "PAUSE", "10", "FOO"]] {
        out.push(format!("{args:?} -> {:?}", admin.cmd(args)));
    }
    admin.cmd(&["SET", "k", "v"]);
    // WRITE: reads go on, writes wait for the timeout.
    admin.cmd(&["CLIENT", "PAUSE", "400", "WRITE"]);
    let (r, t) = timed(server, &["GET", "k"]);
    out.push(format!("GET under WRITE pause -> {r:?} fast={}", t < Duration::from_millis(200)));
    let (r, t) = timed(server, &["SET", "k", "w"]);
    out.push(format!("SET under WRITE pause -> {r:?} waited={}", t >= Duration::from_millis(250)));
    // UNPAUSE releases a held write at once.
    admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    let h = {
        let server_addr = server.addr();
        std::thread::spawn(move || {
            let mut c = common::RespConn::connect(server_addr).unwrap();
            let t = Instant::now();
            let r = c.cmd(&["EVAL", "return redis.call('INCR', 'n')", "0"]);
            (r, t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    out.push(format!("UNPAUSE -> {:?}", admin.cmd(&["CLIENT", "UNPAUSE"])));
    let (r, t) = h.join().unwrap();
    out.push(format!(
        "EVAL held until UNPAUSE -> {r:?} waited={} released={}",
        t >= Duration::from_millis(250),
        t < Duration::from_secs(5)
    ));
    // ALL: even reads wait.
    admin.cmd(&["CLIENT", "PAUSE", "300", "ALL"]);
    let (r, t) = timed(server, &["GET", "k"]);
    out.push(format!("GET under ALL pause -> {r:?} waited={}", t >= Duration::from_millis(150)));
    out
}

#[test]
fn client_pause_matches_redis() {
    let Some(redis) = TestServer::redis(&[]) else { return };
    let ferrous = TestServer::ferrous(&[]);
    assert_eq!(behaviour(&ferrous), behaviour(&redis));
}
