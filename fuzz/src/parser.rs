//! Fuzz checks of the RESP codec (depends on `ferrous_resp` only).
//!
//! This file is compiled twice: by the cargo-fuzz targets in `fuzz/fuzz_targets/`, and, on
//! stable Rust with no fuzzing engine, by `ferrous-resp/tests/fuzz_parser.rs` (through
//! `#[path]`), which feeds it a deterministic stream of random and mutated inputs in CI.
//! Every check panics on a violated invariant; a parser bug shows up as a panic either way.
use ferrous_resp::{parse_value, Limits, Parsed, ProtocolError, RequestParser, Value};

/// A tiny deterministic generator (xorshift64*), seeded from the fuzz input, so a given
/// input always chunks the same way.
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator from any seed (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Xorshift(seed.max(1))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// What feeding a stream to a [`RequestParser`] produced.
#[derive(Debug, PartialEq)]
pub struct ParseRun {
    /// Every complete command's arguments, in order.
    pub commands: Vec<Vec<Vec<u8>>>,
    /// Bytes consumed by complete commands and skipped empty ones.
    pub consumed: usize,
    /// The protocol error that stopped the stream, if any.
    pub error: Option<ProtocolError>,
}

/// Feeds `stream` to a parser in chunks of the given sizes (the last chunk takes the rest),
/// through a read buffer compacted after each read, as the server does. Checks the
/// invariants of every result on the way.
pub fn run_parser(stream: &[u8], limits: Limits, chunks: &mut dyn FnMut() -> usize) -> ParseRun {
    let mut parser = RequestParser::new(limits);
    let mut rbuf: Vec<u8> = Vec::new();
    let (mut fed, mut consumed) = (0, 0);
    let mut commands = Vec::new();
    while fed < stream.len() {
        let n = chunks().clamp(1, stream.len() - fed);
        rbuf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        let mut at = 0;
        loop {
            let buf = &rbuf[at..];
            match parser.parse(buf) {
                Err(e) => {
                    consumed += at;
                    return ParseRun { commands, consumed, error: Some(e) };
                }
                Ok(Parsed::Incomplete) => {
                    if let Some(wanted) = parser.bytes_wanted() {
                        assert!(wanted > buf.len(), "bytes_wanted() = {wanted} with {} bytes buffered", buf.len());
                        assert!(parser.in_progress(), "bytes_wanted() outside a command");
                    }
                    // Asking again without new bytes changes nothing.
                    assert_eq!(parser.parse(buf), Ok(Parsed::Incomplete), "Incomplete is not stable");
                    break;
                }
                Ok(Parsed::Empty(n)) => {
                    assert!(n > 0 && n <= buf.len(), "Empty({n}) with {} bytes", buf.len());
                    at += n;
                }
                Ok(Parsed::Command(n)) => {
                    assert!(n > 0 && n <= buf.len(), "Command({n}) with {} bytes", buf.len());
                    let args = parser.args(buf);
                    assert!(!args.is_empty(), "a command without arguments");
                    let arg_bytes: usize = args.iter().map(<[u8]>::len).sum();
                    assert!(arg_bytes <= n, "{arg_bytes} bytes of arguments from a {n}-byte command");
                    if buf[0] == b'*' {
                        // Multibulk arguments are ranges of the command's own bytes.
                        let span = buf[..n].as_ptr_range();
                        for a in args.iter() {
                            let r = a.as_ptr_range();
                            assert!(r.start >= span.start && r.end <= span.end, "argument outside its command");
                        }
                    }
                    commands.push(args.to_vec());
                    at += n;
                }
            }
            parser.reset();
        }
        consumed += at;
        rbuf.drain(..at);
    }
    ParseRun { commands, consumed, error: None }
}

/// Request parser check. The first byte picks the limits (default or tiny, to reach the
/// size errors), the next eight seed the chunking; the rest is the byte stream.
///
/// Invariants: no panic; `Command`/`Empty` sizes within the buffer; arguments inside their
/// command; `bytes_wanted` beyond what is buffered; and, while the stream is too short to
/// hit a size limit, chunked parsing gives exactly what one-shot parsing gives.
pub fn check_request_parser(input: &[u8]) {
    let (ctrl, stream) = match input.split_first() {
        Some((&c, rest)) => (c, rest),
        None => (0, input),
    };
    let (seed, stream) = if stream.len() >= 8 {
        let (s, rest) = stream.split_at(8);
        (u64::from_le_bytes(s.try_into().unwrap_or([0; 8])), rest)
    } else {
        (0, stream)
    };
    let limits = if ctrl & 1 == 0 {
        Limits::default()
    } else {
        Limits { max_bulk_len: (ctrl >> 1) as i64 * 8, max_inline_len: 16 + (ctrl >> 1) as usize * 8 }
    };
    let whole = run_parser(stream, limits, &mut || usize::MAX);
    let mut rng = Xorshift::new(seed);
    let max = match ctrl >> 5 {
        0 => 1,
        1 => 3,
        2 | 3 => 16,
        _ => 512,
    };
    let chunked = run_parser(stream, limits, &mut || rng.range(1, max));
    if stream.len() <= limits.max_inline_len {
        assert_eq!(whole, chunked, "one-shot and chunked parsing disagree (chunks <= {max})");
    } else {
        // A long stream may fail earlier when chunked (a partial header longer than the
        // limit), but never yields a different command before that point.
        let common = whole.commands.len().min(chunked.commands.len());
        assert_eq!(whole.commands[..common], chunked.commands[..common], "commands differ");
    }
}

/// True when `v` can be re-encoded faithfully: a verbatim string's format must be three
/// bytes (the parser builds it with `from_utf8_lossy`, which may widen invalid bytes).
fn encodable(v: &Value) -> bool {
    match v {
        Value::Verbatim(fmt, _) => fmt.len() == 3,
        Value::Array(items) | Value::Set(items) | Value::Push(items) => items.iter().all(encodable),
        Value::Map(pairs) => pairs.iter().all(|(k, v)| encodable(k) && encodable(v)),
        _ => true,
    }
}

/// Reply parser check: [`parse_value`] never panics; a parsed value used at most the bytes
/// given and is self-delimiting (the same from exactly its own bytes, "incomplete" from any
/// strict prefix); encoding it and parsing again reaches a fixed point.
pub fn check_reply_parser(input: &[u8]) {
    let Ok(Some((v, n))) = parse_value(input) else { return };
    assert!(n > 0 && n <= input.len(), "used {n} of {} bytes", input.len());
    assert_eq!(parse_value(&input[..n]), Ok(Some((v.clone(), n))), "not self-delimiting");
    let step = (n / 64).max(1);
    for cut in (0..n).step_by(step) {
        assert_eq!(parse_value(&input[..cut]), Ok(None), "prefix of {cut} of {n} bytes");
    }
    let _ = v.to_bytes(false);
    if encodable(&v) {
        let wire = v.to_bytes(true);
        let Ok(Some((again, m))) = parse_value(&wire) else { panic!("re-encoded value does not parse: {wire:?}") };
        assert_eq!(m, wire.len(), "re-encoded value is not one frame");
        assert_eq!(again.to_bytes(true), wire, "encode(parse(encode(v))) != encode(v)");
    }
}
