//! Long-running scripts and limits: BUSY replies after `busy-reply-threshold`, SCRIPT KILL and
//! FUNCTION KILL from another thread (not catchable by pcall, also inside coroutines),
//! UNKILLABLE after a write, NOTBUSY, the memory limit and the instruction limit (each leaves
//! the engine healthy).
mod common;

use common::Local;
use ferrous_core::{Database, RespValue};
use ferrous_lua::EngineConfig;
use std::time::{Duration, Instant};

fn err_text(v: &RespValue) -> String {
    match v {
        RespValue::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn setup(threshold_ms: u32, config: EngineConfig) -> Database {
    let db = Database::new();
    ferrous_lua::install_with(&db, config);
    assert_eq!(db.execute(["CONFIG", "SET", "busy-reply-threshold", &threshold_ms.to_string()]), RespValue::ok());
    db
}

/// Waits until another client gets a BUSY reply, and returns it.
fn wait_busy(db: &Database) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = db.execute(["GET", "somekey"]);
        if let RespValue::Error(e) = &v {
            if e.starts_with("BUSY") {
                return e.clone();
            }
        }
        assert!(Instant::now() < deadline, "never became busy (last reply {v:?})");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn spawn_eval(db: &Database, script: &'static str) -> std::thread::JoinHandle<RespValue> {
    let db = db.clone();
    std::thread::spawn(move || db.eval(script, &[] as &[&str], &[] as &[&str]))
}

#[test]
fn script_kill_stops_a_busy_script() {
    let db = setup(50, EngineConfig::default());
    assert_eq!(err_text(&db.execute(["SCRIPT", "KILL"])), "NOTBUSY No scripts in execution right now.");
    let started = Instant::now();
    let h = spawn_eval(&db, "while true do end");
    let busy = wait_busy(&db);
    assert!(started.elapsed() >= Duration::from_millis(50), "BUSY before the threshold");
    assert_eq!(busy, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
    // FUNCTION KILL does not stop an EVAL script; FUNCTION STATS refuses to run.
    assert_eq!(err_text(&db.execute(["FUNCTION", "KILL"])), busy);
    assert_eq!(err_text(&db.execute(["FUNCTION", "STATS"])), busy);
    assert_eq!(db.execute(["SCRIPT", "KILL"]), RespValue::ok());
    let r = h.join().unwrap();
    let sha = ferrous_lua::sha1_hex(b"while true do end");
    assert_eq!(
        err_text(&r),
        format!("ERR Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:1.")
    );
    // Healthy afterwards.
    assert_eq!(db.execute(["SET", "k", "v"]), RespValue::ok());
    assert_eq!(db.eval("return redis.call('get', 'k')", &[] as &[&str], &[] as &[&str]), RespValue::bulk("v"));
    assert_eq!(err_text(&db.execute(["SCRIPT", "KILL"])), "NOTBUSY No scripts in execution right now.");
}

#[test]
fn kill_cannot_be_caught_by_pcall_or_hidden_in_a_coroutine() {
    let db = setup(20, EngineConfig::default());
    for script in [
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        "local co = coroutine.wrap(function() while true do end end) co()",
        "while true do local co = coroutine.create(function() while true do end end) coroutine.resume(co) end",
    ] {
        let h = spawn_eval(&db, script);
        wait_busy(&db);
        assert_eq!(db.execute(["SCRIPT", "KILL"]), RespValue::ok(), "{script}");
        let r = h.join().unwrap();
        assert!(err_text(&r).starts_with("ERR Script killed by user with SCRIPT KILL..."), "{script}: {r:?}");
    }
}

#[test]
fn unkillable_after_a_write_and_the_instruction_limit_ends_it() {
    let db = setup(20, EngineConfig { instruction_limit: Some(30_000_000), ..EngineConfig::default() });
    let h = spawn_eval(&db, "redis.call('set', 'written', '1') while true do end");
    wait_busy(&db);
    let e = err_text(&db.execute(["SCRIPT", "KILL"]));
    assert_eq!(
        e,
        "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
    );
    let r = h.join().unwrap();
    assert!(err_text(&r).starts_with("ERR Script exceeded the instruction limit"), "{r:?}");
    assert_eq!(db.execute(["GET", "written"]), RespValue::bulk("1"));
    assert_eq!(db.eval("return 'alive'", &[] as &[&str], &[] as &[&str]), RespValue::bulk("alive"));
}

#[test]
fn function_kill_and_stats() {
    let db = setup(20, EngineConfig::default());
    let lib = "#!lua name=loops\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(db.execute(["FUNCTION", "LOAD", lib]), RespValue::bulk("loops"));
    let d = db.clone();
    let h = std::thread::spawn(move || d.execute(["FCALL", "spin", "0"]));
    let busy = wait_busy(&db);
    assert_eq!(busy, "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.");
    assert_eq!(err_text(&db.execute(["SCRIPT", "KILL"])), busy);
    match db.execute(["FUNCTION", "STATS"]) {
        RespValue::Array(items) => {
            assert_eq!(items[0], RespValue::bulk("running_script"));
            let RespValue::Array(running) = &items[1] else { panic!("{items:?}") };
            assert_eq!(running[1], RespValue::bulk("spin"));
            assert_eq!(
                running[3],
                RespValue::Array(vec![RespValue::bulk("FCALL"), RespValue::bulk("spin"), RespValue::bulk("0")])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(db.execute(["FUNCTION", "KILL"]), RespValue::ok());
    let r = h.join().unwrap();
    assert_eq!(err_text(&r), "ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.");
    assert_eq!(err_text(&db.execute(["FUNCTION", "KILL"])), "NOTBUSY No scripts in execution right now.");
}

#[test]
fn memory_limit_fails_the_script_cleanly() {
    let mut l = Local::with(EngineConfig { memory_limit: 16 * 1024 * 1024, instruction_limit: None });
    let r = l.eval("local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 64) .. i end return #t");
    assert!(r.starts_with("-ERR Error running script") && r.contains("not enough memory"), "{r}");
    let r = l.eval("return #string.rep('x', 1e9)");
    assert!(r.contains("not enough memory"), "{r}");
    let r = l.eval("return #cjson.encode(string.rep('x', 6e6))");
    assert!(r.contains("not enough memory"), "{r}");
    // The engine is healthy, and the memory was given back.
    assert_eq!(l.eval("return 7"), ":7\r\n");
    assert!(l.engine.eval_memory() < 4 * 1024 * 1024, "{} bytes still used", l.engine.eval_memory());
    let r = l.eval("local t = {} for i = 1, 1000 do t[i] = i end return #t");
    assert_eq!(r, ":1000\r\n");
    // Functions have their own state, with the same limit.
    let lib =
        "#!lua name=big\nredis.register_function('grow', function() local t = {} for i = 1, 1e8 do t[i] = {} end end)";
    assert_eq!(l.cmd(&["FUNCTION", "LOAD", lib]), "$3\r\nbig\r\n");
    let r = l.cmd(&["FCALL", "grow", "0"]);
    assert!(r.contains("not enough memory"), "{r}");
    assert_eq!(l.cmd(&["FCALL", "grow", "x"]), "-ERR Bad number of keys provided\r\n");
}

#[test]
fn instruction_limit_stops_runaway_scripts() {
    let mut l = Local::with(EngineConfig { instruction_limit: Some(1_000_000), ..EngineConfig::default() });
    let r = l.eval("local n = 0 while true do n = n + 1 end");
    assert!(r.starts_with("-ERR Script exceeded the instruction limit of 1000000 instructions script: "), "{r}");
    let r = l.eval("local ok, e = pcall(function() while true do end end) return 'caught'");
    assert!(r.starts_with("-ERR Script exceeded the instruction limit"), "pcall must not swallow it: {r}");
    // Short scripts are unaffected, and the limit applies per run.
    assert_eq!(l.eval("local n = 0 for i = 1, 10000 do n = n + i end return n"), ":50005000\r\n");
    assert_eq!(l.eval("local n = 0 for i = 1, 10000 do n = n + i end return n"), ":50005000\r\n");
}

#[test]
fn no_instruction_limit_by_default() {
    let mut l = Local::new();
    assert!(l.engine.config().instruction_limit.is_none());
    assert_eq!(l.engine.config().memory_limit, 50 * 1024 * 1024);
    assert_eq!(l.eval("local n = 0 for i = 1, 3000000 do n = n + 1 end return n"), ":3000000\r\n");
}

#[test]
fn function_load_timeout() {
    let mut l = Local::new();
    let started = Instant::now();
    let r = l.cmd(&["FUNCTION", "LOAD", "#!lua name=slow\nwhile true do end"]);
    assert_eq!(r, "-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n");
    assert!(started.elapsed() >= Duration::from_millis(500));
    let r = l.cmd(&["FUNCTION", "LOAD", "#!lua name=slow\nlocal function f() return f() end f()"]);
    assert_eq!(r, "-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n");
    assert_eq!(
        l.cmd(&["FUNCTION", "LOAD", "#!lua name=ok\nredis.register_function('f', function() return 1 end)"]),
        "$2\r\nok\r\n"
    );
    assert_eq!(l.cmd(&["FCALL", "f", "0"]), ":1\r\n");
}

/// Server hooks that answer "serve your other clients" by sending SCRIPT KILL, as a client
/// of the waiting thread would.
struct KillFromHook {
    db: std::sync::Mutex<Option<Database>>,
    calls: std::sync::atomic::AtomicUsize,
}

impl ferrous_core::ServerHooks for KillFromHook {
    fn shutdown(&self) {}
    fn serve_while_busy(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(db) = self.db.lock().unwrap().as_ref() {
            // From here, commands that need the dataset get BUSY; SCRIPT KILL runs.
            let busy = db.execute(["SET", "k", "v"]);
            assert!(err_text(&busy).starts_with("BUSY"), "{busy:?}");
            assert_eq!(db.execute(["SCRIPT", "KILL"]), RespValue::ok());
        }
    }
}

/// An operation that waits for a shard a busy script holds (it started just after the
/// script, or skipped the "script running?" check as the typed API does) does not wait
/// blindly: it asks the server to serve its thread's other clients, which can kill the
/// script; then it completes.
#[test]
fn waiting_behind_a_busy_script_serves_other_clients() {
    let db = setup(50, EngineConfig::default());
    let hooks = std::sync::Arc::new(KillFromHook { db: std::sync::Mutex::new(None), calls: Default::default() });
    db.set_server_hooks(hooks.clone());
    db.set("k", "before").unwrap();
    let h = spawn_eval(&db, "while true do end");
    wait_busy(&db);
    *hooks.db.lock().unwrap() = Some(db.clone());
    // The typed API does not check for scripts: this waits on the shard lock.
    assert_eq!(db.get("k").unwrap(), Some(b"before".to_vec()));
    assert!(hooks.calls.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let r = h.join().unwrap();
    assert!(err_text(&r).starts_with("ERR Script killed by user with SCRIPT KILL..."), "{r:?}");
    *hooks.db.lock().unwrap() = None;
}
