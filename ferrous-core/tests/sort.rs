//! SORT and SORT_RO: replies recorded from Redis 7.0 (`support/sort.cases`: numeric and
//! ALPHA orders, strtod forms, BY/GET patterns on strings and hashes, `nosort` on every
//! type, STORE, the partial quicksort's order of ties, errors), model-based random tests,
//! and the typed API.
#[path = "support/cases.rs"]
mod cases;
#[path = "support/oracle.rs"]
mod oracle;

#[test]
fn replies_match_redis() {
    cases::assert_replay(include_str!("support/sort.cases"));
}

/// Replays an extra case file named by `FERROUS_EXTRA_CASES` (see `support/cases.rs`).
#[test]
fn extra_cases_from_env() {
    cases::assert_extra_cases_from_env();
}

use ferrous_core::commands::sort::SortOptions;
use ferrous_core::{Config, Database, Error, RespValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

fn bulk_list(v: RespValue) -> Vec<Option<Vec<u8>>> {
    match v {
        RespValue::Array(a) => a.into_iter().map(|x| x.as_bytes().map(<[u8]>::to_vec)).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// The model: Redis's documented semantics for inputs without ties (numeric scores are
/// distinct or equal only for equal elements; ALPHA elements without NUL bytes).
fn model(
    elements: &[String],
    weights: &HashMap<String, String>,
    by: bool,
    alpha: bool,
    desc: bool,
    limit: Option<(i64, i64)>,
    get_weight: bool,
) -> Vec<Option<Vec<u8>>> {
    let key_of = |e: &String| -> (f64, Vec<u8>) {
        let v = if by { weights.get(e).cloned().unwrap_or_default() } else { e.clone() };
        (if alpha { 0.0 } else { v.parse::<f64>().unwrap_or(0.0) }, v.into_bytes())
    };
    let mut v: Vec<&String> = elements.iter().collect();
    v.sort_by(|a, b| {
        let (ka, kb) = (key_of(a), key_of(b));
        let o = if alpha {
            ka.1.cmp(&kb.1).then_with(|| a.as_bytes().cmp(b.as_bytes()))
        } else {
            ka.0.partial_cmp(&kb.0).unwrap().then_with(|| a.as_bytes().cmp(b.as_bytes()))
        };
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    let n = v.len() as i64;
    let (start, count) = limit.unwrap_or((0, -1));
    let start = start.clamp(0, n);
    let end = if count < 0 { n } else { (start + count).min(n) };
    let window = &v[start as usize..end.max(start) as usize];
    let mut out = Vec::new();
    for e in window {
        if get_weight {
            out.push(Some(e.as_bytes().to_vec()));
            out.push(weights.get(*e).map(|w| w.as_bytes().to_vec()));
        } else {
            out.push(Some(e.as_bytes().to_vec()));
        }
    }
    out
}

#[test]
fn random_sorts_match_the_model() {
    let mut rng = StdRng::seed_from_u64(0x5027);
    for round in 0..300 {
        let db = Database::new();
        let n = rng.gen_range(0..60);
        let alpha = rng.gen_bool(0.5);
        let by = rng.gen_bool(0.4);
        // Distinct elements; distinct weights so that BY never ties.
        let mut elements: Vec<String> = (0..n).map(|i| format!("{}", i * 7 % 97 + rng.gen_range(0..3) * 100)).collect();
        elements.sort();
        elements.dedup();
        let mut weights = HashMap::new();
        for (i, e) in elements.iter().enumerate() {
            if !by || rng.gen_bool(0.9) {
                let w =
                    if alpha { format!("w{:04}", (i * 31) % 1000) } else { format!("{}", (i as i64 * 37 % 101) - 50) };
                db.set(format!("w_{e}"), &w).unwrap();
                weights.insert(e.clone(), w);
            }
        }
        // Missing weights would tie (all 0 / all first): keep BY only when all exist.
        let by = by && weights.len() == elements.len();
        let kind = rng.gen_range(0..3);
        let key = "src";
        match kind {
            0 => {
                db.rpush(key, elements.iter().rev()).unwrap();
            }
            1 => {
                db.sadd(key, &elements).unwrap();
            }
            _ => {
                let mut args = vec!["ZADD".to_string(), key.to_string()];
                for e in &elements {
                    args.push(rng.gen_range(0..5).to_string());
                    args.push(e.clone());
                }
                if !elements.is_empty() {
                    db.execute(args.iter().map(String::as_bytes));
                }
            }
        }
        let desc = rng.gen_bool(0.5);
        let limit = rng.gen_bool(0.5).then(|| (rng.gen_range(-2..70), rng.gen_range(-2..70)));
        let get_weight = rng.gen_bool(0.3) && weights.len() == elements.len();
        let mut opts = SortOptions { alpha, desc, limit, ..Default::default() };
        if by {
            opts.by = Some(b"w_*".to_vec());
        }
        if get_weight {
            opts.get = vec![b"#".to_vec(), b"w_*".to_vec()];
        }
        let expected = model(&elements, &weights, by, alpha, desc, limit, get_weight);
        let got = db.sort(key, &opts).unwrap();
        assert_eq!(got, expected, "round {round}: {opts:?} on kind {kind}");
        // The same through the command table, and SORT_RO.
        let mut args: Vec<Vec<u8>> = vec![b"SORT_RO".to_vec(), key.as_bytes().to_vec()];
        if let Some(p) = &opts.by {
            args.extend([b"BY".to_vec(), p.clone()]);
        }
        if let Some((s, c)) = limit {
            args.extend([b"LIMIT".to_vec(), s.to_string().into_bytes(), c.to_string().into_bytes()]);
        }
        for g in &opts.get {
            args.extend([b"GET".to_vec(), g.clone()]);
        }
        if desc {
            args.push(b"DESC".to_vec());
        }
        if alpha {
            args.push(b"ALPHA".to_vec());
        }
        assert_eq!(bulk_list(db.execute(args.iter().map(Vec::as_slice))), expected, "round {round}");
        // STORE gives the same items as a list (missing GET values as empty strings).
        let stored = db.sort_store(key, &opts, "dst").unwrap();
        assert_eq!(stored, expected.len(), "round {round}");
        let list = db.lrange("dst", 0, -1).unwrap();
        let as_stored: Vec<Vec<u8>> = expected.iter().map(|x| x.clone().unwrap_or_default()).collect();
        assert_eq!(list, as_stored, "round {round}");
    }
}

#[test]
fn typed_api() {
    let db = Database::new();
    db.rpush("l", ["3", "1", "2"]).unwrap();
    let all = |v: &[&str]| v.iter().map(|s| Some(s.as_bytes().to_vec())).collect::<Vec<_>>();
    assert_eq!(db.sort("l", &SortOptions::default()).unwrap(), all(&["1", "2", "3"]));
    let desc = SortOptions { desc: true, limit: Some((0, 2)), ..Default::default() };
    assert_eq!(db.sort("l", &desc).unwrap(), all(&["3", "2"]));
    let nosort = SortOptions { by: Some(b"nosort".to_vec()), ..Default::default() };
    assert_eq!(db.sort("l", &nosort).unwrap(), all(&["3", "1", "2"]));
    assert_eq!(db.sort("missing", &SortOptions::default()).unwrap(), vec![]);
    db.hset("h_1", &[("name", "one")]).unwrap();
    let get = SortOptions { get: vec![b"h_*->name".to_vec(), b"#".to_vec()], ..Default::default() };
    assert_eq!(
        db.sort("l", &get).unwrap(),
        vec![Some(b"one".to_vec()), Some(b"1".to_vec()), None, Some(b"2".to_vec()), None, Some(b"3".to_vec())]
    );
    assert_eq!(db.sort_store("l", &SortOptions::default(), "d").unwrap(), 3);
    assert_eq!(db.lrange("d", 0, -1).unwrap(), vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
    assert_eq!(db.sort_store("missing", &SortOptions::default(), "d").unwrap(), 0);
    assert!(!db.exists("d"));
    db.set("s", "x").unwrap();
    assert_eq!(db.sort("s", &SortOptions::default()), Err(Error::WrongType));
    db.rpush("bad", ["1", "x"]).unwrap();
    assert_eq!(
        db.sort("bad", &SortOptions::default()),
        Err(Error::msg("ERR One or more scores can't be converted into double"))
    );
    let alpha = SortOptions { alpha: true, ..Default::default() };
    assert_eq!(db.sort("bad", &alpha).unwrap(), all(&["1", "x"]));
}

#[test]
fn store_events_and_dirty() {
    let mut config = Config::default();
    config.set("notify-keyspace-events", &["KEA"], true).unwrap();
    let db = Database::builder().config(config).active_expire(false).build();
    db.inner().apply_config_mirrors();
    let mut sub = db.psubscribe(&["__keyevent@0__:*"]);
    db.rpush("l", ["2", "1"]).unwrap();
    let dirty = || db.inner().dirty.load(std::sync::atomic::Ordering::Relaxed);
    let d0 = dirty();
    db.execute(["SORT", "l", "STORE", "d"]);
    assert_eq!(dirty() - d0, 2, "one per stored item");
    db.execute(["SORT", "l", "LIMIT", "0", "0", "STORE", "d"]);
    db.execute(["SORT", "l", "LIMIT", "0", "0", "STORE", "d"]);
    assert_eq!(dirty() - d0, 3, "one for the deletion, nothing when there was nothing to delete");
    db.execute(["SORT", "l"]);
    let mut events = Vec::new();
    while let Some(m) = sub.try_recv() {
        events.push(format!("{} {}", String::from_utf8_lossy(&m.channel), String::from_utf8_lossy(&m.payload)));
    }
    assert_eq!(
        events,
        ["__keyevent@0__:rpush l", "__keyevent@0__:sortstore d", "__keyevent@0__:del d"],
        "the events Redis 7.0 publishes"
    );
}

#[test]
fn by_and_get_see_a_consistent_database() {
    // A writer keeps `w_<i>` and `g_<i>` equal (MSET is atomic); a SORT that reads both
    // through BY and GET must never see them differ.
    let db = Database::new();
    let n = 50;
    db.rpush("ids", (0..n).map(|i| i.to_string())).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut v = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                v += 1;
                let pairs: Vec<(String, String)> = (0..n)
                    .flat_map(|i| [(format!("w_{i}"), (v + i).to_string()), (format!("g_{i}"), (v + i).to_string())])
                    .collect();
                db.mset(&pairs);
            }
        })
    };
    let opts =
        SortOptions { by: Some(b"w_*".to_vec()), get: vec![b"w_*".to_vec(), b"g_*".to_vec()], ..Default::default() };
    for _ in 0..200 {
        let out = db.sort("ids", &opts).unwrap();
        for pair in out.chunks(2) {
            assert_eq!(pair[0], pair[1], "BY/GET saw a half-applied MSET");
        }
        let scores: Vec<i64> =
            out.chunks(2).filter_map(|p| p[0].as_ref()).map(|b| String::from_utf8_lossy(b).parse().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] <= w[1]), "not sorted by the weights read: {scores:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn sort_converts_a_listpack_zset() {
    let db = Database::new();
    db.execute(["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(db.execute(["OBJECT", "ENCODING", "z"]), RespValue::Bulk(b"listpack".to_vec()));
    db.execute(["SORT", "z", "BY", "nosort"]);
    assert_eq!(db.execute(["OBJECT", "ENCODING", "z"]), RespValue::Bulk(b"skiplist".to_vec()));
    assert_eq!(
        db.execute(["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        db.execute(["ZRANGE", "z", "0", "-1", "WITHSCORES"])
    );
    assert_eq!(db.execute(["ZSCORE", "z", "b"]), RespValue::Bulk(b"2".to_vec()));
}

#[test]
fn inside_multi_exec() {
    let db = Database::new();
    let mut c = oracle::client(&db, 2);
    let run = |c: &mut ferrous_core::ClientState, line: &str| oracle::fmt(&oracle::run(&db, c, &cases::split(line)));
    run(&mut c, "RPUSH l 1 2 3");
    run(&mut c, "MSET w_1 3 w_2 2 w_3 1");
    assert_eq!(run(&mut c, "MULTI"), "+OK");
    assert_eq!(run(&mut c, "SORT l BY w_* GET # STORE d"), "+QUEUED");
    assert_eq!(run(&mut c, "SORT_RO l BY w_*"), "+QUEUED");
    assert_eq!(run(&mut c, "SORT l BY nosort DESC"), "+QUEUED");
    assert_eq!(run(&mut c, "LRANGE d 0 -1"), "+QUEUED");
    assert_eq!(run(&mut c, "EXEC"), r#"[:3, ["3", "2", "1"], ["3", "2", "1"], ["3", "2", "1"]]"#);
}
