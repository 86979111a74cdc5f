//! HyperLogLog commands (PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST): replies and stored
//! bytes recorded from Redis 7.0 (`support/hyperloglog.cases`: sparse values byte for
//! byte, dense ones by SHA-1, promotion points, corrupted values), estimator accuracy,
//! sparse/dense equivalence under random workloads, and the typed API.
#[path = "support/cases.rs"]
mod cases;
#[path = "support/oracle.rs"]
mod oracle;

use ferrous_core::hyperloglog::{self as hll, HllEncoding, HyperLogLog, HLL_DENSE_SIZE, HLL_REGISTERS};
use ferrous_core::{Database, Error, RespValue};
use rand::{Rng, SeedableRng};

#[test]
fn replies_and_bytes_match_redis() {
    cases::assert_replay(include_str!("support/hyperloglog.cases"));
}

/// Replays an extra case file named by `FERROUS_EXTRA_CASES` (see `support/cases.rs`).
#[test]
fn extra_cases_from_env() {
    cases::assert_extra_cases_from_env();
}

/// Relative error bound: three times Redis's documented standard error (0.81%).
const MAX_RELATIVE_ERROR: f64 = 3.0 * 0.0081;

#[test]
fn estimate_is_accurate_for_100k_elements() {
    let db = Database::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for round in 0..3 {
        let key = format!("acc{round}");
        let base: u64 = rng.gen();
        let n = 100_000u64;
        let elements: Vec<String> = (0..n).map(|i| format!("{base:x}:{i}")).collect();
        for chunk in elements.chunks(1000) {
            db.pfadd(&key, chunk).unwrap();
        }
        let est = db.pfcount(&[&key]).unwrap();
        let err = (est as f64 - n as f64).abs() / n as f64;
        assert!(err <= MAX_RELATIVE_ERROR, "round {round}: estimate {est} for {n} (error {err:.4})");
        // Adding the same elements again changes nothing.
        assert!(!db.pfadd(&key, &elements[..1000]).unwrap());
        assert_eq!(db.pfcount(&[&key]).unwrap(), est);
    }
}

#[test]
fn estimate_is_accurate_at_every_scale() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut h = HyperLogLog::new();
    let mut n = 0u64;
    for target in [1u64, 10, 100, 1_000, 10_000, 50_000] {
        while n < target {
            h.add(&rng.gen::<u64>().to_le_bytes(), 3000).unwrap();
            n += 1;
        }
        let est = h.estimate().unwrap();
        let tolerance = (target as f64 * MAX_RELATIVE_ERROR).max(1.0);
        assert!((est as f64 - target as f64).abs() <= tolerance, "estimate {est} for {target}");
    }
}

#[test]
fn sparse_and_dense_hold_the_same_registers() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for round in 0..20 {
        let max_bytes = rng.gen_range(20..4000);
        let mut sparse = HyperLogLog::new();
        let mut dense = HyperLogLog::new();
        dense.to_dense().unwrap();
        let n = rng.gen_range(0..3000);
        for _ in 0..n {
            let e: [u8; 6] = rng.gen();
            let a = sparse.add(&e, max_bytes).unwrap();
            let b = dense.add(&e, max_bytes).unwrap();
            assert_eq!(a, b, "round {round}: the two disagree on whether a register changed");
        }
        assert_eq!(sparse.registers().unwrap(), dense.registers().unwrap(), "round {round}");
        assert_eq!(sparse.estimate().unwrap(), dense.estimate().unwrap(), "round {round}");
        if sparse.encoding() == HllEncoding::Sparse {
            assert!(sparse.as_bytes().len() <= max_bytes.max(18), "round {round}: sparse grew past the limit");
            let mut converted = sparse.clone();
            assert!(converted.to_dense().unwrap());
            assert_eq!(converted.as_bytes().len(), HLL_DENSE_SIZE);
            assert_eq!(converted.registers().unwrap(), dense.registers().unwrap());
        }
    }
}

#[test]
fn merge_equals_adding_everything() {
    let db = Database::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for round in 0..5 {
        let sizes = [rng.gen_range(0..200), rng.gen_range(0..3000), rng.gen_range(0..100)];
        let mut all = Vec::new();
        let keys: Vec<String> = (0..3).map(|i| format!("r{round}:src{i}")).collect();
        for (key, &size) in keys.iter().zip(&sizes) {
            let elems: Vec<String> = (0..size).map(|_| format!("{:x}", rng.gen::<u32>())).collect();
            db.pfadd(key, &elems).unwrap();
            all.extend(elems);
        }
        let union_key = format!("r{round}:all");
        db.pfadd(&union_key, &all).unwrap();
        let merged_key = format!("r{round}:merged");
        db.pfmerge(&merged_key, &keys).unwrap();
        let regs = |key: &str| db.execute(["PFDEBUG", "GETREG", key]);
        assert_eq!(regs(&merged_key), regs(&union_key), "round {round}");
        assert_eq!(db.pfcount(&keys).unwrap(), db.pfcount(&[&union_key]).unwrap(), "round {round}");
    }
}

#[test]
fn pfcount_of_several_keys_modifies_nothing() {
    let db = Database::new();
    db.pfadd("a", &["x", "y"]).unwrap();
    db.pfadd("b", &["y", "z"]).unwrap();
    let before = (db.get("a").unwrap(), db.get("b").unwrap());
    assert_eq!(db.pfcount(&["a", "b"]).unwrap(), 3);
    assert_eq!((db.get("a").unwrap(), db.get("b").unwrap()), before);
    // A single key caches its cardinality: the header's top bit is cleared.
    let stale = db.get("a").unwrap().unwrap();
    assert_eq!(stale[15] & 0x80, 0x80);
    assert_eq!(db.pfcount(&["a"]).unwrap(), 2);
    let cached = db.get("a").unwrap().unwrap();
    assert_eq!(&cached[8..16], &2u64.to_le_bytes());
}

#[test]
fn typed_api_errors() {
    let db = Database::new();
    db.set("s", "not an hll").unwrap();
    let not_hll = Error::msg(hll::NOT_HLL);
    assert_eq!(db.pfadd("s", &["a"]), Err(not_hll.clone()));
    assert_eq!(db.pfcount(&["s"]), Err(not_hll.clone()));
    assert_eq!(db.pfmerge("d", &["s"]), Err(not_hll));
    db.rpush("l", ["a"]).unwrap();
    assert_eq!(db.pfadd("l", &["a"]), Err(Error::WrongType));
    let corrupt = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xfe".to_vec();
    db.set("c", &corrupt).unwrap();
    assert_eq!(db.pfcount(&["c"]), Err(Error::msg(hll::CORRUPTED_HLL)));
    assert_eq!(db.pfcount::<&str>(&[]), Err(Error::WrongArity("pfcount".into())));
    assert!(db.pfadd("new", &[] as &[&str]).unwrap());
    assert_eq!(db.pfcount(&["new", "missing"]).unwrap(), 0);
}

#[test]
fn values_round_trip_through_set() {
    let db = Database::new();
    db.pfadd("h", &(0..5000).map(|i| i.to_string()).collect::<Vec<_>>()).unwrap();
    let bytes = db.get("h").unwrap().unwrap();
    assert_eq!(bytes.len(), HLL_DENSE_SIZE);
    db.set("copy", &bytes).unwrap();
    assert_eq!(db.pfcount(&["copy"]).unwrap(), db.pfcount(&["h"]).unwrap());
    let regs = HyperLogLog::from_bytes(bytes).unwrap().registers().unwrap();
    assert_eq!(regs.len(), HLL_REGISTERS);
    assert!(HyperLogLog::from_bytes(b"HYLL".to_vec()).is_err());
}

#[test]
fn pfselftest_command() {
    // The command runs Redis's full ten-million-element test; the same checks at a smaller
    // scale keep debug builds fast.
    hll::selftest(20, 200_000, hll::DEFAULT_SPARSE_MAX_BYTES).unwrap();
    if !cfg!(debug_assertions) {
        assert_eq!(Database::new().execute(["PFSELFTEST"]), RespValue::Simple("OK".into()));
    }
}

#[test]
fn events_and_dirty() {
    let db = Database::new();
    let dirty = || db.inner().dirty.load(std::sync::atomic::Ordering::Relaxed);
    let d0 = dirty();
    db.pfadd("h", &["a", "b", "c"]).unwrap();
    assert_eq!(dirty() - d0, 4, "one for the creation plus one per changed register");
    let d1 = dirty();
    db.pfcount(&["h"]).unwrap();
    assert_eq!(dirty() - d1, 1, "refreshing the cache is a write");
    db.pfcount(&["h"]).unwrap();
    assert_eq!(dirty() - d1, 1, "a valid cache is not");
}

#[test]
fn keyspace_events() {
    let mut config = ferrous_core::Config::default();
    config.set("notify-keyspace-events", &["KEA"], true).unwrap();
    let db = Database::builder().config(config).active_expire(false).build();
    db.inner().apply_config_mirrors();
    let mut sub = db.psubscribe(&["__keyevent@0__:*"]);
    for line in [
        ["PFADD", "h", "a"],
        ["PFADD", "h", "a"],
        ["PFADD", "h", "b"],
        ["PFCOUNT", "h", "h"],
        ["PFMERGE", "m", "h"],
        ["PFMERGE", "m", "h"],
    ] {
        db.execute(line);
    }
    db.execute(["PFCOUNT", "h"]);
    db.execute(["PFDEBUG", "TODENSE", "h"]);
    let mut events = Vec::new();
    while let Some(m) = sub.try_recv() {
        events.push(format!("{} {}", String::from_utf8_lossy(&m.channel), String::from_utf8_lossy(&m.payload)));
    }
    // What Redis 7.0 publishes for the same commands.
    assert_eq!(
        events,
        ["__keyevent@0__:pfadd h", "__keyevent@0__:pfadd h", "__keyevent@0__:pfadd m", "__keyevent@0__:pfadd m"]
    );
}
