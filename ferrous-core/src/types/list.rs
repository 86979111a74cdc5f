//! Lists: the [`List`] value (a quicklist of packed nodes) and the list operations of the
//! typed API.
//!
//! # Layout
//!
//! A [`List`] is what Redis 7.0 calls a quicklist: a deque of nodes, each node one packed
//! byte buffer holding a run of consecutive elements (Redis's listpack idea) plus its element
//! count. Pushing and popping at either end touch only the end nodes; positional commands
//! (LINDEX, LSET, LRANGE, LINSERT) skip whole nodes by their counts and decode entries only
//! inside the one node they land in.
//!
//! An entry is `header [data] backlen`:
//!
//! | header                | meaning                                   | size      |
//! |-----------------------|-------------------------------------------|-----------|
//! | `0xxxxxxx`            | integer 0..=127                            | 1         |
//! | `10xxxxxx`            | string of 0..=63 bytes                     | 1 + len   |
//! | `110xxxxx` + 1 byte   | 13-bit signed integer                      | 2         |
//! | `1110xxxx` + 1 byte   | string of up to 4095 bytes                 | 2 + len   |
//! | `0xF0` + u32 LE       | longer string                              | 5 + len   |
//! | `0xF1..=0xF4`         | 16/24/32/64-bit signed integer, LE         | 3/4/5/9   |
//!
//! `backlen` is the length of `header [data]` in 1..=5 bytes, readable from its last byte
//! backwards (7 bits per byte, high bit = "more bytes before me"), so a node can be walked
//! from its tail as well as from its head. Elements that are canonical decimal integers
//! (Redis's `string2ll` rules) are stored as integers, so a short string costs its length
//! plus 2 bytes and a small number 2 bytes in all, as in Redis.
//!
//! # Node size
//!
//! `list-max-listpack-size` (read when a list is created, as Redis does) bounds each node:
//! a negative value `-n` limits a node to 4/8/16/32/64 KB for n = 1..=5 (default -2: 8 KB); a
//! positive value limits the number of entries per node (and its size to 8 KB). A node
//! always accepts its first element, so an element larger than the limit gets a node of its
//! own. Inserting into a full node in the middle splits it (and merges neighbours that fit);
//! deletions only drop nodes they empty.
//!
//! Where nodes split is part of what DUMP and SAVE write, so insertions decide as Redis
//! 7.0's `_quicklistNodeAllowInsert` does: not with the entry's exact size but with
//! `node bytes + element length + 8` (its deliberate overestimate), and LINSERT follows
//! `_quicklistInsert` (the neighbour node first at a node's edge, else a split and
//! `_quicklistMergeNodes`). LSET replaces in place whatever the new size, as Redis 7.0
//! does, so a node can outgrow the limit that way.
//!
//! Buffers grow by about 1/8 at a time rather than doubling: a list of short elements is
//! dominated by its buffers, and Redis reallocates listpacks to their exact size.
use crate::access::{Access, MultiShard};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::notify;
use crate::types::hash::KeyChange;
use crate::value::Value;
use std::collections::VecDeque;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------

const ENC_STR6: u8 = 0x80;
const ENC_INT13: u8 = 0xC0;
const ENC_STR12: u8 = 0xE0;
const ENC_STR32: u8 = 0xF0;
const ENC_INT16: u8 = 0xF1;
const ENC_INT24: u8 = 0xF2;
const ENC_INT32: u8 = 0xF3;
const ENC_INT64: u8 = 0xF4;

/// One list element as stored: bytes, or an integer for canonical decimal integers.
///
/// Two elements are equal exactly when their byte forms are equal, because a canonical
/// integer is never stored as bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A string that is not a canonical integer.
    Bytes(&'a [u8]),
    /// A canonical decimal integer.
    Int(i64),
}

impl<'a> Elem<'a> {
    /// Classifies user bytes the way they are stored.
    #[inline]
    pub fn from_bytes(b: &'a [u8]) -> Elem<'a> {
        match ferrous_resp::parse_i64(b) {
            Some(i) => Elem::Int(i),
            None => Elem::Bytes(b),
        }
    }
    /// The byte form.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
    /// Runs `f` on the byte form without allocating.
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Bytes(b) => f(b),
            Elem::Int(i) => {
                let mut buf = [0u8; 20];
                f(fmt_int(i, &mut buf))
            }
        }
    }
}

impl std::fmt::Debug for Elem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Elem::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Elem::Int(i) => write!(f, "{i}"),
        }
    }
}

/// Formats `i` in decimal into `buf`.
fn fmt_int(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut p = buf.len();
    loop {
        p -= 1;
        buf[p] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        p -= 1;
        buf[p] = b'-';
    }
    &buf[p..]
}

/// Bytes of `header [data]` for an element.
#[inline]
fn payload_len(e: Elem<'_>) -> usize {
    match e {
        Elem::Int(i) => match i {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8_388_608..=8_388_607 => 4,
            -2_147_483_648..=2_147_483_647 => 5,
            _ => 9,
        },
        Elem::Bytes(b) => {
            b.len()
                + match b.len() {
                    0..=63 => 1,
                    64..=4095 => 2,
                    _ => 5,
                }
        }
    }
}

/// Bytes of the backlen field for a payload of `l` bytes.
#[inline]
fn backlen_len(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => 5,
    }
}

/// Total bytes an element occupies in a node.
#[inline]
fn entry_size(e: Elem<'_>) -> usize {
    let l = payload_len(e);
    l + backlen_len(l)
}

/// Writes the entry for `e` into `dst`, which is exactly [`entry_size`] bytes long.
fn write_entry(dst: &mut [u8], e: Elem<'_>) {
    let l = payload_len(e);
    match e {
        Elem::Int(i) => match l {
            1 => dst[0] = i as u8,
            2 => {
                let u = (i as u16) & 0x1FFF;
                dst[0] = ENC_INT13 | (u >> 8) as u8;
                dst[1] = u as u8;
            }
            3 => {
                dst[0] = ENC_INT16;
                dst[1..3].copy_from_slice(&(i as i16).to_le_bytes());
            }
            4 => {
                dst[0] = ENC_INT24;
                dst[1..4].copy_from_slice(&(i as i32).to_le_bytes()[..3]);
            }
            5 => {
                dst[0] = ENC_INT32;
                dst[1..5].copy_from_slice(&(i as i32).to_le_bytes());
            }
            _ => {
                dst[0] = ENC_INT64;
                dst[1..9].copy_from_slice(&i.to_le_bytes());
            }
        },
        Elem::Bytes(b) => {
            let n = b.len();
            let h = match n {
                0..=63 => {
                    dst[0] = ENC_STR6 | n as u8;
                    1
                }
                64..=4095 => {
                    dst[0] = ENC_STR12 | (n >> 8) as u8;
                    dst[1] = n as u8;
                    2
                }
                _ => {
                    dst[0] = ENC_STR32;
                    dst[1..5].copy_from_slice(&(n as u32).to_le_bytes());
                    5
                }
            };
            dst[h..h + n].copy_from_slice(b);
        }
    }
    let k = backlen_len(l);
    for j in 0..k {
        // Byte l+k-1-j holds bits 7j..7j+7; all but the first byte say "more before me".
        let more = if j + 1 < k { 0x80 } else { 0 };
        dst[l + k - 1 - j] = ((l >> (7 * j)) & 0x7F) as u8 | more;
    }
}

/// Bytes of `header [data]` of the entry at `off`.
#[inline]
fn payload_len_at(buf: &[u8], off: usize) -> usize {
    let b = buf[off];
    match b {
        0x00..=0x7F => 1,
        0x80..=0xBF => 1 + (b & 0x3F) as usize,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 2 + (((b & 0x0F) as usize) << 8 | buf[off + 1] as usize),
        ENC_STR32 => 5 + u32::from_le_bytes([buf[off + 1], buf[off + 2], buf[off + 3], buf[off + 4]]) as usize,
        ENC_INT16 => 3,
        ENC_INT24 => 4,
        ENC_INT32 => 5,
        _ => 9,
    }
}

/// Total size of the entry at `off`.
#[inline]
fn entry_len_at(buf: &[u8], off: usize) -> usize {
    let l = payload_len_at(buf, off);
    l + backlen_len(l)
}

/// Decodes the entry at `off`: the element and the entry's total size.
#[inline]
fn read_entry(buf: &[u8], off: usize) -> (Elem<'_>, usize) {
    let b = buf[off];
    let (e, l) = match b {
        0x00..=0x7F => (Elem::Int(b as i64), 1),
        0x80..=0xBF => {
            let n = (b & 0x3F) as usize;
            (Elem::Bytes(&buf[off + 1..off + 1 + n]), 1 + n)
        }
        0xC0..=0xDF => {
            let u = ((b & 0x1F) as u16) << 8 | buf[off + 1] as u16;
            (Elem::Int((((u << 3) as i16) >> 3) as i64), 2)
        }
        0xE0..=0xEF => {
            let n = ((b & 0x0F) as usize) << 8 | buf[off + 1] as usize;
            (Elem::Bytes(&buf[off + 2..off + 2 + n]), 2 + n)
        }
        ENC_STR32 => {
            let n = u32::from_le_bytes([buf[off + 1], buf[off + 2], buf[off + 3], buf[off + 4]]) as usize;
            (Elem::Bytes(&buf[off + 5..off + 5 + n]), 5 + n)
        }
        ENC_INT16 => (Elem::Int(i16::from_le_bytes([buf[off + 1], buf[off + 2]]) as i64), 3),
        ENC_INT24 => {
            let v = i32::from_le_bytes([0, buf[off + 1], buf[off + 2], buf[off + 3]]) >> 8;
            (Elem::Int(v as i64), 4)
        }
        ENC_INT32 => {
            let v = i32::from_le_bytes([buf[off + 1], buf[off + 2], buf[off + 3], buf[off + 4]]);
            (Elem::Int(v as i64), 5)
        }
        _ => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&buf[off + 1..off + 9]);
            (Elem::Int(i64::from_le_bytes(raw)), 9)
        }
    };
    (e, l + backlen_len(l))
}

/// [`read_entry`] for untrusted bytes: the element at `off` and its payload length (header
/// and data), if its header is valid and it lies inside `buf`.
fn checked_payload(buf: &[u8], off: usize) -> Option<(Elem<'_>, usize)> {
    let b = *buf.get(off)?;
    let bytes = |from: usize, n: usize| buf.get(off + from..(off + from).checked_add(n)?);
    let le = |n: usize| -> Option<i64> {
        let raw = bytes(1, n)?;
        let mut v = [0u8; 8];
        v[8 - n..].copy_from_slice(raw);
        Some(i64::from_le_bytes(v) >> (64 - 8 * n))
    };
    Some(match b {
        0x00..=0x7F => (Elem::Int(b as i64), 1),
        0x80..=0xBF => {
            let n = (b & 0x3F) as usize;
            (Elem::Bytes(bytes(1, n)?), 1 + n)
        }
        0xC0..=0xDF => {
            let u = ((b & 0x1F) as u16) << 8 | *buf.get(off + 1)? as u16;
            (Elem::Int((((u << 3) as i16) >> 3) as i64), 2)
        }
        0xE0..=0xEF => {
            let n = ((b & 0x0F) as usize) << 8 | *buf.get(off + 1)? as usize;
            (Elem::Bytes(bytes(2, n)?), 2 + n)
        }
        ENC_STR32 => {
            let raw = bytes(1, 4)?;
            let n = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
            (Elem::Bytes(bytes(5, n)?), 5usize.checked_add(n)?)
        }
        ENC_INT16 => (Elem::Int(le(2)?), 3),
        ENC_INT24 => (Elem::Int(le(3)?), 4),
        ENC_INT32 => (Elem::Int(le(4)?), 5),
        ENC_INT64 => (Elem::Int(le(8)?), 9),
        _ => return None,
    })
}

/// Start of the entry that ends at `end` (read through its backlen).
#[inline]
fn prev_start(buf: &[u8], end: usize) -> usize {
    let mut p = end - 1;
    let mut l = (buf[p] & 0x7F) as usize;
    let mut shift = 7;
    while buf[p] & 0x80 != 0 {
        p -= 1;
        l |= ((buf[p] & 0x7F) as usize) << shift;
        shift += 7;
    }
    p - l
}

// ---------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------

/// Node size limits for negative `list-max-listpack-size` values -1..=-5.
const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Size cap of a node when the fill is an entry count (Redis's `SIZE_SAFETY_LIMIT`).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Redis's listpack header and terminator, counted so nodes split where Redis's do.
const NODE_OVERHEAD: usize = 7;
/// Largest positive fill (Redis's `FILL_MAX`).
const FILL_MAX: i64 = 1 << 15;
/// What Redis 7.0 adds to a node's size for each element it considers inserting
/// (`SIZE_ESTIMATE_OVERHEAD`): more than any element's header and back-length, on purpose.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Redis's `packed_threshold` (`isLargeElement`): such an element gets a node of its own.
const LARGE_ELEMENT: usize = crate::rdb::PLAIN_THRESHOLD;

/// Length of an element's string form (what Redis passes as `sz`: the decimal digits of an
/// integer).
#[inline]
fn str_len(e: Elem<'_>) -> usize {
    match e {
        Elem::Bytes(b) => b.len(),
        Elem::Int(i) => {
            let mut n = i.unsigned_abs();
            let mut digits = 1;
            while n >= 10 {
                n /= 10;
                digits += 1;
            }
            digits + (i < 0) as usize
        }
    }
}

/// Redis 7.0's `_quicklistNodeAllowMerge`: whether two nodes with `bytes` entry bytes and
/// `count` entries in all may become one. Redis 7.0 estimates the merged size as the sum of
/// both sizes minus 11 (a ziplist's header and end, a constant left from before listpacks;
/// a listpack's are 7), so a merge may overshoot the limit by 4 bytes: 8193-byte nodes come
/// out of redis-server 7.0.15 that way.
#[inline]
fn allows_merge(fill: i32, bytes: usize, count: usize) -> bool {
    let merge_sz = (bytes + 2 * NODE_OVERHEAD).saturating_sub(11);
    if fill < 0 {
        merge_sz <= SIZE_LEVELS[(fill.unsigned_abs() as usize).min(5) - 1]
    } else {
        merge_sz <= SIZE_SAFETY_LIMIT && count <= fill as usize
    }
}

/// Redis 7.0's `_quicklistNodeAllowInsert`: whether a node of `bytes` entry bytes and
/// `count` entries takes one more element whose string form is `len` bytes long.
#[inline]
fn allows_insert(fill: i32, bytes: usize, count: usize, len: usize) -> bool {
    if len >= LARGE_ELEMENT {
        return false;
    }
    let new_sz = bytes + NODE_OVERHEAD + len + SIZE_ESTIMATE_OVERHEAD;
    if fill < 0 {
        new_sz <= SIZE_LEVELS[(fill.unsigned_abs() as usize).min(5) - 1]
    } else {
        new_sz <= SIZE_SAFETY_LIMIT && count < fill as usize
    }
}

/// A node's bytes and entry count: a growable buffer like `Vec<u8>` in 20 bytes instead of 24
/// (an exact-size `Box<[u8]>` whose tail is slack, and the used length as a `u32`), so that
/// with the count a [`Node`] is 24 bytes instead of 32. The deque of a one-node list (most lists) then fits a 32-byte
/// malloc chunk instead of a 48-byte one.
///
/// A length that does not fit the `u32` (a node of 4 GiB or more, which only an element that
/// big can make) is stored as [`NodeBuf::EXACT`]: the buffer is then kept at its exact size
/// and its length is the allocation's.
#[derive(Clone, Default)]
struct NodeBuf {
    data: Box<[u8]>,
    used: u32,
    /// The node's entry count (kept here, beside `used`, so that a `Node` packs in 24
    /// bytes).
    count: u32,
}

impl NodeBuf {
    /// `used` value meaning "the whole allocation".
    const EXACT: u32 = u32::MAX;

    /// A buffer holding `v`, whose entries number `count`.
    fn from_vec(mut v: Vec<u8>, count: u32) -> NodeBuf {
        let len = v.len();
        let cap = v.capacity();
        v.resize(cap, 0);
        let mut b = NodeBuf { data: v.into_boxed_slice(), used: 0, count };
        b.set_len(len);
        b
    }

    #[inline]
    fn len(&self) -> usize {
        if self.used == Self::EXACT {
            self.data.len()
        } else {
            self.used as usize
        }
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Sets the used length (at most the capacity).
    #[inline]
    fn set_len(&mut self, n: usize) {
        let n = n.min(self.data.len());
        match u32::try_from(n) {
            Ok(v) if v != Self::EXACT => self.used = v,
            _ => {
                if n < self.data.len() {
                    self.realloc(n, n);
                }
                self.used = Self::EXACT;
            }
        }
    }

    /// Moves the first `keep` bytes into an allocation of exactly `cap` bytes (`keep <= cap`).
    fn realloc(&mut self, keep: usize, cap: usize) {
        let mut v = std::mem::take(&mut self.data).into_vec();
        v.truncate(keep);
        if cap > keep {
            v.reserve_exact(cap - keep);
        } else {
            v.shrink_to_fit();
        }
        v.resize(v.capacity().max(keep), 0);
        self.data = v.into_boxed_slice();
    }

    /// Makes room for `extra` more bytes, exactly.
    fn reserve_exact(&mut self, extra: usize) {
        let len = self.len();
        if self.capacity() - len < extra {
            self.realloc(len, len + extra);
            self.set_len(len);
        }
    }

    /// Extends the used length to `n` (at most the capacity), leaving the new bytes as
    /// they were: callers overwrite them.
    #[inline]
    fn grow_to(&mut self, n: usize) {
        self.set_len(n);
    }

    fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.set_len(n);
        }
    }

    /// Drops the first `n` bytes.
    fn remove_front(&mut self, n: usize) {
        let len = self.len();
        let n = n.min(len);
        self.data.copy_within(n..len, 0);
        self.set_len(len - n);
    }

    fn extend_from_slice(&mut self, s: &[u8]) {
        self.reserve_exact(s.len());
        let len = self.len();
        self.data[len..len + s.len()].copy_from_slice(s);
        self.set_len(len + s.len());
    }

    /// Shrinks the allocation to `cap` bytes (never below the length).
    fn shrink_to(&mut self, cap: usize) {
        let len = self.len();
        let cap = cap.max(len);
        if cap < self.capacity() {
            self.realloc(len, cap);
            self.set_len(len);
        }
    }

    fn shrink_to_fit(&mut self) {
        self.shrink_to(self.len());
    }
}

impl std::ops::Deref for NodeBuf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.data[..self.len()]
    }
}

impl std::ops::DerefMut for NodeBuf {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        &mut self.data[..len]
    }
}

/// One packed run of entries (its count is `buf.count`).
#[derive(Clone, Default)]
struct Node {
    buf: NodeBuf,
}

impl Node {
    fn single(e: Elem<'_>, size: usize) -> Node {
        let mut n = Node { buf: NodeBuf::default() };
        n.buf.reserve_exact(size);
        n.splice(0, 0, e, size);
        n.buf.count = 1;
        n
    }

    #[inline]
    fn count(&self) -> usize {
        self.buf.count as usize
    }

    /// Byte offset of entry `k` (`k == count` gives the end).
    fn offset_of(&self, k: usize) -> usize {
        let n = self.count();
        if k <= n / 2 {
            let mut off = 0;
            for _ in 0..k {
                off += entry_len_at(&self.buf, off);
            }
            off
        } else {
            let mut off = self.buf.len();
            for _ in k..n {
                off = prev_start(&self.buf, off);
            }
            off
        }
    }

    /// Replaces the `old` bytes at `off` by the entry for `e` (`size` bytes). Does not
    /// change `count`.
    fn splice(&mut self, off: usize, old: usize, e: Elem<'_>, size: usize) {
        let len = self.buf.len();
        if size > old {
            let want = len + size - old;
            if want > self.buf.capacity() {
                // Grow by ~1/8 (see the module docs), at least 16 bytes.
                let target = want + (want / 8).max(16);
                self.buf.reserve_exact(target - len);
            }
            self.buf.grow_to(want);
            self.buf.copy_within(off + old..len, off + size);
        } else if size < old {
            self.buf.copy_within(off + old..len, off + size);
            self.buf.truncate(len - (old - size));
        }
        write_entry(&mut self.buf[off..off + size], e);
    }

    /// Inserts `e` as entry `k` (`k == count` appends).
    fn insert_entry(&mut self, k: usize, e: Elem<'_>) {
        let off = self.offset_of(k);
        self.splice(off, 0, e, entry_size(e));
        self.buf.count += 1;
    }

    /// Removes the sorted, disjoint byte ranges `(start, len)`. Does not change `count`.
    fn remove_ranges(&mut self, ranges: &[(usize, usize)]) {
        let Some(&(first, _)) = ranges.first() else { return };
        let mut w = first;
        for (i, &(s, l)) in ranges.iter().enumerate() {
            let next = ranges.get(i + 1).map_or(self.buf.len(), |r| r.0);
            self.buf.copy_within(s + l..next, w);
            w += next - (s + l);
        }
        self.buf.truncate(w);
        self.shrink();
    }

    /// Drops the first `n` bytes.
    fn cut_front(&mut self, n: usize) {
        self.buf.remove_front(n);
        self.shrink();
    }

    /// Keeps only the first `n` bytes.
    fn cut_back(&mut self, n: usize) {
        self.buf.truncate(n);
        self.shrink();
    }

    /// Gives memory back once a node has lost a good part of its entries.
    fn shrink(&mut self) {
        let len = self.buf.len();
        if self.buf.capacity() > len + len / 2 + 64 {
            self.buf.shrink_to(len + len / 8);
        }
    }
}

// ---------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------

/// A list value: a quicklist of packed nodes (see the module docs).
#[derive(Clone)]
pub struct List {
    nodes: VecDeque<Node>,
    /// The number of elements (low 48 bits) and the node fill plus 5 (high 16 bits: the
    /// fill is in -5..=32768): one word, so that a `List` is 40 bytes and its box a 48-byte
    /// malloc chunk rather than a 64-byte one.
    len_fill: u64,
}

/// Bits of [`List::len_fill`] holding the length.
const LEN_BITS: u32 = 48;
const LEN_MASK: u64 = (1 << LEN_BITS) - 1;

impl Default for List {
    fn default() -> Self {
        List::new()
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V: AsRef<[u8]>> FromIterator<V> for List {
    fn from_iter<I: IntoIterator<Item = V>>(iter: I) -> Self {
        let mut l = List::new();
        l.extend(iter);
        l
    }
}

impl<V: AsRef<[u8]>> Extend<V> for List {
    fn extend<I: IntoIterator<Item = V>>(&mut self, iter: I) {
        for v in iter {
            self.push_back(v.as_ref());
        }
    }
}

impl List {
    /// Redis's default `list-max-listpack-size`: nodes of at most 8 KB.
    pub const DEFAULT_FILL: i64 = -2;

    /// An empty list with the default node size.
    pub fn new() -> List {
        List::with_fill(Self::DEFAULT_FILL)
    }

    /// An empty list whose nodes follow `fill` (a `list-max-listpack-size` value; clamped
    /// to -5..=32768 as Redis does).
    pub fn with_fill(fill: i64) -> List {
        let code = (fill.clamp(-5, FILL_MAX) + 5) as u64;
        List { nodes: VecDeque::new(), len_fill: code << LEN_BITS }
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        (self.len_fill & LEN_MASK) as usize
    }
    /// Sets the number of elements (below 2^48: far more than memory holds).
    #[inline]
    fn set_len(&mut self, n: usize) {
        self.len_fill = (self.len_fill & !LEN_MASK) | (n as u64 & LEN_MASK);
    }
    /// The node fill (`list-max-listpack-size`, clamped).
    #[inline]
    fn node_fill(&self) -> i32 {
        (self.len_fill >> LEN_BITS) as i32 - 5
    }
    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// OBJECT ENCODING name (Redis 7.0 lists are always quicklists).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
    /// The node fill this list was created with.
    pub fn fill(&self) -> i64 {
        self.node_fill() as i64
    }
    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
    /// Approximate heap bytes owned by the list (including its boxed header).
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<List>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
    }

    /// Checks the internal invariants (counts, entry framing); for tests. Node sizes are not
    /// checked: LSET may leave a node over its limit, as in Redis.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut total = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.buf.count == 0 {
                return Err(format!("node {i} is empty"));
            }
            let (mut off, mut k) = (0, 0);
            while off < n.buf.len() {
                let (e, sz) = read_entry(&n.buf, off);
                if entry_size(e) != sz || prev_start(&n.buf, off + sz) != off {
                    return Err(format!("node {i}: bad entry framing at {off}"));
                }
                if let Elem::Bytes(b) = e {
                    if ferrous_resp::parse_i64(b).is_some() {
                        return Err(format!("node {i}: integer stored as bytes"));
                    }
                }
                off += sz;
                k += 1;
            }
            if off != n.buf.len() || k != n.count() {
                return Err(format!("node {i}: count {} but {k} entries", n.buf.count));
            }
            total += k;
        }
        if total != self.len() {
            return Err(format!("len {} but {total} entries", self.len()));
        }
        Ok(())
    }

    fn reserve_node(&mut self) {
        // A single-node list (the common case) keeps a one-slot deque instead of the
        // default first allocation of four.
        if self.nodes.capacity() == 0 {
            self.nodes.reserve_exact(1);
        }
    }

    /// Appends an element.
    pub fn push_back(&mut self, v: &[u8]) {
        self.push_elem_back(Elem::from_bytes(v));
    }

    /// Prepends an element.
    pub fn push_front(&mut self, v: &[u8]) {
        self.push_elem_front(Elem::from_bytes(v));
    }

    /// Adds an element at `end`.
    pub fn push(&mut self, end: ListEnd, v: &[u8]) {
        match end {
            ListEnd::Left => self.push_front(v),
            ListEnd::Right => self.push_back(v),
        }
    }

    fn push_elem_back(&mut self, e: Elem<'_>) {
        let size = entry_size(e);
        let fill = self.node_fill();
        match self.nodes.back_mut() {
            Some(n) if allows_insert(fill, n.buf.len(), n.count(), str_len(e)) => {
                let off = n.buf.len();
                n.splice(off, 0, e, size);
                n.buf.count += 1;
            }
            full => {
                // The old tail node is done growing: give back its slack.
                if let Some(n) = full {
                    n.buf.shrink_to_fit();
                }
                self.reserve_node();
                self.nodes.push_back(Node::single(e, size));
            }
        }
        self.set_len(self.len() + 1);
    }

    fn push_elem_front(&mut self, e: Elem<'_>) {
        let size = entry_size(e);
        let fill = self.node_fill();
        match self.nodes.front_mut() {
            Some(n) if allows_insert(fill, n.buf.len(), n.count(), str_len(e)) => {
                n.splice(0, 0, e, size);
                n.buf.count += 1;
            }
            full => {
                if let Some(n) = full {
                    n.buf.shrink_to_fit();
                }
                self.reserve_node();
                self.nodes.push_front(Node::single(e, size));
            }
        }
        self.set_len(self.len() + 1);
    }

    /// Gives back the growth slack of the end nodes (after a multi-element push: the
    /// list is likely done growing for now, and one reallocation is cheap next to the
    /// push itself).
    pub fn shrink_ends(&mut self) {
        let last = self.nodes.len().saturating_sub(1);
        for i in [0, last] {
            if let Some(n) = self.nodes.get_mut(i) {
                if n.buf.capacity() > n.buf.len() + 8 {
                    n.buf.shrink_to_fit();
                }
            }
        }
    }

    /// Removes the element at `end`, handing it to `f` before it is dropped.
    pub fn pop_with<R>(&mut self, end: ListEnd, f: impl FnOnce(Elem<'_>) -> R) -> Option<R> {
        let r;
        match end {
            ListEnd::Left => {
                let node = self.nodes.front_mut()?;
                let (e, sz) = read_entry(&node.buf, 0);
                r = f(e);
                node.buf.count -= 1;
                if node.buf.count == 0 {
                    self.nodes.pop_front();
                } else {
                    node.cut_front(sz);
                }
            }
            ListEnd::Right => {
                let node = self.nodes.back_mut()?;
                let start = prev_start(&node.buf, node.buf.len());
                let (e, _) = read_entry(&node.buf, start);
                r = f(e);
                node.buf.count -= 1;
                if node.buf.count == 0 {
                    self.nodes.pop_back();
                } else {
                    node.cut_back(start);
                }
            }
        }
        self.set_len(self.len() - 1);
        Some(r)
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: ListEnd) -> Option<Vec<u8>> {
        self.pop_with(end, |e| e.to_vec())
    }

    /// Removes up to `n` elements from `end`, handing each to `f` in pop order. Returns how
    /// many were removed.
    pub fn pop_many(&mut self, end: ListEnd, n: usize, mut f: impl FnMut(Elem<'_>)) -> usize {
        let n = n.min(self.len());
        match end {
            ListEnd::Left => {
                self.iter().take(n).for_each(&mut f);
                self.remove_front(n);
            }
            ListEnd::Right => {
                self.iter().rev().take(n).for_each(&mut f);
                self.remove_back(n);
            }
        }
        n
    }

    /// Drops the first `n` elements.
    fn remove_front(&mut self, mut n: usize) {
        n = n.min(self.len());
        self.set_len(self.len() - n);
        while n > 0 {
            let Some(node) = self.nodes.front_mut() else { break };
            if node.count() <= n {
                n -= node.count();
                self.nodes.pop_front();
            } else {
                let off = node.offset_of(n);
                node.cut_front(off);
                node.buf.count -= n as u32;
                n = 0;
            }
        }
    }

    /// Drops the last `n` elements.
    fn remove_back(&mut self, mut n: usize) {
        n = n.min(self.len());
        self.set_len(self.len() - n);
        while n > 0 {
            let Some(node) = self.nodes.back_mut() else { break };
            if node.count() <= n {
                n -= node.count();
                self.nodes.pop_back();
            } else {
                let off = node.offset_of(node.count() - n);
                node.cut_back(off);
                node.buf.count -= n as u32;
                n = 0;
            }
        }
    }

    /// Turns a Redis index (negative = from the end) into a position, if in range.
    #[inline]
    fn resolve(&self, index: i64) -> Option<usize> {
        let i = if index < 0 { self.len() as i64 + index } else { index };
        (0..self.len() as i64).contains(&i).then_some(i as usize)
    }

    /// The node holding element `index` (< len) and the element's position in it, walking
    /// node counts from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len() / 2 {
            let mut i = index;
            for (ni, n) in self.nodes.iter().enumerate() {
                if i < n.count() {
                    return (ni, i);
                }
                i -= n.count();
            }
        } else {
            let mut i = self.len() - 1 - index;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                if i < n.count() {
                    return (ni, n.count() - 1 - i);
                }
                i -= n.count();
            }
        }
        debug_assert!(false, "index {index} out of range {}", self.len());
        (0, 0)
    }

    /// The element at a Redis index (negative = from the end).
    pub fn get(&self, index: i64) -> Option<Elem<'_>> {
        let i = self.resolve(index)?;
        let (ni, k) = self.locate(i);
        let node = &self.nodes[ni];
        Some(read_entry(&node.buf, node.offset_of(k)).0)
    }

    /// Replaces the element at a Redis index; false if out of range. In place, as Redis
    /// 7.0's `quicklistReplaceEntry` does, even when the node grows past its limit; only an
    /// element over `packed_threshold` gets a node of its own.
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        let Some(i) = self.resolve(index) else { return false };
        let e = Elem::from_bytes(v);
        let size = entry_size(e);
        let (ni, k) = self.locate(i);
        let node = &mut self.nodes[ni];
        let off = node.offset_of(k);
        let old = entry_len_at(&node.buf, off);
        if node.buf.count == 1 || str_len(e) < LARGE_ELEMENT {
            node.splice(off, old, e, size);
        } else {
            // Redis inserts the large element after the old one (a node of its own,
            // splitting this one) and then deletes the old one.
            node.remove_ranges(&[(off, old)]);
            node.buf.count -= 1;
            self.set_len(self.len() - 1);
            self.insert_elem_at(i, e);
        }
        true
    }

    /// Inserts `v` so that it becomes element `index` (`index >= len` appends): LINSERT
    /// BEFORE the element now at `index`.
    pub fn insert_at(&mut self, index: usize, v: &[u8]) {
        self.insert_elem_at(index, Elem::from_bytes(v));
    }

    fn insert_elem_at(&mut self, index: usize, e: Elem<'_>) {
        if index == 0 {
            return self.push_elem_front(e);
        }
        if index >= self.len() {
            return self.push_elem_back(e);
        }
        let (ni, k) = self.locate(index);
        self.insert_beside(ni, k, e, false);
    }

    /// Inserts `e` after (or before) entry `k` of node `ni`, choosing the node as Redis
    /// 7.0's `_quicklistInsert` does (see the module docs).
    fn insert_beside(&mut self, ni: usize, k: usize, e: Elem<'_>, after: bool) {
        let fill = self.node_fill();
        let len = str_len(e);
        let allows = |n: Option<&Node>| n.is_some_and(|n| allows_insert(fill, n.buf.len(), n.count(), len));
        let node = &self.nodes[ni];
        let full = !allows(Some(node));
        let at_tail = after && k + 1 == node.count();
        let at_head = !after && k == 0;
        let avail_next = at_tail && allows(self.nodes.get(ni + 1));
        let avail_prev = at_head && ni > 0 && allows(self.nodes.get(ni - 1));
        self.set_len(self.len() + 1);
        if len >= LARGE_ELEMENT {
            // A node of its own, next to this one or between its two halves.
            if at_tail || at_head {
                self.nodes.insert(ni + after as usize, Node::single(e, entry_size(e)));
            } else {
                let cut = k + after as usize;
                let node = &mut self.nodes[ni];
                let off = node.offset_of(cut);
                let right = Node { buf: NodeBuf::from_vec(node.buf[off..].to_vec(), node.buf.count - cut as u32) };
                node.cut_back(off);
                node.buf.count = cut as u32;
                self.nodes.insert(ni + 1, right);
                self.nodes.insert(ni + 1, Node::single(e, entry_size(e)));
            }
        } else if !full {
            self.nodes[ni].insert_entry(k + after as usize, e);
        } else if avail_next {
            self.nodes[ni + 1].insert_entry(0, e);
        } else if avail_prev {
            let prev = &mut self.nodes[ni - 1];
            let n = prev.count();
            prev.insert_entry(n, e);
        } else if at_tail || at_head {
            self.nodes.insert(ni + after as usize, Node::single(e, entry_size(e)));
        } else {
            // `_quicklistSplitNode`: after, the node keeps `..=k` and the new node (inserted
            // after it) gets the element and `k + 1..`; before, the node keeps `k..` and the
            // new one (inserted before it) gets `..k` and the element.
            let node = &mut self.nodes[ni];
            let center = if after {
                let off = node.offset_of(k + 1);
                let mut new = Node { buf: NodeBuf::from_vec(node.buf[off..].to_vec(), node.buf.count - k as u32 - 1) };
                new.insert_entry(0, e);
                node.cut_back(off);
                node.buf.count = k as u32 + 1;
                self.nodes.insert(ni + 1, new);
                ni
            } else {
                let off = node.offset_of(k);
                let mut new = Node { buf: NodeBuf::from_vec(node.buf[..off].to_vec(), k as u32) };
                new.insert_entry(k, e);
                node.cut_front(off);
                node.buf.count -= k as u32;
                self.nodes.insert(ni, new);
                ni + 1
            };
            self.merge_around(center);
        }
    }

    /// Redis's `_quicklistMergeNodes` around node `center`: the two nodes before it, the
    /// two after it, then the center with its previous node, and the result with its next.
    fn merge_around(&mut self, mut center: usize) {
        if center >= 2 && self.try_merge(center - 2) {
            center -= 1;
        }
        self.try_merge(center + 1);
        let target = if center >= 1 && self.try_merge(center - 1) { center - 1 } else { center };
        self.try_merge(target);
    }

    /// Merges node `i + 1` into node `i` if Redis would (see [`allows_merge`]).
    fn try_merge(&mut self, i: usize) -> bool {
        let (Some(a), Some(b)) = (self.nodes.get(i), self.nodes.get(i + 1)) else { return false };
        if !allows_merge(self.node_fill(), a.buf.len() + b.buf.len(), a.count() + b.count()) {
            return false;
        }
        let Some(b) = self.nodes.remove(i + 1) else { return false };
        let a = &mut self.nodes[i];
        a.buf.reserve_exact(b.buf.len());
        a.buf.extend_from_slice(&b.buf[..]);
        a.buf.count += b.buf.count;
        true
    }

    /// LINSERT: inserts `v` before or after the first element equal to `pivot`. Returns
    /// false if there is no such element.
    pub fn insert(&mut self, pivot: &[u8], v: &[u8], after: bool) -> bool {
        let needle = Elem::from_bytes(pivot);
        let Some(i) = self.iter().position(|e| e == needle) else { return false };
        let (ni, k) = self.locate(i);
        self.insert_beside(ni, k, Elem::from_bytes(v), after);
        true
    }

    /// LREM: removes elements equal to `v`: the first `count` if `count > 0`, the last
    /// `-count` if `count < 0`, all if 0. Returns how many were removed.
    pub fn remove(&mut self, v: &[u8], count: i64) -> usize {
        let needle = Elem::from_bytes(v);
        let from_tail = count < 0;
        let mut left =
            if count == 0 { usize::MAX } else { usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX) };
        let mut removed = 0;
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let n = self.nodes.len();
        for step in 0..n {
            if left == 0 {
                break;
            }
            let ni = if from_tail { n - 1 - step } else { step };
            let node = &mut self.nodes[ni];
            ranges.clear();
            let mut off = 0;
            while off < node.buf.len() {
                let (e, sz) = read_entry(&node.buf, off);
                if e == needle {
                    ranges.push((off, sz));
                    if !from_tail && ranges.len() == left {
                        break;
                    }
                }
                off += sz;
            }
            if from_tail && ranges.len() > left {
                ranges.drain(..ranges.len() - left);
            }
            if !ranges.is_empty() {
                node.remove_ranges(&ranges);
                node.buf.count -= ranges.len() as u32;
                left -= ranges.len();
                removed += ranges.len();
            }
        }
        if removed > 0 {
            self.set_len(self.len() - removed);
            // Emptied nodes go; the others stay as they are, unmerged, as in Redis 7.0's
            // `quicklistDelIndex`.
            self.nodes.retain(|n| n.buf.count > 0);
        }
        removed
    }

    /// The inclusive range of positions LRANGE/LTRIM select for `start..=stop` (Redis
    /// indexes, negative from the end), or `None` when it is empty.
    pub fn range_bounds(&self, start: i64, stop: i64) -> Option<(usize, usize)> {
        let len = self.len() as i64;
        let start = if start < 0 { (len + start).max(0) } else { start };
        let stop = if stop < 0 { len + stop } else { stop };
        if start > stop || start >= len {
            return None;
        }
        Some((start as usize, stop.min(len - 1) as usize))
    }

    /// LTRIM: keeps only `start..=stop` (Redis indexes).
    pub fn trim(&mut self, start: i64, stop: i64) {
        match self.range_bounds(start, stop) {
            None => {
                self.nodes.clear();
                self.set_len(0);
            }
            Some((a, b)) => {
                let tail = self.len() - 1 - b;
                self.remove_front(a);
                self.remove_back(tail);
            }
        }
    }

    /// All elements, head to tail (double-ended).
    pub fn iter(&self) -> Iter<'_> {
        if self.is_empty() {
            return Iter::empty(&self.nodes);
        }
        let last = self.nodes.len() - 1;
        Iter { nodes: &self.nodes, front: (0, 0), back: (last, self.nodes[last].buf.len()), remaining: self.len() }
    }

    /// LRANGE: the elements `start..=stop` (Redis indexes, negative from the end).
    pub fn range(&self, start: i64, stop: i64) -> Iter<'_> {
        match self.range_bounds(start, stop) {
            Some((a, b)) => self.iter_between(a, b),
            None => Iter::empty(&self.nodes),
        }
    }

    /// Elements at positions `first..=last` (both < len).
    fn iter_between(&self, first: usize, last: usize) -> Iter<'_> {
        let (fi, fk) = self.locate(first);
        let (li, lk) = self.locate(last);
        let front = (fi, self.nodes[fi].offset_of(fk));
        let lnode = &self.nodes[li];
        let loff = lnode.offset_of(lk);
        let back = (li, loff + entry_len_at(&lnode.buf, loff));
        Iter { nodes: &self.nodes, front, back, remaining: last - first + 1 }
    }

    /// LPOS: positions of elements equal to `v` (see [`LposOptions`]).
    pub fn positions(&self, v: &[u8], opts: &LposOptions) -> Vec<usize> {
        let needle = Elem::from_bytes(v);
        // Redis negates a negative rank; RANK i64::MIN stays negative, which Redis then
        // treats as "every match qualifies" (and with COUNT, as no count limit). The
        // wrapping arithmetic below reproduces that.
        let (rank, from_tail) = if opts.rank < 0 { (opts.rank.wrapping_neg(), true) } else { (opts.rank, false) };
        let mut out = Vec::new();
        let mut matches: i64 = 0;
        let it: Box<dyn Iterator<Item = Elem<'_>>> =
            if from_tail { Box::new(self.iter().rev()) } else { Box::new(self.iter()) };
        for (i, e) in it.enumerate() {
            if opts.maxlen != 0 && i >= opts.maxlen {
                break;
            }
            if e != needle {
                continue;
            }
            matches += 1;
            if matches >= rank {
                out.push(if from_tail { self.len() - 1 - i } else { i });
                match opts.count {
                    None => break,
                    Some(c) => {
                        if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c as i64 {
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

/// A double-ended iterator over a list's elements (see [`List::iter`], [`List::range`]).
#[derive(Clone)]
pub struct Iter<'a> {
    nodes: &'a VecDeque<Node>,
    /// Node and byte offset of the next element from the front.
    front: (usize, usize),
    /// Node and byte offset just past the next element from the back.
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iter<'a> {
    fn empty(nodes: &'a VecDeque<Node>) -> Iter<'a> {
        Iter { nodes, front: (0, 0), back: (0, 0), remaining: 0 }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    #[inline]
    fn next(&mut self) -> Option<Elem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let nodes = self.nodes;
        let (mut ni, mut off) = self.front;
        while off >= nodes[ni].buf.len() {
            ni += 1;
            off = 0;
        }
        let (e, sz) = read_entry(&nodes[ni].buf, off);
        self.front = (ni, off + sz);
        self.remaining -= 1;
        Some(e)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let nodes = self.nodes;
        let (mut ni, mut end) = self.back;
        while end == 0 {
            ni -= 1;
            end = nodes[ni].buf.len();
        }
        let start = prev_start(&nodes[ni].buf, end);
        let (e, _) = read_entry(&nodes[ni].buf, start);
        self.back = (ni, start);
        self.remaining -= 1;
        Some(e)
    }
}

impl ExactSizeIterator for Iter<'_> {}

// ---------------------------------------------------------------------------------------
// Node-level access for the RDB codec
// ---------------------------------------------------------------------------------------

impl List {
    /// The nodes, head to tail, each as an iterator over its elements (its `len()` is the
    /// node's element count). The RDB writer mirrors this layout, one listpack per node, as
    /// Redis's DUMP and SAVE do.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = Iter<'_>> + '_ {
        let nodes = &self.nodes;
        nodes.iter().enumerate().map(move |(i, n)| Iter {
            nodes,
            front: (i, 0),
            back: (i, n.buf.len()),
            remaining: n.count(),
        })
    }

    /// The entries of node `i` as Redis listpack entries, and their count, when they are
    /// byte for byte what a Redis listpack holds: the encodings are the same, except that
    /// Redis gives a payload of exactly 16383, 2097151 or 268435455 bytes a back-length one
    /// byte longer, so a node big enough for such an entry (16385 bytes or more) is `None`
    /// (its elements are then encoded one by one).
    pub fn node_listpack_entries(&self, i: usize) -> Option<(&[u8], usize)> {
        let n = self.nodes.get(i)?;
        (n.buf.len() < 16_385).then_some((&n.buf[..], n.count()))
    }

    /// Appends `elems` as one new node at the tail, whatever its size and this list's fill:
    /// how Redis 7.0 appends a node read from an RDB file (`quicklistAppendListpack`;
    /// redis-server 7.0.15 neither splits nor merges loaded nodes). Strings that are
    /// canonical integers are stored as integers, as always. Nothing is appended for no
    /// elements. `bytes` is the expected size of the node (a listpack's length bounds it),
    /// so that it is allocated once.
    pub fn push_back_node<'a>(&mut self, elems: impl IntoIterator<Item = Elem<'a>>, bytes: usize) {
        let mut buf: Vec<u8> = Vec::with_capacity(bytes);
        let mut count = 0u32;
        for e in elems {
            let e = match e {
                Elem::Bytes(b) => Elem::from_bytes(b),
                e => e,
            };
            let size = entry_size(e);
            let off = buf.len();
            buf.resize(off + size, 0);
            write_entry(&mut buf[off..], e);
            count += 1;
        }
        if count == 0 {
            return;
        }
        buf.shrink_to_fit();
        if let Some(n) = self.nodes.back_mut() {
            n.buf.shrink_to_fit();
        }
        self.reserve_node();
        self.nodes.push_back(Node { buf: NodeBuf::from_vec(buf, count) });
        self.set_len(self.len() + count as usize);
    }

    /// Appends a node made of `entries` (the entries of a listpack read from a file, header
    /// and terminator excluded) copied as they are, when they are byte for byte what this
    /// list stores for their elements: every entry well-formed and inside `entries`, strings
    /// that are not canonical integers, integers in their smallest encoding, back-lengths as
    /// Ferrous writes them, and `count` of them (`None`: any count). Redis's listpacks are
    /// all that (but for an entry whose payload is exactly 16383 bytes). Returns false,
    /// appending nothing, otherwise: the caller then decodes the elements
    /// ([`List::push_back_node`]). An empty `entries` appends nothing.
    pub fn push_back_packed(&mut self, entries: &[u8], count: Option<usize>) -> bool {
        let mut off = 0;
        let mut n = 0usize;
        while off < entries.len() {
            let Some((e, l)) = checked_payload(entries, off) else { return false };
            if payload_len(e) != l {
                return false;
            }
            if let Elem::Bytes(b) = e {
                if matches!(b.first(), Some(b'-' | b'0'..=b'9')) && ferrous_resp::parse_i64(b).is_some() {
                    return false;
                }
            }
            let k = backlen_len(l);
            let Some(back) = entries.get(off + l..off + l + k) else { return false };
            if (0..k).any(|j| back[k - 1 - j] != ((l >> (7 * j)) & 0x7F) as u8 | if j + 1 < k { 0x80 } else { 0 }) {
                return false;
            }
            off += l + k;
            n += 1;
        }
        if count.is_some_and(|c| c != n) || u32::try_from(n).is_err() {
            return false;
        }
        if n > 0 {
            if let Some(last) = self.nodes.back_mut() {
                last.buf.shrink_to_fit();
            }
            self.reserve_node();
            self.nodes.push_back(Node { buf: NodeBuf::from_vec(entries.to_vec(), n as u32) });
            self.set_len(self.len() + n);
        }
        true
    }

    /// Appends one element as RPUSH does (the old list encodings of RDB files: Redis 7.0
    /// pushes their elements one by one).
    pub fn push_back_elem(&mut self, e: Elem<'_>) {
        let e = match e {
            Elem::Bytes(b) => Elem::from_bytes(b),
            e => e,
        };
        self.push_elem_back(e);
    }
}

// ---------------------------------------------------------------------------------------
// Operations (shared by the typed API and the command handlers)
// ---------------------------------------------------------------------------------------

/// An end of a list: `LEFT` (head) or `RIGHT` (tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListEnd {
    /// The head (LPUSH, LPOP, LEFT).
    Left,
    /// The tail (RPUSH, RPOP, RIGHT).
    Right,
}

impl ListEnd {
    /// Parses `LEFT` / `RIGHT` (any case); anything else is a syntax error.
    pub fn parse(arg: &[u8]) -> Result<ListEnd> {
        if arg.eq_ignore_ascii_case(b"left") {
            Ok(ListEnd::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Ok(ListEnd::Right)
        } else {
            Err(Error::Syntax)
        }
    }
    /// The Redis keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ListEnd::Left => "LEFT",
            ListEnd::Right => "RIGHT",
        }
    }
}

/// A key and the elements popped from it (LMPOP, BLMPOP).
pub type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// Options of LPOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LposOptions {
    /// RANK: the first match to return (1 = first, 2 = second...; negative counts from the
    /// tail). Must not be 0.
    pub rank: i64,
    /// COUNT: `None` returns only the first qualifying match; `Some(0)` all of them;
    /// `Some(n)` at most `n`.
    pub count: Option<usize>,
    /// MAXLEN: compare at most this many elements (0 = no limit).
    pub maxlen: usize,
}

impl Default for LposOptions {
    fn default() -> Self {
        LposOptions { rank: 1, count: None, maxlen: 0 }
    }
}

/// Redis's error for `LPOS ... RANK 0`.
pub(crate) const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";

/// The `list-max-listpack-size` a new list gets (mirrored in an atomic: no config lock).
fn configured_fill(acc: &Access<'_>) -> i64 {
    acc.inner.tunables.get(crate::config::Tunable::ListMaxListpackSize)
}

/// Runs `f` on the list at `key` (`None` if missing) under the read lock; WRONGTYPE for
/// other types.
pub fn read<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&List>) -> R) -> Result<R> {
    acc.read(key, |n| match n {
        None => Ok(f(None)),
        Some(n) => match &n.value {
            Value::List(l) => Ok(f(Some(l))),
            _ => Err(Error::WrongType),
        },
    })
}

/// Runs `f` on the list at `key` (`None` if missing) under the write lock, deleting the key
/// if `f` leaves the list empty; WRONGTYPE for other types. Returns `f`'s result and whether
/// the key was deleted. `f` runs under the lock, so it is where the dirty counter must be
/// bumped (WATCH compares it around the lock).
pub fn modify<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&mut List>) -> R) -> Result<(R, bool)> {
    acc.write(key, |shard, h| {
        let Some(node) = shard.get_mut(h, key, acc.now) else { return Ok((f(None), false)) };
        let Value::List(l) = &mut node.value else { return Err(Error::WrongType) };
        let r = f(Some(l));
        let deleted = l.is_empty();
        if deleted {
            shard.remove(h, key);
        }
        Ok((r, deleted))
    })
}

/// The keyspace event of popping from `end`.
fn pop_event(end: ListEnd) -> &'static str {
    match end {
        ListEnd::Left => "lpop",
        ListEnd::Right => "rpop",
    }
}

/// The keyspace event of pushing at `end`.
fn push_event(end: ListEnd) -> &'static str {
    match end {
        ListEnd::Left => "lpush",
        ListEnd::Right => "rpush",
    }
}

/// Publishes a list event on `key` (after the shard lock is released).
fn announce(acc: &Access<'_>, key: &[u8], event: &str, created: bool, deleted: bool) {
    KeyChange { created, deleted }.announce(acc, notify::LIST, event, key);
}

/// LPUSH/RPUSH (`only_existing`: LPUSHX/RPUSHX): pushes `values` one by one at `end`;
/// returns the new length (0 when `only_existing` and the key is missing).
pub fn push<V: AsRef<[u8]>>(
    acc: &Access<'_>,
    key: &[u8],
    end: ListEnd,
    values: impl IntoIterator<Item = V>,
    only_existing: bool,
) -> Result<usize> {
    let fill_all = |l: &mut List| {
        let mut pushed = 0;
        for v in values {
            l.push(end, v.as_ref());
            pushed += 1;
        }
        if pushed > 1 {
            l.shrink_ends();
        }
        pushed
    };
    let (len, pushed, created) = acc.write(key, |shard, h| {
        let (len, pushed, created) = match shard.get_mut(h, key, acc.now) {
            Some(node) => {
                let Value::List(l) = &mut node.value else { return Err(Error::WrongType) };
                let pushed = fill_all(l);
                (l.len(), pushed, false)
            }
            None if only_existing => return Ok((0, 0, false)),
            None => {
                let mut l = List::with_fill(configured_fill(acc));
                let pushed = fill_all(&mut l);
                let len = l.len();
                if len > 0 {
                    shard.set(h, key, Value::List(Box::new(l)), None, acc.now);
                }
                (len, pushed, len > 0)
            }
        };
        if pushed > 0 {
            acc.add_dirty(pushed as u64);
            acc.signal_ready(key);
        }
        Ok((len, pushed, created))
    })?;
    if pushed > 0 {
        announce(acc, key, push_event(end), created, false);
    }
    Ok(len)
}

/// LPOP/RPOP: pops up to `count` elements from `end`, handing each to
/// `f(position, total, element)`. Returns `None` if the key is missing, else how many were
/// popped (0 only when `count` is 0).
pub fn pop_each(
    acc: &Access<'_>,
    key: &[u8],
    end: ListEnd,
    count: usize,
    mut f: impl FnMut(usize, usize, Elem<'_>),
) -> Result<Option<usize>> {
    let (n, deleted) = modify(acc, key, |l| {
        let l = l?;
        let total = count.min(l.len());
        let mut i = 0;
        l.pop_many(end, total, |e| {
            f(i, total, e);
            i += 1;
        });
        acc.add_dirty(total as u64);
        Some(total)
    })?;
    if let Some(1..) = n {
        announce(acc, key, pop_event(end), false, deleted);
    }
    Ok(n)
}

/// What [`mpop_locked`] popped: from `keys[key]`, `count` elements; `deleted` if that emptied
/// the list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MPopped {
    key: usize,
    count: usize,
    deleted: bool,
}

/// The first of `keys` holding a non-empty list, under locks already held; pops up to
/// `count` elements from `end` handing each to `f(key, position, total, element)`.
/// WRONGTYPE if a key before it holds another type, unless `skip_wrong_type` (used when
/// serving a blocked client: Redis serves it from the list that became ready). Publish the
/// events with [`announce_mpop`] once the locks are released.
pub(crate) fn mpop_locked(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    keys: &[&[u8]],
    end: ListEnd,
    count: usize,
    skip_wrong_type: bool,
    mut f: impl FnMut(&[u8], usize, usize, Elem<'_>),
) -> Result<Option<MPopped>> {
    for (ki, &key) in keys.iter().enumerate() {
        let h = acc.hash(key);
        let shard = m.shard(h);
        let Some(node) = shard.get_mut(h, key, acc.now) else { continue };
        let Value::List(l) = &mut node.value else {
            if skip_wrong_type {
                continue;
            }
            return Err(Error::WrongType);
        };
        let total = count.min(l.len());
        let mut i = 0;
        l.pop_many(end, total, |e| {
            f(key, i, total, e);
            i += 1;
        });
        let deleted = l.is_empty();
        if deleted {
            shard.remove(h, key);
        }
        // The keys before it were found missing: only this one is modified.
        m.modified_only(&[key]);
        acc.add_dirty(total as u64);
        return Ok(Some(MPopped { key: ki, count: total, deleted }));
    }
    Ok(None)
}

/// Publishes the events of an [`mpop_locked`] pop.
pub(crate) fn announce_mpop(acc: &Access<'_>, keys: &[&[u8]], end: ListEnd, popped: Option<MPopped>) {
    if let Some(p) = popped.filter(|p| p.count > 0) {
        announce(acc, keys[p.key], pop_event(end), false, p.deleted);
    }
}

/// LMPOP: pops up to `count` elements from `end` of the first non-empty list among `keys`.
/// Returns its key and the elements, or `None` if every key is missing.
pub fn mpop(acc: &Access<'_>, keys: &[&[u8]], end: ListEnd, count: usize) -> Result<Option<Popped>> {
    let mut out: Option<Popped> = None;
    let popped = acc.write_many(keys, |m| {
        mpop_locked(m, acc, keys, end, count, false, |key, _, total, e| {
            out.get_or_insert_with(|| (key.to_vec(), Vec::with_capacity(total))).1.push(e.to_vec())
        })
    })?;
    announce_mpop(acc, keys, end, popped);
    Ok(out)
}

/// What [`lmove_locked`] did.
#[derive(Debug)]
pub(crate) struct Moved {
    /// The element moved.
    pub value: Vec<u8>,
    dst_created: bool,
    src_deleted: bool,
}

/// LMOVE/RPOPLPUSH under locks already held on both keys: moves one element from `from` of
/// `src` to `to` of `dst`. `Ok(None)` if `src` is missing. `dst` is type-checked before
/// anything is popped, as in Redis. Publish the events with [`announce_move`] once the
/// locks are released.
pub(crate) fn lmove_locked(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    src: &[u8],
    dst: &[u8],
    from: ListEnd,
    to: ListEnd,
) -> Result<Option<Moved>> {
    let (hs, hd) = (acc.hash(src), acc.hash(dst));
    match m.shard(hs).get_mut(hs, src, acc.now) {
        None => return Ok(None),
        Some(n) if !matches!(n.value, Value::List(_)) => return Err(Error::WrongType),
        Some(_) => {}
    }
    if let Some(n) = m.shard(hd).get_mut(hd, dst, acc.now) {
        if !matches!(n.value, Value::List(_)) {
            return Err(Error::WrongType);
        }
    }
    let (value, src_deleted) = {
        let shard = m.shard(hs);
        let Some(node) = shard.get_mut(hs, src, acc.now) else { return Ok(None) };
        let Value::List(l) = &mut node.value else { return Err(Error::WrongType) };
        let Some(v) = l.pop(from) else { return Ok(None) };
        if src == dst {
            // Rotation: the list never disappears in between.
            l.push(to, &v);
            acc.add_dirty(1);
            acc.signal_ready(dst);
            return Ok(Some(Moved { value: v, dst_created: false, src_deleted: false }));
        }
        let deleted = l.is_empty();
        if deleted {
            shard.remove(hs, src);
        }
        (v, deleted)
    };
    let shard = m.shard(hd);
    let dst_created = match shard.get_mut(hd, dst, acc.now) {
        Some(node) => {
            if let Value::List(l) = &mut node.value {
                l.push(to, &value);
            }
            false
        }
        None => {
            let mut l = List::with_fill(configured_fill(acc));
            l.push(to, &value);
            shard.set(hd, dst, Value::List(Box::new(l)), None, acc.now);
            true
        }
    };
    acc.add_dirty(1);
    acc.signal_ready(dst);
    Ok(Some(Moved { value, dst_created, src_deleted }))
}

/// Publishes the events of an [`lmove_locked`] move, in Redis's order: the push on `dst`
/// (after `new` if created), then the pop on `src` (then `del` if emptied).
pub(crate) fn announce_move(acc: &Access<'_>, src: &[u8], dst: &[u8], from: ListEnd, to: ListEnd, moved: &Moved) {
    announce(acc, dst, push_event(to), moved.dst_created, false);
    announce(acc, src, pop_event(from), false, moved.src_deleted);
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
pub fn lmove(acc: &Access<'_>, src: &[u8], dst: &[u8], from: ListEnd, to: ListEnd) -> Result<Option<Vec<u8>>> {
    let moved = acc.write_many(&[src, dst], |m| lmove_locked(m, acc, src, dst, from, to))?;
    Ok(moved.map(|mv| {
        announce_move(acc, src, dst, from, to, &mv);
        mv.value
    }))
}

/// LLEN (0 for a missing key).
pub fn len(acc: &Access<'_>, key: &[u8]) -> Result<usize> {
    read(acc, key, |l| l.map_or(0, |l| l.len()))
}

/// LINDEX.
pub fn index(acc: &Access<'_>, key: &[u8], index: i64) -> Result<Option<Vec<u8>>> {
    read(acc, key, |l| l.and_then(|l| l.get(index)).map(|e| e.to_vec()))
}

/// LRANGE.
pub fn range(acc: &Access<'_>, key: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
    read(acc, key, |l| l.map_or_else(Vec::new, |l| l.range(start, stop).map(|e| e.to_vec()).collect()))
}

/// LSET: "no such key" for a missing key, "index out of range" past either end.
pub fn set(acc: &Access<'_>, key: &[u8], index: i64, value: &[u8]) -> Result<()> {
    modify(acc, key, |l| match l {
        None => Err(Error::NoSuchKey),
        Some(l) => match l.set(index, value) {
            true => {
                acc.add_dirty(1);
                Ok(())
            }
            false => Err(Error::msg("ERR index out of range")),
        },
    })?
    .0?;
    announce(acc, key, "lset", false, false);
    Ok(())
}

/// LINSERT: inserts `value` before or after the first `pivot`. Returns the new length, -1
/// if `pivot` is not in the list, 0 if the key is missing.
pub fn insert(acc: &Access<'_>, key: &[u8], after: bool, pivot: &[u8], value: &[u8]) -> Result<i64> {
    let (r, _) = modify(acc, key, |l| match l {
        None => 0,
        Some(l) => match l.insert(pivot, value, after) {
            true => {
                acc.add_dirty(1);
                l.len() as i64
            }
            false => -1,
        },
    })?;
    if r > 0 {
        announce(acc, key, "linsert", false, false);
    }
    Ok(r)
}

/// LREM: see [`List::remove`]. Returns how many elements were removed.
pub fn remove(acc: &Access<'_>, key: &[u8], count: i64, value: &[u8]) -> Result<usize> {
    let (n, deleted) = modify(acc, key, |l| {
        let n = l.map_or(0, |l| l.remove(value, count));
        acc.add_dirty(n as u64);
        n
    })?;
    if n > 0 {
        announce(acc, key, "lrem", false, deleted);
    }
    Ok(n)
}

/// LTRIM.
pub fn trim(acc: &Access<'_>, key: &[u8], start: i64, stop: i64) -> Result<()> {
    let (existed, deleted) = modify(acc, key, |l| {
        let Some(l) = l else { return false };
        let before = l.len();
        l.trim(start, stop);
        if l.len() == before {
            // Redis signals LTRIM's key as modified even when nothing was trimmed.
            acc.signal_modified(key);
        }
        acc.add_dirty((before - l.len()) as u64);
        true
    })?;
    if existed {
        announce(acc, key, "ltrim", false, deleted);
    }
    Ok(())
}

/// LPOS: positions of `value` in the list (empty for a missing key).
pub fn positions(acc: &Access<'_>, key: &[u8], value: &[u8], opts: &LposOptions) -> Result<Vec<usize>> {
    if opts.rank == 0 {
        return Err(Error::msg(RANK_ZERO));
    }
    read(acc, key, |l| l.map_or_else(Vec::new, |l| l.positions(value, opts)))
}

// ---------------------------------------------------------------------------------------
// Typed API
// ---------------------------------------------------------------------------------------

/// The timeout argument of a blocking command for a [`Duration`] (0 = forever, as in
/// Redis; sub-millisecond parts round up).
fn timeout_arg(timeout: Duration) -> String {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

impl Database {
    /// LPUSH key element [element ...]: returns the new length.
    pub fn lpush<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Left, values, false))
    }

    /// RPUSH key element [element ...]: returns the new length.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// assert_eq!(db.rpush("l", ["a", "b", "c"]).unwrap(), 3);
    /// assert_eq!(db.lrange("l", 0, -1).unwrap(), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    /// ```
    pub fn rpush<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Right, values, false))
    }

    /// LPUSHX: pushes only if the list exists; returns the new length (0 if missing).
    pub fn lpushx<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Left, values, true))
    }

    /// RPUSHX: pushes only if the list exists; returns the new length (0 if missing).
    pub fn rpushx<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Right, values, true))
    }

    fn pop_n(&self, key: &[u8], end: ListEnd, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        let mut out = Vec::new();
        let n = pop_each(&self.access(), key, end, count, |_, total, e| {
            out.reserve(total);
            out.push(e.to_vec());
        })?;
        Ok(n.map(|_| out))
    }

    /// LPOP key: the head element, `None` if the list is missing.
    pub fn lpop(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.pop_n(key.as_ref(), ListEnd::Left, 1)?.and_then(|v| v.into_iter().next()))
    }

    /// RPOP key: the tail element, `None` if the list is missing.
    pub fn rpop(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.pop_n(key.as_ref(), ListEnd::Right, 1)?.and_then(|v| v.into_iter().next()))
    }

    /// LPOP key count: up to `count` head elements; `None` if the list is missing.
    pub fn lpop_count(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        self.pop_n(key.as_ref(), ListEnd::Left, count)
    }

    /// RPOP key count: up to `count` tail elements; `None` if the list is missing.
    pub fn rpop_count(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        self.pop_n(key.as_ref(), ListEnd::Right, count)
    }

    /// LLEN key.
    pub fn llen(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        len(&self.access(), key.as_ref())
    }

    /// LRANGE key start stop.
    pub fn lrange(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        range(&self.access(), key.as_ref(), start, stop)
    }

    /// LINDEX key index.
    pub fn lindex(&self, key: impl AsRef<[u8]>, index: i64) -> Result<Option<Vec<u8>>> {
        self::index(&self.access(), key.as_ref(), index)
    }

    /// LSET key index element.
    pub fn lset(&self, key: impl AsRef<[u8]>, index: i64, value: impl AsRef<[u8]>) -> Result<()> {
        set(&self.access(), key.as_ref(), index, value.as_ref())
    }

    /// LINSERT key BEFORE|AFTER pivot element: the new length, -1 if `pivot` is missing,
    /// 0 if the key is missing.
    pub fn linsert(
        &self,
        key: impl AsRef<[u8]>,
        after: bool,
        pivot: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<i64> {
        insert(&self.access(), key.as_ref(), after, pivot.as_ref(), value.as_ref())
    }

    /// LREM key count element: how many were removed.
    pub fn lrem(&self, key: impl AsRef<[u8]>, count: i64, value: impl AsRef<[u8]>) -> Result<usize> {
        remove(&self.access(), key.as_ref(), count, value.as_ref())
    }

    /// LTRIM key start stop.
    pub fn ltrim(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<()> {
        trim(&self.access(), key.as_ref(), start, stop)
    }

    /// LPOS key element [RANK rank] [COUNT num] [MAXLEN len]: the matching positions.
    pub fn lpos(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: LposOptions) -> Result<Vec<usize>> {
        positions(&self.access(), key.as_ref(), value.as_ref(), &opts)
    }

    /// LMOVE source destination from to: the moved element, `None` if `src` is missing.
    pub fn lmove(
        &self,
        src: impl AsRef<[u8]>,
        dst: impl AsRef<[u8]>,
        from: ListEnd,
        to: ListEnd,
    ) -> Result<Option<Vec<u8>>> {
        self.serve_blocked(lmove(&self.access(), src.as_ref(), dst.as_ref(), from, to))
    }

    /// RPOPLPUSH source destination.
    pub fn rpoplpush(&self, src: impl AsRef<[u8]>, dst: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.lmove(src, dst, ListEnd::Right, ListEnd::Left)
    }

    /// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count].
    pub fn lmpop<K: AsRef<[u8]>>(&self, keys: &[K], end: ListEnd, count: usize) -> Result<Option<Popped>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        mpop(&self.access(), &keys, end, count)
    }

    fn bpop(&self, cmd: &str, keys: &[&[u8]], timeout: Duration) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push(cmd);
        for k in keys {
            args.push(k);
        }
        args.push(timeout_arg(timeout));
        match self.run_blocking(args, timeout)? {
            ferrous_resp::Value::Array(mut v) if v.len() == 2 => {
                let e = v.pop().and_then(bulk_bytes).unwrap_or_default();
                let k = v.pop().and_then(bulk_bytes).unwrap_or_default();
                Ok(Some((k, e)))
            }
            _ => Ok(None),
        }
    }

    /// BLPOP key [key ...] timeout: pops the head of the first non-empty list, waiting up to
    /// `timeout` for one (`Duration::ZERO` waits forever, as Redis's timeout 0). Returns the
    /// key and the element, or `None` on timeout.
    pub fn blpop<K: AsRef<[u8]>>(&self, keys: &[K], timeout: Duration) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.bpop("BLPOP", &keys, timeout)
    }

    /// BRPOP key [key ...] timeout: like [`Database::blpop`] from the tail.
    pub fn brpop<K: AsRef<[u8]>>(&self, keys: &[K], timeout: Duration) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.bpop("BRPOP", &keys, timeout)
    }

    /// BLMOVE source destination from to timeout: like [`Database::lmove`], waiting up to
    /// `timeout` (`Duration::ZERO`: forever) for `src` to have an element.
    pub fn blmove(
        &self,
        src: impl AsRef<[u8]>,
        dst: impl AsRef<[u8]>,
        from: ListEnd,
        to: ListEnd,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push("BLMOVE").push(src).push(dst).push(from.as_str()).push(to.as_str()).push(timeout_arg(timeout));
        Ok(bulk_bytes(self.run_blocking(args, timeout)?))
    }

    /// BRPOPLPUSH source destination timeout.
    pub fn brpoplpush(
        &self,
        src: impl AsRef<[u8]>,
        dst: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>> {
        self.blmove(src, dst, ListEnd::Right, ListEnd::Left, timeout)
    }

    /// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: like
    /// [`Database::lmpop`], waiting up to `timeout` (`Duration::ZERO`: forever).
    pub fn blmpop<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        end: ListEnd,
        count: usize,
        timeout: Duration,
    ) -> Result<Option<Popped>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push("BLMPOP").push(timeout_arg(timeout)).push(keys.len().to_string());
        for k in keys {
            args.push(k);
        }
        args.push(end.as_str()).push("COUNT").push(count.max(1).to_string());
        match self.run_blocking(args, timeout)? {
            ferrous_resp::Value::Array(mut v) if v.len() == 2 => {
                let elems = match v.pop() {
                    Some(ferrous_resp::Value::Array(items)) => items.into_iter().filter_map(bulk_bytes).collect(),
                    _ => Vec::new(),
                };
                let key = v.pop().and_then(bulk_bytes).unwrap_or_default();
                Ok(Some((key, elems)))
            }
            _ => Ok(None),
        }
    }
}

fn bulk_bytes(v: ferrous_resp::Value) -> Option<Vec<u8>> {
    match v {
        ferrous_resp::Value::Bulk(b) => Some(b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_and_its_nodes_are_compact() {
        assert_eq!(std::mem::size_of::<List>(), 40);
        assert_eq!(std::mem::size_of::<Node>(), 24);
        for fill in [-5, -2, 0, 1, 128, FILL_MAX] {
            let mut l = List::with_fill(fill);
            l.push_back(b"a");
            assert_eq!((l.fill(), l.len()), (fill.max(-5), 1));
            l.pop(ListEnd::Left);
            assert_eq!((l.fill(), l.len()), (fill.max(-5), 0));
        }
    }

    #[test]
    fn node_buf_behaves_as_a_vec() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (mut b, mut v) = (NodeBuf::default(), Vec::<u8>::new());
        for round in 0..4000 {
            match rng.gen_range(0..6) {
                0 => {
                    let s: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
                    b.extend_from_slice(&s);
                    v.extend_from_slice(&s);
                }
                1 => {
                    let n = rng.gen_range(0..=v.len());
                    b.truncate(n);
                    v.truncate(n);
                }
                2 => {
                    let n = rng.gen_range(0..=v.len());
                    b.remove_front(n);
                    v.drain(..n);
                }
                3 => {
                    let extra = rng.gen_range(0..64);
                    b.reserve_exact(extra);
                    assert!(b.capacity() >= v.len() + extra);
                    let at = rng.gen_range(0..=extra);
                    b.grow_to(v.len() + at);
                    let new_bytes: Vec<u8> = (0..at).map(|i| (i + round) as u8).collect();
                    let len = v.len();
                    b[len..].copy_from_slice(&new_bytes);
                    v.extend_from_slice(&new_bytes);
                }
                4 => b.shrink_to_fit(),
                _ => b.shrink_to(v.len() + rng.gen_range(0..16)),
            }
            assert_eq!(&b[..], &v[..], "round {round}");
            assert!(b.capacity() >= b.len());
        }
        b.shrink_to_fit();
        assert_eq!(b.capacity(), v.len());
    }

    #[test]
    fn entry_roundtrip() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 200];
        let big = vec![b'z'; 20000];
        let samples: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"-4097",
            b"32767",
            b"-32768",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"01",
            b"+1",
            b"-0",
            &mid,
            &long,
            &big,
        ];
        for s in samples {
            let e = Elem::from_bytes(s);
            let size = entry_size(e);
            let mut buf = vec![0u8; size];
            write_entry(&mut buf, e);
            let (d, sz) = read_entry(&buf, 0);
            assert_eq!(sz, size);
            assert_eq!(d, e);
            assert_eq!(d.to_vec(), s);
            assert_eq!(prev_start(&buf, size), 0);
            assert_eq!(entry_len_at(&buf, 0), size);
        }
        assert_eq!(entry_size(Elem::from_bytes(b"hello")), 7);
        assert_eq!(entry_size(Elem::from_bytes(b"100")), 2);
    }

    fn counts(l: &List) -> Vec<usize> {
        l.nodes().map(|n| n.len()).collect()
    }

    /// Node layouts redis-server 7.0.15 reports (DUMP) for the same commands.
    #[test]
    fn nodes_split_where_redis_splits() {
        for (len, want) in [(20, vec![371, 29]), (50, vec![157, 157, 86]), (63, vec![125, 125, 125, 25])] {
            let mut l = List::new();
            for _ in 0..400 {
                l.push_back(&vec![b'x'; len]);
            }
            assert_eq!(counts(&l), want, "RPUSH x{len}");
        }
        // LSET grows a node in place, past its limit.
        let mut l = List::new();
        for _ in 0..400 {
            l.push_back(&[b'x'; 20]);
        }
        assert!(l.set(5, &[b'y'; 3000]));
        assert_eq!(counts(&l), [371, 29]);
        assert_eq!(l.nodes[0].buf.len() + NODE_OVERHEAD, 11151);
        // A split, then a merge to 8194 bytes (Redis's merge estimate is 4 bytes short):
        // LINSERT before the last entry of an overfull node whose next node has 7190 bytes.
        let mut l = List::new();
        for e in [&[b'b'; 4000][..], &[b'b'; 4000], b"s"] {
            l.push_back(e);
        }
        assert!(l.set(2, &[b'p'; 1000]));
        for i in 0..35 {
            l.push_back(format!("{i:0>200}").as_bytes());
        }
        l.push_back(&[b'q'; 41]);
        assert_eq!(counts(&l), [3, 36]);
        assert!(l.insert(&[b'p'; 1000], b"x", false));
        assert_eq!(counts(&l), [3, 37]);
        assert_eq!(l.nodes[1].buf.len() + NODE_OVERHEAD, 8194);
    }

    #[test]
    fn splits_and_invariants() {
        let mut l = List::with_fill(4);
        for i in 0..50 {
            l.push_back(format!("v{i}").as_bytes());
        }
        assert_eq!(l.node_count(), 13);
        l.insert_at(2, b"x");
        l.check_invariants().unwrap();
        assert_eq!(l.get(2).map(|e| e.to_vec()), Some(b"x".to_vec()));
        assert_eq!(l.get(-1).map(|e| e.to_vec()), Some(b"v49".to_vec()));
        assert_eq!(l.remove(b"x", 0), 1);
        l.check_invariants().unwrap();
        assert_eq!(
            l.range(10, 12).map(|e| e.to_vec()).collect::<Vec<_>>(),
            vec![b"v10".to_vec(), b"v11".to_vec(), b"v12".to_vec()]
        );
        assert_eq!(l.range(10, 12).next_back().map(|e| e.to_vec()), Some(b"v12".to_vec()));
    }
}
