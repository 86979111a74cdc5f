//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.
//!
//! CONFIG SET is atomic, as in Redis 7.0: every name is checked first (unknown, immutable,
//! protected, given twice), then every value is parsed into a copy of the configuration;
//! only if all succeed does the copy replace the live one. Values the connection path reads
//! from atomics (`requirepass`, `notify-keyspace-events`) are mirrored right after, and the
//! server is told about each changed directive so it can act on those it owns (`port`,
//! `bind`...); if it refuses one, the previous values come back and the command fails with
//! the server's reason.
use super::client_cmd::help_lines;
use super::{table, CommandSpec, Ctx, Handler};
use crate::config::{directive, flags, set_failed, Directive};
use crate::error::{Error, Result};

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("config|get", config_get),
    ("config|set", config_set),
    ("config|resetstat", config_resetstat),
    ("config|rewrite", config_rewrite),
    ("config|help", config_help),
];

/// `CONFIG GET parameter [parameter ...]`
fn config_get(ctx: &mut Ctx<'_>) -> Result<()> {
    let patterns: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    let pairs = ctx.db.inner.config.read().matching(&patterns);
    ctx.out.map(pairs.len());
    for (name, value) in pairs {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// May this client change protected directives (`enable-protected-configs`)?
fn protected_allowed(ctx: &Ctx<'_>) -> bool {
    match ctx.db.inner.config.read().get("enable-protected-configs") {
        Some("yes") => true,
        Some("local") => ctx.client.info.is_local(),
        _ => false,
    }
}

/// `CONFIG SET parameter value [parameter value ...]`
fn config_set(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.argc() % 2 != 0 {
        return Err(Error::Syntax);
    }
    // Pass 1: names. The first problem found, in argument order, is the one reported.
    let allow_protected = protected_allowed(ctx);
    let mut chosen: Vec<(&'static Directive, String, String)> = Vec::new();
    let mut seen: Vec<(&'static str, bool)> = Vec::new();
    for pair in 0..(ctx.argc() - 2) / 2 {
        let given = String::from_utf8_lossy(ctx.arg(2 + 2 * pair)).into_owned();
        let value = String::from_utf8_lossy(ctx.arg(3 + 2 * pair)).into_owned();
        let Some(d) = directive(&given) else {
            return Err(Error::msg(format!("ERR Unknown option or number of arguments for CONFIG SET - '{given}'")));
        };
        if d.has(flags::IMMUTABLE) {
            return Err(set_failed(&given, "can't set immutable config"));
        }
        if d.has(flags::PROTECTED) && !allow_protected {
            return Err(set_failed(&given, "can't set protected config"));
        }
        // A name and its alias are distinct entries in Redis's table: only the same
        // spelling twice is a duplicate.
        let by_alias = !d.name.eq_ignore_ascii_case(&given);
        if seen.contains(&(d.name, by_alias)) {
            return Err(set_failed(&given, "duplicate parameter"));
        }
        seen.push((d.name, by_alias));
        chosen.push((d, given, value));
    }
    // Pass 2: values, into a copy.
    let inner = &ctx.db.inner;
    let previous = {
        let mut live = inner.config.write();
        let mut next = live.clone();
        next.finish_loading();
        for (_, given, value) in &chosen {
            // Immutability and protection were checked above; this only parses the value.
            next.set(given, &[value.as_str()], true)?;
        }
        std::mem::replace(&mut *live, next)
    };
    inner.apply_config_mirrors();
    // Pass 3: let the server act on what it owns; undo everything if it refuses.
    let hooks = inner.hooks.read().clone();
    if let Some(hooks) = hooks {
        let current = inner.config.read().clone();
        for (d, _, _) in &chosen {
            if let Err(why) = hooks.config_changed(d.name, &current) {
                *inner.config.write() = previous.clone();
                inner.apply_config_mirrors();
                for (d2, _, _) in &chosen {
                    let _ = hooks.config_changed(d2.name, &previous);
                }
                return Err(set_failed(d.name, &why));
            }
        }
    }
    if chosen.iter().any(|(d, _, _)| matches!(d.name, "appendonly" | "appendfsync")) {
        crate::aof::writer::apply_config(inner);
    }
    ctx.out.ok();
    Ok(())
}

/// Zeroes one command's counters and its subcommands'.
fn reset_command_stats(spec: &CommandSpec) {
    let s = &spec.stats;
    s.reset_counts();
    s.latency.reset();
    for sub in spec.subcommands.values() {
        reset_command_stats(sub);
    }
}

/// `CONFIG RESETSTAT`
fn config_resetstat(ctx: &mut Ctx<'_>) -> Result<()> {
    let inner = &ctx.db.inner;
    inner.stats.reset(super::info::expired_keys_total(&ctx.access));
    crate::lazyfree::reset_stats(inner);
    crate::evict::reset_stats(inner);
    for spec in table().iter() {
        reset_command_stats(spec);
    }
    ctx.out.ok();
    Ok(())
}

/// `CONFIG REWRITE`: rewrites the file the server was started with
/// ([`crate::config_rewrite`]).
fn config_rewrite(ctx: &mut Ctx<'_>) -> Result<()> {
    let config = ctx.db.inner.config.read().clone();
    let Some(path) = config.file() else {
        return Err(Error::msg("ERR The server is running without a config file"));
    };
    let hooks = ctx.db.inner.hooks.read().clone();
    // ACL users, as ACL LIST shows them, unless an aclfile keeps them.
    let users: Vec<String> = if config.get("aclfile").is_some_and(|f| !f.is_empty()) {
        Vec::new()
    } else {
        let describe = |u: &std::sync::Arc<crate::acl::User>| {
            let mut line = b"user ".to_vec();
            line.extend_from_slice(u.name());
            line.push(b' ');
            line.extend_from_slice(&u.rules().describe());
            String::from_utf8_lossy(&line).into_owned()
        };
        ctx.db.inner.acl.users().iter().map(describe).collect()
    };
    if let Err(e) = crate::config_rewrite::rewrite_file(&config, path, &users) {
        let why = crate::config::os_error_text(&e);
        if let Some(h) = &hooks {
            h.log(true, &format!("CONFIG REWRITE failed: {why}"));
        }
        return Err(Error::msg(format!("ERR Rewriting config file: {why}")));
    }
    if let Some(h) = &hooks {
        h.log(false, "CONFIG REWRITE executed with success.");
    }
    ctx.out.ok();
    Ok(())
}

/// `CONFIG HELP`
fn config_help(ctx: &mut Ctx<'_>) -> Result<()> {
    help_lines(
        ctx,
        &[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}
