//! Access control lists, as Redis 7.0: users, their rules, the permission check every command
//! goes through, and the ACL LOG.
//!
//! Layout:
//! - [`catalog`]: every Redis command and subcommand with its ACL categories and ACL id, and
//!   how to find the keys and channels of a call.
//! - [`rules`]: a user's [`Rules`] (flags, password hashes, selectors): ACL SETUSER's words
//!   applied to them, and ACL LIST / GETUSER's descriptions of them.
//! - [`log`]: ACL LOG entries.
//! - `file`: the `aclfile` (ACL LOAD / SAVE) and `user` lines of the configuration file.
//! - `api`: the typed API ([`Database::acl_setuser`](crate::Database::acl_setuser),
//!   [`Database::as_user`](crate::Database::as_user) and its [`UserHandle`]...).
//!
//! A [`User`] is shared by the clients authenticated as it: changes (ACL SETUSER) apply to
//! them at their next command, as in Redis, and deleting the user disconnects them.
//!
//! The check costs nothing for an unrestricted user: every client holds its user, and a user
//! one of whose selectors allows every command, key and channel (the default user as shipped)
//! has a flag that dispatch tests before anything else. A restricted user's client keeps a
//! snapshot of the user's rules, refreshed when the user's version changes, so the check is
//! a bitmap test for the command, then glob matches of its keys (found without allocating
//! for the common key specs) against the user's patterns.
//!
//! ```
//! use ferrous_core::{Database, RespValue};
//! let db = Database::new();
//! db.acl_setuser("alice", &["on", ">secret", "~app:*", "+get", "+set"]).unwrap();
//! let alice = db.as_user("alice").unwrap();
//! assert_eq!(alice.execute(["SET", "app:1", "v"]), RespValue::ok());
//! assert!(matches!(alice.execute(["SET", "other", "v"]), RespValue::Error(_)));
//! ```
mod api;
pub mod catalog;
mod file;
pub mod log;
pub mod rules;

pub use api::UserHandle;
pub use log::{Context, LogEntry, Reason};
pub use rules::{RuleError, Rules};

use crate::client::{ClientInfo, ClientState};
use crate::commands::CommandSpec;
use crate::db::Inner;
use crate::error::Error;
use catalog::{catalog, ChannelArgs, Command, KeyPlan, PERM_READ};
use ferrous_resp::Args;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A user. Clients authenticated as it share it.
pub struct User {
    name: Vec<u8>,
    /// Some selector allows everything: dispatch skips the check.
    open: AtomicBool,
    /// Bumped by every change of the rules (clients refresh their snapshot).
    version: AtomicU64,
    /// Deleted (ACL DELUSER, or replaced by ACL LOAD): its clients are being disconnected.
    removed: AtomicBool,
    rules: RwLock<Arc<Rules>>,
}

impl User {
    fn new(name: &[u8], rules: Rules) -> Arc<User> {
        Arc::new(User {
            name: name.to_vec(),
            open: AtomicBool::new(rules.is_open()),
            version: AtomicU64::new(0),
            removed: AtomicBool::new(false),
            rules: RwLock::new(Arc::new(rules)),
        })
    }

    /// The user's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// A snapshot of the user's rules.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.read().clone()
    }

    /// True when the user may run everything (no check needed).
    #[inline]
    pub fn is_unrestricted(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    fn set_rules(&self, rules: Rules) {
        let open = rules.is_open() && !self.removed.load(Ordering::Relaxed);
        *self.rules.write() = Arc::new(rules);
        self.version.fetch_add(1, Ordering::Release);
        self.open.store(open, Ordering::Release);
    }

    fn remove(&self) {
        self.removed.store(true, Ordering::Relaxed);
        self.open.store(false, Ordering::Release);
        self.version.fetch_add(1, Ordering::Release);
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({})", String::from_utf8_lossy(&self.name))
    }
}

/// The internal clients' user (AOF loading, serving blocked clients, a master's stream):
/// no restriction, as Redis's clients without a user.
pub fn superuser() -> &'static Arc<User> {
    static SUPERUSER: OnceLock<Arc<User>> = OnceLock::new();
    SUPERUSER.get_or_init(|| User::new(b"(superuser)", Rules::default_user()))
}

/// A client's user, with a snapshot of its rules.
#[derive(Clone)]
pub struct ClientAcl {
    user: Arc<User>,
    snapshot: Option<(u64, Arc<Rules>)>,
}

impl Default for ClientAcl {
    fn default() -> Self {
        ClientAcl::new(superuser().clone())
    }
}

impl ClientAcl {
    /// Acting as `user`.
    pub fn new(user: Arc<User>) -> ClientAcl {
        ClientAcl { user, snapshot: None }
    }

    /// The user.
    pub fn user(&self) -> &Arc<User> {
        &self.user
    }

    /// True when the user may run everything: the single test dispatch makes.
    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.user.is_unrestricted()
    }

    /// The user's current rules (refreshed if they changed since the last call).
    fn rules(&mut self) -> &Arc<Rules> {
        let v = self.user.version.load(Ordering::Acquire);
        if self.snapshot.as_ref().is_some_and(|(sv, _)| *sv != v) {
            self.snapshot = None;
        }
        let user = &self.user;
        &self.snapshot.get_or_insert_with(|| (v, user.rules())).1
    }
}

/// The ACL state of a database: its users and its log.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    default: Arc<User>,
    log: Mutex<log::AclLog>,
}

impl Acl {
    /// The default user alone, with `requirepass` as its password if set.
    pub fn new(requirepass: Option<&[u8]>) -> Acl {
        let mut rules = Rules::default_user();
        set_default_password(&mut rules, requirepass);
        let default = User::new(b"default", rules);
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl { users: RwLock::new(users), default, log: Mutex::default() }
    }

    /// The default user.
    pub fn default_user(&self) -> &Arc<User> {
        &self.default
    }

    /// A user by name.
    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// A new connection starts authenticated when the default user is on and needs no
    /// password (Redis's `authRequired`).
    pub fn new_clients_authenticated(&self) -> bool {
        let r = self.default.rules();
        r.nopass && r.enabled
    }

    /// `requirepass` changed: the default user's passwords become exactly it (or `nopass`).
    pub fn set_requirepass(&self, password: Option<&[u8]>) {
        let _guard = self.users.write();
        let mut rules = (*self.default.rules()).clone();
        set_default_password(&mut rules, password);
        self.default.set_rules(rules);
    }

    /// The user `username` if `password` opens it and it is on (Redis's
    /// `ACLCheckUserCredentials`).
    pub fn authenticate(&self, username: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.user(username)?;
        let rules = user.rules();
        (rules.enabled && rules.password_ok(password)).then_some(user)
    }

    /// Adds an ACL LOG entry.
    pub fn log(&self, entry: LogEntry, max_len: usize) {
        self.log.lock().add(entry, max_len);
    }

    /// The newest `n` ACL LOG entries.
    pub fn log_entries(&self, n: usize) -> Vec<LogEntry> {
        self.log.lock().newest(n)
    }

    /// ACL LOG RESET.
    pub fn log_reset(&self) {
        self.log.lock().clear();
    }
}

fn set_default_password(rules: &mut Rules, password: Option<&[u8]>) {
    let _ = rules.apply(b"resetpass", true);
    match password {
        Some(p) => {
            let mut op = b">".to_vec();
            op.extend_from_slice(p);
            let _ = rules.apply(&op, true);
        }
        None => {
            let _ = rules.apply(b"nopass", true);
        }
    }
}

/// `acl-pubsub-default`: new users and selectors get every channel.
pub(crate) fn pubsub_default_all(inner: &Inner) -> bool {
    inner.config.read().get("acl-pubsub-default") == Some("allchannels")
}

fn log_max_len(inner: &Inner) -> usize {
    inner.config.read().get_i64("acllog-max-len").max(0) as usize
}

/// Why ACL SETUSER failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetUserError {
    /// The name has spaces or NULs.
    BadName,
    /// A `(` without its `)`, at this index of the rules.
    UnmatchedParenthesis(usize),
    /// This rule (after merging selectors) was refused.
    Rule(Vec<u8>, RuleError),
}

impl SetUserError {
    /// Redis's error reply (`rules` are the rules as given, for the parenthesis error).
    pub fn to_error<A: AsRef<[u8]>>(&self, rules: &[A]) -> Error {
        match self {
            SetUserError::BadName => Error::msg("ERR Usernames can't contain spaces or null characters"),
            SetUserError::UnmatchedParenthesis(i) => {
                let arg = rules.get(*i).map(|a| String::from_utf8_lossy(a.as_ref()).into_owned()).unwrap_or_default();
                Error::msg(format!("ERR Unmatched parenthesis in acl selector starting at '{arg}'."))
            }
            SetUserError::Rule(op, e) => {
                Error::msg(format!("ERR Error in ACL SETUSER modifier '{}': {e}", String::from_utf8_lossy(op)))
            }
        }
    }
}

impl std::fmt::Display for SetUserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetUserError::BadName => f.write_str("Usernames can't contain spaces or null characters"),
            SetUserError::UnmatchedParenthesis(i) => write!(f, "Unmatched parenthesis in acl selector at rule {i}"),
            SetUserError::Rule(op, e) => {
                write!(f, "Error in ACL SETUSER modifier '{}': {e}", String::from_utf8_lossy(op))
            }
        }
    }
}

impl std::error::Error for SetUserError {}

/// ACL SETUSER: creates or changes `name` with `ops`, all or nothing. Pub/Sub clients of the
/// user that lose a channel they are subscribed to are disconnected (`me` is the caller, if a
/// client). Returns the user.
pub fn setuser<A: AsRef<[u8]>>(
    inner: &Inner,
    name: &[u8],
    ops: &[A],
    me: Option<&mut ClientState>,
) -> Result<Arc<User>, SetUserError> {
    if rules::has_spaces(name) {
        return Err(SetUserError::BadName);
    }
    let merged = rules::merge_selector_args(ops).map_err(SetUserError::UnmatchedParenthesis)?;
    let all_channels = pubsub_default_all(inner);
    let mut users = inner.acl.users.write();
    let existing = users.get(name).cloned();
    let mut next = existing.as_ref().map_or_else(|| Rules::new(all_channels), |u| (*u.rules()).clone());
    for op in &merged {
        next.apply(op, all_channels).map_err(|e| SetUserError::Rule(op.clone(), e))?;
    }
    let user = match existing {
        Some(u) => {
            kill_pubsub_clients_if_needed(inner, &u, &u.rules(), &next, me);
            u.set_rules(next);
            u
        }
        None => {
            let u = User::new(name, next);
            users.insert(name.to_vec(), u.clone());
            u
        }
    };
    Ok(user)
}

/// ACL DELUSER: removes the users (never `default`) and disconnects their clients. Returns
/// how many existed.
pub fn deluser<A: AsRef<[u8]>>(inner: &Inner, names: &[A], mut me: Option<&mut ClientState>) -> Result<usize, Error> {
    if names.iter().any(|n| n.as_ref() == b"default") {
        return Err(Error::msg("ERR The 'default' user cannot be removed"));
    }
    let mut removed = Vec::new();
    {
        let mut users = inner.acl.users.write();
        for n in names {
            if let Some(u) = users.remove(n.as_ref()) {
                removed.push(u);
            }
        }
    }
    for u in &removed {
        u.remove();
        kill_clients_of(inner, u, me.as_deref_mut());
    }
    Ok(removed.len())
}

/// Disconnects every client authenticated as `user` (the caller after its reply).
fn kill_clients_of(inner: &Inner, user: &Arc<User>, me: Option<&mut ClientState>) {
    let my_id = me.as_ref().map(|c| c.id());
    for c in inner.clients.all() {
        if !Arc::ptr_eq(&c.user.lock(), user) {
            continue;
        }
        if Some(c.id) == my_id {
            continue;
        }
        c.kill();
    }
    if let Some(me) = me {
        if Arc::ptr_eq(me.acl.user(), user) {
            me.close_after_reply = true;
            me.authenticated = false;
        }
    }
}

/// Redis's `ACLKillPubsubClientsIfNeeded`: after a change of `user`'s channels, its
/// subscribers to a channel or pattern it may no longer use are disconnected.
fn kill_pubsub_clients_if_needed(
    inner: &Inner,
    user: &Arc<User>,
    old: &Rules,
    new: &Rules,
    me: Option<&mut ClientState>,
) {
    if new.selectors.iter().any(|s| s.all_channels) {
        return;
    }
    let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| s.channels.iter()).collect();
    if old.selectors.iter().flat_map(|s| s.channels.iter()).all(|c| upcoming.contains(&c)) {
        return;
    }
    let allowed = |name: &[u8], literal: bool| {
        upcoming.iter().any(|p| if literal { p.as_slice() == name } else { crate::glob::glob_match(p, name, false) })
    };
    let my_id = me.as_ref().map(|c| c.id());
    let mut kill_me = false;
    for c in inner.clients.all() {
        if !Arc::ptr_eq(&c.user.lock(), user) || !c.is_pubsub() {
            continue;
        }
        let [channels, patterns, shard] = inner.pubsub.subscriptions_of(c.id);
        let violates = patterns.iter().any(|p| !allowed(p, true))
            || channels.iter().chain(shard.iter()).any(|ch| !allowed(ch, false));
        if violates {
            if Some(c.id) == my_id {
                kill_me = true;
            } else {
                c.kill();
            }
        }
    }
    if let (true, Some(me)) = (kill_me, me) {
        me.close_after_reply = true;
    }
}

/// Replaces every user (ACL LOAD): the default user keeps its identity (its clients stay),
/// the others' clients are disconnected.
fn replace_users(inner: &Inner, mut new: BTreeMap<Vec<u8>, Rules>, me: Option<&mut ClientState>) {
    let default_rules = new.remove(b"default".as_slice()).unwrap_or_else(Rules::default_user);
    let old = {
        let mut users = inner.acl.users.write();
        inner.acl.default.set_rules(default_rules);
        let mut next = BTreeMap::new();
        next.insert(b"default".to_vec(), inner.acl.default.clone());
        for (name, rules) in new {
            next.insert(name.clone(), User::new(&name, rules));
        }
        std::mem::replace(&mut *users, next)
    };
    let mut me = me;
    for (name, u) in old {
        if name != b"default" {
            u.remove();
            kill_clients_of(inner, &u, me.as_deref_mut());
        }
    }
}

pub use file::{load_file, load_startup, parse_config_user, save_file, users_text, ConfigUser};

// ---------------------------------------------------------------------------------------
// The permission check

/// A denial: the reason and the argument at fault (key or channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// Command, key or channel.
    pub reason: Reason,
    /// Position of the key or channel in the arguments (0 for a command).
    pub pos: usize,
}

#[inline]
fn check_selector(sel: &rules::Selector, cmd: &Command, id: usize, args: &Args<'_>, pos: &mut usize) -> Option<Reason> {
    if !sel.all_commands && !cmd.no_auth && !sel.commands.get(id) {
        let arg_pos = if cmd.parent.is_some() { 2 } else { 1 };
        let first_arg_ok = args.len() >= 2
            && args.len() > arg_pos
            && sel.first_args_of(id).is_some_and(|fa| fa.iter().any(|a| a.eq_ignore_ascii_case(args.at(arg_pos))));
        if !first_arg_ok {
            return Some(Reason::Command);
        }
    }
    if !sel.all_keys && !matches!(cmd.keys, KeyPlan::None) {
        let mut denied = None;
        catalog::for_each_key(cmd, args, |p, perm| {
            let key = args.at(p);
            let ok = sel.patterns.iter().any(|pat| pat.perm & perm == perm && pat.matches(key));
            if !ok {
                denied = Some(p);
            }
            ok
        });
        if let Some(p) = denied {
            *pos = p;
            return Some(Reason::Key);
        }
    }
    if !sel.all_channels && cmd.channels != ChannelArgs::None {
        let (first, last, literal) = match cmd.channels {
            ChannelArgs::First => (1, 2.min(args.len()), false),
            ChannelArgs::All => (1, args.len(), false),
            _ => (1, args.len(), true),
        };
        for p in first..last {
            let ch = args.at(p);
            let ok = sel.channels.iter().any(|pat| {
                if literal {
                    pat.as_slice() == ch
                } else {
                    crate::glob::glob_match(pat, ch, false)
                }
            });
            if !ok {
                *pos = p;
                return Some(Reason::Channel);
            }
        }
    }
    None
}

/// Redis's `ACLUserCheckCmdWithUnrestrictedKeyAccess`, which SORT asks before accepting
/// `BY` and `GET` patterns (they read keys the key specs do not name): true when some
/// selector of `client`'s user (a script's caller inside a script) allows this call and may
/// read every key (`allkeys`/`~*`, or a `*` pattern with read permission such as `%R~*`).
/// The master client and unrestricted users always may.
pub fn may_read_all_keys(client: &ClientState, spec: &'static CommandSpec, args: &Args<'_>) -> bool {
    if client.acl.unrestricted() || client.info.role.load(Ordering::Relaxed) == crate::client::ROLE_MASTER {
        return true;
    }
    let cat = catalog();
    let Some(id) = cat.id_of(spec) else { return true };
    let rules = client.acl.user().rules();
    let cmd = &cat.commands[id];
    rules.selectors.iter().any(|s| {
        let reads_all = s.all_keys || s.patterns.iter().any(|p| p.perm & PERM_READ == PERM_READ && p.pattern == b"*");
        reads_all && check_selector(s, cmd, id, args, &mut 0).is_none()
    })
}

/// Redis's `ACLCheckAllUserCommandPerm`: `Ok` if some selector of `rules` allows the call
/// (command `id` of the catalog), else the most relevant denial.
pub fn check_rules(rules: &Rules, id: usize, args: &Args<'_>) -> Result<(), Denied> {
    check_command(rules, &catalog().commands[id], id, args)
}

#[inline]
fn check_command(rules: &Rules, cmd: &Command, id: usize, args: &Args<'_>) -> Result<(), Denied> {
    let mut relevant = Reason::Command;
    let (mut pos, mut last) = (0, 0);
    for s in &rules.selectors {
        match check_selector(s, cmd, id, args, &mut pos) {
            None => return Ok(()),
            Some(r) => {
                if r > relevant || (r == relevant && pos > last) {
                    relevant = r;
                    last = pos;
                }
            }
        }
    }
    Err(Denied { reason: relevant, pos: last })
}

thread_local! {
    /// The client that runs the script executing on this thread.
    static SCRIPT_CALLER: std::cell::RefCell<Option<ScriptCaller>> = const { std::cell::RefCell::new(None) };
}

#[derive(Clone)]
struct ScriptCaller {
    acl: ClientAcl,
    info: Arc<ClientInfo>,
    command: &'static str,
}

/// Marks a script command running for `client`; dropping it restores the previous state.
pub struct ScriptScope {
    previous: Option<ScriptCaller>,
}

impl ScriptScope {
    /// Scripts started by `client`'s `spec` (EVAL, FCALL...) run as its user.
    pub fn enter(client: &ClientState, spec: &'static CommandSpec) -> ScriptScope {
        let caller = ScriptCaller { acl: client.acl.clone(), info: client.info.clone(), command: spec.name.as_str() };
        ScriptScope { previous: SCRIPT_CALLER.with(|c| c.replace(Some(caller))) }
    }
}

impl Drop for ScriptScope {
    fn drop(&mut self) {
        let prev = self.previous.take();
        SCRIPT_CALLER.with(|c| *c.borrow_mut() = prev);
    }
}

/// The user a script's commands run as: its caller's (the superuser outside scripts).
pub fn script_acl() -> ClientAcl {
    SCRIPT_CALLER.with(|c| c.borrow().as_ref().map(|s| s.acl.clone())).unwrap_or_default()
}

/// `redis.acl_check_cmd(...)`: whether the user the running script acts as may run `args`
/// (a known command, checked as Redis's `ACLCheckAllUserCommandPerm`, arity aside).
pub fn script_may_run(args: &Args<'_>) -> bool {
    let acl = script_acl();
    if acl.unrestricted() {
        return true;
    }
    let argv: Vec<&[u8]> = args.iter().collect();
    let Some(id) = catalog().lookup_argv(&argv) else { return false };
    check_rules(&acl.user().rules(), id, args).is_ok()
}

fn in_script() -> bool {
    SCRIPT_CALLER.with(|c| c.borrow().is_some())
}

/// The permission check of a command whose client's user is restricted (dispatch calls it
/// only when [`ClientAcl::unrestricted`] is false). `held`: run by EXEC or a script. Logs
/// and returns the error reply of a denial.
#[cold]
#[inline(never)]
pub(crate) fn check(
    inner: &Inner,
    client: &mut ClientState,
    spec: &'static CommandSpec,
    args: &Args<'_>,
    held: bool,
) -> Option<Error> {
    if client.info.role.load(Ordering::Relaxed) == crate::client::ROLE_MASTER {
        return None;
    }
    if client.acl.user().removed.load(Ordering::Relaxed) {
        return Some(Error::NoAuth);
    }
    let cat = catalog();
    let id = cat.id_of(spec)?;
    let denied = match check_command(client.acl.rules(), &cat.commands[id], id, args) {
        Ok(()) => return None,
        Err(d) => d,
    };
    if !held {
        // Redis's `lastcmd` (CLIENT LIST's `cmd=`) is the refused command.
        client.info.set_last_command(spec);
    }
    let script = held && in_script();
    let context = if script {
        Context::Lua
    } else if held || client.tx.in_multi() || client.tx.in_exec {
        Context::Multi
    } else {
        Context::Toplevel
    };
    let object = match denied.reason {
        Reason::Command => spec.name.as_bytes().to_vec(),
        _ => args.get(denied.pos).unwrap_or_default().to_vec(),
    };
    let now = inner.clock.now_ms();
    let client_info = if script {
        SCRIPT_CALLER.with(|c| c.borrow().as_ref().map(|s| s.info.describe(now, Some(s.command)))).unwrap_or_default()
    } else {
        describe_client(client, now, spec)
    };
    let entry = LogEntry {
        count: 1,
        reason: denied.reason,
        context,
        object,
        username: client.acl.user().name().to_vec(),
        time_ms: now,
        client_info,
    };
    inner.acl.log(entry, log_max_len(inner));
    Some(Error::msg(if script {
        match denied.reason {
            Reason::Command => "ERR The user executing the script can't run this command or subcommand".to_string(),
            Reason::Key => "ERR The user executing the script can't access at least one of the keys mentioned in the \
                            command arguments"
                .to_string(),
            _ => "ERR The user executing the script can't publish to the channel mentioned in the command".to_string(),
        }
    } else if held {
        let why = match denied.reason {
            Reason::Command => "no permission to execute the command or subcommand",
            Reason::Key => "no permission to touch the specified keys",
            _ => "no permission to access one of the channels used as arguments",
        };
        format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This \
             command is no longer allowed for the following reason: {why}"
        )
    } else {
        denial_text(denied.reason, &spec.name)
    }))
}

/// The CLIENT LIST line of a client whose command is denied, as Redis shows it: inside EXEC,
/// still in its transaction (`flags=x`, `multi=` the queued count) and running `exec`.
fn describe_client(client: &ClientState, now: i64, spec: &CommandSpec) -> String {
    if client.tx.in_exec {
        // The mirrors still describe the transaction as queued (EXEC's own command has not
        // ended): not refreshed here.
        return client.info.describe(now, Some("exec"));
    }
    client.sync_info();
    client.info.describe(now, Some(spec.name.as_str()))
}

/// The NOPERM error of a denied command.
pub fn denial_text(reason: Reason, command: &str) -> String {
    match reason {
        Reason::Command => format!("NOPERM this user has no permissions to run the '{command}' command"),
        Reason::Key => "NOPERM this user has no permissions to access one of the keys used as arguments".to_string(),
        _ => "NOPERM this user has no permissions to access one of the channels used as arguments".to_string(),
    }
}

/// Logs a failed AUTH / HELLO AUTH of `client` as `username`.
pub(crate) fn log_auth_failure(
    inner: &Inner,
    client: &mut ClientState,
    command: &[u8],
    username: &[u8],
    spec: &CommandSpec,
) {
    let now = inner.clock.now_ms();
    let context = if client.tx.in_multi() || client.tx.in_exec { Context::Multi } else { Context::Toplevel };
    let entry = LogEntry {
        count: 1,
        reason: Reason::Auth,
        context,
        object: command.to_vec(),
        username: username.to_vec(),
        time_ms: now,
        client_info: describe_client(client, now, spec),
    };
    inner.acl.log(entry, log_max_len(inner));
}
