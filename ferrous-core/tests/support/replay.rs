//! Replaying the change stream: a typed-API write must reach `Database::changes()` (and so
//! the AOF and replicas) as commands that rebuild exactly the same data. A [`Mirror`] runs
//! typed calls on one Database, replays its feed through the command table of a second one
//! on the same manual clock, and compares the two with DEBUG DIGEST (which covers every
//! value, encoding-independent, and every TTL).
#![allow(dead_code)]
use ferrous_core::propagate::ChangeFeed;
use ferrous_core::{Database, ManualClock, RespValue};
use std::sync::Arc;
use std::time::Duration;

/// A Database whose writes are replayed into a twin.
pub struct Mirror {
    pub clock: Arc<ManualClock>,
    pub db: Database,
    pub twin: Database,
    feed: ChangeFeed,
    client: ferrous_core::ClientState,
    selected: Option<usize>,
    /// Every command replayed so far, as text (for failure messages and form checks).
    pub log: Vec<String>,
}

impl Mirror {
    pub fn new() -> Mirror {
        let clock = Arc::new(ManualClock::at(1_700_000_000_000));
        let build = || Database::builder().clock(clock.clone()).active_expire(false).build();
        let (db, twin) = (build(), build());
        let feed = db.changes();
        let mut client = twin.connect(Default::default());
        client.authenticated = true;
        Mirror { clock, db, twin, feed, client, selected: Some(0), log: Vec::new() }
    }

    /// Replays everything published so far; returns the commands replayed by this call.
    pub fn sync(&mut self) -> Vec<String> {
        let mut new = Vec::new();
        while let Some(block) = self.feed.recv_timeout(Duration::from_millis(20)) {
            for args in block.commands(&mut self.selected) {
                let argv: ferrous_resp::ArgsBuf = args.iter().collect();
                let mut out = Vec::new();
                self.twin.dispatch(&mut self.client, argv.as_args(), &mut out);
                let text = args.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>().join(" ");
                assert!(!out.starts_with(b"-"), "replaying `{text}` failed: {}", String::from_utf8_lossy(&out));
                new.push(text);
            }
        }
        self.log.extend(new.iter().cloned());
        new
    }

    /// Replays, then asserts the twin holds exactly the same data in every database.
    pub fn check(&mut self, what: &str) {
        self.sync();
        let digest = |db: &Database| db.execute(["DEBUG", "DIGEST"]);
        let (a, b) = (digest(&self.db), digest(&self.twin));
        assert_ne!(a, RespValue::Error("".into()));
        assert_eq!(a, b, "after {what}: the replayed stream built different data; replayed:\n{}", self.log.join("\n"));
    }

    /// Asserts the next replayed commands are exactly `expected`.
    pub fn expect(&mut self, expected: &[&str]) {
        assert_eq!(self.sync(), expected);
    }
}
