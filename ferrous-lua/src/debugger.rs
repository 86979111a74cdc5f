//! Redis's Lua debugger (LDB): `SCRIPT DEBUG YES|SYNC`, then an EVAL that runs step by step
//! while the client (`redis-cli --ldb`) sends debugger commands on the same connection.
//!
//! The protocol is Redis 7.0's: the server writes its log lines as one array of status
//! replies each time the script stops or a command produced output (`* Stopped at 1, stop
//! reason = step over`, `-> 1   local a = 1`), reads one command (a RESP array) at a time,
//! and ends with `<endsession>` followed by the EVAL's own reply; then the connection is
//! closed.
//!
//! The session state lives in a thread-local: the hook, `redis.debug`, `redis.breakpoint`
//! and `redis.call`'s logging run on the thread of the script. The connection driver hands
//! the socket over ([`run_session`]); the engine runs the EVAL with [`session_armed`] true,
//! installing [`debug_hook`] instead of the usual instruction hook.
//!
//! `SYNC` sessions run against the real dataset on the connection's thread, blocking like
//! Redis's. Redis forks for `YES` sessions; Ferrous never forks: a `YES` session runs on its
//! own thread against a private copy of the data (a point-in-time snapshot loaded into a
//! scratch [`Database`] with its own Lua engine), which is dropped at the end, so the
//! script's changes are rolled back and the server keeps serving everyone else meanwhile.
use crate::fmt::fmt_g;
use ferrous_core::scripting::{DebugConnection, DebugRequest};
use ferrous_core::{ClientState, ConnectionInfo, Database};
use mlua::{ffi, DebugEvent, Lua, Value, VmState};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Breakpoints a session may hold (`LDB_BREAKPOINTS_MAX`).
const MAX_BREAKPOINTS: usize = 64;
/// Default trimming of logged replies and values (`LDB_MAX_LEN_DEFAULT`).
const DEFAULT_MAXLEN: usize = 256;
/// Nesting of tables printed before giving up (`LUA_MINSTACK / 2`).
const MAX_DEPTH: usize = 10;
/// A client buffering more than this without a complete command ends the script.
const MAX_CBUF: usize = 1 << 20;
/// Registry slot used to move a Lua stack value into mlua.
const VALUE_SLOT: &str = "ferrous.ldb_value";

/// One debugging session.
struct Session {
    stream: TcpStream,
    logs: Vec<Vec<u8>>,
    /// Breakpoint lines. Kept as Redis keeps them (an `int` array whose removal moves
    /// bytes, not ints), so that listings after a removal are the same.
    bp: [i32; MAX_BREAKPOINTS],
    bpcount: usize,
    step: bool,
    luabp: bool,
    src: Vec<Vec<u8>>,
    currentline: i32,
    cbuf: Vec<u8>,
    maxlen: usize,
    maxlen_hint_sent: bool,
    /// The script started running (the session's EVAL reached the engine).
    running: bool,
    /// Since when the script runs without stopping (for the timeout stop).
    since: Instant,
    timeout: Duration,
    /// The Lua state running the script.
    state: *mut ffi::lua_State,
}

thread_local! {
    static LDB: RefCell<Option<Session>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut Session) -> R) -> Option<R> {
    LDB.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.as_mut().map(f)))
}

/// True when this thread holds a session whose EVAL has not started yet: the engine then
/// runs that EVAL under the debugger.
pub(crate) fn session_armed() -> bool {
    LDB.with(|s| s.try_borrow().is_ok_and(|s| s.as_ref().is_some_and(|s| !s.running)))
}

/// True while a session's script runs on this thread (`ldb.active`).
pub(crate) fn active() -> bool {
    LDB.with(|s| s.try_borrow().is_ok_and(|s| s.as_ref().is_some_and(|s| s.running)))
}

/// `redis.call` logs its command and reply (`ldbIsEnabled`: active and stepping).
pub(crate) fn logging() -> bool {
    LDB.with(|s| s.try_borrow().is_ok_and(|s| s.as_ref().is_some_and(|s| s.running && s.step)))
}

/// Marks the armed session as running its script in `state` (the hook needs the state for
/// local variables and the backtrace) with `timeout` as the stop-on-timeout period.
pub(crate) fn start(state: *mut ffi::lua_State, timeout_ms: u64) {
    with(|s| {
        s.running = true;
        s.state = state;
        s.since = Instant::now();
        s.timeout = Duration::from_millis(if timeout_ms == 0 { 5000 } else { timeout_ms });
    });
}

/// The script of the session ended.
pub(crate) fn stop() {
    with(|s| {
        s.running = false;
        s.state = std::ptr::null_mut();
    });
}

fn log(line: impl Into<Vec<u8>>) {
    let line = line.into();
    with(|s| s.logs.push(line));
}

/// `ldbLogWithMaxLen`.
fn log_trimmed(mut line: Vec<u8>) {
    with(|s| {
        let mut trimmed = false;
        if s.maxlen > 0 && line.len() > s.maxlen {
            line.truncate(s.maxlen);
            line.extend_from_slice(b" ...");
            trimmed = true;
        }
        s.logs.push(line);
        if trimmed && !s.maxlen_hint_sent {
            s.maxlen_hint_sent = true;
            s.logs.push(b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.".to_vec());
        }
    });
}

/// Sends the pending log lines as an array of status replies (`ldbSendLogs`).
fn send_logs() {
    with(|s| {
        let mut proto = format!("*{}\r\n", s.logs.len()).into_bytes();
        for line in s.logs.drain(..) {
            proto.push(b'+');
            proto.extend(line.into_iter().map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
            proto.extend_from_slice(b"\r\n");
        }
        // A failed write shows up as a failed read next.
        let _ = s.stream.write_all(&proto);
    });
}

// ---------------------------------------------------------------------------------------
// Source lines and breakpoints

impl Session {
    fn source_line(&self, line: i32) -> &[u8] {
        match usize::try_from(line - 1) {
            Ok(i) if i < self.src.len() => &self.src[i],
            _ => b"<out of range source code line>",
        }
    }

    fn is_breakpoint(&self, line: i32) -> bool {
        self.bp[..self.bpcount].contains(&line)
    }

    /// `ldbLogSourceLine`: `-> 3   code`, `  #3   code`, `->#3   code` or `   3   code`.
    fn source_log(&self, line: i32) -> Vec<u8> {
        let prefix = match (self.currentline == line, self.is_breakpoint(line)) {
            (true, true) => "->#",
            (true, false) => "-> ",
            (false, true) => "  #",
            (false, false) => "   ",
        };
        let mut out = format!("{prefix}{line:<3} ").into_bytes();
        out.extend_from_slice(self.source_line(line));
        out
    }

    fn list(&mut self, around: i32, context: i32) {
        for j in 1..=self.src.len() as i32 {
            if around != 0 && (around - j).abs() > context {
                continue;
            }
            let l = self.source_log(j);
            self.logs.push(l);
        }
    }

    fn add_breakpoint(&mut self, line: i32) -> bool {
        if line <= 0 || line as usize > self.src.len() {
            return false;
        }
        if !self.is_breakpoint(line) && self.bpcount != MAX_BREAKPOINTS {
            self.bp[self.bpcount] = line;
            self.bpcount += 1;
            return true;
        }
        false
    }

    /// Removes a breakpoint the way Redis 7.0 does: the entries after it move by
    /// `bpcount - j` bytes (not ints), which Redis's listings then show.
    fn del_breakpoint(&mut self, line: i32) -> bool {
        let Some(j) = self.bp[..self.bpcount].iter().position(|&b| b == line) else { return false };
        self.bpcount -= 1;
        let mut bytes: Vec<u8> = self.bp.iter().flat_map(|b| b.to_ne_bytes()).collect();
        let n = self.bpcount - j;
        bytes.copy_within((j + 1) * 4..(j + 1) * 4 + n, j * 4);
        for (i, c) in bytes.chunks_exact(4).enumerate() {
            self.bp[i] = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
        }
        true
    }

    fn breakpoints(&mut self, args: &[Vec<u8>]) {
        if args.len() == 1 {
            if self.bpcount == 0 {
                self.logs.push(b"No breakpoints set. Use 'b <line>' to add one.".to_vec());
            } else {
                self.logs.push(format!("{} breakpoints set:", self.bpcount).into_bytes());
                for j in 0..self.bpcount {
                    let l = self.source_log(self.bp[j]);
                    self.logs.push(l);
                }
            }
            return;
        }
        for arg in &args[1..] {
            let Some(line) = string2l(arg) else {
                let mut l = b"Invalid argument:'".to_vec();
                l.extend_from_slice(arg);
                l.push(b'\'');
                self.logs.push(l);
                continue;
            };
            if line == 0 {
                self.bpcount = 0;
                self.logs.push(b"All breakpoints removed.".to_vec());
            } else if line > 0 {
                if self.bpcount == MAX_BREAKPOINTS {
                    self.logs.push(b"Too many breakpoints set.".to_vec());
                } else if self.add_breakpoint(line as i32) {
                    self.list(line as i32, 1);
                } else {
                    self.logs.push(b"Wrong line number.".to_vec());
                }
            } else if self.del_breakpoint(line.unsigned_abs().min(i32::MAX as u64) as i32) {
                self.logs.push(b"Breakpoint removed.".to_vec());
            } else {
                self.logs.push(b"No breakpoint in the specified line.".to_vec());
            }
        }
    }

    fn maxlen(&mut self, args: &[Vec<u8>]) {
        if args.len() == 2 {
            let mut v = atoi(&args[1]);
            self.maxlen_hint_sent = true;
            if v != 0 && v <= 60 {
                v = 60;
            }
            self.maxlen = v as usize;
        }
        let line = if self.maxlen > 0 {
            format!("<value> replies are truncated at {} bytes.", self.maxlen as i32)
        } else {
            "<value> replies are unlimited.".to_string()
        };
        self.logs.push(line.into_bytes());
    }
}

/// C's `atoi` (leading blanks, a sign, digits; 0 when there are none; wraps like an int).
fn atoi(s: &[u8]) -> i32 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-') | Some(b'+')) {
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = (v * 10 + (s[i] - b'0') as i64) % (1 << 40);
        i += 1;
    }
    let v = if neg { -v } else { v };
    v as i32
}

/// Redis's strict `string2l`: an optional `-`, then digits without leading zeros ("0"
/// alone is fine), within a `long`.
fn string2l(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let text = std::str::from_utf8(digits).ok()?;
    let v: i128 = text.parse().ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

// ---------------------------------------------------------------------------------------
// Values as the debugger prints them

/// `sdscatrepr`: a quoted string with C escapes.
pub(crate) fn repr(out: &mut Vec<u8>, s: &[u8]) {
    ferrous_core::util::cat_repr(out, s);
}

fn number(out: &mut Vec<u8>, n: f64) {
    out.extend_from_slice(fmt_g(n, 6).as_bytes());
}

/// `ldbCatStackValue`: a Lua value in the debugger's notation.
fn cat_value(out: &mut Vec<u8>, v: &Value, level: usize) {
    if level == MAX_DEPTH {
        out.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    let level = level + 1;
    match v {
        Value::String(s) => repr(out, &s.as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => number(out, *i as f64),
        Value::Number(n) => number(out, *n),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Table(t) => {
            let mut expected = 1.0;
            let mut is_array = true;
            let (mut array, mut full) = (Vec::new(), Vec::new());
            for pair in t.clone().pairs::<Value, Value>() {
                let Ok((k, val)) = pair else { break };
                let key_number = match k {
                    Value::Integer(i) => Some(i as f64),
                    Value::Number(n) => Some(n),
                    _ => None,
                };
                if is_array && key_number != Some(expected) {
                    is_array = false;
                }
                cat_value(&mut array, &val, level);
                array.extend_from_slice(b"; ");
                full.push(b'[');
                cat_value(&mut full, &k, level);
                full.extend_from_slice(b"]=");
                cat_value(&mut full, &val, level);
                full.extend_from_slice(b"; ");
                expected += 1.0;
            }
            array.truncate(array.len().saturating_sub(2));
            full.truncate(full.len().saturating_sub(2));
            out.push(b'{');
            out.extend_from_slice(if is_array { &array } else { &full });
            out.push(b'}');
        }
        Value::Function(_) | Value::UserData(_) | Value::Thread(_) | Value::LightUserData(_) | Value::Error(_) => {
            let name = match v {
                Value::Function(_) => "function",
                Value::Thread(_) => "thread",
                Value::LightUserData(_) => "light-userdata",
                _ => "userdata",
            };
            out.extend_from_slice(format!("\"{name}@{:p}\"", v.to_pointer()).as_bytes());
        }
        _ => out.extend_from_slice(b"\"<unknown-lua-type>\""),
    }
}

/// `ldbRedisProtocolToHuman`: one reply, from `p`, appended to `out`; returns the rest.
fn reply_to_human<'a>(out: &mut Vec<u8>, p: &'a [u8]) -> &'a [u8] {
    let Some(&kind) = p.first() else { return p };
    let eol = p.windows(2).position(|w| w == b"\r\n").unwrap_or(p.len());
    let head = &p[1..eol.max(1)];
    let rest = p.get(eol + 2..).unwrap_or(&[]);
    let count = || std::str::from_utf8(head).ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    match kind {
        b':' => {
            out.extend_from_slice(head);
            rest
        }
        b'$' => {
            let n = count();
            if n < 0 {
                out.extend_from_slice(b"NULL");
                return rest;
            }
            let n = (n as usize).min(rest.len());
            repr(out, &rest[..n]);
            rest.get(n + 2..).unwrap_or(&[])
        }
        b'+' | b'-' => {
            repr(out, &p[..eol]);
            rest
        }
        b'*' | b'~' => {
            let n = count();
            if kind == b'*' && n < 0 {
                out.extend_from_slice(b"NULL");
                return rest;
            }
            out.extend_from_slice(if kind == b'*' { b"[" } else { b"~(" });
            let mut p = rest;
            for j in 0..n {
                p = reply_to_human(out, p);
                if j != n - 1 {
                    out.push(b',');
                }
            }
            out.push(if kind == b'*' { b']' } else { b')' });
            p
        }
        b'%' => {
            let n = count();
            out.push(b'{');
            let mut p = rest;
            for j in 0..n {
                p = reply_to_human(out, p);
                out.extend_from_slice(b" => ");
                p = reply_to_human(out, p);
                if j != n - 1 {
                    out.push(b',');
                }
            }
            out.push(b'}');
            p
        }
        b'_' => {
            out.extend_from_slice(b"(null)");
            rest
        }
        b'#' => {
            out.extend_from_slice(if head.first() == Some(&b't') { b"#true" } else { b"#false" });
            rest
        }
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(head);
            rest
        }
        _ => {
            out.extend_from_slice(&p[..eol]);
            rest
        }
    }
}

// ---------------------------------------------------------------------------------------
// Logging from the script side

/// `redis.call` is about to run `argv` (`<redis> set k v`, at most 10 arguments shown).
pub(crate) fn log_command(argv: &ferrous_resp::Args<'_>) {
    let mut line = b"<redis>".to_vec();
    let argc = argv.len();
    for (j, a) in argv.iter().enumerate() {
        if j == 10 {
            line.extend_from_slice(format!(" ... ({} more)", argc - j - 1).as_bytes());
            break;
        }
        line.push(b' ');
        line.extend_from_slice(a);
    }
    log(line);
}

/// A `redis.call` failed (`<error> -WRONGTYPE ...`, `<error> Unknown Redis command ...`).
pub(crate) fn log_error(msg: &[u8]) {
    let mut line = b"<error> ".to_vec();
    line.extend_from_slice(msg);
    log(line);
}

/// `redis.call` got `reply` (`<reply> "+OK"`).
pub(crate) fn log_reply(reply: &[u8]) {
    let mut line = b"<reply> ".to_vec();
    reply_to_human(&mut line, reply);
    log_trimmed(line);
}

/// `redis.debug(...)`: `<debug> line 3: "a", 1` (nothing outside a session).
pub(crate) fn debug_call(args: &[Value]) {
    if !active() {
        return;
    }
    let line = with(|s| s.currentline).unwrap_or(0);
    let mut out = format!("<debug> line {line}: ").into_bytes();
    for (i, v) in args.iter().enumerate() {
        cat_value(&mut out, v, 0);
        if i + 1 != args.len() {
            out.extend_from_slice(b", ");
        }
    }
    log(out);
}

/// `redis.breakpoint()`: stops at the next line; true inside a session.
pub(crate) fn breakpoint_call() -> bool {
    with(|s| {
        if s.running {
            s.luabp = true;
        }
        s.running
    })
    .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------
// The hook and the command loop

/// Why the command loop returned without continuing the script normally.
enum ReplEnd {
    /// The client is gone: the script runs to its end without stopping.
    Disconnected,
    /// The script must fail with this error (abort, protocol error).
    Raise(&'static str),
}

/// The line hook of a debugged script (`luaLdbLineHook`), also called every 100,000
/// instructions to stop a script that runs too long without a stop.
pub(crate) fn debug_hook(lua: &Lua, dbg: &mlua::Debug<'_>) -> mlua::Result<VmState> {
    let source = dbg.source();
    if !source.short_src.as_deref().is_some_and(|s| s.contains("user_script")) {
        return Ok(VmState::Continue);
    }
    let line = dbg.current_line().map_or(0, |l| l as i32);
    let count_event = matches!(dbg.event(), DebugEvent::Count);
    let stop = with(|s| {
        s.currentline = line;
        let bp = s.is_breakpoint(line) || s.luabp;
        let mut timeout = false;
        if count_event && !s.step && !bp {
            if s.since.elapsed() < s.timeout {
                return None;
            }
            timeout = true;
            s.step = true;
        }
        if !(s.step || bp) {
            return None;
        }
        let reason = if bp {
            if s.luabp {
                "redis.breakpoint() called"
            } else {
                "break point"
            }
        } else if timeout {
            "timeout reached, infinite loop?"
        } else {
            "step over"
        };
        s.step = false;
        s.luabp = false;
        s.logs.push(format!("* Stopped at {line}, stop reason = {reason}").into_bytes());
        let l = s.source_log(line);
        s.logs.push(l);
        Some(timeout)
    })
    .flatten();
    let Some(timeout) = stop else { return Ok(VmState::Continue) };
    send_logs();
    let end = repl(lua);
    with(|s| s.since = Instant::now());
    match end {
        Ok(()) => Ok(VmState::Continue),
        Err(ReplEnd::Disconnected) if timeout => {
            Err(crate::error::Raise::Str(b"timeout during Lua debugging with client closing connection".to_vec())
                .into())
        }
        Err(ReplEnd::Disconnected) => Ok(VmState::Continue),
        Err(ReplEnd::Raise(msg)) => Err(crate::error::Raise::Str(msg.as_bytes().to_vec()).into()),
    }
}

/// What parsing the client's buffer gave.
enum Parsed {
    Command(Vec<Vec<u8>>),
    More,
    ProtocolError,
}

/// `ldbReplParseCommand`: a forgiving parser of one RESP array of bulk strings.
fn parse_command(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::More;
    }
    let find = |from: usize, pat: &[u8]| buf[from..].windows(pat.len()).position(|w| w == pat).map(|i| i + from);
    let Some(star) = buf.iter().position(|&c| c == b'*') else { return Parsed::ProtocolError };
    let Some(eol) = find(star, b"\r\n") else { return Parsed::More };
    let argc = atoi(&buf[star + 1..eol]);
    if argc <= 0 || argc > 1024 {
        return Parsed::ProtocolError;
    }
    let mut p = eol + 2;
    let mut args = Vec::with_capacity(argc as usize);
    while args.len() < argc as usize {
        if p >= buf.len() {
            return Parsed::More;
        }
        if buf[p] != b'$' {
            return Parsed::ProtocolError;
        }
        let Some(eol) = find(p, b"\r\n") else { return Parsed::More };
        let len = atoi(&buf[p + 1..eol]);
        if len <= 0 || len > 1024 {
            return Parsed::ProtocolError;
        }
        let start = eol + 2;
        let len = len as usize;
        if start + len + 2 > buf.len() {
            return Parsed::More;
        }
        args.push(buf[start..start + len].to_vec());
        p = start + len;
        if &buf[p..p + 2] != b"\r\n" {
            return Parsed::ProtocolError;
        }
        p += 2;
    }
    Parsed::Command(args)
}

/// Reads the next command of the client (`ldbRepl`'s inner loop).
fn read_command() -> Result<Vec<Vec<u8>>, ReplEnd> {
    loop {
        let parsed = with(|s| parse_command(&s.cbuf)).unwrap_or(Parsed::ProtocolError);
        match parsed {
            Parsed::Command(args) => {
                // Like Redis, whatever followed the command in the buffer is dropped.
                with(|s| s.cbuf.clear());
                return Ok(args);
            }
            Parsed::ProtocolError => return Err(ReplEnd::Raise("protocol error")),
            Parsed::More => {}
        }
        let mut buf = [0u8; 1024];
        let stream = with(|s| s.stream.try_clone()).and_then(Result::ok);
        let n = match stream {
            Some(mut stream) => loop {
                match stream.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r.unwrap_or(0),
                }
            },
            None => 0,
        };
        if n == 0 {
            with(|s| {
                s.step = false;
                s.bpcount = 0;
            });
            return Err(ReplEnd::Disconnected);
        }
        let overflow = with(|s| {
            s.cbuf.extend_from_slice(&buf[..n]);
            if s.cbuf.len() > MAX_CBUF {
                s.cbuf = Vec::new();
                true
            } else {
                false
            }
        })
        .unwrap_or(true);
        if overflow {
            return Err(ReplEnd::Raise("max client buffer reached"));
        }
    }
}

const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

/// Serves debugger commands until one resumes the script (`ldbRepl`).
fn repl(lua: &Lua) -> Result<(), ReplEnd> {
    loop {
        let args = read_command()?;
        let name = args[0].to_ascii_lowercase();
        let is = |short: &[u8], long: &[u8]| name == short || name == long;
        if is(b"h", b"help") {
            for l in HELP {
                log(*l);
            }
        } else if is(b"s", b"step") || is(b"n", b"next") {
            with(|s| s.step = true);
            return Ok(());
        } else if is(b"c", b"continue") {
            return Ok(());
        } else if is(b"t", b"trace") {
            trace();
        } else if is(b"m", b"maxlen") {
            with(|s| s.maxlen(&args));
        } else if is(b"b", b"break") {
            with(|s| s.breakpoints(&args));
        } else if is(b"e", b"eval") {
            eval(lua, &args);
        } else if is(b"a", b"abort") {
            return Err(ReplEnd::Raise("script aborted for user request"));
        } else if args.len() > 1 && is(b"r", b"redis") {
            redis(lua, &args);
        } else if is(b"p", b"print") {
            if args.len() == 2 {
                print_var(lua, &args[1]);
            } else {
                print_all(lua);
            }
        } else if is(b"l", b"list") {
            with(|s| {
                let mut around = s.currentline;
                if args.len() > 1 {
                    let n = atoi(&args[1]);
                    if n > 0 {
                        around = n;
                    }
                }
                let ctx = if args.len() > 2 { atoi(&args[2]) } else { 5 };
                s.list(around, ctx);
            });
        } else if is(b"w", b"whole") {
            with(|s| s.list(1, 1_000_000));
        } else {
            log("<error> Unknown Redis Lua debugger command or wrong number of arguments.");
        }
        send_logs();
    }
}

/// The Lua state of the running script (null outside one).
fn state() -> *mut ffi::lua_State {
    with(|s| s.state).unwrap_or(std::ptr::null_mut())
}

/// Pops the value on top of `state`'s stack into an mlua value.
///
/// # Safety
/// `state` is the running script's state with at least one value pushed.
unsafe fn pop_value(lua: &Lua, state: *mut ffi::lua_State) -> Value {
    // SAFETY: see above; `lua_setfield` pops the value.
    unsafe {
        ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, c"ferrous.ldb_value".as_ptr());
    }
    let v = lua.named_registry_value::<Value>(VALUE_SLOT).unwrap_or(Value::Nil);
    let _ = lua.unset_named_registry_value(VALUE_SLOT);
    v
}

/// The source of a stack level's function and whether it is the script's own code.
///
/// # Safety
/// `state` is the running script's state; `ar` was filled by `lua_getstack`.
unsafe fn is_script_frame(state: *mut ffi::lua_State, ar: &mut ffi::lua_Debug) -> bool {
    // SAFETY: see above.
    unsafe {
        ffi::lua_getinfo(state, c"Snl".as_ptr(), ar);
        let src = std::ffi::CStr::from_ptr(ar.short_src.as_ptr());
        src.to_bytes().windows(11).any(|w| w == b"user_script")
    }
}

/// The locals of stack level `level`, as (name, value); `None` past the top of the stack.
fn locals(lua: &Lua, level: i32) -> Option<Vec<(Vec<u8>, Value)>> {
    let state = state();
    if state.is_null() {
        return None;
    }
    let mut vars = Vec::new();
    // SAFETY: the hook runs on the script's thread with its state; every value pushed by
    // `lua_getlocal` is popped by `pop_value`.
    unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        if ffi::lua_getstack(state, level, &mut ar) == 0 {
            return None;
        }
        // Ferrous's own Lua helpers (the sandbox's wrappers) are not the script's frames.
        ffi::lua_getinfo(state, c"S".as_ptr(), &mut ar);
        let own = !ar.source.is_null() && std::ffi::CStr::from_ptr(ar.source).to_bytes() == b"=sandbox";
        if own {
            return Some(vars);
        }
        if ffi::lua_checkstack(state, 2) == 0 {
            return Some(vars);
        }
        let mut i = 1;
        loop {
            let name = ffi::lua_getlocal(state, &ar, i);
            if name.is_null() {
                break;
            }
            let name = std::ffi::CStr::from_ptr(name).to_bytes().to_vec();
            let v = pop_value(lua, state);
            vars.push((name, v));
            i += 1;
        }
    }
    Some(vars)
}

/// `print <var>`: the first local with that name from the current frame outwards, then the
/// globals KEYS and ARGV.
fn print_var(lua: &Lua, name: &[u8]) {
    let mut level = 0;
    while let Some(vars) = locals(lua, level) {
        if let Some((_, v)) = vars.iter().find(|(n, _)| n == name) {
            let mut line = b"<value> ".to_vec();
            cat_value(&mut line, v, 0);
            log_trimmed(line);
            return;
        }
        level += 1;
    }
    if name == b"ARGV" || name == b"KEYS" {
        let v = lua.globals().raw_get::<Value>(String::from_utf8_lossy(name).as_ref()).unwrap_or(Value::Nil);
        let v = match v {
            Value::Nil => lua.globals().get::<Value>(String::from_utf8_lossy(name).as_ref()).unwrap_or(Value::Nil),
            v => v,
        };
        let mut line = b"<value> ".to_vec();
        cat_value(&mut line, &v, 0);
        log_trimmed(line);
    } else {
        log("No such variable.");
    }
}

/// `print`: every local of the current frame.
fn print_all(lua: &Lua) {
    let vars = locals(lua, 0).unwrap_or_default();
    let mut n = 0;
    for (name, v) in vars {
        if name.windows(12).any(|w| w == b"(*temporary)") {
            continue;
        }
        let mut line = b"<value> ".to_vec();
        line.extend_from_slice(&name);
        line.extend_from_slice(b" = ");
        cat_value(&mut line, &v, 0);
        log_trimmed(line);
        n += 1;
    }
    if n == 0 {
        log("No local variables in the current context.");
    }
}

/// `trace`: the script's frames, innermost first.
fn trace() {
    let state = state();
    let mut level = 0;
    if !state.is_null() {
        // SAFETY: the hook runs on the script's thread with its state; nothing is pushed.
        unsafe {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            while ffi::lua_getstack(state, level, &mut ar) != 0 {
                if is_script_frame(state, &mut ar) {
                    let name = if ar.name.is_null() {
                        "top level".to_string()
                    } else {
                        String::from_utf8_lossy(std::ffi::CStr::from_ptr(ar.name).to_bytes()).into_owned()
                    };
                    let line = ar.currentline;
                    log(format!("{} {}:", if level == 0 { "In" } else { "From" }, name));
                    with(|s| {
                        let l = s.source_log(line);
                        s.logs.push(l);
                    });
                }
                level += 1;
            }
        }
    }
    if level == 0 {
        log("<error> Can't retrieve Lua stack.");
    }
}

/// The text of an error a debugger `eval` ended with.
fn error_text(lua: &Lua, e: &mlua::Error) -> Vec<u8> {
    if let Some(r) = crate::error::find_raise(e) {
        return match r {
            crate::error::Raise::Str(s) | crate::error::Raise::Table(s, _) => s.clone(),
            crate::error::Raise::Abort(a) => a.message().into_bytes(),
        };
    }
    let _ = lua;
    let mut text = crate::error::plain_text(e);
    if let Some(at) = text.find("\nstack traceback:") {
        text.truncate(at);
    }
    text.into_bytes()
}

/// `eval <code>`: runs the code (as an expression first) in the scripts' globals.
fn eval(lua: &Lua, args: &[Vec<u8>]) {
    let code = args[1..].join(&b' ');
    let mut expr = b"return ".to_vec();
    expr.extend_from_slice(&code);
    let env = lua.globals();
    let func = match crate::api::compile_text(lua, &expr, b"@ldb_eval", &env) {
        Ok(f) => f,
        Err(_) => match crate::api::compile_text(lua, &code, b"@ldb_eval", &env) {
            Ok(f) => f,
            Err(msg) => {
                log(format!("<error> {msg}"));
                return;
            }
        },
    };
    match func.call::<Value>(()) {
        Ok(v) => {
            let v = crate::error::error_value(lua, v).unwrap_or(Value::Nil);
            let mut line = b"<retval> ".to_vec();
            cat_value(&mut line, &v, 0);
            log_trimmed(line);
        }
        Err(e) => {
            let mut line = b"<error> ".to_vec();
            line.extend_from_slice(&error_text(lua, &e));
            log(line);
        }
    }
}

/// `redis <cmd> [args...]`: runs the command through `redis.call` with logging on.
fn redis(lua: &Lua, args: &[Vec<u8>]) {
    let call = lua.globals().get::<mlua::Table>("redis").and_then(|r| r.get::<mlua::Function>("call")).and_then(|f| {
        let argv =
            args[1..].iter().map(|a| lua.create_string(a).map(Value::String)).collect::<mlua::Result<Vec<_>>>()?;
        Ok((f, mlua::MultiValue::from_iter(argv)))
    });
    let Ok((f, argv)) = call else { return };
    with(|s| s.step = true);
    let _ = f.call::<Value>(argv);
    with(|s| s.step = false);
}

// ---------------------------------------------------------------------------------------
// Sessions

/// Runs a whole session for `client` on `conn` (see the module documentation) and closes
/// the connection. `scratch`: the private copy a `YES` session runs against.
pub(crate) fn run_session(
    db: &Database,
    client: ClientState,
    conn: DebugConnection,
    req: DebugRequest,
    config: crate::EngineConfig,
) {
    // A bug here must not take the connection's thread (an event loop, for SYNC) down.
    let id = client.id();
    let run = std::panic::AssertUnwindSafe(|| session(db, client, conn, req, config));
    if std::panic::catch_unwind(run).is_err() {
        LDB.with(|s| s.borrow_mut().take());
        db.inner().clients.unregister(id);
    }
}

fn session(
    db: &Database,
    mut client: ClientState,
    conn: DebugConnection,
    req: DebugRequest,
    config: crate::EngineConfig,
) {
    let scratch = if req.sync { None } else { Some(scratch_copy(db, config)) };
    let DebugConnection { mut stream, unread } = conn;
    let scratch = match scratch {
        Some(Err(e)) => {
            let _ = stream.write_all(format!("-ERR Can't run EVAL in debugging mode: {e}\r\n").as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Both);
            db.disconnect(&client);
            return;
        }
        Some(Ok(s)) => {
            // Like Redis's parent process after the fork, the server is done with this
            // client: the session owns the connection (CLIENT LIST no longer shows it).
            db.disconnect(&client);
            Some(s)
        }
        None => None,
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut body = req.args.get(1).cloned().unwrap_or_default();
    while matches!(body.last(), Some(b'\n') | Some(b'\r')) {
        body.pop();
    }
    // An empty script has no lines at all (`sdssplitlen` of nothing).
    let src: Vec<Vec<u8>> =
        if body.is_empty() { Vec::new() } else { body.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect() };
    let Ok(writer) = stream.try_clone() else {
        if scratch.is_none() {
            db.disconnect(&client);
        }
        return;
    };
    let session = Session {
        stream,
        logs: Vec::new(),
        bp: [0; MAX_BREAKPOINTS],
        bpcount: 0,
        step: true,
        luabp: false,
        src,
        currentline: 0,
        cbuf: unread,
        maxlen: DEFAULT_MAXLEN,
        maxlen_hint_sent: false,
        running: false,
        since: Instant::now(),
        timeout: Duration::from_secs(5),
        state: std::ptr::null_mut(),
    };
    LDB.with(|s| *s.borrow_mut() = Some(session));
    let server_log = |msg: &str| ferrous_core::persistence::log_error(db.inner(), msg);
    server_log(if scratch.is_some() {
        "Lua debugging session started on a private copy of the data"
    } else {
        "Synchronous Lua debugging eval session started"
    });
    let args: ferrous_resp::ArgsBuf = req.args.iter().collect();
    let mut out = Vec::new();
    match &scratch {
        Some(copy) => {
            let mut c = copy.connect(ConnectionInfo {
                addr: client.info.addr.clone(),
                laddr: String::new(),
                fd: -1,
                waker: None,
            });
            c.db = client.db;
            c.resp = client.resp;
            // The script runs with the caller's permissions.
            let user = client.info.user.lock().clone();
            c.set_user(user);
            copy.dispatch(&mut c, args.as_args(), &mut out);
            copy.disconnect(&c);
        }
        None => {
            client.close_after_reply = false;
            // Straight to the engine: the command table already ran this EVAL's checks and
            // showed it to MONITOR when it asked for the session.
            let name = req.args.first().map(|n| n.to_ascii_lowercase()).unwrap_or_default();
            match (db.script_engine(), ferrous_core::scripting::command_spec(&name)) {
                (Some(engine), Some(spec)) => {
                    let _scope =
                        (!client.acl.unrestricted()).then(|| ferrous_core::acl::ScriptScope::enter(&client, spec));
                    let resp3 = client.resp3();
                    let call = ferrous_core::scripting::ScriptCall {
                        db,
                        client: &mut client,
                        args: args.as_args(),
                        out: &mut out,
                        held: false,
                    };
                    if let Err(e) = engine.command(call) {
                        ferrous_core::commands::Reply::new(&mut out, resp3).error(&e);
                    }
                }
                _ => db.dispatch(&mut client, args.as_args(), &mut out),
            }
            // The command may have asked for a hand-off itself: nothing can take it now.
            let _ = ferrous_core::scripting::take_debug_session();
        }
    }
    server_log(if scratch.is_some() {
        "Lua debugging session ended, its changes discarded"
    } else {
        "Synchronous Lua debugging eval session ended"
    });
    log("<endsession>");
    send_logs();
    LDB.with(|s| s.borrow_mut().take());
    let mut writer = writer;
    let _ = writer.write_all(&out);
    let _ = writer.shutdown(std::net::Shutdown::Both);
    if scratch.is_none() {
        db.disconnect(&client);
    }
    drop(scratch);
}

/// A private copy of `db`'s data (every logical database, as of now) with its own Lua
/// engine: what a forked Redis child would see.
fn scratch_copy(db: &Database, engine: crate::EngineConfig) -> Result<Database, String> {
    let mut config = ferrous_core::Config::default();
    {
        let real = db.inner().config.read();
        for name in ["databases", "busy-reply-threshold", "lua-memory-limit", "proto-max-bulk-len"] {
            if let Some(v) = real.get(name) {
                let _ = config.set(name, &[v], true);
            }
        }
    }
    let copy = Database::builder().config(config).active_expire(false).build();
    let mut rdb = Vec::new();
    // One snapshot runs at a time: wait for a BGSAVE in progress to end.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match db.snapshot_to(&mut rdb) {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline && e.to_string().contains("progress") => {
                rdb.clear();
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    copy.load_from(&rdb[..]).map_err(|e| e.to_string())?;
    crate::install_with(&copy, engine);
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_like_redis() {
        assert!(matches!(parse_command(b""), Parsed::More));
        assert!(matches!(parse_command(b"*1\r\n$1\r\ns"), Parsed::More));
        match parse_command(b"*2\r\n$1\r\np\r\n$1\r\na\r\n") {
            Parsed::Command(a) => assert_eq!(a, vec![b"p".to_vec(), b"a".to_vec()]),
            _ => panic!("not parsed"),
        }
        assert!(matches!(parse_command(b"hello\r\n"), Parsed::ProtocolError));
        assert!(matches!(parse_command(b"*0\r\n"), Parsed::ProtocolError));
        assert!(matches!(parse_command(b"*1\r\n$0\r\n\r\n"), Parsed::ProtocolError));
        assert!(matches!(parse_command(b"*1\r\n:1\r\n"), Parsed::ProtocolError));
    }

    #[test]
    fn numbers_and_strings() {
        assert_eq!(atoi(b"12x"), 12);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(string2l(b"0"), Some(0));
        assert_eq!(string2l(b"-4"), Some(-4));
        assert_eq!(string2l(b"07"), None);
        assert_eq!(string2l(b"-0"), None);
        assert_eq!(string2l(b"x"), None);
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\n\x01");
        assert_eq!(out, b"\"a\\\"b\\n\\x01\"");
    }

    #[test]
    fn replies_in_human_form() {
        let human = |r: &[u8]| {
            let mut out = Vec::new();
            reply_to_human(&mut out, r);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(human(b"+OK\r\n"), "\"+OK\"");
        assert_eq!(human(b"-ERR x\r\n"), "\"-ERR x\"");
        assert_eq!(human(b"$-1\r\n"), "NULL");
        assert_eq!(human(b"*2\r\n:1\r\n$1\r\na\r\n"), "[1,\"a\"]");
        assert_eq!(human(b"%1\r\n+a\r\n#t\r\n"), "{\"+a\" => #true}");
        assert_eq!(human(b"~1\r\n,1.5\r\n"), "~((double) 1.5)");
        assert_eq!(human(b"_\r\n"), "(null)");
    }

    #[test]
    fn breakpoint_removal_moves_bytes_like_redis() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut s = Session {
            stream,
            logs: Vec::new(),
            bp: [0; MAX_BREAKPOINTS],
            bpcount: 0,
            step: true,
            luabp: false,
            src: vec![b"x".to_vec(); 10],
            currentline: 0,
            cbuf: Vec::new(),
            maxlen: DEFAULT_MAXLEN,
            maxlen_hint_sent: false,
            running: false,
            since: Instant::now(),
            timeout: Duration::from_secs(5),
            state: std::ptr::null_mut(),
        };
        for l in [3, 5, 7] {
            assert!(s.add_breakpoint(l));
        }
        assert!(s.del_breakpoint(3));
        assert_eq!(&s.bp[..s.bpcount], &[5, 5]);
    }
}
