//! In-process scripting throughput: what one EVAL/EVALSHA/FCALL costs through the embedded
//! Lua engine, measured two ways.
//!
//! - `eval/*`: `db.eval(..)` / `db.evalsha(..)`, the typed Rust API (includes building the
//!   argv and decoding the reply into a `RespValue`).
//! - `dispatch/*`: the command table with a reused output buffer, what the server runs per
//!   request (`EVALSHA <sha> 1 key` as `redis-benchmark` sends it).
//!
//! Scripts: `return redis.call('GET', KEYS[1])` and `return redis.call('INCR', KEYS[1])`,
//! the two `tools/bench_custom.sh` compares with Redis over TCP. Run with
//! `cargo bench --bench scripting`.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrous::resp::ArgsBuf;
use ferrous::{ConnectionInfo, Database, RespValue};

const GET: &str = "return redis.call('GET', KEYS[1])";
const INCR: &str = "return redis.call('INCR', KEYS[1])";
const NONE: &[&str] = &[];

fn setup() -> (Database, String, String) {
    let db = Database::new();
    db.set("key", "1").expect("SET");
    let load = |s: &str| match db.execute(["SCRIPT", "LOAD", s]) {
        RespValue::Bulk(b) => String::from_utf8(b).expect("sha"),
        other => panic!("SCRIPT LOAD: {other:?}"),
    };
    let (g, i) = (load(GET), load(INCR));
    (db, g, i)
}

fn typed(c: &mut Criterion) {
    let (db, get_sha, incr_sha) = setup();
    let mut g = c.benchmark_group("eval");
    g.throughput(Throughput::Elements(1));
    g.bench_function("eval_get", |b| b.iter(|| black_box(db.eval(GET, &["key"], NONE))));
    g.bench_function("evalsha_get", |b| b.iter(|| black_box(db.evalsha(&get_sha, &["key"], NONE))));
    g.bench_function("evalsha_incr", |b| b.iter(|| black_box(db.evalsha(&incr_sha, &["key"], NONE))));
    g.finish();
}

fn dispatch(c: &mut Criterion) {
    let (db, get_sha, incr_sha) = setup();
    let mut client = db.connect(ConnectionInfo::default());
    client.authenticated = true;
    let mut out = Vec::with_capacity(256);
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    for (name, sha) in [("evalsha_get", &get_sha), ("evalsha_incr", &incr_sha)] {
        let argv: ArgsBuf = ["EVALSHA", sha.as_str(), "1", "key"].iter().collect();
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                db.dispatch(&mut client, argv.as_args(), &mut out);
                black_box(out.len())
            })
        });
    }
    let get: ArgsBuf = ["GET", "key"].iter().collect();
    g.bench_function("get_for_reference", |b| {
        b.iter(|| {
            out.clear();
            db.dispatch(&mut client, get.as_args(), &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, typed, dispatch);
criterion_main!(benches);
