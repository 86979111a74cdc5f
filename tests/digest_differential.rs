//! DEBUG DIGEST and DEBUG DIGEST-VALUE against redis-server 7.0: the same random dataset
//! (every type and every encoding Redis 7.0 has, keys with and without expiry, several
//! databases) is loaded into both servers, and both digests must be equal, key by key and
//! for the whole dataset.
//!
//! Encodings covered: strings `int`, `embstr` and `raw` (and binary bytes); lists as one
//! listpack node and as a quicklist of many; sets as `intset` and `hashtable`; sorted sets as
//! `listpack` and `skiplist` with integer, fractional, tiny, huge, infinite and negative-zero
//! scores; hashes as `listpack` and `hashtable` with integer-looking fields and values;
//! streams of one node and of many, with deleted entries and consumer groups.
//! The encodings are checked (OBJECT ENCODING equal on both sides) so that a change of
//! thresholds cannot silently narrow the test.
//!
//! Oracles use ports 7700-7749. Skipped (with `SKIPPED: ...`) when redis-server is not
//! installed, except under CI.
mod common;

use common::{Resp, RespConn, Rng, TestServer};

type Cmd = Vec<Vec<u8>>;
/// The keys of one database: `(index, names)`.
type DbKeys = (usize, Vec<Vec<u8>>);
/// A stream entry: milliseconds, sequence, field-value pairs.
type StreamEntry<'a> = (u64, u64, &'a [(&'a [u8], &'a [u8])]);

fn cmd(parts: &[&[u8]]) -> Cmd {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// A random element: integers (which Redis stores integer-encoded), short text, binary.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(5) {
        0 => rng.range(-1000, 1000).to_string().into_bytes(),
        1 => rng.range(i64::MIN / 2, i64::MAX / 2).to_string().into_bytes(),
        2 => {
            let n = rng.below(12) as usize + 1;
            rng.bytes(n)
        }
        3 => format!("m:{}", rng.below(100_000)).into_bytes(),
        _ => format!("0{}", rng.below(100)).into_bytes(), // integer-looking, not canonical
    }
}

fn score(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => "-0".into(),
        3 => format!("{}", rng.range(-100, 100)),
        4 => format!("{:e}", (rng.next_u64() as f64) * 1e280),
        5 => format!("{:e}", (rng.next_u64() as f64) * 1e-320),
        6 => "0.1".into(),
        7 => "3.3333333333333335".into(),
        _ => format!("{}", (rng.next_u64() as i64 as f64) / 1e9),
    }
}

/// The commands that build one key, and the encoding Redis must report for it.
fn build_key(rng: &mut Rng, key: &[u8], kind: u64, big: bool) -> Vec<Cmd> {
    let n = if big { 200 + rng.below(300) as usize } else { 1 + rng.below(20) as usize };
    let mut out = Vec::new();
    match kind {
        0 => {
            let v: Vec<u8> = match rng.below(4) {
                0 => (rng.next_u64() as i64).to_string().into_bytes(),
                1 => {
                    let n = rng.below(40) as usize;
                    rng.bytes(n)
                }
                2 => {
                    let n = 45 + rng.below(200) as usize;
                    rng.bytes(n)
                }
                _ => b"10000000000000000000000".to_vec(),
            };
            out.push(cmd(&[b"SET", key, &v]));
            if rng.chance(20) {
                out.push(cmd(&[b"APPEND", key, b"x"]));
            }
        }
        1 => {
            let mut c = cmd(&[b"RPUSH", key]);
            for _ in 0..n {
                c.push(if big { rng.bytes(40) } else { element(rng) });
            }
            out.push(c);
            if rng.chance(30) {
                out.push(cmd(&[b"LPUSH", key, b"head", b"12"]));
            }
        }
        2 => {
            let mut c = cmd(&[b"SADD", key]);
            let ints = rng.chance(50);
            for _ in 0..n {
                c.push(if ints { rng.range(-100_000, 100_000).to_string().into_bytes() } else { element(rng) });
            }
            out.push(c);
        }
        3 => {
            let mut c = cmd(&[b"ZADD", key]);
            for _ in 0..n {
                c.push(score(rng).into_bytes());
                c.push(if big { rng.bytes(70) } else { element(rng) });
            }
            out.push(c);
            if rng.chance(30) {
                out.push(cmd(&[b"ZINCRBY", key, b"0.1", b"x"]));
            }
        }
        4 => {
            // Streams: explicit IDs (both servers must hold the same ones), some deleted,
            // sometimes a consumer group (not part of the digest, as in Redis).
            let mut ms = 1 + rng.below(1_000_000);
            for i in 0..n {
                ms += 1 + rng.below(3);
                let id = format!("{ms}-{}", rng.below(3));
                let mut c = cmd(&[b"XADD", key, id.as_bytes()]);
                for _ in 0..1 + rng.below(4) {
                    c.push(element(rng));
                    c.push(element(rng));
                }
                out.push(c);
                if i % 7 == 3 {
                    out.push(cmd(&[b"XDEL", key, id.as_bytes()]));
                }
            }
            if rng.chance(30) {
                out.push(cmd(&[b"XGROUP", b"CREATE", key, b"g", b"0"]));
            }
        }
        _ => {
            let mut c = cmd(&[b"HSET", key]);
            for _ in 0..n {
                c.push(element(rng));
                c.push(if big && rng.chance(10) { rng.bytes(100) } else { element(rng) });
            }
            out.push(c);
        }
    }
    out
}

/// Sends every command pipelined and reads the replies; none may be an error.
fn run_all(conn: &mut RespConn, cmds: &[Cmd]) {
    for chunk in cmds.chunks(200) {
        for c in chunk {
            conn.send(c).expect("send");
        }
        for c in chunk {
            let r = conn.read().expect("read reply");
            assert!(!r.value.is_error(), "{} -> {:?}", common::show_command(c), r.value);
        }
    }
}

fn call(conn: &mut RespConn, parts: &[&[u8]]) -> Resp {
    conn.call(parts).expect("call").value
}

/// A random dataset over databases 0, 1 and 9, as commands (each database's keys preceded
/// by its SELECT), with the keys of each database.
fn dataset(seed: u64) -> (Vec<Cmd>, Vec<DbKeys>) {
    let mut rng = Rng::new(seed);
    let mut cmds = Vec::new();
    let mut keys = Vec::new();
    for db in [0usize, 1, 9] {
        cmds.push(cmd(&[b"SELECT", db.to_string().as_bytes()]));
        let mut names = Vec::new();
        for i in 0..150 {
            let key = format!("k{db}:{i}:{}", rng.below(1000)).into_bytes();
            let kind = i % 6;
            let big = rng.chance(15);
            cmds.extend(build_key(&mut rng, &key, kind, big));
            match rng.below(10) {
                0 => cmds.push(cmd(&[b"EXPIRE", &key, b"100000"])),
                1 => cmds.push(cmd(&[b"PEXPIREAT", &key, b"4000000000000"])),
                _ => {}
            }
            names.push(key);
        }
        // A key that had a deadline and lost it is not volatile any more.
        cmds.push(cmd(&[b"SET", b"persisted", b"v", b"EX", b"1000"]));
        cmds.push(cmd(&[b"PERSIST", b"persisted"]));
        names.push(b"persisted".to_vec());
        keys.push((db, names));
    }
    (cmds, keys)
}

fn digest(conn: &mut RespConn) -> Resp {
    call(conn, &[b"DEBUG", b"DIGEST"])
}

#[test]
fn dataset_and_value_digests_match_redis() {
    common::use_redis_ports(7700..7750);
    let Some(redis) = TestServer::redis(&["--enable-debug-command", "yes"]) else { return };
    let ferrous = TestServer::ferrous(&["--enable-debug-command", "yes"]);
    let mut r = redis.raw();
    let mut f = ferrous.raw();
    let zero = Resp::Simple(b"0000000000000000000000000000000000000000".to_vec());
    assert_eq!(digest(&mut r), zero);
    assert_eq!(digest(&mut f), zero);

    for seed in [1u64, 2, 3] {
        let (cmds, keys) = dataset(seed);
        for conn in [&mut r, &mut f] {
            assert_eq!(call(conn, &[b"FLUSHALL"]), Resp::Simple(b"OK".to_vec()));
            run_all(conn, &cmds);
        }
        let mut encodings = std::collections::BTreeSet::new();
        for (db, names) in &keys {
            for conn in [&mut r, &mut f] {
                call(conn, &[b"SELECT", db.to_string().as_bytes()]);
            }
            let mut dv = vec![b"DEBUG".to_vec(), b"DIGEST-VALUE".to_vec()];
            dv.extend(names.iter().cloned());
            dv.push(b"no-such-key".to_vec());
            let (want, got) = (r.call(&dv).expect("redis").value, f.call(&dv).expect("ferrous").value);
            let (Resp::Array(want), Resp::Array(got)) = (&want, &got) else {
                panic!("DIGEST-VALUE replies: {want:?} / {got:?}")
            };
            assert_eq!(want.len(), names.len() + 1);
            assert_eq!(want.last(), Some(&zero), "a missing key digests to zeros");
            for (i, name) in names.iter().enumerate() {
                let enc = call(&mut r, &[b"OBJECT", b"ENCODING", name]);
                assert_eq!(enc, call(&mut f, &[b"OBJECT", b"ENCODING", name]), "encoding of {}", common::escape(name));
                encodings.insert(format!("{:?}/{:?}", call(&mut r, &[b"TYPE", name]), enc));
                assert_eq!(got[i], want[i], "seed {seed}: DIGEST-VALUE of db {db} key {}", common::escape(name));
            }
        }
        assert_eq!(digest(&mut f), digest(&mut r), "seed {seed}: DEBUG DIGEST");
        // Every type/encoding pair of Redis 7.0 took part.
        assert!(encodings.len() >= 10, "seed {seed}: only {encodings:?}");
    }

    // The digest is sensitive to what it must see: an expiry, the list order, a score,
    // the database a key lives in. Both servers move the same way.
    let before = digest(&mut r);
    let steps: &[&[&[u8]]] = &[
        &[b"SELECT", b"0"],
        &[b"RPUSH", b"order", b"a", b"b"],
        &[b"EXPIRE", b"order", b"1000"],
        &[b"ZADD", b"zs", b"1", b"m"],
        &[b"ZADD", b"zs", b"1.0000000000000002", b"m"],
        &[b"MOVE", b"zs", b"5"],
        &[b"LPUSH", b"order", b"c"],
    ];
    let mut seen = vec![before.clone()];
    for step in steps {
        for conn in [&mut r, &mut f] {
            call(conn, step);
        }
        let d = digest(&mut r);
        assert_eq!(digest(&mut f), d, "after {}", common::show_command(step));
        if step[0] != b"SELECT" {
            assert!(!seen.contains(&d), "{} did not change the digest", common::show_command(step));
        }
        seen.push(d);
    }
}

/// Streams: the digest of a stream as Redis computes it, from the helper that
/// `Value::Stream` uses (entries in ID order, deleted ones skipped, groups ignored).
#[test]
fn stream_digest_helper_matches_redis() {
    use ferrous::digest::{begin_value, finish_value, mix_stream_entry, to_hex, STREAM_TYPE};
    common::use_redis_ports(7700..7750);
    let Some(redis) = TestServer::redis(&["--enable-debug-command", "yes"]) else { return };
    let mut r = redis.raw();
    let entries: &[StreamEntry<'_>] =
        &[(1, 1, &[(b"f", b"v"), (b"n", b"12")]), (1, 2, &[(b"f", b"w")]), (1_700_000_000_000, 0, &[(b"", b"")])];
    for (ms, seq, fields) in entries {
        let id = format!("{ms}-{seq}");
        let mut c: Vec<&[u8]> = vec![b"XADD", b"st", id.as_bytes()];
        for (k, v) in fields.iter() {
            c.push(k);
            c.push(v);
        }
        assert!(!r.call(&c).expect("xadd").value.is_error());
    }
    call(&mut r, &[b"XADD", b"st", b"1700000000001-0", b"gone", b"x"]);
    call(&mut r, &[b"XDEL", b"st", b"1700000000001-0"]);
    call(&mut r, &[b"XGROUP", b"CREATE", b"st", b"g", b"0"]);
    let mut expected = [0u8; 20];
    begin_value(&mut expected, STREAM_TYPE);
    for (ms, seq, fields) in entries {
        mix_stream_entry(&mut expected, *ms, *seq, fields.iter().copied());
    }
    finish_value(&mut expected, false);
    let got = call(&mut r, &[b"DEBUG", b"DIGEST-VALUE", b"st"]);
    assert_eq!(got, Resp::Array(vec![Resp::Simple(to_hex(&expected).into_bytes())]));
}
