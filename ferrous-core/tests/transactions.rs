//! MULTI/EXEC/DISCARD/WATCH/UNWATCH, in-process, several clients.
use ferrous_core::{ClientState, ConnectionInfo, Database, RespValue as V};
use std::sync::Arc;

struct Session {
    db: Database,
    c: ClientState,
}

impl Session {
    fn new(db: &Database) -> Session {
        let mut c = db.connect(ConnectionInfo::default());
        c.authenticated = true;
        c.blocking.waker = Some(Arc::new(|| {}));
        Session { db: db.clone(), c }
    }
    fn cmd(&mut self, args: &[&str]) -> V {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.c, argv.as_args(), &mut out);
        match ferrous_resp::parse_value(&out).unwrap() {
            Some((v, n)) => {
                assert_eq!(n, out.len(), "one reply expected for {args:?}");
                v
            }
            None => V::Null,
        }
    }
}

fn ok() -> V {
    V::ok()
}
fn queued() -> V {
    V::Simple("QUEUED".into())
}
fn err(s: &str) -> V {
    V::Error(s.into())
}

#[test]
fn multi_exec_basic() {
    let db = Database::new();
    let mut a = Session::new(&db);
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "k", "1"]), queued());
    assert_eq!(a.cmd(&["INCR", "k"]), queued());
    assert_eq!(a.cmd(&["GET", "k"]), queued());
    assert_eq!(a.cmd(&["EXEC"]), V::Array(vec![ok(), V::Integer(2), V::bulk("2")]));
    assert_eq!(a.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(a.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
}

#[test]
fn runtime_errors_do_not_stop_the_others() {
    let db = Database::new();
    let mut a = Session::new(&db);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "s", "x"]);
    a.cmd(&["INCR", "s"]);
    a.cmd(&["SET", "t", "y"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Array(vec![ok(), err("ERR value is not an integer or out of range"), ok()]));
    assert_eq!(db.get("t").unwrap(), Some(b"y".to_vec()));
}

#[test]
fn queueing_errors_abort() {
    let db = Database::new();
    let mut a = Session::new(&db);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["NOPE", "x"]), err("ERR unknown command 'NOPE', with args beginning with: 'x' "));
    assert_eq!(a.cmd(&["SET", "k"]), err("ERR wrong number of arguments for 'set' command"));
    a.cmd(&["SET", "k", "v"]);
    assert_eq!(a.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
    assert_eq!(db.get("k").unwrap(), None);
    // The client is out of MULTI afterwards.
    assert_eq!(a.cmd(&["SET", "k", "v"]), ok());
}

#[test]
fn nested_multi_and_watch_inside_multi() {
    let db = Database::new();
    let mut a = Session::new(&db);
    a.cmd(&["MULTI"]);
    assert_eq!(a.cmd(&["MULTI"]), err("ERR MULTI calls can not be nested"));
    assert_eq!(a.cmd(&["WATCH", "x"]), err("ERR WATCH inside MULTI is not allowed"));
    // Neither error dooms the transaction.
    a.cmd(&["SET", "k", "v"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Array(vec![ok()]));
}

#[test]
fn discard_drops_the_queue() {
    let db = Database::new();
    let mut a = Session::new(&db);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "k", "v"]);
    assert_eq!(a.cmd(&["DISCARD"]), ok());
    assert_eq!(db.get("k").unwrap(), None);
}

#[test]
fn watch_detects_other_clients_writes() {
    let db = Database::new();
    let mut a = Session::new(&db);
    let mut b = Session::new(&db);
    a.cmd(&["SET", "w", "1"]);
    assert_eq!(a.cmd(&["WATCH", "w"]), ok());
    b.cmd(&["SET", "w", "2"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "w", "3"]);
    assert_eq!(a.cmd(&["EXEC"]), V::NullArray);
    assert_eq!(db.get("w").unwrap(), Some(b"2".to_vec()));
    // After EXEC the watch is gone: the next transaction succeeds.
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "w", "3"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Array(vec![ok()]));
}

#[test]
fn watch_ignores_failed_writes_and_other_keys() {
    let db = Database::new();
    let mut a = Session::new(&db);
    let mut b = Session::new(&db);
    a.cmd(&["SET", "w", "1"]);
    a.cmd(&["WATCH", "w"]);
    // NX on an existing key changes nothing; a write to another key is irrelevant.
    b.cmd(&["SET", "w", "9", "NX"]);
    b.cmd(&["SET", "other", "9"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["GET", "w"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Array(vec![V::bulk("1")]));
}

#[test]
fn watch_own_write_and_unwatch() {
    let db = Database::new();
    let mut a = Session::new(&db);
    a.cmd(&["WATCH", "w"]);
    a.cmd(&["SET", "w", "mine"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["GET", "w"]);
    assert_eq!(a.cmd(&["EXEC"]), V::NullArray);
    a.cmd(&["WATCH", "w"]);
    a.cmd(&["SET", "w", "again"]);
    assert_eq!(a.cmd(&["UNWATCH"]), ok());
    a.cmd(&["MULTI"]);
    a.cmd(&["GET", "w"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Array(vec![V::bulk("again")]));
}

#[test]
fn watch_sees_deletion_flush_and_expiry() {
    let clock = Arc::new(ferrous_core::ManualClock::default());
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    let mut a = Session::new(&db);
    let mut b = Session::new(&db);
    for (setup, action) in [
        (vec!["SET", "w", "1"], vec!["DEL", "w"]),
        (vec!["SET", "w", "1"], vec!["FLUSHALL"]),
        (vec!["SET", "w", "1"], vec!["FLUSHDB"]),
    ] {
        a.cmd(&setup);
        a.cmd(&["WATCH", "w"]);
        b.cmd(&action);
        a.cmd(&["MULTI"]);
        a.cmd(&["PING"]);
        assert_eq!(a.cmd(&["EXEC"]), V::NullArray, "after {action:?}");
    }
    a.cmd(&["SET", "w", "1", "PX", "100"]);
    a.cmd(&["WATCH", "w"]);
    clock.advance(200);
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(a.cmd(&["EXEC"]), V::NullArray, "watched key expired");
}

#[test]
fn watch_missing_key_created_by_other() {
    let db = Database::new();
    let mut a = Session::new(&db);
    let mut b = Session::new(&db);
    a.cmd(&["WATCH", "nokey"]);
    b.cmd(&["SET", "nokey", "x"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(a.cmd(&["EXEC"]), V::NullArray);
}

#[test]
fn exec_is_atomic_across_threads() {
    // Two threads run transactions that move one unit between two counters; a third thread
    // checks the invariant (sum == 0) with MULTI'd reads. No reader may see a half-done
    // transfer.
    let db = Database::new();
    db.set("a", "0").unwrap();
    db.set("b", "0").unwrap();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut s = Session::new(&db);
                for _ in 0..500 {
                    s.cmd(&["MULTI"]);
                    s.cmd(&["INCR", "a"]);
                    s.cmd(&["DECR", "b"]);
                    s.cmd(&["EXEC"]);
                }
            })
        })
        .collect();
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut s = Session::new(&db);
            for _ in 0..500 {
                s.cmd(&["MULTI"]);
                s.cmd(&["GET", "a"]);
                s.cmd(&["GET", "b"]);
                let V::Array(r) = s.cmd(&["EXEC"]) else { panic!("EXEC failed") };
                let n = |v: &V| std::str::from_utf8(v.as_bytes().unwrap()).unwrap().parse::<i64>().unwrap();
                assert_eq!(n(&r[0]) + n(&r[1]), 0, "saw half a transaction");
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    assert_eq!(db.get("a").unwrap(), Some(b"1000".to_vec()));
}

#[test]
fn select_inside_multi_applies_to_later_commands() {
    let db = Database::new();
    let mut a = Session::new(&db);
    a.cmd(&["MULTI"]);
    a.cmd(&["SELECT", "1"]);
    a.cmd(&["SET", "k", "in1"]);
    assert_eq!(a.cmd(&["EXEC"]), V::Array(vec![ok(), ok()]));
    assert_eq!(db.get("k").unwrap(), None);
    assert_eq!(db.select(1).unwrap().get("k").unwrap(), Some(b"in1".to_vec()));
}

#[test]
fn in_process_transaction_is_atomic_and_escaping_handles_are_safe() {
    let db = Database::new();
    db.set("a", "0").unwrap();
    db.set("b", "0").unwrap();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..300 {
                    db.transaction(|tx| {
                        tx.incr_by("a", 1)?;
                        tx.incr_by("b", -1)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for _ in 0..300 {
        let (a, b) = db
            .transaction(|tx| {
                let n = |k: &str| -> i64 { String::from_utf8(tx.get(k).unwrap().unwrap()).unwrap().parse().unwrap() };
                Ok((n("a"), n("b")))
            })
            .unwrap();
        assert_eq!(a + b, 0);
    }
    for w in writers {
        w.join().unwrap();
    }
    // A handle that escapes the closure falls back to normal locking.
    let escaped = db.transaction(|tx| Ok(tx.clone())).unwrap();
    escaped.set("after", "1").unwrap();
    assert_eq!(db.get("after").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn optimistic_retries_until_unchanged() {
    let db = Database::new();
    db.set("n", "0").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < 100 {
                    let r = db
                        .optimistic(
                            &["n"],
                            1,
                            |db| {
                                let v: i64 = String::from_utf8(db.get("n")?.unwrap()).unwrap().parse().unwrap();
                                Ok(v + 1)
                            },
                            |tx, next| tx.set("n", next.to_string()),
                        )
                        .unwrap();
                    if r.is_some() {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Lost updates would leave fewer than 400.
    assert_eq!(db.get("n").unwrap(), Some(b"400".to_vec()));
}

#[test]
fn typed_api_writes_invalidate_watch() {
    let db = Database::new();
    let mut a = Session::new(&db);
    a.cmd(&["WATCH", "k"]);
    db.set("k", "from the typed API").unwrap();
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(a.cmd(&["EXEC"]), V::NullArray);
}

#[test]
fn cross_database_transactions_and_moves_do_not_deadlock() {
    // EXEC locks its database up front and others lazily; MOVE/SWAPDB/FLUSHALL span
    // databases too. Run them all concurrently: every thread must finish.
    let db = Database::new();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut s = Session::new(&db);
                for i in 0..300 {
                    let k = format!("k{}", i % 7);
                    match (t + i) % 5 {
                        0 => {
                            s.cmd(&["MULTI"]);
                            s.cmd(&["SET", &k, "x"]);
                            s.cmd(&["SELECT", "3"]);
                            s.cmd(&["INCR", "n"]);
                            s.cmd(&["SELECT", "0"]);
                            assert!(matches!(s.cmd(&["EXEC"]), V::Array(_)));
                        }
                        1 => {
                            s.cmd(&["MOVE", &k, "3"]);
                        }
                        2 => {
                            s.cmd(&["SWAPDB", "0", "3"]);
                        }
                        3 => {
                            s.cmd(&["SET", &k, "y"]);
                            s.cmd(&["MGET", "k1", "k2", "k3"]);
                        }
                        _ => {
                            db.transaction(|tx| {
                                tx.incr_by("t", 1)?;
                                tx.select(2)?.incr_by("t", 1)
                            })
                            .unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(db.select(2).unwrap().get("t").unwrap().is_some());
}
