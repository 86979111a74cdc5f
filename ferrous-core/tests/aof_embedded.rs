//! The append-only file of an embedded Database: writes through the command table are
//! appended before `execute` returns, survive a reopen (without any save), and a rewrite
//! keeps them.
use ferrous_core::{Database, RespValue};

fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ferrous-aof-embedded-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn open(d: &std::path::Path) -> Database {
    Database::builder().dir(d).save_points(&[]).appendonly(true).appendfsync("always").open().unwrap()
}

#[test]
fn writes_survive_reopen_without_a_save() {
    let d = dir("reopen");
    {
        let db = open(&d);
        for i in 0..50 {
            db.execute(["SET", &format!("k{i}"), &i.to_string()]);
        }
        db.execute(["RPUSH", "list", "a", "b", "c"]);
        db.execute(["SET", "ttl", "v", "EX", "1000"]);
        db.execute(["INCRBYFLOAT", "f", "0.5"]);
    }
    assert!(!d.join("dump.rdb").exists(), "no RDB save was asked for");
    let db = open(&d);
    assert_eq!(db.execute(["GET", "k49"]), RespValue::bulk("49"));
    assert_eq!(db.execute(["LLEN", "list"]), RespValue::Integer(3));
    assert_eq!(db.execute(["GET", "f"]), RespValue::bulk("0.5"));
    let pttl = db.execute(["PTTL", "ttl"]);
    assert!(matches!(pttl, RespValue::Integer(t) if t > 900_000), "{pttl:?}");
    // A rewrite in place: the same data, one base and one incr file afterwards.
    assert_eq!(db.execute(["BGREWRITEAOF"]), RespValue::Simple("Background append only file rewriting started".into()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while db.inner().aof.read().as_ref().is_some_and(|a| a.rewriting.load(std::sync::atomic::Ordering::Relaxed)) {
        assert!(std::time::Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    db.execute(["SET", "after-rewrite", "1"]);
    drop(db);
    let db = open(&d);
    assert_eq!(db.execute(["DBSIZE"]), RespValue::Integer(54));
    assert_eq!(db.execute(["GET", "after-rewrite"]), RespValue::bulk("1"));
    let names: Vec<String> = std::fs::read_dir(d.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.iter().filter(|n| n.contains(".base.")).count(), 1, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.contains(".incr.")).count(), 1, "{names:?}");
    drop(db);
    let _ = std::fs::remove_dir_all(&d);
}
