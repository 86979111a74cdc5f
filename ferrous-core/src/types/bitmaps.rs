//! Bitmaps: bit-level operations on string values.
