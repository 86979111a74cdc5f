//! Pub/Sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE
//! PUBLISH SPUBLISH PUBSUB.
use super::{Ctx, Handler};
use crate::error::Result;
use crate::pubsub::{ClientPubSub, Kind};

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("subscribe", subscribe),
    ("psubscribe", psubscribe),
    ("ssubscribe", ssubscribe),
    ("unsubscribe", unsubscribe),
    ("punsubscribe", punsubscribe),
    ("sunsubscribe", sunsubscribe),
    ("publish", publish),
    ("spublish", spublish),
    ("pubsub|channels", pubsub_channels),
    ("pubsub|shardchannels", pubsub_shardchannels),
    ("pubsub|numsub", pubsub_numsub),
    ("pubsub|shardnumsub", pubsub_shardnumsub),
    ("pubsub|numpat", pubsub_numpat),
    ("pubsub|help", pubsub_help),
];

pub(crate) fn state<'c>(ctx: &'c mut Ctx<'_>) -> &'c mut ClientPubSub {
    let client = &mut *ctx.client;
    let id = client.id();
    let wake = client.blocking.waker.clone();
    let fresh = client.pubsub.is_none();
    let ps = client.pubsub.get_or_insert_with(|| ClientPubSub::new(id, wake));
    ps.sink.resp3.store(client.resp == 3, std::sync::atomic::Ordering::Relaxed);
    if fresh {
        // A subscriber may be the REDIRECT target of another client's tracking.
        ctx.db.inner.tracking.register_sink(id, &ps.sink);
    }
    ps
}

fn list_of(ps: &mut ClientPubSub, kind: Kind) -> &mut Vec<Vec<u8>> {
    match kind {
        Kind::Channel => &mut ps.channels,
        Kind::Pattern => &mut ps.patterns,
        Kind::Shard => &mut ps.shard_channels,
    }
}

/// A subscribe/unsubscribe confirmation: a push, sent even under CLIENT REPLY OFF/SKIP.
fn confirm(ctx: &mut Ctx<'_>, verb: &[u8], name: Option<&[u8]>, count: usize) {
    let start = ctx.out.len();
    ctx.out.push(3);
    ctx.out.bulk(verb);
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
    let end = ctx.out.len();
    ctx.client.mark_push(start, end);
}

fn count_for(ps: &ClientPubSub, kind: Kind) -> usize {
    if kind == Kind::Shard {
        ps.shard_channels.len()
    } else {
        ps.count()
    }
}

fn do_subscribe(ctx: &mut Ctx<'_>, kind: Kind, verb: &[u8]) -> Result<()> {
    let hub = ctx.db.inner.pubsub.clone();
    for name in ctx.args.iter().skip(1) {
        let ps = state(ctx);
        if hub.subscribe(kind, name, &ps.subscriber) {
            list_of(ps, kind).push(name.to_vec());
            ps.sync_subscribed();
        }
        let n = count_for(ps, kind);
        confirm(ctx, verb, Some(name), n);
    }
    Ok(())
}

fn do_unsubscribe(ctx: &mut Ctx<'_>, kind: Kind, verb: &[u8]) -> Result<()> {
    let hub = ctx.db.inner.pubsub.clone();
    let names: Vec<Vec<u8>> = if ctx.argc() > 1 {
        ctx.args.iter().skip(1).map(|a| a.to_vec()).collect()
    } else {
        ctx.client.pubsub.as_mut().map(|ps| list_of(ps, kind).clone()).unwrap_or_default()
    };
    if names.is_empty() {
        let n = ctx.client.pubsub.as_ref().map_or(0, |ps| count_for(ps, kind));
        confirm(ctx, verb, None, n);
        return Ok(());
    }
    for name in names {
        let ps = state(ctx);
        let id = ps.client_id();
        hub.unsubscribe(kind, &name, id);
        list_of(ps, kind).retain(|c| *c != name);
        ps.sync_subscribed();
        let n = count_for(ps, kind);
        confirm(ctx, verb, Some(&name), n);
    }
    Ok(())
}

/// `SUBSCRIBE channel [channel ...]`
fn subscribe(ctx: &mut Ctx<'_>) -> Result<()> {
    do_subscribe(ctx, Kind::Channel, b"subscribe")
}

/// `PSUBSCRIBE pattern [pattern ...]`
fn psubscribe(ctx: &mut Ctx<'_>) -> Result<()> {
    do_subscribe(ctx, Kind::Pattern, b"psubscribe")
}

/// `SSUBSCRIBE shardchannel [shardchannel ...]`
fn ssubscribe(ctx: &mut Ctx<'_>) -> Result<()> {
    do_subscribe(ctx, Kind::Shard, b"ssubscribe")
}

/// `UNSUBSCRIBE [channel [channel ...]]`
fn unsubscribe(ctx: &mut Ctx<'_>) -> Result<()> {
    do_unsubscribe(ctx, Kind::Channel, b"unsubscribe")
}

/// `PUNSUBSCRIBE [pattern [pattern ...]]`
fn punsubscribe(ctx: &mut Ctx<'_>) -> Result<()> {
    do_unsubscribe(ctx, Kind::Pattern, b"punsubscribe")
}

/// `SUNSUBSCRIBE [shardchannel [shardchannel ...]]`
fn sunsubscribe(ctx: &mut Ctx<'_>) -> Result<()> {
    do_unsubscribe(ctx, Kind::Shard, b"sunsubscribe")
}

/// Moves messages already delivered to this very client (it published to a channel it is
/// subscribed to) ahead of the reply, as Redis orders them.
fn flush_own(ctx: &mut Ctx<'_>) {
    if let Some(ps) = &ctx.client.pubsub {
        if ps.sink.has_pending() {
            let start = ctx.out.len();
            ps.sink.drain_into(ctx.out.buf());
            let end = ctx.out.len();
            ctx.client.mark_push(start, end);
        }
    }
}

/// `PUBLISH channel message`
fn publish(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ctx.db.inner.pubsub.publish(ctx.arg(1), ctx.arg(2));
    flush_own(ctx);
    ctx.out.int(n as i64);
    Ok(())
}

/// `SPUBLISH shardchannel message`
fn spublish(ctx: &mut Ctx<'_>) -> Result<()> {
    let n = ctx.db.inner.pubsub.spublish(ctx.arg(1), ctx.arg(2));
    flush_own(ctx);
    ctx.out.int(n as i64);
    Ok(())
}

fn channels_reply(ctx: &mut Ctx<'_>, shard: bool) -> Result<()> {
    let pattern = ctx.args.get(2);
    let names = ctx.db.inner.pubsub.channel_names(shard, pattern);
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(&n);
    }
    Ok(())
}

/// `PUBSUB CHANNELS [pattern]`
fn pubsub_channels(ctx: &mut Ctx<'_>) -> Result<()> {
    channels_reply(ctx, false)
}

/// `PUBSUB SHARDCHANNELS [pattern]`
fn pubsub_shardchannels(ctx: &mut Ctx<'_>) -> Result<()> {
    channels_reply(ctx, true)
}

fn numsub_reply(ctx: &mut Ctx<'_>, shard: bool) -> Result<()> {
    // A flat array even in RESP3, as Redis 7.0 replies (not a map).
    let n = ctx.argc() - 2;
    ctx.out.array(2 * n);
    for i in 2..ctx.argc() {
        let ch = ctx.arg(i);
        ctx.out.bulk(ch);
        ctx.out.int(ctx.db.inner.pubsub.num_subscribers(shard, ch) as i64);
    }
    Ok(())
}

/// `PUBSUB NUMSUB [channel ...]`
fn pubsub_numsub(ctx: &mut Ctx<'_>) -> Result<()> {
    numsub_reply(ctx, false)
}

/// `PUBSUB SHARDNUMSUB [shardchannel ...]`
fn pubsub_shardnumsub(ctx: &mut Ctx<'_>) -> Result<()> {
    numsub_reply(ctx, true)
}

/// `PUBSUB NUMPAT`
fn pubsub_numpat(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(ctx.db.inner.pubsub.num_patterns() as i64);
    Ok(())
}

/// `PUBSUB HELP`
fn pubsub_help(ctx: &mut Ctx<'_>) -> Result<()> {
    const LINES: &[&str] = &[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(LINES.len());
    for l in LINES {
        ctx.out.simple(l);
    }
    Ok(())
}
