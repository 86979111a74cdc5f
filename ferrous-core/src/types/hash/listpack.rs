//! [`Listpack`]: a packed byte buffer of string/integer elements (Redis's `listpack`
//! encoding for small hashes).
//!
//! Elements follow each other with a one-byte header and no per-element allocation:
//!
//! | header          | element                                                  |
//! |-----------------|----------------------------------------------------------|
//! | `0x00..=0x7f`   | string of that length (0-127 bytes) follows              |
//! | `0x80..=0xbf`   | the integer `header - 0x80` (0-63), no payload           |
//! | `0xc1..=0xc8`   | integer in `header - 0xc0` bytes, little-endian, signed  |
//! | `0xd0`          | string whose length follows as a LEB128 varint           |
//!
//! Strings that are canonical decimal integers (Redis's `string2ll` rules) are stored as
//! integers, like Redis's listpack does, so "12345" takes 3 bytes; the decimal form is
//! rebuilt when read. Unlike Redis's listpack there is no back-length per element (hashes are
//! only walked forwards), which saves a byte per element.
//!
//! The buffer is kept at its exact size, as Redis reallocates a listpack to its exact size
//! on each insertion: a doubling `Vec` would waste up to half of every small hash. (glibc's
//! `realloc` usually extends in place, so this costs little.)
use crate::value::StrRef;

const LONG_STR: u8 = 0xd0;

/// One element read from a listpack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem<'a> {
    /// A string that is not a canonical integer.
    Str(&'a [u8]),
    /// An integer (the string is its decimal form).
    Int(i64),
}

impl<'a> Elem<'a> {
    /// The element's bytes (integers formatted without allocating).
    #[inline]
    pub fn bytes(self) -> StrRef<'a> {
        match self {
            Elem::Str(s) => StrRef::Bytes(s),
            Elem::Int(i) => StrRef::int(i),
        }
    }
    /// Length of the element's string form.
    pub fn len(self) -> usize {
        match self {
            Elem::Str(s) => s.len(),
            Elem::Int(i) => StrRef::int(i).len(),
        }
    }
    /// The element in stored form: a string that is a canonical integer becomes the integer.
    #[inline]
    pub fn normalized(self) -> Elem<'a> {
        match self {
            Elem::Str(s) => as_int(s).map_or(Elem::Str(s), Elem::Int),
            e => e,
        }
    }
    /// True for the empty string.
    pub fn is_empty(self) -> bool {
        matches!(self, Elem::Str(s) if s.is_empty())
    }
    /// True if this element is the string `probe` (whose integer form, if canonical, is
    /// `probe_int`).
    #[inline]
    pub fn matches(self, probe: &[u8], probe_int: Option<i64>) -> bool {
        match self {
            Elem::Str(s) => probe_int.is_none() && s == probe,
            Elem::Int(i) => probe_int == Some(i),
        }
    }
}

/// The canonical integer a string encodes, if any.
#[inline]
pub fn as_int(b: &[u8]) -> Option<i64> {
    // Most strings are not numbers: decide those on their first byte, without a call.
    match b.first() {
        Some(b'-' | b'0'..=b'9') if b.len() <= 20 => ferrous_resp::parse_i64(b),
        _ => None,
    }
}

/// Header bytes (at most 10) and payload of one encoded element.
struct Encoded<'a> {
    head: [u8; 11],
    head_len: usize,
    body: &'a [u8],
}

impl Encoded<'_> {
    fn len(&self) -> usize {
        self.head_len + self.body.len()
    }
}

fn encode(b: &[u8]) -> Encoded<'_> {
    match as_int(b) {
        Some(i) => encode_int(i),
        None => encode_str(b),
    }
}

/// The encoding of `b` as a string (callers know it is not a canonical integer).
fn encode_str(b: &[u8]) -> Encoded<'_> {
    let mut head = [0u8; 11];
    if b.len() < 0x80 {
        head[0] = b.len() as u8;
        return Encoded { head, head_len: 1, body: b };
    }
    head[0] = LONG_STR;
    let (mut n, mut i) = (b.len(), 1);
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        head[i] = if n == 0 { byte } else { byte | 0x80 };
        i += 1;
        if n == 0 {
            break;
        }
    }
    Encoded { head, head_len: i, body: b }
}

fn encode_int(i: i64) -> Encoded<'static> {
    let mut head = [0u8; 11];
    if (0..64).contains(&i) {
        head[0] = 0x80 + i as u8;
        return Encoded { head, head_len: 1, body: &[] };
    }
    let bytes = i.to_le_bytes();
    // Smallest n such that the value survives truncation to n bytes + sign extension.
    let n = (1..=8).find(|&n| n == 8 || (i << (64 - 8 * n)) >> (64 - 8 * n) == i).unwrap_or(8);
    head[0] = 0xc0 + n as u8;
    head[1..=n].copy_from_slice(&bytes[..n]);
    Encoded { head, head_len: n + 1, body: &[] }
}

/// Appends `s` to `buf`; strings of up to 16 bytes (most fields, values and members)
/// without a call to memcpy: two overlapping word copies.
#[inline(always)]
pub(crate) fn extend_small(buf: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n > 16 {
        buf.extend_from_slice(s);
        return;
    }
    buf.reserve(n);
    let at = buf.len();
    // SAFETY: `reserve` made room for the `n` bytes written, all initialised before the
    // length covers them; the reads stay inside `s`.
    unsafe {
        let (src, dst) = (s.as_ptr(), buf.as_mut_ptr().add(at));
        if n >= 8 {
            dst.cast::<u64>().write_unaligned(src.cast::<u64>().read_unaligned());
            dst.add(n - 8).cast::<u64>().write_unaligned(src.add(n - 8).cast::<u64>().read_unaligned());
        } else if n >= 4 {
            dst.cast::<u32>().write_unaligned(src.cast::<u32>().read_unaligned());
            dst.add(n - 4).cast::<u32>().write_unaligned(src.add(n - 4).cast::<u32>().read_unaligned());
        } else {
            for i in 0..n {
                *dst.add(i) = *src.add(i);
            }
        }
        buf.set_len(at + n);
    }
}

/// Writes the encoding of `e` (in stored form) at the end of `buf`.
#[inline]
fn put(buf: &mut Vec<u8>, e: Elem<'_>) {
    match e {
        Elem::Str(s) if s.len() < 0x80 => {
            buf.push(s.len() as u8);
            extend_small(buf, s);
        }
        Elem::Str(s) => {
            let enc = encode_str(s);
            buf.extend_from_slice(&enc.head[..enc.head_len]);
            buf.extend_from_slice(s);
        }
        Elem::Int(i) if (0..64).contains(&i) => buf.push(0x80 + i as u8),
        Elem::Int(i) => {
            let enc = encode_int(i);
            buf.extend_from_slice(&enc.head[..enc.head_len]);
        }
    }
}

/// Finds repeated elements among those added, by their encoded bytes (one encoding per
/// value, so equal bytes mean equal elements): a table of 64-bit hashes with the elements'
/// spans, bytes compared only when hashes match. For the loader, which must reject
/// duplicate hash fields and sorted-set members. The table is a per-thread buffer reused
/// from one value to the next.
pub(crate) struct DupCheck {
    /// (hash, start, end) per slot; `end == 0` marks an empty slot.
    slots: Vec<(u64, u32, u32)>,
    len: usize,
}

thread_local! {
    static DUP_SLOTS: std::cell::Cell<Vec<(u64, u32, u32)>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A hash of `b`: short items (most fields and members) from two overlapping words and a
/// folded multiply, longer ones with foldhash over every byte.
#[inline]
pub(crate) fn span_hash(b: &[u8]) -> u64 {
    const K0: u64 = 0x243f_6a88_85a3_08d3;
    const K1: u64 = 0x1319_8a2e_0370_7344;
    let n = b.len();
    let (x, y) = if n > 16 {
        use std::hash::BuildHasher;
        return foldhash::fast::FixedState::with_seed(K0).hash_one(b);
    } else if n >= 8 {
        (
            u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[n - 8..].try_into().unwrap_or_default()),
        )
    } else if n >= 4 {
        let w = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default()) as u64;
        (w(0), w(n - 4))
    } else if n > 0 {
        (b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16, 0)
    } else {
        (0, 0)
    };
    let m = ((x ^ K0) as u128).wrapping_mul((y ^ K1 ^ n as u64) as u128);
    (m as u64) ^ ((m >> 64) as u64)
}

impl DupCheck {
    /// A check sized for `n` elements (more only cost a regrowth).
    pub(crate) fn new(n: usize) -> DupCheck {
        let cap = (n.max(4) * 2).next_power_of_two();
        let mut slots = DUP_SLOTS.with(|c| c.take());
        slots.clear();
        slots.resize(cap, (0, 0, 0));
        DupCheck { slots, len: 0 }
    }

    /// Records `buf[start..end]` (`0 < end`, below 4 GiB), whose hash is `h` (equal items
    /// must have equal hashes: the caller hashes what it encoded, not the buffer it just
    /// wrote, which would stall on the fresh stores); false if equal bytes were recorded
    /// before.
    #[inline]
    pub(crate) fn insert(&mut self, buf: &[u8], start: usize, end: usize, h: u64) -> bool {
        let (Ok(s32), Ok(e32)) = (u32::try_from(start), u32::try_from(end)) else { return true };
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let item = &buf[start..end];
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let (sh, ss, se) = self.slots[i];
            if se == 0 {
                self.slots[i] = (h, s32, e32);
                self.len += 1;
                return true;
            }
            if sh == h && buf.get(ss as usize..se as usize) == Some(item) {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, vec![(0, 0, 0); cap]);
        let mask = self.slots.len() - 1;
        for (h, s, e) in old.into_iter().filter(|x| x.2 != 0) {
            let mut i = h as usize & mask;
            while self.slots[i].2 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (h, s, e);
        }
    }
}

impl Drop for DupCheck {
    fn drop(&mut self) {
        // Keep the table for the next value unless it grew big (a huge collection).
        if self.slots.capacity() <= 1 << 16 {
            let slots = std::mem::take(&mut self.slots);
            DUP_SLOTS.with(|c| c.set(slots));
        }
    }
}

/// Builds a hash listpack from the elements of a loaded blob in one pass and one
/// allocation, rejecting repeated fields (see [`crate::types::hash::Hash::from_packed`]).
pub(crate) struct Builder {
    buf: Vec<u8>,
    fields: DupCheck,
    elems: usize,
    duplicate: bool,
}

impl Builder {
    /// A builder for about `pairs` pairs taking at most `bytes` bytes.
    pub(crate) fn new(bytes: usize, pairs: usize) -> Builder {
        let mut buf = Vec::with_capacity(HDR + bytes);
        buf.extend_from_slice(&[0; HDR]);
        Builder { buf, fields: DupCheck::new(pairs), elems: 0, duplicate: false }
    }

    /// Appends the next element (fields and values alternate).
    #[inline]
    pub(crate) fn push(&mut self, e: Elem<'_>) {
        let start = self.buf.len();
        let e = e.normalized();
        put(&mut self.buf, e);
        if self.elems % 2 == 0 {
            // The element's own hash (one stored form per value: equal fields, equal hashes).
            let h = match e {
                Elem::Str(s) => span_hash(s),
                Elem::Int(i) => (i as u64 ^ 0x5bd1_e995).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29),
            };
            if !self.fields.insert(&self.buf, start, self.buf.len(), h) {
                self.duplicate = true;
            }
        }
        self.elems += 1;
    }

    /// The listpack and its pair count; `Err` for an odd element count or a repeated field.
    pub(crate) fn finish(self) -> Result<(Listpack, usize), &'static str> {
        if self.elems % 2 != 0 {
            return Err("hash blob with an odd number of elements");
        }
        if self.duplicate {
            return Err("duplicate hash field");
        }
        let pairs = self.elems / 2;
        let mut lp = Listpack { buf: self.buf.into_boxed_slice() };
        lp.set_count(u32::try_from(pairs).unwrap_or(u32::MAX));
        Ok((lp, pairs))
    }
}

/// A packed sequence of elements, with a 32-bit count its owner keeps (a hash's number of
/// fields), like the count in Redis's listpack header.
///
/// One exact-size allocation, `[count: u32 LE][elements]` (or nothing at all while empty),
/// behind a 16-byte `Box<[u8]>`: a small hash is then this allocation and nothing else (the
/// `Vec` this was before took 24 bytes plus up to the bytes of one element of slack, and the
/// count 8 more bytes beside it). Positions given to and returned by the methods count from
/// the first element, not from the start of the allocation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Box<[u8]>,
}

/// Bytes of the count in front of the elements.
const HDR: usize = 4;

impl Listpack {
    /// The encoded elements.
    #[inline]
    fn elems(&self) -> &[u8] {
        self.buf.get(HDR..).unwrap_or(&[])
    }
    /// The count stored with the elements (0 while nothing was stored).
    #[inline]
    pub fn count(&self) -> u32 {
        match self.buf.get(..HDR) {
            Some(h) => u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            None => 0,
        }
    }
    /// Sets the stored count.
    pub fn set_count(&mut self, n: u32) {
        if self.buf.len() < HDR {
            if n == 0 {
                return;
            }
            self.buf = Box::new([0; HDR]);
        }
        self.buf[..HDR].copy_from_slice(&n.to_le_bytes());
    }
    /// Changes the buffer through a `Vec` (header included) and gives it back at its exact
    /// size: `into_vec` and `into_boxed_slice` neither copy nor reallocate, only the
    /// growth or shrink `f` does reallocates.
    #[inline]
    fn edit(&mut self, extra: usize, f: impl FnOnce(&mut Vec<u8>)) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if v.len() < HDR {
            v.extend_from_slice(&[0; HDR]);
        }
        v.reserve_exact(extra);
        f(&mut v);
        self.buf = v.into_boxed_slice();
    }
    /// Bytes used by the encoded elements.
    pub fn bytes(&self) -> usize {
        self.elems().len()
    }
    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Decodes the element at `pos`; returns it and the position of the next one.
    #[inline]
    pub fn at(&self, pos: usize) -> (Elem<'_>, usize) {
        let b = self.elems();
        let h = b[pos];
        match h {
            0x00..=0x7f => {
                let end = pos + 1 + h as usize;
                (Elem::Str(&b[pos + 1..end]), end)
            }
            0x80..=0xbf => (Elem::Int((h - 0x80) as i64), pos + 1),
            0xc1..=0xc8 => {
                let n = (h - 0xc0) as usize;
                let mut bytes = [0u8; 8];
                bytes[..n].copy_from_slice(&b[pos + 1..pos + 1 + n]);
                let shift = 64 - 8 * n as u32;
                (Elem::Int((i64::from_le_bytes(bytes) << shift) >> shift), pos + 1 + n)
            }
            _ => {
                let (mut len, mut shift, mut i) = (0usize, 0, pos + 1);
                loop {
                    let c = b[i];
                    len |= ((c & 0x7f) as usize) << shift;
                    i += 1;
                    if c & 0x80 == 0 {
                        break;
                    }
                    shift += 7;
                }
                (Elem::Str(&b[i..i + len]), i + len)
            }
        }
    }

    /// Position after the element at `pos`.
    #[inline]
    pub fn skip(&self, pos: usize) -> usize {
        self.at(pos).1
    }

    /// Iterates over the elements with their positions.
    pub fn iter(&self) -> Iter<'_> {
        Iter { lp: self, pos: 0 }
    }

    /// Appends an element (the count is the owner's to update).
    pub fn push(&mut self, b: &[u8]) {
        let e = encode(b);
        self.edit(e.len(), |v| {
            v.extend_from_slice(&e.head[..e.head_len]);
            v.extend_from_slice(e.body);
        });
    }

    /// Replaces the element at `pos` (ending at `end`) with `b`.
    pub fn replace(&mut self, pos: usize, end: usize, b: &[u8]) {
        let e = encode(b);
        let grow = e.len().saturating_sub(end - pos);
        self.edit(grow, |v| {
            v.splice(HDR + pos..HDR + end, e.head[..e.head_len].iter().chain(e.body.iter()).copied());
        });
    }

    /// Removes the bytes of the elements in `start..end`.
    pub fn remove_range(&mut self, start: usize, end: usize) {
        self.edit(0, |v| {
            v.drain(HDR + start..HDR + end);
        });
    }
}

impl Listpack {
    /// A listpack of `elems` in order, allocated once (for building a whole hash at once, as
    /// the RDB loader does). Strings that are canonical integers are stored as integers.
    pub fn from_elems<'a>(elems: impl Iterator<Item = Elem<'a>> + Clone) -> Listpack {
        Self::from_normalized(elems.map(Elem::normalized))
    }

    /// [`Listpack::from_elems`] for elements already in stored form (no string of them is a
    /// canonical integer), so nothing is parsed twice.
    pub(super) fn from_normalized<'a>(elems: impl Iterator<Item = Elem<'a>> + Clone) -> Listpack {
        // An upper bound: an integer never takes more than 9 bytes.
        let bound: usize = elems
            .clone()
            .map(|e| match e {
                Elem::Int(_) => 9,
                Elem::Str(s) => s.len() + if s.len() < 0x80 { 1 } else { 6 },
            })
            .sum();
        let mut buf = Vec::with_capacity(HDR + bound);
        buf.extend_from_slice(&[0; HDR]);
        for e in elems {
            let enc = match e {
                Elem::Str(s) => encode_str(s),
                Elem::Int(i) => encode_int(i),
            };
            debug_assert!(!matches!(e, Elem::Str(s) if as_int(s).is_some()), "unnormalized element");
            buf.extend_from_slice(&enc.head[..enc.head_len]);
            buf.extend_from_slice(enc.body);
        }
        Listpack { buf: buf.into_boxed_slice() }
    }
}

impl Listpack {
    /// Appends the elements as the entries of a Redis listpack (header and terminator are
    /// the caller's), each as Redis's `lpAppend` stores it: strings (never canonical
    /// integers here) as strings, integers in their smallest encoding. One pass over the
    /// bytes, the RDB writer's path for a listpack hash. Returns the number of entries.
    pub(crate) fn write_redis_entries(&self, o: &mut Vec<u8>) -> usize {
        use crate::rdb::listpack::{append_int, append_str, append_str_fast};
        let b = self.elems();
        let mut pos = 0;
        let mut n = 0;
        while pos < b.len() {
            let h = b[pos];
            match h {
                0x00..=0x7f => {
                    let s = &b[pos + 1..pos + 1 + h as usize];
                    pos += 1 + h as usize;
                    append_str_fast(o, s);
                }
                // 0..=63: a 7-bit integer entry, its one-byte back-length 1.
                0x80..=0xbf => {
                    o.extend_from_slice(&[h - 0x80, 1]);
                    pos += 1;
                }
                _ => {
                    let (e, next) = self.at(pos);
                    pos = next;
                    match e {
                        Elem::Int(i) => append_int(o, i),
                        Elem::Str(s) => append_str(o, s),
                    }
                }
            }
            n += 1;
        }
        n
    }
}

impl std::fmt::Debug for Listpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|(_, e)| String::from_utf8_lossy(&e.bytes()).into_owned())).finish()
    }
}

/// Iterator over a listpack's (position, element) pairs.
pub struct Iter<'a> {
    lp: &'a Listpack,
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (usize, Elem<'a>);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.lp.bytes() {
            return None;
        }
        let at = self.pos;
        let (e, next) = self.lp.at(at);
        self.pos = next;
        Some((at, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct conversion writes what encoding element by element does.
    #[test]
    fn redis_entries() {
        use crate::rdb::listpack::LpWriter;
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 126];
        let elems: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"0",
            b"63",
            b"64",
            b"127",
            b"128",
            b"-1",
            b"4095",
            b"-4096",
            b"4096",
            b"32767",
            b"-32769",
            b"8388607",
            b"-8388609",
            b"2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"007",
            b"1.5",
            &[b'z'; 16],
            &[b'z'; 17],
            &[b'w'; 63],
            &[b'w'; 64],
            &mid,
            &[b'v'; 127],
            &[b'v'; 128],
            &long,
        ];
        let lp = Listpack::from_elems(elems.iter().map(|e| Elem::Str(e)));
        let mut got = Vec::new();
        let mut w = LpWriter::new(&mut got);
        w.entries(|o| lp.write_redis_entries(o));
        w.finish();
        let mut want = Vec::new();
        let mut w = LpWriter::new(&mut want);
        for (_, e) in lp.iter() {
            match e {
                Elem::Int(i) => w.int(i),
                Elem::Str(s) => w.str(s),
            }
        }
        w.finish();
        assert_eq!(got, want);
        assert_eq!(u16::from_le_bytes([got[4], got[5]]) as usize, elems.len());
        assert_eq!(Listpack::default().write_redis_entries(&mut Vec::new()), 0);
    }

    #[test]
    fn roundtrip() {
        let samples: Vec<Vec<u8>> = [
            "",
            "a",
            "0",
            "63",
            "64",
            "-1",
            "127",
            "128",
            "-129",
            "32767",
            "-32768",
            "8388607",
            "2147483648",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "01",
            "-0",
            "+1",
            " 1",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([vec![b'x'; 127], vec![b'y'; 128], vec![b'z'; 20000]])
        .collect();
        let mut lp = Listpack::default();
        for s in &samples {
            lp.push(s);
        }
        let back: Vec<Vec<u8>> = lp.iter().map(|(_, e)| e.bytes().to_vec()).collect();
        assert_eq!(back, samples);
        for (_, e) in lp.iter() {
            let b = e.bytes().to_vec();
            assert!(e.matches(&b, as_int(&b)));
            assert_eq!(e.len(), b.len());
        }
        // Small integers take one byte, bigger ones their minimal width.
        let mut small = Listpack::default();
        small.push(b"12");
        small.push(b"1000");
        small.push(b"-100000");
        assert_eq!(small.bytes(), 1 + 3 + 4);
    }

    #[test]
    fn replace_and_remove() {
        let mut lp = Listpack::default();
        for s in ["a", "b", "c"] {
            lp.push(s.as_bytes());
        }
        let (_, end) = lp.at(0);
        let (_, end_b) = lp.at(end);
        lp.replace(end, end_b, b"a much longer string than before");
        lp.replace(0, end, b"12345");
        let got: Vec<Vec<u8>> = lp.iter().map(|(_, e)| e.bytes().to_vec()).collect();
        assert_eq!(got, vec![b"12345".to_vec(), b"a much longer string than before".to_vec(), b"c".to_vec()]);
        let start = lp.skip(0);
        let end = lp.skip(start);
        lp.remove_range(start, end);
        let got: Vec<Vec<u8>> = lp.iter().map(|(_, e)| e.bytes().to_vec()).collect();
        assert_eq!(got, vec![b"12345".to_vec(), b"c".to_vec()]);
    }
}
