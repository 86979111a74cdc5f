//! The reader: [`Reader`] walks a file item by item; [`restore_payload`] decodes a DUMP
//! payload. Both share `Input` (a buffer over any `io::Read` that knows its stream offset
//! and feeds the checksum) and the value decoders.
//!
//! Values are rebuilt through the types' own constructors, under [`ValueLimits`], into the
//! encoding Redis 7.0 gives them after loading (checked against redis-server 7.0.15):
//!
//! | in the file                         | becomes                                            |
//! |-------------------------------------|----------------------------------------------------|
//! | HASH, ZSET, ZSET_2, zipmap          | listpack if within both the entries and the value limits, else hashtable/skiplist |
//! | hash/zset listpack or ziplist       | stays listpack unless over the *entries* limit (long values do not convert it) |
//! | SET                                 | intset if all integers and within `set-max-intset-entries`, else hashtable |
//! | intset                              | stays intset (at its file width) unless over `set-max-intset-entries` |
//! | QUICKLIST, QUICKLIST_2              | quicklist with the file's nodes as they are, whatever `list-max-listpack-size` says (Redis appends loaded nodes whole) |
//! | LIST, ziplist                       | quicklist built by pushing each element (nodes as RPUSH makes them)  |
//!
//! Performance: strings that fit in the buffer are handed to their consumer in place (a
//! short string value costs no allocation; a key costs its `Vec`); blobs are decoded in
//! place; collections of separate strings are gathered into one arena per value.
use super::listpack::{LpElem, LpReader};
use super::ziplist::ZlReader;
use super::*;
use crate::types::hash::listpack::Elem as HashElem;
use crate::types::hash::Hash;
use crate::types::list::{Elem as ListElem, List};
use crate::types::set::Set;
use crate::types::zset::{ZSet, ZSetBuilder};
use crate::value::{StrRef, Value};
use std::io::Read;

/// Read buffer size: room for any quicklist node at the largest fill (64 KB) in place, and
/// few refills (each hands the consumed bytes to the checksum).
const BUF_SIZE: usize = 256 * 1024 + 64;
/// Most elements a collection preallocates for before they have actually been read.
const PREALLOC: usize = 4096;

type Result<T> = std::result::Result<T, RdbError>;

/// One item of an RDB file.
#[derive(Debug)]
pub enum Item {
    /// An AUX field (`redis-ver`, `ctime`, `repl-id`, ...).
    Aux {
        /// Field name.
        key: Vec<u8>,
        /// Field value.
        value: Vec<u8>,
    },
    /// The database the following entries belong to.
    SelectDb(u64),
    /// Key counts of the current database (a sizing hint).
    ResizeDb {
        /// Keys.
        db_size: u64,
        /// Keys with an expiry.
        expires_size: u64,
    },
    /// A key and its value.
    Entry(Entry),
    /// A function library's code (FUNCTION2).
    Function(Vec<u8>),
    /// The end of the file; its checksum was verified when present (version 5+), nonzero
    /// and [`DecodeOptions::verify_checksum`] asked for it. Further calls return `Eof` again.
    Eof,
}

/// A key read from a file. Empty collections never come out (they are skipped).
#[derive(Debug)]
pub struct Entry {
    /// The key.
    pub key: Vec<u8>,
    /// The value, in the encoding the limits give it.
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (`IDLE`), when the file has it.
    pub idle: Option<u64>,
    /// LFU counter (`FREQ`), when the file has it.
    pub freq: Option<u8>,
}

// ---------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------

/// A string as stored: integer-encoded, or bytes (in place, or decompressed).
enum Str<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// A length or, for strings, a special encoding.
enum Len {
    Plain(u64),
    Int(i64),
    Lzf,
}

struct Input<R> {
    src: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// The running checksum, fed with consumed bytes when the buffer moves on (on a helper
    /// thread for large inputs, beside the decoding).
    crc: Option<super::BgCrc64>,
    crc_from: usize,
    /// Compressed and decompressed bytes of the current LZF string.
    lzf_in: Vec<u8>,
    lzf_out: Vec<u8>,
    /// Stream offset up to which the input has had heap reserved for what it decodes to
    /// (see [`reserve_heap`]); `u64::MAX` when not reserving.
    heap_for: u64,
}

/// Input bytes read between two heap reservations, and heap reserved per input byte (values
/// take up to about three times their bytes in the file: LZF-compressed list nodes).
const HEAP_STEP_INPUT: u64 = 128 << 10;
const HEAP_PER_INPUT_BYTE: usize = 3;

/// Makes the allocator's heap of the calling thread grow ahead by about `bytes`, in large
/// steps, so that the allocations of a load find it ready.
///
/// glibc grows a thread arena (the loading thread's is not the main arena) by exactly the
/// pages each allocation lacks, one `mprotect` system call (and memory-map bookkeeping) per
/// growth, and it has no `M_TOP_PAD` for thread arenas: loading 10k sorted sets of 100
/// members made 3,682 such calls (Redis: 22), about 12% of the load's CPU time. Blocks
/// allocated here (below the mmap threshold, so from the arena) and freed at once grow it
/// with one call per block; freeing trims the pages (`MADV_DONTNEED`) but keeps the
/// protection, so the load's own allocations then only fault their pages in. With another
/// allocator this is one allocation and free per block and nothing else.
#[inline(never)]
fn reserve_heap(bytes: usize) {
    // Under glibc's default mmap threshold of 128 KiB.
    const BLOCK: usize = 96 << 10;
    let blocks: Vec<Vec<u8>> = (0..bytes.div_ceil(BLOCK)).map(|_| Vec::with_capacity(BLOCK)).collect();
    drop(std::hint::black_box(blocks));
}

impl<R: Read> Input<R> {
    fn new(src: R, capacity: usize, checksum: bool, reserve: bool) -> Input<R> {
        Input {
            heap_for: if reserve { 0 } else { u64::MAX },
            src,
            buf: vec![0; capacity.max(16)].into_boxed_slice(),
            pos: 0,
            end: 0,
            base: 0,
            crc: checksum.then(super::BgCrc64::new),
            crc_from: 0,
            lzf_in: Vec::new(),
            lzf_out: Vec::new(),
        }
    }

    #[inline]
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Makes `n` bytes (at most the buffer's size) available at `pos`.
    fn fill(&mut self, n: usize) -> Result<()> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        if let Some(c) = &mut self.crc {
            c.update(&self.buf[self.crc_from..self.pos]);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        self.crc_from = 0;
        while self.end < n {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(RdbError::Truncated { offset: self.base + self.end as u64 }),
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let read_to = self.base + self.end as u64;
        if read_to >= self.heap_for.saturating_add(HEAP_STEP_INPUT) {
            reserve_heap((read_to - self.heap_for) as usize * HEAP_PER_INPUT_BYTE);
            self.heap_for = read_to;
        }
        Ok(())
    }

    /// The checksum of everything consumed so far.
    fn checksum(&mut self) -> Option<u64> {
        let c = self.crc.as_mut()?;
        c.update(&self.buf[self.crc_from..self.pos]);
        self.crc_from = self.pos;
        Some(c.value())
    }

    #[inline]
    fn u8(&mut self) -> Result<u8> {
        if self.pos == self.end {
            self.fill(1)?;
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.fill(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(a)
    }

    /// Reads `n` bytes into `out` (cleared), growing it only as the bytes arrive, so a
    /// corrupt length costs no more memory than the input actually holds.
    fn read_into(&mut self, n: usize, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.reserve(n.min(self.buf.len()));
        let mut left = n;
        while left > 0 {
            if self.pos == self.end {
                self.fill(1)?;
            }
            let k = left.min(self.end - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            left -= k;
        }
        Ok(())
    }

    /// `rdbLoadLen` (with the string encodings).
    #[inline]
    fn len_or_enc(&mut self) -> Result<Len> {
        let at = self.offset();
        let b = self.u8()?;
        Ok(match b >> 6 {
            LEN_6BIT => Len::Plain((b & 0x3F) as u64),
            LEN_14BIT => Len::Plain(((b & 0x3F) as u64) << 8 | self.u8()? as u64),
            LEN_ENCVAL => match b & 0x3F {
                ENC_INT8 => Len::Int(self.u8()? as i8 as i64),
                ENC_INT16 => Len::Int(i16::from_le_bytes(self.array()?) as i64),
                ENC_INT32 => Len::Int(i32::from_le_bytes(self.array()?) as i64),
                ENC_LZF => Len::Lzf,
                e => return Err(RdbError::corrupt(at, format!("unknown string encoding {e}"))),
            },
            _ => match b {
                LEN_32BIT => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                LEN_64BIT => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(RdbError::corrupt(at, format!("unknown length encoding {b:#04x}"))),
            },
        })
    }

    /// A length (a count, a db number...).
    #[inline]
    fn length(&mut self) -> Result<u64> {
        let at = self.offset();
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            _ => Err(RdbError::corrupt(at, "string encoding where a length was expected")),
        }
    }

    /// A length that sizes something in memory.
    fn size(&mut self) -> Result<usize> {
        let at = self.offset();
        usize::try_from(self.length()?).map_err(|_| RdbError::corrupt(at, "length too large"))
    }

    /// Reads a string and hands it to `f` (in place when it fits in the buffer).
    #[inline]
    fn string<T>(&mut self, f: impl FnOnce(Str<'_>) -> T) -> Result<T> {
        let at = self.offset();
        match self.len_or_enc()? {
            Len::Int(v) => Ok(f(Str::Int(v))),
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::corrupt(at, "string length too large"))?;
                if n <= self.buf.len() {
                    self.fill(n)?;
                    let start = self.pos;
                    self.pos += n;
                    Ok(f(Str::Bytes(&self.buf[start..start + n])))
                } else {
                    let mut big = Vec::new();
                    self.read_into(n, &mut big)?;
                    Ok(f(Str::Bytes(&big)))
                }
            }
            Len::Lzf => {
                let clen = self.size()?;
                let ulen = self.size()?;
                // Compressed bytes that fit in the read buffer are decompressed from it, not
                // copied out first.
                let in_place = clen <= self.buf.len();
                let mut input = Vec::new();
                if in_place {
                    self.fill(clen)?;
                } else {
                    input = std::mem::take(&mut self.lzf_in);
                    self.read_into(clen, &mut input)?;
                }
                if ulen > super::lzf::max_expansion(clen) {
                    return Err(RdbError::corrupt(at, "LZF string longer than its compressed data can hold"));
                }
                let mut out = std::mem::take(&mut self.lzf_out);
                let done = if in_place {
                    let start = self.pos;
                    self.pos += clen;
                    super::lzf::decompress(&self.buf[start..start + clen], &mut out, ulen)
                } else {
                    let done = super::lzf::decompress(&input, &mut out, ulen);
                    self.lzf_in = input;
                    done
                };
                let r = match done {
                    Ok(()) => Ok(f(Str::Bytes(&out))),
                    Err(what) => Err(RdbError::corrupt(at, what)),
                };
                // Keep the buffers for the next string unless one was huge.
                if out.capacity() <= 1 << 20 {
                    self.lzf_out = out;
                }
                if self.lzf_in.capacity() > 1 << 20 {
                    self.lzf_in = Vec::new();
                }
                r
            }
        }
    }

    /// A string as an owned byte vector (keys, aux fields).
    fn string_vec(&mut self) -> Result<Vec<u8>> {
        self.string(|s| match s {
            Str::Int(v) => StrRef::int(v).to_vec(),
            Str::Bytes(b) => b.to_vec(),
        })
    }

    /// A blob (listpack, ziplist, intset, zipmap) decoded by `f`, whose errors become
    /// `Corrupt` at the blob's offset.
    fn blob<T>(&mut self, f: impl FnOnce(&[u8]) -> std::result::Result<T, Cow<'static, str>>) -> Result<T> {
        let at = self.offset();
        self.string(|s| match s {
            Str::Bytes(b) => f(b),
            Str::Int(_) => Err("integer where a packed blob was expected".into()),
        })?
        .map_err(|what| RdbError::corrupt(at, what))
    }
}

/// Strings of one collection gathered in one buffer (one allocation per value, not per
/// element).
#[derive(Default)]
struct Arena {
    data: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Arena {
    fn with_capacity(n: usize) -> Arena {
        Arena { data: Vec::new(), spans: Vec::with_capacity(n.min(PREALLOC)) }
    }
    fn push(&mut self, s: Str<'_>) {
        let start = self.data.len();
        match s {
            Str::Int(v) => self.data.extend_from_slice(&StrRef::int(v)),
            Str::Bytes(b) => self.data.extend_from_slice(b),
        }
        self.spans.push((start, self.data.len() - start));
    }
    fn get(&self, i: usize) -> &[u8] {
        let (s, n) = self.spans[i];
        &self.data[s..s + n]
    }
    fn len(&self) -> usize {
        self.spans.len()
    }
}

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

/// A blob element as the types take it.
fn lp_bytes(e: LpElem<'_>) -> StrRef<'_> {
    match e {
        LpElem::Int(v) => StrRef::int(v),
        LpElem::Str(s) => StrRef::Bytes(s),
    }
}

fn hash_elem(e: LpElem<'_>) -> HashElem<'_> {
    match e {
        LpElem::Int(v) => HashElem::Int(v),
        LpElem::Str(s) => HashElem::Str(s),
    }
}

fn list_elem(e: LpElem<'_>) -> ListElem<'_> {
    match e {
        LpElem::Int(v) => ListElem::Int(v),
        LpElem::Str(s) => ListElem::Bytes(s),
    }
}

/// Runs `$body` with `$it` bound to the elements of a [`Packed`] blob (a `&mut` iterator of
/// [`LpElem`]; the body is compiled for each format, so no element goes through a virtual
/// call), then checks that the blob was well-formed to its end: `Result<body's value, _>`.
macro_rules! with_elems {
    ($packed:expr, |$it:ident| $body:expr) => {
        match $packed {
            Packed::Lp(mut r) => {
                let v = {
                    let $it = &mut r;
                    $body
                };
                r.finish().map(|()| v)
            }
            Packed::Zl(mut r) => {
                let v = {
                    let $it = &mut r;
                    $body
                };
                r.finish().map(|()| v)
            }
        }
    };
}

/// A listpack or ziplist blob, opened.
enum Packed<'a> {
    Lp(LpReader<'a>),
    Zl(ZlReader<'a>),
}

impl<'a> Packed<'a> {
    fn open(blob: &'a [u8], ziplist: bool, deep: bool) -> std::result::Result<Packed<'a>, Cow<'static, str>> {
        Ok(if ziplist { Packed::Zl(ZlReader::new(blob, deep)?) } else { Packed::Lp(LpReader::new(blob, deep)?) })
    }

    /// The element count from the header, when known.
    fn declared(&self) -> Option<usize> {
        match self {
            Packed::Lp(r) => r.declared(),
            Packed::Zl(r) => r.declared(),
        }
    }

    /// Every element (one pass, dispatching on the format once).
    fn collect(self) -> std::result::Result<Vec<LpElem<'a>>, Cow<'static, str>> {
        fn all<'a, I: Iterator<Item = LpElem<'a>>>(it: &mut I, hint: usize) -> Vec<LpElem<'a>> {
            let mut v = Vec::with_capacity(hint.min(PREALLOC));
            v.extend(it);
            v
        }
        match self {
            Packed::Lp(mut r) => {
                let hint = r.count_hint();
                let v = all(&mut r, hint);
                r.finish().map(|()| v)
            }
            Packed::Zl(mut r) => {
                let hint = r.count_hint();
                let v = all(&mut r, hint);
                r.finish().map(|()| v)
            }
        }
    }
}

/// Appends the elements of one packed node (a blob of `bytes` bytes) to `list` as a node.
fn push_packed_node(list: &mut List, p: Packed<'_>, bytes: usize) -> std::result::Result<(), Cow<'static, str>> {
    with_elems!(p, |elems| list.push_back_node(elems.map(list_elem), bytes))
}

/// Builds a sorted set: rejects NaN scores and repeated members, puts the members in
/// (score, member) order (files list them ascending, or descending for ZSET_2), and lets
/// [`ZSet::from_sorted`] pick the encoding under `limits`.
fn build_zset(
    items: &mut [(&[u8], f64)],
    limits: &crate::types::zset::ZSetLimits,
) -> std::result::Result<Option<Value>, &'static str> {
    if items.is_empty() {
        return Ok(None);
    }
    if items.iter().any(|i| i.1.is_nan()) {
        return Err("sorted set with a NaN score");
    }
    let members: Vec<&[u8]> = items.iter().map(|i| i.0).collect();
    if crate::types::hash::table::has_duplicate(&members) {
        return Err("duplicate sorted set member");
    }
    // Listpacks list members in order, ZSET_2 in reverse order: check before sorting.
    let before = |a: &(&[u8], f64), b: &(&[u8], f64)| a.1 < b.1 || (a.1 == b.1 && a.0 < b.0);
    if items.windows(2).all(|w| before(&w[1], &w[0])) {
        items.reverse();
    } else if !items.windows(2).all(|w| before(&w[0], &w[1])) {
        // -0 and 0 compare equal as scores; total_cmp orders them, which is still sorted.
        items.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    }
    Ok(Some(Value::ZSet(ZSet::from_sorted(items, limits))))
}

/// Powers of ten exact in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// A plain decimal `[-]digits[.digits]` whose digits form an integer below 2^53 with at
/// most 22 of them after the point: its value is then one correctly rounded division of two
/// exact doubles, as `strtod` would round it. `None` for anything else (the short scores
/// Redis writes, like `12.25`, are all of this form).
#[inline]
fn simple_decimal(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let (mut w, mut n, mut frac, mut dot) = (0u64, 0u32, 0usize, false);
    for &c in digits {
        match c {
            b'0'..=b'9' if n < 19 => {
                w = w * 10 + (c - b'0') as u64;
                n += 1;
                frac += dot as usize;
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if n == 0 || w >= 1 << 53 || frac >= POW10.len() {
        return None;
    }
    let v = w as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

/// A score in a listpack/ziplist: an integer, or text as `zzlStrtod` reads it.
#[inline]
fn packed_score(e: LpElem<'_>) -> std::result::Result<f64, &'static str> {
    match e {
        LpElem::Int(v) => Ok(v as f64),
        LpElem::Str(s) => {
            if let Some(v) = simple_decimal(s) {
                return Ok(v);
            }
            let (v, used, _) = crate::types::zset::strtod(&s[..s.len().min(127)]);
            if used == 0 {
                return Err("sorted set score is not a number");
            }
            Ok(v)
        }
    }
}

/// `rdbLoadDoubleValue`: the text scores of ZSET (type 3).
fn text_double<R: Read>(inp: &mut Input<R>) -> Result<f64> {
    let at = inp.offset();
    Ok(match inp.u8()? {
        255 => f64::NEG_INFINITY,
        254 => f64::INFINITY,
        253 => f64::NAN,
        n => {
            let mut buf = [0u8; 255];
            for b in buf.iter_mut().take(n as usize) {
                *b = inp.u8()?;
            }
            let (v, used, _) = crate::types::zset::strtod(&buf[..n as usize]);
            if used == 0 {
                return Err(RdbError::corrupt(at, "score is not a number"));
            }
            v
        }
    })
}

/// Reads the body of a value of type `t` (whose type byte was at `at`). `None` for an empty
/// collection.
fn read_object<R: Read>(inp: &mut Input<R>, t: u8, at: u64, opts: &DecodeOptions) -> Result<Option<Value>> {
    let limits = &opts.limits;
    let deep = opts.deep_sanitize;
    let corrupt = |what: &'static str| RdbError::corrupt(at, what);
    let value = match t {
        TYPE_STRING => Some(inp.string(|s| match s {
            Str::Int(v) => Value::Int(v),
            Str::Bytes(b) => Value::string(b),
        })?),
        TYPE_LIST => {
            let n = inp.length()?;
            let mut list = List::with_fill(limits.list_max_listpack_size);
            for _ in 0..n {
                inp.string(|s| match s {
                    Str::Int(v) => list.push_back(&StrRef::int(v)),
                    Str::Bytes(b) => list.push_back(b),
                })?;
            }
            list.shrink_ends();
            (!list.is_empty()).then(|| Value::List(Box::new(list)))
        }
        TYPE_SET => {
            let n = inp.length()?;
            let mut arena = Arena::with_capacity(n as usize);
            for _ in 0..n {
                inp.string(|s| arena.push(s))?;
            }
            let members: Vec<&[u8]> = (0..arena.len()).map(|i| arena.get(i)).collect();
            if members.is_empty() {
                None
            } else {
                let set = Set::from_members(&members, limits.set_max_intset_entries)
                    .ok_or_else(|| corrupt("duplicate set member"))?;
                Some(Value::Set(set))
            }
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = inp.length()?;
            let mut arena = Arena::with_capacity(n as usize);
            let mut scores = Vec::with_capacity((n as usize).min(PREALLOC));
            for _ in 0..n {
                inp.string(|s| arena.push(s))?;
                scores.push(if t == TYPE_ZSET { text_double(inp)? } else { f64::from_le_bytes(inp.array()?) });
            }
            let mut items: Vec<(&[u8], f64)> = scores.iter().enumerate().map(|(i, &s)| (arena.get(i), s)).collect();
            build_zset(&mut items, &limits.zset()).map_err(corrupt)?
        }
        TYPE_HASH => {
            let n = inp.length()?;
            let mut arena = Arena::with_capacity((n as usize).saturating_mul(2));
            for _ in 0..n {
                inp.string(|s| arena.push(s))?;
                inp.string(|s| arena.push(s))?;
            }
            let pairs: Vec<(HashElem<'_>, HashElem<'_>)> = (0..arena.len() / 2)
                .map(|i| (HashElem::Str(arena.get(2 * i)), HashElem::Str(arena.get(2 * i + 1))))
                .collect();
            if pairs.is_empty() {
                None
            } else {
                let h = Hash::from_pairs(&pairs, limits.hash()).ok_or_else(|| corrupt("duplicate hash field"))?;
                Some(Value::Hash(h))
            }
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = inp.length()?;
            let mut list = List::with_fill(limits.list_max_listpack_size);
            for _ in 0..nodes {
                let container = if t == TYPE_LIST_QUICKLIST_2 { inp.length()? } else { CONTAINER_PACKED };
                match container {
                    CONTAINER_PLAIN => inp.blob(|b| {
                        list.push_back_node([ListElem::Bytes(b)], b.len() + 10);
                        Ok(())
                    })?,
                    CONTAINER_PACKED => {
                        let ziplist = t == TYPE_LIST_QUICKLIST;
                        inp.blob(|b| {
                            let packed = Packed::open(b, ziplist, deep)?;
                            if let Packed::Lp(r) = &packed {
                                // Redis's listpack entries are Ferrous's node format: copied
                                // whole when they check out, else decoded one by one.
                                if list.push_back_packed(&b[6..b.len() - 1], r.declared()) {
                                    return Ok(());
                                }
                            }
                            push_packed_node(&mut list, packed, b.len())
                        })?
                    }
                    _ => return Err(corrupt("unknown quicklist node container")),
                }
            }
            list.shrink_ends();
            (!list.is_empty()).then(|| Value::List(Box::new(list)))
        }
        TYPE_LIST_ZIPLIST => {
            let mut list = List::with_fill(limits.list_max_listpack_size);
            inp.blob(|b| {
                let mut r = ZlReader::new(b, deep)?;
                for e in r.by_ref() {
                    list.push_back_elem(list_elem(e));
                }
                r.finish()
            })?;
            list.shrink_ends();
            (!list.is_empty()).then(|| Value::List(Box::new(list)))
        }
        TYPE_SET_INTSET => {
            let max = limits.set_max_intset_entries;
            inp.blob(|b| {
                let (members, width) = super::intset::decode(b)?;
                if members.is_empty() {
                    return Ok(None);
                }
                let set =
                    Set::from_sorted_ints(&members, max, width).ok_or("intset members are not strictly ascending")?;
                Ok(Some(Value::Set(set)))
            })?
        }
        TYPE_HASH_ZIPMAP => {
            let hl = limits.hash();
            inp.blob(|b| {
                let pairs: Vec<_> =
                    super::zipmap::decode(b)?.into_iter().map(|(f, v)| (HashElem::Str(f), HashElem::Str(v))).collect();
                if pairs.is_empty() {
                    return Ok(None);
                }
                let h = Hash::from_pairs(&pairs, hl).ok_or("duplicate hash field")?;
                Ok(Some(Value::Hash(h)))
            })?
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            // Redis 7.0 keeps a loaded blob as a listpack unless it has too many entries
            // (a long value does not convert it: only writes check value lengths).
            let hl = crate::types::hash::HashLimits { max_value: usize::MAX, ..limits.hash() };
            inp.blob(|b| {
                let packed = Packed::open(b, t == TYPE_HASH_ZIPLIST, deep)?;
                if let Some(n) = packed.declared().filter(|&n| n / 2 <= hl.max_entries && b.len() < 1 << 30) {
                    // Within the limits (then the sum of the lengths is too): built in one
                    // pass, straight into the listpack (see `Hash::from_packed`).
                    let h = with_elems!(packed, |elems| Hash::from_packed(elems.map(hash_elem), n / 2, b.len()))??;
                    return Ok(h.map(Value::Hash));
                }
                let elems = packed.collect()?;
                if elems.len() % 2 != 0 {
                    return Err("hash blob with an odd number of elements".into());
                }
                if elems.is_empty() {
                    return Ok(None);
                }
                let pairs: Vec<_> = elems.chunks_exact(2).map(|p| (hash_elem(p[0]), hash_elem(p[1]))).collect();
                let h = Hash::from_pairs(&pairs, hl).ok_or("duplicate hash field")?;
                Ok(Some(Value::Hash(h)))
            })?
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => inp.blob(|b| {
            // As for hashes: only the entry count can convert a loaded blob.
            let zl = crate::types::zset::ZSetLimits { max_listpack_value: usize::MAX, ..limits.zset() };
            let ziplist = t == TYPE_ZSET_ZIPLIST;
            let packed = Packed::open(b, ziplist, deep)?;
            if let Some(n) = packed.declared().filter(|&n| n / 2 <= zl.max_listpack_entries && b.len() < 1 << 30) {
                // Within the limits, and (as Redis writes them) in order: built in one pass.
                if n % 2 != 0 {
                    return Err("sorted set blob with an odd number of elements".into());
                }
                let z = with_elems!(packed, |elems| {
                    let mut build = || -> std::result::Result<Option<ZSet>, &'static str> {
                        let mut z = ZSetBuilder::new(b.len() + b.len() / 4, n / 2);
                        while let (Some(m), Some(score)) = (elems.next(), elems.next()) {
                            let mut digits = [0u8; 20];
                            let member = match m {
                                LpElem::Str(s) => s,
                                LpElem::Int(v) => {
                                    let at = ferrous_resp::write::int_digits(v, &mut digits);
                                    &digits[at..]
                                }
                            };
                            if !z.push(member, packed_score(score)?)? {
                                return Ok(None); // out of order
                            }
                        }
                        z.finish().map(Some)
                    };
                    build()
                })??;
                if let Some(z) = z {
                    return Ok((!z.is_empty()).then(|| Value::ZSet(z)));
                }
            }
            let elems = Packed::open(b, ziplist, deep)?.collect()?;
            if elems.len() % 2 != 0 {
                return Err("sorted set blob with an odd number of elements".into());
            }
            let members: Vec<StrRef<'_>> = elems.iter().step_by(2).map(|&e| lp_bytes(e)).collect();
            let mut items = Vec::with_capacity(members.len());
            for (m, pair) in members.iter().zip(elems.chunks_exact(2)) {
                items.push((&**m, packed_score(pair[1])?));
            }
            Ok(build_zset(&mut items, &zl)?)
        })?,
        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => return Err(RdbError::UnsupportedType { offset: at, type_id: t }),
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            Some(Value::Stream(Box::new(read_stream(inp, t == TYPE_STREAM_LISTPACKS_2, at)?)))
        }
        _ => return Err(RdbError::UnknownOpcode { offset: at, opcode: t }),
    };
    Ok(value)
}

/// A stream (`RDB_TYPE_STREAM_LISTPACKS` 15 or `_2` 19, as `rdbLoadObject` reads them):
/// nodes (16-byte master ID, listpack), length, last ID, [first ID, max deleted ID,
/// entries added], then the groups with their PELs and consumers. Every node's structure is
/// checked, and the PELs must agree, so that no later command meets an inconsistency.
fn read_stream<R: Read>(inp: &mut Input<R>, v2: bool, at: u64) -> Result<crate::types::stream::Stream> {
    use crate::types::stream::{Group, Nack, Stream, StreamId, ENTRIES_READ_INVALID};
    let corrupt = |what: &'static str| RdbError::corrupt(at, what);
    let mut s = Stream::new();
    let nodes = inp.length()?;
    for _ in 0..nodes {
        let key = inp.string_vec()?;
        let master = StreamId::from_be_bytes(&key).ok_or_else(|| corrupt("stream node key is not a stream ID"))?;
        let lp = inp.string_vec()?;
        s.push_loaded_node(master, lp).map_err(corrupt)?;
    }
    let length = inp.length()?;
    if length != s.len() {
        return Err(corrupt("stream length does not match its nodes"));
    }
    s.last_id = StreamId::new(inp.length()?, inp.length()?);
    if s.last_node_entry().is_some_and(|l| l > s.last_id) {
        return Err(corrupt("stream last ID below its last entry"));
    }
    if v2 {
        s.first_id = StreamId::new(inp.length()?, inp.length()?);
        s.max_deleted_id = StreamId::new(inp.length()?, inp.length()?);
        s.entries_added = inp.length()?;
    } else {
        s.entries_added = s.len();
        s.first_id = s.edge_id(true).unwrap_or(StreamId::MAX);
    }
    let groups = inp.length()?;
    for _ in 0..groups {
        let name = inp.string_vec()?;
        let last = StreamId::new(inp.length()?, inp.length()?);
        let entries_read = if v2 { inp.length()? as i64 } else { s.estimate_distance(last) };
        if s.group(&name).is_some() {
            return Err(corrupt("duplicated consumer group name"));
        }
        let mut g = Group::new(last, if entries_read < 0 { ENTRIES_READ_INVALID } else { entries_read });
        let pel = inp.length()?;
        let mut times = std::collections::BTreeMap::new();
        for _ in 0..pel {
            let id = StreamId::from_be_bytes(&inp.array::<16>()?).ok_or_else(|| corrupt("PEL ID"))?;
            let time = i64::from_le_bytes(inp.array::<8>()?);
            let count = inp.length()?;
            if times.insert(id, (time, count)).is_some() {
                return Err(corrupt("duplicated global PEL entry in a stream consumer group"));
            }
        }
        let consumers = inp.length()?;
        for _ in 0..consumers {
            let cname = inp.string_vec()?;
            let seen = i64::from_le_bytes(inp.array::<8>()?);
            let (c, created) = g.consumer_or_create(&cname, seen);
            if !created {
                return Err(corrupt("duplicate stream consumer"));
            }
            let n = inp.length()?;
            for _ in 0..n {
                let id = StreamId::from_be_bytes(&inp.array::<16>()?).ok_or_else(|| corrupt("PEL ID"))?;
                let Some(&(time, count)) = times.get(&id) else {
                    return Err(corrupt("consumer PEL entry not found in the group's PEL"));
                };
                if g.pel.contains_key(&id) {
                    return Err(corrupt("duplicated consumer PEL entry"));
                }
                g.pel.insert(id, Nack { delivery_time: time, delivery_count: count, consumer: c.clone() });
                if let Some(cc) = g.consumers.get_mut(&*c) {
                    cc.pel.insert(id);
                }
            }
        }
        if g.pel.len() != times.len() {
            return Err(corrupt("stream group PEL entry without a consumer"));
        }
        s.insert_group(&name, g);
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Files and payloads
// ---------------------------------------------------------------------------------------

/// Reads an RDB file item by item. Buffered internally (pass a plain `File`); tracks the
/// byte offset for error messages and progress reports.
pub struct Reader<R: Read> {
    inp: Input<R>,
    opts: DecodeOptions,
    version: u16,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("version", &self.version).field("offset", &self.offset()).finish()
    }
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header (`REDIS` and a version from 1 to [`RDB_VERSION`]).
    pub fn new(r: R, opts: DecodeOptions) -> Result<Reader<R>> {
        let mut inp = Input::new(r, BUF_SIZE, opts.verify_checksum, true);
        let magic: [u8; 9] = inp.array().map_err(|e| match e {
            RdbError::Truncated { .. } => RdbError::BadMagic,
            e => e,
        })?;
        if &magic[..5] != b"REDIS" || !magic[5..].iter().all(u8::is_ascii_digit) {
            return Err(RdbError::BadMagic);
        }
        let version = magic[5..].iter().fold(0u16, |v, d| v * 10 + (d - b'0') as u16);
        if version == 0 || version > RDB_VERSION {
            return Err(RdbError::UnsupportedVersion(version));
        }
        Ok(Reader { inp, opts, version, done: false })
    }

    /// The file's RDB version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.inp.offset()
    }

    /// The next item. Errors name the offset of the problem; after an error the reader is
    /// not usable further (its position is somewhere inside the bad item).
    pub fn next_item(&mut self) -> Result<Item> {
        if self.done {
            return Ok(Item::Eof);
        }
        let (mut expire_ms, mut idle, mut freq) = (None, None, None);
        loop {
            let at = self.inp.offset();
            let t = self.inp.u8()?;
            match t {
                OP_EXPIRETIME_MS => expire_ms = Some(i64::from_le_bytes(self.inp.array()?)),
                OP_EXPIRETIME => expire_ms = Some(i32::from_le_bytes(self.inp.array()?) as i64 * 1000),
                OP_IDLE => idle = Some(self.inp.length()?),
                OP_FREQ => freq = Some(self.inp.u8()?),
                OP_SELECTDB => return Ok(Item::SelectDb(self.inp.length()?)),
                OP_RESIZEDB => {
                    let db_size = self.inp.length()?;
                    let expires_size = self.inp.length()?;
                    return Ok(Item::ResizeDb { db_size, expires_size });
                }
                OP_AUX => {
                    let key = self.inp.string_vec()?;
                    let value = self.inp.string_vec()?;
                    return Ok(Item::Aux { key, value });
                }
                OP_FUNCTION2 => return Ok(Item::Function(self.inp.string_vec()?)),
                OP_MODULE_AUX | OP_FUNCTION_PRE_GA => {
                    return Err(RdbError::UnsupportedOpcode { offset: at, opcode: t })
                }
                OP_EOF => {
                    self.done = true;
                    if self.version >= 5 {
                        let computed = self.inp.checksum();
                        let expected = u64::from_le_bytes(self.inp.array()?);
                        if let Some(computed) = computed {
                            if expected != 0 && expected != computed {
                                return Err(RdbError::Checksum { expected, computed });
                            }
                        }
                    }
                    return Ok(Item::Eof);
                }
                TYPE_STRING..=TYPE_MODULE_2 | TYPE_HASH_ZIPMAP..=TYPE_STREAM_LISTPACKS_2 => {
                    let key = self.inp.string_vec()?;
                    match read_object(&mut self.inp, t, at, &self.opts)? {
                        Some(value) => return Ok(Item::Entry(Entry { key, value, expire_ms, idle, freq })),
                        // An empty collection (old files): skipped, as Redis skips it.
                        None => (expire_ms, idle, freq) = (None, None, None),
                    }
                }
                _ => return Err(RdbError::UnknownOpcode { offset: at, opcode: t }),
            }
        }
    }
}

/// Decodes a DUMP payload (RESTORE): checks the footer's RDB version (at most
/// [`RDB_VERSION`]) and, with [`DecodeOptions::verify_checksum`], its CRC-64; then decodes
/// the value. Offsets in errors count from the payload's start. Bytes between the value and
/// the footer are ignored, as Redis ignores them; an empty collection is an error.
pub fn restore_payload(payload: &[u8], opts: &DecodeOptions) -> Result<Value> {
    if payload.len() < 10 {
        return Err(RdbError::corrupt(0, "DUMP payload shorter than its 10-byte footer"));
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(RdbError::UnsupportedVersion(version));
    }
    if opts.verify_checksum {
        let expected = u64::from_le_bytes([
            footer[2], footer[3], footer[4], footer[5], footer[6], footer[7], footer[8], footer[9],
        ]);
        let computed = Crc64::checksum(&payload[..payload.len() - 8]);
        if expected != computed {
            return Err(RdbError::Checksum { expected, computed });
        }
    }
    let mut inp = Input::new(body, body.len(), false, false);
    let t = inp.u8()?;
    read_object(&mut inp, t, 0, opts)?.ok_or_else(|| RdbError::corrupt(0, "empty collection"))
}

#[cfg(test)]
mod tests {
    use super::super::write::{write_len, write_string};
    use super::super::ziplist::tests::encode as ziplist;
    use super::super::zipmap::tests::encode as zipmap;
    use super::*;

    /// A file of `version` holding `body`, with its EOF (and checksum from version 5).
    fn file(version: u16, body: &[u8]) -> Vec<u8> {
        let mut f = format!("REDIS{version:04}").into_bytes();
        f.extend_from_slice(body);
        f.push(OP_EOF);
        if version >= 5 {
            let crc = Crc64::checksum(&f);
            f.extend_from_slice(&crc.to_le_bytes());
        }
        f
    }

    fn s(out: &mut Vec<u8>, b: &[u8]) {
        write_string(out, b, false);
    }

    fn entries(f: &[u8], opts: DecodeOptions) -> Result<Vec<Entry>> {
        let mut r = Reader::new(f, opts)?;
        let mut v = Vec::new();
        loop {
            match r.next_item()? {
                Item::Entry(e) => v.push(e),
                Item::Eof => return Ok(v),
                _ => {}
            }
        }
    }

    fn strings(v: &Value) -> Vec<Vec<u8>> {
        match v {
            Value::List(l) => l.iter().map(|e| e.to_vec()).collect(),
            Value::Set(s) => {
                let mut m: Vec<_> = s.iter().map(|m| m.to_vec()).collect();
                m.sort();
                m
            }
            Value::Hash(h) => {
                let mut p: Vec<_> = h.iter().flat_map(|(f, v)| [f.to_vec(), v.to_vec()]).collect();
                p.sort();
                p
            }
            Value::ZSet(z) => {
                z.iter().map(|(m, s)| format!("{}={s}", String::from_utf8_lossy(m)).into_bytes()).collect()
            }
            v => vec![v.as_str().unwrap().to_vec()],
        }
    }

    fn texts(v: &Value) -> Vec<String> {
        strings(v).into_iter().map(|b| String::from_utf8_lossy(&b).into_owned()).collect()
    }

    #[test]
    fn old_plain_types() {
        let mut b = Vec::new();
        // LIST (1) with an integer-encoded element.
        b.push(TYPE_LIST);
        s(&mut b, b"l");
        write_len(&mut b, 3);
        s(&mut b, b"a");
        s(&mut b, b"5");
        s(&mut b, b"xyz");
        // SET (2): integers -> intset; strings -> hashtable.
        b.push(TYPE_SET);
        s(&mut b, b"si");
        write_len(&mut b, 3);
        for m in [&b"3"[..], b"-1", b"2"] {
            s(&mut b, m);
        }
        b.push(TYPE_SET);
        s(&mut b, b"ss");
        write_len(&mut b, 2);
        s(&mut b, b"x");
        s(&mut b, b"1");
        // ZSET (3): text scores, with the special lengths for infinities.
        b.push(TYPE_ZSET);
        s(&mut b, b"z");
        write_len(&mut b, 3);
        s(&mut b, b"a");
        b.extend_from_slice(&[3, b'1', b'.', b'5']);
        s(&mut b, b"b");
        b.push(254);
        s(&mut b, b"c");
        b.push(255);
        // HASH (4).
        b.push(TYPE_HASH);
        s(&mut b, b"h");
        write_len(&mut b, 2);
        for x in [&b"f"[..], b"v", b"n", b"12"] {
            s(&mut b, x);
        }
        // ZSET_2 (5), written from the highest score down.
        b.push(TYPE_ZSET_2);
        s(&mut b, b"z2");
        write_len(&mut b, 2);
        s(&mut b, b"hi");
        b.extend_from_slice(&2.5f64.to_le_bytes());
        s(&mut b, b"lo");
        b.extend_from_slice(&(-1.0f64).to_le_bytes());
        let got = entries(&file(3, &b), DecodeOptions::default()).unwrap();
        let summary: Vec<_> = got
            .iter()
            .map(|e| (String::from_utf8_lossy(&e.key).into_owned(), e.value.encoding(false), texts(&e.value)))
            .collect();
        assert_eq!(summary[0], ("l".into(), "quicklist", vec!["a".into(), "5".into(), "xyz".into()]));
        assert_eq!(summary[1], ("si".into(), "intset", vec!["-1".into(), "2".into(), "3".into()]));
        assert_eq!(summary[2], ("ss".into(), "hashtable", vec!["1".into(), "x".into()]));
        assert_eq!(summary[3], ("z".into(), "listpack", vec!["c=-inf".into(), "a=1.5".into(), "b=inf".into()]));
        assert_eq!(summary[4], ("h".into(), "listpack", vec!["12".into(), "f".into(), "n".into(), "v".into()]));
        assert_eq!(summary[5], ("z2".into(), "listpack", vec!["lo=-1".into(), "hi=2.5".into()]));
    }

    #[test]
    fn old_blob_types() {
        let mut b = Vec::new();
        let zl = |items: &[LpElem<'_>]| ziplist(items);
        b.push(TYPE_HASH_ZIPMAP);
        s(&mut b, b"zm");
        s(&mut b, &zipmap(&[(b"name", b"foo"), (b"n", b"12")], 2));
        b.push(TYPE_LIST_ZIPLIST);
        s(&mut b, b"lz");
        s(&mut b, &zl(&[LpElem::Str(b"a"), LpElem::Int(-7), LpElem::Str(b"12")]));
        b.push(TYPE_SET_INTSET);
        s(&mut b, b"is");
        let mut is = Vec::new();
        super::super::intset::encode(3, |i| [-5i64, 0, 70000][i], 1, &mut is);
        s(&mut b, &is);
        b.push(TYPE_ZSET_ZIPLIST);
        s(&mut b, b"zz");
        s(&mut b, &zl(&[LpElem::Str(b"a"), LpElem::Int(1), LpElem::Str(b"b"), LpElem::Str(b"2.5")]));
        b.push(TYPE_HASH_ZIPLIST);
        s(&mut b, b"hz");
        s(&mut b, &zl(&[LpElem::Str(b"f"), LpElem::Int(1000000), LpElem::Int(3), LpElem::Str(b"x")]));
        b.push(TYPE_LIST_QUICKLIST);
        s(&mut b, b"ql");
        write_len(&mut b, 3);
        s(&mut b, &zl(&[LpElem::Str(b"a"), LpElem::Str(b"b")]));
        s(&mut b, &zl(&[])); // empty nodes are skipped, as Redis skips them
        s(&mut b, &zl(&[LpElem::Int(3)]));
        // Timing opcodes before a key.
        b.push(OP_EXPIRETIME);
        b.extend_from_slice(&1_700_000_000i32.to_le_bytes());
        b.push(OP_IDLE);
        write_len(&mut b, 99);
        b.push(OP_FREQ);
        b.push(7);
        b.push(TYPE_STRING);
        s(&mut b, b"timed");
        s(&mut b, b"v");
        for deep in [false, true] {
            let got = entries(&file(9, &b), DecodeOptions { deep_sanitize: deep, ..Default::default() }).unwrap();
            let summary: Vec<_> = got.iter().map(|e| (e.value.encoding(false), texts(&e.value))).collect();
            assert_eq!(summary[0], ("listpack", vec!["12".into(), "foo".into(), "n".into(), "name".into()]));
            assert_eq!(summary[1], ("quicklist", vec!["a".into(), "-7".into(), "12".into()]));
            assert_eq!(summary[2], ("intset", vec!["-5".into(), "0".into(), "70000".into()]));
            assert_eq!(summary[3], ("listpack", vec!["a=1".into(), "b=2.5".into()]));
            assert_eq!(summary[4], ("listpack", vec!["1000000".into(), "3".into(), "f".into(), "x".into()]));
            assert_eq!(summary[5], ("quicklist", vec!["a".into(), "b".into(), "3".into()]));
            assert_eq!(node_sizes(&got[5].value), [2, 1]);
            let t = &got[6];
            assert_eq!((t.expire_ms, t.idle, t.freq), (Some(1_700_000_000_000), Some(99), Some(7)));
        }
        // The limits pick the encodings: a small intset limit makes a hash table.
        let limits = ValueLimits { set_max_intset_entries: 2, hash_max_listpack_value: 3, ..Default::default() };
        let got = entries(&file(9, &b), DecodeOptions { limits, ..Default::default() }).unwrap();
        assert_eq!(got[0].value.encoding(false), "hashtable");
        assert_eq!(got[2].value.encoding(false), "hashtable");
        // As in Redis 7.0, a long value converts a zipmap but not a ziplist hash.
        assert_eq!(got[4].value.encoding(false), "listpack");
        assert_eq!(texts(&got[2].value), ["-5", "0", "70000"]);
    }

    fn node_sizes(v: &Value) -> Vec<usize> {
        match v {
            Value::List(l) => l.nodes().map(|n| n.len()).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn quicklist_nodes_plain_and_empty() {
        let mut b = Vec::new();
        b.push(TYPE_LIST_QUICKLIST_2);
        s(&mut b, b"l");
        write_len(&mut b, 3);
        write_len(&mut b, CONTAINER_PLAIN);
        s(&mut b, b"a plain node");
        write_len(&mut b, CONTAINER_PACKED);
        let mut lp = Vec::new();
        super::super::listpack::LpWriter::new(&mut lp).finish();
        s(&mut b, &lp);
        write_len(&mut b, CONTAINER_PACKED);
        let mut lp = Vec::new();
        let mut w = super::super::listpack::LpWriter::new(&mut lp);
        for x in [&b"1"[..], b"2", b"3", b"4", b"5"] {
            w.auto(x);
        }
        w.finish();
        s(&mut b, &lp);
        // Nodes are kept as they are, even over the fill (as redis-server 7.0.15 loads them).
        let limits = ValueLimits { list_max_listpack_size: 2, ..Default::default() };
        let got = entries(&file(10, &b), DecodeOptions { limits, ..Default::default() }).unwrap();
        assert_eq!(texts(&got[0].value), ["a plain node", "1", "2", "3", "4", "5"]);
        assert_eq!(node_sizes(&got[0].value), [1, 5]);
        if let Value::List(l) = &got[0].value {
            l.check_invariants().unwrap();
        }
        // An unknown container is corrupt.
        let mut bad = b.clone();
        let at = bad.iter().position(|&x| x == CONTAINER_PLAIN as u8).unwrap();
        bad[at] = 3;
        assert!(matches!(entries(&file(10, &bad), DecodeOptions::default()), Err(RdbError::Corrupt { .. })));
    }

    #[test]
    fn empty_collections_are_skipped_and_duplicates_rejected() {
        let mut b = Vec::new();
        b.push(OP_EXPIRETIME_MS);
        b.extend_from_slice(&5i64.to_le_bytes());
        b.push(TYPE_SET);
        s(&mut b, b"empty");
        write_len(&mut b, 0);
        b.push(TYPE_STRING);
        s(&mut b, b"k");
        s(&mut b, b"v");
        let got = entries(&file(10, &b), DecodeOptions::default()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].key.as_slice(), got[0].expire_ms), (&b"k"[..], None));

        let dup = |t: u8, body: &dyn Fn(&mut Vec<u8>)| {
            let mut b = vec![t];
            s(&mut b, b"d");
            body(&mut b);
            entries(&file(10, &b), DecodeOptions::default())
        };
        let e = dup(TYPE_SET, &|b| {
            write_len(b, 2);
            s(b, b"x");
            s(b, b"x");
        });
        assert!(e.unwrap_err().to_string().contains("duplicate set member"));
        let e = dup(TYPE_HASH, &|b| {
            write_len(b, 2);
            for x in [&b"f"[..], b"1", b"f", b"2"] {
                s(b, x);
            }
        });
        assert!(e.unwrap_err().to_string().contains("duplicate hash field"));
        let e = dup(TYPE_ZSET_2, &|b| {
            write_len(b, 2);
            for sc in [1.0f64, 2.0] {
                s(b, b"m");
                b.extend_from_slice(&sc.to_le_bytes());
            }
        });
        assert!(e.unwrap_err().to_string().contains("duplicate sorted set member"));
        let e = dup(TYPE_ZSET, &|b| {
            write_len(b, 1);
            s(b, b"m");
            b.push(253);
        });
        assert!(e.unwrap_err().to_string().contains("NaN"));
        let e = dup(TYPE_SET_INTSET, &|b| s(b, &[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, 0]));
        assert!(e.unwrap_err().to_string().contains("ascending"));
        let e = dup(TYPE_HASH_ZIPLIST, &|b| s(b, &ziplist(&[LpElem::Str(b"f"), LpElem::Int(1), LpElem::Str(b"f")])));
        assert!(e.unwrap_err().to_string().contains("odd number"));

        // RESTORE of an empty collection is an error.
        let mut p = vec![TYPE_SET, 0];
        p.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = Crc64::checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(restore_payload(&p, &DecodeOptions::default()), Err(RdbError::Corrupt { .. })));
    }

    /// Hash and sorted-set listpacks within the limits are built in one pass; the result
    /// is what the general path (`Hash::from_pairs`, `ZSet::from_sorted`) builds, and the
    /// same problems are refused.
    #[test]
    fn one_pass_listpacks() {
        use super::super::listpack::LpWriter;
        let blob = |t: u8, items: &[&[u8]]| {
            let mut lp = Vec::new();
            let mut w = LpWriter::new(&mut lp);
            for x in items {
                w.auto(x);
            }
            w.finish();
            let mut b = vec![t];
            s(&mut b, b"k");
            s(&mut b, &lp);
            entries(&file(10, &b), DecodeOptions::default())
        };
        let long = vec![b'v'; 300];
        let h: &[&[u8]] = &[b"f", b"1", b"12", b"x", b"-5", &long, b"", b"e"];
        let got = blob(TYPE_HASH_LISTPACK, h).unwrap();
        let pairs: Vec<_> = h.chunks(2).map(|p| (HashElem::Str(p[0]), HashElem::Str(p[1]))).collect();
        let hl = crate::types::hash::HashLimits { max_value: usize::MAX, ..Default::default() };
        assert_eq!(got[0].value, Value::Hash(Hash::from_pairs(&pairs, hl).unwrap()));
        let e = blob(TYPE_HASH_LISTPACK, &[b"12", b"a", b"x", b"b", b"12", b"c"]).unwrap_err();
        assert!(e.to_string().contains("duplicate hash field"), "{e}");

        let z: &[&[u8]] = &[b"a", b"-1.5", b"7", b"-0", b"b", b"0", b"n", b"0.30000000000000004", b"m", b"12.25"];
        let got = blob(TYPE_ZSET_LISTPACK, z).unwrap();
        let Value::ZSet(zs) = &got[0].value else { panic!() };
        let members: Vec<(Vec<u8>, u64)> = zs.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect();
        let want = [("a", -1.5), ("7", 0.0), ("b", 0.0), ("n", 0.30000000000000004), ("m", 12.25)];
        assert_eq!(members, want.map(|(m, s)| (m.as_bytes().to_vec(), f64::to_bits(s))));
        assert_eq!(zs.encoding(), "listpack");
        // Out of order: sorted by the general path.
        let got = blob(TYPE_ZSET_LISTPACK, &[b"b", b"2", b"a", b"1"]).unwrap();
        let Value::ZSet(zs) = &got[0].value else { panic!() };
        assert_eq!(zs.iter().map(|(m, _)| m.to_vec()).collect::<Vec<_>>(), [b"a".to_vec(), b"b".to_vec()]);
        for (items, what) in [
            (&[&b"a"[..], b"1", b"a", b"2"][..], "duplicate sorted set member"),
            (&[b"a", b"1", b"a", b"1"], "duplicate sorted set member"),
            (&[b"a", b"nan"], "NaN"),
            (&[b"a", b"x1"], "not a number"),
            (&[b"a", b"1", b"b"], "odd number"),
        ] {
            let e = blob(TYPE_ZSET_LISTPACK, items).unwrap_err();
            assert!(e.to_string().contains(what), "{e} (wanted {what})");
        }
    }

    /// Listpack nodes are copied whole when their entries are Ferrous's own, and decoded
    /// otherwise, with the same list either way; bad entries never panic.
    #[test]
    fn list_nodes_copied_when_canonical() {
        use super::super::listpack::LpWriter;
        use rand::{Rng, SeedableRng};
        let items: Vec<Vec<u8>> =
            ["a", "", "0", "127", "128", "-1", "-4096", "4096", "-40000", "9000000", "-2147483649"]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .chain([vec![b'x'; 63], vec![b'y'; 64], vec![b'z'; 4095], vec![b'w'; 4096], b"007".to_vec()])
                .collect();
        let mut lp = Vec::new();
        let mut w = LpWriter::new(&mut lp);
        for x in &items {
            w.auto(x);
        }
        w.finish();
        let entries = &lp[6..lp.len() - 1];
        let mut copied = List::new();
        assert!(copied.push_back_packed(entries, Some(items.len())));
        assert!(!List::new().push_back_packed(entries, Some(items.len() + 1)));
        let mut decoded = List::new();
        decoded.push_back_node(items.iter().map(|x| ListElem::Bytes(x)), 0);
        assert_eq!(copied, decoded);
        assert_eq!(copied.node_listpack_entries(0), decoded.node_listpack_entries(0));
        copied.check_invariants().unwrap();
        // Not Ferrous's form: a canonical integer as a string, a wide small integer, a
        // wrong back-length, a cut entry, an unknown header.
        for bad in [&b"\x8212\x03"[..], b"\xf1\x05\x00\x03", b"\x81a\x05", b"\x85ab", b"\xf5\x01"] {
            assert!(!List::new().push_back_packed(bad, None), "{bad:?}");
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        for _ in 0..20000 {
            let mut junk = entries[..rng.gen_range(0..entries.len().min(300))].to_vec();
            for _ in 0..rng.gen_range(0..4) {
                if !junk.is_empty() {
                    let i = rng.gen_range(0..junk.len());
                    junk[i] = rng.gen();
                }
            }
            let mut l = List::new();
            if l.push_back_packed(&junk, None) {
                l.check_invariants().unwrap();
            }
        }
    }

    #[test]
    fn simple_decimals_read_as_strtod_reads_them() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(12);
        let mut texts: Vec<String> = ["0", "-0", "12.25", "1.", ".5", "-.5", "007.50", "9007199254740991", "0.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for _ in 0..20000 {
            let bits = rng.gen_range(1..54);
            let w: u64 = rng.gen_range(0..1u64 << bits);
            let digits = w.to_string();
            let at = rng.gen_range(0..=digits.len());
            let sign = if rng.gen() { "-" } else { "" };
            texts.push(format!("{sign}{}.{}", &digits[..at], &digits[at..]));
            texts.push(crate::util::fmt_double(rng.gen::<f64>() * 1000.0));
        }
        for t in &texts {
            let (want, used, _) = crate::types::zset::strtod(t.as_bytes());
            if let Some(got) = simple_decimal(t.as_bytes()) {
                assert_eq!(used, t.len(), "{t}");
                assert_eq!(got.to_bits(), want.to_bits(), "{t}");
            }
        }
        for t in ["", "-", ".", "1e5", "1.2.3", "inf", "12345678901234567890", "0x10", " 1"] {
            assert_eq!(simple_decimal(t.as_bytes()), None, "{t}");
        }
    }

    #[test]
    fn lzf_strings_and_bounds() {
        // A compressed string (from redis-server's DUMP of 116 'a').
        let mut b = vec![TYPE_STRING];
        s(&mut b, b"k");
        b.extend_from_slice(&hex::decode("c3094074016161e06700016161").unwrap());
        let got = entries(&file(10, &b), DecodeOptions::default()).unwrap();
        assert_eq!(got[0].value, Value::string(&[b'a'; 116]));
        // A declared length the compressed bytes cannot produce is refused before any
        // allocation of that size.
        let mut b = vec![TYPE_STRING];
        s(&mut b, b"k");
        b.push(0xC3);
        write_len(&mut b, 2);
        write_len(&mut b, u32::MAX as u64);
        b.extend_from_slice(&[0, b'a']);
        let err = entries(&file(10, &b), DecodeOptions::default()).unwrap_err();
        assert!(matches!(err, RdbError::Corrupt { offset: 12, .. }), "{err}");
        // A huge plain length just runs out of input.
        let mut b = vec![TYPE_STRING];
        s(&mut b, b"k");
        write_len(&mut b, u64::MAX / 2);
        assert!(matches!(entries(&file(10, &b), DecodeOptions::default()), Err(RdbError::Truncated { .. })));
    }
}
