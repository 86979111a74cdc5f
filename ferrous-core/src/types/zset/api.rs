//! The typed in-process API for sorted sets: `impl Database` methods (`zadd`, `zrange`,
//! `bzpopmin`, ...).
use super::*;

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
