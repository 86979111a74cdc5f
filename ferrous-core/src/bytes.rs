//! [`SmallBytes`]: a byte string stored inline when short.
//!
//! Keys and string values are mostly short (Redis's own benchmarks use 16-byte keys and
//! 3-byte values), so up to [`INLINE_CAP`] bytes live inside the 24-byte value itself and
//! need no heap allocation; longer strings use one exact-size boxed slice.
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// Longest byte string stored inline.
pub const INLINE_CAP: usize = 22;

/// A binary-safe byte string, inline up to [`INLINE_CAP`] bytes. 24 bytes in size.
#[derive(Clone)]
pub enum SmallBytes {
    /// Short string stored in place.
    #[doc(hidden)]
    Inline { len: u8, data: [u8; INLINE_CAP] },
    /// Longer string on the heap.
    #[doc(hidden)]
    Heap(Box<[u8]>),
}

impl SmallBytes {
    /// The empty string.
    pub const fn empty() -> Self {
        SmallBytes::Inline { len: 0, data: [0; INLINE_CAP] }
    }
    /// Copies `b`.
    #[inline]
    pub fn new(b: &[u8]) -> Self {
        if b.len() <= INLINE_CAP {
            let mut data = [0; INLINE_CAP];
            data[..b.len()].copy_from_slice(b);
            SmallBytes::Inline { len: b.len() as u8, data }
        } else {
            SmallBytes::Heap(b.into())
        }
    }
    /// Takes ownership of `v` (no copy when it is long).
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE_CAP {
            Self::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }
    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, data } => &data[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }
    /// Heap bytes used beyond the 24 bytes of the value itself.
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline { .. } => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
    /// Turns into a `Vec`.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            SmallBytes::Inline { .. } => self.as_slice().to_vec(),
            SmallBytes::Heap(b) => b.into_vec(),
        }
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        Self::empty()
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SmallBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for SmallBytes {}

impl std::hash::Hash for SmallBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for SmallBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(b: &[u8]) -> Self {
        SmallBytes::new(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn size_and_roundtrip() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        for n in [0, 1, 22, 23, 100] {
            let v: Vec<u8> = (0..n as u8).collect();
            assert_eq!(SmallBytes::new(&v).as_slice(), &v[..]);
            assert_eq!(SmallBytes::from_vec(v.clone()).into_vec(), v);
        }
    }
}
