//! The small sorted-set encoding (Redis's "listpack"): one packed byte buffer of
//! `(member, score)` entries sorted by (score, member).
//!
//! Entry layout: the member length as a LEB128 varint, the member bytes, then the score as
//! a tag byte possibly followed by a payload:
//!
//! | tag            | score                                   | bytes |
//! |----------------|-----------------------------------------|-------|
//! | `0x00..=0xEF`  | the integer 0..=239 itself              | 1     |
//! | `0xF0`         | an integer in `i16`                     | 3     |
//! | `0xF1`         | an integer in `i32`                     | 5     |
//! | `0xF2`         | a value exactly representable as `f32`  | 5     |
//! | `0xF3`         | any other `f64`                         | 9     |
//!
//! So `member:1` with score 1 takes 10 bytes (Redis's listpack: 12). Small sets are bounded
//! by `zset-max-listpack-entries` (128 by default), so every operation is a linear scan, as
//! in Redis; the buffer is kept at its exact size (one reallocation per insertion, like
//! Redis's `lpInsert`) because small sets are numerous and slack would dominate.
//!
//! A zero score is stored as `+0`: Redis stores scores in its listpack as text and reads
//! `-0` back as the integer 0, so a small set never reports `-0`.

/// Sorted `(member, score)` entries in one buffer.
///
/// One exact-size allocation, `[entry count: u32 LE][entries]` (nothing while empty), behind
/// a 16-byte `Box<[u8]>`, so that a `ZSet` is 16 bytes and sits in a `Value` without a box
/// of its own. Offsets below count from the first entry.
#[derive(Clone, Default)]
pub(super) struct Listpack {
    buf: Box<[u8]>,
}

/// Bytes of the entry count in front of the entries.
const HDR: usize = 4;

const T_I16: u8 = 0xF0;
const T_I32: u8 = 0xF1;
const T_F32: u8 = 0xF2;
const T_F64: u8 = 0xF3;

fn push_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn read_varint(buf: &[u8], mut pos: usize) -> (usize, usize) {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        v |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (v, pos);
        }
        shift += 7;
    }
}

fn push_score(out: &mut Vec<u8>, s: f64) {
    let s = if s == 0.0 { 0.0 } else { s };
    // An integer in i32 (the cast saturates, and NaN casts to 0: neither round-trips).
    if (s as i32) as f64 == s {
        let i = s as i32;
        if (0..=0xEF).contains(&i) {
            out.push(i as u8);
        } else if let Ok(v) = i16::try_from(i) {
            out.push(T_I16);
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.push(T_I32);
            out.extend_from_slice(&i.to_le_bytes());
        }
    } else if (s as f32) as f64 == s {
        out.push(T_F32);
        out.extend_from_slice(&(s as f32).to_le_bytes());
    } else {
        out.push(T_F64);
        out.extend_from_slice(&s.to_le_bytes());
    }
}

#[inline]
fn read_score(buf: &[u8], pos: usize) -> (f64, usize) {
    let t = buf[pos];
    let p = pos + 1;
    match t {
        T_I16 => (i16::from_le_bytes([buf[p], buf[p + 1]]) as f64, p + 2),
        T_I32 => (i32::from_le_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]) as f64, p + 4),
        T_F32 => (f32::from_le_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]) as f64, p + 4),
        T_F64 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[p..p + 8]);
            (f64::from_le_bytes(b), p + 8)
        }
        _ => (t as f64, p),
    }
}

/// The entry at `pos`: member, score, and the position of the next entry.
#[inline]
fn read_entry(buf: &[u8], pos: usize) -> (&[u8], f64, usize) {
    let (n, p) = read_varint(buf, pos);
    let member = &buf[p..p + n];
    let (score, next) = read_score(buf, p + n);
    (member, score, next)
}

/// Forward walk over entries.
pub(super) struct LpIter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for LpIter<'a> {
    type Item = (&'a [u8], f64);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 || self.pos >= self.buf.len() {
            return None;
        }
        self.left -= 1;
        let (m, s, next) = read_entry(self.buf, self.pos);
        self.pos = next;
        Some((m, s))
    }
}

/// Backward walk: the entry offsets are collected first (the format has no back links).
pub(super) struct LpRevIter<'a> {
    buf: &'a [u8],
    offsets: Vec<usize>,
}

impl<'a> Iterator for LpRevIter<'a> {
    type Item = (&'a [u8], f64);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let pos = self.offsets.pop()?;
        let (m, s, _) = read_entry(self.buf, pos);
        Some((m, s))
    }
}

impl Listpack {
    /// Appends the entries as Redis's listpack holds them (member, score, ...; see
    /// [`crate::rdb::listpack::append_score`]) and returns how many were written: one pass
    /// over the bytes, integer scores written without a float round trip.
    pub(super) fn write_redis_entries(&self, o: &mut Vec<u8>) -> usize {
        use crate::rdb::listpack::{append_auto, append_f32_score, append_int, append_score};
        let buf = self.data();
        let mut pos = 0;
        let mut written = 0;
        for _ in 0..self.len() {
            if pos >= buf.len() {
                break;
            }
            written += 2;
            let (n, p) = read_varint(buf, pos);
            append_auto(o, &buf[p..p + n]);
            let t = buf[p + n];
            if t < T_I16 {
                // 0..=239: a 7-bit integer entry for the first 128, else 13-bit.
                append_int(o, t as i64);
                pos = p + n + 1;
            } else if t == T_F32 {
                let q = p + n + 1;
                append_f32_score(o, f32::from_le_bytes([buf[q], buf[q + 1], buf[q + 2], buf[q + 3]]));
                pos = q + 4;
            } else {
                let (score, next) = read_score(buf, p + n);
                pos = next;
                match t {
                    T_I16 | T_I32 => append_int(o, score as i64),
                    _ => append_score(o, score),
                }
            }
        }
        written
    }

    /// The encoded entries.
    #[inline]
    fn data(&self) -> &[u8] {
        self.buf.get(HDR..).unwrap_or(&[])
    }

    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        match self.buf.get(..HDR) {
            Some(h) => u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
            None => 0,
        }
    }

    /// Changes the buffer through a `Vec` (header included, `extra` more bytes reserved)
    /// and gives it back at its exact size with `len + delta` entries: `into_vec` and
    /// `into_boxed_slice` neither copy nor reallocate, only the growth or shrink does.
    #[inline]
    fn edit(&mut self, extra: usize, delta: isize, f: impl FnOnce(&mut Vec<u8>)) {
        let len = (self.len() as isize + delta) as u32;
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if v.len() < HDR {
            v.extend_from_slice(&[0; HDR]);
        }
        v.reserve_exact(extra);
        f(&mut v);
        v[..HDR].copy_from_slice(&len.to_le_bytes());
        self.buf = v.into_boxed_slice();
    }

    /// A listpack of `items`, which must be sorted by (score, member) with no member twice.
    pub(super) fn from_sorted(items: &[(&[u8], f64)]) -> Listpack {
        let bytes: usize = items.iter().map(|(m, _)| m.len() + 14).sum();
        let mut v = Vec::with_capacity(HDR + bytes);
        v.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for (m, s) in items {
            push_varint(&mut v, m.len());
            v.extend_from_slice(m);
            push_score(&mut v, if *s == 0.0 { 0.0 } else { *s });
        }
        Listpack { buf: v.into_boxed_slice() }
    }

    /// Bytes used by the entries.
    pub(super) fn bytes(&self) -> usize {
        self.data().len()
    }

    /// Heap bytes.
    pub(super) fn heap_size(&self) -> usize {
        self.buf.len()
    }

    /// Every entry in order.
    pub(super) fn iter(&self) -> LpIter<'_> {
        LpIter { buf: self.data(), pos: 0, left: usize::MAX }
    }

    /// Offset of the entry of rank `rank` (the buffer's length if past the end).
    fn offset_of(&self, rank: usize) -> usize {
        let buf = self.data();
        let mut pos = 0;
        for _ in 0..rank {
            if pos >= buf.len() {
                break;
            }
            pos = read_entry(buf, pos).2;
        }
        pos
    }

    /// `count` entries from rank `start` forward.
    pub(super) fn iter_from(&self, start: usize, count: usize) -> LpIter<'_> {
        LpIter { buf: self.data(), pos: self.offset_of(start), left: count }
    }

    /// `count` entries from rank `start` backward (`start`, `start - 1`, ...).
    pub(super) fn iter_back_from(&self, start: usize, count: usize) -> LpRevIter<'_> {
        let buf = self.data();
        if start >= self.len() {
            return LpRevIter { buf, offsets: Vec::new() };
        }
        let n = count.min(start + 1);
        let first = start + 1 - n;
        let mut offsets = Vec::with_capacity(n);
        let mut pos = self.offset_of(first);
        for _ in 0..n {
            if pos >= buf.len() {
                break;
            }
            offsets.push(pos);
            pos = read_entry(buf, pos).2;
        }
        LpRevIter { buf, offsets }
    }

    /// The entry of rank `rank`.
    pub(super) fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        let (m, s, _) = read_entry(self.data(), self.offset_of(rank));
        Some((m, s))
    }

    /// Finds `member`: (rank, offset, end offset, score).
    fn find(&self, member: &[u8]) -> Option<(usize, usize, usize, f64)> {
        let buf = self.data();
        let mut pos = 0;
        let mut rank = 0;
        while pos < buf.len() {
            let (m, s, next) = read_entry(buf, pos);
            if m == member {
                return Some((rank, pos, next, s));
            }
            pos = next;
            rank += 1;
        }
        None
    }

    /// The score of `member`.
    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|f| f.3)
    }

    /// The rank of `member`.
    pub(super) fn rank(&self, member: &[u8]) -> Option<usize> {
        self.find(member).map(|f| f.0)
    }

    /// Inserts a member known to be absent at its sorted position.
    pub(super) fn insert_new(&mut self, member: &[u8], score: f64) {
        let score = if score == 0.0 { 0.0 } else { score };
        let buf = self.data();
        let mut pos = 0;
        while pos < buf.len() {
            let (m, s, next) = read_entry(buf, pos);
            if s > score || (s == score && m > member) {
                break;
            }
            pos = next;
        }
        let mut enc = Vec::with_capacity(member.len() + 14);
        push_varint(&mut enc, member.len());
        enc.extend_from_slice(member);
        push_score(&mut enc, score);
        self.edit(enc.len(), 1, |v| {
            let (at, old) = (HDR + pos, v.len());
            v.resize(old + enc.len(), 0);
            v.copy_within(at..old, at + enc.len());
            v[at..at + enc.len()].copy_from_slice(&enc);
        });
    }

    /// Removes the bytes `start..end` (offsets in the entries) holding `entries` entries.
    fn cut(&mut self, start: usize, end: usize, entries: usize) {
        self.edit(0, -(entries as isize), |v| {
            v.drain(HDR + start..HDR + end);
        });
    }

    /// Removes `member`; returns its score.
    pub(super) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, start, end, score) = self.find(member)?;
        self.cut(start, end, 1);
        Some(score)
    }

    /// Changes the score of a present member; returns the old score.
    pub(super) fn update(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let old = self.remove(member)?;
        self.insert_new(member, score);
        Some(old)
    }

    /// Removes `count` entries from rank `start`, calling `f` on each.
    pub(super) fn remove_range(&mut self, start: usize, count: usize, mut f: impl FnMut(&[u8], f64)) {
        let from = self.offset_of(start);
        let buf = self.data();
        let mut pos = from;
        let mut n = 0;
        while n < count && pos < buf.len() {
            let (m, s, next) = read_entry(buf, pos);
            f(m, s);
            pos = next;
            n += 1;
        }
        self.cut(from, pos, n);
    }

    /// Number of entries whose (score, member) satisfy `pred` (true on a prefix).
    pub(super) fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.iter().take_while(|(m, s)| pred(*s, m)).count()
    }
}

/// Builds a listpack from members arriving in (score, member) order, in one pass (the RDB
/// loader's path): checks the order and that no member repeats as it goes.
pub(super) struct SortedBuilder {
    /// The listpack's bytes, header included, and its entry count.
    buf: Vec<u8>,
    len: u32,
    members: crate::types::hash::listpack::DupCheck,
    /// The previous score and the span of its member in the buffer.
    prev: (f64, usize, usize),
    duplicate: bool,
}

impl SortedBuilder {
    /// A builder for about `n` members taking about `bytes` bytes.
    pub(super) fn new(bytes: usize, n: usize) -> SortedBuilder {
        SortedBuilder {
            buf: {
                let mut v = Vec::with_capacity(HDR + bytes);
                v.extend_from_slice(&[0; HDR]);
                v
            },
            len: 0,
            members: crate::types::hash::listpack::DupCheck::new(n),
            prev: (0.0, 0, 0),
            duplicate: false,
        }
    }

    /// Appends a member (its score not NaN); false, appending nothing, if it does not sort
    /// after the previous one.
    #[inline]
    pub(super) fn push(&mut self, member: &[u8], score: f64) -> bool {
        let score = if score == 0.0 { 0.0 } else { score };
        let buf = &mut self.buf;
        if self.len > 0 {
            let (ps, a, b) = self.prev;
            if !(ps < score || (ps == score && &buf[a..b] < member)) {
                return false;
            }
        }
        push_varint(buf, member.len());
        let start = buf.len();
        crate::types::hash::listpack::extend_small(buf, member);
        let end = buf.len();
        push_score(buf, score);
        if !self.members.insert(buf, start, end, crate::types::hash::listpack::span_hash(member)) {
            self.duplicate = true;
        }
        self.prev = (score, start, end);
        self.len += 1;
        true
    }

    /// The listpack; `Err` if a member repeated.
    pub(super) fn finish(mut self) -> Result<Listpack, &'static str> {
        if self.duplicate {
            return Err("duplicate sorted set member");
        }
        if self.len == 0 {
            return Ok(Listpack::default());
        }
        self.buf[..HDR].copy_from_slice(&self.len.to_le_bytes());
        Ok(Listpack { buf: self.buf.into_boxed_slice() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_roundtrip_compactly() {
        for (s, size) in [
            (0.0, 1),
            (239.0, 1),
            (240.0, 3),
            (-1.0, 3),
            (40000.0, 5),
            (-2147483648.0, 5),
            (0.5, 5),
            (f64::INFINITY, 5),
            (f64::NEG_INFINITY, 5),
            (0.1, 9),
            (1e300, 9),
            (4294967296.0, 5),
            (9007199254740994.0, 9),
        ] {
            let mut v = Vec::new();
            push_score(&mut v, s);
            assert_eq!(v.len(), size, "{s}");
            assert_eq!(read_score(&v, 0), (s, size), "{s}");
        }
        let mut v = Vec::new();
        push_score(&mut v, -0.0);
        assert_eq!(read_score(&v, 0).0.to_bits(), 0.0f64.to_bits());
    }

    /// The direct conversion writes what encoding each member and score does (Redis's
    /// `lpAppend` of the member, `zzlInsertAt`'s score), for every score tag.
    #[test]
    fn redis_entries() {
        use crate::rdb::listpack::{append_auto, append_score};
        let long = vec![b'x'; 300];
        let mut lp = Listpack::default();
        let scores = [
            0.0,
            1.0,
            127.0,
            128.0,
            239.0,
            240.0,
            -1.0,
            -4097.0,
            40000.0,
            -2147483648.0,
            0.5,
            12.25,
            0.1,
            1e18,
            5e18,
            4294967296.0,
            1e300,
            -1e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let members: Vec<Vec<u8>> = (0..scores.len())
            .map(|i| match i % 4 {
                0 => format!("member:{i}").into_bytes(),
                1 => i.to_string().into_bytes(),
                2 => format!("-{i}").into_bytes(),
                _ => [&long[..], i.to_string().as_bytes()].concat(),
            })
            .collect();
        for (m, s) in members.iter().zip(scores) {
            lp.insert_new(m, s);
        }
        let mut got = Vec::new();
        assert_eq!(lp.write_redis_entries(&mut got), 2 * scores.len());
        let mut want = Vec::new();
        for (m, s) in lp.iter() {
            append_auto(&mut want, m);
            append_score(&mut want, s);
        }
        assert_eq!(got, want);
        assert_eq!(Listpack::default().write_redis_entries(&mut Vec::new()), 0);
    }

    #[test]
    fn sorted_insert_find_remove() {
        let mut lp = Listpack::default();
        let long = vec![b'x'; 300];
        lp.insert_new(b"b", 2.0);
        lp.insert_new(b"a", 2.0);
        lp.insert_new(&long, -1.5);
        lp.insert_new(b"c", 1.0);
        let all: Vec<(Vec<u8>, f64)> = lp.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(all, vec![(long.clone(), -1.5), (b"c".to_vec(), 1.0), (b"a".to_vec(), 2.0), (b"b".to_vec(), 2.0)]);
        assert_eq!(lp.rank(b"a"), Some(2));
        assert_eq!(lp.score(&long), Some(-1.5));
        assert_eq!(lp.update(b"a", 0.0), Some(2.0));
        assert_eq!(lp.rank(b"a"), Some(1));
        let back: Vec<&[u8]> = lp.iter_back_from(3, 10).map(|(m, _)| m).collect();
        assert_eq!(back, vec![&b"b"[..], b"c", b"a", &long[..]]);
        let back: Vec<&[u8]> = lp.iter_back_from(2, 2).map(|(m, _)| m).collect();
        assert_eq!(back, vec![&b"c"[..], b"a"]);
        assert_eq!(lp.remove(b"zz"), None);
        assert_eq!(lp.remove(&long), Some(-1.5));
        let mut gone = Vec::new();
        lp.remove_range(1, 5, |m, _| gone.push(m.to_vec()));
        assert_eq!(gone, vec![b"c".to_vec(), b"b".to_vec()]);
        assert_eq!(lp.len(), 1);
        assert_eq!(lp.heap_size(), HDR + lp.bytes());
    }
}
