//! SORT and SORT_RO: sorting the elements of a list, set or sorted set, by their own value
//! or by keys they name (`BY`), fetching related keys (`GET`), storing the result as a list
//! (`STORE`).
//!
//! Redis 7.0's semantics are followed step by step (`sort.c`), because most of them are
//! observable:
//!
//! - Options are parsed first (`ERR syntax error`, LIMIT integers), then the key is looked
//!   up (WRONGTYPE unless list, set or sorted set; a missing key sorts as an empty list).
//! - `BY` with a pattern that has no `*` (conventionally `nosort`) skips sorting: lists and
//!   sorted sets keep their order (reversed by DESC, LIMIT applied while reading); a set is
//!   still sorted ALPHA when the result is stored or the command runs in a script.
//! - A listpack sorted set is converted to a skiplist, as Redis does (`OBJECT ENCODING`).
//! - Numeric sorting parses each score as C's `strtod` does (leading spaces, hex floats,
//!   `inf`; an empty string is 0) and fails on anything left over, NaN or a range error.
//!   Equal scores are ordered by comparing the elements' bytes.
//! - ALPHA compares with `strcoll` in the C locale (bytes up to the first NUL) unless the
//!   result is stored, which compares all the bytes. Missing `BY` keys sort first.
//! - The sort is stable (glibc's `qsort` is a merge sort), except with `BY` and a `LIMIT`
//!   that excludes elements, where Redis's partial quicksort (`pqsort`, Bentley-McIlroy)
//!   runs; it is reproduced here because it decides the order of elements that compare
//!   equal.
//! - Patterns: `#` is the element itself; the first `*` is replaced by the element;
//!   `key->field` reads a hash field. Keys of other types read as missing.
//! - STORE replaces the destination (any type, TTL dropped) with a list, or deletes it when
//!   the result is empty, and replies the number of stored items.
//!
//! `BY`/`GET` read arbitrary keys, so a SORT that uses them holds every shard of the
//! database for its duration (Redis is single-threaded: no other command observes a
//! half-done SORT there either); other SORTs lock only their source and destination.
use super::{Ctx, Handler};
use crate::access::Access;
use crate::db::Database;
use crate::dict::Node;
use crate::error::{Error, Result};
use crate::keyspace::{KeyHash, Lookup, Shard};
use crate::notify;
use crate::types::list::List;
use crate::types::zset::{Span, ZSet, ZSetLimits};
use crate::util::parse_int;
use crate::value::Value;
use std::cmp::Ordering;
use std::sync::atomic::Ordering::Relaxed;

/// Handlers of this family.
pub const COMMANDS: &[(&str, Handler)] = &[("sort", sort_cmd), ("sort_ro", sort_ro_cmd)];

/// Options of [`Database::sort`] (SORT's `BY`, `LIMIT`, `GET`, `ASC|DESC`, `ALPHA`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortOptions {
    /// `BY pattern`: sort by the values of the keys (or hash fields, `key->field`) the
    /// pattern names with `*` replaced by each element. A pattern without `*` (`nosort`)
    /// skips sorting.
    pub by: Option<Vec<u8>>,
    /// `LIMIT offset count` (a negative count means "all").
    pub limit: Option<(i64, i64)>,
    /// `GET pattern` for each pattern, in order: `#` is the element itself.
    pub get: Vec<Vec<u8>>,
    /// `DESC`.
    pub desc: bool,
    /// `ALPHA`: compare as strings instead of numbers.
    pub alpha: bool,
}

/// What SORT produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortOutcome {
    /// The sorted elements, or with `GET`, one item per pattern and element (`None` for a
    /// missing key or field).
    Items(Vec<Option<Vec<u8>>>),
    /// With `STORE`: the number of items stored.
    Stored(usize),
}

/// The parsed command: [`SortOptions`] plus the parts Redis tracks separately.
struct Plan<'a> {
    opts: &'a SortOptions,
    /// Set by any `BY` pattern without `*`, even if a later `BY` has one (as in Redis).
    dontsort: bool,
    store: Option<&'a [u8]>,
    /// Running inside a script (sets sorted with `nosort` are sorted anyway).
    in_script: bool,
}

/// The bytes C string functions see: everything before the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

fn has_star(pattern: &[u8]) -> bool {
    c_str(pattern).contains(&b'*')
}

/// Pattern `#`: the element itself.
fn is_self(pattern: &[u8]) -> bool {
    pattern.first() == Some(&b'#') && !matches!(pattern.get(1), Some(&c) if c != 0)
}

/// Where a pattern points for one element: the key, and a hash field for `key->field`.
/// `None` when the pattern has no `*`.
fn substitute(pattern: &[u8], element: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let c = c_str(pattern);
    let star = c.iter().position(|&b| b == b'*')?;
    // `->` after the `*`, followed by a non-empty field name (in C-string terms).
    let arrow = c[star + 1..].windows(2).position(|w| w == b"->").map(|i| star + 1 + i);
    let field = arrow.filter(|&f| f + 2 < c.len()).map(|f| pattern[f + 2..].to_vec());
    let postfix_end = match &field {
        Some(f) => pattern.len() - f.len() - 2,
        None => pattern.len(),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    Some((key, field))
}

/// Reads the value of a key (`None` when missing) through the locks the caller holds:
/// calls the inner function on the value when the key exists.
type KeyReader<'r> = dyn FnMut(&[u8], &mut dyn FnMut(&Value) -> Option<Vec<u8>>) -> Option<Vec<u8>> + 'r;

/// Redis's `lookupKeyByPattern`: the string at the key (or the hash field) `pattern` names
/// for `element`; `lookup` reads a key's value.
fn lookup_by_pattern(pattern: &[u8], element: &[u8], lookup: &mut KeyReader<'_>) -> Option<Vec<u8>> {
    if is_self(pattern) {
        return Some(element.to_vec());
    }
    let (key, field) = substitute(pattern, element)?;
    lookup(&key, &mut |value| match (&field, value) {
        (Some(f), Value::Hash(h)) => h.get(f).map(|v| v.to_vec()),
        (None, v) => v.as_str().map(|s| s.to_vec()),
        _ => None,
    })
}

/// C's `strtod` as SORT uses it: the value if the whole string (up to a NUL) is one number
/// without a range error and not NaN.
pub fn parse_score(b: &[u8]) -> Option<f64> {
    let s = c_str(b);
    if s.is_empty() {
        // Nothing converted and the end pointer is at the terminator: Redis accepts 0.
        return Some(0.0);
    }
    let mut i = s.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let negative = s[i] == b'-';
    if matches!(s[i], b'+' | b'-') {
        i += 1;
    }
    let rest = &s[i..];
    let lower: Vec<u8> = rest.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let magnitude = if lower.starts_with(b"inf") {
        let len = if lower.starts_with(b"infinity") { 8 } else { 3 };
        (len == rest.len()).then_some(f64::INFINITY)?
    } else if lower.starts_with(b"0x") {
        parse_hex(&rest[2..])?
    } else {
        parse_decimal(rest)?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// A decimal float that must span all of `s`: digits, optional fraction, optional
/// exponent (only taken when digits follow). Range errors (overflow, or a non-zero value
/// that rounds to a subnormal or zero) fail, as glibc's ERANGE does.
fn parse_decimal(s: &[u8]) -> Option<f64> {
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_len = digits(0);
    let mut i = int_len;
    let mut frac_len = 0;
    if s.get(i) == Some(&b'.') {
        frac_len = digits(i + 1);
        i += 1 + frac_len;
    }
    if int_len + frac_len == 0 {
        return None;
    }
    let mantissa_end = i;
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_len = digits(j);
        if exp_len > 0 {
            i = j + exp_len;
        }
    }
    if i != s.len() {
        return None;
    }
    let nonzero = s[..mantissa_end].iter().any(|c| matches!(c, b'1'..=b'9'));
    // Rust's parser wants digits on both sides of the point.
    let int = if int_len == 0 { "0" } else { std::str::from_utf8(&s[..int_len]).ok()? };
    let frac = if frac_len == 0 { "0" } else { std::str::from_utf8(&s[int_len + 1..int_len + 1 + frac_len]).ok()? };
    let exp = std::str::from_utf8(&s[mantissa_end..i]).ok()?;
    let v: f64 = format!("{int}.{frac}{exp}").parse().ok()?;
    if v.is_infinite() || (nonzero && v.abs() < f64::MIN_POSITIVE) {
        return None;
    }
    Some(v)
}

/// A hexadecimal float after its `0x`: hex digits, optional fraction, optional binary
/// exponent `p[+-]digits`; all of `s` must be used. Rounds to nearest even; overflow and
/// inexact tiny results fail (glibc's ERANGE).
fn parse_hex(s: &[u8]) -> Option<f64> {
    let hex_len = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
    let int_len = hex_len(0);
    let mut i = int_len;
    let mut frac_len = 0;
    if s.get(i) == Some(&b'.') {
        frac_len = hex_len(i + 1);
        i += 1 + frac_len;
    }
    if int_len + frac_len == 0 {
        // "0x" alone: strtod converts the "0" and stops at the "x".
        return None;
    }
    let mut exp: i64 = 0;
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let neg = s.get(j) == Some(&b'-');
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let n = s[j..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n > 0 {
            for &c in &s[j..j + n] {
                exp = exp.saturating_mul(10).saturating_add(i64::from(c - b'0')).min(1 << 40);
            }
            if neg {
                exp = -exp;
            }
            i = j + n;
        }
    }
    if i != s.len() {
        return None;
    }
    // Collect the significant bits: value = mant * 2^(exp - 4 * frac_len), with the
    // mantissa kept to 64 bits and a sticky bit for anything dropped.
    let mut mant: u64 = 0;
    let mut shift: i64 = exp - 4 * frac_len as i64;
    let mut sticky = false;
    let nibbles = s[..int_len].iter().chain(s[int_len..].iter().skip(1).take(frac_len));
    for &c in nibbles {
        let d = (c as char).to_digit(16).unwrap_or(0) as u64;
        if mant >> 60 == 0 {
            mant = mant << 4 | d;
        } else {
            sticky |= d != 0;
            shift += 4;
        }
    }
    if mant == 0 {
        return Some(0.0);
    }
    // Normalise to 64 significant bits: value = mant * 2^shift, top bit set.
    let lz = mant.leading_zeros();
    mant <<= lz;
    shift -= i64::from(lz);
    // Binary exponent of the leading bit.
    let top = shift + 63;
    if top > 1023 {
        return None;
    }
    // Bits kept: 53 for normals, fewer for subnormals (lowest bit weight 2^-1074).
    let keep = if top >= -1022 { 53 } else { 53 - (-1022 - top) };
    if keep <= 0 {
        // Below half the smallest subnormal (or exactly representable? never): ERANGE.
        return None;
    }
    let drop = 64 - keep as u32;
    let kept = mant >> drop;
    let rem = mant & ((1u64 << drop) - 1);
    let half = 1u64 << (drop - 1);
    let inexact = rem != 0 || sticky;
    let round_up = rem > half || (rem == half && (sticky || kept & 1 == 1));
    let kept = kept + u64::from(round_up);
    // Value = kept * 2^(shift + drop).
    let v = kept as f64 * pow2(shift + i64::from(drop));
    if v.is_infinite() || (inexact && v.abs() < f64::MIN_POSITIVE) {
        return None;
    }
    Some(v)
}

/// 2^e as a double, exact for the exponents `parse_hex` produces (applied in two steps so
/// that subnormal results are not rounded twice).
fn pow2(e: i64) -> f64 {
    let e = e.clamp(-2200, 2200) as i32;
    if e < -1022 {
        2f64.powi(-1022) * 2f64.powi(e + 1022)
    } else {
        2f64.powi(e)
    }
}

/// One element of the vector being sorted.
struct Item {
    element: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the value to compare (`None`: the BY key is missing).
    by: Option<Vec<u8>>,
}

/// Redis's `sortCompare`.
fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool, store: bool, desc: bool) -> Ordering {
    let cmp = if !alpha {
        a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal).then_with(|| a.element.cmp(&b.element))
    } else if by_pattern {
        match (&a.by, &b.by) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) if store => x.cmp(y),
            (Some(x), Some(y)) => c_str(x).cmp(c_str(y)),
        }
    } else if store {
        a.element.cmp(&b.element)
    } else {
        c_str(&a.element).cmp(c_str(&b.element))
    };
    if desc {
        cmp.reverse()
    } else {
        cmp
    }
}

/// Redis's `pqsort` (Bentley-McIlroy quicksort from NetBSD, skipping partitions outside
/// `lrange..=rrange`): sorts `v[a..a + n]` so that positions `lrange..=rrange` hold the
/// right elements. Reproduced for the order it gives to elements that compare equal.
fn pqsort<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
    lrange: i64,
    rrange: i64,
) {
    // Redis compares byte addresses: a partition is skipped when the range lies entirely
    // before or entirely after it (in element units, with the same edge cases).
    let outside = |s: usize, count: usize| {
        let (s, e) = (s as i64, (s + count) as i64);
        (lrange < s && rrange < s) || (lrange >= e && rrange >= e)
    };
    let med3 = |v: &[T], x: usize, y: usize, z: usize, cmp: &mut dyn FnMut(&T, &T) -> Ordering| -> usize {
        if cmp(&v[x], &v[y]) == Ordering::Less {
            if cmp(&v[y], &v[z]) == Ordering::Less {
                y
            } else if cmp(&v[x], &v[z]) == Ordering::Less {
                z
            } else {
                x
            }
        } else if cmp(&v[y], &v[z]) == Ordering::Greater {
            y
        } else if cmp(&v[x], &v[z]) == Ordering::Less {
            x
        } else {
            z
        }
    };
    let vecswap = |v: &mut [T], x: usize, y: usize, count: usize| {
        for k in 0..count {
            v.swap(x + k, y + k);
        }
    };
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(a, r) {
            pqsort(v, a, r, cmp, lrange, rrange);
        }
        let r = pd - pc;
        if r > 1 {
            a = pn - r;
            n = r;
            if !outside(a, n) {
                continue;
            }
        }
        return;
    }
}

/// The elements of the source, read as Redis's SORT reads them, and the output window.
struct Loaded {
    items: Vec<Item>,
    start: i64,
    end: i64,
    dontsort: bool,
    alpha: bool,
    sort_by: bool,
}

/// Reads the elements to sort from the source value (`None`: missing key), applying the
/// LIMIT window directly when nothing will be sorted. Converts a listpack sorted set to a
/// skiplist, as Redis does.
fn load(value: Option<&mut Value>, plan: &Plan<'_>) -> Result<Loaded> {
    let opts = plan.opts;
    let mut dontsort = plan.dontsort;
    let mut alpha = opts.alpha;
    let mut sort_by = opts.by.is_some();
    let mut missing = Value::List(Box::default());
    let value = match value {
        None => &mut missing,
        Some(v @ (Value::List(_) | Value::Set(_) | Value::ZSet(_))) => v,
        Some(_) => return Err(Error::WrongType),
    };
    if dontsort && matches!(value, Value::Set(_)) && (plan.store.is_some() || plan.in_script) {
        // Sets have no order of their own: make the stored/scripted result deterministic.
        dontsort = false;
        alpha = true;
        sort_by = false;
    }
    if let Value::ZSet(z) = value {
        if z.encoding() == "listpack" {
            let members: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            let refs: Vec<(&[u8], f64)> = members.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
            let never_listpack = ZSetLimits { max_listpack_entries: 0, max_listpack_value: 0 };
            *z = ZSet::from_sorted(&refs, &never_listpack);
        }
    }
    let len = match value {
        Value::List(l) => l.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        _ => 0,
    } as i64;
    let (limit_start, limit_count) = opts.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let ordered = matches!(value, Value::List(_) | Value::ZSet(_));
    let window = if ordered && dontsort && (start != 0 || end != len - 1) { (end - start + 1).max(0) } else { len };
    let item = |element: Vec<u8>| Item { element, score: 0.0, by: None };
    let items: Vec<Item> = match value {
        Value::List(l) if dontsort => {
            if end >= start {
                let skip = start as usize;
                let take = window as usize;
                let v: Vec<Item> = if opts.desc {
                    l.iter().rev().skip(skip).take(take).map(|e| item(e.to_vec())).collect()
                } else {
                    l.iter().skip(skip).take(take).map(|e| item(e.to_vec())).collect()
                };
                end -= start;
                start = 0;
                v
            } else {
                Vec::new()
            }
        }
        Value::List(l) => l.iter().map(|e| item(e.to_vec())).collect(),
        Value::Set(s) => s.iter().map(|m| item(m.to_vec())).collect(),
        Value::ZSet(z) if dontsort => {
            let skip = start.max(0) as usize;
            let take = window as usize;
            let span = if opts.desc {
                Span { first: (len as usize).saturating_sub(skip + 1), count: take, rev: true }
            } else {
                Span { first: skip, count: take, rev: false }
            };
            let v: Vec<Item> = z.range(span).map(|(m, _)| item(m.to_vec())).collect();
            end -= start;
            start = 0;
            v
        }
        Value::ZSet(z) => z.iter().map(|(m, _)| item(m.to_vec())).collect(),
        _ => Vec::new(),
    };
    Ok(Loaded { items, start, end, dontsort, alpha, sort_by })
}

/// Scores, sorts and produces the output items (GET applied); `None` items are missing
/// keys. Errors when a score does not parse.
fn sort_loaded(
    mut loaded: Loaded,
    plan: &Plan<'_>,
    lookup: &mut KeyReader<'_>,
) -> Result<(Vec<Option<Vec<u8>>>, usize)> {
    let opts = plan.opts;
    let by = if loaded.sort_by { opts.by.as_deref() } else { None };
    let mut conversion_error = false;
    if !loaded.dontsort {
        for it in &mut loaded.items {
            let value = match by {
                Some(p) => match lookup_by_pattern(p, &it.element, lookup) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if !loaded.alpha {
                        match parse_score(&it.element) {
                            Some(s) => it.score = s,
                            None => conversion_error = true,
                        }
                    }
                    continue;
                }
            };
            if loaded.alpha {
                it.by = Some(value);
            } else {
                match parse_score(&value) {
                    Some(s) => it.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let (alpha, store, desc) = (loaded.alpha, plan.store.is_some(), opts.desc);
        let by_pattern = by.is_some();
        let mut cmp = |a: &Item, b: &Item| compare(a, b, alpha, by_pattern, store, desc);
        let n = loaded.items.len();
        if by_pattern && (loaded.start != 0 || loaded.end != n as i64 - 1) {
            pqsort(&mut loaded.items, 0, n, &mut cmp, loaded.start, loaded.end);
        } else {
            loaded.items.sort_by(cmp);
        }
    }
    if conversion_error {
        return Err(Error::msg("ERR One or more scores can't be converted into double"));
    }
    let (start, end) = (loaded.start, loaded.end);
    let count = (end - start + 1).max(0) as usize;
    let outputlen = if opts.get.is_empty() { count } else { opts.get.len() * count };
    let mut out = Vec::with_capacity(outputlen);
    if count > 0 {
        for it in &loaded.items[start as usize..=end as usize] {
            if opts.get.is_empty() {
                out.push(Some(it.element.clone()));
            }
            for p in &opts.get {
                out.push(lookup_by_pattern(p, &it.element, lookup));
            }
        }
    }
    Ok((out, outputlen))
}

/// Does the plan read keys other than the source (BY or GET patterns with a `*`)?
fn reads_other_keys(plan: &Plan<'_>) -> bool {
    let by = !plan.dontsort && plan.opts.by.as_deref().is_some_and(has_star);
    by || plan.opts.get.iter().any(|p| !is_self(p) && has_star(p))
}

/// Writes the result into the destination: a list, or nothing (the key deleted) when
/// empty. Returns true if the keyspace changed, and whether the key was created.
fn store_result(
    shard: &mut Shard,
    h: KeyHash,
    dest: &[u8],
    items: Vec<Option<Vec<u8>>>,
    acc: &Access<'_>,
) -> (bool, bool) {
    if items.is_empty() {
        let old = shard.remove(h, dest);
        let changed = old.is_some();
        crate::lazyfree::server_del(acc.inner, old);
        return (changed, false);
    }
    let mut list = List::with_fill(acc.inner.tunables.get(crate::config::Tunable::ListMaxListpackSize));
    for it in &items {
        list.push_back(it.as_deref().unwrap_or(b""));
    }
    let existed = shard.contains(h, dest, acc.now);
    crate::lazyfree::server_del(acc.inner, shard.set(h, dest, Value::List(Box::new(list)), None, acc.now));
    acc.signal_ready(dest);
    (true, !existed)
}

/// What a SORT did under its locks.
struct Done {
    /// The output items (empty when stored).
    items: Vec<Option<Vec<u8>>>,
    /// Number of output items.
    outputlen: usize,
    /// With STORE: (the keyspace changed, the destination was created).
    changed: (bool, bool),
}

fn run(acc: &Access<'_>, key: &[u8], plan: &Plan<'_>) -> Result<SortOutcome> {
    let mut keys: Vec<&[u8]> = vec![key];
    keys.extend(plan.store);
    let now = acc.now;
    let result: Result<Done> = if reads_other_keys(plan) {
        acc.write_all(|shards| {
            let h = acc.hash(key);
            let loaded = load(shards[h.shard()].get_mut(h, key, now).map(|n: &mut Node<Value>| &mut n.value), plan)?;
            let mut reader = |k: &[u8], f: &mut dyn FnMut(&Value) -> Option<Vec<u8>>| {
                let kh = acc.hash(k);
                match shards[kh.shard()].lookup(kh, k, now) {
                    Lookup::Live(n) => f(&n.value),
                    _ => None,
                }
            };
            let (items, outputlen) = sort_loaded(loaded, plan, &mut reader)?;
            let mut items = Some(items);
            let mut changed = (false, false);
            if let Some(dest) = plan.store {
                let dh = acc.hash(dest);
                let shard = &mut shards[dh.shard()];
                shard.expire_if_needed(dh, dest, now);
                changed = store_result(shard, dh, dest, items.take().unwrap_or_default(), acc);
                if changed.0 {
                    // `write_all` does not track the keys it changes.
                    acc.signal_modified(dest);
                }
            }
            for s in shards.iter_mut() {
                acc.drain_expired(s);
            }
            Ok(Done { items: items.unwrap_or_default(), outputlen, changed })
        })
    } else {
        acc.write_many(&keys, |m| {
            let h = acc.hash(key);
            let loaded = load(m.shard(h).get_mut(h, key, now).map(|n| &mut n.value), plan)?;
            let (items, outputlen) = sort_loaded(loaded, plan, &mut |_, _| None)?;
            let mut items = Some(items);
            let mut changed = (false, false);
            if let Some(dest) = plan.store {
                let dh = acc.hash(dest);
                let shard = m.shard(dh);
                shard.expire_if_needed(dh, dest, now);
                changed = store_result(shard, dh, dest, items.take().unwrap_or_default(), acc);
                // The dirty counter moves after the locks, so `write_many` cannot see the
                // change: signal it here (the sorted key was only read).
                m.modified_only(&[dest]);
                if changed.0 {
                    acc.signal_modified(dest);
                }
            }
            Ok(Done { items: items.unwrap_or_default(), outputlen, changed })
        })
    };
    let Done { items, outputlen, changed: (changed, created) } = result?;
    let Some(dest) = plan.store else { return Ok(SortOutcome::Items(items)) };
    if changed {
        if outputlen > 0 {
            acc.add_dirty(outputlen as u64);
            if created {
                acc.notify(notify::NEW, "new", dest);
            }
            acc.notify(notify::LIST, "sortstore", dest);
        } else {
            acc.add_dirty(1);
            acc.notify(notify::GENERIC, "del", dest);
        }
    }
    Ok(SortOutcome::Stored(outputlen))
}

/// SORT at the access level: sorts the list, set or sorted set at `key` with `opts`,
/// storing the result as a list at `store` if given (SORT ... STORE).
pub fn sort(acc: &Access<'_>, key: &[u8], opts: &SortOptions, store: Option<&[u8]>) -> Result<SortOutcome> {
    let dontsort = opts.by.as_deref().is_some_and(|p| !has_star(p));
    run(acc, key, &Plan { opts, dontsort, store, in_script: false })
}

/// Parses SORT's options from `args` (after the key); `readonly` for SORT_RO (no STORE).
fn parse<'a>(ctx: &Ctx<'a>, readonly: bool) -> Result<(SortOptions, bool, Option<&'a [u8]>)> {
    let mut opts = SortOptions::default();
    let mut dontsort = false;
    let mut store = None;
    let mut j = 2;
    let argc = ctx.argc();
    // BY and GET patterns read keys no ACL key pattern was checked against: Redis accepts
    // them only from a user who may read every key (asked once, when first needed).
    let mut full_access: Option<bool> = None;
    let mut may_read_all =
        || *full_access.get_or_insert_with(|| crate::acl::may_read_all_keys(ctx.client, ctx.spec, &ctx.args));
    while j < argc {
        let arg = ctx.arg(j);
        let left = argc - j - 1;
        let is = |name: &str| arg.eq_ignore_ascii_case(name.as_bytes());
        if is("asc") {
            opts.desc = false;
        } else if is("desc") {
            opts.desc = true;
        } else if is("alpha") {
            opts.alpha = true;
        } else if is("limit") && left >= 2 {
            let start = parse_int(ctx.arg(j + 1))?;
            let count = parse_int(ctx.arg(j + 2))?;
            opts.limit = Some((start, count));
            j += 2;
        } else if !readonly && is("store") && left >= 1 {
            store = Some(ctx.arg(j + 1));
            j += 1;
        } else if is("by") && left >= 1 {
            let pattern = ctx.arg(j + 1);
            if !has_star(pattern) {
                dontsort = true;
            } else if !may_read_all() {
                return Err(Error::msg("ERR BY option of SORT denied due to insufficient ACL permissions."));
            }
            opts.by = Some(pattern.to_vec());
            j += 1;
        } else if is("get") && left >= 1 {
            // Even `GET #`, as Redis 7.0.
            if !may_read_all() {
                return Err(Error::msg("ERR GET option of SORT denied due to insufficient ACL permissions."));
            }
            opts.get.push(ctx.arg(j + 1).to_vec());
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    Ok((opts, dontsort, store))
}

fn sort_generic(ctx: &mut Ctx<'_>, readonly: bool) -> Result<()> {
    let (opts, dontsort, store) = parse(ctx, readonly)?;
    // A script runs its commands with every shard held and the script flag raised.
    let in_script = ctx.access.is_held() && ctx.db.inner.script_running.load(Relaxed);
    let plan = Plan { opts: &opts, dontsort, store, in_script };
    match run(&ctx.access, ctx.arg(1), &plan)? {
        SortOutcome::Items(items) => {
            ctx.out.array(items.len());
            for it in items {
                match it {
                    Some(b) => ctx.out.bulk(&b),
                    None => ctx.out.null(),
                }
            }
        }
        SortOutcome::Stored(n) => {
            if let Some(dest) = store {
                if ctx.db.inner.tracking.active() {
                    ctx.db.inner.tracking.invalidate(dest, ctx.client.id());
                }
            }
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]]
/// [ASC | DESC] [ALPHA] [STORE destination]`
fn sort_cmd(ctx: &mut Ctx<'_>) -> Result<()> {
    sort_generic(ctx, false)
}

/// `SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]]
/// [ASC | DESC] [ALPHA]`
fn sort_ro_cmd(ctx: &mut Ctx<'_>) -> Result<()> {
    sort_generic(ctx, true)
}

impl Database {
    /// `SORT key [BY ..] [LIMIT ..] [GET ..] [ASC|DESC] [ALPHA]` (also SORT_RO): the
    /// sorted elements of the list, set or sorted set at `key`; with `GET` patterns, one
    /// item per pattern and element (`None` where the key or field is missing).
    ///
    /// ```
    /// use ferrous_core::{commands::sort::SortOptions, Database};
    /// let db = Database::new();
    /// db.rpush("l", ["3", "1", "2"]).unwrap();
    /// let sorted = db.sort("l", &SortOptions::default()).unwrap();
    /// assert_eq!(sorted, vec![Some(b"1".to_vec()), Some(b"2".to_vec()), Some(b"3".to_vec())]);
    /// ```
    pub fn sort(&self, key: impl AsRef<[u8]>, opts: &SortOptions) -> Result<Vec<Option<Vec<u8>>>> {
        match sort(&self.access(), key.as_ref(), opts, None)? {
            SortOutcome::Items(items) => Ok(items),
            SortOutcome::Stored(_) => Ok(Vec::new()),
        }
    }

    /// `SORT key ... STORE destination`: stores the result as a list at `dest` (deleting
    /// `dest` when the result is empty) and returns the number of items stored.
    pub fn sort_store(&self, key: impl AsRef<[u8]>, opts: &SortOptions, dest: impl AsRef<[u8]>) -> Result<usize> {
        let (key, dest) = (key.as_ref(), dest.as_ref());
        // Propagated as the SORT ... STORE command with the same options.
        let outcome = self.write_typed(
            |acc| sort(acc, key, opts, Some(dest)),
            |_, _| {
                let mut a = crate::propagate::args([&b"SORT"[..], key]);
                if let Some(by) = &opts.by {
                    a.extend([b"BY".to_vec(), by.clone()]);
                }
                if let Some((offset, count)) = opts.limit {
                    a.extend([b"LIMIT".to_vec(), offset.to_string().into_bytes(), count.to_string().into_bytes()]);
                }
                for g in &opts.get {
                    a.extend([b"GET".to_vec(), g.clone()]);
                }
                if opts.desc {
                    a.push(b"DESC".to_vec());
                }
                if opts.alpha {
                    a.push(b"ALPHA".to_vec());
                }
                a.extend([b"STORE".to_vec(), dest.to_vec()]);
                vec![a]
            },
        );
        // A client blocked on `dest` is served after the SORT's own frame, as after the
        // command.
        let outcome = self.serve_blocked(outcome)?;
        if self.inner.tracking.active() {
            self.inner.tracking.invalidate(dest, 0);
        }
        match outcome {
            SortOutcome::Stored(n) => Ok(n),
            SortOutcome::Items(items) => Ok(items.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_rules() {
        let ok = |s: &str, v: f64| assert_eq!(parse_score(s.as_bytes()), Some(v), "{s:?}");
        let bad = |s: &str| assert_eq!(parse_score(s.as_bytes()), None, "{s:?}");
        ok("", 0.0);
        ok("  5", 5.0);
        ok("\t\n\x0b\x0c\r7", 7.0);
        ok("1.e2", 100.0);
        ok(".5", 0.5);
        ok("+.5e1", 5.0);
        ok("-0x10", -16.0);
        ok("0x.8", 0.5);
        ok("0x1.8p1", 3.0);
        ok("0X1P-1", 0.5);
        ok("0xAbC.dp0", 2748.8125);
        ok("infinity", f64::INFINITY);
        ok("-Inf", f64::NEG_INFINITY);
        ok("0e-400", 0.0);
        ok("0e99999999999999999999", 0.0);
        ok("0x1p-1074", f64::from_bits(1));
        ok("0x1p-1030", f64::from_bits(1 << 44));
        ok("0x1.0000000000001p0", 1.0 + f64::EPSILON);
        ok("00012", 12.0);
        ok("1\0garbage", 1.0);
        ok("2.2250738585072014e-308", f64::MIN_POSITIVE);
        for s in [
            "1e-400",
            "1e309",
            "5e",
            "5e+",
            ".",
            "0x",
            "1e-320",
            "   ",
            "nan",
            "infinit",
            "0x1p1024",
            "0x1.fffffffffffff8p1023",
            "1_0",
            "0x1p",
            "1e",
            "-.e1",
            "0x1p-1075",
            "0x1.8p-1074",
            "4.9406564584124654e-324",
            "1e99999999999999999999",
            "2 ",
            "abc",
        ] {
            bad(s);
        }
    }

    #[test]
    fn pattern_substitution() {
        assert_eq!(substitute(b"w_*", b"x"), Some((b"w_x".to_vec(), None)));
        assert_eq!(substitute(b"h_*->f", b"x"), Some((b"h_x".to_vec(), Some(b"f".to_vec()))));
        assert_eq!(substitute(b"h_*->", b"x"), Some((b"h_x->".to_vec(), None)));
        assert_eq!(substitute(b"a*b*c", b"x"), Some((b"axb*c".to_vec(), None)));
        assert_eq!(substitute(b"nosort", b"x"), None);
        assert!(is_self(b"#"));
        assert!(!is_self(b"#x"));
    }

    #[test]
    fn pqsort_sorts() {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let n = rng.gen_range(0..120);
            let mut v: Vec<u32> = (0..n).map(|_| rng.gen_range(0..20)).collect();
            let mut sorted = v.clone();
            sorted.sort();
            if n > 0 {
                let l = rng.gen_range(0..n);
                let r = rng.gen_range(l..n);
                pqsort(&mut v, 0, n, &mut |a: &u32, b: &u32| a.cmp(b), l as i64, r as i64);
                assert_eq!(v[l..=r], sorted[l..=r]);
            }
        }
    }
}
