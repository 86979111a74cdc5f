//! The AOF loader (`ferrous_core::aof::{manifest, load}`) against Redis 7.0.
//!
//! - Manifest: parse/format round trips (quoted names, comments, keys in any order), the
//!   exact bytes Redis writes, and every validation error Redis gives, checked against
//!   redis-server's own start-up failure messages.
//! - Framing: Redis's lenient line reading (`fgets` pieces, `atoi` counts, unchecked CRLF),
//!   annotations, commands larger than the reader's buffer.
//! - Differential: redis-server 7.0 writes an AOF directory (RDB preamble on and off,
//!   timestamps on) holding every type, expiries, MULTI/EXEC, scripts, functions and
//!   several databases, rewrites it (base + incr) and writes more; the directory loads
//!   into a fresh `Database` with exactly what redis-server holds, key by key, TTLs
//!   included. Keys whose deadline passed while they were still being modified stay
//!   expired (keys are not expired during the replay). The same files split into several
//!   incr files, and turned into an old-style `appendonly.aof` that is upgraded as Redis
//!   upgrades it, load the same.
//! - Truncation at every byte of the last command and inside a final MULTI, with
//!   `aof-load-truncated` on and off: the offsets agree with `redis-check-aof`, the file is
//!   cut there (only when allowed), and redis-server cuts it at the same offset. A corrupt
//!   command in the middle and an unknown command are errors in both settings.
//!
//! Tests that need redis-server, redis-check-aof print `SKIPPED` when they are missing,
//! unless `CI` is set (then they fail).
#[path = "support/tools.rs"]
mod tools;
use ferrous_core::aof::load::{self, AofLoadOptions, AofLoadStats, CommandReader, Frame};
use ferrous_core::aof::manifest::{AofError, AofFile, AofFileKind, Manifest};
use ferrous_core::{Database, RespValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tools::{require_tool, RedisProc, TempDir};

// ---------------------------------------------------------------------------------------
// Tools and scratch space
// ---------------------------------------------------------------------------------------

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Waits until redis-server runs no AOF rewrite and has none scheduled.
fn wait_rewrite(con: &mut redis::Connection) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            return;
        }
        assert!(Instant::now() < deadline, "AOF rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const PREFIX: &str = "appendonly.aof";

/// Writes an AOF directory: a manifest of `files` (name, kind letter, seq) with contents.
fn write_aof_dir(dir: &Path, files: &[(&str, u8, u64, &[u8])]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut m = Manifest::default();
    for &(name, kind, seq, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
        let kind = match kind {
            b'b' => AofFileKind::Base,
            b'h' => AofFileKind::History,
            _ => AofFileKind::Incr,
        };
        let f = AofFile { name: name.to_string(), seq, kind };
        match kind {
            AofFileKind::Base => {
                m.cur_base_seq = seq;
                m.base = Some(f)
            }
            AofFileKind::History => m.history.push(f),
            AofFileKind::Incr => {
                m.cur_incr_seq = seq;
                m.incrs.push(f)
            }
        }
    }
    m.write_atomically(dir, PREFIX).unwrap();
}

/// RESP encoding of one command.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn load_dir(db: &Database, dir: &Path, load_truncated: bool) -> Result<Option<AofLoadStats>, AofError> {
    load::load(db, dir, PREFIX, AofLoadOptions { load_truncated })
}

// ---------------------------------------------------------------------------------------
// Datasets: what a server holds, independent of encoding and order
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Model {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, Vec<u8>)>),
}

/// (db, key) -> (contents, PEXPIRETIME).
type Dataset = BTreeMap<(usize, Vec<u8>), (Model, Option<i64>)>;

/// A reply reduced to what the dataset readers need.
#[derive(Debug, Clone, PartialEq)]
enum R {
    Nil,
    Int(i64),
    Bytes(Vec<u8>),
    Arr(Vec<R>),
}

impl R {
    fn bytes(self) -> Vec<u8> {
        match self {
            R::Bytes(b) => b,
            other => panic!("expected bytes, got {other:?}"),
        }
    }
    fn arr(self) -> Vec<Vec<u8>> {
        match self {
            R::Arr(a) => a.into_iter().map(R::bytes).collect(),
            other => panic!("expected array, got {other:?}"),
        }
    }
    fn int(self) -> i64 {
        match self {
            R::Int(i) => i,
            other => panic!("expected integer, got {other:?}"),
        }
    }
}

fn from_resp(v: RespValue) -> R {
    match v {
        RespValue::Null | RespValue::NullArray => R::Nil,
        RespValue::Integer(i) => R::Int(i),
        RespValue::Bulk(b) | RespValue::Verbatim(_, b) => R::Bytes(b),
        RespValue::Simple(s) => R::Bytes(s.into_bytes()),
        RespValue::Array(a) | RespValue::Set(a) => R::Arr(a.into_iter().map(from_resp).collect()),
        RespValue::Error(e) => panic!("error reply: {e}"),
        other => panic!("unexpected reply {other:?}"),
    }
}

fn from_redis(v: redis::Value) -> R {
    match v {
        redis::Value::Nil => R::Nil,
        redis::Value::Int(i) => R::Int(i),
        redis::Value::BulkString(b) => R::Bytes(b),
        redis::Value::SimpleString(s) => R::Bytes(s.into_bytes()),
        redis::Value::Okay => R::Bytes(b"OK".to_vec()),
        redis::Value::Array(a) | redis::Value::Set(a) => R::Arr(a.into_iter().map(from_redis).collect()),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Reads every key of databases 0..16 through `call(db, args)`.
fn dataset(mut call: impl FnMut(usize, &[&[u8]]) -> R) -> Dataset {
    let mut out = Dataset::new();
    for db in 0..16 {
        for key in call(db, &[b"KEYS", b"*"]).arr() {
            let k = &key[..];
            let t = call(db, &[b"TYPE", k]).bytes();
            let model = match &t[..] {
                b"string" => Model::Str(call(db, &[b"GET", k]).bytes()),
                b"list" => Model::List(call(db, &[b"LRANGE", k, b"0", b"-1"]).arr()),
                b"hash" => {
                    let flat = call(db, &[b"HGETALL", k]).arr();
                    let mut p: Vec<_> = flat.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
                    p.sort();
                    Model::Hash(p)
                }
                b"set" => {
                    let mut m = call(db, &[b"SMEMBERS", k]).arr();
                    m.sort();
                    Model::Set(m)
                }
                b"zset" => {
                    let flat = call(db, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]).arr();
                    Model::ZSet(flat.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect())
                }
                other => panic!("type {}", String::from_utf8_lossy(other)),
            };
            let exp = call(db, &[b"PEXPIRETIME", k]).int();
            out.insert((db, key.clone()), (model, (exp >= 0).then_some(exp)));
        }
    }
    out
}

fn ferrous_dataset(db: &Database) -> Dataset {
    let handles: Vec<Database> = (0..16).map(|i| db.select(i).unwrap()).collect();
    dataset(|i, args| from_resp(handles[i].execute(args.iter())))
}

fn redis_dataset(con: &mut redis::Connection) -> Dataset {
    let mut selected = usize::MAX;
    let d = dataset(|i, args| {
        if i != selected {
            redis::cmd("SELECT").arg(i).query::<()>(con).unwrap();
            selected = i;
        }
        let mut c = redis::cmd(&String::from_utf8_lossy(args[0]));
        for a in &args[1..] {
            c.arg(*a);
        }
        from_redis(c.query(con).unwrap())
    });
    redis::cmd("SELECT").arg(0).query::<()>(con).unwrap();
    d
}

fn assert_same(expected: &Dataset, got: &Dataset, what: &str) {
    for (k, v) in expected {
        assert_eq!(got.get(k), Some(v), "{what}: db {} key {:?}", k.0, String::from_utf8_lossy(&k.1));
    }
    for k in got.keys() {
        assert!(expected.contains_key(k), "{what}: unexpected db {} key {:?}", k.0, String::from_utf8_lossy(&k.1));
    }
}

// ---------------------------------------------------------------------------------------
// redis-server, the oracle
// ---------------------------------------------------------------------------------------

/// Starts redis-server without a TCP port on `dir` with `appendonly yes` and waits for it
/// to exit (a start-up failure); its log.
fn redis_startup_failure(dir: &Path, extra: &[&str]) -> String {
    let log = dir.join("startup.log");
    let _ = std::fs::remove_file(&log);
    let mut child = Command::new("redis-server")
        .args(["--port", "0", "--save", "", "--appendonly", "yes"])
        .arg("--unixsocket")
        .arg(dir.join("redis.sock"))
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(!status.success(), "redis-server exited with success");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-server did not fail: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::read_to_string(&log).unwrap_or_default()
}

/// Runs redis-check-aof on a file: (valid, ok_up_to).
fn check_aof(path: &Path) -> (bool, u64) {
    let out = Command::new("redis-check-aof").arg(path).output().expect("run redis-check-aof");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ok_up_to = text
        .split("ok_up_to=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ok_up_to in redis-check-aof output:\n{text}"));
    (out.status.success(), ok_up_to)
}

// ---------------------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------------------

#[test]
fn manifest_round_trips() {
    let text = b"file appendonly.aof.2.base.rdb seq 2 type b\n\
file appendonly.aof.1.incr.aof seq 1 type h\n\
file appendonly.aof.2.incr.aof seq 2 type h\n\
file appendonly.aof.3.incr.aof seq 3 type i\n\
file appendonly.aof.4.incr.aof seq 4 type i\n";
    let m = Manifest::parse(text).unwrap();
    assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
    assert_eq!(m.history.len(), 2);
    assert_eq!(m.incrs.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!((m.cur_base_seq, m.cur_incr_seq), (2, 4));
    assert_eq!(m.to_bytes(), text.to_vec());

    // Keys in any order and any case, comments, CRLF, extra keys, quoted names.
    let loose = b"# a comment\n  TYPE i Seq 7 File \"my file\\x21\" extra key  \r\n\
file 'base name' seq 3 type b\n";
    let m = Manifest::parse(loose).unwrap();
    assert_eq!(m.incrs, vec![AofFile { name: "my file!".into(), seq: 7, kind: AofFileKind::Incr }]);
    assert_eq!(m.base, Some(AofFile { name: "base name".into(), seq: 3, kind: AofFileKind::Base }));
    // Written back: base first, names quoted with sdscatrepr only when needed.
    assert_eq!(m.to_bytes(), b"file \"base name\" seq 3 type b\nfile \"my file!\" seq 7 type i\n".to_vec());
    assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);

    // Names that need every kind of escape survive a round trip.
    let names = ["tab\tname", "quote\"d", "nl\nx", "bell\u{7}", "é", "sp ace", "del\u{7f}"];
    let mut m = Manifest::default();
    for (i, n) in names.iter().enumerate() {
        m.incrs.push(AofFile { name: n.to_string(), seq: i as u64 + 1, kind: AofFileKind::Incr });
    }
    m.cur_incr_seq = names.len() as u64;
    let bytes = m.to_bytes();
    assert!(bytes.starts_with(b"file \"tab\\tname\" seq 1 type i\n"), "{}", String::from_utf8_lossy(&bytes));
    assert!(String::from_utf8_lossy(&bytes).contains("\"\\xc3\\xa9\""));
    assert_eq!(Manifest::parse(&bytes).unwrap(), m);

    // Only comments: a manifest listing nothing (not "empty").
    assert_eq!(Manifest::parse(b"# nothing\n").unwrap(), Manifest::default());

    assert_eq!(Manifest::base_name(PREFIX, 3, true), "appendonly.aof.3.base.rdb");
    assert_eq!(Manifest::base_name(PREFIX, 3, false), "appendonly.aof.3.base.aof");
    assert_eq!(Manifest::incr_name(PREFIX, 12), "appendonly.aof.12.incr.aof");
    assert_eq!(Manifest::manifest_name(PREFIX), "appendonly.aof.manifest");
}

#[test]
fn manifest_write_atomically_and_read() {
    let dir = TempDir::new("manifest");
    assert_eq!(Manifest::read(&dir.path().join("missing"), PREFIX).unwrap(), None);
    assert_eq!(Manifest::read(dir.path(), PREFIX).unwrap(), None);
    let m = Manifest {
        base: Some(AofFile { name: Manifest::base_name(PREFIX, 1, true), seq: 1, kind: AofFileKind::Base }),
        incrs: vec![AofFile { name: Manifest::incr_name(PREFIX, 1), seq: 1, kind: AofFileKind::Incr }],
        history: vec![],
        cur_base_seq: 1,
        cur_incr_seq: 1,
    };
    m.write_atomically(dir.path(), PREFIX).unwrap();
    assert_eq!(Manifest::read(dir.path(), PREFIX).unwrap(), Some(m.clone()));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("appendonly.aof.manifest")], "no temp file left");
    // A directory that cannot be written to: the error names the temp file, the old
    // manifest stays.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    m.write_atomically(&ro, PREFIX).unwrap();
    let err = m.write_atomically(&ro.join("nope"), PREFIX).unwrap_err();
    assert!(matches!(&err, AofError::Io { path, .. } if path.ends_with("temp-appendonly.aof.manifest")), "{err}");
    // An invalid manifest on disk is an error, not "no manifest".
    std::fs::write(dir.path().join("appendonly.aof.manifest"), b"junk\n").unwrap();
    assert!(matches!(Manifest::read(dir.path(), PREFIX), Err(AofError::InvalidManifest { line: 1, .. })));
}

/// Invalid manifests: (text, line, Redis's message).
fn invalid_manifests() -> Vec<(Vec<u8>, usize, &'static str)> {
    let long = {
        let mut l = b"file ".to_vec();
        l.extend(std::iter::repeat(b'a').take(1100));
        l.extend_from_slice(b" seq 1 type b\n");
        l
    };
    vec![
        (b"".to_vec(), 0, "Found an empty AOF manifest"),
        (long, 0, "The AOF manifest file contains too long line"),
        (b"file a seq 1 type b".to_vec(), 0, "The AOF manifest file contains too long line"),
        (b"file a seq 1 type b\n\n".to_vec(), 2, "Invalid AOF manifest file format"),
        (b"file a seq 1 type\n".to_vec(), 1, "Invalid AOF manifest file format"),
        (b"file a seq 1\n".to_vec(), 1, "Invalid AOF manifest file format"),
        (b"file \"a seq 1 type b\n".to_vec(), 1, "Invalid AOF manifest file format"),
        (b"file a seq 0 type b\n".to_vec(), 1, "Invalid AOF manifest file format"),
        (b"file a seq x type b\n".to_vec(), 1, "Invalid AOF manifest file format"),
        (b"name a seq 1 type b\n".to_vec(), 1, "Invalid AOF manifest file format"),
        (b"file a seq 1 type \"\"\n".to_vec(), 1, "Invalid AOF manifest file format"),
        (b"file dir/a seq 1 type b\n".to_vec(), 1, "File can't be a path, just a filename"),
        (b"file a\\\\b seq 1 type b\n".to_vec(), 1, "File can't be a path, just a filename"),
        (b"file a seq 1 type b\nfile b seq 2 type b\n".to_vec(), 2, "Found duplicate base file information"),
        (b"file a seq 2 type i\n# c\nfile b seq 2 type i\n".to_vec(), 3, "Found a non-monotonic sequence number"),
        (b"file a seq 3 type i\nfile b seq 1 type i\n".to_vec(), 2, "Found a non-monotonic sequence number"),
        (b"file a seq -1 type i\n".to_vec(), 1, "Found a non-monotonic sequence number"),
        (b"file a seq 1 type x\n".to_vec(), 1, "Unknown AOF file type"),
        (b"file a seq 1 type base\n".to_vec(), 0, ""),
    ]
}

#[test]
fn manifest_errors_are_redis_errors() {
    for (text, line, what) in invalid_manifests() {
        let got = Manifest::parse(&text);
        if what.is_empty() {
            // `type base`: only the first letter counts.
            assert_eq!(got.unwrap().base.unwrap().name, "a");
            continue;
        }
        match got {
            Err(AofError::InvalidManifest { line: l, what: w }) => {
                assert_eq!((l, w.as_str()), (line, what), "{:?}", String::from_utf8_lossy(&text))
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(&text)),
        }
    }
}

#[test]
fn manifest_errors_match_redis_server() {
    if !require_tool("redis-server") {
        return;
    }
    let dir = TempDir::new("manifest-redis");
    let aof_dir = dir.path().join("appendonlydir");
    std::fs::create_dir_all(&aof_dir).unwrap();
    for (text, line, what) in invalid_manifests() {
        if what.is_empty() {
            continue;
        }
        std::fs::write(aof_dir.join("appendonly.aof.manifest"), &text).unwrap();
        let log = redis_startup_failure(dir.path(), &[]);
        assert!(log.contains(what), "{:?}: redis-server said:\n{log}", String::from_utf8_lossy(&text));
        if line > 0 {
            assert!(log.contains(&format!("at line {line}\n")), "{:?}: {log}", String::from_utf8_lossy(&text));
        } else {
            assert!(!log.contains("Reading the manifest file, at line"), "{log}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------

fn frames(input: &[u8]) -> Vec<(Frame, Vec<Vec<u8>>)> {
    let mut r = CommandReader::new(input, 0);
    let mut v = Vec::new();
    loop {
        let f = r.next_frame().unwrap();
        let args = if f == Frame::Command { r.args().to_vec() } else { vec![] };
        v.push((f, args));
        if f != Frame::Command {
            return v;
        }
    }
}

#[test]
fn framing_follows_redis() {
    let cmd = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_eq!(frames(cmd), vec![(Frame::Command, vec![b"GET".to_vec(), b"k".to_vec()]), (Frame::Eof, vec![])]);
    // Annotations are skipped; counts are read like atoi/strtol; the two bytes after a
    // bulk are not checked.
    let f = frames(b"#TS:1700000000\r\n*1x\r\n$3 \r\nGETzz*1\r\n$0\r\n\r\n");
    assert_eq!(f[0].1, vec![b"GET".to_vec()]);
    assert_eq!(f[1].1, vec![b"".to_vec()]);
    assert_eq!(f[2].0, Frame::Eof);
    let corrupt = |input: &[u8]| frames(input)[0].0;
    assert_eq!(corrupt(b"*0\r\n"), Frame::Corrupt { offset: 0, what: "invalid multibulk count" });
    assert_eq!(corrupt(b"*-3\r\n"), Frame::Corrupt { offset: 0, what: "invalid multibulk count" });
    assert_eq!(corrupt(b"*4294967296\r\n"), Frame::Corrupt { offset: 0, what: "invalid multibulk count" });
    assert_eq!(corrupt(b"\r\n"), Frame::Corrupt { offset: 0, what: "expected '*' or '#'" });
    assert_eq!(corrupt(b"SET k v\r\n"), Frame::Corrupt { offset: 0, what: "expected '*' or '#'" });
    assert_eq!(corrupt(b"*1\r\n+OK\r\n"), Frame::Corrupt { offset: 4, what: "expected '$'" });
    assert_eq!(corrupt(b"*1\r\n$-1\r\n"), Frame::Corrupt { offset: 4, what: "invalid bulk length" });
    assert_eq!(corrupt(b"*\r\n"), Frame::Corrupt { offset: 0, what: "invalid multibulk count" });
    assert_eq!(corrupt(b"*\0\r\n"), Frame::Corrupt { offset: 0, what: "empty multibulk count" });
    assert_eq!(corrupt(b"*"), Frame::Truncated);
    assert_eq!(corrupt(b"*2"), Frame::Truncated);
    assert_eq!(corrupt(b"*1\r\n$3"), Frame::Truncated);
    assert_eq!(corrupt(b"*1\r\n$3\r\nGET\r"), Frame::Truncated);
    assert_eq!(corrupt(b"*1\r\n$99999999999999999999\r\nab"), Frame::Truncated);
    // An annotation cut short at the end is a clean end.
    assert_eq!(corrupt(b"#TS:12"), Frame::Eof);
    assert_eq!(corrupt(b""), Frame::Eof);
    // A line longer than fgets's buffer is read in pieces: the rest is not a command.
    let mut long = b"#".to_vec();
    long.extend(std::iter::repeat(b'x').take(2000));
    long.extend_from_slice(b"\r\n");
    assert_eq!(corrupt(&long), Frame::Corrupt { offset: 1023, what: "expected '*' or '#'" });
    // Offsets count from where the reader started.
    let mut r = CommandReader::new(&b"*1\r\n$4\r\nPING\r\n*1\r\n+"[..], 100);
    assert_eq!(r.next_frame().unwrap(), Frame::Command);
    assert_eq!((r.command_offset(), r.offset()), (100, 114));
    assert_eq!(r.next_frame().unwrap(), Frame::Corrupt { offset: 118, what: "expected '$'" });
}

#[test]
fn commands_larger_than_the_buffer() {
    let big = vec![b'v'; 700_000];
    let mut input = Vec::new();
    for i in 0..3 {
        input.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$1\r\n{i}\r\n${}\r\n", big.len()).as_bytes());
        input.extend_from_slice(&big);
        input.extend_from_slice(b"\r\n");
    }
    // Many small arguments in one command.
    let many: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let mut args = vec!["RPUSH", "l"];
    args.extend(many.iter().map(String::as_str));
    input.extend_from_slice(&resp(&args));
    // Through a reader that hands out a few bytes at a time.
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = (self.1 * 31 + 7) % 9000;
            let n = buf.len().min(self.0.len()).min(self.1 + 1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut r = CommandReader::new(Trickle(&input, 0), 0);
    for i in 0..3 {
        assert_eq!(r.next_frame().unwrap(), Frame::Command);
        let a = r.args();
        assert_eq!(a.at(1), i.to_string().as_bytes());
        assert!(a.at(2) == &big[..]);
    }
    assert_eq!(r.next_frame().unwrap(), Frame::Command);
    assert_eq!(r.args().len(), 100_002);
    assert_eq!(r.args().at(100_001), b"99999");
    assert_eq!(r.next_frame().unwrap(), Frame::Eof);
    assert_eq!(r.offset(), input.len() as u64);
}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

#[test]
fn no_aof_and_empty_aof() {
    let dir = TempDir::new("empty");
    let db = Database::new();
    db.set("pre", "existing").unwrap();
    // No directory, no manifest, a manifest listing nothing: no AOF, nothing changes.
    assert_eq!(load_dir(&db, &dir.path().join("none"), false).unwrap(), None);
    assert_eq!(load_dir(&db, dir.path(), false).unwrap(), None);
    std::fs::write(dir.path().join("appendonly.aof.manifest"), b"# only a comment\n").unwrap();
    assert_eq!(load_dir(&db, dir.path(), false).unwrap(), None);
    assert_eq!(db.get("pre").unwrap(), Some(b"existing".to_vec()));
    // A listed file that is missing is fatal.
    std::fs::write(dir.path().join("appendonly.aof.manifest"), b"file gone.aof seq 1 type i\n").unwrap();
    let err = load_dir(&db, dir.path(), true).unwrap_err();
    assert!(matches!(&err, AofError::Io { path, .. } if path.ends_with("gone.aof")), "{err}");
    // Empty files: the AOF is empty, and so is the dataset.
    write_aof_dir(dir.path(), &[("b.aof", b'b', 1, b""), ("i.aof", b'i', 1, b"")]);
    assert_eq!(load_dir(&db, dir.path(), false).unwrap(), Some(AofLoadStats::default()));
    assert_eq!(db.get("pre").unwrap(), None);
}

#[test]
fn replay_selects_multi_and_stats() {
    let dir = TempDir::new("replay");
    let mut base = b"#TS:1700000000\r\n".to_vec();
    base.extend(resp(&["SELECT", "0"]));
    base.extend(resp(&["SET", "a", "1"]));
    base.extend(resp(&["RPUSH", "l", "x", "y"]));
    let mut incr = resp(&["SELECT", "3"]);
    incr.extend(resp(&["SET", "b", "2"]));
    incr.extend(resp(&["MULTI"]));
    incr.extend(resp(&["INCR", "b"]));
    incr.extend(resp(&["SELECT", "4"]));
    incr.extend(resp(&["SET", "c", "3"]));
    incr.extend(resp(&["EXEC"]));
    // An error reply is ignored, as Redis ignores it.
    incr.extend(resp(&["LPUSH", "c", "z"]));
    incr.extend(b"#TS:1700000001\r\n");
    incr.extend(resp(&["SET", "after", "exec"]));
    let mut incr2 = resp(&["SET", "fresh", "client"]);
    incr2.extend(resp(&["SELECT", "5"]));
    write_aof_dir(dir.path(), &[("b.aof", b'b', 1, &base), ("1.aof", b'i', 1, &incr), ("2.aof", b'i', 2, &incr2)]);
    let db = Database::new();
    db.set("gone", "x").unwrap();
    let stats = load_dir(&db, dir.path(), false).unwrap().unwrap();
    assert_eq!(stats, AofLoadStats { commands: 14, base_keys: 2, truncated_at: None });
    let get = |i: usize, k: &str| db.select(i).unwrap().get(k).unwrap();
    assert_eq!(get(0, "gone"), None, "the AOF replaces the dataset");
    assert_eq!(get(0, "a"), Some(b"1".to_vec()));
    assert_eq!(get(3, "b"), Some(b"3".to_vec()));
    assert_eq!(get(4, "c"), Some(b"3".to_vec()));
    assert_eq!(get(4, "after"), Some(b"exec".to_vec()));
    // Each file starts in database 0 with a new client.
    assert_eq!(get(0, "fresh"), Some(b"client".to_vec()));
}

#[test]
fn keys_do_not_expire_during_the_replay() {
    let dir = TempDir::new("expiry");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let past = (now - 60_000).to_string();
    let future = (now + 600_000).to_string();
    let mut incr = Vec::new();
    // Written while the key was alive, replayed after its deadline: Redis keeps the key
    // during the replay (the INCR finds it, keeps its TTL), and it is expired afterwards.
    incr.extend(resp(&["SET", "ghost", "1", "PXAT", &past]));
    incr.extend(resp(&["INCR", "ghost"]));
    incr.extend(resp(&["RPUSH", "gl", "a"]));
    incr.extend(resp(&["PEXPIREAT", "gl", &past]));
    incr.extend(resp(&["RPUSH", "gl", "b"]));
    incr.extend(resp(&["SET", "live", "1", "PXAT", &future]));
    incr.extend(resp(&["INCR", "live"]));
    write_aof_dir(dir.path(), &[("1.aof", b'i', 1, &incr)]);
    let db = Database::new();
    load_dir(&db, dir.path(), false).unwrap().unwrap();
    assert_eq!(db.get("ghost").unwrap(), None);
    assert_eq!(db.execute(["EXISTS", "gl"]), RespValue::Integer(0));
    assert_eq!(db.get("live").unwrap(), Some(b"2".to_vec()));
    assert_eq!(db.execute(["PEXPIRETIME", "live"]), RespValue::Integer(now + 600_000));
    // Loaded keys look just written to eviction.
    match db.execute(["OBJECT", "IDLETIME", "live"]) {
        RespValue::Integer(idle) => assert!(idle <= 1, "idle {idle}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_command_and_corruption_are_errors() {
    let dir = TempDir::new("corrupt");
    let mut incr = resp(&["SET", "a", "1"]);
    let unknown_at = incr.len() as u64;
    incr.extend(resp(&["NOSUCHCOMMAND", "x"]));
    incr.extend(resp(&["SET", "b", "2"]));
    write_aof_dir(dir.path(), &[("1.aof", b'i', 1, &incr)]);
    for load_truncated in [false, true] {
        let err = load_dir(&Database::new(), dir.path(), load_truncated).unwrap_err();
        match &err {
            AofError::Command { file, offset, error } => {
                assert_eq!(
                    (file.as_str(), *offset, error.as_str()),
                    ("1.aof", unknown_at, "Unknown command 'NOSUCHCOMMAND'")
                )
            }
            other => panic!("{other}"),
        }
    }
    // A container's unknown subcommand is an unknown command too.
    write_aof_dir(dir.path(), &[("1.aof", b'i', 1, &resp(&["CONFIG", "NOSUCH", "x"]))]);
    assert!(matches!(load_dir(&Database::new(), dir.path(), true), Err(AofError::Command { offset: 0, .. })));

    // A corrupt command in the middle: an error whatever aof-load-truncated says, and the
    // file is left alone; redis-check-aof agrees on where the valid part ends.
    let cmds = [resp(&["SET", "a", "1"]), resp(&["SET", "b", "2"]), resp(&["SET", "c", "3"])];
    let mut body = cmds.concat();
    let second = cmds[0].len();
    body[second + 4] = b'+'; // the `$` of SET in the second command
    write_aof_dir(dir.path(), &[("1.aof", b'i', 1, &body)]);
    for load_truncated in [false, true] {
        let err = load_dir(&Database::new(), dir.path(), load_truncated).unwrap_err();
        assert!(
            matches!(&err, AofError::BadFormat { file, offset, .. } if file == "1.aof" && *offset == second as u64 + 4),
            "{err}"
        );
        assert_eq!(std::fs::read(dir.path().join("1.aof")).unwrap(), body);
    }
    if require_tool("redis-check-aof") {
        assert_eq!(check_aof(&dir.path().join("1.aof")), (false, second as u64));
    }
}

/// Every cut of the last command, and of a final MULTI block: the loader and
/// redis-check-aof agree on the valid prefix; with aof-load-truncated the file is cut there
/// and the dataset is the prefix's; without, an error names the offset and nothing is cut.
#[test]
fn truncation_at_every_byte() {
    let check_tool = require_tool("redis-check-aof");
    let dir = TempDir::new("truncate");
    let mut head = resp(&["SELECT", "0"]);
    head.extend(resp(&["SET", "a", "1"]));
    head.extend(b"#TS:1700000000\r\n");
    let head_len = head.len() as u64;
    let head_end_cmd = head_len - b"#TS:1700000000\r\n".len() as u64;
    let multi = [resp(&["MULTI"]), resp(&["INCR", "a"]), resp(&["SET", "m", "x"]), resp(&["EXEC"])].concat();
    let last = resp(&["SET", "last", "value"]);
    // Case 1: the last command cut; case 2: the MULTI block cut (no command after it).
    let cases: Vec<(Vec<u8>, usize, u64)> = vec![
        ([head.clone(), multi.clone(), last.clone()].concat(), last.len(), head_len + multi.len() as u64),
        ([head.clone(), multi.clone()].concat(), multi.len(), head_end_cmd),
    ];
    for (full, cut_span, valid) in cases {
        // The whole file loads.
        let base_cut = full.len() - cut_span;
        for cut in base_cut..full.len() {
            let body = &full[..cut];
            let path = dir.path().join("1.aof");
            write_aof_dir(dir.path(), &[("1.aof", b'i', 1, body)]);
            // Cutting right after the previous complete command is not truncation.
            let clean = cut == base_cut;
            let expect_valid = if clean { cut as u64 } else { valid };
            if check_tool {
                let (ok, up_to) = check_aof(&path);
                assert_eq!(ok, clean, "cut {cut}");
                // redis-check-aof keeps the annotation lines after the last complete
                // command; the server's loader (and ours) cuts before them.
                assert!(up_to >= expect_valid, "redis-check-aof says {up_to}, cut {cut}");
                assert!(only_annotations(&body[expect_valid as usize..up_to as usize]), "cut {cut}: {up_to}");
            }
            let db = Database::new();
            match load_dir(&db, dir.path(), false) {
                Ok(Some(stats)) if clean => assert_eq!(stats.truncated_at, None),
                Err(AofError::Truncated { file, offset }) if !clean => {
                    assert_eq!((file.as_str(), offset), ("1.aof", expect_valid), "cut {cut}");
                    assert_eq!(std::fs::read(&path).unwrap(), body, "nothing cut without aof-load-truncated");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
            let db = Database::new();
            let stats = load_dir(&db, dir.path(), true).unwrap().unwrap();
            assert_eq!(stats.truncated_at, (!clean).then_some(expect_valid), "cut {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), expect_valid, "file cut at {expect_valid}");
            // What was loaded is the valid prefix: the MULTI block all or nothing.
            let in_multi = valid == head_end_cmd;
            assert_eq!(db.get("a").unwrap(), Some(if in_multi { b"1".to_vec() } else { b"2".to_vec() }), "cut {cut}");
            assert_eq!(db.get("m").unwrap().is_some(), !in_multi);
            assert_eq!(db.get("last").unwrap(), None);
            // Loading the cut file again: nothing more to cut.
            let again = load_dir(&Database::new(), dir.path(), false).unwrap().unwrap();
            assert_eq!(again.truncated_at, None);
        }
    }
}

#[test]
fn truncated_file_that_is_not_the_last() {
    let dir = TempDir::new("notlast");
    let one = [resp(&["SET", "a", "1"]), resp(&["SET", "b", "2"])].concat();
    let cut = &one[..one.len() - 3];
    let two = resp(&["SET", "c", "3"]);
    write_aof_dir(dir.path(), &[("1.aof", b'i', 1, cut), ("2.aof", b'i', 2, &two)]);
    for load_truncated in [false, true] {
        let err = load_dir(&Database::new(), dir.path(), load_truncated).unwrap_err();
        assert!(matches!(&err, AofError::TruncatedNotLast { file, offset: 27 } if file == "1.aof"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("1.aof")).unwrap(), cut);
    }
    // A MULTI left open at the end of a middle file is the same.
    let open_multi = [resp(&["SET", "a", "1"]), resp(&["MULTI"]), resp(&["SET", "b", "2"])].concat();
    write_aof_dir(dir.path(), &[("1.aof", b'i', 1, &open_multi), ("2.aof", b'i', 2, &two)]);
    let err = load_dir(&Database::new(), dir.path(), true).unwrap_err();
    assert!(matches!(&err, AofError::TruncatedNotLast { offset: 27, .. }), "{err}");
}

/// Whether `b` is nothing but `#` annotation lines.
fn only_annotations(b: &[u8]) -> bool {
    b.split_inclusive(|&c| c == b'\n').all(|l| l.starts_with(b"#") && l.ends_with(b"\n"))
}

/// redis-server cuts a truncated last file where our loader does: before the annotations
/// that precede the cut command. Inside a MULTI block Redis first cuts after the last
/// queued command and, at its next start, before MULTI; we cut before MULTI at once (as
/// redis-check-aof --fix does).
#[test]
fn redis_server_truncates_where_we_do() {
    if !require_tool("redis-server") {
        return;
    }
    let set_a = resp(&["SET", "a", "1"]);
    let cases = [
        [set_a.clone(), b"#TS:1700000000\r\n".to_vec(), resp(&["SET", "b", "2"])].concat(),
        [set_a.clone(), resp(&["MULTI"]), resp(&["SET", "b", "2"]), resp(&["EXEC"])].concat(),
    ];
    for (i, body) in cases.iter().enumerate() {
        let cut = &body[..body.len() - 5];
        let dir = TempDir::new("redis-truncate");
        let aof_dir = dir.path().join("appendonlydir");
        let incr = aof_dir.join("appendonly.aof.1.incr.aof");
        write_aof_dir(&aof_dir, &[("appendonly.aof.1.incr.aof", b'i', 1, cut)]);
        let ours = TempDir::new("redis-truncate-ours");
        copy_dir(&aof_dir, ours.path());
        let db = Database::new();
        let stats = load_dir(&db, ours.path(), true).unwrap().unwrap();
        assert_eq!(stats.truncated_at, Some(set_a.len() as u64));
        let expected = ferrous_dataset(&db);
        for start in 0..2 {
            let redis = RedisProc::start(dir.path(), &["--appendonly", "yes", "--aof-load-truncated", "yes"]);
            let mut con = redis.con();
            assert_same(&expected, &redis_dataset(&mut con), "redis-server on the cut file");
            drop(redis);
            let len = std::fs::metadata(&incr).unwrap().len();
            if i == 1 && start == 0 {
                assert_eq!(len, (body.len() - resp(&["EXEC"]).len()) as u64, "Redis's first cut inside MULTI");
            } else {
                assert_eq!(Some(len), stats.truncated_at, "case {i}, start {start}");
            }
        }
    }
}

/// While the dataset is loading, other clients get -LOADING; the loader's own commands
/// must never be dropped as if they had failed (they pass, or the load fails loudly).
#[test]
fn loader_commands_are_not_refused_silently() {
    let db = Database::new();
    let inner = db.inner();
    inner.rdb.alerts.fetch_or(ferrous_core::persistence::ALERT_LOADING, std::sync::atomic::Ordering::Relaxed);
    let body = [resp(&["SET", "a", "1"]), resp(&["SET", "b", "2"])].concat();
    let result = load::replay(&db, &body[..], 0, "x.aof");
    inner.rdb.alerts.fetch_and(!ferrous_core::persistence::ALERT_LOADING, std::sync::atomic::Ordering::Relaxed);
    match result {
        Ok(outcome) => {
            assert_eq!(outcome.errors, 0);
            assert_eq!(db.get("b").unwrap(), Some(b"2".to_vec()));
        }
        Err(AofError::Command { offset: 0, error, .. }) => assert!(error.contains("LOADING"), "{error}"),
        Err(other) => panic!("{other}"),
    }
}

/// Random cuts, byte flips, insertions and splices of a valid file: no panic, and the
/// replay's valid prefix is a command boundary that replays cleanly on its own (the
/// invariants of the `aof_loader` fuzz target, on stable Rust with a fixed seed).
#[test]
fn random_corruption_never_panics() {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let mut valid = b"#TS:1700000000\r\n".to_vec();
    let cmds: Vec<Vec<&str>> = vec![
        vec!["SELECT", "0"],
        vec!["SET", "a", "1"],
        vec!["RPUSH", "l", "x", "y", "z"],
        vec!["MULTI"],
        vec!["INCR", "a"],
        vec!["SELECT", "2"],
        vec!["SADD", "s", "m1", "m2"],
        vec!["EXEC"],
        vec!["HSET", "h", "f", "v"],
        vec!["ZADD", "z", "1.5", "m"],
        vec!["PEXPIREAT", "h", "1800000000000"],
        vec!["MULTI"],
        vec!["DEL", "a"],
        vec!["EXEC"],
        vec!["SET", "big", "0123456789abcdef0123456789abcdef"],
    ];
    for c in &cmds {
        valid.extend(resp(c));
    }
    let seed = std::env::var("FERROUS_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xA0F_10ADu64);
    let mut rng = SmallRng::seed_from_u64(seed);
    let db = Database::new();
    let mut outcomes = [0usize; 3];
    for case in 0..3000 {
        let mut f = valid.clone();
        for _ in 0..rng.gen_range(1..4) {
            match rng.gen_range(0..4) {
                0 => f.truncate(rng.gen_range(0..=f.len())),
                1 if !f.is_empty() => {
                    let i = rng.gen_range(0..f.len());
                    f[i] = rng.gen();
                }
                2 => {
                    let i = rng.gen_range(0..=f.len());
                    const JUNK: &[u8] = b"*$\r\n#0123";
                    let junk: Vec<u8> = (0..rng.gen_range(1..6)).map(|_| JUNK[rng.gen_range(0..JUNK.len())]).collect();
                    f.splice(i..i, junk);
                }
                _ => {
                    let (a, b) = (rng.gen_range(0..=f.len()), rng.gen_range(0..=valid.len()));
                    f.splice(a..a, valid[b..].iter().copied());
                }
            }
        }
        let boundaries: Vec<u64> = {
            let mut r = CommandReader::new(&f[..], 0);
            let mut v = vec![0];
            while r.next_frame().unwrap() == Frame::Command {
                v.push(r.offset());
            }
            v
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let Ok(outcome) = load::replay(&db, &f[..], 0, "x.aof") else {
                outcomes[2] += 1;
                return;
            };
            outcomes[outcome.truncated as usize] += 1;
            assert!(boundaries.contains(&outcome.valid_up_to), "valid prefix ends inside a command");
            let prefix = &f[..outcome.valid_up_to as usize];
            let again = load::replay(&db, prefix, 0, "x.aof").expect("the valid prefix replays");
            assert!(!again.truncated);
            assert_eq!(again.valid_up_to, prefix.len() as u64);
        }));
        if let Err(panic) = run {
            let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
            eprintln!("seed {seed} case {case}: failing input: {hex}");
            std::panic::resume_unwind(panic);
        }
    }
    // Each way a replay can end is exercised.
    assert!(outcomes.iter().all(|&n| n > 100), "clean/truncated/error: {outcomes:?}");
}

// ---------------------------------------------------------------------------------------
// Differential: directories written by redis-server
// ---------------------------------------------------------------------------------------

type Cmd = Vec<Vec<u8>>;

fn cmd(args: &[&str]) -> Cmd {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// Writes before the rewrite: every type and encoding, expiries, MULTI/EXEC, scripts,
/// functions, several databases.
fn writes_before() -> Vec<Cmd> {
    let mut v: Vec<Cmd> = vec![
        cmd(&["SET", "s1", "hello"]),
        cmd(&["SET", "n1", "12345"]),
        cmd(&["INCR", "n1"]),
        cmd(&["APPEND", "s1", " world"]),
        cmd(&["SET", "bin", "\u{0}\r\n\u{ff}x"]),
        cmd(&["SETEX", "ttl1", "1000", "v"]),
        cmd(&["SET", "ttl2", "v", "PX", "500000"]),
        cmd(&["EXPIRE", "n1", "2000"]),
        cmd(&["SET", "p", "x", "EX", "100"]),
        cmd(&["PERSIST", "p"]),
        cmd(&["INCRBYFLOAT", "f1", "1.5"]),
        cmd(&["RPUSH", "l1", "a", "b", "c"]),
        cmd(&["LPUSH", "l1", "z"]),
        cmd(&["LPOP", "l1"]),
        cmd(&["SADD", "st", "1", "2", "3"]),
        cmd(&["SADD", "st2", "a", "b", "c", "d"]),
        cmd(&["SPOP", "st2"]),
        cmd(&["HSET", "h1", "f1", "v1", "f2", "v2"]),
        cmd(&["HINCRBY", "h1", "n", "5"]),
        cmd(&["HINCRBYFLOAT", "h1", "fl", "2.5"]),
        cmd(&["ZADD", "z1", "1", "a", "2", "b", "3.5", "c", "-inf", "m"]),
        cmd(&["ZINCRBY", "z1", "2", "a"]),
        cmd(&["PFADD", "hll", "a", "b", "c"]),
        cmd(&["SETBIT", "bits", "100", "1"]),
        cmd(&["MULTI"]),
        cmd(&["SET", "m1", "1"]),
        cmd(&["INCR", "m1"]),
        cmd(&["LPUSH", "ml", "x"]),
        cmd(&["EXEC"]),
        cmd(&[
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1]); redis.call('rpush', KEYS[2], ARGV[1]); return 1",
            "2",
            "e1",
            "e2",
            "val",
        ]),
        cmd(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function('f', function(k, a) return redis.call('set', k[1], a[1]) end)",
        ]),
        cmd(&["FCALL", "f", "1", "fk", "fv"]),
        cmd(&["SELECT", "5"]),
        cmd(&["SET", "in5", "five"]),
        cmd(&["HSET", "h5", "a", "1"]),
        cmd(&["SELECT", "0"]),
    ];
    let big: Vec<String> = (0..300).map(|i| format!("element-{i}")).collect();
    let mut rpush = vec!["RPUSH", "lbig"];
    rpush.extend(big.iter().map(String::as_str));
    v.push(cmd(&rpush));
    let ints: Vec<String> = (0..700).map(|i| (i * 7).to_string()).collect();
    let mut sadd = vec!["SADD", "sbig"];
    sadd.extend(ints.iter().map(String::as_str));
    v.push(cmd(&sadd));
    let mut hset = vec!["HSET", "hbig"];
    for (i, e) in big.iter().enumerate().take(200) {
        hset.push(e);
        hset.push(if i % 2 == 0 {
            "short"
        } else {
            "a value longer than sixty four bytes ............................."
        });
    }
    v.push(cmd(&hset));
    let scores: Vec<String> = (0..200).map(|i| format!("{}.{}", i / 3, i % 17)).collect();
    let mut zadd = vec!["ZADD", "zbig"];
    for (s, m) in scores.iter().zip(&big) {
        zadd.push(s);
        zadd.push(m);
    }
    v.push(cmd(&zadd));
    v.push(cmd(&["SET", "long", &"x".repeat(5000)]));
    v
}

/// Writes after the rewrite (into the new incr file).
fn writes_after() -> Vec<Cmd> {
    vec![
        cmd(&["DEL", "s1"]),
        cmd(&["SET", "s2", "after"]),
        cmd(&["LPUSH", "l1", "after"]),
        cmd(&["SREM", "st", "2"]),
        cmd(&["HDEL", "h1", "f1"]),
        cmd(&["ZREM", "z1", "b"]),
        cmd(&["GETDEL", "ttl1"]),
        cmd(&["GETEX", "ttl2", "PX", "700000"]),
        cmd(&["RENAME", "n1", "n2"]),
        cmd(&["COPY", "l1", "l1copy"]),
        cmd(&["MOVE", "st", "7"]),
        cmd(&["LMOVE", "lbig", "l1", "LEFT", "RIGHT"]),
        cmd(&["SMOVE", "sbig", "st2", "7"]),
        cmd(&["SINTERSTORE", "inter", "sbig", "st2"]),
        cmd(&["ZUNIONSTORE", "zu", "2", "z1", "zbig", "WEIGHTS", "1", "2"]),
        cmd(&["SORT", "l1", "ALPHA", "STORE", "sorted"]),
        cmd(&["SETRANGE", "bin", "2", "zz"]),
        cmd(&["MULTI"]),
        cmd(&["SELECT", "9"]),
        cmd(&["SET", "in9", "nine"]),
        cmd(&["SELECT", "0"]),
        cmd(&["INCRBYFLOAT", "f1", "0.1"]),
        cmd(&["EXEC"]),
        cmd(&["EVAL", "redis.call('select', 10); redis.call('hset', 'h10', 'f', ARGV[1]); return 1", "0", "ten"]),
        cmd(&["FCALL", "f", "1", "fk2", "fv2"]),
        cmd(&["SELECT", "3"]),
        cmd(&["SET", "in3", "three"]),
        cmd(&["SWAPDB", "3", "4"]),
        cmd(&["SELECT", "5"]),
        cmd(&["FLUSHDB"]),
        cmd(&["SET", "in5b", "again"]),
        cmd(&["SELECT", "0"]),
        cmd(&["BLPOP", "ml", "1"]),
        cmd(&["SET", "ghost", "1", "PX", "300"]),
        cmd(&["INCR", "ghost"]),
        cmd(&["RPUSH", "ghostl", "a"]),
        cmd(&["PEXPIRE", "ghostl", "300"]),
        cmd(&["RPUSH", "ghostl", "b"]),
        cmd(&["EXPIRE", "h5", "5000"]),
    ]
}

fn send_all(con: &mut redis::Connection, cmds: &[Cmd]) {
    let mut pipe = redis::pipe();
    for c in cmds {
        let mut r = redis::cmd(&String::from_utf8_lossy(&c[0]));
        for a in &c[1..] {
            r.arg(&a[..]);
        }
        pipe.add_command(r);
    }
    let _: Vec<redis::Value> = pipe.query(con).unwrap();
}

/// Runs the corpus on redis-server (`aof-use-rdb-preamble` as given): returns a copy of
/// its AOF directory and its dataset.
fn redis_aof_dir(preamble: bool, scratch: &Path) -> (PathBuf, Dataset) {
    let pre = if preamble { "yes" } else { "no" };
    let redis = RedisProc::start(
        scratch,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--aof-use-rdb-preamble",
            pre,
            "--aof-timestamp-enabled",
            "yes",
            // Keeps history entries in the manifest (checked for Redis's format).
            "--aof-disable-auto-gc",
            if preamble { "no" } else { "yes" },
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut con = redis.con();
    // Keys whose deadline passes must not be deleted by Redis behind our back: the AOF
    // then holds commands that modify keys which are expired by the time it is loaded.
    redis::cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query::<()>(&mut con).unwrap();
    send_all(&mut con, &writes_before());
    redis::cmd("BGREWRITEAOF").query::<()>(&mut con).unwrap();
    wait_rewrite(&mut con);
    // A new second, so that the incr file carries a timestamp annotation.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    std::thread::sleep(Duration::from_millis(1010 - now.subsec_millis() as u64));
    send_all(&mut con, &writes_after());
    // Let the ghosts' deadlines pass, then copy the files before anything reads the keys
    // (a lazy expiry would add a DEL).
    std::thread::sleep(Duration::from_millis(350));
    let copy = scratch.join("copy");
    copy_dir(&scratch.join("appendonlydir"), &copy);
    let data = redis_dataset(&mut con);
    drop(redis);
    (copy, data)
}

#[test]
fn redis_aof_directories_load_identically() {
    if !require_tool("redis-server") {
        return;
    }
    let runs: Vec<_> = [true, false]
        .into_iter()
        .map(|preamble| {
            std::thread::spawn(move || {
                let scratch = TempDir::new(if preamble { "diff-rdb" } else { "diff-aof" });
                let (copy, expected) = redis_aof_dir(preamble, scratch.path());
                check_redis_dir(preamble, &copy, &expected, scratch.path());
            })
        })
        .collect();
    for r in runs {
        r.join().unwrap();
    }
}

fn check_redis_dir(preamble: bool, copy: &Path, expected: &Dataset, scratch: &Path) {
    let what = if preamble { "rdb preamble" } else { "aof base" };
    assert!(expected.contains_key(&(10, b"h10".to_vec())) && expected.contains_key(&(9, b"in9".to_vec())));
    assert!(!expected.contains_key(&(0, b"ghost".to_vec())));
    let manifest_bytes = std::fs::read(copy.join("appendonly.aof.manifest")).unwrap();
    let manifest = Manifest::parse(&manifest_bytes).unwrap();
    // What Redis wrote is what we write, history entries included.
    assert_eq!(manifest.to_bytes(), manifest_bytes, "{what}");
    assert_eq!(manifest.history.is_empty(), preamble, "{what}: {}", String::from_utf8_lossy(&manifest_bytes));
    let base = manifest.base.clone().unwrap();
    assert!(base.name.ends_with(if preamble { ".base.rdb" } else { ".base.aof" }), "{what}");
    assert_eq!(manifest.incrs.len(), 1);
    let incr_path = copy.join(&manifest.incrs[0].name);
    let incr = std::fs::read(&incr_path).unwrap();
    assert!(incr.windows(4).any(|w| w == b"#TS:"), "{what}: the incr file has annotations");

    let db = Database::new();
    let stats = load::load(&db, copy, PREFIX, AofLoadOptions { load_truncated: false }).unwrap().unwrap();
    assert!(stats.base_keys > 20 && stats.commands > 30, "{what}: {stats:?}");
    assert_same(expected, &ferrous_dataset(&db), what);

    // The same incr commands split over two incr files (the second starting mid-way at a
    // command boundary) load the same.
    let mut reader = CommandReader::new(&incr[..], 0);
    let mut boundaries = Vec::new();
    let mut in_multi = false;
    while reader.next_frame().unwrap() == Frame::Command {
        let name = reader.args().at(0).to_ascii_lowercase();
        in_multi = (in_multi || name == b"multi") && name != b"exec";
        if !in_multi {
            boundaries.push(reader.offset() as usize);
        }
    }
    // Each file starts in db 0 with a client of its own: split outside MULTI, right before
    // a SELECT.
    let split = boundaries
        .iter()
        .copied()
        .find(|&b| b > incr.len() / 2 && incr[b..].starts_with(b"*2\r\n$6\r\nSELECT"))
        .unwrap_or_else(|| panic!("{what}: no SELECT in the second half"));
    let split_dir = scratch.join("split");
    std::fs::create_dir_all(&split_dir).unwrap();
    std::fs::copy(copy.join(&base.name), split_dir.join(&base.name)).unwrap();
    let mut m = manifest.clone();
    m.history.clear();
    let (a, b) = incr.split_at(split);
    let mut incrs = Vec::new();
    for (i, part) in [a, b].iter().enumerate() {
        let f =
            AofFile { name: Manifest::incr_name(PREFIX, 10 + i as u64), seq: 10 + i as u64, kind: AofFileKind::Incr };
        std::fs::write(split_dir.join(&f.name), part).unwrap();
        incrs.push(f);
    }
    m.incrs = incrs;
    m.cur_incr_seq = 11;
    m.write_atomically(&split_dir, PREFIX).unwrap();
    let db = Database::new();
    load::load(&db, &split_dir, PREFIX, AofLoadOptions { load_truncated: false }).unwrap().unwrap();
    assert_same(expected, &ferrous_dataset(&db), &format!("{what}, split incr"));

    // An old-style single file (base + incr concatenated: an RDB preamble followed by
    // commands, or all commands) is upgraded as Redis upgrades it and loads the same.
    let old_dir = scratch.join("old");
    std::fs::create_dir_all(&old_dir).unwrap();
    let mut old = std::fs::read(copy.join(&base.name)).unwrap();
    old.extend_from_slice(&incr);
    std::fs::write(old_dir.join(PREFIX), &old).unwrap();
    let redis_old = scratch.join("old-redis");
    copy_dir(&old_dir, &redis_old);
    assert!(load::upgrade_old_aof(&old_dir, PREFIX, "appendonlydir").unwrap());
    assert!(!old_dir.join(PREFIX).exists());
    let aof_dir = old_dir.join("appendonlydir");
    assert_eq!(std::fs::read(aof_dir.join(PREFIX)).unwrap(), old);
    let ours = std::fs::read(aof_dir.join("appendonly.aof.manifest")).unwrap();
    assert_eq!(ours, b"file appendonly.aof seq 1 type b\n".to_vec());
    // Nothing more to upgrade the second time.
    assert!(!load::upgrade_old_aof(&old_dir, PREFIX, "appendonlydir").unwrap());
    let db = Database::new();
    load::load(&db, &aof_dir, PREFIX, AofLoadOptions { load_truncated: false }).unwrap().unwrap();
    assert_same(expected, &ferrous_dataset(&db), &format!("{what}, upgraded old-style file"));
    // redis-server upgrades the same file the same way (and then adds an incr file).
    let redis = RedisProc::start(
        &redis_old,
        &["--appendonly", "yes", "--aof-use-rdb-preamble", if preamble { "yes" } else { "no" }],
    );
    let mut con = redis.con();
    let theirs = redis_dataset(&mut con);
    drop(redis);
    let m = Manifest::parse(&std::fs::read(redis_old.join("appendonlydir/appendonly.aof.manifest")).unwrap()).unwrap();
    assert_eq!(Some(m.base.unwrap()), Manifest::parse(&ours).unwrap().base, "{what}");
    assert_same(expected, &theirs, &format!("{what}, redis-server on the old-style file"));
}

/// The old-style upgrade's conditions, as Redis's `loadAppendOnlyFiles` states them.
#[test]
fn upgrade_conditions() {
    let dir = TempDir::new("upgrade");
    let server = dir.path();
    let aof_dir = server.join("appendonlydir");
    // No old file: nothing to do.
    assert!(!load::upgrade_old_aof(server, PREFIX, "appendonlydir").unwrap());
    std::fs::write(server.join(PREFIX), resp(&["SET", "k", "v"])).unwrap();
    // A directory whose manifest lists incr files: the old file is left alone.
    write_aof_dir(&aof_dir, &[("appendonly.aof.1.incr.aof", b'i', 1, b"")]);
    assert!(!load::upgrade_old_aof(server, PREFIX, "appendonlydir").unwrap());
    assert!(server.join(PREFIX).exists());
    // A manifest naming the old file as its only base, the file not moved yet (a crash
    // between the two steps): the move is finished. History entries are kept.
    std::fs::remove_file(aof_dir.join("appendonly.aof.1.incr.aof")).unwrap();
    std::fs::write(
        aof_dir.join("appendonly.aof.manifest"),
        b"file appendonly.aof seq 1 type b\nfile old seq 4 type h\n",
    )
    .unwrap();
    assert!(load::upgrade_old_aof(server, PREFIX, "appendonlydir").unwrap());
    assert_eq!(
        std::fs::read(aof_dir.join("appendonly.aof.manifest")).unwrap(),
        b"file appendonly.aof seq 1 type b\nfile old seq 4 type h\n".to_vec()
    );
    let db = Database::new();
    load::load(&db, &aof_dir, PREFIX, AofLoadOptions::default()).unwrap().unwrap();
    assert_eq!(db.get("k").unwrap(), Some(b"v".to_vec()));
    // An invalid manifest is an error, not an upgrade.
    std::fs::write(server.join(PREFIX), b"").unwrap();
    std::fs::write(aof_dir.join("appendonly.aof.manifest"), b"bad\n").unwrap();
    assert!(matches!(load::upgrade_old_aof(server, PREFIX, "appendonlydir"), Err(AofError::InvalidManifest { .. })));
}

/// Loading speed against redis-server on the same 1M SET commands (time to first PONG).
/// Run with `cargo test -p ferrous-core --release --test aof_load -- --ignored --nocapture`.
#[test]
#[ignore]
fn load_speed_vs_redis() {
    let dir = TempDir::new("speed");
    let aof_dir = dir.path().join("appendonlydir");
    let mut body = Vec::with_capacity(50 << 20);
    body.extend(resp(&["SELECT", "0"]));
    for i in 0..1_000_000 {
        body.extend(resp(&["SET", &format!("key:{i:07}"), &format!("value-{i}")]));
    }
    write_aof_dir(&aof_dir, &[("appendonly.aof.1.incr.aof", b'i', 1, &body)]);
    let ours = TempDir::new("speed-ours");
    copy_dir(&aof_dir, ours.path());
    let mut best = f64::MAX;
    for _ in 0..3 {
        let db = Database::new();
        let t = Instant::now();
        let stats = load_dir(&db, ours.path(), false).unwrap().unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(stats.commands, 1_000_001);
        drop(db);
    }
    println!("ferrous: {best:.3} s for 1M SET");
    if require_tool("redis-server") {
        let mut best_redis = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let redis = RedisProc::start(dir.path(), &["--appendonly", "yes"]);
            let mut con = redis.con();
            loop {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            best_redis = best_redis.min(t.elapsed().as_secs_f64());
            drop(redis);
        }
        println!("redis-server: {best_redis:.3} s to first PONG");
    }
}
