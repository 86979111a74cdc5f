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
//! - **order tree** ([`Tree`]): a B+tree keyed by (score, member) whose leaves hold
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

#[derive(Clone)]
struct Leaf {
    len: u32,
    prev: u32,
    next: u32,
    scores: [f64; LCAP],
    ids: [u32; LCAP],
}

impl Leaf {
    fn new() -> Leaf {
        Leaf { len: 0, prev: NIL, next: NIL, scores: [0.0; LCAP], ids: [NIL; LCAP] }
    }
}

#[derive(Clone)]
struct Inner {
    len: u32,
    child: [u32; ICAP],
    count: [u32; ICAP],
    max_score: [f64; ICAP],
    max_id: [u32; ICAP],
}

impl Inner {
    fn new() -> Inner {
        Inner { len: 0, child: [NIL; ICAP], count: [0; ICAP], max_score: [0.0; ICAP], max_id: [NIL; ICAP] }
    }
    fn total(&self) -> u32 {
        self.count[..self.len as usize].iter().sum()
    }
}

/// Summary of a subtree as its parent records it.
#[derive(Clone, Copy)]
struct Summary {
    count: u32,
    max_score: f64,
    max_id: u32,
}

/// Order-statistic B+tree of `(score, id)`; see the module docs.
#[derive(Clone)]
pub(super) struct Tree {
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// 0 when the root is a leaf.
    height: u32,
    len: usize,
    head: u32,
    tail: u32,
}

/// A position in the tree: leaf and slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pos {
    leaf: u32,
    slot: u32,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            leaves: Vec::new(),
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: NIL,
            height: 0,
            len: 0,
            head: NIL,
            tail: NIL,
        }
    }
}

impl Tree {
    fn alloc_leaf(&mut self) -> u32 {
        match self.free_leaves.pop() {
            Some(i) => {
                self.leaves[i as usize] = Leaf::new();
                i
            }
            None => {
                self.leaves.push(Leaf::new());
                (self.leaves.len() - 1) as u32
            }
        }
    }

    fn alloc_inner(&mut self) -> u32 {
        match self.free_inners.pop() {
            Some(i) => {
                self.inners[i as usize] = Inner::new();
                i
            }
            None => {
                self.inners.push(Inner::new());
                (self.inners.len() - 1) as u32
            }
        }
    }

    fn free_leaf(&mut self, l: u32) {
        let (prev, next) = {
            let leaf = &self.leaves[l as usize];
            (leaf.prev, leaf.next)
        };
        if prev != NIL {
            self.leaves[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.leaves[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        self.leaves[l as usize].len = 0;
        self.free_leaves.push(l);
    }

    fn free_inner(&mut self, i: u32) {
        self.inners[i as usize].len = 0;
        self.free_inners.push(i);
    }

    /// Number of elements (leaf) or children (inner) of a node at height `h`.
    fn node_len(&self, node: u32, h: u32) -> usize {
        if h == 0 {
            self.leaves[node as usize].len as usize
        } else {
            self.inners[node as usize].len as usize
        }
    }

    fn summary(&self, node: u32, h: u32) -> Summary {
        if h == 0 {
            let l = &self.leaves[node as usize];
            let last = l.len as usize - 1;
            Summary { count: l.len, max_score: l.scores[last], max_id: l.ids[last] }
        } else {
            let n = &self.inners[node as usize];
            let last = n.len as usize - 1;
            Summary { count: n.total(), max_score: n.max_score[last], max_id: n.max_id[last] }
        }
    }

    fn set_child(&mut self, node: u32, i: usize, child: u32, s: Summary) {
        let n = &mut self.inners[node as usize];
        n.child[i] = child;
        n.count[i] = s.count;
        n.max_score[i] = s.max_score;
        n.max_id[i] = s.max_id;
    }

    /// Number of elements.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Inserts `id` (whose key is `entries[id]`), which must not be present.
    pub(super) fn insert(&mut self, entries: &[Entry], id: u32) {
        let e = &entries[id as usize];
        let (s, m) = (e.score, e.member.as_slice());
        if self.root == NIL {
            let l = self.alloc_leaf();
            let leaf = &mut self.leaves[l as usize];
            leaf.scores[0] = s;
            leaf.ids[0] = id;
            leaf.len = 1;
            self.root = l;
            self.height = 0;
            self.head = l;
            self.tail = l;
            self.len = 1;
            return;
        }
        if let Some(right) = self.insert_at(entries, self.root, self.height, s, m, id, true, true) {
            let left = self.root;
            let h = self.height;
            let (ls, rs) = (self.summary(left, h), self.summary(right, h));
            let r = self.alloc_inner();
            self.set_child(r, 0, left, ls);
            self.set_child(r, 1, right, rs);
            self.inners[r as usize].len = 2;
            self.root = r;
            self.height += 1;
        }
        self.len += 1;
    }

    /// Recursive insertion below `node`; returns a new right sibling if `node` split.
    /// `leftmost`/`rightmost` say whether `node` is on the tree's left/right edge: appends at
    /// the right edge (ascending loads) and prepends at the left edge (descending loads)
    /// split off a nearly empty node instead of halving, so bulk loads fill nodes.
    #[allow(clippy::too_many_arguments)]
    fn insert_at(
        &mut self,
        entries: &[Entry],
        node: u32,
        h: u32,
        s: f64,
        m: &[u8],
        id: u32,
        leftmost: bool,
        rightmost: bool,
    ) -> Option<u32> {
        if h == 0 {
            let leaf = &mut self.leaves[node as usize];
            let len = leaf.len as usize;
            let pos = partition(len, |i| cmp_key(entries, s, m, leaf.scores[i], leaf.ids[i]) == Ordering::Greater);
            if len < LCAP {
                leaf.scores.copy_within(pos..len, pos + 1);
                leaf.ids.copy_within(pos..len, pos + 1);
                leaf.scores[pos] = s;
                leaf.ids[pos] = id;
                leaf.len += 1;
                return None;
            }
            // Full: gather the LCAP + 1 keys and split them between `node` and a new leaf.
            let mut scores = [0.0f64; LCAP + 1];
            let mut ids = [0u32; LCAP + 1];
            scores[..pos].copy_from_slice(&leaf.scores[..pos]);
            ids[..pos].copy_from_slice(&leaf.ids[..pos]);
            scores[pos] = s;
            ids[pos] = id;
            scores[pos + 1..].copy_from_slice(&leaf.scores[pos..]);
            ids[pos + 1..].copy_from_slice(&leaf.ids[pos..]);
            let keep = if rightmost && pos == LCAP {
                LCAP
            } else if leftmost && pos == 0 {
                1
            } else {
                LCAP.div_ceil(2)
            };
            let right = self.alloc_leaf();
            let leaf = &mut self.leaves[node as usize];
            leaf.scores[..keep].copy_from_slice(&scores[..keep]);
            leaf.ids[..keep].copy_from_slice(&ids[..keep]);
            leaf.len = keep as u32;
            let old_next = leaf.next;
            leaf.next = right;
            let r = &mut self.leaves[right as usize];
            let moved = LCAP + 1 - keep;
            r.scores[..moved].copy_from_slice(&scores[keep..]);
            r.ids[..moved].copy_from_slice(&ids[keep..]);
            r.len = moved as u32;
            r.prev = node;
            r.next = old_next;
            if old_next != NIL {
                self.leaves[old_next as usize].prev = right;
            } else {
                self.tail = right;
            }
            return Some(right);
        }
        let (i, child) = {
            let n = &mut self.inners[node as usize];
            let len = n.len as usize;
            let i = (0..len)
                .find(|&i| cmp_key(entries, s, m, n.max_score[i], n.max_id[i]) != Ordering::Greater)
                .unwrap_or(len - 1);
            n.count[i] += 1;
            if cmp_key(entries, s, m, n.max_score[i], n.max_id[i]) == Ordering::Greater {
                n.max_score[i] = s;
                n.max_id[i] = id;
            }
            (i, n.child[i])
        };
        let len = self.inners[node as usize].len as usize;
        let split = self.insert_at(entries, child, h - 1, s, m, id, leftmost && i == 0, rightmost && i == len - 1)?;
        let cs = self.summary(child, h - 1);
        let ns = self.summary(split, h - 1);
        self.set_child(node, i, child, cs);
        if len < ICAP {
            let n = &mut self.inners[node as usize];
            n.child.copy_within(i + 1..len, i + 2);
            n.count.copy_within(i + 1..len, i + 2);
            n.max_score.copy_within(i + 1..len, i + 2);
            n.max_id.copy_within(i + 1..len, i + 2);
            n.len += 1;
            self.set_child(node, i + 1, split, ns);
            return None;
        }
        // Full inner node: gather ICAP + 1 children and split.
        let mut all: Vec<(u32, Summary)> = Vec::with_capacity(ICAP + 1);
        {
            let n = &self.inners[node as usize];
            for j in 0..len {
                all.push((n.child[j], Summary { count: n.count[j], max_score: n.max_score[j], max_id: n.max_id[j] }));
            }
        }
        all.insert(i + 1, (split, ns));
        let keep = if rightmost && i + 1 == ICAP {
            ICAP
        } else if leftmost && i == 0 {
            2
        } else {
            ICAP.div_ceil(2)
        };
        let right = self.alloc_inner();
        for (j, &(c, sm)) in all[..keep].iter().enumerate() {
            self.set_child(node, j, c, sm);
        }
        self.inners[node as usize].len = keep as u32;
        for (j, &(c, sm)) in all[keep..].iter().enumerate() {
            self.set_child(right, j, c, sm);
        }
        self.inners[right as usize].len = (all.len() - keep) as u32;
        Some(right)
    }

    /// Removes `id` (key `entries[id]`); false if it was not there.
    pub(super) fn remove(&mut self, entries: &[Entry], id: u32) -> bool {
        if self.root == NIL {
            return false;
        }
        let e = &entries[id as usize];
        if !self.remove_at(entries, self.root, self.height, e.score, e.member.as_slice(), id) {
            return false;
        }
        self.len -= 1;
        while self.height > 0 && self.inners[self.root as usize].len == 1 {
            let old = self.root;
            self.root = self.inners[old as usize].child[0];
            self.height -= 1;
            self.free_inner(old);
        }
        if self.height > 0 && self.inners[self.root as usize].len == 0 {
            // Cannot happen (the last child would have been collapsed), but stay safe.
            let old = self.root;
            self.free_inner(old);
            self.root = NIL;
            self.height = 0;
        } else if self.height == 0 && self.leaves[self.root as usize].len == 0 {
            let old = self.root;
            self.free_leaf(old);
            self.root = NIL;
        }
        true
    }

    fn remove_at(&mut self, entries: &[Entry], node: u32, h: u32, s: f64, m: &[u8], id: u32) -> bool {
        if h == 0 {
            let leaf = &mut self.leaves[node as usize];
            let len = leaf.len as usize;
            let pos = partition(len, |i| cmp_key(entries, s, m, leaf.scores[i], leaf.ids[i]) == Ordering::Greater);
            if pos >= len || leaf.ids[pos] != id {
                return false;
            }
            leaf.scores.copy_within(pos + 1..len, pos);
            leaf.ids.copy_within(pos + 1..len, pos);
            leaf.len -= 1;
            return true;
        }
        let (i, child) = {
            let n = &self.inners[node as usize];
            let len = n.len as usize;
            let Some(i) = (0..len).find(|&i| cmp_key(entries, s, m, n.max_score[i], n.max_id[i]) != Ordering::Greater)
            else {
                return false;
            };
            (i, n.child[i])
        };
        if !self.remove_at(entries, child, h - 1, s, m, id) {
            return false;
        }
        let clen = self.node_len(child, h - 1);
        if clen == 0 {
            // Drop the empty child right away: a non-root node is never empty.
            if h == 1 {
                self.free_leaf(child);
            } else {
                self.free_inner(child);
            }
            self.remove_child(node, i);
            return true;
        }
        let cs = self.summary(child, h - 1);
        self.set_child(node, i, child, cs);
        let min = if h == 1 { LMIN } else { IMIN };
        if clen < min {
            self.rebalance(node, i, h - 1);
        }
        true
    }

    fn remove_child(&mut self, node: u32, i: usize) {
        let n = &mut self.inners[node as usize];
        let len = n.len as usize;
        n.child.copy_within(i + 1..len, i);
        n.count.copy_within(i + 1..len, i);
        n.max_score.copy_within(i + 1..len, i);
        n.max_id.copy_within(i + 1..len, i);
        n.len -= 1;
    }

    /// Child `i` of `node` (at height `ch`) is underfull: merge it with a sibling or move
    /// elements over from one.
    fn rebalance(&mut self, node: u32, i: usize, ch: u32) {
        let len = self.inners[node as usize].len as usize;
        let j = if i + 1 < len {
            i + 1
        } else if i > 0 {
            i - 1
        } else {
            return;
        };
        let (l, r) = (i.min(j), i.max(j));
        let (ln, rn) = {
            let n = &self.inners[node as usize];
            (n.child[l], n.child[r])
        };
        let (llen, rlen) = (self.node_len(ln, ch), self.node_len(rn, ch));
        let cap = if ch == 0 { LCAP } else { ICAP };
        if llen + rlen <= cap {
            self.move_elements(ln, rn, ch, llen + rlen);
            if ch == 0 {
                self.free_leaf(rn);
            } else {
                self.free_inner(rn);
            }
            self.remove_child(node, r);
            let s = self.summary(ln, ch);
            self.set_child(node, l, ln, s);
        } else {
            self.move_elements(ln, rn, ch, (llen + rlen) / 2);
            let s = self.summary(ln, ch);
            self.set_child(node, l, ln, s);
            let s = self.summary(rn, ch);
            self.set_child(node, r, rn, s);
        }
    }

    /// Moves elements between adjacent siblings `l` and `r` (height `ch`) so that `l` ends
    /// with `target` elements (all of them when merging).
    fn move_elements(&mut self, l: u32, r: u32, ch: u32, target: usize) {
        if ch == 0 {
            let (ll, rl) = (self.leaves[l as usize].len as usize, self.leaves[r as usize].len as usize);
            if target > ll {
                let k = target - ll;
                let (scores, ids) = {
                    let rr = &self.leaves[r as usize];
                    let mut s = [0.0; LCAP];
                    let mut d = [0u32; LCAP];
                    s[..k].copy_from_slice(&rr.scores[..k]);
                    d[..k].copy_from_slice(&rr.ids[..k]);
                    (s, d)
                };
                let left = &mut self.leaves[l as usize];
                left.scores[ll..target].copy_from_slice(&scores[..k]);
                left.ids[ll..target].copy_from_slice(&ids[..k]);
                left.len = target as u32;
                let right = &mut self.leaves[r as usize];
                right.scores.copy_within(k..rl, 0);
                right.ids.copy_within(k..rl, 0);
                right.len = (rl - k) as u32;
            } else if target < ll {
                let k = ll - target;
                let (scores, ids) = {
                    let lf = &self.leaves[l as usize];
                    let mut s = [0.0; LCAP];
                    let mut d = [0u32; LCAP];
                    s[..k].copy_from_slice(&lf.scores[target..ll]);
                    d[..k].copy_from_slice(&lf.ids[target..ll]);
                    (s, d)
                };
                self.leaves[l as usize].len = target as u32;
                let right = &mut self.leaves[r as usize];
                right.scores.copy_within(0..rl, k);
                right.ids.copy_within(0..rl, k);
                right.scores[..k].copy_from_slice(&scores[..k]);
                right.ids[..k].copy_from_slice(&ids[..k]);
                right.len = (rl + k) as u32;
            }
        } else {
            let (ll, rl) = (self.inners[l as usize].len as usize, self.inners[r as usize].len as usize);
            if target > ll {
                let k = target - ll;
                let moved = self.inners[r as usize].clone();
                let left = &mut self.inners[l as usize];
                left.child[ll..target].copy_from_slice(&moved.child[..k]);
                left.count[ll..target].copy_from_slice(&moved.count[..k]);
                left.max_score[ll..target].copy_from_slice(&moved.max_score[..k]);
                left.max_id[ll..target].copy_from_slice(&moved.max_id[..k]);
                left.len = target as u32;
                let right = &mut self.inners[r as usize];
                right.child.copy_within(k..rl, 0);
                right.count.copy_within(k..rl, 0);
                right.max_score.copy_within(k..rl, 0);
                right.max_id.copy_within(k..rl, 0);
                right.len = (rl - k) as u32;
            } else if target < ll {
                let k = ll - target;
                let moved = self.inners[l as usize].clone();
                self.inners[l as usize].len = target as u32;
                let right = &mut self.inners[r as usize];
                right.child.copy_within(0..rl, k);
                right.count.copy_within(0..rl, k);
                right.max_score.copy_within(0..rl, k);
                right.max_id.copy_within(0..rl, k);
                right.child[..k].copy_from_slice(&moved.child[target..ll]);
                right.count[..k].copy_from_slice(&moved.count[target..ll]);
                right.max_score[..k].copy_from_slice(&moved.max_score[target..ll]);
                right.max_id[..k].copy_from_slice(&moved.max_id[target..ll]);
                right.len = (rl + k) as u32;
            }
        }
    }

    /// Number of elements for which `pred(score, id)` holds, `pred` being true for a prefix
    /// of the order (a partition point).
    pub(super) fn partition_point(&self, pred: impl Fn(f64, u32) -> bool) -> usize {
        if self.root == NIL {
            return 0;
        }
        let mut node = self.root;
        let mut h = self.height;
        let mut rank = 0usize;
        while h > 0 {
            let n = &self.inners[node as usize];
            let len = n.len as usize;
            let mut i = 0;
            while i < len && pred(n.max_score[i], n.max_id[i]) {
                rank += n.count[i] as usize;
                i += 1;
            }
            if i == len {
                return rank;
            }
            node = n.child[i];
            h -= 1;
        }
        let l = &self.leaves[node as usize];
        rank + partition(l.len as usize, |i| pred(l.scores[i], l.ids[i]))
    }

    /// The 0-based rank of `id` (key `entries[id]`), if present.
    pub(super) fn rank(&self, entries: &[Entry], id: u32) -> Option<usize> {
        let e = &entries[id as usize];
        let (s, m) = (e.score, e.member.as_slice());
        let r = self.partition_point(|s2, id2| cmp_key(entries, s, m, s2, id2) == Ordering::Greater);
        let p = self.select(r)?;
        (self.leaves[p.leaf as usize].ids[p.slot as usize] == id).then_some(r)
    }

    /// The position of the element of rank `rank`.
    pub(super) fn select(&self, mut rank: usize) -> Option<Pos> {
        if rank >= self.len {
            return None;
        }
        let mut node = self.root;
        let mut h = self.height;
        while h > 0 {
            let n = &self.inners[node as usize];
            let mut i = 0;
            while rank >= n.count[i] as usize {
                rank -= n.count[i] as usize;
                i += 1;
                if i >= n.len as usize {
                    return None;
                }
            }
            node = n.child[i];
            h -= 1;
        }
        (rank < self.leaves[node as usize].len as usize).then_some(Pos { leaf: node, slot: rank as u32 })
    }

    /// The id and score at a position.
    #[inline]
    pub(super) fn at(&self, p: Pos) -> (u32, f64) {
        let l = &self.leaves[p.leaf as usize];
        (l.ids[p.slot as usize], l.scores[p.slot as usize])
    }

    /// The next position in order.
    #[inline]
    pub(super) fn next(&self, p: Pos) -> Option<Pos> {
        let l = &self.leaves[p.leaf as usize];
        if p.slot + 1 < l.len {
            return Some(Pos { leaf: p.leaf, slot: p.slot + 1 });
        }
        let mut n = l.next;
        while n != NIL {
            if self.leaves[n as usize].len > 0 {
                return Some(Pos { leaf: n, slot: 0 });
            }
            n = self.leaves[n as usize].next;
        }
        None
    }

    /// The previous position in order.
    #[inline]
    pub(super) fn prev(&self, p: Pos) -> Option<Pos> {
        if p.slot > 0 {
            return Some(Pos { leaf: p.leaf, slot: p.slot - 1 });
        }
        let mut n = self.leaves[p.leaf as usize].prev;
        while n != NIL {
            let len = self.leaves[n as usize].len;
            if len > 0 {
                return Some(Pos { leaf: n, slot: len - 1 });
            }
            n = self.leaves[n as usize].prev;
        }
        None
    }

    /// Heap bytes used.
    fn heap_size(&self) -> usize {
        self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.inners.capacity() * std::mem::size_of::<Inner>()
            + (self.free_leaves.capacity() + self.free_inners.capacity()) * 4
    }

    /// Checks every structural invariant (tests).
    #[cfg(test)]
    fn check(&self, entries: &[Entry]) {
        if self.root == NIL {
            assert_eq!(self.len, 0);
            assert_eq!(self.head, NIL);
            return;
        }
        let mut leaves_in_order = Vec::new();
        let total = self.check_node(self.root, self.height, &mut leaves_in_order);
        assert_eq!(total.count as usize, self.len);
        // Leaf links agree with the tree order.
        let mut walk = Vec::new();
        let mut l = self.head;
        let mut prev = NIL;
        while l != NIL {
            assert_eq!(self.leaves[l as usize].prev, prev);
            walk.push(l);
            prev = l;
            l = self.leaves[l as usize].next;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(walk, leaves_in_order);
        // Keys strictly increase along the leaves.
        let mut last: Option<(f64, u32)> = None;
        for &l in &walk {
            let leaf = &self.leaves[l as usize];
            for k in 0..leaf.len as usize {
                let (s, id) = (leaf.scores[k], leaf.ids[k]);
                assert_eq!(entries[id as usize].score.to_bits(), s.to_bits());
                if let Some((ps, pid)) = last {
                    let m = entries[id as usize].member.as_slice();
                    assert_eq!(cmp_key(entries, s, m, ps, pid), Ordering::Greater);
                }
                last = Some((s, id));
            }
        }
    }

    #[cfg(test)]
    fn check_node(&self, node: u32, h: u32, leaves: &mut Vec<u32>) -> Summary {
        let len = self.node_len(node, h);
        assert!(len > 0, "empty node");
        if h == 0 {
            leaves.push(node);
            return self.summary(node, 0);
        }
        let n = self.inners[node as usize].clone();
        let mut count = 0;
        for i in 0..len {
            let s = self.check_node(n.child[i], h - 1, leaves);
            assert_eq!(s.count, n.count[i], "count of child");
            assert_eq!(s.max_id, n.max_id[i], "max of child");
            assert_eq!(s.max_score.to_bits(), n.max_score[i].to_bits());
            count += s.count;
        }
        Summary { count, max_score: n.max_score[len - 1], max_id: n.max_id[len - 1] }
    }
}

/// Index of the first `i` in `0..len` for which `pred(i)` is false (`pred` true on a prefix).
#[inline]
fn partition(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
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
