//! Connection commands: PING ECHO SELECT QUIT HELLO AUTH CLIENT ...
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[("ping", ping), ("echo", echo), ("select", select), ("quit", quit)];

/// `PING [message]`
fn ping(ctx: &mut Ctx<'_>) -> Result<()> {
    match ctx.argc() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(ctx.arg(1)),
        _ => return Err(Error::WrongArity("ping".into())),
    }
    Ok(())
}

/// `ECHO message`
fn echo(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.bulk(ctx.arg(1));
    Ok(())
}

/// `SELECT index`
fn select(ctx: &mut Ctx<'_>) -> Result<()> {
    let i = parse_int(ctx.arg(1))?;
    if i < 0 || i as usize >= ctx.db.inner.db_count() {
        return Err(Error::DbIndexOutOfRange);
    }
    ctx.client.select(i as usize);
    ctx.out.ok();
    Ok(())
}

/// `QUIT`
fn quit(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}
