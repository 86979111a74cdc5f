//! RESP codec throughput.
//!
//! - `request_parser/*`: [`RequestParser`] over a pipelined buffer of SET/GET commands, the
//!   way a server event loop drains its read buffer (parse, read the arguments, reset, move
//!   on), in MB/s of input. Multibulk (what clients send) and inline (what `redis-cli` and
//!   `redis-benchmark -t ping_inline` send).
//! - `value_encode/*`: encoding reply trees with [`Value::encode`], in MB/s of output.
//! - `parse_value`: the reply parser on the same trees.
//!
//! Run with `cargo bench --bench resp`.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrous::resp::{parse_value, Parsed, RequestParser, Value};

/// Commands in the pipelined buffer (about 300 KB of multibulk).
const COMMANDS: usize = 8_000;

fn multibulk(argv: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Alternating `SET key:<n> <16-byte value>` / `GET key:<n>`, as redis-benchmark -P sends.
fn pipeline_multibulk() -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..COMMANDS {
        let key = format!("key:{:012}", i % 1000);
        if i % 2 == 0 {
            multibulk(&[b"SET", key.as_bytes(), b"xxxxxxxxxxxxxxxx"], &mut buf);
        } else {
            multibulk(&[b"GET", key.as_bytes()], &mut buf);
        }
    }
    buf
}

fn pipeline_inline() -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..COMMANDS {
        let key = format!("key:{:012}", i % 1000);
        if i % 2 == 0 {
            buf.extend_from_slice(format!("SET {key} xxxxxxxxxxxxxxxx\r\n").as_bytes());
        } else {
            buf.extend_from_slice(format!("GET {key}\r\n").as_bytes());
        }
    }
    buf
}

/// Parses every command of `buf`, touching each argument; returns (commands, arg bytes).
fn drain(parser: &mut RequestParser, buf: &[u8]) -> (usize, usize) {
    let (mut at, mut commands, mut bytes) = (0, 0, 0);
    loop {
        match parser.parse(&buf[at..]) {
            Ok(Parsed::Command(n)) => {
                let args = parser.args(&buf[at..]);
                bytes += args.iter().map(|a| a.len()).sum::<usize>();
                commands += 1;
                at += n;
            }
            Ok(Parsed::Empty(n)) => at += n,
            Ok(Parsed::Incomplete) | Err(_) => break,
        }
        parser.reset();
    }
    (commands, bytes)
}

fn request_parser(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_parser");
    for (name, buf) in [("multibulk_set_get", pipeline_multibulk()), ("inline_set_get", pipeline_inline())] {
        let mut parser = RequestParser::default();
        assert_eq!(drain(&mut parser, &buf).0, COMMANDS, "{name}: every command must parse");
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(drain(&mut parser, black_box(&buf)))));
    }
    // The same multibulk stream arriving in 1460-byte TCP segments: every segment boundary
    // that cuts a command costs one Incomplete and a resumed parse.
    let buf = pipeline_multibulk();
    g.throughput(Throughput::Bytes(buf.len() as u64));
    let mut parser = RequestParser::default();
    g.bench_function("multibulk_segments_1460", |b| {
        b.iter(|| {
            let (mut start, mut end, mut arg_bytes) = (0, 0, 0);
            while end < buf.len() {
                end = (end + 1460).min(buf.len());
                loop {
                    match parser.parse(&buf[start..end]) {
                        Ok(Parsed::Command(n)) => {
                            arg_bytes += parser.args(&buf[start..end]).iter().map(|a| a.len()).sum::<usize>();
                            start += n;
                            parser.reset();
                        }
                        Ok(Parsed::Empty(n)) => {
                            start += n;
                            parser.reset();
                        }
                        Ok(Parsed::Incomplete) | Err(_) => break,
                    }
                }
            }
            black_box(arg_bytes)
        })
    });
    g.finish();
}

/// Reply trees typical of a server: a bulk, an integer, a 100-element array of bulks (LRANGE,
/// MGET), a RESP3 map (HGETALL, CONFIG GET).
fn replies() -> Vec<(&'static str, Value)> {
    let bulks = (0..100).map(|i| Value::bulk(format!("element-{i:06}"))).collect();
    let map = (0..50).map(|i| (Value::bulk(format!("field{i}")), Value::Integer(i * 1000))).collect();
    vec![
        ("bulk_16", Value::bulk("xxxxxxxxxxxxxxxx")),
        ("integer", Value::Integer(1_234_567)),
        ("array_100_bulks", Value::Array(bulks)),
        ("map_50", Value::Map(map)),
    ]
}

fn value_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("value_encode");
    let mut out = Vec::with_capacity(64 * 1024);
    for (name, v) in replies() {
        for resp3 in [false, true] {
            let len = v.to_bytes(resp3).len();
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_function(format!("{name}/resp{}", if resp3 { 3 } else { 2 }), |b| {
                b.iter(|| {
                    out.clear();
                    black_box(&v).encode(&mut out, resp3);
                    black_box(out.len())
                })
            });
        }
    }
    g.finish();
}

fn reply_parser(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_value");
    for (name, v) in replies() {
        let bytes = v.to_bytes(true);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(parse_value(black_box(&bytes)))));
    }
    g.finish();
}

criterion_group!(benches, request_parser, value_encode, reply_parser);
criterion_main!(benches);
