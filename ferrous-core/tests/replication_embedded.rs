//! An embedded Database as a live, in-process replica of a redis-server 7.0 master
//! (`Builder::replica_of`): full sync, the stream read through the typed API,
//! `wait_for_offset` for read-your-writes, a partial resync after the master kills the link,
//! read-only through the command table, promotion with `stop_replication`.
//! Skipped (`SKIPPED: ...`) without redis-server, except under CI.
#[path = "support/tools.rs"]
mod tools;

use ferrous_core::{Database, RespValue};
use std::time::{Duration, Instant};
use tools::{require_tool, RedisProc, TempDir};

fn info(db: &Database, name: &str) -> Option<String> {
    db.replication_info().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn master_offset(con: &mut redis::Connection) -> u64 {
    let text: String = redis::cmd("INFO").arg("replication").query(con).unwrap();
    text.lines().find_map(|l| l.strip_prefix("master_repl_offset:")).unwrap().trim().parse().unwrap()
}

fn redis_stat(con: &mut redis::Connection, name: &str) -> String {
    let text: String = redis::cmd("INFO").arg("stats").query(con).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap().trim().to_string()
}

fn wait_up(db: &Database) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info(db, "master_link_status").as_deref() != Some("up") {
        assert!(Instant::now() < deadline, "link never came up: {:?}", db.replication_info());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn live_in_process_replica_of_redis() {
    if !require_tool("redis-server") {
        return;
    }
    let dir = TempDir::new("embedded-replica");
    let master = RedisProc::start(dir.path(), &["--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"]);
    let mut m = master.con();
    for i in 0..1000 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut m).unwrap();
    }
    let _: () = redis::cmd("RPUSH").arg("list").arg("a").arg("b").query(&mut m).unwrap();

    let db = Database::builder().replica_of("127.0.0.1", master.port).build();
    wait_up(&db);
    assert!(db.wait_for_offset(master_offset(&mut m), Duration::from_secs(10)));
    assert_eq!(db.get("k999").unwrap(), Some(b"999".to_vec()));
    assert_eq!(
        db.execute(["LRANGE", "list", "0", "-1"]),
        RespValue::Array(vec![RespValue::bulk("a"), RespValue::bulk("b")])
    );

    // The stream, read at memory speed as it arrives.
    let _: () = redis::cmd("SET").arg("fresh").arg("v1").query(&mut m).unwrap();
    let _: () = redis::cmd("HSET").arg("h").arg("f").arg("x").query(&mut m).unwrap();
    assert!(db.wait_for_offset(master_offset(&mut m), Duration::from_secs(10)));
    assert_eq!(db.get("fresh").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(db.execute(["HGET", "h", "f"]), RespValue::bulk("x"));

    // Writes through the command table are refused, as on a Redis replica.
    match db.execute(["SET", "x", "1"]) {
        RespValue::Error(e) => assert!(e.starts_with("READONLY"), "{e}"),
        other => panic!("write on a replica answered {other:?}"),
    }

    // The master drops the link: the replica comes back with a partial resync.
    let _: redis::Value = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica").query(&mut m).unwrap();
    let _: () = redis::cmd("SET").arg("after").arg("kill").query(&mut m).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis_stat(&mut m, "sync_partial_ok") != "1" {
        assert!(Instant::now() < deadline, "no partial resync");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(db.wait_for_offset(master_offset(&mut m), Duration::from_secs(10)));
    assert_eq!(db.get("after").unwrap(), Some(b"kill".to_vec()));
    assert_eq!(redis_stat(&mut m, "sync_full"), "1");

    // Expiry is the master's: a key past its deadline reads as missing on the replica but
    // stays until the master's DEL.
    let _: () = redis::cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut m).unwrap();
    let _: () = redis::cmd("SET").arg("short").arg("x").arg("PX").arg(200).query(&mut m).unwrap();
    assert!(db.wait_for_offset(master_offset(&mut m), Duration::from_secs(10)));
    let keys_before = db.execute(["DBSIZE"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(db.execute(["GET", "short"]), RespValue::Null);
    assert_eq!(db.execute(["EXISTS", "short"]), RespValue::Integer(0));
    assert_eq!(db.execute(["DBSIZE"]), keys_before, "the replica deleted an expired key on its own");
    let _: Option<String> = redis::cmd("GET").arg("short").query(&mut m).unwrap();
    assert!(db.wait_for_offset(master_offset(&mut m), Duration::from_secs(10)));
    let RespValue::Integer(before) = keys_before else { panic!("DBSIZE: {keys_before:?}") };
    assert_eq!(db.execute(["DBSIZE"]), RespValue::Integer(before - 1), "the master's DEL applies");

    // Promotion: writable, the master's id kept as the secondary id.
    db.stop_replication();
    assert_eq!(info(&db, "role").as_deref(), Some("master"));
    assert_eq!(db.execute(["SET", "x", "1"]), RespValue::ok());
}
