//! The cargo-fuzz checks of `fuzz/src/parser.rs`, run on stable Rust without a fuzzing
//! engine: a deterministic stream of random and mutated inputs from fixed seeds, a few
//! seconds in CI. A failure prints the input (hex) to add to the fuzz corpus or a unit test.
//!
//! `FERROUS_FUZZ_ITERS` scales the number of inputs per target (default 100k request inputs,
//! 100k reply inputs), `FERROUS_FUZZ_SEED` picks another seed.
#[path = "../../fuzz/src/parser.rs"]
#[allow(dead_code)]
mod checks;

use ferrous_resp::Value;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn seed() -> u64 {
    std::env::var("FERROUS_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0xF022_5EED)
}

fn iters(default: usize) -> usize {
    std::env::var("FERROUS_FUZZ_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Valid requests to start mutating from: multibulk and inline, pipelined, with empty
/// commands, large bulks and quoting.
fn request_seed(rng: &mut SmallRng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(1..6) {
        match rng.gen_range(0..6) {
            0 => out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"),
            1 => out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*0\r\n*-1\r\n"),
            2 => out.extend_from_slice(b"SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n"),
            3 => out.extend_from_slice(b"PING\n\r\n   \n"),
            4 => {
                let n = rng.gen_range(0..300);
                out.extend_from_slice(format!("*2\r\n$4\r\nECHO\r\n${n}\r\n").as_bytes());
                out.extend((0..n).map(|_| rng.gen::<u8>()));
                out.extend_from_slice(b"\r\n");
            }
            _ => {
                let argc = rng.gen_range(1..20);
                out.extend_from_slice(format!("*{argc}\r\n").as_bytes());
                for i in 0..argc {
                    out.extend_from_slice(format!("${}\r\nx{i}\r\n", 1 + i.to_string().len()).as_bytes());
                }
            }
        }
    }
    out
}

/// Valid replies to start mutating from (every RESP2/RESP3 type, nested).
fn reply_seed(rng: &mut SmallRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth == 0 { 9 } else { 13 }) {
        0 => Value::Simple("OK".into()),
        1 => Value::Error("ERR wrong".into()),
        2 => Value::Integer(rng.gen()),
        3 => Value::Bulk((0..rng.gen_range(0..40)).map(|_| rng.gen()).collect()),
        4 => Value::Null,
        5 => Value::Double(rng.gen::<f64>() * 1e10 - 5e9),
        6 => Value::Boolean(rng.gen()),
        7 => Value::BigNumber("12345678901234567890".into()),
        8 => Value::Verbatim("txt".into(), b"some text".to_vec()),
        9 => Value::Array((0..rng.gen_range(0..5)).map(|_| reply_seed(rng, depth - 1)).collect()),
        10 => Value::Set((0..rng.gen_range(0..5)).map(|_| reply_seed(rng, depth - 1)).collect()),
        11 => Value::Push((0..rng.gen_range(0..5)).map(|_| reply_seed(rng, depth - 1)).collect()),
        _ => Value::Map(
            (0..rng.gen_range(0..4)).map(|_| (reply_seed(rng, depth - 1), reply_seed(rng, depth - 1))).collect(),
        ),
    }
}

/// Bytes the RESP grammar cares about, favoured by mutations.
const INTERESTING: &[u8] = b"\r\n*$+-:_#,(=%~>|0123456789\"'\\ x";

/// Lengths that sit on the parser's limits.
const EDGE_NUMBERS: &[&str] = &[
    "-1",
    "-2",
    "0",
    "65536",
    "65537",
    "536870912",
    "536870913",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "99999999999999999999999",
    "01",
    "+1",
    "",
];

fn mutate(rng: &mut SmallRng, data: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..5) {
        let len = data.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => data[rng.gen_range(0..len)] = INTERESTING[rng.gen_range(0..INTERESTING.len())],
            1 if len > 0 => data[rng.gen_range(0..len)] ^= 1 << rng.gen_range(0..8),
            2 => data.insert(rng.gen_range(0..=len), INTERESTING[rng.gen_range(0..INTERESTING.len())]),
            3 if len > 0 => {
                data.remove(rng.gen_range(0..len));
            }
            4 if len > 0 => data.truncate(rng.gen_range(0..len)),
            5 => {
                // Replace a run of digits (a length) with an edge value.
                if let Some(start) = (0..len).map(|_| rng.gen_range(0..len)).find(|&i| data[i].is_ascii_digit()) {
                    let end = (start..len).find(|&i| !data[i].is_ascii_digit()).unwrap_or(len);
                    let edge = EDGE_NUMBERS[rng.gen_range(0..EDGE_NUMBERS.len())];
                    data.splice(start..end, edge.bytes());
                }
            }
            6 if len > 0 => {
                // Duplicate a slice (pipelining, nesting).
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 64));
                let piece = data[a..b].to_vec();
                let at = rng.gen_range(0..=len);
                data.splice(at..at, piece);
            }
            _ => data.extend((0..rng.gen_range(0..8)).map(|_| INTERESTING[rng.gen_range(0..INTERESTING.len())])),
        }
    }
}

/// Random bytes, mostly from the grammar's alphabet.
fn noise(rng: &mut SmallRng) -> Vec<u8> {
    (0..rng.gen_range(0..200))
        .map(|_| if rng.gen_range(0..4) == 0 { rng.gen() } else { INTERESTING[rng.gen_range(0..INTERESTING.len())] })
        .collect()
}

fn run(name: &str, input: &[u8], check: fn(&[u8])) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(input))) {
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        eprintln!("{name}: failing input ({} bytes): {hex}", input.len());
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn request_parser_random_and_mutated_inputs() {
    let mut rng = SmallRng::seed_from_u64(seed());
    for i in 0..iters(100_000) {
        // Control byte and chunking seed first (see `check_request_parser`).
        let mut input = vec![rng.gen::<u8>()];
        input.extend_from_slice(&rng.gen::<u64>().to_le_bytes());
        let body = match i % 3 {
            0 => noise(&mut rng),
            _ => {
                let mut d = request_seed(&mut rng);
                mutate(&mut rng, &mut d);
                d
            }
        };
        input.extend_from_slice(&body);
        run("request_parser", &input, checks::check_request_parser);
    }
}

#[test]
fn request_parser_long_lines_hit_the_limits() {
    let mut rng = SmallRng::seed_from_u64(seed() ^ 1);
    for i in 0..iters(100_000) / 2_000 {
        // Chunks up to 512 bytes: one-byte chunks of a 64 KB line cost ~2G byte comparisons in a
        // debug build (the parser rescans a partial line for its newline, as Redis does).
        let mut input = vec![(i % 2) as u8 | 0x80 | (rng.gen::<u8>() & 0x60)];
        input.extend_from_slice(&rng.gen::<u64>().to_le_bytes());
        match i % 4 {
            0 => input.extend_from_slice(&[b'a'; 70_000]),
            1 => {
                input.push(b'*');
                input.extend_from_slice(&[b'1'; 70_000]);
            }
            2 => {
                input.extend_from_slice(b"*1\r\n$");
                input.extend_from_slice(&[b'9'; 70_000]);
            }
            _ => input.extend_from_slice(&request_seed(&mut rng).repeat(200)),
        }
        run("request_parser", &input, checks::check_request_parser);
    }
}

#[test]
fn reply_parser_random_and_mutated_inputs() {
    let mut rng = SmallRng::seed_from_u64(seed() ^ 2);
    for i in 0..iters(100_000) {
        let input = match i % 3 {
            0 => noise(&mut rng),
            _ => {
                let depth = rng.gen_range(0..4);
                let mut d = reply_seed(&mut rng, depth).to_bytes(rng.gen());
                mutate(&mut rng, &mut d);
                d
            }
        };
        run("reply_parser", &input, checks::check_reply_parser);
    }
}

#[test]
fn reply_parser_deep_nesting_is_refused_not_overflowed() {
    let deep = b"*1\r\n".repeat(100_000);
    run("reply_parser", &deep, checks::check_reply_parser);
    let deep_maps = b"%1\r\n".repeat(100_000);
    run("reply_parser", &deep_maps, checks::check_reply_parser);
}

/// The harness itself: what `run_parser` reports for a known stream, chunked or not.
#[test]
fn harness_reports_commands_errors_and_consumption() {
    let stream = b"*1\r\n$4\r\nPING\r\nECHO x\r\n*1\r\n$3\r\nGE";
    for chunk in [1, 2, 5, usize::MAX] {
        let run = checks::run_parser(stream, ferrous_resp::Limits::default(), &mut || chunk);
        assert_eq!(run.commands, vec![vec![b"PING".to_vec()], vec![b"ECHO".to_vec(), b"x".to_vec()]]);
        assert_eq!((run.consumed, run.error), (22, None), "chunk {chunk}");
    }
    let run = checks::run_parser(b"PING\r\n*1\r\nfoo\r\n", ferrous_resp::Limits::default(), &mut || 3);
    assert_eq!((run.commands.len(), run.consumed), (1, 6));
    assert_eq!(run.error, Some(ferrous_resp::ProtocolError::ExpectedDollar(b'f')));
}
