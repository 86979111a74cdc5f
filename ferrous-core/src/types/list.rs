//! Lists: the `List` value (quicklist of listpack-like nodes) and its operations.

/// A list value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    items: std::collections::VecDeque<crate::bytes::SmallBytes>,
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        self.items.len() * 24
    }
}
