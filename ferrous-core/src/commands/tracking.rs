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
];

/// `CLIENT TRACKING <ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]]
/// [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
fn tracking(ctx: &mut Ctx<'_>) -> Result<()> {
    let on = match ctx.arg(2).to_ascii_lowercase().as_slice() {
        b"on" => true,
        b"off" => false,
        _ => return Err(Error::Syntax),
    };
    let mut o = TrackingOptions::default();
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
                o.prefixes.push(ctx.arg(i).to_vec());
            }
            _ => return Err(Error::Syntax),
        }
        i += 1;
    }
    let id = ctx.client.id();
    if !on {
        ctx.client.tracking = None;
        ctx.db.inner.tracking.disable(id);
        ctx.out.ok();
        return Ok(());
    }
    if !o.bcast && !o.prefixes.is_empty() {
        return Err(Error::msg("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    if let Some(cur) = &ctx.client.tracking {
        if cur.options.bcast != o.bcast {
            return Err(Error::msg("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if o.bcast && (o.optin || o.optout) {
        return Err(Error::msg("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if o.optin && o.optout {
        return Err(Error::msg("ERR You can't use both OPTIN and OPTOUT"));
    }
    if let Some(cur) = &ctx.client.tracking {
        if (o.optin && cur.options.optout) || (o.optout && cur.options.optin) {
            return Err(Error::msg("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    for (a, p) in o.prefixes.iter().enumerate() {
        for q in o.prefixes.iter().skip(a + 1) {
            if p.starts_with(q) || q.starts_with(p) {
                return Err(Error::msg(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )));
            }
        }
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
    let yes = match ctx.arg(2).to_ascii_lowercase().as_slice() {
        b"yes" => true,
        b"no" => false,
        _ => return Err(Error::Syntax),
    };
    let Some(t) = ctx.client.tracking.as_mut().filter(|t| t.options.optin || t.options.optout) else {
        return Err(Error::msg(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if yes && !t.options.optin {
        return Err(Error::msg("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."));
    }
    if !yes && !t.options.optout {
        return Err(Error::msg("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."));
    }
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
