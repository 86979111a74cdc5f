//! Replication commands: REPLICAOF / SLAVEOF, ROLE, WAIT, and the replica-facing REPLCONF,
//! PSYNC and SYNC. The work lives in [`crate::replication`].
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::replication::{self as repl, master::SyncRequest, replica};
use crate::util::parse_int;
use std::sync::atomic::Ordering::Relaxed;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("replicaof", replicaof),
    ("slaveof", replicaof),
    ("role", role),
    ("wait", wait),
    ("replconf", replconf),
    ("psync", psync),
    ("sync", sync),
    ("failover", failover),
];

/// `REPLICAOF host port` | `REPLICAOF NO ONE`
fn replicaof(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.db.inner.repl.failover_state.load(Relaxed) != repl::failover::NO_FAILOVER {
        return Err(Error::msg("ERR REPLICAOF not allowed while failing over."));
    }
    let (host, port) = (ctx.arg(1), ctx.arg(2));
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        if ctx.db.inner.repl.is_replica() {
            replica::promote(&ctx.db.inner);
        }
        ctx.out.ok();
        return Ok(());
    }
    if ctx.client.info.role.load(Relaxed) == crate::client::ROLE_REPLICA {
        return Err(Error::msg("ERR Command is not valid when client is a replica."));
    }
    let port = parse_int(port)
        .ok()
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| Error::msg("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(host).into_owned();
    let same = ctx
        .db
        .inner
        .repl
        .link
        .lock()
        .as_ref()
        .is_some_and(|l| l.host.eq_ignore_ascii_case(&host) && l.port as i64 == port);
    if same && ctx.db.inner.repl.is_replica() {
        ctx.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    crate::persistence::log_notice(
        &ctx.db.inner,
        &format!("REPLICAOF {host}:{port} enabled (user request from 'id={}')", ctx.client.id()),
    );
    replica::start(ctx.db, host, port as u16);
    ctx.out.ok();
    Ok(())
}

/// `ROLE`
fn role(ctx: &mut Ctx<'_>) -> Result<()> {
    let inner = &ctx.db.inner;
    let link = inner.repl.link.lock().clone();
    match link.filter(|_| inner.repl.is_replica()) {
        Some(l) => {
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(l.host.as_bytes());
            ctx.out.int(l.port as i64);
            ctx.out.bulk(l.state_name().as_bytes());
            let connected = l.state.load(Relaxed) == replica::LINK_CONNECTED;
            ctx.out.int(if connected { inner.repl.offset() as i64 } else { -1 });
        }
        None => {
            let (offset, peers) = {
                let b = inner.repl.backlog.lock();
                (b.offset, b.peers.clone())
            };
            let online: Vec<_> =
                peers.iter().filter(|p| *p.state.lock() == "online" && !p.dropped.load(Relaxed)).collect();
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(offset as i64);
            ctx.out.array(online.len());
            for p in online {
                ctx.out.array(3);
                ctx.out.bulk(p.ip.as_bytes());
                ctx.out.bulk(p.port.to_string().as_bytes());
                ctx.out.bulk(p.ack.load(Relaxed).to_string().as_bytes());
            }
        }
    }
    Ok(())
}

/// `WAIT numreplicas timeout`: blocks until `numreplicas` replicas acknowledged every write
/// made so far (or the timeout in ms passes; 0 = forever); replies how many did.
fn wait(ctx: &mut Ctx<'_>) -> Result<()> {
    let inner = &ctx.db.inner;
    if inner.repl.is_replica() {
        return Err(Error::msg(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is \
             configured to be writable (which is not the default) writes to replicas are just local and are not \
             propagated.",
        ));
    }
    let wanted = parse_int(ctx.arg(1))?;
    let timeout = parse_int(ctx.arg(2)).map_err(|_| Error::msg("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(Error::msg("ERR timeout is negative"));
    }
    let target = repl::offset_for_wait(inner, ctx.client);
    let acked = repl::acked(inner, target);
    if acked as i64 >= wanted || !ctx.client.blocking.can_block() {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    let deadline = (timeout > 0).then(|| ctx.now().saturating_add(timeout));
    let args: ferrous_resp::ArgsBuf = ctx.args.iter().collect();
    if !inner.blocking.block(ctx.client, Vec::new(), args, None, false) {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    if let Some(w) = ctx.client.blocking.blocked.clone() {
        repl::add_wait(inner, w, target, wanted.max(0) as usize, deadline);
    }
    repl::request_acks(inner);
    Ok(())
}

/// `REPLCONF <option> <value> ...`: what a replica tells its master before PSYNC, its ACKs
/// after.
fn replconf(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.argc() % 2 == 0 {
        return Err(Error::Syntax);
    }
    let mut i = 1;
    while i < ctx.argc() {
        let (opt, value) = (ctx.arg(i), ctx.arg(i + 1));
        let lower = opt.to_ascii_lowercase();
        match lower.as_slice() {
            b"listening-port" => {
                let port = parse_int(value)?;
                ctx.client.repl.port = port.clamp(0, 65535) as u16;
            }
            b"ip-address" => ctx.client.repl.ip = Some(String::from_utf8_lossy(value).into_owned()),
            b"capa" => {
                if value.eq_ignore_ascii_case(b"eof") {
                    ctx.client.repl.capa_eof = true;
                } else if value.eq_ignore_ascii_case(b"psync2") {
                    ctx.client.repl.capa_psync2 = true;
                }
            }
            // ACKs reach the replica's own reader thread; from anyone else they are
            // ignored without a reply, as Redis does. GETACK is for replicas.
            b"ack" | b"getack" => return Ok(()),
            b"rdb-only" | b"rdb-filter-only" => {}
            _ => {
                return Err(Error::msg(format!("ERR Unrecognized REPLCONF option: {}", String::from_utf8_lossy(opt))));
            }
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

/// `PSYNC replid offset`: the connection becomes a replica's (see
/// [`crate::replication::master`]).
///
/// `PSYNC replid offset FAILOVER` is how a master running `FAILOVER` hands over to this
/// replica: it is promoted first (keeping the old id as its secondary id), then the former
/// master continues as its replica with a partial resync.
fn psync(ctx: &mut Ctx<'_>) -> Result<()> {
    let offset = parse_int(ctx.arg(2))?;
    if ctx.argc() > 3 && ctx.arg(3).eq_ignore_ascii_case(b"failover") {
        let inner = &ctx.db.inner;
        if ctx.arg(1) != inner.repl.ids().replid.as_bytes() {
            return Err(Error::msg("ERR PSYNC FAILOVER replid must match my replid."));
        }
        if inner.repl.is_replica() {
            replica::promote(inner);
            crate::persistence::log_notice(
                inner,
                &format!("MASTER MODE enabled (failover request from '{}')", ctx.client.info.addr),
            );
        }
    }
    start_sync(ctx, Some((ctx.arg(1).to_vec(), offset)))
}

/// `SYNC`: the old full synchronization, without ids or offsets.
fn sync(ctx: &mut Ctx<'_>) -> Result<()> {
    start_sync(ctx, None)
}

fn start_sync(ctx: &mut Ctx<'_>, psync: Option<(Vec<u8>, i64)>) -> Result<()> {
    if ctx.client.info.role.load(Relaxed) == crate::client::ROLE_REPLICA {
        return Ok(());
    }
    let inner = &ctx.db.inner;
    if inner.repl.is_replica() {
        let up = inner.repl.link.lock().as_ref().is_some_and(|l| l.state.load(Relaxed) == replica::LINK_CONNECTED);
        if !up {
            return Err(Error::msg("NOMASTERLINK Can't SYNC while not connected with my master"));
        }
    }
    ctx.client.info.role.store(crate::client::ROLE_REPLICA, Relaxed);
    ctx.client.hand_off = Some(Box::new(SyncRequest { psync, ..ctx.client.repl.clone() }));
    Ok(())
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]` (see
/// [`crate::replication::failover`]).
fn failover(ctx: &mut Ctx<'_>) -> Result<()> {
    use repl::failover::{self as fo, NO_FAILOVER};
    let inner = &ctx.db.inner;
    let (mut target, mut timeout, mut force, mut abort) = (None, None, false, false);
    let mut i = 1;
    while i < ctx.argc() {
        let word = ctx.arg(i).to_ascii_lowercase();
        match word.as_slice() {
            b"to" if i + 2 < ctx.argc() => {
                let host = String::from_utf8_lossy(ctx.arg(i + 1)).into_owned();
                let port = parse_int(ctx.arg(i + 2))?;
                target = Some((host, port));
                i += 3;
                continue;
            }
            b"timeout" if i + 1 < ctx.argc() => {
                let ms = parse_int(ctx.arg(i + 1))?;
                if ms <= 0 {
                    return Err(Error::msg("ERR FAILOVER timeout must be greater than 0"));
                }
                timeout = Some(ms);
                i += 2;
                continue;
            }
            b"force" => force = true,
            b"abort" => abort = true,
            _ => return Err(Error::Syntax),
        }
        i += 1;
    }
    if abort {
        // ABORT takes no other option (Redis answers a syntax error).
        if ctx.argc() != 2 {
            return Err(Error::Syntax);
        }
        if inner.repl.failover_state.load(Relaxed) == NO_FAILOVER {
            return Err(Error::msg("ERR No failover in progress."));
        }
        inner.repl.failover_abort.store(true, Relaxed);
        ctx.out.ok();
        return Ok(());
    }
    if force && (timeout.is_none() || target.is_none()) {
        return Err(Error::msg("ERR FAILOVER with force option requires both a timeout and target HOST and IP."));
    }
    if inner.repl.is_replica() {
        return Err(Error::msg("ERR FAILOVER is not valid when server is a replica."));
    }
    let peers: Vec<_> = inner.repl.backlog.lock().peers.iter().filter(|p| !p.dropped.load(Relaxed)).cloned().collect();
    if peers.is_empty() {
        return Err(Error::msg("ERR FAILOVER requires connected replicas."));
    }
    if inner.repl.failover_state.load(Relaxed) != NO_FAILOVER {
        return Err(Error::msg("ERR FAILOVER already in progress."));
    }
    let target = match target {
        Some((host, port)) => {
            let Some(p) = peers.iter().find(|p| p.ip == host && i64::from(p.port) == port) else {
                return Err(Error::msg("ERR FAILOVER target HOST and PORT is not a replica."));
            };
            if *p.state.lock() != "online" {
                return Err(Error::msg("ERR FAILOVER target replica is not online."));
            }
            Some((host, p.port))
        }
        None => None,
    };
    fo::start(ctx.db, fo::Request { target, timeout_ms: timeout, force });
    ctx.out.ok();
    Ok(())
}
