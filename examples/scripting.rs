//! Lua scripting in-process: `Database::eval`, cached scripts with `evalsha`, and FUNCTION
//! libraries, with Redis's semantics (the script runs atomically, sees `KEYS`/`ARGV`, calls
//! commands with `redis.call`).
//!
//! Run with `cargo run --example scripting`.
use ferrous::prelude::*;

/// A rate limiter as scripts usually write it: count hits per key in a window, atomically.
const RATE_LIMIT: &str = r#"
local current = redis.call('INCR', KEYS[1])
if current == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if current > tonumber(ARGV[1]) then
    return redis.error_reply('LIMITED too many requests')
end
return current
"#;

/// A reply as redis-cli would print it (on one line).
fn show(v: &RespValue) -> String {
    match v {
        RespValue::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        RespValue::Simple(s) => s.clone(),
        RespValue::Error(e) => format!("(error) {e}"),
        RespValue::Integer(i) => format!("(integer) {i}"),
        RespValue::Null | RespValue::NullArray => "(nil)".into(),
        RespValue::Array(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

fn main() {
    let db = Database::new();
    // Installs the Lua engine (EVAL, FCALL, SCRIPT, FUNCTION). The `ferrous` facade may
    // already have installed it; installing again just replaces it with a fresh one.
    let engine = ferrous_lua::install(&db);

    // EVAL: keys and arguments are separate, as in Redis.
    db.set("greeting", "hello").unwrap();
    let v = db.eval("return redis.call('GET', KEYS[1]) .. ', ' .. ARGV[1]", &["greeting"], &["world"]);
    println!("eval            -> {}", show(&v));

    // Every EVAL caches its script by SHA1; EVALSHA runs it without sending the body again.
    for i in 0..4 {
        let v = db.eval(RATE_LIMIT, &["rate:client42"], &["3", "60000"]);
        println!("rate limit #{i}   -> {}", show(&v));
    }
    let sha = ferrous_lua::sha1_hex(RATE_LIMIT.as_bytes());
    println!("evalsha         -> {}", show(&db.evalsha(&sha, &["rate:client7"], &["3", "60000"])));

    // Errors come back as Redis error replies, with the script line.
    let v = db.eval("return redis.call('INCR', 'greeting')", &[] as &[&str], &[] as &[&str]);
    println!("error           -> {}", show(&v));

    // FUNCTION libraries: named functions with flags, called with FCALL.
    let lib = r#"#!lua name=counters
redis.register_function('bump', function(keys, args)
    return redis.call('INCRBY', keys[1], args[1] or 1)
end)
redis.register_function{function_name = 'peek', callback = function(keys)
    return redis.call('GET', keys[1])
end, flags = {'no-writes'}}
"#;
    println!("function load   -> {}", show(&db.execute(["FUNCTION", "LOAD", lib])));
    println!("fcall bump      -> {}", show(&db.execute(["FCALL", "bump", "1", "visits", "5"])));
    println!("fcall_ro peek   -> {}", show(&db.execute(["FCALL_RO", "peek", "1", "visits"])));

    // cjson, cmsgpack, bit and struct are there, as in Redis.
    let v = db.eval("return cjson.encode({user = ARGV[1], tags = {'a', 'b'}})", &[] as &[&str], &["ada"]);
    println!("cjson           -> {}", show(&v));

    println!("cached scripts: {}, Lua memory: {} bytes", engine.cached_scripts(), engine.eval_memory());
}
