//! The typed in-process API for lists: `impl Database` methods (`lpush`, `lrange`, `blpop`,
//! ...).
use super::*;

/// The timeout argument of a blocking command for a [`Duration`] (0 = forever, as in
/// Redis; sub-millisecond parts round up).
pub(super) fn timeout_arg(timeout: Duration) -> String {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

impl Database {
    /// LPUSH key element [element ...]: returns the new length.
    pub fn lpush<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Left, values, false))
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
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Right, values, false))
    }

    /// LPUSHX: pushes only if the list exists; returns the new length (0 if missing).
    pub fn lpushx<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Left, values, true))
    }

    /// RPUSHX: pushes only if the list exists; returns the new length (0 if missing).
    pub fn rpushx<V: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, values: impl IntoIterator<Item = V>) -> Result<usize> {
        self.serve_blocked(push(&self.access(), key.as_ref(), ListEnd::Right, values, true))
    }

    pub(super) fn pop_n(&self, key: &[u8], end: ListEnd, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        let mut out = Vec::new();
        let n = pop_each(&self.access(), key, end, count, |_, total, e| {
            out.reserve(total);
            out.push(e.to_vec());
        })?;
        Ok(n.map(|_| out))
    }

    /// LPOP key: the head element, `None` if the list is missing.
    pub fn lpop(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.pop_n(key.as_ref(), ListEnd::Left, 1)?.and_then(|v| v.into_iter().next()))
    }

    /// RPOP key: the tail element, `None` if the list is missing.
    pub fn rpop(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.pop_n(key.as_ref(), ListEnd::Right, 1)?.and_then(|v| v.into_iter().next()))
    }

    /// LPOP key count: up to `count` head elements; `None` if the list is missing.
    pub fn lpop_count(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        self.pop_n(key.as_ref(), ListEnd::Left, count)
    }

    /// RPOP key count: up to `count` tail elements; `None` if the list is missing.
    pub fn rpop_count(&self, key: impl AsRef<[u8]>, count: usize) -> Result<Option<Vec<Vec<u8>>>> {
        self.pop_n(key.as_ref(), ListEnd::Right, count)
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
        set(&self.access(), key.as_ref(), index, value.as_ref())
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
        insert(&self.access(), key.as_ref(), after, pivot.as_ref(), value.as_ref())
    }

    /// LREM key count element: how many were removed.
    pub fn lrem(&self, key: impl AsRef<[u8]>, count: i64, value: impl AsRef<[u8]>) -> Result<usize> {
        remove(&self.access(), key.as_ref(), count, value.as_ref())
    }

    /// LTRIM key start stop.
    pub fn ltrim(&self, key: impl AsRef<[u8]>, start: i64, stop: i64) -> Result<()> {
        trim(&self.access(), key.as_ref(), start, stop)
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
        self.serve_blocked(lmove(&self.access(), src.as_ref(), dst.as_ref(), from, to))
    }

    /// RPOPLPUSH source destination.
    pub fn rpoplpush(&self, src: impl AsRef<[u8]>, dst: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.lmove(src, dst, ListEnd::Right, ListEnd::Left)
    }

    /// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count].
    pub fn lmpop<K: AsRef<[u8]>>(&self, keys: &[K], end: ListEnd, count: usize) -> Result<Option<Popped>> {
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
        mpop(&self.access(), &keys, end, count)
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
        self.blmove(src, dst, ListEnd::Right, ListEnd::Left, timeout)
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
