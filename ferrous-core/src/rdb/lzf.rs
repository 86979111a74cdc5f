//! LZF, the compression of RDB strings (`rdbcompression`), written here rather than taken
//! from a crate because DUMP payloads must be byte-identical to Redis's: the compressor has
//! to make exactly the choices of the liblzf 3.6 build Redis embeds (16-bit hash table,
//! `VERY_FAST` hashing, its particular match-length scan and its output-space checks), which
//! no maintained pure-Rust crate promises. Decompression is the format itself.
//!
//! Format: a sequence of
//! - `000LLLLL` + L+1 literal bytes;
//! - `LLLooooo oooooooo`: copy L+2 bytes from `o+1` bytes back (L in 1..=6);
//! - `111ooooo LLLLLLLL oooooooo`: copy L+9 bytes from `o+1` bytes back.
//!
//! The compressor hashes the three bytes at each position into a table of earlier
//! positions; a candidate within 8 KB whose first three bytes match starts a back-reference.
//! liblzf leaves its table uninitialised; the only behaviour that matters (and that Redis's
//! output shows) is "a slot never written in this call finds nothing", which this version
//! gets without clearing 256 KB per call: slots hold positions offset by a per-thread base
//! that moves past every input, so slots from earlier calls read as empty.
use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
/// liblzf takes `unsigned int` lengths; longer inputs are stored uncompressed.
const MAX_INPUT: usize = (u32::MAX / 4) as usize;

/// liblzf's `VERY_FAST` slot of a hash value (all arithmetic in 32-bit wrapping unsigned).
#[inline]
fn slot(h: u32) -> usize {
    ((h >> (24 - HLOG)).wrapping_sub(h.wrapping_mul(5)) & (HSIZE as u32 - 1)) as usize
}

struct Table {
    slots: Vec<u32>,
    /// Value of position 0 of the current input; slots at or below it are empty.
    base: u32,
}

impl Table {
    fn new() -> Table {
        Table { slots: vec![0; HSIZE], base: 0 }
    }
    /// Makes room for an input of `n` bytes and returns the base for it.
    fn begin(&mut self, n: usize) -> u32 {
        if self.base as u64 + n as u64 + 2 >= u32::MAX as u64 {
            self.slots.fill(0);
            self.base = 0;
        }
        self.base
    }
    fn end(&mut self, n: usize) {
        self.base += n as u32 + 1;
    }
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::new());
}

/// Compresses `input`, appending the result to `out`, if it fits in `max_out` bytes (as
/// liblzf's `lzf_compress(in, len, out, max_out)` decides it, conservative checks included).
/// Returns false, leaving `out` as it was, when it does not.
pub(crate) fn compress(input: &[u8], out: &mut Vec<u8>, max_out: usize) -> bool {
    let n = input.len();
    if n == 0 || max_out == 0 || n > MAX_INPUT {
        return false;
    }
    let start = out.len();
    // liblzf may write one byte past `max_out` bytes (a run header that is then dropped).
    out.resize(start + max_out + 1, 0);
    let written = TABLE.with(|t| match t.try_borrow_mut() {
        Ok(mut t) => {
            let base = t.begin(n);
            let r = compress_into(input, &mut out[start..], max_out, &mut t.slots, base);
            t.end(n);
            r
        }
        // Not reachable (no re-entrancy), but a private table is always correct.
        Err(_) => compress_into(input, &mut out[start..], max_out, &mut vec![0; HSIZE], 0),
    });
    match written {
        Some(len) => {
            out.truncate(start + len);
            true
        }
        None => {
            out.truncate(start);
            false
        }
    }
}

/// liblzf 3.6's compressor loop over `input` into `o` (at least `out_end + 1` bytes).
fn compress_into(input: &[u8], o: &mut [u8], out_end: usize, htab: &mut [u32], base: u32) -> Option<usize> {
    let in_end = input.len();
    let mut ip = 0usize;
    let mut op = 1usize; // a literal run starts with its header byte reserved
    let mut lit = 0usize;
    let first = |p: usize| (input[p] as u32) << 8 | input[p + 1] as u32;
    let mut hval: u32 = if in_end >= 2 { first(0) } else { 0 };
    while ip + 2 < in_end {
        hval = (hval << 8) | input[ip + 2] as u32;
        let s = slot(hval);
        let stored = htab[s];
        htab[s] = base + ip as u32;
        // `stored > base`: written in this call, at a position >= 1 (liblzf's `ref > in_data`).
        let candidate = (stored > base).then(|| (stored - base) as usize).filter(|&r| r < ip);
        let matched = candidate.filter(|&r| ip - r - 1 < MAX_OFF && input[r..r + 3] == input[ip..ip + 3]);
        if let Some(r) = matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_end - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - (lit == 0) as usize + 3 + 1 >= out_end {
                return None;
            }
            o[op - lit - 1] = (lit as u8).wrapping_sub(1); // close the literal run
            op -= (lit == 0) as usize; // drop it if empty
                                       // liblzf compares 16 bytes unconditionally when more than 16 may match, so a
                                       // match can run up to 2 bytes past `maxlen` (never past the input); the lengths
                                       // it then encodes are part of the output to reproduce.
            'scan: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            break 'scan;
                        }
                    }
                }
                loop {
                    len += 1;
                    if len >= maxlen || input[r + len] != input[ip + len] {
                        break;
                    }
                }
            }
            len -= 2; // now the number of bytes copied minus one
            ip += 1;
            if len < 7 {
                o[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                o[op] = ((off >> 8) + (7 << 5)) as u8;
                o[op + 1] = (len - 7) as u8;
                op += 2;
            }
            o[op] = off as u8;
            op += 2; // the offset byte, then the header of the next literal run
            lit = 0;
            ip += len + 1;
            if ip + 2 >= in_end {
                break;
            }
            // VERY_FAST: hash the last two positions of the match.
            ip -= 2;
            hval = first(ip);
            for _ in 0..2 {
                hval = (hval << 8) | input[ip + 2] as u32;
                htab[slot(hval)] = base + ip as u32;
                ip += 1;
            }
        } else {
            if op >= out_end {
                return None;
            }
            lit += 1;
            o[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                o[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_end {
        lit += 1;
        o[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            o[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    o[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= (lit == 0) as usize;
    Some(op)
}

/// Decompresses `input` into `out` (replaced), which must come to exactly `expected`
/// bytes. `expected` sizes the allocation, so callers bound it first.
pub(crate) fn decompress(input: &[u8], out: &mut Vec<u8>, expected: usize) -> Result<(), &'static str> {
    const PAST_INPUT: &str = "LZF data runs past the end of the compressed bytes";
    const TOO_LONG: &str = "LZF data decompresses to more than its declared length";
    out.clear();
    out.resize(expected, 0);
    let o = &mut out[..];
    let (mut ip, mut op) = (0, 0);
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if ip + MAX_LIT <= input.len() && op + MAX_LIT <= expected {
                // Runs are short: copying a fixed 32 bytes (and keeping `n`) avoids a
                // variable-length memcpy call per run.
                o[op..op + MAX_LIT].copy_from_slice(&input[ip..ip + MAX_LIT]);
            } else {
                let lits = input.get(ip..ip + n).ok_or(PAST_INPUT)?;
                o.get_mut(op..op + n).ok_or(TOO_LONG)?.copy_from_slice(lits);
            }
            ip += n;
            op += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or(PAST_INPUT)? as usize;
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip).ok_or(PAST_INPUT)? as usize + 1;
            ip += 1;
            len += 2;
            if back > op {
                return Err("LZF back-reference before the start of the data");
            }
            if op + len > expected {
                return Err(TOO_LONG);
            }
            let from = op - back;
            if len <= 16 && back >= 16 && op + 16 <= expected {
                // Short, far enough back not to overlap a fixed 16-byte copy.
                o.copy_within(from..from + 16, op);
            } else if back >= len {
                o.copy_within(from..from + len, op);
            } else {
                // Overlapping: repeats the last `back` bytes, byte by byte.
                for i in 0..len {
                    o[op + i] = o[from + i];
                }
            }
            op += len;
        }
    }
    if op != expected {
        return Err("LZF data decompresses to fewer bytes than its declared length");
    }
    Ok(())
}

/// The most a compressed stream of `n` bytes can expand to (a 3-byte back-reference copies
/// at most 264 bytes), so a declared length above it is corrupt without decompressing.
pub(crate) fn max_expansion(n: usize) -> usize {
    n.saturating_mul(MAX_REF.div_ceil(3) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn roundtrip(data: &[u8]) -> Option<Vec<u8>> {
        let mut c = Vec::new();
        if !compress(data, &mut c, data.len().saturating_sub(4)) {
            return None;
        }
        let mut d = Vec::new();
        decompress(&c, &mut d, data.len()).unwrap();
        assert_eq!(d, data);
        Some(c)
    }

    #[test]
    fn redis_vectors() {
        // From redis-server 7.0.15: DUMP of a string of 116 'a' and of a listpack zset.
        let a = vec![b'a'; 116];
        assert_eq!(roundtrip(&a).unwrap(), hex::decode("016161e06700016161").unwrap());
        let lzf = hex::decode(
            "123b0000000a00816102000181640293302e3130e0050019311481620283312e350481630203018165028531652b323006ff",
        )
        .unwrap();
        let mut lp = Vec::new();
        decompress(&lzf, &mut lp, 0x3b).unwrap();
        assert_eq!(&lp[..6], &[0x3b, 0, 0, 0, 0x0a, 0]);
        assert_eq!(roundtrip(&lp).unwrap(), lzf);
    }

    #[test]
    fn random_roundtrips() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..2000 {
            let n = rng.gen_range(0..3000);
            let alphabet = rng.gen_range(1..=256u32);
            let runs = rng.gen_bool(0.5);
            let mut v = Vec::with_capacity(n);
            while v.len() < n {
                let b = rng.gen_range(0..alphabet) as u8;
                let k = if runs { rng.gen_range(1..40) } else { 1 };
                v.extend(std::iter::repeat(b).take(k));
            }
            v.truncate(n);
            if let Some(c) = roundtrip(&v) {
                assert!(c.len() <= n - 4);
            }
            // Any output budget: either it fits exactly as promised or nothing is written.
            let budget = rng.gen_range(1..n.max(2) + 8);
            let mut c = vec![9u8];
            if compress(&v, &mut c, budget) {
                assert!(c.len() - 1 <= budget);
                let mut d = Vec::new();
                decompress(&c[1..], &mut d, v.len()).unwrap();
                assert_eq!(d, v);
            } else {
                assert_eq!(c, [9]);
            }
        }
    }

    #[test]
    fn corrupt_streams_fail_cleanly() {
        let mut d = Vec::new();
        assert!(decompress(&[0x05, b'a'], &mut d, 6).is_err()); // literal run past the end
        assert!(decompress(&[0x20, 0x00], &mut d, 3).is_err()); // back-reference before start
        assert!(decompress(&[0x00, b'a', 0x20, 0x00], &mut d, 2).is_err()); // too long
        assert!(decompress(&[0x00, b'a'], &mut d, 2).is_err()); // too short
        assert!(decompress(&[0x00, b'a', 0xe0], &mut d, 20).is_err()); // cut reference
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        for _ in 0..5000 {
            let n = rng.gen_range(0..40);
            let junk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            let _ = decompress(&junk, &mut d, rng.gen_range(0..200));
        }
    }
}
