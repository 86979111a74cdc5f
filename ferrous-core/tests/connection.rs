//! Connection commands in-process: PING ECHO SELECT QUIT RESET HELLO AUTH and the CLIENT
//! subcommands. Expected texts are Redis 7.0.15's replies to the same commands.
use ferrous_core::client::ReplyMode;
use ferrous_core::{ClientState, Config, ConnectionInfo, Database, RespValue as V};

/// Command statistics live in the process-wide command table, shared by every database
/// in this test binary: tests that run commands take this lock so INFO commandstats and
/// CONFIG RESETSTAT see only their own commands.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A persistent connection: state (auth, protocol, name...) survives between commands.
struct Conn {
    db: Database,
    c: ClientState,
}

impl Conn {
    fn new(db: &Database) -> Conn {
        Conn::from(db, "")
    }
    /// A connection that looks like a TCP client from `addr`.
    fn from(db: &Database, addr: &str) -> Conn {
        let info = ConnectionInfo {
            addr: addr.into(),
            laddr: if addr.is_empty() { String::new() } else { "127.0.0.1:6379".into() },
            fd: 8,
            waker: None,
        };
        Conn { db: db.clone(), c: db.connect(info) }
    }
    fn raw(&mut self, args: &[&str]) -> Vec<u8> {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.c, argv.as_args(), &mut out);
        out
    }
    fn cmd(&mut self, args: &[&str]) -> V {
        let out = self.raw(args);
        match ferrous_resp::parse_value(&out).unwrap() {
            Some((v, n)) => {
                assert_eq!(n, out.len(), "one reply expected for {args:?}");
                v
            }
            None => panic!("no reply to {args:?}"),
        }
    }
    /// Runs a command the way the server's event loop does, applying CLIENT REPLY:
    /// `None` when the reply is suppressed.
    fn served(&mut self, args: &[&str]) -> Option<V> {
        if self.c.reply_mode == ReplyMode::Skip {
            self.c.reply_mode = ReplyMode::SkipThis;
        }
        let out = self.raw(args);
        match self.c.reply_mode {
            ReplyMode::Off => return None,
            ReplyMode::SkipThis => {
                self.c.reply_mode = ReplyMode::On;
                return None;
            }
            _ => {}
        }
        ferrous_resp::parse_value(&out).unwrap().map(|(v, _)| v)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.db.disconnect(&self.c);
    }
}

fn ok() -> V {
    V::ok()
}
fn err(s: &str) -> V {
    V::Error(s.into())
}
fn int(i: i64) -> V {
    V::Integer(i)
}
fn bulk(s: &str) -> V {
    V::bulk(s)
}

fn with_password(pass: &str) -> Database {
    let mut config = Config::default();
    config.set("requirepass", &[pass], true).unwrap();
    Database::builder().config(config).build()
}

/// The HELLO reply as flat key/value pairs.
fn hello_pairs(v: &V) -> Vec<(String, V)> {
    let pairs: Vec<(V, V)> = match v {
        V::Map(p) => p.clone(),
        V::Array(items) => items.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
        other => panic!("not a HELLO reply: {other:?}"),
    };
    pairs.into_iter().map(|(k, v)| (String::from_utf8(k.as_bytes().unwrap().to_vec()).unwrap(), v)).collect()
}

#[test]
fn ping_echo() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
    assert_eq!(c.cmd(&["ping", "hi"]), bulk("hi"));
    assert_eq!(c.cmd(&["PING", "a", "b"]), err("ERR wrong number of arguments for 'ping' command"));
    assert_eq!(c.cmd(&["ECHO", "x y"]), bulk("x y"));
    assert_eq!(c.cmd(&["ECHO"]), err("ERR wrong number of arguments for 'echo' command"));
}

#[test]
fn select_and_quit() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["SELECT", "99"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["SELECT", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["SELECT", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(db.select(1).unwrap().get("k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(db.get("k").unwrap(), None);
    assert!(!c.c.close_after_reply);
    assert_eq!(c.cmd(&["QUIT"]), ok());
    assert!(c.c.close_after_reply);
}

#[test]
fn hello_replies_like_redis_7() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let id = c.c.id() as i64;
    let v = c.cmd(&["HELLO"]);
    assert!(matches!(v, V::Array(_)), "RESP2 map is a flat array: {v:?}");
    let expected = vec![
        ("server".to_string(), bulk("redis")),
        ("version".to_string(), bulk("7.0.15")),
        ("proto".to_string(), int(2)),
        ("id".to_string(), int(id)),
        ("mode".to_string(), bulk("standalone")),
        ("role".to_string(), bulk("master")),
        ("modules".to_string(), V::Array(vec![])),
    ];
    assert_eq!(hello_pairs(&v), expected);
    // HELLO 3 answers in RESP3 already.
    let raw = c.raw(&["HELLO", "3"]);
    assert!(raw.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{}", String::from_utf8_lossy(&raw));
    assert_eq!(c.c.resp, 3);
    assert_eq!(c.c.info.resp.load(std::sync::atomic::Ordering::Relaxed), 3);
    // Now nulls are RESP3 nulls.
    assert_eq!(c.raw(&["GET", "missing"]), b"_\r\n");
    let v = c.cmd(&["HELLO", "2"]);
    assert_eq!(hello_pairs(&v)[2], ("proto".to_string(), int(2)));
    assert_eq!(c.raw(&["GET", "missing"]), b"$-1\r\n");
}

#[test]
fn hello_errors() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["HELLO", "4"]), err("NOPROTO unsupported protocol version"));
    assert_eq!(c.cmd(&["HELLO", "1"]), err("NOPROTO unsupported protocol version"));
    assert_eq!(c.cmd(&["HELLO", "abc"]), err("ERR Protocol version is not an integer or out of range"));
    assert_eq!(c.cmd(&["HELLO", "3", "auth"]), err("ERR Syntax error in HELLO option 'auth'"));
    assert_eq!(c.cmd(&["HELLO", "2", "foo"]), err("ERR Syntax error in HELLO option 'foo'"));
    assert_eq!(c.cmd(&["HELLO", "3", "setname", "a", "b"]), err("ERR Syntax error in HELLO option 'b'"));
    // The name was set before the bad option, as in Redis; the protocol was not switched.
    assert_eq!(c.c.resp, 2);
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), bulk("a"));
    assert_eq!(
        c.cmd(&["HELLO", "3", "setname", "a b"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        c.cmd(&["HELLO", "3", "auth", "foo", "x"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    // Without requirepass the default user takes any password.
    let v = c.cmd(&["HELLO", "3", "AUTH", "default", "whatever", "SETNAME", "myname"]);
    assert_eq!(hello_pairs(&v)[2].1, int(3));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), bulk("myname"));
    let stats = db.execute(["INFO", "errorstats"]);
    let text = String::from_utf8(stats.as_bytes().unwrap().to_vec()).unwrap();
    assert!(text.contains("errorstat_NOPROTO:count=2\r\n"), "{text}");
}

#[test]
fn auth_without_password() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let not_configured = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
    assert_eq!(c.cmd(&["AUTH", "x"]), err(not_configured));
    assert_eq!(c.cmd(&["AUTH", "default", "nopass"]), ok());
    assert_eq!(c.cmd(&["AUTH", "a", "b"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(c.cmd(&["AUTH", "Default", "b"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(c.cmd(&["AUTH", "a", "b", "c"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["AUTH"]), err("ERR wrong number of arguments for 'auth' command"));
}

#[test]
fn auth_with_requirepass() {
    let _serial = serial();
    let db = with_password("secret");
    let mut c = Conn::new(&db);
    assert!(!c.c.authenticated);
    assert_eq!(c.cmd(&["PING"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["CLIENT", "ID"]), err("NOAUTH Authentication required."));
    let hello_noauth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
    assert_eq!(c.cmd(&["HELLO"]), err(hello_noauth));
    assert_eq!(c.cmd(&["HELLO", "3"]), err(hello_noauth));
    assert_eq!(c.c.resp, 2, "HELLO refused: protocol unchanged");
    assert_eq!(
        c.cmd(&["HELLO", "3", "AUTH", "default", "wrong"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd(&["AUTH", "wrong"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(
        c.cmd(&["AUTH", "default", "wrong"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd(&["AUTH", "foo", "secret"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(c.cmd(&["PING"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "secret"]), ok());
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
    assert_eq!(c.cmd(&["AUTH", "default", "secret"]), ok());
    // A failed AUTH after a successful one keeps the client authenticated (as Redis).
    assert_eq!(c.cmd(&["AUTH", "nope"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));

    let mut h = Conn::new(&db);
    let v = h.cmd(&["HELLO", "3", "AUTH", "default", "secret"]);
    assert_eq!(hello_pairs(&v)[2].1, int(3));
    assert!(h.c.authenticated);
}

#[test]
fn requirepass_follows_config_set() {
    let _serial = serial();
    let db = Database::new();
    let mut admin = Conn::new(&db);
    assert_eq!(admin.cmd(&["CONFIG", "SET", "requirepass", "pw"]), ok());
    // Existing connections stay authenticated; new ones must AUTH.
    assert_eq!(admin.cmd(&["PING"]), V::Simple("PONG".into()));
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["GET", "k"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "pw"]), ok());
    assert_eq!(admin.cmd(&["CONFIG", "SET", "requirepass", ""]), ok());
    let mut d = Conn::new(&db);
    assert_eq!(d.cmd(&["PING"]), V::Simple("PONG".into()));
    assert_eq!(
        d.cmd(&["AUTH", "x"]),
        err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    );
}

#[test]
fn reset_restores_a_fresh_connection() {
    let _serial = serial();
    let db = with_password("pw");
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["RESET"]), V::Simple("RESET".into()), "RESET needs no auth");
    c.cmd(&["AUTH", "pw"]);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["CLIENT", "SETNAME", "n"]);
    c.cmd(&["CLIENT", "NO-EVICT", "on"]);
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["WATCH", "w"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "x", "1"]);
    assert_eq!(c.cmd(&["RESET"]), V::Simple("RESET".into()));
    assert_eq!(c.c.db, 0);
    assert_eq!(c.c.resp, 2);
    assert!(!c.c.authenticated, "default user has a password again");
    assert!(!c.c.tx.in_multi());
    assert!(c.c.tx.watched.is_empty());
    c.cmd(&["AUTH", "pw"]);
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), V::Null);
    assert_eq!(c.cmd(&["GET", "x"]), V::Null, "the transaction was discarded");
    let info = c.cmd(&["CLIENT", "INFO"]);
    let line = String::from_utf8(info.as_bytes().unwrap().to_vec()).unwrap();
    assert!(line.contains(" flags=e "), "NO-EVICT survives RESET: {line}");
    assert!(line.contains(" db=0 "), "{line}");
    assert_eq!(c.cmd(&["RESET", "x"]), err("ERR wrong number of arguments for 'reset' command"));
}

#[test]
fn reset_drops_subscriptions_and_tracking() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    c.cmd(&["CLIENT", "TRACKING", "on"]);
    c.raw(&["SUBSCRIBE", "ch"]);
    assert_eq!(db.publish("ch", "m"), 1);
    assert_eq!(c.cmd(&["RESET"]), V::Simple("RESET".into()));
    assert_eq!(db.publish("ch", "m"), 0);
    assert!(c.c.tracking.is_none());
    assert_eq!(c.cmd(&["CLIENT", "TRACKINGINFO"]), c.cmd(&["CLIENT", "TRACKINGINFO"]));
    assert_eq!(c.cmd(&["CLIENT", "GETREDIR"]), int(-1));
}

#[test]
fn client_id_and_names() {
    let _serial = serial();
    let db = Database::new();
    let mut a = Conn::new(&db);
    let mut b = Conn::new(&db);
    let (ia, ib) = (a.cmd(&["CLIENT", "ID"]), b.cmd(&["CLIENT", "ID"]));
    assert_eq!(ia, int(a.c.id() as i64));
    assert!(matches!((ia, ib), (V::Integer(x), V::Integer(y)) if y > x));
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), V::Null);
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "a b"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "a\nb"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "é"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "foo"]), ok());
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), bulk("foo"));
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", ""]), ok());
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), V::Null);
    assert_eq!(a.cmd(&["CLIENT", "ID", "x"]), err("ERR wrong number of arguments for 'client|id' command"));
    assert_eq!(
        a.cmd(&["CLIENT", "SETINFO", "lib-name", "x"]),
        err("ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.")
    );
}

fn text(v: V) -> String {
    match v {
        V::Bulk(b) | V::Verbatim(_, b) => String::from_utf8(b).unwrap(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn client_info_and_list_format() {
    let _serial = serial();
    let db = Database::new();
    let mut a = Conn::from(&db, "127.0.0.1:50001");
    let mut b = Conn::from(&db, "10.0.0.2:50002");
    a.cmd(&["CLIENT", "SETNAME", "alpha"]);
    a.cmd(&["SELECT", "2"]);
    b.cmd(&["GET", "x"]);
    let line = text(a.cmd(&["CLIENT", "INFO"]));
    assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{line:?}");
    let fields: Vec<&str> = line.trim_end().split(' ').map(|f| f.split('=').next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "id",
            "addr",
            "laddr",
            "fd",
            "name",
            "age",
            "idle",
            "flags",
            "db",
            "sub",
            "psub",
            "ssub",
            "multi",
            "qbuf",
            "qbuf-free",
            "argv-mem",
            "multi-mem",
            "rbs",
            "rbp",
            "obl",
            "oll",
            "omem",
            "tot-mem",
            "events",
            "cmd",
            "user",
            "redir",
            "resp"
        ]
    );
    let id = a.c.id();
    assert!(line.starts_with(&format!("id={id} addr=127.0.0.1:50001 laddr=127.0.0.1:6379 fd=8 name=alpha age=0 idle=0 flags=N db=2 sub=0 psub=0 ssub=0 multi=-1 ")), "{line}");
    assert!(line.contains(" cmd=client|info user=default redir=-1 resp=2\n"), "{line}");

    let list = text(a.cmd(&["CLIENT", "LIST"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].contains(" cmd=client|list "), "{}", lines[0]);
    assert!(lines[1].starts_with(&format!("id={} addr=10.0.0.2:50002 ", b.c.id())));
    assert!(lines[1].contains(" cmd=NULL ") || lines[1].contains(" cmd=get "), "{}", lines[1]);

    // RESP3: a verbatim string.
    a.cmd(&["HELLO", "3"]);
    assert!(a.raw(&["CLIENT", "INFO"]).starts_with(b"="));
    a.cmd(&["HELLO", "2"]);

    let only_b = text(a.cmd(&["CLIENT", "LIST", "ID", &b.c.id().to_string()]));
    assert_eq!(only_b.lines().count(), 1);
    assert!(only_b.starts_with(&format!("id={} ", b.c.id())));
    let twice = text(a.cmd(&["CLIENT", "LIST", "ID", &b.c.id().to_string(), "999999", &b.c.id().to_string()]));
    assert_eq!(twice.lines().count(), 2, "repeated ids are listed again, as in Redis");
    assert_eq!(text(a.cmd(&["CLIENT", "LIST", "ID", "0"])), "");
    assert_eq!(text(a.cmd(&["CLIENT", "LIST", "ID", "-1"])), "");
    assert_eq!(a.cmd(&["CLIENT", "LIST", "ID", "5", "abc"]), err("ERR Invalid client ID"));
    assert_eq!(a.cmd(&["CLIENT", "LIST", "ID"]), err("ERR syntax error"));
    assert_eq!(a.cmd(&["CLIENT", "LIST", "foo"]), err("ERR syntax error"));
    assert_eq!(a.cmd(&["CLIENT", "LIST", "TYPE", "normal", "extra"]), err("ERR syntax error"));
    assert_eq!(a.cmd(&["CLIENT", "LIST", "TYPE", "foo"]), err("ERR Unknown client type 'foo'"));
    assert_eq!(text(a.cmd(&["CLIENT", "LIST", "TYPE", "Normal"])).lines().count(), 2);
    for t in ["master", "replica", "slave", "pubsub"] {
        assert_eq!(text(a.cmd(&["CLIENT", "LIST", "TYPE", t])), "", "{t}");
    }
    // A subscriber is a pubsub client, with flag P and its counts.
    b.raw(&["SUBSCRIBE", "c1", "c2"]);
    b.raw(&["PSUBSCRIBE", "p*"]);
    // What the dispatcher does after each command: refresh the mirrors others list.
    b.c.sync_info();
    let pubsub = text(a.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]));
    assert_eq!(pubsub.lines().count(), 1, "{pubsub}");
    assert!(pubsub.contains(" flags=P ") && pubsub.contains(" sub=2 psub=1 ssub=0 "), "{pubsub}");
}

#[test]
fn client_list_shows_multi_and_tracking() {
    let _serial = serial();
    let db = Database::new();
    let mut a = Conn::new(&db);
    let mut b = Conn::new(&db);
    b.cmd(&["MULTI"]);
    b.cmd(&["SET", "k", "v"]);
    b.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &a.c.id().to_string()]);
    b.c.sync_info();
    let line = text(a.cmd(&["CLIENT", "LIST", "ID", &b.c.id().to_string()]));
    assert!(line.contains(" flags=x ") && line.contains(" multi=2 "), "{line}");
    b.cmd(&["DISCARD"]);
    b.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &a.c.id().to_string()]);
    b.c.sync_info();
    let line = text(a.cmd(&["CLIENT", "LIST", "ID", &b.c.id().to_string()]));
    assert!(line.contains(" flags=t ") && line.contains(&format!(" redir={} ", a.c.id())), "{line}");
}

#[test]
fn client_kill() {
    let _serial = serial();
    let db = Database::new();
    let mut me = Conn::from(&db, "127.0.0.1:40000");
    let other = Conn::from(&db, "127.0.0.1:40001");
    let third = Conn::from(&db, "127.0.0.1:40002");
    assert_eq!(me.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]), err("ERR No such client"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "id"]), err("ERR No such client"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", "99999"]), int(0));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", "abc"]), err("ERR client-id should be greater than 0"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", "0"]), err("ERR client-id should be greater than 0"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", "-5"]), err("ERR client-id should be greater than 0"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", "1", "TYPE"]), err("ERR syntax error"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "foo", "bar"]), err("ERR syntax error"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "MAXAGE", "5"]), err("ERR syntax error"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "SKIPME", "maybe"]), err("ERR syntax error"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "USER", "nobody"]), err("ERR No such user 'nobody'"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "TYPE", "foo"]), err("ERR Unknown client type 'foo'"));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ADDR", "1.2.3.4:5"]), int(0));
    assert_eq!(me.cmd(&["CLIENT", "KILL", "LADDR", "1.1.1.1:1"]), int(0));
    assert_eq!(me.cmd(&["CLIENT", "KILL"]), err("ERR wrong number of arguments for 'client|kill' command"));
    assert!(!other.c.info.killed.load(std::sync::atomic::Ordering::Relaxed));

    // Old form: by address, replies OK.
    assert_eq!(me.cmd(&["CLIENT", "KILL", "127.0.0.1:40001"]), ok());
    assert!(other.c.info.killed.load(std::sync::atomic::Ordering::Relaxed));
    // New form by id.
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", &third.c.id().to_string()]), int(1));
    assert!(third.c.info.killed.load(std::sync::atomic::Ordering::Relaxed));
    // SKIPME defaults to yes: USER default matches everyone but the caller.
    let fourth = Conn::from(&db, "127.0.0.1:40003");
    assert_eq!(me.cmd(&["CLIENT", "KILL", "USER", "default"]), int(3));
    assert!(fourth.c.info.killed.load(std::sync::atomic::Ordering::Relaxed));
    assert!(!me.c.close_after_reply);
    // Killing oneself: the reply comes first, then the connection closes.
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ADDR", "127.0.0.1:40000", "SKIPME", "no"]), int(1));
    assert!(me.c.close_after_reply);
    assert!(!me.c.info.killed.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn client_kill_wakes_the_owner() {
    let _serial = serial();
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let db = Database::new();
    let woken = Arc::new(AtomicUsize::new(0));
    let w = woken.clone();
    let info = ConnectionInfo {
        addr: "127.0.0.1:1".into(),
        laddr: String::new(),
        fd: 9,
        waker: Some(Arc::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        })),
    };
    let victim = db.connect(info);
    let mut me = Conn::new(&db);
    assert_eq!(me.cmd(&["CLIENT", "KILL", "ID", &victim.id().to_string()]), int(1));
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    let line = text(me.cmd(&["CLIENT", "LIST", "ID", &victim.id().to_string()]));
    assert!(line.contains(" flags=A "), "{line}");
    db.disconnect(&victim);
}

#[test]
fn client_no_evict_and_reply() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(c.cmd(&["CLIENT", "NO-EVICT", "ON"]), ok());
    assert!(text(c.cmd(&["CLIENT", "INFO"])).contains(" flags=e "));
    assert_eq!(c.cmd(&["CLIENT", "NO-EVICT", "off"]), ok());
    assert!(text(c.cmd(&["CLIENT", "INFO"])).contains(" flags=N "));
    assert_eq!(c.cmd(&["CLIENT", "NO-EVICT", "maybe"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["CLIENT", "REPLY", "foo"]), err("ERR syntax error"));

    assert_eq!(c.served(&["CLIENT", "REPLY", "ON"]), Some(ok()));
    assert_eq!(c.served(&["CLIENT", "REPLY", "OFF"]), None);
    assert_eq!(c.served(&["SET", "k", "1"]), None);
    assert_eq!(c.served(&["INCR", "k"]), None);
    assert_eq!(c.served(&["CLIENT", "REPLY", "SKIP"]), None, "SKIP while OFF does nothing");
    assert_eq!(c.served(&["CLIENT", "REPLY", "ON"]), Some(ok()));
    assert_eq!(c.served(&["GET", "k"]), Some(bulk("2")));
    assert_eq!(c.served(&["CLIENT", "REPLY", "SKIP"]), None);
    assert_eq!(c.served(&["INCR", "k"]), None, "the next reply is skipped");
    assert_eq!(c.served(&["GET", "k"]), Some(bulk("3")), "and only that one");
    // CLIENT REPLY ON as the skipped command gets its reply (it clears the skip).
    assert_eq!(c.served(&["CLIENT", "REPLY", "SKIP"]), None);
    assert_eq!(c.served(&["CLIENT", "REPLY", "ON"]), Some(ok()));
    assert_eq!(c.served(&["PING"]), Some(V::Simple("PONG".into())));
}

#[test]
fn client_help_is_redis_text() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    let V::Array(lines) = c.cmd(&["CLIENT", "HELP"]) else { panic!() };
    assert_eq!(lines.len(), 48);
    assert_eq!(lines[0], V::Simple("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()));
    assert_eq!(lines[47], V::Simple("    Prints this help.".into()));
    assert_eq!(c.cmd(&["CLIENT", "foo"]), err("ERR unknown subcommand 'foo'. Try CLIENT HELP."));
}

#[test]
fn connection_stats_are_counted() {
    let _serial = serial();
    let db = Database::new();
    let mut c = Conn::new(&db);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["AUTH", "a", "b"]);
    c.cmd(&["ECHO"]);
    c.cmd(&["PING"]);
    let s = text(c.cmd(&["INFO", "commandstats"]));
    assert!(s.contains("cmdstat_auth:calls=1,"), "{s}");
    assert!(s.contains("rejected_calls=0,failed_calls=1\r\n"), "{s}");
    assert!(s.contains("cmdstat_echo:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"), "{s}");
    assert!(s.contains("cmdstat_ping:calls=1,"), "{s}");
    let e = text(c.cmd(&["INFO", "errorstats"]));
    assert_eq!(e, "# Errorstats\r\nerrorstat_ERR:count=1\r\nerrorstat_WRONGPASS:count=1\r\n");
}
