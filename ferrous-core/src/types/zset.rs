//! Sorted sets: the [`ZSet`] value, score and lex ranges, the access-level operations the
//! ZADD/ZRANGE/... handlers share with the typed API, and the typed API itself.
//!
//! Encodings, as Redis 7.0 reports them in `OBJECT ENCODING`:
//! - `listpack` (module `listpack`): one packed, exact-size byte buffer of `(member, score)`
//!   entries sorted by (score, member). Used while the set has at most
//!   `zset-max-listpack-entries` members (128) of at most `zset-max-listpack-value` bytes
//!   (64); operations are linear scans, as in Redis.
//! - `skiplist` (module `index`): an arena of members, an open-addressing member table and an
//!   order-statistic B+tree (O(log n) rank, select and range search). The name is Redis's;
//!   the structure is not a skiplist (see the module docs of `index` for why).
//!
//! A set converts from listpack to skiplist when an insertion crosses a threshold and never
//! back, except that results built by ZRANGESTORE/ZUNIONSTORE/... start small, as in Redis.
//!
//! Layers: [`ZSet`] is the data structure (this file, with its encodings in `listpack` and
//! `index`); `score` parses scores as C's `strtod` does and `range` holds score, lex and rank
//! ranges; the free functions of `ops` (`zadd`, `zrange`, ...) run one command's semantics
//! against the keyspace through an [`Access`]; `api` is the typed API (`impl Database`).
//! Command handlers (`commands::zsets`) parse arguments, call the same functions and write
//! replies.
use crate::access::{Access, MultiShard};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::keyspace::{KeyHash, Shard};
use crate::types::keys::ScanOptions;
use crate::value::Value;
use rand::seq::SliceRandom;
use rand::Rng;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

mod api;
mod index;
mod listpack;
mod ops;
mod range;
mod score;

use index::{Index, IndexIter};
use listpack::{Listpack, LpIter, LpRevIter};
pub use ops::*;
pub use range::*;
pub use score::*;

/// A member and its score.
pub type ScoredMember = (Vec<u8>, f64);

/// What BZPOPMIN/BZPOPMAX return: key, member, score.
pub type KeyedMember = (Vec<u8>, Vec<u8>, f64);

/// Listpack size limit (Redis's `lpSafeToAdd`: 1 GB).
const LISTPACK_MAX_BYTES: usize = 1 << 30;

// ---------------------------------------------------------------------------------------
// The value
// ---------------------------------------------------------------------------------------

/// The thresholds deciding between the listpack and skiplist encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZSetLimits {
    /// `zset-max-listpack-entries`.
    pub max_listpack_entries: usize,
    /// `zset-max-listpack-value`.
    pub max_listpack_value: usize,
}

impl Default for ZSetLimits {
    fn default() -> Self {
        ZSetLimits { max_listpack_entries: 128, max_listpack_value: 64 }
    }
}

impl ZSetLimits {
    /// The limits currently configured (read at each write, so CONFIG SET applies to the
    /// next conversion decision).
    pub fn from_config(acc: &Access<'_>) -> ZSetLimits {
        use crate::config::Tunable;
        let get = |t: Tunable| usize::try_from(acc.inner.tunables.get(t)).unwrap_or(usize::MAX);
        ZSetLimits {
            max_listpack_entries: get(Tunable::ZsetMaxListpackEntries),
            max_listpack_value: get(Tunable::ZsetMaxListpackValue),
        }
    }
}

/// Builds a listpack set from the `(member, score)` pairs of a loaded blob, in one pass:
/// the RDB loader's path for a sorted-set blob with at most `zset-max-listpack-entries`
/// members (Redis keeps such a blob as a listpack, whatever its member lengths). Pairs must
/// come in (score, member) order, as Redis writes them; the caller sorts them and uses
/// [`ZSet::from_sorted`] when [`ZSetBuilder::push`] says they do not. Scores of -0 become 0,
/// as always in a listpack.
pub(crate) struct ZSetBuilder(listpack::SortedBuilder);

impl ZSetBuilder {
    /// A builder for about `n` members taking about `bytes` bytes.
    pub(crate) fn new(bytes: usize, n: usize) -> ZSetBuilder {
        ZSetBuilder(listpack::SortedBuilder::new(bytes, n))
    }

    /// Appends a member; `Ok(false)`, appending nothing, if it does not sort after the
    /// previous one; `Err` for a NaN score.
    #[inline]
    pub(crate) fn push(&mut self, member: &[u8], score: f64) -> std::result::Result<bool, &'static str> {
        if score.is_nan() {
            return Err("sorted set with a NaN score");
        }
        Ok(self.0.push(member, score))
    }

    /// The set; `Err` if a member repeated.
    pub(crate) fn finish(self) -> std::result::Result<ZSet, &'static str> {
        Ok(ZSet { repr: Repr::Listpack(self.0.finish()?) })
    }
}

#[derive(Clone)]
enum Repr {
    Listpack(Listpack),
    Skiplist(Box<Index>),
}

/// A sorted set value.
#[derive(Clone)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s))).finish()
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().zip(other.iter()).all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits())
    }
}

/// How one member fared in [`ZSet::add`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddOutcome {
    /// New member.
    Added(f64),
    /// Existing member whose score changed.
    Updated(f64),
    /// Existing member, same score: processed but unchanged.
    Unchanged(f64),
    /// Skipped because of NX/XX/GT/LT.
    Skipped,
}

/// Walks members in rank order (see [`ZSet::range`]).
pub struct ZIter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Lp(LpIter<'a>),
    LpRev(LpRevIter<'a>),
    Ix(IndexIter<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Lp(i) => i.next(),
            IterRepr::LpRev(i) => i.next(),
            IterRepr::Ix(i) => i.next(),
        }
    }
}

impl ZSet {
    /// An empty set (listpack encoded).
    pub fn new() -> ZSet {
        ZSet { repr: Repr::Listpack(Listpack::default()) }
    }

    /// An empty set in the skiplist encoding.
    pub fn new_skiplist() -> ZSet {
        ZSet { repr: Repr::Skiplist(Box::new(Index::with_capacity(0))) }
    }

    /// Builds a set from members sorted by (score, member) and distinct, choosing the
    /// encoding as Redis does for ZUNIONSTORE and friends: listpack when there are at most
    /// `max_listpack_entries` members of at most `max_listpack_value` bytes. Input that is
    /// not sorted (or has NaN scores, or repeats a member) is sorted, cleaned and
    /// deduplicated first (the last score of a repeated member wins).
    pub fn from_sorted(items: &[(&[u8], f64)], limits: &ZSetLimits) -> ZSet {
        let key_lt = |a: &(&[u8], f64), b: &(&[u8], f64)| a.1 < b.1 || (a.1 == b.1 && a.0 < b.0);
        if items.iter().any(|i| i.1.is_nan()) || !items.windows(2).all(|w| key_lt(&w[0], &w[1])) {
            let mut last: HashMap<&[u8], f64> = HashMap::new();
            for &(m, s) in items.iter().filter(|i| !i.1.is_nan()) {
                last.insert(m, s);
            }
            let mut clean: Vec<(&[u8], f64)> = last.into_iter().collect();
            clean.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(b.0)));
            return Self::from_sorted(&clean, limits);
        }
        let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let total: usize = items.iter().map(|(m, _)| m.len()).sum();
        if items.len() <= limits.max_listpack_entries
            && longest <= limits.max_listpack_value
            && total < LISTPACK_MAX_BYTES
        {
            ZSet { repr: Repr::Listpack(Listpack::from_sorted(items)) }
        } else {
            let mut ix = Index::with_capacity(items.len());
            for (m, s) in items {
                ix.push_sorted(m, *s);
            }
            ZSet { repr: Repr::Skiplist(Box::new(ix)) }
        }
    }

    /// Appends a listpack-encoded set's members and scores as the entries of Redis's
    /// listpack (member, score, ...: what `zzlInsertAt` stores) and returns their count;
    /// `None` for a skiplist. The RDB writer's path, one pass over the bytes.
    pub(crate) fn write_listpack_entries(&self, out: &mut Vec<u8>) -> Option<usize> {
        match &self.repr {
            Repr::Listpack(l) => Some(l.write_redis_entries(out)),
            Repr::Skiplist(_) => None,
        }
    }

    /// Calls `f` on every member and score in order when the set is a listpack (a tight
    /// loop over its bytes, for the RDB writer); false, calling nothing, for a skiplist.
    #[inline]
    pub fn for_each_listpack(&self, mut f: impl FnMut(&[u8], f64)) -> bool {
        match &self.repr {
            Repr::Listpack(l) => {
                for (m, s) in l.iter() {
                    f(m, s);
                }
                true
            }
            Repr::Skiplist(_) => false,
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(l) => l.len(),
            Repr::Skiplist(i) => i.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING name: `listpack` or `skiplist`.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    /// Heap bytes owned by the set.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Listpack(l) => l.heap_size(),
            Repr::Skiplist(i) => std::mem::size_of::<Index>() + i.heap_size(),
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(l) => l.score(member),
            Repr::Skiplist(i) => i.score(member),
        }
    }

    /// The 0-based rank of `member` (lowest score first).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Listpack(l) => l.rank(member),
            Repr::Skiplist(i) => i.rank(member),
        }
    }

    /// The member and score of rank `rank`.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Listpack(l) => l.get(rank),
            Repr::Skiplist(i) => i.get(rank),
        }
    }

    /// Every member in order.
    pub fn iter(&self) -> ZIter<'_> {
        self.range(Span { first: 0, count: self.len(), rev: false })
    }

    /// The members of a span.
    pub fn range(&self, span: Span) -> ZIter<'_> {
        let count = if span.first < self.len() { span.count } else { 0 };
        ZIter(match &self.repr {
            Repr::Listpack(l) if span.rev => IterRepr::LpRev(l.iter_back_from(span.first, count)),
            Repr::Listpack(l) => IterRepr::Lp(l.iter_from(span.first, count)),
            Repr::Skiplist(i) => IterRepr::Ix(i.iter_from(span.first, count, span.rev)),
        })
    }

    fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Listpack(l) => l.partition_point(pred),
            Repr::Skiplist(i) => i.partition_point(pred),
        }
    }

    /// Ranks `lo..hi` of the members whose score is in `r` (`lo >= hi` when none).
    pub fn score_bounds(&self, r: &ScoreRange) -> (usize, usize) {
        match &self.repr {
            Repr::Skiplist(i) => (i.count_below(r.min, r.min_exclusive), i.count_below(r.max, !r.max_exclusive)),
            Repr::Listpack(_) => {
                (self.partition_point(|s, _| !r.above_min(s)), self.partition_point(|s, _| r.below_max(s)))
            }
        }
    }

    /// Ranks `lo..hi` of the members in the lex range `r` (a search: exact when all scores
    /// are equal, the only case Redis defines).
    pub fn lex_bounds(&self, r: &LexRange) -> (usize, usize) {
        (self.partition_point(|_, m| !r.above_min(m)), self.partition_point(|_, m| r.below_max(m)))
    }

    /// Ranks `lo..hi` a lex query walks, from the lowest member (or, `rev`, the highest).
    /// On a skiplist this is [`ZSet::lex_bounds`]. On a listpack it reproduces Redis's walk,
    /// which also pins down the answer when scores differ: check the range against the
    /// first and last members, find the first member (from the chosen end) inside the
    /// range, then extend while members stay inside it.
    pub fn lex_bounds_walk(&self, r: &LexRange, rev: bool) -> (usize, usize) {
        let Repr::Listpack(l) = &self.repr else { return self.lex_bounds(r) };
        if r.is_empty() {
            return (0, 0);
        }
        let items: Vec<&[u8]> = l.iter().map(|(m, _)| m).collect();
        let n = items.len();
        if n == 0 || !r.above_min(items[n - 1]) || !r.below_max(items[0]) {
            return (0, 0);
        }
        if !rev {
            let Some(first) = items.iter().position(|m| r.above_min(m)) else { return (0, 0) };
            let end = first + items[first..].iter().take_while(|m| r.below_max(m)).count();
            (first, end)
        } else {
            let Some(last) = items.iter().rposition(|m| r.below_max(m)) else { return (0, 0) };
            let start = last + 1 - items[..=last].iter().rev().take_while(|m| r.above_min(m)).count();
            (start, last + 1)
        }
    }

    /// Number of members with a score in `r` (ZCOUNT).
    pub fn count_in(&self, r: &ScoreRange) -> usize {
        let (lo, hi) = self.score_bounds(r);
        hi.saturating_sub(lo)
    }

    /// Number of members in the lex range `r` (ZLEXCOUNT).
    pub fn lex_count_in(&self, r: &LexRange) -> usize {
        let (lo, hi) = self.lex_bounds_walk(r, false);
        hi.saturating_sub(lo)
    }

    /// The span a ZRANGE query selects (the caller validated LIMIT).
    pub fn span(&self, q: &ZRange) -> Span {
        let len = self.len();
        let empty = Span { first: 0, count: 0, rev: q.rev };
        if let (ZRangeBy::Lex(r), Repr::Listpack(_)) = (&q.by, &self.repr) {
            return self.lex_span_walk(r, q);
        }
        let (lo, hi) = match &q.by {
            ZRangeBy::Rank(start, stop) => {
                let Some((s, e)) = rank_bounds(*start, *stop, len) else { return empty };
                let count = e - s + 1;
                let first = if q.rev { len - 1 - s } else { s };
                return Span { first, count, rev: q.rev };
            }
            ZRangeBy::Score(r) => self.score_bounds(r),
            ZRangeBy::Lex(r) => self.lex_bounds_walk(r, q.rev),
        };
        if hi <= lo {
            return empty;
        }
        let (offset, limit) = q.limit.unwrap_or((0, -1));
        // Redis walks `offset` members before checking the range: a negative offset walks
        // off the end, so nothing is returned.
        let Ok(offset) = usize::try_from(offset) else { return empty };
        let avail = hi - lo;
        if offset >= avail {
            return empty;
        }
        let mut count = avail - offset;
        if let Ok(limit) = usize::try_from(limit) {
            count = count.min(limit);
        }
        let first = if q.rev { hi - 1 - offset } else { lo + offset };
        Span { first, count, rev: q.rev }
    }

    /// A lex ZRANGE on a listpack, walked as Redis walks it: find the first member in range
    /// from the chosen end, step over `offset` members without looking at them, then take
    /// members while they stay in range (up to the limit). Same as the search when all
    /// scores are equal; exactly Redis's answer otherwise.
    fn lex_span_walk(&self, r: &LexRange, q: &ZRange) -> Span {
        let empty = Span { first: 0, count: 0, rev: q.rev };
        let (offset, limit) = q.limit.unwrap_or((0, -1));
        let Ok(offset) = usize::try_from(offset) else { return empty };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let (lo, hi) = self.lex_bounds_walk(r, q.rev);
        if hi <= lo {
            return empty;
        }
        let n = self.len();
        let members: Vec<&[u8]> = self.iter().map(|(m, _)| m).collect();
        if !q.rev {
            let first = lo.saturating_add(offset);
            if first >= n {
                return empty;
            }
            let count = members[first..].iter().take_while(|m| r.below_max(m)).take(limit).count();
            Span { first, count, rev: false }
        } else {
            let Some(first) = (hi - 1).checked_sub(offset) else { return empty };
            let count = members[..=first].iter().rev().take_while(|m| r.above_min(m)).take(limit).count();
            Span { first, count, rev: true }
        }
    }

    fn convert_to_skiplist(&mut self) {
        if let Repr::Listpack(l) = &self.repr {
            let mut ix = Index::with_capacity(l.len() + 1);
            for (m, s) in l.iter() {
                ix.push_sorted(m, s);
            }
            self.repr = Repr::Skiplist(Box::new(ix));
        }
    }

    /// ZADD's per-member step (Redis's `zsetAdd`): `incr` adds `score` to the current score
    /// (0 for a new member); `nx`/`xx` restrict to new/existing members; `gt`/`lt` update
    /// existing members only when the score goes up/down. A new member that does not fit
    /// the listpack limits converts the set to a skiplist first. Error on a NaN result.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        member: &[u8],
        score: f64,
        incr: bool,
        nx: bool,
        xx: bool,
        gt: bool,
        lt: bool,
        limits: &ZSetLimits,
    ) -> Result<AddOutcome> {
        let nan = || Error::msg("ERR resulting score is not a number (NaN)");
        if score.is_nan() {
            return Err(nan());
        }
        if let Some(cur) = self.score(member) {
            if nx {
                return Ok(AddOutcome::Skipped);
            }
            let mut new = score;
            if incr {
                new += cur;
                if new.is_nan() {
                    return Err(nan());
                }
            }
            if (lt && new >= cur) || (gt && new <= cur) {
                return Ok(AddOutcome::Skipped);
            }
            if new != cur {
                match &mut self.repr {
                    Repr::Listpack(l) => l.update(member, new),
                    Repr::Skiplist(i) => i.update(member, new),
                };
                return Ok(AddOutcome::Updated(new));
            }
            return Ok(AddOutcome::Unchanged(new));
        }
        if xx {
            return Ok(AddOutcome::Skipped);
        }
        self.insert_new(member, score, limits);
        Ok(AddOutcome::Added(score))
    }

    /// Adds a member known to be absent, converting the encoding if it would no longer fit.
    fn insert_new(&mut self, member: &[u8], score: f64, limits: &ZSetLimits) {
        if let Repr::Listpack(l) = &self.repr {
            if l.len() + 1 > limits.max_listpack_entries
                || member.len() > limits.max_listpack_value
                || l.bytes() + member.len() + 16 > LISTPACK_MAX_BYTES
            {
                self.convert_to_skiplist();
            }
        }
        match &mut self.repr {
            Repr::Listpack(l) => l.insert_new(member, score),
            Repr::Skiplist(i) => i.insert_new(member, score),
        }
    }

    /// Sets the score of `member`, adding it if needed; returns the old score. A NaN score
    /// changes nothing (a sorted set never holds NaN; [`ZSet::add`] reports it).
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &ZSetLimits) -> Option<f64> {
        if score.is_nan() {
            return self.score(member);
        }
        match self.score(member) {
            Some(old) => {
                if old.to_bits() != score.to_bits() {
                    match &mut self.repr {
                        Repr::Listpack(l) => l.update(member, score),
                        Repr::Skiplist(i) => i.update(member, score),
                    };
                }
                Some(old)
            }
            None => {
                self.insert_new(member, score, limits);
                None
            }
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Listpack(l) => l.remove(member),
            Repr::Skiplist(i) => i.remove(member),
        }
    }

    /// Removes `count` members from rank `first` upward, calling `f` on each.
    pub fn remove_range(&mut self, first: usize, count: usize, f: impl FnMut(&[u8], f64)) {
        match &mut self.repr {
            Repr::Listpack(l) => l.remove_range(first, count, f),
            Repr::Skiplist(i) => i.remove_range(first, count, f),
        }
    }

    /// Removes and returns up to `count` members with the lowest (or, `max`, highest)
    /// scores, in pop order.
    pub fn pop(&mut self, max: bool, count: usize) -> Vec<ScoredMember> {
        let n = count.min(self.len());
        let mut out = Vec::with_capacity(n);
        if max {
            for _ in 0..n {
                let last = self.len() - 1;
                self.remove_range(last, 1, |m, s| out.push((m.to_vec(), s)));
            }
        } else {
            self.remove_range(0, n, |m, s| out.push((m.to_vec(), s)));
        }
        out
    }

    /// One ZSCAN step: calls `f` on members from `cursor` and returns the next cursor.
    /// A listpack returns everything at once with cursor 0, as in Redis.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(l) => {
                for (m, s) in l.iter() {
                    f(m, s);
                }
                0
            }
            Repr::Skiplist(i) => i.scan(cursor, count.max(1), f),
        }
    }

    /// ZRANDMEMBER's choice of members for `count` (Redis's cases): negative counts pick
    /// `|count|` members independently; a count at least the size returns the whole set
    /// (highest first, as Redis iterates from the tail); otherwise `count` distinct
    /// members. Calls `f` with each pick.
    pub fn random_members(&self, count: i64, mut f: impl FnMut(&[u8], f64)) {
        let len = self.len();
        if len == 0 || count == 0 {
            return;
        }
        let mut rng = rand::thread_rng();
        let small: Option<Vec<(&[u8], f64)>> = match &self.repr {
            Repr::Listpack(l) => Some(l.iter().collect()),
            Repr::Skiplist(_) => None,
        };
        let at = |r: usize| -> (&[u8], f64) {
            match &small {
                Some(v) => v[r],
                None => self.get(r).unwrap_or((&[], 0.0)),
            }
        };
        if count < 0 || count == 1 {
            for _ in 0..count.unsigned_abs() {
                let (m, s) = at(rng.gen_range(0..len));
                f(m, s);
            }
            return;
        }
        let count = count as usize;
        if count >= len {
            for (m, s) in self.range(Span { first: len - 1, count: len, rev: true }) {
                f(m, s);
            }
            return;
        }
        let mut picks: Vec<usize> = rand::seq::index::sample(&mut rng, len, count).into_vec();
        if small.is_some() && count * 3 <= len {
            // Redis samples a listpack with lpRandomPairsUnique: picks come in set order.
            picks.sort_unstable();
        } else {
            picks.shuffle(&mut rng);
        }
        for r in picks {
            let (m, s) = at(r);
            f(m, s);
        }
    }

    /// Checks internal invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        if let Repr::Skiplist(i) = &self.repr {
            i.check();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_matches_glibc() {
        let ok = |s: &str, v: f64| assert_eq!(parse_score(s.as_bytes()), Some(v), "{s}");
        let bad = |s: &str| assert_eq!(parse_score(s.as_bytes()), None, "{s}");
        ok("1.5", 1.5);
        ok("0x10", 16.0);
        ok("0X1A", 26.0);
        ok("0x1p3", 8.0);
        ok("0x.8", 0.5);
        ok("+1", 1.0);
        ok(".5", 0.5);
        ok("5.", 5.0);
        ok("infinity", f64::INFINITY);
        ok("-INF", f64::NEG_INFINITY);
        ok("1e+5", 100000.0);
        ok("1e-310", 1e-310);
        bad("1e400");
        bad("1e-400");
        bad(" 1");
        bad("1 ");
        bad("nan");
        bad("-nan");
        bad("");
        bad("1e");
        bad("1_0");
        bad("0x");
        bad("inf1");
        assert_eq!(strtod(b"0x"), (0.0, 1, false));
        assert_eq!(strtod(b"  -2abc"), (-2.0, 4, false));
        assert_eq!(strtod(b"1e5x").1, 3);
        assert_eq!(strtod(b"1ex").1, 1);
    }

    #[test]
    fn score_and_lex_ranges() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.min_exclusive && !r.max_exclusive && r.max == f64::INFINITY);
        assert_eq!(ScoreRange::parse(b"", b"1e400").unwrap(), ScoreRange::inclusive(0.0, f64::INFINITY));
        assert_eq!(ScoreRange::parse(b" 2", b"3").unwrap().min, 2.0);
        assert!(ScoreRange::parse(b"a", b"1").is_err());
        assert!(ScoreRange::parse(b"1", b"nan").is_err());
        assert!(ScoreRange::parse(b"1 ", b"2").is_err());
        assert!(LexRange::parse(b"a", b"+").is_err());
        assert!(LexRange::parse(b"", b"+").is_err());
        assert!(LexRange::parse(b"-x", b"+").is_err());
        let l = LexRange::parse(b"[a", b"(c").unwrap();
        assert!(l.above_min(b"a") && l.below_max(b"b") && !l.below_max(b"c"));
    }

    fn build(n: usize, limits: &ZSetLimits) -> ZSet {
        let mut z = ZSet::new();
        for i in 0..n {
            z.insert(format!("m{i:04}").as_bytes(), (i % 7) as f64, limits);
        }
        z
    }

    #[test]
    fn a_small_zset_is_one_exact_allocation() {
        // 16 bytes, so it sits in a `Value` unboxed; its listpack holds a count and the
        // entries, no slack.
        assert_eq!(std::mem::size_of::<ZSet>(), 16);
        let items: Vec<(&[u8], f64)> = vec![(b"a", 1.0), (b"member:2", 2.5)];
        let z = ZSet::from_sorted(&items, &ZSetLimits::default());
        assert_eq!(z.heap_size(), 4 + (1 + 1 + 1) + (1 + 8 + 5));
        assert_eq!(z.iter().collect::<Vec<_>>(), items);
    }

    #[test]
    fn from_sorted_repairs_unsorted_input() {
        let items: Vec<(&[u8], f64)> = vec![(b"b", 2.0), (b"a", 2.0), (b"c", f64::NAN), (b"b", 0.5), (b"d", -1.0)];
        for limits in [ZSetLimits::default(), ZSetLimits { max_listpack_entries: 0, max_listpack_value: 0 }] {
            let z = ZSet::from_sorted(&items, &limits);
            let got: Vec<(&[u8], f64)> = z.iter().collect();
            assert_eq!(got, vec![(&b"d"[..], -1.0), (b"b", 0.5), (b"a", 2.0)]);
            z.check();
        }
    }

    #[test]
    fn encodings_convert_on_thresholds() {
        let limits = ZSetLimits { max_listpack_entries: 4, max_listpack_value: 8 };
        let mut z = build(4, &limits);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"m0004", 1.0, &limits);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = build(2, &limits);
        z.insert(b"123456789", 1.0, &limits);
        assert_eq!(z.encoding(), "skiplist");
        z.check();
    }

    #[test]
    fn spans_follow_redis() {
        for limits in [ZSetLimits::default(), ZSetLimits { max_listpack_entries: 0, max_listpack_value: 0 }] {
            let z = build(20, &limits);
            let names = |span: Span| -> Vec<String> {
                z.range(span).map(|(m, _)| String::from_utf8_lossy(m).into_owned()).collect()
            };
            let all = names(Span { first: 0, count: 20, rev: false });
            assert_eq!(names(z.span(&ZRange::rank(-3, -1))), all[17..].to_vec());
            let mut rev = all.clone();
            rev.reverse();
            assert_eq!(names(z.span(&ZRange::rank(0, 2).rev())), rev[..3].to_vec());
            let by = ZRange::score(ScoreRange::inclusive(1.0, 2.0));
            let want: Vec<String> = z
                .iter()
                .filter(|(_, s)| (1.0..=2.0).contains(s))
                .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
                .collect();
            assert_eq!(names(z.span(&by)), want);
            assert_eq!(names(z.span(&by.clone().limit(1, 2))), want[1..3].to_vec());
            assert_eq!(names(z.span(&by.clone().limit(-1, 2))), Vec::<String>::new());
            let mut wr = want.clone();
            wr.reverse();
            assert_eq!(names(z.span(&by.clone().rev().limit(1, -1))), wr[1..].to_vec());
        }
    }
}
