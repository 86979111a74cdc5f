//! The sandbox: what scripts cannot reach or change, and the known escape and crash attempts
//! against Redis's Lua (bytecode, package.loadlib, metatables of library tables, deep
//! recursion, huge unpack, cmsgpack/struct size overflows, very large replies), each failing
//! cleanly with the engine still healthy afterwards.
mod common;

use common::Local;

fn is_error(reply: &str) -> bool {
    reply.starts_with('-')
}

#[test]
fn dangerous_globals_are_absent() {
    let mut l = Local::new();
    for name in [
        "os", "io", "debug", "package", "require", "loadfile", "dofile", "print", "module", "setfenv", "getfenv",
        "newproxy", "loadlib",
    ] {
        let r = l.eval(&format!("return {name}"));
        assert_eq!(
            r,
            format!("-ERR user_script:1: Script attempted to access nonexistent global variable '{name}' script: {}, on @user_script:1.\r\n", ferrous_lua::sha1_hex(format!("return {name}").as_bytes())),
        );
    }
    // Reading through _G or rawget does not find them either.
    assert_eq!(l.eval("return rawget(_G, 'os') == nil and rawget(_G, 'debug') == nil"), ":1\r\n");
    assert!(is_error(&l.eval("return package.loadlib('libc.so.6', 'system')")));
}

#[test]
fn globals_and_libraries_are_read_only() {
    let mut l = Local::new();
    for script in [
        "x = 1",
        "_G.x = 1",
        "string = nil",
        "string.format = function() return 'pwned' end",
        "rawset(string, 'format', 1)",
        "rawset(_G, 'x', 1)",
        "redis.call = function() return 'pwned' end",
        "cjson.encode = nil",
        "math.random = nil",
        "setmetatable(string, {})",
        "getmetatable('').__index = {}",
        "getmetatable('').__index.upper = function() return 'pwned' end",
        "local mt = getmetatable('') rawset(mt, '__index', {})",
        "setmetatable(_G, nil)",
    ] {
        let r = l.eval(script);
        assert!(r.contains("Attempt to modify a readonly table"), "{script}: {r}");
    }
    // Nothing changed.
    assert_eq!(l.eval("return string.format('%d', 5)"), "$1\r\n5\r\n");
    assert_eq!(l.eval("return ('abc'):upper()"), "$3\r\nABC\r\n");
    assert_eq!(l.eval("return type(cjson.encode)"), "$8\r\nfunction\r\n");
}

#[test]
fn library_proxies_keep_no_state_between_scripts() {
    let mut l = Local::new();
    // table.insert refuses library tables; remove and sort cannot change them.
    for script in ["table.insert(string, 'junk')", "table.insert(_G, 'junk')", "table.insert(redis, 1, 'junk')"] {
        assert!(l.eval(script).contains("Attempt to modify a readonly table"), "{script}");
    }
    assert_eq!(l.eval("table.remove(string) table.sort(cjson) return 1"), ":1\r\n");
    assert_eq!(l.eval("return {string[1] == nil, rawget(_G, 1) == nil, redis[1] == nil}"), "*3\r\n:1\r\n:1\r\n:1\r\n");
    // Its argument errors point at the script.
    assert!(l
        .eval("table.insert(nil, 1)")
        .starts_with("-ERR user_script:1: bad argument #1 to 'insert' (table expected, got nil)"));
    // Iterating a library sees the real table.
    assert_eq!(l.eval("local n = 0 for k in pairs(string) do n = n + 1 end return n"), ":15\r\n");
    // collectgarbage('stop') cannot leave the collector off.
    assert_eq!(l.eval("return collectgarbage('stop')"), ":0\r\n");
    assert_eq!(l.eval("local before = collectgarbage('count') for i = 1, 200000 do local t = {i} end return collectgarbage('count') < before + 10000"), ":1\r\n");
    // KEYS/ARGV belong to one run.
    l.cmd(&["EVAL", "return KEYS[1]", "1", "k"]);
    assert_eq!(l.eval("return #KEYS"), ":0\r\n");
}

#[test]
fn bytecode_cannot_be_loaded() {
    let mut l = Local::new();
    assert_eq!(l.eval("return type(string.dump(function() return 1 end))"), "$6\r\nstring\r\n");
    let r = l.eval("local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}");
    assert_eq!(r, "*2\r\n$3\r\nnil\r\n$53\r\n[string \"\x1bLuaQ\"]:1: unexpected symbol near 'char(27)'\r\n");
    let r = l.eval(
        "local s = string.dump(function() return 1 end) local done = false \
         local f, e = load(function() if done then return nil end done = true return s end) return {tostring(f), e}",
    );
    assert!(r.contains("unexpected symbol near 'char(27)'"), "{r}");
    // A script body that is bytecode does not compile either.
    let r = l.cmd(&["EVAL", "\x1bLuaQ\x00\x01\x04", "0"]);
    assert_eq!(r, "-ERR Error compiling script (new function): user_script:1: unexpected symbol near 'char(27)'\r\n");
    let r = l.cmd(&["FUNCTION", "LOAD", "#!lua name=b\n\x1bLuaQ"]);
    assert!(r.starts_with("-ERR Error compiling function: user_function:2:"), "{r}");
}

#[test]
fn deep_recursion_and_huge_values_fail_cleanly() {
    let mut l = Local::new();
    assert!(l.eval("local function f() return 1 + f() end return f()").contains("stack overflow"));
    assert!(l.eval("return unpack({}, 1, 1e8)").contains("too many results to unpack"));
    assert!(l
        .eval("local t = setmetatable({}, {}) getmetatable(t).__index = t return t.x")
        .contains("loop in gettable"));
    let r = l.eval("local t = {} setmetatable(t, {__index = function(t, k) return t[k] end}) return t.x");
    assert!(is_error(&r), "{r}");
    // Deeply nested tables: cjson refuses past 1000 levels; replies stop at the stack limit.
    let r = l.eval("local t = {} local c = t for i = 1, 100000 do c[1] = {} c = c[1] end return cjson.encode(t)");
    assert!(r.contains("Cannot serialise, excessive nesting (1001)"), "{r}");
    let r = l.eval("local t = {} local c = t for i = 1, 5000 do c[1] = {} c = c[1] end return t");
    assert!(r.contains("-ERR reached lua stack limit"), "{}", &r[..r.len().min(200)]);
    let r = l.eval("local t = {} t[1] = t return t");
    assert!(r.contains("-ERR reached lua stack limit"), "{}", &r[..r.len().min(200)]);
    assert_eq!(l.eval("local t = {} t[1] = t return #cmsgpack.pack(t)"), ":17\r\n");
    // cjson.decode of deep nesting.
    let r = l.eval("return cjson.decode(string.rep('[', 100000))");
    assert!(r.contains("Found too many nested data structures (1001)"), "{r}");
    assert_eq!(l.eval("return 'still alive'"), "$11\r\nstill alive\r\n");
}

#[test]
fn size_overflows_in_cmsgpack_and_struct() {
    let mut l = Local::new();
    // Lengths far beyond the data.
    for s in [
        "return cmsgpack.unpack('\\219\\255\\255\\255\\255ab')",
        "return cmsgpack.unpack('\\221\\255\\255\\255\\255')",
        "return cmsgpack.unpack('\\223\\255\\255\\255\\255')",
        "return cmsgpack.unpack('\\218\\255\\255')",
        "return cmsgpack.unpack_limit('\\1\\2', 2, 100)",
    ] {
        let r = l.eval(s);
        assert!(is_error(&r), "{s}: {r}");
    }
    let r = l.eval("return select('#', cmsgpack.unpack(string.rep('\\145', 100000) .. '\\1'))");
    assert!(r.contains("stack overflow"), "{r}");
    for s in [
        "return struct.pack('c2147483647', 'a')",
        "return struct.pack('i2147483648', 1)",
        "return struct.unpack('c4294967295', 'abc')",
        "return struct.unpack('>i', 'abcd', -2^62)",
        "return struct.unpack('!2147483648 i', 'abcd')",
        "return struct.size('c9999999999')",
        "return struct.unpack('B c0', '\\255\\255')",
    ] {
        let r = l.eval(s);
        assert!(is_error(&r), "{s}: {r}");
    }
    assert_eq!(l.eval("return 1"), ":1\r\n");
}

#[test]
fn many_arguments_and_large_replies() {
    let mut l = Local::new();
    // redis.call with as many arguments as unpack allows.
    let r =
        l.eval("local t = {} for i = 1, 7990 do t[i] = 'member' .. i end return redis.call('RPUSH', 'big', unpack(t))");
    assert_eq!(r, ":7990\r\n");
    let r =
        l.eval("local t = {} for i = 1, 7990 do t[i] = 'x' .. i end return select('#', redis.sha1hex('a'), unpack(t))");
    assert_eq!(r, ":7991\r\n");
    // A large reply: 200,000 elements, converted both ways.
    l.eval("local t = {} for i = 1, 1000 do t[i] = i end for j = 1, 20 do redis.call('RPUSH', 'long', unpack(t)) end");
    let r = l.raw(&["EVAL", "return redis.call('LRANGE', 'long', 0, -1)", "0"]);
    assert!(r.starts_with(b"*20000\r\n"), "{:?}", String::from_utf8_lossy(&r[..20]));
    let r = l.raw(&["EVAL", "local t = {} for i = 1, 200000 do t[i] = 'v' .. i end return t", "0"]);
    assert!(r.starts_with(b"*200000\r\n$2\r\nv1\r\n"));
    // Big objects through cjson and cmsgpack, and many results from struct/cmsgpack.
    let r = l.eval("local t = {} for i = 1, 50000 do t['k' .. i] = i end local s = cjson.encode(t) local d = cjson.decode(s) local n = 0 for _ in pairs(d) do n = n + 1 end return n");
    assert_eq!(r, ":50000\r\n");
    let r = l.eval("local t = {} for i = 1, 50000 do t['k' .. i] = 'v' end local d = cmsgpack.unpack(cmsgpack.pack(t)) local n = 0 for _ in pairs(d) do n = n + 1 end return n");
    assert_eq!(r, ":50000\r\n");
    let r = l.eval("local t = {} for i = 1, 7000 do t[i] = 'str' .. i end return select('#', cmsgpack.unpack(cmsgpack.pack(unpack(t))))");
    assert_eq!(r, ":7000\r\n");
    let r = l.eval("return select('#', struct.unpack(string.rep('c1', 7000), string.rep('a', 7000)))");
    assert_eq!(r, ":7001\r\n");
    let r =
        l.raw(&["EVAL", "redis.setresp(3) local m = {} for i = 1, 20000 do m['f' .. i] = i end return {map = m}", "0"]);
    assert!(r.starts_with(b"*40000\r\n"), "RESP2 caller gets a flat array");
}

#[test]
fn errors_never_escape_as_rust_values() {
    let mut l = Local::new();
    // Errors raised by Rust functions are strings or tables, like Redis's.
    assert_eq!(l.eval("local ok, e = pcall(cjson.decode, '{') return type(e)"), "$6\r\nstring\r\n");
    assert_eq!(l.eval("local ok, e = pcall(redis.call, 'GET') return type(e)"), "$6\r\nstring\r\n");
    assert_eq!(
        l.eval("local ok, e = xpcall(function() redis.call('GET') end, function(e) return type(e) end) return e"),
        "$5\r\ntable\r\n"
    );
    assert_eq!(
        l.eval(
            "local co = coroutine.create(function() cjson.decode('{') end) local ok, e = coroutine.resume(co) return e"
        ),
        "$72\r\nuser_script:1: Expected object key string but found T_END at character 2\r\n"
    );
    assert_eq!(
        l.eval("return tostring(select(2, pcall(struct.pack, 'q')))"),
        "$50\r\nbad argument #1 to '?' (invalid format option 'q')\r\n"
    );
}
