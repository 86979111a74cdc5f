//! The typed in-process API for lists: `impl Database` methods (`lpush`, `lrange`, `blpop`,
//! ...).
//!
//! Writes propagate as the list commands do (`write_typed`); the blocking pops run through
//! the command path on a private client, so their handlers propagate them (as the pop that
//! took effect), on the thread that served them.
use super::*;
use crate::propagate;

/// The timeout argument of a blocking command for a [`Duration`] (0 = forever, as in
/// Redis; sub-millisecond parts round up).
pub(super) fn timeout_arg(timeout: Duration) -> String {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The propagated name of a pop from `end` (`LPOP`/`RPOP`).
fn pop_name(end: ListEnd) -> &'static [u8] {
    match end {
        ListEnd::Left => b"LPOP",
        ListEnd::Right => b"RPOP",
    }
}

impl Database {
    /// A push of the typed API, propagated as the command `name` with the elements pushed
    /// (copied only while the stream collects). Blocked clients are served after the
    /// push's own frame closed, so their pops follow it in the stream.
    fn push_typed<V: AsRef<[u8]>>(
        &self,
        name: &'static [u8],
        key: &[u8],
        end: ListEnd,
        values: impl IntoIterator<Item = V>,
        only_existing: bool,
    ) -> Result<usize> {
        let (r, _) = self.write_typed(
            |acc| {
                let keep = propagate::collecting();
                let mut pushed: Vec<Vec<u8>> = Vec::new();
                let values = values.into_iter().inspect(|v| {
                    if keep {
                        pushed.push(v.as_ref().to_vec());
                    }
                });
                (push(acc, key, end, values, only_existing), pushed)
            },
            |_, (_, pushed)| propagate::with_list(&[name, key], pushed),
        );
        self.serve_blocked(r)
    }

    /// LPUSH key element [element ...]: returns the new length.
    pub fn lpush<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.push_typed(b"LPUSH", key.as_ref(), ListEnd::Left, values, false)
    }

    /// RPUSH key element [element ...]: returns the new length.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// assert_eq!(db.rpush("l", ["a", "b", "c"]).unwrap(), 3);
    /// assert_eq!(db.lrange("l", 0, -1).unwrap(), vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    /// ```
    pub fn rpush<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.push_typed(b"RPUSH", key.as_ref(), ListEnd::Right, values, false)
    }

    /// LPUSHX: pushes only if the list exists; returns the new length (0 if missing).
    pub fn lpushx<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.push_typed(b"LPUSHX", key.as_ref(), ListEnd::Left, values, true)
    }

    /// RPUSHX: pushes only if the list exists; returns the new length (0 if missing).
    pub fn rpushx<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.push_typed(b"RPUSHX", key.as_ref(), ListEnd::Right, values, true)
    }

    /// LPOP/RPOP, propagated as sent: `LPOP key` (`count`: `None`) or `LPOP key count`.
    pub(super) fn pop_n(&self, key: &[u8], end: ListEnd, count: Option<usize>) -> Result<Option<Vec<Vec<u8>>>> {
        self.write_typed(
            |acc| {
                let mut out = Vec::new();
                let n = pop_each(acc, key, end, count.unwrap_or(1), |_, total, e| {
                    out.reserve(total);
                    out.push(e.to_vec());
                })?;
                Ok(n.map(|_| out))
            },
            |_, _| match count {
                None => propagate::one([pop_name(end), key]),
                Some(c) => propagate::one([pop_name(end), key, c.to_string().as_bytes()]),
            },
        )
    }

    /// LPOP key: the head element, `None` if the list is missing.
    pub fn lpop(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.pop_n(key.as_ref(), ListEnd::Left, None)?.and_then(|v| v.into_iter().next()))
    }

    /// RPOP key: the tail element, `None` if the list is missing.
    pub fn rpop(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.pop_n(key.as_ref(), ListEnd::Right, None)?.and_then(|v| v.into_iter().next()))
    }

    /// LPOP key count: up to `count` head elements; `None` if the list is missing.
    pub fn lpop_count(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        self.pop_n(key.as_ref(), ListEnd::Left, Some(count))
    }

    /// RPOP key count: up to `count` tail elements; `None` if the list is missing.
    pub fn rpop_count(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        self.pop_n(key.as_ref(), ListEnd::Right, Some(count))
    }

    /// LLEN key.
    pub fn llen(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        len(&self.access(), key.as_ref())
    }

    /// LRANGE key start stop.
    pub fn lrange(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        range(&self.access(), key.as_ref(), start, stop)
    }

    /// LINDEX key index.
    pub fn lindex(&self, key: impl AsRef<[u8]>, index: i64) -> Result<Option<Vec<u8>>> {
        self::index(&self.access(), key.as_ref(), index)
    }

    /// LSET key index element.
    pub fn lset(&self, key: impl AsRef<[u8]>, index: i64, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.write_typed(
            |acc| set(acc, key, index, value),
            |_, _| propagate::one([&b"LSET"[..], key, index.to_string().as_bytes(), value]),
        )
    }

    /// LINSERT key BEFORE|AFTER pivot element: the new length, -1 if `pivot` is missing,
    /// 0 if the key is missing.
    pub fn linsert(
        &self,
        key: impl AsRef<[u8]>,
        after: bool,
        pivot: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<i64> {
        let (key, pivot, value) = (key.as_ref(), pivot.as_ref(), value.as_ref());
        let place: &[u8] = if after { b"AFTER" } else { b"BEFORE" };
        self.write_typed(
            |acc| insert(acc, key, after, pivot, value),
            |_, _| propagate::one([&b"LINSERT"[..], key, place, pivot, value]),
        )
    }

    /// LREM key count element: how many were removed.
    pub fn lrem(&self, key: impl AsRef<[u8]>, count: i64, value: impl AsRef<[u8]>) -> Result<usize> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.write_typed(
            |acc| remove(acc, key, count, value),
            |_, _| propagate::one([&b"LREM"[..], key, count.to_string().as_bytes(), value]),
        )
    }

    /// LTRIM key start stop.
    pub fn ltrim(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<()> {
        let key = key.as_ref();
        self.write_typed(
            |acc| trim(acc, key, start, stop),
            |_, _| propagate::one([&b"LTRIM"[..], key, start.to_string().as_bytes(), stop.to_string().as_bytes()]),
        )
    }

    /// LPOS key element [RANK rank] [COUNT num] [MAXLEN len]: the matching positions.
    pub fn lpos(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: LposOptions) -> Result<Vec<usize>> {
        positions(&self.access(), key.as_ref(), value.as_ref(), &opts)
    }

    /// LMOVE source destination from to: the moved element, `None` if `src` is missing.
    pub fn lmove(
        &self,
        src: impl AsRef<[u8]>,
        dst: impl AsRef<[u8]>,
        from: ListEnd,
        to: ListEnd,
    ) -> Result<Option<Vec<u8>>> {
        let (src, dst) = (src.as_ref(), dst.as_ref());
        let r = self.write_typed(
            |acc| lmove(acc, src, dst, from, to),
            |_, _| propagate::one([&b"LMOVE"[..], src, dst, from.as_str().as_bytes(), to.as_str().as_bytes()]),
        );
        self.serve_blocked(r)
    }

    /// RPOPLPUSH source destination.
    pub fn rpoplpush(&self, src: impl AsRef<[u8]>, dst: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let (src, dst) = (src.as_ref(), dst.as_ref());
        let r = self.write_typed(
            |acc| lmove(acc, src, dst, ListEnd::Right, ListEnd::Left),
            |_, _| propagate::one([&b"RPOPLPUSH"[..], src, dst]),
        );
        self.serve_blocked(r)
    }

    /// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: propagated as the pop that
    /// took effect (`LPOP key <popped>`), as the command is.
    pub fn lmpop<K: AsRef<[u8]>>(&self, keys: &[K], end: ListEnd, count: usize) -> Result<Option<Popped>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.write_typed(
            |acc| mpop(acc, &keys, end, count),
            |_, r| match r {
                Ok(Some((key, elems))) => {
                    propagate::one([pop_name(end), key.as_slice(), elems.len().to_string().as_bytes()])
                }
                _ => Vec::new(),
            },
        )
    }

    pub(super) fn bpop(&self, cmd: &str, keys: &[&[u8]], timeout: Duration) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push(cmd);
        for k in keys {
            args.push(k);
        }
        args.push(timeout_arg(timeout));
        match self.run_blocking(args, timeout)? {
            ferrous_resp::Value::Array(mut v) if v.len() == 2 => {
                let e = v.pop().and_then(bulk_bytes).unwrap_or_default();
                let k = v.pop().and_then(bulk_bytes).unwrap_or_default();
                Ok(Some((k, e)))
            }
            _ => Ok(None),
        }
    }

    /// BLPOP key [key ...] timeout: pops the head of the first non-empty list, waiting up to
    /// `timeout` for one (`Duration::ZERO` waits forever, as Redis's timeout 0). Returns the
    /// key and the element, or `None` on timeout.
    pub fn blpop<K: AsRef<[u8]>>(&self, keys: &[K], timeout: Duration) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.bpop("BLPOP", &keys, timeout)
    }

    /// BRPOP key [key ...] timeout: like [`Database::blpop`] from the tail.
    pub fn brpop<K: AsRef<[u8]>>(&self, keys: &[K], timeout: Duration) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        self.bpop("BRPOP", &keys, timeout)
    }

    /// BLMOVE source destination from to timeout: like [`Database::lmove`], waiting up to
    /// `timeout` (`Duration::ZERO`: forever) for `src` to have an element.
    pub fn blmove(
        &self,
        src: impl AsRef<[u8]>,
        dst: impl AsRef<[u8]>,
        from: ListEnd,
        to: ListEnd,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push("BLMOVE").push(src).push(dst).push(from.as_str()).push(to.as_str()).push(timeout_arg(timeout));
        Ok(bulk_bytes(self.run_blocking(args, timeout)?))
    }

    /// BRPOPLPUSH source destination timeout.
    pub fn brpoplpush(
        &self,
        src: impl AsRef<[u8]>,
        dst: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>> {
        // As BRPOPLPUSH, so that it propagates as RPOPLPUSH.
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push("BRPOPLPUSH").push(src).push(dst).push(timeout_arg(timeout));
        Ok(bulk_bytes(self.run_blocking(args, timeout)?))
    }

    /// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: like
    /// [`Database::lmpop`], waiting up to `timeout` (`Duration::ZERO`: forever).
    pub fn blmpop<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        end: ListEnd,
        count: usize,
        timeout: Duration,
    ) -> Result<Option<Popped>> {
        let mut args = ferrous_resp::ArgsBuf::new();
        args.push("BLMPOP").push(timeout_arg(timeout)).push(keys.len().to_string());
        for k in keys {
            args.push(k);
        }
        args.push(end.as_str()).push("COUNT").push(count.max(1).to_string());
        match self.run_blocking(args, timeout)? {
            ferrous_resp::Value::Array(mut v) if v.len() == 2 => {
                let elems = match v.pop() {
                    Some(ferrous_resp::Value::Array(items)) => items.into_iter().filter_map(bulk_bytes).collect(),
                    _ => Vec::new(),
                };
                let key = v.pop().and_then(bulk_bytes).unwrap_or_default();
                Ok(Some((key, elems)))
            }
            _ => Ok(None),
        }
    }
}

pub(super) fn bulk_bytes(v: ferrous_resp::Value) -> Option<Vec<u8>> {
    match v {
        ferrous_resp::Value::Bulk(b) => Some(b),
        _ => None,
    }
}
