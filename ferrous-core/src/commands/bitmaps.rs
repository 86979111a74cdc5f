//! Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//!
//! Argument parsing follows Redis 7.0's order exactly; in particular BITCOUNT and BITPOS
//! look the key up before they parse their range, so a missing key answers 0 (or -1) even
//! when the range arguments are invalid.
use super::{Ctx, Handler};
use crate::access::Access;
use crate::error::{Error, Result};
use crate::types::bitmaps::{
    self as ops, BitOp, BitPosRange, BitRange, BitUnit, BitfieldOp, BitfieldOverflow, BitfieldType,
};
use crate::types::strings::bit_offset_too_large;
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("setbit", setbit),
    ("getbit", getbit),
    ("bitcount", bitcount),
    ("bitpos", bitpos),
    ("bitop", bitop),
    ("bitfield", bitfield),
    ("bitfield_ro", bitfield_ro),
];

/// Redis's `getBitOffsetFromArgument`: a non-negative bit offset whose byte is below
/// `proto-max-bulk-len`. With `hash_bits` (BITFIELD), `#n` means `n * bits`.
fn parse_bit_offset(acc: &Access<'_>, arg: &[u8], hash_bits: Option<u32>) -> Result<u64> {
    let (digits, scale) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    // Redis multiplies in 64-bit arithmetic that wraps; a wrapped negative is rejected below.
    let v = ferrous_resp::parse_i64(digits).ok_or(Error::BitOffset)?.wrapping_mul(scale);
    if v < 0 || bit_offset_too_large(acc, v as u64) {
        return Err(Error::BitOffset);
    }
    Ok(v as u64)
}

/// BYTE or BIT (case-insensitive), else a syntax error.
fn parse_unit(arg: &[u8]) -> Result<BitUnit> {
    if arg.eq_ignore_ascii_case(b"BIT") {
        Ok(BitUnit::Bit)
    } else if arg.eq_ignore_ascii_case(b"BYTE") {
        Ok(BitUnit::Byte)
    } else {
        Err(Error::Syntax)
    }
}

/// `SETBIT key offset value`
fn setbit(ctx: &mut Ctx<'_>) -> Result<()> {
    let offset = parse_bit_offset(&ctx.access, ctx.arg(2), None)?;
    let on = match ferrous_resp::parse_i64(ctx.arg(3)) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(Error::BitValue),
    };
    let old = ops::setbit(&ctx.access, ctx.arg(1), offset, on)?;
    ctx.out.int(i64::from(old));
    Ok(())
}

/// `GETBIT key offset`
fn getbit(ctx: &mut Ctx<'_>) -> Result<()> {
    let offset = parse_bit_offset(&ctx.access, ctx.arg(2), None)?;
    let bit = ops::getbit(&ctx.access, ctx.arg(1), offset)?;
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// `BITCOUNT key [start end [BYTE | BIT]]`
fn bitcount(ctx: &mut Ctx<'_>) -> Result<()> {
    let args = ctx.args;
    let n = ctx.access.read(args.at(1), |node| -> Result<u64> {
        let Some(node) = node else { return Ok(0) };
        let s = node.value.as_str().ok_or(Error::WrongType)?;
        let range = match args.len() {
            2 => None,
            4 | 5 => {
                let start = parse_int(args.at(2))?;
                let end = parse_int(args.at(3))?;
                // Redis answers this case before it looks at the unit argument.
                if start < 0 && end < 0 && start > end {
                    return Ok(0);
                }
                let unit = if args.len() == 5 { parse_unit(args.at(4))? } else { BitUnit::Byte };
                Some(BitRange { start, end, unit })
            }
            _ => return Err(Error::Syntax),
        };
        Ok(ops::bitcount_bytes(&s, range))
    })?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `BITPOS key bit [start [end [BYTE | BIT]]]`
fn bitpos(ctx: &mut Ctx<'_>) -> Result<()> {
    let bit = match parse_int(ctx.arg(2))? {
        0 => false,
        1 => true,
        _ => return Err(Error::msg("ERR The bit argument must be 1 or 0.")),
    };
    let args = ctx.args;
    let pos = ctx.access.read(args.at(1), |node| -> Result<i64> {
        let Some(node) = node else { return Ok(if bit { -1 } else { 0 }) };
        let s = node.value.as_str().ok_or(Error::WrongType)?;
        let range = match args.len() {
            3 => None,
            4..=6 => {
                let start = parse_int(args.at(3))?;
                let unit = if args.len() == 6 { parse_unit(args.at(5))? } else { BitUnit::Byte };
                let end = if args.len() >= 5 { Some(parse_int(args.at(4))?) } else { None };
                Some(BitPosRange { start, end, unit })
            }
            _ => return Err(Error::Syntax),
        };
        Ok(ops::bitpos_bytes(&s, bit, range))
    })?;
    ctx.out.int(pos);
    Ok(())
}

/// `BITOP <AND | OR | XOR | NOT> destkey key [key ...]`
fn bitop(ctx: &mut Ctx<'_>) -> Result<()> {
    let name = ctx.arg(1);
    let op = [(&b"AND"[..], BitOp::And), (b"OR", BitOp::Or), (b"XOR", BitOp::Xor), (b"NOT", BitOp::Not)]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map(|(_, op)| op)
        .ok_or(Error::Syntax)?;
    let sources: Vec<&[u8]> = ctx.args.iter().skip(3).collect();
    let len = ops::bitop(&ctx.access, op, ctx.arg(2), &sources)?;
    ctx.out.int(len as i64);
    Ok(())
}

/// Parses BITFIELD's operation list, with Redis's errors and their order.
fn parse_bitfield_ops(ctx: &Ctx<'_>) -> Result<Vec<BitfieldOp>> {
    let mut ops = Vec::new();
    let mut j = 2;
    while j < ctx.argc() {
        let remaining = ctx.argc() - j - 1;
        let sub = ctx.arg(j);
        let is = |name: &[u8], needs: usize| sub.eq_ignore_ascii_case(name) && remaining >= needs;
        let kind = if is(b"GET", 2) {
            0
        } else if is(b"SET", 3) {
            1
        } else if is(b"INCRBY", 3) {
            2
        } else if is(b"OVERFLOW", 1) {
            let ow = ctx.arg(j + 1);
            let ow = if ow.eq_ignore_ascii_case(b"WRAP") {
                BitfieldOverflow::Wrap
            } else if ow.eq_ignore_ascii_case(b"SAT") {
                BitfieldOverflow::Sat
            } else if ow.eq_ignore_ascii_case(b"FAIL") {
                BitfieldOverflow::Fail
            } else {
                return Err(Error::msg("ERR Invalid OVERFLOW type specified"));
            };
            ops.push(BitfieldOp::Overflow(ow));
            j += 2;
            continue;
        } else {
            return Err(Error::Syntax);
        };
        let ty = BitfieldType::parse(ctx.arg(j + 1))?;
        let offset = parse_bit_offset(&ctx.access, ctx.arg(j + 2), Some(ty.bits()))?;
        ops.push(match kind {
            0 => BitfieldOp::Get(ty, offset),
            1 => BitfieldOp::Set(ty, offset, parse_int(ctx.arg(j + 3))?),
            _ => BitfieldOp::IncrBy(ty, offset, parse_int(ctx.arg(j + 3))?),
        });
        j += if kind == 0 { 3 } else { 4 };
    }
    Ok(ops)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, read_only: bool) -> Result<()> {
    let ops = parse_bitfield_ops(ctx)?;
    let replies = ops::bitfield(&ctx.access, ctx.arg(1), &ops, read_only)?;
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `BITFIELD key [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>]
/// <SET encoding offset value | INCRBY encoding offset increment> [...]]`
fn bitfield(ctx: &mut Ctx<'_>) -> Result<()> {
    bitfield_generic(ctx, false)
}

/// `BITFIELD_RO key [GET encoding offset [GET encoding offset ...]]`
fn bitfield_ro(ctx: &mut Ctx<'_>) -> Result<()> {
    bitfield_generic(ctx, true)
}
