//! Strings: the typed API and the access-level operations of the string family.
//!
//! Every command of the family (GET SET SETNX SETEX PSETEX GETEX GETDEL GETSET MGET MSET
//! MSETNX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SETRANGE SUBSTR LCS) is
//! an access-level function here (`fn op(acc: &Access<'_>, ...) -> Result<T>`) that both the
//! command handler in [`crate::commands::strings`] and the `impl Database` method call, so
//! the wire protocol and the Rust API cannot disagree.
//!
//! Pure helpers hold the parts of Redis's semantics that need no key at all
//! ([`getrange_slice`], [`lcs_compute`]) and [`long_double`] reproduces INCRBYFLOAT's C
//! `long double` arithmetic and formatting.
//!
//! Encodings follow Redis: SET/MSET/GETSET/APPEND-on-a-new-key store canonical integers as
//! `Value::Int`; strings modified in place (APPEND, SETRANGE and the bitmap commands) are
//! flagged `META_RAW`; INCRBYFLOAT stores a fresh `embstr`.
use crate::access::Access;
use crate::access::MultiShard;
use crate::bytes::SmallBytes;
use crate::clock::COARSE_LAG_MS;
use crate::db::Database;
use crate::dict::Node;
use crate::error::{Error, Result};
use crate::keyspace::{KeyHash, Lookup, Shard, META_EXPIRE, META_RAW};
use crate::notify;
use crate::propagate;
use crate::value::Value;
use parking_lot::{MappedRwLockReadGuard, RwLockReadGuard};
use std::sync::atomic::Ordering::Relaxed;

pub use crate::long_double::LongDouble;

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

/// What GETEX does with the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GetExExpiry {
    /// No option: a plain read.
    #[default]
    Keep,
    /// PERSIST: remove the TTL.
    Persist,
    /// EX/PX/EXAT/PXAT resolved to an absolute Unix time in ms. A deadline that is not in
    /// the future deletes the key (after its value was read), as Redis does for EXAT/PXAT.
    At(i64),
}

/// One matching range of LCS IDX: `a` and `b` are inclusive byte ranges in the two strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcsMatch {
    /// Range in the first string.
    pub a: (usize, usize),
    /// Range in the second string.
    pub b: (usize, usize),
    /// Length of the range.
    pub len: usize,
}

/// The result of an LCS computation (which parts are filled depends on what was asked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lcs {
    /// The longest common subsequence (empty unless requested).
    pub string: Vec<u8>,
    /// Its length.
    pub len: usize,
    /// The matching ranges, last ones first, as Redis emits them (empty unless requested).
    pub matches: Vec<LcsMatch>,
}

/// The smallest value `proto-max-bulk-len` accepts: a length up to this never needs a look at
/// the configuration (keeps the lock off the path of ordinary APPEND/SETRANGE/SETBIT).
const MIN_PROTO_MAX_BULK_LEN: u64 = 1024 * 1024;

/// The configured `proto-max-bulk-len` (the largest string a client may build).
pub(crate) fn proto_max_bulk_len(acc: &Access<'_>) -> u64 {
    acc.inner.tunables.get(crate::config::Tunable::ProtoMaxBulkLen).max(0) as u64
}

/// Redis's `checkStringLength`: fails when a string would grow to `len` bytes past
/// `proto-max-bulk-len` (`None` = the length computation overflowed).
pub(crate) fn check_string_length(acc: &Access<'_>, len: Option<u64>) -> Result<()> {
    match len {
        Some(l) if l <= MIN_PROTO_MAX_BULK_LEN || l <= proto_max_bulk_len(acc) => Ok(()),
        _ => Err(Error::StringTooLong),
    }
}

/// True when a bit offset addresses a byte at or past `proto-max-bulk-len` (Redis's limit
/// for SETBIT/GETBIT/BITFIELD offsets).
pub(crate) fn bit_offset_too_large(acc: &Access<'_>, bit_offset: u64) -> bool {
    let byte = bit_offset >> 3;
    byte >= MIN_PROTO_MAX_BULK_LEN && byte >= proto_max_bulk_len(acc)
}

/// Moves the bytes of a string value out so the caller can modify them and store them back
/// with [`put_raw`]. Other types: WRONGTYPE, and the value is left untouched.
pub(crate) fn take_bytes(value: &mut Value) -> Result<Vec<u8>> {
    match value {
        Value::Str(s) => Ok(std::mem::take(s).into_vec()),
        other => other.as_str().map(|s| s.to_vec()).ok_or(Error::WrongType),
    }
}

/// Stores bytes modified in place (Redis's `dbUnshareStringValue` + edit): the value becomes
/// a plain string flagged `raw`, whatever its encoding was.
pub(crate) fn put_raw(node: &mut Node<Value>, bytes: Vec<u8>) {
    node.value = Value::Str(SmallBytes::from_vec(bytes));
    node.meta.fetch_or(META_RAW, Relaxed);
}

/// Length of a string value (`None` for other types) without building its bytes.
pub(crate) fn string_len(value: &Value) -> Option<usize> {
    match value {
        Value::Str(s) => Some(s.len()),
        Value::Int(i) => Some(int_len(*i)),
        _ => None,
    }
}

/// Digits (and sign) of an integer in decimal.
fn int_len(i: i64) -> usize {
    let digits = i.unsigned_abs().checked_ilog10().map_or(1, |d| d as usize + 1);
    digits + usize::from(i < 0)
}

/// Publishes the keyspace events of a string write, after the shard lock is released: `new`
/// when the write created the key (Redis's `dbAdd`), then the command's `event` (class `$`).
pub(crate) fn notify_string(acc: &Access<'_>, key: &[u8], created: bool, event: &str) {
    if created {
        acc.notify(notify::NEW, "new", key);
    }
    acc.notify(notify::STRING, event, key);
}

/// SET at the access level (shared by [`Database::set_with`] and SET, SETNX, SETEX, PSETEX,
/// GETSET). Events: `new` (created), `set`, and `expire` with a deadline.
pub fn set(acc: &Access<'_>, key: &[u8], value: Value, opts: SetOptions) -> Result<SetOutcome> {
    let (outcome, created) = acc.write(key, |shard, h| {
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
            return Ok((SetOutcome { written: false, old }, false));
        }
        // The entry found above is reused: a SET looks the key up once (plus the insertion
        // of a new key), not again for each step.
        match (opts.expiry, existing) {
            // Fast path: overwrite in place, no reallocation of the node.
            (SetExpiry::Clear, Some(n)) if n.meta.load(Relaxed) & META_EXPIRE == 0 => {
                n.meta.fetch_and(!META_RAW, Relaxed);
                crate::lazyfree::server_del(acc.inner, Some(std::mem::replace(&mut n.value, value)));
            }
            (SetExpiry::Keep, _) => {
                crate::lazyfree::server_del(acc.inner, shard.set_keep_ttl(h, key, value, now));
            }
            (SetExpiry::Clear, _) => {
                crate::lazyfree::server_del(acc.inner, shard.set(h, key, value, None, now));
            }
            (SetExpiry::At(when), _) => {
                crate::lazyfree::server_del(acc.inner, shard.set(h, key, value, Some(when), now));
            }
        }
        acc.add_dirty(1);
        Ok((SetOutcome { written: true, old }, !exists))
    })?;
    if outcome.written {
        notify_string(acc, key, created, "set");
        if let SetExpiry::At(_) = opts.expiry {
            acc.notify(notify::GENERIC, "expire", key);
        }
    }
    Ok(outcome)
}

/// Reads a string value: `Ok(None)` when missing, WRONGTYPE for other types.
pub fn get(acc: &Access<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    acc.read(key, |n| match n {
        None => Ok(None),
        Some(n) => n.value.as_str().map(|s| Some(s.to_vec())).ok_or(Error::WrongType),
    })
}

/// Runs `f` on the bytes of a string value in place (no copy): `Ok(None)` when missing,
/// WRONGTYPE for other types.
pub fn get_with<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
    acc.read(key, |n| str_with(n, f))
}

#[inline]
fn str_with<R>(n: Option<&Node<Value>>, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
    match n.map(|n| &n.value) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(f(s.as_slice()))),
        Some(Value::Int(i)) => Ok(Some(f(&crate::value::StrRef::int(*i)))),
        Some(_) => Err(Error::WrongType),
    }
}

/// The typed API's read of one key: [`Access::read`] without reading the exact wall clock
/// when it does not matter.
///
/// A read needs the time for two things: deciding whether the key's deadline has passed,
/// and refreshing its LRU clock (seconds). The exact clock is the largest cost of a GET of
/// a hot key, so this reads [`Clock::coarse_ms`](crate::Clock::coarse_ms) instead, which is
/// never ahead of the exact time and at most [`COARSE_LAG_MS`] behind it: a key without a
/// deadline, or whose deadline is more than that margin away, is decided exactly by it.
/// Everything else (a deadline near or past, a transaction's held locks, a contended shard,
/// which must be waited for busy-script-aware) goes through `Access::read` at the exact
/// time, so the result is always what `Access::read` would return. Hits and misses are
/// counted once either way.
#[inline]
pub(crate) fn read_typed<R>(db: &Database, key: &[u8], f: impl FnOnce(Option<&Node<Value>>) -> R) -> R {
    match fast_read(db, key) {
        FastRead::Hit(node) => f(Some(&node)),
        FastRead::Miss => f(None),
        FastRead::Slow => db.access().read(key, f),
    }
}

/// What [`fast_read`] found.
enum FastRead<'a> {
    /// The live entry, its shard read-locked while the guard lives.
    Hit(MappedRwLockReadGuard<'a, Node<Value>>),
    /// No such key.
    Miss,
    /// Not decided here: ask `Access::read` at the exact time.
    Slow,
}

/// The part of [`read_typed`] that does not depend on the caller's closure, compiled once
/// here (so the lookup is inlined into it) rather than in every caller's crate.
fn fast_read<'a>(db: &'a Database, key: &[u8]) -> FastRead<'a> {
    if db.held.is_some() {
        return FastRead::Slow;
    }
    let inner = &*db.inner;
    let coarse = inner.clock.coarse_ms();
    let acc = Access::new(inner, db.index, coarse);
    let h = acc.hash(key);
    let Some(shard) = acc.keyspace().shard(h).try_read() else { return FastRead::Slow };
    let mut missing = false;
    let found = RwLockReadGuard::try_map(shard, |shard| match shard.lookup(h, key, coarse) {
        Lookup::Missing => {
            missing = true;
            None
        }
        Lookup::Live(n)
            if n.meta.load(Relaxed) & META_EXPIRE == 0
                || shard.deadline(n, h.dict()).is_some_and(|when| when > coarse.saturating_add(COARSE_LAG_MS)) =>
        {
            Some(n)
        }
        _ => None,
    });
    match found {
        Ok(node) => {
            inner.stats.keyspace_hits.fetch_add(1, Relaxed);
            FastRead::Hit(node)
        }
        Err(_) if missing => {
            inner.stats.keyspace_misses.fetch_add(1, Relaxed);
            FastRead::Miss
        }
        Err(_) => FastRead::Slow,
    }
}

/// GETDEL at the access level: the value, and the key is gone.
pub fn getdel(acc: &Access<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let value = acc.write(key, |shard, h| {
        let Some(node) = shard.get_mut(h, key, acc.now) else { return Ok(None) };
        let bytes = node.value.as_str().ok_or(Error::WrongType)?.to_vec();
        shard.remove(h, key);
        acc.add_dirty(1);
        Ok(Some(bytes))
    })?;
    if value.is_some() {
        acc.notify(notify::GENERIC, "del", key);
    }
    Ok(value)
}

/// GETEX at the access level. `expiry` is resolved only once the key is known to hold a
/// string, because Redis validates the expire argument after the lookup (a missing key
/// replies nil even with an invalid time); it receives the operation's time.
pub fn getex_with(
    acc: &Access<'_>,
    key: &[u8],
    expiry: impl FnOnce(i64) -> Result<GetExExpiry>,
) -> Result<Option<Vec<u8>>> {
    let (value, event) = acc.write(key, |shard, h| {
        let now = acc.now;
        let Some(node) = shard.get_mut(h, key, now) else { return Ok((None, None)) };
        let bytes = node.value.as_str().ok_or(Error::WrongType)?.to_vec();
        let event = match expiry(now)? {
            GetExExpiry::Keep => None,
            GetExExpiry::At(when) if when <= now => {
                shard.remove(h, key);
                Some("del")
            }
            GetExExpiry::At(when) => {
                shard.set_expire(h, key, when);
                Some("expire")
            }
            GetExExpiry::Persist => shard.persist(h, key).then_some("persist"),
        };
        if event.is_some() {
            acc.add_dirty(1);
        }
        Ok((Some(bytes), event))
    })?;
    if let Some(event) = event {
        acc.notify(notify::GENERIC, event, key);
    }
    Ok(value)
}

/// GETSET at the access level: stores `value` (clearing any TTL) and returns the old string.
pub fn getset(acc: &Access<'_>, key: &[u8], value: Value) -> Result<Option<Vec<u8>>> {
    let opts = SetOptions { get: true, ..SetOptions::default() };
    set(acc, key, value, opts).map(|o| o.old)
}

/// MGET at the access level: calls `f` once per key, in order, with the string stored there
/// (`None` for missing keys and for keys of other types). All keys are read under their
/// shard locks at once, so a concurrent MSET is seen entirely or not at all.
pub fn mget_with(acc: &Access<'_>, keys: &[&[u8]], mut f: impl FnMut(Option<&[u8]>)) {
    acc.read_many(keys, |m| {
        for key in keys {
            let h = acc.hash(key);
            match m.get(h, key).and_then(|n| n.value.as_str()) {
                Some(s) => f(Some(&s)),
                None => f(None),
            }
        }
    })
}

/// Stores every pair (clearing TTLs) under already-locked shards; which keys were created.
fn store_pairs(acc: &Access<'_>, m: &mut MultiShard<'_>, pairs: &[(&[u8], &[u8])]) -> Vec<bool> {
    pairs
        .iter()
        .map(|(key, value)| {
            let h = acc.hash(key);
            let shard = m.shard(h);
            // An expired key is deleted first (an `expired` event), then created anew.
            shard.expire_if_needed(h, key, acc.now);
            shard.set(h, key, Value::string(value), None, acc.now).is_none()
        })
        .collect()
}

fn notify_pairs(acc: &Access<'_>, pairs: &[(&[u8], &[u8])], created: &[bool]) {
    for ((key, _), created) in pairs.iter().zip(created) {
        notify_string(acc, key, *created, "set");
    }
}

/// MSET at the access level: stores every pair atomically (clearing TTLs); a key given twice
/// ends with its last value.
pub fn mset(acc: &Access<'_>, pairs: &[(&[u8], &[u8])]) {
    let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| *k).collect();
    let created = acc.write_many(&keys, |m| {
        // Under the locks: `write_many` flags the watchers of every key.
        acc.add_dirty(pairs.len() as u64);
        store_pairs(acc, m, pairs)
    });
    notify_pairs(acc, pairs, &created);
}

/// MSETNX at the access level: stores every pair only if none of the keys exists (of any
/// type); true if it did.
pub fn msetnx(acc: &Access<'_>, pairs: &[(&[u8], &[u8])]) -> bool {
    let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| *k).collect();
    let created = acc.write_many(&keys, |m| {
        for key in &keys {
            let h = acc.hash(key);
            if m.shard(h).contains(h, key, acc.now) {
                return None;
            }
        }
        acc.add_dirty(pairs.len() as u64);
        Some(store_pairs(acc, m, pairs))
    });
    let Some(created) = created else { return false };
    notify_pairs(acc, pairs, &created);
    true
}

/// APPEND at the access level: the new length. A new key stores `value` as SET would; an
/// existing string grows in place (`raw` encoding), within `proto-max-bulk-len`.
pub fn append(acc: &Access<'_>, key: &[u8], value: &[u8]) -> Result<usize> {
    let (len, created) = acc.write(key, |shard, h| {
        let r = match shard.get_mut(h, key, acc.now) {
            None => {
                shard.set(h, key, Value::string(value), None, acc.now);
                (value.len(), true)
            }
            Some(node) => {
                let old_len = string_len(&node.value).ok_or(Error::WrongType)?;
                check_string_length(acc, (old_len as u64).checked_add(value.len() as u64))?;
                let mut bytes = take_bytes(&mut node.value)?;
                // Exact growth: the value is stored back as an exact-size buffer anyway.
                bytes.reserve_exact(value.len());
                bytes.extend_from_slice(value);
                let len = bytes.len();
                put_raw(node, bytes);
                (len, false)
            }
        };
        acc.add_dirty(1);
        Ok(r)
    })?;
    notify_string(acc, key, created, "append");
    Ok(len)
}

/// STRLEN at the access level (0 for a missing key).
pub fn strlen(acc: &Access<'_>, key: &[u8]) -> Result<usize> {
    acc.read(key, |n| match n {
        None => Ok(0),
        Some(n) => string_len(&n.value).ok_or(Error::WrongType),
    })
}

/// INCRBY at the access level; returns the new value. The key keeps its TTL.
pub fn incr_by(acc: &Access<'_>, key: &[u8], delta: i64) -> Result<i64> {
    let (new, created) = acc.write(key, |shard, h| {
        let now = acc.now;
        let r = match shard.get_mut(h, key, now) {
            Some(n) => {
                let cur = match &n.value {
                    Value::Int(i) => *i,
                    Value::Str(s) => ferrous_resp::parse_i64(s).ok_or(Error::NotInteger)?,
                    _ => return Err(Error::WrongType),
                };
                let new = cur.checked_add(delta).ok_or(Error::Overflow)?;
                n.value = Value::Int(new);
                n.meta.fetch_and(!META_RAW, Relaxed);
                (new, false)
            }
            None => {
                shard.set(h, key, Value::Int(delta), None, now);
                (delta, true)
            }
        };
        acc.add_dirty(1);
        Ok(r)
    })?;
    notify_string(acc, key, created, "incrby");
    Ok(new)
}

/// INCRBYFLOAT at the access level: adds `incr` (text, parsed as C's `strtold` would) to the
/// number stored at `key` in `long double` precision and stores and returns the result
/// formatted as Redis does (`%.17Lf`, trailing zeros removed). The key keeps its TTL.
pub fn incr_by_float(acc: &Access<'_>, key: &[u8], incr: &[u8]) -> Result<Vec<u8>> {
    let (text, created) = acc.write(key, |shard, h| {
        let now = acc.now;
        let node = shard.get_mut(h, key, now);
        let current = match &node {
            None => LongDouble::ZERO,
            Some(n) => match &n.value {
                Value::Int(i) => LongDouble::from_i64(*i),
                Value::Str(s) => LongDouble::parse(s).ok_or(Error::NotFloat)?,
                _ => return Err(Error::WrongType),
            },
        };
        let incr = LongDouble::parse(incr).ok_or(Error::NotFloat)?;
        let sum = current.checked_add(incr).filter(|v| !v.is_infinite()).ok_or(Error::NanOrInfinity)?;
        let text = sum.to_human_string().into_bytes();
        // Redis stores a fresh string object (`embstr`), never an integer encoding.
        let value = Value::Str(SmallBytes::new(&text));
        let created = match node {
            Some(n) => {
                n.value = value;
                n.meta.fetch_and(!META_RAW, Relaxed);
                false
            }
            None => {
                shard.set(h, key, value, None, now);
                true
            }
        };
        acc.add_dirty(1);
        Ok((text, created))
    })?;
    notify_string(acc, key, created, "incrbyfloat");
    Ok(text)
}

/// The part of a string GETRANGE returns, with Redis 7.0's index rules: negative indexes
/// count from the end, both ends are clamped, a range with both ends negative and
/// `start > end` is empty.
pub fn getrange_slice(s: &[u8], start: i64, end: i64) -> &[u8] {
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { (len + end).max(0) } else { end };
    let end = end.min(len - 1);
    if start > end || len == 0 {
        return &[];
    }
    &s[start as usize..=end as usize]
}

/// GETRANGE at the access level (empty for a missing key).
pub fn getrange(acc: &Access<'_>, key: &[u8], start: i64, end: i64) -> Result<Vec<u8>> {
    acc.read(key, |n| match n {
        None => Ok(Vec::new()),
        Some(n) => Ok(getrange_slice(&n.value.as_str().ok_or(Error::WrongType)?, start, end).to_vec()),
    })
}

/// SETRANGE at the access level: overwrites bytes from `offset` (zero-padding as needed) and
/// returns the new length. An empty `value` changes nothing (and creates no key).
pub fn setrange(acc: &Access<'_>, key: &[u8], offset: i64, value: &[u8]) -> Result<usize> {
    if offset < 0 {
        return Err(Error::OffsetOutOfRange);
    }
    let offset = offset as u64;
    let new_len = offset.checked_add(value.len() as u64);
    let (len, created) = acc.write(key, |shard, h| {
        let now = acc.now;
        let r = match shard.get_mut(h, key, now) {
            None => {
                if value.is_empty() {
                    return Ok((0, None));
                }
                check_string_length(acc, new_len)?;
                let mut bytes = vec![0u8; new_len.unwrap_or(0) as usize];
                bytes[offset as usize..].copy_from_slice(value);
                let len = bytes.len();
                set_raw(shard, h, key, bytes, now);
                (len, Some(true))
            }
            Some(node) => {
                let old_len = string_len(&node.value).ok_or(Error::WrongType)?;
                if value.is_empty() {
                    return Ok((old_len, None));
                }
                check_string_length(acc, new_len)?;
                let mut bytes = take_bytes(&mut node.value)?;
                let end = new_len.unwrap_or(0) as usize;
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[offset as usize..end].copy_from_slice(value);
                let len = bytes.len();
                put_raw(node, bytes);
                (len, Some(false))
            }
        };
        acc.add_dirty(1);
        Ok(r)
    })?;
    if let Some(created) = created {
        notify_string(acc, key, created, "setrange");
    }
    Ok(len)
}

/// Stores a new `raw` string under `key`, replacing anything there and its TTL (SETRANGE
/// on a new key, BITOP, the bit commands); true if the key did not exist.
pub(crate) fn set_raw(shard: &mut Shard, h: KeyHash, key: &[u8], bytes: Vec<u8>, now: i64) -> bool {
    shard.expire_if_needed(h, key, now);
    let created = shard.set(h, key, Value::Str(SmallBytes::from_vec(bytes)), None, now).is_none();
    if let Some(n) = shard.get_mut(h, key, now) {
        n.meta.fetch_or(META_RAW, Relaxed);
    }
    created
}

/// The two strings LCS compares (missing keys are empty strings). Both keys are read at once.
pub fn lcs_inputs(acc: &Access<'_>, a: &[u8], b: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    acc.write_many(&[a, b], |m| {
        let mut read = |key: &[u8]| -> Result<Vec<u8>> {
            let h = acc.hash(key);
            match m.shard(h).get_mut(h, key, acc.now) {
                None => Ok(Vec::new()),
                Some(n) => n
                    .value
                    .as_str()
                    .map(|s| s.to_vec())
                    .ok_or(Error::msg("ERR The specified keys must contain string values")),
            }
        };
        let va = read(a);
        let vb = read(b);
        Ok((va?, vb?))
    })
}

/// What [`lcs_compute`] should produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LcsWants {
    /// The subsequence itself.
    pub string: bool,
    /// The matching ranges (IDX).
    pub idx: bool,
    /// Only ranges at least this long are reported (MINMATCHLEN).
    pub min_match_len: u64,
}

/// Redis's LCS: the dynamic-programming table of LCS lengths, then a walk back from the end
/// collecting the subsequence and its contiguous matching ranges. `max_table_bytes` is
/// `proto-max-bulk-len`, which Redis also uses to cap the table's transient memory.
pub fn lcs_compute(a: &[u8], b: &[u8], wants: LcsWants, max_table_bytes: u64) -> Result<Lcs> {
    if a.len() as u64 >= u64::from(u32::MAX - 1) || b.len() as u64 >= u64::from(u32::MAX - 1) {
        return Err(Error::msg("ERR String too long for LCS"));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > max_table_bytes {
        return Err(Error::msg("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(Error::msg("ERR Insufficient memory, failed allocating transient memory for LCS"));
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[alen * w + blen] as usize;
    let mut out = Lcs { len: total, ..Lcs::default() };
    if !(wants.string || wants.idx) {
        return Ok(out);
    }
    let mut string = vec![0u8; total];
    let mut idx = total;
    // `arange_start == alen` means "no range open", as in Redis.
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) = (alen, 0, 0, 0);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            string[idx - 1] = a[i - 1];
            if arange_start == alen {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = j - 1;
                brange_end = j - 1;
            } else if arange_start == i && brange_start == j {
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit = true;
            }
            if arange_start == 0 || brange_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if arange_start != alen {
                emit = true;
            }
        }
        if emit {
            let len = arange_end - arange_start + 1;
            if wants.idx && (wants.min_match_len == 0 || len as u64 >= wants.min_match_len) {
                out.matches.push(LcsMatch { a: (arange_start, arange_end), b: (brange_start, brange_end), len });
            }
            arange_start = alen;
        }
    }
    if wants.string {
        out.string = string;
    }
    Ok(out)
}

/// How a SET with these options propagates: a relative or absolute expiry as `PXAT`
/// (Redis's rewrite), KEEPTTL kept, no NX/XX/GET (propagated only when it wrote).
fn set_form(key: &[u8], value: &[u8], expiry: SetExpiry) -> Vec<Vec<Vec<u8>>> {
    match expiry {
        SetExpiry::At(when) => propagate::one([&b"SET"[..], key, value, b"PXAT", when.to_string().as_bytes()]),
        SetExpiry::Keep => propagate::one([&b"SET"[..], key, value, b"KEEPTTL"]),
        SetExpiry::Clear => propagate::one([&b"SET"[..], key, value]),
    }
}

impl Database {
    /// `SET key value`.
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.set_with(key, value, SetOptions::default()).map(|_| ())
    }

    /// `SET` with options (NX/XX, EX/PX/EXAT/PXAT/KEEPTTL, GET).
    ///
    /// ```
    /// use ferrous_core::{Database, SetOptions, SetCondition};
    /// let db = Database::new();
    /// let nx = SetOptions { condition: SetCondition::IfMissing, ..Default::default() };
    /// assert!(db.set_with("k", "a", nx).unwrap().written);
    /// assert!(!db.set_with("k", "b", nx).unwrap().written);
    /// ```
    pub fn set_with(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: SetOptions) -> Result<SetOutcome> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.write_typed(|acc| set(acc, key, Value::string(value), opts), |_, _| set_form(key, value, opts.expiry))
    }

    /// `SETNX key value`: sets only if the key does not exist; true if it did.
    pub fn setnx(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        let opts = SetOptions { condition: SetCondition::IfMissing, ..SetOptions::default() };
        Ok(self.set_with(key, value, opts)?.written)
    }

    /// `SETEX key seconds value`. `seconds` must be positive
    /// (`ERR invalid expire time in 'setex' command`).
    pub fn setex(&self, key: impl AsRef<[u8]>, seconds: i64, value: impl AsRef<[u8]>) -> Result<()> {
        let ms = seconds.checked_mul(1000).filter(|_| seconds > 0).ok_or(Error::InvalidExpireTime("setex"))?;
        self.set_with_ttl_ms(key.as_ref(), ms, value.as_ref(), "setex")
    }

    /// `PSETEX key milliseconds value`. `milliseconds` must be positive.
    pub fn psetex(&self, key: impl AsRef<[u8]>, milliseconds: i64, value: impl AsRef<[u8]>) -> Result<()> {
        if milliseconds <= 0 {
            return Err(Error::InvalidExpireTime("psetex"));
        }
        self.set_with_ttl_ms(key.as_ref(), milliseconds, value.as_ref(), "psetex")
    }

    fn set_with_ttl_ms(&self, key: &[u8], ms: i64, value: &[u8], cmd: &'static str) -> Result<()> {
        // The deadline from the write's own time reading, as SETEX's command does.
        let at = |now: i64| now.checked_add(ms).ok_or(Error::InvalidExpireTime(cmd));
        self.write_typed(
            |acc| {
                let opts = SetOptions { expiry: SetExpiry::At(at(acc.now)?), ..SetOptions::default() };
                set(acc, key, Value::string(value), opts).map(|_| ())
            },
            |acc, _| at(acc.now).map(|when| set_form(key, value, SetExpiry::At(when))).unwrap_or_default(),
        )
    }

    /// `GET key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        read_typed(self, key.as_ref(), |n| str_with(n, <[u8]>::to_vec))
    }

    /// `GET key` without a copy: runs `f` on the value's bytes where they are stored and
    /// returns what it returns (`Ok(None)`: no such key; WRONGTYPE for other types).
    ///
    /// `f` runs while the key's shard is read-locked: keep it short, and do not call this
    /// database from inside it (a write to the same shard would wait for the lock forever).
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.set("greeting", "hello").unwrap();
    /// assert_eq!(db.get_with("greeting", |v| v.len()).unwrap(), Some(5));
    /// assert_eq!(db.get_with("greeting", |v| v.starts_with(b"he")).unwrap(), Some(true));
    /// assert_eq!(db.get_with("nokey", |v| v.len()).unwrap(), None);
    /// ```
    pub fn get_with<R>(&self, key: impl AsRef<[u8]>, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        read_typed(self, key.as_ref(), |n| str_with(n, f))
    }

    /// `GETDEL key`: returns the value and deletes the key.
    pub fn getdel(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        self.write_typed(
            |acc| getdel(acc, key),
            |acc, _| propagate::one([propagate::del_word(acc.inner, "lazyfree-lazy-user-del"), key]),
        )
    }

    /// `GETEX key [EX|PX|EXAT|PXAT|PERSIST]`: returns the value and changes its TTL.
    ///
    /// ```
    /// use ferrous_core::{Database, strings::GetExExpiry};
    /// let db = Database::new();
    /// db.setex("k", 100, "v").unwrap();
    /// assert_eq!(db.getex("k", GetExExpiry::Persist).unwrap(), Some(b"v".to_vec()));
    /// assert_eq!(db.getex("nokey", GetExExpiry::Keep).unwrap(), None);
    /// ```
    pub fn getex(&self, key: impl AsRef<[u8]>, expiry: GetExExpiry) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        self.write_typed(
            |acc| getex_with(acc, key, |_| Ok(expiry)),
            // As GETEX: the TTL change alone (a deadline already past deleted the key).
            |acc, _| match expiry {
                GetExExpiry::At(when) if when <= acc.now => {
                    propagate::one([propagate::del_word(acc.inner, "lazyfree-lazy-expire"), key])
                }
                GetExExpiry::At(when) => propagate::one([&b"PEXPIREAT"[..], key, when.to_string().as_bytes()]),
                GetExExpiry::Persist => propagate::one([&b"PERSIST"[..], key]),
                GetExExpiry::Keep => Vec::new(),
            },
        )
    }

    /// `GETSET key value`: stores `value` (removing any TTL) and returns the old value.
    pub fn getset(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.write_typed(|acc| getset(acc, key, Value::string(value)), |_, _| propagate::one([&b"SET"[..], key, value]))
    }

    /// `MGET key [key ...]`: one entry per key, `None` for missing keys and non-strings.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.mset(&[("a", "1"), ("b", "2")]);
    /// assert_eq!(db.mget(&["a", "nokey", "b"]), vec![Some(b"1".to_vec()), None, Some(b"2".to_vec())]);
    /// ```
    pub fn mget<K: AsRef<[u8]>>(&self, keys: &[K]) -> Vec<Option<Vec<u8>>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        let mut out = Vec::with_capacity(keys.len());
        mget_with(&self.access(), &keys, |v| out.push(v.map(<[u8]>::to_vec)));
        out
    }

    /// `MSET key value [key value ...]`, atomically.
    pub fn mset<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, pairs: &[(K, V)]) {
        let pairs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        self.write_typed(
            |acc| mset(acc, &pairs),
            |_, _| propagate::with_list(&[b"MSET"], pairs.iter().flat_map(|(k, v)| [*k, *v])),
        )
    }

    /// `MSETNX key value [key value ...]`: sets all or nothing (if any key exists); true if
    /// it set them.
    pub fn msetnx<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, pairs: &[(K, V)]) -> bool {
        let pairs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        self.write_typed(
            |acc| msetnx(acc, &pairs),
            |_, _| propagate::with_list(&[b"MSETNX"], pairs.iter().flat_map(|(k, v)| [*k, *v])),
        )
    }

    /// `APPEND key value`: returns the new length.
    pub fn append(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<usize> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.write_typed(|acc| append(acc, key, value), |_, _| propagate::one([&b"APPEND"[..], key, value]))
    }

    /// `STRLEN key` (0 for a missing key).
    pub fn strlen(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        strlen(&self.access(), key.as_ref())
    }

    /// `INCRBY key delta`; returns the new value.
    pub fn incr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let key = key.as_ref();
        self.write_typed(
            |acc| incr_by(acc, key, delta),
            |_, _| propagate::one([&b"INCRBY"[..], key, delta.to_string().as_bytes()]),
        )
    }

    /// `INCR key`.
    pub fn incr(&self, key: impl AsRef<[u8]>) -> Result<i64> {
        self.incr_by(key, 1)
    }

    /// `DECR key`.
    pub fn decr(&self, key: impl AsRef<[u8]>) -> Result<i64> {
        self.incr_by(key, -1)
    }

    /// `DECRBY key delta` (`ERR decrement would overflow` for `i64::MIN`).
    pub fn decr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let delta = delta.checked_neg().ok_or(Error::msg("ERR decrement would overflow"))?;
        self.incr_by(key, delta)
    }

    /// `INCRBYFLOAT key increment`; returns the new value.
    ///
    /// The increment is sent the way a client would send it (its shortest decimal form),
    /// and the arithmetic is Redis's 80-bit `long double`, so `0.1 + 0.2` stores `"0.3"`.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.incr_by_float("f", 0.1).unwrap();
    /// assert_eq!(db.incr_by_float("f", 0.2).unwrap(), 0.3);
    /// assert_eq!(db.get("f").unwrap(), Some(b"0.3".to_vec()));
    /// ```
    pub fn incr_by_float(&self, key: impl AsRef<[u8]>, incr: f64) -> Result<f64> {
        if incr.is_nan() {
            return Err(Error::NotFloat);
        }
        let text =
            if incr.is_infinite() { if incr > 0.0 { "inf" } else { "-inf" }.to_string() } else { format!("{incr:e}") };
        let key = key.as_ref();
        let out = self.write_typed(
            |acc| incr_by_float(acc, key, text.as_bytes()),
            // The result, not the increment, as INCRBYFLOAT propagates.
            |_, r| r.as_ref().map(|v| propagate::one([&b"SET"[..], key, v, b"KEEPTTL"])).unwrap_or_default(),
        )?;
        Ok(std::str::from_utf8(&out).ok().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN))
    }

    /// `GETRANGE key start end` (inclusive, negative indexes from the end).
    pub fn getrange(&self, key: impl AsRef<[u8]>, start: i64, end: i64) -> Result<Vec<u8>> {
        getrange(&self.access(), key.as_ref(), start, end)
    }

    /// `SETRANGE key offset value`: returns the new length.
    pub fn setrange(&self, key: impl AsRef<[u8]>, offset: i64, value: impl AsRef<[u8]>) -> Result<usize> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.write_typed(
            |acc| setrange(acc, key, offset, value),
            |_, _| propagate::one([&b"SETRANGE"[..], key, offset.to_string().as_bytes(), value]),
        )
    }

    /// `LCS key1 key2`: the longest common subsequence of two strings.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.mset(&[("a", "ohmytext"), ("b", "mynewtext")]);
    /// assert_eq!(db.lcs("a", "b").unwrap(), b"mytext".to_vec());
    /// ```
    pub fn lcs(&self, key1: impl AsRef<[u8]>, key2: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let wants = LcsWants { string: true, ..LcsWants::default() };
        Ok(self.lcs_with(key1.as_ref(), key2.as_ref(), wants)?.string)
    }

    /// `LCS key1 key2 LEN`.
    pub fn lcs_len(&self, key1: impl AsRef<[u8]>, key2: impl AsRef<[u8]>) -> Result<usize> {
        Ok(self.lcs_with(key1.as_ref(), key2.as_ref(), LcsWants::default())?.len)
    }

    /// `LCS key1 key2 IDX [MINMATCHLEN n]`: the matching ranges (last first) and the length.
    pub fn lcs_idx(&self, key1: impl AsRef<[u8]>, key2: impl AsRef<[u8]>, min_match_len: u64) -> Result<Lcs> {
        let wants = LcsWants { idx: true, min_match_len, ..LcsWants::default() };
        self.lcs_with(key1.as_ref(), key2.as_ref(), wants)
    }

    fn lcs_with(&self, key1: &[u8], key2: &[u8], wants: LcsWants) -> Result<Lcs> {
        let acc = self.access();
        let (a, b) = lcs_inputs(&acc, key1, key2)?;
        lcs_compute(&a, &b, wants, proto_max_bulk_len(&acc))
    }
}

#[cfg(test)]
mod typed_read_tests {
    use crate::{Database, ManualClock};
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::Arc;

    fn hits_misses(db: &Database) -> (u64, u64) {
        let s = &db.inner().stats;
        (s.keyspace_hits.load(Relaxed), s.keyspace_misses.load(Relaxed))
    }

    #[test]
    fn deadlines_are_exact_at_the_millisecond() {
        let clock = Arc::new(ManualClock::at(1_000_000));
        let db = Database::builder().clock(clock.clone()).active_expire(false).build();
        db.psetex("k", 100, "v").unwrap();
        db.psetex("far", 1_000_000, "v").unwrap();
        clock.advance(99);
        assert_eq!(db.get_with("k", |v| v.to_vec()).unwrap(), Some(b"v".to_vec()));
        assert_eq!(db.get("k").unwrap(), Some(b"v".to_vec()));
        clock.advance(1);
        assert_eq!(db.get_with("k", |v| v.len()).unwrap(), None);
        assert_eq!(db.get("k").unwrap(), None);
        assert_eq!(db.get_with("far", |v| v.len()).unwrap(), Some(1));
        // The expired key was deleted (lazily, as by GET).
        assert_eq!(db.dbsize(), 1);
    }

    #[test]
    fn a_key_past_its_deadline_on_the_system_clock_is_gone() {
        // The coarse clock may lag the exact one: a deadline that just passed must still
        // read as passed.
        let db = Database::builder().active_expire(false).build();
        for i in 0..20 {
            let key = format!("k{i}");
            db.psetex(&key, 1, "v").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert_eq!(db.get_with(&key, |v| v.len()).unwrap(), None, "{key} outlived its deadline");
        }
    }

    #[test]
    fn hits_and_misses_are_counted_once() {
        let clock = Arc::new(ManualClock::at(1_000_000));
        let db = Database::builder().clock(clock.clone()).active_expire(false).build();
        db.set("plain", "1").unwrap();
        db.psetex("near", 10, "2").unwrap();
        let start = hits_misses(&db);
        db.get_with("plain", |_| ()).unwrap();
        db.get("near").unwrap();
        db.get_with("missing", |_| ()).unwrap();
        let (h, m) = hits_misses(&db);
        assert_eq!((h - start.0, m - start.1), (2, 1));
        clock.advance(10);
        db.get("near").unwrap();
        let (h2, m2) = hits_misses(&db);
        assert_eq!((h2 - h, m2 - m), (0, 1));
    }

    #[test]
    fn wrong_type_and_integers() {
        let db = Database::new();
        db.rpush("list", ["a"]).unwrap();
        assert!(db.get_with("list", |v| v.len()).is_err());
        assert!(db.get("list").is_err());
        db.set("n", "12345").unwrap();
        assert_eq!(db.get_with("n", |v| v.to_vec()).unwrap(), Some(b"12345".to_vec()));
    }

    #[test]
    fn inside_a_transaction_reads_see_its_writes() {
        let db = Database::new();
        db.set("k", "old").unwrap();
        db.transaction(|tx| {
            tx.set("k", "new")?;
            assert_eq!(tx.get_with("k", |v| v.to_vec())?, Some(b"new".to_vec()));
            Ok(())
        })
        .unwrap();
    }
}
