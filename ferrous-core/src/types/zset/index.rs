//! The large sorted-set encoding (Redis's "skiplist"): a member table plus an order-statistic
//! B+tree, both pointing into one arena of entries.
//!
//! Layout, per member:
//! - **arena** (`entries`): one 32-byte [`Entry`] (member inline up to 22 bytes, score). A
//!   member's arena index (its *id*) never changes while it is in the set, so the other two
//!   structures refer to members by a 4-byte id and the member bytes are stored once. Freed
//!   slots form a free list threaded through the score field (a NaN payload: real scores are
//!   never NaN), so a free slot is recognizable during ZSCAN.
//! - **member table** (`table`): open addressing with linear probing over `u32` ids
//!   (4 bytes per slot, at most 3/4 full, backward-shift deletion: no tombstones). It answers
//!   ZSCORE/ZADD/ZREM lookups.
//! - **order tree** ([`Tree`], in `tree.rs`): a B+tree keyed by (score, member) whose leaves hold
//!   `(score, id)` pairs in order and whose inner nodes keep, per child, the number of
//!   members below it and its exact maximum key. Counts give O(log n) rank and select
//!   (ZRANK, ZRANGE by index), maximum keys give O(log n) searches by score or by member
//!   (ZRANGEBYSCORE, ZRANGEBYLEX); leaves are linked both ways for range walks.
//!
//! Why a B+tree rather than Redis's skiplist: a skiplist node costs a score, a back pointer
//! and 1.33 (pointer, span) pairs on average plus an allocation per member, and a search
//! touches ~4 nodes per level; the tree stores 12 bytes per member in leaves of 64 and a
//! search reads about three nodes. Everything is index-based (`u32` into `Vec`s): no
//! `unsafe`, no per-member allocation (members longer than 22 bytes excepted).
//!
//! Why separators are exact maxima (not the usual stale B+tree separators): a separator
//! refers to a member by id, and a freed id is reused by a different member, so a stale
//! separator could silently change meaning. Keeping every stored maximum exact means a
//! separator only ever names a live member.
//!
//! ZSCAN walks the arena by id: an id is stable while its member stays, so a member present
//! for a whole scan is returned exactly once. When the set shrinks to a quarter of its arena
//! the arena is compacted (ids change); the scan cursor carries a compaction epoch so that a
//! scan that straddles a compaction restarts from the beginning (duplicates, never misses).
use crate::bytes::SmallBytes;
use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::sync::OnceLock;

mod tree;

use tree::*;

const NIL: u32 = u32::MAX;
/// Members per leaf.
const LCAP: usize = 64;
/// Children per inner node.
const ICAP: usize = 64;
/// Below this many elements a node is merged with or refilled from a sibling.
const LMIN: usize = LCAP / 4;
const IMIN: usize = ICAP / 4;
/// Marks a free arena slot: a quiet NaN whose low 32 bits hold the next free slot.
const FREE_TAG: u64 = 0x7ff8_0000_0000_0000;
/// Bits of a ZSCAN cursor holding the arena position; the bits above hold the epoch.
const CURSOR_POS_BITS: u32 = 40;

/// The per-process member hasher (seeded randomly, as Redis seeds its dict hash).
fn hasher() -> &'static foldhash::fast::FixedState {
    static H: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    H.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random()))
}

#[inline]
fn hash(member: &[u8]) -> u64 {
    hasher().hash_one(member)
}

/// One member and its score.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) member: SmallBytes,
    pub(super) score: f64,
}

impl Entry {
    #[inline]
    fn is_free(&self) -> bool {
        self.score.is_nan()
    }
}

/// Compares the key (`s`, `m`) with the stored key (`s2`, member of `id2`).
#[inline]
fn cmp_key(entries: &[Entry], s: f64, m: &[u8], s2: f64, id2: u32) -> Ordering {
    if s < s2 {
        Ordering::Less
    } else if s > s2 {
        Ordering::Greater
    } else {
        m.cmp(entries[id2 as usize].member.as_slice())
    }
}

/// The large encoding: arena + member table + order tree.
#[derive(Clone)]
pub(super) struct Index {
    entries: Vec<Entry>,
    free: u32,
    live: usize,
    table: Vec<u32>,
    tree: Tree,
    epoch: u16,
}

/// A walk over a rank range of an [`Index`].
pub(super) struct IndexIter<'a> {
    index: &'a Index,
    pos: Option<Pos>,
    left: usize,
    rev: bool,
}

impl<'a> Iterator for IndexIter<'a> {
    type Item = (&'a [u8], f64);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let p = self.pos?;
        self.left -= 1;
        let (id, score) = self.index.tree.at(p);
        self.pos = if self.rev { self.index.tree.prev(p) } else { self.index.tree.next(p) };
        Some((self.index.entries[id as usize].member.as_slice(), score))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl Index {
    /// An empty index with room for about `n` members.
    pub(super) fn with_capacity(n: usize) -> Index {
        let mut ix =
            Index { entries: Vec::new(), free: NIL, live: 0, table: Vec::new(), tree: Tree::default(), epoch: 0 };
        ix.entries.reserve_exact(n);
        ix.resize_table(table_size_for(n));
        ix
    }

    pub(super) fn len(&self) -> usize {
        self.live
    }

    fn resize_table(&mut self, size: usize) {
        let mut table = vec![NIL; size];
        let mask = size - 1;
        for (id, e) in self.entries.iter().enumerate() {
            if e.is_free() {
                continue;
            }
            let mut i = hash(&e.member) as usize & mask;
            while table[i] != NIL {
                i = (i + 1) & mask;
            }
            table[i] = id as u32;
        }
        self.table = table;
    }

    /// The slot of `member` in the table (`Ok`) or the empty slot where it would go (`Err`).
    #[inline]
    fn find_slot(&self, member: &[u8]) -> Result<usize, usize> {
        let mask = self.table.len() - 1;
        let mut i = hash(member) as usize & mask;
        loop {
            let id = self.table[i];
            if id == NIL {
                return Err(i);
            }
            if self.entries[id as usize].member.as_slice() == member {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The id of `member`.
    #[inline]
    fn id_of(&self, member: &[u8]) -> Option<u32> {
        if self.table.is_empty() {
            return None;
        }
        self.find_slot(member).ok().map(|slot| self.table[slot])
    }

    /// The score of `member`.
    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        self.id_of(member).map(|id| self.entries[id as usize].score)
    }

    /// The rank of `member`.
    pub(super) fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.id_of(member)?;
        self.tree.rank(&self.entries, id)
    }

    /// Adds a member that is not present.
    pub(super) fn insert_new(&mut self, member: &[u8], score: f64) {
        if self.table.is_empty() || (self.live + 1) * 4 > self.table.len() * 3 {
            let size = (self.table.len() * 2).max(table_size_for(self.live + 1));
            self.resize_table(size);
        }
        let slot = match self.find_slot(member) {
            Ok(_) => return,
            Err(slot) => slot,
        };
        let entry = Entry { member: SmallBytes::new(member), score };
        let id = if self.free != NIL {
            let id = self.free;
            self.free = (self.entries[id as usize].score.to_bits() & 0xffff_ffff) as u32;
            self.entries[id as usize] = entry;
            id
        } else {
            self.entries.push(entry);
            (self.entries.len() - 1) as u32
        };
        self.table[slot] = id;
        self.live += 1;
        self.tree.insert(&self.entries, id);
    }

    /// Appends a member known to be absent and greater than every present member (bulk
    /// loads in order).
    pub(super) fn push_sorted(&mut self, member: &[u8], score: f64) {
        self.insert_new(member, score);
    }

    /// Changes the score of a present member; returns the old score.
    pub(super) fn update(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let id = self.id_of(member)?;
        let old = self.entries[id as usize].score;
        if old == score && old.to_bits() == score.to_bits() {
            return Some(old);
        }
        self.tree.remove(&self.entries, id);
        self.entries[id as usize].score = score;
        self.tree.insert(&self.entries, id);
        Some(old)
    }

    /// Removes `member`; returns its score.
    pub(super) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        if self.table.is_empty() {
            return None;
        }
        let slot = self.find_slot(member).ok()?;
        let id = self.table[slot];
        self.tree.remove(&self.entries, id);
        self.table_delete(slot);
        let score = self.release(id);
        self.maybe_shrink();
        Some(score)
    }

    /// Frees an arena slot (already out of the table and tree); returns its score.
    fn release(&mut self, id: u32) -> f64 {
        let e = &mut self.entries[id as usize];
        let score = e.score;
        e.member = SmallBytes::empty();
        e.score = f64::from_bits(FREE_TAG | self.free as u64);
        self.free = id;
        self.live -= 1;
        score
    }

    /// Backward-shift deletion of table slot `i`.
    fn table_delete(&mut self, mut i: usize) {
        let mask = self.table.len() - 1;
        self.table[i] = NIL;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let id = self.table[j];
            if id == NIL {
                return;
            }
            let home = hash(&self.entries[id as usize].member) as usize & mask;
            // Move the entry at j back to i if its home is not cyclically within (i, j].
            let in_range = if i <= j { home > i && home <= j } else { home > i || home <= j };
            if !in_range {
                self.table[i] = id;
                self.table[j] = NIL;
                i = j;
            }
        }
    }

    /// Shrinks the table and compacts the arena after many removals.
    fn maybe_shrink(&mut self) {
        if self.table.len() > 16 && self.live * 8 < self.table.len() {
            self.resize_table(table_size_for(self.live));
        }
        if self.entries.len() >= 1024 && self.live * 4 < self.entries.len() {
            self.compact();
        }
    }

    /// Rebuilds the arena densely (in order), the table and the tree; bumps the scan epoch.
    fn compact(&mut self) {
        let mut fresh = Index::with_capacity(self.live);
        fresh.epoch = self.epoch.wrapping_add(1);
        let mut p = self.tree.select(0);
        while let Some(pos) = p {
            let (id, score) = self.tree.at(pos);
            let member = std::mem::take(&mut self.entries[id as usize].member);
            fresh.push_sorted(&member, score);
            p = self.tree.next(pos);
        }
        *self = fresh;
    }

    /// Iterates `count` members from rank `start` forward, or backward when `rev`.
    pub(super) fn iter_from(&self, start: usize, count: usize, rev: bool) -> IndexIter<'_> {
        let avail = if rev { start.saturating_add(1) } else { self.live.saturating_sub(start) };
        IndexIter { index: self, pos: self.tree.select(start), left: count.min(avail), rev }
    }

    /// The member and score of rank `rank`.
    pub(super) fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        let (id, score) = self.tree.at(self.tree.select(rank)?);
        Some((self.entries[id as usize].member.as_slice(), score))
    }

    /// Number of members whose (score, member) satisfy `pred` (true on a prefix).
    pub(super) fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let entries = &self.entries;
        self.tree.partition_point(|s, id| pred(s, entries[id as usize].member.as_slice()))
    }

    /// Number of members with a score below `s` (at most `s` when `inclusive`).
    pub(super) fn count_below(&self, s: f64, inclusive: bool) -> usize {
        if inclusive {
            self.tree.partition_point(|x, _| x <= s)
        } else {
            self.tree.partition_point(|x, _| x < s)
        }
    }

    /// Removes `count` members starting at rank `start`; calls `f` on each removed one.
    pub(super) fn remove_range(&mut self, start: usize, count: usize, mut f: impl FnMut(&[u8], f64)) {
        for _ in 0..count {
            let Some(p) = self.tree.select(start) else { break };
            let (id, _) = self.tree.at(p);
            self.tree.remove(&self.entries, id);
            let slot = self.find_slot(&self.entries[id as usize].member).ok();
            if let Some(slot) = slot {
                self.table_delete(slot);
            }
            f(&self.entries[id as usize].member, self.entries[id as usize].score);
            self.release(id);
        }
        self.maybe_shrink();
    }

    /// ZSCAN step: visits arena slots from `cursor` until `count` members were seen; returns
    /// the next cursor (0 when done).
    pub(super) fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let epoch = (cursor >> CURSOR_POS_BITS) as u16;
        let mut pos = (cursor & ((1u64 << CURSOR_POS_BITS) - 1)) as usize;
        if cursor != 0 && epoch != self.epoch {
            // The arena was compacted since this scan started: start over.
            pos = 0;
        }
        let mut seen = 0;
        while pos < self.entries.len() && seen < count {
            let e = &self.entries[pos];
            if !e.is_free() {
                f(&e.member, e.score);
                seen += 1;
            }
            pos += 1;
        }
        if pos >= self.entries.len() {
            0
        } else {
            ((self.epoch as u64) << CURSOR_POS_BITS) | pos as u64
        }
    }

    /// Approximate heap bytes.
    pub(super) fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.entries.iter().map(|e| e.member.heap_size()).sum::<usize>()
            + self.table.capacity() * 4
            + self.tree.heap_size()
    }

    /// Checks every invariant (tests).
    #[cfg(test)]
    pub(super) fn check(&self) {
        self.tree.check(&self.entries);
        assert_eq!(self.tree.len(), self.live);
        let in_table = self.table.iter().filter(|&&id| id != NIL).count();
        assert_eq!(in_table, self.live);
        for (id, e) in self.entries.iter().enumerate() {
            if !e.is_free() {
                assert_eq!(self.id_of(&e.member), Some(id as u32));
            }
        }
        let mut free = 0;
        let mut f = self.free;
        while f != NIL {
            assert!(self.entries[f as usize].is_free());
            free += 1;
            f = (self.entries[f as usize].score.to_bits() & 0xffff_ffff) as u32;
        }
        assert_eq!(free + self.live, self.entries.len());
    }
}

/// Table size (power of two) keeping `n` members at most 3/4 full.
fn table_size_for(n: usize) -> usize {
    (n * 4 / 3 + 1).next_power_of_two().max(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeSet;

    #[derive(PartialEq, Clone, Debug)]
    struct K(f64, Vec<u8>);
    impl PartialOrd for K {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Eq for K {}
    impl Ord for K {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.partial_cmp(&o.0).unwrap_or(Ordering::Equal).then_with(|| self.1.cmp(&o.1))
        }
    }

    fn run(seed: u64, ops: usize, key_space: u32, score_space: i32) {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut ix = Index::with_capacity(0);
        let mut model: BTreeSet<K> = BTreeSet::new();
        let mut scores: std::collections::HashMap<Vec<u8>, f64> = Default::default();
        for step in 0..ops {
            let m = format!("m{}", rng.gen_range(0..key_space)).into_bytes();
            match rng.gen_range(0..10) {
                0..=5 => {
                    let s = rng.gen_range(-score_space..=score_space) as f64;
                    if let Some(old) = scores.insert(m.clone(), s) {
                        model.remove(&K(old, m.clone()));
                        assert_eq!(ix.update(&m, s), Some(old));
                    } else {
                        ix.insert_new(&m, s);
                    }
                    model.insert(K(s, m));
                }
                6..=8 => {
                    let old = scores.remove(&m);
                    if let Some(o) = old {
                        model.remove(&K(o, m.clone()));
                    }
                    assert_eq!(ix.remove(&m), old);
                }
                _ => {
                    if !model.is_empty() {
                        let start = rng.gen_range(0..model.len());
                        let n = rng.gen_range(0..20);
                        let victims: Vec<K> = model.iter().skip(start).take(n).cloned().collect();
                        let mut removed = Vec::new();
                        ix.remove_range(start, n, |m, s| removed.push(K(s, m.to_vec())));
                        assert_eq!(removed, victims);
                        for v in victims {
                            model.remove(&v);
                            scores.remove(&v.1);
                        }
                    }
                }
            }
            if step % 97 == 0 {
                ix.check();
                let got: Vec<K> = ix.iter_from(0, usize::MAX, false).map(|(m, s)| K(s, m.to_vec())).collect();
                let want: Vec<K> = model.iter().cloned().collect();
                assert_eq!(got, want);
                for (r, k) in model.iter().enumerate().step_by(7) {
                    assert_eq!(ix.rank(&k.1), Some(r));
                    assert_eq!(ix.get(r).map(|(m, s)| K(s, m.to_vec())), Some(k.clone()));
                }
                let probe = rng.gen_range(-score_space..=score_space) as f64;
                assert_eq!(ix.count_below(probe, false), model.iter().filter(|k| k.0 < probe).count());
                assert_eq!(ix.count_below(probe, true), model.iter().filter(|k| k.0 <= probe).count());
            }
        }
        ix.check();
        assert_eq!(ix.len(), model.len());
    }

    #[test]
    fn model_small_keyspace() {
        run(1, 20_000, 300, 5);
    }

    #[test]
    fn model_large_keyspace() {
        run(2, 60_000, 20_000, 1_000_000);
    }

    #[test]
    fn ascending_and_descending_loads_fill_nodes() {
        let mut ix = Index::with_capacity(0);
        for i in 0..10_000 {
            ix.insert_new(format!("{i:08}").as_bytes(), i as f64);
        }
        ix.check();
        assert!(ix.tree.leaves.len() <= 10_000 / LCAP + 2, "ascending load left half-empty leaves");
        let mut ix = Index::with_capacity(0);
        for i in (0..10_000).rev() {
            ix.insert_new(format!("{i:08}").as_bytes(), i as f64);
        }
        ix.check();
        assert!(ix.tree.leaves.len() <= 10_000 / LCAP + 2, "descending load left half-empty leaves");
        for i in 0..10_000 {
            assert_eq!(ix.rank(format!("{i:08}").as_bytes()), Some(i));
        }
        // Remove almost everything: the arena gets compacted, the tree stays consistent.
        for i in 0..9_990 {
            assert_eq!(ix.remove(format!("{i:08}").as_bytes()), Some(i as f64));
        }
        ix.check();
        assert_eq!(ix.len(), 10);
        assert!(ix.entries.len() < 1024);
    }

    #[test]
    fn deep_tree_grows_and_shrinks() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let n = 200_000u32;
        let mut order: Vec<u32> = (0..n).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.gen_range(0..=i));
        }
        let mut ix = Index::with_capacity(0);
        for &i in &order {
            ix.insert_new(format!("k{i}").as_bytes(), (i / 3) as f64);
        }
        assert!(ix.tree.height >= 2, "height {}", ix.tree.height);
        ix.check();
        for i in (0..n).step_by(997) {
            let m = format!("k{i}");
            let r = ix.rank(m.as_bytes()).expect("present");
            assert_eq!(ix.get(r).map(|(m, _)| m.to_vec()), Some(m.into_bytes()));
        }
        for (step, &i) in order.iter().enumerate().take(n as usize - 50) {
            assert_eq!(ix.remove(format!("k{i}").as_bytes()), Some((i / 3) as f64));
            if step % 40_000 == 0 {
                ix.check();
            }
        }
        ix.check();
        assert_eq!(ix.len(), 50);
        let mut left: Vec<u32> = order[n as usize - 50..].to_vec();
        left.sort_by_key(|&i| (i / 3, format!("k{i}")));
        let got: Vec<Vec<u8>> = ix.iter_from(0, usize::MAX, false).map(|(m, _)| m.to_vec()).collect();
        let want: Vec<Vec<u8>> = left.iter().map(|i| format!("k{i}").into_bytes()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn scan_returns_each_stable_member_once() {
        let mut ix = Index::with_capacity(0);
        for i in 0..5000 {
            ix.insert_new(format!("s{i}").as_bytes(), i as f64);
        }
        let mut seen = std::collections::HashMap::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = ix.scan(cursor, 37, |m, _| *seen.entry(m.to_vec()).or_insert(0) += 1);
            round += 1;
            // Churn: add and remove other members between calls.
            for j in 0..50 {
                ix.insert_new(format!("t{round}-{j}").as_bytes(), j as f64);
            }
            for j in 0..50 {
                ix.remove(format!("t{round}-{j}").as_bytes());
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..5000 {
            assert_eq!(seen.get(format!("s{i}").as_bytes()), Some(&1), "s{i}");
        }
    }
}
