//! Generic keyspace commands: DEL EXISTS TYPE EXPIRE TTL PERSIST RENAME KEYS SCAN RANDOMKEY
//! DBSIZE FLUSHDB FLUSHALL SWAPDB MOVE COPY TOUCH OBJECT.
//!
//! Handlers only parse arguments (with Redis 7.0's exact errors, in Redis's order) and
//! write replies; the semantics live in [`crate::types::keys`], shared with the typed API.
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::types::keys::{self as ops, ExpireCondition, FlushMode, ScanOptions};
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("del", del),
    ("unlink", unlink),
    ("exists", exists),
    ("touch", touch),
    ("type", type_),
    ("expire", expire),
    ("pexpire", pexpire),
    ("expireat", expireat),
    ("pexpireat", pexpireat),
    ("ttl", ttl),
    ("pttl", pttl),
    ("expiretime", expiretime),
    ("pexpiretime", pexpiretime),
    ("persist", persist),
    ("rename", rename),
    ("renamenx", renamenx),
    ("keys", keys),
    ("scan", scan),
    ("randomkey", randomkey),
    ("dbsize", dbsize),
    ("flushdb", flushdb),
    ("flushall", flushall),
    ("swapdb", swapdb),
    ("move", move_),
    ("copy", copy),
    ("object|encoding", object_encoding),
    ("object|freq", object_freq),
    ("object|idletime", object_idletime),
    ("object|refcount", object_refcount),
    ("object|help", object_help),
];

/// The arguments from position 1 on (the keys of DEL, EXISTS, TOUCH...).
fn keys_from_1<'a>(ctx: &Ctx<'a>) -> Vec<&'a [u8]> {
    ctx.args.iter().skip(1).collect()
}

/// `DEL key [key ...]`
fn del(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::del(&ctx.access, &keys_from_1(ctx));
    ctx.out.int(n as i64);
    Ok(())
}

/// `UNLINK key [key ...]`
fn unlink(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::unlink(&ctx.access, &keys_from_1(ctx));
    ctx.out.int(n as i64);
    Ok(())
}

/// `EXISTS key [key ...]`
fn exists(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::exists(&ctx.access, &keys_from_1(ctx));
    ctx.out.int(n as i64);
    Ok(())
}

/// `TOUCH key [key ...]`
fn touch(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ops::touch(&ctx.access, &keys_from_1(ctx));
    ctx.out.int(n as i64);
    Ok(())
}

/// `TYPE key`
fn type_(ctx: &mut Ctx<'_>) -> Result<()> {
    let t = ops::type_of(&ctx.access, ctx.arg(1));
    ctx.out.simple(t);
    Ok(())
}

/// Parses EXPIRE's trailing `NX | XX | GT | LT` options.
fn expire_condition(ctx: &Ctx<'_>) -> Result<ExpireCondition> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in ctx.args.iter().skip(3) {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                // Redis formats the option into the error line, with CR/LF blanked out.
                let shown: String = String::from_utf8_lossy(opt)
                    .chars()
                    .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
                    .collect();
                return Err(Error::msg(format!("ERR Unsupported option {shown}")));
            }
        }
    }
    ExpireCondition::from_flags(nx, xx, gt, lt)
}

/// The EXPIRE family: options first, then the number, then overflow, then the key.
fn expire_generic(ctx: &mut Ctx<'_>, seconds: bool, relative: bool, cmd: &'static str) -> Result<()> {
    let cond = expire_condition(ctx)?;
    let value = parse_int(ctx.arg(2))?;
    let base = if relative { ctx.now() } else { 0 };
    let when = ops::expire_deadline(value, seconds, base, cmd)?;
    let done = ops::expire_at_ms(&ctx.access, ctx.arg(1), when, cond);
    // Propagated as PEXPIREAT in ms with the condition as sent; a time already past
    // deleted the key: a DEL.
    if when <= ctx.now() {
        if crate::propagate::collecting() {
            ctx.propagate_as([crate::propagate::del_word(&ctx.db.inner, "lazyfree-lazy-expire"), ctx.arg(1)]);
        }
    } else if cmd != "pexpireat" {
        let mut parts: Vec<&[u8]> = vec![b"PEXPIREAT", ctx.arg(1)];
        let when = when.to_string();
        parts.push(when.as_bytes());
        parts.extend(ctx.args.iter().skip(3));
        ctx.propagate_as(parts);
    }
    ctx.out.int(done as i64);
    Ok(())
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`
fn expire(ctx: &mut Ctx<'_>) -> Result<()> {
    expire_generic(ctx, true, true, "expire")
}

/// `PEXPIRE key milliseconds [NX | XX | GT | LT]`
fn pexpire(ctx: &mut Ctx<'_>) -> Result<()> {
    expire_generic(ctx, false, true, "pexpire")
}

/// `EXPIREAT key unix-time-seconds [NX | XX | GT | LT]`
fn expireat(ctx: &mut Ctx<'_>) -> Result<()> {
    expire_generic(ctx, true, false, "expireat")
}

/// `PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]`
fn pexpireat(ctx: &mut Ctx<'_>) -> Result<()> {
    expire_generic(ctx, false, false, "pexpireat")
}

fn ttl_reply(ctx: &mut Ctx<'_>, ms: bool, absolute: bool) -> Result<()> {
    let t = ops::ttl(&ctx.access, ctx.arg(1), ms, absolute);
    ctx.out.int(t);
    Ok(())
}

/// `TTL key`
fn ttl(ctx: &mut Ctx<'_>) -> Result<()> {
    ttl_reply(ctx, false, false)
}

/// `PTTL key`
fn pttl(ctx: &mut Ctx<'_>) -> Result<()> {
    ttl_reply(ctx, true, false)
}

/// `EXPIRETIME key`
fn expiretime(ctx: &mut Ctx<'_>) -> Result<()> {
    ttl_reply(ctx, false, true)
}

/// `PEXPIRETIME key`
fn pexpiretime(ctx: &mut Ctx<'_>) -> Result<()> {
    ttl_reply(ctx, true, true)
}

/// `PERSIST key`
fn persist(ctx: &mut Ctx<'_>) -> Result<()> {
    let done = ops::persist(&ctx.access, ctx.arg(1));
    ctx.out.int(done as i64);
    Ok(())
}

/// `RENAME key newkey`
fn rename(ctx: &mut Ctx<'_>) -> Result<()> {
    ops::rename(&ctx.access, ctx.arg(1), ctx.arg(2), false)?;
    ctx.out.ok();
    Ok(())
}

/// `RENAMENX key newkey`
fn renamenx(ctx: &mut Ctx<'_>) -> Result<()> {
    let done = ops::rename(&ctx.access, ctx.arg(1), ctx.arg(2), true)?;
    ctx.out.int(done as i64);
    Ok(())
}

fn bulk_array(ctx: &mut Ctx<'_>, items: &[Vec<u8>]) {
    ctx.out.array(items.len());
    for k in items {
        ctx.out.bulk(k);
    }
}

/// `KEYS pattern`
fn keys(ctx: &mut Ctx<'_>) -> Result<()> {
    let found = ops::keys(&ctx.access, ctx.arg(1));
    bulk_array(ctx, &found);
    Ok(())
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
fn scan(ctx: &mut Ctx<'_>) -> Result<()> {
    let cursor = ops::parse_cursor(ctx.arg(1))?;
    let mut opts = ScanOptions::default();
    let mut i = 2;
    while i < ctx.argc() {
        let has_value = i + 1 < ctx.argc();
        match ctx.arg(i).to_ascii_uppercase().as_slice() {
            b"COUNT" if has_value => {
                let n = parse_int(ctx.arg(i + 1))?;
                if n < 1 {
                    return Err(Error::Syntax);
                }
                opts.count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            b"MATCH" if has_value => opts.pattern = Some(ctx.arg(i + 1).to_vec()),
            b"TYPE" if has_value => opts.type_name = Some(String::from_utf8_lossy(ctx.arg(i + 1)).into_owned()),
            _ => return Err(Error::Syntax),
        }
        i += 2;
    }
    let (next, found) = ops::scan(&ctx.access, cursor, &opts);
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    bulk_array(ctx, &found);
    Ok(())
}

/// `RANDOMKEY`
fn randomkey(ctx: &mut Ctx<'_>) -> Result<()> {
    match ops::randomkey(&ctx.access) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `DBSIZE`
fn dbsize(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(ops::dbsize(&ctx.access) as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL's `[ASYNC | SYNC]`; without it, `lazyfree-lazy-user-flush` decides.
fn flush_mode(ctx: &Ctx<'_>) -> Result<FlushMode> {
    match ctx.argc() {
        1 => Ok(if ctx.db.inner.config.read().get_bool("lazyfree-lazy-user-flush") {
            FlushMode::Async
        } else {
            FlushMode::Sync
        }),
        2 if ctx.arg(1).eq_ignore_ascii_case(b"sync") => Ok(FlushMode::Sync),
        2 if ctx.arg(1).eq_ignore_ascii_case(b"async") => Ok(FlushMode::Async),
        _ => Err(Error::Syntax),
    }
}

/// `FLUSHDB [ASYNC | SYNC]`
fn flushdb(ctx: &mut Ctx<'_>) -> Result<()> {
    let mode = flush_mode(ctx)?;
    ops::flushdb(&ctx.access, mode);
    // Propagated even when the database was already empty, as Redis forces it.
    crate::propagate::force();
    ctx.out.ok();
    Ok(())
}

/// `FLUSHALL [ASYNC | SYNC]`
fn flushall(ctx: &mut Ctx<'_>) -> Result<()> {
    let mode = flush_mode(ctx)?;
    ops::flushall(&ctx.access, mode);
    crate::propagate::force();
    // With save points, Redis stops a running BGSAVE and saves the emptied dataset (a
    // failure is only logged).
    let inner = &ctx.db.inner;
    if inner.rdb.enabled.load(std::sync::atomic::Ordering::Relaxed)
        && !crate::persistence::save_points(&inner.config.read()).is_empty()
    {
        let _ = crate::persistence::save_empty(inner, ctx.access.is_held());
    }
    ctx.out.ok();
    Ok(())
}

/// A database index argument, parsed as Redis's `getIntFromObjectOrReply` (a C `int`).
fn parse_db(arg: &[u8]) -> Result<i64> {
    let v = parse_int(arg)?;
    if i32::try_from(v).is_err() {
        return Err(Error::msg("ERR value is out of range, value must between -2147483648 and 2147483647"));
    }
    Ok(v)
}

/// `SWAPDB index1 index2`
fn swapdb(ctx: &mut Ctx<'_>) -> Result<()> {
    let a = parse_db(ctx.arg(1)).map_err(|_| Error::msg("ERR invalid first DB index"))?;
    let b = parse_db(ctx.arg(2)).map_err(|_| Error::msg("ERR invalid second DB index"))?;
    ops::swapdb(&ctx.access, a, b)?;
    ctx.out.ok();
    Ok(())
}

/// `MOVE key db`
fn move_(ctx: &mut Ctx<'_>) -> Result<()> {
    let db = parse_db(ctx.arg(2))?;
    let moved = ops::move_key(&ctx.access, ctx.arg(1), db)?;
    ctx.out.int(moved as i64);
    Ok(())
}

/// `COPY source destination [DB destination-db] [REPLACE]`
fn copy(ctx: &mut Ctx<'_>) -> Result<()> {
    let (mut db, mut replace) = (None, false);
    let mut i = 3;
    while i < ctx.argc() {
        let arg = ctx.arg(i);
        if arg.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if arg.eq_ignore_ascii_case(b"db") && i + 1 < ctx.argc() {
            let d = parse_db(ctx.arg(i + 1))?;
            // Redis checks the index as soon as it reads it, before later options.
            if usize::try_from(d).map_or(true, |d| d >= ctx.db.inner.db_count()) {
                return Err(Error::DbIndexOutOfRange);
            }
            db = Some(d);
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    let copied = ops::copy(&ctx.access, ctx.arg(1), ctx.arg(2), db, replace)?;
    ctx.out.int(copied as i64);
    Ok(())
}

/// `OBJECT ENCODING key`
fn object_encoding(ctx: &mut Ctx<'_>) -> Result<()> {
    match ops::object_encoding(&ctx.access, ctx.arg(2)) {
        Some(e) => ctx.out.bulk(e.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

fn int_or_null(ctx: &mut Ctx<'_>, v: Option<i64>) {
    match v {
        Some(v) => ctx.out.int(v),
        None => ctx.out.null(),
    }
}

/// `OBJECT FREQ key`
fn object_freq(ctx: &mut Ctx<'_>) -> Result<()> {
    let v = ops::object_freq(&ctx.access, ctx.arg(2))?;
    int_or_null(ctx, v);
    Ok(())
}

/// `OBJECT IDLETIME key`
fn object_idletime(ctx: &mut Ctx<'_>) -> Result<()> {
    let v = ops::object_idletime(&ctx.access, ctx.arg(2))?;
    int_or_null(ctx, v);
    Ok(())
}

/// `OBJECT REFCOUNT key`
fn object_refcount(ctx: &mut Ctx<'_>) -> Result<()> {
    let v = ops::object_refcount(&ctx.access, ctx.arg(2));
    int_or_null(ctx, v);
    Ok(())
}

/// `OBJECT HELP`
fn object_help(ctx: &mut Ctx<'_>) -> Result<()> {
    const HELP: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(HELP.len());
    for line in HELP {
        ctx.out.simple(line);
    }
    Ok(())
}
