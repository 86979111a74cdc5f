//! Redis's dataset digest: `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`, byte for byte.
//!
//! Replication and persistence tests compare two servers by this digest, so Ferrous must
//! compute exactly the value Redis 7.0 computes for the same logical dataset, whatever the
//! encodings on either side. The algorithm only sees logical contents: every element is
//! hashed in its string form (an integer-encoded element as its decimal text), and order
//! matters only where the type has an order (list elements, and the per-key mixing steps).
//!
//! Two primitives, both over SHA-1:
//! - *xor* (`xor_digest`): `digest ^= sha1(bytes)`. Commutative, so unordered collections
//!   (set members, hash pairs, sorted-set pairs, the keys of a database) hash the same in
//!   any iteration order.
//! - *mix* (`mix_digest`): xor, then `digest = sha1(digest)`. Order-dependent, used for
//!   sequences (list elements, the type tag before the value, a hash field before its value).
//!
//! Per key ([`value_digest`], Redis's `xorObjectDigest` applied to a zeroed digest): mix the
//! type tag (4 bytes, big-endian: string 0, list 1, set 2, zset 3, hash 4, stream 6), then
//! - string: mix the bytes;
//! - list: mix each element, head to tail;
//! - set: xor each member;
//! - zset: for each member, a fresh element digest = mix(member), mix(score as `%.17g`),
//!   xored into the key's digest;
//! - hash: for each pair, a fresh element digest = mix(field), mix(value), xored in;
//! - stream: for each entry in ID order, mix `"<ms>.<seq>"`, then each field and value
//!   (see [`mix_stream_entry`]; consumer groups are not part of the digest in 7.0);
//!
//! and finally, if the key has a deadline, xor the 10 bytes `!!expire!!` (the deadline itself
//! is not hashed). The dataset digest ([`Database::digest`]) starts at zero; for each
//! non-empty database in index order it mixes the index (4 bytes, big-endian), then for each
//! key computes a fresh digest, mix(key name) continued by the per-key steps above, and xors
//! it in (as a string: `final ^= sha1(key digest)`).
//!
//! As in Redis, keys whose deadline has passed but that are still stored are included: the
//! digest describes what is stored (a replica keeps expired keys until its primary deletes
//! them), and computing it never deletes anything.
use crate::access::Access;
use crate::db::Database;
use crate::dict::Node;
use crate::keyspace::{Shard, META_EXPIRE};
use crate::types::list::Elem;
use crate::value::Value;
use sha1::{Digest as _, Sha1};
use std::sync::atomic::Ordering::Relaxed;

/// A 20-byte SHA-1-based digest.
pub type Digest = [u8; 20];

/// `digest ^= sha1(bytes)`.
#[inline]
fn xor_digest(digest: &mut Digest, bytes: &[u8]) {
    let hash = Sha1::digest(bytes);
    for (d, h) in digest.iter_mut().zip(hash.iter()) {
        *d ^= h;
    }
}

/// `digest ^= sha1(bytes); digest = sha1(digest)`.
#[inline]
fn mix_digest(digest: &mut Digest, bytes: &[u8]) {
    xor_digest(digest, bytes);
    let rehashed = Sha1::digest(&digest[..]);
    digest.copy_from_slice(&rehashed);
}

/// Redis's `OBJ_STREAM` type code, for [`begin_value`].
pub const STREAM_TYPE: u32 = 6;

/// Redis's type code (`OBJ_STRING` 0 ... `OBJ_HASH` 4).
fn type_code(value: &Value) -> u32 {
    match value {
        Value::Str(_) | Value::Int(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => STREAM_TYPE,
    }
}

/// The first step of a value's digest: mixes its type code (`htonl(type)`).
pub fn begin_value(digest: &mut Digest, type_code: u32) {
    mix_digest(digest, &type_code.to_be_bytes());
}

/// The last step of a value's digest: the expiry marker, if the key has a deadline.
pub fn finish_value(digest: &mut Digest, has_expire: bool) {
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

/// Adds one stored value to `digest` (Redis's `xorObjectDigest`): the type tag, the
/// contents, and the expiry marker if `has_expire`.
pub fn mix_value(digest: &mut Digest, value: &Value, has_expire: bool) {
    begin_value(digest, type_code(value));
    match value {
        Value::Stream(stream) => {
            use crate::types::stream::StreamId;
            stream.range(StreamId::MIN, StreamId::MAX, false, |e| {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = e.to_pairs();
                mix_stream_entry(digest, e.id.ms, e.id.seq, pairs.iter().map(|(f, v)| (&f[..], &v[..])));
                true
            });
        }
        Value::Str(s) => mix_digest(digest, s),
        Value::Int(i) => mix_digest(digest, &crate::value::StrRef::int(*i)),
        Value::List(list) => {
            for elem in list.iter() {
                match elem {
                    Elem::Bytes(b) => mix_digest(digest, b),
                    Elem::Int(i) => mix_digest(digest, &crate::value::StrRef::int(i)),
                }
            }
        }
        Value::Set(set) => {
            for member in set.iter() {
                xor_digest(digest, &member);
            }
        }
        Value::ZSet(zset) => {
            let mut buf = [0u8; crate::util::G17_MAX];
            for (member, score) in zset.iter() {
                let mut elem = [0u8; 20];
                mix_digest(&mut elem, member);
                mix_digest(&mut elem, crate::util::fmt_g17(score, &mut buf));
                xor_digest(digest, &elem);
            }
        }
        Value::Hash(hash) => {
            for (field, val) in hash.iter() {
                let mut elem = [0u8; 20];
                mix_digest(&mut elem, &field);
                mix_digest(&mut elem, &val);
                xor_digest(digest, &elem);
            }
        }
    }
    finish_value(digest, has_expire);
}

/// One stream entry's share of a key digest, as Redis's stream arm does it: mix the ID
/// as `"<ms>.<seq>"` (both unsigned decimal), then each field and each value, in order.
/// Call for every entry in ascending ID order (deleted entries are skipped, as Redis's
/// iterator does), between [`begin_value`] with [`STREAM_TYPE`] and [`finish_value`].
/// Consumer groups and the last ID are not part of a stream's digest in Redis 7.0.
pub fn mix_stream_entry<'a>(
    digest: &mut Digest,
    ms: u64,
    seq: u64,
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) {
    mix_digest(digest, format!("{ms}.{seq}").as_bytes());
    for (field, value) in fields {
        mix_digest(digest, field);
        mix_digest(digest, value);
    }
}

/// The digest of one stored value, as `DEBUG DIGEST-VALUE` reports it (the key name is
/// not part of it).
pub fn value_digest(value: &Value, has_expire: bool) -> Digest {
    let mut digest = [0u8; 20];
    mix_value(&mut digest, value, has_expire);
    digest
}

/// A stored entry's contribution to its database's digest: mix(key), then the value.
fn entry_digest(node: &Node<Value>) -> Digest {
    let mut digest = [0u8; 20];
    mix_digest(&mut digest, &node.key);
    mix_value(&mut digest, &node.value, node.meta.load(Relaxed) & META_EXPIRE != 0);
    digest
}

/// Adds database `index`, whose shards are `shards`, to a dataset digest (nothing if it is
/// empty, as Redis skips empty databases).
fn mix_database(final_digest: &mut Digest, index: usize, shards: &[&Shard]) {
    if shards.iter().all(|s| s.dict.is_empty()) {
        return;
    }
    mix_digest(final_digest, &(index as u32).to_be_bytes());
    for shard in shards {
        for node in shard.dict.iter() {
            xor_digest(final_digest, &entry_digest(node));
        }
    }
}

/// Digests databases `index..` with every earlier one still read-locked by the callers up
/// the stack, so the result is one consistent view of the whole dataset.
fn mix_databases_from(acc: &Access<'_>, index: usize, final_digest: &mut Digest) {
    if index >= acc.inner.db_count() {
        return;
    }
    acc.with_db(index).read_all(|shards| {
        mix_database(final_digest, index, shards);
        mix_databases_from(acc, index + 1, final_digest);
    });
}

/// The digest of every database (`DEBUG DIGEST`), all zeros when the dataset is empty.
///
/// Holds the cross-database gate and read locks on every shard while it runs (or uses the
/// locks of the transaction or script `acc` is held by), so writers wait: a debugging and
/// testing tool, not for a hot path.
pub fn dataset_digest(acc: &Access<'_>) -> Digest {
    let mut digest = [0u8; 20];
    // Single-database writers lock in (shard) order inside one database and the gate
    // serializes everyone who locks across databases, so holding the gate while read-locking
    // database after database cannot deadlock (the rule `Access::write_dbs` follows).
    let _gate = (!acc.is_held()).then(|| crate::access::lock_gate(acc.inner));
    mix_databases_from(acc, 0, &mut digest);
    digest
}

/// The digest of the value at `key` in `acc`'s database (`DEBUG DIGEST-VALUE`): all zeros
/// for a missing key. Like Redis, looks at what is stored without expiring it.
pub fn key_digest(acc: &Access<'_>, key: &[u8]) -> Digest {
    let h = acc.hash(key);
    acc.read_shard(h.shard(), |shard| match shard.dict.get(h.dict(), key) {
        Some(node) => value_digest(&node.value, node.meta.load(Relaxed) & META_EXPIRE != 0),
        None => [0u8; 20],
    })
}

/// Lower-case hex, as Redis replies (`%02x` per byte).
pub fn to_hex(digest: &Digest) -> String {
    hex::encode(digest)
}

impl Database {
    /// Redis's `DEBUG DIGEST` of the whole dataset (every logical database): equal on two
    /// servers holding the same keys, values, and keys-with-expiry, whatever the encodings.
    pub fn digest(&self) -> Digest {
        dataset_digest(&self.access())
    }

    /// Redis's `DEBUG DIGEST-VALUE` of `key` in this handle's database: all zeros when the
    /// key does not exist.
    pub fn digest_value(&self, key: impl AsRef<[u8]>) -> Digest {
        key_digest(&self.access(), key.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dataset_is_zero() {
        let db = Database::new();
        assert_eq!(db.digest(), [0u8; 20]);
        assert_eq!(db.digest_value("missing"), [0u8; 20]);
    }

    #[test]
    fn mix_is_ordered_and_xor_is_not() {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        mix_digest(&mut a, b"x");
        mix_digest(&mut a, b"y");
        mix_digest(&mut b, b"y");
        mix_digest(&mut b, b"x");
        assert_ne!(a, b);
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        xor_digest(&mut a, b"x");
        xor_digest(&mut a, b"y");
        xor_digest(&mut b, b"y");
        xor_digest(&mut b, b"x");
        assert_eq!(a, b);
    }

    #[test]
    fn int_and_string_encodings_agree() {
        let s = value_digest(&Value::Str(crate::bytes::SmallBytes::new(b"12")), false);
        assert_eq!(s, value_digest(&Value::Int(12), false));
        assert_ne!(s, value_digest(&Value::Int(12), true));
    }
}
