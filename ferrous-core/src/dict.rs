//! [`Dict`]: the chained hash table under every keyspace shard.
//!
//! Why not `std::collections::HashMap`: three Redis guarantees need bucket-level access.
//! - SCAN: the cursor walks power-of-two bucket indices in reverse-binary order, so a key
//!   present for the whole scan is returned even if the table grows or shrinks in between
//!   (each bucket of the old size maps to a fixed set of buckets of the new size).
//! - RANDOMKEY and active expiry need cheap random sampling: pick a random non-empty bucket.
//! - Each entry carries a 32-bit `meta` word (LRU clock and flags) with no padding cost.
//!
//! One node is one allocation: `next` + key (24, inline up to 22 bytes) + value + hash + meta.
//! With a 24-byte value that is 64 bytes. Chains are short: the table doubles when the load
//! factor reaches 1 and halves below 1/8. Resizing is done at once, not incrementally (Redis
//! rehashes incrementally); with the keyspace split into shards each table stays small.
use crate::bytes::SmallBytes;
use rand::Rng;
use std::sync::atomic::AtomicU32;

type Link<V> = Option<Box<Node<V>>>;

/// Asks the CPU to start loading `node` into the cache.
#[inline]
fn prefetch<T>(node: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(node as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = node;
}

/// One entry of a [`Dict`].
///
/// `repr(C)` keeps what a lookup reads (hash, chain link, key: the first 40 bytes) together
/// at the front, so a lookup touches one cache line more often than not, and the value
/// right behind it.
#[repr(C)]
pub struct Node<V> {
    hash: u32,
    /// Per-entry metadata word for the owner (the keyspace keeps LRU time and flags here).
    /// Atomic so that readers holding only a shared lock can refresh the LRU clock.
    pub meta: AtomicU32,
    next: Link<V>,
    /// The key.
    pub key: SmallBytes,
    /// The value.
    pub value: V,
    /// The owner's deadline word: the keyspace keeps the key's absolute deadline (Unix ms)
    /// here, meaningful while the entry's `META_EXPIRE` flag is set. It fills what glibc's
    /// size class (80-byte chunks for a 64-byte entry) left unused anyway.
    pub(crate) deadline: i64,
}

/// A chained hash table keyed by byte strings; callers supply the 32-bit hash.
pub struct Dict<V> {
    table: Vec<Link<V>>,
    len: usize,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict { table: Vec::new(), len: 0 }
    }
}

const MIN_SIZE: usize = 4;

impl<V> Dict<V> {
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
    /// Number of buckets.
    pub fn buckets(&self) -> usize {
        self.table.len()
    }

    #[inline]
    fn slot(&self, hash: u32) -> usize {
        hash as usize & (self.table.len() - 1)
    }

    /// The entry for `key`.
    #[inline]
    pub fn get(&self, hash: u32, key: &[u8]) -> Option<&Node<V>> {
        if self.len == 0 {
            return None;
        }
        let mut cur = self.table[self.slot(hash)].as_deref();
        while let Some(n) = cur {
            if n.hash == hash && n.key.as_slice() == key {
                return Some(n);
            }
            cur = n.next.as_deref();
        }
        None
    }

    /// Starts loading the bucket slot of `hash` into the cache (the first of a lookup's two
    /// dependent misses; see [`Dict::prefetch_entry`] for the second).
    #[inline]
    pub fn prefetch_slot(&self, hash: u32) {
        if !self.table.is_empty() {
            prefetch(&self.table[self.slot(hash)]);
        }
    }

    /// Starts loading the first entry of `hash`'s bucket (after [`Dict::prefetch_slot`] had
    /// time to bring the slot in).
    #[inline]
    pub fn prefetch_entry(&self, hash: u32) {
        if self.table.is_empty() {
            return;
        }
        if let Some(head) = self.table[self.slot(hash)].as_deref() {
            // An entry spans two cache lines: ask for both.
            prefetch(head);
            prefetch((head as *const Node<V> as *const u8).wrapping_add(64));
        }
    }

    /// The entry for `key`, mutable.
    #[inline]
    pub fn get_mut(&mut self, hash: u32, key: &[u8]) -> Option<&mut Node<V>> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slot(hash);
        let mut cur = self.table[slot].as_deref_mut();
        while let Some(n) = cur {
            if n.hash == hash && n.key.as_slice() == key {
                return Some(n);
            }
            cur = n.next.as_deref_mut();
        }
        None
    }

    /// Inserts a key the caller knows is absent; returns the new entry.
    pub fn insert_new(&mut self, hash: u32, key: SmallBytes, value: V, meta: u32) -> &mut Node<V> {
        if self.len >= self.table.len() {
            self.resize((self.table.len() * 2).max(MIN_SIZE));
        }
        let slot = self.slot(hash);
        let next = self.table[slot].take();
        self.len += 1;
        self.table[slot].insert(Box::new(Node { next, key, value, hash, meta: AtomicU32::new(meta), deadline: 0 }))
    }

    /// Makes room for `n` entries in total without growing again (a load that knows its
    /// size from RESIZEDB): the table goes straight to its final size.
    pub fn reserve(&mut self, n: usize) {
        let want = n.next_power_of_two().max(MIN_SIZE);
        if want > self.table.len() {
            self.resize(want);
        }
    }

    /// Removes `key`, returning its node.
    pub fn remove(&mut self, hash: u32, key: &[u8]) -> Option<Box<Node<V>>> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slot(hash);
        let mut link = &mut self.table[slot];
        while link.as_ref().is_some_and(|n| !(n.hash == hash && n.key.as_slice() == key)) {
            link = &mut link.as_mut()?.next;
        }
        let mut node = link.take()?;
        *link = node.next.take();
        self.len -= 1;
        if self.table.len() > MIN_SIZE && self.len * 8 < self.table.len() {
            self.resize((self.len.next_power_of_two() * 2).max(MIN_SIZE));
        }
        Some(node)
    }

    fn resize(&mut self, size: usize) {
        let mut new: Vec<Link<V>> = Vec::with_capacity(size);
        new.resize_with(size, || None);
        let mask = size - 1;
        for mut link in std::mem::take(&mut self.table) {
            while let Some(mut n) = link {
                link = n.next.take();
                let slot = n.hash as usize & mask;
                n.next = new[slot].take();
                new[slot] = Some(n);
            }
        }
        self.table = new;
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        for mut link in std::mem::take(&mut self.table) {
            while let Some(mut n) = link {
                link = n.next.take();
            }
        }
        self.len = 0;
    }

    /// Visits the entries of the bucket at `cursor` and returns the next cursor (0 when the
    /// scan is complete). Cursors follow Redis's reverse-binary order.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&Node<V>)) -> u64 {
        if self.table.is_empty() {
            return 0;
        }
        let mask = (self.table.len() - 1) as u64;
        let mut cur = self.table[(cursor & mask) as usize].as_deref();
        while let Some(n) = cur {
            f(n);
            cur = n.next.as_deref();
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits().wrapping_add(1).reverse_bits();
        v
    }

    /// Keys of the bucket at `cursor` that satisfy `pred` (for deletion during a scan), plus
    /// the next cursor.
    pub fn scan_collect(&self, cursor: u64, mut pred: impl FnMut(&Node<V>) -> bool) -> (Vec<(u32, SmallBytes)>, u64) {
        let mut out = Vec::new();
        let next = self.scan(cursor, |n| {
            if pred(n) {
                out.push((n.hash, n.key.clone()));
            }
        });
        (out, next)
    }

    /// A uniformly chosen non-empty bucket, then a uniformly chosen entry in it.
    pub fn random<R: Rng>(&self, rng: &mut R) -> Option<&Node<V>> {
        if self.len == 0 {
            return None;
        }
        let mask = self.table.len() - 1;
        loop {
            let slot = rng.gen::<usize>() & mask;
            if let Some(head) = self.table[slot].as_deref() {
                let mut chain_len = 0;
                let mut cur = Some(head);
                while let Some(n) = cur {
                    chain_len += 1;
                    cur = n.next.as_deref();
                }
                let mut pick = rng.gen_range(0..chain_len);
                let mut cur = head;
                while pick > 0 {
                    cur = cur.next.as_deref()?;
                    pick -= 1;
                }
                return Some(cur);
            }
        }
    }

    /// Calls `f` on up to `count` entries taken from consecutive buckets, starting at a
    /// random one (Redis's `dictGetSomeKeys`): eviction's sampling, far cheaper than
    /// `count` calls to [`Dict::random`] because the table is read sequentially. After a
    /// run of empty buckets it jumps to another random place; it gives up after `10 * count`
    /// buckets.
    pub fn sample_some<R: Rng>(&self, rng: &mut R, count: usize, f: impl FnMut(&Node<V>)) {
        let start = rng.gen::<usize>();
        self.sample_some_from(start, rng, count, f);
    }

    /// [`Dict::sample_some`] starting at bucket `start` (taken modulo the table's size):
    /// a caller that chose `start` ahead of time can have the buckets and entries brought
    /// into the cache meanwhile ([`Dict::prefetch_sample_slots`],
    /// [`Dict::prefetch_sample_entries`]).
    pub fn sample_some_from<R: Rng>(&self, start: usize, rng: &mut R, count: usize, mut f: impl FnMut(&Node<V>)) {
        const MAX: usize = 64;
        let count = count.min(MAX);
        if self.len == 0 || count == 0 {
            return;
        }
        // First the heads of `count` non-empty buckets, each prefetched as it is found, so
        // the cache misses on the entries overlap instead of following one another.
        let mut heads: [Option<&Node<V>>; MAX] = [None; MAX];
        let mask = self.table.len() - 1;
        let mut i = start & mask;
        let (mut found, mut empty_run) = (0, 0);
        for _ in 0..count * 10 {
            match self.table[i].as_deref() {
                None => {
                    empty_run += 1;
                    if empty_run >= 5 && empty_run > count {
                        i = rng.gen::<usize>() & mask;
                        empty_run = 0;
                        continue;
                    }
                }
                Some(head) => {
                    empty_run = 0;
                    prefetch(head);
                    heads[found] = Some(head);
                    found += 1;
                    if found == count {
                        break;
                    }
                }
            }
            i = (i + 1) & mask;
        }
        let mut got = 0;
        for head in heads.iter().take(found) {
            let mut cur = *head;
            while let Some(n) = cur {
                f(n);
                got += 1;
                if got == count {
                    return;
                }
                cur = n.next.as_deref();
            }
        }
    }

    /// Starts loading the buckets a [`Dict::sample_some_from`] at `start` reads first.
    pub fn prefetch_sample_slots(&self, start: usize) {
        if !self.table.is_empty() {
            let i = start & (self.table.len() - 1);
            prefetch(&self.table[i]);
            // The run of buckets may cross into the next cache line.
            prefetch((&self.table[i] as *const Link<V> as *const u8).wrapping_add(64));
        }
    }

    /// Starts loading the first entries of the non-empty buckets a
    /// [`Dict::sample_some_from`] at `start` would take (after
    /// [`Dict::prefetch_sample_slots`] had time to bring the buckets in).
    pub fn prefetch_sample_entries(&self, start: usize, count: usize) {
        if self.table.is_empty() {
            return;
        }
        let mask = self.table.len() - 1;
        let mut found = 0;
        for k in 0..count * 2 {
            if let Some(head) = self.table[start.wrapping_add(k) & mask].as_deref() {
                prefetch(head);
                found += 1;
                if found == count {
                    return;
                }
            }
        }
    }

    /// Iterates over every entry.
    pub fn iter(&self) -> impl Iterator<Item = &Node<V>> {
        self.table.iter().flat_map(|head| {
            let mut cur = head.as_deref();
            std::iter::from_fn(move || {
                let n = cur?;
                cur = n.next.as_deref();
                Some(n)
            })
        })
    }

    /// Length of the longest chain (diagnostics and tests of the hash distribution).
    pub fn longest_chain(&self) -> usize {
        self.table
            .iter()
            .map(|head| {
                let (mut n, mut cur) = (0, head.as_deref());
                while let Some(node) = cur {
                    n += 1;
                    cur = node.next.as_deref();
                }
                n
            })
            .max()
            .unwrap_or(0)
    }

    /// The hash stored with an entry.
    pub fn hash_of(node: &Node<V>) -> u32 {
        node.hash
    }
}

impl<V> Drop for Dict<V> {
    fn drop(&mut self) {
        // Iterative, so that a long chain can never overflow the stack.
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_an_empty_or_missing_slot_is_harmless() {
        let mut d: Dict<u32> = Dict::default();
        d.prefetch_slot(7);
        d.prefetch_entry(7);
        d.insert_new(1, SmallBytes::new(b"a"), 1, 0);
        for h in 0..64 {
            d.prefetch_slot(h);
            d.prefetch_entry(h);
        }
    }
    use std::collections::{BTreeMap, HashSet};

    fn h(k: &[u8]) -> u32 {
        // Deliberately weak hash so chains and resizes are exercised.
        k.iter().fold(7u32, |a, &b| a.wrapping_mul(31).wrapping_add(b as u32))
    }

    #[test]
    fn sample_some_gives_existing_entries() {
        let mut rng = rand::thread_rng();
        let mut d: Dict<u64> = Dict::default();
        // A well-mixed hash, as the keyspace's (the weak `h` clusters entries).
        let mixer = std::hash::RandomState::new();
        let mix = |k: &[u8]| std::hash::BuildHasher::hash_one(&mixer, k) as u32;
        let mut seen = Vec::new();
        d.sample_some(&mut rng, 5, |n| seen.push(n.value));
        assert!(seen.is_empty());
        for i in 0..1000u64 {
            let k = format!("k{i}");
            d.insert_new(mix(k.as_bytes()), SmallBytes::new(k.as_bytes()), i, 0);
        }
        for _ in 0..100 {
            let mut got = Vec::new();
            d.sample_some(&mut rng, 5, |n| got.push(n.value));
            assert_eq!(got.len(), 5);
            assert!(got.iter().all(|&v| v < 1000));
        }
        // Sparse table: entries are still found.
        for i in 0..995u64 {
            let k = format!("k{i}");
            d.remove(mix(k.as_bytes()), k.as_bytes());
        }
        let mut got = HashSet::new();
        for _ in 0..200 {
            d.sample_some(&mut rng, 5, |n| {
                got.insert(n.value);
            });
        }
        assert!(got.iter().all(|&v| v >= 995), "{got:?}");
        assert!(got.len() >= 3, "{got:?}");
    }

    #[test]
    fn sampling_from_a_planned_position() {
        let mut rng = rand::thread_rng();
        let mut d: Dict<u64> = Dict::default();
        // Planning on an empty table, and positions beyond any table size, are harmless.
        d.prefetch_sample_slots(usize::MAX);
        d.prefetch_sample_entries(usize::MAX, 5);
        d.sample_some_from(usize::MAX, &mut rng, 5, |_| panic!("empty"));
        let mixer = std::hash::RandomState::new();
        for i in 0..64u64 {
            let k = format!("k{i}");
            d.insert_new(std::hash::BuildHasher::hash_one(&mixer, &k) as u32, SmallBytes::new(k.as_bytes()), i, 0);
        }
        for start in [0, 1, 63, usize::MAX - 2, usize::MAX] {
            d.prefetch_sample_slots(start);
            d.prefetch_sample_entries(start, 5);
            let mut got = Vec::new();
            d.sample_some_from(start, &mut rng, 5, |n| got.push(n.value));
            assert_eq!(got.len(), 5, "start {start}");
        }
        // The same start gives the same first bucket's entries: the plan is followed.
        let first = |d: &Dict<u64>, rng: &mut rand::rngs::ThreadRng| {
            let mut v = None;
            d.sample_some_from(17, rng, 1, |n| v = Some(n.value));
            v
        };
        assert_eq!(first(&d, &mut rng), first(&d, &mut rng));
    }

    #[test]
    fn model_against_btreemap() {
        let mut rng = rand::thread_rng();
        let mut d: Dict<u64> = Dict::default();
        let mut m = BTreeMap::new();
        for i in 0..20000u64 {
            let k = format!("k{}", rng.gen_range(0..2000)).into_bytes();
            match rng.gen_range(0..3) {
                0 | 1 => {
                    if let Some(n) = d.get_mut(h(&k), &k) {
                        n.value = i;
                    } else {
                        d.insert_new(h(&k), SmallBytes::new(&k), i, 0);
                    }
                    m.insert(k, i);
                }
                _ => {
                    assert_eq!(d.remove(h(&k), &k).map(|n| n.value), m.remove(&k));
                }
            }
            assert_eq!(d.len(), m.len());
        }
        for (k, v) in &m {
            assert_eq!(d.get(h(k), k).map(|n| n.value), Some(*v));
        }
        assert_eq!(d.iter().count(), m.len());
    }

    #[test]
    fn scan_survives_resizes() {
        let mut d: Dict<()> = Dict::default();
        for i in 0..1000 {
            let k = format!("stable{i}");
            d.insert_new(h(k.as_bytes()), SmallBytes::new(k.as_bytes()), (), 0);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |n| {
                seen.insert(n.key.as_slice().to_vec());
            });
            step += 1;
            // Grow and shrink the table while scanning.
            if step % 7 == 0 {
                for j in 0..300 {
                    let k = format!("tmp{step}-{j}");
                    d.insert_new(h(k.as_bytes()), SmallBytes::new(k.as_bytes()), (), 0);
                }
            }
            if step % 11 == 0 {
                let tmp: Vec<_> = d.iter().filter(|n| n.key.starts_with(b"tmp")).map(|n| n.key.clone()).collect();
                for k in tmp {
                    d.remove(h(&k), &k);
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
