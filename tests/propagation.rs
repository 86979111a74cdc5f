//! Differential test of the propagation stream against Redis: every case of the corpus in
//! `tests/data/propagation/*.txt` (what redis-server 7.0.15 wrote to its AOF for 442 command
//! sequences, recorded by `tools/propagation_corpus.py`; format and rules in that
//! directory's README) is replayed in-process against a fresh [`ferrous::Database`], and
//! what [`Database::changes`](ferrous_core::Database::changes) yields is compared with the
//! case's AOF expectation. No sockets, no redis-server: the corpus is the oracle.
//!
//! It lives in the root package because the scripting cases (EVAL, FCALL, FUNCTION) need
//! the Lua engine, which `ferrous-core` cannot depend on.
//!
//! How a case runs (mirroring the generator's `Runner.run`):
//! - A new database (system clock, active expiry on, default configuration: the lazyfree
//!   options off) and a change feed attached before anything runs. The stream starts with
//!   db 0 selected, as Redis's does after the generator's `FLUSHALL`.
//! - The `+` setup lines run; a setup command that replies with an error fails the case.
//!   Their blocks are rendered (keeping the stream's `SELECT` state, which carries into the
//!   case, as in Redis) and dropped.
//! - The `>` lines run; every block published from then until the case ends is rendered
//!   with [`Block::commands`], which writes the `SELECT`s and `MULTI`/`EXEC` a consumer
//!   writes to its AOF, and normalized as the generator normalizes Redis's AOF (`<ABS_MS>`,
//!   `<ABS_S>`, `<ANY>` from `! any` directives, the same argument quoting). The result
//!   must equal the `=` lines, or the `=aof` lines when the AOF and replica streams differ
//!   (`=repl` lines are not checked: the feed is the AOF's view). A command Ferrous answers
//!   with "unknown command" also fails the case, so that a case expecting nothing cannot
//!   pass without having run.
//!
//! Pseudo-commands: `@conn NAME` switches to (or opens) a connection, `@db N` is a SELECT
//! on it, `@sleep MS` really sleeps (active expiry runs on its own thread). `@async CMD`
//! dispatches on a connection that can block: a blocked client is served by the pushing
//! command's own dispatch (the blocking registry re-runs it before that dispatch returns),
//! and is timed out by this harness when its deadline passes, as the server's event loop
//! does. `@wait` waits for the current connection's `@async` reply (its timeout, since
//! nothing else can serve it in-process). A `>` command that blocks waits for its timeout
//! the same way. Clients still blocked at the end are disconnected (Redis drops them).
//!
//! Known gaps: `tests/data/propagation_known_gaps.txt` lists the cases Ferrous does not
//! match yet, one per line: `FILE: DESCRIPTION # reason`, where `FILE: DESCRIPTION` is the
//! case id (the corpus file name and the text of the case's first `#` line, without `# `;
//! unique per file, and stable when cases are added or moved). The test fails on a failing
//! case that is not listed, on a listed case that passes ("remove from known gaps"), and on
//! a listed id that names no case; so the list only shrinks and stays true.
//!
//! `FERROUS_PROPAGATION_CASE=substring` runs only the cases whose id contains it (case
//! insensitive) and prints each one's commands, replies, expectation and result; the
//! known-gap checks then apply to those cases only. Run with `--nocapture` to see it.
use ferrous::blocking::WaiterState;
use ferrous::propagate::ChangeFeed;
use ferrous::resp::ArgsBuf;
use ferrous::{ClientState, ConnectionInfo, Database};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_MS: i128 = 86_400_000;
const DAY_S: i128 = 86_400;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/propagation")
}

fn known_gaps_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/propagation_known_gaps.txt")
}

// ---------------------------------------------------------------------------------------
// The corpus (parsed as `tools/propagation_corpus.py` parses it)

struct Case {
    /// Corpus file name (`strings.txt`).
    file: String,
    /// Line of the description, for messages.
    line: usize,
    /// The first `#` line without `# `.
    description: String,
    /// `! any CMD [i ...]`: command name (uppercase) and argument positions (`None`: all
    /// after the key).
    any: HashMap<Vec<u8>, Option<Vec<usize>>>,
    setup: Vec<String>,
    actions: Vec<String>,
    /// The AOF expectation, one rendered command per line.
    expected: Vec<String>,
}

impl Case {
    fn id(&self) -> String {
        format!("{}: {}", self.file, self.description)
    }
}

fn read_corpus() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/data/propagation")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("corpus file");
        let mut block: Vec<(usize, &str)> = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let line = line.trim_end();
            if line.is_empty() {
                if !block.is_empty() {
                    cases.push(parse_case(&file, std::mem::take(&mut block)));
                }
            } else {
                block.push((i + 1, line));
            }
        }
        if !block.is_empty() {
            cases.push(parse_case(&file, block));
        }
    }
    cases
}

fn parse_case(file: &str, lines: Vec<(usize, &str)>) -> Case {
    let (line, first) = lines[0];
    let description = first.strip_prefix("# ").unwrap_or_else(|| panic!("{file}:{line}: a case starts with '# '"));
    assert!(!description.contains(" # "), "{file}:{line}: ' # ' in a description breaks the known-gaps format");
    let mut case = Case {
        file: file.to_string(),
        line,
        description: description.to_string(),
        any: HashMap::new(),
        setup: Vec::new(),
        actions: Vec::new(),
        expected: Vec::new(),
    };
    let (mut both, mut aof, mut split) = (Vec::new(), Vec::new(), false);
    for &(n, l) in &lines[1..] {
        if l.starts_with('#') {
            continue;
        }
        if let Some(d) = l.strip_prefix("! ") {
            let words: Vec<&str> = d.split_whitespace().collect();
            assert!(words.len() >= 2 && words[0] == "any", "{file}:{n}: unknown directive {l:?}");
            let idx: Vec<usize> = words[2..].iter().map(|w| w.parse().expect("argument index")).collect();
            case.any.insert(words[1].to_ascii_uppercase().into_bytes(), (!idx.is_empty()).then_some(idx));
        } else if let Some(s) = l.strip_prefix("+ ") {
            assert!(case.actions.is_empty(), "{file}:{n}: '+' lines must come before '>' lines");
            case.setup.push(s.to_string());
        } else if let Some(a) = l.strip_prefix("> ") {
            case.actions.push(a.to_string());
        } else if let Some(e) = l.strip_prefix("= ") {
            both.push(e.to_string());
        } else if let Some(e) = l.strip_prefix("=aof ") {
            aof.push(e.to_string());
            split = true;
        } else if l.starts_with("=repl ") {
            split = true;
        } else {
            panic!("{file}:{n}: unrecognized line {l:?}");
        }
    }
    assert!(!case.actions.is_empty(), "{file}:{line}: a case needs a '>' line");
    assert!(!split || both.is_empty(), "{file}:{line}: '=' mixed with '=aof'/'=repl'");
    case.expected = if split { aof } else { both };
    case
}

/// Splits a line into arguments: `(bytes, was quoted)`, as the generator's `split_args`.
fn split_args(text: &str) -> Vec<(Vec<u8>, bool)> {
    let b = text.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                let mut arg = Vec::new();
                i += 1;
                loop {
                    assert!(i < b.len(), "unterminated quote in {text:?}");
                    match b[i] {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' => {
                            match b[i + 1] {
                                b'x' => {
                                    arg.push(u8::from_str_radix(&text[i + 2..i + 4], 16).expect("\\x escape"));
                                    i += 2;
                                }
                                b'n' => arg.push(b'\n'),
                                b'r' => arg.push(b'\r'),
                                b't' => arg.push(b'\t'),
                                c @ (b'"' | b'\\') => arg.push(c),
                                c => panic!("bad escape \\{} in {text:?}", c as char),
                            }
                            i += 2;
                        }
                        c => {
                            arg.push(c);
                            i += 1;
                        }
                    }
                }
                assert!(i >= b.len() || b[i] == b' ' || b[i] == b'\t', "quote must end an argument in {text:?}");
                out.push((arg, true));
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                    i += 1;
                }
                out.push((b[start..i].to_vec(), false));
            }
        }
    }
    out
}

/// Resolves `<NOW_MS+n>`, `<NOW_S-n>`... in unquoted arguments (the generator's
/// `substitute`).
fn substitute(args: &[(Vec<u8>, bool)], now_ms: i64) -> Vec<Vec<u8>> {
    args.iter()
        .map(|(a, quoted)| {
            let text = std::str::from_utf8(a).unwrap_or("");
            let resolved = (!quoted).then(|| text.strip_prefix("<NOW_")?.strip_suffix('>')).flatten().and_then(|t| {
                let (unit, offset) = t.split_at(t.find(['+', '-']).unwrap_or(t.len()));
                let base = match unit {
                    "MS" => now_ms,
                    "S" => now_ms.div_euclid(1000),
                    _ => return None,
                };
                let offset: i64 = if offset.is_empty() { 0 } else { offset.parse().ok()? };
                Some((base + offset).to_string().into_bytes())
            });
            resolved.unwrap_or_else(|| a.clone())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Rendering (the generator's `quote` and `normalize`)

fn quote(arg: &[u8]) -> String {
    let plain =
        !arg.is_empty() && arg.iter().all(|&c| (0x21..=0x7e).contains(&c) && c != b'"' && c != b'\\') && arg[0] != b'<';
    if plain {
        return String::from_utf8_lossy(arg).into_owned();
    }
    let mut out = String::from("\"");
    for &c in arg {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(c as char),
            _ => write!(out, "\\x{c:02x}").unwrap(),
        }
    }
    out.push('"');
    out
}

/// `-?\d{1,19}` as an integer.
fn integer(a: &[u8]) -> Option<i128> {
    let digits = a.strip_prefix(b"-").unwrap_or(a);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(a).ok()?.parse().ok()
}

fn normalize(cmd: &[Vec<u8>], any: &HashMap<Vec<u8>, Option<Vec<usize>>>, now_ms: i128) -> String {
    let now_s = now_ms.div_euclid(1000);
    let rule = any.get(&cmd[0].to_ascii_uppercase());
    let mut out = Vec::with_capacity(cmd.len());
    for (i, a) in cmd.iter().enumerate() {
        let random = match rule {
            Some(None) => i >= 2,
            Some(Some(idx)) => idx.contains(&i),
            None => false,
        };
        if random {
            out.push("<ANY>".to_string());
            continue;
        }
        if let Some(v) = integer(a) {
            if (v - now_ms).abs() <= DAY_MS {
                out.push("<ABS_MS>".to_string());
                continue;
            }
            if (v - now_s).abs() <= DAY_S {
                out.push("<ABS_S>".to_string());
                continue;
            }
        }
        if let Some(dash) = a.iter().position(|&c| c == b'-') {
            let (ms, seq) = (&a[..dash], &a[dash + 1..]);
            let digits = |p: &[u8]| !p.is_empty() && p.len() <= 19 && p.iter().all(u8::is_ascii_digit);
            if digits(ms) && digits(seq) && integer(ms).is_some_and(|v| (v - now_ms).abs() <= DAY_MS) {
                out.push(format!("<ABS_MS>-{}", String::from_utf8_lossy(seq)));
                continue;
            }
        }
        out.push(quote(a));
    }
    out.join(" ")
}

/// A reply, short, for the verbose log.
fn show_reply(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).replace("\r\n", " ");
    let text = text.trim_end();
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(117).collect::<String>())
    } else {
        text.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Running a case

/// What a case propagated, and why it could not run to its end if it could not.
struct Outcome {
    got: Vec<String>,
    error: Option<String>,
}

struct Conn {
    client: ClientState,
    /// An `@async` command was sent and its reply not read (`@wait`).
    pending: bool,
}

struct Run<'a> {
    case: &'a Case,
    db: Database,
    feed: ChangeFeed,
    /// The db the stream last selected (Redis's AOF starts each case with db 0 selected).
    selected: Option<usize>,
    conns: BTreeMap<String, Conn>,
    current: String,
    /// Commands and replies, for the verbose output.
    log: Vec<String>,
}

impl<'a> Run<'a> {
    fn new(case: &'a Case) -> Self {
        let db = Database::builder().build();
        let feed = db.changes();
        let mut run =
            Run { case, db, feed, selected: Some(0), conns: BTreeMap::new(), current: "a".into(), log: Vec::new() };
        run.open("a");
        run
    }

    fn now_ms(&self) -> i64 {
        self.db.inner().clock.now_ms()
    }

    fn open(&mut self, name: &str) {
        if !self.conns.contains_key(name) {
            let mut client = self.db.connect(ConnectionInfo::default());
            client.authenticated = true;
            // A connection that can block, as a server connection can.
            client.blocking.waker = Some(Arc::new(|| {}));
            self.conns.insert(name.to_string(), Conn { client, pending: false });
        }
        self.current = name.to_string();
    }

    fn dispatch(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let argv: ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        let conn = self.conns.get_mut(&self.current).expect("current connection");
        self.db.dispatch(&mut conn.client, argv.as_args(), &mut out);
        out
    }

    /// Times out every blocked client whose deadline has passed (the server's event loop
    /// does this), as Redis does in `blockedBeforeSleep`/`clientsCron`.
    fn expire_waiters(&mut self) {
        let now = self.now_ms();
        for conn in self.conns.values_mut() {
            let Some(w) = &conn.client.blocking.blocked else { continue };
            let waiting = matches!(*w.state.lock(), WaiterState::Waiting);
            if waiting && w.deadline.is_some_and(|d| d <= now) {
                let w = conn.client.blocking.blocked.take().expect("blocked");
                let _ = w.cancel(&self.db.inner().blocking);
            }
        }
    }

    /// Sleeps `ms`, timing out blocked clients as their deadlines pass.
    fn sleep(&mut self, ms: i64) {
        let end = Instant::now() + Duration::from_millis(ms.max(0) as u64);
        loop {
            self.expire_waiters();
            let now = Instant::now();
            if now >= end {
                return;
            }
            let now_ms = self.now_ms();
            let next = self
                .conns
                .values()
                .filter_map(|c| c.client.blocking.blocked.as_ref()?.deadline)
                .map(|d| now + Duration::from_millis((d - now_ms).max(0) as u64 + 1))
                .min()
                .map_or(end, |d| d.min(end));
            std::thread::sleep(next.saturating_duration_since(now));
        }
    }

    /// Waits until the current connection's blocked command is served or times out; its
    /// reply. Nothing else runs meanwhile, so only a timeout can end the wait.
    fn wait_reply(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            self.expire_waiters();
            let conn = self.conns.get_mut(&self.current).expect("current connection");
            let Some(w) = &conn.client.blocking.blocked else { return Ok(None) };
            if let Some(reply) = w.take_reply() {
                conn.client.blocking.blocked = None;
                return Ok(Some(reply));
            }
            let Some(deadline) = w.deadline else {
                return Err(format!("connection {} would stay blocked forever", self.current));
            };
            let left = deadline - self.now_ms();
            self.sleep(left.max(0) + 1);
        }
    }

    fn exec_line(&mut self, text: &str, setup: bool) -> Result<(), String> {
        self.expire_waiters();
        let args = split_args(text);
        let Some((head, quoted)) = args.first() else { return Ok(()) };
        let rest: Vec<String> = args[1..].iter().map(|(a, _)| String::from_utf8_lossy(a).into_owned()).collect();
        if !quoted && head.starts_with(b"@") {
            match &head[..] {
                b"@conn" => self.open(&rest[0]),
                b"@db" => {
                    let reply = self.dispatch(&[b"SELECT".to_vec(), rest[0].clone().into_bytes()]);
                    if reply.starts_with(b"-") {
                        return Err(format!("SELECT failed: {}", show_reply(&reply)));
                    }
                }
                b"@sleep" => self.sleep(rest[0].parse().map_err(|_| format!("bad @sleep in {text:?}"))?),
                b"@async" => {
                    if self.conns[&self.current].pending {
                        return Err(format!("connection {} already has an @async reply pending", self.current));
                    }
                    let argv = substitute(&args[1..], self.now_ms());
                    let reply = self.dispatch(&argv);
                    let blocked = reply.is_empty() && self.conns[&self.current].client.blocking.blocked.is_some();
                    let shown = if blocked { "(blocked)".to_string() } else { show_reply(&reply) };
                    self.log.push(format!("[{}] {text} -> {shown}", self.current));
                    self.conns.get_mut(&self.current).expect("current connection").pending = true;
                    unknown_command(&argv, &reply)?;
                }
                b"@wait" => {
                    if let Some(reply) = self.wait_reply()? {
                        self.log.push(format!("[{}] (async) -> {}", self.current, show_reply(&reply)));
                    }
                    self.conns.get_mut(&self.current).expect("current connection").pending = false;
                }
                _ => return Err(format!("unknown directive in {text:?}")),
            }
            return Ok(());
        }
        if self.conns[&self.current].pending {
            return Err(format!("connection {} has an @async reply pending; use @wait or @conn", self.current));
        }
        let argv = substitute(&args, self.now_ms());
        let mut reply = self.dispatch(&argv);
        if reply.is_empty() && self.conns[&self.current].client.blocking.blocked.is_some() {
            reply = self.wait_reply()?.unwrap_or_default();
        }
        self.log.push(format!("[{}] {text} -> {}", self.current, show_reply(&reply)));
        if setup && reply.starts_with(b"-") {
            return Err(format!("setup command {text:?} failed: {}", show_reply(&reply)));
        }
        unknown_command(&argv, &reply)
    }

    /// Renders the blocks published so far.
    fn drain(&mut self, wait: Duration) -> Vec<String> {
        let now = i128::from(self.now_ms());
        let mut out = Vec::new();
        let mut next = self.feed.try_recv();
        if next.is_none() && !wait.is_zero() {
            next = self.feed.recv_timeout(wait);
        }
        while let Some(block) = next {
            for cmd in block.commands(&mut self.selected) {
                out.push(normalize(&cmd, &self.case.any, now));
            }
            next = self.feed.try_recv();
        }
        out
    }

    fn run(mut self) -> (Outcome, Vec<String>) {
        let case = self.case;
        for line in &case.setup {
            if let Err(e) = self.exec_line(line, true) {
                return (Outcome { got: Vec::new(), error: Some(e) }, self.log);
            }
        }
        let _ = self.drain(Duration::ZERO);
        self.log.push("-- case".into());
        let mut got = Vec::new();
        let mut error = None;
        for line in &case.actions {
            if let Err(e) = self.exec_line(line, false) {
                error = Some(e);
                break;
            }
            got.extend(self.drain(Duration::ZERO));
        }
        self.expire_waiters();
        // The active expiry cycle publishes from its own thread: after a sleep, give a
        // cycle that is finishing a moment to publish.
        let slept = case.actions.iter().any(|a| a.starts_with("@sleep"));
        got.extend(self.drain(if slept { Duration::from_millis(5) } else { Duration::ZERO }));
        for conn in self.conns.values() {
            self.db.disconnect(&conn.client);
        }
        (Outcome { got, error }, self.log)
    }
}

/// A command Ferrous does not know (Redis knows every command in the corpus but the one
/// named `nosuchcommand`) fails the case: a case expecting nothing would otherwise pass
/// without having run.
fn unknown_command(argv: &[Vec<u8>], reply: &[u8]) -> Result<(), String> {
    let unknown = [&b"-ERR unknown command"[..], b"-ERR unknown subcommand", b"-ERR Unknown Redis command"];
    if unknown.iter().any(|u| reply.starts_with(u)) && !argv[0].eq_ignore_ascii_case(b"nosuchcommand") {
        return Err(format!("not implemented: {}", show_reply(reply)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Known gaps

/// The listed case ids, with their reasons.
fn read_known_gaps() -> BTreeMap<String, String> {
    let path = known_gaps_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut gaps = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, reason) = line.split_once(" # ").unwrap_or((line, ""));
        let prev = gaps.insert(id.trim().to_string(), reason.trim().to_string());
        assert!(prev.is_none(), "{}:{}: {id} listed twice", path.display(), i + 1);
    }
    gaps
}

fn family(file: &str) -> &str {
    file.strip_suffix(".txt").unwrap_or(file)
}

#[test]
fn propagation_matches_redis_aof() {
    let started = Instant::now();
    let filter = std::env::var("FERROUS_PROPAGATION_CASE").ok().filter(|f| !f.is_empty()).map(|f| f.to_lowercase());
    let verbose = filter.is_some();
    let cases = read_corpus();
    let gaps = read_known_gaps();
    let ids: HashSet<String> = cases.iter().map(Case::id).collect();
    assert_eq!(ids.len(), cases.len(), "case ids (file: description) must be unique");

    // family -> (passed, known gaps, unexpected failures)
    let mut families: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut report = String::new();
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut ran = HashSet::new();
    for case in &cases {
        let id = case.id();
        if filter.as_ref().is_some_and(|f| !id.to_lowercase().contains(f.as_str())) {
            continue;
        }
        ran.insert(id.clone());
        let (outcome, log) = Run::new(case).run();
        let tally = families.entry(family(&case.file).to_string()).or_default();
        let known = gaps.contains_key(&id);
        let failed = outcome.error.is_some() || outcome.got != case.expected;
        match (failed, known) {
            (false, false) => tally.0 += 1,
            (false, true) => {
                tally.0 += 1;
                fixed.push(id.clone());
            }
            (true, true) => tally.1 += 1,
            (true, false) => {
                tally.2 += 1;
                unexpected.push(id.clone());
            }
        }
        if verbose || (failed && !known) {
            let status = match (failed, known) {
                (false, _) => "PASS",
                (true, true) => "KNOWN GAP",
                (true, false) => "FAIL",
            };
            writeln!(report, "\n{status} {id}  ({}:{})", case.file, case.line).unwrap();
            for l in &case.setup {
                writeln!(report, "    + {l}").unwrap();
            }
            for l in &case.actions {
                writeln!(report, "    > {l}").unwrap();
            }
            if verbose {
                for l in &log {
                    writeln!(report, "      {l}").unwrap();
                }
            }
            if let Some(e) = &outcome.error {
                writeln!(report, "  error: {e}").unwrap();
            }
            writeln!(report, "  expected:").unwrap();
            for l in &case.expected {
                writeln!(report, "    {l}").unwrap();
            }
            writeln!(report, "  got:").unwrap();
            for l in &outcome.got {
                writeln!(report, "    {l}").unwrap();
            }
        }
    }
    let stale: Vec<&String> = gaps.keys().filter(|id| !ids.contains(*id)).collect();

    println!("{report}");
    println!("propagation corpus: {:>12} {:>7} {:>11} {:>11}", "family", "passed", "known gaps", "unexpected");
    let mut total = (0, 0, 0);
    for (name, (p, k, u)) in &families {
        println!("                    {name:>12} {p:>7} {k:>11} {u:>11}");
        total = (total.0 + p, total.1 + k, total.2 + u);
    }
    println!("                    {:>12} {:>7} {:>11} {:>11}", "total", total.0, total.1, total.2);
    println!("({} cases in {:.1} s)", ran.len(), started.elapsed().as_secs_f64());
    for id in &fixed {
        println!("remove from known gaps: {id}");
    }
    for id in &stale {
        println!("known gap names no case: {id}");
    }
    for id in &unexpected {
        println!("unexpected failure: {id}");
    }
    assert!(
        unexpected.is_empty() && fixed.is_empty() && stale.is_empty(),
        "{} unexpected failures, {} known gaps now pass, {} known gaps name no case (details above; \
         known gaps are in tests/data/propagation_known_gaps.txt)",
        unexpected.len(),
        fixed.len(),
        stale.len()
    );
}

/// The rendering matches the generator's: every expected line of the corpus splits into
/// arguments that `quote` writes back exactly as the line has them (placeholders aside).
#[test]
fn corpus_lines_render_back_identically() {
    for case in read_corpus() {
        for line in &case.expected {
            let rendered: Vec<String> = split_args(line)
                .into_iter()
                .map(|(a, quoted)| {
                    if !quoted && a.starts_with(b"<") {
                        String::from_utf8(a).expect("placeholder")
                    } else {
                        quote(&a)
                    }
                })
                .collect();
            assert_eq!(&rendered.join(" "), line, "{}:{}", case.file, case.line);
        }
    }
    let now = 1_700_000_000_000i128;
    let any = HashMap::from([(b"SREM".to_vec(), None)]);
    let cmd = |parts: &[&str]| parts.iter().map(|p| p.as_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(normalize(&cmd(&["SET", "k", "v", "PXAT", "1700000050000"]), &any, now), "SET k v PXAT <ABS_MS>");
    assert_eq!(normalize(&cmd(&["x", "1700000050", "1000", "-5"]), &any, now), "x <ABS_S> 1000 -5");
    assert_eq!(normalize(&cmd(&["xadd", "s", "1700000000001-3", "f", "5-0"]), &any, now), "xadd s <ABS_MS>-3 f 5-0");
    assert_eq!(normalize(&cmd(&["srem", "s", "a", "b"]), &any, now), "srem s <ANY> <ANY>");
    assert_eq!(normalize(&cmd(&["append", "k", "", "<x"]), &any, now), r#"append k "" "<x""#);
}
