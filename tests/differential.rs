//! Differential tests: the same random command sequences go to a fresh redis-server (the
//! oracle, Redis 7.0) and a fresh Ferrous, over raw RESP; every reply must be byte-for-byte
//! identical, except for these documented normalisations:
//!
//! - `KEYS`: the array is sorted (both servers return keys in hash-table order).
//! - `TTL`/`PTTL`: any positive value becomes 1 (the clocks of two processes never agree
//!   to the millisecond). `EXPIRETIME`/`PEXPIRETIME`: positive values other than the
//!   absolute deadlines the generator uses itself (year 2096, or `PXAT i64::MAX`) become 1.
//!
//! Time does not otherwise matter: relative TTLs are at least 100,000 s and drawn from a wide
//! range (two commands practically never set the same deadline, so GT/LT never compare a
//! tie), absolute ones lie far in the future (year 2096 and later), or in the past only for
//! EXPIREAT/PEXPIREAT, which then delete the key at once on both sides.
//!
//! The first divergence of each run is reported with the commands leading to it, and, when
//! both servers can be reset with FLUSHALL, a shrunk sequence that still diverges, printed as
//! redis-cli input.
//!
//! Knobs (environment):
//! - `FERROUS_DIFF_SEED=N[,M...]`: run these seeds instead of the defaults.
//! - `FERROUS_DIFF_OPS=N`: commands per seed (default 2,000; RESP3: half).
//! - `FERROUS_DIFF_SKIP=object,lcs`: never generate these commands (lower-case names), to
//!   look past a known divergence.
//! - `FERROUS_DIFF_VERBOSE=1`: print every command and Redis's reply (with `--nocapture`).
//!
//! Skipped (with `SKIPPED: ...`) when redis-server is not installed, except under CI.
mod common;

use common::{escape, show_command, Reply, Resp, RespConn, Rng, TestServer};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const DEFAULT_SEEDS: &[u64] = &[1, 2, 3];
const DEFAULT_OPS: usize = 2000;
/// Replies must come within this long (a hung server fails the test instead of hanging it).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Commands of history shown before a divergence.
const HISTORY_SHOWN: usize = 25;
/// Time allowed for shrinking one failing sequence.
const SHRINK_BUDGET: Duration = Duration::from_secs(15);

type Cmd = Vec<Vec<u8>>;

fn verbose() -> bool {
    std::env::var("FERROUS_DIFF_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn knobs() -> (Vec<u64>, usize, Vec<String>) {
    let seeds = std::env::var("FERROUS_DIFF_SEED")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect::<Vec<u64>>())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_SEEDS.to_vec());
    let ops = std::env::var("FERROUS_DIFF_OPS").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(DEFAULT_OPS);
    let skip = std::env::var("FERROUS_DIFF_SKIP")
        .map(|s| s.split(',').map(|x| x.trim().to_ascii_lowercase()).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    (seeds, ops, skip)
}

/// Builds an argument vector from anything byte-like.
macro_rules! cmd {
    ($($a:expr),* $(,)?) => { vec![$(AsRef::<[u8]>::as_ref(&$a).to_vec()),*] };
}

/// Random commands over a small key space.
struct Gen {
    rng: Rng,
    keys: Vec<Vec<u8>>,
    skip: Vec<String>,
    /// Commands that create keys of other types (lists, sets, ...), when Ferrous has them,
    /// so WRONGTYPE paths are exercised.
    other_types: Vec<&'static str>,
}

const LONG: &str = "a-string-that-is-longer-than-forty-four-bytes-so-raw-encoded";

impl Gen {
    fn new(seed: u64, skip: Vec<String>, other_types: Vec<&'static str>) -> Gen {
        let keys =
            [&b"k0"[..], b"k1", b"k2", b"k3", b"k4", b"x\x00\xff", b"a b", b"k*"].iter().map(|k| k.to_vec()).collect();
        Gen { rng: Rng::new(seed), keys, skip, other_types }
    }

    fn key(&mut self) -> Vec<u8> {
        self.rng.pick(&self.keys).clone()
    }

    fn keys(&mut self, min: usize, max: usize) -> Vec<Vec<u8>> {
        let n = self.rng.range(min as i64, max as i64);
        (0..n).map(|_| self.key()).collect()
    }

    fn pick_str(&mut self, items: &[&str]) -> Vec<u8> {
        self.rng.pick(items).as_bytes().to_vec()
    }

    /// A value: integers (canonical or not), floats, words, binary, empty, long.
    fn value(&mut self) -> Vec<u8> {
        match self.rng.below(13) {
            0 | 1 => self.rng.range(-10, 100).to_string().into_bytes(),
            2 => self.pick_str(&[
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775806",
                "-9223372036854775807",
                "4611686018427387904",
                "10000",
                "9999",
            ]),
            3 => self.pick_str(&["007", "+1", " 1", "1 ", "-0", "0x10", "1e3", "12345678901234567890", "1.0", "-"]),
            4 => self.pick_str(&[
                "1.5",
                "-0.5",
                "3.0e3",
                "0.1",
                "1e-5",
                "inf",
                "-inf",
                "nan",
                "10.50",
                "5.0000000000000001",
                "1.7976931348623157e308",
                "2.5e-310",
            ]),
            5 => {
                let n = self.rng.range(1, 10) as usize;
                (0..n).map(|_| *self.rng.pick(b"abcxyz019 ")).collect()
            }
            6 => {
                let n = self.rng.range(0, 8) as usize;
                self.rng.bytes(n)
            }
            7 => {
                let n = self.rng.range(40, 60) as usize;
                LONG.as_bytes()[..n].to_vec()
            }
            8 => Vec::new(),
            _ => self.pick_str(&[
                "foo",
                "bar",
                "hello",
                "x",
                "abc",
                "foobar",
                "\u{00ff}\u{0100}",
                "ohmytext",
                "mynewtext",
                "hellothere",
            ]),
        }
    }

    /// An integer argument (sometimes not an integer).
    fn int(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => self.pick_str(&["9223372036854775807", "-9223372036854775808", "abc", "1.5", "", " 1", "0x1"]),
            1 => self.rng.range(-1000, 1000).to_string().into_bytes(),
            _ => self.rng.range(-5, 20).to_string().into_bytes(),
        }
    }

    /// An index for GETRANGE and friends.
    fn index(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => self.pick_str(&["9223372036854775807", "-9223372036854775808", "x", "100000"]),
            _ => self.rng.range(-70, 70).to_string().into_bytes(),
        }
    }

    fn float(&mut self) -> Vec<u8> {
        match self.rng.below(6) {
            0 => self.pick_str(&["inf", "-inf", "nan", "abc", "1e308", "", "0x10", "1.7976931348623157e308", " 1"]),
            1 => self.rng.range(-100, 100).to_string().into_bytes(),
            _ => {
                let n = self.rng.range(-100_000, 100_000);
                let d = *self.rng.pick(&[1i64, 10, 100, 1000, 3, 7]);
                format!("{}", n as f64 / d as f64).into_bytes()
            }
        }
    }

    /// A relative TTL: large, or one of the interesting invalid/deleting values.
    ///
    /// Valid TTLs are drawn from a wide range so that two deadlines set by different
    /// commands practically never coincide: NX/GT/LT compare `now + ttl` values, and a tie
    /// between two commands would make the answer depend on whether a millisecond passed
    /// between them. Milliseconds are whole seconds plus 500 ms for the same reason.
    fn ttl(&mut self, millis: bool) -> Vec<u8> {
        match self.rng.below(12) {
            0 => self.pick_str(&[
                "0",
                "-5",
                "abc",
                "1.5",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775",
            ]),
            _ => {
                let secs = self.rng.range(100_000, 1_000_000_000);
                let ttl = if millis { secs * 1000 + 500 } else { secs };
                ttl.to_string().into_bytes()
            }
        }
    }

    /// An absolute deadline: far future (deterministic on both sides), invalid, or (with
    /// `past`) in the past. EXPIREAT with a past deadline deletes the key at once on both
    /// sides; SET and GETEX store the key already expired, and when it is reclaimed (what
    /// DBSIZE sees) depends on each server's expiry cycle, so they never get one.
    fn deadline(&mut self, millis: bool, past: bool) -> Vec<u8> {
        let scale = if millis { 1000 } else { 1 };
        match self.rng.below(10) {
            0 if past => self.pick_str(&["1", "0", "-1", "x"]),
            0 => self.pick_str(&["0", "-1", "x", "9223372036854775807"]),
            _ => {
                // Sub-second parts exercise EXPIRETIME's rounding of millisecond deadlines.
                let frac = if millis { *self.rng.pick(&[0, 0, 1, 499, 500, 501, 999]) } else { 0 };
                ((4_000_000_000 + self.rng.range(0, 20) * 1000) * scale + frac).to_string().into_bytes()
            }
        }
    }

    fn db(&mut self) -> Vec<u8> {
        match self.rng.below(12) {
            0 => self.pick_str(&["16", "-1", "x", "9999999999999999999"]),
            _ => self.rng.range(0, 3).to_string().into_bytes(),
        }
    }

    fn bit_offset(&mut self) -> Vec<u8> {
        match self.rng.below(15) {
            0 => self.pick_str(&["-1", "4294967296", "x", "1.5"]),
            1 => self.rng.range(300, 2000).to_string().into_bytes(),
            _ => self.rng.range(0, 300).to_string().into_bytes(),
        }
    }

    fn bitfield_type(&mut self) -> Vec<u8> {
        match self.rng.below(12) {
            0 => self.pick_str(&["i0", "u64", "i65", "x8", "u", "I8"]),
            _ => {
                let signed = self.rng.chance(50);
                let bits = if signed { self.rng.range(1, 64) } else { self.rng.range(1, 63) };
                format!("{}{bits}", if signed { 'i' } else { 'u' }).into_bytes()
            }
        }
    }

    fn bitfield_offset(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => self.pick_str(&["-1", "x", "#-1", "4294967296"]),
            1 | 2 => format!("#{}", self.rng.range(0, 10)).into_bytes(),
            _ => self.rng.range(0, 200).to_string().into_bytes(),
        }
    }

    fn pattern(&mut self) -> Vec<u8> {
        self.pick_str(&["*", "k*", "k?", "k[0-2]", "k[^0]", "*\u{0}*", "[a-k]*", "k[a-", "k\\*", "", "?", "*b*", "x*"])
    }

    /// `[NX|XX|GT|LT]` (sometimes two of them, sometimes something unknown).
    fn expire_flags(&mut self, c: &mut Cmd) {
        match self.rng.below(10) {
            0..=4 => {}
            5 => c.push(b"FOO".to_vec()),
            6 => {
                c.push(self.pick_str(&["NX", "XX", "GT", "LT"]));
                c.push(self.pick_str(&["NX", "XX", "GT", "LT"]));
            }
            _ => c.push(self.pick_str(&["NX", "XX", "GT", "LT", "nx", "gt"])),
        }
    }

    fn command(&mut self) -> Cmd {
        loop {
            let c = self.any_command();
            let name = String::from_utf8_lossy(&c[0]).to_ascii_lowercase();
            if !self.skip.contains(&name) {
                return c;
            }
        }
    }

    fn any_command(&mut self) -> Cmd {
        let k = self.key();
        match self.rng.below(60) {
            0 | 1 => cmd!["GET", k],
            2..=4 => self.set(k),
            5 => cmd!["SETNX", k, self.value()],
            6 => {
                let ttl = self.ttl(false);
                cmd!["SETEX", k, ttl, self.value()]
            }
            7 => {
                let ttl = self.ttl(true);
                cmd!["PSETEX", k, ttl, self.value()]
            }
            8 => self.getex(k),
            9 => cmd!["GETDEL", k],
            10 => cmd!["GETSET", k, self.value()],
            11 => {
                let mut c = cmd!["MGET"];
                c.extend(self.keys(1, 5));
                c
            }
            12 | 13 => {
                let mut c = cmd![if self.rng.chance(70) { "MSET" } else { "MSETNX" }];
                for _ in 0..self.rng.range(1, 4) {
                    c.push(self.key());
                    c.push(self.value());
                }
                if self.rng.chance(5) {
                    c.pop();
                }
                c
            }
            14 | 15 => cmd!["APPEND", k, self.value()],
            16 => cmd!["STRLEN", k],
            17 => cmd![self.pick_str(&["INCR", "DECR"]), k],
            18 => cmd![self.pick_str(&["INCRBY", "DECRBY"]), k, self.int()],
            19 => cmd!["INCRBYFLOAT", k, self.float()],
            20 => {
                let (a, b) = (self.index(), self.index());
                cmd![self.pick_str(&["GETRANGE", "SUBSTR"]), k, a, b]
            }
            21 => {
                let off = match self.rng.below(10) {
                    0 => self.pick_str(&["-1", "536870912", "x", "9223372036854775807"]),
                    _ => self.rng.range(0, 60).to_string().into_bytes(),
                };
                cmd!["SETRANGE", k, off, self.value()]
            }
            22 => self.lcs(k),
            23 | 24 => {
                let bit = self.pick_str(&["0", "1", "1", "2", "x", "-1"]);
                cmd!["SETBIT", k, self.bit_offset(), bit]
            }
            25 => cmd!["GETBIT", k, self.bit_offset()],
            26 => self.bitcount_or_pos(k),
            27 => {
                let op = self.pick_str(&["AND", "OR", "XOR", "NOT", "and", "NAND"]);
                let mut c = cmd!["BITOP", op, self.key()];
                c.extend(self.keys(1, 3));
                c
            }
            28 | 29 => self.bitfield(k),
            30 | 31 => {
                let mut c = cmd![self.pick_str(&["DEL", "UNLINK"])];
                c.extend(self.keys(1, 3));
                c
            }
            32 => {
                let mut c = cmd![self.pick_str(&["EXISTS", "TOUCH"])];
                c.extend(self.keys(1, 4));
                c
            }
            33 => cmd!["TYPE", k],
            34..=36 => {
                let (name, millis, absolute) = *self.rng.pick(&[
                    ("EXPIRE", false, false),
                    ("PEXPIRE", true, false),
                    ("EXPIREAT", false, true),
                    ("PEXPIREAT", true, true),
                ]);
                let t = if absolute { self.deadline(millis, true) } else { self.ttl(millis) };
                let mut c = cmd![name, k, t];
                self.expire_flags(&mut c);
                c
            }
            37 | 38 => cmd![self.pick_str(&["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]), k],
            39 => cmd!["PERSIST", k],
            40 => cmd![self.pick_str(&["RENAME", "RENAMENX"]), k, self.key()],
            41 => cmd!["KEYS", self.pattern()],
            42 => cmd!["DBSIZE"],
            43 => {
                if self.rng.chance(15) {
                    let mut c = cmd!["FLUSHDB"];
                    if self.rng.chance(40) {
                        c.push(self.pick_str(&["ASYNC", "SYNC", "NOW"]));
                    }
                    c
                } else {
                    cmd!["DBSIZE"]
                }
            }
            44 => cmd!["SELECT", self.db()],
            45 => {
                let a = self.db();
                cmd!["SWAPDB", a, self.db()]
            }
            46 => cmd!["MOVE", k, self.db()],
            47 => {
                let mut c = cmd!["COPY", k, self.key()];
                if self.rng.chance(40) {
                    c.push(b"DB".to_vec());
                    c.push(self.db());
                }
                if self.rng.chance(40) {
                    c.push(b"REPLACE".to_vec());
                }
                if self.rng.chance(5) {
                    c.push(b"FOO".to_vec());
                }
                c
            }
            48 | 49 => cmd!["OBJECT", "ENCODING", k],
            50..=52 => self.bad_command(k),
            53 if !self.other_types.is_empty() => {
                let creator = *self.rng.pick(&self.other_types);
                match creator {
                    "hset" => cmd!["HSET", k, "f", self.value()],
                    "zadd" => cmd!["ZADD", k, "1", self.value()],
                    c => cmd![c, k, self.value()],
                }
            }
            54 => cmd!["BITFIELD_RO", k, "GET", self.bitfield_type(), self.bitfield_offset()],
            _ => cmd!["GET", k],
        }
    }

    /// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]`, options in
    /// random order, sometimes conflicting or malformed.
    fn set(&mut self, k: Vec<u8>) -> Cmd {
        let mut c = cmd!["SET", k, self.value()];
        let mut opts: Vec<Cmd> = Vec::new();
        if self.rng.chance(25) {
            opts.push(cmd![self.pick_str(&["NX", "XX", "nx"])]);
        }
        if self.rng.chance(20) {
            opts.push(cmd!["GET"]);
        }
        if self.rng.chance(35) {
            opts.push(match self.rng.below(6) {
                0 => cmd!["EX", self.ttl(false)],
                1 => cmd!["PX", self.ttl(true)],
                2 => cmd!["EXAT", self.deadline(false, false)],
                3 => cmd!["PXAT", self.deadline(true, false)],
                4 => cmd!["KEEPTTL"],
                _ => cmd![self.pick_str(&["EX", "PX", "FOO", "KEEPTTL"])],
            });
        }
        if self.rng.chance(5) {
            // A stray number after a flag (never after EX/PX/EXAT/PXAT: a small TTL would
            // make the outcome depend on timing).
            opts.push(cmd![self.pick_str(&["NX", "XX", "GET", "KEEPTTL", "FOO"]), self.int()]);
        }
        while !opts.is_empty() {
            let i = self.rng.below(opts.len() as u64) as usize;
            c.extend(opts.swap_remove(i));
        }
        c
    }

    /// `GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]`
    fn getex(&mut self, k: Vec<u8>) -> Cmd {
        let mut c = cmd!["GETEX", k];
        match self.rng.below(9) {
            0 | 1 => {}
            2 => c.extend(cmd!["EX", self.ttl(false)]),
            3 => c.extend(cmd!["PX", self.ttl(true)]),
            4 => c.extend(cmd!["EXAT", self.deadline(false, false)]),
            5 => c.extend(cmd!["PXAT", self.deadline(true, false)]),
            6 => c.push(b"PERSIST".to_vec()),
            7 => c.extend(cmd!["PERSIST", "EX", "100000"]),
            _ => c.push(self.pick_str(&["BAR", "EX", "KEEPTTL"])),
        }
        c
    }

    /// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`
    fn lcs(&mut self, k: Vec<u8>) -> Cmd {
        let mut c = cmd!["LCS", k, self.key()];
        if self.rng.chance(30) {
            c.push(b"LEN".to_vec());
        }
        if self.rng.chance(40) {
            c.push(b"IDX".to_vec());
        }
        if self.rng.chance(30) {
            c.push(b"MINMATCHLEN".to_vec());
            c.push(self.pick_str(&["0", "1", "2", "4", "-1", "x"]));
        }
        if self.rng.chance(30) {
            c.push(b"WITHMATCHLEN".to_vec());
        }
        if self.rng.chance(5) {
            c.push(b"FOO".to_vec());
        }
        c
    }

    /// `BITCOUNT key [start end [BYTE|BIT]]` / `BITPOS key bit [start [end [BYTE|BIT]]]`
    fn bitcount_or_pos(&mut self, k: Vec<u8>) -> Cmd {
        let pos = self.rng.chance(50);
        let mut c = if pos { cmd!["BITPOS", k, self.pick_str(&["0", "1", "1", "2"])] } else { cmd!["BITCOUNT", k] };
        let n = self.rng.below(4);
        if n >= 1 {
            c.push(self.index());
        }
        if n >= 2 || (!pos && n == 1 && self.rng.chance(70)) {
            c.push(self.index());
        }
        if n >= 3 {
            c.push(self.pick_str(&["BYTE", "BIT", "bit", "WORD"]));
        }
        c
    }

    /// `BITFIELD key [GET type offset | SET type offset value | INCRBY type offset increment |
    /// OVERFLOW WRAP|SAT|FAIL] ...`
    fn bitfield(&mut self, k: Vec<u8>) -> Cmd {
        let mut c = cmd!["BITFIELD", k];
        for _ in 0..self.rng.range(0, 4) {
            match self.rng.below(8) {
                0 | 1 => c.extend(cmd!["GET", self.bitfield_type(), self.bitfield_offset()]),
                2 | 3 => {
                    let (t, o) = (self.bitfield_type(), self.bitfield_offset());
                    c.extend(cmd!["SET", t, o, self.int()]);
                }
                4 | 5 => {
                    let (t, o) = (self.bitfield_type(), self.bitfield_offset());
                    c.extend(cmd!["INCRBY", t, o, self.int()]);
                }
                6 => c.extend(cmd!["OVERFLOW", self.pick_str(&["WRAP", "SAT", "FAIL", "fail", "NOPE"])]),
                _ => c.push(self.pick_str(&["GET", "FOO", "SET"])),
            }
        }
        c
    }

    /// Wrong arity, unknown commands, subcommands and options.
    fn bad_command(&mut self, k: Vec<u8>) -> Cmd {
        match self.rng.below(16) {
            0 => cmd!["GET"],
            1 => cmd!["SET", k],
            2 => cmd!["INCRBY", k],
            3 => cmd!["EXPIRE", k],
            4 => cmd!["BITOP", "AND"],
            5 => cmd!["OBJECT"],
            6 => cmd!["LCS", k],
            7 => cmd!["GETRANGE", k, "0"],
            8 => cmd!["NOSUCHCMD", k, self.value()],
            9 => cmd!["GETT", k],
            10 => cmd!["OBJECT", "NOPE", k],
            11 => cmd!["SET", k, "v", "FOO"],
            12 => cmd!["EXPIRE", k, "100000", "ZZ"],
            13 => cmd!["BITCOUNT", k, "0"],
            14 => cmd!["MGET"],
            _ => cmd!["STRLEN", k, k],
        }
    }
}

/// Inline (telnet-style) encoding of a command, every argument double-quoted with escapes,
/// as redis-cli would accept it.
fn inline(c: &Cmd) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in c.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(b'"');
        for &b in a {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x20..=0x7e => out.push(b),
                _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A command as sent: its arguments and whether it went inline.
#[derive(Clone)]
struct Op {
    args: Cmd,
    inline: bool,
}

impl Op {
    fn wire(&self) -> Vec<u8> {
        if self.inline {
            inline(&self.args)
        } else {
            common::encode_command(&self.args)
        }
    }
}

/// Whether an EXPIRETIME (`scale` 1) or PEXPIRETIME (`scale` 1000) value is one of the
/// absolute deadlines the generator sets itself (the same on both servers), rather than
/// `now + ttl` (which differs by the milliseconds between the two servers' clocks).
fn absolute_deadline(n: i64, scale: i64) -> bool {
    (4_000_000_000 * scale..=4_000_100_000 * scale).contains(&n) || n >= i64::MAX / 1000 * scale
}

/// The reply after the documented normalisations, as bytes to compare.
fn normalize(args: &Cmd, reply: &Reply) -> Vec<u8> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let v = match (name.as_str(), &reply.value) {
        ("keys", Resp::Array(items)) => {
            let mut items = items.clone();
            items.sort_by_key(|i| i.to_bytes());
            Resp::Array(items)
        }
        ("keys", Resp::Set(items)) => {
            let mut items = items.clone();
            items.sort_by_key(|i| i.to_bytes());
            Resp::Set(items)
        }
        ("ttl" | "pttl", Resp::Int(n)) if *n > 0 => Resp::Int(1),
        ("expiretime", Resp::Int(n)) if *n > 0 && !absolute_deadline(*n, 1) => Resp::Int(1),
        ("pexpiretime", Resp::Int(n)) if *n > 0 && !absolute_deadline(*n, 1000) => Resp::Int(1),
        _ => return reply.raw.clone(),
    };
    v.to_bytes()
}

/// One side of the comparison.
struct Side {
    name: &'static str,
    conn: RespConn,
}

impl Side {
    fn connect(server: &TestServer, name: &'static str, resp3: bool) -> Result<Side, String> {
        let conn = RespConn::connect(server.addr()).map_err(|e| format!("{name}: connect: {e}"))?;
        conn.set_timeout(REPLY_TIMEOUT);
        let mut side = Side { name, conn };
        if resp3 {
            let r = side.call(&Op { args: cmd!["HELLO", "3"], inline: false })?;
            match &r.value {
                Resp::Map(_) => {}
                other => return Err(format!("{name}: HELLO 3 replied {other}")),
            }
        }
        Ok(side)
    }

    fn call(&mut self, op: &Op) -> Result<Reply, String> {
        self.conn.send_raw(&op.wire()).map_err(|e| format!("{}: send: {e}", self.name))?;
        self.conn.read().map_err(|e| format!("{}: no reply ({e})", self.name))
    }
}

/// Where two servers first disagreed.
struct Divergence {
    index: usize,
    redis: Result<Reply, String>,
    ferrous: Result<Reply, String>,
}

fn show_reply(r: &Result<Reply, String>) -> String {
    match r {
        Ok(r) => format!("{}   [raw: \"{}\"]", r.value, escape(&r.raw[..r.raw.len().min(300)])),
        Err(e) => format!("<{e}>"),
    }
}

/// Runs `ops` on both servers (new connections), returning the first divergence and how
/// many of the replies before it were errors.
fn run(
    ops: &[Op],
    redis: &TestServer,
    ferrous: &TestServer,
    resp3: bool,
) -> Result<(Option<Divergence>, usize), String> {
    let mut a = Side::connect(redis, "redis", resp3)?;
    let mut b = Side::connect(ferrous, "ferrous", resp3)?;
    let mut errors = 0;
    for (i, op) in ops.iter().enumerate() {
        let ra = a.call(op);
        let rb = b.call(op);
        let same = match (&ra, &rb) {
            (Ok(x), Ok(y)) => normalize(&op.args, x) == normalize(&op.args, y),
            _ => false,
        };
        if !same {
            return Ok((Some(Divergence { index: i, redis: ra, ferrous: rb }), errors));
        }
        if verbose() {
            eprintln!("#{i} {} -> {}", show_command(&op.args), show_reply(&ra));
        }
        errors += ra.is_ok_and(|r| r.value.is_error()) as usize;
    }
    Ok((None, errors))
}

/// Empties both servers; false if either cannot be reset.
fn reset(redis: &TestServer, ferrous: &TestServer) -> bool {
    [redis, ferrous].iter().all(|s| {
        RespConn::connect(s.addr())
            .is_ok_and(|mut c| c.call(&["FLUSHALL"]).is_ok_and(|r| r.value == common::simple("OK")))
    })
}

/// Greedy delta debugging: drops chunks of commands (never the last one) while the
/// sequence still diverges somewhere, within [`SHRINK_BUDGET`].
fn shrink(ops: &[Op], redis: &TestServer, ferrous: &TestServer, resp3: bool) -> Result<Vec<Op>, &'static str> {
    let start = Instant::now();
    if !reset(redis, ferrous) {
        return Err("FLUSHALL is not available to reset the servers");
    }
    let mut cur: Vec<Op> = ops.to_vec();
    let diverges = |cand: &[Op]| -> Option<usize> {
        if !reset(redis, ferrous) {
            return None;
        }
        match run(cand, redis, ferrous, resp3) {
            Ok((Some(d), _)) => Some(d.index),
            _ => None,
        }
    };
    // Confirm the full sequence reproduces after a reset (it should: time does not matter).
    let idx = diverges(&cur).ok_or("the divergence did not replay after FLUSHALL (timing-dependent?)")?;
    cur.truncate(idx + 1);
    let mut chunk = (cur.len() / 2).max(1);
    while start.elapsed() < SHRINK_BUDGET {
        let mut i = 0;
        let mut removed = false;
        while i + 1 < cur.len() && start.elapsed() < SHRINK_BUDGET {
            let end = (i + chunk).min(cur.len() - 1);
            let mut cand = cur[..i].to_vec();
            cand.extend_from_slice(&cur[end..]);
            match diverges(&cand) {
                Some(idx) => {
                    cand.truncate(idx + 1);
                    cur = cand;
                    removed = true;
                }
                None => i = end,
            }
        }
        if chunk > 1 {
            chunk /= 2;
        } else if !removed {
            break;
        }
    }
    Ok(cur)
}

fn report(
    label: &str,
    seed: u64,
    ops: &[Op],
    d: &Divergence,
    ferrous_log: &str,
    shrunk: Result<Vec<Op>, &str>,
) -> String {
    let mut s = String::new();
    let op = &ops[d.index];
    let _ = writeln!(s, "\n=== DIVERGENCE ({label}, seed {seed}, command #{} of {}) ===", d.index, ops.len());
    let _ = writeln!(s, "command: {}{}", show_command(&op.args), if op.inline { "   (sent inline)" } else { "" });
    let _ = writeln!(s, "redis:   {}", show_reply(&d.redis));
    let _ = writeln!(s, "ferrous: {}", show_reply(&d.ferrous));
    let from = d.index.saturating_sub(HISTORY_SHOWN);
    let _ = writeln!(s, "commands before it (#{from}..#{}, identical replies):", d.index);
    for (i, op) in ops.iter().enumerate().take(d.index).skip(from) {
        let _ = writeln!(s, "  #{i} {}{}", show_command(&op.args), if op.inline { " (inline)" } else { "" });
    }
    match shrunk {
        Ok(seq) => {
            let _ = writeln!(
                s,
                "shrunk reproduction ({} commands; fresh server{}, paste into redis-cli):",
                seq.len(),
                if label == "RESP3" { ", after HELLO 3" } else { "" }
            );
            for op in &seq {
                let _ = writeln!(s, "  {}", show_command(&op.args));
            }
        }
        Err(why) => {
            let _ = writeln!(s, "(no shrunk reproduction: {why})");
        }
    }
    if !ferrous_log.is_empty() {
        let tail: Vec<&str> = ferrous_log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let _ = writeln!(s, "(ferrous log tail)\n{}", tail.join("\n"));
    }
    s
}

/// Which commands creating non-string keys Ferrous has (so WRONGTYPE can be tested).
fn other_type_creators(ferrous: &TestServer) -> Vec<&'static str> {
    let mut c = ferrous.raw();
    let mut found = Vec::new();
    for (name, args) in [
        ("rpush", cmd!["RPUSH", "__probe__", "x"]),
        ("sadd", cmd!["SADD", "__probe__", "x"]),
        ("hset", cmd!["HSET", "__probe__", "f", "x"]),
        ("zadd", cmd!["ZADD", "__probe__", "1", "x"]),
    ] {
        let _ = c.call(&["DEL", "__probe__"]);
        if let Ok(r) = c.call(&args) {
            if matches!(r.value, Resp::Int(_)) {
                found.push(name);
            }
        }
    }
    let _ = c.call(&["DEL", "__probe__"]);
    found
}

/// Runs every seed; returns the reports of the seeds that diverged.
fn differential(label: &str, resp3: bool, ops_per_seed: usize) -> Vec<String> {
    let (seeds, ops_knob, skip) = knobs();
    let n_ops = if std::env::var("FERROUS_DIFF_OPS").is_ok() { ops_knob } else { ops_per_seed };
    let mut failures = Vec::new();
    for seed in seeds {
        let Some(redis) = TestServer::redis(&[]) else { return failures };
        let ferrous = TestServer::ferrous(&[]);
        let creators = other_type_creators(&ferrous);
        let mut gen = Gen::new(seed, skip.clone(), creators.clone());
        let ops: Vec<Op> = (0..n_ops)
            .map(|_| {
                let args = gen.command();
                let inline = gen.rng.chance(5);
                Op { args, inline }
            })
            .collect();
        let started = Instant::now();
        match run(&ops, &redis, &ferrous, resp3) {
            Ok((None, errors)) => eprintln!(
                "{label} seed {seed}: {n_ops} commands ({errors} error replies), identical replies ({:?}; other types: {creators:?})",
                started.elapsed()
            ),
            Ok((Some(d), _)) => {
                let crashed = d.ferrous.is_err();
                let shrunk = if crashed { Err("ferrous stopped answering") } else { shrink(&ops[..=d.index], &redis, &ferrous, resp3) };
                let log = if crashed { ferrous.log() } else { String::new() };
                failures.push(report(label, seed, &ops, &d, &log, shrunk));
            }
            Err(e) => failures.push(format!("\n=== {label} seed {seed}: cannot run: {e} ===")),
        }
    }
    failures
}

#[test]
fn differential_resp2() {
    let failures = differential("RESP2", false, DEFAULT_OPS);
    assert!(failures.is_empty(), "Ferrous and Redis disagree:{}", failures.join(""));
}

#[test]
fn differential_resp3() {
    let failures = differential("RESP3", true, DEFAULT_OPS / 2);
    assert!(failures.is_empty(), "Ferrous and Redis disagree:{}", failures.join(""));
}

/// Malformed and unusual requests: everything each server sends back until it closes the
/// connection (or goes quiet) must be identical.
#[test]
fn protocol_edge_cases_match_redis() {
    let Some(redis) = TestServer::redis(&[]) else { return };
    let ferrous = TestServer::ferrous(&[]);
    let cases: &[&[u8]] = &[
        b"*x\r\n",
        b"*1\r\n:1\r\n",
        b"*1\r\n$x\r\n",
        b"*1\r\n$600000000\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$-5\r\n",
        b"*-1\r\nPING\r\n",
        b"*0\r\nPING\r\n",
        b"*3000000000\r\n",
        b"*1048577\r\n",
        b"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n*1\r\n$x\r\n",
        b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
        b"*1 \r\n$4\r\nPING\r\n",
        b"*+1\r\n$4\r\nPING\r\n",
        b"*01\r\n$04\r\nPING\r\n",
        b"*1\r\n$4 \r\nPING\r\n",
        b"\r\n\r\n\nPING\r\n",
        b"PING\n",
        b"PING\r\rPING\r\n",
        b"   \r\nECHO   a   \r\n",
        b"ECHO \"a\\x41\\n\\t\\\"\"\r\n",
        b"ECHO 'a\\'b'\r\n",
        b"ECHO \"abc\"def\r\n",
        b"ECHO 'abc'def\r\n",
        b"ECHO \"abc\r\n",
        b"ECHO 'abc\r\n",
        b"ECHO \"\\xZZ\"\r\n",
        b"ECHO \"\"\r\n",
        b"ECHO ''\r\n",
        b"echo MiXeD\r\n",
        b"PiNg\r\n",
        b"NOSUCHCOMMAND a b c d e f g\r\n",
        b"*2\r\n$4\r\nECHO\r\n$3\r\nab\x00\r\n",
        b"\x00\x01\x02\r\n",
        b"GET\r\n",
        b"QUIT\r\nPING\r\n",
        b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
    ];
    // Every case on fresh connections, all cases at once (most end by going quiet).
    let mut inputs: Vec<(Vec<u8>, Duration)> = cases.iter().map(|c| (c.to_vec(), Duration::from_millis(300))).collect();
    // A long inline request and a long multibulk count line.
    for long in [
        vec![b'a'; 70_000],
        [b"*".to_vec(), vec![b'1'; 70_000]].concat(),
        [b"*1\r\n$".to_vec(), vec![b'1'; 70_000]].concat(),
    ] {
        inputs.push((long, Duration::from_millis(1000)));
    }
    let outcomes: Vec<[(Vec<u8>, bool); 2]> = std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|(input, idle)| {
                let (redis, ferrous) = (&redis, &ferrous);
                scope.spawn(move || {
                    [redis, ferrous].map(|s| {
                        let mut c = s.raw();
                        let _ = c.send_raw(input);
                        c.read_until_close(*idle)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("case thread")).collect()
    });
    let mut failures = String::new();
    for ((input, _), [r, f]) in inputs.iter().zip(outcomes) {
        if r != f {
            let shown = if input.len() > 100 {
                format!("{}... ({} bytes)", escape(&input[..8]), input.len())
            } else {
                escape(input)
            };
            let _ = writeln!(
                failures,
                "input \"{shown}\":\n  redis:   \"{}\" closed={}\n  ferrous: \"{}\" closed={}",
                escape(&r.0),
                r.1,
                escape(&f.0),
                f.1
            );
        }
    }
    assert!(failures.is_empty(), "protocol handling differs from Redis:\n{failures}");
}

/// Hand-picked edge cases, run in order on one connection per server; every reply must be
/// identical (same normalisations as the random runs).
#[test]
fn fixed_cases_match_redis() {
    let Some(redis) = TestServer::redis(&[]) else { return };
    let ferrous = TestServer::ferrous(&[]);
    let long = "y".repeat(200);
    let cases: Vec<Cmd> = vec![
        // Error texts quote arguments like Redis's `%.*s`: up to a NUL byte, raw bytes,
        // CR/LF turned into spaces, 128 bytes at most.
        cmd!["NOSUCHCMD", b"x\x00\xff", "b"],
        cmd!["NOSUCHCMD", b"\xffa", "b\r\nc"],
        cmd![b"NO\x00SUCH", "a"],
        cmd!["NOSUCHCMD", &long, &long],
        cmd![&long],
        cmd!["OBJECT", "NOPE"],
        cmd!["OBJECT", "ENCODING"],
        cmd!["object", "encoding", "nokey"],
        // OBJECT ENCODING transitions.
        cmd!["SET", "e", "123"],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["APPEND", "e", "4"],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["INCR", "e"],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["SET", "e", "x".repeat(44)],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["SET", "e", "x".repeat(45)],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["SET", "e", "12345678901234567890"],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["SET", "e", "-9223372036854775808"],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["SET", "e", "0123"],
        cmd!["OBJECT", "ENCODING", "e"],
        cmd!["APPEND", "new", "42"],
        cmd!["OBJECT", "ENCODING", "new"],
        cmd!["SETRANGE", "sr", "0", "42"],
        cmd!["OBJECT", "ENCODING", "sr"],
        cmd!["INCRBYFLOAT", "fl", "1.5"],
        cmd!["OBJECT", "ENCODING", "fl"],
        cmd!["COPY", "e", "ecopy"],
        cmd!["OBJECT", "ENCODING", "ecopy"],
        // INCRBYFLOAT formatting.
        cmd!["SET", "f", "10.5"],
        cmd!["INCRBYFLOAT", "f", "0.1"],
        cmd!["INCRBYFLOAT", "f", "-5.0e3"],
        cmd!["INCRBYFLOAT", "f", "1e308"],
        cmd!["INCRBYFLOAT", "f", "1e308"],
        cmd!["SET", "f", "3"],
        cmd!["INCRBYFLOAT", "f", "0"],
        cmd!["INCRBYFLOAT", "f", "inf"],
        cmd!["SET", "f", " 3"],
        cmd!["INCRBYFLOAT", "f", "1"],
        cmd!["SET", "f", "1.0000000000000000001"],
        cmd!["INCRBYFLOAT", "f", "0"],
        // Ranges.
        cmd!["SET", "s", "Hello World"],
        cmd!["GETRANGE", "s", "-3", "-1"],
        cmd!["GETRANGE", "s", "5", "1"],
        cmd!["GETRANGE", "s", "-100", "100"],
        cmd!["GETRANGE", "s", "0", "-100"],
        cmd!["SETRANGE", "s", "20", "!"],
        cmd!["GET", "s"],
        cmd!["SETRANGE", "s", "536870912", "x"],
        cmd!["SETRANGE", "s", "536870911", ""],
        cmd!["SETRANGE", "nokey", "5", ""],
        cmd!["EXISTS", "nokey"],
        // LCS, from the command's documentation.
        cmd!["MSET", "key1", "ohmytext", "key2", "mynewtext"],
        cmd!["LCS", "key1", "key2"],
        cmd!["LCS", "key1", "key2", "LEN"],
        cmd!["LCS", "key1", "key2", "IDX"],
        cmd!["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4"],
        cmd!["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
        cmd!["LCS", "key1", "key2", "LEN", "IDX"],
        // Bit operations.
        cmd!["SETBIT", "b", "7", "1"],
        cmd!["BITCOUNT", "b"],
        cmd!["BITPOS", "b", "1"],
        cmd!["BITPOS", "b", "0"],
        cmd!["SET", "ones", b"\xff\xff\xff"],
        cmd!["BITPOS", "ones", "0"],
        cmd!["BITPOS", "ones", "0", "0"],
        cmd!["BITPOS", "ones", "0", "0", "-1"],
        cmd!["BITPOS", "ones", "1", "7", "15", "BIT"],
        cmd!["BITCOUNT", "ones", "1", "1", "BIT"],
        cmd!["BITPOS", "nokey", "0"],
        cmd!["BITPOS", "nokey", "1"],
        cmd!["BITOP", "NOT", "dest", "ones"],
        cmd!["GET", "dest"],
        cmd!["BITOP", "OR", "dest", "b", "ones", "nokey"],
        cmd!["GET", "dest"],
        cmd!["BITFIELD", "bf", "SET", "i8", "0", "100", "GET", "i8", "0"],
        cmd!["BITFIELD", "bf", "INCRBY", "i8", "0", "100", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100"],
        cmd!["BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "1", "INCRBY", "u2", "100", "5"],
        cmd!["BITFIELD", "bf", "GET", "u63", "#1", "SET", "i64", "#2", "-1", "GET", "i64", "128"],
        cmd!["BITFIELD_RO", "bf", "GET", "i8", "0"],
        cmd!["BITFIELD_RO", "bf", "SET", "i8", "0", "1"],
        // Expiry flags on keys with and without a TTL.
        cmd!["SET", "t", "v"],
        cmd!["EXPIRE", "t", "100000", "XX"],
        cmd!["EXPIRE", "t", "100000", "GT"],
        cmd!["EXPIRE", "t", "100000", "LT"],
        cmd!["TTL", "t"],
        cmd!["EXPIRE", "t", "200000", "NX"],
        cmd!["EXPIRE", "t", "200000", "GT"],
        cmd!["EXPIRE", "t", "300000", "LT"],
        cmd!["EXPIRE", "t", "100000", "NX", "XX"],
        cmd!["PEXPIREAT", "t", "4000000000000"],
        cmd!["PEXPIRETIME", "t"],
        cmd!["EXPIRETIME", "t"],
        cmd!["PEXPIREAT", "t", "4000000000499"],
        cmd!["EXPIRETIME", "t"],
        cmd!["PEXPIREAT", "t", "4000000000500"],
        cmd!["EXPIRETIME", "t"],
        cmd!["PEXPIREAT", "t", "4000000000999"],
        cmd!["EXPIRETIME", "t"],
        cmd!["PEXPIREAT", "t", "9223372036854775807"],
        cmd!["EXPIRETIME", "t"],
        cmd!["PEXPIRETIME", "t"],
        cmd!["PERSIST", "t"],
        cmd!["TTL", "t"],
        cmd!["EXPIRE", "t", "-1"],
        cmd!["EXISTS", "t"],
        cmd!["SET", "t", "v", "KEEPTTL", "GET"],
        cmd!["GETEX", "t", "PERSIST"],
        cmd!["GETEX", "t", "EX", "0"],
        cmd!["GETEX", "t", "PXAT", "1"],
        cmd!["EXISTS", "t"],
        // Keys and databases.
        cmd!["MSET", "k1", "1", "k2", "2", "k*", "3", "k?", "4", "k\\", "5"],
        cmd!["KEYS", "k\\*"],
        cmd!["KEYS", "k\\?"],
        cmd!["KEYS", "k[12]"],
        cmd!["KEYS", "k[^1]"],
        cmd!["KEYS", "k[1-"],
        cmd!["KEYS", "k\\"],
        cmd!["KEYS", "*[\\]*"],
        cmd!["RENAME", "k1", "k1"],
        cmd!["RENAMENX", "k1", "k1"],
        cmd!["RENAME", "nokey", "k1"],
        cmd!["COPY", "k1", "k1"],
        cmd!["COPY", "k1", "k2"],
        cmd!["COPY", "k1", "k2", "REPLACE"],
        cmd!["COPY", "k1", "k9", "DB", "1"],
        cmd!["MOVE", "k1", "1"],
        cmd!["MOVE", "k9", "1"],
        cmd!["SWAPDB", "0", "1"],
        cmd!["GET", "k9"],
        cmd!["DBSIZE"],
        cmd!["SELECT", "1"],
        cmd!["DBSIZE"],
        cmd!["FLUSHDB"],
        cmd!["SELECT", "0"],
        cmd!["TYPE", "k9"],
        cmd!["TYPE", "nokey"],
        cmd!["TOUCH", "k9", "nokey", "k9"],
        cmd!["UNLINK", "k9", "k9"],
        cmd!["MSETNX", "a1", "1", "a1", "2"],
        cmd!["GET", "a1"],
        cmd!["MSETNX", "a1", "1", "a2", "2"],
        cmd!["SET", "n", "9223372036854775807"],
        cmd!["INCRBY", "n", "1"],
        cmd!["DECRBY", "n", "-9223372036854775808"],
        cmd!["SET", "n", "-9223372036854775808"],
        cmd!["DECR", "n"],
        cmd!["DECRBY", "n", "-9223372036854775808"],
        cmd!["INCRBY", "n", "9223372036854775807"],
    ];
    let mut a = Side::connect(&redis, "redis", false).expect("connect to redis");
    let mut b = Side::connect(&ferrous, "ferrous", false).expect("connect to ferrous");
    let mut failures = String::new();
    for args in cases {
        let op = Op { args, inline: false };
        let ra = a.call(&op);
        let rb = b.call(&op);
        let same = match (&ra, &rb) {
            (Ok(x), Ok(y)) => normalize(&op.args, x) == normalize(&op.args, y),
            _ => false,
        };
        if !same {
            let _ = writeln!(
                failures,
                "{}\n  redis:   {}\n  ferrous: {}",
                show_command(&op.args),
                show_reply(&ra),
                show_reply(&rb)
            );
            if rb.is_err() {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "replies differ from Redis (later commands may differ only as a consequence):\n{failures}"
    );
}
