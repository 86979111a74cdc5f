//! In-process tests of the list commands (LPUSH ... BLMPOP), of the typed list API, of the
//! blocking behaviour (FIFO service, BLMOVE chains, timeouts), and a model-based test of the
//! quicklist `List` against a `VecDeque` with tiny nodes so that splits and merges happen
//! all the time.
//!
//! The `script_*` tests run `COMMAND args => reply` lines whose replies are what
//! redis-server 7.0.15 answered to the same lines on an empty database (one connection,
//! `@resp3` / `@resp2` switch protocols). Replies are written as `+simple`, `-error`,
//! `:integer`, `"bulk"`, `(nil)` (null bulk), `(nil-array)` (null array), `(null)` (RESP3
//! null) and `[array, ...]`; arguments are split on spaces, `"..."` quotes one. A blocking
//! command that blocks is timed out at once, as the server does when its timeout expires.
use ferrous_core::client::ClientState;
use ferrous_core::list::{List, ListEnd, LposOptions};
use ferrous_core::{Config, ConnectionInfo, Database, Error};
use ferrous_resp::ArgsBuf;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Splits a script line into arguments (words, or `"..."` without escapes).
fn tokenize(line: &str) -> Vec<Vec<u8>> {
    let b = line.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
        } else if b[i] == b'"' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            out.push(b[start..i].to_vec());
            i += 1;
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(b[start..i].to_vec());
        }
    }
    out
}

/// Renders one raw RESP reply in the scripts' notation; returns it and the bytes used.
fn render(raw: &[u8]) -> (String, usize) {
    let nl = raw.windows(2).position(|w| w == b"\r\n").expect("complete reply line");
    let line = String::from_utf8_lossy(&raw[1..nl]).into_owned();
    let mut used = nl + 2;
    let text = match raw[0] {
        b'+' => format!("+{line}"),
        b'-' => format!("-{line}"),
        b':' => format!(":{line}"),
        b'_' => "(null)".to_string(),
        b'$' => {
            let n: i64 = line.parse().expect("bulk length");
            if n < 0 {
                "(nil)".to_string()
            } else {
                let body = &raw[used..used + n as usize];
                used += n as usize + 2;
                let s: String = body.iter().map(|&c| c as char).collect();
                format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            }
        }
        b'*' | b'~' | b'%' => {
            let mut n: i64 = line.parse().expect("aggregate length");
            if n < 0 {
                "(nil-array)".to_string()
            } else {
                if raw[0] == b'%' {
                    n *= 2;
                }
                let mut items = Vec::new();
                for _ in 0..n {
                    let (s, k) = render(&raw[used..]);
                    items.push(s);
                    used += k;
                }
                format!("[{}]", items.join(", "))
            }
        }
        other => panic!("unexpected reply type {:?}", other as char),
    };
    (text, used)
}

/// One client connection to an in-process database.
struct Session {
    db: Database,
    client: ClientState,
}

impl Session {
    /// A client that can block (it has a waker), like a server connection.
    fn new(db: &Database) -> Session {
        let mut client = db.connect(ConnectionInfo::default());
        client.authenticated = true;
        client.blocking.waker = Some(Arc::new(|| {}));
        Session { db: db.clone(), client }
    }

    /// Sends a command; returns the raw reply (empty if the client blocked).
    fn send(&mut self, args: &[&[u8]]) -> Vec<u8> {
        let argv: ArgsBuf = args.iter().collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.client, argv.as_args(), &mut out);
        out
    }

    /// Sends a script line; a command that blocks is timed out at once.
    fn line(&mut self, line: &str) -> String {
        let args = tokenize(line);
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let mut out = self.send(&args);
        if out.is_empty() {
            let w = self.client.blocking.blocked.take().expect("no reply and not blocked");
            out = w.cancel(&self.db.inner().blocking).unwrap_or_else(|| w.timeout_reply().to_vec());
        }
        let (text, used) = render(&out);
        assert_eq!(used, out.len(), "{line}: trailing bytes in reply {:?}", String::from_utf8_lossy(&out));
        text
    }

    /// The reply a blocked client has received so far, rendered.
    fn served(&mut self) -> Option<String> {
        let w = self.client.blocking.blocked.as_ref()?;
        let reply = w.take_reply()?;
        self.client.blocking.blocked = None;
        Some(render(&reply).0)
    }

    fn is_blocked(&self) -> bool {
        self.client.blocking.blocked.is_some()
    }
}

fn run_script(script: &str) {
    run_script_on(&Database::new(), script);
}

fn run_script_on(db: &Database, script: &str) {
    let mut s = Session::new(db);
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line {
            "@resp3" => s.client.resp = 3,
            "@resp2" => s.client.resp = 2,
            _ => {
                let (cmd, want) = line.split_once(" => ").expect("`command => reply`");
                assert_eq!(s.line(cmd), want, "command: {cmd}");
            }
        }
    }
}

#[test]
fn script_push_and_len() {
    run_script(
        r#"
LPUSH l a => :1
LPUSH l b c => :3
RPUSH l d e f => :6
LRANGE l 0 -1 => ["c", "b", "a", "d", "e", "f"]
LLEN l => :6
LLEN nokey => :0
OBJECT ENCODING l => "quicklist"
TYPE l => +list
LPUSHX nokey a => :0
RPUSHX nokey a b => :0
EXISTS nokey => :0
LPUSHX l x y => :8
RPUSHX l z => :9
LRANGE l 0 -1 => ["y", "x", "c", "b", "a", "d", "e", "f", "z"]
SET s v => +OK
LPUSH s a => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH s a => -WRONGTYPE Operation against a key holding the wrong kind of value
LPUSHX s a => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSHX s a => -WRONGTYPE Operation against a key holding the wrong kind of value
LLEN s => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH n 1 -1 0 127 128 -4096 4096 32767 -32768 8388607 -8388609 2147483647 -2147483649 9223372036854775807 -9223372036854775808 01 +1 -0 1.5 " 1" "" => :21
LRANGE n 0 -1 => ["1", "-1", "0", "127", "128", "-4096", "4096", "32767", "-32768", "8388607", "-8388609", "2147483647", "-2147483649", "9223372036854775807", "-9223372036854775808", "01", "+1", "-0", "1.5", " 1", ""]
LLEN n => :21
LPUSH l2 "" => :1
LRANGE l2 0 -1 => [""]
LPUSH => -ERR wrong number of arguments for 'lpush' command
LPUSH l => -ERR wrong number of arguments for 'lpush' command
RPUSHX l => -ERR wrong number of arguments for 'rpushx' command
LLEN => -ERR wrong number of arguments for 'llen' command
LLEN a b => -ERR wrong number of arguments for 'llen' command
"#,
    );
}

#[test]
fn script_pop() {
    run_script(
        r#"
RPUSH l a b c d e => :5
LPOP l => "a"
RPOP l => "e"
LPOP l 0 => []
RPOP l 0 => []
LPOP l 2 => ["b", "c"]
RPOP l 5 => ["d"]
EXISTS l => :0
LPOP l => (nil)
LPOP l 1 => (nil-array)
LPOP l 0 => (nil-array)
RPOP l => (nil)
RPOP l 0 => (nil-array)
RPOP l 3 => (nil-array)
LPOP l -1 => -ERR value is out of range, must be positive
LPOP l abc => -ERR value is out of range, must be positive
LPOP l 1 2 => -ERR wrong number of arguments for 'lpop' command
RPOP l 1 2 => -ERR wrong number of arguments for 'rpop' command
RPUSH l x => :1
LPOP l -1 => -ERR value is out of range, must be positive
LPOP l 9223372036854775807 => ["x"]
EXISTS l => :0
SET s v => +OK
LPOP s => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOP s 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOP s -1 => -ERR value is out of range, must be positive
RPOP s 1 => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH m 1 2 3 100000 -5 => :5
RPOP m 2 => ["-5", "100000"]
LPOP m 2 => ["1", "2"]
LPOP m 2 => ["3"]
@resp3
LPOP l => (null)
LPOP l 1 => (null)
LPOP l 0 => (null)
RPUSH l a => :1
LPOP l 0 => []
LPOP l 3 => ["a"]
RPOP l => (null)
@resp2
RPOP l => (nil)
"#,
    );
}

#[test]
fn script_range_index() {
    run_script(
        r#"
RPUSH l a b c d e f g => :7
LRANGE l 0 -1 => ["a", "b", "c", "d", "e", "f", "g"]
LRANGE l 0 0 => ["a"]
LRANGE l -1 -1 => ["g"]
LRANGE l -100 100 => ["a", "b", "c", "d", "e", "f", "g"]
LRANGE l 2 4 => ["c", "d", "e"]
LRANGE l -3 -2 => ["e", "f"]
LRANGE l 5 2 => []
LRANGE l 7 10 => []
LRANGE l -100 -8 => []
LRANGE l -100 -7 => ["a"]
LRANGE l 3 -100 => []
LRANGE l 0 9223372036854775807 => ["a", "b", "c", "d", "e", "f", "g"]
LRANGE l -9223372036854775808 9223372036854775807 => ["a", "b", "c", "d", "e", "f", "g"]
LRANGE l x 1 => -ERR value is not an integer or out of range
LRANGE l 0 y => -ERR value is not an integer or out of range
LRANGE l 0 1.5 => -ERR value is not an integer or out of range
LRANGE nokey 0 -1 => []
LRANGE nokey x 1 => -ERR value is not an integer or out of range
SET s v => +OK
LRANGE s 0 -1 => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE s x 1 => -ERR value is not an integer or out of range
LINDEX l 0 => "a"
LINDEX l 6 => "g"
LINDEX l 7 => (nil)
LINDEX l -1 => "g"
LINDEX l -7 => "a"
LINDEX l -8 => (nil)
LINDEX l x => -ERR value is not an integer or out of range
LINDEX nokey 0 => (nil)
LINDEX nokey x => (nil)
LINDEX s 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINDEX s x => -WRONGTYPE Operation against a key holding the wrong kind of value
LINDEX l 9223372036854775807 => (nil)
LINDEX l -9223372036854775808 => (nil)
@resp3
LINDEX l 100 => (null)
LINDEX nokey 0 => (null)
LRANGE nokey 0 1 => []
"#,
    );
}

#[test]
fn script_lset() {
    run_script(
        r#"
RPUSH l a b c => :3
LSET l 0 A => +OK
LSET l -1 C => +OK
LSET l 1 12345 => +OK
LRANGE l 0 -1 => ["A", "12345", "C"]
LSET l 3 x => -ERR index out of range
LSET l -4 x => -ERR index out of range
LSET l x y => -ERR value is not an integer or out of range
LSET nokey 0 a => -ERR no such key
LSET nokey x a => -ERR no such key
SET s v => +OK
LSET s 0 a => -WRONGTYPE Operation against a key holding the wrong kind of value
LSET s x a => -WRONGTYPE Operation against a key holding the wrong kind of value
LSET l 9223372036854775807 a => -ERR index out of range
LSET l -9223372036854775808 a => -ERR index out of range
LSET l 1 "" => +OK
LRANGE l 0 -1 => ["A", "", "C"]
"#,
    );
}

#[test]
fn script_linsert() {
    run_script(
        r#"
RPUSH l a b c a => :4
LINSERT l BEFORE a X => :5
LINSERT l after a Y => :6
LINSERT l After c Z => :7
LINSERT l before nothere W => :-1
LRANGE l 0 -1 => ["X", "a", "Y", "b", "c", "Z", "a"]
LINSERT l middle a b => -ERR syntax error
LINSERT nokey before a b => :0
LINSERT nokey middle a b => -ERR syntax error
EXISTS nokey => :0
SET s v => +OK
LINSERT s before a b => -WRONGTYPE Operation against a key holding the wrong kind of value
LINSERT s middle a b => -ERR syntax error
RPUSH n 1 2 3 => :3
LINSERT n before 2 1.5 => :4
LINSERT n after 3 4 => :5
LINSERT n before 01 x => :-1
LRANGE n 0 -1 => ["1", "1.5", "2", "3", "4"]
"#,
    );
}

#[test]
fn script_lrem() {
    run_script(
        r#"
RPUSH l a b a c a b a => :7
LREM l 2 a => :2
LRANGE l 0 -1 => ["b", "c", "a", "b", "a"]
LREM l -1 a => :1
LRANGE l 0 -1 => ["b", "c", "a", "b"]
LREM l 0 b => :2
LRANGE l 0 -1 => ["c", "a"]
LREM l 0 nothere => :0
LREM l 5 a => :1
LRANGE l 0 -1 => ["c"]
LREM l 0 c => :1
EXISTS l => :0
LREM l 0 c => :0
LREM nokey 1 a => :0
LREM nokey x a => -ERR value is not an integer or out of range
LREM l x a => -ERR value is not an integer or out of range
SET s v => +OK
LREM s 0 a => -WRONGTYPE Operation against a key holding the wrong kind of value
LREM s x a => -ERR value is not an integer or out of range
RPUSH n 1 01 1 -1 1 => :5
LREM n 0 1 => :3
LRANGE n 0 -1 => ["01", "-1"]
LREM n -9223372036854775808 01 => :1
LRANGE n 0 -1 => ["-1"]
"#,
    );
}

#[test]
fn script_ltrim() {
    run_script(
        r#"
RPUSH l a b c d e f g => :7
LTRIM l 1 -2 => +OK
LRANGE l 0 -1 => ["b", "c", "d", "e", "f"]
LTRIM l -3 100 => +OK
LRANGE l 0 -1 => ["d", "e", "f"]
LTRIM l 0 0 => +OK
LRANGE l 0 -1 => ["d"]
LTRIM l 1 0 => +OK
EXISTS l => :0
RPUSH l a b c => :3
LTRIM l 5 10 => +OK
EXISTS l => :0
RPUSH l a b c => :3
LTRIM l -100 -3 => +OK
LRANGE l 0 -1 => ["a"]
LTRIM l 0 -100 => +OK
EXISTS l => :0
LTRIM nokey 0 1 => +OK
LTRIM nokey x 1 => -ERR value is not an integer or out of range
LTRIM l x 1 => -ERR value is not an integer or out of range
LTRIM l 0 y => -ERR value is not an integer or out of range
SET s v => +OK
LTRIM s 0 1 => -WRONGTYPE Operation against a key holding the wrong kind of value
LTRIM s x 1 => -ERR value is not an integer or out of range
"#,
    );
}

#[test]
fn script_lpos() {
    run_script(
        r#"
RPUSH l a b c a b c a 1 2 1 => :10
LPOS l a => :0
LPOS l a RANK 2 => :3
LPOS l a RANK -1 => :6
LPOS l a rank -2 => :3
LPOS l a RANK 0 => -ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list
LPOS l a RANK x => -ERR value is not an integer or out of range
LPOS l a RANK -9223372036854775808 => :6
LPOS l a RANK 9223372036854775807 => (nil)
LPOS l a COUNT 0 => [:0, :3, :6]
LPOS l a COUNT 2 => [:0, :3]
LPOS l a COUNT -1 => -ERR COUNT can't be negative
LPOS l a COUNT x => -ERR COUNT can't be negative
LPOS l a MAXLEN -1 => -ERR MAXLEN can't be negative
LPOS l a MAXLEN x => -ERR MAXLEN can't be negative
LPOS l a MAXLEN 0 => :0
LPOS l a MAXLEN 4 => :0
LPOS l a MAXLEN 4 COUNT 0 => [:0, :3]
LPOS l a MAXLEN 4 COUNT 5 RANK -1 => [:6]
LPOS l 1 COUNT 0 => [:7, :9]
LPOS l 01 COUNT 0 => []
LPOS l zz COUNT 0 => []
LPOS l zz => (nil)
LPOS nokey a => (nil)
LPOS nokey a COUNT 0 => []
SET s v => +OK
LPOS s a => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOS s a COUNT 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOS nokey a foo => -ERR syntax error
LPOS nokey a RANK => -ERR syntax error
LPOS nokey a RANK 0 => -ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list
LPOS s a RANK 0 => -ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list
LPOS l a RANK 1 RANK 3 => :6
LPOS l a COUNT 1 COUNT 0 => [:0, :3, :6]
LPOS l a RANK 10 => (nil)
LPOS l a RANK 10 COUNT 0 => []
LPOS l a RANK -9223372036854775808 COUNT 1 => [:6, :3, :0]
LPOS l a RANK -9223372036854775808 COUNT 2 => [:6, :3, :0]
LPOS l a RANK 9223372036854775807 COUNT 1 => []
LPOS l a RANK -9223372036854775807 COUNT 0 => []
LPOS l a RANK 0 foo => -ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list
LPOS l a foo RANK 0 => -ERR syntax error
LPOS l a RANK x COUNT -1 => -ERR value is not an integer or out of range
LPOS l a COUNT -1 RANK x => -ERR COUNT can't be negative
LPOS l a MAXLEN 2 COUNT 0 RANK 2 => []
LPOS l a RANK -2 MAXLEN 5 COUNT 0 => []
LPOS l a RANK -2 MAXLEN 8 COUNT 0 => [:3]
LPOS l a COUNT 9223372036854775807 => [:0, :3, :6]
LPOS l a COUNT 9223372036854775808 => -ERR COUNT can't be negative
@resp3
LPOS l zz => (null)
LPOS nokey a COUNT 1 => []
"#,
    );
}

#[test]
fn script_lmove() {
    run_script(
        r#"
RPUSH a 1 2 3 => :3
RPUSH b x => :1
RPOPLPUSH a b => "3"
LRANGE a 0 -1 => ["1", "2"]
LRANGE b 0 -1 => ["3", "x"]
LMOVE a b LEFT RIGHT => "1"
LMOVE a b left left => "2"
LRANGE b 0 -1 => ["2", "3", "x", "1"]
EXISTS a => :0
LMOVE a b LEFT RIGHT => (nil)
RPOPLPUSH a b => (nil)
LMOVE b b LEFT RIGHT => "2"
LRANGE b 0 -1 => ["3", "x", "1", "2"]
LMOVE b b RIGHT LEFT => "2"
LRANGE b 0 -1 => ["2", "3", "x", "1"]
RPOPLPUSH b c => "1"
LRANGE c 0 -1 => ["1"]
SET s v => +OK
RPOPLPUSH s b => -WRONGTYPE Operation against a key holding the wrong kind of value
RPOPLPUSH b s => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE b 0 -1 => ["2", "3", "x"]
RPOPLPUSH nokey s => (nil)
LMOVE nokey s LEFT RIGHT => (nil)
LMOVE b s LEFT RIGHT => -WRONGTYPE Operation against a key holding the wrong kind of value
LMOVE b c middle RIGHT => -ERR syntax error
LMOVE b c LEFT up => -ERR syntax error
LMOVE nokey c middle RIGHT => -ERR syntax error
RPUSH one z => :1
LMOVE one one LEFT LEFT => "z"
LRANGE one 0 -1 => ["z"]
LMOVE one two LEFT LEFT => "z"
EXISTS one => :0
LRANGE two 0 -1 => ["z"]
@resp3
LMOVE nokey c LEFT LEFT => (null)
RPOPLPUSH nokey c => (null)
"#,
    );
}

#[test]
fn script_lmpop() {
    run_script(
        r#"
RPUSH l a b c d e => :5
RPUSH m 1 2 => :2
SET s x => +OK
LMPOP 0 l LEFT => -ERR numkeys should be greater than 0
LMPOP -1 l LEFT => -ERR numkeys should be greater than 0
LMPOP x l LEFT => -ERR numkeys should be greater than 0
LMPOP 1 l => -ERR wrong number of arguments for 'lmpop' command
LMPOP 2 l LEFT => -ERR syntax error
LMPOP 1 l middle => -ERR syntax error
LMPOP 1 l LEFT COUNT 0 => -ERR count should be greater than 0
LMPOP 1 l LEFT COUNT -1 => -ERR count should be greater than 0
LMPOP 1 l LEFT COUNT x => -ERR count should be greater than 0
LMPOP 1 l LEFT COUNT => -ERR syntax error
LMPOP 1 l LEFT COUNT 1 COUNT 2 => -ERR syntax error
LMPOP 1 l LEFT foo => -ERR syntax error
LMPOP 1 nokey LEFT => (nil-array)
LMPOP 2 nokey l LEFT => ["l", ["a"]]
LMPOP 2 nokey l RIGHT COUNT 2 => ["l", ["e", "d"]]
LMPOP 2 s l RIGHT COUNT 2 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMPOP 2 l s RIGHT COUNT 2 => ["l", ["c", "b"]]
LMPOP 2 nokey m left count 10 => ["m", ["1", "2"]]
EXISTS m => :0
LMPOP 1 l LEFT COUNT 1 => (nil-array)
LMPOP 2 nokey nokey2 LEFT => (nil-array)
LMPOP 9223372036854775807 l LEFT => -ERR syntax error
LMPOP 2147483647 l LEFT => -ERR syntax error
LMPOP 1 l LEFT COUNT 9223372036854775807 => (nil-array)
EXISTS l => :0
@resp3
LMPOP 1 nokey LEFT => (null)
RPUSH l a => :1
LMPOP 1 l RIGHT => ["l", ["a"]]
"#,
    );
}

#[test]
fn script_blocking_args() {
    run_script(
        r#"
RPUSH l a b => :2
SET s x => +OK
BLPOP l x => -ERR timeout is not a float or out of range
BLPOP l -1 => -ERR timeout is negative
BLPOP l -0.5 => -ERR timeout is negative
BLPOP l 0.1 => ["l", "a"]
BLPOP nokey 0.01 => (nil-array)
BLPOP nokey 0.001 => (nil-array)
BLPOP nokey 1e-3 => (nil-array)
BLPOP nokey inf => -ERR timeout is negative
BLPOP nokey -inf => -ERR timeout is negative
BLPOP nokey nan => -ERR timeout is not a float or out of range
BLPOP nokey 1e400 => -ERR timeout is negative
BLPOP nokey 9223372036854775807 => -ERR timeout is negative
BLPOP nokey " 1" => -ERR timeout is not a float or out of range
BLPOP nokey "1 " => -ERR timeout is not a float or out of range
BLPOP nokey "" => -ERR timeout is not a float or out of range
BLPOP nokey 0x0.1p-4 => (nil-array)
BLPOP nokey 0.0001 => (nil-array)
BLPOP s 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLPOP nokey s 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH l c d => :3
BLPOP l s 0 => ["l", "b"]
BRPOP l 0 => ["l", "d"]
EXISTS l => :1
BRPOP nokey 0.01 => (nil-array)
RPUSH l a b => :3
BRPOPLPUSH l s 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE l 0 -1 => ["c", "a", "b"]
BRPOPLPUSH s l 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOPLPUSH s nokey 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOPLPUSH nokey l 0.01 => (nil-array)
BRPOPLPUSH l l2 0 => "b"
BRPOPLPUSH l l2 x => -ERR timeout is not a float or out of range
BLMOVE nokey l LEFT middle 0.01 => -ERR syntax error
BLMOVE nokey l LEFT middle x => -ERR syntax error
BLMOVE nokey l LEFT RIGHT x => -ERR timeout is not a float or out of range
BLMOVE nokey l LEFT RIGHT -1 => -ERR timeout is negative
BLMOVE nokey l LEFT LEFT 0.01 => (nil-array)
BLMOVE l2 l3 RIGHT LEFT 0 => "b"
LRANGE l3 0 -1 => ["b"]
BLMPOP 0.01 1 nokey LEFT => (nil-array)
BLMPOP x 1 nokey LEFT => -ERR timeout is not a float or out of range
BLMPOP 0.01 0 nokey LEFT => -ERR numkeys should be greater than 0
BLMPOP 0.01 1 nokey LEFT COUNT 0 => -ERR count should be greater than 0
BLMPOP 0 2 nokey l3 RIGHT COUNT 5 => ["l3", ["b"]]
BLMPOP -1 0 nokey LEFT => -ERR numkeys should be greater than 0
BLMPOP x 0 nokey LEFT => -ERR numkeys should be greater than 0
BLMPOP 1 0 nokey lefty => -ERR numkeys should be greater than 0
BLMPOP 1 1 nokey lefty => -ERR syntax error
BLMPOP x 1 nokey lefty => -ERR syntax error
BLMPOP x 1 nokey LEFT COUNT 0 => -ERR count should be greater than 0
BLMPOP x 1 nokey LEFT COUNT 1 foo => -ERR syntax error
BLMPOP 0 1 s LEFT => -WRONGTYPE Operation against a key holding the wrong kind of value
BLPOP x => -ERR wrong number of arguments for 'blpop' command
BLMPOP 0 2 nokey => -ERR wrong number of arguments for 'blmpop' command
@resp3
BLPOP nokey 0.01 => (null)
BLMPOP 0.01 1 nokey LEFT => (null)
BLMOVE nokey l LEFT LEFT 0.01 => (null)
"#,
    );
}

/// 400 random list commands over four keys (one of them a string at times), with
/// `list-max-listpack-size 2` on both sides, and what Redis 7.0 answered.
#[test]
fn script_random_commands_small_nodes() {
    let mut config = Config::default();
    config.set("list-max-listpack-size", &["2"], true).unwrap();
    run_script_on(
        &Database::builder().config(config).build(),
        r#"
SET s str => +OK
LPOP c => (nil)
LSET b x y => -ERR no such key
LRANGE a 0 -1 => []
BRPOPLPUSH s a 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPUSH a 1  => :1
BLMPOP 0.01 2 a b mid COUNT 3 => -ERR syntax error
LSET s 3 2 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPUSH b -3 2 z 1 => :4
LTRIM a 1 5 => +OK
RPOP c 2 => (nil-array)
LINSERT a x 01  => -ERR wrong number of arguments for 'linsert' command
RPOP a 2 => (nil-array)
LREM c -2 1 => :0
LPUSHX b 2 => :5
LPUSHX a 100000 => :0
LINSERT s x -3 z => -ERR syntax error
LPOS c xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx COUNT 3 => []
LRANGE a 0 -1 => []
BLMPOP 0.01 2 b b RIGHT COUNT 3 => ["b", ["-3", "2", "z"]]
RPOPLPUSH c b => (nil)
LRANGE c 0 -1 => []
RPUSH b -3 => :3
RPOPLPUSH c a => (nil)
LINDEX c -1 => (nil)
SET s str => +OK
BLPOP s s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LLEN c => :0
LLEN b => :3
BLMOVE c s mid Right 0.01 => -ERR syntax error
LPOS b  => -ERR wrong number of arguments for 'lpos' command
BLPOP a a 0.01 => (nil-array)
LPOP b 5 => ["2", "1", "-3"]
LRANGE s 0 -1 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMPOP 0.01 2 a s Right COUNT 3 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOP c 0.01 => (nil-array)
BLMOVE a a mid left 0.01 => -ERR syntax error
SET s str => +OK
LTRIM a -2 5 => +OK
LRANGE s 0 x => -ERR value is not an integer or out of range
LINSERT b x y 9223372036854775807 => -ERR syntax error
LREM b 1 -3 => :0
LRANGE a 3 -3 => []
BLPOP a a 0.01 => (nil-array)
LPOS b "hello world" COUNT 0 => []
LPUSHX s y => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMOVE b b Right mid 0.01 => -ERR syntax error
LRANGE c 10 -9223372036854775808 => []
BLMPOP 0.01 2 s b mid => -ERR syntax error
LREM s x 9223372036854775807 => -ERR value is not an integer or out of range
LPOS b 1 BAD 0 => -ERR syntax error
RPUSHX a "hello world" => :0
BLMOVE b b LEFT LEFT 0.01 => (nil-array)
SET s str => +OK
RPUSH b x => :1
LTRIM a 10 -1 => +OK
LINSERT s BEFORE  z => -ERR wrong number of arguments for 'linsert' command
BRPOPLPUSH s b 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLPOP s b 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOP s 0 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMOVE s s LEFT LEFT => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH s y 1 1 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINDEX s 2 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMOVE b c Right RIGHT => "x"
RPUSHX a x => :0
SET s str => +OK
BLMOVE a a RIGHT RIGHT 0.01 => (nil-array)
LMOVE s s RIGHT Right => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH b x 100000 2 01 => :4
LREM s x xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx => -ERR value is not an integer or out of range
BLMOVE s b RIGHT left 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINDEX a 3 => (nil)
BLMOVE a c LEFT LEFT 0.01 => (nil-array)
BRPOPLPUSH s b 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH a y "hello world" => :2
LPUSHX s y => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOPLPUSH b a 0.01 => "01"
BLMPOP 0.01 2 a s mid COUNT 3 => -ERR syntax error
LINSERT b x xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx -3 => -ERR syntax error
LSET c 5 z => -ERR index out of range
LRANGE c 0 -1 => ["x"]
LMPOP 3 a a s mid => -ERR syntax error
LPUSHX c z => :2
LPOS b -3 => (nil)
LREM b 2  => -ERR wrong number of arguments for 'lrem' command
LREM a x  => -ERR wrong number of arguments for 'lrem' command
LREM a 1 2 => :0
LPOP b 0 => []
LREM b x -3 => -ERR value is not an integer or out of range
LINDEX c 10 => (nil)
BLPOP c a 0.01 => ["c", "z"]
RPUSHX c x => :2
LPUSH c 9223372036854775807 2 => :4
LRANGE s 10 x => -ERR value is not an integer or out of range
LMOVE a a LEFT RIGHT => "01"
BLMOVE a c mid mid 0.01 => -ERR syntax error
LLEN s => -WRONGTYPE Operation against a key holding the wrong kind of value
LLEN a => :3
LREM c 0 -3 => :0
LINDEX b 4 => (nil)
RPOP s 2 => -WRONGTYPE Operation against a key holding the wrong kind of value
LLEN b => :3
LRANGE b 5 0 => []
LRANGE c 9223372036854775807 5 => []
LRANGE b 0 -1 => ["x", "100000", "2"]
LINSERT b x y 100000 => -ERR syntax error
RPUSH s 1 01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOS a 9223372036854775807 COUNT 1 => []
LINDEX s -3 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINSERT a after -3 9223372036854775807 => :-1
BRPOP s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE c 0 -1 => ["2", "9223372036854775807", "x", "x"]
LPUSH a z "hello world" 2 => :6
RPUSH a -3 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx -3 100000 => :10
BLMPOP 0.01 2 a s mid => -ERR syntax error
LINSERT a x 100000 x => -ERR syntax error
BRPOP b 0.01 => ["b", "2"]
LPOS c "hello world" RANK 3 => (nil)
LTRIM a x -2 => -ERR value is not an integer or out of range
BRPOP c 0.01 => ["c", "x"]
LRANGE s 0 -1 => -WRONGTYPE Operation against a key holding the wrong kind of value
LTRIM s x -2 => -ERR value is not an integer or out of range
BLMOVE b b Right Right 0.01 => "100000"
LRANGE b 0 -1 => ["x", "100000"]
BLMPOP 0.01 2 c s mid => -ERR syntax error
LREM c 1 100000 => :0
BRPOPLPUSH c s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMPOP 0 b mid count 10 => -ERR numkeys should be greater than 0
LRANGE a -2 10 => ["-3", "100000"]
LRANGE c 0 -1 => ["2", "9223372036854775807", "x"]
LPUSHX c 1 => :4
LINDEX b 0 => "x"
RPUSH b "hello world" y 01 100000 => :6
SET s str => +OK
BRPOPLPUSH b s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLPOP s b 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LLEN a => :10
RPOP b => "100000"
BRPOP s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH b 01 => :6
LLEN s => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE c 0 -1 => ["1", "2", "9223372036854775807", "x"]
LMPOP 0 s RIGHT count 10 => -ERR numkeys should be greater than 0
LMPOP 3 b c s RIGHT COUNT 0 => -ERR count should be greater than 0
LMPOP 1 c RIGHT COUNT 0 => -ERR count should be greater than 0
LTRIM c 10 1 => +OK
LLEN b => :6
LSET s x z => -WRONGTYPE Operation against a key holding the wrong kind of value
LINDEX a 5 => "01"
LMOVE c s Right LEFT => (nil)
LINDEX s 5 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOPLPUSH a s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLPOP a c 0.01 => ["a", "2"]
LREM s 2  => -ERR wrong number of arguments for 'lrem' command
BLMOVE b s RIGHT left 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMOVE s a Right left => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE s 0 -1 => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE s 2 3 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMOVE a s mid mid 0.01 => -ERR syntax error
LRANGE a 0 -1 => ["hello world", "z", "y", "hello world", "01", "-3", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "-3", "100000"]
RPUSHX b 01 => :7
LRANGE a -2 5 => []
LTRIM b -10 -3 => +OK
LTRIM s -2 9223372036854775807 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMOVE c a Right LEFT => (nil)
BLMOVE a c RIGHT LEFT 0.01 => "100000"
SET s str => +OK
RPUSH a 1 x => :10
BLMPOP 0.01 2 b b RIGHT COUNT 3 => ["b", ["01", "y", "hello world"]]
LRANGE a 0 -1 => ["hello world", "z", "y", "hello world", "01", "-3", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "-3", "1", "x"]
BRPOPLPUSH b s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINSERT c BEFORE "hello world" "hello world" => :-1
LPOP c => "100000"
BRPOPLPUSH a c 0.01 => "x"
BRPOPLPUSH s s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINDEX a 3 => "hello world"
SET s str => +OK
LSET a x 2 => -ERR value is not an integer or out of range
LRANGE a 0 -1 => ["hello world", "z", "y", "hello world", "01", "-3", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "-3", "1"]
BRPOPLPUSH a c 0.01 => "1"
BLMOVE s c LEFT mid 0.01 => -ERR syntax error
SET s str => +OK
LTRIM a -9223372036854775808 5 => +OK
BLPOP a s 0.01 => ["a", "hello world"]
LPOS b xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx BAD 3 COUNT -1 => -ERR syntax error
BRPOP c 0.01 => ["c", "x"]
BLMPOP 0.01 2 s s Right COUNT 3 => -WRONGTYPE Operation against a key holding the wrong kind of value
LTRIM b -9223372036854775808 1 => +OK
LINSERT s BEFORE 01 "hello world" => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMPOP 0.01 2 s c LEFT COUNT 3 => -WRONGTYPE Operation against a key holding the wrong kind of value
LTRIM b -10 -1 => +OK
LPOS c  MAXLEN 2 => -ERR syntax error
LPUSH b 1 => :3
LMOVE s b Right Right => -WRONGTYPE Operation against a key holding the wrong kind of value
LMPOP 1 a left COUNT 2 => ["a", ["z", "y"]]
RPOPLPUSH b c => "100000"
LRANGE c 0 -1 => ["100000", "1"]
BLPOP c s 0.01 => ["c", "100000"]
BLMOVE c c Right left 0.01 => "1"
LREM c 1 y => :0
LINDEX c 1 => (nil)
BLMOVE b b RIGHT Right 0.01 => "x"
LINSERT c BEFORE 1 2 => :2
LSET c 2 2 => -ERR index out of range
LPUSH b x x  => :4
LREM b x 01 => -ERR value is not an integer or out of range
LPOP c 1 => ["2"]
BLPOP s c 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE a -2 -9223372036854775808 => []
BLPOP a a 0.01 => ["a", "hello world"]
RPOPLPUSH s a => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOPLPUSH a b 0.01 => "-3"
LLEN c => :1
LPUSHX a  => -ERR wrong number of arguments for 'lpushx' command
LMOVE b s Right Right => -WRONGTYPE Operation against a key holding the wrong kind of value
LREM s -1 "hello world" => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMPOP 0.01 2 a a RIGHT => ["a", ["01"]]
LINSERT a BEFORE 1 z => :0
BLMOVE a b LEFT Right 0.01 => (nil-array)
LMPOP 0 c LEFT COUNT 2 => -ERR numkeys should be greater than 0
LREM c x 01 => -ERR value is not an integer or out of range
LPUSHX c 9223372036854775807 => :2
BRPOPLPUSH b s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOP b 0 => []
LLEN a => :0
RPUSH b "hello world" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx "hello world" => :8
LREM s 0 01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LREM s -1  => -ERR wrong number of arguments for 'lrem' command
BLMOVE s s LEFT mid 0.01 => -ERR syntax error
RPUSH s "hello world" 2 x => -WRONGTYPE Operation against a key holding the wrong kind of value
LPUSHX a 9223372036854775807 => :0
LINSERT a BEFORE 01  => -ERR wrong number of arguments for 'linsert' command
SET s str => +OK
LMPOP 3 b s s LEFT count 10 => ["b", ["-3", "x", "x", "1", "x", "hello world", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "hello world"]]
LPOS a z MAXLEN 2 => (nil)
LTRIM s x -10 => -ERR value is not an integer or out of range
LREM s -2 x => -WRONGTYPE Operation against a key holding the wrong kind of value
LMPOP 1 c left COUNT 0 => -ERR count should be greater than 0
RPOP a -1 => -ERR value is out of range, must be positive
BLMOVE s s LEFT RIGHT 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOP c 0.01 => ["c", "1"]
BLMPOP 0.01 2 s s LEFT => -WRONGTYPE Operation against a key holding the wrong kind of value
LINSERT b after 01 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx => :0
BLPOP a a 0.01 => (nil-array)
SET s str => +OK
BLMPOP 0.01 2 b b left => (nil-array)
BLMOVE s a RIGHT LEFT 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMPOP 1 b Right COUNT 0 => -ERR count should be greater than 0
BRPOP c 0.01 => ["c", "9223372036854775807"]
LMOVE s s RIGHT Right => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMOVE b s RIGHT mid 0.01 => -ERR syntax error
BRPOP b 0.01 => (nil-array)
RPUSHX s -3 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOP c 0.01 => (nil-array)
LPUSH c "hello world" "hello world" 9223372036854775807 => :3
BLPOP b s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMOVE s c left mid 0.01 => -ERR syntax error
BLMOVE s s left RIGHT 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LSET s -1 100000 => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH c xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 100000 100000 9223372036854775807 => :7
SET s str => +OK
LLEN s => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH b y 01 y => :3
BRPOP s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPUSH b 9223372036854775807 z y 01 => :7
LINSERT c x xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 100000 => -ERR syntax error
SET s str => +OK
RPUSHX s -3 => -WRONGTYPE Operation against a key holding the wrong kind of value
SET s str => +OK
BLPOP a a 0.01 => (nil-array)
LSET c -1 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx => +OK
RPUSHX a 9223372036854775807 => :0
RPOP b -1 => -ERR value is out of range, must be positive
LREM a 0 -3 => :0
RPUSH c -3 100000 z => :10
LSET s 3 9223372036854775807 => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE b 2 1 => []
BLMPOP 0.01 2 s b Right => -WRONGTYPE Operation against a key holding the wrong kind of value
LSET s 4 2 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMPOP 3 a s c mid COUNT 2 => -ERR syntax error
RPUSHX c "hello world" => :11
LREM s x 2 => -ERR value is not an integer or out of range
LMPOP 3 b s s LEFT COUNT 2 => ["b", ["01", "y"]]
RPOPLPUSH c c => "hello world"
LREM a x 100000 => -ERR value is not an integer or out of range
LINSERT a x 9223372036854775807 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx => -ERR syntax error
RPUSH s 1 "hello world" -3 => -WRONGTYPE Operation against a key holding the wrong kind of value
LSET b 3 2 => +OK
LRANGE b 0 -1 => ["z", "9223372036854775807", "y", "2", "y"]
SET s str => +OK
LPOP c 5 => ["hello world", "9223372036854775807", "hello world", "hello world", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
LMPOP 1 c RIGHT => ["c", ["z"]]
LREM c x 100000 => -ERR value is not an integer or out of range
LRANGE b 2 9223372036854775807 => ["y", "2", "y"]
BLMOVE c c RIGHT left 0.01 => "100000"
BLPOP c c 0.01 => ["c", "100000"]
RPOP a => (nil)
LSET s -9223372036854775808  => -ERR wrong number of arguments for 'lset' command
LPOS s x => -WRONGTYPE Operation against a key holding the wrong kind of value
LINSERT a after -3 9223372036854775807 => :0
LRANGE c 0 -1 => ["100000", "100000", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "-3"]
BRPOPLPUSH s c 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPOP s => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMPOP 0.01 2 c b LEFT COUNT 3 => ["c", ["100000", "100000", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]]
LREM s 0 z => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH a 01 y y => :3
LSET b 5 01 => -ERR index out of range
LPOS a 01 BAD -2 COUNT -1 => -ERR syntax error
BLMPOP 0.01 2 s c LEFT COUNT 3 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINDEX s -10 => -WRONGTYPE Operation against a key holding the wrong kind of value
LSET c 1 9223372036854775807 => -ERR index out of range
LPOS b y MAXLEN 0 BAD 2 => -ERR syntax error
LMPOP 1 b mid => -ERR syntax error
RPUSH c z "hello world" => :3
LINDEX a -9223372036854775808 => (nil)
BLMOVE b b RIGHT left 0.01 => "y"
LLEN a => :3
LINSERT b BEFORE  2 => -ERR wrong number of arguments for 'linsert' command
LRANGE a 4 -9223372036854775808 => []
LPUSH b -3 => :6
LSET c 0 z => +OK
LINSERT a BEFORE xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 100000 => :-1
BRPOP a 0.01 => ["a", "y"]
RPUSHX s -3 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOP a 0.01 => ["a", "y"]
LMPOP 2 a c Right => ["a", ["01"]]
RPUSH s 100000 9223372036854775807 y 01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMPOP 1 a left COUNT 2 => (nil-array)
LPUSHX c "hello world" => :4
SET s str => +OK
BRPOPLPUSH c s 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMPOP 0.01 2 c s mid COUNT 3 => -ERR syntax error
LPOP b 1 => ["-3"]
LMPOP 2 s c Right count 10 => -WRONGTYPE Operation against a key holding the wrong kind of value
LMOVE a c Right left => (nil)
LRANGE c 0 -1 => ["hello world", "z", "z", "hello world"]
LPOS s y => -WRONGTYPE Operation against a key holding the wrong kind of value
LPUSHX a 100000 => :0
RPOP b 2 => ["2", "y"]
RPUSH c 100000 => :5
LPOS c -3 BAD x RANK 2 => -ERR syntax error
LPOP b -1 => -ERR value is out of range, must be positive
BLPOP b a 0.01 => ["b", "y"]
LPOS b 100000 MAXLEN 0 MAXLEN -2 => -ERR MAXLEN can't be negative
BLMOVE a c LEFT RIGHT 0.01 => (nil-array)
LINSERT c after -3 x => :-1
LRANGE b 3 4 => []
RPOPLPUSH a b => (nil)
SET s str => +OK
LPUSH a 100000 100000 => :2
LMPOP 3 b c c left => ["b", ["z"]]
RPUSH b "hello world" x => :3
LRANGE a 0 -1 => ["100000", "100000"]
LINSERT s x 100000 01 => -ERR syntax error
BLMPOP 0.01 2 s s left => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOP a 0.01 => ["a", "100000"]
LPOS s  RANK 2 => -ERR syntax error
LRANGE c 0 -1 => ["hello world", "z", "z", "hello world", "100000"]
RPUSH b "hello world" x x 1 => :7
LREM b 1 2 => :0
LREM c 0 x => :0
BLPOP s b 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LLEN s => -WRONGTYPE Operation against a key holding the wrong kind of value
BLMOVE b c LEFT Right 0.01 => "9223372036854775807"
RPUSH s 01 => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSHX s "hello world" => -WRONGTYPE Operation against a key holding the wrong kind of value
RPOPLPUSH s c => -WRONGTYPE Operation against a key holding the wrong kind of value
RPOP a 0 => []
LRANGE s -9223372036854775808 x => -ERR value is not an integer or out of range
LPOS s y => -WRONGTYPE Operation against a key holding the wrong kind of value
LSET s 3 100000 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOP a 0.01 => ["a", "100000"]
RPOPLPUSH c c => "9223372036854775807"
LSET c 9223372036854775807 z => -ERR index out of range
LPUSHX b -3 => :7
LPOS c 1 COUNT 1 RANK 1 => []
LRANGE b 9223372036854775807 9223372036854775807 => []
SET s str => +OK
LPUSHX s 01 => -WRONGTYPE Operation against a key holding the wrong kind of value
BRPOPLPUSH s c 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
SET s str => +OK
LTRIM b -10 1 => +OK
BLPOP s c 0.01 => -WRONGTYPE Operation against a key holding the wrong kind of value
LINSERT a after  y => -ERR wrong number of arguments for 'linsert' command
LREM s 2 x => -WRONGTYPE Operation against a key holding the wrong kind of value
RPUSH c y 9223372036854775807 y => :9
BLMPOP 0.01 2 s s mid => -ERR syntax error
LMPOP 2 c s mid COUNT 2 => -ERR syntax error
RPUSH s -3 => -WRONGTYPE Operation against a key holding the wrong kind of value
LPUSHX a 1 => :0
LMPOP 0 b left COUNT 0 => -ERR numkeys should be greater than 0
LREM s 2 -3 => -WRONGTYPE Operation against a key holding the wrong kind of value
LRANGE a 0 -1 => []
SET s str => +OK
SET s str => +OK
LTRIM a -3 1 => +OK
BLMOVE s c left mid 0.01 => -ERR syntax error
LLEN c => :9
LPUSHX c 2 => :10
SET s str => +OK
LRANGE a 0 -1 => []
"#,
    );
}

// ---------------------------------------------------------------------------------------
// Typed API
// ---------------------------------------------------------------------------------------

fn v(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn typed_push_pop_len() {
    let db = Database::new();
    assert_eq!(db.rpush("l", ["a", "b"]).unwrap(), 2);
    assert_eq!(db.lpush("l", ["z", "y"]).unwrap(), 4);
    assert_eq!(db.lrange("l", 0, -1).unwrap(), v(&["y", "z", "a", "b"]));
    assert_eq!(db.lpushx("nokey", ["a"]).unwrap(), 0);
    assert_eq!(db.rpushx("nokey", ["a"]).unwrap(), 0);
    assert_eq!(db.rpushx("l", ["c"]).unwrap(), 5);
    assert_eq!(db.lpushx("l", ["x"]).unwrap(), 6);
    assert_eq!(db.llen("l").unwrap(), 6);
    assert_eq!(db.llen("nokey").unwrap(), 0);
    assert_eq!(db.lpop("l").unwrap(), Some(b"x".to_vec()));
    assert_eq!(db.rpop("l").unwrap(), Some(b"c".to_vec()));
    assert_eq!(db.lpop_count("l", 2).unwrap(), Some(v(&["y", "z"])));
    assert_eq!(db.rpop_count("l", 0).unwrap(), Some(vec![]));
    assert_eq!(db.rpop_count("l", 10).unwrap(), Some(v(&["b", "a"])));
    assert_eq!(db.llen("l").unwrap(), 0);
    assert_eq!(db.execute(["EXISTS", "l"]), ferrous_core::RespValue::Integer(0));
    assert_eq!(db.lpop("l").unwrap(), None);
    assert_eq!(db.lpop_count("l", 0).unwrap(), None);
    db.set("s", "v").unwrap();
    assert_eq!(db.lpush("s", ["a"]), Err(Error::WrongType));
    assert_eq!(db.lpop("s"), Err(Error::WrongType));
    assert_eq!(db.llen("s"), Err(Error::WrongType));
    assert_eq!(db.lrange("s", 0, 1), Err(Error::WrongType));
}

#[test]
fn typed_positional() {
    let db = Database::new();
    db.rpush("l", ["a", "b", "c", "b"]).unwrap();
    assert_eq!(db.lindex("l", 1).unwrap(), Some(b"b".to_vec()));
    assert_eq!(db.lindex("l", -1).unwrap(), Some(b"b".to_vec()));
    assert_eq!(db.lindex("l", 4).unwrap(), None);
    assert_eq!(db.lindex("nokey", 0).unwrap(), None);
    db.lset("l", -2, "C").unwrap();
    assert_eq!(db.lset("l", 4, "x"), Err(Error::msg("ERR index out of range")));
    assert_eq!(db.lset("nokey", 0, "x"), Err(Error::NoSuchKey));
    assert_eq!(db.linsert("l", false, "b", "B").unwrap(), 5);
    assert_eq!(db.linsert("l", true, "b", "b2").unwrap(), 6);
    assert_eq!(db.linsert("l", true, "zz", "x").unwrap(), -1);
    assert_eq!(db.linsert("nokey", true, "zz", "x").unwrap(), 0);
    assert_eq!(db.lrange("l", 0, -1).unwrap(), v(&["a", "B", "b", "b2", "C", "b"]));
    assert_eq!(db.lrem("l", -1, "b").unwrap(), 1);
    assert_eq!(db.lrem("l", 0, "nothere").unwrap(), 0);
    assert_eq!(db.lrange("l", 0, -1).unwrap(), v(&["a", "B", "b", "b2", "C"]));
    db.ltrim("l", 1, -2).unwrap();
    assert_eq!(db.lrange("l", 0, -1).unwrap(), v(&["B", "b", "b2"]));
    assert_eq!(db.lrange("l", -2, 10).unwrap(), v(&["b", "b2"]));
    db.rpush("p", ["x", "y", "x", "x"]).unwrap();
    assert_eq!(db.lpos("p", "x", LposOptions::default()).unwrap(), vec![0]);
    assert_eq!(db.lpos("p", "x", LposOptions { rank: -1, ..Default::default() }).unwrap(), vec![3]);
    assert_eq!(db.lpos("p", "x", LposOptions { count: Some(0), ..Default::default() }).unwrap(), vec![0, 2, 3]);
    assert_eq!(db.lpos("p", "x", LposOptions { rank: 2, count: Some(1), maxlen: 0 }).unwrap(), vec![2]);
    assert_eq!(db.lpos("p", "x", LposOptions { rank: 1, count: Some(0), maxlen: 2 }).unwrap(), vec![0]);
    assert!(db.lpos("p", "x", LposOptions { rank: 0, ..Default::default() }).is_err());
    assert_eq!(db.lpos("p", "zz", LposOptions::default()).unwrap(), Vec::<usize>::new());
    db.ltrim("p", 3, 1).unwrap();
    assert_eq!(db.llen("p").unwrap(), 0);
}

#[test]
fn typed_moves() {
    let db = Database::new();
    db.rpush("a", ["1", "2", "3"]).unwrap();
    assert_eq!(db.rpoplpush("a", "b").unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.lmove("a", "b", ListEnd::Left, ListEnd::Right).unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.lrange("b", 0, -1).unwrap(), v(&["3", "1"]));
    assert_eq!(db.lmove("b", "b", ListEnd::Left, ListEnd::Right).unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.lrange("b", 0, -1).unwrap(), v(&["1", "3"]));
    assert_eq!(db.lmove("nokey", "b", ListEnd::Left, ListEnd::Right).unwrap(), None);
    db.set("s", "x").unwrap();
    assert_eq!(db.lmove("b", "s", ListEnd::Left, ListEnd::Right), Err(Error::WrongType));
    assert_eq!(db.llen("b").unwrap(), 2, "nothing popped when the destination has the wrong type");
    assert_eq!(db.lmpop(&["nokey", "b", "a"], ListEnd::Right, 5).unwrap(), Some((b"b".to_vec(), v(&["3", "1"]))));
    assert_eq!(db.lmpop(&["nokey", "b", "a"], ListEnd::Left, 1).unwrap(), Some((b"a".to_vec(), v(&["2"]))));
    assert_eq!(db.lmpop(&["nokey", "b", "a"], ListEnd::Left, 1).unwrap(), None);
    assert_eq!(db.lmpop(&["s"], ListEnd::Left, 1), Err(Error::WrongType));
}

#[test]
fn typed_blocking_immediate_and_timeout() {
    let db = Database::new();
    db.rpush("l", ["a", "b"]).unwrap();
    assert_eq!(db.blpop(&["nokey", "l"], Duration::from_millis(10)).unwrap(), Some((b"l".to_vec(), b"a".to_vec())));
    assert_eq!(db.brpop(&["l"], Duration::ZERO).unwrap(), Some((b"l".to_vec(), b"b".to_vec())));
    let start = Instant::now();
    assert_eq!(db.blpop(&["l"], Duration::from_millis(60)).unwrap(), None);
    assert!(start.elapsed() >= Duration::from_millis(60), "waited {:?}", start.elapsed());
    assert_eq!(db.blmove("l", "m", ListEnd::Left, ListEnd::Left, Duration::from_millis(5)).unwrap(), None);
    assert_eq!(db.brpoplpush("l", "m", Duration::from_millis(5)).unwrap(), None);
    assert_eq!(db.blmpop(&["l"], ListEnd::Left, 2, Duration::from_millis(5)).unwrap(), None);
    db.set("s", "x").unwrap();
    assert_eq!(db.blpop(&["s"], Duration::ZERO), Err(Error::WrongType));
    assert_eq!(db.inner().blocking.blocked_clients(), 0, "timed-out waiters are unregistered");
}

#[test]
fn typed_blocking_served_by_another_thread() {
    let db = Database::new();
    let pusher = db.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        pusher.rpush("q", ["job1", "job2", "job3"]).unwrap();
    });
    // Timeout 0: wait for ever.
    assert_eq!(db.blpop(&["other", "q"], Duration::ZERO).unwrap(), Some((b"q".to_vec(), b"job1".to_vec())));
    t.join().unwrap();
    assert_eq!(
        db.blmpop(&["q"], ListEnd::Right, 5, Duration::from_secs(5)).unwrap(),
        Some((b"q".to_vec(), v(&["job3", "job2"])))
    );
    let pusher = db.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        pusher.lpush("src", ["x"]).unwrap();
    });
    assert_eq!(
        db.blmove("src", "dst", ListEnd::Right, ListEnd::Left, Duration::from_secs(5)).unwrap(),
        Some(b"x".to_vec())
    );
    t.join().unwrap();
    assert_eq!(db.lrange("dst", 0, -1).unwrap(), v(&["x"]));
}

// ---------------------------------------------------------------------------------------
// Blocking through the command path
// ---------------------------------------------------------------------------------------

#[test]
fn blocked_clients_are_served_in_fifo_order() {
    let db = Database::new();
    let mut waiters: Vec<Session> = (0..3).map(|_| Session::new(&db)).collect();
    for w in waiters.iter_mut() {
        assert!(w.send(&[b"BLPOP", b"k", b"0"]).is_empty());
        assert!(w.is_blocked());
    }
    assert_eq!(db.inner().blocking.blocked_clients(), 3);
    let mut pusher = Session::new(&db);
    assert_eq!(pusher.line("RPUSH k a b"), ":2");
    assert_eq!(waiters[0].served().as_deref(), Some(r#"["k", "a"]"#));
    assert_eq!(waiters[1].served().as_deref(), Some(r#"["k", "b"]"#));
    assert_eq!(waiters[2].served(), None);
    assert!(waiters[2].is_blocked());
    assert_eq!(pusher.line("EXISTS k"), ":0", "served elements are gone");
    assert_eq!(pusher.line("LPUSH k c"), ":1");
    assert_eq!(waiters[2].served().as_deref(), Some(r#"["k", "c"]"#));
    assert_eq!(db.inner().blocking.blocked_clients(), 0);
}

#[test]
fn blpop_serves_from_the_key_that_got_data() {
    let db = Database::new();
    let mut w = Session::new(&db);
    assert!(w.send(&[b"BRPOP", b"a", b"b", b"0"]).is_empty());
    let mut p = Session::new(&db);
    p.line("RPUSH b x y");
    assert_eq!(w.served().as_deref(), Some(r#"["b", "y"]"#));
    // A key of another type among the keys does not stop the waiter from being served.
    p.line("SET a str");
    assert!(w.send(&[b"BLPOP", b"nokey", b"a2", b"0"]).is_empty());
    p.line("SET nokey str");
    p.line("RPUSH a2 z");
    assert_eq!(w.served().as_deref(), Some(r#"["a2", "z"]"#));
}

#[test]
fn blmove_chain_serves_the_next_waiter() {
    let db = Database::new();
    let mut mover = Session::new(&db);
    let mut popper = Session::new(&db);
    assert!(mover.send(&[b"BLMOVE", b"A", b"B", b"LEFT", b"RIGHT", b"0"]).is_empty());
    assert!(popper.send(&[b"BLPOP", b"B", b"0"]).is_empty());
    let mut p = Session::new(&db);
    assert_eq!(p.line("RPUSH A x"), ":1");
    assert_eq!(mover.served().as_deref(), Some(r#""x""#));
    assert_eq!(popper.served().as_deref(), Some(r#"["B", "x"]"#));
    assert_eq!(p.line("EXISTS A B"), ":0");
}

#[test]
fn lmove_into_a_list_serves_its_waiter() {
    let db = Database::new();
    let mut w = Session::new(&db);
    assert!(w.send(&[b"BLMPOP", b"0", b"1", b"B", b"RIGHT", b"COUNT", b"3"]).is_empty());
    let mut p = Session::new(&db);
    p.line("RPUSH A 1 2 3");
    assert_eq!(p.line("LMOVE A B LEFT RIGHT"), r#""1""#);
    assert_eq!(w.served().as_deref(), Some(r#"["B", ["1"]]"#));
    assert!(w.send(&[b"BRPOPLPUSH", b"C", b"D", b"0"]).is_empty());
    assert_eq!(p.line("RPOPLPUSH A C"), r#""3""#);
    assert_eq!(w.served().as_deref(), Some(r#""3""#));
    assert_eq!(p.line("LRANGE D 0 -1"), r#"["3"]"#);
    assert_eq!(p.line("EXISTS C"), ":0");
}

#[test]
fn blmove_with_wrong_type_destination_gets_the_error() {
    let db = Database::new();
    let mut w = Session::new(&db);
    assert!(w.send(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"LEFT", b"0"]).is_empty());
    let mut p = Session::new(&db);
    p.line("SET dst str");
    p.line("RPUSH src x");
    assert_eq!(w.served().as_deref(), Some("-WRONGTYPE Operation against a key holding the wrong kind of value"));
    assert_eq!(p.line("LRANGE src 0 -1"), r#"["x"]"#, "nothing was popped");
}

#[test]
fn blocking_timeouts_and_deadlines() {
    let db = Database::new();
    let mut w = Session::new(&db);
    assert!(w.send(&[b"BLPOP", b"k", b"0"]).is_empty());
    assert_eq!(w.client.blocking.blocked.as_ref().unwrap().deadline, None, "timeout 0 waits for ever");
    let waiter = w.client.blocking.blocked.take().unwrap();
    assert_eq!(waiter.cancel(&db.inner().blocking), None);
    let before = db.inner().clock.now_ms();
    assert!(w.send(&[b"BLPOP", b"k", b"0.25"]).is_empty());
    let deadline = w.client.blocking.blocked.as_ref().unwrap().deadline.expect("a deadline");
    assert!((before + 250..=db.inner().clock.now_ms() + 250).contains(&deadline), "deadline {deadline}");
    // On timeout the server sends the timeout reply: a null array, also for BLMOVE.
    let waiter = w.client.blocking.blocked.take().unwrap();
    assert_eq!(waiter.cancel(&db.inner().blocking), None);
    assert_eq!(waiter.timeout_reply(), b"*-1\r\n");
    assert!(w.send(&[b"BLMOVE", b"k", b"d", b"LEFT", b"LEFT", b"1"]).is_empty());
    let waiter = w.client.blocking.blocked.take().unwrap();
    assert_eq!(waiter.timeout_reply(), b"*-1\r\n");
    waiter.cancel(&db.inner().blocking);
    // A client that cannot block (MULTI, scripts, one-shot `execute`) gets the timeout reply
    // at once: null array for the pops, null bulk for the moves.
    assert_eq!(db.execute(["BLPOP", "k", "0"]), ferrous_core::RespValue::NullArray);
    assert_eq!(db.execute(["BLMPOP", "0", "1", "k", "LEFT"]), ferrous_core::RespValue::NullArray);
    assert_eq!(db.execute(["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]), ferrous_core::RespValue::Null);
    assert_eq!(db.execute(["BRPOPLPUSH", "k", "d", "0"]), ferrous_core::RespValue::Null);
    assert_eq!(db.inner().blocking.blocked_clients(), 0);
}

#[test]
fn waiters_are_per_database() {
    let db = Database::new();
    let mut w = Session::new(&db);
    assert!(w.send(&[b"BLPOP", b"k", b"0"]).is_empty());
    let db1 = db.select(1).unwrap();
    db1.rpush("k", ["other-db"]).unwrap();
    assert_eq!(w.served(), None);
    db.rpush("k", ["mine"]).unwrap();
    assert_eq!(w.served().as_deref(), Some(r#"["k", "mine"]"#));
    assert_eq!(db1.llen("k").unwrap(), 1);
}

#[test]
fn resp3_blocking_timeout_reply() {
    let db = Database::new();
    let mut w = Session::new(&db);
    w.client.resp = 3;
    assert!(w.send(&[b"BLMPOP", b"0.5", b"1", b"k", b"LEFT"]).is_empty());
    let waiter = w.client.blocking.blocked.take().unwrap();
    assert_eq!(waiter.timeout_reply(), b"_\r\n");
    waiter.cancel(&db.inner().blocking);
}

// ---------------------------------------------------------------------------------------
// Keyspace notifications
// ---------------------------------------------------------------------------------------

fn events_db() -> Database {
    let mut config = Config::default();
    config.set("notify-keyspace-events", &["KEgln"], true).unwrap();
    let db = Database::builder().config(config).active_expire(false).build();
    db.inner().apply_config_mirrors();
    db
}

fn drain_events(sub: &mut ferrous_core::pubsub::Subscription) -> String {
    let mut got = Vec::new();
    while let Some(m) = sub.try_recv() {
        let event = String::from_utf8_lossy(&m.channel["__keyevent@0__:".len()..]).into_owned();
        got.push(format!("{event} {}", String::from_utf8_lossy(&m.payload)));
    }
    got.join(", ")
}

/// `command => reply | events` lines: the events (`event key`, in order) are what Redis
/// 7.0 published on `__keyevent@0__:*` with `notify-keyspace-events KEgln`.
#[test]
fn keyspace_events() {
    let db = events_db();
    let mut sub = db.psubscribe(&["__keyevent@0__:*"]);
    let mut s = Session::new(&db);
    let script = r#"
LPUSH l a b => :2 | new l, lpush l
RPUSH l c => :3 | rpush l
LPUSHX l d => :4 | lpush l
RPUSHX l e => :5 | rpush l
LPUSHX nokey a => :0 |
LPOP l => "d" | lpop l
RPOP l 2 => ["e", "c"] | rpop l
LPOP l 0 => [] |
LPOP nokey => (nil) |
LSET l 0 x => +OK | lset l
LSET l 9 x => -ERR index out of range |
LINSERT l BEFORE x y => :3 | linsert l
LINSERT l BEFORE zz y => :-1 |
LREM l 0 zz => :0 |
LREM l 1 y => :1 | lrem l
LTRIM l 0 -1 => +OK | ltrim l
LTRIM nokey 0 1 => +OK |
RPUSH m 1 2 3 => :3 | new m, rpush m
LTRIM m 5 6 => +OK | ltrim m, del m
RPUSH m 1 2 3 => :3 | new m, rpush m
LREM m 0 2 => :1 | lrem m
RPOPLPUSH m n => "3" | new n, lpush n, rpop m
LMOVE m n LEFT RIGHT => "1" | rpush n, lpop m, del m
LMOVE n n LEFT RIGHT => "3" | rpush n, lpop n
RPUSH one x => :1 | new one, rpush one
LMOVE one one LEFT LEFT => "x" | lpush one, lpop one
LMOVE one two RIGHT LEFT => "x" | new two, lpush two, rpop one, del one
LMPOP 2 nokey two LEFT COUNT 5 => ["two", ["x"]] | lpop two, del two
BLPOP l 0 => ["l", "x"] | lpop l
BRPOP n 0 => ["n", "3"] | rpop n
BLMPOP 0 1 n LEFT COUNT 3 => ["n", ["1"]] | lpop n, del n
RPUSH s 1 => :1 | new s, rpush s
BLMOVE s t LEFT RIGHT 0 => "1" | new t, rpush t, lpop s, del s
BRPOPLPUSH t s 0 => "1" | new s, lpush s, rpop t, del t
LRANGE s 0 -1 => ["1"] |
LLEN s => :1 |
LINDEX s 0 => "1" |
LPOS s 1 => :0 |
"#;
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (cmd, rest) = line.split_once(" => ").expect("`command => reply | events`");
        let (reply, events) = rest.split_once(" |").expect("` |` before the events");
        assert_eq!(s.line(cmd), reply.trim(), "{cmd}");
        assert_eq!(drain_events(&mut sub), events.trim(), "{cmd}");
    }
}

/// Serving blocked clients publishes their events after the push's, in Redis's order.
#[test]
fn keyspace_events_of_served_waiters() {
    let db = events_db();
    let mut sub = db.psubscribe(&["__keyevent@0__:*"]);
    let mut mover = Session::new(&db);
    let mut popper = Session::new(&db);
    assert!(mover.send(&[b"BLMOVE", b"A", b"B", b"LEFT", b"RIGHT", b"0"]).is_empty());
    assert!(popper.send(&[b"BLPOP", b"B", b"0"]).is_empty());
    let mut p = Session::new(&db);
    assert_eq!(p.line("RPUSH A x y"), ":2");
    assert_eq!(drain_events(&mut sub), "new A, rpush A, new B, rpush B, lpop A, lpop B, del B");
    assert_eq!(mover.served().as_deref(), Some(r#""x""#));
    assert_eq!(popper.served().as_deref(), Some(r#"["B", "x"]"#));
}

// ---------------------------------------------------------------------------------------
// Encoding and configuration
// ---------------------------------------------------------------------------------------

#[test]
fn node_size_follows_list_max_listpack_size() {
    let mut config = Config::default();
    config.set("list-max-listpack-size", &["3"], true).unwrap();
    let db = Database::builder().config(config).build();
    db.rpush("l", (0..10).map(|i| i.to_string())).unwrap();
    let nodes = |db: &Database, key: &str| {
        ferrous_core::list::read(&db.access(), key.as_bytes(), |l| l.map(|l| (l.node_count(), l.fill()))).unwrap()
    };
    assert_eq!(nodes(&db, "l"), Some((4, 3)));
    // The fill is read when a list is created: CONFIG SET affects new lists only.
    assert_eq!(db.execute(["CONFIG", "SET", "list-max-listpack-size", "-1"]), ferrous_core::RespValue::ok());
    db.rpush("l", ["x"]).unwrap();
    assert_eq!(nodes(&db, "l"), Some((4, 3)));
    db.rpush("m", (0..2000).map(|i| format!("element-{i}"))).unwrap();
    let (n, fill) = nodes(&db, "m").unwrap();
    assert_eq!(fill, -1);
    // 2000 entries of ~13 bytes in nodes of at most 4 KB.
    assert!((6..=8).contains(&n), "{n} nodes");
    assert_eq!(db.execute(["OBJECT", "ENCODING", "m"]), ferrous_core::RespValue::bulk("quicklist"));
}

#[test]
fn big_elements_and_long_lists() {
    let db = Database::new();
    let big = vec![b'x'; 100_000];
    db.rpush("l", [&b"small"[..], &big, b"12345", &big[..9000]]).unwrap();
    assert_eq!(db.lindex("l", 1).unwrap(), Some(big.clone()));
    assert_eq!(db.lindex("l", -1).unwrap().map(|v| v.len()), Some(9000));
    db.lset("l", 0, &big[..50_000]).unwrap();
    assert_eq!(db.lrange("l", 0, 0).unwrap()[0].len(), 50_000);
    for i in 0..100_000 {
        db.rpush("long", [i.to_string()]).unwrap();
    }
    assert_eq!(db.lindex("long", 54_321).unwrap(), Some(b"54321".to_vec()));
    assert_eq!(db.lindex("long", -1).unwrap(), Some(b"99999".to_vec()));
    db.lset("long", 70_000, "seventy").unwrap();
    assert_eq!(db.lrange("long", 69_999, 70_001).unwrap(), v(&["69999", "seventy", "70001"]));
    assert_eq!(db.lpos("long", "seventy", LposOptions::default()).unwrap(), vec![70_000]);
    db.ltrim("long", 1000, -1000).unwrap();
    assert_eq!(db.llen("long").unwrap(), 98_001);
    assert_eq!(db.lindex("long", 0).unwrap(), Some(b"1000".to_vec()));
    assert_eq!(db.lrem("long", 0, "5000").unwrap(), 1);
    assert_eq!(db.lindex("long", 4000).unwrap(), Some(b"5001".to_vec()));
    ferrous_core::list::read(&db.access(), b"long", |l| l.unwrap().check_invariants()).unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------
// Model-based test
// ---------------------------------------------------------------------------------------

fn random_value(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => rng.gen_range(-10i64..10).to_string().into_bytes(),
        1 => rng.gen::<i64>().to_string().into_bytes(),
        2 => rng.gen_range(-40_000i64..40_000).to_string().into_bytes(),
        3 => vec![b'L'; rng.gen_range(60..300)],
        4 if rng.gen_range(0..20) == 0 => vec![b'H'; rng.gen_range(4000..20_000)],
        5 => format!("0{}", rng.gen_range(0..10)).into_bytes(),
        _ => format!("v{}", rng.gen_range(0..12)).into_bytes(),
    }
}

fn model_index(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn model_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop };
    (start <= stop && start < len).then(|| (start as usize, stop.min(len - 1) as usize))
}

fn model_lpos(m: &VecDeque<Vec<u8>>, v: &[u8], rank: i64, count: Option<usize>, maxlen: usize) -> Vec<usize> {
    let order: Vec<usize> = if rank < 0 { (0..m.len()).rev().collect() } else { (0..m.len()).collect() };
    let limit = if maxlen == 0 { order.len() } else { maxlen.min(order.len()) };
    let hits = order[..limit].iter().copied().filter(|&i| m[i] == v).skip(rank.unsigned_abs() as usize - 1);
    match count {
        None => hits.take(1).collect(),
        Some(0) => hits.collect(),
        Some(c) => hits.take(c).collect(),
    }
}

fn model_run(seed: u64, fill: i64, ops: usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut l = List::with_fill(fill);
    let mut m: VecDeque<Vec<u8>> = VecDeque::new();
    let collect = |l: &List| l.iter().map(|e| e.to_vec()).collect::<Vec<_>>();
    for step in 0..ops {
        let op = rng.gen_range(0..16);
        let len = m.len() as i64;
        let ctx = format!("seed {seed} fill {fill} step {step} op {op}");
        match op {
            0 | 1 => {
                let x = random_value(&mut rng);
                l.push_back(&x);
                m.push_back(x);
            }
            2 | 3 => {
                let x = random_value(&mut rng);
                l.push_front(&x);
                m.push_front(x);
            }
            4 => assert_eq!(l.pop(ListEnd::Left), m.pop_front(), "{ctx}"),
            5 => assert_eq!(l.pop(ListEnd::Right), m.pop_back(), "{ctx}"),
            6 => {
                let n = rng.gen_range(0..8);
                let end = if rng.gen() { ListEnd::Left } else { ListEnd::Right };
                let mut got = Vec::new();
                l.pop_many(end, n, |e| got.push(e.to_vec()));
                let want: Vec<Vec<u8>> = (0..n.min(m.len()))
                    .map(|_| if end == ListEnd::Left { m.pop_front() } else { m.pop_back() }.unwrap_or_default())
                    .collect();
                assert_eq!(got, want, "{ctx}");
            }
            7 => {
                let i = rng.gen_range(-len - 2..len + 2);
                let want = model_index(m.len(), i).map(|i| m[i].clone());
                assert_eq!(l.get(i).map(|e| e.to_vec()), want, "{ctx}");
            }
            8 => {
                let i = rng.gen_range(-len - 2..len + 2);
                let x = random_value(&mut rng);
                let ok = model_index(m.len(), i).map(|i| m[i] = x.clone()).is_some();
                assert_eq!(l.set(i, &x), ok, "{ctx}");
            }
            9 => {
                let i = rng.gen_range(0..=m.len());
                let x = random_value(&mut rng);
                l.insert_at(i, &x);
                m.insert(i, x);
            }
            10 => {
                let pivot = random_value(&mut rng);
                let x = random_value(&mut rng);
                let after = rng.gen();
                let pos = m.iter().position(|e| *e == pivot);
                if let Some(p) = pos {
                    m.insert(p + after as usize, x.clone());
                }
                assert_eq!(l.insert(&pivot, &x, after), pos.is_some(), "{ctx}");
            }
            11 => {
                let x = random_value(&mut rng);
                let count = rng.gen_range(-3i64..4);
                let mut idx: Vec<usize> = (0..m.len()).filter(|&i| m[i] == x).collect();
                if count > 0 {
                    idx.truncate(count as usize);
                } else if count < 0 {
                    idx = idx.split_off(idx.len().saturating_sub(count.unsigned_abs() as usize));
                }
                for &i in idx.iter().rev() {
                    m.remove(i);
                }
                assert_eq!(l.remove(&x, count), idx.len(), "{ctx}");
            }
            12 if rng.gen_range(0..4) == 0 => {
                let a = rng.gen_range(-len - 2..len + 2);
                let b = rng.gen_range(-len - 2..len + 2);
                match model_range(m.len(), a, b) {
                    Some((s, e)) => {
                        m.truncate(e + 1);
                        m.drain(..s);
                    }
                    None => m.clear(),
                }
                l.trim(a, b);
            }
            13 => {
                let a = rng.gen_range(-len - 2..len + 2);
                let b = rng.gen_range(-len - 2..len + 2);
                let want: Vec<Vec<u8>> =
                    model_range(m.len(), a, b).map_or(vec![], |(s, e)| m.range(s..=e).cloned().collect());
                let it = l.range(a, b);
                assert_eq!(it.len(), want.len(), "{ctx}");
                assert_eq!(it.clone().map(|e| e.to_vec()).collect::<Vec<_>>(), want, "{ctx}");
                let mut rev: Vec<Vec<u8>> = it.rev().map(|e| e.to_vec()).collect();
                rev.reverse();
                assert_eq!(rev, want, "{ctx} (reversed)");
            }
            14 => {
                let x = random_value(&mut rng);
                let rank = [1, 2, 3, -1, -2, -3][rng.gen_range(0..6)];
                let count = [None, Some(0), Some(1), Some(2)][rng.gen_range(0..4)];
                let maxlen = [0, 1, 5, 20][rng.gen_range(0..4)];
                let opts = LposOptions { rank, count, maxlen };
                assert_eq!(l.positions(&x, &opts), model_lpos(&m, &x, rank, count, maxlen), "{ctx} {opts:?}");
            }
            _ => {
                // Mixed bag: a burst of pushes at both ends to grow several nodes.
                for _ in 0..rng.gen_range(0..20) {
                    let x = random_value(&mut rng);
                    if rng.gen() {
                        l.push_back(&x);
                        m.push_back(x);
                    } else {
                        l.push_front(&x);
                        m.push_front(x);
                    }
                }
            }
        }
        assert_eq!(l.len(), m.len(), "{ctx}");
        if let Err(e) = l.check_invariants() {
            panic!("{ctx}: {e}");
        }
        if step % 16 == 0 {
            assert_eq!(collect(&l), m.iter().cloned().collect::<Vec<_>>(), "{ctx}");
            let back: Vec<Vec<u8>> = l.iter().rev().map(|e| e.to_vec()).collect();
            assert_eq!(back, m.iter().rev().cloned().collect::<Vec<_>>(), "{ctx} (reversed)");
        }
    }
    assert_eq!(collect(&l), m.into_iter().collect::<Vec<_>>());
    let copy = l.clone();
    assert_eq!(copy, l);
}

#[test]
fn model_small_nodes() {
    for (seed, fill) in [(1, 1), (2, 2), (3, 3), (4, 5), (5, 0), (6, 16)] {
        model_run(seed, fill, 3000);
    }
}

#[test]
fn model_size_limited_nodes() {
    for (seed, fill) in [(11, -1), (12, -2), (13, -5), (14, -9)] {
        model_run(seed, fill, 3000);
    }
}

/// The same random operations through the command layer of a database whose lists use
/// two-entry nodes, checked against a model.
#[test]
fn model_through_commands() {
    let mut config = Config::default();
    config.set("list-max-listpack-size", &["2"], true).unwrap();
    let db = Database::builder().config(config).build();
    let mut rng = SmallRng::seed_from_u64(99);
    let mut m: VecDeque<Vec<u8>> = VecDeque::new();
    for step in 0..2000 {
        let x = format!("{}", rng.gen_range(0..6)).into_bytes();
        match rng.gen_range(0..7) {
            0 => {
                db.rpush("k", [&x]).unwrap();
                m.push_back(x);
            }
            1 => {
                db.lpush("k", [&x]).unwrap();
                m.push_front(x);
            }
            2 => assert_eq!(db.lpop("k").unwrap(), m.pop_front(), "step {step}"),
            3 => {
                let n = rng.gen_range(0..m.len() + 1);
                let want = m.get(n).map(|_| x.clone());
                if let Some(e) = m.get_mut(n) {
                    *e = x.clone();
                    db.lset("k", n as i64, &x).unwrap();
                }
                if want.is_some() {
                    assert_eq!(db.lindex("k", n as i64).unwrap(), want, "step {step}");
                }
            }
            4 => {
                let pivot = format!("{}", rng.gen_range(0..6)).into_bytes();
                let r = db.linsert("k", true, &pivot, &x).unwrap();
                match m.iter().position(|e| *e == pivot) {
                    Some(p) => {
                        m.insert(p + 1, x);
                        assert_eq!(r, m.len() as i64, "step {step}");
                    }
                    None => assert_eq!(r, if m.is_empty() { 0 } else { -1 }, "step {step}"),
                }
            }
            5 => {
                let n = db.lrem("k", 1, &x).unwrap();
                let pos = m.iter().position(|e| *e == x);
                assert_eq!(n, pos.is_some() as usize, "step {step}");
                if let Some(p) = pos {
                    m.remove(p);
                }
            }
            _ => assert_eq!(db.rpop("k").unwrap(), m.pop_back(), "step {step}"),
        }
        assert_eq!(db.lrange("k", 0, -1).unwrap(), m.iter().cloned().collect::<Vec<_>>(), "step {step}");
    }
}

fn rss_kb() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4
}

/// Bytes glibc malloc has handed out (chunk overheads included).
fn malloc_in_use() -> usize {
    // SAFETY: mallinfo2 only reads allocator statistics.
    unsafe { libc::mallinfo2().uordblks }
}

/// Loads 10k lists of 100 short elements and prints the memory used, to compare with
/// redis-server loaded the same way.
fn memory_10k_lists(one_push_per_element: bool) {
    let db = Database::new();
    let (before, before_heap) = (rss_kb(), malloc_in_use());
    if one_push_per_element {
        // Round-robin over the lists, as a pipelined client would interleave them.
        for j in 0..100 {
            for i in 0..10_000 {
                db.rpush(format!("list:{i}"), [format!("elem-{j}")]).unwrap();
            }
        }
    } else {
        for i in 0..10_000 {
            db.rpush(format!("list:{i}"), (0..100).map(|j| format!("elem-{j}"))).unwrap();
        }
    }
    let after = rss_kb();
    let heap: usize = (0..10_000)
        .map(|i| {
            let key = format!("list:{i}");
            ferrous_core::list::read(&db.access(), key.as_bytes(), |l| l.map_or(0, |l| l.heap_size())).unwrap()
        })
        .sum();
    let malloc = malloc_in_use() - before_heap;
    println!(
        "RSS delta {} KB = {:.1} bytes/list = {:.2} bytes/element; malloc {:.1} bytes/list; list heap {:.1} bytes/list",
        after - before,
        (after - before) as f64 * 1024.0 / 10_000.0,
        (after - before) as f64 * 1024.0 / 1_000_000.0,
        malloc as f64 / 10_000.0,
        heap as f64 / 10_000.0
    );
}

/// Memory of 10k lists of 100 short elements loaded with one RPUSH per list (run alone with
/// `--ignored --nocapture memory_bulk`).
#[test]
#[ignore]
fn memory_bulk() {
    memory_10k_lists(false);
}

/// Memory of 10k lists of 100 short elements loaded with one RPUSH per element (run alone
/// with `--ignored --nocapture memory_single`).
#[test]
#[ignore]
fn memory_single() {
    memory_10k_lists(true);
}

/// Memory of one list of 1M short elements (run alone with `--ignored --nocapture
/// memory_one_big`).
#[test]
#[ignore]
fn memory_one_big() {
    let db = Database::new();
    let (before, before_heap) = (rss_kb(), malloc_in_use());
    for chunk in 0..10_000 {
        db.rpush("big", (0..100).map(|j| format!("elem-{}", chunk * 100 + j))).unwrap();
    }
    let after = rss_kb();
    let heap = ferrous_core::list::read(&db.access(), b"big", |l| l.map_or(0, |l| l.heap_size())).unwrap();
    let malloc = malloc_in_use() - before_heap;
    println!(
        "RSS delta {} KB = {:.2} bytes/element; malloc {:.2} bytes/element; list heap {:.2} bytes/element",
        after - before,
        (after - before) as f64 * 1024.0 / 1e6,
        malloc as f64 / 1e6,
        heap as f64 / 1e6
    );
}
