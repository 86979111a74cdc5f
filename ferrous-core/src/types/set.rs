//! Sets: the [`Set`] value and its operations (SADD, SREM, SINTER, SPOP, ...).
//!
//! Layout:
//! - [`Intset`]: a sorted array of integers stored at the smallest width (16, 32 or 64 bits)
//!   that fits every member, as Redis's `intset` (OBJECT ENCODING `intset`).
//! - [`Set`]: an intset while every member is a canonical integer and there are at most
//!   `set-max-intset-entries` (512) members; otherwise a packed hash table
//!   ([`crate::types::hash::table::PackedTable`], encoding `hashtable`). Redis 7.0 has no set
//!   listpack, and never converts back.
//! - Access-level operations shared by the typed API and `commands/sets.rs`. Multi-key
//!   operations (SINTER*, SUNION*, SDIFF*, SMOVE) lock all their keys at once with
//!   `Access::write_many`, so they are atomic.
//! - `impl Database`: the typed in-process API.
use crate::access::{Access, MultiShard};
use crate::db::Database;
use crate::error::{Error, Result};
use crate::notify;
use crate::propagate;
use crate::types::hash::listpack::as_int;
use crate::types::hash::table::PackedTable;
use crate::types::keys::ScanOptions;
use crate::value::{StrRef, Value};
use rand::Rng;

/// A sorted set of integers stored at one uniform width: the fewest bytes (1 to 8,
/// little-endian, sign-extended) that hold every member. Redis uses 2, 4 or 8 bytes; finer
/// widths make, e.g., a set of ids below 8 million take 3 bytes per member instead of 4.
///
/// The buffer is one exact-size allocation whose first byte is the width (so a `Set` stays
/// 16 bytes); like Redis's intset it is reallocated on each insertion.
#[derive(Clone, PartialEq, Eq)]
pub struct Intset {
    buf: Box<[u8]>,
}

impl Default for Intset {
    fn default() -> Self {
        Intset { buf: Box::new([1]) }
    }
}

fn width_for(v: i64) -> u8 {
    (1..8u8)
        .find(|&n| {
            let shift = 64 - 8 * n as u32;
            (v << shift) >> shift == v
        })
        .unwrap_or(8)
}

impl Intset {
    #[inline]
    fn width(&self) -> usize {
        self.buf[0] as usize
    }
    /// Number of members.
    #[inline]
    pub fn len(&self) -> usize {
        (self.buf.len() - 1) / self.width()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.buf.len() == 1
    }
    /// Bytes allocated.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
    /// The member at sorted position `i`.
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let mut b = [0u8; 8];
        b[..w].copy_from_slice(&self.buf[1 + i * w..1 + i * w + w]);
        let shift = 64 - 8 * w as u32;
        (i64::from_le_bytes(b) << shift) >> shift
    }
    /// Binary search: `Ok(position)` or `Err(insertion point)`.
    pub fn search(&self, v: i64) -> std::result::Result<usize, usize> {
        if width_for(v) as usize > self.width() {
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }
    /// True if `v` is a member.
    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }
    /// Adds `v`; true if it was new. Widens every member first when `v` needs more bytes.
    pub fn insert(&mut self, v: i64) -> bool {
        let pos = match self.search(v) {
            Ok(_) => return false,
            Err(p) => p,
        };
        let need = (width_for(v) as usize).max(self.width());
        let mut out = Vec::with_capacity(1 + (self.len() + 1) * need);
        out.push(need as u8);
        let mut push = |x: i64| out.extend_from_slice(&x.to_le_bytes()[..need]);
        for i in 0..pos {
            push(self.get(i));
        }
        push(v);
        for i in pos..self.len() {
            push(self.get(i));
        }
        self.buf = out.into_boxed_slice();
        true
    }
    /// Removes `v`; true if it was present.
    pub fn remove(&mut self, v: i64) -> bool {
        match self.search(v) {
            Ok(pos) => {
                let w = self.width();
                let mut data = std::mem::take(&mut self.buf).into_vec();
                data.drain(1 + pos * w..1 + pos * w + w);
                self.buf = data.into_boxed_slice();
                true
            }
            Err(_) => false,
        }
    }
    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

impl Intset {
    /// Bytes per member (1 to 8). Like Redis's intset encoding it only ever grows: it is
    /// the width of the widest member the set has held, which is what the RDB writer needs
    /// to reproduce Redis's 2/4/8-byte encoding after removals.
    pub fn byte_width(&self) -> usize {
        self.width()
    }

    /// An intset of `sorted`, which must be strictly ascending (`None` otherwise), at least
    /// `min_width` bytes (1 to 8) per member: a loaded intset keeps the width of its file,
    /// as Redis keeps a loaded intset's encoding.
    pub fn from_sorted(sorted: &[i64], min_width: usize) -> Option<Intset> {
        if sorted.windows(2).any(|w| w[0] >= w[1]) {
            return None;
        }
        let needed = match (sorted.first(), sorted.last()) {
            (Some(&a), Some(&b)) => width_for(a).max(width_for(b)) as usize,
            _ => 1,
        };
        let w = needed.max(min_width.min(8));
        let mut buf = Vec::with_capacity(1 + sorted.len() * w);
        buf.push(w as u8);
        for v in sorted {
            buf.extend_from_slice(&v.to_le_bytes()[..w]);
        }
        Some(Intset { buf: buf.into_boxed_slice() })
    }
}

impl std::fmt::Debug for Intset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[derive(Clone, PartialEq)]
enum Repr {
    Intset(Intset),
    // Boxed so that a `Set` is 16 bytes and sits in a `Value` without a box of its own: a
    // small set is its intset allocation and nothing else.
    Table(Box<PackedTable<false>>),
}

/// A set value: unique binary-safe strings.
#[derive(Clone, PartialEq)]
pub struct Set {
    repr: Repr,
}

impl Default for Set {
    fn default() -> Self {
        Set { repr: Repr::Intset(Intset::default()) }
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|m| String::from_utf8_lossy(&m).into_owned())).finish()
    }
}

/// Reads `set-max-intset-entries` (once per command, before locking shards).
pub fn max_intset_entries(acc: &Access<'_>) -> usize {
    usize::try_from(acc.inner.tunables.get(crate::config::Tunable::SetMaxIntsetEntries)).unwrap_or(0)
}

impl Set {
    /// The empty set Redis's `setTypeCreate` makes for a first member: an intset when the
    /// member is an integer, a hash table otherwise.
    pub fn for_member(first: &[u8]) -> Set {
        if as_int(first).is_some() {
            Set::default()
        } else {
            Set { repr: Repr::Table(Box::default()) }
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Intset(i) => i.len(),
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
            Repr::Intset(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        // The `Set` itself sits in its `Value`, unboxed.
        match &self.repr {
            Repr::Intset(i) => i.capacity(),
            Repr::Table(t) => std::mem::size_of::<PackedTable<false>>() + t.heap_size(),
        }
    }

    /// True for the hash-table encoding.
    pub fn is_table(&self) -> bool {
        matches!(self.repr, Repr::Table(_))
    }

    /// True if `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Intset(i) => as_int(m).is_some_and(|v| i.contains(v)),
            Repr::Table(t) => t.contains(m),
        }
    }

    fn convert(&mut self, extra: usize) {
        if let Repr::Intset(i) = &self.repr {
            let mut t = PackedTable::with_capacity(i.len() + extra);
            for v in i.iter() {
                t.insert_new(&StrRef::int(v), b"");
            }
            self.repr = Repr::Table(Box::new(t));
        }
    }

    /// Adds `m`; true if it was new. An intset converts to a hash table for a non-integer
    /// member or when it grows past `max_intset` members (Redis's `setTypeAdd`).
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        match &mut self.repr {
            Repr::Intset(i) => match as_int(m) {
                Some(v) => {
                    if !i.insert(v) {
                        return false;
                    }
                    if i.len() > max_intset {
                        self.convert(0);
                    }
                    true
                }
                None => {
                    self.convert(1);
                    self.add(m, max_intset)
                }
            },
            Repr::Table(t) => t.insert(m, b""),
        }
    }

    /// Removes `m`; true if it was present.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Intset(i) => as_int(m).is_some_and(|v| i.remove(v)),
            Repr::Table(t) => t.remove(m),
        }
    }

    /// Iterates over the members: ascending for an intset, bucket order for a hash table.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Intset(i) => Iter::Intset(i, 0),
            Repr::Table(t) => Iter::Table(t.iter()),
        }
    }

    /// A random member.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<StrRef<'_>> {
        match &self.repr {
            Repr::Intset(i) if i.is_empty() => None,
            Repr::Intset(i) => Some(StrRef::int(i.get(rng.gen_range(0..i.len())))),
            Repr::Table(t) => t.random(rng).map(|(k, _)| StrRef::Bytes(k)),
        }
    }

    /// Removes and returns a random member.
    pub fn pop_random<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<Vec<u8>> {
        let m = self.random(rng)?.to_vec();
        self.remove(&m);
        Some(m)
    }

    /// One SSCAN step: visits some members, returns the next cursor (0: done). An intset is
    /// returned whole with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8])) -> u64 {
        match &self.repr {
            Repr::Intset(i) => {
                for v in i.iter() {
                    f(&StrRef::int(v));
                }
                0
            }
            Repr::Table(t) => t.scan(cursor, |k, _| f(k)),
        }
    }
}

// Whole-value access for the RDB codec.
impl Set {
    /// The members of an intset-encoded set; `None` for a hash table.
    pub fn intset(&self) -> Option<&Intset> {
        match &self.repr {
            Repr::Intset(i) => Some(i),
            Repr::Table(_) => None,
        }
    }

    /// Builds a set of `members` in the encoding Redis gives a loaded or restored set: an
    /// intset when every member is an integer and there are at most `max_intset` of them,
    /// else a hash table. `None` if a member repeats.
    pub fn from_members<M: std::ops::Deref<Target = [u8]>>(members: &[M], max_intset: usize) -> Option<Set> {
        if members.len() <= max_intset {
            if let Some(mut ints) = members.iter().map(|m| as_int(m)).collect::<Option<Vec<i64>>>() {
                ints.sort_unstable();
                return Self::from_sorted_ints(&ints, max_intset, 1);
            }
        }
        let mut t = PackedTable::with_capacity(members.len());
        for m in members {
            if !t.insert(m, b"") {
                return None;
            }
        }
        Some(Set { repr: Repr::Table(Box::new(t)) })
    }

    /// Builds a set of the strictly ascending integers `sorted`: an intset (at least
    /// `min_width` bytes per member, see [`Intset::from_sorted`]) when there are at most
    /// `max_intset`, else a hash table. `None` if they are not strictly ascending.
    pub fn from_sorted_ints(sorted: &[i64], max_intset: usize, min_width: usize) -> Option<Set> {
        if sorted.len() <= max_intset {
            return Intset::from_sorted(sorted, min_width).map(|i| Set { repr: Repr::Intset(i) });
        }
        if sorted.windows(2).any(|w| w[0] >= w[1]) {
            return None;
        }
        let mut t = PackedTable::with_capacity(sorted.len());
        for &v in sorted {
            t.insert_new(&StrRef::int(v), b"");
        }
        Some(Set { repr: Repr::Table(Box::new(t)) })
    }
}

/// Iterator over a [`Set`]'s members.
pub enum Iter<'a> {
    #[doc(hidden)]
    Intset(&'a Intset, usize),
    #[doc(hidden)]
    Table(crate::types::hash::table::Iter<'a, false>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = StrRef<'a>;
    #[inline]
    fn next(&mut self) -> Option<StrRef<'a>> {
        match self {
            Iter::Intset(i, pos) => {
                if *pos >= i.len() {
                    return None;
                }
                *pos += 1;
                Some(StrRef::int(i.get(*pos - 1)))
            }
            Iter::Table(it) => it.next().map(|(k, _)| StrRef::Bytes(k)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Access-level operations.
// ---------------------------------------------------------------------------------------

/// Runs `f` on the set at `key` (`None` when missing) under the shard's read lock;
/// WRONGTYPE for other types.
pub fn read<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&Set>) -> R) -> Result<R> {
    acc.read(key, |n| match n {
        None => Ok(f(None)),
        Some(n) => match &n.value {
            Value::Set(s) => Ok(f(Some(s))),
            _ => Err(Error::WrongType),
        },
    })
}

pub use crate::types::hash::KeyChange;

/// Runs `f` on the set at `key` under the shard's write lock; `create` makes a missing key
/// first with `create`'s member deciding the encoding (`setTypeCreate`). A set left empty
/// is deleted. Dirty counts must be bumped inside `f` (it runs under the lock).
pub fn write<R>(
    acc: &Access<'_>,
    key: &[u8],
    create: Option<&[u8]>,
    f: impl FnOnce(&mut Set) -> Result<R>,
) -> Result<(Option<R>, KeyChange)> {
    acc.write(key, |shard, h| {
        let now = acc.now;
        let mut change = KeyChange::default();
        if shard.get_mut(h, key, now).is_none() {
            let Some(first) = create else { return Ok((None, change)) };
            shard.set(h, key, Value::Set(Set::for_member(first)), None, now);
            change.created = true;
        }
        let (r, empty) = match shard.get_mut(h, key, now).map(|n| &mut n.value) {
            Some(Value::Set(set)) => {
                let r = f(set);
                (r, set.is_empty())
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

/// SADD: number of members added. Event: `sadd`.
pub fn sadd(acc: &Access<'_>, key: &[u8], members: &[&[u8]]) -> Result<usize> {
    let Some(first) = members.first() else { return Ok(0) };
    let max = max_intset_entries(acc);
    let (n, change) = write(acc, key, Some(first), |set| {
        let n = members.iter().filter(|m| set.add(m, max)).count();
        acc.add_dirty(n as u64);
        Ok(n)
    })?;
    let n = n.unwrap_or(0);
    if n > 0 {
        change.announce(acc, notify::SET, "sadd", key);
    }
    Ok(n)
}

/// SREM: number of members removed. Events: `srem`, `del` when emptied.
pub fn srem(acc: &Access<'_>, key: &[u8], members: &[&[u8]]) -> Result<usize> {
    let (n, change) = write(acc, key, None, |set| {
        let n = members.iter().filter(|m| set.remove(m)).count();
        acc.add_dirty(n as u64);
        Ok(n)
    })?;
    let n = n.unwrap_or(0);
    if n > 0 {
        change.announce(acc, notify::SET, "srem", key);
    }
    Ok(n)
}

/// SCARD.
pub fn scard(acc: &Access<'_>, key: &[u8]) -> Result<usize> {
    read(acc, key, |s| s.map_or(0, Set::len))
}

/// SISMEMBER.
pub fn sismember(acc: &Access<'_>, key: &[u8], member: &[u8]) -> Result<bool> {
    read(acc, key, |s| s.is_some_and(|s| s.contains(member)))
}

/// SMISMEMBER.
pub fn smismember(acc: &Access<'_>, key: &[u8], members: &[&[u8]]) -> Result<Vec<bool>> {
    read(acc, key, |s| members.iter().map(|m| s.is_some_and(|s| s.contains(m))).collect())
}

/// SMEMBERS.
pub fn smembers(acc: &Access<'_>, key: &[u8]) -> Result<Vec<Vec<u8>>> {
    read(acc, key, |s| s.map_or_else(Vec::new, |s| s.iter().map(|m| m.to_vec()).collect()))
}

/// SPOP key: one random member, removed. Events: `spop`, `del` when emptied.
pub fn spop(acc: &Access<'_>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let (m, change) = write(acc, key, None, |set| {
        let m = set.pop_random(&mut rand::thread_rng());
        acc.add_dirty(m.is_some() as u64);
        Ok(m)
    })?;
    let m = m.flatten();
    if m.is_some() {
        change.announce(acc, notify::SET, "spop", key);
    }
    Ok(m)
}

/// How many members SPOP with a count may move one by one before it is cheaper to rebuild
/// the remaining set (Redis's `SPOP_MOVE_STRATEGY_MUL`).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// SPOP key count: up to `count` distinct random members, removed. Events: `spop`, `del`
/// when emptied.
pub fn spop_count(acc: &Access<'_>, key: &[u8], count: usize) -> Result<Vec<Vec<u8>>> {
    let max = max_intset_entries(acc);
    let (popped, change) = acc.write(key, |shard, h| {
        let now = acc.now;
        let mut change = KeyChange::default();
        let Some(node) = shard.get_mut(h, key, now) else { return Ok((vec![], change)) };
        let Value::Set(set) = &mut node.value else { return Err(Error::WrongType) };
        let size = set.len();
        if count == 0 {
            return Ok((vec![], change));
        }
        let mut rng = rand::thread_rng();
        let popped: Vec<Vec<u8>> = if count >= size {
            // Case 1: the whole set.
            let all = set.iter().map(|m| m.to_vec()).collect();
            shard.remove(h, key);
            change.deleted = true;
            all
        } else if count * SPOP_MOVE_STRATEGY_MUL > size {
            // Case 3: pick the members that remain into a new set (`setTypeCreate` + adds,
            // so the new set may have another encoding) and reply with the old one.
            let remaining = size - count;
            let mut new: Option<Set> = None;
            for _ in 0..remaining {
                let Some(m) = set.pop_random(&mut rng) else { break };
                new.get_or_insert_with(|| Set::for_member(&m)).add(&m, max);
            }
            let popped = set.iter().map(|m| m.to_vec()).collect();
            if let Some(new) = new {
                *set = new;
            }
            popped
        } else {
            // Case 2: pop one by one.
            (0..count).filter_map(|_| set.pop_random(&mut rng)).collect()
        };
        acc.add_dirty(popped.len() as u64);
        Ok((popped, change))
    })?;
    if !popped.is_empty() {
        change.announce(acc, notify::SET, "spop", key);
    }
    Ok(popped)
}

/// How SRANDMEMBER picks `count` distinct members (Redis's `SRANDMEMBER_SUB_STRATEGY_MUL`).
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

/// How many members SRANDMEMBER with `count` returns from a set of `len` members.
pub fn random_len(len: usize, count: i64) -> usize {
    crate::types::hash::random_len(len, count)
}

/// SRANDMEMBER's selection, handing each pick to `emit` (exactly [`random_len`] of them,
/// streamed): `count < 0` picks `-count` members with repeats; `count >= len` gives the whole
/// set; otherwise `count` distinct members.
pub fn random_members<'s>(set: &'s Set, count: i64, mut emit: impl FnMut(StrRef<'s>)) {
    let mut rng = rand::thread_rng();
    let size = set.len();
    if count == 0 || size == 0 {
        return;
    }
    if count < 0 || count == 1 {
        for _ in 0..count.unsigned_abs() {
            if let Some(m) = set.random(&mut rng) {
                emit(m);
            }
        }
        return;
    }
    let count = count as usize;
    if count >= size {
        set.iter().for_each(emit);
        return;
    }
    if count * SRANDMEMBER_SUB_STRATEGY_MUL > size || !set.is_table() {
        let mut all: Vec<StrRef<'_>> = set.iter().collect();
        while all.len() > count {
            let i = rng.gen_range(0..all.len());
            all.swap_remove(i);
        }
        all.into_iter().for_each(emit);
        return;
    }
    let mut seen = std::collections::HashSet::with_capacity(count);
    while seen.len() < count {
        if let Some(m) = set.random(&mut rng) {
            if seen.insert(m.as_ptr()) {
                emit(m);
            }
        }
    }
}

/// Validates SRANDMEMBER's count with Redis's error.
pub fn check_random_count(count: i64) -> Result<()> {
    if count == i64::MIN {
        return Err(Error::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(())
}

/// SMOVE: moves `member` from `src` to `dst`; true if it was moved (or, when `src == dst`,
/// if it is a member). Events: `srem` on src (`del` if emptied), `sadd` on dst.
pub fn smove(acc: &Access<'_>, src: &[u8], dst: &[u8], member: &[u8]) -> Result<bool> {
    let max = max_intset_entries(acc);
    let (hs, hd) = (acc.hash(src), acc.hash(dst));
    let result = acc.write_many(&[src, dst], |m| -> Result<Option<(KeyChange, KeyChange)>> {
        let now = m.now;
        let dst_exists = match m.shard(hd).get_mut(hd, dst, now).map(|n| &n.value) {
            None => false,
            Some(Value::Set(_)) => true,
            Some(_) => {
                // Redis checks the source first: a missing source replies 0.
                if m.shard(hs).get_mut(hs, src, now).is_none() {
                    return Ok(None);
                }
                return Err(Error::WrongType);
            }
        };
        let shard = m.shard(hs);
        let Some(node) = shard.get_mut(hs, src, now) else { return Ok(None) };
        let Value::Set(set) = &mut node.value else { return Err(Error::WrongType) };
        if src == dst {
            return Ok(set.contains(member).then(Default::default));
        }
        if !set.remove(member) {
            return Ok(None);
        }
        let mut src_change = KeyChange::default();
        if set.is_empty() {
            shard.remove(hs, src);
            src_change.deleted = true;
        }
        let mut dst_change = KeyChange::default();
        let shard = m.shard(hd);
        if !dst_exists {
            shard.set(hd, dst, Value::Set(Set::for_member(member)), None, now);
            dst_change.created = true;
        }
        let mut added = dst_change.created;
        if let Some(Value::Set(d)) = shard.get_mut(hd, dst, now).map(|n| &mut n.value) {
            added |= d.add(member, max);
        }
        // A destination that already held the member is not modified (Redis signals it
        // only when the member is added).
        m.modified_only(&[src]);
        if added {
            m.modified_only(&[dst]);
        }
        acc.add_dirty(1);
        Ok(Some((src_change, dst_change)))
    })?;
    match result {
        Some((s, d)) if src != dst => {
            s.announce(acc, notify::SET, "srem", src);
            d.announce(acc, notify::SET, "sadd", dst);
            Ok(true)
        }
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// A source key of a multi-key set operation, taken out of the keyspace while the
/// operation runs (all shards locked).
enum Source {
    Missing,
    WrongType,
    Set(Set),
}

/// Takes the sets of `keys` (deduplicated) out of their nodes, replacing each with a
/// placeholder, so that several sets living in the same shard can be borrowed at once.
/// [`restore`] must put them back before the locks are released.
fn take_sources(m: &mut MultiShard<'_>, acc: &Access<'_>, keys: &[&[u8]]) -> (Vec<usize>, Vec<(Vec<u8>, Source)>) {
    let mut unique: Vec<(Vec<u8>, Source)> = Vec::new();
    let mut index = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(i) = unique.iter().position(|(k, _)| k.as_slice() == *key) {
            index.push(i);
            continue;
        }
        let h = acc.hash(key);
        let now = m.now;
        let src = match m.shard(h).get_mut(h, key, now) {
            None => Source::Missing,
            Some(n) => match std::mem::replace(&mut n.value, Value::Int(0)) {
                Value::Set(s) => Source::Set(s),
                other => {
                    n.value = other;
                    Source::WrongType
                }
            },
        };
        index.push(unique.len());
        unique.push((key.to_vec(), src));
    }
    (index, unique)
}

/// Puts back what [`take_sources`] took.
fn restore(m: &mut MultiShard<'_>, acc: &Access<'_>, taken: Vec<(Vec<u8>, Source)>) {
    for (key, src) in taken {
        if let Source::Set(s) = src {
            let (h, now) = (acc.hash(&key), m.now);
            if let Some(n) = m.shard(h).get_mut(h, &key, now) {
                n.value = Value::Set(s);
            }
        }
    }
}

/// Which multi-set operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// SINTER: members of every set.
    Inter,
    /// SUNION: members of any set.
    Union,
    /// SDIFF: members of the first set that are in no other.
    Diff,
}

/// The sets of an operation in key order (`None` for missing keys). Every key is
/// type-checked first (Redis 7.0 replies WRONGTYPE even when an earlier key is missing);
/// `Ok(None)` when a SINTER source is missing (the result is empty).
fn sources<'s>(op: SetOp, index: &[usize], taken: &'s [(Vec<u8>, Source)]) -> Result<Option<Vec<Option<&'s Set>>>> {
    let mut out = Vec::with_capacity(index.len());
    let mut missing = false;
    for &i in index {
        match &taken[i].1 {
            Source::Missing => {
                missing = true;
                out.push(None);
            }
            Source::WrongType => return Err(Error::WrongType),
            Source::Set(s) => out.push(Some(s)),
        }
    }
    Ok((!(missing && op == SetOp::Inter)).then_some(out))
}

/// Computes an operation into a new set (members added with `setTypeAdd` rules into an
/// initially empty intset, as Redis's `createIntsetObject` destination), or counts an
/// intersection up to `limit` (0: no limit) when `count_only`.
fn compute(op: SetOp, sets: &[Option<&Set>], max: usize, count_only: Option<usize>) -> (Set, usize) {
    let mut out = Set::default();
    let mut n = 0usize;
    match op {
        SetOp::Inter => {
            let mut sorted: Vec<&Set> = sets.iter().flatten().copied().collect();
            sorted.sort_by_key(|s| s.len());
            if let Some((first, rest)) = sorted.split_first() {
                for m in first.iter() {
                    if rest.iter().all(|s| s.contains(&m)) {
                        n += 1;
                        match count_only {
                            Some(limit) => {
                                if limit > 0 && n >= limit {
                                    break;
                                }
                            }
                            None => {
                                out.add(&m, max);
                            }
                        }
                    }
                }
            }
        }
        SetOp::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    out.add(&m, max);
                }
            }
        }
        SetOp::Diff => {
            if let Some(Some(first)) = sets.first() {
                let rest = &sets[1..];
                for m in first.iter() {
                    if !rest.iter().flatten().any(|s| s.contains(&m)) {
                        out.add(&m, max);
                    }
                }
            }
        }
    }
    if count_only.is_none() {
        n = out.len();
    }
    (out, n)
}

/// SINTER / SUNION / SDIFF: the resulting set (unstored). Atomic over all keys.
pub fn combine(acc: &Access<'_>, op: SetOp, keys: &[&[u8]]) -> Result<Set> {
    let max = max_intset_entries(acc);
    acc.write_many(keys, |m| {
        let (index, taken) = take_sources(m, acc, keys);
        let r = sources(op, &index, &taken).map(|s| s.map_or_else(Set::default, |s| compute(op, &s, max, None).0));
        restore(m, acc, taken);
        r
    })
}

/// SINTERCARD: the intersection's cardinality, stopping at `limit` (0: no limit).
pub fn sintercard(acc: &Access<'_>, keys: &[&[u8]], limit: usize) -> Result<usize> {
    acc.write_many(keys, |m| {
        let (index, taken) = take_sources(m, acc, keys);
        let r =
            sources(SetOp::Inter, &index, &taken).map(|s| s.map_or(0, |s| compute(SetOp::Inter, &s, 0, Some(limit)).1));
        restore(m, acc, taken);
        r
    })
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: stores the result in `dst` (replacing it and its
/// TTL) or deletes `dst` when the result is empty; returns the result's cardinality.
/// Events: `sinterstore`/`sunionstore`/`sdiffstore`, or `del` when `dst` was deleted.
pub fn store(acc: &Access<'_>, op: SetOp, dst: &[u8], keys: &[&[u8]]) -> Result<usize> {
    let max = max_intset_entries(acc);
    let mut all: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
    all.push(dst);
    all.extend_from_slice(keys);
    let (n, created, deleted) = acc.write_many(&all, |m| {
        let (index, taken) = take_sources(m, acc, keys);
        let r = sources(op, &index, &taken).map(|s| s.map_or_else(Set::default, |s| compute(op, &s, max, None).0));
        restore(m, acc, taken);
        let result = r?;
        let (hd, now) = (acc.hash(dst), m.now);
        let shard = m.shard(hd);
        let existed = shard.get_mut(hd, dst, now).is_some();
        let n = result.len();
        if n == 0 {
            if existed {
                crate::lazyfree::server_del(acc.inner, shard.remove(hd, dst));
                acc.signal_modified(dst);
            }
            return Ok((0, false, existed));
        }
        crate::lazyfree::server_del(acc.inner, shard.set(hd, dst, Value::Set(result), None, now));
        acc.signal_modified(dst);
        Ok((n, !existed, false))
    })?;
    // Outside the closure, so that `write_many` does not flag the watchers of the sources:
    // only `dst` changed (flagged above, under the lock).
    acc.add_dirty(u64::from(n > 0 || deleted));
    if n > 0 {
        let event = match op {
            SetOp::Inter => "sinterstore",
            SetOp::Union => "sunionstore",
            SetOp::Diff => "sdiffstore",
        };
        KeyChange { created, deleted: false }.announce(acc, notify::SET, event, dst);
    } else if deleted {
        acc.notify(notify::GENERIC, "del", dst);
    }
    Ok(n)
}

/// SSCAN at the access level: (next cursor, members).
pub fn sscan(acc: &Access<'_>, key: &[u8], cursor: u64, opts: &ScanOptions) -> Result<(u64, Vec<Vec<u8>>)> {
    read(acc, key, |s| match s {
        None => (0, vec![]),
        Some(s) => scan_members(s, cursor, opts),
    })
}

/// One SSCAN step: Redis visits buckets until it has `COUNT` members or tried `COUNT * 10`
/// buckets, then filters by the pattern. An intset is returned whole with cursor 0.
pub fn scan_members(s: &Set, cursor: u64, opts: &ScanOptions) -> (u64, Vec<Vec<u8>>) {
    let count = opts.count.unwrap_or(10).max(1);
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut cursor = cursor;
    if !s.is_table() {
        cursor = s.scan(0, |m| out.push(m.to_vec()));
    } else {
        let mut budget = count.saturating_mul(10);
        loop {
            cursor = s.scan(cursor, |m| out.push(m.to_vec()));
            if cursor == 0 || budget == 0 || out.len() >= count {
                break;
            }
            budget -= 1;
        }
    }
    if let Some(p) = &opts.pattern {
        if p.as_slice() != b"*" {
            out.retain(|m| crate::glob::glob_match(p, m, false));
        }
    }
    (cursor, out)
}

fn refs<T: AsRef<[u8]>>(items: &[T]) -> Vec<&[u8]> {
    items.iter().map(|i| i.as_ref()).collect()
}

impl Database {
    /// SADD key member [member ...]: number of members added.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// assert_eq!(db.sadd("s", &["a", "b", "a"]).unwrap(), 2);
    /// assert!(db.sismember("s", "a").unwrap());
    /// ```
    pub fn sadd<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<usize> {
        let key = key.as_ref();
        self.write_typed(|acc| sadd(acc, key, &refs(members)), |_, _| propagate::with_list(&[b"SADD", key], members))
    }

    /// SREM key member [member ...]: number of members removed.
    pub fn srem<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<usize> {
        let key = key.as_ref();
        self.write_typed(|acc| srem(acc, key, &refs(members)), |_, _| propagate::with_list(&[b"SREM", key], members))
    }

    /// SMEMBERS key.
    pub fn smembers(&self, key: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        smembers(&self.access(), key.as_ref())
    }

    /// SISMEMBER key member.
    pub fn sismember(&self, key: impl AsRef<[u8]>, member: impl AsRef<[u8]>) -> Result<bool> {
        sismember(&self.access(), key.as_ref(), member.as_ref())
    }

    /// SMISMEMBER key member [member ...].
    pub fn smismember<M: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, members: &[M]) -> Result<Vec<bool>> {
        smismember(&self.access(), key.as_ref(), &refs(members))
    }

    /// SCARD key.
    pub fn scard(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        scard(&self.access(), key.as_ref())
    }

    /// SPOP key: a random member, removed; propagated as its effect (`SREM key member`).
    pub fn spop(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        self.write_typed(
            |acc| spop(acc, key),
            |_, r| match r {
                Ok(Some(m)) => propagate::one([&b"SREM"[..], key, m]),
                _ => Vec::new(),
            },
        )
    }

    /// SPOP key count: up to `count` distinct random members, removed; propagated as SPOP
    /// is: `DEL key` when the whole set went, else one `SREM key member` per member.
    pub fn spop_count(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Vec<Vec<u8>>> {
        let key = key.as_ref();
        self.write_typed(
            |acc| {
                let r = spop_count(acc, key, count);
                // Looked up only for the stream, as the SPOP handler does.
                let gone =
                    matches!(&r, Ok(p) if !p.is_empty()) && propagate::collecting() && !acc.read(key, |n| n.is_some());
                (r, gone)
            },
            |_, (r, gone)| match r {
                Ok(_) if *gone => propagate::one([&b"DEL"[..], key]),
                Ok(popped) => popped.iter().map(|m| propagate::args([&b"SREM"[..], key, m])).collect(),
                Err(_) => Vec::new(),
            },
        )
        .0
    }

    /// SRANDMEMBER key: a random member.
    pub fn srandmember(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        read(&self.access(), key.as_ref(), |s| s.and_then(|s| s.random(&mut rand::thread_rng())).map(|m| m.to_vec()))
    }

    /// SRANDMEMBER key count: `count > 0` distinct members (at most the whole set),
    /// `count < 0` exactly `-count` members with possible repeats.
    pub fn srandmember_count(&self, key: impl AsRef<[u8]>, count: i64) -> Result<Vec<Vec<u8>>> {
        check_random_count(count)?;
        read(&self.access(), key.as_ref(), |s| {
            let mut out = Vec::new();
            if let Some(s) = s {
                random_members(s, count, |m| out.push(m.to_vec()));
            }
            out
        })
    }

    /// SMOVE source destination member: true if moved.
    pub fn smove(&self, src: impl AsRef<[u8]>, dst: impl AsRef<[u8]>, member: impl AsRef<[u8]>) -> Result<bool> {
        let (src, dst, member) = (src.as_ref(), dst.as_ref(), member.as_ref());
        self.write_typed(|acc| smove(acc, src, dst, member), |_, _| propagate::one([&b"SMOVE"[..], src, dst, member]))
    }

    /// SINTER key [key ...].
    pub fn sinter<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        Ok(combine(&self.access(), SetOp::Inter, &refs(keys))?.iter().map(|m| m.to_vec()).collect())
    }

    /// SINTERCARD numkeys key [key ...] [LIMIT limit] (`limit` 0: no limit).
    pub fn sintercard<K: AsRef<[u8]>>(&self, keys: &[K], limit: usize) -> Result<usize> {
        sintercard(&self.access(), &refs(keys), limit)
    }

    /// SINTERSTORE destination key [key ...]: the stored cardinality.
    pub fn sinterstore<K: AsRef<[u8]>>(&self, dst: impl AsRef<[u8]>, keys: &[K]) -> Result<usize> {
        self.store_typed(b"SINTERSTORE", SetOp::Inter, dst.as_ref(), keys)
    }

    /// SUNION key [key ...].
    pub fn sunion<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        Ok(combine(&self.access(), SetOp::Union, &refs(keys))?.iter().map(|m| m.to_vec()).collect())
    }

    /// SUNIONSTORE destination key [key ...]: the stored cardinality.
    pub fn sunionstore<K: AsRef<[u8]>>(&self, dst: impl AsRef<[u8]>, keys: &[K]) -> Result<usize> {
        self.store_typed(b"SUNIONSTORE", SetOp::Union, dst.as_ref(), keys)
    }

    /// SDIFF key [key ...].
    pub fn sdiff<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Vec<u8>>> {
        Ok(combine(&self.access(), SetOp::Diff, &refs(keys))?.iter().map(|m| m.to_vec()).collect())
    }

    /// SDIFFSTORE destination key [key ...]: the stored cardinality.
    pub fn sdiffstore<K: AsRef<[u8]>>(&self, dst: impl AsRef<[u8]>, keys: &[K]) -> Result<usize> {
        self.store_typed(b"SDIFFSTORE", SetOp::Diff, dst.as_ref(), keys)
    }

    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE, propagated with their arguments.
    fn store_typed<K: AsRef<[u8]>>(&self, name: &'static [u8], op: SetOp, dst: &[u8], keys: &[K]) -> Result<usize> {
        self.write_typed(|acc| store(acc, op, dst, &refs(keys)), |_, _| propagate::with_list(&[name, dst], keys))
    }

    /// SSCAN key cursor [MATCH pattern] [COUNT count]: (next cursor, members).
    pub fn sscan(&self, key: impl AsRef<[u8]>, cursor: u64, opts: &ScanOptions) -> Result<(u64, Vec<Vec<u8>>)> {
        sscan(&self.access(), key.as_ref(), cursor, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_widths_and_order() {
        let mut i = Intset::default();
        for v in [5, -3, 100, 5] {
            i.insert(v);
        }
        assert_eq!(i.iter().collect::<Vec<_>>(), vec![-3, 5, 100]);
        assert_eq!(i.width(), 1);
        i.insert(1 << 20);
        assert_eq!(i.width(), 3);
        i.insert(i64::MIN);
        assert_eq!(i.width(), 8);
        assert_eq!(i.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 100, 1 << 20]);
        assert!(i.contains(100) && !i.contains(101) && !i.contains(i64::MAX));
        assert!(i.remove(-3) && !i.remove(-3));
        assert_eq!(i.len(), 4);
        assert_eq!(std::mem::size_of::<Set>(), 16);
        for v in [-129i64, 128, -32769, 1 << 40, -(1 << 55), i64::MAX] {
            let mut s = Intset::default();
            s.insert(v);
            s.insert(0);
            assert_eq!(s.iter().collect::<Vec<_>>(), vec![v.min(0), v.max(0)]);
        }
    }

    #[test]
    fn set_conversion() {
        let mut s = Set::for_member(b"1");
        for i in 0..4 {
            s.add(i.to_string().as_bytes(), 4);
        }
        assert_eq!(s.encoding(), "intset");
        s.add(b"4", 4);
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::for_member(b"1");
        s.add(b"1", 10);
        s.add(b"x", 10);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"x") && !s.contains(b"01"));
        assert_eq!(Set::for_member(b"01").encoding(), "hashtable");
    }
}
