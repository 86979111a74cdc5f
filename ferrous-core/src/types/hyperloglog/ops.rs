//! Access-level HyperLogLog operations (PFADD, PFCOUNT, PFMERGE, PFDEBUG) against the
//! keyspace through an [`Access`], shared by the commands and the typed API, and the typed
//! API itself (`impl Database`).
use super::*;

/// The configured `hll-sparse-max-bytes`.
pub fn sparse_max_bytes(acc: &Access<'_>) -> usize {
    usize::try_from(acc.inner.tunables.get(crate::config::Tunable::HllSparseMaxBytes))
        .unwrap_or(DEFAULT_SPARSE_MAX_BYTES)
}

/// Checks that a stored value is a HyperLogLog: WRONGTYPE for other types, the
/// HyperLogLog-specific WRONGTYPE text for strings that are not one (integer-encoded
/// strings included, as in Redis).
pub(super) fn check(value: &Value) -> Result<()> {
    match value {
        Value::Str(s) if is_valid(s) => Ok(()),
        Value::Str(_) | Value::Int(_) => Err(not_hll()),
        _ => Err(Error::WrongType),
    }
}

/// Takes the HyperLogLog out of a checked value (no copy for long strings).
pub(super) fn take(value: &mut Value) -> HyperLogLog {
    HyperLogLog { bytes: take_bytes(value).unwrap_or_default() }
}

/// PFADD at the access level: true if the key was created or a register changed. On a
/// corrupted HyperLogLog the registers updated before the error stay updated, as in Redis.
pub fn pfadd(acc: &Access<'_>, key: &[u8], elements: &[&[u8]]) -> Result<bool> {
    let max_bytes = sparse_max_bytes(acc);
    let (updated, created) = acc.write(key, |shard, h| {
        let now = acc.now;
        let (mut hll, created) = match shard.get_mut(h, key, now) {
            None => (HyperLogLog::new(), true),
            Some(node) => {
                check(&node.value)?;
                (take(&mut node.value), false)
            }
        };
        let mut updated = u64::from(created);
        let mut failed = false;
        for e in elements {
            match hll.add(e, max_bytes) {
                Ok(true) => updated += 1,
                Ok(false) => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if updated > 0 && !failed {
            hll.invalidate_cache();
        }
        if created {
            set_raw(shard, h, key, hll.into_bytes(), now);
        } else if let Some(node) = shard.get_mut(h, key, now) {
            put_raw(node, hll.into_bytes());
        }
        if failed {
            return Err(corrupted());
        }
        acc.add_dirty(updated);
        Ok((updated > 0, created))
    })?;
    if updated {
        notify_string(acc, key, created, "pfadd");
    }
    Ok(updated)
}

/// PFCOUNT at the access level. One key: its cached cardinality, refreshing the cache
/// when stale (a write, as in Redis). Several keys: the cardinality of their union,
/// nothing modified. Missing keys count as empty HyperLogLogs.
pub fn pfcount(acc: &Access<'_>, keys: &[&[u8]]) -> Result<u64> {
    if let [key] = keys {
        return acc.write(key, |shard, h| {
            let Some(node) = shard.get_mut(h, key, acc.now) else { return Ok(0) };
            check(&node.value)?;
            let mut hll = take(&mut node.value);
            let result = hll.count();
            put_raw(node, hll.into_bytes());
            let (card, refreshed) = result?;
            if refreshed {
                acc.add_dirty(1);
            }
            Ok(card)
        });
    }
    let mut max = Box::new([0u8; HLL_REGISTERS]);
    acc.read_many(keys, |m| {
        for key in keys {
            let h = acc.hash(key);
            let Some(node) = m.get(h, key) else { continue };
            check(&node.value)?;
            let Value::Str(s) = &node.value else { continue };
            merge_bytes(s, &mut max)?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(estimate_raw(&max))
}

/// Raises every register of `max` to the value it has in `bytes`, a HyperLogLog that
/// passed [`is_valid`] (Redis's `hllMerge`); borrowed, so a 12 KB dense value is not copied.
pub(super) fn merge_bytes(bytes: &[u8], max: &mut [u8; HLL_REGISTERS]) -> Result<()> {
    let data = &bytes[HLL_HDR_SIZE..];
    if bytes[4] == ENCODING_DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(data, i));
        }
        return Ok(());
    }
    let mut covered = 0usize;
    let mut overflow = false;
    walk_sparse(data, |first, len, value| {
        if value > 0 {
            if first + len > HLL_REGISTERS {
                overflow = true;
                return false;
            }
            for m in &mut max[first..first + len] {
                *m = (*m).max(value);
            }
        }
        covered = first + len;
        true
    });
    if overflow || covered != HLL_REGISTERS {
        return Err(corrupted());
    }
    Ok(())
}

/// PFMERGE at the access level: stores in `dest` the union of `dest` and `sources`
/// (missing keys are empty). `dest` becomes dense if any input is dense.
pub fn pfmerge(acc: &Access<'_>, dest: &[u8], sources: &[&[u8]]) -> Result<()> {
    let max_bytes = sparse_max_bytes(acc);
    let mut keys: Vec<&[u8]> = Vec::with_capacity(sources.len() + 1);
    keys.push(dest);
    keys.extend_from_slice(sources);
    let created = acc.write_many(&keys, |m| {
        let now = acc.now;
        let mut max = Box::new([0u8; HLL_REGISTERS]);
        let mut use_dense = false;
        for key in &keys {
            let h = acc.hash(key);
            let Some(node) = m.shard(h).get_mut(h, key, now) else { continue };
            check(&node.value)?;
            let Value::Str(s) = &node.value else { continue };
            use_dense |= s[4] == ENCODING_DENSE;
            merge_bytes(s, &mut max)?;
        }
        // Only the destination is modified: the sources were only read.
        m.modified_only(&[dest]);
        let h = acc.hash(dest);
        let shard = m.shard(h);
        let (mut hll, created) = match shard.get_mut(h, dest, now) {
            None => (HyperLogLog::new(), true),
            Some(node) => (take(&mut node.value), false),
        };
        let converted = if use_dense { hll.to_dense().map(|_| ()) } else { Ok(()) };
        if converted.is_ok() {
            for (j, &v) in max.iter().enumerate() {
                if v != 0 {
                    // As in Redis, a failure here (impossible after a successful merge)
                    // is ignored.
                    let _ = hll.set_register(j, v, max_bytes);
                }
            }
            hll.invalidate_cache();
        }
        if created {
            set_raw(shard, h, dest, hll.into_bytes(), now);
        } else if let Some(node) = shard.get_mut(h, dest, now) {
            put_raw(node, hll.into_bytes());
        }
        converted?;
        acc.add_dirty(1);
        Ok::<_, Error>(created)
    })?;
    notify_string(acc, dest, created, "pfadd");
    Ok(())
}

/// A PFDEBUG subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfDebug {
    /// GETREG: every register (converts a sparse HyperLogLog to dense first).
    GetReg,
    /// DECODE: the sparse opcodes as text.
    Decode,
    /// ENCODING: `dense` or `sparse`.
    Encoding,
    /// TODENSE: converts to dense.
    ToDense,
}

/// What a PFDEBUG subcommand answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PfDebugReply {
    /// GETREG's registers.
    Registers(Vec<u8>),
    /// DECODE's text.
    Decoded(String),
    /// ENCODING's name.
    Encoding(HllEncoding),
    /// TODENSE: whether it converted.
    Converted(bool),
}

/// PFDEBUG at the access level. `sub` is `None` for an unknown subcommand, whose error
/// (like Redis's) comes only after the key was found and checked.
pub fn pfdebug(acc: &Access<'_>, key: &[u8], sub: Option<PfDebug>, name: &[u8]) -> Result<PfDebugReply> {
    acc.write(key, |shard, h| {
        let Some(node) = shard.get_mut(h, key, acc.now) else {
            return Err(Error::msg("ERR The specified key does not exist"));
        };
        check(&node.value)?;
        let mut hll = take(&mut node.value);
        let result = match sub {
            Some(s @ (PfDebug::GetReg | PfDebug::ToDense)) => hll.to_dense().and_then(|converted| {
                if converted {
                    acc.add_dirty(1);
                }
                match s {
                    PfDebug::GetReg => hll.registers().map(PfDebugReply::Registers),
                    _ => Ok(PfDebugReply::Converted(converted)),
                }
            }),
            Some(PfDebug::Decode) => hll
                .decode_sparse()
                .map(PfDebugReply::Decoded)
                .ok_or_else(|| Error::msg("ERR HLL encoding is not sparse")),
            Some(PfDebug::Encoding) => Ok(PfDebugReply::Encoding(hll.encoding())),
            None => Err(Error::msg(format!("ERR Unknown PFDEBUG subcommand '{}'", String::from_utf8_lossy(name)))),
        };
        put_raw(node, hll.into_bytes());
        result
    })
}

impl Database {
    /// `PFADD key [element ...]`: adds elements to the HyperLogLog at `key` (created if
    /// missing); true if the key was created or its estimate may have changed.
    ///
    /// ```
    /// let db = ferrous_core::Database::new();
    /// assert!(db.pfadd("visitors", &["alice", "bob"]).unwrap());
    /// assert_eq!(db.pfcount(&["visitors"]).unwrap(), 2);
    /// ```
    pub fn pfadd<E: AsRef<[u8]>>(&self, key: impl AsRef<[u8]>, elements: &[E]) -> Result<bool> {
        let elements: Vec<&[u8]> = elements.iter().map(AsRef::as_ref).collect();
        let key = key.as_ref();
        self.write_typed(
            |acc| pfadd(acc, key, &elements),
            |_, _| crate::propagate::with_list(&[b"PFADD", key], &elements),
        )
    }

    /// `PFCOUNT key [key ...]`: the estimated cardinality of one HyperLogLog, or of the
    /// union of several (without modifying them). With one key, a recomputed estimate is
    /// cached in the value, a write propagated as `PFCOUNT key`, as Redis does.
    pub fn pfcount<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<u64> {
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        if keys.is_empty() {
            return Err(Error::WrongArity("pfcount".into()));
        }
        self.write_typed(|acc| pfcount(acc, &keys), |_, _| crate::propagate::with_list(&[b"PFCOUNT"], &keys))
    }

    /// `PFMERGE destkey [sourcekey ...]`: stores the union of `dest` and `sources` in
    /// `dest`.
    pub fn pfmerge<K: AsRef<[u8]>>(&self, dest: impl AsRef<[u8]>, sources: &[K]) -> Result<()> {
        let sources: Vec<&[u8]> = sources.iter().map(AsRef::as_ref).collect();
        let dest = dest.as_ref();
        self.write_typed(
            |acc| pfmerge(acc, dest, &sources),
            |_, _| crate::propagate::with_list(&[b"PFMERGE", dest], &sources),
        )
    }
}
