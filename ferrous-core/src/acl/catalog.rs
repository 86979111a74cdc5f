//! The ACL view of the command table: every Redis 7.0 command and subcommand (implemented or
//! not, as ACL rules and `ACL CAT` name them all), its ACL categories, and how to find the
//! keys a call touches.
//!
//! Each entry has an ACL id, the bit it owns in a selector's command bitmap. The ids of the
//! commands Ferrous implements are reached from their [`CommandSpec::id`] through one array
//! lookup, so the permission check of a restricted user costs a bitmap test.
use crate::commands::CommandSpec;
use ferrous_resp::{Args, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Redis's ACL categories, in the order of its `ACLCommandCategories` table: `ACL CAT`
/// lists them in this order and rule descriptions try them in this order.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category in [`Command::categories`], by name (case-insensitive).
pub fn category_bit(name: &[u8]) -> Option<u32> {
    CATEGORIES.iter().position(|c| c.as_bytes().eq_ignore_ascii_case(name)).map(|i| 1 << i)
}

/// Key permissions a key argument needs, or a key pattern grants (Redis's
/// `ACL_READ_PERMISSION` / `ACL_WRITE_PERMISSION`).
pub const PERM_READ: u8 = 1;
/// See [`PERM_READ`].
pub const PERM_WRITE: u8 = 2;
/// Both.
pub const PERM_ALL: u8 = PERM_READ | PERM_WRITE;

/// One command or subcommand.
pub struct Command {
    /// Full lower-case name (`get`, `config|get`).
    pub name: String,
    /// Category bits (see [`CATEGORIES`]).
    pub categories: u32,
    /// The container of a subcommand.
    pub parent: Option<usize>,
    /// Subcommands, by name.
    pub subs: Vec<usize>,
    /// Flagged `no_auth` (AUTH, HELLO): every user may run it.
    pub no_auth: bool,
    /// Redis arity (negative: minimum).
    pub arity: i64,
    /// The implementation, if Ferrous has one.
    pub spec: Option<&'static CommandSpec>,
    /// How its keys are found.
    pub(crate) keys: KeyPlan,
    /// Which arguments are Pub/Sub channels.
    pub(crate) channels: ChannelArgs,
}

/// How to find the keys of a call (Redis's `getKeysFromCommandWithSpecs`).
pub(crate) enum KeyPlan {
    /// No key arguments at all (`doesCommandHaveKeys` is false).
    None,
    /// Begin-search index and range key specs only: computed here without allocating.
    Ranges(Vec<RangeSpec>),
    /// SET: the key is written, and read too with the GET option (`setGetKeys`).
    Set,
    /// Anything else: the general key finder of COMMAND GETKEYS.
    General,
}

/// An `index` + `range` key spec.
pub(crate) struct RangeSpec {
    index: i64,
    lastkey: i64,
    keystep: i64,
    limit: i64,
    perm: u8,
}

/// Channel arguments (Redis's `ACLDoesCommandHaveChannels`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelArgs {
    /// None.
    None,
    /// PUBLISH, SPUBLISH: argument 1, matched against the patterns.
    First,
    /// SUBSCRIBE, SSUBSCRIBE: every argument, matched against the patterns.
    All,
    /// PSUBSCRIBE: every argument, which must equal one of the patterns literally.
    AllLiteral,
}

/// The whole catalog.
pub struct Catalog {
    /// Every command and subcommand, by ACL id.
    pub commands: Vec<Command>,
    /// Top-level commands, sorted by name.
    pub top: Vec<usize>,
    by_name: HashMap<String, usize>,
    /// ACL id of each implemented spec, by [`CommandSpec::id`].
    by_spec: Vec<u32>,
}

/// Number of 64-bit words of a command bitmap.
pub const WORDS: usize = 8;

static CATALOG: OnceLock<Catalog> = OnceLock::new();

/// The process-wide catalog.
pub fn catalog() -> &'static Catalog {
    CATALOG.get_or_init(Catalog::build)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Simple(s) => Some(s.clone()),
        other => other.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()),
    }
}

fn field<'v>(map: &'v Value, name: &str) -> Option<&'v Value> {
    match map {
        Value::Map(pairs) => pairs.iter().find(|(k, _)| text(k).as_deref() == Some(name)).map(|(_, v)| v),
        Value::Array(items) => {
            items.chunks(2).find(|kv| text(&kv[0]).as_deref() == Some(name)).and_then(|kv| kv.get(1))
        }
        _ => None,
    }
}

fn int_field(map: &Value, name: &str) -> i64 {
    field(map, name).and_then(Value::as_int).unwrap_or(0)
}

fn list(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(items) | Value::Set(items)) => items,
        _ => &[],
    }
}

/// Builds the key plan of a command from its COMMAND INFO entry.
fn key_plan(name: &str, info: &[Value]) -> KeyPlan {
    let specs = list(info.get(8));
    let mut ranges = Vec::new();
    let mut general = false;
    let mut any_key = false;
    for s in specs {
        let flags: Vec<String> = list(field(s, "flags")).iter().filter_map(text).collect();
        let has = |f: &str| flags.iter().any(|x| x == f);
        if has("not_key") {
            continue;
        }
        any_key = true;
        if has("variable_flags") || has("incomplete") {
            general = true;
            continue;
        }
        let perm = key_perm(&flags);
        let (Some(bs), Some(fk)) = (field(s, "begin_search"), field(s, "find_keys")) else {
            general = true;
            continue;
        };
        match (field(bs, "type").and_then(text).as_deref(), field(fk, "type").and_then(text).as_deref()) {
            (Some("index"), Some("range")) => {
                let (Some(b), Some(f)) = (field(bs, "spec"), field(fk, "spec")) else {
                    general = true;
                    continue;
                };
                ranges.push(RangeSpec {
                    index: int_field(b, "index"),
                    lastkey: int_field(f, "lastkey"),
                    keystep: int_field(f, "keystep").max(1),
                    limit: int_field(f, "limit"),
                    perm,
                });
            }
            _ => general = true,
        }
    }
    if name == "set" {
        return KeyPlan::Set;
    }
    if general || (!any_key && matches!(name, "sort" | "sort_ro" | "migrate" | "bitfield")) {
        return KeyPlan::General;
    }
    if ranges.is_empty() {
        KeyPlan::None
    } else {
        KeyPlan::Ranges(ranges)
    }
}

/// The permission a key spec's flags ask for (Redis's `ACLSelectorCheckKey`): reading for
/// `access`, writing for `insert`, `delete` and `update`. A key that is neither (EXISTS's)
/// needs no particular permission: any pattern that matches it grants it.
pub(crate) fn key_perm<S: AsRef<str>>(flags: &[S]) -> u8 {
    let mut perm = 0;
    for f in flags {
        match f.as_ref() {
            "access" => perm |= PERM_READ,
            "insert" | "delete" | "update" => perm |= PERM_WRITE,
            _ => {}
        }
    }
    perm
}

fn categories_of(info: &[Value]) -> u32 {
    list(info.get(6))
        .iter()
        .filter_map(text)
        .filter_map(|c| category_bit(c.trim_start_matches('@').as_bytes()))
        .fold(0, |a, b| a | b)
}

fn is_no_auth(info: &[Value]) -> bool {
    list(info.get(2)).iter().filter_map(text).any(|f| f == "no_auth")
}

impl Catalog {
    fn build() -> Catalog {
        let table = crate::commands::table();
        let Value::Array(entries) = crate::commands::all_command_info() else {
            return Catalog { commands: Vec::new(), top: Vec::new(), by_name: HashMap::new(), by_spec: Vec::new() };
        };
        let mut commands: Vec<Command> = Vec::new();
        let add = |commands: &mut Vec<Command>,
                   info: &[Value],
                   parent: Option<usize>,
                   spec: Option<&'static CommandSpec>|
         -> usize {
            let name = info.first().and_then(text).unwrap_or_default().to_ascii_lowercase();
            let channels = match name.as_str() {
                "publish" | "spublish" => ChannelArgs::First,
                "subscribe" | "ssubscribe" => ChannelArgs::All,
                "psubscribe" => ChannelArgs::AllLiteral,
                _ => ChannelArgs::None,
            };
            commands.push(Command {
                keys: key_plan(&name, info),
                name,
                categories: categories_of(info),
                parent,
                subs: Vec::new(),
                no_auth: is_no_auth(info),
                arity: info.get(1).and_then(Value::as_int).unwrap_or(0),
                spec,
                channels,
            });
            commands.len() - 1
        };
        let mut top = Vec::new();
        for entry in &entries {
            let Value::Array(info) = entry else { continue };
            let name = info.first().and_then(text).unwrap_or_default();
            let spec = table.get(name.as_bytes());
            let id = add(&mut commands, info, None, spec);
            top.push(id);
            for sub in list(info.get(9)) {
                let Value::Array(sub_info) = sub else { continue };
                let full = sub_info.first().and_then(text).unwrap_or_default().to_ascii_lowercase();
                let short = full.split('|').nth(1).unwrap_or_default().as_bytes().to_vec();
                let sub_spec = spec.and_then(|s| s.subcommands.get(&short).copied());
                let sid = add(&mut commands, sub_info, Some(id), sub_spec);
                commands[id].subs.push(sid);
            }
        }
        assert!(commands.len() < WORDS * 64, "the ACL command bitmap is too small");
        let by_name: HashMap<String, usize> = commands.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        top.sort_by(|a, b| commands[*a].name.cmp(&commands[*b].name));
        let mut sorted_subs = Vec::new();
        for c in &commands {
            let mut subs = c.subs.clone();
            subs.sort_by(|a, b| commands[*a].name.cmp(&commands[*b].name));
            sorted_subs.push(subs);
        }
        for (c, subs) in commands.iter_mut().zip(sorted_subs) {
            c.subs = subs;
        }
        let max_spec = commands.iter().filter_map(|c| c.spec.map(|s| s.id)).max().unwrap_or(0);
        let mut by_spec = vec![u32::MAX; max_spec + 1];
        for (i, c) in commands.iter().enumerate() {
            if let Some(s) = c.spec {
                by_spec[s.id] = i as u32;
            }
        }
        Catalog { commands, top, by_name, by_spec }
    }

    /// The ACL id of an implemented command.
    #[inline]
    pub fn id_of(&self, spec: &CommandSpec) -> Option<usize> {
        match self.by_spec.get(spec.id) {
            Some(&i) if i != u32::MAX => Some(i as usize),
            _ => None,
        }
    }

    /// Redis's `lookupCommandBySdsLogic` on the ACL table: `name` or `container|sub`
    /// (case-insensitive); a `|` after a command without subcommands finds nothing.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        let mut parts = lower.split('|');
        let base = parts.next().unwrap_or_default();
        match (parts.next(), parts.next()) {
            (None, _) => self.by_name.get(base).copied().filter(|&i| self.commands[i].parent.is_none()),
            (Some(sub), None) => {
                let b = *self.by_name.get(base)?;
                if self.commands[b].parent.is_some() || self.commands[b].subs.is_empty() {
                    return None;
                }
                self.by_name.get(&format!("{base}|{sub}")).copied()
            }
            _ => None,
        }
    }

    /// Redis's `lookupCommand` on an argv (a container takes its subcommand from the second
    /// argument; alone, it is found itself).
    pub fn lookup_argv(&self, args: &[&[u8]]) -> Option<usize> {
        let base = self.lookup(args.first()?)?;
        if self.commands[base].subs.is_empty() || args.len() < 2 {
            return Some(base);
        }
        let sub = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
        self.by_name.get(&format!("{}|{sub}", self.commands[base].name)).copied()
    }

    /// Commands in a category, top-level ones with their subcommands after each.
    pub fn in_category(&self, bit: u32) -> Vec<usize> {
        let mut out = Vec::new();
        for &t in &self.top {
            if self.commands[t].categories & bit != 0 {
                out.push(t);
            }
            out.extend(self.commands[t].subs.iter().copied().filter(|&s| self.commands[s].categories & bit != 0));
        }
        out
    }
}

/// Calls `f(position, permission)` for each key argument of a call (Redis's
/// `getKeysFromCommandWithSpecs`); stops at the first `false`.
#[inline]
pub(crate) fn for_each_key(cmd: &Command, args: &Args<'_>, mut f: impl FnMut(usize, u8) -> bool) {
    match &cmd.keys {
        KeyPlan::None => {}
        KeyPlan::Set => {
            if args.len() > 1 {
                let get = (3..args.len()).any(|i| args.at(i).eq_ignore_ascii_case(b"get"));
                f(1, if get { PERM_ALL } else { PERM_WRITE });
            }
        }
        KeyPlan::Ranges(ranges) => {
            let argc = args.len() as i64;
            let arity = cmd.spec.map_or(-1, |s| s.arity);
            for r in ranges {
                let first = r.index;
                let last = if r.lastkey >= 0 {
                    first + r.lastkey
                } else if r.limit == 0 {
                    argc + r.lastkey
                } else {
                    first + ((argc - first) / r.limit + r.lastkey)
                };
                if last >= argc || last < first || first < 1 {
                    // Only a variadic command can get here (arity was checked).
                    if arity < 0 {
                        continue;
                    }
                    return;
                }
                let mut i = first;
                while i <= last {
                    if !f(i as usize, r.perm) {
                        return;
                    }
                    i += r.keystep;
                }
            }
        }
        KeyPlan::General => {
            let Some(spec) = cmd.spec else { return };
            let argv: Vec<&[u8]> = args.iter().collect();
            for k in crate::commands::server::command_keys(spec, &argv) {
                if !f(k.pos, key_perm(&k.flags)) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_redis_command_is_known() {
        let c = catalog();
        assert_eq!(c.top.len(), 240);
        let get = c.lookup(b"GET").unwrap();
        assert_eq!(c.commands[get].name, "get");
        assert!(c.commands[get].categories & category_bit(b"read").unwrap() != 0);
        assert!(c.lookup(b"config|get").is_some());
        assert!(c.lookup(b"get|x").is_none());
        assert!(c.lookup(b"config|get|x").is_none());
        assert!(c.commands[c.lookup(b"auth").unwrap()].no_auth);
        let spec = crate::commands::table().get(b"get").unwrap();
        assert_eq!(c.id_of(spec), Some(get));
    }

    #[test]
    fn keys_of_common_commands() {
        let c = catalog();
        let keys = |argv: &[&str]| {
            let buf: ferrous_resp::ArgsBuf = argv.iter().collect();
            let id = c.lookup_argv(&argv.iter().map(|a| a.as_bytes()).collect::<Vec<_>>()).unwrap();
            let mut out = Vec::new();
            for_each_key(&c.commands[id], &buf.as_args(), |p, perm| {
                out.push((p, perm));
                true
            });
            out
        };
        assert_eq!(keys(&["get", "k"]), vec![(1, PERM_READ)]);
        assert_eq!(keys(&["set", "k", "v"]), vec![(1, PERM_WRITE)]);
        assert_eq!(keys(&["set", "k", "v", "GET"]), vec![(1, PERM_ALL)]);
        assert_eq!(keys(&["mset", "a", "1", "b", "2"]), vec![(1, PERM_WRITE), (3, PERM_WRITE)]);
        assert_eq!(keys(&["exists", "a", "b"]), vec![(1, 0), (2, 0)]);
        assert_eq!(keys(&["ping"]), vec![]);
        assert_eq!(keys(&["lmove", "a", "b", "left", "right"]), vec![(1, PERM_ALL), (2, PERM_WRITE)]);
    }
}
