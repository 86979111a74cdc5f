//! Bitmaps: bit-level operations on string values (SETBIT GETBIT BITCOUNT BITPOS BITOP
//! BITFIELD BITFIELD_RO), as the typed API and the access-level operations the command
//! handlers share.
//!
//! Bits are numbered from the most significant bit of the first byte, as in Redis. Reads
//! past the end of a string see zero bits; writes grow the string with zero bytes, up to
//! `proto-max-bulk-len`. A string modified by a bit command reports encoding `raw`.
//!
//! The range rules of BITCOUNT and BITPOS (negative indexes, BYTE/BIT units, clamping) live
//! in the pure functions [`bitcount_bytes`] and [`bitpos_bytes`]; the overflow rules of
//! BITFIELD in [`BitfieldType`].
use crate::access::Access;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::notify;
use crate::propagate;
use crate::types::strings::{bit_offset_too_large, notify_string, put_raw, set_raw, string_len, take_bytes};

/// The unit of a BITCOUNT/BITPOS range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitUnit {
    /// Indexes count bytes (the default).
    #[default]
    Byte,
    /// Indexes count bits.
    Bit,
}

/// A BITCOUNT range: inclusive `start..=end`, negative indexes from the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitRange {
    /// First index.
    pub start: i64,
    /// Last index.
    pub end: i64,
    /// Whether indexes count bytes or bits.
    pub unit: BitUnit,
}

/// A BITPOS range: `end` may be left open (then the search runs to the end of the string,
/// and a clear bit is found just past it when the string is all ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitPosRange {
    /// First index.
    pub start: i64,
    /// Last index, if given.
    pub end: Option<i64>,
    /// Whether indexes count bytes or bits (bits only with an explicit end, as in Redis).
    pub unit: BitUnit,
}

/// A BITOP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    /// Bitwise AND (missing bytes count as zero).
    And,
    /// Bitwise OR.
    Or,
    /// Bitwise XOR.
    Xor,
    /// Bitwise NOT of a single source.
    Not,
}

/// A BITFIELD integer type: `i1`..`i64` or `u1`..`u63`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitfieldType {
    signed: bool,
    bits: u32,
}

/// What BITFIELD INCRBY/SET do when a value does not fit its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitfieldOverflow {
    /// Wrap around (two's complement for signed types). The default.
    #[default]
    Wrap,
    /// Saturate at the type's minimum or maximum.
    Sat,
    /// Do nothing and report `None` for that operation.
    Fail,
}

/// One BITFIELD operation. Offsets are in bits (resolve Redis's `#n` form as `n * bits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitfieldOp {
    /// Reads a field.
    Get(BitfieldType, u64),
    /// Writes a field; the reply is the old value.
    Set(BitfieldType, u64, i64),
    /// Adds to a field; the reply is the new value.
    IncrBy(BitfieldType, u64, i64),
    /// Sets the overflow behaviour of the operations that follow.
    Overflow(BitfieldOverflow),
}

impl BitfieldType {
    /// A signed type of 1 to 64 bits.
    pub fn signed(bits: u32) -> Option<BitfieldType> {
        (1..=64).contains(&bits).then_some(BitfieldType { signed: true, bits })
    }
    /// An unsigned type of 1 to 63 bits (Redis replies are signed 64-bit integers).
    pub fn unsigned(bits: u32) -> Option<BitfieldType> {
        (1..=63).contains(&bits).then_some(BitfieldType { signed: false, bits })
    }
    /// Parses `i16`, `u8`... with Redis's error text.
    pub fn parse(arg: &[u8]) -> Result<BitfieldType> {
        let invalid = || {
            Error::msg(
                "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
            )
        };
        let bits =
            arg.get(1..).and_then(ferrous_resp::parse_i64).filter(|b| (1..=64).contains(b)).ok_or_else(invalid)?;
        match arg.first() {
            Some(b'i') => BitfieldType::signed(bits as u32),
            Some(b'u') => BitfieldType::unsigned(bits as u32),
            _ => None,
        }
        .ok_or_else(invalid)
    }
    /// Width in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }
    /// True for `i` types.
    pub fn is_signed(&self) -> bool {
        self.signed
    }

    /// Reads the field at `offset` (bits past the end of `buf` are zero).
    fn read(&self, buf: &[u8], offset: u64) -> i64 {
        let mut v: u64 = 0;
        for i in 0..u64::from(self.bits) {
            let pos = offset + i;
            let byte = buf.get((pos >> 3) as usize).copied().unwrap_or(0);
            v = (v << 1) | u64::from((byte >> (7 - (pos & 7))) & 1);
        }
        if self.signed && self.bits < 64 && v & (1 << (self.bits - 1)) != 0 {
            v |= u64::MAX << self.bits;
        }
        v as i64
    }

    /// Writes the low `bits` bits of `value` at `offset` (`buf` is long enough).
    fn write(&self, buf: &mut [u8], offset: u64, value: i64) {
        let value = value as u64;
        for i in 0..u64::from(self.bits) {
            let bit = (value >> (u64::from(self.bits) - 1 - i)) & 1;
            let pos = offset + i;
            let byte = &mut buf[(pos >> 3) as usize];
            let mask = 1u8 << (7 - (pos & 7));
            if bit == 1 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }

    /// Redis's `check{Signed,Unsigned}BitfieldOverflow`: whether `value + incr` leaves the
    /// type's range and, for WRAP and SAT, the value to store instead.
    fn overflow(&self, value: i64, incr: i64, ow: BitfieldOverflow) -> (bool, i64) {
        let bits = self.bits;
        if self.signed {
            let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
            let min = -max - 1;
            // As in Redis these may overflow; they are only used once `value` is in range.
            let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
            let minincr = min.wrapping_sub(value);
            let wrap = || {
                let mut c = (value as u64).wrapping_add(incr as u64);
                if bits < 64 {
                    let mask = u64::MAX << bits;
                    if c & (1u64 << (bits - 1)) != 0 {
                        c |= mask;
                    } else {
                        c &= !mask;
                    }
                }
                c as i64
            };
            if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
                (true, if ow == BitfieldOverflow::Sat { max } else { wrap() })
            } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
                (true, if ow == BitfieldOverflow::Sat { min } else { wrap() })
            } else {
                (false, value.wrapping_add(incr))
            }
        } else {
            let uvalue = value as u64;
            let max: u64 = (1u64 << bits) - 1;
            let maxincr = max.wrapping_sub(uvalue) as i64;
            let minincr = uvalue.wrapping_neg() as i64;
            let wrap = || (uvalue.wrapping_add(incr as u64) & max) as i64;
            if uvalue > max || (incr > 0 && incr > maxincr) {
                (true, if ow == BitfieldOverflow::Sat { max as i64 } else { wrap() })
            } else if incr < 0 && incr < minincr {
                (true, if ow == BitfieldOverflow::Sat { 0 } else { wrap() })
            } else {
                (false, uvalue.wrapping_add(incr as u64) as i64)
            }
        }
    }
}

/// Number of set bits.
fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from(u64::from_ne_bytes(w).count_ones());
    }
    n + chunks.remainder().iter().map(|b| u64::from(b.count_ones())).sum::<u64>()
}

/// Redis 7.0's range conversion for BITCOUNT/BITPOS: negative indexes from the end (of
/// `total` units), clamped to the string. Returns `None` for an empty range.
fn clamp_range(start: i64, end: i64, total: i64) -> Option<(i64, i64)> {
    let start = if start < 0 { (total + start).max(0) } else { start };
    let end = if end < 0 { (total + end).max(0) } else { end };
    let end = end.min(total - 1);
    (start <= end).then_some((start, end))
}

/// BITCOUNT on the bytes of a string.
pub fn bitcount_bytes(s: &[u8], range: Option<BitRange>) -> u64 {
    let Some(r) = range else { return popcount(s) };
    if r.start < 0 && r.end < 0 && r.start > r.end {
        return 0;
    }
    let len = s.len() as i64;
    match r.unit {
        BitUnit::Byte => match clamp_range(r.start, r.end, len) {
            Some((a, b)) => popcount(&s[a as usize..=b as usize]),
            None => 0,
        },
        BitUnit::Bit => match clamp_range(r.start, r.end, len.saturating_mul(8)) {
            Some((a, b)) => {
                let (first, last) = ((a >> 3) as usize, (b >> 3) as usize);
                let mut n = popcount(&s[first..=last]);
                // Take back the bits of the edge bytes that lie outside the range.
                n -= u64::from((s[first] & !(0xffu8 >> (a & 7))).count_ones());
                n -= u64::from((s[last] & (0x7fu8 >> (b & 7))).count_ones());
                n
            }
            None => 0,
        },
    }
}

/// The first bit equal to `bit` in bit positions `from..=to` of `s`, if any.
fn find_bit(s: &[u8], bit: bool, from: u64, to: u64) -> Option<u64> {
    let mut pos = from;
    while pos <= to {
        let byte = s[(pos >> 3) as usize];
        // Whole bytes that cannot contain the bit are skipped at once.
        if pos & 7 == 0 && pos + 7 <= to && byte == if bit { 0 } else { 0xff } {
            pos += 8;
            continue;
        }
        if ((byte >> (7 - (pos & 7))) & 1 == 1) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// BITPOS on the bytes of a string (of an existing key: a missing key is all zeros, handled
/// by the caller).
pub fn bitpos_bytes(s: &[u8], bit: bool, range: Option<BitPosRange>) -> i64 {
    let len = s.len() as i64;
    let (unit, start, end, end_given) = match range {
        None => (BitUnit::Byte, 0, len - 1, false),
        Some(r) => match r.end {
            Some(end) => (r.unit, r.start, end, true),
            None => (BitUnit::Byte, r.start, len - 1, false),
        },
    };
    let total = if unit == BitUnit::Bit { len.saturating_mul(8) } else { len };
    let Some((start, end)) = clamp_range(start, end, total) else { return -1 };
    let (from, to) = match unit {
        BitUnit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
        BitUnit::Bit => (start as u64, end as u64),
    };
    match find_bit(s, bit, from, to) {
        Some(p) => p as i64,
        // No clear bit in the string: without an explicit end the string counts as padded
        // with zeros, so the answer is the first bit past it.
        None if !bit && !end_given => (to + 1) as i64,
        None => -1,
    }
}

/// SETBIT at the access level: returns the old bit.
pub fn setbit(acc: &Access<'_>, key: &[u8], offset: u64, on: bool) -> Result<bool> {
    if bit_offset_too_large(acc, offset) {
        return Err(Error::BitOffset);
    }
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let (old, changed) = acc.write(key, |shard, h| {
        let now = acc.now;
        match shard.get_mut(h, key, now) {
            None => {
                let mut bytes = vec![0u8; byte + 1];
                if on {
                    bytes[byte] |= mask;
                }
                set_raw(shard, h, key, bytes, now);
                acc.add_dirty(1);
                Ok((false, Some(true)))
            }
            Some(node) => {
                let mut bytes = take_bytes(&mut node.value)?;
                let grew = bytes.len() <= byte;
                if grew {
                    bytes.resize(byte + 1, 0);
                }
                let old = bytes[byte] & mask != 0;
                if on {
                    bytes[byte] |= mask;
                } else {
                    bytes[byte] &= !mask;
                }
                // Like Redis, the string is unshared (becomes `raw`) even if nothing changed.
                put_raw(node, bytes);
                let changed = grew || old != on;
                if changed {
                    acc.add_dirty(1);
                }
                Ok((old, changed.then_some(false)))
            }
        }
    })?;
    if let Some(created) = changed {
        notify_string(acc, key, created, "setbit");
    }
    Ok(old)
}

/// GETBIT at the access level.
pub fn getbit(acc: &Access<'_>, key: &[u8], offset: u64) -> Result<bool> {
    if bit_offset_too_large(acc, offset) {
        return Err(Error::BitOffset);
    }
    acc.read(key, |n| match n {
        None => Ok(false),
        Some(n) => {
            let s = n.value.as_str().ok_or(Error::WrongType)?;
            Ok(s.get((offset >> 3) as usize).is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0))
        }
    })
}

/// BITCOUNT at the access level (0 for a missing key).
pub fn bitcount(acc: &Access<'_>, key: &[u8], range: Option<BitRange>) -> Result<u64> {
    acc.read(key, |n| match n {
        None => Ok(0),
        Some(n) => Ok(bitcount_bytes(&n.value.as_str().ok_or(Error::WrongType)?, range)),
    })
}

/// BITPOS at the access level: a missing key is an endless run of zeros (0 for a clear bit,
/// -1 for a set bit).
pub fn bitpos(acc: &Access<'_>, key: &[u8], bit: bool, range: Option<BitPosRange>) -> Result<i64> {
    acc.read(key, |n| match n {
        None => Ok(if bit { -1 } else { 0 }),
        Some(n) => Ok(bitpos_bytes(&n.value.as_str().ok_or(Error::WrongType)?, bit, range)),
    })
}

/// BITOP at the access level: stores the result in `dest` (deleting it when every source is
/// missing or empty) and returns its length. All keys are locked together.
pub fn bitop(acc: &Access<'_>, op: BitOp, dest: &[u8], sources: &[&[u8]]) -> Result<usize> {
    if op == BitOp::Not && sources.len() != 1 {
        return Err(Error::msg("ERR BITOP NOT must be called with a single source key."));
    }
    let mut keys = Vec::with_capacity(sources.len() + 1);
    keys.push(dest);
    keys.extend_from_slice(sources);
    let now = acc.now;
    let (len, event) = acc.write_many(&keys, |m| {
        // First pass: types and lengths; nothing is changed if a source is not a string.
        let mut maxlen = 0;
        for key in sources {
            let h = acc.hash(key);
            if let Some(n) = m.shard(h).get_mut(h, key, now) {
                maxlen = maxlen.max(string_len(&n.value).ok_or(Error::WrongType)?);
            }
        }
        let dh = acc.hash(dest);
        if maxlen == 0 {
            let shard = m.shard(dh);
            shard.expire_if_needed(dh, dest, now);
            if shard.remove(dh, dest).is_some() {
                acc.signal_modified(dest);
                return Ok((0, Some(None)));
            }
            return Ok((0, None));
        }
        // Second pass: fold each source into the result, one at a time (bytes past a
        // source's end count as zero).
        let mut res = vec![0u8; maxlen];
        for (j, key) in sources.iter().enumerate() {
            let h = acc.hash(key);
            let node = m.shard(h).get_mut(h, key, now);
            let src = node.as_ref().and_then(|n| n.value.as_str());
            let src: &[u8] = src.as_deref().unwrap_or(&[]);
            match (op, j) {
                (BitOp::Not, _) => res.iter_mut().zip(src).for_each(|(r, s)| *r = !s),
                (_, 0) => res[..src.len()].copy_from_slice(src),
                (BitOp::And, _) => {
                    res.iter_mut().zip(src).for_each(|(r, s)| *r &= s);
                    res[src.len()..].fill(0);
                }
                (BitOp::Or, _) => res.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
                (BitOp::Xor, _) => res.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
            }
        }
        let created = set_raw(m.shard(dh), dh, dest, res, now);
        acc.signal_modified(dest);
        Ok((maxlen, Some(Some(created))))
    })?;
    // Outside the closure, so that `write_many` does not flag the watchers of the sources:
    // only `dest` changed (flagged above, under the lock).
    if event.is_some() {
        acc.add_dirty(1);
    }
    match event {
        Some(Some(created)) => notify_string(acc, dest, created, "set"),
        Some(None) => acc.notify(notify::GENERIC, "del", dest),
        None => {}
    }
    Ok(len)
}

/// BITFIELD / BITFIELD_RO at the access level: one reply per non-OVERFLOW operation, `None`
/// where OVERFLOW FAIL prevented a write. `read_only` (BITFIELD_RO) rejects SET and INCRBY.
/// With any write, a missing key is created (even if every write fails) and the string
/// grows to hold the farthest written field.
pub fn bitfield(acc: &Access<'_>, key: &[u8], ops: &[BitfieldOp], read_only: bool) -> Result<Vec<Option<i64>>> {
    let mut highest: Option<u64> = None;
    for op in ops {
        match *op {
            BitfieldOp::Get(_, offset) => {
                if bit_offset_too_large(acc, offset) {
                    return Err(Error::BitOffset);
                }
            }
            BitfieldOp::Set(ty, offset, _) | BitfieldOp::IncrBy(ty, offset, _) => {
                if bit_offset_too_large(acc, offset) {
                    return Err(Error::BitOffset);
                }
                let last = offset + u64::from(ty.bits) - 1;
                highest = Some(highest.map_or(last, |h| h.max(last)));
            }
            BitfieldOp::Overflow(_) => {}
        }
    }
    let Some(highest) = highest else {
        // Only reads: a missing key reads as zeros.
        return acc.read(key, |n| {
            let s = match n {
                None => None,
                Some(n) => Some(n.value.as_str().ok_or(Error::WrongType)?),
            };
            let s: &[u8] = s.as_deref().unwrap_or(&[]);
            Ok(ops
                .iter()
                .filter_map(|op| match *op {
                    BitfieldOp::Get(ty, offset) => Some(Some(ty.read(s, offset))),
                    _ => None,
                })
                .collect())
        });
    };
    if read_only {
        return Err(Error::msg("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let size = (highest >> 3) as usize + 1;
    let (replies, created, changes) = acc.write(key, |shard, h| {
        let now = acc.now;
        let mut bytes = match shard.get_mut(h, key, now) {
            // Zeroed allocation: a large new bitmap costs no page writes up front.
            None => Vec::new(),
            Some(node) => take_bytes(&mut node.value)?,
        };
        // Like Redis, a write counts as a change (event, dirty) only if it changes the
        // value, or if the string had to be created or grown.
        let grown = bytes.len() < size;
        if grown {
            bytes.resize(size, 0);
        }
        let mut ow = BitfieldOverflow::Wrap;
        let mut changes = 0;
        let mut replies = Vec::with_capacity(ops.len());
        for op in ops {
            match *op {
                BitfieldOp::Overflow(o) => ow = o,
                BitfieldOp::Get(ty, offset) => replies.push(Some(ty.read(&bytes, offset))),
                BitfieldOp::Set(ty, offset, value) => {
                    let old = ty.read(&bytes, offset);
                    let (overflow, wrapped) = ty.overflow(value, 0, ow);
                    if overflow && ow == BitfieldOverflow::Fail {
                        replies.push(None);
                    } else {
                        let new = if overflow { wrapped } else { value };
                        ty.write(&mut bytes, offset, new);
                        replies.push(Some(old));
                        changes += u64::from(grown || new != old);
                    }
                }
                BitfieldOp::IncrBy(ty, offset, incr) => {
                    let old = ty.read(&bytes, offset);
                    let (overflow, new) = ty.overflow(old, incr, ow);
                    if overflow && ow == BitfieldOverflow::Fail {
                        replies.push(None);
                    } else {
                        ty.write(&mut bytes, offset, new);
                        replies.push(Some(new));
                        changes += u64::from(grown || new != old);
                    }
                }
            }
        }
        let created = match shard.get_mut(h, key, now) {
            Some(node) => {
                put_raw(node, bytes);
                false
            }
            None => set_raw(shard, h, key, bytes, now),
        };
        acc.add_dirty(changes);
        Ok((replies, created, changes))
    })?;
    if created {
        acc.notify(notify::NEW, "new", key);
    }
    if changes > 0 {
        acc.notify(notify::STRING, "setbit", key);
    }
    Ok(replies)
}

/// A BITFIELD type as an argument (`i5`, `u8`).
fn type_word(t: BitfieldType) -> String {
    format!("{}{}", if t.signed { 'i' } else { 'u' }, t.bits)
}

/// `BITFIELD key ops...` as the typed call's operations would be sent.
fn bitfield_form(key: &[u8], ops: &[BitfieldOp]) -> Vec<Vec<Vec<u8>>> {
    let mut a = propagate::args([&b"BITFIELD"[..], key]);
    for op in ops {
        let (word, t, offset, value) = match *op {
            BitfieldOp::Get(t, off) => ("GET", t, off, None),
            BitfieldOp::Set(t, off, v) => ("SET", t, off, Some(v)),
            BitfieldOp::IncrBy(t, off, v) => ("INCRBY", t, off, Some(v)),
            BitfieldOp::Overflow(o) => {
                let mode = match o {
                    BitfieldOverflow::Wrap => "WRAP",
                    BitfieldOverflow::Sat => "SAT",
                    BitfieldOverflow::Fail => "FAIL",
                };
                a.extend(propagate::args(["OVERFLOW", mode]));
                continue;
            }
        };
        a.extend(propagate::args([word.to_string(), type_word(t), offset.to_string()]));
        if let Some(v) = value {
            a.push(v.to_string().into_bytes());
        }
    }
    vec![a]
}

impl Database {
    /// `SETBIT key offset value`: sets or clears one bit, returns its old value.
    ///
    /// ```
    /// use ferrous_core::Database;
    /// let db = Database::new();
    /// assert!(!db.setbit("b", 7, true).unwrap());
    /// assert_eq!(db.get("b").unwrap(), Some(vec![1u8]));
    /// assert!(db.getbit("b", 7).unwrap());
    /// ```
    pub fn setbit(&self, key: impl AsRef<[u8]>, offset: u64, value: bool) -> Result<bool> {
        let key = key.as_ref();
        self.write_typed(
            |acc| setbit(acc, key, offset, value),
            |_, _| {
                propagate::one([&b"SETBIT"[..], key, offset.to_string().as_bytes(), if value { b"1" } else { b"0" }])
            },
        )
    }

    /// `GETBIT key offset` (bits past the end are 0).
    pub fn getbit(&self, key: impl AsRef<[u8]>, offset: u64) -> Result<bool> {
        getbit(&self.access(), key.as_ref(), offset)
    }

    /// `BITCOUNT key [start end [BYTE | BIT]]`.
    ///
    /// ```
    /// use ferrous_core::{Database, bitmaps::{BitRange, BitUnit}};
    /// let db = Database::new();
    /// db.set("s", "foobar").unwrap();
    /// assert_eq!(db.bitcount("s", None).unwrap(), 26);
    /// assert_eq!(db.bitcount("s", Some(BitRange { start: 5, end: 30, unit: BitUnit::Bit })).unwrap(), 17);
    /// ```
    pub fn bitcount(&self, key: impl AsRef<[u8]>, range: Option<BitRange>) -> Result<u64> {
        bitcount(&self.access(), key.as_ref(), range)
    }

    /// `BITPOS key bit [start [end [BYTE | BIT]]]`: the first bit set to `bit`, or -1.
    pub fn bitpos(&self, key: impl AsRef<[u8]>, bit: bool, range: Option<BitPosRange>) -> Result<i64> {
        bitpos(&self.access(), key.as_ref(), bit, range)
    }

    /// `BITOP op destkey key [key ...]`: returns the length of the stored result.
    pub fn bitop<K: AsRef<[u8]>>(&self, op: BitOp, dest: impl AsRef<[u8]>, sources: &[K]) -> Result<usize> {
        let sources: Vec<&[u8]> = sources.iter().map(|k| k.as_ref()).collect();
        let dest = dest.as_ref();
        let word: &[u8] = match op {
            BitOp::And => b"AND",
            BitOp::Or => b"OR",
            BitOp::Xor => b"XOR",
            BitOp::Not => b"NOT",
        };
        self.write_typed(
            |acc| bitop(acc, op, dest, &sources),
            |_, _| propagate::with_list(&[b"BITOP", word, dest], &sources),
        )
    }

    /// `BITFIELD key [GET type offset | SET type offset value | INCRBY type offset incr |
    /// OVERFLOW WRAP|SAT|FAIL ...]`.
    ///
    /// ```
    /// use ferrous_core::{Database, bitmaps::{BitfieldOp, BitfieldOverflow, BitfieldType}};
    /// let db = Database::new();
    /// let u8t = BitfieldType::unsigned(8).unwrap();
    /// let ops = [
    ///     BitfieldOp::Set(u8t, 0, 250),
    ///     BitfieldOp::Overflow(BitfieldOverflow::Sat),
    ///     BitfieldOp::IncrBy(u8t, 0, 10),
    ///     BitfieldOp::Overflow(BitfieldOverflow::Fail),
    ///     BitfieldOp::IncrBy(u8t, 0, 1),
    /// ];
    /// assert_eq!(db.bitfield("k", &ops).unwrap(), vec![Some(0), Some(255), None]);
    /// ```
    pub fn bitfield(&self, key: impl AsRef<[u8]>, ops: &[BitfieldOp]) -> Result<Vec<Option<i64>>> {
        let key = key.as_ref();
        // Propagated (with its GETs, as the command is) when a SET or INCRBY wrote.
        self.write_typed(|acc| bitfield(acc, key, ops, false), |_, _| bitfield_form(key, ops))
    }

    /// `BITFIELD_RO key [GET type offset ...]`.
    pub fn bitfield_ro(&self, key: impl AsRef<[u8]>, gets: &[(BitfieldType, u64)]) -> Result<Vec<i64>> {
        let ops: Vec<BitfieldOp> = gets.iter().map(|&(ty, off)| BitfieldOp::Get(ty, off)).collect();
        Ok(bitfield(&self.access(), key.as_ref(), &ops, true)?.into_iter().map(|v| v.unwrap_or(0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfield_overflow_rules() {
        let i5 = BitfieldType::signed(5).unwrap();
        assert_eq!(i5.overflow(0, 100, BitfieldOverflow::Sat), (true, 15));
        assert_eq!(i5.overflow(15, -100, BitfieldOverflow::Sat), (true, -16));
        assert_eq!(i5.overflow(0, 100, BitfieldOverflow::Wrap), (true, 4));
        let u8t = BitfieldType::unsigned(8).unwrap();
        assert_eq!(u8t.overflow(-1, 0, BitfieldOverflow::Wrap), (true, 255));
        assert_eq!(u8t.overflow(10, -11, BitfieldOverflow::Sat), (true, 0));
        let i64t = BitfieldType::signed(64).unwrap();
        assert_eq!(i64t.overflow(i64::MAX, 1, BitfieldOverflow::Wrap), (true, i64::MIN));
        assert_eq!(i64t.overflow(-1, i64::MIN, BitfieldOverflow::Sat), (true, i64::MIN));
    }

    #[test]
    fn field_read_write_roundtrip() {
        let mut buf = vec![0u8; 4];
        let t = BitfieldType::signed(13).unwrap();
        t.write(&mut buf, 5, -1000);
        assert_eq!(t.read(&buf, 5), -1000);
        assert_eq!(BitfieldType::unsigned(3).unwrap().read(&buf, 100), 0);
    }

    #[test]
    fn bitcount_bit_edges() {
        let r = |start, end| Some(BitRange { start, end, unit: BitUnit::Bit });
        assert_eq!(bitcount_bytes(b"\xff\xff", r(3, 3)), 1);
        assert_eq!(bitcount_bytes(b"\xff\xff", r(3, 12)), 10);
        assert_eq!(bitcount_bytes(b"\xff\xff", r(-1, -1)), 1);
    }
}
