//! [`LongDouble`]: Redis's INCRBYFLOAT (and HINCRBYFLOAT) arithmetic, which C does in
//! `long double` — on x86-64 Linux the x87 80-bit extended format: a 64-bit significand
//! and a 15-bit exponent, rounded to nearest-even.
//!
//! Redis parses both operands with `strtold` (decimal, hexadecimal `0x1p3`, `inf`;
//! the whole argument must be consumed), adds them in that precision, and prints the sum
//! with `%.17Lf` before stripping trailing zeros. Those 64 significand bits are why
//! `0.1 + 0.2` prints `0.3` in Redis where an `f64` would print `0.30000000000000004`.
//! Emulating the format exactly (correctly rounded parse, exact addition rounded once,
//! exact decimal expansion) reproduces Redis's replies bit for bit, including sums like
//! `1e400` that `f64` cannot even hold.
//!
//! The emulation uses a small arbitrary-precision integer ([`Big`]) for the exact
//! intermediate values; ordinary increments need a few 64-bit limbs.
use std::cmp::Ordering;

/// Bits in the significand.
const MANT_BITS: i64 = 64;
/// Exponent (of the significand's least significant bit) of the smallest subnormal:
/// 2^-16445.
const EXP_MIN: i64 = -16445;
/// Largest exponent of a finite value with a normalized significand: the maximum is
/// (2^64 - 1) * 2^16320.
const EXP_MAX: i64 = 16320;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are not valid floats.
const MAX_CHARS: usize = 5 * 1024;

/// An x87 extended-precision value: `±mant * 2^exp`, zero, or infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    class: Class,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Zero,
    Finite { mant: u64, exp: i64 },
    Inf,
}

impl LongDouble {
    /// Positive zero.
    pub const ZERO: LongDouble = LongDouble { neg: false, class: Class::Zero };

    /// An integer (exact: every `i64` fits in 64 significand bits).
    pub fn from_i64(i: i64) -> LongDouble {
        if i == 0 {
            return LongDouble::ZERO;
        }
        round(i < 0, &Big::from_u128(u128::from(i.unsigned_abs())), 0, false)
    }

    /// True for ±infinity.
    pub fn is_infinite(&self) -> bool {
        self.class == Class::Inf
    }

    /// Parses like Redis's `string2ld`: `strtold` on the whole input, no leading space,
    /// at most 5119 bytes; NaN, overflow and underflow to zero are rejected.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS || matches!(s[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble { neg, class: Class::Inf });
        }
        let value = if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            parse_hex(&body[2..])?
        } else {
            parse_decimal(body)?
        };
        match value {
            Parsed::Zero => Some(LongDouble { neg, class: Class::Zero }),
            Parsed::Exact(n, e) => {
                let v = round(neg, &n, e, false);
                v.is_finite_nonzero().then_some(v)
            }
            Parsed::Inexact(n, e) => {
                let v = round(neg, &n, e, true);
                v.is_finite_nonzero().then_some(v)
            }
        }
    }

    fn is_finite_nonzero(&self) -> bool {
        matches!(self.class, Class::Finite { .. })
    }

    /// The sum, rounded once to nearest-even; `None` for NaN (`inf + -inf`).
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        match (self.class, other.class) {
            (Class::Inf, Class::Inf) if self.neg != other.neg => None,
            (Class::Inf, _) => Some(self),
            (_, Class::Inf) => Some(other),
            (Class::Zero, Class::Zero) => Some(LongDouble { neg: self.neg && other.neg, class: Class::Zero }),
            (Class::Zero, _) => Some(other),
            (_, Class::Zero) => Some(self),
            (Class::Finite { mant: ma, exp: ea }, Class::Finite { mant: mb, exp: eb }) => {
                let e = ea.min(eb);
                let a = Big::from_u128(u128::from(ma)).shl((ea - e) as u64);
                let b = Big::from_u128(u128::from(mb)).shl((eb - e) as u64);
                if self.neg == other.neg {
                    return Some(round(self.neg, &a.add(&b), e, false));
                }
                match a.cmp(&b) {
                    Ordering::Equal => Some(LongDouble::ZERO),
                    Ordering::Greater => Some(round(self.neg, &a.sub(&b), e, false)),
                    Ordering::Less => Some(round(other.neg, &b.sub(&a), e, false)),
                }
            }
        }
    }

    /// Redis's human-friendly form: `%.17Lf` with trailing zeros (and a trailing dot)
    /// removed, `-0` printed as `0`, infinities as `inf`/`-inf`.
    pub fn to_human_string(&self) -> String {
        let (mant, exp) = match self.class {
            Class::Inf => return if self.neg { "-inf" } else { "inf" }.to_string(),
            Class::Zero => return "0".to_string(),
            Class::Finite { mant, exp } => (mant, exp),
        };
        const SCALE: u128 = 100_000_000_000_000_000; // 10^17
        let digits = if exp >= 0 {
            let mut n = Big::from_u128(u128::from(mant)).shl(exp as u64);
            n.mul_small(SCALE as u64, 0);
            n.to_decimal()
        } else {
            // mant * 10^17 < 2^121: the scaled value fits in a u128 before the shift.
            let scaled = u128::from(mant) * SCALE;
            let sh = (-exp) as u32;
            let q = if sh >= 123 {
                0
            } else {
                let q = scaled >> sh;
                let half = 1u128 << (sh - 1);
                let rem = scaled & ((1u128 << sh) - 1);
                if rem > half || (rem == half && q & 1 == 1) {
                    q + 1
                } else {
                    q
                }
            };
            q.to_string()
        };
        let digits = format!("{digits:0>18}");
        let (int_part, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut s = String::with_capacity(digits.len() + 2);
        if self.neg {
            s.push('-');
        }
        s.push_str(int_part);
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        if s == "-0" {
            s.remove(0);
        }
        s
    }
}

/// A parsed magnitude before rounding: exactly `n * 2^e`, or `(n + something in (0,1))
/// * 2^e`.
enum Parsed {
    Zero,
    Exact(Big, i64),
    Inexact(Big, i64),
}

/// Rounds `±(n [+ sticky]) * 2^e` (n > 0) to the format: 64 significand bits (fewer for
/// subnormals), nearest-even; too large is infinity, too small is zero.
fn round(neg: bool, n: &Big, e: i64, sticky: bool) -> LongDouble {
    let bits = n.bit_len() as i64;
    let mut shift = bits - MANT_BITS;
    let mut exp = e + shift;
    if exp < EXP_MIN {
        shift += EXP_MIN - exp;
        exp = EXP_MIN;
    }
    let mant = if shift <= 0 {
        // Exact: at most 64 bits, moved up to normalize (inputs from a division always
        // carry enough bits for `shift > 0`, so `sticky` cannot matter here).
        (n.bits(0, 64) as u128) << (-shift) as u32
    } else {
        let s = shift as u64;
        let mant = if s >= bits as u64 { 0 } else { u128::from(n.bits(s, 64)) };
        let round_bit = n.bit(s - 1);
        let rest = sticky || n.any_below(s - 1);
        if round_bit && (rest || mant & 1 == 1) {
            mant + 1
        } else {
            mant
        }
    };
    let (mant, exp) = if mant >> 64 != 0 { ((mant >> 1) as u64, exp + 1) } else { (mant as u64, exp) };
    if mant == 0 {
        return LongDouble { neg, class: Class::Zero };
    }
    if exp > EXP_MAX {
        return LongDouble { neg, class: Class::Inf };
    }
    LongDouble { neg, class: Class::Finite { mant, exp } }
}

/// Decimal `strtold` syntax: digits with an optional point (at least one digit), then an
/// optional exponent `e[+-]digits`. Everything must be consumed.
fn parse_decimal(s: &[u8]) -> Option<Parsed> {
    let mut i = 0;
    let mut digits: Vec<u8> = Vec::new();
    let mut frac_digits: i64 = 0;
    let mut seen_digit = false;
    while i < s.len() && s[i].is_ascii_digit() {
        seen_digit = true;
        if !(digits.is_empty() && s[i] == b'0') {
            digits.push(s[i] - b'0');
        }
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            seen_digit = true;
            if !(digits.is_empty() && s[i] == b'0') {
                digits.push(s[i] - b'0');
            }
            frac_digits += 1;
            i += 1;
        }
    }
    if !seen_digit {
        return None;
    }
    let exp10 = parse_exponent(s, &mut i, b'e')?;
    if i != s.len() {
        return None;
    }
    // Trailing zeros of the significant digits go into the exponent.
    while digits.last() == Some(&0) {
        digits.pop();
        frac_digits -= 1;
    }
    if digits.is_empty() {
        return Some(Parsed::Zero);
    }
    let k = exp10.saturating_sub(frac_digits);
    let magnitude = k.saturating_add(digits.len() as i64);
    // Far outside 3.6e-4951 ..= 1.2e4932: overflow or underflow, both rejected.
    if !(-5000..=5000).contains(&magnitude) {
        return None;
    }
    let mut d = Big::default();
    for chunk in digits.chunks(19) {
        let v = chunk.iter().fold(0u64, |acc, &c| acc * 10 + u64::from(c));
        d.mul_small(10u64.pow(chunk.len() as u32), v);
    }
    if k >= 0 {
        d.mul_pow10(k as u32);
        return Some(Parsed::Exact(d, 0));
    }
    // d / 10^-k: scale dividend or divisor by a power of two so that the quotient has
    // 66 or 67 bits (two more than the significand: round bit plus one), divide, and
    // keep "the remainder is not zero" as the sticky bit for rounding.
    let mut p = Big::from_u128(1);
    p.mul_pow10((-k) as u32);
    let t = d.bit_len() as i64 - p.bit_len() as i64 - 66;
    let (dividend, divisor) = if t >= 0 { (d, p.shl(t as u64)) } else { (d.shl((-t) as u64), p) };
    let (q, rem_nonzero) = dividend.div_small_quotient(&divisor, 68);
    let q = Big::from_u128(q);
    Some(if rem_nonzero { Parsed::Inexact(q, t) } else { Parsed::Exact(q, t) })
}

/// Hexadecimal `strtold` syntax after `0x`: hex digits with an optional point (at least
/// one digit), then an optional binary exponent `p[+-]digits`.
fn parse_hex(s: &[u8]) -> Option<Parsed> {
    let mut i = 0;
    let mut n = Big::default();
    let mut frac_digits: i64 = 0;
    let mut seen_digit = false;
    let mut in_frac = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !in_frac {
            in_frac = true;
        } else if let Some(v) = (c as char).to_digit(16) {
            seen_digit = true;
            n.mul_small(16, u64::from(v));
            if in_frac {
                frac_digits += 1;
            }
        } else {
            break;
        }
        i += 1;
    }
    // "0x" without digits: strtold reads just the "0" and stops, leaving "x..." behind.
    if !seen_digit {
        return None;
    }
    let exp2 = parse_exponent(s, &mut i, b'p')?;
    if i != s.len() {
        return None;
    }
    if n.is_zero() {
        return Some(Parsed::Zero);
    }
    let e = exp2.saturating_sub(frac_digits.saturating_mul(4));
    if !(-40000..=40000).contains(&e.saturating_add(n.bit_len() as i64)) {
        return None;
    }
    Some(Parsed::Exact(n, e))
}

/// An optional exponent `marker[+-]digits` at `s[*i..]` (advancing `*i` past it); a
/// marker without digits is not part of the number and is left unconsumed.
fn parse_exponent(s: &[u8], i: &mut usize, marker: u8) -> Option<i64> {
    if *i >= s.len() || (s[*i] | 0x20) != marker {
        return Some(0);
    }
    let mut j = *i + 1;
    let neg = match s.get(j) {
        Some(b'-') => {
            j += 1;
            true
        }
        Some(b'+') => {
            j += 1;
            false
        }
        _ => false,
    };
    let start = j;
    let mut v: i64 = 0;
    while j < s.len() && s[j].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(i64::from(s[j] - b'0')).min(1 << 40);
        j += 1;
    }
    if j == start {
        return Some(0);
    }
    *i = j;
    Some(if neg { -v } else { v })
}

/// A non-negative arbitrary-precision integer: little-endian 64-bit limbs, no high zero
/// limbs. Only what the emulation needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Big(Vec<u64>);

impl Big {
    fn from_u128(v: u128) -> Big {
        let mut b = Big(vec![v as u64, (v >> 64) as u64]);
        b.trim();
        b
    }
    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }
    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
    /// self = self * m + a.
    fn mul_small(&mut self, m: u64, a: u64) {
        let mut carry = u128::from(a);
        for limb in &mut self.0 {
            let v = u128::from(*limb) * u128::from(m) + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            self.0.push(carry as u64);
        }
        self.trim();
    }
    fn mul_pow10(&mut self, mut k: u32) {
        while k >= 19 {
            self.mul_small(10u64.pow(19), 0);
            k -= 19;
        }
        if k > 0 {
            self.mul_small(10u64.pow(k), 0);
        }
    }
    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => 64 * (self.0.len() as u64 - 1) + (64 - u64::from(top.leading_zeros())),
        }
    }
    fn bit(&self, i: u64) -> bool {
        self.0.get((i / 64) as usize).is_some_and(|l| l >> (i % 64) & 1 == 1)
    }
    /// Bits `lo .. lo + n` (n <= 64) as an integer.
    fn bits(&self, lo: u64, n: u32) -> u64 {
        let limb = (lo / 64) as usize;
        let off = (lo % 64) as u32;
        let low = self.0.get(limb).copied().unwrap_or(0) >> off;
        let high = if off == 0 { 0 } else { self.0.get(limb + 1).copied().unwrap_or(0) << (64 - off) };
        let v = low | high;
        if n >= 64 {
            v
        } else {
            v & ((1u64 << n) - 1)
        }
    }
    /// True if any bit below position `n` is set.
    fn any_below(&self, n: u64) -> bool {
        let full = (n / 64) as usize;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let rem = (n % 64) as u32;
        rem > 0 && self.0.get(full).is_some_and(|&l| l & ((1u64 << rem) - 1) != 0)
    }
    fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return Big::default();
        }
        let limbs = (n / 64) as usize;
        let off = (n % 64) as u32;
        let mut out = vec![0u64; limbs];
        out.reserve(self.0.len() + 1);
        let mut carry = 0u64;
        for &l in &self.0 {
            if off == 0 {
                out.push(l);
            } else {
                out.push((l << off) | carry);
                carry = l >> (64 - off);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }
    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
    fn add(&self, other: &Big) -> Big {
        let n = self.0.len().max(other.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let (s1, c1) = self.0.get(i).copied().unwrap_or(0).overflowing_add(other.0.get(i).copied().unwrap_or(0));
            let (s2, c2) = s1.overflowing_add(carry);
            out.push(s2);
            carry = u64::from(c1) + u64::from(c2);
        }
        if carry != 0 {
            out.push(carry);
        }
        Big(out)
    }
    /// self - other, for self >= other.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0u64;
        for (i, &l) in self.0.iter().enumerate() {
            let (d1, b1) = l.overflowing_sub(other.0.get(i).copied().unwrap_or(0));
            let (d2, b2) = d1.overflowing_sub(borrow);
            out.push(d2);
            borrow = u64::from(b1) + u64::from(b2);
        }
        let mut b = Big(out);
        b.trim();
        b
    }
    /// Quotient (known to fit in `qbits` < 128 bits) and whether the remainder is
    /// non-zero, by restoring binary long division.
    fn div_small_quotient(&self, d: &Big, qbits: u32) -> (u128, bool) {
        let mut rem = self.clone();
        let mut q = 0u128;
        for i in (0..qbits).rev() {
            let t = d.shl(u64::from(i));
            if rem.cmp(&t) != Ordering::Less {
                rem = rem.sub(&t);
                q |= 1u128 << i;
            }
        }
        (q, !rem.is_zero())
    }
    fn to_decimal(&self) -> String {
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        let mut limbs = self.0.clone();
        let mut parts: Vec<u64> = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u128;
            for limb in limbs.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*limb);
                *limb = (cur / u128::from(CHUNK)) as u64;
                rem = cur % u128::from(CHUNK);
            }
            parts.push(rem as u64);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut s = parts.last().map_or_else(|| "0".to_string(), |p| p.to_string());
        for p in parts.iter().rev().skip(1) {
            s.push_str(&format!("{p:019}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> Option<String> {
        let a = LongDouble::parse(a.as_bytes())?;
        let b = LongDouble::parse(b.as_bytes())?;
        a.checked_add(b).map(|v| v.to_human_string())
    }

    #[test]
    fn sums_match_redis() {
        // Expected values are redis-server 7.0 INCRBYFLOAT replies.
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(incr("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(incr("1.1", "2.2").as_deref(), Some("3.3"));
        assert_eq!(incr("5.0e3", "2.0e2").as_deref(), Some("5200"));
        assert_eq!(incr("0", "3.0e3").as_deref(), Some("3000"));
        assert_eq!(incr("0", "0x1p-2").as_deref(), Some("0.25"));
        assert_eq!(incr("0", "-0").as_deref(), Some("0"));
        assert_eq!(incr("0", "1e-400").as_deref(), Some("0"));
    }

    #[test]
    fn parse_rejects_what_strtold_string2ld_rejects() {
        for bad in ["", " 1", "1 ", "1e", "abc", "nan", "0x", "1e5000", "1e-5000", "1\x002", ".", "-", "1..2"] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in ["1", "+1", "-1.5", ".5", "5.", "1e3", "1E+3", "0x10", "0X1.8p1", "inf", "-Infinity", "0e999999999"]
        {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
    }

    #[test]
    fn integers_are_exact() {
        for i in [1i64, -1, 42, i64::MAX, i64::MIN, 1 << 62] {
            assert_eq!(LongDouble::from_i64(i).to_human_string(), i.to_string());
        }
    }

    #[test]
    fn big_decimal() {
        let mut b = Big::from_u128(1);
        b.mul_pow10(40);
        assert_eq!(b.to_decimal(), format!("1{}", "0".repeat(40)));
    }
}
