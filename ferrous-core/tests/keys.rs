//! In-process tests of the generic keyspace commands (DEL ... OBJECT) and their typed API.
//!
//! Replies and error texts were checked against Redis 7.0. The model test runs random
//! operations against both Ferrous and a `BTreeMap` model under a manual clock; the SCAN
//! tests prove that a key present for a whole scan is never missed while other keys come
//! and go (which makes the shards' tables grow and shrink underneath the cursor).
use ferrous_core::types::keys::{CopyOptions, FlushMode};
use ferrous_core::{Database, ExpireCondition, ManualClock, RespValue, ScanOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000;

fn db() -> Database {
    Database::builder().build()
}

fn clocked() -> (Database, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(T0));
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    (db, clock)
}

fn int(i: i64) -> RespValue {
    RespValue::Integer(i)
}

fn err(s: &str) -> RespValue {
    RespValue::Error(s.to_string())
}

fn simple(s: &str) -> RespValue {
    RespValue::Simple(s.to_string())
}

/// The keys of a KEYS reply or of SCAN's second element, sorted.
fn key_set(v: &RespValue) -> Vec<Vec<u8>> {
    let RespValue::Array(items) = v else { panic!("not an array: {v:?}") };
    let mut keys: Vec<Vec<u8>> = items.iter().map(|k| k.as_bytes().expect("bulk").to_vec()).collect();
    keys.sort();
    keys
}

/// Runs a full SCAN with the given extra arguments; returns every key returned.
fn full_scan(db: &Database, extra: &[&str]) -> Vec<Vec<u8>> {
    let mut cursor = "0".to_string();
    let mut all = Vec::new();
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let RespValue::Array(reply) = db.execute(&args) else { panic!("bad scan reply") };
        let next = String::from_utf8(reply[0].as_bytes().expect("cursor").to_vec()).expect("utf8");
        all.extend(key_set(&reply[1]));
        if next == "0" {
            return all;
        }
        cursor = next;
    }
}

#[test]
fn del_unlink_exists_touch_type() {
    let db = db();
    db.execute(["SET", "a", "1"]);
    db.execute(["SET", "b", "x"]);
    assert_eq!(db.execute(["EXISTS", "a", "a", "b", "nope"]), int(3));
    assert_eq!(db.execute(["TOUCH", "a", "b", "nope"]), int(2));
    assert_eq!(db.execute(["TYPE", "a"]), simple("string"));
    assert_eq!(db.execute(["TYPE", "nope"]), simple("none"));
    assert_eq!(db.execute(["DEL", "a", "a", "nope"]), int(1));
    assert_eq!(db.execute(["UNLINK", "b", "a"]), int(1));
    assert_eq!(db.execute(["EXISTS", "a", "b"]), int(0));
    assert_eq!(db.execute(["DEL"]), err("ERR wrong number of arguments for 'del' command"));
    assert_eq!(db.execute(["TYPE", "a", "b"]), err("ERR wrong number of arguments for 'type' command"));
    assert_eq!(db.type_of("a"), "none");
    db.set("t", "v").unwrap();
    assert_eq!(db.exists_count(&["t", "t", "u"]), 2);
    assert_eq!(db.touch(&["t", "u"]), 1);
    assert_eq!(db.unlink(&["t"]), 1);
}

#[test]
fn expire_options_and_errors() {
    let (db, _clock) = clocked();
    db.execute(["SET", "k", "v"]);
    let nx_err = err("ERR NX and XX, GT or LT options at the same time are not compatible");
    let gtlt_err = err("ERR GT and LT options at the same time are not compatible");
    assert_eq!(db.execute(["EXPIRE", "k", "10", "nx", "xx"]), nx_err);
    assert_eq!(db.execute(["EXPIRE", "k", "10", "NX", "lt"]), nx_err);
    assert_eq!(db.execute(["EXPIRE", "k", "10", "gt", "lt"]), gtlt_err);
    assert_eq!(db.execute(["EXPIRE", "k", "10", "gt", "gt", "lt"]), gtlt_err);
    assert_eq!(db.execute(["EXPIRE", "k", "10", "foo"]), err("ERR Unsupported option foo"));
    // Options are checked before the number.
    assert_eq!(db.execute(["EXPIRE", "k", "abc", "foo"]), err("ERR Unsupported option foo"));
    assert_eq!(db.execute(["EXPIRE", "k", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(db.execute(["EXPIRE", "k", "9223372036854775807"]), err("ERR invalid expire time in 'expire' command"));
    // Overflow is reported even for a missing key.
    assert_eq!(db.execute(["EXPIRE", "no", "9223372036854775807"]), err("ERR invalid expire time in 'expire' command"));
    assert_eq!(
        db.execute(["PEXPIRE", "k", "9223372036854775807"]),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(db.execute(["EXPIREAT", "k", "9223372036854776"]), err("ERR invalid expire time in 'expireat' command"));
    assert_eq!(db.execute(["EXPIRE", "k", "-9223372036854775808"]), err("ERR invalid expire time in 'expire' command"));
    assert_eq!(db.execute(["EXPIREAT", "k", "9223372036854775"]), int(1));
    assert_eq!(db.execute(["PEXPIRETIME", "k"]), int(9223372036854775000));
    assert_eq!(db.execute(["PEXPIREAT", "k", "9223372036854775807"]), int(1));
    assert_eq!(db.execute(["PEXPIRETIME", "k"]), int(i64::MAX));

    // NX / XX / GT / LT.
    db.execute(["SET", "k", "v"]);
    assert_eq!(db.execute(["EXPIRE", "k", "10", "xx"]), int(0));
    assert_eq!(db.execute(["EXPIRE", "k", "10", "gt"]), int(0), "no TTL counts as infinite for GT");
    assert_eq!(db.execute(["EXPIRE", "k", "10", "xx", "lt"]), int(0));
    assert_eq!(db.execute(["EXPIRE", "k", "100", "lt"]), int(1), "no TTL counts as infinite for LT");
    assert_eq!(db.execute(["EXPIRE", "k", "50", "nx"]), int(0));
    assert_eq!(db.execute(["EXPIRE", "k", "50", "gt"]), int(0));
    assert_eq!(db.execute(["EXPIRE", "k", "200", "Gt"]), int(1));
    assert_eq!(db.execute(["TTL", "k"]), int(200));
    assert_eq!(db.execute(["EXPIRE", "k", "300", "xX", "lT"]), int(0));
    assert_eq!(db.execute(["EXPIRE", "k", "30", "XX", "LT"]), int(1));
    assert_eq!(db.execute(["TTL", "k"]), int(30));
    assert_eq!(db.execute(["EXPIRE", "k", "40", "xx", "gt"]), int(1));
    assert_eq!(db.execute(["EXPIRE", "k", "60", "xx"]), int(1));
    assert_eq!(db.execute(["TTL", "k"]), int(60));
    assert_eq!(db.execute(["EXPIRE", "missing", "60"]), int(0));

    // A deadline in the past deletes the key and replies 1.
    assert_eq!(db.execute(["EXPIRE", "k", "0"]), int(1));
    assert_eq!(db.execute(["EXISTS", "k"]), int(0));
    db.execute(["SET", "k", "v"]);
    assert_eq!(db.execute(["PEXPIRE", "k", "-9223372036854775808"]), int(1));
    assert_eq!(db.execute(["EXISTS", "k"]), int(0));
    db.execute(["SET", "k", "v"]);
    assert_eq!(db.execute(["EXPIREAT", "k", "1"]), int(1));
    assert_eq!(db.execute(["EXISTS", "k"]), int(0));
    db.execute(["SET", "k", "v", "EX", "100"]);
    assert_eq!(db.execute(["EXPIRE", "k", "-1", "LT"]), int(1));
    assert_eq!(db.execute(["EXISTS", "k"]), int(0));
}

#[test]
fn ttl_family_and_persist() {
    let (db, clock) = clocked();
    assert_eq!(db.execute(["TTL", "k"]), int(-2));
    assert_eq!(db.execute(["PTTL", "k"]), int(-2));
    assert_eq!(db.execute(["EXPIRETIME", "k"]), int(-2));
    assert_eq!(db.execute(["PEXPIRETIME", "k"]), int(-2));
    db.execute(["SET", "k", "v"]);
    assert_eq!(db.execute(["TTL", "k"]), int(-1));
    assert_eq!(db.execute(["PEXPIRETIME", "k"]), int(-1));
    assert_eq!(db.execute(["PERSIST", "k"]), int(0));
    assert_eq!(db.execute(["PEXPIRE", "k", "1499"]), int(1));
    // Seconds are rounded to the nearest second.
    assert_eq!(db.execute(["TTL", "k"]), int(1));
    assert_eq!(db.execute(["PEXPIRE", "k", "1500"]), int(1));
    assert_eq!(db.execute(["TTL", "k"]), int(2));
    assert_eq!(db.execute(["PTTL", "k"]), int(1500));
    assert_eq!(db.execute(["PEXPIRETIME", "k"]), int(T0 + 1500));
    assert_eq!(db.execute(["EXPIRETIME", "k"]), int((T0 + 1500 + 500) / 1000));
    clock.advance(1000);
    assert_eq!(db.execute(["PTTL", "k"]), int(500));
    assert_eq!(db.pttl("k"), 500);
    assert_eq!(db.execute(["PERSIST", "k"]), int(1));
    assert_eq!(db.execute(["PERSIST", "k"]), int(0));
    assert_eq!(db.execute(["PERSIST", "nope"]), int(0));
    assert_eq!(db.ttl("k"), -1);
    clock.advance(10_000);
    assert_eq!(db.execute(["GET", "k"]), RespValue::bulk("v"));

    // Typed API.
    assert!(db.expire("k", 10, ExpireCondition::Always).unwrap());
    assert_eq!(db.ttl("k"), 10);
    assert!(!db.expire("k", 5, ExpireCondition::IfNoTtl).unwrap());
    assert!(db.pexpire("k", 5_000, ExpireCondition::Less).unwrap());
    assert!(!db.pexpire("k", 6_000, ExpireCondition::Less).unwrap());
    assert_eq!(db.expire_time("k"), (clock_now(&clock) + 5_000 + 500) / 1000);
    assert!(db.pexpire_at("k", clock_now(&clock) + 7_000, ExpireCondition::Greater).unwrap());
    assert_eq!(db.pexpire_time("k"), clock_now(&clock) + 7_000);
    assert!(db.expire_at("k", (clock_now(&clock) / 1000) + 100, ExpireCondition::IfTtl).unwrap());
    assert_eq!(
        db.expire("k", i64::MAX, ExpireCondition::Always),
        Err(ferrous_core::Error::InvalidExpireTime("expire"))
    );
    assert!(db.persist("k"));
    assert!(!db.expire("nope", 10, ExpireCondition::Always).unwrap());
    // Expiry happens exactly at the deadline.
    db.pexpire("k", 100, ExpireCondition::Always).unwrap();
    clock.advance(99);
    assert!(db.exists("k"));
    clock.advance(1);
    assert!(!db.exists("k"));
    assert_eq!(db.ttl("k"), -2);
}

fn clock_now(clock: &ManualClock) -> i64 {
    use ferrous_core::Clock;
    clock.now_ms()
}

#[test]
fn rename_and_renamenx() {
    let (db, clock) = clocked();
    assert_eq!(db.execute(["RENAME", "nope", "x"]), err("ERR no such key"));
    assert_eq!(db.execute(["RENAME", "nope", "nope"]), err("ERR no such key"));
    assert_eq!(db.execute(["RENAMENX", "nope", "nope"]), err("ERR no such key"));
    db.execute(["SET", "a", "1", "PX", "5000"]);
    assert_eq!(db.execute(["RENAME", "a", "a"]), RespValue::ok());
    assert_eq!(db.execute(["RENAMENX", "a", "a"]), int(0));
    assert_eq!(db.execute(["RENAME", "a", "b"]), RespValue::ok());
    assert_eq!(db.execute(["EXISTS", "a"]), int(0));
    assert_eq!(db.execute(["GET", "b"]), RespValue::bulk("1"));
    assert_eq!(db.execute(["PTTL", "b"]), int(5000), "the TTL moves with the key");
    assert_eq!(db.execute(["OBJECT", "ENCODING", "b"]), RespValue::bulk("int"));
    db.execute(["SET", "c", "other"]);
    assert_eq!(db.execute(["RENAMENX", "b", "c"]), int(0));
    assert_eq!(db.execute(["RENAMENX", "b", "d"]), int(1));
    // RENAME over a key with a TTL: the destination takes the source's (absent) TTL.
    db.execute(["SET", "e", "x"]);
    db.execute(["SET", "f", "y", "EX", "100"]);
    assert_eq!(db.execute(["RENAME", "e", "f"]), RespValue::ok());
    assert_eq!(db.execute(["TTL", "f"]), int(-1));
    assert_eq!(db.execute(["GET", "f"]), RespValue::bulk("x"));
    // An expired source is gone.
    clock.advance(5000);
    assert_eq!(db.execute(["RENAME", "d", "z"]), err("ERR no such key"));
    assert_eq!(db.rename("nope", "x"), Err(ferrous_core::Error::NoSuchKey));
    db.set("p", "1").unwrap();
    assert_eq!(db.renamenx("p", "q"), Ok(true));
    assert_eq!(db.renamenx("q", "f"), Ok(false));
    assert_eq!(db.rename("q", "f"), Ok(()));
    assert_eq!(db.get("f").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn keys_command() {
    let (db, clock) = clocked();
    for k in ["one", "two", "three", "four", "h?llo", "hello"] {
        db.set(k, "v").unwrap();
    }
    db.execute(["SET", "gone", "v", "PX", "10"]);
    clock.advance(10);
    assert_eq!(
        key_set(&db.execute(["KEYS", "*o*"])),
        vec![b"four".to_vec(), b"h?llo".to_vec(), b"hello".to_vec(), b"one".to_vec(), b"two".to_vec()]
    );
    assert_eq!(key_set(&db.execute(["KEYS", "t[wh]*"])), vec![b"three".to_vec(), b"two".to_vec()]);
    assert_eq!(key_set(&db.execute(["KEYS", "h\\?llo"])), vec![b"h?llo".to_vec()]);
    assert_eq!(db.execute(["KEYS", "x*"]), RespValue::Array(vec![]));
    // Expired keys are skipped but, as in Redis, not deleted by KEYS.
    assert_eq!(db.keys("*").len(), 6);
    assert_eq!(db.execute(["DBSIZE"]), int(7));
    assert_eq!(db.execute(["KEYS"]), err("ERR wrong number of arguments for 'keys' command"));
}

#[test]
fn scan_arguments() {
    let db = db();
    db.execute(["SET", "k", "v"]);
    let syntax = err("ERR syntax error");
    assert_eq!(db.execute(["SCAN", "0", "COUNT", "0"]), syntax);
    assert_eq!(db.execute(["SCAN", "0", "COUNT", "-1"]), syntax);
    assert_eq!(db.execute(["SCAN", "0", "COUNT", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(
        db.execute(["SCAN", "0", "COUNT", "99999999999999999999"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(db.execute(["SCAN", "0", "COUNT"]), syntax);
    assert_eq!(db.execute(["SCAN", "0", "MATCH"]), syntax);
    assert_eq!(db.execute(["SCAN", "0", "foo", "bar"]), syntax);
    // The cursor is parsed first.
    assert_eq!(db.execute(["SCAN", "abc", "COUNT", "0"]), err("ERR invalid cursor"));
    for bad in [" 1", "1 ", "0x1", "18446744073709551616", "-", "+", "abc", "-18446744073709551616", "1.5"] {
        assert_eq!(db.execute(["SCAN", bad]), err("ERR invalid cursor"), "cursor {bad:?}");
    }
    let whole = RespValue::Array(vec![RespValue::bulk("0"), RespValue::Array(vec![RespValue::bulk("k")])]);
    for good in ["", "0", "-0", "+0"] {
        assert_eq!(db.execute(["SCAN", good, "COUNT", "1000"]), whole, "cursor {good:?}");
    }
    assert_eq!(db.execute(["SCAN", "0", "MATCH", "k*", "COUNT", "1000", "TYPE", "String"]), whole);
    assert_eq!(db.execute(["SCAN", "0", "count", "5", "count", "1000", "type", "string"]), whole);
    let empty = RespValue::Array(vec![RespValue::bulk("0"), RespValue::Array(vec![])]);
    assert_eq!(db.execute(["SCAN", "0", "MATCH", "x*", "COUNT", "1000"]), empty);
    assert_eq!(db.execute(["SCAN", "0", "TYPE", "list", "COUNT", "1000"]), empty);
    assert_eq!(db.execute(["SCAN", "0", "TYPE", "foo", "COUNT", "1000"]), empty);
    assert_eq!(ferrous_core::types::keys::parse_cursor(b"-1"), Ok(u64::MAX));
    assert_eq!(ferrous_core::types::keys::parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
    assert_eq!(ferrous_core::types::keys::parse_cursor(b"-18446744073709551615"), Ok(1));
}

#[test]
fn scan_returns_everything_once_on_a_static_database() {
    let db = db();
    for i in 0..3000 {
        db.set(format!("key:{i}"), "v").unwrap();
    }
    for count in ["1", "7", "100", "100000"] {
        let found = full_scan(&db, &["COUNT", count]);
        let unique: HashSet<_> = found.iter().cloned().collect();
        assert_eq!(found.len(), 3000, "COUNT {count}: no duplicates without resizes");
        assert_eq!(unique.len(), 3000);
    }
    let matched = full_scan(&db, &["MATCH", "key:1?", "COUNT", "50"]);
    assert_eq!(matched.len(), 10);
    // Each step returns roughly COUNT keys, not everything at once.
    let RespValue::Array(step) = db.execute(["SCAN", "0", "COUNT", "10"]) else { panic!() };
    assert_ne!(step[0], RespValue::bulk("0"));
    assert!(key_set(&step[1]).len() < 100);
}

#[test]
fn scan_filters_expired_keys_like_redis() {
    let (db, clock) = clocked();
    db.execute(["SET", "live", "v"]);
    db.execute(["SET", "dead", "v", "PX", "5"]);
    db.execute(["SET", "dead2", "v", "PX", "5"]);
    clock.advance(5);
    assert_eq!(db.execute(["DBSIZE"]), int(3));
    // A pattern that excludes the expired keys leaves them alone.
    assert_eq!(full_scan(&db, &["MATCH", "l*"]), vec![b"live".to_vec()]);
    assert_eq!(db.execute(["DBSIZE"]), int(3));
    // Redis 7.0 looks the type up first (expired: "none") and so returns expired keys for
    // TYPE none, deleting them.
    assert_eq!(full_scan(&db, &["TYPE", "none", "MATCH", "dead"]), vec![b"dead".to_vec()]);
    assert_eq!(db.execute(["DBSIZE"]), int(2));
    assert_eq!(full_scan(&db, &[]), vec![b"live".to_vec()]);
    assert_eq!(db.execute(["DBSIZE"]), int(1));
}

/// Deterministic interleaving: between SCAN steps, hundreds of keys are added or removed,
/// so each shard's table doubles and halves under the cursor.
#[test]
fn scan_never_misses_stable_keys_across_resizes() {
    let db = db();
    let stable: BTreeSet<Vec<u8>> = (0..2000).map(|i| format!("stable:{i}").into_bytes()).collect();
    for k in &stable {
        db.set(k, "v").unwrap();
    }
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..4 {
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut tmp: Vec<String> = Vec::new();
        let mut step = 0;
        loop {
            let opts = ScanOptions { count: Some(rng.gen_range(1..50)), ..Default::default() };
            let (next, keys) = db.scan(cursor, &opts);
            seen.extend(keys);
            step += 1;
            if step % 3 == 0 {
                let n = rng.gen_range(100..3000);
                for j in 0..n {
                    let k = format!("tmp:{round}:{step}:{j}");
                    db.set(&k, "t").unwrap();
                    tmp.push(k);
                }
            } else if step % 3 == 1 {
                let drop_n = tmp.len() * 9 / 10;
                let gone: Vec<String> = tmp.drain(..drop_n).collect();
                assert_eq!(db.del(&gone), gone.len());
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for k in &stable {
            assert!(seen.contains(k), "round {round}: missed {}", String::from_utf8_lossy(k));
        }
        db.del(&tmp);
        assert_eq!(db.dbsize(), stable.len());
    }
}

/// Concurrent writers: other threads keep inserting and deleting keys while full scans run.
#[test]
fn scan_during_concurrent_writes_misses_nothing() {
    let db = db();
    for i in 0..3000 {
        db.set(format!("stable:{i}"), "v").unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let db = db.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut gen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let keys: Vec<String> = (0..2000).map(|j| format!("churn:{w}:{gen}:{j}")).collect();
                    for k in &keys {
                        db.set(k, "x").unwrap();
                    }
                    db.del(&keys);
                    gen += 1;
                }
            })
        })
        .collect();
    for _ in 0..10 {
        let found: HashSet<Vec<u8>> = full_scan(&db, &["COUNT", "25"]).into_iter().collect();
        for i in 0..3000 {
            assert!(found.contains(format!("stable:{i}").as_bytes()), "missed stable:{i}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn randomkey_skips_and_deletes_expired_keys() {
    let (db, clock) = clocked();
    assert_eq!(db.execute(["RANDOMKEY"]), RespValue::Null);
    assert_eq!(db.randomkey(), None);
    for i in 0..50 {
        db.execute(["SET", &format!("dead:{i}"), "v", "PX", "10"]);
    }
    db.execute(["SET", "alive", "v"]);
    clock.advance(10);
    for _ in 0..20 {
        assert_eq!(db.execute(["RANDOMKEY"]), RespValue::bulk("alive"));
    }
    let mut seen = HashSet::new();
    for i in 0..20 {
        db.set(format!("k{i}"), "v").unwrap();
    }
    for _ in 0..2000 {
        seen.insert(db.randomkey().unwrap());
    }
    assert_eq!(seen.len(), 21, "every live key shows up");
    assert!(seen.iter().all(|k| !k.starts_with(b"dead")));
    db.del(&seen.iter().collect::<Vec<_>>());
    // Only expired keys left: RANDOMKEY deletes them all and replies nil.
    for i in 0..5 {
        db.execute(["SET", &format!("dead:{i}"), "v", "PX", "10"]);
    }
    clock.advance(10);
    assert!(db.dbsize() > 0);
    assert_eq!(db.execute(["RANDOMKEY"]), RespValue::Null);
    assert_eq!(db.dbsize(), 0);
}

#[test]
fn dbsize_flushdb_flushall() {
    let db = db();
    let db1 = db.select(1).unwrap();
    for i in 0..200 {
        db.set(format!("a{i}"), "v").unwrap();
        db1.set(format!("b{i}"), "v").unwrap();
    }
    assert_eq!(db.execute(["DBSIZE"]), int(200));
    assert_eq!(db.execute(["DBSIZE", "x"]), err("ERR wrong number of arguments for 'dbsize' command"));
    assert_eq!(db.execute(["FLUSHDB", "foo"]), err("ERR syntax error"));
    assert_eq!(db.execute(["FLUSHDB", "SYNC", "ASYNC"]), err("ERR syntax error"));
    assert_eq!(db.execute(["FLUSHALL", "sync", "extra"]), err("ERR syntax error"));
    assert_eq!(db.execute(["FLUSHDB", "async"]), RespValue::ok());
    assert_eq!(db.dbsize(), 0);
    assert_eq!(db1.dbsize(), 200);
    db.set("x", "1").unwrap();
    assert_eq!(db1.execute(["FLUSHDB"]), RespValue::ok());
    assert_eq!(db1.dbsize(), 0);
    assert_eq!(db.dbsize(), 1);
    db1.set("y", "1").unwrap();
    assert_eq!(db.execute(["FLUSHALL", "ASYNC"]), RespValue::ok());
    assert_eq!((db.dbsize(), db1.dbsize()), (0, 0));
    db.execute(["SET", "t", "v", "EX", "100"]);
    assert_eq!(db.execute(["FLUSHALL", "Sync"]), RespValue::ok());
    assert_eq!(db.inner().keyspace(0).volatile_len(), 0);
    // The database works normally afterwards.
    db.execute(["SET", "t", "v", "EX", "100"]);
    assert_eq!(db.execute(["TTL", "t"]), int(100));
    assert_eq!(db.flushdb(FlushMode::Sync), 1);
    for i in 0..1000 {
        db1.set(format!("c{i}"), "v").unwrap();
    }
    assert_eq!(db.flushall(FlushMode::Async), 1000);
    assert_eq!(db1.dbsize(), 0);
}

#[test]
fn swapdb() {
    let db = db();
    let db1 = db.select(1).unwrap();
    db.execute(["SET", "a", "0", "EX", "100"]);
    db1.execute(["SET", "b", "1"]);
    assert_eq!(db.execute(["SWAPDB", "a", "1"]), err("ERR invalid first DB index"));
    assert_eq!(db.execute(["SWAPDB", "1", "b"]), err("ERR invalid second DB index"));
    assert_eq!(db.execute(["SWAPDB", "3000000000", "1"]), err("ERR invalid first DB index"));
    assert_eq!(db.execute(["SWAPDB", "0", "16"]), err("ERR DB index is out of range"));
    assert_eq!(db.execute(["SWAPDB", "-1", "1"]), err("ERR DB index is out of range"));
    assert_eq!(db.execute(["SWAPDB", "1", "1"]), RespValue::ok());
    assert_eq!(db.execute(["SWAPDB", "0", "1"]), RespValue::ok());
    assert_eq!(db.keys("*"), vec![b"b".to_vec()]);
    assert_eq!(db1.keys("*"), vec![b"a".to_vec()]);
    assert_eq!(db1.execute(["TTL", "a"]), int(100));
    db.swapdb(1, 0).unwrap();
    assert_eq!(db.get("a").unwrap(), Some(b"0".to_vec()));
    assert_eq!(db.swapdb(0, 99), Err(ferrous_core::Error::DbIndexOutOfRange));
}

#[test]
fn move_between_databases() {
    let (db, clock) = clocked();
    let db1 = db.select(1).unwrap();
    db.execute(["SET", "k", "v", "PX", "5000"]);
    assert_eq!(db.execute(["MOVE", "k", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(
        db.execute(["MOVE", "k", "3000000000"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(db.execute(["MOVE", "k", "16"]), err("ERR DB index is out of range"));
    assert_eq!(db.execute(["MOVE", "k", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(db.execute(["MOVE", "k", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(db.execute(["MOVE", "nope", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(db.execute(["MOVE", "nope", "1"]), int(0));
    assert_eq!(db.execute(["MOVE", "k", "1"]), int(1));
    assert_eq!(db.execute(["EXISTS", "k"]), int(0));
    assert_eq!(db1.execute(["PTTL", "k"]), int(5000));
    db.execute(["SET", "k", "other"]);
    assert_eq!(db1.execute(["MOVE", "k", "0"]), int(0), "exists in the target");
    assert_eq!(db.get("k").unwrap(), Some(b"other".to_vec()));
    db.del(&["k"]);
    assert_eq!(db1.move_key("k", 0), Ok(true));
    assert_eq!(db.pttl("k"), 5000);
    clock.advance(5000);
    assert_eq!(db.move_key("k", 1), Ok(false), "expired keys do not move");
    assert_eq!(db.move_key("k", 0), Err(ferrous_core::Error::SameObject));
}

#[test]
fn copy_within_and_across_databases() {
    let db = db();
    let db1 = db.select(1).unwrap();
    let db2 = db.select(2).unwrap();
    db.execute(["SET", "k", "v", "EX", "100"]);
    let same = err("ERR source and destination objects are the same");
    assert_eq!(db.execute(["COPY", "k", "k"]), same);
    assert_eq!(db.execute(["COPY", "k", "k", "DB", "0"]), same);
    assert_eq!(db.execute(["COPY", "nope", "nope"]), same);
    assert_eq!(db.execute(["COPY", "k", "k2", "DB"]), err("ERR syntax error"));
    assert_eq!(db.execute(["COPY", "k", "k2", "foo"]), err("ERR syntax error"));
    assert_eq!(db.execute(["COPY", "k", "k2", "DB", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(db.execute(["COPY", "k", "k2", "DB", "16"]), err("ERR DB index is out of range"));
    assert_eq!(db.execute(["COPY", "k", "k2", "DB", "99", "foo"]), err("ERR DB index is out of range"));
    assert_eq!(db.execute(["COPY", "k", "k2", "foo", "DB", "99"]), err("ERR syntax error"));
    assert_eq!(
        db.execute(["COPY", "k", "k2", "DB", "3000000000"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(db.execute(["COPY", "nope", "x"]), int(0));
    assert_eq!(db.execute(["COPY", "k", "k", "DB", "1"]), int(1));
    assert_eq!(db1.execute(["TTL", "k"]), int(100));
    assert_eq!(db.execute(["COPY", "k", "k3"]), int(1));
    assert_eq!(db.execute(["COPY", "k", "k3"]), int(0));
    db.execute(["SET", "k", "new"]);
    assert_eq!(db.execute(["COPY", "k", "k3", "REPLACE"]), int(1));
    assert_eq!(db.execute(["GET", "k3"]), RespValue::bulk("new"));
    assert_eq!(db.execute(["TTL", "k3"]), int(-1), "the destination takes the source's TTL");
    assert_eq!(db.execute(["COPY", "k", "k2", "replace", "REPLACE", "db", "1", "DB", "2"]), int(1));
    assert_eq!(db2.get("k2").unwrap(), Some(b"new".to_vec()));
    assert_eq!(db1.get("k2").unwrap(), None);
    // Encodings are preserved by the copy.
    db.execute(["SET", "n", "123"]);
    db.execute(["COPY", "n", "n2"]);
    assert_eq!(db.execute(["OBJECT", "ENCODING", "n2"]), RespValue::bulk("int"));
    db.set("s", "x".repeat(50)).unwrap();
    assert!(db.copy("s", "s2", CopyOptions::default()).unwrap());
    assert_eq!(db.object_encoding("s2"), Some("raw"));
    assert!(!db.copy("s", "s2", CopyOptions::default()).unwrap());
    assert!(db.copy("s", "s2", CopyOptions { db: Some(3), replace: false }).unwrap());
    assert_eq!(db.select(3).unwrap().get("s2").unwrap(), Some("x".repeat(50).into_bytes()));
    assert_eq!(db.copy("s", "s", CopyOptions::default()), Err(ferrous_core::Error::SameObject));
}

#[test]
fn object_subcommands() {
    let (db, clock) = clocked();
    let RespValue::Array(help) = db.execute(["OBJECT", "HELP"]) else { panic!("help is an array") };
    assert_eq!(help.len(), 15);
    assert_eq!(help[0], simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    assert_eq!(help[14], simple("    Prints this help."));
    for sub in ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT"] {
        assert_eq!(db.execute(["OBJECT", sub, "nope"]), RespValue::Null, "{sub}");
    }
    assert_eq!(db.execute(["OBJECT", "foo"]), err("ERR unknown subcommand 'foo'. Try OBJECT HELP."));
    assert_eq!(db.execute(["OBJECT", "help", "x"]), err("ERR wrong number of arguments for 'object|help' command"));
    assert_eq!(db.execute(["OBJECT", "encoding"]), err("ERR wrong number of arguments for 'object|encoding' command"));

    db.execute(["SET", "int", "5"]);
    db.execute(["SET", "big", "123456"]);
    db.execute(["SET", "emb", "hello"]);
    db.execute(["SET", "raw", &"a".repeat(45)]);
    assert_eq!(db.execute(["OBJECT", "ENCODING", "int"]), RespValue::bulk("int"));
    assert_eq!(db.execute(["OBJECT", "encoding", "emb"]), RespValue::bulk("embstr"));
    assert_eq!(db.execute(["OBJECT", "encoding", "raw"]), RespValue::bulk("raw"));
    assert_eq!(db.execute(["OBJECT", "REFCOUNT", "int"]), int(2147483647));
    assert_eq!(db.execute(["OBJECT", "REFCOUNT", "big"]), int(1));
    assert_eq!(db.execute(["OBJECT", "REFCOUNT", "emb"]), int(1));
    assert_eq!(
        db.execute(["OBJECT", "FREQ", "emb"]),
        err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );

    // IDLETIME: TYPE, TTL, EXISTS and OBJECT itself do not count as accesses.
    clock.advance(10_000);
    assert_eq!(db.execute(["OBJECT", "IDLETIME", "emb"]), int(10));
    db.execute(["TYPE", "emb"]);
    db.execute(["TTL", "emb"]);
    db.execute(["EXISTS", "emb"]);
    db.execute(["SCAN", "0"]);
    db.execute(["KEYS", "*"]);
    assert_eq!(db.object_idletime("emb"), Ok(Some(10)));
    db.execute(["GET", "emb"]);
    assert_eq!(db.object_idletime("emb"), Ok(Some(0)));
    clock.advance(3_000);
    db.execute(["TOUCH", "emb"]);
    assert_eq!(db.object_idletime("emb"), Ok(Some(0)));
    assert_eq!(db.object_idletime("int"), Ok(Some(13)));
    // RENAME looks its source up for writing, which counts as an access.
    db.execute(["RENAME", "int", "int2"]);
    assert_eq!(db.object_idletime("int2"), Ok(Some(0)));
    assert_eq!(db.object_refcount("nope"), None);
    assert_eq!(db.object_encoding("nope"), None);
}

#[test]
fn object_under_lfu_policy() {
    let mut config = ferrous_core::Config::default();
    config.set("maxmemory-policy", &["allkeys-lfu"], true).unwrap();
    let clock = Arc::new(ManualClock::at(T0));
    let db = Database::builder().config(config).clock(clock.clone()).active_expire(false).build();
    db.execute(["SET", "k", "hello"]);
    assert_eq!(db.execute(["OBJECT", "FREQ", "k"]), int(5));
    assert_eq!(
        db.execute(["OBJECT", "IDLETIME", "k"]),
        err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    assert_eq!(db.execute(["OBJECT", "IDLETIME", "nope"]), RespValue::Null);
    clock.advance(3 * 60_000);
    assert_eq!(db.object_freq("k"), Ok(Some(2)));
}

/// One entry of the model: value and optional deadline (absolute ms).
type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<i64>)>;

fn purge(model: &mut Model, now: i64) {
    model.retain(|_, (_, d)| d.map_or(true, |d| d > now));
}

/// Random operations against Ferrous and a `BTreeMap` model; every reply is compared.
#[test]
fn model_keys_and_expiry() {
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let (db, clock) = clocked();
    let mut model: Model = BTreeMap::new();
    let key = |rng: &mut StdRng| format!("k{}", rng.gen_range(0..12));
    let conds = ["", "NX", "XX", "GT", "LT", "XX GT", "XX LT"];
    for step in 0..20_000 {
        let now = clock_now(&clock);
        purge(&mut model, now);
        let k = key(&mut rng);
        let kb = k.clone().into_bytes();
        let ctx = format!("seed {seed} step {step}");
        match rng.gen_range(0..16) {
            0 | 1 => {
                let v = format!("v{step}");
                if rng.gen_bool(0.5) {
                    let ms = rng.gen_range(1..3000);
                    db.execute(["SET", &k, &v, "PX", &ms.to_string()]);
                    model.insert(kb, (v.into_bytes(), Some(now + ms)));
                } else {
                    db.execute(["SET", &k, &v]);
                    model.insert(kb, (v.into_bytes(), None));
                }
            }
            2 => {
                let k2 = key(&mut rng);
                let expect =
                    model.remove(&kb).is_some() as i64 + (k2 != k && model.remove(k2.as_bytes()).is_some()) as i64;
                assert_eq!(db.execute(["DEL", &k, &k2]), int(expect), "{ctx}");
            }
            3 | 4 => {
                let cond = conds[rng.gen_range(0..conds.len())];
                let (cmd, value, when) = match rng.gen_range(0..3) {
                    0 => {
                        let s = rng.gen_range(-2..5);
                        ("EXPIRE", s, now + s * 1000)
                    }
                    1 => {
                        let ms = rng.gen_range(-100..4000);
                        ("PEXPIRE", ms, now + ms)
                    }
                    _ => {
                        let at = now + rng.gen_range(-100..4000);
                        ("PEXPIREAT", at, at)
                    }
                };
                let mut args = vec![cmd.to_string(), k.clone(), value.to_string()];
                args.extend(cond.split(' ').filter(|c| !c.is_empty()).map(String::from));
                let expect = match model.get(&kb) {
                    None => 0,
                    Some(&(_, current)) => {
                        let ok = match cond {
                            "" => true,
                            "NX" => current.is_none(),
                            "XX" => current.is_some(),
                            "GT" | "XX GT" => matches!(current, Some(c) if when > c),
                            "LT" => !matches!(current, Some(c) if when >= c),
                            _ => matches!(current, Some(c) if when < c),
                        };
                        if ok {
                            if when <= now {
                                model.remove(&kb);
                            } else if let Some(e) = model.get_mut(&kb) {
                                e.1 = Some(when);
                            }
                        }
                        ok as i64
                    }
                };
                assert_eq!(db.execute(&args), int(expect), "{ctx}: {args:?}");
            }
            5 => {
                let expect = match model.get_mut(&kb) {
                    Some(e) if e.1.is_some() => {
                        e.1 = None;
                        1
                    }
                    _ => 0,
                };
                assert_eq!(db.execute(["PERSIST", &k]), int(expect), "{ctx}");
            }
            6 => {
                let (ttl, pttl, pat) = match model.get(&kb) {
                    None => (-2, -2, -2),
                    Some((_, None)) => (-1, -1, -1),
                    Some((_, Some(d))) => ((d - now + 500) / 1000, d - now, *d),
                };
                assert_eq!(db.execute(["TTL", &k]), int(ttl), "{ctx}");
                assert_eq!(db.execute(["PTTL", &k]), int(pttl), "{ctx}");
                assert_eq!(db.execute(["PEXPIRETIME", &k]), int(pat), "{ctx}");
            }
            7 | 8 => {
                let dst = key(&mut rng);
                let nx = rng.gen_bool(0.5);
                let reply = db.execute([if nx { "RENAMENX" } else { "RENAME" }, &k, &dst]);
                let expect = match model.get(&kb).cloned() {
                    None => err("ERR no such key"),
                    Some(_) if dst == k => {
                        if nx {
                            int(0)
                        } else {
                            RespValue::ok()
                        }
                    }
                    Some(_) if nx && model.contains_key(dst.as_bytes()) => int(0),
                    Some(e) => {
                        model.remove(&kb);
                        model.insert(dst.into_bytes(), e);
                        if nx {
                            int(1)
                        } else {
                            RespValue::ok()
                        }
                    }
                };
                assert_eq!(reply, expect, "{ctx}");
            }
            9 => {
                let dst = key(&mut rng);
                let replace = rng.gen_bool(0.5);
                let mut args = vec!["COPY", &k, &dst];
                if replace {
                    args.push("REPLACE");
                }
                let reply = db.execute(&args);
                let expect = if dst == k {
                    err("ERR source and destination objects are the same")
                } else {
                    match model.get(&kb).cloned() {
                        None => int(0),
                        Some(_) if !replace && model.contains_key(dst.as_bytes()) => int(0),
                        Some(e) => {
                            model.insert(dst.into_bytes(), e);
                            int(1)
                        }
                    }
                };
                assert_eq!(reply, expect, "{ctx}");
            }
            10 => {
                let expect = model.get(&kb).map_or(RespValue::Null, |(v, _)| RespValue::bulk(v));
                assert_eq!(db.execute(["GET", &k]), expect, "{ctx}");
                let t = if model.contains_key(&kb) { "string" } else { "none" };
                assert_eq!(db.execute(["TYPE", &k]), simple(t), "{ctx}");
                assert_eq!(db.execute(["EXISTS", &k]), int(model.contains_key(&kb) as i64), "{ctx}");
            }
            11 => {
                let live: Vec<Vec<u8>> = model.keys().cloned().collect();
                assert_eq!(key_set(&db.execute(["KEYS", "*"])), live, "{ctx}");
                let mut scanned = full_scan(&db, &["COUNT", "3"]);
                scanned.sort();
                scanned.dedup();
                assert_eq!(scanned, live, "{ctx}");
                assert!(db.dbsize() >= live.len(), "{ctx}");
            }
            12 => match db.execute(["RANDOMKEY"]) {
                RespValue::Null => assert!(model.is_empty(), "{ctx}"),
                RespValue::Bulk(k) => assert!(model.contains_key(&k), "{ctx}"),
                other => panic!("{ctx}: {other:?}"),
            },
            13 => {
                if rng.gen_range(0..50) == 0 {
                    assert_eq!(db.execute(["FLUSHDB"]), RespValue::ok());
                    model.clear();
                }
            }
            _ => clock.advance(rng.gen_range(0..700)),
        }
    }
}

#[test]
fn generic_keyspace_events() {
    let db = db();
    let flags = ferrous_core::notify::parse_flags("gE").unwrap();
    db.inner().notify_flags.store(flags, Ordering::Relaxed);
    let mut sub = db.psubscribe(&["__keyevent@*"]);
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["DEL", "a", "nope"],
        &["SET", "b", "1"],
        &["EXPIRE", "b", "100"],
        &["PERSIST", "b"],
        &["PERSIST", "b"],
        &["EXPIRE", "b", "-1"],
        &["SET", "c", "1"],
        &["RENAME", "c", "d"],
        &["MOVE", "d", "1"],
        &["SET", "f", "1"],
        &["COPY", "f", "g"],
        &["COPY", "f", "g", "DB", "2"],
        &["UNLINK", "f"],
        &["FLUSHDB"],
        &["SWAPDB", "0", "1"],
    ];
    for cmd in script {
        db.execute(*cmd);
    }
    let mut got = Vec::new();
    while let Some(m) = sub.try_recv() {
        got.push(format!("{} {}", String::from_utf8_lossy(&m.channel), String::from_utf8_lossy(&m.payload)));
    }
    let want = [
        "__keyevent@0__:del a",
        "__keyevent@0__:expire b",
        "__keyevent@0__:persist b",
        "__keyevent@0__:del b",
        "__keyevent@0__:rename_from c",
        "__keyevent@0__:rename_to d",
        "__keyevent@0__:move_from d",
        "__keyevent@1__:move_to d",
        "__keyevent@0__:copy_to g",
        "__keyevent@2__:copy_to g",
        "__keyevent@0__:del f",
    ];
    assert_eq!(got, want);
}

/// One persistent client connection (for SELECT, WATCH, MULTI/EXEC).
struct Session {
    db: Database,
    client: ferrous_core::ClientState,
}

impl Session {
    fn new(db: &Database) -> Session {
        let mut client = db.connect(ferrous_core::ConnectionInfo::default());
        client.authenticated = true;
        Session { db: db.clone(), client }
    }
    fn run(&mut self, args: &[&str]) -> RespValue {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.client, argv.as_args(), &mut out);
        ferrous_resp::parse_value(&out).expect("valid reply").expect("complete reply").0
    }
}

#[test]
fn watch_sees_move_copy_and_flush_into_other_databases() {
    let db = db();
    let mut watcher = Session::new(&db);
    let mut other = Session::new(&db);
    // MOVE into the watcher's database.
    watcher.run(&["SELECT", "1"]);
    assert_eq!(watcher.run(&["WATCH", "k"]), RespValue::ok());
    other.run(&["SET", "k", "v"]);
    assert_eq!(other.run(&["MOVE", "k", "1"]), int(1));
    watcher.run(&["MULTI"]);
    watcher.run(&["GET", "k"]);
    assert_eq!(watcher.run(&["EXEC"]), RespValue::NullArray);
    // COPY ... DB into the watcher's database.
    assert_eq!(watcher.run(&["WATCH", "c"]), RespValue::ok());
    other.run(&["SET", "src", "v"]);
    assert_eq!(other.run(&["COPY", "src", "c", "DB", "1"]), int(1));
    watcher.run(&["MULTI"]);
    assert_eq!(watcher.run(&["EXEC"]), RespValue::NullArray);
    // FLUSHALL of a database holding the watched key.
    assert_eq!(watcher.run(&["WATCH", "c"]), RespValue::ok());
    assert_eq!(other.run(&["FLUSHALL"]), RespValue::ok());
    watcher.run(&["MULTI"]);
    assert_eq!(watcher.run(&["EXEC"]), RespValue::NullArray);
    // Untouched: the transaction runs.
    assert_eq!(watcher.run(&["WATCH", "c"]), RespValue::ok());
    other.run(&["SET", "c", "in db 0"]);
    watcher.run(&["MULTI"]);
    watcher.run(&["DBSIZE"]);
    assert_eq!(watcher.run(&["EXEC"]), RespValue::Array(vec![int(0)]));
}

/// Inside EXEC every shard is already held: the whole-database commands must not lock again.
#[test]
fn keyspace_commands_inside_multi_exec() {
    let db = db();
    let mut s = Session::new(&db);
    s.run(&["SET", "a", "1"]);
    s.run(&["SET", "b", "2", "EX", "100"]);
    s.run(&["MULTI"]);
    for cmd in [
        &["KEYS", "*"][..],
        &["SCAN", "0", "COUNT", "1000"],
        &["DBSIZE"],
        &["RANDOMKEY"],
        &["TTL", "b"],
        &["OBJECT", "ENCODING", "a"],
        &["MOVE", "a", "1"],
        &["COPY", "b", "b", "DB", "2"],
        &["SWAPDB", "0", "3"],
        &["DBSIZE"],
        &["SWAPDB", "0", "3"],
        &["RENAME", "b", "c"],
        &["FLUSHDB"],
        &["FLUSHALL", "ASYNC"],
        &["DBSIZE"],
    ] {
        assert_eq!(s.run(cmd), simple("QUEUED"));
    }
    let RespValue::Array(replies) = s.run(&["EXEC"]) else { panic!("EXEC failed") };
    assert_eq!(replies.len(), 15);
    assert_eq!(key_set(&replies[0]), vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(replies[2], int(2));
    assert_eq!(replies[4], int(100));
    assert_eq!(replies[6], int(1));
    assert_eq!(replies[7], int(1));
    assert_eq!(replies[9], int(0));
    assert_eq!(replies[11], RespValue::ok());
    assert_eq!(replies[14], int(0));
    assert_eq!(db.select(1).unwrap().dbsize(), 0);
}
