//! Quicklist nodes: a node's buffer ([`NodeBuf`]), its entry count, and Redis 7.0's rules
//! for when a node takes one more element or merges with a neighbour.
use super::*;

/// Node size limits for negative `list-max-listpack-size` values -1..=-5.
pub(super) const SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Size cap of a node when the fill is an entry count (Redis's `SIZE_SAFETY_LIMIT`).
pub(super) const SIZE_SAFETY_LIMIT: usize = 8192;
/// Redis's listpack header and terminator, counted so nodes split where Redis's do.
pub(super) const NODE_OVERHEAD: usize = 7;
/// Largest positive fill (Redis's `FILL_MAX`).
pub(super) const FILL_MAX: i64 = 1 << 15;
/// What Redis 7.0 adds to a node's size for each element it considers inserting
/// (`SIZE_ESTIMATE_OVERHEAD`): more than any element's header and back-length, on purpose.
pub(super) const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Redis's `isLargeElement`: an element at least `packed_threshold` long gets a node of its
/// own.
#[inline]
pub(super) fn is_large(len: usize) -> bool {
    len >= crate::rdb::packed_threshold()
}

/// Length of an element's string form (what Redis passes as `sz`: the decimal digits of an
/// integer).
#[inline]
pub(super) fn str_len(e: Elem<'_>) -> usize {
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
pub(super) fn allows_merge(fill: i32, bytes: usize, count: usize) -> bool {
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
pub(super) fn allows_insert(fill: i32, bytes: usize, count: usize, len: usize) -> bool {
    if is_large(len) {
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
pub(super) struct NodeBuf {
    data: Box<[u8]>,
    used: u32,
    /// The node's entry count (kept here, beside `used`, so that a `Node` packs in 24
    /// bytes).
    pub(super) count: u32,
}

impl NodeBuf {
    /// `used` value meaning "the whole allocation".
    pub(super) const EXACT: u32 = u32::MAX;

    /// A buffer holding `v`, whose entries number `count`.
    pub(super) fn from_vec(mut v: Vec<u8>, count: u32) -> NodeBuf {
        let len = v.len();
        let cap = v.capacity();
        v.resize(cap, 0);
        let mut b = NodeBuf { data: v.into_boxed_slice(), used: 0, count };
        b.set_len(len);
        b
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        if self.used == Self::EXACT {
            self.data.len()
        } else {
            self.used as usize
        }
    }

    #[inline]
    pub(super) fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Sets the used length (at most the capacity).
    #[inline]
    pub(super) fn set_len(&mut self, n: usize) {
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
    pub(super) fn realloc(&mut self, keep: usize, cap: usize) {
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
    pub(super) fn reserve_exact(&mut self, extra: usize) {
        let len = self.len();
        if self.capacity() - len < extra {
            self.realloc(len, len + extra);
            self.set_len(len);
        }
    }

    /// Extends the used length to `n` (at most the capacity), leaving the new bytes as
    /// they were: callers overwrite them.
    #[inline]
    pub(super) fn grow_to(&mut self, n: usize) {
        self.set_len(n);
    }

    pub(super) fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.set_len(n);
        }
    }

    /// Drops the first `n` bytes.
    pub(super) fn remove_front(&mut self, n: usize) {
        let len = self.len();
        let n = n.min(len);
        self.data.copy_within(n..len, 0);
        self.set_len(len - n);
    }

    pub(super) fn extend_from_slice(&mut self, s: &[u8]) {
        self.reserve_exact(s.len());
        let len = self.len();
        self.data[len..len + s.len()].copy_from_slice(s);
        self.set_len(len + s.len());
    }

    /// Shrinks the allocation to `cap` bytes (never below the length).
    pub(super) fn shrink_to(&mut self, cap: usize) {
        let len = self.len();
        let cap = cap.max(len);
        if cap < self.capacity() {
            self.realloc(len, cap);
            self.set_len(len);
        }
    }

    pub(super) fn shrink_to_fit(&mut self) {
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
pub(super) struct Node {
    pub(super) buf: NodeBuf,
}

impl Node {
    pub(super) fn single(e: Elem<'_>, size: usize) -> Node {
        let mut n = Node { buf: NodeBuf::default() };
        n.buf.reserve_exact(size);
        n.splice(0, 0, e, size);
        n.buf.count = 1;
        n
    }

    #[inline]
    pub(super) fn count(&self) -> usize {
        self.buf.count as usize
    }

    /// Byte offset of entry `k` (`k == count` gives the end).
    pub(super) fn offset_of(&self, k: usize) -> usize {
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
    pub(super) fn splice(&mut self, off: usize, old: usize, e: Elem<'_>, size: usize) {
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
    pub(super) fn insert_entry(&mut self, k: usize, e: Elem<'_>) {
        let off = self.offset_of(k);
        self.splice(off, 0, e, entry_size(e));
        self.buf.count += 1;
    }

    /// Removes the sorted, disjoint byte ranges `(start, len)`. Does not change `count`.
    pub(super) fn remove_ranges(&mut self, ranges: &[(usize, usize)]) {
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
    pub(super) fn cut_front(&mut self, n: usize) {
        self.buf.remove_front(n);
        self.shrink();
    }

    /// Keeps only the first `n` bytes.
    pub(super) fn cut_back(&mut self, n: usize) {
        self.buf.truncate(n);
        self.shrink();
    }

    /// Gives memory back once a node has lost a good part of its entries.
    pub(super) fn shrink(&mut self) {
        let len = self.buf.len();
        if self.buf.capacity() > len + len / 2 + 64 {
            self.buf.shrink_to(len + len / 8);
        }
    }
}
