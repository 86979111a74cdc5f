//! Stream commands in process: a model-based test of the structure (random XADD / XDEL /
//! XTRIM / XRANGE against a `BTreeMap`, with tiny node limits so nodes split, fill with
//! tombstones and drop), a consumer-group model (XREADGROUP / XACK / XCLAIM against a model
//! PEL), the RDB codec (DUMP/RESTORE round trips, the older type 15 on load, corrupt
//! payloads), keyspace notifications, generic key commands, argument garbage that must never
//! panic, and the typed API with blocking consumers.
use ferrous_core::{Database, RespValue, StreamId, Trim, XAddOptions};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn cmd<A: AsRef<[u8]>>(db: &Database, args: &[A]) -> RespValue {
    db.execute(args.iter().map(|a| a.as_ref()))
}

fn int(v: RespValue) -> i64 {
    match v {
        RespValue::Integer(i) => i,
        other => panic!("not an integer: {other:?}"),
    }
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;
type Entries = Vec<(String, Pairs)>;

fn bytes(v: &RespValue) -> Vec<u8> {
    v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()
}

/// `[[id, [f, v, ...]], ...]` as (id text, pairs).
fn entries(v: RespValue) -> Entries {
    let RespValue::Array(items) = v else { panic!("not an array: {v:?}") };
    items
        .into_iter()
        .map(|e| {
            let RespValue::Array(parts) = e else { panic!("entry {e:?}") };
            let id = String::from_utf8(bytes(&parts[0])).expect("id");
            let RespValue::Array(fv) = &parts[1] else { panic!("fields {parts:?}") };
            let pairs = fv.chunks(2).map(|c| (bytes(&c[0]), bytes(&c[1]))).collect();
            (id, pairs)
        })
        .collect()
}

type Model = BTreeMap<StreamId, Pairs>;

fn model_range(m: &Model, start: StreamId, end: StreamId, rev: bool, count: usize) -> Entries {
    let it: Box<dyn Iterator<Item = (&StreamId, &Pairs)>> = if start > end {
        Box::new(std::iter::empty())
    } else if rev {
        Box::new(m.range(start..=end).rev())
    } else {
        Box::new(m.range(start..=end))
    };
    let it = it.map(|(k, v)| (k.to_string(), v.clone()));
    if count == 0 {
        it.collect()
    } else {
        it.take(count).collect()
    }
}

#[test]
fn structure_matches_a_btreemap_model() {
    for seed in 0..6u64 {
        let db = Database::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let (max_entries, max_bytes) = [(3, 0), (100, 4096), (5, 120), (0, 60), (2, 1 << 20), (7, 300)][seed as usize];
        cmd(&db, &["CONFIG", "SET", "stream-node-max-entries", &max_entries.to_string()]);
        cmd(&db, &["CONFIG", "SET", "stream-node-max-bytes", &max_bytes.to_string()]);
        let mut model = Model::new();
        let mut last = StreamId::MIN;
        for step in 0..3000 {
            match rng.gen_range(0..10) {
                0..=4 => {
                    let ms = last.ms + rng.gen_range(0..3);
                    let id = if ms == last.ms {
                        StreamId::new(ms, last.seq + 1)
                    } else {
                        StreamId::new(ms, rng.gen_range(0..3))
                    };
                    let n = rng.gen_range(1..4);
                    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
                        .map(|i| {
                            let f =
                                if rng.gen_bool(0.7) { format!("f{i}") } else { format!("g{}", rng.gen_range(0..4)) };
                            let v = match rng.gen_range(0..4) {
                                0 => rng.gen_range(-100000i64..100000).to_string(),
                                1 => "x".repeat(rng.gen_range(0..80)),
                                2 => i64::MAX.to_string(),
                                _ => format!("v{}", rng.gen_range(0..1000)),
                            };
                            (f.into_bytes(), v.into_bytes())
                        })
                        .collect();
                    let mut args: Vec<Vec<u8>> = vec![b"XADD".to_vec(), b"s".to_vec(), id.to_string().into_bytes()];
                    for (f, v) in &pairs {
                        args.push(f.clone());
                        args.push(v.clone());
                    }
                    assert_eq!(cmd(&db, &args), RespValue::bulk(id.to_string()), "seed {seed} step {step}");
                    model.insert(id, pairs);
                    last = id;
                }
                5 => {
                    let keys: Vec<StreamId> = model.keys().copied().collect();
                    let mut ids = Vec::new();
                    for _ in 0..rng.gen_range(1..4) {
                        if !keys.is_empty() && rng.gen_bool(0.8) {
                            ids.push(keys[rng.gen_range(0..keys.len())]);
                        } else {
                            ids.push(StreamId::new(rng.gen_range(0..last.ms + 2), rng.gen_range(0..3)));
                        }
                    }
                    let mut args = vec!["XDEL".to_string(), "s".to_string()];
                    args.extend(ids.iter().map(|i| i.to_string()));
                    let want = ids.iter().collect::<BTreeSet<_>>().iter().filter(|i| model.remove(i).is_some()).count();
                    if model.is_empty() && last == StreamId::MIN {
                        continue;
                    }
                    assert_eq!(int(cmd(&db, &args)) as usize, want, "seed {seed} step {step}: {args:?}");
                }
                6 => {
                    // Exact trims are checked against the model; approximate ones must keep at
                    // least what they were asked to and only remove a prefix.
                    let approx = rng.gen_bool(0.5);
                    let before = model.len();
                    if rng.gen_bool(0.5) {
                        let maxlen = rng.gen_range(0..before + 5);
                        let n = int(cmd(
                            &db,
                            &["XTRIM", "s", "MAXLEN", if approx { "~" } else { "=" }, &maxlen.to_string()],
                        ));
                        if !approx {
                            assert_eq!(n as usize, before.saturating_sub(maxlen));
                        }
                        assert!(before - n as usize >= maxlen.min(before));
                        for _ in 0..n {
                            let first = *model.keys().next().expect("entry");
                            model.remove(&first);
                        }
                    } else {
                        let min = StreamId::new(rng.gen_range(0..last.ms + 2), 0);
                        let n =
                            int(cmd(&db, &["XTRIM", "s", "MINID", if approx { "~" } else { "=" }, &min.to_string()]));
                        let below = model.range(..min).count();
                        if !approx {
                            assert_eq!(n as usize, below);
                        }
                        assert!(n as usize <= below);
                        for _ in 0..n {
                            let first = *model.keys().next().expect("entry");
                            model.remove(&first);
                        }
                    }
                }
                _ => {
                    let a = StreamId::new(rng.gen_range(0..last.ms + 2), rng.gen_range(0..4));
                    let b = StreamId::new(rng.gen_range(0..last.ms + 2), rng.gen_range(0..4));
                    let count = rng.gen_range(0..6);
                    let rev = rng.gen_bool(0.5);
                    let got = if rev {
                        cmd(&db, &["XREVRANGE", "s", &b.to_string(), &a.to_string(), "COUNT", &count.to_string()])
                    } else {
                        cmd(&db, &["XRANGE", "s", &a.to_string(), &b.to_string(), "COUNT", &count.to_string()])
                    };
                    if count == 0 {
                        continue;
                    }
                    assert_eq!(entries(got), model_range(&model, a, b, rev, count), "seed {seed} step {step}");
                }
            }
            if step % 500 == 0 || step == 2999 {
                assert_eq!(int(cmd(&db, &["XLEN", "s"])) as usize, model.len());
                assert_eq!(
                    entries(cmd(&db, &["XRANGE", "s", "-", "+"])),
                    model_range(&model, StreamId::MIN, StreamId::MAX, false, 0)
                );
                // DUMP/RESTORE reproduces the same bytes.
                let dump = cmd(&db, &["DUMP", "s"]);
                let payload = bytes(&dump);
                cmd(&db, &[&b"RESTORE"[..], b"copy", b"0", &payload, b"REPLACE"]);
                assert_eq!(cmd(&db, &["DUMP", "copy"]), dump);
            }
        }
    }
}

#[test]
fn consumer_group_model() {
    let db = Database::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    cmd(&db, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut pel: BTreeMap<StreamId, String> = BTreeMap::new();
    let mut live: BTreeSet<StreamId> = BTreeSet::new();
    let mut last_delivered = StreamId::MIN;
    let mut ms = 0;
    for step in 0..2000 {
        let consumer = format!("c{}", rng.gen_range(0..3));
        match rng.gen_range(0..6) {
            0 | 1 => {
                ms += 1;
                let id = StreamId::new(ms, 0);
                cmd(&db, &["XADD", "s", &id.to_string(), "f", "v"]);
                live.insert(id);
            }
            2 => {
                let count = rng.gen_range(1..4);
                let got = cmd(
                    &db,
                    &["XREADGROUP", "GROUP", "g", &consumer, "COUNT", &count.to_string(), "STREAMS", "s", ">"],
                );
                let want: Vec<StreamId> =
                    live.range(last_delivered.next().unwrap_or(StreamId::MAX)..).take(count).copied().collect();
                if want.is_empty() {
                    assert_eq!(got, RespValue::NullArray, "step {step}");
                    continue;
                }
                let RespValue::Array(streams) = got else { panic!("{got:?}") };
                let RespValue::Array(kv) = &streams[0] else { panic!() };
                let ids: Vec<String> = entries(kv[1].clone()).into_iter().map(|(i, _)| i).collect();
                assert_eq!(ids, want.iter().map(|i| i.to_string()).collect::<Vec<_>>(), "step {step}");
                for id in want {
                    pel.insert(id, consumer.clone());
                    last_delivered = id;
                }
            }
            3 => {
                let ids: Vec<StreamId> = pel.keys().copied().filter(|_| rng.gen_bool(0.3)).collect();
                if ids.is_empty() {
                    continue;
                }
                let mut args = vec!["XACK".to_string(), "s".into(), "g".into()];
                args.extend(ids.iter().map(|i| i.to_string()));
                assert_eq!(int(cmd(&db, &args)) as usize, ids.len());
                for i in ids {
                    pel.remove(&i);
                }
            }
            4 => {
                let Some((&id, _)) = pel.iter().nth(rng.gen_range(0..pel.len().max(1))) else { continue };
                let got = cmd(&db, &["XCLAIM", "s", "g", &consumer, "0", &id.to_string(), "JUSTID"]);
                assert_eq!(got, RespValue::Array(vec![RespValue::bulk(id.to_string())]));
                pel.insert(id, consumer.clone());
            }
            _ => {
                // A consumer's history is its part of the PEL.
                let got = cmd(&db, &["XREADGROUP", "GROUP", "g", &consumer, "STREAMS", "s", "0"]);
                let RespValue::Array(streams) = got else { panic!("{got:?}") };
                let RespValue::Array(kv) = &streams[0] else { panic!() };
                let ids: Vec<String> = entries(kv[1].clone()).into_iter().map(|(i, _)| i).collect();
                let want: Vec<String> =
                    pel.iter().filter(|(_, c)| **c == consumer).map(|(i, _)| i.to_string()).collect();
                assert_eq!(ids, want, "step {step}");
            }
        }
        let summary = cmd(&db, &["XPENDING", "s", "g"]);
        let RespValue::Array(parts) = summary else { panic!() };
        assert_eq!(int(parts[0].clone()) as usize, pel.len(), "step {step}");
    }
}

#[test]
fn generic_key_commands_and_notifications() {
    let db = Database::new();
    cmd(&db, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = db.psubscribe(&["__keyevent@0__:*"]);
    cmd(&db, &["XADD", "s", "1-1", "a", "b"]);
    cmd(&db, &["XADD", "s", "MAXLEN", "1", "2-1", "a", "b"]);
    cmd(&db, &["XDEL", "s", "2-1"]);
    cmd(&db, &["XGROUP", "CREATE", "s", "g", "0"]);
    cmd(&db, &["XGROUP", "SETID", "s", "g", "0"]);
    cmd(&db, &["XGROUP", "CREATECONSUMER", "s", "g", "c"]);
    cmd(&db, &["XGROUP", "DELCONSUMER", "s", "g", "c"]);
    cmd(&db, &["XGROUP", "DESTROY", "s", "g"]);
    cmd(&db, &["XSETID", "s", "5-0"]);
    cmd(&db, &["XTRIM", "s", "MAXLEN", "0"]);
    let mut events = Vec::new();
    while let Some(m) = sub.recv_timeout(Duration::from_millis(100)) {
        events.push(String::from_utf8_lossy(&m.channel).into_owned());
    }
    let names: Vec<&str> = events.iter().map(|c| c.rsplit(':').next().unwrap_or("")).collect();
    assert_eq!(
        names,
        [
            "xadd",
            "xadd",
            "xtrim",
            "xdel",
            "xgroup-create",
            "xgroup-setid",
            "xgroup-createconsumer",
            "xgroup-delconsumer",
            "xgroup-destroy",
            "xsetid"
        ]
    );
    assert_eq!(cmd(&db, &["TYPE", "s"]), RespValue::Simple("stream".into()));
    assert_eq!(cmd(&db, &["OBJECT", "ENCODING", "s"]), RespValue::bulk("stream"));
    cmd(&db, &["SET", "str", "x"]);
    assert_eq!(
        cmd(&db, &["SCAN", "0", "TYPE", "stream"]),
        RespValue::Array(vec![RespValue::bulk("0"), RespValue::Array(vec![RespValue::bulk("s")])])
    );
    cmd(&db, &["XADD", "t", "1-1", "f", "v"]);
    assert_eq!(int(cmd(&db, &["COPY", "t", "t2"])), 1);
    cmd(&db, &["XADD", "t", "2-1", "f", "v"]);
    assert_eq!(int(cmd(&db, &["XLEN", "t2"])), 1, "COPY is deep");
    cmd(&db, &["RENAME", "t2", "t3"]);
    assert_eq!(int(cmd(&db, &["XLEN", "t3"])), 1);
    cmd(&db, &["PEXPIRE", "t3", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(int(cmd(&db, &["EXISTS", "t3"])), 0);
    assert_eq!(int(cmd(&db, &["DEL", "t"])), 1);
}

#[test]
fn garbage_arguments_never_panic() {
    let db = Database::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let words: &[&[u8]] = &[
        b"s",
        b"g",
        b"c",
        b"0",
        b"-",
        b"+",
        b"$",
        b">",
        b"*",
        b"(",
        b"(1",
        b"1-*",
        b"-1",
        b"18446744073709551615-18446744073709551615",
        b"18446744073709551616",
        b"MAXLEN",
        b"MINID",
        b"~",
        b"=",
        b"LIMIT",
        b"COUNT",
        b"BLOCK",
        b"STREAMS",
        b"GROUP",
        b"NOACK",
        b"IDLE",
        b"TIME",
        b"RETRYCOUNT",
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        b"MKSTREAM",
        b"ENTRIESREAD",
        b"FULL",
        b"NOMKSTREAM",
        b"ENTRIESADDED",
        b"MAXDELETEDID",
        b"1",
        b"5-5",
        b"",
        b"\xff\x00",
        b"9223372036854775807",
        b"-9223372036854775808",
    ];
    let cmds: &[&[u8]] = &[
        b"XADD",
        b"XRANGE",
        b"XREVRANGE",
        b"XLEN",
        b"XDEL",
        b"XTRIM",
        b"XREAD",
        b"XREADGROUP",
        b"XACK",
        b"XPENDING",
        b"XCLAIM",
        b"XAUTOCLAIM",
        b"XSETID",
    ];
    let subs: &[(&[u8], &[u8])] = &[
        (b"XGROUP", b"CREATE"),
        (b"XGROUP", b"SETID"),
        (b"XGROUP", b"DESTROY"),
        (b"XGROUP", b"CREATECONSUMER"),
        (b"XGROUP", b"DELCONSUMER"),
        (b"XINFO", b"STREAM"),
        (b"XINFO", b"GROUPS"),
        (b"XINFO", b"CONSUMERS"),
    ];
    cmd(&db, &["XADD", "s", "1-1", "a", "b"]);
    cmd(&db, &["XGROUP", "CREATE", "s", "g", "0"]);
    for _ in 0..20000 {
        let mut args: Vec<&[u8]> = Vec::new();
        if rng.gen_bool(0.8) {
            args.push(cmds[rng.gen_range(0..cmds.len())]);
        } else {
            let (c, s) = subs[rng.gen_range(0..subs.len())];
            args.push(c);
            args.push(s);
        }
        for _ in 0..rng.gen_range(0..9) {
            args.push(words[rng.gen_range(0..words.len())]);
        }
        let _ = cmd(&db, &args);
    }
    assert_eq!(cmd(&db, &["PING"]), RespValue::Simple("PONG".into()));
}

/// Reads an RDB length (6/14/32/64-bit forms).
fn rdb_len(b: &[u8], p: &mut usize) -> u64 {
    let x = b[*p];
    *p += 1;
    match x >> 6 {
        0 => (x & 0x3f) as u64,
        1 => {
            let v = ((x & 0x3f) as u64) << 8 | b[*p] as u64;
            *p += 1;
            v
        }
        _ if x == 0x80 => {
            let v = u32::from_be_bytes(b[*p..*p + 4].try_into().unwrap()) as u64;
            *p += 4;
            v
        }
        _ => {
            let v = u64::from_be_bytes(b[*p..*p + 8].try_into().unwrap());
            *p += 8;
            v
        }
    }
}

fn put_len(out: &mut Vec<u8>, v: u64) {
    if v < 64 {
        out.push(v as u8);
    } else if v < 16384 {
        out.extend_from_slice(&[0x40 | (v >> 8) as u8, v as u8]);
    } else if v <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Rewrites a type-19 DUMP payload (uncompressed, one group without PEL) as the older
/// type 15 that Redis 5/6 wrote.
fn to_type15(p19: &[u8]) -> Vec<u8> {
    let body = &p19[..p19.len() - 10];
    let mut p = 1;
    let mut out = vec![15u8];
    let nodes = rdb_len(body, &mut p);
    put_len(&mut out, nodes);
    for _ in 0..nodes * 2 {
        let n = rdb_len(body, &mut p) as usize;
        put_len(&mut out, n as u64);
        out.extend_from_slice(&body[p..p + n]);
        p += n;
    }
    for _ in 0..3 {
        let v = rdb_len(body, &mut p); // length, last ms, last seq
        put_len(&mut out, v);
    }
    for _ in 0..5 {
        rdb_len(body, &mut p); // first id, max deleted id, entries added
    }
    let groups = rdb_len(body, &mut p);
    put_len(&mut out, groups);
    for _ in 0..groups {
        let n = rdb_len(body, &mut p) as usize;
        put_len(&mut out, n as u64);
        out.extend_from_slice(&body[p..p + n]);
        p += n;
        for _ in 0..2 {
            let v = rdb_len(body, &mut p);
            put_len(&mut out, v);
        }
        rdb_len(body, &mut p); // entries read
        let pel = rdb_len(body, &mut p);
        assert_eq!(pel, 0);
        put_len(&mut out, 0);
        let consumers = rdb_len(body, &mut p);
        assert_eq!(consumers, 0);
        put_len(&mut out, 0);
    }
    out.extend_from_slice(&p19[p19.len() - 10..p19.len() - 8]);
    let crc = ferrous_core::rdb::Crc64::checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn rdb_old_stream_type_and_corruption() {
    let db = Database::new();
    cmd(&db, &["CONFIG", "SET", "rdbcompression", "no"]);
    for i in 1..=5 {
        cmd(&db, &["XADD", "s", &format!("{i}-1"), "f", &i.to_string()]);
    }
    cmd(&db, &["XDEL", "s", "1-1"]);
    cmd(&db, &["XGROUP", "CREATE", "s", "g", "3-1"]);
    let p19 = bytes(&cmd(&db, &["DUMP", "s"]));
    assert_eq!(p19[0], 19);
    let p15 = to_type15(&p19);
    assert_eq!(cmd(&db, &[&b"RESTORE"[..], b"old", b"0", &p15]), RespValue::ok());
    assert_eq!(entries(cmd(&db, &["XRANGE", "old", "-", "+"])).len(), 4);
    // Type 15 has no counters: entries-added is the length, the first ID is found, the
    // group's entries-read is estimated (3-1 is neither first nor last: unknown, so nil).
    let info = cmd(&db, &["XINFO", "STREAM", "old"]);
    let RespValue::Array(kv) = info else { panic!("{info:?}") };
    assert_eq!(kv[11], RespValue::Integer(4), "entries-added");
    assert_eq!(kv[13], RespValue::bulk("2-1"), "recorded-first-entry-id");
    // Every corrupted byte of the payload is refused or loads something consistent; no panic.
    for i in 0..p19.len() - 10 {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = p19.clone();
            bad[i] ^= flip;
            let body_len = bad.len() - 8;
            let crc = ferrous_core::rdb::Crc64::checksum(&bad[..body_len]);
            bad[body_len..].copy_from_slice(&crc.to_le_bytes());
            if cmd(&db, &[&b"RESTORE"[..], b"bad", b"0", &bad, b"REPLACE"]) == RespValue::ok() {
                let _ = cmd(&db, &["XRANGE", "bad", "-", "+"]);
                let _ = cmd(&db, &["XREVRANGE", "bad", "+", "-"]);
                let _ = cmd(&db, &["XINFO", "STREAM", "bad", "FULL"]);
                let _ = cmd(&db, &["XADD", "bad", "*", "a", "b"]);
                let _ = cmd(&db, &["XTRIM", "bad", "MAXLEN", "1"]);
            }
        }
    }
}

#[test]
fn typed_api_and_blocking_consumers() {
    let db = Database::new();
    let id = db.xadd("jobs", &[("task", "a")]).expect("xadd");
    assert!(id.ms > 0);
    let opts = XAddOptions { nomkstream: true, trim: None };
    assert_eq!(db.xadd_with("missing", "*", &[("f", "v")], &opts).expect("xadd"), None);
    assert_eq!(db.xlen("jobs").expect("xlen"), 1);
    db.xgroup_create("jobs", "workers", "0", false).expect("group");
    let got = db.xread_group("workers", "w1", &[("jobs", ">")], None, None, false).expect("read");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1[0].fields, vec![(b"task".to_vec(), b"a".to_vec())]);
    // Nothing new: a blocked read times out empty.
    let t = Instant::now();
    let got =
        db.xread_group("workers", "w1", &[("jobs", ">")], None, Some(Duration::from_millis(50)), false).expect("read");
    assert!(got.is_empty());
    assert!(t.elapsed() >= Duration::from_millis(45));
    // A blocked consumer is woken by an XADD from another thread.
    let db2 = db.clone();
    let waiter = std::thread::spawn(move || {
        db2.xread_group("workers", "w2", &[("jobs", ">")], Some(10), Some(Duration::from_secs(10)), false)
            .expect("read")
    });
    std::thread::sleep(Duration::from_millis(50));
    let id2 = db.xadd("jobs", &[("task", "b")]).expect("xadd");
    let got = waiter.join().expect("join");
    assert_eq!(got[0].1[0].id, id2);
    let pending = db.xpending("jobs", "workers", "-", "+", 10, None).expect("pending");
    assert_eq!(pending.iter().map(|p| p.id).collect::<Vec<_>>(), vec![id, id2]);
    let claim = db.xautoclaim("jobs", "workers", "w3", Duration::ZERO, StreamId::MIN, 1).expect("autoclaim");
    assert_eq!(claim.claimed[0].id, id);
    assert_eq!(claim.next, id2);
    assert_eq!(db.xack("jobs", "workers", &[id, id2]).expect("ack"), 2);
    assert_eq!(db.xrange("jobs", "-", "+", None).expect("range").len(), 2);
    assert_eq!(db.xrevrange("jobs", "+", "-", Some(1)).expect("range")[0].id, id2);
    assert_eq!(db.xdel("jobs", &[id]).expect("del"), 1);
    assert_eq!(db.xtrim("jobs", Trim::MaxLen(0), false).expect("trim"), 1);
    // XREAD with `$` only sees later entries.
    let db3 = db.clone();
    let reader = std::thread::spawn(move || db3.xread(&[("jobs", "$")], None, Some(Duration::ZERO)).expect("xread"));
    std::thread::sleep(Duration::from_millis(50));
    let id3 = db.xadd("jobs", &[("task", "c")]).expect("xadd");
    assert_eq!(reader.join().expect("join")[0].1[0].id, id3);
    db.set("str", "x").expect("set");
    assert_eq!(db.xlen("str"), Err(ferrous_core::Error::WrongType));
}

/// The AOF rewrite's commands for a stream (Redis's `rewriteStreamObject`) rebuild it:
/// entries, deleted-entry bookkeeping, groups, PELs with their delivery data, consumers.
#[test]
fn aof_rewrite_rebuilds_streams() {
    let db = Database::new();
    for args in [
        &["XADD", "s", "1-1", "a", "1"][..],
        &["XADD", "s", "2-1", "b", "2"],
        &["XADD", "s", "3-1", "a", "3"],
        &["XDEL", "s", "2-1"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", ">"],
        &["XCLAIM", "s", "g", "alice", "0", "1-1", "TIME", "12345", "RETRYCOUNT", "4"],
        &["XGROUP", "CREATECONSUMER", "s", "g", "bob"],
        &["XGROUP", "CREATE", "s", "h", "$", "ENTRIESREAD", "3"],
        &["XADD", "e", "5-5", "x", "y"],
        &["XDEL", "e", "5-5"],
    ] {
        cmd(&db, args);
    }
    let fresh = Database::new();
    for key in ["s", "e"] {
        let payload = bytes(&cmd(&db, &["DUMP", key]));
        let value = ferrous_core::rdb::restore_payload(&payload, &Default::default()).expect("payload");
        let mut out = Vec::new();
        ferrous_core::aof::rewrite::write_entry(&mut out, key.as_bytes(), &value, None, &Default::default());
        let mut rest = &out[..];
        while !rest.is_empty() {
            let Ok(Some((RespValue::Array(parts), used))) = ferrous_resp::parse_value(rest) else {
                panic!("bad command bytes")
            };
            rest = &rest[used..];
            let args: Vec<Vec<u8>> = parts.iter().map(bytes).collect();
            let r = cmd(&fresh, &args);
            assert!(!matches!(r, RespValue::Error(_)), "{r:?}");
        }
        // Same stream, same group state (consumers' seen-times are the replay's).
        let a = cmd(&db, &["XINFO", "STREAM", key, "FULL"]);
        let b = cmd(&fresh, &["XINFO", "STREAM", key, "FULL"]);
        let strip = |v: RespValue| {
            format!("{v:?}")
                .split("seen-time")
                .map(|p| p.chars().filter(|c| !c.is_ascii_digit()).collect::<String>())
                .collect::<Vec<_>>()
                .join("|")
        };
        assert_eq!(strip(a.clone()), strip(b.clone()));
        if key == "s" {
            assert!(format!("{b:?}").contains("12345"), "delivery time kept: {b:?}");
        }
    }
}
