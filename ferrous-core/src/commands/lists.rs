//! List commands: LPUSH RPUSH LPOP LRANGE ... and the blocking BLPOP BRPOP BLMOVE BLMPOP
//! BRPOPLPUSH.
//!
//! Handlers parse arguments in Redis 7.0's order (so that when several things are wrong the
//! same error wins), call the operations of [`crate::types::list`], and write replies
//! straight from the list's packed nodes where they can (LRANGE, LPOP count, LMPOP).
//!
//! Blocking commands first try to serve themselves; if every key is empty they register
//! with the blocking registry while still holding the keys' shard locks (see
//! [`crate::blocking`]). When re-run to serve a waiter they write nothing if there is still
//! nothing to pop, and they skip keys of another type, as Redis serves a waiter from the
//! list that became ready.
use super::{Ctx, Handler, Reply};
use crate::error::{Error, Result};
use crate::types::list::{self as ops, Elem, ListEnd, LposOptions, RANK_ZERO};
use crate::util::parse_int;
use crate::value::Value;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("lpush", lpush),
    ("rpush", rpush),
    ("lpushx", lpushx),
    ("rpushx", rpushx),
    ("lpop", lpop),
    ("rpop", rpop),
    ("llen", llen),
    ("lrange", lrange),
    ("lindex", lindex),
    ("lset", lset),
    ("linsert", linsert),
    ("lrem", lrem),
    ("ltrim", ltrim),
    ("lpos", lpos),
    ("rpoplpush", rpoplpush),
    ("lmove", lmove),
    ("lmpop", lmpop),
    ("blpop", blpop),
    ("brpop", brpop),
    ("brpoplpush", brpoplpush),
    ("blmove", blmove),
    ("blmpop", blmpop),
];

/// Writes an element as a bulk string.
#[inline]
fn bulk(out: &mut Reply<'_>, e: Elem<'_>) {
    e.with_bytes(|b| out.bulk(b));
}

fn push_cmd(ctx: &mut Ctx<'_>, end: ListEnd, only_existing: bool) -> Result<()> {
    let n = ops::push(&ctx.access, ctx.arg(1), end, ctx.args.iter().skip(2), only_existing)?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `LPUSH key element [element ...]`
fn lpush(ctx: &mut Ctx<'_>) -> Result<()> {
    push_cmd(ctx, ListEnd::Left, false)
}

/// `RPUSH key element [element ...]`
fn rpush(ctx: &mut Ctx<'_>) -> Result<()> {
    push_cmd(ctx, ListEnd::Right, false)
}

/// `LPUSHX key element [element ...]`
fn lpushx(ctx: &mut Ctx<'_>) -> Result<()> {
    push_cmd(ctx, ListEnd::Left, true)
}

/// `RPUSHX key element [element ...]`
fn rpushx(ctx: &mut Ctx<'_>) -> Result<()> {
    push_cmd(ctx, ListEnd::Right, true)
}

fn pop_cmd(ctx: &mut Ctx<'_>, end: ListEnd) -> Result<()> {
    if ctx.argc() > 3 {
        return Err(Error::WrongArity(ctx.spec.name.clone()));
    }
    let count = match ctx.args.get(2) {
        Some(a) => Some(
            parse_int(a).ok().filter(|c| *c >= 0).ok_or(Error::msg("ERR value is out of range, must be positive"))?
                as usize,
        ),
        None => None,
    };
    let (acc, key) = (ctx.access, ctx.arg(1));
    let out = &mut ctx.out;
    let popped = ops::pop_each(&acc, key, end, count.unwrap_or(1), |i, total, e| {
        if i == 0 && count.is_some() {
            out.array(total);
        }
        bulk(out, e);
    })?;
    match (popped, count) {
        (None, None) => out.null(),
        (None, Some(_)) => out.null_array(),
        (Some(0), Some(_)) => out.array(0),
        _ => {}
    }
    Ok(())
}

/// `LPOP key [count]`
fn lpop(ctx: &mut Ctx<'_>) -> Result<()> {
    pop_cmd(ctx, ListEnd::Left)
}

/// `RPOP key [count]`
fn rpop(ctx: &mut Ctx<'_>) -> Result<()> {
    pop_cmd(ctx, ListEnd::Right)
}

/// `LLEN key`
fn llen(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::len(&ctx.access, ctx.arg(1))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `LRANGE key start stop`
fn lrange(ctx: &mut Ctx<'_>) -> Result<()> {
    let start = parse_int(ctx.arg(2))?;
    let stop = parse_int(ctx.arg(3))?;
    let (acc, key) = (ctx.access, ctx.arg(1));
    let out = &mut ctx.out;
    ops::read(&acc, key, |l| match l {
        None => out.array(0),
        Some(l) => {
            let it = l.range(start, stop);
            out.array(it.len());
            it.for_each(|e| bulk(out, e));
        }
    })
}

/// `LINDEX key index`
fn lindex(ctx: &mut Ctx<'_>) -> Result<()> {
    // Redis looks the key up before parsing the index.
    let index = parse_int(ctx.arg(2));
    let (acc, key) = (ctx.access, ctx.arg(1));
    let out = &mut ctx.out;
    ops::read(&acc, key, |l| {
        match l {
            None => out.null(),
            Some(l) => match l.get(index?) {
                Some(e) => bulk(out, e),
                None => out.null(),
            },
        }
        Ok(())
    })?
}

/// `LSET key index element`
fn lset(ctx: &mut Ctx<'_>) -> Result<()> {
    let index = match parse_int(ctx.arg(2)) {
        Ok(i) => i,
        // Redis looks the key up before parsing the index.
        Err(e) => {
            return Err(if ops::read(&ctx.access, ctx.arg(1), |l| l.is_some())? { e } else { Error::NoSuchKey });
        }
    };
    ops::set(&ctx.access, ctx.arg(1), index, ctx.arg(3))?;
    ctx.out.ok();
    Ok(())
}

/// `LINSERT key <BEFORE | AFTER> pivot element`
fn linsert(ctx: &mut Ctx<'_>) -> Result<()> {
    let after = match ctx.arg(2) {
        w if w.eq_ignore_ascii_case(b"after") => true,
        w if w.eq_ignore_ascii_case(b"before") => false,
        _ => return Err(Error::Syntax),
    };
    let n = ops::insert(&ctx.access, ctx.arg(1), after, ctx.arg(3), ctx.arg(4))?;
    ctx.out.int(n);
    Ok(())
}

/// `LREM key count element`
fn lrem(ctx: &mut Ctx<'_>) -> Result<()> {
    let count = parse_int(ctx.arg(2))?;
    let n = ops::remove(&ctx.access, ctx.arg(1), count, ctx.arg(3))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `LTRIM key start stop`
fn ltrim(ctx: &mut Ctx<'_>) -> Result<()> {
    let start = parse_int(ctx.arg(2))?;
    let stop = parse_int(ctx.arg(3))?;
    ops::trim(&ctx.access, ctx.arg(1), start, stop)?;
    ctx.out.ok();
    Ok(())
}

/// A non-negative integer option, with Redis's single error text for "not an integer" and
/// "negative".
fn non_negative(arg: &[u8], err: &'static str) -> Result<usize> {
    parse_int(arg).ok().and_then(|v| usize::try_from(v).ok()).ok_or(Error::msg(err))
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
fn lpos(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut opts = LposOptions::default();
    let mut i = 3;
    while i < ctx.argc() {
        let opt = ctx.arg(i);
        let Some(val) = ctx.args.get(i + 1) else { return Err(Error::Syntax) };
        if opt.eq_ignore_ascii_case(b"rank") {
            opts.rank = parse_int(val)?;
            if opts.rank == 0 {
                return Err(Error::msg(RANK_ZERO));
            }
        } else if opt.eq_ignore_ascii_case(b"count") {
            opts.count = Some(non_negative(val, "ERR COUNT can't be negative")?);
        } else if opt.eq_ignore_ascii_case(b"maxlen") {
            opts.maxlen = non_negative(val, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let found = ops::positions(&ctx.access, ctx.arg(1), ctx.arg(2), &opts)?;
    if opts.count.is_some() {
        ctx.out.array(found.len());
        found.iter().for_each(|&p| ctx.out.int(p as i64));
    } else {
        match found.first() {
            Some(&p) => ctx.out.int(p as i64),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn move_reply(ctx: &mut Ctx<'_>, from: ListEnd, to: ListEnd) -> Result<()> {
    match ops::lmove(&ctx.access, ctx.arg(1), ctx.arg(2), from, to)? {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `RPOPLPUSH source destination`
fn rpoplpush(ctx: &mut Ctx<'_>) -> Result<()> {
    move_reply(ctx, ListEnd::Right, ListEnd::Left)
}

/// `LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>`
fn lmove(ctx: &mut Ctx<'_>) -> Result<()> {
    let from = ListEnd::parse(ctx.arg(3))?;
    let to = ListEnd::parse(ctx.arg(4))?;
    move_reply(ctx, from, to)
}

/// Parses `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]` starting at `numkeys_idx`:
/// the key positions, the end and the count (1 by default).
fn parse_mpop(ctx: &Ctx<'_>, numkeys_idx: usize) -> Result<(std::ops::Range<usize>, ListEnd, usize)> {
    let numkeys = parse_int(ctx.arg(numkeys_idx))
        .ok()
        .filter(|n| *n > 0)
        .ok_or(Error::msg("ERR numkeys should be greater than 0"))?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|&w| w < ctx.argc())
        .ok_or(Error::Syntax)?;
    let end = ListEnd::parse(ctx.arg(where_idx))?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < ctx.argc() {
        match ctx.args.get(j + 1) {
            Some(val) if count.is_none() && ctx.arg(j).eq_ignore_ascii_case(b"count") => {
                count = Some(
                    parse_int(val).ok().filter(|c| *c > 0).ok_or(Error::msg("ERR count should be greater than 0"))?
                        as usize,
                );
                j += 2;
            }
            _ => return Err(Error::Syntax),
        }
    }
    Ok((numkeys_idx + 1..where_idx, end, count.unwrap_or(1)))
}

/// Writes one LMPOP/BLMPOP element: the `[key, [elements...]]` header before the first.
fn mpop_elem(out: &mut Reply<'_>, key: &[u8], i: usize, total: usize, e: Elem<'_>) {
    if i == 0 {
        out.array(2);
        out.bulk(key);
        out.array(total);
    }
    bulk(out, e);
}

/// `LMPOP numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`
fn lmpop(ctx: &mut Ctx<'_>) -> Result<()> {
    let (keys, end, count) = parse_mpop(ctx, 1)?;
    let keys: Vec<&[u8]> = keys.map(|i| ctx.arg(i)).collect();
    let acc = ctx.access;
    let out = &mut ctx.out;
    let mut first = None;
    let popped = acc.write_many(&keys, |m| {
        ops::mpop_locked(m, &acc, &keys, end, count, false, |key, i, total, e| {
            note_first(&mut first, key, i, total);
            mpop_elem(out, key, i, total, e)
        })
    })?;
    if popped.is_none() {
        out.null_array();
    }
    ops::announce_mpop(&acc, &keys, end, popped);
    propagate_pop(ctx, first, end, true);
    Ok(())
}

/// Remembers the key and element count of a pop (from its first element).
pub(crate) fn note_first(first: &mut Option<(Vec<u8>, usize)>, key: &[u8], i: usize, total: usize) {
    if i == 0 && crate::propagate::collecting() {
        *first = Some((key.to_vec(), total));
    }
}

/// Multi-key and blocking pops propagate as the plain pop that took effect, as Redis does:
/// `LPOP key` for BLPOP, `LPOP key <count>` for LMPOP/BLMPOP.
fn propagate_pop(ctx: &Ctx<'_>, first: Option<(Vec<u8>, usize)>, end: ListEnd, with_count: bool) {
    if let Some((key, total)) = first {
        let name: &[u8] = if end == ListEnd::Left { b"LPOP" } else { b"RPOP" };
        let total = total.to_string();
        let count = with_count.then_some(total.as_bytes());
        ctx.propagate_as([name, &key].into_iter().chain(count));
    }
}

/// Parses a blocking command's timeout (seconds, fractions allowed) into an absolute
/// deadline in Unix ms; `None` means forever (timeout 0).
///
/// Redis 7.0 parses the text as a `long double` (`strtold`: decimal or hex, `inf`, no
/// surrounding spaces), multiplies by 1000 and rounds up (`ceill`) to whole milliseconds;
/// a value that does not fit in 64 bits (including `inf`) wraps to negative and is reported
/// as "timeout is negative", and a tiny negative value rounds up to 0 (forever). Decimal
/// input is evaluated exactly here, which matches `long double` arithmetic everywhere but
/// at its last bit.
pub(crate) fn parse_timeout(arg: &[u8], now: i64) -> Result<Option<i64>> {
    let ms = timeout_ms(arg)?;
    Ok((ms > 0).then(|| now.saturating_add(ms)))
}

/// The timeout in ms (see [`parse_timeout`]).
fn timeout_ms(arg: &[u8]) -> Result<i64> {
    const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;
    let invalid = Error::InvalidTimeout;
    if arg.is_empty() || arg.len() > MAX_LONG_DOUBLE_CHARS || arg[0].is_ascii_whitespace() || arg[0] == 0x0b {
        return Err(invalid);
    }
    let (neg, body) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Err(Error::NegativeTimeout);
    }
    // Magnitude in ms, rounded down, plus "had a fractional part"; None = out of range.
    let (floor, frac) = if lower.starts_with(b"0x") {
        hex_ms(&lower[2..]).ok_or(invalid)?
    } else {
        decimal_ms(&lower).ok_or(invalid)?
    };
    match (neg, floor) {
        // ceil(-x) for 0 <= x < 1 ms is 0: "forever".
        (true, Some(0)) => Ok(0),
        (true, _) => Err(Error::NegativeTimeout),
        (false, Some(f)) => {
            let ms = if frac { f.checked_add(1) } else { Some(f) };
            ms.ok_or(Error::NegativeTimeout)
        }
        (false, None) => Err(Error::NegativeTimeout),
    }
}

/// Decimal `digits[.digits][e[+-]digits]` times 1000: `Some((floor, has_fraction))` with
/// `floor` `None` when it exceeds `i64::MAX`; `None` if the text is not a number (or is
/// outside `long double`'s range, which `strtold` reports as an error).
fn decimal_ms(s: &[u8]) -> Option<(Option<i64>, bool)> {
    let mut digits: Vec<u8> = Vec::new();
    let mut point: i64 = 0; // digits after the decimal point
    let mut seen_digit = false;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        digits.push(s[i] - b'0');
        seen_digit = true;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            digits.push(s[i] - b'0');
            point += 1;
            seen_digit = true;
            i += 1;
        }
    }
    if !seen_digit {
        return None;
    }
    let mut exp: i64 = 0;
    if i < s.len() && s[i] == b'e' {
        i += 1;
        let eneg = match s.get(i) {
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
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            exp = exp.saturating_mul(10).saturating_add((s[i] - b'0') as i64);
            i += 1;
        }
        if i == start {
            return None;
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != s.len() {
        return None;
    }
    // value = digits * 10^(exp - point); in ms: * 10^3.
    let lead = digits.iter().position(|&d| d != 0);
    let Some(lead) = lead else { return Some((Some(0), false)) };
    let digits = &digits[lead..];
    let scale = exp.saturating_sub(point).saturating_add(3);
    // Decimal magnitude of the value in seconds, for strtold's range check.
    let magnitude = (digits.len() as i64).saturating_add(exp.saturating_sub(point)).saturating_sub(1);
    if !(-4931..=4932).contains(&magnitude) {
        return None;
    }
    let int_len = digits.len() as i64 + scale;
    if int_len <= 0 {
        return Some((Some(0), true));
    }
    let mut v: Option<i64> = Some(0);
    let mut frac = false;
    for k in 0..int_len {
        let d = digits.get(k as usize).copied().unwrap_or(0) as i64;
        v = v.and_then(|v| v.checked_mul(10)).and_then(|v| v.checked_add(d));
        if v.is_none() {
            break;
        }
    }
    if (int_len as usize) < digits.len() {
        frac = digits[int_len as usize..].iter().any(|&d| d != 0);
    }
    Some((v, frac))
}

/// Hex float `h[.h][p[+-]d]` times 1000, like [`decimal_ms`] (through `f64`).
fn hex_ms(s: &[u8]) -> Option<(Option<i64>, bool)> {
    let mut v = 0f64;
    let mut scale = 0i64;
    let mut seen = false;
    let mut i = 0;
    let mut in_frac = false;
    while i < s.len() {
        match s[i] {
            b'.' if !in_frac => in_frac = true,
            c if c.is_ascii_hexdigit() => {
                v = v * 16.0 + (c as char).to_digit(16).unwrap_or(0) as f64;
                if in_frac {
                    scale -= 4;
                }
                seen = true;
            }
            _ => break,
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    if i < s.len() && s[i] == b'p' {
        i += 1;
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
        let start = i;
        let mut e = 0i64;
        while i < s.len() && s[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add((s[i] - b'0') as i64);
            i += 1;
        }
        if i == start {
            return None;
        }
        scale = scale.saturating_add(if neg { -e } else { e });
    }
    if i != s.len() {
        return None;
    }
    let ms = v * 2f64.powi(scale.clamp(-20000, 20000) as i32) * 1000.0;
    if !ms.is_finite() || ms >= (1u64 << 63) as f64 {
        return Some((None, false));
    }
    Some((Some(ms.floor() as i64), ms.fract() != 0.0))
}

/// True when `key` holds something other than a list (under locks already held).
fn holds_other_type(m: &mut crate::access::MultiShard<'_>, acc: &crate::access::Access<'_>, key: &[u8]) -> bool {
    let h = acc.hash(key);
    m.shard(h).get_mut(h, key, acc.now).is_some_and(|n| !matches!(n.value, Value::List(_)))
}

fn bpop_cmd(ctx: &mut Ctx<'_>, end: ListEnd) -> Result<()> {
    let argc = ctx.argc();
    let deadline = parse_timeout(ctx.arg(argc - 1), ctx.now())?;
    let keys: Vec<&[u8]> = (1..argc - 1).map(|i| ctx.arg(i)).collect();
    blocking_mpop(ctx, &keys, end, 1, deadline, |out, key, _, _, e| {
        out.array(2);
        out.bulk(key);
        bulk(out, e);
    })
}

/// Pops from the first non-empty list among `keys` writing elements with `write`, or
/// blocks the client on `keys` (reply null array on timeout).
fn blocking_mpop(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    end: ListEnd,
    count: usize,
    deadline: Option<i64>,
    write: fn(&mut Reply<'_>, &[u8], usize, usize, Elem<'_>),
) -> Result<()> {
    let serving = ctx.client.blocking.serving;
    let (acc, args) = (ctx.access, ctx.args);
    let registry = &ctx.db.inner.blocking;
    let (out, client) = (&mut ctx.out, &mut *ctx.client);
    let mut first = None;
    let popped = acc.write_many(keys, |m| {
        let popped = ops::mpop_locked(m, &acc, keys, end, count, serving, |key, i, total, e| {
            note_first(&mut first, key, i, total);
            write(out, key, i, total, e)
        })?;
        if popped.is_none() && !serving {
            let owned = keys.iter().map(|k| k.to_vec()).collect();
            if !registry.block(client, owned, args.iter().collect(), deadline, true) {
                out.null_array();
            }
        }
        Ok(popped)
    })?;
    ops::announce_mpop(&acc, keys, end, popped);
    propagate_pop(ctx, first, end, ctx.spec.name == "blmpop");
    Ok(())
}

/// `BLPOP key [key ...] timeout`
fn blpop(ctx: &mut Ctx<'_>) -> Result<()> {
    bpop_cmd(ctx, ListEnd::Left)
}

/// `BRPOP key [key ...] timeout`
fn brpop(ctx: &mut Ctx<'_>) -> Result<()> {
    bpop_cmd(ctx, ListEnd::Right)
}

/// `BLMPOP timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`
fn blmpop(ctx: &mut Ctx<'_>) -> Result<()> {
    let (keys, end, count) = parse_mpop(ctx, 2)?;
    let deadline = parse_timeout(ctx.arg(1), ctx.now())?;
    let keys: Vec<&[u8]> = keys.map(|i| ctx.arg(i)).collect();
    blocking_mpop(ctx, &keys, end, count, deadline, mpop_elem)
}

fn blocking_move(ctx: &mut Ctx<'_>, from: ListEnd, to: ListEnd, timeout_idx: usize) -> Result<()> {
    let deadline = parse_timeout(ctx.arg(timeout_idx), ctx.now())?;
    let (src, dst) = (ctx.arg(1), ctx.arg(2));
    let serving = ctx.client.blocking.serving;
    let (acc, args) = (ctx.access, ctx.args);
    let registry = &ctx.db.inner.blocking;
    let (out, client) = (&mut ctx.out, &mut *ctx.client);
    let moved = acc.write_many(&[src, dst], |m| {
        // A waiter is only served from a list; anything else keeps it waiting.
        if serving && holds_other_type(m, &acc, src) {
            return Ok(None);
        }
        let moved = ops::lmove_locked(m, &acc, src, dst, from, to)?;
        match &moved {
            Some(mv) => out.bulk(&mv.value),
            None if serving => {}
            None => {
                if !registry.block(client, vec![src.to_vec()], args.iter().collect(), deadline, true) {
                    out.null();
                }
            }
        }
        Ok(moved)
    })?;
    if let Some(mv) = moved {
        ops::announce_move(&acc, src, dst, from, to, &mv);
    }
    // Propagated as the non-blocking move that took effect.
    if ctx.spec.name == "brpoplpush" {
        ctx.propagate_as([&b"RPOPLPUSH"[..], src, dst]);
    } else {
        ctx.propagate_as([&b"LMOVE"[..], src, dst, ctx.arg(3), ctx.arg(4)]);
    }
    Ok(())
}

/// `BRPOPLPUSH source destination timeout`
fn brpoplpush(ctx: &mut Ctx<'_>) -> Result<()> {
    blocking_move(ctx, ListEnd::Right, ListEnd::Left, 3)
}

/// `BLMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout`
fn blmove(ctx: &mut Ctx<'_>) -> Result<()> {
    let from = ListEnd::parse(ctx.arg(3))?;
    let to = ListEnd::parse(ctx.arg(4))?;
    blocking_move(ctx, from, to, 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        let ms = |s: &str| timeout_ms(s.as_bytes());
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("1"), Ok(1000));
        assert_eq!(ms("0.1"), Ok(100));
        assert_eq!(ms("0.0001"), Ok(1));
        assert_eq!(ms("-0.0001"), Ok(0));
        assert_eq!(ms("-0"), Ok(0));
        assert_eq!(ms("+1"), Ok(1000));
        assert_eq!(ms(".5"), Ok(500));
        assert_eq!(ms("5."), Ok(5000));
        assert_eq!(ms("1e1"), Ok(10000));
        assert_eq!(ms("1e-400"), Ok(1));
        assert_eq!(ms("0x10"), Ok(16000));
        assert_eq!(ms("0x0.1p-4"), Ok(4));
        assert_eq!(ms("9223372036854775.807"), Ok(i64::MAX));
        assert_eq!(ms("9223372036854775.808"), Err(Error::NegativeTimeout));
        assert_eq!(ms("92233720368547758"), Err(Error::NegativeTimeout));
        assert_eq!(ms("-1"), Err(Error::NegativeTimeout));
        assert_eq!(ms("-0.5"), Err(Error::NegativeTimeout));
        assert_eq!(ms("inf"), Err(Error::NegativeTimeout));
        assert_eq!(ms("-inf"), Err(Error::NegativeTimeout));
        assert_eq!(ms("infinity"), Err(Error::NegativeTimeout));
        assert_eq!(ms("1e400"), Err(Error::NegativeTimeout));
        assert_eq!(ms("1e5000"), Err(Error::InvalidTimeout));
        assert_eq!(ms("nan"), Err(Error::InvalidTimeout));
        assert_eq!(ms(""), Err(Error::InvalidTimeout));
        assert_eq!(ms(" 1"), Err(Error::InvalidTimeout));
        assert_eq!(ms("1 "), Err(Error::InvalidTimeout));
        assert_eq!(ms("x"), Err(Error::InvalidTimeout));
        assert_eq!(ms("1e"), Err(Error::InvalidTimeout));
        assert_eq!(ms("."), Err(Error::InvalidTimeout));
    }
}
