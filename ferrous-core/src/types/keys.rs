//! Keys: existence, deletion, expiry, renaming, iteration and whole-database operations.
//!
//! Each operation exists at two levels that share one implementation:
//! - an access-level function (`del(acc, ..)`, `scan(acc, ..)`) that the command handlers
//!   in `commands/keys.rs` call with the command's [`Access`];
//! - a [`Database`] method (`db.del(..)`, `db.scan(..)`) for in-process callers.
//!
//! Lookups follow Redis's flags: TYPE, TTL, EXISTS and OBJECT *peek* (they do not refresh
//! the key's LRU clock, Redis's `LOOKUP_NOTOUCH`); TOUCH, COPY's source and the write
//! commands touch it. Expired keys are deleted lazily when a lookup meets them.
//!
//! SCAN walks the [`SHARDS`] shards in order and, inside each, the shard's [`Dict`] in
//! Redis's reverse-binary bucket order. The cursor packs both: `(dict_cursor << SHARD_BITS)
//! | shard`. A key lives in the same shard for its whole life and each dict's cursor
//! survives resizes, so every key present for the whole scan is returned (some may be
//! returned twice, as in Redis).
//!
//! [`Dict`]: crate::dict::Dict
use crate::access::Access;
use crate::db::Database;
use crate::dict::Dict;
use crate::error::{Error, Result};
use crate::glob::glob_match;
use crate::keyspace::{KeyHash, Shard, META_CLOCK_MASK, META_EXPIRE, META_SNAP, SHARDS, SHARD_BITS};
use crate::notify;
use crate::propagate;
use crate::value::Value;
use rand::Rng;
use std::sync::atomic::Ordering::Relaxed;

/// EXPIRE's NX/XX/GT/LT condition.
///
/// Redis accepts XX together with GT or LT: `XX GT` behaves exactly as `GT` (a key without
/// TTL never passes GT), `XX LT` is [`ExpireCondition::IfTtlAndLess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    /// Always.
    #[default]
    Always,
    /// Only if the key has no TTL (NX).
    IfNoTtl,
    /// Only if the key has a TTL (XX).
    IfTtl,
    /// Only if the new deadline is later (GT; a key without TTL counts as infinite, so it
    /// never passes).
    Greater,
    /// Only if the new deadline is earlier (LT; a key without TTL counts as infinite, so it
    /// always passes).
    Less,
    /// Only if the key has a TTL and the new deadline is earlier (XX LT).
    IfTtlAndLess,
}

impl ExpireCondition {
    /// Combines EXPIRE's option flags, with Redis 7.0's errors for incompatible ones.
    pub fn from_flags(nx: bool, xx: bool, gt: bool, lt: bool) -> Result<ExpireCondition> {
        if nx && (xx || gt || lt) {
            return Err(Error::msg("ERR NX and XX, GT or LT options at the same time are not compatible"));
        }
        if gt && lt {
            return Err(Error::msg("ERR GT and LT options at the same time are not compatible"));
        }
        Ok(match (nx, xx, gt, lt) {
            (true, ..) => ExpireCondition::IfNoTtl,
            (_, _, true, _) => ExpireCondition::Greater,
            (_, true, _, true) => ExpireCondition::IfTtlAndLess,
            (_, _, _, true) => ExpireCondition::Less,
            (_, true, ..) => ExpireCondition::IfTtl,
            _ => ExpireCondition::Always,
        })
    }

    /// True if a key whose current deadline is `current` may get the deadline `when`.
    pub fn allows(self, current: Option<i64>, when: i64) -> bool {
        match self {
            ExpireCondition::Always => true,
            ExpireCondition::IfNoTtl => current.is_none(),
            ExpireCondition::IfTtl => current.is_some(),
            ExpireCondition::Greater => current.is_some_and(|c| when > c),
            ExpireCondition::Less => current.map_or(true, |c| when < c),
            ExpireCondition::IfTtlAndLess => current.is_some_and(|c| when < c),
        }
    }
}

/// Options of SCAN.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// MATCH pattern (Redis glob).
    pub pattern: Option<Vec<u8>>,
    /// COUNT hint (default 10; 0 counts as 1).
    pub count: Option<usize>,
    /// TYPE filter (`string`, `list`...), compared case-insensitively.
    pub type_name: Option<String>,
}

/// How FLUSHDB/FLUSHALL free the removed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushMode {
    /// Free everything before returning (SYNC).
    #[default]
    Sync,
    /// Empty the database at once and free the old data on a background thread (ASYNC).
    Async,
}

/// Options of COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyOptions {
    /// Destination database (DB); `None` copies within the same database.
    pub db: Option<usize>,
    /// Overwrite an existing destination (REPLACE).
    pub replace: bool,
}

/// Flags the clients watching `key` in `acc`'s database (Redis's `signalModifiedKey`).
/// Called under the key's shard lock, so that no EXEC can check its watched keys between
/// the change and the flagging.
#[inline]
fn signal(acc: &Access<'_>, key: &[u8]) {
    acc.signal_modified(key);
}

/// Publishes a generic-class keyspace event (`del`, `expire`, `rename_from`, ...).
#[inline]
fn event(acc: &Access<'_>, name: &str, key: &[u8]) {
    acc.notify(notify::GENERIC, name, key);
}

/// What Redis's `dbAdd` announces for a key that a RENAME, MOVE or COPY just created in
/// `acc`'s database: the `new` event and readiness for clients blocked on it.
fn added(acc: &Access<'_>, key: &[u8]) {
    acc.notify(notify::NEW, "new", key);
    acc.signal_ready(key);
}

/// DEL at the access level: number of keys removed. Big values are freed in the
/// background when `lazyfree-lazy-user-del` is on (DEL then acts as UNLINK).
pub fn del(acc: &Access<'_>, keys: &[&[u8]]) -> usize {
    let lazy = acc.inner.config.read().get_bool("lazyfree-lazy-user-del");
    del_with(acc, keys, lazy)
}

/// UNLINK at the access level: DEL whose big values are freed in the background
/// ([`crate::lazyfree`]).
pub fn unlink(acc: &Access<'_>, keys: &[&[u8]]) -> usize {
    del_with(acc, keys, true)
}

/// DEL or UNLINK: `lazy` hands the removed values to [`crate::lazyfree::free`] (outside the
/// shard lock either way).
fn del_with(acc: &Access<'_>, keys: &[&[u8]], lazy: bool) -> usize {
    let mut n = 0;
    for key in keys {
        let removed = acc.write(key, |shard, h| {
            shard.expire_if_needed(h, key, acc.now);
            let removed = shard.remove(h, key);
            if removed.is_some() {
                signal(acc, key);
            }
            removed
        });
        if let Some(value) = removed {
            crate::lazyfree::free(acc.inner, value, lazy);
            n += 1;
            event(acc, "del", key);
        }
    }
    acc.add_dirty(n as u64);
    n
}

/// EXISTS at the access level: counts live keys (a key named twice counts twice). Does not
/// touch the keys' LRU clocks.
pub fn exists(acc: &Access<'_>, keys: &[&[u8]]) -> usize {
    keys.iter().filter(|k| acc.peek(k, |n| n.is_some())).count()
}

/// TOUCH at the access level: refreshes the LRU clock of the live keys and counts them.
pub fn touch(acc: &Access<'_>, keys: &[&[u8]]) -> usize {
    keys.iter().filter(|k| acc.read(k, |n| n.is_some())).count()
}

/// TYPE at the access level: Redis's type name, `none` for a missing key.
pub fn type_of(acc: &Access<'_>, key: &[u8]) -> &'static str {
    acc.peek(key, |n| n.map_or("none", |(n, _)| n.value.type_name()))
}

/// The absolute deadline (Unix ms) for an EXPIRE-family argument, with Redis's overflow
/// checks: `value` is in seconds when `seconds`, and is added to `base` (the current time
/// for EXPIRE/PEXPIRE, 0 for EXPIREAT/PEXPIREAT). `cmd` names the command in the error.
pub fn expire_deadline(value: i64, seconds: bool, base: i64, cmd: &'static str) -> Result<i64> {
    let invalid = || Error::InvalidExpireTime(cmd);
    let ms = if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&value) {
            return Err(invalid());
        }
        value * 1000
    } else {
        value
    };
    // Redis only guards against passing i64::MAX; a very negative deadline is simply "in the
    // past" and deletes the key.
    if ms > i64::MAX - base {
        return Err(invalid());
    }
    Ok(ms + base)
}

/// Sets the deadline of `key` to `when` (absolute Unix ms) if `cond` allows it. A deadline
/// at or before now deletes the key. Returns true if the key existed and was changed.
pub fn expire_at_ms(acc: &Access<'_>, key: &[u8], when: i64, cond: ExpireCondition) -> bool {
    let done = acc.write(key, |shard, h| {
        let Some(current) = shard.ttl(h, key, acc.now) else { return false };
        if !cond.allows(current, when) {
            return false;
        }
        if when <= acc.now {
            shard.remove(h, key);
            event(acc, "del", key);
        } else {
            shard.set_expire(h, key, when);
            event(acc, "expire", key);
        }
        signal(acc, key);
        true
    });
    acc.add_dirty(done as u64);
    done
}

/// The deadline of a live key: `None` if the key does not exist, `Some(None)` if it has no
/// TTL. Does not touch the key's LRU clock.
pub fn deadline(acc: &Access<'_>, key: &[u8]) -> Option<Option<i64>> {
    acc.peek(key, |n| n.map(|(_, d)| d))
}

/// TTL/PTTL/EXPIRETIME/PEXPIRETIME in Redis's encoding: -2 for a missing key, -1 without
/// TTL, otherwise the remaining time (`absolute == false`) or the deadline, in ms (`ms`)
/// or in seconds rounded to the nearest second.
pub fn ttl(acc: &Access<'_>, key: &[u8], ms: bool, absolute: bool) -> i64 {
    match deadline(acc, key) {
        None => -2,
        Some(None) => -1,
        Some(Some(when)) => {
            let t = if absolute { when } else { when.saturating_sub(acc.now) }.max(0);
            if ms {
                t
            } else {
                // Redis computes (ms + 500) / 1000 in C, where the addition near i64::MAX
                // wraps and is printed as if unsigned; u64 arithmetic gives the same result.
                ((t as u64 + 500) / 1000) as i64
            }
        }
    }
}

/// PERSIST at the access level: true if the key existed and had a TTL.
pub fn persist(acc: &Access<'_>, key: &[u8]) -> bool {
    let done = acc.write(key, |shard, h| {
        let done = shard.get_mut(h, key, acc.now).is_some() && shard.persist(h, key);
        if done {
            signal(acc, key);
        }
        done
    });
    if done {
        event(acc, "persist", key);
    }
    acc.add_dirty(done as u64);
    done
}

/// An entry taken out of (or copied from) a shard, with what must travel with the value.
struct Moving {
    value: Value,
    deadline: Option<i64>,
    /// The node's meta word (LRU clock and encoding flags; the expire bit is recomputed).
    meta: u32,
}

/// Removes a live key from its shard, keeping its deadline and meta word.
fn take_entry(shard: &mut Shard, h: KeyHash, key: &[u8], now: i64) -> Option<Moving> {
    let node = shard.get_mut(h, key, now)?;
    let meta = node.meta.load(Relaxed);
    let deadline = shard.deadline(shard.dict.get(h.dict(), key)?, h.dict());
    let value = shard.remove(h, key)?;
    Some(Moving { value, deadline, meta })
}

/// Copies a live key (touching it, as COPY's read lookup does); the copy gets a fresh LRU
/// clock but keeps the encoding flags.
fn clone_entry(shard: &mut Shard, h: KeyHash, key: &[u8], now: i64) -> Option<Moving> {
    let node = shard.get_mut(h, key, now)?;
    let meta = (node.meta.load(Relaxed) & !META_CLOCK_MASK) | crate::evict::initial_clock(now);
    let value = node.value.clone();
    let deadline = shard.deadline(shard.dict.get(h.dict(), key)?, h.dict());
    Some(Moving { value, deadline, meta })
}

/// Stores a moved or copied entry under `key`, replacing whatever is there.
fn put_entry(shard: &mut Shard, h: KeyHash, key: &[u8], e: Moving, now: i64) {
    shard.set(h, key, e.value, e.deadline, now);
    if let Some(node) = shard.dict.get_mut(h.dict(), key) {
        // The new entry's own expiry and snapshot bits stay; LRU clock and flags move along.
        let own = node.meta.load(Relaxed) & (META_EXPIRE | META_SNAP);
        node.meta.store((e.meta & !(META_EXPIRE | META_SNAP)) | own, Relaxed);
    }
}

/// RENAME (`nx == false`) / RENAMENX (`nx == true`) at the access level. The value keeps
/// its TTL, encoding and LRU clock. Returns true if the reply is OK / 1: for the same key
/// RENAME succeeds and RENAMENX returns false, once the key is known to exist.
pub fn rename(acc: &Access<'_>, src: &[u8], dst: &[u8], nx: bool) -> Result<bool> {
    let (hs, hd) = (acc.hash(src), acc.hash(dst));
    let now = acc.now;
    acc.write_many(&[src, dst], |m| {
        if m.shard(hs).get_mut(hs, src, now).is_none() {
            return Err(Error::NoSuchKey);
        }
        if src == dst {
            return Ok(!nx);
        }
        if m.shard(hd).contains(hd, dst, now) {
            if nx {
                return Ok(false);
            }
            crate::lazyfree::server_del(acc.inner, m.shard(hd).remove(hd, dst));
        }
        let Some(entry) = take_entry(m.shard(hs), hs, src, now) else { return Err(Error::NoSuchKey) };
        put_entry(m.shard(hd), hd, dst, entry, now);
        added(acc, dst);
        event(acc, "rename_from", src);
        event(acc, "rename_to", dst);
        acc.add_dirty(1);
        Ok(true)
    })
}

/// Checks a database index given by a client against the configured count.
fn db_index(acc: &Access<'_>, db: i64) -> Result<usize> {
    usize::try_from(db).ok().filter(|&d| d < acc.inner.db_count()).ok_or(Error::DbIndexOutOfRange)
}

/// MOVE at the access level: moves `key` to database `db` unless it exists there. Errors:
/// index out of range, or `db` is the current database.
pub fn move_key(acc: &Access<'_>, key: &[u8], db: i64) -> Result<bool> {
    let db = db_index(acc, db)?;
    if db == acc.db {
        return Err(Error::SameObject);
    }
    let now = acc.now;
    let target = acc.with_db(db);
    let moved = acc
        .write_two_dbs(key, db, key, |src, hs, dst, hd| {
            if src.get_mut(hs, key, now).is_none() || dst.contains(hd, key, now) {
                return false;
            }
            let Some(entry) = take_entry(src, hs, key, now) else { return false };
            put_entry(dst, hd, key, entry, now);
            added(&target, key);
            signal(acc, key);
            signal(&target, key);
            event(acc, "move_from", key);
            event(&target, "move_to", key);
            true
        })
        .unwrap_or(false);
    acc.add_dirty(moved as u64);
    Ok(moved)
}

/// COPY at the access level: copies `src` to `dst` in the same or another database (TTL and
/// encoding included). Returns false when `src` is missing or `dst` exists without
/// `replace`. Errors: index out of range; same key in the same database.
pub fn copy(acc: &Access<'_>, src: &[u8], dst: &[u8], db: Option<i64>, replace: bool) -> Result<bool> {
    let db = match db {
        Some(d) => db_index(acc, d)?,
        None => acc.db,
    };
    if db == acc.db && src == dst {
        return Err(Error::SameObject);
    }
    let now = acc.now;
    let target = acc.with_db(db);
    // Redis checks the source first, then the destination; a missing source wins.
    let place = |d: &mut Shard, hd: KeyHash, entry: Option<Moving>| -> bool {
        let Some(entry) = entry else { return false };
        if d.contains(hd, dst, now) && !replace {
            return false;
        }
        put_entry(d, hd, dst, entry, now);
        added(&target, dst);
        signal(&target, dst);
        event(&target, "copy_to", dst);
        true
    };
    let copied = if db == acc.db {
        let (hs, hd) = (acc.hash(src), acc.hash(dst));
        acc.write_many(&[src, dst], |m| {
            let entry = clone_entry(m.shard(hs), hs, src, now);
            place(m.shard(hd), hd, entry)
        })
    } else {
        acc.write_two_dbs(src, db, dst, |s, hs, d, hd| {
            let entry = clone_entry(s, hs, src, now);
            place(d, hd, entry)
        })
        .unwrap_or(false)
    };
    acc.add_dirty(copied as u64);
    Ok(copied)
}

/// KEYS at the access level: every live key matching `pattern`, from one consistent view of
/// the database. Expired keys are skipped, not deleted (as Redis does).
pub fn keys(acc: &Access<'_>, pattern: &[u8]) -> Vec<Vec<u8>> {
    let all = pattern == b"*";
    acc.read_all(|shards| {
        let mut out = Vec::new();
        for shard in shards {
            for node in shard.dict.iter() {
                if (all || glob_match(pattern, &node.key, false))
                    && !shard.deadline(node, Dict::hash_of(node)).is_some_and(|d| d <= acc.now)
                {
                    out.push(node.key.to_vec());
                }
            }
        }
        out
    })
}

/// Parses a SCAN cursor as Redis does (C's `strtoul` in base 10): optional sign, digits, no
/// surrounding spaces, values past `u64::MAX` rejected, `-n` wrapping around, the empty
/// string read as 0.
pub fn parse_cursor(arg: &[u8]) -> Result<u64> {
    let invalid = || Error::msg("ERR invalid cursor");
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if arg.is_empty() {
        return Ok(0);
    }
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10).and_then(|v| v.checked_add((d - b'0') as u64)).ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN at the access level: returns the next cursor (0 when the iteration is complete)
/// and a batch of keys.
///
/// Each step read-locks one shard and collects one bucket, as Redis's `dictScan` does; the
/// step loop stops once `count` keys were visited (before filtering) or after `10 * count`
/// steps. Filters apply in Redis's order: pattern, type, expiry. Expired keys that match the
/// pattern are deleted on the way; as in Redis 7.0, `TYPE none` returns them.
pub fn scan(acc: &Access<'_>, cursor: u64, opts: &ScanOptions) -> (u64, Vec<Vec<u8>>) {
    let count = opts.count.unwrap_or(10).max(1);
    let pattern = opts.pattern.as_deref().filter(|p| *p != b"*");
    let type_name = opts.type_name.as_deref();
    let want_none = type_name.is_some_and(|t| t.eq_ignore_ascii_case("none"));
    let mut shard = (cursor & (SHARDS as u64 - 1)) as usize;
    let mut dict_cursor = cursor >> SHARD_BITS;
    let mut budget = count.saturating_mul(10);
    let mut visited = 0;
    let mut out = Vec::new();
    let mut expired: Vec<Vec<u8>> = Vec::new();
    loop {
        let (next, had_buckets) = acc.read_shard(shard, |s| {
            let next = s.dict.scan(dict_cursor, |node| {
                visited += 1;
                if pattern.is_some_and(|p| !glob_match(p, &node.key, false)) {
                    return;
                }
                let dead = s.deadline(node, Dict::hash_of(node)).is_some_and(|d| d <= acc.now);
                if dead {
                    expired.push(node.key.to_vec());
                }
                let keep = match type_name {
                    None => !dead,
                    // Redis looks the type up first, which for an expired key says "none"
                    // and then lets the key through.
                    Some(_) if dead => want_none,
                    Some(t) => t.eq_ignore_ascii_case(node.value.type_name()),
                };
                if keep {
                    out.push(node.key.to_vec());
                }
            });
            (next, s.dict.buckets() > 0)
        });
        if next == 0 {
            shard += 1;
            dict_cursor = 0;
            if shard == SHARDS {
                break;
            }
        } else {
            dict_cursor = next;
        }
        // Skipping an empty shard costs nothing, so it does not use up the step budget.
        if had_buckets {
            budget -= 1;
        }
        if visited >= count || budget == 0 {
            break;
        }
    }
    for key in &expired {
        acc.write(key, |s, h| s.expire_if_needed(h, key, acc.now));
    }
    let next = if shard == SHARDS { 0 } else { (dict_cursor << SHARD_BITS) | shard as u64 };
    (next, out)
}

/// RANDOMKEY at the access level: a random live key, deleting expired keys it meets.
///
/// A shard is chosen with probability proportional to its size, then [`Dict::random`]
/// picks a key inside it.
pub fn randomkey(acc: &Access<'_>) -> Option<Vec<u8>> {
    let mut rng = rand::thread_rng();
    loop {
        let sizes: Vec<usize> = (0..SHARDS).map(|i| acc.read_shard(i, |s| s.dict.len())).collect();
        let total: usize = sizes.iter().sum();
        if total == 0 {
            return None;
        }
        let mut pick = rng.gen_range(0..total);
        let shard = sizes.iter().position(|&n| {
            if pick < n {
                return true;
            }
            pick -= n;
            false
        })?;
        // `None`: the shard emptied meanwhile; `Some((key, true))`: the key has expired.
        let found = acc.read_shard(shard, |s| {
            let node = s.dict.random(&mut rng)?;
            let dead = s.deadline(node, Dict::hash_of(node)).is_some_and(|d| d <= acc.now);
            Some((node.key.to_vec(), dead))
        });
        match found {
            Some((key, false)) => return Some(key),
            Some((key, true)) => {
                acc.write(&key, |s, h| s.expire_if_needed(h, &key, acc.now));
            }
            None => {}
        }
    }
}

/// Empties locked shards; returns the number of keys removed and the data to free.
fn take_shards<'a>(shards: impl Iterator<Item = &'a mut Shard>, data: &mut Vec<Dict<Value>>) -> usize {
    let mut n = 0;
    for shard in shards {
        n += shard.dict.len();
        if !shard.dict.is_empty() || shard.volatile_len() > 0 {
            data.push(shard.take_data());
        }
    }
    n
}

/// DBSIZE at the access level: number of keys, counted on one consistent view (keys that
/// expired but were not deleted yet included, as in Redis).
pub fn dbsize(acc: &Access<'_>) -> usize {
    acc.read_all(|shards| shards.iter().map(|s| s.dict.len()).sum())
}

/// FLUSHDB at the access level: removes every key of the database; returns how many.
/// The data is taken out under the locks and freed after they are released.
pub fn flushdb(acc: &Access<'_>, mode: FlushMode) -> usize {
    let mut data = Vec::new();
    let n = acc.write_all(|guards| {
        // Watchers are not flagged: as in Redis, a flush only matters to a client that
        // watched a key that was alive then, and EXEC finds that key gone.
        let n = take_shards(guards.iter_mut().map(|g| &mut **g), &mut data);
        // Every flush, even of an empty database, as Redis's `signalFlushedDb`.
        acc.inner.tracking.invalidate_all();
        // Blocked XREADGROUP clients learn that their streams are gone.
        acc.inner.blocking.mark_stream_keys_ready(Some(acc.db));
        n
    });
    crate::lazyfree::free_data(acc.inner, data, n, mode == FlushMode::Async);
    acc.add_dirty(n as u64);
    n
}

/// FLUSHALL at the access level: removes every key of every database at once; returns how
/// many.
pub fn flushall(acc: &Access<'_>, mode: FlushMode) -> usize {
    let all: Vec<usize> = (0..acc.inner.db_count()).collect();
    let mut data = Vec::new();
    let n = acc.write_dbs(&all, |dbs| {
        let mut total = 0;
        for (_, guards) in dbs.iter_mut() {
            // Watchers are not flagged (see `flushdb`).
            total += take_shards(guards.iter_mut().map(|g| &mut **g), &mut data);
        }
        acc.inner.tracking.invalidate_all();
        acc.inner.blocking.mark_stream_keys_ready(None);
        total
    });
    crate::lazyfree::free_data(acc.inner, data, n, mode == FlushMode::Async);
    // Redis counts the removed keys plus one for the command itself.
    acc.add_dirty(n as u64 + 1);
    n
}

/// SWAPDB at the access level: exchanges the contents of two databases atomically.
///
/// Watchers are flagged as Redis 7.0 decides (`touchAllWatchedKeysInDb`): a watched key is
/// flagged when a live key of that name is in its database after the swap. (A key that
/// was alive when watched and is gone or expired after the swap aborts EXEC anyway.)
pub fn swapdb(acc: &Access<'_>, a: i64, b: i64) -> Result<()> {
    let (a, b) = (db_index(acc, a)?, db_index(acc, b)?);
    if a != b {
        acc.write_dbs(&[a, b], |dbs| {
            if let [(_, first), (_, second)] = dbs {
                for (x, y) in first.iter_mut().zip(second.iter_mut()) {
                    x.swap_data(y);
                }
            }
            for db in [a, b] {
                acc.inner.blocking.mark_stream_keys_ready(Some(db));
            }
            for (db, shards) in dbs.iter() {
                let live = |key: &[u8]| {
                    let h = acc.hash(key);
                    let shard: &Shard = &shards[h.shard()];
                    shard
                        .dict
                        .get(h.dict(), key)
                        .is_some_and(|n| shard.deadline(n, h.dict()).map_or(true, |d| d > acc.now))
                };
                acc.inner.watches.touch_db_if(*db, live);
                // Clients blocked on a key that exists after the swap are served (those
                // whose key now holds the wrong type stay blocked, as in Redis).
                let blocking = &acc.inner.blocking;
                if blocking.has_waiters() {
                    for key in blocking.blocked_keys_in(*db) {
                        if live(&key) {
                            blocking.mark_ready(*db, &key);
                        }
                    }
                }
            }
        });
    }
    acc.add_dirty(1);
    Ok(())
}

/// OBJECT ENCODING at the access level (`None` for a missing key).
pub fn object_encoding(acc: &Access<'_>, key: &[u8]) -> Option<&'static str> {
    acc.peek(key, |n| n.map(|(n, _)| n.value.encoding(n.meta.load(Relaxed) & crate::keyspace::META_RAW != 0)))
}

/// True when `maxmemory-policy` is an LFU policy (Redis's `MAXMEMORY_FLAG_LFU`).
fn lfu_policy(acc: &Access<'_>) -> bool {
    acc.inner.evict.policy().lfu()
}

/// Seconds since the key's last access, from the 24-bit LRU clock in its meta word
/// (wrapping like Redis's `estimateObjectIdleTime`).
fn idle_seconds(meta: u32, now: i64) -> i64 {
    crate::evict::idle_seconds(meta, now) as i64
}

/// OBJECT IDLETIME at the access level: seconds since last access, `None` for a missing
/// key; an error under an LFU policy. Does not itself count as an access.
pub fn object_idletime(acc: &Access<'_>, key: &[u8]) -> Result<Option<i64>> {
    let Some(meta) = acc.peek(key, |n| n.map(|(n, _)| n.meta.load(Relaxed))) else { return Ok(None) };
    if lfu_policy(acc) {
        return Err(Error::msg(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching \
             between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    Ok(Some(idle_seconds(meta, acc.now)))
}

/// OBJECT FREQ at the access level, `None` for a missing key; an error unless an LFU
/// policy is selected. The key's logarithmic access counter after its idle decay (Redis's
/// `LFUDecrAndReturn`); reading it is not an access.
pub fn object_freq(acc: &Access<'_>, key: &[u8]) -> Result<Option<i64>> {
    let Some(meta) = acc.peek(key, |n| n.map(|(n, _)| n.meta.load(Relaxed))) else { return Ok(None) };
    if !lfu_policy(acc) {
        return Err(Error::msg(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when \
             switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    let decay = acc.inner.evict.lfu_decay().unwrap_or(1);
    Ok(Some(crate::evict::lfu_decr_and_return(meta, acc.now, decay) as i64))
}

/// OBJECT REFCOUNT at the access level, `None` for a missing key.
///
/// Redis shares the objects of the integers 0..10000 (refcount `i32::MAX`) unless
/// `maxmemory` is set with an LRU/LFU policy; every other value has one reference.
pub fn object_refcount(acc: &Access<'_>, key: &[u8]) -> Option<i64> {
    const OBJ_SHARED_INTEGERS: i64 = 10000;
    let small_int =
        acc.peek(key, |n| n.map(|(n, _)| matches!(n.value, Value::Int(i) if (0..OBJ_SHARED_INTEGERS).contains(&i))))?;
    let shared = small_int && {
        let config = acc.inner.config.read();
        let policy = config.get("maxmemory-policy").unwrap_or("noeviction");
        config.get_i64("maxmemory") == 0 || !(policy.ends_with("-lru") || policy.ends_with("-lfu"))
    };
    Some(if shared { i32::MAX as i64 } else { 1 })
}

/// FLUSHDB / FLUSHALL's mode argument as propagated.
fn flush_word(mode: FlushMode) -> &'static [u8] {
    match mode {
        FlushMode::Sync => b"SYNC",
        FlushMode::Async => b"ASYNC",
    }
}

impl Database {
    /// DEL: removes keys, returns how many existed.
    pub fn del<K: AsRef<[u8]>>(&self, keys: &[K]) -> usize {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.write_typed(
            |acc| del(acc, &keys),
            |acc, _| propagate::with_list(&[propagate::del_word(acc.inner, "lazyfree-lazy-user-del")], &keys),
        )
    }

    /// UNLINK: like [`Database::del`], but values costly to free (collections of more than
    /// 64 elements or nodes) are freed on the Database's lazy-free thread.
    pub fn unlink<K: AsRef<[u8]>>(&self, keys: &[K]) -> usize {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.write_typed(|acc| unlink(acc, &keys), |_, _| propagate::with_list(&[b"UNLINK"], &keys))
    }

    /// EXISTS for one key.
    pub fn exists(&self, key: impl AsRef<[u8]>) -> bool {
        exists(&self.access(), &[key.as_ref()]) == 1
    }

    /// EXISTS for several keys: how many of them exist (repeats count again).
    pub fn exists_count<K: AsRef<[u8]>>(&self, keys: &[K]) -> usize {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        exists(&self.access(), &keys)
    }

    /// TOUCH: marks keys as just used; returns how many exist.
    pub fn touch<K: AsRef<[u8]>>(&self, keys: &[K]) -> usize {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        touch(&self.access(), &keys)
    }

    /// TYPE: `"string"`, `"list"`, ..., or `"none"` for a missing key.
    pub fn type_of(&self, key: impl AsRef<[u8]>) -> &'static str {
        type_of(&self.access(), key.as_ref())
    }

    /// EXPIRE key seconds \[NX|XX|GT|LT\]: true if the TTL was set (a time in the past
    /// deletes the key and counts as set). Fails only when the deadline overflows.
    pub fn expire(&self, key: impl AsRef<[u8]>, seconds: i64, cond: ExpireCondition) -> Result<bool> {
        self.expire_typed(key.as_ref(), |now| expire_deadline(seconds, true, now, "expire"), cond)
    }

    /// PEXPIRE key milliseconds \[NX|XX|GT|LT\].
    pub fn pexpire(&self, key: impl AsRef<[u8]>, ms: i64, cond: ExpireCondition) -> Result<bool> {
        self.expire_typed(key.as_ref(), |now| expire_deadline(ms, false, now, "pexpire"), cond)
    }

    /// EXPIREAT key unix-time-seconds \[NX|XX|GT|LT\].
    pub fn expire_at(&self, key: impl AsRef<[u8]>, unix_seconds: i64, cond: ExpireCondition) -> Result<bool> {
        self.expire_typed(key.as_ref(), |_| expire_deadline(unix_seconds, true, 0, "expireat"), cond)
    }

    /// PEXPIREAT key unix-time-milliseconds \[NX|XX|GT|LT\].
    pub fn pexpire_at(&self, key: impl AsRef<[u8]>, unix_ms: i64, cond: ExpireCondition) -> Result<bool> {
        self.expire_typed(key.as_ref(), |_| Ok(unix_ms), cond)
    }

    /// The EXPIRE family: `deadline` turns the operation's time into the absolute deadline
    /// (one clock reading for both, as a command has). Propagated as the commands are:
    /// PEXPIREAT (the condition already held), or a DEL for a deadline already past.
    fn expire_typed(
        &self,
        key: &[u8],
        deadline: impl FnOnce(i64) -> Result<i64>,
        cond: ExpireCondition,
    ) -> Result<bool> {
        self.write_typed(
            |acc| deadline(acc.now).map(|when| (expire_at_ms(acc, key, when, cond), when)),
            |acc, r| match r {
                Ok((_, when)) if *when <= acc.now => {
                    propagate::one([propagate::del_word(acc.inner, "lazyfree-lazy-expire"), key])
                }
                Ok((_, when)) => propagate::one([&b"PEXPIREAT"[..], key, when.to_string().as_bytes()]),
                Err(_) => Vec::new(),
            },
        )
        .map(|(done, _)| done)
    }

    /// TTL in seconds (rounded): -2 if the key does not exist, -1 if it has no TTL.
    pub fn ttl(&self, key: impl AsRef<[u8]>) -> i64 {
        ttl(&self.access(), key.as_ref(), false, false)
    }

    /// PTTL in milliseconds: -2 if the key does not exist, -1 if it has no TTL.
    pub fn pttl(&self, key: impl AsRef<[u8]>) -> i64 {
        ttl(&self.access(), key.as_ref(), true, false)
    }

    /// EXPIRETIME: the deadline as Unix seconds (rounded); -2 missing, -1 no TTL.
    pub fn expire_time(&self, key: impl AsRef<[u8]>) -> i64 {
        ttl(&self.access(), key.as_ref(), false, true)
    }

    /// PEXPIRETIME: the deadline as Unix milliseconds; -2 missing, -1 no TTL.
    pub fn pexpire_time(&self, key: impl AsRef<[u8]>) -> i64 {
        ttl(&self.access(), key.as_ref(), true, true)
    }

    /// PERSIST: removes the TTL; true if the key had one.
    pub fn persist(&self, key: impl AsRef<[u8]>) -> bool {
        let key = key.as_ref();
        self.write_typed(|acc| persist(acc, key), |_, _| propagate::one([&b"PERSIST"[..], key]))
    }

    /// RENAME: moves `src` to `dst` (replacing it), keeping the TTL. Fails with
    /// [`Error::NoSuchKey`] if `src` does not exist.
    pub fn rename(&self, src: impl AsRef<[u8]>, dst: impl AsRef<[u8]>) -> Result<()> {
        let (src, dst) = (src.as_ref(), dst.as_ref());
        let r = self.write_typed(|acc| rename(acc, src, dst, false), |_, _| propagate::one([&b"RENAME"[..], src, dst]));
        // Clients blocked on `dst` are served, as after the command.
        self.serve_blocked(r).map(|_| ())
    }

    /// RENAMENX: like [`Database::rename`] but only if `dst` does not exist; true if
    /// renamed.
    pub fn renamenx(&self, src: impl AsRef<[u8]>, dst: impl AsRef<[u8]>) -> Result<bool> {
        let (src, dst) = (src.as_ref(), dst.as_ref());
        let r =
            self.write_typed(|acc| rename(acc, src, dst, true), |_, _| propagate::one([&b"RENAMENX"[..], src, dst]));
        self.serve_blocked(r)
    }

    /// KEYS pattern: every live key matching the glob `pattern`, in no particular order.
    pub fn keys(&self, pattern: impl AsRef<[u8]>) -> Vec<Vec<u8>> {
        keys(&self.access(), pattern.as_ref())
    }

    /// SCAN cursor \[MATCH pattern\] \[COUNT count\] \[TYPE type\]: one step of an iteration
    /// that starts and ends at cursor 0. Every key present for the whole iteration is
    /// returned at least once.
    ///
    /// ```
    /// use ferrous_core::{Database, ScanOptions};
    /// let db = Database::new();
    /// for i in 0..100 {
    ///     db.set(format!("user:{i}"), "x").unwrap();
    /// }
    /// db.set("other", "y").unwrap();
    /// let opts = ScanOptions { pattern: Some(b"user:*".to_vec()), count: Some(20), ..Default::default() };
    /// let mut found = std::collections::HashSet::new();
    /// let mut cursor = 0;
    /// loop {
    ///     let (next, keys) = db.scan(cursor, &opts);
    ///     found.extend(keys);
    ///     if next == 0 {
    ///         break;
    ///     }
    ///     cursor = next;
    /// }
    /// assert_eq!(found.len(), 100);
    /// ```
    pub fn scan(&self, cursor: u64, opts: &ScanOptions) -> (u64, Vec<Vec<u8>>) {
        scan(&self.access(), cursor, opts)
    }

    /// RANDOMKEY: a random live key, `None` if the database is empty.
    pub fn randomkey(&self) -> Option<Vec<u8>> {
        randomkey(&self.access())
    }

    /// DBSIZE: number of keys (keys that expired but were not yet deleted included, as in
    /// Redis).
    pub fn dbsize(&self) -> usize {
        dbsize(&self.access())
    }

    /// FLUSHDB: removes every key of this database; returns how many were removed.
    pub fn flushdb(&self, mode: FlushMode) -> usize {
        self.write_typed(
            |acc| {
                // Propagated even when already empty, as FLUSHDB is.
                propagate::force();
                flushdb(acc, mode)
            },
            |_, _| propagate::one([&b"FLUSHDB"[..], flush_word(mode)]),
        )
    }

    /// FLUSHALL: removes every key of every database; returns how many were removed.
    pub fn flushall(&self, mode: FlushMode) -> usize {
        self.write_typed(
            |acc| {
                propagate::force();
                flushall(acc, mode)
            },
            |_, _| propagate::one([&b"FLUSHALL"[..], flush_word(mode)]),
        )
    }

    /// SWAPDB: exchanges the contents of databases `a` and `b`.
    pub fn swapdb(&self, a: usize, b: usize) -> Result<()> {
        let idx = |i: usize| i64::try_from(i).unwrap_or(i64::MAX);
        let r = self.write_typed(
            |acc| swapdb(acc, idx(a), idx(b)),
            |_, _| propagate::one([&b"SWAPDB"[..], a.to_string().as_bytes(), b.to_string().as_bytes()]),
        );
        self.serve_blocked(r)
    }

    /// MOVE: moves `key` to database `db`; false if it is missing here or exists there.
    pub fn move_key(&self, key: impl AsRef<[u8]>, db: usize) -> Result<bool> {
        let key = key.as_ref();
        let r = self.write_typed(
            |acc| move_key(acc, key, i64::try_from(db).unwrap_or(i64::MAX)),
            |_, _| propagate::one([&b"MOVE"[..], key, db.to_string().as_bytes()]),
        );
        self.serve_blocked(r)
    }

    /// COPY: copies `src` to `dst` (optionally into another database, optionally replacing
    /// it); false if `src` is missing or `dst` exists without `replace`.
    pub fn copy(&self, src: impl AsRef<[u8]>, dst: impl AsRef<[u8]>, opts: CopyOptions) -> Result<bool> {
        let db = opts.db.map(|d| i64::try_from(d).unwrap_or(i64::MAX));
        let (src, dst) = (src.as_ref(), dst.as_ref());
        let r = self.write_typed(
            |acc| copy(acc, src, dst, db, opts.replace),
            |_, _| {
                let mut parts = propagate::args([&b"COPY"[..], src, dst]);
                if let Some(d) = opts.db {
                    parts.extend(propagate::args([b"DB".to_vec(), d.to_string().into_bytes()]));
                }
                if opts.replace {
                    parts.push(b"REPLACE".to_vec());
                }
                vec![parts]
            },
        );
        self.serve_blocked(r)
    }

    /// OBJECT ENCODING: `"int"`, `"embstr"`, `"raw"`, ...; `None` for a missing key.
    pub fn object_encoding(&self, key: impl AsRef<[u8]>) -> Option<&'static str> {
        object_encoding(&self.access(), key.as_ref())
    }

    /// OBJECT IDLETIME: seconds since the key was last accessed.
    pub fn object_idletime(&self, key: impl AsRef<[u8]>) -> Result<Option<i64>> {
        object_idletime(&self.access(), key.as_ref())
    }

    /// OBJECT FREQ: the key's logarithmic access frequency (LFU policies only).
    pub fn object_freq(&self, key: impl AsRef<[u8]>) -> Result<Option<i64>> {
        object_freq(&self.access(), key.as_ref())
    }

    /// OBJECT REFCOUNT.
    pub fn object_refcount(&self, key: impl AsRef<[u8]>) -> Option<i64> {
        object_refcount(&self.access(), key.as_ref())
    }
}
