//! String commands: GET SET INCR ...
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::types::strings::{self as ops, SetCondition, SetExpiry, SetOptions};
use crate::util::parse_int;
use crate::value::Value;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[("get", get), ("set", set), ("incr", incr), ("decr", decr), ("incrby", incrby), ("decrby", decrby)];

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
#[derive(Clone, Copy, PartialEq, Eq)]
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

/// Turns an EX/PX/EXAT/PXAT argument into an absolute deadline in ms, with Redis's errors.
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
        let opt = ctx.arg(i).to_ascii_uppercase();
        let next = (i + 1 < ctx.argc()).then(|| ctx.arg(i + 1));
        let unit = match opt.as_slice() {
            b"EX" => Some(ExpireUnit::Seconds),
            b"PX" => Some(ExpireUnit::Millis),
            b"EXAT" => Some(ExpireUnit::UnixSeconds),
            b"PXAT" => Some(ExpireUnit::UnixMillis),
            _ => None,
        };
        match (opt.as_slice(), unit) {
            (b"NX", _) if opts.condition != SetCondition::IfExists => opts.condition = SetCondition::IfMissing,
            (b"XX", _) if opts.condition != SetCondition::IfMissing => opts.condition = SetCondition::IfExists,
            (b"GET", _) => opts.get = true,
            (b"KEEPTTL", _) if expire.is_none() => keepttl = true,
            (_, Some(u)) if !keepttl && expire.map_or(true, |(e, _)| e == u) && next.is_some() => {
                expire = Some((u, next.unwrap_or_default()));
                i += 1;
            }
            _ => return Err(Error::Syntax),
        }
        i += 1;
    }
    if let Some((unit, arg)) = expire {
        opts.expiry = SetExpiry::At(parse_deadline(arg, unit, ctx.now(), "set")?);
    } else if keepttl {
        opts.expiry = SetExpiry::Keep;
    }
    let outcome = ops::set(&ctx.access, ctx.arg(1), Value::string(ctx.arg(2)), opts)?;
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
    if d == i64::MIN {
        return Err(Error::msg("ERR decrement would overflow"));
    }
    incr_reply(ctx, -d)
}
