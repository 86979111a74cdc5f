//! SLOWLOG and LATENCY: reading what [`crate::slowlog`] and [`crate::latency`] collect.
//!
//! - `SLOWLOG GET [count]` (10 by default, -1 for all), `SLOWLOG LEN`, `SLOWLOG RESET`,
//!   `SLOWLOG HELP`.
//! - `LATENCY LATEST`, `LATENCY HISTORY event`, `LATENCY RESET [event ...]`,
//!   `LATENCY GRAPH event`, `LATENCY DOCTOR`, `LATENCY HISTOGRAM [command ...]`,
//!   `LATENCY HELP`.
//!
//! Replies, errors and help texts are Redis 7.0's.
use super::{table, Ctx, Handler};
use crate::commands::client_cmd::help_lines;
use crate::commands::CommandSpec;
use crate::error::{Error, Result};

/// SLOWLOG and LATENCY subcommands.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("slowlog|get", slowlog_get),
    ("slowlog|len", slowlog_len),
    ("slowlog|reset", slowlog_reset),
    ("slowlog|help", slowlog_help),
    ("latency|latest", latency_latest),
    ("latency|history", latency_history),
    ("latency|reset", latency_reset),
    ("latency|graph", latency_graph),
    ("latency|doctor", latency_doctor),
    ("latency|histogram", latency_histogram),
    ("latency|help", latency_help),
];

/// Redis's `addReplySubcommandSyntaxError`: a known subcommand with arguments it does not
/// take.
fn subcommand_syntax(ctx: &Ctx<'_>, container: &str) -> Error {
    let sub = ctx.arg(1);
    let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    msg.extend_from_slice(&sub[..sub.len().min(128)]);
    msg.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
    Error::Bytes(msg)
}

/// `SLOWLOG GET [count]`: the newest `count` entries (default 10, -1 for every entry).
fn slowlog_get(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.argc() > 3 {
        return Err(subcommand_syntax(ctx, "SLOWLOG"));
    }
    let count = match ctx.args.get(2) {
        None => Some(10),
        Some(arg) => match ferrous_resp::parse_i64(arg) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(Error::msg("ERR count should be greater than or equal to -1")),
        },
    };
    let entries = ctx.db.inner.slowlog.get(count);
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time);
        ctx.out.int(e.duration as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.peer.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

/// `SLOWLOG LEN`
fn slowlog_len(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(ctx.db.inner.slowlog.len() as i64);
    Ok(())
}

/// `SLOWLOG RESET`
fn slowlog_reset(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.db.inner.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

/// `SLOWLOG HELP`
fn slowlog_help(ctx: &mut Ctx<'_>) -> Result<()> {
    help_lines(
        ctx,
        &[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}

/// `LATENCY LATEST`: per event, its name, the time and value of its newest sample, and its
/// all-time maximum.
fn latency_latest(ctx: &mut Ctx<'_>) -> Result<()> {
    let events = ctx.db.inner.latency.events();
    ctx.out.array(events.len());
    for e in events {
        let last = e.latest();
        ctx.out.array(4);
        ctx.out.bulk(e.name.as_bytes());
        ctx.out.int(last.time);
        ctx.out.int(last.latency as i64);
        ctx.out.int(e.max as i64);
    }
    Ok(())
}

/// `LATENCY HISTORY event`: `[time, latency]` pairs, oldest first (empty for an unknown
/// event).
fn latency_history(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(e) = ctx.db.inner.latency.event(ctx.arg(2)) else {
        ctx.out.array(0);
        return Ok(());
    };
    let samples: Vec<_> = e.samples().collect();
    ctx.out.array(samples.len());
    for s in samples {
        ctx.out.array(2);
        ctx.out.int(s.time);
        ctx.out.int(s.latency as i64);
    }
    Ok(())
}

/// `LATENCY RESET [event ...]`: the number of event series dropped.
fn latency_reset(ctx: &mut Ctx<'_>) -> Result<()> {
    let monitor = &ctx.db.inner.latency;
    let dropped = if ctx.argc() == 2 {
        monitor.reset(None)
    } else {
        ctx.args.iter().skip(2).map(|e| monitor.reset(Some(e))).sum()
    };
    ctx.out.int(dropped as i64);
    Ok(())
}

/// `LATENCY GRAPH event`: an ASCII sparkline of the event's samples.
fn latency_graph(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(e) = ctx.db.inner.latency.event(ctx.arg(2)) else {
        let mut msg = b"ERR No samples available for event '".to_vec();
        msg.extend_from_slice(ctx.arg(2));
        msg.push(b'\'');
        return Err(Error::Bytes(msg));
    };
    let text = crate::latency::graph(&e, crate::latency::unix_now());
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// `LATENCY DOCTOR`: Redis's human-readable report.
fn latency_doctor(ctx: &mut Ctx<'_>) -> Result<()> {
    use crate::config::Tunable;
    let inner = &ctx.db.inner;
    let (fsync_always, hz) = {
        let c = inner.config.read();
        (c.get("appendfsync") == Some("always"), c.get_i64("hz"))
    };
    let cx = crate::latency::DoctorContext {
        threshold_ms: inner.tunables.get(Tunable::LatencyMonitorThreshold),
        slowlog_slower_than: inner.tunables.get(Tunable::SlowlogLogSlowerThan),
        fsync_always,
        hz,
        now: crate::latency::unix_now(),
    };
    let text = crate::latency::doctor(&inner.latency.events(), cx);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// The commands LATENCY HISTOGRAM lists: every command and subcommand with calls (none
/// named), or the named ones (`set`, `config|get`; a container names its subcommands).
fn histogram_commands(ctx: &Ctx<'_>) -> Vec<&'static CommandSpec> {
    fn with_subs(spec: &'static CommandSpec, out: &mut Vec<&'static CommandSpec>) {
        out.push(spec);
        let mut subs: Vec<_> = spec.subcommands.values().copied().collect();
        subs.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(subs);
    }
    let mut out = Vec::new();
    if ctx.argc() == 2 {
        let mut all: Vec<_> = table().iter().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        for spec in all {
            with_subs(spec, &mut out);
        }
        return out;
    }
    for name in ctx.args.iter().skip(2) {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        let mut parts = lower.splitn(2, '|');
        let Some(spec) = parts.next().and_then(|top| table().get(top.as_bytes())) else { continue };
        match parts.next() {
            None => with_subs(spec, &mut out),
            Some(sub) => {
                if let Some(s) = spec.subcommands.get(sub.as_bytes()) {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// `LATENCY HISTOGRAM [command ...]`: per command, its calls and the cumulative
/// distribution of their durations in µs (a map; commands without calls are left out).
fn latency_histogram(ctx: &mut Ctx<'_>) -> Result<()> {
    let with_data: Vec<_> =
        histogram_commands(ctx).into_iter().filter_map(|spec| Some((spec, spec.stats.latency.snapshot()?))).collect();
    ctx.out.map(with_data.len());
    for (spec, snap) in with_data {
        ctx.out.bulk(spec.name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(snap.total as i64);
        ctx.out.bulk(b"histogram_usec");
        let points = snap.cumulative_usec();
        ctx.out.map(points.len());
        for (usec, count) in points {
            ctx.out.int(usec as i64);
            ctx.out.int(count as i64);
        }
    }
    Ok(())
}

/// `LATENCY HELP`
fn latency_help(ctx: &mut Ctx<'_>) -> Result<()> {
    help_lines(
        ctx,
        &[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}
