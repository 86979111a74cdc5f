//! Number parsing and formatting with Redis's exact rules.
use crate::error::{Error, Result};

/// Parses an integer argument (`string2ll` rules) or fails with "not an integer".
#[inline]
pub fn parse_int(arg: &[u8]) -> Result<i64> {
    ferrous_resp::parse_i64(arg).ok_or(Error::NotInteger)
}

/// Parses a float argument as Redis's `strtold`-based parsers accept it: decimal or
/// exponent forms, `inf`/`-inf`/`+inf` (case-insensitive); no spaces, no NaN.
pub fn parse_float(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("inf") || lower.contains("nan") || lower.starts_with("0x") || lower.starts_with("-0x") {
                return None;
            }
            lower.parse::<f64>().ok()?
        }
    };
    (!v.is_nan()).then_some(v)
}

/// Formats a double as Redis's `%.17g` (used for scores and RESP2 doubles): `inf`, `-inf`,
/// up to 17 significant digits, exponent form outside 1e-5..1e17. See [`fmt_g17`].
pub fn fmt_double(d: f64) -> String {
    let mut buf = [0u8; G17_MAX];
    let s = fmt_g17(d, &mut buf);
    // `fmt_g17` writes ASCII only.
    String::from_utf8_lossy(s).into_owned()
}

/// Longest output of [`fmt_g17`] (`-1.2345678901234567e-308` is 24 bytes).
pub const G17_MAX: usize = 32;

/// C's `printf("%.17g", d)`, byte for byte (glibc's output: ties of the 18th digit round to
/// even, `inf`, `-0`), on the stack; NaN is `nan` whatever its sign bit, as Redis's
/// `d2string` writes it.
///
/// Why not `core::fmt`: Redis stores non-integer sorted-set scores in listpacks as this
/// text, so every RDB save of a small sorted set formats each score, and `{:.16e}` is slow
/// exactly on the common case: scores with a short exact decimal form (12.25) make Grisu give
/// up and fall back to bignum Dragon4, about 1 µs per score. Why not `snprintf`: glibc's is
/// multi-precision too (200-400 ns).
///
/// How: for `d = m·2^e` the 17 digits are `round(d·10^s)` with `s = 16 - k`, `k` the decimal
/// exponent. For the exponents that matter (about 1e-16 to 1e47) that product is exact in
/// `u128` (`m·5^s` shifted by `e + s`, or `m·2^(e+s)` divided by `5^-s`), so the rounding
/// (half to even, as glibc) is exact too; other values go to `snprintf`.
pub fn fmt_g17(d: f64, buf: &mut [u8; G17_MAX]) -> &[u8] {
    if !d.is_finite() || d == 0.0 {
        return match d {
            _ if d.is_nan() => b"nan",
            f64::INFINITY => b"inf",
            f64::NEG_INFINITY => b"-inf",
            _ if d.is_sign_negative() => b"-0",
            _ => b"0",
        };
    }
    if let Some(len) = g17::short(d, buf) {
        return &buf[..len];
    }
    let Some((q, k)) = g17::digits(d.abs()) else {
        return g17::libc_g17(d, buf);
    };
    let mut dig = [0u8; 17];
    g17::put17(&mut dig, q);
    let nd = 17 - dig.iter().rev().take_while(|&&c| c == b'0').count();
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        buf[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    if d < 0.0 {
        put(b"-");
    }
    if !(-4..17).contains(&k) {
        put(&dig[..1]);
        if nd > 1 {
            put(b".");
            put(&dig[1..nd]);
        }
        put(if k < 0 { b"e-" } else { b"e+" });
        let a = k.unsigned_abs();
        if a >= 100 {
            put(&[b'0' + (a / 100) as u8]);
        }
        put(&[b'0' + (a / 10 % 10) as u8, b'0' + (a % 10) as u8]);
    } else if k >= 0 {
        let int_end = k as usize + 1;
        put(&dig[..int_end]);
        if nd > int_end {
            put(b".");
            put(&dig[int_end..nd]);
        }
    } else {
        put(b"0.");
        put(&b"000"[..(-k - 1) as usize]);
        put(&dig[..nd]);
    }
    &buf[..len]
}

/// The arithmetic of [`fmt_g17`].
/// `|d| = m · 2^e` with `m` odd, for a finite normal nonzero `d` (`None` for zero,
/// subnormals, infinities and NaN): the exact value `%.17g` fast paths start from.
#[inline]
pub(crate) fn odd_binary_parts(d: f64) -> Option<(u64, i32)> {
    let bits = d.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 || biased == 0x7ff {
        return None;
    }
    let m = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let tz = m.trailing_zeros();
    Some((m >> tz, biased - 1075 + tz as i32))
}

mod g17 {
    /// 5^0 ..= 5^54 (5^54 < 2^126, so twice a remainder still fits).
    const POW5: [u128; 55] = {
        let mut t = [1u128; 55];
        let mut i = 1;
        while i < t.len() {
            t[i] = t[i - 1] * 5;
            i += 1;
        }
        t
    };
    const P10_OFF: i32 = 20;
    /// 10^-20 ..= 10^40 as f64 (exact for 10^0..=10^22, rounded elsewhere): a first guess
    /// of the decimal exponent.
    const P10: [f64; 61] = {
        let mut t = [0f64; 61];
        let mut i = 0;
        while i < t.len() {
            let k = i as i32 - P10_OFF;
            let mut v = 1f64;
            let mut j = 0;
            while j < k.abs() {
                v = if k > 0 { v * 10.0 } else { v / 10.0 };
                j += 1;
            }
            t[i] = v;
            i += 1;
        }
        t
    };
    const E16: u64 = 10_000_000_000_000_000;
    const E17: u64 = 100_000_000_000_000_000;

    /// What the truncation of an exact quotient cut off, relative to one half.
    #[derive(Clone, Copy)]
    enum Rest {
        BelowHalf,
        Half,
        AboveHalf,
    }

    impl Rest {
        fn of(rem: u128, half_of: u128) -> Rest {
            // `rem < half_of`, and `half_of <= 2^126`: the doubling cannot overflow.
            match (rem * 2).cmp(&half_of) {
                std::cmp::Ordering::Less => Rest::BelowHalf,
                std::cmp::Ordering::Equal => Rest::Half,
                std::cmp::Ordering::Greater => Rest::AboveHalf,
            }
        }
    }

    /// `floor(m·2^e·10^s)` and the rest it cut off, when exact in `u128` (`None` if not).
    #[inline]
    fn scaled(m: u64, e: i32, s: i32) -> Option<(u128, Rest)> {
        if s >= 0 {
            // m < 2^53 and 5^32 < 2^75: the product fits.
            if s > 32 {
                return None;
            }
            let x = m as u128 * POW5[s as usize];
            let sh = e + s;
            if sh >= 0 {
                // The result is below 10^18 (the exponent guess is off by one at most).
                return (sh < 64).then(|| (x << sh, Rest::BelowHalf));
            }
            let sh = sh.unsigned_abs();
            if sh >= 128 {
                return None;
            }
            Some((x >> sh, Rest::of(x & ((1u128 << sh) - 1), 1u128 << sh)))
        } else {
            let t = s.unsigned_abs() as usize;
            let up = e.checked_sub(t as i32)?;
            if t >= POW5.len() || !(0..=74).contains(&up) {
                return None;
            }
            let num = (m as u128) << up;
            let div = POW5[t];
            let q = num / div;
            Some((q, Rest::of(num - q * div, div)))
        }
    }

    /// The 17 significant digits of a finite `d > 0`, rounded half to even, as an integer
    /// in `[10^16, 10^17)`, and the decimal exponent of the first one. `None` outside the
    /// range where [`scaled`] is exact (and for subnormals).
    #[inline]
    pub(super) fn digits(d: f64) -> Option<(u64, i32)> {
        let bits = d.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        if biased == 0 {
            return None;
        }
        let m = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        let e = biased - 1075;
        // floor(log2(d)) · log10(2), floored: the decimal exponent or one less; the table
        // settles it (a rounded entry can be wrong next to a power of ten: the range checks
        // below correct that).
        let mut k = (((e + 52) as i64 * 78913) >> 18) as i32;
        if P10.get((k + 1 + P10_OFF) as usize).is_some_and(|&p| d >= p) {
            k += 1;
        }
        let (q, rest) = loop {
            let (q, rest) = scaled(m, e, 16 - k)?;
            if q >= E17 as u128 {
                k += 1;
            } else if q < E16 as u128 {
                k -= 1;
            } else {
                break (q as u64, rest);
            }
        };
        let up = match rest {
            Rest::BelowHalf => false,
            Rest::Half => q & 1 == 1,
            Rest::AboveHalf => true,
        };
        let q = q + up as u64;
        Some(if q == E17 { (E16, k + 1) } else { (q, k) })
    }

    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

    #[inline]
    fn put4(out: &mut [u8], v: u32) {
        let (hi, lo) = ((v / 100) as usize, (v % 100) as usize);
        out[..2].copy_from_slice(&PAIRS[hi * 2..hi * 2 + 2]);
        out[2..4].copy_from_slice(&PAIRS[lo * 2..lo * 2 + 2]);
    }

    /// The 17 digits of `q < 10^17`, zero-padded.
    #[inline]
    pub(super) fn put17(out: &mut [u8; 17], q: u64) {
        let hi = (q / 100_000_000) as u32;
        let lo = (q % 100_000_000) as u32;
        out[0] = b'0' + (hi / 100_000_000) as u8;
        let hi = hi % 100_000_000;
        put4(&mut out[1..5], hi / 10_000);
        put4(&mut out[5..9], hi % 10_000);
        put4(&mut out[9..13], lo / 10_000);
        put4(&mut out[13..17], lo % 10_000);
    }

    /// `%.17g` of a finite nonzero `d` whose exact decimal value has at most 17 significant
    /// digits and prints in fixed notation (12.25, 0.5, 1e16): those digits as they are, no
    /// rounding to do. Writes it and returns its length, `None` for any other value.
    #[inline]
    pub(super) fn short(d: f64, buf: &mut [u8; super::G17_MAX]) -> Option<usize> {
        let (m, e) = super::odd_binary_parts(d)?;
        // d = n / 10^frac exactly: m·2^e, or m·5^-e / 10^-e (odd m: no trailing zero).
        let (n, frac) = if e >= 0 {
            if e > 63 || m.leading_zeros() < e as u32 {
                return None;
            }
            ((m << e) as u128, 0)
        } else if e >= -22 {
            (m as u128 * POW5[(-e) as usize], (-e) as usize)
        } else {
            return None;
        };
        if n >= E17 as u128 {
            return None;
        }
        let mut digits = [0u8; 20];
        let mut v = n as u64;
        let mut start = digits.len();
        while v >= 100 {
            let r = (v % 100) as usize;
            v /= 100;
            start -= 2;
            digits[start..start + 2].copy_from_slice(&PAIRS[r * 2..r * 2 + 2]);
        }
        if v >= 10 {
            start -= 2;
            digits[start..start + 2].copy_from_slice(&PAIRS[v as usize * 2..v as usize * 2 + 2]);
        } else {
            start -= 1;
            digits[start] = b'0' + v as u8;
        }
        let digits = &digits[start..];
        let nd = digits.len();
        // The decimal exponent of the first digit; below -4, %g switches to exponent form.
        if (nd as i32) - 1 - (frac as i32) < -4 {
            return None;
        }
        let mut len = 0;
        let mut put = |b: &[u8]| {
            buf[len..len + b.len()].copy_from_slice(b);
            len += b.len();
        };
        if d < 0.0 {
            put(b"-");
        }
        if frac == 0 {
            put(digits);
        } else if nd > frac {
            put(&digits[..nd - frac]);
            put(b".");
            put(&digits[nd - frac..]);
        } else {
            put(b"0.");
            put(&b"0000"[..frac - nd]);
            put(digits);
        }
        Some(len)
    }

    /// The C library's `%.17g` (values outside the exact range above; rare as scores).
    #[cold]
    pub(super) fn libc_g17(d: f64, buf: &mut [u8; super::G17_MAX]) -> &[u8] {
        // SAFETY: `buf` is writable for `buf.len()` bytes, which snprintf never exceeds
        // (output is at most 24 bytes plus the terminator); the format takes one double.
        let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), d) };
        &buf[..usize::try_from(n).unwrap_or(0).min(buf.len() - 1)]
    }
}

/// Redis's `sdscatrepr` (MONITOR lines, AOF manifest names): `s` in double quotes, `\\`
/// `\"` `\n` `\r` `\t` `\a` `\b` escaped, other bytes outside printable ASCII as `\xHH`.
pub fn cat_repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cat_repr_escapes_as_redis() {
        let mut out = Vec::new();
        super::cat_repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x00\xff ~");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff ~\"".to_vec());
    }
    #[test]
    fn g17() {
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(0.1), "0.10000000000000001");
        assert_eq!(fmt_double(100.0), "100");
        assert_eq!(fmt_double(1e20), "1e+20");
        assert_eq!(fmt_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(fmt_double(f64::INFINITY), "inf");
        assert_eq!(fmt_double(-2.0), "-2");
        assert_eq!(fmt_double(12345678901234567890.0), "1.2345678901234567e+19");
        assert_eq!(fmt_double(-0.0), "-0");
        assert_eq!(fmt_double(f64::NAN), "nan");
        assert_eq!(fmt_double(12.25), "12.25");
        assert_eq!(fmt_double(1e-5), "1.0000000000000001e-05");
        assert_eq!(fmt_double(1e-4), "0.0001");
        // An exact tie at the 18th digit rounds to even, as glibc does.
        assert_eq!(fmt_double(1.0 + 2f64.powi(-17)), "1.0000076293945312");
    }

    /// The fast path against the C library's `%.17g` on random doubles of every kind:
    /// random bits, scaled uniforms, short decimals, dyadic values (exact ties).
    #[test]
    fn g17_matches_libc() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x917);
        let check = |d: f64| {
            if d.is_nan() {
                return; // "nan" whatever its sign (Redis's d2string), where glibc says "-nan"
            }
            let (mut a, mut b) = ([0u8; G17_MAX], [0u8; G17_MAX]);
            assert_eq!(fmt_g17(d, &mut a), g17::libc_g17(d, &mut b), "{d:e} ({:#x})", d.to_bits());
        };
        let dyadic = [
            12.25,
            0.5,
            3.0,
            1e16,
            99999999999999984.0,
            0.000244140625,
            0.00006103515625,
            2f64.powi(-22),
            2f64.powi(-23),
        ];
        for d in dyadic.into_iter().chain([
            0.1,
            1e17,
            9.999999999999999e16,
            1e22,
            1e23,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e-300,
        ]) {
            check(d);
            check(-d);
        }
        for j in 1..64 {
            for base in [1.0f64, 3.0, 7.0, 123.0, 1e10, 1e-3, 1e20] {
                check(base + base * 2f64.powi(-j));
            }
        }
        for i in 0..300_000u32 {
            check(f64::from_bits(rng.gen()));
            check(rng.gen::<f64>() * 10f64.powi(rng.gen_range(-30..50)));
            let k: i64 = rng.gen_range(-1_000_000_000..1_000_000_000);
            check(k as f64 / [2.0, 4.0, 8.0, 10.0, 100.0, 1000.0, 1024.0, 3.0, 13.0][(i % 9) as usize]);
            check(rng.gen_range(1..1u64 << 53) as f64 * 2f64.powi(rng.gen_range(-90..60)));
        }
    }
    #[test]
    fn floats() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"1e3"), Some(1000.0));
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b"abc"), None);
    }
}

/// A counter split into cache-line-sized stripes, one per thread (modulo the stripe
/// count), so that event-loop threads bumping the same statistic (`dirty`, per-command
/// calls) never contend on one cache line. Reads sum the stripes.
///
/// The method names mirror `AtomicU64` (`fetch_add`, `load`, `store`) so it drops in for
/// one; the `Ordering` arguments are accepted and ignored (every operation is relaxed).
///
/// `N` stripes of 64 bytes each: 16 by default; the per-command statistics use fewer (there
/// are hundreds of commands and their counters count against `maxmemory`).
pub struct StripedCounter<const N: usize = STRIPES> {
    stripes: [CachePadded; N],
}

impl<const N: usize> Default for StripedCounter<N> {
    fn default() -> Self {
        StripedCounter { stripes: std::array::from_fn(|_| CachePadded::default()) }
    }
}

const STRIPES: usize = 16;

#[repr(align(64))]
#[derive(Default)]
struct CachePadded(std::sync::atomic::AtomicU64);

thread_local! {
    static STRIPE: usize = {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
    };
}

/// The calling thread's stripe number (`0..16`), for striped data laid out by the caller.
#[inline]
pub fn stripe_index() -> usize {
    STRIPE.with(|s| *s)
}

impl<const N: usize> std::fmt::Debug for StripedCounter<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl<const N: usize> StripedCounter<N> {
    /// A counter starting at `v`.
    pub fn new(v: u64) -> Self {
        let c = Self::default();
        c.stripes[0].0.store(v, std::sync::atomic::Ordering::Relaxed);
        c
    }
    /// Adds `n` (on the calling thread's stripe); returns that stripe's previous value.
    #[inline]
    pub fn fetch_add(&self, n: u64, _order: std::sync::atomic::Ordering) -> u64 {
        let i = STRIPE.with(|s| *s) % N;
        self.stripes[i].0.fetch_add(n, std::sync::atomic::Ordering::Relaxed)
    }
    /// The total.
    pub fn load(&self, _order: std::sync::atomic::Ordering) -> u64 {
        self.stripes.iter().fold(0u64, |a, s| a.wrapping_add(s.0.load(std::sync::atomic::Ordering::Relaxed)))
    }
    /// Sets the total (e.g. to 0 on CONFIG RESETSTAT or after a save).
    pub fn store(&self, v: u64, _order: std::sync::atomic::Ordering) {
        for (i, s) in self.stripes.iter().enumerate() {
            s.0.store(if i == 0 { v } else { 0 }, std::sync::atomic::Ordering::Relaxed);
        }
    }
    /// The calling thread's stripe: changes whenever this thread adds, so comparing it
    /// before and after an operation tells whether the operation added (other threads
    /// rarely share the stripe; if they do, the answer errs on "yes").
    #[inline]
    pub fn local(&self) -> u64 {
        let i = STRIPE.with(|s| *s) % N;
        self.stripes[i].0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod striped_tests {
    use super::StripedCounter;
    use std::sync::atomic::Ordering::Relaxed;
    #[test]
    fn sums_across_threads() {
        let c: std::sync::Arc<StripedCounter> = std::sync::Arc::new(StripedCounter::new(5));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.fetch_add(1, Relaxed);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(c.load(Relaxed), 4005);
        let before = c.local();
        c.fetch_add(2, Relaxed);
        assert_eq!(c.local(), before + 2);
        c.store(0, Relaxed);
        assert_eq!(c.load(Relaxed), 0);
    }
}
