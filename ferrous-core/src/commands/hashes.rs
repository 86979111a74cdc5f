//! Hash commands: HSET HGET HDEL HGETALL HINCRBY HRANDFIELD HSCAN ...
//!
//! Handlers parse arguments, call the access-level operations of [`crate::types::hash`]
//! (shared with the typed API) and write replies; read commands write their reply straight
//! from the value under the shard's read lock, without copying it out.
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::types::hash::{self as ops, Hash};
use crate::types::keys::{parse_cursor, ScanOptions};
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("hset", hset),
    ("hmset", hmset),
    ("hsetnx", hsetnx),
    ("hget", hget),
    ("hmget", hmget),
    ("hdel", hdel),
    ("hlen", hlen),
    ("hstrlen", hstrlen),
    ("hexists", hexists),
    ("hkeys", hkeys),
    ("hvals", hvals),
    ("hgetall", hgetall),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hrandfield", hrandfield),
    ("hscan", hscan),
];

fn set_pairs(ctx: &mut Ctx<'_>, name: &str) -> Result<usize> {
    if ctx.argc() % 2 == 1 {
        return Err(Error::WrongArity(name.into()));
    }
    let pairs: Vec<(&[u8], &[u8])> = (2..ctx.argc()).step_by(2).map(|i| (ctx.arg(i), ctx.arg(i + 1))).collect();
    ops::hset(&ctx.access, ctx.arg(1), &pairs)
}

/// `HSET key field value [field value ...]`
fn hset(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = set_pairs(ctx, "hset")?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `HMSET key field value [field value ...]`
fn hmset(ctx: &mut Ctx<'_>) -> Result<()> {
    set_pairs(ctx, "hmset")?;
    ctx.out.ok();
    Ok(())
}

/// `HSETNX key field value`
fn hsetnx(ctx: &mut Ctx<'_>) -> Result<()> {
    let set = ops::hsetnx(&ctx.access, ctx.arg(1), ctx.arg(2), ctx.arg(3))?;
    ctx.out.int(set as i64);
    Ok(())
}

/// `HGET key field`
fn hget(ctx: &mut Ctx<'_>) -> Result<()> {
    let (key, field) = (ctx.arg(1), ctx.arg(2));
    let out = &mut ctx.out;
    ops::read(&ctx.access, key, |h| match h.and_then(|h| h.get(field)) {
        Some(v) => out.bulk(&v),
        None => out.null(),
    })
}

/// `HMGET key field [field ...]`
fn hmget(ctx: &mut Ctx<'_>) -> Result<()> {
    let (args, out) = (ctx.args, &mut ctx.out);
    ops::read(&ctx.access, args.at(1), |h| {
        out.array(args.len() - 2);
        for f in args.iter().skip(2) {
            match h.and_then(|h| h.get(f)) {
                Some(v) => out.bulk(&v),
                None => out.null(),
            }
        }
    })
}

/// `HDEL key field [field ...]`
fn hdel(ctx: &mut Ctx<'_>) -> Result<()> {
    let fields: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    let n = ops::hdel(&ctx.access, ctx.arg(1), &fields)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `HLEN key`
fn hlen(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::hlen(&ctx.access, ctx.arg(1))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `HSTRLEN key field`
fn hstrlen(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::hstrlen(&ctx.access, ctx.arg(1), ctx.arg(2))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `HEXISTS key field`
fn hexists(ctx: &mut Ctx<'_>) -> Result<()> {
    let e = ops::hexists(&ctx.access, ctx.arg(1), ctx.arg(2))?;
    ctx.out.int(e as i64);
    Ok(())
}

/// What HKEYS/HVALS/HGETALL reply with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Keys,
    Values,
    Both,
}

fn get_all(ctx: &mut Ctx<'_>, parts: Parts) -> Result<()> {
    let key = ctx.arg(1);
    let out = &mut ctx.out;
    ops::read(&ctx.access, key, |h| {
        let len = h.map_or(0, Hash::len);
        if parts == Parts::Both {
            out.map(len);
        } else {
            out.array(len);
        }
        for (k, v) in h.iter().flat_map(|h| h.iter()) {
            if parts != Parts::Values {
                out.bulk(&k);
            }
            if parts != Parts::Keys {
                out.bulk(&v);
            }
        }
    })
}

/// `HKEYS key`
fn hkeys(ctx: &mut Ctx<'_>) -> Result<()> {
    get_all(ctx, Parts::Keys)
}

/// `HVALS key`
fn hvals(ctx: &mut Ctx<'_>) -> Result<()> {
    get_all(ctx, Parts::Values)
}

/// `HGETALL key`
fn hgetall(ctx: &mut Ctx<'_>) -> Result<()> {
    get_all(ctx, Parts::Both)
}

/// `HINCRBY key field increment`
fn hincrby(ctx: &mut Ctx<'_>) -> Result<()> {
    let delta = parse_int(ctx.arg(3))?;
    let v = ops::hincrby(&ctx.access, ctx.arg(1), ctx.arg(2), delta)?;
    ctx.out.int(v);
    Ok(())
}

/// `HINCRBYFLOAT key field increment`
fn hincrbyfloat(ctx: &mut Ctx<'_>) -> Result<()> {
    let incr = ops::parse_float_incr(ctx.arg(3))?;
    let v = ops::hincrbyfloat(&ctx.access, ctx.arg(1), ctx.arg(2), incr)?;
    ctx.propagate_as([&b"HSET"[..], ctx.arg(1), ctx.arg(2), &v]);
    ctx.out.bulk(&v);
    Ok(())
}

/// `HRANDFIELD key [count [WITHVALUES]]`
fn hrandfield(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.argc() == 2 {
        let key = ctx.arg(1);
        let out = &mut ctx.out;
        return ops::read(&ctx.access, key, |h| match h.and_then(|h| h.random(&mut rand::thread_rng())) {
            Some((k, _)) => out.bulk(&k),
            None => out.null(),
        });
    }
    let count = parse_int(ctx.arg(2))?;
    ops::check_random_count(count, false)?;
    let with_values = match ctx.argc() {
        3 => false,
        4 if ctx.arg(3).eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(Error::Syntax),
    };
    ops::check_random_count(count, with_values)?;
    let key = ctx.arg(1);
    let out = &mut ctx.out;
    ops::read(&ctx.access, key, |h| {
        let n = h.map_or(0, |h| ops::random_len(h.len(), count));
        let nested = with_values && out.resp3();
        out.array(if with_values && !nested { n * 2 } else { n });
        if let Some(h) = h {
            ops::random_fields(h, count, |k, v| {
                if nested {
                    out.array(2);
                }
                out.bulk(&k);
                if with_values {
                    out.bulk(&v);
                }
            });
        }
    })
}

/// Parses `[MATCH pattern] [COUNT count]` of HSCAN/SSCAN/ZSCAN (from argument 3) with
/// Redis's errors. Redis reports these errors only when the key exists with the right type,
/// so callers keep the result and raise it after the lookup.
pub(crate) fn parse_scan_options(ctx: &Ctx<'_>) -> Result<ScanOptions> {
    let mut opts = ScanOptions::default();
    let mut i = 3;
    while i < ctx.argc() {
        let has_value = i + 1 < ctx.argc();
        match ctx.arg(i).to_ascii_lowercase().as_slice() {
            b"count" if has_value => {
                let n = parse_int(ctx.arg(i + 1))?;
                if n < 1 {
                    return Err(Error::Syntax);
                }
                opts.count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            b"match" if has_value => opts.pattern = Some(ctx.arg(i + 1).to_vec()),
            _ => return Err(Error::Syntax),
        }
        i += 2;
    }
    Ok(opts)
}

/// Writes a scan reply: `[cursor, [items...]]`.
pub(crate) fn scan_reply<'i>(out: &mut super::Reply<'_>, cursor: u64, n: usize, items: impl Iterator<Item = &'i [u8]>) {
    out.array(2);
    out.bulk(cursor.to_string().as_bytes());
    out.array(n);
    for it in items {
        out.bulk(it);
    }
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`
fn hscan(ctx: &mut Ctx<'_>) -> Result<()> {
    let cursor = parse_cursor(ctx.arg(2))?;
    let opts = parse_scan_options(ctx);
    let key = ctx.arg(1);
    let out = &mut ctx.out;
    ops::read(&ctx.access, key, |h| {
        let Some(h) = h else {
            scan_reply(out, 0, 0, std::iter::empty());
            return Ok(());
        };
        let (next, pairs) = ops::scan_pairs(h, cursor, &opts?);
        scan_reply(out, next, pairs.len() * 2, pairs.iter().flat_map(|(k, v)| [k.as_slice(), v.as_slice()]));
        Ok(())
    })?
}
