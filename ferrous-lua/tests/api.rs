//! The engine through the Rust API and in-process clients: `Database::eval`/`evalsha`, the
//! shared script cache, EVAL inside MULTI/EXEC, atomicity across threads, RESP3 conversions,
//! FUNCTION DUMP/RESTORE (including a payload written by Redis), redis.log and stats.
mod common;

use common::Local;
use ferrous_core::{Database, RespValue};
use ferrous_lua::{EngineConfig, LogLevel, LuaEngine};
use parking_lot::Mutex;
use std::sync::Arc;

const NONE: &[&str] = &[];

#[test]
fn database_eval_returns_typed_values() {
    let db = Database::new();
    ferrous_lua::install(&db);
    db.set("k", "v").unwrap();
    assert_eq!(db.eval("return redis.call('GET', KEYS[1])", &["k"], NONE), RespValue::bulk("v"));
    assert_eq!(db.eval("return ARGV[1] .. ARGV[2]", NONE, &["a", "b"]), RespValue::bulk("ab"));
    assert_eq!(db.eval("return 42", NONE, NONE), RespValue::Integer(42));
    assert_eq!(
        db.eval("return {1, 'two', {ok = 'THREE'}}", NONE, NONE),
        RespValue::Array(vec![RespValue::Integer(1), RespValue::bulk("two"), RespValue::Simple("THREE".into()),])
    );
    assert_eq!(db.eval("return nil", NONE, NONE), RespValue::Null);
    match db.eval("return redis.call('INCR', KEYS[1])", &["k"], NONE) {
        RespValue::Error(e) => assert!(e.starts_with("ERR value is not an integer or out of range script: "), "{e}"),
        other => panic!("{other:?}"),
    }
    // EVAL caches the script: EVALSHA finds it; SCRIPT LOAD shares the cache.
    let sha = ferrous_lua::sha1_hex(b"return 42");
    assert_eq!(db.evalsha(&sha, NONE, NONE), RespValue::Integer(42));
    assert_eq!(
        db.execute(["SCRIPT", "LOAD", "return 'loaded'"]),
        RespValue::bulk(ferrous_lua::sha1_hex(b"return 'loaded'"))
    );
    assert_eq!(db.evalsha(&ferrous_lua::sha1_hex(b"return 'loaded'"), NONE, NONE), RespValue::bulk("loaded"));
    assert_eq!(
        db.evalsha(&"0".repeat(40), NONE, NONE),
        RespValue::Error("NOSCRIPT No matching script. Please use EVAL.".into())
    );
    assert_eq!(db.execute(["SCRIPT", "FLUSH"]), RespValue::ok());
    assert_eq!(db.evalsha(&sha, NONE, NONE), RespValue::Error("NOSCRIPT No matching script. Please use EVAL.".into()));
    // Scripts run in the handle's database.
    let db3 = db.select(3).unwrap();
    db3.set("only3", "x").unwrap();
    assert_eq!(db3.eval("return redis.call('GET', 'only3')", NONE, NONE), RespValue::bulk("x"));
    assert_eq!(db.eval("return redis.call('GET', 'only3')", NONE, NONE), RespValue::Null);
}

#[test]
fn eval_inside_multi_exec() {
    let mut l = Local::new();
    assert_eq!(l.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(l.cmd(&["EVAL", "return redis.call('INCR', KEYS[1])", "1", "c"]), "+QUEUED\r\n");
    assert_eq!(l.cmd(&["SET", "x", "1"]), "+QUEUED\r\n");
    assert_eq!(l.cmd(&["EVAL", "return redis.call('GET', 'x')", "0"]), "+QUEUED\r\n");
    assert_eq!(
        l.cmd(&["EVAL", "return redis.call('INCR', 'x') + redis.call('INCR', KEYS[1])", "1", "c"]),
        "+QUEUED\r\n"
    );
    assert_eq!(l.cmd(&["EXEC"]), "*4\r\n:1\r\n+OK\r\n$1\r\n1\r\n:4\r\n");
    // A failing script inside EXEC is one error among the replies.
    l.cmd(&["MULTI"]);
    l.cmd(&["EVAL", "error('in exec')", "0"]);
    l.cmd(&["EVAL", "return 'after'", "0"]);
    let r = l.cmd(&["EXEC"]);
    assert!(r.starts_with("*2\r\n-ERR user_script:1: in exec script: ") && r.ends_with("$5\r\nafter\r\n"), "{r}");
}

#[test]
fn scripts_are_atomic_across_threads() {
    let db = Database::new();
    ferrous_lua::install(&db);
    let threads = 4;
    let per_thread = 150;
    // A read-modify-write and two keys that must always be seen equal.
    let script = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') \
                  redis.call('SET', 'a', v + 1) \
                  for i = 1, 200 do end \
                  redis.call('SET', 'b', v + 1) \
                  redis.call('SET', KEYS[1], v + 1) return v + 1";
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let db = db.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut checks = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match db.execute(["MGET", "a", "b"]) {
                    RespValue::Array(v) => assert_eq!(v[0], v[1], "a script was seen half-way"),
                    other => panic!("{other:?}"),
                }
                checks += 1;
            }
            checks
        })
    };
    let writers: Vec<_> = (0..threads)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    let r = db.eval(script, &["counter"], NONE);
                    assert!(matches!(r, RespValue::Integer(_)), "{r:?}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(db.execute(["GET", "counter"]), RespValue::bulk((threads * per_thread).to_string()));
}

#[test]
fn resp3_conversions_in_process() {
    let mut l = Local::new();
    l.cmd(&["HELLO", "3"]);
    assert_eq!(l.eval("redis.setresp(3) return true"), "#t\r\n");
    assert_eq!(l.eval("return true"), ":1\r\n");
    assert_eq!(l.eval("return false"), "_\r\n");
    assert_eq!(l.eval("return {double = 1.5}"), ",1.5\r\n");
    assert_eq!(l.eval("return {big_number = '12345678901234567890'}"), "(12345678901234567890\r\n");
    assert_eq!(l.eval("return {verbatim_string = {format = 'txt', string = 'hi'}}"), "=6\r\ntxt:hi\r\n");
    assert_eq!(l.eval("return {map = {a = {1, 2}}}"), "%1\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n");
    assert_eq!(l.eval("return {set = {x = true}}"), "~1\r\n$1\r\nx\r\n");
    // Replies of commands in a RESP3 script: maps come back as {map = ...}.
    l.cmd(&["RPUSH", "l", "a"]);
    assert_eq!(l.eval("redis.setresp(3) return redis.call('LPOP', 'nolist', 1) == nil"), "#t\r\n");
    assert_eq!(l.eval("return redis.call('LPOP', 'nolist', 1) == false"), ":1\r\n");
    let r = l.eval("redis.setresp(3) local r = redis.call('HELLO') return type(r.map)");
    assert!(r == "$5\r\ntable\r\n" || r.contains("not allowed"), "{r}");
}

#[test]
fn function_dump_and_restore() {
    let mut l = Local::new();
    let lib = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)";
    assert_eq!(l.cmd(&["FUNCTION", "LOAD", lib]), "$5\r\nmylib\r\n");
    let dump = l.raw(&["FUNCTION", "DUMP"]);
    let payload = ferrous_resp::parse_value(&dump).unwrap().unwrap().0;
    let RespValue::Bulk(payload) = payload else { panic!() };
    assert_eq!(l.cmd(&["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(l.cmd(&["FCALL", "myfunc", "0", "x"]), "-ERR Function not found\r\n");
    assert_eq!(l.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &payload]), "+OK\r\n");
    assert_eq!(l.cmd(&["FCALL", "myfunc", "0", "x"]), "$1\r\nx\r\n");
    assert_eq!(l.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &payload]), "-ERR Library mylib already exists\r\n");
    assert_eq!(l.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &payload, b"REPLACE"]), "+OK\r\n");
    assert_eq!(l.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &payload, b"FLUSH"]), "+OK\r\n");
    let mut bad = payload.clone();
    bad[2] ^= 0xff;
    assert_eq!(
        l.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &bad]),
        "-ERR DUMP payload version or checksum are wrong\r\n"
    );
    // A payload written by Redis 7.0 (LZF-compressed code).
    let redis_dump = hex::decode("f5c34056405b1f23216c7561206e616d653d6d796c69620a72656469732e72656769737465725f0b66756e6374696f6e28226d79400b02222c2040066012116b6579732c2061726773292072657475726e600c075b315d20656e64290a00639983bd8b38b843").unwrap();
    assert_eq!(l.cmd(&[b"FUNCTION".as_slice(), b"RESTORE", &redis_dump, b"FLUSH"]), "+OK\r\n");
    assert_eq!(l.cmd(&["FCALL", "myfunc", "0", "from-redis"]), "$10\r\nfrom-redis\r\n");
    // The Rust API does the same.
    let engine: Arc<LuaEngine> = l.engine.clone();
    let p = engine.dump_functions();
    engine.restore_functions(&p, ferrous_lua::engine::RestorePolicy::Replace).unwrap();
    assert_eq!(engine.library_count(), 1);
    // Function names are case-insensitive; library names are not.
    assert_eq!(l.cmd(&["FCALL", "MYFUNC", "0", "y"]), "$1\r\ny\r\n");
    assert_eq!(l.cmd(&["FUNCTION", "DELETE", "MYLIB"]), "-ERR Library not found\r\n");
    assert_eq!(l.cmd(&["FUNCTION", "DELETE", "mylib"]), "+OK\r\n");
    assert_eq!(engine.library_count(), 0);
}

#[test]
fn functions_keep_globals_per_state_and_replace_cleanly() {
    let mut l = Local::new();
    let v1 = "#!lua name=lib\nlocal version = 1\nredis.register_function('ver', function() return version end)";
    let v2 = "#!lua name=lib\nlocal version = 2\nredis.register_function('ver', function() return version end)\nredis.register_function('extra', function() return 'e' end)";
    assert_eq!(l.cmd(&["FUNCTION", "LOAD", v1]), "$3\r\nlib\r\n");
    assert_eq!(l.cmd(&["FCALL", "ver", "0"]), ":1\r\n");
    assert_eq!(l.cmd(&["FUNCTION", "LOAD", "REPLACE", v2]), "$3\r\nlib\r\n");
    assert_eq!(l.cmd(&["FCALL", "ver", "0"]), ":2\r\n");
    // A failing replacement keeps the old library.
    assert!(l
        .cmd(&["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib\nerror('nope')"])
        .starts_with("-ERR Error registering functions"));
    assert_eq!(l.cmd(&["FCALL", "extra", "0"]), "$1\r\ne\r\n");
    // Collisions with another library's function.
    let other = "#!lua name=other\nredis.register_function('EXTRA', function() return 1 end)";
    assert_eq!(l.cmd(&["FUNCTION", "LOAD", other]), "-ERR Function EXTRA already exists\r\n");
    // EVAL scripts and functions do not share globals or the script cache.
    assert_eq!(l.cmd(&["FCALL", "ver", "0"]), ":2\r\n");
    assert!(l.eval("return ver").contains("nonexistent global variable 'ver'"));
    // Function runtime cannot register functions.
    let sneaky = "#!lua name=sneaky\nlocal reg = redis.register_function\nredis.register_function('late', function() reg('x', function() end) end)";
    assert_eq!(l.cmd(&["FUNCTION", "LOAD", sneaky]), "$6\r\nsneaky\r\n");
    let r = l.cmd(&["FCALL", "late", "0"]);
    assert!(
        r.starts_with("-ERR redis.register_function can only be called on FUNCTION LOAD command script: late"),
        "{r}"
    );
}

#[test]
fn redis_log_goes_to_the_sink() {
    let lines: Arc<Mutex<Vec<(LogLevel, String)>>> = Arc::default();
    let sink_lines = lines.clone();
    let engine = LuaEngine::with_log_sink(
        EngineConfig::default(),
        Arc::new(move |level, msg| sink_lines.lock().push((level, String::from_utf8_lossy(msg).into_owned()))),
    )
    .unwrap();
    let db = Database::new();
    db.set_script_engine(Arc::new(engine));
    db.eval("redis.log(redis.LOG_WARNING, 'disk', 'is', 3, 'full') redis.log(redis.LOG_DEBUG, 'hidden')", NONE, NONE);
    assert_eq!(*lines.lock(), vec![(LogLevel::Warning, "disk is 3 full".to_string())]);
    db.execute(["CONFIG", "SET", "loglevel", "debug"]);
    db.eval("redis.log(redis.LOG_DEBUG, 'shown')", NONE, NONE);
    assert_eq!(lines.lock().last().unwrap(), &(LogLevel::Debug, "shown".to_string()));
}

#[test]
fn memory_and_cache_statistics() {
    let mut l = Local::new();
    let before = l.engine.eval_memory();
    assert!(before > 0);
    for i in 0..50 {
        l.eval(&format!("return {i}"));
    }
    assert_eq!(l.engine.cached_scripts(), 50);
    assert!(l.engine.eval_memory() > before);
    l.cmd(&["SCRIPT", "FLUSH"]);
    assert_eq!(l.engine.cached_scripts(), 0);
    assert!(l.engine.functions_memory() > 0);
}

/// The engine reuses the KEYS and ARGV tables between EVALs (a table per call was a large
/// part of an EVALSHA's cost); nothing a script does to them may reach the next script.
#[test]
fn keys_and_argv_start_fresh_for_every_script() {
    let db = Database::new();
    ferrous_lua::install(&db);
    let tamper = "KEYS[5] = 'x'; KEYS.extra = 1; ARGV[1] = nil; table.insert(ARGV, 'y'); \
                  setmetatable(KEYS, {__index = function() return 'meta' end}); return 1";
    assert_eq!(db.eval(tamper, &["a", "b"], &["c"]), RespValue::Integer(1));
    let check = "return {#KEYS, #ARGV, tostring(KEYS[5]), tostring(KEYS.extra), tostring(getmetatable(KEYS)), \
                 KEYS[1], ARGV[1], ARGV[2]}";
    assert_eq!(
        db.eval(check, &["k1"], &["v1", "v2"]),
        RespValue::Array(vec![
            RespValue::Integer(1),
            RespValue::Integer(2),
            RespValue::bulk("nil"),
            RespValue::bulk("nil"),
            RespValue::bulk("nil"),
            RespValue::bulk("k1"),
            RespValue::bulk("v1"),
            RespValue::bulk("v2"),
        ])
    );
    // A script that fills a table with many entries, then calls with few and with many
    // arguments (the reused table is replaced by a fresh one on the way).
    assert_eq!(db.eval("for i = 1, 1000 do ARGV[i] = i end return #ARGV", NONE, &["a"]), RespValue::Integer(1000));
    assert_eq!(
        db.eval("return {#ARGV, ARGV[1]}", NONE, &["z"]),
        RespValue::Array(vec![RespValue::Integer(1), RespValue::bulk("z")])
    );
    let many: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(
        db.eval("return {#KEYS, KEYS[200]}", &many, NONE),
        RespValue::Array(vec![RespValue::Integer(200), RespValue::bulk("199")])
    );
    assert_eq!(
        db.eval("return {#KEYS, tostring(KEYS[2])}", &["one"], NONE),
        RespValue::Array(vec![RespValue::Integer(1), RespValue::bulk("nil")])
    );
    // Each call's tables are distinct from the previous call's in what a script can see:
    // nothing persists across EVALs.
    assert_eq!(db.eval("return tostring(rawget(KEYS, 'extra'))", NONE, NONE), RespValue::bulk("nil"));
}

/// Functions can keep state in upvalues between calls, so FCALL passes new tables each time.
#[test]
fn functions_get_new_key_and_argument_tables() {
    let db = Database::new();
    ferrous_lua::install(&db);
    let lib = "#!lua name=keep\nlocal saved\nredis.register_function('keep', function(keys, args) \
               if saved then return {saved[1], keys[1]} end saved = keys return 'saved' end)";
    assert_eq!(db.execute(["FUNCTION", "LOAD", lib]), RespValue::bulk("keep"));
    assert_eq!(db.execute(["FCALL", "keep", "1", "first"]), RespValue::bulk("saved"));
    assert_eq!(
        db.execute(["FCALL", "keep", "1", "second"]),
        RespValue::Array(vec![RespValue::bulk("first"), RespValue::bulk("second")])
    );
}

#[test]
fn script_debug_in_process() {
    let db = Database::new();
    ferrous_lua::install(&db);
    assert_eq!(db.execute(["SCRIPT", "DEBUG", "YES"]), RespValue::Simple("OK".into()));
    assert_eq!(db.execute(["SCRIPT", "DEBUG", "sync"]), RespValue::Simple("OK".into()));
    assert_eq!(db.execute(["SCRIPT", "DEBUG", "no"]), RespValue::Simple("OK".into()));
    assert_eq!(db.execute(["SCRIPT", "DEBUG", "maybe"]), RespValue::Error("ERR Use SCRIPT DEBUG YES/SYNC/NO".into()));
    // Outside a debugging session the debugger functions do nothing.
    assert_eq!(db.eval("return redis.breakpoint()", NONE, NONE), RespValue::Null);
    assert_eq!(db.eval("redis.debug('x', {1}) return 1", NONE, NONE), RespValue::Integer(1));
    // An in-process client has no socket to debug on: its EVAL runs normally.
    let mut client = db.connect(ferrous_core::ConnectionInfo::default());
    let mut out = Vec::new();
    let args: ferrous_resp::ArgsBuf = ["SCRIPT", "DEBUG", "YES"].iter().collect();
    db.dispatch(&mut client, args.as_args(), &mut out);
    assert_eq!(out, b"+OK\r\n");
    out.clear();
    let args: ferrous_resp::ArgsBuf = ["EVAL", "return 7", "0"].iter().collect();
    db.dispatch(&mut client, args.as_args(), &mut out);
    assert_eq!(out, b":7\r\n");
    assert!(!client.close_after_reply);
    db.disconnect(&client);
}
