//! HyperLogLog: Redis's sparse/dense representation stored in a string value.
//!
//! A HyperLogLog is an ordinary string (GET, SET, DUMP and replication see its bytes), laid
//! out exactly as Redis's `hyperloglog.c` lays it out, so a value written by Redis 7.0 works
//! here and the other way round:
//!
//! ```text
//! +------+---+-----+----------+--------------------------------------------+
//! | HYLL | E | N/U | Cardin.  | registers (dense) or opcodes (sparse)      |
//! +------+---+-----+----------+--------------------------------------------+
//!   4 B   1 B  3 B    8 B
//! ```
//!
//! - `E` is the encoding: 0 dense, 1 sparse. The three unused bytes must be zero (they are
//!   copied, not checked).
//! - The cached cardinality is little endian; its top bit set means "stale, recompute".
//! - Dense: 16384 registers of 6 bits, packed from the least significant bit of each byte.
//! - Sparse: run-length opcodes. `00xxxxxx` ZERO (1..64 zero registers), `01xxxxxx
//!   yyyyyyyy` XZERO (1..16384 zero registers), `1vvvvvxx` VAL (1..4 registers of value
//!   1..32). A sparse HLL is promoted to dense when a register needs a value above 32 or
//!   when it would grow past `hll-sparse-max-bytes` (default 3000).
//!
//! Elements are hashed with MurmurHash64A (seed `0xadc83b19`): the low 14 bits select the
//! register, the position of the first set bit in the other 50 (plus one) is the candidate
//! register value. The cardinality estimator is the one Redis 7.0 uses (Otmar Ertl's
//! improved estimator, "New cardinality estimation algorithms for HyperLogLog sketches",
//! arXiv:1702.01284), evaluated with the same floating-point operations in the same order
//! so that the counts match Redis's exactly.
//!
//! [`HyperLogLog`] is the pure value (usable without a database); the access-level
//! operations ([`pfadd`], [`pfcount`], [`pfmerge`], [`pfdebug`]) are shared by the commands
//! in [`crate::commands::hyperloglog`] and the typed API ([`Database::pfadd`], ...); they
//! and the typed API live in `ops.rs`.
use crate::access::Access;
use crate::db::Database;
use crate::error::{Error, Result};
use crate::types::strings::{notify_string, put_raw, set_raw, take_bytes};
use crate::value::Value;

mod ops;

pub use ops::*;

/// Register-index bits: 2^14 registers.
pub const HLL_P: u32 = 14;
/// Hash bits left for the run length.
const HLL_Q: u32 = 64 - HLL_P;
/// Number of registers.
pub const HLL_REGISTERS: usize = 1 << HLL_P;
/// Bits per dense register.
const HLL_BITS: usize = 6;
/// Largest register value.
const HLL_REGISTER_MAX: u8 = (1 << HLL_BITS) - 1;
/// Header bytes: magic, encoding, 3 unused, 8 cardinality.
pub const HLL_HDR_SIZE: usize = 16;
/// Total length of a dense HyperLogLog.
pub const HLL_DENSE_SIZE: usize = HLL_HDR_SIZE + (HLL_REGISTERS * HLL_BITS).div_ceil(8);
/// Default `hll-sparse-max-bytes`.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
/// Seed of the element hash.
const HASH_SEED: u32 = 0xadc8_3b19;
/// 0.5 / ln(2), the estimator's constant for an infinite number of registers.
const HLL_ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;

/// Redis's reply when a string key does not hold a HyperLogLog.
pub const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// Redis's reply when a HyperLogLog's registers cannot be decoded.
pub const CORRUPTED_HLL: &str = "INVALIDOBJ Corrupted HLL object detected";

fn not_hll() -> Error {
    Error::msg(NOT_HLL)
}

fn corrupted() -> Error {
    Error::msg(CORRUPTED_HLL)
}

/// MurmurHash2, 64-bit version (`MurmurHash64A`), as Redis computes it on little-endian
/// machines (its big-endian build reads the words byte by byte to the same effect).
pub fn murmurhash64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    // Redis passes the length as a C `int`; the product is computed in 64 bits.
    let mut h = u64::from(seed) ^ (key.len() as u32 as i32 as i64 as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mut k = u64::from_le_bytes(word);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the value it proposes for it (the length of the
/// `000..1` pattern in the hash bits above the index, 1..=51).
pub fn pattern_len(element: &[u8]) -> (usize, u8) {
    let hash = murmurhash64a(element, HASH_SEED);
    let index = (hash & (HLL_REGISTERS as u64 - 1)) as usize;
    // The sentinel bit bounds the count at Q + 1.
    let rest = (hash >> HLL_P) | (1u64 << HLL_Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- sparse opcodes ------------------------------------------------------------------

#[inline]
fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}
#[inline]
fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}
#[inline]
fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}
#[inline]
fn zero_len(op: u8) -> usize {
    usize::from(op & 0x3f) + 1
}
/// XZERO run length; `next` is the opcode's second byte (an XZERO cut short by the end of
/// the string reads Redis's implicit terminating zero byte).
#[inline]
fn xzero_len(op: u8, next: Option<&u8>) -> usize {
    ((usize::from(op & 0x3f) << 8) | usize::from(next.copied().unwrap_or(0))) + 1
}
#[inline]
fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}
#[inline]
fn val_len(op: u8) -> usize {
    usize::from(op & 0x3) + 1
}
#[inline]
fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2 | (len as u8 - 1)) | 0x80
}
#[inline]
fn zero_op(len: usize) -> u8 {
    (len - 1) as u8
}
#[inline]
fn xzero_op(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

/// Walks sparse opcodes: calls `f(first_register, run_length, value)` for every run (value
/// 0 for ZERO/XZERO). Stops early when `f` returns false.
fn walk_sparse(ops: &[u8], mut f: impl FnMut(usize, usize, u8) -> bool) {
    let mut p = 0;
    let mut idx = 0usize;
    while p < ops.len() {
        let op = ops[p];
        let (len, value, step) = if is_zero(op) {
            (zero_len(op), 0, 1)
        } else if is_xzero(op) {
            (xzero_len(op, ops.get(p + 1)), 0, 2)
        } else {
            (val_len(op), val_value(op), 1)
        };
        if !f(idx, len, value) {
            return;
        }
        idx += len;
        p += step;
    }
}

// ---- dense registers -----------------------------------------------------------------

#[inline]
fn dense_get(regs: &[u8], index: usize) -> u8 {
    let byte = index * HLL_BITS / 8;
    let fb = (index * HLL_BITS) & 7;
    let b0 = u16::from(regs[byte]);
    // The last register's second byte is Redis's implicit terminator (always zero).
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(HLL_REGISTER_MAX)) as u8
}

#[inline]
fn dense_put(regs: &mut [u8], index: usize, value: u8) {
    let byte = index * HLL_BITS / 8;
    let fb = (index * HLL_BITS) & 7;
    let v = u16::from(value);
    let max = u16::from(HLL_REGISTER_MAX);
    regs[byte] = ((u16::from(regs[byte]) & !(max << fb)) | (v << fb)) as u8;
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 = ((u16::from(*b1) & !(max >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

// ---- the estimator -------------------------------------------------------------------

fn hll_sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn hll_tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        // Redis writes pow(1 - x, 2), which compilers turn into this exact product.
        let d = 1.0 - x;
        z -= d * d * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate for a register histogram (`histogram[v]`: how many registers
/// hold `v`).
pub fn estimate(histogram: &[u32; 64]) -> u64 {
    let m = HLL_REGISTERS as f64;
    let q = HLL_Q as usize;
    let mut z = m * hll_tau((m - f64::from(histogram[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histogram[j]);
        z *= 0.5;
    }
    z += m * hll_sigma(f64::from(histogram[0]) / m);
    // llroundl: round half away from zero.
    (HLL_ALPHA_INF * m * m / z).round() as u64
}

/// The estimate for raw registers (one byte each), as PFCOUNT computes a union.
pub fn estimate_raw(registers: &[u8; HLL_REGISTERS]) -> u64 {
    let mut histogram = [0u32; 64];
    for &r in registers {
        histogram[usize::from(r & 63)] += 1;
    }
    estimate(&histogram)
}

// ---- the value -----------------------------------------------------------------------

/// A HyperLogLog's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllEncoding {
    /// 16384 packed 6-bit registers.
    Dense,
    /// Run-length opcodes.
    Sparse,
}

impl HllEncoding {
    /// The name PFDEBUG ENCODING replies.
    pub fn as_str(self) -> &'static str {
        match self {
            HllEncoding::Dense => "dense",
            HllEncoding::Sparse => "sparse",
        }
    }
}

/// A HyperLogLog in Redis's byte representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HyperLogLog {
    bytes: Vec<u8>,
}

impl Default for HyperLogLog {
    fn default() -> Self {
        HyperLogLog::new()
    }
}

/// True if `bytes` pass Redis's `isHLLObjectOrReply` checks: long enough for the header,
/// `HYLL` magic, a known encoding, and the exact length when dense.
pub fn is_valid(bytes: &[u8]) -> bool {
    bytes.len() >= HLL_HDR_SIZE
        && &bytes[..4] == b"HYLL"
        && bytes[4] <= ENCODING_SPARSE
        && (bytes[4] != ENCODING_DENSE || bytes.len() == HLL_DENSE_SIZE)
}

impl HyperLogLog {
    /// An empty HyperLogLog: sparse, every register zero (as XZERO runs), cached
    /// cardinality 0 (valid).
    pub fn new() -> HyperLogLog {
        let mut bytes = Vec::with_capacity(HLL_HDR_SIZE + 2 * HLL_REGISTERS.div_ceil(SPARSE_XZERO_MAX_LEN));
        bytes.extend_from_slice(b"HYLL");
        bytes.push(ENCODING_SPARSE);
        bytes.extend_from_slice(&[0; 11]);
        let mut left = HLL_REGISTERS;
        while left > 0 {
            let run = left.min(SPARSE_XZERO_MAX_LEN);
            bytes.extend_from_slice(&xzero_op(run));
            left -= run;
        }
        HyperLogLog { bytes }
    }

    /// Wraps bytes that pass [`is_valid`]; gives them back otherwise.
    pub fn from_bytes(bytes: Vec<u8>) -> std::result::Result<HyperLogLog, Vec<u8>> {
        if is_valid(&bytes) {
            Ok(HyperLogLog { bytes })
        } else {
            Err(bytes)
        }
    }

    /// The representation.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The representation, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The encoding.
    pub fn encoding(&self) -> HllEncoding {
        if self.bytes[4] == ENCODING_DENSE {
            HllEncoding::Dense
        } else {
            HllEncoding::Sparse
        }
    }

    /// The cached cardinality, if it is valid.
    pub fn cached_cardinality(&self) -> Option<u64> {
        let mut card = [0u8; 8];
        card.copy_from_slice(&self.bytes[8..16]);
        (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
    }

    /// Stores a freshly computed cardinality in the cache.
    pub fn set_cached_cardinality(&mut self, card: u64) {
        self.bytes[8..16].copy_from_slice(&card.to_le_bytes());
    }

    /// Marks the cached cardinality stale.
    pub fn invalidate_cache(&mut self) {
        self.bytes[15] |= 0x80;
    }

    /// Adds an element; true if a register changed. A sparse HyperLogLog is promoted to
    /// dense as Redis would (a register above 32, or growing past `sparse_max_bytes`).
    /// Note that, as in Redis, only sparse updates mark the cached cardinality stale:
    /// callers invalidate it once after a batch of dense updates.
    pub fn add(&mut self, element: &[u8], sparse_max_bytes: usize) -> Result<bool> {
        let (index, count) = pattern_len(element);
        self.set_register(index, count, sparse_max_bytes)
    }

    /// Raises register `index` to `count` if it is lower; true if it changed.
    pub fn set_register(&mut self, index: usize, count: u8, sparse_max_bytes: usize) -> Result<bool> {
        match self.encoding() {
            HllEncoding::Dense => Ok(self.dense_set(index, count)),
            HllEncoding::Sparse => self.sparse_set(index, count, sparse_max_bytes),
        }
    }

    fn dense_set(&mut self, index: usize, count: u8) -> bool {
        let regs = &mut self.bytes[HLL_HDR_SIZE..];
        if count > dense_get(regs, index) {
            dense_put(regs, index, count);
            true
        } else {
            false
        }
    }

    /// Converts to dense (a no-op when already dense); true if it converted. The header,
    /// cached cardinality included, is kept.
    pub fn to_dense(&mut self) -> Result<bool> {
        if self.encoding() == HllEncoding::Dense {
            return Ok(false);
        }
        let mut dense = vec![0u8; HLL_DENSE_SIZE];
        dense[..HLL_HDR_SIZE].copy_from_slice(&self.bytes[..HLL_HDR_SIZE]);
        dense[4] = ENCODING_DENSE;
        let regs = &mut dense[HLL_HDR_SIZE..];
        let mut end = 0;
        let mut overflow = false;
        walk_sparse(&self.bytes[HLL_HDR_SIZE..], |first, len, value| {
            if value > 0 {
                if first + len > HLL_REGISTERS {
                    overflow = true;
                    return false;
                }
                for i in first..first + len {
                    dense_put(regs, i, value);
                }
            }
            end = first + len;
            true
        });
        if overflow || end != HLL_REGISTERS {
            return Err(corrupted());
        }
        self.bytes = dense;
        Ok(true)
    }

    /// Redis's `hllSparseSet`: finds the opcode covering `index`, splits it if needed,
    /// merges adjacent equal VAL opcodes around the change, and promotes to dense when the
    /// value or the resulting size does not fit the sparse encoding.
    fn sparse_set(&mut self, index: usize, count: u8, sparse_max_bytes: usize) -> Result<bool> {
        if count > SPARSE_VAL_MAX_VALUE {
            return self.promote(index, count);
        }
        let b = &mut self.bytes;
        let end = b.len();
        // Step 1: the opcode covering `index`.
        let mut p = HLL_HDR_SIZE;
        let mut first = 0usize;
        let mut prev: Option<usize> = None;
        let mut span = 0usize;
        while p < end {
            let op = b[p];
            let oplen;
            (span, oplen) = if is_zero(op) {
                (zero_len(op), 1)
            } else if is_val(op) {
                (val_len(op), 1)
            } else {
                (xzero_len(op, b.get(p + 1)), 2)
            };
            if index < first + span {
                break;
            }
            prev = Some(p);
            p += oplen;
            first += span;
        }
        if span == 0 || p >= end {
            return Err(corrupted());
        }
        let op = b[p];
        let oldlen = if is_xzero(op) { 2 } else { 1 };
        let next = Some(p + oldlen).filter(|&n| n < end);

        // Step 2: the trivial in-place cases.
        let updated_in_place = if is_val(op) {
            if val_value(op) >= count {
                return Ok(false);
            }
            span == 1
        } else {
            is_zero(op) && span == 1
        };
        if updated_in_place {
            b[p] = val_op(count, 1);
        } else {
            // The general case: split the run into (before, our register, after).
            let last = first + span - 1;
            let mut seq = [0u8; 5];
            let mut n = 0;
            let zeros = |len: usize, seq: &mut [u8; 5], n: &mut usize| {
                if len > SPARSE_ZERO_MAX_LEN {
                    seq[*n..*n + 2].copy_from_slice(&xzero_op(len));
                    *n += 2;
                } else {
                    seq[*n] = zero_op(len);
                    *n += 1;
                }
            };
            if is_val(op) {
                let cur = val_value(op);
                if index != first {
                    seq[n] = val_op(cur, index - first);
                    n += 1;
                }
                seq[n] = val_op(count, 1);
                n += 1;
                if index != last {
                    seq[n] = val_op(cur, last - index);
                    n += 1;
                }
            } else {
                if index != first {
                    zeros(index - first, &mut seq, &mut n);
                }
                seq[n] = val_op(count, 1);
                n += 1;
                if index != last {
                    zeros(last - index, &mut seq, &mut n);
                }
            }
            // Step 3: substitute the sequence for the old opcode.
            let new_len = end + n - oldlen;
            if n > oldlen && new_len > sparse_max_bytes {
                return self.promote(index, count);
            }
            match next {
                Some(next) => {
                    b.splice(p..next, seq[..n].iter().copied());
                }
                None => {
                    // The opcode was the last one (possibly an XZERO cut short: Redis then
                    // keeps only as many bytes as the length arithmetic says).
                    b.truncate(p);
                    b.extend_from_slice(&seq[..n]);
                    b.truncate(new_len);
                }
            }
        }

        // Step 4: merge adjacent VAL opcodes of equal value, scanning up to five opcodes
        // from the one before the change.
        let mut end = b.len();
        let mut p = prev.unwrap_or(HLL_HDR_SIZE);
        let mut scan = 5;
        while p < end && scan > 0 {
            scan -= 1;
            let op = b[p];
            if is_xzero(op) {
                p += 2;
                continue;
            } else if is_zero(op) {
                p += 1;
                continue;
            }
            if p + 1 < end && is_val(b[p + 1]) {
                let v1 = val_value(op);
                let v2 = val_value(b[p + 1]);
                let len = val_len(op) + val_len(b[p + 1]);
                if v1 == v2 && len <= SPARSE_VAL_MAX_LEN {
                    b[p + 1] = val_op(v1, len);
                    b.remove(p);
                    end -= 1;
                    continue;
                }
            }
            p += 1;
        }
        self.invalidate_cache();
        Ok(true)
    }

    /// Converts to dense and sets the register there.
    fn promote(&mut self, index: usize, count: u8) -> Result<bool> {
        self.to_dense()?;
        Ok(self.dense_set(index, count))
    }

    /// The register histogram; INVALIDOBJ when sparse opcodes do not cover exactly the
    /// 16384 registers.
    fn histogram(&self) -> Result<[u32; 64]> {
        let mut histogram = [0u32; 64];
        let data = &self.bytes[HLL_HDR_SIZE..];
        match self.encoding() {
            HllEncoding::Dense => {
                for i in 0..HLL_REGISTERS {
                    histogram[usize::from(dense_get(data, i))] += 1;
                }
            }
            HllEncoding::Sparse => {
                let mut total = 0usize;
                walk_sparse(data, |_, len, value| {
                    let slot = &mut histogram[usize::from(value)];
                    *slot = slot.wrapping_add(len as u32);
                    total += len;
                    true
                });
                if total != HLL_REGISTERS {
                    return Err(corrupted());
                }
            }
        }
        Ok(histogram)
    }

    /// The estimated cardinality computed from the registers (ignores the cache).
    pub fn estimate(&self) -> Result<u64> {
        Ok(estimate(&self.histogram()?))
    }

    /// The cardinality: the cached value when valid, otherwise a fresh estimate, which is
    /// then cached. The flag tells whether the representation changed.
    pub fn count(&mut self) -> Result<(u64, bool)> {
        if let Some(card) = self.cached_cardinality() {
            return Ok((card, false));
        }
        let card = self.estimate()?;
        self.set_cached_cardinality(card);
        Ok((card, true))
    }

    /// Raises every register of `max` to this HyperLogLog's value (Redis's `hllMerge`).
    pub fn merge_into(&self, max: &mut [u8; HLL_REGISTERS]) -> Result<()> {
        merge_bytes(&self.bytes, max)
    }

    /// Every register's value (dense or decoded from sparse).
    pub fn registers(&self) -> Result<Vec<u8>> {
        let mut max = [0u8; HLL_REGISTERS];
        self.merge_into(&mut max)?;
        Ok(max.to_vec())
    }

    /// PFDEBUG DECODE's text for a sparse HyperLogLog (`z:len`, `Z:len`, `v:value,len`
    /// separated by spaces); `None` when dense.
    pub fn decode_sparse(&self) -> Option<String> {
        if self.encoding() != HllEncoding::Sparse {
            return None;
        }
        let data = &self.bytes[HLL_HDR_SIZE..];
        let mut out = String::new();
        let mut p = 0;
        while p < data.len() {
            let op = data[p];
            if is_zero(op) {
                out.push_str(&format!("z:{} ", zero_len(op)));
                p += 1;
            } else if is_xzero(op) {
                out.push_str(&format!("Z:{} ", xzero_len(op, data.get(p + 1))));
                p += 2;
            } else {
                out.push_str(&format!("v:{},{} ", val_value(op), val_len(op)));
                p += 1;
            }
        }
        Some(out.trim_matches(' ').to_string())
    }
}

/// Redis's PFSELFTEST: checks the dense register packing with random values
/// (`register_cycles` times; Redis does 1000), then adds up to `max_elements` (Redis: ten
/// million) distinct elements to a dense and a sparse HyperLogLog at once,
/// checking at every power of ten that the sparse one stays sparse while small, that both
/// agree and that the error is within six standard errors. The error text is Redis's.
pub fn selftest(register_cycles: usize, max_elements: u64, sparse_max_bytes: usize) -> Result<()> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut dense = HyperLogLog::new();
    dense.to_dense()?;
    let mut expected = vec![0u8; HLL_REGISTERS];
    for _ in 0..register_cycles {
        let regs = &mut dense.bytes[HLL_HDR_SIZE..];
        for (i, e) in expected.iter_mut().enumerate() {
            *e = rng.gen::<u8>() & HLL_REGISTER_MAX;
            dense_put(regs, i, *e);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = dense_get(regs, i);
            if got != e {
                return Err(Error::msg(format!("TESTFAILED Register {i} should be {e} but is {got}")));
            }
        }
    }
    let mut dense = HyperLogLog::new();
    dense.to_dense()?;
    let mut sparse = HyperLogLog::new();
    let relerr = 1.04 / (HLL_REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    let seed: u64 = rng.gen();
    for j in 1..=max_elements {
        let element = (j ^ seed).to_le_bytes();
        dense.add(&element, sparse_max_bytes)?;
        sparse.add(&element, sparse_max_bytes)?;
        if j != checkpoint {
            continue;
        }
        if j < sparse_max_bytes as u64 / 2 && sparse.encoding() != HllEncoding::Sparse {
            return Err(Error::msg("TESTFAILED sparse encoding not used"));
        }
        let approx = dense.estimate()?;
        if approx != sparse.estimate()? {
            return Err(Error::msg("TESTFAILED dense/sparse disagree"));
        }
        let abserr = (checkpoint as i64 - approx as i64).unsigned_abs();
        // Cardinality 10 can see a collision, which makes a larger error likely.
        let maxerr = if j == 10 { 1 } else { (relerr * 6.0 * checkpoint as f64).ceil() as u64 };
        if abserr > maxerr {
            return Err(Error::msg(format!("TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}")));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_reference_values() {
        // Values computed by Redis's MurmurHash64A (seed 0xadc83b19) for these inputs.
        assert_eq!(murmurhash64a(b"", 0), 0);
        // Each tail length exercises one branch of the switch.
        let a = murmurhash64a(b"abcdefgh", HASH_SEED);
        let b = murmurhash64a(b"abcdefghi", HASH_SEED);
        assert_ne!(a, b);
    }

    #[test]
    fn empty_layout() {
        let h = HyperLogLog::new();
        assert_eq!(h.as_bytes(), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(h.cached_cardinality(), Some(0));
        assert_eq!(h.decode_sparse().as_deref(), Some("Z:16384"));
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; HLL_DENSE_SIZE - HLL_HDR_SIZE];
        for i in 0..HLL_REGISTERS {
            dense_put(&mut regs, i, (i * 7 % 64) as u8);
        }
        for i in 0..HLL_REGISTERS {
            assert_eq!(dense_get(&regs, i), (i * 7 % 64) as u8, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = HyperLogLog::new();
        let mut d = HyperLogLog::new();
        d.to_dense().unwrap();
        for i in 0..2000u32 {
            let e = format!("e{i}");
            s.add(e.as_bytes(), 100_000).unwrap();
            d.add(e.as_bytes(), 100_000).unwrap();
        }
        assert_eq!(s.encoding(), HllEncoding::Sparse);
        assert_eq!(s.registers().unwrap(), d.registers().unwrap());
        assert_eq!(s.estimate().unwrap(), d.estimate().unwrap());
        let mut c = s.clone();
        c.to_dense().unwrap();
        assert_eq!(c.registers().unwrap(), d.registers().unwrap());
    }

    #[test]
    fn selftest_passes() {
        selftest(5, 100_000, DEFAULT_SPARSE_MAX_BYTES).unwrap();
    }
}
