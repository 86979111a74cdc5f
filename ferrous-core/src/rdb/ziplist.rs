//! Redis's ziplist blob (RDB types 10, 12, 13 and the nodes of 14, written by Redis before
//! 7.0): read only, validated while walked.
//!
//! ```text
//! zlbytes:u32le  zltail:u32le  zllen:u16le  entry*  0xFF
//! entry = prevlen encoding [data]
//! prevlen = 1 byte (< 254) | 0xFE u32le      (size of the previous entry)
//! ```
//!
//! | encoding                   | element                             |
//! |----------------------------|-------------------------------------|
//! | `00pppppp`                 | string of up to 63 bytes            |
//! | `01pppppp qqqqqqqq`        | string of up to 16383 bytes (BE)    |
//! | `10______` + u32be         | longer string                       |
//! | `0xC0`/`D0`/`E0`           | int16 / int32 / int64, LE           |
//! | `0xF0` / `0xFE`            | int24 / int8                        |
//! | `0xF1..=0xFD`              | immediate integer 0..=12 (low nibble - 1) |
//!
//! `zllen` is 65535 when the count does not fit. The deep check (`sanitize-dump-payload`)
//! also verifies each `prevlen` and `zltail`, which forward decoding does not need.
use super::listpack::LpElem;
use std::borrow::Cow;

const HEADER: usize = 10;
const END: u8 = 0xFF;

type Res<T> = Result<T, Cow<'static, str>>;

/// Walks a ziplist blob entry by entry.
pub(crate) struct ZlReader<'a> {
    buf: &'a [u8],
    pos: usize,
    seen: usize,
    declared: u16,
    tail: usize,
    prev_size: usize,
    prev_start: usize,
    deep: bool,
    /// The first problem found; iteration stops there (see [`ZlReader::finish`]).
    err: Option<Cow<'static, str>>,
}

impl<'a> ZlReader<'a> {
    pub(crate) fn new(blob: &'a [u8], deep: bool) -> Res<ZlReader<'a>> {
        if blob.len() < HEADER + 1 {
            return Err("ziplist shorter than its header".into());
        }
        let bytes = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if bytes != blob.len() {
            return Err(format!("ziplist header says {bytes} bytes but the blob has {}", blob.len()).into());
        }
        let tail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
        if tail > blob.len() - 1 {
            return Err("ziplist tail offset points past its end".into());
        }
        if blob[blob.len() - 1] != END {
            return Err("ziplist does not end with its end marker".into());
        }
        let declared = u16::from_le_bytes([blob[8], blob[9]]);
        Ok(ZlReader {
            buf: blob,
            pos: HEADER,
            seen: 0,
            declared,
            tail,
            prev_size: 0,
            prev_start: HEADER,
            deep,
            err: None,
        })
    }

    /// The element count from the header, when it is known (below 65535): what the
    /// iteration checks the elements against.
    pub(crate) fn declared(&self) -> Option<usize> {
        (self.declared != u16::MAX).then_some(self.declared as usize)
    }

    /// A bound on the element count (each entry takes at least two bytes).
    pub(crate) fn count_hint(&self) -> usize {
        if self.declared == u16::MAX {
            self.buf.len() / 2
        } else {
            self.declared as usize
        }
    }

    /// The first problem met by the iteration, if any: call after the last element.
    pub(crate) fn finish(&mut self) -> Res<()> {
        self.err.take().map_or(Ok(()), Err)
    }

    fn try_next(&mut self) -> Res<Option<LpElem<'a>>> {
        let buf = self.buf;
        let end = buf.len() - 1;
        let p = self.pos;
        if buf[p] == END {
            if p != end {
                return Err(format!("ziplist end marker at byte {p} before the end").into());
            }
            if self.declared != u16::MAX && self.declared as usize != self.seen {
                return Err(format!("ziplist header says {} entries but it holds {}", self.declared, self.seen).into());
            }
            if self.deep && self.tail != self.prev_start {
                return Err("ziplist tail offset does not point to its last entry".into());
            }
            return Ok(None);
        }
        let past = || -> Cow<'static, str> { format!("ziplist entry at byte {p} runs past the end").into() };
        let get = |i: usize| -> Res<u8> {
            if i < end {
                Ok(buf[i])
            } else {
                Err(past())
            }
        };
        let (prevlen, mut q) = if buf[p] < 0xFE {
            (buf[p] as usize, p + 1)
        } else {
            (u32::from_le_bytes([get(p + 1)?, get(p + 2)?, get(p + 3)?, get(p + 4)?]) as usize, p + 5)
        };
        if self.deep && prevlen != self.prev_size {
            return Err(format!("ziplist entry at byte {p} has a wrong previous-entry length").into());
        }
        let e = get(q)?;
        q += 1;
        let string = |len: usize, from: usize| -> Res<(LpElem<'a>, usize)> {
            match from.checked_add(len) {
                Some(to) if to <= end => Ok((LpElem::Str(&buf[from..to]), to)),
                _ => Err(past()),
            }
        };
        let int = |n: usize, from: usize| -> Res<(i64, usize)> {
            if from + n > end {
                return Err(past());
            }
            let mut b = [0u8; 8];
            b[8 - n..].copy_from_slice(&buf[from..from + n]);
            // Sign-extend from the top: the bytes sit in the high end of an LE i64.
            Ok((i64::from_le_bytes(b) >> (64 - 8 * n as u32), from + n))
        };
        let (elem, next) = match e >> 6 {
            0 => string((e & 0x3F) as usize, q)?,
            1 => string(((e & 0x3F) as usize) << 8 | get(q)? as usize, q + 1)?,
            2 => {
                let n = u32::from_be_bytes([get(q)?, get(q + 1)?, get(q + 2)?, get(q + 3)?]) as usize;
                string(n, q + 4)?
            }
            _ => {
                let (v, next) = match e {
                    0xC0 => int(2, q)?,
                    0xD0 => int(4, q)?,
                    0xE0 => int(8, q)?,
                    0xF0 => int(3, q)?,
                    0xFE => int(1, q)?,
                    0xF1..=0xFD => ((e & 0x0F) as i64 - 1, q),
                    _ => return Err(format!("invalid ziplist entry encoding {e:#04x} at byte {p}").into()),
                };
                (LpElem::Int(v), next)
            }
        };
        self.prev_size = next - p;
        self.prev_start = p;
        self.pos = next;
        self.seen += 1;
        Ok(Some(elem))
    }
}

impl<'a> Iterator for ZlReader<'a> {
    type Item = LpElem<'a>;
    fn next(&mut self) -> Option<LpElem<'a>> {
        if self.err.is_some() {
            return None;
        }
        match self.try_next() {
            Ok(e) => e,
            Err(what) => {
                self.err = Some(what);
                None
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes a ziplist as Redis 6 did (test vectors for the reader).
    pub(crate) fn encode(items: &[LpElem<'_>]) -> Vec<u8> {
        let mut out = vec![0u8; HEADER];
        let mut prev = 0usize;
        let mut last = HEADER;
        for it in items {
            let start = out.len();
            last = start;
            if prev < 254 {
                out.push(prev as u8);
            } else {
                out.push(0xFE);
                out.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match *it {
                LpElem::Str(s) if s.len() < 64 => out.push(s.len() as u8),
                LpElem::Str(s) if s.len() < 16384 => {
                    out.extend_from_slice(&[0x40 | (s.len() >> 8) as u8, s.len() as u8])
                }
                LpElem::Str(s) => {
                    out.push(0x80);
                    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                }
                LpElem::Int(v @ 0..=12) => out.push(0xF1 + v as u8),
                LpElem::Int(v) if i8::try_from(v).is_ok() => out.extend_from_slice(&[0xFE, v as u8]),
                LpElem::Int(v) if i16::try_from(v).is_ok() => {
                    out.push(0xC0);
                    out.extend_from_slice(&(v as i16).to_le_bytes());
                }
                LpElem::Int(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                    out.push(0xF0);
                    out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                LpElem::Int(v) if i32::try_from(v).is_ok() => {
                    out.push(0xD0);
                    out.extend_from_slice(&(v as i32).to_le_bytes());
                }
                LpElem::Int(v) => {
                    out.push(0xE0);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            if let LpElem::Str(s) = it {
                out.extend_from_slice(s);
            }
            prev = out.len() - start;
        }
        out.push(END);
        let n = out.len() as u32;
        out[0..4].copy_from_slice(&n.to_le_bytes());
        out[4..8].copy_from_slice(&(last as u32).to_le_bytes());
        out[8..10].copy_from_slice(&u16::try_from(items.len()).unwrap_or(u16::MAX).to_le_bytes());
        out
    }

    fn decode(blob: &[u8], deep: bool) -> Res<Vec<LpElem<'_>>> {
        let mut r = ZlReader::new(blob, deep)?;
        let v: Vec<_> = r.by_ref().collect();
        r.finish()?;
        Ok(v)
    }

    #[test]
    fn roundtrip_every_encoding() {
        let long = vec![b'x'; 300];
        let huge = vec![b'y'; 20000];
        let items = [
            LpElem::Str(b""),
            LpElem::Str(b"hello"),
            LpElem::Str(&long),
            LpElem::Str(&huge),
            LpElem::Int(0),
            LpElem::Int(12),
            LpElem::Int(13),
            LpElem::Int(-128),
            LpElem::Int(-32768),
            LpElem::Int(8_388_607),
            LpElem::Int(-8_388_608),
            LpElem::Int(i32::MIN as i64),
            LpElem::Int(i64::MAX),
            LpElem::Int(i64::MIN),
        ];
        let zl = encode(&items);
        assert_eq!(decode(&zl, true).unwrap(), items);
        assert_eq!(decode(&encode(&[]), true).unwrap(), []);
    }

    #[test]
    fn corruption_is_reported() {
        let zl = encode(&[LpElem::Str(b"abc"), LpElem::Int(1000), LpElem::Str(b"z")]);
        let mut bad = zl.clone();
        bad[8] = 2; // count
        assert!(decode(&bad, false).is_err());
        let mut bad = zl.clone();
        bad[HEADER + 1] = 60; // string past the end
        assert!(decode(&bad, false).is_err());
        let mut bad = zl.clone();
        bad[HEADER + 5] = 9; // prevlen of the second entry: deep check only
        assert!(decode(&bad, false).is_ok());
        assert!(decode(&bad, true).is_err());
        let mut bad = zl.clone();
        bad[4] = HEADER as u8; // tail offset: deep check only
        assert!(decode(&bad, true).is_err());
        for cut in 0..zl.len() {
            assert!(decode(&zl[..cut], true).is_err());
        }
    }
}
