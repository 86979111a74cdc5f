//! Shared full-sync transfers and the replica's lazy flush, against redis-server 7.0:
//!
//! - [`replicas_share_one_diskless_transfer`]: three redis-server replicas arriving within
//!   `repl-diskless-sync-delay` get ONE snapshot (one "Starting BGSAVE for SYNC" in the
//!   master's log, `sync_full` 3), all `wait_bgsave` during the delay, all with the master's
//!   data at the end.
//! - [`max_replicas_starts_the_transfer_early`]: `repl-diskless-sync-max-replicas 2` with
//!   a 60 s delay: the transfer starts as soon as both wait.
//! - [`delay_zero_and_a_replica_arriving_mid_transfer`]: with no delay the first replica's
//!   transfer starts at once; one arriving while it runs waits for the next.
//! - [`disk_sync_attaches_to_the_running_save`]: `repl-diskless-sync no`: a replica arriving
//!   while the file is written shares it.
//! - [`stalled_replica_is_dropped_without_stopping_the_others`]: a peer that asks for a
//!   diskless sync and never reads is dropped after `repl-timeout`; the real replica of the
//!   same transfer completes.
//! - [`replica_lazy_flush`]: a replica's old data is freed on the lazy-free thread with
//!   `replica-lazy-flush yes` (INFO `lazyfreed_objects` grows by its key count, as
//!   redis-server's does), and not otherwise.
//!
//! Skipped (with `SKIPPED: ...`) when redis-server is not installed, except under CI.
mod common;

use common::{digest, info_field, ok, TestServer};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

fn wait_until(what: &str, f: impl FnMut() -> bool) {
    common::wait_until(what, SYNC_TIMEOUT, f)
}

/// Waits until `replica` has everything `master` sent, then compares DEBUG DIGEST.
fn assert_in_sync(master: &TestServer, replica: &TestServer, when: &str) {
    let (mut m, mut r) = (master.client(), replica.client());
    wait_until(&format!("{when}: replica link up"), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    wait_until(&format!("{when}: replica offset reaching the master's"), || {
        let mo = info_field(&mut m, "replication", "master_repl_offset");
        let ro = info_field(&mut r, "replication", "slave_repl_offset");
        mo.is_some() && mo == ro
    });
    let (dm, dr) = (digest(&mut m), digest(&mut r));
    assert_ne!(dm, "0000000000000000000000000000000000000000", "{when}: the master has data");
    assert_eq!(dm, dr, "{when}: DEBUG DIGEST differs");
}

/// The `state=` of every `slaveN` line of INFO replication.
fn replica_states(con: &mut redis::Connection) -> Vec<String> {
    let text: String = redis::cmd("INFO").arg("replication").query(con).unwrap();
    text.lines()
        .filter(|l| l.starts_with("slave") && l.contains(":ip="))
        .filter_map(|l| l.split(',').find_map(|p| p.strip_prefix("state=")).map(str::to_string))
        .collect()
}

fn count(log: &str, line: &str) -> usize {
    log.matches(line).count()
}

fn master(extra: &[&str]) -> TestServer {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(extra);
    TestServer::ferrous(&args)
}

fn replica_of(master: &TestServer) -> Option<TestServer> {
    TestServer::redis(&["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &master.port().to_string()])
}

/// Fills the master with `n` keys of several types and a second database.
fn fill(m: &mut redis::Connection, n: usize) {
    ok(m, &["DEBUG", "POPULATE", &n.to_string(), "key", "32"]);
    ok(m, &["RPUSH", "list", "a", "b", "c"]);
    ok(m, &["HSET", "hash", "f", "v", "g", "w"]);
    ok(m, &["ZADD", "zset", "1", "x", "2", "y"]);
    ok(m, &["SET", "ttl", "v", "EX", "1000"]);
    ok(m, &["SELECT", "3"]);
    ok(m, &["SADD", "set", "1", "2", "3"]);
    ok(m, &["SELECT", "0"]);
}

#[test]
fn replicas_share_one_diskless_transfer() {
    let master = master(&["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "4"]);
    let mut m = master.client();
    fill(&mut m, 5000);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let Some(r) = replica_of(&master) else { return };
        replicas.push(r);
    }
    // All three wait for the transfer the first one's arrival delayed.
    wait_until("three replicas connected", || {
        info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("3")
    });
    let states = replica_states(&mut m);
    if !master.log().contains("Starting BGSAVE for SYNC") {
        assert_eq!(states, vec!["wait_bgsave"; 3], "during the delay");
    }
    for (i, r) in replicas.iter().enumerate() {
        assert_in_sync(&master, r, &format!("replica {i}"));
    }
    let log = master.log();
    // Redis logs the delay for every replica arriving while no transfer runs.
    assert_eq!(count(&log, "Delay next BGSAVE for diskless SYNC"), 3, "{log}");
    assert_eq!(count(&log, "Starting BGSAVE for SYNC with target: replicas sockets"), 1, "one transfer: {log}");
    assert_eq!(count(&log, "Diskless rdb transfer, done reading from pipe, 3 replicas still up."), 1, "{log}");
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("3"));
    wait_until("all online", || replica_states(&mut m) == vec!["online"; 3]);
    // The stream after the shared snapshot reaches all of them.
    ok(&mut m, &["SET", "after", "1"]);
    ok(&mut m, &["DEL", "key:1"]);
    for (i, r) in replicas.iter().enumerate() {
        assert_in_sync(&master, r, &format!("replica {i}, stream"));
    }
}

#[test]
fn max_replicas_starts_the_transfer_early() {
    let master = master(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "60",
        "--repl-diskless-sync-max-replicas",
        "2",
    ]);
    let mut m = master.client();
    fill(&mut m, 2000);
    let started = Instant::now();
    let Some(a) = replica_of(&master) else { return };
    // The first replica alone waits: the delay has not passed and one is not two.
    wait_until("one replica connected", || {
        info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("1")
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(replica_states(&mut m), vec!["wait_bgsave"]);
    assert!(!master.log().contains("Starting BGSAVE for SYNC"));
    let Some(b) = replica_of(&master) else { return };
    assert_in_sync(&master, &a, "replica a");
    assert_in_sync(&master, &b, "replica b");
    assert!(started.elapsed() < Duration::from_secs(40), "started before the 60 s delay");
    let log = master.log();
    assert_eq!(count(&log, "Starting BGSAVE for SYNC with target: replicas sockets"), 1, "{log}");
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("2"));
}

#[test]
fn delay_zero_and_a_replica_arriving_mid_transfer() {
    // 3000 keys at 1 ms each: the first transfer takes about 3 s.
    let master = master(&["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]);
    let mut m = master.client();
    fill(&mut m, 3000);
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    let Some(a) = replica_of(&master) else { return };
    wait_until("first transfer started", || master.log().contains("Background RDB transfer started"));
    let Some(b) = replica_of(&master) else { return };
    wait_until("second replica waiting", || {
        master.log().contains("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC")
    });
    // During the first transfer both show wait_bgsave (Redis's WAIT_BGSAVE_END/_START).
    let states = replica_states(&mut m);
    if count(&master.log(), "Starting BGSAVE for SYNC") == 1 {
        assert_eq!(states, vec!["wait_bgsave"; 2]);
    }
    ok(&mut m, &["SET", "during", "1"]);
    assert_in_sync(&master, &a, "first replica");
    assert_in_sync(&master, &b, "second replica");
    let log = master.log();
    assert_eq!(count(&log, "Starting BGSAVE for SYNC with target: replicas sockets"), 2, "{log}");
    assert_eq!(count(&log, "Diskless rdb transfer, done reading from pipe, 1 replicas still up."), 2, "{log}");
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("2"));
}

#[test]
fn disk_sync_attaches_to_the_running_save() {
    let master = master(&["--repl-diskless-sync", "no"]);
    let mut m = master.client();
    fill(&mut m, 3000);
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    let Some(a) = replica_of(&master) else { return };
    wait_until("disk save started", || master.log().contains("Starting BGSAVE for SYNC with target: disk"));
    let Some(b) = replica_of(&master) else { return };
    wait_until("second replica attached", || master.log().contains("Waiting for end of BGSAVE for SYNC"));
    ok(&mut m, &["SET", "during", "1"]);
    assert_in_sync(&master, &a, "first replica");
    assert_in_sync(&master, &b, "second replica");
    let log = master.log();
    assert_eq!(count(&log, "Starting BGSAVE for SYNC with target: disk"), 1, "one save: {log}");
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("2"));
}

#[test]
fn stalled_replica_is_dropped_without_stopping_the_others() {
    let master = master(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "2",
        "--repl-timeout",
        "3",
        "--rdbcompression",
        "no",
    ]);
    let mut m = master.client();
    // ~25 MB of payload: far more than the stalled peer's socket buffers hold.
    ok(&mut m, &["DEBUG", "POPULATE", "50000", "big", "500"]);
    let mut stalled = std::net::TcpStream::connect(master.addr()).unwrap();
    stalled.write_all(b"REPLCONF capa eof capa psync2\r\nPSYNC ? -1\r\n").unwrap();
    let mut reply = [0u8; 5];
    stalled.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
    let Some(r) = replica_of(&master) else { return };
    assert_in_sync(&master, &r, "the replica sharing the transfer with a stalled one");
    let log = master.log();
    assert_eq!(count(&log, "Starting BGSAVE for SYNC with target: replicas sockets"), 1, "{log}");
    assert!(log.contains("Disconnecting timedout replica (streaming sync)"), "{log}");
    assert_eq!(info_field(&mut m, "replication", "connected_slaves").as_deref(), Some("1"));
    drop(stalled);
}

/// `lazyfreed_objects` of a replica holding `keys` keys after it full-syncs from a master,
/// with `replica-lazy-flush` set to `lazy`.
fn lazyfreed_after_sync(replica: &TestServer, master_port: u16, keys: usize) -> u64 {
    let mut r = replica.client();
    ok(&mut r, &["DEBUG", "POPULATE", &keys.to_string(), "old", "16"]);
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &master_port.to_string()]);
    wait_until("replica synced", || info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up"));
    wait_until("nothing pending", || info_field(&mut r, "memory", "lazyfree_pending_objects").as_deref() == Some("0"));
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(dbsize, 10, "the master's data replaced the old");
    info_field(&mut r, "memory", "lazyfreed_objects").unwrap().parse().unwrap()
}

#[test]
fn replica_lazy_flush() {
    let Some(master) = TestServer::redis(&["--enable-debug-command", "yes", "--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let mut m = master.client();
    ok(&mut m, &["DEBUG", "POPULATE", "10", "new", "8"]);
    for (lazy, expect) in [("yes", 5000u64), ("no", 0)] {
        let args = ["--enable-debug-command", "yes", "--replica-lazy-flush", lazy];
        let ferrous = TestServer::ferrous(&args);
        let Some(redis) = TestServer::redis(&args) else { return };
        let want = lazyfreed_after_sync(&redis, master.port(), 5000);
        assert_eq!(want, expect, "redis-server with replica-lazy-flush {lazy}");
        let got = lazyfreed_after_sync(&ferrous, master.port(), 5000);
        assert_eq!(got, want, "ferrous with replica-lazy-flush {lazy}, as redis-server");
        assert!(ferrous.log().contains("MASTER <-> REPLICA sync: Flushing old data"));
    }
}

#[test]
fn replicas_leaving_before_or_during_the_transfer() {
    // One leaves during the delay: it is taken out of the queue.
    let master = master(&["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "3"]);
    let mut m = master.client();
    fill(&mut m, 3000);
    let Some(a) = replica_of(&master) else { return };
    let Some(b) = replica_of(&master) else { return };
    wait_until("two replicas waiting", || {
        info_field(&mut m, "replication", "connected_slaves").as_deref() == Some("2")
    });
    drop(a);
    assert_in_sync(&master, &b, "the replica that stayed");
    let log = master.log();
    assert_eq!(count(&log, "Starting BGSAVE for SYNC with target: replicas sockets"), 1, "{log}");
    assert!(log.contains("done reading from pipe, 1 replicas still up."), "{log}");
    assert_eq!(info_field(&mut m, "replication", "connected_slaves").as_deref(), Some("1"));

    // One leaves during the transfer: it is dropped, the other's payload goes on.
    let master = self::master(&["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "1"]);
    let mut m = master.client();
    fill(&mut m, 3000);
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    let Some(a) = replica_of(&master) else { return };
    let Some(b) = replica_of(&master) else { return };
    wait_until("the transfer started", || master.log().contains("Background RDB transfer started"));
    std::thread::sleep(Duration::from_millis(500));
    drop(a);
    assert_in_sync(&master, &b, "the replica that stayed");
    let log = master.log();
    assert_eq!(count(&log, "Starting BGSAVE for SYNC with target: replicas sockets"), 1, "{log}");
    assert!(log.contains("done reading from pipe, 1 replicas still up."), "{log}");
    assert!(log.contains("Diskless rdb transfer, write error sending DB to replica"), "{log}");
}
