//! HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST.
//!
//! The representation and the operations live in [`crate::types::hyperloglog`]; the
//! handlers only parse arguments and shape replies.
use super::{Ctx, Handler};
use crate::error::Result;
use crate::types::hyperloglog::{self as ops, PfDebug, PfDebugReply};

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] =
    &[("pfadd", pfadd), ("pfcount", pfcount), ("pfmerge", pfmerge), ("pfdebug", pfdebug), ("pfselftest", pfselftest)];

/// `PFADD key [element [element ...]]`
fn pfadd(ctx: &mut Ctx<'_>) -> Result<()> {
    let elements: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    let updated = ops::pfadd(&ctx.access, ctx.arg(1), &elements)?;
    ctx.out.int(i64::from(updated));
    Ok(())
}

/// `PFCOUNT key [key ...]`
fn pfcount(ctx: &mut Ctx<'_>) -> Result<()> {
    let keys: Vec<&[u8]> = ctx.args.iter().skip(1).collect();
    let card = ops::pfcount(&ctx.access, &keys)?;
    // Redis replies the unsigned cardinality as a signed 64-bit integer.
    ctx.out.int(card as i64);
    Ok(())
}

/// `PFMERGE destkey [sourcekey [sourcekey ...]]`
fn pfmerge(ctx: &mut Ctx<'_>) -> Result<()> {
    let sources: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    ops::pfmerge(&ctx.access, ctx.arg(1), &sources)?;
    ctx.out.ok();
    Ok(())
}

/// `PFDEBUG <GETREG | DECODE | ENCODING | TODENSE> key`
fn pfdebug(ctx: &mut Ctx<'_>) -> Result<()> {
    let name = ctx.arg(1);
    let sub = [
        (&b"getreg"[..], PfDebug::GetReg),
        (b"decode", PfDebug::Decode),
        (b"encoding", PfDebug::Encoding),
        (b"todense", PfDebug::ToDense),
    ]
    .into_iter()
    .find(|(n, _)| name.eq_ignore_ascii_case(n))
    .map(|(_, s)| s);
    match ops::pfdebug(&ctx.access, ctx.arg(2), sub, name)? {
        PfDebugReply::Registers(regs) => {
            ctx.out.array(regs.len());
            for r in regs {
                ctx.out.int(i64::from(r));
            }
        }
        PfDebugReply::Decoded(text) => ctx.out.bulk(text.as_bytes()),
        PfDebugReply::Encoding(e) => ctx.out.simple(e.as_str()),
        PfDebugReply::Converted(c) => ctx.out.int(i64::from(c)),
    }
    Ok(())
}

/// `PFSELFTEST`: Redis's internal consistency test (register packing, sparse/dense
/// agreement and error bounds up to ten million elements).
fn pfselftest(ctx: &mut Ctx<'_>) -> Result<()> {
    ops::selftest(1000, 10_000_000, ops::sparse_max_bytes(&ctx.access))?;
    ctx.out.ok();
    Ok(())
}
