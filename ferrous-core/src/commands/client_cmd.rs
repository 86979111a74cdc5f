//! CLIENT subcommands about connections: ID, SETNAME, GETNAME, LIST, INFO, KILL, NO-EVICT,
//! REPLY, HELP. (TRACKING, CACHING, GETREDIR and TRACKINGINFO live in [`super::tracking`].)
//!
//! Other clients are reached through the registry's shared [`ClientInfo`]s: listing reads
//! their mirrors, killing sets their `killed` flag and wakes their event loop, which closes
//! the socket. A client that kills itself gets its reply first, then the connection closes.
//!
//! Redis 7.0 has no CLIENT SETINFO (added in 7.2), so it replies with the unknown-subcommand
//! error, exactly as 7.0 does; clients that send it on connect ignore that error.
use super::{Ctx, Handler};
use crate::client::{ClientInfo, ClientState, ReplyMode};
use crate::error::{Error, Result};
use std::sync::atomic::Ordering::Relaxed;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("client|id", client_id),
    ("client|setname", client_setname),
    ("client|getname", client_getname),
    ("client|list", client_list),
    ("client|info", client_info),
    ("client|kill", client_kill),
    ("client|no-evict", client_no_evict),
    ("client|reply", client_reply),
    ("client|pause", client_pause),
    ("client|unpause", client_unpause),
    ("client|help", client_help),
];

/// Sets (or, with an empty name, clears) a client's name, with Redis's validation: only
/// printable characters from `!` to `~`.
pub fn set_name(client: &ClientState, name: &[u8]) -> Result<()> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Error::msg("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    *client.info.name.lock() = name.to_vec();
    Ok(())
}

/// `CLIENT ID`
fn client_id(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(ctx.client.id() as i64);
    Ok(())
}

/// `CLIENT SETNAME connection-name`
fn client_setname(ctx: &mut Ctx<'_>) -> Result<()> {
    set_name(ctx.client, ctx.arg(2))?;
    ctx.out.ok();
    Ok(())
}

/// `CLIENT GETNAME`
fn client_getname(ctx: &mut Ctx<'_>) -> Result<()> {
    match ctx.client.info.name() {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Client classes of CLIENT LIST TYPE / CLIENT KILL TYPE.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

fn client_type(name: &[u8]) -> Result<ClientType> {
    Ok(match name.to_ascii_lowercase().as_slice() {
        b"normal" => ClientType::Normal,
        b"slave" | b"replica" => ClientType::Replica,
        b"master" => ClientType::Master,
        b"pubsub" => ClientType::PubSub,
        _ => return Err(Error::msg(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(name)))),
    })
}

/// The class of a connected client.
fn type_of(c: &ClientInfo) -> ClientType {
    match c.role.load(std::sync::atomic::Ordering::Relaxed) {
        crate::client::ROLE_REPLICA => return ClientType::Replica,
        crate::client::ROLE_MASTER => return ClientType::Master,
        _ => {}
    }
    if c.is_pubsub() {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

/// CLIENT LIST / CLIENT INFO text: one line per client, each ending in `\n`, as a verbatim
/// string (RESP3) or bulk string.
fn reply_lines(ctx: &mut Ctx<'_>, clients: &[std::sync::Arc<ClientInfo>]) {
    let now = ctx.db.inner.clock.now_ms();
    ctx.client.sync_info();
    let me = ctx.client.id();
    let mut text = String::new();
    for c in clients {
        let cmd = (c.id == me).then_some(ctx.spec.name.as_str());
        // The running command is still in the caller's query buffer, as in Redis.
        let running = (c.id == me).then(|| {
            let argv: usize = ctx.args.iter().map(|a| a.len()).sum();
            let digits = |n: usize| n.to_string().len();
            let encoded =
                3 + digits(ctx.argc()) + ctx.args.iter().map(|a| 1 + digits(a.len()) + 2 + a.len() + 2).sum::<usize>();
            (encoded, argv)
        });
        text.push_str(&c.describe_running(now, cmd, running));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
}

/// `CLIENT LIST [TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id [client-id ...]]`
fn client_list(ctx: &mut Ctx<'_>) -> Result<()> {
    let all = ctx.db.inner.clients.all();
    let argc = ctx.argc();
    let chosen: Vec<_> = if argc == 2 {
        all
    } else if argc == 4 && ctx.arg(2).eq_ignore_ascii_case(b"type") {
        let t = client_type(ctx.arg(3))?;
        all.into_iter().filter(|c| type_of(c) == t).collect()
    } else if argc > 3 && ctx.arg(2).eq_ignore_ascii_case(b"id") {
        let mut ids = Vec::new();
        for a in ctx.args.iter().skip(3) {
            ids.push(ferrous_resp::parse_i64(a).ok_or_else(|| Error::msg("ERR Invalid client ID"))?);
        }
        // In the order the ids were given; Redis looks each one up, repeats included.
        ids.iter().filter_map(|&id| all.iter().find(|c| c.id as i64 == id).cloned()).collect()
    } else {
        return Err(Error::Syntax);
    };
    reply_lines(ctx, &chosen);
    Ok(())
}

/// `CLIENT INFO`
fn client_info(ctx: &mut Ctx<'_>) -> Result<()> {
    let me = ctx.client.info.clone();
    reply_lines(ctx, &[me]);
    Ok(())
}

/// What CLIENT KILL selects.
#[derive(Default)]
struct KillFilter {
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    id: Option<u64>,
    kind: Option<ClientType>,
    user: Option<std::sync::Arc<crate::acl::User>>,
    skip_me: bool,
}

impl KillFilter {
    fn matches(&self, c: &ClientInfo, me: u64) -> bool {
        self.addr.as_ref().map_or(true, |a| c.addr.as_bytes() == a.as_slice())
            && self.laddr.as_ref().map_or(true, |a| c.laddr.as_bytes() == a.as_slice())
            && self.id.map_or(true, |id| c.id == id)
            && self.kind.map_or(true, |t| type_of(c) == t)
            && self.user.as_ref().map_or(true, |u| std::sync::Arc::ptr_eq(u, &c.user.lock()))
            && !(self.skip_me && c.id == me)
    }
}

/// `CLIENT KILL ip:port` (old form: `+OK` or an error) or
/// `CLIENT KILL [ID client-id] [TYPE type] [USER username] [ADDR ip:port] [LADDR ip:port]
/// [SKIPME yes/no]` (new form: the number of clients killed).
fn client_kill(ctx: &mut Ctx<'_>) -> Result<()> {
    let argc = ctx.argc();
    let old_form = argc == 3;
    let mut f = KillFilter { skip_me: true, ..Default::default() };
    if old_form {
        f.addr = Some(ctx.arg(2).to_vec());
        f.skip_me = false;
    } else {
        let mut i = 2;
        while i < argc {
            if i + 1 >= argc {
                return Err(Error::Syntax);
            }
            let (opt, val) = (ctx.arg(i).to_ascii_lowercase(), ctx.arg(i + 1));
            match opt.as_slice() {
                b"id" => match ferrous_resp::parse_i64(val) {
                    Some(id) if id > 0 => f.id = Some(id as u64),
                    _ => return Err(Error::msg("ERR client-id should be greater than 0")),
                },
                b"type" => f.kind = Some(client_type(val)?),
                b"addr" => f.addr = Some(val.to_vec()),
                b"laddr" => f.laddr = Some(val.to_vec()),
                b"user" => match ctx.db.inner.acl.user(val) {
                    Some(u) => f.user = Some(u),
                    None => return Err(Error::msg(format!("ERR No such user '{}'", String::from_utf8_lossy(val)))),
                },
                b"skipme" => match val.to_ascii_lowercase().as_slice() {
                    b"yes" => f.skip_me = true,
                    b"no" => f.skip_me = false,
                    _ => return Err(Error::Syntax),
                },
                _ => return Err(Error::Syntax),
            }
            i += 2;
        }
    }
    let me = ctx.client.id();
    let mut killed = 0;
    for c in ctx.db.inner.clients.all() {
        if !f.matches(&c, me) {
            continue;
        }
        if c.id == me {
            // Reply first, then close.
            ctx.client.close_after_reply = true;
        } else {
            c.kill();
        }
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            return Err(Error::msg("ERR No such client"));
        }
        ctx.out.ok();
    } else {
        ctx.out.int(killed);
    }
    Ok(())
}

/// `CLIENT NO-EVICT <ON | OFF>`
fn client_no_evict(ctx: &mut Ctx<'_>) -> Result<()> {
    let on = match ctx.arg(2).to_ascii_lowercase().as_slice() {
        b"on" => true,
        b"off" => false,
        _ => return Err(Error::Syntax),
    };
    ctx.client.info.no_evict.store(on, Relaxed);
    ctx.out.ok();
    Ok(())
}

/// `CLIENT REPLY <ON | OFF | SKIP>`: OFF and SKIP reply nothing (the event loop drops the
/// replies the mode suppresses).
fn client_reply(ctx: &mut Ctx<'_>) -> Result<()> {
    match ctx.arg(2).to_ascii_lowercase().as_slice() {
        b"on" => {
            ctx.client.reply_mode = ReplyMode::On;
            ctx.out.ok();
        }
        b"off" => ctx.client.reply_mode = ReplyMode::Off,
        b"skip" => {
            if ctx.client.reply_mode != ReplyMode::Off {
                ctx.client.reply_mode = ReplyMode::Skip;
            }
        }
        _ => return Err(Error::Syntax),
    }
    Ok(())
}

/// Writes a HELP reply: one simple string per line.
pub(crate) fn help_lines(ctx: &mut Ctx<'_>, lines: &[&str]) {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
}

/// `CLIENT HELP`
fn client_help(ctx: &mut Ctx<'_>) -> Result<()> {
    help_lines(ctx, CLIENT_HELP);
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// `CLIENT PAUSE timeout [WRITE|ALL]`
fn client_pause(ctx: &mut Ctx<'_>) -> Result<()> {
    let ms =
        crate::util::parse_int(ctx.arg(2)).map_err(|_| Error::msg("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Error::msg("ERR timeout is negative"));
    }
    let kind = match ctx.argc() {
        3 => crate::pause::PAUSE_ALL,
        4 if ctx.arg(3).eq_ignore_ascii_case(b"write") => crate::pause::PAUSE_WRITE,
        4 if ctx.arg(3).eq_ignore_ascii_case(b"all") => crate::pause::PAUSE_ALL,
        4 => return Err(Error::msg("ERR CLIENT PAUSE mode must be WRITE or ALL")),
        _ => return Err(Error::Syntax),
    };
    ctx.db.inner.pause.pause(ctx.now().saturating_add(ms).max(1), kind);
    ctx.out.ok();
    Ok(())
}

/// `CLIENT UNPAUSE`
fn client_unpause(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.db.inner.pause.unpause();
    ctx.out.ok();
    Ok(())
}
