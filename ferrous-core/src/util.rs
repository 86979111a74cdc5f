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
/// up to 17 significant digits, exponent form outside 1e-5..1e17.
pub fn fmt_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = format!("{:.16e}", d);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let mant = trim_zeros(mant);
        format!("{}e{}{:02}", mant, if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
