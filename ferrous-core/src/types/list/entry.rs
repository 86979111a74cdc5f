//! List entries: [`Elem`] and the packed entry format of the module docs (header, data,
//! back-length), written and read in place inside a node's buffer.

pub(super) const ENC_STR6: u8 = 0x80;
pub(super) const ENC_INT13: u8 = 0xC0;
pub(super) const ENC_STR12: u8 = 0xE0;
pub(super) const ENC_STR32: u8 = 0xF0;
pub(super) const ENC_INT16: u8 = 0xF1;
pub(super) const ENC_INT24: u8 = 0xF2;
pub(super) const ENC_INT32: u8 = 0xF3;
pub(super) const ENC_INT64: u8 = 0xF4;

/// One list element as stored: bytes, or an integer for canonical decimal integers.
///
/// Two elements are equal exactly when their byte forms are equal, because a canonical
/// integer is never stored as bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A string that is not a canonical integer.
    Bytes(&'a [u8]),
    /// A canonical decimal integer.
    Int(i64),
}

impl<'a> Elem<'a> {
    /// Classifies user bytes the way they are stored.
    #[inline]
    pub fn from_bytes(b: &'a [u8]) -> Elem<'a> {
        match ferrous_resp::parse_i64(b) {
            Some(i) => Elem::Int(i),
            None => Elem::Bytes(b),
        }
    }
    /// The byte form.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
    /// Runs `f` on the byte form without allocating.
    #[inline]
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Bytes(b) => f(b),
            Elem::Int(i) => {
                let mut buf = [0u8; 20];
                f(fmt_int(i, &mut buf))
            }
        }
    }
}

impl std::fmt::Debug for Elem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Elem::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Elem::Int(i) => write!(f, "{i}"),
        }
    }
}

/// Formats `i` in decimal into `buf`.
pub(super) fn fmt_int(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut p = buf.len();
    loop {
        p -= 1;
        buf[p] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        p -= 1;
        buf[p] = b'-';
    }
    &buf[p..]
}

/// Bytes of `header [data]` for an element.
#[inline]
pub(super) fn payload_len(e: Elem<'_>) -> usize {
    match e {
        Elem::Int(i) => match i {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8_388_608..=8_388_607 => 4,
            -2_147_483_648..=2_147_483_647 => 5,
            _ => 9,
        },
        Elem::Bytes(b) => {
            b.len()
                + match b.len() {
                    0..=63 => 1,
                    64..=4095 => 2,
                    _ => 5,
                }
        }
    }
}

/// Bytes of the backlen field for a payload of `l` bytes.
#[inline]
pub(super) fn backlen_len(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => 5,
    }
}

/// Total bytes an element occupies in a node.
#[inline]
pub(super) fn entry_size(e: Elem<'_>) -> usize {
    let l = payload_len(e);
    l + backlen_len(l)
}

/// Writes the entry for `e` into `dst`, which is exactly [`entry_size`] bytes long.
pub(super) fn write_entry(dst: &mut [u8], e: Elem<'_>) {
    let l = payload_len(e);
    match e {
        Elem::Int(i) => match l {
            1 => dst[0] = i as u8,
            2 => {
                let u = (i as u16) & 0x1FFF;
                dst[0] = ENC_INT13 | (u >> 8) as u8;
                dst[1] = u as u8;
            }
            3 => {
                dst[0] = ENC_INT16;
                dst[1..3].copy_from_slice(&(i as i16).to_le_bytes());
            }
            4 => {
                dst[0] = ENC_INT24;
                dst[1..4].copy_from_slice(&(i as i32).to_le_bytes()[..3]);
            }
            5 => {
                dst[0] = ENC_INT32;
                dst[1..5].copy_from_slice(&(i as i32).to_le_bytes());
            }
            _ => {
                dst[0] = ENC_INT64;
                dst[1..9].copy_from_slice(&i.to_le_bytes());
            }
        },
        Elem::Bytes(b) => {
            let n = b.len();
            let h = match n {
                0..=63 => {
                    dst[0] = ENC_STR6 | n as u8;
                    1
                }
                64..=4095 => {
                    dst[0] = ENC_STR12 | (n >> 8) as u8;
                    dst[1] = n as u8;
                    2
                }
                _ => {
                    dst[0] = ENC_STR32;
                    dst[1..5].copy_from_slice(&(n as u32).to_le_bytes());
                    5
                }
            };
            dst[h..h + n].copy_from_slice(b);
        }
    }
    let k = backlen_len(l);
    for j in 0..k {
        // Byte l+k-1-j holds bits 7j..7j+7; all but the first byte say "more before me".
        let more = if j + 1 < k { 0x80 } else { 0 };
        dst[l + k - 1 - j] = ((l >> (7 * j)) & 0x7F) as u8 | more;
    }
}

/// Bytes of `header [data]` of the entry at `off`.
#[inline]
pub(super) fn payload_len_at(buf: &[u8], off: usize) -> usize {
    let b = buf[off];
    match b {
        0x00..=0x7F => 1,
        0x80..=0xBF => 1 + (b & 0x3F) as usize,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 2 + (((b & 0x0F) as usize) << 8 | buf[off + 1] as usize),
        ENC_STR32 => 5 + u32::from_le_bytes([buf[off + 1], buf[off + 2], buf[off + 3], buf[off + 4]]) as usize,
        ENC_INT16 => 3,
        ENC_INT24 => 4,
        ENC_INT32 => 5,
        _ => 9,
    }
}

/// Total size of the entry at `off`.
#[inline]
pub(super) fn entry_len_at(buf: &[u8], off: usize) -> usize {
    let l = payload_len_at(buf, off);
    l + backlen_len(l)
}

/// Decodes the entry at `off`: the element and the entry's total size.
#[inline]
pub(super) fn read_entry(buf: &[u8], off: usize) -> (Elem<'_>, usize) {
    let b = buf[off];
    let (e, l) = match b {
        0x00..=0x7F => (Elem::Int(b as i64), 1),
        0x80..=0xBF => {
            let n = (b & 0x3F) as usize;
            (Elem::Bytes(&buf[off + 1..off + 1 + n]), 1 + n)
        }
        0xC0..=0xDF => {
            let u = ((b & 0x1F) as u16) << 8 | buf[off + 1] as u16;
            (Elem::Int((((u << 3) as i16) >> 3) as i64), 2)
        }
        0xE0..=0xEF => {
            let n = ((b & 0x0F) as usize) << 8 | buf[off + 1] as usize;
            (Elem::Bytes(&buf[off + 2..off + 2 + n]), 2 + n)
        }
        ENC_STR32 => {
            let n = u32::from_le_bytes([buf[off + 1], buf[off + 2], buf[off + 3], buf[off + 4]]) as usize;
            (Elem::Bytes(&buf[off + 5..off + 5 + n]), 5 + n)
        }
        ENC_INT16 => (Elem::Int(i16::from_le_bytes([buf[off + 1], buf[off + 2]]) as i64), 3),
        ENC_INT24 => {
            let v = i32::from_le_bytes([0, buf[off + 1], buf[off + 2], buf[off + 3]]) >> 8;
            (Elem::Int(v as i64), 4)
        }
        ENC_INT32 => {
            let v = i32::from_le_bytes([buf[off + 1], buf[off + 2], buf[off + 3], buf[off + 4]]);
            (Elem::Int(v as i64), 5)
        }
        _ => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&buf[off + 1..off + 9]);
            (Elem::Int(i64::from_le_bytes(raw)), 9)
        }
    };
    (e, l + backlen_len(l))
}

/// [`read_entry`] for untrusted bytes: the element at `off` and its payload length (header
/// and data), if its header is valid and it lies inside `buf`.
pub(super) fn checked_payload(buf: &[u8], off: usize) -> Option<(Elem<'_>, usize)> {
    let b = *buf.get(off)?;
    let bytes = |from: usize, n: usize| buf.get(off + from..(off + from).checked_add(n)?);
    let le = |n: usize| -> Option<i64> {
        let raw = bytes(1, n)?;
        let mut v = [0u8; 8];
        v[8 - n..].copy_from_slice(raw);
        Some(i64::from_le_bytes(v) >> (64 - 8 * n))
    };
    Some(match b {
        0x00..=0x7F => (Elem::Int(b as i64), 1),
        0x80..=0xBF => {
            let n = (b & 0x3F) as usize;
            (Elem::Bytes(bytes(1, n)?), 1 + n)
        }
        0xC0..=0xDF => {
            let u = ((b & 0x1F) as u16) << 8 | *buf.get(off + 1)? as u16;
            (Elem::Int((((u << 3) as i16) >> 3) as i64), 2)
        }
        0xE0..=0xEF => {
            let n = ((b & 0x0F) as usize) << 8 | *buf.get(off + 1)? as usize;
            (Elem::Bytes(bytes(2, n)?), 2 + n)
        }
        ENC_STR32 => {
            let raw = bytes(1, 4)?;
            let n = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
            (Elem::Bytes(bytes(5, n)?), 5usize.checked_add(n)?)
        }
        ENC_INT16 => (Elem::Int(le(2)?), 3),
        ENC_INT24 => (Elem::Int(le(3)?), 4),
        ENC_INT32 => (Elem::Int(le(4)?), 5),
        ENC_INT64 => (Elem::Int(le(8)?), 9),
        _ => return None,
    })
}

/// Start of the entry that ends at `end` (read through its backlen).
#[inline]
pub(super) fn prev_start(buf: &[u8], end: usize) -> usize {
    let mut p = end - 1;
    let mut l = (buf[p] & 0x7F) as usize;
    let mut shift = 7;
    while buf[p] & 0x80 != 0 {
        p -= 1;
        l |= ((buf[p] & 0x7F) as usize) << shift;
        shift += 7;
    }
    p - l
}
