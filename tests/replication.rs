//! Replication end to end, with redis-server 7.0 on the other side of every link:
//!
//! - [`redis_replica_of_ferrous`]: a redis-server replica of a Ferrous master, full sync
//!   diskless and to disk, the live stream (every type, MULTI, scripts, expiries, FLUSHDB,
//!   SELECT), then a partial resync after `CLIENT KILL TYPE replica`; WAIT; ROLE and INFO.
//! - [`ferrous_replica_of_redis`]: a Ferrous replica of a redis-server master: full sync, the
//!   stream, READONLY, a partial resync after `CLIENT KILL TYPE master`, `REPLICAOF NO ONE`
//!   keeping the master's id as the secondary id.
//! - [`chain_redis_ferrous_redis`]: redis -> ferrous -> redis, the sub-replica fed by the
//!   proxied stream.
//!
//! Datasets are compared with `DEBUG DIGEST` and, so that a difference is shown, with a
//! listing of every key, its type, contents and whether it has a TTL.
//! Skipped (with `SKIPPED: ...`) when redis-server is not installed, except under CI.
mod common;

use common::{cmd, digest, info_field, ok, TestServer};
use redis::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DEBUG_ON: &[&str] = &["--enable-debug-command", "yes", "--repl-diskless-sync-delay", "0"];
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

fn wait_until(what: &str, f: impl FnMut() -> bool) {
    common::wait_until(what, SYNC_TIMEOUT, f)
}

/// Every key of every database: (db, key) -> type, contents, has a TTL.
fn listing(con: &mut redis::Connection) -> BTreeMap<(u32, Vec<u8>), String> {
    let mut out = BTreeMap::new();
    for db in 0..16u32 {
        ok(con, &["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).unwrap();
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query(con).unwrap();
            let body = match t.as_str() {
                "string" => format!("{:?}", redis::cmd("GET").arg(&k).query::<Vec<u8>>(con).unwrap()),
                "list" => {
                    format!("{:?}", redis::cmd("LRANGE").arg(&k).arg(0).arg(-1).query::<Vec<Vec<u8>>>(con).unwrap())
                }
                "set" => {
                    let mut m: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(&k).query(con).unwrap();
                    m.sort();
                    format!("{m:?}")
                }
                "hash" => {
                    let m: BTreeMap<Vec<u8>, Vec<u8>> = redis::cmd("HGETALL").arg(&k).query(con).unwrap();
                    format!("{m:?}")
                }
                "zset" => format!(
                    "{:?}",
                    redis::cmd("ZRANGE").arg(&k).arg(0).arg(-1).arg("WITHSCORES").query::<Vec<Vec<u8>>>(con).unwrap()
                ),
                other => other.to_string(),
            };
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(con).unwrap();
            out.insert((db, k), format!("{t} {body} ttl={}", ttl > 0));
        }
    }
    ok(con, &["SELECT", "0"]);
    out
}

/// A redis-server replica of `master` (DEBUG enabled, for digests), or `None` (after
/// `SKIPPED: ...`) when redis-server is not installed.
fn redis_replica_of(master: &TestServer) -> Option<TestServer> {
    TestServer::redis(&["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &master.port().to_string()])
}

/// A server of `kind` with `args` (the caller checked that redis-server is installed).
fn server_of(kind: common::Kind, args: &[&str]) -> TestServer {
    match kind {
        common::Kind::Redis => TestServer::redis(args).expect("redis-server"),
        common::Kind::Ferrous => TestServer::ferrous(args),
    }
}

/// Waits until `replica` processed everything `master` sent, then compares the datasets.
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
    let (lm, lr) = (listing(&mut m), listing(&mut r));
    if lm != lr {
        let only_m: Vec<_> = lm.iter().filter(|(k, v)| lr.get(*k) != Some(v)).take(5).collect();
        let only_r: Vec<_> = lr.iter().filter(|(k, v)| lm.get(*k) != Some(v)).take(5).collect();
        panic!("{when}: datasets differ\nmaster: {only_m:?}\nreplica: {only_r:?}");
    }
    assert_eq!(digest(&mut m), digest(&mut r), "{when}: DEBUG DIGEST differs");
}

/// Writes of every kind Redis propagates differently: relative expiries, MULTI, a script,
/// INCRBYFLOAT, SPOP, databases other than 0, FLUSHDB, deletions.
fn write_mix(con: &mut redis::Connection, round: u32) {
    let r = round.to_string();
    for i in 0..200 {
        let k = format!("s:{r}:{i}");
        ok(con, &["SET", &k, &format!("v{i}")]);
    }
    ok(con, &["SET", &format!("ttl:{r}"), "x", "EX", "1000"]);
    ok(con, &["RPUSH", &format!("l:{r}"), "a", "b", "c", "1", "2"]);
    ok(con, &["SADD", &format!("set:{r}"), "1", "2", "3", "x"]);
    ok(con, &["SADD", &format!("iset:{r}"), "1", "2", "3", "4", "5"]);
    ok(con, &["SPOP", &format!("iset:{r}")]);
    ok(con, &["HSET", &format!("h:{r}"), "f1", "v1", "f2", "v2"]);
    ok(con, &["HINCRBYFLOAT", &format!("h:{r}"), "n", "1.5"]);
    ok(con, &["ZADD", &format!("z:{r}"), "1", "a", "2.5", "b", "-3", "c"]);
    ok(con, &["INCRBYFLOAT", &format!("f:{r}"), "3.25"]);
    ok(con, &["MULTI"]);
    ok(con, &["INCR", &format!("ctr:{r}")]);
    ok(con, &["LPUSH", &format!("l:{r}"), "m"]);
    ok(con, &["EXEC"]);
    ok(
        con,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])",
            "2",
            &format!("e:{r}"),
            &format!("ctr:{r}"),
            "scripted",
        ],
    );
    ok(con, &["SELECT", "3"]);
    ok(con, &["SET", &format!("db3:{r}"), "x"]);
    ok(con, &["SELECT", "4"]);
    ok(con, &["SET", "gone", "x"]);
    ok(con, &["FLUSHDB"]);
    ok(con, &["SELECT", "0"]);
    ok(con, &["DEL", &format!("s:{r}:0"), &format!("s:{r}:1")]);
    ok(con, &["EXPIRE", &format!("s:{r}:2"), "5000"]);
}

#[test]
fn redis_replica_of_ferrous() {
    for diskless in ["yes", "no"] {
        let master = TestServer::ferrous(&[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync",
            diskless,
            "--repl-diskless-sync-delay",
            "0",
        ]);
        let mut m = master.client();
        write_mix(&mut m, 0);
        let Some(replica) = redis_replica_of(&master) else {
            return;
        };
        assert_in_sync(&master, &replica, &format!("full sync (diskless {diskless})"));
        write_mix(&mut m, 1);
        assert_in_sync(&master, &replica, "live stream");

        // ROLE and INFO on the master name the replica.
        let role = ok(&mut m, &["ROLE"]);
        let Value::Array(parts) = role else { panic!("ROLE: {role:?}") };
        assert_eq!(parts[0], Value::BulkString(b"master".to_vec()));
        assert_eq!(info_field(&mut m, "replication", "connected_slaves").as_deref(), Some("1"));
        let slave0 = info_field(&mut m, "replication", "slave0").unwrap();
        assert!(slave0.contains(&format!("port={}", replica.port())) && slave0.contains("state=online"), "{slave0}");

        // WAIT: one replica acknowledges; asking for two times out with one.
        ok(&mut m, &["SET", "w", "1"]);
        assert_eq!(ok(&mut m, &["WAIT", "1", "5000"]), Value::Int(1));
        let started = Instant::now();
        assert_eq!(ok(&mut m, &["WAIT", "2", "300"]), Value::Int(1));
        assert!(started.elapsed() >= Duration::from_millis(250));

        // min-replicas-to-write: refused while too few replicas acknowledge in time.
        ok(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
        wait_until("NOREPLICAS", || cmd(&mut m, &["SET", "mr", "1"]).is_err());
        let err = cmd(&mut m, &["SET", "mr", "1"]).unwrap_err();
        assert_eq!(err.to_string(), "NOREPLICAS: Not enough good replicas to write.");
        ok(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
        wait_until("writes accepted with one good replica", || cmd(&mut m, &["SET", "mr", "1"]).is_ok());
        ok(&mut m, &["CONFIG", "SET", "min-replicas-to-write", "0"]);

        // A broken link resumes with a partial resync.
        let full_before = info_field(&mut m, "stats", "sync_full").unwrap();
        ok(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
        write_mix(&mut m, 2);
        assert_in_sync(&master, &replica, "after CLIENT KILL TYPE replica");
        assert_eq!(info_field(&mut m, "stats", "sync_full").unwrap(), full_before, "no second full sync");
        assert_eq!(info_field(&mut m, "stats", "sync_partial_ok").as_deref(), Some("1"));
    }
}

#[test]
fn ferrous_replica_of_redis() {
    let Some(master) = TestServer::redis(DEBUG_ON) else { return };
    let mut m = master.client();
    write_mix(&mut m, 0);
    let replica = TestServer::ferrous(&["--enable-debug-command", "yes"]);
    let mut r = replica.client();
    assert_eq!(ok(&mut r, &["REPLICAOF", "127.0.0.1", &master.port().to_string()]), Value::Okay);
    assert_in_sync(&master, &replica, "full sync from redis");
    write_mix(&mut m, 1);
    assert_in_sync(&master, &replica, "stream from redis");

    // Read-only, as a Redis replica.
    let err = cmd(&mut r, &["SET", "x", "1"]).unwrap_err();
    assert!(err.to_string().contains("You can't write against a read only replica"), "{err}");
    let role = ok(&mut r, &["ROLE"]);
    let Value::Array(parts) = role else { panic!("ROLE: {role:?}") };
    assert_eq!(parts[0], Value::BulkString(b"slave".to_vec()));
    assert_eq!(parts[3], Value::BulkString(b"connected".to_vec()));
    let again = ok(&mut r, &["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
    assert_eq!(again, Value::SimpleString("OK Already connected to specified master".into()));

    // The link breaks; the replica resumes partially.
    ok(&mut r, &["CLIENT", "KILL", "TYPE", "master"]);
    write_mix(&mut m, 2);
    assert_in_sync(&master, &replica, "after CLIENT KILL TYPE master");
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok").as_deref(), Some("1"));
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("1"));

    // Promotion keeps the master's id as the secondary id.
    let master_id = info_field(&mut m, "replication", "master_replid").unwrap();
    assert_eq!(ok(&mut r, &["REPLICAOF", "NO", "ONE"]), Value::Okay);
    assert_eq!(info_field(&mut r, "replication", "role").as_deref(), Some("master"));
    assert_eq!(info_field(&mut r, "replication", "master_replid2").as_deref(), Some(master_id.as_str()));
    assert_eq!(ok(&mut r, &["SET", "x", "1"]), Value::Okay);
}

#[test]
fn chain_redis_ferrous_redis() {
    let Some(top) = TestServer::redis(DEBUG_ON) else { return };
    let mut t = top.client();
    write_mix(&mut t, 0);
    let middle =
        TestServer::ferrous(&["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &top.port().to_string()]);
    assert_in_sync(&top, &middle, "top -> middle");
    let Some(bottom) = redis_replica_of(&middle) else {
        return;
    };
    assert_in_sync(&middle, &bottom, "middle -> bottom");
    write_mix(&mut t, 1);
    assert_in_sync(&top, &middle, "stream top -> middle");
    assert_in_sync(&middle, &bottom, "stream proxied middle -> bottom");
    // Replicas refuse writes the same way, scripts included.
    let mut b = bottom.client();
    let mut mid = middle.client();
    for args in [
        &["SET", "k", "v"][..],
        &["EVAL", "return redis.call('SET', 'k', 'v')", "0"],
        &["EVAL", "return redis.call('GET', 'k')", "0"],
        &["MULTI"],
        &["INCR", "n"],
        &["EXEC"],
    ] {
        let on_redis = format!("{:?}", cmd(&mut b, args));
        let on_ferrous = format!("{:?}", cmd(&mut mid, args));
        assert_eq!(on_ferrous, on_redis, "{args:?} on a replica");
    }
    // The proxied stream keeps the top's id and offsets.
    assert_eq!(info_field(&mut t, "replication", "master_replid"), info_field(&mut b, "replication", "master_replid"));
    assert_eq!(
        info_field(&mut t, "replication", "master_repl_offset"),
        info_field(&mut b, "replication", "master_repl_offset")
    );
}

/// Writers keep going while a replica does its full sync (the snapshot and the stream must
/// meet exactly), while its link is killed again and again, and while a second replica
/// joins: every node ends with the master's dataset.
#[test]
fn sync_under_concurrent_writes_and_killed_links() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let master = TestServer::ferrous(&["--enable-debug-command", "yes", "--repl-diskless-sync-delay", "0"]);
    let mut m = master.client();
    for i in 0..2000 {
        ok(&mut m, &["SET", &format!("pre:{i}"), &i.to_string()]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let mut con = master.client();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let k = format!("w{w}:{}", i % 500);
                    ok(&mut con, &["INCR", &k]);
                    ok(&mut con, &["RPUSH", &format!("list{w}"), &i.to_string()]);
                    if i % 7 == 0 {
                        ok(&mut con, &["MULTI"]);
                        ok(&mut con, &["SELECT", "2"]);
                        ok(&mut con, &["HINCRBY", "h", &k, "1"]);
                        ok(&mut con, &["EXEC"]);
                    }
                    if i % 13 == 0 {
                        ok(&mut con, &["SET", &format!("tmp{w}"), "x", "PX", "50"]);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let Some(r1) = redis_replica_of(&master) else {
        stop.store(true, Ordering::Relaxed);
        return;
    };
    let r2 =
        TestServer::ferrous(&["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &master.port().to_string()]);
    let mut c1 = r1.client();
    wait_until("first sync", || info_field(&mut c1, "replication", "master_link_status").as_deref() == Some("up"));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        ok(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    // Keys with a 50 ms TTL expire on the master; their DELs reach the replicas.
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..3 {
        let _ = cmd(&mut m, &["GET", &format!("tmp{i}")]);
    }
    assert_in_sync(&master, &r1, "redis replica under writes");
    assert_in_sync(&master, &r2, "ferrous replica under writes");
}

/// redis-server's FAILOVER hands mastership to a Ferrous replica (`PSYNC <id> <offset>
/// FAILOVER`): Ferrous is promoted, the former master follows it with a partial resync.
#[test]
fn redis_failover_to_ferrous() {
    let Some(old) = TestServer::redis(DEBUG_ON) else { return };
    let mut o = old.client();
    write_mix(&mut o, 0);
    let new =
        TestServer::ferrous(&["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &old.port().to_string()]);
    assert_in_sync(&old, &new, "before the failover");
    // The proxied stream last selected database 3: the promoted stream must select again.
    ok(&mut o, &["SELECT", "3"]);
    ok(&mut o, &["SET", "in-db3", "x"]);
    ok(&mut o, &["SELECT", "0"]);
    assert_in_sync(&old, &new, "before the failover, db 3");
    ok(&mut o, &["FAILOVER", "TO", "127.0.0.1", &new.port().to_string(), "TIMEOUT", "10000"]);
    let mut n = new.client();
    wait_until("ferrous promoted", || info_field(&mut n, "replication", "role").as_deref() == Some("master"));
    wait_until("redis following ferrous", || {
        info_field(&mut o, "replication", "role").as_deref() == Some("slave")
            && info_field(&mut o, "replication", "master_link_status").as_deref() == Some("up")
    });
    assert_eq!(
        info_field(&mut n, "stats", "sync_partial_ok").as_deref(),
        Some("1"),
        "the former master resynced partially"
    );
    write_mix(&mut n, 1);
    assert_in_sync(&new, &old, "after the failover");
}

/// FAILOVER on a Ferrous master: errors as redis-server's, then a hand-over to a redis
/// replica that loses no write (writes are paused meanwhile), the former master following.
#[test]
fn ferrous_failover_to_redis() {
    let errors = |master: &TestServer| -> Vec<String> {
        let mut m = master.client();
        [
            &["FAILOVER", "ABORT"][..],
            &["FAILOVER", "TIMEOUT", "0"],
            &["FAILOVER", "FORCE"],
            &["FAILOVER", "TO", "10.9.9.9", "1"],
            &["FAILOVER", "TO", "10.9.9.9", "1", "ABORT"],
            &["FAILOVER", "BOGUS"],
        ]
        .iter()
        .map(|a| format!("{a:?} -> {:?}", cmd(&mut m, a)))
        .collect()
    };
    let Some(rmaster) = TestServer::redis(DEBUG_ON) else { return };
    let Some(_rrep) = redis_replica_of(&rmaster) else {
        return;
    };
    let master = TestServer::ferrous(&["--enable-debug-command", "yes", "--repl-diskless-sync-delay", "0"]);
    let Some(replica) = redis_replica_of(&master) else {
        return;
    };
    assert_in_sync(&rmaster, &_rrep, "redis pair");
    let mut m = master.client();
    write_mix(&mut m, 0);
    assert_in_sync(&master, &replica, "before the failover");
    assert_eq!(errors(&master), errors(&rmaster));

    // Writers keep going through the hand-over; none of their acknowledged writes is lost.
    let writer = {
        let mut c = master.client();
        std::thread::spawn(move || {
            let mut acked = 0u64;
            for i in 0..2000u64 {
                match cmd(&mut c, &["RPUSH", "during", &i.to_string()]) {
                    Ok(_) => acked += 1,
                    Err(e) => {
                        assert!(e.to_string().contains("read only replica"), "{e}");
                        break;
                    }
                }
            }
            acked
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    ok(&mut m, &["FAILOVER", "TO", "127.0.0.1", &replica.port().to_string(), "TIMEOUT", "10000"]);
    let mut r = replica.client();
    wait_until("redis promoted", || info_field(&mut r, "replication", "role").as_deref() == Some("master"));
    wait_until("ferrous following", || {
        info_field(&mut m, "replication", "role").as_deref() == Some("slave")
            && info_field(&mut m, "replication", "master_link_status").as_deref() == Some("up")
            && info_field(&mut m, "replication", "master_failover_state").as_deref() == Some("no-failover")
    });
    let acked = writer.join().unwrap();
    let len: i64 = redis::cmd("LLEN").arg("during").query(&mut r).unwrap();
    assert_eq!(len as u64, acked, "acknowledged writes lost in the failover");
    write_mix(&mut r, 1);
    assert_in_sync(&replica, &master, "after the failover");
}

/// SHUTDOWN SAVE on `server` (the connection closes: its error is expected), then waits
/// for the process to exit.
fn shutdown_save(server: &mut TestServer) {
    let mut c = server.client();
    let _ = cmd(&mut c, &["SHUTDOWN", "SAVE"]);
    server.wait_exit(Duration::from_secs(20)).expect("server still running after SHUTDOWN SAVE");
}

/// The AUX fields `redis-check-rdb` prints for `path` (and that it accepts the file).
fn rdb_aux(path: &std::path::Path) -> BTreeMap<String, String> {
    let out = std::process::Command::new("redis-check-rdb").arg(path).output().expect("redis-check-rdb runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "redis-check-rdb refused {}:\n{text}",
        path.display()
    );
    text.lines()
        .filter_map(|l| l.split_once("AUX FIELD ").map(|(_, f)| f))
        .filter_map(|f| f.split_once(" = "))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// Redis 7.0 saves its replication id and offset in the RDB (`repl-id`, `repl-offset`,
/// `repl-stream-db`) and a restarted replica continues from them with a partial resync.
/// A Ferrous replica of a redis-server master does the same; then redis-server itself
/// starts on Ferrous's file and continues too.
#[test]
fn replica_restart_resyncs_partially() {
    let Some(master) = TestServer::redis(DEBUG_ON) else { return };
    let mut m = master.client();
    write_mix(&mut m, 0);
    let port = master.port().to_string();
    let mut replica = TestServer::ferrous(&["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &port]);
    assert_in_sync(&master, &replica, "full sync from redis");
    // The master's stream is left in database 5: after the restart it goes on there
    // without a SELECT, so the replica must know its stream's database from the file.
    ok(&mut m, &["SELECT", "5"]);
    ok(&mut m, &["SET", "in5", "a"]);
    assert_in_sync(&master, &replica, "stream in db 5");
    let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
    let replid = info_field(&mut m, "replication", "master_replid").unwrap();

    shutdown_save(&mut replica);
    let aux = rdb_aux(&replica.dir().join("dump.rdb"));
    assert_eq!(aux.get("repl-id"), Some(&replid), "{aux:?}");
    assert_eq!(aux.get("repl-offset"), Some(&offset), "{aux:?}");
    assert_eq!(aux.get("repl-stream-db").map(String::as_str), Some("5"), "{aux:?}");

    // The master goes on while the replica is down (same database, no SELECT).
    ok(&mut m, &["SET", "in5", "b"]);
    ok(&mut m, &["INCR", "in5:n"]);
    replica.restart();
    assert_in_sync(&master, &replica, "after the replica's restart");
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("1"), "a second full sync");
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok").as_deref(), Some("1"));
    let mut r = replica.client();
    ok(&mut r, &["SELECT", "5"]);
    assert_eq!(ok(&mut r, &["GET", "in5"]), Value::BulkString(b"b".to_vec()));
    assert_eq!(ok(&mut r, &["GET", "in5:n"]), Value::BulkString(b"1".to_vec()));

    // redis-server started on the file Ferrous saved continues from it as well.
    shutdown_save(&mut replica);
    let redis_replica = TestServer::start_in(
        common::Kind::Redis,
        replica.dir(),
        &["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &port],
    );
    ok(&mut m, &["SET", "in5", "c"]);
    assert_in_sync(&master, &redis_replica, "redis-server on Ferrous's file");
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("1"), "redis-server needed a full sync");
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok").as_deref(), Some("2"));
}

/// Redis 7.0's restarted master keeps the id it saved as its secondary id, with a backlog
/// starting at the saved offset: its replicas continue with a partial resync. The INFO
/// replication fields after the restart are compared with redis-server's.
#[test]
fn master_restart_resyncs_partially() {
    let mut shapes = Vec::new();
    for kind in [common::Kind::Redis, common::Kind::Ferrous] {
        if kind == common::Kind::Redis && !common::require_tool("redis-server") {
            return;
        }
        let mut master = server_of(kind, DEBUG_ON);
        let mut m = master.client();
        write_mix(&mut m, 0);
        let Some(replica) = redis_replica_of(&master) else {
            return;
        };
        assert_in_sync(&master, &replica, "full sync");
        let offset: i64 = info_field(&mut m, "replication", "master_repl_offset").unwrap().parse().unwrap();
        let replid = info_field(&mut m, "replication", "master_replid").unwrap();
        drop(m);
        shutdown_save(&mut master);
        let aux = rdb_aux(&master.dir().join("dump.rdb"));
        assert_eq!(aux.get("repl-id"), Some(&replid), "{kind:?} {aux:?}");
        // The offset saved: everything up to the save (SHUTDOWN may have sent a PING or
        // GETACK after the last write).
        let saved: i64 = aux.get("repl-offset").unwrap().parse().unwrap();
        assert!(saved >= offset, "{kind:?}: saved offset {saved} < {offset}");
        master.restart();
        let mut m = master.client();
        assert_eq!(info_field(&mut m, "replication", "master_replid2"), Some(replid.clone()), "{kind:?}");
        assert_eq!(info_field(&mut m, "replication", "second_repl_offset"), Some((saved + 1).to_string()), "{kind:?}");
        assert_eq!(info_field(&mut m, "replication", "master_repl_offset"), Some(saved.to_string()), "{kind:?}");
        assert_eq!(info_field(&mut m, "replication", "repl_backlog_active").as_deref(), Some("1"), "{kind:?}");
        assert_eq!(
            info_field(&mut m, "replication", "repl_backlog_first_byte_offset"),
            Some((saved + 1).to_string()),
            "{kind:?}"
        );
        // The replica (whose link broke) comes back with a partial resync.
        write_mix(&mut m, 1);
        assert_in_sync(&master, &replica, "after the master's restart");
        shapes.push((
            kind,
            info_field(&mut m, "stats", "sync_full"),
            info_field(&mut m, "stats", "sync_partial_ok"),
            info_field(&mut m, "stats", "sync_partial_err"),
        ));
    }
    assert_eq!(shapes.len(), 2);
    let counters = |i: usize| (shapes[i].1.clone(), shapes[i].2.clone(), shapes[i].3.clone());
    assert_eq!(counters(0), counters(1), "sync counters after the restart, redis vs ferrous: {shapes:?}");
    assert_eq!(shapes[1].2.as_deref(), Some("1"), "{shapes:?}");
}

/// WAIT waits for the replication offset as it was when the calling client's previous
/// command ended (Redis 7.0's `c->woff`, set after every command), not for what other
/// connections wrote later: with the replica stopped, a client whose last command came
/// before the write gets its replica counted at once, the writer and a client that read
/// after the write do not. Compared with a redis-server master.
#[test]
fn wait_uses_the_clients_own_offset() {
    let mut results = Vec::new();
    for kind in [common::Kind::Redis, common::Kind::Ferrous] {
        if !common::require_tool("redis-server") {
            return;
        }
        let master = match kind {
            common::Kind::Redis => TestServer::redis(DEBUG_ON).unwrap(),
            // One event-loop thread: every client shares it.
            common::Kind::Ferrous => TestServer::ferrous(&[DEBUG_ON, &["--io-threads", "1"]].concat()),
        };
        let replica = redis_replica_of(&master).expect("redis-server");
        let (mut writer, mut early, mut reader) = (master.client(), master.client(), master.client());
        ok(&mut writer, &["SET", "before", "1"]);
        assert_in_sync(&master, &replica, "sync");
        assert_eq!(ok(&mut writer, &["WAIT", "1", "5000"]), Value::Int(1));
        let mut m = master.client();
        wait_until("the replica's ACK reaching the master's offset", || {
            let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
            info_field(&mut m, "replication", "slave0").is_some_and(|s| s.contains(&format!("offset={offset},")))
        });
        replica.signal(libc::SIGSTOP);
        ok(&mut early, &["PING"]);
        ok(&mut writer, &["SET", "k", "v"]);
        ok(&mut reader, &["GET", "k"]);
        let started = Instant::now();
        let early_sees = ok(&mut early, &["WAIT", "1", "300"]);
        let early_waited = started.elapsed() >= Duration::from_millis(250);
        let reader_sees = ok(&mut reader, &["WAIT", "1", "300"]);
        let writer_sees = ok(&mut writer, &["WAIT", "1", "300"]);
        // A fresh connection has run nothing yet.
        let fresh_sees = ok(&mut master.client(), &["WAIT", "1", "300"]);
        replica.signal(libc::SIGCONT);
        let writer_later = ok(&mut writer, &["WAIT", "1", "5000"]);
        results.push((kind, (early_sees, early_waited, reader_sees, writer_sees, fresh_sees, writer_later)));
    }
    assert_eq!(results.len(), 2);
    let expected = (Value::Int(1), false, Value::Int(0), Value::Int(0), Value::Int(1), Value::Int(1));
    for (kind, seen) in results {
        assert_eq!(seen, expected.clone(), "{kind:?}");
    }
}

/// INFO replication as `name -> value` pairs, in order.
fn info_pairs(con: &mut redis::Connection) -> Vec<(String, String)> {
    let text: String = redis::cmd("INFO").arg("replication").query(con).unwrap();
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `repl-backlog-ttl`: a master without replicas for longer than that frees its backlog
/// (`repl_backlog_active:0`, a new id, no secondary id, the offset standing still), as
/// Redis's replicationCron. Every INFO replication field is compared with redis-server's
/// (ids by shape: changed or not).
#[test]
fn backlog_freed_after_ttl() {
    let mut shapes = Vec::new();
    for kind in [common::Kind::Redis, common::Kind::Ferrous] {
        if !common::require_tool("redis-server") {
            return;
        }
        let master = server_of(kind, DEBUG_ON);
        let mut m = master.client();
        let replica = redis_replica_of(&master).expect("redis-server");
        ok(&mut m, &["SET", "a", "1"]);
        assert_in_sync(&master, &replica, "sync");
        ok(&mut m, &["CONFIG", "SET", "repl-backlog-ttl", "1"]);
        let before = info_pairs(&mut m);
        drop(replica);
        wait_until("the backlog freed", || {
            info_field(&mut m, "replication", "repl_backlog_active").as_deref() == Some("0")
        });
        let after = info_pairs(&mut m);
        // Writes without a backlog do not move the offset.
        ok(&mut m, &["SET", "b", "2"]);
        let offset_after_write = info_field(&mut m, "replication", "master_repl_offset");
        let get = |pairs: &[(String, String)], k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let shape: Vec<(String, String)> = after
            .iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "master_replid" => format!("changed={}", Some(v) != get(&before, k).as_ref()),
                    "master_repl_offset" => format!("unchanged={}", Some(v) == get(&before, k).as_ref()),
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        shapes.push((shape, offset_after_write == get(&after, "master_repl_offset")));
    }
    assert_eq!(shapes.len(), 2);
    assert_eq!(shapes[0], shapes[1], "redis (left) vs ferrous (right)");
    assert!(shapes[1].0.contains(&("repl_backlog_active".into(), "0".into())), "{:?}", shapes[1]);
}

/// A replica's INFO replication: `slave_priority` (`replica-priority`), `slave_read_only`,
/// `replica_announced` (`replica-announced`), field by field as redis-server prints them.
#[test]
fn replica_priority_and_announced_in_info() {
    let Some(master) = TestServer::redis(DEBUG_ON) else { return };
    let port = master.port().to_string();
    let args = [
        "--enable-debug-command",
        "yes",
        "--replicaof",
        "127.0.0.1",
        &port,
        "--replica-priority",
        "42",
        "--replica-announced",
        "no",
    ];
    let redis_replica = TestServer::redis(&args).expect("redis-server");
    let ferrous_replica = TestServer::ferrous(&args);
    assert_in_sync(&master, &redis_replica, "redis replica");
    let masked = |server: &TestServer| -> Vec<(String, String)> {
        info_pairs(&mut server.client())
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "master_port" | "master_last_io_seconds_ago" | "master_replid" => (k, String::new()),
                "slave_read_repl_offset" | "slave_repl_offset" | "master_repl_offset" => (k, String::new()),
                "repl_backlog_first_byte_offset" | "repl_backlog_histlen" => (k, String::new()),
                _ => (k, v),
            })
            .collect()
    };
    let mut r = ferrous_replica.client();
    wait_until("ferrous replica link up", || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    });
    let expected = masked(&redis_replica);
    assert!(expected.contains(&("slave_priority".into(), "42".into())), "{expected:?}");
    assert!(expected.contains(&("replica_announced".into(), "0".into())), "{expected:?}");
    assert_eq!(masked(&ferrous_replica), expected);
    // CONFIG SET changes them at once.
    for server in [&redis_replica, &ferrous_replica] {
        let mut c = server.client();
        ok(&mut c, &["CONFIG", "SET", "replica-priority", "0", "replica-announced", "yes"]);
        assert_eq!(info_field(&mut c, "replication", "slave_priority").as_deref(), Some("0"));
        assert_eq!(info_field(&mut c, "replication", "replica_announced").as_deref(), Some("1"));
    }
}

/// `repl-diskless-load`: `disabled` goes through a file that becomes the replica's
/// `dbfilename`, `on-empty-db` only when the replica has data, `swapdb` never. A Ferrous and
/// a redis-server replica of the same redis-server master are compared for every mode:
/// the data, and whether the file exists afterwards.
#[test]
fn diskless_load_modes() {
    let cases: &[(&str, bool, &str)] = &[
        ("disabled", true, "yes"),
        ("disabled", true, "no"),
        ("on-empty-db", false, "yes"),
        ("on-empty-db", true, "yes"),
        ("swapdb", true, "yes"),
        ("swapdb", true, "no"),
    ];
    for &(mode, with_data, diskless_sync) in cases {
        let Some(master) = TestServer::redis(&[DEBUG_ON, &["--repl-diskless-sync", diskless_sync]].concat()) else {
            return;
        };
        let mut m = master.client();
        write_mix(&mut m, 0);
        let mut seen = Vec::new();
        for kind in [common::Kind::Redis, common::Kind::Ferrous] {
            let args = ["--enable-debug-command", "yes", "--repl-diskless-load", mode];
            let replica = server_of(kind, &args);
            let mut r = replica.client();
            if with_data {
                ok(&mut r, &["SET", "stale", "x"]);
            }
            ok(&mut r, &["REPLICAOF", "127.0.0.1", &master.port().to_string()]);
            let when =
                format!("{kind:?} replica, repl-diskless-load {mode}, data {with_data}, diskless sync {diskless_sync}");
            assert_in_sync(&master, &replica, &when);
            let file = replica.dir().join("dump.rdb");
            if file.exists() {
                let aux = rdb_aux(&file);
                assert!(aux.contains_key("repl-id"), "{when}: {aux:?}");
            }
            let temp_left = std::fs::read_dir(replica.dir())
                .unwrap()
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("temp-"));
            assert!(!temp_left, "{when}: a temp file was left behind");
            seen.push((kind, file.exists()));
        }
        assert_eq!(seen[0].1, seen[1].1, "dump.rdb after the sync, {mode} data={with_data}: {seen:?}");
        assert_eq!(seen[0].1, mode == "disabled" || (mode == "on-empty-db" && with_data), "{mode}: {seen:?}");
    }
}

/// `repl-diskless-load swapdb`, a full resync from the master the replica already follows
/// (it fell too far behind while stopped): Redis 7.0's async loading, the old data served
/// meanwhile (`async_loading:1`, `loading:0`, no `-LOADING`). Compared with a redis-server
/// replica (made to serve clients every KB while it loads, as Ferrous does all along).
#[test]
fn swapdb_async_loading() {
    let mut seen = Vec::new();
    for kind in [common::Kind::Redis, common::Kind::Ferrous] {
        let Some(master) = TestServer::redis(DEBUG_ON) else { return };
        let mut m = master.client();
        ok(&mut m, &["DEBUG", "POPULATE", "1000", "key"]);
        let port = master.port().to_string();
        let mut args = vec!["--enable-debug-command", "yes", "--repl-diskless-load", "swapdb"];
        args.extend(["--replicaof", "127.0.0.1", &port]);
        let replica = match kind {
            common::Kind::Redis => {
                args.extend(["--loading-process-events-interval-bytes", "1024"]);
                TestServer::redis(&args).unwrap()
            }
            common::Kind::Ferrous => TestServer::ferrous(&args),
        };
        assert_in_sync(&master, &replica, "first sync");
        // The next full sync streams slowly (2 ms per key); the replica, stopped while
        // 30 MB are written, is dropped past 64 kB and the backlog cannot serve it.
        ok(
            &mut m,
            &[
                "CONFIG",
                "SET",
                "repl-backlog-size",
                "16384",
                "rdb-key-save-delay",
                "2000",
                "client-output-buffer-limit",
                "replica 64kb 0 0",
            ],
        );
        replica.signal(libc::SIGSTOP);
        let value = "x".repeat(100_000);
        let mut pipe = redis::pipe();
        for i in 0..300 {
            pipe.cmd("SET").arg(format!("big{}", i % 100)).arg(&value).ignore();
        }
        let () = pipe.query(&mut m).unwrap();
        replica.signal(libc::SIGCONT);
        let mut r = replica.client();
        let (mut saw_async, mut saw_loading_field, mut loading_errors, mut old_reads) = (false, false, 0, 0);
        let deadline = Instant::now() + SYNC_TIMEOUT;
        while Instant::now() < deadline {
            let text: String = redis::cmd("INFO").arg("persistence").query(&mut r).unwrap_or_default();
            let async_now = text.contains("async_loading:1");
            saw_async |= async_now;
            saw_loading_field |= text.lines().any(|l| l.trim() == "loading:1");
            match cmd(&mut r, &["GET", "key:5"]) {
                Ok(Value::BulkString(v)) if v == b"value:5" && async_now => old_reads += 1,
                Ok(_) => {}
                Err(e) if e.to_string().contains("LOADING") => loading_errors += 1,
                Err(e) => panic!("{kind:?}: GET during the sync: {e}"),
            }
            if saw_async && !async_now {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        assert_in_sync(&master, &replica, "after the async load");
        assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("2"), "{kind:?}");
        seen.push((kind, saw_async, saw_loading_field, loading_errors, old_reads > 0));
    }
    assert_eq!(seen.len(), 2);
    let shape = |i: usize| (seen[i].1, seen[i].2, seen[i].3, seen[i].4);
    assert_eq!(shape(0), (true, false, 0, true), "redis: {seen:?}");
    assert_eq!(shape(1), shape(0), "{seen:?}");
}

/// The reverse of [`replica_restart_resyncs_partially`]: a redis-server replica of a Ferrous
/// master, restarted on its own RDB (which carries the Ferrous master's id and offset, and
/// the database its stream was in), continues with a partial resync from Ferrous's backlog.
#[test]
fn redis_replica_restart_resyncs_with_ferrous() {
    let master = TestServer::ferrous(DEBUG_ON);
    let mut m = master.client();
    write_mix(&mut m, 0);
    let Some(mut replica) = redis_replica_of(&master) else {
        return;
    };
    assert_in_sync(&master, &replica, "full sync from ferrous");
    ok(&mut m, &["SELECT", "7"]);
    ok(&mut m, &["SET", "in7", "a"]);
    assert_in_sync(&master, &replica, "stream in db 7");
    shutdown_save(&mut replica);
    let aux = rdb_aux(&replica.dir().join("dump.rdb"));
    assert_eq!(aux.get("repl-id"), info_field(&mut m, "replication", "master_replid").as_ref(), "{aux:?}");
    assert_eq!(aux.get("repl-stream-db").map(String::as_str), Some("7"), "{aux:?}");
    ok(&mut m, &["SET", "in7", "b"]);
    write_mix(&mut m, 1);
    replica.restart();
    assert_in_sync(&master, &replica, "after the redis replica's restart");
    assert_eq!(info_field(&mut m, "stats", "sync_full").as_deref(), Some("1"), "a second full sync");
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok").as_deref(), Some("1"));
}

/// A sub-replica's full sync from a Ferrous replica while its master's stream is in
/// database 5: the payload says so (`repl-stream-db`), since the proxied stream goes on
/// there without a SELECT. redis -> ferrous -> redis.
#[test]
fn chain_full_sync_keeps_the_stream_database() {
    let Some(top) = TestServer::redis(DEBUG_ON) else { return };
    let mut t = top.client();
    write_mix(&mut t, 0);
    let middle =
        TestServer::ferrous(&["--enable-debug-command", "yes", "--replicaof", "127.0.0.1", &top.port().to_string()]);
    ok(&mut t, &["SELECT", "5"]);
    ok(&mut t, &["SET", "a", "1"]);
    assert_in_sync(&top, &middle, "top -> middle");
    let Some(bottom) = redis_replica_of(&middle) else {
        return;
    };
    assert_in_sync(&middle, &bottom, "middle -> bottom");
    // Still in database 5 on the top: no SELECT in the stream.
    ok(&mut t, &["SET", "b", "2"]);
    ok(&mut t, &["INCR", "n"]);
    assert_in_sync(&top, &middle, "top -> middle, stream");
    assert_in_sync(&middle, &bottom, "middle -> bottom, stream");
    let mut b = bottom.client();
    ok(&mut b, &["SELECT", "5"]);
    assert_eq!(ok(&mut b, &["GET", "b"]), Value::BulkString(b"2".to_vec()));
}

/// A master restarted on its RDB while keys expired: Redis 7.0 feeds their DELs to the
/// backlog it restores, right after the saved offset, so a replica continuing partially
/// deletes them too. Compared with a redis-server master: the offset after the restart,
/// the replica's DBSIZE.
#[test]
fn master_restart_tells_replicas_of_expired_keys() {
    let mut shapes = Vec::new();
    for kind in [common::Kind::Redis, common::Kind::Ferrous] {
        if !common::require_tool("redis-server") {
            return;
        }
        let mut master = server_of(kind, DEBUG_ON);
        let mut m = master.client();
        ok(&mut m, &["SET", "stays", "1"]);
        ok(&mut m, &["SELECT", "2"]);
        ok(&mut m, &["SET", "goes", "1"]);
        ok(&mut m, &["SET", "goes2", "1"]);
        let replica = redis_replica_of(&master).expect("redis-server");
        assert_in_sync(&master, &replica, "full sync");
        // Deadlines that pass only once the master is down (the replica has them too).
        ok(&mut m, &["PEXPIRE", "goes", "2500"]);
        ok(&mut m, &["PEXPIRE", "goes2", "2500"]);
        assert_in_sync(&master, &replica, "deadlines");
        drop(m);
        shutdown_save(&mut master);
        let saved: i64 = rdb_aux(&master.dir().join("dump.rdb"))["repl-offset"].parse().unwrap();
        std::thread::sleep(Duration::from_millis(2700));
        master.restart();
        let mut m = master.client();
        let offset: i64 = info_field(&mut m, "replication", "master_repl_offset").unwrap().parse().unwrap();
        assert_in_sync(&master, &replica, "after the restart");
        let mut r = replica.client();
        ok(&mut r, &["SELECT", "2"]);
        let dbsize = ok(&mut r, &["DBSIZE"]);
        let partial = info_field(&mut m, "stats", "sync_partial_ok");
        if partial.as_deref() != Some("1") {
            // Intermittent under load once (a full resync instead): keep what explains it.
            eprintln!(
                "{kind:?} master after the restart, sync_partial_ok {partial:?}\n--- master log ---\n{}\n--- replica log ---\n{}",
                master.log(),
                replica.log()
            );
        }
        shapes.push((kind, offset - saved, dbsize, partial));
    }
    assert_eq!(shapes.len(), 2);
    // SELECT 2, DEL goes, DEL goes2; the replica's database 2 is empty.
    assert_eq!((shapes[0].1, shapes[0].2.clone()), (23 + 23 + 24, Value::Int(0)), "redis: {shapes:?}");
    let shape = |i: usize| (shapes[i].1, shapes[i].2.clone(), shapes[i].3.clone());
    assert_eq!(shape(1), shape(0), "{shapes:?}");
}

/// SHUTDOWN without NOW waits up to `shutdown-timeout` for online replicas to acknowledge the
/// whole stream (Redis 7.0), logging the wait and any replica still behind at the timeout;
/// SHUTDOWN NOW does not wait. Compared with a redis-server master: the log lines and how
/// long each SHUTDOWN took.
/// While SHUTDOWN waits for a lagging replica, other clients' reads are served and SHUTDOWN
/// ABORT cancels it: the waiting client gets Redis's error, writes resume, the server stays
/// up. Same expectations for redis-server and Ferrous.
#[test]
fn shutdown_wait_serves_reads_and_can_be_aborted() {
    if !common::require_tool("redis-server") {
        return;
    }
    for kind in [common::Kind::Redis, common::Kind::Ferrous] {
        let args = [DEBUG_ON, &["--shutdown-timeout", "10"]].concat();
        let mut master = server_of(kind, &args);
        let replica = redis_replica_of(&master).unwrap();
        let mut m = master.client();
        ok(&mut m, &["SET", "a", "1"]);
        assert_in_sync(&master, &replica, "before the shutdown");
        replica.signal(libc::SIGSTOP);
        ok(&mut m, &["SET", "b", "2"]);
        let mut waiting = master.raw();
        waiting.send(&["SHUTDOWN"]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let what = format!("{kind:?}");
        let mut other = master.raw();
        let started = Instant::now();
        assert_eq!(other.cmd(&["GET", "a"]), common::Resp::Bulk(b"1".to_vec()), "{what}: a read during the wait");
        assert!(started.elapsed() < Duration::from_secs(2), "{what}: the read waited {:?}", started.elapsed());
        assert_eq!(other.cmd(&["SHUTDOWN", "ABORT"]), common::Resp::Simple(b"OK".to_vec()), "{what}");
        let reply = waiting.read().unwrap().value;
        assert_eq!(reply, common::Resp::Error(b"ERR Errors trying to SHUTDOWN. Check logs.".to_vec()), "{what}");
        assert_eq!(other.cmd(&["SET", "c", "3"]), common::Resp::Simple(b"OK".to_vec()), "{what}: writes resume");
        let second = other.cmd(&["SHUTDOWN", "ABORT"]);
        assert_eq!(second, common::Resp::Error(b"ERR No shutdown in progress.".to_vec()), "{what}");
        assert!(master.is_running(), "{what}: the server stays up");
        assert!(master.log_since_start().contains("Shutdown manually aborted."), "{what}");
        replica.signal(libc::SIGCONT);
    }
}

#[test]
fn shutdown_waits_for_lagging_replicas() {
    if !common::require_tool("redis-server") {
        return;
    }
    for kind in [common::Kind::Redis, common::Kind::Ferrous] {
        // The last case stops the master with SIGTERM instead of SHUTDOWN: the same wait.
        for (now, resume_after, sigterm) in
            [(false, None, false), (false, Some(500u64), false), (true, None, false), (false, Some(500u64), true)]
        {
            let args = [DEBUG_ON, &["--shutdown-timeout", "2"]].concat();
            let mut master = server_of(kind, &args);
            let replica = redis_replica_of(&master).unwrap();
            let mut m = master.client();
            ok(&mut m, &["SET", "a", "1"]);
            assert_in_sync(&master, &replica, "before the shutdown");
            // The replica stops reading: it cannot acknowledge what follows.
            replica.signal(libc::SIGSTOP);
            ok(&mut m, &["SET", "b", "2"]);
            let resumer = resume_after.map(|ms| {
                let pid = replica.pid();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    // SAFETY: kill(2) on the replica's pid.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) };
                })
            });
            let started = Instant::now();
            if sigterm {
                master.signal(libc::SIGTERM);
            } else {
                let _ = cmd(&mut m, if now { &["SHUTDOWN", "NOW"][..] } else { &["SHUTDOWN"][..] });
            }
            master.wait_exit(Duration::from_secs(20)).expect("the master exits");
            let took = started.elapsed();
            if let Some(r) = resumer {
                r.join().unwrap();
            }
            replica.signal(libc::SIGCONT);
            let log = master.log_since_start();
            let what = format!("{kind:?} now={now} resume={resume_after:?} sigterm={sigterm}");
            let waited = log.contains("Waiting for replicas before shutting down.");
            let lagging = log.contains("Lagging replica 127.0.0.1:") && log.contains("behind master");
            match (now, resume_after) {
                (true, _) => {
                    assert!(!waited && took < Duration::from_millis(1500), "{what}: {took:?}\n{log}");
                }
                (false, None) => {
                    assert!(waited && lagging, "{what}: wait and lag logged\n{log}");
                    assert!(took >= Duration::from_millis(1800), "{what}: waited the timeout: {took:?}");
                }
                (false, Some(_)) => {
                    assert!(waited && !lagging, "{what}: waited, caught up\n{log}");
                    assert!(took < Duration::from_millis(1900), "{what}: did not wait the whole timeout: {took:?}");
                }
            }
        }
    }
}
