//! A user's rules: flags, password hashes and selectors, how ACL SETUSER's words change them
//! (Redis's `ACLSetUser` / `ACLSetSelector`) and how ACL LIST / GETUSER describe them back
//! (`ACLDescribeUser`, including the best-fit choice of categories that Redis 7.0 makes).
use super::catalog::{catalog, category_bit, Catalog, CATEGORIES, PERM_ALL, PERM_READ, PERM_WRITE, WORDS};
use sha2::{Digest, Sha256};
use std::fmt;

/// Why a rule was refused; `Display` is Redis's text (`ACLSetUserStringError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    /// Unknown command or category (`ENOENT`).
    UnknownCommand,
    /// Not a rule, or a pattern with spaces (`EINVAL`).
    Syntax,
    /// A key pattern after `allkeys` (`EEXIST`).
    AfterAllKeys,
    /// A channel pattern after `allchannels` (`EISDIR`).
    AfterAllChannels,
    /// Removing a password the user does not have (`ENODEV`).
    NoSuchPassword,
    /// A `#hash` / `!hash` that is not 64 lower-case hex digits (`EBADMSG`).
    BadHash,
    /// A first argument of a subcommand (`ECHILD`).
    FirstArgOfSubcommand,
    /// The same user twice in a configuration file (`EALREADY`).
    Duplicate,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::AfterAllKeys => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any \
                 effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::AfterAllChannels => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have \
                 any effect. Try 'resetchannels' to start with an empty list of channels"
            }
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
            RuleError::Duplicate => "Duplicate user found. A user can only be defined once in config files",
        })
    }
}

/// A command bitmap, one bit per [`Catalog`] id.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Bits([u64; WORDS]);

impl Bits {
    #[inline]
    pub(crate) fn get(&self, id: usize) -> bool {
        self.0[id / 64] & (1 << (id % 64)) != 0
    }
    fn set(&mut self, id: usize, on: bool) {
        if on {
            self.0[id / 64] |= 1 << (id % 64);
        } else {
            self.0[id / 64] &= !(1 << (id % 64));
        }
    }
}

/// A key pattern with the permissions it grants (`~`, `%R~`, `%W~`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyPattern {
    /// [`PERM_READ`] / [`PERM_WRITE`] bits.
    pub perm: u8,
    /// Glob pattern.
    pub pattern: Vec<u8>,
    /// How to match it: the common shapes skip the general matcher.
    shape: Shape,
}

/// The shape of a glob pattern.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// No special character: equality.
    Exact,
    /// A literal prefix then a single trailing `*` (`app:*`, `*`).
    Prefix,
    /// Anything else: [`crate::glob::glob_match`].
    Glob,
}

impl KeyPattern {
    pub(crate) fn new(perm: u8, pattern: &[u8]) -> KeyPattern {
        let special = |c: &u8| matches!(c, b'*' | b'?' | b'[' | b'\\');
        let shape = match pattern.iter().position(special) {
            None => Shape::Exact,
            Some(i) if i == pattern.len() - 1 && pattern[i] == b'*' => Shape::Prefix,
            Some(_) => Shape::Glob,
        };
        KeyPattern { perm, pattern: pattern.to_vec(), shape }
    }

    /// True if the pattern matches `key` (Redis's `stringmatchlen`).
    #[inline]
    pub fn matches(&self, key: &[u8]) -> bool {
        match self.shape {
            Shape::Exact => self.pattern == key,
            Shape::Prefix => key.starts_with(&self.pattern[..self.pattern.len() - 1]),
            Shape::Glob => crate::glob::glob_match(&self.pattern, key, false),
        }
    }
}

/// A set of permissions: commands, keys and channels. A user's first selector is its root
/// (the rules given outside parentheses); the others are `(...)` selectors.
#[derive(Clone)]
pub struct Selector {
    pub(crate) root: bool,
    pub(crate) all_keys: bool,
    pub(crate) all_channels: bool,
    /// Every command allowed (`+@all` and nothing removed since).
    pub(crate) all_commands: bool,
    /// `+@all` was the last `@all` rule: Redis's reserved bit, which decides whether the
    /// description starts with `+@all` or `-@all`.
    pub(crate) future: bool,
    pub(crate) commands: Bits,
    /// Allowed first arguments of otherwise forbidden commands (`+select|0`), by command id,
    /// in the order given.
    pub(crate) first_args: Vec<(usize, Vec<Vec<u8>>)>,
    pub(crate) patterns: Vec<KeyPattern>,
    pub(crate) channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector: nothing allowed (channels as `acl-pubsub-default` says).
    pub(crate) fn new(root: bool, all_channels: bool) -> Selector {
        Selector {
            root,
            all_keys: false,
            all_channels,
            all_commands: false,
            future: false,
            commands: Bits::default(),
            first_args: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// Grants everything (commands, keys, channels), as a single selector can.
    pub(crate) fn is_open(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        self.commands.set(id, on);
        if !on {
            self.all_commands = false;
        }
    }

    fn reset_first_args(&mut self, id: usize) {
        self.first_args.retain(|(i, _)| *i != id);
    }

    /// Redis's `ACLChangeSelectorPerm`: a container takes its subcommands along.
    fn change_perm(&mut self, cat: &Catalog, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.reset_first_args(id);
        for &s in &cat.commands[id].subs {
            self.set_bit(s, allow);
        }
    }

    fn change_category(&mut self, cat: &Catalog, bit: u32, allow: bool) {
        for &t in &cat.top {
            if cat.commands[t].categories & bit != 0 {
                self.change_perm(cat, t, allow);
            }
            for &s in &cat.commands[t].subs {
                if cat.commands[s].categories & bit != 0 {
                    self.change_perm(cat, s, allow);
                }
            }
        }
    }

    fn set_all(&mut self, on: bool) {
        self.commands = if on { Bits([u64::MAX; WORDS]) } else { Bits::default() };
        self.all_commands = on;
        self.future = on;
        self.first_args.clear();
    }

    /// The first arguments allowed for a command.
    pub(crate) fn first_args_of(&self, id: usize) -> Option<&[Vec<u8>]> {
        self.first_args.iter().find(|(i, _)| *i == id).map(|(_, a)| a.as_slice())
    }

    /// Applies one selector rule (Redis's `ACLSetSelector`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let cat = catalog();
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        if is("allkeys") || is("~*") {
            self.all_keys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::AfterAllKeys);
            }
            let mut perm = 0;
            let mut offset = 1;
            if op[0] == b'%' {
                while offset < op.len() {
                    let c = op[offset].to_ascii_uppercase();
                    if c == b'R' && perm & PERM_READ == 0 {
                        perm |= PERM_READ;
                    } else if c == b'W' && perm & PERM_WRITE == 0 {
                        perm |= PERM_WRITE;
                    } else if op[offset] == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(RuleError::Syntax);
                    }
                    offset += 1;
                }
                if perm == 0 {
                    return Err(RuleError::Syntax);
                }
            } else {
                perm = PERM_ALL;
            }
            let pattern = &op[offset.min(op.len())..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
                Some(p) => p.perm |= perm,
                None => self.patterns.push(KeyPattern::new(perm, pattern)),
            }
            self.all_keys = false;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::AfterAllChannels);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&c| c == b'|') {
                None => {
                    let id = cat.lookup(name).ok_or(RuleError::UnknownCommand)?;
                    self.change_perm(cat, id, true);
                }
                Some(bar) => {
                    let (base, sub) = (&name[..bar], &name[bar + 1..]);
                    let id = cat.lookup(base).ok_or(RuleError::UnknownCommand)?;
                    if cat.commands[id].parent.is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !cat.commands[id].subs.is_empty() {
                        let sid = cat.lookup(name).ok_or(RuleError::UnknownCommand)?;
                        self.change_perm(cat, sid, true);
                    } else {
                        // Deprecated in Redis (it logs a warning) but still honoured.
                        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
                            Some((_, args)) => {
                                if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                                    args.push(sub.to_vec());
                                }
                            }
                            None => self.first_args.push((id, vec![sub.to_vec()])),
                        }
                    }
                }
            }
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = cat.lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(cat, id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let bit = category_bit(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.change_category(cat, bit, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// The command rules (`+@all -@dangerous +client|kill`): Redis 7.0's `ACLDescribeSelectorCommandRules`.
    pub fn describe_commands(&self) -> String {
        let cat = catalog();
        let additive = !self.future;
        let mut rules = String::from(if additive { "-@all " } else { "+@all " });
        // `fake` replays the rules emitted so far; `temp` is what is left to explain.
        let mut fake = Selector::new(false, false);
        fake.set_all(!additive);
        let mut temp = Selector::new(false, false);
        temp.commands = self.commands;
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (u64::MAX, 0);
            for (j, name) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let bit = 1 << j;
                let (mut on, mut off) = (0u64, 0u64);
                for c in 0..cat.commands.len() {
                    if cat.commands[c].categories & bit != 0 {
                        if temp.commands.get(c) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some((j, *name));
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some((j, name)) = best else { break };
            let bit = 1 << j;
            fake.change_category(cat, bit, additive);
            temp.change_category(cat, bit, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(name);
            rules.push(' ');
            applied[j] = true;
        }
        // Single commands, top-level ones followed by their subcommands (Redis walks its
        // command dictionary, in hash order; Ferrous uses name order).
        for &t in &cat.top {
            self.describe_single(cat, &mut fake, &mut rules, t);
            for &s in &cat.commands[t].subs {
                self.describe_single(cat, &mut fake, &mut rules, s);
            }
        }
        rules.pop();
        rules
    }

    fn describe_single(&self, cat: &Catalog, fake: &mut Selector, rules: &mut String, id: usize) {
        let user_bit = self.commands.get(id);
        if user_bit != fake.commands.get(id) {
            rules.push(if user_bit { '+' } else { '-' });
            rules.push_str(&cat.commands[id].name);
            rules.push(' ');
            fake.change_perm(cat, id, user_bit);
        }
        if !user_bit {
            for arg in self.first_args_of(id).unwrap_or_default() {
                rules.push('+');
                rules.push_str(&cat.commands[id].name);
                rules.push('|');
                rules.push_str(&String::from_utf8_lossy(arg));
                rules.push(' ');
            }
        }
    }

    /// The key patterns as GETUSER shows them (`~foo* %R~bar*`, `~*`, or empty).
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            push_pattern(&mut out, p);
        }
        out
    }

    /// The channel patterns as GETUSER shows them (`&*`, `&a &b`, or empty).
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }

    /// The whole selector in ACL LIST's form (`ACLDescribeSelector`).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for p in &self.patterns {
                push_pattern(&mut out, p);
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
        out
    }
}

fn push_pattern(out: &mut Vec<u8>, p: &KeyPattern) {
    out.extend_from_slice(match p.perm {
        PERM_ALL => b"~".as_slice(),
        PERM_READ => b"%R~",
        _ => b"%W~",
    });
    out.extend_from_slice(&p.pattern);
}

/// Redis's `ACLStringHasSpaces`: whitespace or NUL.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&c| c == 0 || c.is_ascii_whitespace() || c == 0x0b)
}

/// The hex SHA-256 of a password, as users store them.
pub fn hash_password(password: &[u8]) -> String {
    hex::encode(Sha256::digest(password))
}

fn valid_hash(h: &[u8]) -> bool {
    h.len() == 64 && h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// `sanitize-payload` / `skip-sanitize-payload` (neither is set on a fresh user).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Sanitize {
    /// Neither flag.
    #[default]
    Unset,
    /// `sanitize-payload`.
    Sanitize,
    /// `skip-sanitize-payload`.
    Skip,
}

/// Everything about a user but its name.
#[derive(Clone)]
pub struct Rules {
    /// `on` / `off`.
    pub enabled: bool,
    /// `nopass`: any password works.
    pub nopass: bool,
    /// Payload sanitization flag.
    pub sanitize: Sanitize,
    /// Hex SHA-256 hashes of the passwords, in the order added.
    pub passwords: Vec<String>,
    /// The root selector first, then the `(...)` ones.
    pub selectors: Vec<Selector>,
}

impl Rules {
    /// A new user's rules: off, no passwords, nothing allowed (`all_channels` per
    /// `acl-pubsub-default`).
    pub fn new(all_channels: bool) -> Rules {
        Rules {
            enabled: false,
            nopass: false,
            sanitize: Sanitize::Unset,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, all_channels)],
        }
    }

    /// The default user as created: `on nopass ~* &* +@all`.
    pub fn default_user() -> Rules {
        let mut r = Rules::new(true);
        r.enabled = true;
        r.nopass = true;
        let root = &mut r.selectors[0];
        root.set_all(true);
        root.all_keys = true;
        root.all_channels = true;
        r
    }

    /// True if some selector allows every command, key and channel.
    pub fn is_open(&self) -> bool {
        self.selectors.iter().any(Selector::is_open)
    }

    /// Applies one rule (Redis's `ACLSetUser`); `all_channels` is `acl-pubsub-default`.
    pub fn apply(&mut self, op: &[u8], all_channels: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Sanitize::Skip;
        } else if is("sanitize-payload") {
            self.sanitize = Sanitize::Sanitize;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                if !valid_hash(&op[1..]) {
                    return Err(RuleError::BadHash);
                }
                String::from_utf8_lossy(&op[1..]).into_owned()
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                if !valid_hash(&op[1..]) {
                    return Err(RuleError::BadHash);
                }
                String::from_utf8_lossy(&op[1..]).into_owned()
            };
            let i = self.passwords.iter().position(|p| *p == hash).ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(i);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(false, all_channels);
            // Redis's sdssplitargs: unbalanced quotes give no words at all.
            let words = ferrous_resp::split_line(&op[1..op.len() - 1]).unwrap_or_default();
            for w in words {
                s.apply(&w)?;
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            let root = &mut self.selectors[0];
            root.all_keys = false;
            root.patterns.clear();
            root.all_channels = all_channels;
            root.channels.clear();
            self.enabled = false;
            self.sanitize = Sanitize::Sanitize;
            self.selectors.truncate(1);
            self.selectors[0].set_all(false);
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// True if `password` opens this user (not checking `on`/`off`). The comparison of
    /// hashes does not stop at the first difference.
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let h = hash_password(password);
        self.passwords
            .iter()
            .any(|p| p.len() == h.len() && p.bytes().zip(h.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
    }

    /// The flags GETUSER lists, in Redis's order.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Sanitize::Skip => f.push("skip-sanitize-payload"),
            Sanitize::Sanitize => f.push("sanitize-payload"),
            Sanitize::Unset => {}
        }
        f
    }

    /// The rules in ACL LIST's form, without `user <name> ` (Redis's `ACLDescribeUser`).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.flag_names() {
            out.extend_from_slice(f.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for s in &self.selectors {
            if s.root {
                out.extend_from_slice(&s.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe());
                out.push(b')');
            }
        }
        out
    }
}

/// Redis's `ACLMergeSelectorArguments`: a selector spread over several arguments
/// (`(~key*` `+get)`) becomes one. `Err` carries the index of an unclosed `(`.
pub fn merge_selector_args<A: AsRef<[u8]>>(args: &[A]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, a) in args.iter().enumerate() {
        let op = a.as_ref();
        let closes = op.last() == Some(&b')');
        if op.first() == Some(&b'(') && !closes && open.is_none() {
            open = Some((j, op.to_vec()));
            continue;
        }
        if let Some((start, mut sel)) = open.take() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if closes {
                out.push(sel);
            } else {
                open = Some((start, sel));
            }
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ops: &[&str]) -> Result<Rules, RuleError> {
        let mut r = Rules::new(false);
        for op in merge_selector_args(ops).unwrap() {
            r.apply(&op, false)?;
        }
        Ok(r)
    }

    fn list(ops: &[&str]) -> String {
        String::from_utf8(user(ops).unwrap().describe()).unwrap()
    }

    #[test]
    fn describes_like_redis() {
        assert_eq!(String::from_utf8(Rules::default_user().describe()).unwrap(), "on nopass ~* &* +@all");
        assert_eq!(
            list(&["on", ">pass", "~foo*", "%R~bar*", "&chan", "+get", "+set", "+config|get", "-@all", "+@read"]),
            "on #d74ff0ee8da3b9806b18c877dbf29bbde50b5bd8e4dad7a3a725000feb82e8f1 ~foo* %R~bar* resetchannels \
             &chan -@all +@read"
        );
        assert_eq!(list(&["reset"]), "off sanitize-payload resetchannels -@all");
        assert_eq!(
            list(&["+@all", "-config|get", "-@dangerous", "+client|kill"]),
            "off resetchannels +@all -@dangerous +client|kill"
        );
        assert_eq!(list(&["+@hash", "+@set", "-hget"]), "off resetchannels -@all +@set +@hash -hget");
        assert_eq!(list(&["-@all", "+@all"]), "off resetchannels +@all");
        assert_eq!(
            list(&["on", "(~x", "+get)", "(%W~y*", "+set", "&c)", "(", "+incr", ")"]),
            "on resetchannels -@all (~x resetchannels -@all +get) (%W~y* resetchannels &c -@all +set) \
             (resetchannels -@all +incr)"
        );
        assert_eq!(list(&["%r~a", "%w~a", "%W~b", "~c", "%R~c"]), "off ~a %W~b ~c resetchannels -@all");
        assert_eq!(list(&["%R"]), "off %R~ resetchannels -@all");
        assert_eq!(list(&["%RW"]), "off ~ resetchannels -@all");
        assert_eq!(list(&["+select|0", "+get"]), "off resetchannels -@all +get +select|0");
    }

    #[test]
    fn best_fit_categories() {
        // Redis 7.0.15 prints these categories, in this order (single commands in its own
        // hash order).
        let d = list(&["-@all", "+@read", "+@write", "-@string"]);
        assert!(
            d.starts_with(
                "off resetchannels -@all +@sortedset +@hash +@geo +@bitmap +@keyspace +@hyperloglog +@list \
                 +@stream +@set "
            ),
            "{d}"
        );
        let mut singles: Vec<&str> = d.split(' ').skip(12).collect();
        singles.sort();
        let mut expected = vec![
            "-object|help",
            "-pfselftest",
            "+memory|usage",
            "-xgroup|help",
            "+function|load",
            "+function|restore",
            "+function|delete",
            "+function|flush",
            "-xinfo|help",
            "+lolwut",
        ];
        expected.sort();
        assert_eq!(singles, expected);
    }

    #[test]
    fn errors_like_redis() {
        assert_eq!(user(&["%"]).err(), Some(RuleError::Syntax));
        assert_eq!(user(&["%X~a"]).err(), Some(RuleError::Syntax));
        assert_eq!(user(&["%RR~a"]).err(), Some(RuleError::Syntax));
        assert_eq!(user(&["-get|foo"]).err(), Some(RuleError::UnknownCommand));
        assert_eq!(user(&["+config|get|x"]).err(), Some(RuleError::FirstArgOfSubcommand));
        assert_eq!(user(&["+config|"]).err(), Some(RuleError::Syntax));
        assert_eq!(user(&["+config|nosuch"]).err(), Some(RuleError::UnknownCommand));
        assert_eq!(user(&["+"]).err(), Some(RuleError::UnknownCommand));
        assert_eq!(user(&["+@"]).err(), Some(RuleError::UnknownCommand));
        assert_eq!(user(&["~*", "~x"]).err(), Some(RuleError::AfterAllKeys));
        assert_eq!(user(&["&*", "&x"]).err(), Some(RuleError::AfterAllChannels));
        assert_eq!(user(&["<nopw"]).err(), Some(RuleError::NoSuchPassword));
        assert_eq!(user(&["#abc"]).err(), Some(RuleError::BadHash));
        assert_eq!(user(&["(on)"]).err(), Some(RuleError::Syntax));
        assert_eq!(user(&["on()"]).err(), Some(RuleError::Syntax));
        assert_eq!(user(&["(~a b)"]).err(), Some(RuleError::Syntax));
        assert_eq!(user(&["bogus"]).err(), Some(RuleError::Syntax));
        assert!(user(&["()"]).is_ok());
        assert_eq!(merge_selector_args(&["on", "(~x", "+get"]), Err(1));
    }

    #[test]
    fn pattern_shapes_match_like_globs() {
        for (pattern, key) in [
            ("app:*", "app:1"),
            ("app:*", "ap"),
            ("*", ""),
            ("", ""),
            ("", "a"),
            ("exact", "exact"),
            ("exact", "exactly"),
            ("a*b", "axxb"),
            ("a?", "ab"),
            ("a\\*", "a*"),
            ("[ab]*", "bc"),
        ] {
            let p = KeyPattern::new(PERM_ALL, pattern.as_bytes());
            assert_eq!(
                p.matches(key.as_bytes()),
                crate::glob::glob_match(pattern.as_bytes(), key.as_bytes(), false),
                "{pattern} {key}"
            );
        }
    }

    #[test]
    fn passwords() {
        let r = user(&["on", ">p1", ">p2", "<p1", "nopass", ">p3"]).unwrap();
        assert_eq!(r.passwords, vec![hash_password(b"p3")]);
        assert!(!r.nopass);
        assert!(r.password_ok(b"p3"));
        assert!(!r.password_ok(b"p2"));
    }
}
