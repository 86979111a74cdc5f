//! An in-process work queue on a stream, with a consumer group and two consumers.
//!
//! A producer thread appends jobs to the `jobs` stream (`xadd`). Two worker threads read
//! them through the `workers` consumer group (`xread_group` with `>`): each job goes to
//! exactly one worker, and a worker with nothing to do blocks on the stream (no polling; the
//! next `xadd` wakes it). A worker acknowledges a job (`xack`) once done. One worker "crashes"
//! on one job without acknowledging it; at the end the other worker finds it pending for too
//! long and takes it over with `xautoclaim`, so every job is processed exactly once.
//!
//! Run with `cargo run --example stream_queue`.
use ferrous::prelude::*;
use ferrous::StreamId;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

const JOBS: u64 = 1000;
const STREAM: &str = "jobs";
const GROUP: &str = "workers";

/// One worker: reads jobs for `name` until it sees the `stop` job. Returns how many it did.
fn worker(db: Database, name: &'static str, done: Arc<AtomicU64>, crash_on: Option<u64>) -> u64 {
    let mut processed = 0;
    loop {
        // Blocks up to a second for new jobs; an XADD from the producer wakes it at once.
        let batch = db
            .xread_group(GROUP, name, &[(STREAM, ">")], Some(16), Some(Duration::from_secs(1)), false)
            .expect("XREADGROUP");
        for (_, entries) in batch {
            for e in entries {
                let job: u64 = e
                    .fields
                    .iter()
                    .find(|(f, _)| f == b"job")
                    .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
                    .unwrap_or(u64::MAX);
                if job == u64::MAX {
                    db.xack(STREAM, GROUP, &[e.id]).expect("XACK");
                    return processed;
                }
                if Some(job) == crash_on {
                    // Simulated crash: the job stays pending, owned by this worker.
                    continue;
                }
                processed += 1;
                done.fetch_add(job, Relaxed);
                db.xack(STREAM, GROUP, &[e.id]).expect("XACK");
            }
        }
    }
}

fn main() {
    let db = Database::new();
    db.xgroup_create(STREAM, GROUP, "$", true).expect("XGROUP CREATE");
    let done = Arc::new(AtomicU64::new(0));

    let w1 = {
        let (db, done) = (db.clone(), done.clone());
        std::thread::spawn(move || worker(db, "alice", done, Some(500)))
    };
    let w2 = {
        let (db, done) = (db.clone(), done.clone());
        std::thread::spawn(move || worker(db, "bob", done, None))
    };

    for job in 1..=JOBS {
        db.xadd(STREAM, &[("job", job.to_string())]).expect("XADD");
        if job % 100 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // One stop marker per worker.
    db.xadd(STREAM, &[("job", "stop")]).expect("XADD");
    db.xadd(STREAM, &[("job", "stop")]).expect("XADD");
    let (a, b) = (w1.join().expect("alice"), w2.join().expect("bob"));
    println!("alice processed {a} jobs, bob processed {b}");

    // The crashed job is still pending; reclaim jobs idle for more than 10 ms.
    std::thread::sleep(Duration::from_millis(20));
    let pending = db.xpending(STREAM, GROUP, "-", "+", 10, None).expect("XPENDING");
    println!(
        "pending after the run: {:?}",
        pending
            .iter()
            .map(|p| (p.id.to_string(), String::from_utf8_lossy(&p.consumer).into_owned()))
            .collect::<Vec<_>>()
    );
    let claim = db.xautoclaim(STREAM, GROUP, "bob", Duration::from_millis(10), StreamId::MIN, 10).expect("XAUTOCLAIM");
    for e in &claim.claimed {
        let job: u64 = std::str::from_utf8(&e.fields[0].1).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
        done.fetch_add(job, Relaxed);
        db.xack(STREAM, GROUP, &[e.id]).expect("XACK");
        println!("bob reclaimed job {job} ({}) from alice", e.id);
    }

    let expected = JOBS * (JOBS + 1) / 2;
    assert_eq!(done.load(Relaxed), expected, "every job processed exactly once");
    assert_eq!(a + b + claim.claimed.len() as u64, JOBS);
    assert!(db.xpending(STREAM, GROUP, "-", "+", 10, None).expect("XPENDING").is_empty());
    println!("all {JOBS} jobs done; the stream holds {} entries", db.xlen(STREAM).expect("XLEN"));
}
