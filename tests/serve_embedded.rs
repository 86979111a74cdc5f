//! End to end: a program's own `Database` served over RESP with `ferrous::Server`, changed
//! through a real client and through the typed API at the same time.
use ferrous::prelude::*;
use ferrous::{ServeError, Server};
use redis::Commands;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn client(addr: SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    client.get_connection_with_timeout(Duration::from_secs(5)).unwrap()
}

fn config(db: &Database, name: &str) -> String {
    db.inner().config.read().get(name).unwrap_or_default().to_string()
}

fn quiet(builder: ferrous::ServerBuilder) -> ferrous::ServerBuilder {
    builder.config("loglevel", "warning")
}

#[test]
fn clients_and_the_typed_api_share_the_data() {
    let db = Database::new();
    db.set("from:program", "typed").unwrap();
    db.rpush("jobs", ["a", "b"]).unwrap();

    let server = quiet(Server::builder(db.clone()).bind("127.0.0.1:0").io_threads(2).config("maxclients", "100"))
        .start()
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0, "port 0 resolves to the port the system picked");
    assert!(server.is_running());

    let mut con = client(addr);
    // What the program wrote is visible to the client...
    let v: String = con.get("from:program").unwrap();
    assert_eq!(v, "typed");
    let jobs: Vec<String> = con.lrange("jobs", 0, -1).unwrap();
    assert_eq!(jobs, vec!["a", "b"]);
    // ...and what the client writes is visible to the program.
    let _: () = con.set("from:client", "wire").unwrap();
    assert_eq!(db.get("from:client").unwrap().as_deref(), Some(&b"wire"[..]));
    let _: () = con.rpush("jobs", "c").unwrap();
    assert_eq!(db.llen("jobs").unwrap(), 3);
    let n: i64 = con.incr("counter", 5).unwrap();
    assert_eq!(n, 5);
    assert_eq!(db.incr("counter").unwrap(), 6);
    let n: i64 = con.get("counter").unwrap();
    assert_eq!(n, 6);

    // The builder's configuration is the database's configuration.
    let (_, maxclients): (String, String) = redis::cmd("CONFIG").arg("GET").arg("maxclients").query(&mut con).unwrap();
    assert_eq!(maxclients, "100");
    let (_, port): (String, String) = redis::cmd("CONFIG").arg("GET").arg("port").query(&mut con).unwrap();
    assert_eq!(port, addr.port().to_string());
    let (_, threads): (String, String) = redis::cmd("CONFIG").arg("GET").arg("io-threads").query(&mut con).unwrap();
    assert_eq!(threads, "2");

    server.stop();
    // The connection was closed and the port is free.
    let after: redis::RedisResult<String> = con.get("from:program");
    assert!(after.is_err(), "a stopped server still answered: {after:?}");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "still listening after stop");
    // The data stays with the program.
    assert_eq!(db.get("from:client").unwrap().as_deref(), Some(&b"wire"[..]));

    // Served again on the same port, with the same data.
    let again = quiet(Server::builder(db.clone()).bind(addr.to_string())).start().unwrap();
    assert_eq!(again.local_addr(), addr);
    let mut con = client(addr);
    let v: String = con.get("from:client").unwrap();
    assert_eq!(v, "wire");
    drop(again);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "still listening after drop");
}

#[test]
fn errors_are_returned() {
    let db = Database::new();
    let server = quiet(Server::builder(db.clone()).bind("127.0.0.1:0")).start().unwrap();
    let addr = server.local_addr();

    // One server per database at a time.
    let second = Server::builder(db.clone()).bind("127.0.0.1:0").start();
    assert!(matches!(second, Err(ServeError::AlreadyServed)), "{second:?}");

    // The address is taken: another database cannot listen there.
    let other = Database::new();
    let taken = quiet(Server::builder(other.clone()).bind(addr.to_string())).start();
    match taken {
        Err(ServeError::Bind(e)) => assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}"),
        r => panic!("expected a bind error, got {r:?}"),
    }
    // A failed start leaves the database's configuration alone.
    assert_eq!(config(&other, "port"), "6379");

    // Bad configuration: refused before anything is bound or changed.
    let bad = Server::builder(other.clone()).bind("127.0.0.1:0").config("maxclients", "many").start();
    assert!(matches!(&bad, Err(ServeError::Config { name, .. }) if name == "maxclients"), "{bad:?}");
    let unknown = Server::builder(other.clone()).bind("127.0.0.1:0").config("no-such-directive", "1").start();
    assert!(matches!(unknown, Err(ServeError::Config { .. })), "{unknown:?}");
    assert_eq!(config(&other, "maxclients"), "10000");
    let address = Server::builder(other.clone()).bind("not an address").start();
    assert!(matches!(address, Err(ServeError::Address { .. })), "{address:?}");

    // After failures, the other database can still be served.
    let fine = quiet(Server::builder(other.clone()).bind("127.0.0.1:0")).start().unwrap();
    fine.stop();

    // Once the first server stopped, the database may be served again.
    server.stop();
    let again = quiet(Server::builder(db.clone()).bind("127.0.0.1:0")).start().unwrap();
    again.stop();
}

#[test]
fn shutdown_from_a_client_stops_the_server_not_the_program() {
    let db = Database::new();
    let server = quiet(Server::builder(db.clone()).bind("127.0.0.1:0")).start().unwrap();
    let addr = server.local_addr();
    let mut con = client(addr);
    let _: () = con.set("k", "v").unwrap();
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut con);
    server.wait();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "still listening after SHUTDOWN");
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    // Without a server, SHUTDOWN through the in-process API is refused as before.
    let reply = db.execute(["SHUTDOWN", "NOSAVE"]);
    assert!(matches!(reply, RespValue::Error(_)), "{reply:?}");
}
