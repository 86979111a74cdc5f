//! The command table: every command's Redis metadata and handler, and dispatch.
//!
//! Metadata (arity, flags, key positions, ACL categories, docs) is not typed in by hand: it
//! is Redis 7.0's own `COMMAND INFO` / `COMMAND DOCS` output, stored in `data/*.resp`
//! (regenerate with `tools/gen_command_data.py`) and parsed once per process. Each family
//! module lists its handlers (`COMMANDS`: name -> fn); the table joins the two, so a command
//! is declared in exactly one place and `COMMAND INFO` matches Redis byte for byte.
//!
//! Families: [`strings`], [`bitmaps`], [`keys`], [`lists`], [`hashes`], [`sets`], [`zsets`],
//! [`connection`], [`server`].
use crate::access::Access;
use crate::client::{ClientState, ReplyMode};
use crate::db::Database;
use crate::error::{Error, Result};
use ferrous_resp::{Args, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;

pub mod reply;
pub use reply::Reply;

pub mod acl;
pub mod bitmaps;
pub mod client_cmd;
pub mod config_cmd;
pub mod connection;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod info;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod observability;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod tracking;
pub mod transactions;
pub mod zsets;

/// A command handler: parses `ctx.args`, runs the operation, writes `ctx.out`.
/// An `Err` becomes the error reply (nothing may have been written to `ctx.out` then).
pub type Handler = fn(&mut Ctx<'_>) -> Result<()>;

/// Everything a handler can use.
pub struct Ctx<'a> {
    /// The database handle (for whole-database operations and configuration).
    pub db: &'a Database,
    /// The selected database at this command's instant.
    pub access: Access<'a>,
    /// The calling client.
    pub client: &'a mut ClientState,
    /// The arguments, the command name first.
    pub args: Args<'a>,
    /// Where the reply goes.
    pub out: Reply<'a>,
    /// The command being run.
    pub spec: &'static CommandSpec,
}

impl<'a> Ctx<'a> {
    /// Argument `i` (the arity was checked).
    #[inline]
    pub fn arg(&self, i: usize) -> &'a [u8] {
        self.args.at(i)
    }
    /// Number of arguments including the name.
    #[inline]
    pub fn argc(&self) -> usize {
        self.args.len()
    }
    /// The time this command runs at.
    #[inline]
    pub fn now(&self) -> i64 {
        self.access.now
    }
    /// Propagates `parts` (one command in this command's database) instead of the
    /// arguments as sent, if the command writes (Redis's `rewriteClientCommandVector`).
    pub fn propagate_as<A: AsRef<[u8]>>(&self, parts: impl IntoIterator<Item = A>) {
        if crate::propagate::collecting() {
            let change = crate::propagate::Change { db: self.access.db, args: crate::propagate::args(parts) };
            crate::propagate::replace(vec![change]);
        }
    }
    /// Propagates several commands (wrapped in MULTI/EXEC) instead of the arguments.
    pub fn propagate_many(&self, commands: Vec<Vec<Vec<u8>>>) {
        if crate::propagate::collecting() {
            let db = self.access.db;
            crate::propagate::replace(commands.into_iter().map(|args| crate::propagate::Change { db, args }).collect());
        }
    }
}

/// Command flags, from Redis's COMMAND INFO.
pub mod flags {
    #![allow(missing_docs)]
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const MAY_REPLICATE: u32 = 1 << 11;
    pub const NO_MULTI: u32 = 1 << 12;
    pub const MOVABLEKEYS: u32 = 1 << 13;
    pub const ALLOW_BUSY: u32 = 1 << 14;
    pub const SKIP_MONITOR: u32 = 1 << 15;
    pub const SKIP_SLOWLOG: u32 = 1 << 16;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
    /// Ferrous's own: the command runs a script or function (EVAL, EVALSHA, FCALL, `_RO`).
    pub const RUNS_SCRIPT: u32 = 1 << 31;
    /// Ferrous's own: the command may run while a script is busy, on any thread (including
    /// from `Database::process_events_while_busy` on the script's own): the `allow_busy`
    /// commands that need neither the dataset nor the script engine's state, both held by
    /// the script. WATCH, `allow_busy` in Redis, reads its key: here it waits for a short
    /// script and gets BUSY from a busy one; REPLCONF likewise.
    pub const RUNS_BESIDE_BUSY_SCRIPT: u32 = 1 << 30;

    pub(crate) fn from_name(s: &str) -> u32 {
        match s {
            "write" => WRITE,
            "readonly" => READONLY,
            "denyoom" => DENYOOM,
            "admin" => ADMIN,
            "pubsub" => PUBSUB,
            "noscript" => NOSCRIPT,
            "blocking" => BLOCKING,
            "loading" => LOADING,
            "stale" => STALE,
            "fast" => FAST,
            "no_auth" => NO_AUTH,
            "may_replicate" => MAY_REPLICATE,
            "no_multi" => NO_MULTI,
            "movablekeys" => MOVABLEKEYS,
            "allow_busy" => ALLOW_BUSY,
            "skip_monitor" => SKIP_MONITOR,
            "skip_slowlog" => SKIP_SLOWLOG,
            "no_mandatory_keys" => NO_MANDATORY_KEYS,
            _ => 0,
        }
    }
}

/// Stripes of each per-command counter: enough for the event-loop threads of a small
/// machine without contention; 16 (the default) would cost 4 KB per command.
pub const CMD_STRIPES: usize = 4;

/// Per-command counters for INFO commandstats, striped per thread ([`CMD_STRIPES`]
/// stripes) so event loops never contend on them. The four counts of a stripe share one
/// cache line: a call bumps `calls` and `usec` together in one line, and a command costs 256
/// bytes of counters instead of 1 KB with a line per count and stripe (there are about 400
/// commands and subcommands, and the table's memory counts against `maxmemory`).
#[derive(Default, Debug)]
pub struct CommandStats {
    lines: [StatsLine; CMD_STRIPES],
    /// Distribution of the durations (LATENCY HISTOGRAM, INFO latencystats).
    pub latency: crate::latency::CommandLatency,
}

#[repr(align(64))]
#[derive(Default, Debug)]
struct StatsLine {
    calls: std::sync::atomic::AtomicU64,
    usec: std::sync::atomic::AtomicU64,
    rejected: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

impl CommandStats {
    #[inline]
    fn line(&self) -> &StatsLine {
        &self.lines[crate::util::stripe_index() % CMD_STRIPES]
    }
    fn sum(&self, f: impl Fn(&StatsLine) -> &std::sync::atomic::AtomicU64) -> u64 {
        self.lines.iter().fold(0u64, |a, l| a.wrapping_add(f(l).load(Relaxed)))
    }
    /// One execution that took `usec` microseconds.
    #[inline]
    pub fn add_call(&self, usec: u64) {
        let l = self.line();
        l.calls.fetch_add(1, Relaxed);
        l.usec.fetch_add(usec, Relaxed);
    }
    /// One call rejected before execution (arity, auth...).
    pub fn add_rejected(&self) {
        self.line().rejected.fetch_add(1, Relaxed);
    }
    /// One execution that replied with an error.
    pub fn add_failed(&self) {
        self.line().failed.fetch_add(1, Relaxed);
    }
    /// Executions, successful or failed.
    pub fn calls(&self) -> u64 {
        self.sum(|l| &l.calls)
    }
    /// Microseconds spent.
    pub fn usec(&self) -> u64 {
        self.sum(|l| &l.usec)
    }
    /// Time of a served blocked command, whose call was counted when it blocked.
    pub fn add_call_time(&self, usec: u64) {
        self.line().usec.fetch_add(usec, Relaxed);
    }
    /// Calls rejected before execution.
    pub fn rejected(&self) -> u64 {
        self.sum(|l| &l.rejected)
    }
    /// Executions that replied with an error.
    pub fn failed(&self) -> u64 {
        self.sum(|l| &l.failed)
    }
    /// Zeroes the counts (CONFIG RESETSTAT); the latency histogram separately.
    pub fn reset_counts(&self) {
        for l in &self.lines {
            for c in [&l.calls, &l.usec, &l.rejected, &l.failed] {
                c.store(0, Relaxed);
            }
        }
    }
}

/// One command (or subcommand, named `container|sub`).
pub struct CommandSpec {
    /// A dense index of this spec among every implemented command and subcommand (ACL
    /// permission bitmaps are looked up by it, see [`crate::acl`]).
    pub id: usize,
    /// Lower-case full name (`get`, `config|get`).
    pub name: String,
    /// Redis arity: exact if positive, minimum if negative (counts the name).
    pub arity: i64,
    /// [`flags`] bits.
    pub flags: u32,
    /// First key position (0: none).
    pub first_key: i64,
    /// Last key position (negative: from the end).
    pub last_key: i64,
    /// Step between keys.
    pub key_step: i64,
    /// The handler; `None` for a container whose subcommands do the work.
    pub handler: Option<Handler>,
    /// Subcommands by lower-case name.
    pub subcommands: HashMap<Vec<u8>, &'static CommandSpec>,
    /// Redis's COMMAND INFO entry (subcommands limited to those implemented), kept
    /// RESP3-encoded like `docs` ([`CommandSpec::info`] decodes it).
    info_resp: Box<[u8]>,
    /// The key specifications of the INFO entry, decoded on first use (COMMAND GETKEYS, ACL
    /// key checks).
    pub(crate) key_specs: OnceLock<Vec<server::KeySpec>>,
    /// Redis's COMMAND DOCS entry, kept RESP3-encoded (as a tree of values the docs of
    /// every command took megabytes; COMMAND DOCS decodes them when asked).
    pub docs: Option<Box<[u8]>>,
    /// Counters.
    pub stats: CommandStats,
}

/// A value kept RESP3-encoded.
fn encode_resp3(v: &Value) -> Box<[u8]> {
    let mut bytes = Vec::new();
    v.encode(&mut bytes, true);
    bytes.into_boxed_slice()
}

impl CommandSpec {
    /// Redis's COMMAND INFO entry.
    pub fn info(&self) -> Value {
        ferrous_resp::parse_value(&self.info_resp).ok().flatten().map_or(Value::Null, |(v, _)| v)
    }
    /// True if the flag bit is set.
    #[inline]
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
    /// Checks an argument count against the arity.
    #[inline]
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }
    /// Positions of the key arguments in `args` (from first/last/step; commands with
    /// movable keys compute theirs in `keys::command_getkeys`).
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 || self.key_step <= 0 {
            return vec![];
        }
        let last = if self.last_key < 0 { argc as i64 + self.last_key } else { self.last_key };
        (self.first_key..=last.min(argc as i64 - 1)).step_by(self.key_step as usize).map(|i| i as usize).collect()
    }
}

/// All implemented commands.
/// Name lookups use foldhash: the table is fixed at start-up, so DoS resistance is moot and
/// the lookup runs once per command.
pub struct CommandTable {
    by_name: HashMap<Vec<u8>, &'static CommandSpec, foldhash::fast::FixedState>,
}

static TABLE: OnceLock<CommandTable> = OnceLock::new();

/// The process-wide command table.
pub fn table() -> &'static CommandTable {
    TABLE.get_or_init(CommandTable::build)
}

/// Every family's handlers.
fn all_handlers() -> impl Iterator<Item = &'static (&'static str, Handler)> {
    strings::COMMANDS
        .iter()
        .chain(bitmaps::COMMANDS)
        .chain(keys::COMMANDS)
        .chain(lists::COMMANDS)
        .chain(hashes::COMMANDS)
        .chain(sets::COMMANDS)
        .chain(zsets::COMMANDS)
        .chain(streams::COMMANDS)
        .chain(geo::COMMANDS)
        .chain(hyperloglog::COMMANDS)
        .chain(sort::COMMANDS)
        .chain(connection::COMMANDS)
        .chain(client_cmd::COMMANDS)
        .chain(config_cmd::COMMANDS)
        .chain(info::COMMANDS)
        .chain(server::COMMANDS)
        .chain(transactions::COMMANDS)
        .chain(pubsub::COMMANDS)
        .chain(tracking::COMMANDS)
        .chain(scripting::COMMANDS)
        .chain(persistence::COMMANDS)
        .chain(replication::COMMANDS)
        .chain(observability::COMMANDS)
        .chain(acl::COMMANDS)
        .chain(memory::COMMANDS)
}

fn parse_data(bytes: &[u8]) -> Value {
    match ferrous_resp::parse_value(bytes) {
        Ok(Some((v, _))) => v,
        _ => panic!("corrupt built-in command data"),
    }
}

fn info_name(entry: &Value) -> Option<String> {
    match entry {
        Value::Array(items) => {
            items.first().and_then(|n| n.as_bytes()).map(|b| String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

/// Redis 7.0's `COMMAND INFO` for every command, implemented or not (ACL categories cover
/// them all, see [`crate::acl`]).
pub(crate) fn all_command_info() -> Value {
    parse_data(include_bytes!("data/command-info.resp"))
}

/// Next [`CommandSpec::id`].
static NEXT_SPEC_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl CommandTable {
    fn build() -> CommandTable {
        let info = all_command_info();
        let docs = parse_data(include_bytes!("data/command-docs.resp"));
        let Value::Array(info) = info else { panic!("command info is not an array") };
        let mut docs_by_name: HashMap<String, Value> = HashMap::new();
        if let Value::Map(pairs) = docs {
            for (k, v) in pairs {
                if let Some(name) = k.as_bytes() {
                    docs_by_name.insert(String::from_utf8_lossy(name).into_owned(), v);
                }
            }
        }
        let handlers: HashMap<&str, Handler> = all_handlers().map(|(n, h)| (*n, *h)).collect();
        let mut by_name = HashMap::with_hasher(foldhash::fast::FixedState::default());
        for entry in info {
            let Some(name) = info_name(&entry) else { continue };
            let doc = docs_by_name.remove(&name);
            if let Some(spec) = build_spec(entry, doc, &handlers) {
                by_name.insert(name.into_bytes(), &*Box::leak(Box::new(spec)));
            }
        }
        for (name, _) in all_handlers() {
            let top = name.split('|').next().unwrap_or(name);
            assert!(by_name.contains_key(top.as_bytes()), "handler for {name} has no Redis metadata");
        }
        CommandTable { by_name }
    }

    /// Looks a command up by name, case-insensitively.
    #[inline]
    pub fn get(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&lower[..]).copied()
    }

    /// Every top-level command.
    pub fn iter(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.by_name.values().copied()
    }

    /// Number of top-level commands.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True if empty (never, in practice).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Resolves `args` to the command (or subcommand) to run, with Redis's errors for
    /// unknown commands, unknown subcommands and wrong arity.
    pub fn resolve(&self, args: &Args<'_>) -> std::result::Result<&'static CommandSpec, Error> {
        let name = args.at(0);
        let Some(spec) = self.get(name) else {
            return Err(unknown_command(args));
        };
        if !spec.subcommands.is_empty() && args.len() >= 2 {
            let sub = args.at(1);
            let mut lower = sub.to_vec();
            lower.make_ascii_lowercase();
            let Some(sub_spec) = spec.subcommands.get(&lower) else {
                let mut msg = b"ERR unknown subcommand '".to_vec();
                msg.extend_from_slice(c_str(sub, 128));
                msg.extend_from_slice(format!("'. Try {} HELP.", spec.name.to_ascii_uppercase()).as_bytes());
                return Err(Error::Bytes(msg));
            };
            if !sub_spec.arity_ok(args.len()) {
                return Err(Error::WrongArity(sub_spec.name.clone()));
            }
            return Ok(sub_spec);
        }
        if !spec.arity_ok(args.len()) {
            return Err(Error::WrongArity(spec.name.clone()));
        }
        if spec.handler.is_none() {
            // A container sent without a subcommand that passed the arity check.
            return Err(Error::WrongArity(spec.name.clone()));
        }
        Ok(spec)
    }
}

/// Client bytes as C's `%.Ns` prints them: up to the first NUL, at most `n` bytes.
fn c_str(b: &[u8], n: usize) -> &[u8] {
    let b = &b[..b.len().min(n)];
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// Redis's "unknown command" error, quoting the first arguments byte for byte (C-string
/// semantics: each stops at a NUL, the quoted list at about 128 bytes).
pub fn unknown_command(args: &Args<'_>) -> Error {
    let mut quoted = Vec::new();
    for a in args.iter().skip(1) {
        if quoted.len() >= 128 {
            break;
        }
        let room = 128 - quoted.len();
        quoted.push(b'\'');
        quoted.extend_from_slice(c_str(a, room));
        quoted.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(c_str(args.at(0), 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&quoted);
    Error::Bytes(msg)
}

fn build_spec(entry: Value, docs: Option<Value>, handlers: &HashMap<&str, Handler>) -> Option<CommandSpec> {
    let Value::Array(mut items) = entry else { return None };
    if items.len() < 10 {
        return None;
    }
    let name = info_name(&Value::Array(items.clone()))?;
    let int = |v: &Value| v.as_int().unwrap_or(0);
    let mut flag_bits = 0;
    if let Value::Set(fl) | Value::Array(fl) = &items[2] {
        for f in fl {
            if let Value::Simple(s) = f {
                flag_bits |= flags::from_name(s);
            }
        }
    }
    let mut subcommands = HashMap::new();
    let mut sub_docs: HashMap<String, Value> = HashMap::new();
    if let Some(Value::Map(d)) = &docs {
        for (k, v) in d {
            if k.as_bytes() == Some(b"subcommands") {
                if let Value::Map(subs) = v {
                    for (sk, sv) in subs {
                        if let Some(n) = sk.as_bytes() {
                            sub_docs.insert(String::from_utf8_lossy(n).into_owned(), sv.clone());
                        }
                    }
                }
            }
        }
    }
    let mut kept_subs = Vec::new();
    if let Value::Array(subs) = std::mem::replace(&mut items[9], Value::Array(vec![])) {
        for sub in subs {
            let Some(sub_name) = info_name(&sub) else { continue };
            let doc = sub_docs.remove(&sub_name);
            if let Some(spec) = build_spec(sub.clone(), doc, handlers) {
                let short = sub_name.split('|').nth(1).unwrap_or(&sub_name).as_bytes().to_vec();
                subcommands.insert(short, &*Box::leak(Box::new(spec)));
                kept_subs.push(sub);
            }
        }
    }
    let handler = handlers.get(name.as_str()).copied();
    if handler.is_none() && subcommands.is_empty() {
        return None;
    }
    items[9] = Value::Array(kept_subs);
    let docs = docs.map(|d| filter_doc_subcommands(d, &subcommands));
    if matches!(name.as_str(), "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro") {
        flag_bits |= flags::RUNS_SCRIPT;
    }
    if matches!(
        name.as_str(),
        "quit"
            | "script|kill"
            | "function|kill"
            | "function|stats"
            | "shutdown"
            | "auth"
            | "hello"
            | "multi"
            | "discard"
            | "unwatch"
            | "reset"
    ) {
        flag_bits |= flags::RUNS_BESIDE_BUSY_SCRIPT;
    }
    Some(CommandSpec {
        id: NEXT_SPEC_ID.fetch_add(1, Relaxed),
        arity: int(&items[1]),
        first_key: int(&items[3]),
        last_key: int(&items[4]),
        key_step: int(&items[5]),
        name,
        flags: flag_bits,
        handler,
        subcommands,
        info_resp: encode_resp3(&Value::Array(items)),
        key_specs: OnceLock::new(),
        docs: docs.map(|d| encode_resp3(&d)),
        stats: CommandStats::default(),
    })
}

fn filter_doc_subcommands(doc: Value, subs: &HashMap<Vec<u8>, &'static CommandSpec>) -> Value {
    let Value::Map(pairs) = doc else { return doc };
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| {
                if k.as_bytes() == Some(b"subcommands") {
                    if let Value::Map(s) = v {
                        let kept = s
                            .into_iter()
                            .filter(|(sk, _)| {
                                sk.as_bytes()
                                    .and_then(|n| n.split(|&c| c == b'|').nth(1))
                                    .is_some_and(|short| subs.contains_key(short))
                            })
                            .collect();
                        return (k, Value::Map(kept));
                    }
                }
                (k, v)
            })
            .collect(),
    )
}

/// Executes one command for `client`, appending its reply to `out`.
///
/// This is the single entry point used by the server, by [`Database::execute`] and (later)
/// by scripts: lookup, arity, authentication, MULTI queueing, the handler, error replies,
/// statistics, WATCH invalidation and serving blocked clients.
///
/// CLIENT REPLY is applied here too: while replies are OFF (or SKIP'ped for this command)
/// only the output marked as pushes ([`ClientState::mark_push`]) is kept.
pub fn dispatch(db: &Database, client: &mut ClientState, args: Args<'_>, out: &mut Vec<u8>) {
    if client.reply_mode == ReplyMode::On {
        return run(db, client, args, out, false, None);
    }
    dispatch_silenced(db, client, args, out)
}

#[cold]
fn dispatch_silenced(db: &Database, client: &mut ClientState, args: Args<'_>, out: &mut Vec<u8>) {
    if client.reply_mode == ReplyMode::Skip {
        client.reply_mode = ReplyMode::SkipThis;
    }
    let entry = out.len();
    client.push_spans.clear();
    run(db, client, args, out, false, None);
    // The mode after the command decides (CLIENT REPLY ON's own +OK is sent).
    if matches!(client.reply_mode, ReplyMode::Off | ReplyMode::SkipThis) {
        let mut kept = entry;
        for &(start, end) in &client.push_spans {
            if start >= kept && end <= out.len() {
                out.copy_within(start..end, kept);
                kept += end - start;
            }
        }
        out.truncate(kept);
    }
    // A command that blocked is skipped when it is answered (`ClientState::deferred_reply`).
    if client.reply_mode == ReplyMode::SkipThis && client.blocking.blocked.is_none() {
        client.reply_mode = ReplyMode::On;
    }
    client.push_spans.clear();
}

/// Like [`dispatch`], for a caller that already holds every shard lock
/// ([`crate::access::HeldLocks`]): EXEC and scripts.
pub fn dispatch_held(db: &Database, client: &mut ClientState, args: Args<'_>, out: &mut Vec<u8>) {
    run(db, client, args, out, true, None)
}

/// [`dispatch_held`] for a command its caller already looked up (with
/// [`CommandTable::resolve`] or the same checks): scripts check every command before
/// running it.
pub fn dispatch_held_resolved(
    db: &Database,
    client: &mut ClientState,
    spec: &'static CommandSpec,
    args: Args<'_>,
    out: &mut Vec<u8>,
) {
    run(db, client, args, out, true, Some(spec))
}

/// Commands a RESP2 client may send while subscribed.
fn allowed_when_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Commands that run immediately even between MULTI and EXEC.
fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

fn reject(db: &Database, client: &mut ClientState, out: &mut Vec<u8>, e: &Error) {
    if client.tx.in_multi() && !client.tx.in_exec {
        client.tx.aborted = true;
    }
    db.inner.stats.error(e);
    Reply::new(out, client.resp3()).error(e);
}

fn run(
    db: &Database,
    client: &mut ClientState,
    args: Args<'_>,
    out: &mut Vec<u8>,
    held: bool,
    resolved: Option<&'static CommandSpec>,
) {
    if args.is_empty() {
        return;
    }
    let resp3 = client.resp3();
    let spec = match resolved.map_or_else(|| table().resolve(&args), Ok) {
        Ok(spec) => spec,
        Err(e) => {
            if let Some(spec) = table().get(args.at(0)) {
                spec.stats.add_rejected();
            }
            reject(db, client, out, &e);
            return;
        }
    };
    if !client.authenticated && !spec.has(flags::NO_AUTH) && (spec.name != "hello" || args.len() <= 2) {
        spec.stats.add_rejected();
        reject(db, client, out, &Error::NoAuth);
        return;
    }
    // ACL: one flag test for a user that may run everything (the default user as shipped).
    if !client.acl.unrestricted() {
        if let Some(e) = crate::acl::check(&db.inner, client, spec, &args, held) {
            spec.stats.add_rejected();
            reject(db, client, out, &e);
            return;
        }
    }
    let alerts = db.inner.rdb.alerts.load(Relaxed);
    // Inside scripts (held), a read-only replica still refuses writes, and deny-oom
    // commands fail if the script started out of memory.
    let alerts =
        if held { alerts & (crate::persistence::ALERT_READONLY | crate::persistence::ALERT_MAXMEMORY) } else { alerts };
    if alerts != 0 {
        if let Some(e) = persistence_gate(db, spec, alerts, client, held) {
            spec.stats.add_rejected();
            reject(db, client, out, &e);
            return;
        }
    }
    // Locks a script batch kept (`Database::script_batch`) serve only the next script.
    let kept_by_thread = if held { std::ptr::null() } else { crate::access::kept_locks() };
    let mut kept = !kept_by_thread.is_null();
    if kept && (!spec.has(flags::RUNS_SCRIPT) || client.tx.in_multi() || !std::ptr::eq(kept_by_thread, &*db.inner)) {
        crate::scripting::release_kept_locks();
        kept = false;
    }
    let beside_script = spec.has(flags::RUNS_BESIDE_BUSY_SCRIPT);
    if !held && !beside_script && crate::scripting::serving_while_busy() {
        let e = crate::scripting::busy_error(db).unwrap_or_else(|| Error::msg(crate::scripting::BUSY_SCRIPT));
        reject(db, client, out, &e);
        return;
    }
    if !held && !kept && !beside_script && db.inner.script_running.load(Relaxed) {
        if let Some(e) = crate::scripting::wait_for_script(db) {
            reject(db, client, out, &e);
            return;
        }
    }
    // Checked when the command arrives, not for what EXEC runs (a transaction may
    // SUBSCRIBE and then GET, as in Redis).
    if !held
        && client.resp == 2
        && client.pubsub.as_ref().is_some_and(|p| p.active())
        && !allowed_when_subscribed(&spec.name)
    {
        let e = Error::msg(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        ));
        reject(db, client, out, &e);
        return;
    }
    if client.tx.in_multi() && !client.tx.in_exec && !runs_inside_multi(&spec.name) {
        if spec.has(flags::NO_MULTI) {
            reject(db, client, out, &Error::msg("ERR Command not allowed inside a transaction"));
            return;
        }
        if let Some(q) = client.tx.queue.as_mut() {
            q.push(args.iter().collect());
            // CLIENT LIST's `multi=` (and ACL LOG's client info) count the queued commands,
            // `multi-mem` their arguments.
            client.info.multi.store(q.len() as i64, Relaxed);
            client.info.multi_mem.fetch_add(crate::client::queued_command_mem(args.iter()), Relaxed);
        }
        // As Redis: a queued command is the client's last command (CLIENT LIST `cmd=`).
        client.info.set_last_command(spec);
        Reply::new(out, resp3).simple("QUEUED");
        return;
    }
    let Some(handler) = spec.handler else { return };
    // Redis shows a script before the commands it runs, any other command once it ran.
    if spec.has(flags::RUNS_SCRIPT) && db.inner.monitors.active() {
        feed_monitors(db, client, spec, &args, held);
    }
    let batch_now = crate::clock::batch_now();
    // Every command is timed (commandstats, slow log, latency): with one clock read when
    // the previous command of the same pipelined batch ended just before (see
    // `crate::latency`).
    let chained = !held && batch_now.is_some();
    let started = crate::latency::command_started(chained);
    let now = batch_now.unwrap_or_else(|| db.inner.clock.now_ms());
    // Inside a script, writes are its caller's (tracking's NOLOOP).
    let writer = if held { SCRIPT_CALLER_ID.get() } else { 0 };
    let mut access = Access::new(&db.inner, client.db, now).for_client(if writer != 0 { writer } else { client.id() });
    if held {
        access = access.held();
    }
    // Pushes produced for this client by its own command follow the reply (see below);
    // older ones are its event loop's business.
    let pushes_before = !held && client.pubsub.as_ref().is_some_and(|p| p.sink.has_pending());
    if !held {
        db.inner.tracking.start_batch();
    }
    let db_index = client.db;
    crate::propagate::enter(&db.inner);
    let mut ctx = Ctx { db, access, client, args, out: Reply::new(out, resp3), spec };
    let mark = ctx.out.len();
    // A script caches its declared keys for its tracking caller whenever it runs a read.
    let outer_caller = spec.has(flags::RUNS_SCRIPT).then(|| {
        (SCRIPT_CALLER.replace(script_caller(db, ctx.client, &args)), SCRIPT_CALLER_ID.replace(ctx.client.id()))
    });
    let result = handler(&mut ctx);
    if let Some((outer, outer_id)) = outer_caller {
        SCRIPT_CALLER.set(outer);
        SCRIPT_CALLER_ID.set(outer_id);
    }
    // FUNCTION LOAD/DELETE/FLUSH/RESTORE change the libraries, not the keyspace: propagated
    // verbatim when they succeed, as Redis does.
    if result.is_ok()
        && matches!(spec.name.as_str(), "function|load" | "function|delete" | "function|flush" | "function|restore")
    {
        crate::propagate::force();
    }
    // EXEC and scripts propagate the effects of the commands they ran, not themselves.
    let propagates_itself = !spec.has(flags::RUNS_SCRIPT) && spec.name != "exec";
    crate::propagate::leave(propagates_itself.then_some((db_index, &args)));
    if !held {
        crate::replication::note_command_end(&db.inner, ctx.client);
    }
    let error_counted = crate::scripting::take_error_counted();
    if let Err(e) = result {
        ctx.out.truncate(mark);
        // Pushes the failed command wrote are gone with its output (CLIENT REPLY OFF).
        ctx.client.push_spans.retain(|&(_, end)| end <= mark);
        ctx.out.error(&e);
        spec.stats.add_failed();
        if !error_counted {
            db.inner.stats.error(&e);
        }
    } else if spec.has(flags::RUNS_SCRIPT) {
        // A script that returns an error (`return redis.error_reply(..)`, `{err=..}`, what
        // `redis.pcall` gave it) fails as a command; its error is counted unless it came
        // from a command the script ran (counted then), as Redis's afterErrorReply.
        let written = &ctx.out.buf()[mark..];
        if let Some(text) = written.strip_prefix(b"-") {
            spec.stats.add_failed();
            if !error_counted {
                let end = text.iter().position(|&c| c == b'\r').unwrap_or(text.len());
                db.inner.stats.error(&Error::msg(String::from_utf8_lossy(&text[..end]).into_owned()));
            }
        }
    }
    let usec = crate::latency::command_finished(started, chained);
    // A blocked command that is served later runs again on a transient client: Redis counts
    // the command once, as the call that blocked.
    if !client.blocking.serving {
        spec.stats.add_call(usec);
    } else {
        spec.stats.add_call_time(usec);
    }
    if db.inner.monitors.active() && !spec.has(flags::RUNS_SCRIPT) {
        feed_monitors(db, client, spec, &args, held);
    }
    if client.blocking.blocked.is_none() {
        crate::latency::after_command(db, client, spec, &args, usec);
    }
    if db.inner.tracking.active() {
        if held && spec.has(flags::READONLY) {
            remember_for_script_caller(db);
        }
        track(db, client, spec, &args, held);
    }
    if !held {
        db.inner.tracking.flush_batch();
        // Invalidations of the client's own keys follow its reply, as in Redis.
        if let Some(ps) = client.pubsub.as_ref().filter(|_| !pushes_before) {
            if ps.sink.has_pending() {
                let start = out.len();
                ps.sink.drain_into(out);
                client.mark_push(start, out.len());
            }
        }
        client.info.set_last_command(spec);
        client.sync_info();
    }
    if !held && !client.blocking.serving && db.inner.blocking.has_ready() {
        crate::scripting::release_kept_locks();
        crate::blocking::serve_ready(db);
    }
}

/// MONITOR: the line of one command (commands of scripts come from `lua`).
#[cold]
fn feed_monitors(db: &Database, client: &ClientState, spec: &CommandSpec, args: &Args<'_>, held: bool) {
    // Scripts are flagged skip_monitor but shown by their own code in Redis.
    let skipped = spec.has(flags::ADMIN) || (spec.has(flags::SKIP_MONITOR) && !spec.has(flags::RUNS_SCRIPT));
    if skipped || client.blocking.serving || client.id() == crate::aof::load::AOF_CLIENT_ID {
        return;
    }
    let addr = match client.info.addr.as_str() {
        "" if held => "lua",
        "" => "?:0",
        a => a,
    };
    db.inner.monitors.feed(client.db, addr, args);
}

/// Redis's refusals while persistence is in trouble: `-MISCONF` for writes (and PING) after
/// a failed background save with `stop-writes-on-bgsave-error`, `-LOADING` for commands
/// not flagged `loading` while a file is loaded. Only consulted when an alert bit is set.
/// `maxmemory` comes first: eviction, then `-OOM` for deny-oom commands ([`crate::evict`]).
#[cold]
fn persistence_gate(db: &Database, spec: &CommandSpec, alerts: u8, state: &ClientState, held: bool) -> Option<Error> {
    use crate::persistence as p;
    if alerts & p::ALERT_MAXMEMORY != 0 {
        if let Some(e) = crate::evict::command_gate(&db.inner, state, spec, held) {
            return Some(e);
        }
    }
    let client = state.id();
    if alerts & p::ALERT_BGSAVE_FAILED != 0
        && (spec.has(flags::WRITE) || spec.name == "ping")
        && p::writes_refused(&db.inner)
    {
        return Some(Error::msg(p::MISCONF));
    }
    if alerts & p::ALERT_AOF_FAILED != 0 && (spec.has(flags::WRITE) || spec.name == "ping") {
        if let Some(aof) = crate::aof::writer::current(&db.inner) {
            if aof.write_failed.load(Relaxed) {
                return Some(Error::msg(format!("MISCONF Errors writing to the AOF file: {}", aof.last_error())));
            }
        }
    }
    if alerts & (p::ALERT_READONLY | p::ALERT_STALE | p::ALERT_NOREPLICAS) != 0 {
        let from_master = crate::replication::is_master_client(&db.inner, client);
        if alerts & p::ALERT_STALE != 0 && !spec.has(flags::STALE) && !from_master {
            return Some(Error::msg(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ));
        }
        if alerts & p::ALERT_READONLY != 0 && spec.has(flags::WRITE) && !from_master {
            return Some(Error::msg("READONLY You can't write against a read only replica."));
        }
        if alerts & p::ALERT_NOREPLICAS != 0 && spec.has(flags::WRITE) {
            return Some(Error::msg("NOREPLICAS Not enough good replicas to write."));
        }
    }
    // The AOF loader's own client replays the file while everybody else waits.
    if alerts & p::ALERT_LOADING != 0 && !spec.has(flags::LOADING) && client != crate::aof::load::AOF_CLIENT_ID {
        return Some(Error::msg(p::LOADING));
    }
    None
}

/// The tracking client a running script caches keys for, and the keys it declared.
type ScriptCaller = Option<(u64, Vec<Vec<u8>>)>;

thread_local! {
    /// Set while a script of a tracking client runs (see [`script_caller`]).
    static SCRIPT_CALLER: std::cell::RefCell<ScriptCaller> = const { std::cell::RefCell::new(None) };
    /// The id of the client whose script is running (0: none): the commands the script
    /// runs write on its behalf.
    static SCRIPT_CALLER_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether a script (EVAL, FCALL and their forms) about to run must cache keys for its
/// caller: it caches every key it declared each time it runs a read command, and nothing
/// if it runs none, as Redis 7.0 does (it cannot know which keys the reads touched).
fn script_caller(db: &Database, client: &ClientState, args: &Args<'_>) -> ScriptCaller {
    if !db.inner.tracking.active() {
        return None;
    }
    client.tracking.as_ref().filter(|t| !t.options.bcast && caches(t))?;
    // `EVAL script numkeys key [key ...] arg [arg ...]`
    let n = args.get(2).and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok()).unwrap_or(0);
    Some((client.id(), (3..args.len().min(3 + n)).filter_map(|p| args.get(p)).map(<[u8]>::to_vec).collect()))
}

/// A read command ran inside a script: its caller (if tracking) caches the script's keys.
fn remember_for_script_caller(db: &Database) {
    SCRIPT_CALLER.with(|c| {
        if let Some((id, keys)) = &*c.borrow() {
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            db.inner.tracking.remember(*id, &keys);
        }
    });
}

/// OPTIN/OPTOUT: whether the current command's reads are cached (CLIENT CACHING).
fn caches(t: &crate::tracking::ClientTracking) -> bool {
    if t.options.optin {
        t.caching == Some(true)
    } else if t.options.optout {
        t.caching != Some(false)
    } else {
        true
    }
}

/// Client-side caching after a command: remember what a tracking client read (scripts
/// cache as they run, see [`script_caller`]).
///
/// CLIENT CACHING yes/no covers a whole command: a script, or a transaction from MULTI to
/// EXEC with everything it runs (`held` marks the commands run inside one).
///
/// Modified keys are invalidated where they change (`Access::signal_modified`), flushed
/// databases by FLUSHDB/FLUSHALL themselves.
fn track(db: &Database, client: &mut ClientState, spec: &CommandSpec, args: &Args<'_>, held: bool) {
    let table = &db.inner.tracking;
    let Some(t) = client.tracking.as_mut() else { return };
    if spec.has(flags::READONLY) && !spec.has(flags::RUNS_SCRIPT) && !t.options.bcast && caches(t) {
        let keys: Vec<&[u8]> = spec.key_positions(args.len()).into_iter().filter_map(|p| args.get(p)).collect();
        table.remember(client.info.id, &keys);
    }
    // MULTI keeps it for the transaction (Redis clears it in `resetClient` outside MULTI).
    if !held && spec.name != "client|caching" && !client.tx.in_multi() {
        t.caching = None;
    }
}
