//! The link to a master (`REPLICAOF host port`, [`crate::Builder::replica_of`]), on a thread
//! of the Database's own:
//!
//! 1. Handshake as a Redis 7.0 replica: `PING`, `AUTH [masteruser] masterauth` when set,
//!    `REPLCONF listening-port` (and `ip-address`), `REPLCONF capa eof capa psync2`, then
//!    `PSYNC <replid> <offset + 1>` with our own id and offset, so a link that broke, or a
//!    former master now following a sibling, continues with a partial resync when it can.
//! 2. `+FULLRESYNC <id> <offset>`: the payload (`$<length>` or diskless `$EOF:<mark>`) is
//!    loaded into fresh keyspaces swapped in at the end (`-LOADING` meanwhile), our id and
//!    offset become the master's, replicas of ours resync. `+CONTINUE [<new id>]`: the data
//!    stays; a new id makes the old one our secondary id.
//! 3. The stream: each command runs as the master client (replies dropped, `READONLY`
//!    not applied), its bytes counted into our offset and proxied verbatim to our own
//!    replicas. `REPLCONF ACK <offset>` every second and on `REPLCONF GETACK`.
//!
//! A broken link is retried every second; nothing from the master for `repl-timeout`
//! seconds breaks it.
use crate::db::{Database, Inner, WeakDatabase};
use parking_lot::Mutex;
use std::io::{self, BufRead, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `connect`: not connected; `connecting`: handshake; `sync`: receiving the payload;
/// `connected`: streaming (ROLE's states).
pub const LINK_CONNECT: u8 = 0;
/// See [`LINK_CONNECT`].
pub const LINK_CONNECTING: u8 = 1;
/// See [`LINK_CONNECT`].
pub const LINK_SYNC: u8 = 2;
/// See [`LINK_CONNECT`].
pub const LINK_CONNECTED: u8 = 3;

/// One link to a master.
pub struct Link {
    /// Master host.
    pub host: String,
    /// Master port.
    pub port: u16,
    /// One of the `LINK_*` states.
    pub state: AtomicU8,
    /// Set to end the link (REPLICAOF NO ONE / another master / drop).
    pub stop: AtomicBool,
    /// Unix ms of the last bytes from the master.
    pub last_io_ms: AtomicI64,
    /// Unix ms since the link is down (0 while up).
    pub down_since_ms: AtomicI64,
    /// Payload bytes expected (-1 for diskless) and received, during a full sync.
    pub sync_total: AtomicI64,
    /// See `sync_total`.
    pub sync_read: AtomicU64,
    /// The master client's id while connected (exempt from READONLY).
    pub master_client: AtomicU64,
    /// The database the master's stream last selected: a partial resync continues in it
    /// (Redis keeps its cached master client, database and all).
    master_db: std::sync::atomic::AtomicUsize,
    /// The socket, to break a blocked read when the link is stopped.
    socket: Mutex<Option<TcpStream>>,
    /// Ask the master to promote itself (`PSYNC ... FAILOVER`): we are a master handing over
    /// to this replica of ours (FAILOVER).
    pub failover: AtomicBool,
    /// Sessions that ended in an error.
    pub failures: AtomicU64,
}

impl Link {
    /// ROLE's name of the state.
    pub fn state_name(&self) -> &'static str {
        match self.state.load(Relaxed) {
            LINK_CONNECTING => "connecting",
            LINK_SYNC => "sync",
            LINK_CONNECTED => "connected",
            _ => "connect",
        }
    }
    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }
    /// The database the master's stream selected last (`repl-stream-db` in a saved RDB).
    pub fn stream_db(&self) -> usize {
        self.master_db.load(Relaxed)
    }
    fn shut(&self) {
        self.stop.store(true, Relaxed);
        if let Some(s) = self.socket.lock().take() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Starts replicating `host:port` (stopping any previous link). Replicas of ours are
/// dropped: they resync with us, as Redis forces them to.
pub fn start(db: &Database, host: String, port: u16) -> Arc<Link> {
    start_with(db, host, port, false)
}

/// [`start`]; `failover`: ask the new master to promote itself (FAILOVER's hand-over).
pub fn start_with(db: &Database, host: String, port: u16, failover: bool) -> Arc<Link> {
    let inner = &db.inner;
    stop_link(inner);
    let repl = &inner.repl;
    {
        let _role = repl.link.lock();
        repl.is_replica.store(true, Relaxed);
    }
    {
        let mut b = repl.backlog.lock();
        if !b.active {
            b.active = true;
            super::apply_limits(inner, &mut b);
        }
    }
    super::drop_replicas(inner);
    refresh_alerts(inner);
    keep_expired_keys(inner, true);
    let link = Arc::new(Link {
        host,
        port,
        state: AtomicU8::new(LINK_CONNECT),
        stop: AtomicBool::new(false),
        last_io_ms: AtomicI64::new(0),
        down_since_ms: AtomicI64::new(inner.clock.now_ms()),
        sync_total: AtomicI64::new(0),
        sync_read: AtomicU64::new(0),
        master_client: AtomicU64::new(0),
        master_db: std::sync::atomic::AtomicUsize::new(repl.restored_db.lock().take().unwrap_or(0)),
        socket: Mutex::new(None),
        failover: AtomicBool::new(failover),
        failures: AtomicU64::new(0),
    });
    *repl.link.lock() = Some(link.clone());
    let weak = db.downgrade();
    let running = link.clone();
    let _ = std::thread::Builder::new().name("ferrous-replica-link".into()).spawn(move || run(weak, running));
    link
}

/// Stops replicating: the data stays, our id becomes a new one with the master's kept as
/// the secondary id (so our own replicas and siblings can still resync partially).
pub fn promote(inner: &Arc<Inner>) {
    if !inner.repl.is_replica() {
        return;
    }
    stop_link(inner);
    inner.repl.shift_id();
    inner.repl.backlog.lock().force_select();
    {
        let _role = inner.repl.link.lock();
        inner.repl.is_replica.store(false, Relaxed);
    }
    // Our own writes feed the stream from now on (it continues the master's offsets).
    super::ensure_backlog(inner);
    super::no_replicas_from(inner, inner.clock.now_ms());
    refresh_alerts(inner);
    keep_expired_keys(inner, false);
    // Our replicas learn the new id by resyncing (partially, thanks to the secondary id).
    super::drop_replicas(inner);
    crate::persistence::log_notice(inner, "MASTER MODE enabled (user request from 'id=0')");
}

/// Switches every shard between a master's lazy expiry and a replica's (expired keys read
/// as missing but are only deleted by the master's DEL).
fn keep_expired_keys(inner: &Inner, on: bool) {
    let all: Vec<usize> = (0..inner.db_count()).collect();
    crate::access::Access::new(inner, 0, inner.clock.now_ms()).write_dbs(&all, |dbs| {
        for (_, shards) in dbs.iter_mut() {
            for s in shards.iter_mut() {
                s.keep_expired = on;
            }
        }
    });
}

fn stop_link(inner: &Inner) {
    if let Some(link) = inner.repl.link.lock().take() {
        link.shut();
    }
}

/// The READONLY / MASTERDOWN gates follow the role, `replica-read-only`,
/// `replica-serve-stale-data` and the link's state.
pub(crate) fn refresh_alerts(inner: &Inner) {
    use crate::persistence::{ALERT_READONLY, ALERT_STALE};
    let (read_only, serve_stale) = {
        let c = inner.config.read();
        (c.get_bool("replica-read-only"), c.get_bool("replica-serve-stale-data"))
    };
    // Read and set under the link's lock, which role changes also take: a link thread
    // refreshing as it stops cannot put back a stale READONLY after a promotion.
    let link = inner.repl.link.lock();
    let replica = inner.repl.is_replica();
    let up = link.as_ref().is_some_and(|l| l.state.load(Relaxed) == LINK_CONNECTED);
    inner.rdb.set_alert(ALERT_READONLY, replica && read_only);
    inner.rdb.set_alert(ALERT_STALE, replica && !serve_stale && !up);
}

fn run(weak: WeakDatabase, link: Arc<Link>) {
    while !link.stopped() {
        let Some(db) = weak.upgrade() else { return };
        let inner = db.inner.clone();
        link.state.store(LINK_CONNECTING, Relaxed);
        crate::persistence::log_notice(&inner, &format!("Connecting to MASTER {}:{}", link.host, link.port));
        let result = session(&db, &link);
        link.state.store(LINK_CONNECT, Relaxed);
        link.master_client.store(0, Relaxed);
        if link.down_since_ms.load(Relaxed) == 0 {
            link.down_since_ms.store(inner.clock.now_ms(), Relaxed);
        }
        refresh_alerts(&inner);
        if result.is_err() {
            link.failures.fetch_add(1, Relaxed);
        }
        match result {
            Err(e) if !link.stopped() => {
                crate::persistence::log_notice(&inner, &format!("Error condition on socket for SYNC: {e}"));
            }
            _ => {}
        }
        drop(inner);
        drop(db);
        // Retry once a second, as Redis's replicationCron.
        let until = Instant::now() + Duration::from_secs(1);
        while !link.stopped() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The connection to the master, buffered (the payload and the stream share it).
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Wire {
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(n)
    }

    /// A line without its CRLF (or LF).
    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf[self.start..self.end].iter().position(|&b| b == b'\n') {
                let mut line = &self.buf[self.start..self.start + i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let s = String::from_utf8_lossy(line).into_owned();
                self.start += i + 1;
                return Ok(s);
            }
            if self.end - self.start > 64 * 1024 {
                return Err(io::Error::other("line too long from master"));
            }
            self.fill()?;
        }
    }

    fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::new();
        crate::aof::writer::encode_command(&mut out, &args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
        self.stream.write_all(&out)
    }

    /// Sends a command and reads its one-line reply.
    fn call(&mut self, args: &[&[u8]]) -> io::Result<String> {
        self.send(args)?;
        self.line()
    }
}

impl Read for Wire {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            match self.fill() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl BufRead for Wire {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            match self.fill() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(&[]),
                Err(e) => return Err(e),
            }
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

/// A diskless payload: everything up to the 40-byte end mark. The master sends nothing after
/// the mark until we acknowledge, so the mark is always the end of what has arrived.
struct EofPayload<'a> {
    wire: &'a mut Wire,
    mark: Vec<u8>,
    done: bool,
    link: &'a Link,
}

impl Read for EofPayload<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.done {
                return Ok(0);
            }
            let avail = self.wire.end - self.wire.start;
            let held = &self.wire.buf[self.wire.start..self.wire.end];
            if avail >= self.mark.len() && held.ends_with(&self.mark) {
                // Hand out what precedes the mark, then stop.
                let body = avail - self.mark.len();
                if body == 0 {
                    self.wire.start = self.wire.end;
                    self.done = true;
                    return Ok(0);
                }
                let n = out.len().min(body);
                out[..n].copy_from_slice(&held[..n]);
                self.wire.start += n;
                self.link.sync_read.fetch_add(n as u64, Relaxed);
                return Ok(n);
            }
            // Keep the last mark-length bytes back: they may be the start of the mark.
            if avail > self.mark.len() {
                let n = out.len().min(avail - self.mark.len());
                out[..n].copy_from_slice(&held[..n]);
                self.wire.start += n;
                self.link.sync_read.fetch_add(n as u64, Relaxed);
                return Ok(n);
            }
            self.wire.fill()?;
        }
    }
}

/// A `$<length>` payload.
struct SizedPayload<'a> {
    wire: &'a mut Wire,
    left: u64,
    link: &'a Link,
}

impl Read for SizedPayload<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = out.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.wire.read(&mut out[..max])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        self.link.sync_read.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

fn connect(link: &Link, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::other("no address");
    for addr in (link.host.as_str(), link.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn expect_ok(reply: &str, what: &str) -> io::Result<()> {
    if reply.starts_with('-') {
        Err(io::Error::other(format!("{what}: {reply}")))
    } else {
        Ok(())
    }
}

fn session(db: &Database, link: &Link) -> io::Result<()> {
    let inner = &db.inner;
    let timeout = Duration::from_secs(inner.config.read().get_i64("repl-timeout").max(1) as u64);
    let stream = connect(link, timeout)?;
    let _ = stream.set_nodelay(true);
    stream.set_read_timeout(Some(timeout))?;
    *link.socket.lock() = stream.try_clone().ok();
    if link.stopped() {
        return Ok(());
    }
    let mut wire = Wire { stream, buf: vec![0; 64 * 1024], start: 0, end: 0 };
    // PING: an authentication error is fine here (AUTH follows), as Redis's replica accepts.
    let pong = wire.call(&[b"PING"])?;
    if pong.starts_with('-')
        && !(pong.starts_with("-NOAUTH")
            || pong.starts_with("-NOPERM")
            || pong.starts_with("-ERR operation not permitted"))
    {
        return Err(io::Error::other(format!("Error reply to PING from master: '{pong}'")));
    }
    let (user, pass, announce_ip, announce_port, port) = {
        let c = inner.config.read();
        (
            c.get("masteruser").unwrap_or("").to_string(),
            c.get("masterauth").unwrap_or("").to_string(),
            c.get("replica-announce-ip").unwrap_or("").to_string(),
            c.get_i64("replica-announce-port"),
            c.get_i64("port"),
        )
    };
    if !pass.is_empty() {
        let reply = if user.is_empty() {
            wire.call(&[b"AUTH", pass.as_bytes()])?
        } else {
            wire.call(&[b"AUTH", user.as_bytes(), pass.as_bytes()])?
        };
        expect_ok(&reply, "Unable to AUTH to MASTER")?;
    }
    let listening = if announce_port > 0 { announce_port } else { port };
    let reply = wire.call(&[b"REPLCONF", b"listening-port", listening.to_string().as_bytes()])?;
    expect_ok(&reply, "REPLCONF listening-port")?;
    if !announce_ip.is_empty() {
        let reply = wire.call(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])?;
        expect_ok(&reply, "REPLCONF ip-address")?;
    }
    // Old masters answer an error to capa: harmless, as in Redis.
    let _ = wire.call(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    let (replid, offset) = {
        let ids = inner.repl.ids();
        (ids.replid, inner.repl.offset())
    };
    let offset_arg = (offset + 1).to_string();
    if link.failover.load(Relaxed) {
        wire.send(&[b"PSYNC", replid.as_bytes(), offset_arg.as_bytes(), b"FAILOVER"])?;
    } else {
        wire.send(&[b"PSYNC", replid.as_bytes(), offset_arg.as_bytes()])?;
    }
    // A master keeps the link alive with newlines until it answers (while it waits for its
    // diskless-sync delay, for instance).
    let reply = loop {
        let line = wire.line()?;
        if !line.is_empty() {
            break line;
        }
    };
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut parts = rest.split_whitespace();
        let id = parts.next().unwrap_or("").to_string();
        let off: u64 = parts.next().and_then(|o| o.parse().ok()).ok_or_else(|| io::Error::other("bad FULLRESYNC"))?;
        full_sync(inner, link, &mut wire, id, off)?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        if !new_id.is_empty() && new_id != replid {
            let mut ids = inner.repl.ids.lock();
            ids.replid2 = std::mem::replace(&mut ids.replid, new_id.to_string());
            ids.second_offset = offset as i64 + 1;
            drop(ids);
            super::drop_replicas(inner);
        }
        crate::persistence::log_notice(
            inner,
            "Successful partial resynchronization with master. MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.",
        );
    } else {
        return Err(io::Error::other(format!("Unexpected reply to PSYNC from master: {reply}")));
    }
    stream_commands(db, link, wire)
}

fn full_sync(inner: &Arc<Inner>, link: &Link, wire: &mut Wire, id: String, offset: u64) -> io::Result<()> {
    link.state.store(LINK_SYNC, Relaxed);
    link.sync_read.store(0, Relaxed);
    crate::persistence::log_notice(inner, &format!("Full resync from master: {id}:{offset}"));
    // The master may send newlines while it prepares the payload.
    let header = loop {
        let line = wire.line()?;
        if !line.is_empty() {
            break line;
        }
    };
    let mode = LoadMode::choose(inner, &id);
    let opts = crate::persistence::LoadOptions { skip_expired: false, replace_functions: true };
    let saved = if let Some(mark) = header.strip_prefix("$EOF:") {
        if mark.len() != 40 {
            return Err(io::Error::other("bad EOF mark from master"));
        }
        link.sync_total.store(-1, Relaxed);
        let mut payload = EofPayload { wire, mark: mark.as_bytes().to_vec(), done: false, link };
        let what = "streamed RDB from master with EOF";
        match mode {
            LoadMode::Disk => {
                crate::persistence::log_notice(inner, &format!("MASTER <-> REPLICA sync: receiving {what} to disk"));
                load_through_file(inner, &mut payload, opts)?
            }
            LoadMode::Socket { async_load } => {
                crate::persistence::log_notice(inner, &format!("MASTER <-> REPLICA sync: receiving {what} to parser"));
                let r = crate::persistence::load_saved_as(inner, &mut payload, 0, opts, async_load);
                // Whatever the loader left before the mark is not ours to keep.
                let mut rest = Vec::new();
                let _ = payload.read_to_end(&mut rest);
                socket_loaded(r)?
            }
        }
    } else if let Some(len) = header.strip_prefix('$') {
        let len: u64 = len.parse().map_err(|_| io::Error::other("bad bulk length from master"))?;
        link.sync_total.store(len as i64, Relaxed);
        let mut payload = SizedPayload { wire, left: len, link };
        match mode {
            LoadMode::Disk => {
                crate::persistence::log_notice(
                    inner,
                    &format!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk"),
                );
                load_through_file(inner, &mut payload, opts)?
            }
            LoadMode::Socket { async_load } => {
                let r = crate::persistence::load_saved_as(inner, &mut payload, len, opts, async_load);
                let _ = io::copy(&mut payload, &mut io::sink());
                socket_loaded(r)?
            }
        }
    } else {
        return Err(io::Error::other(format!("Bad protocol from MASTER, the first byte is not '$': {header}")));
    };
    {
        let mut ids = inner.repl.ids.lock();
        ids.replid = id;
        ids.replid2 = super::NO_ID.into();
        ids.second_offset = -1;
    }
    inner.repl.backlog.lock().reset(offset);
    // The master client starts in the payload's `repl-stream-db`, as Redis's.
    let db = usize::try_from(saved.stream_db).ok().filter(|&d| d < inner.db_count()).unwrap_or(0);
    link.master_db.store(db, Relaxed);
    super::drop_replicas(inner);
    crate::persistence::log_notice(inner, "MASTER <-> REPLICA sync: Finished with success");
    Ok(())
}

/// How a full sync's payload is loaded (`repl-diskless-load`).
enum LoadMode {
    /// `disabled` (or `on-empty-db` with data): into a temporary file in `dir`, which
    /// becomes `dbfilename` and is loaded once complete; the old data is served meanwhile.
    Disk,
    /// `swapdb` (or `on-empty-db` on an empty dataset): parsed from the socket into new
    /// keyspaces swapped in at the end (the old data stays if the load fails). `async_load`:
    /// 7.0's async loading, when the master's id is still ours (the old data is an earlier
    /// point of the same history): clients keep reading it instead of getting `-LOADING`.
    Socket { async_load: bool },
}

impl LoadMode {
    fn choose(inner: &Inner, master_id: &str) -> LoadMode {
        let mode = inner.config.read().get("repl-diskless-load").unwrap_or("disabled").to_ascii_lowercase();
        let empty = || inner.dbs.iter().all(|ks| ks.is_empty());
        let socket = match mode.as_str() {
            "swapdb" => true,
            "on-empty-db" => empty(),
            _ => false,
        };
        // Without a data directory (an embedded Database) there is no file to go through.
        if !socket && inner.rdb.enabled.load(Relaxed) {
            return LoadMode::Disk;
        }
        LoadMode::Socket { async_load: mode == "swapdb" && inner.repl.ids().replid == master_id }
    }
}

fn socket_loaded(
    r: Result<(crate::persistence::LoadStats, super::SavedReplication), crate::persistence::PersistError>,
) -> io::Result<super::SavedReplication> {
    r.map(|(_, saved)| saved)
        .map_err(|e| io::Error::other(format!("Failed trying to load the MASTER synchronization DB from socket: {e}")))
}

/// `repl-diskless-load disabled`: the payload goes to `temp-<unixtime>.<pid>.rdb` in `dir`
/// (the old data is served meanwhile), which is then renamed over `dbfilename` and loaded,
/// as Redis does. A file that fails to load leaves the dataset empty, as Redis's (which
/// flushed it first); with `rdb-del-sync-files yes` and no persistence the file is removed
/// after the load.
fn load_through_file(
    inner: &Arc<Inner>,
    payload: &mut dyn Read,
    opts: crate::persistence::LoadOptions,
) -> io::Result<super::SavedReplication> {
    let dir = std::path::PathBuf::from(inner.config.read().get("dir").unwrap_or(".").to_string());
    let temp = dir.join(format!("temp-{}.{}.rdb", inner.clock.now_ms() / 1000, std::process::id()));
    let written = (|| -> io::Result<()> {
        let file = std::fs::File::create(&temp)?;
        let mut w = io::BufWriter::with_capacity(1 << 20, &file);
        io::copy(payload, &mut w)?;
        w.flush()?;
        drop(w);
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io::Error::other(format!("I/O error trying to sync with MASTER: {e}")));
    }
    let target = crate::persistence::rdb_path(inner);
    // A BGSAVE finishing now would replace the file with the old data (Redis kills its
    // child here).
    crate::persistence::abort_bgsave(inner, true);
    crate::persistence::log_notice(inner, "MASTER <-> REPLICA sync: Flushing old data");
    flush_old_data(inner);
    if let Err(e) = std::fs::rename(&temp, &target) {
        let _ = std::fs::remove_file(&temp);
        return Err(io::Error::other(format!(
            "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
            target.display()
        )));
    }
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    crate::persistence::log_notice(inner, "MASTER <-> REPLICA sync: Loading DB in memory");
    let loaded = crate::persistence::load_file_saved(inner, &target, opts);
    let remove = {
        let c = inner.config.read();
        c.get_bool("rdb-del-sync-files") && !c.get_bool("appendonly") && crate::persistence::save_points(&c).is_empty()
    };
    if remove {
        crate::persistence::log_notice(
            inner,
            "Removing the RDB file obtained from the master. This replica has persistence disabled",
        );
        let _ = std::fs::remove_file(&target);
    }
    match loaded {
        Ok(Some((_, saved))) => Ok(saved),
        Ok(None) => Err(io::Error::other("the synchronization file vanished")),
        Err(e) => {
            crate::persistence::log_error(
                inner,
                &format!("Failed trying to load the MASTER synchronization DB from disk, check server logs. ({e})"),
            );
            crate::persistence::flush_all(inner);
            Err(io::Error::other(format!("Failed trying to load the MASTER synchronization DB from disk: {e}")))
        }
    }
}

/// Empties every database before the master's payload is loaded (Redis's `emptyData`):
/// with `replica-lazy-flush yes` the old contents go to the lazy-free thread (counted in
/// `lazyfree_pending_objects` / `lazyfreed_objects`, one per key, as Redis's
/// `emptyDbAsync`), otherwise they are freed here.
fn flush_old_data(inner: &Arc<Inner>) {
    let lazy = inner.config.read().get_bool("replica-lazy-flush");
    let all: Vec<usize> = (0..inner.db_count()).collect();
    let mut data = Vec::new();
    let acc = crate::access::Access::new(inner, 0, inner.clock.now_ms());
    let keys = acc.write_dbs(&all, |dbs| {
        let mut keys = 0;
        for (_, shards) in dbs.iter_mut() {
            for shard in shards.iter_mut() {
                keys += shard.dict.len();
                if !shard.dict.is_empty() || shard.volatile_len() > 0 {
                    data.push(shard.take_data());
                }
            }
        }
        inner.tracking.invalidate_all();
        keys
    });
    crate::lazyfree::free_data(inner, data, keys, lazy);
}

fn send_ack(wire: &mut Wire, offset: u64) -> io::Result<()> {
    wire.send(&[b"REPLCONF", b"ACK", offset.to_string().as_bytes()])
}

fn stream_commands(db: &Database, link: &Link, mut wire: Wire) -> io::Result<()> {
    let inner = &db.inner;
    let mut client = db.connect(crate::client::ConnectionInfo {
        addr: format!("{}:{}", link.host, link.port),
        laddr: wire.stream.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        fd: -1,
        waker: None,
    });
    client.authenticated = true;
    client.select(link.master_db.load(Relaxed));
    client.info.role.store(crate::client::ROLE_MASTER, Relaxed);
    link.master_client.store(client.id(), Relaxed);
    link.state.store(LINK_CONNECTED, Relaxed);
    link.down_since_ms.store(0, Relaxed);
    link.last_io_ms.store(inner.clock.now_ms(), Relaxed);
    refresh_alerts(inner);
    let result = apply_stream(inner, link, db, &mut client, &mut wire);
    link.master_db.store(client.db, Relaxed);
    db.disconnect(&client);
    result
}

fn apply_stream(
    inner: &Arc<Inner>,
    link: &Link,
    db: &Database,
    client: &mut crate::client::ClientState,
    wire: &mut Wire,
) -> io::Result<()> {
    send_ack(wire, inner.repl.offset())?;
    let mut last_ack = Instant::now();
    let mut parser = ferrous_resp::RequestParser::default();
    let mut out = Vec::new();
    wire.stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let timeout_ms = inner.config.read().get_i64("repl-timeout").max(1) * 1000;
    loop {
        if link.stopped() || db.is_last_handle() {
            return Ok(());
        }
        if client.info.killed.load(Relaxed) {
            return Err(io::Error::other("the master link was killed (CLIENT KILL)"));
        }
        // Every complete command buffered.
        loop {
            let input = &wire.buf[wire.start..wire.end];
            match parser.parse(input) {
                Ok(ferrous_resp::Parsed::Command(n)) => {
                    let args = parser.args(input);
                    let getack = args.len() >= 2
                        && args.at(0).eq_ignore_ascii_case(b"replconf")
                        && args.at(1).eq_ignore_ascii_case(b"getack");
                    // A save sees the command applied and counted, or neither.
                    let applying = inner.repl.apply_lock.lock();
                    if getack {
                        let offset = inner.repl.offset();
                        send_ack(wire, offset)?;
                        last_ack = Instant::now();
                    } else if !args.at(0).eq_ignore_ascii_case(b"ping") {
                        db.dispatch(client, args, &mut out);
                        out.clear();
                        link.master_db.store(client.db, Relaxed);
                    }
                    // Counted (and passed on to our replicas) once applied, as Redis does.
                    super::feed_raw(inner, &wire.buf[wire.start..wire.start + n]);
                    drop(applying);
                    inner.stats.net_repl_input_bytes.fetch_add(n as u64, Relaxed);
                    wire.start += n;
                    parser.reset();
                }
                Ok(ferrous_resp::Parsed::Empty(n)) => {
                    // Newlines (keepalives) are not part of the stream.
                    wire.start += n;
                    parser.reset();
                }
                Ok(ferrous_resp::Parsed::Incomplete) => break,
                Err(e) => return Err(io::Error::other(format!("protocol error from master: {e}"))),
            }
        }
        let _ = crate::aof::writer::commit(inner);
        if last_ack.elapsed() >= Duration::from_secs(1) {
            send_ack(wire, inner.repl.offset())?;
            last_ack = Instant::now();
        }
        match wire.fill() {
            Ok(_) => link.last_io_ms.store(inner.clock.now_ms(), Relaxed),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if inner.clock.now_ms() - link.last_io_ms.load(Relaxed) > timeout_ms {
                    return Err(io::Error::other("MASTER timeout: no data nor PING received"));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

impl Database {
    /// Makes this Database a live replica of the Redis or Ferrous master at `host:port`
    /// (REPLICAOF): it syncs in the background, reconnects and resyncs partially after a
    /// broken link, and stays readable meanwhile (read-only through the command table while
    /// `replica-read-only` is on; the typed API is not restricted).
    pub fn replica_of(&self, host: &str, port: u16) {
        start(self, host.to_string(), port);
    }

    /// Stops replicating (REPLICAOF NO ONE): the data stays and writes are accepted again.
    pub fn stop_replication(&self) {
        promote(&self.inner);
    }

    /// Starts the link the `replicaof` directive names, if any (after the data files are
    /// loaded, as Redis does).
    pub fn start_configured_replication(&self) {
        if self.inner.repl.link.lock().is_some() {
            return;
        }
        let value = self.inner.config.read().get("replicaof").unwrap_or("").to_string();
        let mut parts = value.split_whitespace();
        if let (Some(host), Some(port)) = (parts.next(), parts.next().and_then(|p| p.parse::<u16>().ok())) {
            if !host.eq_ignore_ascii_case("no") {
                self.replica_of(host, port);
            }
        }
    }

    /// The replication offset this Database has processed (a master's
    /// `master_repl_offset`, a replica's `slave_repl_offset`).
    pub fn replication_offset(&self) -> u64 {
        self.inner.repl.offset()
    }

    /// Waits until this replica processed the master's stream up to `offset` (its master's
    /// `master_repl_offset` after a write, for read-your-writes); false on timeout.
    pub fn wait_for_offset(&self, offset: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut b = self.inner.repl.backlog.lock();
        let repl = &self.inner.repl;
        while b.offset < offset {
            repl.senders_waiting.fetch_add(1, Relaxed);
            let timed_out = repl.data.wait_until(&mut b, deadline).timed_out();
            repl.senders_waiting.fetch_sub(1, Relaxed);
            if timed_out {
                return b.offset >= offset;
            }
        }
        true
    }

    /// INFO replication as field/value pairs.
    pub fn replication_info(&self) -> Vec<(String, String)> {
        super::info_fields(&self.inner)
    }
}
