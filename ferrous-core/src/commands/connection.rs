//! Connection commands: PING ECHO SELECT QUIT RESET HELLO AUTH.
//!
//! Authentication is against the ACL users ([`crate::acl`]): `AUTH password` is the
//! `default` user's (whose password `requirepass` sets; with `nopass` that one-argument form
//! is an error), `AUTH username password` and `HELLO ... AUTH username password` any user's.
//! A failure is an ACL LOG entry.
//!
//! HELLO reports `server: redis` and `version: 7.0.15` (the Redis release whose behaviour
//! Ferrous reproduces), so clients that gate features on the server version work; INFO's
//! `ferrous_version` field tells the two apart.
use super::{Ctx, Handler};
use crate::client::{ClientState, ReplyMode};
use crate::db::Inner;
use crate::error::{Error, Result};
use crate::util::parse_int;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("select", select),
    ("quit", quit),
    ("reset", reset),
    ("hello", hello),
    ("auth", auth),
];

/// The Redis version Ferrous reports (HELLO, INFO `redis_version`).
pub const REDIS_VERSION: &str = "7.0.15";

/// `PING [message]`
fn ping(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.client.resp == 2 && ctx.client.pubsub.as_ref().is_some_and(|p| p.active()) {
        // In RESP2 subscribed mode PING answers in the shape of a message: ["pong", msg].
        if ctx.argc() > 2 {
            return Err(Error::WrongArity("ping".into()));
        }
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(ctx.args.get(1).unwrap_or(b""));
        return Ok(());
    }
    match ctx.argc() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(ctx.arg(1)),
        _ => return Err(Error::WrongArity("ping".into())),
    }
    Ok(())
}

/// `ECHO message`
fn echo(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.bulk(ctx.arg(1));
    Ok(())
}

/// `SELECT index`
fn select(ctx: &mut Ctx<'_>) -> Result<()> {
    let i = parse_int(ctx.arg(1))?;
    if i < 0 || i as usize >= ctx.db.inner.db_count() {
        return Err(Error::DbIndexOutOfRange);
    }
    ctx.client.select(i as usize);
    ctx.out.ok();
    Ok(())
}

/// `QUIT`
fn quit(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

/// `RESET`: back to a fresh connection's state (Redis's `clearClientConnectionState`):
/// MULTI discarded and keys unwatched, database 0, RESP2, authenticated only if the default
/// user needs no password, subscriptions and tracking dropped, name cleared, replies on.
/// CLIENT NO-EVICT is kept, as in Redis.
fn reset(ctx: &mut Ctx<'_>) -> Result<()> {
    let inner = &ctx.db.inner;
    let client = &mut *ctx.client;
    client.tx.queue = None;
    client.tx.aborted = false;
    inner.watches.unwatch_all(&mut client.tx);
    client.select(0);
    set_protocol(client, 2);
    client.set_user(inner.acl.default_user().clone());
    client.authenticated = inner.acl.new_clients_authenticated();
    if client.tracking.take().is_some() {
        inner.tracking.disable(client.id());
    }
    if let Some(ps) = client.pubsub.as_mut() {
        ps.clear(&inner.pubsub);
    }
    client.info.name.lock().clear();
    inner.monitors.remove(client.id());
    client.reply_mode = ReplyMode::On;
    client.sync_info();
    ctx.out.simple("RESET");
    Ok(())
}

/// Switches the client to RESP `version` (its reply sink for pushes too).
fn set_protocol(client: &mut ClientState, version: u8) {
    client.resp = version;
    client.info.resp.store(version as usize, std::sync::atomic::Ordering::Relaxed);
    if let Some(ps) = &client.pubsub {
        ps.sink.resp3.store(version == 3, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Authenticates the client as `username` (Redis's `ACLAuthenticateUser`), or logs the
/// failure and returns WRONGPASS.
fn authenticate(ctx: &mut Ctx<'_>, username: &[u8], password: &[u8]) -> Result<()> {
    let inner: &Inner = &ctx.db.inner;
    match inner.acl.authenticate(username, password) {
        Some(user) => {
            ctx.client.authenticated = true;
            ctx.client.set_user(user);
            Ok(())
        }
        None => {
            crate::acl::log_auth_failure(inner, ctx.client, ctx.args.at(0), username, ctx.spec);
            Err(Error::WrongPass)
        }
    }
}

/// `AUTH [username] password`
fn auth(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.argc() > 3 {
        return Err(Error::Syntax);
    }
    let (user, pass) = if ctx.argc() == 2 {
        if ctx.db.inner.acl.default_user().rules().nopass {
            return Err(Error::AuthNotConfigured);
        }
        (&b"default"[..], ctx.arg(1))
    } else {
        (ctx.arg(1), ctx.arg(2))
    };
    authenticate(ctx, user, pass)?;
    ctx.out.ok();
    Ok(())
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
fn hello(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut version = None;
    if ctx.argc() >= 2 {
        let v = ferrous_resp::parse_i64(ctx.arg(1))
            .ok_or_else(|| Error::msg("ERR Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(Error::msg("NOPROTO unsupported protocol version"));
        }
        version = Some(v as u8);
    }
    let mut j = 2;
    while j < ctx.argc() {
        let more = ctx.argc() - 1 - j;
        let opt = ctx.arg(j);
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            let (user, pass) = (ctx.arg(j + 1), ctx.arg(j + 2));
            authenticate(ctx, user, pass)?;
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            super::client_cmd::set_name(ctx.client, ctx.arg(j + 1))?;
            j += 2;
        } else {
            return Err(Error::msg(format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(opt))));
        }
    }
    if !ctx.client.authenticated {
        return Err(Error::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> \
             option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(v) = version {
        set_protocol(ctx.client, v);
        if v == 3 {
            // A RESP3 client can receive pushes (tracking invalidations redirected to it)
            // without subscribing: give it a sink other clients can reach.
            let id = ctx.client.id();
            let wake = ctx.client.blocking.waker.clone();
            let ps = ctx.client.pubsub.get_or_insert_with(|| crate::pubsub::ClientPubSub::new(id, wake));
            ps.sink.resp3.store(true, std::sync::atomic::Ordering::Relaxed);
            ctx.db.inner.tracking.register_sink(id, &ps.sink);
        }
    }
    // The reply is encoded in the protocol just selected.
    let mut out = super::Reply::new(ctx.out.buf(), ctx.client.resp3());
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(ctx.client.resp as i64);
    out.bulk(b"id");
    out.int(ctx.client.id() as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}
