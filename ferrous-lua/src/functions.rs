//! FUNCTION libraries: `#!lua name=lib` metadata, `redis.register_function` (both call forms,
//! flags, description), the library registry behind FUNCTION LIST/DELETE/FCALL, and the
//! FUNCTION DUMP/RESTORE payload (Redis's RDB encoding of libraries: opcode 245 and the
//! library code as an RDB string, then the RDB version and a CRC64).
use crate::error::raise_table;
use crate::flags::{split_args, ScriptFlags};
use crate::run::{with_active, RunKind};
use mlua::{Function, Lua, Value, Variadic};
use std::collections::{BTreeMap, HashMap};

/// A function registered by the library being loaded. The Lua function itself lives in the
/// state's function store under `id` (Rust holds no Lua reference to it).
pub(crate) struct Registered {
    pub(crate) name: Vec<u8>,
    pub(crate) desc: Option<Vec<u8>>,
    pub(crate) flags: ScriptFlags,
    pub(crate) id: i64,
}

/// `[a-zA-Z0-9_]+`.
pub(crate) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

const NAME_RULES: &str =
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// `lua_isstring` + `lua_tostring`: strings and numbers.
fn string_of(lua: &Lua, v: &Value) -> mlua::Result<Option<Vec<u8>>> {
    Ok(match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => lua.coerce_string(v.clone())?.map(|s| s.as_bytes().to_vec()),
        _ => None,
    })
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`, only while a FUNCTION LOAD runs.
pub(crate) fn register_function(lua: &Lua, args: Variadic<Value>, store: &FunctionStore) -> mlua::Result<()> {
    let loading = with_active(|a| a.is_some_and(|a| a.kind == RunKind::Load));
    if !loading {
        return Err(raise_table("redis.register_function can only be called on FUNCTION LOAD command"));
    }
    if args.is_empty() || args.len() > 2 {
        return Err(raise_table("wrong number of arguments to redis.register_function"));
    }
    let (name, func, desc, flags) = if args.len() == 1 {
        let Value::Table(t) = &args[0] else {
            return Err(raise_table(
                "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
            ));
        };
        let (mut name, mut func, mut desc, mut flags) = (None, None, None, ScriptFlags::default());
        for kv in t.pairs::<Value, Value>() {
            let (k, v) = kv?;
            let Some(key) = string_of(lua, &k)? else {
                return Err(raise_table("named argument key given to redis.register_function is not a string"));
            };
            if key.eq_ignore_ascii_case(b"function_name") {
                name = Some(string_of(lua, &v)?.ok_or_else(|| {
                    raise_table("function_name argument given to redis.register_function must be a string")
                })?);
            } else if key.eq_ignore_ascii_case(b"description") {
                desc = Some(string_of(lua, &v)?.ok_or_else(|| {
                    raise_table("description argument given to redis.register_function must be a string")
                })?);
            } else if key.eq_ignore_ascii_case(b"callback") {
                let Value::Function(f) = v else {
                    return Err(raise_table("callback argument given to redis.register_function must be a function"));
                };
                func = Some(f);
            } else if key.eq_ignore_ascii_case(b"flags") {
                let Value::Table(list) = v else {
                    return Err(raise_table(
                        "flags argument to redis.register_function must be a table representing function flags",
                    ));
                };
                let mut i = 1;
                loop {
                    let f: Value = list.get(i)?;
                    if matches!(f, Value::Nil) {
                        break;
                    }
                    match string_of(lua, &f)? {
                        Some(s) if flags.set(&s, true) => {}
                        _ => return Err(raise_table("unknown flag given")),
                    }
                    i += 1;
                }
            } else {
                return Err(raise_table("unknown argument given to redis.register_function"));
            }
        }
        let Some(name) = name else {
            return Err(raise_table("redis.register_function must get a function name argument"));
        };
        let Some(func) = func else {
            return Err(raise_table("redis.register_function must get a callback argument"));
        };
        (name, func, desc, flags)
    } else {
        let Some(name) = string_of(lua, &args[0])? else {
            return Err(raise_table("first argument to redis.register_function must be a string"));
        };
        let Value::Function(f) = &args[1] else {
            return Err(raise_table("second argument to redis.register_function must be a function"));
        };
        (name, f.clone(), None, ScriptFlags::default())
    };
    if !valid_name(&name) {
        return Err(raise_table(NAME_RULES));
    }
    let dup = with_active(|a| a.is_some_and(|a| a.registered.iter().any(|r| r.name == name)));
    if dup {
        return Err(raise_table("Function already exists in the library"));
    }
    let id = store.put(&func)?;
    with_active(|a| {
        if let Some(a) = a {
            a.registered.push(Registered { name, desc, flags, id });
        }
    });
    Ok(())
}

/// Lua functions kept by the engine (compiled scripts, registered functions), stored in a
/// Lua table the scripts cannot reach rather than as mlua references, which are limited.
#[derive(Clone)]
pub(crate) struct FunctionStore {
    table: mlua::Table,
    next_id: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl FunctionStore {
    pub(crate) fn new(lua: &Lua) -> mlua::Result<FunctionStore> {
        Ok(FunctionStore { table: lua.create_table()?, next_id: Default::default() })
    }

    /// The table the functions are kept in.
    pub(crate) fn table(&self) -> &mlua::Table {
        &self.table
    }

    /// Keeps `f` under a new numeric id.
    pub(crate) fn put(&self, f: &Function) -> mlua::Result<i64> {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.table.raw_set(id, f.clone())?;
        Ok(id)
    }

    /// Keeps `f` under a string key (a script's SHA1).
    pub(crate) fn put_named(&self, key: &[u8], f: &Function) -> mlua::Result<()> {
        self.table.raw_set(mlua::BString::from(key), f.clone())
    }

    /// Drops the function stored under `id`.
    pub(crate) fn remove(&self, id: i64) {
        let _ = self.table.raw_set(id, Value::Nil);
    }
}

/// A library's name and code from its `#!lua name=...` line.
pub(crate) struct LibraryMeta {
    pub(crate) name: Vec<u8>,
    /// The code after the shebang (from the newline, so that line numbers stay right).
    pub(crate) body_at: usize,
}

/// Parses the metadata line of a library (Redis 7.0 texts).
pub(crate) fn parse_metadata(code: &[u8]) -> Result<LibraryMeta, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = match split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let engine = &parts[0][2..];
    let mut name: Option<Vec<u8>> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("ERR Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(p[5..].to_vec());
            continue;
        }
        return Err(format!("ERR Invalid metadata value given: {}", String::from_utf8_lossy(p)));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err(format!("ERR {NAME_RULES}"));
    }
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!("ERR Engine '{}' not found", String::from_utf8_lossy(engine)));
    }
    Ok(LibraryMeta { name, body_at: end })
}

/// A loaded function.
#[derive(Clone)]
pub(crate) struct FunctionInfo {
    pub(crate) name: Vec<u8>,
    pub(crate) desc: Option<Vec<u8>>,
    pub(crate) flags: ScriptFlags,
    /// Key of the Lua function in the state's [`FunctionStore`].
    pub(crate) id: i64,
}

/// A loaded library.
pub(crate) struct Library {
    pub(crate) code: Vec<u8>,
    /// Its functions, in registration order.
    pub(crate) functions: Vec<FunctionInfo>,
}

/// The loaded libraries and the function index FCALL uses (function names are
/// case-insensitive across libraries, as in Redis's function dictionary).
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) libraries: BTreeMap<Vec<u8>, Library>,
    functions: HashMap<Vec<u8>, FunctionInfo>,
}

impl Registry {
    /// Finds a function by name (case-insensitively).
    pub(crate) fn function(&self, name: &[u8]) -> Option<&FunctionInfo> {
        self.functions.get(&name.to_ascii_lowercase())
    }

    /// Number of functions.
    pub(crate) fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// Adds a library (its functions must not collide with loaded ones).
    pub(crate) fn link(&mut self, name: Vec<u8>, lib: Library) {
        for f in &lib.functions {
            self.functions.insert(f.name.to_ascii_lowercase(), f.clone());
        }
        self.libraries.insert(name, lib);
    }

    /// Removes a library and its functions.
    pub(crate) fn unlink(&mut self, name: &[u8]) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            self.functions.remove(&f.name.to_ascii_lowercase());
        }
        Some(lib)
    }

    /// The first function of `lib` whose name is already taken by a loaded function.
    pub(crate) fn collision(&self, lib: &Library) -> Option<Vec<u8>> {
        lib.functions.iter().find(|f| self.function(&f.name).is_some()).map(|f| f.name.clone())
    }
}

// ---------------------------------------------------------------------------------------
// FUNCTION DUMP / RESTORE payloads

const RDB_OPCODE_FUNCTION_PRE_GA: u8 = 246;
const RDB_OPCODE_FUNCTION2: u8 = 245;
/// Redis 7.0's RDB version.
const RDB_VERSION: u16 = 10;

/// CRC-64/Jones (reflected polynomial 0x95ac9329ac4bc9b5), Redis's `crc64`.
pub fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    data.iter().fold(0u64, |crc, &b| table[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8))
}

fn save_len(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u32::MAX as usize {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// FUNCTION DUMP's payload for these library codes.
pub(crate) fn dump<'a>(codes: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(RDB_OPCODE_FUNCTION2);
        save_len(&mut out, code.len());
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// LZF decompression (RDB strings longer than 20 bytes are stored compressed by Redis).
fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len.min(1 << 26));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            out.extend_from_slice(input.get(i..i + n)?);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > out_len {
            return None;
        }
    }
    (out.len() == out_len).then_some(out)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    /// An RDB length, or an encoding tag (`Err`).
    fn len(&mut self) -> Option<Result<u64, u8>> {
        let b = self.byte()?;
        Some(match b >> 6 {
            0 => Ok((b & 0x3f) as u64),
            1 => Ok((((b & 0x3f) as u64) << 8) | self.byte()? as u64),
            2 => match b {
                0x80 => Ok(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as u64),
                0x81 => Ok(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
            _ => Err(b & 0x3f),
        })
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        match self.len()? {
            Ok(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Err(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Err(1) => Some(i16::from_le_bytes(self.take(2)?.try_into().ok()?).to_string().into_bytes()),
            Err(2) => Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?).to_string().into_bytes()),
            Err(3) => {
                let clen = usize::try_from(self.len()?.ok()?).ok()?;
                let len = usize::try_from(self.len()?.ok()?).ok()?;
                let packed = self.take(clen)?;
                lzf_decompress(packed, len)
            }
            Err(_) => None,
        }
    }
}

/// Checks the trailer of a payload (`verifyDumpPayload`).
fn verify(payload: &[u8]) -> bool {
    if payload.len() < 10 {
        return false;
    }
    let footer = &payload[payload.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return false;
    }
    let crc = u64::from_le_bytes(footer[2..10].try_into().unwrap_or([0; 8]));
    crc64(&payload[..payload.len() - 8]) == crc
}

/// The library codes in a FUNCTION RESTORE payload, or Redis's error text.
pub(crate) fn parse_dump(payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if !verify(payload) {
        return Err("ERR DUMP payload version or checksum are wrong".into());
    }
    let body = &payload[..payload.len() - 10];
    let mut r = Reader { data: body, pos: 0 };
    let mut codes = Vec::new();
    while r.pos < body.len() {
        let t = r.byte().ok_or("ERR can not read data type")?;
        if t == RDB_OPCODE_FUNCTION_PRE_GA {
            return Err("ERR Pre-GA function format not supported".into());
        }
        if t != RDB_OPCODE_FUNCTION2 {
            return Err("ERR given type is not a function".into());
        }
        codes.push(r.string().ok_or("ERR Failed loading library payload")?);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn redis_payload_decodes() {
        // FUNCTION DUMP from Redis 7.0.15 (LZF-compressed library code).
        let hex = "f5c34056405b1f23216c7561206e616d653d6d796c69620a72656469732e72656769737465725f0b66756e6374696f6e28226d79400b02222c2040066012116b6579732c2061726773292072657475726e600c075b315d20656e64290a00639983bd8b38b843";
        let payload = hex::decode(hex).unwrap();
        let codes = parse_dump(&payload).unwrap();
        assert_eq!(
            codes,
            vec![b"#!lua name=mylib\nredis.register_function(\"myfunc\", function(keys, args) return args[1] end)"
                .to_vec()]
        );
        let again = dump(codes.iter().map(|c| c.as_slice()));
        assert_eq!(parse_dump(&again).unwrap(), codes);
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert!(parse_dump(&bad).is_err());
    }

    #[test]
    fn metadata() {
        assert_eq!(parse_metadata(b"return 1").err().unwrap(), "ERR Missing library metadata");
        assert_eq!(parse_metadata(b"#!lua name=x").err().unwrap(), "ERR Invalid library metadata");
        assert_eq!(parse_metadata(b"#!lua\n").err().unwrap(), "ERR Library name was not given");
        assert_eq!(parse_metadata(b"#!js name=x\n").err().unwrap(), "ERR Engine 'js' not found");
        assert_eq!(parse_metadata(b"#!lua foo=x\n").err().unwrap(), "ERR Invalid metadata value given: foo=x");
        let m = parse_metadata(b"#!LUA NAME=lib\ncode").unwrap();
        assert_eq!(m.name, b"lib");
        assert_eq!(m.body_at, 14);
    }
}
