//! [`PackedTable`]: the hash table behind large hashes and sets (Redis's `hashtable`
//! encoding).
//!
//! Why not [`crate::dict::Dict`]: a `Dict` node is 64 bytes before its value (link, a 24-byte
//! inline key, hash, meta word), so a hash field with a 24-byte value costs an 80-byte
//! allocation. Here each entry is ONE allocation holding the chain link and the packed bytes:
//!
//! ```text
//! [next: 8 bytes][varint key length][key bytes]([varint value length][value bytes])
//! ```
//!
//! (the value part only when `PAIR` is true, i.e. for hashes). A field of 12 bytes with a
//! 12-byte value fits a 48-byte malloc chunk, against ~76 bytes for Redis's dictEntry + two
//! sds strings. Hashes are not stored: they are recomputed (foldhash, a few ns for short
//! strings) when the table resizes, which saves 4-8 bytes per entry.
//!
//! The table keeps the properties SCAN-like commands need: power-of-two buckets walked with
//! Redis's reverse-binary cursor (an entry present for the whole scan is returned even if
//! the table grows or shrinks in between) and cheap random sampling (random non-empty
//! bucket, then a random entry of its chain). It doubles when the load factor reaches 1 and
//! halves below 1/10 (Redis's `HASHTABLE_MIN_FILL`). Resizing is done at once, not
//! incrementally as in Redis.
//!
//! Safety: entries are raw allocations owned exclusively by their table (like a `Box`);
//! every unsafe block below relies only on "this pointer came from [`alloc_entry`] and has
//! not been freed", which the table maintains by construction.
use rand::Rng;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::hash::BuildHasher;
use std::ptr::NonNull;
use std::sync::OnceLock;

type Link = Option<NonNull<u8>>;

const LINK: usize = std::mem::size_of::<usize>();
const MIN_BUCKETS: usize = 4;

/// The per-process hash function of collection members (seeded randomly at first use, so
/// bucket order, and thus SCAN order, is not predictable by clients: hash flooding).
#[inline]
pub(crate) fn member_hash(b: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random())).hash_one(b)
}

/// True if two of `keys` are equal. For building a whole collection at once (the RDB
/// loader): hashing into a small open-addressing table beats sorting the few dozen to few
/// hundred members of a listpack, whose comparisons dominate otherwise. (A fixed seed is
/// enough: the table lives for one call and its order is never observed.)
pub(crate) fn has_duplicate<T: Eq + std::hash::Hash>(keys: &[T]) -> bool {
    let n = keys.len();
    if n <= 8 {
        return (1..n).any(|i| keys[..i].contains(&keys[i]));
    }
    let state = foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15);
    let cap = (n * 2).next_power_of_two();
    let mask = cap - 1;
    // (hash, index + 1) per slot; 0 marks an empty slot. Keys are compared only when their
    // full hashes match.
    let mut slots = vec![(0u64, 0usize); cap];
    for (i, k) in keys.iter().enumerate() {
        let h = state.hash_one(k);
        let mut s = h as usize & mask;
        loop {
            match slots[s] {
                (_, 0) => {
                    slots[s] = (h, i + 1);
                    break;
                }
                (hj, j) if hj == h && keys[j - 1] == *k => return true,
                _ => s = (s + 1) & mask,
            }
        }
    }
    false
}

#[inline]
fn varint_len(mut n: usize) -> usize {
    let mut l = 1;
    while n >= 0x80 {
        n >>= 7;
        l += 1;
    }
    l
}

/// Writes `n` as LEB128 at `p`; returns the bytes written.
///
/// # Safety
/// `p` must be valid for `varint_len(n)` bytes of writes.
#[inline]
unsafe fn write_varint(p: *mut u8, mut n: usize) -> usize {
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        // SAFETY: the caller reserved varint_len(n) bytes.
        unsafe { *p.add(i) = if n == 0 { byte } else { byte | 0x80 } };
        i += 1;
        if n == 0 {
            return i;
        }
    }
}

/// Reads a LEB128 written by [`write_varint`]; returns (value, bytes read).
///
/// # Safety
/// `p` must point at a varint written by `write_varint`.
#[inline]
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, 0);
    loop {
        // SAFETY: the caller guarantees a complete varint at `p`.
        let b = unsafe { *p.add(i) };
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (n, i);
        }
        shift += 7;
    }
}

fn entry_size(key: &[u8], value: Option<&[u8]>) -> usize {
    LINK + varint_len(key.len()) + key.len() + value.map_or(0, |v| varint_len(v.len()) + v.len())
}

fn layout(size: usize) -> Layout {
    // Never fails: size is far below isize::MAX for any real key, alignment is a power of 2.
    Layout::from_size_align(size, LINK).unwrap_or_else(|_| Layout::new::<usize>())
}

/// Allocates an entry holding `key` (and `value` when given), with a null link.
fn alloc_entry(key: &[u8], value: Option<&[u8]>) -> NonNull<u8> {
    let size = entry_size(key, value);
    let lay = layout(size);
    // SAFETY: the layout has non-zero size (at least the link).
    let p = unsafe { alloc(lay) };
    let Some(p) = NonNull::new(p) else { handle_alloc_error(lay) };
    // SAFETY: `p` is a fresh allocation of `size` bytes, aligned for a usize; every write
    // below stays within the `size` computed from the same key/value lengths.
    unsafe {
        (p.as_ptr() as *mut usize).write(0);
        let mut at = LINK;
        at += write_varint(p.as_ptr().add(at), key.len());
        std::ptr::copy_nonoverlapping(key.as_ptr(), p.as_ptr().add(at), key.len());
        at += key.len();
        if let Some(v) = value {
            at += write_varint(p.as_ptr().add(at), v.len());
            std::ptr::copy_nonoverlapping(v.as_ptr(), p.as_ptr().add(at), v.len());
        }
    }
    p
}

/// Accessors of a live entry. All take a pointer produced by `alloc_entry` and not freed.
mod entry {
    use super::*;

    #[inline]
    pub(super) fn next(p: NonNull<u8>) -> Link {
        // SAFETY: a live entry starts with its aligned link word.
        NonNull::new(unsafe { (p.as_ptr() as *const usize).read() } as *mut u8)
    }

    #[inline]
    pub(super) fn set_next(p: NonNull<u8>, next: Link) {
        let v = next.map_or(0, |n| n.as_ptr() as usize);
        // SAFETY: as above; the table has exclusive access when it relinks.
        unsafe { (p.as_ptr() as *mut usize).write(v) }
    }

    /// The key and, for pairs, the value.
    #[inline]
    pub(super) fn parts<'a>(p: NonNull<u8>, pair: bool) -> (&'a [u8], &'a [u8]) {
        // SAFETY: the layout written by alloc_entry: varint + key (+ varint + value), all
        // inside the allocation, which lives as long as the borrow of its table.
        unsafe {
            let base = p.as_ptr().add(LINK);
            let (klen, n) = read_varint(base);
            let key = std::slice::from_raw_parts(base.add(n), klen);
            if !pair {
                return (key, &[]);
            }
            let vbase = base.add(n + klen);
            let (vlen, m) = read_varint(vbase);
            (key, std::slice::from_raw_parts(vbase.add(m), vlen))
        }
    }

    /// Frees an entry (already unlinked).
    #[inline]
    pub(super) fn free(p: NonNull<u8>, pair: bool) {
        let (k, v) = parts(p, pair);
        let size = entry_size(k, pair.then_some(v));
        // SAFETY: allocated by alloc_entry with exactly this layout; unlinked by the caller.
        unsafe { dealloc(p.as_ptr(), layout(size)) }
    }
}

/// A chained hash table of packed entries: members (`PAIR = false`, sets) or field/value
/// pairs (`PAIR = true`, hashes). See the module documentation.
pub struct PackedTable<const PAIR: bool> {
    buckets: Box<[Link]>,
    len: usize,
    /// Bytes allocated for entries (malloc's rounding not included).
    entry_bytes: usize,
}

// SAFETY: the table exclusively owns its entries (as a Box would); no interior mutability.
unsafe impl<const PAIR: bool> Send for PackedTable<PAIR> {}
// SAFETY: shared access only reads.
unsafe impl<const PAIR: bool> Sync for PackedTable<PAIR> {}

impl<const PAIR: bool> Default for PackedTable<PAIR> {
    fn default() -> Self {
        PackedTable { buckets: Box::new([]), len: 0, entry_bytes: 0 }
    }
}

impl<const PAIR: bool> PackedTable<PAIR> {
    /// An empty table sized for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        let mut t = Self::default();
        if n > 0 {
            t.resize(n.next_power_of_two().max(MIN_BUCKETS));
        }
        t
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap bytes (bucket array + entries + malloc's per-chunk header).
    pub fn heap_size(&self) -> usize {
        self.buckets.len() * LINK + self.entry_bytes + self.len * LINK
    }

    #[inline]
    fn slot(&self, hash: u64) -> usize {
        hash as usize & (self.buckets.len() - 1)
    }

    fn find(&self, key: &[u8]) -> Option<NonNull<u8>> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.buckets[self.slot(member_hash(key))];
        while let Some(p) = cur {
            if entry::parts(p, PAIR).0 == key {
                return Some(p);
            }
            cur = entry::next(p);
        }
        None
    }

    /// True if `key` is present.
    #[inline]
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// The value stored for `key` (empty for sets).
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.find(key).map(|p| entry::parts(p, PAIR).1)
    }

    /// Inserts `key` known to be absent.
    pub fn insert_new(&mut self, key: &[u8], value: &[u8]) {
        if self.len >= self.buckets.len() {
            self.resize((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        let p = alloc_entry(key, PAIR.then_some(value));
        self.entry_bytes += entry_size(key, PAIR.then_some(value));
        let slot = self.slot(member_hash(key));
        entry::set_next(p, self.buckets[slot]);
        self.buckets[slot] = Some(p);
        self.len += 1;
    }

    /// Inserts or replaces; returns true if `key` was new.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> bool {
        if self.len == 0 {
            self.insert_new(key, value);
            return true;
        }
        let slot = self.slot(member_hash(key));
        let mut prev: Option<NonNull<u8>> = None;
        let mut cur = self.buckets[slot];
        while let Some(p) = cur {
            let (k, v) = entry::parts(p, PAIR);
            if k == key {
                if !PAIR || v == value {
                    return false;
                }
                if v.len() == value.len() {
                    // Same size: overwrite the value bytes in place.
                    let offset = v.as_ptr() as usize - p.as_ptr() as usize;
                    // SAFETY: `offset` is where this entry's value bytes start, inside the
                    // allocation that the table owns exclusively (we hold &mut self); same
                    // length, so the write stays in bounds. Written through the entry's own
                    // pointer, not through the shared slice.
                    unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), p.as_ptr().add(offset), value.len()) };
                    return false;
                }
                let old_size = entry_size(k, Some(v));
                let q = alloc_entry(key, Some(value));
                entry::set_next(q, entry::next(p));
                match prev {
                    Some(pp) => entry::set_next(pp, Some(q)),
                    None => self.buckets[slot] = Some(q),
                }
                entry::free(p, PAIR);
                self.entry_bytes = self.entry_bytes + entry_size(key, Some(value)) - old_size;
                return false;
            }
            prev = Some(p);
            cur = entry::next(p);
        }
        self.insert_new(key, value);
        true
    }

    /// Removes `key`; true if it was present.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        if self.len == 0 {
            return false;
        }
        let slot = self.slot(member_hash(key));
        let mut prev: Option<NonNull<u8>> = None;
        let mut cur = self.buckets[slot];
        while let Some(p) = cur {
            let (k, v) = entry::parts(p, PAIR);
            if k == key {
                match prev {
                    Some(pp) => entry::set_next(pp, entry::next(p)),
                    None => self.buckets[slot] = entry::next(p),
                }
                self.entry_bytes -= entry_size(k, PAIR.then_some(v));
                entry::free(p, PAIR);
                self.len -= 1;
                if self.buckets.len() > MIN_BUCKETS && self.len * 10 < self.buckets.len() {
                    self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
                }
                return true;
            }
            prev = Some(p);
            cur = entry::next(p);
        }
        false
    }

    fn resize(&mut self, size: usize) {
        let mut new: Box<[Link]> = vec![None; size].into_boxed_slice();
        let mask = size - 1;
        for head in std::mem::take(&mut self.buckets).iter() {
            let mut cur = *head;
            while let Some(p) = cur {
                cur = entry::next(p);
                let slot = member_hash(entry::parts(p, PAIR).0) as usize & mask;
                entry::set_next(p, new[slot]);
                new[slot] = Some(p);
            }
        }
        self.buckets = new;
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        for head in std::mem::take(&mut self.buckets).iter() {
            let mut cur = *head;
            while let Some(p) = cur {
                cur = entry::next(p);
                entry::free(p, PAIR);
            }
        }
        self.len = 0;
        self.entry_bytes = 0;
    }

    /// Visits the entries of the bucket at `cursor`; returns the next cursor (0: done),
    /// in Redis's reverse-binary order.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = (self.buckets.len() - 1) as u64;
        let mut cur = self.buckets[(cursor & mask) as usize];
        while let Some(p) = cur {
            let (k, v) = entry::parts(p, PAIR);
            f(k, v);
            cur = entry::next(p);
        }
        let v = cursor | !mask;
        v.reverse_bits().wrapping_add(1).reverse_bits()
    }

    /// A random entry: a uniformly chosen non-empty bucket, then a uniform entry of it.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<(&[u8], &[u8])> {
        if self.len == 0 {
            return None;
        }
        // Uniform over entries by rejection: pick a bucket and a chain position below
        // FAIR_CHAIN; keep the pick only if the chain is that long. Every entry in the first
        // FAIR_CHAIN positions of its chain has the same chance (Redis's SRANDMEMBER with a
        // negative count likewise uses a "fair" sampler). Longer chains are practically
        // impossible at load factor <= 1; if one shows up, its tail is drawn uniformly.
        const FAIR_CHAIN: usize = 8;
        let mask = self.buckets.len() - 1;
        loop {
            let Some(head) = self.buckets[rng.gen::<usize>() & mask] else { continue };
            let mut n = 0;
            let mut cur = Some(head);
            while let Some(p) = cur {
                n += 1;
                cur = entry::next(p);
            }
            let mut pick = rng.gen_range(0..FAIR_CHAIN.max(n));
            if pick >= n {
                continue;
            }
            let mut p = head;
            while pick > 0 {
                p = entry::next(p)?;
                pick -= 1;
            }
            return Some(entry::parts(p, PAIR));
        }
    }

    /// Iterates over (key, value) pairs in bucket order.
    pub fn iter(&self) -> Iter<'_, PAIR> {
        Iter { table: self, bucket: 0, cur: None }
    }
}

/// Iterator over a [`PackedTable`].
pub struct Iter<'a, const PAIR: bool> {
    table: &'a PackedTable<PAIR>,
    bucket: usize,
    cur: Link,
}

impl<'a, const PAIR: bool> Iterator for Iter<'a, PAIR> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(p) = self.cur {
                self.cur = entry::next(p);
                return Some(entry::parts(p, PAIR));
            }
            let head = self.table.buckets.get(self.bucket)?;
            self.bucket += 1;
            self.cur = *head;
        }
    }
}

impl<const PAIR: bool> Drop for PackedTable<PAIR> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const PAIR: bool> Clone for PackedTable<PAIR> {
    fn clone(&self) -> Self {
        let mut t = PackedTable::with_capacity(self.len);
        for (k, v) in self.iter() {
            t.insert_new(k, v);
        }
        t
    }
}

impl<const PAIR: bool> PartialEq for PackedTable<PAIR> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<const PAIR: bool> std::fmt::Debug for PackedTable<PAIR> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if PAIR {
            f.debug_map().entries(self.iter().map(|(k, v)| (lossy(k), lossy(v)))).finish()
        } else {
            f.debug_set().entries(self.iter().map(|(k, _)| lossy(k))).finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    #[test]
    fn model_against_btreemap() {
        let mut rng = rand::thread_rng();
        let mut t: PackedTable<true> = PackedTable::default();
        let mut m = BTreeMap::new();
        for i in 0..30000u32 {
            let k = format!("k{}", rng.gen_range(0..3000)).into_bytes();
            match rng.gen_range(0..4) {
                0 | 1 => {
                    // Values of varied lengths, including > 127 (2-byte varints).
                    let v = "v".repeat(rng.gen_range(0..200)) + &i.to_string();
                    assert_eq!(t.insert(&k, v.as_bytes()), m.insert(k, v.into_bytes()).is_none());
                }
                2 => assert_eq!(t.remove(&k), m.remove(&k).is_some()),
                _ => assert_eq!(t.get(&k), m.get(&k).map(|v| v.as_slice())),
            }
            assert_eq!(t.len(), m.len());
        }
        let all: BTreeMap<Vec<u8>, Vec<u8>> = t.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        assert_eq!(all, m);
        assert_eq!(t.clone(), t);
        let sum: usize = m.iter().map(|(k, v)| entry_size(k, Some(v))).sum();
        assert_eq!(t.entry_bytes, sum);
    }

    #[test]
    fn set_entries_and_random() {
        let mut t: PackedTable<false> = PackedTable::default();
        for i in 0..100 {
            assert!(t.insert(format!("m{i}").as_bytes(), b"ignored"));
        }
        assert!(!t.insert(b"m5", b""));
        assert_eq!(t.get(b"m5"), Some(&b""[..]));
        let mut rng = rand::thread_rng();
        let seen: HashSet<Vec<u8>> = (0..5000).filter_map(|_| t.random(&mut rng)).map(|(k, _)| k.to_vec()).collect();
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn scan_survives_resizes() {
        let mut t: PackedTable<false> = PackedTable::default();
        for i in 0..1000 {
            t.insert_new(format!("stable{i}").as_bytes(), b"");
        }
        let mut seen = HashSet::new();
        let (mut cursor, mut step) = (0, 0);
        loop {
            cursor = t.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            step += 1;
            if step % 7 == 0 {
                for j in 0..300 {
                    t.insert(format!("tmp{step}-{j}").as_bytes(), b"");
                }
            }
            if step % 11 == 0 {
                let tmp: Vec<Vec<u8>> =
                    t.iter().filter(|(k, _)| k.starts_with(b"tmp")).map(|(k, _)| k.to_vec()).collect();
                for k in tmp {
                    t.remove(&k);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("stable{i}").as_bytes()), "missed stable{i}");
        }
    }
}
