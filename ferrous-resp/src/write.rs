//! Low-level RESP encoders that append to a byte buffer.
//!
//! Reply builders call these directly so that a reply is encoded straight into the
//! connection's output buffer, with no intermediate value tree.

/// Writes the decimal form of `v` right-aligned into `buf` (20 bytes hold `i64::MIN`) and
/// returns where it starts: the text is `buf[start..]`.
#[inline(always)]
pub fn int_digits(v: i64, buf: &mut [u8; 20]) -> usize {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    i
}

/// Appends the decimal form of `v`.
#[inline]
pub fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let start = int_digits(v, &mut buf);
    out.extend_from_slice(&buf[start..]);
}

/// `<prefix><n>\r\n`, the header of aggregates and bulk strings.
#[inline]
pub fn header(out: &mut Vec<u8>, prefix: u8, n: i64) {
    out.push(prefix);
    push_int(out, n);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string: `$<len>\r\n<bytes>\r\n`.
#[inline]
pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    header(out, b'$', b.len() as i64);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// An integer: `:<n>\r\n`.
#[inline]
pub fn int(out: &mut Vec<u8>, n: i64) {
    header(out, b':', n);
}

/// A simple string: `+<s>\r\n`. `s` must not contain CR or LF.
#[inline]
pub fn simple(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// An error: `-<s>\r\n`; CR and LF inside `s` are replaced by spaces, as Redis does.
pub fn error(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'-');
    out.extend(s.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
    out.extend_from_slice(b"\r\n");
}
