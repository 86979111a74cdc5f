//! End-to-end tests of RDB persistence: the real binary, its `dump.rdb`, and redis-server
//! 7.0 as the oracle.
//!
//! - **Restart survival** ([`restart_keeps_every_type_encoding_and_ttl`]): a data set of every
//!   type and encoding in several databases survives SAVE + SIGKILL + restart unchanged.
//! - **Save triggers and bookkeeping** ([`save_points_shutdown_flushall_reload_and_info`],
//!   [`bgsave_in_progress_replies`], [`save_errors_reply_as_redis`]): SHUTDOWN / SIGTERM with
//!   and without save points, SHUTDOWN SAVE/NOSAVE, FLUSHALL, DEBUG RELOAD, LASTSAVE, the
//!   INFO persistence fields, BGSAVE [SCHEDULE] while one runs, and what a failing save does
//!   (MISCONF, SHUTDOWN refusing), compared reply for reply with redis-server.
//! - **Files across servers** ([`rdb_files_move_between_redis_and_subject`]): Redis's dump.rdb
//!   loads into the server under test exactly as into Redis; the server's dump.rdb passes
//!   `redis-check-rdb` and loads into Redis with the same contents.
//! - **DUMP / RESTORE** ([`dump_payloads_match_redis_byte_for_byte`],
//!   [`restore_replies_match_redis`]): payloads byte-identical to Redis's where Redis's own
//!   are deterministic, cross-restorable both ways, and every RESTORE error as Redis's.
//! - **BGSAVE under load** ([`bgsave_snapshots_are_consistent_under_writes`]): snapshots taken
//!   while clients move amounts between keys in transactions keep the sum exactly.
//! - **Crash and corruption** ([`kill9_during_bgsave_keeps_the_previous_dump`],
//!   [`corrupt_dump_rdb_stops_start_up`]): kill -9 in the middle of a BGSAVE leaves a loadable
//!   dump.rdb; a damaged dump.rdb stops start-up with a non-zero exit and a log line naming
//!   the problem, on both servers.
//! - [`persistence_directives_match_redis`]: CONFIG GET/SET of the persistence directives.
//!
//! "The subject" is Ferrous, or redis-server with `FERROUS_E2E_AGAINST_REDIS=1`: run
//! `FERROUS_E2E_AGAINST_REDIS=1 cargo test --release --test persistence -- --include-ignored`
//! to check that every expectation here is Redis's own (comparisons then run Redis against
//! Redis). Tests needing redis-server or redis-check-rdb print `SKIPPED: ...` without them
//! (under CI they fail instead).
mod common;

use common::{
    encode_command, escape, require_tool, show_command, subject_kind, Kind, Resp, RespConn, Rng, TempDir, TestServer,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Databases the data sets use (and snapshots read).
const DBS: &[u32] = &[0, 1, 5, 15];

/// `DEBUG` is refused by default (Redis 7's `enable-debug-command no`).
const DEBUG_ON: &[&str] = &["--enable-debug-command", "yes"];

/// How long BGSAVE may take in these tests before one counts as hung.
const SAVE_TIMEOUT: Duration = Duration::from_secs(60);

type Cmd = Vec<Vec<u8>>;

/// Builds an argument vector from anything byte-like.
macro_rules! cmd {
    ($($a:expr),* $(,)?) => { Cmd::from([$(AsRef::<[u8]>::as_ref(&$a).to_vec()),*]) };
}

// ---------------------------------------------------------------------------------------
// Small client helpers

/// Sends one command and returns its parsed reply (panics on I/O errors).
fn call(c: &mut RespConn, args: &[Vec<u8>]) -> Resp {
    match c.call(args) {
        Ok(r) => r.value,
        Err(e) => panic!("{}: {e}", show_command(args)),
    }
}

/// Sends one command and returns the exact reply bytes.
fn call_raw(c: &mut RespConn, args: &[Vec<u8>]) -> Vec<u8> {
    match c.call(args) {
        Ok(r) => r.raw,
        Err(e) => panic!("{}: {e}", show_command(args)),
    }
}

/// Sends a command (string arguments) that must reply `+OK`.
fn ok(c: &mut RespConn, args: &[&str]) {
    let r = c.cmd(args);
    assert_eq!(r, Resp::Simple(b"OK".to_vec()), "{} replied {r}", show_command(args));
}

/// Sends a command that must reply an integer.
fn int(c: &mut RespConn, args: &[&str]) -> i64 {
    match c.cmd(args) {
        Resp::Int(n) => n,
        other => panic!("{} replied {other}, not an integer", show_command(args)),
    }
}

/// Sends many commands in batches (write a batch, read its replies).
fn pipeline(c: &mut RespConn, cmds: &[Cmd]) -> Vec<Resp> {
    let mut out = Vec::with_capacity(cmds.len());
    for chunk in cmds.chunks(256) {
        let mut buf = Vec::new();
        for args in chunk {
            buf.extend_from_slice(&encode_command(args));
        }
        c.send_raw(&buf).expect("send pipeline");
        for args in chunk {
            match c.read() {
                Ok(r) => out.push(r.value),
                Err(e) => panic!("reply to {}: {e}", show_command(args)),
            }
        }
    }
    out
}

/// Runs a command list, each reply must not be an error.
fn apply(c: &mut RespConn, cmds: &[Cmd]) {
    for (args, reply) in cmds.iter().zip(pipeline(c, cmds)) {
        assert!(!reply.is_error(), "{} replied {reply}", show_command(args));
    }
}

/// The fields of `INFO section` as a map.
fn info(c: &mut RespConn, section: &str) -> BTreeMap<String, String> {
    let text = match c.cmd(&["INFO", section]) {
        Resp::Bulk(b) | Resp::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO {section} replied {other}"),
    };
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
}

/// One integer field of INFO persistence.
fn persistence_field(c: &mut RespConn, field: &str) -> i64 {
    let fields = info(c, "persistence");
    let v = fields.get(field).unwrap_or_else(|| panic!("INFO persistence has no {field}: {fields:?}"));
    v.parse().unwrap_or_else(|_| panic!("INFO persistence {field}:{v} is not an integer"))
}

/// Waits until no BGSAVE runs (`rdb_bgsave_in_progress:0`).
fn wait_bgsave_done(c: &mut RespConn) {
    let deadline = Instant::now() + SAVE_TIMEOUT;
    while persistence_field(c, "rdb_bgsave_in_progress") != 0 {
        assert!(Instant::now() < deadline, "BGSAVE still in progress after {SAVE_TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends SHUTDOWN with `args` and checks Redis's success behaviour: no reply, the connection
/// closes, the process exits with status 0.
fn shutdown(s: &mut TestServer, args: &[&str]) {
    let mut c = s.raw();
    let mut full = vec!["SHUTDOWN"];
    full.extend_from_slice(args);
    c.send(&full).unwrap();
    let (out, closed) = c.read_until_close(Duration::from_secs(30));
    assert!(closed, "{} left the connection open", full.join(" "));
    assert!(out.is_empty(), "{} replied \"{}\" (success closes without a reply)", full.join(" "), escape(&out));
    let status = s.wait_exit(Duration::from_secs(30)).expect("process still running 30 s after SHUTDOWN");
    assert!(status.success(), "exit status after {}: {status}", full.join(" "));
}

/// Copies `dump.rdb` from one directory to another.
fn copy_dump(from: &Path, to: &Path) {
    let src = from.join("dump.rdb");
    std::fs::copy(&src, to.join("dump.rdb")).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// The servers a test compares with the subject: redis-server, unless it is not installed
/// (the test is skipped then).
fn oracle(extra: &[&str]) -> Option<TestServer> {
    TestServer::redis(extra)
}

// ---------------------------------------------------------------------------------------
// Snapshots of a server's whole contents

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// Members in rank order with their scores as the server prints them.
    Zset(Vec<(Vec<u8>, Vec<u8>)>),
    Other(String),
}

#[derive(Clone, Debug)]
struct KeyState {
    ty: String,
    encoding: String,
    pttl: i64,
    val: Val,
}

/// Every key of [`DBS`]: `(db, key)` -> its state.
type Snap = BTreeMap<(u32, Vec<u8>), KeyState>;

fn bytes(r: &Resp) -> Vec<u8> {
    match r {
        Resp::Bulk(b) | Resp::Simple(b) | Resp::Verbatim(b) => b.clone(),
        Resp::Int(n) => n.to_string().into_bytes(),
        other => panic!("expected a string reply, got {other}"),
    }
}

fn items(r: &Resp) -> Vec<Vec<u8>> {
    match r {
        Resp::Array(items) | Resp::Set(items) => items.iter().map(bytes).collect(),
        other => panic!("expected an array reply, got {other}"),
    }
}

/// Reads every key of every db in [`DBS`] with its type, encoding, PTTL and value.
fn snapshot(c: &mut RespConn) -> Snap {
    let mut snap = Snap::new();
    for &db in DBS {
        ok(c, &["SELECT", &db.to_string()]);
        let keys = items(&c.cmd(&["KEYS", "*"]));
        let meta: Vec<Cmd> =
            keys.iter().flat_map(|k| [cmd!("TYPE", k), cmd!("OBJECT", "ENCODING", k), cmd!("PTTL", k)]).collect();
        let meta = pipeline(c, &meta);
        let types: Vec<String> = meta.chunks(3).map(|m| String::from_utf8_lossy(&bytes(&m[0])).into_owned()).collect();
        let reads: Vec<Cmd> = keys
            .iter()
            .zip(&types)
            .map(|(k, t)| match t.as_str() {
                "string" => cmd!("GET", k),
                "list" => cmd!("LRANGE", k, "0", "-1"),
                "hash" => cmd!("HGETALL", k),
                "set" => cmd!("SMEMBERS", k),
                "zset" => cmd!("ZRANGE", k, "0", "-1", "WITHSCORES"),
                _ => cmd!("TYPE", k),
            })
            .collect();
        let values = pipeline(c, &reads);
        for (i, key) in keys.into_iter().enumerate() {
            let (ty, m, v) = (&types[i], &meta[i * 3..i * 3 + 3], &values[i]);
            let val = match ty.as_str() {
                "string" => Val::Str(bytes(v)),
                "list" => Val::List(items(v)),
                "hash" => {
                    let flat = items(v);
                    Val::Hash(flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
                }
                "set" => Val::Set(items(v).into_iter().collect()),
                "zset" => Val::Zset(items(v).chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()),
                other => Val::Other(other.to_string()),
            };
            let encoding = match &m[1] {
                Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => format!("{other}"),
            };
            let pttl = match m[2] {
                Resp::Int(n) => n,
                ref other => panic!("PTTL {} replied {other}", escape(&key)),
            };
            snap.insert((db, key), KeyState { ty: ty.clone(), encoding, pttl, val });
        }
    }
    ok(c, &["SELECT", "0"]);
    snap
}

/// What [`diff`] compares besides types and values.
#[derive(Clone, Copy)]
struct Cmp {
    /// Compare `OBJECT ENCODING`.
    encoding: bool,
    /// Compare PTTLs, allowing this much difference (both must agree on having one).
    ttl_ms: Option<i64>,
}

const EXACT: Cmp = Cmp { encoding: true, ttl_ms: Some(5_000) };
const VALUES_AND_TTL: Cmp = Cmp { encoding: false, ttl_ms: Some(5_000) };

fn show_key(db: u32, key: &[u8]) -> String {
    format!("db{db} \"{}\"", escape(key))
}

fn short(b: &[u8]) -> String {
    if b.len() <= 60 {
        format!("\"{}\"", escape(b))
    } else {
        format!("\"{}\"... ({} bytes)", escape(&b[..60]), b.len())
    }
}

/// A short description of how two values differ.
fn describe_val_diff(a: &Val, b: &Val) -> String {
    fn first_diff<T: PartialEq + std::fmt::Debug>(a: &[T], b: &[T]) -> String {
        let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        format!("{} vs {} items, first difference at #{i}: {:?} vs {:?}", a.len(), b.len(), a.get(i), b.get(i))
    }
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => {
            let i = x.iter().zip(y).position(|(p, q)| p != q).unwrap_or(x.len().min(y.len()));
            format!("{} vs {} bytes, first difference at offset {i}: {} vs {}", x.len(), y.len(), short(x), short(y))
        }
        (Val::List(x), Val::List(y)) => first_diff(x, y),
        (Val::Zset(x), Val::Zset(y)) => first_diff(x, y),
        (Val::Set(x), Val::Set(y)) => {
            let only_a: Vec<_> = x.difference(y).take(3).map(|m| short(m)).collect();
            let only_b: Vec<_> = y.difference(x).take(3).map(|m| short(m)).collect();
            format!("{} vs {} members; only in the first {only_a:?}, only in the second {only_b:?}", x.len(), y.len())
        }
        (Val::Hash(x), Val::Hash(y)) => {
            let f = x.iter().find(|(k, v)| y.get(*k) != Some(*v)).map(|(k, v)| (k, v, y.get(k)));
            let g = y.keys().find(|k| !x.contains_key(*k));
            format!("{} vs {} fields; first differing field {f:?}, first extra field {g:?}", x.len(), y.len())
        }
        _ => format!("{a:?} vs {b:?}"),
    }
}

/// Differences between two snapshots, as lines for a failure message.
fn diff(a_name: &str, a: &Snap, b_name: &str, b: &Snap, cmp: Cmp) -> Vec<String> {
    let mut out = Vec::new();
    for ((db, key), x) in a {
        let Some(y) = b.get(&(*db, key.clone())) else {
            out.push(format!("{}: only in {a_name} ({}, {})", show_key(*db, key), x.ty, x.encoding));
            continue;
        };
        let k = show_key(*db, key);
        if x.ty != y.ty {
            out.push(format!("{k}: TYPE {} in {a_name}, {} in {b_name}", x.ty, y.ty));
            continue;
        }
        if x.val != y.val {
            out.push(format!(
                "{k} ({}): value differs, {a_name} vs {b_name}: {}",
                x.ty,
                describe_val_diff(&x.val, &y.val)
            ));
        }
        if cmp.encoding && x.encoding != y.encoding {
            out.push(format!("{k}: OBJECT ENCODING {} in {a_name}, {} in {b_name}", x.encoding, y.encoding));
        }
        if let Some(tol) = cmp.ttl_ms {
            let same = if x.pttl < 0 || y.pttl < 0 { x.pttl == y.pttl } else { (x.pttl - y.pttl).abs() <= tol };
            if !same {
                out.push(format!("{k}: PTTL {} in {a_name}, {} in {b_name} (tolerance {tol} ms)", x.pttl, y.pttl));
            }
        }
    }
    for ((db, key), y) in b {
        if !a.contains_key(&(*db, key.clone())) {
            out.push(format!("{}: only in {b_name} ({}, {})", show_key(*db, key), y.ty, y.encoding));
        }
    }
    out
}

fn assert_same(what: &str, a_name: &str, a: &Snap, b_name: &str, b: &Snap, cmp: Cmp) {
    let d = diff(a_name, a, b_name, b, cmp);
    assert!(
        d.is_empty(),
        "{what}: {} difference(s) over {} / {} keys:\n  {}",
        d.len(),
        a.len(),
        b.len(),
        d.iter().take(30).cloned().collect::<Vec<_>>().join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// The data set

/// Which part of the data set to build.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Corpus {
    /// Keys whose encoding Redis keeps across a save and reload with the default config.
    Stable,
    /// Also keys whose encoding a reload changes (forced by CONFIG SET thresholds, shrunk
    /// collections, APPENDed strings, compressed quicklist nodes): loaders must agree on
    /// those too, but not with the server that wrote them.
    All,
}

/// Commands that build the data set: every type and encoding, binary keys and values,
/// expiries, databases 0, 1, 5 and 15. Deterministic (fixed seed). Ends in db 0 with the
/// default thresholds.
fn corpus(which: Corpus) -> Vec<Cmd> {
    let mut rng = Rng::new(0x5eed);
    let mut v: Vec<Cmd> = vec![cmd!("SELECT", "0")];

    // Strings: integer encodings (8/16/32 bits in RDB, 64-bit ones as text), strings that
    // look like integers but are not canonical, embstr/raw, compressible and random.
    for (k, val) in [
        ("s:int", "12345"),
        ("s:int8", "-7"),
        ("s:int16", "-30000"),
        ("s:int32", "2000000000"),
        ("s:i64max", "9223372036854775807"),
        ("s:i64min", "-9223372036854775808"),
        ("s:bigint", "123456789012345678901"),
        ("s:lead0", "007"),
        ("s:plus", "+5"),
        ("s:negzero", "-0"),
        ("s:float", "3.14"),
        ("s:empty", ""),
        ("s:embstr", "an embstr string of exactly forty-four bytes"),
        ("s:raw", "a raw string of forty-five bytes, one too many"),
    ] {
        v.push(cmd!("SET", k, val));
    }
    v.push(cmd!("SET", "s:compressible", "abcd".repeat(2500)));
    v.push(cmd!("SET", "s:random", rng.bytes(3000)));
    let text = b"persistence tests write lorem ipsum dolor sit amet ";
    let big: Vec<u8> =
        (0..256 * 1024).map(|i| if i % 101 == 0 { rng.next_u64() as u8 } else { text[i % text.len()] }).collect();
    v.push(cmd!("SET", "s:big", big));
    v.push(cmd!("SET", b"bin\x00key\r\n\xff", b"\x00\x01\x02\xff\xfe binary \r\n value"));
    v.push(cmd!("SET", "s:ex", "expires in a day", "EX", "86400"));
    v.push(cmd!("SET", "s:px", "12", "PX", "90000000"));
    v.push(cmd!("INCRBY", "s:counter", "41"));
    v.push(cmd!("INCR", "s:counter"));
    let mut dense = cmd!("PFADD", "hll:dense");
    dense.extend((0..3000).map(|i| format!("element-{i}").into_bytes()));
    v.push(dense);

    // Lists: one listpack node, integers of every width, many nodes, elements bigger than a
    // node, expiry.
    v.push(cmd!("RPUSH", "l:small", "a", "b", "c", "1", "2", "-3", ""));
    v.push(cmd!(
        "RPUSH",
        "l:ints",
        "0",
        "1",
        "-1",
        "127",
        "128",
        "-129",
        "4095",
        "4096",
        "32767",
        "40000",
        "-40000",
        "8388607",
        "8388608",
        "2147483648",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
        "12345678901234567890"
    ));
    let mut many = cmd!("RPUSH", "l:many");
    many.extend((0..2000).map(|i| format!("element-{i:05}-of-a-long-list").into_bytes()));
    v.push(many);
    // Nodes whose fill stops within Redis's 8-byte size overestimate of a new element: the
    // split points must be Redis's for the DUMP bytes to match.
    let mut fill = cmd!("RPUSH", "l:node-fill");
    fill.extend((0..1200).map(|i| format!("compressible compressible compressible {i}").into_bytes()));
    v.push(fill);
    v.push(cmd!("RPUSH", "l:huge-elements", "x".repeat(10_000), rng.bytes(9000), "small", "y".repeat(20_000)));
    v.push(cmd!("LPUSH", "l:ttl", "3", "2", "1"));
    v.push(cmd!("PEXPIRE", "l:ttl", "50000000"));

    // Sets: intsets of 16/32/64-bit integers, a big intset, hashtables (many integers,
    // strings, a mix).
    v.push(cmd!("SADD", "set:i16", "1", "2", "3", "-5", "300"));
    v.push(cmd!("SADD", "set:i32", "70000", "-70000", "1"));
    v.push(cmd!("SADD", "set:i64", "5000000000", "-1", "9223372036854775807"));
    let mut bigset = cmd!("SADD", "set:intset-400");
    bigset.extend((0..400).map(|i| (i * 7 - 1000).to_string().into_bytes()));
    v.push(bigset);
    let mut htset = cmd!("SADD", "set:ints-600");
    htset.extend((0..600).map(|i| i.to_string().into_bytes()));
    v.push(htset);
    v.push(cmd!("SADD", "set:words", "alpha", "beta", "gamma", "", b"\x00\xff"));
    v.push(cmd!("SADD", "set:mixed", "1", "2", "three"));
    v.push(cmd!("SADD", "set:ttl", "a", "b"));
    v.push(cmd!("EXPIRE", "set:ttl", "100000"));

    // Hashes: listpack (integers and strings), hashtable by count and by value length.
    v.push(cmd!("HSET", "h:small", "f1", "v1", "f2", "2", "f3", "-3", "", "empty field"));
    v.push(cmd!("HSET", "h:ints", "1", "10", "2", "9223372036854775807", "3", "-9223372036854775808"));
    let mut bighash = cmd!("HSET", "h:600");
    for i in 0..600 {
        bighash.push(format!("field:{i}").into_bytes());
        bighash.push(format!("value:{}", i * 3).into_bytes());
    }
    v.push(bighash);
    v.push(cmd!("HSET", "h:long-value", "f", "v".repeat(100), "g", "1"));
    v.push(cmd!("HSET", "h:binary", b"\x00\x01", b"\xff\xfe", "k", "v"));
    v.push(cmd!("HSET", "h:ttl", "a", "1"));
    v.push(cmd!("PEXPIRE", "h:ttl", "70000000"));

    // Sorted sets: listpack with every kind of score, skiplist by count and by member
    // length.
    v.push(cmd!(
        "ZADD",
        "z:small",
        "1",
        "a",
        "2.5",
        "b",
        "-3",
        "c",
        "0",
        "d",
        "inf",
        "e",
        "-inf",
        "f",
        "1e300",
        "g",
        "3.0000000000000004",
        "h",
        "0.1",
        "i",
        "-0",
        "j",
        "9007199254740993",
        "k"
    ));
    let mut bigz = cmd!("ZADD", "z:200");
    for i in 0..200 {
        bigz.push(format!("{}", (i as f64) * 1.25 - 40.0).into_bytes());
        bigz.push(format!("member:{i}").into_bytes());
    }
    v.push(bigz);
    v.push(cmd!("ZADD", "z:long-member", "1", "m".repeat(100), "2", "short"));
    v.push(cmd!("ZADD", "z:ttl", "1", "a"));
    v.push(cmd!("EXPIRE", "z:ttl", "200000"));

    if which == Corpus::All {
        // Encodings a reload does not keep.
        v.push(cmd!("CONFIG", "SET", "hash-max-listpack-entries", "0"));
        v.push(cmd!("HSET", "h:forced-hashtable", "a", "1", "b", "2"));
        v.push(cmd!("CONFIG", "SET", "hash-max-listpack-entries", "512"));
        v.push(cmd!("CONFIG", "SET", "zset-max-listpack-entries", "0"));
        v.push(cmd!("ZADD", "z:forced-skiplist", "1", "a", "2", "b"));
        v.push(cmd!("CONFIG", "SET", "zset-max-listpack-entries", "128"));
        v.push(cmd!("CONFIG", "SET", "set-max-intset-entries", "0"));
        v.push(cmd!("SADD", "set:forced-hashtable", "1", "2", "3"));
        v.push(cmd!("CONFIG", "SET", "set-max-intset-entries", "512"));
        v.push(cmd!("CONFIG", "SET", "list-max-listpack-size", "3"));
        let mut nodes = cmd!("RPUSH", "l:three-per-node");
        nodes.extend((0..10).map(|i| i.to_string().into_bytes()));
        v.push(nodes);
        v.push(cmd!("CONFIG", "SET", "list-max-listpack-size", "-2"));
        v.push(cmd!("CONFIG", "SET", "list-compress-depth", "1"));
        let mut compressed = cmd!("RPUSH", "l:compressed-nodes");
        compressed.extend((0..1200).map(|i| format!("compressible compressible compressible {i}").into_bytes()));
        v.push(compressed);
        v.push(cmd!("CONFIG", "SET", "list-compress-depth", "0"));
        let mut shrunk = cmd!("HSET", "h:shrunk");
        let mut hdel = cmd!("HDEL", "h:shrunk");
        for i in 0..600 {
            shrunk.push(format!("f{i}").into_bytes());
            shrunk.push(b"v".to_vec());
            if i >= 2 {
                hdel.push(format!("f{i}").into_bytes());
            }
        }
        v.push(shrunk);
        v.push(hdel);
        v.push(cmd!("SADD", "set:was-hashtable", "1", "2", "x"));
        v.push(cmd!("SREM", "set:was-hashtable", "x"));
        let mut zshrunk = cmd!("ZADD", "z:shrunk");
        for i in 0..200 {
            zshrunk.push(i.to_string().into_bytes());
            zshrunk.push(format!("m{i}").into_bytes());
        }
        v.push(zshrunk);
        v.push(cmd!("ZREMRANGEBYRANK", "z:shrunk", "0", "197"));
        v.push(cmd!("SET", "s:appended", "abc"));
        v.push(cmd!("APPEND", "s:appended", "def"));
        v.push(cmd!("SETRANGE", "s:setrange", "5", "x"));
        // A sparse HyperLogLog is short enough to be an embstr once reloaded.
        v.push(cmd!("PFADD", "hll:sparse", "a", "b", "c"));
    }

    // Other databases: same key names with other values, expiries.
    v.push(cmd!("SELECT", "1"));
    v.push(cmd!("SET", "s:int", "db one"));
    v.push(cmd!("RPUSH", "l:small", "x", "y"));
    v.push(cmd!("SELECT", "5"));
    v.push(cmd!("SET", "k5", "v", "EX", "100000"));
    v.push(cmd!("HSET", "h5", "a", "1", "b", "2"));
    v.push(cmd!("ZADD", "z5", "1.5", "a"));
    v.push(cmd!("SELECT", "15"));
    v.push(cmd!("SADD", "set15", "a", "b"));
    v.push(cmd!("SET", "s15", "fifteen", "PX", "80000000"));
    v.push(cmd!("SELECT", "0"));
    v
}

// ---------------------------------------------------------------------------------------
// 1. Restart survival

/// SAVE, SIGKILL, restart on the same directory: the data set comes back exactly (types,
/// values, encodings, TTLs, every db), writes made after the SAVE do not, and a key that
/// expired between the save and the load stays gone.
#[test]
fn restart_keeps_every_type_encoding_and_ttl() {
    let mut s = TestServer::start_with(&[]);
    let mut c = s.raw();
    apply(&mut c, &corpus(Corpus::Stable));
    let before = snapshot(&mut c);
    assert!(before.len() > 50, "the data set has only {} keys", before.len());
    ok(&mut c, &["SET", "lapses", "x", "PX", "300"]);
    let saved_at = Instant::now();
    ok(&mut c, &["SAVE"]);
    // After the save: none of this may survive the kill.
    ok(&mut c, &["SET", "s:int", "999"]);
    assert_eq!(int(&mut c, &["DEL", "l:small", "h:600"]), 2);
    ok(&mut c, &["SET", "written-after-save", "x"]);
    std::thread::sleep(Duration::from_millis(400).saturating_sub(saved_at.elapsed()));
    drop(c);
    s.kill9();
    s.restart();
    let mut c = s.raw();
    let after = snapshot(&mut c);
    assert_same("contents after SAVE, kill -9 and restart", "before", &before, "after restart", &after, EXACT);
    assert_eq!(int(&mut c, &["EXISTS", "lapses"]), 0, "a key whose TTL ran out before the load came back");
    assert_eq!(persistence_field(&mut c, "loading"), 0);
}

// ---------------------------------------------------------------------------------------
// 2. Save triggers and bookkeeping

/// With save points: SAVE/BGSAVE bookkeeping in INFO and LASTSAVE, DEBUG RELOAD, SHUTDOWN
/// and SIGTERM save, SHUTDOWN NOSAVE does not, FLUSHALL writes an empty dump. Without save
/// points: SHUTDOWN does not save, SHUTDOWN SAVE does, FLUSHALL leaves dump.rdb alone.
#[test]
fn save_points_shutdown_flushall_reload_and_info() {
    let mut args = vec!["--save", "3600 1"];
    args.extend_from_slice(DEBUG_ON);
    let mut s = TestServer::start_with(&args);
    let dump = s.dir().join("dump.rdb");
    let mut c = s.raw();
    assert_eq!(c.cmd(&["CONFIG", "GET", "save"]), Resp::Array(vec![bulk("save"), bulk("3600 1")]));

    // At start-up: nothing saved yet, nothing running, nothing loading.
    let i = info(&mut c, "persistence");
    for (field, want) in [
        ("loading", "0"),
        ("rdb_changes_since_last_save", "0"),
        ("rdb_bgsave_in_progress", "0"),
        ("rdb_last_bgsave_status", "ok"),
        ("rdb_last_bgsave_time_sec", "-1"),
        ("rdb_current_bgsave_time_sec", "-1"),
        ("rdb_saves", "0"),
    ] {
        assert_eq!(i.get(field).map(String::as_str), Some(want), "INFO persistence {field} at start-up: {i:?}");
    }
    let lastsave0 = int(&mut c, &["LASTSAVE"]);
    assert_eq!(i["rdb_last_save_time"], lastsave0.to_string(), "rdb_last_save_time vs LASTSAVE");
    assert!((lastsave0 - now_ms() / 1000).abs() <= 5, "LASTSAVE {lastsave0} is not about now");
    assert!(!dump.exists(), "dump.rdb exists before any save");

    // SAVE: changes counted then reset, rdb_saves incremented, LASTSAVE moves.
    ok(&mut c, &["SET", "a", "1"]);
    ok(&mut c, &["SET", "b", "2"]);
    assert_eq!(persistence_field(&mut c, "rdb_changes_since_last_save"), 2);
    std::thread::sleep(Duration::from_millis(1100)); // LASTSAVE counts seconds
    ok(&mut c, &["SAVE"]);
    assert!(dump.is_file(), "no dump.rdb after SAVE");
    let lastsave1 = int(&mut c, &["LASTSAVE"]);
    assert!(lastsave1 > lastsave0, "LASTSAVE did not move after SAVE: {lastsave0} -> {lastsave1}");
    let i = info(&mut c, "persistence");
    assert_eq!(i["rdb_changes_since_last_save"], "0");
    assert_eq!(i["rdb_saves"], "1");
    assert_eq!(i["rdb_last_save_time"], lastsave1.to_string());

    // BGSAVE.
    ok(&mut c, &["SET", "c", "3"]);
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    wait_bgsave_done(&mut c);
    let i = info(&mut c, "persistence");
    assert_eq!(i["rdb_last_bgsave_status"], "ok");
    assert_eq!(i["rdb_saves"], "2");
    assert_eq!(i["rdb_changes_since_last_save"], "0");
    assert_eq!(i["rdb_current_bgsave_time_sec"], "-1");
    assert!(
        i["rdb_last_bgsave_time_sec"].parse::<i64>().is_ok_and(|t| t >= 0),
        "rdb_last_bgsave_time_sec after BGSAVE: {i:?}"
    );

    // DEBUG RELOAD keeps everything.
    apply(&mut c, &corpus(Corpus::Stable));
    let before = snapshot(&mut c);
    ok(&mut c, &["DEBUG", "RELOAD"]);
    let after = snapshot(&mut c);
    assert_same("contents across DEBUG RELOAD", "before", &before, "after", &after, EXACT);

    // SHUTDOWN with save points saves.
    ok(&mut c, &["SET", "unsaved", "by SHUTDOWN"]);
    drop(c);
    shutdown(&mut s, &[]);
    s.restart();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "unsaved"]), bulk("by SHUTDOWN"), "SHUTDOWN with save points did not save");
    assert_eq!(c.cmd(&["GET", "a"]), bulk("1"));

    // SIGTERM saves too.
    ok(&mut c, &["SET", "unsaved", "by SIGTERM"]);
    drop(c);
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(30)).expect("still running 30 s after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    s.restart();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "unsaved"]), bulk("by SIGTERM"), "SIGTERM with save points did not save");

    // SHUTDOWN NOSAVE does not.
    ok(&mut c, &["SET", "unsaved", "lost"]);
    drop(c);
    shutdown(&mut s, &["NOSAVE"]);
    s.restart();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "unsaved"]), bulk("by SIGTERM"), "SHUTDOWN NOSAVE saved");

    // FLUSHALL with save points writes an empty dump (kill -9 afterwards: nothing else saves).
    assert!(int(&mut c, &["DBSIZE"]) > 0);
    ok(&mut c, &["FLUSHALL"]);
    drop(c);
    s.kill9();
    s.restart();
    let mut c = s.raw();
    for db in DBS {
        ok(&mut c, &["SELECT", &db.to_string()]);
        assert_eq!(int(&mut c, &["DBSIZE"]), 0, "db {db} not empty after FLUSHALL (with save points) and a restart");
    }
    drop(c);
    drop(s);

    // Without save points.
    let mut s = TestServer::start_with(DEBUG_ON);
    let dump = s.dir().join("dump.rdb");
    let mut c = s.raw();
    ok(&mut c, &["SET", "x", "1"]);
    ok(&mut c, &["FLUSHALL"]);
    assert!(!dump.exists(), "FLUSHALL without save points wrote dump.rdb");
    ok(&mut c, &["SET", "x", "1"]);
    drop(c);
    shutdown(&mut s, &[]);
    assert!(!dump.exists(), "SHUTDOWN without save points wrote dump.rdb");
    s.restart();
    let mut c = s.raw();
    assert_eq!(int(&mut c, &["EXISTS", "x"]), 0);
    ok(&mut c, &["SET", "y", "2"]);
    drop(c);
    shutdown(&mut s, &["SAVE"]);
    assert!(dump.is_file(), "SHUTDOWN SAVE without save points wrote no dump.rdb");
    s.restart();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "y"]), bulk("2"), "SHUTDOWN SAVE did not save");
    let saved = std::fs::read(&dump).unwrap();
    ok(&mut c, &["FLUSHALL"]);
    assert_eq!(std::fs::read(&dump).unwrap(), saved, "FLUSHALL without save points changed dump.rdb");
}

/// BGSAVE, BGSAVE SCHEDULE and SAVE while a BGSAVE runs (all refused: Redis 7.0 schedules
/// only behind another kind of child, or inside MULTI/EXEC), BGSAVE in a transaction
/// (scheduled, then run), BGSAVE SCHEDULE with nothing running (started at once). The data
/// set is big enough that the first save still runs when the pipelined commands arrive.
#[test]
fn bgsave_in_progress_replies() {
    let s = TestServer::start_with(DEBUG_ON);
    let mut c = s.raw();
    ok(&mut c, &["DEBUG", "POPULATE", "300000", "key", "64"]);
    let saves0 = persistence_field(&mut c, "rdb_saves");
    let replies = pipeline(
        &mut c,
        &[cmd!("BGSAVE"), cmd!("BGSAVE"), cmd!("BGSAVE", "SCHEDULE"), cmd!("SAVE"), cmd!("BGSAVE", "foo")],
    );
    let in_progress = error("ERR Background save already in progress");
    assert_eq!(
        replies,
        vec![
            simple("Background saving started"),
            in_progress.clone(),
            in_progress.clone(),
            in_progress,
            error("ERR syntax error"),
        ]
    );
    wait_bgsave_done(&mut c);
    let i = info(&mut c, "persistence");
    assert_eq!(i["rdb_last_bgsave_status"], "ok");
    assert_eq!(i["rdb_saves"], (saves0 + 1).to_string());

    // In a transaction BGSAVE is scheduled, and runs after EXEC.
    let replies = pipeline(&mut c, &[cmd!("MULTI"), cmd!("BGSAVE"), cmd!("BGSAVE", "foo"), cmd!("EXEC")]);
    assert_eq!(
        replies,
        vec![
            simple("OK"),
            simple("QUEUED"),
            simple("QUEUED"),
            Resp::Array(vec![simple("Background saving scheduled"), error("ERR syntax error")]),
        ]
    );
    let deadline = Instant::now() + SAVE_TIMEOUT;
    loop {
        let i = info(&mut c, "persistence");
        if i["rdb_bgsave_in_progress"] == "0" && i["rdb_saves"].parse::<i64>().unwrap() >= saves0 + 2 {
            assert_eq!(i["rdb_last_bgsave_status"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "the BGSAVE scheduled by MULTI/EXEC did not run: {i:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing running: BGSAVE SCHEDULE starts one at once.
    assert_eq!(c.cmd(&["BGSAVE", "SCHEDULE"]), simple("Background saving started"));
    wait_bgsave_done(&mut c);
    assert_eq!(persistence_field(&mut c, "rdb_saves"), saves0 + 3);
    assert_eq!(int(&mut c, &["DBSIZE"]), 300000);
}

/// A save that cannot write (dump.rdb is a non-empty directory, so the final rename fails):
/// SAVE, BGSAVE, the MISCONF refusals (stop-writes-on-bgsave-error), SHUTDOWN refusing,
/// DEBUG RELOAD, and recovery once saving works again, reply for reply as redis-server.
#[test]
fn save_errors_reply_as_redis() {
    let mut args = vec!["--save", "3600 1"];
    args.extend_from_slice(DEBUG_ON);
    let Some(redis) = oracle(&args) else { return };
    let mut subject = TestServer::start_with(&args);
    let dumps = [redis.dir().join("dump.rdb"), subject.dir().join("dump.rdb")];
    for dump in &dumps {
        std::fs::create_dir(dump).unwrap();
        std::fs::write(dump.join("keep"), b"x").unwrap();
    }
    let mut r = redis.raw();
    let mut c = subject.raw();
    same_reply(&mut r, &mut c, &["SET", "a", "1"]);
    same_reply(&mut r, &mut c, &["SAVE"]);
    same_reply(&mut r, &mut c, &["BGSAVE"]);
    assert_eq!(same_bgsave_status(&mut r, &mut c), "err");
    for cmd in [
        &["SET", "b", "2"][..],
        &["GET", "a"],
        &["DEL", "a"],
        &["PING"],
        &["INCR", "n"],
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
        &["SET", "b", "2"],
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
        &["SET", "b", "3"],
        &["FLUSHALL"],
        &["SHUTDOWN"],
        &["PING"],
        &["SHUTDOWN", "NOSAVE", "SAVE"],
        &["SHUTDOWN", "FOO"],
        &["SHUTDOWN", "ABORT"],
        &["DEBUG", "RELOAD"],
        &["GET", "b"],
    ] {
        same_reply(&mut r, &mut c, cmd);
    }
    assert!(subject.is_running(), "the subject exited on a SHUTDOWN whose save failed");
    for dump in &dumps {
        std::fs::remove_dir_all(dump).unwrap();
    }
    same_reply(&mut r, &mut c, &["BGSAVE"]);
    assert_eq!(same_bgsave_status(&mut r, &mut c), "ok");
    assert_eq!(c.cmd(&["SET", "b", "4"]), simple("OK"), "writes still refused after a successful BGSAVE");
    drop(c);
    shutdown(&mut subject, &[]);
    subject.restart();
    assert_eq!(subject.raw().cmd(&["GET", "b"]), bulk("4"));
}

/// Sends a command to redis-server and to the subject; the replies must be the same bytes.
fn same_reply(r: &mut RespConn, c: &mut RespConn, args: &[&str]) -> Resp {
    let want = r.call(args).unwrap_or_else(|e| panic!("redis-server: {}: {e}", args.join(" ")));
    let got = c.call(args).unwrap_or_else(|e| panic!("subject: {}: {e}", args.join(" ")));
    assert_eq!(
        escape(&got.raw),
        escape(&want.raw),
        "{}: the subject replied {} where redis-server replied {}",
        args.join(" "),
        got.value,
        want.value
    );
    want.value
}

/// Waits for both servers' BGSAVE to end; their INFO save status must agree. Returns it.
fn same_bgsave_status(r: &mut RespConn, c: &mut RespConn) -> String {
    wait_bgsave_done(r);
    wait_bgsave_done(c);
    let (ir, ic) = (info(r, "persistence"), info(c, "persistence"));
    for f in ["rdb_last_bgsave_status", "rdb_changes_since_last_save", "rdb_bgsave_in_progress"] {
        assert_eq!(ic.get(f), ir.get(f), "INFO persistence {f}: subject vs redis-server");
    }
    ir["rdb_last_bgsave_status"].clone()
}

// ---------------------------------------------------------------------------------------
// 3. dump.rdb across servers

/// Redis writes dump.rdb (every type and encoding, forced encodings, expiries, several
/// dbs, a key that expires before the load); the subject and a fresh redis-server each
/// start on a copy: both hold the same contents, encodings included. Then the reverse: the
/// subject's dump.rdb passes redis-check-rdb and loads into redis-server with the contents
/// the subject had. Once with the defaults, once with `rdbcompression no`, `rdbchecksum no`.
#[test]
fn rdb_files_move_between_redis_and_subject() {
    if !require_tool("redis-server") || !require_tool("redis-check-rdb") {
        return;
    }
    for args in [&[][..], &["--rdbcompression", "no", "--rdbchecksum", "no"][..]] {
        let label = if args.is_empty() { "defaults".to_string() } else { args.join(" ") };

        // Redis -> subject.
        let writer = oracle(args).expect("redis-server");
        let mut w = writer.raw();
        apply(&mut w, &corpus(Corpus::All));
        let written = snapshot(&mut w);
        ok(&mut w, &["SET", "lapses", "x", "PX", "300"]);
        let saved_at = Instant::now();
        ok(&mut w, &["SAVE"]);
        let (to_subject, to_redis) = (TempDir::new("rdb-from-redis-a"), TempDir::new("rdb-from-redis-b"));
        copy_dump(writer.dir(), to_subject.path());
        copy_dump(writer.dir(), to_redis.path());
        std::thread::sleep(Duration::from_millis(400).saturating_sub(saved_at.elapsed()));
        let subject = TestServer::start_in(subject_kind(), to_subject.path(), args);
        let reader = TestServer::start_in(Kind::Redis, to_redis.path(), args);
        let loaded_by_subject = snapshot(&mut subject.raw());
        let loaded_by_redis = snapshot(&mut reader.raw());
        assert_same(
            &format!("[{label}] Redis's dump.rdb loaded by redis-server vs by the subject"),
            "redis-server",
            &loaded_by_redis,
            "subject",
            &loaded_by_subject,
            EXACT,
        );
        assert_same(
            &format!("[{label}] what Redis wrote vs what the subject loaded"),
            "written",
            &written,
            "subject",
            &loaded_by_subject,
            VALUES_AND_TTL,
        );
        assert_eq!(subject.raw().cmd(&["EXISTS", "lapses"]), Resp::Int(0), "[{label}] an expired key was loaded");
        drop((subject, reader, w, writer));

        // Subject -> Redis.
        let writer = TestServer::start_with(args);
        let mut w = writer.raw();
        apply(&mut w, &corpus(Corpus::All));
        let written = snapshot(&mut w);
        ok(&mut w, &["SAVE"]);
        let to_redis = TempDir::new("rdb-from-subject");
        copy_dump(writer.dir(), to_redis.path());
        let file = to_redis.path().join("dump.rdb");
        let check = std::process::Command::new("redis-check-rdb").arg(&file).output().expect("run redis-check-rdb");
        let out = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success() && out.contains("RDB looks OK"),
            "[{label}] redis-check-rdb rejects the subject's dump.rdb ({}):\n{out}",
            check.status
        );
        let reader = TestServer::start_in(Kind::Redis, to_redis.path(), args);
        let loaded = snapshot(&mut reader.raw());
        assert_same(
            &format!("[{label}] the subject's contents vs redis-server loading its dump.rdb"),
            "subject",
            &written,
            "redis-server",
            &loaded,
            VALUES_AND_TTL,
        );
        // Encodings after Redis loads the subject's file are those after it loads its own.
        let ttl_ms = Some(60_000); // the two writers set their TTLs seconds apart
        assert_same(
            &format!("[{label}] redis-server loading Redis's file vs loading the subject's"),
            "from Redis's file",
            &loaded_by_redis,
            "from the subject's file",
            &loaded,
            Cmp { encoding: true, ttl_ms },
        );
    }
}

// ---------------------------------------------------------------------------------------
// 4. DUMP / RESTORE

/// Whether Redis's own DUMP of a key is the same in every Redis process. Not for hashtables:
/// their iteration order depends on a per-process random seed (two redis-servers disagree).
/// Not for quicklist nodes compressed in memory (`list-compress-depth`) with rdbcompression
/// off: Redis writes those nodes as they are in memory, a layout detail; with rdbcompression
/// on, the payload is the same as for uncompressed nodes.
fn dump_is_deterministic(key: &[u8], encoding: &str, rdbcompression: &str) -> bool {
    encoding != "hashtable" && (key != b"l:compressed-nodes" || rdbcompression == "yes")
}

/// For the same commands and config, DUMP gives the same bytes on the subject as on
/// redis-server (every encoding whose payload is deterministic; with rdbcompression yes and
/// no); and every payload, deterministic or not, RESTOREs on the other server into the
/// same value and encoding.
#[test]
fn dump_payloads_match_redis_byte_for_byte() {
    let Some(redis) = oracle(&[]) else { return };
    let subject = TestServer::start_with(&[]);
    let (mut r, mut c) = (redis.raw(), subject.raw());
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for compression in ["yes", "no"] {
        for conn in [&mut r, &mut c] {
            ok(conn, &["FLUSHALL"]);
            ok(conn, &["CONFIG", "SET", "rdbcompression", compression]);
        }
        let cmds = corpus(Corpus::All);
        let (want, got) = (pipeline(&mut r, &cmds), pipeline(&mut c, &cmds));
        for ((args, w), g) in cmds.iter().zip(&want).zip(&got) {
            assert_eq!(g, w, "setting up: {} replied differently (subject vs redis-server)", show_command(args));
        }
        let keys = snapshot(&mut r);
        let mut payloads = Vec::new();
        for ((db, key), state) in &keys {
            let sel = cmd!("SELECT", db.to_string());
            let dump = cmd!("DUMP", key);
            let (rp, cp) = (pipeline(&mut r, &[sel.clone(), dump.clone()]), pipeline(&mut c, &[sel, dump]));
            let (Resp::Bulk(rp), Resp::Bulk(cp)) = (&rp[1], &cp[1]) else {
                panic!("DUMP {}: redis-server replied {}, the subject {}", show_key(*db, key), rp[1], cp[1]);
            };
            if dump_is_deterministic(key, &state.encoding, compression) {
                compared += 1;
                if rp != cp {
                    let at = rp.iter().zip(cp.iter()).position(|(a, b)| a != b).unwrap_or(rp.len().min(cp.len()));
                    mismatches.push(format!(
                        "rdbcompression {compression}, {} ({} {}): redis {} bytes, subject {} bytes, first difference at \
                         offset {at}: redis {} subject {}",
                        show_key(*db, key),
                        state.ty,
                        state.encoding,
                        rp.len(),
                        cp.len(),
                        short(&rp[at.saturating_sub(4)..(at + 12).min(rp.len())]),
                        short(&cp[at.saturating_sub(4)..(at + 12).min(cp.len())]),
                    ));
                }
            }
            payloads.push((*db, key.clone(), rp.clone(), cp.clone()));
        }
        // Cross-restore: on both servers, Redis's payload as "r:key" and the subject's as
        // "s:key"; the two servers must then hold the same, and on each the copies equal
        // the original.
        for (db, key, rp, cp) in &payloads {
            for conn in [&mut r, &mut c] {
                ok(conn, &["SELECT", &db.to_string()]);
                for (prefix, payload) in [(&b"r:"[..], rp), (b"s:", cp)] {
                    let name = [prefix, &key[..]].concat();
                    let reply = call(conn, &cmd!("RESTORE", name, "0", payload));
                    assert_eq!(
                        reply,
                        simple("OK"),
                        "RESTORE of the {} payload of {} (rdbcompression {compression})",
                        if prefix == b"r:" { "redis-server" } else { "subject" },
                        show_key(*db, key)
                    );
                }
            }
        }
        let (after_r, after_c) = (snapshot(&mut r), snapshot(&mut c));
        assert_same(
            &format!("after cross-RESTORE (rdbcompression {compression})"),
            "redis-server",
            &after_r,
            "subject",
            &after_c,
            EXACT,
        );
        for (name, snap) in [("redis-server", &after_r), ("subject", &after_c)] {
            for ((db, key), orig) in &keys {
                for prefix in [&b"r:"[..], b"s:"] {
                    let copy = &snap[&(*db, [prefix, &key[..]].concat())];
                    assert_eq!(
                        (&copy.ty, &copy.val),
                        (&orig.ty, &orig.val),
                        "on {name}, RESTORE of the {} payload of {} gave another value",
                        if prefix == b"r:" { "redis-server" } else { "subject" },
                        show_key(*db, key)
                    );
                }
            }
        }
    }
    assert!(compared > 60, "only {compared} payloads compared");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} DUMP payloads differ from redis-server's:\n  {}",
        mismatches.len(),
        mismatches.join("\n  ")
    );
}

/// Redis's CRC-64 (Jones polynomial, reflected), as in the DUMP footer and dump.rdb.
fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5; // 0xad93d23594c935a9 reflected
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
        }
    }
    crc
}

/// A DUMP payload around `body` (type byte + value): RDB version, then the CRC-64 of all
/// that, little-endian.
fn payload(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// Every RESTORE outcome, ok or error, the same as redis-server's: option parsing, BUSYKEY
/// and its precedence, TTL checks, REPLACE, ABSTTL (past, future, overflowing), IDLETIME and
/// FREQ, payloads with a bad checksum or version, payloads with a good checksum and bad
/// contents (with sanitize-dump-payload no and yes).
#[test]
fn restore_replies_match_redis() {
    assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca, "crc64 check value");
    let Some(redis) = oracle(&[]) else { return };
    let subject = TestServer::start_with(&[]);
    let (mut r, mut c) = (redis.raw(), subject.raw());
    for conn in [&mut r, &mut c] {
        ok(conn, &["CONFIG", "SET", "rdbcompression", "no"]);
        ok(conn, &["SET", "str", "value"]);
        ok(conn, &["SET", "existing", "old"]);
        apply(conn, &[cmd!("HSET", "hash", "a", "1", "b", "2"), cmd!("SADD", "intset", "1", "2", "3")]);
    }
    let dump = |conn: &mut RespConn, key: &str| match conn.cmd(&["DUMP", key]) {
        Resp::Bulk(b) => b,
        other => panic!("DUMP {key} on redis-server replied {other}"),
    };
    let p = dump(&mut r, "str");
    assert_eq!(&p[p.len() - 10..p.len() - 8], &10u16.to_le_bytes(), "Redis 7.0 payloads carry RDB version 10");
    assert_eq!(payload(&p[..p.len() - 10], 10), p, "payload() rebuilds Redis's own footer");
    let hash = dump(&mut r, "hash");
    let intset = dump(&mut r, "intset");
    assert_eq!(hash[0], 16, "hash payload type (RDB_TYPE_HASH_LISTPACK)");
    assert_eq!(intset[0], 11, "set payload type (RDB_TYPE_SET_INTSET)");

    let mut flipped_crc = p.clone();
    *flipped_crc.last_mut().unwrap() ^= 1;
    let version_11 = payload(&p[..p.len() - 10], 11);
    let version_9 = payload(&p[..p.len() - 10], 9);
    let mut zero_crc = p[..p.len() - 8].to_vec();
    zero_crc.extend_from_slice(&[0; 8]);
    // Listpack hash with a wrong total-bytes header; with a wrong element count; intset
    // with an impossible integer width. Checksums are right: only the contents are bad.
    let body = &hash[..hash.len() - 10];
    assert!(body[1] < 64, "the small hash's listpack has a one-byte length");
    let mut lp_bytes = body.to_vec();
    lp_bytes[2] = lp_bytes[2].wrapping_add(1);
    let mut lp_count = body.to_vec();
    lp_count[6] = lp_count[6].wrapping_add(2);
    let mut bad_intset = intset[..intset.len() - 10].to_vec();
    bad_intset[2] = 3;
    let now = now_ms();
    let cases: Vec<(&str, Cmd)> = vec![
        ("wrong arity", cmd!("RESTORE", "k", "0")),
        ("BUSYKEY", cmd!("RESTORE", "existing", "0", p)),
        ("BUSYKEY before the TTL check", cmd!("RESTORE", "existing", "-5", "junk")),
        ("options before BUSYKEY", cmd!("RESTORE", "existing", "0", "junk", "IDLETIME", "-1")),
        ("REPLACE", cmd!("RESTORE", "existing", "0", p, "REPLACE")),
        ("REPLACE of a missing key", cmd!("RESTORE", "new1", "0", p, "REPLACE")),
        ("REPLACE twice", cmd!("RESTORE", "new1", "0", p, "REPLACE", "replace")),
        ("negative TTL", cmd!("RESTORE", "k", "-1", p)),
        ("TTL not a number", cmd!("RESTORE", "k", "abc", p)),
        ("TTL then bad payload", cmd!("RESTORE", "k", "-1", "junk")),
        ("garbage payload", cmd!("RESTORE", "k", "0", "garbage")),
        ("empty payload", cmd!("RESTORE", "k", "0", "")),
        ("flipped checksum", cmd!("RESTORE", "k", "0", flipped_crc)),
        ("zero checksum", cmd!("RESTORE", "k", "0", zero_crc)),
        ("payload cut short", cmd!("RESTORE", "k", "0", &p[..p.len() - 1])),
        ("payload with a byte after the footer", cmd!("RESTORE", "k", "0", [&p[..], b"x"].concat())),
        ("RDB version 11", cmd!("RESTORE", "k", "0", version_11)),
        ("RDB version 9", cmd!("RESTORE", "v9", "0", version_9)),
        ("unknown type", cmd!("RESTORE", "k", "0", payload(b"\x55\x01v", 10))),
        ("module type", cmd!("RESTORE", "k", "0", payload(b"\x07\x01", 10))),
        ("stream type", cmd!("RESTORE", "k", "0", payload(b"\x13\x00", 10))),
        ("no value", cmd!("RESTORE", "k", "0", payload(b"", 10))),
        ("string longer than the payload", cmd!("RESTORE", "k", "0", payload(b"\x00\x64abc", 10))),
        ("list length past the payload", cmd!("RESTORE", "k", "0", payload(b"\x12\x05", 10))),
        ("listpack total bytes wrong", cmd!("RESTORE", "k", "0", payload(&lp_bytes, 10))),
        ("intset width 3", cmd!("RESTORE", "k", "0", payload(&bad_intset, 10))),
        ("IDLETIME negative", cmd!("RESTORE", "k", "0", p, "IDLETIME", "-1")),
        ("IDLETIME not a number", cmd!("RESTORE", "k", "0", p, "IDLETIME", "x")),
        ("IDLETIME missing", cmd!("RESTORE", "k", "0", p, "IDLETIME")),
        ("FREQ 256", cmd!("RESTORE", "k", "0", p, "FREQ", "256")),
        ("FREQ negative", cmd!("RESTORE", "k", "0", p, "FREQ", "-1")),
        ("FREQ not a number", cmd!("RESTORE", "k", "0", p, "FREQ", "x")),
        ("FREQ missing", cmd!("RESTORE", "k", "0", p, "FREQ")),
        ("IDLETIME with FREQ", cmd!("RESTORE", "k", "0", p, "IDLETIME", "5", "FREQ", "5")),
        ("unknown option", cmd!("RESTORE", "k", "0", p, "BOGUS")),
        ("FREQ without an LFU policy", cmd!("RESTORE", "freq", "0", p, "FREQ", "10")),
        ("FREQ twice", cmd!("RESTORE", "freq2", "0", p, "FREQ", "10", "FREQ", "3")),
        ("IDLETIME twice, lower case", cmd!("RESTORE", "idle", "0", p, "idletime", "10", "IDLETIME", "1000")),
        ("ABSTTL in the past", cmd!("RESTORE", "past", "1000", p, "ABSTTL")),
        ("ABSTTL 0", cmd!("RESTORE", "abs0", "0", p, "ABSTTL")),
        ("ABSTTL in the future", cmd!("RESTORE", "future", (now + 100_000_000).to_string(), p, "ABSTTL")),
        ("ABSTTL i64::MAX-1", cmd!("RESTORE", "far", "9223372036854775806", p, "ABSTTL")),
        ("TTL that overflows the deadline", cmd!("RESTORE", "overflow", "9223372036854775807", p)),
        ("TTL", cmd!("RESTORE", "ttl", "100000000", p)),
        ("hash payload", cmd!("RESTORE", "hash2", "0", hash)),
        ("intset payload", cmd!("RESTORE", "intset2", "0", intset)),
        ("DUMP of a missing key", cmd!("DUMP", "missing")),
        ("DUMP wrong arity", cmd!("DUMP", "a", "b")),
    ];
    let mut failures = Vec::new();
    let mut run = |r: &mut RespConn, c: &mut RespConn, sanitize: &str, cases: &[(&str, Cmd)]| {
        for conn in [&mut *r, &mut *c] {
            ok(conn, &["CONFIG", "SET", "sanitize-dump-payload", sanitize]);
        }
        for (what, args) in cases {
            let (want, got) = (call_raw(r, args), call_raw(c, args));
            if want != got {
                failures.push(format!(
                    "sanitize-dump-payload {sanitize}, {what}: redis-server \"{}\", subject \"{}\"",
                    escape(&want),
                    escape(&got)
                ));
            }
        }
    };
    run(&mut r, &mut c, "no", &cases);
    // Contents checks that only deep sanitization catches: run them only with it on (without
    // it, Redis itself may accept a corrupt value and crash later).
    let deep: Vec<(&str, Cmd)> = vec![
        ("listpack element count wrong", cmd!("RESTORE", "k", "0", payload(&lp_count, 10))),
        ("listpack total bytes wrong", cmd!("RESTORE", "k", "0", payload(&lp_bytes, 10))),
        ("good hash payload", cmd!("RESTORE", "hash3", "0", hash)),
    ];
    run(&mut r, &mut c, "yes", &deep);
    // What the restores left behind (TTL-dependent values with a tolerance).
    let keys = [
        "existing", "new1", "v9", "freq", "freq2", "idle", "past", "abs0", "future", "far", "overflow", "ttl", "hash2",
        "intset2", "hash3", "k",
    ];
    for key in keys {
        for q in [&["EXISTS", key][..], &["TYPE", key], &["OBJECT", "ENCODING", key], &["OBJECT", "FREQ", key]] {
            let (want, got) = (r.cmd(q), c.cmd(q));
            if want != got {
                failures.push(format!("{}: redis-server {want}, subject {got}", q.join(" ")));
            }
        }
        let (want, got) = (int(&mut r, &["PTTL", key]), int(&mut c, &["PTTL", key]));
        if ((want < 0 || got < 0) && want != got) || (want - got).abs() > 5000 {
            failures.push(format!("PTTL {key}: redis-server {want}, subject {got}"));
        }
    }
    let (want, got) = (int(&mut r, &["OBJECT", "IDLETIME", "idle"]), int(&mut c, &["OBJECT", "IDLETIME", "idle"]));
    if !(1000..=1005).contains(&got) || !(1000..=1005).contains(&want) {
        failures.push(format!("OBJECT IDLETIME after RESTORE ... IDLETIME 1000: redis-server {want}, subject {got}"));
    }
    assert!(failures.is_empty(), "{} RESTORE differences:\n  {}", failures.len(), failures.join("\n  "));
}

// ---------------------------------------------------------------------------------------
// 5. BGSAVE consistency under concurrent writes

/// Accounts whose amounts always sum to ACCOUNTS * INITIAL.
const ACCOUNTS: usize = 64;
const INITIAL: i64 = 1000;
/// Filler keys, so that a snapshot takes long enough for the writers to run beside it.
const FILLER: i64 = 100_000;

fn account(i: u64) -> String {
    format!("acct:{{x}}:{i}")
}

/// The sum of all accounts (MGET).
fn account_sum(c: &mut RespConn) -> i64 {
    let mut args = vec!["MGET".to_string()];
    args.extend((0..ACCOUNTS as u64).map(account));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    items(&c.cmd(&args)).iter().map(|v| String::from_utf8_lossy(v).parse::<i64>().expect("account amount")).sum()
}

/// Several clients move amounts between random accounts (MULTI/EXEC and Lua scripts) while
/// BGSAVE runs several times; every dump.rdb produced, loaded into a fresh server, holds
/// exactly the invariant sum (a snapshot that saw half of a transfer breaks it).
#[test]
fn bgsave_snapshots_are_consistent_under_writes() {
    const WRITERS: u64 = 4;
    const ROUNDS: usize = 4;
    const MAX_TRANSFERS: u64 = 2_000_000;
    let s = TestServer::start_with(DEBUG_ON);
    let mut c = s.raw();
    ok(&mut c, &["DEBUG", "POPULATE", &FILLER.to_string(), "filler", "32"]);
    let mut mset = vec!["MSET".to_string()];
    for i in 0..ACCOUNTS as u64 {
        mset.push(account(i));
        mset.push(INITIAL.to_string());
    }
    ok(&mut c, &mset.iter().map(String::as_str).collect::<Vec<_>>());
    let total = ACCOUNTS as i64 * INITIAL;
    assert_eq!(account_sum(&mut c), total);

    let stop = AtomicBool::new(false);
    let transfers = AtomicU64::new(0);
    let during_saves = AtomicU64::new(0);
    let script = "redis.call('DECRBY', KEYS[1], ARGV[1]) redis.call('INCRBY', KEYS[2], ARGV[1]) return 1";
    let snapshots: Vec<TempDir> = std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let (stop, transfers, s) = (&stop, &transfers, &s);
            scope.spawn(move || {
                let mut conn = s.raw();
                let mut rng = Rng::new(w + 1);
                while !stop.load(Ordering::Relaxed) && transfers.load(Ordering::Relaxed) < MAX_TRANSFERS {
                    let from = rng.below(ACCOUNTS as u64);
                    let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1)) % ACCOUNTS as u64;
                    let amount = rng.range(1, 50).to_string();
                    let (from, to) = (account(from), account(to));
                    if w % 2 == 0 {
                        let replies = pipeline(
                            &mut conn,
                            &[cmd!("MULTI"), cmd!("DECRBY", from, amount), cmd!("INCRBY", to, amount), cmd!("EXEC")],
                        );
                        assert!(matches!(&replies[3], Resp::Array(v) if v.len() == 2), "EXEC replied {}", replies[3]);
                    } else {
                        let reply = call(&mut conn, &cmd!("EVAL", script, "2", from, to, amount));
                        assert_eq!(reply, Resp::Int(1), "EVAL transfer");
                    }
                    transfers.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let mut dirs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        for round in 0..ROUNDS {
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            let before = transfers.load(Ordering::Relaxed);
            assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"), "BGSAVE round {round}");
            wait_bgsave_done(&mut c);
            during_saves.fetch_add(transfers.load(Ordering::Relaxed) - before, Ordering::Relaxed);
            assert_eq!(info(&mut c, "persistence")["rdb_last_bgsave_status"], "ok", "BGSAVE round {round}");
            let dir = TempDir::new("bgsave-snapshot");
            copy_dump(s.dir(), dir.path());
            dirs.push(dir);
        }
        stop.store(true, Ordering::Relaxed);
        dirs
    });
    let moved = transfers.load(Ordering::Relaxed);
    assert!(moved > 0, "no transfer ran");
    assert!(
        during_saves.load(Ordering::Relaxed) > 0,
        "no transfer ran while a BGSAVE was in progress ({moved} in all): the test proved nothing"
    );
    assert_eq!(account_sum(&mut c), total, "the live data set lost the invariant");
    assert!(snapshots.len() >= 2, "only {} BGSAVE rounds in time", snapshots.len());
    for (i, dir) in snapshots.iter().enumerate() {
        let loaded = TestServer::start_in(subject_kind(), dir.path(), &[]);
        let mut lc = loaded.raw();
        let sum = account_sum(&mut lc);
        assert_eq!(sum, total, "snapshot {i} of {}: accounts sum to {sum}, not {total}", snapshots.len());
        assert_eq!(int(&mut lc, &["DBSIZE"]), FILLER + ACCOUNTS as i64, "snapshot {i}: key count");
    }
    eprintln!("{moved} transfers, {} of them during {} BGSAVEs", during_saves.load(Ordering::Relaxed), snapshots.len());
}

// ---------------------------------------------------------------------------------------
// 6. Crash during BGSAVE

/// kill -9 while a BGSAVE of a few hundred thousand keys runs: the restarted server loads a
/// complete data set, the previous dump.rdb byte for byte when the kill came before the
/// save finished (a temporary file is never taken for it), or the new one.
#[test]
fn kill9_during_bgsave_keeps_the_previous_dump() {
    const KEYS: i64 = 400_000;
    let mut s = TestServer::start_with(DEBUG_ON);
    let dump = s.dir().join("dump.rdb");
    let mut c = s.raw();
    ok(&mut c, &["DEBUG", "POPULATE", &KEYS.to_string(), "key", "64"]);
    ok(&mut c, &["SET", "generation", "1"]);
    ok(&mut c, &["SAVE"]);
    let first = std::fs::read(&dump).expect("dump.rdb after SAVE");
    let samples: Vec<String> = [0, 1, 4321, 199_999, KEYS - 1].iter().map(|i| format!("key:{i}")).collect();
    let mut mget: Vec<&str> = vec!["MGET"];
    mget.extend(samples.iter().map(String::as_str));
    let sampled = c.cmd(&mget);
    ok(&mut c, &["SET", "generation", "2"]);
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    s.kill9();
    let files: Vec<String> =
        std::fs::read_dir(s.dir()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let unchanged = std::fs::read(&dump).is_ok_and(|now| now == first);
    s.restart();
    let mut c = s.raw();
    assert_eq!(int(&mut c, &["DBSIZE"]), KEYS + 1, "key count after kill -9 during BGSAVE (files: {files:?})");
    assert_eq!(c.cmd(&mget), sampled, "sampled values after kill -9 during BGSAVE");
    match c.cmd(&["GET", "generation"]) {
        r if r == bulk("1") => {
            assert!(unchanged, "dump.rdb changed although the BGSAVE did not finish (files: {files:?})")
        }
        r if r == bulk("2") => eprintln!("note: the BGSAVE finished before the kill; files: {files:?}"),
        other => panic!("generation after restart: {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// 7. Corrupt dump.rdb

/// A damaged dump.rdb stops start-up: non-zero exit, and a log line naming the problem
/// (one of the given words, case-insensitive: Redis's own wording matches). Checked on the
/// subject and on redis-server.
#[test]
fn corrupt_dump_rdb_stops_start_up() {
    const MARK: &[u8] = b"corrupt-me-0123456789abcdef";
    let writer = TestServer::start_with(&["--rdbcompression", "no"]);
    let mut w = writer.raw();
    apply(&mut w, &[cmd!("SET", "marker", MARK), cmd!("RPUSH", "list", "a", "b", "c"), cmd!("HSET", "h", "f", "v")]);
    ok(&mut w, &["SAVE"]);
    let good = std::fs::read(writer.dir().join("dump.rdb")).unwrap();
    assert!(good.starts_with(b"REDIS00"), "dump.rdb does not start with the RDB magic");
    let at = good.windows(MARK.len()).position(|win| win == MARK).expect("the marker value is in dump.rdb");
    let mut flipped = good.clone();
    flipped[at + 3] ^= 0x20;
    let mut version_99 = good.clone();
    version_99[5..9].copy_from_slice(b"0099");
    let short_read: &[&str] = &["eof", "short read", "truncat", "unexpected end"];
    let variants: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("not an RDB file", b"this is not an RDB file\n".repeat(10), &["signature", "magic", "not an rdb"]),
        ("empty file", Vec::new(), &["eof", "short read", "truncat", "unexpected end", "empty"]),
        ("cut inside the header", good[..7].to_vec(), short_read),
        ("cut in half", good[..good.len() / 2].to_vec(), short_read),
        ("without EOF and checksum", good[..good.len() - 9].to_vec(), short_read),
        ("a flipped bit in a value", flipped, &["checksum", "crc"]),
        ("RDB version 99", version_99, &["version"]),
    ];
    let mut kinds = vec![subject_kind()];
    if subject_kind() != Kind::Redis && require_tool("redis-server") {
        kinds.push(Kind::Redis);
    }
    for (what, bytes, words) in &variants {
        for &kind in &kinds {
            let dir = TempDir::new("corrupt-rdb");
            std::fs::write(dir.path().join("dump.rdb"), bytes).unwrap();
            match TestServer::try_start_in(kind, dir.path(), &[]) {
                Ok(mut server) => {
                    let keys = server.raw().cmd(&["DBSIZE"]);
                    server.kill9();
                    panic!("{kind:?} started on a dump.rdb {what} (DBSIZE {keys})");
                }
                Err(f) => {
                    let status = f.status.unwrap_or_else(|| panic!("{kind:?} on a dump.rdb {what}: {}", f.reason));
                    assert!(!status.success(), "{kind:?} on a dump.rdb {what}: exit status {status}");
                    let log = f.log.to_lowercase();
                    assert!(
                        words.iter().any(|w| log.contains(w)),
                        "{kind:?} on a dump.rdb {what}: the log names none of {words:?}:\n{}",
                        f.log
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Directives

/// CONFIG GET/SET of the persistence directives reply as redis-server's (defaults, valid
/// and invalid values, protected directives).
#[test]
fn persistence_directives_match_redis() {
    let Some(redis) = oracle(&[]) else { return };
    let subject = TestServer::start_with(&[]);
    let (mut r, mut c) = (redis.raw(), subject.raw());
    let mut failures = Vec::new();
    for args in [
        &["CONFIG", "GET", "save"][..],
        &["CONFIG", "GET", "dbfilename"],
        &["CONFIG", "GET", "rdbcompression"],
        &["CONFIG", "GET", "rdbchecksum"],
        &["CONFIG", "GET", "stop-writes-on-bgsave-error"],
        &["CONFIG", "GET", "rdb-del-sync-files"],
        &["CONFIG", "GET", "sanitize-dump-payload"],
        &["CONFIG", "SET", "save", "900 1 300 10"],
        &["CONFIG", "GET", "save"],
        &["CONFIG", "SET", "save", "100"],
        &["CONFIG", "SET", "save", "100 x"],
        &["CONFIG", "SET", "save", "100", "1"],
        &["CONFIG", "SET", "save", ""],
        &["CONFIG", "GET", "save"],
        &["CONFIG", "SET", "dbfilename", "other.rdb"],
        &["CONFIG", "SET", "dir", "/tmp"],
        &["CONFIG", "SET", "rdbcompression", "no"],
        &["CONFIG", "SET", "rdbcompression", "maybe"],
        &["CONFIG", "GET", "rdbcompression"],
        &["CONFIG", "SET", "rdbchecksum", "no"],
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
        &["CONFIG", "SET", "rdb-del-sync-files", "yes"],
        &["CONFIG", "SET", "sanitize-dump-payload", "clients"],
        &["CONFIG", "SET", "sanitize-dump-payload", "sometimes"],
        &["CONFIG", "GET", "sanitize-dump-payload"],
    ] {
        let (want, got) = (r.cmd(args), c.cmd(args));
        if want != got {
            failures.push(format!("{}: redis-server {want}, subject {got}", args.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{} differences:\n  {}", failures.len(), failures.join("\n  "));
}

fn bulk(s: &str) -> Resp {
    common::bulk(s)
}

fn simple(s: &str) -> Resp {
    common::simple(s)
}

fn error(s: &str) -> Resp {
    common::error(s)
}
