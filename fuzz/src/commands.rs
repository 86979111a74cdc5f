//! Fuzz check of the command table: a byte string is decoded into a sequence of small
//! commands that run one after another on a fresh [`Database`] through the same dispatch
//! path the server and `Database::execute` use, with one persistent client (so MULTI, SELECT,
//! HELLO 3 and CLIENT REPLY state carry over between commands).
//!
//! Compiled by the cargo-fuzz target `commands` and, on stable Rust, by the root package's
//! `tests/fuzz_commands.rs` (through `#[path]`).
//!
//! Decoding: byte 0 holds flags (RESP3 from the start, which logical db). Then, per command:
//! one byte picks the command among the implemented ones (sorted by name, so a byte keeps its
//! meaning while new commands are added... mostly), one byte its subcommand when it has
//! any, one byte the number of further arguments (0..=7), and per argument one byte of kind:
//! a key from a small pool (so commands meet the same keys), a number (edge values
//! included), an option keyword, or raw bytes with a length byte.
//!
//! Invariants: nothing panics, and each command appends exactly one complete RESP reply
//! (none when CLIENT REPLY is off/skip; several only for the SUBSCRIBE family).
use ferrous_core::commands::{flags, table};
use ferrous_core::{ConnectionInfo, Database};
use ferrous_resp::{parse_value, ArgsBuf};

/// Commands never fuzzed: they touch files, the network or the process, or may block or
/// loop forever by design.
const DENIED: &[&str] = &[
    "acl",
    "bgrewriteaof",
    "bgsave",
    "client",
    "cluster",
    "config",
    "debug",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "failover",
    "fcall",
    "fcall_ro",
    "function",
    "migrate",
    "module",
    "monitor",
    "pfselftest",
    "psync",
    "replicaof",
    "save",
    "script",
    "shutdown",
    "slaveof",
    "sync",
    "wait",
    "waitaof",
];

const KEYS: &[&str] = &["k0", "k1", "k2", "{t}a", "{t}b", ""];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "7",
    "10",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    "-0.5",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e3",
    "abc",
    " 1",
    "01",
    "0x10",
    "4294967295",
    "-4294967296",
];

const WORDS: &[&str] = &[
    "EX", "PX", "EXAT", "PXAT", "NX", "XX", "GT", "LT", "GET", "KEEPTTL", "CH", "INCR", "WITHSCORES", "WITHSCORE",
    "LIMIT", "COUNT", "MATCH", "TYPE", "BY", "ASC", "DESC", "ALPHA", "STORE", "LEFT", "RIGHT", "BEFORE", "AFTER",
    "REV", "BYSCORE", "BYLEX", "MIN", "MAX", "SUM", "WEIGHTS", "AGGREGATE", "IDLETIME", "FREQ", "REPLACE", "ABSTTL",
    "RANK", "MAXLEN", "LEN", "IDX", "MINMATCHLEN", "WITHMATCHLEN", "FIELDS", "PERSIST", "string", "list", "set",
    "zset", "hash", "*", "k*", "-", "+", "[a", "(1", "ENCODING", "REFCOUNT", "OFF", "ON", "SKIP", "YES", "NO",
    "MULTI", "EXEC",
];

/// The commands the fuzzer may run, sorted by name for a stable byte -> command mapping.
fn commands() -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> = table()
        .iter()
        .filter(|spec| !spec.has(flags::BLOCKING) && !DENIED.contains(&spec.name.as_str()))
        .map(|spec| {
            let mut subs: Vec<String> = spec
                .subcommands
                .values()
                .filter(|s| !s.has(flags::BLOCKING))
                .map(|s| s.name.split('|').nth(1).unwrap_or(&s.name).to_string())
                .collect();
            subs.sort();
            (spec.name.as_str(), subs)
        })
        .collect();
    out.sort();
    out
}

/// Reads bytes off the front of the input; past the end it yields zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// Decodes `input` into commands and runs them; see the module documentation.
pub fn check_commands(input: &[u8]) {
    let cmds = commands();
    if cmds.is_empty() {
        return;
    }
    let db = Database::builder().active_expire(input.first().is_some_and(|b| b & 4 != 0)).build();
    let mut client = db.connect(ConnectionInfo::default());
    client.authenticated = true;
    let mut r = Bytes(input);
    let flags_byte = r.byte();
    if flags_byte & 1 != 0 {
        client.resp = 3;
    }
    client.select(((flags_byte >> 1) & 1) as usize);
    let mut out = Vec::new();
    let mut argv = ArgsBuf::new();
    let mut executed = 0;
    while !r.0.is_empty() && executed < 64 {
        executed += 1;
        let (name, subs) = &cmds[r.byte() as usize % cmds.len()];
        argv.clear();
        argv.push(if r.0.first().is_some_and(|b| b & 0x80 != 0) { name.to_ascii_uppercase() } else { name.to_string() });
        if !subs.is_empty() {
            argv.push(&subs[r.byte() as usize % subs.len()]);
        }
        for _ in 0..r.byte() % 8 {
            let kind = r.byte();
            let arg: Vec<u8> = match kind % 8 {
                0..=2 => KEYS[kind as usize / 8 % KEYS.len()].into(),
                3 => NUMBERS[kind as usize / 8 % NUMBERS.len()].into(),
                4 => WORDS[kind as usize / 8 % WORDS.len()].into(),
                _ if kind == 255 => vec![r.byte(); 4096],
                _ => {
                    let len = r.byte() as usize % 48;
                    r.take(len).to_vec()
                }
            };
            argv.push(arg);
        }
        let mode_before = client.reply_mode;
        out.clear();
        db.dispatch(&mut client, argv.as_args(), &mut out);
        let quiet = mode_before != ferrous_core::client::ReplyMode::On
            || client.reply_mode != ferrous_core::client::ReplyMode::On;
        let frames = count_frames(&out).unwrap_or_else(|| {
            panic!("{:?} produced a malformed reply: {:?}", argv.as_args(), String::from_utf8_lossy(&out))
        });
        let many_ok = name.contains("subscribe");
        assert!(
            frames == 1 || (quiet && frames == 0) || (many_ok && frames != 1),
            "{:?} produced {frames} replies: {:?}",
            argv.as_args(),
            String::from_utf8_lossy(&out)
        );
    }
    db.disconnect(&client);
}

/// The number of complete RESP frames `out` holds, or `None` if it is not a whole number of
/// well-formed frames.
fn count_frames(out: &[u8]) -> Option<usize> {
    let mut at = 0;
    let mut n = 0;
    while at < out.len() {
        let (_, used) = parse_value(&out[at..]).ok()??;
        at += used;
        n += 1;
    }
    Some(n)
}
