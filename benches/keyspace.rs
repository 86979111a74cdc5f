//! In-process keyspace throughput: GET/SET/INCR on 10k preloaded keys, measured two ways.
//!
//! - `typed/*`: the typed API (`db.get`, `db.set`, `db.incr`), what an embedding program
//!   calls. Includes the result allocation (`get` returns an owned `Vec<u8>`).
//! - `dispatch/*`: the command table (`db.dispatch(client, argv, out)`), what the server
//!   runs per request: lookup, arity, auth, handler, reply encoding into a reused buffer.
//!   Subtracting `typed` from `dispatch` shows what the table and the reply sink cost.
//!
//! Every benchmark reports elements/s (one element = one command). The target is at least
//! 5M in-process GET/s on one thread. Run with `cargo bench --bench keyspace`; filter with
//! e.g. `cargo bench --bench keyspace -- typed/get`.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrous::resp::ArgsBuf;
use ferrous::{ClientState, ConnectionInfo, Database};

/// Keys preloaded before every benchmark (and cycled through by it).
const KEYS: usize = 10_000;

fn key(i: usize) -> String {
    format!("key:{i:08}")
}

/// A database holding `key:00000000..` with 16-byte values and `counter:*` integers.
fn preloaded() -> Database {
    let db = Database::builder().active_expire(false).build();
    for i in 0..KEYS {
        db.set(key(i), format!("value-{i:010}")).expect("preload SET");
        db.set(format!("counter:{i}"), i.to_string()).expect("preload SET counter");
    }
    db
}

/// One prebuilt argv per key, so the loop measures only the command.
fn argvs(f: impl Fn(usize) -> Vec<String>) -> Vec<ArgsBuf> {
    (0..KEYS).map(|i| f(i).into_iter().collect()).collect()
}

fn client(db: &Database) -> ClientState {
    let mut client = db.connect(ConnectionInfo::default());
    client.authenticated = true;
    client
}

fn typed(c: &mut Criterion) {
    let db = preloaded();
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let counters: Vec<String> = (0..KEYS).map(|i| format!("counter:{i}")).collect();
    let mut g = c.benchmark_group("typed");
    g.throughput(Throughput::Elements(1));

    let mut i = 0;
    g.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(db.get(&keys[i]).expect("GET"))
        })
    });
    let mut i = 0;
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(db.get(&counters[i][1..]).expect("GET"))
        })
    });
    let mut i = 0;
    g.bench_function("set", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            db.set(&keys[i], b"value-0123456789").expect("SET")
        })
    });
    let mut i = 0;
    g.bench_function("incr", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(db.incr(&counters[i]).expect("INCR"))
        })
    });
    let mut i = 0;
    g.bench_function("exists", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(db.exists(&keys[i]))
        })
    });
    g.finish();
}

fn dispatch(c: &mut Criterion) {
    let db = preloaded();
    let mut client = client(&db);
    let mut out = Vec::with_capacity(64 * 1024);
    let gets = argvs(|i| vec!["GET".into(), key(i)]);
    let sets = argvs(|i| vec!["SET".into(), key(i), "value-0123456789".into()]);
    let incrs = argvs(|i| vec!["INCR".into(), format!("counter:{i}")]);
    let pings = argvs(|_| vec!["PING".into()]);
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));

    for (name, cmds) in [("get", &gets), ("set", &sets), ("incr", &incrs), ("ping", &pings)] {
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                out.clear();
                db.dispatch(&mut client, cmds[i].as_args(), &mut out);
                black_box(out.len())
            })
        });
    }
    // Replies must be what a client expects, or the numbers above mean nothing.
    out.clear();
    db.dispatch(&mut client, gets[7].as_args(), &mut out);
    assert_eq!(out, b"$16\r\nvalue-0123456789\r\n", "GET after the SET benchmark");
    g.finish();
    db.disconnect(&client);
}

/// Several threads hammering GET on the same database: shows whether the sharded locks
/// scale (on a 2-core machine expect at most ~2x; thread start-up is included).
fn contended(c: &mut Criterion) {
    const PER_THREAD: usize = 20_000;
    let db = preloaded();
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut g = c.benchmark_group("contended");
    g.throughput(Throughput::Elements((threads * PER_THREAD) as u64));
    g.bench_function(format!("get_x{threads}"), |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for t in 0..threads {
                    let (db, keys) = (&db, &keys);
                    s.spawn(move || {
                        for i in 0..PER_THREAD {
                            black_box(db.get(&keys[(i * 7 + t * 131) % KEYS]).expect("GET"));
                        }
                    });
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, typed, dispatch, contended);
criterion_main!(benches);
