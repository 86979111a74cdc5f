//! Hashes: the [`Hash`] value and its operations (HSET, HGET, HDEL, HINCRBY, ...).
//!
//! Layout:
//! - [`Hash`]: a small hash is a [`listpack::Listpack`] of alternating fields and values
//!   (OBJECT ENCODING `listpack`); it becomes a [`table::PackedTable`] (`hashtable`) once it
//!   has more than `hash-max-listpack-entries` fields (128) or a field or value longer than
//!   `hash-max-listpack-value` bytes (64) is written, as in Redis 7.0. It never converts back.
//! - Access-level operations (`hset`, `hget`, ...) shared by the typed API and the command
//!   handlers in `commands/hashes.rs`; [`read`] and [`write`] give handlers direct access to
//!   the value under the shard lock so that replies are written without copying.
//! - `impl Database`: the typed in-process API.
//! - [`long_double`]: Redis's 80-bit `long double` arithmetic for HINCRBYFLOAT.
//!
//! A hash that loses its last field is deleted, like every Redis collection.
pub mod listpack;
pub mod table;

use crate::access::Access;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::long_double::LongDouble;
use crate::notify;
use crate::propagate;
use crate::types::keys::ScanOptions;
use crate::value::{StrRef, Value};
use listpack::{as_int, Listpack};
use rand::Rng;
use table::PackedTable;

/// Owned (field, value) pairs, as returned by HGETALL-like calls.
pub type FieldValues = Vec<(Vec<u8>, Vec<u8>)>;

/// Redis refuses to grow a listpack past 1 GiB (`lpSafeToAdd`); the hash converts first.
const LISTPACK_SAFETY_SIZE: usize = 1 << 30;

/// The encoding thresholds of hashes (`hash-max-listpack-entries`, `-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Most fields a listpack hash may hold.
    pub max_entries: usize,
    /// Longest field or value (bytes) a listpack hash may hold.
    pub max_value: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits { max_entries: 128, max_value: 64 }
    }
}

impl HashLimits {
    /// The current configuration. Read once per command, before any shard lock is taken,
    /// so CONFIG SET applies to the next conversion.
    pub fn current(acc: &Access<'_>) -> HashLimits {
        use crate::config::Tunable;
        let t = &acc.inner.tunables;
        let clamp = |v: i64| usize::try_from(v).unwrap_or(0);
        HashLimits {
            max_entries: clamp(t.get(Tunable::HashMaxListpackEntries)),
            max_value: clamp(t.get(Tunable::HashMaxListpackValue)),
        }
    }
}

#[derive(Clone, PartialEq)]
enum Repr {
    /// Alternating field, value; the listpack's count is the number of fields.
    Listpack(Listpack),
    // Boxed so that a `Hash` is 16 bytes and sits in a `Value` without a box of its own.
    Table(Box<PackedTable<true>>),
}

/// A hash value: field -> value, both binary-safe strings.
#[derive(Clone, PartialEq)]
pub struct Hash {
    repr: Repr,
}

impl Default for Hash {
    fn default() -> Self {
        Hash { repr: Repr::Listpack(Listpack::default()) }
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        f.debug_map().entries(self.iter().map(|(k, v)| (lossy(&k), lossy(&v)))).finish()
    }
}

/// Where a field sits in a listpack: field start, value start, value end.
struct LpSlot {
    field: usize,
    value: usize,
    end: usize,
}

fn lp_find(lp: &Listpack, field: &[u8]) -> Option<LpSlot> {
    let probe = as_int(field);
    let mut it = lp.iter();
    while let Some((fpos, f)) = it.next() {
        let (vpos, _) = it.next()?;
        if f.matches(field, probe) {
            return Some(LpSlot { field: fpos, value: vpos, end: lp.skip(vpos) });
        }
    }
    None
}

impl Hash {
    /// An empty hash (listpack-encoded).
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.count() as usize,
            Repr::Table(t) => t.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.capacity(),
            Repr::Table(t) => std::mem::size_of::<PackedTable<true>>() + t.heap_size(),
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<StrRef<'_>> {
        match &self.repr {
            Repr::Listpack(lp) => lp_find(lp, field).map(|s| lp.at(s.value).0.bytes()),
            Repr::Table(t) => t.get(field).map(StrRef::Bytes),
        }
    }

    /// True if `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.repr {
            Repr::Listpack(lp) => lp_find(lp, field).is_some(),
            Repr::Table(t) => t.contains(field),
        }
    }

    /// Converts to a hash table now (Redis's `hashTypeConvert`).
    fn convert(&mut self) {
        if let Repr::Listpack(lp) = &self.repr {
            let mut t = Box::new(PackedTable::with_capacity(lp.count() as usize));
            let mut it = lp.iter();
            while let (Some((_, f)), Some((_, v))) = (it.next(), it.next()) {
                t.insert_new(&f.bytes(), &v.bytes());
            }
            self.repr = Repr::Table(t);
        }
    }

    /// Redis's `hashTypeTryConversion`: a listpack hash about to receive these strings
    /// converts first when one is longer than `max_value` (or the listpack would pass 1 GiB).
    pub fn prepare_for<'a>(&mut self, strings: impl IntoIterator<Item = &'a [u8]>, limits: HashLimits) {
        if let Repr::Listpack(lp) = &self.repr {
            let mut sum = 0usize;
            for s in strings {
                if s.len() > limits.max_value {
                    self.convert();
                    return;
                }
                sum += s.len();
            }
            if lp.bytes().saturating_add(sum) > LISTPACK_SAFETY_SIZE {
                self.convert();
            }
        }
    }

    /// Sets `field` to `value`; true if the field is new. A listpack converts to a hash table
    /// first when `field` or `value` is longer than `max_value`, and after the insertion when
    /// it has more than `max_entries` fields.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        match &mut self.repr {
            Repr::Listpack(_) if field.len() > limits.max_value || value.len() > limits.max_value => {
                // Redis 7.0's hashTypeSet checks the lengths itself too (HINCRBYFLOAT can
                // write a long value).
                self.convert();
                self.set(field, value, limits)
            }
            Repr::Listpack(lp) => {
                if let Some(slot) = lp_find(lp, field) {
                    lp.replace(slot.value, slot.end, value);
                    return false;
                }
                lp.push(field);
                lp.push(value);
                let len = lp.count() + 1;
                lp.set_count(len);
                if len as usize > limits.max_entries {
                    self.convert();
                }
                true
            }
            Repr::Table(t) => t.insert(field, value),
        }
    }

    /// Removes `field`; true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(lp) => match lp_find(lp, field) {
                Some(slot) => {
                    lp.remove_range(slot.field, slot.end);
                    lp.set_count(lp.count() - 1);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.remove(field),
        }
    }

    /// Iterates over (field, value) pairs: insertion order for a listpack, bucket order for
    /// a hash table.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Listpack(lp) => Iter::Listpack(lp.iter()),
            Repr::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// One step of HSCAN: visits some pairs, returns the next cursor (0: done). A listpack
    /// is returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Listpack(_) => {
                for (k, v) in self.iter() {
                    f(&k, &v);
                }
                0
            }
            Repr::Table(t) => t.scan(cursor, f),
        }
    }

    /// True for the hash-table encoding (cursor-based scans).
    pub fn is_table(&self) -> bool {
        matches!(self.repr, Repr::Table(_))
    }

    /// A random (field, value) pair.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<(StrRef<'_>, StrRef<'_>)> {
        match &self.repr {
            Repr::Listpack(lp) => {
                if lp.count() == 0 {
                    return None;
                }
                self.iter().nth(rng.gen_range(0..lp.count() as usize))
            }
            Repr::Table(t) => t.random(rng).map(|(k, v)| (StrRef::Bytes(k), StrRef::Bytes(v))),
        }
    }
}

// Whole-value access for the RDB codec.
impl Hash {
    /// The elements of a listpack-encoded hash in order (field, value, field, value, ...);
    /// `None` for a hash table. The RDB writer re-encodes them as Redis's listpack.
    pub fn listpack_elems(&self) -> Option<impl Iterator<Item = listpack::Elem<'_>> + '_> {
        match &self.repr {
            Repr::Listpack(lp) => Some(lp.iter().map(|(_, e)| e)),
            Repr::Table(_) => None,
        }
    }

    /// Appends a listpack-encoded hash's elements as Redis listpack entries (see
    /// [`listpack::Listpack::write_redis_entries`]) and returns their count; `None` for a
    /// hash table.
    pub(crate) fn write_listpack_entries(&self, out: &mut Vec<u8>) -> Option<usize> {
        match &self.repr {
            Repr::Listpack(lp) => Some(lp.write_redis_entries(out)),
            Repr::Table(_) => None,
        }
    }

    /// Builds a listpack hash from the elements of a loaded blob (fields and values
    /// alternating) in one pass and one allocation: the RDB loader's path for a hash blob
    /// with at most `hash-max-listpack-entries` pairs (Redis keeps such a blob as a listpack,
    /// whatever the lengths of its values). `pairs` sizes the duplicate check; `bytes`
    /// bounds the listpack's size (the blob's length does: every element takes fewer bytes
    /// here than in a Redis listpack or ziplist). `Ok(None)` for no elements; `Err` for an
    /// odd element count or a repeated field.
    pub(crate) fn from_packed<'a>(
        elems: impl Iterator<Item = listpack::Elem<'a>>,
        pairs: usize,
        bytes: usize,
    ) -> std::result::Result<Option<Hash>, &'static str> {
        let mut b = listpack::Builder::new(bytes, pairs);
        for e in elems {
            b.push(e);
        }
        let (lp, len) = b.finish()?;
        u32::try_from(len).map_err(|_| "hash too large")?;
        Ok((len > 0).then_some(Hash { repr: Repr::Listpack(lp) }))
    }

    /// Builds a hash of `pairs` in the encoding Redis gives a loaded or restored hash:
    /// listpack when there are at most `limits.max_entries` pairs and no field or value is
    /// longer than `limits.max_value` bytes, else a hash table. `None` if a field repeats.
    /// Strings that are canonical integers are stored as integers, as always.
    pub fn from_pairs(pairs: &[(listpack::Elem<'_>, listpack::Elem<'_>)], limits: HashLimits) -> Option<Hash> {
        use listpack::Elem;
        let small = pairs.len() <= limits.max_entries
            && pairs.iter().all(|(f, v)| f.len() <= limits.max_value && v.len() <= limits.max_value)
            && pairs.iter().map(|(f, v)| f.len() + v.len()).sum::<usize>() < LISTPACK_SAFETY_SIZE;
        if !small {
            let mut t = Box::new(PackedTable::with_capacity(pairs.len()));
            for (f, v) in pairs {
                if !t.insert(&f.bytes(), &v.bytes()) {
                    return None;
                }
            }
            return Some(Hash { repr: Repr::Table(t) });
        }
        // Fields compared in their stored form ("12" is the integer 12).
        let fields: Vec<Elem<'_>> = pairs.iter().map(|(f, _)| f.normalized()).collect();
        if table::has_duplicate(&fields) {
            return None;
        }
        let mut lp = Listpack::from_normalized(fields.iter().zip(pairs).flat_map(|(&f, &(_, v))| [f, v.normalized()]));
        lp.set_count(pairs.len() as u32);
        Some(Hash { repr: Repr::Listpack(lp) })
    }
}

/// Iterator over a [`Hash`]'s pairs.
pub enum Iter<'a> {
    #[doc(hidden)]
    Listpack(listpack::Iter<'a>),
    #[doc(hidden)]
    Table(table::Iter<'a, true>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (StrRef<'a>, StrRef<'a>);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => {
                let (_, f) = it.next()?;
                let (_, v) = it.next()?;
                Some((f.bytes(), v.bytes()))
            }
            Iter::Table(it) => it.next().map(|(k, v)| (StrRef::Bytes(k), StrRef::Bytes(v))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Access-level operations.
// ---------------------------------------------------------------------------------------

/// Runs `f` on the hash at `key` (`None` when missing) under the shard's read lock;
/// WRONGTYPE for other types.
pub fn read<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&Hash>) -> R) -> Result<R> {
    acc.read(key, |n| match n {
        None => Ok(f(None)),
        Some(n) => match &n.value {
            Value::Hash(h) => Ok(f(Some(h))),
            _ => Err(Error::WrongType),
        },
    })
}

/// What a write did to the key itself (for keyspace notifications).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyChange {
    /// The key was created by this write (Redis's `dbAdd`: a `new` event).
    pub created: bool,
    /// The key was deleted because the hash became empty (a `del` event).
    pub deleted: bool,
}

impl KeyChange {
    /// Publishes `new` (if created), `event` in `class`, then `del` (if deleted). Called
    /// after the shard lock is released.
    pub fn announce(self, acc: &Access<'_>, class: u32, event: &str, key: &[u8]) {
        if self.created {
            acc.notify(notify::NEW, "new", key);
        }
        acc.notify(class, event, key);
        if self.deleted {
            acc.notify(notify::GENERIC, "del", key);
        }
    }
}

/// Runs `f` on the hash at `key` under the shard's write lock. A missing key is created
/// empty first when `create` is true (otherwise `f` is not called and `Ok(None)` returned);
/// WRONGTYPE for other types. A hash left empty by `f` (or created and not filled because
/// `f` failed) is deleted. `f` runs under the lock, so it is where the dirty counter must be
/// bumped (WATCH compares it around the lock).
pub fn write<R>(
    acc: &Access<'_>,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Hash) -> Result<R>,
) -> Result<(Option<R>, KeyChange)> {
    acc.write(key, |shard, h| {
        let now = acc.now;
        let mut change = KeyChange::default();
        if shard.get_mut(h, key, now).is_none() {
            if !create {
                return Ok((None, change));
            }
            shard.set(h, key, Value::Hash(Hash::default()), None, now);
            change.created = true;
        }
        let (r, empty) = match shard.get_mut(h, key, now).map(|n| &mut n.value) {
            Some(Value::Hash(hash)) => {
                let r = f(hash);
                (r, hash.is_empty())
            }
            Some(_) => return Err(Error::WrongType),
            None => return Ok((None, change)),
        };
        if empty {
            shard.remove(h, key);
            change.deleted = !change.created;
        }
        r.map(|r| (Some(r), change))
    })
}

/// HSET: sets the pairs; returns the number of new fields. Event: `hset`.
pub fn hset(acc: &Access<'_>, key: &[u8], pairs: &[(&[u8], &[u8])]) -> Result<usize> {
    let limits = HashLimits::current(acc);
    let (created, change) = write(acc, key, true, |hash| {
        hash.prepare_for(pairs.iter().flat_map(|(f, v)| [*f, *v]), limits);
        let n = pairs.iter().filter(|(f, v)| hash.set(f, v, limits)).count();
        acc.add_dirty(pairs.len() as u64);
        Ok(n)
    })?;
    change.announce(acc, notify::HASH, "hset", key);
    Ok(created.unwrap_or(0))
}

/// HSETNX: sets the field only if it does not exist; true if it was set. Event: `hset`.
pub fn hsetnx(acc: &Access<'_>, key: &[u8], field: &[u8], value: &[u8]) -> Result<bool> {
    let limits = HashLimits::current(acc);
    let (set, change) = write(acc, key, true, |hash| {
        if hash.contains(field) {
            return Ok(false);
        }
        hash.prepare_for([field, value], limits);
        hash.set(field, value, limits);
        acc.add_dirty(1);
        Ok(true)
    })?;
    let set = set.unwrap_or(false);
    if set {
        change.announce(acc, notify::HASH, "hset", key);
    }
    Ok(set)
}

/// HGET.
pub fn hget(acc: &Access<'_>, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
    read(acc, key, |h| h.and_then(|h| h.get(field)).map(|v| v.to_vec()))
}

/// HMGET.
pub fn hmget(acc: &Access<'_>, key: &[u8], fields: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
    read(acc, key, |h| fields.iter().map(|f| h.and_then(|h| h.get(f)).map(|v| v.to_vec())).collect())
}

/// HDEL: number of fields removed.
/// Events: `hdel`, and `del` when the hash became empty.
pub fn hdel(acc: &Access<'_>, key: &[u8], fields: &[&[u8]]) -> Result<usize> {
    let (n, change) = write(acc, key, false, |hash| {
        let n = fields.iter().filter(|f| hash.remove(f)).count();
        acc.add_dirty(n as u64);
        Ok(n)
    })?;
    let n = n.unwrap_or(0);
    if n > 0 {
        change.announce(acc, notify::HASH, "hdel", key);
    }
    Ok(n)
}

/// HLEN.
pub fn hlen(acc: &Access<'_>, key: &[u8]) -> Result<usize> {
    read(acc, key, |h| h.map_or(0, Hash::len))
}

/// HSTRLEN: length of the field's value (0 when missing).
pub fn hstrlen(acc: &Access<'_>, key: &[u8], field: &[u8]) -> Result<usize> {
    read(acc, key, |h| h.and_then(|h| h.get(field)).map_or(0, |v| v.len()))
}

/// HEXISTS.
pub fn hexists(acc: &Access<'_>, key: &[u8], field: &[u8]) -> Result<bool> {
    read(acc, key, |h| h.is_some_and(|h| h.contains(field)))
}

/// HGETALL.
pub fn hgetall(acc: &Access<'_>, key: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    read(acc, key, |h| h.map_or_else(Vec::new, |h| h.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()))
}

/// HINCRBY: adds `delta` to the field's integer value (0 when missing); the new value.
pub fn hincrby(acc: &Access<'_>, key: &[u8], field: &[u8], delta: i64) -> Result<i64> {
    let limits = HashLimits::current(acc);
    let (v, change) = write(acc, key, true, |hash| {
        let cur = match hash.get(field) {
            Some(v) => as_int(&v).ok_or(Error::msg("ERR hash value is not an integer"))?,
            None => 0,
        };
        let new = cur.checked_add(delta).ok_or(Error::Overflow)?;
        hash.set(field, &StrRef::int(new), limits);
        acc.add_dirty(1);
        Ok(new)
    })?;
    change.announce(acc, notify::HASH, "hincrby", key);
    Ok(v.unwrap_or(0))
}

/// Parses a HINCRBYFLOAT increment with Redis's errors.
pub fn parse_float_incr(arg: &[u8]) -> Result<LongDouble> {
    match LongDouble::parse(arg) {
        Some(v) if v.is_infinite() => Err(Error::msg("ERR value is NaN or Infinity")),
        Some(v) => Ok(v),
        None => Err(Error::NotFloat),
    }
}

/// HINCRBYFLOAT: adds `incr` with Redis's `long double` arithmetic; returns the new value
/// as stored (Redis's `%.17Lf` form without trailing zeros).
pub fn hincrbyfloat(acc: &Access<'_>, key: &[u8], field: &[u8], incr: LongDouble) -> Result<Vec<u8>> {
    let limits = HashLimits::current(acc);
    let (v, change) = write(acc, key, true, |hash| {
        let cur = match hash.get(field) {
            Some(v) => match LongDouble::parse(&v) {
                Some(x) if x.is_infinite() => return Err(Error::NanOrInfinity),
                Some(x) => x,
                None => return Err(Error::msg("ERR hash value is not a float")),
            },
            None => LongDouble::ZERO,
        };
        let new = cur
            .checked_add(incr)
            .filter(|v| !v.is_infinite())
            .ok_or(Error::NanOrInfinity)?
            .to_human_string()
            .into_bytes();
        hash.set(field, &new, limits);
        acc.add_dirty(1);
        Ok(new)
    })?;
    change.announce(acc, notify::HASH, "hincrbyfloat", key);
    Ok(v.unwrap_or_default())
}

/// How many pairs HRANDFIELD with `count` returns from a hash of `len` fields.
pub fn random_len(len: usize, count: i64) -> usize {
    match (len, count) {
        (0, _) => 0,
        (_, c) if c < 0 => c.unsigned_abs() as usize,
        (l, c) => l.min(c as usize),
    }
}

/// HRANDFIELD's selection (Redis's `hrandfieldWithCountCommand` cases), handing each pick
/// to `emit` (exactly [`random_len`] of them, streamed: a huge negative count is not
/// collected first): `count < 0` picks `-count` pairs with repeats; `count >= len` gives the
/// whole hash; otherwise `count` distinct pairs.
pub fn random_fields<'h>(hash: &'h Hash, count: i64, mut emit: impl FnMut(StrRef<'h>, StrRef<'h>)) {
    let mut rng = rand::thread_rng();
    let size = hash.len();
    if count == 0 || size == 0 {
        return;
    }
    if count < 0 || count == 1 {
        let n = count.unsigned_abs();
        if hash.is_table() {
            for _ in 0..n {
                if let Some((k, v)) = hash.random(&mut rng) {
                    emit(k, v);
                }
            }
            return;
        }
        let all: Vec<_> = hash.iter().collect();
        for _ in 0..n {
            let (k, v) = &all[rng.gen_range(0..all.len())];
            emit(dup(k), dup(v));
        }
        return;
    }
    let count = count as usize;
    if count >= size {
        hash.iter().for_each(|(k, v)| emit(k, v));
        return;
    }
    if count * 3 > size || !hash.is_table() {
        // Copy everything, then drop random pairs until `count` remain.
        let mut all: Vec<_> = hash.iter().collect();
        while all.len() > count {
            let i = rng.gen_range(0..all.len());
            all.swap_remove(i);
        }
        all.into_iter().for_each(|(k, v)| emit(k, v));
        return;
    }
    // Few out of many: sample until `count` distinct fields are picked.
    let mut seen = std::collections::HashSet::with_capacity(count);
    while seen.len() < count {
        if let Some((k, v)) = hash.random(&mut rng) {
            if seen.insert(k.as_ptr()) {
                emit(k, v);
            }
        }
    }
}

/// Copies a borrowed string reference.
pub fn dup<'a>(s: &StrRef<'a>) -> StrRef<'a> {
    match s {
        StrRef::Bytes(b) => StrRef::Bytes(b),
        StrRef::Int(buf, n) => StrRef::Int(*buf, *n),
    }
}

/// Validates HRANDFIELD's count with Redis's errors.
pub fn check_random_count(count: i64, with_values: bool) -> Result<()> {
    if count == i64::MIN {
        return Err(Error::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Error::msg("ERR value is out of range"));
    }
    Ok(())
}

/// HSCAN at the access level: (next cursor, field/value pairs).
pub fn hscan(acc: &Access<'_>, key: &[u8], cursor: u64, opts: &ScanOptions) -> Result<(u64, FieldValues)> {
    read(acc, key, |h| match h {
        None => (0, vec![]),
        Some(h) => scan_pairs(h, cursor, opts),
    })
}

/// One HSCAN step over a hash: Redis visits buckets until it has collected `COUNT`
/// elements (a field and its value count as two) or tried `COUNT * 10` buckets, then
/// filters by the pattern.
pub fn scan_pairs(h: &Hash, cursor: u64, opts: &ScanOptions) -> (u64, FieldValues) {
    let count = opts.count.unwrap_or(10).max(1);
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut cursor = cursor;
    if !h.is_table() {
        cursor = h.scan(0, |k, v| out.push((k.to_vec(), v.to_vec())));
    } else {
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = h.scan(cursor, |k, v| out.push((k.to_vec(), v.to_vec())));
            if cursor == 0 || budget == 0 || out.len() * 2 >= count {
                break;
            }
            budget -= 1;
        }
    }
    if let Some(p) = &opts.pattern {
        if p.as_slice() != b"*" {
            out.retain(|(k, _)| crate::glob::glob_match(p, k, false));
        }
    }
    (cursor, out)
}

impl Database {
    /// HSET key field value [field value ...]: returns the number of new fields.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// assert_eq!(db.hset("user:1", &[("name", "Ada"), ("lang", "en")]).unwrap(), 2);
    /// assert_eq!(db.hget("user:1", "name").unwrap(), Some(b"Ada".to_vec()));
    /// ```
    pub fn hset<F: AsRef<[u8]>, V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, pairs: &[(F, V)]) -> Result<usize> {
        let pairs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(f, v)| (f.as_ref(), v.as_ref())).collect();
        let key = key.as_ref();
        self.write_typed(
            |acc| hset(acc, key, &pairs),
            |_, _| propagate::with_list(&[b"HSET", key], pairs.iter().flat_map(|(f, v)| [*f, *v])),
        )
    }

    /// HSETNX key field value: true if the field was set.
    pub fn hsetnx(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        let (key, field, value) = (key.as_ref(), field.as_ref(), value.as_ref());
        self.write_typed(
            |acc| hsetnx(acc, key, field, value),
            |_, _| propagate::one([&b"HSETNX"[..], key, field, value]),
        )
    }

    /// HGET key field.
    pub fn hget(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        hget(&self.access(), key.as_ref(), field.as_ref())
    }

    /// `HGET key field` without a copy: runs `f` on the field's value where it is stored
    /// (`Ok(None)`: no such key or field; WRONGTYPE for other types). As with
    /// [`Database::get_with`], `f` runs under the key's shard read lock: keep it short and do
    /// not call this database from inside it.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.hset("user:1", &[("name", "Ada"), ("visits", "12")]).unwrap();
    /// assert_eq!(db.hget_with("user:1", "name", |v| v == b"Ada").unwrap(), Some(true));
    /// assert_eq!(db.hget_with("user:1", "visits", |v| v.len()).unwrap(), Some(2));
    /// assert_eq!(db.hget_with("user:1", "nofield", |v| v.len()).unwrap(), None);
    /// ```
    pub fn hget_with<R>(
        &self,
        key: impl AsRef<[u8]>,
        field: impl AsRef<[u8]>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>> {
        let field = field.as_ref();
        crate::types::strings::read_typed(self, key.as_ref(), |n| match n.map(|n| &n.value) {
            None => Ok(None),
            Some(Value::Hash(h)) => Ok(h.get(field).map(|v| f(&v))),
            Some(_) => Err(Error::WrongType),
        })
    }

    /// HMGET key field [field ...].
    pub fn hmget<F: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, fields: &[F]) -> Result<Vec<Option<Vec<u8>>>> {
        let fields: Vec<&[u8]> = fields.iter().map(|f| f.as_ref()).collect();
        hmget(&self.access(), key.as_ref(), &fields)
    }

    /// HDEL key field [field ...]: number of fields removed.
    pub fn hdel<F: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, fields: &[F]) -> Result<usize> {
        let fields: Vec<&[u8]> = fields.iter().map(|f| f.as_ref()).collect();
        let key = key.as_ref();
        self.write_typed(|acc| hdel(acc, key, &fields), |_, _| propagate::with_list(&[b"HDEL", key], &fields))
    }

    /// HLEN key.
    pub fn hlen(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        hlen(&self.access(), key.as_ref())
    }

    /// HSTRLEN key field.
    pub fn hstrlen(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>) -> Result<usize> {
        hstrlen(&self.access(), key.as_ref(), field.as_ref())
    }

    /// HEXISTS key field.
    pub fn hexists(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>) -> Result<bool> {
        hexists(&self.access(), key.as_ref(), field.as_ref())
    }

    /// HKEYS key.
    pub fn hkeys(&self, key: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        read(&self.access(), key.as_ref(), |h| h.map_or_else(Vec::new, |h| h.iter().map(|(k, _)| k.to_vec()).collect()))
    }

    /// HVALS key.
    pub fn hvals(&self, key: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        read(&self.access(), key.as_ref(), |h| h.map_or_else(Vec::new, |h| h.iter().map(|(_, v)| v.to_vec()).collect()))
    }

    /// HGETALL key: every (field, value) pair.
    pub fn hgetall(&self, key: impl AsRef<[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        hgetall(&self.access(), key.as_ref())
    }

    /// HINCRBY key field delta: the new value.
    pub fn hincrby(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let (key, field) = (key.as_ref(), field.as_ref());
        self.write_typed(
            |acc| hincrby(acc, key, field, delta),
            |_, _| propagate::one([&b"HINCRBY"[..], key, field, delta.to_string().as_bytes()]),
        )
    }

    /// HINCRBYFLOAT key field increment: the new value as Redis prints it (`"10.5"`).
    /// `increment` is parsed as Redis does (`"0.1"`, `"5.0e3"`, `"0x10"`).
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// db.hincrbyfloat("h", "f", "0.1").unwrap();
    /// assert_eq!(db.hincrbyfloat("h", "f", "0.2").unwrap(), b"0.3".to_vec());
    /// ```
    pub fn hincrbyfloat(
        &self,
        key: impl AsRef<[u8]>,
        field: impl AsRef<[u8]>,
        increment: impl AsRef<[u8]>,
    ) -> Result<Vec<u8>> {
        let incr = parse_float_incr(increment.as_ref())?;
        let (key, field) = (key.as_ref(), field.as_ref());
        // The result, not the increment, as HINCRBYFLOAT propagates.
        self.write_typed(
            |acc| hincrbyfloat(acc, key, field, incr),
            |_, r| r.as_ref().map(|v| propagate::one([&b"HSET"[..], key, field, v])).unwrap_or_default(),
        )
    }

    /// HRANDFIELD key: a random field, `None` when the key is missing.
    pub fn hrandfield(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        read(&self.access(), key.as_ref(), |h| {
            h.and_then(|h| h.random(&mut rand::thread_rng())).map(|(k, _)| k.to_vec())
        })
    }

    /// HRANDFIELD key count WITHVALUES: `count > 0` distinct pairs (at most the whole
    /// hash), `count < 0` exactly `-count` pairs with possible repeats.
    pub fn hrandfield_with_values(&self, key: impl AsRef<[u8]>, count: i64) -> Result<FieldValues> {
        check_random_count(count, true)?;
        read(&self.access(), key.as_ref(), |h| {
            let mut out = Vec::new();
            if let Some(h) = h {
                random_fields(h, count, |k, v| out.push((k.to_vec(), v.to_vec())));
            }
            out
        })
    }

    /// HRANDFIELD key count: fields only (see [`Database::hrandfield_with_values`]).
    pub fn hrandfield_count(&self, key: impl AsRef<[u8]>, count: i64) -> Result<Vec<Vec<u8>>> {
        check_random_count(count, false)?;
        read(&self.access(), key.as_ref(), |h| {
            let mut out = Vec::new();
            if let Some(h) = h {
                random_fields(h, count, |k, _| out.push(k.to_vec()));
            }
            out
        })
    }

    /// HSCAN key cursor [MATCH pattern] [COUNT count]: (next cursor, pairs). A small
    /// (listpack) hash is returned whole with cursor 0.
    pub fn hscan(&self, key: impl AsRef<[u8]>, cursor: u64, opts: &ScanOptions) -> Result<(u64, FieldValues)> {
        hscan(&self.access(), key.as_ref(), cursor, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_fits_in_a_value_unboxed() {
        // A small hash costs its listpack allocation only (see `Listpack`).
        assert_eq!(std::mem::size_of::<Hash>(), 16);
        assert_eq!(std::mem::size_of::<Value>(), 24);
        let mut h = Hash::new();
        let limits = HashLimits { max_entries: 128, max_value: 64 };
        assert!(h.set(b"field:1", b"value:1", limits) && h.set(b"2", b"x", limits));
        assert!(!h.set(b"2", b"longer value", limits));
        assert_eq!(h.len(), 2);
        // Exactly the count and the entries: no slack.
        assert_eq!(h.heap_size(), 4 + (1 + 7) * 2 + 1 + (1 + 12));
        assert!(h.remove(b"field:1") && h.len() == 1 && h.heap_size() == 4 + 1 + 13);
    }

    #[test]
    fn conversion_thresholds() {
        let limits = HashLimits { max_entries: 4, max_value: 8 };
        let mut h = Hash::new();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", limits));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"f4", b"v", limits));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        let mut h = Hash::new();
        h.prepare_for([&b"short"[..], b"123456789"], limits);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn integers_compare_by_value() {
        let limits = HashLimits::default();
        let mut h = Hash::new();
        h.set(b"1", b"100", limits);
        h.set(b"01", b"x", limits);
        assert_eq!(h.len(), 2);
        assert_eq!(h.get(b"1").map(|v| v.to_vec()), Some(b"100".to_vec()));
        assert_eq!(h.get(b"01").map(|v| v.to_vec()), Some(b"x".to_vec()));
        assert!(h.get(b"+1").is_none());
        assert!(h.remove(b"1"));
        assert!(!h.contains(b"1"));
    }
}
