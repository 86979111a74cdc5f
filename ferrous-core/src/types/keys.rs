//! Keys: existence, deletion, expiry, iteration.
use crate::access::Access;
use crate::db::Database;
use std::sync::atomic::Ordering::Relaxed;

/// EXPIRE's NX/XX/GT/LT condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    /// Always.
    #[default]
    Always,
    /// Only if the key has no TTL (NX).
    IfNoTtl,
    /// Only if the key has a TTL (XX).
    IfTtl,
    /// Only if the new deadline is later (GT; a key without TTL counts as infinite).
    Greater,
    /// Only if the new deadline is earlier (LT).
    Less,
}

/// Options of SCAN.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// MATCH pattern.
    pub pattern: Option<Vec<u8>>,
    /// COUNT hint (default 10).
    pub count: Option<usize>,
    /// TYPE filter (`string`, `list`...).
    pub type_name: Option<String>,
}

/// DEL at the access level: number of keys removed.
pub fn del(acc: &Access<'_>, keys: &[&[u8]]) -> usize {
    let mut n = 0;
    for key in keys {
        acc.write(key, |shard, h| {
            shard.expire_if_needed(h, key, acc.now);
            if shard.remove(h, key).is_some() {
                n += 1;
            }
        });
    }
    if n > 0 {
        acc.inner.dirty.fetch_add(n as u64, Relaxed);
    }
    n
}

/// EXISTS at the access level: counts live keys (repeats count again).
pub fn exists(acc: &Access<'_>, keys: &[&[u8]]) -> usize {
    keys.iter().filter(|k| acc.read(k, |n| n.is_some())).count()
}

impl Database {
    /// DEL: removes keys, returns how many existed.
    pub fn del<K: AsRef<[u8]>>(&self, keys: &[K]) -> usize {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        del(&self.access(), &keys)
    }

    /// EXISTS for one key.
    pub fn exists(&self, key: impl AsRef<[u8]>) -> bool {
        exists(&self.access(), &[key.as_ref()]) == 1
    }

    /// DBSIZE.
    pub fn dbsize(&self) -> usize {
        self.inner.dbs[self.index].len()
    }
}
