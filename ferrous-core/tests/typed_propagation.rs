//! The typed API's writes in the change stream (and so in the AOF and on replicas): each
//! write's form matches what Redis propagates for the same command, and replaying the
//! stream rebuilds identical data. Collections are covered in
//! `typed_propagation_collections.rs`.
#[path = "support/replay.rs"]
mod replay;

use ferrous_core::strings::GetExExpiry;
use ferrous_core::{CopyOptions, Database, ExpireCondition, FlushMode, RespValue, SetCondition, SetExpiry, SetOptions};
use replay::Mirror;

#[test]
fn strings_propagate_as_redis_does() {
    let mut m = Mirror::new();
    let now = 1_700_000_000_000i64;
    m.db.set("k", "v").unwrap();
    m.expect(&["SET k v"]);
    m.db.setex("t", 10, "v").unwrap();
    m.expect(&[&format!("SET t v PXAT {}", now + 10_000)]);
    m.db.psetex("p", 5, "v").unwrap();
    m.expect(&[&format!("SET p v PXAT {}", now + 5)]);
    let nx = SetOptions { condition: SetCondition::IfMissing, ..Default::default() };
    assert!(!m.db.set_with("k", "other", nx).unwrap().written);
    m.expect(&[]);
    let keep = SetOptions { expiry: SetExpiry::Keep, get: true, ..Default::default() };
    m.db.set_with("t", "w", keep).unwrap();
    m.expect(&["SET t w KEEPTTL"]);
    assert_eq!(m.db.incr_by_float("f", 0.1).unwrap(), 0.1);
    m.db.incr_by_float("f", 0.2).unwrap();
    m.expect(&["SET f 0.1 KEEPTTL", "SET f 0.3 KEEPTTL"]);
    m.db.incr("n").unwrap();
    m.db.decr_by("n", 5).unwrap();
    m.expect(&["INCRBY n 1", "INCRBY n -5"]);
    m.db.getex("k", GetExExpiry::At(now + 1000)).unwrap();
    m.db.getex("k", GetExExpiry::Keep).unwrap();
    m.db.getex("k", GetExExpiry::Persist).unwrap();
    m.expect(&[&format!("PEXPIREAT k {}", now + 1000), "PERSIST k"]);
    m.db.getdel("k").unwrap();
    m.db.getdel("k").unwrap();
    m.expect(&["DEL k"]);
    m.db.mset(&[("a", "1"), ("b", "2")]);
    assert!(!m.db.msetnx(&[("a", "1"), ("c", "3")]));
    m.expect(&["MSET a 1 b 2"]);
    m.db.append("a", "xy").unwrap();
    m.db.setrange("a", 5, "z").unwrap();
    m.db.getset("b", "new").unwrap();
    m.check("strings");
    // A key found expired by a typed write is deleted first, in one transaction with the
    // write, as Redis 7.0 propagates it (and as the same command through the table does).
    m.clock.advance(6);
    m.db.set("p", "again").unwrap();
    m.expect(&["MULTI", "DEL p", "SET p again", "EXEC"]);
    m.db.execute(["PSETEX", "q", "1", "v"]);
    m.clock.advance(2);
    m.db.execute(["SET", "q", "again"]);
    m.sync();
    assert!(m.log.ends_with(&["MULTI".into(), "DEL q".into(), "SET q again".into(), "EXEC".into()]), "{:?}", m.log);
    m.check("strings after expiry");
}

#[test]
fn keys_propagate_as_redis_does() {
    let mut m = Mirror::new();
    let now = 1_700_000_000_000i64;
    m.db.mset(&[("a", "1"), ("b", "2"), ("c", "3")]);
    m.sync();
    assert_eq!(m.db.del(&["a", "missing"]), 1);
    assert_eq!(m.db.del(&["missing"]), 0);
    m.expect(&["DEL a missing"]);
    m.db.expire("b", 100, ExpireCondition::Always).unwrap();
    assert!(!m.db.expire("b", 100, ExpireCondition::IfNoTtl).unwrap());
    m.db.pexpire_at("c", now + 50, ExpireCondition::Always).unwrap();
    m.expect(&[&format!("PEXPIREAT b {}", now + 100_000), &format!("PEXPIREAT c {}", now + 50)]);
    m.db.persist("b");
    m.db.rename("b", "b2").unwrap();
    m.db.set("d", "4").unwrap();
    assert!(!m.db.renamenx("b2", "d").unwrap());
    m.db.copy("d", "d2", CopyOptions::default()).unwrap();
    m.db.copy("d", "d3", CopyOptions { db: Some(3), replace: true }).unwrap();
    m.db.move_key("d2", 5).unwrap();
    m.check("keys");
    m.db.expire_at("c", 1, ExpireCondition::Always).unwrap();
    m.expect(&["DEL c"]);
    m.db.unlink(&["d"]);
    m.db.swapdb(0, 5).unwrap();
    m.check("swapdb");
    m.db.select(3).unwrap().flushdb(FlushMode::Sync);
    m.db.flushall(FlushMode::Async);
    m.db.flushall(FlushMode::Sync);
    m.check("flush");
    assert!(
        m.log.ends_with(&[
            "SELECT 3".into(),
            "FLUSHDB SYNC".into(),
            "SELECT 0".into(),
            "FLUSHALL ASYNC".into(),
            "FLUSHALL SYNC".into()
        ]),
        "{:?}",
        m.log
    );
}

#[test]
fn a_transaction_is_one_block() {
    let mut m = Mirror::new();
    m.db.transaction(|tx| {
        tx.set("x", "1")?;
        tx.incr("x")?;
        tx.select(2)?.set("y", "2")?;
        Ok(())
    })
    .unwrap();
    m.expect(&["MULTI", "SET x 1", "INCRBY x 1", "SELECT 2", "SET y 2", "EXEC"]);
    // One write alone is not wrapped; a transaction that wrote nothing publishes nothing.
    m.db.transaction(|tx| tx.set("x", "3")).unwrap();
    m.db.transaction(|tx| tx.get("x")).unwrap();
    m.expect(&["SELECT 0", "SET x 3"]);
    m.check("transactions");
}

#[test]
fn typed_writes_are_in_the_aof() {
    let dir = std::env::temp_dir().join(format!("ferrous-typed-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || Database::builder().dir(&dir).save_points(&[]).appendonly(true).appendfsync("always").open().unwrap();
    {
        let db = open();
        db.set("plain", "1").unwrap();
        db.setex("ttl", 1000, "v").unwrap();
        db.incr_by_float("f", 1.5).unwrap();
        db.transaction(|tx| {
            tx.set("t1", "a")?;
            tx.del(&["plain"]);
            Ok(())
        })
        .unwrap();
        // No save, no rewrite: only the AOF can bring these back. Dropping the handle
        // without a clean shutdown still leaves every acknowledged write on disk.
        std::mem::forget(db.clone());
    }
    let db = open();
    assert_eq!(db.get("plain").unwrap(), None);
    assert_eq!(db.get("t1").unwrap(), Some(b"a".to_vec()));
    assert_eq!(db.get("f").unwrap(), Some(b"1.5".to_vec()));
    assert!(db.pttl("ttl") > 990_000);
    assert_eq!(db.execute(["DBSIZE"]), RespValue::Integer(3));
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_typed_read_that_finds_a_key_expired_propagates_its_del() {
    let mut m = Mirror::new();
    m.db.psetex("k", 10, "v").unwrap();
    m.db.psetex("m1", 10, "v").unwrap();
    m.db.execute(["HSET", "h", "f", "v"]);
    m.db.pexpire("h", 10, ExpireCondition::Always).unwrap();
    m.sync();
    m.clock.advance(20);
    assert_eq!(m.db.get("k").unwrap(), None);
    assert_eq!(m.db.hget("h", "f").unwrap(), None);
    assert_eq!(m.db.mget(&["m1", "k"]), vec![None, None]);
    m.expect(&["DEL k", "DEL h", "DEL m1"]);
    m.check("lazy expiry on reads");
}

/// Runs `f` on another thread and fails instead of hanging if it does not finish.
fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap_or_else(|_| panic!("{what}: deadlocked"))
}

#[test]
fn commands_and_stream_calls_inside_a_transaction() {
    let mut m = Mirror::new();
    let db = m.db.clone();
    within("xadd and execute in a transaction", move || {
        db.transaction(|tx| {
            tx.set("a", "1")?;
            tx.xadd("s", &[("f", "v")])?;
            assert_eq!(tx.execute(["INCR", "a"]), RespValue::Integer(2));
            // A blocking pop inside a transaction answers at once, as inside MULTI.
            assert_eq!(tx.blpop(&["nothing"], std::time::Duration::from_secs(5))?, None);
            Ok(())
        })
        .unwrap()
    });
    let replayed = m.sync();
    assert_eq!(replayed.first().map(String::as_str), Some("MULTI"));
    assert_eq!(replayed.last().map(String::as_str), Some("EXEC"));
    assert!(replayed.iter().any(|c| c.starts_with("XADD s ")), "{replayed:?}");
    assert!(replayed.iter().any(|c| c == "INCR a"), "{replayed:?}");
    m.check("commands in a transaction");
}

#[test]
fn waiters_are_served_after_a_transaction_and_a_rename() {
    let mut m = Mirror::new();
    let db = m.db.clone();
    let waiter = std::thread::spawn(move || db.blpop(&["q"], std::time::Duration::from_secs(10)).unwrap());
    while m.db.execute(["CLIENT", "LIST"]) == RespValue::Null {}
    std::thread::sleep(std::time::Duration::from_millis(100));
    let db = m.db.clone();
    within("a typed push in a transaction waking a waiter", move || {
        db.transaction(|tx| {
            tx.rpush("q", ["x"])?;
            tx.set("k", "v")
        })
        .unwrap()
    });
    assert_eq!(waiter.join().unwrap(), Some((b"q".to_vec(), b"x".to_vec())));
    m.expect(&["MULTI", "RPUSH q x", "SET k v", "EXEC", "LPOP q"]);
    // A RENAME that creates the key a client waits on serves it.
    let db = m.db.clone();
    let waiter = std::thread::spawn(move || db.blpop(&["dst"], std::time::Duration::from_secs(10)).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(100));
    m.db.rpush("src", ["y"]).unwrap();
    m.db.rename("src", "dst").unwrap();
    assert_eq!(waiter.join().unwrap(), Some((b"dst".to_vec(), b"y".to_vec())));
    m.expect(&["RPUSH src y", "RENAME src dst", "LPOP dst"]);
    m.check("served waiters");
}
