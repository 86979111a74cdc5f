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
//!
//! # Files
//!
//! `entry` is the entry format, `node` a node's buffer and Redis's node size rules, this file
//! the [`List`] itself and its iterator, `rdb` the node-level access the RDB codec uses,
//! `ops` the access-level operations the command handlers share with the typed API, and
//! `api` the typed API (`impl Database`).
use crate::access::{Access, MultiShard};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::notify;
use crate::types::hash::KeyChange;
use crate::value::Value;
use std::collections::VecDeque;
use std::time::Duration;

mod api;
mod entry;
mod node;
mod ops;
mod rdb;

pub use entry::*;
use node::*;
pub use ops::*;

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
        if node.buf.count == 1 || !is_large(str_len(e)) {
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
        if is_large(len) {
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
