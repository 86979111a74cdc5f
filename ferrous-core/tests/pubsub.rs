//! Pub/Sub, keyspace notifications and client-side caching, in-process, several clients.
use ferrous_core::{ClientState, ConnectionInfo, Database, RespValue as V};
use std::sync::Arc;
use std::time::Duration;

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
    fn resp3(db: &Database) -> Session {
        let mut s = Session::new(db);
        s.c.resp = 3;
        s
    }
    /// Every reply value the command produced (SUBSCRIBE a b gives two).
    fn cmd_all(&mut self, args: &[&str]) -> Vec<V> {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.c, argv.as_args(), &mut out);
        parse_all(&out)
    }
    fn cmd(&mut self, args: &[&str]) -> V {
        let mut v = self.cmd_all(args);
        assert_eq!(v.len(), 1, "{args:?} gave {v:?}");
        v.remove(0)
    }
    /// Messages delivered out of band (pub/sub, invalidations).
    fn pushes(&mut self) -> Vec<V> {
        let mut out = Vec::new();
        if let Some(ps) = &self.c.pubsub {
            ps.sink.drain_into(&mut out);
        }
        parse_all(&out)
    }
}

fn parse_all(mut b: &[u8]) -> Vec<V> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (x, n) = ferrous_resp::parse_value(b).unwrap().expect("complete reply");
        v.push(x);
        b = &b[n..];
    }
    v
}

fn arr(items: &[&str]) -> V {
    V::Array(items.iter().map(V::bulk).collect())
}
fn msg3(kind: &str, ch: &str, n: i64) -> V {
    V::Array(vec![V::bulk(kind), V::bulk(ch), V::Integer(n)])
}

#[test]
fn subscribe_publish_unsubscribe() {
    let db = Database::new();
    let mut sub = Session::new(&db);
    let mut publisher = Session::new(&db);
    assert_eq!(sub.cmd_all(&["SUBSCRIBE", "a", "b"]), vec![msg3("subscribe", "a", 1), msg3("subscribe", "b", 2)]);
    assert_eq!(sub.cmd(&["PSUBSCRIBE", "n*"]), msg3("psubscribe", "n*", 3));
    assert_eq!(publisher.cmd(&["PUBLISH", "a", "hi"]), V::Integer(1));
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "x"]), V::Integer(1));
    assert_eq!(publisher.cmd(&["PUBLISH", "zzz", "x"]), V::Integer(0));
    assert_eq!(sub.pushes(), vec![arr(&["message", "a", "hi"]), arr(&["pmessage", "n*", "news", "x"])]);
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "a", "b", "c"]),
        V::Array(vec![V::bulk("a"), V::Integer(1), V::bulk("b"), V::Integer(1), V::bulk("c"), V::Integer(0)])
    );
    assert_eq!(publisher.cmd(&["PUBSUB", "NUMPAT"]), V::Integer(1));
    let V::Array(mut chans) = publisher.cmd(&["PUBSUB", "CHANNELS"]) else { panic!() };
    chans.sort_by(|x, y| x.as_bytes().cmp(&y.as_bytes()));
    assert_eq!(chans, vec![V::bulk("a"), V::bulk("b")]);
    assert_eq!(sub.cmd(&["UNSUBSCRIBE", "a"]), msg3("unsubscribe", "a", 2));
    assert_eq!(sub.cmd(&["PUNSUBSCRIBE"]), msg3("punsubscribe", "n*", 1));
    assert_eq!(sub.cmd(&["UNSUBSCRIBE"]), msg3("unsubscribe", "b", 0));
    assert_eq!(sub.cmd(&["UNSUBSCRIBE"]), V::Array(vec![V::bulk("unsubscribe"), V::Null, V::Integer(0)]));
    assert_eq!(publisher.cmd(&["PUBLISH", "a", "hi"]), V::Integer(0));
}

#[test]
fn resp2_subscribed_mode_restrictions() {
    let db = Database::new();
    let mut sub = Session::new(&db);
    sub.cmd(&["SUBSCRIBE", "a"]);
    assert_eq!(
        sub.cmd(&["GET", "x"]),
        V::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );
    // RESP3 clients may run anything while subscribed.
    let mut sub3 = Session::resp3(&db);
    sub3.cmd(&["SUBSCRIBE", "a"]);
    assert_eq!(sub3.cmd(&["GET", "x"]), V::Null);
}

#[test]
fn resp3_messages_are_pushes_and_self_publish_comes_first() {
    let db = Database::new();
    let mut s = Session::resp3(&db);
    assert_eq!(s.cmd(&["SUBSCRIBE", "a"]), V::Push(vec![V::bulk("subscribe"), V::bulk("a"), V::Integer(1)]));
    // Publishing to itself: the message precedes the PUBLISH reply, as in Redis.
    assert_eq!(
        s.cmd_all(&["PUBLISH", "a", "me"]),
        vec![V::Push(vec![V::bulk("message"), V::bulk("a"), V::bulk("me")]), V::Integer(1)]
    );
}

#[test]
fn shard_channels() {
    let db = Database::new();
    let mut sub = Session::new(&db);
    let mut p = Session::new(&db);
    assert_eq!(sub.cmd(&["SSUBSCRIBE", "s1"]), msg3("ssubscribe", "s1", 1));
    assert_eq!(p.cmd(&["PUBLISH", "s1", "x"]), V::Integer(0), "shard channels are a separate namespace");
    assert_eq!(p.cmd(&["SPUBLISH", "s1", "y"]), V::Integer(1));
    assert_eq!(sub.pushes(), vec![arr(&["smessage", "s1", "y"])]);
    assert_eq!(p.cmd(&["PUBSUB", "SHARDNUMSUB", "s1"]), V::Array(vec![V::bulk("s1"), V::Integer(1)]));
    assert_eq!(sub.cmd(&["SUNSUBSCRIBE"]), msg3("sunsubscribe", "s1", 0));
}

#[test]
fn in_process_subscription() {
    let db = Database::new();
    let mut local = db.psubscribe(&["ev:*"]);
    let mut wire = Session::new(&db);
    assert_eq!(wire.cmd(&["PUBLISH", "ev:1", "payload"]), V::Integer(1));
    let m = local.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(
        (m.channel.as_slice(), m.pattern.as_deref(), m.payload.as_slice()),
        (&b"ev:1"[..], Some(&b"ev:*"[..]), &b"payload"[..])
    );
    assert!(local.try_recv().is_none());
    drop(local);
    assert_eq!(db.publish("ev:1", "x"), 0, "dropping the subscription unsubscribes");
    // Cross-thread delivery.
    let mut s = db.subscribe(&["t"]);
    let db2 = db.clone();
    let h = std::thread::spawn(move || {
        for i in 0..100 {
            db2.publish("t", i.to_string());
        }
    });
    for i in 0..100 {
        assert_eq!(
            s.recv_timeout(Duration::from_secs(5)).unwrap().payload,
            i.to_string().into_bytes(),
            "publish order"
        );
    }
    h.join().unwrap();
}

#[test]
fn disconnect_cleans_subscriptions() {
    let db = Database::new();
    let mut sub = Session::new(&db);
    sub.cmd(&["SUBSCRIBE", "a"]);
    db.disconnect(&sub.c);
    assert_eq!(db.publish("a", "x"), 0);
}

#[test]
fn tracking_default_mode_resp3() {
    let db = Database::new();
    let mut a = Session::resp3(&db);
    let mut b = Session::new(&db);
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "on"]), V::ok());
    b.cmd(&["SET", "k", "1"]);
    assert_eq!(a.cmd(&["GET", "k"]), V::bulk("1"));
    assert!(a.pushes().is_empty());
    b.cmd(&["SET", "k", "2"]);
    b.cmd(&["SET", "k", "3"]);
    // One invalidation: the key is forgotten until read again.
    assert_eq!(a.pushes(), vec![V::Push(vec![V::bulk("invalidate"), arr(&["k"])])]);
    b.cmd(&["SET", "unread", "x"]);
    assert!(a.pushes().is_empty());
    assert_eq!(a.cmd(&["CLIENT", "GETREDIR"]), V::Integer(0));
    a.cmd(&["GET", "k"]);
    b.cmd(&["FLUSHALL"]);
    assert_eq!(a.pushes(), vec![V::Push(vec![V::bulk("invalidate"), V::Null])]);
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "off"]), V::ok());
    assert_eq!(a.cmd(&["CLIENT", "GETREDIR"]), V::Integer(-1));
}

#[test]
fn tracking_redirect_resp2_bcast_noloop_optin() {
    let db = Database::new();
    let mut target = Session::new(&db);
    target.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut a = Session::new(&db);
    let id = target.c.id().to_string();
    assert_eq!(a.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &id, "BCAST", "PREFIX", "user:", "NOLOOP"]), V::ok());
    let mut b = Session::new(&db);
    b.cmd(&["SET", "user:1", "x"]);
    b.cmd(&["SET", "other", "x"]);
    a.cmd(&["SET", "user:2", "mine"]);
    assert_eq!(
        target.pushes(),
        vec![V::Array(vec![V::bulk("message"), V::bulk("__redis__:invalidate"), arr(&["user:1"])])]
    );
    assert_eq!(
        a.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", "99999"]),
        V::Error("ERR The client ID you want redirect to does not exist".into())
    );
    let mut o = Session::resp3(&db);
    o.cmd(&["CLIENT", "TRACKING", "on", "OPTIN"]);
    o.cmd(&["GET", "k1"]);
    o.cmd(&["CLIENT", "CACHING", "yes"]);
    o.cmd(&["GET", "k2"]);
    b.cmd(&["SET", "k1", "x"]);
    b.cmd(&["SET", "k2", "x"]);
    assert_eq!(o.pushes(), vec![V::Push(vec![V::bulk("invalidate"), arr(&["k2"])])]);
    assert_eq!(
        o.cmd(&["CLIENT", "CACHING", "no"]),
        V::Error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.".into())
    );
}

#[test]
fn keyspace_notifications_for_expiry() {
    let clock = Arc::new(ferrous_core::ManualClock::default());
    let db = Database::builder().clock(clock.clone()).active_expire(false).build();
    db.inner()
        .notify_flags
        .store(ferrous_core::notify::parse_flags("KEx").unwrap(), std::sync::atomic::Ordering::Relaxed);
    let mut sub = db.psubscribe(&["__key*__:*"]);
    db.execute(["SET", "k", "v", "PX", "10"]);
    clock.advance(20);
    assert_eq!(db.get("k").unwrap(), None);
    let mut got = vec![];
    while let Some(m) = sub.recv_timeout(Duration::from_millis(200)) {
        got.push((String::from_utf8(m.channel).unwrap(), String::from_utf8(m.payload).unwrap()));
    }
    assert_eq!(
        got,
        vec![
            ("__keyspace@0__:k".to_string(), "expired".to_string()),
            ("__keyevent@0__:expired".to_string(), "k".to_string())
        ]
    );
}

#[test]
fn ping_while_subscribed() {
    let db = Database::new();
    let mut s = Session::new(&db);
    s.cmd(&["SUBSCRIBE", "a"]);
    assert_eq!(s.cmd(&["PING"]), arr(&["pong", ""]));
    assert_eq!(s.cmd(&["PING", "x"]), arr(&["pong", "x"]));
    let mut s3 = Session::resp3(&db);
    s3.cmd(&["SUBSCRIBE", "a"]);
    assert_eq!(s3.cmd(&["PING"]), V::Simple("PONG".into()));
}
