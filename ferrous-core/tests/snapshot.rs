//! In-process tests of the snapshot service and RDB persistence of the embedded Database.
//!
//! The key property: a snapshot is the dataset at the instant it began, exactly, whatever
//! writers do while it is written (overwrites, deletes, expiry changes, FLUSHDB, SWAPDB,
//! RENAME, new keys). The tests compare every key's DUMP payload and deadline before the
//! snapshot began with what a fresh Database loads from the snapshot.
use ferrous_core::rdb::EncodeOptions;
use ferrous_core::snapshot::Snapshot;
use ferrous_core::{Database, RespValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// (db, key) -> (canonical contents with type and encoding, PEXPIRETIME) of every key of
/// every database. Hashtable-encoded sets and hashes iterate in an order that depends on
/// their insertion history, so members are sorted rather than compared as DUMP bytes.
type Image = BTreeMap<(usize, Vec<u8>), (String, i64)>;

fn image(db: &Database) -> Image {
    let mut out = Image::new();
    for i in 0..16 {
        let h = db.select(i).unwrap();
        for key in h.keys("*") {
            let k = key.as_slice();
            let ty = match h.execute([&b"TYPE"[..], k]) {
                RespValue::Simple(t) => t,
                other => panic!("TYPE: {other:?}"),
            };
            let mut items: Vec<String> = match ty.as_str() {
                "string" => vec![format!("{:?}", h.execute([&b"GET"[..], k]))],
                "list" => vec![format!("{:?}", h.execute([&b"LRANGE"[..], k, b"0", b"-1"]))],
                "zset" => vec![format!("{:?}", h.execute([&b"ZRANGE"[..], k, b"0", b"-1", b"WITHSCORES"]))],
                "hash" => elements(h.execute([&b"HGETALL"[..], k]), 2),
                "set" => elements(h.execute([&b"SMEMBERS"[..], k]), 1),
                other => panic!("type {other}"),
            };
            items.sort();
            let enc = format!("{:?}", h.execute([&b"OBJECT"[..], b"ENCODING", k]));
            out.insert((i, key.clone()), (format!("{ty} {enc} {items:?}"), h.pexpire_time(&key)));
        }
    }
    out
}

/// The elements of an array reply, in groups of `n` (hash field and value), for sorting.
fn elements(v: RespValue, n: usize) -> Vec<String> {
    let RespValue::Array(items) = v else { panic!("not an array: {v:?}") };
    let flat: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    flat.chunks(n).map(|c| c.join("=")).collect()
}

/// Asserts two images are equal, naming the first differences (not whole maps).
#[track_caller]
fn assert_same(got: &Image, want: &Image) {
    let mut diffs = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => diffs.push(format!("missing {:?}", (k.0, bulk(&k.1)))),
            Some(g) if g != v => {
                let short = |s: &str| s.chars().take(120).collect::<String>();
                diffs.push(format!(
                    "differs {:?}: {} / {} vs {} / {}",
                    (k.0, bulk(&k.1)),
                    g.1,
                    short(&g.0),
                    v.1,
                    short(&v.0)
                ))
            }
            _ => {}
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        diffs.push(format!("extra {:?}", (k.0, bulk(&k.1))));
    }
    let n = diffs.len();
    diffs.truncate(10);
    assert!(n == 0, "{n} differences (of {} keys), first: {diffs:#?}", want.len());
}

fn bulk(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// A dataset with every type and encoding, expiries, several databases.
fn fill(db: &Database, n: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..n {
        let d = db.select(i % 4).unwrap();
        let k = format!("key:{i}");
        match i % 9 {
            0 => d.set(&k, format!("v{i}")).unwrap(),
            1 => d.set(&k, (rng.gen::<i64>() >> rng.gen_range(0..60)).to_string()).unwrap(),
            2 => d.set(&k, "x".repeat(rng.gen_range(20..3000))).unwrap(),
            3 => {
                let items: Vec<String> = (0..rng.gen_range(1..300)).map(|j| format!("e{j}")).collect();
                d.rpush(&k, &items).unwrap();
            }
            4 => {
                let pairs: Vec<(String, String)> =
                    (0..rng.gen_range(1..200)).map(|j| (format!("f{j}"), "y".repeat(j % 80))).collect();
                d.hset(&k, &pairs).unwrap();
            }
            5 => {
                let m: Vec<String> = (0..rng.gen_range(1..700)).map(|j| j.to_string()).collect();
                d.sadd(&k, &m).unwrap();
            }
            6 => {
                let m: Vec<String> = (0..rng.gen_range(1..300)).map(|j| format!("m{j}")).collect();
                d.sadd(&k, &m).unwrap();
            }
            7 => {
                let items: Vec<(f64, String)> =
                    (0..rng.gen_range(1..300)).map(|j| (rng.gen_range(-1e6..1e6), format!("z{j}"))).collect();
                d.zadd(&k, &items).unwrap();
            }
            _ => {
                let items: Vec<(f64, String)> = (0..5).map(|j| (j as f64 / 3.0, format!("z{j}"))).collect();
                d.zadd(&k, &items).unwrap();
            }
        }
        if i % 5 == 0 {
            d.pexpire(&k, 3_600_000 + i as i64, Default::default()).unwrap();
        }
    }
}

fn load(bytes: &[u8]) -> Database {
    let db = Database::new();
    db.load_from(bytes).expect("snapshot loads");
    db
}

fn begin(db: &Database) -> Snapshot {
    Snapshot::begin(db.inner_arc(), EncodeOptions { compress: true }, Default::default()).expect("snapshot starts")
}

fn write(snap: Snapshot) -> Vec<u8> {
    let mut buf = Vec::new();
    snap.write_to(&mut buf, true).expect("snapshot written");
    buf
}

#[test]
fn round_trip_every_type() {
    let db = Database::new();
    fill(&db, 3000, 1);
    let before = image(&db);
    let mut buf = Vec::new();
    db.snapshot_to(&mut buf).unwrap();
    assert_same(&image(&load(&buf)), &before);
}

#[test]
fn snapshot_is_the_dataset_at_its_start() {
    let db = Database::new();
    fill(&db, 4000, 2);
    let before = image(&db);
    let snap = begin(&db);
    // Every kind of change, to keys the walk has not reached yet.
    let d0 = db.select(0).unwrap();
    let d1 = db.select(1).unwrap();
    for i in (0..4000).step_by(4) {
        let k = format!("key:{i}");
        match i % 7 {
            0 => d0.set(&k, "overwritten").unwrap(),
            1 => {
                d0.del(&[&k]);
            }
            2 => {
                let _ = d0.append(&k, "more");
            }
            3 => {
                d0.pexpire(&k, 10, Default::default()).unwrap();
            }
            4 => {
                d0.persist(&k);
            }
            5 => {
                let _ = d0.rename(&k, format!("renamed:{i}"));
            }
            _ => {
                let _ = d0.lpush(&k, ["new"]);
            }
        }
        d0.set(format!("fresh:{i}"), "new key").unwrap();
    }
    d1.flushdb(Default::default());
    db.swapdb(2, 3).unwrap();
    let captured = snap.captured_by_writers();
    let after = write(snap);
    assert!(captured > 0, "writers ran ahead of the walk");
    assert_same(&image(&load(&after)), &before);
    // And the live dataset did change.
    assert_ne!(image(&db), before);
}

#[test]
fn dropped_snapshot_leaves_the_next_one_complete() {
    let db = Database::new();
    fill(&db, 1000, 3);
    for _ in 0..3 {
        drop(begin(&db));
        // A snapshot abandoned before writing, then changes, then a full one.
        db.set("between", "x").unwrap();
        let before = image(&db);
        assert_same(&image(&load(&write(begin(&db)))), &before);
    }
}

#[test]
fn one_snapshot_at_a_time() {
    let db = Database::new();
    let first = begin(&db);
    assert!(Snapshot::begin(db.inner_arc(), EncodeOptions { compress: false }, Default::default()).is_err());
    drop(first);
    drop(begin(&db));
}

#[test]
fn consistent_under_concurrent_transfers() {
    const KEYS: usize = 200;
    const TOTAL: i64 = 1_000_000;
    let db = Database::new();
    for i in 0..KEYS {
        db.set(format!("acct:{i}"), (TOTAL / KEYS as i64).to_string()).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(t);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && n < 2_000_000 {
                    let (a, b) = (rng.gen_range(0..KEYS), rng.gen_range(0..KEYS));
                    let amount = rng.gen_range(1..100);
                    db.transaction(|tx| {
                        tx.incr_by(format!("acct:{a}"), -amount)?;
                        tx.incr_by(format!("acct:{b}"), amount)
                    })
                    .unwrap();
                    n += 1;
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let mut buf = Vec::new();
        db.snapshot_to(&mut buf).unwrap();
        let copy = load(&buf);
        let sum: i64 =
            (0..KEYS).map(|i| bulk(&copy.get(format!("acct:{i}")).unwrap().unwrap()).parse::<i64>().unwrap()).sum();
        assert_eq!(sum, TOTAL, "a snapshot saw half of a transfer");
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn durable_database_survives_reopen() {
    let dir = std::env::temp_dir().join(format!("ferrous-snapshot-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let before = {
        let db = Database::builder().dir(&dir).save_points(&[]).open().unwrap();
        fill(&db, 500, 4);
        db.save().unwrap();
        let before = image(&db);
        db.set("after-save", "lost without a save point").unwrap();
        before
    };
    assert!(dir.join("dump.rdb").exists());
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("temp-")));
    let db = Database::open(&dir).unwrap();
    assert_same(&image(&db), &before);
    // A save point makes dropping the last handle save.
    db.set("at-drop", "kept").unwrap();
    drop(db);
    let db = Database::open(&dir).unwrap();
    assert_eq!(db.get("at-drop").unwrap(), Some(b"kept".to_vec()));
    let bg = db.bgsave().unwrap();
    bg.wait().unwrap();
    assert_eq!(image(&db).len(), before.len() + 1);
    assert_eq!(db.execute(["LASTSAVE"]), RespValue::Integer(db.last_save()));
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn in_memory_database_touches_no_file() {
    let db = Database::new();
    assert!(db.execute(["SAVE"]).is_error());
    assert!(db.execute(["BGSAVE"]).is_error());
    assert!(matches!(db.save(), Err(ferrous_core::PersistError::Disabled)));
    assert!(matches!(db.bgsave(), Err(ferrous_core::PersistError::Disabled)));
}

#[test]
fn loaded_tables_have_short_chains() {
    let db = Database::new();
    for i in 0..100_000 {
        db.set(format!("key:{i:012}"), "v").unwrap();
    }
    let mut buf = Vec::new();
    db.snapshot_to(&mut buf).unwrap();
    let copy = load(&buf);
    let longest = (0..32).map(|i| copy.inner().keyspace(0).shard_at(i).read().dict.longest_chain()).max().unwrap();
    assert!(longest < 16, "longest chain {longest}");
}

/// A sink that accepts `limit` bytes, then fails every write (a full disk, a closed socket).
struct FailingSink {
    written: usize,
    limit: usize,
}

impl std::io::Write for FailingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written >= self.limit {
            return Err(std::io::Error::other("no space left"));
        }
        let n = buf.len().min(self.limit - self.written);
        self.written += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_fails_the_snapshot_and_leaves_the_next_one_whole() {
    let db = Database::new();
    fill(&db, 2000, 5);
    let mut full = Vec::new();
    db.snapshot_to(&mut full).unwrap();
    for limit in [0, 9, 100, full.len() / 3, full.len() - 1] {
        let mut sink = FailingSink { written: 0, limit };
        assert!(db.snapshot_to(&mut sink).is_err(), "a sink failing at byte {limit} must fail the snapshot");
        // Writers during and after the failed walk, then a complete snapshot.
        db.set(format!("after-failure-{limit}"), "x").unwrap();
        let before = image(&db);
        let mut ok = Vec::new();
        db.snapshot_to(&mut ok).unwrap();
        assert_same(&image(&load(&ok)), &before);
    }
}

#[test]
fn crash_during_save_keeps_the_previous_file() {
    let dir = std::env::temp_dir().join(format!("ferrous-snapshot-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Database::builder().dir(&dir).save_points(&[]).open().unwrap();
    fill(&db, 300, 6);
    db.save().unwrap();
    let saved = std::fs::read(dir.join("dump.rdb")).unwrap();
    let before = image(&db);
    // A save that cannot complete (the target is a directory now, so the rename fails)
    // leaves no temporary file and the old contents readable under the real name once the
    // obstacle is gone; the failure is reported.
    std::fs::rename(dir.join("dump.rdb"), dir.join("kept.rdb")).unwrap();
    std::fs::create_dir_all(dir.join("dump.rdb").join("blocker")).unwrap();
    db.set("unsaved", "1").unwrap();
    assert!(db.save().is_err());
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("temp-")));
    std::fs::remove_dir_all(dir.join("dump.rdb")).unwrap();
    std::fs::rename(dir.join("kept.rdb"), dir.join("dump.rdb")).unwrap();
    assert_eq!(std::fs::read(dir.join("dump.rdb")).unwrap(), saved);
    drop(db);
    let reopened = Database::open(&dir).unwrap();
    assert_same(&image(&reopened), &before);
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}
