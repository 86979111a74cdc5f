//! The typed API's collection writes in the change stream (and so in the AOF and on
//! replicas): each write's form matches what the command handler (and Redis 7.0) propagates
//! for the same command, including Redis's rewrites (SPOP as SREM/DEL, HINCRBYFLOAT as HSET,
//! XADD * with the generated ID, blocking pops as the pop that took effect), and replaying
//! the stream through the command table rebuilds identical data (DEBUG DIGEST). Keys that
//! get emptied, WRONGTYPE errors and NX/XX no-ops propagate nothing beyond what changed.
#[path = "support/replay.rs"]
mod replay;
#[path = "support/tools.rs"]
mod tools;

use ferrous_core::list::ListEnd;
use ferrous_core::{Database, RespValue};
use replay::Mirror;
use std::time::{Duration, Instant};

/// How long a blocked typed call waits for the write that should serve it (a missing serve
/// fails the test instead of hanging it).
const WAIT: Duration = Duration::from_secs(10);

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
    let waiter = std::thread::spawn(move || db.blpop(&["q"], WAIT).unwrap());
    wait_blocked(&m.db, 1);
    m.db.rpush("q", ["x", "y"]).unwrap();
    assert_eq!(waiter.join().unwrap(), Some((b"q".to_vec(), b"x".to_vec())));
    m.expect(&["RPUSH q x y", "LPOP q"]);

    // A chain: BLMOVE's move serves a BLMPOP waiting on its destination.
    let (db1, db2) = (m.db.clone(), m.db.clone());
    let mover = std::thread::spawn(move || db1.blmove("a", "b", ListEnd::Right, ListEnd::Left, WAIT).unwrap());
    wait_blocked(&m.db, 1);
    let popper = std::thread::spawn(move || db2.blmpop(&["b"], ListEnd::Left, 3, WAIT).unwrap());
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

#[test]
fn sorted_sets_propagate_as_redis_does() {
    use ferrous_core::zset::{Aggregate, LexBound, LexRange, ScoreRange, ZAddOptions, ZRange};
    let mut m = Mirror::new();
    assert_eq!(m.db.zadd("z", &[(1.0, "a"), (2.5, "b"), (0.1, "c")]).unwrap(), 3);
    let nx = ZAddOptions { nx: true, ..Default::default() };
    assert_eq!(m.db.zadd_with("z", &[(9.0, "a")], nx).unwrap(), 0);
    let xx_ch = ZAddOptions { xx: true, ch: true, ..Default::default() };
    assert_eq!(m.db.zadd_with("z", &[(9.0, "new")], xx_ch).unwrap(), 0);
    assert_eq!(m.db.zadd("z", &[(1.0, "a")]).unwrap(), 0);
    m.expect(&["ZADD z 1 a 2.5 b 0.10000000000000001 c"]);
    assert_eq!(m.db.zadd_with("z", &[(3.0, "b"), (5.0, "d")], xx_ch).unwrap(), 1);
    let gt = ZAddOptions { gt: true, ..Default::default() };
    assert_eq!(m.db.zadd_incr("z", -1.0, "a", gt).unwrap(), None);
    assert_eq!(m.db.zadd_incr("z", 2.0, "a", gt).unwrap(), Some(3.0));
    assert_eq!(m.db.zincrby("z", f64::INFINITY, "inf").unwrap(), f64::INFINITY);
    assert_eq!(m.db.zincrby("z", -0.25, "c").unwrap(), -0.15);
    m.expect(&["ZADD z XX CH 3 b 5 d", "ZADD z GT INCR 2 a", "ZINCRBY z inf inf", "ZINCRBY z -0.25 c"]);
    assert_eq!(m.db.zrem("z", &["inf", "absent"]).unwrap(), 1);
    assert_eq!(m.db.zrem("z", &["absent"]).unwrap(), 0);
    m.expect(&["ZREM z inf absent"]);
    m.check("zadd");

    let members: Vec<(f64, String)> = (0..10).map(|i| (i as f64 * 1.5, format!("m{i}"))).collect();
    m.db.zadd("big", &members).unwrap();
    m.db.zadd("lex", &[(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")]).unwrap();
    m.sync();
    let score = ZRange::score(ScoreRange { min: 1.5, min_exclusive: true, max: 9.0, max_exclusive: false });
    assert_eq!(m.db.zrangestore("d1", "big", &score.rev()).unwrap(), 5);
    assert_eq!(m.db.zrangestore("d2", "big", &ZRange::rank(-3, -1).rev()).unwrap(), 3);
    let lex = LexRange { min: LexBound::Exclusive(b"a".to_vec()), max: LexBound::PosInf };
    let q = ZRange { by: ferrous_core::zset::ZRangeBy::Lex(lex.clone()), rev: false, limit: Some((1, 5)) };
    assert_eq!(m.db.zrangestore("d3", "lex", &q).unwrap(), 2);
    m.expect(&[
        "ZRANGESTORE d1 big 9 (1.5 BYSCORE REV",
        "ZRANGESTORE d2 big -3 -1 REV",
        "ZRANGESTORE d3 lex (a + BYLEX LIMIT 1 5",
    ]);
    assert_eq!(m.db.zremrangebyrank("big", 0, 1).unwrap(), 2);
    assert_eq!(
        m.db.zremrangebyscore("big", &ScoreRange { min: 4.5, min_exclusive: false, max: 6.0, max_exclusive: true })
            .unwrap(),
        1
    );
    assert_eq!(m.db.zremrangebyscore("big", &ScoreRange::inclusive(100.0, 200.0)).unwrap(), 0);
    let lex_all = LexRange { min: LexBound::NegInf, max: LexBound::Inclusive(b"b".to_vec()) };
    assert_eq!(m.db.zremrangebylex("lex", &lex_all).unwrap(), 2);
    m.expect(&["ZREMRANGEBYRANK big 0 1", "ZREMRANGEBYSCORE big 4.5 (6", "ZREMRANGEBYLEX lex - [b"]);
    m.check("zset ranges");

    assert_eq!(m.db.zpopmin("big", 2).unwrap().len(), 2);
    assert_eq!(m.db.zpopmax("big", 1).unwrap().len(), 1);
    assert!(m.db.zpopmax("big", 0).unwrap().is_empty());
    assert!(m.db.zpopmin("nokey", 1).unwrap().is_empty());
    let (k, popped) = m.db.zmpop(&["nokey", "big"], true, 2).unwrap().unwrap();
    assert_eq!((k.as_slice(), popped.len()), (&b"big"[..], 2));
    assert_eq!(m.db.zmpop(&["nokey"], false, 2).unwrap(), None);
    m.expect(&["ZPOPMIN big 2", "ZPOPMAX big 1", "ZPOPMAX big 2"]);
    // Emptied: deleted on both sides.
    let (_, rest) = m.db.zmpop(&["big"], false, 100).unwrap().unwrap();
    m.expect(&[&format!("ZPOPMIN big {}", rest.len())]);
    m.db.zremrangebylex("lex", &LexRange::all()).unwrap();
    m.check("zset pops");

    m.db.zadd("x", &[(1.0, "a"), (2.0, "b")]).unwrap();
    m.db.zadd("y", &[(10.0, "b"), (20.0, "c")]).unwrap();
    m.sync();
    assert_eq!(m.db.zunionstore("u", &["x", "y"], &[2.0, 0.5], Aggregate::Max).unwrap(), 3);
    assert_eq!(m.db.zinterstore("i", &["x", "y"], &[], Aggregate::Sum).unwrap(), 1);
    assert_eq!(m.db.zdiffstore("d", &["x", "y"]).unwrap(), 1);
    assert_eq!(m.db.zinterstore("i", &["x", "nokey"], &[], Aggregate::Min).unwrap(), 0);
    assert_eq!(m.db.zdiffstore("nodst", &["nokey"]).unwrap(), 0);
    m.expect(&[
        "ZUNIONSTORE u 2 x y WEIGHTS 2 0.5 AGGREGATE MAX",
        "ZINTERSTORE i 2 x y",
        "ZDIFFSTORE d 2 x y",
        "ZINTERSTORE i 2 x nokey AGGREGATE MIN",
    ]);
    m.check("zset stores");

    m.db.set("str", "v").unwrap();
    m.sync();
    assert!(m.db.zadd("str", &[(1.0, "a")]).is_err());
    assert!(m.db.zincrby("str", 1.0, "a").is_err());
    assert!(m.db.zpopmin("str", 1).is_err());
    assert!(m.db.zunionstore("u", &["x", "str"], &[], Aggregate::Sum).is_err());
    assert!(m.db.zrangestore("u", "str", &ZRange::rank(0, -1)).is_err());
    m.expect(&[]);
    m.check("zsets");
}

#[test]
fn blocking_zset_pops_propagate_as_the_pop_that_took_effect() {
    let mut m = Mirror::new();
    let t = Duration::from_secs(5);
    m.db.zadd("z", &[(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d")]).unwrap();
    m.sync();
    assert_eq!(m.db.bzpopmin(&["none", "z"], t).unwrap(), Some((b"z".to_vec(), b"a".to_vec(), 1.0)));
    m.db.bzpopmax(&["z"], t).unwrap();
    m.db.bzmpop(&["z"], false, 5, t).unwrap();
    m.expect(&["ZPOPMIN z", "ZPOPMAX z", "ZPOPMIN z 2"]);
    assert_eq!(m.db.bzpopmin(&["z"], Duration::from_millis(5)).unwrap(), None);
    m.expect(&[]);

    // Served by a typed ZADD on another thread.
    let db = m.db.clone();
    let waiter = std::thread::spawn(move || db.bzpopmax(&["q"], WAIT).unwrap());
    wait_blocked(&m.db, 1);
    m.db.zadd("q", &[(5.0, "five"), (7.0, "seven")]).unwrap();
    assert_eq!(waiter.join().unwrap(), Some((b"q".to_vec(), b"seven".to_vec(), 7.0)));
    m.expect(&["ZADD q 5 five 7 seven", "ZPOPMAX q"]);
    let db = m.db.clone();
    let waiter = std::thread::spawn(move || db.bzmpop(&["w"], true, 3, WAIT).unwrap());
    wait_blocked(&m.db, 1);
    m.db.zunionstore("w", &["q"], &[], ferrous_core::zset::Aggregate::Sum).unwrap();
    assert_eq!(waiter.join().unwrap().unwrap().1.len(), 1);
    m.expect(&["ZUNIONSTORE w 1 q", "ZPOPMAX w 1"]);
    m.check("blocking zset pops");
}

#[test]
fn hashes_propagate_as_redis_does() {
    let mut m = Mirror::new();
    assert_eq!(m.db.hset("h", &[("a", "1"), ("b", "2")]).unwrap(), 2);
    assert_eq!(m.db.hset("h", &[("a", "1")]).unwrap(), 0);
    assert!(!m.db.hsetnx("h", "a", "other").unwrap());
    assert!(m.db.hsetnx("h", "c", "3").unwrap());
    m.expect(&["HSET h a 1 b 2", "HSET h a 1", "HSETNX h c 3"]);
    assert_eq!(m.db.hincrby("h", "a", 41).unwrap(), 42);
    assert_eq!(m.db.hincrbyfloat("h", "f", "0.1").unwrap(), b"0.1".to_vec());
    assert_eq!(m.db.hincrbyfloat("h", "f", "0.2").unwrap(), b"0.3".to_vec());
    assert_eq!(m.db.hincrbyfloat("h", "x", "0x10").unwrap(), b"16".to_vec());
    assert!(m.db.hincrbyfloat("h", "b", "inf").is_err());
    m.expect(&["HINCRBY h a 41", "HSET h f 0.1", "HSET h f 0.3", "HSET h x 16"]);
    assert_eq!(m.db.hdel("h", &["b", "absent"]).unwrap(), 1);
    assert_eq!(m.db.hdel("h", &["absent"]).unwrap(), 0);
    assert_eq!(m.db.hdel("nokey", &["a"]).unwrap(), 0);
    m.expect(&["HDEL h b absent"]);
    m.check("hash edits");
    // Emptied: deleted on both sides.
    m.db.hdel("h", &["a", "c", "f", "x"]).unwrap();
    assert_eq!(m.db.execute(["EXISTS", "h"]), RespValue::Integer(0));
    m.check("emptied hash");
    m.db.set("str", "v").unwrap();
    m.sync();
    assert!(m.db.hset("str", &[("a", "1")]).is_err());
    assert!(m.db.hincrby("str", "a", 1).is_err());
    assert!(m.db.hincrbyfloat("str", "a", "1").is_err());
    assert!(m.db.hdel("str", &["a"]).is_err());
    m.expect(&[]);
    m.check("hashes");
}

#[test]
fn geo_propagates_as_redis_does() {
    use ferrous_core::{GeoAddOptions, GeoFrom, GeoSearch, GeoShape, GeoUnit};
    let mut m = Mirror::new();
    let sicily = [(13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania")];
    assert_eq!(m.db.geoadd("Sicily", &sicily).unwrap(), 2);
    let nx_ch = GeoAddOptions { nx: true, ch: true, ..Default::default() };
    assert_eq!(m.db.geoadd_with("Sicily", &[(13.0, 38.0, "Palermo")], nx_ch).unwrap(), 0);
    let xx_ch = GeoAddOptions { xx: true, ch: true, ..Default::default() };
    assert_eq!(m.db.geoadd_with("Sicily", &[(13.5, 38.2, "Palermo"), (12.0, 37.0, "Marsala")], xx_ch).unwrap(), 1);
    assert!(m.db.geoadd("Sicily", &[(200.0, 0.0, "bad")]).is_err());
    let want = [
        "zadd Sicily 3479099956230698 Palermo 3479447370796909 Catania",
        "zadd Sicily XX CH 3479101704338477 Palermo 3475952690022668 Marsala",
    ];
    m.expect(&want);
    // The same as the GEOADD handler propagates.
    let mut c = Mirror::new();
    c.db.execute(["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]);
    c.db.execute(["GEOADD", "Sicily", "XX", "CH", "13.5", "38.2", "Palermo", "12", "37", "Marsala"]);
    c.expect(&want);
    let q = GeoSearch::new(GeoFrom::LonLat(15.0, 37.0), GeoShape::Radius(200.0), GeoUnit::Kilometers).asc();
    assert_eq!(m.db.geosearchstore("near", "Sicily", &q, false).unwrap(), 2);
    let mut q2 = GeoSearch::new(
        GeoFrom::Member(b"Catania".to_vec()),
        GeoShape::Box { width: 400.5, height: 300.25 },
        GeoUnit::Miles,
    );
    q2.count = Some(1);
    q2.any = true;
    assert_eq!(m.db.geosearchstore("box", "Sicily", &q2, true).unwrap(), 1);
    let far = GeoSearch::new(GeoFrom::LonLat(-100.0, 40.0), GeoShape::Radius(1.5), GeoUnit::Feet);
    assert_eq!(m.db.geosearchstore("nothing", "Sicily", &far, false).unwrap(), 0);
    m.expect(&[
        "GEOSEARCHSTORE near Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC",
        "GEOSEARCHSTORE box Sicily FROMMEMBER Catania BYBOX 400.5 300.25 mi COUNT 1 ANY STOREDIST",
    ]);
    // An empty result deletes an existing destination.
    assert_eq!(m.db.geosearchstore("near", "Sicily", &far, false).unwrap(), 0);
    m.expect(&["GEOSEARCHSTORE near Sicily FROMLONLAT -100 40 BYRADIUS 1.5 ft"]);
    m.check("geo");
    m.db.set("str", "v").unwrap();
    m.sync();
    assert!(m.db.geoadd("str", &sicily).is_err());
    assert!(m.db.geosearchstore("x", "str", &q, false).is_err());
    m.expect(&[]);
    m.check("geo wrongtype");
}

#[test]
fn bitmaps_propagate_as_redis_does() {
    use ferrous_core::{BitOp, BitfieldOp, BitfieldOverflow, BitfieldType};
    let mut m = Mirror::new();
    assert!(!m.db.setbit("b", 7, true).unwrap());
    assert!(m.db.setbit("b", 7, false).unwrap());
    assert!(!m.db.setbit("b", 100, true).unwrap());
    m.expect(&["SETBIT b 7 1", "SETBIT b 7 0", "SETBIT b 100 1"]);
    m.db.set("s1", "foobar").unwrap();
    m.db.set("s2", "abcdef").unwrap();
    m.sync();
    assert_eq!(m.db.bitop(BitOp::Xor, "x", &["s1", "s2"]).unwrap(), 6);
    assert_eq!(m.db.bitop(BitOp::Not, "n", &["s1"]).unwrap(), 6);
    // An empty result deletes the destination; none to delete, nothing happens.
    assert_eq!(m.db.bitop(BitOp::And, "x", &["nokey"]).unwrap(), 0);
    assert_eq!(m.db.bitop(BitOp::Or, "none", &["nokey"]).unwrap(), 0);
    m.expect(&["BITOP XOR x s1 s2", "BITOP NOT n s1", "BITOP AND x nokey"]);
    let (u8t, i5) = (BitfieldType::unsigned(8).unwrap(), BitfieldType::signed(5).unwrap());
    let ops = [
        BitfieldOp::Set(u8t, 0, 250),
        BitfieldOp::Overflow(BitfieldOverflow::Sat),
        BitfieldOp::IncrBy(u8t, 0, 10),
        BitfieldOp::Overflow(BitfieldOverflow::Fail),
        BitfieldOp::IncrBy(i5, 11, -100),
        BitfieldOp::Get(i5, 3),
    ];
    assert_eq!(m.db.bitfield("bf", &ops).unwrap(), vec![Some(0), Some(255), None, Some(-1)]);
    // GETs alone (and a FAIL that wrote nothing) propagate nothing.
    m.db.bitfield("bf", &[BitfieldOp::Get(u8t, 0)]).unwrap();
    m.db.bitfield("bf", &[BitfieldOp::Overflow(BitfieldOverflow::Fail), BitfieldOp::IncrBy(u8t, 0, 1)]).unwrap();
    m.expect(&["BITFIELD bf SET u8 0 250 OVERFLOW SAT INCRBY u8 0 10 OVERFLOW FAIL INCRBY i5 11 -100 GET i5 3"]);
    m.check("bitmaps");
    m.db.sadd("set", &["a"]).unwrap();
    m.sync();
    assert!(m.db.setbit("set", 1, true).is_err());
    assert!(m.db.bitop(BitOp::Or, "d", &["set"]).is_err());
    assert!(m.db.bitfield("set", &[BitfieldOp::Set(u8t, 0, 1)]).is_err());
    m.expect(&[]);
    m.check("bitmaps wrongtype");
}

#[test]
fn hyperloglogs_propagate_as_redis_does() {
    let mut m = Mirror::new();
    assert!(m.db.pfadd("h1", &["a", "b", "c"]).unwrap());
    assert!(!m.db.pfadd("h1", &["a"]).unwrap());
    assert!(m.db.pfadd("h2", &[] as &[&str]).unwrap());
    m.expect(&["PFADD h1 a b c", "PFADD h2"]);
    // PFCOUNT of one key caches the estimate in the value: a write, propagated once.
    assert_eq!(m.db.pfcount(&["h1"]).unwrap(), 3);
    assert_eq!(m.db.pfcount(&["h1"]).unwrap(), 3);
    assert_eq!(m.db.pfcount(&["h1", "h2"]).unwrap(), 3);
    assert_eq!(m.db.pfcount(&["nokey"]).unwrap(), 0);
    m.expect(&["PFCOUNT h1"]);
    m.db.pfadd("h2", &["c", "d"]).unwrap();
    m.db.pfmerge("m", &["h1", "h2"]).unwrap();
    m.db.pfmerge("m2", &[] as &[&str]).unwrap();
    m.expect(&["PFADD h2 c d", "PFMERGE m h1 h2", "PFMERGE m2"]);
    assert_eq!(m.db.pfcount(&["m"]).unwrap(), 4);
    m.check("hyperloglog");
    m.db.sadd("set", &["a"]).unwrap();
    m.sync();
    assert!(m.db.pfadd("set", &["a"]).is_err());
    assert!(m.db.pfmerge("set", &["h1"]).is_err());
    assert!(m.db.pfcount(&["set"]).is_err());
    m.expect(&[]);
    m.check("hyperloglog wrongtype");
}

#[test]
fn restore_propagates_as_redis_does() {
    use ferrous_core::RestoreOptions;
    let mut m = Mirror::new();
    let now = 1_700_000_000_000i64;
    m.db.rpush("l", ["a", "b"]).unwrap();
    let payload = m.db.dump("l").unwrap();
    let text = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    m.sync();
    m.db.restore("r0", &payload, RestoreOptions::default()).unwrap();
    m.db.restore("r1", &payload, RestoreOptions { ttl_ms: 5000, ..Default::default() }).unwrap();
    let abs =
        RestoreOptions { ttl_ms: now + 9000, absttl: true, replace: true, idle_secs: Some(10), ..Default::default() };
    m.db.restore("r1", &payload, abs).unwrap();
    m.expect(&[
        &format!("RESTORE r0 0 {}", text(&payload)),
        &format!("RESTORE r1 {} {} ABSTTL", now + 5000, text(&payload)),
        &format!("RESTORE r1 {} {} REPLACE IDLETIME 10 ABSTTL", now + 9000, text(&payload)),
    ]);
    m.check("restore");
    // DEBUG DIGEST sees that a key has a TTL, not which: compare the deadlines too.
    let ttl = |db: &Database| db.execute(["PEXPIRETIME", "r1"]);
    assert_eq!(ttl(&m.db), RespValue::Integer(now + 9000));
    assert_eq!(ttl(&m.twin), ttl(&m.db));
    // BUSYKEY and a bad payload propagate nothing; an expired TTL that REPLACE used to
    // delete the old value is a DEL, one that deleted nothing is nothing.
    assert!(m.db.restore("r0", &payload, RestoreOptions::default()).is_err());
    assert!(m.db.restore("bad", b"garbage payload", RestoreOptions::default()).is_err());
    let past = RestoreOptions { ttl_ms: now - 1, absttl: true, replace: true, ..Default::default() };
    m.db.restore("r0", &payload, past).unwrap();
    m.db.restore("gone", &payload, past).unwrap();
    m.expect(&["DEL r0"]);
    m.check("restore expired");
    // A client blocked on the key is served, after the RESTORE.
    let db = m.db.clone();
    let waiter = std::thread::spawn(move || db.blpop(&["rq"], WAIT).unwrap());
    wait_blocked(&m.db, 1);
    m.db.restore("rq", &payload, RestoreOptions::default()).unwrap();
    assert_eq!(waiter.join().unwrap(), Some((b"rq".to_vec(), b"a".to_vec())));
    m.expect(&[&format!("RESTORE rq 0 {}", text(&payload)), "LPOP rq"]);
    m.check("restore serving a waiter");
}

#[test]
fn sort_store_propagates_as_redis_does() {
    use ferrous_core::SortOptions;
    let mut m = Mirror::new();
    m.db.rpush("l", ["3", "1", "2"]).unwrap();
    m.db.mset(&[("w_1", "30"), ("w_2", "20"), ("w_3", "10")]);
    m.sync();
    assert_eq!(m.db.sort_store("l", &SortOptions::default(), "d1").unwrap(), 3);
    let opts = SortOptions {
        by: Some(b"w_*".to_vec()),
        limit: Some((0, 2)),
        get: vec![b"#".to_vec(), b"w_*".to_vec()],
        desc: true,
        alpha: false,
    };
    assert_eq!(m.db.sort_store("l", &opts, "d2").unwrap(), 4);
    let alpha = SortOptions { alpha: true, ..Default::default() };
    assert_eq!(m.db.sort_store("nokey", &alpha, "d1").unwrap(), 0);
    assert_eq!(m.db.sort_store("nokey", &alpha, "none").unwrap(), 0);
    m.expect(&["SORT l STORE d1", "SORT l BY w_* LIMIT 0 2 GET # GET w_* DESC STORE d2", "SORT nokey ALPHA STORE d1"]);
    m.check("sort store");
    // A client blocked on the destination is served, after the SORT.
    let db = m.db.clone();
    let waiter = std::thread::spawn(move || db.brpop(&["d3"], WAIT).unwrap());
    wait_blocked(&m.db, 1);
    m.db.sort_store("l", &SortOptions::default(), "d3").unwrap();
    assert_eq!(waiter.join().unwrap(), Some((b"d3".to_vec(), b"3".to_vec())));
    m.expect(&["SORT l STORE d3", "RPOP d3"]);
    m.check("sort store serving a waiter");
    m.db.set("str", "v").unwrap();
    m.sync();
    assert!(m.db.sort_store("str", &SortOptions::default(), "d").is_err());
    m.expect(&[]);
}

#[test]
fn streams_propagate_as_redis_does() {
    use ferrous_core::{StreamId, Trim, XAddOptions};
    let mut m = Mirror::new();
    let now = 1_700_000_000_000u64;
    // XADD * is propagated with the ID it generated.
    let id1 = m.db.xadd("s", &[("f", "1")]).unwrap();
    let id2 = m.db.xadd("s", &[("f", "2")]).unwrap();
    assert_eq!((id1.to_string(), id2.to_string()), (format!("{now}-0"), format!("{now}-1")));
    m.db.xadd_with("s", "9999999999999-5", &[("f", "3")], &XAddOptions::default()).unwrap();
    let nomk = XAddOptions { nomkstream: true, trim: None };
    assert_eq!(m.db.xadd_with("nokey", "*", &[("f", "v")], &nomk).unwrap(), None);
    m.expect(&[&format!("XADD s {now}-0 f 1"), &format!("XADD s {now}-1 f 2"), "XADD s 9999999999999-5 f 3"]);
    let trim = XAddOptions { nomkstream: false, trim: Some((Trim::MaxLen(2), false)) };
    let id4 = m.db.xadd_with("s", "*", &[("f", "4")], &trim).unwrap().unwrap();
    assert_eq!(id4.to_string(), "9999999999999-6");
    m.expect(&["XADD s MAXLEN = 2 9999999999999-6 f 4"]);
    m.check("xadd");

    for i in 0..5 {
        m.db.xadd("t", &[("n", i.to_string())]).unwrap();
    }
    m.sync();
    m.db.xgroup_create("t", "g", "0", false).unwrap();
    assert!(m.db.xgroup_create("t", "g", "0", false).is_err());
    m.db.xgroup_create("new", "g", "$", true).unwrap();
    m.expect(&["XGROUP CREATE t g 0", "XGROUP CREATE new g $ MKSTREAM"]);
    // XREADGROUP propagates one XCLAIM per delivered entry (which creates the consumer).
    let read = m.db.xread_group("g", "alice", &[("t", ">")], Some(2), None, false).unwrap();
    assert_eq!(read[0].1.len(), 2);
    let claim =
        |id: &str, last: &str| format!("XCLAIM t g alice 0 {id} TIME {now} RETRYCOUNT 1 FORCE JUSTID LASTID {last}");
    let (e0, e1) = (format!("{now}-0"), format!("{now}-1"));
    m.expect(&["MULTI", &claim(&e0, &e0), &claim(&e1, &e1), "EXEC"]);
    let ids: Vec<StreamId> = read[0].1.iter().map(|e| e.id).collect();
    assert_eq!(m.db.xack("t", "g", &ids[..1]).unwrap(), 1);
    assert_eq!(m.db.xack("t", "g", &ids[..1]).unwrap(), 0);
    m.expect(&[&format!("XACK t g {e0}")]);
    m.clock.advance(100);
    let claimed = m.db.xclaim("t", "g", "bob", Duration::from_millis(50), &ids[1..]).unwrap();
    assert_eq!(claimed.len(), 1);
    m.db.xread_group("g", "carol", &[("t", ">")], None, None, true).unwrap();
    m.clock.advance(100);
    let auto = m.db.xautoclaim("t", "g", "dave", Duration::from_millis(50), StreamId::default(), 10).unwrap();
    assert_eq!(auto.claimed.len(), 1);
    m.check("consumer groups");
    assert_eq!(m.db.xdel("t", &ids).unwrap(), 2);
    assert_eq!(m.db.xdel("t", &ids).unwrap(), 0);
    assert_eq!(m.db.xtrim("t", Trim::MaxLen(1), false).unwrap(), 2);
    assert_eq!(m.db.xtrim("t", Trim::MaxLen(1), false).unwrap(), 0);
    m.expect(&[&format!("XDEL t {e0} {e1}"), "XTRIM t MAXLEN = 1"]);
    m.check("xdel xtrim");

    // A blocked XREADGROUP served by a typed XADD on another thread.
    let db = m.db.clone();
    let reader =
        std::thread::spawn(move || db.xread_group("g", "erin", &[("new", ">")], None, Some(WAIT), false).unwrap());
    wait_blocked(&m.db, 1);
    let id = m.db.xadd("new", &[("k", "v")]).unwrap();
    assert_eq!(reader.join().unwrap()[0].1[0].id, id);
    let log = m.sync();
    assert_eq!(log[0], format!("XADD new {id} k v"));
    assert!(log[1].starts_with(&format!("XCLAIM new g erin 0 {id} ")), "{log:?}");
    assert_eq!(log.len(), 2, "{log:?}");
    m.check("streams");

    m.db.set("str", "v").unwrap();
    m.sync();
    assert!(m.db.xadd("str", &[("f", "v")]).is_err());
    assert!(m.db.xgroup_create("str", "g", "0", false).is_err());
    m.expect(&[]);
}

#[test]
fn a_transaction_mixing_families_is_one_block() {
    let mut m = Mirror::new();
    m.db.transaction(|tx| {
        tx.rpush("tl", ["a", "b"])?;
        tx.sadd("ts", &["x"])?;
        tx.hincrbyfloat("th", "f", "1.5")?;
        tx.zincrby("tz", 2.0, "m")?;
        tx.spop("ts")?;
        tx.lpop("tl")?;
        tx.select(2)?.hset("other", &[("k", "v")])?;
        tx.pfadd("hll", &["e"])?;
        // Errors inside do not stop the others, as in MULTI/EXEC; they propagate nothing.
        assert!(tx.sadd("tl", &["x"]).is_err());
        Ok(())
    })
    .unwrap();
    m.expect(&[
        "MULTI",
        "RPUSH tl a b",
        "SADD ts x",
        "HSET th f 1.5",
        "ZINCRBY tz 2 m",
        "SREM ts x",
        "LPOP tl",
        "SELECT 2",
        "HSET other k v",
        "SELECT 0",
        "PFADD hll e",
        "EXEC",
    ]);
    // Nothing written: nothing published; one write: no MULTI.
    m.db.transaction(|tx| tx.zrem("tz", &["absent"])).unwrap();
    m.db.transaction(|tx| tx.hdel("th", &["f"])).unwrap();
    m.expect(&["HDEL th f"]);
    m.check("transactions");
}

#[test]
fn typed_collection_writes_are_in_the_aof() {
    let dir = std::env::temp_dir().join(format!("ferrous-typed-coll-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || Database::builder().dir(&dir).save_points(&[]).appendonly(true).appendfsync("always").open().unwrap();
    let digest = |db: &Database| db.execute(["DEBUG", "DIGEST"]);
    let before = {
        let db = open();
        db.rpush("l", ["a", "b", "c"]).unwrap();
        db.lmove("l", "l2", ListEnd::Left, ListEnd::Right).unwrap();
        db.sadd("s", &["1", "2", "3", "4"]).unwrap();
        db.spop_count("s", 2).unwrap();
        db.hincrbyfloat("h", "f", "2.5").unwrap();
        db.zadd("z", &[(1.5, "m"), (2.0, "n")]).unwrap();
        db.zpopmin("z", 1).unwrap();
        db.geoadd("g", &[(13.361389, 38.115556, "Palermo")]).unwrap();
        db.setbit("b", 9, true).unwrap();
        db.pfadd("p", &["x", "y"]).unwrap();
        db.pfcount(&["p"]).unwrap();
        db.xadd("x", &[("f", "v")]).unwrap();
        db.transaction(|tx| {
            tx.lpush("l2", ["t"])?;
            tx.hset("h", &[("g", "1")])?;
            Ok(())
        })
        .unwrap();
        let d = digest(&db);
        // No save, no rewrite: only the AOF can bring these back.
        std::mem::forget(db.clone());
        d
    };
    let db = open();
    assert_eq!(digest(&db), before);
    assert_eq!(db.hget("h", "f").unwrap(), Some(b"2.5".to_vec()));
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Applies `db`'s change feed to a redis-server 7.0 (the specification): every propagated
/// form must be accepted and build the same data (DEBUG DIGEST, and per key on a mismatch).
fn apply_to_redis(feed: &ferrous_core::propagate::ChangeFeed, con: &mut redis::Connection) -> Vec<String> {
    let mut selected = Some(0);
    let mut log = Vec::new();
    while let Some(block) = feed.recv_timeout(Duration::from_millis(50)) {
        for args in block.commands(&mut selected) {
            let text = strs(&args).join(" ");
            let mut cmd = redis::cmd(&String::from_utf8_lossy(&args[0]));
            for a in &args[1..] {
                cmd.arg(a.as_slice());
            }
            if let Err(e) = cmd.query::<redis::Value>(con) {
                panic!("redis-server refused `{text}`: {e}\nreplayed so far:\n{}", log.join("\n"));
            }
            log.push(text);
        }
    }
    log
}

#[test]
fn redis_applies_the_typed_forms_to_the_same_data() {
    use ferrous_core::zset::{Aggregate, LexBound, LexRange, ScoreRange, ZAddOptions, ZRange};
    use ferrous_core::{BitOp, BitfieldOp, BitfieldOverflow, BitfieldType, GeoFrom, GeoSearch, GeoShape, GeoUnit};
    use ferrous_core::{RestoreOptions, SortOptions, Trim, XAddOptions};
    if !tools::require_tool("redis-server") {
        return;
    }
    let dir = tools::TempDir::new("typed-forms");
    let redis = tools::RedisProc::start(dir.path(), &["--enable-debug-command", "yes"]);
    let mut con = redis.con();
    // The real clock: Redis judges deadlines (PXAT, ABSTTL) by its own.
    let db = Database::new();
    let feed = db.changes();
    // Lists.
    db.rpush("l", ["a", "b", "c", "d", "e", "f"]).unwrap();
    db.lpushx("l", ["z"]).unwrap();
    db.lpop("l").unwrap();
    db.rpop_count("l", 2).unwrap();
    db.lset("l", 0, "A").unwrap();
    db.linsert("l", true, "A", "A2").unwrap();
    db.lrem("l", 1, "b").unwrap();
    db.ltrim("l", 0, 2).unwrap();
    db.lmove("l", "l2", ListEnd::Left, ListEnd::Right).unwrap();
    db.rpoplpush("l", "l2").unwrap();
    db.lmpop(&["none", "l2"], ListEnd::Right, 1).unwrap();
    db.blpop(&["l"], Duration::from_secs(1)).unwrap();
    db.rpush("l3", ["1", "2", "3"]).unwrap();
    db.blmove("l3", "l4", ListEnd::Right, ListEnd::Left, Duration::from_secs(1)).unwrap();
    db.brpoplpush("l3", "l4", Duration::from_secs(1)).unwrap();
    db.blmpop(&["l3", "l4"], ListEnd::Left, 2, Duration::from_secs(1)).unwrap();
    // Sets.
    let members: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    db.sadd("s", &members).unwrap();
    db.srem("s", &["m0", "absent"]).unwrap();
    db.spop("s").unwrap();
    db.spop_count("s", 3).unwrap();
    db.spop_count("s", 20).unwrap();
    db.sadd("s2", &["1", "2", "3"]).unwrap();
    db.spop_count("s2", 10).unwrap();
    db.sadd("s3", &["m1", "m2", "x"]).unwrap();
    db.smove("s3", "s4", "x").unwrap();
    db.sinterstore("si", &["s", "s3"]).unwrap();
    db.sunionstore("su", &["s", "s3"]).unwrap();
    db.sdiffstore("sd", &["s", "s3"]).unwrap();
    // Sorted sets.
    db.zadd("z", &[(0.1, "a"), (2.5, "b"), (1e300, "c"), (-0.0, "d"), (f64::NEG_INFINITY, "e")]).unwrap();
    db.zadd_with("z", &[(3.0, "b"), (4.0, "new")], ZAddOptions { xx: true, ch: true, ..Default::default() }).unwrap();
    db.zadd_incr("z", 1.0 / 3.0, "a", ZAddOptions { gt: true, ..Default::default() }).unwrap();
    db.zincrby("z", -7.25, "f").unwrap();
    db.zrem("z", &["d"]).unwrap();
    let q = ZRange::score(ScoreRange { min: 0.0, min_exclusive: true, max: 1e301, max_exclusive: false });
    db.zrangestore("zr", "z", &q.rev()).unwrap();
    let lex = LexRange { min: LexBound::Inclusive(b"a".to_vec()), max: LexBound::Exclusive(b"c".to_vec()) };
    db.zadd("zl", &[(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")]).unwrap();
    db.zrangestore(
        "zr2",
        "zl",
        &ZRange { by: ferrous_core::zset::ZRangeBy::Lex(lex.clone()), rev: false, limit: Some((0, 1)) },
    )
    .unwrap();
    db.zremrangebylex("zl", &lex).unwrap();
    db.zremrangebyscore("z", &ScoreRange { min: 1e299, min_exclusive: true, max: f64::INFINITY, max_exclusive: false })
        .unwrap();
    db.zremrangebyrank("zr", 0, 0).unwrap();
    db.zpopmin("z", 1).unwrap();
    db.zpopmax("zl", 5).unwrap();
    db.zmpop(&["none", "z"], true, 1).unwrap();
    db.zadd("zx", &[(1.0, "a"), (2.0, "b")]).unwrap();
    db.zadd("zy", &[(0.3, "b"), (5.0, "c")]).unwrap();
    db.zunionstore("zu", &["zx", "zy"], &[0.1, 3.0], Aggregate::Max).unwrap();
    db.zinterstore("zi", &["zx", "zy"], &[], Aggregate::Sum).unwrap();
    db.zdiffstore("zd", &["zx", "zy"]).unwrap();
    db.bzpopmin(&["zx"], Duration::from_secs(1)).unwrap();
    db.bzmpop(&["zy"], true, 5, Duration::from_secs(1)).unwrap();
    // Hashes.
    db.hset("h", &[("a", "1"), ("b", "x")]).unwrap();
    db.hsetnx("h", "c", "3").unwrap();
    db.hincrby("h", "a", -10).unwrap();
    db.hincrbyfloat("h", "f", "0.1").unwrap();
    db.hincrbyfloat("h", "f", "1e3").unwrap();
    db.hdel("h", &["b"]).unwrap();
    // Geo.
    db.geoadd("g", &[(13.361389, 38.115556, "Palermo"), (15.087269, 37.502669, "Catania")]).unwrap();
    let gq = GeoSearch::new(GeoFrom::LonLat(15.0, 37.0), GeoShape::Radius(123.456789), GeoUnit::Kilometers).asc();
    db.geosearchstore("gs", "g", &gq, true).unwrap();
    let mut bq = GeoSearch::new(
        GeoFrom::Member(b"Palermo".to_vec()),
        GeoShape::Box { width: 500.0, height: 300.5 },
        GeoUnit::Miles,
    );
    bq.count = Some(1);
    db.geosearchstore("gb", "g", &bq, false).unwrap();
    // Bitmaps, HyperLogLog.
    db.setbit("bits", 77, true).unwrap();
    db.set("k1", "foobar").unwrap();
    db.bitop(BitOp::Not, "bn", &["k1"]).unwrap();
    db.bitop(BitOp::And, "ba", &["k1", "bits"]).unwrap();
    let u8t = BitfieldType::unsigned(8).unwrap();
    let i5 = BitfieldType::signed(5).unwrap();
    db.bitfield(
        "bf",
        &[BitfieldOp::Set(i5, 3, -7), BitfieldOp::Overflow(BitfieldOverflow::Sat), BitfieldOp::IncrBy(u8t, 8, 300)],
    )
    .unwrap();
    db.pfadd("p1", &["a", "b", "c"]).unwrap();
    db.pfadd("p2", &["c", "d"]).unwrap();
    db.pfcount(&["p1"]).unwrap();
    db.pfmerge("pm", &["p1", "p2"]).unwrap();
    // RESTORE, SORT STORE.
    let payload = db.dump("h").unwrap();
    db.restore("hr", &payload, RestoreOptions { ttl_ms: 3_600_000, ..Default::default() }).unwrap();
    db.restore("hr", &payload, RestoreOptions { replace: true, freq: Some(5), ..Default::default() }).unwrap();
    db.rpush("sl", ["3", "1", "2", "b"]).unwrap();
    db.sort_store("sl", &SortOptions { alpha: true, desc: true, limit: Some((1, 2)), ..Default::default() }, "sorted")
        .unwrap();
    // Streams.
    db.xadd("x", &[("f", "1")]).unwrap();
    db.xadd_with("x", "*", &[("f", "2")], &XAddOptions { nomkstream: false, trim: Some((Trim::MaxLen(5), true)) })
        .unwrap();
    db.xgroup_create("x", "g", "0", false).unwrap();
    db.xread_group("g", "c1", &[("x", ">")], Some(1), None, false).unwrap();
    db.xread_group("g", "c2", &[("x", ">")], None, None, true).unwrap();
    // A transaction.
    db.transaction(|tx| {
        tx.lpush("tl", ["1"])?;
        tx.zincrby("tz", 1.5, "m")?;
        tx.select(4)?.sadd("ts", &["a"])?;
        Ok(())
    })
    .unwrap();
    let log = apply_to_redis(&feed, &mut con);
    assert!(log.len() > 80, "{log:?}");
    for dbi in [0, 4] {
        let _: () = redis::cmd("SELECT").arg(dbi).query(&mut con).unwrap();
        let ours = db.select(dbi).unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
        let mut theirs_keys = keys.clone();
        theirs_keys.sort();
        let mut our_keys: Vec<String> =
            ours.keys("*").iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
        our_keys.sort();
        assert_eq!(our_keys, theirs_keys, "keys of db {dbi}");
        for k in &keys {
            let theirs: Vec<String> = redis::cmd("DEBUG").arg("DIGEST-VALUE").arg(k).query(&mut con).unwrap();
            let mine = ours.execute(["DEBUG", "DIGEST-VALUE", k.as_str()]);
            assert_eq!(
                mine,
                RespValue::Array(vec![RespValue::Simple(theirs[0].clone())]),
                "key {k} of db {dbi}; replayed:\n{}",
                log.join("\n")
            );
        }
    }
    let theirs: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    assert_eq!(db.execute(["DEBUG", "DIGEST"]), RespValue::Simple(theirs));
}
