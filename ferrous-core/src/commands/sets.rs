//! Set commands: SADD SREM SMEMBERS SPOP SINTER SUNION SDIFF SSCAN ...
//!
//! Handlers parse arguments, call the access-level operations of [`crate::types::set`]
//! (shared with the typed API) and write replies. Multi-key commands are atomic: the
//! operations lock every key they touch at once.
use super::hashes::{parse_scan_options, scan_reply};
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::types::keys::parse_cursor;
use crate::types::set::{self as ops, Set, SetOp};
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("smembers", smembers),
    ("sismember", sismember),
    ("smismember", smismember),
    ("scard", scard),
    ("spop", spop),
    ("srandmember", srandmember),
    ("smove", smove),
    ("sinter", sinter),
    ("sintercard", sintercard),
    ("sinterstore", sinterstore),
    ("sunion", sunion),
    ("sunionstore", sunionstore),
    ("sdiff", sdiff),
    ("sdiffstore", sdiffstore),
    ("sscan", sscan),
];

fn args_from<'a>(ctx: &Ctx<'a>, from: usize) -> Vec<&'a [u8]> {
    ctx.args.iter().skip(from).collect()
}

/// `SADD key member [member ...]`
fn sadd(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::sadd(&ctx.access, ctx.arg(1), &args_from(ctx, 2))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `SREM key member [member ...]`
fn srem(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::srem(&ctx.access, ctx.arg(1), &args_from(ctx, 2))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// Writes a whole set as a RESP3 set (RESP2 array).
fn set_reply(out: &mut super::Reply<'_>, s: Option<&Set>) {
    out.set(s.map_or(0, Set::len));
    for m in s.iter().flat_map(|s| s.iter()) {
        out.bulk(&m);
    }
}

/// `SMEMBERS key`
fn smembers(ctx: &mut Ctx<'_>) -> Result<()> {
    let key = ctx.arg(1);
    let out = &mut ctx.out;
    ops::read(&ctx.access, key, |s| set_reply(out, s))
}

/// `SISMEMBER key member`
fn sismember(ctx: &mut Ctx<'_>) -> Result<()> {
    let found = ops::sismember(&ctx.access, ctx.arg(1), ctx.arg(2))?;
    ctx.out.int(found as i64);
    Ok(())
}

/// `SMISMEMBER key member [member ...]`
fn smismember(ctx: &mut Ctx<'_>) -> Result<()> {
    let found = ops::smismember(&ctx.access, ctx.arg(1), &args_from(ctx, 2))?;
    ctx.out.array(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
    Ok(())
}

/// `SCARD key`
fn scard(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::scard(&ctx.access, ctx.arg(1))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `SPOP key [count]`
fn spop(ctx: &mut Ctx<'_>) -> Result<()> {
    match ctx.argc() {
        2 => {
            match ops::spop(&ctx.access, ctx.arg(1))? {
                Some(m) => {
                    // The random choice is propagated as its effect.
                    ctx.propagate_as([&b"SREM"[..], ctx.arg(1), &m]);
                    ctx.out.bulk(&m)
                }
                None => ctx.out.null(),
            }
            Ok(())
        }
        3 => {
            let count = parse_int(ctx.arg(2))
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(Error::msg("ERR value is out of range, must be positive"))?;
            let popped = ops::spop_count(&ctx.access, ctx.arg(1), count)?;
            if crate::propagate::collecting() && !popped.is_empty() {
                // Effects: DEL when the whole set went, else one SREM per member.
                let key = ctx.arg(1);
                if !ctx.access.read(key, |n| n.is_some()) {
                    ctx.propagate_as([&b"DEL"[..], key]);
                } else {
                    ctx.propagate_many(popped.iter().map(|m| crate::propagate::args([&b"SREM"[..], key, m])).collect());
                }
            }
            ctx.out.set(popped.len());
            for m in &popped {
                ctx.out.bulk(m);
            }
            Ok(())
        }
        _ => Err(Error::Syntax),
    }
}

/// `SRANDMEMBER key [count]`
fn srandmember(ctx: &mut Ctx<'_>) -> Result<()> {
    let (key, argc, count_arg) = (ctx.arg(1), ctx.argc(), ctx.args.get(2));
    let out = &mut ctx.out;
    match argc {
        2 => ops::read(&ctx.access, key, |s| match s.and_then(|s| s.random(&mut rand::thread_rng())) {
            Some(m) => out.bulk(&m),
            None => out.null(),
        }),
        3 => {
            let count = parse_int(count_arg.unwrap_or_default())?;
            ops::check_random_count(count)?;
            ops::read(&ctx.access, key, |s| {
                out.array(s.map_or(0, |s| ops::random_len(s.len(), count)));
                if let Some(s) = s {
                    ops::random_members(s, count, |m| out.bulk(&m));
                }
            })
        }
        _ => Err(Error::Syntax),
    }
}

/// `SMOVE source destination member`
fn smove(ctx: &mut Ctx<'_>) -> Result<()> {
    let moved = ops::smove(&ctx.access, ctx.arg(1), ctx.arg(2), ctx.arg(3))?;
    ctx.out.int(moved as i64);
    Ok(())
}

fn combine_reply(ctx: &mut Ctx<'_>, op: SetOp) -> Result<()> {
    let result = ops::combine(&ctx.access, op, &args_from(ctx, 1))?;
    set_reply(&mut ctx.out, Some(&result));
    Ok(())
}

fn store_reply(ctx: &mut Ctx<'_>, op: SetOp) -> Result<()> {
    let n = ops::store(&ctx.access, op, ctx.arg(1), &args_from(ctx, 2))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `SINTER key [key ...]`
fn sinter(ctx: &mut Ctx<'_>) -> Result<()> {
    combine_reply(ctx, SetOp::Inter)
}

/// `SINTERSTORE destination key [key ...]`
fn sinterstore(ctx: &mut Ctx<'_>) -> Result<()> {
    store_reply(ctx, SetOp::Inter)
}

/// `SUNION key [key ...]`
fn sunion(ctx: &mut Ctx<'_>) -> Result<()> {
    combine_reply(ctx, SetOp::Union)
}

/// `SUNIONSTORE destination key [key ...]`
fn sunionstore(ctx: &mut Ctx<'_>) -> Result<()> {
    store_reply(ctx, SetOp::Union)
}

/// `SDIFF key [key ...]`
fn sdiff(ctx: &mut Ctx<'_>) -> Result<()> {
    combine_reply(ctx, SetOp::Diff)
}

/// `SDIFFSTORE destination key [key ...]`
fn sdiffstore(ctx: &mut Ctx<'_>) -> Result<()> {
    store_reply(ctx, SetOp::Diff)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
fn sintercard(ctx: &mut Ctx<'_>) -> Result<()> {
    let numkeys =
        parse_int(ctx.arg(1)).ok().filter(|&n| n >= 1).ok_or(Error::msg("ERR numkeys should be greater than 0"))?
            as u64;
    if numkeys > (ctx.argc() - 2) as u64 {
        return Err(Error::msg("ERR Number of keys can't be greater than number of args"));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < ctx.argc() {
        if ctx.arg(j).eq_ignore_ascii_case(b"limit") && j + 1 < ctx.argc() {
            j += 1;
            limit = parse_int(ctx.arg(j))
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(Error::msg("ERR LIMIT can't be negative"))?;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let keys: Vec<&[u8]> = ctx.args.iter().skip(2).take(numkeys).collect();
    let n = ops::sintercard(&ctx.access, &keys, limit)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
fn sscan(ctx: &mut Ctx<'_>) -> Result<()> {
    let cursor = parse_cursor(ctx.arg(2))?;
    let opts = parse_scan_options(ctx);
    let key = ctx.arg(1);
    let out = &mut ctx.out;
    ops::read(&ctx.access, key, |s| {
        let Some(s) = s else {
            scan_reply(out, 0, 0, std::iter::empty());
            return Ok(());
        };
        let (next, members) = ops::scan_members(s, cursor, &opts?);
        scan_reply(out, next, members.len(), members.iter().map(|m| m.as_slice()));
        Ok(())
    })?
}
