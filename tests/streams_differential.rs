//! Stream differential test over TCP: the same stream command scripts go to a fresh
//! redis-server 7.0 (the oracle, on a port in 7650..7700) and a fresh Ferrous, over RESP2 and
//! RESP3; every reply must be byte-for-byte identical.
//!
//! Scripts (in this file) are lines of commands. `@name` before a command runs it on another
//! connection (opened on first use); `@name &cmd` sends without reading (a blocking read),
//! `@name <` reads that reply later; `sleep MS` waits; `unblock NAME [ERROR]` sends CLIENT
//! UNBLOCK for that connection's id. A command prefixed with `~` is compared with its
//! time-dependent integers masked (absolute times and idle times: every integer reply, and
//! IDs whose milliseconds look like the clock), for XINFO FULL, XPENDING and XINFO CONSUMERS.
//! A command prefixed with `%` is compared with only the consumers' `seen-time` and
//! `active-time` masked (the two servers see the same consumer a millisecond apart at
//! times); every other value must match.
//! DUMP payloads are compared too, so node splitting, listpack bytes, PELs and metadata must
//! match Redis exactly, and DUMPs are restored across the two servers.
//!
//! Skipped (with `SKIPPED: ...`) when redis-server is not installed, except under CI.
mod common;

use common::{RespConn, Rng, TestServer};
use std::collections::HashMap;
use std::time::Duration;

/// Ports this suite's redis-server oracles use.
const PORTS: std::ops::Range<u16> = 7650..7700;

struct Side {
    server: TestServer,
    conns: HashMap<String, RespConn>,
    resp3: bool,
}

impl Side {
    fn conn(&mut self, name: &str) -> &mut RespConn {
        if !self.conns.contains_key(name) {
            let mut c = RespConn::connect(self.server.addr()).expect("connect");
            if self.resp3 {
                c.call(&["HELLO", "3"]).expect("hello");
            }
            self.conns.insert(name.to_string(), c);
        }
        self.conns.get_mut(name).expect("connection")
    }
}

/// Splits a script line into arguments (double quotes group, `\xNN` escapes inside).
fn split(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut in_q = false;
    let mut has = false;
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_q {
            if c == b'"' {
                in_q = false;
            } else if c == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
                cur.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            } else {
                cur.push(c);
            }
        } else if c == b'"' {
            in_q = true;
            has = true;
        } else if c == b' ' {
            if has || !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
                has = false;
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Masks time-dependent integers: every `:n` integer and clock-like IDs.
fn mask(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    for tok in text.split("\r\n") {
        if tok.starts_with(':') {
            out.push_str(":#");
        } else if tok.len() >= 13 && tok.as_bytes()[..13].iter().all(u8::is_ascii_digit) && tok.contains('-') {
            out.push_str("T-ID");
        } else if tok.starts_with('$') {
            out.push('$');
        } else {
            out.push_str(tok);
        }
        out.push('|');
    }
    out.into_bytes()
}

/// Masks the integer after each `seen-time` / `active-time` key (RESP2 and RESP3 alike),
/// nothing else.
fn mask_consumer_times(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut after_time_key = false;
    for tok in text.split("\r\n") {
        if after_time_key && tok.starts_with(':') {
            out.push_str(":#");
            after_time_key = false;
        } else {
            out.push_str(tok);
            if !tok.starts_with('$') {
                after_time_key = matches!(tok.trim_start_matches('+'), "seen-time" | "active-time");
            }
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// A reply normaliser for a prefixed script line.
type Masker = fn(&[u8]) -> Vec<u8>;

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace("\r\n", "\\r\\n")
}

/// Runs `script` on both servers, comparing every reply. Returns the DUMP payloads seen.
fn run_script(redis: &mut Side, ferrous: &mut Side, name: &str, script: &str) {
    for side in [&mut *redis, &mut *ferrous] {
        side.conn("a").call(&["FLUSHALL"]).expect("flushall");
    }
    let mut ids: HashMap<(bool, String), i64> = HashMap::new();
    for (n, line) in script.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().expect("sleep ms")));
            continue;
        }
        let (conn, rest) = match line.strip_prefix('@') {
            Some(r) => {
                let (c, rest) = r.split_once(' ').unwrap_or((r, ""));
                (c.to_string(), rest.trim())
            }
            None => ("a".to_string(), line),
        };
        let mut replies = Vec::new();
        for (is_redis, side) in [(true, &mut *redis), (false, &mut *ferrous)] {
            if let std::collections::hash_map::Entry::Vacant(slot) = ids.entry((is_redis, conn.clone())) {
                let id = match side.conn(&conn).call(&["CLIENT", "ID"]).expect("client id").value {
                    common::Resp::Int(i) => i,
                    other => panic!("CLIENT ID: {other:?}"),
                };
                slot.insert(id);
            }
            let reply = if rest == "<" {
                Some(side.conn(&conn).read().expect("pending reply").raw)
            } else if let Some(cmd) = rest.strip_prefix('&') {
                side.conn(&conn).send(&split(cmd)).expect("send");
                None
            } else if let Some(target) = rest.strip_prefix("unblock ") {
                let mut parts = target.split(' ');
                let who = parts.next().expect("target").to_string();
                let id = ids[&(is_redis, who)].to_string();
                let mut args = vec!["CLIENT".to_string(), "UNBLOCK".to_string(), id];
                args.extend(parts.map(str::to_string));
                Some(side.conn(&conn).call(&args).expect("unblock").raw)
            } else {
                let (masker, cmd): (Option<Masker>, &str) = match rest.as_bytes().first() {
                    Some(b'~') => (Some(mask), &rest[1..]),
                    Some(b'%') => (Some(mask_consumer_times), &rest[1..]),
                    _ => (None, rest),
                };
                let raw = side.conn(&conn).call(&split(cmd)).expect("call").raw;
                Some(match masker {
                    Some(m) => m(&raw),
                    None => raw,
                })
            };
            replies.push(reply);
        }
        if rest.starts_with('&') {
            // Let both servers register the blocked client (generous: the machine may be busy).
            std::thread::sleep(Duration::from_millis(150));
        }
        assert_eq!(
            replies[0].as_deref().map(show),
            replies[1].as_deref().map(show),
            "{name} ({}), line {}: {line}",
            if redis.resp3 { "RESP3" } else { "RESP2" },
            n + 1
        );
    }
}

const BASICS: &str = r#"
xadd s 1-1 a 1 b 2
xadd s 2-1 a 3 b 4
xadd s 3-1 c 3
xadd s 3-1 c 3
xadd s 0-0 c 3
xadd s 3-* c 3
xadd s 5 c 3
xadd s maxlen 3 6-1 x y
xrange s - +
xrevrange s + -
xrange s (3-1 +
xrevrange s (6-1 (3-1
xrange s - + count 2
xrange s - + count 0
xrevrange s + - count 1
xrange s 3 3
xlen s
dump s
xdel s 3-2 99-9
xinfo stream s
~xinfo stream s full
xgroup create s g 0
xgroup create s g 0
xgroup create nokey g 0
xgroup create s2 g $ mkstream
xreadgroup group g c1 count 2 streams s >
xinfo groups s
~xinfo consumers s g
xpending s g
~xpending s g - + 10
~xpending s g - + 10 c1
xack s g 3-1
xreadgroup group g c1 streams s 0
xclaim s g c2 0 3-1
xclaim s g c2 0 5-0 justid
~xautoclaim s g c3 0 0 count 1
~xautoclaim s g c3 0 0
~xinfo stream s full
xtrim s maxlen 1
xtrim s minid ~ 1000
xsetid s 100-0
xsetid s 1-0
xinfo stream s
xgroup setid s g 0 entriesread 3
xgroup delconsumer s g c3
xgroup destroy s g
xgroup help
xinfo help
xread count 1 streams s s2 0 0
xread streams s $
xtrim s2 maxlen ~ 0
type s
object encoding s
xadd k nomkstream 1-1 a b
exists k
copy s s3
xrange s3 - +
rename s3 s4
xinfo stream s4
"#;

const ERRORS: &str = r#"
xadd s 10-1 a 1
xadd s 20-1 a 1
xdel s 20-1
xsetid s 15-0
xsetid s 10-1 maxdeletedid 10-2
xsetid s 30-0 entriesadded 0
xsetid s 30-0 entriesadded 5 maxdeletedid 25-0
xinfo stream s
xsetid nokey 1-1
xsetid s abc
xsetid s 40-0 foo
xadd s maxlen ~ 0 limit 10 50-0 a b
xadd s maxlen 0 limit 10 51-0 a b
xadd s limit 10 52-0 a b
xadd s limit 0 52-0 a b
xadd s maxlen -1 53-0 a b
xadd s maxlen 1 minid 2 53-0 a b
xadd s maxlen abc 53-0 a b
xadd s 54-0 a
xadd s * a
xadd s 18446744073709551615-18446744073709551615 a b
xadd s * a b
xadd s 18446744073709551615-* a b
xtrim s
xtrim s foo 1
xtrim s maxlen 1 limit 5
xtrim s maxlen ~ 1 limit -1
xtrim nokey maxlen foo
xrange s + -
xrange s (+ +
xrange s - (-
xrange s (0-0 (18446744073709551615-18446744073709551615
xrange s abc +
xrange s - + count
xrange s - + count -5
xrange s - + foo 1
xrange s " 5" +
xrange s 007 +
xread count 1 streams s
xread foo streams s 0
xread streams s >
xread group g c streams s 0
xread noack streams s 0
xread block -1 streams s 0
xread block abc streams s 0
xread count abc streams s 0
xreadgroup streams s 0
xreadgroup group g c streams s >
xgroup create s g $
xreadgroup group g c streams s $
xreadgroup group g c streams s >
xreadgroup group g c streams s 0
xreadgroup group g c streams s abc
xreadgroup group g c count 1 streams s 0-0
xgroup createconsumer s g c
xgroup createconsumer s g c2
xgroup createconsumer s nog c
xgroup delconsumer s nog c
xgroup setid s nog 0
xgroup destroy s nog
xgroup destroy nokey g
xgroup create s g2 0 entriesread -2
xgroup create s g2 0 entriesread 5 foo
xgroup create s g2 0 foo
xgroup setid s g 0 foo
xgroup setid s g 0 entriesread
xgroup foo s g
%xinfo stream s full count 1
xinfo stream s foo
xinfo stream s full foo 1
xinfo stream nokey
xinfo groups nokey
xinfo consumers s nog
xinfo foo
set str x
xadd str 1-1 a b
xrange str - +
xinfo stream str
xgroup create str g 0
xread streams str 0
xreadgroup group g c streams str >
xpending str g
xpending s nog
xpending s g foo
xpending s g - + 10 c 1
xpending s g idle 10 - +
xpending s g idle abc - + 10
xpending s g - + abc
xpending s g (- + 10
xclaim s nog c 0 1-1
xclaim s g c abc 1-1
xclaim s g c 0 1-1 foo
xclaim s g c 0 1-1 idle abc
xclaim s g c 0 1-1 retrycount abc
xautoclaim s g c abc 0
xautoclaim s g c 0 abc
xautoclaim s g c 0 0 count 0
xautoclaim s g c 0 0 count abc
xautoclaim s g c 0 0 foo
xautoclaim s nog c 0 0
xack s g abc
xack s nog abc
xdel s abc
xdel nokey abc
"#;

const NODES: &str = r#"
eval "for i=1,250 do redis.call('xadd','s',i..'-1','f','v') end" 0
xinfo stream s
dump s
xadd s maxlen ~ 10 999-1 f v
xinfo stream s
eval "for i=1,1000 do redis.call('xadd','t',i..'-'..i,'f'..(i%3),i) end" 0
xinfo stream t
dump t
xdel t 5-5 6-6 7-7 500-500
xinfo stream t
xtrim t minid 300
xinfo stream t
xtrim t minid ~ 600
xtrim t maxlen ~ 200 limit 150
xinfo stream t
dump t
xgroup create t g1 0
xgroup create t g2 $
xgroup create t g3 700-700 entriesread 10
xreadgroup group g1 alice count 3 streams t >
xreadgroup group g1 bob count 2 streams t >
xreadgroup group g1 bob noack count 2 streams t >
xinfo groups t
xdel t 995-995
xinfo groups t
~xinfo stream t full count 3
xclaim t g1 carol 0 701-701 702-702 time 1000 retrycount 7
~xinfo stream t full
xadd t 2000-1 bigfield 0123456789012345678901234567890123456789012345678901234567890123456789
xadd t 2000-2 n -5 m 123456789012 k 99999999999999999999 z 3.5
xrange t 1999 +
config set stream-node-max-entries 5
eval "for i=1,30 do redis.call('xadd','u',i..'-0','f',i) end" 0
xinfo stream u
dump u
config set stream-node-max-bytes 100
eval "for i=1,30 do redis.call('xadd','v',i..'-0','field',string.rep('x',i)) end" 0
xinfo stream v
dump v
xdel v 1-0 2-0 3-0 4-0 5-0 6-0
xinfo stream v
xrevrange v + - count 3
config set stream-node-max-entries 100
config set stream-node-max-bytes 4096
"#;

const LAG: &str = r#"
xgroup create s g $ mkstream
xinfo groups s
xadd s 1-1 a 1
xadd s 2-1 a 1
xadd s 3-1 a 1
xadd s 4-1 a 1
xgroup create s g2 0
xgroup create s g3 2-1
xinfo groups s
xreadgroup group g c count 1 streams s >
xreadgroup group g2 c count 2 streams s >
xinfo groups s
xdel s 3-1
xinfo groups s
xreadgroup group g2 c streams s >
xinfo groups s
xdel s 1-1
xinfo groups s
xtrim s maxlen 0
xinfo groups s
xinfo stream s
xadd s 10-1 a 1
xgroup setid s g3 10-1
xinfo groups s
xgroup setid s g3 0 entriesread 0
xinfo groups s
xreadgroup group g3 c streams s >
xinfo groups s
"#;

const BLOCKING: &str = r#"
xgroup create s g $ mkstream
@b &xreadgroup group g c1 block 0 streams s >
xadd s 1-1 f v
@b <
xpending s g
@b &xread block 0 streams s $
@c &xread block 0 count 1 streams nokey s $ $
xadd s 2-1 f v
@b <
@c <
@b &xreadgroup group g c1 block 0 streams s >
@c &xreadgroup group g c2 block 0 streams s >
xadd s 3-1 f v
@b <
xadd s 4-1 f v
@c <
@b &xreadgroup group g c1 block 0 streams s >
del s
@b <
xgroup create s g $ mkstream
@b &xreadgroup group g c1 block 0 streams s >
set s x
@b <
del s
xgroup create s g $ mkstream
@b &xreadgroup group g c1 block 0 streams s >
xgroup destroy s g
@b <
@b &xread block 0 streams s $
unblock b
@b <
@b &xread block 0 streams s $
unblock b error
@b <
@b xread block 50 streams s $
@b xreadgroup group nog c block 50 streams s >
xgroup create s g2 $
@b xreadgroup group g2 c block 50 streams s >
multi
xread block 0 streams s $
exec
@b &xread block 0 streams s2 0
xadd s2 5-1 a b
@b <
eval "return redis.call('xread','block','0','streams','s','$')" 0
eval "return redis.call('XREADGROUP','GROUP','g','c','block','0','streams','s','>')" 0
eval "return redis.call('xread','streams','s2','0')" 0
xgroup create s3 g $ mkstream
@b &xreadgroup group g c1 block 0 streams s3 >
flushall
@b <
xgroup create s4 g $ mkstream
@b &xreadgroup group g c1 block 0 streams s4 >
swapdb 0 1
@b <
"#;

const DUMP_RESTORE: &str = r#"
xadd s 1-1 a 1 b 2
xadd s 2-1 a 3
xgroup create s g 0
xreadgroup group g alice count 1 streams s >
xclaim s g bob 0 1-1 time 12345 retrycount 3
xgroup createconsumer s g carol
xgroup create s g2 $ entriesread 7
~xinfo stream s full
xadd e 5-5 x y
xdel e 5-5
dump e
"#;

fn script_cases() -> Vec<(&'static str, &'static str)> {
    vec![
        ("basics", BASICS),
        ("errors", ERRORS),
        ("nodes", NODES),
        ("lag", LAG),
        ("blocking", BLOCKING),
        ("dump", DUMP_RESTORE),
    ]
}

fn start_pair(resp3: bool) -> Option<(Side, Side)> {
    common::use_redis_ports(PORTS);
    let redis = TestServer::redis(&[])?;
    let ferrous = TestServer::ferrous(&[]);
    Some((Side { server: redis, conns: HashMap::new(), resp3 }, Side { server: ferrous, conns: HashMap::new(), resp3 }))
}

#[test]
fn scripts_resp2_and_resp3() {
    for resp3 in [false, true] {
        let Some((mut redis, mut ferrous)) = start_pair(resp3) else { return };
        for (name, script) in script_cases() {
            run_script(&mut redis, &mut ferrous, name, script);
        }
    }
}

/// DUMP payloads restore across the two servers: Redis's into Ferrous and Ferrous's into
/// Redis, both giving the same XINFO STREAM FULL and the same DUMP again.
#[test]
fn dump_restore_across() {
    let Some((mut redis, mut ferrous)) = start_pair(false) else { return };
    for side in [&mut redis, &mut ferrous] {
        for line in DUMP_RESTORE.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("dump")) {
            side.conn("a").call(&split(line)).expect("setup");
        }
    }
    for key in ["s", "e"] {
        let from_redis = redis.conn("a").call(&["DUMP", key]).expect("dump").value;
        let from_ferrous = ferrous.conn("a").call(&["DUMP", key]).expect("dump").value;
        let (common::Resp::Bulk(rp), common::Resp::Bulk(fp)) = (from_redis, from_ferrous) else {
            panic!("DUMP did not return payloads")
        };
        let target = format!("{key}-copy");
        let r = ferrous.conn("a").call(&[b"RESTORE".to_vec(), target.clone().into_bytes(), b"0".to_vec(), rp.clone()]);
        assert_eq!(show(&r.expect("restore").raw), "+OK\\r\\n");
        let r = redis.conn("a").call(&[b"RESTORE".to_vec(), target.clone().into_bytes(), b"0".to_vec(), fp.clone()]);
        assert_eq!(show(&r.expect("restore").raw), "+OK\\r\\n");
        let a = redis.conn("a").call(&["XINFO", "STREAM", &target, "FULL"]).expect("xinfo").raw;
        let b = ferrous.conn("a").call(&["XINFO", "STREAM", &target, "FULL"]).expect("xinfo").raw;
        assert_eq!(show(&mask(&a)), show(&mask(&b)));
        // Round trips are byte-exact: each side dumps the other's payload back unchanged.
        let a = redis.conn("a").call(&["DUMP", &target]).expect("dump").value;
        let b = ferrous.conn("a").call(&["DUMP", &target]).expect("dump").value;
        assert_eq!(a, common::Resp::Bulk(fp), "Redis's DUMP of Ferrous's payload of {key}");
        assert_eq!(b, common::Resp::Bulk(rp), "Ferrous's DUMP of Redis's payload of {key}");
    }
    // A corrupt payload is refused, not a panic.
    let mut bad = match ferrous.conn("a").call(&["DUMP", "s"]).expect("dump").value {
        common::Resp::Bulk(b) => b,
        other => panic!("{other:?}"),
    };
    bad[20] ^= 0x55;
    let r = ferrous.conn("a").call(&[b"RESTORE".to_vec(), b"bad".to_vec(), b"0".to_vec(), bad]).expect("restore");
    assert!(matches!(r.value, common::Resp::Error(_)), "{}", show(&r.raw));
    assert_eq!(show(&ferrous.conn("a").call(&["PING"]).expect("ping").raw), "+PONG\\r\\n");
}

/// Random XADD/XDEL/XTRIM/XREADGROUP/XACK/XCLAIM sequences, compared reply by reply and by
/// DUMP at the end of each round (node layout, deletions, PELs, counters).
#[test]
fn random_operations() {
    let seeds: Vec<u64> = match std::env::var("FERROUS_STREAM_SEED") {
        Ok(s) => vec![s.parse().expect("seed")],
        Err(_) => vec![1, 2, 3],
    };
    let Some((mut redis, mut ferrous)) = start_pair(false) else { return };
    for seed in seeds {
        let mut rng = Rng::new(seed);
        let mut script = String::new();
        let mut ms = 1u64;
        script.push_str("config set stream-node-max-entries 7\nconfig set stream-node-max-bytes 300\n");
        script.push_str("xgroup create s g 0 mkstream\nxgroup create s h $\n");
        for _ in 0..600 {
            let line = match rng.below(12) {
                0..=4 => {
                    ms += rng.below(3);
                    let nf = 1 + rng.below(3);
                    let mut l = format!("xadd s {}-* ", ms);
                    if rng.chance(10) {
                        l = format!("xadd s maxlen ~ {} {}-* ", rng.below(40), ms);
                    }
                    for f in 0..nf {
                        let field = if rng.chance(70) { format!("f{f}") } else { format!("x{}", rng.below(5)) };
                        l.push_str(&format!("{field} {} ", rng.below(300) as i64 - 20));
                    }
                    l
                }
                5 => format!("xdel s {}-{} {}-0", rng.below(ms + 1), rng.below(3), rng.below(ms + 1)),
                6 => match rng.below(3) {
                    0 => format!("xtrim s maxlen {}", rng.below(60)),
                    1 => format!("xtrim s minid ~ {}", rng.below(ms + 1)),
                    _ => format!("xtrim s maxlen ~ {} limit {}", rng.below(60), rng.below(20)),
                },
                7 => format!(
                    "xreadgroup group {} c{} count {} streams s >",
                    rng.pick(&["g", "h"]),
                    rng.below(3),
                    rng.below(5)
                ),
                8 => format!("xack s g {}-0 {}-1", rng.below(ms + 1), rng.below(ms + 1)),
                9 => format!("xclaim s g c{} 0 {}-0 {}-1 justid", rng.below(3), rng.below(ms + 1), rng.below(ms + 1)),
                10 => format!("xrevrange s + - count {}", rng.below(10)),
                _ => "xinfo groups s".to_string(),
            };
            script.push_str(&line);
            script.push('\n');
            if rng.chance(5) {
                script.push_str("xinfo stream s\nxpending s g\n~xinfo stream s full\n");
            }
        }
        // Group times differ by milliseconds between the servers: DUMP without them.
        script.push_str("xgroup destroy s g\nxgroup destroy s h\ndump s\nxrange s - +\nconfig set stream-node-max-entries 100\nconfig set stream-node-max-bytes 4096\n");
        run_script(&mut redis, &mut ferrous, &format!("random seed {seed}"), &script);
    }
}

/// `%` masks only the consumers' times: any other value still differs after masking.
#[test]
fn consumer_time_mask_is_narrow() {
    let resp3 = b"%2\r\n$4\r\nname\r\n$1\r\nc\r\n$9\r\nseen-time\r\n:1700000000123\r\n$9\r\npel-count\r\n:3\r\n";
    let other = b"%2\r\n$4\r\nname\r\n$1\r\nc\r\n$9\r\nseen-time\r\n:1700000000124\r\n$9\r\npel-count\r\n:3\r\n";
    assert_eq!(mask_consumer_times(resp3), mask_consumer_times(other));
    let count = b"%2\r\n$4\r\nname\r\n$1\r\nc\r\n$9\r\nseen-time\r\n:1700000000124\r\n$9\r\npel-count\r\n:4\r\n";
    assert_ne!(mask_consumer_times(resp3), mask_consumer_times(count));
    let resp2 = b"*4\r\n$11\r\nactive-time\r\n:5\r\n$7\r\nentries\r\n:5\r\n";
    assert_eq!(
        show(&mask_consumer_times(resp2)),
        "*4\\r\\n$11\\r\\nactive-time\\r\\n:#\\r\\n$7\\r\\nentries\\r\\n:5\\r\\n\\r\\n"
    );
}
