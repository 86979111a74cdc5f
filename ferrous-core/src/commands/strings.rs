//! String commands: GET SET SETNX SETEX PSETEX GETEX GETDEL GETSET MGET MSET MSETNX APPEND
//! STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SUBSTR SETRANGE LCS.
//!
//! Each handler parses its arguments in the order Redis 7.0 does (which decides which error
//! a client sees when several things are wrong), then calls the shared operation in
//! [`crate::types::strings`].
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::types::strings::{self as ops, GetExExpiry, LcsWants, SetCondition, SetExpiry, SetOptions};
use crate::util::parse_int;
use crate::value::Value;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("get", get),
    ("set", set),
    ("setnx", setnx),
    ("setex", setex),
    ("psetex", psetex),
    ("getex", getex),
    ("getdel", getdel),
    ("getset", getset),
    ("mget", mget),
    ("mset", mset),
    ("msetnx", msetnx),
    ("append", append),
    ("strlen", strlen),
    ("incr", incr),
    ("decr", decr),
    ("incrby", incrby),
    ("decrby", decrby),
    ("incrbyfloat", incrbyfloat),
    ("getrange", getrange),
    ("substr", getrange),
    ("setrange", setrange),
    ("lcs", lcs),
];

/// `GET key`
fn get(ctx: &mut Ctx<'_>) -> Result<()> {
    let out = &mut ctx.out;
    ctx.access.read(ctx.args.at(1), |n| match n {
        None => {
            out.null();
            Ok(())
        }
        Some(n) => {
            out.bulk(&n.value.as_str().ok_or(Error::WrongType)?);
            Ok(())
        }
    })
}

/// Unit of an expire argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ExpireUnit {
    /// EX: relative seconds.
    Seconds,
    /// PX: relative milliseconds.
    Millis,
    /// EXAT: absolute seconds.
    UnixSeconds,
    /// PXAT: absolute milliseconds.
    UnixMillis,
}

impl ExpireUnit {
    /// The unit named by a SET/GETEX option (`EX`, `px`...).
    fn from_option(opt: &[u8]) -> Option<ExpireUnit> {
        [
            (&b"EX"[..], ExpireUnit::Seconds),
            (b"PX", ExpireUnit::Millis),
            (b"EXAT", ExpireUnit::UnixSeconds),
            (b"PXAT", ExpireUnit::UnixMillis),
        ]
        .into_iter()
        .find(|(name, _)| opt.eq_ignore_ascii_case(name))
        .map(|(_, u)| u)
    }
}

/// Turns an EX/PX/EXAT/PXAT argument into an absolute deadline in ms, with Redis's errors
/// (`getExpireMillisecondsOrReply`): not an integer; not positive or overflowing.
pub(crate) fn parse_deadline(arg: &[u8], unit: ExpireUnit, now: i64, cmd: &'static str) -> Result<i64> {
    let v = parse_int(arg)?;
    let invalid = Error::InvalidExpireTime(cmd);
    if v <= 0 {
        return Err(invalid);
    }
    let ms = match unit {
        ExpireUnit::Seconds | ExpireUnit::UnixSeconds => v.checked_mul(1000).ok_or(invalid.clone())?,
        _ => v,
    };
    match unit {
        ExpireUnit::Seconds | ExpireUnit::Millis => ms.checked_add(now).ok_or(invalid),
        _ => Ok(ms),
    }
}

/// `SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]`
fn set(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut opts = SetOptions::default();
    let mut expire: Option<(ExpireUnit, &[u8])> = None;
    let mut keepttl = false;
    let mut i = 3;
    while i < ctx.argc() {
        let opt = ctx.arg(i);
        let next = ctx.args.get(i + 1);
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("NX") && opts.condition != SetCondition::IfExists {
            opts.condition = SetCondition::IfMissing;
        } else if is("XX") && opts.condition != SetCondition::IfMissing {
            opts.condition = SetCondition::IfExists;
        } else if is("GET") {
            opts.get = true;
        } else if is("KEEPTTL") && expire.is_none() {
            keepttl = true;
        } else if let (Some(unit), Some(next)) = (ExpireUnit::from_option(opt), next) {
            // The same unit may repeat (the last one wins); mixing units is an error.
            if keepttl || expire.is_some_and(|(u, _)| u != unit) {
                return Err(Error::Syntax);
            }
            expire = Some((unit, next));
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if let Some((unit, arg)) = expire {
        opts.expiry = SetExpiry::At(parse_deadline(arg, unit, ctx.now(), "set")?);
    } else if keepttl {
        opts.expiry = SetExpiry::Keep;
    }
    let outcome = ops::set(&ctx.access, ctx.arg(1), Value::string(ctx.arg(2)), opts)?;
    // Redis propagates a relative or absolute expiry as PXAT in ms, without NX/XX/GET, and
    // SET ... GET without its GET.
    if let SetExpiry::At(when) = opts.expiry {
        ctx.propagate_as([&b"SET"[..], ctx.arg(1), ctx.arg(2), b"PXAT", when.to_string().as_bytes()]);
    } else if opts.get {
        ctx.propagate_as(ctx.args.iter().filter(|a| !a.eq_ignore_ascii_case(b"GET")));
    }
    if opts.get {
        match outcome.old {
            Some(old) => ctx.out.bulk(&old),
            None => ctx.out.null(),
        }
    } else if outcome.written {
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

/// `SETNX key value`
fn setnx(ctx: &mut Ctx<'_>) -> Result<()> {
    let opts = SetOptions { condition: SetCondition::IfMissing, ..SetOptions::default() };
    let outcome = ops::set(&ctx.access, ctx.arg(1), Value::string(ctx.arg(2)), opts)?;
    ctx.out.int(i64::from(outcome.written));
    Ok(())
}

fn set_with_expire(ctx: &mut Ctx<'_>, unit: ExpireUnit, cmd: &'static str) -> Result<()> {
    let when = parse_deadline(ctx.arg(2), unit, ctx.now(), cmd)?;
    let opts = SetOptions { expiry: SetExpiry::At(when), ..SetOptions::default() };
    ops::set(&ctx.access, ctx.arg(1), Value::string(ctx.arg(3)), opts)?;
    ctx.propagate_as([&b"SET"[..], ctx.arg(1), ctx.arg(3), b"PXAT", when.to_string().as_bytes()]);
    ctx.out.ok();
    Ok(())
}

/// `SETEX key seconds value`
fn setex(ctx: &mut Ctx<'_>) -> Result<()> {
    set_with_expire(ctx, ExpireUnit::Seconds, "setex")
}

/// `PSETEX key milliseconds value`
fn psetex(ctx: &mut Ctx<'_>) -> Result<()> {
    set_with_expire(ctx, ExpireUnit::Millis, "psetex")
}

/// `GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]`
fn getex(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut expire: Option<(ExpireUnit, &[u8])> = None;
    let mut persist = false;
    let mut i = 2;
    while i < ctx.argc() {
        let opt = ctx.arg(i);
        let next = ctx.args.get(i + 1);
        if opt.eq_ignore_ascii_case(b"PERSIST") && expire.is_none() {
            persist = true;
        } else if let (Some(unit), Some(next)) = (ExpireUnit::from_option(opt), next) {
            if persist || expire.is_some_and(|(u, _)| u != unit) {
                return Err(Error::Syntax);
            }
            expire = Some((unit, next));
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    // The expire argument is validated only once the key is known to hold a string.
    let resolve = |now: i64| -> Result<GetExExpiry> {
        Ok(match expire {
            Some((unit, arg)) => GetExExpiry::At(parse_deadline(arg, unit, now, "getex")?),
            None if persist => GetExExpiry::Persist,
            None => GetExExpiry::Keep,
        })
    };
    let mut applied = None;
    let result = ops::getex_with(&ctx.access, ctx.arg(1), |now| {
        let r = resolve(now);
        applied = r.as_ref().ok().copied();
        r
    })?;
    // GETEX propagates the TTL change alone: PEXPIREAT in ms, PERSIST, or DEL for a time
    // already past.
    match applied {
        Some(GetExExpiry::At(when)) if when <= ctx.now() && crate::propagate::collecting() => {
            ctx.propagate_as([crate::propagate::del_word(&ctx.db.inner, "lazyfree-lazy-expire"), ctx.arg(1)])
        }
        Some(GetExExpiry::At(when)) if when <= ctx.now() => {}
        Some(GetExExpiry::At(when)) => ctx.propagate_as([&b"PEXPIREAT"[..], ctx.arg(1), when.to_string().as_bytes()]),
        Some(GetExExpiry::Persist) => ctx.propagate_as([&b"PERSIST"[..], ctx.arg(1)]),
        _ => {}
    }
    match result {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `GETDEL key`
fn getdel(ctx: &mut Ctx<'_>) -> Result<()> {
    if crate::propagate::collecting() {
        ctx.propagate_as([crate::propagate::del_word(&ctx.db.inner, "lazyfree-lazy-user-del"), ctx.arg(1)]);
    }
    match ops::getdel(&ctx.access, ctx.arg(1))? {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `GETSET key value`
fn getset(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.propagate_as([&b"SET"[..], ctx.arg(1), ctx.arg(2)]);
    match ops::getset(&ctx.access, ctx.arg(1), Value::string(ctx.arg(2)))? {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `MGET key [key ...]`
fn mget(ctx: &mut Ctx<'_>) -> Result<()> {
    let keys: Vec<&[u8]> = ctx.args.iter().skip(1).collect();
    let out = &mut ctx.out;
    out.array(keys.len());
    ops::mget_with(&ctx.access, &keys, |v| match v {
        Some(s) => out.bulk(s),
        None => out.null(),
    });
    Ok(())
}

/// The key/value pairs of MSET/MSETNX; an odd count is an arity error, as in Redis.
fn pairs<'a>(ctx: &Ctx<'a>) -> Result<Vec<(&'a [u8], &'a [u8])>> {
    if ctx.argc() % 2 == 0 {
        return Err(Error::WrongArity(ctx.spec.name.clone()));
    }
    Ok((1..ctx.argc()).step_by(2).map(|i| (ctx.arg(i), ctx.arg(i + 1))).collect())
}

/// `MSET key value [key value ...]`
fn mset(ctx: &mut Ctx<'_>) -> Result<()> {
    let pairs = pairs(ctx)?;
    ops::mset(&ctx.access, &pairs);
    ctx.out.ok();
    Ok(())
}

/// `MSETNX key value [key value ...]`
fn msetnx(ctx: &mut Ctx<'_>) -> Result<()> {
    let pairs = pairs(ctx)?;
    let done = ops::msetnx(&ctx.access, &pairs);
    ctx.out.int(i64::from(done));
    Ok(())
}

/// `APPEND key value`
fn append(ctx: &mut Ctx<'_>) -> Result<()> {
    let len = ops::append(&ctx.access, ctx.arg(1), ctx.arg(2))?;
    ctx.out.int(len as i64);
    Ok(())
}

/// `STRLEN key`
fn strlen(ctx: &mut Ctx<'_>) -> Result<()> {
    let len = ops::strlen(&ctx.access, ctx.arg(1))?;
    ctx.out.int(len as i64);
    Ok(())
}

fn incr_reply(ctx: &mut Ctx<'_>, delta: i64) -> Result<()> {
    let v = ops::incr_by(&ctx.access, ctx.arg(1), delta)?;
    ctx.out.int(v);
    Ok(())
}

/// `INCR key`
fn incr(ctx: &mut Ctx<'_>) -> Result<()> {
    incr_reply(ctx, 1)
}

/// `DECR key`
fn decr(ctx: &mut Ctx<'_>) -> Result<()> {
    incr_reply(ctx, -1)
}

/// `INCRBY key increment`
fn incrby(ctx: &mut Ctx<'_>) -> Result<()> {
    let d = parse_int(ctx.arg(2))?;
    incr_reply(ctx, d)
}

/// `DECRBY key decrement`
fn decrby(ctx: &mut Ctx<'_>) -> Result<()> {
    let d = parse_int(ctx.arg(2))?;
    let d = d.checked_neg().ok_or(Error::msg("ERR decrement would overflow"))?;
    incr_reply(ctx, d)
}

/// `INCRBYFLOAT key increment`
fn incrbyfloat(ctx: &mut Ctx<'_>) -> Result<()> {
    let v = ops::incr_by_float(&ctx.access, ctx.arg(1), ctx.arg(2))?;
    // The result, not the increment: replaying float arithmetic could differ.
    ctx.propagate_as([&b"SET"[..], ctx.arg(1), &v, b"KEEPTTL"]);
    ctx.out.bulk(&v);
    Ok(())
}

/// `GETRANGE key start end` (and its old name `SUBSTR key start end`)
fn getrange(ctx: &mut Ctx<'_>) -> Result<()> {
    let start = parse_int(ctx.arg(2))?;
    let end = parse_int(ctx.arg(3))?;
    let out = &mut ctx.out;
    ctx.access.read(ctx.args.at(1), |n| {
        match n {
            None => out.bulk(b""),
            Some(n) => out.bulk(ops::getrange_slice(&n.value.as_str().ok_or(Error::WrongType)?, start, end)),
        }
        Ok(())
    })
}

/// `SETRANGE key offset value`
fn setrange(ctx: &mut Ctx<'_>) -> Result<()> {
    let offset = parse_int(ctx.arg(2))?;
    let len = ops::setrange(&ctx.access, ctx.arg(1), offset, ctx.arg(3))?;
    ctx.out.int(len as i64);
    Ok(())
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]`
fn lcs(ctx: &mut Ctx<'_>) -> Result<()> {
    // Redis checks the key types before it looks at the options.
    let (a, b) = ops::lcs_inputs(&ctx.access, ctx.arg(1), ctx.arg(2))?;
    let (mut len, mut idx, mut with_match_len) = (false, false, false);
    let mut min_match_len = 0u64;
    let mut i = 3;
    while i < ctx.argc() {
        let opt = ctx.arg(i);
        if opt.eq_ignore_ascii_case(b"IDX") {
            idx = true;
        } else if opt.eq_ignore_ascii_case(b"LEN") {
            len = true;
        } else if opt.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            with_match_len = true;
        } else if opt.eq_ignore_ascii_case(b"MINMATCHLEN") && i + 1 < ctx.argc() {
            min_match_len = parse_int(ctx.arg(i + 1))?.max(0) as u64;
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if idx && len {
        return Err(Error::msg("ERR If you want both the length and indexes, please just use IDX."));
    }
    let wants = LcsWants { string: !idx && !len, idx, min_match_len };
    let result = ops::lcs_compute(&a, &b, wants, ops::proto_max_bulk_len(&ctx.access))?;
    let out = &mut ctx.out;
    if idx {
        out.map(2);
        out.bulk(b"matches");
        out.array(result.matches.len());
        for m in &result.matches {
            out.array(2 + usize::from(with_match_len));
            out.array(2);
            out.int(m.a.0 as i64);
            out.int(m.a.1 as i64);
            out.array(2);
            out.int(m.b.0 as i64);
            out.int(m.b.1 as i64);
            if with_match_len {
                out.int(m.len as i64);
            }
        }
        out.bulk(b"len");
        out.int(result.len as i64);
    } else if len {
        out.int(result.len as i64);
    } else {
        out.bulk(&result.string);
    }
    Ok(())
}
