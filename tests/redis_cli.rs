//! `redis-cli` against the real `ferrous` binary: arguments, commands on standard input,
//! `-x`, `-n`, and `--pipe` mass insertion. Where redis-server is installed, the same
//! invocations also run against it and the outputs must be identical.
//!
//! Skipped (with `SKIPPED: ...`) when redis-cli is not installed, except under CI.
mod common;

use common::{bulk, simple, Resp, TestServer};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a redis-cli run printed.
#[derive(Debug, PartialEq, Eq)]
struct Output {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// Runs `redis-cli -p PORT args...` with `stdin` (or none), killing it after 60 s.
fn cli(port: u16, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start redis-cli");
    let writer = child.stdin.take().map(|mut w| {
        let data = stdin.unwrap_or_default().to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        })
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait redis-cli") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-cli {args:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Output { stdout, stderr, code: status.code() }
}

fn server() -> Option<TestServer> {
    if !common::require_tool("redis-cli") {
        return None;
    }
    Some(TestServer::start())
}

#[test]
fn cli_runs_commands_from_arguments() {
    let Some(s) = server() else { return };
    let p = s.port();
    assert_eq!(cli(p, &["PING"], None).stdout, "PONG\n");
    assert_eq!(cli(p, &["SET", "foo", "bar"], None).stdout, "OK\n");
    assert_eq!(cli(p, &["GET", "foo"], None).stdout, "bar\n");
    assert_eq!(cli(p, &["GET", "nope"], None).stdout, "\n");
    assert_eq!(cli(p, &["INCR", "n"], None).stdout, "1\n");
    // --no-raw formats like an interactive session.
    assert_eq!(cli(p, &["--no-raw", "GET", "foo"], None).stdout, "\"bar\"\n");
    assert_eq!(cli(p, &["--no-raw", "INCR", "n"], None).stdout, "(integer) 2\n");
    assert_eq!(cli(p, &["--no-raw", "GET", "nope"], None).stdout, "(nil)\n");
    assert_eq!(cli(p, &["--no-raw", "ECHO", "a\nb"], None).stdout, "\"a\\nb\"\n");
    let out = cli(p, &["--no-raw", "FOO", "x"], None);
    assert_eq!(out.stdout, "(error) ERR unknown command 'FOO', with args beginning with: 'x' \n");
    let out = cli(p, &["GET"], None);
    assert_eq!(out.stdout, "ERR wrong number of arguments for 'get' command\n\n");
    // -n selects a database before running the command.
    assert_eq!(cli(p, &["-n", "3", "SET", "in3", "v"], None).stdout, "OK\n");
    assert_eq!(cli(p, &["GET", "in3"], None).stdout, "\n");
    assert_eq!(cli(p, &["-n", "3", "GET", "in3"], None).stdout, "v\n");
    // Password on the command line.
    drop(s);
    let s = TestServer::start_with(&["--requirepass", "pw"]);
    let out = cli(s.port(), &["--no-auth-warning", "-a", "pw", "PING"], None);
    assert_eq!(out.stdout, "PONG\n");
    let out = cli(s.port(), &["PING"], None);
    assert_eq!(out.stdout, "NOAUTH Authentication required.\n\n");
}

#[test]
fn cli_mget_formats_arrays() {
    let Some(s) = server() else { return };
    let p = s.port();
    assert_eq!(cli(p, &["MSET", "a", "1", "b", "two words"], None).stdout, "OK\n");
    assert_eq!(cli(p, &["MGET", "a", "nope", "b"], None).stdout, "1\n\ntwo words\n");
    assert_eq!(cli(p, &["--no-raw", "MGET", "a", "nope", "b"], None).stdout, "1) \"1\"\n2) (nil)\n3) \"two words\"\n");
}

#[test]
fn cli_reads_commands_from_stdin() {
    let Some(s) = server() else { return };
    let script = b"SET a 1\nINCR a\nGET a\nGET zz\nSET q \"hello world\"\nGET q\nPING\n";
    let out = cli(s.port(), &[], Some(script));
    assert_eq!(out.stdout, "OK\n2\n2\n\nOK\nhello world\nPONG\n");
    assert_eq!(out.code, Some(0));
}

#[test]
fn cli_x_takes_last_argument_from_stdin() {
    let Some(s) = server() else { return };
    let out = cli(s.port(), &["-x", "SET", "xk"], Some(b"hello\nworld"));
    assert_eq!(out.stdout, "OK\n");
    let mut c = s.raw();
    assert_eq!(c.cmd(&["GET", "xk"]), bulk("hello\nworld"));
}

#[test]
fn cli_pipe_mass_insertion() {
    let Some(s) = server() else { return };
    let mut proto = Vec::new();
    for i in 0..10_000 {
        proto.extend_from_slice(&common::encode_command(&["SET", &format!("key:{i}"), &format!("value:{i}")]));
    }
    let out = cli(s.port(), &["--pipe"], Some(&proto));
    assert!(out.stdout.contains("errors: 0, replies: 10000"), "redis-cli --pipe said: {out:?}");
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut c = s.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(10_000));
    assert_eq!(c.cmd(&["GET", "key:1234"]), bulk("value:1234"));
    // Errors are counted and make the exit code 1.
    let mut proto = common::encode_command(&["SET", "k", "v"]);
    proto.extend_from_slice(&common::encode_command(&["NOSUCHCOMMAND"]));
    proto.extend_from_slice(&common::encode_command(&["INCR", "k"]));
    let out = cli(s.port(), &["--pipe"], Some(&proto));
    assert!(out.stdout.contains("errors: 2, replies: 3"), "redis-cli --pipe said: {out:?}");
    assert_eq!(out.code, Some(1));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
}

#[test]
fn cli_resp3() {
    let Some(s) = server() else { return };
    let p = s.port();
    assert_eq!(cli(p, &["MSET", "a", "ohmytext", "b", "mynewtext"], None).stdout, "OK\n");
    // In RESP3, LCS IDX replies with a map, which redis-cli renders as `1# key => value`.
    let want = "1# \"matches\" => \n   1) 1) 1) (integer) 4\n         2) (integer) 7\n      2) 1) (integer) 5\n         2) (integer) 8\n   2) 1) 1) (integer) 2\n         2) (integer) 3\n      2) 1) (integer) 0\n         2) (integer) 1\n2# \"len\" => (integer) 6\n";
    assert_eq!(cli(p, &["-3", "--no-raw", "LCS", "a", "b", "IDX"], None).stdout, want);
    assert_eq!(cli(p, &["-3", "--no-raw", "GET", "a"], None).stdout, "\"ohmytext\"\n");
    assert_eq!(cli(p, &["-3", "--no-raw", "GET", "nope"], None).stdout, "(nil)\n");
}

/// Invocations compared byte for byte with redis-server's answers (fresh server each side,
/// same sequence).
#[test]
fn cli_output_matches_redis() {
    let Some(ours) = server() else { return };
    let Some(theirs) = TestServer::redis(&[]) else { return };
    let script: &[(&[&str], Option<&[u8]>)] = &[
        (&["SET", "foo", "bar"], None),
        (&["--no-raw", "GET", "foo"], None),
        (&["GET", "nope"], None),
        (&["--no-raw", "INCR", "counter"], None),
        (&["INCRBY", "counter", "10"], None),
        (&["--no-raw", "INCR", "foo"], None),
        (&["INCR", "foo"], None),
        (&["--no-raw", "MGET", "foo", "nope", "counter"], None),
        (&["EXISTS", "foo", "nope"], None),
        (&["--no-raw", "DEL", "foo"], None),
        (&["--no-raw", "SET", "k", "v", "NX", "XX"], None),
        (&["--no-raw", "SELECT", "99"], None),
        (&["--no-raw", "nosuchcommand", "a", "b"], None),
        (&["--no-raw", "ECHO", "tab\there"], None),
        (&["--no-raw", "ECHO", "\u{00e9}t\u{00e9}"], None),
        (&["-x", "SET", "stdin"], Some(b"line1\nline2\n")),
        (&["--no-raw", "GET", "stdin"], None),
        (&[], Some(b"SET s 1\nINCR s\nGET s\nBADCMD\nGET\n")),
        (&["MSET", "a", "ohmytext", "b", "mynewtext"], None),
        (&["--no-raw", "LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"], None),
        (&["-3", "--no-raw", "LCS", "a", "b", "IDX"], None),
        (&["-3", "--no-raw", "MGET", "a", "nope"], None),
        (&["-3", "--no-raw", "INCRBYFLOAT", "fl", "1.5"], None),
        (&["DBSIZE"], None),
    ];
    for (args, stdin) in script {
        let a = cli(ours.port(), args, *stdin);
        let b = cli(theirs.port(), args, *stdin);
        assert_eq!(a.stdout, b.stdout, "redis-cli {args:?}: stdout differs (left: Ferrous, right: Redis)");
        assert_eq!(a.code, b.code, "redis-cli {args:?}: exit code differs");
    }
}
