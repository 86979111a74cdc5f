//! RDB snapshot and load throughput, in-process (no disk: the stream goes to a `Vec`).
//!
//! - `snapshot/<shape>`: `Database::snapshot_to` of a whole dataset (the walk, the encoding
//!   and the CRC64), what SAVE and BGSAVE spend besides writing the file.
//! - `load/<shape>`: `Database::load_from` of that stream (decoding, building the values
//!   with the encodings Redis would pick, inserting, swapping the keyspaces in).
//!
//! Shapes follow the persistence issue's targets: many small strings, and hashes, sorted
//! sets and lists of 100 elements. Throughput is in keys per second. Compare with Redis with
//! `tools/bench_persistence.sh` (SAVE and start-up load on disk, same data, same run).
//! Run with `cargo bench --bench persistence`.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrous::Database;

const STRINGS: usize = 100_000;
const COLLECTIONS: usize = 1_000;
const ELEMENTS: usize = 100;

fn dataset(shape: &str) -> (Database, usize) {
    let db = Database::builder().active_expire(false).build();
    match shape {
        "strings" => {
            for i in 0..STRINGS {
                db.set(format!("key:{i:012}"), format!("value:{i:010}")).expect("SET");
            }
            return (db, STRINGS);
        }
        "hashes" => {
            for i in 0..COLLECTIONS {
                let pairs: Vec<(String, String)> =
                    (0..ELEMENTS).map(|j| (format!("field:{j}"), format!("v{}", i * j))).collect();
                db.hset(format!("hash:{i}"), &pairs).expect("HSET");
            }
        }
        "zsets" => {
            for i in 0..COLLECTIONS {
                let items: Vec<(f64, String)> =
                    (0..ELEMENTS).map(|j| ((i * 7919 + j * 104729) as f64 / 13.0, format!("member:{j}"))).collect();
                db.zadd(format!("zset:{i}"), &items).expect("ZADD");
            }
        }
        _ => {
            for i in 0..COLLECTIONS {
                let items: Vec<String> = (0..ELEMENTS).map(|j| format!("element:{j}")).collect();
                db.rpush(format!("list:{i}"), &items).expect("RPUSH");
            }
        }
    }
    (db, COLLECTIONS)
}

fn bench(c: &mut Criterion) {
    for shape in ["strings", "hashes", "zsets", "lists"] {
        let (db, keys) = dataset(shape);
        let mut stream = Vec::new();
        db.snapshot_to(&mut stream).expect("snapshot");
        let mut g = c.benchmark_group(shape);
        g.throughput(Throughput::Elements(keys as u64));
        g.sample_size(10);
        g.bench_function("snapshot", |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(stream.len());
                db.snapshot_to(&mut out).expect("snapshot");
                out
            })
        });
        let target = Database::builder().active_expire(false).build();
        g.bench_function("load", |b| b.iter(|| target.load_from(&stream[..]).expect("load")));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
