//! Strings: GET/SET and friends.
use crate::access::Access;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::keyspace::META_RAW;
use crate::value::Value;
use std::sync::atomic::Ordering::Relaxed;

/// SET's NX/XX condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    /// Always set.
    #[default]
    Always,
    /// Only if the key does not exist (NX).
    IfMissing,
    /// Only if the key exists (XX).
    IfExists,
}

/// What SET does with the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetExpiry {
    /// Remove any TTL (plain SET).
    #[default]
    Clear,
    /// KEEPTTL.
    Keep,
    /// Expire at this absolute Unix time in ms (EX/PX/EXAT/PXAT, resolved).
    At(i64),
}

/// Options of SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// NX / XX.
    pub condition: SetCondition,
    /// TTL handling.
    pub expiry: SetExpiry,
    /// GET: return the old value.
    pub get: bool,
}

/// What SET did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// The value was written.
    pub written: bool,
    /// The old value, when `get` was requested and the key existed.
    pub old: Option<Vec<u8>>,
}

/// SET at the access level (shared by [`Database::set_with`] and the SET command).
pub fn set(acc: &Access<'_>, key: &[u8], value: Value, opts: SetOptions) -> Result<SetOutcome> {
    acc.write(key, |shard, h| {
        let now = acc.now;
        let existing = shard.get_mut(h, key, now);
        let old = match (&existing, opts.get) {
            (Some(n), true) => Some(n.value.as_str().ok_or(Error::WrongType)?.to_vec()),
            _ => None,
        };
        let exists = existing.is_some();
        let allowed = match opts.condition {
            SetCondition::Always => true,
            SetCondition::IfMissing => !exists,
            SetCondition::IfExists => exists,
        };
        if !allowed {
            return Ok(SetOutcome { written: false, old });
        }
        match opts.expiry {
            SetExpiry::Keep => {
                shard.set_keep_ttl(h, key, value, now);
            }
            SetExpiry::Clear => {
                if let Some(n) = shard.get_mut(h, key, now) {
                    if n.meta.load(Relaxed) & crate::keyspace::META_EXPIRE == 0 {
                        // Fast path: overwrite in place, no reallocation of the node.
                        n.meta.fetch_and(!META_RAW, Relaxed);
                        n.value = value;
                        acc.inner.dirty.fetch_add(1, Relaxed);
                        return Ok(SetOutcome { written: true, old });
                    }
                }
                shard.set(h, key, value, None, now);
            }
            SetExpiry::At(when) => {
                shard.set(h, key, value, Some(when), now);
            }
        }
        acc.inner.dirty.fetch_add(1, Relaxed);
        Ok(SetOutcome { written: true, old })
    })
}

/// Reads a string value: `Ok(None)` when missing, WRONGTYPE for other types.
pub fn get(acc: &Access<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    acc.read(key, |n| match n {
        None => Ok(None),
        Some(n) => n.value.as_str().map(|s| Some(s.to_vec())).ok_or(Error::WrongType),
    })
}

/// INCRBY at the access level.
pub fn incr_by(acc: &Access<'_>, key: &[u8], delta: i64) -> Result<i64> {
    acc.write(key, |shard, h| {
        let now = acc.now;
        let new = match shard.get_mut(h, key, now) {
            Some(n) => {
                let cur = match &n.value {
                    Value::Int(i) => *i,
                    Value::Str(s) => ferrous_resp::parse_i64(s).ok_or(Error::NotInteger)?,
                    #[allow(unreachable_patterns)]
                    _ => return Err(Error::WrongType),
                };
                let new = cur.checked_add(delta).ok_or(Error::Overflow)?;
                n.value = Value::Int(new);
                n.meta.fetch_and(!META_RAW, Relaxed);
                new
            }
            None => {
                shard.set(h, key, Value::Int(delta), None, now);
                delta
            }
        };
        acc.inner.dirty.fetch_add(1, Relaxed);
        Ok(new)
    })
}

impl Database {
    /// SET key value.
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        set(&self.access(), key.as_ref(), Value::string(value.as_ref()), SetOptions::default()).map(|_| ())
    }

    /// SET with options (NX/XX, EX/PX/EXAT/PXAT/KEEPTTL, GET).
    ///
    /// ```
    /// use ferrous_core::{Database, SetOptions, SetCondition};
    /// let db = Database::new();
    /// let nx = SetOptions { condition: SetCondition::IfMissing, ..Default::default() };
    /// assert!(db.set_with("k", "a", nx).unwrap().written);
    /// assert!(!db.set_with("k", "b", nx).unwrap().written);
    /// ```
    pub fn set_with(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: SetOptions) -> Result<SetOutcome> {
        set(&self.access(), key.as_ref(), Value::string(value.as_ref()), opts)
    }

    /// GET key.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        get(&self.access(), key.as_ref())
    }

    /// INCRBY key delta; returns the new value.
    pub fn incr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        incr_by(&self.access(), key.as_ref(), delta)
    }

    /// INCR key.
    pub fn incr(&self, key: impl AsRef<[u8]>) -> Result<i64> {
        self.incr_by(key, 1)
    }
}
