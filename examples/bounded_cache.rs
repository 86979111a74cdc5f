//! An in-process cache with a byte budget: `maxmemory` and an LFU policy turn the embedded
//! Database into a bounded cache that keeps the keys a skewed workload asks for most.
//!
//! `cargo run --release --example bounded_cache`
//!
//! Installing the counting allocator makes `used_memory` exact (then it counts the whole
//! process's heap, as Redis's does for redis-server); without it the Database estimates its
//! own data.
use ferrous::Database;

#[global_allocator]
static ALLOC: ferrous::memory::CountingAlloc = ferrous::memory::CountingAlloc;

fn main() {
    ferrous::memory::CountingAlloc::activate();
    let budget = 32 << 20;
    let cache = Database::builder().maxmemory(budget).maxmemory_policy("allkeys-lfu").build();

    // Cache-aside over 1M possible keys, where a few are asked for far more often.
    let value = vec![b'x'; 200];
    let (mut hits, mut requests) = (0u64, 0u64);
    let mut seed = 42u64;
    for _ in 0..2_000_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A skewed key: the cube of a uniform number in [0, 1) favours small ids.
        let u = (seed % 1_000_000) as f64 / 1_000_000.0;
        let id = (u * u * u * 1_000_000.0) as u64;
        let key = format!("item:{id}");
        requests += 1;
        if cache.get_with(&key, |_| ()).is_ok_and(|v| v.is_some()) {
            hits += 1;
        } else {
            cache.set(&key, &value).expect("set");
        }
    }
    println!(
        "budget {} MB, used {:.1} MB, {} keys kept, {} evicted, hit rate {:.1}%",
        budget >> 20,
        cache.used_memory() as f64 / (1 << 20) as f64,
        cache.dbsize(),
        cache.evicted_keys(),
        hits as f64 * 100.0 / requests as f64
    );
}
