//! Differential tests of the Lua debugger (`SCRIPT DEBUG YES|SYNC|NO`, then EVAL): the same
//! debugger sessions run on a redis-server (the oracle, on ports 8100-8149) and on Ferrous,
//! and every reply must be byte-for-byte identical.
//!
//! - `script_debug_*`: SCRIPT DEBUG's replies and errors (pipeline, MULTI, arguments), EVALSHA
//!   refused in debug mode.
//! - `session_*`: whole sessions over raw RESP: stops, step/next/continue, list/whole,
//!   print, break (including Redis's way of removing a breakpoint), trace, eval, redis,
//!   maxlen and trimming, abort, help, unknown commands, `redis.debug()` and
//!   `redis.breakpoint()`, `<redis>`/`<reply>`/`<error>` logs of `redis.call`, RESP3
//!   replies, the timeout stop, `<endsession>` then the EVAL reply then the close.
//! - `yes_*` / `sync_*`: a `YES` session's changes are rolled back and other clients are
//!   served while it is stopped; a `SYNC` session keeps its changes and blocks the others;
//!   a client disconnecting in the middle of a session ends it.
//! - `redis_cli_*`: a real `redis-cli --ldb` (and `--ldb-sync-mode`) with its commands on
//!   standard input: identical output on both servers.
//!
//! Skipped (with `SKIPPED: ...`) when redis-server or redis-cli is not installed, except
//! under CI.
mod common;

use common::{escape, Resp, RespConn, TestServer};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const PORTS: std::ops::Range<u16> = 8100..8150;
/// How long a blocked client is given to (not) answer.
const BLOCKED: Duration = Duration::from_millis(400);

/// Both servers, or `None` when redis-server is missing (and this is not CI).
fn servers(extra: &[&str]) -> Option<(TestServer, TestServer)> {
    common::use_redis_ports(PORTS);
    let redis = TestServer::redis(extra)?;
    let ferrous = TestServer::ferrous(extra);
    Some((redis, ferrous))
}

/// True when a reply is the debugger's log array ending a session.
fn ends_session(r: &Resp) -> bool {
    matches!(r, Resp::Array(items) if items.last().is_some_and(|l| l.bytes() == Some(b"<endsession>")))
}

/// Runs `steps` on a fresh connection and returns the transcript: each command with the
/// exact bytes it got back. After `<endsession>` the EVAL's reply is read, then the
/// connection must be closed by the server.
fn transcript(server: &TestServer, steps: &[Vec<Vec<u8>>]) -> String {
    let mut conn = server.raw();
    conn.set_timeout(Duration::from_secs(10));
    let mut out = String::new();
    for step in steps {
        out.push_str(&format!("> {}\n", step.iter().map(|a| escape(a)).collect::<Vec<_>>().join(" ")));
        conn.send(step).expect("send");
        let reply = match conn.read() {
            Ok(r) => r,
            Err(e) => {
                out.push_str(&format!("< read error: {}\n", e.kind()));
                return out;
            }
        };
        out.push_str(&format!("< {}\n", escape(&reply.raw)));
        if ends_session(&reply.value) {
            let last = conn.read().expect("the EVAL reply after <endsession>");
            out.push_str(&format!("< {}\n", escape(&last.raw)));
            let (rest, closed) = conn.read_until_close(Duration::from_secs(5));
            out.push_str(&format!("< then {} and {}\n", escape(&rest), if closed { "closed" } else { "NOT closed" }));
            return out;
        }
    }
    out
}

fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// Runs the same session on both servers and compares the transcripts.
fn same(servers: &(TestServer, TestServer), label: &str, steps: &[Vec<Vec<u8>>]) -> String {
    let redis = transcript(&servers.0, steps);
    let ferrous = transcript(&servers.1, steps);
    assert_eq!(ferrous, redis, "{label}: Ferrous (left) differs from redis-server (right)");
    ferrous
}

fn session(script: &str, numkeys_and_args: &[&str], commands: &[&[&str]]) -> Vec<Vec<Vec<u8>>> {
    let mut steps = vec![cmd(&["SCRIPT", "DEBUG", "YES"])];
    let mut eval = cmd(&["EVAL", script]);
    eval.extend(cmd(numkeys_and_args));
    steps.push(eval);
    steps.extend(commands.iter().map(|c| cmd(c)));
    steps
}

#[test]
fn script_debug_replies_and_errors() {
    let Some(s) = servers(&[]) else { return };
    let steps: Vec<Vec<Vec<u8>>> = vec![
        cmd(&["SCRIPT", "DEBUG", "maybe"]),
        cmd(&["SCRIPT", "DEBUG"]),
        cmd(&["SCRIPT", "DEBUG", "yes", "no"]),
        cmd(&["MULTI"]),
        cmd(&["SCRIPT", "DEBUG", "yes"]),
        cmd(&["EXEC"]),
        cmd(&["SCRIPT", "DEBUG", "NO"]),
        cmd(&["EVAL", "return 1", "0"]),
        cmd(&["SCRIPT", "DEBUG", "YES"]),
        cmd(&["EVALSHA", "abc", "0"]),
        cmd(&["EVALSHA", &"a".repeat(40), "0"]),
        cmd(&["EVALSHA_RO", &"a".repeat(40), "0"]),
        cmd(&["SCRIPT", "DEBUG", "no"]),
        cmd(&["EVAL", "return 2", "0"]),
    ];
    same(&s, "script debug", &steps);
    // Called behind another command of the same pipeline.
    for server in [&s.0, &s.1] {
        let mut c = server.raw();
        let mut bytes = common::encode_command(&["PING"]);
        bytes.extend(common::encode_command(&["SCRIPT", "DEBUG", "YES"]));
        c.send_raw(&bytes).unwrap();
        assert_eq!(c.read().unwrap().raw, b"+PONG\r\n");
        assert_eq!(c.read().unwrap().raw, b"-ERR SCRIPT DEBUG must be called outside a pipeline\r\n");
    }
}

#[test]
fn session_stepping_listing_and_breakpoints() {
    let Some(s) = servers(&[]) else { return };
    let script = "local function f(x)\n  local y = x * 2\n  return y\nend\nlocal z = f(3)\nreturn redis.call(\"mset\",\"a\",1,\"b\",2,\"c\",3,\"d\",4,\"e\",5,\"f\",6)";
    let t = same(
        &s,
        "stepping",
        &session(
            script,
            &["0"],
            &[&["b", "2"], &["c"], &["t"], &["p"], &["s"], &["n"], &["l"], &["l", "2", "1"], &["w"], &["s"]],
        ),
    );
    assert!(t.contains("* Stopped at 2, stop reason = break point"), "{t}");
    assert!(t.contains("<redis> mset a 1 b 2 c 3 d 4 e ... (2 more)"), "{t}");
    let script = "local a=1\nlocal b=2\nlocal c=3\nlocal d=4\nlocal e=5\nreturn 1";
    same(
        &s,
        "breakpoints",
        &session(
            script,
            &["0"],
            &[
                &["b"],
                &["b", "2", "4", "6"],
                &["b", "-2"],
                &["b"],
                &["b", "-9"],
                &["b", "3", "-4"],
                &["b"],
                &["b", "99"],
                &["b", "x"],
                &["b", "07"],
                &["b", "-0"],
                &["b", "0"],
                &["l", "0", "1"],
                &["l", "3", "0"],
                &["l", "2", "-1"],
                &["l", "x"],
                &["c"],
            ],
        ),
    );
    same(&s, "empty script", &session("", &["0"], &[&["w"], &["c"]]));
    same(&s, "CRLF lines", &session("local a = 1\r\nreturn a\r\n", &["0"], &[&["w"], &["l"], &["s"], &["c"]]));
    same(
        &s,
        "upvalues",
        &session(
            "local u = 5\nlocal function f()\n  return u\nend\nreturn f()",
            &["0"],
            &[&["b", "3"], &["c"], &["p", "u"], &["p"], &["t"], &["c"]],
        ),
    );
    let many: Vec<String> = (0..70).map(|i| format!("local v{i} = {i}")).collect();
    let lines: Vec<String> = (1..67).map(|i| i.to_string()).collect();
    let mut commands: Vec<Vec<&str>> = lines.iter().map(|l| vec!["b", l.as_str()]).collect();
    commands.extend([vec!["b", "-5"], vec!["b"], vec!["c"]]);
    let commands: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
    same(&s, "too many breakpoints", &session(&many.join("\n"), &["0"], &commands));
    // A script without an explicit return ends on its last line.
    same(&s, "no return", &session("local a = 1\nlocal b = 2\n\n", &["0"], &[&["s"], &["s"]]));
}

#[test]
fn session_values_eval_redis_and_trimming() {
    let Some(s) = servers(&[]) else { return };
    let script = "local big = string.rep('x', 300)\nlocal t = {}\nfor i=1,3 do t[i]=i end\nlocal m = {a={b=true}, [1.5]='z'}\nreturn 1";
    let steps = session(
        script,
        &["2", "k1", "k2", "a1"],
        &[
            &["p"],
            &["r", "set", "k", &"x".repeat(300)],
            &["r", "get", "k"],
            &["s"],
            &["s"],
            &["s"],
            &["s"],
            &["s"],
            &["p"],
            &["p", "t"],
            &["p", "KEYS"],
            &["p", "ARGV"],
            &["p", "nosuch"],
            &["m"],
            &["m", "30"],
            &["r", "get", "k"],
            &["m", "-5"],
            &["m", "0"],
            &["p", "big"],
            &["m", "100"],
            &["e", "{1,2,{a=1,b={c={d={e={f={g={h={i={j={k={l=1}}}}}}}}}}}"],
            &["e", "nil"],
            &["e", "x = 1"],
            &["e", "syntax error here"],
            &["e", "error('boom')"],
            &["e", "true, 2"],
            &["e", "3.5"],
            &["e", "1e20"],
            &["e", "-0.0001"],
            &["e", "'a\\0b\\r\\n\\t\\1\\255\"\\\\'"],
            &["e", "redis.call('ping')"],
            &["r", "mset", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"],
            &["r", "mset", "a", "1", "b"],
            &["r", "nosuch", "x"],
            &["r", "get"],
            &["r"],
            &["xyz", "1"],
            &["print", "a", "b"],
            &["h"],
            &["c"],
        ],
    );
    let t = same(&s, "values", &steps);
    assert!(t.contains("<hint> The above reply was trimmed."), "{t}");
    assert!(t.contains("<retval> {[\\\"ok\\\"]=\\\"PONG\\\"}"), "{t}");
}

#[test]
fn session_script_side_and_errors() {
    let Some(s) = servers(&[]) else { return };
    same(
        &s,
        "redis.debug / redis.breakpoint",
        &session(
            "redis.debug()\nredis.debug(1,'two',{3},nil,true)\nlocal r = redis.breakpoint()\nreturn tostring(r)",
            &["0"],
            &[&["c"], &["c"]],
        ),
    );
    same(
        &s,
        "redis.call logs",
        &session(
            "redis.call('set','a','1')\nredis.pcall('lpush','a','x')\nredis.pcall('nosuchcmd')\nredis.pcall()\nreturn redis.call('incr','a')",
            &["0"],
            &[&["s"], &["s"], &["s"], &["s"], &["s"], &["s"]],
        ),
    );
    same(
        &s,
        "redis.* errors",
        &session(
            "local e = redis.error_reply('bad')\nlocal s = redis.status_reply('fine')\npcall(redis.log, 99, 'x')\npcall(redis.setresp, 7)\nlocal x = redis.error_reply()\nreturn redis.call('lpush', KEYS[1], 'x')",
            &["1", "mystr"],
            &[&["r", "set", "mystr", "v"], &["s"], &["s"], &["s"], &["s"], &["s"], &["p"], &["s"]],
        ),
    );
    // The script runs with the caller's ACL user, in both modes.
    for mode in ["YES", "SYNC"] {
        let steps = vec![
            cmd(&["ACL", "SETUSER", "dbg", "on", "nopass", "+@all", "-set", "~*"]),
            cmd(&["AUTH", "dbg", "x"]),
            cmd(&["SCRIPT", "DEBUG", mode]),
            cmd(&["EVAL", "local ok, e = pcall(redis.call,'set','k','v')\nreturn e", "0"]),
            cmd(&["s"]),
            cmd(&["s"]),
        ];
        let t = same(&s, "ACL", &steps);
        assert!(t.contains("<error> The user executing the script can't run this command"), "{t}");
    }
    same(&s, "runtime error", &session("local t = nil\nreturn t.x", &["0"], &[&["c"]]));
    same(&s, "abort", &session("local a = 1\nreturn a", &["0"], &[&["a"]]));
    same(&s, "compile error", &session("local a = = 1", &["0"], &[]));
    same(&s, "bad numkeys", &session("return 1", &["5"], &[]));
    same(&s, "protocol error", &{
        let mut steps = session("return 1", &["0"], &[]);
        steps.push(vec![b"s\r\n".to_vec()]);
        steps
    });
    // The RESP3 caller gets RESP3 replies; the logs are the same arrays.
    let mut steps = vec![cmd(&["HELLO", "3"])];
    steps.extend(session(
        "redis.setresp(3)\nlocal x = redis.call('hgetall','h')\nredis.call('hset','h','f','v')\nreturn redis.call('hgetall','h')",
        &["0"],
        &[&["s"], &["s"], &["s"], &["r", "ping"], &["s"]],
    ));
    let t_redis = transcript(&s.0, &steps);
    let t_ferrous = transcript(&s.1, &steps);
    // HELLO's reply carries the client id, which differs.
    let skip_hello = |t: &str| t.lines().skip(2).collect::<Vec<_>>().join("\n");
    assert_eq!(skip_hello(&t_ferrous), skip_hello(&t_redis), "RESP3 session");
    // The timeout stop: a script that runs past busy-reply-threshold without stopping.
    for server in [&s.0, &s.1] {
        server.raw().cmd(&["CONFIG", "SET", "busy-reply-threshold", "200"]);
    }
    let t = same(
        &s,
        "timeout",
        &session("local i = 0\nwhile true do\n  i = i + 1\nend", &["0"], &[&["c"], &["t"], &["a"]]),
    );
    assert!(t.contains("timeout reached, infinite loop?"), "{t}");
}

/// GET `key` on another connection: its reply, or `None` if it got none within [`BLOCKED`].
fn other_get(server: &TestServer, key: &str) -> (RespConn, Option<Vec<u8>>) {
    let mut c = server.raw();
    c.send(&["GET", key]).unwrap();
    c.set_timeout(BLOCKED);
    let r = c.read().ok().map(|r| r.raw);
    (c, r)
}

#[test]
fn yes_rolls_back_and_serves_others_sync_keeps_and_blocks() {
    let Some(s) = servers(&[]) else { return };
    for (mode, served_while_stopped, after) in
        [("YES", true, &b"$4\r\norig\r\n"[..]), ("SYNC", false, &b"$7\r\nchanged\r\n"[..])]
    {
        let mut seen = Vec::new();
        for server in [&s.0, &s.1] {
            let mut c = server.raw();
            c.set_timeout(Duration::from_secs(10));
            c.cmd(&["SET", "ck", "orig"]);
            c.cmd(&["SCRIPT", "DEBUG", mode]);
            c.send(&["EVAL", "redis.call('set','ck','changed')\nlocal x = 1\nreturn x", "0"]).unwrap();
            let first = c.read().unwrap().raw;
            c.send(&["s"]).unwrap();
            let second = c.read().unwrap().raw;
            let (mut other, during) = other_get(server, "ck");
            assert_eq!(during.is_some(), served_while_stopped, "{mode} on {:?}: {during:?}", server.kind());
            // The debugging client goes away: the script runs to its end.
            drop(c);
            other.set_timeout(Duration::from_secs(10));
            let late = if during.is_none() { Some(other.read().unwrap().raw) } else { None };
            let now = other.call(&["GET", "ck"]).unwrap().raw;
            assert_eq!(now, after, "{mode} on {:?}", server.kind());
            seen.push((escape(&first), escape(&second), during.map(|d| escape(&d)), late.map(|d| escape(&d))));
        }
        assert_eq!(seen[1], seen[0], "{mode}: Ferrous (left) differs from redis-server (right)");
    }
}

#[test]
fn redis_cli_ldb_transcripts() {
    if !common::require_tool("redis-cli") {
        return;
    }
    let Some(s) = servers(&[]) else { return };
    let dir = common::TempDir::new("ldb");
    let script = dir.path().join("debug.lua");
    std::fs::write(
        &script,
        "local a = tonumber(ARGV[1])\nlocal t = {1, 2, \"three\", x = 4}\nredis.debug(\"a is\", a, t)\nfor i = 1, 3 do\n  a = a + i\nend\nredis.call(\"set\", KEYS[1], a)\nlocal v = redis.call(\"get\", KEYS[1])\nredis.breakpoint()\nreturn {a, v}\n",
    )
    .unwrap();
    let input = "s\nn\np\np a\np nosuch\nl\nl 8 1\nw\nb 7\nb\nb 99\nb x\nc\nr get mykey\nr incr mykey\ne a + 1\ne redis.call(\"ping\")\ne syntax error here\nt\nm\nm 10\nm 0\nh\nfoo\nrestart\ns\nb 8\nc\nc\nc\n";
    for mode in ["--ldb", "--ldb-sync-mode"] {
        let mut outs = Vec::new();
        for server in [&s.0, &s.1] {
            let mut child = Command::new("redis-cli")
                .args(["-p", &server.port().to_string(), mode, "--eval"])
                .arg(&script)
                .args(["mykey", ",", "5"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("redis-cli");
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let get = server.raw().cmd(&["GET", "mykey"]);
            outs.push((text, format!("{get}")));
        }
        assert!(outs[0].0.contains("Lua debugging session ended"), "{}", outs[0].0);
        assert!(outs[0].0.contains("<debug> line 3"), "{}", outs[0].0);
        assert_eq!(outs[1], outs[0], "{mode}: Ferrous (left) differs from redis-server (right)");
    }
}

/// MONITOR shows a debugged EVAL once and its commands; a `YES` session's client leaves the
/// server's client list (Redis's parent closes it), a `SYNC` one blocks INFO.
#[test]
fn monitor_and_client_list_around_sessions() {
    let Some(s) = servers(&[]) else { return };
    let mut seen = Vec::new();
    for server in [&s.0, &s.1] {
        let mut monitor = server.raw();
        monitor.cmd(&["MONITOR"]);
        let mut facts = Vec::new();
        for mode in ["YES", "SYNC"] {
            let mut c = server.raw();
            c.cmd(&["SCRIPT", "DEBUG", mode]);
            c.send(&["EVAL", "redis.call('set','mk','1')\nreturn 1", "0"]).unwrap();
            c.read().unwrap();
            let mut other = server.raw();
            other.send(&["INFO", "clients"]).unwrap();
            other.set_timeout(BLOCKED);
            let info = other.read().ok().map(|r| {
                let text = String::from_utf8_lossy(r.value.bytes().unwrap_or_default()).into_owned();
                text.lines().filter(|l| l.starts_with("connected_clients:")).collect::<String>()
            });
            facts.push(format!("{mode}: {info:?}"));
            c.send(&["c"]).unwrap();
            c.read().unwrap();
            c.read().unwrap();
        }
        let (bytes, _) = monitor.read_until_close(Duration::from_millis(300));
        // Drop the timestamps and client addresses.
        let lines: Vec<String> = String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| l.split_once("] ").map_or(l.to_string(), |(_, cmd)| cmd.to_string()))
            .collect();
        facts.push(lines.join("\n"));
        seen.push(facts);
    }
    assert_eq!(seen[1], seen[0], "Ferrous (left) differs from redis-server (right)");
    assert!(seen[0][2].contains("\"set\" \"mk\" \"1\""), "{:?}", seen[0]);
}
