//! Differential tests for what crosses connections (issue 5): keyspace notification
//! streams, MULTI/EXEC/WATCH across two clients, Pub/Sub on several RESP2 and RESP3
//! clients, and client-side caching invalidations. The same random sequences run in
//! lockstep on a redis-server (the oracle, Redis 7.0) and on Ferrous; every reply and every
//! out-of-band message must be byte-for-byte identical, except for these documented
//! normalisations (listed below).
//!
//! - `keyspace_notification_streams_*`: one writer, one `PSUBSCRIBE __key*__:*` subscriber;
//!   `KEA` and `KEAn`, strings/bitmaps/keys/hashes/sets, then with lists, then with zsets.
//! - `transactions_across_two_clients_*`: A watches and executes, B interferes (writes,
//!   writes that change nothing, expiry, flushes, SWAPDB, other databases);
//!   `transaction_scenarios_*`: the same decisions as hand-written cases.
//! - `pubsub_on_several_clients_*`: three RESP2 and two RESP3 clients subscribing,
//!   publishing and asking PUBSUB.
//! - `client_tracking_*`: RESP3 and RESP2 trackers (default, BCAST/PREFIX, OPTIN/OPTOUT,
//!   NOLOOP, REDIRECT to RESP2 and RESP3 targets that subscribe, unsubscribe, reconnect),
//!   a plain writer, reads and writes inside MULTI.
//!
//! Normalisations:
//!
//! - Where Redis's order is hash-table order: the replies of an argument-less
//!   UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE (names sorted, counts kept in order),
//!   `PUBSUB CHANNELS` / `SHARDCHANNELS` (sorted), the `pmessage`s one PUBLISH delivers to
//!   one client through several patterns (sorted), and `SPOP key count` (sorted).
//! - The flush invalidations one FLUSHDB/FLUSHALL sends to one redirect target on behalf of
//!   several clients (sorted: Redis walks its client list, which its cron rotates).
//! - Client ids (they differ between the two servers): in `CLIENT GETREDIR`,
//!   `CLIENT TRACKINGINFO` and `tracking-redir-broken` pushes, a known id becomes the
//!   name of its connection.
//! - `CONFIG GET notify-keyspace-events` after setting `KEAn`: Redis shows `AKE`, Ferrous
//!   deliberately `AnKE` (see `ferrous_core::notify::flags_to_string`).
//!
//! How out-of-band output is collected: keyspace events are read until a sentinel PUBLISH
//! on a marker channel arrives (it is published after the command, so every event of the
//! command precedes it); other connections are drained with a PING whose reply ends what
//! the connection received so far.
//!
//! Time: TTLs are long, except short ones followed by a sleep past them and an access to
//! the key, so expiry happens between two known steps on both sides. (Transactions also
//! use `PX 1` and a sleep where only "expired before WATCH" matters.)
//!
//! Knobs (environment):
//! - `FERROUS_DIFF_SEED=N[,M...]`: run these seeds instead of the defaults.
//! - `FERROUS_DIFF_OPS=N`: steps per seed (default 500).
//! - `FERROUS_DIFF_SKIP=swapdb,sort`: never send these commands (lower-case names), to
//!   look past a known divergence.
//! - `FERROUS_DIFF_VERBOSE=1`: print every step (with `--nocapture`).
//!
//! Skipped (with `SKIPPED: ...`) when redis-server is not installed, except under CI.
mod common;

use common::{escape, show_command, Reply, Resp, RespConn, Rng, TestServer};
use std::fmt::Write as _;
use std::time::Duration;

const DEFAULT_SEEDS: &[u64] = &[1, 2, 3];
const DEFAULT_OPS: usize = 500;
/// Replies must come within this long (a hung server fails the test instead of hanging it).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// A TTL that expires during the test but not before the step that set it is over (both
/// servers may expire it actively, so the events of that step must all be in first).
const SHORT_TTL_MS: u64 = 20;
/// A sleep after which a [`SHORT_TTL_MS`] key has expired.
const PAST_SHORT_TTL_MS: u64 = 40;
/// Steps of history shown before a divergence.
const HISTORY_SHOWN: usize = 30;

type Cmd = Vec<Vec<u8>>;

/// Builds an argument vector from anything byte-like.
macro_rules! cmd {
    ($($a:expr),* $(,)?) => { vec![$(AsRef::<[u8]>::as_ref(&$a).to_vec()),*] };
}

fn verbose() -> bool {
    std::env::var("FERROUS_DIFF_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Commands (lower-case names) never sent, from `FERROUS_DIFF_SKIP=swapdb,sort`: to look
/// past a known divergence.
fn skipped(args: &Cmd) -> bool {
    let skip = std::env::var("FERROUS_DIFF_SKIP").unwrap_or_default();
    let name = lower(&args[0]);
    skip.split(',').any(|s| s.trim().eq_ignore_ascii_case(&name))
}

fn knobs() -> (Vec<u64>, usize) {
    let seeds = std::env::var("FERROUS_DIFF_SEED")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect::<Vec<u64>>())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_SEEDS.to_vec());
    let ops = std::env::var("FERROUS_DIFF_OPS").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(DEFAULT_OPS);
    (seeds, ops)
}

/// Both servers, or `None` when redis-server is missing (and this is not CI).
fn servers() -> Option<(TestServer, TestServer)> {
    let redis = TestServer::redis(&[])?;
    let ferrous = TestServer::ferrous(&[]);
    Some((redis, ferrous))
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

fn show_frames(frames: &[Vec<u8>]) -> String {
    if frames.is_empty() {
        return "(nothing)".into();
    }
    frames.iter().map(|f| format!("\"{}\"", escape(f))).collect::<Vec<_>>().join("\n            ")
}

// ---------------------------------------------------------------------------------------
// Twin connections: one logical client, opened on both servers.
// ---------------------------------------------------------------------------------------

/// Which server a value belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Redis,
    Ferrous,
}

/// One logical client: a connection to each server, used in lockstep.
struct Twin {
    name: String,
    conns: [RespConn; 2],
    /// Client ids (`CLIENT ID`) on each server.
    ids: [i64; 2],
}

impl Twin {
    fn open(name: &str, redis: &TestServer, ferrous: &TestServer, resp3: bool) -> Twin {
        let mut conns = [redis.raw(), ferrous.raw()];
        let mut ids = [0; 2];
        for (i, c) in conns.iter_mut().enumerate() {
            c.set_timeout(REPLY_TIMEOUT);
            if resp3 {
                let r = c.cmd(&["HELLO", "3"]);
                assert!(matches!(r, Resp::Map(_)), "{name}: HELLO 3 replied {r}");
            }
            ids[i] = match c.cmd(&["CLIENT", "ID"]) {
                Resp::Int(n) => n,
                other => panic!("{name}: CLIENT ID replied {other}"),
            };
        }
        Twin { name: name.into(), conns, ids }
    }

    fn conn(&mut self, side: Side) -> &mut RespConn {
        &mut self.conns[side as usize]
    }

    /// Sends a command to both servers and reads one reply from each.
    fn call(&mut self, args: &Cmd) -> [Result<Reply, String>; 2] {
        let name = self.name.clone();
        let mut out = [Err(String::new()), Err(String::new())];
        for (i, c) in self.conns.iter_mut().enumerate() {
            out[i] = c.call(args).map_err(|e| format!("{name}: {e}"));
        }
        out
    }
}

/// A failure: where, what each server produced, and the steps before it.
fn divergence(
    label: &str,
    seed: u64,
    index: usize,
    history: &[String],
    what: &str,
    redis: &str,
    ferrous: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n=== DIVERGENCE ({label}, seed {seed}, step #{index}) ===");
    let _ = writeln!(s, "step:    {what}");
    let _ = writeln!(s, "redis:   {redis}");
    let _ = writeln!(s, "ferrous: {ferrous}");
    let from = history.len().saturating_sub(HISTORY_SHOWN);
    let _ = writeln!(
        s,
        "steps before it (the last {}, on the same connections since the seed started):",
        history.len() - from
    );
    for h in history.iter().skip(from) {
        let _ = writeln!(s, "  {h}");
    }
    s
}

fn show_result(r: &Result<Reply, String>) -> String {
    match r {
        Ok(r) => format!("{}   [raw: \"{}\"]", r.value, escape(&r.raw[..r.raw.len().min(400)])),
        Err(e) => format!("<{e}>"),
    }
}

/// Replaces known client ids in a reply by `<name>` markers, recursively.
fn rename_ids(v: &Resp, ids: &[(i64, String)]) -> Resp {
    match v {
        Resp::Int(n) => match ids.iter().find(|(id, _)| id == n) {
            Some((_, name)) => Resp::Simple(format!("<{name}>").into_bytes()),
            None => v.clone(),
        },
        Resp::Array(items) => Resp::Array(items.iter().map(|i| rename_ids(i, ids)).collect()),
        Resp::Push(items) => Resp::Push(items.iter().map(|i| rename_ids(i, ids)).collect()),
        Resp::Set(items) => Resp::Set(items.iter().map(|i| rename_ids(i, ids)).collect()),
        Resp::Map(pairs) => Resp::Map(pairs.iter().map(|(k, v)| (k.clone(), rename_ids(v, ids))).collect()),
        _ => v.clone(),
    }
}

/// Sorts runs of flush invalidations (`invalidate` with a null instead of keys) within one
/// client's output of one step (see the module documentation).
fn sort_flush_runs(frames: &mut [Resp]) {
    let is_flush = |f: &Resp| match f {
        Resp::Push(items) | Resp::Array(items) => {
            items.last().is_some_and(|l| matches!(l, Resp::Null | Resp::NilBulk | Resp::NilArray))
                && items.iter().any(|i| *i == common::bulk("invalidate") || *i == common::bulk("__redis__:invalidate"))
        }
        _ => false,
    };
    let mut i = 0;
    while i < frames.len() {
        if !is_flush(&frames[i]) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < frames.len() && is_flush(&frames[j]) {
            j += 1;
        }
        frames[i..j].sort_by_key(|f| f.to_bytes());
        i = j;
    }
}

/// Client ids in a frame become names: in the reply of CLIENT GETREDIR / TRACKINGINFO
/// (`reply_with_ids`) and in `tracking-redir-broken` pushes; other integers stay.
fn with_names(v: &Resp, reply_with_ids: bool, ids: &[(i64, String)]) -> Resp {
    let broken = frame_kind(v).is_some_and(|(k, _)| k == b"tracking-redir-broken");
    if reply_with_ids || broken {
        rename_ids(v, ids)
    } else {
        v.clone()
    }
}

/// The elements of an array/set/push, sorted by encoding.
fn sorted(items: &[Resp]) -> Vec<Resp> {
    let mut items = items.to_vec();
    items.sort_by_key(|i| i.to_bytes());
    items
}

// ---------------------------------------------------------------------------------------
// Random arguments shared by the generators.
// ---------------------------------------------------------------------------------------

struct Gen {
    rng: Rng,
}

impl Gen {
    fn pick(&mut self, items: &[&str]) -> Vec<u8> {
        self.rng.pick(items).as_bytes().to_vec()
    }

    fn value(&mut self) -> Vec<u8> {
        match self.rng.below(8) {
            0 | 1 => self.rng.range(-5, 50).to_string().into_bytes(),
            2 => self.pick(&["1.5", "abc", "", "9223372036854775807", "x y", "0"]),
            _ => self.pick(&["a", "b", "c", "hello", "v1", "v2"]),
        }
    }

    fn int(&mut self) -> Vec<u8> {
        if self.rng.chance(5) {
            self.pick(&["x", "1.5", "9223372036854775807"])
        } else {
            self.rng.range(-3, 10).to_string().into_bytes()
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. Keyspace notification streams.
// ---------------------------------------------------------------------------------------

const NKEYS: &[&str] = &["k0", "k1", "k2", "k3", "h:a", "s:b"];
const MEMBERS: &[&str] = &["a", "b", "c", "1", "2"];
const FIELDS: &[&str] = &["f1", "f2", "f3"];

/// Which families beyond strings, bitmaps, keys, hashes and sets a run includes.
#[derive(Clone, Copy, Default)]
struct Families {
    lists: bool,
    zsets: bool,
}

impl Families {
    fn label(self) -> &'static str {
        match (self.lists, self.zsets) {
            (false, false) => "",
            (true, false) => " + lists",
            (false, true) => " + zsets",
            (true, true) => " + lists + zsets",
        }
    }
}

/// One step of a notification run.
#[derive(Clone)]
enum NStep {
    /// A command on the writer connection.
    Cmd(Cmd),
    /// Sleep (both servers at once).
    Sleep(u64),
}

impl Gen {
    fn nkey(&mut self) -> Vec<u8> {
        self.pick(NKEYS)
    }

    fn member(&mut self) -> Vec<u8> {
        self.pick(MEMBERS)
    }

    /// Appends one or more steps: a random write command, or an expiry at a known point.
    fn notify_steps(&mut self, families: Families, out: &mut Vec<NStep>) {
        let k = self.nkey();
        let k2 = self.nkey();
        let v = self.value();
        let n = match (families.lists, families.zsets) {
            (false, false) => 80,
            (true, false) => 90,
            (_, true) => 100,
        };
        let mut pick = self.rng.below(n);
        if (80..90).contains(&pick) && !families.lists {
            pick += 10;
        }
        let c: Cmd = match pick {
            // Strings.
            0..=3 => {
                let mut c = cmd!["SET", k, v];
                match self.rng.below(6) {
                    0 => c.extend(cmd!["EX", "100000"]),
                    1 => c.extend(cmd!["PX", "100000000"]),
                    2 => c.extend(cmd!["KEEPTTL"]),
                    _ => {}
                }
                match self.rng.below(5) {
                    0 => c.extend(cmd!["NX"]),
                    1 => c.extend(cmd!["XX"]),
                    _ => {}
                }
                if self.rng.chance(25) {
                    c.extend(cmd!["GET"]);
                }
                c
            }
            4 => cmd!["SETNX", k, v],
            5 => cmd!["SETEX", k, "100000", v],
            6 => cmd!["PSETEX", k, "100000000", v],
            7 => cmd!["GETSET", k, v],
            8 => cmd!["GETDEL", k],
            9 => match self.rng.below(4) {
                0 => cmd!["GETEX", k, "EX", "100000"],
                1 => cmd!["GETEX", k, "PERSIST"],
                2 => cmd!["GETEX", k, "PXAT", "1"],
                _ => cmd!["GETEX", k],
            },
            10 => cmd!["APPEND", k, v],
            11 => cmd!["SETRANGE", k, self.rng.range(0, 6).to_string(), v],
            12 => cmd!["INCR", k],
            13 => cmd!["DECRBY", k, self.int()],
            14 => cmd!["INCRBYFLOAT", k, self.pick(&["1.5", "-2", "0", "x"])],
            15 => cmd!["MSET", k, v, k2, "1"],
            16 => cmd!["MSETNX", k, v, k2, "2"],
            // Bitmaps.
            17 => cmd!["SETBIT", k, self.rng.range(0, 20).to_string(), self.pick(&["0", "1"])],
            18 => {
                let op = self.pick(&["AND", "OR", "XOR", "NOT"]);
                if op == b"NOT" {
                    cmd!["BITOP", op, k, k2]
                } else {
                    cmd!["BITOP", op, k, k2, self.nkey()]
                }
            }
            19 => match self.rng.below(3) {
                0 => cmd!["BITFIELD", k, "SET", "u8", "0", self.int()],
                1 => cmd!["BITFIELD", k, "OVERFLOW", "FAIL", "INCRBY", "u2", "4", self.int()],
                _ => cmd!["BITFIELD", k, "GET", "u4", "0"],
            },
            // Keys.
            20..=22 => cmd!["DEL", k, k2],
            23 => cmd!["UNLINK", k],
            24 | 25 => cmd!["RENAME", k, k2],
            26 => cmd!["RENAMENX", k, k2],
            27 => cmd!["MOVE", k, self.pick(&["1", "0"])],
            28 | 29 => {
                let mut c = cmd!["COPY", k, k2];
                if self.rng.chance(30) {
                    c.extend(cmd!["DB", self.pick(&["1", "0"])]);
                }
                if self.rng.chance(40) {
                    c.extend(cmd!["REPLACE"]);
                }
                c
            }
            30 | 31 => {
                let mut c = match self.rng.below(4) {
                    0 => cmd!["EXPIRE", k, "100000"],
                    1 => cmd!["PEXPIRE", k, "100000000"],
                    2 => cmd!["EXPIREAT", k, "4000000000"],
                    _ => cmd!["EXPIRE", k, self.pick(&["-1", "0"])],
                };
                if self.rng.chance(30) {
                    c.push(self.pick(&["NX", "XX", "GT", "LT"]));
                }
                c
            }
            32 => cmd!["PEXPIREAT", k, "1"],
            33 | 34 => cmd!["PERSIST", k],
            35 => {
                // Expiry at a known point: a short TTL, a sleep past it, then an access. (Not
                // 1 ms: Redis may find such a deadline already passed and delete at once.)
                let first = if self.rng.chance(50) {
                    cmd!["SET", &k, v, "PX", SHORT_TTL_MS.to_string()]
                } else {
                    cmd!["PEXPIRE", &k, SHORT_TTL_MS.to_string()]
                };
                out.push(NStep::Cmd(first));
                out.push(NStep::Sleep(PAST_SHORT_TTL_MS));
                match self.rng.below(4) {
                    0 => cmd!["SET", k, "again"],
                    _ => cmd![self.pick(&["EXISTS", "GET", "TYPE"]), k],
                }
            }
            36 => cmd!["SELECT", self.pick(&["0", "0", "1"])],
            37 => cmd!["SWAPDB", "0", "1"],
            38 => cmd![self.pick(&["FLUSHDB", "FLUSHALL"])],
            39 => cmd!["TOUCH", k, k2],
            // Hashes.
            40..=43 => cmd!["HSET", k, self.pick(FIELDS), v, self.pick(FIELDS), "x"],
            44 => cmd!["HSETNX", k, self.pick(FIELDS), v],
            45 | 46 => cmd!["HDEL", k, self.pick(FIELDS), self.pick(FIELDS)],
            47 => cmd!["HINCRBY", k, self.pick(FIELDS), self.int()],
            48 => cmd!["HINCRBYFLOAT", k, self.pick(FIELDS), self.pick(&["1.5", "-1", "x"])],
            49 => cmd!["HMSET", k, self.pick(FIELDS), v],
            // Sets.
            50..=53 => cmd!["SADD", k, self.member(), self.member()],
            54 | 55 => cmd!["SREM", k, self.member(), self.member()],
            56 => cmd!["SPOP", k, "100"],
            57 => cmd!["SMOVE", k, k2, self.member()],
            58 => cmd![self.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), k, k2, self.nkey()],
            59 => cmd!["SPOP", k, "0"],
            60..=79 => {
                // Reads and writes that change nothing (no events) plus the common writes
                // again, so keys live long enough to matter.
                match self.rng.below(6) {
                    0 => cmd!["GET", k],
                    1 => cmd!["SET", k, v],
                    2 => cmd!["HSET", k, self.pick(FIELDS), v],
                    3 => cmd!["SADD", k, self.member()],
                    4 => cmd!["EXISTS", k],
                    _ => cmd!["SREM", k, "nosuchmember"],
                }
            }
            // Lists.
            80..=82 => cmd![self.pick(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), k, self.member(), self.member()],
            83 => cmd![self.pick(&["LPOP", "RPOP"]), k, self.pick(&["1", "5"])],
            84 => cmd!["LSET", k, self.pick(&["0", "-1", "9"]), v],
            85 => cmd!["LINSERT", k, self.pick(&["BEFORE", "AFTER"]), self.member(), v],
            86 => cmd!["LREM", k, "0", self.member()],
            87 => cmd!["LTRIM", k, self.pick(&["0", "1", "5"]), self.pick(&["-1", "0", "1"])],
            88 => cmd!["RPOPLPUSH", k, k2],
            89 => cmd!["LMOVE", k, k2, self.pick(&["LEFT", "RIGHT"]), self.pick(&["LEFT", "RIGHT"])],
            // Sorted sets.
            90 | 91 => {
                let mut c = cmd!["ZADD", k];
                if self.rng.chance(30) {
                    c.push(self.pick(&["NX", "XX", "GT", "LT", "CH"]));
                }
                c.extend(cmd![self.rng.range(0, 5).to_string(), self.member()]);
                c
            }
            92 => cmd!["ZINCRBY", k, self.pick(&["1", "-2.5"]), self.member()],
            93 => cmd!["ZREM", k, self.member(), self.member()],
            94 => cmd!["ZREMRANGEBYSCORE", k, "-inf", self.pick(&["1", "(3"])],
            95 => cmd!["ZREMRANGEBYRANK", k, "0", self.pick(&["0", "-1"])],
            96 => cmd![self.pick(&["ZPOPMIN", "ZPOPMAX"]), k, self.pick(&["1", "3"])],
            97 => cmd![self.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), k, "2", k2, self.nkey()],
            98 => cmd!["ZRANGESTORE", k, k2, "0", "-1"],
            _ => cmd!["ZREMRANGEBYLEX", k, "-", "+"],
        };
        out.push(NStep::Cmd(c));
    }
}

/// Reply normalisations of the notification runs.
fn normalize_reply(args: &Cmd, r: &Reply) -> Vec<u8> {
    let name = lower(&args[0]);
    match (&r.value, name.as_str()) {
        (Resp::Array(items), "spop") => Resp::Array(sorted(items)).to_bytes(),
        _ => r.raw.clone(),
    }
}

/// Reads keyspace events from `sub` until the marker message `n` arrives.
fn read_events(sub: &mut RespConn, n: &str) -> Result<Vec<Vec<u8>>, String> {
    let marker = Resp::Array(vec![common::bulk("message"), common::bulk("__marker__"), common::bulk(n)]);
    let mut got = Vec::new();
    loop {
        let r = sub.read().map_err(|e| format!("reading events: {e}; got so far: {}", show_frames(&got)))?;
        if r.value == marker {
            return Ok(got);
        }
        got.push(r.raw);
    }
}

/// One notification run: returns the reports of the seeds that diverged.
fn notification_run(flags: &str, families: Families) -> Vec<String> {
    let Some((redis, ferrous)) = servers() else { return Vec::new() };
    let (seeds, n_ops) = knobs();
    let label = format!("notifications {flags}{}", families.label());
    let mut failures = Vec::new();
    for seed in seeds {
        let mut admin = Twin::open("admin", &redis, &ferrous, false);
        for args in [cmd!["FLUSHALL"], cmd!["CONFIG", "SET", "notify-keyspace-events", flags]] {
            let [a, b] = admin.call(&args);
            assert_eq!(
                a.as_ref().map(|r| r.raw.clone()).ok(),
                Some(b"+OK\r\n".to_vec()),
                "redis: {}",
                show_command(&args)
            );
            assert_eq!(
                b.as_ref().map(|r| r.raw.clone()).ok(),
                Some(b"+OK\r\n".to_vec()),
                "ferrous: {}",
                show_command(&args)
            );
        }
        // The one documented difference in the configuration text.
        let expected = match flags {
            "KEAn" => ["AKE", "AnKE"],
            _ => ["AKE", "AKE"],
        };
        let got = admin.call(&cmd!["CONFIG", "GET", "notify-keyspace-events"]);
        for (i, g) in got.iter().enumerate() {
            let want = Resp::Array(vec![common::bulk("notify-keyspace-events"), common::bulk(expected[i])]);
            assert_eq!(
                g.as_ref().map(|r| r.value.clone()).ok(),
                Some(want),
                "CONFIG GET notify-keyspace-events ({:?})",
                [Side::Redis, Side::Ferrous][i]
            );
        }
        let mut sub = Twin::open("subscriber", &redis, &ferrous, false);
        for args in [cmd!["PSUBSCRIBE", "__key*__:*"], cmd!["SUBSCRIBE", "__marker__"]] {
            let [a, b] = sub.call(&args);
            assert!(a.is_ok() && b.is_ok(), "{}: {} / {}", show_command(&args), show_result(&a), show_result(&b));
        }
        let mut writer = Twin::open("writer", &redis, &ferrous, false);
        let mut gen = Gen { rng: Rng::new(seed) };
        let mut steps = Vec::new();
        while steps.len() < n_ops {
            gen.notify_steps(families, &mut steps);
        }
        let mut history: Vec<String> = Vec::new();
        let mut failed = None;
        let mut events = 0;
        'steps: for (i, step) in steps.iter().enumerate() {
            let args = match step {
                NStep::Sleep(ms) => {
                    std::thread::sleep(Duration::from_millis(*ms));
                    history.push(format!("#{i} (sleep {ms} ms)"));
                    continue;
                }
                NStep::Cmd(args) if skipped(args) => continue,
                NStep::Cmd(args) => args,
            };
            let shown = show_command(args);
            let [a, b] = writer.call(args);
            let same = matches!((&a, &b), (Ok(x), Ok(y)) if normalize_reply(args, x) == normalize_reply(args, y));
            if !same {
                failed = Some(divergence(
                    &label,
                    seed,
                    i,
                    &history,
                    &format!("{shown}   (reply)"),
                    &show_result(&a),
                    &show_result(&b),
                ));
                break;
            }
            let marker = i.to_string();
            let mut streams = Vec::new();
            for side in [Side::Redis, Side::Ferrous] {
                let w = writer.conn(side);
                if let Err(e) = w.call(&["PUBLISH", "__marker__", &marker]) {
                    failed =
                        Some(divergence(&label, seed, i, &history, &shown, &format!("{side:?}: PUBLISH: {e}"), ""));
                    break 'steps;
                }
                streams.push(read_events(sub.conn(side), &marker));
            }
            let same = matches!((&streams[0], &streams[1]), (Ok(x), Ok(y)) if x == y);
            let show = |s: &Result<Vec<Vec<u8>>, String>| match s {
                Ok(f) => show_frames(f),
                Err(e) => format!("<{e}>"),
            };
            if verbose() {
                eprintln!("#{i} {shown} -> {}\n    events: {}", show_result(&a), show(&streams[0]));
            }
            if !same {
                failed = Some(divergence(
                    &label,
                    seed,
                    i,
                    &history,
                    &format!("{shown}   (events)"),
                    &show(&streams[0]),
                    &show(&streams[1]),
                ));
                break;
            }
            events += streams[0].as_ref().map_or(0, |s| s.len());
            history.push(format!("#{i} {shown}   -> {}", a.map(|r| r.value.to_string()).unwrap_or_default()));
        }
        match failed {
            Some(f) => failures.push(f),
            None => eprintln!("{label} seed {seed}: {} steps, {events} identical events", steps.len()),
        }
    }
    failures
}

#[test]
fn keyspace_notification_streams_match_redis() {
    let mut failures = notification_run("KEA", Families::default());
    failures.extend(notification_run("KEAn", Families::default()));
    assert!(failures.is_empty(), "keyspace notifications differ from Redis:{}", failures.join(""));
}

#[test]
fn keyspace_notification_streams_with_lists_match_redis() {
    let failures = notification_run("KEAn", Families { lists: true, zsets: false });
    assert!(failures.is_empty(), "keyspace notifications (lists included) differ from Redis:{}", failures.join(""));
}

#[test]
fn keyspace_notification_streams_with_zsets_match_redis() {
    let failures = notification_run("KEAn", Families { lists: true, zsets: true });
    assert!(
        failures.is_empty(),
        "keyspace notifications (lists and zsets included) differ from Redis:{}",
        failures.join("")
    );
}

// ---------------------------------------------------------------------------------------
// 2. Transactions across two clients.
// ---------------------------------------------------------------------------------------

const TKEYS: &[&str] = &["w0", "w1", "w2", "w3"];

/// One step of a transaction run.
#[derive(Clone)]
enum TStep {
    /// A command on client A (the one that watches and executes).
    A(Cmd),
    /// A command on client B (the one that interferes).
    B(Cmd),
    /// Sleep (both servers at once).
    Sleep(u64),
}

impl Gen {
    fn tkey(&mut self) -> Vec<u8> {
        self.pick(TKEYS)
    }

    /// What client B does between A's WATCH and EXEC: writes that change something, writes
    /// that change nothing, expiry, flushes, database swaps, reads.
    fn interfere(&mut self, out: &mut Vec<TStep>) {
        let k = self.tkey();
        let k2 = self.tkey();
        let v = self.value();
        let c = match self.rng.below(46) {
            0..=2 => cmd!["SET", k, v],
            3 => cmd!["DEL", k],
            4 => cmd!["DEL", "nosuchkey"],
            5 => cmd!["INCR", k],
            6 => cmd!["EXPIRE", k, "100000"],
            7 => cmd!["PERSIST", k],
            8 | 9 => {
                out.push(TStep::B(cmd!["SET", k, v, "PX", "1"]));
                out.push(TStep::Sleep(3));
                return;
            }
            10 => {
                out.push(TStep::B(cmd!["PEXPIRE", k, "1"]));
                out.push(TStep::Sleep(3));
                return;
            }
            11 => cmd!["FLUSHDB"],
            12 => cmd!["FLUSHALL"],
            13 | 14 => cmd!["SWAPDB", "0", "1"],
            15 => {
                out.push(TStep::B(cmd!["SELECT", "1"]));
                out.push(TStep::B(cmd!["SET", k, v]));
                out.push(TStep::B(cmd!["SELECT", "0"]));
                return;
            }
            16 => cmd!["RENAME", k, k2],
            17 => cmd!["MOVE", k, "1"],
            18 => cmd!["COPY", k, k2],
            19 => cmd!["GET", k],
            20 => cmd!["SADD", k, "m"],
            21 => cmd!["HSET", k, "f", "same"],
            22 => cmd!["APPEND", k, ""],
            23 => cmd!["SETRANGE", k, "0", ""],
            24 => cmd!["GETEX", k],
            25 => cmd!["GETEX", k, "PERSIST"],
            26 => cmd!["INCRBY", k, "0"],
            27 => cmd!["SREM", k, "nosuchmember"],
            28 => cmd!["HDEL", k, "nosuchfield"],
            29 => cmd!["EXPIRE", k, "100000", "NX"],
            30 => cmd!["SETBIT", k, "0", "0"],
            31 => cmd!["RENAME", k, k],
            32 => cmd!["COPY", k, k2, "DB", "1"],
            // Multi-key commands: only the keys they change count.
            33 => cmd!["MSET", k, v, k2, "x"],
            34 => cmd!["MSETNX", k, v, k2, "x"],
            35 => cmd!["BITOP", self.pick(&["OR", "AND"]), k, k2],
            36 => cmd![self.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), k, k2],
            37 => cmd!["SMOVE", k, k2, "m"],
            38 => cmd!["RPOPLPUSH", k, k2],
            39 => cmd!["LMOVE", k, k2, "LEFT", "RIGHT"],
            40 => cmd!["ZUNIONSTORE", k, "1", k2],
            41 => cmd!["SORT", k2, "ALPHA", "STORE", k],
            42 => cmd!["LPUSH", k, "e"],
            43 => cmd!["ZADD", k, "1", "m"],
            44 => cmd!["SETBIT", k, "1", "1"],
            _ => cmd!["SET", k, v, "NX"],
        };
        out.push(TStep::B(c));
    }

    /// A command queued between MULTI and EXEC (sometimes one that fails to queue or fails
    /// at run time).
    fn queued(&mut self) -> Cmd {
        let k = self.tkey();
        let v = self.value();
        match self.rng.below(24) {
            0..=3 => cmd!["SET", k, v],
            4 | 5 => cmd!["INCR", k],
            6 | 7 => cmd!["GET", k],
            8 => cmd!["HSET", k, "f", v],
            9 => cmd!["SADD", k, "m"],
            10 => cmd!["NOSUCHCOMMAND", k],
            11 => cmd!["GET"],
            12 => cmd!["SET", k],
            13 => cmd!["MULTI"],
            14 => cmd!["WATCH", k],
            15 => cmd!["DEL", k],
            16 => cmd!["EXPIRE", k, "100000"],
            17 => cmd!["LPUSH", k, v],
            18 => cmd!["INCRBYFLOAT", k, "x"],
            19 => cmd!["PING"],
            20 => cmd!["SELECT", self.pick(&["0", "1", "99"])],
            21 => cmd!["EXISTS", k, "w0", "w1"],
            22 => cmd!["GETDEL", k],
            _ => cmd!["CONFIG", "SET", "nosuchparameter", "1"],
        }
    }

    /// One round: A watches, B interferes, A queues and executes (or discards).
    fn tx_round(&mut self, out: &mut Vec<TStep>) {
        if self.rng.chance(10) {
            // Expired before WATCH: WATCH sees a key that is logically gone.
            let k = self.tkey();
            out.push(TStep::B(cmd!["SET", k, "v", "PX", "1"]));
            out.push(TStep::Sleep(3));
        }
        if self.rng.chance(75) {
            let n = self.rng.range(1, 3);
            let mut c = cmd!["WATCH"];
            for _ in 0..n {
                c.push(self.tkey());
            }
            out.push(TStep::A(c));
        }
        if self.rng.chance(8) {
            out.push(TStep::A(cmd!["SELECT", "1"]));
            out.push(TStep::A(cmd!["WATCH", self.tkey()]));
            out.push(TStep::A(cmd!["SELECT", "0"]));
        }
        if self.rng.chance(8) {
            out.push(TStep::A(cmd!["UNWATCH"]));
        }
        for _ in 0..self.rng.range(0, 2) {
            self.interfere(out);
        }
        if self.rng.chance(10) {
            // A modifies its own watched key.
            out.push(TStep::A(cmd!["SET", self.tkey(), "mine"]));
        }
        let multi = self.rng.chance(92);
        if multi {
            out.push(TStep::A(cmd!["MULTI"]));
            for _ in 0..self.rng.range(0, 4) {
                out.push(TStep::A(self.queued()));
            }
            if self.rng.chance(30) {
                self.interfere(out);
            }
        }
        let end = if self.rng.chance(85) { "EXEC" } else { "DISCARD" };
        out.push(TStep::A(cmd![end]));
        if self.rng.chance(30) {
            out.push(TStep::A(cmd!["MGET", "w0", "w1", "w2", "w3"]));
        }
        if self.rng.chance(5) {
            // A lands in another database when a queued SELECT ran: go back.
            out.push(TStep::A(cmd!["SELECT", "0"]));
        }
    }
}

#[test]
fn transactions_across_two_clients_match_redis() {
    let Some((redis, ferrous)) = servers() else { return };
    let (seeds, n_ops) = knobs();
    let mut failures = Vec::new();
    for seed in seeds {
        let mut admin = Twin::open("admin", &redis, &ferrous, false);
        let _ = admin.call(&cmd!["FLUSHALL"]);
        let mut a = Twin::open("A", &redis, &ferrous, false);
        let mut b = Twin::open("B", &redis, &ferrous, false);
        let mut gen = Gen { rng: Rng::new(seed) };
        let mut steps = Vec::new();
        while steps.len() < n_ops {
            gen.tx_round(&mut steps);
        }
        let mut history = Vec::new();
        let mut failed = None;
        let mut execs = [0usize; 3]; // ran, aborted by WATCH, EXECABORT
        for (i, step) in steps.iter().enumerate() {
            let (who, args) = match step {
                TStep::Sleep(ms) => {
                    std::thread::sleep(Duration::from_millis(*ms));
                    history.push(format!("#{i} (sleep {ms} ms)"));
                    continue;
                }
                TStep::A(args) | TStep::B(args) if skipped(args) => continue,
                TStep::A(args) => (&mut a, args),
                TStep::B(args) => (&mut b, args),
            };
            let shown = format!("{}: {}", who.name, show_command(args));
            let [x, y] = who.call(args);
            let same = matches!((&x, &y), (Ok(x), Ok(y)) if x.raw == y.raw);
            if verbose() {
                eprintln!("#{i} {shown} -> {}", show_result(&x));
            }
            if !same {
                failed =
                    Some(divergence("transactions", seed, i, &history, &shown, &show_result(&x), &show_result(&y)));
                break;
            }
            if lower(&args[0]) == "exec" {
                match x.as_ref().map(|r| &r.value) {
                    Ok(Resp::Array(_)) => execs[0] += 1,
                    Ok(Resp::NilArray) => execs[1] += 1,
                    Ok(Resp::Error(e)) if e.starts_with(b"EXECABORT") => execs[2] += 1,
                    _ => {}
                }
            }
            history.push(format!("#{i} {shown}   -> {}", x.map(|r| r.value.to_string()).unwrap_or_default()));
        }
        match failed {
            Some(f) => failures.push(f),
            None => eprintln!(
                "transactions seed {seed}: {} steps, identical replies (EXEC ran {}, aborted by WATCH {}, EXECABORT {})",
                steps.len(),
                execs[0],
                execs[1],
                execs[2]
            ),
        }
    }
    assert!(failures.is_empty(), "transactions differ from Redis:{}", failures.join(""));
}

/// Hand-written two-client scenarios (`A:`/`B:` commands, `sleep ms`), each from an empty
/// server: the WATCH decisions Redis 7.0 makes for expiry, flushes, database swaps,
/// writes that change nothing, multi-key writes, and the MULTI error cases. Every reply
/// must be identical. Arguments are split on spaces; `""` is the empty string.
const TX_SCENARIOS: &[&str] = &[
    // Expiry after WATCH aborts; a key already expired when watched does not.
    "B: SET k v PX 150 | A: WATCH k | sleep 250 | A: MULTI | A: GET k | A: EXEC",
    "B: SET k v PX 1 | sleep 5 | A: WATCH k | A: MULTI | A: SET x 1 | A: EXEC",
    "B: SET k v PX 1 | sleep 5 | A: WATCH k | B: SET k again | A: MULTI | A: SET x 1 | A: EXEC",
    "B: SET k v PX 1 | sleep 5 | A: WATCH k | B: DEL k | A: MULTI | A: SET x 1 | A: EXEC",
    "B: SET k v | A: WATCH k | B: PEXPIRE k 1 | sleep 5 | A: MULTI | A: GET k | A: EXEC",
    // Flushes: only a watched key that existed counts.
    "B: SET other 1 | A: WATCH k | B: FLUSHALL | A: MULTI | A: SET k 1 | A: EXEC",
    "B: SET k 1 | A: WATCH k | B: FLUSHDB | A: MULTI | A: SET k 2 | A: EXEC",
    "B: SET k 1 | A: WATCH k | B: SELECT 1 | B: FLUSHDB | A: MULTI | A: GET k | A: EXEC",
    "B: SET k 1 | A: WATCH k | B: FLUSHALL | B: SET k 1 | A: MULTI | A: GET k | A: EXEC",
    // SWAPDB: a watched key counts when a live key of its name is there after the swap.
    "B: SET other 1 | A: WATCH k | B: SWAPDB 0 1 | A: MULTI | A: SET k 1 | A: EXEC",
    "B: SELECT 1 | B: SET k 1 | A: WATCH k | B: SWAPDB 0 1 | A: MULTI | A: GET k | A: EXEC",
    "B: SET k 1 | A: WATCH k | B: SWAPDB 0 1 | A: MULTI | A: GET k | A: EXEC",
    "B: SET k 1 | B: SELECT 1 | B: SET k 2 | A: WATCH k | B: SWAPDB 0 1 | A: MULTI | A: GET k | A: EXEC",
    // Writes that change nothing do not count; writes that always signal do.
    "B: SET k v | A: WATCH k | B: DEL missing | B: EXPIRE missing 100 | B: PERSIST k | B: GETEX k | B: SETRANGE k 0 \"\" | A: MULTI | A: GET k | A: EXEC",
    "B: SADD s m | A: WATCH s | B: SADD s m | B: SREM s nope | A: MULTI | A: SCARD s | A: EXEC",
    "B: HSET h f v | A: WATCH h | B: HDEL h nope | A: MULTI | A: HGET h f | A: EXEC",
    "B: HSET h f v | A: WATCH h | B: HSET h f v | A: MULTI | A: HGET h f | A: EXEC",
    "B: SET k v | A: WATCH k | B: APPEND k \"\" | A: MULTI | A: GET k | A: EXEC",
    "B: SET k 5 | A: WATCH k | B: INCRBY k 0 | A: MULTI | A: GET k | A: EXEC",
    "B: SET k v | A: WATCH k | B: SET k v | A: MULTI | A: GET k | A: EXEC",
    "B: SET k v | A: WATCH k | B: SET k w NX | A: MULTI | A: GET k | A: EXEC",
    "B: SET k \\x00 | A: WATCH k | B: SETBIT k 0 0 | A: MULTI | A: GET k | A: EXEC",
    "B: SET k v | A: WATCH k | B: RENAME k k | A: MULTI | A: GET k | A: EXEC",
    // Multi-key writes: only the keys they change count.
    "B: SET src v | A: WATCH src | B: COPY src dst | A: MULTI | A: GET src | A: EXEC",
    "B: SET src v | A: WATCH dst | B: COPY src dst | A: MULTI | A: GET dst | A: EXEC",
    "B: SET src v | A: WATCH dst | B: COPY src dst DB 1 | A: MULTI | A: GET dst | A: EXEC",
    "B: SET src v | A: SELECT 1 | A: WATCH dst | A: SELECT 0 | B: COPY src dst DB 1 | A: MULTI | A: GET dst | A: EXEC",
    "B: SET src v | A: WATCH src | B: BITOP OR dst src | A: MULTI | A: GET src | A: EXEC",
    "B: SET src v | A: WATCH dst | B: BITOP OR dst src | A: MULTI | A: GET dst | A: EXEC",
    "B: SADD s1 a | A: WATCH s1 | B: SINTERSTORE d s1 | A: MULTI | A: SCARD s1 | A: EXEC",
    "B: SADD s1 a | A: WATCH d | B: SUNIONSTORE d s1 | A: MULTI | A: SCARD d | A: EXEC",
    "B: SADD s1 a | A: WATCH s1 | B: SMOVE s1 s2 a | A: MULTI | A: SCARD s1 | A: EXEC",
    "B: SET a 1 | A: WATCH b | B: MSET a 2 b 2 | A: MULTI | A: GET b | A: EXEC",
    "B: SET a 1 | A: WATCH b | B: MSETNX a 2 b 2 | A: MULTI | A: GET b | A: EXEC",
    "B: SET k v | A: WATCH k | B: MOVE k 1 | A: MULTI | A: GET k | A: EXEC",
    "B: SET k v | A: SELECT 1 | A: WATCH k | A: SELECT 0 | B: MOVE k 1 | A: MULTI | A: GET k | A: EXEC",
    "B: SET k v | A: WATCH k2 | B: RENAME k k2 | A: MULTI | A: GET k2 | A: EXEC",
    "B: SET k v | A: WATCH k | B: SELECT 1 | B: SET k v | A: MULTI | A: GET k | A: EXEC",
    // The watcher's own writes, UNWATCH, changes after MULTI.
    "A: WATCH k | A: SET k mine | A: MULTI | A: GET k | A: EXEC",
    "A: WATCH k | B: SET k v | A: UNWATCH | A: MULTI | A: GET k | A: EXEC",
    "A: WATCH k | A: MULTI | A: GET k | B: SET k v | A: EXEC",
    "A: WATCH k | B: SET k v | A: MULTI | A: DISCARD | A: MULTI | A: GET k | A: EXEC",
    "A: WATCH k | B: SET k v | A: EXEC | A: MULTI | A: GET k | A: EXEC",
    // Errors while queueing, at run time, and in the wrong state.
    "A: MULTI | A: SET k v | A: NOSUCHCOMMAND | A: GET k | A: EXEC | A: GET k",
    "A: MULTI | A: SET k v | A: GET | A: EXEC | A: GET k",
    "A: MULTI | A: SET k v | A: MULTI | A: WATCH k | A: GET k | A: EXEC",
    "B: SET k abc | A: MULTI | A: INCR k | A: SET j 1 | A: LPUSH k x | A: GET j | A: EXEC",
    "A: EXEC | A: DISCARD | A: MULTI | A: DISCARD | A: DISCARD",
    "A: MULTI | A: BLPOP list 0 | A: LPUSH list a | A: BLPOP list 0 | A: EXEC",
    "A: MULTI | A: SELECT 1 | A: SET k one | A: SELECT 99 | A: EXEC | A: GET k | A: SELECT 0 | A: GET k",
    "A: WATCH k | A: MULTI | A: PING | A: ECHO hi | A: EXEC",
];

/// Splits a scenario line's arguments (`""` is the empty string, `\\x00` a NUL byte).
fn scenario_args(text: &str) -> Cmd {
    text.split_whitespace()
        .map(|a| match a {
            "\"\"" => Vec::new(),
            "\\x00" => vec![0],
            _ => a.as_bytes().to_vec(),
        })
        .collect()
}

#[test]
fn transaction_scenarios_match_redis() {
    let Some((redis, ferrous)) = servers() else { return };
    let mut failures = String::new();
    for (n, scenario) in TX_SCENARIOS.iter().enumerate() {
        let mut admin = Twin::open("admin", &redis, &ferrous, false);
        let _ = admin.call(&cmd!["FLUSHALL"]);
        let mut a = Twin::open("A", &redis, &ferrous, false);
        let mut b = Twin::open("B", &redis, &ferrous, false);
        for step in scenario.split('|').map(str::trim) {
            if let Some(ms) = step.strip_prefix("sleep ") {
                std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
                continue;
            }
            let (who, args) = match step.split_once(':') {
                Some(("A", rest)) => (&mut a, scenario_args(rest)),
                Some(("B", rest)) => (&mut b, scenario_args(rest)),
                _ => panic!("bad scenario step {step:?}"),
            };
            let [x, y] = who.call(&args);
            if !matches!((&x, &y), (Ok(x), Ok(y)) if x.raw == y.raw) {
                let _ = writeln!(
                    failures,
                    "scenario #{n}: {scenario}\n  at {step}\n  redis:   {}\n  ferrous: {}",
                    show_result(&x),
                    show_result(&y)
                );
                break;
            }
        }
    }
    assert!(failures.is_empty(), "transaction scenarios differ from Redis:\n{failures}");
}

// ---------------------------------------------------------------------------------------
// 3. Pub/Sub on several RESP2 and RESP3 clients.
// ---------------------------------------------------------------------------------------

const CHANNELS: &[&str] = &["ch1", "ch2", "ch3", "news.a", "news.b"];
const PATTERNS: &[&str] = &["news.*", "ch?", "*", "h[ae]llo", "ch1", "n*s.[ab]"];
const SHARD_CHANNELS: &[&str] = &["s1", "s2", "s3"];
/// What a drain's PING carries, so that it cannot be mistaken for a PING under test.
const DRAIN: &str = "__drain__";

/// Sends `PING __drain__` and returns the frames read before its reply.
fn drain_frames(c: &mut RespConn) -> Result<Vec<Resp>, String> {
    c.send(&["PING", DRAIN]).map_err(|e| format!("send PING: {e}"))?;
    let mut got: Vec<Resp> = Vec::new();
    loop {
        let r = c.read().map_err(|e| format!("reading until the drain PING: {e}; got so far: {got:?}"))?;
        let done = match &r.value {
            Resp::Bulk(b) => b == DRAIN.as_bytes(),
            Resp::Array(items) => {
                items.len() == 2 && items[0] == common::bulk("pong") && items[1] == common::bulk(DRAIN)
            }
            _ => false,
        };
        if done {
            return Ok(got);
        }
        got.push(r.value);
    }
}

/// The first element of a message-like frame (`message`, `subscribe`, ...).
fn frame_kind(v: &Resp) -> Option<(&[u8], &[Resp])> {
    match v {
        Resp::Array(items) | Resp::Push(items) => match items.first() {
            Some(Resp::Bulk(k)) => Some((k.as_slice(), items.as_slice())),
            _ => None,
        },
        _ => None,
    }
}

/// Rebuilds a frame of the same aggregate type with other items.
fn same_shape(v: &Resp, items: Vec<Resp>) -> Resp {
    match v {
        Resp::Push(_) => Resp::Push(items),
        _ => Resp::Array(items),
    }
}

/// The normalisations of the pub/sub runs (see the module documentation).
fn normalize_frames(args: &Cmd, frames: Vec<Resp>, acting: bool) -> Vec<Resp> {
    let name = lower(&args[0]);
    let mut frames = frames;
    // Argument-less unsubscribe: Redis walks a hash table. Sort the names, keep the counts.
    if acting && args.len() == 1 && matches!(name.as_str(), "unsubscribe" | "punsubscribe" | "sunsubscribe") {
        let idx: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| frame_kind(f).is_some_and(|(k, _)| k == name.as_bytes()))
            .map(|(i, _)| i)
            .collect();
        let mut names: Vec<Resp> =
            idx.iter().filter_map(|&i| frame_kind(&frames[i]).and_then(|(_, it)| it.get(1).cloned())).collect();
        names.sort_by_key(|n| n.to_bytes());
        for (&i, n) in idx.iter().zip(names) {
            if let Some((_, items)) = frame_kind(&frames[i]) {
                let mut items = items.to_vec();
                items[1] = n;
                frames[i] = same_shape(&frames[i], items);
            }
        }
    }
    if acting && name == "pubsub" && args.len() > 1 && matches!(lower(&args[1]).as_str(), "channels" | "shardchannels")
    {
        frames = frames
            .into_iter()
            .map(|f| match f {
                Resp::Array(items) => Resp::Array(sorted(&items)),
                Resp::Set(items) => Resp::Set(sorted(&items)),
                other => other,
            })
            .collect();
    }
    // The pmessages of one PUBLISH to one client come in pattern-table order.
    let mut i = 0;
    while i < frames.len() {
        let key = |f: &Resp| frame_kind(f).filter(|(k, _)| *k == b"pmessage").map(|(_, it)| it[2..].to_vec());
        let Some(k) = key(&frames[i]) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while j < frames.len() && key(&frames[j]).as_ref() == Some(&k) {
            j += 1;
        }
        frames[i..j].sort_by_key(|f| f.to_bytes());
        i = j;
    }
    frames
}

impl Gen {
    fn names(&mut self, from: &[&str], min: i64, max: i64) -> Vec<Vec<u8>> {
        let n = self.rng.range(min, max);
        (0..n).map(|_| self.pick(from)).collect()
    }

    /// A pub/sub command (the connection is chosen by the caller). `n` makes payloads
    /// unique.
    fn pubsub_command(&mut self, n: usize) -> Cmd {
        let with = |verb: &str, names: Vec<Vec<u8>>| {
            let mut c = cmd![verb];
            c.extend(names);
            c
        };
        match self.rng.below(30) {
            0..=3 => {
                let names = self.names(CHANNELS, 1, 3);
                with("SUBSCRIBE", names)
            }
            4..=6 => {
                let names = self.names(PATTERNS, 1, 2);
                with("PSUBSCRIBE", names)
            }
            7 | 8 => {
                let names = if self.rng.chance(35) { Vec::new() } else { self.names(CHANNELS, 1, 2) };
                with("UNSUBSCRIBE", names)
            }
            9 | 10 => {
                let names = if self.rng.chance(35) { Vec::new() } else { self.names(PATTERNS, 1, 2) };
                with("PUNSUBSCRIBE", names)
            }
            11 => {
                let names = self.names(SHARD_CHANNELS, 1, 2);
                with("SSUBSCRIBE", names)
            }
            12 => {
                let names = if self.rng.chance(35) { Vec::new() } else { self.names(SHARD_CHANNELS, 1, 1) };
                with("SUNSUBSCRIBE", names)
            }
            13..=19 => {
                let ch = if self.rng.chance(80) {
                    self.pick(CHANNELS)
                } else {
                    self.pick(&["hello", "hallo", "other", "news.c"])
                };
                cmd!["PUBLISH", ch, format!("m{n}")]
            }
            20 | 21 => cmd!["SPUBLISH", self.pick(SHARD_CHANNELS), format!("s{n}")],
            22 => {
                let names = self.names(CHANNELS, 0, 3);
                let mut c = cmd!["PUBSUB", "NUMSUB"];
                c.extend(names);
                c
            }
            23 => cmd!["PUBSUB", "NUMPAT"],
            24 => {
                if self.rng.chance(50) {
                    cmd!["PUBSUB", "CHANNELS"]
                } else {
                    cmd!["PUBSUB", "CHANNELS", self.pick(&["ch*", "news.?", "x*"])]
                }
            }
            25 => {
                let mut c = cmd!["PUBSUB", self.pick(&["SHARDCHANNELS", "SHARDNUMSUB"])];
                if self.rng.chance(50) {
                    c.push(self.pick(SHARD_CHANNELS));
                }
                c
            }
            26 => {
                if self.rng.chance(50) {
                    cmd!["PING"]
                } else {
                    cmd!["PING", "hi"]
                }
            }
            27 => cmd!["GET", "somekey"],
            28 => cmd!["SET", "somekey", "v"],
            _ => cmd!["PUBSUB", "NUMSUB"],
        }
    }
}

#[test]
fn pubsub_on_several_clients_matches_redis() {
    let Some((redis, ferrous)) = servers() else { return };
    let (seeds, n_ops) = knobs();
    let mut failures = Vec::new();
    for seed in seeds {
        let mut clients: Vec<Twin> = (0..5)
            .map(|i| Twin::open(&format!("c{i}{}", if i >= 3 { "(RESP3)" } else { "" }), &redis, &ferrous, i >= 3))
            .collect();
        let mut gen = Gen { rng: Rng::new(seed) };
        let mut history = Vec::new();
        let mut failed = None;
        let mut delivered = 0;
        'ops: for i in 0..n_ops {
            let who = gen.rng.below(clients.len() as u64) as usize;
            let args = gen.pubsub_command(i);
            if skipped(&args) {
                continue;
            }
            let shown = format!("{}: {}", clients[who].name, show_command(&args));
            // The acting client first, then everybody else: what the command sends to
            // other clients is queued for them before they are drained.
            let mut outputs: Vec<[Vec<Resp>; 2]> = vec![[Vec::new(), Vec::new()]; clients.len()];
            for ci in std::iter::once(who).chain((0..clients.len()).filter(|&c| c != who)) {
                let c = &mut clients[ci];
                let mut pair: [Vec<Resp>; 2] = [Vec::new(), Vec::new()];
                for side in [Side::Redis, Side::Ferrous] {
                    let conn = c.conn(side);
                    if ci == who {
                        if let Err(e) = conn.send(&args) {
                            failed = Some(divergence(
                                "pub/sub",
                                seed,
                                i,
                                &history,
                                &shown,
                                &format!("{side:?}: send: {e}"),
                                "",
                            ));
                            break 'ops;
                        }
                    }
                    match drain_frames(conn) {
                        Ok(frames) => pair[side as usize] = normalize_frames(&args, frames, ci == who),
                        Err(e) => {
                            let what = format!("{shown}   (output of {})", c.name);
                            failed =
                                Some(divergence("pub/sub", seed, i, &history, &what, &format!("{side:?}: {e}"), ""));
                            break 'ops;
                        }
                    }
                }
                outputs[ci] = pair;
            }
            for (ci, [r, f]) in outputs.iter().enumerate() {
                if verbose() && !r.is_empty() {
                    eprintln!("#{i} {shown} => {}: {r:?}", clients[ci].name);
                }
                if r != f {
                    let show = |v: &[Resp]| {
                        if v.is_empty() {
                            "(nothing)".to_string()
                        } else {
                            v.iter()
                                .map(|x| format!("{x}   [raw: \"{}\"]", escape(&x.to_bytes())))
                                .collect::<Vec<_>>()
                                .join("\n         ")
                        }
                    };
                    let what = format!("{shown}   (output of {})", clients[ci].name);
                    failed = Some(divergence("pub/sub", seed, i, &history, &what, &show(r), &show(f)));
                    break 'ops;
                }
                if ci != who {
                    delivered += r.len();
                }
            }
            let reply = outputs[who][0].iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
            history.push(format!("#{i} {shown}   -> {reply}"));
        }
        match failed {
            Some(f) => failures.push(f),
            None => {
                eprintln!("pub/sub seed {seed}: {n_ops} commands, {delivered} identical deliveries to other clients")
            }
        }
        // The next seed starts from no subscriptions.
        drop(clients);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(failures.is_empty(), "pub/sub differs from Redis:{}", failures.join(""));
}

// ---------------------------------------------------------------------------------------
// 4. Client-side caching.
// ---------------------------------------------------------------------------------------

const CKEYS: &[&str] = &["user:1", "user:2", "obj:1", "x"];
const PREFIXES: &[&str] = &["user:", "obj:", "u", "x"];

/// The clients of a tracking run, by index.
const TRACKER3: usize = 0; // RESP3, invalidations as pushes on its own connection
const TRACKER3B: usize = 1; // RESP3, sometimes redirecting to TARGET3
const TRACKER2: usize = 2; // RESP2, redirecting to TARGET2
const TARGET2: usize = 3; // RESP2 redirect target (subscribed to __redis__:invalidate or not)
const TARGET3: usize = 4; // RESP3 redirect target
const WRITER: usize = 5; // RESP2, plain
const TRACKERS: &[usize] = &[TRACKER3, TRACKER3B, TRACKER2];

/// One step of a tracking run.
#[derive(Clone)]
enum CStep {
    /// A command on a client; `Target(i)` arguments become client `i`'s id on each server.
    Cmd(usize, Vec<Arg>),
    /// Sleep (both servers at once).
    Sleep(u64),
    /// Closes client `i` and opens it again (a redirect target going away).
    Reconnect(usize),
}

#[derive(Clone)]
enum Arg {
    Lit(Vec<u8>),
    Target(usize),
}

fn lits(c: Cmd) -> Vec<Arg> {
    c.into_iter().map(Arg::Lit).collect()
}

impl Gen {
    fn ckey(&mut self) -> Vec<u8> {
        self.pick(CKEYS)
    }

    /// CLIENT TRACKING ON/OFF for `who`, with random (sometimes conflicting) options.
    fn tracking_command(&mut self, who: usize) -> Vec<Arg> {
        if self.rng.chance(20) {
            return lits(cmd!["CLIENT", "TRACKING", "OFF"]);
        }
        let mut c = lits(cmd!["CLIENT", "TRACKING", "ON"]);
        let redirect = match who {
            TRACKER2 => self.rng.chance(90).then_some(TARGET2),
            TRACKER3B => self.rng.chance(50).then_some(*self.rng.pick(&[TARGET3, TARGET2])),
            _ => self.rng.chance(5).then_some(TARGET3),
        };
        if let Some(t) = redirect {
            c.push(Arg::Lit(b"REDIRECT".to_vec()));
            c.push(Arg::Target(t));
        }
        let bcast = self.rng.chance(35);
        if bcast {
            c.push(Arg::Lit(b"BCAST".to_vec()));
            for _ in 0..self.rng.range(0, 2) {
                c.push(Arg::Lit(b"PREFIX".to_vec()));
                c.push(Arg::Lit(self.pick(PREFIXES)));
            }
        } else if self.rng.chance(5) {
            c.push(Arg::Lit(b"PREFIX".to_vec()));
            c.push(Arg::Lit(self.pick(PREFIXES)));
        }
        match self.rng.below(10) {
            0 | 1 => c.push(Arg::Lit(b"OPTIN".to_vec())),
            2 | 3 => c.push(Arg::Lit(b"OPTOUT".to_vec())),
            4 if !bcast => {
                c.push(Arg::Lit(b"OPTIN".to_vec()));
                c.push(Arg::Lit(b"OPTOUT".to_vec()));
            }
            _ => {}
        }
        if self.rng.chance(30) {
            c.push(Arg::Lit(b"NOLOOP".to_vec()));
        }
        c
    }

    /// A read that tracking remembers.
    fn tracked_read(&mut self) -> Cmd {
        let k = self.ckey();
        match self.rng.below(7) {
            0..=2 => cmd!["GET", k],
            3 => cmd!["MGET", k, self.ckey()],
            4 => cmd!["EXISTS", k],
            5 => cmd!["STRLEN", k],
            _ => cmd!["HGET", k, "f"],
        }
    }

    /// A write (by the writer or by a tracker itself).
    fn cache_write(&mut self, out: &mut Vec<CStep>, who: usize) {
        let k = self.ckey();
        let k2 = self.ckey();
        let v = self.value();
        let c = match self.rng.below(20) {
            0..=4 => cmd!["SET", k, v],
            5 => cmd!["DEL", k, k2],
            6 => cmd!["MSET", k, v, k2, "x"],
            7 => cmd!["INCR", k],
            8 => cmd!["EXPIRE", k, "100000"],
            9 => cmd!["HSET", k, "f", v],
            10 => cmd!["APPEND", k, v],
            11 => {
                out.push(CStep::Cmd(who, lits(cmd!["SET", &k, v, "PX", SHORT_TTL_MS.to_string()])));
                out.push(CStep::Sleep(PAST_SHORT_TTL_MS));
                // The access that expires the key (if neither server did meanwhile) comes from
                // a client that does not track, so the invalidation lands in this step for
                // everybody whichever way it happens.
                out.push(CStep::Cmd(WRITER, lits(cmd!["EXISTS", k])));
                return;
            }
            12 => cmd![self.pick(&["FLUSHDB", "FLUSHALL"])],
            13 => cmd!["RENAME", k, k2],
            14 => cmd!["MOVE", k, "1"],
            15 => cmd!["COPY", k, k2, "REPLACE"],
            16 => cmd!["SET", k, v, "NX"],
            17 => cmd!["SETRANGE", k, "0", v],
            18 => cmd!["BITOP", "OR", k, k2],
            _ => cmd!["GETDEL", k],
        };
        out.push(CStep::Cmd(who, lits(c)));
    }

    fn tracking_steps(&mut self, out: &mut Vec<CStep>) {
        let tracker = *self.rng.pick(TRACKERS);
        match self.rng.below(30) {
            0..=3 => {
                let c = self.tracking_command(tracker);
                out.push(CStep::Cmd(tracker, c));
            }
            4 | 5 => {
                out.push(CStep::Cmd(
                    tracker,
                    lits(cmd!["CLIENT", "CACHING", self.pick(&["YES", "NO", "yes", "maybe"])]),
                ));
                let r = self.tracked_read();
                out.push(CStep::Cmd(tracker, lits(r)));
            }
            6..=12 => {
                let r = self.tracked_read();
                out.push(CStep::Cmd(tracker, lits(r)));
            }
            13..=20 => self.cache_write(out, WRITER),
            21 | 22 => self.cache_write(out, tracker),
            23 => out.push(CStep::Cmd(tracker, lits(cmd!["CLIENT", self.pick(&["TRACKINGINFO", "GETREDIR"])]))),
            24 => {
                let sub = if self.rng.chance(70) { "SUBSCRIBE" } else { "UNSUBSCRIBE" };
                out.push(CStep::Cmd(TARGET2, lits(cmd![sub, "__redis__:invalidate"])));
            }
            25 => out.push(CStep::Reconnect(*self.rng.pick(&[TARGET2, TARGET3]))),
            26 => {
                // A transaction on a tracker: reads and writes inside EXEC.
                let r = self.tracked_read();
                out.push(CStep::Cmd(tracker, lits(cmd!["MULTI"])));
                out.push(CStep::Cmd(tracker, lits(r)));
                out.push(CStep::Cmd(tracker, lits(cmd!["SET", self.ckey(), "inmulti"])));
                out.push(CStep::Cmd(tracker, lits(cmd!["EXEC"])));
            }
            27 => out.push(CStep::Cmd(WRITER, lits(cmd!["SWAPDB", "0", "1"]))),
            _ => {
                let r = self.tracked_read();
                out.push(CStep::Cmd(WRITER, lits(r)));
            }
        }
    }
}

#[test]
fn client_tracking_matches_redis() {
    let Some((redis, ferrous)) = servers() else { return };
    let (seeds, n_ops) = knobs();
    let mut failures = Vec::new();
    let names = ["tracker3", "tracker3b", "tracker2", "target2", "target3", "writer"];
    let resp3 = |i: usize| matches!(i, TRACKER3 | TRACKER3B | TARGET3);
    for seed in seeds {
        let mut admin = Twin::open("admin", &redis, &ferrous, false);
        let _ = admin.call(&cmd!["FLUSHALL"]);
        let mut clients: Vec<Twin> =
            names.iter().enumerate().map(|(i, n)| Twin::open(n, &redis, &ferrous, resp3(i))).collect();
        // Every id a client ever had, per server, for the id normalisation.
        let mut known: [Vec<(i64, String)>; 2] = [Vec::new(), Vec::new()];
        let mut generation = vec![0usize; names.len()];
        for c in &clients {
            for (s, ids) in known.iter_mut().enumerate() {
                ids.push((c.ids[s], c.name.clone()));
            }
        }
        let mut gen = Gen { rng: Rng::new(seed) };
        let mut steps = Vec::new();
        while steps.len() < n_ops {
            gen.tracking_steps(&mut steps);
        }
        let mut history = Vec::new();
        let mut failed = None;
        let mut invalidations = 0;
        'steps: for (i, step) in steps.iter().enumerate() {
            let (who, args) = match step {
                CStep::Sleep(ms) => {
                    std::thread::sleep(Duration::from_millis(*ms));
                    history.push(format!("#{i} (sleep {ms} ms)"));
                    continue;
                }
                CStep::Reconnect(who) => {
                    generation[*who] += 1;
                    let name = format!("{}#{}", names[*who], generation[*who]);
                    for (s, ids) in known.iter_mut().enumerate() {
                        // The old id keeps its old name in reports.
                        if let Some(e) = ids.iter_mut().find(|(id, _)| *id == clients[*who].ids[s]) {
                            e.1 = format!("{} (closed)", e.1);
                        }
                    }
                    clients[*who] = Twin::open(&name, &redis, &ferrous, resp3(*who));
                    for (s, ids) in known.iter_mut().enumerate() {
                        ids.push((clients[*who].ids[s], name.clone()));
                    }
                    history.push(format!("#{i} (reconnect {})", names[*who]));
                    // Let both servers notice the closed connection.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                CStep::Cmd(who, args) => (*who, args),
            };
            let per_side: [Cmd; 2] = [0, 1].map(|s| {
                args.iter()
                    .map(|a| match a {
                        Arg::Lit(b) => b.clone(),
                        Arg::Target(t) => clients[*t].ids[s].to_string().into_bytes(),
                    })
                    .collect()
            });
            if skipped(&per_side[0]) {
                continue;
            }
            let shown = format!(
                "{}: {}",
                clients[who].name,
                args.iter()
                    .map(|a| match a {
                        Arg::Lit(b) => format!("\"{}\"", escape(b)),
                        Arg::Target(t) => format!("<id of {}>", clients[*t].name),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let shows_ids = lower(&per_side[0][0]) == "client"
                && per_side[0].get(1).is_some_and(|a| matches!(lower(a).as_str(), "getredir" | "trackinginfo"));
            let in_multi = history.last().is_some_and(|h: &String| h.contains("\"MULTI\"") || h.contains("+QUEUED"));
            // The acting client first, then everybody else: what the command sends to
            // other clients is queued for them before they are drained.
            let mut outputs: Vec<[Vec<Resp>; 2]> = vec![[Vec::new(), Vec::new()]; clients.len()];
            for ci in std::iter::once(who).chain((0..clients.len()).filter(|&c| c != who)) {
                let c = &mut clients[ci];
                let mut pair: [Vec<Resp>; 2] = [Vec::new(), Vec::new()];
                for side in [Side::Redis, Side::Ferrous] {
                    let s = side as usize;
                    let conn = c.conn(side);
                    let mut frames = Vec::new();
                    if ci == who {
                        // Inside MULTI a drain PING would be queued: read the one reply.
                        let queued = in_multi && lower(&per_side[s][0]) != "exec" || lower(&per_side[s][0]) == "multi";
                        match conn.call(&per_side[s]) {
                            Ok(r) => frames.push(r.value),
                            Err(e) => {
                                failed = Some(divergence(
                                    "tracking",
                                    seed,
                                    i,
                                    &history,
                                    &shown,
                                    &format!("{side:?}: {e}"),
                                    "",
                                ));
                                break 'steps;
                            }
                        }
                        if queued {
                            pair[s] = frames
                                .iter()
                                .enumerate()
                                .map(|(n, f)| with_names(f, n == 0 && ci == who && shows_ids, &known[s]))
                                .collect();
                            continue;
                        }
                    }
                    match drain_frames(conn) {
                        Ok(more) => frames.extend(more),
                        Err(e) => {
                            let what = format!("{shown}   (output of {})", c.name);
                            failed =
                                Some(divergence("tracking", seed, i, &history, &what, &format!("{side:?}: {e}"), ""));
                            break 'steps;
                        }
                    }
                    sort_flush_runs(&mut frames);
                    pair[s] = frames
                        .iter()
                        .enumerate()
                        .map(|(n, f)| with_names(f, n == 0 && ci == who && shows_ids, &known[s]))
                        .collect();
                }
                outputs[ci] = pair;
            }
            for (ci, [r, f]) in outputs.iter().enumerate() {
                if verbose() && !r.is_empty() {
                    eprintln!("#{i} {shown} => {}: {r:?}", clients[ci].name);
                }
                if r != f {
                    let show = |v: &[Resp]| {
                        if v.is_empty() {
                            "(nothing)".to_string()
                        } else {
                            v.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join("\n         ")
                        }
                    };
                    let what = format!("{shown}   (output of {})", clients[ci].name);
                    failed = Some(divergence("tracking", seed, i, &history, &what, &show(r), &show(f)));
                    break 'steps;
                }
                if ci != who {
                    invalidations += r.len();
                }
            }
            let reply = outputs[who][0].iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ");
            history.push(format!("#{i} {shown}   -> {reply}"));
        }
        match failed {
            Some(f) => failures.push(f),
            None => eprintln!(
                "tracking seed {seed}: {} steps, {invalidations} identical messages to other clients",
                steps.len()
            ),
        }
    }
    assert!(failures.is_empty(), "client tracking differs from Redis:{}", failures.join(""));
}
