//! The ACL command: SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT GENPASS LOG DRYRUN LOAD
//! SAVE HELP, with Redis 7.0's replies and error texts (the users and their rules live in
//! [`crate::acl`]).
use super::{Ctx, Handler};
use crate::acl::{self, catalog::catalog, catalog::CATEGORIES, Reason};
use crate::error::{Error, Result};

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("acl|setuser", acl_setuser),
    ("acl|getuser", acl_getuser),
    ("acl|deluser", acl_deluser),
    ("acl|list", acl_list),
    ("acl|users", acl_users),
    ("acl|whoami", acl_whoami),
    ("acl|cat", acl_cat),
    ("acl|genpass", acl_genpass),
    ("acl|log", acl_log),
    ("acl|dryrun", acl_dryrun),
    ("acl|load", acl_load),
    ("acl|save", acl_save),
    ("acl|help", acl_help),
];

/// Redis's `addReplySubcommandSyntaxError`.
fn subcommand_syntax_error(ctx: &Ctx<'_>) -> Error {
    Error::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        String::from_utf8_lossy(&ctx.arg(1)[..ctx.arg(1).len().min(128)])
    ))
}

/// `ACL SETUSER username [rule [rule ...]]`
fn acl_setuser(ctx: &mut Ctx<'_>) -> Result<()> {
    let rules: Vec<&[u8]> = ctx.args.iter().skip(3).collect();
    acl::setuser(&ctx.db.inner, ctx.arg(2), &rules, Some(ctx.client)).map_err(|e| e.to_error(&rules))?;
    ctx.out.ok();
    Ok(())
}

/// `ACL GETUSER username`: flags, passwords, the root selector's commands, keys and
/// channels, and the other selectors.
fn acl_getuser(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(user) = ctx.db.inner.acl.user(ctx.arg(2)) else {
        ctx.out.null();
        return Ok(());
    };
    let rules = user.rules();
    let out = &mut ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = rules.flag_names();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(rules.passwords.len());
    for p in &rules.passwords {
        out.bulk(p.as_bytes());
    }
    let describe = |out: &mut super::Reply<'_>, s: &acl::rules::Selector| {
        out.bulk(b"commands");
        out.bulk(s.describe_commands().as_bytes());
        out.bulk(b"keys");
        out.bulk(&s.describe_keys());
        out.bulk(b"channels");
        out.bulk(&s.describe_channels());
    };
    describe(out, &rules.selectors[0]);
    out.bulk(b"selectors");
    out.array(rules.selectors.len() - 1);
    for s in &rules.selectors[1..] {
        out.map(3);
        describe(out, s);
    }
    Ok(())
}

/// `ACL DELUSER username [username ...]`
fn acl_deluser(ctx: &mut Ctx<'_>) -> Result<()> {
    let names: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    let n = acl::deluser(&ctx.db.inner, &names, Some(ctx.client))?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `ACL LIST`: every user in the configuration file's form.
fn acl_list(ctx: &mut Ctx<'_>) -> Result<()> {
    let users = ctx.db.inner.acl.users();
    ctx.out.array(users.len());
    for u in users {
        let mut line = b"user ".to_vec();
        line.extend_from_slice(u.name());
        line.push(b' ');
        line.extend_from_slice(&u.rules().describe());
        ctx.out.bulk(&line);
    }
    Ok(())
}

/// `ACL USERS`
fn acl_users(ctx: &mut Ctx<'_>) -> Result<()> {
    let users = ctx.db.inner.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(u.name());
    }
    Ok(())
}

/// `ACL WHOAMI`
fn acl_whoami(ctx: &mut Ctx<'_>) -> Result<()> {
    let name = ctx.client.acl.user().name().to_vec();
    ctx.out.bulk(&name);
    Ok(())
}

/// `ACL CAT [category]`
fn acl_cat(ctx: &mut Ctx<'_>) -> Result<()> {
    match ctx.argc() {
        2 => {
            ctx.out.array(CATEGORIES.len());
            for c in CATEGORIES {
                ctx.out.bulk(c.as_bytes());
            }
        }
        3 => {
            let Some(bit) = acl::catalog::category_bit(ctx.arg(2)) else {
                let name = ctx.arg(2);
                return Err(Error::msg(format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(&name[..name.len().min(128)])
                )));
            };
            let cat = catalog();
            let ids = cat.in_category(bit);
            ctx.out.array(ids.len());
            for id in ids {
                ctx.out.bulk(cat.commands[id].name.as_bytes());
            }
        }
        _ => return Err(subcommand_syntax_error(ctx)),
    }
    Ok(())
}

/// `ACL GENPASS [bits]`: random hex digits (256 bits by default).
fn acl_genpass(ctx: &mut Ctx<'_>) -> Result<()> {
    const MAX_BITS: i64 = 4096;
    let bits = match ctx.argc() {
        2 => 256,
        3 => crate::util::parse_int(ctx.arg(2))?,
        _ => return Err(subcommand_syntax_error(ctx)),
    };
    if bits <= 0 || bits > MAX_BITS {
        return Err(Error::msg(format!(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to \
             {MAX_BITS}"
        )));
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    let mut pass = hex::encode(bytes);
    pass.truncate(chars);
    ctx.out.bulk(pass.as_bytes());
    Ok(())
}

/// `ACL LOG [count | RESET]`
fn acl_log(ctx: &mut Ctx<'_>) -> Result<()> {
    let inner = &ctx.db.inner;
    let count = match ctx.argc() {
        2 => 10,
        3 if ctx.arg(2).eq_ignore_ascii_case(b"reset") => {
            inner.acl.log_reset();
            ctx.out.ok();
            return Ok(());
        }
        3 => crate::util::parse_int(ctx.arg(2))?.max(0) as usize,
        _ => return Err(subcommand_syntax_error(ctx)),
    };
    let entries = inner.acl.log_entries(count);
    let now = inner.clock.now_ms();
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.map(7);
        ctx.out.bulk(b"count");
        ctx.out.int(e.count as i64);
        ctx.out.bulk(b"reason");
        ctx.out.bulk(e.reason.name().as_bytes());
        ctx.out.bulk(b"context");
        ctx.out.bulk(e.context.name().as_bytes());
        ctx.out.bulk(b"object");
        ctx.out.bulk(&e.object);
        ctx.out.bulk(b"username");
        ctx.out.bulk(&e.username);
        ctx.out.bulk(b"age-seconds");
        ctx.out.double((now - e.time_ms) as f64 / 1000.0);
        ctx.out.bulk(b"client-info");
        ctx.out.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

/// `ACL DRYRUN username command [arg ...]`
fn acl_dryrun(ctx: &mut Ctx<'_>) -> Result<()> {
    let Some(user) = ctx.db.inner.acl.user(ctx.arg(2)) else {
        return Err(Error::msg(format!("ERR User '{}' not found", String::from_utf8_lossy(ctx.arg(2)))));
    };
    let call = ctx.args.slice_from(3);
    let argv: Vec<&[u8]> = call.iter().collect();
    let cat = catalog();
    let Some(id) = cat.lookup_argv(&argv) else {
        return Err(Error::msg(format!("ERR Command '{}' not found", String::from_utf8_lossy(argv[0]))));
    };
    let cmd = &cat.commands[id];
    let argc = argv.len() as i64;
    if (cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity {
        return Err(Error::msg(format!("ERR wrong number of arguments for '{}' command", cmd.name)));
    }
    match acl::check_rules(&user.rules(), id, &call) {
        Ok(()) => ctx.out.ok(),
        Err(d) => {
            let text = match d.reason {
                Reason::Command => format!("This user has no permissions to run the '{}' command", cmd.name),
                Reason::Key => {
                    format!("This user has no permissions to access the '{}' key", String::from_utf8_lossy(argv[d.pos]))
                }
                _ => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(argv[d.pos])
                ),
            };
            ctx.out.bulk(text.as_bytes());
        }
    }
    Ok(())
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify \
                           users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a \
                           Redis configuration file set) in order to store users in the Redis configuration.";

fn has_acl_file(ctx: &Ctx<'_>) -> bool {
    ctx.db.inner.config.read().get("aclfile").is_some_and(|f| !f.is_empty())
}

/// `ACL LOAD`: replaces the users with the `aclfile`'s (nothing changes on an error).
fn acl_load(ctx: &mut Ctx<'_>) -> Result<()> {
    if !has_acl_file(ctx) {
        return Err(Error::msg(NO_ACL_FILE));
    }
    acl::load_file(&ctx.db.inner, Some(ctx.client)).map_err(|e| Error::msg(format!("ERR {e}")))?;
    ctx.out.ok();
    Ok(())
}

/// `ACL SAVE`: writes the users to the `aclfile`.
fn acl_save(ctx: &mut Ctx<'_>) -> Result<()> {
    if !has_acl_file(ctx) {
        return Err(Error::msg(NO_ACL_FILE));
    }
    if let Err(why) = acl::save_file(&ctx.db.inner) {
        if let Some(h) = ctx.db.inner.hooks.read().clone() {
            h.log(true, &why);
        }
        return Err(Error::msg(
            "ERR There was an error trying to save the ACLs. Please check the server logs for more information",
        ));
    }
    ctx.out.ok();
    Ok(())
}

/// `ACL HELP`
fn acl_help(ctx: &mut Ctx<'_>) -> Result<()> {
    super::client_cmd::help_lines(ctx, ACL_HELP);
    Ok(())
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];
