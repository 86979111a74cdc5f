//! Sets: the `Set` value (intset when small and integer, hash table otherwise) and its
//! operations.

/// A set value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {
    members: Vec<crate::bytes::SmallBytes>,
}

impl Set {
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
        "hashtable"
    }
    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        self.members.len() * 24
    }
}
