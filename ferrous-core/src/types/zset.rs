//! Sorted sets: the `ZSet` value (listpack when small, ordered index + member map when
//! large) and its operations.

/// A sorted set value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSet {
    members: Vec<(f64, crate::bytes::SmallBytes)>,
}

impl ZSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        self.members.len() * 32
    }
}
