//! A program serving its own in-process cache over RESP.
//!
//! The program fills a `Database` through the typed API (product records with a TTL, a
//! feature-flag hash, a counter), then exposes that same database on a TCP port with
//! `ferrous::Server`, while it keeps working on it: every 500 ms it bumps a heartbeat counter
//! and reads a flag that an operator may change from outside. Nothing is copied: clients and
//! the program share one keyspace.
//!
//! Run it, then from another terminal:
//!
//! ```text
//! cargo run --release --example serve_embedded            # serves 127.0.0.1:6380 for 60 s
//! redis-cli -p 6380 GET product:42                        # what the program cached
//! redis-cli -p 6380 TTL product:42                        # its time to live
//! redis-cli -p 6380 HSET flags banner on                  # the program prints the change
//! redis-cli -p 6380 GET heartbeat                         # the program's own counter
//! redis-cli -p 6380 SHUTDOWN                              # stops the server, not the data
//! ```
//!
//! Options: `--port N` (0 picks a free port), `--seconds N` (0: until a client sends
//! SHUTDOWN).
use ferrous::prelude::*;
use std::time::{Duration, Instant};

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut port = 6380u16;
    let mut seconds = 60u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--port" => port = value.parse()?,
            "--seconds" => seconds = value.parse()?,
            _ => return Err(format!("unknown option {arg} (try --port N, --seconds N)").into()),
        }
    }

    // The program's cache, filled through the typed API.
    let db = Database::new();
    for id in 0..1000 {
        let record = format!("{{\"id\":{id},\"name\":\"product {id}\",\"price\":{}}}", 100 + id % 37);
        db.setex(format!("product:{id}"), 3600, record)?;
    }
    db.hset("flags", &[("banner", "off"), ("checkout", "v2")])?;
    db.set("heartbeat", "0")?;

    // The same database, on a socket.
    let server = ferrous::Server::builder(db.clone())
        .bind(format!("127.0.0.1:{port}"))
        .io_threads(2)
        .config("maxclients", "100")
        .config("loglevel", "warning")
        .start()?;
    let addr = server.local_addr();
    println!("serving {} keys on {addr}; try: redis-cli -p {} GET product:42", db.dbsize(), addr.port());

    // The program goes on using its cache while clients use it too.
    let started = Instant::now();
    let mut banner = flag(&db, "banner")?;
    while server.is_running() && (seconds == 0 || started.elapsed() < Duration::from_secs(seconds)) {
        std::thread::sleep(Duration::from_millis(500));
        db.incr("heartbeat")?;
        let now = flag(&db, "banner")?;
        if now != banner {
            println!("flag banner changed from outside: {banner:?} -> {now:?}");
            banner = now;
        }
    }
    if server.is_running() {
        server.stop();
        println!("stopped serving; the cache still holds {} keys", db.dbsize());
    } else {
        println!("a client sent SHUTDOWN; the cache still holds {} keys", db.dbsize());
    }
    Ok(())
}

fn flag(db: &Database, name: &str) -> Result<Option<String>> {
    Ok(db.hget("flags", name)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}
