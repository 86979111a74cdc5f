//! Shared by the hash and set command tests: replays command/reply cases recorded from
//! Redis 7.0 (the oracle) against an in-process database.
#![allow(dead_code)]
use ferrous_core::{Database, RespValue};

// ---- Oracle-recorded cases -----------------------------------------------------------
//
// Each case line is `[R3] [S] COMMAND ARGS => EXPECTED`, recorded by running the same line
// against Redis 7.0.15 (`R3`: on a RESP3 connection; `S`: elements of the top-level
// array/set/map sorted on both sides, for replies whose order is unspecified). Blocks are
// separated by `---`; each block starts from an empty database with default config.
// EXPECTED uses a compact notation: `"bulk"`, `:int`, `+simple`, `-error`, `nil`,
// `[array]`, `~[set]`, `{map}`, `,double`.

pub fn fmt(v: &RespValue) -> String {
    match v {
        RespValue::Simple(s) => format!("+{s}"),
        RespValue::Error(s) => format!("-{s}"),
        RespValue::Integer(i) => format!(":{i}"),
        RespValue::Bulk(b) | RespValue::Verbatim(_, b) => {
            let mut o = String::from("\"");
            for &c in b {
                match c {
                    b'"' | b'\\' => {
                        o.push('\\');
                        o.push(c as char);
                    }
                    32..=126 => o.push(c as char),
                    _ => o.push_str(&format!("\\x{c:02x}")),
                }
            }
            o + "\""
        }
        RespValue::Null | RespValue::NullArray => "nil".into(),
        RespValue::Array(a) => format!("[{}]", a.iter().map(fmt).collect::<Vec<_>>().join(", ")),
        RespValue::Set(a) => format!("~[{}]", a.iter().map(fmt).collect::<Vec<_>>().join(", ")),
        RespValue::Push(a) => format!(">[{}]", a.iter().map(fmt).collect::<Vec<_>>().join(", ")),
        RespValue::Map(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{}: {}", fmt(k), fmt(v))).collect::<Vec<_>>().join(", "))
        }
        RespValue::Double(d) => format!(",{d}"),
        RespValue::Boolean(b) => format!("#{}", if *b { 't' } else { 'f' }),
        RespValue::BigNumber(n) => format!("({n}"),
    }
}

pub fn sorted(v: RespValue) -> RespValue {
    match v {
        RespValue::Array(mut a) => {
            a.sort_by_key(fmt);
            RespValue::Array(a)
        }
        RespValue::Set(mut a) => {
            a.sort_by_key(fmt);
            RespValue::Set(a)
        }
        RespValue::Map(mut m) => {
            m.sort_by_key(|(k, _)| fmt(k));
            RespValue::Map(m)
        }
        other => other,
    }
}

/// Splits like the recorder's `shlex.split` for the forms the case files use: spaces
/// separate, double quotes group (with `\"` and `\\` escapes).
pub fn split_args(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut chars = line.bytes().peekable();
    while let Some(c) = chars.next() {
        match c {
            b' ' => {
                if let Some(a) = cur.take() {
                    out.push(a);
                }
            }
            b'"' => {
                let a = cur.get_or_insert_with(Vec::new);
                while let Some(c) = chars.next() {
                    match c {
                        b'"' => break,
                        b'\\' if matches!(chars.peek(), Some(b'"') | Some(b'\\')) => {
                            a.push(chars.next().unwrap_or(b'\\'))
                        }
                        _ => a.push(c),
                    }
                }
            }
            _ => cur.get_or_insert_with(Vec::new).push(c),
        }
    }
    out.extend(cur);
    out
}

/// Runs one command on a client of the given protocol.
pub fn run(db: &Database, client: &mut ferrous_core::ClientState, args: &[Vec<u8>]) -> RespValue {
    let argv: ferrous_resp::ArgsBuf = args.iter().collect();
    let mut out = Vec::new();
    db.dispatch(client, argv.as_args(), &mut out);
    match ferrous_resp::parse_value(&out) {
        Ok(Some((v, _))) => v,
        _ => panic!("no reply for {:?}", args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()),
    }
}

pub fn client(db: &Database, resp: u8) -> ferrous_core::ClientState {
    let mut c = db.connect(ferrous_core::ConnectionInfo::default());
    c.authenticated = true;
    c.resp = resp;
    c
}

/// Replays recorded cases; returns the mismatches (all of them, for a readable failure).
pub fn replay(cases: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let mut db = Database::new();
    let (mut c2, mut c3) = (client(&db, 2), client(&db, 3));
    for line in cases.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("---") {
            db = Database::new();
            (c2, c3) = (client(&db, 2), client(&db, 3));
            continue;
        }
        let Some((cmd, expected)) = line.split_once(" => ") else { panic!("bad case line: {line}") };
        let mut rest = cmd;
        let (mut resp3, mut sort) = (false, false);
        loop {
            if let Some(r) = rest.strip_prefix("R3 ") {
                resp3 = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("S ") {
                sort = true;
                rest = r;
            } else {
                break;
            }
        }
        let args = split_args(rest);
        let mut got = run(&db, if resp3 { &mut c3 } else { &mut c2 }, &args);
        if sort {
            got = sorted(got);
        }
        let got = fmt(&got);
        if got != expected {
            failures.push(format!("{cmd}\n   expected {expected}\n   got      {got}"));
        }
    }
    failures
}
