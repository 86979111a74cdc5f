//! Key-space commands: DEL EXISTS DBSIZE ...
use super::{Ctx, Handler};
use crate::error::Result;
use crate::types::keys as ops;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[("del", del), ("exists", exists), ("dbsize", dbsize)];

/// `DEL key [key ...]`
fn del(ctx: &mut Ctx<'_>) -> Result<()> {
    let keys: Vec<&[u8]> = ctx.args.iter().skip(1).collect();
    let n = ops::del(&ctx.access, &keys);
    ctx.out.int(n as i64);
    Ok(())
}

/// `EXISTS key [key ...]`
fn exists(ctx: &mut Ctx<'_>) -> Result<()> {
    let keys: Vec<&[u8]> = ctx.args.iter().skip(1).collect();
    let n = ops::exists(&ctx.access, &keys);
    ctx.out.int(n as i64);
    Ok(())
}

/// `DBSIZE`
fn dbsize(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(ctx.access.keyspace().len() as i64);
    Ok(())
}
