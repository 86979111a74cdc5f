//! GEO differential test over TCP: the same GEO command sequences go to a fresh
//! redis-server 7.0 (the oracle, on a port in 7600..7650) and a fresh Ferrous, on a RESP2
//! and a RESP3 connection each; every reply must be byte-for-byte identical (coordinates in
//! RESP3 are doubles with Redis's 17-decimal text, which only a raw comparison checks).
//!
//! The data stresses the places where the arithmetic decides: points near both poles (up to
//! the ±85.05112878 limit), on both sides of the antimeridian, exactly on the limits, many
//! members at one position (ties at equal distance, ordered by glibc's merge sort or Redis's
//! `pqsort` under COUNT), small sets (listpack) and large ones (skiplist). Queries are
//! centred on members, on the edges and at random, with radii and boxes from 0 to beyond the
//! Earth's size, every option combination, the STORE variants (the stored set is read back
//! with ZRANGE WITHSCORES), and keyspace notifications are compared too.
//!
//! Knobs: `FERROUS_GEO_SEED=N` (default: seeds 1..=3), `FERROUS_GEO_OPS=N` queries per seed
//! and protocol (default 1500). Skipped (with `SKIPPED: ...`) when redis-server is not
//! installed, except under CI.
mod common;

use common::{require_tool, show_command, RespConn, Rng, TestServer};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Ports this suite's redis-server oracles use.
const PORTS: std::ops::Range<u16> = 7600..7650;

type Cmd = Vec<Vec<u8>>;

macro_rules! cmd {
    ($($a:expr),* $(,)?) => { vec![$(AsRef::<[u8]>::as_ref(&$a).to_vec()),*] };
}

/// A redis-server on a port of [`PORTS`], killed on drop.
struct Oracle {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Oracle {
    fn start() -> Option<Oracle> {
        if !require_tool("redis-server") {
            return None;
        }
        // One start at a time, each from another port: two tests of this binary must never
        // both see a port free and then share one server.
        static STARTING: std::sync::Mutex<u16> = std::sync::Mutex::new(0);
        let mut next = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        let offset = (std::process::id() as u16).wrapping_add(*next * 7) % (PORTS.end - PORTS.start);
        for i in 0..(PORTS.end - PORTS.start) {
            let port = PORTS.start + (offset + i) % (PORTS.end - PORTS.start);
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let dir = std::env::temp_dir().join(format!("ferrous-geo-oracle-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("scratch dir");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut oracle = Oracle { child, port, dir };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(oracle.addr()).is_ok() {
                    return Some(oracle);
                }
                if let Ok(Some(_)) = oracle.child.try_wait() {
                    break; // lost the port race: try the next one
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = oracle.child.kill();
        }
        panic!("no port in {PORTS:?} for redis-server");
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One connection to each server, in the same protocol.
struct Pair {
    redis: RespConn,
    ferrous: RespConn,
    resp3: bool,
    history: Vec<Cmd>,
}

impl Pair {
    fn new(redis: SocketAddr, ferrous: SocketAddr, resp3: bool) -> Pair {
        let mut p = Pair {
            redis: RespConn::connect(redis).expect("connect to redis"),
            ferrous: RespConn::connect(ferrous).expect("connect to ferrous"),
            resp3,
            history: Vec::new(),
        };
        if resp3 {
            p.redis.call(&["HELLO", "3"]).expect("HELLO 3");
            p.ferrous.call(&["HELLO", "3"]).expect("HELLO 3");
        }
        p
    }

    /// Sends `c` to both; panics on the first difference, with the commands before it.
    fn check(&mut self, c: &Cmd) -> Vec<u8> {
        self.history.push(c.clone());
        let r = self.redis.call(c).expect("redis reply").raw;
        let f = self.ferrous.call(c).expect("ferrous reply").raw;
        if r != f {
            let start = self.history.len().saturating_sub(20);
            let hist: Vec<String> = self.history[start..].iter().map(|c| show_command(c)).collect();
            panic!(
                "RESP{} divergence on\n  {}\nredis:   {}\nferrous: {}\nlast commands:\n  {}",
                if self.resp3 { 3 } else { 2 },
                show_command(c),
                String::from_utf8_lossy(&r),
                String::from_utf8_lossy(&f),
                hist.join("\n  ")
            );
        }
        r
    }
}

fn fmt_coord(rng: &mut Rng, x: f64) -> String {
    match rng.below(4) {
        0 => format!("{x}"),
        1 => format!("{x:.6}"),
        2 => format!("{x:.2}"),
        _ => format!("{x:e}"),
    }
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
}

const LAT_LIMIT: f64 = 85.05112878;

/// A position biased to the interesting places.
fn position(rng: &mut Rng) -> (f64, f64) {
    match rng.below(8) {
        // Near the poles.
        0 => (uniform(rng, -180.0, 180.0), uniform(rng, 84.0, LAT_LIMIT) * if rng.chance(50) { 1.0 } else { -1.0 }),
        // Either side of the antimeridian.
        1 => (uniform(rng, 179.0, 180.0) * if rng.chance(50) { 1.0 } else { -1.0 }, uniform(rng, -60.0, 60.0)),
        // Exactly on a limit or the equator / prime meridian.
        2 => (
            *rng.pick(&[180.0, -180.0, 0.0, 179.99999, -179.99999, 90.0]),
            *rng.pick(&[LAT_LIMIT, -LAT_LIMIT, 0.0, 66.0, -66.0, 80.0, -80.0, 45.0]),
        ),
        // A small cluster (dense boxes).
        3 => (uniform(rng, 2.29, 2.41), uniform(rng, 48.80, 48.90)),
        _ => (uniform(rng, -180.0, 180.0), uniform(rng, -LAT_LIMIT, LAT_LIMIT)),
    }
}

fn unit(rng: &mut Rng) -> &'static str {
    const UNITS: [&str; 6] = ["m", "km", "mi", "ft", "KM", "M"];
    UNITS[rng.below(UNITS.len() as u64) as usize]
}

/// A radius in `unit`: from 0 to beyond the Earth's circumference, log-distributed.
fn distance_arg(rng: &mut Rng, unit: &str) -> String {
    let meters = match rng.below(10) {
        0 => 0.0,
        1 => uniform(rng, 1.0e7, 3.0e7),
        _ => 10f64.powf(uniform(rng, 0.0, 7.0)),
    };
    let per = match unit.to_ascii_lowercase().as_str() {
        "km" => 1000.0,
        "mi" => 1609.34,
        "ft" => 0.3048,
        _ => 1.0,
    };
    let v = meters / per;
    if rng.chance(30) {
        format!("{}", v.round())
    } else {
        format!("{v:.3}")
    }
}

/// A random search command over `key` (members named `members`), or a store variant
/// followed by a read-back.
fn query(rng: &mut Rng, key: &str, members: &[String]) -> Vec<Cmd> {
    let member = |rng: &mut Rng| -> String {
        if rng.chance(5) {
            "missing".to_string()
        } else {
            rng.pick(members).clone()
        }
    };
    let mut c: Cmd;
    let (lon, lat) = position(rng);
    let (lon, lat) = (fmt_coord(rng, lon), fmt_coord(rng, lat));
    let kind = rng.below(7);
    let store_ok;
    match kind {
        0 | 1 => {
            let name = if kind == 0 { "GEORADIUS" } else { "GEORADIUS_RO" };
            let u = unit(rng);
            c = cmd![name, key, lon, lat, distance_arg(rng, u), u];
            store_ok = kind == 0;
        }
        2 | 3 => {
            let name = if kind == 2 { "GEORADIUSBYMEMBER" } else { "GEORADIUSBYMEMBER_RO" };
            let u = unit(rng);
            c = cmd![name, key, member(rng), distance_arg(rng, u), u];
            store_ok = kind == 2;
        }
        _ => {
            let store = kind == 6;
            c = if store { cmd!["GEOSEARCHSTORE", "dst", key] } else { cmd!["GEOSEARCH", key] };
            if rng.chance(50) {
                c.extend(cmd!["FROMMEMBER", member(rng)]);
            } else {
                c.extend(cmd!["FROMLONLAT", lon, lat]);
            }
            let u = unit(rng);
            if rng.chance(50) {
                c.extend(cmd!["BYRADIUS", distance_arg(rng, u), u]);
            } else {
                c.extend(cmd!["BYBOX", distance_arg(rng, u), distance_arg(rng, u), u]);
            }
            if store && rng.chance(50) {
                c.push(b"STOREDIST".to_vec());
            }
            store_ok = false;
        }
    }
    let storing = kind == 6 || (store_ok && rng.chance(30));
    if !storing || kind == 6 {
        for w in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
            if kind != 6 && rng.chance(40) {
                c.push(w.as_bytes().to_vec());
            }
        }
    }
    if rng.chance(40) {
        c.extend(cmd!["COUNT", rng.range(1, 12).to_string()]);
        if rng.chance(30) {
            c.push(b"ANY".to_vec());
        }
    }
    if rng.chance(60) {
        c.push(rng.pick(&["ASC", "DESC"]).as_bytes().to_vec());
    }
    if storing && kind != 6 {
        c.extend(cmd![rng.pick(&["STORE", "STOREDIST"]), "dst"]);
    }
    let mut out = vec![c];
    if storing {
        out.push(cmd!["ZRANGE", "dst", "0", "-1", "WITHSCORES"]);
        out.push(cmd!["OBJECT", "ENCODING", "dst"]);
    }
    out
}

/// Loads the data set into `key` on both servers: `n` members (long names make it a
/// skiplist), some sharing positions.
fn load(p: &mut Pair, rng: &mut Rng, key: &str, n: usize, long_names: bool) -> Vec<String> {
    let mut members = Vec::new();
    let mut c = cmd!["GEOADD", key];
    let mut last = (0.0, 0.0);
    for i in 0..n {
        // Some members share the previous position (ties).
        let pos = if i > 0 && rng.chance(15) { last } else { position(rng) };
        last = pos;
        let name = if long_names { format!("member-with-a-long-name-{i:05}") } else { format!("m{i}") };
        c.extend(cmd![format!("{}", pos.0), format!("{}", pos.1), name]);
        members.push(name);
        if c.len() > 300 {
            p.check(&c);
            c = cmd!["GEOADD", key];
        }
    }
    if c.len() > 2 {
        p.check(&c);
    }
    members
}

fn ops() -> usize {
    std::env::var("FERROUS_GEO_OPS").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1500)
}

fn seeds() -> Vec<u64> {
    std::env::var("FERROUS_GEO_SEED").ok().and_then(|s| s.trim().parse().ok()).map_or(vec![1, 2, 3], |s| vec![s])
}

#[test]
fn geo_replies_match_redis() {
    let Some(oracle) = Oracle::start() else { return };
    let ferrous = TestServer::ferrous(&[]);
    for seed in seeds() {
        for resp3 in [false, true] {
            let mut p = Pair::new(oracle.addr(), ferrous.addr(), resp3);
            p.check(&cmd!["FLUSHALL"]);
            let mut rng = Rng::new(seed * 2 + resp3 as u64);
            let small = load(&mut p, &mut rng, "small", 60, false);
            let big = load(&mut p, &mut rng, "big", 1500, true);
            for (key, members) in [("small", &small), ("big", &big)] {
                p.check(&cmd!["OBJECT", "ENCODING", key]);
                let mut c = cmd!["GEOPOS", key];
                c.extend(members.iter().take(200).map(|m| m.as_bytes().to_vec()));
                c.push(b"missing".to_vec());
                p.check(&c);
                c[0] = b"GEOHASH".to_vec();
                p.check(&c);
            }
            for _ in 0..ops() {
                let (key, members) = if rng.chance(50) { ("small", &small) } else { ("big", &big) };
                for c in query(&mut rng, key, members) {
                    p.check(&c);
                }
                if rng.chance(20) {
                    let u = unit(&mut rng);
                    p.check(&cmd!["GEODIST", key, rng.pick(members), rng.pick(members), u]);
                }
            }
        }
    }
}

/// Keyspace events of GEOADD (`zadd`), the store variants and their empty results.
#[test]
fn geo_keyspace_events_match_redis() {
    let Some(oracle) = Oracle::start() else { return };
    let ferrous = TestServer::ferrous(&[]);
    let mut events = Vec::new();
    for addr in [oracle.addr(), ferrous.addr()] {
        let mut c = RespConn::connect(addr).expect("connect");
        c.call(&["FLUSHALL"]).expect("flushall");
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]).expect("config set");
        let mut sub = RespConn::connect(addr).expect("connect");
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]).expect("psubscribe");
        let script: &[&[&str]] = &[
            &["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
            &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
            &["GEOADD", "g", "XX", "CH", "13.4", "38.1", "Palermo"],
            &["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d1"],
            &["GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "d1"],
            &["GEORADIUSBYMEMBER", "g", "Palermo", "10", "km", "STORE", "d2"],
            &["GEOSEARCHSTORE", "d3", "g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"],
            &["GEOSEARCHSTORE", "d3", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"],
            &["GEORADIUS", "nokey", "0", "0", "1", "km", "STORE", "d1"],
            &["GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "10", "km"],
            &["SET", "end", "x"],
        ];
        for args in script {
            c.call(args).expect("command");
        }
        let mut got = Vec::new();
        loop {
            let r = sub.read().expect("event");
            let text = format!("{:?}", r.value);
            got.push(text.clone());
            if text.contains("\"end\"") || text.contains("[101, 110, 100]") {
                break;
            }
        }
        events.push(got);
    }
    assert_eq!(events[0], events[1], "keyspace events differ (left: redis, right: ferrous)");
}
