//! Serving one replica: `PSYNC` / `SYNC` answered on the replica's own threads (a sender
//! and an ACK reader), so the event loops never wait on a slow replica.
//!
//! - Partial resync: `+CONTINUE <replid>` when the replica's id is ours (or our previous one
//!   up to `second_repl_offset`) and the offset it asks for is still in the backlog; the
//!   stream follows from there.
//! - Full resync: `+FULLRESYNC <replid> <offset>`, then a snapshot from the fork-less
//!   snapshot service shared with the other replicas waiting for one ([`super::fullsync`]):
//!   sent diskless (`$EOF:<40 random bytes>` ... the same 40 bytes) when every replica of
//!   the transfer can take it and `repl-diskless-sync` is on, otherwise written to a file in
//!   `dir` first and sent as one bulk (`$<length>`). `offset` is the stream position of the
//!   snapshot's instant, so the stream that follows starts exactly after it.
use super::{ensure_backlog, fullsync, Peer};
use crate::client::ClientInfo;
use crate::db::Inner;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

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

fn run(
    inner: &Arc<Inner>,
    stream: &TcpStream,
    client: &ClientInfo,
    peer: &Arc<Peer>,
    req: &SyncRequest,
) -> io::Result<()> {
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

/// `+FULLRESYNC`, then the snapshot, shared with every replica asking at about the same
/// time ([`super::fullsync`]); returns where the stream continues and whether the transfer
/// was diskless.
fn full_sync(
    inner: &Arc<Inner>,
    stream: &TcpStream,
    client: &ClientInfo,
    peer: &Arc<Peer>,
    req: &SyncRequest,
) -> io::Result<(u64, bool)> {
    ensure_backlog(inner);
    crate::persistence::log_notice(inner, &format!("Full resync requested by replica {}:{}", peer.ip, peer.port));
    let job = fullsync::Job::new(peer.clone(), stream.try_clone()?, req.psync.is_some(), req.capa_eof);
    fullsync::enqueue(inner, &job);
    let (offset, diskless) = match fullsync::wait(inner, &job, || stopped(peer, client)) {
        fullsync::Outcome::Socket(offset) => (offset, true),
        fullsync::Outcome::Disk(offset, file) => {
            *peer.state.lock() = "send_bulk";
            let mut out = stream;
            let mut f = std::fs::File::open(&file.path)?;
            let len = f.metadata()?.len();
            out.write_all(format!("${len}\r\n").as_bytes())?;
            io::copy(&mut f, &mut out)?;
            (offset, false)
        }
        fullsync::Outcome::Failed(e) => return Err(io::Error::other(e)),
        fullsync::Outcome::Pending => return Err(io::Error::other("full sync ended without an outcome")),
    };
    crate::persistence::log_notice(inner, &format!("Synchronization with replica {}:{} succeeded", peer.ip, peer.port));
    Ok((offset, diskless))
}

/// Sends the stream from 0-based index `from` until the replica goes away.
fn send_stream(inner: &Inner, stream: &TcpStream, client: &ClientInfo, peer: &Peer, mut from: u64) -> io::Result<()> {
    let repl = &inner.repl;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut out = stream;
    loop {
        // Event loops wake this sender once per turn (`begin_turn`), so a busy stream goes
        // out in about one write per turn without waiting here.
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
