//! Hash commands: replies recorded from Redis 7.0 (`support/hashes.cases`), model-based
//! random tests against a `HashMap` crossing the listpack -> hashtable thresholds, random
//! and scan properties, and the typed API.
#[path = "support/oracle.rs"]
mod oracle;

use ferrous_core::{Database, RespValue, ScanOptions};
use rand::Rng;
use std::collections::{HashMap, HashSet};

fn cmd(db: &Database, args: &[&[u8]]) -> RespValue {
    db.execute(args.iter().copied())
}

fn bulk_list(v: RespValue) -> Vec<Vec<u8>> {
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

#[test]
fn replies_match_redis() {
    let failures = oracle::replay(include_str!("support/hashes.cases"));
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Random operations against a `HashMap` model, with thresholds small enough (and values
/// long enough) to cross listpack -> hashtable many times; the encoding must follow Redis's
/// rules (sticky once converted).
#[test]
fn model_based_random_ops() {
    let mut rng = rand::thread_rng();
    for round in 0..6 {
        let db = Database::new();
        let (max_entries, max_value) =
            if round % 2 == 0 { (128, 64) } else { (rng.gen_range(1..20), rng.gen_range(1..20)) };
        cmd(&db, &[b"CONFIG", b"SET", b"hash-max-listpack-entries", max_entries.to_string().as_bytes()]);
        cmd(&db, &[b"CONFIG", b"SET", b"hash-max-listpack-value", max_value.to_string().as_bytes()]);
        let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut converted = false;
        let key: &[u8] = b"h";
        let field_space = if round % 2 == 0 { 300 } else { 40 };
        let field = |rng: &mut rand::rngs::ThreadRng| -> Vec<u8> {
            match rng.gen_range(0..3) {
                0 => rng.gen_range(-50i64..field_space).to_string().into_bytes(),
                1 => format!("f{}", rng.gen_range(0..field_space)).into_bytes(),
                _ => format!("{:0width$}", rng.gen_range(0..field_space), width = rng.gen_range(1..4)).into_bytes(),
            }
        };
        let value = |rng: &mut rand::rngs::ThreadRng| -> Vec<u8> {
            match rng.gen_range(0..4) {
                0 => rng.gen::<i64>().to_string().into_bytes(),
                1 => rng.gen_range(0..100).to_string().into_bytes(),
                2 => vec![b'x'; rng.gen_range(0..80)],
                _ => (0..rng.gen_range(0..10)).map(|_| rng.gen::<u8>()).collect(),
            }
        };
        for step in 0..3000 {
            match rng.gen_range(0..10) {
                0..=2 => {
                    let n = rng.gen_range(1..4);
                    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..n).map(|_| (field(&mut rng), value(&mut rng))).collect();
                    let mut args: Vec<&[u8]> = vec![b"HSET", key];
                    for (f, v) in &pairs {
                        args.push(f);
                        args.push(v);
                    }
                    let mut new = 0;
                    let mut fresh = HashSet::new();
                    // Redis checks every string of the command before inserting.
                    if pairs.iter().any(|(f, v)| f.len() > max_value || v.len() > max_value) {
                        converted = true;
                    }
                    for (f, v) in &pairs {
                        if model.insert(f.clone(), v.clone()).is_none() && fresh.insert(f.clone()) {
                            new += 1;
                        }
                    }
                    if model.len() > max_entries {
                        converted = true;
                    }
                    assert_eq!(cmd(&db, &args), RespValue::Integer(new), "step {step}");
                }
                3 => {
                    let (f, v) = (field(&mut rng), value(&mut rng));
                    let set = !model.contains_key(&f);
                    if set {
                        if f.len() > max_value || v.len() > max_value {
                            converted = true;
                        }
                        model.insert(f.clone(), v.clone());
                        if model.len() > max_entries {
                            converted = true;
                        }
                    }
                    assert_eq!(cmd(&db, &[b"HSETNX", key, &f, &v]), RespValue::Integer(set as i64));
                }
                4 => {
                    let fs: Vec<Vec<u8>> = (0..rng.gen_range(1..4)).map(|_| field(&mut rng)).collect();
                    let mut args: Vec<&[u8]> = vec![b"HDEL", key];
                    args.extend(fs.iter().map(|f| f.as_slice()));
                    let n = fs.iter().filter(|f| model.remove(*f).is_some()).count();
                    assert_eq!(cmd(&db, &args), RespValue::Integer(n as i64));
                }
                5 => {
                    let f = field(&mut rng);
                    let d: i64 = rng.gen_range(-1000..1000);
                    let cur = model.get(&f).map(|v| {
                        std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                            .filter(|i| i.to_string().as_bytes() == v.as_slice())
                    });
                    let reply = cmd(&db, &[b"HINCRBY", key, &f, d.to_string().as_bytes()]);
                    match cur {
                        Some(None) => assert!(reply.is_error(), "{reply:?}"),
                        Some(Some(c)) => match c.checked_add(d) {
                            Some(n) => {
                                assert_eq!(reply, RespValue::Integer(n));
                                if n.to_string().len() > max_value {
                                    converted = true;
                                }
                                model.insert(f, n.to_string().into_bytes());
                            }
                            None => assert!(reply.is_error()),
                        },
                        None => {
                            assert_eq!(reply, RespValue::Integer(d));
                            if f.len() > max_value || d.to_string().len() > max_value {
                                converted = true;
                            }
                            model.insert(f, d.to_string().into_bytes());
                            if model.len() > max_entries {
                                converted = true;
                            }
                        }
                    }
                }
                6 => {
                    let f = field(&mut rng);
                    assert_eq!(cmd(&db, &[b"HGET", key, &f]).as_bytes().map(<[u8]>::to_vec), model.get(&f).cloned());
                    let exists = cmd(&db, &[b"HEXISTS", key, &f]);
                    assert_eq!(exists, RespValue::Integer(model.contains_key(&f) as i64));
                    let len = cmd(&db, &[b"HSTRLEN", key, &f]);
                    assert_eq!(len, RespValue::Integer(model.get(&f).map_or(0, |v| v.len()) as i64));
                }
                7 => {
                    let fs: Vec<Vec<u8>> = (0..3).map(|_| field(&mut rng)).collect();
                    let got = match cmd(&db, &[b"HMGET", key, &fs[0], &fs[1], &fs[2]]) {
                        RespValue::Array(a) => {
                            a.into_iter().map(|v| v.as_bytes().map(<[u8]>::to_vec)).collect::<Vec<_>>()
                        }
                        other => panic!("{other:?}"),
                    };
                    assert_eq!(got, fs.iter().map(|f| model.get(f).cloned()).collect::<Vec<_>>());
                }
                _ => {
                    assert_eq!(cmd(&db, &[b"HLEN", key]), RespValue::Integer(model.len() as i64));
                    let all = bulk_list(cmd(&db, &[b"HGETALL", key]));
                    let got: HashMap<Vec<u8>, Vec<u8>> = all.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
                    assert_eq!(got.len() * 2, all.len(), "duplicate fields");
                    assert_eq!(got, model);
                }
            }
            if model.is_empty() {
                assert_eq!(cmd(&db, &[b"EXISTS", key]), RespValue::Integer(0), "empty hash must be deleted");
                converted = false;
            } else {
                let want = if converted { "hashtable" } else { "listpack" };
                assert_eq!(
                    encoding(&db, key),
                    want,
                    "step {step} len {} limits {max_entries}/{max_value}",
                    model.len()
                );
            }
        }
    }
}

#[test]
fn hrandfield_properties() {
    let db = Database::new();
    for (key, n) in [(&b"small"[..], 50usize), (&b"big"[..], 1000usize)] {
        let pairs: Vec<(String, String)> = (0..n).map(|i| (format!("f{i}"), format!("v{i}"))).collect();
        db.hset(key, &pairs).unwrap();
        let model: HashMap<Vec<u8>, Vec<u8>> =
            pairs.iter().map(|(f, v)| (f.clone().into_bytes(), v.clone().into_bytes())).collect();
        for count in [1i64, 2, 5, 17, (n / 2) as i64, n as i64 - 1, n as i64, n as i64 + 10] {
            let got = db.hrandfield_with_values(key, count).unwrap();
            assert_eq!(got.len(), (count as usize).min(n));
            let distinct: HashSet<&Vec<u8>> = got.iter().map(|(f, _)| f).collect();
            assert_eq!(distinct.len(), got.len(), "positive count must give distinct fields");
            for (f, v) in &got {
                assert_eq!(model.get(f), Some(v));
            }
            let fields = bulk_list(cmd(&db, &[b"HRANDFIELD", key, count.to_string().as_bytes()]));
            assert_eq!(fields.iter().collect::<HashSet<_>>().len(), fields.len());
        }
        for count in [-1i64, -3, -(n as i64) * 3] {
            let got = db.hrandfield_with_values(key, count).unwrap();
            assert_eq!(got.len(), count.unsigned_abs() as usize);
            assert!(got.iter().all(|(f, v)| model.get(f) == Some(v)));
        }
        // With many draws every field shows up (uniformity smoke test).
        let seen: HashSet<Vec<u8>> = db.hrandfield_count(key, -(n as i64) * 20).unwrap().into_iter().collect();
        assert_eq!(seen.len(), n);
        let one = db.hrandfield(key).unwrap().unwrap();
        assert!(model.contains_key(&one));
    }
    assert_eq!(db.hrandfield("missing").unwrap(), None);
    assert!(db.hrandfield_count("missing", 5).unwrap().is_empty());
}

#[test]
fn hscan_visits_everything() {
    let db = Database::new();
    let n = 5000;
    let pairs: Vec<(String, String)> = (0..n).map(|i| (format!("field:{i}"), format!("value:{i}"))).collect();
    db.hset("h", &pairs).unwrap();
    assert_eq!(encoding(&db, b"h"), "hashtable");
    for count in [1usize, 10, 1000] {
        let mut seen = HashMap::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let (next, got) = db.hscan("h", cursor, &ScanOptions { count: Some(count), ..Default::default() }).unwrap();
            calls += 1;
            for (f, v) in got {
                seen.insert(f, v);
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), n);
        assert!(seen.iter().all(|(f, v)| f[6..] == v[6..]));
        assert!(calls > 1);
    }
    // MATCH through the command path.
    let mut matched = HashSet::new();
    let mut cursor = b"0".to_vec();
    loop {
        let reply = cmd(&db, &[b"HSCAN", b"h", &cursor, b"MATCH", b"field:1?", b"COUNT", b"100"]);
        let RespValue::Array(parts) = reply else { panic!() };
        cursor = parts[0].as_bytes().unwrap().to_vec();
        let items = bulk_list(parts[1].clone());
        for pair in items.chunks(2) {
            matched.insert(pair[0].clone());
        }
        if cursor == b"0" {
            break;
        }
    }
    assert_eq!(matched.len(), 10);
}

#[test]
fn typed_api() {
    let db = Database::new();
    assert_eq!(db.hset("h", &[("a", "1"), ("b", "2")]).unwrap(), 2);
    assert_eq!(db.hset("h", &[("a", "3")]).unwrap(), 0);
    assert!(!db.hsetnx("h", "a", "x").unwrap());
    assert!(db.hsetnx("h", "c", "x").unwrap());
    assert_eq!(db.hget("h", "a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.hmget("h", &["a", "zz"]).unwrap(), vec![Some(b"3".to_vec()), None]);
    assert_eq!(db.hlen("h").unwrap(), 3);
    assert_eq!(db.hstrlen("h", "c").unwrap(), 1);
    assert!(db.hexists("h", "b").unwrap());
    assert_eq!(db.hkeys("h").unwrap(), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(db.hvals("h").unwrap(), vec![b"3".to_vec(), b"2".to_vec(), b"x".to_vec()]);
    assert_eq!(db.hgetall("h").unwrap().len(), 3);
    assert_eq!(db.hincrby("h", "a", 10).unwrap(), 13);
    assert_eq!(db.hincrby("h", "c", 1), Err(ferrous_core::Error::msg("ERR hash value is not an integer")));
    assert_eq!(db.hincrbyfloat("h", "f", "0.1").unwrap(), b"0.1".to_vec());
    assert_eq!(db.hincrbyfloat("h", "f", "0.2").unwrap(), b"0.3".to_vec());
    assert_eq!(db.hincrbyfloat("h", "f", "x"), Err(ferrous_core::Error::NotFloat));
    assert_eq!(db.hdel("h", &["a", "b", "c", "f"]).unwrap(), 4);
    assert_eq!(db.hlen("h").unwrap(), 0);
    db.set("s", "v").unwrap();
    assert_eq!(db.hget("s", "a"), Err(ferrous_core::Error::WrongType));
    assert_eq!(db.hset("s", &[("a", "b")]), Err(ferrous_core::Error::WrongType));
}

#[test]
fn hincrbyfloat_sequences_match_long_double() {
    // Expected values recorded from Redis 7.0 (80-bit long double, "%.17Lf").
    let db = Database::new();
    let steps = [
        ("0.1", "0.1"),
        ("0.1", "0.2"),
        ("0.1", "0.3"),
        ("0.1", "0.4"),
        ("-1.4", "-1"),
        ("1e-17", "-0.99999999999999999"),
        ("3", "2.00000000000000001"),
    ];
    for (incr, want) in steps {
        assert_eq!(String::from_utf8(db.hincrbyfloat("h", "f", incr).unwrap()).unwrap(), want, "after += {incr}");
    }
}

/// Memory of the layouts the brief measures (run with `--ignored --nocapture`, release
/// mode): 10k hashes of 100 fields (listpack) and one hash of 1M fields (hashtable).
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
        let pairs: Vec<(String, String)> = (0..100).map(|i| (format!("field:{i}"), format!("value:{k}:{i}"))).collect();
        db.hset(format!("hash:{k}"), &pairs).unwrap();
    }
    let small = rss_kb() - before;
    println!("10k x 100-field hashes: {} KB, {:.1} bytes/field", small, small as f64 * 1024.0 / 1e6);
    let before = rss_kb();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..1_000_000 {
        batch.push((format!("field:{i}"), format!("value:{i}")));
        if batch.len() == 1000 {
            db.hset("big", &batch).unwrap();
            batch.clear();
        }
    }
    let big = rss_kb() - before;
    println!("1M-field hash: {} KB, {:.1} bytes/field", big, big as f64 * 1024.0 / 1e6);
}
