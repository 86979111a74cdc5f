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

/// A counter split into cache-line-sized stripes, one per thread (modulo the stripe
/// count), so that event-loop threads bumping the same statistic (`dirty`, per-command
/// calls) never contend on one cache line. Reads sum the stripes.
///
/// The method names mirror `AtomicU64` (`fetch_add`, `load`, `store`) so it drops in for
/// one; the `Ordering` arguments are accepted and ignored (every operation is relaxed).
#[derive(Default)]
pub struct StripedCounter {
    stripes: [CachePadded; STRIPES],
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

impl std::fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl StripedCounter {
    /// A counter starting at `v`.
    pub fn new(v: u64) -> Self {
        let c = Self::default();
        c.stripes[0].0.store(v, std::sync::atomic::Ordering::Relaxed);
        c
    }
    /// Adds `n` (on the calling thread's stripe); returns that stripe's previous value.
    #[inline]
    pub fn fetch_add(&self, n: u64, _order: std::sync::atomic::Ordering) -> u64 {
        let i = STRIPE.with(|s| *s);
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
        let i = STRIPE.with(|s| *s);
        self.stripes[i].0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod striped_tests {
    use super::StripedCounter;
    use std::sync::atomic::Ordering::Relaxed;
    #[test]
    fn sums_across_threads() {
        let c = std::sync::Arc::new(StripedCounter::new(5));
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
