//! Helpers shared by the scripting tests: an in-process Ferrous with the Lua engine
//! ([`Local`]), the oracle ([`Oracle`], a redis-server child on a free port of the test range),
//! and raw RESP reply framing.
#![allow(dead_code)]

use ferrous_core::{ClientState, ConnectionInfo, Database};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Oracle ports: redis-server instances of the workspace's tests live in this range.
const REDIS_PORTS: std::ops::Range<u16> = 7200..7300;

/// True when running under CI.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// A Ferrous database with the Lua engine installed, and one client connection to it.
pub struct Local {
    pub db: Database,
    pub client: ClientState,
    pub engine: std::sync::Arc<ferrous_lua::LuaEngine>,
}

impl Local {
    pub fn new() -> Local {
        Self::with(ferrous_lua::EngineConfig::default())
    }

    pub fn with(config: ferrous_lua::EngineConfig) -> Local {
        let db = Database::new();
        let engine = ferrous_lua::install_with(&db, config);
        let client = db.connect(ConnectionInfo::default());
        Local { db, client, engine }
    }

    /// Runs a command and returns the raw reply bytes.
    pub fn raw<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        let argv: ferrous_resp::ArgsBuf = args.iter().map(|a| a.as_ref()).collect();
        let mut out = Vec::new();
        self.db.dispatch(&mut self.client, argv.as_args(), &mut out);
        out
    }

    /// Runs a command and returns the reply as text (lossy), for assertions.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> String {
        String::from_utf8_lossy(&self.raw(args)).into_owned()
    }

    /// EVAL with no keys, as text.
    pub fn eval(&mut self, script: &str) -> String {
        self.cmd(&["EVAL", script, "0"])
    }
}

/// Length of the complete RESP value at the start of `buf`, if it is complete.
pub fn reply_len(buf: &[u8]) -> Option<usize> {
    fn line(buf: &[u8], from: usize) -> Option<usize> {
        buf[from..].windows(2).position(|w| w == b"\r\n").map(|i| from + i)
    }
    fn value(buf: &[u8], pos: usize) -> Option<usize> {
        let t = *buf.get(pos)?;
        let end = line(buf, pos + 1)?;
        let n = || std::str::from_utf8(&buf[pos + 1..end]).ok()?.parse::<i64>().ok();
        match t {
            b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(end + 2),
            b'$' | b'=' | b'!' => {
                let n = n()?;
                if n < 0 {
                    return Some(end + 2);
                }
                let stop = end + 2 + n as usize + 2;
                (buf.len() >= stop).then_some(stop)
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = n()?;
                let items = if t == b'%' || t == b'|' { n * 2 } else { n };
                let mut p = end + 2;
                for _ in 0..items.max(0) {
                    p = value(buf, p)?;
                }
                Some(p)
            }
            _ => None,
        }
    }
    value(buf, 0)
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A RESP connection to a server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn { stream, buf: Vec::new() })
    }

    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
        self.stream.write_all(&encode(&args)).expect("write to server");
    }

    pub fn read(&mut self) -> Vec<u8> {
        loop {
            if let Some(n) = reply_len(&self.buf) {
                let rest = self.buf.split_off(n);
                return std::mem::replace(&mut self.buf, rest);
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read from server");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn raw<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send(args);
        self.read()
    }

    /// [`Conn::raw`] that reports a failed connection instead of panicking (a server that
    /// is still starting, or exiting because another one holds its port).
    fn try_raw(&mut self, args: &[&str]) -> Option<Vec<u8>> {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&encode(&argv)).ok()?;
        loop {
            if let Some(n) = reply_len(&self.buf) {
                let rest = self.buf.split_off(n);
                return Some(std::mem::replace(&mut self.buf, rest));
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// redis-server, the oracle: a child process on a free port, killed on drop.
pub struct Oracle {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Oracle {
    /// Starts redis-server, or returns `None` (after printing SKIPPED) when it is not
    /// installed; under CI a missing redis-server panics.
    pub fn start() -> Option<Oracle> {
        if find_tool("redis-server").is_none() {
            assert!(!ci(), "redis-server is not installed, and CI requires it");
            eprintln!("SKIPPED: redis-server not installed");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("ferrous-lua-oracle-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        for attempt in 0..20u16 {
            let port = free_port(attempt);
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--dir"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut o = Oracle { child, port, dir: dir.clone() };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(mut c) = Conn::connect(port) {
                    if c.try_raw(&["PING"]).as_deref() == Some(b"+PONG\r\n") {
                        // Make sure the server is ours, not another test's that holds the port
                        // (ours then failed to bind and exits).
                        let info = c.try_raw(&["INFO", "server"]).unwrap_or_default();
                        if String::from_utf8_lossy(&info).contains(&format!("process_id:{}\r", o.child.id())) {
                            return Some(o);
                        }
                        break;
                    }
                }
                if let Ok(Some(_)) = o.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = o.child.kill();
        }
        panic!("could not start redis-server");
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.port).expect("connect to redis-server")
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

fn free_port(attempt: u16) -> u16 {
    let len = REDIS_PORTS.end - REDIS_PORTS.start;
    let start = (std::process::id() as u16)
        .wrapping_mul(13)
        .wrapping_add(attempt.wrapping_mul(31))
        .wrapping_add(nanos() as u16);
    for i in 0..len {
        let port = REDIS_PORTS.start + start.wrapping_add(i) % len;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {REDIS_PORTS:?}");
}

/// Replaces every `script: <40 hex>` and Lua addresses (`0x...`) so replies of scripts that
/// print them can be compared.
pub fn normalize(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}
