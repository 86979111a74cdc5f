//! Score, lex and rank ranges ([`ScoreRange`], [`LexRange`], [`ZRange`]) as ZRANGE and
//! ZRANGEBYSCORE/ZRANGEBYLEX/ZCOUNT/ZREMRANGEBY* parse and apply them.
use super::*;

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
