//! Users from files: the `aclfile` (ACL LOAD / ACL SAVE, and at start-up) and the `user`
//! lines of the configuration file, with Redis's error texts.
use super::rules::{has_spaces, merge_selector_args, RuleError, Rules};
use super::{pubsub_default_all, replace_users};
use crate::client::ClientState;
use crate::db::Inner;
use std::collections::BTreeMap;

/// A `user <name> <rules...>` line of the configuration file, validated: the name, then the
/// rules (selectors merged).
pub type ConfigUser = Vec<Vec<u8>>;

/// Validates a `user` line of the configuration file (its words, `user` first) as Redis's
/// `ACLAppendUserForLoading` does; `earlier` are the lines already accepted. `Err` is the
/// text redis-server prints (`Error in user declaration '...': ...`).
pub fn parse_config_user(words: &[Vec<u8>], earlier: &[ConfigUser]) -> Result<ConfigUser, String> {
    let quote = |i: usize, e: &dyn std::fmt::Display| {
        let w = words.get(i).map(|w| String::from_utf8_lossy(w).into_owned()).unwrap_or_default();
        format!("Error in user declaration '{w}': {e}")
    };
    if words.len() < 2 || !words[0].eq_ignore_ascii_case(b"user") {
        return Err(quote(0, &"Wrong format"));
    }
    if earlier.iter().any(|u| u[0] == words[1]) {
        return Err(quote(1, &RuleError::Duplicate));
    }
    // Redis names the word at the index of the failing rule among the rules, and for an
    // unclosed selector the reason its stale `errno` gives (7.0.15): both reproduced.
    let merged = merge_selector_args(&words[2..]).map_err(|i| quote(i, &RuleError::UnknownCommand))?;
    let mut fake = Rules::new(false);
    for (j, op) in merged.iter().enumerate() {
        match fake.apply(op, false) {
            Ok(()) | Err(RuleError::UnknownCommand) => {}
            Err(e) => return Err(quote(j, &e)),
        }
    }
    let mut user = vec![words[1].clone()];
    user.extend(merged);
    Ok(user)
}

/// Loads the users at start-up, as Redis's `ACLLoadUsersAtStartup`: the `user` lines of the
/// configuration, then the `aclfile` if set (using both is an error). `Err` is the message
/// to log before exiting.
pub fn load_startup(inner: &Inner, config_users: &[ConfigUser]) -> Result<(), String> {
    let aclfile = inner.config.read().get("aclfile").unwrap_or("").to_string();
    if !aclfile.is_empty() && !config_users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is \
                    invalid. This setup is very likely to lead to configuration errors and security holes, please \
                    define either an ACL file or declare users directly in your redis.conf, but not both."
            .into());
    }
    let all_channels = pubsub_default_all(inner);
    for u in config_users {
        let name = &u[0];
        if has_spaces(name) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        let existing = inner.acl.user(name);
        let mut rules = match &existing {
            Some(e) => {
                let mut r = (*e.rules()).clone();
                let _ = r.apply(b"reset", all_channels);
                r
            }
            None => Rules::new(all_channels),
        };
        for op in &u[1..] {
            if let Err(e) = rules.apply(op, all_channels) {
                return Err(format!(
                    "Error loading ACL rule '{}' for the user named '{}': {e}\nCritical error while loading ACLs. Exiting.",
                    String::from_utf8_lossy(op),
                    String::from_utf8_lossy(name)
                ));
            }
        }
        match existing {
            Some(e) => e.set_rules(rules),
            None => {
                let user = super::User::new(name, rules);
                inner.acl.users.write().insert(name.clone(), user);
            }
        }
    }
    if !aclfile.is_empty() {
        load_file(inner, None).map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    Ok(())
}

/// Redis's `ACLLoadFromFile`: replaces every user with the file's, or changes nothing and
/// returns the errors found (one line of text, as ACL LOAD replies them).
pub fn load_file(inner: &Inner, me: Option<&mut ClientState>) -> Result<(), String> {
    let filename = inner.config.read().get("aclfile").unwrap_or("").to_string();
    let text = std::fs::read(&filename).map_err(|e| {
        let os = std::io::Error::from_raw_os_error(e.raw_os_error().unwrap_or(0));
        let why = os.to_string();
        let why = why.split(" (os error").next().unwrap_or(&why).to_string();
        format!("Error loading ACLs, opening file '{filename}': {why}")
    })?;
    let all_channels = pubsub_default_all(inner);
    let mut errors = String::new();
    let mut users: BTreeMap<Vec<u8>, Rules> = BTreeMap::new();
    for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
        let linenum = i + 1;
        let line = trim(raw, b" \t\r\n");
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
        if argv[0] != b"user" || argv.len() < 2 {
            errors.push_str(&format!("{filename}:{linenum} should start with user keyword followed by the username. "));
            continue;
        }
        let name = argv[1];
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                String::from_utf8_lossy(name)
            ));
            continue;
        }
        let mut rules = Rules::new(all_channels);
        match merge_selector_args(&argv[2..]) {
            Err(_) => errors.push_str(&format!("{filename}:{linenum}: Unmatched parenthesis in selector definition.")),
            Ok(ops) => {
                // Unknown commands are named; of the other errors, which may hide the
                // password, only the first of the line is reported.
                let mut syntax_error = false;
                for op in ops {
                    let op = trim(&op, b"\t\r\n");
                    match rules.apply(op, all_channels) {
                        Ok(()) => {}
                        Err(e @ RuleError::UnknownCommand) => errors.push_str(&format!(
                            "{filename}:{linenum}: Error in applying operation '{}': {e}. ",
                            String::from_utf8_lossy(op)
                        )),
                        Err(e) if !syntax_error => {
                            errors.push_str(&format!("{filename}:{linenum}: {e}. "));
                            syntax_error = true;
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        users.insert(name.to_vec(), rules);
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    replace_users(inner, users, me);
    Ok(())
}

fn trim<'a>(s: &'a [u8], chars: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|c| !chars.contains(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !chars.contains(c)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// The users in the ACL file format (`user <name> <rules>` lines), as ACL SAVE writes them.
pub fn users_text(inner: &Inner) -> Vec<u8> {
    let mut out = Vec::new();
    for u in inner.acl.users() {
        out.extend_from_slice(b"user ");
        out.extend_from_slice(u.name());
        out.push(b' ');
        out.extend_from_slice(&u.rules().describe());
        out.push(b'\n');
    }
    out
}

/// Redis's `ACLSaveToFile`: writes every user to the `aclfile` (a temporary file renamed
/// over it). `Err` is the reason, for the log.
pub fn save_file(inner: &Inner) -> Result<(), String> {
    let filename = inner.config.read().get("aclfile").unwrap_or("").to_string();
    let text = users_text(inner);
    let tmp = format!("{filename}.tmp-{}-{}", std::process::id(), inner.clock.now_ms());
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &filename)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("Saving the ACL file '{filename}': {e}")
    })
}
