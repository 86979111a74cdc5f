//! Server commands: COMMAND (COUNT INFO DOCS LIST GETKEYS GETKEYSANDFLAGS HELP), TIME, DEBUG,
//! SHUTDOWN. (INFO is in [`super::info`], CONFIG in [`super::config_cmd`].)
//!
//! Key extraction ([`command_keys`]) follows Redis 7.0's `getKeysFromCommandWithSpecs`: the
//! key specs stored in each command's COMMAND INFO entry (begin-search by index or keyword,
//! find-keys by range or key count) are interpreted generally; a command whose specs are
//! incomplete or unknown (SORT, MIGRATE) or whose key flags depend on its arguments (SET,
//! BITFIELD) uses the same dedicated rule Redis has for it.
use super::client_cmd::help_lines;
use super::{flags, table, CommandSpec, Ctx, Handler};
use crate::db::ShutdownOptions;
use crate::error::{Error, Result};
use crate::keyspace::META_LRU_MASK;
use crate::value::Value;
use ferrous_resp::Value as RespValue;
use std::sync::atomic::Ordering::Relaxed;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("monitor", monitor),
    ("command", command),
    ("command|count", command_count),
    ("command|info", command_info),
    ("command|docs", command_docs),
    ("command|list", command_list),
    ("command|getkeys", command_getkeys),
    ("command|getkeysandflags", command_getkeysandflags),
    ("command|help", command_help),
    ("time", time),
    ("debug", debug),
    ("shutdown", shutdown),
];

/// `COMMAND`: every command's INFO entry.
fn command(ctx: &mut Ctx<'_>) -> Result<()> {
    let t = table();
    ctx.out.array(t.len());
    for spec in t.iter() {
        ctx.out.value(&spec.info());
    }
    Ok(())
}

/// `COMMAND COUNT`
fn command_count(ctx: &mut Ctx<'_>) -> Result<()> {
    ctx.out.int(table().len() as i64);
    Ok(())
}

/// A command or subcommand by its full name (`get`, `client|list`), case-insensitively.
pub fn lookup_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut parts = name.splitn(2, |&c| c == b'|');
    let top = table().get(parts.next()?)?;
    match parts.next() {
        None => Some(top),
        Some(sub) => top.subcommands.get(&sub.to_ascii_lowercase()).copied(),
    }
}

/// `COMMAND INFO [command-name [command-name ...]]`
fn command_info(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.argc() == 2 {
        return command(ctx);
    }
    ctx.out.array(ctx.argc() - 2);
    for name in ctx.args.iter().skip(2) {
        match lookup_full_name(name) {
            Some(spec) => ctx.out.value(&spec.info()),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `COMMAND DOCS [command-name [command-name ...]]`: a map from name to documentation;
/// unknown names are left out.
fn command_docs(ctx: &mut Ctx<'_>) -> Result<()> {
    let specs: Vec<&'static CommandSpec> = if ctx.argc() == 2 {
        table().iter().collect()
    } else {
        ctx.args.iter().skip(2).filter_map(lookup_full_name).collect()
    };
    let decode = |bytes: &[u8]| ferrous_resp::parse_value(bytes).ok().flatten().map(|(v, _)| v);
    let with_docs: Vec<_> =
        specs.into_iter().filter_map(|s| s.docs.as_deref().and_then(decode).map(|d| (s, d))).collect();
    ctx.out.map(with_docs.len());
    for (spec, docs) in with_docs {
        ctx.out.bulk(spec.name.as_bytes());
        ctx.out.value(&docs);
    }
    Ok(())
}

/// The ACL categories (`@read` ...) of a command's INFO entry, without the `@`.
fn acl_categories(spec: &CommandSpec) -> Vec<String> {
    let info = spec.info();
    let RespValue::Array(items) = &info else { return vec![] };
    match items.get(6) {
        Some(RespValue::Set(c) | RespValue::Array(c)) => c
            .iter()
            .filter_map(|v| match v {
                RespValue::Simple(s) => Some(s.trim_start_matches('@').to_string()),
                other => other.as_bytes().map(|b| String::from_utf8_lossy(b).trim_start_matches('@').to_string()),
            })
            .collect(),
        _ => vec![],
    }
}

/// `COMMAND LIST [FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]`
fn command_list(ctx: &mut Ctx<'_>) -> Result<()> {
    enum Filter {
        None,
        Module,
        AclCat(String),
        Pattern(Vec<u8>),
    }
    let mut filter = Filter::None;
    let mut i = 2;
    while i < ctx.argc() {
        let more = ctx.argc() - 1 - i;
        if ctx.arg(i).eq_ignore_ascii_case(b"filterby") && more == 2 {
            let arg = ctx.arg(i + 2);
            filter = match ctx.arg(i + 1).to_ascii_lowercase().as_slice() {
                b"module" => Filter::Module,
                b"aclcat" => Filter::AclCat(String::from_utf8_lossy(arg).to_ascii_lowercase()),
                b"pattern" => Filter::Pattern(arg.to_vec()),
                _ => return Err(Error::Syntax),
            };
            i += 3;
        } else {
            return Err(Error::Syntax);
        }
    }
    let mut names = Vec::new();
    let mut add = |spec: &CommandSpec| {
        let keep = match &filter {
            Filter::None => true,
            Filter::Module => false,
            Filter::AclCat(cat) => acl_categories(spec).iter().any(|c| c.eq_ignore_ascii_case(cat)),
            Filter::Pattern(p) => crate::glob::glob_match(p, spec.name.as_bytes(), true),
        };
        if keep {
            names.push(spec.name.clone());
        }
    };
    for spec in table().iter() {
        add(spec);
        for sub in spec.subcommands.values() {
            add(sub);
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// A key found in a command's arguments, with its key-spec flags (`RW`, `access`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// Position in the arguments (the command name is 0).
    pub pos: usize,
    /// Flags, in Redis's order.
    pub flags: Vec<String>,
}

/// One key spec of a command (Redis's `keySpec`), read from its COMMAND INFO entry.
#[derive(Debug)]
pub(crate) struct KeySpec {
    flags: Vec<String>,
    begin: BeginSearch,
    find: FindKeys,
}

#[derive(Debug)]
enum BeginSearch {
    Index(i64),
    Keyword { keyword: Vec<u8>, startfrom: i64 },
    Unknown,
}

#[derive(Debug)]
enum FindKeys {
    Range { lastkey: i64, keystep: i64, limit: i64 },
    KeyNum { keynumidx: i64, firstkey: i64, keystep: i64 },
    Unknown,
}

fn field<'v>(map: &'v RespValue, name: &str) -> Option<&'v RespValue> {
    match map {
        RespValue::Map(pairs) => pairs.iter().find(|(k, _)| k.as_bytes() == Some(name.as_bytes())).map(|(_, v)| v),
        RespValue::Array(items) => {
            items.chunks(2).find(|kv| kv[0].as_bytes() == Some(name.as_bytes())).and_then(|kv| kv.get(1))
        }
        _ => None,
    }
}

fn int_field(map: &RespValue, name: &str) -> i64 {
    field(map, name).and_then(|v| v.as_int()).unwrap_or(0)
}

fn text(v: &RespValue) -> String {
    match v {
        RespValue::Simple(s) => s.clone(),
        other => other.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default(),
    }
}

fn key_specs(info: &RespValue) -> Vec<KeySpec> {
    let RespValue::Array(items) = info else { return vec![] };
    let Some(RespValue::Array(specs) | RespValue::Set(specs)) = items.get(8) else { return vec![] };
    specs
        .iter()
        .map(|s| {
            let flags = match field(s, "flags") {
                Some(RespValue::Set(f) | RespValue::Array(f)) => f.iter().map(text).collect(),
                _ => vec![],
            };
            let begin = match field(s, "begin_search") {
                Some(bs) => {
                    let body = field(bs, "spec");
                    match (field(bs, "type").map(text).as_deref(), body) {
                        (Some("index"), Some(b)) => BeginSearch::Index(int_field(b, "index")),
                        (Some("keyword"), Some(b)) => BeginSearch::Keyword {
                            keyword: field(b, "keyword").map(text).unwrap_or_default().into_bytes(),
                            startfrom: int_field(b, "startfrom"),
                        },
                        _ => BeginSearch::Unknown,
                    }
                }
                None => BeginSearch::Unknown,
            };
            let find = match field(s, "find_keys") {
                Some(fk) => {
                    let body = field(fk, "spec");
                    match (field(fk, "type").map(text).as_deref(), body) {
                        (Some("range"), Some(b)) => FindKeys::Range {
                            lastkey: int_field(b, "lastkey"),
                            keystep: int_field(b, "keystep"),
                            limit: int_field(b, "limit"),
                        },
                        (Some("keynum"), Some(b)) => FindKeys::KeyNum {
                            keynumidx: int_field(b, "keynumidx"),
                            firstkey: int_field(b, "firstkey"),
                            keystep: int_field(b, "keystep"),
                        },
                        _ => FindKeys::Unknown,
                    }
                }
                None => FindKeys::Unknown,
            };
            KeySpec { flags, begin, find }
        })
        .collect()
}

fn has_flag(s: &KeySpec, f: &str) -> bool {
    s.flags.iter().any(|x| x == f)
}

/// Redis's `getKeysUsingKeySpecs`: `None` when a spec cannot be applied (invalid
/// arguments, or an incomplete/unknown spec).
fn keys_from_specs(specs: &[KeySpec], args: &[&[u8]]) -> Option<Vec<KeyRef>> {
    let argc = args.len() as i64;
    let mut out = Vec::new();
    for s in specs.iter().filter(|s| !has_flag(s, "not_key")) {
        if has_flag(s, "incomplete") {
            return None;
        }
        let mut first = match &s.begin {
            BeginSearch::Index(i) => *i,
            BeginSearch::Keyword { keyword, startfrom } => {
                let (start, end) = if *startfrom > 0 { (*startfrom, argc - 1) } else { (argc + startfrom, 1) };
                let mut found = 0;
                let mut i = start;
                loop {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args[i as usize].eq_ignore_ascii_case(keyword) {
                        found = i + 1;
                        break;
                    }
                    if i == end {
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match &s.find {
            FindKeys::Range { lastkey, keystep, limit } => {
                let last = if *lastkey >= 0 {
                    first + lastkey
                } else if *limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, *keystep)
            }
            FindKeys::KeyNum { keynumidx, firstkey, keystep } => {
                let idx = first + keynumidx;
                if idx >= argc {
                    return None;
                }
                let n = ferrous_resp::parse_i64(args[idx as usize]).filter(|n| *n >= 0)?;
                first += firstkey;
                (first + n - 1, *keystep)
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push(KeyRef { pos: i as usize, flags: s.flags.clone() });
            i += step;
        }
    }
    Some(out)
}

fn key_ref(pos: usize, flags: &[&str]) -> KeyRef {
    KeyRef { pos, flags: flags.iter().map(|f| f.to_string()).collect() }
}

/// Redis's dedicated key rules (`sortGetKeys`, `migrateGetKeys`, `setGetKeys`,
/// `bitfieldGetKeys`) for commands whose specs are not enough; `None` for a command
/// without one.
fn native_keys(name: &str, args: &[&[u8]]) -> Option<Vec<KeyRef>> {
    let argc = args.len();
    let eq = |i: usize, w: &str| args[i].eq_ignore_ascii_case(w.as_bytes());
    match name {
        "sort" => {
            let mut keys = vec![key_ref(1, &["RO", "access"])];
            let mut store = None;
            let mut i = 2;
            while i < argc {
                if eq(i, "limit") {
                    i += 2;
                } else if eq(i, "get") || eq(i, "by") {
                    i += 1;
                } else if eq(i, "store") && i + 1 < argc {
                    // The last STORE wins, as in SORT itself.
                    store = Some(i + 1);
                }
                i += 1;
            }
            keys.extend(store.map(|p| key_ref(p, &["OW", "update"])));
            Some(keys)
        }
        "sort_ro" => Some(vec![key_ref(1, &["RO", "access"])]),
        "migrate" => {
            let (mut first, mut num) = (3, 1);
            if argc > 6 {
                let mut i = 6;
                while i < argc {
                    if eq(i, "keys") {
                        if !args[3].is_empty() {
                            return Some(vec![]);
                        }
                        first = i + 1;
                        num = argc - first;
                        break;
                    }
                    if eq(i, "auth") {
                        i += 1;
                    } else if eq(i, "auth2") {
                        i += 2;
                    }
                    i += 1;
                }
            }
            Some((first..first + num).map(|p| key_ref(p, &["RW", "access", "delete"])).collect())
        }
        "set" => {
            let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            Some(vec![if get { key_ref(1, &["RW", "access", "update"]) } else { key_ref(1, &["OW", "update"]) }])
        }
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < argc {
                let rem = argc - i - 1;
                if eq(i, "get") && rem >= 2 {
                    i += 2;
                } else if (eq(i, "set") || eq(i, "incrby")) && rem >= 3 {
                    readonly = false;
                    break;
                } else if eq(i, "overflow") && rem >= 1 {
                    i += 1;
                } else {
                    readonly = false;
                    break;
                }
                i += 1;
            }
            Some(vec![if readonly { key_ref(1, &["RO", "access"]) } else { key_ref(1, &["RW", "access", "update"]) }])
        }
        _ => None,
    }
}

/// The keys of a command call (`args[0]` is the command name), as COMMAND GETKEYS finds
/// them. An empty result means none could be found (invalid arguments, or a command whose
/// keys are all optional).
pub fn command_keys(spec: &CommandSpec, args: &[&[u8]]) -> Vec<KeyRef> {
    keys_with(&spec.name, spec_key_specs(spec), args)
}

/// A command's key specs, decoded once.
fn spec_key_specs(spec: &CommandSpec) -> &[KeySpec] {
    spec.key_specs.get_or_init(|| key_specs(&spec.info()))
}

/// [`command_keys`] for a command given by name and COMMAND INFO entry.
#[cfg(test)]
fn keys_for(name: &str, info: &RespValue, args: &[&[u8]]) -> Vec<KeyRef> {
    keys_with(name, &key_specs(info), args)
}

/// [`command_keys`] for a command given by name and key specs.
fn keys_with(name: &str, specs: &[KeySpec], args: &[&[u8]]) -> Vec<KeyRef> {
    let has_keyspec = specs.iter().any(|s| !has_flag(s, "not_key"));
    let variable_flags = specs.iter().any(|s| has_flag(s, "variable_flags"));
    if has_keyspec && !variable_flags {
        if let Some(keys) = keys_from_specs(specs, args) {
            return keys;
        }
    }
    native_keys(name, args).unwrap_or_default()
}

/// True if the command has key arguments at all (Redis's `doesCommandHaveKeys`).
fn has_keys(spec: &CommandSpec) -> bool {
    matches!(spec.name.as_str(), "sort" | "sort_ro" | "migrate" | "set" | "bitfield")
        || spec_key_specs(spec).iter().any(|s| !has_flag(s, "not_key"))
}

fn getkeys(ctx: &mut Ctx<'_>, with_flags: bool) -> Result<()> {
    let args: Vec<&[u8]> = ctx.args.iter().skip(2).collect();
    let top = table().get(args[0]);
    let spec = match top {
        Some(t) if !t.subcommands.is_empty() && args.len() >= 2 => {
            t.subcommands.get(&args[1].to_ascii_lowercase()).copied()
        }
        other => other,
    };
    let Some(spec) = spec else {
        return Err(Error::msg("ERR Invalid command specified"));
    };
    if !has_keys(spec) {
        return Err(Error::msg("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(args.len()) {
        return Err(Error::msg("ERR Invalid number of arguments specified for command"));
    }
    let keys = command_keys(spec, &args);
    if keys.is_empty() && !spec.has(flags::NO_MANDATORY_KEYS) {
        return Err(Error::msg("ERR Invalid arguments specified for command"));
    }
    ctx.out.array(keys.len());
    for k in keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(args[k.pos]);
            ctx.out.set(k.flags.len());
            for f in &k.flags {
                ctx.out.simple(f);
            }
        } else {
            ctx.out.bulk(args[k.pos]);
        }
    }
    Ok(())
}

/// `COMMAND GETKEYS command [arg [arg ...]]`
fn command_getkeys(ctx: &mut Ctx<'_>) -> Result<()> {
    getkeys(ctx, false)
}

/// `COMMAND GETKEYSANDFLAGS command [arg [arg ...]]`
fn command_getkeysandflags(ctx: &mut Ctx<'_>) -> Result<()> {
    getkeys(ctx, true)
}

/// `COMMAND HELP`
fn command_help(ctx: &mut Ctx<'_>) -> Result<()> {
    help_lines(
        ctx,
        &[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}

/// `TIME`: Unix seconds and microseconds, as two bulk strings.
fn time(ctx: &mut Ctx<'_>) -> Result<()> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

/// `SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]`: asks the server to stop; on success
/// there is no reply (the connection closes). An embedded database has no server to stop.
fn shutdown(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut opts = ShutdownOptions::default();
    let (mut save, mut nosave, mut abort) = (false, false, false);
    for a in ctx.args.iter().skip(1) {
        match a.to_ascii_lowercase().as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => opts.now = true,
            b"force" => opts.force = true,
            b"abort" => abort = true,
            _ => return Err(Error::Syntax),
        }
    }
    if (abort && (save || nosave || opts.now || opts.force)) || (save && nosave) {
        return Err(Error::Syntax);
    }
    if abort {
        // Only a SHUTDOWN waiting for its replicas can be aborted.
        if crate::replication::abort_shutdown(&ctx.db.inner) {
            ctx.out.ok();
            return Ok(());
        }
        return Err(Error::msg("ERR No shutdown in progress."));
    }
    if !nosave {
        // During a busy script only SHUTDOWN NOSAVE is accepted (Redis's shutdownCommand).
        if let Some(e) = crate::scripting::busy_error(ctx.db) {
            return Err(e);
        }
    }
    opts.save = if save {
        Some(true)
    } else if nosave {
        Some(false)
    } else {
        None
    };
    if ctx.db.inner.hooks.read().is_none() {
        return Err(Error::msg(crate::persistence::SHUTDOWN_UNAVAILABLE));
    }
    // Without NOW, replicas get up to `shutdown-timeout` seconds to acknowledge everything
    // (writes paused, the client blocked, others served), so the saved file matches them,
    // as Redis 7.0 does; the shutdown then completes from the replication checks.
    let wait = ctx.client.blocking.can_block().then(|| crate::replication::shutdown_wait_ms(&ctx.db.inner, &opts));
    if let Some(Some(timeout_ms)) = wait {
        let args: ferrous_resp::ArgsBuf = ctx.args.iter().collect();
        if ctx.db.inner.blocking.block(ctx.client, Vec::new(), args, None, false) {
            if let Some(w) = ctx.client.blocking.blocked.clone() {
                crate::replication::begin_shutdown_wait(&ctx.db.inner, Some(w), opts, timeout_ms);
            }
            return Ok(());
        }
    }
    crate::persistence::save_and_stop(&ctx.db.inner, &opts).map_err(Error::msg)?;
    ctx.client.close_after_reply = true;
    Ok(())
}

/// May this client run DEBUG? `enable-debug-command`: `yes`, or `local` for a loopback
/// connection. In-process callers (no socket) are always allowed: the protection is against
/// network clients, and the embedding program owns the process anyway.
fn debug_allowed(ctx: &Ctx<'_>) -> bool {
    let info = &ctx.client.info;
    if info.addr.is_empty() {
        return true;
    }
    match ctx.db.inner.config.read().get("enable-debug-command") {
        Some("yes") => true,
        Some("local") => info.is_local(),
        _ => false,
    }
}

/// `DEBUG <subcommand> ...`: OBJECT, SLEEP, SET-ACTIVE-EXPIRE, PROTOCOL, POPULATE, RELOAD,
/// LOG, ERROR, DIGEST, DIGEST-VALUE, CHANGE-REPL-ID, LISTPACK, QUICKLIST-PACKED-THRESHOLD,
/// REPLYBUFFER, STRINGMATCH-TEST, HELP.
fn debug(ctx: &mut Ctx<'_>) -> Result<()> {
    if !debug_allowed(ctx) {
        return Err(Error::msg(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it \
             from a local connection, otherwise you need to set this option in the configuration file, and then \
             restart the server.",
        ));
    }
    let sub = ctx.arg(1).to_ascii_lowercase();
    let argc = ctx.argc();
    match (sub.as_slice(), argc) {
        (b"help", 2) => debug_help(ctx),
        (b"object", 3) => debug_object(ctx)?,
        (b"sleep", 3) => {
            let secs = strtod_prefix(ctx.arg(2));
            if secs > 0.0 && secs.is_finite() {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(1e9)));
            }
            ctx.out.ok();
        }
        (b"set-active-expire", 3) => {
            ctx.db.set_active_expire(atoi(ctx.arg(2)) != 0);
            ctx.out.ok();
        }
        (b"protocol", 3) => debug_protocol(ctx)?,
        (b"populate", 3..=5) => debug_populate(ctx)?,
        (b"reload", _) => debug_reload(ctx)?,
        (b"log", 3) => ctx.out.ok(),
        (b"digest", 2) => {
            let digest = crate::digest::dataset_digest(&ctx.access);
            ctx.out.simple(&crate::digest::to_hex(&digest));
        }
        (b"digest-value", _) => {
            ctx.out.array(argc - 2);
            for i in 2..argc {
                let digest = crate::digest::key_digest(&ctx.access, ctx.arg(i));
                ctx.out.simple(&crate::digest::to_hex(&digest));
            }
        }
        (b"error", 3) => {
            let text = String::from_utf8_lossy(ctx.arg(2)).replace(['\r', '\n'], " ");
            return Err(Error::msg(text));
        }
        (b"change-repl-id", 2) => {
            // Redis's changeReplicationId + clearReplicationId2.
            let mut ids = ctx.db.inner.repl.ids.lock();
            ids.replid = crate::db::random_hex_id();
            ids.replid2 = "0".repeat(40);
            ids.second_offset = -1;
            drop(ids);
            crate::persistence::log_notice(
                &ctx.db.inner,
                "Changing replication IDs after receiving DEBUG change-repl-id",
            );
            ctx.out.ok();
        }
        (b"listpack", 3) => debug_listpack(ctx)?,
        (b"stringmatch-test", 2) => {
            stringmatch_fuzz();
            ctx.out.simple("Apparently Redis did not crash: test passed");
        }
        (b"quicklist-packed-threshold", 3) => {
            // Redis's bounds (`quicklistisSetPackedThreshold`): below 4gb - 1mb; 0 restores
            // the default (1gb).
            let v = crate::config::parse_memory(&String::from_utf8_lossy(ctx.arg(2)));
            match v.filter(|v| (0..(1 << 32) - (1 << 20)).contains(v)) {
                Some(bytes) => crate::rdb::set_packed_threshold(bytes as usize),
                None => {
                    return Err(Error::msg("ERR argument must be a memory value bigger than 1 and smaller than 4gb"))
                }
            }
            ctx.out.ok();
        }
        (b"replybuffer", 4) => {
            // Ferrous's output buffers are plain growable vectors: there is no peak-reset
            // timer or resizing policy to change, so both are accepted as Redis accepts them.
            match ctx.arg(2).to_ascii_lowercase().as_slice() {
                b"peak-reset-time" => {
                    let v = ctx.arg(3);
                    if !v.eq_ignore_ascii_case(b"never")
                        && !v.eq_ignore_ascii_case(b"reset")
                        && ferrous_resp::parse_i64(v).is_none()
                    {
                        return Err(Error::NotInteger);
                    }
                }
                b"resizing" => {
                    if ferrous_resp::parse_i64(ctx.arg(3)).is_none() {
                        return Err(Error::NotInteger);
                    }
                }
                _ => return Err(unknown_debug(ctx)),
            }
            ctx.out.ok();
        }
        _ => return Err(unknown_debug(ctx)),
    }
    Ok(())
}

/// Redis's reply to a DEBUG subcommand it does not know (or with the wrong arguments).
fn unknown_debug(ctx: &Ctx<'_>) -> Error {
    Error::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(&ctx.arg(1)[..ctx.arg(1).len().min(128)])
    ))
}

/// `DEBUG LISTPACK key`: for a listpack-encoded hash or sorted set, writes its entries to
/// the server log (Redis prints the listpack on stdout).
fn debug_listpack(ctx: &mut Ctx<'_>) -> Result<()> {
    let key = ctx.arg(2);
    let dump = ctx.access.peek(key, |n| {
        let (node, _) = n?;
        let value = &node.value;
        let listpack = matches!(value, Value::Hash(_) | Value::ZSet(_)) && value.encoding(false) == "listpack";
        Some(listpack.then(|| format!("{{listpack of {} entries, {:?}}}", value_len(value), value.type_name())))
    });
    match dump {
        None => Err(Error::NoSuchKey),
        Some(None) => Err(Error::msg("ERR Not a listpack encoded object.")),
        Some(Some(text)) => {
            crate::persistence::log_notice(&ctx.db.inner, &text);
            ctx.out.simple("Listpack structure printed on stdout");
            Ok(())
        }
    }
}

/// Redis's `stringmatchlen_fuzz_test`: random patterns against random strings, to show that
/// the glob matcher survives anything.
fn stringmatch_fuzz() {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let pattern: Vec<u8> = (0..rng.gen_range(0..32)).map(|_| rng.gen()).collect();
        let text: Vec<u8> = (0..rng.gen_range(0..32)).map(|_| rng.gen()).collect();
        let _ = crate::glob::glob_match(&pattern, &text, false);
    }
}

/// Elements of a hash (fields) or sorted set (members).
fn value_len(v: &Value) -> usize {
    match v {
        Value::Hash(h) => h.len(),
        Value::ZSet(z) => z.len(),
        _ => 0,
    }
}

/// `DEBUG RELOAD [NOSAVE]`: saves the dataset (unless NOSAVE), then replaces it with what
/// `dir/dbfilename` holds, as a restart would.
fn debug_reload(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut save = true;
    for a in ctx.args.iter().skip(2) {
        match a.to_ascii_lowercase().as_slice() {
            b"nosave" => save = false,
            // MERGE / NOFLUSH keep the current dataset: not supported yet.
            _ => return Err(Error::msg("ERR DEBUG RELOAD only supports the NOSAVE option")),
        }
    }
    super::persistence::require_persistence(ctx)?;
    if ctx.access.is_held() {
        return Err(Error::msg("ERR DEBUG RELOAD is not allowed inside MULTI or scripts"));
    }
    let inner = &ctx.db.inner;
    if save {
        crate::persistence::save(inner).map_err(|_| Error::msg("ERR"))?;
    }
    let path = crate::persistence::rdb_path(inner);
    match crate::persistence::load_file(inner, &path, Default::default()) {
        Ok(Some(_)) => {
            crate::persistence::log_notice(inner, "DB reloaded by DEBUG RELOAD");
            ctx.out.ok();
            Ok(())
        }
        Ok(None) => Err(Error::msg("ERR Error trying to load the RDB dump, check server logs.")),
        Err(e) => {
            crate::persistence::log_error(inner, &format!("Error loading {}: {e}", path.display()));
            Err(Error::msg("ERR Error trying to load the RDB dump, check server logs."))
        }
    }
}

/// C's `atoi`: optional sign and leading digits, 0 if none.
fn atoi(b: &[u8]) -> i64 {
    let s = std::str::from_utf8(b).unwrap_or("").trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).take(18).collect();
    let v = digits.parse::<i64>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// C's `strtod` on the longest numeric prefix, 0 if none.
fn strtod_prefix(b: &[u8]) -> f64 {
    let s = std::str::from_utf8(b).unwrap_or("").trim_start();
    (1..=s.len()).rev().find_map(|n| s.get(..n).and_then(|p| p.parse::<f64>().ok())).unwrap_or(0.0)
}

fn debug_help(ctx: &mut Ctx<'_>) {
    // Redis's text, for the subcommands Ferrous has, in Redis's order.
    help_lines(
        ctx,
        &[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANGE-REPL-ID",
            "    Change the replication IDs of the instance.",
            "    Dangerous: should be used only for testing the replication subsystem.",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas. Cluster slots are not respected so keys not belonging to the",
            "    current node can be created in cluster mode.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
            "    * NOSAVE: the database will be loaded from an existing RDB file.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "    Sets the threshold for elements to be inserted as plain vs packed nodes",
            "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "STRINGMATCH-TEST",
            "    Run a fuzz tester against the stringmatchlen() function.",
            "LISTPACK <key>",
            "    Show low level info about the listpack encoding of <key>.",
            "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
            "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
            "    In case NEVER is provided the last observed peak will never be reset",
            "    In case RESET is provided the peak reset time will be restored to the default value",
            "REPLYBUFFER RESIZING <0|1>",
            "    Enable or disable the reply buffer resize cron job",
            "HELP",
            "    Prints this help.",
        ],
    );
}

/// Bytes of an RDB length prefix.
fn rdb_len_size(len: usize) -> usize {
    match len {
        0..=63 => 1,
        64..=16383 => 2,
        _ if len <= u32::MAX as usize => 5,
        _ => 9,
    }
}

/// Bytes of an integer in an RDB string (`rdbSaveLongLongAsStringObject`).
fn rdb_int_size(i: i64) -> usize {
    if i8::try_from(i).is_ok() {
        2
    } else if i16::try_from(i).is_ok() {
        3
    } else if i32::try_from(i).is_ok() {
        5
    } else {
        let len = i.to_string().len();
        rdb_len_size(len) + len
    }
}

/// Bytes of a string in RDB (`rdbSaveRawString`), without LZF compression.
fn rdb_string_size(b: &[u8]) -> usize {
    if b.len() <= 11 {
        if let Some(i) = ferrous_resp::parse_i64(b).filter(|i| i32::try_from(*i).is_ok()) {
            return rdb_int_size(i);
        }
    }
    rdb_len_size(b.len()) + b.len()
}

/// `DEBUG OBJECT key`
///
/// `serializedlength` is the RDB size of a string value computed as Redis does, except
/// that strings Redis would LZF-compress (longer than 20 bytes) count uncompressed; for
/// the other types it is an estimate from the value's size in memory.
fn debug_object(ctx: &mut Ctx<'_>) -> Result<()> {
    let key = ctx.arg(2);
    let refcount = crate::types::keys::object_refcount(&ctx.access, key);
    let now = ctx.now();
    let (list_fill, compress) = {
        let c = ctx.db.inner.config.read();
        (c.get_i64("list-max-listpack-size"), c.get_i64("list-compress-depth"))
    };
    let line = ctx.access.peek(key, |n| {
        let (node, _) = n?;
        let meta = node.meta.load(Relaxed);
        let raw = meta & crate::keyspace::META_RAW != 0;
        let lru = meta & META_LRU_MASK;
        let idle = crate::evict::idle_seconds(meta, now);
        let value = &node.value;
        let (serialized, extra) = match value {
            Value::Int(i) => (rdb_int_size(*i), String::new()),
            Value::Str(s) => (rdb_string_size(s.as_slice()), String::new()),
            Value::List(l) => {
                let nodes = l.node_count().max(1);
                let size = l.heap_size().saturating_sub(std::mem::size_of_val(&**l));
                (
                    size.min(l.len() * 2 + nodes * 11),
                    format!(
                        " ql_nodes:{} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{}",
                        l.node_count(),
                        l.len() as f64 / nodes as f64,
                        list_fill,
                        (compress != 0) as u8,
                        size
                    ),
                )
            }
            other => (other.heap_size(), String::new()),
        };
        Some(format!(
            "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{}",
            value as *const Value,
            refcount.unwrap_or(1),
            value.encoding(raw),
            serialized,
            lru,
            idle,
            extra
        ))
    });
    match line {
        Some(l) => {
            ctx.out.simple(&l);
            Ok(())
        }
        None => Err(Error::NoSuchKey),
    }
}

/// `DEBUG PROTOCOL <type>`: a sample reply of each RESP type.
fn debug_protocol(ctx: &mut Ctx<'_>) -> Result<()> {
    let resp3 = ctx.out.resp3();
    let kind = ctx.arg(2).to_ascii_lowercase();
    let out = &mut ctx.out;
    match kind.as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => {
            let n = b"1234567999999999999999999999999999999";
            if resp3 {
                out.raw(b"(");
                out.raw(n);
                out.raw(b"\r\n");
            } else {
                out.bulk(n);
            }
        }
        b"null" => out.null(),
        b"array" | b"set" => {
            if kind == b"set" {
                out.set(3);
            } else {
                out.array(3);
            }
            for j in 0..3 {
                out.int(j);
            }
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return Err(Error::msg("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim("txt", b"This is a verbatim\nstring"),
        _ => {
            return Err(Error::msg(
                "ERR Wrong protocol type name. Please use one of the following: \
                 string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// `DEBUG POPULATE count [prefix] [size]`: creates `count` string keys `prefix:N` holding
/// `value:N` (zero-padded or cut to `size` bytes), skipping keys that exist.
fn debug_populate(ctx: &mut Ctx<'_>) -> Result<()> {
    let positive = |a: &[u8]| {
        ferrous_resp::parse_i64(a)
            .filter(|v| *v >= 0)
            .ok_or_else(|| Error::msg("ERR value is out of range, must be positive"))
    };
    let count = positive(ctx.arg(2))?;
    let size = if ctx.argc() == 5 { positive(ctx.arg(4))? as usize } else { 0 };
    if size as u64 > ctx.db.inner.config.read().get_i64("proto-max-bulk-len") as u64 {
        return Err(Error::StringTooLong);
    }
    let prefix = if ctx.argc() >= 4 { ctx.arg(3).to_vec() } else { b"key".to_vec() };
    let now = ctx.now();
    for j in 0..count {
        let mut key = prefix.clone();
        key.extend_from_slice(format!(":{j}").as_bytes());
        let mut value = format!("value:{j}").into_bytes();
        if size > 0 {
            value.resize(size, 0);
        }
        ctx.access.write(&key, |shard, h| {
            if !shard.contains(h, &key, now) {
                shard.set(h, &key, Value::string(&value), None, now);
            }
        });
    }
    ctx.out.ok();
    Ok(())
}

/// `MONITOR`: from now on the client receives a line for every command executed (see
/// [`crate::monitor`]).
fn monitor(ctx: &mut Ctx<'_>) -> Result<()> {
    // Inside EXEC or a script a client expects one reply per command (DENY BLOCKING).
    if ctx.client.tx.in_multi() || ctx.client.blocking.disabled {
        return Err(Error::msg("ERR MONITOR isn't allowed for DENY BLOCKING client"));
    }
    let id = ctx.client.id();
    let sink = super::pubsub::state(ctx).sink.clone();
    ctx.db.inner.monitors.add(id, sink);
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command of Redis 7.0 (implemented or not) by full name, from the embedded data.
    fn redis_commands() -> std::collections::HashMap<String, RespValue> {
        fn walk(entries: &[RespValue], out: &mut std::collections::HashMap<String, RespValue>) {
            for e in entries {
                let RespValue::Array(items) = e else { continue };
                let name = text(&items[0]);
                if let Some(RespValue::Array(subs) | RespValue::Set(subs)) = items.get(9) {
                    walk(subs, out);
                }
                out.insert(name, e.clone());
            }
        }
        let data = include_bytes!("data/command-info.resp");
        let Ok(Some((RespValue::Array(all), _))) = ferrous_resp::parse_value(data) else { panic!("command data") };
        let mut out = std::collections::HashMap::new();
        walk(&all, &mut out);
        out
    }

    fn keys(cmds: &std::collections::HashMap<String, RespValue>, args: &[&str]) -> Vec<String> {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        keys_for(args[0], &cmds[args[0]], &argv).into_iter().map(|k| args[k.pos].to_string()).collect()
    }

    fn keys_and_flags(cmds: &std::collections::HashMap<String, RespValue>, args: &[&str]) -> Vec<(String, String)> {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        keys_for(args[0], &cmds[args[0]], &argv)
            .into_iter()
            .map(|k| (args[k.pos].to_string(), k.flags.join(" ")))
            .collect()
    }

    /// Redis 7.0.15's COMMAND GETKEYS answers for the same arguments.
    #[test]
    fn keys_from_redis_specs() {
        let cmds = redis_commands();
        for (args, expected) in [
            (&["get", "a"][..], &["a"][..]),
            (&["mset", "a", "b", "c", "d"], &["a", "c"]),
            (&["mset", "a", "b", "c"], &["a", "c"]),
            (&["del", "a", "b", "c"], &["a", "b", "c"]),
            (&["eval", "return 1", "2", "a", "b", "c"], &["a", "b"]),
            (&["eval", "return 1", "5", "a", "b", "c"], &[]),
            (&["eval", "return 1", "-1"], &[]),
            (&["eval", "return 1", "abc"], &[]),
            (&["eval", "return 1", "0"], &[]),
            (&["zunionstore", "d", "2", "a", "b", "weights", "1", "2"], &["d", "a", "b"]),
            (&["zunionstore", "d", "5", "a"], &[]),
            (&["sort", "mylist", "by", "x", "store", "dst"], &["mylist", "dst"]),
            (&["lmpop", "2", "a", "b", "left"], &["a", "b"]),
            (&["blmpop", "0", "2", "a", "b", "left"], &["a", "b"]),
            (&["xread", "streams", "a", "b", "0", "0"], &["a", "b"]),
            (&["xread", "count", "1", "streams", "a", "0"], &["a"]),
            (&["xreadgroup", "group", "g", "c", "streams", "a", "b", ">", ">"], &["a", "b"]),
            (&["migrate", "h", "p", "", "0", "5", "keys", "a", "b"], &["a", "b"]),
            (&["migrate", "h", "p", "k", "0", "5", "keys", "a"], &[]),
            (&["georadius", "k", "0", "0", "1", "m", "store", "d"], &["k", "d"]),
            (&["georadius", "k", "0", "0", "1", "m", "storedist", "d"], &["k", "d"]),
            (&["georadius", "k", "0", "0", "1", "m", "store", "d", "storedist", "e"], &["k", "d", "e"]),
            (&["object|encoding", "encoding", "k"], &["k"]),
            (&["memory|usage", "usage", "k"], &["k"]),
            (&["xgroup|create", "create", "k", "g", "$"], &["k"]),
            (&["bitfield_ro", "k", "get", "u8", "0"], &["k"]),
            (&["spublish", "ch", "msg"], &[]),
        ] {
            assert_eq!(keys(&cmds, args), expected, "{args:?}");
        }
    }

    #[test]
    fn key_flags_from_redis_specs() {
        let cmds = redis_commands();
        let p = |k: &str, f: &str| (k.to_string(), f.to_string());
        assert_eq!(keys_and_flags(&cmds, &["set", "a", "b"]), [p("a", "OW update")]);
        assert_eq!(keys_and_flags(&cmds, &["set", "a", "b", "get"]), [p("a", "RW access update")]);
        assert_eq!(
            keys_and_flags(&cmds, &["lmove", "a", "b", "left", "right"]),
            [p("a", "RW access delete"), p("b", "RW insert")]
        );
        assert_eq!(keys_and_flags(&cmds, &["sort", "a", "store", "b"]), [p("a", "RO access"), p("b", "OW update")]);
        assert_eq!(
            keys_and_flags(&cmds, &["sort", "a", "limit", "0", "1", "store", "b", "store", "c"]),
            [p("a", "RO access"), p("c", "OW update")]
        );
        assert_eq!(keys_and_flags(&cmds, &["sort_ro", "a", "by", "x"]), [p("a", "RO access")]);
        assert_eq!(keys_and_flags(&cmds, &["migrate", "h", "p", "k", "0", "5"]), [p("k", "RW access delete")]);
        assert_eq!(
            keys_and_flags(&cmds, &["migrate", "h", "p", "", "0", "5", "auth", "x", "keys", "a"]),
            [p("a", "RW access delete")]
        );
        assert_eq!(keys_and_flags(&cmds, &["bitfield", "k", "get", "u8", "0"]), [p("k", "RO access")]);
        assert_eq!(keys_and_flags(&cmds, &["bitfield", "k", "set", "u8", "0", "1"]), [p("k", "RW access update")]);
    }

    #[test]
    fn every_redis_command_has_parseable_specs() {
        for (name, info) in redis_commands() {
            for s in key_specs(&info) {
                assert!(
                    !matches!(s.begin, BeginSearch::Unknown) || matches!(name.as_str(), "sort" | "sort_ro"),
                    "{name}"
                );
                assert!(!s.flags.is_empty(), "{name}");
            }
        }
    }

    #[test]
    fn c_number_prefixes() {
        assert_eq!(atoi(b"2"), 2);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b" -3x"), -3);
        assert_eq!(strtod_prefix(b"0.5s"), 0.5);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
    }
}
