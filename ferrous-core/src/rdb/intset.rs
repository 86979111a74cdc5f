//! Redis's intset blob (SET_INTSET): `encoding:u32le length:u32le` then `length` integers,
//! strictly ascending, each `encoding` (2, 4 or 8) bytes little-endian. The encoding is the
//! smallest of the three that holds every member.
use std::borrow::Cow;

const HEADER: usize = 8;

/// Bytes per member Redis uses for a set whose extremes are `min` and `max`.
fn width(min: i64, max: i64) -> usize {
    let fits = |w: u32| {
        let (lo, hi) = (-(1i64 << (8 * w - 1)), (1i64 << (8 * w - 1)) - 1);
        lo <= min && max <= hi
    };
    if fits(2) {
        2
    } else if fits(4) {
        4
    } else {
        8
    }
}

/// Appends the intset blob of the `n` members `get(0..n)` (ascending, distinct) to `out`,
/// at least `min_width` bytes per member (Redis never narrows an intset after removals, so
/// the writer passes the widest width the set has needed).
pub(crate) fn encode(n: usize, get: impl Fn(usize) -> i64, min_width: usize, out: &mut Vec<u8>) {
    let needed = if n == 0 { 2 } else { width(get(0), get(n - 1)) };
    let w = match needed.max(min_width) {
        0..=2 => 2,
        3..=4 => 4,
        _ => 8,
    };
    out.reserve(HEADER + n * w);
    out.extend_from_slice(&(w as u32).to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    for i in 0..n {
        out.extend_from_slice(&get(i).to_le_bytes()[..w]);
    }
}

/// Decodes an intset blob into its members and its width in bytes. Members must be strictly
/// ascending (Ferrous's intset relies on it, and Redis only ever writes them so), whatever
/// the sanitization level.
pub(crate) fn decode(blob: &[u8]) -> Result<(Vec<i64>, usize), Cow<'static, str>> {
    if blob.len() < HEADER {
        return Err("intset shorter than its header".into());
    }
    let w = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
    let n = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
    if !matches!(w, 2 | 4 | 8) {
        return Err(format!("invalid intset encoding {w}").into());
    }
    if (n as u64) * (w as u64) + HEADER as u64 != blob.len() as u64 {
        return Err(format!("intset of {n} members of {w} bytes does not fit its {}-byte blob", blob.len()).into());
    }
    let mut out = Vec::with_capacity(n);
    for chunk in blob[HEADER..].chunks_exact(w) {
        let v = match w {
            2 => i16::from_le_bytes([chunk[0], chunk[1]]) as i64,
            4 => i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as i64,
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                i64::from_le_bytes(b)
            }
        };
        if out.last().is_some_and(|&last| last >= v) {
            return Err("intset members are not strictly ascending".into());
        }
        out.push(v);
    }
    Ok((out, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_bytes_and_widths() {
        // Redis 7.0.15: `SADD si 1 5 -3` (DUMP's string body).
        let mut out = Vec::new();
        encode(3, |i| [-3i64, 1, 5][i], 1, &mut out);
        assert_eq!(hex::encode(&out), "0200000003000000fdff01000500");
        assert_eq!(decode(&out).unwrap(), (vec![-3, 1, 5], 2));
        for set in [vec![], vec![32767], vec![-32769, 0], vec![i32::MAX as i64 + 1], vec![i64::MIN, i64::MAX]] {
            let mut out = Vec::new();
            encode(set.len(), |i| set[i], 1, &mut out);
            assert_eq!(decode(&out).unwrap().0, set);
        }
        assert_eq!(width(-32768, 32767), 2);
        assert_eq!(width(-32769, 0), 4);
        assert_eq!(width(0, 1 << 31), 8);
        // A set that once held 100000 (3 bytes in Ferrous) stays 4 bytes wide in Redis.
        let mut out = Vec::new();
        encode(1, |_| 1, 3, &mut out);
        assert_eq!(hex::encode(&out), "040000000100000001000000");
    }

    #[test]
    fn corruption_is_reported() {
        let mut out = Vec::new();
        encode(3, |i| i as i64 + 1, 1, &mut out);
        let mut bad = out.clone();
        bad[0] = 3;
        assert!(decode(&bad).is_err());
        let mut bad = out.clone();
        bad[4] = 4;
        assert!(decode(&bad).is_err());
        let mut bad = out.clone();
        bad[10] = 1; // 1, 1, 3
        assert!(decode(&bad).is_err());
        let mut huge = out.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err());
        }
    }
}
