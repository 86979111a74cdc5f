//! `struct`: Roberto Ierusalimschy's struct library as Redis ships it (pack, unpack, size).
//!
//! Formats: `>` big endian, `<` little endian, `![n]` alignment, `x` padding, `b/B` byte,
//! `h/H` short, `l/L` long (8 bytes), `i/I[n]` integer of n bytes (default 4, at most 32),
//! `c[n]` n chars (`c0`: the whole string when packing, the previous number when unpacking),
//! `s` zero-terminated string, `f` float, `d` double, ` ` ignored. Sizes, alignment and the
//! integer conversions follow the C code on x86-64 byte for byte, including its quirks
//! (bytes past the eighth of a wide integer are zero when packing).
use crate::args::Ret;
use crate::error::{arg_error, raise, type_error};
use crate::fmt::{c_f64_to_i64, c_f64_to_u64};
use mlua::{Lua, Table, Value, Variadic};

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;
/// Lua 5.1's `LUAI_MAXCSTACK`: a C function cannot push more values than this.
const MAX_STACK: usize = 8000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header { endian: Endian::Little, align: 1 }
    }
}

struct Fmt<'a> {
    f: &'a [u8],
    i: usize,
}

impl Fmt<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.f.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn getnum(&mut self, lua: &Lua, default: usize) -> mlua::Result<usize> {
        if !self.f.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(&c) = self.f.get(self.i).filter(|c| c.is_ascii_digit()) {
            let d = (c - b'0') as i64;
            if a > (i32::MAX as i64) / 10 || a * 10 > (i32::MAX as i64) - d {
                return Err(raise(lua, "integral size overflow"));
            }
            a = a * 10 + d;
            self.i += 1;
        }
        Ok(a as usize)
    }
}

fn optsize(lua: &Lua, opt: u8, fmt: &mut Fmt<'_>) -> mlua::Result<usize> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => fmt.getnum(lua, 1)?,
        b's' | b' ' | b'<' | b'>' | b'!' => 0,
        b'i' | b'I' => {
            let sz = fmt.getnum(lua, 4)?;
            if sz > MAXINTSIZE {
                return Err(raise(lua, format!("integral size {sz} is larger than limit of {MAXINTSIZE}")));
            }
            sz
        }
        _ => return Err(arg_error(lua, 1, &format!("invalid format option '{}'", opt as char))),
    })
}

fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & size.wrapping_sub(1))) & size.wrapping_sub(1)
}

fn commoncases(lua: &Lua, opt: u8, fmt: &mut Fmt<'_>, h: &mut Header) -> mlua::Result<()> {
    match opt {
        b'>' => h.endian = Endian::Big,
        b'<' => h.endian = Endian::Little,
        b'!' => {
            let a = fmt.getnum(lua, MAXALIGN)?;
            if a == 0 || a & (a - 1) != 0 {
                return Err(raise(lua, format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => {}
    }
    Ok(())
}

/// `luaL_checklstring`: strings, or numbers converted to their text.
fn check_string(lua: &Lua, args: &[Value], i: usize) -> mlua::Result<Vec<u8>> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => Ok(s.as_bytes().to_vec()),
            None => Err(type_error(lua, i + 1, "string", Some(v))),
        },
        v => Err(type_error(lua, i + 1, "string", v)),
    }
}

/// `luaL_checknumber`: numbers, or strings that convert.
fn check_number(lua: &Lua, args: &[Value], i: usize, nil_past_end: bool) -> mlua::Result<f64> {
    let v = args.get(i);
    match v {
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(s @ Value::String(_)) => match lua.coerce_number(s.clone())? {
            Some(n) => Ok(n),
            None => Err(type_error(lua, i + 1, "number", v)),
        },
        // `pack` pushes a nil right after its arguments (a separator), so the first missing
        // argument reads as nil and the next ones as "no value".
        None if nil_past_end && i == args.len() => Err(type_error(lua, i + 1, "number", Some(&Value::Nil))),
        _ => Err(type_error(lua, i + 1, "number", v)),
    }
}

fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Value> {
    let f = check_string(lua, &args, 0)?;
    let mut fmt = Fmt { f: &f, i: 0 };
    let mut h = Header::default();
    let mut arg = 1usize;
    let mut out: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(opt) = fmt.next() {
        let mut size = optsize(lua, opt, &mut fmt)?;
        let toalign = gettoalign(total, &h, opt, size);
        total = total.wrapping_add(toalign);
        out.resize(out.len() + toalign, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg, true)?;
                arg += 1;
                let value = if n < 0.0 { c_f64_to_i64(n) as u64 } else { c_f64_to_u64(n) };
                let mut bytes = [0u8; MAXINTSIZE];
                for (i, b) in bytes.iter_mut().take(size.min(8)).enumerate() {
                    *b = (value >> (8 * i)) as u8;
                }
                if h.endian == Endian::Big {
                    bytes[..size].reverse();
                }
                out.extend_from_slice(&bytes[..size]);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(lua, &args, arg, true)? as f32;
                arg += 1;
                let b = if h.endian == Endian::Big { n.to_be_bytes() } else { n.to_le_bytes() };
                out.extend_from_slice(&b);
            }
            b'd' => {
                let n = check_number(lua, &args, arg, true)?;
                arg += 1;
                let b = if h.endian == Endian::Big { n.to_be_bytes() } else { n.to_le_bytes() };
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                let s = if arg == args.len() {
                    return Err(type_error(lua, arg + 1, "string", Some(&Value::Nil)));
                } else {
                    check_string(lua, &args, arg)?
                };
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // Redis reports the argument after the string (the index was already bumped).
                    return Err(arg_error(lua, arg + 1, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => commoncases(lua, opt, &mut fmt, &mut h)?,
        }
        total = total.wrapping_add(size);
    }
    Ok(Value::String(lua.create_string(&out)?))
}

fn get_integer(b: &[u8], endian: Endian, signed: bool) -> f64 {
    let size = b.len();
    let mut l: u64 = 0;
    let mut push = |byte: u8| l = (l << 8) | byte as u64;
    if endian == Endian::Big {
        b.iter().for_each(|&c| push(c));
    } else {
        b.iter().rev().for_each(|&c| push(c));
    }
    if !signed {
        return l as f64;
    }
    // `~0 << (size*8 - 1)`: x86 only uses the low 6 bits of the shift count.
    let shift = ((size as i64) * 8 - 1).rem_euclid(64) as u32;
    let mask = !0u64 << shift;
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Variadic<Ret>> {
    let f = check_string(lua, &args, 0)?;
    let data = check_string(lua, &args, 1)?;
    let ld = data.len();
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1i64,
        Some(_) => c_f64_to_i64(check_number(lua, &args, 2, false)?),
    };
    // The C code keeps the offset in a size_t: only 0 is refused, negative offsets wrap
    // around and fail the length check.
    if start == 0 {
        return Err(arg_error(lua, 3, "offset must be 1 or greater"));
    }
    let mut pos = (start as u64 as usize).wrapping_sub(1);
    let mut fmt = Fmt { f: &f, i: 0 };
    let mut h = Header::default();
    let mut results: Vec<Ret> = Vec::new();
    // The previous value on the stack, for `c0` (the data string before any result).
    let prev_number = |results: &Vec<Ret>| -> Option<f64> {
        let s = match results.last() {
            Some(Ret::Num(n)) => return Some(*n),
            Some(Ret::Str(s)) => s,
            None => &data,
        };
        let s = lua.create_string(s).ok()?;
        lua.coerce_number(Value::String(s)).ok().flatten()
    };
    while let Some(opt) = fmt.next() {
        let mut size = optsize(lua, opt, &mut fmt)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(arg_error(lua, 2, "data string too short"));
        }
        if 2 + results.len() + 2 > MAX_STACK {
            return Err(raise(lua, "stack overflow (too many results)"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                results.push(Ret::Num(get_integer(&data[pos..pos + size], h.endian, signed)));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let v = if h.endian == Endian::Big { f32::from_be_bytes(b) } else { f32::from_le_bytes(b) };
                results.push(Ret::Num(v as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = if h.endian == Endian::Big { f64::from_be_bytes(b) } else { f64::from_le_bytes(b) };
                results.push(Ret::Num(v));
            }
            b'c' => {
                if size == 0 {
                    let Some(n) = prev_number(&results) else {
                        return Err(raise(lua, "format 'c0' needs a previous size"));
                    };
                    size = c_f64_to_u64(n) as usize;
                    results.pop();
                    if !(size <= ld && pos <= ld - size) {
                        return Err(arg_error(lua, 2, "data string too short"));
                    }
                }
                results.push(Ret::Str(data[pos..pos + size].to_vec()));
            }
            b's' => {
                let Some(e) = data[pos..].iter().position(|&c| c == 0) else {
                    return Err(raise(lua, "unfinished string in data"));
                };
                size = e + 1;
                results.push(Ret::Str(data[pos..pos + e].to_vec()));
            }
            _ => commoncases(lua, opt, &mut fmt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    results.push(Ret::Num(pos.wrapping_add(1) as f64));
    Ok(Variadic::from_iter(results))
}

fn size(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Value> {
    let f = check_string(lua, &args, 0)?;
    let mut fmt = Fmt { f: &f, i: 0 };
    let mut h = Header::default();
    let mut pos = 0usize;
    while let Some(opt) = fmt.next() {
        let size = optsize(lua, opt, &mut fmt)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(lua, 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            commoncases(lua, opt, &mut fmt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(Value::Number(pos as f64))
}

/// Builds the `struct` table.
pub(crate) fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}
