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
//! any, one byte the number of further arguments (what the arity asks for, or 0..=7), and per argument one byte of kind:
//! a key from a small pool (so commands meet the same keys), a number (edge values
//! included), an option keyword, or raw bytes with a length byte.
//!
//! Invariants: nothing panics, and each command appends exactly one complete RESP reply
//! (none when CLIENT REPLY is off/skip; several only for the SUBSCRIBE family), plus, on a
//! RESP3 connection, any number of push messages.
use ferrous_core::commands::{flags, table};
use ferrous_core::{ConnectionInfo, Database};
use ferrous_resp::{parse_value, ArgsBuf, Value};
use std::sync::OnceLock;

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

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "EX", "PX", "EXAT", "PXAT", "NX", "XX", "GT", "LT", "GET", "KEEPTTL", "CH", "INCR", "WITHSCORES", "WITHSCORE",
    "LIMIT", "COUNT", "MATCH", "TYPE", "BY", "ASC", "DESC", "ALPHA", "STORE", "LEFT", "RIGHT", "BEFORE", "AFTER",
    "REV", "BYSCORE", "BYLEX", "MIN", "MAX", "SUM", "WEIGHTS", "AGGREGATE", "IDLETIME", "FREQ", "REPLACE", "ABSTTL",
    "RANK", "MAXLEN", "LEN", "IDX", "MINMATCHLEN", "WITHMATCHLEN", "FIELDS", "PERSIST", "string", "list", "set",
    "zset", "hash", "*", "k*", "-", "+", "[a", "(1", "ENCODING", "REFCOUNT", "OFF", "ON", "SKIP", "YES", "NO",
    "MULTI", "EXEC",
];

/// A command the fuzzer may run: name, subcommands with their arities, arity.
type Candidate = (&'static str, Vec<(String, i64)>, i64);

/// The commands the fuzzer may run, sorted by name for a stable byte -> command mapping.
fn commands() -> Vec<Candidate> {
    let mut out: Vec<Candidate> = table()
        .iter()
        .filter(|spec| !spec.has(flags::BLOCKING) && !DENIED.contains(&spec.name.as_str()))
        .map(|spec| {
            let mut subs: Vec<(String, i64)> = spec
                .subcommands
                .values()
                .filter(|s| !s.has(flags::BLOCKING))
                .map(|s| (s.name.split('|').nth(1).unwrap_or(&s.name).to_string(), s.arity))
                .collect();
            subs.sort();
            (spec.name.as_str(), subs, spec.arity)
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

/// What one input did (lets a caller check that inputs exercise more than error paths).
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Commands run.
    pub executed: usize,
    /// Commands whose (first) reply was an error.
    pub errors: usize,
}

/// Decodes `input` into commands and runs them; see the module documentation.
pub fn check_commands(input: &[u8]) -> Outcome {
    static COMMANDS: OnceLock<Vec<Candidate>> = OnceLock::new();
    let cmds = COMMANDS.get_or_init(commands);
    let mut outcome = Outcome::default();
    if cmds.is_empty() {
        return outcome;
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
    while !r.0.is_empty() && outcome.executed < 64 {
        outcome.executed += 1;
        let (name, subs, mut arity) = &cmds[r.byte() as usize % cmds.len()];
        argv.clear();
        argv.push(if r.0.first().is_some_and(|b| b & 0x80 != 0) {
            name.to_ascii_uppercase()
        } else {
            name.to_string()
        });
        if !subs.is_empty() {
            let (sub, sub_arity) = &subs[r.byte() as usize % subs.len()];
            argv.push(sub);
            arity = *sub_arity;
        }
        // Half the time exactly the arguments the arity asks for (plus a few when it is a
        // minimum), so most commands reach their handler; otherwise 0..=7 of them.
        let n = r.byte();
        let nargs = if n & 8 == 0 {
            (arity.unsigned_abs() as usize).saturating_sub(argv.len()) + if arity < 0 { (n % 4) as usize } else { 0 }
        } else {
            (n % 8) as usize
        };
        for _ in 0..nargs {
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
        let Some((replies, pushes)) = count_frames(&out) else {
            panic!("{:?} produced a malformed reply: {:?}", argv.as_args(), String::from_utf8_lossy(&out))
        };
        outcome.errors += usize::from(out.first() == Some(&b'-'));
        // Push messages (RESP3 `>`: a message published to a channel this client listens
        // to, subscribe confirmations) may come with any reply, before it as in Redis.
        let many_ok = name.contains("subscribe");
        assert!(
            replies == 1 || (quiet && replies == 0) || many_ok,
            "{:?} produced {replies} replies and {pushes} push messages: {:?}",
            argv.as_args(),
            String::from_utf8_lossy(&out)
        );
        assert!(pushes == 0 || client.resp3() || many_ok, "push frames on a RESP2 connection");
    }
    db.disconnect(&client);
    outcome
}

/// The number of complete RESP frames in `out`, as (replies, push messages), or `None` if it
/// is not a whole number of well-formed frames.
fn count_frames(out: &[u8]) -> Option<(usize, usize)> {
    let (mut at, mut replies, mut pushes) = (0, 0, 0);
    while at < out.len() {
        let (v, used) = parse_value(&out[at..]).ok()??;
        at += used;
        if matches!(v, Value::Push(_)) {
            pushes += 1;
        } else {
            replies += 1;
        }
    }
    Some((replies, pushes))
}
