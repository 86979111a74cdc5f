//! Set commands: replies recorded from Redis 7.0 (`support/sets.cases`), model-based
//! random tests against `BTreeSet`s crossing the intset -> hashtable thresholds, multi-key
//! operations against the model, random/scan properties, atomicity, and the typed API.
#[path = "support/oracle.rs"]
mod oracle;

use ferrous_core::{Database, RespValue, ScanOptions};
use rand::Rng;
use std::collections::{BTreeSet, HashMap, HashSet};

fn cmd(db: &Database, args: &[&[u8]]) -> RespValue {
    db.execute(args.iter().copied())
}

fn members(v: RespValue) -> BTreeSet<Vec<u8>> {
    match v {
        RespValue::Array(a) | RespValue::Set(a) => {
            a.into_iter().map(|x| x.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()).collect()
        }
        other => panic!("not an array: {other:?}"),
    }
}

fn encoding(db: &Database, key: &[u8]) -> String {
    match cmd(db, &[b"OBJECT", b"ENCODING", key]) {
        RespValue::Bulk(b) => String::from_utf8(b).unwrap_or_default(),
        other => format!("{other:?}"),
    }
}

fn is_int(m: &[u8]) -> bool {
    std::str::from_utf8(m).ok().and_then(|s| s.parse::<i64>().ok()).is_some_and(|i| i.to_string().as_bytes() == m)
}

#[test]
fn replies_match_redis() {
    let failures = oracle::replay(include_str!("support/sets.cases"));
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

fn random_member(rng: &mut impl Rng, space: i64) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => format!("m{}", rng.gen_range(0..space)).into_bytes(),
        1 => format!("0{}", rng.gen_range(0..space)).into_bytes(),
        2 => (i64::MAX - rng.gen_range(0..3)).to_string().into_bytes(),
        3 => (i64::MIN + rng.gen_range(0..3)).to_string().into_bytes(),
        4 => (rng.gen_range(0..space) * 100_000).to_string().into_bytes(),
        _ => rng.gen_range(-space..space).to_string().into_bytes(),
    }
}

/// Single-key random operations against a `BTreeSet`, with an encoding model: intset while
/// every member ever added is an integer and the size never passed the limit.
#[test]
fn model_based_random_ops() {
    let mut rng = rand::thread_rng();
    for round in 0..6 {
        let db = Database::new();
        let max = if round % 2 == 0 { 512 } else { rng.gen_range(1..30) };
        cmd(&db, &[b"CONFIG", b"SET", b"set-max-intset-entries", max.to_string().as_bytes()]);
        let space = if round % 2 == 0 { 700 } else { 40 };
        // Mostly integers so that sets stay intsets for a while.
        let gen = |rng: &mut rand::rngs::ThreadRng| -> Vec<u8> {
            if rng.gen_range(0..30) == 0 {
                random_member(rng, space)
            } else {
                rng.gen_range(-space..space).to_string().into_bytes()
            }
        };
        let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut table = false;
        let key: &[u8] = b"s";
        for step in 0..4000 {
            match rng.gen_range(0..10) {
                0..=3 => {
                    let ms: Vec<Vec<u8>> = (0..rng.gen_range(1..5)).map(|_| gen(&mut rng)).collect();
                    if model.is_empty() {
                        table = !is_int(&ms[0]);
                    }
                    let mut n = 0;
                    for m in &ms {
                        if model.insert(m.clone()) {
                            n += 1;
                            if !is_int(m) || model.len() > max {
                                table = true;
                            }
                        }
                    }
                    let mut args: Vec<&[u8]> = vec![b"SADD", key];
                    args.extend(ms.iter().map(|m| m.as_slice()));
                    assert_eq!(cmd(&db, &args), RespValue::Integer(n), "step {step}");
                }
                4 | 5 => {
                    let ms: Vec<Vec<u8>> = (0..rng.gen_range(1..5)).map(|_| gen(&mut rng)).collect();
                    let n = ms.iter().filter(|m| model.remove(*m)).count();
                    let mut args: Vec<&[u8]> = vec![b"SREM", key];
                    args.extend(ms.iter().map(|m| m.as_slice()));
                    assert_eq!(cmd(&db, &args), RespValue::Integer(n as i64));
                }
                6 => {
                    let ms: Vec<Vec<u8>> = (0..3).map(|_| gen(&mut rng)).collect();
                    let got = cmd(&db, &[b"SMISMEMBER", key, &ms[0], &ms[1], &ms[2]]);
                    let want =
                        RespValue::Array(ms.iter().map(|m| RespValue::Integer(model.contains(m) as i64)).collect());
                    assert_eq!(got, want);
                    assert_eq!(
                        cmd(&db, &[b"SISMEMBER", key, &ms[0]]),
                        RespValue::Integer(model.contains(&ms[0]) as i64)
                    );
                }
                7 => {
                    let popped = cmd(&db, &[b"SPOP", key]);
                    match popped.as_bytes() {
                        Some(m) => assert!(model.remove(m), "popped a non-member"),
                        None => assert!(model.is_empty()),
                    }
                }
                8 => {
                    let count = rng.gen_range(0..(model.len() + 3));
                    let popped = members(cmd(&db, &[b"SPOP", key, count.to_string().as_bytes()]));
                    assert_eq!(popped.len(), count.min(model.len()));
                    for m in &popped {
                        assert!(model.remove(m));
                    }
                    // SPOP with a count may rebuild the set (Redis's case 3: fewer than five
                    // times the count remain) from its remaining members, with setTypeCreate
                    // rules: intset again if they are all integers within the limit.
                    let before = model.len() + popped.len();
                    if count < before && count * 5 > before {
                        table = !(model.iter().all(|m| is_int(m)) && model.len() <= max);
                    }
                }
                _ => {
                    assert_eq!(cmd(&db, &[b"SCARD", key]), RespValue::Integer(model.len() as i64));
                    assert_eq!(members(cmd(&db, &[b"SMEMBERS", key])), model);
                }
            }
            if model.is_empty() {
                assert_eq!(cmd(&db, &[b"EXISTS", key]), RespValue::Integer(0), "empty set must be deleted");
            } else {
                let want = if table { "hashtable" } else { "intset" };
                assert_eq!(encoding(&db, key), want, "step {step} len {} max {max}", model.len());
                if want == "intset" {
                    // Intsets reply in ascending order.
                    let RespValue::Array(a) = cmd(&db, &[b"SMEMBERS", key]) else { panic!() };
                    let nums: Vec<i64> =
                        a.iter().filter_map(|v| std::str::from_utf8(v.as_bytes()?).ok()?.parse().ok()).collect();
                    assert!(nums.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }
}

/// Multi-key operations against the model.
#[test]
fn model_based_multi_key_ops() {
    let mut rng = rand::thread_rng();
    let db = Database::new();
    let keys: Vec<Vec<u8>> = (0..5).map(|i| format!("k{i}").into_bytes()).collect();
    let mut model: HashMap<Vec<u8>, BTreeSet<Vec<u8>>> = HashMap::new();
    let gen = |rng: &mut rand::rngs::ThreadRng| -> Vec<u8> {
        if rng.gen_bool(0.5) {
            rng.gen_range(0..60).to_string().into_bytes()
        } else {
            format!("x{}", rng.gen_range(0..60)).into_bytes()
        }
    };
    for step in 0..3000 {
        let pick = |rng: &mut rand::rngs::ThreadRng| keys[rng.gen_range(0..keys.len())].clone();
        match rng.gen_range(0..9) {
            0 | 1 => {
                let k = pick(&mut rng);
                let ms: Vec<Vec<u8>> = (0..rng.gen_range(1..20)).map(|_| gen(&mut rng)).collect();
                db.sadd(&k, &ms).unwrap();
                model.entry(k).or_default().extend(ms);
            }
            2 => {
                let k = pick(&mut rng);
                let ms: Vec<Vec<u8>> = (0..rng.gen_range(1..20)).map(|_| gen(&mut rng)).collect();
                db.srem(&k, &ms).unwrap();
                if let Some(s) = model.get_mut(&k) {
                    for m in &ms {
                        s.remove(m);
                    }
                }
            }
            3..=5 => {
                let n = rng.gen_range(1..4);
                let srcs: Vec<Vec<u8>> = (0..n).map(|_| pick(&mut rng)).collect();
                let sets: Vec<BTreeSet<Vec<u8>>> =
                    srcs.iter().map(|k| model.get(k).cloned().unwrap_or_default()).collect();
                let inter: BTreeSet<Vec<u8>> =
                    sets[0].iter().filter(|m| sets[1..].iter().all(|s| s.contains(*m))).cloned().collect();
                let union: BTreeSet<Vec<u8>> = sets.iter().flatten().cloned().collect();
                let diff: BTreeSet<Vec<u8>> =
                    sets[0].iter().filter(|m| !sets[1..].iter().any(|s| s.contains(*m))).cloned().collect();
                let got_inter: BTreeSet<Vec<u8>> = db.sinter(&srcs).unwrap().into_iter().collect();
                assert_eq!(got_inter, inter, "step {step}");
                assert_eq!(db.sunion(&srcs).unwrap().into_iter().collect::<BTreeSet<_>>(), union);
                assert_eq!(db.sdiff(&srcs).unwrap().into_iter().collect::<BTreeSet<_>>(), diff);
                let limit = rng.gen_range(0..5);
                let want_card = if limit == 0 { inter.len() } else { inter.len().min(limit) };
                assert_eq!(db.sintercard(&srcs, limit).unwrap(), want_card);
                let dst = pick(&mut rng);
                let (n, result) = match rng.gen_range(0..3) {
                    0 => (db.sinterstore(&dst, &srcs).unwrap(), inter),
                    1 => (db.sunionstore(&dst, &srcs).unwrap(), union),
                    _ => (db.sdiffstore(&dst, &srcs).unwrap(), diff),
                };
                assert_eq!(n, result.len());
                model.insert(dst, result);
            }
            6 => {
                let (src, dst) = (pick(&mut rng), pick(&mut rng));
                let m = gen(&mut rng);
                let present = model.get(&src).is_some_and(|s| s.contains(&m));
                assert_eq!(db.smove(&src, &dst, &m).unwrap(), present);
                if present && src != dst {
                    model.get_mut(&src).map(|s| s.remove(&m));
                    model.entry(dst).or_default().insert(m);
                }
            }
            _ => {}
        }
        model.retain(|_, s| !s.is_empty());
        for k in &keys {
            let got: BTreeSet<Vec<u8>> = db.smembers(k).unwrap().into_iter().collect();
            assert_eq!(
                got,
                model.get(k).cloned().unwrap_or_default(),
                "step {step} key {}",
                String::from_utf8_lossy(k)
            );
            if let Some(s) = model.get(k) {
                let enc = encoding(&db, k);
                if s.iter().any(|m| !is_int(m)) {
                    assert_eq!(enc, "hashtable");
                }
            } else {
                assert_eq!(cmd(&db, &[b"EXISTS", k]), RespValue::Integer(0));
            }
        }
    }
}

#[test]
fn random_member_properties() {
    let db = Database::new();
    for (key, n, ints) in [(&b"ints"[..], 300usize, true), (&b"small"[..], 40, false), (&b"big"[..], 3000, false)] {
        let ms: Vec<String> = (0..n).map(|i| if ints { i.to_string() } else { format!("m{i}") }).collect();
        db.sadd(key, &ms).unwrap();
        let all: HashSet<Vec<u8>> = ms.iter().map(|m| m.clone().into_bytes()).collect();
        for count in [1i64, 2, 7, (n / 3) as i64, (n / 2) as i64, n as i64 - 1, n as i64, n as i64 * 2] {
            let got = db.srandmember_count(key, count).unwrap();
            assert_eq!(got.len(), (count as usize).min(n));
            let distinct: HashSet<Vec<u8>> = got.iter().cloned().collect();
            assert_eq!(distinct.len(), got.len(), "count {count}: distinct members expected");
            assert!(distinct.is_subset(&all));
        }
        for count in [-1i64, -5, -(n as i64) * 2] {
            let got = db.srandmember_count(key, count).unwrap();
            assert_eq!(got.len(), count.unsigned_abs() as usize);
            assert!(got.iter().all(|m| all.contains(m)));
        }
        let seen: HashSet<Vec<u8>> = db.srandmember_count(key, -(n as i64) * 20).unwrap().into_iter().collect();
        assert_eq!(seen.len(), n, "every member is eventually picked");
        assert!(all.contains(&db.srandmember(key).unwrap().unwrap()));
    }
    // SPOP with counts hitting each of Redis's three strategies.
    for (count, size) in [(1usize, 100usize), (10, 100), (30, 100), (99, 100), (100, 100), (500, 100)] {
        let db = Database::new();
        let ms: Vec<String> = (0..size).map(|i| format!("m{i}")).collect();
        db.sadd("s", &ms).unwrap();
        let popped = db.spop_count("s", count).unwrap();
        assert_eq!(popped.len(), count.min(size));
        let rest: HashSet<Vec<u8>> = db.smembers("s").unwrap().into_iter().collect();
        let popped: HashSet<Vec<u8>> = popped.into_iter().collect();
        assert!(popped.is_disjoint(&rest));
        assert_eq!(popped.len() + rest.len(), size);
    }
}

#[test]
fn spop_rebuild_can_become_intset() {
    // Redis's SPOP case 3 rebuilds the remaining set with setTypeCreate rules: a hashtable of
    // integers shrinks back to an intset.
    let db = Database::new();
    let ms: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    db.sadd("s", &ms).unwrap();
    assert_eq!(encoding(&db, b"s"), "hashtable");
    db.spop_count("s", 500).unwrap();
    assert_eq!(encoding(&db, b"s"), "intset");
    assert_eq!(db.scard("s").unwrap(), 100);
}

#[test]
fn sscan_visits_everything() {
    let db = Database::new();
    let n = 5000;
    let ms: Vec<String> = (0..n).map(|i| format!("member:{i}")).collect();
    db.sadd("s", &ms).unwrap();
    for count in [1usize, 10, 1000] {
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, got) = db.sscan("s", cursor, &ScanOptions { count: Some(count), ..Default::default() }).unwrap();
            seen.extend(got);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), n);
    }
    let mut matched = HashSet::new();
    let mut cursor = 0;
    loop {
        let opts = ScanOptions { pattern: Some(b"member:1?".to_vec()), count: Some(50), ..Default::default() };
        let (next, got) = db.sscan("s", cursor, &opts).unwrap();
        matched.extend(got);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(matched.len(), 10);
}

/// SMOVE and SUNIONSTORE lock all their keys: concurrent movers never lose or duplicate a
/// member, and a reader of both sets (SUNION) always sees the full population.
#[test]
fn multi_key_commands_are_atomic() {
    let db = Database::new();
    let ms: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    db.sadd("left", &ms).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut rng = rand::thread_rng();
                for _ in 0..3000 {
                    let m = format!("m{}", rng.gen_range(0..200));
                    if t % 2 == 0 {
                        db.smove("left", "right", &m).unwrap();
                    } else {
                        db.smove("right", "left", &m).unwrap();
                    }
                }
            })
        })
        .collect();
    for _ in 0..300 {
        assert_eq!(db.sunion(&["left", "right"]).unwrap().len(), 200);
        assert!(db.sinter(&["left", "right"]).unwrap().is_empty());
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(db.scard("left").unwrap() + db.scard("right").unwrap(), 200);
}

#[test]
fn typed_api() {
    let db = Database::new();
    assert_eq!(db.sadd("s", &["a", "b", "c"]).unwrap(), 3);
    assert_eq!(db.sadd("s", &["a"]).unwrap(), 0);
    assert_eq!(db.scard("s").unwrap(), 3);
    assert!(db.sismember("s", "b").unwrap());
    assert_eq!(db.smismember("s", &["a", "z"]).unwrap(), vec![true, false]);
    assert_eq!(db.srem("s", &["a", "z"]).unwrap(), 1);
    assert!(db.smove("s", "t", "b").unwrap());
    assert_eq!(db.smembers("t").unwrap(), vec![b"b".to_vec()]);
    db.sadd("u", &["1", "2"]).unwrap();
    assert_eq!(db.sunionstore("dst", &["s", "t", "u"]).unwrap(), 4);
    assert_eq!(db.sinterstore("dst", &["s", "t"]).unwrap(), 0);
    assert_eq!(db.smembers("dst").unwrap(), Vec::<Vec<u8>>::new());
    assert_eq!(db.sdiffstore("dst", &["u", "t"]).unwrap(), 2);
    assert_eq!(db.smembers("dst").unwrap(), vec![b"1".to_vec(), b"2".to_vec()]);
    assert_eq!(db.spop("t").unwrap(), Some(b"b".to_vec()));
    assert_eq!(db.spop("t").unwrap(), None);
    assert_eq!(db.srandmember("nokey").unwrap(), None);
    db.set("str", "v").unwrap();
    assert_eq!(db.sadd("str", &["a"]), Err(ferrous_core::Error::WrongType));
    assert_eq!(db.sinter(&["nokey", "str"]), Err(ferrous_core::Error::WrongType));
}

/// Memory of the layouts the brief measures (run with `--ignored --nocapture`, release
/// mode): 10k sets of 100 members (strings: hashtable; integers: intset).
#[test]
#[ignore]
fn memory_report() {
    fn rss_kb() -> usize {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
    let db = Database::new();
    let before = rss_kb();
    for k in 0..10_000 {
        let ms: Vec<String> = (0..100).map(|i| format!("member:{k}:{i}")).collect();
        db.sadd(format!("set:{k}"), &ms).unwrap();
    }
    let strings = rss_kb() - before;
    println!("10k x 100-member string sets: {} KB, {:.1} bytes/member", strings, strings as f64 * 1024.0 / 1e6);
    let before = rss_kb();
    for k in 0..10_000 {
        let ms: Vec<String> = (0..100).map(|i| (k * 100 + i).to_string()).collect();
        db.sadd(format!("iset:{k}"), &ms).unwrap();
    }
    let ints = rss_kb() - before;
    println!("10k x 100-member integer sets: {} KB, {:.1} bytes/member", ints, ints as f64 * 1024.0 / 1e6);
    let before = rss_kb();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..1_000_000 {
        batch.push(format!("member:{i}"));
        if batch.len() == 1000 {
            db.sadd("big", &batch).unwrap();
            batch.clear();
        }
    }
    let big = rss_kb() - before;
    println!("1M-member set: {} KB, {:.1} bytes/member", big, big as f64 * 1024.0 / 1e6);
}
