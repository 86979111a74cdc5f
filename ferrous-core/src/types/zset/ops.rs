//! Access-level sorted-set operations: one command's semantics against the keyspace
//! through an [`Access`] (ZADD, ZREM, ZRANGE*, ZPOP*, ZUNION/ZINTER/ZDIFF*, ZSCAN, ...),
//! shared by the typed API and the command handlers.
use super::*;

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
pub(super) fn zset_mut<'s>(shard: &'s mut Shard, h: KeyHash, key: &[u8], now: i64) -> Result<Option<&'s mut ZSet>> {
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
pub(super) fn announce(acc: &Access<'_>, event: &str, key: &[u8], changed: bool) {
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
    pub(super) fn apply(self, target: &mut f64, val: f64) {
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
pub(super) enum Source<'a> {
    Missing,
    ZSet(&'a ZSet),
    Set(&'a crate::types::set::Set),
}

impl Source<'_> {
    /// Every member with its score; zsets from the highest, as Redis iterates them.
    pub(super) fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
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

    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::ZSet(z) => z.score(member),
            Source::Set(s) => s.contains(member).then_some(1.0),
        }
    }
}

/// Runs `f` on the input at `key` (locks held; the type was checked by [`source_lens`]).
pub(super) fn with_source<R>(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    key: &[u8],
    f: impl FnOnce(&Source<'_>) -> R,
) -> R {
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

pub(super) fn check_setop_args(keys: &[&[u8]], weights: &[f64]) -> Result<()> {
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
