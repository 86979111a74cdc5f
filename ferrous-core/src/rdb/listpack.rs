//! Redis's listpack byte format (hash and sorted-set blobs, quicklist nodes): the writer's
//! encoder and the reader's validating decoder.
//!
//! ```text
//! total-bytes:u32le  num-elements:u16le  entry*  0xFF
//! entry = encoding [data] backlen
//! ```
//!
//! | encoding byte(s)       | element                                  |
//! |------------------------|------------------------------------------|
//! | `0xxxxxxx`             | integer 0..=127                          |
//! | `10xxxxxx`             | string of 0..=63 bytes                   |
//! | `110xxxxx yyyyyyyy`    | 13-bit signed integer                    |
//! | `1110xxxx yyyyyyyy`    | string of up to 4095 bytes (length BE)   |
//! | `0xF0` + u32le         | longer string                            |
//! | `0xF1`/`F2`/`F3`/`F4`  | 16/24/32/64-bit signed integer, LE       |
//!
//! `backlen` is the size of `encoding [data]` in 1 to 5 bytes, most significant group
//! first, every byte but the first flagged with 0x80, so that it can be read from its last
//! byte backwards. `num-elements` is 65535 when the count does not fit ("unknown").
//!
//! Strings that are canonical decimal integers (`string2ll` rules) are stored as integers,
//! which is what Redis's `lpAppend` chooses and so what DUMP must reproduce.
use std::borrow::Cow;

/// One listpack element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LpElem<'a> {
    /// An integer entry.
    Int(i64),
    /// A string entry.
    Str(&'a [u8]),
}

const HEADER: usize = 6;
const EOF: u8 = 0xFF;
const UNKNOWN_COUNT: u16 = u16::MAX;

/// Bytes Redis's `lpEncodeBacklen` uses for an entry of `l` bytes (its thresholds are
/// exclusive above 127: an entry of exactly 16383 bytes takes three).
#[inline]
pub(crate) fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

/// Appends an entry's back-length (the size of the entry so far, 7 bits per byte, read
/// backwards).
#[inline]
pub(crate) fn push_backlen(o: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 0x7F) as u8;
        o.push(if i + 1 == n { group } else { group | 0x80 });
    }
}

/// Appends one integer entry, in the smallest encoding that holds it (no header or count:
/// [`LpWriter`] keeps those; a stream node edits its own).
#[inline]
pub(crate) fn append_int(o: &mut Vec<u8>, v: i64) {
    let size = match v {
        0..=127 => {
            o.push(v as u8);
            1
        }
        -4096..=4095 => {
            let u = (v as u16) & 0x1FFF;
            o.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
            2
        }
        -32768..=32767 => {
            o.push(0xF1);
            o.extend_from_slice(&(v as i16).to_le_bytes());
            3
        }
        -8_388_608..=8_388_607 => {
            o.push(0xF2);
            o.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            4
        }
        -2_147_483_648..=2_147_483_647 => {
            o.push(0xF3);
            o.extend_from_slice(&(v as i32).to_le_bytes());
            5
        }
        _ => {
            o.push(0xF4);
            o.extend_from_slice(&v.to_le_bytes());
            9
        }
    };
    push_backlen(o, size);
}

/// Appends one string entry as a string, whatever its bytes.
pub(crate) fn append_str(o: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    let head = if n < 64 {
        o.push(0x80 | n as u8);
        1
    } else if n < 4096 {
        o.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
        2
    } else {
        o.push(0xF0);
        o.extend_from_slice(&(n as u32).to_le_bytes());
        5
    };
    o.extend_from_slice(s);
    push_backlen(o, head + n);
}

/// Appends one string entry as a string, whatever its bytes; the common short entry
/// (header, up to 16 bytes, one-byte back-length) without a call to memcpy: two
/// overlapping word copies.
#[inline(always)]
pub(crate) fn append_str_fast(o: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n > 16 {
        append_str_long(o, s);
        return;
    }
    o.reserve(n + 2);
    let at = o.len();
    // SAFETY: `reserve` made room for the n + 2 bytes written, all of which are
    // initialised before the length covers them; the reads stay inside `s`.
    unsafe {
        let d = o.as_mut_ptr().add(at);
        *d = 0x80 | n as u8;
        let src = s.as_ptr();
        if n >= 8 {
            d.add(1).cast::<u64>().write_unaligned(src.cast::<u64>().read_unaligned());
            d.add(1 + n - 8).cast::<u64>().write_unaligned(src.add(n - 8).cast::<u64>().read_unaligned());
        } else if n >= 4 {
            d.add(1).cast::<u32>().write_unaligned(src.cast::<u32>().read_unaligned());
            d.add(1 + n - 4).cast::<u32>().write_unaligned(src.add(n - 4).cast::<u32>().read_unaligned());
        } else {
            for i in 0..n {
                *d.add(1 + i) = *src.add(i);
            }
        }
        *d.add(1 + n) = (n + 1) as u8;
        o.set_len(at + n + 2);
    }
}

/// [`append_str_fast`] for strings of more than 16 bytes.
#[inline(never)]
fn append_str_long(o: &mut Vec<u8>, s: &[u8]) {
    append_str(o, s);
}

/// Appends `s` the way Redis's `lpAppend` does: as an integer entry when it is a canonical
/// integer, else as a string.
#[inline(always)]
pub(crate) fn append_auto(o: &mut Vec<u8>, s: &[u8]) {
    // Most strings are not numbers: decide those on their first byte, without a call.
    let int = match s.first() {
        Some(b'-' | b'0'..=b'9') => ferrous_resp::parse_i64(s),
        _ => None,
    };
    match int {
        Some(v) => append_int(o, v),
        None => append_str_fast(o, s),
    }
}

/// Appends a sorted-set score as Redis 7.0's `zzlInsertAt` stores it: an integer entry when
/// the score is an integer within +-2^62 (`double2ll`; -0 becomes 0), else its `%.17g` text
/// (which then always has a `.`, an exponent, or is `inf`: never an integer entry).
#[inline]
pub(crate) fn append_score(o: &mut Vec<u8>, score: f64) {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&score) && score == (score as i64) as f64 {
        append_int(o, score as i64);
    } else if !append_short_fraction(o, score) {
        let mut buf = [0u8; crate::util::G17_MAX];
        append_str_fast(o, crate::util::fmt_g17(score, &mut buf));
    }
}

/// 10^0 ..= 10^17.
const POW10_U64: [u64; 18] = {
    let mut t = [1u64; 18];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 5^0 ..= 5^17.
const POW5_U64: [u64; 18] = {
    let mut t = [1u64; 18];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 5;
        i += 1;
    }
    t
};

/// [`append_score`] of a score held as an `f32`: its short fractions (see
/// [`append_short_fraction`]) decoded from the `f32`'s own bits, without the `f64` tests.
#[inline(always)]
pub(crate) fn append_f32_score(o: &mut Vec<u8>, f: f32) {
    let bits = f.to_bits();
    let biased = ((bits >> 23) & 0xff) as i32;
    if biased != 0 && biased != 0xff {
        let m = (bits & ((1u32 << 23) - 1)) | (1u32 << 23);
        let tz = m.trailing_zeros();
        let (m, e) = (m >> tz, biased - 150 + tz as i32);
        if (-17..0).contains(&e) {
            // m < 2^24 and 5^17 < 2^40: the product fits.
            let k = (-e) as usize;
            let n = m as u64 * POW5_U64[k];
            if n < POW10_U64[17] && (k <= 4 || n >= POW10_U64[k - 4]) {
                append_fraction_text(o, f < 0.0, n, k);
                return;
            }
        }
    }
    append_score(o, f as f64);
}

/// Appends the `%.17g` text of `d` as a string entry when `d` is a short binary fraction
/// (`m / 2^k`, `k` in 1..=17, at most 17 significant digits, at least 1e-4: 12.25, 0.5,
/// -3.125), whose text is its exact decimal expansion in fixed notation (no rounding, no
/// trailing zero: the last digit of an odd `m·5^k` is 5); false, appending nothing, for any
/// other value (integers included). The digits go straight into `o`: formatting into a
/// buffer and copying it costs a store-forwarding stall (wide loads of bytes just stored
/// one by one) per score, a third of the conversion's time in profiles of SAVE.
#[inline]
fn append_short_fraction(o: &mut Vec<u8>, d: f64) -> bool {
    let Some((m, e)) = crate::util::odd_binary_parts(d) else { return false };
    if !(-17..0).contains(&e) {
        return false;
    }
    let k = (-e) as usize;
    // n / 10^k == |d| exactly.
    let n = match m.checked_mul(POW5_U64[k]) {
        Some(n) if n < POW10_U64[17] && (k <= 4 || n >= POW10_U64[k - 4]) => n,
        _ => return false,
    };
    append_fraction_text(o, d < 0.0, n, k);
    true
}

/// Two-digit groups "00" ..= "99".
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends, as a string entry, the text of `±n / 10^k` (`n` of at most 17 digits, `k`
/// in 1..=17): `[-]int.frac`, the fraction zero-padded to `k` digits.
#[inline(always)]
fn append_fraction_text(o: &mut Vec<u8>, neg: bool, n: u64, k: usize) {
    // Decimal digits of n (> 0): log10 from the bit length, corrected by one comparison
    // (`ilog10`'s general code was a tenth of the conversion's time).
    let approx = ((64 - n.leading_zeros() as usize) * 1233) >> 12;
    let digits = approx + (n >= POW10_U64[approx]) as usize;
    let len = neg as usize + if digits > k { digits + 1 } else { k + 2 };
    o.reserve(len + 2);
    let at = o.len();
    // SAFETY: `reserve` made room for the `len + 2` bytes written below (header, `len`
    // bytes of text, back-length), all initialised before `set_len` covers them.
    unsafe {
        let p = o.as_mut_ptr().add(at);
        *p = 0x80 | len as u8;
        // The fraction's k digits end the text, two at a time from the last.
        let mut q = p.add(len + 1); // one past the text
        let mut v = n;
        let mut left = k;
        while left >= 2 {
            let r = (v % 100) as usize;
            v /= 100;
            q = q.sub(2);
            q.copy_from_nonoverlapping(DIGIT_PAIRS.as_ptr().add(2 * r), 2);
            left -= 2;
        }
        if left == 1 {
            q = q.sub(1);
            *q = b'0' + (v % 10) as u8;
            v /= 10;
        }
        q = q.sub(1);
        *q = b'.';
        // Then the integer part ("0" when there is none).
        while v >= 100 {
            let r = (v % 100) as usize;
            v /= 100;
            q = q.sub(2);
            q.copy_from_nonoverlapping(DIGIT_PAIRS.as_ptr().add(2 * r), 2);
        }
        if v >= 10 {
            q = q.sub(2);
            q.copy_from_nonoverlapping(DIGIT_PAIRS.as_ptr().add(2 * v as usize), 2);
        } else {
            *q.sub(1) = b'0' + v as u8;
        }
        if neg {
            *p.add(1) = b'-';
        }
        *p.add(len + 1) = (len + 1) as u8;
        o.set_len(at + len + 2);
    }
}

/// Appends the entries of one listpack to a buffer; [`LpWriter::finish`] fills in the header
/// and the terminator.
pub(crate) struct LpWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    count: usize,
}

impl<'a> LpWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> LpWriter<'a> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        LpWriter { out, start, count: 0 }
    }

    /// Appends an integer entry, in the smallest encoding that holds it.
    #[inline]
    pub(crate) fn int(&mut self, v: i64) {
        append_int(self.out, v);
        self.count += 1;
    }

    /// Appends a string entry as given (callers pass strings that are not canonical
    /// integers, or use [`LpWriter::auto`]).
    #[inline(always)]
    pub(crate) fn str(&mut self, s: &[u8]) {
        append_str_fast(self.out, s);
        self.count += 1;
    }

    /// Appends entries already encoded by the caller (`count` of them), as [`LpWriter::raw`]
    /// does for a whole listpack.
    #[inline]
    pub(crate) fn entries(&mut self, f: impl FnOnce(&mut Vec<u8>) -> usize) {
        self.count += f(self.out);
    }

    /// Appends `s` the way Redis's `lpAppend` does: as an integer when it is one.
    #[cfg(test)]
    pub(crate) fn auto(&mut self, s: &[u8]) {
        append_auto(self.out, s);
        self.count += 1;
    }

    /// Appends a whole listpack made of `entries`, already encoded (`count` of them).
    pub(crate) fn raw(out: &mut Vec<u8>, entries: &[u8], count: usize) {
        let total = u32::try_from(HEADER + entries.len() + 1).unwrap_or(u32::MAX);
        let count = u16::try_from(count).unwrap_or(UNKNOWN_COUNT);
        out.reserve(HEADER + entries.len() + 1);
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(entries);
        out.push(EOF);
    }

    /// Writes the header and the terminator.
    pub(crate) fn finish(self) {
        self.out.push(EOF);
        // Listpacks are capped at 1 GB by every type that uses them, so the size fits.
        let total = u32::try_from(self.out.len() - self.start).unwrap_or(u32::MAX);
        let count = u16::try_from(self.count).unwrap_or(UNKNOWN_COUNT);
        self.out[self.start..self.start + 4].copy_from_slice(&total.to_le_bytes());
        self.out[self.start + 4..self.start + 6].copy_from_slice(&count.to_le_bytes());
    }
}

/// Walks a listpack blob entry by entry, checking every bound it relies on.
pub(crate) struct LpReader<'a> {
    buf: &'a [u8],
    pos: usize,
    seen: usize,
    declared: u16,
    deep: bool,
    /// The first problem found; iteration stops there (see [`LpReader::finish`]).
    err: Option<Cow<'static, str>>,
}

type Res<T> = Result<T, Cow<'static, str>>;

impl<'a> LpReader<'a> {
    /// Checks the header (size, terminator) of `blob`. With `deep`, [`LpReader::next`] also
    /// checks each entry's back-length, which decoding forwards does not need.
    pub(crate) fn new(blob: &'a [u8], deep: bool) -> Res<LpReader<'a>> {
        if blob.len() < HEADER + 1 {
            return Err("listpack shorter than its header".into());
        }
        let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if total as usize != blob.len() {
            return Err(format!("listpack header says {total} bytes but the blob has {}", blob.len()).into());
        }
        if blob[blob.len() - 1] != EOF {
            return Err("listpack does not end with its terminator".into());
        }
        let declared = u16::from_le_bytes([blob[4], blob[5]]);
        Ok(LpReader { buf: blob, pos: HEADER, seen: 0, declared, deep, err: None })
    }

    /// The element count from the header, when it is known (below 65535): what the
    /// iteration checks the elements against.
    pub(crate) fn declared(&self) -> Option<usize> {
        (self.declared != UNKNOWN_COUNT).then_some(self.declared as usize)
    }

    /// The element count from the header, when known; a bound on what a caller may reserve
    /// (each element takes at least two bytes).
    pub(crate) fn count_hint(&self) -> usize {
        if self.declared == UNKNOWN_COUNT {
            self.buf.len() / 2
        } else {
            self.declared as usize
        }
    }

    /// The first problem met by the iteration, if any: call after the last element.
    pub(crate) fn finish(&mut self) -> Res<()> {
        self.err.take().map_or(Ok(()), Err)
    }

    /// The next element, `None` at the terminator (after checking the header's count).
    #[inline(always)]
    fn try_next(&mut self) -> Res<Option<LpElem<'a>>> {
        let buf = self.buf;
        let end = buf.len() - 1; // the terminator
        let p = self.pos;
        if p >= end {
            if self.declared != UNKNOWN_COUNT && self.declared as usize != self.seen {
                return Err(
                    format!("listpack header says {} elements but it holds {}", self.declared, self.seen).into()
                );
            }
            return Ok(None);
        }
        // The common small entries first: a 7-bit integer or a short string, each with a
        // one-byte back-length.
        let b = buf[p];
        if b < 0xC0 && (!self.deep || b < 0x80) {
            let size = if b < 0x80 { 1 } else { 1 + (b & 0x3F) as usize };
            if p + size + 1 > end {
                return Err(format!("listpack entry at byte {p} runs past the end").into());
            }
            let elem = if b < 0x80 { LpElem::Int(b as i64) } else { LpElem::Str(&buf[p + 1..p + size]) };
            self.pos = p + size + 1;
            self.seen += 1;
            return Ok(Some(elem));
        }
        self.next_general(b, p, end)
    }

    /// [`LpReader::try_next`] for every other entry (and for every entry when checking deep).
    #[inline(never)]
    fn next_general(&mut self, b: u8, p: usize, end: usize) -> Res<Option<LpElem<'a>>> {
        let buf = self.buf;
        let at = |i: usize| -> Res<u8> {
            if p + i < end {
                Ok(buf[p + i])
            } else {
                Err(format!("listpack entry at byte {p} runs past the end").into())
            }
        };
        let (elem, size) = match b {
            0x00..=0x7F => (LpElem::Int(b as i64), 1),
            0x80..=0xBF => {
                let n = (b & 0x3F) as usize;
                (LpElem::Str(self.slice(p + 1, n)?), 1 + n)
            }
            0xC0..=0xDF => {
                let u = ((b & 0x1F) as u16) << 8 | at(1)? as u16;
                (LpElem::Int((((u << 3) as i16) >> 3) as i64), 2)
            }
            0xE0..=0xEF => {
                let n = ((b & 0x0F) as usize) << 8 | at(1)? as usize;
                (LpElem::Str(self.slice(p + 2, n)?), 2 + n)
            }
            0xF0 => {
                let n = u32::from_le_bytes([at(1)?, at(2)?, at(3)?, at(4)?]) as usize;
                (LpElem::Str(self.slice(p + 5, n)?), 5 + n)
            }
            0xF1 => (LpElem::Int(i16::from_le_bytes([at(1)?, at(2)?]) as i64), 3),
            0xF2 => (LpElem::Int((i32::from_le_bytes([0, at(1)?, at(2)?, at(3)?]) >> 8) as i64), 4),
            0xF3 => (LpElem::Int(i32::from_le_bytes([at(1)?, at(2)?, at(3)?, at(4)?]) as i64), 5),
            0xF4 => {
                let mut v = [0u8; 8];
                for (i, x) in v.iter_mut().enumerate() {
                    *x = at(1 + i)?;
                }
                (LpElem::Int(i64::from_le_bytes(v)), 9)
            }
            EOF => return Err(format!("listpack terminator at byte {p} before the end").into()),
            _ => return Err(format!("invalid listpack entry encoding {b:#04x} at byte {p}").into()),
        };
        let bl = backlen_size(size);
        let next = p + size + bl;
        if next > end {
            return Err(format!("listpack entry at byte {p} runs past the end").into());
        }
        if self.deep && !backlen_ok(&buf[p + size..next], size) {
            return Err(format!("listpack entry at byte {p} has a wrong back-length").into());
        }
        self.pos = next;
        self.seen += 1;
        Ok(Some(elem))
    }

    #[inline]
    fn slice(&self, from: usize, n: usize) -> Res<&'a [u8]> {
        match from.checked_add(n) {
            Some(to) if to < self.buf.len() => Ok(&self.buf[from..to]),
            _ => Err(format!("listpack string at byte {} runs past the end", self.pos).into()),
        }
    }
}

impl<'a> Iterator for LpReader<'a> {
    type Item = LpElem<'a>;
    #[inline(always)]
    fn next(&mut self) -> Option<LpElem<'a>> {
        if self.err.is_some() {
            return None;
        }
        match self.try_next() {
            Ok(e) => e,
            Err(what) => {
                self.err = Some(what);
                None
            }
        }
    }
}

/// True if `bytes` (exactly the back-length field) encode `size` as Redis writes it.
fn backlen_ok(bytes: &[u8], size: usize) -> bool {
    let n = bytes.len();
    let mut v = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        let continued = b & 0x80 != 0;
        if continued != (i != 0) {
            return false;
        }
        v = (v << 7) | (b & 0x7F) as usize;
    }
    n > 0 && v == size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(f: impl FnOnce(&mut LpWriter<'_>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = LpWriter::new(&mut out);
        f(&mut w);
        w.finish();
        out
    }

    fn decode(blob: &[u8], deep: bool) -> Res<Vec<LpElem<'_>>> {
        let mut r = LpReader::new(blob, deep)?;
        let v: Vec<_> = r.by_ref().collect();
        r.finish()?;
        Ok(v)
    }

    #[test]
    fn redis_bytes() {
        // Redis 7.0.15: `RPUSH l a 1 -1 300 -70000 5000000000`, the node's listpack in DUMP.
        let lp = build(|w| {
            for s in [&b"a"[..], b"1", b"-1", b"300", b"-70000", b"5000000000"] {
                w.auto(s)
            }
        });
        assert_eq!(
            hex::encode(&lp),
            "21000000060081610201 01dfff02c12c02f290eefe04f400f2052a0100000009ff".replace(' ', "")
        );
        let elems = decode(&lp, true).unwrap();
        assert_eq!(elems[0], LpElem::Str(b"a"));
        assert_eq!(elems[4], LpElem::Int(-70000));
        assert_eq!(elems[5], LpElem::Int(5_000_000_000));
    }

    #[test]
    fn every_width_roundtrips() {
        let ints = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN,
        ];
        let strs: Vec<Vec<u8>> = [0usize, 1, 63, 64, 4095, 4096, 16377, 16378, 16379, 70000]
            .iter()
            .map(|&n| (0..n).map(|i| b'a' + (i % 26) as u8).collect())
            .collect();
        let lp = build(|w| {
            for &i in &ints {
                w.int(i);
            }
            for s in &strs {
                w.str(s);
            }
        });
        let got = decode(&lp, true).unwrap();
        let want: Vec<LpElem<'_>> =
            ints.iter().map(|&i| LpElem::Int(i)).chain(strs.iter().map(|s| LpElem::Str(s))).collect();
        assert_eq!(got, want);
        // The entry of a 16378-byte string is 16383 bytes: Redis gives it a 3-byte backlen.
        assert_eq!(backlen_size(16383), 3);
        assert_eq!(backlen_size(16382), 2);
    }

    /// Short fractions are written as formatting them with `fmt_g17` does.
    #[test]
    fn short_fractions_as_g17() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut scores = vec![
            0.5,
            -0.5,
            12.25,
            0.75,
            1e-4,
            0.0001220703125,
            6.103515625e-05,
            0.00006103515625,
            1.5e15,
            123456789.125,
            4503599627370495.5,
            0.1,
            1.0 / 3.0,
            7.62939453125e-06,
            0.0078125,
            2.0f64.powi(-17),
            3.0 * 2.0f64.powi(-17),
            99999999999999.99,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            1e300,
            0.0,
            -0.0,
            3.0,
        ];
        for _ in 0..200_000 {
            let bits = rng.gen_range(1..54);
            let q = rng.gen_range(-(1i64 << bits)..(1i64 << 53)) as f64;
            scores.push(q / (1u64 << rng.gen_range(0..20)) as f64);
            scores.push(rng.gen_range(-1000..1000) as f64 / 4.0);
            scores.push(rng.gen::<f32>() as f64 * 1000.0);
            scores.push(f64::from_bits(rng.gen()));
        }
        for d in scores {
            if d.is_nan() {
                continue;
            }
            let mut got = Vec::new();
            append_score(&mut got, d);
            let mut want = Vec::new();
            const LIMIT: f64 = (i64::MAX / 2) as f64;
            if (-LIMIT..=LIMIT).contains(&d) && d == (d as i64) as f64 {
                append_int(&mut want, d as i64);
            } else {
                let mut buf = [0u8; crate::util::G17_MAX];
                append_str(&mut want, crate::util::fmt_g17(d, &mut buf));
            }
            assert_eq!(got, want, "{d:e}");
            if (d as f32) as f64 == d {
                let mut got = Vec::new();
                append_f32_score(&mut got, d as f32);
                assert_eq!(got, want, "{d:e} as f32");
            }
        }
    }

    #[test]
    fn corruption_is_reported() {
        let lp = build(|w| {
            w.str(b"hello");
            w.int(1000);
        });
        assert!(decode(&lp, true).is_ok());
        let mut bad = lp.clone();
        bad[4] = 3; // count
        assert!(decode(&bad, false).is_err());
        let mut bad = lp.clone();
        bad[0] += 1; // total bytes
        assert!(decode(&bad, false).is_err());
        let mut bad = lp.clone();
        bad[6] = 0x80 | 40; // string longer than the blob
        assert!(decode(&bad, false).is_err());
        let mut bad = lp.clone();
        bad[12] = 9; // backlen of "hello" (6) -> only caught by the deep check
        assert!(decode(&bad, false).is_ok());
        assert!(decode(&bad, true).is_err());
        for cut in 0..lp.len() {
            let _ = decode(&lp[..cut], true);
        }
    }
}
