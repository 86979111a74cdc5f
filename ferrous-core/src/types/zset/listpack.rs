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
#[derive(Clone, Default)]
pub(super) struct Listpack {
    buf: Vec<u8>,
    len: u32,
}

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
    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.len as usize
    }

    /// Bytes used by the entries.
    pub(super) fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes.
    pub(super) fn heap_size(&self) -> usize {
        self.buf.capacity()
    }

    /// Every entry in order.
    pub(super) fn iter(&self) -> LpIter<'_> {
        LpIter { buf: &self.buf, pos: 0, left: usize::MAX }
    }

    /// Offset of the entry of rank `rank` (the buffer's length if past the end).
    fn offset_of(&self, rank: usize) -> usize {
        let mut pos = 0;
        for _ in 0..rank {
            if pos >= self.buf.len() {
                break;
            }
            pos = read_entry(&self.buf, pos).2;
        }
        pos
    }

    /// `count` entries from rank `start` forward.
    pub(super) fn iter_from(&self, start: usize, count: usize) -> LpIter<'_> {
        LpIter { buf: &self.buf, pos: self.offset_of(start), left: count }
    }

    /// `count` entries from rank `start` backward (`start`, `start - 1`, ...).
    pub(super) fn iter_back_from(&self, start: usize, count: usize) -> LpRevIter<'_> {
        if start >= self.len() {
            return LpRevIter { buf: &self.buf, offsets: Vec::new() };
        }
        let n = count.min(start + 1);
        let first = start + 1 - n;
        let mut offsets = Vec::with_capacity(n);
        let mut pos = self.offset_of(first);
        for _ in 0..n {
            if pos >= self.buf.len() {
                break;
            }
            offsets.push(pos);
            pos = read_entry(&self.buf, pos).2;
        }
        LpRevIter { buf: &self.buf, offsets }
    }

    /// The entry of rank `rank`.
    pub(super) fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        let (m, s, _) = read_entry(&self.buf, self.offset_of(rank));
        Some((m, s))
    }

    /// Finds `member`: (rank, offset, end offset, score).
    fn find(&self, member: &[u8]) -> Option<(usize, usize, usize, f64)> {
        let mut pos = 0;
        let mut rank = 0;
        while pos < self.buf.len() {
            let (m, s, next) = read_entry(&self.buf, pos);
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
        let mut pos = 0;
        while pos < self.buf.len() {
            let (m, s, next) = read_entry(&self.buf, pos);
            if s > score || (s == score && m > member) {
                break;
            }
            pos = next;
        }
        let mut enc = Vec::with_capacity(member.len() + 14);
        push_varint(&mut enc, member.len());
        enc.extend_from_slice(member);
        push_score(&mut enc, score);
        let old = self.buf.len();
        self.buf.reserve_exact(enc.len());
        self.buf.resize(old + enc.len(), 0);
        self.buf.copy_within(pos..old, pos + enc.len());
        self.buf[pos..pos + enc.len()].copy_from_slice(&enc);
        self.len += 1;
    }

    /// Appends a member known to sort after every present one (bulk loads in order).
    pub(super) fn push_sorted(&mut self, member: &[u8], score: f64) {
        push_varint(&mut self.buf, member.len());
        self.buf.extend_from_slice(member);
        push_score(&mut self.buf, score);
        self.len += 1;
    }

    /// Releases spare capacity (after bulk building).
    pub(super) fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    fn cut(&mut self, start: usize, end: usize) {
        self.buf.drain(start..end);
        if self.buf.capacity() - self.buf.len() >= 32 {
            self.buf.shrink_to_fit();
        }
    }

    /// Removes `member`; returns its score.
    pub(super) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, start, end, score) = self.find(member)?;
        self.cut(start, end);
        self.len -= 1;
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
        let mut pos = from;
        let mut n = 0;
        while n < count && pos < self.buf.len() {
            let (m, s, next) = read_entry(&self.buf, pos);
            f(m, s);
            pos = next;
            n += 1;
        }
        self.cut(from, pos);
        self.len -= n as u32;
    }

    /// Number of entries whose (score, member) satisfy `pred` (true on a prefix).
    pub(super) fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.iter().take_while(|(m, s)| pred(*s, m)).count()
    }
}

/// Builds a listpack from members arriving in (score, member) order, in one pass (the RDB
/// loader's path): checks the order and that no member repeats as it goes.
pub(super) struct SortedBuilder {
    lp: Listpack,
    members: crate::types::hash::listpack::DupCheck,
    /// The previous score and the span of its member in the buffer.
    prev: (f64, usize, usize),
    duplicate: bool,
}

impl SortedBuilder {
    /// A builder for about `n` members taking about `bytes` bytes.
    pub(super) fn new(bytes: usize, n: usize) -> SortedBuilder {
        SortedBuilder {
            lp: Listpack { buf: Vec::with_capacity(bytes), len: 0 },
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
        let buf = &mut self.lp.buf;
        if self.lp.len > 0 {
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
        self.lp.len += 1;
        true
    }

    /// The listpack; `Err` if a member repeated.
    pub(super) fn finish(mut self) -> Result<Listpack, &'static str> {
        if self.duplicate {
            return Err("duplicate sorted set member");
        }
        self.lp.shrink();
        Ok(self.lp)
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
        assert!(lp.buf.capacity() - lp.buf.len() < 32);
    }
}
