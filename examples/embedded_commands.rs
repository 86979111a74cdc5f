//! Running Redis commands in-process, without a server or a socket.
//!
//! `db.execute([...])` takes a command as its arguments and returns the reply as a
//! `RespValue`, exactly what a Redis client would have received (errors included, as
//! `RespValue::Error` with Redis's text). For the lowest overhead, `db.dispatch` writes the
//! RESP bytes of the reply into a buffer you reuse, as the server does.
//!
//! Run with `cargo run --example embedded_commands`.
use ferrous::prelude::*;
use ferrous::resp::ArgsBuf;
use ferrous::ConnectionInfo;

/// Formats a reply the way `redis-cli` prints it.
fn show(v: &RespValue, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        RespValue::Simple(s) => out.push_str(s),
        RespValue::Error(e) => out.push_str(&format!("(error) {e}")),
        RespValue::Integer(i) => out.push_str(&format!("(integer) {i}")),
        RespValue::Bulk(b) => out.push_str(&format!("{:?}", String::from_utf8_lossy(b))),
        RespValue::Null | RespValue::NullArray => out.push_str("(nil)"),
        RespValue::Double(d) => out.push_str(&format!("(double) {d}")),
        RespValue::Boolean(b) => out.push_str(&format!("({b})")),
        RespValue::BigNumber(n) => out.push_str(&format!("(big number) {n}")),
        RespValue::Verbatim(_, t) => out.push_str(&String::from_utf8_lossy(t)),
        RespValue::Array(items) | RespValue::Set(items) | RespValue::Push(items) if items.is_empty() => {
            out.push_str("(empty array)")
        }
        RespValue::Array(items) | RespValue::Set(items) | RespValue::Push(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                    out.push_str(&pad);
                }
                out.push_str(&format!("{}) ", i + 1));
                show(item, indent + 3, out);
            }
        }
        RespValue::Map(pairs) => {
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                    out.push_str(&pad);
                }
                out.push_str(&format!("{}# ", i + 1));
                show(k, indent + 3, out);
                out.push_str(" => ");
                show(v, indent + 3, out);
            }
        }
    }
}

fn run(db: &Database, args: &[&str]) -> RespValue {
    let reply = db.execute(args);
    let mut text = String::new();
    show(&reply, 0, &mut text);
    println!("> {}\n{text}", args.join(" "));
    reply
}

fn main() {
    let db = Database::new();

    // Strings and counters.
    run(&db, &["SET", "greeting", "hello world"]);
    assert_eq!(run(&db, &["GET", "greeting"]), RespValue::bulk("hello world"));
    run(&db, &["SET", "visits", "41"]);
    assert_eq!(run(&db, &["INCR", "visits"]), RespValue::Integer(42));
    run(&db, &["SET", "session", "abc", "EX", "60", "NX"]);
    run(&db, &["SET", "session", "xyz", "EX", "60", "NX"]);
    run(&db, &["EXISTS", "greeting", "visits", "nope"]);
    run(&db, &["ECHO", "binary-safe \u{1F980}"]);

    // Errors come back as values, with Redis's exact text.
    let err = run(&db, &["INCR", "greeting"]);
    assert!(err.is_error());
    run(&db, &["GET"]);
    run(&db, &["NOSUCHCOMMAND", "x"]);

    // Several keys at once (MSET/MGET), when this build has them.
    run(&db, &["MSET", "a", "1", "b", "2"]);
    run(&db, &["MGET", "a", "b", "missing"]);

    // The typed API and the commands see the same data.
    db.set("from-rust", "set with db.set").expect("SET");
    run(&db, &["GET", "from-rust"]);
    run(&db, &["DEL", "from-rust", "a", "b"]);
    run(&db, &["DBSIZE"]);

    // Logical databases: a handle per database (SELECT applies to one connection, and
    // each `execute` call is its own short-lived connection).
    let db1 = db.select(1).expect("database 1 exists");
    run(&db1, &["SET", "only-in-db1", "yes"]);
    run(&db1, &["DBSIZE"]);
    run(&db, &["GET", "only-in-db1"]);

    // The fast path: a long-lived client and a reused output buffer of raw RESP.
    let mut client = db.connect(ConnectionInfo::default());
    client.authenticated = true;
    let mut out = Vec::with_capacity(4096);
    for i in 0..3 {
        let argv: ArgsBuf = ["INCRBY", "hits", &(i * 10).to_string()].into_iter().collect();
        db.dispatch(&mut client, argv.as_args(), &mut out);
    }
    let ping: ArgsBuf = ["PING"].into_iter().collect();
    db.dispatch(&mut client, ping.as_args(), &mut out);
    println!("> (dispatch) INCRBY hits 0 / 10 / 20, PING\nraw RESP: {:?}", String::from_utf8_lossy(&out));
    assert_eq!(out, b":0\r\n:10\r\n:30\r\n+PONG\r\n");
    db.disconnect(&client);
}
