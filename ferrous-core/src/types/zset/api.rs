//! The typed in-process API for sorted sets: `impl Database` methods (`zadd`, `zrange`,
//! `bzpopmin`, ...).
//!
//! Writes propagate as the sorted-set commands do (`write_typed`): with their arguments
//! rebuilt from the typed call (scores as `%.17g`, which reads back exactly), ZMPOP as the
//! ZPOPMIN/ZPOPMAX that took effect; the blocking pops run through the command path, whose
//! handlers propagate them.
use super::*;
use crate::propagate;
use crate::util::fmt_double;

/// Formats a timeout for a blocking command (seconds with millisecond precision, rounded
/// up so the wait is never shorter than asked).
pub(super) fn timeout_arg(timeout: Duration) -> String {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

pub(super) fn bulk_bytes(v: ferrous_resp::Value) -> Option<Vec<u8>> {
    match v {
        ferrous_resp::Value::Bulk(b) => Some(b),
        _ => None,
    }
}

pub(super) fn reply_score(v: &ferrous_resp::Value) -> f64 {
    match v {
        ferrous_resp::Value::Bulk(b) => parse_score(b).unwrap_or(0.0),
        ferrous_resp::Value::Double(d) => *d,
        _ => 0.0,
    }
}

/// `ZADD key [NX] [XX] [GT] [LT] [CH] [INCR]` followed by `score member` pairs.
fn zadd_form(key: &[u8], opts: ZAddOptions, items: &[(f64, &[u8])]) -> Vec<Vec<Vec<u8>>> {
    let mut a = propagate::args([&b"ZADD"[..], key]);
    for (on, word) in
        [(opts.nx, "NX"), (opts.xx, "XX"), (opts.gt, "GT"), (opts.lt, "LT"), (opts.ch, "CH"), (opts.incr, "INCR")]
    {
        if on {
            a.push(word.as_bytes().to_vec());
        }
    }
    for (score, member) in items {
        a.push(fmt_double(*score).into_bytes());
        a.push(member.to_vec());
    }
    vec![a]
}

/// A score bound as ZRANGEBYSCORE reads it (`(1.5`, `-inf`).
fn score_bound(v: f64, exclusive: bool) -> Vec<u8> {
    let mut b = if exclusive { b"(".to_vec() } else { Vec::new() };
    b.extend_from_slice(fmt_double(v).as_bytes());
    b
}

/// A lex bound as ZRANGEBYLEX reads it (`-`, `+`, `[m`, `(m`).
fn lex_bound(b: &LexBound) -> Vec<u8> {
    match b {
        LexBound::NegInf => b"-".to_vec(),
        LexBound::PosInf => b"+".to_vec(),
        LexBound::Inclusive(m) => [&b"["[..], m].concat(),
        LexBound::Exclusive(m) => [&b"("[..], m].concat(),
    }
}

/// The `min max` arguments of a range (in the order a command takes them: `max min` for a
/// reversed score or lex range).
fn range_args(by: &ZRangeBy, rev: bool) -> [Vec<u8>; 2] {
    let [min, max] = match by {
        ZRangeBy::Rank(start, stop) => return [start.to_string().into_bytes(), stop.to_string().into_bytes()],
        ZRangeBy::Score(r) => [score_bound(r.min, r.min_exclusive), score_bound(r.max, r.max_exclusive)],
        ZRangeBy::Lex(r) => [lex_bound(&r.min), lex_bound(&r.max)],
    };
    if rev {
        [max, min]
    } else {
        [min, max]
    }
}

/// `ZUNIONSTORE`/`ZINTERSTORE`/`ZDIFFSTORE dst numkeys key... [WEIGHTS w...] [AGGREGATE ..]`.
fn setop_store_form(name: &[u8], dst: &[u8], keys: &[&[u8]], weights: &[f64], agg: Aggregate) -> Vec<Vec<Vec<u8>>> {
    let mut a = propagate::args([name, dst, keys.len().to_string().as_bytes()]);
    a.extend(keys.iter().map(|k| k.to_vec()));
    if !weights.is_empty() {
        a.push(b"WEIGHTS".to_vec());
        a.extend(weights.iter().map(|w| fmt_double(*w).into_bytes()));
    }
    match agg {
        Aggregate::Sum => {}
        Aggregate::Min => a.extend(propagate::args(["AGGREGATE", "MIN"])),
        Aggregate::Max => a.extend(propagate::args(["AGGREGATE", "MAX"])),
    }
    vec![a]
}

/// ZPOPMIN or ZPOPMAX.
fn zpop_name(max: bool) -> &'static [u8] {
    if max {
        b"ZPOPMAX"
    } else {
        b"ZPOPMIN"
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
        let key = key.as_ref();
        let res = self.write_typed(|acc| zadd(acc, key, &items, opts), |_, _| zadd_form(key, opts, &items));
        Ok(self.serve_blocked(res)?.reply_count(opts.ch))
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
        let items = [(increment, member.as_ref())];
        let key = key.as_ref();
        let res = self.write_typed(|acc| zadd(acc, key, &items, opts), |_, _| zadd_form(key, opts, &items));
        Ok(self.serve_blocked(res)?.score)
    }

    /// ZINCRBY key increment member: the new score.
    pub fn zincrby(&self, key: impl AsRef<[u8]>, increment: f64, member: impl AsRef<[u8]>) -> Result<f64> {
        let (key, member) = (key.as_ref(), member.as_ref());
        let opts = ZAddOptions { incr: true, ..Default::default() };
        let res = self.write_typed(
            |acc| zadd(acc, key, &[(increment, member)], opts),
            |_, _| propagate::one([&b"ZINCRBY"[..], key, fmt_double(increment).as_bytes(), member]),
        );
        Ok(self.serve_blocked(res)?.score.unwrap_or(increment))
    }

    /// `ZREM key member [member ...]`: number of members removed.
    pub fn zrem<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<usize> {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_ref()).collect();
        let key = key.as_ref();
        self.write_typed(|acc| zrem(acc, key, &members), |_, _| propagate::with_list(&[b"ZREM", key], &members))
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
        let (dst, src) = (dst.as_ref(), src.as_ref());
        let r = self.write_typed(
            |acc| zrangestore(acc, dst, src, query),
            |_, _| {
                let [min, max] = range_args(&query.by, query.rev);
                let mut a = propagate::args([&b"ZRANGESTORE"[..], dst, src, &min, &max]);
                match query.by {
                    ZRangeBy::Rank(..) => {}
                    ZRangeBy::Score(_) => a.push(b"BYSCORE".to_vec()),
                    ZRangeBy::Lex(_) => a.push(b"BYLEX".to_vec()),
                }
                if query.rev {
                    a.push(b"REV".to_vec());
                }
                if let Some((offset, count)) = query.limit {
                    a.extend(propagate::args([
                        b"LIMIT".to_vec(),
                        offset.to_string().into_bytes(),
                        count.to_string().into_bytes(),
                    ]));
                }
                vec![a]
            },
        );
        self.serve_blocked(r)
    }

    /// ZREMRANGEBYRANK key start stop.
    pub fn zremrangebyrank(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<usize> {
        self.zremrange_typed(b"ZREMRANGEBYRANK", key.as_ref(), &ZRangeBy::Rank(start, stop))
    }

    /// ZREMRANGEBYSCORE key min max.
    pub fn zremrangebyscore(&self, key: impl AsRef<[u8]>, range: &ScoreRange) -> Result<usize> {
        self.zremrange_typed(b"ZREMRANGEBYSCORE", key.as_ref(), &ZRangeBy::Score(*range))
    }

    /// ZREMRANGEBYLEX key min max.
    pub fn zremrangebylex(&self, key: impl AsRef<[u8]>, range: &LexRange) -> Result<usize> {
        self.zremrange_typed(b"ZREMRANGEBYLEX", key.as_ref(), &ZRangeBy::Lex(range.clone()))
    }

    fn zremrange_typed(&self, name: &'static [u8], key: &[u8], by: &ZRangeBy) -> Result<usize> {
        self.write_typed(
            |acc| zremrange(acc, key, by),
            |_, _| {
                let [min, max] = range_args(by, false);
                propagate::one([name, key, &min, &max])
            },
        )
    }

    /// ZPOPMIN/ZPOPMAX key count, propagated as called.
    fn zpop_typed(&self, key: &[u8], max: bool, count: usize) -> Result<Vec<ScoredMember>> {
        self.write_typed(
            |acc| zpop(acc, key, max, count),
            |_, _| propagate::one([zpop_name(max), key, count.to_string().as_bytes()]),
        )
    }

    /// `ZPOPMIN key [count]`: up to `count` members with the lowest scores.
    pub fn zpopmin(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Vec<ScoredMember>> {
        self.zpop_typed(key.as_ref(), false, count)
    }

    /// `ZPOPMAX key [count]`: up to `count` members with the highest scores.
    pub fn zpopmax(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Vec<ScoredMember>> {
        self.zpop_typed(key.as_ref(), true, count)
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
        // Propagated as the pop that took effect, with the number popped (the handler's).
        self.write_typed(
            |acc| zmpop(acc, &keys, max, count),
            |_, r| match r {
                Ok(Some((key, popped))) => {
                    propagate::one([zpop_name(max), key.as_slice(), popped.len().to_string().as_bytes()])
                }
                _ => Vec::new(),
            },
        )
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
        self.setop_store_typed(b"ZUNIONSTORE", dst.as_ref(), SetOp::Union, &keys, weights, agg)
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
        self.setop_store_typed(b"ZINTERSTORE", dst.as_ref(), SetOp::Inter, &keys, weights, agg)
    }

    /// ZDIFFSTORE destination numkeys key [key ...].
    pub fn zdiffstore<K: AsRef<[u8]>>(&self, dst: impl AsRef<[u8]>, keys: &[K]) -> Result<usize> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.setop_store_typed(b"ZDIFFSTORE", dst.as_ref(), SetOp::Diff, &keys, &[], Aggregate::Sum)
    }

    fn setop_store_typed(
        &self,
        name: &'static [u8],
        dst: &[u8],
        op: SetOp,
        keys: &[&[u8]],
        weights: &[f64],
        agg: Aggregate,
    ) -> Result<usize> {
        let r = self.write_typed(
            |acc| zsetop_store(acc, dst, op, keys, weights, agg),
            |_, _| setop_store_form(name, dst, keys, weights, agg),
        );
        self.serve_blocked(r)
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

    pub(super) fn bzpop(&self, cmd: &str, keys: &[&[u8]], timeout: Duration) -> Result<Option<KeyedMember>> {
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
