//! Command arguments: binary-safe byte strings, borrowed ([`Args`]) or owned ([`ArgsBuf`]).
use std::ops::Range;

/// A borrowed list of command arguments (argv), each a binary-safe byte string.
///
/// The arguments live in one backing buffer (usually the connection's read buffer) and are
/// addressed by ranges, so building an `Args` never copies or allocates.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// Arguments addressed by `ranges` inside `buf`.
    ///
    /// # Panics
    /// Accessing an argument panics if its range is outside `buf`; the parsers in this crate
    /// only produce ranges inside the buffer they parsed.
    pub fn new(buf: &'a [u8], ranges: &'a [Range<usize>]) -> Self {
        Args { buf, ranges }
    }
    /// Number of arguments, including the command name.
    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    /// True when there are no arguments at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Argument `i`, or `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.ranges.get(i).map(|r| &self.buf[r.clone()])
    }
    /// Argument `i`; callers check the arity first.
    #[inline]
    pub fn at(&self, i: usize) -> &'a [u8] {
        &self.buf[self.ranges[i].clone()]
    }
    /// Iterates over every argument.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + DoubleEndedIterator + 'a {
        let buf = self.buf;
        self.ranges.iter().map(move |r| &buf[r.clone()])
    }
    /// Arguments `from..` as a new `Args`.
    pub fn slice_from(&self, from: usize) -> Args<'a> {
        Args { buf: self.buf, ranges: &self.ranges[from.min(self.ranges.len())..] }
    }
    /// Copies the arguments into owned vectors.
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        self.iter().map(|a| a.to_vec()).collect()
    }
}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

/// An owned list of arguments in one contiguous buffer; [`ArgsBuf::as_args`] borrows it.
#[derive(Default, Clone, Debug)]
pub struct ArgsBuf {
    buf: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl ArgsBuf {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends one argument.
    pub fn push(&mut self, arg: impl AsRef<[u8]>) -> &mut Self {
        let a = arg.as_ref();
        let start = self.buf.len();
        self.buf.extend_from_slice(a);
        self.ranges.push(start..self.buf.len());
        self
    }
    /// Removes every argument, keeping the allocations.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ranges.clear();
    }
    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Borrows the arguments.
    pub fn as_args(&self) -> Args<'_> {
        Args::new(&self.buf, &self.ranges)
    }
}

impl<T: AsRef<[u8]>> FromIterator<T> for ArgsBuf {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut b = ArgsBuf::new();
        for a in iter {
            b.push(a);
        }
        b
    }
}
