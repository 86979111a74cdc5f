//! The propagation stream seen through `Database::changes()`: ordering, transactions,
//! expiry, and exactness across concurrent writers. Redis's rewrites of individual commands
//! are checked against the recorded corpus in the root package's `tests/propagation.rs`.
use ferrous_core::propagate::Block;
use ferrous_core::{Database, ManualClock};
use std::sync::Arc;
use std::time::Duration;

fn text(block: &Block) -> Vec<String> {
    let mut selected = Some(0);
    block
        .commands(&mut selected)
        .iter()
        .map(|a| a.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>().join(" "))
        .collect()
}

fn next(feed: &ferrous_core::propagate::ChangeFeed) -> Vec<String> {
    text(&feed.recv_timeout(Duration::from_secs(5)).expect("a block"))
}

#[test]
fn writes_reads_and_transactions() {
    let db = Database::new();
    let feed = db.changes();
    db.execute(["SET", "k", "v"]);
    db.execute(["GET", "k"]);
    db.execute(["SADD", "s", "a"]);
    db.execute(["SADD", "s", "a"]); // changes nothing
    db.execute(["DEL", "missing"]);
    assert_eq!(next(&feed), ["SET k v"]);
    assert_eq!(next(&feed), ["SADD s a"]);
    assert!(feed.try_recv().is_none());
    let mut c = db.connect(Default::default());
    c.authenticated = true;
    let mut out = Vec::new();
    for cmd in [&["MULTI"][..], &["INCR", "n"], &["GET", "n"], &["SELECT", "3"], &["SET", "x", "1"], &["EXEC"]] {
        let argv: ferrous_resp::ArgsBuf = cmd.iter().collect();
        db.dispatch(&mut c, argv.as_args(), &mut out);
    }
    assert_eq!(next(&feed), ["MULTI", "INCR n", "SELECT 3", "SET x 1", "EXEC"]);
}

#[test]
fn expired_keys_become_dels() {
    let clock = Arc::new(ManualClock::at(1_700_000_000_000));
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    let feed = db.changes();
    db.execute(["SET", "k", "v", "PX", "100"]);
    let _ = next(&feed);
    clock.advance(200);
    db.execute(["GET", "k"]);
    assert_eq!(next(&feed), ["DEL k"]);
}

#[test]
fn concurrent_increments_replay_to_the_same_value() {
    let db = Database::new();
    let feed = db.changes();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    db.execute(["INCRBY", "counter", &(i % 7).to_string()]);
                    db.execute(["SET", "last", &i.to_string()]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let replica = Database::new();
    let mut seen = 0;
    let mut last_seq = None;
    while let Some(block) = feed.recv_timeout(Duration::from_millis(200)) {
        assert!(last_seq.map_or(true, |s| block.seq > s), "blocks in stream order");
        last_seq = Some(block.seq);
        for c in &block.changes {
            replica.select(c.db).unwrap().execute(&c.args);
            seen += 1;
        }
    }
    assert_eq!(seen, 16000);
    assert_eq!(replica.get("counter").unwrap(), db.get("counter").unwrap());
    assert_eq!(replica.get("last").unwrap(), db.get("last").unwrap());
}
