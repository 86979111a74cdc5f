//! Redis's zipmap blob (HASH_ZIPMAP, RDB files of Redis 2.x): read only.
//!
//! ```text
//! zmlen:u8  (len field len free value[+free unused bytes])*  0xFF
//! len = 1 byte (< 254) | 0xFE u32le
//! ```
//! `zmlen` is the pair count when below 254, else unknown.
use std::borrow::Cow;

const BIGLEN: u8 = 254;
const END: u8 = 0xFF;

type Res<T> = Result<T, Cow<'static, str>>;

/// Decodes every (field, value) pair of a zipmap.
pub(crate) fn decode(blob: &[u8]) -> Res<Vec<(&[u8], &[u8])>> {
    if blob.len() < 2 || blob[blob.len() - 1] != END {
        return Err("zipmap too short or without its end marker".into());
    }
    let end = blob.len() - 1;
    let past = |p: usize| -> Cow<'static, str> { format!("zipmap entry at byte {p} runs past the end").into() };
    let len_at = |p: usize| -> Res<(usize, usize)> {
        match blob[p] {
            b if b < BIGLEN => Ok((b as usize, p + 1)),
            BIGLEN if p + 5 <= end => {
                Ok((u32::from_le_bytes([blob[p + 1], blob[p + 2], blob[p + 3], blob[p + 4]]) as usize, p + 5))
            }
            BIGLEN => Err(past(p)),
            _ => Err(format!("zipmap end marker at byte {p} inside an entry").into()),
        }
    };
    let take = |from: usize, n: usize, p: usize| -> Res<&[u8]> {
        match from.checked_add(n) {
            Some(to) if to <= end => Ok(&blob[from..to]),
            _ => Err(past(p)),
        }
    };
    let mut pairs = Vec::with_capacity((blob[0] as usize).min(blob.len() / 4));
    let mut p = 1;
    while p < end && blob[p] != END {
        let (flen, q) = len_at(p)?;
        let field = take(q, flen, p)?;
        let q = q + flen;
        if q >= end {
            return Err(past(p));
        }
        let (vlen, q) = len_at(q)?;
        if q >= end {
            return Err(past(p));
        }
        let free = blob[q] as usize;
        let value = take(q + 1, vlen, p)?;
        let next = q + 1 + vlen + free;
        if next > end {
            return Err(past(p));
        }
        pairs.push((field, value));
        p = next;
    }
    if p != end {
        return Err(format!("zipmap end marker at byte {p} before the end").into());
    }
    if blob[0] < BIGLEN && blob[0] as usize != pairs.len() {
        return Err(format!("zipmap header says {} pairs but it holds {}", blob[0], pairs.len()).into());
    }
    Ok(pairs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes a zipmap as Redis 2.x did, with `free` unused bytes after each value.
    pub(crate) fn encode(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
        let mut out = vec![u8::try_from(pairs.len()).unwrap_or(BIGLEN).min(BIGLEN)];
        let len = |out: &mut Vec<u8>, n: usize| {
            if n < BIGLEN as usize {
                out.push(n as u8);
            } else {
                out.push(BIGLEN);
                out.extend_from_slice(&(n as u32).to_le_bytes());
            }
        };
        for (f, v) in pairs {
            len(&mut out, f.len());
            out.extend_from_slice(f);
            len(&mut out, v.len());
            out.push(free);
            out.extend_from_slice(v);
            out.extend(std::iter::repeat(0).take(free as usize));
        }
        out.push(END);
        out
    }

    #[test]
    fn roundtrip_and_corruption() {
        let long = vec![b'v'; 300];
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"name", b"foo"), (b"", b""), (b"big", &long), (b"n", b"12")];
        for free in [0, 3] {
            let zm = encode(&pairs, free);
            assert_eq!(decode(&zm).unwrap(), pairs);
            for cut in 0..zm.len() {
                assert!(decode(&zm[..cut]).is_err());
            }
        }
        let mut bad = encode(&pairs, 0);
        bad[0] = 3;
        assert!(decode(&bad).is_err());
        let mut bad = encode(&pairs, 0);
        bad[1] = 200;
        assert!(decode(&bad).is_err());
    }
}
