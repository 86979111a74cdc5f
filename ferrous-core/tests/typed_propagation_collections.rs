//! The typed API's collection writes in the change stream (and so in the AOF and on
//! replicas): each write's form matches what the command handler (and Redis 7.0) propagates
//! for the same command, including Redis's rewrites (SPOP as SREM/DEL, HINCRBYFLOAT as HSET,
//! XADD * with the generated ID, blocking pops as the pop that took effect), and replaying
//! the stream through the command table rebuilds identical data (DEBUG DIGEST). Keys that
//! get emptied, WRONGTYPE errors and NX/XX no-ops propagate nothing beyond what changed.
#[path = "support/replay.rs"]
mod replay;

use ferrous_core::list::ListEnd;
use ferrous_core::{Database, RespValue};
use replay::Mirror;
use std::time::{Duration, Instant};

/// Waits until `n` clients are blocked (a typed blocking call on another thread).
fn wait_blocked(db: &Database, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    let start = Instant::now();
    loop {
        if let RespValue::Bulk(info) = db.execute(["INFO", "clients"]) {
            if String::from_utf8_lossy(&info).contains(&want) {
                return;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never saw {n} blocked clients");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn strs(v: &[Vec<u8>]) -> Vec<String> {
    v.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect()
}

#[test]
fn lists_propagate_as_redis_does() {
    let mut m = Mirror::new();
    assert_eq!(m.db.rpush("l", ["a", "b", "c"]).unwrap(), 3);
    m.db.lpush("l", vec![b"z".to_vec()]).unwrap();
    assert_eq!(m.db.lpushx("nolist", ["x"]).unwrap(), 0);
    assert_eq!(m.db.rpushx("nolist", ["x"]).unwrap(), 0);
    m.db.rpushx("l", ["d", "e"]).unwrap();
    m.db.lpushx("l", ["y"]).unwrap();
    m.expect(&["RPUSH l a b c", "LPUSH l z", "RPUSHX l d e", "LPUSHX l y"]);
    assert_eq!(m.db.lpop("l").unwrap(), Some(b"y".to_vec()));
    assert_eq!(m.db.rpop_count("l", 2).unwrap().unwrap().len(), 2);
    assert_eq!(m.db.lpop_count("l", 0).unwrap(), Some(vec![]));
    assert_eq!(m.db.rpop("nolist").unwrap(), None);
    m.db.lpop_count("l", 1).unwrap();
    m.db.rpop("l").unwrap();
    m.expect(&["LPOP l", "RPOP l 2", "LPOP l 1", "RPOP l"]);
    m.db.rpush("l", ["1", "2", "3", "2", "1"]).unwrap();
    m.db.lset("l", -1, "last").unwrap();
    assert_eq!(m.db.linsert("l", true, "3", "after3").unwrap(), 8);
    assert_eq!(m.db.linsert("l", false, "nopivot", "x").unwrap(), -1);
    m.db.linsert("l", false, "1", "first").unwrap();
    assert_eq!(m.db.lrem("l", -1, "2").unwrap(), 1);
    assert_eq!(m.db.lrem("l", 0, "absent").unwrap(), 0);
    m.db.ltrim("l", 1, -2).unwrap();
    m.sync();
    assert_eq!(
        m.log[m.log.len() - 6..],
        [
            "RPUSH l 1 2 3 2 1",
            "LSET l -1 last",
            "LINSERT l AFTER 3 after3",
            "LINSERT l BEFORE 1 first",
            "LREM l -1 2",
            "LTRIM l 1 -2"
        ]
    );
    m.check("list edits");

    m.db.rpush("src", ["s1", "s2", "s3", "s4", "s5"]).unwrap();
    m.sync();
    m.db.lmove("src", "dst", ListEnd::Left, ListEnd::Right).unwrap();
    m.db.rpoplpush("src", "dst").unwrap();
    assert_eq!(m.db.lmove("missing", "dst", ListEnd::Left, ListEnd::Left).unwrap(), None);
    let (k, popped) = m.db.lmpop(&["missing", "src"], ListEnd::Right, 10).unwrap().unwrap();
    assert_eq!((k.as_slice(), popped.len()), (&b"src"[..], 3));
    assert_eq!(m.db.lmpop(&["missing", "src"], ListEnd::Left, 1).unwrap(), None);
    m.expect(&["LMOVE src dst LEFT RIGHT", "RPOPLPUSH src dst", "RPOP src 3"]);
    // Emptied lists are deleted on both sides.
    m.db.ltrim("dst", 5, 10).unwrap();
    m.db.rpush("e", ["only"]).unwrap();
    m.db.lrem("e", 0, "only").unwrap();
    m.check("emptied lists");
    assert_eq!(m.db.execute(["EXISTS", "src", "dst", "e"]), RespValue::Integer(0));

    // WRONGTYPE propagates nothing.
    m.db.set("str", "v").unwrap();
    m.sync();
    assert!(m.db.rpush("str", ["x"]).is_err());
    assert!(m.db.lpop("str").is_err());
    assert!(m.db.lset("str", 0, "x").is_err());
    assert!(m.db.lmove("str", "d", ListEnd::Left, ListEnd::Left).is_err());
    assert!(m.db.lmpop(&["str"], ListEnd::Left, 1).is_err());
    m.expect(&[]);
    m.check("lists");
}

#[test]
fn blocking_list_pops_propagate_once_as_the_pop_that_took_effect() {
    let mut m = Mirror::new();
    let t = Duration::from_secs(5);
    m.db.rpush("src", ["1", "2", "3", "4", "5", "6"]).unwrap();
    m.sync();
    // Served at once: the handler's rewrite.
    assert_eq!(m.db.blpop(&["none", "src"], t).unwrap(), Some((b"src".to_vec(), b"1".to_vec())));
    m.db.brpop(&["src"], t).unwrap();
    m.db.blmove("src", "dst", ListEnd::Left, ListEnd::Right, t).unwrap();
    m.db.brpoplpush("src", "dst", t).unwrap();
    m.db.blmpop(&["none", "src"], ListEnd::Right, 5, t).unwrap();
    m.expect(&["LPOP src", "RPOP src", "LMOVE src dst LEFT RIGHT", "RPOPLPUSH src dst", "RPOP src 2"]);
    // A timeout propagates nothing.
    assert_eq!(m.db.blpop(&["none"], Duration::from_millis(5)).unwrap(), None);
    assert_eq!(m.db.blmove("none", "dst", ListEnd::Left, ListEnd::Left, Duration::from_millis(5)).unwrap(), None);
    m.expect(&[]);
    m.check("blocking pops served at once");

    // Served by a typed push on another thread: the push, then the pop, once each.
    let db = m.db.clone();
    let waiter = std::thread::spawn(move || db.blpop(&["q"], Duration::ZERO).unwrap());
    wait_blocked(&m.db, 1);
    m.db.rpush("q", ["x", "y"]).unwrap();
    assert_eq!(waiter.join().unwrap(), Some((b"q".to_vec(), b"x".to_vec())));
    m.expect(&["RPUSH q x y", "LPOP q"]);

    // A chain: BLMOVE's move serves a BLMPOP waiting on its destination.
    let (db1, db2) = (m.db.clone(), m.db.clone());
    let mover =
        std::thread::spawn(move || db1.blmove("a", "b", ListEnd::Right, ListEnd::Left, Duration::ZERO).unwrap());
    wait_blocked(&m.db, 1);
    let popper = std::thread::spawn(move || db2.blmpop(&["b"], ListEnd::Left, 3, Duration::ZERO).unwrap());
    wait_blocked(&m.db, 2);
    m.db.lpush("a", ["v1", "v2"]).unwrap();
    assert_eq!(mover.join().unwrap(), Some(b"v1".to_vec()));
    let (k, elems) = popper.join().unwrap().unwrap();
    assert_eq!((k, strs(&elems)), (b"b".to_vec(), vec!["v1".to_string()]));
    m.expect(&["LPUSH a v1 v2", "LMOVE a b RIGHT LEFT", "LPOP b 1"]);
    m.check("blocking pops served by typed pushes");
}

#[test]
fn sets_propagate_as_redis_does() {
    let mut m = Mirror::new();
    assert_eq!(m.db.sadd("s", &["a", "b", "c", "a"]).unwrap(), 3);
    assert_eq!(m.db.sadd("s", &["a"]).unwrap(), 0);
    assert_eq!(m.db.srem("s", &["absent"]).unwrap(), 0);
    assert_eq!(m.db.srem("nokey", &["a"]).unwrap(), 0);
    m.db.srem("s", &["c", "absent"]).unwrap();
    m.expect(&["SADD s a b c a", "SREM s c absent"]);
    // SPOP is propagated as its effect.
    let p = String::from_utf8(m.db.spop("s").unwrap().unwrap()).unwrap();
    assert_eq!(m.db.spop("nokey").unwrap(), None);
    m.expect(&[&format!("SREM s {p}")]);
    let members: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    m.db.sadd("big", &members).unwrap();
    m.sync();
    let popped = strs(&m.db.spop_count("big", 3).unwrap());
    assert_eq!(popped.len(), 3);
    let mut want = vec!["MULTI".to_string()];
    want.extend(popped.iter().map(|p| format!("SREM big {p}")));
    want.push("EXEC".into());
    assert_eq!(m.sync(), want);
    // Case 3 of SPOP (most of the set) still propagates the members it popped.
    assert_eq!(m.db.spop_count("big", 15).unwrap().len(), 15);
    m.check("spop count");
    assert!(m.db.spop_count("big", 0).unwrap().is_empty());
    assert!(m.db.spop_count("nokey", 3).unwrap().is_empty());
    m.expect(&[]);
    // The whole set: a DEL.
    assert_eq!(m.db.spop_count("big", 100).unwrap().len(), 2);
    m.expect(&["DEL big"]);
    m.check("spop");

    m.db.sadd("x", &["1", "2", "3"]).unwrap();
    m.db.sadd("y", &["2", "3", "4"]).unwrap();
    m.sync();
    assert!(m.db.smove("x", "y", "1").unwrap());
    assert!(!m.db.smove("x", "y", "absent").unwrap());
    assert_eq!(m.db.sinterstore("i", &["x", "y"]).unwrap(), 2);
    assert_eq!(m.db.sunionstore("u", &["x", "y", "nokey"]).unwrap(), 4);
    assert_eq!(m.db.sdiffstore("d", &["y", "x"]).unwrap(), 2);
    m.expect(&["SMOVE x y 1", "SINTERSTORE i x y", "SUNIONSTORE u x y nokey", "SDIFFSTORE d y x"]);
    // An empty result deletes the destination (propagated); into a missing one, nothing.
    assert_eq!(m.db.sinterstore("i", &["x", "nokey"]).unwrap(), 0);
    assert_eq!(m.db.sdiffstore("nodst", &["nokey"]).unwrap(), 0);
    m.expect(&["SINTERSTORE i x nokey"]);
    // Emptied sets are deleted.
    m.db.srem("x", &["2", "3"]).unwrap();
    assert!(m.db.smove("d", "x", "1").unwrap());
    m.check("set stores");

    m.db.set("str", "v").unwrap();
    m.sync();
    assert!(m.db.sadd("str", &["a"]).is_err());
    assert!(m.db.spop("str").is_err());
    assert!(m.db.spop_count("str", 2).is_err());
    assert!(m.db.smove("str", "y", "a").is_err());
    assert!(m.db.sunionstore("dst", &["y", "str"]).is_err());
    m.expect(&[]);
    m.check("sets");
}
