//! Streams: the [`Stream`] value (Redis 7.0's stream type) and its consumer groups.
//!
//! Layout, as Redis's `t_stream.c` keeps it:
//! - Entries live in *nodes*: each node is a byte-exact Redis listpack (`total-bytes`,
//!   `num-elements`, entries, `0xFF`), so a node is as compact as Redis's and RDB/DUMP copy
//!   it whole. A node starts with a *master entry* (`count deleted num-fields field... 0`)
//!   and holds entries delta-encoded against the node's key (the ID of its first entry):
//!   `flags ms-diff seq-diff [num-fields field value ...| value ...] lp-count`; an entry
//!   with the master's fields sets the SAMEFIELDS flag and stores only its values. XDEL and
//!   XTRIM set the DELETED flag in place; a node whose entries are all deleted is dropped.
//!   A new node starts when the tail node would reach `stream-node-max-bytes` or holds
//!   `stream-node-max-entries` entries (live + deleted), as in Redis 7.0.
//! - Nodes are keyed by their master ID in a `BTreeMap` rather than a radix tree. Redis's
//!   rax spends about 40-70 bytes per node for 16-byte big-endian keys; a B-tree leaf slot
//!   costs 16 + 24 bytes plus ~1/11 of a node's header, so memory is comparable, and node
//!   counts are ~1% of entry counts (100 entries per node) either way. XINFO's
//!   `radix-tree-nodes` is computed as the rax Redis would have built for the same keys.
//! - Consumer groups ([`Group`]): last delivered ID, 7.0's `entries-read`, the group's
//!   pending entries list (PEL: ID -> delivery time, count, owner) and consumers, each with
//!   its own PEL (a set of IDs: the [`Nack`] lives once, in the group's PEL).
//! - [`StreamId`] parsing with Redis's rules (`-`, `+`, `ms`, `ms-seq`, `ms-*`).
use crate::error::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------
// IDs
// ---------------------------------------------------------------------------------------

/// A stream entry ID: `ms-seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

/// Redis's text for an unparsable ID.
pub const ERR_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// `18446744073709551615-18446744073709551615`.
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    /// A new ID.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }
    /// The next ID (`None` after the maximum).
    pub fn next(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }
    /// The previous ID (`None` before `0-0`).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }
    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }
    /// The 16-byte big-endian form (rax keys, RDB PELs).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }
    /// Reads the 16-byte big-endian form.
    pub fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        if b.len() != 16 {
            return None;
        }
        let ms = u64::from_be_bytes(b[..8].try_into().ok()?);
        let seq = u64::from_be_bytes(b[8..].try_into().ok()?);
        Some(StreamId::new(ms, seq))
    }
    /// Parses an ID argument. `missing_seq` is the sequence of a bare `ms`; `strict` refuses
    /// `-` and `+`; with `allow_star_seq`, `ms-*` returns `(id, false)` (sequence to be
    /// generated).
    pub fn parse_arg(arg: &[u8], missing_seq: u64, strict: bool, allow_star_seq: bool) -> Result<(StreamId, bool)> {
        let invalid = || Error::msg(ERR_INVALID_ID);
        if arg.len() > 127 {
            return Err(invalid());
        }
        match arg {
            b"-" if !strict => return Ok((StreamId::MIN, true)),
            b"+" if !strict => return Ok((StreamId::MAX, true)),
            b"-" | b"+" => return Err(invalid()),
            _ => {}
        }
        let (ms_part, seq_part) = match arg.iter().position(|&c| c == b'-') {
            Some(i) => (&arg[..i], Some(&arg[i + 1..])),
            None => (arg, None),
        };
        let ms = string2ull(ms_part).ok_or_else(invalid)?;
        match seq_part {
            None => Ok((StreamId::new(ms, missing_seq), true)),
            Some(b"*") if allow_star_seq => Ok((StreamId::new(ms, 0), false)),
            Some(s) => Ok((StreamId::new(ms, string2ull(s).ok_or_else(invalid)?), true)),
        }
    }
    /// [`StreamId::parse_arg`] without `ms-*`.
    pub fn parse(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId> {
        Self::parse_arg(arg, missing_seq, strict, false).map(|(id, _)| id)
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl std::str::FromStr for StreamId {
    type Err = Error;
    fn from_str(s: &str) -> Result<StreamId> {
        StreamId::parse(s.as_bytes(), 0, true)
    }
}

/// Redis's `string2ull`: `string2ll` when it succeeds (refusing negatives), else C's
/// `strtoull` over the whole string (leading blanks, a sign, leading zeros; overflow fails).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = ferrous_resp::parse_i64(s) {
        return (v >= 0).then_some(v as u64);
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add((s[i] - b'0') as u64)?;
        i += 1;
    }
    if i == start || i != s.len() {
        return None;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

// ---------------------------------------------------------------------------------------
// Listpack primitives (Redis's byte format; see rdb/listpack.rs for the table)
// ---------------------------------------------------------------------------------------

/// One listpack element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpVal<'a> {
    /// An integer entry.
    Int(i64),
    /// A string entry.
    Str(&'a [u8]),
}

impl<'a> LpVal<'a> {
    /// The element as bytes (integers formatted).
    pub fn bytes(self) -> crate::value::StrRef<'a> {
        match self {
            LpVal::Int(i) => crate::value::StrRef::int(i),
            LpVal::Str(s) => crate::value::StrRef::Bytes(s),
        }
    }
    fn int(self) -> i64 {
        match self {
            LpVal::Int(i) => i,
            LpVal::Str(s) => ferrous_resp::parse_i64(s).unwrap_or(0),
        }
    }
    fn eq_bytes(self, b: &[u8]) -> bool {
        match self {
            LpVal::Str(s) => s == b,
            LpVal::Int(i) => &*crate::value::StrRef::int(i) == b,
        }
    }
}

pub(crate) mod lp {
    //! Reading and writing single listpack entries inside a node's bytes.
    use super::LpVal;

    pub const HEADER: usize = 6;
    pub const EOF: u8 = 0xFF;

    use crate::rdb::listpack::backlen_size;
    /// Entry writers shared with the RDB codec's listpacks.
    pub(crate) use crate::rdb::listpack::{append_int as enc_int, append_str as enc_str};

    /// Appends `s` as Redis's `lpAppend` does: an integer entry when it is one.
    pub fn enc_auto(o: &mut Vec<u8>, s: &[u8]) {
        let int = match s.first() {
            Some(b'-' | b'0'..=b'9') => ferrous_resp::parse_i64(s),
            _ => None,
        };
        match int {
            Some(v) => enc_int(o, v),
            None => enc_str(o, s),
        }
    }

    /// A node's listpack holding nothing.
    pub fn empty(cap: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(cap.max(HEADER + 1));
        v.extend_from_slice(&[(HEADER + 1) as u8, 0, 0, 0, 0, 0, EOF]);
        v
    }

    /// Fixes the header after the entries changed: total bytes and `added` more elements.
    pub fn fix_header(lp: &mut [u8], added: i64) {
        let total = lp.len() as u32;
        lp[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::from_le_bytes([lp[4], lp[5]]);
        if count != u16::MAX {
            let n = (count as i64 + added).clamp(0, u16::MAX as i64) as u16;
            lp[4..6].copy_from_slice(&n.to_le_bytes());
        }
    }

    /// The element at `p` and the position of the next one. Malformed bytes (never written
    /// by Ferrous; loaded nodes are validated) read as the integer 0 at the end.
    #[inline]
    pub fn get(lp: &[u8], p: usize) -> (LpVal<'_>, usize) {
        try_get(lp, p).unwrap_or((LpVal::Int(0), lp.len().saturating_sub(1)))
    }

    /// [`get`] that reports malformed bytes.
    pub fn try_get(lp: &[u8], p: usize) -> Option<(LpVal<'_>, usize)> {
        let b = *lp.get(p)?;
        let at = |i: usize| lp.get(p + i).copied();
        let (v, size) = match b {
            0x00..=0x7F => (LpVal::Int(b as i64), 1),
            0x80..=0xBF => {
                let n = (b & 0x3F) as usize;
                (LpVal::Str(lp.get(p + 1..p + 1 + n)?), 1 + n)
            }
            0xC0..=0xDF => {
                let u = ((b & 0x1F) as u16) << 8 | at(1)? as u16;
                (LpVal::Int((((u << 3) as i16) >> 3) as i64), 2)
            }
            0xE0..=0xEF => {
                let n = ((b & 0x0F) as usize) << 8 | at(1)? as usize;
                (LpVal::Str(lp.get(p + 2..p + 2 + n)?), 2 + n)
            }
            0xF0 => {
                let n = u32::from_le_bytes([at(1)?, at(2)?, at(3)?, at(4)?]) as usize;
                (LpVal::Str(lp.get(p + 5..(p + 5).checked_add(n)?)?), 5 + n)
            }
            0xF1 => (LpVal::Int(i16::from_le_bytes([at(1)?, at(2)?]) as i64), 3),
            0xF2 => (LpVal::Int((i32::from_le_bytes([0, at(1)?, at(2)?, at(3)?]) >> 8) as i64), 4),
            0xF3 => (LpVal::Int(i32::from_le_bytes([at(1)?, at(2)?, at(3)?, at(4)?]) as i64), 5),
            0xF4 => {
                let mut v = [0u8; 8];
                for (i, x) in v.iter_mut().enumerate() {
                    *x = at(1 + i)?;
                }
                (LpVal::Int(i64::from_le_bytes(v)), 9)
            }
            _ => return None,
        };
        let next = p + size + backlen_size(size);
        if next >= lp.len() {
            return None;
        }
        Some((v, next))
    }

    /// The start of the element that ends just before `p`.
    pub fn prev(lp: &[u8], p: usize) -> usize {
        let mut q = p;
        let mut v = 0usize;
        let mut shift = 0;
        loop {
            if q == 0 {
                return HEADER;
            }
            q -= 1;
            let b = lp[q];
            v |= ((b & 0x7F) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 || shift > 35 {
                break;
            }
        }
        q.saturating_sub(v).max(HEADER)
    }

    /// Replaces the integer element at `p` with `v` (its size may change).
    pub fn replace_int(lp: &mut Vec<u8>, p: usize, v: i64) {
        let (_, end) = get(lp, p);
        // The common case, a count growing within 0..=127: one byte, same size.
        if (0..=127).contains(&v) && end - p == 2 && lp[p] <= 127 {
            lp[p] = v as u8;
            return;
        }
        let mut enc = Vec::with_capacity(11);
        enc_int(&mut enc, v);
        if enc.len() == end - p {
            lp[p..end].copy_from_slice(&enc);
        } else {
            lp.splice(p..end, enc);
            fix_header(lp, 0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Redis's cap on a node's size whatever `stream-node-max-bytes` says.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// The header of a node: its live and deleted counts, master fields and first entry.
struct NodeHead {
    count: i64,
    deleted: i64,
    master_fields: i64,
    /// Position of the first master field.
    fields_pos: usize,
    /// Position of the first entry (just after the master's `0`).
    entries_pos: usize,
}

fn node_head(lp: &[u8]) -> NodeHead {
    let (count, p) = lp::get(lp, lp::HEADER);
    let (deleted, p) = lp::get(lp, p);
    let (nf, mut p) = lp::get(lp, p);
    let fields_pos = p;
    let master_fields = nf.int();
    for _ in 0..master_fields.max(0) {
        if p >= lp.len() - 1 {
            break; // malformed (refused by the loader's checks): stop at the end
        }
        p = lp::get(lp, p).1;
    }
    let entries_pos = lp::get(lp, p).1;
    NodeHead { count: count.int(), deleted: deleted.int(), master_fields, fields_pos, entries_pos }
}

/// One entry read from a node.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    lp: &'a [u8],
    /// The entry's ID.
    pub id: StreamId,
    /// Number of field-value pairs.
    pub nfields: usize,
    /// Fields come from the master entry.
    same: bool,
    /// Position of the master's first field.
    master_pos: usize,
    /// Position of the first field (or value when `same`).
    data_pos: usize,
}

impl<'a> EntryRef<'a> {
    /// Calls `f` for each field and value, in order.
    pub fn for_each(&self, mut f: impl FnMut(LpVal<'a>, LpVal<'a>)) {
        let (mut mp, mut dp) = (self.master_pos, self.data_pos);
        for _ in 0..self.nfields {
            let field = if self.same {
                let (v, n) = lp::get(self.lp, mp);
                mp = n;
                v
            } else {
                let (v, n) = lp::get(self.lp, dp);
                dp = n;
                v
            };
            let (value, n) = lp::get(self.lp, dp);
            dp = n;
            f(field, value);
        }
    }
    /// Owned field-value pairs.
    pub fn to_pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut v = Vec::with_capacity(self.nfields);
        self.for_each(|f, val| v.push((f.bytes().to_vec(), val.bytes().to_vec())));
        v
    }
}

/// An entry's fixed part at position `p`: flags, ID, field count, SAMEFIELDS, data
/// position, and the position after the entry.
struct RawEntry {
    flags: i64,
    id: StreamId,
    nfields: usize,
    data_pos: usize,
    end: usize,
}

fn read_entry(lp: &[u8], p: usize, master: StreamId, head: &NodeHead) -> RawEntry {
    let (flags, q) = lp::get(lp, p);
    let flags = flags.int();
    let (ms, q) = lp::get(lp, q);
    let (seq, mut q) = lp::get(lp, q);
    let id = StreamId::new(master.ms.wrapping_add(ms.int() as u64), master.seq.wrapping_add(seq.int() as u64));
    let nfields = if flags & FLAG_SAMEFIELDS != 0 {
        head.master_fields.max(0) as usize
    } else {
        let (n, r) = lp::get(lp, q);
        q = r;
        n.int().max(0) as usize
    };
    let data_pos = q;
    let elems = if flags & FLAG_SAMEFIELDS != 0 { nfields } else { nfields.saturating_mul(2) };
    for _ in 0..elems {
        if q >= lp.len() - 1 {
            break; // malformed (refused by the loader's checks): stop at the end
        }
        q = lp::get(lp, q).1;
    }
    let end = lp::get(lp, q).1; // lp-count
    RawEntry { flags, id, nfields, data_pos, end }
}

/// Positions of the flags of every entry in a node, in order (live and deleted).
fn entry_positions(lp: &[u8], master: StreamId, head: &NodeHead) -> Vec<usize> {
    let mut out = Vec::with_capacity(((head.count + head.deleted).max(0) as usize).min(lp.len() / 4));
    let mut p = head.entries_pos;
    let end = lp.len() - 1;
    while p < end {
        out.push(p);
        let e = read_entry(lp, p, master, head);
        if e.end <= p {
            break;
        }
        p = e.end;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Consumer groups
// ---------------------------------------------------------------------------------------

/// `entries-read` unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_INVALID: i64 = -1;

/// A pending (delivered, not acknowledged) entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// Last delivery time (Unix ms).
    pub delivery_time: i64,
    /// Number of deliveries.
    pub delivery_count: u64,
    /// Owning consumer.
    pub consumer: Arc<[u8]>,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Last time it was seen (Unix ms).
    pub seen_time: i64,
    /// IDs pending for it.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Logical read counter, or [`ENTRIES_READ_INVALID`].
    pub entries_read: i64,
    /// Pending entries of the whole group.
    pub pel: BTreeMap<StreamId, Nack>,
    /// Consumers by name.
    pub consumers: BTreeMap<Arc<[u8]>, Consumer>,
}

impl Group {
    /// A group at `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group { last_id, entries_read, pel: BTreeMap::new(), consumers: BTreeMap::new() }
    }
    /// The consumer `name`, created if missing; true if created.
    pub fn consumer_or_create(&mut self, name: &[u8], now: i64) -> (Arc<[u8]>, bool) {
        if let Some((k, _)) = self.consumers.get_key_value(name) {
            return (k.clone(), false);
        }
        let k: Arc<[u8]> = Arc::from(name);
        self.consumers.insert(k.clone(), Consumer { seen_time: now, pel: BTreeSet::new() });
        (k, true)
    }
    /// Removes a consumer and its pending entries; returns how many were pending.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }
    /// Acknowledges `id`: true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&*n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }
    /// Makes `consumer` own `id` with the given delivery data (creating or moving the NACK).
    pub fn assign(&mut self, id: StreamId, consumer: &Arc<[u8]>, time: i64, count: u64) {
        if let Some(old) = self.pel.get(&id).map(|n| n.consumer.clone()) {
            if let Some(c) = self.consumers.get_mut(&*old) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(id, Nack { delivery_time: time, delivery_count: count, consumer: consumer.clone() });
        if let Some(c) = self.consumers.get_mut(&**consumer) {
            c.pel.insert(id);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// Bytes.
    pub max_bytes: usize,
    /// Entries (live + deleted).
    pub max_entries: i64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits { max_bytes: 4096, max_entries: 100 }
    }
}

impl NodeLimits {
    /// The current configuration.
    pub fn current(acc: &crate::access::Access<'_>) -> NodeLimits {
        let cfg = acc.inner.config.read();
        let get = |name: &str, d: i64| cfg.get(name).and_then(|v| v.parse::<i64>().ok()).unwrap_or(d);
        NodeLimits {
            max_bytes: usize::try_from(get("stream-node-max-bytes", 4096)).unwrap_or(0),
            max_entries: get("stream-node-max-entries", 100),
        }
    }
}

/// How XADD picks the new ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSpec {
    /// `*`: from the clock.
    Auto,
    /// `ms-*`: the next sequence for that millisecond.
    Ms(u64),
    /// An explicit ID.
    Explicit(StreamId),
}

/// Why an append failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not above the stream's last ID.
    TooSmall,
    /// The last possible ID was reached.
    Exhausted,
    /// The elements exceed a listpack's capacity.
    TooLarge,
}

impl AddError {
    /// Redis's error reply for it.
    pub fn to_error(self) -> Error {
        Error::msg(match self {
            AddError::TooSmall => "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            AddError::Exhausted => "ERR The stream has exhausted the last possible ID, unable to add more items",
            AddError::TooLarge => "ERR Elements are too large to be stored",
        })
    }
}

/// A trimming strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries below this ID.
    MinId(StreamId),
}

/// A stream value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Vec<u8>>,
    length: u64,
    /// Last ID ever added (or set by XSETID).
    pub last_id: StreamId,
    /// First live entry's ID (as Redis records it).
    pub first_id: StreamId,
    /// Highest ID deleted by XDEL.
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Boxed: most streams have no groups, and 8 bytes beat an inline 24-byte map.
    #[allow(clippy::box_collection)]
    groups: Option<Box<BTreeMap<Box<[u8]>, Group>>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("length", &self.length)
            .field("nodes", &self.nodes.len())
            .field("last_id", &self.last_id)
            .finish()
    }
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }
    /// Number of live entries.
    pub fn len(&self) -> u64 {
        self.length
    }
    /// True without entries (the key still exists: streams are not deleted when empty).
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }
    /// Number of nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
    /// The nodes: master ID and listpack bytes.
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> {
        self.nodes.iter().map(|(k, v)| (*k, &v[..]))
    }
    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        let mut n = self.nodes.values().map(|v| v.capacity() + 56).sum::<usize>();
        if let Some(g) = &self.groups {
            for (name, grp) in g.iter() {
                n += name.len() + 96 + grp.pel.len() * 64;
                n += grp.consumers.iter().map(|(k, c)| k.len() + 64 + c.pel.len() * 24).sum::<usize>();
            }
        }
        n
    }

    /// XINFO's `radix-tree-nodes`: the nodes of the rax Redis would hold for these keys.
    pub fn rax_nodes(&self) -> usize {
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            if keys.len() == 1 {
                return if depth == 16 { 1 } else { 2 };
            }
            let (first, last) = (&keys[0], &keys[keys.len() - 1]);
            let mut d = depth;
            while d < 16 && first[d] == last[d] {
                d += 1;
            }
            if d == 16 {
                return 1;
            }
            let mut n = usize::from(d > depth) + 1;
            let mut i = 0;
            while i < keys.len() {
                let mut j = i + 1;
                while j < keys.len() && keys[j][d] == keys[i][d] {
                    j += 1;
                }
                n += count(&keys[i..j], d + 1);
                i = j;
            }
            n
        }
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            1
        } else {
            count(&keys, 0)
        }
    }

    // ----- appending -------------------------------------------------------------------

    /// Appends an entry (XADD); `now` is the clock for `*`. Returns the new ID.
    pub fn add(
        &mut self,
        spec: IdSpec,
        pairs: &[(&[u8], &[u8])],
        limits: NodeLimits,
        now: i64,
    ) -> Result<StreamId, AddError> {
        if self.last_id == StreamId::MAX {
            return Err(AddError::Exhausted);
        }
        let id = match spec {
            IdSpec::Auto => {
                let ms = now.max(0) as u64;
                if ms > self.last_id.ms {
                    StreamId::new(ms, 0)
                } else {
                    self.last_id.next().ok_or(AddError::Exhausted)?
                }
            }
            IdSpec::Ms(ms) => {
                if ms == self.last_id.ms {
                    if self.last_id.seq == u64::MAX {
                        return Err(AddError::TooSmall);
                    }
                    StreamId::new(ms, self.last_id.seq + 1)
                } else {
                    StreamId::new(ms, 0)
                }
            }
            IdSpec::Explicit(id) => id,
        };
        if id <= self.last_id {
            return Err(AddError::TooSmall);
        }
        let total: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        self.append_entry(id, pairs, limits, total);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    fn append_entry(&mut self, id: StreamId, pairs: &[(&[u8], &[u8])], limits: NodeLimits, total: usize) {
        let node_max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            limits.max_bytes
        };
        let nf = pairs.len();
        // A new node is sized like the node it follows (streams tend to hold alike entries),
        // so it fills without reallocations and ends close to its final size.
        let mut next_cap = 64;
        // One look-up of the tail node, and one pass over its header: the live and deleted
        // counts, then the master fields compared with this entry's as they are read.
        if let Some((&master, lp)) = self.nodes.iter_mut().next_back() {
            next_cap = lp.len().clamp(64, node_max_bytes.max(64));
            let (count, p) = lp::get(lp, lp::HEADER);
            let count_end = p;
            let (count, deleted) = (count.int(), lp::get(lp, p).0.int());
            if lp.len() + total >= node_max_bytes || (limits.max_entries > 0 && count + deleted >= limits.max_entries) {
                // The node is full: give back its spare capacity, as Redis's lpShrinkToFit.
                lp.shrink_to_fit();
            } else {
                let (master_fields, mut p) = lp::get(lp, lp::get(lp, count_end).1);
                let mut same = master_fields.int() == nf as i64;
                if same {
                    for (f, _) in pairs {
                        let (v, n) = lp::get(lp, p);
                        if !v.eq_bytes(f) {
                            same = false;
                            break;
                        }
                        p = n;
                    }
                }
                lp::replace_int(lp, lp::HEADER, count + 1);
                Self::append_to(lp, master, id, pairs, same);
                return;
            }
        }
        let mut lp = lp::empty(next_cap);
        lp.pop();
        lp::enc_int(&mut lp, 1);
        lp::enc_int(&mut lp, 0);
        lp::enc_int(&mut lp, nf as i64);
        for (f, _) in pairs {
            lp::enc_auto(&mut lp, f);
        }
        lp::enc_int(&mut lp, 0);
        lp::enc_int(&mut lp, FLAG_SAMEFIELDS);
        lp::enc_int(&mut lp, 0);
        lp::enc_int(&mut lp, 0);
        for (_, v) in pairs {
            lp::enc_auto(&mut lp, v);
        }
        lp::enc_int(&mut lp, nf as i64 + 3);
        lp.push(lp::EOF);
        lp::fix_header(&mut lp, (nf + 4 + nf + 4) as i64);
        self.nodes.insert(id, lp);
    }

    /// Appends an entry to the tail node `lp` (keyed by `master`); `same` when its fields
    /// are the master's.
    fn append_to(lp: &mut Vec<u8>, master: StreamId, id: StreamId, pairs: &[(&[u8], &[u8])], same: bool) {
        let nf = pairs.len();
        lp.pop();
        // Grow by what this entry needs at most, not by doubling: a node is filled one
        // entry at a time and usually sits at the top of the heap, where the allocator
        // extends it in place; doubling would leave up to half of each tail node unused.
        let bound = 48 + pairs.iter().map(|(f, v)| f.len() + v.len() + 22).sum::<usize>();
        lp.reserve_exact(bound);
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        lp::enc_int(lp, flags);
        lp::enc_int(lp, id.ms.wrapping_sub(master.ms) as i64);
        lp::enc_int(lp, id.seq.wrapping_sub(master.seq) as i64);
        let mut elems = 4;
        if !same {
            lp::enc_int(lp, nf as i64);
            elems += 1;
        }
        for (f, v) in pairs {
            if !same {
                lp::enc_auto(lp, f);
                elems += 1;
            }
            lp::enc_auto(lp, v);
            elems += 1;
        }
        lp::enc_int(lp, if same { nf as i64 + 3 } else { 2 * nf as i64 + 4 });
        lp.push(lp::EOF);
        lp::fix_header(lp, elems);
    }

    // ----- reading -----------------------------------------------------------------------

    /// Visits live entries with IDs in `[start, end]`, ascending (or descending with `rev`),
    /// until `f` returns false.
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool, mut f: impl FnMut(EntryRef<'_>) -> bool) {
        if start > end {
            return;
        }
        if !rev {
            let first_key = self.nodes.range(..=start).next_back().map(|(k, _)| *k).unwrap_or(StreamId::MIN);
            for (&master, lp) in self.nodes.range(first_key..=end) {
                let head = node_head(lp);
                let mut p = head.entries_pos;
                let stop = lp.len() - 1;
                while p < stop {
                    let e = read_entry(lp, p, master, &head);
                    if e.end <= p {
                        break;
                    }
                    p = e.end;
                    if e.flags & FLAG_DELETED != 0 || e.id < start {
                        continue;
                    }
                    if e.id > end {
                        return;
                    }
                    let r = EntryRef {
                        lp,
                        id: e.id,
                        nfields: e.nfields,
                        same: e.flags & FLAG_SAMEFIELDS != 0,
                        master_pos: head.fields_pos,
                        data_pos: e.data_pos,
                    };
                    if !f(r) {
                        return;
                    }
                }
            }
        } else {
            for (&master, lp) in self.nodes.range(..=end).rev() {
                let head = node_head(lp);
                let positions = entry_positions(lp, master, &head);
                for &p in positions.iter().rev() {
                    let e = read_entry(lp, p, master, &head);
                    if e.flags & FLAG_DELETED != 0 || e.id > end {
                        continue;
                    }
                    if e.id < start {
                        return;
                    }
                    let r = EntryRef {
                        lp,
                        id: e.id,
                        nfields: e.nfields,
                        same: e.flags & FLAG_SAMEFIELDS != 0,
                        master_pos: head.fields_pos,
                        data_pos: e.data_pos,
                    };
                    if !f(r) {
                        return;
                    }
                }
                if master < start {
                    return;
                }
            }
        }
    }

    /// Owned entries in a range (at most `count`, 0 = all).
    pub fn collect_range(&self, start: StreamId, end: StreamId, rev: bool, count: usize) -> Vec<StreamEntry> {
        let mut out = Vec::new();
        self.range(start, end, rev, |e| {
            out.push(StreamEntry { id: e.id, fields: e.to_pairs() });
            count == 0 || out.len() < count
        });
        out
    }

    /// The live entry `id`, if present.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry> {
        let mut found = None;
        self.range(id, id, false, |e| {
            found = Some(StreamEntry { id: e.id, fields: e.to_pairs() });
            false
        });
        found
    }

    /// True if the live entry `id` exists.
    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, false, |_| {
            found = true;
            false
        });
        found
    }

    /// The first (or last) live entry's ID, Redis's `streamGetEdgeID` skipping tombstones:
    /// `None` for an empty stream.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        if !first {
            // Fast path: the tail node's last entry, found backwards from its lp-count.
            let (&master, lp) = self.nodes.iter().next_back()?;
            let end = lp.len() - 1;
            let q = lp::prev(lp, end);
            let (lpc, _) = lp::get(lp, q);
            let mut p = q;
            for _ in 0..lpc.int().clamp(0, 1 << 20) {
                if p <= lp::HEADER {
                    break;
                }
                p = lp::prev(lp, p);
            }
            let head = node_head(lp);
            if p >= head.entries_pos {
                let e = read_entry(lp, p, master, &head);
                if e.flags & FLAG_DELETED == 0 && e.end == end {
                    return Some(e.id);
                }
            }
        }
        let mut found = None;
        self.range(StreamId::MIN, StreamId::MAX, !first, |e| {
            found = Some(e.id);
            false
        });
        found
    }

    // ----- deleting --------------------------------------------------------------------

    /// Marks the entry `id` deleted (XDEL's `streamDeleteItem`): true if it was live.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, lp)) = self.nodes.range_mut(..=id).next_back() else { return false };
        let head = node_head(lp);
        let mut p = head.entries_pos;
        let stop = lp.len() - 1;
        while p < stop {
            let e = read_entry(lp, p, master, &head);
            if e.end <= p {
                break;
            }
            if e.id == id {
                if e.flags & FLAG_DELETED != 0 {
                    return false;
                }
                if head.count <= 1 {
                    self.nodes.remove(&master);
                } else {
                    lp::replace_int(lp, p, e.flags | FLAG_DELETED);
                    lp::replace_int(lp, lp::HEADER, head.count - 1);
                    let (_, dp) = lp::get(lp, lp::HEADER);
                    lp::replace_int(lp, dp, head.deleted + 1);
                }
                self.length -= 1;
                return true;
            }
            if e.id > id {
                return false;
            }
            p = e.end;
        }
        false
    }

    /// Trims (XTRIM / XADD's MAXLEN, MINID): `limit` 0 is unlimited. Returns how many
    /// entries were removed.
    pub fn trim(&mut self, strategy: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        loop {
            if let Trim::MaxLen(max) = strategy {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, lp)) = self.nodes.iter_mut().next() else { break };
            let head = node_head(lp);
            let entries = head.count.max(0) as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match strategy {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => {
                    let positions = entry_positions(lp, master, &head);
                    let last = positions.last().map(|&p| read_entry(lp, p, master, &head).id).unwrap_or(master);
                    last < min
                }
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let mut from_lp: i64 = 0;
            let mut p = head.entries_pos;
            while p < lp.len() - 1 {
                let e = read_entry(lp, p, master, &head);
                if e.end <= p {
                    break;
                }
                let stop = match strategy {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if e.flags & FLAG_DELETED == 0 {
                    // Flags 0/2 -> 1/3: same one-byte size, replaced in place.
                    lp::replace_int(lp, p, e.flags | FLAG_DELETED);
                    from_lp += 1;
                    self.length -= 1;
                }
                p = e.end;
            }
            deleted += from_lp as u64;
            lp::replace_int(lp, lp::HEADER, head.count - from_lp);
            let (_, dp) = lp::get(lp, lp::HEADER);
            lp::replace_int(lp, dp, head.deleted + from_lp);
            break;
        }
        if deleted > 0 {
            self.first_id = self.edge_id(true).unwrap_or(StreamId::MIN);
        }
        deleted
    }

    // ----- lag accounting (Redis 7.0) ----------------------------------------------------

    /// Redis's `streamRangeHasTombstones` over `[start, MAX]`.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return ENTRIES_READ_INVALID;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A group's lag (`None`: unknown), as XINFO reports it.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID && !self.has_tombstones_from(g.last_id) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let er = self.estimate_distance(g.last_id);
        (er != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - er)
    }

    /// Advances a group past the delivered entry `id` (its `entries-read` accounting).
    pub fn group_delivered(&self, g: &mut Group, id: StreamId) {
        if id > g.last_id {
            if g.entries_read != ENTRIES_READ_INVALID && !self.has_tombstones_from(id) {
                g.entries_read += 1;
            } else if self.entries_added != 0 {
                g.entries_read = self.estimate_distance(id);
            }
            g.last_id = id;
        }
    }

    // ----- groups --------------------------------------------------------------------

    /// The groups, by name.
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &Group)> {
        self.groups.iter().flat_map(|g| g.iter().map(|(k, v)| (&**k, v)))
    }
    /// Number of groups.
    pub fn group_count(&self) -> usize {
        self.groups.as_ref().map_or(0, |g| g.len())
    }
    /// A group.
    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.as_ref()?.get(name)
    }
    /// A group, mutably.
    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.as_mut()?.get_mut(name)
    }
    /// The stream (read-only) and one of its groups (mutable) at once.
    pub fn split_group(&mut self, name: &[u8]) -> Option<(StreamView<'_>, &mut Group)> {
        let Stream { nodes, length, last_id, first_id, max_deleted_id, entries_added, groups } = self;
        let g = groups.as_mut()?.get_mut(name)?;
        Some((
            StreamView {
                nodes,
                length: *length,
                last_id: *last_id,
                first_id: *first_id,
                max_deleted_id: *max_deleted_id,
                entries_added: *entries_added,
            },
            g,
        ))
    }
    /// Creates a group: false if it exists.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        let groups = self.groups.get_or_insert_with(Default::default);
        if groups.contains_key(name) {
            return false;
        }
        groups.insert(name.into(), Group::new(last_id, entries_read));
        true
    }
    /// Destroys a group: false if missing.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        let Some(groups) = self.groups.as_mut() else { return false };
        let r = groups.remove(name).is_some();
        if groups.is_empty() {
            self.groups = None;
        }
        r
    }
    /// Inserts a fully built group (RDB load).
    pub fn insert_group(&mut self, name: &[u8], g: Group) {
        self.groups.get_or_insert_with(Default::default).insert(name.into(), g);
    }

    // ----- building (RDB load) -------------------------------------------------------------

    /// Adds a node loaded from RDB after checking its structure (the master entry, every
    /// entry's fields and lp-count, IDs increasing, the counts). Returns the node's live
    /// entries and its last entry ID, or what is wrong.
    pub fn push_loaded_node(&mut self, master: StreamId, lp: Vec<u8>) -> std::result::Result<(), &'static str> {
        if lp.len() < lp::HEADER + 1
            || u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize != lp.len()
            || lp[lp.len() - 1] != lp::EOF
        {
            return Err("stream listpack header");
        }
        if let Some((&last, _)) = self.nodes.iter().next_back() {
            if master <= last {
                return Err("stream node keys out of order");
            }
        }
        // Walk every element once to validate the encoding.
        let mut p = lp::HEADER;
        let mut elems = 0usize;
        while p < lp.len() - 1 {
            let (_, n) = lp::try_get(&lp, p).ok_or("stream listpack entry")?;
            p = n;
            elems += 1;
        }
        let declared = u16::from_le_bytes([lp[4], lp[5]]);
        if declared != u16::MAX && declared as usize != elems {
            return Err("stream listpack count");
        }
        if elems < 4 {
            return Err("stream node without a master entry");
        }
        let head = node_head(&lp);
        if head.count < 0 || head.deleted < 0 || head.master_fields < 0 || head.entries_pos > lp.len() - 1 {
            return Err("stream master entry");
        }
        let (term, _) = lp::get(&lp, lp::prev(&lp, head.entries_pos));
        if term != LpVal::Int(0) {
            return Err("stream master entry terminator");
        }
        let (mut live, mut dead) = (0i64, 0i64);
        let mut p = head.entries_pos;
        let mut prev: Option<StreamId> = None;
        while p < lp.len() - 1 {
            let (flags, _) = lp::get(&lp, p);
            let LpVal::Int(_) = flags else { return Err("stream entry flags") };
            let e = read_entry(&lp, p, master, &head);
            if e.end <= p || e.end > lp.len() - 1 {
                return Err("stream entry runs past the node");
            }
            let (lpc, after) = lp::get(&lp, lp::prev(&lp, e.end));
            let expect = if e.flags & FLAG_SAMEFIELDS != 0 {
                e.nfields.saturating_add(3)
            } else {
                e.nfields.saturating_mul(2).saturating_add(4)
            };
            if after != e.end || lpc != LpVal::Int(expect as i64) {
                return Err("stream entry lp-count");
            }
            if prev.is_some_and(|x| e.id <= x) || e.id < master {
                return Err("stream entry IDs out of order");
            }
            prev = Some(e.id);
            if e.flags & FLAG_DELETED != 0 {
                dead += 1;
            } else {
                live += 1;
            }
            p = e.end;
        }
        if live != head.count || dead != head.deleted {
            return Err("stream node counts");
        }
        if live == 0 {
            return Err("empty stream node");
        }
        self.length += live as u64;
        self.nodes.insert(master, lp);
        Ok(())
    }

    /// The last live or deleted entry ID in the nodes (for load checks).
    pub fn last_node_entry(&self) -> Option<StreamId> {
        let (&master, lp) = self.nodes.iter().next_back()?;
        let head = node_head(lp);
        let positions = entry_positions(lp, master, &head);
        positions.last().map(|&p| read_entry(lp, p, master, &head).id)
    }
}

/// A read-only view of a stream's entries while one of its groups is borrowed mutably.
pub struct StreamView<'a> {
    nodes: &'a BTreeMap<StreamId, Vec<u8>>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted_id: StreamId,
    entries_added: u64,
}

impl StreamView<'_> {
    /// Runs `f` with a borrowed stream-like reader (the group accounting methods).
    fn as_stream_meta(&self) -> Stream {
        Stream {
            nodes: BTreeMap::new(),
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted_id: self.max_deleted_id,
            entries_added: self.entries_added,
            groups: None,
        }
    }
    /// [`Stream::range`].
    pub fn range(&self, start: StreamId, end: StreamId, f: impl FnMut(EntryRef<'_>) -> bool) {
        range_nodes(self.nodes, start, end, f)
    }
    /// [`Stream::contains`].
    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.range(id, id, |_| {
            found = true;
            false
        });
        found
    }
    /// [`Stream::group_delivered`].
    pub fn group_delivered(&self, g: &mut Group, id: StreamId) {
        self.as_stream_meta().group_delivered(g, id)
    }
    /// The stream's last ID.
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }
    /// Entries added.
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }
}

fn range_nodes(
    nodes: &BTreeMap<StreamId, Vec<u8>>,
    start: StreamId,
    end: StreamId,
    mut f: impl FnMut(EntryRef<'_>) -> bool,
) {
    if start > end {
        return;
    }
    let first_key = nodes.range(..=start).next_back().map(|(k, _)| *k).unwrap_or(StreamId::MIN);
    for (&master, lp) in nodes.range((Bound::Included(first_key), Bound::Included(end))) {
        let head = node_head(lp);
        let mut p = head.entries_pos;
        let stop = lp.len() - 1;
        while p < stop {
            let e = read_entry(lp, p, master, &head);
            if e.end <= p {
                break;
            }
            p = e.end;
            if e.flags & FLAG_DELETED != 0 || e.id < start {
                continue;
            }
            if e.id > end {
                return;
            }
            let r = EntryRef {
                lp,
                id: e.id,
                nfields: e.nfields,
                same: e.flags & FLAG_SAMEFIELDS != 0,
                master_pos: head.fields_pos,
                data_pos: e.data_pos,
            };
            if !f(r) {
                return;
            }
        }
    }
}

/// An owned stream entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// Its ID.
    pub id: StreamId,
    /// Field-value pairs in order.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_parsing() {
        assert_eq!(StreamId::parse(b"5", 0, true).unwrap(), StreamId::new(5, 0));
        assert_eq!(StreamId::parse(b"5", u64::MAX, true).unwrap(), StreamId::new(5, u64::MAX));
        assert_eq!(StreamId::parse(b"5-3", 0, true).unwrap(), StreamId::new(5, 3));
        assert_eq!(StreamId::parse(b"-", 0, false).unwrap(), StreamId::MIN);
        assert!(StreamId::parse(b"-", 0, true).is_err());
        assert!(StreamId::parse(b"-1", 0, false).is_err());
        assert_eq!(StreamId::parse(b"007-0", 0, true).unwrap(), StreamId::new(7, 0));
        assert_eq!(StreamId::parse(b"18446744073709551615-1", 0, true).unwrap(), StreamId::new(u64::MAX, 1));
        assert!(StreamId::parse(b"18446744073709551616", 0, true).is_err());
        assert_eq!(StreamId::parse_arg(b"5-*", 0, true, true).unwrap(), (StreamId::new(5, 0), false));
        assert!(StreamId::parse(b"5-*", 0, true).is_err());
        assert!(StreamId::parse(b"", 0, true).is_err());
        assert!(StreamId::parse(b"1-2-3", 0, true).is_err());
    }

    #[test]
    fn add_range_delete_trim() {
        let mut s = Stream::new();
        let lim = NodeLimits { max_bytes: 4096, max_entries: 3 };
        for i in 1..=10u64 {
            let v = i.to_string();
            let f: &[u8] = if i % 4 == 0 { b"g" } else { b"f" };
            s.add(IdSpec::Explicit(StreamId::new(i, 1)), &[(f, v.as_bytes())], lim, 0).unwrap();
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.node_count(), 4);
        let all = s.collect_range(StreamId::MIN, StreamId::MAX, false, 0);
        assert_eq!(all.len(), 10);
        assert_eq!(all[3].fields, vec![(b"g".to_vec(), b"4".to_vec())]);
        let rev = s.collect_range(StreamId::MIN, StreamId::MAX, true, 3);
        assert_eq!(rev.iter().map(|e| e.id.ms).collect::<Vec<_>>(), vec![10, 9, 8]);
        assert!(s.delete(StreamId::new(5, 1)));
        assert!(!s.delete(StreamId::new(5, 1)));
        assert_eq!(s.len(), 9);
        assert_eq!(s.trim(Trim::MaxLen(5), false, 0), 4);
        assert_eq!(s.collect_range(StreamId::MIN, StreamId::MAX, false, 0)[0].id.ms, 6);
        assert_eq!(s.add(IdSpec::Explicit(StreamId::new(3, 0)), &[(b"a", b"b")], lim, 0), Err(AddError::TooSmall));
        assert_eq!(s.add(IdSpec::Ms(10), &[(b"a", b"b")], lim, 0), Ok(StreamId::new(10, 2)));
    }

    /// The tail node's live count is rewritten in place while it fits one byte (0..=127)
    /// and re-encoded past it; master-field comparison picks SAMEFIELDS only for the
    /// master's fields in order.
    #[test]
    fn node_count_across_encodings_and_samefields() {
        let mut s = Stream::new();
        let lim = NodeLimits { max_bytes: 0, max_entries: 300 };
        for i in 1..=300u64 {
            let v = i.to_string();
            let pairs: &[(&[u8], &[u8])] = match i % 3 {
                0 => &[(b"a", v.as_bytes()), (b"b", b"x")],
                1 => &[(b"b", v.as_bytes()), (b"a", b"x")],
                _ => &[(b"a", v.as_bytes())],
            };
            s.add(IdSpec::Explicit(StreamId::new(i, 0)), pairs, lim, 0).unwrap();
        }
        assert_eq!(s.node_count(), 1);
        let (_, lp) = s.nodes().next().unwrap();
        let head = node_head(lp);
        assert_eq!((head.count, head.deleted, head.master_fields), (300, 0, 2));
        let n = entry_positions(lp, StreamId::new(1, 0), &head).len();
        assert_eq!(n, 300);
        let same = entry_positions(lp, StreamId::new(1, 0), &head)
            .into_iter()
            .filter(|&p| read_entry(lp, p, StreamId::new(1, 0), &head).flags & FLAG_SAMEFIELDS != 0)
            .count();
        // The master entry holds the first entry's fields (b, a): entries 1, 4, 7, ...
        assert_eq!(same, 100);
        let all = s.collect_range(StreamId::MIN, StreamId::MAX, false, 0);
        assert_eq!(all.len(), 300);
        assert_eq!(all[128].fields, vec![(b"a".to_vec(), b"129".to_vec()), (b"b".to_vec(), b"x".to_vec())]);
        assert_eq!(all[297].fields, vec![(b"b".to_vec(), b"298".to_vec()), (b"a".to_vec(), b"x".to_vec())]);
        // Reading the header again from the bytes agrees with the counts.
        assert_eq!(u16::from_le_bytes([lp[4], lp[5]]) as usize, lp_elements(lp));
        s.add(IdSpec::Explicit(StreamId::new(400, 0)), &[(b"a", b"1")], lim, 0).unwrap();
        assert_eq!(s.node_count(), 2);
    }

    fn lp_elements(lp: &[u8]) -> usize {
        let mut p = lp::HEADER;
        let mut n = 0;
        while p < lp.len() - 1 {
            p = lp::get(lp, p).1;
            n += 1;
        }
        n
    }
}

// ---------------------------------------------------------------------------------------
// The typed in-process API
// ---------------------------------------------------------------------------------------

/// Options of [`Database::xadd_with`].
#[derive(Clone, Debug, Default)]
pub struct XAddOptions {
    /// `NOMKSTREAM`: do not create a missing stream (the call then returns `None`).
    pub nomkstream: bool,
    /// `MAXLEN` / `MINID` trimming after the add, approximate (`~`) when the flag is set.
    pub trim: Option<(Trim, bool)>,
}

/// One pending entry (XPENDING's extended form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry's ID.
    pub id: StreamId,
    /// Its owner.
    pub consumer: Vec<u8>,
    /// Milliseconds since it was last delivered.
    pub idle_ms: i64,
    /// Times delivered.
    pub deliveries: u64,
}

/// What XAUTOCLAIM returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoClaim {
    /// The cursor for the next call (`0-0` when the scan is complete).
    pub next: StreamId,
    /// The claimed entries.
    pub claimed: Vec<StreamEntry>,
    /// Pending IDs whose entries no longer exist (removed from the PEL).
    pub deleted: Vec<StreamId>,
}

/// Entries read from several streams: (key, entries).
pub type StreamReads = Vec<(Vec<u8>, Vec<StreamEntry>)>;

mod typed {
    use super::*;
    use crate::db::Database;
    use ferrous_resp::Value as V;
    use std::time::Duration;

    fn bytes(v: V) -> Vec<u8> {
        match v {
            V::Bulk(b) => b,
            V::Simple(s) => s.into_bytes(),
            V::Integer(i) => i.to_string().into_bytes(),
            _ => Vec::new(),
        }
    }

    fn id(v: V) -> StreamId {
        StreamId::parse(&bytes(v), 0, false).unwrap_or_default()
    }

    fn check(v: V) -> Result<V> {
        match v {
            V::Error(e) if e == Error::WrongType.to_string() => Err(Error::WrongType),
            V::Error(e) => Err(Error::msg(e)),
            v => Ok(v),
        }
    }

    fn entry(v: V) -> Option<StreamEntry> {
        let V::Array(mut parts) = v else { return None };
        if parts.len() != 2 {
            return None;
        }
        let fields = parts.pop()?;
        let id = id(parts.pop()?);
        let fields = match fields {
            V::Array(items) => {
                let mut it = items.into_iter();
                let mut out = Vec::new();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    out.push((bytes(f), bytes(v)));
                }
                out
            }
            _ => Vec::new(),
        };
        Some(StreamEntry { id, fields })
    }

    fn entries(v: V) -> Vec<StreamEntry> {
        match v {
            V::Array(items) => items.into_iter().filter_map(entry).collect(),
            _ => Vec::new(),
        }
    }

    fn reads(v: V) -> StreamReads {
        let pairs: Vec<(V, V)> = match v {
            V::Array(items) => items
                .into_iter()
                .filter_map(|p| match p {
                    V::Array(mut kv) if kv.len() == 2 => {
                        let e = kv.pop()?;
                        Some((kv.pop()?, e))
                    }
                    _ => None,
                })
                .collect(),
            V::Map(m) => m,
            _ => Vec::new(),
        };
        pairs.into_iter().map(|(k, e)| (bytes(k), entries(e))).collect()
    }

    fn push_trim(args: &mut Vec<Vec<u8>>, trim: Option<(Trim, bool)>) {
        if let Some((t, approx)) = trim {
            match t {
                Trim::MaxLen(n) => {
                    args.push(b"MAXLEN".to_vec());
                    args.push(if approx { b"~".to_vec() } else { b"=".to_vec() });
                    args.push(n.to_string().into_bytes());
                }
                Trim::MinId(id) => {
                    args.push(b"MINID".to_vec());
                    args.push(if approx { b"~".to_vec() } else { b"=".to_vec() });
                    args.push(id.to_string().into_bytes());
                }
            }
        }
    }

    fn block_args(args: &mut Vec<Vec<u8>>, count: Option<usize>, block: Option<Duration>) {
        if let Some(c) = count {
            args.push(b"COUNT".to_vec());
            args.push(c.to_string().into_bytes());
        }
        if let Some(b) = block {
            args.push(b"BLOCK".to_vec());
            args.push(b.as_millis().to_string().into_bytes());
        }
    }

    fn streams_args<K: AsRef<[u8]>>(args: &mut Vec<Vec<u8>>, streams: &[(K, &str)]) {
        args.push(b"STREAMS".to_vec());
        for (k, _) in streams {
            args.push(k.as_ref().to_vec());
        }
        for (_, id) in streams {
            args.push(id.as_bytes().to_vec());
        }
    }

    impl Database {
        fn stream_call(&self, args: Vec<Vec<u8>>) -> Result<V> {
            check(self.execute(args))
        }

        fn stream_blocking(&self, args: Vec<Vec<u8>>, block: Option<Duration>) -> Result<V> {
            match block {
                Some(t) => {
                    let argv: ferrous_resp::ArgsBuf = args.iter().collect();
                    self.run_blocking(argv, t)
                }
                None => self.stream_call(args),
            }
        }

        /// XADD key * field value ...: appends an entry with an automatic ID; returns it.
        pub fn xadd<F: AsRef<[u8]>, W: AsRef<[u8]>>(
            &self,
            key: impl AsRef<[u8]>,
            fields: &[(F, W)],
        ) -> Result<StreamId> {
            self.xadd_with(key, "*", fields, &XAddOptions::default()).map(|id| id.unwrap_or_default())
        }

        /// XADD with an ID spec (`*`, `ms-*` or an explicit ID) and options; `None` when
        /// NOMKSTREAM found no stream.
        pub fn xadd_with<F: AsRef<[u8]>, W: AsRef<[u8]>>(
            &self,
            key: impl AsRef<[u8]>,
            id: &str,
            fields: &[(F, W)],
            opts: &XAddOptions,
        ) -> Result<Option<StreamId>> {
            let mut args = vec![b"XADD".to_vec(), key.as_ref().to_vec()];
            if opts.nomkstream {
                args.push(b"NOMKSTREAM".to_vec());
            }
            push_trim(&mut args, opts.trim);
            args.push(id.as_bytes().to_vec());
            for (f, v) in fields {
                args.push(f.as_ref().to_vec());
                args.push(v.as_ref().to_vec());
            }
            Ok(match self.stream_call(args)? {
                V::Null => None,
                v => Some(super::typed::id(v)),
            })
        }

        /// XRANGE key start end [COUNT count] (`-`, `+`, `(id` exclusive bounds).
        pub fn xrange(
            &self,
            key: impl AsRef<[u8]>,
            start: &str,
            end: &str,
            count: Option<usize>,
        ) -> Result<Vec<StreamEntry>> {
            self.range_call("XRANGE", key.as_ref(), start, end, count)
        }

        /// XREVRANGE key end start [COUNT count].
        pub fn xrevrange(
            &self,
            key: impl AsRef<[u8]>,
            end: &str,
            start: &str,
            count: Option<usize>,
        ) -> Result<Vec<StreamEntry>> {
            self.range_call("XREVRANGE", key.as_ref(), end, start, count)
        }

        fn range_call(
            &self,
            cmd: &str,
            key: &[u8],
            a: &str,
            b: &str,
            count: Option<usize>,
        ) -> Result<Vec<StreamEntry>> {
            let mut args = vec![cmd.as_bytes().to_vec(), key.to_vec(), a.as_bytes().to_vec(), b.as_bytes().to_vec()];
            if let Some(c) = count {
                args.push(b"COUNT".to_vec());
                args.push(c.to_string().into_bytes());
            }
            Ok(entries(self.stream_call(args)?))
        }

        /// XLEN key.
        pub fn xlen(&self, key: impl AsRef<[u8]>) -> Result<u64> {
            match self.stream_call(vec![b"XLEN".to_vec(), key.as_ref().to_vec()])? {
                V::Integer(n) => Ok(n.max(0) as u64),
                _ => Ok(0),
            }
        }

        /// XDEL key id...: how many entries were deleted.
        pub fn xdel(&self, key: impl AsRef<[u8]>, ids: &[StreamId]) -> Result<u64> {
            let mut args = vec![b"XDEL".to_vec(), key.as_ref().to_vec()];
            args.extend(ids.iter().map(|i| i.to_string().into_bytes()));
            match self.stream_call(args)? {
                V::Integer(n) => Ok(n.max(0) as u64),
                _ => Ok(0),
            }
        }

        /// XTRIM key MAXLEN|MINID [~] threshold: how many entries were removed.
        pub fn xtrim(&self, key: impl AsRef<[u8]>, trim: Trim, approx: bool) -> Result<u64> {
            let mut args = vec![b"XTRIM".to_vec(), key.as_ref().to_vec()];
            push_trim(&mut args, Some((trim, approx)));
            match self.stream_call(args)? {
                V::Integer(n) => Ok(n.max(0) as u64),
                _ => Ok(0),
            }
        }

        /// XGROUP CREATE key group id [MKSTREAM] (`$` for the stream's end).
        pub fn xgroup_create(
            &self,
            key: impl AsRef<[u8]>,
            group: impl AsRef<[u8]>,
            id: &str,
            mkstream: bool,
        ) -> Result<()> {
            let mut args = vec![b"XGROUP".to_vec(), b"CREATE".to_vec(), key.as_ref().to_vec(), group.as_ref().to_vec()];
            args.push(id.as_bytes().to_vec());
            if mkstream {
                args.push(b"MKSTREAM".to_vec());
            }
            self.stream_call(args).map(|_| ())
        }

        /// XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: entries after each ID (`$`: only
        /// new ones). With `block`, waits up to that long (`Duration::ZERO`: forever) for
        /// data, blocking the calling thread (no polling: an XADD wakes it). Empty on timeout.
        pub fn xread<K: AsRef<[u8]>>(
            &self,
            streams: &[(K, &str)],
            count: Option<usize>,
            block: Option<Duration>,
        ) -> Result<StreamReads> {
            let mut args = vec![b"XREAD".to_vec()];
            block_args(&mut args, count, block);
            streams_args(&mut args, streams);
            Ok(reads(self.stream_blocking(args, block)?))
        }

        /// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...:
        /// `>` for entries never delivered to the group, another ID for the consumer's own
        /// pending entries (a deleted one comes back with no fields). Blocks like
        /// [`Database::xread`].
        #[allow(clippy::too_many_arguments)]
        pub fn xread_group<K: AsRef<[u8]>>(
            &self,
            group: impl AsRef<[u8]>,
            consumer: impl AsRef<[u8]>,
            streams: &[(K, &str)],
            count: Option<usize>,
            block: Option<Duration>,
            noack: bool,
        ) -> Result<StreamReads> {
            let mut args =
                vec![b"XREADGROUP".to_vec(), b"GROUP".to_vec(), group.as_ref().to_vec(), consumer.as_ref().to_vec()];
            block_args(&mut args, count, block);
            if noack {
                args.push(b"NOACK".to_vec());
            }
            streams_args(&mut args, streams);
            Ok(reads(self.stream_blocking(args, block)?))
        }

        /// XACK key group id...: how many were acknowledged.
        pub fn xack(&self, key: impl AsRef<[u8]>, group: impl AsRef<[u8]>, ids: &[StreamId]) -> Result<u64> {
            let mut args = vec![b"XACK".to_vec(), key.as_ref().to_vec(), group.as_ref().to_vec()];
            args.extend(ids.iter().map(|i| i.to_string().into_bytes()));
            match self.stream_call(args)? {
                V::Integer(n) => Ok(n.max(0) as u64),
                _ => Ok(0),
            }
        }

        /// XPENDING key group [IDLE min] start end count [consumer]: the pending entries.
        pub fn xpending(
            &self,
            key: impl AsRef<[u8]>,
            group: impl AsRef<[u8]>,
            start: &str,
            end: &str,
            count: usize,
            consumer: Option<&[u8]>,
        ) -> Result<Vec<PendingEntry>> {
            let mut args = vec![b"XPENDING".to_vec(), key.as_ref().to_vec(), group.as_ref().to_vec()];
            args.extend([start.as_bytes().to_vec(), end.as_bytes().to_vec(), count.to_string().into_bytes()]);
            if let Some(c) = consumer {
                args.push(c.to_vec());
            }
            let V::Array(rows) = self.stream_call(args)? else { return Ok(Vec::new()) };
            Ok(rows
                .into_iter()
                .filter_map(|r| {
                    let V::Array(mut f) = r else { return None };
                    if f.len() != 4 {
                        return None;
                    }
                    let deliveries = match f.pop()? {
                        V::Integer(n) => n.max(0) as u64,
                        _ => 0,
                    };
                    let idle_ms = match f.pop()? {
                        V::Integer(n) => n,
                        _ => 0,
                    };
                    let consumer = bytes(f.pop()?);
                    Some(PendingEntry { id: id(f.pop()?), consumer, idle_ms, deliveries })
                })
                .collect())
        }

        /// XCLAIM key group consumer min-idle id...: takes over pending entries idle for at
        /// least `min_idle`; returns the claimed entries.
        pub fn xclaim(
            &self,
            key: impl AsRef<[u8]>,
            group: impl AsRef<[u8]>,
            consumer: impl AsRef<[u8]>,
            min_idle: Duration,
            ids: &[StreamId],
        ) -> Result<Vec<StreamEntry>> {
            let mut args = vec![b"XCLAIM".to_vec(), key.as_ref().to_vec(), group.as_ref().to_vec()];
            args.push(consumer.as_ref().to_vec());
            args.push(min_idle.as_millis().to_string().into_bytes());
            args.extend(ids.iter().map(|i| i.to_string().into_bytes()));
            Ok(entries(self.stream_call(args)?))
        }

        /// XAUTOCLAIM key group consumer min-idle start [COUNT n]: claims pending entries
        /// idle for at least `min_idle`, scanning the PEL from `start`.
        pub fn xautoclaim(
            &self,
            key: impl AsRef<[u8]>,
            group: impl AsRef<[u8]>,
            consumer: impl AsRef<[u8]>,
            min_idle: Duration,
            start: StreamId,
            count: usize,
        ) -> Result<AutoClaim> {
            let args = vec![
                b"XAUTOCLAIM".to_vec(),
                key.as_ref().to_vec(),
                group.as_ref().to_vec(),
                consumer.as_ref().to_vec(),
                min_idle.as_millis().to_string().into_bytes(),
                start.to_string().into_bytes(),
                b"COUNT".to_vec(),
                count.max(1).to_string().into_bytes(),
            ];
            let V::Array(mut parts) = self.stream_call(args)? else { return Err(Error::msg("ERR unexpected reply")) };
            if parts.len() != 3 {
                return Err(Error::msg("ERR unexpected reply"));
            }
            let deleted = match parts.pop() {
                Some(V::Array(ids)) => ids.into_iter().map(id).collect(),
                _ => Vec::new(),
            };
            let claimed = parts.pop().map(entries).unwrap_or_default();
            let next = parts.pop().map(id).unwrap_or_default();
            Ok(AutoClaim { next, claimed, deleted })
        }
    }
}
