//! Score parsing with C's `strtod` rules (decimal and hexadecimal floats, `inf`, `nan`),
//! as Redis reads ZADD scores and range bounds.

/// What C's `strtod` reads from the start of `s`: the value, the number of bytes consumed
/// (0 if no number), and whether the value overflowed or underflowed to zero (`ERANGE`).
/// Handles leading white space, signs, decimal and hexadecimal forms, `inf`/`infinity` and
/// `nan`, as glibc does.
pub(crate) fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        return (sign(f64::INFINITY), i + 8, false);
    }
    if starts(b"inf") {
        return (sign(f64::INFINITY), i + 3, false);
    }
    if starts(b"nan") {
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let mut j = end + 1;
            while j < s.len() && (s[j].is_ascii_alphanumeric() || s[j] == b'_') {
                j += 1;
            }
            if s.get(j) == Some(&b')') {
                end = j + 1;
            }
        }
        return (f64::NAN, end, false);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, used, erange)) = hex_float(&rest[2..]) {
            return (sign(v), i + 2 + used, erange);
        }
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one digit in the mantissa.
    let mut j = i;
    let mut nonzero = false;
    let mut digits = 0;
    while j < s.len() && s[j].is_ascii_digit() {
        nonzero |= s[j] != b'0';
        digits += 1;
        j += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            digits += 1;
            j += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    if j < s.len() && (s[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    // The matched text is plain ASCII in Rust's float grammar.
    let text = std::str::from_utf8(&s[i..j]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    (sign(v), j, erange)
}

/// A hexadecimal float body (after `0x`): `(value, bytes used, erange)`, `None` without a
/// hex digit (then `strtod` reads just the `0`).
pub(super) fn hex_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut any = false;
    let mut i = 0;
    let mut push = |d: u64, frac: bool, mant: &mut u64, exp: &mut i64| {
        if *mant >> 60 == 0 {
            *mant = (*mant << 4) | d;
            if frac {
                *exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                *exp += 4;
            }
        }
    };
    while i < s.len() && s[i].is_ascii_hexdigit() {
        push(hexval(s[i]), false, &mut mant, &mut exp);
        any = true;
        i += 1;
    }
    if i < s.len() && s[i] == b'.' {
        let mut j = i + 1;
        let mut frac_any = false;
        while j < s.len() && s[j].is_ascii_hexdigit() {
            push(hexval(s[j]), true, &mut mant, &mut exp);
            frac_any = true;
            j += 1;
        }
        if any || frac_any {
            any = true;
            i = j;
        }
    }
    if !any {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        let mut k = i + 1;
        let eneg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        if k < s.len() && s[k].is_ascii_digit() {
            let mut e: i64 = 0;
            while k < s.len() && s[k].is_ascii_digit() {
                e = (e * 10 + (s[k] - b'0') as i64).min(1 << 40);
                k += 1;
            }
            exp += if eneg { -e } else { e };
            i = k;
        }
    }
    let nonzero = mant != 0 || sticky;
    let mut v = (mant | sticky as u64) as f64;
    // ldexp in steps that cannot overflow or underflow prematurely.
    let mut e = exp;
    while e > 0 && v.is_finite() {
        let step = e.min(1000);
        v *= 2f64.powi(step as i32);
        e -= step;
    }
    while e < 0 && v != 0.0 {
        let step = (-e).min(1000);
        v *= 2f64.powi(-(step as i32));
        e += step;
    }
    let erange = v.is_infinite() || (v == 0.0 && nonzero);
    Some((v, i, erange))
}

pub(super) fn hexval(c: u8) -> u64 {
    match c {
        b'0'..=b'9' => (c - b'0') as u64,
        _ => ((c | 0x20) - b'a' + 10) as u64,
    }
}

/// Parses a score, increment or weight as Redis's `getDoubleFromObject` does: the whole
/// argument must be one `strtod` number (decimal, hex, `inf`), with no leading space, no NaN,
/// and no overflow or underflow to zero.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || matches!(arg[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return None;
    }
    let (v, used, erange) = strtod(arg);
    if used != arg.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}
