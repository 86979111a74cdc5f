//! The keys of one shard that have a deadline, for the active expiry cycle, the volatile-*
//! eviction policies and INFO.
//!
//! Redis keeps a second dict (`expires`) from key to deadline, so a key with a TTL costs a
//! dict entry more, and reading such a key costs a second lookup. Ferrous keeps the deadline
//! in the key's own entry (`Node::deadline`, read in the same cache line as the value) and
//! this index holds only a pointer to each entry that has one: an open-addressing set with
//! linear probing, 8 bytes a slot, at most 3/4 full. A key with a TTL costs about 11-16 bytes
//! more than one without, against a 48-byte entry plus a copy of the key before.
//!
//! The pointers are to entries owned by the same shard's dict. Entries are boxed, so they do
//! not move when the dict resizes; the shard removes an entry's pointer before the entry is
//! freed (every removal goes through `Shard::remove`, `Shard::persist` or a whole-shard
//! clear), and the index is only read through the shard, under the shard's lock.
use crate::dict::Node;
use crate::value::Value;
use rand::Rng;
use std::ptr::NonNull;

type Entry = NonNull<Node<Value>>;

/// A set of pointers to a shard's entries that have a deadline.
#[derive(Default)]
pub(crate) struct TtlIndex {
    slots: Box<[Option<Entry>]>,
    len: usize,
}

// SAFETY: the pointers are only dereferenced through the owning `Shard`, whose lock orders
// every access; the entries they point to are `Send + Sync` (the shard's dict is).
unsafe impl Send for TtlIndex {}
// SAFETY: as above.
unsafe impl Sync for TtlIndex {}

const MIN_SLOTS: usize = 8;

impl TtlIndex {
    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of the slot table.
    pub(crate) fn table_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Option<Entry>>()
    }

    #[inline]
    fn home(&self, e: Entry) -> usize {
        // Fibonacci hashing of the address (entries are 16-byte aligned heap blocks).
        let h = ((e.as_ptr() as usize >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & (self.slots.len() - 1)
    }

    /// Adds `e`, which must not be in the index.
    pub(crate) fn insert(&mut self, e: Entry) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.rebuild((self.slots.len() * 2).max(MIN_SLOTS));
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(e);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some(e);
        self.len += 1;
    }

    /// Removes `e`; false if it was not there.
    pub(crate) fn remove(&mut self, e: Entry) -> bool {
        if self.len == 0 {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(e);
        loop {
            match self.slots[i] {
                None => return false,
                Some(x) if x == e => break,
                Some(_) => i = (i + 1) & mask,
            }
        }
        // Backward-shift deletion: later entries of the probe run move into the hole unless
        // their home lies cyclically after it.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let Some(q) = self.slots[j] else { break };
            let k = self.home(q);
            let stays = if i <= j { i < k && k <= j } else { i < k || k <= j };
            if !stays {
                self.slots[i] = Some(q);
                i = j;
            }
        }
        self.slots[i] = None;
        self.len -= 1;
        if self.slots.len() > MIN_SLOTS && self.len * 8 < self.slots.len() {
            self.rebuild((self.len * 2).next_power_of_two().max(MIN_SLOTS));
        }
        true
    }

    /// Room for `n` entries without growing.
    pub(crate) fn reserve(&mut self, n: usize) {
        let want = (n * 4 / 3 + 1).next_power_of_two().max(MIN_SLOTS);
        if want > self.slots.len() {
            self.rebuild(want);
        }
    }

    fn rebuild(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, vec![None; size].into_boxed_slice());
        let mask = size - 1;
        for e in old.iter().flatten() {
            let mut i = self.home(*e);
            while self.slots[i].is_some() {
                i = (i + 1) & mask;
            }
            self.slots[i] = Some(*e);
        }
    }

    /// Forgets every entry (the shard's dict is being cleared or taken).
    pub(crate) fn clear(&mut self) {
        *self = TtlIndex::default();
    }

    /// The entry in slot `i`, if any.
    ///
    /// # Safety
    /// The caller holds the owning shard (shared or exclusive) for the returned lifetime.
    #[inline]
    unsafe fn at<'a>(&self, i: usize) -> Option<&'a Node<Value>> {
        // SAFETY: by the module's invariant the entry is alive while it is indexed, and by
        // the caller nothing removes it during `'a`.
        self.slots[i].map(|e| unsafe { &*e.as_ptr() })
    }

    /// Every entry.
    ///
    /// # Safety
    /// As [`TtlIndex::at`].
    pub(crate) unsafe fn iter<'a>(&'a self) -> impl Iterator<Item = &'a Node<Value>> + 'a {
        // SAFETY: by the caller.
        (0..self.slots.len()).filter_map(move |i| unsafe { self.at(i) })
    }

    /// A uniformly chosen entry.
    ///
    /// # Safety
    /// As [`TtlIndex::at`].
    pub(crate) unsafe fn random<'a, R: Rng>(&'a self, rng: &mut R) -> Option<&'a Node<Value>> {
        if self.len == 0 {
            return None;
        }
        // At least 1/8 of the slots are full (the table shrinks below that).
        loop {
            // SAFETY: by the caller.
            if let Some(n) = unsafe { self.at(rng.gen_range(0..self.slots.len())) } {
                return Some(n);
            }
        }
    }

    /// Up to `count` entries from consecutive slots starting at a random one (Redis's
    /// `dictGetSomeKeys`: cheap, cache friendly, random enough for eviction sampling).
    ///
    /// # Safety
    /// As [`TtlIndex::at`].
    pub(crate) unsafe fn sample_some<'a, R: Rng>(
        &'a self,
        rng: &mut R,
        count: usize,
        mut f: impl FnMut(&'a Node<Value>),
    ) {
        if self.len == 0 {
            return;
        }
        let n = self.slots.len();
        let mut i = rng.gen_range(0..n);
        let mut found = 0;
        for _ in 0..n {
            // SAFETY: by the caller.
            if let Some(e) = unsafe { self.at(i) } {
                f(e);
                found += 1;
                if found == count {
                    return;
                }
            }
            i = (i + 1) & (n - 1);
        }
    }

    /// Visits slot `cursor` (wrapped to the table) and returns the next cursor, 0 after the
    /// last slot: the active expiry cycle walks the index with it across calls. Entries
    /// moved by deletions meanwhile may be skipped for one pass.
    ///
    /// # Safety
    /// As [`TtlIndex::at`].
    pub(crate) unsafe fn scan<'a>(&'a self, cursor: u64, f: impl FnOnce(&'a Node<Value>)) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let i = cursor as usize % self.slots.len();
        // SAFETY: by the caller.
        if let Some(e) = unsafe { self.at(i) } {
            f(e);
        }
        if i + 1 == self.slots.len() {
            0
        } else {
            i as u64 + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::Dict;
    use rand::SeedableRng;

    #[test]
    fn random_inserts_and_removals_keep_the_set_exact() {
        let mut dict: Dict<Value> = Dict::default();
        let mut idx = TtlIndex::default();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut live: std::collections::HashSet<usize> = Default::default();
        for round in 0..20_000u32 {
            let k = rng.gen_range(0..2_000u32);
            let key = k.to_le_bytes();
            match dict.get_mut(k, &key) {
                Some(n) => {
                    let e = NonNull::from(&mut *n);
                    assert!(idx.remove(e), "round {round}: an indexed entry was not found");
                    assert!(!idx.remove(e));
                    live.remove(&(e.as_ptr() as usize));
                    dict.remove(k, &key);
                }
                None => {
                    let n = dict.insert_new(k, crate::bytes::SmallBytes::new(&key), Value::Int(k as i64), 0);
                    let e = NonNull::from(&mut *n);
                    idx.insert(e);
                    live.insert(e.as_ptr() as usize);
                }
            }
            assert_eq!(idx.len(), live.len());
        }
        // SAFETY: the dict owns every indexed entry and is not changed meanwhile.
        let seen: std::collections::HashSet<usize> =
            unsafe { idx.iter() }.map(|n| n as *const Node<Value> as usize).collect();
        assert_eq!(seen, live);
        let mut walked = 0;
        let mut cursor = 0;
        loop {
            // SAFETY: as above.
            cursor = unsafe { idx.scan(cursor, |_| walked += 1) };
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(walked, live.len());
        // SAFETY: as above.
        assert!(unsafe { idx.random(&mut rng) }.is_some_and(|n| live.contains(&(n as *const Node<Value> as usize))));
    }
}
