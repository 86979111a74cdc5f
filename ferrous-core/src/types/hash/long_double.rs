//! Redis's `long double` arithmetic for HINCRBYFLOAT (and INCRBYFLOAT), emulated exactly.
//!
//! Redis parses both operands with `strtold`, adds them as x87 80-bit extended floats (64-bit
//! mantissa) and prints the sum with `"%.17Lf"` minus trailing zeros. Doing the same in
//! `f64` gives visibly different answers (`0.1 + 0.2` is `0.30000000000000004` in f64, but
//! `0.3` in Redis), so this module reproduces the 80-bit behaviour in software: decimal
//! strings are rounded correctly (round-half-even) to a 64-bit mantissa, the sum is rounded
//! once, and formatting uses the exact binary value, as glibc's `printf` does. Big integers
//! (a few limbs for everyday numbers, more for `1e400`) keep every step exact.
//!
//! Not emulated: subnormal results (below 2^-16382, where x87 loses mantissa bits).
use std::cmp::Ordering;

/// Largest binary exponent of a finite 80-bit value (`LDBL_MAX_EXP`).
const MAX_EXP: i64 = 16384;
/// Smallest binary exponent of a normal 80-bit value (`LDBL_MIN_EXP`).
const MIN_EXP: i64 = -16381;

/// An 80-bit extended value: `(-1)^neg * mant * 2^exp`; `mant == 0` is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// Why a string is not a `long double` Redis accepts, or a sum cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdError {
    /// Not a number (syntax, NaN, overflow or underflow to zero).
    Invalid,
    /// The value is infinite.
    Infinite,
}

/// Minimal unsigned big integer (little-endian 64-bit limbs, no trailing zero limbs).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u64>);

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
    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as u64 - 1) * 64 + (64 - top.leading_zeros() as u64),
        }
    }
    fn bit(&self, i: u64) -> bool {
        self.0.get((i / 64) as usize).is_some_and(|l| (l >> (i % 64)) & 1 == 1)
    }
    /// True if any bit below `i` is set.
    fn any_below(&self, i: u64) -> bool {
        let (limb, off) = ((i / 64) as usize, i % 64);
        self.0.iter().take(limb.min(self.0.len())).any(|&l| l != 0)
            || (off > 0 && self.0.get(limb).is_some_and(|&l| l & ((1u64 << off) - 1) != 0))
    }
    fn mul_small(&mut self, m: u64) {
        let mut carry = 0u128;
        for l in self.0.iter_mut() {
            let v = *l as u128 * m as u128 + carry;
            *l = v as u64;
            carry = v >> 64;
        }
        if carry > 0 {
            self.0.push(carry as u64);
        }
        self.trim();
    }
    fn add_small(&mut self, a: u64) {
        let mut carry = a;
        for l in self.0.iter_mut() {
            let (v, c) = l.overflowing_add(carry);
            *l = v;
            carry = c as u64;
            if carry == 0 {
                return;
            }
        }
        if carry > 0 {
            self.0.push(carry);
        }
    }
    /// Divides in place by `d`, returning the remainder.
    fn div_small(&mut self, d: u64) -> u64 {
        let mut rem = 0u128;
        for l in self.0.iter_mut().rev() {
            let cur = (rem << 64) | *l as u128;
            *l = (cur / d as u128) as u64;
            rem = cur % d as u128;
        }
        self.trim();
        rem as u64
    }
    fn shl(&self, n: u64) -> Big {
        let (limbs, off) = ((n / 64) as usize, n % 64);
        let mut out = vec![0u64; limbs];
        let mut carry = 0u64;
        for &l in &self.0 {
            if off == 0 {
                out.push(l);
            } else {
                out.push((l << off) | carry);
                carry = l >> (64 - off);
            }
        }
        if carry > 0 {
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }
    fn shr(&self, n: u64) -> Big {
        let (limbs, off) = ((n / 64) as usize, n % 64);
        if limbs >= self.0.len() {
            return Big(vec![]);
        }
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let lo = src[i] >> off;
            let hi = if off > 0 { src.get(i + 1).map_or(0, |h| h << (64 - off)) } else { 0 };
            out.push(lo | hi);
        }
        let mut b = Big(out);
        b.trim();
        b
    }
    /// `self mod 2^n`.
    fn low_bits(&self, n: u64) -> Big {
        let (limbs, off) = ((n / 64) as usize, n % 64);
        let mut out: Vec<u64> = self.0.iter().take(limbs).copied().collect();
        if off > 0 {
            if let Some(&l) = self.0.get(limbs) {
                out.push(l & ((1u64 << off) - 1));
            }
        }
        let mut b = Big(out);
        b.trim();
        b
    }
    fn cmp(&self, o: &Big) -> Ordering {
        self.0.len().cmp(&o.0.len()).then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }
    fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = false;
        for i in 0..n {
            let (a, b) = (self.0.get(i).copied().unwrap_or(0), o.0.get(i).copied().unwrap_or(0));
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            out.push(s2);
            carry = c1 || c2;
        }
        if carry {
            out.push(1);
        }
        Big(out)
    }
    /// `self - o`, requires `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = false;
        for i in 0..self.0.len() {
            let b = o.0.get(i).copied().unwrap_or(0);
            let (d1, b1) = self.0[i].overflowing_sub(b);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            out.push(d2);
            borrow = b1 || b2;
        }
        let mut r = Big(out);
        r.trim();
        r
    }
    fn pow10(n: u64) -> Big {
        let mut b = Big::from_u128(1);
        let mut left = n;
        while left > 0 {
            let step = left.min(19);
            b.mul_small(10u64.pow(step as u32));
            left -= step;
        }
        b
    }
    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        let mut chunks = Vec::new();
        let mut x = self.clone();
        while !x.is_zero() {
            chunks.push(x.div_small(10_000_000_000_000_000_000));
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:019}"));
        }
        s
    }
}

/// Rounds `q * 2^exp` (plus a sticky "something more" bit) to a 64-bit mantissa,
/// round-half-even.
fn round_to_ld(neg: bool, q: &Big, exp: i64, sticky: bool) -> LongDouble {
    let bits = q.bits();
    if bits == 0 {
        return LongDouble { neg, mant: 0, exp: 0 };
    }
    if bits <= 64 {
        let m = q.0[0];
        let shift = m.leading_zeros() as i64;
        return LongDouble { neg, mant: m << shift, exp: exp - shift };
    }
    let shift = bits - 64;
    let top = q.shr(shift);
    let mut mant = top.0.first().copied().unwrap_or(0);
    let mut e = exp + shift as i64;
    let round = q.bit(shift - 1);
    let rest = sticky || q.any_below(shift - 1);
    if round && (rest || mant & 1 == 1) {
        let (m, overflow) = mant.overflowing_add(1);
        mant = if overflow {
            e += 1;
            1 << 63
        } else {
            m
        };
    }
    LongDouble { neg, mant, exp: e }
}

impl LongDouble {
    /// Zero.
    pub const ZERO: LongDouble = LongDouble { neg: false, mant: 0, exp: 0 };

    /// An integer, exactly (every i64 fits a 64-bit mantissa).
    pub fn from_i64(i: i64) -> LongDouble {
        round_to_ld(i < 0, &Big::from_u128(i.unsigned_abs() as u128), 0, false)
    }

    fn is_infinite(&self) -> bool {
        self.mant != 0 && self.exp + 64 > MAX_EXP
    }

    /// Parses like Redis's `string2ld`: `strtold` syntax (decimal, exponent, hex, `inf`),
    /// no leading space, nothing trailing, no NaN, no overflow, no underflow to zero.
    pub fn parse(s: &[u8]) -> Result<LongDouble, LdError> {
        if s.is_empty() || s.len() >= 5 * 1024 || s[0].is_ascii_whitespace() || s[0] == 0x0b || s[0] == 0x0c {
            return Err(LdError::Invalid);
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Err(LdError::Infinite);
        }
        let v = if lower.starts_with(b"0x") { parse_hex(&lower[2..], neg)? } else { parse_dec(body, neg)? };
        if v.is_infinite() {
            // Overflow: strtold returns HUGE_VAL with ERANGE, which Redis rejects.
            return Err(LdError::Invalid);
        }
        if v.mant == 0 && !body.iter().all(|&c| matches!(c, b'0' | b'.' | b'e' | b'E' | b'+' | b'-')) {
            // Underflow to zero (strtold sets ERANGE, Redis rejects).
            return Err(LdError::Invalid);
        }
        Ok(v)
    }

    /// The exactly rounded sum (one rounding, as the FPU does); `Infinite` on overflow.
    pub fn plus(self, o: LongDouble) -> Result<LongDouble, LdError> {
        if self.mant == 0 {
            return Ok(if o.mant == 0 { LongDouble { neg: self.neg && o.neg, ..o } } else { o });
        }
        if o.mant == 0 {
            return Ok(self);
        }
        let (hi, lo) = if self.exp >= o.exp { (self, o) } else { (o, self) };
        let d = (hi.exp - lo.exp) as u64;
        let r = if d > 130 {
            // The smaller operand is below a quarter of an ulp of the larger: no effect.
            hi
        } else {
            let a = Big::from_u128(hi.mant as u128).shl(d);
            let b = Big::from_u128(lo.mant as u128);
            if hi.neg == lo.neg {
                round_to_ld(hi.neg, &a.add(&b), lo.exp, false)
            } else {
                match a.cmp(&b) {
                    Ordering::Equal => LongDouble::ZERO,
                    Ordering::Greater => round_to_ld(hi.neg, &a.sub(&b), lo.exp, false),
                    Ordering::Less => round_to_ld(lo.neg, &b.sub(&a), lo.exp, false),
                }
            }
        };
        if r.is_infinite() {
            return Err(LdError::Infinite);
        }
        Ok(r)
    }

    /// Redis's `ld2string(.., LD_STR_HUMAN)`: `"%.17Lf"` without trailing zeros (and
    /// without the dot when nothing is left after it); `-0` becomes `0`.
    pub fn to_human(self) -> String {
        let m = Big::from_u128(self.mant as u128);
        let (int, frac_digits) = if self.exp >= 0 {
            (m.shl(self.exp as u64), 0u64)
        } else {
            let f = (-self.exp) as u64;
            let mut int = m.shr(f);
            let mut p = m.low_bits(f);
            p.mul_small(100_000_000_000_000_000);
            let q = p.shr(f);
            let rem = p.low_bits(f);
            let half = Big::from_u128(1).shl(f - 1);
            let mut digits = q.0.first().copied().unwrap_or(0);
            let round_up = match rem.cmp(&half) {
                Ordering::Greater => true,
                Ordering::Equal => digits & 1 == 1,
                Ordering::Less => false,
            };
            if round_up {
                digits += 1;
                if digits == 100_000_000_000_000_000 {
                    digits = 0;
                    int.add_small(1);
                }
            }
            (int, digits)
        };
        let mut s = String::new();
        if self.neg {
            s.push('-');
        }
        s.push_str(&int.to_decimal());
        let frac = format!("{frac_digits:017}");
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }

    /// The nearest `f64`.
    pub fn to_f64(self) -> f64 {
        let v = (self.mant as f64) * 2f64.powi(self.exp.clamp(-2000, 2000) as i32);
        if self.neg {
            -v
        } else {
            v
        }
    }
}

fn parse_dec(s: &[u8], neg: bool) -> Result<LongDouble, LdError> {
    let mut i = 0;
    let mut digits = Big::from_u128(0);
    let (mut ndigits, mut exp10, mut sticky, mut seen) = (0u32, 0i64, false, false);
    let mut take = |d: u8, frac: bool, digits: &mut Big, exp10: &mut i64| {
        if ndigits < 60 {
            if ndigits > 0 || d != 0 {
                digits.mul_small(10);
                digits.add_small(d as u64);
                ndigits += 1;
            }
            if frac {
                *exp10 -= 1;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                *exp10 += 1;
            }
        }
    };
    while i < s.len() && s[i].is_ascii_digit() {
        take(s[i] - b'0', false, &mut digits, &mut exp10);
        seen = true;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            take(s[i] - b'0', true, &mut digits, &mut exp10);
            seen = true;
            i += 1;
        }
    }
    if !seen {
        return Err(LdError::Invalid);
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        let eneg = match s.get(j) {
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
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            e = (e * 10 + (s[j] - b'0') as i64).min(1_000_000);
            j += 1;
        }
        if j == start {
            // strtold stops before a bare `e`: trailing garbage for Redis.
            return Err(LdError::Invalid);
        }
        exp10 += if eneg { -e } else { e };
        i = j;
    }
    if i != s.len() {
        return Err(LdError::Invalid);
    }
    if digits.is_zero() {
        return Ok(LongDouble { neg, mant: 0, exp: 0 });
    }
    // Quick range checks before doing big-number work on absurd exponents.
    let magnitude = exp10 + ndigits as i64;
    if magnitude > 4933 {
        return Err(LdError::Invalid);
    }
    if magnitude < -4951 {
        return Err(LdError::Invalid);
    }
    let v = if exp10 >= 0 {
        let mut n = digits;
        let p = Big::pow10(exp10 as u64);
        n = mul_big(&n, &p);
        round_to_ld(neg, &n, 0, sticky)
    } else {
        let den = Big::pow10((-exp10) as u64);
        let s_bits = (den.bits() + 66).saturating_sub(digits.bits());
        let num = digits.shl(s_bits);
        let (q, r) = div_big(&num, &den);
        round_to_ld(neg, &q, -(s_bits as i64), sticky || !r.is_zero())
    };
    if v.mant != 0 && v.exp + 63 < MIN_EXP - 65 {
        return Err(LdError::Invalid);
    }
    Ok(v)
}

fn parse_hex(s: &[u8], neg: bool) -> Result<LongDouble, LdError> {
    let mut mant = Big::from_u128(0);
    let (mut exp2, mut seen, mut i, mut n) = (0i64, false, 0, 0u32);
    let mut sticky = false;
    let mut frac = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !frac {
            frac = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else { break };
        seen = true;
        if n < 40 {
            mant.mul_small(16);
            mant.add_small(d as u64);
            if !mant.is_zero() {
                n += 1;
            }
            if frac {
                exp2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                exp2 += 4;
            }
        }
        i += 1;
    }
    if !seen {
        return Err(LdError::Invalid);
    }
    if i < s.len() && s[i] == b'p' {
        let mut j = i + 1;
        let eneg = match s.get(j) {
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
        let mut e: i64 = 0;
        while j < s.len() && s[j].is_ascii_digit() {
            e = (e * 10 + (s[j] - b'0') as i64).min(1_000_000);
            j += 1;
        }
        if j == start {
            return Err(LdError::Invalid);
        }
        exp2 += if eneg { -e } else { e };
        i = j;
    }
    if i != s.len() {
        return Err(LdError::Invalid);
    }
    Ok(round_to_ld(neg, &mant, exp2, sticky))
}

fn mul_big(a: &Big, b: &Big) -> Big {
    let mut out = vec![0u64; a.0.len() + b.0.len() + 1];
    for (i, &x) in a.0.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &y) in b.0.iter().enumerate() {
            let cur = out[i + j] as u128 + x as u128 * y as u128 + carry;
            out[i + j] = cur as u64;
            carry = cur >> 64;
        }
        let mut k = i + b.0.len();
        while carry > 0 {
            let cur = out[k] as u128 + carry;
            out[k] = cur as u64;
            carry = cur >> 64;
            k += 1;
        }
    }
    let mut r = Big(out);
    r.trim();
    r
}

/// Schoolbook binary long division: (quotient, remainder).
fn div_big(num: &Big, den: &Big) -> (Big, Big) {
    let mut q = Big(vec![0; num.0.len()]);
    let mut r = Big(vec![]);
    for i in (0..num.bits()).rev() {
        r = r.shl(1);
        if num.bit(i) {
            if r.0.is_empty() {
                r.0.push(1);
            } else {
                r.0[0] |= 1;
            }
        }
        if r.cmp(den) != Ordering::Less {
            r = r.sub(den);
            q.0[(i / 64) as usize] |= 1 << (i % 64);
        }
    }
    q.trim();
    (q, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(s: &str) -> String {
        LongDouble::parse(s.as_bytes()).unwrap().to_human()
    }
    fn sum(a: &str, b: &str) -> String {
        let x = LongDouble::parse(a.as_bytes()).unwrap();
        let y = LongDouble::parse(b.as_bytes()).unwrap();
        x.plus(y).unwrap().to_human()
    }

    // Expected strings are what Redis 7.0 (x86-64, 80-bit long double) replies.
    #[test]
    fn matches_redis() {
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("1", "0.2"), "1.2");
        assert_eq!(sum("1.2", "0.1"), "1.3");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("17179869184", "1.5"), "17179869185.5");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("1", "-1"), "0");
        assert_eq!(sum("-1", "0.0000000000000000001"), "-1");
        assert_eq!(sum("3.0e3", "0.00000000001"), "3000.00000000001");
        assert_eq!(human("0x10"), "16");
        assert_eq!(human("1.5"), "1.5");
        assert_eq!(human("-0.0000000000000000001"), "0");
        assert_eq!(
            human("1e400"),
            "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"
        );
    }

    #[test]
    fn rejects() {
        for bad in ["", " 1", "1 ", "abc", "nan", "1e", "1.2.3", "--1", "1e99999", "1e-99999"] {
            assert!(LongDouble::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(LongDouble::parse(b"inf"), Err(LdError::Infinite));
        assert_eq!(LongDouble::parse(b"-Infinity"), Err(LdError::Infinite));
        assert!(LongDouble::parse(b"0").is_ok());
        assert!(LongDouble::parse(b".5").is_ok());
        assert!(LongDouble::parse(b"5.").is_ok());
    }
}
