//! The order tree of the large sorted-set encoding: a B+tree keyed by (score, member) whose
//! leaves hold `(score, id)` pairs in order and whose inner nodes keep, per child, the
//! number of members below it and its exact maximum key (see the parent module's docs for
//! why a B+tree and why exact maxima).
use super::*;

#[derive(Clone)]
pub(super) struct Leaf {
    len: u32,
    prev: u32,
    next: u32,
    scores: [f64; LCAP],
    ids: [u32; LCAP],
}

impl Leaf {
    pub(super) fn new() -> Leaf {
        Leaf { len: 0, prev: NIL, next: NIL, scores: [0.0; LCAP], ids: [NIL; LCAP] }
    }
}

#[derive(Clone)]
pub(super) struct Inner {
    len: u32,
    child: [u32; ICAP],
    count: [u32; ICAP],
    max_score: [f64; ICAP],
    max_id: [u32; ICAP],
}

impl Inner {
    pub(super) fn new() -> Inner {
        Inner { len: 0, child: [NIL; ICAP], count: [0; ICAP], max_score: [0.0; ICAP], max_id: [NIL; ICAP] }
    }
    pub(super) fn total(&self) -> u32 {
        self.count[..self.len as usize].iter().sum()
    }
}

/// Summary of a subtree as its parent records it.
#[derive(Clone, Copy)]
pub(super) struct Summary {
    count: u32,
    max_score: f64,
    max_id: u32,
}

/// Order-statistic B+tree of `(score, id)`; see the module docs.
#[derive(Clone)]
pub(super) struct Tree {
    pub(super) leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// 0 when the root is a leaf.
    pub(super) height: u32,
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
    pub(super) fn alloc_leaf(&mut self) -> u32 {
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

    pub(super) fn alloc_inner(&mut self) -> u32 {
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

    pub(super) fn free_leaf(&mut self, l: u32) {
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

    pub(super) fn free_inner(&mut self, i: u32) {
        self.inners[i as usize].len = 0;
        self.free_inners.push(i);
    }

    /// Number of elements (leaf) or children (inner) of a node at height `h`.
    pub(super) fn node_len(&self, node: u32, h: u32) -> usize {
        if h == 0 {
            self.leaves[node as usize].len as usize
        } else {
            self.inners[node as usize].len as usize
        }
    }

    pub(super) fn summary(&self, node: u32, h: u32) -> Summary {
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

    pub(super) fn set_child(&mut self, node: u32, i: usize, child: u32, s: Summary) {
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
    pub(super) fn insert_at(
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

    pub(super) fn remove_at(&mut self, entries: &[Entry], node: u32, h: u32, s: f64, m: &[u8], id: u32) -> bool {
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

    pub(super) fn remove_child(&mut self, node: u32, i: usize) {
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
    pub(super) fn rebalance(&mut self, node: u32, i: usize, ch: u32) {
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
    pub(super) fn move_elements(&mut self, l: u32, r: u32, ch: u32, target: usize) {
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
    pub(super) fn heap_size(&self) -> usize {
        self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.inners.capacity() * std::mem::size_of::<Inner>()
            + (self.free_leaves.capacity() + self.free_inners.capacity()) * 4
    }

    /// Checks every structural invariant (tests).
    #[cfg(test)]
    pub(super) fn check(&self, entries: &[Entry]) {
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
    pub(super) fn check_node(&self, node: u32, h: u32, leaves: &mut Vec<u32>) -> Summary {
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
pub(super) fn partition(len: usize, pred: impl Fn(usize) -> bool) -> usize {
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
