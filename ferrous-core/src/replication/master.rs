//! Serving one replica: `PSYNC` / `SYNC` answered on the replica's own threads (a sender
//! and an ACK reader), so the event loops never wait on a slow replica.
//!
//! - Partial resync: `+CONTINUE <replid>` when the replica's id is ours (or our previous one
//!   up to `second_repl_offset`) and the offset it asks for is still in the backlog; the
//!   stream follows from there.
//! - Full resync: `+FULLRESYNC <replid> <offset>`, then a snapshot from the fork-less
//!   snapshot service, sent diskless (`$EOF:<40 random bytes>` ... the same 40 bytes) when
//!   the replica can take it and `repl-diskless-sync` is on, otherwise written to a file in
//!   `dir` first and sent as one bulk (`$<length>`). `offset` is the stream position of the
//!   snapshot's instant, so the stream that follows starts exactly after it.
use super::{ensure_backlog, offset_at, reselect_from, Peer};
use crate::client::ClientInfo;
use crate::db::Inner;
use crate::snapshot::{Format, Snapshot, SnapshotError, SnapshotInfo};
use std::io::{self, BufWriter, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a replica asked for, with what it said in `REPLCONF` before.
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    /// `PSYNC <replid> <offset>`; `None` for the old `SYNC`.
    pub psync: Option<(Vec<u8>, i64)>,
    /// `REPLCONF listening-port`.
    pub port: u16,
    /// `REPLCONF ip-address`.
    pub ip: Option<String>,
    /// `REPLCONF capa eof`: can load a diskless transfer.
    pub capa_eof: bool,
    /// `REPLCONF capa psync2`: understands `+CONTINUE <new id>`.
    pub capa_psync2: bool,
}

/// Takes over the connection of a client that sent PSYNC or SYNC: the replica is served on
/// threads of its own until it disconnects, is killed or falls too far behind.
pub fn serve(owner: &Arc<Inner>, stream: TcpStream, client: Arc<ClientInfo>, req: SyncRequest) {
    let inner = owner.clone();
    let name = format!("ferrous-replica-{}", client.id);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let _ = stream.set_nodelay(!inner.config.read().get_bool("repl-disable-tcp-nodelay"));
        let _ = stream.set_nonblocking(false);
        let ip = req.ip.clone().unwrap_or_else(|| host_of(&client.addr));
        let peer = Arc::new(Peer {
            client_id: client.id,
            ip,
            port: req.port,
            sent: AtomicU64::new(u64::MAX),
            ack: AtomicU64::new(0),
            ack_ms: AtomicI64::new(inner.clock.now_ms()),
            state: parking_lot::Mutex::new("wait_bgsave"),
            dropped: AtomicBool::new(false),
            acks_received: AtomicU64::new(0),
        });
        inner.repl.backlog.lock().peers.push(peer.clone());
        let reader = stream.try_clone().ok().map(|s| {
            let (inner, peer) = (inner.clone(), peer.clone());
            std::thread::spawn(move || read_acks(&inner, &peer, s))
        });
        let result = run(&inner, &stream, &client, &peer, &req);
        if let Err(e) = &result {
            crate::persistence::log_notice(&inner, &format!("Replica {}:{} lost: {e}", peer.ip, peer.port));
        }
        peer.dropped.store(true, Relaxed);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        if let Some(r) = reader {
            let _ = r.join();
        }
        {
            let mut b = inner.repl.backlog.lock();
            b.peers.retain(|p| !Arc::ptr_eq(p, &peer));
            if b.peers.is_empty() {
                super::no_replicas_from(&inner, inner.clock.now_ms());
            }
        }
        inner.clients.unregister(client.id);
        inner.repl.acks.notify_all();
    });
    if spawned.is_err() {
        crate::persistence::log_error(owner, "Can't create a thread for a replica");
    }
}

fn host_of(addr: &str) -> String {
    match addr.rfind(':') {
        Some(i) => addr[..i].trim_start_matches('[').trim_end_matches(']').to_string(),
        None => addr.to_string(),
    }
}

fn stopped(peer: &Peer, client: &ClientInfo) -> bool {
    peer.dropped.load(Relaxed) || client.killed.load(Relaxed)
}

fn run(inner: &Arc<Inner>, stream: &TcpStream, client: &ClientInfo, peer: &Peer, req: &SyncRequest) -> io::Result<()> {
    let mut out = stream;
    ensure_backlog(inner);
    let partial = try_partial(inner, peer, req);
    if partial.is_none() && req.psync.as_ref().is_some_and(|(id, _)| id.as_slice() != b"?") {
        inner.stats.sync_partial_err.fetch_add(1, Relaxed);
    }
    let from = match partial {
        Some(from) => {
            inner.stats.sync_partial_ok.fetch_add(1, Relaxed);
            let ids = inner.repl.ids();
            let line = if req.capa_psync2 { format!("+CONTINUE {}\r\n", ids.replid) } else { "+CONTINUE\r\n".into() };
            out.write_all(line.as_bytes())?;
            crate::persistence::log_notice(
                inner,
                &format!("Partial resynchronization request from {}:{} accepted.", peer.ip, peer.port),
            );
            from
        }
        None => {
            inner.stats.sync_full.fetch_add(1, Relaxed);
            let (from, diskless) = full_sync(inner, stream, client, peer, req)?;
            if diskless {
                // A replica cannot tell where a diskless payload ends if more bytes follow
                // its end marker: the stream starts after its first ACK, as in Redis.
                let mut g = inner.repl.acks_lock.lock();
                while peer.acks_received.load(Relaxed) == 0 {
                    if stopped(peer, client) {
                        return Ok(());
                    }
                    inner.repl.acks.wait_for(&mut g, Duration::from_millis(100));
                }
            }
            from
        }
    };
    *peer.state.lock() = "online";
    peer.ack_ms.store(inner.clock.now_ms(), Relaxed);
    send_stream(inner, stream, client, peer, from)
}

/// The 0-based index of the next byte to send for a partial resync, registered in the
/// backlog, or `None` for a full one.
fn try_partial(inner: &Arc<Inner>, peer: &Peer, req: &SyncRequest) -> Option<u64> {
    let (id, offset) = req.psync.as_ref()?;
    let ids = inner.repl.ids();
    let id = std::str::from_utf8(id).ok()?;
    if id != ids.replid && (id != ids.replid2 || *offset > ids.second_offset) {
        return None;
    }
    let want = u64::try_from(*offset).ok()?.checked_sub(1)?;
    let b = inner.repl.backlog.lock();
    if !b.active || want < b.first() || want > b.offset {
        return None;
    }
    peer.sent.store(want, Relaxed);
    Some(want)
}

/// `+FULLRESYNC`, then the snapshot; returns where the stream continues and whether the
/// transfer was diskless.
fn full_sync(
    inner: &Arc<Inner>,
    stream: &TcpStream,
    client: &ClientInfo,
    peer: &Peer,
    req: &SyncRequest,
) -> io::Result<(u64, bool)> {
    ensure_backlog(inner);
    let (diskless, delay) = {
        let c = inner.config.read();
        (req.capa_eof && c.get_bool("repl-diskless-sync"), c.get_i64("repl-diskless-sync-delay").max(0) as u64)
    };
    if diskless && delay > 0 {
        // Redis waits this long for more replicas to share the transfer; each replica gets
        // its own snapshot here, but the delay is kept: operators tune around it.
        let until = Instant::now() + Duration::from_secs(delay);
        while Instant::now() < until && !stopped(peer, client) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let (opts, checksum) = {
        let c = inner.config.read();
        (crate::rdb::EncodeOptions { compress: c.get_bool("rdbcompression") }, c.get_bool("rdbchecksum"))
    };
    let (mut snapshot, offset, stream_db) = loop {
        if stopped(peer, client) {
            return Err(io::Error::other("replica dropped before its snapshot"));
        }
        // On a replica (serving a sub-replica) the link applies no command of its master's
        // stream meanwhile: the snapshot, the offset and the stream's database agree.
        let applying = inner.repl.apply_lock.lock();
        let replica = inner.repl.is_replica();
        match Snapshot::begin_as(inner, Format::Rdb, opts, SnapshotInfo::default(), |position| {
            if !replica {
                reselect_from(inner, position)
            }
        }) {
            Ok(s) if replica => {
                // The proxied stream goes on in its master's database without a SELECT:
                // the sub-replica starts there (`repl-stream-db`).
                let db = inner.repl.link.lock().as_ref().map_or(0, |l| l.stream_db());
                break (s, inner.repl.offset(), db);
            }
            Ok(s) => {
                drop(applying);
                let offset = offset_at(inner, s.stream_position());
                // The stream after the snapshot selects its database first.
                break (s, offset, 0);
            }
            // A BGSAVE or AOF rewrite runs: ours starts when it ends.
            Err(SnapshotError::InProgress) => {
                drop(applying);
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    };
    {
        let b = inner.repl.backlog.lock();
        if offset < b.first() {
            return Err(io::Error::other("the stream moved past the snapshot"));
        }
        peer.sent.store(offset, Relaxed);
    }
    let replid = inner.repl.ids().replid;
    // As Redis's payload: the id and offset it continues from, and the stream's database.
    snapshot.set_replication(Some((stream_db as u64, replid.clone(), offset as i64)));
    crate::persistence::log_notice(
        inner,
        &format!(
            "Full resync requested by replica {}:{}; starting BGSAVE for SYNC with target: {}",
            peer.ip,
            peer.port,
            if diskless { "replicas sockets" } else { "disk" }
        ),
    );
    let mut out = stream;
    if req.psync.is_some() {
        out.write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes())?;
    }
    *peer.state.lock() = "send_bulk";
    if diskless {
        let mark: String = crate::db::random_hex_id();
        let mut w = BufWriter::with_capacity(64 * 1024, stream);
        w.write_all(format!("$EOF:{mark}\r\n").as_bytes())?;
        snapshot.write_to(&mut w, checksum).map_err(|e| io::Error::other(e.to_string()))?;
        w.write_all(mark.as_bytes())?;
        w.flush()?;
    } else {
        let dir = inner.config.read().get("dir").unwrap_or(".").to_string();
        let path = std::path::Path::new(&dir).join(format!("temp-repl-{}-{}.rdb", std::process::id(), peer.client_id));
        let result = (|| -> io::Result<()> {
            let file = std::fs::File::create(&path)?;
            let mut w = BufWriter::with_capacity(1 << 20, &file);
            snapshot.write_to(&mut w, checksum).map_err(|e| io::Error::other(e.to_string()))?;
            w.flush()?;
            drop(w);
            let len = file.metadata()?.len();
            out.write_all(format!("${len}\r\n").as_bytes())?;
            let mut f = std::fs::File::open(&path)?;
            io::copy(&mut f, &mut out)?;
            Ok(())
        })();
        let _ = std::fs::remove_file(&path);
        result?;
    }
    crate::persistence::log_notice(inner, &format!("Synchronization with replica {}:{} succeeded", peer.ip, peer.port));
    Ok((offset, diskless))
}

/// Sends the stream from 0-based index `from` until the replica goes away.
fn send_stream(inner: &Inner, stream: &TcpStream, client: &ClientInfo, peer: &Peer, mut from: u64) -> io::Result<()> {
    let repl = &inner.repl;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut out = stream;
    loop {
        if buf.len() < 16 * 1024 {
            // Little was pending: give writers a moment to add more, so a busy stream goes
            // out in a few large writes instead of one per command (and writers rarely
            // have anyone to wake). This bounds the added replication delay to ~0.2 ms.
            std::thread::sleep(Duration::from_micros(200));
        }
        buf.clear();
        {
            let mut b = repl.backlog.lock();
            while from >= b.offset {
                if stopped(peer, client) {
                    return Ok(());
                }
                repl.senders_waiting.fetch_add(1, Relaxed);
                repl.data.wait_for(&mut b, Duration::from_millis(100));
                repl.senders_waiting.fetch_sub(1, Relaxed);
            }
            if stopped(peer, client) {
                return Ok(());
            }
            if b.read(from, 256 * 1024, &mut buf).is_none() {
                return Err(io::Error::other("output buffer limit reached (replica too far behind)"));
            }
        }
        out.write_all(&buf)?;
        from += buf.len() as u64;
        peer.sent.store(from, Relaxed);
        inner.stats.net_repl_output_bytes.fetch_add(buf.len() as u64, Relaxed);
    }
}

/// Reads what the replica sends: `REPLCONF ACK <offset> [FACK <offset>]` (the rest is
/// ignored, as Redis's master ignores a replica's other commands at this point).
fn read_acks(inner: &Inner, peer: &Peer, mut stream: TcpStream) {
    let mut parser = ferrous_resp::RequestParser::default();
    let mut buf = vec![0u8; 16 * 1024];
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        if end == buf.len() {
            if start == 0 {
                return; // a request larger than the buffer: not an ACK
            }
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let n = match stream.read(&mut buf[end..]) {
            Ok(0) | Err(_) => {
                peer.dropped.store(true, Relaxed);
                inner.repl.data.notify_all();
                return;
            }
            Ok(n) => n,
        };
        end += n;
        loop {
            match parser.parse(&buf[start..end]) {
                Ok(ferrous_resp::Parsed::Command(n)) => {
                    let args = parser.args(&buf[start..end]);
                    if args.len() >= 3
                        && args.at(0).eq_ignore_ascii_case(b"replconf")
                        && args.at(1).eq_ignore_ascii_case(b"ack")
                    {
                        if let Some(off) = std::str::from_utf8(args.at(2)).ok().and_then(|s| s.parse::<u64>().ok()) {
                            peer.ack.fetch_max(off, Relaxed);
                            peer.ack_ms.store(inner.clock.now_ms(), Relaxed);
                            peer.acks_received.fetch_add(1, Relaxed);
                            {
                                let _g = inner.repl.acks_lock.lock();
                                inner.repl.acks.notify_all();
                            }
                            super::check_waits(inner, inner.clock.now_ms());
                        }
                    }
                    start += n;
                    parser.reset();
                }
                Ok(ferrous_resp::Parsed::Empty(n)) => {
                    start += n;
                    parser.reset();
                }
                Ok(ferrous_resp::Parsed::Incomplete) => break,
                Err(_) => {
                    peer.dropped.store(true, Relaxed);
                    inner.repl.data.notify_all();
                    return;
                }
            }
        }
        if start == end {
            start = 0;
            end = 0;
        }
    }
}
