//! DUMP and RESTORE: a value as Redis's serialized payload (RDB object encoding, RDB version,
//! CRC64) and back. Payloads are byte-identical to Redis 7.0's for the same value and
//! encoding, so keys move between Ferrous and Redis with DUMP/RESTORE or MIGRATE-style tools.
use crate::access::Access;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::keyspace::{lru_clock, META_CLOCK_MASK};
use crate::notify;
use crate::rdb::{self, DecodeOptions, EncodeOptions, ValueLimits};
use std::sync::atomic::Ordering::Relaxed;

/// Options of RESTORE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestoreOptions {
    /// Time to live in ms (0: none); with `absttl`, an absolute Unix time in ms.
    pub ttl_ms: i64,
    /// Overwrite an existing key (REPLACE).
    pub replace: bool,
    /// `ttl_ms` is an absolute Unix time (ABSTTL).
    pub absttl: bool,
    /// Seconds since the value was last used (IDLETIME).
    pub idle_secs: Option<i64>,
    /// LFU frequency (FREQ), 0-255.
    pub freq: Option<u8>,
}

/// Redis's text for a payload whose trailer does not check out.
pub const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
/// Redis's text for a payload whose body does not decode.
pub const BAD_FORMAT: &str = "ERR Bad data format";

/// DUMP at the access level: the payload of `key`'s value, `None` when missing.
pub fn dump(acc: &Access<'_>, key: &[u8]) -> Option<Vec<u8>> {
    let opts = EncodeOptions { compress: acc.inner.config.read().get_bool("rdbcompression") };
    acc.read(key, |n| n.map(|n| rdb::dump_payload(&n.value, &opts)))
}

/// Whether RESTORE validates payloads deeply (`sanitize-dump-payload yes`, or `clients`
/// for a normal client; the server's own clients — replication, AOF — are trusted).
fn deep_sanitize(acc: &Access<'_>) -> bool {
    match acc.inner.config.read().get("sanitize-dump-payload") {
        Some("yes") => true,
        Some("clients") => acc.client != 0,
        _ => false,
    }
}

/// RESTORE at the access level, with Redis 7.0's checks in its order: existing key
/// (BUSYKEY), TTL, payload trailer, payload body.
pub fn restore(acc: &Access<'_>, key: &[u8], payload: &[u8], opts: RestoreOptions) -> Result<()> {
    if !opts.replace && acc.read(key, |n| n.is_some()) {
        return Err(Error::msg("BUSYKEY Target key name already exists."));
    }
    if opts.ttl_ms < 0 {
        return Err(Error::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let decode = DecodeOptions {
        limits: ValueLimits::from_tunables(&acc.inner.tunables),
        verify_checksum: true,
        deep_sanitize: deep_sanitize(acc),
    };
    // Redis's verifyDumpPayload: at least the 10-byte trailer, a known RDB version, the CRC.
    let value = match rdb::restore_payload(payload, &decode) {
        _ if payload.len() < 10 => return Err(Error::msg(BAD_PAYLOAD)),
        Ok(v) => v,
        Err(rdb::RdbError::Checksum { .. } | rdb::RdbError::UnsupportedVersion(_)) => {
            return Err(Error::msg(BAD_PAYLOAD))
        }
        Err(_) => return Err(Error::msg(BAD_FORMAT)),
    };
    if crate::persistence::collection_is_empty(&value) {
        return Err(Error::msg(BAD_FORMAT));
    }
    let deadline = match opts.ttl_ms {
        0 => None,
        t if opts.absttl => Some(t),
        // Redis adds the time in C, where an overflow wraps to a past (expired) deadline.
        t => Some(t.wrapping_add(acc.now)),
    };
    let now = acc.now;
    // Dirty changes inside `write` signal the key as modified (WATCH, tracking).
    acc.write(key, |shard, h| {
        if !opts.replace && shard.contains(h, key, now) {
            // Created by another client since the check above.
            return Err(Error::msg("BUSYKEY Target key name already exists."));
        }
        let old = if opts.replace { shard.remove(h, key) } else { None };
        let existed = old.is_some();
        crate::lazyfree::server_del(acc.inner, old);
        if deadline.is_some_and(|d| d <= now) {
            // Already expired: the key is not created (an old one REPLACE removed stays
            // deleted, as a DEL).
            if existed {
                acc.notify(notify::GENERIC, "del", key);
                acc.add_dirty(1);
            }
            return Ok(());
        }
        shard.set(h, key, value, deadline, now);
        // As Redis: IDLETIME applies under an LRU (or no) policy, FREQ under an LFU one.
        let lfu = acc.inner.evict.policy().lfu();
        if let (Some(freq), true) = (opts.freq, lfu) {
            if let Some(node) = shard.dict.get(h.dict(), key) {
                let m = node.meta.load(Relaxed);
                node.meta.store((m & !META_CLOCK_MASK) | crate::evict::lfu_clock(now, freq), Relaxed);
            }
        }
        if let (Some(idle), false) = (opts.idle_secs, lfu) {
            if let Some(node) = shard.dict.get(h.dict(), key) {
                let clock = lru_clock(now.saturating_sub(idle.saturating_mul(1000)));
                let m = node.meta.load(Relaxed);
                node.meta.store((m & !META_CLOCK_MASK) | clock, Relaxed);
            }
        }
        acc.notify(notify::GENERIC, "restore", key);
        acc.signal_ready(key);
        acc.add_dirty(1);
        Ok(())
    })
}

impl Database {
    /// DUMP: `key`'s value serialized as Redis does (`None` when missing).
    pub fn dump(&self, key: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        dump(&self.access(), key.as_ref())
    }

    /// RESTORE: creates `key` from a DUMP payload (from Ferrous or Redis). Propagated as the
    /// RESTORE handler does: with an absolute TTL (ABSTTL), or as a DEL when the TTL had
    /// already passed and REPLACE removed an old value.
    pub fn restore(&self, key: impl AsRef<[u8]>, payload: &[u8], opts: RestoreOptions) -> Result<()> {
        let key = key.as_ref();
        // Clients blocked on `key` are served after the RESTORE's own frame, as after the
        // command.
        let r = self.write_typed(
            |acc| restore(acc, key, payload, opts),
            |acc, _| {
                let abs = if opts.absttl { opts.ttl_ms } else { opts.ttl_ms.wrapping_add(acc.now) };
                if opts.ttl_ms != 0 && abs <= acc.now {
                    return crate::propagate::one([&b"DEL"[..], key]);
                }
                let ttl = if opts.ttl_ms == 0 { 0 } else { abs };
                let mut a = crate::propagate::args([&b"RESTORE"[..], key, ttl.to_string().as_bytes(), payload]);
                if opts.replace {
                    a.push(b"REPLACE".to_vec());
                }
                if let Some(idle) = opts.idle_secs {
                    a.extend(crate::propagate::args([b"IDLETIME".to_vec(), idle.to_string().into_bytes()]));
                }
                if let Some(freq) = opts.freq {
                    a.extend(crate::propagate::args([b"FREQ".to_vec(), freq.to_string().into_bytes()]));
                }
                if opts.absttl || opts.ttl_ms != 0 {
                    a.push(b"ABSTTL".to_vec());
                }
                vec![a]
            },
        );
        self.serve_blocked(r)
    }
}
