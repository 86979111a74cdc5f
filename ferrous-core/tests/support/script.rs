//! The `COMMAND args => reply` script runner shared by the string and bitmap command tests
//! (replies recorded from redis-server 7.0.15; notation in those files' module docs).
#![allow(dead_code)]
use ferrous_core::{Config, Database, RespValue};

/// Splits a script line into arguments: whitespace-separated words, or `"..."` with `\xNN`,
/// `\n`, `\r`, `\t`, `\"` and `\\` escapes.
pub fn tokenize(line: &str) -> Vec<Vec<u8>> {
    let b = line.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
        } else if b[i] == b'"' {
            let mut arg = Vec::new();
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                    match b[i] {
                        b'x' => {
                            arg.push(u8::from_str_radix(&line[i + 1..i + 3], 16).expect("hex escape"));
                            i += 2;
                        }
                        b'n' => arg.push(b'\n'),
                        b'r' => arg.push(b'\r'),
                        b't' => arg.push(b'\t'),
                        c => arg.push(c),
                    }
                } else {
                    arg.push(b[i]);
                }
                i += 1;
            }
            i += 1;
            out.push(arg);
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

/// The reply in the scripts' notation.
pub fn render(v: &RespValue) -> String {
    match v {
        RespValue::Simple(s) => format!("+{s}"),
        RespValue::Error(e) => format!("-{e}"),
        RespValue::Integer(i) => format!(":{i}"),
        RespValue::Bulk(b) => {
            let mut s = String::from("\"");
            for &c in b {
                match c {
                    b'"' => s.push_str("\\\""),
                    b'\\' => s.push_str("\\\\"),
                    0x20..=0x7e => s.push(c as char),
                    _ => s.push_str(&format!("\\x{c:02x}")),
                }
            }
            s.push('"');
            s
        }
        RespValue::Null => "(nil)".into(),
        RespValue::NullArray => "(nilarr)".into(),
        RespValue::Array(items) | RespValue::Set(items) | RespValue::Push(items) => {
            format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", "))
        }
        RespValue::Map(pairs) => {
            let items: Vec<String> = pairs.iter().flat_map(|(k, v)| [render(k), render(v)]).collect();
            format!("{{{}}}", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// Runs a script on `db` and fails listing every line whose reply differs.
pub fn check_on(db: &Database, script: &str) {
    let mut failures = Vec::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")) {
        let (cmd, expected) = line.split_once(" => ").unwrap_or_else(|| panic!("no ` => ` in {line:?}"));
        let got = render(&db.execute(tokenize(cmd)));
        if got != expected.trim() {
            failures.push(format!("{cmd}\n    expected: {}\n    got:      {got}", expected.trim()));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Runs a script on a fresh database.
pub fn check(script: &str) {
    check_on(&Database::builder().build(), script);
}

/// Runs `COMMAND args => reply | events` lines on a database publishing every keyspace
/// event class plus `n`, and compares the `__keyevent@0__` events each command published
/// (`event key`, comma-separated) with what Redis 7.0 published for the same line.
pub fn check_events(script: &str) {
    let mut config = Config::default();
    // Not "KEAn": Ferrous keeps this setting as text and its canonical form of "An" is "A",
    // which drops "n" (Redis keeps the parsed flags, so it does not).
    config.set("notify-keyspace-events", &["KEg$n"], true).unwrap();
    let db = Database::builder().config(config).active_expire(false).build();
    db.inner().apply_config_mirrors();
    let mut sub = db.psubscribe(&["__keyevent@0__:*"]);
    let mut failures = Vec::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (cmd, rest) = line.split_once(" => ").unwrap_or_else(|| panic!("no ` => ` in {line:?}"));
        let (reply, events) = rest.split_once(" |").unwrap_or_else(|| panic!("no ` |` in {line:?}"));
        let got_reply = render(&db.execute(tokenize(cmd)));
        let mut got = Vec::new();
        while let Some(m) = sub.try_recv() {
            let event = String::from_utf8_lossy(&m.channel["__keyevent@0__:".len()..]).into_owned();
            got.push(format!("{event} {}", String::from_utf8_lossy(&m.payload)));
        }
        let got = got.join(", ");
        if got_reply != reply.trim() || got != events.trim() {
            failures.push(format!(
                "{cmd}\n    expected: {} | {}\n    got:      {got_reply} | {got}",
                reply.trim(),
                events.trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
