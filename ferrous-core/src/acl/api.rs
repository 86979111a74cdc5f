//! The typed API of ACL users: manage them from the program, and run commands with a
//! user's permissions through a [`UserHandle`].
use super::{Denied, LogEntry, Rules, SetUserError, User};
use crate::db::Database;
use crate::error::{Error, Result};
use std::sync::Arc;

/// Acts as one ACL user: every command it runs is checked against the user's permissions,
/// as a client authenticated as that user would be (denials are ACL LOG entries).
///
/// Changes to the user (ACL SETUSER) apply to the next command; once the user is deleted,
/// commands fail with `NOAUTH`.
#[derive(Clone)]
pub struct UserHandle {
    db: Database,
    user: Arc<User>,
}

impl UserHandle {
    /// The user's name.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(self.user.name()).into_owned()
    }

    /// Runs one command (`["GET", "k"]`) as the user on the handle's database; error
    /// replies (`NOPERM ...`) come back as `Value::Error`.
    pub fn execute<I, A>(&self, args: I) -> ferrous_resp::Value
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        self.db.execute_as(&self.user, args)
    }

    /// A handle on logical database `index` for the same user.
    pub fn select(&self, index: usize) -> Result<UserHandle> {
        Ok(UserHandle { db: self.db.select(index)?, user: self.user.clone() })
    }

    /// Whether the user may run `args` (ACL DRYRUN), without running it.
    pub fn check<A: AsRef<[u8]>>(&self, args: &[A]) -> std::result::Result<(), Denied> {
        self.db.acl_dryrun(&self.name(), args).unwrap_or(Err(Denied { reason: super::Reason::Command, pos: 0 }))
    }
}

impl std::fmt::Debug for UserHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserHandle({})", self.name())
    }
}

impl Database {
    /// ACL SETUSER: creates the user `name` or changes it with `rules` (`"on"`, `">secret"`,
    /// `"~app:*"`, `"+@read"`, `"(+set ~cache:*)"`...), all or nothing.
    ///
    /// ```
    /// let db = ferrous_core::Database::new();
    /// db.acl_setuser("reader", &["on", "nopass", "~*", "+@read"]).unwrap();
    /// assert_eq!(db.acl_users(), vec!["default", "reader"]);
    /// ```
    pub fn acl_setuser<R: AsRef<[u8]>>(&self, name: &str, rules: &[R]) -> std::result::Result<(), SetUserError> {
        super::setuser(&self.inner, name.as_bytes(), rules, None).map(|_| ())
    }

    /// ACL DELUSER: removes users (their clients are disconnected); returns how many existed.
    /// The `default` user cannot be removed.
    pub fn acl_deluser(&self, names: &[&str]) -> Result<usize> {
        super::deluser(&self.inner, names, None)
    }

    /// ACL USERS: every user name, sorted.
    pub fn acl_users(&self) -> Vec<String> {
        self.inner.acl.users().iter().map(|u| String::from_utf8_lossy(u.name()).into_owned()).collect()
    }

    /// A user's rules (what ACL GETUSER shows), if it exists.
    pub fn acl_getuser(&self, name: &str) -> Option<Arc<Rules>> {
        self.inner.acl.user(name.as_bytes()).map(|u| u.rules())
    }

    /// ACL LIST: every user as a `user <name> <rules>` line.
    pub fn acl_list(&self) -> Vec<String> {
        String::from_utf8_lossy(&super::users_text(&self.inner)).lines().map(str::to_string).collect()
    }

    /// The newest `count` ACL LOG entries.
    pub fn acl_log(&self, count: usize) -> Vec<LogEntry> {
        self.inner.acl.log_entries(count)
    }

    /// ACL DRYRUN: whether `user` may run `args`. `Err` if the user or command is unknown.
    pub fn acl_dryrun<A: AsRef<[u8]>>(&self, user: &str, args: &[A]) -> Result<std::result::Result<(), Denied>> {
        let u =
            self.inner.acl.user(user.as_bytes()).ok_or_else(|| Error::msg(format!("ERR User '{user}' not found")))?;
        let argv: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
        let cat = super::catalog::catalog();
        let id = cat.lookup_argv(&argv).ok_or_else(|| Error::msg("ERR Command not found"))?;
        let buf: ferrous_resp::ArgsBuf = argv.iter().collect();
        Ok(super::check_rules(&u.rules(), id, &buf.as_args()))
    }

    /// ACL LOAD: replaces the users with those of the `aclfile` (nothing changes if it has
    /// errors; `Err` carries them).
    pub fn acl_load(&self) -> std::result::Result<(), String> {
        super::load_file(&self.inner, None)
    }

    /// ACL SAVE: writes the users to the `aclfile`.
    pub fn acl_save(&self) -> std::result::Result<(), String> {
        super::save_file(&self.inner)
    }

    /// A handle that runs commands as the user `name`, trusted (no password asked, and even
    /// if the user is `off`: the program vouches for it, as for a module's context user).
    pub fn as_user(&self, name: &str) -> Result<UserHandle> {
        let user =
            self.inner.acl.user(name.as_bytes()).ok_or_else(|| Error::msg(format!("ERR User '{name}' not found")))?;
        Ok(UserHandle { db: self.clone(), user })
    }

    /// A handle that runs commands as `name`, if `password` opens the user and it is `on`
    /// (AUTH's check; a failure is an ACL LOG entry only for network clients).
    pub fn authenticate(&self, name: &str, password: &str) -> Result<UserHandle> {
        let user = self.inner.acl.authenticate(name.as_bytes(), password.as_bytes()).ok_or(Error::WrongPass)?;
        Ok(UserHandle { db: self.clone(), user })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrous_resp::Value;

    #[test]
    fn user_handles_are_checked() {
        let db = Database::new();
        db.acl_setuser("alice", &["on", ">pw", "~app:*", "+get", "+set"]).unwrap();
        let alice = db.authenticate("alice", "pw").unwrap();
        assert!(db.authenticate("alice", "nope").is_err());
        assert_eq!(alice.execute(["SET", "app:1", "v"]), Value::ok());
        assert_eq!(alice.execute(["GET", "app:1"]), Value::bulk("v"));
        assert_eq!(
            alice.execute(["SET", "x", "v"]),
            Value::Error("NOPERM this user has no permissions to access one of the keys used as arguments".into())
        );
        assert_eq!(
            alice.execute(["INCR", "app:1"]),
            Value::Error("NOPERM this user has no permissions to run the 'incr' command".into())
        );
        assert_eq!(db.acl_log(10).len(), 2);
        db.acl_setuser("alice", &["+incr"]).unwrap();
        assert_eq!(alice.execute(["INCR", "app:n"]), Value::Integer(1));
        assert_eq!(db.acl_deluser(&["alice"]).unwrap(), 1);
        assert_eq!(alice.execute(["GET", "app:1"]), Value::Error("NOAUTH Authentication required.".into()));
        assert!(db.acl_deluser(&["default"]).is_err());
    }
}
