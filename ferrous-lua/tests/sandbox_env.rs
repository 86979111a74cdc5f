//! The script environment as Redis 7.0 shows it: the protected metatable of `_G`, raw reads
//! of the globals and library tables, and the "Attempt to modify a readonly table" errors
//! for every way of changing them. (`tests/conformance_differential.rs` at the workspace
//! root compares the whole environment with redis-server's.)
mod common;

use common::Local;

fn error_of(script: &str) -> String {
    format!(
        "-ERR {{}}Attempt to modify a readonly table script: {}, on @user_script:1.\r\n",
        ferrous_lua::sha1_hex(script.as_bytes())
    )
}

#[test]
fn getmetatable_of_globals_is_the_protected_metatable() {
    let mut l = Local::new();
    assert_eq!(l.eval("return type(getmetatable(_G))"), "$5\r\ntable\r\n");
    assert_eq!(l.eval("return type(getmetatable(_G).__index)"), "$8\r\nfunction\r\n");
    assert_eq!(l.eval("return getmetatable(getmetatable(_G))"), "$-1\r\n");
    // Its __index is what reports unknown globals.
    let s = "return getmetatable(_G).__index(_G, 'nope')";
    assert!(l.eval(s).contains("Script attempted to access nonexistent global variable 'nope'"), "{}", l.eval(s));
    // Library tables have no metatable, as in Redis.
    assert_eq!(l.eval("return getmetatable(string)"), "$-1\r\n");
}

#[test]
fn every_way_of_changing_the_environment_fails_as_in_redis() {
    let mut l = Local::new();
    let positioned = [
        "x = 1",
        "_G.y = 2",
        "KEYS = 1",
        "getmetatable(_G).__index = nil",
        "local t = getmetatable(_G); t.__newindex = nil",
        "string.foo = 1",
        "math.pi = 3",
        "table.insert = nil",
        "redis.call = nil",
        "cjson.encode = nil",
        "cmsgpack.pack = 1",
        "struct.pack = 1",
        "bit.band = 1",
        "coroutine.wrap = 1",
        "getmetatable('').__index = {}",
        "__redis__err__handler = 1",
    ];
    for s in positioned {
        assert_eq!(l.eval(s), error_of(s).replace("{}", "user_script:1: "), "{s}");
    }
    let raw = [
        "rawset(_G, 'x', 1)",
        "setmetatable(_G, {})",
        "rawset(string, 'x', 1)",
        "setmetatable(string, {})",
        "rawset(redis, 'x', 1)",
        "rawset(getmetatable(_G), '__index', nil)",
        "setmetatable(getmetatable(_G), {})",
    ];
    for s in raw {
        assert_eq!(l.eval(s), error_of(s).replace("{}", ""), "{s}");
    }
}

#[test]
fn raw_reads_and_next_see_the_environment() {
    let mut l = Local::new();
    assert_eq!(l.eval("return rawget(_G, 'string') == string and 1 or 0"), ":1\r\n");
    assert_eq!(l.eval("return type(rawget(_G, '__redis__err__handler'))"), "$8\r\nfunction\r\n");
    assert_eq!(l.eval("return rawget(string, 'rep') == string.rep and 1 or 0"), ":1\r\n");
    assert_eq!(l.eval("return rawget(_G, 'os')"), "$-1\r\n");
    assert_eq!(l.eval("local n = 0 for k in next, math do n = n + 1 end return n"), ":31\r\n");
    assert_eq!(l.eval("return next(_G) ~= nil and 1 or 0"), ":1\r\n");
    assert_eq!(l.eval("return tostring(rawequal(_G, _G._G))"), "$4\r\ntrue\r\n");
    // Argument errors keep Lua's wording.
    assert!(l.eval("return rawget()").contains("bad argument #1 to 'rawget' (table expected, got no value)"));
    assert!(l.eval("return next(1)").contains("bad argument #1 to 'next' (table expected, got number)"));
    assert!(l.eval("return rawget({})").contains("bad argument #2 to 'rawget' (value expected)"));
}
