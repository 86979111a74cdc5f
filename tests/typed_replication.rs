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
