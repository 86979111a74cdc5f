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
//! Layers: [`ZSet`] is the data structure; the free functions (`zadd`, `zrange`, ...) run
//! one command's semantics against the keyspace through an [`Access`]; the `impl Database`
//! block at the end is the typed API. Command handlers (`commands::zsets`) parse arguments,
//! call the same functions and write replies.
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

mod index;
mod listpack;

use index::{Index, IndexIter};
use listpack::{Listpack, LpIter, LpRevIter};

/// A member and its score.
pub type ScoredMember = (Vec<u8>, f64);

/// What BZPOPMIN/BZPOPMAX return: key, member, score.
pub type KeyedMember = (Vec<u8>, Vec<u8>, f64);

/// Listpack size limit (Redis's `lpSafeToAdd`: 1 GB).
const LISTPACK_MAX_BYTES: usize = 1 << 30;

// ---------------------------------------------------------------------------------------
// Number parsing with C's strtod rules
// ---------------------------------------------------------------------------------------

/// What C's `strtod` reads from the start of `s`: the value, the number of bytes consumed
/// (0 if no number), and whether the value overflowed or underflowed to zero (`ERANGE`).
/// Handles leading white space, signs, decimal and hexadecimal forms, `inf`/`infinity` and
/// `nan`, as glibc does.
pub(crate) fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        return (sign(f64::INFINITY), i + 8, false);
    }
    if starts(b"inf") {
        return (sign(f64::INFINITY), i + 3, false);
    }
    if starts(b"nan") {
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let mut j = end + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                end = j + 1;
            }
        }
        return (f64::NAN, end, false);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, used, erange)) = hex_float(&rest[2..]) {
            return (sign(v), i + 2 + used, erange);
        }
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one digit in the mantissa.
    let mut j = i;
    let mut nonzero = false;
    let mut digits = 0;
    while j < s.len() && s[j].is_ascii_digit() {
        nonzero |= s[j] != b'0';
        digits += 1;
        j += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            digits += 1;
            j += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    if j < s.len() && (s[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    // The matched text is plain ASCII in Rust's float grammar.
    let text = std::str::from_utf8(&s[i..j]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    (sign(v), j, erange)
}

/// A hexadecimal float body (after `0x`): `(value, bytes used, erange)`, `None` without a
/// hex digit (then `strtod` reads just the `0`).
fn hex_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut any = false;
    let mut i = 0;
    let mut push = |d: u64, frac: bool, mant: &mut u64, exp: &mut i64| {
        if *mant >> 60 == 0 {
            *mant = (*mant << 4) | d;
            if frac {
                *exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                *exp += 4;
            }
        }
    };
    while i < s.len() && s[i].is_ascii_hexdigit() {
        push(hexval(s[i]), false, &mut mant, &mut exp);
        any = true;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        let mut j = i + 1;
        let mut frac_any = false;
        while j < s.len() && s[j].is_ascii_hexdigit() {
            push(hexval(s[j]), true, &mut mant, &mut exp);
            frac_any = true;
            j += 1;
        }
        if any || frac_any {
            any = true;
            i = j;
        }
    }
    if !any {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        let mut k = i + 1;
        let eneg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        if k < s.len() && s[k].is_ascii_digit() {
            let mut e: i64 = 0;
            while k < s.len() && s[k].is_ascii_digit() {
                e = (e * 10 + (s[k] - b'0') as i64).min(1 << 40);
                k += 1;
            }
            exp += if eneg { -e } else { e };
            i = k;
        }
    }
    let nonzero = mant != 0 || sticky;
    let mut v = (mant | sticky as u64) as f64;
    // ldexp in steps that cannot overflow or underflow prematurely.
    let mut e = exp;
    while e > 0 && v.is_finite() {
        let step = e.min(1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    while e < 0 && v != 0.0 {
        let step = (-e).min(1000);
        v *= 2f64.powi(-(step as i32));
        e += step;
    }
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((v, i, erange))
}

fn hexval(c: u8) -> u64 {
    match c {
        b'0'..=b'9' => (c - b'0') as u64,
        _ => ((c | 0x20) - b'a' + 10) as u64,
    }
}

/// Parses a score, increment or weight as Redis's `getDoubleFromObject` does: the whole
/// argument must be one `strtod` number (decimal, hex, `inf`), with no leading space, no NaN,
/// and no overflow or underflow to zero.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || matches!(arg[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return None;
    }
    let (v, used, erange) = strtod(arg);
    if used != arg.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

// ---------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------

/// A score interval (ZRANGEBYSCORE, ZCOUNT, ...): `(` makes a bound exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    /// Lower bound.
    pub min: f64,
    /// The lower bound itself is excluded.
    pub min_exclusive: bool,
    /// Upper bound.
    pub max: f64,
    /// The upper bound itself is excluded.
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// `[min, max]`.
    pub fn inclusive(min: f64, max: f64) -> ScoreRange {
        ScoreRange { min, min_exclusive: false, max, max_exclusive: false }
    }
    /// Every score (`-inf +inf`).
    pub fn all() -> ScoreRange {
        Self::inclusive(f64::NEG_INFINITY, f64::INFINITY)
    }
    /// Parses `min` and `max` as Redis does (`1.5`, `(1.5`, `-inf`, `+inf`); error
    /// "min or max is not a float".
    ///
    /// ```
    /// use ferrous_core::types::zset::ScoreRange;
    /// let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
    /// assert!(r.min_exclusive && r.max == f64::INFINITY);
    /// ```
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange> {
        let bound = |a: &[u8]| -> Option<(f64, bool)> {
            let (ex, text) = match a.first() {
                Some(b'(') => (true, &a[1..]),
                _ => (false, a),
            };
            // zslParseRange: strtod, then the next byte must be the terminating NUL.
            let (v, used, _) = strtod(text);
            let ok = used == text.len() || text[used] == 0;
            (ok && !v.is_nan()).then_some((v, ex))
        };
        let err = || Error::msg("ERR min or max is not a float");
        let (min, min_exclusive) = bound(min).ok_or_else(err)?;
        let (max, max_exclusive) = bound(max).ok_or_else(err)?;
        Ok(ScoreRange { min, min_exclusive, max, max_exclusive })
    }
    /// True if `s` is above the lower bound.
    #[inline]
    pub fn above_min(&self, s: f64) -> bool {
        if self.min_exclusive {
            s > self.min
        } else {
            s >= self.min
        }
    }
    /// True if `s` is below the upper bound.
    #[inline]
    pub fn below_max(&self, s: f64) -> bool {
        if self.max_exclusive {
            s < self.max
        } else {
            s <= self.max
        }
    }
    /// True if `s` is in the range.
    pub fn contains(&self, s: f64) -> bool {
        self.above_min(s) && self.below_max(s)
    }
}

/// One end of a lex range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every member.
    NegInf,
    /// `+`: above every member.
    PosInf,
    /// `[member`.
    Inclusive(Vec<u8>),
    /// `(member`.
    Exclusive(Vec<u8>),
}

impl LexBound {
    /// Parses `-`, `+`, `[member` or `(member`.
    pub fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.first()? {
            b'+' if arg.len() == 1 => Some(LexBound::PosInf),
            b'-' if arg.len() == 1 => Some(LexBound::NegInf),
            b'[' => Some(LexBound::Inclusive(arg[1..].to_vec())),
            b'(' => Some(LexBound::Exclusive(arg[1..].to_vec())),
            _ => None,
        }
    }
}

/// A member interval for ZRANGEBYLEX/ZLEXCOUNT/ZREMRANGEBYLEX (meaningful when all scores
/// are equal, as in Redis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    /// Lower bound.
    pub min: LexBound,
    /// Upper bound.
    pub max: LexBound,
}

impl LexRange {
    /// Every member (`- +`).
    pub fn all() -> LexRange {
        LexRange { min: LexBound::NegInf, max: LexBound::PosInf }
    }
    /// True for ranges that select nothing whatever the members (`min > max`, or equal
    /// bounds with one exclusive).
    pub fn is_empty(&self) -> bool {
        fn rank(b: &LexBound) -> (u8, &[u8]) {
            match b {
                LexBound::NegInf => (0, &[]),
                LexBound::Inclusive(m) | LexBound::Exclusive(m) => (1, m),
                LexBound::PosInf => (2, &[]),
            }
        }
        let exclusive = |b: &LexBound| matches!(b, LexBound::Exclusive(_) | LexBound::NegInf | LexBound::PosInf);
        match rank(&self.min).cmp(&rank(&self.max)) {
            Ordering::Greater => true,
            Ordering::Equal => exclusive(&self.min) || exclusive(&self.max),
            Ordering::Less => false,
        }
    }

    /// Parses `min` and `max`; error "min or max not valid string range item".
    pub fn parse(min: &[u8], max: &[u8]) -> Result<LexRange> {
        let err = || Error::msg("ERR min or max not valid string range item");
        Ok(LexRange { min: LexBound::parse(min).ok_or_else(err)?, max: LexBound::parse(max).ok_or_else(err)? })
    }
    /// True if `m` is above the lower bound.
    #[inline]
    pub fn above_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Inclusive(b) => m >= b.as_slice(),
            LexBound::Exclusive(b) => m > b.as_slice(),
        }
    }
    /// True if `m` is below the upper bound.
    #[inline]
    pub fn below_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Inclusive(b) => m <= b.as_slice(),
            LexBound::Exclusive(b) => m < b.as_slice(),
        }
    }
}

/// What a ZRANGE selects.
#[derive(Debug, Clone, PartialEq)]
pub enum ZRangeBy {
    /// Indexes (0-based, negative from the end), both inclusive.
    Rank(i64, i64),
    /// Scores.
    Score(ScoreRange),
    /// Members (lexicographic).
    Lex(LexRange),
}

/// A ZRANGE query: what, in which direction, and which part (LIMIT offset count).
#[derive(Debug, Clone, PartialEq)]
pub struct ZRange {
    /// The selection.
    pub by: ZRangeBy,
    /// REV: from the highest to the lowest (indexes then count from the highest).
    pub rev: bool,
    /// LIMIT offset count (count < 0: all); only with score and lex selections.
    pub limit: Option<(i64, i64)>,
}

impl ZRange {
    /// Members with index `start..=stop`.
    pub fn rank(start: i64, stop: i64) -> ZRange {
        ZRange { by: ZRangeBy::Rank(start, stop), rev: false, limit: None }
    }
    /// Members with a score in `r`.
    pub fn score(r: ScoreRange) -> ZRange {
        ZRange { by: ZRangeBy::Score(r), rev: false, limit: None }
    }
    /// Members in the lex range `r`.
    pub fn lex(r: LexRange) -> ZRange {
        ZRange { by: ZRangeBy::Lex(r), rev: false, limit: None }
    }
    /// Reversed order.
    pub fn rev(mut self) -> ZRange {
        self.rev = true;
        self
    }
    /// LIMIT offset count.
    pub fn limit(mut self, offset: i64, count: i64) -> ZRange {
        self.limit = Some((offset, count));
        self
    }
    /// Rejects LIMIT on an index range, with Redis's error.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.limit.is_some() && matches!(self.by, ZRangeBy::Rank(..)) {
            return Err(Error::msg(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        Ok(())
    }
}

/// The members a range selects, as ranks: `count` members from rank `first` going up (or
/// down when `rev`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Rank of the first member returned.
    pub first: usize,
    /// Number of members.
    pub count: usize,
    /// Walk toward lower ranks.
    pub rev: bool,
}

/// Normalizes Redis's `start`/`stop` indexes against `len`: the inclusive forward range, or
/// `None` when empty.
pub(crate) fn rank_bounds(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen.saturating_add(start) } else { start };
    let mut end = if stop < 0 { llen.saturating_add(stop) } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

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

// ---------------------------------------------------------------------------------------
// Access-level operations (shared by the typed API and the command handlers)
// ---------------------------------------------------------------------------------------

/// ZADD's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZAddOptions {
    /// NX: only add new members.
    pub nx: bool,
    /// XX: only update existing members.
    pub xx: bool,
    /// GT: only update existing members to a greater score.
    pub gt: bool,
    /// LT: only update existing members to a lower score.
    pub lt: bool,
    /// CH: count changed members too in the reply.
    pub ch: bool,
    /// INCR: increment instead of set (one member only); reply with the new score.
    pub incr: bool,
}

impl ZAddOptions {
    /// Redis's checks on option combinations.
    pub fn validate(&self, pairs: usize) -> Result<()> {
        if self.nx && self.xx {
            return Err(Error::msg("ERR XX and NX options at the same time are not compatible"));
        }
        if (self.nx && (self.gt || self.lt)) || (self.gt && self.lt) {
            return Err(Error::msg("ERR GT, LT, and/or NX options at the same time are not compatible"));
        }
        if self.incr && pairs > 1 {
            return Err(Error::msg("ERR INCR option supports a single increment-element pair"));
        }
        Ok(())
    }
}

/// What ZADD did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ZAddResult {
    /// New members.
    pub added: usize,
    /// Members whose score changed.
    pub updated: usize,
    /// The final score of the last processed member (ZINCRBY / INCR reply); `None` when it
    /// was skipped (NX/XX/GT/LT).
    pub score: Option<f64>,
}

impl ZAddResult {
    /// ZADD's integer reply: added, or added + updated with CH.
    pub fn reply_count(&self, ch: bool) -> usize {
        if ch {
            self.added + self.updated
        } else {
            self.added
        }
    }
}

/// The zset at `key` in `shard` (`None` if missing), WRONGTYPE for another type.
fn zset_mut<'s>(shard: &'s mut Shard, h: KeyHash, key: &[u8], now: i64) -> Result<Option<&'s mut ZSet>> {
    match shard.get_mut(h, key, now) {
        None => Ok(None),
        Some(n) => match &mut n.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(Error::WrongType),
        },
    }
}

/// Runs `f` on the zset at `key` under a read lock (`None` if missing).
pub fn read<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&ZSet>) -> R) -> Result<R> {
    acc.read(key, |n| match n {
        None => Ok(f(None)),
        Some(n) => match &n.value {
            Value::ZSet(z) => Ok(f(Some(z))),
            _ => Err(Error::WrongType),
        },
    })
}

/// Runs `f` on the zset at `key` under its write lock (`None` if missing) and deletes the
/// key if `f` empties the set.
pub fn modify<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(&mut ZSet) -> R) -> Result<Option<R>> {
    acc.write(key, |shard, h| {
        let Some(z) = zset_mut(shard, h, key, acc.now)? else { return Ok(None) };
        let r = f(z);
        if z.is_empty() {
            shard.remove(h, key);
        }
        Ok(Some(r))
    })
}

/// Keyspace events of a zset write: `event` (class `z`) if something changed, then `del`
/// if the key is gone (Redis's order).
fn announce(acc: &Access<'_>, event: &str, key: &[u8], changed: bool) {
    if !changed || acc.inner.notify_flags.load(Relaxed) == 0 {
        return;
    }
    acc.notify(crate::notify::ZSET, event, key);
    if !acc.peek(key, |n| n.is_some()) {
        acc.notify(crate::notify::GENERIC, "del", key);
    }
}

/// Whether `key` exists, only computed when keyspace events are on (for the `new` and
/// store-variant events).
pub(crate) fn exists_if_notifying(acc: &Access<'_>, key: &[u8]) -> bool {
    acc.inner.notify_flags.load(Relaxed) != 0 && acc.peek(key, |n| n.is_some())
}

/// ZADD / ZINCRBY at the access level. `items` are (score, member) pairs, already parsed.
pub fn zadd(acc: &Access<'_>, key: &[u8], items: &[(f64, &[u8])], opts: ZAddOptions) -> Result<ZAddResult> {
    opts.validate(items.len())?;
    if items.is_empty() {
        return Err(Error::Syntax);
    }
    // The limits matter only when a listpack may grow or a key is created. Reading the
    // configuration costs as much as a small ZADD, and it must not be read under a shard
    // lock (lock order: configuration first), so a first attempt that would need it backs
    // out before changing anything, and the second runs with the limits read.
    let mut limits: Option<ZSetLimits> = None;
    let notifying = acc.inner.notify_flags.load(Relaxed) != 0;
    let existed = notifying && acc.peek(key, |n| n.is_some());
    loop {
        let attempt = acc.write(key, |shard, h| -> Result<Option<ZAddResult>> {
            let mut res = ZAddResult::default();
            let existing = zset_mut(shard, h, key, acc.now)?;
            let lim = match (&existing, limits) {
                (_, Some(l)) => l,
                (Some(z), None) if z.encoding() == "skiplist" => ZSetLimits::default(),
                (None, None) if opts.xx => ZSetLimits::default(),
                _ => return Ok(None),
            };
            if existing.is_none() {
                if opts.xx {
                    return Ok(Some(res));
                }
                // Redis creates the set as a skiplist right away when the first member would
                // not fit a listpack (so no member passes through one).
                let z = if lim.max_listpack_entries == 0 || items[0].1.len() > lim.max_listpack_value {
                    ZSet::new_skiplist()
                } else {
                    ZSet::new()
                };
                shard.set(h, key, Value::ZSet(z), None, acc.now);
            }
            let Some(z) = zset_mut(shard, h, key, acc.now)? else { return Ok(Some(res)) };
            let mut failed = None;
            for &(score, member) in items {
                match z.add(member, score, opts.incr, opts.nx, opts.xx, opts.gt, opts.lt, &lim) {
                    Ok(AddOutcome::Added(s)) => {
                        res.added += 1;
                        res.score = Some(s);
                    }
                    Ok(AddOutcome::Updated(s)) => {
                        res.updated += 1;
                        res.score = Some(s);
                    }
                    Ok(AddOutcome::Unchanged(s)) => res.score = Some(s),
                    Ok(AddOutcome::Skipped) => res.score = None,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if z.is_empty() {
                shard.remove(h, key);
            }
            acc.add_dirty((res.added + res.updated) as u64);
            if res.added > 0 {
                acc.signal_ready(key);
            }
            match failed {
                Some(e) => Err(e),
                None => Ok(Some(res)),
            }
        })?;
        match attempt {
            Some(res) => {
                if notifying && res.added + res.updated > 0 {
                    if !existed {
                        acc.notify(crate::notify::NEW, "new", key);
                    }
                    acc.notify(crate::notify::ZSET, if opts.incr { "zincr" } else { "zadd" }, key);
                }
                return Ok(res);
            }
            None => limits = Some(ZSetLimits::from_config(acc)),
        }
    }
}

/// ZREM: number of members removed.
pub fn zrem(acc: &Access<'_>, key: &[u8], members: &[&[u8]]) -> Result<usize> {
    let removed = modify(acc, key, |z| {
        let mut n = 0;
        for m in members {
            if z.remove(m).is_some() {
                n += 1;
            }
            if z.is_empty() {
                break;
            }
        }
        n
    })?
    .unwrap_or(0);
    acc.add_dirty(removed as u64);
    announce(acc, "zrem", key, removed > 0);
    Ok(removed)
}

/// ZCARD.
pub fn zcard(acc: &Access<'_>, key: &[u8]) -> Result<usize> {
    read(acc, key, |z| z.map_or(0, |z| z.len()))
}

/// ZSCORE.
pub fn zscore(acc: &Access<'_>, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
    read(acc, key, |z| z.and_then(|z| z.score(member)))
}

/// ZMSCORE.
pub fn zmscore(acc: &Access<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<Option<f64>>> {
    read(acc, key, |z| members.iter().map(|m| z.and_then(|z| z.score(m))).collect())
}

/// ZRANK / ZREVRANK.
pub fn zrank(acc: &Access<'_>, key: &[u8], member: &[u8], rev: bool) -> Result<Option<usize>> {
    read(acc, key, |z| z.and_then(|z| z.rank(member).map(|r| if rev { z.len() - 1 - r } else { r })))
}

/// ZCOUNT.
pub fn zcount(acc: &Access<'_>, key: &[u8], range: &ScoreRange) -> Result<usize> {
    read(acc, key, |z| z.map_or(0, |z| z.count_in(range)))
}

/// ZLEXCOUNT.
pub fn zlexcount(acc: &Access<'_>, key: &[u8], range: &LexRange) -> Result<usize> {
    read(acc, key, |z| z.map_or(0, |z| z.lex_count_in(range)))
}

/// ZRANGE (all forms): the selected members with their scores.
pub fn zrange(acc: &Access<'_>, key: &[u8], q: &ZRange) -> Result<Vec<ScoredMember>> {
    q.validate()?;
    read(acc, key, |z| match z {
        None => Vec::new(),
        Some(z) => z.range(z.span(q)).map(|(m, s)| (m.to_vec(), s)).collect(),
    })
}

/// Stores `items` (sorted, distinct) at `dst` as a new zset, or deletes `dst` when empty.
/// Returns the stored length. Used by ZRANGESTORE and Z*STORE.
pub(crate) fn store_locked(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    dst: &[u8],
    items: &[(&[u8], f64)],
    limits: &ZSetLimits,
) -> usize {
    // Only the destination is modified: the sources were only read.
    m.modified_only(&[dst]);
    let h = acc.hash(dst);
    let shard = m.shard(h);
    if items.is_empty() {
        if shard.contains(h, dst, acc.now) {
            crate::lazyfree::server_del(acc.inner, shard.remove(h, dst));
            acc.add_dirty(1);
        }
        return 0;
    }
    let old = shard.set(h, dst, Value::ZSet(ZSet::from_sorted(items, limits)), None, acc.now);
    crate::lazyfree::server_del(acc.inner, old);
    acc.add_dirty(1);
    acc.signal_ready(dst);
    items.len()
}

/// ZRANGESTORE: stores the selection of `src` at `dst`; returns its length.
pub fn zrangestore(acc: &Access<'_>, dst: &[u8], src: &[u8], q: &ZRange) -> Result<usize> {
    q.validate()?;
    let limits = ZSetLimits::from_config(acc);
    let existed = exists_if_notifying(acc, dst);
    let n = acc.write_many(&[dst, src], |m| {
        let hs = acc.hash(src);
        let items: Vec<ScoredMember> = match zset_mut(m.shard(hs), hs, src, acc.now)? {
            None => Vec::new(),
            Some(z) => z.range(z.span(q)).map(|(m, s)| (m.to_vec(), s)).collect(),
        };
        let mut items: Vec<(&[u8], f64)> = items.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
        // Redis adds the members one by one, in range order, to a new set: a skiplist
        // when an index range is known to be too long, else a listpack that converts when
        // a member no longer fits. Members added while it was a listpack lost the sign of
        // a zero score (see `listpack`).
        let fits = |i: usize, m: &[u8]| i < limits.max_listpack_entries && m.len() <= limits.max_listpack_value;
        let presized = matches!(q.by, ZRangeBy::Rank(..)) && items.len() > limits.max_listpack_entries;
        let packed = if presized { 0 } else { items.iter().enumerate().take_while(|(i, (m, _))| fits(*i, m)).count() };
        for item in &mut items[..packed] {
            if item.1 == 0.0 {
                item.1 = 0.0;
            }
        }
        if q.rev {
            items.reverse();
        }
        Ok(store_locked(m, acc, dst, &items, &limits))
    })?;
    announce_store(acc, "zrangestore", dst, n, existed);
    Ok(n)
}

/// Events of a STORE variant: the event on a non-empty result, `del` when an existing
/// destination was deleted by an empty one.
pub(crate) fn announce_store(acc: &Access<'_>, event: &str, dst: &[u8], n: usize, existed: bool) {
    if n > 0 {
        if !existed {
            acc.notify(crate::notify::NEW, "new", dst);
        }
        acc.notify(crate::notify::ZSET, event, dst);
    } else if existed {
        acc.notify(crate::notify::GENERIC, "del", dst);
    }
}

/// ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX (a [`ZRangeBy`] without direction
/// or limit): number of members removed.
pub fn zremrange(acc: &Access<'_>, key: &[u8], by: &ZRangeBy) -> Result<usize> {
    let removed = modify(acc, key, |z| {
        let (lo, hi) = match by {
            ZRangeBy::Rank(start, stop) => match rank_bounds(*start, *stop, z.len()) {
                Some((s, e)) => (s, e + 1),
                None => (0, 0),
            },
            ZRangeBy::Score(r) => z.score_bounds(r),
            ZRangeBy::Lex(r) => z.lex_bounds_walk(r, false),
        };
        if hi <= lo {
            return 0;
        }
        z.remove_range(lo, hi - lo, |_, _| {});
        hi - lo
    })?
    .unwrap_or(0);
    acc.add_dirty(removed as u64);
    let event = match by {
        ZRangeBy::Rank(..) => "zremrangebyrank",
        ZRangeBy::Score(_) => "zremrangebyscore",
        ZRangeBy::Lex(_) => "zremrangebylex",
    };
    announce(acc, event, key, removed > 0);
    Ok(removed)
}

/// ZPOPMIN / ZPOPMAX: up to `count` members, lowest (highest with `max`) first.
pub fn zpop(acc: &Access<'_>, key: &[u8], max: bool, count: usize) -> Result<Vec<ScoredMember>> {
    let popped = modify(acc, key, |z| z.pop(max, count))?.unwrap_or_default();
    acc.add_dirty(popped.len() as u64);
    announce(acc, if max { "zpopmax" } else { "zpopmin" }, key, !popped.is_empty());
    Ok(popped)
}

/// Pops up to `count` members from the first non-empty zset among `keys` (locks held),
/// handing each to `f(key, index, total, member, score)`. WRONGTYPE for a key of another
/// type met first, unless `skip_wrong_type` (serving a blocked client). Returns the number
/// popped, `None` when every key is missing.
pub(crate) fn mpop_locked(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    keys: &[&[u8]],
    max: bool,
    count: usize,
    skip_wrong_type: bool,
    mut f: impl FnMut(&[u8], usize, usize, &[u8], f64),
) -> Result<Option<usize>> {
    for &key in keys {
        let h = acc.hash(key);
        let shard = m.shard(h);
        let z = match zset_mut(shard, h, key, acc.now) {
            Ok(Some(z)) => z,
            Ok(None) => continue,
            Err(_) if skip_wrong_type => continue,
            Err(e) => return Err(e),
        };
        let popped = z.pop(max, count);
        let empty = z.is_empty();
        for (i, (member, score)) in popped.iter().enumerate() {
            f(key, i, popped.len(), member, *score);
        }
        if empty {
            shard.remove(h, key);
        }
        // The keys before it were found missing: only this one is modified.
        m.modified_only(&[key]);
        acc.add_dirty(popped.len() as u64);
        if !popped.is_empty() {
            acc.notify(crate::notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
            if empty {
                acc.notify(crate::notify::GENERIC, "del", key);
            }
        }
        return Ok(Some(popped.len()));
    }
    Ok(None)
}

/// ZMPOP: the key popped from and its members, `None` if every key is missing.
pub fn zmpop(
    acc: &Access<'_>,
    keys: &[&[u8]],
    max: bool,
    count: usize,
) -> Result<Option<(Vec<u8>, Vec<ScoredMember>)>> {
    let mut out: Option<(Vec<u8>, Vec<ScoredMember>)> = None;
    acc.write_many(keys, |m| {
        mpop_locked(m, acc, keys, max, count, false, |key, _, total, member, score| {
            out.get_or_insert_with(|| (key.to_vec(), Vec::with_capacity(total))).1.push((member.to_vec(), score))
        })
    })?;
    Ok(out)
}

/// `ZRANDMEMBER key [count]`: see [`ZSet::random_members`].
pub fn zrandmember(acc: &Access<'_>, key: &[u8], count: i64) -> Result<Vec<ScoredMember>> {
    read(acc, key, |z| {
        let mut out = Vec::new();
        if let Some(z) = z {
            z.random_members(count, |m, s| out.push((m.to_vec(), s)));
        }
        out
    })
}

/// The set operation of ZUNION / ZINTER / ZDIFF (and their STORE forms, ZINTERCARD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// Members of any input.
    Union,
    /// Members of every input.
    Inter,
    /// Members of the first input and of no other.
    Diff,
}

/// How ZUNION/ZINTER combine the scores of a member found in several inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// Add them (NaN from `inf + -inf` counts as 0).
    #[default]
    Sum,
    /// Keep the lowest.
    Min,
    /// Keep the highest.
    Max,
}

impl Aggregate {
    #[inline]
    fn apply(self, target: &mut f64, val: f64) {
        match self {
            Aggregate::Sum => {
                *target += val;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if val < *target {
                    *target = val;
                }
            }
            Aggregate::Max => {
                if val > *target {
                    *target = val;
                }
            }
        }
    }
}

/// An input of a set operation: a zset, a plain set (every member scores 1), or nothing.
enum Source<'a> {
    Missing,
    ZSet(&'a ZSet),
    Set(&'a crate::types::set::Set),
}

impl Source<'_> {
    /// Every member with its score; zsets from the highest, as Redis iterates them.
    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Source::Missing => {}
            Source::ZSet(z) => {
                let n = z.len();
                if n > 0 {
                    for (m, s) in z.range(Span { first: n - 1, count: n, rev: true }) {
                        f(m, s);
                    }
                }
            }
            Source::Set(s) => {
                for m in s.iter() {
                    f(&m, 1.0);
                }
            }
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::ZSet(z) => z.score(member),
            Source::Set(s) => s.contains(member).then_some(1.0),
        }
    }
}

/// Runs `f` on the input at `key` (locks held; the type was checked by [`source_lens`]).
fn with_source<R>(m: &mut MultiShard<'_>, acc: &Access<'_>, key: &[u8], f: impl FnOnce(&Source<'_>) -> R) -> R {
    let h = acc.hash(key);
    match m.shard(h).get_mut(h, key, acc.now) {
        Some(n) => match &n.value {
            Value::ZSet(z) => f(&Source::ZSet(z)),
            Value::Set(s) => f(&Source::Set(s)),
            _ => f(&Source::Missing),
        },
        None => f(&Source::Missing),
    }
}

/// The sizes of the inputs of a set operation (locks held), checked in key order:
/// WRONGTYPE for anything but zsets and sets, as Redis's lookups before any other work.
pub(crate) fn source_lens(m: &mut MultiShard<'_>, acc: &Access<'_>, keys: &[&[u8]]) -> Result<Vec<usize>> {
    keys.iter()
        .map(|&key| {
            let h = acc.hash(key);
            match m.shard(h).get_mut(h, key, acc.now) {
                None => Ok(0),
                Some(n) => match &n.value {
                    Value::ZSet(z) => Ok(z.len()),
                    Value::Set(s) => Ok(s.len()),
                    _ => Err(Error::WrongType),
                },
            }
        })
        .collect()
}

/// Computes a set operation over `keys` (locks held). The result is sorted by
/// (score, member). Per member, scores combine in the order Redis visits the inputs
/// (smallest input first for union and intersection), so sums round identically.
pub(crate) fn setop_locked(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    op: SetOp,
    keys: &[&[u8]],
    weights: &[f64],
    agg: Aggregate,
) -> Result<Vec<ScoredMember>> {
    let lens = source_lens(m, acc, keys)?;
    let weight = |i: usize| weights.get(i).copied().unwrap_or(1.0);
    let mut order: Vec<usize> = (0..keys.len()).collect();
    if op != SetOp::Diff {
        // Smallest first; glibc's qsort is a stable merge sort for arrays this size.
        order.sort_by_key(|&i| lens[i]);
    }
    let mut out: Vec<ScoredMember> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc_map: HashMap<Vec<u8>, f64> = HashMap::new();
            for &i in &order {
                if lens[i] == 0 {
                    continue;
                }
                let w = weight(i);
                with_source(m, acc, keys[i], |src| {
                    src.for_each(|mem, s| {
                        let mut score = w * s;
                        if score.is_nan() {
                            score = 0.0;
                        }
                        match acc_map.get_mut(mem) {
                            Some(t) => agg.apply(t, score),
                            None => {
                                acc_map.insert(mem.to_vec(), score);
                            }
                        }
                    })
                });
            }
            out = acc_map.into_iter().collect();
        }
        SetOp::Inter => {
            let Some(&first) = order.first() else { return Ok(out) };
            if lens[first] == 0 {
                return Ok(out);
            }
            let w0 = weight(first);
            let mut cands: Vec<(Vec<u8>, f64, bool)> = Vec::with_capacity(lens[first]);
            with_source(m, acc, keys[first], |src| {
                src.for_each(|mem, s| {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    cands.push((mem.to_vec(), score, true));
                })
            });
            for &j in &order[1..] {
                let w = weight(j);
                with_source(m, acc, keys[j], |src| {
                    for c in cands.iter_mut().filter(|c| c.2) {
                        match src.score(&c.0) {
                            Some(v) => agg.apply(&mut c.1, v * w),
                            None => c.2 = false,
                        }
                    }
                });
            }
            out = cands.into_iter().filter(|c| c.2).map(|c| (c.0, c.1)).collect();
        }
        SetOp::Diff => {
            if lens.first().copied().unwrap_or(0) == 0 {
                return Ok(out);
            }
            let mut cands: Vec<(Vec<u8>, f64, bool)> = Vec::with_capacity(lens[0]);
            with_source(m, acc, keys[0], |src| src.for_each(|mem, s| cands.push((mem.to_vec(), s, true))));
            for j in 1..keys.len() {
                if lens[j] == 0 {
                    continue;
                }
                with_source(m, acc, keys[j], |src| {
                    for c in cands.iter_mut().filter(|c| c.2) {
                        if src.score(&c.0).is_some() {
                            c.2 = false;
                        }
                    }
                });
            }
            out = cands.into_iter().filter(|c| c.2).map(|c| (c.0, c.1)).collect();
        }
    }
    out.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// ZUNION / ZINTER / ZDIFF: the result sorted by (score, member). `weights` (one per key,
/// or empty for all 1) and `agg` do not apply to ZDIFF.
pub fn zsetop(
    acc: &Access<'_>,
    op: SetOp,
    keys: &[&[u8]],
    weights: &[f64],
    agg: Aggregate,
) -> Result<Vec<ScoredMember>> {
    check_setop_args(keys, weights)?;
    acc.write_many(keys, |m| setop_locked(m, acc, op, keys, weights, agg))
}

/// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE: stores the result at `dst` (replacing any value;
/// deleting `dst` when the result is empty); returns its size.
pub fn zsetop_store(
    acc: &Access<'_>,
    dst: &[u8],
    op: SetOp,
    keys: &[&[u8]],
    weights: &[f64],
    agg: Aggregate,
) -> Result<usize> {
    check_setop_args(keys, weights)?;
    let limits = ZSetLimits::from_config(acc);
    let mut all: Vec<&[u8]> = keys.to_vec();
    all.push(dst);
    let existed = exists_if_notifying(acc, dst);
    let n = acc.write_many(&all, |m| {
        let res = setop_locked(m, acc, op, keys, weights, agg)?;
        let items: Vec<(&[u8], f64)> = res.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
        Ok(store_locked(m, acc, dst, &items, &limits))
    })?;
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff => "zdiffstore",
    };
    announce_store(acc, event, dst, n, existed);
    Ok(n)
}

/// ZINTERCARD: the size of the intersection, counting at most `limit` (0: no limit).
pub fn zintercard(acc: &Access<'_>, keys: &[&[u8]], limit: usize) -> Result<usize> {
    check_setop_args(keys, &[])?;
    let n = acc.write_many(keys, |m| setop_locked(m, acc, SetOp::Inter, keys, &[], Aggregate::Sum))?.len();
    Ok(if limit > 0 { n.min(limit) } else { n })
}

fn check_setop_args(keys: &[&[u8]], weights: &[f64]) -> Result<()> {
    if keys.is_empty() {
        return Err(Error::msg("ERR at least 1 input key is needed"));
    }
    if !weights.is_empty() && weights.len() != keys.len() {
        return Err(Error::Syntax);
    }
    Ok(())
}

/// ZSCAN at the access level: the next cursor and a batch of members with their scores.
/// A listpack is returned whole (cursor 0); a skiplist is walked `count` members at a time.
/// MATCH filters the batch after it is collected, as in Redis.
pub fn zscan(acc: &Access<'_>, key: &[u8], cursor: u64, opts: &ScanOptions) -> Result<(u64, Vec<ScoredMember>)> {
    read(acc, key, |z| match z {
        None => (0, Vec::new()),
        Some(z) => scan_members(z, cursor, opts),
    })
}

/// One ZSCAN step over a set (see [`zscan`]).
pub fn scan_members(z: &ZSet, cursor: u64, opts: &ScanOptions) -> (u64, Vec<ScoredMember>) {
    let count = opts.count.unwrap_or(10).max(1);
    let pattern = opts.pattern.as_deref().filter(|p| *p != b"*");
    let mut out = Vec::new();
    let next = z.scan(cursor, count, |m, s| {
        if pattern.map_or(true, |p| crate::glob::glob_match(p, m, false)) {
            out.push((m.to_vec(), s));
        }
    });
    (next, out)
}

// ---------------------------------------------------------------------------------------
// Typed API
// ---------------------------------------------------------------------------------------

/// Formats a timeout for a blocking command (seconds with millisecond precision, rounded
/// up so the wait is never shorter than asked).
fn timeout_arg(timeout: Duration) -> String {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn bulk_bytes(v: ferrous_resp::Value) -> Option<Vec<u8>> {
    match v {
        ferrous_resp::Value::Bulk(b) => Some(b),
        _ => None,
    }
}

fn reply_score(v: &ferrous_resp::Value) -> f64 {
    match v {
        ferrous_resp::Value::Bulk(b) => parse_score(b).unwrap_or(0.0),
        ferrous_resp::Value::Double(d) => *d,
        _ => 0.0,
    }
}

impl Database {
    /// `ZADD key score member [score member ...]`: adds members or updates their scores;
    /// returns the number of new members.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// assert_eq!(db.zadd("z", &[(1.0, "a"), (2.0, "b")]).unwrap(), 2);
    /// assert_eq!(db.zscore("z", "b").unwrap(), Some(2.0));
    /// ```
    pub fn zadd<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, items: &[(f64, M)]) -> Result<usize> {
        self.zadd_with(key, items, ZAddOptions::default())
    }

    /// ZADD with NX/XX/GT/LT/CH: returns the added (or, with CH, added + updated) count.
    pub fn zadd_with<M: AsRef<[u8]>>(
        &self,
        key: impl AsRef<[u8]>,
        items: &[(f64, M)],
        opts: ZAddOptions,
    ) -> Result<usize> {
        let items: Vec<(f64, &[u8])> = items.iter().map(|(s, m)| (*s, m.as_ref())).collect();
        let opts = ZAddOptions { incr: false, ..opts };
        let res = self.serve_blocked(zadd(&self.access(), key.as_ref(), &items, opts))?;
        Ok(res.reply_count(opts.ch))
    }

    /// ZADD ... INCR increment member: the new score, or `None` when NX/XX/GT/LT prevented
    /// the update.
    pub fn zadd_incr(
        &self,
        key: impl AsRef<[u8]>,
        increment: f64,
        member: impl AsRef<[u8]>,
        opts: ZAddOptions,
    ) -> Result<Option<f64>> {
        let opts = ZAddOptions { incr: true, ..opts };
        let res = self.serve_blocked(zadd(&self.access(), key.as_ref(), &[(increment, member.as_ref())], opts))?;
        Ok(res.score)
    }

    /// ZINCRBY key increment member: the new score.
    pub fn zincrby(&self, key: impl AsRef<[u8]>, increment: f64, member: impl AsRef<[u8]>) -> Result<f64> {
        Ok(self.zadd_incr(key, increment, member, ZAddOptions::default())?.unwrap_or(increment))
    }

    /// `ZREM key member [member ...]`: number of members removed.
    pub fn zrem<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<usize> {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_ref()).collect();
        zrem(&self.access(), key.as_ref(), &members)
    }

    /// ZCARD key.
    pub fn zcard(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        zcard(&self.access(), key.as_ref())
    }

    /// ZSCORE key member.
    pub fn zscore(&self, key: impl AsRef<[u8]>, member: impl AsRef<[u8]>) -> Result<Option<f64>> {
        zscore(&self.access(), key.as_ref(), member.as_ref())
    }

    /// ZMSCORE key member [member ...].
    pub fn zmscore<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<Vec<Option<f64>>> {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_ref()).collect();
        zmscore(&self.access(), key.as_ref(), &members)
    }

    /// ZRANK key member: 0-based rank, lowest score first.
    pub fn zrank(&self, key: impl AsRef<[u8]>, member: impl AsRef<[u8]>) -> Result<Option<usize>> {
        zrank(&self.access(), key.as_ref(), member.as_ref(), false)
    }

    /// ZREVRANK key member: 0-based rank, highest score first.
    pub fn zrevrank(&self, key: impl AsRef<[u8]>, member: impl AsRef<[u8]>) -> Result<Option<usize>> {
        zrank(&self.access(), key.as_ref(), member.as_ref(), true)
    }

    /// ZCOUNT key min max.
    pub fn zcount(&self, key: impl AsRef<[u8]>, range: &ScoreRange) -> Result<usize> {
        zcount(&self.access(), key.as_ref(), range)
    }

    /// ZLEXCOUNT key min max.
    pub fn zlexcount(&self, key: impl AsRef<[u8]>, range: &LexRange) -> Result<usize> {
        zlexcount(&self.access(), key.as_ref(), range)
    }

    /// `ZRANGE key ... [BYSCORE | BYLEX] [REV] [LIMIT offset count] WITHSCORES`: the selected
    /// members with their scores (the older ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE,
    /// ZRANGEBYLEX and ZREVRANGEBYLEX are all expressible as a [`ZRange`]).
    ///
    /// ```
    /// use ferrous_core::{Database, types::zset::{ZRange, ScoreRange}};
    /// let db = Database::new();
    /// db.zadd("z", &[(1.0, "a"), (2.0, "b"), (3.0, "c")]).unwrap();
    /// let top = db.zrange("z", &ZRange::score(ScoreRange::inclusive(2.0, 3.0)).rev()).unwrap();
    /// assert_eq!(top, vec![(b"c".to_vec(), 3.0), (b"b".to_vec(), 2.0)]);
    /// ```
    pub fn zrange(&self, key: impl AsRef<[u8]>, query: &ZRange) -> Result<Vec<ScoredMember>> {
        zrange(&self.access(), key.as_ref(), query)
    }

    /// `ZREVRANGE key start stop WITHSCORES`: indexes counted from the highest score.
    pub fn zrevrange(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<Vec<ScoredMember>> {
        self.zrange(key, &ZRange::rank(start, stop).rev())
    }

    /// `ZRANGEBYSCORE key min max WITHSCORES [LIMIT offset count]`.
    pub fn zrangebyscore(
        &self,
        key: impl AsRef<[u8]>,
        range: &ScoreRange,
        limit: Option<(i64, i64)>,
    ) -> Result<Vec<ScoredMember>> {
        self.zrange(key, &ZRange { by: ZRangeBy::Score(*range), rev: false, limit })
    }

    /// `ZREVRANGEBYSCORE key max min WITHSCORES [LIMIT offset count]`.
    pub fn zrevrangebyscore(
        &self,
        key: impl AsRef<[u8]>,
        range: &ScoreRange,
        limit: Option<(i64, i64)>,
    ) -> Result<Vec<ScoredMember>> {
        self.zrange(key, &ZRange { by: ZRangeBy::Score(*range), rev: true, limit })
    }

    /// `ZRANGEBYLEX key min max [LIMIT offset count]`: the members only.
    pub fn zrangebylex(
        &self,
        key: impl AsRef<[u8]>,
        range: &LexRange,
        limit: Option<(i64, i64)>,
    ) -> Result<Vec<Vec<u8>>> {
        let q = ZRange { by: ZRangeBy::Lex(range.clone()), rev: false, limit };
        Ok(self.zrange(key, &q)?.into_iter().map(|(m, _)| m).collect())
    }

    /// `ZREVRANGEBYLEX key max min [LIMIT offset count]`: the members only.
    pub fn zrevrangebylex(
        &self,
        key: impl AsRef<[u8]>,
        range: &LexRange,
        limit: Option<(i64, i64)>,
    ) -> Result<Vec<Vec<u8>>> {
        let q = ZRange { by: ZRangeBy::Lex(range.clone()), rev: true, limit };
        Ok(self.zrange(key, &q)?.into_iter().map(|(m, _)| m).collect())
    }

    /// ZRANGESTORE dst src ...: stores the selection at `dst`; returns its size.
    pub fn zrangestore(&self, dst: impl AsRef<[u8]>, src: impl AsRef<[u8]>, query: &ZRange) -> Result<usize> {
        self.serve_blocked(zrangestore(&self.access(), dst.as_ref(), src.as_ref(), query))
    }

    /// ZREMRANGEBYRANK key start stop.
    pub fn zremrangebyrank(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<usize> {
        zremrange(&self.access(), key.as_ref(), &ZRangeBy::Rank(start, stop))
    }

    /// ZREMRANGEBYSCORE key min max.
    pub fn zremrangebyscore(&self, key: impl AsRef<[u8]>, range: &ScoreRange) -> Result<usize> {
        zremrange(&self.access(), key.as_ref(), &ZRangeBy::Score(*range))
    }

    /// ZREMRANGEBYLEX key min max.
    pub fn zremrangebylex(&self, key: impl AsRef<[u8]>, range: &LexRange) -> Result<usize> {
        zremrange(&self.access(), key.as_ref(), &ZRangeBy::Lex(range.clone()))
    }

    /// `ZPOPMIN key [count]`: up to `count` members with the lowest scores.
    pub fn zpopmin(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Vec<ScoredMember>> {
        zpop(&self.access(), key.as_ref(), false, count)
    }

    /// `ZPOPMAX key [count]`: up to `count` members with the highest scores.
    pub fn zpopmax(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Vec<ScoredMember>> {
        zpop(&self.access(), key.as_ref(), true, count)
    }

    /// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`: pops from the first non-empty
    /// zset; its key and members, or `None`.
    pub fn zmpop<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        max: bool,
        count: usize,
    ) -> Result<Option<(Vec<u8>, Vec<ScoredMember>)>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        zmpop(&self.access(), &keys, max, count)
    }

    /// ZRANDMEMBER key: a random member.
    pub fn zrandmember(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(zrandmember(&self.access(), key.as_ref(), 1)?.pop().map(|(m, _)| m))
    }

    /// ZRANDMEMBER key count WITHSCORES: `count` distinct members (or, negative, `|count|`
    /// members possibly repeated) with their scores.
    pub fn zrandmember_count(&self, key: impl AsRef<[u8]>, count: i64) -> Result<Vec<ScoredMember>> {
        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(Error::msg("ERR value is out of range"));
        }
        zrandmember(&self.access(), key.as_ref(), count)
    }

    /// ZUNION numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] WITHSCORES.
    pub fn zunion<K: AsRef<[u8]>>(&self, keys: &[K], weights: &[f64], agg: Aggregate) -> Result<Vec<ScoredMember>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        zsetop(&self.access(), SetOp::Union, &keys, weights, agg)
    }

    /// ZINTER numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] WITHSCORES.
    pub fn zinter<K: AsRef<[u8]>>(&self, keys: &[K], weights: &[f64], agg: Aggregate) -> Result<Vec<ScoredMember>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        zsetop(&self.access(), SetOp::Inter, &keys, weights, agg)
    }

    /// ZDIFF numkeys key [key ...] WITHSCORES.
    pub fn zdiff<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<ScoredMember>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        zsetop(&self.access(), SetOp::Diff, &keys, &[], Aggregate::Sum)
    }

    /// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...].
    pub fn zunionstore<K: AsRef<[u8]>>(
        &self,
        dst: impl AsRef<[u8]>,
        keys: &[K],
        weights: &[f64],
        agg: Aggregate,
    ) -> Result<usize> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.serve_blocked(zsetop_store(&self.access(), dst.as_ref(), SetOp::Union, &keys, weights, agg))
    }

    /// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...].
    pub fn zinterstore<K: AsRef<[u8]>>(
        &self,
        dst: impl AsRef<[u8]>,
        keys: &[K],
        weights: &[f64],
        agg: Aggregate,
    ) -> Result<usize> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.serve_blocked(zsetop_store(&self.access(), dst.as_ref(), SetOp::Inter, &keys, weights, agg))
    }

    /// ZDIFFSTORE destination numkeys key [key ...].
    pub fn zdiffstore<K: AsRef<[u8]>>(&self, dst: impl AsRef<[u8]>, keys: &[K]) -> Result<usize> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.serve_blocked(zsetop_store(&self.access(), dst.as_ref(), SetOp::Diff, &keys, &[], Aggregate::Sum))
    }

    /// `ZINTERCARD numkeys key [key ...] [LIMIT limit]` (`limit` 0: no limit).
    pub fn zintercard<K: AsRef<[u8]>>(&self, keys: &[K], limit: usize) -> Result<usize> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        zintercard(&self.access(), &keys, limit)
    }

    /// ZSCAN key cursor [MATCH pattern] [COUNT count].
    pub fn zscan(&self, key: impl AsRef<[u8]>, cursor: u64, opts: &ScanOptions) -> Result<(u64, Vec<ScoredMember>)> {
        zscan(&self.access(), key.as_ref(), cursor, opts)
    }

    fn bzpop(&self, cmd: &str, keys: &[&[u8]], timeout: Duration) -> Result<Option<KeyedMember>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push(cmd);
        for k in keys {
            args.push(k);
        }
        args.push(timeout_arg(timeout));
        match self.run_blocking(args, timeout)? {
            ferrous_resp::Value::Array(v) if v.len() == 3 => {
                let mut it = v.into_iter();
                let key = it.next().and_then(bulk_bytes).unwrap_or_default();
                let member = it.next().and_then(bulk_bytes).unwrap_or_default();
                let score = it.next().map(|s| reply_score(&s)).unwrap_or(0.0);
                Ok(Some((key, member, score)))
            }
            _ => Ok(None),
        }
    }

    /// `BZPOPMIN key [key ...] timeout`: pops the lowest member of the first non-empty zset,
    /// waiting up to `timeout` (`Duration::ZERO`: forever). Returns (key, member, score),
    /// or `None` on timeout.
    pub fn bzpopmin<K: AsRef<[u8]>>(&self, keys: &[K], timeout: Duration) -> Result<Option<KeyedMember>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.bzpop("BZPOPMIN", &keys, timeout)
    }

    /// `BZPOPMAX key [key ...] timeout`: like [`Database::bzpopmin`] from the highest score.
    pub fn bzpopmax<K: AsRef<[u8]>>(&self, keys: &[K], timeout: Duration) -> Result<Option<KeyedMember>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.bzpop("BZPOPMAX", &keys, timeout)
    }

    /// `BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]`: like
    /// [`Database::zmpop`], waiting up to `timeout` (`Duration::ZERO`: forever).
    pub fn bzmpop<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        max: bool,
        count: usize,
        timeout: Duration,
    ) -> Result<Option<(Vec<u8>, Vec<ScoredMember>)>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push("BZMPOP").push(timeout_arg(timeout)).push(keys.len().to_string());
        for k in keys {
            args.push(k);
        }
        args.push(if max { "MAX" } else { "MIN" }).push("COUNT").push(count.max(1).to_string());
        match self.run_blocking(args, timeout)? {
            ferrous_resp::Value::Array(v) if v.len() == 2 => {
                let mut it = v.into_iter();
                let key = it.next().and_then(bulk_bytes).unwrap_or_default();
                let members = match it.next() {
                    Some(ferrous_resp::Value::Array(pairs)) => pairs
                        .into_iter()
                        .filter_map(|p| match p {
                            ferrous_resp::Value::Array(mut kv) if kv.len() == 2 => {
                                let s = reply_score(&kv[1]);
                                bulk_bytes(kv.swap_remove(0)).map(|m| (m, s))
                            }
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Ok(Some((key, members)))
            }
            _ => Ok(None),
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
