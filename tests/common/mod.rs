//! Harness shared by the end-to-end tests (`tests/e2e.rs`, `tests/redis_cli.rs`,
//! `tests/differential.rs`).
//!
//! - [`TestServer`]: a real server process on a free loopback port, started with
//!   `--save '' --appendonly no` in its own scratch directory, reachable once `start*`
//!   returns, killed (and its directory removed) on drop. Its log is printed when the test
//!   that owns it panics.
//! - [`RedisServer`]: the same for Debian's `redis-server`, the oracle. Absent binaries skip
//!   the test (`SKIPPED: ...` on stderr) unless the `CI` environment variable is set, where
//!   a missing oracle is a failure: a green CI must mean the comparisons really ran.
//! - [`RespConn`]: a raw RESP client over a `TcpStream` that returns every reply both parsed
//!   ([`Resp`]) and as the exact bytes the server sent, so tests can compare replies byte for
//!   byte. It is written here from the protocol spec, independently of `ferrous-resp`, so a
//!   bug in the server's codec cannot hide itself in the tests.
//!
//! - Persistence helpers: [`TestServer::start_in`] / [`TestServer::try_start_in`] start a
//!   server on a directory the test prepared (its `dump.rdb`), [`TestServer::restart`]
//!   starts it again on the same directory and port, [`TestServer::kill9`] kills it (and
//!   redis-server's BGSAVE child) with SIGKILL, [`TempDir`] holds copied files.
//!
//! `FERROUS_E2E_AGAINST_REDIS=1` makes [`TestServer::start`] start redis-server instead of
//! Ferrous: run the suite that way to check that its expectations are Redis's own.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Default read timeout of a [`RespConn`]: long enough for a slow CI machine, short enough
/// that a server that never answers fails the test instead of hanging it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Oracle ports: redis-server instances of these tests live in this range.
const REDIS_PORTS: std::ops::Range<u16> = 7200..7300;

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Finds an executable on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// Whether a test that needs `name` may run: true if it is installed; false (after printing
/// `SKIPPED: ...`) if it is not; a panic if it is not and [`ci`] is set.
pub fn require_tool(name: &str) -> bool {
    if find_tool(name).is_some() {
        return true;
    }
    assert!(!ci(), "{name} is not installed, and CI requires it (.ci/run installs it)");
    eprintln!("SKIPPED: {name} not installed");
    false
}

/// Which server program a [`TestServer`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// This crate's binary.
    Ferrous,
    /// Debian's redis-server, the oracle.
    Redis,
}

/// A server process for one test.
pub struct TestServer {
    kind: Kind,
    port: u16,
    child: Child,
    dir: PathBuf,
    exit: Option<ExitStatus>,
    /// Whether `dir` is this server's own scratch directory, removed on drop (false for a
    /// server started on a caller's directory with [`TestServer::start_in`]).
    owns_dir: bool,
    /// The extra arguments it was started with, reused by [`TestServer::restart`].
    extra: Vec<String>,
    /// Length of `dir/server.log` when this process was started: a restarted server appends
    /// to the log of its earlier lives, and [`TestServer::log_since_start`] reads past them.
    log_start: u64,
}

/// Starts redis-server, the oracle (see [`TestServer::redis`]).
pub struct RedisServer;

impl RedisServer {
    /// A redis-server with default test arguments, or `None` if it is not installed (and
    /// not under CI).
    pub fn start() -> Option<TestServer> {
        TestServer::redis(&[])
    }

    /// Same as [`RedisServer::start`] with extra `--directive value` arguments.
    pub fn start_with(extra: &[&str]) -> Option<TestServer> {
        TestServer::redis(extra)
    }
}

/// True when the e2e suite was asked to run against redis-server instead of Ferrous.
pub fn against_redis() -> bool {
    std::env::var("FERROUS_E2E_AGAINST_REDIS").is_ok_and(|v| !v.is_empty() && v != "0")
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn scratch_dir(kind: Kind) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("ferrous-test-{}-{:?}-{}-{}", std::process::id(), kind, n, nanos());
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

fn nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

/// A loopback port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The oracle port range a test binary chose with [`use_redis_ports`] (0..0: the default
/// [`REDIS_PORTS`]).
static REDIS_PORTS_START: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
static REDIS_PORTS_END: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// Makes this test binary start its redis-server oracles on ports in `ports` instead of
/// [`REDIS_PORTS`] (so suites run side by side never race for the same port).
pub fn use_redis_ports(ports: std::ops::Range<u16>) {
    REDIS_PORTS_START.store(ports.start, Ordering::Relaxed);
    REDIS_PORTS_END.store(ports.end, Ordering::Relaxed);
}

/// A free port in the oracle range, starting the search at a different place per call so
/// parallel tests rarely race for the same one.
fn free_redis_port() -> u16 {
    let chosen = REDIS_PORTS_START.load(Ordering::Relaxed)..REDIS_PORTS_END.load(Ordering::Relaxed);
    let range = if chosen.is_empty() { REDIS_PORTS } else { chosen };
    let len = range.end - range.start;
    let start = (std::process::id() as u16).wrapping_mul(7).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) as u16);
    for i in 0..len {
        let port = range.start + (start.wrapping_add(i)) % len;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {range:?} for redis-server");
}

/// A free port for a server of `kind` (oracles stay in their own range).
fn fresh_port(kind: Kind) -> u16 {
    match kind {
        Kind::Ferrous => free_port(),
        Kind::Redis => free_redis_port(),
    }
}

impl TestServer {
    /// The server under test with the default test arguments.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// The server under test (Ferrous, or redis-server with `FERROUS_E2E_AGAINST_REDIS=1`)
    /// with extra `--directive value` arguments.
    pub fn start_with(extra: &[&str]) -> TestServer {
        if against_redis() {
            assert!(
                find_tool("redis-server").is_some(),
                "FERROUS_E2E_AGAINST_REDIS is set but redis-server is missing"
            );
            Self::spawn(Kind::Redis, extra)
        } else {
            Self::ferrous(extra)
        }
    }

    /// Ferrous, always.
    pub fn ferrous(extra: &[&str]) -> TestServer {
        Self::spawn(Kind::Ferrous, extra)
    }

    /// redis-server, or `None` (after printing `SKIPPED: ...`) when it is not installed;
    /// under CI a missing redis-server panics.
    pub fn redis(extra: &[&str]) -> Option<TestServer> {
        if !require_tool("redis-server") {
            return None;
        }
        Some(Self::spawn(Kind::Redis, extra))
    }

    fn spawn(kind: Kind, extra: &[&str]) -> TestServer {
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let mut last_log = String::new();
        // A port found free may be taken before the server binds it: retry with another.
        for _attempt in 0..5 {
            let dir = scratch_dir(kind);
            match Self::launch(kind, fresh_port(kind), dir, true, &extra) {
                Ok(server) => return server,
                Err((server, e)) => {
                    last_log = format!("{e}\n--- server log ---\n{}", server.log());
                    let in_use = last_log.contains("in use") || last_log.contains("already");
                    drop(server);
                    if !in_use {
                        break;
                    }
                }
            }
        }
        panic!("{kind:?} server did not start: {last_log}");
    }

    /// Starts `kind` on `port` in `dir` with the default test arguments plus `extra`,
    /// logging to `dir/server.log` (appended to), and waits for its first reply. On failure,
    /// the server (exited, or killed when dropped) and why it did not come up.
    fn launch(
        kind: Kind,
        port: u16,
        dir: PathBuf,
        owns_dir: bool,
        extra: &[String],
    ) -> Result<TestServer, (TestServer, String)> {
        let log_path = dir.join("server.log");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("open log file");
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log2 = log.try_clone().expect("clone log file");
        let port_s = port.to_string();
        let dir_s = dir.to_string_lossy().into_owned();
        let mut args: Vec<&str> = vec!["--port", &port_s, "--save", "", "--appendonly", "no", "--dir", &dir_s];
        let mut cmd = match kind {
            Kind::Ferrous => Command::new(env!("CARGO_BIN_EXE_ferrous")),
            Kind::Redis => {
                args.extend(["--bind", "127.0.0.1", "--daemonize", "no", "--logfile", ""]);
                Command::new("redis-server")
            }
        };
        args.extend(extra.iter().map(String::as_str));
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {kind:?} server: {e}"));
        let mut server = TestServer { kind, port, child, dir, exit: None, owns_dir, extra: extra.to_vec(), log_start };
        match server.wait_ready() {
            Ok(()) => Ok(server),
            Err(e) => Err((server, e)),
        }
    }

    /// Waits until the server answers a PING (any reply, even NOAUTH, counts).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                self.exit = Some(status);
                return Err(format!("server exited during start-up: {status}"));
            }
            if let Ok(mut s) = TcpStream::connect(self.addr()) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut b = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok() && s.read(&mut b).is_ok_and(|n| n > 0) {
                    // Someone answered; make sure it is our process and not another test's
                    // server that won a race for the port.
                    std::thread::sleep(Duration::from_millis(20));
                    if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                        self.exit = Some(status);
                        return Err(format!("server exited during start-up: {status}"));
                    }
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("server not reachable on port {} after {START_TIMEOUT:?}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Which program this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scratch directory (`--dir`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A connection of the `redis` crate (sync API).
    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("redis::Client::open");
        client.get_connection_with_timeout(Duration::from_secs(10)).expect("connect with the redis crate")
    }

    /// A raw RESP connection.
    pub fn raw(&self) -> RespConn {
        RespConn::connect(self.addr()).expect("raw connect")
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read(self.dir.join("server.log")).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.exit = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if it still
    /// runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running() {
                return self.exit;
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.child.id());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("--- {:?} server on port {} log (last lines) ---\n{}", self.kind, self.port, tail.join("\n"));
        }
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The kind of server the suite tests: Ferrous, or redis-server when
/// `FERROUS_E2E_AGAINST_REDIS=1` (see [`TestServer::start_with`]).
pub fn subject_kind() -> Kind {
    if against_redis() {
        Kind::Redis
    } else {
        Kind::Ferrous
    }
}

/// Why [`TestServer::try_start_in`] found no running server.
#[derive(Debug)]
pub struct StartFailure {
    /// The exit status, when the process exited (`None`: it never answered and was killed).
    pub status: Option<ExitStatus>,
    /// What the process logged during this start.
    pub log: String,
    /// A one-line reason (exit status or time-out).
    pub reason: String,
}

/// Restarting servers on a data directory, killing them hard, and starting them on files
/// a test prepared (persistence tests).
impl TestServer {
    /// A server of `kind` on an existing directory `dir` (`--dir dir`, so it loads the
    /// `dump.rdb` there), the default test arguments plus `extra`; waits until it answers
    /// PING with something other than `-LOADING`. The directory is left alone on drop. Panics
    /// with the log if the server does not come up.
    pub fn start_in(kind: Kind, dir: &Path, extra: &[&str]) -> TestServer {
        Self::try_start_in(kind, dir, extra).unwrap_or_else(|f| {
            panic!("{kind:?} server did not start in {}: {}\n--- server log ---\n{}", dir.display(), f.reason, f.log)
        })
    }

    /// Same as [`TestServer::start_in`], but a server that exits during start-up (or never
    /// finishes loading) is returned as a [`StartFailure`] instead of a panic: for tests
    /// that expect start-up to fail.
    pub fn try_start_in(kind: Kind, dir: &Path, extra: &[&str]) -> Result<TestServer, StartFailure> {
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let mut last = None;
        for _attempt in 0..5 {
            match Self::launch(kind, fresh_port(kind), dir.to_path_buf(), false, &extra) {
                Ok(mut server) => match server.wait_loaded() {
                    Ok(()) => return Ok(server),
                    Err(reason) => return Err(server.failure(reason)),
                },
                Err((mut server, reason)) => {
                    let failure = server.failure(reason);
                    let in_use = failure.log.contains("in use");
                    last = Some(failure);
                    if !in_use {
                        break;
                    }
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn failure(&mut self, reason: String) -> StartFailure {
        let status = self.wait_exit(Duration::from_millis(200));
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        StartFailure { status, log: self.log_since_start(), reason }
    }

    /// Waits until the server answers PING with anything but `-LOADING` (it finished loading
    /// its data set), or fails if the process exits or [`START_TIMEOUT`] passes.
    pub fn wait_loaded(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running() {
                return Err(format!("server exited during start-up: {:?}", self.exit));
            }
            if let Ok(mut c) = RespConn::connect(self.addr()) {
                c.set_timeout(Duration::from_secs(5));
                match c.call(&["PING"]) {
                    Ok(r) if !r.value.bytes().is_some_and(|b| r.value.is_error() && b.starts_with(b"LOADING")) => {
                        return Ok(())
                    }
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                return Err(format!("server still loading after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again after it exited (SHUTDOWN, [`TestServer::kill9`]): same
    /// program, directory, arguments and, if it can still be bound, port; waits until it
    /// has loaded its data. Panics with the log if it does not come up.
    pub fn restart(&mut self) {
        assert!(
            !self.is_running(),
            "restart: the {:?} server (pid {}) is still running; stop it first",
            self.kind,
            self.pid()
        );
        let mut last = String::new();
        for attempt in 0..8 {
            // The port was ours a moment ago; another test may grab it meanwhile.
            let port = if attempt < 4 { self.port } else { fresh_port(self.kind) };
            if attempt > 0 && attempt < 4 {
                std::thread::sleep(Duration::from_millis(100));
            }
            match Self::launch(self.kind, port, self.dir.clone(), false, &self.extra) {
                Ok(mut server) => {
                    if let Err(e) = server.wait_loaded() {
                        panic!(
                            "{:?} server did not restart: {e}\n--- server log ---\n{}",
                            self.kind,
                            server.log_since_start()
                        );
                    }
                    server.owns_dir = self.owns_dir;
                    let mut old = std::mem::replace(self, server);
                    old.owns_dir = false;
                    return;
                }
                Err((server, e)) => {
                    last = format!("{e}\n--- server log ---\n{}", server.log_since_start());
                    if !last.contains("in use") {
                        break;
                    }
                }
            }
        }
        panic!("{:?} server did not restart: {last}", self.kind);
    }

    /// Kills the server with SIGKILL (and any process it forked, such as redis-server's
    /// BGSAVE child, so nothing finishes a save behind the test's back) and waits for the
    /// exit.
    pub fn kill9(&mut self) {
        if !self.is_running() {
            return;
        }
        let pids = descendants(self.pid());
        self.signal(libc::SIGKILL);
        for &pid in &pids {
            // SAFETY: kill(2) on a process id; no memory is involved.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        self.wait_exit(Duration::from_secs(10)).expect("server still running 10 s after SIGKILL");
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|&p| process_alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit status, once the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.is_running();
        self.exit
    }

    /// What this process logged since it was started (a restarted server's log file also
    /// holds its earlier lives).
    pub fn log_since_start(&self) -> String {
        let log = std::fs::read(self.dir.join("server.log")).unwrap_or_default();
        let start = (self.log_start as usize).min(log.len());
        String::from_utf8_lossy(&log[start..]).into_owned()
    }

    /// The arguments given after the default ones.
    pub fn extra_args(&self) -> &[String] {
        &self.extra
    }
}

/// Every process descended from `pid` (children first found through
/// `/proc/PID/task/*/children`, then theirs).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for c in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                if !out.contains(&c) {
                    out.push(c);
                    todo.push(c);
                }
            }
        }
    }
    out
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after "pid (comm) ".
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// A scratch directory removed on drop (for data files a test prepares or copies).
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory; `tag` goes into its name.
    pub fn new(tag: &str) -> TempDir {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("ferrous-test-{}-{tag}-{n}-{}", std::process::id(), nanos());
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).expect("create scratch directory");
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A RESP value as a client receives it (RESP2 and RESP3).
#[derive(Clone, PartialEq, Eq)]
pub enum Resp {
    /// `+text`
    Simple(Vec<u8>),
    /// `-ERR text`
    Error(Vec<u8>),
    /// `:n`
    Int(i64),
    /// `$n` with its payload.
    Bulk(Vec<u8>),
    /// `$-1`
    NilBulk,
    /// `*-1`
    NilArray,
    /// `*n`
    Array(Vec<Resp>),
    /// `_` (RESP3 null)
    Null,
    /// `,text` (kept as text: comparing its formatting is the point)
    Double(Vec<u8>),
    /// `#t` / `#f`
    Boolean(bool),
    /// `(digits`
    BigNumber(Vec<u8>),
    /// `!n` blob error
    BlobError(Vec<u8>),
    /// `=n` verbatim string, format included (`txt:...`)
    Verbatim(Vec<u8>),
    /// `%n`
    Map(Vec<(Resp, Resp)>),
    /// `~n`
    Set(Vec<Resp>),
    /// `>n`
    Push(Vec<Resp>),
    /// `|n` attributes followed by the value they annotate.
    Attributed(Vec<(Resp, Resp)>, Box<Resp>),
}

impl Resp {
    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_) | Resp::BlobError(_))
    }

    /// The payload of a simple, bulk, verbatim or error reply.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Resp::Simple(b) | Resp::Bulk(b) | Resp::Error(b) | Resp::BlobError(b) | Resp::Verbatim(b) => Some(b),
            _ => None,
        }
    }

    /// Encodes the value back to RESP (canonical form).
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn agg(out: &mut Vec<u8>, t: u8, items: &[Resp]) {
            out.push(t);
            out.extend_from_slice(format!("{}\r\n", items.len()).as_bytes());
            items.iter().for_each(|i| i.encode(out));
        }
        fn pairs(out: &mut Vec<u8>, t: u8, items: &[(Resp, Resp)]) {
            out.push(t);
            out.extend_from_slice(format!("{}\r\n", items.len()).as_bytes());
            for (k, v) in items {
                k.encode(out);
                v.encode(out);
            }
        }
        let line = |out: &mut Vec<u8>, t: u8, b: &[u8]| {
            out.push(t);
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        };
        let blob = |out: &mut Vec<u8>, t: u8, b: &[u8]| {
            out.push(t);
            out.extend_from_slice(format!("{}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        };
        match self {
            Resp::Simple(b) => line(out, b'+', b),
            Resp::Error(b) => line(out, b'-', b),
            Resp::Int(n) => line(out, b':', n.to_string().as_bytes()),
            Resp::Bulk(b) => blob(out, b'$', b),
            Resp::NilBulk => out.extend_from_slice(b"$-1\r\n"),
            Resp::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Resp::Array(items) => agg(out, b'*', items),
            Resp::Null => out.extend_from_slice(b"_\r\n"),
            Resp::Double(b) => line(out, b',', b),
            Resp::Boolean(v) => out.extend_from_slice(if *v { b"#t\r\n" } else { b"#f\r\n" }),
            Resp::BigNumber(b) => line(out, b'(', b),
            Resp::BlobError(b) => blob(out, b'!', b),
            Resp::Verbatim(b) => blob(out, b'=', b),
            Resp::Map(items) => pairs(out, b'%', items),
            Resp::Set(items) => agg(out, b'~', items),
            Resp::Push(items) => agg(out, b'>', items),
            Resp::Attributed(attrs, v) => {
                pairs(out, b'|', attrs);
                v.encode(out);
            }
        }
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for Resp {
    /// A redis-cli-like one-line rendering, binary-safe (non-printable bytes as `\xHH`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn list(f: &mut std::fmt::Formatter<'_>, open: &str, items: &[Resp], close: &str) -> std::fmt::Result {
            f.write_str(open)?;
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{it}")?;
            }
            f.write_str(close)
        }
        match self {
            Resp::Simple(b) => write!(f, "+{}", escape(b)),
            Resp::Error(b) => write!(f, "(error) {}", escape(b)),
            Resp::Int(n) => write!(f, "(integer) {n}"),
            Resp::Bulk(b) => write!(f, "\"{}\"", escape(b)),
            Resp::NilBulk => f.write_str("(nil bulk)"),
            Resp::NilArray => f.write_str("(nil array)"),
            Resp::Array(items) => list(f, "[", items, "]"),
            Resp::Null => f.write_str("(null)"),
            Resp::Double(b) => write!(f, "(double) {}", escape(b)),
            Resp::Boolean(v) => write!(f, "(boolean) {v}"),
            Resp::BigNumber(b) => write!(f, "(big number) {}", escape(b)),
            Resp::BlobError(b) => write!(f, "(blob error) {}", escape(b)),
            Resp::Verbatim(b) => write!(f, "(verbatim) \"{}\"", escape(b)),
            Resp::Map(items) => {
                f.write_str("{")?;
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Resp::Set(items) => list(f, "~{", items, "}"),
            Resp::Push(items) => list(f, ">[", items, "]"),
            Resp::Attributed(attrs, v) => write!(f, "|{} attrs| {v}", attrs.len()),
        }
    }
}

/// Printable rendering of bytes: ASCII as is, the rest as `\xHH` (and `\r`, `\n`, `\"`).
pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// A command line for reports: arguments quoted with [`escape`].
pub fn show_command<A: AsRef<[u8]>>(args: &[A]) -> String {
    args.iter().map(|a| format!("\"{}\"", escape(a.as_ref()))).collect::<Vec<_>>().join(" ")
}

/// RESP encoding of a command (array of bulk strings).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A reply as read off the wire: parsed, plus the exact bytes.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The parsed value.
    pub value: Resp,
    /// The bytes the server sent for it.
    pub raw: Vec<u8>,
}

/// A raw RESP connection.
pub struct RespConn {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl RespConn {
    /// Connects with [`READ_TIMEOUT`].
    pub fn connect(addr: SocketAddr) -> io::Result<RespConn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(RespConn { reader: BufReader::with_capacity(64 * 1024, stream.try_clone()?), stream })
    }

    /// The underlying stream (e.g. to shut down one direction).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Changes the read timeout.
    pub fn set_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).expect("set_read_timeout");
    }

    /// Sends one command as a RESP array.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.stream.write_all(&encode_command(args))
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a command and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Reply> {
        self.send(args)?;
        self.read()
    }

    /// Sends a command (arguments as `&str`) and returns the parsed reply; panics on I/O
    /// errors, for tests' brevity.
    pub fn cmd(&mut self, args: &[&str]) -> Resp {
        match self.call(args) {
            Ok(r) => r.value,
            Err(e) => panic!("{}: {e}", show_command(args)),
        }
    }

    /// Reads one reply.
    pub fn read(&mut self) -> io::Result<Reply> {
        let mut raw = Vec::new();
        let value = read_value(&mut self.reader, &mut raw, 0)?;
        Ok(Reply { value, raw })
    }

    /// Reads everything until the server closes the connection or sends nothing for
    /// `idle`; returns the bytes and whether the connection was closed.
    pub fn read_until_close(&mut self, idle: Duration) -> (Vec<u8>, bool) {
        self.set_timeout(idle);
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return (out, true),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return (out, false)
                }
                // A reset after the server closed with unread input is a close too.
                Err(_) => return (out, true),
            }
        }
    }

    /// Closes the write side (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_line(r: &mut dyn BufRead, raw: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let start = raw.len();
    let n = r.read_until(b'\n', raw)?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server"));
    }
    let line = &raw[start..];
    if !line.ends_with(b"\r\n") {
        return Err(bad(format!("reply line not terminated by CRLF: \"{}\"", escape(line))));
    }
    Ok(line[..line.len() - 2].to_vec())
}

fn parse_len(line: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| bad(format!("bad length \"{}\"", escape(line))))
}

fn read_blob(r: &mut dyn BufRead, raw: &mut Vec<u8>, len: i64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| bad(format!("bad blob length {len}")))?;
    let start = raw.len();
    raw.resize(start + len + 2, 0);
    r.read_exact(&mut raw[start..])?;
    if &raw[start + len..] != b"\r\n" {
        return Err(bad("blob not followed by CRLF".into()));
    }
    Ok(raw[start..start + len].to_vec())
}

fn read_value(r: &mut dyn BufRead, raw: &mut Vec<u8>, depth: usize) -> io::Result<Resp> {
    if depth > 100 {
        return Err(bad("reply nested too deeply".into()));
    }
    let line = read_line(r, raw)?;
    let (&t, rest) = line.split_first().ok_or_else(|| bad("empty reply line".into()))?;
    let items = |r: &mut dyn BufRead, raw: &mut Vec<u8>, n: i64| -> io::Result<Vec<Resp>> {
        (0..n).map(|_| read_value(r, raw, depth + 1)).collect()
    };
    Ok(match t {
        b'+' => Resp::Simple(rest.to_vec()),
        b'-' => Resp::Error(rest.to_vec()),
        b':' => Resp::Int(parse_len(rest)?),
        b'$' => match parse_len(rest)? {
            -1 => Resp::NilBulk,
            n => Resp::Bulk(read_blob(r, raw, n)?),
        },
        b'*' => match parse_len(rest)? {
            -1 => Resp::NilArray,
            n => Resp::Array(items(r, raw, n)?),
        },
        b'_' if rest.is_empty() => Resp::Null,
        b',' => Resp::Double(rest.to_vec()),
        b'#' if rest == b"t" => Resp::Boolean(true),
        b'#' if rest == b"f" => Resp::Boolean(false),
        b'(' => Resp::BigNumber(rest.to_vec()),
        b'!' => Resp::BlobError(read_blob(r, raw, parse_len(rest)?)?),
        b'=' => Resp::Verbatim(read_blob(r, raw, parse_len(rest)?)?),
        b'~' => Resp::Set(items(r, raw, parse_len(rest)?)?),
        b'>' => Resp::Push(items(r, raw, parse_len(rest)?)?),
        b'%' | b'|' => {
            let n = parse_len(rest)?;
            let flat = items(r, raw, n.checked_mul(2).ok_or_else(|| bad("bad map length".into()))?)?;
            let mut it = flat.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            if t == b'%' {
                Resp::Map(pairs)
            } else {
                Resp::Attributed(pairs, Box::new(read_value(r, raw, depth + 1)?))
            }
        }
        _ => return Err(bad(format!("unknown reply type in \"{}\"", escape(&line)))),
    })
}

/// Shorthand for a bulk reply in assertions.
pub fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

/// Shorthand for a simple-string reply in assertions.
pub fn simple(s: &str) -> Resp {
    Resp::Simple(s.as_bytes().to_vec())
}

/// Shorthand for an error reply in assertions.
pub fn error(s: &str) -> Resp {
    Resp::Error(s.as_bytes().to_vec())
}

/// A small deterministic generator (SplitMix64) for the tests that must not depend on the
/// `rand` crate's stream staying the same across versions.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo) as u64 + 1)) as i64
    }

    /// True with probability `p` percent.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

// ---------------------------------------------------------------------------------------
// Helpers over the `redis` crate's connection (replication and full-sync tests)

/// Sends `args` as one command.
pub fn cmd(con: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
}

/// Sends `args`; an error reply fails the test.
pub fn ok(con: &mut redis::Connection, args: &[&str]) -> redis::Value {
    cmd(con, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// One field of an INFO section.
pub fn info_field(con: &mut redis::Connection, section: &str, name: &str) -> Option<String> {
    let text: String = redis::cmd("INFO").arg(section).query(con).ok()?;
    text.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

/// Polls `f` until it holds; fails the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The CLIENT LIST fields (`name=value`) of the client named `name`, as `observer` sees
/// them.
pub fn client_fields(observer: &mut RespConn, name: &str) -> std::collections::HashMap<String, String> {
    let list = match observer.cmd(&["CLIENT", "LIST"]) {
        Resp::Bulk(b) | Resp::Verbatim(b) => String::from_utf8(b).expect("CLIENT LIST is text"),
        other => panic!("CLIENT LIST replied {other:?}"),
    };
    let line = list
        .lines()
        .find(|l| l.split(' ').any(|f| f == format!("name={name}")))
        .unwrap_or_else(|| panic!("no client named {name} in {list}"));
    line.split(' ').filter_map(|f| f.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// DEBUG DIGEST, or the error text (so two failures never compare equal to a digest).
pub fn digest(con: &mut redis::Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(con).unwrap_or_else(|e| format!("no digest: {e}"))
}
