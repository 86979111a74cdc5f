//! Server commands: COMMAND INFO CONFIG FLUSHALL DEBUG SHUTDOWN TIME ...
use super::{table, Ctx, Handler};
use crate::error::Result;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[("command", command), ("command|count", command_count)];

/// `COMMAND`: every command's INFO entry.
fn command(ctx: &mut Ctx<'_>) -> Result<()> {
    let t = table();
    ctx.out.array(t.len());
    for spec in t.iter() {
        ctx.out.value(&spec.info);
    }
    Ok(())
}

/// `COMMAND COUNT`
fn command_count(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(table().len() as i64);
    Ok(())
}
