//! Replays case files recorded from Redis 7.0 (`support/record_cases.py PORT FILE` fills in
//! the replies from a live redis-server) for the HyperLogLog and SORT tests.
//!
//! Format: `[R3] [S] [SHA1] COMMAND ARGS => EXPECTED` (see `oracle.rs` for the reply
//! notation). `R3` runs on a RESP3 client, `S` sorts the top-level array, `SHA1` compares
//! the SHA-1 of the formatted reply instead of the reply (12 KB dense HyperLogLogs). Blocks
//! separated by `---` start from an empty database. Arguments split on spaces; `"..."`
//! groups and understands `\xNN`, `\n`, `\r`, `\t`, `\"`, `\\`; an argument `%P%A%B`
//! expands to the arguments `P{A}` .. `P{B-1}`.
#![allow(dead_code)]
use super::oracle;
use ferrous_core::Database;
use sha1::{Digest, Sha1};

/// Splits a case line into arguments (see the module doc).
pub fn split(line: &str) -> Vec<Vec<u8>> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' => out.extend(cur.take()),
            b'"' => {
                let a = cur.get_or_insert_with(Vec::new);
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                        match b[i] {
                            b'x' => {
                                a.push(u8::from_str_radix(&line[i + 1..i + 3], 16).expect("bad \\x escape"));
                                i += 2;
                            }
                            b'n' => a.push(b'\n'),
                            b'r' => a.push(b'\r'),
                            b't' => a.push(b'\t'),
                            c => a.push(c),
                        }
                    } else {
                        a.push(b[i]);
                    }
                    i += 1;
                }
            }
            c => cur.get_or_insert_with(Vec::new).push(c),
        }
        i += 1;
    }
    out.extend(cur);
    expand(out)
}

fn expand(args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for a in args {
        let text = String::from_utf8_lossy(&a).into_owned();
        let parts: Vec<&str> = text.split('%').collect();
        if text.starts_with('%') && parts.len() == 4 {
            let (lo, hi): (u64, u64) = (parts[2].parse().expect("range start"), parts[3].parse().expect("range end"));
            out.extend((lo..hi).map(|i| format!("{}{i}", parts[1]).into_bytes()));
        } else {
            out.push(a);
        }
    }
    out
}

fn sha1_hex(s: &str) -> String {
    Sha1::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Replays `cases` and fails with every mismatch.
pub fn assert_replay(cases: &str) {
    let failures = replay(cases);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Replays an extra case file named by `FERROUS_EXTRA_CASES`, if set (for ad-hoc
/// differential runs: generate commands, record them with `support/record_cases.py`).
pub fn assert_extra_cases_from_env() {
    let Ok(path) = std::env::var("FERROUS_EXTRA_CASES") else { return };
    let text = std::fs::read_to_string(&path).expect("FERROUS_EXTRA_CASES names a readable file");
    assert_replay(&text);
}

/// Replays `cases`; returns every mismatch.
pub fn replay(cases: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let mut db = Database::new();
    let (mut c2, mut c3) = (oracle::client(&db, 2), oracle::client(&db, 3));
    for line in cases.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("---") {
            db = Database::new();
            (c2, c3) = (oracle::client(&db, 2), oracle::client(&db, 3));
            continue;
        }
        let Some((cmd, expected)) = line.split_once(" => ") else { panic!("bad case line: {line}") };
        let mut rest = cmd;
        let (mut resp3, mut sort, mut sha) = (false, false, false);
        loop {
            if let Some(r) = rest.strip_prefix("R3 ") {
                resp3 = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("S ") {
                sort = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("SHA1 ") {
                sha = true;
                rest = r;
            } else {
                break;
            }
        }
        let mut got = oracle::run(&db, if resp3 { &mut c3 } else { &mut c2 }, &split(rest));
        if sort {
            got = oracle::sorted(got);
        }
        let mut got = oracle::fmt(&got);
        if sha {
            got = format!("sha1:{}", sha1_hex(&got));
        }
        if got != expected {
            let cut = |s: &str| s.chars().take(400).collect::<String>();
            failures.push(format!("{}\n   expected {}\n   got      {}", cut(cmd), cut(expected), cut(&got)));
        }
    }
    failures
}
