//! Sorted-set tests: every command's replies against Redis 7.0 (`support/zsets.cases`,
//! recorded from redis-server 7.0.15 in both encodings and both protocols; to re-record,
//! `python3 support/record_cases.py PORT support/zsets.cases` replays the commands against a
//! redis-server and prints the file with fresh replies), the blocking commands (BZPOPMIN, BZPOPMAX, BZMPOP) through
//! blockable clients and through the typed API, a model-based test of the `ZSet` structure
//! against a sorted `Vec` across the listpack -> skiplist conversion, a model-based test
//! through the commands, ZSCAN/ZRANDMEMBER properties, the typed API, and (ignored) the
//! memory of a one-million-member set.
//!
//! The case replies are rendered from the raw RESP bytes (doubles keep Redis's exact text),
//! in `record_cases.py`'s notation: `"bulk"`, `:int`, `+simple`, `-error`, `nil`,
//! `[array]`, `~[set]`, `{map}`, `,double`.
use ferrous_core::zset::{Aggregate, LexRange, ScoreRange, Span, ZAddOptions, ZRange, ZSet, ZSetLimits};
use ferrous_core::{ConnectionInfo, Database, RespValue, ScanOptions};
use ferrous_resp::ArgsBuf;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- Raw reply rendering and case replay ----------------------------------------------

fn line_end(raw: &[u8], from: usize) -> usize {
    from + raw[from..].windows(2).position(|w| w == b"\r\n").expect("complete reply line")
}

/// Renders one raw RESP reply; returns the text and the bytes used.
fn render(raw: &[u8]) -> (String, usize) {
    let (text, used, _) = render_items(raw);
    (text, used)
}

/// Like [`render`], also returning the rendered elements of a top-level aggregate.
fn render_items(raw: &[u8]) -> (String, usize, Vec<String>) {
    let nl = line_end(raw, 0);
    let head = String::from_utf8_lossy(&raw[1..nl]).into_owned();
    let mut used = nl + 2;
    let bulk = |body: &[u8]| {
        let mut o = String::from("\"");
        for &c in body {
            match c {
                b'"' | b'\\' => {
                    o.push('\\');
                    o.push(c as char);
                }
                32..=126 => o.push(c as char),
                _ => o.push_str(&format!("\\x{c:02x}")),
            }
        }
        o + "\""
    };
    let text = match raw[0] {
        b'+' => format!("+{head}"),
        b'-' => format!("-{head}"),
        b':' => format!(":{head}"),
        b',' => format!(",{head}"),
        b'#' => format!("#{head}"),
        b'_' => "nil".to_string(),
        b'$' | b'=' => {
            let n: i64 = head.parse().expect("bulk length");
            if n < 0 {
                "nil".to_string()
            } else {
                let mut body = &raw[used..used + n as usize];
                used += n as usize + 2;
                if raw[0] == b'=' {
                    body = &body[4..];
                }
                bulk(body)
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n: i64 = head.parse().expect("aggregate length");
            if n < 0 {
                return ("nil".to_string(), used, Vec::new());
            }
            let mut items = Vec::new();
            let count = if raw[0] == b'%' { n * 2 } else { n };
            for _ in 0..count {
                let (s, k) = render(&raw[used..]);
                items.push(s);
                used += k;
            }
            let text = match raw[0] {
                b'%' => {
                    let pairs: Vec<String> = items.chunks(2).map(|kv| format!("{}: {}", kv[0], kv[1])).collect();
                    format!("{{{}}}", pairs.join(", "))
                }
                b'~' => format!("~[{}]", items.join(", ")),
                b'>' => format!(">[{}]", items.join(", ")),
                _ => format!("[{}]", items.join(", ")),
            };
            return (text, used, items);
        }
        other => panic!("unknown reply type {:?}", other as char),
    };
    (text, used, Vec::new())
}

/// Splits a case line into arguments: spaces separate, `"..."` groups with `\"`, `\\` and
/// `\xNN` escapes.
fn split(line: &str) -> Vec<Vec<u8>> {
    let b = line.as_bytes();
    let (mut out, mut cur, mut i): (Vec<Vec<u8>>, Option<Vec<u8>>, usize) = (Vec::new(), None, 0);
    while i < b.len() {
        match b[i] {
            b' ' => out.extend(cur.take()),
            b'"' => {
                let a = cur.get_or_insert_with(Vec::new);
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                        if b[i] == b'x' {
                            a.push(u8::from_str_radix(&line[i + 1..i + 3], 16).expect("\\x escape"));
                            i += 2;
                        } else {
                            a.push(b[i]);
                        }
                    } else {
                        a.push(b[i]);
                    }
                    i += 1;
                }
            }
            c => cur.get_or_insert_with(Vec::new).push(c),
        }
        i += 1;
    }
    out.extend(cur);
    out
}

/// A client that can block (it has a waker), like a server connection.
struct Session {
    db: Database,
    client: ferrous_core::ClientState,
}

impl Session {
    fn new(db: &Database, resp: u8) -> Session {
        let mut client = db.connect(ConnectionInfo::default());
        client.authenticated = true;
        client.resp = resp;
        client.blocking.waker = Some(Arc::new(|| {}));
        Session { db: db.clone(), client }
    }

    /// Sends a command; the raw reply (empty if the client blocked).
    fn send(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let argv: ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.client, argv.as_args(), &mut out);
        out
    }

    /// Sends a command line and renders the reply; a command that blocks is timed out.
    fn line(&mut self, line: &str) -> String {
        let mut out = self.send(&split(line));
        if out.is_empty() {
            let w = self.client.blocking.blocked.take().expect("no reply and not blocked");
            out = w.cancel(&self.db.inner().blocking).unwrap_or_else(|| w.timeout_reply().to_vec());
        }
        let (text, used) = render(&out);
        assert_eq!(used, out.len(), "{line}: trailing bytes in reply");
        text
    }

    /// The reply a blocked client received, rendered.
    fn served(&mut self) -> Option<String> {
        let reply = self.client.blocking.blocked.as_ref()?.take_reply()?;
        self.client.blocking.blocked = None;
        Some(render(&reply).0)
    }

    fn is_blocked(&self) -> bool {
        self.client.blocking.blocked.is_some()
    }
}

/// Replays recorded cases (see the module docs); returns the mismatches.
fn replay(cases: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let mut db = Database::new();
    let (mut c2, mut c3) = (Session::new(&db, 2), Session::new(&db, 3));
    for line in cases.lines().map(str::trim_end) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("---") {
            db = Database::new();
            (c2, c3) = (Session::new(&db, 2), Session::new(&db, 3));
            continue;
        }
        let (cmd, expected) = line.split_once(" => ").expect("`command => reply`");
        let (mut rest, mut resp3, mut sort) = (cmd, false, false);
        loop {
            if let Some(r) = rest.strip_prefix("R3 ") {
                (resp3, rest) = (true, r);
            } else if let Some(r) = rest.strip_prefix("S ") {
                (sort, rest) = (true, r);
            } else {
                break;
            }
        }
        let s = if resp3 { &mut c3 } else { &mut c2 };
        let mut got = s.line(rest);
        if sort {
            let raw = s.send(&split(rest));
            let (_, _, mut items) = render_items(&raw);
            items.sort();
            got = format!("[{}]", items.join(", "));
        }
        if got != expected {
            let cut = |s: &str| s.chars().take(300).collect::<String>();
            failures.push(format!("{}\n   expected {}\n   got      {}", cut(cmd), cut(expected), cut(&got)));
        }
    }
    failures
}

#[test]
fn replies_match_redis() {
    let failures = replay(include_str!("support/zsets.cases"));
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

// ---- Helpers --------------------------------------------------------------------------

fn cmd(db: &Database, line: &str) -> RespValue {
    db.execute(split(line))
}

fn text(db: &Database, line: &str) -> String {
    let mut s = Session::new(db, 2);
    s.line(line)
}

fn encoding(db: &Database, key: &str) -> String {
    text(db, &format!("object encoding {key}"))
}

fn pairs(v: &[(Vec<u8>, f64)]) -> Vec<(String, f64)> {
    v.iter().map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), *s)).collect()
}

// ---- Blocking commands ----------------------------------------------------------------

#[test]
fn bzpopmin_blocks_and_is_served_by_zadd() {
    let db = Database::new();
    let mut waiter = Session::new(&db, 2);
    let mut other = Session::new(&db, 2);
    assert_eq!(waiter.send(&split("bzpopmin k1 k2 0")), b"");
    assert!(waiter.is_blocked());
    assert_eq!(db.inner().blocking.blocked_clients(), 1);
    // A write to an unrelated key does not serve it.
    assert_eq!(other.line("zadd other 1 a"), ":1");
    assert!(waiter.served().is_none());
    assert_eq!(other.line("zadd k2 3 c 1 a 2 b"), ":3");
    assert_eq!(waiter.served().as_deref(), Some(r#"["k2", "a", "1"]"#));
    assert_eq!(other.line("zrange k2 0 -1"), r#"["b", "c"]"#);
    assert_eq!(db.inner().blocking.blocked_clients(), 0);
}

#[test]
fn bzpopmax_and_resp3_reply() {
    let db = Database::new();
    let mut waiter = Session::new(&db, 3);
    let mut other = Session::new(&db, 2);
    assert!(waiter.send(&split("bzpopmax k 0")).is_empty());
    assert_eq!(other.line("zadd k 1.5 a 2.5 b"), ":2");
    assert_eq!(waiter.served().as_deref(), Some(r#"["k", "b", ,2.5]"#));
    // Immediate service when data is there.
    assert_eq!(waiter.line("bzpopmax k 0"), r#"["k", "a", ,1.5]"#);
    assert_eq!(other.line("exists k"), ":0");
}

#[test]
fn bzmpop_serves_count_members() {
    let db = Database::new();
    let mut waiter = Session::new(&db, 2);
    let mut other = Session::new(&db, 2);
    assert!(waiter.send(&split("bzmpop 0 2 a b max count 2")).is_empty());
    assert_eq!(other.line("zadd b 1 x 2 y 3 z"), ":3");
    assert_eq!(waiter.served().as_deref(), Some(r#"["b", [["z", "3"], ["y", "2"]]]"#));
    assert!(waiter.send(&split("bzmpop 0 1 a min")).is_empty());
    // ZUNIONSTORE creating the key serves the waiter too.
    assert_eq!(other.line("zunionstore a 1 b"), ":1");
    assert_eq!(waiter.served().as_deref(), Some(r#"["a", [["x", "1"]]]"#));
    assert_eq!(other.line("exists a"), ":0");
}

#[test]
fn blocked_clients_are_served_in_fifo_order() {
    let db = Database::new();
    let mut w1 = Session::new(&db, 2);
    let mut w2 = Session::new(&db, 2);
    let mut w3 = Session::new(&db, 2);
    let mut other = Session::new(&db, 2);
    assert!(w1.send(&split("bzpopmin k 0")).is_empty());
    assert!(w2.send(&split("bzpopmax k 0")).is_empty());
    assert!(w3.send(&split("bzpopmin k 0")).is_empty());
    assert_eq!(other.line("zadd k 1 a 2 b"), ":2");
    assert_eq!(w1.served().as_deref(), Some(r#"["k", "a", "1"]"#));
    assert_eq!(w2.served().as_deref(), Some(r#"["k", "b", "2"]"#));
    assert!(w3.served().is_none());
    assert!(w3.is_blocked());
    assert_eq!(other.line("zincrby k 5 c"), r#""5""#);
    assert_eq!(w3.served().as_deref(), Some(r#"["k", "c", "5"]"#));
}

#[test]
fn waiter_on_a_key_that_becomes_another_type_keeps_waiting() {
    let db = Database::new();
    let mut waiter = Session::new(&db, 2);
    let mut other = Session::new(&db, 2);
    assert!(waiter.send(&split("bzpopmin a b 0")).is_empty());
    assert_eq!(other.line("set a x"), "+OK");
    assert_eq!(other.line("lpush b 1"), ":1");
    assert!(waiter.served().is_none());
    assert_eq!(other.line("del b"), ":1");
    assert_eq!(other.line("zadd b 7 m"), ":1");
    assert_eq!(waiter.served().as_deref(), Some(r#"["b", "m", "7"]"#));
}

#[test]
fn blocking_errors_timeouts_and_non_blocking_clients() {
    let db = Database::new();
    let mut s = Session::new(&db, 2);
    assert_eq!(s.line("bzpopmin k -1"), "-ERR timeout is negative");
    assert_eq!(s.line("bzpopmin k abc"), "-ERR timeout is not a float or out of range");
    assert_eq!(s.line("bzmpop 0 0 k min"), "-ERR numkeys should be greater than 0");
    assert_eq!(s.line("bzmpop x 1 k min count 0"), "-ERR count should be greater than 0");
    assert_eq!(s.line("bzmpop x 1 k min"), "-ERR timeout is not a float or out of range");
    assert_eq!(s.line("set str v"), "+OK");
    assert_eq!(s.line("bzpopmin nokey str 0"), "-WRONGTYPE Operation against a key holding the wrong kind of value");
    // A client without a waker (in-process one-shot) gets the timeout reply at once.
    assert_eq!(cmd(&db, "bzpopmin nokey 0"), RespValue::NullArray);
    assert_eq!(cmd(&db, "bzmpop 0 1 nokey min"), RespValue::NullArray);
    // Timeout through the session helper (cancels the waiter).
    assert_eq!(s.line("bzpopmax nokey 0.01"), "nil");
    let mut r3 = Session::new(&db, 3);
    assert!(r3.send(&split("bzmpop 1 1 nokey min")).is_empty());
    let w = r3.client.blocking.blocked.take().expect("blocked");
    assert_eq!(w.cancel(&db.inner().blocking).unwrap_or_else(|| w.timeout_reply().to_vec()), b"_\r\n");
    // Deadlines: a 1.5 s timeout records now + 1500 ms.
    let before = db.inner().clock.now_ms();
    let mut s2 = Session::new(&db, 2);
    assert!(s2.send(&split("bzpopmin nokey 1.5")).is_empty());
    let w = s2.client.blocking.blocked.take().expect("blocked");
    let deadline = w.deadline.expect("deadline");
    assert!(deadline >= before + 1500 && deadline <= db.inner().clock.now_ms() + 1500);
    w.cancel(&db.inner().blocking);
}

#[test]
fn typed_blocking_calls() {
    let db = Database::new();
    db.zadd("k", &[(1.0, "a"), (2.0, "b")]).unwrap();
    assert_eq!(db.bzpopmin(&["nokey", "k"], Duration::ZERO).unwrap(), Some((b"k".to_vec(), b"a".to_vec(), 1.0)));
    assert_eq!(db.bzpopmax(&["k"], Duration::ZERO).unwrap(), Some((b"k".to_vec(), b"b".to_vec(), 2.0)));
    let start = Instant::now();
    assert_eq!(db.bzpopmin(&["k"], Duration::from_millis(50)).unwrap(), None);
    assert!(start.elapsed() >= Duration::from_millis(45));
    db.set("str", "x").unwrap();
    assert_eq!(db.bzpopmin(&["str"], Duration::ZERO), Err(ferrous_core::Error::WrongType));

    let pusher = {
        let db = db.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            db.zadd("late", &[(f64::INFINITY, "x"), (-1.0, "y")]).unwrap();
        })
    };
    let got = db.bzpopmax(&["late"], Duration::from_secs(10)).unwrap();
    pusher.join().unwrap();
    assert_eq!(got, Some((b"late".to_vec(), b"x".to_vec(), f64::INFINITY)));

    let pusher = {
        let db = db.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            db.zadd("m2", &[(1.0, "p"), (2.0, "q"), (3.0, "r")]).unwrap();
        })
    };
    let got = db.bzmpop(&["m1", "m2"], false, 2, Duration::ZERO).unwrap();
    pusher.join().unwrap();
    assert_eq!(got, Some((b"m2".to_vec(), vec![(b"p".to_vec(), 1.0), (b"q".to_vec(), 2.0)])));
    assert_eq!(db.bzmpop(&["m1"], true, 1, Duration::from_millis(20)).unwrap(), None);
}

// ---- Model-based test of the structure -------------------------------------------------

/// A sorted set as a sorted `Vec` of (score, member).
#[derive(Default)]
struct Model {
    items: Vec<(f64, Vec<u8>)>,
}

impl Model {
    fn cmp(a: &(f64, Vec<u8>), b: &(f64, Vec<u8>)) -> std::cmp::Ordering {
        a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.1.cmp(&b.1))
    }
    fn pos(&self, m: &[u8]) -> Option<usize> {
        self.items.iter().position(|(_, x)| x == m)
    }
    fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
        let old = self.pos(m).map(|p| self.items.remove(p).0);
        let item = (s, m.to_vec());
        let at = self.items.partition_point(|x| Self::cmp(x, &item).is_lt());
        self.items.insert(at, item);
        old
    }
    fn remove(&mut self, m: &[u8]) -> Option<f64> {
        self.pos(m).map(|p| self.items.remove(p).0)
    }
}

fn random_member(rng: &mut SmallRng, space: u32) -> Vec<u8> {
    let i = rng.gen_range(0..space);
    match i % 5 {
        0 => i.to_string().into_bytes(),
        1 => format!("member:{i}").into_bytes(),
        2 => format!("a-much-longer-member-name-that-is-not-inline-{i}").into_bytes(),
        3 => vec![(i % 256) as u8; (i % 7) as usize],
        _ => format!("m{i}").into_bytes(),
    }
}

fn random_score(rng: &mut SmallRng) -> f64 {
    match rng.gen_range(0..10) {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => rng.gen_range(-3..3) as f64,
        3 => rng.gen::<f64>(),
        4 => -0.0,
        _ => rng.gen_range(-50..50) as f64 * 0.5,
    }
}

fn check_against_model(z: &ZSet, model: &Model, rng: &mut SmallRng) {
    assert_eq!(z.len(), model.items.len());
    let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
    assert_eq!(got.len(), model.items.len());
    for (g, w) in got.iter().zip(&model.items) {
        assert_eq!(g.1, w.1);
        assert_eq!(g.0, w.0);
    }
    if model.items.is_empty() {
        return;
    }
    let n = model.items.len();
    for _ in 0..5 {
        let r = rng.gen_range(0..n);
        let (s, m) = &model.items[r];
        assert_eq!(z.rank(m), Some(r));
        assert_eq!(z.score(m), Some(*s));
        let (gm, gs) = z.get(r).expect("rank in range");
        assert_eq!((gm, gs), (m.as_slice(), *s));
        // Forward and backward walks from a random rank.
        let count = rng.gen_range(0..10);
        let fw: Vec<Vec<u8>> = z.range(Span { first: r, count, rev: false }).map(|(m, _)| m.to_vec()).collect();
        let want: Vec<Vec<u8>> = model.items[r..].iter().take(count).map(|x| x.1.clone()).collect();
        assert_eq!(fw, want);
        let bw: Vec<Vec<u8>> = z.range(Span { first: r, count, rev: true }).map(|(m, _)| m.to_vec()).collect();
        let want: Vec<Vec<u8>> = model.items[..=r].iter().rev().take(count).map(|x| x.1.clone()).collect();
        assert_eq!(bw, want);
    }
    // Score bounds against a filter of the model.
    let (a, b) = (random_score(rng), random_score(rng));
    let range = ScoreRange { min: a.min(b), min_exclusive: rng.gen(), max: a.max(b), max_exclusive: rng.gen() };
    let (lo, hi) = z.score_bounds(&range);
    let want: Vec<usize> = (0..n).filter(|&i| range.contains(model.items[i].0)).collect();
    assert_eq!(hi.saturating_sub(lo), want.len(), "{range:?}");
    if let Some(&first) = want.first() {
        assert_eq!(lo, first);
    }
    assert_eq!(z.count_in(&range), want.len());
}

fn model_run(seed: u64, limits: ZSetLimits, ops: usize, space: u32) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut z = ZSet::new();
    let mut model = Model::default();
    let mut converted_at = None;
    for step in 0..ops {
        match rng.gen_range(0..100) {
            0..=49 => {
                let m = random_member(&mut rng, space);
                let s = random_score(&mut rng);
                let old = model.insert(&m, s);
                assert_eq!(z.insert(&m, s, &limits).map(f64::to_bits), old.map(f64::to_bits));
            }
            50..=69 => {
                let m = random_member(&mut rng, space);
                assert_eq!(z.remove(&m), model.remove(&m));
            }
            70..=79 => {
                if !model.items.is_empty() {
                    let first = rng.gen_range(0..model.items.len());
                    let count = rng.gen_range(0..5);
                    let mut gone = Vec::new();
                    z.remove_range(first, count, |m, s| gone.push((s, m.to_vec())));
                    let end = (first + count).min(model.items.len());
                    let want: Vec<(f64, Vec<u8>)> = model.items.drain(first..end).collect();
                    assert_eq!(gone, want);
                }
            }
            80..=84 => {
                let max = rng.gen();
                let count = rng.gen_range(0..4);
                let got = z.pop(max, count);
                let k = count.min(model.items.len());
                let want: Vec<(Vec<u8>, f64)> = if max {
                    let start = model.items.len() - k;
                    model.items.drain(start..).rev().map(|(s, m)| (m, s)).collect()
                } else {
                    model.items.drain(..k).map(|(s, m)| (m, s)).collect()
                };
                assert_eq!(got, want);
            }
            85..=89 => {
                // ZADD semantics: GT/LT/NX/XX/INCR on one member.
                let m = random_member(&mut rng, space);
                let s = random_score(&mut rng);
                let (nx, xx, gt, lt, incr) =
                    (rng.gen_bool(0.2), rng.gen_bool(0.2), rng.gen_bool(0.2), rng.gen_bool(0.2), rng.gen_bool(0.3));
                let cur = model.pos(&m).map(|p| model.items[p].0);
                let res = z.add(&m, s, incr, nx, xx, gt, lt, &limits);
                match cur {
                    Some(c) => {
                        let new = if incr { c + s } else { s };
                        if nx {
                            assert_eq!(res, Ok(ferrous_core::zset::AddOutcome::Skipped));
                        } else if new.is_nan() {
                            assert!(res.is_err());
                        } else if (lt && new >= c) || (gt && new <= c) {
                            assert_eq!(res, Ok(ferrous_core::zset::AddOutcome::Skipped));
                        } else if new != c {
                            assert_eq!(res, Ok(ferrous_core::zset::AddOutcome::Updated(new)));
                            model.insert(&m, new);
                        } else {
                            assert_eq!(res, Ok(ferrous_core::zset::AddOutcome::Unchanged(new)));
                        }
                    }
                    None if xx => assert_eq!(res, Ok(ferrous_core::zset::AddOutcome::Skipped)),
                    None => {
                        assert_eq!(res, Ok(ferrous_core::zset::AddOutcome::Added(s)));
                        model.insert(&m, s);
                    }
                }
            }
            _ => check_against_model(&z, &model, &mut rng),
        }
        if converted_at.is_none() && z.encoding() == "skiplist" {
            converted_at = Some(step);
        }
        if z.encoding() == "listpack" {
            assert!(z.len() <= limits.max_listpack_entries, "listpack past its limit");
            // A listpack stores -0 as 0, like Redis.
            for (s, m) in &mut model.items {
                if *s == 0.0 && z.score(m).is_some_and(|x| x.to_bits() == 0) {
                    *s = 0.0;
                }
            }
        }
    }
    check_against_model(&z, &model, &mut rng);
    assert!(converted_at.is_some(), "the run never crossed the listpack threshold");
}

#[test]
fn model_small_sets_crossing_the_threshold() {
    for seed in 0..4 {
        model_run(seed, ZSetLimits { max_listpack_entries: 16, max_listpack_value: 64 }, 3000, 40);
    }
}

#[test]
fn model_default_limits() {
    model_run(10, ZSetLimits::default(), 20_000, 400);
}

#[test]
fn model_large_sets() {
    model_run(20, ZSetLimits::default(), 40_000, 5_000);
}

#[test]
fn lex_bounds_on_equal_scores() {
    for limits in [ZSetLimits::default(), ZSetLimits { max_listpack_entries: 0, max_listpack_value: 0 }] {
        let mut z = ZSet::new();
        let words: Vec<String> = (0..300).map(|i| format!("w{:03}", i * 7 % 300)).collect();
        for w in &words {
            z.insert(w.as_bytes(), 0.0, &limits);
        }
        let mut sorted = words.clone();
        sorted.sort();
        let probes = [
            ("-", "+"),
            ("[w010", "(w020"),
            ("(w010", "[w020"),
            ("(w299", "+"),
            ("+", "-"),
            ("[w5", "[w6"),
            ("-", "-"),
        ];
        for (a, b) in probes {
            let r = LexRange::parse(a.as_bytes(), b.as_bytes()).unwrap();
            let want: Vec<&String> =
                sorted.iter().filter(|w| r.above_min(w.as_bytes()) && r.below_max(w.as_bytes())).collect();
            assert_eq!(z.lex_count_in(&r), want.len(), "{a} {b}");
            let span = z.span(&ZRange::lex(r.clone()));
            let got: Vec<String> = z.range(span).map(|(m, _)| String::from_utf8_lossy(m).into_owned()).collect();
            assert_eq!(got.iter().collect::<Vec<_>>(), want, "{a} {b}");
        }
    }
}

// ---- Model-based test through the commands ---------------------------------------------

#[test]
fn model_through_commands() {
    let db = Database::new();
    let mut rng = SmallRng::seed_from_u64(99);
    let mut model = Model::default();
    let arg = |s: f64| -> String {
        if s.is_infinite() {
            if s > 0.0 {
                "+inf".into()
            } else {
                "-inf".into()
            }
        } else {
            format!("{s:?}")
        }
    };
    for step in 0..4000 {
        let m = format!("m{}", rng.gen_range(0..300));
        match rng.gen_range(0..10) {
            0..=4 => {
                let s = (rng.gen_range(-100..100) as f64) * 0.25;
                let added = model.insert(m.as_bytes(), s).is_none() as i64;
                assert_eq!(cmd(&db, &format!("zadd k {} {m}", arg(s))), RespValue::Integer(added));
            }
            5 => {
                let d = (rng.gen_range(-10..10) as f64) * 0.5;
                let new = model.pos(m.as_bytes()).map_or(0.0, |p| model.items[p].0) + d;
                model.insert(m.as_bytes(), new);
                let got = cmd(&db, &format!("zincrby k {} {m}", arg(d)));
                assert_eq!(got.as_bytes().and_then(|b| std::str::from_utf8(b).ok()?.parse::<f64>().ok()), Some(new));
            }
            6 => {
                let removed = model.remove(m.as_bytes()).is_some() as i64;
                assert_eq!(cmd(&db, &format!("zrem k {m}")), RespValue::Integer(removed));
            }
            7 => {
                let want = model.pos(m.as_bytes());
                let got = cmd(&db, &format!("zrank k {m}"));
                assert_eq!(got.as_int(), want.map(|r| r as i64), "zrank {m}");
                let got = cmd(&db, &format!("zrevrank k {m}"));
                assert_eq!(got.as_int(), want.map(|r| (model.items.len() - 1 - r) as i64));
            }
            8 => {
                let a = rng.gen_range(-30..30) as f64;
                let b = a + rng.gen_range(0..20) as f64;
                let want: Vec<Vec<u8>> =
                    model.items.iter().filter(|x| x.0 > a && x.0 <= b).map(|x| x.1.clone()).collect();
                let got = cmd(&db, &format!("zrangebyscore k ({a} {b}"));
                let got: Vec<Vec<u8>> = match got {
                    RespValue::Array(v) => v.into_iter().filter_map(|x| x.as_bytes().map(<[u8]>::to_vec)).collect(),
                    other => panic!("{other:?}"),
                };
                assert_eq!(got, want);
                let count = cmd(&db, &format!("zcount k ({a} {b}"));
                assert_eq!(count, RespValue::Integer(want.len() as i64));
            }
            _ => {
                let start = rng.gen_range(-50..50i64);
                let stop = rng.gen_range(-50..50i64);
                let n = model.items.len() as i64;
                let (mut s, mut e) =
                    (if start < 0 { n + start } else { start }, if stop < 0 { n + stop } else { stop });
                s = s.max(0);
                let want: Vec<Vec<u8>> = if s > e || s >= n {
                    Vec::new()
                } else {
                    e = e.min(n - 1);
                    model.items[s as usize..=e as usize].iter().map(|x| x.1.clone()).collect()
                };
                let got: Vec<Vec<u8>> = match cmd(&db, &format!("zrange k {start} {stop}")) {
                    RespValue::Array(v) => v.into_iter().filter_map(|x| x.as_bytes().map(<[u8]>::to_vec)).collect(),
                    other => panic!("{other:?}"),
                };
                assert_eq!(got, want, "zrange {start} {stop}");
            }
        }
        let card = cmd(&db, "zcard k").as_int().unwrap_or(-1);
        assert_eq!(card, model.items.len() as i64, "step {step}");
        let enc = encoding(&db, "k");
        if model.items.len() > 128 {
            assert_eq!(enc, r#""skiplist""#);
        }
    }
}

// ---- ZSCAN and ZRANDMEMBER properties --------------------------------------------------

#[test]
fn zscan_skiplist_returns_every_member_once_despite_churn() {
    let db = Database::new();
    let members: Vec<(f64, String)> = (0..2000).map(|i| (i as f64 / 3.0, format!("stable:{i}"))).collect();
    db.zadd("z", &members).unwrap();
    assert_eq!(encoding(&db, "z"), r#""skiplist""#);
    let mut seen: HashMap<Vec<u8>, (usize, f64)> = HashMap::new();
    let mut cursor = 0;
    let mut round = 0;
    loop {
        let (next, batch) = db.zscan("z", cursor, &ScanOptions { count: Some(25), ..Default::default() }).unwrap();
        for (m, s) in batch {
            let e = seen.entry(m).or_insert((0, s));
            e.0 += 1;
        }
        round += 1;
        let churn: Vec<(f64, String)> = (0..30).map(|j| (j as f64, format!("tmp:{round}:{j}"))).collect();
        db.zadd("z", &churn).unwrap();
        db.zrem("z", &churn.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>()).unwrap();
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for (s, m) in &members {
        assert_eq!(seen.get(m.as_bytes()), Some(&(1, *s)), "{m}");
    }
    // MATCH filters members; COUNT bounds the batch.
    let (next, batch) = db.zscan("z", 0, &ScanOptions { count: Some(5), ..Default::default() }).unwrap();
    assert!(next != 0 && batch.len() == 5);
    let mut all = Vec::new();
    let mut cursor = 0;
    loop {
        let opts = ScanOptions { pattern: Some(b"stable:1?".to_vec()), count: Some(100), ..Default::default() };
        let (next, batch) = db.zscan("z", cursor, &opts).unwrap();
        all.extend(batch.into_iter().map(|(m, _)| m));
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    all.sort();
    let want: Vec<Vec<u8>> = {
        let mut w: Vec<Vec<u8>> = (10..20).map(|i| format!("stable:{i}").into_bytes()).collect();
        w.sort();
        w
    };
    assert_eq!(all, want);
}

#[test]
fn zscan_listpack_is_one_batch() {
    let db = Database::new();
    db.zadd("z", &[(1.0, "a"), (2.0, "b"), (0.5, "c")]).unwrap();
    let (next, batch) = db.zscan("z", 0, &ScanOptions { count: Some(1), ..Default::default() }).unwrap();
    assert_eq!(next, 0);
    assert_eq!(pairs(&batch), vec![("c".into(), 0.5), ("a".into(), 1.0), ("b".into(), 2.0)]);
    assert_eq!(db.zscan("nokey", 0, &ScanOptions::default()).unwrap(), (0, vec![]));
}

#[test]
fn zrandmember_properties() {
    for n in [5usize, 300] {
        let db = Database::new();
        let items: Vec<(f64, String)> = (0..n).map(|i| (i as f64, format!("m{i}"))).collect();
        db.zadd("z", &items).unwrap();
        let scores: HashMap<String, f64> = items.iter().map(|(s, m)| (m.clone(), *s)).collect();
        for count in [1i64, 2, 3, 4, 100, 299, 1000] {
            let got = db.zrandmember_count("z", count).unwrap();
            assert_eq!(got.len(), (count as usize).min(n), "count {count}");
            let distinct: HashSet<&Vec<u8>> = got.iter().map(|(m, _)| m).collect();
            assert_eq!(distinct.len(), got.len(), "distinct for count {count}");
            for (m, s) in &got {
                assert_eq!(scores.get(&String::from_utf8_lossy(m).into_owned()), Some(s));
            }
        }
        let got = db.zrandmember_count("z", -50).unwrap();
        assert_eq!(got.len(), 50);
        assert!(got.iter().all(|(m, s)| scores.get(&String::from_utf8_lossy(m).into_owned()) == Some(s)));
        // Repeats happen with negative counts on small sets.
        if n == 5 {
            let distinct: HashSet<&Vec<u8>> = got.iter().map(|(m, _)| m).collect();
            assert!(distinct.len() < 50);
        }
        let one = db.zrandmember("z").unwrap().expect("a member");
        assert!(scores.contains_key(&String::from_utf8_lossy(&one).into_owned()));
        // Every member is eventually picked.
        let mut seen = HashSet::new();
        for _ in 0..200 {
            for (m, _) in db.zrandmember_count("z", -20).unwrap() {
                seen.insert(m);
            }
        }
        assert_eq!(seen.len(), n);
    }
    let db = Database::new();
    assert_eq!(db.zrandmember("nokey").unwrap(), None);
    assert!(db.zrandmember_count("nokey", i64::MAX).is_err());
}

// ---- Typed API --------------------------------------------------------------------------

#[test]
fn typed_api() {
    let db = Database::new();
    assert_eq!(db.zadd("z", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]).unwrap(), 3);
    assert_eq!(
        db.zadd_with("z", &[(5.0, "a"), (0.0, "d")], ZAddOptions { xx: true, ch: true, ..Default::default() }).unwrap(),
        1
    );
    assert_eq!(db.zadd_with("z", &[(0.0, "b")], ZAddOptions { gt: true, ..Default::default() }).unwrap(), 0);
    assert_eq!(db.zscore("z", "b").unwrap(), Some(2.0));
    assert!(db.zadd_with("z", &[(0.0, "b")], ZAddOptions { gt: true, nx: true, ..Default::default() }).is_err());
    assert_eq!(db.zadd_incr("z", 1.0, "a", ZAddOptions::default()).unwrap(), Some(6.0));
    assert_eq!(db.zadd_incr("z", 1.0, "zz", ZAddOptions { xx: true, ..Default::default() }).unwrap(), None);
    assert_eq!(db.zincrby("z", -0.5, "c").unwrap(), 2.5);
    db.zadd("inf", &[(f64::INFINITY, "x")]).unwrap();
    assert_eq!(
        db.zincrby("inf", f64::NEG_INFINITY, "x").unwrap_err().to_string(),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(db.zcard("z").unwrap(), 3);
    assert_eq!(db.zmscore("z", &["a", "nope"]).unwrap(), vec![Some(6.0), None]);
    assert_eq!(db.zrank("z", "b").unwrap(), Some(0));
    assert_eq!(db.zrevrank("z", "b").unwrap(), Some(2));
    assert_eq!(db.zcount("z", &ScoreRange::parse(b"(2", b"+inf").unwrap()).unwrap(), 2);
    assert_eq!(
        pairs(&db.zrange("z", &ZRange::rank(0, -1)).unwrap()),
        vec![("b".into(), 2.0), ("c".into(), 2.5), ("a".into(), 6.0)]
    );
    assert_eq!(pairs(&db.zrange("z", &ZRange::rank(0, 0).rev()).unwrap()), vec![("a".into(), 6.0)]);
    let by_score = ZRange::score(ScoreRange::all()).rev().limit(1, 1);
    assert_eq!(pairs(&db.zrange("z", &by_score).unwrap()), vec![("c".into(), 2.5)]);
    assert!(db.zrange("z", &ZRange::rank(0, 1).limit(0, 1)).is_err());
    assert_eq!(pairs(&db.zrevrange("z", 0, 1).unwrap()), vec![("a".into(), 6.0), ("c".into(), 2.5)]);
    let above2 = ScoreRange::parse(b"(2", b"+inf").unwrap();
    assert_eq!(pairs(&db.zrangebyscore("z", &above2, Some((1, 5))).unwrap()), vec![("a".into(), 6.0)]);
    assert_eq!(pairs(&db.zrevrangebyscore("z", &above2, None).unwrap()), vec![("a".into(), 6.0), ("c".into(), 2.5)]);
    assert_eq!(db.zrangestore("dst", "z", &ZRange::rank(0, 1)).unwrap(), 2);
    assert_eq!(db.zcard("dst").unwrap(), 2);
    assert_eq!(db.zpopmin("dst", 10).unwrap().len(), 2);
    assert!(!db.exists("dst"));

    db.zadd("lex", &[(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")]).unwrap();
    let r = LexRange::parse(b"[b", b"+").unwrap();
    assert_eq!(db.zlexcount("lex", &r).unwrap(), 3);
    assert_eq!(db.zrangebylex("lex", &r, Some((1, 1))).unwrap(), vec![b"c".to_vec()]);
    assert_eq!(
        db.zrevrangebylex("lex", &LexRange::all(), None).unwrap(),
        vec![b"d".to_vec(), b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
    );
    assert_eq!(db.zremrangebylex("lex", &r).unwrap(), 3);
    assert_eq!(db.zremrangebyscore("z", &ScoreRange::inclusive(2.0, 2.0)).unwrap(), 1);
    assert_eq!(db.zremrangebyrank("z", -1, -1).unwrap(), 1);
    assert_eq!(pairs(&db.zpopmax("z", 1).unwrap()), vec![("c".into(), 2.5)]);
    assert!(!db.exists("z"));

    db.zadd("a", &[(1.0, "x"), (2.0, "y")]).unwrap();
    db.zadd("b", &[(10.0, "y"), (20.0, "z")]).unwrap();
    db.sadd("s", &["y", "q"]).unwrap();
    assert_eq!(
        pairs(&db.zunion(&["a", "b"], &[], Aggregate::Sum).unwrap()),
        vec![("x".into(), 1.0), ("y".into(), 12.0), ("z".into(), 20.0)]
    );
    assert_eq!(
        pairs(&db.zinter(&["a", "b", "s"], &[2.0, 1.0, 100.0], Aggregate::Max).unwrap()),
        vec![("y".into(), 100.0)]
    );
    assert_eq!(pairs(&db.zdiff(&["a", "b"]).unwrap()), vec![("x".into(), 1.0)]);
    assert_eq!(db.zunionstore("u", &["a", "s"], &[], Aggregate::Min).unwrap(), 3);
    assert_eq!(
        pairs(&db.zrange("u", &ZRange::rank(0, -1)).unwrap()),
        vec![("q".into(), 1.0), ("x".into(), 1.0), ("y".into(), 1.0)]
    );
    assert_eq!(db.zinterstore("i", &["a", "b"], &[], Aggregate::Sum).unwrap(), 1);
    assert_eq!(db.zdiffstore("d", &["a", "a"]).unwrap(), 0);
    assert!(!db.exists("d"));
    assert_eq!(db.zintercard(&["a", "b"], 0).unwrap(), 1);
    assert_eq!(db.zintercard(&["a", "a"], 1).unwrap(), 1);
    let (key, popped) = db.zmpop(&["nokey", "a"], true, 5).unwrap().expect("popped");
    assert_eq!((key, pairs(&popped)), (b"a".to_vec(), vec![("y".into(), 2.0), ("x".into(), 1.0)]));
    assert_eq!(db.zmpop(&["nokey"], true, 5).unwrap(), None);
    db.set("str", "v").unwrap();
    assert_eq!(db.zadd("str", &[(1.0, "a")]), Err(ferrous_core::Error::WrongType));
    assert_eq!(db.zunion(&["b", "str"], &[], Aggregate::Sum), Err(ferrous_core::Error::WrongType));
    assert_eq!(db.zscore("str", "a"), Err(ferrous_core::Error::WrongType));
}

#[test]
fn encodings_follow_config_and_never_shrink_back() {
    let db = Database::new();
    let items: Vec<(f64, String)> = (0..128).map(|i| (i as f64, format!("m{i}"))).collect();
    db.zadd("z", &items).unwrap();
    assert_eq!(encoding(&db, "z"), r#""listpack""#);
    db.zadd("z", &[(0.0, "one-more")]).unwrap();
    assert_eq!(encoding(&db, "z"), r#""skiplist""#);
    db.zremrangebyrank("z", 0, -3).unwrap();
    assert_eq!(encoding(&db, "z"), r#""skiplist""#);
    // Results of Z*STORE start small again.
    assert_eq!(db.zunionstore("u", &["z"], &[], Aggregate::Sum).unwrap(), 2);
    assert_eq!(encoding(&db, "u"), r#""listpack""#);
    assert_eq!(text(&db, "config set zset-max-listpack-entries 1"), "+OK");
    assert_eq!(db.zunionstore("u", &["z"], &[], Aggregate::Sum).unwrap(), 2);
    assert_eq!(encoding(&db, "u"), r#""skiplist""#);
    db.zadd("new", &[(1.0, "a")]).unwrap();
    assert_eq!(encoding(&db, "new"), r#""listpack""#);
    db.zadd("new", &[(2.0, "b")]).unwrap();
    assert_eq!(encoding(&db, "new"), r#""skiplist""#);
    assert_eq!(text(&db, "config set zset-max-listpack-value 3"), "+OK");
    assert_eq!(text(&db, "config set zset-max-listpack-entries 128"), "+OK");
    db.zadd("v", &[(1.0, "abc")]).unwrap();
    assert_eq!(encoding(&db, "v"), r#""listpack""#);
    db.zadd("v", &[(1.0, "abcd")]).unwrap();
    assert_eq!(encoding(&db, "v"), r#""skiplist""#);
    // COPY keeps the encoding and the contents.
    assert_eq!(text(&db, "copy z zc"), ":1");
    assert_eq!(encoding(&db, "zc"), r#""skiplist""#);
    assert_eq!(text(&db, "zrange zc 0 -1 withscores"), text(&db, "zrange z 0 -1 withscores"));
}

#[test]
fn dirty_counts_changes() {
    let db = Database::new();
    let dirty = || db.inner().dirty.load(std::sync::atomic::Ordering::Relaxed);
    let d0 = dirty();
    db.zadd("z", &[(1.0, "a"), (2.0, "b")]).unwrap();
    assert_eq!(dirty() - d0, 2);
    db.zadd("z", &[(1.0, "a"), (3.0, "b")]).unwrap();
    assert_eq!(dirty() - d0, 3);
    db.zrem("z", &["a", "nope"]).unwrap();
    assert_eq!(dirty() - d0, 4);
    db.zpopmin("z", 5).unwrap();
    assert_eq!(dirty() - d0, 5);
    db.zunionstore("u", &["nokey"], &[], Aggregate::Sum).unwrap();
    assert_eq!(dirty() - d0, 5);
}

// ---- Memory -----------------------------------------------------------------------------

/// Memory of one sorted set of one million members (`member:N` with integer scores,
/// inserted in random order), to compare with redis-server: run with
/// `cargo test --release -p ferrous-core --test zsets -- --ignored --nocapture`.
/// Redis 7.0.15 (jemalloc) on the same data: used_memory +110 MB, RSS +113 MB, i.e.
/// about 110 bytes per member.
#[test]
#[ignore]
fn memory_one_million_members() {
    fn rss_kb() -> usize {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4
    }
    let n = 1_000_000u64;
    let mut ids: Vec<u64> = (0..n).collect();
    let mut rng = SmallRng::seed_from_u64(7);
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.gen_range(0..=i));
    }
    let db = Database::new();
    let before = rss_kb();
    let start = Instant::now();
    for chunk in ids.chunks(1000) {
        let items: Vec<(f64, String)> =
            chunk.iter().map(|&i| ((i * 7 % 1_000_003) as f64, format!("member:{i}"))).collect();
        db.zadd("big", &items).unwrap();
    }
    let elapsed = start.elapsed();
    let after = rss_kb();
    let heap = ferrous_core::zset::read(&db.access(), b"big", |z| z.map_or(0, |z| z.heap_size())).unwrap();
    drop(ids);
    println!(
        "1M members: RSS delta {} KB = {:.1} bytes/member; structure heap {:.1} bytes/member; load {:?}",
        after - before,
        (after - before) as f64 * 1024.0 / n as f64,
        heap as f64 / n as f64,
        elapsed
    );
    assert_eq!(db.zcard("big").unwrap(), n as usize);
    let t = Instant::now();
    for i in 0..100_000u64 {
        let m = format!("member:{}", i * 9 % n);
        assert!(db.zrank("big", &m).unwrap().is_some());
    }
    println!("100k ZRANK: {:?}", t.elapsed());
}
