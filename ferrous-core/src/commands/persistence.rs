//! Persistence commands: SAVE BGSAVE LASTSAVE DUMP RESTORE RESTORE-ASKING.
//!
//! The work lives in [`crate::persistence`] (files, background saves) and
//! [`crate::types::dump`] (payloads); handlers parse and reply with Redis 7.0's texts.
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::persistence::{self as p, PersistError};
use crate::types::dump::{self as ops, RestoreOptions};
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("save", save),
    ("bgsave", bgsave),
    ("lastsave", lastsave),
    ("dump", dump),
    ("restore", restore),
    ("restore-asking", restore),
    ("bgrewriteaof", bgrewriteaof),
];

/// `BGREWRITEAOF`
fn bgrewriteaof(ctx: &mut Ctx<'_>) -> Result<()> {
    use crate::aof::writer::{self, AofWriteError};
    require_persistence(ctx)?;
    // During a BGSAVE the rewrite waits for the snapshot slot: Redis's "scheduled".
    let waits = ctx.db.inner.snapshot_running.load(std::sync::atomic::Ordering::Relaxed);
    match writer::rewrite_in_background(&ctx.db.inner) {
        Ok(()) if waits => ctx.out.simple("Background append only file rewriting scheduled"),
        Ok(()) => ctx.out.simple("Background append only file rewriting started"),
        Err(AofWriteError::InProgress) => {
            return Err(Error::msg("ERR Background append only file rewriting already in progress"))
        }
        Err(e) => return Err(Error::msg(format!("ERR {e}"))),
    }
    Ok(())
}

/// The error a failed save answers: Redis replies a bare `-ERR` and logs the reason.
fn save_failed(e: PersistError) -> Error {
    match e {
        PersistError::InProgress => Error::msg("ERR Background save already in progress"),
        _ => Error::msg("ERR"),
    }
}

/// Refuses file operations on a Database that was not given a directory: an embedded
/// `Database::new()` never touches the disk.
pub(crate) fn require_persistence(ctx: &Ctx<'_>) -> Result<()> {
    if ctx.db.inner.rdb.enabled.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    Err(Error::msg("ERR persistence is disabled for this database (build it with Database::builder().dir(..))"))
}

/// `SAVE`
fn save(ctx: &mut Ctx<'_>) -> Result<()> {
    require_persistence(ctx)?;
    p::save(&ctx.db.inner).map_err(save_failed)?;
    ctx.out.ok();
    Ok(())
}

/// `BGSAVE [SCHEDULE]`
fn bgsave(ctx: &mut Ctx<'_>) -> Result<()> {
    let schedule = match ctx.argc() {
        1 => false,
        2 if ctx.arg(1).eq_ignore_ascii_case(b"schedule") => true,
        _ => return Err(Error::Syntax),
    };
    require_persistence(ctx)?;
    let inner = &ctx.db.inner;
    if p::bgsave_in_progress(inner) {
        return Err(Error::msg("ERR Background save already in progress"));
    }
    if ctx.access.is_held() {
        // Inside EXEC (Redis's `server.in_exec`): the transaction holds the shards a
        // snapshot must lock to start, so the save runs from the cron right after it.
        inner.rdb.scheduled.store(true, std::sync::atomic::Ordering::Relaxed);
        ctx.out.simple("Background saving scheduled");
        return Ok(());
    }
    match p::bgsave(inner) {
        Ok(_) => ctx.out.simple("Background saving started"),
        // Another snapshot (a SAVE on another thread, later an AOF rewrite) is running.
        Err(PersistError::InProgress) if schedule => {
            inner.rdb.scheduled.store(true, std::sync::atomic::Ordering::Relaxed);
            ctx.out.simple("Background saving scheduled");
        }
        Err(PersistError::InProgress) => {
            return Err(Error::msg(
                "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            ))
        }
        Err(e) => return Err(save_failed(e)),
    }
    Ok(())
}

/// `LASTSAVE`
fn lastsave(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(ctx.db.inner.last_save.load(std::sync::atomic::Ordering::Relaxed));
    Ok(())
}

/// `DUMP key`
fn dump(ctx: &mut Ctx<'_>) -> Result<()> {
    match ops::dump(&ctx.access, ctx.arg(1)) {
        Some(payload) => ctx.out.bulk(&payload),
        None => ctx.out.null(),
    }
    Ok(())
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`
/// (and RESTORE-ASKING, the same outside a cluster).
fn restore(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut opts = RestoreOptions::default();
    let mut j = 4;
    while j < ctx.argc() {
        let more = ctx.argc() - j - 1;
        let a = ctx.arg(j).to_ascii_lowercase();
        match a.as_slice() {
            b"replace" => opts.replace = true,
            b"absttl" => opts.absttl = true,
            b"idletime" if more >= 1 && opts.freq.is_none() => {
                let idle = parse_int(ctx.arg(j + 1))?;
                if idle < 0 {
                    return Err(Error::msg("ERR Invalid IDLETIME value, must be >= 0"));
                }
                opts.idle_secs = Some(idle);
                j += 1;
            }
            b"freq" if more >= 1 && opts.idle_secs.is_none() => {
                let freq = parse_int(ctx.arg(j + 1))?;
                if !(0..=255).contains(&freq) {
                    return Err(Error::msg("ERR Invalid FREQ value, must be >= 0 and <= 255"));
                }
                opts.freq = Some(freq as u8);
                j += 1;
            }
            _ => return Err(Error::Syntax),
        }
        j += 1;
    }
    // Redis checks the key before the TTL: BUSYKEY wins over a bad TTL.
    let key = ctx.arg(1);
    if !opts.replace && ctx.access.read(key, |n| n.is_some()) {
        return Err(Error::msg("BUSYKEY Target key name already exists."));
    }
    opts.ttl_ms = parse_int(ctx.arg(2))?;
    ops::restore(&ctx.access, key, ctx.arg(3), opts)?;
    // A relative TTL is propagated as absolute (ABSTTL appended); a key already expired
    // that REPLACE deleted is propagated as a DEL.
    let abs = if opts.absttl { opts.ttl_ms } else { opts.ttl_ms.wrapping_add(ctx.now()) };
    if opts.ttl_ms != 0 && abs <= ctx.now() {
        ctx.propagate_as([&b"DEL"[..], key]);
    } else if opts.ttl_ms != 0 && !opts.absttl {
        let abs = abs.to_string();
        let rest = ctx.args.iter().skip(3);
        ctx.propagate_as([ctx.arg(0), key, abs.as_bytes()].into_iter().chain(rest).chain([&b"ABSTTL"[..]]));
    }
    ctx.out.ok();
    Ok(())
}
