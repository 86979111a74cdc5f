//! End to end: a program's in-process `Database`, served with `ferrous::Server`, is the
//! master of a real redis-server replica. Writes the program makes through the typed API
//! (not only clients' commands) reach the replica, and a typed transaction arrives as one
//! MULTI/EXEC: the replica ends with the same data, byte for byte (DEBUG DIGEST).
mod common;

use common::{digest, TestServer};
use ferrous::prelude::*;
use ferrous::Server;
use std::time::Duration;

fn wait_until(what: &str, f: impl FnMut() -> bool) {
    common::wait_until(what, Duration::from_secs(20), f)
}

#[test]
fn typed_writes_reach_a_redis_replica() {
    let Some(replica) = TestServer::redis(&[]) else { return };
    let db = Database::new();
    db.set("before", "sync").unwrap();
    let server = Server::builder(db.clone()).bind("127.0.0.1:0").config("loglevel", "warning").start().unwrap();
    let port = server.local_addr().port();
    let mut r = replica.client();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(port).query(&mut r).unwrap();
    wait_until("the full sync", || {
        let info: String = redis::cmd("INFO").arg("replication").query(&mut r).unwrap();
        info.contains("master_link_status:up")
    });

    // After the full sync, everything goes through the stream.
    db.set("plain", "1").unwrap();
    db.setex("ttl", 1000, "v").unwrap();
    db.incr_by_float("float", 0.1).unwrap();
    db.incr_by_float("float", 0.2).unwrap();
    db.rpush("list", ["a", "b", "c"]).unwrap();
    db.lpop("list").unwrap();
    db.hset("hash", &[("f1", "v1"), ("f2", "v2")]).unwrap();
    db.sadd("set", &["x", "y", "z"]).unwrap();
    db.spop("set").unwrap();
    db.zadd("zset", &[(1.0, "one"), (2.0, "two")]).unwrap();
    db.expire("plain", 500, Default::default()).unwrap();
    db.select(3).unwrap().set("other-db", "3").unwrap();
    db.transaction(|tx| {
        tx.incr("counter")?;
        tx.rename("before", "after")?;
        Ok(())
    })
    .unwrap();
    db.del(&["list"]);

    let mut m = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
    wait_until("the replica to catch up", || digest(&mut m) == digest(&mut r));
    let float: String = redis::cmd("GET").arg("float").query(&mut r).unwrap();
    assert_eq!(float, "0.3");
    let ttl: i64 = redis::cmd("PTTL").arg("ttl").query(&mut r).unwrap();
    assert!(ttl > 990_000, "the TTL arrives as an absolute deadline: {ttl}");
    let after: String = redis::cmd("GET").arg("after").query(&mut r).unwrap();
    assert_eq!(after, "sync");
    let members: usize = redis::cmd("SCARD").arg("set").query(&mut r).unwrap();
    assert_eq!(members, 2, "SPOP arrives as the SREM of the member it took");
    server.stop();
}

/// A writable replica's own writes stay local, as in Redis: its sub-replicas get only its
/// master's stream, whether the local write came from a client or from the typed API.
#[test]
fn writable_replica_keeps_typed_writes_from_sub_replicas() {
    let Some(master) = TestServer::redis(&["--repl-diskless-sync-delay", "0"]) else { return };
    let Some(sub) = TestServer::redis(&[]) else { return };
    let db = Database::new();
    let server = Server::builder(db.clone())
        .bind("127.0.0.1:0")
        .config("loglevel", "warning")
        .config("repl-diskless-sync-delay", "0")
        .start()
        .unwrap();
    let port = server.local_addr().port();
    let mut me = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("replica-read-only").arg("no").query(&mut me).unwrap();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(master.port()).query(&mut me).unwrap();
    let link_up = |c: &mut redis::Connection| {
        let info: String = redis::cmd("INFO").arg("replication").query(c).unwrap();
        info.contains("master_link_status:up")
    };
    wait_until("the embedded replica's sync", || link_up(&mut me));
    let mut s = sub.client();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(port).query(&mut s).unwrap();
    wait_until("the sub-replica's sync", || link_up(&mut s));

    db.set("typed-local", "1").unwrap();
    let _: () = redis::cmd("SET").arg("command-local").arg("1").query(&mut me).unwrap();
    let mut m = master.client();
    let _: () = redis::cmd("SET").arg("from-master").arg("1").query(&mut m).unwrap();
    wait_until("the master's write to reach the sub-replica", || {
        redis::cmd("EXISTS").arg("from-master").query::<i64>(&mut s).unwrap() == 1
    });
    let local: i64 = redis::cmd("EXISTS").arg("typed-local").arg("command-local").query(&mut me).unwrap();
    assert_eq!(local, 2, "the replica keeps its own writes");
    let leaked: i64 = redis::cmd("EXISTS").arg("typed-local").arg("command-local").query(&mut s).unwrap();
    assert_eq!(leaked, 0, "a writable replica's own writes reached its sub-replica");
    server.stop();
}
