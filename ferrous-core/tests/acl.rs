//! ACL in-process: users, the permission check of each command, authentication, the log,
//! disconnections, files, and the typed API. Expected texts are Redis 7.0.15's (see also
//! `tests/acl_differential.rs` at the workspace root, which compares with redis-server).
use ferrous_core::{ClientState, Config, ConnectionInfo, Database, RespValue as V};

/// A persistent connection (authentication and MULTI state survive between commands).
struct Conn {
    db: Database,
    c: ClientState,
}

impl Conn {
    fn new(db: &Database) -> Conn {
        Conn { db: db.clone(), c: db.connect(ConnectionInfo { addr: "127.0.0.1:5000".into(), ..Default::default() }) }
    }
    fn cmd(&mut self, args: &[&str]) -> V {
        let argv: ferrous_resp::ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.c, argv.as_args(), &mut out);
        ferrous_resp::parse_value(&out).unwrap().map(|(v, _)| v).unwrap_or(V::Null)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.db.disconnect(&self.c);
    }
}

fn err(s: &str) -> V {
    V::Error(s.into())
}

const NOPERM_KEY: &str = "NOPERM this user has no permissions to access one of the keys used as arguments";
const NOPERM_CHANNEL: &str = "NOPERM this user has no permissions to access one of the channels used as arguments";

#[test]
fn commands_keys_and_channels_are_checked() {
    let db = Database::new();
    let mut admin = Conn::new(&db);
    assert_eq!(
        admin.cmd(&[
            "ACL",
            "SETUSER",
            "u",
            "on",
            ">pw",
            "~app:*",
            "%R~ro:*",
            "%W~wo:*",
            "&news.*",
            "+@string",
            "-incr",
            "+select|0",
            "+config|get",
            "+publish",
            "+subscribe",
            "+psubscribe",
            "+exists",
            "+del",
            "+multi",
            "+exec",
        ]),
        V::ok()
    );
    let mut u = Conn::new(&db);
    assert_eq!(u.cmd(&["AUTH", "u", "pw"]), V::ok());
    assert_eq!(u.cmd(&["SET", "app:1", "v"]), V::ok());
    assert_eq!(u.cmd(&["GET", "ro:1"]), V::Null);
    assert_eq!(u.cmd(&["SET", "ro:1", "v"]), err(NOPERM_KEY));
    assert_eq!(u.cmd(&["SET", "wo:1", "v"]), V::ok());
    assert_eq!(u.cmd(&["GET", "wo:1"]), err(NOPERM_KEY));
    // SET ... GET reads the key too.
    assert_eq!(u.cmd(&["SET", "wo:1", "v", "GET"]), err(NOPERM_KEY));
    // EXISTS neither reads nor writes the value: any matching pattern will do.
    assert_eq!(u.cmd(&["EXISTS", "wo:1", "ro:1"]), V::Integer(1));
    assert_eq!(u.cmd(&["DEL", "ro:1"]), err(NOPERM_KEY));
    assert_eq!(u.cmd(&["INCR", "app:n"]), err("NOPERM this user has no permissions to run the 'incr' command"));
    assert_eq!(u.cmd(&["SELECT", "0"]), V::ok());
    assert_eq!(u.cmd(&["SELECT", "1"]), err("NOPERM this user has no permissions to run the 'select' command"));
    assert!(matches!(u.cmd(&["CONFIG", "GET", "maxmemory"]), V::Array(_)));
    assert_eq!(
        u.cmd(&["CONFIG", "SET", "maxmemory", "1"]),
        err("NOPERM this user has no permissions to run the 'config|set' command")
    );
    assert_eq!(u.cmd(&["PUBLISH", "news.1", "m"]), V::Integer(0));
    assert_eq!(u.cmd(&["PUBLISH", "other", "m"]), err(NOPERM_CHANNEL));
    // PSUBSCRIBE's pattern must be one of the user's, literally.
    assert_eq!(u.cmd(&["PSUBSCRIBE", "news.1*"]), err(NOPERM_CHANNEL));
    // A transaction with a refused command is discarded.
    assert_eq!(u.cmd(&["MULTI"]), V::ok());
    assert_eq!(u.cmd(&["GET", "x"]), err(NOPERM_KEY));
    assert_eq!(u.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
    // Rules changed between queueing and EXEC.
    assert_eq!(u.cmd(&["MULTI"]), V::ok());
    assert_eq!(u.cmd(&["GET", "app:1"]), V::Simple("QUEUED".into()));
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "u", "-get"]), V::ok());
    assert_eq!(
        u.cmd(&["EXEC"]),
        V::Array(vec![err(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. \
             This command is no longer allowed for the following reason: no permission to execute the command \
             or subcommand"
        )])
    );
    let log = admin.cmd(&["ACL", "LOG", "1"]);
    let V::Array(entries) = log else { panic!("{log:?}") };
    let V::Array(e) = &entries[0] else { panic!() };
    assert_eq!(
        e[..10].to_vec(),
        vec![
            V::bulk("count"),
            V::Integer(1),
            V::bulk("reason"),
            V::bulk("command"),
            V::bulk("context"),
            V::bulk("multi"),
            V::bulk("object"),
            V::bulk("get"),
            V::bulk("username"),
            V::bulk("u"),
        ]
    );
}

#[test]
fn selectors_grant_separately() {
    let db = Database::new();
    db.acl_setuser("s", &["on", "nopass", "~a:*", "+get", "(~b:*", "+set)"]).unwrap();
    let s = db.as_user("s").unwrap();
    assert_eq!(s.execute(["GET", "a:1"]), V::Null);
    assert_eq!(s.execute(["SET", "b:1", "v"]), V::ok());
    assert_eq!(s.execute(["SET", "a:1", "v"]), err(NOPERM_KEY));
    assert_eq!(s.execute(["GET", "b:1"]), err(NOPERM_KEY));
    assert_eq!(
        db.acl_list()[1],
        "user s on nopass ~a:* resetchannels -@all +get (~b:* resetchannels -@all +set)".to_string()
    );
}

#[test]
fn authentication_and_requirepass() {
    let db = Database::new();
    let mut c = Conn::new(&db);
    assert_eq!(
        c.cmd(&["AUTH", "x"]),
        err("ERR AUTH <password> called without any password configured for the default user. Are you sure your \
             configuration is correct?")
    );
    db.execute(["CONFIG", "SET", "requirepass", "secret"]);
    let mut n = Conn::new(&db);
    assert_eq!(n.cmd(&["PING"]), err("NOAUTH Authentication required."));
    assert_eq!(n.cmd(&["AUTH", "wrong"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(n.cmd(&["AUTH", "secret"]), V::ok());
    assert_eq!(n.cmd(&["ACL", "WHOAMI"]), V::bulk("default"));
    // The connection made before requirepass stays authenticated, as in Redis.
    assert_eq!(c.cmd(&["PING"]), V::Simple("PONG".into()));
    db.acl_setuser("off", &["off", ">pw", "+@all"]).unwrap();
    assert_eq!(n.cmd(&["AUTH", "off", "pw"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(
        n.cmd(&["HELLO", "3", "AUTH", "nobody", "x"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    let log = db.acl_log(10);
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].reason.name(), log[0].object.as_slice(), log[0].username.as_slice()),
        ("auth", &b"HELLO"[..], &b"nobody"[..])
    );
    db.execute(["CONFIG", "SET", "requirepass", ""]);
    assert_eq!(Conn::new(&db).cmd(&["PING"]), V::Simple("PONG".into()));
    assert!(db.acl_getuser("default").unwrap().nopass);
}

#[test]
fn deleted_users_are_disconnected() {
    let db = Database::new();
    db.acl_setuser("gone", &["on", "nopass", "+@all", "~*"]).unwrap();
    let mut victim = Conn::new(&db);
    assert_eq!(victim.cmd(&["AUTH", "gone", "x"]), V::ok());
    let mut me = Conn::new(&db);
    assert_eq!(me.cmd(&["AUTH", "gone", "x"]), V::ok());
    let V::Bulk(list) = me.cmd(&["CLIENT", "LIST"]) else { panic!("CLIENT LIST") };
    assert_eq!(String::from_utf8_lossy(&list).matches("user=gone").count(), 2);
    assert_eq!(me.cmd(&["ACL", "DELUSER", "gone"]), V::Integer(1));
    assert!(victim.c.info.killed.load(std::sync::atomic::Ordering::Relaxed));
    // The caller gets its reply, then its connection closes.
    assert!(me.c.close_after_reply);
    assert_eq!(victim.cmd(&["PING"]), err("NOAUTH Authentication required."));
    let mut admin = Conn::new(&db);
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "USER", "gone"]), err("ERR No such user 'gone'"));
}

#[test]
fn pubsub_default_and_log_length() {
    let mut config = Config::default();
    config.set("acl-pubsub-default", &["allchannels"], true).unwrap();
    config.set("acllog-max-len", &["2"], true).unwrap();
    let db = Database::builder().config(config).build();
    db.acl_setuser("p", &["on", "nopass", "+publish", "+get"]).unwrap();
    assert_eq!(db.acl_list()[1], "user p on nopass &* -@all +get +publish");
    let p = db.as_user("p").unwrap();
    assert_eq!(p.execute(["PUBLISH", "any", "m"]), V::Integer(0));
    for k in ["a", "b", "c"] {
        assert_eq!(p.execute(["GET", k]), err(NOPERM_KEY));
    }
    assert_eq!(db.acl_log(10).len(), 2);
}

#[test]
fn aclfile_and_config_users() {
    let dir = std::env::temp_dir().join(format!("ferrous-acl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(&file, "user default on nopass ~* &* +@all\nuser a on >pw ~x* +get\n").unwrap();
    let mut config = Config::default();
    config.set("aclfile", &[&file.to_string_lossy()], true).unwrap();
    let db = Database::builder().config(config).build();
    ferrous_core::acl::load_startup(db.inner(), &[]).unwrap();
    assert_eq!(db.acl_users(), vec!["a", "default"]);
    assert!(db.authenticate("a", "pw").is_ok());
    db.acl_setuser("b", &["on", "nopass", "(+set ~y)"]).unwrap();
    db.acl_save().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("user b on nopass resetchannels -@all (~y resetchannels -@all +set)"), "{text}");
    std::fs::write(&file, "user a on >pw +nosuch\n").unwrap();
    let e = db.acl_load().unwrap_err();
    assert!(e.contains(":1: Error in applying operation '+nosuch': Unknown command or category name in ACL."), "{e}");
    assert_eq!(db.acl_users(), vec!["a", "b", "default"]);
    std::fs::write(&file, "user a on >pw2 +get ~*\n").unwrap();
    db.acl_load().unwrap();
    // A file without the default user gives it its initial rules.
    assert_eq!(
        db.acl_list(),
        vec![
            "user a on #93915a0a4bf8f634cb1856494dd4304472ad46b9827f541f76b6761c49cc55b0 ~* resetchannels -@all +get",
            "user default on nopass ~* &* +@all"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // `user` lines of the configuration: validated when read, loaded at start-up.
    let words = |s: &str| s.split(' ').map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>();
    let u = ferrous_core::acl::parse_config_user(&words("user c on nopass +get ~k"), &[]).unwrap();
    assert_eq!(
        ferrous_core::acl::parse_config_user(&words("user c on"), std::slice::from_ref(&u)).unwrap_err(),
        "Error in user declaration 'c': Duplicate user found. A user can only be defined once in config files"
    );
    let db = Database::new();
    ferrous_core::acl::load_startup(db.inner(), &[u]).unwrap();
    assert_eq!(db.acl_list()[0], "user c on nopass ~k resetchannels -@all +get");
}

#[test]
fn dryrun_and_handles() {
    let db = Database::new();
    db.acl_setuser("d", &["on", "nopass", "~k", "+get"]).unwrap();
    assert_eq!(db.acl_dryrun("d", &["get", "k"]).unwrap(), Ok(()));
    let denied = db.acl_dryrun("d", &["get", "x"]).unwrap().unwrap_err();
    assert_eq!((denied.reason, denied.pos), (ferrous_core::acl::Reason::Key, 1));
    assert!(db.acl_dryrun("nobody", &["get", "k"]).is_err());
    let h = db.as_user("d").unwrap();
    assert!(h.check(&["get", "k"]).is_ok());
    assert!(h.check(&["set", "k", "v"]).is_err());
    assert_eq!(
        h.execute(["ACL", "WHOAMI"]),
        err("NOPERM this user has no permissions to run the 'acl|whoami' command")
    );
    // `execute` itself is the program's own call: no restriction, even if `default` has some.
    db.acl_setuser("default", &["-@all"]).unwrap();
    assert_eq!(db.execute(["SET", "x", "1"]), V::ok());
    assert_eq!(Conn::new(&db).cmd(&["GET", "x"]), err("NOPERM this user has no permissions to run the 'get' command"));
}
