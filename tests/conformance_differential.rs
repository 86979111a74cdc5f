//! Differential tests for the behaviours issue 15 found different from Redis 7.0.15, each
//! with the class it belongs to. The same steps run in lockstep on a redis-server (the
//! oracle, on ports 7750-7799) and on Ferrous; replies and out-of-band output must be
//! byte-for-byte identical.
//!
//! - `reply_off_*`: CLIENT REPLY OFF / SKIP silence replies but never pushes: Pub/Sub
//!   subscribe and unsubscribe confirmations, messages and tracking invalidations go out
//!   (RESP2 and RESP3, inside MULTI too); served blocking commands stay silent.
//! - `tracking_*`: client-side caching of what scripts (EVAL, EVAL_RO, EVALSHA, FCALL,
//!   FCALL_RO) and transactions read, in default, BCAST, OPTIN and OPTOUT modes.
//! - `lua_sandbox_*`: the whole script environment (globals, library tables, metatables,
//!   which tables are read-only and the errors for changing them).
//! - `watch_*`: which commands signal "key modified" to WATCH: only an actual change.
//! - `swapdb_*` / `wakeups_*`: which commands wake clients blocked on keys.
//!
//! Every scenario first runs a transaction that a missing command aborted, on the same
//! connection (the issue asks for it: a transaction left open would hide the next failures).
//!
//! How out-of-band output is collected: after each step every connection is read until it
//! stays silent for a short while (replies under CLIENT REPLY OFF are absent, so no
//! sentinel reply can end the reading).
//!
//! Skipped (with `SKIPPED: ...`) when redis-server is not installed, except under CI.
mod common;

use common::{escape, show_command, RespConn, TestServer};
use std::time::Duration;

/// How long a connection must stay silent before what it received counts as complete.
const IDLE: Duration = Duration::from_millis(25);
/// Pause after sending a step, before reading (deliveries to other connections).
const SETTLE: Duration = Duration::from_millis(15);
/// Extra reads, 100 ms apart, when the two servers' outputs differ.
const RETRIES: usize = 5;

/// Both servers, or `None` when redis-server is missing (and this is not CI).
fn servers() -> Option<(TestServer, TestServer)> {
    common::use_redis_ports(7750..7800);
    let redis = TestServer::redis(&[])?;
    let ferrous = TestServer::ferrous(&[]);
    Some((redis, ferrous))
}

/// Several logical clients, each a connection to both servers, driven in lockstep.
struct Lockstep {
    label: String,
    /// `conns[i][0]` on redis-server, `conns[i][1]` on Ferrous.
    conns: Vec<[RespConn; 2]>,
    history: Vec<String>,
}

impl Lockstep {
    /// `n` clients; each first goes through a transaction that a missing command aborted.
    fn new(label: &str, servers: &(TestServer, TestServer), n: usize) -> Lockstep {
        let conns = (0..n).map(|_| [servers.0.raw(), servers.1.raw()]).collect();
        let mut l = Lockstep { label: label.into(), conns, history: Vec::new() };
        for who in 0..n {
            l.step(who, &["MULTI"]);
            l.step(who, &["NOSUCHCOMMAND", "x"]);
            l.step(who, &["EXEC"]);
        }
        l
    }

    /// Sends `args` on client `who` to both servers, then compares what every client
    /// received.
    fn step(&mut self, who: usize, args: &[&str]) {
        self.send(who, args);
        let mut got = self.collect();
        // A slow machine may deliver late: look again before calling it a divergence.
        for _ in 0..RETRIES {
            if got.iter().all(|[r, f]| r == f) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            for (g, more) in got.iter_mut().zip(self.collect()) {
                g[0].extend_from_slice(&more[0]);
                g[1].extend_from_slice(&more[1]);
            }
        }
        for (i, [r, f]) in got.iter().enumerate() {
            if r != f {
                panic!(
                    "\n=== DIVERGENCE ({}) ===\nstep:    c{who}: {}\nclient:  c{i}\nredis:   \"{}\"\nferrous: \"{}\"\nsteps before it:\n  {}\n",
                    self.label,
                    show_command(args),
                    escape(r),
                    escape(f),
                    self.history[self.history.len().saturating_sub(16)..].join("\n  ")
                );
            }
        }
        let shown: Vec<String> = got
            .iter()
            .enumerate()
            .filter(|(_, g)| !g[0].is_empty())
            .map(|(i, g)| format!("c{i} <- \"{}\"", escape(&g[0])))
            .collect();
        self.history.push(format!("c{who}: {}   {}", show_command(args), shown.join("  ")));
    }

    /// Like [`Lockstep::step`], for a step whose output differs legitimately (HELLO shows
    /// the server's name and version): read, not compared.
    fn step_unchecked(&mut self, who: usize, args: &[&str]) {
        self.send(who, args);
        self.collect();
        self.history.push(format!("c{who}: {} (not compared)", show_command(args)));
    }

    fn send(&mut self, who: usize, args: &[&str]) {
        for c in self.conns[who].iter_mut() {
            c.send(args).expect("send");
        }
        std::thread::sleep(SETTLE);
    }

    /// Everything each connection received since the last step, `[redis, ferrous]` (all
    /// connections are read at once, each until it stays silent for [`IDLE`]).
    fn collect(&mut self) -> Vec<[Vec<u8>; 2]> {
        std::thread::scope(|scope| {
            let readers: Vec<_> = self
                .conns
                .iter_mut()
                .map(|[r, f]| {
                    let r = scope.spawn(move || r.read_until_close(IDLE).0);
                    let f = scope.spawn(move || f.read_until_close(IDLE).0);
                    (r, f)
                })
                .collect();
            readers.into_iter().map(|(r, f)| [r.join().expect("reader"), f.join().expect("reader")]).collect()
        })
    }
}

// ---------------------------------------------------------------------------------------
// 1. CLIENT REPLY OFF / SKIP and pushes
// ---------------------------------------------------------------------------------------

/// Subscribing, being published to and unsubscribing with replies silenced, for one
/// protocol and mode.
fn reply_mode_pubsub(s: &(TestServer, TestServer), proto: &str, mode: &str) {
    let mut l = Lockstep::new(&format!("RESP{proto} CLIENT REPLY {mode}, pub/sub"), s, 2);
    l.step_unchecked(0, &["HELLO", proto]);
    l.step(0, &["CLIENT", "REPLY", mode]);
    l.step(0, &["SUBSCRIBE", "ch1", "ch2"]);
    if mode == "SKIP" {
        l.step(0, &["CLIENT", "REPLY", mode]);
    }
    l.step(0, &["PSUBSCRIBE", "p*"]);
    l.step(0, &["SSUBSCRIBE", "s1"]);
    l.step(1, &["PUBLISH", "ch1", "m1"]);
    l.step(1, &["PUBLISH", "pa", "m2"]);
    l.step(1, &["SPUBLISH", "s1", "m3"]);
    // Publishing to itself (RESP3 only: a RESP2 subscriber may not PUBLISH).
    l.step(0, &["PUBLISH", "ch2", "self"]);
    l.step(0, &["PING"]);
    l.step(0, &["UNSUBSCRIBE", "ch1"]);
    l.step(0, &["UNSUBSCRIBE", "nosuch"]);
    l.step(0, &["PUNSUBSCRIBE"]);
    l.step(0, &["SUNSUBSCRIBE", "s1"]);
    l.step(0, &["UNSUBSCRIBE"]);
    l.step(0, &["SUNSUBSCRIBE"]);
    l.step(0, &["PING"]);
    // Inside a transaction: EXEC's reply is silenced, the confirmations are not.
    l.step(0, &["MULTI"]);
    l.step(0, &["SUBSCRIBE", "t1"]);
    l.step(0, &["GET", "k"]);
    l.step(0, &["EXEC"]);
    l.step(1, &["PUBLISH", "t1", "m4"]);
    l.step(0, &["UNSUBSCRIBE", "t1"]);
    l.step(0, &["CLIENT", "REPLY", "ON"]);
    l.step(0, &["PING"]);
}

#[test]
fn reply_off_still_sends_pubsub_pushes() {
    let Some(s) = servers() else { return };
    for proto in ["3", "2"] {
        for mode in ["OFF", "SKIP"] {
            reply_mode_pubsub(&s, proto, mode);
        }
    }
}

/// Tracking invalidations are pushes too (RESP3 and a RESP2 redirect target), and a
/// blocking command served later stays silent.
#[test]
fn reply_off_still_sends_invalidations_and_silences_served_blocking_commands() {
    let Some(s) = servers() else { return };
    for mode in ["OFF", "SKIP"] {
        let mut l = Lockstep::new(&format!("CLIENT REPLY {mode}, tracking and blocking"), &s, 2);
        l.step_unchecked(0, &["HELLO", "3"]);
        l.step(0, &["CLIENT", "TRACKING", "ON"]);
        l.step(0, &["GET", "k1"]);
        l.step(0, &["CLIENT", "REPLY", mode]);
        l.step(0, &["GET", "k2"]);
        l.step(1, &["SET", "k1", "v"]);
        l.step(0, &["CLIENT", "REPLY", mode]);
        // Its own write of a key it read: the invalidation follows the silenced reply.
        l.step(0, &["SET", "k2", "v"]);
        l.step(0, &["CLIENT", "REPLY", mode]);
        l.step(0, &["MGET", "k1", "k2"]);
        l.step(0, &["CLIENT", "REPLY", mode]);
        l.step(0, &["MSET", "k1", "a", "k2", "b"]);
        l.step(0, &["CLIENT", "REPLY", mode]);
        l.step(0, &["BLPOP", "q", "0"]);
        l.step(1, &["RPUSH", "q", "x"]);
        l.step(0, &["CLIENT", "REPLY", mode]);
        l.step(0, &["BLPOP", "q", "0.05"]);
        std::thread::sleep(Duration::from_millis(100));
        l.step(0, &["CLIENT", "REPLY", "ON"]);
        l.step(0, &["PING"]);
        l.step(0, &["CLIENT", "TRACKING", "OFF"]);
    }
}

// ---------------------------------------------------------------------------------------
// 2. Client tracking of scripts and transactions
// ---------------------------------------------------------------------------------------

/// A library whose functions read, write or do neither (`rd_ro` may run under FCALL_RO).
const TRACKING_LIBRARY: &str = "#!lua name=tracklib
redis.register_function('rd', function(k, a) return redis.call('get', k[1]) end)
redis.register_function{function_name='rd_ro', callback=function(k, a) return redis.call('get', k[1]) end, flags={'no-writes'}}
redis.register_function{function_name='nop_ro', callback=function(k, a) return 1 end, flags={'no-writes'}}
redis.register_function('nop', function(k, a) return 1 end)
redis.register_function('wr', function(k, a) return redis.call('set', k[1], 'w') end)
redis.register_function('rdother', function(k, a) return redis.call('exists', 'other') end)
";

/// Scripts that read nothing, a declared key, an undeclared key, or fail after reading.
fn tracked_scripts() -> Vec<Vec<&'static str>> {
    const READ: &str = "return redis.call('get', KEYS[1])";
    vec![
        vec!["EVAL", "return 1", "2", "a", "b"],
        vec!["EVAL", "return redis.call('ping')", "2", "a", "b"],
        vec!["EVAL", "return redis.call('set', KEYS[1], 'x')", "2", "a", "b"],
        vec!["EVAL", READ, "2", "a", "b"],
        vec!["EVAL", READ, "1", "a"],
        vec!["EVAL", "return redis.call('get', 'other')", "2", "a", "b"],
        vec!["EVAL", "return redis.call('exists', 'other')", "0"],
        vec!["EVAL", "redis.call('set', 'c', '1') return redis.call('strlen', 'c')", "2", "b", "c"],
        vec!["EVAL", "redis.call('get', KEYS[1]) return redis.call('incr', KEYS[2])", "2", "a", "a"],
        vec!["EVAL", "redis.call('get', KEYS[1]) error('boom')", "2", "a", "b"],
        vec!["EVAL", "redis.call('lpush', KEYS[1], 'x')", "1", "a"],
        vec!["EVAL_RO", READ, "2", "a", "b"],
        vec!["EVAL_RO", "return 1", "2", "a", "b"],
        vec!["EVALSHA", "SHA_READ", "2", "a", "b"],
        vec!["EVALSHA_RO", "SHA_READ", "2", "a", "b"],
        vec!["EVALSHA", "SHA_NOP", "2", "a", "b"],
        vec!["FCALL", "rd", "2", "a", "b"],
        vec!["FCALL", "rdother", "2", "a", "b"],
        vec!["FCALL", "nop", "2", "a", "b"],
        vec!["FCALL", "wr", "2", "a", "b"],
        vec!["FCALL_RO", "rd_ro", "2", "a", "b"],
        vec!["FCALL_RO", "nop_ro", "2", "a", "b"],
        vec!["FCALL_RO", "rd", "2", "a", "b"],
    ]
}

fn tracking_scripts_in_mode(s: &(TestServer, TestServer), mode: &[&str], caching: Option<&str>) {
    let label = format!("tracking {mode:?} CLIENT CACHING {caching:?}, scripts");
    let mut l = Lockstep::new(&label, s, 2);
    l.step_unchecked(0, &["HELLO", "3"]);
    l.step(1, &["FUNCTION", "LOAD", "REPLACE", TRACKING_LIBRARY]);
    let read_sha = match l.conns[1][0].call(&["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"]) {
        Ok(r) => String::from_utf8_lossy(r.value.bytes().expect("sha")).into_owned(),
        Err(e) => panic!("SCRIPT LOAD: {e}"),
    };
    let nop_sha = match l.conns[1][0].call(&["SCRIPT", "LOAD", "return 1"]) {
        Ok(r) => String::from_utf8_lossy(r.value.bytes().expect("sha")).into_owned(),
        Err(e) => panic!("SCRIPT LOAD: {e}"),
    };
    l.step(1, &["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"]);
    l.step(1, &["SCRIPT", "LOAD", "return 1"]);
    let mut on = vec!["CLIENT", "TRACKING", "ON"];
    on.extend_from_slice(mode);
    l.step(0, &on);
    for script in tracked_scripts() {
        let script: Vec<&str> = script
            .iter()
            .map(|a| match *a {
                "SHA_READ" => read_sha.as_str(),
                "SHA_NOP" => nop_sha.as_str(),
                a => a,
            })
            .collect();
        l.step(1, &["MSET", "a", "1", "b", "2", "c", "3"]);
        if let Some(c) = caching {
            l.step(0, &["CLIENT", "CACHING", c]);
        }
        l.step(0, &script);
        l.step(1, &["MSET", "a", "1", "b", "2", "c", "3"]);
        l.step(1, &["DEL", "a", "b", "c", "other"]);
    }
    // Transactions: what EXEC runs is tracked as if sent one by one, a script inside too;
    // CLIENT CACHING given before MULTI covers all of it.
    let txs: Vec<Vec<Vec<&str>>> = vec![
        vec![vec!["GET", "a"], vec!["GET", "b"]],
        vec![vec!["SET", "a", "1"], vec!["GET", "b"]],
        vec![vec!["EVAL", "return redis.call('get', 'zz')", "2", "a", "b"], vec!["INCR", "c"]],
        vec![vec!["EVAL", "return 1", "2", "a", "b"], vec!["MGET", "c", "other"]],
        vec![vec!["FCALL", "rd", "1", "c"]],
    ];
    for tx in txs {
        if let Some(c) = caching {
            l.step(0, &["CLIENT", "CACHING", c]);
        }
        l.step(0, &["MULTI"]);
        for cmd in &tx {
            l.step(0, cmd);
        }
        l.step(0, &["EXEC"]);
        l.step(1, &["MSET", "a", "1", "b", "2", "c", "3", "other", "4"]);
        l.step(1, &["DEL", "a", "b", "c", "other"]);
    }
    l.step(0, &["CLIENT", "TRACKING", "OFF"]);
}

#[test]
fn tracking_of_scripts_and_transactions_matches_redis() {
    let Some(s) = servers() else { return };
    tracking_scripts_in_mode(&s, &[], None);
    tracking_scripts_in_mode(&s, &["BCAST"], None);
    tracking_scripts_in_mode(&s, &["OPTIN"], None);
    tracking_scripts_in_mode(&s, &["OPTIN"], Some("YES"));
    tracking_scripts_in_mode(&s, &["OPTOUT"], None);
    tracking_scripts_in_mode(&s, &["OPTOUT"], Some("NO"));
    tracking_scripts_in_mode(&s, &["NOLOOP"], None);
}
