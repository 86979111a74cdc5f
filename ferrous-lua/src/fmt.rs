//! Number formatting and conversions exactly as the C code behind Redis's Lua does them.
//!
//! Redis formats Lua numbers passed to `redis.call` with `%.17g`, cjson uses `%.14g`, RESP3
//! doubles use `%.17g`, and C casts from `double` to integers follow the x86-64 rules
//! (`cvttsd2si`: NaN and out-of-range values become `i64::MIN`). Rust has neither `%g` nor
//! those cast semantics, so they are spelled out here.

/// `printf("%.<precision>g", x)` for finite and non-finite values (`inf`, `-inf`, `nan`, `-nan`).
pub fn fmt_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let p = precision.max(1);
    // The exponent %e would print decides between fixed and scientific notation.
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mantissa = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

/// Removes trailing zeros of a fractional part, and the point if nothing remains after it.
fn strip_zeros(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

/// `(long long)x` on x86-64: truncation toward zero; NaN and out-of-range give `i64::MIN`.
pub fn c_f64_to_i64(x: f64) -> i64 {
    // 2^63 is exactly representable; every double in [-2^63, 2^63) converts.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) {
        x as i64
    } else {
        i64::MIN
    }
}

/// `(unsigned long)x` as gcc compiles it on x86-64 (values at or above 2^63 are converted
/// after subtracting 2^63; anything out of range ends up as the cast of the overflow).
pub fn c_f64_to_u64(x: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if x < TWO63 {
        c_f64_to_i64(x) as u64
    } else {
        (c_f64_to_i64(x - TWO63) as u64) ^ (1u64 << 63)
    }
}

/// `(int)x` on x86-64 (`cvttsd2si` with a 32-bit destination: out of range gives `i32::MIN`).
pub fn c_f64_to_i32(x: f64) -> i32 {
    if x > -2_147_483_649.0 && x < 2_147_483_648.0 {
        x as i32
    } else {
        i32::MIN
    }
}

/// The text Redis sends for a Lua number argument of `redis.call` (`%.17g`).
pub fn number_arg(x: f64) -> String {
    fmt_g(x, 17)
}

/// A C `strtod` prefix parse: returns the value and the number of bytes consumed (0 when
/// nothing could be parsed). Accepts what glibc accepts: optional sign, decimal with
/// exponent, hexadecimal (`0x1.8p3`), `inf`/`infinity`, `nan`/`nan(...)`, leading spaces.
pub fn strtod(s: &[u8]) -> (f64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let start = i;
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let lower = |n: usize| rest.get(..n).map(|b| b.to_ascii_lowercase());
    if lower(3).as_deref() == Some(b"inf") {
        let n = if lower(8).as_deref() == Some(b"infinity") { 8 } else { 3 };
        return (sign * f64::INFINITY, i + n);
    }
    if lower(3).as_deref() == Some(b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            if let Some(close) = rest[4..].iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_')) {
                if rest[4 + close] == b')' {
                    n = 4 + close + 1;
                }
            }
        }
        let nan = if neg { -f64::NAN } else { f64::NAN };
        return (nan, i + n);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, n)) = parse_hex_float(&rest[2..]) {
            return (sign * v, i + 2 + n);
        }
        // "0x" with no hex digits: strtod parses the "0".
        return (sign * 0.0, i + 1);
    }
    let mut j = 0;
    let mut digits = 0;
    while j < rest.len() && rest[j].is_ascii_digit() {
        j += 1;
        digits += 1;
    }
    if j < rest.len() && rest[j] == b'.' {
        j += 1;
        while j < rest.len() && rest[j].is_ascii_digit() {
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0);
    }
    if j < rest.len() && (rest[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < rest.len() && (rest[k] == b'+' || rest[k] == b'-') {
            k += 1;
        }
        let exp_start = k;
        while k < rest.len() && rest[k].is_ascii_digit() {
            k += 1;
        }
        if k > exp_start {
            j = k;
        }
    }
    let text = std::str::from_utf8(&rest[..j]).unwrap_or("0");
    let text = if text.starts_with('.') { format!("0{text}") } else { text.to_string() };
    let text = if text.ends_with('.') { format!("{text}0") } else { text };
    let v: f64 = text.replace(".e", ".0e").replace(".E", ".0E").parse().unwrap_or(0.0);
    let _ = start;
    (sign * v, i + j)
}

/// Parses hexadecimal float digits after `0x`: `hhh[.hhh][p[+-]ddd]`.
fn parse_hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let mut j = 0;
    let mut mantissa = 0.0f64;
    let mut any = false;
    let mut scale = 0i32;
    while j < s.len() && s[j].is_ascii_hexdigit() {
        mantissa = mantissa * 16.0 + (s[j] as char).to_digit(16).unwrap_or(0) as f64;
        j += 1;
        any = true;
    }
    if j < s.len() && s[j] == b'.' {
        let mut k = j + 1;
        while k < s.len() && s[k].is_ascii_hexdigit() {
            mantissa = mantissa * 16.0 + (s[k] as char).to_digit(16).unwrap_or(0) as f64;
            scale -= 4;
            k += 1;
            any = true;
        }
        if any {
            j = k;
        }
    }
    if !any {
        return None;
    }
    if j < s.len() && (s[j] | 0x20) == b'p' {
        let mut k = j + 1;
        let mut neg = false;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            neg = s[k] == b'-';
            k += 1;
        }
        let exp_start = k;
        let mut e: i32 = 0;
        while k < s.len() && s[k].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add((s[k] - b'0') as i32);
            k += 1;
        }
        if k > exp_start {
            scale = scale.saturating_add(if neg { -e } else { e });
            j = k;
        }
    }
    Some((mantissa * 2f64.powi(scale), j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_formatting_matches_printf() {
        assert_eq!(fmt_g(0.1, 17), "0.10000000000000001");
        assert_eq!(fmt_g(1.0, 17), "1");
        assert_eq!(fmt_g(1e20, 17), "1e+20");
        assert_eq!(fmt_g(-0.0, 17), "-0");
        assert_eq!(fmt_g(1e300, 17), "1.0000000000000001e+300");
        assert_eq!(fmt_g(123456789012345678.0, 14), "1.2345678901235e+17");
        assert_eq!(fmt_g(0.0001, 14), "0.0001");
        assert_eq!(fmt_g(0.00001, 14), "1e-05");
        assert_eq!(fmt_g(1500.0, 14), "1500");
        assert_eq!(fmt_g(3.5, 17), "3.5");
        assert_eq!(fmt_g(100000000000000.0, 14), "1e+14");
        assert_eq!(fmt_g(99999999999999.0, 14), "99999999999999");
        assert_eq!(fmt_g(f64::INFINITY, 17), "inf");
        assert_eq!(fmt_g(-f64::NAN, 17), "-nan");
    }

    #[test]
    fn c_casts() {
        assert_eq!(c_f64_to_i64(f64::NAN), i64::MIN);
        assert_eq!(c_f64_to_i64(1e300), i64::MIN);
        assert_eq!(c_f64_to_i64(-3.99), -3);
        assert_eq!(c_f64_to_u64(-1.0), u64::MAX);
        assert_eq!(c_f64_to_u64(18446744073709551616.0), 0);
        assert_eq!(c_f64_to_u64(9223372036854775808.0), 1 << 63);
        assert_eq!(c_f64_to_u64(f64::NAN), 0);
    }

    #[test]
    fn strtod_prefixes() {
        assert_eq!(strtod(b"1.5e3x"), (1500.0, 5));
        assert_eq!(strtod(b"0x10"), (16.0, 4));
        assert_eq!(strtod(b"+1"), (1.0, 2));
        assert_eq!(strtod(b"01"), (1.0, 2));
        assert_eq!(strtod(b"-Infinity"), (f64::NEG_INFINITY, 9));
        assert!(strtod(b"nan").0.is_nan());
        assert_eq!(strtod(b"x").1, 0);
        assert_eq!(strtod(b"1e"), (1.0, 1));
        assert_eq!(strtod(b"1.").1, 2);
        assert_eq!(strtod(b".5"), (0.5, 2));
    }
}
