//! Hashes: the `Hash` value (listpack when small, hash table when large) and its operations.

/// A hash value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hash {
    fields: Vec<(crate::bytes::SmallBytes, crate::bytes::SmallBytes)>,
}

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        self.fields.len() * 48
    }
}
