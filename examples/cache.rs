//! An in-process cache shared by several threads, with the typed API.
//!
//! Four worker threads look up "user profiles" through a cache-aside pattern: `get`, and on a
//! miss compute the value and `set_with` an absolute expiry (`SetExpiry::At`). Hit and miss
//! counters live in the same database (`incr`), an updater thread invalidates entries with
//! `del`, and at the end we wait for the time-to-live to pass and watch the entries expire.
//!
//! Run with `cargo run --example cache`.
use ferrous::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a cached profile stays valid.
const TTL: Duration = Duration::from_millis(400);
/// Distinct users; workers ask for them with a skew, so some are hot.
const USERS: u64 = 200;
const WORKERS: u64 = 4;
const LOOKUPS_PER_WORKER: u64 = 20_000;

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The slow source of truth the cache protects (a database query, an HTTP call...).
fn load_profile(user: u64, loads: &AtomicU64) -> String {
    loads.fetch_add(1, Relaxed);
    std::thread::sleep(Duration::from_micros(50));
    format!("{{\"id\":{user},\"name\":\"user-{user}\",\"plan\":\"{}\"}}", if user % 7 == 0 { "pro" } else { "free" })
}

/// Cache-aside lookup: the value from the cache, or loaded and cached with a deadline.
fn profile(db: &Database, user: u64, loads: &AtomicU64) -> Result<String> {
    let key = format!("profile:{user}");
    if let Some(bytes) = db.get(&key)? {
        db.incr("stats:hits")?;
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    db.incr("stats:misses")?;
    let value = load_profile(user, loads);
    let opts = SetOptions { expiry: SetExpiry::At(unix_ms() + TTL.as_millis() as i64), ..Default::default() };
    db.set_with(&key, &value, opts)?;
    Ok(value)
}

fn main() -> Result<()> {
    let db = Database::new();
    let loads = AtomicU64::new(0);
    let started = Instant::now();

    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (db, loads) = (db.clone(), &loads);
                s.spawn(move || -> Result<()> {
                    // A cheap deterministic skew: low user ids are asked for far more often.
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ w;
                    for _ in 0..LOOKUPS_PER_WORKER {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let user = (x % USERS) * (x % USERS) / USERS;
                        let p = profile(&db, user, loads)?;
                        debug_assert!(p.contains(&format!("\"id\":{user},")));
                    }
                    Ok(())
                })
            })
            .collect();
        // An updater that changes profiles and invalidates their cache entries.
        let updater = {
            let db = db.clone();
            s.spawn(move || {
                let mut invalidated = 0;
                for round in 0..20 {
                    std::thread::sleep(Duration::from_millis(5));
                    let keys: Vec<String> = (0..5).map(|i| format!("profile:{}", (round * 5 + i) % USERS)).collect();
                    invalidated += db.del(&keys);
                }
                invalidated
            })
        };
        for w in workers {
            w.join().expect("worker thread panicked")?;
        }
        let invalidated = updater.join().expect("updater thread panicked");
        println!("updater invalidated {invalidated} cached profiles");
        Ok(())
    })?;

    let elapsed = started.elapsed();
    let hits = db.get("stats:hits")?.map(|v| String::from_utf8_lossy(&v).parse::<u64>().unwrap_or(0)).unwrap_or(0);
    let misses = db.incr_by("stats:misses", 0)? as u64;
    let lookups = WORKERS * LOOKUPS_PER_WORKER;
    println!("{lookups} lookups from {WORKERS} threads in {elapsed:.2?}");
    println!(
        "hits {hits}, misses {misses} (hit ratio {:.1}%), slow loads {}",
        100.0 * hits as f64 / lookups as f64,
        loads.load(Relaxed)
    );
    assert_eq!(hits + misses, lookups, "every lookup is a hit or a miss");
    println!("cached profiles now: {} keys in the database (incl. 2 counters)", db.dbsize());
    if let Some(p) = db.get("profile:0")? {
        println!("profile:0 = {}", String::from_utf8_lossy(&p));
    }

    // Entries carry absolute deadlines; once they pass, reads miss (lazy expiry) and the
    // background cycle reclaims the memory (active expiry).
    std::thread::sleep(TTL + Duration::from_millis(100));
    let still_cached = (0..USERS).filter(|u| db.exists(format!("profile:{u}"))).count();
    println!("after {TTL:?}: {still_cached} profiles still cached; the counters remain: hits={hits}");
    assert_eq!(still_cached, 0, "every profile has expired");
    Ok(())
}
