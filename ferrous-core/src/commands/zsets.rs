//! Sorted-set commands: ZADD ZRANGE ZUNIONSTORE ... and the blocking BZPOPMIN BZPOPMAX
//! BZMPOP.
//!
//! Handlers parse arguments in Redis's order (so the same argument list fails with the
//! same error), call the access-level operations of [`crate::types::zset`] and write the
//! reply. Replies follow Redis 7.0: scores are doubles (bulk strings in RESP2, `,` doubles
//! in RESP3); WITHSCORES results are a flat array in RESP2 and an array of
//! `[member, score]` pairs in RESP3 (ZRANGE family, ZUNION/ZINTER/ZDIFF, ZRANDMEMBER, and
//! ZPOPMIN/ZPOPMAX when COUNT is given); ZMPOP/BZMPOP always nest pairs.
use super::lists::parse_timeout;
use super::{Ctx, Handler, Reply};
use crate::error::{Error, Result};
use crate::types::keys::{parse_cursor, ScanOptions};
use crate::types::zset::{
    self as ops, parse_score, Aggregate, LexRange, ScoreRange, SetOp, ZAddOptions, ZRange, ZRangeBy, ZSetLimits,
};
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("zadd", zadd),
    ("zincrby", zincrby),
    ("zrem", zrem),
    ("zcard", zcard),
    ("zscore", zscore),
    ("zmscore", zmscore),
    ("zrank", zrank),
    ("zrevrank", zrevrank),
    ("zcount", zcount),
    ("zlexcount", zlexcount),
    ("zrange", zrange),
    ("zrangestore", zrangestore),
    ("zrevrange", zrevrange),
    ("zrangebyscore", zrangebyscore),
    ("zrevrangebyscore", zrevrangebyscore),
    ("zrangebylex", zrangebylex),
    ("zrevrangebylex", zrevrangebylex),
    ("zremrangebyrank", zremrangebyrank),
    ("zremrangebyscore", zremrangebyscore),
    ("zremrangebylex", zremrangebylex),
    ("zpopmin", zpopmin),
    ("zpopmax", zpopmax),
    ("zmpop", zmpop),
    ("zrandmember", zrandmember),
    ("zunion", zunion),
    ("zinter", zinter),
    ("zdiff", zdiff),
    ("zunionstore", zunionstore),
    ("zinterstore", zinterstore),
    ("zdiffstore", zdiffstore),
    ("zintercard", zintercard),
    ("zscan", zscan),
    ("bzpopmin", bzpopmin),
    ("bzpopmax", bzpopmax),
    ("bzmpop", bzmpop),
];

#[inline]
fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Writes `n` members, with their scores when `withscores`: flat in RESP2, pairs in RESP3.
fn write_members<'a>(out: &mut Reply<'_>, n: usize, withscores: bool, items: impl Iterator<Item = (&'a [u8], f64)>) {
    let nested = withscores && out.resp3();
    out.array(if withscores && !nested { n * 2 } else { n });
    for (m, s) in items {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

// ---------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM
// ---------------------------------------------------------------------------------------

/// Shared by ZADD and ZINCRBY (Redis parses ZINCRBY's arguments the same way).
fn zadd_generic(ctx: &mut Ctx<'_>, incr: bool) -> Result<()> {
    let mut opts = ZAddOptions { incr, ..Default::default() };
    let mut i = 2;
    while i < ctx.argc() {
        let a = ctx.arg(i);
        if is(a, "nx") {
            opts.nx = true;
        } else if is(a, "xx") {
            opts.xx = true;
        } else if is(a, "ch") {
            opts.ch = true;
        } else if is(a, "incr") {
            opts.incr = true;
        } else if is(a, "gt") {
            opts.gt = true;
        } else if is(a, "lt") {
            opts.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = ctx.argc() - i;
    if elements % 2 != 0 || elements == 0 {
        return Err(Error::Syntax);
    }
    opts.validate(elements / 2)?;
    let mut items = Vec::with_capacity(elements / 2);
    for j in (i..ctx.argc()).step_by(2) {
        let score = parse_score(ctx.arg(j)).ok_or(Error::NotFloat)?;
        items.push((score, ctx.arg(j + 1)));
    }
    let res = ops::zadd(&ctx.access, ctx.arg(1), &items, opts)?;
    if opts.incr {
        match res.score {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(res.reply_count(opts.ch) as i64);
    }
    Ok(())
}

/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]`
fn zadd(ctx: &mut Ctx<'_>) -> Result<()> {
    zadd_generic(ctx, false)
}

/// `ZINCRBY key increment member`
fn zincrby(ctx: &mut Ctx<'_>) -> Result<()> {
    zadd_generic(ctx, true)
}

/// `ZREM key member [member ...]`
fn zrem(ctx: &mut Ctx<'_>) -> Result<()> {
    let members: Vec<&[u8]> = (2..ctx.argc()).map(|i| ctx.arg(i)).collect();
    let n = ops::zrem(&ctx.access, ctx.arg(1), &members)?;
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Point reads
// ---------------------------------------------------------------------------------------

/// `ZCARD key`
fn zcard(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::zcard(&ctx.access, ctx.arg(1))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZSCORE key member`
fn zscore(ctx: &mut Ctx<'_>) -> Result<()> {
    match ops::zscore(&ctx.access, ctx.arg(1), ctx.arg(2))? {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `ZMSCORE key member [member ...]`
fn zmscore(ctx: &mut Ctx<'_>) -> Result<()> {
    let members: Vec<&[u8]> = (2..ctx.argc()).map(|i| ctx.arg(i)).collect();
    let scores = ops::zmscore(&ctx.access, ctx.arg(1), &members)?;
    ctx.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank_cmd(ctx: &mut Ctx<'_>, rev: bool) -> Result<()> {
    match ops::zrank(&ctx.access, ctx.arg(1), ctx.arg(2), rev)? {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `ZRANK key member`
fn zrank(ctx: &mut Ctx<'_>) -> Result<()> {
    rank_cmd(ctx, false)
}

/// `ZREVRANK key member`
fn zrevrank(ctx: &mut Ctx<'_>) -> Result<()> {
    rank_cmd(ctx, true)
}

/// `ZCOUNT key min max`
fn zcount(ctx: &mut Ctx<'_>) -> Result<()> {
    let range = ScoreRange::parse(ctx.arg(2), ctx.arg(3))?;
    let n = ops::zcount(&ctx.access, ctx.arg(1), &range)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZLEXCOUNT key min max`
fn zlexcount(ctx: &mut Ctx<'_>) -> Result<()> {
    let range = LexRange::parse(ctx.arg(2), ctx.arg(3))?;
    let n = ops::zlexcount(&ctx.access, ctx.arg(1), &range)?;
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ZRANGE family
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Parses `<src> <min> <max> [BYSCORE | BYLEX] [REV] [WITHSCORES] [LIMIT offset count]`
/// starting at the source key `key_idx`, as Redis's `zrangeGenericCommand`: options first,
/// then conflicts, then the range. `kind`/`rev` are fixed by the older commands (ZREVRANGE,
/// ZRANGEBYSCORE...), which then reject the corresponding options.
fn parse_range(
    ctx: &Ctx<'_>,
    key_idx: usize,
    store: bool,
    mut kind: RangeKind,
    mut rev: Option<bool>,
) -> Result<(ZRange, bool)> {
    let mut withscores = false;
    let mut limit = None;
    let mut j = key_idx + 3;
    while j < ctx.argc() {
        let a = ctx.arg(j);
        let left = ctx.argc() - j - 1;
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            let offset = parse_int(ctx.arg(j + 1))?;
            let count = parse_int(ctx.arg(j + 2))?;
            limit = Some((offset, count));
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if kind == RangeKind::Auto && is(a, "bylex") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && is(a, "byscore") {
            kind = RangeKind::Score;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if limit.is_some() && kind == RangeKind::Rank {
        return Err(Error::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == RangeKind::Lex {
        return Err(Error::msg("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (mut min, mut max) = (ctx.arg(key_idx + 1), ctx.arg(key_idx + 2));
    if rev && kind != RangeKind::Rank {
        // Range given as <max> <min>.
        std::mem::swap(&mut min, &mut max);
    }
    let by = match kind {
        RangeKind::Score => ZRangeBy::Score(ScoreRange::parse(min, max)?),
        RangeKind::Lex => ZRangeBy::Lex(LexRange::parse(min, max)?),
        _ => ZRangeBy::Rank(parse_int(min)?, parse_int(max)?),
    };
    Ok((ZRange { by, rev, limit }, withscores))
}

fn range_cmd(ctx: &mut Ctx<'_>, kind: RangeKind, rev: Option<bool>) -> Result<()> {
    let (q, withscores) = parse_range(ctx, 1, false, kind, rev)?;
    let (acc, key) = (ctx.access, ctx.arg(1));
    let out = &mut ctx.out;
    ops::read(&acc, key, |z| match z {
        None => out.array(0),
        Some(z) => {
            let span = z.span(&q);
            write_members(out, span.count, withscores, z.range(span));
        }
    })
}

/// `ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
fn zrange(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, RangeKind::Auto, None)
}

/// `ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]`
fn zrangestore(ctx: &mut Ctx<'_>) -> Result<()> {
    let (q, _) = parse_range(ctx, 2, true, RangeKind::Auto, None)?;
    let n = ops::zrangestore(&ctx.access, ctx.arg(1), ctx.arg(2), &q)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZREVRANGE key start stop [WITHSCORES]`
fn zrevrange(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, RangeKind::Rank, Some(true))
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
fn zrangebyscore(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, RangeKind::Score, Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
fn zrevrangebyscore(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, RangeKind::Score, Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
fn zrangebylex(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, RangeKind::Lex, Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
fn zrevrangebylex(ctx: &mut Ctx<'_>) -> Result<()> {
    range_cmd(ctx, RangeKind::Lex, Some(true))
}

fn remrange_cmd(ctx: &mut Ctx<'_>, by: ZRangeBy) -> Result<()> {
    let n = ops::zremrange(&ctx.access, ctx.arg(1), &by)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZREMRANGEBYRANK key start stop`
fn zremrangebyrank(ctx: &mut Ctx<'_>) -> Result<()> {
    let by = ZRangeBy::Rank(parse_int(ctx.arg(2))?, parse_int(ctx.arg(3))?);
    remrange_cmd(ctx, by)
}

/// `ZREMRANGEBYSCORE key min max`
fn zremrangebyscore(ctx: &mut Ctx<'_>) -> Result<()> {
    let by = ZRangeBy::Score(ScoreRange::parse(ctx.arg(2), ctx.arg(3))?);
    remrange_cmd(ctx, by)
}

/// `ZREMRANGEBYLEX key min max`
fn zremrangebylex(ctx: &mut Ctx<'_>) -> Result<()> {
    let by = ZRangeBy::Lex(LexRange::parse(ctx.arg(2), ctx.arg(3))?);
    remrange_cmd(ctx, by)
}

// ---------------------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------------------

fn pop_cmd(ctx: &mut Ctx<'_>, max: bool) -> Result<()> {
    if ctx.argc() > 3 {
        return Err(Error::Syntax);
    }
    let count = if ctx.argc() == 3 {
        let c = parse_int(ctx.arg(2))
            .ok()
            .filter(|&c| c >= 0)
            .ok_or_else(|| Error::msg("ERR value is out of range, must be positive"))?;
        Some(c as usize)
    } else {
        None
    };
    let popped = ops::zpop(&ctx.access, ctx.arg(1), max, count.unwrap_or(1))?;
    let nested = ctx.out.resp3() && count.is_some();
    ctx.out.array(if nested { popped.len() } else { popped.len() * 2 });
    for (m, s) in &popped {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        ctx.out.double(*s);
    }
    Ok(())
}

/// `ZPOPMIN key [count]`
fn zpopmin(ctx: &mut Ctx<'_>) -> Result<()> {
    pop_cmd(ctx, false)
}

/// `ZPOPMAX key [count]`
fn zpopmax(ctx: &mut Ctx<'_>) -> Result<()> {
    pop_cmd(ctx, true)
}

/// Parses `numkeys key [key ...] <MIN | MAX> [COUNT count]` from `numkeys_idx`: key
/// positions, MAX?, count.
fn parse_mpop(ctx: &Ctx<'_>, numkeys_idx: usize) -> Result<(std::ops::Range<usize>, bool, usize)> {
    let numkeys = parse_int(ctx.arg(numkeys_idx))
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| Error::msg("ERR numkeys should be greater than 0"))?;
    let where_idx = (numkeys_idx as i64).saturating_add(numkeys).saturating_add(1);
    if where_idx >= ctx.argc() as i64 {
        return Err(Error::Syntax);
    }
    let where_idx = where_idx as usize;
    let max = match ctx.arg(where_idx) {
        a if is(a, "min") => false,
        a if is(a, "max") => true,
        _ => return Err(Error::Syntax),
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < ctx.argc() {
        let more = ctx.argc() - 1 - j;
        if count.is_none() && is(ctx.arg(j), "count") && more > 0 {
            j += 1;
            let c = parse_int(ctx.arg(j))
                .ok()
                .filter(|&c| c >= 1)
                .ok_or_else(|| Error::msg("ERR count should be greater than 0"))?;
            count = Some(c as usize);
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    Ok((numkeys_idx + 1..where_idx, max, count.unwrap_or(1)))
}

/// Writes one popped member of a ZMPOP/BZMPOP reply (`[key, [[member, score], ...]]`).
fn mpop_member(out: &mut Reply<'_>, key: &[u8], i: usize, total: usize, member: &[u8], score: f64) {
    if i == 0 {
        out.array(2);
        out.bulk(key);
        out.array(total);
    }
    out.array(2);
    out.bulk(member);
    out.double(score);
}

/// `ZMPOP numkeys key [key ...] <MIN | MAX> [COUNT count]`
fn zmpop(ctx: &mut Ctx<'_>) -> Result<()> {
    let (keys, max, count) = parse_mpop(ctx, 1)?;
    let keys: Vec<&[u8]> = keys.map(|i| ctx.arg(i)).collect();
    let acc = ctx.access;
    let out = &mut ctx.out;
    let mut first = None;
    let popped = acc.write_many(&keys, |m| {
        ops::mpop_locked(m, &acc, &keys, max, count, false, |k, i, t, mem, s| {
            super::lists::note_first(&mut first, k, i, t);
            mpop_member(out, k, i, t, mem, s)
        })
    })?;
    if popped.is_none() {
        out.null_array();
    }
    propagate_zpop(ctx, first, max, true);
    Ok(())
}

/// ZMPOP and blocking pops propagate as the ZPOPMIN/ZPOPMAX that took effect (with the
/// count popped for the multi-element forms), as Redis does.
fn propagate_zpop(ctx: &Ctx<'_>, first: Option<(Vec<u8>, usize)>, max: bool, with_count: bool) {
    if let Some((key, total)) = first {
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        let total = total.to_string();
        let count = with_count.then_some(total.as_bytes());
        ctx.propagate_as([name, &key].into_iter().chain(count));
    }
}

/// Pops from the first non-empty zset among `keys` writing members with `write`, or blocks
/// the client on `keys` (null array on timeout, or at once if the client cannot block).
/// When re-run to serve a waiter and there is still nothing, writes nothing.
fn blocking_pop(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    max: bool,
    count: usize,
    deadline: Option<i64>,
    write: fn(&mut Reply<'_>, &[u8], usize, usize, &[u8], f64),
) -> Result<()> {
    let serving = ctx.client.blocking.serving;
    let (acc, args) = (ctx.access, ctx.args);
    let registry = &ctx.db.inner.blocking;
    let (out, client) = (&mut ctx.out, &mut *ctx.client);
    let mut first = None;
    acc.write_many(keys, |m| {
        let popped = ops::mpop_locked(m, &acc, keys, max, count, serving, |k, i, t, mem, s| {
            super::lists::note_first(&mut first, k, i, t);
            write(out, k, i, t, mem, s)
        })?;
        if popped.is_none() && !serving {
            let owned = keys.iter().map(|k| k.to_vec()).collect();
            if !registry.block(client, owned, args.iter().collect(), deadline, true) {
                out.null_array();
            }
        }
        Ok(())
    })?;
    propagate_zpop(ctx, first, max, ctx.spec.name == "bzmpop");
    Ok(())
}

fn bzpop_cmd(ctx: &mut Ctx<'_>, max: bool) -> Result<()> {
    let argc = ctx.argc();
    let deadline = parse_timeout(ctx.arg(argc - 1), ctx.now())?;
    let keys: Vec<&[u8]> = (1..argc - 1).map(|i| ctx.arg(i)).collect();
    blocking_pop(ctx, &keys, max, 1, deadline, |out, key, _, _, member, score| {
        out.array(3);
        out.bulk(key);
        out.bulk(member);
        out.double(score);
    })
}

/// `BZPOPMIN key [key ...] timeout`
fn bzpopmin(ctx: &mut Ctx<'_>) -> Result<()> {
    bzpop_cmd(ctx, false)
}

/// `BZPOPMAX key [key ...] timeout`
fn bzpopmax(ctx: &mut Ctx<'_>) -> Result<()> {
    bzpop_cmd(ctx, true)
}

/// `BZMPOP timeout numkeys key [key ...] <MIN | MAX> [COUNT count]`
fn bzmpop(ctx: &mut Ctx<'_>) -> Result<()> {
    let (keys, max, count) = parse_mpop(ctx, 2)?;
    let deadline = parse_timeout(ctx.arg(1), ctx.now())?;
    let keys: Vec<&[u8]> = keys.map(|i| ctx.arg(i)).collect();
    blocking_pop(ctx, &keys, max, count, deadline, mpop_member)
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------------------

/// `ZRANDMEMBER key [count [WITHSCORES]]`
fn zrandmember(ctx: &mut Ctx<'_>) -> Result<()> {
    let (acc, key) = (ctx.access, ctx.arg(1));
    if ctx.argc() == 2 {
        let out = &mut ctx.out;
        return ops::read(&acc, key, |z| {
            match z.and_then(|z| {
                let mut pick = None;
                z.random_members(1, |m, _| pick = Some(m.to_vec()));
                pick
            }) {
                Some(m) => out.bulk(&m),
                None => out.null(),
            }
        });
    }
    let count = parse_int(ctx.arg(2))?;
    if count == i64::MIN {
        return Err(Error::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if ctx.argc() > 4 || (ctx.argc() == 4 && !is(ctx.arg(3), "withscores")) {
        return Err(Error::Syntax);
    }
    let withscores = ctx.argc() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        // The reply would hold twice `count` items.
        return Err(Error::msg("ERR value is out of range"));
    }
    let out = &mut ctx.out;
    ops::read(&acc, key, |z| {
        let Some(z) = z else {
            out.array(0);
            return;
        };
        let n = if count < 0 { count.unsigned_abs() as usize } else { (count as usize).min(z.len()) };
        let nested = withscores && out.resp3();
        out.array(if withscores && !nested { n * 2 } else { n });
        z.random_members(count, |m, s| {
            if nested {
                out.array(2);
            }
            out.bulk(m);
            if withscores {
                out.double(s);
            }
        });
    })
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
fn zscan(ctx: &mut Ctx<'_>) -> Result<()> {
    let cursor = parse_cursor(ctx.arg(2))?;
    let ctx_ref = &*ctx;
    let parse_opts = || -> Result<ScanOptions> {
        let mut opts = ScanOptions::default();
        let mut i = 3;
        while i < ctx_ref.argc() {
            let left = ctx_ref.argc() - i;
            let a = ctx_ref.arg(i);
            if is(a, "count") && left >= 2 {
                let c = parse_int(ctx_ref.arg(i + 1))?;
                if c < 1 {
                    return Err(Error::Syntax);
                }
                opts.count = Some(c as usize);
            } else if is(a, "match") && left >= 2 {
                opts.pattern = Some(ctx_ref.arg(i + 1).to_vec());
            } else {
                return Err(Error::Syntax);
            }
            i += 2;
        }
        Ok(opts)
    };
    let result = ops::read(&ctx.access, ctx.arg(1), |z| -> Result<Option<(u64, Vec<ops::ScoredMember>)>> {
        match z {
            None => Ok(None),
            Some(z) => Ok(Some(ops::scan_members(z, cursor, &parse_opts()?))),
        }
    })??;
    let (next, items) = result.unwrap_or((0, Vec::new()));
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(items.len() * 2);
    for (m, s) in &items {
        ctx.out.bulk(m);
        ctx.out.bulk(crate::util::fmt_double(*s).as_bytes());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD
// ---------------------------------------------------------------------------------------

/// Options after the keys of a set operation.
#[derive(Default)]
struct SetOpOptions {
    weights: Vec<f64>,
    agg: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Parses `numkeys key [key ...]` at `numkeys_idx` and the options after the keys, as
/// Redis's `zunionInterDiffGenericCommand`. Key-count errors come back at once; option
/// errors come back inside (Redis reports them only after checking the keys' types).
fn parse_setop<'a>(
    ctx: &Ctx<'a>,
    op: SetOp,
    numkeys_idx: usize,
    store: bool,
    card: bool,
) -> Result<(Vec<&'a [u8]>, Result<SetOpOptions>)> {
    let setnum = parse_int(ctx.arg(numkeys_idx))?;
    if setnum < 1 {
        return Err(Error::msg(format!("ERR at least 1 input key is needed for '{}' command", ctx.spec.name)));
    }
    let avail = ctx.argc() - (numkeys_idx + 1);
    if setnum as u64 > avail as u64 {
        return Err(Error::Syntax);
    }
    let setnum = setnum as usize;
    let keys: Vec<&[u8]> = (numkeys_idx + 1..numkeys_idx + 1 + setnum).map(|i| ctx.arg(i)).collect();
    let opts = (|| {
        let mut o = SetOpOptions::default();
        let mut j = numkeys_idx + 1 + setnum;
        while j < ctx.argc() {
            let remaining = ctx.argc() - j;
            let a = ctx.arg(j);
            if op != SetOp::Diff && !card && remaining > setnum && is(a, "weights") {
                j += 1;
                o.weights.clear();
                for _ in 0..setnum {
                    let w = parse_score(ctx.arg(j)).ok_or_else(|| Error::msg("ERR weight value is not a float"))?;
                    o.weights.push(w);
                    j += 1;
                }
            } else if op != SetOp::Diff && !card && remaining >= 2 && is(a, "aggregate") {
                let v = ctx.arg(j + 1);
                o.agg = if is(v, "sum") {
                    Aggregate::Sum
                } else if is(v, "min") {
                    Aggregate::Min
                } else if is(v, "max") {
                    Aggregate::Max
                } else {
                    return Err(Error::Syntax);
                };
                j += 2;
            } else if !store && !card && is(a, "withscores") {
                o.withscores = true;
                j += 1;
            } else if card && remaining >= 2 && is(a, "limit") {
                let l = parse_int(ctx.arg(j + 1))
                    .ok()
                    .filter(|&l| l >= 0)
                    .ok_or_else(|| Error::msg("ERR LIMIT can't be negative"))?;
                o.limit = l as usize;
                j += 2;
            } else {
                return Err(Error::Syntax);
            }
        }
        Ok(o)
    })();
    Ok((keys, opts))
}

fn setop_cmd(ctx: &mut Ctx<'_>, op: SetOp) -> Result<()> {
    let (keys, opts) = parse_setop(ctx, op, 1, false, false)?;
    let acc = ctx.access;
    let out = &mut ctx.out;
    acc.write_many(&keys, |m| {
        ops::source_lens(m, &acc, &keys)?;
        let o = opts?;
        let res = ops::setop_locked(m, &acc, op, &keys, &o.weights, o.agg)?;
        write_members(out, res.len(), o.withscores, res.iter().map(|(m, s)| (m.as_slice(), *s)));
        Ok(())
    })
}

fn setop_store_cmd(ctx: &mut Ctx<'_>, op: SetOp) -> Result<()> {
    let (keys, opts) = parse_setop(ctx, op, 2, true, false)?;
    let acc = ctx.access;
    let dst = ctx.arg(1);
    let limits = ZSetLimits::from_config(&acc);
    let mut all = keys.clone();
    all.push(dst);
    let existed = ops::exists_if_notifying(&acc, dst);
    let n = acc.write_many(&all, |m| -> Result<usize> {
        ops::source_lens(m, &acc, &keys)?;
        let o = opts?;
        let res = ops::setop_locked(m, &acc, op, &keys, &o.weights, o.agg)?;
        let items: Vec<(&[u8], f64)> = res.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
        Ok(ops::store_locked(m, &acc, dst, &items, &limits))
    })?;
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff => "zdiffstore",
    };
    ops::announce_store(&acc, event, dst, n, existed);
    ctx.out.int(n as i64);
    Ok(())
}

/// `ZUNION numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]
/// [WITHSCORES]`
fn zunion(ctx: &mut Ctx<'_>) -> Result<()> {
    setop_cmd(ctx, SetOp::Union)
}

/// `ZINTER numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]
/// [WITHSCORES]`
fn zinter(ctx: &mut Ctx<'_>) -> Result<()> {
    setop_cmd(ctx, SetOp::Inter)
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`
fn zdiff(ctx: &mut Ctx<'_>) -> Result<()> {
    setop_cmd(ctx, SetOp::Diff)
}

/// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]]
/// [AGGREGATE <SUM | MIN | MAX>]`
fn zunionstore(ctx: &mut Ctx<'_>) -> Result<()> {
    setop_store_cmd(ctx, SetOp::Union)
}

/// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]]
/// [AGGREGATE <SUM | MIN | MAX>]`
fn zinterstore(ctx: &mut Ctx<'_>) -> Result<()> {
    setop_store_cmd(ctx, SetOp::Inter)
}

/// `ZDIFFSTORE destination numkeys key [key ...]`
fn zdiffstore(ctx: &mut Ctx<'_>) -> Result<()> {
    setop_store_cmd(ctx, SetOp::Diff)
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
fn zintercard(ctx: &mut Ctx<'_>) -> Result<()> {
    let (keys, opts) = parse_setop(ctx, SetOp::Inter, 1, false, true)?;
    let acc = ctx.access;
    let n = acc.write_many(&keys, |m| -> Result<usize> {
        ops::source_lens(m, &acc, &keys)?;
        let o = opts?;
        let n = ops::setop_locked(m, &acc, SetOp::Inter, &keys, &[], Aggregate::Sum)?.len();
        Ok(if o.limit > 0 { n.min(o.limit) } else { n })
    })?;
    ctx.out.int(n as i64);
    Ok(())
}
