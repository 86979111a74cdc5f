//! A durable in-process cache: the dataset survives a restart of the program.
//!
//! `Database::open(dir)` loads `dir/dump.rdb` if it exists; writes go on at memory speed;
//! `bgsave()` writes a point-in-time snapshot on the Database's own thread (no fork, writers
//! keep going); save points would also save in the background, and dropping the last handle
//! saves. The file is Redis 7.0's RDB format: `redis-server --dir <dir>` and
//! `ferrous --dir <dir>` load it unchanged.
//!
//! Run it twice with `cargo run --example durable_cache`: the second run finds the first
//! run's data.
use ferrous::prelude::*;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("ferrous-durable-cache-example");
    // Save in the background after 60 s if at least one write happened (and at drop).
    let db = Database::builder().dir(&dir).save_points(&[(60, 1)]).open()?;

    let runs = db.incr_by("example:runs", 1)?;
    println!("run #{runs} (data in {})", dir.display());
    if runs > 1 {
        let last = db.get("example:last-run")?.map(|v| String::from_utf8_lossy(&v).into_owned());
        println!("the previous run left: {}", last.unwrap_or_default());
    }

    // Fill the cache: 10,000 entries with a one-hour time to live.
    let expires = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64 + 3_600_000;
    for i in 0..10_000 {
        db.set_with(
            format!("page:{i}"),
            format!("<html>rendered page {i}</html>"),
            SetOptions { expiry: SetExpiry::At(expires), ..Default::default() },
        )?;
    }
    db.set("example:last-run", format!("run #{runs} cached 10000 pages"))?;

    // A snapshot taken now while this thread keeps writing: the file holds the dataset as
    // of the bgsave call, not the writes that follow.
    let save = db.bgsave()?;
    for i in 0..1_000 {
        db.set(format!("page:{i}"), "updated after the snapshot")?;
    }
    save.wait()?;
    println!("snapshot written; LASTSAVE = {}", db.last_save());

    // The snapshot is also available as a stream, e.g. to ship a copy elsewhere.
    let mut copy = Vec::new();
    db.snapshot_to(&mut copy)?;
    println!("an RDB stream of {} bytes", copy.len());
    Ok(())
    // Dropping `db` here saves once more (save points are configured).
}
