//! Eviction quality, as a benchmark (ignored by default; it prints figures):
//! `cargo test --release --test eviction_hitrate -- --ignored --nocapture`.
//!
//! A cache workload larger than the budget: 200k keys requested with a Zipfian distribution
//! (exponent 0.99, as YCSB), each GET that misses followed by a SET of a 100-byte value
//! (cache-aside). Both redis-server 7.0 and Ferrous run with the same `maxmemory` and policy;
//! after a warm-up the hit rates are measured over the same request sequence. The issue's
//! target: Ferrous's hit rate at least Redis's.
mod common;

use common::TestServer;
use rand::{rngs::SmallRng, Rng, SeedableRng};

const KEYS: usize = 200_000;
const WARMUP: usize = 300_000;
const MEASURED: usize = 600_000;
const BATCH: usize = 200;

/// Inverse-CDF sampler of a Zipfian distribution over `0..n`.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        for c in cdf.iter_mut() {
            *c /= sum;
        }
        Zipf { cdf }
    }
    fn sample(&self, rng: &mut SmallRng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Runs the workload; returns the hit rate of the measured part.
fn run(server: &TestServer, requests: &[usize]) -> f64 {
    let mut con = server.client();
    let value = vec![b'v'; 100];
    let mut hits = 0usize;
    let mut counted = 0usize;
    for (n, batch) in requests.chunks(BATCH).enumerate() {
        let mut pipe = redis::pipe();
        for k in batch {
            pipe.cmd("GET").arg(format!("key:{k:08}"));
        }
        let got: Vec<Option<Vec<u8>>> = pipe.query(&mut con).expect("GETs");
        let mut sets = redis::pipe();
        let mut misses = 0;
        for (k, v) in batch.iter().zip(&got) {
            if v.is_none() {
                sets.cmd("SET").arg(format!("key:{k:08}")).arg(&value).ignore();
                misses += 1;
            }
        }
        if misses > 0 {
            let _: () = sets.query(&mut con).expect("SETs");
        }
        if n * BATCH >= WARMUP {
            counted += batch.len();
            hits += batch.len() - misses;
        }
    }
    hits as f64 / counted as f64
}

#[test]
#[ignore]
fn zipfian_hit_rate_against_redis() {
    let zipf = Zipf::new(KEYS, 0.99);
    let mut rng = SmallRng::seed_from_u64(7);
    let requests: Vec<usize> = (0..WARMUP + MEASURED).map(|_| zipf.sample(&mut rng)).collect();
    for policy in ["allkeys-lru", "allkeys-lfu"] {
        for maxmemory in ["8mb", "16mb"] {
            let args = ["--maxmemory", maxmemory, "--maxmemory-policy", policy];
            let Some(redis) = TestServer::redis(&args) else { return };
            let ferrous = TestServer::ferrous(&args);
            let r = run(&redis, &requests);
            let f = run(&ferrous, &requests);
            let keys = |s: &TestServer| -> i64 { redis::cmd("DBSIZE").query(&mut s.client()).unwrap_or(0) };
            println!(
                "{policy} maxmemory {maxmemory}: hit rate redis {:.4} ({} keys), ferrous {:.4} ({} keys), ferrous/redis {:.3}",
                r,
                keys(&redis),
                f,
                keys(&ferrous),
                f / r
            );
        }
    }
}
