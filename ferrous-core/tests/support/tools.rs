//! Tools for tests that talk to the oracle (redis-server, redis-check-*) and need scratch
//! directories: shared by the RDB codec and AOF loader tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// True under CI (`CI` set to anything but empty, `0` or `false`): missing tools fail.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The path of an executable named `name` on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// True if `name` is installed; otherwise prints SKIPPED, or fails under CI.
pub fn require_tool(name: &str) -> bool {
    if find_tool(name).is_some() {
        return true;
    }
    assert!(!ci(), "{name} is not installed, and CI requires it");
    eprintln!("SKIPPED: {name} not installed");
    false
}

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory; `tag` goes into its name.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "ferrous-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
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

/// A redis-server child on a free port, killed on drop.
pub struct RedisProc {
    child: Child,
    /// Its port.
    pub port: u16,
    log: PathBuf,
}

fn candidate_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // A range of its own, below Linux's ephemeral ports and apart from the 7200-7300 range
    // of the end-to-end tests; spread by pid so parallel test binaries rarely collide.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 97) as u16 * 3;
    loop {
        let port = 7400 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 590;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl RedisProc {
    /// Starts redis-server (no persistence unless `extra` says so) in `dir`; waits until
    /// it answers and is this child.
    pub fn start(dir: &Path, extra: &[&str]) -> RedisProc {
        for _ in 0..5 {
            let port = candidate_port();
            let log = dir.join(format!("redis-{port}.log"));
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir)
                .arg("--logfile")
                .arg(&log)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
                if let Ok(mut c) = client.get_connection() {
                    // Make sure the server answering is our child, not another test's.
                    let info: String = redis::cmd("INFO").arg("server").query(&mut c).unwrap_or_default();
                    if info.contains(&format!("process_id:{}\r", child.id())) {
                        return RedisProc { child, port, log };
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "redis-server on port {port} did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("could not start redis-server");
    }

    /// A connection of the `redis` crate.
    pub fn con(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap().get_connection().unwrap()
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("redis-server log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}
