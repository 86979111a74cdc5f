//! Access-level list operations: one command's semantics against the keyspace through an
//! [`Access`] (LPUSH, LPOP, LMPOP, LMOVE, LINDEX, LSET, LINSERT, LREM, LTRIM, LPOS, ...),
//! shared by the typed API and the command handlers.
use super::*;

/// An end of a list: `LEFT` (head) or `RIGHT` (tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListEnd {
    /// The head (LPUSH, LPOP, LEFT).
    Left,
    /// The tail (RPUSH, RPOP, RIGHT).
    Right,
}

impl ListEnd {
    /// Parses `LEFT` / `RIGHT` (any case); anything else is a syntax error.
    pub fn parse(arg: &[u8]) -> Result<ListEnd> {
        if arg.eq_ignore_ascii_case(b"left") {
            Ok(ListEnd::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Ok(ListEnd::Right)
        } else {
            Err(Error::Syntax)
        }
    }
    /// The Redis keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ListEnd::Left => "LEFT",
            ListEnd::Right => "RIGHT",
        }
    }
}

/// A key and the elements popped from it (LMPOP, BLMPOP).
pub type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// Options of LPOS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LposOptions {
    /// RANK: the first match to return (1 = first, 2 = second...; negative counts from the
    /// tail). Must not be 0.
    pub rank: i64,
    /// COUNT: `None` returns only the first qualifying match; `Some(0)` all of them;
    /// `Some(n)` at most `n`.
    pub count: Option<usize>,
    /// MAXLEN: compare at most this many elements (0 = no limit).
    pub maxlen: usize,
}

impl Default for LposOptions {
    fn default() -> Self {
        LposOptions { rank: 1, count: None, maxlen: 0 }
    }
}

/// Redis's error for `LPOS ... RANK 0`.
pub(crate) const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";

/// The `list-max-listpack-size` a new list gets (mirrored in an atomic: no config lock).
pub(super) fn configured_fill(acc: &Access<'_>) -> i64 {
    acc.inner.tunables.get(crate::config::Tunable::ListMaxListpackSize)
}

/// Runs `f` on the list at `key` (`None` if missing) under the read lock; WRONGTYPE for
/// other types.
pub fn read<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&List>) -> R) -> Result<R> {
    acc.read(key, |n| match n {
        None => Ok(f(None)),
        Some(n) => match &n.value {
            Value::List(l) => Ok(f(Some(l))),
            _ => Err(Error::WrongType),
        },
    })
}

/// Runs `f` on the list at `key` (`None` if missing) under the write lock, deleting the key
/// if `f` leaves the list empty; WRONGTYPE for other types. Returns `f`'s result and whether
/// the key was deleted. `f` runs under the lock, so it is where the dirty counter must be
/// bumped (WATCH compares it around the lock).
pub fn modify<R>(acc: &Access<'_>, key: &[u8], f: impl FnOnce(Option<&mut List>) -> R) -> Result<(R, bool)> {
    acc.write(key, |shard, h| {
        let Some(node) = shard.get_mut(h, key, acc.now) else { return Ok((f(None), false)) };
        let Value::List(l) = &mut node.value else { return Err(Error::WrongType) };
        let r = f(Some(l));
        let deleted = l.is_empty();
        if deleted {
            shard.remove(h, key);
        }
        Ok((r, deleted))
    })
}

/// The keyspace event of popping from `end`.
pub(super) fn pop_event(end: ListEnd) -> &'static str {
    match end {
        ListEnd::Left => "lpop",
        ListEnd::Right => "rpop",
    }
}

/// The keyspace event of pushing at `end`.
pub(super) fn push_event(end: ListEnd) -> &'static str {
    match end {
        ListEnd::Left => "lpush",
        ListEnd::Right => "rpush",
    }
}

/// Publishes a list event on `key` (after the shard lock is released).
pub(super) fn announce(acc: &Access<'_>, key: &[u8], event: &str, created: bool, deleted: bool) {
    KeyChange { created, deleted }.announce(acc, notify::LIST, event, key);
}

/// LPUSH/RPUSH (`only_existing`: LPUSHX/RPUSHX): pushes `values` one by one at `end`;
/// returns the new length (0 when `only_existing` and the key is missing).
pub fn push<V: AsRef<[u8]>>(
    acc: &Access<'_>,
    key: &[u8],
    end: ListEnd,
    values: impl IntoIterator<Item = V>,
    only_existing: bool,
) -> Result<usize> {
    let fill_all = |l: &mut List| {
        let mut pushed = 0;
        for v in values {
            l.push(end, v.as_ref());
            pushed += 1;
        }
        if pushed > 1 {
            l.shrink_ends();
        }
        pushed
    };
    let (len, pushed, created) = acc.write(key, |shard, h| {
        let (len, pushed, created) = match shard.get_mut(h, key, acc.now) {
            Some(node) => {
                let Value::List(l) = &mut node.value else { return Err(Error::WrongType) };
                let pushed = fill_all(l);
                (l.len(), pushed, false)
            }
            None if only_existing => return Ok((0, 0, false)),
            None => {
                let mut l = List::with_fill(configured_fill(acc));
                let pushed = fill_all(&mut l);
                let len = l.len();
                if len > 0 {
                    shard.set(h, key, Value::List(Box::new(l)), None, acc.now);
                }
                (len, pushed, len > 0)
            }
        };
        if pushed > 0 {
            acc.add_dirty(pushed as u64);
            acc.signal_ready(key);
        }
        Ok((len, pushed, created))
    })?;
    if pushed > 0 {
        announce(acc, key, push_event(end), created, false);
    }
    Ok(len)
}

/// LPOP/RPOP: pops up to `count` elements from `end`, handing each to
/// `f(position, total, element)`. Returns `None` if the key is missing, else how many were
/// popped (0 only when `count` is 0).
pub fn pop_each(
    acc: &Access<'_>,
    key: &[u8],
    end: ListEnd,
    count: usize,
    mut f: impl FnMut(usize, usize, Elem<'_>),
) -> Result<Option<usize>> {
    let (n, deleted) = modify(acc, key, |l| {
        let l = l?;
        let total = count.min(l.len());
        let mut i = 0;
        l.pop_many(end, total, |e| {
            f(i, total, e);
            i += 1;
        });
        acc.add_dirty(total as u64);
        Some(total)
    })?;
    if let Some(1..) = n {
        announce(acc, key, pop_event(end), false, deleted);
    }
    Ok(n)
}

/// What [`mpop_locked`] popped: from `keys[key]`, `count` elements; `deleted` if that emptied
/// the list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MPopped {
    key: usize,
    count: usize,
    deleted: bool,
}

/// The first of `keys` holding a non-empty list, under locks already held; pops up to
/// `count` elements from `end` handing each to `f(key, position, total, element)`.
/// WRONGTYPE if a key before it holds another type, unless `skip_wrong_type` (used when
/// serving a blocked client: Redis serves it from the list that became ready). Publish the
/// events with [`announce_mpop`] once the locks are released.
pub(crate) fn mpop_locked(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    keys: &[&[u8]],
    end: ListEnd,
    count: usize,
    skip_wrong_type: bool,
    mut f: impl FnMut(&[u8], usize, usize, Elem<'_>),
) -> Result<Option<MPopped>> {
    for (ki, &key) in keys.iter().enumerate() {
        let h = acc.hash(key);
        let shard = m.shard(h);
        let Some(node) = shard.get_mut(h, key, acc.now) else { continue };
        let Value::List(l) = &mut node.value else {
            if skip_wrong_type {
                continue;
            }
            return Err(Error::WrongType);
        };
        let total = count.min(l.len());
        let mut i = 0;
        l.pop_many(end, total, |e| {
            f(key, i, total, e);
            i += 1;
        });
        let deleted = l.is_empty();
        if deleted {
            shard.remove(h, key);
        }
        // The keys before it were found missing: only this one is modified.
        m.modified_only(&[key]);
        acc.add_dirty(total as u64);
        return Ok(Some(MPopped { key: ki, count: total, deleted }));
    }
    Ok(None)
}

/// Publishes the events of an [`mpop_locked`] pop.
pub(crate) fn announce_mpop(acc: &Access<'_>, keys: &[&[u8]], end: ListEnd, popped: Option<MPopped>) {
    if let Some(p) = popped.filter(|p| p.count > 0) {
        announce(acc, keys[p.key], pop_event(end), false, p.deleted);
    }
}

/// LMPOP: pops up to `count` elements from `end` of the first non-empty list among `keys`.
/// Returns its key and the elements, or `None` if every key is missing.
pub fn mpop(acc: &Access<'_>, keys: &[&[u8]], end: ListEnd, count: usize) -> Result<Option<Popped>> {
    let mut out: Option<Popped> = None;
    let popped = acc.write_many(keys, |m| {
        mpop_locked(m, acc, keys, end, count, false, |key, _, total, e| {
            out.get_or_insert_with(|| (key.to_vec(), Vec::with_capacity(total))).1.push(e.to_vec())
        })
    })?;
    announce_mpop(acc, keys, end, popped);
    Ok(out)
}

/// What [`lmove_locked`] did.
#[derive(Debug)]
pub(crate) struct Moved {
    /// The element moved.
    pub value: Vec<u8>,
    dst_created: bool,
    src_deleted: bool,
}

/// LMOVE/RPOPLPUSH under locks already held on both keys: moves one element from `from` of
/// `src` to `to` of `dst`. `Ok(None)` if `src` is missing. `dst` is type-checked before
/// anything is popped, as in Redis. Publish the events with [`announce_move`] once the
/// locks are released.
pub(crate) fn lmove_locked(
    m: &mut MultiShard<'_>,
    acc: &Access<'_>,
    src: &[u8],
    dst: &[u8],
    from: ListEnd,
    to: ListEnd,
) -> Result<Option<Moved>> {
    let (hs, hd) = (acc.hash(src), acc.hash(dst));
    match m.shard(hs).get_mut(hs, src, acc.now) {
        None => return Ok(None),
        Some(n) if !matches!(n.value, Value::List(_)) => return Err(Error::WrongType),
        Some(_) => {}
    }
    if let Some(n) = m.shard(hd).get_mut(hd, dst, acc.now) {
        if !matches!(n.value, Value::List(_)) {
            return Err(Error::WrongType);
        }
    }
    let (value, src_deleted) = {
        let shard = m.shard(hs);
        let Some(node) = shard.get_mut(hs, src, acc.now) else { return Ok(None) };
        let Value::List(l) = &mut node.value else { return Err(Error::WrongType) };
        let Some(v) = l.pop(from) else { return Ok(None) };
        if src == dst {
            // Rotation: the list never disappears in between.
            l.push(to, &v);
            acc.add_dirty(1);
            acc.signal_ready(dst);
            return Ok(Some(Moved { value: v, dst_created: false, src_deleted: false }));
        }
        let deleted = l.is_empty();
        if deleted {
            shard.remove(hs, src);
        }
        (v, deleted)
    };
    let shard = m.shard(hd);
    let dst_created = match shard.get_mut(hd, dst, acc.now) {
        Some(node) => {
            if let Value::List(l) = &mut node.value {
                l.push(to, &value);
            }
            false
        }
        None => {
            let mut l = List::with_fill(configured_fill(acc));
            l.push(to, &value);
            shard.set(hd, dst, Value::List(Box::new(l)), None, acc.now);
            true
        }
    };
    acc.add_dirty(1);
    acc.signal_ready(dst);
    Ok(Some(Moved { value, dst_created, src_deleted }))
}

/// Publishes the events of an [`lmove_locked`] move, in Redis's order: the push on `dst`
/// (after `new` if created), then the pop on `src` (then `del` if emptied).
pub(crate) fn announce_move(acc: &Access<'_>, src: &[u8], dst: &[u8], from: ListEnd, to: ListEnd, moved: &Moved) {
    announce(acc, dst, push_event(to), moved.dst_created, false);
    announce(acc, src, pop_event(from), false, moved.src_deleted);
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
pub fn lmove(acc: &Access<'_>, src: &[u8], dst: &[u8], from: ListEnd, to: ListEnd) -> Result<Option<Vec<u8>>> {
    let moved = acc.write_many(&[src, dst], |m| lmove_locked(m, acc, src, dst, from, to))?;
    Ok(moved.map(|mv| {
        announce_move(acc, src, dst, from, to, &mv);
        mv.value
    }))
}

/// LLEN (0 for a missing key).
pub fn len(acc: &Access<'_>, key: &[u8]) -> Result<usize> {
    read(acc, key, |l| l.map_or(0, |l| l.len()))
}

/// LINDEX.
pub fn index(acc: &Access<'_>, key: &[u8], index: i64) -> Result<Option<Vec<u8>>> {
    read(acc, key, |l| l.and_then(|l| l.get(index)).map(|e| e.to_vec()))
}

/// LRANGE.
pub fn range(acc: &Access<'_>, key: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
    read(acc, key, |l| l.map_or_else(Vec::new, |l| l.range(start, stop).map(|e| e.to_vec()).collect()))
}

/// LSET: "no such key" for a missing key, "index out of range" past either end.
pub fn set(acc: &Access<'_>, key: &[u8], index: i64, value: &[u8]) -> Result<()> {
    modify(acc, key, |l| match l {
        None => Err(Error::NoSuchKey),
        Some(l) => match l.set(index, value) {
            true => {
                acc.add_dirty(1);
                Ok(())
            }
            false => Err(Error::msg("ERR index out of range")),
        },
    })?
    .0?;
    announce(acc, key, "lset", false, false);
    Ok(())
}

/// LINSERT: inserts `value` before or after the first `pivot`. Returns the new length, -1
/// if `pivot` is not in the list, 0 if the key is missing.
pub fn insert(acc: &Access<'_>, key: &[u8], after: bool, pivot: &[u8], value: &[u8]) -> Result<i64> {
    let (r, _) = modify(acc, key, |l| match l {
        None => 0,
        Some(l) => match l.insert(pivot, value, after) {
            true => {
                acc.add_dirty(1);
                l.len() as i64
            }
            false => -1,
        },
    })?;
    if r > 0 {
        announce(acc, key, "linsert", false, false);
    }
    Ok(r)
}

/// LREM: see [`List::remove`]. Returns how many elements were removed.
pub fn remove(acc: &Access<'_>, key: &[u8], count: i64, value: &[u8]) -> Result<usize> {
    let (n, deleted) = modify(acc, key, |l| {
        let n = l.map_or(0, |l| l.remove(value, count));
        acc.add_dirty(n as u64);
        n
    })?;
    if n > 0 {
        announce(acc, key, "lrem", false, deleted);
    }
    Ok(n)
}

/// LTRIM.
pub fn trim(acc: &Access<'_>, key: &[u8], start: i64, stop: i64) -> Result<()> {
    let (existed, deleted) = modify(acc, key, |l| {
        let Some(l) = l else { return false };
        let before = l.len();
        l.trim(start, stop);
        if l.len() == before {
            // Redis signals LTRIM's key as modified even when nothing was trimmed.
            acc.signal_modified(key);
        }
        acc.add_dirty((before - l.len()) as u64);
        true
    })?;
    if existed {
        announce(acc, key, "ltrim", false, deleted);
    }
    Ok(())
}

/// LPOS: positions of `value` in the list (empty for a missing key).
pub fn positions(acc: &Access<'_>, key: &[u8], value: &[u8], opts: &LposOptions) -> Result<Vec<usize>> {
    if opts.rank == 0 {
        return Err(Error::msg(RANK_ZERO));
    }
    read(acc, key, |l| l.map_or_else(Vec::new, |l| l.positions(value, opts)))
}
