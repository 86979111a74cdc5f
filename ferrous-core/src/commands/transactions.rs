//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH.
//!
//! Queueing happens in [`super::dispatch`] (a client in MULTI gets `+QUEUED`, or an error
//! that dooms the transaction). EXEC write-locks every shard of every database, in order,
//! and runs the queue with those locks held (through `Access`'s held mode), so no client
//! on any thread observes part of a transaction.
use super::{Ctx, Handler};
use crate::error::{Error, Result};

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] =
    &[("multi", multi), ("exec", exec), ("discard", discard), ("watch", watch), ("unwatch", unwatch)];

/// `MULTI`
fn multi(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.client.tx.in_multi() {
        return Err(Error::msg("ERR MULTI calls can not be nested"));
    }
    ctx.client.tx.queue = Some(Vec::new());
    ctx.client.tx.aborted = false;
    ctx.out.ok();
    Ok(())
}

/// `DISCARD`
fn discard(ctx: &mut Ctx<'_>) -> Result<()> {
    if !ctx.client.tx.in_multi() {
        return Err(Error::msg("ERR DISCARD without MULTI"));
    }
    ctx.client.tx.queue = None;
    ctx.client.tx.aborted = false;
    ctx.db.inner.watches.unwatch_all(&mut ctx.client.tx);
    ctx.out.ok();
    Ok(())
}

/// `WATCH key [key ...]`
fn watch(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.client.tx.in_multi() {
        return Err(Error::msg("ERR WATCH inside MULTI is not allowed"));
    }
    for key in ctx.args.iter().skip(1) {
        let db = ctx.client.db;
        if ctx.client.tx.watched.iter().any(|w| w.db == db && w.key == key) {
            continue;
        }
        let alive = ctx.access.read(key, |n| n.is_some());
        ctx.db.inner.watches.watch(db, key, &ctx.client.tx.dirty);
        ctx.client.tx.watched.push(crate::transaction::Watched { db, key: key.to_vec(), alive });
    }
    ctx.out.ok();
    Ok(())
}

/// `UNWATCH`
fn unwatch(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.db.inner.watches.unwatch_all(&mut ctx.client.tx);
    ctx.out.ok();
    Ok(())
}

/// `EXEC`
fn exec(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(queue) = ctx.client.tx.queue.take() else {
        return Err(Error::msg("ERR EXEC without MULTI"));
    };
    let inner = &ctx.db.inner;
    if std::mem::take(&mut ctx.client.tx.aborted) {
        inner.watches.unwatch_all(&mut ctx.client.tx);
        return Err(Error::msg("EXECABORT Transaction discarded because of previous errors."));
    }
    let guards = crate::access::HeldLocks::acquire(inner, ctx.client.db);
    let held = ctx.access.held();
    let watched_ok = !ctx.client.tx.dirty.load(std::sync::atomic::Ordering::Relaxed)
        && ctx.client.tx.watched.iter().all(|w| !w.alive || held.with_db(w.db).read(&w.key, |n| n.is_some()));
    if !watched_ok {
        drop(guards);
        inner.watches.unwatch_all(&mut ctx.client.tx);
        ctx.out.null_array();
        return Ok(());
    }
    // Blocking commands inside MULTI behave like their non-blocking forms.
    ctx.client.blocking.disabled = true;
    ctx.client.tx.in_exec = true;
    ctx.out.array(queue.len());
    for args in &queue {
        super::dispatch_held(ctx.db, ctx.client, args.as_args(), ctx.out.buf());
    }
    ctx.client.tx.in_exec = false;
    ctx.client.blocking.disabled = false;
    drop(guards);
    inner.watches.unwatch_all(&mut ctx.client.tx);
    Ok(())
}
