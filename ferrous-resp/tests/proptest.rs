//! Property tests of the codec, driven by a seeded RNG (no proptest dependency).
//!
//! - Random [`Value`] trees survive encode -> [`parse_value`] in RESP3 unchanged, and in RESP2
//!   come back exactly as Redis's downgrade rules say; every strict prefix of an encoding is
//!   "incomplete", never an error.
//! - Random argument lists encoded as multibulk, or inline with redis-cli's quoting, come back
//!   from [`RequestParser`] byte for byte, even when the stream arrives in random-size chunks
//!   into a read buffer that is compacted as commands are consumed (what a server does).
//!
//! Each property runs from a fixed seed, so a failure reproduces; set `FERROUS_PROPTEST_SEED`
//! to explore other seeds and `FERROUS_PROPTEST_CASES` to run more cases. Failing messages
//! name the seed and the case.
use ferrous_resp::{parse_value, Parsed, RequestParser, Value};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn seed() -> u64 {
    std::env::var("FERROUS_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_F00D)
}

fn cases(default: usize) -> usize {
    std::env::var("FERROUS_PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Value trees
// ---------------------------------------------------------------------------------------

/// Random bytes: often empty or short, sometimes long; biased towards bytes that matter to
/// RESP framing (CR, LF, digits, type markers).
fn bytes(rng: &mut impl Rng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1..=6 => rng.gen_range(1..16),
        7 | 8 => rng.gen_range(16..300),
        _ => rng.gen_range(300..5000),
    };
    let mut out = vec![0u8; len];
    rng.fill(&mut out[..]);
    for _ in 0..len / 6 {
        let at = rng.gen_range(0..len);
        out[at] = b"\r\n$*:+-0123456789"[rng.gen_range(0..17)];
    }
    out
}

/// Text without CR or LF (what simple strings, errors and big numbers may hold).
fn line_text(rng: &mut impl Rng) -> String {
    let len = rng.gen_range(0..40);
    (0..len)
        .map(|_| match rng.gen_range(0..8) {
            0 => 'é',
            1 => '✓',
            2 => ' ',
            _ => rng.gen_range(0x21u8..0x7f) as char,
        })
        .collect()
}

fn double(rng: &mut impl Rng) -> f64 {
    match rng.gen_range(0..8) {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => 0.0,
        3 => rng.gen_range(-1000i64..1000) as f64,
        4 => f64::from_bits(rng.gen::<u64>() & !(0x7ff << 52) | (rng.gen_range(0x3c0u64..0x440) << 52)),
        5 => f64::MAX * if rng.gen() { 1.0 } else { -1.0 },
        6 => f64::MIN_POSITIVE,
        _ => rng.gen::<f64>() * 1e6 - 5e5,
    }
}

/// A random value tree at most `depth` levels deep. Never NaN (NaN != NaN; see the dedicated
/// test below).
fn value(rng: &mut impl Rng, depth: u32) -> Value {
    let leaf_kinds = 11;
    let kinds = if depth == 0 { leaf_kinds } else { leaf_kinds + 4 };
    match rng.gen_range(0..kinds) {
        0 => Value::Simple(line_text(rng)),
        1 => Value::Error(format!("ERR {}", line_text(rng))),
        2 => Value::Integer(match rng.gen_range(0..4) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => rng.gen_range(-100..100),
            _ => rng.gen(),
        }),
        3 | 4 => Value::Bulk(bytes(rng)),
        5 => Value::Null,
        6 => Value::NullArray,
        7 => Value::Double(double(rng)),
        8 => Value::Boolean(rng.gen()),
        9 => {
            let digits: String = (0..rng.gen_range(1..60)).map(|_| rng.gen_range(b'0'..=b'9') as char).collect();
            Value::BigNumber(if rng.gen() { format!("-{digits}") } else { digits })
        }
        10 => {
            let fmt: String = (0..3).map(|_| rng.gen_range(b'a'..=b'z') as char).collect();
            Value::Verbatim(fmt, bytes(rng))
        }
        k => {
            let n = match rng.gen_range(0..6) {
                0 => 0,
                5 if depth == 1 => rng.gen_range(8..40),
                _ => rng.gen_range(1..5),
            };
            let mut items = || (0..n).map(|_| value(rng, depth - 1)).collect::<Vec<_>>();
            match k - leaf_kinds {
                0 => Value::Array(items()),
                1 => Value::Set(items()),
                2 => Value::Push(items()),
                _ => Value::Map((0..n).map(|_| (value(rng, depth - 1), value(rng, depth - 1))).collect()),
            }
        }
    }
}

/// What a RESP3 reader gets back: both nulls are `_` on the wire.
fn as_read_resp3(v: &Value) -> Value {
    match v {
        Value::NullArray => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(as_read_resp3).collect()),
        Value::Set(items) => Value::Set(items.iter().map(as_read_resp3).collect()),
        Value::Push(items) => Value::Push(items.iter().map(as_read_resp3).collect()),
        Value::Map(pairs) => Value::Map(pairs.iter().map(|(k, v)| (as_read_resp3(k), as_read_resp3(v))).collect()),
        other => other.clone(),
    }
}

/// What a RESP2 reader gets back, by Redis's downgrade rules: maps become flat arrays, sets
/// and pushes arrays, doubles and big numbers bulk strings, booleans 1/0, verbatim strings
/// plain bulk strings.
fn as_read_resp2(v: &Value) -> Value {
    match v {
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            Value::Array(items.iter().map(as_read_resp2).collect())
        }
        Value::Map(pairs) => {
            Value::Array(pairs.iter().flat_map(|(k, v)| [as_read_resp2(k), as_read_resp2(v)]).collect())
        }
        Value::Double(d) => Value::Bulk(
            if d.is_infinite() { if *d > 0.0 { "inf" } else { "-inf" }.to_string() } else { format!("{d}") }
                .into_bytes(),
        ),
        Value::Boolean(b) => Value::Integer(*b as i64),
        Value::BigNumber(n) => Value::Bulk(n.clone().into_bytes()),
        Value::Verbatim(_, text) => Value::Bulk(text.clone()),
        other => other.clone(),
    }
}

#[test]
fn value_trees_round_trip() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    for case in 0..cases(3000) {
        let depth = rng.gen_range(0..4);
        let v = value(&mut rng, depth);
        for resp3 in [true, false] {
            let wire = v.to_bytes(resp3);
            let expected = if resp3 { as_read_resp3(&v) } else { as_read_resp2(&v) };
            let ctx = format!("seed {seed} case {case} resp{}: {v:?}", if resp3 { 3 } else { 2 });
            assert_eq!(parse_value(&wire), Ok(Some((expected.clone(), wire.len()))), "{ctx}");

            // Followed by more bytes, the value still ends where it ended.
            let mut two = wire.clone();
            two.extend_from_slice(b":1\r\n");
            assert_eq!(parse_value(&two), Ok(Some((expected, wire.len()))), "{ctx} with a trailer");

            // Every strict prefix means "need more bytes", never an error or a value. All
            // prefixes for small encodings, a sample for large ones.
            let cuts: Vec<usize> = if wire.len() <= 300 {
                (0..wire.len()).collect()
            } else {
                (0..300).map(|_| rng.gen_range(0..wire.len())).collect()
            };
            for cut in cuts {
                assert_eq!(parse_value(&wire[..cut]), Ok(None), "{ctx} cut at {cut}");
            }
        }
    }
}

#[test]
fn doubles_round_trip_exactly() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed ^ 1);
    for case in 0..cases(20_000) {
        let d = if case % 2 == 0 { f64::from_bits(rng.gen()) } else { double(&mut rng) };
        let wire = Value::Double(d).to_bytes(true);
        let Ok(Some((Value::Double(back), n))) = parse_value(&wire) else {
            panic!("seed {seed} case {case}: {d:?} encoded as {:?} did not parse", String::from_utf8_lossy(&wire))
        };
        assert_eq!(n, wire.len());
        if d.is_nan() {
            assert!(back.is_nan(), "NaN came back as {back}");
            assert_eq!(wire, b",nan\r\n");
        } else {
            assert_eq!(back.to_bits(), d.to_bits(), "seed {seed} case {case}: {}", String::from_utf8_lossy(&wire));
        }
    }
}

#[test]
fn concatenated_values_parse_one_after_another() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed ^ 2);
    for case in 0..cases(300) {
        let values: Vec<Value> = (0..rng.gen_range(1..20)).map(|_| value(&mut rng, 2)).collect();
        let mut wire = Vec::new();
        values.iter().for_each(|v| v.encode(&mut wire, true));
        let mut at = 0;
        for (i, v) in values.iter().enumerate() {
            let Ok(Some((got, n))) = parse_value(&wire[at..]) else { panic!("seed {seed} case {case}: value {i}") };
            assert_eq!(got, as_read_resp3(v), "seed {seed} case {case}: value {i}");
            at += n;
        }
        assert_eq!(at, wire.len(), "seed {seed} case {case}");
    }
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// A random argv: binary-safe arguments, sometimes empty, sometimes larger than a chunk.
fn argv(rng: &mut impl Rng) -> Vec<Vec<u8>> {
    let n = match rng.gen_range(0..10) {
        0 => rng.gen_range(10..200),
        _ => rng.gen_range(1..6),
    };
    (0..n)
        .map(|_| match rng.gen_range(0..150) {
            0 => vec![0u8; rng.gen_range(20_000..120_000)],
            _ => bytes(rng),
        })
        .collect()
}

fn multibulk(argv: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// An argument written the way redis-cli would type it: plain when it can be, otherwise in
/// double quotes with escapes, or in single quotes. `line_start`: the argument opens the line.
fn inline_arg(rng: &mut impl Rng, arg: &[u8], line_start: bool, out: &mut Vec<u8>) {
    let plain_ok = !arg.is_empty()
        && arg.iter().all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\'')
        && !(line_start && arg[0] == b'*');
    let single_ok = !arg.contains(&b'\n') && arg.last() != Some(&b'\\');
    match rng.gen_range(0..3) {
        0 if plain_ok => out.extend_from_slice(arg),
        1 if single_ok => {
            out.push(b'\'');
            for &c in arg {
                if c == b'\'' {
                    out.push(b'\\');
                }
                out.push(c);
            }
            out.push(b'\'');
        }
        _ => {
            out.push(b'"');
            for &c in arg {
                match c {
                    b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
                    b'\n' if rng.gen() => out.extend_from_slice(b"\\n"),
                    b'\r' if rng.gen() => out.extend_from_slice(b"\\r"),
                    b'\t' if rng.gen() => out.extend_from_slice(b"\\t"),
                    c if c.is_ascii_graphic() || c == b' ' => out.push(c),
                    c if rng.gen() => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
                    c => out.extend_from_slice(format!("\\x{c:02X}").as_bytes()),
                }
            }
            out.push(b'"');
        }
    }
}

fn separator(rng: &mut impl Rng, out: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..4) {
        out.push(if rng.gen_range(0..4) == 0 { b'\t' } else { b' ' });
    }
}

fn inline(rng: &mut impl Rng, argv: &[Vec<u8>], out: &mut Vec<u8>) {
    // A line starting with `*` would be read as multibulk: indent it or quote the name.
    let indented = rng.gen_range(0..4) == 0;
    if indented {
        separator(rng, out);
    }
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            separator(rng, out);
        }
        inline_arg(rng, a, i == 0 && !indented, out);
    }
    if rng.gen_range(0..4) == 0 {
        separator(rng, out);
    }
    out.extend_from_slice(if rng.gen() { b"\r\n" } else { b"\n" });
}

/// Small arguments for inline requests (which are limited to 64 KB per line).
fn small_argv(rng: &mut impl Rng) -> Vec<Vec<u8>> {
    (0..rng.gen_range(1..8))
        .map(|_| {
            let mut a = bytes(rng);
            a.truncate(200);
            a
        })
        .collect()
}

/// Feeds `stream` to a parser in random-size chunks through a compacting read buffer, as a
/// server does, and returns every command's arguments. Chunks are at most `max_chunk` bytes
/// (raised for long streams, so that no case takes more than ~3000 steps).
fn parse_chunked(rng: &mut impl Rng, stream: &[u8], max_chunk: usize) -> Vec<Vec<Vec<u8>>> {
    let max_chunk = max_chunk.max(stream.len() / 3_000).max(1);
    let mut parser = RequestParser::default();
    let mut rbuf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut commands = Vec::new();
    while fed < stream.len() {
        let chunk = rng.gen_range(1..=max_chunk).min(stream.len() - fed);
        rbuf.extend_from_slice(&stream[fed..fed + chunk]);
        fed += chunk;
        let mut at = 0;
        loop {
            match parser.parse(&rbuf[at..]).expect("a well-formed stream never fails") {
                Parsed::Incomplete => {
                    if let Some(wanted) = parser.bytes_wanted() {
                        assert!(wanted > rbuf.len() - at, "bytes_wanted {wanted} but {} buffered", rbuf.len() - at);
                    }
                    break;
                }
                Parsed::Empty(n) => at += n,
                Parsed::Command(n) => {
                    assert!(n <= rbuf.len() - at);
                    commands.push(parser.args(&rbuf[at..]).to_vec());
                    at += n;
                }
            }
            parser.reset();
        }
        // Consume what was parsed; the unfinished command moves to the buffer's start.
        rbuf.drain(..at);
    }
    assert!(!parser.in_progress() && rbuf.is_empty(), "bytes left over: {}", rbuf.len());
    commands
}

#[test]
fn multibulk_commands_survive_any_chunking() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed ^ 3);
    for case in 0..cases(400) {
        let cmds: Vec<Vec<Vec<u8>>> = (0..rng.gen_range(1..30)).map(|_| argv(&mut rng)).collect();
        let mut stream = Vec::new();
        for c in &cmds {
            multibulk(c, &mut stream);
            // Empty multibulks are skipped by the parser, as Redis skips them.
            match rng.gen_range(0..10) {
                0 => stream.extend_from_slice(b"*0\r\n"),
                1 => stream.extend_from_slice(b"*-1\r\n"),
                _ => {}
            }
        }
        let max_chunk = [1, 3, 17, 1460, 16 * 1024, 1 << 20][rng.gen_range(0..6)];
        let got = parse_chunked(&mut rng, &stream, max_chunk);
        assert!(got == cmds, "seed {seed} case {case} (chunks <= {max_chunk}): commands differ");
    }
}

#[test]
fn inline_commands_survive_any_chunking() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed ^ 4);
    for case in 0..cases(600) {
        let cmds: Vec<Vec<Vec<u8>>> = (0..rng.gen_range(1..30)).map(|_| small_argv(&mut rng)).collect();
        let mut stream = Vec::new();
        for c in &cmds {
            inline(&mut rng, c, &mut stream);
            if rng.gen_range(0..10) == 0 {
                // Empty lines are skipped.
                stream.extend_from_slice(if rng.gen() { b"\r\n" } else { b"  \n" });
            }
        }
        let max_chunk = [1, 2, 7, 64, 1460, 1 << 20][rng.gen_range(0..6)];
        let got = parse_chunked(&mut rng, &stream, max_chunk);
        assert!(
            got == cmds,
            "seed {seed} case {case} (chunks <= {max_chunk}): {:?}\nparsed {got:?}\nexpected {cmds:?}",
            String::from_utf8_lossy(&stream)
        );
    }
}

#[test]
fn mixed_inline_and_multibulk_stream() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed ^ 5);
    for case in 0..cases(500) {
        let cmds: Vec<Vec<Vec<u8>>> = (0..rng.gen_range(1..40)).map(|_| small_argv(&mut rng)).collect();
        let mut stream = Vec::new();
        for c in &cmds {
            if rng.gen() {
                multibulk(c, &mut stream);
            } else {
                inline(&mut rng, c, &mut stream);
            }
        }
        let max_chunk = [1, 5, 100, 4096][rng.gen_range(0..4)];
        let got = parse_chunked(&mut rng, &stream, max_chunk);
        assert!(got == cmds, "seed {seed} case {case}: {:?}", String::from_utf8_lossy(&stream));
    }
}

/// The property tests above must be able to fail: a parser that dropped or altered a byte
/// would be caught. Check the checker on a deliberately wrong expectation.
#[test]
fn chunked_parse_detects_a_difference() {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut stream = Vec::new();
    multibulk(&[b"SET".to_vec(), b"k".to_vec(), b"v\r\n".to_vec()], &mut stream);
    let got = parse_chunked(&mut rng, &stream, 2);
    assert_eq!(got, vec![vec![b"SET".to_vec(), b"k".to_vec(), b"v\r\n".to_vec()]]);
    assert_ne!(got, vec![vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()]]);
}
