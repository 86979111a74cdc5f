//! Client-side caching commands: CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR,
//! CLIENT TRACKINGINFO.
use super::{Ctx, Handler};
use crate::error::{Error, Result};
use crate::pubsub::ClientPubSub;
use crate::tracking::{ClientTracking, TrackingOptions};

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("client|tracking", tracking),
    ("client|caching", caching),
    ("client|getredir", getredir),
    ("client|trackinginfo", trackinginfo),
    ("client|unblock", unblock),
];

/// `CLIENT UNBLOCK client-id [TIMEOUT | ERROR]`: wakes a client blocked in BLPOP & co, as
/// if its timeout had passed, or with an error.
fn unblock(ctx: &mut Ctx<'_>) -> Result<()> {
    let id = crate::util::parse_int(ctx.arg(2))?;
    let with_error = match ctx.args.get(3).map(|a| a.to_ascii_lowercase()) {
        None => false,
        Some(o) if o == b"timeout" => false,
        Some(o) if o == b"error" => true,
        Some(_) => return Err(Error::msg("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let registry = &ctx.db.inner.blocking;
    let done = match (id > 0).then(|| registry.find_client(id as u64)).flatten() {
        Some(w) => {
            let reply = if with_error {
                b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec()
            } else {
                w.timeout_reply().to_vec()
            };
            registry.unblock_with(&w, reply)
        }
        None => false,
    };
    ctx.out.int(done as i64);
    Ok(())
}

/// `CLIENT TRACKING <ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]]
/// [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
///
/// Checks run in Redis's order: the options first (for OFF too), then ON/OFF, then the
/// compatibility of the options with each other and with the current mode. Turning
/// tracking ON again in BCAST mode adds the new prefixes to the ones already registered
/// (no prefix at all registers the empty prefix, which matches every key).
fn tracking(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut o = TrackingOptions::default();
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let mut i = 3;
    while i < ctx.argc() {
        let opt = ctx.arg(i).to_ascii_lowercase();
        let more = i + 1 < ctx.argc();
        match opt.as_slice() {
            b"redirect" if more => {
                i += 1;
                if o.redirect != 0 {
                    return Err(Error::msg("ERR A client can only redirect to a single other client"));
                }
                let id = crate::util::parse_int(ctx.arg(i))?;
                if id <= 0 || ctx.db.inner.clients.get(id as u64).is_none() {
                    return Err(Error::msg("ERR The client ID you want redirect to does not exist"));
                }
                o.redirect = id as u64;
            }
            b"bcast" => o.bcast = true,
            b"optin" => o.optin = true,
            b"optout" => o.optout = true,
            b"noloop" => o.noloop = true,
            b"prefix" if more => {
                i += 1;
                prefixes.push(ctx.arg(i).to_vec());
            }
            _ => return Err(Error::Syntax),
        }
        i += 1;
    }
    let on = match ctx.arg(2).to_ascii_lowercase().as_slice() {
        b"on" => true,
        b"off" => false,
        _ => return Err(Error::Syntax),
    };
    let id = ctx.client.id();
    if !on {
        ctx.client.tracking = None;
        ctx.db.inner.tracking.disable(id);
        ctx.out.ok();
        return Ok(());
    }
    if !o.bcast && !prefixes.is_empty() {
        return Err(Error::msg("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    let current = ctx.client.tracking.as_ref().map(|t| &t.options);
    if current.is_some_and(|cur| cur.bcast != o.bcast) {
        return Err(Error::msg("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if o.bcast && (o.optin || o.optout) {
        return Err(Error::msg("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if o.optin && o.optout {
        return Err(Error::msg("ERR You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if current.is_some_and(|cur| (o.optin && cur.optout) || (o.optout && cur.optin)) {
        return Err(Error::msg("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if o.bcast {
        let existing: &[Vec<u8>] = current.map_or(&[], |cur| &cur.prefixes);
        let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for (a, p) in prefixes.iter().enumerate() {
            if let Some(q) = existing.iter().find(|q| overlap(p, q)) {
                return Err(Error::msg(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(q)
                )));
            }
            if let Some(q) = prefixes.iter().skip(a + 1).find(|q| overlap(p, q)) {
                return Err(Error::msg(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    text(p),
                    text(q)
                )));
            }
        }
        // Registered prefixes accumulate, kept sorted and distinct (CLIENT TRACKINGINFO
        // lists them in that order, like Redis's radix tree).
        let mut all: Vec<Vec<u8>> = existing.to_vec();
        if prefixes.is_empty() {
            prefixes.push(Vec::new());
        }
        all.extend(prefixes);
        all.sort();
        all.dedup();
        o.prefixes = all;
    }
    let wake = ctx.client.blocking.waker.clone();
    let resp3 = ctx.client.resp == 3;
    let ps = ctx.client.pubsub.get_or_insert_with(|| ClientPubSub::new(id, wake));
    ps.sink.resp3.store(resp3, std::sync::atomic::Ordering::Relaxed);
    let sink = ps.sink.clone();
    ctx.db.inner.tracking.register_sink(id, &sink);
    ctx.db.inner.tracking.enable(id, sink, o.clone());
    ctx.client.tracking = Some(ClientTracking { options: o, ..Default::default() });
    ctx.out.ok();
    Ok(())
}

/// `CLIENT CACHING <YES | NO>`
fn caching(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(t) = ctx.client.tracking.as_mut() else {
        return Err(Error::msg(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let yes = match ctx.args.get(2).map(|a| a.to_ascii_lowercase()).as_deref() {
        Some(b"yes") if t.options.optin => true,
        Some(b"yes") => {
            return Err(Error::msg("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."))
        }
        Some(b"no") if t.options.optout => false,
        Some(b"no") => {
            return Err(Error::msg("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."))
        }
        _ => return Err(Error::Syntax),
    };
    t.caching = Some(yes);
    t.caching_armed = false;
    ctx.out.ok();
    Ok(())
}

/// `CLIENT GETREDIR`
fn getredir(ctx: &mut Ctx<'_>) -> Result<()> {
    let v = match &ctx.client.tracking {
        None => -1,
        Some(t) => t.options.redirect as i64,
    };
    ctx.out.int(v);
    Ok(())
}

/// `CLIENT TRACKINGINFO`
fn trackinginfo(ctx: &mut Ctx<'_>) -> Result<()> {
    let id = ctx.client.id();
    let broken = ctx.db.inner.tracking.redirect_broken(id);
    let t = ctx.client.tracking.clone();
    let mut flags: Vec<&str> = Vec::new();
    match &t {
        None => flags.push("off"),
        Some(t) => {
            flags.push("on");
            if t.options.bcast {
                flags.push("bcast");
            }
            if t.options.optin {
                flags.push("optin");
                if t.caching == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if t.options.optout {
                flags.push("optout");
                if t.caching == Some(false) {
                    flags.push("caching-no");
                }
            }
            if t.options.noloop {
                flags.push("noloop");
            }
            if broken {
                flags.push("broken_redirect");
            }
        }
    }
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(t.as_ref().map_or(-1, |t| t.options.redirect as i64));
    ctx.out.bulk(b"prefixes");
    let prefixes = t.map(|t| t.options.prefixes).unwrap_or_default();
    ctx.out.array(prefixes.len());
    for p in prefixes {
        ctx.out.bulk(&p);
    }
    Ok(())
}
