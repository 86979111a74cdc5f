//! Lazy free: which deletions hand their values to the Database's lazy-free thread.
//!
//! Redis 7.0's rule: a value goes to the thread when the path's directive applies (UNLINK
//! always; DEL under `lazyfree-lazy-user-del`; overwrites and RENAME's destination under
//! `lazyfree-lazy-server-del`; expired keys under `lazyfree-lazy-expire`) and its free effort
//! is above 64 (a list of more than 64 nodes, a hash table, set hash table or skiplist of more
//! than 64 elements). FLUSHALL/FLUSHDB ASYNC always hand the whole data over. The thread's
//! count of freed objects (`lazyfreed_objects`) tells what went there.
use ferrous_core::{Database, ManualClock, RespValue};
use std::sync::Arc;

fn freed(db: &Database) -> u64 {
    db.inner().lazyfree.drain();
    assert_eq!(ferrous_core::lazyfree::pending(db.inner()), 0);
    ferrous_core::lazyfree::freed(db.inner())
}

/// A list of `n` quicklist nodes, a set, hash and sorted set of `n` elements (hash tables
/// and a skiplist above the default 128/512/128 listpack limits).
fn fill(db: &Database, n: usize) {
    db.execute(["CONFIG", "SET", "list-max-listpack-size", "1"]);
    for i in 0..n {
        let m = format!("m{i}");
        db.execute(["RPUSH", "list", &m]);
        db.execute(["SADD", "set", &m]);
        db.execute(["HSET", "hash", &m, "v"]);
        db.execute(["ZADD", "zset", &i.to_string(), &m]);
    }
    db.execute(["SET", "string", &"x".repeat(100_000)]);
}

const BIG: [&str; 4] = ["list", "set", "hash", "zset"];

#[test]
fn unlink_hands_big_collections_to_the_thread() {
    let db = Database::new();
    fill(&db, 600);
    assert_eq!(db.execute(["OBJECT", "ENCODING", "set"]), RespValue::bulk("hashtable"));
    assert_eq!(db.execute(["UNLINK", "string"]), RespValue::Integer(1));
    assert_eq!(freed(&db), 0, "a string is one allocation: freed inline");
    for (i, key) in BIG.iter().enumerate() {
        assert_eq!(db.execute(["UNLINK", key]), RespValue::Integer(1));
        assert_eq!(freed(&db), i as u64 + 1, "{key}");
    }
    assert_eq!(db.execute(["DBSIZE"]), RespValue::Integer(0));
}

#[test]
fn small_collections_are_freed_inline() {
    let db = Database::new();
    // 64 elements: effort 64 is not above the threshold; compact encodings count as 1.
    fill(&db, 64);
    db.execute(["SADD", "ints", "1", "2", "3"]);
    for key in BIG.iter().chain(&["ints"]) {
        assert_eq!(db.execute(["UNLINK", key]), RespValue::Integer(1));
    }
    assert_eq!(freed(&db), 0);
}

#[test]
fn del_is_lazy_only_under_lazyfree_lazy_user_del() {
    let db = Database::new();
    fill(&db, 600);
    db.execute(["DEL", "list", "set"]);
    assert_eq!(freed(&db), 0);
    assert_eq!(db.execute(["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]), RespValue::ok());
    assert_eq!(db.execute(["DEL", "hash", "zset", "missing"]), RespValue::Integer(2));
    assert_eq!(freed(&db), 2);
    // The typed API follows the same rules.
    fill(&db, 600);
    assert_eq!(db.unlink(&["list"]), 1);
    assert_eq!(db.del(&["set"]), 1);
    assert_eq!(freed(&db), 4);
}

#[test]
fn flush_async_frees_every_key_on_the_thread() {
    let db = Database::new();
    for i in 0..10 {
        db.execute(["SET", &format!("k{i}"), "v"]);
    }
    db.select(3).unwrap().execute(["SET", "other", "v"]);
    assert_eq!(db.execute(["FLUSHDB", "SYNC"]), RespValue::ok());
    assert_eq!(freed(&db), 0);
    for i in 0..10 {
        db.execute(["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(db.execute(["FLUSHALL", "ASYNC"]), RespValue::ok());
    assert_eq!(freed(&db), 11, "a flushed database counts its keys");
    assert_eq!(db.execute(["DBSIZE"]), RespValue::Integer(0));
    db.execute(["SET", "k", "v"]);
    db.execute(["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]);
    assert_eq!(db.execute(["FLUSHDB"]), RespValue::ok());
    assert_eq!(freed(&db), 12);
}

#[test]
fn implicit_deletes_follow_lazyfree_lazy_server_del() {
    let db = Database::new();
    fill(&db, 600);
    db.execute(["SET", "list", "overwritten"]);
    assert_eq!(freed(&db), 0);
    db.execute(["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]);
    db.execute(["SET", "set", "overwritten"]);
    assert_eq!(freed(&db), 1, "SET over a big set");
    db.execute(["RENAME", "string", "hash"]);
    assert_eq!(freed(&db), 2, "RENAME onto a big hash");
    db.execute(["RPUSH", "src", "3", "1", "2"]);
    db.execute(["SORT", "src", "STORE", "zset"]);
    assert_eq!(freed(&db), 3, "SORT STORE onto a big zset");
    for i in 0..600 {
        db.execute(["SADD", "bigset", &format!("m{i}")]);
    }
    assert_eq!(db.execute(["SUNIONSTORE", "bigset", "missing"]), RespValue::Integer(0));
    assert_eq!(db.execute(["TYPE", "bigset"]), RespValue::Simple("none".into()), "empty union deletes");
    assert_eq!(freed(&db), 4);
    for i in 0..600 {
        db.execute(["ZADD", "bigz", &i.to_string(), &format!("m{i}")]);
    }
    let dump = db.execute(["DUMP", "hash"]);
    let RespValue::Bulk(payload) = dump else { panic!("DUMP: {dump:?}") };
    db.execute([b"RESTORE".as_slice(), b"bigz", b"0", &payload, b"REPLACE"]);
    assert_eq!(freed(&db), 5, "RESTORE REPLACE");
}

#[test]
fn expired_keys_follow_lazyfree_lazy_expire() {
    let clock = Arc::new(ManualClock::at(1_700_000_000_000));
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    fill(&db, 600);
    db.execute(["PEXPIRE", "list", "10"]);
    clock.advance(20);
    assert_eq!(db.execute(["EXISTS", "list"]), RespValue::Integer(0));
    assert_eq!(freed(&db), 0);
    db.execute(["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    db.execute(["PEXPIRE", "set", "10"]);
    db.execute(["PEXPIRE", "hash", "10"]);
    clock.advance(20);
    assert_eq!(db.execute(["GET", "set"]), RespValue::Null);
    assert_eq!(db.execute(["DBSIZE"]), RespValue::Integer(3));
    assert_eq!(freed(&db), 1);
    // The active cycle's deletions too.
    db.set_active_expire(true);
    for _ in 0..500 {
        if db.execute(["DBSIZE"]) == RespValue::Integer(2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(freed(&db), 2);
}

#[test]
fn dropping_the_database_frees_what_is_queued() {
    let db = Database::new();
    fill(&db, 1000);
    let inner = db.inner_arc().clone();
    db.execute(["UNLINK", "list", "set", "hash", "zset"]);
    drop(db);
    // The drop stopped the thread after it freed everything handed over.
    assert_eq!(ferrous_core::lazyfree::pending(&inner), 0);
    assert_eq!(ferrous_core::lazyfree::freed(&inner), 4);
}

/// The commands of the next block of the change feed, as text.
fn next_block(feed: &ferrous_core::propagate::ChangeFeed) -> Vec<String> {
    let block = feed.try_recv().expect("a propagated block");
    block
        .changes
        .iter()
        .map(|c| c.args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn deletions_propagate_as_unlink_when_lazy() {
    let clock = Arc::new(ManualClock::at(1_700_000_000_000));
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    let feed = db.changes();
    db.execute(["SET", "a", "1", "PX", "10"]);
    db.execute(["SET", "b", "1", "PX", "10"]);
    let _ = (next_block(&feed), next_block(&feed));
    clock.advance(20);
    db.execute(["GET", "a"]);
    assert_eq!(next_block(&feed), ["DEL a"], "an expired key, lazyfree-lazy-expire off");
    db.execute(["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    db.execute(["GET", "b"]);
    assert_eq!(next_block(&feed), ["UNLINK b"], "an expired key, lazyfree-lazy-expire on");
    // DEL and UNLINK propagate as themselves, whatever lazyfree-lazy-user-del says.
    db.execute(["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
    db.execute(["SET", "c", "1"]);
    db.execute(["DEL", "c"]);
    db.execute(["SET", "c", "1"]);
    db.execute(["UNLINK", "c"]);
    let blocks: Vec<Vec<String>> = (0..4).map(|_| next_block(&feed)).collect();
    assert_eq!(blocks[1], ["DEL c"]);
    assert_eq!(blocks[3], ["UNLINK c"]);
}
