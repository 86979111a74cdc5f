//! `maxmemory` in-process: which keys each policy evicts, `-OOM` for deny-oom commands,
//! the LFU counter (OBJECT FREQ), how evictions are propagated, and the embedded builder as
//! a bounded cache. This test binary does not install the counting allocator, so the
//! Database uses its estimate of its own memory (`ferrous_core::memory`).
use ferrous_core::{Database, ManualClock, RespValue as V};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_700_000_000_000;

/// A Database on `clock` with `policy`, evicting without a time limit (a debug build is
/// slow enough to hit the default one, and the command would then run).
fn db_with(clock: &Arc<ManualClock>, policy: &str) -> Database {
    let db = Database::builder().clock(clock.clone()).maxmemory_policy(policy).build();
    db.execute(["CONFIG", "SET", "maxmemory-eviction-tenacity", "100"]);
    db
}

fn oom() -> V {
    V::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
}

fn int(v: V) -> i64 {
    match v {
        V::Integer(i) => i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// 100 keys with a TTL (`v0`..`v99`) and 100 without (`p0`..`p99`).
fn fill_mixed(db: &Database) {
    for i in 0..100 {
        db.execute(["SET", &format!("v{i}"), "x", "EX", &(1000 + i).to_string()]);
        db.execute(["SET", &format!("p{i}"), "x"]);
    }
}

#[test]
fn noeviction_refuses_denyoom_commands_only() {
    let clock = Arc::new(ManualClock::at(T0));
    let db = db_with(&clock, "noeviction");
    db.execute(["SET", "a", "1"]);
    db.execute(["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(db.execute(["SET", "b", "2"]), oom());
    assert_eq!(db.execute(["INCR", "a"]), oom());
    assert_eq!(db.execute(["LPUSH", "l", "x"]), oom());
    // Reads and deletions still run.
    assert_eq!(db.execute(["GET", "a"]), V::bulk("1"));
    assert_eq!(db.execute(["DEL", "a"]), V::Integer(1));
    assert_eq!(db.execute(["CONFIG", "SET", "maxmemory", "0"]), V::ok());
    assert_eq!(db.execute(["SET", "b", "2"]), V::ok());
    assert_eq!(db.evicted_keys(), 0);
}

#[test]
fn allkeys_policies_empty_the_database_when_the_budget_is_tiny() {
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let clock = Arc::new(ManualClock::at(T0));
        let db = db_with(&clock, policy);
        fill_mixed(&db);
        db.execute(["SELECT", "3"]);
        db.execute(["CONFIG", "SET", "maxmemory", "1"]);
        // Everything goes, and the write is still refused: memory stays over the limit.
        assert_eq!(db.execute(["SET", "new", "x"]), oom(), "{policy}");
        assert_eq!(db.execute(["DBSIZE"]), V::Integer(0), "{policy}");
        assert_eq!(db.evicted_keys(), 200, "{policy}");
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        let clock = Arc::new(ManualClock::at(T0));
        let db = db_with(&clock, policy);
        fill_mixed(&db);
        db.execute(["CONFIG", "SET", "maxmemory", "1"]);
        assert_eq!(db.execute(["SET", "new", "x"]), oom(), "{policy}");
        assert_eq!(db.execute(["DBSIZE"]), V::Integer(100), "{policy}");
        assert_eq!(db.execute(["EXISTS", "v0", "v50", "v99"]), V::Integer(0), "{policy}");
        assert_eq!(db.execute(["EXISTS", "p0", "p50", "p99"]), V::Integer(3), "{policy}");
        assert_eq!(db.evicted_keys(), 100, "{policy}");
    }
}

/// Sets `maxmemory` to the current use minus `bytes` (so that freeing about that much is
/// enough) and evicts.
fn squeeze(db: &Database, bytes: u64) {
    ferrous_core::memory::refresh_estimate(db.inner());
    let target = db.used_memory() - bytes;
    db.execute(["CONFIG", "SET", "maxmemory", &target.to_string()]);
    assert!(db.evict_now());
}

#[test]
fn volatile_ttl_evicts_the_nearest_deadlines_first() {
    let clock = Arc::new(ManualClock::at(T0));
    let db = db_with(&clock, "volatile-ttl");
    db.execute(["CONFIG", "SET", "maxmemory-samples", "10"]);
    let value = "x".repeat(200);
    for i in 0..1000 {
        db.execute(["SET", &format!("k{i}"), &value, "EX", &(1000 + i).to_string()]);
    }
    squeeze(&db, 30_000);
    let evicted = db.evicted_keys();
    assert!(evicted > 20, "{evicted}");
    let gone_early = (0..100).filter(|i| db.execute(["EXISTS", &format!("k{i}")]) == V::Integer(0)).count();
    let gone_late = (900..1000).filter(|i| db.execute(["EXISTS", &format!("k{i}")]) == V::Integer(0)).count();
    assert!(gone_early > gone_late * 3, "early {gone_early} late {gone_late}");
    assert_eq!(gone_late, 0, "the latest deadlines survive");
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let clock = Arc::new(ManualClock::at(T0));
    let db = db_with(&clock, "allkeys-lru");
    db.execute(["CONFIG", "SET", "maxmemory-samples", "10"]);
    let value = "y".repeat(200);
    for i in 0..4000 {
        db.execute(["SET", &format!("old{i}"), &value]);
    }
    clock.advance(100_000);
    for i in 0..400 {
        db.execute(["GET", &format!("old{i}")]);
    }
    clock.advance(1_000);
    ferrous_core::memory::refresh_estimate(db.inner());
    let budget = db.used_memory();
    db.execute(["CONFIG", "SET", "maxmemory", &budget.to_string()]);
    for i in 0..2000 {
        assert_eq!(db.execute(["SET", &format!("new{i}"), &value]), V::ok());
    }
    ferrous_core::memory::refresh_estimate(db.inner());
    assert!(db.evicted_keys() > 1000, "{}", db.evicted_keys());
    // The estimate is refreshed every few hundred writes: allow that much overshoot.
    assert!(db.used_memory() < budget + budget / 10, "{} > {budget}", db.used_memory());
    let hot_kept = (0..400).filter(|i| db.execute(["EXISTS", &format!("old{i}")]) == V::Integer(1)).count();
    let cold_kept = (400..4000).filter(|i| db.execute(["EXISTS", &format!("old{i}")]) == V::Integer(1)).count();
    assert!(hot_kept >= 390, "hot keys kept: {hot_kept}/400");
    assert!((cold_kept as f64) < 3600.0 * 0.7, "cold keys kept: {cold_kept}/3600");
}

#[test]
fn lfu_counter_counts_accesses_and_decays() {
    let clock = Arc::new(ManualClock::at(T0));
    let db = db_with(&clock, "allkeys-lfu");
    db.execute(["CONFIG", "SET", "lfu-log-factor", "0"]);
    db.execute(["SET", "k", "v"]);
    assert_eq!(db.execute(["OBJECT", "FREQ", "k"]), V::Integer(5));
    for _ in 0..10 {
        db.execute(["GET", "k"]);
    }
    // OBJECT FREQ itself is not an access.
    assert_eq!(db.execute(["OBJECT", "FREQ", "k"]), V::Integer(15));
    assert_eq!(db.execute(["OBJECT", "FREQ", "k"]), V::Integer(15));
    clock.advance(3 * 60_000);
    assert_eq!(db.execute(["OBJECT", "FREQ", "k"]), V::Integer(12));
    db.execute(["GET", "k"]);
    assert_eq!(db.execute(["OBJECT", "FREQ", "k"]), V::Integer(13));
    db.execute(["CONFIG", "SET", "lfu-decay-time", "0"]);
    clock.advance(30 * 60_000);
    assert_eq!(db.execute(["OBJECT", "FREQ", "k"]), V::Integer(13));
    // With the default log factor the counter grows ever more slowly.
    db.execute(["CONFIG", "SET", "lfu-log-factor", "10"]);
    for _ in 0..1000 {
        db.execute(["GET", "k"]);
    }
    let f = int(db.execute(["OBJECT", "FREQ", "k"]));
    assert!((14..60).contains(&f), "{f}");
    // RESTORE ... FREQ sets the counter.
    let V::Bulk(payload) = db.execute(["DUMP", "k"]) else { panic!("no dump") };
    let argv: Vec<&[u8]> = vec![b"RESTORE", b"k2", b"0", &payload, b"FREQ", b"100"];
    assert_eq!(db.execute(argv), V::ok());
    assert_eq!(db.execute(["OBJECT", "FREQ", "k2"]), V::Integer(100));
}

#[test]
fn lfu_evicts_rarely_used_keys() {
    let clock = Arc::new(ManualClock::at(T0));
    let db = db_with(&clock, "allkeys-lfu");
    db.execute(["CONFIG", "SET", "maxmemory-samples", "10"]);
    let value = "z".repeat(200);
    for i in 0..3000 {
        db.execute(["SET", &format!("k{i}"), &value]);
    }
    for _ in 0..20 {
        for i in 0..300 {
            db.execute(["GET", &format!("k{i}")]);
        }
    }
    squeeze(&db, 300_000);
    assert!(db.evicted_keys() > 500);
    let hot_kept = (0..300).filter(|i| db.execute(["EXISTS", &format!("k{i}")]) == V::Integer(1)).count();
    assert!(hot_kept >= 295, "hot keys kept: {hot_kept}/300");
}

#[test]
fn evictions_are_propagated_as_del() {
    let clock = Arc::new(ManualClock::at(T0));
    let db = db_with(&clock, "allkeys-random");
    let feed = db.changes();
    db.execute(["SET", "only", "v"]);
    let _ = feed.recv_timeout(Duration::from_secs(5)).expect("the SET");
    db.execute(["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(db.execute(["SET", "other", "v"]), oom());
    let block = feed.recv_timeout(Duration::from_secs(5)).expect("the eviction");
    let commands = block.commands(&mut None);
    assert!(
        commands.iter().any(|c| c == &[b"DEL".to_vec(), b"only".to_vec()]),
        "{:?}",
        commands
            .iter()
            .map(|c| c.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    db.execute(["CONFIG", "SET", "lazyfree-lazy-eviction", "yes"]);
    db.execute(["CONFIG", "SET", "maxmemory", "0"]);
    db.execute(["SET", "again", "v"]);
    let _ = feed.recv_timeout(Duration::from_secs(5));
    db.execute(["CONFIG", "SET", "maxmemory", "1"]);
    db.execute(["SET", "other", "v"]);
    let block = feed.recv_timeout(Duration::from_secs(5)).expect("the eviction");
    assert!(block.commands(&mut None).iter().any(|c| c == &[b"UNLINK".to_vec(), b"again".to_vec()]));
}

#[test]
fn transaction_with_a_denyoom_command_is_refused() {
    let clock = Arc::new(ManualClock::at(T0));
    let db = db_with(&clock, "noeviction");
    let mut c = db.connect(Default::default());
    c.authenticated = true;
    let mut run = |args: &[&str]| {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        db.dispatch(&mut c, argv.as_args(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    assert_eq!(run(&["MULTI"]), "+OK\r\n");
    assert_eq!(run(&["SET", "a", "1"]), "+QUEUED\r\n");
    db.execute(["CONFIG", "SET", "maxmemory", "1"]);
    // Queuing takes memory: any command is refused inside MULTI, and so is an EXEC whose
    // transaction holds a deny-oom command; the transaction stays open, flagged.
    let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
    assert_eq!(run(&["GET", "a"]), oom);
    assert_eq!(run(&["EXEC"]), oom);
    db.execute(["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(run(&["GET", "a"]), "+QUEUED\r\n");
    assert_eq!(run(&["EXEC"]), "-EXECABORT Transaction discarded because of previous errors.\r\n");
}

#[test]
fn embedded_bounded_cache() {
    let budget = 4 << 20;
    let db = Database::builder().maxmemory(budget).maxmemory_policy("allkeys-lru").build();
    let value = vec![7u8; 1000];
    for i in 0..20_000u32 {
        db.set(format!("item:{i}"), &value).expect("set");
    }
    ferrous_core::memory::refresh_estimate(db.inner());
    assert!(db.evicted_keys() > 10_000, "{}", db.evicted_keys());
    let used = db.used_memory();
    assert!(used <= budget + budget / 10, "{used} > {budget}");
    assert!(db.dbsize() > 2000);
    assert_eq!(db.memory_usage("nosuchkey"), None);
    let latest = db.memory_usage("item:19999").expect("the latest key is kept");
    assert!((1000..1400).contains(&latest), "{latest}");
}
