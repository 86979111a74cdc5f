//! The RDB codec against itself and against Redis 7.0.
//!
//! - Round trips: random values of every type and encoding, built through the command
//!   table under random thresholds, written (file and DUMP) and read back: same contents,
//!   same encoding (the one the thresholds give), same list node layout, same expiry.
//! - Differential, with redis-server as the oracle (skipped with a message when it is not
//!   installed, unless `CI` is set):
//!   1. DUMP payloads of a corpus of values in every encoding are byte-identical to
//!      `dump_payload` of the same value built in Ferrous (except hash-table hashes and
//!      sets, whose order is Redis's hash order), each Redis payload restores to the same
//!      contents and encoding, and Redis accepts every Ferrous payload.
//!   2. A dump.rdb written by redis-server (SAVE) reads back key by key as redis-cli sees it.
//!   3. A file from the writer passes `redis-check-rdb` and loads into redis-server with the
//!      same contents.
//! - Corruption: truncation at every offset and random byte flips never panic, and give
//!   either an error or values that satisfy their invariants.
#[path = "support/tools.rs"]
mod tools;
use ferrous_core::rdb::{self, DecodeOptions, EncodeOptions, Item, RdbError, Reader, ValueLimits};
use ferrous_core::value::Value;
use ferrous_core::{Database, RespValue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use std::process::Command;
use std::time::Instant;
use tools::{require_tool, RedisProc, TempDir};

// ---------------------------------------------------------------------------------------
// Models: what a value holds, independent of encoding and order
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Model {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

fn model(v: &Value) -> Model {
    match v {
        Value::Str(_) | Value::Int(_) => Model::Str(v.as_str().unwrap().to_vec()),
        Value::List(l) => Model::List(l.iter().map(|e| e.to_vec()).collect()),
        Value::Hash(h) => {
            let mut p: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            p.sort();
            Model::Hash(p)
        }
        Value::Set(s) => {
            let mut m: Vec<_> = s.iter().map(|m| m.to_vec()).collect();
            m.sort();
            Model::Set(m)
        }
        Value::ZSet(z) => Model::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s)).collect()),
        _ => panic!("unexpected value type"),
    }
}

/// The encoding Redis gives a value with these contents when it is loaded under `l`.
fn canonical_encoding(v: &Value, l: &ValueLimits) -> &'static str {
    match model(v) {
        // Loading re-encodes strings (Redis's tryObjectEncoding): "raw" from APPEND is gone.
        Model::Str(b) => Value::string(&b).encoding(false),
        Model::List(_) => "quicklist",
        Model::Hash(p) => {
            let small = p.len() <= l.hash_max_listpack_entries
                && p.iter().all(|(f, v)| f.len() <= l.hash_max_listpack_value && v.len() <= l.hash_max_listpack_value);
            if small {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Model::Set(m) => {
            let ints = m.iter().all(|m| ferrous_resp::parse_i64(m).is_some());
            if ints && m.len() <= l.set_max_intset_entries {
                "intset"
            } else {
                "hashtable"
            }
        }
        Model::ZSet(z) => {
            if z.len() <= l.zset_max_listpack_entries && z.iter().all(|(m, _)| m.len() <= l.zset_max_listpack_value) {
                "listpack"
            } else {
                "skiplist"
            }
        }
    }
}

fn node_layout(v: &Value) -> Vec<usize> {
    match v {
        Value::List(l) => l.nodes().map(|n| n.len()).collect(),
        _ => Vec::new(),
    }
}

/// Checks what every value must satisfy, whatever bytes it came from.
fn check_invariants(v: &Value) {
    match v {
        Value::Str(_) | Value::Int(_) => {}
        Value::List(l) => {
            l.check_invariants().unwrap();
            assert!(!l.is_empty(), "empty list");
            assert_eq!(l.iter().count(), l.len());
        }
        Value::Hash(h) => {
            assert!(!h.is_empty(), "empty hash");
            let pairs: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            assert_eq!(pairs.len(), h.len());
            for (f, val) in &pairs {
                assert_eq!(h.get(f).map(|x| x.to_vec()).as_ref(), Some(val));
            }
            let mut fields: Vec<_> = pairs.iter().map(|p| &p.0).collect();
            fields.sort();
            fields.dedup();
            assert_eq!(fields.len(), pairs.len(), "repeated hash field");
        }
        Value::Set(s) => {
            assert!(!s.is_empty(), "empty set");
            let mut m: Vec<_> = s.iter().map(|m| m.to_vec()).collect();
            assert_eq!(m.len(), s.len());
            for x in &m {
                assert!(s.contains(x));
            }
            m.sort();
            m.dedup();
            assert_eq!(m.len(), s.len(), "repeated set member");
        }
        Value::ZSet(z) => {
            assert!(!z.is_empty(), "empty zset");
            let items: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(items.len(), z.len());
            for w in items.windows(2) {
                assert!(w[0].1 < w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0), "zset out of order");
            }
            for (m, s) in &items {
                assert!(!s.is_nan());
                assert_eq!(z.score(m), Some(*s));
            }
        }
        _ => panic!("unexpected value type"),
    }
}

// ---------------------------------------------------------------------------------------
// Building values in Ferrous
// ---------------------------------------------------------------------------------------

type Cmd = Vec<Vec<u8>>;

fn cmd<A: AsRef<[u8]>>(args: impl IntoIterator<Item = A>) -> Cmd {
    args.into_iter().map(|a| a.as_ref().to_vec()).collect()
}

fn show(c: &Cmd) -> String {
    c.iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if s.len() > 40 {
                format!("{}...({} bytes)", &s[..20.min(s.len())], a.len())
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(db: &Database, c: &Cmd) {
    let r = db.execute(c);
    assert!(!matches!(r, RespValue::Error(_)), "{} -> {r:?}", show(c));
}

fn raw(db: &Database, key: &[u8]) -> Value {
    db.access().read(key, |n| n.map(|n| n.value.clone())).expect("key exists")
}

fn limits_of(db: &Database) -> ValueLimits {
    ValueLimits::from_tunables(&db.inner().tunables)
}

fn decode_opts(limits: ValueLimits) -> DecodeOptions {
    DecodeOptions { limits, verify_checksum: true, deep_sanitize: true }
}

/// Random bytes of a random kind: small integers, big integers, short text, binary, long
/// compressible text.
fn random_elem(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 | 1 => rng.gen_range(-200i64..200).to_string().into_bytes(),
        2 => rng.gen::<i64>().to_string().into_bytes(),
        3 => rng.gen_range(-70000i64..70000).to_string().into_bytes(),
        4 => (0..rng.gen_range(0..8)).map(|_| rng.gen()).collect(),
        5 => format!("0{}", rng.gen_range(0..100)).into_bytes(),
        6 => {
            let n = rng.gen_range(0..300);
            (0..n).map(|i| b"abcab"[i % 5]).collect()
        }
        7 if rng.gen_bool(0.1) => vec![b'z'; rng.gen_range(4000..17000)],
        _ => format!("m{}", rng.gen_range(0..50)).into_bytes(),
    }
}

fn random_score(rng: &mut SmallRng) -> String {
    match rng.gen_range(0..8) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => format!("{}", rng.gen_range(-1000..1000)),
        3 => format!("{}", rng.gen::<f64>() * 1e6),
        4 => format!("{:e}", rng.gen_range(-1e20..1e20)),
        5 => "-0".into(),
        _ => format!("{}", rng.gen_range(0..5)),
    }
}

/// Random thresholds, as CONFIG SET arguments.
fn random_config(rng: &mut SmallRng) -> Vec<(String, String)> {
    let pick = |rng: &mut SmallRng, v: &[i64]| v[rng.gen_range(0..v.len())].to_string();
    vec![
        ("list-max-listpack-size".into(), pick(rng, &[-5, -2, -1, 1, 2, 3, 7])),
        ("hash-max-listpack-entries".into(), pick(rng, &[0, 1, 4, 128])),
        ("hash-max-listpack-value".into(), pick(rng, &[0, 3, 64])),
        ("set-max-intset-entries".into(), pick(rng, &[0, 3, 512])),
        ("zset-max-listpack-entries".into(), pick(rng, &[0, 2, 128])),
        ("zset-max-listpack-value".into(), pick(rng, &[0, 3, 64])),
    ]
}

/// Commands building one random value of `kind` at `key`.
fn random_value_cmds(rng: &mut SmallRng, kind: usize, key: &[u8]) -> Vec<Cmd> {
    let k = key.to_vec();
    let mut out = Vec::new();
    let n = if rng.gen_bool(0.2) { rng.gen_range(50..400) } else { rng.gen_range(1..12) };
    match kind {
        0 => {
            out.push(cmd([b"SET".to_vec(), k.clone(), random_elem(rng)]));
            if rng.gen_bool(0.2) {
                out.push(cmd([b"APPEND".to_vec(), k, random_elem(rng)]));
            }
        }
        1 => {
            for _ in 0..n {
                let dir: &[u8] = if rng.gen_bool(0.7) { b"RPUSH" } else { b"LPUSH" };
                out.push(cmd([dir.to_vec(), k.clone(), random_elem(rng)]));
            }
            if rng.gen_bool(0.3) {
                out.push(cmd([b"LINSERT".to_vec(), k.clone(), b"BEFORE".to_vec(), b"m1".to_vec(), random_elem(rng)]));
                out.push(cmd([b"LREM".to_vec(), k.clone(), b"0".to_vec(), b"m2".to_vec()]));
            }
            // Keep the key alive: LREM may have emptied it.
            out.push(cmd([b"RPUSH".to_vec(), k, b"end".to_vec()]));
        }
        2 => {
            for _ in 0..n {
                out.push(cmd([b"HSET".to_vec(), k.clone(), random_elem(rng), random_elem(rng)]));
            }
            if rng.gen_bool(0.3) {
                out.push(cmd([b"HDEL".to_vec(), k.clone(), b"m1".to_vec(), b"m2".to_vec()]));
            }
            out.push(cmd([b"HSET".to_vec(), k, b"end".to_vec(), b"1".to_vec()]));
        }
        3 => {
            let ints = rng.gen_bool(0.6);
            for _ in 0..n {
                let m =
                    if ints { rng.gen_range(-100000i64..100000).to_string().into_bytes() } else { random_elem(rng) };
                out.push(cmd([b"SADD".to_vec(), k.clone(), m]));
            }
            if rng.gen_bool(0.3) {
                out.push(cmd([b"SREM".to_vec(), k.clone(), b"m1".to_vec(), b"5".to_vec()]));
            }
            out.push(cmd([b"SADD".to_vec(), k, b"7".to_vec()]));
        }
        _ => {
            for _ in 0..n {
                out.push(cmd([b"ZADD".to_vec(), k.clone(), random_score(rng).into_bytes(), random_elem(rng)]));
            }
            if rng.gen_bool(0.3) {
                out.push(cmd([b"ZREM".to_vec(), k.clone(), b"m1".to_vec(), b"m2".to_vec()]));
            }
            out.push(cmd([b"ZADD".to_vec(), k, b"1".to_vec(), b"end".to_vec()]));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

fn read_all(file: &[u8], opts: DecodeOptions) -> Result<(Vec<Item>, u16), RdbError> {
    let mut r = Reader::new(file, opts)?;
    let mut items = Vec::new();
    loop {
        match r.next_item()? {
            Item::Eof => return Ok((items, r.version())),
            it => items.push(it),
        }
    }
}

fn finish_file(mut file: Vec<u8>) -> Vec<u8> {
    file.push(0xFF);
    let crc = rdb::Crc64::checksum(&file);
    file.pop();
    rdb::write_eof(&mut file, crc);
    file
}

#[test]
fn random_values_roundtrip_through_files_and_dumps() {
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    for round in 0..40 {
        let db = Database::new();
        for (name, value) in random_config(&mut rng) {
            run(&db, &cmd(["CONFIG", "SET", &name, &value]));
        }
        let limits = limits_of(&db);
        let opts = EncodeOptions { compress: rng.gen_bool(0.5) };
        let mut file = Vec::new();
        rdb::write_header(&mut file);
        rdb::write_aux(&mut file, b"redis-ver", b"7.0.15");
        rdb::write_select_db(&mut file, 0);
        let mut expected = Vec::new();
        for i in 0..25 {
            let key = format!("key:{round}:{i}").into_bytes();
            for c in random_value_cmds(&mut rng, i % 5, &key) {
                run(&db, &c);
            }
            let v = raw(&db, &key);
            let expire = rng.gen_bool(0.3).then(|| rng.gen_range(0..i64::MAX / 2));
            rdb::write_entry(&mut file, &key, &v, expire, &opts);
            // DUMP / RESTORE of the same value.
            let payload = rdb::dump_payload(&v, &opts);
            let back = rdb::restore_payload(&payload, &decode_opts(limits)).unwrap();
            assert_eq!(model(&back), model(&v), "round {round} key {i}: restore contents");
            assert_eq!(
                back.encoding(false),
                canonical_encoding(&v, &limits),
                "round {round} key {i}: restore encoding"
            );
            assert_eq!(node_layout(&back), node_layout(&v), "round {round} key {i}: restored list nodes");
            check_invariants(&back);
            expected.push((key, v, expire));
        }
        let file = finish_file(file);
        let (items, version) = read_all(&file, decode_opts(limits)).unwrap();
        assert_eq!(version, 10);
        let entries: Vec<_> = items
            .into_iter()
            .filter_map(|it| match it {
                Item::Entry(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(entries.len(), expected.len());
        for (e, (key, v, expire)) in entries.iter().zip(&expected) {
            assert_eq!(&e.key, key);
            assert_eq!(model(&e.value), model(v), "{}", String::from_utf8_lossy(key));
            assert_eq!(e.value.encoding(false), canonical_encoding(v, &limits), "{}", String::from_utf8_lossy(key));
            assert_eq!(node_layout(&e.value), node_layout(v), "{}", String::from_utf8_lossy(key));
            assert_eq!(e.expire_ms, *expire);
            check_invariants(&e.value);
        }
    }
}

#[test]
fn header_errors_and_refusals() {
    let opts = DecodeOptions::default;
    assert!(matches!(Reader::new(&b"REDIS"[..], opts()), Err(RdbError::BadMagic)));
    assert!(matches!(Reader::new(&b"RUBIS0010"[..], opts()), Err(RdbError::BadMagic)));
    assert!(matches!(Reader::new(&b"REDIS0011"[..], opts()), Err(RdbError::UnsupportedVersion(11))));
    assert!(matches!(Reader::new(&b"REDIS0000"[..], opts()), Err(RdbError::UnsupportedVersion(0))));
    for (op, want) in [(0xF7u8, "module auxiliary data"), (0xF6, "pre-GA")] {
        let mut file = b"REDIS0010".to_vec();
        file.push(op);
        let err = read_all(&file, opts()).unwrap_err();
        assert!(matches!(err, RdbError::UnsupportedOpcode { offset: 9, .. }), "{err}");
        assert!(err.to_string().contains(want), "{err}");
    }
    // Streams (types 15 and 19) are read now: a stream cut short is a truncation.
    for t in [15u8, 19] {
        let mut file = b"REDIS0010".to_vec();
        file.extend_from_slice(&[t, 1, b'k', 0]);
        let err = read_all(&file, opts()).unwrap_err();
        assert!(matches!(err, RdbError::Truncated { .. }), "{err}");
    }
    let mut file = b"REDIS0010".to_vec();
    file.push(8);
    assert!(matches!(read_all(&file, opts()), Err(RdbError::UnknownOpcode { offset: 9, opcode: 8 })));
    // Truncation names where bytes were missing.
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(&[0, 3, b'k']);
    let err = read_all(&file, opts()).unwrap_err();
    assert!(matches!(err, RdbError::Truncated { offset: 12 }), "{err}");
    assert!(err.to_string().contains("offset 12"), "{err}");

    // Checksums: a flipped byte in a value is caught at EOF; a zero checksum is not checked.
    let mut file = Vec::new();
    rdb::write_header(&mut file);
    rdb::write_entry(&mut file, b"k", &Value::string(b"hello world"), None, &EncodeOptions::default());
    let good = finish_file(file.clone());
    assert!(read_all(&good, opts()).is_ok());
    let mut bad = good.clone();
    let at = bad.len() - 12;
    bad[at] ^= 1;
    assert!(matches!(read_all(&bad, opts()), Err(RdbError::Checksum { .. })));
    assert!(read_all(&bad, DecodeOptions { verify_checksum: false, ..opts() }).is_ok());
    let mut unchecked = file;
    rdb::write_eof(&mut unchecked, 0);
    assert!(read_all(&unchecked, opts()).is_ok());

    // DUMP payloads: version and checksum.
    let p = rdb::dump_payload(&Value::string(b"x"), &EncodeOptions::default());
    assert!(rdb::restore_payload(&p, &opts()).is_ok());
    let mut v11 = p.clone();
    let n = v11.len();
    v11[n - 10] = 11;
    assert!(matches!(rdb::restore_payload(&v11, &opts()), Err(RdbError::UnsupportedVersion(11))));
    let mut bad = p.clone();
    bad[n - 1] ^= 0x40;
    assert!(matches!(rdb::restore_payload(&bad, &opts()), Err(RdbError::Checksum { .. })));
    assert!(rdb::restore_payload(&bad, &DecodeOptions { verify_checksum: false, ..opts() }).is_ok());
    assert!(rdb::restore_payload(&p[..5], &opts()).is_err());
}

// ---------------------------------------------------------------------------------------
// Corruption
// ---------------------------------------------------------------------------------------

/// A file with one value of each kind (small, so every truncation can be tried).
fn sample_file(compress: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut rng = SmallRng::seed_from_u64(99);
    let db = Database::new();
    run(&db, &cmd(["CONFIG", "SET", "list-max-listpack-size", "3"]));
    let opts = EncodeOptions { compress };
    let mut file = Vec::new();
    rdb::write_header(&mut file);
    rdb::write_aux_int(&mut file, b"ctime", 1_700_000_000);
    rdb::write_function(&mut file, b"#!lua name=lib\nredis.register_function('f', function() return 1 end)");
    rdb::write_select_db(&mut file, 0);
    rdb::write_resize_db(&mut file, 8, 1);
    let mut payloads = Vec::new();
    let mut add = |db: &Database, file: &mut Vec<u8>, key: &str, cmds: Vec<Cmd>| {
        for c in &cmds {
            run(db, c);
        }
        let v = raw(db, key.as_bytes());
        rdb::write_entry(file, key.as_bytes(), &v, Some(1_900_000_000_000), &opts);
        payloads.push(rdb::dump_payload(&v, &opts));
    };
    add(&db, &mut file, "s", vec![cmd(["SET", "s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"])]);
    add(&db, &mut file, "i", vec![cmd(["SET", "i", "70000"])]);
    for (i, kind) in [1usize, 2, 3, 4].into_iter().enumerate() {
        let key = format!("k{i}");
        let cmds = random_value_cmds(&mut rng, kind, key.as_bytes());
        add(&db, &mut file, &key, cmds.into_iter().take(10).collect());
    }
    run(&db, &cmd(["CONFIG", "SET", "hash-max-listpack-entries", "0"]));
    run(&db, &cmd(["CONFIG", "SET", "zset-max-listpack-entries", "0"]));
    add(&db, &mut file, "ht", vec![cmd(["HSET", "ht", "a", "1", "b", "22222", "c", "x"])]);
    add(&db, &mut file, "zs", vec![cmd(["ZADD", "zs", "1", "a", "2.5", "b", "-inf", "c"])]);
    add(&db, &mut file, "st", vec![cmd(["SADD", "st", "a", "b", "1"])]);
    (finish_file(file), payloads)
}

/// Reads everything it can; values that come out must be sound.
fn read_checked(file: &[u8], opts: DecodeOptions) -> Result<usize, RdbError> {
    let mut r = Reader::new(file, opts)?;
    let mut n = 0;
    loop {
        match r.next_item()? {
            Item::Eof => return Ok(n),
            Item::Entry(e) => {
                check_invariants(&e.value);
                n += 1;
            }
            _ => {}
        }
    }
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    for compress in [false, true] {
        let (file, payloads) = sample_file(compress);
        assert_eq!(read_checked(&file, decode_opts(ValueLimits::default())).unwrap(), 9);
        for cut in 0..file.len() {
            let r = read_checked(&file[..cut], decode_opts(ValueLimits::default()));
            assert!(r.is_err(), "a file cut at {cut} of {} read as complete", file.len());
        }
        for p in &payloads {
            let opts = DecodeOptions { verify_checksum: false, ..decode_opts(ValueLimits::default()) };
            for cut in 0..p.len() {
                if let Ok(v) = rdb::restore_payload(&p[..cut], &opts) {
                    check_invariants(&v);
                }
            }
        }
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let mut rng = SmallRng::seed_from_u64(4242);
    let (file, payloads) = sample_file(true);
    let (plain, _) = sample_file(false);
    let mut outcomes = [0usize; 2];
    for i in 0..3000 {
        let src = if i % 2 == 0 { &file } else { &plain };
        let mut f = src.clone();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(9..f.len());
            f[at] = if rng.gen_bool(0.5) { rng.gen() } else { f[at] ^ (1 << rng.gen_range(0..8)) };
        }
        let limits = if rng.gen_bool(0.5) {
            ValueLimits::default()
        } else {
            ValueLimits { set_max_intset_entries: 1, ..Default::default() }
        };
        let opts = DecodeOptions { limits, verify_checksum: false, deep_sanitize: rng.gen_bool(0.5) };
        outcomes[read_checked(&f, opts).is_ok() as usize] += 1;
        let p = &payloads[rng.gen_range(0..payloads.len())];
        let mut q = p.clone();
        let at = rng.gen_range(0..q.len() - 10);
        q[at] = rng.gen();
        let opts = DecodeOptions { limits, verify_checksum: false, deep_sanitize: rng.gen_bool(0.5) };
        if let Ok(v) = rdb::restore_payload(&q, &opts) {
            check_invariants(&v);
        }
    }
    // Both outcomes occur, so the test exercises decoding past the damage, not just the
    // first error.
    assert!(outcomes[0] > 100 && outcomes[1] > 100, "{outcomes:?}");
}

// ---------------------------------------------------------------------------------------
// redis-server, the oracle
// ---------------------------------------------------------------------------------------

fn rcall(con: &mut redis::Connection, c: &Cmd) -> redis::Value {
    let mut r = redis::cmd(&String::from_utf8_lossy(&c[0]));
    for a in &c[1..] {
        r.arg(&a[..]);
    }
    r.query(con).unwrap_or_else(|e| panic!("redis: {} -> {e}", show(c)))
}

fn rstr(con: &mut redis::Connection, args: &[&[u8]]) -> Vec<u8> {
    let mut r = redis::cmd(&String::from_utf8_lossy(args[0]));
    for a in &args[1..] {
        r.arg(*a);
    }
    r.query(con).unwrap()
}

/// What redis-server holds at `key` (in the connection's selected db): contents, OBJECT
/// ENCODING, PEXPIRETIME.
fn redis_model(con: &mut redis::Connection, key: &[u8]) -> (Model, String, Option<i64>) {
    let t: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let m = match t.as_str() {
        "string" => Model::Str(rstr(con, &[b"GET", key])),
        "list" => Model::List(redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query(con).unwrap()),
        "hash" => {
            let mut p: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
            p.sort();
            Model::Hash(p)
        }
        "set" => {
            let mut m: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(key).query(con).unwrap();
            m.sort();
            Model::Set(m)
        }
        "zset" => {
            let items: Vec<(Vec<u8>, String)> =
                redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES").query(con).unwrap();
            Model::ZSet(items.into_iter().map(|(m, s)| (m, s.parse::<f64>().unwrap())).collect())
        }
        other => panic!("type {other}"),
    };
    let enc: String = redis::cmd("OBJECT").arg("ENCODING").arg(key).query(con).unwrap();
    let exp: i64 = redis::cmd("PEXPIRETIME").arg(key).query(con).unwrap();
    (m, enc, (exp >= 0).then_some(exp))
}

// ---- The DUMP corpus ------------------------------------------------------------------

struct Case {
    name: String,
    config: Vec<(&'static str, String)>,
    cmds: Vec<Cmd>,
    /// Byte-identical DUMP expected (not for hash-table hashes and sets: Redis writes
    /// them in its own hash order).
    identical: bool,
}

fn case(name: impl Into<String>, config: &[(&'static str, &str)], cmds: Vec<Cmd>) -> Case {
    Case { name: name.into(), config: config.iter().map(|(k, v)| (*k, v.to_string())).collect(), cmds, identical: true }
}

fn corpus() -> Vec<Case> {
    let mut v = Vec::new();
    let mut strings: Vec<Vec<u8>> = [
        "0",
        "1",
        "-1",
        "127",
        "128",
        "-128",
        "-129",
        "255",
        "256",
        "32767",
        "32768",
        "-32768",
        "-32769",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "12345678901",
        "99999999999",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "007",
        "-0",
        "+1",
        " 1",
        "1.5",
        "",
        "hello",
        "aaaaaaaaaaaaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    strings.push((0..=255u8).collect());
    strings.push(b"abc".repeat(100));
    strings.push(vec![b'x'; 44]);
    strings.push(vec![b'x'; 45]);
    strings.push(b"The quick brown fox jumps over the lazy dog. ".repeat(500));
    let mut x = 12345u32;
    strings.push(
        (0..100)
            .map(|_| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect(),
    );
    for (i, s) in strings.iter().enumerate() {
        v.push(case(format!("string {i}"), &[], vec![cmd([&b"SET"[..], b"k", s])]));
    }
    v.push(case("appended", &[], vec![cmd(["SET", "k", "12"]), cmd(["APPEND", "k", "34"])]));
    v.push(case("incr", &[], vec![cmd(["SET", "k", "41"]), cmd(["INCRBY", "k", "100000"])]));

    // Lists: element kinds, node fills, both push directions, edits in the middle.
    let elems: Vec<Vec<u8>> = [
        "a",
        "1",
        "-1",
        "127",
        "128",
        "4095",
        "-4096",
        "4096",
        "32767",
        "-32769",
        "8388607",
        "8388608",
        "2147483648",
        "-9223372036854775808",
        "9223372036854775808",
        "07",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([vec![b'y'; 63], vec![b'y'; 64], vec![b'y'; 4095], vec![b'y'; 4096]])
    .collect();
    let mut rpush = vec![b"RPUSH".to_vec(), b"k".to_vec()];
    rpush.extend(elems.iter().cloned());
    v.push(case("list kinds", &[], vec![rpush]));
    // Entries of 16383 bytes (a 3-byte back-length in Redis) and around the node size.
    for n in [16376usize, 16377, 16378, 16379, 8000, 8185, 8186, 8187, 20000] {
        v.push(case(format!("list big {n}"), &[], vec![cmd([&b"RPUSH"[..], b"k", b"a", &vec![b'q'; n][..], b"b"])]));
    }
    for fill in ["-5", "-4", "-3", "-2", "-1", "1", "2", "3", "128"] {
        let cfg = [("list-max-listpack-size", fill)];
        let many: Vec<Vec<u8>> = (0..600).map(|i| format!("element-{}", i * 7).into_bytes()).collect();
        let mut r = vec![b"RPUSH".to_vec(), b"k".to_vec()];
        r.extend(many.iter().cloned());
        v.push(case(format!("rpush fill {fill}"), &cfg, vec![r]));
        let mut l = vec![b"LPUSH".to_vec(), b"k".to_vec()];
        l.extend((0..300).map(|i| (i * 1000).to_string().into_bytes()));
        v.push(case(format!("lpush fill {fill}"), &cfg, vec![l]));
        let mut ints = vec![b"RPUSH".to_vec(), b"k".to_vec()];
        ints.extend((0..2000).map(|i| (i * 37 % 1000).to_string().into_bytes()));
        v.push(case(format!("ints fill {fill}"), &cfg, vec![ints, cmd(["LPOP", "k", "3"]), cmd(["RPOP", "k", "5"])]));
    }
    v.push(case(
        "list edits",
        &[("list-max-listpack-size", "4")],
        vec![
            cmd(["RPUSH", "k", "1", "2", "3", "4", "5", "6", "7", "8", "9"]),
            cmd(["LINSERT", "k", "BEFORE", "5", "x"]),
            cmd(["LSET", "k", "0", "first"]),
            cmd(["LREM", "k", "1", "7"]),
            cmd(["LTRIM", "k", "1", "-1"]),
        ],
    ));

    // Hashes.
    v.push(case(
        "hash listpack",
        &[],
        vec![cmd(["HSET", "k", "f", "v", "n", "12", "neg", "-5000", "big", "5000000000", "e", ""])],
    ));
    v.push(case(
        "hash edits",
        &[],
        vec![
            cmd(["HSET", "k", "a", "1", "b", "2", "c", "3"]),
            cmd(["HSET", "k", "a", "longer value here"]),
            cmd(["HDEL", "k", "b"]),
            cmd(["HINCRBY", "k", "c", "1000"]),
            cmd(["HINCRBYFLOAT", "k", "f", "1.5"]),
        ],
    ));
    let mut many = vec![b"HSET".to_vec(), b"k".to_vec()];
    for i in 0..120 {
        many.push(format!("field:{i}").into_bytes());
        many.push(format!("value number {i} with some text to compress").into_bytes());
    }
    v.push(case("hash 120", &[], vec![many.clone()]));
    let mut c = case("hash table", &[("hash-max-listpack-entries", "0")], vec![many]);
    c.identical = false;
    v.push(c);
    let mut c = case("hash long value", &[], vec![cmd([&b"HSET"[..], b"k", b"f", &[b'v'; 65][..]])]);
    c.identical = false;
    v.push(c);

    // Sets.
    v.push(case("intset 16", &[], vec![cmd(["SADD", "k", "1", "5", "-3", "32767", "-32768"])]));
    v.push(case("intset 32", &[], vec![cmd(["SADD", "k", "1", "100000", "-3"])]));
    v.push(case("intset 64", &[], vec![cmd(["SADD", "k", "1", "5000000000"])]));
    v.push(case(
        "intset keeps width",
        &[],
        vec![cmd(["SADD", "k", "1", "5000000000", "2"]), cmd(["SREM", "k", "5000000000"])],
    ));
    let mut big = vec![b"SADD".to_vec(), b"k".to_vec()];
    big.extend((0..900).map(|i| (i * 3).to_string().into_bytes()));
    v.push(case("intset 900", &[("set-max-intset-entries", "1000")], vec![big.clone()]));
    let mut c = case("set table ints", &[], vec![big]);
    c.identical = false;
    v.push(c);
    let mut c = case("set table", &[], vec![cmd(["SADD", "k", "a", "b", "1", "xyz"])]);
    c.identical = false;
    v.push(c);

    // Sorted sets.
    let zadd = cmd([
        "ZADD",
        "k",
        "1",
        "a",
        "1.5",
        "b",
        "3",
        "c",
        "0.1",
        "d",
        "1e20",
        "e",
        "-0",
        "f",
        "inf",
        "g",
        "-inf",
        "h",
        "1e18",
        "i",
        "5e18",
        "j",
        "4611686018427387904",
        "l",
        "-4611686018427387905",
        "m",
        "1",
        "123",
        "2",
        "-7",
        "1.0000000000000002",
        "n",
        "123456.789",
        "o",
    ]);
    v.push(case("zset listpack", &[], vec![zadd.clone()]));
    v.push(case("zset skiplist", &[("zset-max-listpack-entries", "0")], vec![zadd]));
    v.push(case(
        "zset edits",
        &[],
        vec![
            cmd(["ZADD", "k", "1", "a", "2", "b", "3", "c"]),
            cmd(["ZINCRBY", "k", "0.5", "a"]),
            cmd(["ZREM", "k", "b"]),
        ],
    ));
    let mut many = vec![b"ZADD".to_vec(), b"k".to_vec()];
    for i in 0..300 {
        many.push(format!("{}", (i % 17) as f64 / 4.0).into_bytes());
        many.push(format!("member-{i}").into_bytes());
    }
    v.push(case("zset 300", &[], vec![many]));
    v.push(case("zset long member", &[], vec![cmd([&b"ZADD"[..], b"k", b"1", &[b'm'; 65][..], b"2", b"x"])]));
    v
}

const THRESHOLDS: [(&str, &str); 6] = [
    ("list-max-listpack-size", "-2"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("set-max-intset-entries", "512"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
];

#[test]
fn dump_payloads_match_redis() {
    if !require_tool("redis-server") {
        return;
    }
    let dir = TempDir::new("dump");
    let redis = RedisProc::start(&dir.0, &[]);
    let mut con = redis.con();
    let mut mismatches = Vec::new();
    let mut layout_notes = Vec::new();
    let mut checked = 0;
    for compress in [true, false] {
        let yes_no = if compress { "yes" } else { "no" };
        rcall(&mut con, &cmd(["CONFIG", "SET", "rdbcompression", yes_no]));
        let opts = EncodeOptions { compress };
        for c in corpus() {
            let db = Database::new();
            for (k, v) in THRESHOLDS.iter().map(|(k, v)| (*k, v.to_string())).chain(c.config.iter().cloned()) {
                rcall(&mut con, &cmd(["CONFIG", "SET", k, &v]));
                run(&db, &cmd(["CONFIG", "SET", k, &v]));
            }
            rcall(&mut con, &cmd(["FLUSHALL"]));
            for x in &c.cmds {
                rcall(&mut con, x);
                run(&db, x);
            }
            let theirs = rstr(&mut con, &[b"DUMP", b"k"]);
            let v = raw(&db, b"k");
            let ours = rdb::dump_payload(&v, &opts);
            let (rmodel, renc, _) = redis_model(&mut con, b"k");
            assert_eq!(model(&v), rmodel, "{}: Ferrous and Redis disagree on the contents", c.name);
            if c.identical {
                // The codec reproduces Redis's bytes from Redis's own layout: a value
                // restored from Redis's payload dumps back to exactly that payload.
                let same_layout = rdb::restore_payload(&theirs, &decode_opts(limits_of(&db))).unwrap();
                let again = rdb::dump_payload(&same_layout, &opts);
                if again != theirs {
                    mismatches.push(format!(
                        "{} (compress {compress}, {renc}): restore+dump of Redis's payload differs\n  redis   {}\n  ferrous {}",
                        c.name,
                        hex::encode(&theirs),
                        hex::encode(&again)
                    ));
                }
                // And the value built by the same commands in Ferrous dumps to the same bytes,
                // unless Ferrous's List split its quicklist nodes elsewhere (a list policy, not
                // an encoding difference: reported, and the layouts are printed).
                if ours != theirs {
                    let (a, b) = (node_layout(&same_layout), node_layout(&v));
                    if matches!(v, Value::List(_)) && a != b {
                        layout_notes
                            .push(format!("{} (compress {compress}): Redis nodes {a:?}, Ferrous nodes {b:?}", c.name));
                    } else {
                        mismatches.push(format!(
                            "{} (compress {compress}, {renc}):\n  redis   {}\n  ferrous {}",
                            c.name,
                            hex::encode(&theirs),
                            hex::encode(&ours)
                        ));
                    }
                }
            }
            // Redis's payload restores to what Redis itself restores from it.
            let restored = rcall(&mut con, &vec![b"RESTORE".to_vec(), b"k2".to_vec(), b"0".to_vec(), theirs.clone()]);
            assert_eq!(restored, redis::Value::Okay, "{}", c.name);
            let (m2, enc2, _) = redis_model(&mut con, b"k2");
            let limits = limits_of(&db);
            let back = rdb::restore_payload(&theirs, &decode_opts(limits))
                .unwrap_or_else(|e| panic!("{}: restoring Redis's payload: {e}", c.name));
            assert_eq!(model(&back), m2, "{}: restored contents", c.name);
            assert_eq!(back.encoding(false), enc2, "{}: restored encoding", c.name);
            assert_eq!(enc2, canonical_encoding(&v, &limits), "{}: Redis's restored encoding", c.name);
            check_invariants(&back);
            // And Redis accepts ours, with the same result.
            let restored = rcall(&mut con, &vec![b"RESTORE".to_vec(), b"k3".to_vec(), b"0".to_vec(), ours]);
            assert_eq!(restored, redis::Value::Okay, "{}", c.name);
            let (m3, enc3, _) = redis_model(&mut con, b"k3");
            assert_eq!((m3, enc3), (rmodel, enc2), "{}: Redis restoring our payload", c.name);
            checked += 1;
        }
    }
    if !layout_notes.is_empty() {
        eprintln!(
            "NOTE: {} of {checked} lists built by the same commands have other quicklist node boundaries in \
             Ferrous than in Redis (the split policy of types/list.rs), so their DUMPs differ:\n{}",
            layout_notes.len(),
            layout_notes.join("\n")
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} DUMP payloads differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

// ---- Payloads from other configurations and older versions ---------------------------

/// A ziplist (Redis before 7.0) of strings and small integers.
fn ziplist(items: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0u8; 10];
    let (mut prev, mut last) = (0usize, 10usize);
    for it in items {
        let start = out.len();
        last = start;
        assert!(prev < 254 && it.len() < 64);
        out.push(prev as u8);
        match ferrous_resp::parse_i64(it).and_then(|v| i8::try_from(v).ok()) {
            Some(v) => out.extend_from_slice(&[0xFE, v as u8]),
            None => {
                out.push(it.len() as u8);
                out.extend_from_slice(it);
            }
        }
        prev = out.len() - start;
    }
    out.push(0xFF);
    let n = out.len() as u32;
    out[0..4].copy_from_slice(&n.to_le_bytes());
    out[4..8].copy_from_slice(&(last as u32).to_le_bytes());
    out[8..10].copy_from_slice(&(items.len() as u16).to_le_bytes());
    out
}

/// A zipmap (Redis 2.x hashes).
fn zipmap(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![pairs.len() as u8];
    for (f, v) in pairs {
        out.push(f.len() as u8);
        out.extend_from_slice(f);
        out.extend_from_slice(&[v.len() as u8, 0]);
        out.extend_from_slice(v);
    }
    out.push(0xFF);
    out
}

fn raw_string(out: &mut Vec<u8>, b: &[u8]) {
    assert!(b.len() < 16384);
    if b.len() < 64 {
        out.push(b.len() as u8);
    } else {
        out.extend_from_slice(&[0x40 | (b.len() >> 8) as u8, b.len() as u8]);
    }
    out.extend_from_slice(b);
}

/// A RESTORE payload of `body` (type byte + object) with an RDB 9 footer.
fn payload(body: Vec<u8>) -> Vec<u8> {
    let mut p = body;
    p.extend_from_slice(&9u16.to_le_bytes());
    let crc = rdb::Crc64::checksum(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// Values DUMPed under one configuration and RESTOREd under another, and payloads in the
/// encodings of older Redis versions (ziplists, zipmaps, quicklist of ziplists, text
/// scores): Ferrous restores the same contents in the same encoding as Redis 7.0.
#[test]
fn restores_like_redis_under_other_limits_and_old_encodings() {
    if !require_tool("redis-server") {
        return;
    }
    let dir = TempDir::new("limits");
    let redis = RedisProc::start(&dir.0, &[]);
    let mut con = redis.con();
    let set_all = |con: &mut redis::Connection, cfg: &[(&str, &str)]| {
        for (k, v) in cfg {
            rcall(con, &cmd(["CONFIG", "SET", k, v]));
        }
    };
    let long = "v".repeat(100);
    let mut payloads: Vec<(String, Vec<u8>)> = Vec::new();
    // Permissive limits: listpacks with long values, big intsets.
    set_all(
        &mut con,
        &[
            ("hash-max-listpack-entries", "1000"),
            ("hash-max-listpack-value", "200"),
            ("zset-max-listpack-entries", "1000"),
            ("zset-max-listpack-value", "200"),
            ("set-max-intset-entries", "1000"),
            ("list-max-listpack-size", "-5"),
        ],
    );
    let mut build = vec![
        ("hash long value", cmd(["HSET", "k", "a", "1", "b", long.as_str()])),
        ("hash 6", cmd(["HSET", "k", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6"])),
        ("zset long member", cmd(["ZADD", "k", "1", long.as_str(), "2", "b"])),
        ("zset 6", cmd(["ZADD", "k", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f"])),
    ];
    let mut ints = vec!["SADD".to_string(), "k".to_string()];
    ints.extend((0..30).map(|i| (i * 7).to_string()));
    build.push(("intset 30", cmd(&ints)));
    let mut list = vec!["RPUSH".to_string(), "k".to_string()];
    list.extend((0..2000).map(|i| format!("e{i}")));
    build.push(("list big nodes", cmd(&list)));
    for (name, c) in &build {
        rcall(&mut con, &cmd(["DEL", "k"]));
        rcall(&mut con, c);
        payloads.push((name.to_string(), rstr(&mut con, &[b"DUMP", b"k"])));
    }
    // Hash tables / skiplists holding little.
    set_all(
        &mut con,
        &[("hash-max-listpack-entries", "0"), ("zset-max-listpack-entries", "0"), ("set-max-intset-entries", "0")],
    );
    for (name, c) in [
        ("hashtable 2", cmd(["HSET", "k", "a", "1", "b", "2"])),
        ("skiplist 2", cmd(["ZADD", "k", "1", "a", "2", "b"])),
        ("set table of ints", cmd(["SADD", "k", "1", "2", "3"])),
    ] {
        rcall(&mut con, &cmd(["DEL", "k"]));
        rcall(&mut con, &c);
        payloads.push((name.to_string(), rstr(&mut con, &[b"DUMP", b"k"])));
    }
    // Older encodings, crafted.
    let blob = |t: u8, b: &[u8]| {
        let mut v = vec![t];
        raw_string(&mut v, b);
        payload(v)
    };
    payloads.push(("zipmap".into(), blob(9, &zipmap(&[(b"f", b"1"), (b"g", b"x")]))));
    payloads.push(("zipmap long value".into(), blob(9, &zipmap(&[(b"f", long.as_bytes())]))));
    payloads.push(("list ziplist".into(), blob(10, &ziplist(&[b"a", b"12", b"-3", b"b"]))));
    payloads.push(("zset ziplist".into(), blob(12, &ziplist(&[b"a", b"1", b"b", b"2.5", b"c", b"3"]))));
    payloads.push(("zset ziplist long member".into(), blob(12, &ziplist(&[&long.as_bytes()[..60], b"1"]))));
    payloads.push(("hash ziplist".into(), blob(13, &ziplist(&[b"f", b"1", b"g", &long.as_bytes()[..60]]))));
    let mut ql = vec![14u8, 2];
    raw_string(&mut ql, &ziplist(&[b"a", b"b"]));
    raw_string(&mut ql, &ziplist(&[b"7"]));
    payloads.push(("quicklist of ziplists".into(), payload(ql)));
    let mut old_list = vec![1u8, 3];
    for e in [&b"x"[..], b"5", b"y"] {
        raw_string(&mut old_list, e);
    }
    payloads.push(("LIST".into(), payload(old_list)));
    let mut old_set = vec![2u8, 3];
    for e in [&b"3"[..], b"1", b"2"] {
        raw_string(&mut old_set, e);
    }
    payloads.push(("SET of ints".into(), payload(old_set)));
    let mut old_zset = vec![3u8, 3];
    raw_string(&mut old_zset, b"a");
    old_zset.extend_from_slice(&[3, b'1', b'.', b'5']);
    raw_string(&mut old_zset, b"b");
    old_zset.push(254);
    raw_string(&mut old_zset, b"c");
    old_zset.push(255);
    payloads.push(("ZSET text scores".into(), payload(old_zset)));

    // Restore everything under strict limits, and under Redis's defaults.
    let strict = [
        ("hash-max-listpack-entries", "4"),
        ("hash-max-listpack-value", "8"),
        ("zset-max-listpack-entries", "4"),
        ("zset-max-listpack-value", "8"),
        ("set-max-intset-entries", "10"),
        ("list-max-listpack-size", "-1"),
    ];
    for cfg in [&strict[..], &THRESHOLDS[..]] {
        set_all(&mut con, cfg);
        let db = Database::new();
        for (k, v) in cfg {
            run(&db, &cmd(["CONFIG", "SET", k, v]));
        }
        for (name, p) in &payloads {
            rcall(&mut con, &cmd(["DEL", "r"]));
            let ok = rcall(&mut con, &vec![b"RESTORE".to_vec(), b"r".to_vec(), b"0".to_vec(), p.clone()]);
            assert_eq!(ok, redis::Value::Okay, "{name}");
            let (m, enc, _) = redis_model(&mut con, b"r");
            let ours = rdb::restore_payload(p, &decode_opts(limits_of(&db))).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(model(&ours), m, "{name}");
            assert_eq!(ours.encoding(false), enc, "{name} under {:?}", cfg[0]);
            check_invariants(&ours);
        }
    }
}

// ---- Files ----------------------------------------------------------------------------

const LIBRARY: &str = "#!lua name=rdblib\nredis.register_function('echo1', function(keys, args) return args[1] end)";

/// Commands building a dataset with every type and encoding (under default thresholds),
/// per database.
fn dataset() -> Vec<(u64, Vec<Cmd>)> {
    let mut rng = SmallRng::seed_from_u64(77);
    let mut db0 = vec![
        cmd(["SET", "str:int", "12345"]),
        cmd(["SET", "str:bigint", "123456789012"]),
        cmd(["SET", "str:emb", "hello"]),
        cmd(["SET", "str:raw", &"compressible text ".repeat(20)]),
        cmd(["SET", "str:empty", ""]),
        cmd(["RPUSH", "list:small", "a", "1", "-70000", "b"]),
        cmd(["HSET", "hash:lp", "f", "v", "n", "7"]),
        cmd([&b"HSET"[..], b"hash:ht", b"f", &[b'v'; 100][..]]),
        cmd(["SADD", "set:int", "1", "2", "100000"]),
        cmd(["SADD", "set:ht", "a", "b", "c"]),
        cmd(["ZADD", "zset:lp", "1", "a", "2.5", "b", "-inf", "c"]),
        cmd([&b"ZADD"[..], b"zset:sl", b"1", &[b'm'; 100][..], b"2", b"n"]),
        cmd(["SET", "str:expiring", "soon"]),
        cmd(["PEXPIREAT", "str:expiring", "4102444800000"]),
        cmd(["HSET", "hash:expiring", "a", "b"]),
        cmd(["PEXPIREAT", "hash:expiring", "4102444800123"]),
    ];
    let mut big_list = vec![b"RPUSH".to_vec(), b"list:big".to_vec()];
    big_list.extend((0..3000).map(|i| format!("item-{i}").into_bytes()));
    db0.push(big_list);
    let mut big_hash = vec![b"HSET".to_vec(), b"hash:big".to_vec()];
    let mut big_set = vec![b"SADD".to_vec(), b"set:bigint".to_vec()];
    let mut big_zset = vec![b"ZADD".to_vec(), b"zset:big".to_vec()];
    for i in 0..600 {
        big_hash.extend([format!("f{i}").into_bytes(), format!("{}", i * 3).into_bytes()]);
        big_set.push(format!("{}", i * 11).into_bytes());
        big_zset.extend([format!("{}", i % 50).into_bytes(), format!("z{i}").into_bytes()]);
    }
    db0.extend([big_hash, big_set, big_zset]);
    let mut db1 = Vec::new();
    for i in 0..40 {
        db1.extend(random_value_cmds(&mut rng, i % 5, format!("r{i}").as_bytes()));
    }
    let db5 = vec![cmd(["SET", "only", "in db 5"]), cmd(["PEXPIREAT", "only", "4102444800999"])];
    vec![(0, db0), (1, db1), (5, db5)]
}

fn keys_of(con: &mut redis::Connection) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(con).unwrap();
    k.sort();
    k
}

#[test]
fn redis_dump_rdb_reads_back() {
    if !require_tool("redis-server") {
        return;
    }
    let dir = TempDir::new("save");
    let redis = RedisProc::start(&dir.0, &["--dbfilename", "dump.rdb", "--enable-debug-command", "yes"]);
    let mut con = redis.con();
    for (limits_name, cfg) in [
        ("default", &THRESHOLDS[..]),
        (
            "all big",
            &[
                ("list-max-listpack-size", "1"),
                ("hash-max-listpack-entries", "0"),
                ("set-max-intset-entries", "0"),
                ("zset-max-listpack-entries", "0"),
            ][..],
        ),
    ] {
        rcall(&mut con, &cmd(["FLUSHALL"]));
        rcall(&mut con, &cmd(["FUNCTION", "FLUSH"]));
        for (k, v) in THRESHOLDS.iter().chain(cfg) {
            rcall(&mut con, &cmd(["CONFIG", "SET", k, v]));
        }
        rcall(&mut con, &cmd(["FUNCTION", "LOAD", LIBRARY]));
        for (db, cmds) in dataset() {
            rcall(&mut con, &cmd(["SELECT", &db.to_string()]));
            for c in &cmds {
                rcall(&mut con, c);
            }
        }
        rcall(&mut con, &cmd(["SAVE"]));
        let file = std::fs::read(dir.0.join("dump.rdb")).unwrap();
        // Compare with what Redis itself makes of the file (loading re-encodes values).
        rcall(&mut con, &cmd(["DEBUG", "RELOAD", "NOSAVE"]));
        let db = Database::new();
        for (k, v) in THRESHOLDS.iter().chain(cfg) {
            run(&db, &cmd(["CONFIG", "SET", k, v]));
        }
        let (items, version) = read_all(&file, decode_opts(limits_of(&db))).unwrap();
        assert_eq!(version, 10);
        let mut current = None;
        let mut seen: std::collections::BTreeMap<u64, Vec<Vec<u8>>> = Default::default();
        let mut functions = Vec::new();
        let mut aux = Vec::new();
        for it in items {
            match it {
                Item::SelectDb(n) => current = Some(n),
                Item::Function(code) => functions.push(code),
                Item::Aux { key, value } => aux.push((key, value)),
                Item::ResizeDb { .. } => {}
                Item::Entry(e) => {
                    let db = current.expect("an entry before SELECTDB");
                    rcall(&mut con, &cmd(["SELECT", &db.to_string()]));
                    let (m, enc, exp) = redis_model(&mut con, &e.key);
                    let name = format!("{limits_name}: db {db} key {}", String::from_utf8_lossy(&e.key));
                    assert_eq!(model(&e.value), m, "{name}");
                    assert_eq!(e.value.encoding(false), enc, "{name}");
                    assert_eq!(e.expire_ms, exp, "{name}");
                    check_invariants(&e.value);
                    seen.entry(db).or_default().push(e.key);
                }
                Item::Eof => unreachable!(),
            }
        }
        assert_eq!(functions, [LIBRARY.as_bytes().to_vec()]);
        assert!(aux.contains(&(b"redis-ver".to_vec(), b"7.0.15".to_vec())), "{aux:?}");
        for (db, _) in dataset() {
            rcall(&mut con, &cmd(["SELECT", &db.to_string()]));
            let mut keys = seen.remove(&db).unwrap_or_default();
            keys.sort();
            assert_eq!(keys, keys_of(&mut con), "{limits_name}: keys of db {db}");
        }
        assert!(seen.is_empty());
    }
}

#[test]
fn written_file_loads_into_redis() {
    if !require_tool("redis-server") || !require_tool("redis-check-rdb") {
        return;
    }
    let dir = TempDir::new("load");
    for compress in [true, false] {
        // Build the dataset in Ferrous and write it with the writer.
        let base = Database::new();
        let mut file = Vec::new();
        rdb::write_header(&mut file);
        rdb::write_aux(&mut file, b"redis-ver", b"7.0.15");
        rdb::write_aux_int(&mut file, b"redis-bits", 64);
        rdb::write_aux_int(&mut file, b"ctime", 1_700_000_000);
        rdb::write_aux_int(&mut file, b"used-mem", 1_000_000);
        rdb::write_aux_int(&mut file, b"aof-base", 0);
        rdb::write_function_with(&mut file, LIBRARY.as_bytes(), &EncodeOptions { compress });
        let opts = EncodeOptions { compress };
        let mut expected = Vec::new();
        for (n, cmds) in dataset() {
            let db = base.select(n as usize).unwrap();
            for c in &cmds {
                run(&db, c);
            }
            let keys = db.keys("*");
            let volatile = keys.iter().filter(|k| db.pexpire_time(k) >= 0).count();
            rdb::write_select_db(&mut file, n);
            rdb::write_resize_db(&mut file, keys.len() as u64, volatile as u64);
            for k in keys {
                let v = raw(&db, &k);
                let t = db.pexpire_time(&k);
                let exp = (t >= 0).then_some(t);
                rdb::write_entry(&mut file, &k, &v, exp, &opts);
                expected.push((n, k, model(&v), canonical_encoding(&v, &limits_of(&db)), exp));
            }
        }
        let file = finish_file(file);
        let name = format!("ferrous-{compress}.rdb");
        std::fs::write(dir.0.join(&name), &file).unwrap();
        let check = Command::new("redis-check-rdb").arg(dir.0.join(&name)).output().unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success() && text.contains("RDB looks OK"), "redis-check-rdb:\n{text}");

        let redis = RedisProc::start(&dir.0, &["--dbfilename", &name]);
        let mut con = redis.con();
        for (db, key, m, enc, exp) in &expected {
            rcall(&mut con, &cmd(["SELECT", &db.to_string()]));
            let (rm, renc, rexp) = redis_model(&mut con, key);
            let what = format!("db {db} key {}", String::from_utf8_lossy(key));
            assert_eq!(&rm, m, "{what}");
            assert_eq!(&renc, enc, "{what}");
            assert_eq!(&rexp, exp, "{what}");
        }
        let total: i64 = dataset()
            .iter()
            .map(|(db, _)| {
                rcall(&mut con, &cmd(["SELECT", &db.to_string()]));
                redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap()
            })
            .sum();
        assert_eq!(total as usize, expected.len());
        let r: Vec<u8> = redis::cmd("FCALL").arg("echo1").arg(0).arg("hi").query(&mut con).unwrap();
        assert_eq!(r, b"hi");
    }
}

// ---------------------------------------------------------------------------------------
// Speed (run by hand: cargo test --release --test rdb_codec -- --ignored --nocapture)
// ---------------------------------------------------------------------------------------

/// Reads a file, dropping each entry as a loader would hand it on.
fn count_entries(file: &[u8]) -> usize {
    let mut r = Reader::new(file, DecodeOptions::default()).unwrap();
    let mut n = 0;
    loop {
        match r.next_item().unwrap() {
            Item::Eof => return n,
            Item::Entry(_) => n += 1,
            _ => {}
        }
    }
}

#[test]
#[ignore]
fn speed() {
    let n = 1_000_000;
    let values: Vec<(Vec<u8>, Value)> =
        (0..n).map(|i| (format!("key:{i:012}").into_bytes(), Value::string(format!("value-{i}").as_bytes()))).collect();
    let opts = EncodeOptions::default();
    let t = Instant::now();
    let mut file = Vec::with_capacity(64 << 20);
    rdb::write_header(&mut file);
    rdb::write_select_db(&mut file, 0);
    for (k, v) in &values {
        rdb::write_entry(&mut file, k, v, None, &opts);
    }
    let file = finish_file(file);
    let enc = t.elapsed();
    let t = Instant::now();
    assert_eq!(count_entries(&file), n);
    let dec = t.elapsed();
    let mb = file.len() as f64 / 1e6;
    println!(
        "1M small strings: {mb:.1} MB; encode {enc:?} ({:.0} MB/s), decode {dec:?} ({:.0} MB/s)",
        mb / enc.as_secs_f64(),
        mb / dec.as_secs_f64()
    );

    // FERROUS_RDB_SPEED_KIND=1..4 measures one collection type only (list, hash, set, zset).
    let only: Option<usize> = std::env::var("FERROUS_RDB_SPEED_KIND").ok().and_then(|v| v.parse().ok());
    for kind in (1..5).filter(|k| only.map_or(true, |o| o == *k)) {
        let db = Database::new();
        let mut rng = SmallRng::seed_from_u64(kind as u64);
        let mut vals = Vec::new();
        for i in 0..10_000 {
            let key = format!("k{i}").into_bytes();
            let mut c = match kind {
                1 => vec![b"RPUSH".to_vec(), key.clone()],
                2 => vec![b"HSET".to_vec(), key.clone()],
                3 => vec![b"SADD".to_vec(), key.clone()],
                _ => vec![b"ZADD".to_vec(), key.clone()],
            };
            for j in 0..100 {
                match kind {
                    2 => c.extend([
                        format!("field{j}").into_bytes(),
                        format!("v{}", rng.gen_range(0..1000)).into_bytes(),
                    ]),
                    4 => c.extend([format!("{}", rng.gen_range(0..1000)).into_bytes(), format!("m{j}").into_bytes()]),
                    3 => c.push(format!("{}", rng.gen_range(0..100000)).into_bytes()),
                    _ => c.push(format!("element-{j}").into_bytes()),
                }
            }
            run(&db, &c);
            vals.push((key.clone(), raw(&db, &key)));
        }
        let t = Instant::now();
        let mut file = Vec::new();
        rdb::write_header(&mut file);
        for (k, v) in &vals {
            rdb::write_entry(&mut file, k, v, None, &opts);
        }
        let file = finish_file(file);
        let enc = t.elapsed();
        // FERROUS_RDB_SPEED_REPEAT=n decodes n more times (for profiling).
        let repeat: usize = std::env::var("FERROUS_RDB_SPEED_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        for _ in 0..repeat {
            count_entries(&file);
        }
        let t = Instant::now();
        assert_eq!(count_entries(&file), vals.len());
        let dec = t.elapsed();
        println!(
            "10k {} of 100: {:.1} MB; encode {enc:?}, decode {dec:?}",
            vals[0].1.type_name(),
            file.len() as f64 / 1e6
        );
    }
}
